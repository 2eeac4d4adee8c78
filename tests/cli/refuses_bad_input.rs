//! Bad input: each case exits 2 with an error naming the offender, and
//! nothing is written, neither a ref nor an object file (README, exit
//! status 2), so that a producer's mistake never reaches the branch.

use anyhow::{ensure, Context, Result};

use crate::support::{
    assert_record_refused, assert_refusal, every_case, every_case_both_ways, fixture, known_kind,
    str_field, Content, Repo,
};

#[test]
fn bad_artifact_paths_are_refused_naming_the_path() -> Result<()> {
    let repo = Repo::new_bare()?;
    let paths = [
        "../x",
        "docs/../../x",
        "/abs",
        "/etc/passwd",
        "a//b",
        "a/./b",
        "a/../b",
        "./a",
        ".",
        "..",
        "docs/..",
        ".git/config",
        ".git",
        "docs/.git/x",
        ".GIT/x",
        "docs/.Git/hooks/pre-commit",
        "git~1/config",
        "GIT~1/config",
        ".git./x",
        "docs/.git.",
    ];
    every_case_both_ways(&paths, |path, direct| {
        let args = ["--issue", "1", "--artifact", path];
        assert_record_refused(&repo, &args, direct, "invalid_path", path)
    })?;
    // The empty path cannot be named in a message, but is refused all the same.
    let before = repo.snapshot()?;
    let (status, out) = repo.catalogue_json(&["record", "--issue", "1", "--artifact", ""])?;
    assert_eq!(status, 2, "{out}");
    assert_eq!(out["error"]["kind"], "invalid_path");
    assert_eq!(repo.snapshot()?, before);
    Ok(())
}

#[test]
fn control_characters_in_a_path_are_refused() -> Result<()> {
    let repo = Repo::new_bare()?;
    let paths = [
        "ctl\u{7}char.md",
        "tab\tchar.md",
        "new\nline.md",
        "del\u{7f}char.md",
        "esc\u{1b}[31mchar.md",
    ];
    every_case(&paths, |path| {
        let before = repo.snapshot()?;
        let run = repo.catalogue(&["--json", "record", "--issue", "1", "--artifact", path])?;
        run.expect(2)?;
        let error = run.json()?["error"].clone();
        // The offender is named, even if its control character is escaped.
        let prefix = path
            .split(|c: char| c.is_control())
            .next()
            .unwrap_or_default();
        ensure!(str_field(&error, "message")?.contains(prefix), "{run:?}");
        ensure!(run.stderr.contains(prefix), "{run:?}");
        // A raw escape sequence must not reach the terminal.
        ensure!(!run.stderr.contains('\u{1b}'), "{run:?}");
        ensure!(repo.snapshot()? == before, "something was written");
        ensure!(
            error["kind"] == "invalid_path",
            "error.kind is {} instead of \"invalid_path\"",
            error["kind"]
        );
        Ok(())
    })
}

#[test]
fn a_nul_in_a_fragment_file_s_path_is_refused() -> Result<()> {
    let repo = Repo::new_bare()?;
    let file = fixture("fragments/nul-in-path.json");
    let file = file.to_str().context("fixture path is UTF-8")?;
    let before = repo.snapshot()?;
    let run = repo.catalogue(&["--json", "record", "--issue", "1", "--fragment", file])?;
    run.expect(2)?;
    let error = run.json()?["error"].clone();
    let kind = str_field(&error, "kind")?;
    assert!(
        kind == "invalid_path" || kind == "invalid_fragment",
        "{run:?}"
    );
    assert!(
        str_field(&error, "message")?.contains("docs/nul"),
        "{run:?}"
    );
    assert_eq!(repo.snapshot()?, before);
    Ok(())
}

#[test]
fn bad_add_destinations_are_refused_before_anything_is_written() -> Result<()> {
    let repo = Repo::new_bare()?;
    let src = repo.sandbox_file("payload.md", b"payload\n")?;
    let dests = [
        "../escape.md",
        ".git/hooks/post-checkout",
        "a//b.md",
        "/abs.md",
        "GIT~1/x",
    ];
    every_case_both_ways(&dests, |dest, direct| {
        let add = format!("{}={dest}", src.display());
        let args = ["--issue", "1", "--add", &add];
        assert_record_refused(&repo, &args, direct, "invalid_path", dest)
    })
}

