//! `check` and `list`: read-only views of a revision's catalogue.

use std::ops::Range;

use gix::{ObjectId, Repository};
use serde_json::Value;

use crate::catalogue;
use crate::core::fragment::Fragment;
use crate::core::key::natural_key;
use crate::core::manifest::{in_manifest_order, ArtifactEntry, Claims, Conflict, DuplicatePath};
use crate::core::render::{Spliced, Writer};
use crate::error::{Error, ErrorKind, Result};
use crate::git::store::{self, FragmentBlob, ReadError};
use crate::settings::Settings;
use crate::spool::Spool;

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
    let dir = (!fragments_only).then_some(settings.dir.as_str());
    let layout = Layout {
        source: &listing.source.to_string(),
        dir,
        issue_url: settings.issue_url.as_deref(),
        earlier: false,
    };
    let streamed = render_fragments(repo, listing.blobs, &layout)?;
    if let Some((_, e)) = streamed.failed.into_iter().next() {
        return Err(e);
    }
    report.fragments = streamed.fragments;
    report.artifacts = streamed.artifacts;
    report
        .problems
        .extend(streamed.invalid.into_iter().map(|(_, e)| e));
    let (out, spilled) = (streamed.out, streamed.spilled);
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
    for (path, parts) in [
        (settings.manifest_path(), spilled.manifest(&out.manifest)),
        (settings.index_path(), catalogue::pieces(&out.index)),
    ] {
        if !store::holds(repo, root, &path, &parts)? {
            stale.push(path);
        }
    }
    // A writer that starts from nothing gives every page its bytes.
    let pages = spilled.made_pages(&out.pages);
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

/// How [`render_fragments`] renders.
pub struct Layout<'a> {
    /// The fragments tree.
    pub source: &'a str,
    /// The catalogue folder; None: no index.
    pub dir: Option<&'a str>,
    /// The issue URL template.
    pub issue_url: Option<&'a str>,
    /// The index in the layout before the pages (see [`Writer::earlier_layout`]).
    pub earlier: bool,
}

/// What [`render_fragments`] made of a tree's fragments.
pub struct Streamed {
    /// The finished writer's outputs.
    pub out: Spliced<'static>,
    /// What it set aside.
    pub spilled: catalogue::Spilled,
    /// Valid fragments read.
    pub fragments: usize,
    /// Artifacts they list.
    pub artifacts: usize,
    /// Invalid fragments, by position in the folder listing, in that order.
    pub invalid: Vec<(usize, Error)>,
    /// Blobs that could not be read, likewise.
    pub failed: Vec<(usize, Error)>,
    /// The first path claimed twice ([`Writer::first_duplicate`]).
    pub first_duplicate: Option<DuplicatePath>,
}

/// Render the fragments `blobs` (as the folder lists them) as consolidation
/// renders them, in natural key order, each fragment dropped once rendered
/// and the outputs set aside as they grow ([`catalogue::Spilling`]):
/// nothing holds all of them. Invalid and unreadable fragments are
/// collected, not fatal; the outputs are of the valid ones.
pub fn render_fragments(
    repo: &Repository,
    blobs: Vec<FragmentBlob>,
    layout: &Layout<'_>,
) -> Result<Streamed> {
    let mut blobs: Vec<(usize, FragmentBlob)> = blobs.into_iter().enumerate().collect();
    blobs.sort_by_cached_key(|(_, b)| natural_key(b.key.as_str()));
    let (place, blobs): (Vec<usize>, Vec<FragmentBlob>) = blobs.into_iter().unzip();
    let mut writer = Writer::new(layout.source, layout.dir, true).with_issue_url(layout.issue_url);
    if layout.earlier {
        writer = writer.earlier_layout();
    }
    writer.reserve_claims(2 * blobs.len());
    let mut writer = catalogue::Spilling::new(writer);
    let (mut fragments, mut artifacts) = (0, 0);
    let mut invalid: Vec<(usize, Error)> = Vec::new();
    let mut failed: Vec<(usize, Error)> = Vec::new();
    store::read_in_pack_order(repo, &blobs, |start, read| {
        for part in render_batches(&blobs[start..], read, layout) {
            invalid.extend(part.invalid.into_iter().map(|(j, e)| (place[start + j], e)));
            failed.extend(part.failed.into_iter().map(|(j, e)| (place[start + j], e)));
            fragments += part.fragments;
            artifacts += part.artifacts;
            writer.absorb(part.batch)?;
        }
        Ok(())
    })?;
    invalid.sort_by_key(|(at, _)| *at);
    failed.sort_by_key(|(at, _)| *at);
    let first_duplicate = writer.first_duplicate();
    let (out, spilled) = writer.finish()?;
    Ok(Streamed {
        out,
        spilled,
        fragments,
        artifacts,
        invalid,
        failed,
        first_duplicate,
    })
}

