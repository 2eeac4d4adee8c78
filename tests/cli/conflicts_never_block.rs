//! Two merged pull requests that claim one path: each `record` passed alone,
//! and the branch now holds both claims. Consolidation still writes the
//! catalogue for everything else, lists both claims apart in both files,
//! and fails (exit 2, `duplicate_path`) after committing, so CI shows red
//! until one claim goes; `list` keeps working; `record` still refuses to
//! create a conflict; re-recording the later fragment without the path ends it.

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::support::{artifact_paths, assert_refusal, str_field, Content, Repo};

/// A bare repository whose `main` got issue-1 (`docs/shared.md`) and then,
/// merged by hand as a forge merges a pull request, issue-2 claiming
/// `docs/shared.md` too, and `docs/own.md`.
fn two_claims() -> Result<Repo> {
    let repo = Repo::bare_consolidated(&[(1, "docs/shared.md")])?;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/issue-2.json",
            Content::File(
                br#"{"issue": 2, "artifacts": [{"path": "docs/own.md"}, {"path": "docs/shared.md", "title": "Mine"}]}"#,
            ),
        )],
        "Merge pull request: issue-2",
    )?;
    Ok(repo)
}

#[test]
fn a_path_claimed_twice_is_committed_listed_apart_and_reported_after_committing() -> Result<()> {
    let repo = two_claims()?;
    let before = repo.rev("main")?;
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["ok"], false, "{out}");
    let error = &out["error"];
    assert_eq!(error["kind"], "duplicate_path", "{out}");
    assert_eq!(error["path"], "docs/shared.md", "{out}");
    assert_eq!(error["fragments"], json!(["issue-1", "issue-2"]), "{out}");
    assert_eq!(
        error["key"], "issue-2",
        "the later claimant is the one to change: {out}"
    );
    let message = str_field(error, "message")?;
    ensure!(
        message.contains("git catalogue record --key issue-2"),
        "the message says how to resolve it: {message}"
    );
    assert_eq!(out["conflicts"][0]["path"], "docs/shared.md", "{out}");
    // Committed all the same, on the tip, changing only the two outputs.
    let commit = str_field(&out, "commit")?.to_owned();
    assert_eq!(repo.rev("main")?, commit, "{out}");
    assert_eq!(repo.parents(&commit)?, vec![before.clone()]);
    assert_eq!(
        repo.changed_paths(&before, &commit)?,
        "catalogue/index.md\ncatalogue/index/issue-1.md\ncatalogue/manifest.json\n"
    );
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(manifest["version"], 1, "{manifest}");
    assert_eq!(artifact_paths(&manifest)?, ["docs/own.md"], "{manifest}");
    assert_eq!(
        manifest["conflicts"],
        json!([{
            "path": "docs/shared.md",
            "fragments": ["issue-1", "issue-2"],
            "artifacts": [
                {"fragment": "issue-1", "issue": 1, "path": "docs/shared.md"},
                {"fragment": "issue-2", "issue": 2, "path": "docs/shared.md", "title": "Mine"},
            ],
        }]),
        "{manifest}"
    );
    let index = repo.text("main:catalogue/index.md")?;
    let section = index.find("## Conflicts").context("a conflicts section")?;
    let claims = &index[section..];
    ensure!(
        claims.contains("| issue\\-1 | [docs/shared\\.md]")
            && claims.contains("| issue\\-2 | [docs/shared\\.md]"),
        "both claims are shown on the front page: {index}"
    );
    // The page lists every artifact of its fragments, each claim included.
    let page = repo.text("main:catalogue/index/issue-1.md")?;
    ensure!(page.contains("[docs/own\\.md]"), "{page}");
    ensure!(page.matches("[docs/shared\\.md]").count() == 2, "{page}");
    repo.fsck()?;

    // Every run says so, without a new commit.
    let (code, again) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{again}");
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["error"]["kind"], "duplicate_path", "{again}");
    assert_eq!(repo.rev("main")?, commit);
    let (code, full) = repo.catalogue_json(&["consolidate", "--full"])?;
    assert_eq!((code, &full["changed"]), (2, &json!(false)), "{full}");
    Ok(())
}

