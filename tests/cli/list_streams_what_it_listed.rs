//! `list` streams: each fragment is read, its rows (or `--json` entries)
//! spooled and the fragment dropped, so its memory does not grow with the
//! catalogue. What it prints is byte for byte what it printed when it held
//! the whole manifest: a contested path's claims left out, `--issue` kept to
//! its fragments yet every fragment claiming, numbers as written.

use anyhow::Result;
use serde_json::Value;

use crate::support::{Content, Repo};

/// Two fragments claim `shared.md`, one lists `twice.md` twice; numbers
/// serde_json would respell, a string issue, control characters, a path to
/// escape, a fragment without artifacts and a file that is skipped. Tree
/// order (`issue-10`, `issue-2`, `issue-9`) is not natural order.
const FRAGMENTS: &[(&str, &str)] = &[
    (
        "catalogue/fragments/issue-10.json",
        r##"{"issue": 10, "n": 1e400, "run": {"x": -0.0, "big": 123456789012345678901234567890}, "artifacts": [{"path": "b.md", "kind": "k", "title": "T\tab\u0007"}, {"path": "a.md", "bytes": 1.10}]}"##,
    ),
    (
        "catalogue/fragments/issue-2.json",
        r##"{"issue": "#10", "artifacts": [{"path": "shared.md", "title": "x"}, {"path": "c \"q\"/\u00e9.md", "kind": 7}]}"##,
    ),
    (
        "catalogue/fragments/issue-9.json",
        r##"{"issue": 9, "artifacts": [{"path": "twice.md"}, {"path": "shared.md"}, {"path": "twice.md", "kind": "again"}, {"path": "z.md"}]}"##,
    ),
    (
        "catalogue/fragments/notes.json",
        r##"{"note": "\u2028 line\nbreak", "artifacts": []}"##,
    ),
    ("catalogue/fragments/README.txt", "not a fragment\n"),
];