fn batch_writer(layout: &Layout<'_>) -> Writer {
    let batch = Writer::batch(layout.dir).with_issue_url(layout.issue_url);
    match layout.earlier {
        true => batch.earlier_layout(),
        false => batch,
    }
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
    layout: &Layout<'_>,
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
                        batch: batch_writer(layout),
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

/// How `list` words what it lists, in the one format asked: each record
/// is appended to a spool, so that nothing holds every fragment.
pub trait ListFormat {
    /// Append the record of a listed fragment (before its artifacts').
    fn fragment(&self, fragment: &Fragment, out: &mut Vec<u8>);
    /// Append the record of one listed artifact.
    fn artifact(&self, entry: ArtifactEntry<'_>, out: &mut Vec<u8>);
}

/// What `list` shows: a commit's catalogue, as the manifest built from its
/// fragments would list it, in records spooled by a [`ListFormat`].
#[derive(Debug)]
pub struct Listed {
    /// Entries of the fragments folder that were skipped, one sentence each.
    pub warnings: Vec<String>,
    /// Every path claimed more than once, bytewise; none of its claims is listed.
    pub conflicts: Vec<Conflict>,
    /// How many fragments are listed.
    pub fragments: usize,
    /// How many artifacts are listed.
    pub artifacts: usize,
    /// The listed fragments' records, in natural key order.
    pub fragment_records: Spool,
    /// The listed artifacts' records, in manifest order.
    pub artifact_records: Spool,
}

/// The catalogue of a commit, as [`crate::core::manifest::Manifest::build_with_conflicts`] builds
/// it from its fragments, streamed: fragments are read in pack order window
/// by window (see [`store::read_in_pack_order`]) in natural key order, each
/// parsed, its records spooled through `format`, and dropped. Only the
/// fragments of issue `issue` are listed, when given; every fragment claims
/// its paths all the same. The first invalid fragment in tree order fails
/// it, naming it.
pub fn list(
    repo: &Repository,
    settings: &Settings,
    commit: ObjectId,
    issue: Option<u64>,
    format: &impl ListFormat,
) -> Result<Listed> {
    let root = store::commit_tree(repo, commit)?;
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?.into_valid()?;
    let mut blobs: Vec<(usize, FragmentBlob)> = listing.blobs.into_iter().enumerate().collect();
    blobs.sort_by_cached_key(|(_, b)| natural_key(b.key.as_str()));
    let (place, blobs): (Vec<usize>, Vec<FragmentBlob>) = blobs.into_iter().unzip();
    let mut listed = Listed {
        warnings: listing.warnings,
        conflicts: Vec::new(),
        fragments: 0,
        artifacts: 0,
        fragment_records: Spool::new(),
        artifact_records: Spool::new(),
    };
    // Path -> the fragment that claimed it first, and where its record lies
    // (None when that fragment is not listed).
    let mut claims: Claims<Option<Range<u64>>> = Claims::with_capacity(2 * blobs.len());
    let mut failed: Option<(usize, Error)> = None;
    store::read_in_pack_order(repo, &blobs, |start, read| {
        for (j, r) in read.into_iter().enumerate() {
            let n = start + j;
            let fragment = match r.and_then(|data| store::parse_fragment(&blobs[n], data)) {
                Ok(f) => f,
                Err(e) => {
                    // The first in tree order, as reading them in that order would find.
                    if failed.as_ref().is_none_or(|(at, _)| place[n] < *at) {
                        failed = Some((place[n], e.into()));
                    }
                    continue;
                }
            };
            if failed.is_some() {
                continue;
            }
            let shown = issue.is_none_or(|i| issue_is(fragment.issue(), i));
            if shown {
                listed.fragments += 1;
                listed
                    .fragment_records
                    .record(|out| format.fragment(&fragment, out))?;
            }
            let number = u32::try_from(n).expect("fewer than 2^32 fragments");
            for entry in in_manifest_order(&fragment) {
                if let Some(mark) = claims.claim(entry.path(), number) {
                    if shown {
                        listed.artifacts += 1;
                        *mark = Some(
                            listed
                                .artifact_records
                                .record(|out| format.artifact(entry, out))?,
                        );
                    }
                }
            }
        }
        Ok(())
    })?;
    if let Some((_, e)) = failed {
        return Err(e);
    }
    let (conflicts, marks) = claims.finish();
    for range in marks.into_iter().flatten() {
        listed.artifacts -= 1;
        listed.artifact_records.skip(range);
    }
    listed.conflicts = conflicts
        .into_iter()
        .map(|(path, held)| Conflict {
            path,
            fragments: held
                .into_iter()
                .map(|n| blobs[n as usize].key.clone())
                .collect(),
        })
        .collect();
    Ok(listed)
}

/// Whether a fragment's `issue` value is issue `n` (a number, or a string of its digits).
pub fn issue_is(issue: Option<&Value>, n: u64) -> bool {
    match issue {
        Some(Value::Number(num)) => num.to_string() == n.to_string(),
        Some(Value::String(s)) => s.trim_start_matches('#') == n.to_string(),
        _ => false,
    }
}
