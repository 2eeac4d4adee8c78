//! Broken repositories: a fragment blob that is not there (a blobless
//! partial clone, a loose object deleted by hand), a corrupt object, an
//! object directory that cannot be written, a branch that does not exist.
//! Each gives a clear error naming the object, ref or path; with `--json`,
//! one JSON object saying so; and nothing is written: refs and object files
//! are unchanged. git, not the tool, shows first that the repository is
//! broken the way the test says.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{
    assert_refusal, every_case, hermetic, record_direct_args, run_catalogue, str_field, Content,
    Repo, Run, BIN,
};

/// Every command that reads the branch tip's fragments, with the exit status
/// a failure to read one gives (4: not bad input, not a finding).
///
/// `consolidate` and `record` read only the fragments changed since the
/// manifest's `source`: a broken blob of an unchanged fragment is
/// not theirs to read, so here `consolidate --full` stands for them, and
/// `the_o_changed_commands_do_not_read_an_unchanged_broken_blob` shows the rest.
const READERS: &[&[&str]] = &[
    &["consolidate", "--full"],
    &["consolidate", "--full", "--dry-run"],
    &["check"],
    &["check", "--fragments-only"],
    &["list"],
    &["repair"],
    &["repair", "--dry-run"],
];

/// What main holds before each test breaks it: two consolidated fragments.
const CATALOGUED: &[(usize, &str)] = &[(1, "a.md"), (2, "b.md")];

const FRAGMENT: &str = "catalogue/fragments/issue-1.json";

/// Every reader fails with `kind`, naming the blob and the fragment path,
/// and `verify --history` lists the commits it could not check, naming the
/// blob; nothing is written. Returns the messages, for more checks.
fn every_reader_names(repo: &Repo, blob: &str, kind: &str) -> Result<Vec<String>> {
    let mut messages = Vec::new();
    every_case(READERS, |args| {
        let error = assert_refusal(repo, args, 4, kind, &[blob, FRAGMENT])?;
        messages.push(str_field(&error, "message")?.to_owned());
        Ok(())
    })?;
    // verify --history lists a commit it cannot read as a problem (exit 1)
    // or stops at it (exit 4); either way it names the blob and the path.
    let before = repo.snapshot()?;
    let run = repo.catalogue(&["--json", "verify", "--history"])?;
    ensure!(run.status == 1 || run.status == 4, "{run:?}");
    let error = run.json()?["error"].clone();
    ensure!(error["kind"] == kind, "{run:?}");
    ensure!(
        str_field(&error, "message")?.contains(blob) && error["path"] == FRAGMENT,
        "{run:?}"
    );
    ensure!(repo.snapshot()? == before, "verify wrote something");
    Ok(messages)
}

#[test]
fn a_fragment_blob_missing_from_a_partial_clone_is_named_with_how_to_fetch_it() -> Result<()> {
    let origin = Repo::bare_consolidated(CATALOGUED)?;
    origin.git(&["config", "uploadpack.allowFilter", "true"])?;
    let clone = origin.clone_partial_bare()?;
    let blob = origin.rev(&format!("main:{FRAGMENT}"))?;
    // git agrees the blob is not here (and would fetch it on demand).
    let missing = clone.git(&["rev-list", "--objects", "--missing=print", "main"])?;
    ensure!(
        missing.lines().any(|l| l == format!("?{blob}")),
        "{missing}"
    );

    // Every blob is missing here, so a reader names the first it needs
    // (repair reads the manifest's history first), says why, and what to do.
    let missing: Vec<&str> = missing
        .lines()
        .filter_map(|l| l.strip_prefix('?'))
        .collect();
    every_case(READERS, |args| {
        let error = assert_refusal(&clone, args, 4, "not_found", &[])?;
        let message = str_field(&error, "message")?;
        let blob = str_field(&error, "blob").or_else(|_| {
            missing
                .iter()
                .find(|id| message.contains(*id))
                .copied()
                .context("no missing blob named")
        })?;
        ensure!(missing.contains(&blob) && message.contains(blob), "{error}");
        ensure!(error["path"].is_string(), "no path in {error}");
        ensure!(
            message.contains("partial clone of `origin`") && message.contains("git fetch"),
            "no word on the partial clone and how to fetch: {message}"
        );
        Ok(())
    })?;
    // What the message says to do works.
    clone.git(&["fetch", "--refetch", "--no-filter", "origin", "main"])?;
    clone.record_direct(3, "c.md")?;
    clone.consolidate()?;
    clone.fsck()
}

