//! The repository is the one git would use, read with the config git would
//! read: a `.git` file git refuses stops the tool too; `git -c` reaches
//! identity, `catalogue.*` and `core.*`; `GIT_OBJECT_DIRECTORY` is honoured
//! and `GIT_ALTERNATE_OBJECT_DIRECTORIES` refused; a ref clash, a reftable
//! or a SHA-256 repository is named for what it is. git itself is the oracle
//! wherever it can be asked.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use serde_json::Value;

use crate::support::*;

/// A folder holding `git-catalogue` (a link to the binary under test), to
/// put first on `PATH` so that `git catalogue` runs it as git runs a subcommand.
fn subcommand_path(repo: &Repo) -> Result<std::ffi::OsString> {
    let bin = repo.home().join("bin");
    std::fs::create_dir_all(&bin)?;
    let link = bin.join("git-catalogue");
    if !link.exists() {
        std::os::unix::fs::symlink(BIN, &link)?;
    }
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Ok(std::env::join_paths(paths)?)
}

/// `git <git_args> catalogue <args>` in the repository, with no identity in
/// the environment (so that only config can give one). Its exit code and streams.
fn git_catalogue(repo: &Repo, git_args: &[&str], args: &[&str]) -> Result<(i32, String, String)> {
    let mut cmd = repo.git_command(&repo.path);
    without_identity(&mut cmd);
    cmd.env("PATH", subcommand_path(repo)?)
        .args(git_args)
        .arg("catalogue")
        .args(args);
    let out = run(&mut cmd, None)?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The tool run in the repository with extra environment.
fn catalogue_env(repo: &Repo, envs: &[(&str, &OsStr)], args: &[&str]) -> Result<Run> {
    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_catalogue(&mut cmd)
}

/// A refusal under extra environment: exit `code` with and without
/// `--json`, `error.kind` `kind`, stderr and the message naming each of
/// `named`, refs and object files unchanged.
fn refused_with_env(
    repo: &Repo,
    envs: &[(&str, &OsStr)],
    args: &[&str],
    code: i32,
    kind: &str,
    named: &[&str],
) -> Result<Value> {
    let before = repo.snapshot()?;
    let human = catalogue_env(repo, envs, args)?;
    human.expect(code)?;
    let json_args = [&["--json"][..], args].concat();
    let json = catalogue_env(repo, envs, &json_args)?;
    json.expect(code)?;
    let error = json.json()?["error"].clone();
    ensure!(
        error["kind"] == kind,
        "kind {} instead of {kind}: {error}",
        error["kind"]
    );
    for n in named {
        ensure!(
            names(&human.stderr, n),
            "stderr does not name {n}: {}",
            human.stderr
        );
        ensure!(
            names(error["message"].as_str().unwrap_or_default(), n),
            "error.message does not name {n}: {error}"
        );
    }
    known_kind(&error)?;
    ensure!(repo.snapshot()? == before, "refs or objects changed");
    Ok(error)
}

/// Replace the repository's git dir with a fresh `git init <flags>` holding
/// the README commit again: a repository in a storage format of its own.
fn reinit(repo: &Repo, flags: &[&str]) -> Result<()> {
    std::fs::remove_dir_all(repo.git_dir())?;
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(flags);
    repo.git(&args)?;
    repo.git(&["add", "README.md"])?;
    repo.git(&["commit", "-q", "-m", "Initial commit"])?;
    Ok(())
}

// Finding 4: a `.git` file git refuses.

#[test]
fn a_gitfile_git_refuses_stops_the_tool_and_writes_nowhere() -> Result<()> {
    let repo = Repo::new()?;
    let inner = repo.path.join("inner");
    std::fs::create_dir(&inner)?;
    let dot_git = inner.join(".git");
    let dot_git_text = dot_git.display().to_string();
    let missing = repo.scratch().join("nonexistent");
    let missing_text = missing.display().to_string();
    let cases: [(&str, Vec<u8>, Vec<&str>); 4] = [
        (
            "dangling",
            format!("gitdir: {missing_text}\n").into_bytes(),
            vec![dot_git_text.as_str(), missing_text.as_str()],
        ),
        (
            "not a repository",
            format!("gitdir: {}\n", repo.scratch().display()).into_bytes(),
            vec![dot_git_text.as_str()],
        ),
        (
            "garbage",
            b"garbage\n".to_vec(),
            vec![dot_git_text.as_str()],
        ),
        (
            "no path",
            b"gitdir: \n".to_vec(),
            vec![dot_git_text.as_str()],
        ),
    ];
    every_case(&cases, |(what, content, named)| {
        std::fs::write(&dot_git, content)?;
        // The oracle: git refuses to work there.
        let git = repo
            .git_command(&inner)
            .args(["rev-parse", "--git-dir"])
            .output()?;
        ensure!(!git.status.success(), "{what}: git accepted {dot_git_text}");
        let args = [
            "-C",
            "inner",
            "record",
            "--direct",
            "--issue",
            "1",
            "--artifact",
            "a.md",
        ];
        let error = assert_refusal(&repo, &args, 4, "not_found", &[&dot_git_text])?;
        for n in named {
            ensure!(
                names(error["message"].as_str().unwrap_or_default(), n),
                "{what}: the message does not name {n}: {error}"
            );
        }
        ensure!(
            repo.count("main")? == 1,
            "{what}: a commit reached the enclosing repository"
        );
        Ok(())
    })?;
    Ok(())
}

// Finding 6: `git -c` and GIT_CONFIG_PARAMETERS.

#[test]
fn git_dash_c_sets_the_identity() -> Result<()> {
    let repo = Repo::new_bare()?;
    let (code, _, stderr) = git_catalogue(
        &repo,
        &[
            "-c",
            "user.name=O'Brien !x",
            "-c",
            "user.email=ob@example.com",
        ],
        &record_direct_args("1", "a.md"),
    )?;
    ensure!(code == 0, "git -c … catalogue record failed: {stderr}");
    let who = repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"])?;
    ensure!(
        who.trim() == "O'Brien !x <ob@example.com>|O'Brien !x <ob@example.com>",
        "commit made as {who}"
    );
    // author.* and committer.* beat user.*, as in git.
    let (code, _, stderr) = git_catalogue(
        &repo,
        &[
            "-c",
            "user.name=U",
            "-c",
            "user.email=u@example.com",
            "-c",
            "author.name=Au",
            "-c",
            "committer.email=co@example.com",
        ],
        &record_direct_args("2", "b.md"),
    )?;
    ensure!(code == 0, "{stderr}");
    let who = repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"])?;
    ensure!(
        who.trim() == "Au <u@example.com>|U <co@example.com>",
        "commit made as {who}"
    );
    repo.fsck()
}

#[test]
fn git_dash_c_sets_the_branch_and_core_settings() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    repo.git(&["branch", "other", "main"])?;
    let (code, _, stderr) = git_catalogue(
        &repo,
        &["-c", "catalogue.branch=other"],
        &record_direct_args("2", "b.md"),
    )?;
    ensure!(code == 0, "{stderr}");
    ensure!(
        repo.tree_names("other:catalogue/fragments")?
            == ["issue-1.json".to_owned(), "issue-2.json".to_owned()].into()
    );
    ensure!(repo.tree_names("main:catalogue/fragments")? == ["issue-1.json".to_owned()].into());
    // Reading too: `list` names the branch `git -c` chose.
    let (code, stdout, stderr) = git_catalogue(
        &repo,
        &["-c", "catalogue.branch=nosuch"],
        &["--json", "list"],
    )?;
    ensure!(
        code == 4 && stderr.contains("refs/heads/nosuch"),
        "{code} {stdout} {stderr}"
    );
    // core.*: a bare repository keeps no reflog unless config says so.
    let reflog = repo.git_dir().join("logs/refs/heads/main");
    ensure!(!reflog.exists());
    let (code, _, stderr) = git_catalogue(
        &repo,
        &["-c", "core.logAllRefUpdates=true"],
        &record_direct_args("3", "c.md"),
    )?;
    ensure!(code == 0, "{stderr}");
    let log = repo.git(&["reflog", "show", "main"])?;
    ensure!(log.contains("record issue-3"), "no reflog entry: {log}");
    repo.fsck()
}

