//! The race, for real: many OS processes writing to one branch at once.
//!
//! Every ref update is a compare-and-swap; a loser rebuilds on the new tip
//! and retries; nobody's data is lost (README, Concurrency). These tests
//! spawn real processes concurrently and check the outcome with the git CLI.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{
    artifact_paths, assert_gave_up_naming_main, in_parallel, record_direct_args, run_catalogue,
    str_field, Repo, Run,
};

const WRITERS: usize = 8;
const RECORDS_PER_WRITER: usize = 10;
const CONSOLIDATORS: usize = 3;

fn issue_of(writer: usize, run: usize) -> usize {
    (writer + 1) * 100 + run
}

fn artifact_of(writer: usize, run: usize) -> String {
    format!("out/w{writer}/run-{run}.md")
}

/// `attempts` of a successful `--json` run.
fn attempts(run: &Run) -> Result<u64> {
    run.json()?["attempts"]
        .as_u64()
        .with_context(|| format!("no attempts in {run:?}"))
}

#[test]
fn eight_writers_and_three_consolidators_lose_nothing_and_keep_history_linear() -> Result<()> {
    let repo = Repo::new_bare()?;
    let base = repo.rev("main")?;
    let writers_done = AtomicBool::new(false);
    let started = Instant::now();

    let (records, consolidations) = std::thread::scope(|s| -> Result<_> {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let repo = &repo;
                s.spawn(move || -> Result<Vec<(usize, Run)>> {
                    let mut runs = Vec::new();
                    for r in 0..RECORDS_PER_WRITER {
                        let issue = issue_of(w, r).to_string();
                        let path = artifact_of(w, r);
                        let mut cmd = repo.catalogue_command(&repo.path);
                        cmd.arg("--json").args(record_direct_args(&issue, &path));
                        runs.push((issue_of(w, r), run_catalogue(&mut cmd)?));
                    }
                    Ok(runs)
                })
            })
            .collect();
        let consolidators: Vec<_> = (0..CONSOLIDATORS)
            .map(|_| {
                let (repo, done) = (&repo, &writers_done);
                s.spawn(move || -> Result<Vec<Run>> {
                    let mut runs = Vec::new();
                    while !done.load(Ordering::SeqCst) {
                        let mut cmd = repo.catalogue_command(&repo.path);
                        cmd.args(["--json", "consolidate"]);
                        runs.push(run_catalogue(&mut cmd)?);
                    }
                    Ok(runs)
                })
            })
            .collect();
        let mut records = Vec::new();
        let mut failure = None;
        for w in writers {
            match w.join() {
                Ok(Ok(runs)) => records.extend(runs),
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(anyhow::anyhow!("a writer thread panicked")),
            }
        }
        writers_done.store(true, Ordering::SeqCst);
        let mut consolidations = Vec::new();
        for c in consolidators {
            match c.join() {
                Ok(Ok(runs)) => consolidations.extend(runs),
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(anyhow::anyhow!("a consolidator thread panicked")),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((records, consolidations)),
        }
    })?;
    let racing = started.elapsed();

    let final_run = repo.catalogue(&["--json", "consolidate"])?;
    final_run.expect(0)?;

    // Every process exited 0.
    let failed: Vec<&Run> = records
        .iter()
        .map(|(_, r)| r)
        .chain(consolidations.iter())
        .filter(|r| r.status != 0)
        .collect();
    ensure!(
        failed.is_empty(),
        "{} processes failed: {failed:#?}",
        failed.len()
    );
    assert_eq!(records.len(), WRITERS * RECORDS_PER_WRITER);

    // The retry figure, visible under --nocapture.
    let record_attempts: u64 = records
        .iter()
        .map(|(_, r)| attempts(r))
        .sum::<Result<_>>()?;
    let consolidate_attempts: u64 = consolidations.iter().map(attempts).sum::<Result<_>>()?;
    let changed = consolidations
        .iter()
        .map(Run::json)
        .collect::<Result<Vec<Value>>>()?
        .into_iter()
        .filter(|v| v["changed"] == true)
        .collect::<Vec<_>>();
    eprintln!(
        "race: {} records took {record_attempts} attempts ({} retries); {} concurrent \
         consolidations took {consolidate_attempts} attempts ({} retries, {} commits); {:.1?} racing",
        records.len(),
        record_attempts - records.len() as u64,
        consolidations.len(),
        consolidate_attempts - consolidations.len() as u64,
        changed.len(),
        racing,
    );

    // All 80 fragments are on main.
    let expected_names: BTreeSet<String> = records
        .iter()
        .map(|(issue, _)| format!("issue-{issue}.json"))
        .collect();
    assert_eq!(expected_names.len(), WRITERS * RECORDS_PER_WRITER);
    assert_eq!(repo.tree_names("main:catalogue/fragments")?, expected_names);

    // The manifest lists exactly the 80 artifacts.
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let listed: BTreeSet<String> = artifact_paths(&manifest)?.into_iter().collect();
    let expected_paths: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..RECORDS_PER_WRITER).map(move |r| artifact_of(w, r)))
        .collect();
    assert_eq!(
        artifact_paths(&manifest)?.len(),
        WRITERS * RECORDS_PER_WRITER
    );
    assert_eq!(listed, expected_paths);
    assert_eq!(
        str_field(&manifest, "source")?,
        repo.rev("main:catalogue/fragments")?
    );

    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;

    // First-parent history is linear and holds every record and consolidation commit.
    assert_eq!(repo.git(&["rev-list", "--merges", "main"])?, "");
    let history = repo.first_parents_since(&base)?;
    for (issue, run) in &records {
        let commit = str_field(&run.json()?, "commit")?.to_owned();
        ensure!(
            history.contains(&commit),
            "record of issue {issue} ({commit}) is not on main"
        );
    }
    for consolidation in &changed {
        let commit = str_field(consolidation, "commit")?;
        ensure!(
            history.contains(commit),
            "consolidation {commit} is not on main"
        );
    }
    assert_eq!(
        history.len(),
        records.len() + changed.len() + final_changes(&final_run)?
    );
    assert!(racing < Duration::from_secs(60), "the race took {racing:?}");
    Ok(())
}

