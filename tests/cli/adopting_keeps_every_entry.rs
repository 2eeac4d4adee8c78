//! Adopting a repository whose `manifest.json` git-catalogue did not write
//! (the old racing design's array, or entries written by hand): no entry
//! that no fragment backs is dropped without being asked. `consolidate`
//! refuses (exit 2, `unmigrated`) naming how many and which, `check` gives
//! the same next step, `repair` migrates them, and `--drop-unbacked` drops
//! them on purpose.

use anyhow::{ensure, Result};
use serde_json::json;

use crate::support::{artifact_paths, assert_refusal, str_field, Content, Repo};

const LEGACY: &[u8] = br#"[{"issue": 1, "path": "docs/1.md"}, {"issue": 2, "path": "docs/2.md"}]"#;

/// A bare repository whose `main` holds only a legacy manifest.
fn legacy() -> Result<Repo> {
    let repo = Repo::new_bare()?;
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(LEGACY))],
        "The old writer's manifest",
    )?;
    Ok(repo)
}

#[test]
fn consolidate_refuses_to_drop_a_legacy_manifest_s_entries() -> Result<()> {
    let repo = legacy()?;
    for args in [
        &["consolidate"][..],
        &["consolidate", "--full"],
        &["consolidate", "--dry-run"],
    ] {
        let error = assert_refusal(&repo, args, 2, "unmigrated", &["catalogue/manifest.json"])?;
        let message = str_field(&error, "message")?;
        for says in [
            "2 entries",
            "docs/1.md",
            "docs/2.md",
            "git catalogue repair",
            "--drop-unbacked",
        ] {
            ensure!(
                message.contains(says),
                "{args:?}: {says:?} missing in {message}"
            );
        }
    }
    assert_eq!(repo.blob("main:catalogue/manifest.json")?, LEGACY);
    Ok(())
}

#[test]
fn check_gives_the_same_next_step() -> Result<()> {
    let repo = legacy()?;
    let run = repo.catalogue(&["check"])?;
    run.expect(1)?;
    ensure!(
        run.stderr.contains("git catalogue repair")
            && !run.stderr.contains("; run `git catalogue consolidate`"),
        "{run:?}"
    );
    let (code, out) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["current"], false, "{out}");
    assert_eq!(out["problems"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["problems"][0]["kind"], "unmigrated", "{out}");
    assert_eq!(out["error"]["path"], "catalogue/manifest.json", "{out}");
    Ok(())
}

#[test]
fn repair_migrates_them_with_provenance_and_consolidation_then_keeps_them() -> Result<()> {
    let repo = legacy()?;
    let out = repo.catalogue_ok(&["repair"])?;
    assert_eq!(out["recovered"], json!(["docs/1.md", "docs/2.md"]), "{out}");
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(
        artifact_paths(&manifest)?,
        ["docs/1.md", "docs/2.md"],
        "{manifest}"
    );
    for entry in manifest["artifacts"].as_array().into_iter().flatten() {
        assert_eq!(entry["provenance"]["class"], "migrated", "{manifest}");
    }
    let fragment = repo.json("main:catalogue/fragments/issue-1.json")?;
    assert_eq!(fragment["recovered"], true, "{fragment}");
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;
    Ok(())
}

#[test]
fn drop_unbacked_drops_them_on_purpose() -> Result<()> {
    let repo = legacy()?;
    let out = repo.catalogue_ok(&["consolidate", "--drop-unbacked"])?;
    assert_eq!(out["changed"], true, "{out}");
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(manifest["artifacts"], json!([]), "{manifest}");
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;
    Ok(())
}

/// Entries a fragment backs go through; only the others are named. An entry
/// naming a fragment that no longer exists was removed on purpose.
#[test]
fn only_the_unbacked_entries_are_named() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "docs/1.md"), (3, "docs/3.md")])?;
    repo.commit_by_hand(
        &[(
            "catalogue/manifest.json",
            Content::File(
                br#"{"artifacts": [
                    {"fragment": "issue-1", "path": "docs/1.md"},
                    {"fragment": "issue-3", "path": "docs/hand.md"},
                    {"fragment": "issue-9", "path": "docs/9.md"},
                    {"path": "docs/2.md"}
                ]}"#,
            ),
        )],
        "Entries written by hand",
    )?;
    let error = assert_refusal(
        &repo,
        &["consolidate"],
        2,
        "unmigrated",
        &["catalogue/manifest.json"],
    )?;
    let message = str_field(&error, "message")?;
    ensure!(
        message.contains("2 entries")
            && message.contains("docs/hand.md")
            && message.contains("docs/2.md")
            && !message.contains("docs/9.md")
            && !message.contains("docs/1.md"),
        "{message}"
    );
    Ok(())
}

/// The hot path pays nothing: a catalogue in git-catalogue's own layout
/// consolidates as before, incrementally, even after a fragment drops a path.
#[test]
fn git_catalogue_s_own_manifest_is_never_refused() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(1, "docs/1.md"), (2, "docs/2.md")])?;
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--issue",
        "2",
        "--artifact",
        "docs/other.md",
    ])?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    let full = repo.catalogue_ok(&["consolidate", "--full"])?;
    assert_eq!(full["changed"], false, "{full}");
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(artifact_paths(&manifest)?, ["docs/1.md", "docs/other.md"]);
    Ok(())
}
