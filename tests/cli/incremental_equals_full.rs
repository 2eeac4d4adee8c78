//! Incremental consolidation (README, Incremental consolidation): only the fragments changed since the
//! manifest's `source` are read, and the result is byte-identical to a full
//! rebuild. Each step is checked against `consolidate --full --dry-run`,
//! which reads every fragment and says whether the committed files differ
//! from what it builds.

use std::collections::BTreeMap;
use std::ffi::OsStr;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::support::{artifact_paths, GitDaemon, Repo};

/// Commit `writes` and `removes` onto `main` with git plumbing (a private
/// index, `commit-tree`, a compare-and-swap `update-ref`). Returns the commit.
fn commit_changes(repo: &Repo, writes: &[(String, Vec<u8>)], removes: &[String]) -> Result<String> {
    let index = repo.scratch().join("plumbing-index");
    let _ = std::fs::remove_file(&index);
    let env: [(&str, &OsStr); 1] = [("GIT_INDEX_FILE", index.as_os_str())];
    let old = repo.rev("main")?;
    repo.git_env(&["read-tree", "main"], &env)?;
    if !removes.is_empty() {
        // Mode 0 removes an entry; no work tree needed.
        let zero = "0".repeat(40);
        let info: String = removes.iter().map(|p| format!("0 {zero}\t{p}\n")).collect();
        let mut cmd = repo.git_command(&repo.path);
        cmd.env("GIT_INDEX_FILE", &index)
            .args(["update-index", "--index-info"]);
        let out = crate::support::run(&mut cmd, Some(info.as_bytes()))?;
        ensure!(out.status.success(), "update-index --index-info: {out:?}");
    }
    for (path, bytes) in writes {
        let file = repo.scratch().join("plumbing-blob");
        std::fs::write(&file, bytes)?;
        let id = repo.git(&[
            "hash-object",
            "-w",
            "--no-filters",
            file.to_str().context("utf8")?,
        ])?;
        let info = format!("100644,{},{path}", id.trim());
        repo.git_env(&["update-index", "--add", "--cacheinfo", &info], &env)?;
    }
    let tree = String::from_utf8(repo.git_env(&["write-tree"], &env)?)?;
    let commit = repo.git(&[
        "commit-tree",
        tree.trim(),
        "-p",
        &old,
        "-m",
        "change fragments",
    ])?;
    let commit = commit.trim().to_owned();
    repo.git(&["update-ref", "refs/heads/main", &commit, &old])?;
    Ok(commit)
}

fn fragment_path(key: &str) -> String {
    format!("catalogue/fragments/{key}.json")
}

/// The committed outputs equal a full rebuild (see [`Repo::assert_full_rebuild_equal`]).
fn assert_current(repo: &Repo) -> Result<()> {
    repo.assert_full_rebuild_equal()
}

/// A consolidation that read every fragment, with a note saying why: one
/// that contains each of `why`.
fn assert_full_because(out: &Value, why: &[&str]) -> Result<()> {
    assert_eq!(out["mode"], "full", "{out}");
    ensure!(
        out["note"]
            .as_str()
            .is_some_and(|n| why.iter().all(|w| n.contains(w))),
        "{out}"
    );
    Ok(())
}

/// A tiny xorshift generator; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn body(rng: &mut Rng, key: &str, version: usize) -> Vec<u8> {
    let artifacts: Vec<Value> = (0..rng.below(3))
        .map(|i| {
            let kind = ["summary", "log", "a | b"][rng.below(3)];
            json!({
                "path": format!("docs/{key}/{i}.md"),
                "kind": kind,
                "title": format!("{key} v{version} <{i}>"),
                "big": 12345678901234567890u64,
            })
        })
        .collect();
    let mut top = serde_json::Map::new();
    if rng.below(2) == 0 {
        top.insert("issue".into(), json!(rng.below(90) + 1));
    }
    top.insert("run".into(), json!({"version": version}));
    top.insert("artifacts".into(), Value::Array(artifacts));
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(top)).expect("serialises");
    bytes.push(b'\n');
    bytes
}

