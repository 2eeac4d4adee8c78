//! `--json` on error: whatever fails, stdout is exactly
//! one JSON object with `"ok": false`, `"command"`, and an `error` whose
//! `kind` is one README documents, whose `message` says what went wrong and
//! whose offender fields name what it was about. One case per documented
//! kind, each from a real repository in the state that causes it; the
//! other test files check the same shape on every path they reach
//! (`support::assert_refusal`).

use std::collections::BTreeSet;

use anyhow::{ensure, Result};
use serde_json::Value;

use crate::support::{
    assert_refusal_as, every_case, known_kind, record_direct_args, Content, Repo, Unchanged,
    ERROR_KINDS,
};

/// One failing command: the repository it runs in, its arguments, the exit
/// status and error kind it must give, and what it must name.
struct Case {
    repo: Repo,
    args: Vec<String>,
    code: i32,
    kind: &'static str,
    named: Vec<String>,
    /// A remote the repository pushes to, kept alive for the case.
    origin: Option<Repo>,
}

/// A case shows as its command line in the list of failures.
impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.args)
    }
}

fn case(repo: Repo, args: &[&str], code: i32, kind: &'static str, named: &[&str]) -> Case {
    Case {
        repo,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code,
        kind,
        named: named.iter().map(|n| (*n).to_owned()).collect(),
        origin: None,
    }
}

/// A case that pushes to `origin`.
fn pushing(origin: Repo, mut c: Case) -> Case {
    c.origin = Some(origin);
    c
}

/// What main holds before each case breaks it: one consolidated fragment.
const CATALOGUED: &[(usize, &str)] = &[(1, "docs/a.md")];

/// An origin whose pre-receive hook lands another commit on main before
/// every push, as a faster writer would, and a bare clone of it.
fn origin_always_ahead() -> Result<(Repo, Repo)> {
    let origin = Repo::bare_consolidated(CATALOGUED)?;
    origin.install_hook(
        "pre-receive",
        "#!/bin/sh\n\
         unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n\
         old=$(git rev-parse main)\n\
         new=$(git commit-tree -p \"$old\" -m 'another writer' \"$old^{tree}\")\n\
         git update-ref refs/heads/main \"$new\" \"$old\"\n",
    )?;
    let clone = origin.clone_bare()?;
    Ok((origin, clone))
}

