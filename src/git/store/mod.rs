//! The git object layer, on gix: open the repository, read refs, trees and
//! the fragments of a tree, and write blobs, trees and commits.
//!
//! Nothing here moves a ref (that is `crate::publish`) and nothing here
//! decides what a fragment means (that is `crate::core`). Functions that read
//! git return plain data; every gix failure is wrapped once, here, into an
//! [`Error`](crate::error::Error) naming the object or path involved.

mod fragments;
mod open;
mod order;
mod parts;
mod read;
mod refs;
mod write;

pub use fragments::*;
pub use open::*;
pub use order::*;
pub use parts::Part;
pub use read::*;
pub use refs::*;
pub use write::*;