#[test]
fn random_adds_modifications_deletions_and_renames_are_consolidated_incrementally_and_exactly(
) -> Result<()> {
    let repo = Repo::new_bare()?;
    let seed = match std::env::var("CATALOGUE_TEST_SEED") {
        Ok(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)?,
        Err(_) => 0x5eed_0000_0000_0001u64 ^ u64::from(std::process::id()),
    };
    println!("seed {seed:#x}");
    let mut rng = Rng(seed);
    let keys: Vec<String> = (0..24)
        .map(|i| match i % 4 {
            0 => format!("issue-{i}"),
            1 => format!("issue-{}", i * 100),
            2 => format!("run.{i}"),
            _ => format!("K-{i}"),
        })
        .collect();
    // key -> body, as on main.
    let mut present: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut writes = Vec::new();
    for key in keys.iter().take(8) {
        let b = body(&mut rng, key, 0);
        present.insert(key.clone(), b.clone());
        writes.push((fragment_path(key), b));
    }
    commit_changes(&repo, &writes, &[])?;
    let first = repo.consolidate()?;
    assert_eq!(first["mode"], "full", "{first}");
    assert!(
        first["note"].as_str().is_some(),
        "a first consolidation says why it reads everything: {first}"
    );
    assert_current(&repo)?;
    let mut modes = BTreeMap::new();
    for step in 1..=30 {
        let mut writes = Vec::new();
        let mut removes = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let key = keys[rng.below(keys.len())].clone();
            if writes.iter().any(|(p, _)| *p == fragment_path(&key))
                || removes.contains(&fragment_path(&key))
            {
                continue;
            }
            match (rng.below(4), present.contains_key(&key)) {
                (0, true) => {
                    present.remove(&key);
                    removes.push(fragment_path(&key));
                }
                (1, true) => {
                    // A rename: the same bytes under a key not on main.
                    let Some(to) = keys.iter().find(|k| {
                        !present.contains_key(*k)
                            && !writes.iter().any(|(p, _)| *p == fragment_path(k))
                    }) else {
                        continue;
                    };
                    let bytes = present.remove(&key).context("present")?;
                    removes.push(fragment_path(&key));
                    // Paths name their key, so a moved fragment claims new paths.
                    let text = String::from_utf8(bytes)?
                        .replace(&format!("docs/{key}/"), &format!("docs/{to}/"));
                    present.insert(to.clone(), text.clone().into_bytes());
                    writes.push((fragment_path(to), text.into_bytes()));
                }
                _ => {
                    let b = body(&mut rng, &key, step);
                    present.insert(key.clone(), b.clone());
                    writes.push((fragment_path(&key), b));
                }
            }
        }
        if step % 7 == 0 {
            // A file the fragments folder ignores, with a warning.
            writes.push((
                "catalogue/fragments/README.md".to_owned(),
                format!("step {step}\n").into_bytes(),
            ));
        }
        commit_changes(&repo, &writes, &removes)?;
        let out = repo.consolidate()?;
        *modes
            .entry(out["mode"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
        assert_eq!(out["mode"], "incremental", "step {step}: {out}");
        assert_eq!(out["fragments"], present.len(), "step {step}: {out}");
        assert_current(&repo)?;
    }
    println!("modes over 30 steps: {modes:?}");
    // What is on main is exactly what the steps made.
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let keys_listed: Vec<&str> = manifest["fragments"]
        .as_object()
        .context("fragments")?
        .keys()
        .map(String::as_str)
        .collect();
    let mut want: Vec<&str> = present.keys().map(String::as_str).collect();
    want.sort_by(|a, b| natural(a, b));
    assert_eq!(keys_listed, want);
    repo.fsck()
}

/// Natural order for the test's keys (digit runs by value).
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                let c = rest.chars().next().unwrap_or_default();
                out.push((c.to_string(), 0));
                rest = &rest[c.len_utf8()..];
            } else {
                out.push((String::new(), digits.parse().unwrap_or(0)));
                rest = &rest[digits.len()..];
            }
        }
        out
    }
    split(a).cmp(&split(b))
}

