//! `check --base`: the pull-request gate's report, as text, JSON and a
//! Markdown summary for the forge's job page.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{json, Value};

use super::args::CheckArgs;
use super::errors::{error_json, message};
use super::{obj, printable, Report};
use crate::error::{Error, ErrorKind, Result};
use crate::gate::{self, Gate};
use crate::git::store;
use crate::settings::Settings;

/// `git catalogue check --base BASE [--rev HEAD] [--summary FILE]`.
pub fn run(
    repo: &gix::Repository,
    settings: &Settings,
    base: &str,
    args: &CheckArgs,
) -> Result<Report> {
    let base_commit = store::resolve_commit(repo, base)?;
    let head = store::resolve_commit(repo, args.rev.as_deref().unwrap_or("HEAD"))?;
    let found = gate::gate(repo, settings, base_commit, head)?;
    let mut report = Report::new("check");
    report.warn(&found.warnings);
    for row in &found.rows {
        let _ = writeln!(
            report.stdout,
            "{}\t{}\t{}",
            row.change.as_str(),
            row.key,
            printable(&row.paths.join(" "))
        );
    }
    for p in &found.problems {
        report.messages.push(format!("problem: {}", message(p)));
    }
    let counts = |c: gate::Change| found.rows.iter().filter(|r| r.change == c).count();
    report.messages.push(format!(
        "{} fragment(s) added, {} changed, {} removed since {}; merging onto {base} {}",
        counts(gate::Change::Added),
        counts(gate::Change::Changed),
        counts(gate::Change::Removed),
        found
            .merge_base
            .map_or_else(|| "the base".to_owned(), |m| m.to_string()),
        if found.problems.is_empty() {
            "keeps the catalogue consistent"
        } else {
            "would not keep the catalogue consistent"
        }
    ));
    if let Some(first) = found.problems.first() {
        report.exit_code = 1;
        report.error = Some(first.clone());
    }
    if let Some(path) = &args.summary {
        append(path, &markdown(&found, base))?;
    }
    report.json = obj(json!({
        "base": found.base.to_string(),
        "merge_base": found.merge_base.map(|m| m.to_string()),
        "commit": found.head.to_string(),
        "changes": found.rows.iter().map(|r| json!({
            "key": r.key.as_str(),
            "change": r.change.as_str(),
            "paths": r.paths,
            "dropped": r.dropped,
        })).collect::<Vec<Value>>(),
        "valid": found.problems.is_empty(),
        "problems": found.problems.iter().map(error_json).collect::<Vec<_>>(),
        "warnings": found.warnings,
    }));
    Ok(report)
}

/// The summary a pull request's job page shows: a line of counts, a table
/// of the fragments touched, and the problems.
fn markdown(found: &Gate, base: &str) -> String {
    let mut out = String::from("### Catalogue\n\n");
    if found.problems.is_empty() {
        let _ = writeln!(
            out,
            "Merging onto `{}` keeps the catalogue consistent.\n",
            cell(base)
        );
    } else {
        let _ = writeln!(
            out,
            "Merging onto `{}` would **not** keep the catalogue consistent:\n",
            cell(base)
        );
        for p in &found.problems {
            let _ = writeln!(out, "- {}", cell(&message(p)));
        }
        out.push('\n');
    }
    if found.rows.is_empty() {
        out.push_str("No fragment changes.\n");
        return out;
    }
    out.push_str("| change | fragment | artifacts |\n| --- | --- | --- |\n");
    for row in &found.rows {
        let mut paths: Vec<String> = row.paths.iter().map(|p| format!("`{}`", cell(p))).collect();
        paths.extend(row.dropped.iter().map(|p| format!("~~`{}`~~", cell(p))));
        let _ = writeln!(
            out,
            "| {} | `{}` | {} |",
            row.change.as_str(),
            row.key,
            paths.join(" ")
        );
    }
    out
}

/// Text for a table cell or a code span: nothing that ends the cell, the
/// span or the line, and no HTML.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            '`' => '\'',
            '<' => '‹',
            '>' => '›',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Append `text` to `path`, as the forge's step summary file expects.
fn append(path: &std::path::Path, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the summary to `{}`: {e}", path.display()),
            )
            .path(path.display())
        })
}
