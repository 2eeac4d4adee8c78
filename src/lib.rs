//! git-catalogue: a conflict-free artifact catalogue kept in git.
//!
//! # The model
//!
//! Many CI runs used to rewrite one shared `catalogue/manifest.json`, and
//! concurrent runs silently dropped each other's entries. Here every run
//! writes its own **fragment**, `<dir>/fragments/<key>.json`, as a commit made
//! straight in the object database ([`record`]). A **consolidation**
//! ([`consolidate`]) reads every fragment blob of the branch tip's tree, builds
//! `manifest.json` and `index.md` with the pure [`core`], commits them on the
//! tip, and moves the branch by compare-and-swap ([`publish`]). A writer that
//! loses the race rebuilds on the winner's commit and tries again. The
//! formats and promises are in `docs/format.md`.
//!
//! # Layers
//!
//! The folders are the layers, each importing only those below it:
//!
//! | layer | what it is |
//! | --- | --- |
//! | [`cli`] | the only code that knows clap, flag names, the report sentences, JSON shapes and exit codes |
//! | [`record`], [`consolidate`], [`inspect`], [`gate`], [`pending`], [`history`] | the operations, in the library's words, returning data |
//! | [`catalogue`] | a tree's catalogue: build both files, what changed since the manifest's `source`, what is stale |
//! | [`settings`] | where the catalogue lives: folder and branch |
//! | [`publish`] | compare-and-swap, sinks, the retry loop and the one commit step |
//! | [`git`] | gix and the `git` CLI: store, remote, worktree, signals; the one subprocess builder |
//! | [`spool`] | output records spooled to an unlinked temporary file, written out in order |
//! | [`error`] | the error type, typed offenders |
//! | [`core`] | pure: keys, fragments, manifest, index, both files' bytes |
//!
//! `tests/cli/imports_keep_the_layers.rs` reads the sources and fails on an import that
//! breaks these rules.
//!
//! # Invariants
//!
//! - The manifest is a pure function of the set of fragments: the same set
//!   gives byte-identical `manifest.json` and `index.md` on any machine.
//! - Every ref write states the value it expects; nothing is force-updated.
//! - Objects are written before the ref that makes them reachable, so a
//!   process killed at any instant leaves every ref on a complete commit.
//! - Bad input is refused before anything is written, naming the offender.

pub mod catalogue;
pub mod cli;
pub mod consolidate;
pub mod core;
pub mod error;
pub mod gate;
pub mod git;
pub mod history;
pub mod inspect;
pub mod pending;
pub mod publish;
pub mod record;
pub mod settings;
pub mod spool;