#[test]
fn add_destinations_that_cross_each_other_or_a_file_of_the_branch_write_nothing() -> Result<()> {
    let repo = Repo::new_bare()?;
    // `docs/a` is a file on main, so nothing may be placed below it.
    repo.commit_by_hand(&[("docs/a", Content::File(b"a file\n"))], "A file")?;
    let one = repo.sandbox_file("one.md", b"one\n")?;
    let two = repo.sandbox_file("two.md", b"two\n")?;
    let cases: [(&str, &str, &str); 3] = [
        // One destination inside another: the gix editor would silently drop one.
        ("out/x", "out/x/y", "out/x/y"),
        ("out/y/z", "out/y", "out/y/z"),
        // Below a file that the branch already has.
        ("docs/a/b", "docs/other", "docs/a/b"),
    ];
    every_case(&cases, |&(first, second, named)| {
        let add1 = format!("{}={first}", one.display());
        let add2 = format!("{}={second}", two.display());
        let args = [
            "record", "--direct", "--issue", "1", "--add", &add1, "--add", &add2,
        ];
        assert_refusal(&repo, &args, 2, "invalid_path", &[named]).map(drop)
    })
}

#[test]
fn bad_fragment_files_are_refused_naming_the_file() -> Result<()> {
    let repo = Repo::new_bare()?;
    let cases = [
        ("invalid-json.json", None),
        ("missing-artifacts.json", Some("artifacts")),
        ("artifacts-not-an-array.json", Some("artifacts")),
        ("not-an-object.json", None),
        ("artifact-without-path.json", Some("path")),
        ("reserved-fragment-field.json", Some("fragment")),
        ("reserved-issue-field.json", Some("issue")),
    ];
    every_case(&cases, |&(name, also_named)| {
        let file = fixture(&format!("fragments/{name}"));
        let file = file.to_str().context("fixture path is UTF-8")?;
        let args = ["record", "--issue", "1", "--fragment", file];
        let error = assert_refusal(&repo, &args, 2, "invalid_fragment", &[name])?;
        if let Some(word) = also_named {
            let message = str_field(&error, "message")?;
            ensure!(
                message.contains(word),
                "the message does not say {word:?}: {message}"
            );
        }
        Ok(())
    })
}

#[test]
fn invalid_json_on_standard_input_is_refused() -> Result<()> {
    let repo = Repo::new_bare()?;
    let before = repo.snapshot()?;
    let run = repo.catalogue_stdin(
        &[
            "--json",
            "record",
            "--direct",
            "--issue",
            "1",
            "--fragment",
            "-",
        ],
        b"{\"artifacts\": [",
    )?;
    run.expect(2)?;
    assert_eq!(run.json()?["error"]["kind"], "invalid_fragment", "{run:?}");
    assert_eq!(repo.snapshot()?, before);
    Ok(())
}

#[test]
fn bad_keys_are_refused_naming_the_key() -> Result<()> {
    let repo = Repo::new_bare()?;
    let long = "k".repeat(129);
    let keys = [
        "-x",
        "a/b",
        long.as_str(),
        ".hidden",
        "_under",
        "a b",
        "a:b",
        "a*b",
        "ü",
    ];
    every_case_both_ways(&keys, |key, direct| {
        let flag = format!("--key={key}");
        assert_record_refused(
            &repo,
            &[&flag, "--artifact", "a.md"],
            direct,
            "invalid_key",
            key,
        )
    })
}

#[test]
fn a_key_of_128_characters_is_accepted() -> Result<()> {
    let repo = Repo::new_bare()?;
    let key = format!("a{}", "b".repeat(127));
    repo.catalogue_ok(&["record", "--key", &key, "--artifact", "a.md"])?;
    assert!(repo.exists(&format!(
        "refs/heads/catalogue/{key}:catalogue/fragments/{key}.json"
    ))?);
    Ok(())
}

#[test]
fn keys_that_cannot_be_ref_names_are_refused_for_a_per_issue_ref() -> Result<()> {
    let repo = Repo::new_bare()?;
    every_case(&["a..b", "x.lock", "end."], |key| {
        let flag = format!("--key={key}");
        assert_record_refused(
            &repo,
            &[&flag, "--artifact", "a.md"],
            false,
            "invalid_key",
            key,
        )
    })
}

