//! `check` and `list`: the read-only views of a revision, and their reports.

use serde_json::{json, Map, Value};

use super::args::{CheckArgs, ListArgs};
use super::errors::{self, error_json};
use super::{obj, printable, Report};
use crate::core::fragment::Fragment;
use crate::error::Result;
use crate::inspect;
use crate::settings::Settings;

/// `git catalogue check`.
pub fn check(repo: &gix::Repository, settings: &Settings, args: &CheckArgs) -> Result<Report> {
    if let Some(base) = &args.base {
        return super::gate::run(repo, settings, base, args);
    }
    let commit = inspect::target_commit(repo, settings, args.rev.as_deref())?;
    let found = inspect::check(repo, settings, commit, args.fragments_only)?;
    let mut report = Report::new("check");
    report.warn(&found.warnings);
    for p in &found.problems {
        report
            .messages
            .push(format!("problem: {}", errors::message(p)));
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

/// `git catalogue list`.
pub fn list(repo: &gix::Repository, settings: &Settings, args: &ListArgs) -> Result<Report> {
    let commit = inspect::target_commit(repo, settings, args.rev.as_deref())?;
    let built = inspect::list(repo, settings, commit)?;
    let mut report = Report::new("list");
    report.warn(&built.warnings);
    // Listed all the same: a conflict must never hide the rest of the catalogue.
    let conflicts = built.manifest.conflicts();
    for conflict in &conflicts {
        report.messages.push(format!(
            "warning: {}; its claims are not listed until one goes (see `git catalogue check`)",
            conflict
        ));
    }
    let keep = |f: &Fragment| args.issue.is_none_or(|n| inspect::issue_is(f.issue(), n));
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
    json.insert(
        "conflicts".to_owned(),
        Value::Array(
            conflicts
                .iter()
                .map(|c| super::consolidate::conflict_json(c, settings))
                .collect(),
        ),
    );
    report.json = json;
    Ok(report)
}
