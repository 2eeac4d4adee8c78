//! `consolidate`: manifest.json and index.md rebuilt from the branch tip's
//! fragments, committed with the tip as the only parent, or nothing at all
//! when they are already current.

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::support::{
    artifact_paths, assert_full_fixture_numbers_verbatim, fixture, str_field, Repo, EMPTY_TREE,
};

#[test]
fn merged_per_issue_refs_consolidate_into_exactly_one_commit_listing_their_artifacts() -> Result<()>
{
    // The producers record onto a shared bare repository, one per-issue ref each...
    let server = Repo::new_bare()?;
    for (issue, paths) in [
        ("3", ["docs/3/z.md", "docs/3/a.md"]),
        ("10", ["docs/10/b.md", "docs/10/a.md"]),
        ("2", ["docs/2/only.md", "docs/2/also.md"]),
    ] {
        server.record_with(issue, paths[0], &["--kind", "k", "--artifact", paths[1]])?;
    }
    // ...and a maintainer merges the three in a non-bare clone, as an octopus.
    let repo = server.clone_worktree()?;
    repo.git(&[
        "merge",
        "-q",
        "--no-edit",
        "origin/catalogue/issue-3",
        "origin/catalogue/issue-10",
        "origin/catalogue/issue-2",
    ])?;
    let merged = repo.rev("main")?;
    let fragments_tree = repo.rev("main:catalogue/fragments")?;
    assert_eq!(
        repo.tree_names("main:catalogue/fragments")?
            .into_iter()
            .collect::<Vec<_>>(),
        ["issue-10.json", "issue-2.json", "issue-3.json"]
    );

    let out = repo.consolidate()?;
    let tip = repo.rev("main")?;
    assert_ne!(tip, merged);
    assert_eq!(out["command"], "consolidate");
    assert_eq!(out["changed"], true);
    assert_eq!(out["dry_run"], false);
    assert_eq!(out["ref"], "refs/heads/main");
    assert_eq!(str_field(&out, "commit")?, tip);
    assert_eq!(str_field(&out, "tip")?, tip);
    assert_eq!(str_field(&out, "source")?, fragments_tree);
    assert_eq!(out["fragments"], 3);
    assert_eq!(out["artifacts"], 6);
    assert!(out["attempts"].as_u64().is_some_and(|n| n >= 1), "{out}");

    // Exactly one new commit, whose only parent is the merged tip, touching only the outputs.
    assert_eq!(repo.count(&format!("{merged}..main"))?, 1);
    assert_eq!(repo.parents(&tip)?, vec![merged.clone()]);
    assert_eq!(
        repo.changed_paths(&merged, &tip)?,
        "catalogue/index.md\ncatalogue/index/issue-2.md\ncatalogue/manifest.json\n"
    );

    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(manifest["version"], 1);
    assert_eq!(
        str_field(&manifest, "source")?,
        repo.rev("main:catalogue/fragments")?
    );
    assert_eq!(str_field(&manifest, "source")?, fragments_tree);
    assert_eq!(
        manifest["fragments"],
        json!({"issue-2": {"issue": 2}, "issue-3": {"issue": 3}, "issue-10": {"issue": 10}})
    );
    // Natural key order (2 < 3 < 10), then bytewise path order within a fragment.
    assert_eq!(
        manifest["artifacts"],
        json!([
            {"fragment": "issue-2", "issue": 2, "path": "docs/2/also.md"},
            {"fragment": "issue-2", "issue": 2, "path": "docs/2/only.md", "kind": "k"},
            {"fragment": "issue-3", "issue": 3, "path": "docs/3/a.md"},
            {"fragment": "issue-3", "issue": 3, "path": "docs/3/z.md", "kind": "k"},
            {"fragment": "issue-10", "issue": 10, "path": "docs/10/a.md"},
            {"fragment": "issue-10", "issue": 10, "path": "docs/10/b.md", "kind": "k"}
        ])
    );
    assert!(repo.exists("main:catalogue/index.md")?);

    // Already current: no commit, exit 0, says so.
    let again = repo.consolidate()?;
    assert_eq!(again["changed"], false);
    assert_eq!(again["commit"], Value::Null);
    assert_eq!(str_field(&again, "tip")?, tip);
    assert_eq!(repo.rev("main")?, tip);

    repo.catalogue(&["check"])?.expect(0)?;
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"])?,
        ""
    );
    repo.fsck()
}

