//! `check` and `list`: read-only views of a revision's catalogue.

use gix::{ObjectId, Repository};
use serde_json::Value;

use crate::catalogue;
use crate::core::manifest::Manifest;
use crate::error::{Error, ErrorKind, Result};
use crate::git::store::{self, ReadError};
use crate::settings::Settings;

/// The commit to look at: `rev` if given, else the branch tip.
pub fn target_commit(
    repo: &Repository,
    settings: &Settings,
    rev: Option<&str>,
) -> Result<ObjectId> {
    match rev {
        Some(rev) => store::resolve_commit(repo, rev),
        None => store::ref_target(repo, &settings.branch)?
            .ok_or_else(|| Error::missing_branch(&settings.branch, None)),
    }
}

/// What `check` found.
#[derive(Debug)]
pub struct CheckReport {
    /// The commit checked.
    pub commit: ObjectId,
    /// Valid fragments read.
    pub fragments: usize,
    /// Artifacts they list.
    pub artifacts: usize,
    /// Whether every fragment is valid and no path is claimed twice.
    pub valid: bool,
    /// Whether manifest and index match the fragments (`None` when not checked).
    pub current: Option<bool>,
    /// Every problem, each naming its offender.
    pub problems: Vec<Error>,
    /// Skipped entries of the fragments folder.
    pub warnings: Vec<String>,
}

/// Validate every fragment (reporting all invalid ones, not just the first)
/// and, unless `fragments_only`, compare manifest and index with what
/// consolidation would write.
pub fn check(
    repo: &Repository,
    settings: &Settings,
    commit: ObjectId,
    fragments_only: bool,
) -> Result<CheckReport> {
    let root = store::commit_tree(repo, commit)?;
    let mut report = CheckReport {
        commit,
        fragments: 0,
        artifacts: 0,
        valid: true,
        current: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?;
    report.warnings = listing.warnings;
    report.problems = listing.problems;
    let mut fragments = Vec::new();
    for blob in &listing.blobs {
        match store::read_fragment(repo, blob) {
            Ok(f) => fragments.push(f),
            Err(ReadError::Invalid(e)) => report.problems.push(e),
            Err(ReadError::Failed(e)) => return Err(e),
        }
    }
    report.fragments = fragments.len();
    report.artifacts = fragments.iter().map(|f| f.artifacts.len()).sum();
    let manifest = Manifest::build_with_conflicts(fragments, &listing.source.to_string());
    // Readable fragments alone decide the outputs: a path claimed twice is
    // listed apart, and the outputs are still compared.
    let readable = report.problems.is_empty();
    for conflict in manifest.conflicts() {
        report
            .problems
            .push(catalogue::conflict_error(&conflict).commit(commit));
    }
    report.valid = report.problems.is_empty();
    if !readable || fragments_only {
        return Ok(report);
    }
    let built = catalogue::render(manifest, settings, Vec::new());
    let stale = catalogue::stale_paths(repo, root, settings, &built)?;
    report.current = Some(stale.is_empty());
    let lost = match stale.is_empty() {
        true => Vec::new(),
        false => catalogue::unbacked(repo, root, settings, Some(built.manifest.fragments()))?,
    };
    if !lost.is_empty() {
        // Consolidating would drop them: the next step is to migrate them.
        report
            .problems
            .push(catalogue::unmigrated_error(settings, commit, &lost));
        return Ok(report);
    }
    for path in stale {
        report.problems.push(
            Error::new(
                ErrorKind::Stale,
                format!("`{path}` of commit {commit} does not match its fragments; run `git catalogue consolidate`"),
            )
            .path(path)
            .commit(commit),
        );
    }
    Ok(report)
}

/// The catalogue of a commit, built from its fragments.
pub fn list(repo: &Repository, settings: &Settings, commit: ObjectId) -> Result<catalogue::Built> {
    let root = store::commit_tree(repo, commit)?;
    catalogue::build(repo, root, settings)
}

/// Whether a fragment's `issue` value is issue `n` (a number, or a string of its digits).
pub fn issue_is(issue: Option<&Value>, n: u64) -> bool {
    match issue {
        Some(Value::Number(num)) => num.to_string() == n.to_string(),
        Some(Value::String(s)) => s.trim_start_matches('#') == n.to_string(),
        _ => false,
    }
}
