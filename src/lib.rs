//! git-catalogue: a conflict-free artifact catalogue kept in git.
//!
//! # The model
//!
//! Many CI runs used to rewrite one shared `catalogue/manifest.json`, and
//! concurrent runs silently dropped each other's entries. Here every run
//! writes its own **fragment**, `<dir>/fragments/<key>.json`, as a commit made
//! straight in the object database ([`record`]). A **consolidation**
//! ([`consolidate`]) reads every fragment blob of the branch tip's tree, builds
//! `manifest.json` and `index.md` with the pure core ([`fragment`],
//! [`manifest`], [`index`]), commits them on the tip, and moves the branch by
//! compare-and-swap ([`publish`]). A writer that loses the race rebuilds on
//! the winner's commit and tries again.
//!
//! # Refs
//!
//! - the branch, `refs/heads/main` unless `--branch` / `catalogue.branch`;
//! - per-issue refs, `refs/heads/catalogue/<key>`, one per fragment key,
//!   from which pull requests are opened.
//!
//! # Invariants
//!
//! - The manifest is a pure function of the set of fragments: the same set
//!   gives byte-identical `manifest.json` and `index.md` on any machine.
//! - Every ref write states the value it expects; nothing is force-updated.
//! - Objects are written before the ref that makes them reachable, so a
//!   process killed at any instant leaves every ref on a complete commit.
//! - Bad input is refused before anything is written, naming the offender.
//!
//! The binary is a thin shell over [`run`]; tests drive [`run_with_repo`] on a
//! prepared repository as well as the binary end to end.

pub mod cli;
pub mod consolidate;
pub mod error;
pub mod fragment;
pub mod git;
pub mod history;
pub mod index;
pub mod inspect;
pub mod manifest;
pub mod pending;
pub mod publish;
pub mod record;
pub mod remote;
pub mod render;
pub mod settings;
pub mod signals;
pub mod store;
pub mod worktree;

use serde_json::{json, Map, Value};

use crate::{
    cli::{Cli, Command},
    error::{Error, ErrorKind, Result},
    settings::Settings,
};

/// What a command did, for the binary to print.
#[derive(Debug)]
pub struct Report {
    /// The command's name, for `--json`.
    pub command: &'static str,
    /// The exit status: 0, or 1 when `check` found a problem.
    pub exit_code: i32,
    /// The `--json` object (without `ok`/`command`, which the binary adds).
    pub json: Map<String, Value>,
    /// Lines for people, printed to stderr.
    pub messages: Vec<String>,
    /// The result for people, printed to stdout when not `--json` (e.g. `list`'s rows).
    pub stdout: String,
    /// The first problem, when `exit_code` is not 0.
    pub error: Option<Error>,
}

impl Report {
    fn new(command: &'static str) -> Self {
        Report {
            command,
            exit_code: 0,
            json: Map::new(),
            messages: Vec::new(),
            stdout: String::new(),
            error: None,
        }
    }
}

/// The command's name as `--json` reports it.
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Record(_) => "record",
        Command::Consolidate(_) => "consolidate",
        Command::Check(_) => "check",
        Command::List(_) => "list",
        Command::Pending(_) => "pending",
        Command::Verify(_) => "verify",
        Command::Repair(_) => "repair",
    }
}

/// Open the repository from the current directory and run the command.
/// `matches` are clap's raw matches, needed to pair `--kind`/`--title` with
/// their artifacts.
pub fn run(cli: &Cli, matches: &clap::ArgMatches) -> Result<Report> {
    if let Some(dir) = &cli.chdir {
        std::env::set_current_dir(dir).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot change to `{}`: {e}", dir.display()),
            )
            .with("path", dir.display())
        })?;
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    let repo = store::open(&cwd)?;
    let settings = Settings::resolve(&repo, cli.dir.as_deref(), cli.branch.as_deref())?;
    run_with_repo(&repo, &settings, &cli.command, matches)
}

