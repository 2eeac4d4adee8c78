//! `--push REMOTE`: `record --direct`, per-issue `record` and `consolidate`
//! building on a remote's tip and pushing without force (README, Commands).
//!
//! Every remote here is a real bare repository, reached by a `file://` URL,
//! by a plain path, or through a real `git daemon` on 127.0.0.1; the clones
//! are `git clone --bare --depth 1`, as a CI job makes them. What reached the
//! remote is checked with the git CLI on the remote itself and in fresh
//! clones of it, never with the library under test.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::support::{
    artifact_paths, assert_gave_up_naming_main, in_parallel, known_kind, record_direct_args,
    run_catalogue, str_field, GitDaemon, Repo, Run,
};

/// `attempts` of a `--json` outcome: top level, or inside `error` on failure.
fn attempts(out: &Value) -> Result<u64> {
    out["attempts"]
        .as_u64()
        .or_else(|| out["error"]["attempts"].as_u64())
        .with_context(|| format!("no attempts in {out}"))
}

/// What a bare `origin`'s `main` holds at the start: two recorded, not yet
/// consolidated fragments.
const TWO_FRAGMENTS: &[(usize, &str)] = &[(1, "docs/1.md"), (2, "docs/2.md")];

/// `--push origin`, the remote every clone here was cloned from.
const PUSH: &[&str] = &["--push", "origin"];

/// `check` (manifest and index current) in a fresh full clone of `origin`;
/// the manifest there.
fn check_in_fresh_clone(origin: &Repo) -> Result<Value> {
    let fresh = origin.clone_bare()?;
    fresh.catalogue(&["check"])?.expect(0)?;
    fresh.json("main:catalogue/manifest.json")
}

/// The assertions every successful push shares: the remote named as given and
/// the pushed commit being the commit the command made.
fn assert_pushed(out: &Value, remote: &str) -> Result<String> {
    assert_eq!(out["remote"], remote, "{out}");
    let pushed = str_field(out, "pushed")?.to_owned();
    assert_eq!(str_field(out, "commit")?, pushed, "{out}");
    Ok(pushed)
}

#[test]
fn consolidate_push_from_a_shallow_bare_clone_puts_one_consolidation_commit_on_origin_s_main(
) -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let before = origin.rev("main")?;
    let clone = origin.clone_shallow_bare()?;
    assert_eq!(
        clone.git(&["rev-parse", "--is-shallow-repository"])?.trim(),
        "true"
    );
    assert_eq!(
        clone.git(&["remote", "get-url", "origin"])?.trim(),
        origin.file_url()
    );

    let out = clone.catalogue_ok(&["consolidate", "--push", "origin"])?;
    let after = origin.rev("main")?;
    assert_eq!(out["command"], "consolidate");
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(assert_pushed(&out, "origin")?, after);
    assert_eq!(out["ref"], "refs/heads/main");
    assert_eq!(str_field(&out, "tip")?, after);
    assert_eq!(attempts(&out)?, 1, "nobody else pushed: {out}");
    assert_eq!(out["fragments"], 2);
    assert_eq!(out["artifacts"], 2);
    assert_eq!(
        str_field(&out, "source")?,
        origin.rev("main:catalogue/fragments")?
    );

    // Exactly one commit, on top of what origin had, writing the two generated files.
    assert_eq!(origin.parents(&after)?, vec![before.clone()]);
    assert_eq!(
        origin.changed_paths(&before, &after)?,
        "catalogue/index.md\ncatalogue/index/issue-1.md\ncatalogue/manifest.json\n"
    );
    let manifest = check_in_fresh_clone(&origin)?;
    assert_eq!(artifact_paths(&manifest)?, ["docs/1.md", "docs/2.md"]);
    origin.fsck()?;

    // The bare clone's main was the tip the commit was built on and nothing
    // has it checked out: it follows the pushed commit (README, Commands).
    assert_eq!(clone.rev("main")?, after);

    // Already current: nothing is pushed and origin does not move.
    let again = clone.catalogue_ok(&["consolidate", "--push", "origin"])?;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["pushed"], Value::Null, "{again}");
    assert_eq!(again["remote"], "origin");
    assert_eq!(origin.rev("main")?, after);

    // The same from another clone that has never seen the consolidation.
    let other = origin.clone_shallow_bare()?;
    let third = other.catalogue_ok(&["consolidate", "--push", "origin"])?;
    assert_eq!(third["changed"], false, "{third}");
    assert_eq!(third["pushed"], Value::Null, "{third}");
    assert_eq!(origin.rev("main")?, after);
    origin.fsck()
}

