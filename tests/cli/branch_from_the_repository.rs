//! The branch comes from the repository when nothing names it: a bare
//! clone's `HEAD`, a work tree's `origin/HEAD`, else the branch `HEAD`
//! names; `main` only when nothing names a branch. The rule that chose it
//! is said in `--json` and in the words of every writing command.

use anyhow::{ensure, Result};

use crate::support::Repo;

/// A repository whose only branch is `name`, with one recorded fragment.
fn on_branch(name: &str) -> Result<Repo> {
    let repo = Repo::new()?;
    repo.git(&["branch", "-m", name])?;
    repo.record_direct(1, "docs/1.md")?;
    ensure!(repo.exists(name)?, "the first record creates {name}");
    Ok(repo)
}

#[test]
fn a_repository_on_master_works_without_naming_it() -> Result<()> {
    let repo = on_branch("master")?;
    let out = repo.consolidate()?;
    assert_eq!(out["ref"], "refs/heads/master", "{out}");
    assert_eq!(out["branch_from"], "HEAD", "{out}");
    repo.catalogue(&["check"])?.expect(0)?;
    let list = repo.catalogue(&["list"])?;
    list.expect(0)?;
    ensure!(list.stdout.contains("docs/1.md"), "{list:?}");
    let run = repo.catalogue(&["consolidate"])?;
    ensure!(
        run.stderr
            .contains("branch refs/heads/master: the branch HEAD names"),
        "{run:?}"
    );
    repo.fsck()
}

#[test]
fn a_bare_clone_uses_the_branch_its_head_names() -> Result<()> {
    let origin = on_branch("trunk")?;
    let bare = origin.clone_bare()?;
    let out = bare.catalogue_ok(&["list"])?;
    assert_eq!(out["branch"], "refs/heads/trunk", "{out}");
    assert_eq!(out["branch_from"], "HEAD", "{out}");
    Ok(())
}

#[test]
fn a_work_tree_clone_uses_the_remote_s_default_branch_over_its_checkout() -> Result<()> {
    let origin = on_branch("trunk")?;
    let clone = origin.clone_worktree()?;
    clone.git(&["checkout", "-q", "-b", "feature"])?;
    ensure!(
        clone
            .git(&["symbolic-ref", "refs/remotes/origin/HEAD"])?
            .trim()
            == "refs/remotes/origin/trunk",
        "the clone knows the remote's default branch"
    );
    let out = clone.catalogue_ok(&["list"])?;
    assert_eq!(out["branch"], "refs/heads/trunk", "{out}");
    assert_eq!(out["branch_from"], "origin/HEAD", "{out}");
    Ok(())
}

#[test]
fn config_and_flag_win_and_say_so() -> Result<()> {
    let repo = on_branch("master")?;
    repo.git(&["branch", "other", "master"])?;
    repo.git(&["config", "catalogue.branch", "other"])?;
    let out = repo.catalogue_ok(&["check", "--fragments-only"])?;
    assert_eq!(
        (out["branch"].as_str(), out["branch_from"].as_str()),
        (Some("refs/heads/other"), Some("config")),
        "{out}"
    );
    let out = repo.catalogue_ok(&["check", "--fragments-only", "--branch", "master"])?;
    assert_eq!(
        (out["branch"].as_str(), out["branch_from"].as_str()),
        (Some("refs/heads/master"), Some("argument")),
        "{out}"
    );
    Ok(())
}

#[test]
fn main_is_used_only_when_nothing_names_a_branch() -> Result<()> {
    let repo = on_branch("master")?;
    // A detached HEAD names no branch, and there is no remote.
    repo.git(&["checkout", "-q", "--detach"])?;
    let (code, out) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 4, "{out}");
    assert_eq!(out["error"]["ref"], "refs/heads/main", "{out}");
    Ok(())
}

#[test]
fn pending_with_a_missing_branch_is_an_error_naming_it() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(1, "docs/1.md")])?;
    let (code, out) = repo.catalogue_json(&["pending", "--branch", "nosuch"])?;
    assert_eq!(code, 4, "{out}");
    assert_eq!(out["error"]["kind"], "not_found", "{out}");
    assert_eq!(out["error"]["ref"], "refs/heads/nosuch", "{out}");
    Ok(())
}
