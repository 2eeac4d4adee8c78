//! `verify --history` and `repair` (README, Commands) on histories that the old racing
//! design left behind.
//!
//! The histories are built by the scripts in `fixtures/history/` with the plain
//! git CLI, every key commit tagged, so expectations name commits by tag. Each
//! fixture states exactly which artifact paths are recovered, deleted and left
//! out, present at the tip or migrated, and which commit is blamed for each;
//! what `repair` wrote is read back with the git CLI.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Map, Value};

use crate::support::{artifact_paths, known_kind, str_field, Content, Repo, Run};

/// What one artifact path of a fixture must be classified as.
struct Expect {
    path: &'static str,
    /// The issue the entry carries (a number), if any.
    issue: Option<u64>,
    class: &'static str,
    /// Tag of the commit that last had the entry (not checked for `present`).
    last_seen: Option<&'static str>,
    /// Tag of the commit blamed for the drop.
    dropped_by: Option<&'static str>,
    /// Recovery fragment key; `{tag}` stands for the first 7 hex of that tag.
    key: Option<&'static str>,
}

const fn e(
    path: &'static str,
    issue: Option<u64>,
    class: &'static str,
    last_seen: Option<&'static str>,
    dropped_by: Option<&'static str>,
    key: Option<&'static str>,
) -> Expect {
    Expect {
        path,
        issue,
        class,
        last_seen,
        dropped_by,
        key,
    }
}

/// A fixture's expectations.
struct Fixture {
    script: &'static str,
    entries: &'static [Expect],
    /// Tags of the commits whose manifest is not valid JSON.
    invalid: &'static [&'static str],
}

const MERGE_ONE_SIDE: Fixture = Fixture {
    script: "merge-one-side",
    entries: &[
        e(
            "docs/a.md",
            Some(1),
            "migrated",
            Some("tip"),
            None,
            Some("issue-1"),
        ),
        e(
            "docs/b.md",
            Some(2),
            "migrated",
            Some("tip"),
            None,
            Some("issue-2"),
        ),
        e(
            "docs/c-notes.md",
            None,
            "lost_in_merge",
            Some("feature-add"),
            Some("merge"),
            Some("recovered-{merge}"),
        ),
        e(
            "docs/c.md",
            Some(3),
            "lost_in_merge",
            Some("feature-add"),
            Some("merge"),
            Some("issue-3"),
        ),
        e(
            "docs/d.md",
            Some(4),
            "migrated",
            Some("tip"),
            None,
            Some("issue-4"),
        ),
        e(
            "docs/e.md",
            Some(5),
            "deleted",
            Some("main-add"),
            Some("main-delete"),
            Some("issue-5"),
        ),
    ],
    invalid: &[],
};

const STALE_REWRITE: Fixture = Fixture {
    script: "stale-rewrite",
    entries: &[
        e(
            "docs/a.md",
            Some(10),
            "migrated",
            Some("tip"),
            None,
            Some("issue-10"),
        ),
        e(
            "docs/b.md",
            Some(11),
            "migrated",
            Some("tip"),
            None,
            Some("issue-11"),
        ),
        e(
            "docs/c.md",
            Some(12),
            "overwritten",
            Some("c-edited"),
            Some("stale"),
            Some("issue-12"),
        ),
        // The stale writer's top-level "issue": 13 names no entry.
        e(
            "docs/x.md",
            None,
            "migrated",
            Some("tip"),
            None,
            Some("recovered-{tip}"),
        ),
        e(
            "docs/y.md",
            Some(14),
            "migrated",
            Some("tip"),
            None,
            Some("issue-14"),
        ),
    ],
    invalid: &[],
};

const DELETION: Fixture = Fixture {
    script: "deletion",
    entries: &[
        e(
            "docs/a.md",
            Some(20),
            "migrated",
            Some("tip"),
            None,
            Some("issue-20"),
        ),
        e(
            "docs/b.md",
            Some(21),
            "deleted",
            Some("add"),
            Some("delete"),
            Some("issue-21"),
        ),
        e(
            "docs/c.md",
            None,
            "deleted",
            Some("add-more"),
            Some("delete-no-issue"),
            Some("recovered-{delete-no-issue}"),
        ),
        e(
            "docs/d.md",
            Some(22),
            "migrated",
            Some("tip"),
            None,
            Some("issue-22"),
        ),
        // Deleted, then recorded again: at the tip.
        e(
            "docs/f.md",
            Some(24),
            "migrated",
            Some("tip"),
            None,
            Some("issue-24"),
        ),
    ],
    invalid: &[],
};

