//! Both files against full rebuilds, and splices against full rebuilds over random change sets.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::*;
use crate::core::fragment::Fragment;
use crate::core::key::FragmentKey;
use crate::core::manifest::Manifest;

const TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const NEXT: &str = "0123456789012345678901234567890123456789";

fn fragment(key: &str, json: &str) -> Fragment {
    let key = FragmentKey::new(key).expect("test keys are valid");
    Fragment::parse(key, json.as_bytes()).expect("test fragments are valid")
}

fn full(fragments: &[Fragment], source: &str) -> Outputs {
    let manifest = Manifest::build_with_conflicts(fragments.to_vec(), source);
    let mut w = Writer::new(source, Some("catalogue"), true);
    for f in manifest.fragments() {
        w.push(f);
    }
    w.finish()
}

use crate::core::rng::Rng;

/// The page files of `outputs`.
fn files(outputs: &Outputs) -> HashSet<String> {
    outputs.pages.iter().map(|(f, _)| f.clone()).collect()
}

/// A splice's outputs, its kept pages read from `before`.
fn resolved(got: &Spliced<'_>, before: &Outputs) -> Outputs {
    let mut out = got.to_outputs();
    out.pages = got
        .pages
        .iter()
        .map(|p| {
            let bytes = p.bytes.clone().unwrap_or_else(|| {
                before
                    .pages
                    .iter()
                    .find(|(f, _)| *f == p.file)
                    .map(|(_, b)| b.clone())
                    .expect("a kept page was a page before")
            });
            (p.file.clone(), bytes)
        })
        .collect();
    out
}

/// 3,000 fragments make pages of at most 1,000, split where the keys say;
/// adding one fragment renders one page, and the splice equals a full build.
#[test]
fn one_new_fragment_changes_one_page() {
    let set: Vec<Fragment> = (1..=3000)
        .map(|i| {
            fragment(
                &format!("issue-{i}"),
                &format!(
                    r#"{{"issue": {i}, "artifacts": [{{"path": "docs/{i}.md", "kind": "k{}"}}]}}"#,
                    i % 30
                ),
            )
        })
        .collect();
    let before = full(&set, TREE);
    assert!(before.pages.len() >= 3, "{} pages", before.pages.len());
    let max = before
        .pages
        .iter()
        .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count())
        .max()
        .unwrap_or(0);
    assert!(max < 1000 + 20, "{max} lines");
    assert!(before.index.len() < 100_000);
    let old = Old::cut(&before.manifest, Some(&before.index)).expect("cut");
    // A key inside the range, not itself a boundary.
    let key = (1..)
        .map(|i| format!("issue-1500x{i}"))
        .find(|k| !crate::core::index::pages::ends_page(k))
        .expect("some key");
    let add = fragment(
        &key,
        r#"{"issue": 1500, "artifacts": [{"path": "new.md"}]}"#,
    );
    let got = splice(
        &old,
        &BTreeSet::new(),
        vec![add.clone()],
        NEXT,
        "catalogue",
        None,
        &files(&before),
    )
    .expect("spliced");
    let rendered = got.pages.iter().filter(|p| p.bytes.is_some()).count();
    let mut next = set.clone();
    next.push(add);
    let want = full(&next, NEXT);
    assert_eq!(resolved(&got, &before), want);
    // One page renders, unless the page was full and the next ones shift.
    let differ = want
        .pages
        .iter()
        .filter(|p| !before.pages.contains(p))
        .count();
    assert_eq!(rendered, differ);
    assert!((1..=2).contains(&differ), "{differ} pages changed");
}

