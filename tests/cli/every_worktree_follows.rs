//! A branch checked out in any work tree of the repository, not only the one
//! the command runs in, follows each new commit: the main work tree, linked
//! ones (`git worktree add`), a bare repository's linked ones, and the main
//! one when the command runs from a linked one. Local changes there to the
//! paths written, or a work tree that could not follow, make the command
//! refuse before writing, naming that work tree.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::support::{assert_refusal, names, record_direct_args, str_field, Repo};

/// The folder where the tests put a linked work tree: outside the repository.
fn linked_path(repo: &Repo) -> PathBuf {
    repo.scratch().join("w")
}

/// `git worktree add <opts…> <scratch>/w <commitish…>`; the new work
/// tree's folder.
fn add_linked(repo: &Repo, opts: &[&str], commitish: &[&str]) -> Result<PathBuf> {
    let w = linked_path(repo);
    let w_str = text(&w);
    let mut args = vec!["worktree", "add", "-q"];
    args.extend_from_slice(opts);
    args.push(&w_str);
    args.extend_from_slice(commitish);
    repo.git(&args)?;
    Ok(w.canonicalize()?)
}

fn text(p: &Path) -> String {
    p.display().to_string()
}

/// `git status` of the work tree at `dir`, untracked files included.
fn status_in(repo: &Repo, dir: &Path) -> Result<String> {
    repo.git_in(dir, &["status", "--porcelain", "--untracked-files=all"])
}

/// Every catalogue file of `main` sits in the work tree `dir` byte for
/// byte, and nothing there differs from its index or HEAD.
fn assert_follows(repo: &Repo, dir: &Path) -> Result<()> {
    let status = status_in(repo, dir)?;
    ensure!(
        status.is_empty(),
        "the work tree {} did not follow main:\n{status}",
        dir.display()
    );
    let head = repo.git_in(dir, &["rev-parse", "HEAD"])?;
    ensure!(
        head.trim() == repo.rev("main")?,
        "HEAD of {} is not main",
        dir.display()
    );
    for name in repo.tree_names("main:catalogue/fragments")? {
        let path = format!("catalogue/fragments/{name}");
        ensure!(
            std::fs::read(dir.join(&path))? == repo.blob(&format!("main:{path}"))?,
            "{path} in {} differs from main",
            dir.display()
        );
    }
    for path in ["catalogue/manifest.json", "catalogue/index.md"] {
        if repo.exists(&format!("main:{path}"))? {
            ensure!(
                std::fs::read(dir.join(path))? == repo.blob(&format!("main:{path}"))?,
                "{path} in {} differs from main",
                dir.display()
            );
        }
    }
    Ok(())
}

/// The damage of the finding: an ordinary commit in the work tree at `dir`
/// must keep what the tool committed, and change only its own file.
fn assert_an_ordinary_commit_keeps_the_catalogue(repo: &Repo, dir: &Path) -> Result<()> {
    let before = repo.rev("main")?;
    let fragments = repo.tree_names("main:catalogue/fragments")?;
    let manifest = repo.blob("main:catalogue/manifest.json")?;
    std::fs::write(dir.join("notes.txt"), "a person's own change\n")?;
    repo.git_in(dir, &["add", "notes.txt"])?;
    repo.git_in(dir, &["commit", "-q", "-m", "An ordinary commit"])?;
    assert_eq!(repo.parents("main")?, vec![before.clone()]);
    assert_eq!(repo.changed_paths(&before, "main")?.trim(), "notes.txt");
    assert_eq!(repo.tree_names("main:catalogue/fragments")?, fragments);
    assert_eq!(repo.blob("main:catalogue/manifest.json")?, manifest);
    Ok(())
}

/// A repository whose main work tree is on `elsewhere`, with `main` checked
/// out in a linked work tree; the catalogue of issue 1 consolidated. The
/// linked work tree's folder.
fn main_in_a_linked_work_tree() -> Result<(Repo, PathBuf)> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    // The catalogue lives on main, whichever branch this work tree has.
    repo.git(&["config", "catalogue.branch", "main"])?;
    repo.git(&["checkout", "-q", "-b", "elsewhere"])?;
    let w = add_linked(&repo, &[], &["main"])?;
    Ok((repo, w))
}