const CONFLICT_MARKERS: Fixture = Fixture {
    script: "conflict-markers",
    entries: &[
        e(
            "docs/a.md",
            Some(30),
            "migrated",
            Some("tip"),
            None,
            Some("issue-30"),
        ),
        e(
            "docs/f.md",
            Some(33),
            "migrated",
            Some("tip"),
            None,
            Some("issue-33"),
        ),
        e(
            "docs/g.md",
            None,
            "lost_in_merge",
            Some("feature-add"),
            Some("fix"),
            Some("recovered-{fix}"),
        ),
        // In the conflict text, but lost by the stale rewrite before the merge.
        e(
            "docs/l.md",
            Some(31),
            "overwritten",
            Some("base"),
            Some("stale-rewrite"),
            Some("issue-31"),
        ),
        e(
            "docs/m.md",
            Some(32),
            "migrated",
            Some("tip"),
            None,
            Some("issue-32"),
        ),
        e(
            "docs/t.md",
            Some(35),
            "migrated",
            Some("tip"),
            None,
            Some("issue-35"),
        ),
    ],
    invalid: &["conflict-merge"],
};

const LEGACY_ONLY: Fixture = Fixture {
    script: "legacy-only",
    entries: &[
        e(
            "docs/a.md",
            Some(40),
            "migrated",
            Some("tip"),
            None,
            Some("issue-40"),
        ),
        e(
            "docs/b.md",
            None,
            "migrated",
            Some("tip"),
            None,
            Some("recovered-{tip}"),
        ),
        // Its issue is the string "41".
        e(
            "docs/c.md",
            None,
            "migrated",
            Some("tip"),
            None,
            Some("issue-41"),
        ),
        e(
            "docs/d.md",
            None,
            "migrated",
            Some("tip"),
            None,
            Some("recovered-{tip}"),
        ),
        e(
            "docs/e.md",
            Some(40),
            "migrated",
            Some("tip"),
            None,
            Some("issue-40"),
        ),
    ],
    invalid: &[],
};

const ALL_DAMAGE: Fixture = Fixture {
    script: "all-damage",
    entries: &[
        e(
            "docs/d1.md",
            Some(62),
            "deleted",
            Some("add-m1"),
            Some("delete"),
            Some("issue-62"),
        ),
        e(
            "docs/m1.md",
            Some(64),
            "overwritten",
            Some("record"),
            Some("consolidate"),
            Some("issue-64"),
        ),
        e(
            "docs/m2.md",
            None,
            "overwritten",
            Some("record"),
            Some("consolidate"),
            Some("recovered-{consolidate}"),
        ),
        e("docs/n1.md", Some(61), "present", None, None, None),
        e(
            "docs/o1.md",
            Some(66),
            "migrated",
            Some("tip"),
            None,
            Some("issue-66"),
        ),
        e("docs/p1.md", Some(60), "present", None, None, None),
        // issue-61 is a fragment at the tip already.
        e(
            "docs/p2.md",
            Some(61),
            "overwritten",
            Some("delete"),
            Some("stale"),
            Some("issue-61-recovered"),
        ),
        e(
            "docs/s1.md",
            Some(63),
            "lost_in_merge",
            Some("side-add"),
            Some("merge"),
            Some("issue-63"),
        ),
    ],
    invalid: &[],
};

const ALL: [&Fixture; 6] = [
    &MERGE_ONE_SIDE,
    &STALE_REWRITE,
    &DELETION,
    &CONFLICT_MARKERS,
    &LEGACY_ONLY,
    &ALL_DAMAGE,
];

/// Build a fixture's history with its script.
fn build(fx: &Fixture) -> Result<Repo> {
    Repo::history_fixture(fx.script)
}

/// Run the tool; its stderr must never carry `\r` progress (not a terminal).
fn quiet(repo: &Repo, args: &[&str]) -> Result<Run> {
    let out = repo.catalogue(args)?;
    ensure!(
        !out.stderr.contains('\r'),
        "progress on a stderr that is not a terminal: {args:?}\n{}",
        out.stderr
    );
    Ok(out)
}

