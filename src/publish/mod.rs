//! Publishing a write: the compare-and-swap that moves a ref, the sinks it
//! lands on (local refs or a remote's), the bounded retry loop around it with
//! its backoff, and the one commit step every writer goes through
//! (docs/format.md, "Concurrency").
//!
//! A lost race is an outcome, not an error: an attempt that lost returns
//! [`Step::Lost`] and the loop rebuilds on the winner's commit. Only running
//! out of attempts is an error.

pub mod backoff;
pub mod cas;
pub mod commit;
pub mod retry;
pub mod sink;

pub use cas::{compare_and_swap, Cas, Expected};
pub use commit::{commit_step, Committed, Write};
pub use retry::{with_retries, Loss, Published, Step};
pub use sink::{Local, Sink};
