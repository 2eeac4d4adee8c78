//! Hostile paths and keys: fragments arrive in pull requests, so every
//! artifact path, `--add` destination and fragment name is
//! attacker-controlled. What git itself refuses is refused with exit 2,
//! wherever it comes from (`--artifact`, `--add`, `--fragment`, or a blob
//! already committed to the branch), naming the offender and writing
//! nothing; `refuses_bad_input.rs` holds the plainer cases (`..`, `/abs`,
//! `.git`).
//!
//! git is the oracle: each path of the table is first shown to be refused by
//! `git update-index` with core.protectNTFS and core.protectHFS on (as git is
//! on Windows and macOS), so the table cannot drift into testing what git
//! accepts.

use anyhow::{ensure, Result};
use serde_json::json;

use crate::support::{
    assert_record_refused, assert_refusal, every_case, every_case_both_ways, names, str_field,
    Content, Repo,
};

/// Paths git refuses for a file: `.git` in disguise (case, NTFS 8.3 short
/// name, alternate data streams, trailing dots and spaces, HFS+-ignored
/// zero-width code points and byte-order mark) at any depth, and paths with
/// empty, `.` or `..` segments.
const GIT_REFUSES: &[&str] = &[
    ".GiT",
    "docs/.gIT/hooks/pre-commit",
    ".git::$INDEX_ALLOCATION",
    ".git::$INDEX_ALLOCATION/config",
    "docs/.GIT::$INDEX_ALLOCATION/x",
    ".git:stream",
    "git~1",
    "Git~1/config",
    "docs/git~1/x",
    ".git.",
    ".git. .",
    ".git ",
    "docs/.git./x",
    ".g\u{200c}it",
    ".git\u{200c}",
    ".gI\u{200d}t/config",
    "\u{feff}.git/config",
    "docs/.\u{200e}git/x",
    "a//b",
    "a/",
    "a/./b",
    "a/../b",
];

/// Refused although git on Linux takes them: a backslash is a separator to
/// git on Windows, and catalogue paths are `/`-separated on every platform.
const TOOL_REFUSES: &[&str] = &["a\\b", "docs\\..\\..\\x", ".git\\config", "\\abs"];

/// Every path the tool must refuse: git's table, then the tool's own.
fn every_refused_path() -> Vec<&'static str> {
    GIT_REFUSES.iter().chain(TOOL_REFUSES).copied().collect()
}

#[test]
fn the_table_is_what_git_itself_refuses() -> Result<()> {
    let repo = Repo::new_bare()?;
    every_case(GIT_REFUSES, |path| {
        ensure!(
            repo.git_refuses_path(path, "100644")?,
            "git accepts {path:?}"
        );
        Ok(())
    })?;
    // And the control: git takes these, so the oracle can tell.
    for ok in ["docs/a.md", "git~2", ".gitx", "a\\b", "con", "a:b"] {
        ensure!(!repo.git_refuses_path(ok, "100644")?, "git refuses {ok:?}");
    }
    Ok(())
}

#[test]
fn a_path_git_refuses_is_refused_as_an_artifact_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    every_case_both_ways(&every_refused_path(), |path, direct| {
        let args = ["--issue", "1", "--artifact", path];
        assert_record_refused(&repo, &args, direct, "invalid_path", path)
    })
}

#[test]
fn a_path_git_refuses_is_refused_as_an_add_destination_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    let src = repo.sandbox_file("payload.md", b"payload\n")?;
    every_case_both_ways(&every_refused_path(), |dest, direct| {
        let add = format!("{}={dest}", src.display());
        let args = ["--issue", "1", "--add", &add];
        assert_record_refused(&repo, &args, direct, "invalid_path", dest)
    })
}

#[test]
fn a_path_git_refuses_is_refused_in_a_fragment_file_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    every_case(&every_refused_path(), |path| {
        let body = json!({"issue": 1, "artifacts": [{"path": path}]}).to_string();
        let file = repo.sandbox_file("hostile.json", body.as_bytes())?;
        let file = file.display().to_string();
        let args = ["record", "--direct", "--issue", "1", "--fragment", &file];
        assert_refusal(&repo, &args, 2, "invalid_path", &[path]).map(drop)
    })
}

#[test]
fn a_path_git_refuses_in_a_fragment_on_the_branch_stops_consolidate_and_fails_check() -> Result<()>
{
    every_case(&every_refused_path(), |path| {
        // A pull request merged a fragment no `record` would have written.
        let repo = Repo::bare_recorded(&[(1, "ok.md")])?;
        let body = json!({"issue": 2, "artifacts": [{"path": path}]}).to_string();
        let fragment = "catalogue/fragments/issue-2.json";
        repo.commit_by_hand(
            &[(fragment, Content::File(body.as_bytes()))],
            "Merge a hostile fragment",
        )?;
        let error = assert_refusal(&repo, &["consolidate"], 2, "invalid_fragment", &[fragment])?;
        let message = str_field(&error, "message")?;
        ensure!(
            names(message, path),
            "the message does not name {path:?}: {message}"
        );
        ensure!(
            error["blob"] == repo.rev(&format!("main:{fragment}"))?.as_str(),
            "{error}"
        );
        // check and list read it too, and say so.
        let error = assert_refusal(&repo, &["check"], 1, "invalid_fragment", &[fragment])?;
        ensure!(names(str_field(&error, "message")?, path), "{error}");
        assert_refusal(
            &repo,
            &["check", "--fragments-only"],
            1,
            "invalid_fragment",
            &[fragment],
        )?;
        assert_refusal(&repo, &["list"], 2, "invalid_fragment", &[fragment])?;
        Ok(())
    })
}

