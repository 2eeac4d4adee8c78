//! Every command works wherever git works: a bare repository, a shallow
//! clone, any sub-folder of a work tree, under `GIT_DIR`, with `-C`, with or
//! without a configured identity, and as `git catalogue` found on `PATH`.
//! `--dir`/`--branch` and their git config keys move the catalogue.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::support::{
    artifact_paths, hermetic, run_catalogue, str_field, without_identity, Repo, AUTHOR_EMAIL,
    AUTHOR_NAME, BIN, COMMITTER_EMAIL, COMMITTER_NAME, FALLBACK_IDENTITY,
};

/// git's famous test date, `DATE`, in seconds since the epoch.
const DATE_EPOCH: &str = "1112911993";

/// The whole flow, run through `tool` (a command line prefix ready to take
/// arguments), checked on `oracle` with the git CLI: two direct records, one
/// per-issue record, a consolidation, `check` and `list`.
fn flow(oracle: &Repo, tool: &dyn Fn() -> Command) -> Result<()> {
    let call = |args: &[&str]| run_catalogue(tool().args(args));
    let before = oracle.rev("main")?;

    let run = call(&[
        "--json",
        "record",
        "--direct",
        "--issue",
        "1",
        "--artifact",
        "docs/one.md",
    ])?;
    run.expect(0)?;
    assert_eq!(str_field(&run.json()?, "commit")?, oracle.rev("main")?);

    let run = call(&[
        "record",
        "--json",
        "--issue",
        "2",
        "--artifact",
        "docs/two.md",
    ])?;
    run.expect(0)?;
    let per_issue = run.json()?;
    assert_eq!(
        str_field(&per_issue, "commit")?,
        oracle.rev("catalogue/issue-2")?
    );
    assert_eq!(
        oracle.parents("catalogue/issue-2")?,
        vec![oracle.rev("main")?]
    );

    call(&[
        "record",
        "--direct",
        "--issue",
        "3",
        "--artifact",
        "docs/three.md",
    ])?
    .expect(0)?;

    let run = call(&["consolidate", "--json"])?;
    run.expect(0)?;
    let out = run.json()?;
    assert_eq!(out["changed"], true);
    assert_eq!(str_field(&out, "tip")?, oracle.rev("main")?);

    let manifest = oracle.json("main:catalogue/manifest.json")?;
    assert_eq!(artifact_paths(&manifest)?, ["docs/one.md", "docs/three.md"]);
    assert_eq!(
        str_field(&manifest, "source")?,
        oracle.rev("main:catalogue/fragments")?
    );
    assert!(oracle.exists("main:catalogue/index.md")?);
    assert_eq!(oracle.count(&format!("{before}..main"))?, 3);

    call(&["check"])?.expect(0)?;
    let list = call(&["list"])?;
    list.expect(0)?;
    assert_eq!(list.stdout.lines().count(), 2, "{list:?}");
    let again = call(&["--json", "consolidate"])?;
    again.expect(0)?;
    assert_eq!(again.json()?["changed"], false);
    oracle.fsck()
}

#[test]
fn the_flow_works_in_a_bare_clone() -> Result<()> {
    let repo = Repo::new_bare()?;
    assert_eq!(
        repo.git(&["rev-parse", "--is-bare-repository"])?.trim(),
        "true"
    );
    flow(&repo, &|| repo.catalogue_command(&repo.path))
}

#[test]
fn the_flow_works_in_a_shallow_bare_clone() -> Result<()> {
    let origin = Repo::new()?;
    std::fs::write(origin.path.join("second.md"), "second\n")?;
    origin.git(&["add", "second.md"])?;
    origin.git(&["commit", "-q", "-m", "Second commit"])?;
    let repo = origin.clone_shallow_bare()?;
    assert_eq!(
        repo.git(&["rev-parse", "--is-shallow-repository"])?.trim(),
        "true"
    );
    assert_eq!(repo.count("main")?, 1, "depth 1 holds one commit");
    flow(&repo, &|| repo.catalogue_command(&repo.path))?;
    assert_eq!(
        repo.git(&["rev-parse", "--is-shallow-repository"])?.trim(),
        "true"
    );
    Ok(())
}

#[test]
fn the_flow_works_from_a_sub_folder_of_a_work_tree() -> Result<()> {
    let repo = Repo::new()?;
    let deep = repo.path.join("docs/deep/er");
    std::fs::create_dir_all(&deep)?;
    flow(&repo, &|| repo.catalogue_command(&deep))?;
    assert_eq!(repo.git(&["status", "--porcelain"])?, "");
    Ok(())
}

#[test]
fn the_flow_honours_git_dir_over_the_repository_around_the_cwd() -> Result<()> {
    let repo = Repo::new_bare()?;
    let decoy = Repo::new()?;
    let decoy_before = decoy.snapshot()?;
    flow(&repo, &|| {
        let mut cmd = repo.catalogue_command(&decoy.path);
        cmd.env("GIT_DIR", &repo.path);
        cmd
    })?;
    assert_eq!(
        decoy.snapshot()?,
        decoy_before,
        "the repository around the cwd was touched"
    );
    assert_eq!(decoy.git(&["status", "--porcelain"])?, "");
    Ok(())
}

