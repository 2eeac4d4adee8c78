//! Everything that talks to git: gix in-process for objects and refs, and
//! the `git` CLI, started only from [`command`], for what gix 0.90 cannot do
//! (network transport, and updating a checked-out work tree).

pub mod command;
pub mod remote;
pub mod signals;
pub mod store;
pub mod worktree;
