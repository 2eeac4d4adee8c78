//! Keeping every checkout of a branch in step (docs/format.md, "A checked-out
//! work tree follows").
//!
//! git-catalogue writes commits without a checkout. When the branch it moves
//! is checked out in any work tree of the repository (the main one, or a
//! linked one made by `git worktree add`, whichever of them the command runs
//! from, or a bare repository's linked ones), each such index and work tree
//! follows the new commit the way `git merge --ff-only` would, and local
//! changes to the paths it writes make it refuse before anything is written.
//! A checkout that cannot follow (its folder is gone, a rebase holds the
//! branch, its index has unresolved conflicts) also refuses before writing:
//! a checked-out branch is never moved behind a work tree's back.
//!
//! The two-tree `git read-tree -m -u OLD NEW`, run with that work tree's own
//! git dir, is exactly the fast-forward update; gix 0.90 could only do it with
//! its heavy `worktree-mutation` feature.

use std::path::{Path, PathBuf};

use gix::{bstr::ByteSlice, refs::FullName, ObjectId, Repository};

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

/// Every checkout that follows `branch`, in the order `git worktree list`
/// shows them (the main work tree first). Refuses, naming the work tree,
/// when one holds `branch` but could not follow it.
pub fn checkouts_of(repo: &Repository, branch: &FullName) -> Result<Vec<Checkout>> {
    let mut found: Vec<Checkout> = Vec::new();
    for seen in worktrees(repo)? {
        match decide(branch, &seen) {
            Verdict::Unrelated => {}
            Verdict::Follow(workdir) => {
                // `git worktree add --force` can register one folder twice.
                if !found.iter().any(|c| same_dir(&c.workdir, &workdir)) {
                    found.push(Checkout {
                        git: Git::new(&seen.git_dir, Some(&workdir)),
                        workdir,
                    });
                }
            }
            Verdict::Blocked(why) => return Err(blocked(branch, &seen, why)),
        }
    }
    Ok(found)
}

/// What was read about one work tree of the repository.
#[derive(Debug)]
struct Seen {
    /// Its own git dir (`.git`, or `.git/worktrees/<name>`).
    git_dir: PathBuf,
    /// Its folder, as registered; `None` for a bare main repository, or a
    /// linked work tree whose `gitdir` file cannot be read.
    workdir: Option<PathBuf>,
    /// Whether `workdir` is a folder that exists now.
    present: bool,
    /// Whether it is a linked work tree (not the main one).
    linked: bool,
    /// The refs its HEAD names, following symbolic refs (empty: detached).
    heads: Vec<FullName>,
    /// The branch a rebase in progress there will write back when it ends.
    rebasing: Option<FullName>,
}

/// What to do about one work tree.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It does not hold the branch.
    Unrelated,
    /// It has the branch checked out: follow in this folder.
    Follow(PathBuf),
    /// It holds the branch and cannot follow: refuse before writing.
    Blocked(Why),
}

/// Why a work tree that holds the branch cannot follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// Its folder is gone (moved or deleted without `git worktree`).
    Missing,
    /// Its registration does not say where its folder is.
    Unregistered,
    /// A rebase of the branch is in progress there.
    Rebasing,
}

/// Pure: whether and how the work tree `seen` follows `branch`.
fn decide(branch: &FullName, seen: &Seen) -> Verdict {
    let checked_out = seen.heads.contains(branch);
    let rebasing = seen.rebasing.as_ref() == Some(branch);
    if !checked_out && !rebasing {
        return Verdict::Unrelated;
    }
    let Some(workdir) = &seen.workdir else {
        return if seen.linked {
            Verdict::Blocked(Why::Unregistered)
        } else {
            // A bare repository's own HEAD: there is no checkout to follow.
            Verdict::Unrelated
        };
    };
    if rebasing {
        Verdict::Blocked(Why::Rebasing)
    } else if !seen.present {
        Verdict::Blocked(Why::Missing)
    } else {
        Verdict::Follow(workdir.clone())
    }
}

