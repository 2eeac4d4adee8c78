//! `record`: one producer run's fragment, as a commit on the per-issue ref
//! `refs/heads/catalogue/<key>` or, with `--direct`, on the branch itself.

use anyhow::{ensure, Result};
use serde_json::{json, Value};

use crate::support::{assert_full_fixture_numbers_verbatim, fixture, str_field, Repo};

/// `git ls-tree -r <rev>` as lines.
fn ls_tree(repo: &Repo, rev: &str) -> Result<Vec<String>> {
    Ok(repo
        .git(&["ls-tree", "-r", rev])?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// A non-bare repository whose `main` holds more than the README.
fn repo_with_docs() -> Result<Repo> {
    let repo = Repo::new()?;
    std::fs::create_dir_all(repo.path.join("docs/existing"))?;
    std::fs::write(repo.path.join("docs/existing/page.md"), "existing page\n")?;
    std::fs::write(repo.path.join("docs/other.md"), "other\n")?;
    repo.git(&["add", "docs"])?;
    repo.git(&["commit", "-q", "-m", "Add docs"])?;
    Ok(repo)
}

#[test]
fn record_puts_the_fragment_on_the_per_issue_ref_with_main_s_tree_otherwise_unchanged() -> Result<()>
{
    let repo = repo_with_docs()?;
    let main = repo.rev("main")?;

    let out = repo.record_with(
        7,
        "docs/generated/7/summary.md",
        &[
            "--kind",
            "summary",
            "--title",
            "Summary for #7",
            "--artifact",
            "docs/generated/7/data.csv",
        ],
    )?;

    let tip = repo.rev("refs/heads/catalogue/issue-7")?;
    assert_eq!(out["command"], "record");
    assert_eq!(out["key"], "issue-7");
    assert_eq!(out["ref"], "refs/heads/catalogue/issue-7");
    assert_eq!(str_field(&out, "commit")?, tip);
    assert_eq!(str_field(&out, "parent")?, main);
    assert_eq!(out["attempts"], 1);
    assert_eq!(out["fragment"], "catalogue/fragments/issue-7.json");
    assert_eq!(out["artifacts"], 2);

    // The commit's only parent is main's tip; main did not move.
    assert_eq!(repo.parents(&tip)?, vec![main.clone()]);
    assert_eq!(repo.rev("main")?, main);

    // The tree is main's tree plus exactly the fragment.
    let mut on_ref = ls_tree(&repo, &tip)?;
    let fragment_line = on_ref
        .iter()
        .position(|l| l.ends_with("\tcatalogue/fragments/issue-7.json"))
        .map(|i| on_ref.remove(i));
    let fragment_line = fragment_line.expect("the fragment is in the per-issue commit's tree");
    assert!(fragment_line.starts_with("100644 blob "), "{fragment_line}");
    assert_eq!(on_ref, ls_tree(&repo, &main)?);

    // The blob is the fragment the command line described.
    assert_eq!(
        repo.json(&format!("{tip}:catalogue/fragments/issue-7.json"))?,
        json!({
            "issue": 7,
            "artifacts": [
                {"path": "docs/generated/7/summary.md", "kind": "summary", "title": "Summary for #7"},
                {"path": "docs/generated/7/data.csv"}
            ]
        })
    );

    // A per-issue record touches neither the checkout nor the index.
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=all"])?,
        ""
    );
    repo.fsck()
}

#[test]
fn a_re_run_adds_a_commit_on_the_per_issue_ref_s_own_tip_and_replaces_only_the_fragment(
) -> Result<()> {
    let repo = repo_with_docs()?;
    let main = repo.rev("main")?;
    let first = repo.record(7, "a.md")?;
    let first = str_field(&first, "commit")?.to_owned();

    // Main moves on meanwhile; the re-run must still build on the ref's own tip.
    std::fs::write(repo.path.join("later.md"), "later\n")?;
    repo.git(&["add", "later.md"])?;
    repo.git(&["commit", "-q", "-m", "Later work on main"])?;
    let main_now = repo.rev("main")?;
    assert_ne!(main_now, main);

    let second = repo.record_with(7, "a.md", &["--artifact", "b.md", "--kind", "extra"])?;
    let tip = repo.rev("refs/heads/catalogue/issue-7")?;
    assert_eq!(str_field(&second, "commit")?, tip);
    assert_eq!(str_field(&second, "parent")?, first);
    assert_eq!(repo.parents(&tip)?, vec![first.clone()]);
    assert_eq!(repo.count(&format!("{main}..{tip}"))?, 2);
    assert_eq!(repo.rev("main")?, main_now, "main is not moved by a re-run");

    // Only the fragment changed between the two runs.
    assert_eq!(
        repo.changed_paths(&first, &tip)?,
        "catalogue/fragments/issue-7.json\n"
    );
    assert_eq!(
        repo.json(&format!("{tip}:catalogue/fragments/issue-7.json"))?,
        json!({"issue": 7, "artifacts": [{"path": "a.md"}, {"path": "b.md", "kind": "extra"}]})
    );
    repo.fsck()
}

#[test]
fn kind_and_title_describe_the_nearest_preceding_artifact() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.catalogue_ok(&[
        "record",
        "--key",
        "mixed",
        "--artifact",
        "one.md",
        "--kind",
        "k1",
        "--artifact",
        "two.md",
        "--title",
        "T2",
        "--artifact",
        "three.md",
        "--title",
        "T3",
        "--kind",
        "k3",
    ])?;
    assert_eq!(
        repo.json("catalogue/mixed:catalogue/fragments/mixed.json")?,
        json!({"artifacts": [
            {"path": "one.md", "kind": "k1"},
            {"path": "two.md", "title": "T2"},
            {"path": "three.md", "kind": "k3", "title": "T3"}
        ]})
    );
    Ok(())
}

