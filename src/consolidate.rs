//! `consolidate`: rebuild `manifest.json` and `index.md` from the branch tip's
//! fragments, commit them on the tip, and move the branch by compare-and-swap.
//!
//! Each attempt re-reads the tip, so when another writer wins the race the
//! retry rebuilds on the winner's commit: their fragments are read and land in
//! the manifest, and nothing they wrote is overwritten.

use std::collections::BTreeSet;

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use crate::{
    error::{Error, ErrorKind, Result},
    fragment::FragmentKey,
    index,
    manifest::{DuplicatePath, Manifest},
    publish::{self, Expected, Sink, Step},
    render::{self, NotSpliced, Old, Rope, Writer},
    settings::Settings,
    store::{self, TreeChange},
    worktree,
};

/// The catalogue a tree's fragments make, rendered.
#[derive(Debug)]
pub struct Built {
    /// The consolidated catalogue.
    pub manifest: Manifest,
    /// `manifest.json` bytes.
    pub manifest_json: Vec<u8>,
    /// `index.md` bytes.
    pub index_md: Vec<u8>,
    /// Entries of the fragments folder that were skipped, one sentence each.
    pub warnings: Vec<String>,
}

/// Read every fragment of `root` and render manifest and index. Fails on the
/// first invalid fragment or duplicate path, naming it.
pub fn build(repo: &Repository, root: ObjectId, settings: &Settings) -> Result<Built> {
    let read = store::read_fragments(repo, root, &settings.dir)?;
    let manifest =
        Manifest::build(read.fragments, &read.source.to_string()).map_err(duplicate_error)?;
    Ok(render(manifest, settings, read.warnings))
}

/// Render a built manifest's two files.
pub fn render(manifest: Manifest, settings: &Settings, warnings: Vec<String>) -> Built {
    let manifest_json = manifest.to_json();
    let index_md = index::render(&manifest, &settings.dir).into_bytes();
    Built {
        manifest,
        manifest_json,
        index_md,
        warnings,
    }
}

/// The one way a path claimed twice is reported: the path and both fragments.
pub fn duplicate_error(dup: DuplicatePath) -> Error {
    let mut err = Error::new(ErrorKind::DuplicatePath, dup.to_string()).with("path", &dup.path);
    err.details.insert(
        "fragments".to_owned(),
        serde_json::json!([dup.first.as_str(), dup.second.as_str()]),
    );
    err
}

/// Which of manifest and index in `root` differ from `built` (missing ones
/// included); empty when the catalogue is current.
pub fn stale_paths(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    manifest_json: &[u8],
    index_md: &[u8],
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (path, bytes) in [
        (settings.manifest_path(), manifest_json),
        (settings.index_path(), index_md),
    ] {
        if !store::holds(repo, root, &path, &[bytes])? {
            stale.push(path);
        }
    }
    Ok(stale)
}

/// The two files a tree's fragments make, and how they were made.
#[derive(Debug)]
pub struct Rendered<'a> {
    /// `manifest.json`, in pieces (see [`render::Rope`]).
    pub manifest: Rope<'a>,
    /// `index.md`, in pieces.
    pub index: Rope<'a>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed.
    pub artifacts: usize,
    /// The fragments tree they were built from.
    pub source: ObjectId,
    /// Skipped entries of the fragments folder.
    pub warnings: Vec<String>,
    /// Whether only the changed fragments were read.
    pub incremental: bool,
    /// Why a full rebuild was done instead, when one could have been tried.
    pub note: Option<String>,
}