/// `--json` run with exit `code`; the object.
fn json_run(repo: &Repo, args: &[&str], code: i32) -> Result<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = quiet(repo, &all)?;
    out.expect(code)?;
    out.json()
}

/// A `{tag}` template resolved: `recovered-{merge}` -> `recovered-1edd6ef`.
fn key_of(repo: &Repo, template: &str) -> Result<String> {
    match template.split_once('{') {
        Some((head, rest)) => {
            let tag = rest.strip_suffix('}').context("template ends in }")?;
            Ok(format!("{head}{}", &repo.rev(tag)?[..7]))
        }
        None => Ok(template.to_owned()),
    }
}

fn tag(repo: &Repo, tag: Option<&str>) -> Result<Value> {
    Ok(match tag {
        Some(t) => Value::String(repo.rev(&format!("{t}^{{commit}}"))?),
        None => Value::Null,
    })
}

/// Whether a class is recovered by `repair`.
fn recovered(class: &str, include_deleted: bool) -> bool {
    matches!(class, "migrated" | "lost_in_merge" | "overwritten")
        || (include_deleted && class == "deleted")
}

/// The number of distinct manifest blobs reachable from `main`, by git.
fn distinct_manifest_blobs(repo: &Repo) -> Result<usize> {
    let mut blobs = BTreeSet::new();
    for commit in repo.git(&["rev-list", "main"])?.lines() {
        let spec = format!("{commit}:catalogue/manifest.json");
        if repo.exists(&spec)? {
            blobs.insert(repo.rev(&spec)?);
        }
    }
    Ok(blobs.len())
}

/// A legacy or version-1 manifest entry by path, read with git.
fn entry_at(repo: &Repo, commit: &str, path: &str) -> Result<Map<String, Value>> {
    let manifest = repo.json(&format!("{commit}:catalogue/manifest.json"))?;
    let list = match &manifest {
        Value::Array(list) => list,
        other => other["artifacts"]
            .as_array()
            .context("manifest without artifacts")?,
    };
    list.iter()
        .find(|a| a["path"] == path)
        .and_then(Value::as_object)
        .cloned()
        .with_context(|| format!("{path} not in {commit}'s manifest"))
}

/// `repair --dry-run --json`: the exact classification, blame and fragments.
fn assert_dry_run(repo: &Repo, fx: &Fixture, include_deleted: bool) -> Result<()> {
    let before = repo.snapshot()?;
    let mut args = vec!["repair", "--dry-run"];
    if include_deleted {
        args.push("--include-deleted");
    }
    let out = json_run(repo, &args, 0)?;
    ensure!(repo.snapshot()? == before, "--dry-run wrote: {out}");
    let ctx = format!("{} ({out})", fx.script);
    assert_eq!(out["command"], "repair", "{ctx}");
    assert_eq!(out["dry_run"], true, "{ctx}");
    assert_eq!(out["commit"], Value::Null, "{ctx}");
    assert_eq!(out["consolidated"], Value::Null, "{ctx}");
    assert_eq!(
        out["versions"],
        json!(distinct_manifest_blobs(repo)?),
        "{ctx}"
    );

    let invalid = out["invalid_versions"]
        .as_array()
        .context("invalid_versions")?;
    let mut want_invalid = Vec::new();
    for t in fx.invalid {
        let commit = repo.rev(t)?;
        let blob = repo.rev(&format!("{commit}:catalogue/manifest.json"))?;
        want_invalid.push((commit, blob));
    }
    let got_invalid: Vec<(String, String)> = invalid
        .iter()
        .map(|v| {
            ensure!(!str_field(v, "message")?.is_empty(), "empty message: {v}");
            Ok((
                str_field(v, "commit")?.to_owned(),
                str_field(v, "blob")?.to_owned(),
            ))
        })
        .collect::<Result<_>>()?;
    assert_eq!(got_invalid, want_invalid, "invalid_versions of {ctx}");

    let entries = out["entries"].as_array().context("entries")?;
    let got_paths: Vec<&str> = entries.iter().filter_map(|v| v["path"].as_str()).collect();
    let want_paths: Vec<&str> = fx.entries.iter().map(|x| x.path).collect();
    assert_eq!(
        got_paths, want_paths,
        "every path ever present, sorted: {ctx}"
    );
    for (got, want) in entries.iter().zip(fx.entries) {
        let what = format!("{} in {}: {got}", want.path, fx.script);
        assert_eq!(got["class"], want.class, "class of {what}");
        assert_eq!(
            got["dropped_by"],
            tag(repo, want.dropped_by)?,
            "dropped_by of {what}"
        );
        if want.class != "present" {
            assert_eq!(
                got["last_seen"],
                tag(repo, want.last_seen)?,
                "last_seen of {what}"
            );
        }
        match want.issue {
            Some(n) => assert_eq!(got["issue"], json!(n), "issue of {what}"),
            None if want.key == Some("issue-41") => {
                ensure!(
                    got["issue"] == json!(41) || got["issue"] == json!("41"),
                    "issue of {what}"
                )
            }
            None => assert_eq!(got["issue"], Value::Null, "issue of {what}"),
        }
    }

    let want_recovered: Vec<&str> = fx
        .entries
        .iter()
        .filter(|x| recovered(x.class, include_deleted))
        .map(|x| x.path)
        .collect();
    assert_eq!(
        out["recovered"],
        json!(want_recovered),
        "recovered of {ctx}"
    );

    let got_fragments: BTreeMap<String, u64> = out["fragments"]
        .as_array()
        .context("fragments")?
        .iter()
        .map(|f| {
            Ok((
                str_field(f, "key")?.to_owned(),
                f["artifacts"].as_u64().context("artifacts count")?,
            ))
        })
        .collect::<Result<_>>()?;
    assert_eq!(
        got_fragments,
        want_fragments(repo, fx, include_deleted)?
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect(),
        "fragments of {ctx}"
    );

    // Human output: one `<path>\t<class>\t<dropped_by>` line per recovered entry.
    let human = quiet(repo, &args)?;
    human.expect(0)?;
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), want_recovered.len(), "{human:?}");
    for (line, path) in lines.iter().zip(&want_recovered) {
        let x = fx
            .entries
            .iter()
            .find(|x| x.path == *path)
            .context("known")?;
        let mut fields = line.split('\t');
        assert_eq!(fields.next(), Some(*path), "{line}");
        assert_eq!(fields.next(), Some(x.class), "{line}");
        if let Value::String(blamed) = tag(repo, x.dropped_by)? {
            assert_eq!(fields.next(), Some(blamed.as_str()), "{line}");
        }
    }
    ensure!(repo.snapshot()? == before, "--dry-run wrote");
    Ok(())
}