#[test]
fn a_key_run_has_no_issue_and_its_ref_is_named_after_the_key() -> Result<()> {
    let repo = Repo::new_bare()?;
    let out = repo.catalogue_ok(&["record", "--key", "nightly.build-2", "--artifact", "n.md"])?;
    assert_eq!(out["key"], "nightly.build-2");
    assert_eq!(out["ref"], "refs/heads/catalogue/nightly.build-2");
    let fragment =
        repo.json("refs/heads/catalogue/nightly.build-2:catalogue/fragments/nightly.build-2.json")?;
    assert_eq!(fragment, json!({"artifacts": [{"path": "n.md"}]}));
    Ok(())
}

#[test]
fn add_commits_the_local_file_at_its_path_and_records_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    let src = repo.sandbox_file("report.md", b"# Report for #3\n\nbody\n")?;
    let add = format!("{}=docs/3/report.md", src.display());
    let out = repo.catalogue_ok(&[
        "record",
        "--issue",
        "3",
        "--add",
        &add,
        "--kind",
        "report",
        "--artifact",
        "docs/3/x.md",
    ])?;
    assert_eq!(out["artifacts"], 2);
    let tip = repo.rev("refs/heads/catalogue/issue-3")?;
    assert_eq!(
        repo.blob(&format!("{tip}:docs/3/report.md"))?,
        b"# Report for #3\n\nbody\n"
    );
    assert_eq!(
        repo.json(&format!("{tip}:catalogue/fragments/issue-3.json"))?,
        json!({"issue": 3, "artifacts": [
            {"path": "docs/3/report.md", "kind": "report"},
            {"path": "docs/3/x.md"}
        ]})
    );
    assert_eq!(
        repo.changed_paths("main", &tip)?,
        "catalogue/fragments/issue-3.json\ndocs/3/report.md\n"
    );
    repo.fsck()
}

#[test]
fn record_direct_commits_onto_the_branch_with_its_tip_as_the_only_parent() -> Result<()> {
    let repo = Repo::new_bare()?;
    let main = repo.rev("main")?;
    let out = repo.record_direct(12, "x.md")?;
    let tip = repo.rev("main")?;
    assert_eq!(out["ref"], "refs/heads/main");
    assert_eq!(str_field(&out, "commit")?, tip);
    assert_eq!(str_field(&out, "parent")?, main);
    assert_eq!(repo.parents(&tip)?, vec![main.clone()]);
    assert_eq!(
        repo.changed_paths(&main, &tip)?,
        "catalogue/fragments/issue-12.json\n"
    );
    assert_eq!(
        repo.json("main:catalogue/fragments/issue-12.json")?,
        json!({"issue": 12, "artifacts": [{"path": "x.md"}]})
    );
    assert!(
        !repo.exists("refs/heads/catalogue/issue-12")?,
        "--direct creates no per-issue ref"
    );
    repo.fsck()
}