#[test]
fn bad_usage_exits_2_with_a_json_usage_error() -> Result<()> {
    let repo = Repo::new_bare()?;
    let cases: &[&[&str]] = &[
        &["record", "--artifact", "a.md"],
        &["record", "--issue", "0", "--artifact", "a.md"],
        &["record", "--issue", "-3", "--artifact", "a.md"],
        &["record", "--issue", "abc", "--artifact", "a.md"],
        &[
            "record",
            "--issue",
            "1",
            "--kind",
            "k",
            "--artifact",
            "a.md",
        ],
        &[
            "record",
            "--issue",
            "1",
            "--artifact",
            "a.md",
            "--kind",
            "k",
            "--kind",
            "l",
        ],
        &["record", "--issue", "1", "--add", "no-equals-sign"],
        &["consolidate", "--retries", "many"],
        &["no-such-command"],
    ];
    every_case(cases, |args| {
        let before = repo.snapshot()?;
        repo.catalogue(args)?.expect(2)?;
        let (status, out) = repo.catalogue_json(args)?;
        ensure!(status == 2, "--json: exit {status}: {out}");
        ensure!(out["error"]["kind"] == "usage", "{out}");
        ensure!(repo.snapshot()? == before, "something was written");
        Ok(())
    })
}

#[test]
fn a_missing_branch_makes_every_command_exit_4_naming_the_ref() -> Result<()> {
    // Only a branch that HEAD names and that has no commit yet is created by
    // `record` (see record_writes_one_fragment.rs); a mistyped one must not start a new history.
    let repo = Repo::new_bare()?;
    let cases: &[&[&str]] = &[
        &["record", "--direct", "--branch", "nope", "--issue", "1"],
        &["record", "--branch", "nope", "--issue", "1"],
        &["consolidate", "--branch", "nope"],
        &["check", "--branch", "nope"],
        &["list", "--branch", "nope"],
    ];
    every_case(cases, |args| {
        assert_refusal(&repo, args, 4, "not_found", &["refs/heads/nope"]).map(drop)
    })
}

#[test]
fn a_path_claimed_by_two_fragments_fails_consolidation_naming_both() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "docs/shared.md")])?;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/issue-2.json",
            Content::File(br#"{"issue": 2, "artifacts": [{"path": "docs/own.md"}, {"path": "docs/shared.md"}]}"#),
        )],
        "Merge a fragment that claims a path issue-1 already has",
    )?;
    // Exit 2 naming both, after committing the rest (tests/cli/conflicts_never_block.rs).
    let (code, out) = repo.catalogue_json(&["consolidate"])?;
    assert_eq!(code, 2, "{out}");
    let error = &out["error"];
    assert_eq!(error["kind"], "duplicate_path", "{out}");
    assert_eq!(error["path"], "docs/shared.md", "{out}");
    let message = str_field(error, "message")?;
    assert!(
        message.contains("issue-1") && message.contains("issue-2"),
        "{error}"
    );

    for args in [&["check"][..], &["check", "--fragments-only"][..]] {
        let run = repo.catalogue(args)?;
        run.expect(1)?;
        assert!(run.stderr.contains("docs/shared.md"), "{run:?}");
        let (status, out) = repo.catalogue_json(args)?;
        assert_eq!(status, 1);
        assert_eq!(out["valid"], false);
        let problems = out["problems"].to_string();
        assert!(
            problems.contains("duplicate_path") && problems.contains("docs/shared.md"),
            "{out}"
        );
    }
    Ok(())
}

/// Commit `content` by hand at `catalogue/fragments/<name>`, next to a valid
/// fragment, then require that `consolidate` refuses (exit 2) naming `named`
/// in stderr, `error.message` and `error.path`, writing nothing, and that
/// `check` exits 1 naming it too.
fn assert_fragments_folder_refused(name: &str, content: Content<'_>, named: &str) -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "docs/shared.md")])?;
    let path = format!("catalogue/fragments/{name}");
    repo.commit_by_hand(
        &[(path.as_str(), content)],
        "Commit something odd into the fragments folder by hand",
    )?;
    let before = repo.snapshot()?;
    let run = repo.catalogue(&["consolidate"])?;
    run.expect(2)?;
    assert!(
        run.stderr.contains(named),
        "stderr does not name {named:?}: {run:?}"
    );
    let run = repo.catalogue(&["--json", "consolidate"])?;
    run.expect(2)?;
    let error = run.json()?["error"].clone();
    assert!(str_field(&error, "message")?.contains(named), "{run:?}");
    assert!(
        error["path"].as_str().is_some_and(|p| p.contains(named)),
        "error.path does not name {named:?}: {run:?}"
    );
    assert_eq!(
        repo.snapshot()?,
        before,
        "a refused consolidate wrote something"
    );
    let check = repo.catalogue(&["check"])?;
    check.expect(1)?;
    assert!(check.stderr.contains(named), "{check:?}");
    // Last, so that everything above is known to hold when only this fails.
    known_kind(&error)
}

