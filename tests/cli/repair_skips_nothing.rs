//! Nothing skipped silently: a manifest version or an entry that `repair`
//! cannot parse is reported as an invalid version, with its commit and blob,
//! as `verify --history` reports the same blob (docs/format.md, "History").

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support::{str_field, Content, Repo};

/// A bare repository whose history holds a legacy array manifest with one
/// entry nested 200 levels deep (past the JSON reader's limit of 128), then
/// a valid one. Returns the repository and the deep version's commit.
fn with_a_deep_legacy_entry() -> Result<(Repo, String)> {
    let repo = Repo::new_bare()?;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let bad = format!(
        "[\n  {{\"path\": \"docs/a.md\", \"kind\": \"report\"}},\n  {{\"path\": \"docs/deep.md\", \"x\": {deep}}}\n]\n"
    );
    let commit = repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(bad.as_bytes()))],
        "old writer: a deep entry",
    )?;
    let good = "[\n  {\"path\": \"docs/a.md\", \"kind\": \"report\"}\n]\n";
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(good.as_bytes()))],
        "old writer: drop it",
    )?;
    Ok((repo, commit))
}

#[test]
fn an_entry_too_deep_to_parse_is_an_invalid_version_naming_commit_and_blob() -> Result<()> {
    let (repo, commit) = with_a_deep_legacy_entry()?;
    let blob = repo.rev(&format!("{commit}:catalogue/manifest.json"))?;
    let before = repo.snapshot()?;
    let (code, out) = repo.catalogue_json(&["repair", "--dry-run"])?;
    assert_eq!(code, 0, "{out}");
    assert_eq!(repo.snapshot()?, before, "--dry-run wrote: {out}");
    let invalid = out["invalid_versions"]
        .as_array()
        .context("invalid_versions")?;
    assert_eq!(invalid.len(), 1, "the deep version is reported: {out}");
    assert_eq!(str_field(&invalid[0], "commit")?, commit, "{out}");
    assert_eq!(str_field(&invalid[0], "blob")?, blob, "{out}");
    let message = str_field(&invalid[0], "message")?;
    assert!(message.contains("recursion limit"), "{message}");

    // The text report says so too, and `verify --history` calls the same
    // blob invalid for the same reason.
    let text = repo.catalogue(&["repair", "--dry-run"])?;
    text.expect(0)?;
    let said = format!("{}{}", text.stdout, text.stderr);
    assert!(said.contains(&blob) && said.contains(&commit), "{said}");
    assert!(said.contains("(1 invalid)"), "{said}");
    let (code, verify) = repo.catalogue_json(&["verify", "--history"])?;
    assert_eq!(code, 1, "{verify}");
    let problems = verify["problems"].as_array().context("problems")?;
    assert!(
        problems
            .iter()
            .any(|p| p["commit"] == Value::String(commit.clone())
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("recursion limit"))),
        "{verify}"
    );
    Ok(())
}