fn blocked(branch: &FullName, seen: &Seen, why: Why) -> Error {
    let place = seen.workdir.as_deref().unwrap_or(&seen.git_dir);
    let shown = place.display();
    let reason = match why {
        Why::Missing => format!(
            "{branch} is checked out in the work tree {shown}, which no longer exists, \
             so it cannot follow (restore the folder, or run `git worktree prune`, then re-run)"
        ),
        Why::Unregistered => format!(
            "{branch} is checked out in the linked work tree registered at {shown}, \
             whose folder cannot be found, so it cannot follow \
             (repair it with `git worktree repair`, or run `git worktree prune`, then re-run)"
        ),
        Why::Rebasing => format!(
            "{branch} is being rebased in the work tree {shown}; moving it now would make the \
             rebase fail when it ends (finish it with `git rebase --continue`, or `git rebase --abort`, then re-run)"
        ),
    };
    Error::new(
        ErrorKind::DirtyWorktree,
        format!("refusing to write: {reason}"),
    )
    .path(shown)
    .refname(branch)
}

/// The main work tree (unless the repository is bare), then every linked
/// one, wherever the command runs from.
fn worktrees(repo: &Repository) -> Result<Vec<Seen>> {
    let unreadable = |what: &Path, e: &gix::Error| {
        Error::git(
            format!("could not read the work tree at {}", what.display()),
            e,
        )
        .path(what.display())
    };
    let mut all = Vec::new();
    let main = repo
        .main_repo()
        .map_err(|e| unreadable(repo.common_dir(), &e))?;
    all.push(seen(&main, false)?);
    let linked = repo
        .worktrees()
        .map_err(|e| unreadable(&repo.common_dir().join("worktrees"), &e))?;
    for proxy in linked {
        let git_dir = proxy.git_dir().to_owned();
        let wt = proxy
            .into_repo_with_possibly_inaccessible_worktree()
            .map_err(|e| unreadable(&git_dir, &e))?;
        all.push(seen(&wt, true)?);
    }
    Ok(all)
}

fn seen(repo: &Repository, linked: bool) -> Result<Seen> {
    let git_dir = repo.git_dir().to_owned();
    let workdir = repo.workdir().map(Path::to_owned);
    Ok(Seen {
        present: workdir.as_deref().is_some_and(Path::is_dir),
        heads: head_chain(repo)?,
        rebasing: rebasing(&git_dir)?,
        git_dir,
        workdir,
        linked,
    })
}

/// The refs HEAD names, one symbolic level after the other (a HEAD on a
/// branch that has no commit yet names it too).
fn head_chain(repo: &Repository) -> Result<Vec<FullName>> {
    let where_ = || repo.git_dir().join("HEAD");
    let fail = |e: &gix::Error| {
        Error::git(format!("could not read {}", where_().display()), e).path(where_().display())
    };
    let mut chain = Vec::new();
    let mut next = repo.head_name().map_err(|e| fail(&e))?;
    while let Some(name) = next.take() {
        if chain.contains(&name) || chain.len() > 8 {
            break;
        }
        let reference = repo
            .try_find_reference(name.as_ref())
            .map_err(|e| fail(&e))?;
        next = reference.and_then(|r| r.target().try_name().map(ToOwned::to_owned));
        chain.push(name);
    }
    Ok(chain)
}

/// The branch a rebase in progress in `git_dir` holds, as git itself reads
/// it (`git am` uses `rebase-apply` too, but holds no branch).
fn rebasing(git_dir: &Path) -> Result<Option<FullName>> {
    let file = if git_dir.join("rebase-apply").is_dir() {
        if git_dir.join("rebase-apply/applying").exists() {
            return Ok(None);
        }
        git_dir.join("rebase-apply/head-name")
    } else {
        git_dir.join("rebase-merge/head-name")
    };
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!("could not read {}: {e}", file.display()),
            )
            .path(file.display()))
        }
    };
    // `detached HEAD` (or an id) when the rebase started from no branch.
    Ok(FullName::try_from(bytes.trim().as_bstr()).ok())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