fn final_changes(run: &Run) -> Result<usize> {
    Ok(usize::from(run.json()?["changed"] == true))
}

#[test]
fn with_no_retries_a_lost_race_exits_3_and_only_winners_land() -> Result<()> {
    // Deterministic in what it asserts, whatever the scheduling: each writer
    // either wins (exit 0, its fragment on main) or gives up at once (exit 3,
    // kind contention naming the ref, its fragment nowhere on main).
    // How many lose varies from run to run and is only printed.
    let repo = Repo::new_bare()?;
    const RACERS: usize = 16;
    let runs: Vec<(usize, Run)> = in_parallel(RACERS, |i| {
        let issue = (i + 1).to_string();
        let path = format!("racer/{i}.md");
        let mut cmd = repo.catalogue_command(&repo.path);
        cmd.args([
            "--json",
            "record",
            "--direct",
            "--retries",
            "0",
            "--issue",
            &issue,
            "--artifact",
            &path,
        ]);
        Ok((i + 1, run_catalogue(&mut cmd)?))
    })?;

    let on_main = repo.tree_names("main:catalogue/fragments")?;
    let mut lost = 0;
    for (issue, run) in &runs {
        let name = format!("issue-{issue}.json");
        let out = run.json()?;
        match run.status {
            0 => {
                assert_eq!(
                    out["attempts"], 1,
                    "--retries 0 allows one attempt: {run:?}"
                );
                assert!(on_main.contains(&name), "winner {name} is not on main");
            }
            3 => {
                lost += 1;
                assert_gave_up_naming_main(run, &out)?;
                assert!(!on_main.contains(&name), "loser {name} landed on main");
            }
            _ => anyhow::bail!("--retries 0 must exit 0 or 3: {run:?}"),
        }
    }
    eprintln!("retries 0: {lost} of {RACERS} concurrent direct records gave up with exit 3");
    assert_eq!(on_main.len(), RACERS - lost);
    repo.fsck()
}

/// Leave a lock file behind as a crashed writer would.
fn plant_lock(repo: &Repo, rel: &str) -> Result<std::path::PathBuf> {
    let lock = repo.git_dir().join(rel);
    std::fs::create_dir_all(lock.parent().context("lock has a folder")?)?;
    std::fs::write(&lock, "left behind by a crashed writer\n")?;
    Ok(lock)
}