#[test]
fn record_direct_push_builds_on_origin_s_current_tip_not_on_the_clone_s_stale_one() -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    let stale = clone.rev("main")?;
    // Origin moves on after the clone was made.
    origin.record_direct(3, "docs/3.md")?;
    let moved = origin.rev("main")?;

    let out = clone.record_direct_with(4, "docs/4.md", PUSH)?;
    let pushed = assert_pushed(&out, "origin")?;
    assert_eq!(origin.rev("main")?, pushed);
    assert_eq!(out["key"], "issue-4");
    assert_eq!(out["ref"], "refs/heads/main");
    assert_eq!(str_field(&out, "parent")?, moved);
    assert_eq!(attempts(&out)?, 1, "{out}");
    assert_eq!(origin.parents(&pushed)?, vec![moved.clone()]);
    assert_eq!(
        origin.changed_paths(&moved, &pushed)?,
        "catalogue/fragments/issue-4.json\n"
    );
    assert_eq!(
        origin.json("main:catalogue/fragments/issue-4.json")?,
        json!({"issue": 4, "artifacts": [{"path": "docs/4.md"}]})
    );
    assert_eq!(
        origin.tree_names("main:catalogue/fragments")?,
        [
            "issue-1.json",
            "issue-2.json",
            "issue-3.json",
            "issue-4.json"
        ]
        .map(str::to_owned)
        .into()
    );

    // The clone's main differs from the tip the commit was built on: not moved.
    assert_eq!(clone.rev("main")?, stale);
    assert!(!clone.exists("refs/heads/catalogue/issue-4")?);
    origin.fsck()
}

#[test]
fn per_issue_record_push_creates_the_issue_ref_on_origin_on_top_of_origin_s_main_and_locally(
) -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    origin.record_direct(3, "docs/3.md")?;
    let main = origin.rev("main")?;

    let out = clone.record_with(5, "docs/5.md", PUSH)?;
    let pushed = assert_pushed(&out, "origin")?;
    assert_eq!(out["ref"], "refs/heads/catalogue/issue-5");
    assert_eq!(origin.rev("refs/heads/catalogue/issue-5")?, pushed);
    assert_eq!(str_field(&out, "parent")?, main);
    assert_eq!(origin.parents(&pushed)?, vec![main.clone()]);
    assert_eq!(
        origin.changed_paths(&main, &pushed)?,
        "catalogue/fragments/issue-5.json\n"
    );
    assert_eq!(
        origin.json("catalogue/issue-5:catalogue/fragments/issue-5.json")?,
        json!({"issue": 5, "artifacts": [{"path": "docs/5.md"}]})
    );
    origin
        .catalogue(&["check", "--fragments-only", "--rev", "catalogue/issue-5"])?
        .expect(0)?;

    // Main is untouched on both sides; the local per-issue ref was absent, so it is set.
    assert_eq!(origin.rev("main")?, main);
    assert_eq!(clone.rev("refs/heads/catalogue/issue-5")?, pushed);
    origin.fsck()
}