/// Recovery fragment key -> the paths it must hold.
fn want_fragments(
    repo: &Repo,
    fx: &Fixture,
    include_deleted: bool,
) -> Result<BTreeMap<String, Vec<&'static str>>> {
    let mut keys: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for x in fx
        .entries
        .iter()
        .filter(|x| recovered(x.class, include_deleted))
    {
        let key = key_of(repo, x.key.context("a recovered entry has a key")?)?;
        keys.entry(key).or_default().push(x.path);
    }
    Ok(keys)
}

/// Real `repair` (in a bare clone): one recovery commit plus its
/// consolidation, provenance on every recovered artifact, every entry ever
/// present except the deliberate deletions (unless included), `git fsck`
/// clean, and a second run that finds and writes nothing.
fn assert_repair(origin: &Repo, fx: &Fixture, include_deleted: bool) -> Result<()> {
    let repo = origin.clone_bare()?;
    let old_tip = repo.rev("main")?;
    let mut args = vec!["repair"];
    if include_deleted {
        args.push("--include-deleted");
    }
    let out = json_run(&repo, &args, 0)?;
    let ctx = format!("{} ({out})", fx.script);
    assert_eq!(out["dry_run"], false, "{ctx}");
    let commit = str_field(&out, "commit")?.to_owned();
    let consolidated = str_field(&out, "consolidated")?.to_owned();
    assert_eq!(repo.rev("main")?, consolidated, "{ctx}");
    assert_eq!(
        repo.parents(&consolidated)?,
        std::slice::from_ref(&commit),
        "{ctx}"
    );
    assert_eq!(
        repo.parents(&commit)?,
        std::slice::from_ref(&old_tip),
        "{ctx}"
    );

    let fragments = want_fragments(&repo, fx, include_deleted)?;
    let written: BTreeSet<String> = repo
        .git(&[
            "diff-tree",
            "-r",
            "--name-only",
            "--no-commit-id",
            &old_tip,
            &commit,
        ])?
        .lines()
        .map(str::to_owned)
        .collect();
    let want_written: BTreeSet<String> = fragments
        .keys()
        .map(|k| format!("catalogue/fragments/{k}.json"))
        .collect();
    assert_eq!(
        written, want_written,
        "the recovery commit adds only fragments: {ctx}"
    );

    let by_path: BTreeMap<&str, &Expect> = fx.entries.iter().map(|x| (x.path, x)).collect();
    for (key, paths) in &fragments {
        let frag = repo.json(&format!("{commit}:catalogue/fragments/{key}.json"))?;
        assert_eq!(frag["recovered"], true, "{key}: {frag}");
        let issue = key
            .strip_prefix("issue-")
            .map(|n| n.trim_end_matches("-recovered").parse::<u64>())
            .transpose()?;
        match issue {
            Some(n) => assert_eq!(frag["issue"], json!(n), "{key}: {frag}"),
            None => ensure!(frag["issue"].is_null(), "{key} has an issue: {frag}"),
        }
        let mut want = Vec::new();
        for path in paths {
            let x = by_path[path];
            let seen = tag(&repo, x.last_seen)?;
            let mut fields = entry_at(&repo, seen.as_str().context("last_seen")?, path)?;
            fields.remove("fragment");
            fields.remove("issue");
            fields.insert(
                "provenance".into(),
                json!({"class": x.class, "last_seen": seen, "dropped_by": tag(&repo, x.dropped_by)?}),
            );
            want.push(Value::Object(fields));
        }
        let mut got = frag["artifacts"].as_array().context("artifacts")?.clone();
        got.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        assert_eq!(got, want, "artifacts of recovery fragment {key}");
    }

    // After repair and its consolidation: every entry ever present, except
    // the deliberate deletions, with provenance on the recovered ones.
    quiet(&repo, &["check"])?.expect(0)?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let paths: BTreeSet<String> = artifact_paths(&manifest)?.into_iter().collect();
    let want_paths: BTreeSet<String> = fx
        .entries
        .iter()
        .filter(|x| include_deleted || x.class != "deleted")
        .map(|x| x.path.to_owned())
        .collect();
    assert_eq!(paths, want_paths, "manifest after repair: {ctx}");
    for artifact in manifest["artifacts"].as_array().context("artifacts")? {
        let x = by_path[str_field(artifact, "path")?];
        if recovered(x.class, include_deleted) {
            assert_eq!(artifact["provenance"]["class"], x.class, "{artifact}");
            assert_eq!(
                artifact["provenance"]["dropped_by"],
                tag(&repo, x.dropped_by)?,
                "{artifact}"
            );
        } else {
            ensure!(artifact.get("provenance").is_none(), "{artifact}");
        }
    }
    repo.fsck()?;
    repo.clone_bare()?.fsck()?;

    // A second repair finds nothing and writes nothing.
    let before = repo.snapshot()?;
    let again = json_run(&repo, &args, 0)?;
    assert_eq!(again["recovered"], json!([]), "{again}");
    assert_eq!(again["commit"], Value::Null, "{again}");
    assert_eq!(again["consolidated"], Value::Null, "{again}");
    for entry in again["entries"].as_array().context("entries")? {
        let class = str_field(entry, "class")?;
        ensure!(
            class == "present" || (!include_deleted && class == "deleted"),
            "after repair, {entry}"
        );
    }
    ensure!(repo.snapshot()? == before, "a second repair wrote: {again}");
    Ok(())
}

