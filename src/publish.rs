//! Moving a ref: one atomic compare-and-swap, and the bounded retry loop
//! around it (CONTRACT §3).
//!
//! A lost race is an outcome, not an error (STYLE habit 4): [`compare_and_swap`]
//! returns [`Cas::Moved`] with the value the winner left, and the caller's
//! attempt rebuilds on it. Only running out of attempts is an error, of kind
//! [`ErrorKind::Contention`], which the binary maps to exit status 3.
//!
//! Every write states what it expects (STYLE habit 6): `MustNotExist` to
//! create, `MustExistAndMatch(old)` to advance. "Any value" never appears.

use std::time::Duration;

use gix::{
    refs::{
        file::transaction::prepare::{MustNotExist, ReferenceOutOfDate},
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
        FullName, Target,
    },
    ObjectId, Repository,
};

use crate::{
    error::{describe_gix, Error, ErrorKind, Result},
    remote::{PushOutcome, Remote},
    store,
};

/// The value a ref must have for a write to go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The ref must not exist yet.
    Absent,
    /// The ref must point at exactly this object.
    At(ObjectId),
}

impl Expected {
    /// `Absent` for `None`, else `At(id)`.
    pub fn from_option(id: Option<ObjectId>) -> Self {
        id.map_or(Expected::Absent, Expected::At)
    }

    /// `None` for `Absent`, else `Some(id)`.
    pub fn as_option(self) -> Option<ObjectId> {
        match self {
            Expected::Absent => None,
            Expected::At(id) => Some(id),
        }
    }
}

/// How a compare-and-swap ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cas {
    /// The ref now points at the new value.
    Updated,
    /// Another writer moved the ref first; it now holds `actual` (`None`: deleted).
    Moved {
        /// What the ref held under its lock (`None` when unknown, as after a remote rejection).
        actual: Option<ObjectId>,
    },
    /// The remote's ref lock was held; worth another try after a pause.
    Locked {
        /// The lock file as the remote named it.
        lock: String,
    },
}

impl Cas {
    /// This outcome as a step of the retry loop: `Updated` goes on with `done`.
    pub fn step<T>(self, done: impl FnOnce() -> Result<T>) -> Result<Step<T>> {
        match self {
            Cas::Updated => done().map(Step::Done),
            Cas::Moved { .. } => Ok(Step::Lost(Loss::Moved)),
            Cas::Locked { lock } => Ok(Step::Lost(Loss::Locked(lock))),
        }
    }
}

/// Atomically move `name` from `expected` to `new`.
///
/// A held lock is waited for with gix's quadratic, jittered backoff, up to
/// `core.filesRefLockTimeout` / `core.packedRefsTimeout` (see [`crate::store::open`]);
/// a lock that stays is an [`ErrorKind::Lock`] error naming the lock file.
pub fn compare_and_swap(
    repo: &Repository,
    name: &FullName,
    expected: Expected,
    new: ObjectId,
    log_message: &str,
) -> Result<Cas> {
    let previous = match expected {
        Expected::Absent => PreviousValue::MustNotExist,
        Expected::At(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
    };
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: log_message.into(),
            },
            expected: previous,
            new: Target::Object(new),
        },
        name: name.clone(),
        deref: false,
    };
    // Held: gix un-registers the lock file while writing and renaming it, so
    // a signal there would leave it behind for every later writer (see
    // `crate::signals`).
    let err = match crate::signals::held(|| repo.edit_reference(edit)) {
        Ok(_) => return Ok(Cas::Updated),
        Err(err) => err,
    };
    if let Some(out_of_date) = err.downcast_any_ref::<ReferenceOutOfDate>() {
        return Ok(Cas::Moved {
            actual: out_of_date.actual.try_id().map(ToOwned::to_owned),
        });
    }
    if let Some(exists) = err.downcast_any_ref::<MustNotExist>() {
        return Ok(Cas::Moved {
            actual: exists.actual.try_id().map(ToOwned::to_owned),
        });
    }
    if matches!(expected, Expected::At(_)) && err.is_not_found() {
        // Deleted between our read and our write: also a lost race.
        return Ok(Cas::Moved { actual: None });
    }
    if err.is_retryable() {
        return Err(lock_error(repo, name, &err));
    }
    Err(Error::new(
        ErrorKind::Git,
        format!("could not update {name}: {}", describe_gix(&err)),
    )
    .with("ref", name))
}

/// Name the lock file(s) that kept us out, by looking at which exist.
fn lock_error(repo: &Repository, name: &FullName, err: &gix::Error) -> Error {
    let common = repo.common_dir();
    let candidates = [
        common.join(format!("{}.lock", name.as_bstr())),
        common.join("packed-refs.lock"),
    ];
    let held: Vec<_> = candidates.iter().filter(|p| p.exists()).collect();
    let lock = held
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| candidates[0].display().to_string());
    Error::new(
        ErrorKind::Lock,
        format!(
            "could not update {name}: the lock file {lock} stayed in place. If no git process is still running \
             (a crashed one leaves it behind), delete that file and re-run. ({})",
            describe_gix(err)
        ),
    )
    .with("ref", name)
    .with("lock", lock)
}

