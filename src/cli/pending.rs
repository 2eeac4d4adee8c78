//! `pending`: its report.

use serde_json::json;

use super::args::PendingArgs;
use super::{obj, Report};
use crate::error::Result;
use crate::git::remote::Remote;
use crate::pending;
use crate::settings::Settings;

/// `git catalogue pending`.
pub fn run(repo: &gix::Repository, settings: &Settings, args: &PendingArgs) -> Result<Report> {
    let remote = args
        .remote
        .as_deref()
        .map(|name| Remote::new(repo, name))
        .transpose()?;
    let found = pending::pending(repo, settings, remote.as_ref())?;
    let mut report = Report::new("pending");
    report.warn(&found.warnings);
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