fn dry_run_and_repair(fx: &Fixture) -> Result<()> {
    let repo = build(fx)?;
    assert_dry_run(&repo, fx, false)?;
    let bare = repo.clone_bare()?;
    assert_dry_run(&bare, fx, false)?;
    assert_repair(&repo, fx, false)
}

#[test]
fn a_merge_that_kept_main_s_manifest_loses_the_branch_s_new_entries_and_repair_recovers_them(
) -> Result<()> {
    dry_run_and_repair(&MERGE_ONE_SIDE)
}

#[test]
fn a_rewrite_from_a_stale_manifest_overwrote_the_entry_before_it_and_repair_recovers_its_last_version(
) -> Result<()> {
    dry_run_and_repair(&STALE_REWRITE)
}

#[test]
fn entries_removed_by_a_commit_that_only_removes_stay_deleted_unless_include_deleted_is_given(
) -> Result<()> {
    let repo = build(&DELETION)?;
    assert_dry_run(&repo, &DELETION, false)?;
    assert_dry_run(&repo, &DELETION, true)?;
    assert_repair(&repo, &DELETION, false)?;
    assert_repair(&repo, &DELETION, true)
}

#[test]
fn conflict_markers_are_reported_and_bridged_so_an_earlier_loss_is_not_blamed_on_the_fix(
) -> Result<()> {
    dry_run_and_repair(&CONFLICT_MARKERS)
}