#[test]
fn config_parameters_not_in_gits_format_are_refused() -> Result<()> {
    let repo = Repo::new_bare()?;
    for raw in ["'user.name'='X", "user.name=X", "'nosection'='x'"] {
        let error = refused_with_env(
            &repo,
            &[("GIT_CONFIG_PARAMETERS", OsStr::new(raw))],
            &record_direct_args("1", "a.md"),
            2,
            "usage",
            &["GIT_CONFIG_PARAMETERS"],
        )?;
        ensure!(
            error["message"].as_str().is_some_and(|m| m.contains(raw)),
            "{error}"
        );
    }
    Ok(())
}

// Finding 9: errors that say what is wrong.

#[test]
fn a_branch_named_like_the_per_issue_folder_is_named() -> Result<()> {
    // Loose (git refuses the file system), and packed (gix would write a
    // loose ref git cannot read beside it).
    for packed in [false, true] {
        let repo = Repo::new_bare()?;
        repo.git(&["branch", "catalogue", "main"])?;
        if packed {
            repo.git(&["pack-refs", "--all"])?;
        }
        let error = assert_refusal(
            &repo,
            &["record", "--issue", "1", "--artifact", "a.md"],
            4,
            "git",
            &["refs/heads/catalogue"],
        )?;
        let message = error["message"].as_str().unwrap_or_default();
        ensure!(
            message.contains("refs/heads/catalogue/issue-1") && message.contains("git branch -m"),
            "packed {packed}: {message}"
        );
        repo.fsck()?;
    }
    Ok(())
}