#[test]
fn without_a_usable_previous_manifest_every_fragment_is_read_and_the_note_says_why() -> Result<()> {
    let repo = Repo::new_bare()?;
    let one = br#"{"issue": 1, "artifacts": [{"path": "docs/1.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-1"), one)], &[])?;
    let out = repo.consolidate()?;
    assert_full_because(&out, &["manifest.json"])?;

    // A manifest reformatted by hand: same content, another layout.
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let pretty = serde_json::to_vec_pretty(&manifest)?;
    let two = br#"{"issue": 2, "artifacts": [{"path": "docs/2.md"}]}"#.to_vec();
    commit_changes(
        &repo,
        &[
            ("catalogue/manifest.json".to_owned(), pretty),
            (fragment_path("issue-2"), two),
        ],
        &[],
    )?;
    let out = repo.consolidate()?;
    assert_full_because(&out, &["laid out"])?;
    assert_current(&repo)?;

    // --full reads everything without a note.
    let three = br#"{"issue": 3, "artifacts": [{"path": "docs/3.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-3"), three)], &[])?;
    let out = repo.catalogue_ok(&["consolidate", "--full"])?;
    assert_eq!(
        (&out["mode"], &out["note"]),
        (&json!("full"), &Value::Null),
        "{out}"
    );

    // A shallow clone lacks the tree a stale manifest names as its source.
    let four = br#"{"issue": 4, "artifacts": [{"path": "docs/4.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-4"), four)], &[])?;
    let shallow = repo.clone_shallow_bare()?;
    let out = shallow.consolidate()?;
    assert_full_because(&out, &["not in this repository"])?;
    let listed = artifact_paths(&shallow.json("main:catalogue/manifest.json")?)?;
    assert_eq!(listed, ["docs/1.md", "docs/2.md", "docs/3.md", "docs/4.md"]);
    // In the full clone the same step is incremental, and gives the same bytes.
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    assert_eq!(
        repo.rev("main:catalogue/manifest.json")?,
        shallow.rev("main:catalogue/manifest.json")?
    );
    assert_eq!(
        repo.rev("main:catalogue/index.md")?,
        shallow.rev("main:catalogue/index.md")?
    );
    Ok(())
}

#[test]
fn a_new_fragment_claiming_an_unchanged_fragment_s_path_is_listed_as_a_full_build_would(
) -> Result<()> {
    let repo = Repo::new_bare()?;
    let one = br#"{"artifacts": [{"path": "docs/shared.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-1"), one)], &[])?;
    repo.consolidate()?;
    let two = br#"{"artifacts": [{"path": "docs/shared.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-2"), two)], &[])?;
    let before = repo.rev("main")?;
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["kind"], "duplicate_path", "{out}");
    assert_eq!(out["error"]["path"], "docs/shared.md", "{out}");
    // Committed all the same (docs/format.md, "Conflicts"), as a full build.
    assert_eq!(out["mode"], "full", "{out}");
    assert_ne!(repo.rev("main")?, before, "the catalogue moved on");
    let (code, full) = repo.catalogue_json(&["consolidate", "--full"])?;
    assert_eq!((code, &full["changed"]), (2, &json!(false)), "{full}");
    Ok(())
}