/// Render manifest and index for `root` and hand them to `then`:
/// incrementally from the tip's previous outputs when they name their
/// `source` and it can be diffed, else by reading every fragment. The
/// incremental outputs borrow the previous ones, which live only for the
/// call. `fetch` is handed the blobs about to be read, so a blobless clone
/// can fetch the missing ones in one request.
pub fn render_tree<T>(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    full: bool,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
    then: impl FnOnce(Rendered<'_>) -> Result<T>,
) -> Result<T> {
    let note = if full {
        None
    } else {
        match since_manifest(repo, root, settings, true, fetch)? {
            Err(why) => Some(why),
            Ok(since) => match incremental(repo, settings, &since, fetch)? {
                Ok(rendered) => return then(rendered),
                Err(why) => Some(why),
            },
        }
    };
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?.into_valid()?;
    let mut blobs = listing.blobs;
    // Natural key order is the manifest's: each fragment is rendered as it
    // arrives, and dropped.
    blobs.sort_by_cached_key(|b| crate::manifest::natural_key(b.key.as_str()));
    let ids: Vec<ObjectId> = blobs.iter().map(|b| b.id).collect();
    fetch(&ids)?;
    let source = listing.source.to_string();
    let mut writer = Writer::new(&source, Some(&settings.dir), true);
    // Fragments list one to three artifacts; two each is a fair guess.
    writer.reserve_claims(2 * blobs.len());
    let mut duplicate = None;
    store::map_fragments(
        repo,
        &blobs,
        256,
        |fragments| {
            let mut batch = Writer::batch(Some(&settings.dir));
            for fragment in &fragments {
                // A batch records its paths; `absorb` checks them.
                let _ = batch.push(fragment);
            }
            batch
        },
        |batch| {
            // After a path claimed twice, the rest is still read: an invalid
            // fragment anywhere is reported first, as `check` does, whichever
            // batch it falls in.
            if duplicate.is_none() {
                if let Err(dup) = writer.absorb(batch) {
                    duplicate = Some(dup);
                }
            }
            Ok(())
        },
    )?;
    if let Some(dup) = duplicate {
        return Err(duplicate_error(dup));
    }
    let out = writer.finish_rope();
    then(Rendered {
        manifest: out.manifest,
        index: out.index,
        fragments: out.fragments,
        artifacts: out.artifacts,
        source: listing.source,
        warnings: listing.warnings,
        incremental: false,
        note,
    })
}

/// The previous outputs of a tree, and how its fragments folder changed
/// since the manifest's `source`.
pub struct Since {
    /// `manifest.json`.
    pub manifest: Vec<u8>,
    /// `index.md`, when asked for.
    pub index: Option<Vec<u8>>,
    /// The fragments tree now.
    pub source: ObjectId,
    /// The change from the manifest's `source` to [`Since::source`].
    pub diff: store::FolderDiff,
}

/// Read the manifest of `root` (and its index with `with_index`) and diff
/// the fragments tree it names as its `source` against the current one.
/// `Ok(Err(why))` when that cannot be done: no manifest, not laid out as
/// git-catalogue writes it, or its source tree is not in this repository.
pub fn since_manifest(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    with_index: bool,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
) -> Result<std::result::Result<Since, String>> {
    let (manifest_path, index_path) = (settings.manifest_path(), settings.index_path());
    let folder = settings.fragments_dir();
    let blob_at = |path: &str| -> Result<Option<ObjectId>> {
        Ok(store::entry_at(repo, root, path)?
            .filter(|e| e.kind == EntryKind::Blob)
            .map(|e| e.id))
    };
    let Some(manifest_id) = blob_at(&manifest_path)? else {
        return Ok(Err(format!("there is no `{manifest_path}` to build on")));
    };
    let index_id = match with_index {
        false => None,
        true => match blob_at(&index_path)? {
            Some(id) => Some(id),
            None => return Ok(Err(format!("there is no `{index_path}` to build on"))),
        },
    };
    let source = match store::entry_at(repo, root, &folder)? {
        None => store::empty_tree(repo),
        Some(e) if e.kind == EntryKind::Tree => e.id,
        // Not a folder: reading in full reports it.
        Some(_) => return Ok(Err(format!("`{folder}` is not a folder"))),
    };
    let wanted: Vec<ObjectId> = std::iter::once(manifest_id).chain(index_id).collect();
    fetch(&wanted)?;
    // Without the delta-base cache: it would keep the base of each of these
    // two large blobs (the previous versions, 60 MB at 100,000 fragments)
    // for reuse that never comes.
    let mut uncached = repo.clone();
    uncached.objects.unset_pack_cache();
    let manifest = store::read_blob(&uncached, manifest_id, &manifest_path)?;
    let index = match index_id {
        Some(id) => Some(store::read_blob(&uncached, id, &index_path)?),
        None => None,
    };
    drop(uncached);
    // Only the source line is needed here; the caller cuts the rest.
    let Some(old_source) = source_of(&manifest) else {
        return Ok(Err(format!(
            "`{manifest_path}` is not laid out as git-catalogue writes it"
        )));
    };
    if old_source != store::empty_tree(repo) {
        // A shallow clone lacks it when the manifest is older than the tip
        // commit; a partial (blobless) one can fetch that one tree.
        if !repo.has_object(old_source)
            && (fetch(&[old_source]).is_err() || !repo.has_object(old_source))
        {
            return Ok(Err(format!(
                "the manifest's source tree {old_source} is not in this repository (a shallow clone?)"
            )));
        }
        // A hand-edited `source` may name any object: only a tree can be
        // diffed, anything else means rebuilding in full.
        if !repo
            .find_header(old_source)
            .is_ok_and(|header| header.kind() == gix::object::Kind::Tree)
        {
            return Ok(Err(format!(
                "the manifest's source {old_source} is not a tree"
            )));
        }
    }
    let diff = store::diff_folder(repo, old_source, source, &folder)?;
    if !diff.problems.is_empty() {
        return Ok(Err(format!(
            "`{folder}` holds entries that are not fragments"
        )));
    }
    Ok(Ok(Since {
        manifest,
        index,
        source,
        diff,
    }))
}

/// The `source` a manifest names on its third line, as git-catalogue writes it.
fn source_of(manifest: &[u8]) -> Option<ObjectId> {
    let line = manifest.split(|b| *b == b'\n').nth(2)?;
    let hex = line
        .strip_prefix(b"  \"source\": \"")?
        .strip_suffix(b"\",")?;
    ObjectId::from_hex(hex).ok()
}

/// The incremental path, on what [`since_manifest`] read: `Ok(Err(why))`
/// when it does not apply.
fn incremental<'a>(
    repo: &Repository,
    settings: &Settings,
    since: &'a Since,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
) -> Result<std::result::Result<Rendered<'a>, String>> {
    let Some(old) = Old::cut(&since.manifest, since.index.as_deref()) else {
        return Ok(Err(format!(
            "`{}` or `{}` is not laid out as git-catalogue writes them",
            settings.manifest_path(),
            settings.index_path()
        )));
    };
    if !old.index_matches(&settings.dir) {
        return Ok(Err(format!(
            "`{}` was not written with `{}` (its source, counts or text around the table differ)",
            settings.index_path(),
            settings.manifest_path()
        )));
    }
    let diff = &since.diff;
    // In natural key order, as a full build reads them: the first invalid
    // fragment reported is the same either way.
    let mut upserts: Vec<&store::FragmentBlob> = diff.upserts.iter().collect();
    upserts.sort_by_cached_key(|b| crate::manifest::natural_key(b.key.as_str()));
    let ids: Vec<ObjectId> = upserts.iter().map(|b| b.id).collect();
    fetch(&ids)?;
    let changed = upserts
        .iter()
        .map(|b| store::read_fragment(repo, b))
        .collect::<Result<Vec<_>>>()?;
    let removed: BTreeSet<&str> = diff.removed.iter().map(FragmentKey::as_str).collect();
    match render::splice(
        &old,
        &removed,
        changed,
        &since.source.to_string(),
        &settings.dir,
    ) {
        Ok(spliced) => Ok(Ok(Rendered {
            manifest: spliced.manifest,
            index: spliced.index,
            fragments: spliced.fragments,
            artifacts: spliced.artifacts,
            source: since.source,
            warnings: diff.warnings.clone(),
            incremental: true,
            note: None,
        })),
        // Refused either way; a full build names the same fragments as
        // `check` does (the first claimant may be an unchanged one).
        Err(NotSpliced::Duplicate(dup)) => Ok(Err(format!(
            "`{}` is claimed twice among the changed fragments",
            dup.path.escape_debug()
        ))),
        Err(NotSpliced::MayClaimTwice(path)) => Ok(Err(format!(
            "`{}` may already be claimed by an unchanged fragment",
            path.escape_debug()
        ))),
    }
}

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
    /// Where the result goes: the local branch, or a remote's by push.
    pub sink: Sink,
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
    /// Skipped entries of the fragments folder.
    pub warnings: Vec<String>,
}