#[test]
fn a_re_run_re_pushes_the_issue_ref_as_a_child_of_its_previous_value_and_leaves_main_alone(
) -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let main = origin.rev("main")?;
    let push_issue_6 = |clone: &Repo, artifact: &str| clone.record_with(6, artifact, PUSH);

    let a = origin.clone_shallow_bare()?;
    let first = assert_pushed(&push_issue_6(&a, "docs/6a.md")?, "origin")?;

    // A second CI job, a fresh clone with no local per-issue ref, re-runs the issue.
    let b = origin.clone_shallow_bare()?;
    let out = push_issue_6(&b, "docs/6b.md")?;
    let second = assert_pushed(&out, "origin")?;
    assert_eq!(origin.rev("refs/heads/catalogue/issue-6")?, second);
    assert_eq!(str_field(&out, "parent")?, first);
    assert_eq!(origin.parents(&second)?, vec![first.clone()]);
    assert_eq!(
        origin.changed_paths(&first, &second)?,
        "catalogue/fragments/issue-6.json\n"
    );
    assert_eq!(
        origin.json(&format!("{second}:catalogue/fragments/issue-6.json"))?,
        json!({"issue": 6, "artifacts": [{"path": "docs/6b.md"}]})
    );

    // The first clone re-runs again: it builds on the remote's value, not on
    // its own older one, and (its local ref differing from the previous
    // remote value) leaves its local ref where it was.
    let third = assert_pushed(&push_issue_6(&a, "docs/6c.md")?, "origin")?;
    assert_eq!(origin.rev("refs/heads/catalogue/issue-6")?, third);
    assert_eq!(origin.parents(&third)?, vec![second.clone()]);
    assert_eq!(a.rev("refs/heads/catalogue/issue-6")?, first);

    assert_eq!(origin.rev("main")?, main, "main is never touched");
    assert_eq!(origin.count(&format!("{main}..catalogue/issue-6"))?, 3);
    origin.fsck()?;

    // B had no local per-issue ref, so its push set it: a local ref follows
    // the pushed commit when it is absent or still holds the previous
    // remote value.
    ensure!(
        b.exists("refs/heads/catalogue/issue-6")?,
        "the second clone's absent local refs/heads/catalogue/issue-6 was not set to {second}"
    );
    assert_eq!(b.rev("refs/heads/catalogue/issue-6")?, second);
    Ok(())
}

#[test]
fn over_a_git_daemon_record_and_consolidate_push_to_a_git_url() -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let daemon = GitDaemon::serve(&origin)?;
    let url = daemon.url(&origin)?;
    let clone = Repo::clone_shallow_bare_url(&url)?;
    assert_eq!(clone.git(&["remote", "get-url", "origin"])?.trim(), url);
    assert!(url.starts_with("git://127.0.0.1:"), "{url}");

    let direct = clone.record_direct_with(3, "docs/3.md", PUSH)?;
    let direct = assert_pushed(&direct, "origin")?;
    assert_eq!(origin.rev("main")?, direct);

    let issue = clone.record_with(4, "docs/4.md", PUSH)?;
    let issue = assert_pushed(&issue, "origin")?;
    assert_eq!(origin.rev("refs/heads/catalogue/issue-4")?, issue);
    assert_eq!(origin.parents(&issue)?, vec![direct.clone()]);

    let out = clone.catalogue_ok(&["consolidate", "--push", "origin"])?;
    assert_eq!(out["changed"], true, "{out}");
    let consolidation = assert_pushed(&out, "origin")?;
    assert_eq!(origin.rev("main")?, consolidation);
    assert_eq!(origin.parents(&consolidation)?, vec![direct]);
    let manifest = check_in_fresh_clone(&origin)?;
    assert_eq!(
        artifact_paths(&manifest)?,
        ["docs/1.md", "docs/2.md", "docs/3.md"],
        "the per-issue record is not on main yet"
    );

    let again = clone.catalogue_ok(&["consolidate", "--push", "origin"])?;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["pushed"], Value::Null, "{again}");
    assert_eq!(origin.rev("main")?, consolidation);
    origin.fsck()
}