#[test]
fn a_fragment_blob_over_one_mebibyte_is_refused_naming_it() -> Result<()> {
    assert_fragments_folder_refused(
        "huge.json",
        Content::File(&padded_fragment((1 << 20) + 1)),
        "huge.json",
    )
}

#[test]
fn a_fragment_blob_of_exactly_one_mebibyte_is_accepted() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "docs/shared.md")])?;
    let bytes = padded_fragment(1 << 20);
    assert_eq!(bytes.len(), 1 << 20);
    repo.commit_by_hand(
        &[("catalogue/fragments/big.json", Content::File(&bytes))],
        "A big fragment",
    )?;
    repo.consolidate()?;
    let manifest = repo.text("main:catalogue/manifest.json")?;
    assert!(
        manifest.contains("\"big.md\""),
        "the 1 MiB fragment is not in the manifest"
    );
    repo.catalogue(&["check"])?.expect(0)?;
    Ok(())
}

/// A valid fragment of exactly `size` bytes.
fn padded_fragment(size: usize) -> Vec<u8> {
    let head = br#"{"artifacts": [{"path": "big.md", "pad": ""#;
    let tail = br#""}]}"#;
    let mut bytes = head.to_vec();
    bytes.resize(size - tail.len(), b'x');
    bytes.extend_from_slice(tail);
    bytes
}

#[test]
fn a_symlink_in_the_fragments_folder_is_refused_not_followed() -> Result<()> {
    assert_fragments_folder_refused("link.json", Content::Symlink("issue-1.json"), "link.json")
}

#[test]
fn a_submodule_in_the_fragments_folder_is_refused() -> Result<()> {
    // Any commit id does for a gitlink; git never follows it.
    assert_fragments_folder_refused(
        "sub.json",
        Content::Gitlink("1111111111111111111111111111111111111111"),
        "sub.json",
    )
}

#[test]
fn a_sub_folder_in_the_fragments_folder_is_refused() -> Result<()> {
    assert_fragments_folder_refused(
        "nested/issue-5.json",
        Content::File(br#"{"artifacts": [{"path": "n.md"}]}"#),
        "nested",
    )
}

#[test]
fn a_json_file_with_an_invalid_key_in_the_fragments_folder_is_refused() -> Result<()> {
    assert_fragments_folder_refused(
        "bad key.json",
        Content::File(br#"{"artifacts": [{"path": "k.md"}]}"#),
        "bad key.json",
    )
}

#[test]
fn an_invalid_fragment_committed_to_the_branch_is_refused_naming_it() -> Result<()> {
    assert_fragments_folder_refused(
        "broken.json",
        Content::File(b"{\"artifacts\": [{\"path\": \"../up\"}]}"),
        "broken.json",
    )?;
    assert_fragments_folder_refused(
        "garbage.json",
        Content::File(b"<<<<<<< HEAD\n"),
        "garbage.json",
    )
}

#[test]
fn a_non_json_file_in_the_fragments_folder_is_ignored_with_a_warning() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "docs/shared.md")])?;
    repo.commit_by_hand(
        &[
            (
                "catalogue/fragments/README.md",
                Content::File(b"# Fragments\n"),
            ),
            ("catalogue/fragments/.gitkeep", Content::File(b"")),
        ],
        "Document the fragments folder",
    )?;
    let run = repo.catalogue(&["--json", "consolidate"])?;
    run.expect(0)?;
    assert!(
        run.stderr.contains("README.md"),
        "no warning naming README.md: {run:?}"
    );
    let out = run.json()?;
    assert_eq!(out["fragments"], 1);
    let manifest = repo.text("main:catalogue/manifest.json")?;
    assert!(!manifest.contains("README"), "{manifest}");
    repo.catalogue(&["check"])?.expect(0)?;
    Ok(())
}
