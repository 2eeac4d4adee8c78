//! A tree's catalogue: what its fragments make, and whether the tree's own
//! `manifest.json` and `index.md` are that.
//!
//! `consolidate`, `record`, `check`, `list` and `repair` all ask the same
//! questions of a tree, so they ask them here: build both files from every
//! fragment ([`render_tree`], setting them aside as they grow:
//! [`Spilling`]), or only from the fragments changed since the manifest's
//! `source` ([`since_manifest`]); and which pages are stale
//! ([`stale_pages`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use crate::core::adopt;
use crate::core::fragment::Fragment;
use crate::core::key::{natural_key, FragmentKey};
use crate::core::manifest::{Conflict, DuplicatePath};
use crate::core::render::{self, NotSpliced, Old, Page, Rope, Spliced, Writer};
use crate::error::{Error, ErrorKind, Hint, Result};
use crate::git::store::{self, Part};
use crate::settings::Settings;
use crate::spool::Spool;

/// The files of `<dir>/index/` in `root`: name and entry. Empty when there
/// is no such folder (or it is not a folder).
pub fn pages_in(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
) -> Result<BTreeMap<String, store::PathEntry>> {
    let mut out = BTreeMap::new();
    let folder = settings.pages_dir();
    let Some(entry) = store::entry_at(repo, root, &folder)? else {
        return Ok(out);
    };
    if entry.kind != EntryKind::Tree {
        return Ok(out);
    }
    let tree = repo
        .find_tree(entry.id)
        .map_err(|e| Error::git(format!("could not read tree {}", entry.id), &e).tree(entry.id))?;
    let decoded = tree.decode().map_err(|e| {
        Error::git(format!("could not decode tree {}", entry.id), &e).tree(entry.id)
    })?;
    for e in &decoded.entries {
        out.insert(
            e.filename.to_string(),
            store::PathEntry {
                kind: e.mode.kind(),
                id: e.oid.to_owned(),
            },
        );
    }
    Ok(out)
}

/// The one way a path claimed twice is reported: the path and both fragments.
pub fn duplicate_error(dup: DuplicatePath) -> Error {
    Error::new(ErrorKind::DuplicatePath, dup.to_string())
        .path(&dup.path)
        .fragments([dup.first.as_str(), dup.second.as_str()])
}

/// The one way a path conflict on a branch is reported: the path and every
/// claimant, with the next step (change the later claimant) as a hint.
pub fn conflict_error(conflict: &Conflict) -> Error {
    Error::new(ErrorKind::DuplicatePath, conflict.to_string())
        .path(&conflict.path)
        .key(conflict.later())
        .fragments(conflict.fragments.iter().map(FragmentKey::as_str))
        .hint(Hint::Conflict)
}

/// The paths of the entries of `root`'s manifest that no fragment backs
/// (see [`adopt::unbacked`]): empty when the manifest is missing or laid out
/// as git-catalogue writes it, which costs one read of it. `fragments` are
/// the tree's fragments when the caller has them; otherwise they are read,
/// which only a manifest in another layout (an adoption) costs.
pub fn unbacked(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    fragments: Option<&[Fragment]>,
) -> Result<Vec<String>> {
    let path = settings.manifest_path();
    let Some(entry) = store::entry_at(repo, root, &path)?.filter(|e| e.kind == EntryKind::Blob)
    else {
        return Ok(Vec::new());
    };
    // A manifest over the bound is no adoption anyone made (forges refuse
    // such a file): it is judged by its header, never inflated.
    let Some(bytes) = store::read_blob_at_most(repo, entry.id, &path, store::MAX_OUTPUT_BYTES)?
    else {
        return Ok(Vec::new());
    };
    if adopt::own_layout(&bytes) {
        return Ok(Vec::new());
    }
    let read;
    let fragments = match fragments {
        Some(f) => f,
        None => {
            read = store::read_fragments(repo, root, &settings.dir)?;
            &read.fragments[..]
        }
    };
    let keys: HashSet<&str> = fragments.iter().map(|f| f.key.as_str()).collect();
    let paths: HashSet<&str> = fragments
        .iter()
        .flat_map(|f| f.artifacts.iter())
        .filter_map(|a| a.get("path").and_then(serde_json::Value::as_str))
        .collect();
    Ok(adopt::unbacked(
        &bytes,
        |k| keys.contains(k),
        |p| paths.contains(p),
    ))
}