#[test]
fn a_hand_deleted_loose_fragment_blob_is_named() -> Result<()> {
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let blob = repo.rev(&format!("main:{FRAGMENT}"))?;
    std::fs::remove_file(repo.loose_object(&blob))?;
    let fsck = repo.fsck().expect_err("git fsck must see the missing blob");
    ensure!(fsck.to_string().contains(&blob), "{fsck:#}");
    for message in every_reader_names(&repo, &blob, "not_found")? {
        ensure!(!message.contains("partial clone"), "{message}");
    }
    Ok(())
}

/// Replace a loose object's file with `bytes` (unlinked first: a local
/// clone shares object files with its source through hard links).
fn overwrite(file: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::remove_file(file)?;
    std::fs::write(file, bytes)?;
    Ok(())
}

#[test]
fn a_corrupt_fragment_blob_is_named() -> Result<()> {
    let cases = ["garbage", "truncated", "another object's bytes"];
    every_case(&cases, |&how| {
        let repo = Repo::bare_consolidated(CATALOGUED)?;
        let blob = repo.rev(&format!("main:{FRAGMENT}"))?;
        let file = repo.loose_object(&blob);
        let bytes = match how {
            "garbage" => b"not a zlib stream at all".to_vec(),
            "truncated" => std::fs::read(&file)?[..20].to_vec(),
            // A valid loose object, of the other fragment: the file is whole,
            // only its content does not hash to its name.
            _ => {
                let other = repo.rev("main:catalogue/fragments/issue-2.json")?;
                std::fs::read(repo.loose_object(&other))?
            }
        };
        overwrite(&file, &bytes)?;
        let fsck = repo.fsck().expect_err("git fsck must see the corrupt blob");
        ensure!(fsck.to_string().contains(&blob), "{fsck:#}");
        every_reader_names(&repo, &blob, "git").map(drop)
    })
}

#[test]
fn a_corrupt_fragments_tree_is_named() -> Result<()> {
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let tree = repo.rev("main:catalogue/fragments")?;
    overwrite(&repo.loose_object(&tree), b"garbage where a tree was")?;
    ensure!(repo.fsck().is_err(), "git fsck must see the corrupt tree");
    every_case(READERS, |args| {
        let error = assert_refusal(&repo, args, 4, "git", &["catalogue/fragments"])?;
        ensure!(str_field(&error, "message")?.contains(&tree), "{error}");
        Ok(())
    })
}

/// How to run the tool so that file permissions apply to it: as it is, or,
/// as root (which ignores them), under `setpriv` without the capabilities
/// that let root override them. `None`, with the reason printed, when they
/// cannot be made to apply.
fn permission_bound_tool(scratch: &Path) -> Result<Option<Vec<String>>> {
    use std::os::unix::fs::PermissionsExt;
    let probe = scratch.join("read-only-probe");
    std::fs::create_dir_all(&probe)?;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555))?;
    let ignored = std::fs::write(probe.join("x"), b"x").is_ok();
    let setpriv = [
        "setpriv",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--",
    ];
    let bound = ignored
        && Command::new(setpriv[0])
            .args(&setpriv[1..])
            .args([
                "sh",
                "-c",
                &format!("! touch '{}/y' 2>/dev/null", probe.display()),
            ])
            .status()
            .is_ok_and(|s| s.success());
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755))?;
    if !ignored {
        return Ok(Some(vec![BIN.to_owned()]));
    }
    if !bound {
        eprintln!(
            "SKIPPED read-only object directory: running as root, which ignores file permissions, \
             and `setpriv` could not drop CAP_DAC_OVERRIDE"
        );
        return Ok(None);
    }
    eprintln!(
        "read-only object directory: root ignores permissions; the tool runs under {setpriv:?}"
    );
    let mut tool: Vec<String> = setpriv.iter().map(|s| (*s).to_owned()).collect();
    tool.push(BIN.to_owned());
    Ok(Some(tool))
}

