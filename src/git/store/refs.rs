//! Reading refs and revisions.

use gix::{refs::FullName, ObjectId, Repository};

use crate::error::{describe_gix, Error, ErrorKind, Result};

/// The object a ref points to directly, or `None` when it does not exist.
pub fn ref_target(repo: &Repository, name: &FullName) -> Result<Option<ObjectId>> {
    let reference = repo
        .try_find_reference(name.as_ref())
        .map_err(|e| Error::git(format!("could not read ref {name}"), &e).refname(name))?;
    match reference {
        None => {
            // Absent, and cannot be created: say so before anything is written for it.
            refuse_clash(repo, name)?;
            Ok(None)
        }
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

/// Refuse `name` when a ref git would not let it share a name with exists
/// (`refs/heads/catalogue` for `refs/heads/catalogue/<key>`), naming that
/// ref and what to do. gix would fail on the file system ("File exists") or,
/// with the other ref only in `packed-refs`, create a loose ref that git
/// then refuses to read.
pub fn refuse_clash(repo: &Repository, name: &FullName) -> Result<()> {
    let Some(other) = ref_clash(repo, name)? else {
        return Ok(());
    };
    let what_to_do = match other.strip_prefix("refs/heads/") {
        Some(branch) => format!(
            "rename that branch (`git branch -m {branch} <new-name>`) or delete it, then re-run"
        ),
        None => format!("rename or delete {other}, then re-run"),
    };
    Err(Error::new(
        ErrorKind::Git,
        format!(
            "cannot create {name}: the ref {other} exists, and git cannot keep a ref and a folder \
             of refs under one name; {what_to_do}"
        ),
    )
    .refname(other))
}

/// The refs git would not let `name` be created beside: a ref whose name is
/// a folder of `name` (`refs/heads/catalogue` for `refs/heads/catalogue/x`),
/// or one inside `name/`. git keeps refs as files, so a name cannot be both
/// a ref and a folder of refs. The first such ref, or `None`.
pub fn ref_clash(repo: &Repository, name: &FullName) -> Result<Option<String>> {
    let wrap = |e: gix::Error| Error::git(format!("could not read the refs beside {name}"), &e);
    for folder in folders_of(&name.as_bstr().to_string()) {
        let Ok(folder) = FullName::try_from(folder) else {
            continue;
        };
        if let Some(found) = repo.try_find_reference(folder.as_ref()).map_err(wrap)? {
            if found.name() == folder.as_ref() {
                return Ok(Some(folder.as_bstr().to_string()));
            }
        }
    }
    let inside = format!("{}/", name.as_bstr());
    let platform = repo.references().map_err(wrap)?;
    let first = platform.prefixed(inside.as_str()).map_err(wrap)?.next();
    match first {
        None => Ok(None),
        Some(Ok(r)) => Ok(Some(r.name().as_bstr().to_string())),
        Some(Err(e)) => Err(Error::new(
            ErrorKind::Git,
            format!("could not read a ref under {inside}: {e}"),
        )
        .refname(name)),
    }
}

/// The folders of a ref name below `refs/<kind>/`, outermost first:
/// `refs/heads/a/b/c` gives `refs/heads/a`, `refs/heads/a/b`.
pub fn folders_of(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('/').collect();
    (3..parts.len()).map(|n| parts[..n].join("/")).collect()
}

#[cfg(test)]
mod tests {
    use super::folders_of;

    #[test]
    fn the_folders_of_a_ref() {
        assert_eq!(
            folders_of("refs/heads/catalogue/issue-1"),
            ["refs/heads/catalogue"]
        );
        assert_eq!(
            folders_of("refs/heads/a/b/c"),
            ["refs/heads/a", "refs/heads/a/b"]
        );
        assert!(folders_of("refs/heads/main").is_empty());
    }
}