#[test]
fn a_remote_given_as_a_url_is_pushed_to_and_fetched_under_a_url_remote_id() -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    let url = origin.file_url();
    let out = clone.record_direct_with(3, "docs/3.md", &["--push", &url])?;
    let pushed = assert_pushed(&out, &url)?;
    assert_eq!(origin.rev("main")?, pushed);

    // remote-id = `url-<16 hex>` for anything that is not a plain remote name.
    let refs = clone.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/catalogue/remotes/",
    ])?;
    let fetched_main = refs.lines().find(|name| {
        name.strip_prefix("refs/catalogue/remotes/url-")
            .and_then(|rest| rest.strip_suffix("/heads/main"))
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    ensure!(
        fetched_main.is_some(),
        "no refs/catalogue/remotes/url-<16 hex>/heads/main among:\n{refs}"
    );
    origin.fsck()
}

const CLONES: usize = 6;
const RECORDS_PER_CLONE: usize = 5;

fn race_issue(clone: usize, run: usize) -> usize {
    (clone + 1) * 100 + run
}

fn race_artifact(clone: usize, run: usize) -> String {
    format!("out/clone-{clone}/run-{run}.md")
}

/// One command of one clone in the race.
struct Step {
    what: String,
    run: Run,
}

#[test]
fn six_shallow_clones_pushing_at_once_over_a_git_daemon_lose_nothing_and_end_current() -> Result<()>
{
    // Over the daemon: each clone talks to origin through git:// on loopback,
    // as CI jobs talk to a forge, with receive-pack serving concurrent pushes.
    let origin = Repo::new_bare()?;
    let base = origin.rev("main")?;
    let daemon = GitDaemon::serve(&origin)?;
    let url = daemon.url(&origin)?;
    let clones = (0..CLONES)
        .map(|_| Repo::clone_shallow_bare_url(&url))
        .collect::<Result<Vec<_>>>()?;

    let start = Barrier::new(CLONES);
    let started = Instant::now();
    let per_clone = in_parallel(CLONES, |c| -> Result<Vec<Step>> {
        let clone = &clones[c];
        start.wait();
        let mut steps = Vec::new();
        for r in 0..RECORDS_PER_CLONE {
            let issue = race_issue(c, r).to_string();
            let path = race_artifact(c, r);
            let mut cmd = clone.catalogue_command(&clone.path);
            cmd.arg("--json")
                .args(record_direct_args(&issue, &path))
                .args(PUSH);
            let what = format!("clone {c}: record --issue {issue}");
            steps.push(Step {
                what,
                run: run_catalogue(&mut cmd)?,
            });
        }
        let mut cmd = clone.catalogue_command(&clone.path);
        cmd.args(["--json", "consolidate", "--push", "origin"]);
        let what = format!("clone {c}: consolidate");
        steps.push(Step {
            what,
            run: run_catalogue(&mut cmd)?,
        });
        Ok(steps)
    })?;
    let steps: Vec<Step> = per_clone.into_iter().flatten().collect();
    let racing = started.elapsed();

    // The retry figures, visible under --nocapture (failed runs included).
    let outs = steps
        .iter()
        .map(|s| s.run.json())
        .collect::<Result<Vec<Value>>>()?;
    let all_attempts = outs.iter().map(attempts).collect::<Result<Vec<u64>>>()?;
    let retries: u64 = all_attempts.iter().map(|a| a - 1).sum();
    let max = all_attempts.iter().copied().max().unwrap_or(0);
    let mut histogram = std::collections::BTreeMap::new();
    for a in &all_attempts {
        *histogram.entry(*a).or_insert(0usize) += 1;
    }
    let consolidations: Vec<&Value> = outs
        .iter()
        .filter(|o| o["command"] == "consolidate")
        .collect();
    let changed: Vec<&Value> = consolidations
        .iter()
        .copied()
        .filter(|o| o["changed"] == true)
        .collect();
    eprintln!(
        "remote race (git daemon): {CLONES} clones x ({RECORDS_PER_CLONE} record --direct --push \
         + 1 consolidate --push): {} pushes, {retries} retries in all, max {max} attempts, \
         {} of {CLONES} consolidations pushed a commit; {racing:.1?} racing; \
         commands by attempts: {histogram:?}",
        steps.len(),
        changed.len(),
    );

    let failed: Vec<&Step> = steps.iter().filter(|s| s.run.status != 0).collect();
    if !failed.is_empty() {
        let shown: Vec<String> = failed
            .iter()
            .map(|s| format!("{}: {:?}", s.what, s.run))
            .collect();
        bail!(
            "{} of {} commands failed:\n{}\n--- git daemon log\n{}",
            failed.len(),
            steps.len(),
            shown.join("\n"),
            daemon.log_text()
        );
    }

    // Every pushed commit is on origin's first-parent history, which is
    // linear and holds nothing else: a fast-forward-only push lands once.
    let history = origin.first_parents_since(&base)?;
    assert_eq!(origin.git(&["rev-list", "--merges", "main"])?, "");
    for (step, out) in steps.iter().zip(&outs) {
        assert_eq!(out["remote"], "origin", "{}: {out}", step.what);
        if out["command"] == "consolidate" && out["changed"] == false {
            assert_eq!(out["pushed"], Value::Null, "{}: {out}", step.what);
            continue;
        }
        if out["command"] == "record" && out["changed"] == false {
            // An earlier attempt's push landed though its reply was lost
            // (likely under load): the retry found the fragment already on
            // origin, at the tip it names.
            assert_eq!(out["pushed"], Value::Null, "{}: {out}", step.what);
            let tip = str_field(out, "tip")?;
            ensure!(
                history.contains(tip),
                "{}: the fragment is said to be at {tip}, which is not on origin's main",
                step.what
            );
            let path = str_field(out, "fragment")?;
            origin.git(&["cat-file", "-e", &format!("{tip}:{path}")])?;
            continue;
        }
        let pushed = assert_pushed(out, "origin")?;
        ensure!(
            history.contains(&pushed),
            "{}: pushed {pushed}, which is not on origin's main",
            step.what
        );
    }
    // Fixed dates make two consolidations built on the same tip the same
    // commit, so the second "pushes" what is already there: count commits.
    let consolidation_commits: BTreeSet<&str> = changed
        .iter()
        .filter_map(|o| o["pushed"].as_str())
        .collect();
    assert_eq!(
        history.len(),
        CLONES * RECORDS_PER_CLONE + consolidation_commits.len()
    );

    // A fresh clone of origin shows all 30 fragments and a current manifest
    // listing exactly the 30 artifacts, WITHOUT one more consolidation.
    // That holds by design: every clone consolidates (and pushes) after its
    // own last record, having fetched origin after that record landed. So
    // the last update of origin's main cannot be a record: its clone's
    // consolidation would have fetched it, found the manifest stale and
    // pushed on top of it. The last update is therefore a consolidation,
    // built on the tip it replaced, hence current.
    let fresh = origin.clone_bare()?;
    let expected_names: BTreeSet<String> = (0..CLONES)
        .flat_map(|c| {
            (0..RECORDS_PER_CLONE).map(move |r| format!("issue-{}.json", race_issue(c, r)))
        })
        .collect();
    assert_eq!(expected_names.len(), CLONES * RECORDS_PER_CLONE);
    assert_eq!(
        fresh.tree_names("main:catalogue/fragments")?,
        expected_names
    );
    fresh.catalogue(&["check"])?.expect(0)?;
    let manifest = fresh.json("main:catalogue/manifest.json")?;
    let listed = artifact_paths(&manifest)?;
    let expected_paths: BTreeSet<String> = (0..CLONES)
        .flat_map(|c| (0..RECORDS_PER_CLONE).map(move |r| race_artifact(c, r)))
        .collect();
    assert_eq!(listed.len(), CLONES * RECORDS_PER_CLONE);
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected_paths);
    let last = origin.rev("main")?;
    ensure!(
        changed.iter().any(|o| o["pushed"] == last.as_str()),
        "origin's main {last} is not a consolidation one of the clones pushed"
    );
    origin.fsck()?;
    assert!(racing < Duration::from_secs(60), "the race took {racing:?}");
    Ok(())
}