/// A blobless, shallow CI clone (`--filter=blob:none --depth 1`) of a remote
/// served by `git daemon`: `consolidate --push` fetches only the blobs it
/// reads (old manifest and index, changed fragments), and none of the others.
#[test]
fn a_blobless_clone_fetches_only_the_blobs_it_reads() -> Result<()> {
    let origin = Repo::new_bare()?;
    let mut writes = Vec::new();
    for n in 1..=40 {
        let b = format!(r#"{{"issue": {n}, "artifacts": [{{"path": "docs/{n}.md"}}]}}"#);
        writes.push((fragment_path(&format!("issue-{n}")), b.into_bytes()));
    }
    commit_changes(&origin, &writes, &[])?;
    origin.consolidate()?;
    origin.git(&["config", "uploadpack.allowFilter", "true"])?;
    origin.git(&["config", "uploadpack.allowAnySHA1InWant", "true"])?;
    // Another writer adds a fragment on the remote after the last consolidation.
    let b = br#"{"issue": 41, "artifacts": [{"path": "docs/41.md"}]}"#.to_vec();
    commit_changes(&origin, &[(fragment_path("issue-41"), b)], &[])?;
    let old_page = origin.rev("main:catalogue/index/issue-1.md")?;
    let daemon = GitDaemon::serve(&origin)?;
    let url = daemon.url(&origin)?;
    let blobless = Repo::clone_url(&["--bare", "--depth", "1", "--filter=blob:none"], &url)?;
    let missing = |repo: &Repo| -> Result<usize> {
        let out = repo.git(&["rev-list", "--objects", "--missing=print", "--all"])?;
        Ok(out.lines().filter(|l| l.starts_with('?')).count())
    };
    let before = missing(&blobless)?;
    ensure!(
        before >= 43,
        "a blobless clone lacks every blob: {before} missing"
    );
    let out = blobless.catalogue_ok(&["consolidate", "--push", "origin"])?;
    assert_eq!(out["mode"], "incremental", "{out}");
    assert_eq!(out["artifacts"], 41, "{out}");
    // Fetched: the old manifest, the old front page and the one new
    // fragment (and the fragments tree the old manifest names, which is no
    // blob); and the old version of the one page that changed, which `git
    // push` reads as the base of a thin pack's delta. The pages are rendered
    // from the manifest, not from their old versions.
    let after = missing(&blobless)?;
    assert_eq!(before - after, 4, "fetched {} blobs", before - after);
    let still_missing = blobless.git(&["rev-list", "--objects", "--missing=print", "--all"])?;
    ensure!(
        !still_missing.contains(&format!("?{old_page}")),
        "the old page was the fourth blob"
    );
    let check = origin.catalogue_ok(&["check"])?;
    assert_eq!(check["current"], true, "{check}");
    Ok(())
}

/// Each way the previous outputs can fail to be what git-catalogue wrote for
/// their `source`, short of editing rows consistently in both files: the
/// incremental path notices, rebuilds in full with a note, and commits the
/// bytes of a full rebuild.
#[test]
fn previous_outputs_the_tool_did_not_write_for_their_source_are_rebuilt_in_full() -> Result<()> {
    let repo = Repo::new_bare()?;
    let fragment = |n: u32, title: &str| {
        format!(r#"{{"issue": {n}, "artifacts": [{{"path": "docs/{n}.md", "title": "{title}"}}]}}"#)
            .into_bytes()
    };
    commit_changes(&repo, &[(fragment_path("issue-1"), fragment(1, "A"))], &[])?;
    repo.consolidate()?;
    let first_index = repo.blob("main:catalogue/index.md")?;
    commit_changes(&repo, &[(fragment_path("issue-1"), fragment(1, "B"))], &[])?;
    repo.consolidate()?;

    // 1. index.md restored from an older commit: rows and layout fit, but it
    // was written for another source (and says "A" where the fragment says "B").
    commit_changes(
        &repo,
        &[
            ("catalogue/index.md".to_owned(), first_index),
            (fragment_path("issue-2"), fragment(2, "C")),
        ],
        &[],
    )?;
    let out = repo.consolidate()?;
    assert_full_because(&out, &["index.md", "not written with"])?;
    assert_current(&repo)?;
    ensure!(
        repo.text("main:catalogue/index/issue-1.md")?
            .contains("| B |"),
        "the page follows the fragment"
    );

    // 2. A `source` naming a blob, not a tree: a full rebuild, not an error.
    let blob = repo.rev(&format!("main:{}", fragment_path("issue-1")))?;
    let manifest = repo.text("main:catalogue/manifest.json")?;
    let old_source = repo.json("main:catalogue/manifest.json")?["source"]
        .as_str()
        .context("source")?
        .to_owned();
    let forged = manifest.replace(&old_source, &blob);
    ensure!(forged != manifest, "the source line was replaced");
    commit_changes(
        &repo,
        &[
            ("catalogue/manifest.json".to_owned(), forged.into_bytes()),
            (fragment_path("issue-3"), fragment(3, "D")),
        ],
        &[],
    )?;
    let recorded = repo.record_direct(4, "docs/4.md")?;
    assert_eq!(recorded["ok"], true, "record builds on it too: {recorded}");
    let out = repo.consolidate()?;
    assert_full_because(&out, &[&blob, "not a tree"])?;
    assert_current(&repo)?;
    assert_eq!(
        artifact_paths(&repo.json("main:catalogue/manifest.json")?)?,
        ["docs/1.md", "docs/2.md", "docs/3.md", "docs/4.md"]
    );
    repo.fsck()?;
    Ok(())
}

/// The incremental path reports the same error as a full rebuild (and
/// `check`): the first invalid fragment in natural key order, and a path
/// claimed twice named by its first claimant even when that one is unchanged.
#[test]
fn errors_on_the_incremental_path_are_the_errors_of_a_full_rebuild() -> Result<()> {
    let repo = Repo::new_bare()?;
    let one = br#"{"artifacts": [{"path": "x.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-1"), one)], &[])?;
    repo.consolidate()?;
    let consolidated = repo.rev("main")?;
    let both = |repo: &Repo| -> Result<[Value; 2]> {
        let mut outs = Vec::new();
        for args in [&["consolidate"][..], &["consolidate", "--full"][..]] {
            let before = repo.rev("main")?;
            let (code, out) = repo.catalogue_json(args)?;
            assert_eq!(code, 2, "{args:?}: {out}");
            // A conflict is committed by the first run (and then current);
            // an invalid fragment moves nothing.
            if out["error"]["kind"] != "duplicate_path" || args.len() == 2 {
                assert_eq!(repo.rev("main")?, before, "{args:?} moved nothing");
            }
            outs.push(out["error"].clone());
        }
        Ok([outs[0].clone(), outs[1].clone()])
    };

    // issue-2 claims x.md twice itself, and issue-1 (unchanged) owns it.
    let two = br#"{"artifacts": [{"path": "x.md"}, {"path": "x.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-2"), two)], &[])?;
    let [incremental, full] = both(&repo)?;
    assert_eq!(full["kind"], "duplicate_path", "{full}");
    // Every claim: issue-2 claims it twice itself.
    assert_eq!(
        full["fragments"],
        json!(["issue-1", "issue-2", "issue-2"]),
        "{full}"
    );
    assert_eq!(incremental, full);

    // issue-9 and issue-10 invalid: tree order reads issue-10 first, natural
    // order issue-9.
    repo.git(&["update-ref", "refs/heads/main", &consolidated])?;
    commit_changes(
        &repo,
        &[
            (fragment_path("issue-9"), br#"{"issue": 9}"#.to_vec()),
            (fragment_path("issue-10"), b"nope".to_vec()),
        ],
        &[],
    )?;
    let [incremental, full] = both(&repo)?;
    assert_eq!(full["kind"], "invalid_fragment", "{full}");
    assert_eq!(full["path"], "catalogue/fragments/issue-9.json", "{full}");
    assert_eq!(incremental, full);
    Ok(())
}

/// An ignored file that did not change is still warned about, as a full
/// read warns about it.
#[test]
fn an_unchanged_ignored_file_is_warned_about_on_the_incremental_path_too() -> Result<()> {
    let repo = Repo::new_bare()?;
    let one = br#"{"artifacts": [{"path": "a.md"}]}"#.to_vec();
    commit_changes(
        &repo,
        &[
            (fragment_path("issue-1"), one),
            (
                "catalogue/fragments/README.md".to_owned(),
                b"notes\n".to_vec(),
            ),
        ],
        &[],
    )?;
    let first = repo.consolidate()?;
    let warning = json!(["ignoring `catalogue/fragments/README.md`: not a `.json` fragment"]);
    assert_eq!(first["warnings"], warning, "{first}");
    let two = br#"{"artifacts": [{"path": "b.md"}]}"#.to_vec();
    commit_changes(&repo, &[(fragment_path("issue-2"), two)], &[])?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    assert_eq!(out["warnings"], warning, "{out}");
    assert_current(&repo)?;
    Ok(())
}

/// A full rebuild reads its fragments in batches on two threads. A path
/// claimed twice in an early batch does not hide an invalid fragment in a
/// later one: the invalid fragment is reported, as `check` reports it.
#[test]
fn a_full_rebuild_reports_an_invalid_fragment_before_a_duplicate_path_in_any_batch() -> Result<()> {
    let repo = Repo::new_bare()?;
    // 300 fragments in one `git fast-import` stream (one process, not 600).
    let mut stream =
        String::from("commit refs/heads/main\ncommitter t <t@t> 0 +0000\ndata 4\nmany\n");
    stream.push_str(&format!("from {}\n", repo.rev("main")?));
    for n in 1..=300 {
        let body = match n {
            // issue-2 claims issue-1's path, in the first batch of 256.
            2 => r#"{"artifacts": [{"path": "docs/1.md"}]}"#.to_owned(),
            // issue-300, in the second batch, is invalid.
            300 => r#"{"issue": 300}"#.to_owned(),
            _ => format!(r#"{{"artifacts": [{{"path": "docs/{n}.md"}}]}}"#),
        };
        stream.push_str(&format!(
            "M 100644 inline {}\ndata {}\n{body}\n",
            fragment_path(&format!("issue-{n}")),
            body.len()
        ));
    }
    let mut cmd = repo.git_command(&repo.path);
    cmd.args(["fast-import", "--quiet"]);
    let out = crate::support::run(&mut cmd, Some(stream.as_bytes()))?;
    ensure!(out.status.success(), "fast-import: {out:?}");
    let before = repo.rev("main")?;
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["kind"], "invalid_fragment", "{out}");
    assert_eq!(out["error"]["path"], fragment_path("issue-300"), "{out}");
    assert_eq!(repo.rev("main")?, before, "nothing moved");
    let (code, check) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{check}");
    let problems = check["problems"].as_array().context("problems")?;
    ensure!(
        problems
            .iter()
            .any(|p| p["path"] == json!(fragment_path("issue-300"))),
        "check names the same fragment: {check}"
    );
    Ok(())
}

/// Commit many fragments at once with `git fast-import` (one process, not
/// two per file): `(key, body)`, onto `main`.
fn commit_many(repo: &Repo, fragments: &[(String, Vec<u8>)], removes: &[String]) -> Result<()> {
    repo.import_fragments(fragments, removes)
}

/// `issue-N`'s fragment, one artifact.
fn numbered(n: usize, title: &str) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"issue": {n}, "artifacts": [{{"path": "docs/{n}/report.html", "kind": "k{}", "title": "{title} {n}"}}]}}"#,
        n % 7
    );
    (format!("issue-{n}"), body.into_bytes())
}

