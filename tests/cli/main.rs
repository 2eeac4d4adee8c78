//! End-to-end tests of the `git-catalogue` binary against real git repositories.
//!
//! One integration binary, one module per promise the tool makes, named after
//! that promise, so that a failing test's path says what broke. Repositories
//! are built with the `git` CLI in temporary directories and every outcome is
//! checked with the `git` CLI (`fsck --strict`, `cat-file`, `rev-list`,
//! `for-each-ref`), never with the library under test. `support.rs` holds the
//! one hermetic harness, the scenarios the tests start from and the one way a
//! refusal is checked, so that every module means the same by "refused".

mod support;

mod adopting_keeps_every_entry;
mod big_catalogues_stay_exact;
mod branch_from_the_repository;
mod broken_repositories;
mod busy_repositories_lose_nothing;
mod check_and_list_only_read;
mod checkout_follows_the_branch;
mod concurrent_writers_lose_nothing;
mod conflicts_never_block;
mod consolidate_rebuilds_outputs;
mod every_error_is_one_json_object;
mod every_worktree_follows;
mod found_as_git_finds_it;
mod fragment_data_kept_verbatim;
mod history_as_it_is;
mod history_verified_and_repaired;
mod imports_keep_the_layers;
mod incremental_equals_full;
mod index_page_cannot_be_broken;
mod installs_like_a_git_command;
mod list_streams_what_it_listed;
mod manifest_size_is_watched;
mod many_clones_lose_nothing;
mod memory_stays_bounded;
mod pending_lists_unmerged_refs;
mod pull_request_gate;
mod push_builds_on_the_remote_tip;
mod record_writes_one_fragment;
mod refuses_bad_input;
mod refuses_what_an_attacker_sends;
mod refuses_what_git_refuses;
mod remotes_that_stall_or_lie;
mod repair_skips_nothing;
mod servers;
mod survives_being_killed;
mod works_wherever_git_works;
