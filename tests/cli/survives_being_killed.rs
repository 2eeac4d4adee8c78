//! Killed at any instant (README, Guarantees: crashes never corrupt): `record --direct`,
//! `consolidate` and `repair` are SIGKILLed at random moments, and after
//! every kill the repository is checked with git: `fsck --strict` is clean,
//! the branch is on a complete commit whose manifest is the old or the new
//! one, and the next run succeeds, or names the lock file the kill left
//! behind and says how to recover. SIGINT and SIGTERM, which a cancelled CI
//! job sends, must leave no lock file at all.
//!
//! The moments come from a seeded generator written here (no crate): the
//! seed is printed, and `KILL_SEED=<n>` replays a run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::support::{artifact_paths, record_direct_args, str_field, Content, Repo, Run};

/// SplitMix64: tiny, fast and good enough to spread kill moments.
struct Rng(u64);

impl Rng {
    /// Seeded from `KILL_SEED` when set, else from the clock; printed either way.
    fn from_env(test: &str) -> Result<Rng> {
        let seed = match std::env::var("KILL_SEED") {
            Ok(s) => s.parse().with_context(|| format!("KILL_SEED={s:?}"))?,
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos() as u64,
        };
        eprintln!("{test}: seed {seed} (replay with KILL_SEED={seed})");
        Ok(Rng(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A moment in a run that usually takes `typical`: uniform over the whole
    /// run (and a quarter beyond, so some kills find the process finished),
    /// and one time in four log-uniform from 1 µs, so the first microseconds
    /// of a run are hit too.
    fn moment(&mut self, typical: Duration) -> Duration {
        let span = typical.mul_f64(1.25).max(Duration::from_micros(2));
        if self.next_u64() % 4 == 0 {
            let (lo, hi) = (1e-6f64.ln(), span.as_secs_f64().ln());
            Duration::from_secs_f64((lo + (hi - lo) * self.unit()).exp())
        } else {
            span.mul_f64(self.unit())
        }
    }
}

/// Wait `d` precisely enough for microseconds: spin below 200 µs.
fn pause(d: Duration) {
    if d < Duration::from_micros(200) {
        let start = Instant::now();
        while start.elapsed() < d {
            std::hint::spin_loop();
        }
    } else {
        std::thread::sleep(d);
    }
}

/// Every `*.lock` file in the git dir.
fn lock_files(git_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![git_dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Temporary object files a killed writer left in `objects/` (gix writes a
/// loose object to `objects/.tmpXXXXXX`, then renames it into place). git
/// never reads them, so they are litter, not damage; they are counted.
fn object_tempfiles(git_dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(git_dir.join("objects"))? {
        if entry?.file_name().to_string_lossy().starts_with(".tmp") {
            n += 1;
        }
    }
    Ok(n)
}

/// The manifest's bytes at `rev` (empty when there is none).
fn manifest_at(repo: &Repo, rev: &str) -> Result<Vec<u8>> {
    let spec = format!("{rev}:catalogue/manifest.json");
    if repo.exists(&spec)? {
        repo.blob(&spec)
    } else {
        Ok(Vec::new())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Record,
    Consolidate,
    Repair,
}

/// What the kills did, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    finished_first: usize,
    before_move: usize,
    after_move: usize,
    repair_between_moves: usize,
    stale_after_repair_rerun: usize,
    left_lock: usize,
    next_writer_met_lock: usize,
    lock_files: BTreeSet<String>,
    object_tempfiles: usize,
    moments_us: Vec<u128>,
}

/// Spawn the tool with `args`, kill it with `signal` after `delay`, reap it.
fn run_and_signal(repo: &Repo, args: &[&str], delay: Duration, signal: &str) -> Result<ExitStatus> {
    let mut child = repo
        .catalogue_command(&repo.path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    pause(delay);
    if signal == "KILL" {
        // An already finished child is fine: the kill simply came too late.
        let _ = child.kill();
    } else {
        let _ = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .stderr(Stdio::null())
            .status()?;
    }
    // A run that a signal leaves hanging is a failure, not a stuck suite:
    // gix's handler once deadlocked on a signal landing while it was being
    // installed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{args:?} did not exit within 30 s of SIG{signal} sent after {delay:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Run `args` with `--json` until it succeeds. Each leftover lock that is in
/// its way must make the run fail with kind `lock`, naming the lock file on
/// stderr, in `error.message` and in `error.lock`, and saying to delete it:
/// then it is deleted, as the message says, and the command is run again.
/// Returns the successful run, its duration, and the locks it did not meet
/// (a run with nothing to write takes no lock).
fn recover(repo: &Repo, args: &[&str], locks: &[PathBuf]) -> Result<(Run, Duration, Vec<PathBuf>)> {
    let mut left: Vec<PathBuf> = locks.to_vec();
    loop {
        let started = Instant::now();
        let run = repo.catalogue(args)?;
        let took = started.elapsed();
        if run.status == 0 {
            return Ok((run, took, left));
        }
        ensure!(
            !left.is_empty(),
            "the run after a kill that left no lock file must succeed: {run:?}"
        );
        let out = run.json()?;
        let error = &out["error"];
        ensure!(error["kind"] == "lock", "{args:?} with {left:?}: {run:?}");
        ensure!(run.status == 4, "a lock error exits 4: {run:?}");
        let named = PathBuf::from(str_field(error, "lock")?);
        let message = str_field(error, "message")?;
        let shown = named.display().to_string();
        ensure!(
            message.contains(&shown) && run.stderr.contains(&shown),
            "the error does not name {shown}: {run:?}"
        );
        ensure!(
            message.contains("delete that file"),
            "the error does not say how to recover: {message}"
        );
        ensure!(
            left.contains(&named),
            "the error names {shown}, not one of the leftover locks {left:?}"
        );
        std::fs::remove_file(&named)?;
        left.retain(|l| l != &named);
    }
}

/// A bare repository with 12 consolidated fragments, and lock timeouts of
/// 50 ms: a lock a SIGKILL leaves stays forever, and the 3 s default wait
/// would only slow the loop down; the error is the same.
fn catalogued_repo() -> Result<Repo> {
    let repo = Repo::new_bare()?;
    repo.git(&["config", "core.filesRefLockTimeout", "50"])?;
    repo.git(&["config", "core.packedRefsTimeout", "50"])?;
    let paths: Vec<String> = (1..=12).map(|n| format!("seed/{n}.md")).collect();
    let seeds: Vec<(usize, &str)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, p.as_str()))
        .collect();
    repo.with_consolidated(&seeds)
}

/// Commit by hand a manifest with one extra entry that no fragment holds, as
/// a tool from before fragments would: `repair` then has it to recover.
fn add_legacy_entry(repo: &Repo, issue: usize, path: &str) -> Result<()> {
    let mut manifest = repo.json("main:catalogue/manifest.json")?;
    manifest["artifacts"]
        .as_array_mut()
        .context("manifest artifacts")?
        .push(json!({"path": path, "issue": issue, "kind": "legacy"}));
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    repo.commit_by_hand(
        &[("catalogue/manifest.json", Content::File(&bytes))],
        "An old writer adds an entry to the manifest",
    )?;
    Ok(())
}

#[test]
fn two_hundred_sigkills_at_random_moments_never_corrupt_and_never_lose_an_entry() -> Result<()> {
    const KILLS: usize = 200;
    let mut rng = Rng::from_env("kill loop")?;
    let repo = catalogued_repo()?;
    let git_dir = repo.git_dir();
    let mut expected: BTreeSet<String> = (1..=12).map(|n| format!("seed/{n}.md")).collect();
    // Typical durations per command, learnt from the runs that did the work.
    let mut typical = [Duration::from_millis(30); 3];
    let mut tally = Tally::default();
    let mut tempfiles_before = 0;
    let started = Instant::now();

    for i in 0..KILLS {
        let op = [Op::Record, Op::Consolidate, Op::Repair][i % 3];
        let issue = (100 + i).to_string();
        let record_path = format!("out/{i}.md");
        let legacy_issue = 5000 + i;
        let legacy_path = format!("legacy/{i}.md");
        let args: Vec<&str> = match op {
            Op::Record => [&["--json"][..], &record_direct_args(&issue, &record_path)].concat(),
            Op::Consolidate => vec!["--json", "consolidate"],
            Op::Repair => {
                add_legacy_entry(&repo, legacy_issue, &legacy_path)?;
                vec!["--json", "repair"]
            }
        };
        let old = repo.rev("main")?;
        let old_manifest = manifest_at(&repo, &old)?;

        let moment = rng.moment(typical[op as usize]);
        tally.moments_us.push(moment.as_micros());
        let status = run_and_signal(&repo, &args, moment, "KILL")?;
        tally.kills += 1;
        let context = || format!("kill {i} ({op:?} after {moment:?}, {status})");

        // The repository as the kill left it.
        repo.fsck().with_context(context)?;
        let killed_at = repo.rev("main")?;
        let killed_manifest = manifest_at(&repo, &killed_at)?;
        let locks = lock_files(&git_dir)?;
        let tempfiles = object_tempfiles(&git_dir)?;
        tally.object_tempfiles += tempfiles - tempfiles_before;
        tempfiles_before = tempfiles;
        if status.success() {
            tally.finished_first += 1;
        } else if killed_at == old {
            tally.before_move += 1;
        } else {
            tally.after_move += 1;
        }
        if !locks.is_empty() {
            tally.left_lock += 1;
            for l in &locks {
                let rel = l.strip_prefix(&git_dir)?.display().to_string();
                tally.lock_files.insert(rel);
            }
        }

        // The next run: succeeds, or names the lock and succeeds once it is gone.
        let (run, took, unmet) = recover(&repo, &args, &locks).with_context(context)?;
        let out = run.json()?;
        let new = repo.rev("main")?;
        let new_manifest = manifest_at(&repo, &new)?;

        // The killed run left main where it was, or where a full run puts it;
        // `repair` moves it twice (recovery fragments, then consolidation),
        // so it may also have stopped on its recovery commit.
        let between = op == Op::Repair
            && killed_at != old
            && repo
                .git(&["log", "-1", "--format=%s", &killed_at])?
                .starts_with("catalogue: repair");
        if between {
            tally.repair_between_moves += 1;
        }
        ensure!(
            killed_at == old
                || killed_at == new
                || (between && repo.parents(&new)? == [killed_at.clone()]),
            "{}: main is at {killed_at}, neither the old tip {old} nor the new {new}",
            context()
        );
        ensure!(
            killed_manifest == old_manifest || killed_manifest == new_manifest,
            "{}: the manifest at {killed_at} is neither the old nor the new one",
            context()
        );

        // Nothing was lost: what the command is for is there now.
        match op {
            Op::Record => {
                let fragment =
                    repo.json(&format!("main:catalogue/fragments/issue-{issue}.json"))?;
                ensure!(
                    artifact_paths(&fragment)? == [record_path.clone()],
                    "{fragment}"
                );
                expected.insert(record_path);
            }
            Op::Consolidate => {}
            Op::Repair => {
                let fragment = repo.json(&format!(
                    "main:catalogue/fragments/issue-{legacy_issue}.json"
                ))?;
                ensure!(
                    artifact_paths(&fragment)? == [legacy_path.clone()],
                    "{fragment}"
                );
                expected.insert(legacy_path);
            }
        }
        let did_work = out["commit"].is_string();
        if did_work {
            typical[op as usize] = (typical[op as usize] * 3 + took) / 4;
        }
        // After a consolidation (and a repair that consolidated), the
        // manifest lists every entry ever recorded.
        // A repair stopped between its moves is re-run to find nothing to
        // recover, and then does not consolidate (src/history/mod.rs only
        // consolidates after writing recovery fragments): its manifest stays
        // stale until the next consolidate, which the loop runs next.
        if between && new_manifest == old_manifest {
            tally.stale_after_repair_rerun += 1;
        }
        if op == Op::Consolidate || (op == Op::Repair && !between) {
            let manifest: Value = serde_json::from_slice(&new_manifest)?;
            let listed: BTreeSet<String> = artifact_paths(&manifest)?.into_iter().collect();
            ensure!(
                listed == expected,
                "{}: the manifest lost or invented entries: missing {:?}, extra {:?}",
                context(),
                expected.difference(&listed).collect::<Vec<_>>(),
                listed.difference(&expected).collect::<Vec<_>>()
            );
        }
        if !unmet.is_empty() {
            // The run had nothing to write (the killed one had finished the
            // work), so it took no lock. The next writer meets them.
            ensure!(
                out["commit"].is_null(),
                "{}: {unmet:?} did not stop a write: {out}",
                context()
            );
            let extra_issue = (10_000 + i).to_string();
            let extra_path = format!("extra/{i}.md");
            let writer = [
                &["--json"][..],
                &record_direct_args(&extra_issue, &extra_path),
            ]
            .concat();
            let (_, _, still) = recover(&repo, &writer, &unmet).with_context(context)?;
            ensure!(
                still.is_empty(),
                "{}: {still:?} did not stop record --direct",
                context()
            );
            expected.insert(extra_path);
            tally.next_writer_met_lock += 1;
        }
    }
    let looping = started.elapsed();

    // One last consolidation, and the catalogue holds everything.
    repo.consolidate()?;
    let manifest = repo.json("main:catalogue/manifest.json")?;
    let listed: BTreeSet<String> = artifact_paths(&manifest)?.into_iter().collect();
    assert_eq!(listed, expected);
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;

    let mut moments = tally.moments_us.clone();
    moments.sort_unstable();
    eprintln!(
        "kill loop: {} SIGKILLs in {looping:.1?} ({} record --direct, {} consolidate, {} repair); \
         {} finished before the kill, {} interrupted before the ref moved, {} after it moved \
         ({} of them repairs stopped between their two moves, whose re-run left the manifest stale {} times); {} left a lock file {:?} ({} of those met only by the next writer); \
         {} temporary object files left in objects/; kill moments from {} us to {} us \
         (median {} us); typical run times {:?}",
        tally.kills,
        KILLS.div_ceil(3),
        (KILLS + 1) / 3,
        KILLS / 3,
        tally.finished_first,
        tally.before_move,
        tally.after_move,
        tally.repair_between_moves,
        tally.stale_after_repair_rerun,
        tally.left_lock,
        tally.lock_files,
        tally.next_writer_met_lock,
        tally.object_tempfiles,
        moments.first().copied().unwrap_or(0),
        moments.last().copied().unwrap_or(0),
        moments.get(moments.len() / 2).copied().unwrap_or(0),
        typical,
    );
    ensure!(
        tally.before_move > 0 && tally.after_move > 0,
        "the kills never hit both sides of the ref update: {tally:?}"
    );
    Ok(())
}

/// SIGINT or SIGTERM at random moments: each run ends by the signal (or had
/// finished), gix's handler removes its lock files, so nothing blocks the
/// next run, and the repository is whole.
fn signal_loop(signal: &str, runs: usize) -> Result<()> {
    // `SIGNAL_RUNS=<n>` runs a longer loop by hand.
    let runs = match std::env::var("SIGNAL_RUNS") {
        Ok(n) => n.parse().with_context(|| format!("SIGNAL_RUNS={n:?}"))?,
        Err(_) => runs,
    };
    let mut rng = Rng::from_env(&format!("SIG{signal} loop"))?;
    let repo = catalogued_repo()?;
    let git_dir = repo.git_dir();
    let mut typical = Duration::from_millis(30);
    let (mut by_signal, mut finished, mut moved) = (0, 0, 0);
    for i in 0..runs {
        let issue = (100 + i).to_string();
        let path = format!("out/{i}.md");
        let args: Vec<&str> = if i % 2 == 0 {
            [&["--json"][..], &record_direct_args(&issue, &path)].concat()
        } else {
            vec!["--json", "consolidate"]
        };
        let old = repo.rev("main")?;
        let old_manifest = manifest_at(&repo, &old)?;
        let moment = rng.moment(typical);
        let status = run_and_signal(&repo, &args, moment, signal)?;
        let context = || {
            format!(
                "SIG{signal} {i} ({:?} after {moment:?}, {status})",
                &args[1..]
            )
        };
        match status.code() {
            None => by_signal += 1,
            Some(0) => finished += 1,
            Some(code) => bail!(
                "{}: exit {code}, neither death by the signal nor success",
                context()
            ),
        }
        let locks = lock_files(&git_dir)?;
        ensure!(locks.is_empty(), "{}: left {locks:?}", context());
        let tempfiles = object_tempfiles(&git_dir)?;
        ensure!(
            tempfiles == 0,
            "{}: left {tempfiles} temporary object file(s) in objects/",
            context()
        );
        repo.fsck().with_context(context)?;
        let stopped_at = repo.rev("main")?;
        let stopped_manifest = manifest_at(&repo, &stopped_at)?;
        if stopped_at != old {
            moved += 1;
        }
        let started = Instant::now();
        let out = repo.catalogue_ok(&args[1..])?;
        if out["commit"].is_string() {
            typical = (typical * 3 + started.elapsed()) / 4;
        }
        let new = repo.rev("main")?;
        ensure!(
            stopped_at == old || stopped_at == new,
            "{}: main is at {stopped_at}, neither {old} nor {new}",
            context()
        );
        ensure!(
            stopped_manifest == old_manifest || stopped_manifest == manifest_at(&repo, &new)?,
            "{}: the manifest is neither the old nor the new one",
            context()
        );
    }
    eprintln!(
        "SIG{signal} loop: {runs} runs, {by_signal} ended by the signal, {finished} had finished, \
         {moved} after the ref moved; no lock file left by any"
    );
    ensure!(by_signal > 0, "no run was ever interrupted");
    repo.catalogue(&["check"])?.expect(0).map(drop)
}

#[test]
fn sigint_at_random_moments_ends_the_run_with_no_lock_file_and_nothing_half_written() -> Result<()>
{
    signal_loop("INT", 30)
}

#[test]
fn sigterm_at_random_moments_ends_the_run_with_no_lock_file_and_nothing_half_written() -> Result<()>
{
    signal_loop("TERM", 30)
}
