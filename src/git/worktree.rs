//! Keeping a checked-out branch's index and work tree in step (docs/format.md, "Concurrency").
//!
//! git-catalogue writes commits without a checkout. When the branch it moves
//! is the one checked out in a non-bare repository, the index and work tree
//! follow the new commit the way `git merge --ff-only` would, and local
//! changes to the paths it writes make it refuse before anything is written.
//! The two-tree `git read-tree -m -u OLD NEW` is exactly that fast-forward
//! update; gix 0.90 could only do it with its heavy `worktree-mutation` feature.

use std::path::PathBuf;

use gix::{refs::FullName, ObjectId, Repository};

use crate::{
    error::{Error, ErrorKind, Result},
    git::command::Git,
};

/// A work tree whose HEAD is the branch being written.
#[derive(Debug)]
pub struct Checkout {
    git: Git,
    workdir: PathBuf,
}

/// The checkout that follows `branch`, if the repository has one.
pub fn checkout_of(repo: &Repository, branch: &FullName) -> Result<Option<Checkout>> {
    let Some(workdir) = repo.workdir() else {
        return Ok(None);
    };
    let head = repo
        .head_name()
        .map_err(|e| Error::git("could not read HEAD", &e))?;
    if head.as_ref() != Some(branch) {
        return Ok(None);
    }
    Ok(Some(Checkout {
        git: Git::for_repo(repo),
        workdir: workdir.to_owned(),
    }))
}

impl Checkout {
    /// Refuse when any of `paths` has staged, unstaged or untracked changes.
    pub fn ensure_clean(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut args = vec![
            "status".to_owned(),
            "--porcelain=v1".to_owned(),
            "-z".to_owned(),
            "--untracked-files=all".to_owned(),
            "--ignored=matching".to_owned(),
            "--".to_owned(),
        ];
        args.extend(paths.iter().map(|p| format!(":(literal){p}")));
        let out = self.git.run(&args)?;
        if !out.success() {
            return Err(Error::new(
                ErrorKind::Git,
                format!(
                    "`git status` failed in {}: {}",
                    self.workdir.display(),
                    out.stderr_text()
                ),
            ));
        }
        let dirty: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|rec| rec.len() > 3)
            .map(|rec| String::from_utf8_lossy(&rec[3..]).into_owned())
            .collect();
        if let Some(first) = dirty.first() {
            return Err(Error::new(
                ErrorKind::DirtyWorktree,
                format!(
                    "refusing to write: `{first}` has local changes in the work tree {} (commit, stash or remove {}, then re-run)",
                    self.workdir.display(),
                    if dirty.len() == 1 { "it".to_owned() } else { format!("them: {}", dirty.join(", ")) }
                ),
            )
            .path(first));
        }
        Ok(())
    }

    /// Move index and work tree from `old` to `new`, as a fast-forward, once.
    ///
    /// The branch has already moved when this runs, so a failure here is not
    /// the command's failure: the caller turns it into a warning. Another
    /// local writer following its own commit holds `index.lock` for a moment;
    /// [`Unfollowed::index_locked`] says so, and the caller may try again.
    pub fn follow(&self, old: ObjectId, new: ObjectId) -> Result<(), Unfollowed> {
        let args = ["read-tree", "-m", "-u", &old.to_string(), &new.to_string()];
        let reason = match self.git.run(args) {
            Ok(out) if out.success() => return Ok(()),
            Ok(out) => out.stderr_text(),
            Err(e) => e.message,
        };
        Err(Unfollowed {
            index_locked: reason.contains("index.lock"),
            reason,
        })
    }

    /// The work tree's folder.
    pub fn workdir(&self) -> &std::path::Path {
        &self.workdir
    }
}

/// Why a work tree did not follow its branch.
#[derive(Debug)]
pub struct Unfollowed {
    /// git's own words.
    pub reason: String,
    /// Whether another process held the index lock: worth another try.
    pub index_locked: bool,
}
