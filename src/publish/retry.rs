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
    for n in 1..=retries.saturating_add(1) {
        let started = std::time::Instant::now();
        let step = attempt(n).map_err(|mut e| {
            // Scripts can see that a refusal was not retried.
            e.offender.attempts = Some(n);
            e
        })?;
        match step {
            Step::Done(value) => return Ok(Published { value, attempts: n }),
            Step::Lost(loss) => {
                last = loss;
                if n <= retries {
                    // A held lock is not a crowd: its holder finishes (or
                    // crashed) whatever we do, so wait on a short fixed scale
                    // and report a lock that stays within seconds.
                    let pause = match last {
                        Loss::Moved => backoff_after(started.elapsed(), n, &mut jitter),
                        Loss::Locked(_) => backoff(n, &mut jitter).min(LOCK_BACKOFF_CAP),
                    };
                    std::thread::sleep(pause);
                }
            }
        }
    }
    let attempts = retries.saturating_add(1);
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
