//! History: `verify --history` and `repair`.
//!
//! Teams arrive with months of the old racing design in their history, where
//! concurrent runs overwrote `manifest.json` and lost each other's entries.
//! This module reads git — the first-parent walk for `verify --history`, every
//! manifest version reachable from the tip for `repair` — and hands the
//! deciding to the pure [`classify`] module. `repair` then writes the
//! recovered entries as recovery fragments through the same compare-and-swap
//! path as `record --direct`, and consolidates.

pub mod classify;
pub use crate::core::versions;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use gix::{objs::tree::EntryKind, ObjectId, Repository};
use serde_json::{json, Map, Value};

use crate::catalogue;
use crate::consolidate;
use crate::core::fragment::Fragment;
use crate::core::key::FragmentKey;
use crate::core::path::validate_path;
use crate::error::{Error, ErrorKind, Result};
use crate::git::remote::Remote;
use crate::git::store::{self, TreeChange};
use crate::inspect;
use crate::publish::{self, commit_step, Expected, Sink, Step, Write};
use crate::settings::{ManifestLimits, Settings};

use classify::{Class, Entries, Node, Version};

/// How far a long walk has come, for the binary to show: `tick` is called
/// for every commit or object read, `done` once at the end.
pub trait Progress {
    /// `n` items of `stage` ("verify", "reading history", …) are done.
    fn tick(&mut self, stage: &str, n: usize);
    /// The walk is over.
    fn done(&mut self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn tick(&mut self, _stage: &str, _n: usize) {}
    fn done(&mut self) {}
}

fn branch_tip(repo: &Repository, settings: &Settings) -> Result<ObjectId> {
    store::ref_target(repo, &settings.branch)?
        .ok_or_else(|| Error::missing_branch(&settings.branch, None))
}

fn walk_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Git, format!("could not walk the history: {e}"))
}

/// One problem `verify --history` found.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The commit.
    pub commit: ObjectId,
    /// What is wrong: [`ErrorKind::Stale`], [`ErrorKind::InvalidManifest`],
    /// [`ErrorKind::InvalidFragment`], …
    pub kind: ErrorKind,
    /// One sentence.
    pub message: String,
    /// The path concerned, if any.
    pub path: Option<String>,
}

/// What `verify --history` is asked to do.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// Check only the commits after this one on the first-parent line
    /// (`since..branch`): a revision, e.g. the adoption commit.
    pub since: Option<String>,
    /// Walk from this revision instead of the branch tip (the `TIP` of a
    /// `REV..TIP` range).
    pub tip: Option<String>,
}

/// What `verify --history` found.
#[derive(Debug, Default)]
pub struct Verified {
    /// The `since` commit, resolved.
    pub since: Option<ObjectId>,
    /// The shallow boundary commits the walk reached, sorted: where a
    /// shallow clone's history is cut. Empty when the walk saw it whole.
    pub boundary: Vec<ObjectId>,
    /// Commits checked.
    pub checked: usize,
    /// Commits skipped (no catalogue folder, or its tree unchanged).
    pub skipped: usize,
    /// Problems, newest commit first.
    pub problems: Vec<Problem>,
}

/// The shallow boundary, as a set (empty when the repository is whole).
fn shallow_set(repo: &Repository) -> Result<BTreeSet<ObjectId>> {
    Ok(repo
        .shallow_commits()
        .map_err(walk_error)?
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default())
}

/// Every commit reachable from `since` (itself included): the commits
/// `since..tip` leaves out. `since` must be in the tip's history.
fn reachable_from(
    repo: &Repository,
    since: ObjectId,
    rev: &str,
    tip: ObjectId,
    walked: &str,
) -> Result<std::collections::HashSet<ObjectId>> {
    let in_history = since == tip
        || repo
            .merge_base(since, tip)
            .is_ok_and(|base| base.is_some_and(|b| b.detach() == since));
    if !in_history {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("revision `{rev}` ({since}) is not in the history of {walked}"),
        )
        .commit(since)
        .refname(walked));
    }
    let mut seen = std::collections::HashSet::new();
    for info in repo.rev_walk([since]).all().map_err(walk_error)? {
        seen.insert(info.map_err(walk_error)?.id);
    }
    Ok(seen)
}