/// The pages of `main` and their blob ids.
fn page_ids(repo: &Repo) -> Result<BTreeMap<String, String>> {
    let listing = repo.git(&["ls-tree", "main:catalogue/index"])?;
    Ok(listing
        .lines()
        .filter_map(|l| {
            let (meta, name) = l.split_once('\t')?;
            Some((name.to_owned(), meta.split(' ').nth(2)?.to_owned()))
        })
        .collect())
}

/// 3,100 fragments: pages of at most 1,000 fragments each, a front page
/// under 100 KB; adding one fragment or changing one rewrites exactly one
/// page (and the front page) and keeps every other page's blob; deleting a
/// page's fragments removes the page.
#[test]
fn a_large_catalogue_is_paged_and_one_change_rewrites_one_page() -> Result<()> {
    let repo = Repo::new_bare()?;
    let all: Vec<(String, Vec<u8>)> = (1..=3100).map(|n| numbered(n, "Report")).collect();
    commit_many(&repo, &all, &[])?;
    repo.consolidate()?;
    let pages = page_ids(&repo)?;
    ensure!(pages.len() >= 4, "{} pages", pages.len());
    let mut fragments = 0;
    for name in pages.keys() {
        let page = repo.text(&format!("main:catalogue/index/{name}"))?;
        let rows = page
            .lines()
            .filter(|l| l.starts_with("| [") || l.starts_with("| #"))
            .count();
        ensure!((1..=1000).contains(&rows), "{name}: {rows} rows");
        fragments += rows;
    }
    assert_eq!(fragments, 3100);
    let front = repo.blob("main:catalogue/index.md")?;
    ensure!(front.len() < 100_000, "front page {} bytes", front.len());
    assert_current(&repo)?;

    // One new fragment, at the end: the last page (or a new one).
    let before = repo.rev("main")?;
    commit_many(&repo, &[numbered(3101, "Report")], &[])?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    let after = page_ids(&repo)?;
    let changed: Vec<&String> = after
        .iter()
        .filter(|(name, id)| pages.get(*name) != Some(id))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let touched = repo.git(&["diff-tree", "-r", "--name-only", &before, "main"])?;
    let touched: Vec<&str> = touched
        .lines()
        .filter(|l| !l.contains("/fragments/"))
        .collect();
    assert_eq!(
        touched,
        [
            "catalogue/index.md".to_owned(),
            format!("catalogue/index/{}", changed[0]),
            "catalogue/manifest.json".to_owned()
        ]
    );
    assert_current(&repo)?;

    // One fragment in the middle changes: its page only.
    let pages = after;
    commit_many(&repo, &[numbered(1500, "Changed")], &[])?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    let after = page_ids(&repo)?;
    let changed: Vec<&String> = after
        .iter()
        .filter(|(name, id)| pages.get(*name) != Some(id))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(after.len(), pages.len());
    ensure!(
        repo.text(&format!("main:catalogue/index/{}", changed[0]))?
            .contains("Changed 1500"),
        "the changed page holds the change"
    );
    assert_current(&repo)?;

    // Every fragment of the first page deleted: the page goes.
    let first = after.keys().next().context("a page")?.clone();
    let page = repo.text(&format!("main:catalogue/index/{first}"))?;
    let keys: Vec<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| #"))
        .filter_map(|l| l.split(' ').next())
        .map(|n| fragment_path(&format!("issue-{n}")))
        .collect();
    ensure!(!keys.is_empty(), "{page}");
    commit_many(&repo, &[], &keys)?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    let left = page_ids(&repo)?;
    ensure!(!left.contains_key(&first), "{first} is still there");
    assert_current(&repo)?;
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;
    Ok(())
}

