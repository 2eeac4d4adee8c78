//! Where a write lands: this repository's refs ([`Local`]), or a remote's,
//! by fetch and push ([`Remote`]).
//!
//! Every writer builds the same way on either: read the refs it builds on,
//! make sure the objects it reads are here, write, and swap the ref. The
//! [`Sink`] trait is that one interface, so no writer branches on where its
//! write goes.

use gix::{refs::FullName, ObjectId, Repository};

use super::cas::{compare_and_swap, Cas, Expected};
use crate::error::{Error, Result};
use crate::git::remote::{PushOutcome, Remote};
use crate::git::store;
use crate::git::worktree::{self, Checkout};

/// Where a write lands.
pub trait Sink {
    /// What each of `refs` holds now (`None`: absent). For a remote this
    /// fetches them, so the objects to build on are here afterwards.
    fn read(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<Option<ObjectId>>>;

    /// Whether `branch`, found absent by [`Sink::read`], may be created by
    /// this write: only locally, where `HEAD` names it and it has no commit
    /// yet (a fresh `git init`). Anywhere else a missing branch is an error,
    /// so a mistyped branch name cannot start an unrelated history.
    fn may_create(&self, repo: &Repository, branch: &FullName) -> Result<bool>;

    /// Make sure the objects `ids` are here before they are read: in a
    /// partial clone of the remote, the missing ones are fetched in one
    /// request. Locally there is nowhere to fetch from: a missing object is
    /// reported when it is read.
    fn fetch_missing(&self, repo: &Repository, ids: &[ObjectId]) -> Result<()>;

    /// Move `name` from `expected` to `new`: locally by compare-and-swap; on a
    /// remote by a plain push (`lease` false: the branch, which only ever
    /// fast-forwards) or by `--force-with-lease` against `expected` (`lease`
    /// true: a per-issue ref, which a re-run may replace).
    fn swap(
        &self,
        repo: &Repository,
        name: &FullName,
        expected: Expected,
        new: ObjectId,
        log_message: &str,
        lease: bool,
    ) -> Result<Cas>;

    /// The work trees that must follow when `name` moves: every work tree of
    /// the repository (main or linked) with it checked out, for a local
    /// write; none for a remote's, which moves no ref checked out here.
    /// An error when one holds `name` but could not follow.
    fn checkouts(&self, repo: &Repository, name: &FullName) -> Result<Vec<Checkout>>;

    /// The remote's name, when pushing.
    fn remote_name(&self) -> Option<&str>;
}

/// This repository's own refs, moved with [`compare_and_swap`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Sink for Local {
    fn read(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<Option<ObjectId>>> {
        refs.iter().map(|r| store::ref_target(repo, r)).collect()
    }

    fn may_create(&self, repo: &Repository, branch: &FullName) -> Result<bool> {
        store::unborn_head_names(repo, branch)
    }

    fn fetch_missing(&self, _repo: &Repository, _ids: &[ObjectId]) -> Result<()> {
        Ok(())
    }

    fn swap(
        &self,
        repo: &Repository,
        name: &FullName,
        expected: Expected,
        new: ObjectId,
        log_message: &str,
        _lease: bool,
    ) -> Result<Cas> {
        compare_and_swap(repo, name, expected, new, log_message)
    }

    fn checkouts(&self, repo: &Repository, name: &FullName) -> Result<Vec<Checkout>> {
        worktree::checkouts_of(repo, name)
    }

    fn remote_name(&self) -> Option<&str> {
        None
    }
}

impl Sink for Remote {
    fn read(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<Option<ObjectId>>> {
        Remote::read(self, repo, refs)
    }

    fn may_create(&self, _repo: &Repository, _branch: &FullName) -> Result<bool> {
        Ok(false)
    }

    fn fetch_missing(&self, repo: &Repository, ids: &[ObjectId]) -> Result<()> {
        let missing: Vec<ObjectId> = ids
            .iter()
            .filter(|id| !repo.has_object(id))
            .copied()
            .collect();
        self.fetch_objects(&missing)
    }

    fn swap(
        &self,
        repo: &Repository,
        name: &FullName,
        expected: Expected,
        new: ObjectId,
        log_message: &str,
        lease: bool,
    ) -> Result<Cas> {
        match self.push(new, name, lease.then_some(expected))? {
            PushOutcome::Pushed => {}
            PushOutcome::Lost { .. } => return Ok(Cas::Moved { actual: None }),
            PushOutcome::Locked { lock } => return Ok(Cas::Locked { lock }),
            // `Remote::push` turns refusals into errors; kept total for the compiler.
            PushOutcome::Refused { reason } => return Err(Error::rejected(reason).refname(name)),
        }
        // Best effort, and never an error: the push is what counts, and a
        // local ref someone else moved meanwhile is theirs to keep.
        if let Ok(tracking) = self.tracking_ref(name) {
            let _ = compare_and_swap(repo, &tracking, expected, new, log_message);
        }
        // A local ref that is absent, or still where the remote was, follows,
        // unless some work tree (main or linked) has it checked out.
        if let Ok(local) = store::ref_target(repo, name) {
            let checked_out = !matches!(worktree::checkouts_of(repo, name), Ok(v) if v.is_empty());
            if (local.is_none() || local == expected.as_option()) && !checked_out {
                let _ =
                    compare_and_swap(repo, name, Expected::from_option(local), new, log_message);
            }
        }
        Ok(Cas::Updated)
    }

    fn checkouts(&self, _repo: &Repository, _name: &FullName) -> Result<Vec<Checkout>> {
        Ok(Vec::new())
    }

    fn remote_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}