/// The one way unbacked entries are reported: how many, the first few
/// paths, the manifest and the commit, with the next step as a hint.
pub fn unmigrated_error(settings: &Settings, commit: ObjectId, paths: &[String]) -> Error {
    const SHOWN: usize = 3;
    let mut named: Vec<String> = paths
        .iter()
        .take(SHOWN)
        .map(|p| format!("`{}`", p.escape_debug()))
        .collect();
    if paths.len() > SHOWN {
        named.push(format!("{} more", paths.len() - SHOWN));
    }
    let manifest = settings.manifest_path();
    let n = paths.len();
    Error::new(
        ErrorKind::Unmigrated,
        format!(
            "`{manifest}` of commit {commit} holds {n} {} that no fragment backs ({}); \
             consolidating would drop {}",
            if n == 1 { "entry" } else { "entries" },
            named.join(", "),
            if n == 1 { "it" } else { "them" },
        ),
    )
    .path(manifest)
    .commit(commit)
    .hint(Hint::Unmigrated)
}

/// The pages of `root` that differ from `pages`, missing ones included, and
/// the files of `<dir>/index/` no page is.
pub fn stale_pages(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    pages: &[(&str, Part<'_>)],
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    let mut present = pages_in(repo, root, settings)?;
    if present.is_empty() && !pages.is_empty() {
        // No page at all (never consolidated, or the folder deleted): the
        // folder is the one thing missing, not each of its pages.
        stale.push(format!("{}/", settings.pages_dir()));
        return Ok(stale);
    }
    for (file, bytes) in pages {
        let path = settings.page_path(file);
        let held = match present.remove(*file) {
            Some(e) if e.kind == EntryKind::Blob => store::holds(repo, root, &path, &[*bytes])?,
            _ => false,
        };
        if !held {
            stale.push(path);
        }
    }
    stale.extend(present.keys().map(|file| settings.page_path(file)));
    Ok(stale)
}

/// The two files a tree's fragments make, and how they were made.
#[derive(Debug)]
pub struct Rendered<'a> {
    /// `manifest.json`, in pieces (see [`render::Rope`]).
    pub manifest: Rope<'a>,
    /// `index.md`, in pieces: the front page.
    pub index: Rope<'a>,
    /// The pages under `<dir>/index/`; a page kept from the tip has no bytes.
    pub pages: Vec<Page>,
    /// The files of `<dir>/index/` in the tip that no page is: to remove.
    pub removed_pages: Vec<String>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed.
    pub artifacts: usize,
    /// Paths claimed more than once: listed apart in both files.
    pub conflicts: Vec<Conflict>,
    /// The fragments tree they were built from.
    pub source: ObjectId,
    /// Skipped entries of the fragments folder.
    pub warnings: Vec<String>,
    /// Whether only the changed fragments were read.
    pub incremental: bool,
    /// Why a full rebuild was done instead, when one could have been tried.
    pub note: Option<String>,
    /// What a full render set aside.
    pub spilled: Spilled,
}

impl Rendered<'_> {
    /// `manifest.json`, whole.
    pub fn manifest_parts(&self) -> Vec<Part<'_>> {
        self.spilled.manifest(&self.manifest)
    }

    /// Every page: file name, and its bytes (None: kept from the tip).
    pub fn page_parts(&self) -> Vec<(&str, Option<Part<'_>>)> {
        self.spilled.pages(&self.pages)
    }
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
            Ok(since) => match incremental(repo, root, settings, &since, fetch)? {
                Ok(rendered) => return then(rendered),
                Err(why) => Some(why),
            },
        }
    };
    let listing = store::list_fragment_blobs(repo, root, &settings.dir)?.into_valid()?;
    let mut blobs = listing.blobs;
    // Natural key order is the manifest's: each fragment is rendered as it
    // arrives, and dropped.
    blobs.sort_by_cached_key(|b| natural_key(b.key.as_str()));
    let ids: Vec<ObjectId> = blobs.iter().map(|b| b.id).collect();
    fetch(&ids)?;
    let source = listing.source.to_string();
    let issue_url = settings.issue_url.as_deref();
    let mut writer = Writer::new(&source, Some(&settings.dir), true).with_issue_url(issue_url);
    // Fragments list one to three artifacts; two each is a fair guess.
    writer.reserve_claims(2 * blobs.len());
    let mut writer = Spilling::new(writer);
    store::map_fragments(
        repo,
        &blobs,
        256,
        || Writer::batch(Some(&settings.dir)).with_issue_url(issue_url),
        // A batch records its paths; `absorb` checks them.
        |batch, fragment| batch.push(&fragment),
        |batch| writer.absorb(batch),
    )?;
    let (out, spilled) = writer.finish()?;
    let removed_pages = removed_pages(repo, root, settings, &spilled.pages(&out.pages))?;
    then(Rendered {
        manifest: out.manifest,
        index: out.index,
        pages: out.pages,
        removed_pages,
        fragments: out.fragments,
        artifacts: out.artifacts,
        conflicts: out.conflicts,
        source: listing.source,
        warnings: listing.warnings,
        incremental: false,
        note,
        spilled,
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
    let too_large =
        |path: &str| format!("`{path}` is larger than {} bytes", store::MAX_OUTPUT_BYTES);
    let limit = store::MAX_OUTPUT_BYTES;
    let Some(manifest) = store::read_blob_at_most(&uncached, manifest_id, &manifest_path, limit)?
    else {
        return Ok(Err(too_large(&manifest_path)));
    };
    let index = match index_id {
        Some(id) => match store::read_blob_at_most(&uncached, id, &index_path, limit)? {
            Some(bytes) => Some(bytes),
            None => return Ok(Err(too_large(&index_path))),
        },
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

/// The fragments tree the manifest of `root` was built from, as its
/// `source` line names it (`None`: no manifest, or not git-catalogue's).
/// Reads the whole manifest blob: only a dry run asks.
pub fn manifest_source(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
) -> Result<Option<ObjectId>> {
    let path = settings.manifest_path();
    let Some(entry) = store::entry_at(repo, root, &path)? else {
        return Ok(None);
    };
    if entry.kind != EntryKind::Blob {
        return Ok(None);
    }
    let bytes = store::read_blob_at_most(repo, entry.id, &path, store::MAX_OUTPUT_BYTES)?;
    Ok(bytes.as_deref().and_then(source_of))
}

/// The `source` a manifest names, as git-catalogue writes it: on its fourth
/// line, or its third in the layout before the `$schema` line.
fn source_of(manifest: &[u8]) -> Option<ObjectId> {
    let line = manifest
        .split(|b| *b == b'\n')
        .skip(2)
        .take(2)
        .find(|line| line.starts_with(b"  \"source\": \""))?;
    let hex = line
        .strip_prefix(b"  \"source\": \"")?
        .strip_suffix(b"\",")?;
    ObjectId::from_hex(hex).ok()
}

/// The incremental path, on what [`since_manifest`] read: `Ok(Err(why))`
/// when it does not apply.
fn incremental<'a>(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    since: &'a Since,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
) -> Result<std::result::Result<Rendered<'a>, String>> {
    let Some(old) = Old::cut(&since.manifest, since.index.as_deref()) else {
        if render::lists_conflicts(&since.manifest) {
            return Ok(Err(format!(
                "`{}` lists path conflicts: every fragment is read until each path is claimed once",
                settings.manifest_path()
            )));
        }
        return Ok(Err(format!(
            "`{}` or `{}` is not laid out as git-catalogue writes them",
            settings.manifest_path(),
            settings.index_path()
        )));
    };
    if !old.index_matches(&settings.dir, settings.issue_url.as_deref()) {
        return Ok(Err(format!(
            "`{}` was not written with `{}` in today's layout (an earlier layout, \
             another source, or other issue links)",
            settings.index_path(),
            settings.manifest_path()
        )));
    }
    let present = pages_in(repo, root, settings)?;
    let old_pages: HashSet<String> = present
        .iter()
        .filter(|(_, e)| e.kind == EntryKind::Blob)
        .map(|(file, _)| file.clone())
        .collect();
    let diff = &since.diff;
    // In natural key order, as a full build reads them: the first invalid
    // fragment reported is the same either way.
    let mut upserts: Vec<&store::FragmentBlob> = diff.upserts.iter().collect();
    upserts.sort_by_cached_key(|b| natural_key(b.key.as_str()));
    let ids: Vec<ObjectId> = upserts.iter().map(|b| b.id).collect();
    fetch(&ids)?;
    let changed = upserts
        .iter()
        .map(|b| Ok(store::read_fragment(repo, b)?))
        .collect::<Result<Vec<_>>>()?;
    let removed: BTreeSet<&str> = diff.removed.iter().map(FragmentKey::as_str).collect();
    match render::splice(
        &old,
        &removed,
        changed,
        &since.source.to_string(),
        &settings.dir,
        settings.issue_url.as_deref(),
        &old_pages,
    ) {
        Ok(spliced) => Ok(Ok(Rendered {
            removed_pages: present
                .keys()
                .filter(|file| !spliced.pages.iter().any(|p| &p.file == *file))
                .cloned()
                .collect(),
            manifest: spliced.manifest,
            index: spliced.index,
            pages: spliced.pages,
            fragments: spliced.fragments,
            artifacts: spliced.artifacts,
            conflicts: spliced.conflicts,
            source: since.source,
            warnings: diff.warnings.clone(),
            incremental: true,
            spilled: Spilled::default(),
            note: None,
        })),
        // A full build lists the conflict, naming every claimant (the first
        // may be an unchanged one), as `check` does.
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

/// The files of `<dir>/index/` in `root` that none of `pages` is.
fn removed_pages(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    pages: &[(&str, Option<Part<'_>>)],
) -> Result<Vec<String>> {
    let made: HashSet<&str> = pages.iter().map(|p| p.0).collect();
    Ok(pages_in(repo, root, settings)?
        .into_keys()
        .filter(|file| !made.contains(file.as_str()))
        .collect())
}

/// A rope's pieces, as the store writes them.
pub fn pieces<'r>(rope: &'r Rope<'_>) -> Vec<Part<'r>> {
    rope.iter().map(|p| Part::Bytes(p)).collect()
}

/// Whether the blob at `path` in `root` is `parts` as a version before the
/// `$schema` line wrote it (docs/format.md 2.1): `parts` with their
/// opening lines swapped for the earlier ones.
pub fn holds_without_schema_line(
    repo: &Repository,
    root: ObjectId,
    path: &str,
    parts: &[Part<'_>],
) -> Result<bool> {
    let (now, earlier) = render::schema_openings();
    let Some(first) = parts.first() else {
        return Ok(false);
    };
    if first.prefix(now.len() as u64)? != now {
        return Ok(false);
    }
    let mut swapped = vec![Part::Bytes(earlier), first.skip(now.len() as u64)];
    swapped.extend_from_slice(&parts[1..]);
    store::holds(repo, root, path, &swapped)
}

/// A writer holding more than this sets what it finished aside.
const SPILL_AT: usize = 2 << 20;

/// What a full render set aside in a temporary file ([`Writer::take`]):
/// the first manifest blocks and artifact lines, and finished pages. Empty
/// for catalogues too small to spill, and for incremental renders.
#[derive(Debug, Default)]
pub struct Spilled {
    spool: Spool,
    blocks: Vec<Range<u64>>,
    lines: Vec<Range<u64>>,
    pages: Vec<(String, Range<u64>)>,
}

impl Spilled {
    /// The whole manifest: what was set aside, in the order
    /// [`Writer::take`] documents, around the finished writer's `rope`.
    pub fn manifest<'r>(&'r self, rope: &'r Rope<'_>) -> Vec<Part<'r>> {
        let mut parts: Vec<Part<'r>> = self
            .blocks
            .iter()
            .map(|r| Part::spooled(&self.spool, r))
            .collect();
        let mut rest = rope.iter();
        parts.extend(rest.next().map(|p| Part::Bytes(p)));
        parts.extend(self.lines.iter().map(|r| Part::spooled(&self.spool, r)));
        parts.extend(rest.map(|p| Part::Bytes(p)));
        parts
    }

    /// The pages of a full render (every page has its bytes).
    pub fn made_pages<'r>(&'r self, pages: &'r [Page]) -> Vec<(&'r str, Part<'r>)> {
        self.pages(pages)
            .into_iter()
            .filter_map(|(file, bytes)| Some((file, bytes?)))
            .collect()
    }

    /// Every page: file name, and its bytes (None: kept from the tip).
    pub fn pages<'r>(&'r self, pages: &'r [Page]) -> Vec<(&'r str, Option<Part<'r>>)> {
        let set_aside = self
            .pages
            .iter()
            .map(|(file, r)| (file.as_str(), Some(Part::spooled(&self.spool, r))));
        let own = pages
            .iter()
            .map(|p| (p.file.as_str(), p.bytes.as_ref().map(Part::from)));
        set_aside.chain(own).collect()
    }
}

/// A main [`Writer`] that sets aside what it finished whenever it holds
/// more than [`SPILL_AT`]: memory stays about the size of one window of
/// fragments, not of the outputs.
pub struct Spilling {
    writer: Writer,
    spilled: Spilled,
}

impl Spilling {
    /// Spill from `writer` (a main writer, see [`Writer::take`]).
    pub fn new(writer: Writer) -> Spilling {
        Spilling {
            writer,
            spilled: Spilled::default(),
        }
    }

    /// [`Writer::absorb`], then set aside what is finished if it is much.
    pub fn absorb(&mut self, batch: Writer) -> Result<()> {
        self.writer.absorb(batch);
        if self.writer.held() > SPILL_AT {
            let taken = self.writer.take();
            let spilled = &mut self.spilled;
            spilled.blocks.push(spilled.spool.push(&taken.blocks)?);
            spilled.lines.push(spilled.spool.push(&taken.lines)?);
            for (file, bytes) in taken.pages {
                let at = spilled.spool.push(&bytes)?;
                spilled.pages.push((file, at));
            }
        }
        Ok(())
    }

    /// [`Writer::first_duplicate`].
    pub fn first_duplicate(&self) -> Option<DuplicatePath> {
        self.writer.first_duplicate()
    }

    /// The finished writer's outputs and what was set aside. A catalogue
    /// with a path claimed twice reads its lines back (see
    /// [`Writer::needs_lines_back`]).
    pub fn finish(mut self) -> Result<(Spliced<'static>, Spilled)> {
        if self.writer.needs_lines_back() {
            let mut lines = Vec::new();
            for r in std::mem::take(&mut self.spilled.lines) {
                lines.extend(self.spilled.spool.read(&r)?);
            }
            self.writer.give_back_lines(lines);
        }
        Ok((self.writer.finish_rope(), self.spilled))
    }
}