/// Run a command on an opened repository with resolved settings.
pub fn run_with_repo(
    repo: &gix::Repository,
    settings: &Settings,
    command: &Command,
    matches: &clap::ArgMatches,
) -> Result<Report> {
    match command {
        Command::Record(args) => {
            let specs = matches
                .subcommand_matches("record")
                .map(cli::artifact_specs)
                .transpose()
                .map_err(|m| Error::new(ErrorKind::Usage, m))?
                .unwrap_or_default();
            let base = match &args.fragment {
                None => None,
                Some(path) => Some((path.display().to_string(), read_input(path)?)),
            };
            let (fragment, added) = record::prepare(
                settings,
                args.key.as_deref(),
                args.issue,
                base.as_ref()
                    .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
                &specs,
            )?;
            let req = record::Request {
                fragment,
                added,
                direct: args.direct,
                retries: args.write.retries,
                message: args.write.message.clone(),
                sink: sink(repo, &args.write)?,
            };
            let out = record::record(repo, settings, &req)?;
            let mut report = Report::new("record");
            report
                .messages
                .extend(out.warnings.iter().map(|w| format!("warning: {w}")));
            report.messages.push(match out.commit {
                Some(c) => format!(
                    "recorded {} ({} artifact(s)) as {c} on {}{}{}",
                    out.key,
                    out.artifacts,
                    out.target,
                    of_remote(args.write.push.as_deref()),
                    retries_note(out.attempts)
                ),
                None => format!(
                    "{} already holds this fragment of {}; nothing to do",
                    out.target, out.key
                ),
            });
            report.json = obj(json!({
                "key": out.key.as_str(),
                "ref": out.target.to_string(),
                "commit": out.commit.map(|c| c.to_string()),
                "parent": out.parent.map(|c| c.to_string()),
                "changed": out.commit.is_some(),
                "remote": args.write.push,
                "pushed": args.write.push.as_ref().and(out.commit).map(|c| c.to_string()),
                "attempts": out.attempts,
                "fragment": out.fragment_path,
                "artifacts": out.artifacts,
                "warnings": out.warnings,
            }));
            Ok(report)
        }
        Command::Consolidate(args) => {
            let opts = consolidate::Options {
                dry_run: args.dry_run,
                full: args.full,
                retries: args.write.retries,
                message: args.write.message.clone(),
                sink: sink(repo, &args.write)?,
            };
            let out = consolidate::consolidate(repo, settings, &opts)?;
            let mut report = Report::new("consolidate");
            report
                .messages
                .extend(out.warnings.iter().map(|w| format!("warning: {w}")));
            report
                .messages
                .push(match (out.changed, out.commit, args.dry_run) {
                    (false, _, _) => format!(
                        "{} is already current ({} fragment(s), {} artifact(s)); nothing to do",
                        settings.manifest_path(),
                        out.fragments,
                        out.artifacts
                    ),
                    (true, _, true) => format!(
                        "dry run: {} would be rebuilt from {} fragment(s), {} artifact(s)",
                        settings.manifest_path(),
                        out.fragments,
                        out.artifacts
                    ),
                    (true, Some(c), false) => format!(
                        "consolidated {} fragment(s), {} artifact(s) as {c} on {}{}",
                        out.fragments,
                        out.artifacts,
                        settings.branch,
                        retries_note(out.attempts)
                    ),
                    (true, None, false) => "consolidated".to_owned(),
                });
            report.json = obj(json!({
                "changed": out.changed,
                "commit": out.commit.map(|c| c.to_string()),
                "ref": settings.branch.to_string(),
                "tip": out.tip.to_string(),
                "remote": args.write.push,
                "pushed": args.write.push.as_ref().and(out.commit).map(|c| c.to_string()),
                "attempts": out.attempts,
                "fragments": out.fragments,
                "artifacts": out.artifacts,
                "mode": if out.incremental { "incremental" } else { "full" },
                "note": out.note,
                "source": out.source,
                "dry_run": args.dry_run,
                "warnings": out.warnings,
            }));
            Ok(report)
        }
        Command::Check(args) => {
            let commit = inspect::target_commit(repo, settings, args.rev.as_deref())?;
            let found = inspect::check(repo, settings, commit, args.fragments_only)?;
            let mut report = Report::new("check");
            report
                .messages
                .extend(found.warnings.iter().map(|w| format!("warning: {w}")));
            for p in &found.problems {
                report.messages.push(format!("problem: {}", p.message));
            }
            if found.problems.is_empty() {
                report.messages.push(format!(
                    "ok: {} fragment(s), {} artifact(s) at {commit}{}",
                    found.fragments,
                    found.artifacts,
                    if args.fragments_only {
                        ""
                    } else {
                        "; manifest and index are current"
                    }
                ));
            } else {
                report.exit_code = 1;
                report.error = found.problems.first().cloned();
            }
            report.json = obj(json!({
                "commit": commit.to_string(),
                "fragments": found.fragments,
                "artifacts": found.artifacts,
                "valid": found.valid,
                "current": found.current,
                "problems": found.problems.iter().map(error_json).collect::<Vec<_>>(),
                "warnings": found.warnings,
            }));
            Ok(report)
        }
        Command::Pending(args) => run_pending(repo, settings, args),
        Command::Verify(args) => run_verify(repo, settings, args),
        Command::Repair(args) => run_repair(repo, settings, args),
        Command::List(args) => {
            let commit = inspect::target_commit(repo, settings, args.rev.as_deref())?;
            let built = inspect::list(repo, settings, commit)?;
            let mut report = Report::new("list");
            report
                .messages
                .extend(built.warnings.iter().map(|w| format!("warning: {w}")));
            let keep =
                |f: &fragment::Fragment| args.issue.is_none_or(|n| inspect::issue_is(f.issue(), n));
            let mut fragments = Map::new();
            for f in built.manifest.fragments().iter().filter(|f| keep(f)) {
                fragments.insert(f.key.to_string(), Value::Object(f.fields.clone()));
            }
            let mut artifacts = Vec::new();
            for entry in built.manifest.artifacts().filter(|e| keep(e.fragment)) {
                let cell = |v: Option<&Value>| match v {
                    None => "-".to_owned(),
                    Some(Value::String(s)) => printable(s),
                    Some(other) => printable(&other.to_string()),
                };
                report.stdout.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    entry.fragment.key,
                    cell(entry.fragment.issue()),
                    printable(entry.path()),
                    cell(entry.fields.get("kind")),
                    cell(entry.fields.get("title")),
                ));
                artifacts.push(Value::Object(entry.to_value()));
            }
            report.messages.push(format!(
                "{} artifact(s) in {} fragment(s) at {commit}",
                artifacts.len(),
                fragments.len()
            ));
            // Moved in, not interpolated with `json!`: that re-serialises every value
            // through `serde_json::to_value`, which respells numbers (`1e400` becomes
            // `1e+400`), and list must show the fields exactly as the manifest does.
            let mut json = Map::new();
            json.insert("commit".to_owned(), Value::String(commit.to_string()));
            json.insert("fragments".to_owned(), Value::Object(fragments));
            json.insert("artifacts".to_owned(), Value::Array(artifacts));
            report.json = json;
            Ok(report)
        }
    }
}