#[test]
fn a_reftable_repository_is_named() -> Result<()> {
    let repo = Repo::new()?;
    reinit(&repo, &["--ref-format=reftable"])?;
    let git_dir = repo.git_dir().display().to_string();
    for args in [&record_direct_args("1", "a.md")[..], &["list"][..]] {
        let error = assert_refusal(&repo, args, 4, "git", &[&git_dir])?;
        ensure!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("reftable")),
            "{error}"
        );
    }
    Ok(())
}

#[test]
fn a_sha256_repository_is_named() -> Result<()> {
    let repo = Repo::new()?;
    reinit(&repo, &["--object-format=sha256"])?;
    let git_dir = repo.git_dir().display().to_string();
    for args in [&record_direct_args("1", "a.md")[..], &["list"][..]] {
        let error = assert_refusal(&repo, args, 4, "git", &[&git_dir])?;
        let message = error["message"].as_str().unwrap_or_default();
        ensure!(
            message.contains("sha256") && !message.contains("not a git repository"),
            "{error}"
        );
    }
    Ok(())
}

#[test]
fn the_object_directory_git_is_told_is_the_one_written() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    let moved: PathBuf = repo.scratch().join("objects");
    std::fs::rename(repo.git_dir().join("objects"), &moved)?;
    std::fs::create_dir(repo.git_dir().join("objects"))?;
    let env = [("GIT_OBJECT_DIRECTORY", moved.as_os_str())];
    catalogue_env(&repo, &env, &record_direct_args("2", "b.md"))?.expect(0)?;
    catalogue_env(&repo, &env, &["consolidate"])?.expect(0)?;
    let git =
        |args: &[&str]| -> Result<String> { Ok(String::from_utf8(repo.git_env(args, &env)?)?) };
    let manifest: Value = serde_json::from_str(&git(&["show", "main:catalogue/manifest.json"])?)?;
    ensure!(artifact_paths(&manifest)? == ["a.md", "b.md"], "{manifest}");
    let mut fsck = repo.git_command(&repo.path);
    fsck.args(["fsck", "--strict", "--no-dangling"])
        .env("GIT_OBJECT_DIRECTORY", &moved);
    ensure!(
        run(&mut fsck, None)?.status.success(),
        "fsck with GIT_OBJECT_DIRECTORY"
    );
    ensure!(
        empty(&repo.git_dir().join("objects"))?,
        "objects were written to $GIT_DIR/objects"
    );
    // A directory that is not there is named.
    let repo = Repo::new_bare()?;
    let nowhere = repo.scratch().join("nowhere");
    refused_with_env(
        &repo,
        &[("GIT_OBJECT_DIRECTORY", nowhere.as_os_str())],
        &record_direct_args("1", "a.md"),
        4,
        "not_found",
        &[&nowhere.display().to_string()],
    )?;
    Ok(())
}

fn empty(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_none())
}

#[test]
fn alternate_object_directories_are_refused_by_name() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    let elsewhere = repo.scratch().display().to_string();
    let env = [("GIT_ALTERNATE_OBJECT_DIRECTORIES", OsStr::new(&elsewhere))];
    for args in [&record_direct_args("2", "b.md")[..], &["consolidate"][..]] {
        refused_with_env(
            &repo,
            &env,
            args,
            4,
            "git",
            &["GIT_ALTERNATE_OBJECT_DIRECTORIES", &elsewhere],
        )?;
    }
    // Unset (or empty, which git treats alike), the same commands work.
    let empty_env = [("GIT_ALTERNATE_OBJECT_DIRECTORIES", OsStr::new(""))];
    catalogue_env(&repo, &empty_env, &record_direct_args("2", "b.md"))?.expect(0)?;
    repo.fsck()
}