/// Run `args` against a held lock: exit 4 within seconds, kind `lock`, the
/// lock file named on stderr and in `error.lock`, and the lock left alone.
fn assert_blocked_by(repo: &Repo, lock: &std::path::Path, rel: &str, args: &[&str]) -> Result<()> {
    let started = Instant::now();
    let run = repo.catalogue(args)?;
    let took = started.elapsed();
    run.expect(4)?;
    assert!(
        took < Duration::from_secs(15),
        "waited {took:?} for a lock that stays"
    );
    assert!(
        run.stderr.contains(rel),
        "stderr does not name {rel}: {run:?}"
    );

    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(args);
    let run = repo.catalogue(&json_args)?;
    run.expect(4)?;
    let out = run.json()?;
    assert_eq!(out["error"]["kind"], "lock", "{run:?}");
    let named = str_field(&out["error"], "lock")?;
    assert!(named.ends_with(rel), "error.lock {named:?} is not {rel}");
    assert!(
        str_field(&out["error"], "message")?.contains(rel),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(lock)?,
        "left behind by a crashed writer\n",
        "somebody else's lock file was touched"
    );
    Ok(())
}

#[test]
fn a_lock_that_stays_ends_in_exit_4_naming_the_lock_file_and_main_is_unchanged() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    let main = repo.rev("main")?;
    let rel = "refs/heads/main.lock";
    let lock = plant_lock(&repo, rel)?;

    let record = record_direct_args("2", "b.md");
    assert_blocked_by(&repo, &lock, rel, &record)?;
    assert_blocked_by(&repo, &lock, rel, &["consolidate"])?;
    assert_eq!(repo.rev("main")?, main);
    repo.fsck()?;

    // It was the lock: without it the same command goes through.
    std::fs::remove_file(&lock)?;
    repo.catalogue_ok(&record)?;
    assert!(repo.exists("main:catalogue/fragments/issue-2.json")?);
    Ok(())
}

#[test]
fn a_lock_on_the_per_issue_ref_ends_in_exit_4_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    let rel = "refs/heads/catalogue/issue-9.lock";
    let lock = plant_lock(&repo, rel)?;
    assert_blocked_by(
        &repo,
        &lock,
        rel,
        &["record", "--issue", "9", "--artifact", "a.md"],
    )?;
    assert!(!repo.exists("refs/heads/catalogue/issue-9")?);
    std::fs::remove_file(&lock)?;
    repo.record(9, "a.md")?;
    assert!(repo.exists("refs/heads/catalogue/issue-9")?);
    Ok(())
}

#[test]
fn sigterm_while_waiting_for_a_lock_leaves_no_lock_file_of_its_own() -> Result<()> {
    let repo = Repo::bare_recorded(&[(1, "a.md")])?;
    // gix takes packed-refs.lock before the loose ref's lock whenever
    // packed-refs exists, and holds it while it waits for the loose one.
    repo.git(&["pack-refs", "--all"])?;
    let main = repo.rev("main")?;
    let held = plant_lock(&repo, "refs/heads/main.lock")?;
    let packed_lock = repo.git_dir().join("packed-refs.lock");

    let mut cmd = repo.catalogue_command(&repo.path);
    cmd.args(record_direct_args("2", "b.md"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn()?;
    // Wait until it is inside the ref transaction, holding packed-refs.lock.
    let started = Instant::now();
    while !packed_lock.exists() {
        ensure!(
            started.elapsed() < Duration::from_secs(2),
            "the writer never took packed-refs.lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    ensure!(killed.success(), "kill -TERM failed");
    let status = child.wait()?;
    ensure!(
        status.code().is_none(),
        "expected death by signal, got {status:?}"
    );

    assert!(
        !packed_lock.exists(),
        "SIGTERM left {} behind",
        packed_lock.display()
    );
    assert!(held.exists(), "the other process's lock must stay");
    assert_eq!(repo.rev("main")?, main);
    repo.fsck()?;
    std::fs::remove_file(&held)?;
    repo.record_direct(2, "b.md")?;
    Ok(())
}
