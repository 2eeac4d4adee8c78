//! `consolidate`: rebuild `manifest.json` and `index.md` from the branch tip's
//! fragments, commit them on the tip, and move the branch by compare-and-swap.
//!
//! Each attempt re-reads the tip, so when another writer wins the race the
//! retry rebuilds on the winner's commit: their fragments are read and land in
//! the manifest, and nothing they wrote is overwritten.

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use crate::catalogue::{self, pieces, Rendered};
use crate::core::manifest::Conflict;
use crate::error::{Error, ErrorKind, Hint, Result};
use crate::git::signals;
use crate::git::store::{self, Part, TreeChange};
use crate::publish::{self, commit_step, Expected, Sink, Step, Write};
use crate::settings::{ManifestLimits, Settings, MANIFEST_MAX_SIZE_KEY, MANIFEST_WARN_SIZE_KEY};

/// What `consolidate` is asked to do.
#[derive(Debug)]
pub struct Options {
    /// Report only.
    pub dry_run: bool,
    /// Read every fragment, even when the previous manifest could be built on.
    pub full: bool,
    /// Retry budget under contention.
    pub retries: u32,
    /// Commit message override.
    pub message: Option<String>,
    /// The manifest sizes to warn above and to refuse above.
    pub limits: ManifestLimits,
}

/// What `consolidate` did.
#[derive(Debug)]
pub struct Outcome {
    /// Whether a commit was (or, with `dry_run`, would be) made.
    pub changed: bool,
    /// The consolidation commit, when one was made.
    pub commit: Option<ObjectId>,
    /// The branch's value afterwards.
    pub tip: ObjectId,
    /// Attempts taken (1 = no retry).
    pub attempts: u32,
    /// Fragments consolidated.
    pub fragments: usize,
    /// Artifacts in the manifest.
    pub artifacts: usize,
    /// The fragments tree the manifest was built from.
    pub source: String,
    /// Whether only the changed fragments were read.
    pub incremental: bool,
    /// Why every fragment was read, when the incremental path did not apply.
    pub note: Option<String>,
    /// Skipped entries of the fragments folder, and a manifest past the
    /// warning size.
    pub warnings: Vec<String>,
    /// Paths claimed more than once: written, listed apart in both files.
    /// The catalogue is committed all the same; the caller reports them.
    pub conflicts: Vec<Conflict>,
}

/// What to do with entries of the branch's manifest that no fragment backs
/// (a legacy or hand-written manifest, see [`catalogue::unbacked`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unbacked {
    /// Refuse with [`ErrorKind::Unmigrated`], writing nothing.
    #[default]
    Refuse,
    /// Drop them: the caller said so.
    Drop,
}

/// Bring the branch's manifest and index up to date, on `sink`, refusing
/// to drop entries no fragment backs.
pub fn consolidate(
    repo: &Repository,
    settings: &Settings,
    sink: &dyn Sink,
    opts: &Options,
) -> Result<Outcome> {
    consolidate_with(repo, settings, sink, opts, Unbacked::Refuse)
}

/// [`consolidate`], saying what to do with entries no fragment backs.
pub fn consolidate_with(
    repo: &Repository,
    settings: &Settings,
    sink: &dyn Sink,
    opts: &Options,
    unbacked: Unbacked,
) -> Result<Outcome> {
    let branch = &settings.branch;
    let fetch = |ids: &[ObjectId]| sink.fetch_missing(repo, ids);
    let published = publish::with_retries(opts.retries, branch, |_| {
        let tip = sink.read(repo, &[branch])?[0]
            .ok_or_else(|| Error::missing_branch(branch, sink.remote_name()))?;
        let root = store::commit_tree(repo, tip)?;
        catalogue::render_tree(repo, root, settings, opts.full, &fetch, |rendered| {
            attempt(repo, settings, sink, (opts, unbacked), tip, root, rendered)
        })
    })?;
    let mut outcome = published.value;
    outcome.attempts = published.attempts;
    Ok(outcome)
}