fn run_pending(
    repo: &gix::Repository,
    settings: &Settings,
    args: &cli::PendingArgs,
) -> Result<Report> {
    let remote = args
        .remote
        .as_deref()
        .map(|name| remote::Remote::new(repo, name))
        .transpose()?;
    let found = pending::pending(repo, settings, remote.as_ref())?;
    let mut report = Report::new("pending");
    report
        .messages
        .extend(found.warnings.iter().map(|w| format!("warning: {w}")));
    let mut rows = Vec::new();
    for p in &found.pending {
        report.stdout.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            p.key,
            p.refname,
            p.artifacts,
            p.state.as_str()
        ));
        rows.push(json!({
            "key": p.key.as_str(),
            "ref": p.refname,
            "commit": p.commit.to_string(),
            "artifacts": p.artifacts,
            "state": p.state.as_str(),
        }));
    }
    report.messages.push(format!(
        "{} per-issue ref(s) not yet on {}{}",
        rows.len(),
        settings.branch,
        remote
            .as_ref()
            .map(|r| format!(" of `{}`", r.name))
            .unwrap_or_default()
    ));
    report.json = obj(json!({
        "branch": settings.branch.to_string(),
        "tip": found.tip.map(|t| t.to_string()),
        "remote": args.remote,
        "pending": rows,
    }));
    Ok(report)
}

fn run_verify(
    repo: &gix::Repository,
    settings: &Settings,
    args: &cli::VerifyArgs,
) -> Result<Report> {
    if !args.history {
        return Err(Error::new(
            ErrorKind::Usage,
            "verify needs --history (use `check` for the tip alone)",
        ));
    }
    let found = history::verify(repo, settings)?;
    let mut report = Report::new("verify");
    let mut problems = Vec::new();
    for p in &found.problems {
        report.stdout.push_str(&format!(
            "{}\t{}\t{}\n",
            p.commit,
            p.kind,
            printable(&p.message)
        ));
        let mut o = json!({"commit": p.commit.to_string(), "kind": p.kind, "message": p.message});
        if let (Some(path), Value::Object(m)) = (&p.path, &mut o) {
            m.insert("path".to_owned(), Value::String(path.clone()));
        }
        problems.push(o);
    }
    report.messages.push(format!(
        "{} problem(s) in {} checked commit(s), {} skipped, on {}",
        found.problems.len(),
        found.checked,
        found.skipped,
        settings.branch
    ));
    if let Some(p) = found.problems.first() {
        report.exit_code = 1;
        // The problem's own kind (a missing blob is `not_found`, not
        // `stale`), and its path, so scripts see the offender.
        let kind = ErrorKind::from_name(&p.kind).unwrap_or(ErrorKind::Stale);
        let mut error =
            Error::new(kind, format!("{}: {}", p.commit, p.message)).with("commit", p.commit);
        if let Some(path) = &p.path {
            error = error.with("path", path);
        }
        report.error = Some(error);
    }
    report.json = obj(json!({
        "checked": found.checked,
        "skipped": found.skipped,
        "problems": problems,
    }));
    Ok(report)
}