/// A catalogue consolidated by a version before the pages (one table in
/// `index.md`, no `index/` folder) converts on its next consolidation, in
/// full once and incrementally after; `verify --history` still passes its
/// earlier commits, judged by the layout they were written in.
#[test]
fn a_single_table_index_converts_on_the_next_consolidation() -> Result<()> {
    let repo = Repo::new_bare()?;
    commit_changes(
        &repo,
        &[(
            fragment_path("issue-1"),
            br#"{"issue": 1, "artifacts": [{"path": "docs/1.md", "kind": "summary", "title": "One"}]}"#.to_vec(),
        )],
        &[],
    )?;
    repo.consolidate()?;
    let source = repo.json("main:catalogue/manifest.json")?["source"]
        .as_str()
        .context("source")?
        .to_owned();
    // What the earlier version wrote for the same fragments.
    let earlier = format!(
        "# Catalogue\n\nGenerated by git-catalogue from catalogue/fragments/ (fragments tree {source}). \
         Do not edit this file by hand: run `git catalogue consolidate` instead.\n\n\
         1 artifact in 1 fragment.\n\n\
         | Issue | Fragment | Artifact | Kind | Title |\n| --- | --- | --- | --- | --- |\n\
         | #1 | issue\\-1 | [docs/1\\.md](../docs/1.md) | summary | One |\n"
    );
    commit_changes(
        &repo,
        &[("catalogue/index.md".to_owned(), earlier.into_bytes())],
        &["catalogue/index/issue-1.md".to_owned()],
    )?;
    let old = repo.rev("main")?;
    ensure!(
        !repo.exists("main:catalogue/index")?,
        "no pages in the earlier layout"
    );
    // Its outputs are the consolidation of its fragments, as then written.
    let verified = repo.catalogue_ok(&["verify", "--history"])?;
    assert_eq!(verified["problems"], json!([]), "{verified}");
    // `check` judges the tip by today's layout: the pages are missing, and
    // are named as one folder, not page by page.
    let (code, check) = repo.catalogue_json(&["check"])?;
    assert_ne!(code, 0, "{check}");
    let paths: Vec<&str> = check["problems"]
        .as_array()
        .context("no problems")?
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(paths, ["catalogue/index.md", "catalogue/index/"], "{check}");

    commit_changes(
        &repo,
        &[(
            fragment_path("issue-2"),
            br#"{"issue": 2, "artifacts": [{"path": "docs/2.md"}]}"#.to_vec(),
        )],
        &[],
    )?;
    let out = repo.consolidate()?;
    assert_full_because(&out, &["index.md", "layout"])?;
    ensure!(
        repo.text("main:catalogue/index/issue-1.md")?
            .contains("| #2 | [docs/2\\.md](../../docs/2.md) |"),
        "the page lists both"
    );
    assert_current(&repo)?;
    commit_changes(
        &repo,
        &[(
            fragment_path("issue-3"),
            br#"{"issue": 3, "artifacts": [{"path": "docs/3.md"}]}"#.to_vec(),
        )],
        &[],
    )?;
    let out = repo.consolidate()?;
    assert_eq!(out["mode"], "incremental", "{out}");
    assert_current(&repo)?;
    let verified = repo.catalogue_ok(&["verify", "--history"])?;
    assert_eq!(verified["problems"], json!([]), "{verified}");
    ensure!(repo.count(&format!("{old}..main"))? >= 3);
    repo.fsck()?;
    // An earlier-layout index that is not its fragments' is still stale.
    let wrong = repo
        .text(&format!("{old}:catalogue/index.md"))?
        .replace("One", "Other");
    commit_changes(
        &repo,
        &[("catalogue/index.md".to_owned(), wrong.into_bytes())],
        &["catalogue/index/issue-1.md".to_owned()],
    )?;
    let (code, verified) = repo.catalogue_json(&["verify", "--history"])?;
    assert_ne!(code, 0, "{verified}");
    ensure!(
        verified["problems"]
            .to_string()
            .contains("catalogue/index.md"),
        "{verified}"
    );
    Ok(())
}