impl Checkout {
    /// Refuse when this work tree could not follow a commit that writes
    /// `paths`: any of them has staged, unstaged, untracked or ignored
    /// changes, or its index has unresolved conflicts (then `git read-tree
    /// -m` refuses to move it).
    pub fn ensure_clean(&self, paths: &[String]) -> Result<()> {
        self.ensure_resolved()?;
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
        let out = self.succeed("status", &args)?;
        let dirty: Vec<String> = out
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

    /// Refuse when the index holds unresolved conflicts.
    fn ensure_resolved(&self) -> Result<()> {
        let out = self.succeed("ls-files", ["ls-files", "--unmerged", "-z"])?;
        // Records are `<mode> <id> <stage>\t<path>`.
        let mut conflicted: Vec<String> = out
            .split(|b| *b == 0)
            .filter_map(|rec| rec.split_once_str("\t"))
            .map(|(_, path)| String::from_utf8_lossy(path).into_owned())
            .collect();
        conflicted.dedup();
        if let Some(first) = conflicted.first() {
            return Err(Error::new(
                ErrorKind::DirtyWorktree,
                format!(
                    "refusing to write: the work tree {} has unresolved conflicts (`{first}`{}), so it cannot follow (resolve them and commit, or abort the merge, then re-run)",
                    self.workdir.display(),
                    if conflicted.len() > 1 { format!(" and {} more", conflicted.len() - 1) } else { String::new() }
                ),
            )
            .path(first));
        }
        Ok(())
    }

    /// Run `git <args>` here; its stdout, or an error naming this work tree.
    fn succeed<I, S>(&self, what: &str, args: I) -> Result<Vec<u8>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.git.run(args)?;
        if !out.success() {
            return Err(Error::new(
                ErrorKind::Git,
                format!(
                    "`git {what}` failed in the work tree {}: {}",
                    self.workdir.display(),
                    out.stderr_text()
                ),
            )
            .path(self.workdir.display()));
        }
        Ok(out.stdout)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> FullName {
        FullName::try_from(s).expect("valid ref name")
    }

    fn seen(heads: &[&str], rebasing: Option<&str>, workdir: Option<&str>, linked: bool) -> Seen {
        Seen {
            git_dir: PathBuf::from("/r/.git/worktrees/w"),
            workdir: workdir.map(PathBuf::from),
            present: true,
            linked,
            heads: heads.iter().map(|h| name(h)).collect(),
            rebasing: rebasing.map(name),
        }
    }

    #[test]
    fn a_work_tree_on_another_branch_or_detached_is_left_alone() {
        let main = name("refs/heads/main");
        let other = seen(&["refs/heads/feature"], None, Some("/w"), true);
        assert_eq!(decide(&main, &other), Verdict::Unrelated);
        let detached = seen(&[], None, Some("/w"), true);
        assert_eq!(decide(&main, &detached), Verdict::Unrelated);
    }

    #[test]
    fn every_work_tree_with_the_branch_follows_main_or_linked() {
        let main = name("refs/heads/main");
        for linked in [false, true] {
            let s = seen(&["refs/heads/main"], None, Some("/w"), linked);
            assert_eq!(decide(&main, &s), Verdict::Follow(PathBuf::from("/w")));
        }
    }

    #[test]
    fn a_head_that_reaches_the_branch_through_a_symbolic_ref_follows() {
        let main = name("refs/heads/main");
        let s = seen(
            &["refs/heads/alias", "refs/heads/main"],
            None,
            Some("/w"),
            true,
        );
        assert_eq!(decide(&main, &s), Verdict::Follow(PathBuf::from("/w")));
    }

    #[test]
    fn a_bare_main_repository_has_nothing_to_follow() {
        let main = name("refs/heads/main");
        let s = seen(&["refs/heads/main"], None, None, false);
        assert_eq!(decide(&main, &s), Verdict::Unrelated);
    }

    #[test]
    fn a_work_tree_that_cannot_follow_blocks_the_write() {
        let main = name("refs/heads/main");
        let mut gone = seen(&["refs/heads/main"], None, Some("/w"), true);
        gone.present = false;
        assert_eq!(decide(&main, &gone), Verdict::Blocked(Why::Missing));
        let lost = seen(&["refs/heads/main"], None, None, true);
        assert_eq!(decide(&main, &lost), Verdict::Blocked(Why::Unregistered));
        let rebase = seen(&[], Some("refs/heads/main"), Some("/w"), true);
        assert_eq!(decide(&main, &rebase), Verdict::Blocked(Why::Rebasing));
        let other_rebase = seen(&[], Some("refs/heads/feature"), Some("/w"), true);
        assert_eq!(decide(&main, &other_rebase), Verdict::Unrelated);
    }
}
