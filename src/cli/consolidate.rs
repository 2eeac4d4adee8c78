//! `consolidate`: its options and its report.

use serde_json::json;

use super::args::ConsolidateArgs;
use super::{obj, retries_note, sink, Report};
use crate::consolidate::{self, Options};
use crate::error::Result;
use crate::settings::Settings;

/// `git catalogue consolidate`.
pub fn run(repo: &gix::Repository, settings: &Settings, args: &ConsolidateArgs) -> Result<Report> {
    let opts = Options {
        dry_run: args.dry_run,
        full: args.full,
        retries: args.write.retries,
        message: args.write.message.clone(),
    };
    let sink = sink(repo, &args.write)?;
    let out = consolidate::consolidate(repo, settings, sink.as_ref(), &opts)?;
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
    }));
    Ok(report)
}
