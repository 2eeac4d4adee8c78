//! The manifest's size is watched (docs/format.md, "Manifest size"):
//! `consolidate` warns, on stderr and in `--json` `warnings`, when the
//! `manifest.json` it writes passes git config `catalogue.manifestWarnSize`,
//! and refuses one above `catalogue.manifestMaxSize` (exit 2,
//! `manifest_too_large`) before writing anything, because a forge would
//! refuse the push. The thresholds are set small here so that a few
//! kilobytes of manifest cross them.

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{assert_refusal, every_case, run_catalogue, Repo};

/// A fragment of `n` artifacts for `issue`: about 110 bytes of manifest each.
fn fragment(issue: usize, n: usize) -> String {
    let artifacts: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"path": "docs/{issue}/report-{i:04}.md", "kind": "report", "title": "Report {i} of issue {issue}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"issue": {issue}, "artifacts": [{}]}}"#,
        artifacts.join(", ")
    )
}

/// A bare repository with one fragment of `n` artifacts recorded on main.
fn with_fragment(repo: &Repo, issue: usize, n: usize) -> Result<()> {
    let file = repo.sandbox_file(
        &format!("issue-{issue}.json"),
        fragment(issue, n).as_bytes(),
    )?;
    let file = file.display().to_string();
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--issue",
        &issue.to_string(),
        "--fragment",
        &file,
    ])?;
    Ok(())
}

/// The size of main's manifest, as git states it.
fn manifest_size(repo: &Repo) -> Result<u64> {
    repo.git(&["cat-file", "-s", "main:catalogue/manifest.json"])?
        .trim()
        .parse()
        .context("git cat-file -s")
}

/// The warnings of a `--json` object, as strings.
fn warnings(out: &Value) -> Result<Vec<String>> {
    out["warnings"]
        .as_array()
        .with_context(|| format!("no warnings array: {out}"))?
        .iter()
        .map(|w| {
            w.as_str()
                .map(ToOwned::to_owned)
                .context("a warning is a string")
        })
        .collect()
}

#[test]
fn a_manifest_past_the_warning_size_is_written_with_a_warning() -> Result<()> {
    let repo = Repo::new_bare()?;
    // Under the default (25 MiB) nothing is said.
    with_fragment(&repo, 1, 20)?;
    let out = repo.consolidate()?;
    ensure!(warnings(&out)?.is_empty(), "{out}");
    let small = manifest_size(&repo)?;
    ensure!(
        small > 2048,
        "the test's manifest is {small} bytes, not past 2k"
    );

    repo.git(&["config", "catalogue.manifestWarnSize", "2k"])?;
    with_fragment(&repo, 2, 20)?;
    let before = repo.rev("main")?;
    let out = repo.consolidate()?;
    ensure!(
        out["changed"] == true && repo.rev("main")? != before,
        "{out}"
    );
    let size = manifest_size(&repo)?;
    let said = warnings(&out)?;
    ensure!(
        said.len() == 1
            && said[0].contains(&format!("{size} bytes"))
            && said[0].contains("2048 bytes")
            && said[0].contains("catalogue.manifestWarnSize")
            && said[0].contains("catalogue/manifest.json"),
        "the JSON warning gives the figure, the limit and the key: {said:?}"
    );
    repo.fsck()?;

    // In text, on stderr; and again while the manifest stays that large,
    // even when there is nothing to write.
    with_fragment(&repo, 3, 20)?;
    for changed in [true, false] {
        let run = repo.catalogue(&["consolidate"])?;
        run.expect(0)?;
        let size = manifest_size(&repo)?;
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with("warning:") && l.contains("catalogue.manifestWarnSize"))
            .with_context(|| format!("no warning on stderr: {run:?}"))?;
        ensure!(line.contains(&format!("{size} bytes")), "{line}");
        ensure!(run.stderr.contains("already current") != changed, "{run:?}");
    }
    Ok(())
}