/// Walk the branch's first-parent history (or `opts.tip`'s) and check every
/// catalogue change (after `opts.since` only, when given).
pub fn verify(
    repo: &Repository,
    settings: &Settings,
    opts: &VerifyOptions,
    progress: &mut dyn Progress,
) -> Result<Verified> {
    let (tip, walked) = match &opts.tip {
        Some(rev) => (store::resolve_commit(repo, rev)?, rev.clone()),
        None => (
            branch_tip(repo, settings)?,
            settings.branch.as_bstr().to_string(),
        ),
    };
    let mut out = Verified::default();
    let before = match &opts.since {
        Some(rev) => {
            let since = store::resolve_commit(repo, rev)?;
            out.since = Some(since);
            reachable_from(repo, since, rev, tip, &walked)?
        }
        None => Default::default(),
    };
    let shallow = shallow_set(repo)?;
    let walk = repo
        .rev_walk([tip])
        .first_parent_only()
        .all()
        .map_err(walk_error)?;
    let mut last: Option<ObjectId> = None;
    for (n, info) in walk.enumerate() {
        progress.tick("verify", n);
        let info = info.map_err(walk_error)?;
        let commit = info.id;
        if before.contains(&commit) {
            break;
        }
        if shallow.contains(&commit) {
            out.boundary.push(commit);
        }
        let root = store::commit_tree(repo, commit)?;
        let Some(dir) = store::entry_at(repo, root, &settings.dir)? else {
            out.skipped += 1;
            continue;
        };
        if last == Some(dir.id) {
            out.skipped += 1;
            continue;
        }
        last = Some(dir.id);
        out.checked += 1;
        let wrote = writes_outputs(repo, settings, root, info.parent_ids.first().copied())?;
        for (kind, message, path) in check_commit(repo, settings, root, wrote)? {
            out.problems.push(Problem {
                commit,
                kind,
                message,
                path,
            });
        }
    }
    progress.done();
    Ok(out)
}

type Found = (ErrorKind, String, Option<String>);

fn found(err: &Error) -> Found {
    (err.kind, err.message.clone(), err.offender.path.clone())
}