fn cases() -> Result<Vec<Case>> {
    let mut cases = Vec::new();

    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["record", "--issue", "0", "--artifact", "a.md"],
        2,
        "usage",
        &[],
    ));
    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["no-such-command"],
        2,
        "usage",
        &[],
    ));
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let gone = repo.scratch().join("gone").display().to_string();
    cases.push(case(repo, &["-C", &gone, "list"], 2, "usage", &[&gone]));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let file = repo
        .sandbox_file("broken.json", b"{\"artifacts\": [")?
        .display()
        .to_string();
    cases.push(case(
        repo,
        &["record", "--issue", "2", "--fragment", &file],
        2,
        "invalid_fragment",
        &[&file],
    ));
    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["record", "--key", "a b", "--artifact", "x.md"],
        2,
        "invalid_key",
        &["a b"],
    ));
    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["record", "--issue", "2", "--artifact", "../x.md"],
        2,
        "invalid_path",
        &["../x.md"],
    ));

    // A second claim on the branch is written and then reported
    // (conflicts_never_block.rs); creating one is refused.
    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &[
            "record",
            "--direct",
            "--issue",
            "2",
            "--artifact",
            "docs/a.md",
        ],
        2,
        "duplicate_path",
        &["docs/a.md"],
    ));

    let repo = Repo::new_bare()?;
    repo.commit_by_hand(
        &[(
            "catalogue/manifest.json",
            Content::File(br#"[{"issue": 1, "path": "docs/1.md"}]"#),
        )],
        "A legacy manifest",
    )?;
    cases.push(case(
        repo,
        &["consolidate"],
        2,
        "unmigrated",
        &["catalogue/manifest.json"],
    ));

    let repo = Repo::bare_recorded(CATALOGUED)?;
    repo.git(&["config", "catalogue.manifestMaxSize", "100"])?;
    cases.push(case(
        repo,
        &["consolidate"],
        2,
        "manifest_too_large",
        &["catalogue/manifest.json"],
    ));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/l.json",
            Content::Symlink("issue-1.json"),
        )],
        "A symlink",
    )?;
    cases.push(case(
        repo,
        &["consolidate"],
        2,
        "invalid_tree",
        &["catalogue/fragments/l.json"],
    ));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    repo.record_direct(2, "docs/b.md")?;
    cases.push(case(
        repo,
        &["check"],
        1,
        "stale",
        &["catalogue/manifest.json"],
    ));

    let repo = Repo::new_bare()?;
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(b"<<<<<<< ours\n"))],
        "conflict markers",
    )?;
    cases.push(case(
        repo,
        &["verify", "--history"],
        1,
        "invalid_manifest",
        &["catalogue/manifest.json"],
    ));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    repo.git(&["config", "core.filesRefLockTimeout", "50"])?;
    std::fs::write(repo.git_dir().join("refs/heads/main.lock"), "")?;
    cases.push(case(
        repo,
        &record_direct_args("2", "b.md"),
        4,
        "lock",
        &["refs/heads/main.lock"],
    ));

    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["consolidate", "--branch", "nope"],
        4,
        "not_found",
        &["refs/heads/nope"],
    ));
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let elsewhere = repo.scratch().display().to_string();
    cases.push(case(
        repo,
        &["-C", &elsewhere, "list"],
        4,
        "not_found",
        &[&elsewhere],
    ));

    // A missing file named on the command line is bad input; one that is
    // there and cannot be read (a folder) is an I/O failure.
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let missing = repo.scratch().join("missing.md").display().to_string();
    let add = format!("{missing}=docs/m.md");
    cases.push(case(
        repo,
        &["record", "--issue", "2", "--add", &add],
        2,
        "usage",
        &[&missing],
    ));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    std::fs::create_dir_all(repo.scratch())?;
    let folder = repo.scratch().display().to_string();
    cases.push(case(
        repo,
        &["record", "--issue", "2", "--fragment", &folder],
        4,
        "io",
        &[&folder],
    ));

    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let blob = repo.rev("main:catalogue/fragments/issue-1.json")?;
    let file = repo.loose_object(&blob);
    std::fs::remove_file(&file)?;
    std::fs::write(&file, b"garbage")?;
    cases.push(case(repo, &["list"], 4, "git", &[&blob]));

    // A work tree with local changes to a file consolidate would write.
    let repo = Repo::new()?.with_consolidated(CATALOGUED)?;
    repo.record_direct(2, "docs/b.md")?;
    std::fs::write(repo.path.join("catalogue/index.md"), "edited by hand\n")?;
    cases.push(case(
        repo,
        &["consolidate"],
        4,
        "dirty_worktree",
        &["catalogue/index.md"],
    ));

    // Nothing listens on port 1 of loopback.
    let url = "git://127.0.0.1:1/nothing.git";
    cases.push(case(
        Repo::bare_consolidated(CATALOGUED)?,
        &["consolidate", "--push", url],
        4,
        "remote",
        &[url],
    ));

    let origin = Repo::bare_consolidated(CATALOGUED)?;
    origin.install_hook(
        "pre-receive",
        "#!/bin/sh\necho 'main is frozen for the release' >&2\nexit 1\n",
    )?;
    let clone = origin.clone_bare()?;
    let url = origin.file_url();
    cases.push(pushing(
        origin,
        case(
            clone,
            &[&record_direct_args("2", "b.md")[..], &["--push", &url]].concat(),
            4,
            "rejected",
            &["refs/heads/main"],
        ),
    ));

    let (origin, clone) = origin_always_ahead()?;
    let url = origin.file_url();
    cases.push(pushing(
        origin,
        case(
            clone,
            &[
                "record",
                "--direct",
                "--retries",
                "1",
                "--issue",
                "2",
                "--artifact",
                "b.md",
                "--push",
                &url,
            ],
            3,
            "contention",
            &["refs/heads/main"],
        ),
    ));
    Ok(cases)
}

#[test]
fn every_error_kind_is_one_json_object_naming_its_offender() -> Result<()> {
    let cases = cases()?;
    let mut seen = BTreeSet::new();
    every_case(&cases, |c| {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let named: Vec<&str> = c.named.iter().map(String::as_str).collect();
        // A lost race, a held lock or a remote's refusal comes after the
        // command built its objects (and fetched): only refs must stay.
        let unchanged = match c.kind {
            "lock" | "contention" | "rejected" | "remote" => Unchanged::Branches,
            _ => Unchanged::Everything,
        };
        let error = assert_refusal_as(&c.repo, &args, c.code, c.kind, &named, unchanged)?;
        // The whole object, once more: ok false and a command (null only
        // when the command line did not name one).
        let run = c.repo.catalogue(&[&["--json"][..], &args].concat())?;
        let out = run.json()?;
        ensure!(out["ok"] == false, "{out}");
        let command = &out["command"];
        ensure!(
            command.is_string() || (c.kind == "usage" && command.is_null()),
            "no command in {out}"
        );
        ensure!(
            out.as_object().is_some_and(|o| o.contains_key("command")),
            "{out}"
        );
        ensure!(
            !error["message"].as_str().unwrap_or_default().is_empty(),
            "{error}"
        );
        known_kind(&error)?;
        seen.insert(c.kind);
        Ok(())
    })?;
    let documented: BTreeSet<&str> = ERROR_KINDS.iter().copied().collect();
    let missing: Vec<&&str> = documented.difference(&seen).collect();
    ensure!(
        missing.is_empty(),
        "no case reaches the documented kinds {missing:?}"
    );
    Ok(())
}

#[test]
fn json_after_the_command_name_shapes_a_usage_error_too() -> Result<()> {
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let run = repo.catalogue(&["record", "--json", "--issue", "nope"])?;
    run.expect(2)?;
    let out: Value = run.json()?;
    ensure!(
        out["error"]["kind"] == "usage" && out["ok"] == false,
        "{out}"
    );
    Ok(())
}
