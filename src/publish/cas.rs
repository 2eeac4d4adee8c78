//! Moving a local ref: one atomic compare-and-swap (docs/format.md,
//! "Concurrency").
//!
//! A lost race is an outcome, not an error: [`compare_and_swap`] returns
//! [`Cas::Moved`] with the value the winner left, and the caller's attempt
//! rebuilds on it. Every write states what it expects: `MustNotExist` to
//! create, `MustExistAndMatch(old)` to advance. "Any value" never appears.

use std::time::Duration;

use gix::{
    lock::acquire::Fail,
    refs::{
        file::transaction::prepare::{MustNotExist, ReferenceOutOfDate},
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
        FullName, Target,
    },
    ObjectId, Repository,
};

use super::retry::{Loss, Step};
use crate::error::{describe_gix, Error, ErrorKind, Result};
pub use crate::git::store::Expected;
use crate::git::{signals, store};

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
/// `core.filesRefLockTimeout` / `core.packedRefsTimeout` (see [`crate::git::store::open`]);
/// a lock that stays is an [`ErrorKind::Lock`] error naming the lock file.
pub fn compare_and_swap(
    repo: &Repository,
    name: &FullName,
    expected: Expected,
    new: ObjectId,
    log_message: &str,
) -> Result<Cas> {
    if expected == Expected::Absent {
        store::refuse_clash(repo, name)?;
    }
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
    // `crate::git::signals`).
    let err = match signals::held(|| locked_swap(repo, name, expected, new, edit)) {
        Ok(cas) => return Ok(cas),
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
    if expected == Expected::Absent {
        // A clashing ref made while we were writing.
        store::refuse_clash(repo, name)?;
    }
    if err.is_retryable() {
        return Err(lock_error(repo, name, &err));
    }
    Err(Error::new(
        ErrorKind::Git,
        format!("could not update {name}: {}", describe_gix(&err)),
    )
    .refname(name))
}

/// Lock `name`, check under the lock that it still holds `expected`, and
/// only then move it.
///
/// gix compares a loose ref read under its lock, but when the ref is not
/// loose it compares the `packed-refs` snapshot it took *before* locking.
/// `git pack-refs` (and `git gc`, `git maintenance`) can pack another
/// writer's newer value and delete the loose file in between, and that
/// stale snapshot would let this write pass over it: a lost update (the
/// race of jgit issue #21). So between gix's prepare, which holds the ref's
/// lock, and its commit, the ref is read again with `packed-refs` read
/// afresh. While the lock is held no cooperating writer can change the
/// ref, and `pack-refs` only moves its value between files. (An edit that
/// changes nothing gives its lock back in prepare, and writes nothing.)
fn locked_swap(
    repo: &Repository,
    name: &FullName,
    expected: Expected,
    new: ObjectId,
    edit: RefEdit,
) -> std::result::Result<Cas, gix::Error> {
    let (files, packed) = lock_timeouts(repo);
    let committer = repo.committer().transpose()?;
    let prepared = repo.refs.transaction().prepare(Some(edit), files, packed)?;
    // Not gix's cached `packed-refs` (that is the stale snapshot): the file
    // as it is now, or none.
    let packed_now = repo.refs.open_packed_buffer()?;
    let actual = repo
        .refs
        .try_find_packed(name.as_ref(), packed_now.as_ref())?
        .and_then(|r| r.target.try_id().map(ToOwned::to_owned));
    let holds = match expected {
        // As gix's prepare: creating a ref that already holds the new value
        // is no change, and no lost race.
        Expected::Absent => actual.is_none() || actual == Some(new),
        Expected::At(id) => actual == Some(id),
    };
    if !holds {
        // Dropping the prepared transaction removes its lock files.
        drop(prepared);
        return Ok(Cas::Moved { actual });
    }
    prepared.commit(committer)?;
    Ok(Cas::Updated)
}

/// The ref and `packed-refs` lock timeouts as gix's own `edit_reference`
/// reads them (its reader is private): milliseconds, 0 fails at once,
/// negative waits for ever; only from config files gix trusts, and a value
/// that is not a number counts as unset, as gix's lenient config has it.
/// Unset, git's defaults (but [`crate::git::store::open`] sets both).
fn lock_timeouts(repo: &Repository) -> (Fail, Fail) {
    let config = repo.config_snapshot();
    let trusted = |meta: &gix::config::file::Metadata| {
        meta.trust == gix::sec::Trust::Full
            || meta.source.kind() != gix::config::source::Kind::Repository
    };
    let timeout = |key: &str, default_ms: u64| match config
        .plumbing()
        .integer_filter(key, trusted)
        .ok()
        .flatten()
    {
        Some(ms) if ms < 0 => Fail::AfterDurationWithBackoff(Duration::from_secs(u64::MAX)),
        Some(0) => Fail::Immediately,
        Some(ms) => Fail::AfterDurationWithBackoff(Duration::from_millis(ms.unsigned_abs())),
        None => Fail::AfterDurationWithBackoff(Duration::from_millis(default_ms)),
    };
    (
        timeout("core.filesRefLockTimeout", 100),
        timeout("core.packedRefsTimeout", 1000),
    )
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
    .refname(name)
    .lock(lock)
}