#[test]
fn a_manifest_over_the_limit_is_refused_and_nothing_is_written() -> Result<()> {
    let repo = Repo::new_bare()?;
    with_fragment(&repo, 1, 10)?;
    repo.consolidate()?;
    repo.git(&["config", "catalogue.manifestMaxSize", "8k"])?;
    with_fragment(&repo, 2, 80)?;
    let before = repo.rev("main")?;

    for args in [&["consolidate"][..], &["consolidate", "--dry-run"]] {
        let error = assert_refusal(
            &repo,
            args,
            2,
            "manifest_too_large",
            &["catalogue/manifest.json", &before],
        )?;
        let message = error["message"].as_str().unwrap_or_default();
        for wanted in ["8192 bytes", "catalogue.manifestMaxSize", "--dir", "refuse"] {
            ensure!(
                message.contains(wanted),
                "the error lacks `{wanted}`: {message}"
            );
        }
        ensure!(repo.rev("main")? == before, "main moved on {args:?}");
    }
    let run = repo.catalogue(&["consolidate"])?;
    ensure!(
        run.stderr.contains("error:") && run.stderr.contains("--dir"),
        "{run:?}"
    );
    let refused = run.stderr.clone();

    // The figure is the manifest's real size: raised for one run (as
    // `git -c` does), the limit lets the same manifest through.
    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.env("GIT_CONFIG_PARAMETERS", "'catalogue.manifestMaxSize'='1m'")
        .args(["--json", "consolidate"]);
    let run = run_catalogue(&mut cmd)?;
    run.expect(0)?;
    let out = run.json()?;
    ensure!(repo.rev("main")? != before, "{out}");
    let size = manifest_size(&repo)?;
    ensure!(size > 8192, "{size}");
    ensure!(
        refused.contains(&format!("{size} bytes")),
        "the refusal gave another figure than the manifest's {size} bytes: {refused}"
    );
    repo.fsck()?;
    Ok(())
}

#[test]
fn a_size_that_git_would_not_read_is_a_usage_error_naming_the_key() -> Result<()> {
    let repo = Repo::new_bare()?;
    with_fragment(&repo, 1, 20)?;
    let before = repo.rev("main")?;
    let cases: Vec<(&str, &str)> = ["catalogue.manifestWarnSize", "catalogue.manifestMaxSize"]
        .into_iter()
        .flat_map(|key| ["ten", "1.5m", "0", "-3", "10mb", ""].map(move |v| (key, v)))
        .collect();
    every_case(&cases, |(key, value)| {
        for other in ["catalogue.manifestWarnSize", "catalogue.manifestMaxSize"] {
            repo.git_status(&["config", "--unset-all", other])?;
        }
        repo.git(&["config", key, value])?;
        // A config key is no offender field: the message and stderr name it.
        let error = assert_refusal(&repo, &["consolidate"], 2, "usage", &[])?;
        let message = error["message"].as_str().unwrap_or_default();
        let wanted = format!("{key} is `{value}`");
        ensure!(message.contains(&wanted), "{message}");
        let run = repo.catalogue(&["consolidate"])?;
        ensure!(run.stderr.contains(&wanted), "{run:?}");
        ensure!(repo.rev("main")? == before, "main moved");
        // Only the commands that write a manifest read it.
        repo.catalogue_ok(&["list"])?;
        Ok(())
    })?;
    for key in ["catalogue.manifestWarnSize", "catalogue.manifestMaxSize"] {
        repo.git_status(&["config", "--unset-all", key])?;
    }
    // Git's suffixes, in either case, are sizes.
    repo.git(&["config", "catalogue.manifestWarnSize", "1K"])?;
    repo.git(&["config", "catalogue.manifestMaxSize", "1G"])?;
    let out = repo.consolidate()?;
    ensure!(
        warnings(&out)?.iter().any(|w| w.contains("1024 bytes")),
        "{out}"
    );
    Ok(())
}