fn contested() -> Result<(Repo, String)> {
    let repo = Repo::new_bare()?;
    let entries: Vec<(&str, Content<'_>)> = FRAGMENTS
        .iter()
        .map(|(path, text)| (*path, Content::File(text.as_bytes())))
        .collect();
    let commit = repo.commit_by_hand(&entries, "fragments by hand")?;
    Ok((repo, commit))
}

const WARNINGS: &str = "warning: ignoring `catalogue/fragments/README.txt`: not a `.json` fragment
warning: artifact path `shared.md` is claimed by both fragment `issue-2` and fragment `issue-9`; its claims are not listed until one goes (see `git catalogue check`)
warning: artifact path `twice.md` is claimed by both fragment `issue-9` and fragment `issue-9`; its claims are not listed until one goes (see `git catalogue check`)
";

/// `list --json`'s `conflicts`, the same with or without `--issue`.
const CONFLICTS: &str = r##""conflicts":[{"path":"shared.md","fragments":["issue-2","issue-9"],"change":"issue-9","change_path":"catalogue/fragments/issue-9.json","error":{"kind":"duplicate_path","message":"artifact path `shared.md` is claimed by both fragment `issue-2` and fragment `issue-9`. Both claims stay listed under `conflicts` in manifest.json and at the top of index.md until one goes: re-record fragment `issue-9` (the later in natural key order; either will do) without that path with `git catalogue record --key issue-9 ...`, or delete its fragment file","path":"shared.md","key":"issue-9","fragments":["issue-2","issue-9"]}},{"path":"twice.md","fragments":["issue-9","issue-9"],"change":"issue-9","change_path":"catalogue/fragments/issue-9.json","error":{"kind":"duplicate_path","message":"artifact path `twice.md` is claimed by both fragment `issue-9` and fragment `issue-9`. Both claims stay listed under `conflicts` in manifest.json and at the top of index.md until one goes: re-record fragment `issue-9` (the later in natural key order; either will do) without that path with `git catalogue record --key issue-9 ...`, or delete its fragment file","path":"twice.md","key":"issue-9","fragments":["issue-9","issue-9"]}}]"##;

#[test]
fn list_prints_exactly_what_the_whole_manifest_listed() -> Result<()> {
    let (repo, commit) = contested()?;

    let run = repo.catalogue(&["list"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        "issue-2\t#10\tc \"q\"/é.md\t7\t-\n\
         issue-9\t9\tz.md\t-\t-\n\
         issue-10\t10\ta.md\t-\t-\n\
         issue-10\t10\tb.md\tk\tT ab \n"
    );
    assert_eq!(
        run.stderr,
        format!("{WARNINGS}4 artifact(s) in 4 fragment(s) at {commit}\n")
    );

    // --issue 10: the string issue "#10" is issue 10 too; issue-9 is not
    // listed, yet its claims still contest `shared.md`.
    let run = repo.catalogue(&["list", "--issue", "10"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        "issue-2\t#10\tc \"q\"/é.md\t7\t-\n\
         issue-10\t10\ta.md\t-\t-\n\
         issue-10\t10\tb.md\tk\tT ab \n"
    );
    assert_eq!(
        run.stderr,
        format!("{WARNINGS}3 artifact(s) in 2 fragment(s) at {commit}\n")
    );

    let run = repo.catalogue(&["--json", "list"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        format!(
            r##"{{"ok":true,"command":"list","commit":"{commit}","fragments":{{"issue-2":{{"issue":"#10"}},"issue-9":{{"issue":9}},"issue-10":{{"issue":10,"n":1e400,"run":{{"x":-0.0,"big":123456789012345678901234567890}}}},"notes":{{"note":"<LS> line\nbreak"}}}},"artifacts":[{{"fragment":"issue-2","issue":"#10","path":"c \"q\"/é.md","kind":7}},{{"fragment":"issue-9","issue":9,"path":"z.md"}},{{"fragment":"issue-10","issue":10,"path":"a.md","bytes":1.10}},{{"fragment":"issue-10","issue":10,"path":"b.md","kind":"k","title":"T\tab\u0007"}}],{CONFLICTS},"branch":"refs/heads/main","branch_from":"HEAD"}}
"##
        )
        // U+2028 as written: JSON does not escape it.
        .replace("<LS>", "\u{2028}")
    );

    let run = repo.catalogue(&["--json", "list", "--issue", "10"])?;
    run.expect(0)?;
    assert_eq!(
        run.stdout,
        format!(
            r##"{{"ok":true,"command":"list","commit":"{commit}","fragments":{{"issue-2":{{"issue":"#10"}},"issue-10":{{"issue":10,"n":1e400,"run":{{"x":-0.0,"big":123456789012345678901234567890}}}}}},"artifacts":[{{"fragment":"issue-2","issue":"#10","path":"c \"q\"/é.md","kind":7}},{{"fragment":"issue-10","issue":10,"path":"a.md","bytes":1.10}},{{"fragment":"issue-10","issue":10,"path":"b.md","kind":"k","title":"T\tab\u0007"}}],{CONFLICTS},"branch":"refs/heads/main","branch_from":"HEAD"}}
"##
        )
    );

    // -v names the sizes of the spooled fields, as it did of the held ones.
    for args in [
        &["-v", "list", "--issue", "9"][..],
        &["-v", "--json", "list", "--issue", "9"],
    ] {
        let run = repo.catalogue(args)?;
        run.expect(0)?;
        assert_eq!(
            run.stderr,
            format!(
                "{WARNINGS}1 artifact(s) in 1 fragment(s) at {commit}\n\
                 commit: {commit}\n\
                 fragments: 1 entry\n\
                 artifacts: 1 item(s)\n\
                 conflicts: 2 item(s)\n\
                 branch: refs/heads/main\n\
                 branch_from: HEAD\n"
            ),
            "{args:?}"
        );
    }
    Ok(())
}

#[test]
fn a_listing_spooled_to_a_file_is_the_manifest_s_listing() -> Result<()> {
    // 24 fragments of 2,000 artifacts with long titles: some 18 MB of
    // `--json`, far more than a spool holds in memory, and paths that
    // overlap between neighbours, so that many are contested, thrice too.
    let repo = Repo::new_bare()?;
    let title = "t".repeat(300);
    let texts: Vec<(String, String)> = (1..=24u64)
        .map(|k| {
            let artifacts: Vec<String> = (0..2000u64)
                .map(|i| {
                    format!(
                        r##"{{"path": "p/{}.md", "kind": "k", "title": "{title}", "n": 1e5}}"##,
                        (k * 1499 + i * 7) % 40_000
                    )
                })
                .collect();
            (
                format!("catalogue/fragments/issue-{k}.json"),
                format!(
                    r##"{{"issue": {k}, "artifacts": [{}]}}"##,
                    artifacts.join(", ")
                ),
            )
        })
        .collect();
    let entries: Vec<(&str, Content<'_>)> = texts
        .iter()
        .map(|(path, text)| (path.as_str(), Content::File(text.as_bytes())))
        .collect();
    repo.commit_by_hand(&entries, "many fragments")?;

    let listed = repo.catalogue_ok(&["list"])?;
    let rows = repo.catalogue(&["list"])?;
    rows.expect(0)?;
    // Consolidation writes both files and fails on the conflicts (exit 2).
    repo.catalogue(&["consolidate"])?.expect(2)?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let artifacts = listed["artifacts"].as_array().cloned().unwrap_or_default();
    assert!(artifacts.len() > 10_000, "{} artifacts", artifacts.len());
    assert!(
        listed["conflicts"]
            .as_array()
            .is_some_and(|c| c.len() > 1000),
        "few conflicts"
    );
    assert_eq!(listed["artifacts"], manifest["artifacts"]);
    assert_eq!(rows.stdout.lines().count(), artifacts.len());
    let first = rows.stdout.lines().next().unwrap_or_default();
    let expected = format!(
        "{}\t{}\t{}\tk\t{title}",
        artifacts[0]["fragment"].as_str().unwrap_or_default(),
        artifacts[0]["issue"],
        artifacts[0]["path"].as_str().unwrap_or_default(),
    );
    assert_eq!(first, expected);
    // The numbers as written, in the spooled part too.
    let raw = repo.catalogue(&["--json", "list"])?;
    assert_eq!(
        raw.stdout.matches(r#","n":1e5}"#).count(),
        artifacts.len(),
        "numbers respelled"
    );
    let paths: Vec<&Value> = manifest["conflicts"]
        .as_array()
        .map(|c| c.iter().map(|c| &c["path"]).collect())
        .unwrap_or_default();
    let listed_paths: Vec<&Value> = listed["conflicts"]
        .as_array()
        .map(|c| c.iter().map(|c| &c["path"]).collect())
        .unwrap_or_default();
    assert_eq!(paths, listed_paths);
    Ok(())
}
