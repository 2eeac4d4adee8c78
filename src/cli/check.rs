//! `check` and `list`: the read-only views of a revision, and their reports.

use serde_json::{json, Map, Value};

use super::args::{CheckArgs, ListArgs};
use super::errors::{self, error_json};
use super::{obj, printable, JsonSpool, Report};
use crate::core::fragment::Fragment;
use crate::core::manifest::ArtifactEntry;
use crate::error::Result;
use crate::inspect::{self, ListFormat};
use crate::settings::Settings;
use crate::spool::Spool;

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

/// `git catalogue list`: streamed (see [`inspect::list`]), in the one
/// format asked, so that its memory does not grow with the catalogue.
pub fn list(
    repo: &gix::Repository,
    settings: &Settings,
    args: &ListArgs,
    json: bool,
) -> Result<Report> {
    let commit = inspect::target_commit(repo, settings, args.rev.as_deref())?;
    let built = match json {
        true => inspect::list(repo, settings, commit, args.issue, &JsonRecords),
        false => inspect::list(repo, settings, commit, args.issue, &Rows),
    }?;
    let mut report = Report::new("list");
    report.warn(&built.warnings);
    // Listed all the same: a conflict must never hide the rest of the catalogue.
    for conflict in &built.conflicts {
        report.messages.push(format!(
            "warning: {}; its claims are not listed until one goes (see `git catalogue check`)",
            conflict
        ));
    }
    report.messages.push(format!(
        "{} artifact(s) in {} fragment(s) at {commit}",
        built.artifacts, built.fragments
    ));
    // The entries are spooled, written in place of the two nulls.
    let mut fields = Map::new();
    fields.insert("commit".to_owned(), Value::String(commit.to_string()));
    fields.insert("fragments".to_owned(), Value::Null);
    fields.insert("artifacts".to_owned(), Value::Null);
    fields.insert(
        "conflicts".to_owned(),
        Value::Array(
            built
                .conflicts
                .iter()
                .map(|c| super::consolidate::conflict_json(c, settings))
                .collect(),
        ),
    );
    report.json = fields;
    // Without --json the two stand only for their sizes (for `-v`): the
    // artifacts' records are the rows.
    let (fragment_records, artifact_records) = match json {
        true => (built.fragment_records, built.artifact_records),
        false => {
            report.stdout_spool = Some(built.artifact_records);
            (Spool::new(), Spool::new())
        }
    };
    report.json_spools = vec![
        JsonSpool {
            name: "fragments",
            object: true,
            members: built.fragments,
            records: fragment_records,
        },
        JsonSpool {
            name: "artifacts",
            object: false,
            members: built.artifacts,
            records: artifact_records,
        },
    ];
    Ok(report)
}

/// `list`'s rows: key, issue, path, kind, title, tab-separated, one per artifact.
struct Rows;

impl ListFormat for Rows {
    fn fragment(&self, _: &Fragment, _: &mut Vec<u8>) {}

    fn artifact(&self, entry: ArtifactEntry<'_>, out: &mut Vec<u8>) {
        let cell = |v: Option<&Value>| match v {
            None => "-".to_owned(),
            Some(Value::String(s)) => printable(s),
            Some(other) => printable(&other.to_string()),
        };
        out.extend_from_slice(
            format!(
                "{}\t{}\t{}\t{}\t{}\n",
                entry.fragment.key,
                cell(entry.fragment.issue()),
                printable(entry.path()),
                cell(entry.fields.get("kind")),
                cell(entry.fields.get("title")),
            )
            .as_bytes(),
        );
    }
}

/// `list --json`'s entries: `"key":{fields}` of `fragments`, and each
/// artifact as the manifest has it, each after a `,` (see [`JsonSpool`]).
///
/// Serialised from the values as parsed, never through `json!`, which goes
/// through `serde_json::to_value` and respells numbers (`1e400` becomes
/// `1e+400`): list must show the fields exactly as the manifest does.
struct JsonRecords;

impl ListFormat for JsonRecords {
    fn fragment(&self, fragment: &Fragment, out: &mut Vec<u8>) {
        out.push(b',');
        serde_json::to_writer(&mut *out, fragment.key.as_str()).expect("a string serialises");
        out.push(b':');
        serde_json::to_writer(&mut *out, &fragment.fields).expect("a serde_json::Map serialises");
    }

    fn artifact(&self, entry: ArtifactEntry<'_>, out: &mut Vec<u8>) {
        out.push(b',');
        serde_json::to_writer(&mut *out, &entry.to_value()).expect("a serde_json::Map serialises");
    }
}
