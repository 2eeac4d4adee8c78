//! `verify --history` and `repair`: their options and reports.

use serde_json::{json, Value};

use super::args::{DeepenArgs, RepairArgs, VerifyArgs};
use super::errors::kind_name;
use super::progress::Terminal;
use super::{obj, of_remote, printable, sink, Report};
use crate::error::{Error, ErrorKind, Result};
use crate::history::{self, RepairOptions, VerifyOptions};
use crate::settings::{ManifestLimits, Settings};

/// `git catalogue verify --history`.
pub fn verify(repo: &gix::Repository, settings: &Settings, args: &VerifyArgs) -> Result<Report> {
    if !args.history {
        return Err(Error::new(
            ErrorKind::Usage,
            "verify needs --history (use `check` for the tip alone)",
        ));
    }
    let mut report = Report::new("verify");
    let deepened = deepen(repo, settings, &args.deepen, None, &mut report)?;
    let opts = match &args.range {
        None => VerifyOptions {
            since: args.since.clone(),
            tip: None,
        },
        Some(range) => parse_range(range)?,
    };
    let found = history::verify(repo, settings, &opts, &mut Terminal::new())?;
    let cut = shallow_warning(repo, settings, &found.boundary, None, "checked");
    let mut problems = Vec::new();
    for p in &found.problems {
        report.stdout.push_str(&format!(
            "{}\t{}\t{}\n",
            p.commit,
            kind_name(p.kind),
            printable(&p.message)
        ));
        let mut o = json!({"commit": p.commit.to_string(), "kind": kind_name(p.kind), "message": p.message});
        if let (Some(path), Value::Object(m)) = (&p.path, &mut o) {
            m.insert("path".to_owned(), Value::String(path.clone()));
        }
        problems.push(o);
    }
    // As `check` does: each problem on stderr too, for a person reading the log.
    for p in &found.problems {
        report
            .messages
            .push(format!("problem: {}: {}", p.commit, p.message));
    }
    report.messages.extend(cut);
    report.messages.push(format!(
        "{} problem(s) in {} checked commit(s), {} skipped, on {}{}",
        found.problems.len(),
        found.checked,
        found.skipped,
        opts.tip
            .clone()
            .unwrap_or_else(|| settings.branch.as_bstr().to_string()),
        found
            .since
            .map(|c| format!(" after {c}"))
            .unwrap_or_default()
    ));
    if let Some(p) = found.problems.first() {
        report.exit_code = 1;
        // The problem's own kind and path, so scripts see the offender.
        let mut error = Error::new(p.kind, format!("{}: {}", p.commit, p.message)).commit(p.commit);
        if let Some(path) = &p.path {
            error = error.path(path);
        }
        report.error = Some(error);
    }
    report.json = obj(json!({
        "since": found.since.map(|c| c.to_string()),
        "shallow": !found.boundary.is_empty(),
        "boundary": ids(&found.boundary),
        "deepened": deepened,
        "checked": found.checked,
        "skipped": found.skipped,
        "problems": problems,
    }));
    Ok(report)
}

/// `git catalogue repair`.
pub fn repair(repo: &gix::Repository, settings: &Settings, args: &RepairArgs) -> Result<Report> {
    let opts = RepairOptions {
        dry_run: args.dry_run,
        include_deleted: args.include_deleted,
        retries: args.write.retries,
        message: args.write.message.clone(),
        limits: ManifestLimits::resolve(repo)?,
    };
    let mut report = Report::new("repair");
    let push = args.write.push.as_deref();
    let deepened = deepen(repo, settings, &args.deepen, push, &mut report)?;
    let sink = sink(repo, &args.write)?;
    let out = history::repair(repo, settings, sink.as_ref(), &opts, &mut Terminal::new())?;
    report
        .messages
        .extend(shallow_warning(repo, settings, &out.boundary, push, "read"));
    report.warn(&out.warnings);
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
        "shallow": !out.boundary.is_empty(),
        "boundary": ids(&out.boundary),
        "deepened": deepened,
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

/// `REV..` or `REV..TIP` (a symmetric `...` range means nothing here).
fn parse_range(range: &str) -> Result<VerifyOptions> {
    let bad = || {
        Error::new(
            ErrorKind::Usage,
            format!("range `{range}` must be REV.. or REV..TIP"),
        )
        .commit(range)
    };
    let (since, tip) = range.split_once("..").ok_or_else(bad)?;
    if since.is_empty() || tip.starts_with('.') || tip.contains("..") {
        return Err(bad());
    }
    Ok(VerifyOptions {
        since: Some(since.to_owned()),
        tip: (!tip.is_empty()).then(|| tip.to_owned()),
    })
}

fn ids(commits: &[gix::ObjectId]) -> Vec<String> {
    commits.iter().map(|c| c.to_string()).collect()
}

/// `--deepen[=REMOTE]`: fetch the whole history first. The remote fetched
/// from (for `deepened`), or `None` when nothing was fetched.
fn deepen(
    repo: &gix::Repository,
    settings: &Settings,
    args: &DeepenArgs,
    push: Option<&str>,
    report: &mut Report,
) -> Result<Option<String>> {
    let Some(named) = &args.deepen else {
        return Ok(None);
    };
    let remote = Some(named.as_str()).filter(|n| !n.is_empty()).or(push);
    let done = history::deepen(repo, settings, remote)?;
    if !done.fetched {
        report.messages.push(format!(
            "--deepen: the repository is not shallow; nothing fetched from `{}`",
            done.remote
        ));
        return Ok(None);
    }
    report.messages.push(format!(
        "fetched the whole history of {} from `{}`",
        settings.branch, done.remote
    ));
    Ok(Some(done.remote))
}

/// The warning that a shallow clone's history is cut at `boundary`, naming
/// it and how to deepen (none when the history is whole).
fn shallow_warning(
    repo: &gix::Repository,
    settings: &Settings,
    boundary: &[gix::ObjectId],
    push: Option<&str>,
    what: &str,
) -> Option<String> {
    if boundary.is_empty() {
        return None;
    }
    let remote = history::deepen_remote(repo, settings, push);
    Some(format!(
        "warning: shallow clone: the history of {} is cut at {} (the shallow boundary); \
         the commits before it were not {what}, so this result is partial. \
         Run again with --deepen (fetches the whole history from `{remote}`; \
         --deepen=REMOTE names another), or run `git fetch --unshallow {remote}` first",
        settings.branch,
        ids(boundary).join(", ")
    ))
}