#[test]
fn a_pure_legacy_repository_is_migrated_to_fragments_without_losing_an_entry() -> Result<()> {
    let repo = build(&LEGACY_ONLY)?;
    ensure!(!repo.exists("main:catalogue/fragments")?);
    dry_run_and_repair(&LEGACY_ONLY)
}

#[test]
fn a_history_with_every_kind_of_damage_and_fragments_at_the_tip_is_classified_exactly() -> Result<()>
{
    let repo = build(&ALL_DAMAGE)?;
    assert_dry_run(&repo, &ALL_DAMAGE, false)?;
    assert_dry_run(&repo, &ALL_DAMAGE, true)?;
    assert_repair(&repo, &ALL_DAMAGE, false)?;
    assert_repair(&repo, &ALL_DAMAGE, true)
}

#[test]
fn the_fixture_scripts_build_the_same_commits_every_time() -> Result<()> {
    for fx in ALL {
        let a = build(fx)?;
        let b = build(fx)?;
        let refs = |r: &Repo| r.git(&["for-each-ref", "--format=%(refname) %(objectname)"]);
        assert_eq!(refs(&a)?, refs(&b)?, "{}", fx.script);
    }
    Ok(())
}

#[test]
fn repair_push_from_a_bare_clone_puts_the_recovery_and_consolidation_on_a_bare_origin() -> Result<()>
{
    let built = build(&MERGE_ONE_SIDE)?;
    let origin = built.clone_bare()?;
    let before = origin.rev("main")?;
    let clone = origin.clone_bare()?;
    let out = json_run(&clone, &["repair", "--push", "origin"], 0)?;
    let commit = str_field(&out, "commit")?.to_owned();
    let consolidated = str_field(&out, "consolidated")?.to_owned();
    assert_eq!(origin.rev("main")?, consolidated, "{out}");
    assert_eq!(
        origin.parents(&consolidated)?,
        std::slice::from_ref(&commit)
    );
    assert_eq!(origin.parents(&commit)?, [before]);
    let fresh = origin.clone_bare()?;
    fresh.fsck()?;
    quiet(&fresh, &["check"])?.expect(0)?;
    let keys = fresh.tree_names("main:catalogue/fragments")?;
    let want: BTreeSet<String> = want_fragments(&fresh, &MERGE_ONE_SIDE, false)?
        .into_keys()
        .map(|k| format!("{k}.json"))
        .collect();
    assert_eq!(keys, want);
    // Nothing left to do, from the origin's point of view.
    let again = json_run(&fresh, &["repair", "--dry-run"], 0)?;
    assert_eq!(again["recovered"], json!([]), "{again}");
    Ok(())
}

/// A bare repository whose every first-parent commit was made by the tool's
/// flow: each issue recorded and consolidated on a work branch, then merged
/// into `main` (`--no-ff`, as a pull request).
fn history_written_by_git_catalogue() -> Result<Repo> {
    let repo = Repo::new_bare()?;
    for issue in ["1", "2", "3"] {
        let main = repo.rev("main")?;
        repo.git(&["branch", "-f", "work", "main"])?;
        let path = format!("docs/{issue}.md");
        repo.catalogue_ok(&[
            "record",
            "--direct",
            "--branch",
            "work",
            "--issue",
            issue,
            "--artifact",
            &path,
        ])?;
        repo.catalogue_ok(&["consolidate", "--branch", "work"])?;
        let tree = repo.rev("work^{tree}")?;
        let msg = format!("Merge issue {issue}");
        let merge = repo.git(&["commit-tree", &tree, "-p", &main, "-p", "work", "-m", &msg])?;
        repo.git(&["update-ref", "refs/heads/main", merge.trim(), &main])?;
    }
    Ok(repo)
}