#[test]
fn a_fragment_file_is_kept_verbatim_and_artifacts_are_appended_to_it() -> Result<()> {
    let repo = Repo::new_bare()?;
    let file = fixture("fragments/full.json");
    let file = file.to_str().expect("fixture path is UTF-8");
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--key",
        "full-123",
        "--fragment",
        file,
        "--artifact",
        "docs/generated/123/appended.md",
        "--kind",
        "appendix",
    ])?;
    let text = repo.text("main:catalogue/fragments/full-123.json")?;
    // Numbers survive digit for digit, not as floats.
    assert_full_fixture_numbers_verbatim(&text);
    let stored: Value = serde_json::from_str(&text)?;
    let mut expected: Value =
        serde_json::from_slice(&std::fs::read(fixture("fragments/full.json"))?)?;
    expected["artifacts"]
        .as_array_mut()
        .expect("fixture has artifacts")
        .push(json!({"path": "docs/generated/123/appended.md", "kind": "appendix"}));
    assert_eq!(stored, expected);
    Ok(())
}

#[test]
fn a_fragment_can_come_from_standard_input() -> Result<()> {
    let repo = Repo::new_bare()?;
    let run = repo.catalogue_stdin(
        &["--json", "record", "--issue", "4", "--fragment", "-"],
        br#"{"run": {"id": 99}, "artifacts": [{"path": "from/stdin.md", "kind": "s"}]}"#,
    )?;
    run.expect(0)?;
    let out = run.json()?;
    assert_eq!(out["artifacts"], 1);
    let fragment = repo.json("catalogue/issue-4:catalogue/fragments/issue-4.json")?;
    assert_eq!(fragment["run"], json!({"id": 99}));
    assert_eq!(fragment["issue"], 4);
    assert_eq!(
        fragment["artifacts"],
        json!([{"path": "from/stdin.md", "kind": "s"}])
    );
    Ok(())
}

#[test]
fn json_is_accepted_after_the_command_name_and_human_text_goes_to_stderr() -> Result<()> {
    let repo = Repo::new_bare()?;
    let run = repo.catalogue(&["record", "--issue", "5", "--artifact", "a.md", "--json"])?;
    run.expect(0)?;
    let out = run.json()?;
    assert_eq!(out["key"], "issue-5");

    // Without --json, stdout carries no JSON object.
    let human = repo.catalogue(&["record", "--issue", "6", "--artifact", "b.md"])?;
    human.expect(0)?;
    ensure!(
        serde_json::from_str::<Value>(human.stdout.trim()).is_err() || human.stdout.is_empty(),
        "human output must not be the JSON object: {human:?}"
    );
    assert!(repo.exists("refs/heads/catalogue/issue-6")?);
    Ok(())
}

#[test]
fn record_direct_in_a_repository_without_commits_creates_the_branch_with_a_root_commit(
) -> Result<()> {
    let repo = Repo::new_bare()?;
    // Make main unborn, as in a freshly initialised repository (HEAD still names it).
    repo.git(&["update-ref", "-d", "refs/heads/main"])?;
    assert_eq!(
        repo.git(&["symbolic-ref", "HEAD"])?.trim(),
        "refs/heads/main"
    );
    assert!(!repo.exists("refs/heads/main")?);
    let out = repo.record_direct(1, "a.md")?;
    assert_eq!(out["parent"], Value::Null);
    let tip = repo.rev("main")?;
    assert_eq!(str_field(&out, "commit")?, tip);
    assert!(repo.parents(&tip)?.is_empty(), "a root commit");
    assert_eq!(
        repo.git(&["ls-tree", "-r", "--name-only", &tip])?,
        "catalogue/fragments/issue-1.json\n"
    );
    repo.consolidate()?;
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()
}
