//! A non-bare repository with the branch checked out: the index and work tree
//! follow each new commit as `git merge --ff-only` would, and local changes to
//! the paths a command writes make it refuse before writing anything.

use anyhow::Result;

use crate::support::{in_parallel, record_direct_args, str_field, Repo};

const WRITTEN: [&str; 3] = [
    "catalogue/fragments/issue-1.json",
    "catalogue/manifest.json",
    "catalogue/index.md",
];

#[test]
fn the_work_tree_and_index_follow_record_direct_and_consolidate() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"])?,
        ""
    );
    for path in WRITTEN {
        assert_eq!(
            std::fs::read(repo.path.join(path))?,
            repo.blob(&format!("main:{path}"))?,
            "{path} in the work tree differs from the commit"
        );
    }
    assert_eq!(
        repo.git(&["symbolic-ref", "HEAD"])?.trim(),
        "refs/heads/main"
    );
    repo.git(&["diff", "--quiet", "HEAD"])?;
    repo.git(&["diff", "--cached", "--quiet", "HEAD"])?;
    repo.fsck()
}

#[test]
fn unrelated_local_changes_survive_a_direct_record() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    std::fs::write(repo.path.join("README.md"), "edited, not committed\n")?;
    std::fs::write(repo.path.join("notes.txt"), "untracked\n")?;
    repo.record_direct(2, "docs/b.md")?;
    assert!(repo.exists("main:catalogue/fragments/issue-2.json")?);
    assert_eq!(
        repo.git(&["status", "--porcelain"])?,
        " M README.md\n?? notes.txt\n",
        "only the user's own changes remain"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path.join("README.md"))?,
        "edited, not committed\n"
    );
    assert_eq!(
        std::fs::read(repo.path.join("catalogue/fragments/issue-2.json"))?,
        repo.blob("main:catalogue/fragments/issue-2.json")?
    );
    Ok(())
}

#[test]
fn a_local_change_to_the_manifest_makes_consolidate_refuse_and_main_stay() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    repo.record_direct(2, "docs/b.md")?;
    let main = repo.rev("main")?;
    std::fs::write(
        repo.path.join("catalogue/manifest.json"),
        "{\"edited\": \"by hand\"}\n",
    )?;

    let run = repo.catalogue(&["consolidate"])?;
    assert_eq!(run.status, 4, "dirty work tree: {run:?}");
    assert!(run.stderr.contains("catalogue/manifest.json"), "{run:?}");
    let (status, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(status, 4, "{out}");
    assert_eq!(out["error"]["kind"], "dirty_worktree");
    assert!(
        str_field(&out["error"], "message")?.contains("catalogue/manifest.json"),
        "{out}"
    );

    assert_eq!(repo.rev("main")?, main, "main moved despite the refusal");
    assert_eq!(
        std::fs::read_to_string(repo.path.join("catalogue/manifest.json"))?,
        "{\"edited\": \"by hand\"}\n",
        "the local change was lost"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain"])?,
        " M catalogue/manifest.json\n"
    );
    Ok(())
}

#[test]
fn a_staged_change_to_the_index_page_makes_consolidate_refuse() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    repo.record_direct(2, "docs/b.md")?;
    let main = repo.rev("main")?;
    std::fs::write(repo.path.join("catalogue/index.md"), "staged by hand\n")?;
    repo.git(&["add", "catalogue/index.md"])?;
    let (status, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(status, 4, "{out}");
    assert_eq!(out["error"]["kind"], "dirty_worktree");
    assert!(
        str_field(&out["error"], "message")?.contains("catalogue/index.md"),
        "{out}"
    );
    assert_eq!(repo.rev("main")?, main);
    assert_eq!(
        repo.git(&["status", "--porcelain"])?,
        "M  catalogue/index.md\n"
    );
    Ok(())
}

#[test]
fn an_untracked_file_in_the_way_makes_record_direct_refuse() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    let main = repo.rev("main")?;
    let in_the_way = repo.path.join("catalogue/fragments/issue-5.json");
    std::fs::write(&in_the_way, "mine\n")?;
    let run = repo.catalogue(&[&["--json"][..], &record_direct_args("5", "e.md")].concat())?;
    assert_eq!(run.status, 4, "{run:?}");
    let out = run.json()?;
    assert_eq!(out["error"]["kind"], "dirty_worktree");
    assert!(
        str_field(&out["error"], "message")?.contains("catalogue/fragments/issue-5.json"),
        "{out}"
    );
    assert_eq!(repo.rev("main")?, main);
    assert_eq!(std::fs::read_to_string(&in_the_way)?, "mine\n");
    Ok(())
}

#[test]
fn a_direct_record_on_a_branch_not_checked_out_leaves_the_work_tree_alone() -> Result<()> {
    let repo = Repo::new()?;
    // The catalogue lives on main, whichever branch is checked out.
    repo.git(&["config", "catalogue.branch", "main"])?;
    repo.git(&["checkout", "-q", "-b", "feature"])?;
    repo.record_direct(1, "a.md")?;
    repo.consolidate()?;
    assert!(repo.exists("main:catalogue/manifest.json")?);
    assert!(
        !repo.path.join("catalogue").exists(),
        "main's files leaked into feature's checkout"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"])?,
        ""
    );
    assert_eq!(
        repo.git(&["symbolic-ref", "HEAD"])?.trim(),
        "refs/heads/feature"
    );
    Ok(())
}

#[test]
fn many_local_writers_on_a_checked_out_branch_all_succeed_and_leave_it_clean() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/a.md")])?;
    const WRITERS: usize = 8;
    let runs = in_parallel(WRITERS, |w| {
        let issue = (100 + w).to_string();
        let path = format!("docs/w{w}.md");
        repo.catalogue(&[&["--json"][..], &record_direct_args(&issue, &path)].concat())
    })?;
    for run in &runs {
        // Another writer's `git read-tree` holding index.lock must not turn a
        // published commit into a failure.
        run.expect(0)?;
    }
    // Whatever order the work tree updates ran in, the last one leaves the
    // checkout equal to main once every writer is done.
    repo.consolidate()?;
    let names = repo.tree_names("main:catalogue/fragments")?;
    assert_eq!(names.len(), WRITERS + 1, "{names:?}");
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"])?;
    let warned = runs.iter().any(|r| r.stderr.contains("could not follow"));
    assert!(
        status.is_empty() || warned,
        "the checkout is out of step and nobody said so:\n{status}"
    );
    repo.fsck()
}
