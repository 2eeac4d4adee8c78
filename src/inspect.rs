//! `check` and `list`: read-only views of a revision's catalogue.

use gix::{ObjectId, Repository};
use serde_json::Value;

use crate::catalogue;
use crate::core::key::natural_key;
use crate::core::manifest::Manifest;
use crate::core::render::Writer;
use crate::error::{Error, ErrorKind, Result};
use crate::git::store::{self, FragmentBlob, ReadError};
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
    // Rendered as consolidation renders them, in natural key order, each
    // fragment dropped once rendered: nothing holds all of them.
    let mut blobs: Vec<(usize, FragmentBlob)> = listing.blobs.into_iter().enumerate().collect();
    blobs.sort_by_cached_key(|(_, b)| natural_key(b.key.as_str()));
    let (place, blobs): (Vec<usize>, Vec<FragmentBlob>) = blobs.into_iter().unzip();
    let source = listing.source.to_string();
    let dir = (!fragments_only).then_some(settings.dir.as_str());
    let issue_url = settings.issue_url.as_deref();
    let mut writer = Writer::new(&source, dir, true).with_issue_url(issue_url);
    writer.reserve_claims(2 * blobs.len());
    // Problems are reported in tree order, as the folder lists them.
    let mut invalid: Vec<(usize, Error)> = Vec::new();
    let mut failed: Option<(usize, Error)> = None;
    store::read_in_pack_order(repo, &blobs, |start, read| {
        for part in render_batches(&blobs[start..], read, dir, issue_url) {
            for (j, e) in part.invalid {
                invalid.push((place[start + j], e));
            }
            for (j, e) in part.failed {
                let at = place[start + j];
                if failed.as_ref().is_none_or(|(first, _)| at < *first) {
                    failed = Some((at, e));
                }
            }
            report.fragments += part.fragments;
            report.artifacts += part.artifacts;
            writer.absorb(part.batch);
        }
        Ok(())
    })?;
    if let Some((_, e)) = failed {
        return Err(e);
    }
    invalid.sort_by_key(|(at, _)| *at);
    report.problems.extend(invalid.into_iter().map(|(_, e)| e));
    let out = writer.finish_rope();
    // Readable fragments alone decide the outputs: a path claimed twice is
    // listed apart, and the outputs are still compared.
    let readable = report.problems.is_empty();
    for conflict in &out.conflicts {
        report
            .problems
            .push(catalogue::conflict_error(conflict).commit(commit));
    }
    report.valid = report.problems.is_empty();
    if !readable || fragments_only {
        return Ok(report);
    }
    let mut stale = Vec::new();
    for (path, rope) in [
        (settings.manifest_path(), &out.manifest),
        (settings.index_path(), &out.index),
    ] {
        if !store::holds(repo, root, &path, &catalogue::pieces(rope))? {
            stale.push(path);
        }
    }
    // A writer that starts from nothing gives every page its bytes.
    let pages: Vec<(String, Vec<u8>)> = out
        .pages
        .into_iter()
        .filter_map(|p| Some((p.file, p.bytes?)))
        .collect();
    stale.extend(catalogue::stale_pages(repo, root, settings, &pages)?);
    report.current = Some(stale.is_empty());
    let lost = match stale.is_empty() {
        true => Vec::new(),
        false => catalogue::unbacked(repo, root, settings, None)?,
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

/// What one thread of [`render_batches`] made of its part of a window.
struct Part {
    batch: Writer,
    fragments: usize,
    artifacts: usize,
    /// Invalid fragments, by position in the window.
    invalid: Vec<(usize, Error)>,
    /// Blobs that could not be read, by position in the window.
    failed: Vec<(usize, Error)>,
}

/// Parse the bytes `read` of `blobs` (consecutive, in natural key order)
/// and render the valid ones, in two parts on two threads, for
/// [`Writer::absorb`].
fn render_batches(
    blobs: &[FragmentBlob],
    read: Vec<store::Bytes<'_>>,
    dir: Option<&str>,
    issue_url: Option<&str>,
) -> Vec<Part> {
    let half = read.len().div_ceil(2).max(1);
    let mut parts: Vec<Vec<store::Bytes<'_>>> = Vec::new();
    let mut rest = read.into_iter();
    loop {
        let next: Vec<_> = rest.by_ref().take(half).collect();
        if next.is_empty() {
            break;
        }
        parts.push(next);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(n, raw)| {
                scope.spawn(move || {
                    let mut part = Part {
                        batch: Writer::batch(dir).with_issue_url(issue_url),
                        fragments: 0,
                        artifacts: 0,
                        invalid: Vec::new(),
                        failed: Vec::new(),
                    };
                    for (k, r) in raw.into_iter().enumerate() {
                        let j = n * half + k;
                        match r.and_then(|data| store::parse_fragment(&blobs[j], data)) {
                            Ok(f) => {
                                part.fragments += 1;
                                part.artifacts += f.artifacts.len();
                                part.batch.push(&f);
                            }
                            Err(ReadError::Invalid(e)) => part.invalid.push((j, e)),
                            Err(ReadError::Failed(e)) => part.failed.push((j, e)),
                        }
                    }
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a renderer panicked"))
            .collect()
    })
}

/// What `list` shows: a commit's catalogue, built from its fragments.
#[derive(Debug)]
pub struct Listed {
    /// The consolidated catalogue.
    pub manifest: Manifest,
    /// Entries of the fragments folder that were skipped, one sentence each.
    pub warnings: Vec<String>,
}

/// The catalogue of a commit, built from its fragments (read in pack
/// order, see [`store::read_in_pack_order`]); the first invalid fragment in
/// tree order fails it, naming it. Its files are not rendered: `list` shows
/// the fragments and artifacts themselves.
pub fn list(repo: &Repository, settings: &Settings, commit: ObjectId) -> Result<Listed> {
    let root = store::commit_tree(repo, commit)?;
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?.into_valid()?;
    let mut fragments = Vec::with_capacity(listing.blobs.len());
    store::read_in_pack_order(repo, &listing.blobs, |start, read| {
        for (r, blob) in read.into_iter().zip(&listing.blobs[start..]) {
            fragments.push(store::parse_fragment(blob, r?)?);
        }
        Ok(())
    })?;
    Ok(Listed {
        manifest: Manifest::build_with_conflicts(fragments, &listing.source.to_string()),
        warnings: listing.warnings,
    })
}

/// Whether a fragment's `issue` value is issue `n` (a number, or a string of its digits).
pub fn issue_is(issue: Option<&Value>, n: u64) -> bool {
    match issue {
        Some(Value::Number(num)) => num.to_string() == n.to_string(),
        Some(Value::String(s)) => s.trim_start_matches('#') == n.to_string(),
        _ => false,
    }
}
