//! `consolidate`: its options and its report.

use serde_json::json;

use super::args::ConsolidateArgs;
use super::errors::{self, error_json};
use super::{obj, printable, retries_note, sink, Report};
use crate::catalogue;
use crate::consolidate::{self, Options, Unbacked};
use crate::core::manifest::Conflict;
use crate::error::Result;
use crate::gate;
use crate::git::store;
use crate::settings::{ManifestLimits, Settings};

/// `git catalogue consolidate`.
pub fn run(repo: &gix::Repository, settings: &Settings, args: &ConsolidateArgs) -> Result<Report> {
    let opts = Options {
        dry_run: args.dry_run,
        full: args.full,
        retries: args.write.retries,
        message: args.write.message.clone(),
        limits: ManifestLimits::resolve(repo)?,
    };
    let sink = sink(repo, &args.write)?;
    let unbacked = match args.drop_unbacked {
        true => Unbacked::Drop,
        false => Unbacked::Refuse,
    };
    let out = consolidate::consolidate_with(repo, settings, sink.as_ref(), &opts, unbacked)?;
    let mut report = Report::new("consolidate");
    report.warn(&out.warnings);
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
        "conflicts": out.conflicts.iter().map(|c| conflict_json(c, settings)).collect::<Vec<_>>(),
    }));
    // What the run would change, fragment by fragment, as `check --base`
    // lists a pull request's changes.
    if args.dry_run {
        let root = store::commit_tree(repo, out.tip)?;
        let rows = gate::since_manifest_source(repo, settings, root)?;
        for row in &rows {
            report.stdout.push_str(&format!(
                "{}\t{}\t{}\n",
                row.change.as_str(),
                row.key,
                printable(&row.paths.join(" "))
            ));
        }
        report.json.insert(
            "changes".to_owned(),
            rows.iter()
                .map(|r| {
                    json!({
                        "key": r.key.as_str(),
                        "change": r.change.as_str(),
                        "paths": r.paths,
                        "dropped": r.dropped,
                    })
                })
                .collect(),
        );
    }
    // Written all the same, so that the rest of the catalogue moves on; the
    // exit status still fails, so CI shows the conflict until it is resolved.
    for conflict in &out.conflicts {
        let err = catalogue::conflict_error(conflict);
        report.messages.push(format!(
            "error: {} `{}`",
            errors::message(&err),
            settings.fragment_path(conflict.later())
        ));
        if report.error.is_none() {
            report.exit_code = errors::exit_code(err.kind);
            report.error = Some(err);
        }
    }
    Ok(report)
}

/// One conflict in `--json`: the path, every claimant, and the fragment to change.
pub(super) fn conflict_json(conflict: &Conflict, settings: &Settings) -> serde_json::Value {
    json!({
        "path": conflict.path,
        "fragments": conflict.fragments.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "change": conflict.later().as_str(),
        "change_path": settings.fragment_path(conflict.later()),
        "error": error_json(&catalogue::conflict_error(conflict)),
    })
}
