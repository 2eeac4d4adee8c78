//! `check --base`: a pull request's gate. It lists what the branch adds,
//! changes or removes since it left the base, as text, JSON and Markdown,
//! and fails (exit 1) when merging it would break the catalogue: an invalid
//! fragment, or a path the base claims by now too.

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{Content, Repo};

/// main with issues 1, 2 and 3; a branch `pr` off it that adds 4, changes 2
/// (another path) and removes 3.
fn pull_request() -> Result<Repo> {
    let repo = Repo::new_bare()?.with_consolidated(&[
        (1, "docs/1.md"),
        (2, "docs/2.md"),
        (3, "docs/3.md"),
    ])?;
    repo.git(&["branch", "pr", "main"])?;
    repo.record_direct_with(4, "docs/4.md", &["--branch", "pr"])?;
    repo.record_direct_with(2, "docs/2-new.md", &["--branch", "pr"])?;
    let tree = repo.rev("pr^{tree}")?;
    let without = repo.git(&["ls-tree", &tree])?;
    ensure!(without.contains("catalogue"), "{without}");
    // Remove issue-3's fragment on pr, as a person would with `git rm`.
    let index = repo.scratch().join("index");
    std::fs::create_dir_all(repo.scratch())?;
    let env = [("GIT_INDEX_FILE", index.as_os_str())];
    repo.git_env(&["read-tree", "pr"], &env)?;
    repo.git_env(
        &["rm", "-q", "--cached", "catalogue/fragments/issue-3.json"],
        &env,
    )?;
    let tree = String::from_utf8(repo.git_env(&["write-tree"], &env)?)?;
    let commit = repo.git(&[
        "commit-tree",
        tree.trim(),
        "-p",
        "pr",
        "-m",
        "remove issue 3",
    ])?;
    repo.git(&["update-ref", "refs/heads/pr", commit.trim()])?;
    Ok(repo)
}

fn rows(out: &Value) -> Result<Vec<(String, String, String)>> {
    Ok(out["changes"]
        .as_array()
        .context("changes")?
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap_or_default().to_owned(),
                c["key"].as_str().unwrap_or_default().to_owned(),
                c["paths"].to_string(),
            )
        })
        .collect())
}

#[test]
fn a_pull_request_s_additions_changes_and_removals_are_listed_and_it_passes() -> Result<()> {
    let repo = pull_request()?;
    let summary = repo.scratch().join("summary.md");
    std::fs::write(&summary, "earlier step\n")?;
    let summary_arg = summary.display().to_string();
    let run = repo.catalogue(&[
        "--json",
        "check",
        "--base",
        "main",
        "--rev",
        "pr",
        "--summary",
        &summary_arg,
    ])?;
    run.expect(0)?;
    let out = run.json()?;
    assert_eq!(out["valid"], true, "{out}");
    assert_eq!(out["merge_base"], repo.rev("main")?.as_str(), "{out}");
    assert_eq!(
        rows(&out)?,
        [
            (
                "changed".to_owned(),
                "issue-2".to_owned(),
                r#"["docs/2-new.md"]"#.to_owned()
            ),
            (
                "removed".to_owned(),
                "issue-3".to_owned(),
                r#"["docs/3.md"]"#.to_owned()
            ),
            (
                "added".to_owned(),
                "issue-4".to_owned(),
                r#"["docs/4.md"]"#.to_owned()
            ),
        ]
    );
    let text = std::fs::read_to_string(&summary)?;
    ensure!(
        text.starts_with("earlier step\n### Catalogue\n"),
        "appended: {text}"
    );
    ensure!(text.contains("keeps the catalogue consistent"), "{text}");
    ensure!(
        text.contains("| added | `issue-4` | `docs/4.md` |"),
        "{text}"
    );
    ensure!(
        text.contains("| changed | `issue-2` | `docs/2-new.md` ~~`docs/2.md`~~ |"),
        "{text}"
    );
    // The plain listing, one row per fragment.
    let run = repo.catalogue(&["check", "--base", "main", "--rev", "pr"])?;
    run.expect(0)?;
    ensure!(
        run.stdout.contains("added\tissue-4\tdocs/4.md\n"),
        "{run:?}"
    );
    ensure!(
        run.stdout.contains("removed\tissue-3\tdocs/3.md\n"),
        "{run:?}"
    );
    Ok(())
}

#[test]
fn a_path_the_base_claimed_meanwhile_fails_the_gate_naming_both_fragments() -> Result<()> {
    let repo = pull_request()?;
    // Meanwhile on main, issue 9 claims the path the pull request adds.
    repo.record_direct(9, "docs/4.md")?;
    let before = repo.snapshot()?;
    let (code, out) = repo.catalogue_json(&["check", "--base", "main", "--rev", "pr"])?;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["valid"], false, "{out}");
    let error = &out["error"];
    assert_eq!(error["kind"], "duplicate_path", "{out}");
    assert_eq!(error["path"], "docs/4.md", "{out}");
    assert_eq!(
        error["fragments"],
        serde_json::json!(["issue-4", "issue-9"]),
        "{out}"
    );
    ensure!(repo.snapshot()? == before, "the gate wrote something");
    Ok(())
}

#[test]
fn an_invalid_fragment_in_the_pull_request_fails_the_gate_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md")])?;
    repo.git(&["branch", "pr", "main"])?;
    let bad = repo.commit_by_hand(
        &[(
            "catalogue/fragments/issue-5.json",
            Content::File(b"{\"artifacts\": 7}"),
        )],
        "a hand-written fragment",
    )?;
    // commit_by_hand moved main: put that commit on pr instead.
    repo.git(&["update-ref", "refs/heads/pr", &bad])?;
    repo.git(&["update-ref", "refs/heads/main", "pr~1"])?;
    let (code, out) = repo.catalogue_json(&["check", "--base", "main", "--rev", "pr"])?;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["error"]["kind"], "invalid_fragment", "{out}");
    assert_eq!(
        out["error"]["path"], "catalogue/fragments/issue-5.json",
        "{out}"
    );
    assert_eq!(rows(&out)?[0].0, "added", "{out}");
    Ok(())
}

#[test]
fn consolidate_dry_run_lists_the_same_rows_for_what_it_would_change() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md"), (2, "docs/2.md")])?;
    repo.record_direct(3, "docs/3.md")?;
    repo.record_direct(2, "docs/2-new.md")?;
    let before = repo.snapshot()?;
    let run = repo.catalogue(&["--json", "consolidate", "--dry-run"])?;
    run.expect(0)?;
    let out = run.json()?;
    assert_eq!(
        rows(&out)?,
        [
            (
                "changed".to_owned(),
                "issue-2".to_owned(),
                r#"["docs/2-new.md"]"#.to_owned()
            ),
            (
                "added".to_owned(),
                "issue-3".to_owned(),
                r#"["docs/3.md"]"#.to_owned()
            ),
        ]
    );
    let run = repo.catalogue(&["consolidate", "--dry-run"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        "changed\tissue-2\tdocs/2-new.md\nadded\tissue-3\tdocs/3.md\n"
    );
    ensure!(repo.snapshot()? == before, "a dry run wrote something");
    // With no manifest to compare with, every fragment is new.
    let fresh = Repo::new_bare()?.with_recorded(&[(1, "docs/1.md")])?;
    let out = fresh.catalogue_ok(&["consolidate", "--dry-run"])?;
    assert_eq!(rows(&out)?[0].0, "added", "{out}");
    Ok(())
}
