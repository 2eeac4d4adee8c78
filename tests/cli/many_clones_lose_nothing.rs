//! Load across clones: any number of writers pushing to one remote lose
//! nothing (README, Concurrency and Guarantees). 32 bare shallow clones, each its own
//! stream of OS processes, push through a real `git daemon` on 127.0.0.1 at
//! once, each making 10 `record --direct --push origin` and one
//! `consolidate --push origin`, at the default retry budget. No write may
//! fail other than by running out of attempts (exit 3, which must stay rare:
//! at most 1 % of writes may need all 11 attempts); a write that ran out is
//! run again, as its CI job would be; and nothing may be lost: after one
//! last consolidation, origin's manifest lists all 320 fragments' 640
//! artifacts.
//!
//! It prints the figures that tune the backoff: retries per write (median,
//! maximum), writes per second, and how many writes used all 11 attempts.
//! `cargo test --test cli many_clones -- --nocapture` shows them.
//!
//! It is the slowest test: about 3.5 minutes on the project's 2-core VM
//! (201 s racing), nearly all of it writers pausing in backoff (the whole
//! run used about 30 s of CPU). The figures and the backoff they led to are
//! explained at `backoff_after` in `src/publish.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::support::{
    artifact_paths, in_parallel, median_max, run_catalogue, GitDaemon, Repo, Run,
};

const CLONES: usize = 32;
const RECORDS: usize = 10;
/// `--retries` left at its default: the budget under test.
const DEFAULT_RETRIES: u64 = 10;

fn issue_of(clone: usize, run: usize) -> usize {
    (clone + 1) * 100 + run
}

/// Each record lists two artifacts.
fn artifacts_of(clone: usize, run: usize) -> [String; 2] {
    [
        format!("load/clone-{clone:02}/run-{run}.md"),
        format!("load/clone-{clone:02}/run-{run}.json"),
    ]
}

/// One process of one clone.
struct Write {
    clone: usize,
    args: Vec<String>,
    what: String,
    run: Run,
    /// When it ended, from the start of the race.
    ended: std::time::Duration,
}