#[test]
fn the_flow_honours_dash_c_with_a_relative_path_before_or_after_the_command() -> Result<()> {
    let repo = Repo::new_bare()?;
    let scratch = repo.scratch();
    let relative = Path::new("..").join(repo.path.file_name().context("repo has a name")?);
    flow(&repo, &|| {
        let mut cmd = repo.catalogue_command(&scratch);
        cmd.arg("-C").arg(&relative);
        cmd
    })?;
    // After the command name, and absolute.
    let mut cmd = repo.catalogue_command(&scratch);
    cmd.args(["check", "-C"]).arg(&repo.path);
    run_catalogue(&mut cmd)?.expect(0)?;
    Ok(())
}

#[test]
fn the_flow_works_as_git_catalogue_found_on_path() -> Result<()> {
    let repo = Repo::new_bare()?;
    let bin_dir = Path::new(BIN).parent().context("binary has a folder")?;
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    flow(&repo, &|| {
        let mut cmd = Command::new("git");
        hermetic(&mut cmd, &repo.home())
            .current_dir(&repo.path)
            .env("PATH", &path)
            .arg("catalogue");
        cmd
    })
}

/// `author|committer` of every commit in `range`.
fn identities(repo: &Repo, range: &str) -> Result<Vec<String>> {
    Ok(repo
        .git(&["log", "--format=%an <%ae>|%cn <%ce>", range])?
        .lines()
        .map(str::to_owned)
        .collect())
}

#[test]
fn with_no_identity_configured_commits_use_the_documented_fallback() -> Result<()> {
    let repo = Repo::new_bare()?;
    let before = repo.rev("main")?;
    flow(&repo, &|| {
        let mut cmd = repo.catalogue_command(&repo.path);
        without_identity(&mut cmd);
        cmd
    })?;
    let expected = format!("{FALLBACK_IDENTITY}|{FALLBACK_IDENTITY}");
    let seen = identities(&repo, &format!("{before}..main"))?;
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| *s == expected), "{seen:?}");
    let per_issue = identities(&repo, "main..catalogue/issue-2")?;
    assert_eq!(per_issue, [expected]);
    Ok(())
}

#[test]
fn a_configured_identity_is_used_for_author_and_committer() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.git(&["config", "user.name", "Config Person"])?;
    repo.git(&["config", "user.email", "config@example.com"])?;
    let mut cmd = repo.catalogue_command(&repo.path);
    without_identity(&mut cmd).args(["record", "--direct", "--issue", "1", "--artifact", "a.md"]);
    run_catalogue(&mut cmd)?.expect(0)?;
    assert_eq!(
        identities(&repo, "-1")?,
        ["Config Person <config@example.com>|Config Person <config@example.com>"]
    );

    // The environment wins over config, as in git, dates included.
    repo.record_direct(2, "b.md")?;
    assert_eq!(
        identities(&repo, "-1")?,
        [format!(
            "{AUTHOR_NAME} <{AUTHOR_EMAIL}>|{COMMITTER_NAME} <{COMMITTER_EMAIL}>"
        )]
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%at %ct"])?.trim(),
        format!("{DATE_EPOCH} {DATE_EPOCH}")
    );
    Ok(())
}

#[test]
fn dir_and_branch_flags_and_their_git_config_keys_move_the_catalogue() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.git(&["branch", "trunk", "main"])?;
    let main = repo.rev("main")?;

    let out = repo.catalogue_ok(&[
        "record",
        "--direct",
        "--branch",
        "trunk",
        "--dir",
        "meta/cat",
        "--issue",
        "1",
        "--artifact",
        "a.md",
    ])?;
    assert_eq!(out["ref"], "refs/heads/trunk");
    assert_eq!(out["fragment"], "meta/cat/fragments/issue-1.json");
    assert!(repo.exists("trunk:meta/cat/fragments/issue-1.json")?);
    assert!(!repo.exists("trunk:catalogue")?);

    let out = repo.catalogue_ok(&[
        "record",
        "--branch",
        "trunk",
        "--dir",
        "meta/cat",
        "--issue",
        "2",
        "--artifact",
        "b.md",
    ])?;
    assert_eq!(out["fragment"], "meta/cat/fragments/issue-2.json");
    assert_eq!(repo.parents("catalogue/issue-2")?, vec![repo.rev("trunk")?]);

    let out = repo.catalogue_ok(&["consolidate", "--branch", "trunk", "--dir", "meta/cat"])?;
    assert_eq!(out["ref"], "refs/heads/trunk");
    assert_eq!(
        artifact_paths(&repo.json("trunk:meta/cat/manifest.json")?)?,
        ["a.md"]
    );
    assert!(repo.exists("trunk:meta/cat/index.md")?);
    assert_eq!(repo.rev("main")?, main, "main is not the branch here");

    repo.git(&["config", "catalogue.dir", "meta/cat"])?;
    repo.git(&["config", "catalogue.branch", "trunk"])?;
    repo.record_direct(3, "c.md")?;
    assert!(repo.exists("trunk:meta/cat/fragments/issue-3.json")?);
    let out = repo.consolidate()?;
    assert_eq!(out["ref"], "refs/heads/trunk");
    assert_eq!(
        artifact_paths(&repo.json("trunk:meta/cat/manifest.json")?)?,
        ["a.md", "c.md"]
    );
    repo.catalogue(&["check"])?.expect(0)?;
    assert_eq!(repo.rev("main")?, main);

    // Flags win over config.
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--branch",
        "main",
        "--dir",
        "catalogue",
        "--issue",
        "4",
        "--artifact",
        "d.md",
    ])?;
    assert!(repo.exists("main:catalogue/fragments/issue-4.json")?);
    assert!(!repo.exists("trunk:meta/cat/fragments/issue-4.json")?);
    repo.fsck()
}
