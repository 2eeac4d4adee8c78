//! `check` (read-only validation, exit 1 on a finding) and `list` (the
//! catalogue of a revision, built from its fragments).

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::support::{str_field, Content, Repo};

#[test]
fn check_reports_a_missing_manifest_then_current_then_stale_and_writes_nothing() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;

    let before = repo.snapshot()?;
    let (status, out) = repo.catalogue_json(&["check"])?;
    assert_eq!(status, 1, "no manifest yet: {out}");
    assert_eq!(out["command"], "check");
    assert_eq!(out["valid"], true);
    assert_eq!(out["current"], false);
    assert!(
        out["problems"].as_array().is_some_and(|p| !p.is_empty()),
        "{out}"
    );
    assert_eq!(str_field(&out, "commit")?, repo.rev("main")?);
    repo.catalogue(&["check"])?.expect(1)?;
    repo.catalogue(&["check", "--fragments-only"])?.expect(0)?;
    assert_eq!(repo.snapshot()?, before, "check wrote something");

    repo.consolidate()?;
    let out = repo.catalogue_ok(&["check"])?;
    assert_eq!(out["valid"], true);
    assert_eq!(out["current"], true);
    assert_eq!(out["fragments"], 1);
    assert_eq!(out["artifacts"], 1);
    assert_eq!(out["problems"], json!([]));
    assert_eq!(str_field(&out, "commit")?, repo.rev("main")?);

    repo.record_direct(2, "b.md")?;
    let (status, out) = repo.catalogue_json(&["check"])?;
    assert_eq!(status, 1, "a new fragment makes the manifest stale: {out}");
    assert_eq!(out["valid"], true);
    assert_eq!(out["current"], false);
    let only = repo.catalogue_ok(&["check", "--fragments-only"])?;
    assert_eq!(only["valid"], true);
    assert_eq!(only["current"], Value::Null);
    assert_eq!(only["fragments"], 2);

    // The consolidated commit, one back, is still current by itself.
    repo.catalogue(&["check", "--rev", "main~1"])?.expect(0)?;
    Ok(())
}

#[test]
fn check_names_an_invalid_fragment_and_exits_1() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/broken.json",
            Content::File(b"{\"artifacts\": [\n"),
        )],
        "A broken fragment",
    )?;
    let before = repo.snapshot()?;
    for args in [&["check"][..], &["check", "--fragments-only"][..]] {
        let run = repo.catalogue(args)?;
        run.expect(1)?;
        assert!(run.stderr.contains("broken.json"), "{run:?}");
        let (status, out) = repo.catalogue_json(args)?;
        assert_eq!(status, 1);
        assert_eq!(out["valid"], false, "{out}");
        assert!(out["problems"].to_string().contains("broken.json"), "{out}");
        assert!(out["error"].to_string().contains("broken.json"), "{out}");
    }
    assert_eq!(repo.snapshot()?, before);
    Ok(())
}

#[test]
fn check_of_an_unknown_revision_fails_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    let (status, out) = repo.catalogue_json(&["check", "--rev", "no-such-rev"])?;
    // Bad input, as README's exit codes say: 2, not 4.
    assert_eq!(status, 2, "{out}");
    assert_eq!(out["error"]["kind"], "usage");
    assert!(out["error"].to_string().contains("no-such-rev"), "{out}");
    Ok(())
}

/// Three fragments in three commits, for the listing to sort and describe:
/// issue 2 with a kind and a title, a `--key` fragment, and issue 10 (after
/// 2 in natural order, before it bytewise).
fn three_fragments() -> Result<Repo> {
    let repo = Repo::new_bare()?;
    let described = ["--kind", "k", "--title", "Bee", "--artifact", "docs/a.md"];
    repo.record_direct_with(2, "docs/b.md", &described)?;
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--key",
        "nightly",
        "--artifact",
        "n.md",
    ])?;
    repo.record_direct(10, "t.md")?;
    Ok(repo)
}

#[test]
fn list_prints_one_tab_separated_line_per_artifact_in_catalogue_order() -> Result<()> {
    let repo = three_fragments()?;
    let run = repo.catalogue(&["list"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        "issue-2\t2\tdocs/a.md\t-\t-\n\
         issue-2\t2\tdocs/b.md\tk\tBee\n\
         issue-10\t10\tt.md\t-\t-\n\
         nightly\t-\tn.md\t-\t-\n"
    );
    let filtered = repo.catalogue(&["list", "--issue", "10"])?;
    filtered.expect(0)?;
    assert_eq!(filtered.stdout, "issue-10\t10\tt.md\t-\t-\n");
    Ok(())
}

#[test]
fn list_json_matches_the_manifest_consolidate_writes() -> Result<()> {
    let repo = three_fragments()?;
    let listed = repo.catalogue_ok(&["list"])?;
    assert_eq!(listed["command"], "list");
    assert_eq!(str_field(&listed, "commit")?, repo.rev("main")?);
    repo.consolidate()?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(listed["artifacts"], manifest["artifacts"]);
    assert_eq!(listed["fragments"], manifest["fragments"]);
    assert_eq!(
        listed["fragments"],
        json!({"issue-2": {"issue": 2}, "issue-10": {"issue": 10}, "nightly": {}})
    );
    Ok(())
}

#[test]
fn list_rev_shows_an_older_revision() -> Result<()> {
    let repo = three_fragments()?;
    let out = repo.catalogue_ok(&["list", "--rev", "main~2"])?;
    let artifacts = out["artifacts"].as_array().context("artifacts")?;
    assert_eq!(
        artifacts.len(),
        2,
        "only issue-2 existed two commits ago: {out}"
    );
    assert_eq!(str_field(&out, "commit")?, repo.rev("main~2")?);
    let run = repo.catalogue(&["list", "--rev", "main~2"])?;
    run.expect(0)?;
    assert_eq!(run.stdout.lines().count(), 2, "{run:?}");
    Ok(())
}
