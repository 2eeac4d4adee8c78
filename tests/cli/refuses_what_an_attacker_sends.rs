//! Input written to hurt: a symlink pointing `--add` at a secret, a
//! catalogue folder that git reads as `.gitmodules`, a fragment that grows
//! past the readers' limit when it is written, an endless `--fragment -`, a
//! file name no file system takes. Each is refused with exit 2, naming it,
//! and nothing is written.

use std::process::Stdio;

use anyhow::{ensure, Context, Result};

use crate::support::{assert_refusal, every_case, Repo};

/// What a secret looks like: it must never reach an object.
const SECRET: &[u8] = b"root:$6$not-for-git:19000:0:99999:7:::\n";

#[test]
fn an_add_source_that_is_a_symlink_is_refused_and_its_target_never_read() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md")])?;
    let secret = repo.sandbox_file("shadow", SECRET)?;
    let out = repo.scratch();
    std::fs::create_dir_all(out.join("real"))?;
    let link = out.join("s.md");
    std::os::unix::fs::symlink(&secret, &link)?;
    // A folder of the path that is a symlink leads to the secret too.
    std::os::unix::fs::symlink(secret.parent().context("sandbox")?, out.join("dir"))?;
    let link_arg = format!("{}=docs/s.md", link.display());
    let cases: Vec<Vec<String>> = vec![
        vec![
            "record".into(),
            "--issue".into(),
            "2".into(),
            "--add".into(),
            link_arg.clone(),
        ],
        vec![
            "record".into(),
            "--direct".into(),
            "--issue".into(),
            "2".into(),
            "--add".into(),
            link_arg,
        ],
    ];
    every_case(&cases, |args| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_refusal(&repo, &args, 2, "usage", &[&link.display().to_string()]).map(drop)
    })?;
    // Relative to the working directory, through a symlinked folder.
    let mut cmd = repo.catalogue_command(&out);
    cmd.env("GIT_DIR", repo.git_dir()).args([
        "record",
        "--issue",
        "2",
        "--add",
        "dir/shadow=docs/s.md",
    ]);
    let run = crate::support::run_catalogue(&mut cmd)?;
    run.expect(2)?;
    ensure!(run.stderr.contains("symbolic link `dir`"), "{run:?}");
    // No object anywhere holds the secret.
    let all = repo.git_env(&["cat-file", "--batch-all-objects", "--batch"], &[])?;
    ensure!(
        !all.windows(11).any(|w| w == b"not-for-git"),
        "the secret reached the object database"
    );
    Ok(())
}

#[test]
fn a_catalogue_folder_git_reads_as_gitmodules_is_refused_from_flag_and_config() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md")])?;
    let disguises = [".GitModules", "gitmod~1", "a/.gitmodules", ".gitmodules ."];
    every_case(&disguises, |dir| {
        assert_refusal(
            &repo,
            &[
                "record",
                "--direct",
                "--issue",
                "2",
                "--artifact",
                "x.md",
                "--dir",
                dir,
            ],
            2,
            "usage",
            &[dir],
        )
        .map(drop)
    })?;
    repo.git(&["config", "catalogue.dir", "gitmod~1"])?;
    assert_refusal(&repo, &["consolidate"], 2, "usage", &["gitmod~1"])?;
    Ok(())
}

/// A `--fragment` file with one artifact whose title is `pad` bytes long.
fn padded(repo: &Repo, pad: usize) -> Result<String> {
    let json = format!(
        r#"{{"artifacts":[{{"path":"docs/big.md","title":"{}"}}]}}"#,
        "x".repeat(pad)
    );
    Ok(repo
        .sandbox_file("big.json", json.as_bytes())?
        .display()
        .to_string())
}

#[test]
fn record_writes_a_fragment_only_when_every_reader_will_accept_it() -> Result<()> {
    const LIMIT: usize = 1 << 20;
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md")])?;
    // How many bytes the written form adds around the title.
    let small = padded(&repo, 10)?;
    repo.catalogue_ok(&["record", "--issue", "7", "--fragment", &small])?;
    let written = repo
        .blob("catalogue/issue-7:catalogue/fragments/issue-7.json")?
        .len();
    let overhead = written - 10;
    // Exactly the limit, as written: accepted, and every reader accepts it.
    let exact = padded(&repo, LIMIT - overhead)?;
    repo.catalogue_ok(&["record", "--direct", "--issue", "8", "--fragment", &exact])?;
    assert_eq!(
        repo.blob("main:catalogue/fragments/issue-8.json")?.len(),
        LIMIT
    );
    repo.catalogue_ok(&["consolidate"])?;
    repo.catalogue(&["check"])?.expect(0)?;
    repo.catalogue(&["list"])?.expect(0)?;
    // One byte more, as written, though the input itself is under the limit.
    let over = padded(&repo, LIMIT - overhead + 1)?;
    ensure!(
        std::fs::metadata(&over)?.len() < LIMIT as u64,
        "compact input under the limit"
    );
    let error = assert_refusal(
        &repo,
        &["record", "--direct", "--issue", "9", "--fragment", &over],
        2,
        "invalid_fragment",
        &["issue-9"],
    )?;
    ensure!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&(LIMIT + 1).to_string()),
        "{error}"
    );
    Ok(())
}

#[test]
fn an_endless_fragment_on_stdin_is_refused_at_the_limit() -> Result<()> {
    let repo = Repo::new_bare()?.with_consolidated(&[(1, "docs/1.md")])?;
    let before = repo.snapshot()?;
    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.args(["--json", "record", "--issue", "2", "--fragment", "-"])
        .stdin(Stdio::from(std::fs::File::open("/dev/zero")?))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let out = cmd.output()?;
    ensure!(
        started.elapsed().as_secs() < 20,
        "it read on: {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["error"]["kind"], "invalid_fragment", "{json}");
    assert_eq!(json["error"]["path"], "-", "{json}");
    ensure!(repo.snapshot()? == before, "something was written");
    Ok(())
}

#[test]
fn a_file_name_no_file_system_takes_is_refused_before_the_branch_moves() -> Result<()> {
    let repo = Repo::new()?.with_consolidated(&[(1, "docs/1.md")])?;
    let file = repo.sandbox_file("report.md", b"report\n")?;
    let name = format!("docs/{}.md", "n".repeat(300));
    let add = format!("{}={name}", file.display());
    assert_refusal(
        &repo,
        &["record", "--direct", "--issue", "2", "--add", &add],
        2,
        "invalid_path",
        &[&name],
    )?;
    assert_eq!(
        repo.git(&["status", "--porcelain"])?,
        "",
        "the work tree is clean"
    );
    Ok(())
}