#[test]
fn with_retries_0_or_1_concurrent_pushers_exit_0_or_3_and_origin_keeps_every_winner() -> Result<()>
{
    const PUSHERS: usize = 12;
    for retries in [0u64, 1] {
        let origin = Repo::new_bare()?;
        // Concurrent receive-packs wait for each other's ref lock instead of
        // failing after git's default 100 ms, so that what a loser meets is
        // the moved ref (contention, exit 3), not a held lock (exit 4).
        origin.git(&["config", "core.filesRefLockTimeout", "10000"])?;
        let clones = (0..PUSHERS)
            .map(|_| origin.clone_shallow_bare())
            .collect::<Result<Vec<_>>>()?;
        let start = Barrier::new(PUSHERS);
        let retries_arg = retries.to_string();
        let runs: Vec<(usize, Run)> = in_parallel(PUSHERS, |i| {
            let clone = &clones[i];
            let issue = (i + 1).to_string();
            let path = format!("racer/{i}.md");
            let mut cmd = clone.catalogue_command(&clone.path);
            cmd.args([
                "--json",
                "record",
                "--direct",
                "--retries",
                &retries_arg,
                "--issue",
                &issue,
                "--artifact",
                &path,
                "--push",
                "origin",
            ]);
            start.wait();
            Ok((i + 1, run_catalogue(&mut cmd)?))
        })?;

        // The first push to land cannot have lost: main has a fragments folder.
        let on_main = origin.tree_names("main:catalogue/fragments")?;
        let mut lost = 0;
        for (issue, run) in &runs {
            let name = format!("issue-{issue}.json");
            let out = run.json()?;
            match run.status {
                0 => {
                    let tries = attempts(&out)?;
                    ensure!(tries <= retries + 1, "--retries {retries}: {run:?}");
                    assert_pushed(&out, "origin")?;
                    ensure!(on_main.contains(&name), "winner {name} is not on origin");
                }
                3 => {
                    lost += 1;
                    assert_gave_up_naming_main(run, &out)?;
                    assert_eq!(attempts(&out)?, retries + 1, "{run:?}");
                    ensure!(!on_main.contains(&name), "loser {name} landed on origin");
                }
                _ => bail!("--retries {retries} must exit 0 or 3: {run:?}"),
            }
        }
        eprintln!(
            "remote contention, --retries {retries}: {lost} of {PUSHERS} concurrent \
             record --direct --push gave up with exit 3"
        );
        assert_eq!(on_main.len(), PUSHERS - lost);
        origin.fsck()?;
    }
    Ok(())
}

