//! A catalogue whose outputs are too big to hold: a full consolidation and
//! `check` set what they have rendered aside in a temporary file as they go
//! (src/git/store/spool.rs), and the files are still exactly what an
//! incremental consolidation, which holds its outputs, writes. The
//! catalogues here are several times the point where the outputs are set
//! aside (2 MiB held).

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::support::{str_field, Content, Repo};

const FRAGMENTS: usize = 9000;

/// `issue-N`'s fragment: one artifact, a long title, one of five kinds.
fn fragment(n: usize, title: &str) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"issue": {n}, "run": {{"id": {n}, "attempt": 1}}, "artifacts": [{{"path": "docs/{n}/report.html", "kind": "k{}", "title": "{title} {n} {}"}}]}}"#,
        n % 5,
        "long words ".repeat(20),
    );
    (format!("issue-{n}"), body.into_bytes())
}

fn big() -> Result<Repo> {
    let repo = Repo::new_bare()?;
    let all: Vec<(String, Vec<u8>)> = (1..=FRAGMENTS).map(|n| fragment(n, "Report")).collect();
    repo.import_fragments(&all, &[])?;
    Ok(repo)
}

#[test]
fn a_full_build_too_big_to_hold_equals_the_incremental_one_byte_for_byte() -> Result<()> {
    let repo = big()?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "full", "{out}");
    repo.fsck()?;
    let bytes = repo.blob("main:catalogue/manifest.json")?;
    ensure!(
        bytes.len() > 3 << 20,
        "the manifest is {} bytes",
        bytes.len()
    );
    let manifest: Value = serde_json::from_slice(&bytes)?;
    let fragments = manifest["fragments"].as_object().map_or(0, |f| f.len());
    assert_eq!(fragments, FRAGMENTS);
    let artifacts = manifest["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(artifacts.len(), FRAGMENTS);
    for (i, a) in artifacts.iter().enumerate() {
        let n = i + 1;
        assert_eq!(a["fragment"], format!("issue-{n}"), "artifact {i}");
        assert_eq!(a["path"], format!("docs/{n}/report.html"), "artifact {i}");
    }
    let pages = repo.git(&["ls-tree", "--name-only", "main:catalogue/index"])?;
    ensure!(pages.lines().count() >= 9, "pages: {pages}");
    let check = repo.catalogue_ok(&["check"])?;
    assert_eq!(check["current"], true, "{check}");

    // One fragment changed: built on the outputs above, held, not set
    // aside; a full rebuild of the result, set aside, must equal it.
    let (key, body) = fragment(4321, "Changed");
    repo.import_fragments(&[(key, body)], &[])?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    repo.assert_full_rebuild_equal()?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let title = str_field(&manifest["artifacts"][4320], "title")?;
    ensure!(title.starts_with("Changed 4321"), "{title}");
    let check = repo.catalogue_ok(&["check"])?;
    assert_eq!(check["current"], true, "{check}");
    repo.fsck()
}

#[test]
fn a_conflict_in_a_catalogue_too_big_to_hold_is_listed_apart_from_lines_set_aside() -> Result<()> {
    let repo = big()?;
    // The last fragment claims the first one's path: the claim that makes
    // the conflict comes after the first lines were set aside.
    let late = format!("issue-{}", FRAGMENTS + 1);
    let body = br#"{"issue": 1, "artifacts": [{"path": "docs/1/report.html", "title": "Mine"}, {"path": "docs/late.md"}]}"#;
    repo.import_fragments(&[(late.clone(), body.to_vec())], &[])?;
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["conflicts"][0]["path"], "docs/1/report.html", "{out}");
    repo.fsck()?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let artifacts = manifest["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Every artifact but the two contested claims, in order.
    assert_eq!(artifacts.len(), FRAGMENTS, "{}", artifacts.len());
    assert_eq!(artifacts[0]["path"], "docs/2/report.html");
    assert_eq!(artifacts[FRAGMENTS - 1]["path"], "docs/late.md");
    assert_eq!(
        manifest["conflicts"][0]["fragments"],
        json!(["issue-1", late]),
        "{}",
        manifest["conflicts"]
    );
    let claims = manifest["conflicts"][0]["artifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert_eq!(claims[0]["fragment"], "issue-1", "{claims:?}");
    assert_eq!(claims[1]["title"], "Mine", "{claims:?}");
    // check renders the same files (set aside too) and names the conflict.
    let (code, check) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{check}");
    assert_eq!(check["current"], true, "{check}");
    assert_eq!(check["error"]["path"], "docs/1/report.html", "{check}");
    Ok(())
}

/// A manifest an earlier version wrote (before the `$schema` line), too big
/// to hold: `verify --history` judges it by that layout, swapping the
/// opening lines of the rendered manifest set aside, and finds the commit
/// sound; the same manifest with one entry changed is stale.
#[test]
fn verify_judges_a_big_manifest_without_the_schema_line_by_its_layout() -> Result<()> {
    let repo = big()?;
    repo.consolidate()?;
    let now = repo.text("main:catalogue/manifest.json")?;
    let schema = "  \"$schema\": \"urn:git-catalogue:schema:manifest:1\",\n";
    ensure!(now.contains(schema), "{}", &now[..200]);
    let earlier = now.replacen(schema, "", 1);
    let commit = repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(earlier.as_bytes()))],
        "catalogue: consolidate, as an earlier version wrote it",
    )?;
    let verified = repo.catalogue_ok(&["verify", "--history"])?;
    assert_eq!(verified["problems"], json!([]), "{verified}");
    let damaged = earlier.replacen("docs/77/report.html", "docs/77/gone.html", 1);
    ensure!(damaged != earlier);
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(damaged.as_bytes()))],
        "a hand edit",
    )?;
    let (code, verified) = repo.catalogue_json(&["verify", "--history"])?;
    assert_eq!(code, 1, "{verified}");
    let problems = verified["problems"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 1, "{verified}");
    assert_eq!(problems[0]["path"], "catalogue/manifest.json", "{verified}");
    ensure!(problems[0]["commit"] != commit.as_str(), "{verified}");
    Ok(())
}

/// A temporary file that cannot be made is an error naming TMPDIR, and
/// nothing is committed: the branch stays where it was.
#[test]
fn an_unusable_tmpdir_is_named_and_nothing_is_committed() -> Result<()> {
    let repo = big()?;
    let before = repo.rev("main")?;
    let missing = repo.scratch().join("no-such-dir");
    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.env("TMPDIR", &missing).args(["--json", "consolidate"]);
    let run = crate::support::run_catalogue(&mut cmd)?;
    ensure!(run.status != 0, "{run:?}");
    let out: Value = serde_json::from_str(&run.stdout)?;
    let message = str_field(&out["error"], "message")?;
    ensure!(
        message.contains("TMPDIR") && message.contains("no-such-dir"),
        "{message}"
    );
    assert_eq!(repo.rev("main")?, before);
    ensure!(
        repo.git_status(&["cat-file", "-e", "main:catalogue/manifest.json"])? != 0,
        "a manifest was committed"
    );
    // With TMPDIR back, the same consolidation goes through.
    repo.consolidate()?;
    repo.fsck()
}
