//! Busy repositories: `git gc`, `git maintenance run` and `git pack-refs
//! --all` looping beside many writers (OS processes) make no write fail
//! where native git would not, and lose nothing (docs/format.md,
//! "Maintenance"). gix creates `objects/XX/` just before it renames a new
//! object into it, and maintenance removes empty ones in between: that
//! `ENOENT` is retried. Native git runs the same number of writes in the
//! same loop, on a branch of its own, as the measure.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::support::{artifact_paths, hermetic, record_direct_args, run, run_catalogue, Repo, Run};

const WRITERS: usize = 4;
const RECORDS_PER_WRITER: usize = 12;
const CONSOLIDATIONS: usize = 12;
/// The whole loop stops here whatever is left.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// One native write: blob, tree (on a private index), commit and a
/// compare-and-swap `update-ref`, retried on a lost race. Exit 0 when it
/// landed, 10–12 when an object write failed, 13 when it never landed.
const NATIVE_WRITE: &str = r#"
set -u
n=$1; index=$2
for attempt in $(seq 1 60); do
  old=$(git rev-parse -q --verify refs/heads/native) || exit 13
  blob=$(printf '{"issue": %s}\n' "$n" | git hash-object -w --stdin) || exit 10
  GIT_INDEX_FILE=$index git read-tree "$old" || exit 11
  GIT_INDEX_FILE=$index git update-index --add --cacheinfo "100644,$blob,native/$n.json" || exit 11
  tree=$(GIT_INDEX_FILE=$index git write-tree) || exit 11
  commit=$(git commit-tree "$tree" -p "$old" -m "native $n") || exit 12
  git update-ref refs/heads/native "$commit" "$old" 2>/dev/null && exit 0
  sleep 0.0$((RANDOM % 9 + 1))
done
exit 13
"#;

fn issue_of(writer: usize, run: usize) -> usize {
    (writer + 1) * 100 + run
}

type Records = Result<Vec<(usize, Run)>>;

/// `writers` threads, each running `git catalogue --json record --direct`
/// `each` times in its own process (issue [`issue_of`]), while `go_on`.
fn record_writers<'s, 'e>(
    s: &'s std::thread::Scope<'s, 'e>,
    repo: &'e Repo,
    writers: usize,
    each: usize,
    go_on: &'e (dyn Fn() -> bool + Sync),
) -> Vec<std::thread::ScopedJoinHandle<'s, Records>> {
    (0..writers)
        .map(|w| {
            s.spawn(move || -> Records {
                let mut out = Vec::new();
                for r in (0..each).take_while(|_| go_on()) {
                    let issue = issue_of(w, r);
                    let (i, path) = (issue.to_string(), format!("out/{issue}.md"));
                    let mut cmd = repo.catalogue_command(&repo.path);
                    cmd.arg("--json").args(record_direct_args(&i, &path));
                    out.push((issue, run_catalogue(&mut cmd)?));
                }
                Ok(out)
            })
        })
        .collect()
}

