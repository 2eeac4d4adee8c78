//! Bounded memory: a `manifest.json` or `index.md` larger than the bound
//! (256 MiB, docs/format.md "Limits") is judged by its header and never
//! inflated, wherever it is met: the old outputs `consolidate` builds on,
//! `verify --history`'s manifest check, and every version `repair` reads.
//!
//! The bomb is a 300 MB zero blob: over the bound, yet its git object is a
//! few hundred KB, so the test is cheap. Each command's peak resident set
//! is sampled from `/proc/<pid>/status` (`VmHWM`, the kernel's own high-water
//! mark) while it runs; inflating the blob would take it past 300 MB.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{str_field, Content, Repo, Run};

/// Over `MAX_OUTPUT_BYTES` (268,435,456).
const BOMB: u64 = 300_000_000;

/// Far below the bomb, far above the tool's own needs on a tiny catalogue
/// (a debug build: about 10 MB).
const PEAK_KIB: u64 = 100 * 1024;

/// Run `cmd` to its end, sampling its `VmHWM` every millisecond. The
/// outcome, and the highest value seen (kB).
fn run_sampling_peak(cmd: &mut Command) -> Result<(Run, u64)> {
    let out_file = tempfile::tempfile()?;
    let err_file = tempfile::tempfile()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file.try_clone()?)
        .stderr(err_file.try_clone()?)
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(120),
            "{cmd:?} still running after 120 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    use std::io::{Read, Seek};
    let read = |mut f: std::fs::File| -> Result<String> {
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0))?;
        f.read_to_string(&mut s)?;
        Ok(s)
    };
    let run = Run {
        status: status.code().unwrap_or(-1),
        stdout: read(out_file)?,
        stderr: read(err_file)?,
    };
    Ok((run, peak))
}

/// `--json <args>` with its peak memory; fails when the peak is over the bound.
fn bounded(repo: &Repo, args: &[&str], code: i32) -> Result<Value> {
    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.arg("--json").args(args);
    let (run, peak) = run_sampling_peak(&mut cmd)?;
    eprintln!("{args:?}: peak {peak} kB, exit {}", run.status);
    ensure!(peak > 0, "no VmHWM sample of {args:?}");
    ensure!(
        peak < PEAK_KIB,
        "{args:?} peaked at {peak} kB (bound {PEAK_KIB} kB): the blob was inflated\n{}",
        run.stderr
    );
    run.expect(code)?;
    run.json()
}

/// A bare repository with one recorded fragment, then a commit (by hand)
/// of a 300 MB zero blob at `path`. Returns it, the commit and the blob.
fn with_a_bomb_at(path: &str) -> Result<(Repo, String, String)> {
    let repo = Repo::bare_consolidated(&[(1, "docs/a.md")])?;
    let blob = repo.zero_blob(BOMB)?;
    let size = repo.git(&["cat-file", "-s", &blob])?;
    ensure!(size.trim() == BOMB.to_string(), "{size}");
    let commit = repo.commit_by_hand(&[(path, Content::Blob(&blob))], "a bomb")?;
    Ok((repo, commit, blob))
}

#[test]
fn consolidate_rebuilds_in_full_over_a_bomb_of_a_manifest_or_index() -> Result<()> {
    for path in ["catalogue/manifest.json", "catalogue/index.md"] {
        let (repo, _, blob) = with_a_bomb_at(path)?;
        let out = bounded(&repo, &["consolidate"], 0)?;
        let note = str_field(&out, "note")?;
        ensure!(note.contains(path) && note.contains("larger than"), "{out}");
        // Rebuilt in full: both outputs are the tool's again.
        let manifest = repo.json("main:catalogue/manifest.json")?;
        assert_eq!(
            crate::support::artifact_paths(&manifest)?,
            ["docs/a.md"],
            "{manifest}"
        );
        assert_ne!(repo.rev(&format!("main:{path}"))?, blob);
        repo.fsck()?;
    }
    Ok(())
}

#[test]
fn verify_history_and_repair_report_a_bomb_without_reading_it() -> Result<()> {
    let (repo, commit, blob) = with_a_bomb_at("catalogue/manifest.json")?;
    let verify = bounded(&repo, &["verify", "--history"], 1)?;
    let problems = verify["problems"].as_array().context("problems")?;
    ensure!(
        problems
            .iter()
            .any(|p| p["commit"] == Value::String(commit.clone())
                && p["kind"] == "invalid_manifest"
                && p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&blob) && m.contains("larger than"))),
        "{verify}"
    );

    let before = repo.snapshot()?;
    let dry = bounded(&repo, &["repair", "--dry-run"], 0)?;
    assert_eq!(repo.snapshot()?, before, "--dry-run wrote: {dry}");
    let invalid = dry["invalid_versions"]
        .as_array()
        .context("invalid_versions")?;
    ensure!(
        invalid
            .iter()
            .any(|v| v["commit"] == Value::String(commit.clone())
                && v["blob"] == Value::String(blob.clone())
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("larger than"))),
        "{dry}"
    );
    // A real repair too: it consolidates over the bomb, in full.
    bounded(&repo, &["repair"], 0)?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    ensure!(
        crate::support::artifact_paths(&manifest)?.contains(&"docs/a.md".to_owned()),
        "{manifest}"
    );
    repo.fsck()?;
    Ok(())
}

/// A fragment of 300 MB, loose (as `git hash-object -w` writes it) and then
/// packed, is refused by its size before it is inflated, by every reader:
/// the loose one is read straight from its file with the bound, the packed
/// one is judged by its pack header.
#[test]
fn a_bomb_of_a_fragment_is_refused_unread_loose_or_packed() -> Result<()> {
    let path = "catalogue/fragments/issue-2.json";
    let (repo, _, blob) = with_a_bomb_at(path)?;
    let loose = repo
        .git_dir()
        .join("objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    for layout in ["loose", "packed"] {
        if layout == "packed" {
            repo.git(&["repack", "-adq"])?;
        }
        ensure!(
            loose.exists() == (layout == "loose"),
            "{layout}: the layout is as meant"
        );
        for args in [&["consolidate", "--full"][..], &["check"], &["list"]] {
            let out = bounded(&repo, args, if args[0] == "check" { 1 } else { 2 })?;
            let found = out.to_string();
            ensure!(
                found.contains(path) && found.contains("invalid_fragment"),
                "{layout} {args:?}: {out}"
            );
        }
    }
    Ok(())
}