/// One attempt's work on rendered outputs: compare them with the tip's,
/// and commit and publish them when they differ.
fn attempt(
    repo: &Repository,
    settings: &Settings,
    sink: &dyn Sink,
    (opts, unbacked): (&Options, Unbacked),
    tip: ObjectId,
    root: ObjectId,
    rendered: Rendered<'_>,
) -> Result<Step<Outcome>> {
    let mut outcome = Outcome {
        changed: false,
        commit: None,
        tip,
        attempts: 0,
        fragments: rendered.fragments,
        artifacts: rendered.artifacts,
        source: rendered.source.to_string(),
        incremental: rendered.incremental,
        note: rendered.note.clone(),
        warnings: rendered.warnings.clone(),
        conflicts: rendered.conflicts.clone(),
    };
    let paths = [settings.manifest_path(), settings.index_path()];
    let manifest = rendered.manifest_parts();
    let size: u64 = manifest.iter().map(Part::len).sum();
    outcome
        .warnings
        .extend(size_warning(settings, size, &opts.limits));
    let mut current = rendered.removed_pages.is_empty();
    for (path, parts) in paths.iter().zip([manifest, pieces(&rendered.index)]) {
        current = current && store::holds(repo, root, path, &parts)?;
    }
    // Pages kept from the tip hold by construction; the others are checked.
    for (file, bytes) in rendered.page_parts() {
        if let (true, Some(bytes)) = (current, bytes) {
            current = store::holds(repo, root, &settings.page_path(file), &[bytes])?;
        }
    }
    if current {
        return Ok(Step::Done(outcome));
    }
    outcome.changed = true;
    // Refused before anything is written, dry run or not: a forge would
    // refuse the push, and a commit no forge takes blocks every later one.
    if size > opts.limits.max {
        return Err(too_large_error(settings, tip, size, &opts.limits));
    }
    // Only a commit that changes the manifest can drop an entry; and an
    // incremental build stands on a manifest in git-catalogue's own layout,
    // whose entries the fragments made.
    if unbacked == Unbacked::Refuse && !rendered.incremental {
        let lost = catalogue::unbacked(repo, root, settings, None)?;
        if !lost.is_empty() {
            return Err(catalogue::unmigrated_error(settings, tip, &lost));
        }
    }
    if opts.dry_run {
        return Ok(Step::Done(outcome));
    }
    let message = opts.message.clone().unwrap_or_else(|| {
        format!(
            "catalogue: consolidate {} fragment(s), {} artifact(s)\n\nsource: {}\n",
            outcome.fragments, outcome.artifacts, outcome.source
        )
    });
    let write = Write {
        target: &settings.branch,
        expected: Expected::At(tip),
        parent: Some(tip),
        root,
        paths: paths
            .iter()
            .cloned()
            .chain(written_pages(settings, &rendered))
            .collect(),
        message,
        log: "catalogue: consolidate",
        lease: false,
        skip_unchanged: false,
    };
    let step = commit_step(repo, sink, write, || {
        write_outputs(repo, settings, &paths, &rendered)
    })?;
    Ok(match step {
        Step::Lost(loss) => Step::Lost(loss),
        Step::Done(committed) => {
            outcome.warnings.extend(committed.warning);
            outcome.commit = committed.commit;
            outcome.tip = committed.commit.unwrap_or(tip);
            Step::Done(outcome)
        }
    })
}

/// The paths of the pages written or removed.
fn written_pages<'r>(
    settings: &'r Settings,
    rendered: &'r Rendered<'_>,
) -> impl Iterator<Item = String> + 'r {
    rendered
        .page_parts()
        .into_iter()
        .filter(|p| p.1.is_some())
        .map(|p| settings.page_path(p.0))
        .chain(rendered.removed_pages.iter().map(|f| settings.page_path(f)))
}