/// Make every folder and file under `dir` read-only (or writable again).
fn set_writable(dir: &Path, writable: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |is_dir: bool| match (writable, is_dir) {
        (true, true) => 0o755,
        (true, false) => 0o644,
        (false, true) => 0o555,
        (false, false) => 0o444,
    };
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let is_dir = entry.file_type()?.is_dir();
            if is_dir {
                stack.push(entry.path());
            }
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode(is_dir)))?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode(true)))?;
    Ok(())
}

#[test]
fn a_read_only_object_directory_is_named_and_nothing_is_written() -> Result<()> {
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let Some(tool) = permission_bound_tool(&repo.scratch())? else {
        return Ok(());
    };
    // Give every writer something to write: a stale manifest (a new
    // fragment) and an entry for repair to recover.
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/issue-9.json",
            Content::File(br#"{"issue": 9, "artifacts": [{"path": "i.md"}]}"#),
        )],
        "A fragment merged by hand",
    )?;
    let mut manifest: Value = repo.json("main:catalogue/manifest.json")?;
    manifest["artifacts"]
        .as_array_mut()
        .context("artifacts")?
        .push(serde_json::json!({"path": "legacy.md", "issue": 70}));
    let bytes = serde_json::to_vec(&manifest)?;
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(&bytes))],
        "An old writer edits the manifest",
    )?;
    let objects = repo.git_dir().join("objects");
    set_writable(&objects, false)?;
    let shown = objects.display().to_string();
    let run_tool = |args: &[&str]| -> Result<Run> {
        let mut cmd = Command::new(&tool[0]);
        hermetic(&mut cmd, &repo.home())
            .current_dir(&repo.path)
            .args(&tool[1..])
            .args(args);
        run_catalogue(&mut cmd)
    };
    let writers: &[&[&str]] = &[
        &record_direct_args("3", "c.md"),
        &["record", "--issue", "3", "--artifact", "c.md"],
        // The hand-edited entry is refused before any write unless it is
        // dropped on purpose: this case is about the write.
        &["consolidate", "--drop-unbacked"],
        &["repair"],
    ];
    let outcome = every_case(writers, |args| {
        let before = repo.snapshot()?;
        let human = run_tool(args)?;
        human.expect(4)?;
        ensure!(
            human.stderr.contains(&shown),
            "stderr does not name {shown}: {human:?}"
        );
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(args);
        let run = run_tool(&json_args)?;
        run.expect(4)?;
        let error = run.json()?["error"].clone();
        ensure!(error["kind"] == "io", "{run:?}");
        ensure!(str_field(&error, "message")?.contains(&shown), "{run:?}");
        ensure!(error["path"].is_string(), "{run:?}");
        ensure!(repo.snapshot()? == before, "something was written");
        Ok(())
    })
    .and_then(|()| {
        // Reading needs no write: a read-only mirror can be checked.
        let run = run_tool(&["--json", "list"])?;
        run.expect(0)?;
        ensure!(
            run.json()?["artifacts"].as_array().map(Vec::len) == Some(3),
            "{run:?}"
        );
        run_tool(&["check", "--fragments-only"])?
            .expect(0)
            .map(drop)
    });
    set_writable(&objects, true)?;
    outcome?;
    // Writable again, the same commands go through.
    repo.catalogue_ok(&["repair"])?;
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()
}