#[test]
fn thirty_two_shallow_clones_pushing_through_a_git_daemon_lose_nothing_at_the_default_budget(
) -> Result<()> {
    let origin = Repo::new_bare()?;
    let base = origin.rev("main")?;
    let daemon = GitDaemon::serve_with(&origin, &["--max-connections=0"])?;
    let url = daemon.url(&origin)?;
    let cloning = Instant::now();
    // Setting up is not under test: git daemon listens with a backlog of 5,
    // so 32 clones connecting at once can be reset by the kernel. A clone
    // that fails that way is tried again, a few times, before the test gives up.
    let clones = in_parallel(CLONES, |_| {
        let mut tries = 1;
        loop {
            match Repo::clone_shallow_bare_url(&url) {
                Ok(clone) => return Ok(clone),
                Err(e) if tries < 5 => {
                    eprintln!("setup clone {tries} failed, trying again: {e:#}");
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200 * tries));
                }
                Err(e) => return Err(e.context(format!("cloning {url} failed {tries} times"))),
            }
        }
    })?;
    let cloned = cloning.elapsed();

    let start = Barrier::new(CLONES);
    let started = Instant::now();
    let per_clone = in_parallel(CLONES, |c| -> Result<Vec<Write>> {
        let clone = &clones[c];
        start.wait();
        let mut writes = Vec::new();
        for r in 0..=RECORDS {
            let issue = issue_of(c, r).to_string();
            let [md, json] = artifacts_of(c, r);
            let (args, what): (Vec<&str>, String) = if r < RECORDS {
                let args = ["record", "--direct", "--issue", &issue, "--artifact", &md];
                let args = [&args[..], &["--kind", "report", "--artifact", &json]].concat();
                (args, format!("clone {c}: record --issue {issue}"))
            } else {
                (vec!["consolidate"], format!("clone {c}: consolidate"))
            };
            let args: Vec<String> = ["--json"]
                .iter()
                .chain(&args)
                .chain(&["--push", "origin"])
                .map(|a| (*a).to_owned())
                .collect();
            let run = run_catalogue(clone.catalogue_command(&clone.path).args(&args))?;
            writes.push(Write {
                clone: c,
                args,
                what,
                run,
                ended: started.elapsed(),
            });
        }
        Ok(writes)
    })?;
    let racing = started.elapsed();
    let writes: Vec<Write> = per_clone.into_iter().flatten().collect();

    // The figures, failed runs included.
    let outs = writes
        .iter()
        .map(|w| w.run.json().with_context(|| w.what.clone()))
        .collect::<Result<Vec<Value>>>()?;
    let attempts = |o: &Value| {
        o["attempts"]
            .as_u64()
            .or_else(|| o["error"]["attempts"].as_u64())
    };
    let retries_of = |pick: &dyn Fn(&Value) -> bool| -> Result<Vec<u64>> {
        outs.iter()
            .filter(|o| pick(o))
            .map(|o| {
                attempts(o)
                    .map(|a| a - 1)
                    .with_context(|| format!("no attempts in {o}"))
            })
            .collect()
    };
    let all = retries_of(&|_| true)?;
    let records = retries_of(&|o| o["command"] == "record")?;
    let consolidations = retries_of(&|o| o["command"] == "consolidate")?;
    let (median, max) = median_max(&all);
    let (rec_median, rec_max) = median_max(&records);
    let (con_median, con_max) = median_max(&consolidations);
    // A write that used all 11 attempts: won on the last, or gave up (exit 3).
    let at_limit: Vec<(&Write, &Value)> = writes
        .iter()
        .zip(&outs)
        .filter(|(_, o)| attempts(o) == Some(DEFAULT_RETRIES + 1))
        .collect();
    let clones_at_limit: BTreeSet<usize> = at_limit.iter().map(|(w, _)| w.clone).collect();
    let mut histogram = BTreeMap::new();
    for r in &all {
        *histogram.entry(*r).or_insert(0usize) += 1;
    }
    let landed = outs.iter().filter(|o| o["pushed"].is_string()).count();
    let last_record = writes
        .iter()
        .filter(|w| w.what.contains("record"))
        .map(|w| w.ended)
        .max()
        .unwrap_or_default();
    // Out of attempts: exit 3, or exit 4 naming a lock file on the remote
    // that stayed held through the lock waits of the last attempt (the
    // origin's `main.lock`, taken by the push that was winning): both are
    // contention, and both leave the write to be run again.
    let contended = |w: &Write| {
        w.run.status == 3
            || (w.run.status == 4 && w.run.json().is_ok_and(|j| j["error"]["kind"] == "lock"))
    };
    let gave_up: Vec<&Write> = writes.iter().filter(|w| contended(w)).collect();
    // A transport failure (git's own connection to the daemon dropped, kind
    // `remote`) is the machine's, not the tool's: counted and printed, and
    // the write is run again like one that ran out of attempts.
    let transport =
        |w: &Write| w.run.status == 4 && w.run.json().is_ok_and(|j| j["error"]["kind"] == "remote");
    let dropped: Vec<&Write> = writes.iter().filter(|w| transport(w)).collect();
    let broke: Vec<&Write> = writes
        .iter()
        .filter(|w| w.run.status != 0 && !contended(w) && !transport(w))
        .collect();
    eprintln!(
        "load: {CLONES} shallow clones x ({RECORDS} record --direct --push + 1 consolidate --push) \
         through git daemon, --retries {DEFAULT_RETRIES} (default): {} writes, {} gave up (exit 3, or a remote lock that stayed), \
         {} lost their connection (kind remote, run again), {} failed otherwise; \
         retries per write median {median}, max {max} (records {rec_median}/{rec_max}, \
         consolidations {con_median}/{con_max}); retries -> writes {histogram:?}; \
         {} writes of {} clones used all {} attempts; {landed} pushes landed in {racing:.1?} = {:.2} \
         landed writes/s ({} records in {last_record:.1?} = {:.2} records/s); cloning took {cloned:.1?}",
        writes.len(),
        gave_up.len(),
        dropped.len(),
        broke.len(),
        at_limit.len(),
        clones_at_limit.len(),
        DEFAULT_RETRIES + 1,
        landed as f64 / racing.as_secs_f64(),
        CLONES * RECORDS,
        (CLONES * RECORDS) as f64 / last_record.as_secs_f64(),
    );
    if !broke.is_empty() {
        let shown: Vec<String> = broke
            .iter()
            .take(10)
            .map(|w| format!("{}: {:?}", w.what, w.run))
            .collect();
        bail!(
            "{} of {} writes failed other than by contention (first 10):\n{}\n--- git daemon log (tail)\n{}",
            broke.len(),
            writes.len(),
            shown.join("\n"),
            daemon
                .log_text()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The goal is that none runs out of attempts. The race is a lottery, so
    // a write may still need its last attempt now and then (about one run
    // in three, and rarely lose it); the schedule before the tuning in
    // src/publish.rs ran 12 of 352 out. More than 1 % is a regression.
    ensure!(
        at_limit.len() * 100 <= writes.len(),
        "{} writes used all {} attempts: {:?}",
        at_limit.len(),
        DEFAULT_RETRIES + 1,
        at_limit.iter().map(|(w, _)| &w.what).collect::<Vec<_>>()
    );
    for w in &dropped {
        let clone = &clones[w.clone];
        clone
            .catalogue(&w.args.iter().map(String::as_str).collect::<Vec<_>>())?
            .expect(0)
            .with_context(|| format!("re-running {} after {:?}", w.what, w.run))?;
    }
    // One that gave up says so, and is run again, as its CI job would be.
    for w in &gave_up {
        let error = &w.run.json()?["error"];
        ensure!(
            (error["kind"] == "contention" && error["ref"] == "refs/heads/main")
                || (error["kind"] == "lock" && error["lock"].is_string()),
            "{}: {:?}",
            w.what,
            w.run
        );
        let clone = &clones[w.clone];
        clone
            .catalogue(&w.args.iter().map(String::as_str).collect::<Vec<_>>())?
            .expect(0)
            .with_context(|| format!("re-running {}", w.what))?;
    }

    // Every record landed once, on a linear first-parent history.
    assert_eq!(origin.git(&["rev-list", "--merges", "main"])?, "");
    let history = origin.first_parents_since(&base)?;
    for (w, o) in writes.iter().zip(&outs) {
        if let Some(pushed) = o["pushed"].as_str() {
            ensure!(
                history.contains(pushed),
                "{}: pushed {pushed}, not on origin's main",
                w.what
            );
        }
    }

    // One last consolidation, on origin itself: all 320 are in the manifest.
    origin.consolidate()?;
    let want_names: BTreeSet<String> = (0..CLONES)
        .flat_map(|c| (0..RECORDS).map(move |r| format!("issue-{}.json", issue_of(c, r))))
        .collect();
    assert_eq!(want_names.len(), CLONES * RECORDS);
    assert_eq!(origin.tree_names("main:catalogue/fragments")?, want_names);
    let manifest = origin.json("main:catalogue/manifest.json")?;
    let listed = artifact_paths(&manifest)?;
    let want_paths: BTreeSet<String> = (0..CLONES)
        .flat_map(|c| (0..RECORDS).flat_map(move |r| artifacts_of(c, r)))
        .collect();
    assert_eq!(listed.len(), 2 * CLONES * RECORDS);
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), want_paths);
    origin.catalogue(&["check"])?.expect(0)?;
    origin.fsck()
}