#[test]
fn a_lock_held_on_origin_s_main_ends_in_exit_4_naming_it_within_30_seconds_and_loses_nothing(
) -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    let main = origin.rev("main")?;
    let lock = origin.git_dir().join("refs/heads/main.lock");
    std::fs::write(&lock, "left behind by a crashed receive-pack\n")?;

    let args = [&["--json"][..], &record_direct_args("3", "docs/3.md"), PUSH].concat();
    let started = Instant::now();
    let run = clone.catalogue(&args)?;
    let took = started.elapsed();
    eprintln!("a held remote lock was given up on after {took:.1?}");
    run.expect(4)?;
    let out = run.json()?;
    assert_eq!(out["error"]["kind"], "lock", "{run:?}");
    let named = str_field(&out["error"], "lock")?;
    ensure!(
        named.ends_with("refs/heads/main.lock"),
        "error.lock {named:?} is not origin's main.lock"
    );
    ensure!(
        str_field(&out["error"], "message")?.contains("main.lock"),
        "{run:?}"
    );
    ensure!(took < Duration::from_secs(30), "waited {took:?}");

    // Nothing changed on origin, and its lock file was left alone.
    assert_eq!(origin.rev("main")?, main);
    assert_eq!(
        std::fs::read_to_string(&lock)?,
        "left behind by a crashed receive-pack\n"
    );
    origin.fsck()?;

    // Nothing lost: without the lock the same command goes through.
    std::fs::remove_file(&lock)?;
    let run = clone.catalogue(&args)?;
    run.expect(0)?;
    assert_eq!(origin.parents(&origin.rev("main")?)?, vec![main]);
    assert_eq!(
        origin.tree_names("main:catalogue/fragments")?,
        ["issue-1.json", "issue-2.json", "issue-3.json"]
            .map(str::to_owned)
            .into()
    );
    origin.fsck()
}