/// `.gitmodules` in every spelling git gives it: git refuses each of these
/// as a symlink, and parses a blob by any of these names in `git fsck`.
const GITMODULES: &[&str] = &[
    ".gitmodules",
    ".GitModules",
    "docs/.gitmodules",
    "gitmod~1",
    "GITMOD~4",
    "GI7EBA~1",
    ".gitmodules.",
    ".gitmodules ",
    ".gitmodules::$DATA",
    ".gitmodules\u{200c}",
    ".gitmodules/x",
];

#[test]
fn a_gitmodules_add_destination_in_any_spelling_is_refused() -> Result<()> {
    let repo = Repo::new_bare()?;
    // Why: a `.gitmodules` blob at any depth is checked by `git fsck`, and a
    // hostile one fails it (and forges refuse the push).
    let hostile = b"[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n";
    let probe = Repo::new_bare()?;
    probe.commit_by_hand(
        &[("docs/.gitmodules", Content::File(hostile))],
        "A hostile .gitmodules",
    )?;
    ensure!(probe.fsck().is_err(), "git fsck took a hostile .gitmodules");

    for name in GITMODULES.iter().filter(|n| !n.contains('/')) {
        ensure!(
            repo.git_refuses_path(name, "120000")?,
            "git takes a {name:?} symlink"
        );
    }
    let src = repo.sandbox_file("modules", hostile)?;
    every_case_both_ways(GITMODULES, |dest, direct| {
        let add = format!("{}={dest}", src.display());
        let args = ["--issue", "1", "--add", &add];
        assert_record_refused(&repo, &args, direct, "invalid_path", dest)
    })?;
    // Names that only look alike are ordinary files, to git too.
    for dest in ["gitmodules", ".gitmodulesx", "gitmod~5"] {
        ensure!(
            !repo.git_refuses_path(dest, "120000")?,
            "git refuses a {dest:?} symlink"
        );
        let add = format!("{}={dest}", src.display());
        repo.catalogue_ok(&["record", "--issue", "1", "--add", &add])?;
    }
    Ok(())
}

/// File names in the fragments folder whose key is outside
/// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, as raw tree entry names.
fn bad_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "bad key",
        "-lead",
        ".hidden",
        "",
        ".",
        "_under",
        "\u{fc}ber",
        "a\u{200c}b",
        "tab\tkey",
        "new\nline",
        "esc\u{1b}[31mred",
        "a:b",
        "a*b",
        "a~1",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push("k".repeat(129).into_bytes());
    names.push(b"not-utf8-\xff".to_vec());
    names
        .into_iter()
        .map(|mut n| {
            n.extend_from_slice(b".json");
            n
        })
        .collect()
}

#[test]
fn a_fragment_name_outside_the_key_pattern_is_refused_by_every_command_that_reads_it() -> Result<()>
{
    let cases = bad_names();
    every_case(&cases, |raw| {
        let repo = Repo::bare_consolidated(&[(1, "ok.md")])?;
        let mut path = b"catalogue/fragments/".to_vec();
        path.extend_from_slice(raw);
        let commit =
            repo.commit_raw_path(&path, br#"{"artifacts": [{"path": "k.md"}]}"#, "Plumbing")?;
        // What a message can show of the name: the part before any control
        // character (which may be escaped), lossy for non-UTF-8.
        let shown = String::from_utf8_lossy(raw).into_owned();
        let stem: String = shown
            .chars()
            .take_while(|c| !c.is_control() && *c != '\u{fffd}')
            .collect();
        let named = [stem.as_str()];
        let expect_key = |error: &serde_json::Value| -> Result<()> {
            let in_path = error["path"].as_str().unwrap_or_default();
            ensure!(
                in_path.starts_with("catalogue/fragments/") && in_path.contains(&stem),
                "{error}"
            );
            Ok(())
        };
        // Every reader, with the exit status a finding gives it.
        let readers: [(&[&str], i32); 7] = [
            (&["consolidate"], 2),
            (&["consolidate", "--dry-run"], 2),
            (&["check"], 1),
            (&["check", "--fragments-only"], 1),
            (&["list"], 2),
            (&["repair"], 2),
            (&["repair", "--dry-run"], 2),
        ];
        for (args, code) in readers {
            expect_key(&assert_refusal(&repo, args, code, "invalid_key", &named)?)?;
        }
        // verify --history lists the commit that brought it on stdout, and
        // its --json error names the commit and the path.
        let before = repo.snapshot()?;
        let run = repo.catalogue(&["verify", "--history"])?;
        run.expect(1)?;
        ensure!(
            run.stdout.contains(&commit) && names(&run.stdout, &stem),
            "{run:?}"
        );
        let run = repo.catalogue(&["--json", "verify", "--history"])?;
        run.expect(1)?;
        let error = run.json()?["error"].clone();
        ensure!(
            error["kind"] == "invalid_key" && error["commit"] == commit.as_str(),
            "{error}"
        );
        expect_key(&error)?;
        ensure!(repo.snapshot()? == before, "verify wrote something");
        Ok(())
    })
}
