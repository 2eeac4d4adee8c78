//! End-to-end tests of the `git-catalogue` binary against real git repositories.
//!
//! One integration binary, one module per area. Repositories are built with the
//! `git` CLI in temporary directories and every outcome is checked with the
//! `git` CLI (`fsck --strict`, `cat-file`, `rev-list`, `for-each-ref`), never
//! with the library under test. See `support.rs` for the hermetic harness.

mod support;

mod bad_input;
mod broken;
mod check_list;
mod consolidate;
mod faithful;
mod history;
mod hostile;
mod incremental;
mod index_md;
mod json_errors;
mod kill;
mod layers;
mod load;
mod locations;
mod pending;
mod race;
mod record;
mod remote;
mod worktree;