#[test]
fn a_pre_receive_hook_that_declines_ends_in_exit_4_rejected_with_its_reason_after_one_attempt(
) -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let calls = origin.scratch().join("pre-receive-calls");
    origin.install_hook(
        "pre-receive",
        &format!(
            "#!/bin/sh\necho called >> '{}'\necho 'catalogue: pushes to main need review' >&2\nexit 1\n",
            calls.display()
        ),
    )?;
    let clone = origin.clone_shallow_bare()?;
    let main = origin.rev("main")?;

    let commands: [&[&str]; 3] = [
        &record_direct_args("3", "docs/3.md"),
        &["record", "--issue", "4", "--artifact", "docs/4.md"],
        &["consolidate"],
    ];
    for (n, command) in commands.iter().enumerate() {
        let mut args = vec!["--json"];
        args.extend_from_slice(command);
        args.extend_from_slice(PUSH);
        let started = Instant::now();
        let run = clone.catalogue(&args)?;
        let took = started.elapsed();
        run.expect(4)?;
        let out = run.json()?;
        assert_eq!(out["error"]["kind"], "rejected", "{run:?}");
        let message = str_field(&out["error"], "message")?;
        ensure!(
            message.contains("catalogue: pushes to main need review"),
            "the message lacks the hook's reason: {run:?}"
        );
        ensure!(
            message.contains("pre-receive hook declined"),
            "the message lacks git's reason: {run:?}"
        );
        assert_eq!(
            attempts(&out)?,
            1,
            "a declined push is not retried: {run:?}"
        );
        let hook_runs = std::fs::read_to_string(&calls)?.lines().count();
        assert_eq!(hook_runs, n + 1, "the hook ran more than once per command");
        ensure!(took < Duration::from_secs(10), "{command:?} took {took:?}");
        known_kind(&out["error"])?;
    }
    assert_eq!(origin.rev("main")?, main);
    assert!(!origin.exists("refs/heads/catalogue/issue-4")?);
    origin.fsck()
}

#[test]
fn pushing_to_a_remote_that_does_not_exist_exits_4_naming_it() -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    let refs = clone.git(&["for-each-ref"])?;
    let commands: [&[&str]; 3] = [
        &record_direct_args("3", "docs/3.md"),
        &["record", "--issue", "4", "--artifact", "docs/4.md"],
        &["consolidate"],
    ];
    for command in commands {
        let mut args = vec!["--json"];
        args.extend_from_slice(command);
        args.extend_from_slice(&["--push", "nope"]);
        let run = clone.catalogue(&args)?;
        run.expect(4)?;
        let out = run.json()?;
        assert_eq!(out["error"]["kind"], "remote", "{run:?}");
        ensure!(
            str_field(&out["error"], "message")?.contains("nope"),
            "the message does not name the remote: {run:?}"
        );
        known_kind(&out["error"])?;
    }
    assert_eq!(clone.git(&["for-each-ref"])?, refs, "nothing was written");
    Ok(())
}

/// A refused connection is what a restarting server gives, so it is retried
/// like a lost race (docs/format.md, 6.6); with a small budget a URL where
/// nothing listens still ends quickly, in exit 4 naming the remote.
#[test]
fn pushing_to_a_git_url_where_nothing_listens_is_retried_then_exits_4() -> Result<()> {
    let origin = Repo::bare_recorded(TWO_FRAGMENTS)?;
    let clone = origin.clone_shallow_bare()?;
    // A loopback port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let started = Instant::now();
    let record = record_direct_args("3", "docs/3.md");
    let run = clone.catalogue(
        &[
            &["--json"][..],
            &record,
            &["--retries", "2", "--push", &url],
        ]
        .concat(),
    )?;
    let took = started.elapsed();
    run.expect(4)?;
    let out = run.json()?;
    assert_eq!(out["error"]["kind"], "remote", "{run:?}");
    assert_eq!(out["error"]["attempts"], 3, "refused is retried: {run:?}");
    ensure!(
        str_field(&out["error"], "message")?.contains(&url),
        "the message does not name the remote: {run:?}"
    );
    ensure!(took < Duration::from_secs(10), "took {took:?}");
    Ok(())
}