/// Where a write lands: this repository's refs, or a remote's, by push.
#[derive(Debug)]
pub enum Sink {
    /// Local refs, moved with [`compare_and_swap`].
    Local,
    /// A remote's refs: read by fetching, moved by pushing.
    Remote(Remote),
}

impl Sink {
    /// What each of `refs` holds now (`None`: absent). For a remote this
    /// fetches them, so the objects to build on are here afterwards.
    pub fn read(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<Option<ObjectId>>> {
        let remote = match self {
            Sink::Local => return refs.iter().map(|r| store::ref_target(repo, r)).collect(),
            Sink::Remote(remote) => remote,
        };
        match remote.fetch(repo, refs) {
            Ok(ids) => Ok(ids.into_iter().map(Some).collect()),
            // One of them is absent there: ask which, and fetch the rest.
            Err(e) if e.kind == ErrorKind::NotFound => {
                let exists = remote.existing(refs)?;
                let present: Vec<&FullName> = refs
                    .iter()
                    .zip(&exists)
                    .filter(|(_, e)| **e)
                    .map(|(r, _)| *r)
                    .collect();
                let mut fetched = remote.fetch(repo, &present)?.into_iter();
                Ok(exists
                    .iter()
                    .map(|e| if *e { fetched.next() } else { None })
                    .collect())
            }
            Err(e) => Err(e),
        }
    }

    /// Make sure the objects `ids` are here before they are read: in a
    /// partial clone of the remote, the missing ones are fetched in one
    /// request. Locally there is nowhere to fetch from: a missing object is
    /// reported when it is read.
    pub fn fetch_missing(&self, repo: &Repository, ids: &[ObjectId]) -> Result<()> {
        let Sink::Remote(remote) = self else {
            return Ok(());
        };
        let missing: Vec<ObjectId> = ids
            .iter()
            .filter(|id| !repo.has_object(id))
            .copied()
            .collect();
        remote.fetch_objects(&missing)
    }

    /// Move `name` from `expected` to `new`: locally by compare-and-swap; on a
    /// remote by a plain push (`lease` false: the branch, which only ever
    /// fast-forwards) or by `--force-with-lease` against `expected` (`lease`
    /// true: a per-issue ref replacing its own previous value).
    ///
    /// After a successful push, a local ref of the same name that is absent or
    /// still holds `expected` follows to `new`, unless it is checked out (its work tree
    /// would be left behind); the tracking ref follows too.
    pub fn swap(
        &self,
        repo: &Repository,
        name: &FullName,
        expected: Expected,
        new: ObjectId,
        log_message: &str,
        lease: bool,
    ) -> Result<Cas> {
        let remote = match self {
            Sink::Local => return compare_and_swap(repo, name, expected, new, log_message),
            Sink::Remote(remote) => remote,
        };
        match remote.push(new, name, lease.then_some(expected))? {
            PushOutcome::Pushed => {}
            PushOutcome::Lost { .. } => return Ok(Cas::Moved { actual: None }),
            PushOutcome::Locked { lock } => return Ok(Cas::Locked { lock }),
            // `Remote::push` turns refusals into errors; kept total for the compiler.
            PushOutcome::Refused { reason } => {
                return Err(Error::new(ErrorKind::Rejected, reason).with("ref", name))
            }
        }
        // Best effort, and never an error: the push is what counts, and a
        // local ref someone else moved meanwhile is theirs to keep.
        if let Ok(tracking) = remote.tracking_ref(name) {
            let _ = compare_and_swap(repo, &tracking, expected, new, log_message);
        }
        // A local ref that is absent, or still where the remote was, follows.
        if let Ok(local) = store::ref_target(repo, name) {
            let checked_out = !matches!(crate::worktree::checkout_of(repo, name), Ok(None));
            if (local.is_none() || local == expected.as_option()) && !checked_out {
                let _ =
                    compare_and_swap(repo, name, Expected::from_option(local), new, log_message);
            }
        }
        Ok(Cas::Updated)
    }

    /// The remote's name, when pushing.
    pub fn remote_name(&self) -> Option<&str> {
        match self {
            Sink::Local => None,
            Sink::Remote(r) => Some(&r.name),
        }
    }
}

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
            e.details.insert("attempts".to_owned(), n.into());
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
        .with("ref", name)
        .with("lock", lock)
        .with_number("attempts", attempts));
    }
    Err(Error::new(
        ErrorKind::Contention,
        format!(
            "gave up after {} attempt(s): other writers moved {name} every time. Nothing of this run was \
             published and nothing of theirs was lost; re-run it, or raise --retries",
            attempts
        ),
    )
    .with("ref", name)
    .with_number("attempts", attempts))
}

/// The longest single pause while a remote's ref lock is held.
const LOCK_BACKOFF_CAP: Duration = Duration::from_secs(1);