#[test]
fn the_same_fragments_give_byte_identical_outputs_whatever_order_they_arrived_in() -> Result<()> {
    let origin = Repo::new()?;
    let all_at_once = origin.clone_bare()?;
    let one_by_one = origin.clone_bare()?;
    let record = |repo: &Repo, issue: &str| -> Result<Value> {
        let path = format!("docs/{issue}/out.md");
        let title = format!("Output of #{issue}");
        repo.record_direct_with(issue, &path, &["--title", &title])
    };
    for issue in ["1", "2", "10"] {
        record(&all_at_once, issue)?;
    }
    all_at_once.consolidate()?;
    for issue in ["10", "1", "2"] {
        record(&one_by_one, issue)?;
        one_by_one.consolidate()?;
    }
    for file in ["manifest.json", "index.md"] {
        let spec = format!("main:catalogue/{file}");
        assert_eq!(
            all_at_once.rev(&spec)?,
            one_by_one.rev(&spec)?,
            "{file} differs:\n{}\n---\n{}",
            all_at_once.text(&spec)?,
            one_by_one.text(&spec)?
        );
    }
    Ok(())
}

#[test]
fn the_manifest_keeps_every_field_verbatim_and_shows_fragments_without_artifacts() -> Result<()> {
    let repo = Repo::new_bare()?;
    let full = fixture("fragments/full.json");
    let empty = fixture("fragments/no-artifacts.json");
    for (key, file) in [("full-123", &full), ("empty-run", &empty)] {
        let file = file.to_str().context("fixture path is UTF-8")?;
        repo.catalogue_ok(&["record", "--direct", "--key", key, "--fragment", file])?;
    }
    let run = repo.catalogue_stdin(
        &[
            "--json",
            "record",
            "--direct",
            "--key",
            "jira-abc-12",
            "--fragment",
            "-",
        ],
        br#"{"issue": "ABC-12", "artifacts": [{"path": "jira/abc-12.md"}]}"#,
    )?;
    run.expect(0)?;
    repo.consolidate()?;

    let text = repo.text("main:catalogue/manifest.json")?;
    assert_full_fixture_numbers_verbatim(&text);
    let manifest: Value = serde_json::from_str(&text)?;
    assert_eq!(
        manifest["fragments"]["empty-run"],
        json!({"run": {"id": 77}})
    );
    assert_eq!(
        manifest["fragments"]["jira-abc-12"],
        json!({"issue": "ABC-12"})
    );
    let fixture_json: Value = serde_json::from_slice(&std::fs::read(&full)?)?;
    assert_eq!(
        manifest["fragments"]["full-123"],
        json!({"issue": 123, "run": fixture_json["run"]})
    );
    let mut summary = fixture_json["artifacts"][0].clone();
    summary["fragment"] = json!("full-123");
    summary["issue"] = json!(123);
    let mut data = fixture_json["artifacts"][1].clone();
    data["fragment"] = json!("full-123");
    data["issue"] = json!(123);
    assert_eq!(
        manifest["artifacts"],
        // empty-run has no artifacts; full-123 < jira-abc-12; data.csv < summary.md.
        json!([data, summary, {"fragment": "jira-abc-12", "issue": "ABC-12", "path": "jira/abc-12.md"}])
    );
    Ok(())
}

#[test]
fn the_manifest_has_one_compact_artifact_per_line_and_a_trailing_newline() -> Result<()> {
    let repo = Repo::new_bare()?;
    for issue in ["1", "2"] {
        let a = format!("docs/{issue}/a.md");
        let b = format!("docs/{issue}/b.md");
        repo.record_direct_with(
            issue,
            &a,
            &["--kind", "x", "--artifact", &b, "--title", "B"],
        )?;
    }
    repo.consolidate()?;
    let text = repo.text("main:catalogue/manifest.json")?;
    assert!(text.ends_with("}\n"), "no trailing newline: {text:?}");
    let manifest: Value = serde_json::from_str(&text)?;
    let artifacts = manifest["artifacts"].as_array().context("artifacts")?;
    let lines: Vec<Value> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{\""))
        .map(|l| serde_json::from_str(l.trim_end_matches(',')))
        .collect::<Result<_, _>>()
        .with_context(|| format!("an artifact line is not compact JSON:\n{text}"))?;
    assert_eq!(
        &lines, artifacts,
        "one line per artifact, in order:\n{text}"
    );
    assert_eq!(lines.len(), 4);
    // The rest is pretty-printed: more lines than artifacts.
    assert!(text.lines().count() > 4 + 2, "{text}");
    Ok(())
}