/// A full rebuild reads fragments in the order the packs hold them, loose
/// ones last, and hands them on in key order: on a repository of two packs
/// written against key order plus loose objects, the outputs list the
/// fragments in natural key order, and equal an incremental run's. The first
/// invalid fragment in key order is the one reported, though it is loose
/// and read after a later invalid one that is packed.
#[test]
fn fragments_read_in_pack_order_come_out_in_key_order_and_the_first_error_is_reported() -> Result<()>
{
    let repo = Repo::new_bare()?;
    let body = |n: usize| format!(r#"{{"issue": {n}, "artifacts": [{{"path": "docs/{n}.md"}}]}}"#);
    let writes: Vec<(String, Vec<u8>)> = (1..=30)
        .map(|n| (fragment_path(&format!("issue-{n}")), body(n).into_bytes()))
        .collect();
    commit_changes(&repo, &writes, &[])?;
    let blob = |n: usize| repo.rev(&format!("main:{}", fragment_path(&format!("issue-{n}"))));
    // Two packs, each written in reverse key order; issue-11..20 stay loose.
    let pack = |range: std::ops::RangeInclusive<usize>| -> Result<()> {
        let ids: Vec<String> = range.rev().map(blob).collect::<Result<_>>()?;
        let mut cmd = repo.git_command(&repo.path);
        cmd.args(["pack-objects", "--quiet", "objects/pack/pack"]);
        let out = crate::support::run(&mut cmd, Some(format!("{}\n", ids.join("\n")).as_bytes()))?;
        ensure!(out.status.success(), "pack-objects: {out:?}");
        Ok(())
    };
    pack(21..=30)?;
    pack(1..=10)?;
    repo.git(&["prune-packed"])?;
    let loose = |n: usize| -> Result<bool> {
        let id = blob(n)?;
        Ok(repo
            .git_dir()
            .join("objects")
            .join(&id[..2])
            .join(&id[2..])
            .exists())
    };
    ensure!(
        !loose(5)? && loose(15)? && !loose(25)?,
        "the layout is as meant"
    );
    let packs = std::fs::read_dir(repo.git_dir().join("objects/pack"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension() == Some(OsStr::new("idx")))
        })
        .count();
    assert_eq!(packs, 2, "two packs");

    let out = repo.catalogue_ok(&["consolidate", "--full"])?;
    assert_eq!(out["fragments"], 30, "{out}");
    let manifest: Value =
        serde_json::from_str(&repo.git(&["show", "main:catalogue/manifest.json"])?)?;
    let order: Vec<&str> = manifest["artifacts"]
        .as_array()
        .context("artifacts")?
        .iter()
        .filter_map(|a| a["fragment"].as_str())
        .collect();
    let expected: Vec<String> = (1..=30).map(|n| format!("issue-{n}")).collect();
    assert_eq!(order, expected, "natural key order");
    assert_current(&repo)?;
    repo.fsck()?;

    // issue-25 (packed, read first) and issue-15 (loose, read last) both invalid.
    let bad = |n: usize| {
        (
            fragment_path(&format!("issue-{n}")),
            format!(r#"{{"issue": {n}}}"#).into_bytes(),
        )
    };
    commit_changes(&repo, &[bad(25)], &[])?;
    pack(25..=25)?;
    commit_changes(&repo, &[bad(15)], &[])?;
    repo.git(&["prune-packed"])?;
    ensure!(
        loose(15)? && !loose(25)?,
        "the bad ones are loose and packed"
    );
    let before = repo.rev("main")?;
    let (code, out) = repo.catalogue_json(&["consolidate", "--full"])?;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["kind"], "invalid_fragment", "{out}");
    assert_eq!(out["error"]["path"], fragment_path("issue-15"), "{out}");
    assert_eq!(repo.rev("main")?, before, "nothing moved");
    let (code, check) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{check}");
    let named: Vec<&str> = check["problems"]
        .as_array()
        .context("problems")?
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert_eq!(
        named,
        [fragment_path("issue-15"), fragment_path("issue-25")],
        "check names both, in tree order: {check}"
    );
    Ok(())
}