#[test]
fn a_linked_work_tree_follows_record_direct_and_consolidate() -> Result<()> {
    let (repo, w) = main_in_a_linked_work_tree()?;
    let elsewhere = repo.rev("elsewhere")?;
    repo.record_direct(2, "docs/b.md")?;
    assert_follows(&repo, &w)?;
    assert!(w.join("catalogue/fragments/issue-2.json").is_file());
    repo.consolidate()?;
    assert_follows(&repo, &w)?;
    // The main work tree, on another branch, is left alone.
    assert_eq!(status_in(&repo, &repo.path)?, "");
    assert_eq!(repo.rev("elsewhere")?, elsewhere);
    assert!(!repo.path.join("catalogue/fragments/issue-2.json").exists());

    assert_an_ordinary_commit_keeps_the_catalogue(&repo, &w)?;
    // And `repair` finds no entry lost (the damage made it say `deleted`).
    let repaired = repo.catalogue_ok(&["repair", "--dry-run"])?;
    let entries = repaired["entries"].as_array().cloned().unwrap_or_default();
    ensure!(entries.len() == 2, "{repaired}");
    ensure!(
        entries.iter().all(|e| e["class"] == "present"),
        "repair finds lost entries: {repaired}"
    );
    repo.fsck()
}

#[test]
fn a_local_change_in_a_linked_work_tree_makes_consolidate_refuse_naming_it() -> Result<()> {
    let (repo, w) = main_in_a_linked_work_tree()?;
    repo.record_direct(2, "docs/b.md")?;
    std::fs::write(
        w.join("catalogue/manifest.json"),
        "{\"edited\": \"by hand\"}\n",
    )?;
    let error = assert_refusal(
        &repo,
        &["consolidate"],
        4,
        "dirty_worktree",
        &["catalogue/manifest.json"],
    )?;
    let message = str_field(&error, "message")?;
    ensure!(
        names(message, &text(&w)),
        "the work tree is not named: {message}"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("catalogue/manifest.json"))?,
        "{\"edited\": \"by hand\"}\n",
        "the local change was lost"
    );
    assert_eq!(status_in(&repo, &w)?, " M catalogue/manifest.json\n");
    Ok(())
}

#[test]
fn an_untracked_file_in_a_linked_work_tree_makes_record_direct_refuse_naming_it() -> Result<()> {
    let (repo, w) = main_in_a_linked_work_tree()?;
    std::fs::write(w.join("catalogue/fragments/issue-5.json"), "mine\n")?;
    let error = assert_refusal(
        &repo,
        &record_direct_args("5", "e.md"),
        4,
        "dirty_worktree",
        &["catalogue/fragments/issue-5.json"],
    )?;
    let message = str_field(&error, "message")?;
    ensure!(
        names(message, &text(&w)),
        "the work tree is not named: {message}"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("catalogue/fragments/issue-5.json"))?,
        "mine\n"
    );
    Ok(())
}

#[test]
fn run_from_a_linked_work_tree_the_main_work_tree_follows() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    // The catalogue lives on main, whichever branch the linked work tree has.
    repo.git(&["config", "catalogue.branch", "main"])?;
    let w = add_linked(&repo, &["-b", "side"], &[])?;
    let side = repo.rev("side")?;
    repo.catalogue_in(
        &w,
        &[
            "--json",
            "record",
            "--direct",
            "--issue",
            "2",
            "--artifact",
            "b.md",
        ],
    )?
    .expect(0)?;
    repo.catalogue_in(&w, &["--json", "consolidate"])?
        .expect(0)?;
    assert!(repo.exists("main:catalogue/fragments/issue-2.json")?);
    assert_follows(&repo, &repo.path)?;
    // The linked work tree, on `side`, is left alone.
    assert_eq!(repo.rev("side")?, side);
    assert_eq!(status_in(&repo, &w)?, "");
    assert!(!w.join("catalogue/fragments/issue-2.json").exists());
    assert_an_ordinary_commit_keeps_the_catalogue(&repo, &repo.path)
}