/// Bring the branch's manifest and index up to date.
pub fn consolidate(repo: &Repository, settings: &Settings, opts: &Options) -> Result<Outcome> {
    let branch = &settings.branch;
    let fetch = |ids: &[ObjectId]| opts.sink.fetch_missing(repo, ids);
    let published = publish::with_retries(opts.retries, branch, |_| {
        let tip = opts.sink.read(repo, &[branch])?[0].ok_or_else(|| {
            let whose = match opts.sink.remote_name() {
                Some(remote) => format!(" on remote `{remote}`"),
                None => String::new(),
            };
            Error::new(
                ErrorKind::NotFound,
                format!("branch {branch} does not exist{whose}; record a fragment first or pass --branch"),
            )
            .with("ref", branch)
        })?;
        let root = store::commit_tree(repo, tip)?;
        render_tree(repo, root, settings, opts.full, &fetch, |rendered| {
            attempt(repo, settings, opts, tip, root, rendered)
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
    opts: &Options,
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
    };
    let paths = [settings.manifest_path(), settings.index_path()];
    let mut current = true;
    for (path, rope) in paths.iter().zip([&rendered.manifest, &rendered.index]) {
        current &= store::holds(repo, root, path, &pieces(rope))?;
    }
    if current {
        return Ok(Step::Done(outcome));
    }
    outcome.changed = true;
    if opts.dry_run {
        return Ok(Step::Done(outcome));
    }
    let checkout = match opts.sink {
        Sink::Local => worktree::checkout_of(repo, &settings.branch)?,
        Sink::Remote(_) => None,
    };
    if let Some(c) = &checkout {
        c.ensure_clean(&paths)?;
    }
    store::check_placement(repo, root, &[&paths[0], &paths[1]])?;
    // The two blobs are hashed and compressed at once, one per core: at
    // 100,000 fragments they are 58 MB, the biggest single cost left.
    // Signals are held before the second thread starts, so it inherits the
    // mask: no thread can take a SIGINT and exit in the middle of either
    // write (see `crate::signals`); a signal is delivered after both.
    let held = crate::signals::Held::new();
    let (manifest_id, index_id) = std::thread::scope(|scope| {
        let other = repo.clone();
        let index = scope.spawn(|| {
            let other = other;
            store::write_pieces(&other, &pieces(&rendered.index), &paths[1])
        });
        let manifest = store::write_pieces(repo, &pieces(&rendered.manifest), &paths[0]);
        let index = index.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Git,
                "the thread writing index.md failed",
            ))
        });
        (manifest, index)
    });
    drop(held);
    let changes = vec![
        TreeChange {
            path: paths[0].clone(),
            kind: EntryKind::Blob,
            id: manifest_id?,
        },
        TreeChange {
            path: paths[1].clone(),
            kind: EntryKind::Blob,
            id: index_id?,
        },
    ];
    let tree = store::write_tree(repo, root, &changes)?;
    let message = opts.message.clone().unwrap_or_else(|| {
        format!(
            "catalogue: consolidate {} fragment(s), {} artifact(s)\n\nsource: {}\n",
            outcome.fragments, outcome.artifacts, outcome.source
        )
    });
    let commit = store::write_commit(repo, tree, &[tip], &message)?;
    let log = "catalogue: consolidate";
    let cas = opts.sink.swap(
        repo,
        &settings.branch,
        Expected::At(tip),
        commit,
        log,
        false,
    )?;
    cas.step(|| {
        if let Some(warning) = checkout.as_ref().and_then(|c| c.follow(tip, commit)) {
            outcome.warnings.push(warning);
        }
        outcome.commit = Some(commit);
        outcome.tip = commit;
        Ok(outcome)
    })
}

fn pieces<'r>(rope: &'r Rope<'_>) -> Vec<&'r [u8]> {
    rope.iter().map(|p| p.as_ref()).collect()
}
