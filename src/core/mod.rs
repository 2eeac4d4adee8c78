//! The pure core: what a fragment is, how fragments make a manifest and an
//! index, and the bytes of both files.
//!
//! Nothing here opens a repository, reads a file or starts a process, so
//! every rule can be tested on plain bytes and applied identically by every
//! command. It imports nothing of the crate outside this folder, and of gix
//! only `gix::validate` (git's own path rules); a test in
//! `tests/cli/imports_keep_the_layers.rs` holds it to that.

pub mod adopt;
pub mod fragment;
pub mod index;
pub mod key;
pub mod manifest;
pub mod path;
pub mod render;
pub mod rng;
pub mod versions;