fn run_repair(
    repo: &gix::Repository,
    settings: &Settings,
    args: &cli::RepairArgs,
) -> Result<Report> {
    let opts = history::RepairOptions {
        dry_run: args.dry_run,
        include_deleted: args.include_deleted,
        retries: args.write.retries,
        message: args.write.message.clone(),
        sink: sink(repo, &args.write)?,
    };
    let out = history::repair(repo, settings, &opts)?;
    let mut report = Report::new("repair");
    report
        .messages
        .extend(out.warnings.iter().map(|w| format!("warning: {w}")));
    for v in &out.invalid_versions {
        report.messages.push(format!(
            "warning: invalid manifest version {} at {}: {}",
            v.blob, v.commit, v.message
        ));
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for e in &out.entries {
        *counts.entry(e.class.as_str()).or_default() += 1;
    }
    for e in out
        .entries
        .iter()
        .filter(|e| out.recovered.contains(&e.path))
    {
        report.stdout.push_str(&format!(
            "{}\t{}\t{}\n",
            printable(&e.path),
            e.class.as_str(),
            e.dropped_by
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".to_owned())
        ));
    }
    let summary = counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    report.messages.push(format!(
        "{} version(s) read ({} invalid); entries: {}; {} recovered{}",
        out.versions,
        out.invalid_versions.len(),
        if summary.is_empty() {
            "none".to_owned()
        } else {
            summary
        },
        out.recovered.len(),
        match (out.commit, args.dry_run) {
            (_, true) if !out.recovered.is_empty() => " (dry run: nothing written)".to_owned(),
            (Some(c), _) => format!(
                " as {c} on {}{}",
                settings.branch,
                of_remote(args.write.push.as_deref())
            ),
            _ => String::new(),
        }
    ));
    report.json = obj(json!({
        "dry_run": args.dry_run,
        "versions": out.versions,
        "invalid_versions": out.invalid_versions.iter().map(|v| json!({
            "commit": v.commit.to_string(), "blob": v.blob.to_string(), "message": v.message,
        })).collect::<Vec<_>>(),
        "entries": out.entries.iter().map(|e| json!({
            "path": e.path,
            "issue": e.issue,
            "class": e.class.as_str(),
            "last_seen": e.last_seen.map(|c| c.to_string()),
            "dropped_by": e.dropped_by.map(|c| c.to_string()),
        })).collect::<Vec<_>>(),
        "recovered": out.recovered,
        "fragments": out.fragments.iter().map(|(k, n)| json!({"key": k, "artifacts": n})).collect::<Vec<_>>(),
        "commit": out.commit.map(|c| c.to_string()),
        "consolidated": out.consolidated.map(|c| c.to_string()),
        "attempts": out.attempts,
    }));
    Ok(report)
}

/// Local refs, or the remote `--push` names.
fn sink(repo: &gix::Repository, args: &cli::WriteArgs) -> Result<publish::Sink> {
    Ok(match &args.push {
        None => publish::Sink::Local,
        Some(name) => publish::Sink::Remote(remote::Remote::new(repo, name)?),
    })
}

/// `--json`'s `error` object: kind, message and the offender fields.
pub fn error_json(err: &Error) -> Value {
    let mut m = Map::new();
    m.insert(
        "kind".to_owned(),
        Value::String(err.kind.as_str().to_owned()),
    );
    m.insert("message".to_owned(), Value::String(err.message.clone()));
    for (k, v) in &err.details {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn of_remote(remote: Option<&str>) -> String {
    remote
        .map(|r| format!(" of remote `{r}`"))
        .unwrap_or_default()
}

fn retries_note(attempts: u32) -> String {
    match attempts {
        0 | 1 => String::new(),
        n => format!(" after {} retr{}", n - 1, if n == 2 { "y" } else { "ies" }),
    }
}

/// Control characters (tabs and newlines included) would break a line-per-row listing.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The bytes of `--fragment FILE`, or stdin for `-`.
fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut buf).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read the fragment from stdin: {e}"),
            )
            .with("path", "-")
        })?;
    } else {
        buf = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read fragment file `{}`: {e}", path.display()),
            )
            .with("path", path.display())
        })?;
    }
    Ok(buf)
}