/// Write the pages that changed, and remove those no longer made (a null id
/// drops the entry, and a folder left empty, from the tree).
fn page_changes(
    repo: &Repository,
    settings: &Settings,
    rendered: &Rendered<'_>,
) -> Result<Vec<TreeChange>> {
    let mut changes = Vec::new();
    for (file, bytes) in rendered.page_parts() {
        if let Some(bytes) = bytes {
            let path = settings.page_path(file);
            let id = store::write_pieces(repo, &[bytes], &path)?;
            changes.push(TreeChange {
                path,
                kind: EntryKind::Blob,
                id,
            });
        }
    }
    for file in &rendered.removed_pages {
        changes.push(TreeChange {
            path: settings.page_path(file),
            kind: EntryKind::Blob,
            id: ObjectId::null(repo.object_hash()),
        });
    }
    Ok(changes)
}

/// The warning for a manifest past the warning size, if it is.
fn size_warning(settings: &Settings, size: u64, limits: &ManifestLimits) -> Option<String> {
    (size > limits.warn).then(|| {
        format!(
            "`{}` is {} ({}), above the warning size of {} ({}, git config {MANIFEST_WARN_SIZE_KEY}): \
             forges warn at 50 MiB and refuse a file over 100 MiB, and consolidate refuses one \
             over {} (git config {MANIFEST_MAX_SIZE_KEY}); split the catalogue or prune fragments \
             before then",
            settings.manifest_path(),
            bytes(size),
            mib(size),
            bytes(limits.warn),
            mib(limits.warn),
            bytes(limits.max),
        )
    })
}

/// The refusal of a manifest over the limit, naming the figure and the limit.
fn too_large_error(
    settings: &Settings,
    tip: ObjectId,
    size: u64,
    limits: &ManifestLimits,
) -> Error {
    let manifest = settings.manifest_path();
    Error::new(
        ErrorKind::ManifestTooLarge,
        format!(
            "`{manifest}` built on commit {tip} would be {} ({}), above the limit of {} ({}, \
             git config {MANIFEST_MAX_SIZE_KEY}): a forge would refuse the push, so nothing was written",
            bytes(size),
            mib(size),
            bytes(limits.max),
            mib(limits.max),
        ),
    )
    .path(manifest)
    .commit(tip)
    .hint(Hint::ManifestSize)
}

/// `12345 bytes`.
fn bytes(n: u64) -> String {
    format!("{n} bytes")
}

/// `11.8 MiB` (or KiB below one MiB), to one decimal, as forges state
/// their limits.
fn mib(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n => format!("{:.1} KiB", n as f64 / 1024.0),
    }
}

/// Write the outputs on both cores: the manifest here, `index.md` and the
/// pages on a second thread. At 100,000 fragments the manifest is 62 MB and
/// the pages 26 MB, the biggest single costs left after the reads. Signals
/// are held before the second thread starts, so it inherits the mask: no
/// thread can take a SIGINT and exit in the middle of a write (see
/// `crate::git::signals`); a signal is delivered after both.
fn write_outputs(
    repo: &Repository,
    settings: &Settings,
    paths: &[String; 2],
    rendered: &Rendered<'_>,
) -> Result<Vec<TreeChange>> {
    let held = signals::Held::new();
    let (manifest_id, index_and_pages) = std::thread::scope(|scope| {
        let other = repo.clone();
        let index_and_pages = scope.spawn(|| {
            let other = other;
            let index = store::write_pieces(&other, &pieces(&rendered.index), &paths[1])?;
            Ok((index, page_changes(&other, settings, rendered)?))
        });
        let manifest = store::write_pieces(repo, &rendered.manifest_parts(), &paths[0]);
        let index_and_pages = index_and_pages.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Git,
                "the thread writing index.md and the pages failed",
            ))
        });
        (manifest, index_and_pages)
    });
    drop(held);
    // The manifest's failure first, as when it was written alone.
    let manifest_id = manifest_id?;
    let (index_id, pages) = index_and_pages?;
    let mut changes = vec![
        TreeChange {
            path: paths[0].clone(),
            kind: EntryKind::Blob,
            id: manifest_id,
        },
        TreeChange {
            path: paths[1].clone(),
            kind: EntryKind::Blob,
            id: index_id,
        },
    ];
    changes.extend(pages);
    Ok(changes)
}