#[test]
fn a_branch_that_does_not_exist_is_named_by_every_command() -> Result<()> {
    // refuses_bad_input.rs covers record, consolidate, check and list with --branch.
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let cases: &[(&[&str], &str)] = &[
        (
            &["consolidate", "--dry-run", "--branch", "nope"],
            "refs/heads/nope",
        ),
        (&["repair", "--branch", "nope"], "refs/heads/nope"),
        (
            &["repair", "--dry-run", "--branch", "nope"],
            "refs/heads/nope",
        ),
        (
            &["verify", "--history", "--branch", "nope"],
            "refs/heads/nope",
        ),
    ];
    every_case(cases, |&(args, named)| {
        assert_refusal(&repo, args, 4, "not_found", &[named]).map(drop)
    })?;
    // A revision the user typed that names nothing is bad input, like a bad path.
    let bad_revisions: &[(&[&str], &str)] = &[
        (&["check", "--rev", "nope"], "nope"),
        (&["list", "--rev", "nope"], "nope"),
        (&["check", "--rev", "main~5"], "main~5"),
    ];
    every_case(bad_revisions, |&(args, named)| {
        assert_refusal(&repo, args, 2, "usage", &[named]).map(drop)
    })?;
    // The branch named by git config rather than by a flag.
    repo.git(&["config", "catalogue.branch", "gone"])?;
    every_case(
        &[
            &["consolidate"][..],
            &["record", "--direct", "--issue", "3"][..],
            &["repair"][..],
        ],
        |args| assert_refusal(&repo, args, 4, "not_found", &["refs/heads/gone"]).map(drop),
    )?;
    repo.git(&["config", "--unset", "catalogue.branch"])?;

    // A remote whose branch does not exist (an empty repository).
    let empty = Repo::new_bare()?;
    empty.git(&["update-ref", "-d", "refs/heads/main"])?;
    let url = empty.file_url();
    let pushes: &[&[&str]] = &[
        &[
            "record",
            "--direct",
            "--issue",
            "3",
            "--artifact",
            "c.md",
            "--push",
            &url,
        ],
        &["consolidate", "--push", &url],
        &["repair", "--push", &url],
    ];
    every_case(pushes, |args| {
        let error = assert_refusal(&repo, args, 4, "not_found", &["refs/heads/main"])?;
        let message = str_field(&error, "message")?;
        ensure!(
            args[0] == "repair" || message.contains(&url),
            "the message does not say which remote lacks the branch: {message}"
        );
        Ok(())
    })?;
    ensure!(
        empty.git(&["for-each-ref"])?.is_empty(),
        "the empty remote got a ref"
    );
    Ok(())
}

#[test]
fn the_o_changed_commands_do_not_read_an_unchanged_broken_blob() -> Result<()> {
    let repo = Repo::bare_consolidated(CATALOGUED)?;
    let blob = repo.rev(&format!("main:{FRAGMENT}"))?;
    std::fs::remove_file(repo.loose_object(&blob))?;
    // Nothing changed since the manifest's source: nothing to read.
    let out = repo.consolidate()?;
    assert_eq!(
        (&out["changed"], &out["mode"]),
        (&serde_json::json!(false), &serde_json::json!("incremental")),
        "{out}"
    );
    // A new fragment is checked against the manifest's claims, not against
    // every other fragment's blob.
    repo.record_direct(3, "c.md")?;
    let out = repo.consolidate()?;
    assert_eq!(out["artifacts"], 3, "{out}");
    // A full read still names what is missing.
    let error = assert_refusal(
        &repo,
        &["consolidate", "--full", "--dry-run"],
        4,
        "not_found",
        &[&blob, FRAGMENT],
    )?;
    ensure!(error["blob"] == blob.as_str(), "{error}");
    Ok(())
}