/// The smallest unit of backoff, and the cap of one pause, unless
/// [`CAP_WINDOWS`] of the losing attempt's own duration are longer.
const BACKOFF_BASE: Duration = Duration::from_millis(10);
const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// The longest pause, in units of the losing attempt (see [`backoff_after`]).
const CAP_WINDOWS: u32 = 200;

/// The pause before attempt `n + 1`, in units of 10 ms (see [`backoff_after`]).
pub fn backoff(n: u32, jitter: &mut Jitter) -> Duration {
    backoff_after(Duration::ZERO, n, jitter)
}

/// How many units the pause after `n` lost attempts lasts: 1, 2, 4, 8, then
/// three times more after each further loss (24, 72, 216, …).
fn windows(n: u32) -> u32 {
    match n {
        0..=4 => 1 << n.saturating_sub(1),
        n => 8u32.saturating_mul(3u32.saturating_pow(n - 4)),
    }
}

/// The pause before attempt `n + 1`, counted in units of the losing
/// attempt's own duration (at least 10 ms), each scaled by a random factor
/// in [0.5, 1.5) so that writers who collided once spread out.
///
/// An attempt is the window in which others race us: a local compare-and-
/// swap takes milliseconds, a fetch-build-push round trip to a forge a large
/// fraction of a second. Pausing a fixed few milliseconds after a slow round
/// trip would have a loser retry straight into the same crowd.
///
/// The schedule is tuned on `tests/cli/load.rs` (32 shallow clones, each
/// pushing 11 writes back to back through a git daemon, one window ≈ 0.3 s
/// under that load) and a simulation of it. Nothing coordinates the
/// writers, so every attempt is a lottery: it wins only if no other push
/// lands within its window. With N writers in the crowd, a loser's pauses
/// must grow to about N windows before its chance per attempt is good; and
/// it has only 11 attempts (`--retries 10`). The earlier schedule (doubling,
/// each pause capped at 8 s ≈ 27 windows) ran 12 of the 352 writes (3.4 %)
/// out of attempts: fresh writers, pausing briefly, kept beating old losers,
/// pausing 8 s. Doubling for four losses keeps a small crowd as quick as
/// before; tripling after them, up to 200 windows (60 s at 0.3 s), reaches a
/// crowd of 32 within the budget. Measured on that test: 0 of 352 writes
/// out of attempts (at most 8 retries), against 12 before, for 1.7 landed
/// writes per second against 2.5: fewer attempts are made that would lose.
/// The simulation (`bench/backoff_sim.py`) agrees: 0.005 % of writes out
/// of attempts against 3.3 %, for a makespan 1.8 times as long.
/// Ten losses in a row now wait at most about 900 windows (4.5 minutes at
/// 0.3 s), only ever under a crowd that large.
pub fn backoff_after(attempt: Duration, n: u32, jitter: &mut Jitter) -> Duration {
    let unit = attempt.max(BACKOFF_BASE);
    let cap = BACKOFF_CAP.max(unit.saturating_mul(CAP_WINDOWS));
    let nominal = unit.saturating_mul(windows(n)).min(cap);
    nominal.mul_f64(0.5 + jitter.next_unit())
}

/// A small xorshift generator seeded from std's per-process random hasher
/// keys; good enough to de-synchronise writers, and no extra crate.
#[derive(Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator seeded differently in every process.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Jitter(h.finish() | 1)
    }

    /// A generator that repeats the same numbers for the same seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_four_times_then_triples_under_the_cap_with_jitter() {
        assert_eq!(
            (1..=8).map(windows).collect::<Vec<_>>(),
            [1, 2, 4, 8, 24, 72, 216, 648]
        );
        let mut j = Jitter::new();
        for n in 1..=20 {
            let d = backoff(n, &mut j);
            let nominal = BACKOFF_BASE.saturating_mul(windows(n)).min(BACKOFF_CAP);
            assert!(d >= nominal / 2, "attempt {n}: {d:?} < half of {nominal:?}");
            assert!(
                d < nominal.mul_f64(1.5),
                "attempt {n}: {d:?} >= 1.5 x {nominal:?}"
            );
        }
    }

    #[test]
    fn backoff_is_counted_in_units_of_a_slow_attempt_up_to_200_of_them() {
        let mut j = Jitter::new();
        let window = Duration::from_millis(300);
        for n in 1..=12 {
            let d = backoff_after(window, n, &mut j);
            let nominal = (window * windows(n)).min(window * CAP_WINDOWS);
            assert!(
                d >= nominal / 2 && d < nominal.mul_f64(1.5),
                "attempt {n}: {d:?} vs {nominal:?}"
            );
        }
        // A fast local attempt still waits at least the 10 ms unit, and is
        // capped at 8 s, not at 200 units.
        assert!(backoff_after(Duration::from_micros(50), 1, &mut j) >= BACKOFF_BASE / 2);
        assert!(backoff_after(Duration::from_millis(5), 12, &mut j) >= BACKOFF_CAP / 2);
    }

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
        assert_eq!(err.details["lock"], "/srv/origin.git/refs/heads/main.lock");
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