#[test]
fn list_keeps_working_and_check_names_the_conflict() -> Result<()> {
    let repo = two_claims()?;
    let _ = repo.catalogue(&["consolidate"])?;
    let run = repo.catalogue(&["list"])?;
    run.expect(0)?;
    ensure!(
        run.stderr.contains("warning:") && run.stderr.contains("docs/shared.md"),
        "{run:?}"
    );
    ensure!(run.stdout.contains("docs/own.md"), "{run:?}");
    let out = repo.catalogue_ok(&["list"])?;
    assert_eq!(
        out["conflicts"][0]["fragments"],
        json!(["issue-1", "issue-2"])
    );
    let (code, check) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{check}");
    assert_eq!(check["current"], true, "{check}");
    assert_eq!(check["error"]["kind"], "duplicate_path", "{check}");
    assert_eq!(check["error"]["path"], "docs/shared.md", "{check}");
    Ok(())
}

#[test]
fn other_fragments_still_reach_the_catalogue_and_record_refuses_a_new_conflict() -> Result<()> {
    let repo = two_claims()?;
    let _ = repo.catalogue(&["consolidate"])?;
    // An unrelated fragment is neither refused nor held back.
    repo.record_direct(3, "docs/3.md")?;
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["mode"], "full", "{out}");
    ensure!(
        str_field(&out, "note")?.contains("conflicts"),
        "the note says why every fragment was read: {out}"
    );
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(artifact_paths(&manifest)?, ["docs/own.md", "docs/3.md"]);
    // A third claim of a taken path is still refused before anything is written.
    assert_refusal(
        &repo,
        &[
            "record",
            "--direct",
            "--issue",
            "4",
            "--artifact",
            "docs/own.md",
        ],
        2,
        "duplicate_path",
        &["docs/own.md"],
    )?;
    repo.fsck()?;
    Ok(())
}

#[test]
fn re_recording_the_later_fragment_without_the_path_ends_the_conflict() -> Result<()> {
    let repo = two_claims()?;
    let _ = repo.catalogue(&["consolidate"])?;
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--key",
        "issue-2",
        "--artifact",
        "docs/own.md",
    ])?;
    let out = repo.consolidate()?;
    assert_eq!(out["changed"], true, "{out}");
    let manifest = repo.json("main:catalogue/manifest.json")?;
    ensure!(manifest.get("conflicts").is_none(), "{manifest}");
    assert_eq!(
        artifact_paths(&manifest)?,
        ["docs/shared.md", "docs/own.md"]
    );
    ensure!(!repo
        .text("main:catalogue/index.md")?
        .contains("## Conflicts"));
    repo.catalogue(&["check"])?.expect(0)?;
    // Incremental again from here, and equal to a full build.
    repo.record_direct(5, "docs/5.md")?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    let full = repo.catalogue_ok(&["consolidate", "--full"])?;
    assert_eq!(full["changed"], false, "{full}");
    repo.fsck()?;
    Ok(())
}

/// Deleting the other claimant's fragment file ends it too.
#[test]
fn deleting_one_claimant_ends_the_conflict() -> Result<()> {
    let repo = two_claims()?;
    let _ = repo.catalogue(&["consolidate"])?;
    let tip = repo.rev("main")?;
    let index = repo.scratch().join("rm-index");
    let env: [(&str, &std::ffi::OsStr); 1] = [("GIT_INDEX_FILE", index.as_os_str())];
    repo.git_env(&["read-tree", "main"], &env)?;
    repo.git_env(
        &["rm", "--cached", "-q", "catalogue/fragments/issue-2.json"],
        &env,
    )?;
    let tree = String::from_utf8(repo.git_env(&["write-tree"], &env)?)?;
    let commit = repo.git(&["commit-tree", tree.trim(), "-p", &tip, "-m", "Drop issue-2"])?;
    repo.git(&["update-ref", "refs/heads/main", commit.trim(), &tip])?;
    let out = repo.consolidate()?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    ensure!(manifest.get("conflicts").is_none(), "{manifest}");
    assert_eq!(artifact_paths(&manifest)?, ["docs/shared.md"], "{out}");
    repo.fsck()?;
    Ok(())
}