#[test]
fn verify_history_passes_on_a_history_written_by_git_catalogue_and_names_a_hand_edit() -> Result<()>
{
    let repo = history_written_by_git_catalogue()?;
    let out = json_run(&repo, &["verify", "--history"], 0)?;
    assert_eq!(out["command"], "verify", "{out}");
    assert_eq!(out["problems"], json!([]), "{out}");
    // Three merges checked; the initial commit has no catalogue folder.
    assert_eq!(out["checked"], 3, "{out}");
    assert_eq!(out["skipped"], 1, "{out}");
    // A `--depth 1` clone sees the tip alone.
    let shallow = repo.clone_shallow_bare()?;
    let out = json_run(&shallow, &["verify", "--history"], 0)?;
    assert_eq!(out["checked"], 1, "{out}");

    // Commits that leave the catalogue folder alone are skipped by tree id.
    for n in 0..3 {
        let readme = format!("README-{n}.md");
        repo.commit_by_hand(&[(&readme, crate::support::Content::File(b"x\n"))], "Docs")?;
    }
    let out = json_run(&repo, &["verify", "--history"], 0)?;
    assert_eq!(out["checked"], 3, "{out}");

    // An edit by hand of manifest.json, without fragments.
    let mut manifest = repo.json("main:catalogue/manifest.json")?;
    manifest["artifacts"]
        .as_array_mut()
        .context("artifacts")?
        .push(json!({"path": "docs/by-hand.md"}));
    let text = serde_json::to_vec_pretty(&manifest)?;
    let hand = repo.commit_by_hand(
        &[(
            "catalogue/manifest.json",
            crate::support::Content::File(&text),
        )],
        "Edit the manifest by hand",
    )?;
    let out = json_run(&repo, &["verify", "--history"], 1)?;
    let problems = out["problems"].as_array().context("problems")?;
    let named: BTreeSet<&str> = problems
        .iter()
        .filter_map(|p| p["commit"].as_str())
        .collect();
    assert_eq!(named, BTreeSet::from([hand.as_str()]), "{out}");
    assert_eq!(problems[0]["kind"], "stale", "{out}");
    assert_eq!(out["checked"], 4, "{out}");

    let human = quiet(&repo, &["verify", "--history"])?;
    human.expect(1)?;
    ensure!(
        human.stdout.lines().count() == problems.len()
            && human
                .stdout
                .lines()
                .all(|l| l.starts_with(&format!("{hand}\tstale\t"))),
        "one `<commit>\\t<kind>\\t<message>` line per problem: {human:?}"
    );
    Ok(())
}

#[test]
fn verify_history_stops_at_the_shallow_boundary_and_follows_only_first_parents() -> Result<()> {
    let repo = build(&CONFLICT_MARKERS)?;
    let out = json_run(&repo, &["verify", "--history"], 1)?;
    let problems = out["problems"].as_array().context("problems")?;
    let named: BTreeSet<String> = problems
        .iter()
        .filter_map(|p| p["commit"].as_str().map(str::to_owned))
        .collect();
    let first_parent: BTreeSet<String> = repo
        .git(&["rev-list", "--first-parent", "main"])?
        .lines()
        .map(str::to_owned)
        .collect();
    ensure!(named.is_subset(&first_parent), "only first parents: {out}");
    ensure!(!named.contains(&repo.rev("feature-add")?), "{out}");
    ensure!(
        named.contains(&repo.rev("tip")?),
        "the legacy tip is stale: {out}"
    );
    let conflict = repo.rev("conflict-merge")?;
    ensure!(
        problems
            .iter()
            .any(|p| p["commit"] == conflict.as_str() && p["kind"] == "invalid_manifest"),
        "the conflict-marker commit is an invalid manifest: {out}"
    );

    let shallow = repo.clone_shallow_bare()?;
    let out = json_run(&shallow, &["verify", "--history"], 1)?;
    assert_eq!(out["checked"], 1, "{out}");
    let tip = repo.rev("tip")?;
    for p in out["problems"].as_array().context("problems")? {
        assert_eq!(p["commit"], tip.as_str(), "{out}");
    }
    Ok(())
}