#[test]
fn two_work_trees_with_the_branch_checked_out_both_follow() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    // Only `--force` lets git check one branch out twice.
    let w = add_linked(&repo, &["-f"], &["main"])?;
    repo.catalogue_in(
        &w,
        &[
            "--json",
            "record",
            "--direct",
            "--issue",
            "2",
            "--artifact",
            "b.md",
        ],
    )?
    .expect(0)?;
    repo.consolidate()?;
    assert_follows(&repo, &repo.path)?;
    assert_follows(&repo, &w)?;
    // A local change in the one the command does not run in refuses.
    repo.record_direct(3, "c.md")?;
    std::fs::write(w.join("catalogue/index.md"), "edited\n")?;
    let error = assert_refusal(
        &repo,
        &["consolidate"],
        4,
        "dirty_worktree",
        &["catalogue/index.md"],
    )?;
    let message = str_field(&error, "message")?;
    ensure!(
        names(message, &text(&w)),
        "the work tree is not named: {message}"
    );
    Ok(())
}

#[test]
fn a_bare_repository_s_linked_work_tree_follows() -> Result<()> {
    let repo = Repo::new_bare()?;
    let w = add_linked(&repo, &[], &["main"])?;
    repo.record_direct(1, "docs/a.md")?;
    assert!(w.join("catalogue/fragments/issue-1.json").is_file());
    repo.consolidate()?;
    assert_follows(&repo, &w)?;
    // From inside the linked work tree too.
    repo.catalogue_in(
        &w,
        &[
            "--json",
            "record",
            "--direct",
            "--issue",
            "2",
            "--artifact",
            "b.md",
        ],
    )?
    .expect(0)?;
    repo.catalogue_in(&w, &["--json", "consolidate"])?
        .expect(0)?;
    assert_follows(&repo, &w)?;
    assert_an_ordinary_commit_keeps_the_catalogue(&repo, &w)?;
    repo.fsck()
}

#[test]
fn a_linked_work_tree_whose_folder_is_gone_makes_the_command_refuse_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/a.md")])?;
    let w = add_linked(&repo, &[], &["main"])?;
    std::fs::remove_dir_all(&w)?;
    assert_refusal(
        &repo,
        &record_direct_args("2", "b.md"),
        4,
        "dirty_worktree",
        &[&text(&w)],
    )?;
    // Once git forgets it, the write goes ahead.
    repo.git(&["worktree", "prune"])?;
    repo.record_direct(2, "b.md")?;
    assert!(repo.exists("main:catalogue/fragments/issue-2.json")?);
    Ok(())
}

#[test]
fn a_rebase_of_the_branch_in_a_linked_work_tree_makes_the_command_refuse_naming_it() -> Result<()> {
    let (repo, w) = main_in_a_linked_work_tree()?;
    let editor = std::ffi::OsStr::new("sed -i 1ibreak");
    let w_str = text(&w);
    // Stops at once, with HEAD detached and `main` held by the rebase.
    repo.git_env(
        &["-C", &w_str, "rebase", "-q", "-i", "HEAD~1"],
        &[("GIT_SEQUENCE_EDITOR", editor)],
    )?;
    assert_refusal(
        &repo,
        &record_direct_args("2", "b.md"),
        4,
        "dirty_worktree",
        &[&w_str],
    )?;
    repo.git_in(&w, &["rebase", "--abort"])?;
    repo.record_direct(2, "b.md")?;
    assert_follows(&repo, &w)
}

#[test]
fn unresolved_conflicts_in_a_linked_work_tree_make_the_command_refuse() -> Result<()> {
    let (repo, w) = main_in_a_linked_work_tree()?;
    repo.git_in(&w, &["switch", "-q", "-c", "topic"])?;
    std::fs::write(w.join("README.md"), "topic\n")?;
    repo.git_in(&w, &["commit", "-q", "-am", "topic"])?;
    repo.git_in(&w, &["switch", "-q", "main"])?;
    std::fs::write(w.join("README.md"), "main\n")?;
    repo.git_in(&w, &["commit", "-q", "-am", "main"])?;
    let w_str = text(&w);
    ensure!(repo.git_status(&["-C", &w_str, "merge", "-q", "topic"])? != 0);
    let error = assert_refusal(
        &repo,
        &record_direct_args("2", "b.md"),
        4,
        "dirty_worktree",
        &["README.md"],
    )?;
    let message = str_field(&error, "message")?;
    ensure!(
        names(message, &w_str),
        "the work tree is not named: {message}"
    );
    Ok(())
}
