//! The one commit step every writer uses: `record`, `consolidate` and
//! `repair` each decide what to write, and this writes it.
//!
//! In order: find every work tree that follows the ref (the main one and
//! each linked one with it checked out), refuse local changes to the paths
//! written in any of them, refuse paths that cross a file of the tree, write
//! the objects, the tree and the commit, swap the ref, and bring each of
//! those work trees along. Objects are written before the ref that makes them reachable,
//! so a process killed at any instant leaves every ref on a complete commit.

use gix::{refs::FullName, ObjectId, Repository};

use super::backoff::{backoff, Jitter};
use super::cas::Expected;
use super::retry::Step;
use super::sink::Sink;
use crate::error::Result;
use crate::git::store::{self, TreeChange};
use crate::git::worktree::Checkout;

/// One commit to write and publish.
#[derive(Debug)]
pub struct Write<'a> {
    /// The ref to move.
    pub target: &'a FullName,
    /// What the ref holds now, as read at the start of this attempt.
    pub expected: Expected,
    /// The commit built on (`None`: the first commit of a new branch).
    pub parent: Option<ObjectId>,
    /// The tree of `parent` (the empty tree without one).
    pub root: ObjectId,
    /// Every path the commit writes.
    pub paths: Vec<String>,
    /// The commit message.
    pub message: String,
    /// The reflog message.
    pub log: &'a str,
    /// On a remote, push with a lease against `expected` instead of a plain
    /// fast-forward (per-issue refs, which a re-run may replace).
    pub lease: bool,
    /// Make no commit when the tree would not change.
    pub skip_unchanged: bool,
}

/// What a commit step left.
#[derive(Debug, Default)]
pub struct Committed {
    /// The new commit; `None` when `skip_unchanged` found nothing to change.
    pub commit: Option<ObjectId>,
    /// One line per work tree that could not follow the ref (the commit is
    /// safe); empty when every checkout of it followed.
    pub warning: Vec<String>,
}

/// Write and publish `write`, the objects of its changes coming from
/// `objects` (called after the checks, so that a refused write leaves no
/// objects behind). A lost race comes back as [`Step::Lost`].
pub fn commit_step(
    repo: &Repository,
    sink: &dyn Sink,
    write: Write<'_>,
    objects: impl FnOnce() -> Result<Vec<TreeChange>>,
) -> Result<Step<Committed>> {
    let checkouts = sink.checkouts(repo, write.target)?;
    for c in &checkouts {
        c.ensure_clean(&write.paths)?;
    }
    let placed: Vec<&str> = write.paths.iter().map(String::as_str).collect();
    store::check_placement(repo, write.root, &placed)?;
    let changes = objects()?;
    let tree = store::write_tree(repo, write.root, &changes)?;
    if write.skip_unchanged && tree == write.root {
        return Ok(Step::Done(Committed::default()));
    }
    let parents: Vec<ObjectId> = write.parent.into_iter().collect();
    let commit = store::write_commit(repo, tree, &parents, &write.message)?;
    let cas = sink.swap(
        repo,
        write.target,
        write.expected,
        commit,
        write.log,
        write.lease,
    )?;
    cas.step(|| {
        let old = write.parent.unwrap_or_else(|| store::empty_tree(repo));
        Ok(Committed {
            commit: Some(commit),
            warning: checkouts
                .iter()
                .filter_map(|c| follow(c, old, commit))
                .collect(),
        })
    })
}

/// Bring `checkout` from `old` to `new`, waiting out another local writer's
/// `index.lock`; what still fails comes back as a warning saying how to
/// catch up.
fn follow(checkout: &Checkout, old: ObjectId, new: ObjectId) -> Option<String> {
    let mut jitter = Jitter::new();
    let mut last = String::new();
    for n in 1..=12 {
        match checkout.follow(old, new) {
            Ok(()) => return None,
            Err(unfollowed) => {
                last = unfollowed.reason;
                if !unfollowed.index_locked {
                    break;
                }
            }
        }
        std::thread::sleep(backoff(n, &mut jitter));
    }
    Some(format!(
        "the branch moved to {new}, but the work tree {} could not follow: {last} \
         (the commit is safe; run `git reset --keep {new}` to catch up)",
        checkout.workdir().display()
    ))
}