#[test]
fn with_no_fragments_folder_the_manifest_is_empty_and_its_source_is_the_empty_tree() -> Result<()> {
    let repo = Repo::new_bare()?;
    let before = repo.rev("main")?;
    let out = repo.consolidate()?;
    assert_eq!(out["changed"], true);
    assert_eq!(out["source"], EMPTY_TREE);
    assert_eq!(repo.parents("main")?, vec![before]);
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(manifest["source"], EMPTY_TREE);
    assert_eq!(manifest["fragments"], json!({}));
    assert_eq!(manifest["artifacts"], json!([]));
    assert!(repo.exists("main:catalogue/index.md")?);
    let again = repo.consolidate()?;
    assert_eq!(again["changed"], false);
    repo.fsck()
}

#[test]
fn dry_run_reports_the_change_and_writes_nothing() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    let tip = repo.rev("main")?;
    let before = repo.snapshot()?;
    let out = repo.catalogue_ok(&["consolidate", "--dry-run"])?;
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["changed"], true);
    assert_eq!(str_field(&out, "tip")?, tip);
    assert_eq!(out["artifacts"], 1);
    assert_eq!(repo.snapshot()?, before, "a dry run wrote something");
    assert!(!repo.exists("main:catalogue/manifest.json")?);
    Ok(())
}

#[test]
fn a_new_fragment_after_consolidation_is_picked_up_by_the_next_one() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(1, "a.md")])?;
    repo.record_direct(2, "b.md")?;
    let tip = repo.rev("main")?;
    let out = repo.catalogue_ok(&["consolidate", "--message", "Refresh the catalogue"])?;
    assert_eq!(out["changed"], true);
    assert_eq!(repo.parents("main")?, vec![tip]);
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "main"])?.trim(),
        "Refresh the catalogue"
    );
    let manifest = repo.json("main:catalogue/manifest.json")?;
    assert_eq!(artifact_paths(&manifest)?, ["a.md", "b.md"]);
    assert_eq!(
        str_field(&manifest, "source")?,
        repo.rev("main:catalogue/fragments")?
    );
    Ok(())
}

#[test]
fn the_manifest_blob_is_written_at_the_level_core_loose_compression_names() -> Result<()> {
    // One fragment of 300 artifacts: a manifest of a few dozen KiB of
    // repetitive lines, which zlib at level 9 shrinks several times over and
    // level 0 stores as it is (plus framing).
    let repo = Repo::new_bare()?;
    let paths: Vec<String> = (0..300).map(|i| format!("docs/report-{i:03}.md")).collect();
    let mut args = vec!["record", "--direct", "--issue", "7"];
    for path in &paths {
        args.extend(["--artifact", path.as_str()]);
    }
    repo.catalogue_ok(&args)?;
    let recorded = repo.rev("main")?;
    let mut written = Vec::new();
    for level in ["0", "9"] {
        repo.git(&["update-ref", "refs/heads/main", &recorded])?;
        repo.git(&["config", "core.looseCompression", level])?;
        repo.consolidate()?;
        let id = repo.rev("main:catalogue/manifest.json")?;
        let size: u64 = repo.git(&["cat-file", "-s", &id])?.trim().parse()?;
        let file = repo.loose_object(&id);
        let on_disk = std::fs::metadata(&file)
            .with_context(|| format!("level {level}: the manifest {id} is not a loose object"))?
            .len();
        repo.fsck()?;
        written.push((id, size, on_disk));
        // Gone again, so that the next level has to write it anew.
        std::fs::remove_file(&file)?;
    }
    let [(id0, size, stored), (id9, _, squeezed)] = &written[..] else {
        unreachable!("two levels")
    };
    let (size, stored, squeezed) = (*size, *stored, *squeezed);
    assert_eq!(
        id0, id9,
        "the level changes the bytes on disk, never the object"
    );
    assert!(
        size > 15_000,
        "a manifest of 300 artifacts, got {size} bytes"
    );
    assert!(
        stored >= size,
        "at core.looseCompression=0 the {size}-byte manifest is stored, not compressed: {stored} bytes on disk"
    );
    assert!(
        squeezed * 4 < size,
        "at core.looseCompression=9 the {size}-byte manifest compresses: {squeezed} bytes on disk"
    );
    Ok(())
}