/// Whether a commit wrote `manifest.json` or `index.md`, relative to its
/// first parent (a root commit, or one at the shallow boundary, counts as
/// writing them).
///
/// Only such a commit claims its manifest is the consolidation of its
/// fragments. A `record` commit adds a fragment and leaves the manifest for
/// the next consolidation: that is the design working, not damage, so it is
/// not reported as stale (its fragments are still validated).
fn writes_outputs(
    repo: &Repository,
    settings: &Settings,
    root: ObjectId,
    parent: Option<ObjectId>,
) -> Result<bool> {
    let Some(parent) = parent.filter(|p| repo.has_object(p)) else {
        return Ok(true);
    };
    let parent_root = store::commit_tree(repo, parent)?;
    for path in [
        settings.manifest_path(),
        settings.index_path(),
        settings.pages_dir(),
    ] {
        let ours = store::entry_at(repo, root, &path)?.map(|e| e.id);
        let theirs = store::entry_at(repo, parent_root, &path)?.map(|e| e.id);
        if ours != theirs {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The problems of one commit's catalogue: its fragments always; its
/// manifest and index only when the commit wrote them (`judge_outputs`).
///
/// The fragments are streamed through the renderer as `check` streams them
/// ([`inspect::render_fragments`]): nothing holds them all, nor the
/// outputs.
fn check_commit(
    repo: &Repository,
    settings: &Settings,
    root: ObjectId,
    judge_outputs: bool,
) -> Result<Vec<Found>> {
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?;
    let mut problems: Vec<Found> = listing.problems.iter().map(found).collect();
    let manifest_path = settings.manifest_path();
    let source = listing.source.to_string();
    // Pages only where the outputs are judged: elsewhere the fragments are
    // checked, and the manifest rendered only to compare it.
    let layout = inspect::Layout {
        source: &source,
        dir: judge_outputs.then_some(settings.dir.as_str()),
        issue_url: settings.issue_url.as_deref(),
        earlier: false,
    };
    let streamed = inspect::render_fragments(repo, listing.blobs, &layout)?;
    let mut unreadable = streamed.invalid;
    for (at, e) in streamed.failed {
        // A missing or unreadable blob is this commit's problem too; only
        // git itself failing stops the walk.
        if e.kind == ErrorKind::Git {
            return Err(e);
        }
        unreadable.push((at, e));
    }
    unreadable.sort_by_key(|(at, _)| *at);
    problems.extend(unreadable.iter().map(|(_, e)| found(e)));
    let (out, spilled) = (streamed.out, streamed.spilled);
    // The manifest must at least be JSON. One that is what the fragments
    // render (now or before the `$schema` line) is; any other is read and
    // parsed, once the renderer's memory is freed.
    let manifest = spilled.manifest(&out.manifest);
    let manifest_current = store::holds(repo, root, &manifest_path, &manifest)?
        || catalogue::holds_without_schema_line(repo, root, &manifest_path, &manifest)?;
    drop(manifest);
    if !manifest_current {
        if let Some(e) = store::entry_at(repo, root, &manifest_path)? {
            give_back_freed_memory();
            if let Some(problem) = manifest_problem(repo, e.id, &manifest_path)? {
                problems.push(problem);
                return Ok(problems);
            }
        }
    }
    if !problems.is_empty() {
        return Ok(problems);
    }
    if let Some(dup) = streamed.first_duplicate {
        problems.push(found(&catalogue::duplicate_error(dup)));
        return Ok(problems);
    }
    if !judge_outputs {
        return Ok(problems);
    }
    let mut stale = Vec::new();
    if !manifest_current {
        stale.push(manifest_path);
    }
    let index = settings.index_path();
    if !store::holds(repo, root, &index, &catalogue::pieces(&out.index))? {
        stale.push(index.clone());
    }
    let pages = spilled.made_pages(&out.pages);
    stale.extend(catalogue::stale_pages(repo, root, settings, &pages)?);
    drop((out, spilled));
    give_back_freed_memory();
    // An index in the layout before the pages (one table, no `<dir>/index/`
    // folder) is judged by that layout: the fragments are read once more,
    // only for such a commit.
    let pages_dir = format!("{}/", settings.pages_dir());
    if stale.contains(&index)
        && store::entry_at(repo, root, &settings.pages_dir())?.is_none()
        && store::entry_at(repo, root, &index)?.is_some()
    {
        let blobs = store::list_fragment_blobs(repo, root, &settings.dir)?.blobs;
        let earlier = inspect::render_fragments(
            repo,
            blobs,
            &inspect::Layout {
                earlier: true,
                ..layout
            },
        )?;
        if store::holds(repo, root, &index, &catalogue::pieces(&earlier.out.index))? {
            // The earlier layout has no pages: none is missing.
            stale.retain(|p| *p != index && !p.starts_with(&pages_dir));
        }
    }
    for path in stale {
        problems.push((
            ErrorKind::Stale,
            format!("`{path}` does not equal the consolidation of the fragments"),
            Some(path),
        ));
    }
    Ok(problems)
}

/// Hand the memory freed so far back to the system (glibc keeps freed heap
/// for reuse). The walk renders one commit after another, and a 62 MB
/// manifest read for its JSON check before each: without this, what one
/// commit freed stays resident under the next one's peak.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's own
    // arenas to the kernel; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Why the manifest blob `id` is no manifest at all: over the bound
/// (judged by its header), or not JSON.
fn manifest_problem(repo: &Repository, id: ObjectId, path: &str) -> Result<Option<Found>> {
    // Read without the pack cache: a manifest stored as a delta would leave
    // its base (as large as the manifest) cached under the fragments' read.
    let mut repo = repo.clone();
    repo.objects.unset_pack_cache();
    let repo = &repo;
    let limit = store::MAX_OUTPUT_BYTES;
    let Some(bytes) = store::read_blob_at_most(repo, id, path, limit)? else {
        let size = store::blob_size(repo, id, path)?;
        return Ok(Some((
            ErrorKind::InvalidManifest,
            too_large(path, id, size),
            Some(path.to_owned()),
        )));
    };
    Ok(json_error(&bytes).map(|err| {
        (
            ErrorKind::InvalidManifest,
            format!("`{path}` (blob {id}) is not valid JSON: {err}"),
            Some(path.to_owned()),
        )
    }))
}

/// Why `bytes` are not one JSON value, as `serde_json::from_slice::<Value>`
/// would say, without building the value: its recursion limit holds, since
/// every array and object is entered through `deserialize_any`.
fn json_error(bytes: &[u8]) -> Option<serde_json::Error> {
    struct Valid;
    struct Visit;
    impl<'de> serde::de::Visitor<'de> for Visit {
        type Value = Valid;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_i64<E>(self, _: i64) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_str<E>(self, _: &str) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_unit<E>(self) -> std::result::Result<Valid, E> {
            Ok(Valid)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Valid, A::Error> {
            while seq.next_element::<Valid>()?.is_some() {}
            Ok(Valid)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Valid, A::Error> {
            while map.next_key::<Valid>()?.is_some() {
                map.next_value::<Valid>()?;
            }
            Ok(Valid)
        }
    }
    impl<'de> serde::Deserialize<'de> for Valid {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Valid, D::Error> {
            d.deserialize_any(Visit)
        }
    }
    serde_json::from_slice::<Valid>(bytes).err()
}

/// An invalid manifest version.
#[derive(Debug, Clone)]
pub struct InvalidVersion {
    /// A commit holding it.
    pub commit: ObjectId,
    /// The blob.
    pub blob: ObjectId,
    /// The parse error.
    pub message: String,
}

/// One classified path.
#[derive(Debug, Clone)]
pub struct EntryReport {
    /// The artifact path.
    pub path: String,
    /// Its issue, as written.
    pub issue: Option<Value>,
    /// Its class.
    pub class: Class,
    /// The commit that last had it.
    pub last_seen: Option<ObjectId>,
    /// The commit that dropped it.
    pub dropped_by: Option<ObjectId>,
}

/// What `repair` did.
#[derive(Debug, Default)]
pub struct Repaired {
    /// The shallow boundary commits the history reached, sorted: where a
    /// shallow clone's history is cut. Empty when the history is whole.
    pub boundary: Vec<ObjectId>,
    /// Distinct manifest blobs read.
    pub versions: usize,
    /// Versions that are not valid JSON.
    pub invalid_versions: Vec<InvalidVersion>,
    /// Every path ever present, sorted.
    pub entries: Vec<EntryReport>,
    /// Recovered paths, sorted.
    pub recovered: Vec<String>,
    /// Recovery fragments: key and artifact count.
    pub fragments: Vec<(String, usize)>,
    /// The recovery commit.
    pub commit: Option<ObjectId>,
    /// The consolidation commit.
    pub consolidated: Option<ObjectId>,
    /// Attempts of the recovery write.
    pub attempts: u32,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// What `repair` is asked to do.
#[derive(Debug)]
pub struct RepairOptions {
    /// Write nothing.
    pub dry_run: bool,
    /// Recover deliberate deletions too.
    pub include_deleted: bool,
    /// Retry budget.
    pub retries: u32,
    /// Commit message override.
    pub message: Option<String>,
    /// The manifest sizes its consolidation warns and refuses above.
    pub limits: ManifestLimits,
}

/// The verdict on one path, with its entry as last seen (or at the tip).
struct Judged {
    class: Class,
    last_seen: Option<usize>,
    dropped_by: Option<usize>,
    entry: Map<String, Value>,
}

/// Everything read from history, classified, for one tip.
struct Analysis {
    boundary: Vec<ObjectId>,
    versions: usize,
    invalid: Vec<InvalidVersion>,
    ids: Vec<ObjectId>,
    verdicts: BTreeMap<String, Judged>,
    tip_keys: BTreeSet<String>,
    tip_fragments: BTreeMap<String, Fragment>,
}

/// The commits reachable from a tip, parents before children.
struct Graph {
    ids: Vec<ObjectId>,
    /// Each commit's root tree.
    trees: Vec<ObjectId>,
    /// The indices of each commit's parents (those in the repository: a
    /// shallow clone's boundary commits have none).
    parents: Vec<Vec<usize>>,
    index: HashMap<ObjectId, usize>,
    /// The shallow boundary commits reached: where the history is cut.
    boundary: Vec<ObjectId>,
}

/// Every commit reachable from `tip`, each decoded once.
fn commit_graph(repo: &Repository, tip: ObjectId, progress: &mut dyn Progress) -> Result<Graph> {
    let shallow = shallow_set(repo)?;
    let mut read: HashMap<ObjectId, (ObjectId, Vec<ObjectId>)> = HashMap::new();
    let mut boundary = Vec::new();
    let mut todo = vec![tip];
    while let Some(id) = todo.pop() {
        if read.contains_key(&id) {
            continue;
        }
        progress.tick("reading history", read.len());
        let commit = repo
            .find_commit(id)
            .map_err(|e| Error::git(format!("could not read commit {id}"), &e).commit(id))?;
        let tree = commit
            .tree_id()
            .map_err(|e| Error::git(format!("could not read commit {id}"), &e).commit(id))?;
        let parents: Vec<ObjectId> = if shallow.contains(&id) {
            boundary.push(id);
            Vec::new()
        } else {
            commit.parent_ids().map(|p| p.detach()).collect()
        };
        todo.extend(parents.iter().rev().copied());
        read.insert(id, (tree.detach(), parents));
    }
    // Topological order, parents first (iterative post-order).
    let mut index: HashMap<ObjectId, usize> = HashMap::with_capacity(read.len());
    let mut ids: Vec<ObjectId> = Vec::with_capacity(read.len());
    let mut stack: Vec<(ObjectId, bool)> = vec![(tip, false)];
    while let Some((id, expanded)) = stack.pop() {
        if index.contains_key(&id) {
            continue;
        }
        if expanded {
            index.insert(id, ids.len());
            ids.push(id);
            continue;
        }
        stack.push((id, true));
        for p in read
            .get(&id)
            .map(|r| r.1.as_slice())
            .unwrap_or(&[])
            .iter()
            .rev()
        {
            if !index.contains_key(p) {
                stack.push((*p, false));
            }
        }
    }
    let trees = ids.iter().map(|id| read[id].0).collect();
    let parents = ids
        .iter()
        .map(|id| {
            read[id]
                .1
                .iter()
                .filter_map(|p| index.get(p).copied())
                .collect()
        })
        .collect();
    boundary.sort();
    Ok(Graph {
        ids,
        trees,
        parents,
        index,
        boundary,
    })
}

/// Why a manifest version was not read: its header says it is over the bound.
fn too_large(path: &str, blob: ObjectId, size: u64) -> String {
    format!(
        "`{path}` (blob {blob}) is {size} bytes, larger than the limit of {} bytes; it was not read",
        store::MAX_OUTPUT_BYTES
    )
}

/// A version's bytes and layout, kept while a later version still reads
/// against them.
struct Base {
    bytes: Vec<u8>,
    layout: versions::Layout,
    uses: usize,
}

fn analyse(
    repo: &Repository,
    settings: &Settings,
    tip: ObjectId,
    progress: &mut dyn Progress,
) -> Result<Analysis> {
    let Graph {
        ids,
        trees,
        parents,
        index,
        boundary,
    } = commit_graph(repo, tip, progress)?;
    // Each commit's manifest blob (None: no manifest, the empty set) and
    // fragments tree (what a consolidation names as its `source`). Most
    // commits leave the catalogue folder alone: its tree is looked into once.
    let manifest_path = settings.manifest_path();
    let empty_tree = store::empty_tree(repo);
    let mut in_folder: HashMap<ObjectId, (Option<ObjectId>, ObjectId)> = HashMap::new();
    let mut blobs: Vec<Option<ObjectId>> = Vec::with_capacity(ids.len());
    let mut fragment_trees: Vec<ObjectId> = Vec::with_capacity(ids.len());
    for (n, root) in trees.iter().enumerate() {
        progress.tick("reading trees", n);
        let (blob, fragments) = match store::entry_at(repo, *root, &settings.dir)? {
            Some(dir) if dir.kind == EntryKind::Tree => match in_folder.get(&dir.id) {
                Some(seen) => *seen,
                None => {
                    let blob = match store::entry_at(repo, dir.id, crate::settings::MANIFEST_FILE)?
                    {
                        Some(e)
                            if matches!(e.kind, EntryKind::Blob | EntryKind::BlobExecutable) =>
                        {
                            Some(e.id)
                        }
                        _ => None,
                    };
                    let fragments = match store::entry_at(repo, dir.id, "fragments")? {
                        Some(e) if e.kind == EntryKind::Tree => e.id,
                        _ => empty_tree,
                    };
                    in_folder.insert(dir.id, (blob, fragments));
                    (blob, fragments)
                }
            },
            _ => (None, empty_tree),
        };
        blobs.push(blob);
        fragment_trees.push(fragments);
    }
    // A new version is read against its first parent's version: count how
    // often each version serves as that base, to free it after its last use.
    let base_of = |i: usize| -> Option<ObjectId> { parents[i].first().and_then(|&p| blobs[p]) };
    let mut uses: HashMap<ObjectId, usize> = HashMap::new();
    let mut order: Vec<ObjectId> = Vec::new();
    {
        let mut seen: BTreeSet<ObjectId> = BTreeSet::new();
        for (i, blob) in blobs.iter().enumerate() {
            if let Some(b) = blob {
                if seen.insert(*b) {
                    order.push(*b);
                    if let Some(base) = base_of(i).filter(|base| base != b) {
                        *uses.entry(base).or_default() += 1;
                    }
                }
            }
        }
    }
    // Read each distinct manifest blob once. A second thread inflates the
    // blobs, in the order they are needed, while this one parses them.
    let mut interner = versions::Interner::default();
    let mut by_blob: HashMap<ObjectId, Version> = HashMap::new();
    // The `source` each manifest version names, if it names one.
    let mut sources: HashMap<ObjectId, ObjectId> = HashMap::new();
    let mut bases: HashMap<ObjectId, Base> = HashMap::new();
    let mut invalid = Vec::new();
    let empty = Version::Valid(Arc::new(Entries::new()));
    let mut nodes = Vec::with_capacity(ids.len());
    let reader = repo.clone();
    std::thread::scope(|scope| -> Result<()> {
        // Each version as its bytes, or its size when over the bound (then
        // it is judged by its header and never inflated).
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<Result<std::result::Result<Vec<u8>, u64>>>(16);
        let manifest_path = &manifest_path;
        let order = &order;
        scope.spawn(move || {
            for blob in order {
                let limit = store::MAX_OUTPUT_BYTES;
                let read = match store::read_blob_at_most(&reader, *blob, manifest_path, limit) {
                    Ok(Some(bytes)) => Ok(Ok(bytes)),
                    Ok(None) => store::blob_size(&reader, *blob, manifest_path).map(Err),
                    Err(e) => Err(e),
                };
                if tx.send(read).is_err() {
                    break;
                }
            }
        });
        for (n, id) in ids.iter().enumerate() {
            progress.tick("reading manifests", n);
            let version = match blobs[n] {
                None => empty.clone(),
                Some(blob) => match by_blob.get(&blob) {
                    Some(v) => v.clone(),
                    None => 'read: {
                        let read = rx.recv().map_err(|_| {
                            Error::new(ErrorKind::Git, "the blob reader stopped early")
                        })??;
                        let bytes = match read {
                            Ok(bytes) => bytes,
                            Err(size) => {
                                // Never a base: no later version reads against it.
                                invalid.push(InvalidVersion {
                                    commit: *id,
                                    blob,
                                    message: too_large(manifest_path, blob, size),
                                });
                                if let Some(b) = base_of(n).filter(|b| *b != blob) {
                                    if let Some(base) = bases.get_mut(&b) {
                                        base.uses -= 1;
                                        if base.uses == 0 {
                                            bases.remove(&b);
                                        }
                                    }
                                }
                                by_blob.insert(blob, Version::Invalid);
                                break 'read Version::Invalid;
                            }
                        };
                        let base_id = base_of(n).filter(|b| *b != blob);
                        let base = match (base_id.and_then(|b| bases.get(&b)), base_id) {
                            (Some(base), Some(b)) => match by_blob.get(&b) {
                                Some(Version::Valid(e)) => {
                                    Some((base.bytes.as_slice(), &base.layout, e.as_ref()))
                                }
                                _ => None,
                            },
                            _ => None,
                        };
                        if let Some(source) = manifest_source(&bytes) {
                            sources.insert(blob, source);
                        }
                        let read = interner.parse(&bytes, base);
                        if let Some(b) = base_id {
                            if let Some(base) = bases.get_mut(&b) {
                                base.uses -= 1;
                                if base.uses == 0 {
                                    bases.remove(&b);
                                }
                            }
                        }
                        let v = match read {
                            Ok(read) => {
                                if let Some(&uses) = uses.get(&blob) {
                                    bases.insert(
                                        blob,
                                        Base {
                                            bytes,
                                            layout: read.layout,
                                            uses,
                                        },
                                    );
                                }
                                Version::Valid(Arc::new(read.entries))
                            }
                            Err(message) => {
                                invalid.push(InvalidVersion {
                                    commit: *id,
                                    blob,
                                    message,
                                });
                                Version::Invalid
                            }
                        };
                        by_blob.insert(blob, v.clone());
                        v
                    }
                },
            };
            // A consolidation, as git-catalogue writes one: the manifest
            // changed, and it names this commit's fragments as its source.
            let changed = blobs[n] != base_of(n);
            let consolidation =
                changed && blobs[n].and_then(|b| sources.get(&b)) == Some(&fragment_trees[n]);
            nodes.push(Node {
                parents: parents[n].clone(),
                version,
                consolidation,
            });
        }
        Ok(())
    })?;
    progress.done();
    // The tip's fragments.
    let tip_root = store::commit_tree(repo, tip)?;
    let tip_fragments = store::read_fragments(repo, tip_root, &settings.dir)?;
    let mut verdicts = BTreeMap::new();
    let mut tip_keys = BTreeSet::new();
    let by_key: BTreeMap<String, Fragment> = tip_fragments
        .fragments
        .iter()
        .map(|f| (f.key.as_str().to_owned(), f.clone()))
        .collect();
    for f in &tip_fragments.fragments {
        tip_keys.insert(f.key.as_str().to_owned());
        for a in &f.artifacts {
            if let Some(Value::String(p)) = a.get("path") {
                let mut entry = a.clone();
                if let Some(issue) = f.issue() {
                    entry.insert("issue".to_owned(), issue.clone());
                }
                verdicts.insert(
                    p.clone(),
                    Judged {
                        class: Class::Present,
                        last_seen: None,
                        dropped_by: None,
                        entry,
                    },
                );
            }
        }
    }
    let in_fragments: std::collections::HashSet<u32> = verdicts
        .keys()
        .filter_map(|p| interner.path_id(p))
        .collect();
    let tip_index = index.get(&tip).copied().unwrap_or(0);
    let mut git_error: Option<Error> = None;
    let classified = classify::classify(
        &nodes,
        tip_index,
        |p| in_fragments.contains(&p),
        |e| {
            interner
                .entry(e)
                .get("fragment")
                .is_some_and(Value::is_string)
        },
        |a, b| {
            let (ia, ib) = (ids.get(a)?, ids.get(b)?);
            match repo.merge_base(*ia, *ib) {
                Ok(base) => index.get(&base?.detach()).copied(),
                Err(e) => {
                    if git_error.is_none() {
                        git_error = Some(walk_error(e));
                    }
                    None
                }
            }
        },
    );
    if let Some(e) = git_error {
        return Err(e);
    }
    for (path, v) in classified {
        verdicts.insert(
            interner.path(path).to_owned(),
            Judged {
                class: v.class,
                last_seen: Some(v.last_seen),
                dropped_by: v.dropped_by,
                entry: interner.entry(v.entry).clone(),
            },
        );
    }
    Ok(Analysis {
        boundary,
        versions: by_blob.len(),
        invalid,
        ids,
        verdicts,
        tip_keys,
        tip_fragments: by_key,
    })
}

/// The fragments tree a manifest names as its `source` (`"source": "<hex>"`
/// at the top level), as every manifest git-catalogue writes does. Legacy
/// manifests have none; only those mentioning `"source"` are parsed for it.
fn manifest_source(bytes: &[u8]) -> Option<ObjectId> {
    #[derive(serde::Deserialize)]
    struct Top {
        source: Option<String>,
    }
    if !bytes.windows(8).any(|w| w == b"\"source\"") {
        return None;
    }
    let top: Top = serde_json::from_slice(bytes).ok()?;
    ObjectId::from_hex(top.source?.as_bytes()).ok()
}

fn short(id: ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

/// Recovery fragments by key: the issue they carry and their artifacts.
type Groups = BTreeMap<String, (Option<u64>, Vec<Map<String, Value>>)>;

/// Build the recovery fragments for the recovered verdicts.
fn recovery_fragments(
    a: &Analysis,
    tip: ObjectId,
    include_deleted: bool,
) -> (Vec<String>, Groups, Vec<String>) {
    let mut recovered = Vec::new();
    let mut warnings = Vec::new();
    let mut groups = Groups::new();
    for (path, v) in &a.verdicts {
        let wanted = match v.class {
            Class::Present => false,
            Class::Deleted => include_deleted,
            _ => true,
        };
        if !wanted {
            continue;
        }
        if let Err(e) = validate_path(path) {
            warnings.push(format!(
                "not recovering `{}` ({}): its path is invalid: {e}",
                path.escape_debug(),
                v.class.as_str()
            ));
            continue;
        }
        recovered.push(path.clone());
        let issue = classify::entry_issue(&v.entry);
        let dropped_by = v.dropped_by.and_then(|i| a.ids.get(i).copied());
        let last_seen = v.last_seen.and_then(|i| a.ids.get(i).copied());
        let key = classify::recovery_key(
            issue,
            |k| a.tip_keys.contains(k),
            &short(dropped_by.unwrap_or(tip)),
        );
        let mut artifact = v.entry.clone();
        artifact.shift_remove("fragment");
        artifact.shift_remove("issue");
        artifact.insert(
            "provenance".to_owned(),
            json!({
                "class": v.class.as_str(),
                "last_seen": last_seen.map(|c| c.to_string()),
                "dropped_by": dropped_by.map(|c| c.to_string()),
            }),
        );
        let slot = groups.entry(key).or_insert((issue, Vec::new()));
        slot.1.push(artifact);
    }
    (recovered, groups, warnings)
}

/// Classify history and write the recovery fragments on `sink`, then consolidate.
pub fn repair(
    repo: &Repository,
    settings: &Settings,
    sink: &dyn Sink,
    opts: &RepairOptions,
    progress: &mut dyn Progress,
) -> Result<Repaired> {
    let branch = &settings.branch;
    let published = publish::with_retries(opts.retries, branch, |_| {
        let tip = sink.read(repo, &[branch])?[0]
            .ok_or_else(|| Error::missing_branch(branch, sink.remote_name()))?;
        let a = analyse(repo, settings, tip, progress)?;
        let (recovered, groups, warnings) = recovery_fragments(&a, tip, opts.include_deleted);
        let mut done = Repaired {
            boundary: a.boundary.clone(),
            versions: a.versions,
            invalid_versions: a.invalid.clone(),
            entries: a
                .verdicts
                .iter()
                .map(|(path, v)| EntryReport {
                    path: path.clone(),
                    issue: v.entry.get("issue").cloned(),
                    class: v.class,
                    last_seen: v.last_seen.and_then(|i| a.ids.get(i).copied()),
                    dropped_by: v.dropped_by.and_then(|i| a.ids.get(i).copied()),
                })
                .collect(),
            recovered,
            warnings,
            fragments: groups
                .iter()
                .map(|(k, (_, arts))| (k.clone(), arts.len()))
                .collect(),
            ..Repaired::default()
        };
        if groups.is_empty() || opts.dry_run {
            return Ok(Step::Done(done));
        }
        let root = store::commit_tree(repo, tip)?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (key, (issue, artifacts)) in &groups {
            let key = FragmentKey::new(key).map_err(|e| {
                Error::new(ErrorKind::InvalidKey, format!("recovery key `{key}`: {e}"))
            })?;
            // A recovery fragment of this key from an earlier repair keeps its entries.
            let (mut fields, mut all) = match a.tip_fragments.get(key.as_str()) {
                Some(f) => (f.fields.clone(), f.artifacts.clone()),
                None => (Map::new(), Vec::new()),
            };
            if let Some(n) = issue {
                fields.entry("issue").or_insert_with(|| json!(n));
            }
            fields.insert("recovered".to_owned(), Value::Bool(true));
            all.extend(artifacts.iter().cloned());
            fields.insert(
                "artifacts".to_owned(),
                Value::Array(all.into_iter().map(Value::Object).collect()),
            );
            let raw = serde_json::to_vec(&Value::Object(fields)).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("could not serialise a recovery fragment: {e}"),
                )
            })?;
            let path = settings.fragment_path(&key);
            let fragment = Fragment::parse(key, &raw).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidFragment,
                    format!("cannot write recovery fragment `{path}`: {e}"),
                )
                .path(&path)
            })?;
            files.push((path, fragment.to_bytes()));
        }
        let message = opts.message.clone().unwrap_or_else(|| {
            format!(
                "catalogue: repair {} lost entr{} as {} recovery fragment(s)\n",
                done.recovered.len(),
                if done.recovered.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                files.len()
            )
        });
        let write = Write {
            target: branch,
            expected: Expected::At(tip),
            parent: Some(tip),
            root,
            paths: files.iter().map(|(path, _)| path.clone()).collect(),
            message,
            log: "catalogue: repair",
            lease: false,
            skip_unchanged: false,
        };
        let objects = || {
            files
                .iter()
                .map(|(path, bytes)| {
                    Ok(TreeChange {
                        path: path.clone(),
                        kind: EntryKind::Blob,
                        id: store::write_blob(repo, bytes, path)?,
                    })
                })
                .collect()
        };
        Ok(match commit_step(repo, sink, write, objects)? {
            Step::Lost(loss) => Step::Lost(loss),
            Step::Done(committed) => {
                done.warnings.extend(committed.warning);
                done.commit = committed.commit;
                Step::Done(done)
            }
        })
    })?;
    let attempts = published.attempts;
    let mut out = Repaired {
        attempts,
        ..published.value
    };
    // Consolidate whenever this is not a dry run, not only after writing
    // recovery fragments: a repair killed between its two ref moves left
    // them on the branch unconsolidated, and the re-run, finding nothing
    // left to recover, must still finish the job. When the manifest is
    // current this writes nothing.
    if !opts.dry_run {
        let copts = consolidate::Options {
            dry_run: false,
            full: false,
            retries: opts.retries,
            message: None,
            limits: opts.limits,
        };
        let c = consolidate::consolidate(repo, settings, sink, &copts)?;
        out.consolidated = c.commit;
        out.warnings.extend(c.warnings);
    }
    Ok(out)
}