#[test]
fn verify_history_accepts_record_commits_awaiting_consolidation_but_checks_their_fragments(
) -> Result<()> {
    // The everyday linear history: record --direct, consolidate, record
    // --direct, consolidate. A record commit leaves the manifest for the next
    // consolidation; that is the design, not damage.
    let repo = Repo::new_bare()?;
    for issue in ["1", "2"] {
        let path = format!("docs/{issue}.md");
        repo.record_direct(issue, &path)?;
        repo.consolidate()?;
    }
    repo.record_direct(3, "docs/3.md")?;
    let out = json_run(&repo, &["verify", "--history"], 0)?;
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(out["checked"], 5, "{out}");

    // A record-like commit whose fragment is invalid is still reported.
    let bad = repo.commit_by_hand(
        &[(
            "catalogue/fragments/broken.json",
            crate::support::Content::File(b"{\"artifacts\": [{\"path\": \"../x\"}]}"),
        )],
        "A broken fragment",
    )?;
    let out = json_run(&repo, &["verify", "--history"], 1)?;
    let problems = out["problems"].as_array().context("problems")?;
    assert_eq!(problems.len(), 1, "{out}");
    assert_eq!(problems[0]["commit"], bad.as_str(), "{out}");
    assert_eq!(problems[0]["kind"], "invalid_fragment", "{out}");
    Ok(())
}

#[test]
fn repair_in_a_shallow_clone_reads_only_the_history_it_has() -> Result<()> {
    let full = build(&ALL_DAMAGE)?;
    let deep = json_run(&full, &["repair", "--dry-run"], 0)?;
    let shallow = full.clone_shallow_bare()?;
    let out = json_run(&shallow, &["repair", "--dry-run"], 0)?;
    // One commit, one version: everything in the tip's manifest and not in
    // its fragments is migrated; nothing can be blamed on a commit it lacks.
    assert_eq!(out["versions"], 1, "{out}");
    let manifest = shallow.json("main:catalogue/manifest.json")?;
    let listed: BTreeSet<String> = artifact_paths(&manifest)?.into_iter().collect();
    let mut seen = BTreeSet::new();
    for entry in out["entries"].as_array().context("entries")? {
        let path = str_field(entry, "path")?;
        let class = str_field(entry, "class")?;
        ensure!(
            class == "present" || class == "migrated",
            "{path} is {class} in a one-commit history: {out}"
        );
        seen.insert(path.to_owned());
    }
    for path in &listed {
        ensure!(
            seen.contains(path),
            "{path} of the tip's manifest is not classified: {out}"
        );
    }
    // The full history knows more than the shallow one.
    let deep_count = deep["entries"].as_array().context("entries")?.len();
    ensure!(
        deep_count > seen.len(),
        "the full history classifies {deep_count} paths, the shallow one {}",
        seen.len()
    );
    Ok(())
}

#[test]
fn a_repair_stopped_between_its_two_commits_is_finished_by_the_next_one() -> Result<()> {
    let repo = build(&STALE_REWRITE)?;
    let first = json_run(&repo, &["repair"], 0)?;
    let recovery = str_field(&first, "commit")?.to_owned();
    ensure!(first["consolidated"].is_string(), "{first}");
    // As if killed after the recovery commit moved the branch, before the
    // consolidation did (the checkout follows, as the tool makes it).
    repo.git(&["reset", "-q", "--hard", &recovery])?;
    let stale = repo.catalogue(&["check"])?;
    stale.expect(1)?;
    let second = json_run(&repo, &["repair"], 0)?;
    assert_eq!(second["recovered"], json!([]), "{second}");
    ensure!(
        second["consolidated"].is_string(),
        "the re-run consolidates: {second}"
    );
    repo.catalogue(&["check"])?.expect(0)?;
    // And a third run writes nothing at all.
    let before = repo.rev("main")?;
    let third = json_run(&repo, &["repair"], 0)?;
    assert_eq!(third["consolidated"], Value::Null, "{third}");
    assert_eq!(repo.rev("main")?, before);
    Ok(())
}

#[test]
fn verify_history_reports_a_manifest_that_is_not_json_as_invalid_manifest() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.commit_by_hand(
        &[(
            "catalogue/manifest.json",
            Content::File(b"<<<<<<< ours\n{}\n=======\n[]\n>>>>>>> theirs\n"),
        )],
        "a merge left its conflict markers",
    )?;
    let run = repo.catalogue(&["--json", "verify", "--history"])?;
    run.expect(1)?;
    let out = run.json()?;
    // The problem's own kind, at the top as in the list: not `stale`.
    assert_eq!(out["error"]["kind"], "invalid_manifest", "{out}");
    assert_eq!(out["problems"][0]["kind"], "invalid_manifest", "{out}");
    assert_eq!(out["error"]["path"], "catalogue/manifest.json", "{out}");
    known_kind(&out["error"])?;
    Ok(())
}
