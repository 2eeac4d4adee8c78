//! The bounded retry loop around a write that may lose a race.

use gix::refs::FullName;

use super::backoff::{backoff, backoff_after, Jitter, LOCK_BACKOFF_CAP};
use crate::error::{Error, ErrorKind, Hint, Result};

/// One try of a write that may lose a race.
#[derive(Debug)]
pub enum Step<T> {
    /// It went through.
    Done(T),
    /// It did not go through; rebuild and try again.
    Lost(Loss),
}

/// Why an attempt did not go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Another writer moved the ref first.
    Moved,
    /// A remote ref lock was held.
    Locked(String),
    /// The transport failed in a way a retry may pass (an error marked
    /// `transient`: a reset connection, HTTP 503, a push the server said
    /// `ok` to without applying it); the error's message.
    Transient(String),
}

/// The result of a retried write.
#[derive(Debug)]
pub struct Published<T> {
    /// What the winning attempt returned.
    pub value: T,
    /// How many attempts it took (1 = no retry).
    pub attempts: u32,
}

/// Run `attempt` until it is [`Step::Done`], at most `retries + 1` times,
/// sleeping with jittered exponential backoff between tries.
///
/// Each attempt must re-read the ref itself: that is what makes a retry a
/// rebuild on the winner's commit rather than an overwrite of it.
pub fn with_retries<T>(
    retries: u32,
    name: &FullName,
    mut attempt: impl FnMut(u32) -> Result<Step<T>>,
) -> Result<Published<T>> {
    let mut jitter = Jitter::new();
    let mut last = Loss::Moved;
    let mut last_error = None;
    for n in 1..=retries.saturating_add(1) {
        let started = std::time::Instant::now();
        let step = match attempt(n) {
            Ok(step) => step,
            // A busy server's hiccup costs an attempt, like a lost race:
            // the next attempt re-reads the remote and rebuilds on it.
            Err(mut e) if e.transient => {
                e.offender.attempts = Some(n);
                let loss = Step::Lost(Loss::Transient(e.message.clone()));
                last_error = Some(e);
                loss
            }
            Err(mut e) => {
                // Scripts can see that a refusal was not retried.
                e.offender.attempts = Some(n);
                return Err(e);
            }
        };
        match step {
            Step::Done(value) => return Ok(Published { value, attempts: n }),
            Step::Lost(loss) => {
                last = loss;
                if n <= retries {
                    // A held lock is not a crowd: its holder finishes (or
                    // crashed) whatever we do, so wait on a short fixed scale
                    // and report a lock that stays within seconds.
                    let pause = match last {
                        Loss::Moved | Loss::Transient(_) => {
                            backoff_after(started.elapsed(), n, &mut jitter)
                        }
                        Loss::Locked(_) => backoff(n, &mut jitter).min(LOCK_BACKOFF_CAP),
                    };
                    std::thread::sleep(pause);
                }
            }
        }
    }
    let attempts = retries.saturating_add(1);
    if let (Loss::Transient(_), Some(e)) = (&last, last_error) {
        // The last attempt's own error: what the transport said, kind `remote`.
        return Err(e.attempts(attempts));
    }
    if let Loss::Locked(lock) = last {
        return Err(Error::new(
            ErrorKind::Lock,
            format!(
                "gave up after {} attempt(s): the remote's lock file {lock} stayed in place. If no push is still \
                 running there (a crashed one leaves it behind), the remote's administrator must delete it",
                retries.saturating_add(1)
            ),
        )
        .refname(name)
        .lock(lock)
        .attempts(attempts));
    }
    Err(Error::new(
        ErrorKind::Contention,
        format!(
            "gave up after {} attempt(s): other writers moved {name} every time. Nothing of this run was \
             published and nothing of theirs was lost",
            attempts
        ),
    )
    .refname(name)
    .attempts(attempts)
    .hint(Hint::Retries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_loop_stops_after_the_budget_with_a_contention_error() {
        let name = FullName::try_from("refs/heads/main").expect("valid");
        let mut calls = 0;
        let err = with_retries::<()>(2, &name, |_| {
            calls += 1;
            Ok(Step::Lost(Loss::Moved))
        })
        .expect_err("budget exhausted");
        assert_eq!(calls, 3);
        assert_eq!(err.kind, ErrorKind::Contention);
        assert!(err.message.contains("refs/heads/main"), "{}", err.message);
    }

    #[test]
    fn a_remote_lock_that_stays_ends_in_a_lock_error_naming_it() {
        let name = FullName::try_from("refs/heads/main").expect("valid");
        let err = with_retries::<()>(1, &name, |_| {
            Ok(Step::Lost(Loss::Locked(
                "/srv/origin.git/refs/heads/main.lock".into(),
            )))
        })
        .expect_err("budget exhausted");
        assert_eq!(err.kind, ErrorKind::Lock);
        assert_eq!(
            err.offender.lock.as_deref(),
            Some("/srv/origin.git/refs/heads/main.lock")
        );
    }

    #[test]
    fn a_transient_error_is_retried_and_a_definite_one_is_not() {
        let name = FullName::try_from("refs/heads/main").expect("valid");
        let out = with_retries(5, &name, |n| {
            if n < 3 {
                Err(Error::new(ErrorKind::Remote, "Connection reset by peer").transient())
            } else {
                Ok(Step::Done(n))
            }
        })
        .expect("third attempt wins");
        assert_eq!((out.value, out.attempts), (3, 3));

        let mut calls = 0;
        let err = with_retries::<()>(5, &name, |_| {
            calls += 1;
            Err(Error::new(ErrorKind::Remote, "HTTP 403"))
        })
        .expect_err("not retried");
        assert_eq!((calls, err.offender.attempts), (1, Some(1)));
    }

    #[test]
    fn a_transient_error_that_stays_is_reported_as_itself_after_the_budget() {
        let name = FullName::try_from("refs/heads/main").expect("valid");
        let mut calls = 0;
        let err = with_retries::<()>(1, &name, |n| {
            calls += 1;
            Err(Error::new(ErrorKind::Remote, format!("reset {n}")).transient())
        })
        .expect_err("budget exhausted");
        assert_eq!(calls, 2);
        assert_eq!(err.kind, ErrorKind::Remote);
        assert_eq!(err.message, "reset 2");
        assert_eq!(err.offender.attempts, Some(2));
    }

    #[test]
    fn retry_loop_reports_the_winning_attempt() {
        let name = FullName::try_from("refs/heads/main").expect("valid");
        let out = with_retries(5, &name, |n| {
            Ok(if n < 3 {
                Step::Lost(Loss::Moved)
            } else {
                Step::Done(n * 10)
            })
        })
        .expect("third attempt wins");
        assert_eq!((out.value, out.attempts), (30, 3));
    }
}
