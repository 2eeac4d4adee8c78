//! Holding termination signals back while a file is half-written.
//!
//! `main` installs gix's handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT: it
//! deletes the lock files gix has registered, then dies as the signal says.
//! Two windows escape it. gix takes a lock file out of its registry while it
//! writes, closes and renames it (`gix-tempfile`'s `with_mut`, `close`,
//! `persist`), so a signal landing there leaves `refs/heads/main.lock`
//! behind, which blocks every later writer; and loose objects are written
//! through the `tempfile` crate, which nothing registers, so a signal landing
//! there leaves an `objects/.tmpXXXXXX` file that git never cleans up. A
//! random-moment SIGINT/SIGTERM test hit both within 30 runs.
//!
//! [`Held`] blocks those four signals for the few milliseconds of an object
//! write or a ref transaction; a signal that arrives meanwhile stays pending
//! and is delivered, with its usual effect, the moment the guard drops, when
//! the object is complete or the ref transaction has committed or rolled
//! back. The price: while a ref transaction waits for someone else's lock
//! (up to `core.filesRefLockTimeout`, 3 s by default), a signal waits too.
//!
//! The mask is per thread. Where these guards are held, no other thread
//! runs (the threads of [`crate::git`] are joined before any write), or the
//! other threads were started while the guard was held and so inherit the
//! mask (consolidate writes its two blobs on two threads), so no thread can
//! take the signal and run the handler in the middle of the write. Child processes start with an empty mask
//! (Rust's `Command` resets it), so a `git` spawned later is unaffected.
//! SIGKILL cannot be blocked: what it leaves is what `tests/cli/survives_being_killed.rs`
//! checks.

/// Termination signals are blocked for as long as this lives.
#[must_use = "signals are held only while the guard lives"]
pub struct Held {
    #[cfg(unix)]
    previous: libc::sigset_t,
}

impl Held {
    /// Block SIGINT, SIGTERM, SIGHUP and SIGQUIT on this thread.
    pub fn new() -> Held {
        #[cfg(unix)]
        {
            // SAFETY: plain libc calls on sigset_t values we own; zeroed
            // memory is a valid starting value that sigemptyset then sets.
            #[allow(unsafe_code)]
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                let mut previous: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                    libc::sigaddset(&mut set, sig);
                }
                // Cannot fail with a valid `how` and valid pointers; if it
                // did, the write would merely be unprotected, as before.
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
                Held { previous }
            }
        }
        #[cfg(not(unix))]
        Held {}
    }
}

impl Default for Held {
    fn default() -> Self {
        Held::new()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the mask saved in `new`; a pending signal is
        // delivered here, after the write it waited for.
        #[allow(unsafe_code)]
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Run `f` with termination signals held back.
pub fn held<T>(f: impl FnOnce() -> T) -> T {
    let _held = Held::new();
    f()
}
