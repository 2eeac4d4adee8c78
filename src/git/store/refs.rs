//! Reading refs and revisions.

use gix::{refs::FullName, ObjectId, Repository};

use crate::error::{describe_gix, Error, ErrorKind, Result};

/// The object a ref points to directly, or `None` when it does not exist.
pub fn ref_target(repo: &Repository, name: &FullName) -> Result<Option<ObjectId>> {
    let reference = repo
        .try_find_reference(name.as_ref())
        .map_err(|e| Error::git(format!("could not read ref {name}"), &e).refname(name))?;
    match reference {
        None => Ok(None),
        Some(r) => match r.try_id() {
            Some(id) => Ok(Some(id.detach())),
            None => Err(Error::new(
                ErrorKind::Git,
                format!("ref {name} is symbolic; git-catalogue only moves direct refs"),
            )
            .refname(name)),
        },
    }
}

/// Whether `HEAD` names `branch` and it has no commit yet (a fresh
/// `git init`): the one case where a write may create the branch.
pub fn unborn_head_names(repo: &Repository, branch: &FullName) -> Result<bool> {
    let head = repo
        .head()
        .map_err(|e| Error::git("could not read HEAD", &e))?;
    Ok(head.is_unborn() && head.referent_name() == Some(branch.as_ref()))
}

/// Resolve a revision the way git does (`main~2`, a hex id, a tag) to a commit.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Result<ObjectId> {
    let id = repo.rev_parse_single(rev).map_err(|e| {
        // A revision the user typed that names nothing is bad input, as a
        // bad path is: exit 2, not a failure of the repository.
        Error::new(
            ErrorKind::Usage,
            format!("revision `{rev}` not found: {}", describe_gix(&e)),
        )
        .commit(rev)
    })?;
    let object = id
        .object()
        .map_err(|e| Error::git(format!("could not read object {id}"), &e).commit(id))?;
    let commit = object.peel_to_commit().map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("revision `{rev}` is not a commit: {}", describe_gix(&e)),
        )
        .commit(rev)
    })?;
    Ok(commit.id)
}

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

/// Where the symbolic ref `name` (`HEAD`, `refs/remotes/origin/HEAD`) points,
/// as a full ref name, whether or not that ref exists yet; `None` when
/// `name` does not exist or is not symbolic (a detached `HEAD`).
pub fn symbolic_target(repo: &Repository, name: &str) -> Result<Option<String>> {
    let reference = repo
        .try_find_reference(name)
        .map_err(|e| Error::git(format!("could not read ref {name}"), &e).refname(name))?;
    Ok(reference.and_then(|r| match r.target() {
        gix::refs::TargetRef::Symbolic(target) => Some(target.as_bstr().to_string()),
        gix::refs::TargetRef::Object(_) => None,
    }))
}