/// What `deepen` did.
#[derive(Debug, Clone)]
pub struct Deepened {
    /// The remote fetched from, as named.
    pub remote: String,
    /// Whether anything was fetched (false: the repository was not shallow).
    pub fetched: bool,
}

/// The remote a shallow history is deepened from: `remote` when given (the
/// one `repair` pushes to), else the branch's upstream
/// (`branch.<name>.remote`), else `origin`.
pub fn deepen_remote(repo: &Repository, settings: &Settings, remote: Option<&str>) -> String {
    if let Some(r) = remote {
        return r.to_owned();
    }
    let full = settings.branch.as_bstr().to_string();
    let short = full.strip_prefix("refs/heads/").unwrap_or(&full);
    store::config_string(repo, &format!("branch.{short}.remote"))
        .filter(|r| !r.is_empty() && r != ".")
        .unwrap_or_else(|| "origin".to_owned())
}

/// Fetch the whole history of the branch from `remote` (see
/// [`deepen_remote`]), so that `verify` and `repair` read all of it in a
/// shallow clone. The branch itself is not moved.
pub fn deepen(repo: &Repository, settings: &Settings, remote: Option<&str>) -> Result<Deepened> {
    let name = deepen_remote(repo, settings, remote);
    let fetched = Remote::new(repo, &name)?.deepen(&settings.branch)?;
    Ok(Deepened {
        remote: name,
        fetched,
    })
}