#[test]
fn maintenance_beside_many_writers_fails_none_that_git_would_not_and_loses_nothing() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.git(&["branch", "native", "main"])?;
    let done = AtomicBool::new(false);
    let maintenance_runs = AtomicUsize::new(0);
    let started = Instant::now();
    let in_time = || started.elapsed() < TIME_LIMIT;

    let (records, consolidations, native) = std::thread::scope(|s| -> Result<_> {
        let (repo, done, runs) = (&repo, &done, &maintenance_runs);
        let maintenance = s.spawn(move || -> Result<()> {
            let steps: [&[&str]; 3] = [
                &["gc", "--quiet"],
                &["maintenance", "run", "--quiet"],
                &["pack-refs", "--all"],
            ];
            'outer: loop {
                for step in steps {
                    if done.load(Ordering::SeqCst) || !in_time() {
                        break 'outer;
                    }
                    // A step may fail (another gc holds gc.pid): the loop goes on.
                    let mut cmd = repo.git_command(&repo.path);
                    run(cmd.args(step), None)?;
                    runs.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        });
        let writers = record_writers(s, repo, WRITERS, RECORDS_PER_WRITER, &in_time);
        let consolidator = s.spawn(move || -> Result<Vec<Run>> {
            let mut out = Vec::new();
            for _ in 0..CONSOLIDATIONS {
                if !in_time() {
                    break;
                }
                let mut cmd = repo.catalogue_command(&repo.path);
                out.push(run_catalogue(cmd.args(["--json", "consolidate"]))?);
            }
            Ok(out)
        });
        let natives: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || -> Result<Vec<(usize, i32, String)>> {
                    let index = repo.scratch().join(format!("native-index-{w}"));
                    let index = index.to_str().context("scratch path")?.to_owned();
                    let mut out = Vec::new();
                    for r in 0..RECORDS_PER_WRITER {
                        if !in_time() {
                            break;
                        }
                        let n = issue_of(w, r);
                        let mut sh = std::process::Command::new("bash");
                        hermetic(&mut sh, &repo.home()).current_dir(&repo.path);
                        sh.args(["-c", NATIVE_WRITE, "native", &n.to_string(), &index]);
                        let o = run(&mut sh, None)?;
                        out.push((
                            n,
                            o.status.code().unwrap_or(-1),
                            String::from_utf8_lossy(&o.stderr).into_owned(),
                        ));
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut records = Vec::new();
        for w in writers {
            records.extend(w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??);
        }
        let consolidations = consolidator
            .join()
            .map_err(|_| anyhow::anyhow!("consolidator panicked"))??;
        let mut native = Vec::new();
        for w in natives {
            native.extend(
                w.join()
                    .map_err(|_| anyhow::anyhow!("native writer panicked"))??,
            );
        }
        done.store(true, Ordering::SeqCst);
        maintenance
            .join()
            .map_err(|_| anyhow::anyhow!("maintenance panicked"))??;
        Ok((records, consolidations, native))
    })?;
    let elapsed = started.elapsed();

    let failed_records: Vec<_> = records.iter().filter(|(_, r)| r.status != 0).collect();
    let failed_consolidations: Vec<_> = consolidations.iter().filter(|r| r.status != 0).collect();
    let failed_native: Vec<_> = native.iter().filter(|(_, code, _)| *code != 0).collect();
    let tool_failures = failed_records.len() + failed_consolidations.len();
    eprintln!(
        "busy repository: {} maintenance steps in {:.1} s; git-catalogue: {} of {} writes failed \
         ({} records, {} consolidations); native git: {} of {} writes failed",
        maintenance_runs.load(Ordering::SeqCst),
        elapsed.as_secs_f64(),
        tool_failures,
        records.len() + consolidations.len(),
        records.len(),
        consolidations.len(),
        failed_native.len(),
        native.len(),
    );
    for (issue, r) in &failed_records {
        eprintln!("record {issue} exited {}: {}", r.status, r.stderr.trim());
    }
    for r in &failed_consolidations {
        eprintln!("consolidate exited {}: {}", r.status, r.stderr.trim());
    }
    for (n, code, err) in &failed_native {
        eprintln!("native write {n} exited {code}: {}", err.trim());
    }
    ensure!(
        records.len() == WRITERS * RECORDS_PER_WRITER && consolidations.len() == CONSOLIDATIONS,
        "the loop ran out of time ({elapsed:?}) before every write ran"
    );
    ensure!(
        maintenance_runs.load(Ordering::SeqCst) >= 3,
        "maintenance never ran beside the writers"
    );
    ensure!(
        tool_failures <= failed_native.len(),
        "{tool_failures} git-catalogue writes failed where native git failed {}",
        failed_native.len()
    );

    // Every record that exited 0 has its fragment on the branch, and the
    // last consolidation lists every one of them.
    let on_branch = repo.tree_names("main:catalogue/fragments")?;
    for (issue, r) in &records {
        if r.status == 0 {
            let name = format!("issue-{issue}.json");
            ensure!(
                on_branch.contains(&name),
                "record {issue} exited 0 but {name} is not on main"
            );
        }
    }
    repo.consolidate()?;
    let listed = artifact_paths(&repo.json("main:catalogue/manifest.json")?)?;
    for (issue, r) in &records {
        if r.status == 0 {
            let path = format!("out/{issue}.md");
            ensure!(listed.contains(&path), "{path} is not in the manifest");
        }
    }
    repo.fsck()?;
    Ok(())
}

/// `git pack-refs --all` in a tight loop beside writers that wait for each
/// other's lock on `main`: pack-refs packs one writer's new value and
/// deletes the loose file while the next waits for the lock. The waiting
/// writer must compare against that packed value, not a `packed-refs` it
/// read before it got the lock, or it writes over an update that landed
/// (docs/format.md, "Maintenance"). Without the check under the lock
/// (src/publish/cas.rs) it lost one to three of the 90 on every run.
#[test]
fn pack_refs_beside_writers_racing_for_the_lock_loses_no_update() -> Result<()> {
    const RACERS: usize = 6;
    const EACH: usize = 15;
    let repo = Repo::new_bare()?;
    let done = AtomicBool::new(false);
    let packs = AtomicUsize::new(0);
    let records = std::thread::scope(|s| -> Result<Vec<(usize, Run)>> {
        let (repo, done, packs) = (&repo, &done, &packs);
        let packer = s.spawn(move || -> Result<()> {
            while !done.load(Ordering::SeqCst) {
                let mut cmd = repo.git_command(&repo.path);
                run(cmd.args(["pack-refs", "--all"]), None)?;
                packs.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        });
        let writers = record_writers(s, repo, RACERS, EACH, &|| true);
        let mut records = Vec::new();
        for w in writers {
            records.extend(w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??);
        }
        done.store(true, Ordering::SeqCst);
        packer
            .join()
            .map_err(|_| anyhow::anyhow!("pack-refs loop panicked"))??;
        Ok(records)
    })?;
    let packs = packs.load(Ordering::SeqCst);
    ensure!(
        packs >= 3,
        "pack-refs ran only {packs} times beside the writers"
    );
    let on_branch = repo.tree_names("main:catalogue/fragments")?;
    let mut lost = Vec::new();
    for (issue, r) in &records {
        ensure!(
            r.status == 0,
            "record {issue} exited {}: {}",
            r.status,
            r.stderr.trim()
        );
        if !on_branch.contains(&format!("issue-{issue}.json")) {
            lost.push(*issue);
        }
    }
    eprintln!(
        "pack-refs ran {packs} times beside {} records; {} lost",
        records.len(),
        lost.len()
    );
    ensure!(
        lost.is_empty(),
        "records {lost:?} exited 0 but their fragments are not on main"
    );
    ensure!(
        on_branch.len() == RACERS * EACH,
        "main lists {} fragments, not {}",
        on_branch.len(),
        RACERS * EACH
    );
    repo.fsck()?;
    Ok(())
}
