//! `pending`: the per-issue refs whose fragment has not reached the branch
//! yet, locally and (with `--remote`) on a remote another clone pushed to.

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::support::{known_kind, str_field, Repo};

/// One entry of `pending --json`, checked for README's fields and types.
#[derive(Debug, PartialEq, Eq)]
struct Pending {
    key: String,
    reference: String,
    commit: String,
    artifacts: u64,
    state: String,
}

/// `pending --json` (with `args`), its outcome checked against README's shape.
fn pending(repo: &Repo, args: &[&str]) -> Result<(Value, Vec<Pending>)> {
    let mut all = vec!["pending"];
    all.extend_from_slice(args);
    let out = repo.catalogue_ok(&all)?;
    assert_eq!(out["command"], "pending", "{out}");
    assert_eq!(out["branch"], "refs/heads/main", "{out}");
    str_field(&out, "tip")?;
    let entries = out["pending"]
        .as_array()
        .with_context(|| format!("no pending array in {out}"))?
        .iter()
        .map(|e| {
            let state = str_field(e, "state")?.to_owned();
            ensure!(
                state == "missing" || state == "differs",
                "state {state:?} in {e}"
            );
            Ok(Pending {
                key: str_field(e, "key")?.to_owned(),
                reference: str_field(e, "ref")?.to_owned(),
                commit: str_field(e, "commit")?.to_owned(),
                artifacts: e["artifacts"]
                    .as_u64()
                    .with_context(|| format!("artifacts is not a count in {e}"))?,
                state,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((out, entries))
}

fn entry(repo: &Repo, key: &str, artifacts: u64, state: &str) -> Result<Pending> {
    let reference = format!("refs/heads/catalogue/{key}");
    Ok(Pending {
        key: key.to_owned(),
        commit: repo.rev(&reference)?,
        reference,
        artifacts,
        state: state.to_owned(),
    })
}

/// The human lines of `pending`: `<key>\t<ref>\t<artifacts>\t<state>`.
fn human_lines(entries: &[Pending]) -> String {
    entries
        .iter()
        .map(|e| format!("{}\t{}\t{}\t{}\n", e.key, e.reference, e.artifacts, e.state))
        .collect()
}

/// Merge a per-issue ref into the checked-out `main` as a pull request is merged.
fn merge(repo: &Repo, key: &str) -> Result<()> {
    let branch = format!("catalogue/{key}");
    repo.git(&[
        "merge",
        "--no-ff",
        "-q",
        "-m",
        &format!("Merge {branch}"),
        &branch,
    ])?;
    Ok(())
}

#[test]
fn pending_lists_the_per_issue_ref_not_yet_merged_and_not_the_merged_one() -> Result<()> {
    let repo = Repo::new()?;
    repo.record(1, "a.md")?;
    repo.record_with(2, "b.md", &["--artifact", "c.md"])?;
    let (_, before) = pending(&repo, &[])?;
    assert_eq!(
        before,
        vec![
            entry(&repo, "issue-1", 1, "missing")?,
            entry(&repo, "issue-2", 2, "missing")?
        ]
    );

    merge(&repo, "issue-1")?;
    let (out, after) = pending(&repo, &[])?;
    assert_eq!(str_field(&out, "tip")?, repo.rev("main")?);
    let expected = vec![entry(&repo, "issue-2", 2, "missing")?];
    assert_eq!(after, expected);

    let human = repo.catalogue(&["pending"])?;
    human.expect(0)?;
    assert_eq!(human.stdout, human_lines(&expected));
    Ok(())
}

#[test]
fn a_re_run_whose_older_fragment_is_on_main_is_pending_as_differs() -> Result<()> {
    let repo = Repo::new()?;
    repo.record(3, "a.md")?;
    merge(&repo, "issue-3")?;
    let (_, merged) = pending(&repo, &[])?;
    assert_eq!(merged, vec![]);
    let human = repo.catalogue(&["pending"])?;
    human.expect(0)?;
    assert_eq!(human.stdout, "", "nothing is pending");

    // The producer runs again: the per-issue ref's fragment now differs from main's.
    repo.record_with(3, "a.md", &["--artifact", "b.md"])?;
    let (_, rerun) = pending(&repo, &[])?;
    let expected = vec![entry(&repo, "issue-3", 2, "differs")?];
    assert_eq!(rerun, expected);
    assert_eq!(
        repo.catalogue(&["pending"])?.expect(0)?.stdout,
        human_lines(&expected)
    );
    Ok(())
}

#[test]
fn pending_sorts_keys_in_natural_order_and_skips_a_ref_without_a_fragment_with_a_warning(
) -> Result<()> {
    let repo = Repo::new_bare()?;
    for issue in ["10", "2", "9"] {
        repo.record(issue, &format!("{issue}.md"))?;
    }
    // A per-issue ref made by hand that carries no fragment.
    repo.git(&["update-ref", "refs/heads/catalogue/stray", "main", ""])?;

    let run = repo.catalogue(&["pending"])?;
    run.expect(0)?;
    let expected = vec![
        entry(&repo, "issue-2", 1, "missing")?,
        entry(&repo, "issue-9", 1, "missing")?,
        entry(&repo, "issue-10", 1, "missing")?,
    ];
    assert_eq!(run.stdout, human_lines(&expected));
    ensure!(
        run.stderr.contains("catalogue/stray"),
        "no warning names the ref without a fragment: {run:?}"
    );
    let (_, listed) = pending(&repo, &[])?;
    assert_eq!(listed, expected);
    Ok(())
}

#[test]
fn pending_remote_lists_refs_another_clone_pushed_compared_with_the_remote_s_main() -> Result<()> {
    let origin = Repo::new_bare()?;
    let base = origin.rev("main")?;
    // B is cloned before anything is pushed, so it knows nothing of A's work.
    let b = origin.clone_shallow_bare()?;
    let a = origin.clone_shallow_bare()?;
    for issue in ["4", "5"] {
        a.record_with(issue, &format!("docs/{issue}.md"), &["--push", "origin"])?;
    }
    // Issue 5's pull request is merged on origin (a fast-forward); B's own
    // main does not have it, so only a comparison with ORIGIN's main skips it.
    let five = origin.rev("refs/heads/catalogue/issue-5")?;
    origin.git(&["update-ref", "refs/heads/main", &five, &base])?;
    // B records issue 6 locally and does not push it.
    b.record(6, "docs/6.md")?;
    let b_main = b.rev("main")?;

    let (_, local) = pending(&b, &[])?;
    assert_eq!(local, vec![entry(&b, "issue-6", 1, "missing")?]);

    let (out, remote) = pending(&b, &["--remote", "origin"])?;
    assert_eq!(str_field(&out, "tip")?, five, "compared with origin's main");
    let keys: Vec<&str> = remote.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["issue-4", "issue-6"], "{out}");
    let four = &remote[0];
    assert_eq!(four.commit, origin.rev("refs/heads/catalogue/issue-4")?);
    assert_eq!((four.artifacts, four.state.as_str()), (1, "missing"));
    ensure!(
        four.reference.ends_with("catalogue/issue-4"),
        "{four:?} does not name the issue's ref"
    );
    assert_eq!(remote[1], entry(&b, "issue-6", 1, "missing")?);
    // The remote's per-issue refs were fetched into the tool's own namespace.
    assert_eq!(
        b.rev("refs/catalogue/remotes/origin/heads/catalogue/issue-4")?,
        four.commit
    );

    let human = b.catalogue(&["pending", "--remote", "origin"])?;
    human.expect(0)?;
    assert_eq!(human.stdout, human_lines(&remote));
    assert_eq!(b.rev("main")?, b_main, "pending moves no branch");
    Ok(())
}

#[test]
fn pending_remote_with_no_such_remote_exits_4_naming_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.record(1, "a.md")?;
    let run = repo.catalogue(&["--json", "pending", "--remote", "nope"])?;
    run.expect(4)?;
    let out = run.json()?;
    ensure!(
        str_field(&out["error"], "message")?.contains("nope"),
        "the message does not name the remote: {run:?}"
    );
    known_kind(&out["error"])
}