fn random_fragment(rng: &mut Rng, key: &str, paths: &[&str]) -> Fragment {
    let mut arts = Vec::new();
    let n = rng.below(4);
    for i in 0..n {
        let path = paths[rng.below(paths.len())];
        let title = ["T", "a | b", "x\ny", "<b>", "é \u{202e}"][rng.below(5)];
        // Now and then two fragments (or one, twice) claim a path.
        let path = if rng.below(8) == 0 {
            format!("{path}/{}", rng.below(3))
        } else {
            format!("{path}/{key}/{i}")
        };
        arts.push(serde_json::json!({"path": path, "title": title, "n": rng.below(100)}));
    }
    let mut top = serde_json::Map::new();
    match rng.below(3) {
        0 => {}
        1 => {
            top.insert("issue".into(), Value::from(rng.below(50) + 1));
        }
        _ => {
            top.insert("issue".into(), Value::from(format!("{}", rng.below(9))));
            top.insert(
                "run".into(),
                serde_json::json!({"id": rng.below(9), "tags": ["a", "b"]}),
            );
        }
    }
    top.insert("artifacts".into(), Value::Array(arts));
    fragment(key, &Value::Object(top).to_string())
}

#[test]
fn the_writer_and_the_manifest_agree_on_empty_and_small_catalogues() {
    for set in [vec![], vec![fragment("k", r#"{"artifacts":[]}"#)]] {
        let out = full(&set, TREE);
        let m = Manifest::build(set.clone(), TREE).expect("ok");
        assert_eq!(out.manifest, manifest_json(&m));
        assert_eq!(out.index, index_md(&m, "catalogue"));
        assert!(Old::cut(&out.manifest, Some(&out.index)).is_some());
    }
}

#[test]
fn the_rope_holds_the_bytes_of_the_joined_files() {
    let mut rng = Rng::seeded(7);
    let keys = ["a", "issue-2", "issue-10", "z"];
    for round in 0..50 {
        // Round 0 has no fragments; random_fragment gives some none.
        let set: Vec<Fragment> = keys[..round % 5]
            .iter()
            .map(|key| random_fragment(&mut rng, key, &["docs", "c|d"]))
            .collect();
        // A path claimed twice: no outputs to compare.
        let Ok(manifest) = Manifest::build(set, TREE) else {
            continue;
        };
        let [mut joined, mut rope] = [0, 1].map(|_| Writer::new(TREE, Some("catalogue"), true));
        for f in manifest.fragments() {
            joined.push(f);
            rope.push(f);
        }
        assert_eq!(
            rope.finish_rope().to_outputs(),
            joined.finish(),
            "round {round}"
        );
    }
}

#[test]
fn cut_refuses_what_the_writer_did_not_write() {
    let set = vec![
        fragment(
            "issue-1",
            r#"{"issue":1,"artifacts":[{"path":"a"},{"path":"b"}]}"#,
        ),
        fragment("issue-2", r#"{"artifacts":[{"path":"c"}]}"#),
    ];
    let out = full(&set, TREE);
    let m = String::from_utf8(out.manifest.clone()).expect("utf8");
    assert!(Old::cut(m.as_bytes(), Some(&out.index)).is_some());
    for edited in [
        m.replace(
            "    {\"fragment\":\"issue-2\"",
            "    {\"fragment\":\"issue-0\"",
        ),
        m.replace("\"path\":\"a\"}", "\"path\":\"a\"}\n"),
        m.replace("  \"version\": 1", "  \"version\": 2"),
        // The layout before the manifest named its schema: rebuilt in full.
        m.replace(
            "  \"$schema\": \"urn:git-catalogue:schema:manifest:1\",\n",
            "",
        ),
        m.replace("\n}\n", "\n}"),
        format!("{m}\n"),
        m.replacen("    \"issue-1\"", "    \"issue-3\"", 1),
    ] {
        assert!(
            Old::cut(edited.as_bytes(), Some(&out.index)).is_none(),
            "accepted an edited manifest:\n{edited}"
        );
    }
    // A front page not written for this manifest is not built on.
    let index = String::from_utf8(out.index.clone()).expect("utf8");
    let old = Old::cut(&out.manifest, Some(&out.index)).expect("cut");
    assert!(old.index_matches("catalogue", None));
    assert!(!old.index_matches("catalogue", Some("https://x/{issue}")));
    for edited in [
        index.replace(TREE, NEXT),
        index.replacen("# Catalogue", "# Catalog", 1),
        index.replace("Issue numbers are not linked", "Issue numbers are linked"),
    ] {
        let old = Old::cut(&out.manifest, Some(edited.as_bytes())).expect("cut");
        assert!(!old.index_matches("catalogue", None), "{edited}");
    }
}

#[test]
fn a_new_claim_on_an_unchanged_fragment_s_path_is_not_spliced() {
    let set = vec![
        fragment(
            "issue-1",
            r#"{"artifacts":[{"meta":{"path":"nested"},"path":"x \"q\".md"}]}"#,
        ),
        fragment("issue-2", r#"{"artifacts":[{"path":"y"}]}"#),
    ];
    let out = full(&set, TREE);
    let old = Old::cut(&out.manifest, Some(&out.index)).expect("cut");
    let none = BTreeSet::new();
    let claim = |json: &str| {
        splice(
            &old,
            &none,
            vec![fragment("issue-3", json)],
            NEXT,
            "catalogue",
            None,
            &HashSet::new(),
        )
    };
    assert!(matches!(
        claim(r#"{"artifacts":[{"path":"x \"q\".md"}]}"#),
        Err(NotSpliced::MayClaimTwice(p)) if p == "x \"q\".md"
    ));
    assert!(matches!(
        claim(r#"{"artifacts":[{"path":"y"}]}"#),
        Err(NotSpliced::MayClaimTwice(_))
    ));
    // A nested `path` is not a claim, but errs on the side of a full rebuild.
    assert!(matches!(
        claim(r#"{"artifacts":[{"path":"nested"}]}"#),
        Err(NotSpliced::MayClaimTwice(_))
    ));
    // Replacing the claimant itself is fine.
    let moved = splice(
        &old,
        &BTreeSet::from(["issue-1"]),
        vec![fragment(
            "issue-3",
            r#"{"artifacts":[{"path":"x \"q\".md"}]}"#,
        )],
        NEXT,
        "catalogue",
        None,
        &HashSet::new(),
    )
    .expect("spliced");
    let mut next = set[1..].to_vec();
    next.push(fragment(
        "issue-3",
        r#"{"artifacts":[{"path":"x \"q\".md"}]}"#,
    ));
    assert_eq!(moved.to_outputs(), full(&next, NEXT));
}

/// Batches rendered apart and absorbed in order give the bytes, and the
/// conflicts, of pushing every fragment to one writer; and both are what
/// `render::outputs` of the manifest gives.
#[test]
fn absorbed_batches_equal_one_writer() {
    let mut rng = Rng::seeded(0x9e37_79b9_7f4a_7c15);
    let paths = ["docs", "src"];
    let mut conflicted = 0;
    for round in 0..300 {
        let mut set: Vec<Fragment> = (0..rng.below(12))
            .map(|i| random_fragment(&mut rng, &format!("issue-{i}"), &paths))
            .collect();
        set.sort_by(|a, b| a.key.cmp(&b.key));
        set.sort_by(|a, b| crate::core::key::natural_cmp(a.key.as_str(), b.key.as_str()));
        let mut one = Writer::new(TREE, Some("catalogue"), true);
        set.iter().for_each(|f| one.push(f));
        let want = one.finish();
        let mut main = Writer::new(TREE, Some("catalogue"), true);
        let size = 1 + rng.below(4);
        for chunk in set.chunks(size) {
            let mut batch = Writer::batch(Some("catalogue"));
            for f in chunk {
                batch.push(f);
            }
            main.absorb(batch);
        }
        assert_eq!(
            main.first_duplicate(),
            Manifest::build(set.clone(), TREE).err(),
            "round {round}"
        );
        let got = main.finish();
        assert_eq!(got, want, "round {round}, batches of {size}");
        let manifest = Manifest::build_with_conflicts(set.clone(), TREE);
        assert_eq!(outputs(&manifest, Some("catalogue")), want, "round {round}");
        assert_eq!(manifest.conflicts(), want.conflicts, "round {round}");
        assert_eq!(manifest.artifact_count(), want.artifacts, "round {round}");
        if !want.conflicts.is_empty() {
            conflicted += 1;
            // Valid JSON, with the contested claims apart from the artifacts.
            let json: Value = serde_json::from_slice(&want.manifest).expect("valid JSON");
            let listed = json["artifacts"].as_array().map_or(0, Vec::len);
            assert_eq!(listed, want.artifacts, "round {round}");
            assert_eq!(
                json["conflicts"].as_array().map(Vec::len),
                Some(want.conflicts.len())
            );
            // Never spliced on: a full build decides while a conflict exists.
            assert!(Old::cut(&want.manifest, Some(&want.index)).is_none());
            assert!(lists_conflicts(&want.manifest));
        } else {
            assert!(!lists_conflicts(&want.manifest));
        }
    }
    assert!(
        conflicted > 20,
        "only {conflicted} of 300 rounds had a conflict"
    );
}

/// A path claimed by two fragments: both files are written for everything
/// else, and both claims are listed apart, byte for byte as documented
/// (docs/format.md, "Conflicts").
#[test]
fn a_conflict_is_listed_apart_in_both_files() {
    let fragments = [
        fragment(
            "issue-10",
            r#"{"issue": 10, "artifacts": [{"path": "docs/x.md", "title": "B"}]}"#,
        ),
        fragment(
            "issue-9",
            r#"{"issue": 9, "artifacts": [{"path": "docs/x.md", "title": "A"}, {"path": "docs/9.md"}]}"#,
        ),
    ];
    let out = full(&fragments, TREE);
    assert_eq!(
        String::from_utf8(out.manifest).expect("text"),
        r#"{
  "$schema": "urn:git-catalogue:schema:manifest:1",
  "version": 1,
  "source": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
  "fragments": {
    "issue-9": {
      "issue": 9
    },
    "issue-10": {
      "issue": 10
    }
  },
  "artifacts": [
    {"fragment":"issue-9","issue":9,"path":"docs/9.md"}
  ],
  "conflicts": [
    {"path":"docs/x.md","fragments":["issue-9","issue-10"],"artifacts":[{"fragment":"issue-9","issue":9,"path":"docs/x.md","title":"A"},{"fragment":"issue-10","issue":10,"path":"docs/x.md","title":"B"}]}
  ]
}
"#
    );
    let index = String::from_utf8(out.index).expect("text");
    let conflicts_at = index.find("## Conflicts\n").expect("a conflicts section");
    let table_at = index
        .find(crate::core::index::CONFLICTS_HEAD)
        .expect("a table");
    assert!(conflicts_at < table_at, "{index}");
    assert!(index.contains(
        "| #9 | issue\\-9 | [docs/x\\.md](../docs/x.md) |  | A |\n| #10 | issue\\-10 | [docs/x\\.md](../docs/x.md) |  | B |\n"
    ), "{index}");
    assert!(
        index.contains("\n1 artifact in 2 fragments, on 1 page.\n"),
        "{index}"
    );
    // The page lists every claim of its fragments.
    let page = String::from_utf8(out.pages[0].1.clone()).expect("text");
    assert!(
        page.contains("| #9 | [docs/x\\.md](../../docs/x.md) |  | A |\n"),
        "{page}"
    );
    assert!(
        page.contains("| #10 | [docs/x\\.md](../../docs/x.md) |  | B |\n"),
        "{page}"
    );
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(out.conflicts[0].later().as_str(), "issue-10");
    // Without artifacts left, the list is still valid JSON.
    let alone = full(&fragments[..1], TREE);
    assert!(alone.conflicts.is_empty());
    let twice = [fragment(
        "k",
        r#"{"artifacts": [{"path": "a"}, {"path": "a", "n": 2}]}"#,
    )];
    let out = full(&twice, TREE);
    let json: Value = serde_json::from_slice(&out.manifest).expect("valid JSON");
    assert_eq!(json["artifacts"], serde_json::json!([]));
    assert_eq!(
        json["conflicts"][0]["fragments"],
        serde_json::json!(["k", "k"])
    );
}

/// Random catalogues, random changes (adds, modifications, deletions,
/// renames): every splice equals a full rebuild byte for byte.
#[test]
fn splices_equal_full_rebuilds() {
    let mut rng = Rng::seeded(0x2545_f491_4f6c_dd1d);
    let keys: Vec<String> = (0..14)
        .map(|i| match i % 3 {
            0 => format!("issue-{i}"),
            1 => format!("issue-{}", i * 10),
            _ => format!("k{i}.x"),
        })
        .collect();
    let paths = ["docs", "src", "a b"];
    let mut spliced = 0;
    for _round in 0..400 {
        let mut current: Vec<Fragment> = Vec::new();
        for k in &keys {
            if rng.below(2) == 0 {
                current.push(random_fragment(&mut rng, k, &paths));
            }
        }
        if Manifest::build(current.clone(), TREE).is_err() {
            continue;
        }
        let before = full(&current, TREE);
        let old =
            Old::cut(&before.manifest, Some(&before.index)).expect("the writer's own outputs cut");
        assert_eq!(old.source, TREE);
        let mut next = current.clone();
        let mut removed: BTreeSet<&str> = BTreeSet::new();
        let mut changed = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let k = keys[rng.below(keys.len())].as_str();
            let at = next.iter().position(|f| f.key.as_str() == k);
            match (rng.below(3), at) {
                (0, Some(i)) => {
                    next.remove(i);
                    changed.retain(|f: &Fragment| f.key.as_str() != k);
                    removed.insert(k);
                }
                (1, Some(i)) => {
                    // A rename: the same content under a key not present.
                    let to = keys
                        .iter()
                        .find(|n| !next.iter().any(|f| f.key.as_str() == n.as_str()));
                    if let Some(to) = to {
                        let f = next.remove(i);
                        removed.insert(k);
                        changed.retain(|c: &Fragment| c.key.as_str() != k);
                        let moved = Fragment {
                            key: FragmentKey::new(to).expect("valid"),
                            ..f
                        };
                        let moved =
                            fragment(to, &String::from_utf8(moved.to_bytes()).expect("utf8"));
                        removed.remove(to.as_str());
                        changed.push(moved.clone());
                        next.push(moved);
                    }
                }
                _ => {
                    let f = random_fragment(&mut rng, k, &paths);
                    if let Some(i) = at {
                        next.remove(i);
                    }
                    removed.remove(k);
                    changed.retain(|c: &Fragment| c.key.as_str() != k);
                    changed.push(f.clone());
                    next.push(f);
                }
            }
        }
        let want = Manifest::build(next.clone(), NEXT);
        let edits = removed.len() + changed.len();
        let old_pages = files(&before);
        let got = splice(&old, &removed, changed, NEXT, "catalogue", None, &old_pages);
        match (want, got) {
            (Ok(_), Ok(got)) => {
                assert_eq!(resolved(&got, &before), full(&next, NEXT));
                // Unchanged runs are borrowed whole, not line by line.
                assert!(
                    got.manifest.len() <= 3 + 8 * (edits + 1),
                    "{} pieces for {edits} edits",
                    got.manifest.len()
                );
                spliced += 1;
            }
            (Err(_), Err(_)) => {}
            (Ok(_), Err(NotSpliced::MayClaimTwice(_))) => {}
            (want, got) => panic!("full {want:?}, spliced {got:?}"),
        }
    }
    assert!(spliced > 250, "only {spliced} of 400 rounds spliced");
}

/// `manifest.json`'s exact bytes, from [`manifest_json`].
mod manifest_layout {
    use super::super::manifest_json;
    use super::fragment;
    use crate::core::manifest::Manifest;
    use crate::core::rng::Rng;
    use serde_json::{Map, Value};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    #[test]
    fn the_manifest_has_the_contract_s_exact_layout() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment("notes", r#"{"artifacts": [{"path": "b.md"}]}"#),
                fragment(
                    "issue-2",
                    r#"{"issue": 2, "run": {"id": 77}, "artifacts": [{"path": "a.md", "kind": "summary"}]}"#,
                ),
            ],
            EMPTY_TREE,
        )?;
        let expected = r#"{
  "$schema": "urn:git-catalogue:schema:manifest:1",
  "version": 1,
  "source": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
  "fragments": {
    "issue-2": {
      "issue": 2,
      "run": {
        "id": 77
      }
    },
    "notes": {}
  },
  "artifacts": [
    {"fragment":"issue-2","issue":2,"path":"a.md","kind":"summary"},
    {"fragment":"notes","path":"b.md"}
  ]
}
"#;
        assert_eq!(String::from_utf8(manifest_json(&manifest))?, expected);
        Ok(())
    }

    #[test]
    fn a_manifest_without_fragments_has_empty_fragments_and_artifacts() -> TestResult {
        let manifest = Manifest::build(vec![], EMPTY_TREE)?;
        let expected = "{\n  \"$schema\": \"urn:git-catalogue:schema:manifest:1\",\n  \"version\": 1,\n  \"source\": \"4b825dc642cb6eb9a060e54bf8d69288fbee4904\",\n  \"fragments\": {},\n  \"artifacts\": []\n}\n";
        assert_eq!(String::from_utf8(manifest_json(&manifest))?, expected);
        assert_eq!(manifest.artifact_count(), 0);
        assert_eq!(manifest.source(), EMPTY_TREE);
        Ok(())
    }

    #[test]
    fn fragments_without_artifacts_still_appear_and_artifacts_can_be_empty() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment("b", r#"{"issue": "X-1", "artifacts": []}"#),
                fragment("a", r#"{"artifacts": []}"#),
            ],
            "abc",
        )?;
        let text = String::from_utf8(manifest_json(&manifest))?;
        assert!(text.contains("\"fragments\": {\n    \"a\": {},\n    \"b\": {\n      \"issue\": \"X-1\"\n    }\n  },\n  \"artifacts\": []\n}\n"), "{text}");
        Ok(())
    }

    #[test]
    fn the_manifest_is_valid_json_that_parses_back_to_the_same_values() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment(
                    "issue-3",
                    r#"{"issue": 3, "big": 123456789012345678901234567890.000, "nested": {"l": [1, {"m": "x\ny"}], "e": {}, "a": []},
                        "artifacts": [{"path": "q'uote/ü (1).md", "title": "line\nbreak \u0000 \"q\"", "n": 1e-7}]}"#,
                ),
                fragment("empty", r#"{"artifacts": []}"#),
            ],
            EMPTY_TREE,
        )?;
        let bytes = manifest_json(&manifest);
        let parsed: Value = serde_json::from_slice(&bytes)?;
        let mut fragments = Map::new();
        for f in manifest.fragments() {
            fragments.insert(f.key.to_string(), Value::Object(f.fields.clone()));
        }
        let artifacts: Vec<Value> = manifest
            .artifacts()
            .map(|a| Value::Object(a.to_value()))
            .collect();
        let expected = serde_json::json!({
            "$schema": "urn:git-catalogue:schema:manifest:1",
            "version": 1,
            "source": EMPTY_TREE,
            "fragments": fragments,
            "artifacts": artifacts,
        });
        assert_eq!(parsed, expected);
        assert_eq!(
            parsed["fragments"]["issue-3"]["big"].to_string(),
            "123456789012345678901234567890.000"
        );
        assert_eq!(parsed["artifacts"][0]["n"].to_string(), "1e-7");
        // One line per artifact, whatever its strings hold.
        let text = String::from_utf8(bytes)?;
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("    {\"fragment\""))
                .count(),
            1
        );
        Ok(())
    }

    #[test]
    fn any_input_order_gives_byte_identical_manifests() -> TestResult {
        let mut fragments = vec![
            fragment(
                "issue-2",
                r#"{"issue": 2, "artifacts": [{"path": "d/2b"}, {"path": "d/2a"}]}"#,
            ),
            fragment(
                "issue-10",
                r#"{"issue": 10, "run": {"id": 1}, "artifacts": [{"path": "d/10"}]}"#,
            ),
            fragment(
                "issue-10a",
                r#"{"artifacts": [{"path": "d/10a", "kind": "k"}]}"#,
            ),
            fragment("issue-007", r#"{"artifacts": [{"path": "d/007"}]}"#),
            fragment("issue-7", r#"{"artifacts": [{"path": "d/7"}]}"#),
            fragment("notes", r#"{"artifacts": []}"#),
            fragment("Zeta", r#"{"artifacts": [{"path": "z"}]}"#),
            fragment("a-1", r#"{"artifacts": [{"path": "a-1"}]}"#),
            fragment("a1", r#"{"artifacts": [{"path": "a1"}]}"#),
            fragment("a.1", r#"{"artifacts": [{"path": "a.1"}]}"#),
            fragment(
                "x",
                r#"{"artifacts": [{"path": "x/3"}, {"path": "x/1"}, {"path": "x/2"}]}"#,
            ),
        ];
        let reference =
            Manifest::build(fragments.clone(), EMPTY_TREE).map(|m| manifest_json(&m))?;
        let mut rng = Rng::seeded(0x9E37_79B9_7F4A_7C15);
        for _ in 0..64 {
            rng.shuffle(&mut fragments);
            let manifest = Manifest::build(fragments.clone(), EMPTY_TREE)?;
            assert_eq!(manifest_json(&manifest), reference);
        }
        let keys: Vec<_> = Manifest::build(fragments, EMPTY_TREE)?
            .fragments()
            .iter()
            .map(|f| f.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "Zeta",
                "a-1",
                "a.1",
                "a1",
                "issue-2",
                "issue-7",
                "issue-007",
                "issue-10",
                "issue-10a",
                "notes",
                "x"
            ]
        );
        Ok(())
    }
}

/// Over several pages, random change sets (adds, modifications, deletions
/// anywhere) splice to the bytes of a full rebuild, every page included,
/// and only the pages that differ are rendered.
#[test]
fn splices_over_many_pages_equal_full_rebuilds() {
    let mut rng = Rng::seeded(0x9e37_79b9_7f4a_7c15);
    let body = |rng: &mut Rng, n: usize| {
        fragment(
            &format!("issue-{n}"),
            &format!(
                r#"{{"issue": {n}, "artifacts": [{{"path": "docs/{n}.md", "kind": "k{}", "title": "v{}"}}]}}"#,
                rng.below(5),
                rng.below(1000)
            ),
        )
    };
    let mut current: Vec<Fragment> = Vec::new();
    for n in 1..=2500 {
        if rng.below(4) != 0 {
            current.push(body(&mut rng, n));
        }
    }
    let mut before = full(&current, TREE);
    for round in 0..12 {
        let source = if round % 2 == 0 { NEXT } else { TREE };
        let old = Old::cut(&before.manifest, Some(&before.index)).expect("cut");
        let mut removed_keys: Vec<String> = Vec::new();
        let mut changed = Vec::new();
        let mut next = current.clone();
        for _ in 0..1 + rng.below(30) {
            let n = 1 + rng.below(2600);
            let key = format!("issue-{n}");
            if changed.iter().any(|f: &Fragment| f.key.as_str() == key)
                || removed_keys.contains(&key)
            {
                continue;
            }
            let at = next.iter().position(|f| f.key.as_str() == key);
            match (rng.below(3), at) {
                (0, Some(i)) => {
                    next.remove(i);
                    removed_keys.push(key);
                }
                (_, at) => {
                    let f = body(&mut rng, n);
                    if let Some(i) = at {
                        next.remove(i);
                    }
                    changed.push(f.clone());
                    next.push(f);
                }
            }
        }
        let removed: BTreeSet<&str> = removed_keys.iter().map(String::as_str).collect();
        let got = splice(
            &old,
            &removed,
            changed,
            source,
            "catalogue",
            None,
            &files(&before),
        )
        .expect("spliced");
        let want = full(&next, source);
        assert_eq!(resolved(&got, &before), want, "round {round}");
        let rendered = got.pages.iter().filter(|p| p.bytes.is_some()).count();
        let differ = want
            .pages
            .iter()
            .filter(|p| !before.pages.contains(p))
            .count();
        assert_eq!(rendered, differ, "round {round}");
        current = next;
        before = want;
    }
}

/// What a writer hands out as it goes ([`Writer::take`]), put back in the
/// documented order, is the files of a writer that held everything: over
/// many pages, with takes at random points, with and without conflicts.
#[test]
fn taken_pieces_assemble_to_the_whole_files() {
    let mut rng = Rng::seeded(0x005e_ed0f_7a4e);
    let mut with_conflicts = 0;
    for round in 0..12 {
        let n = if round == 0 { 2500 } else { rng.below(3000) };
        // Round 0 has no path claimed twice; later ones may.
        let paths = if round == 0 {
            vec!["only"]
        } else {
            vec!["docs", "src"]
        };
        let mut set: Vec<Fragment> = (0..n)
            .map(|i| random_fragment(&mut rng, &format!("issue-{i}"), &paths))
            .collect();
        if round == 0 {
            for f in &mut set {
                f.artifacts.retain(|a| {
                    a.get("path")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.matches('/').count() == 2)
                });
            }
        }
        set.sort_by(|a, b| crate::core::key::natural_cmp(a.key.as_str(), b.key.as_str()));
        let mut one = Writer::new(TREE, Some("catalogue"), true);
        set.iter().for_each(|f| one.push(f));
        let want = one.finish();
        if round == 0 {
            assert!(want.artifacts > 0 && want.conflicts.is_empty(), "round 0");
        }
        // A writer that cuts no page as it goes (as splices use) makes the
        // same pages: every claim is on them, conflicts or not.
        let mut uncut = Writer::new(TREE, Some("catalogue"), false);
        set.iter().for_each(|f| uncut.push(f));
        assert!(uncut.finish().pages == want.pages, "round {round}, uncut");
        let mut main = Writer::new(TREE, Some("catalogue"), true);
        let mut taken = Taken::default();
        let mut takes = 0;
        for chunk in set.chunks(1 + rng.below(300)) {
            let mut batch = Writer::batch(Some("catalogue"));
            chunk.iter().for_each(|f| batch.push(f));
            main.absorb(batch);
            if round == 0 || rng.below(3) == 0 {
                let t = main.take();
                taken.blocks.extend(t.blocks);
                taken.lines.extend(t.lines);
                taken.pages.extend(t.pages);
                takes += 1;
            }
        }
        if round == 0 {
            assert!(
                !main.needs_lines_back() && takes > 0,
                "round 0 keeps its lines"
            );
        }
        if main.needs_lines_back() {
            with_conflicts += 1;
            main.give_back_lines(std::mem::take(&mut taken.lines));
        }
        assert!(!main.needs_lines_back());
        let got = main.finish_rope();
        let mut manifest = taken.blocks.clone();
        manifest.extend_from_slice(&got.manifest[0]);
        manifest.extend_from_slice(&taken.lines);
        for piece in &got.manifest[1..] {
            manifest.extend_from_slice(piece);
        }
        assert_eq!(
            String::from_utf8_lossy(&manifest),
            String::from_utf8_lossy(&want.manifest),
            "round {round}, {n} fragments, {takes} takes"
        );
        assert_eq!(got.index.concat(), want.index, "round {round}");
        let mut pages = taken.pages;
        pages.extend(
            got.pages
                .into_iter()
                .map(|p| (p.file, p.bytes.expect("a full writer's pages have bytes"))),
        );
        assert_eq!(
            pages,
            want.pages,
            "round {round}, {} pages",
            want.pages.len()
        );
        assert_eq!(got.conflicts, want.conflicts, "round {round}");
    }
    assert!(
        with_conflicts > 3,
        "only {with_conflicts} rounds gave lines back"
    );
}
