//! The fragments folder of a tree: listing it, diffing it, and reading
//! and validating its blobs (docs/format.md, "Fragments").

use gix::{bstr::ByteSlice, objs::tree::EntryKind, ObjectId, Repository};

use super::order::{Location, PackOrder};
use super::read::{describe_kind, empty_tree, entry_at, partial_clone_hint};
use super::write::blob_id;
use crate::core::fragment::{Fragment, FragmentError, MAX_FRAGMENT_BYTES};
use crate::core::key::FragmentKey;
use crate::error::{Error, ErrorKind, Result};

/// What the fragments folder of a tree holds.
#[derive(Debug)]
pub struct FragmentsRead {
    /// The id of the fragments tree (the empty tree's id when there is no folder): the manifest's `source`.
    pub source: ObjectId,
    /// Every fragment, parsed and validated, in tree order.
    pub fragments: Vec<Fragment>,
    /// Ignored entries (regular files not named `*.json`), one sentence each.
    pub warnings: Vec<String>,
}

/// A fragment blob found in the folder, not yet parsed.
#[derive(Clone, Debug)]
pub struct FragmentBlob {
    /// Its key.
    pub key: FragmentKey,
    /// Its blob id.
    pub id: ObjectId,
    /// Its path from the repository root.
    pub path: String,
}

/// The fragments folder of a tree, classified entry by entry.
#[derive(Debug)]
pub struct Listing {
    /// The fragments tree's id (the empty tree's when there is no folder).
    pub source: ObjectId,
    /// The `<key>.json` blobs, in tree order.
    pub blobs: Vec<FragmentBlob>,
    /// Regular files not named `*.json`, skipped, one sentence each.
    pub warnings: Vec<String>,
    /// Entries the fragments folder may not hold (docs/format.md, "Fragments"), each an error naming its path.
    pub problems: Vec<Error>,
}

impl Listing {
    /// The first problem, as an error.
    pub fn into_valid(self) -> Result<Listing> {
        match self.problems.first() {
            Some(p) => Err(p.clone()),
            None => Ok(self),
        }
    }
}

/// The `.json` fragment blobs of `<dir>/fragments` in `root`, classified by
/// docs/format.md, "Fragments": other regular files are skipped with a warning; a symlink,
/// submodule, sub-folder or a `.json` name whose key is invalid is a problem,
/// never followed. Every problem is collected, so `check` can report them all.
pub fn list_fragment_blobs(repo: &Repository, root: ObjectId, dir: &str) -> Result<Listing> {
    let folder = format!("{dir}/fragments");
    let mut listing = Listing {
        source: empty_tree(repo),
        blobs: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    let Some(entry) = entry_at(repo, root, &folder)? else {
        return Ok(listing);
    };
    if entry.kind != EntryKind::Tree {
        listing.problems.push(
            Error::new(
                ErrorKind::InvalidTree,
                format!(
                    "`{folder}` must be a folder, but it is a {}",
                    describe_kind(entry.kind)
                ),
            )
            .path(folder)
            .blob(entry.id),
        );
        return Ok(listing);
    }
    list_folder(repo, entry.id, &folder, listing)
}

/// The fragments of the fragments folder tree `tree` (e.g. a manifest's
/// `source`), named as `folder` in messages.
pub fn list_fragment_folder(repo: &Repository, tree: ObjectId, folder: &str) -> Result<Listing> {
    let listing = Listing {
        source: tree,
        blobs: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };
    if tree == empty_tree(repo) {
        return Ok(listing);
    }
    list_folder(repo, tree, folder, listing)
}

fn list_folder(
    repo: &Repository,
    id: ObjectId,
    folder: &str,
    mut listing: Listing,
) -> Result<Listing> {
    listing.source = id;
    let tree = repo.find_tree(id).map_err(|e| {
        Error::git(format!("could not read tree {} of `{folder}`", id), &e)
            .path(folder)
            .tree(id)
    })?;
    for item in tree.iter() {
        let item = item.map_err(|e| {
            Error::git(format!("could not decode tree {} of `{folder}`", id), &e)
                .path(folder)
                .tree(id)
        })?;
        let name = item.filename().to_str_lossy();
        match classify_entry(folder, &name, item.mode().kind(), item.object_id()) {
            Entry::Fragment(blob) => listing.blobs.push(blob),
            Entry::Ignored(warning) => listing.warnings.push(warning),
            Entry::Problem(e) => listing.problems.push(e),
        }
    }
    Ok(listing)
}

/// What one entry of the fragments folder is (docs/format.md, "Fragments").
enum Entry {
    Fragment(FragmentBlob),
    /// A regular file not named `*.json`: skipped, with this warning.
    Ignored(String),
    Problem(Error),
}

fn classify_entry(folder: &str, name: &str, kind: EntryKind, id: ObjectId) -> Entry {
    let path = format!("{folder}/{name}");
    let regular = matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable);
    match name.strip_suffix(".json") {
        Some(stem) => match FragmentKey::new(stem) {
            // Tree names are the pull request's: escaped in text for people.
            Err(e) => Entry::Problem(
                Error::new(
                    ErrorKind::InvalidKey,
                    format!("`{}`: {e}", path.escape_debug()),
                )
                .path(&path)
                .key(stem),
            ),
            Ok(_) if !regular => Entry::Problem(not_a_regular_file(&path, kind, id)),
            Ok(key) => Entry::Fragment(FragmentBlob { key, id, path }),
        },
        None if regular => Entry::Ignored(format!(
            "ignoring `{}`: not a `.json` fragment",
            path.escape_debug()
        )),
        None => Entry::Problem(not_a_regular_file(&path, kind, id)),
    }
}

/// Whether a folder entry is one [`classify_entry`] takes as a fragment,
/// decided without allocating: a regular file named `<valid key>.json`.
fn is_fragment_entry(name: &[u8], kind: EntryKind) -> bool {
    matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable)
        && name
            .strip_suffix(b".json")
            .and_then(|stem| std::str::from_utf8(stem).ok())
            .is_some_and(FragmentKey::is_valid)
}

/// How the fragments folder changed between two of its trees.
#[derive(Debug, Default)]
pub struct FolderDiff {
    /// Keys whose fragment is gone or replaced.
    pub removed: Vec<FragmentKey>,
    /// Fragments added or modified (a rename is a removal and an addition).
    pub upserts: Vec<FragmentBlob>,
    /// Regular files not named `*.json` (changed or not), skipped.
    pub warnings: Vec<String>,
    /// Entries the fragments folder may not hold (changed or not).
    pub problems: Vec<Error>,
}

/// Compare two trees of the fragments folder entry by entry: one merge walk
/// of two sorted entry lists, no blob read. `old` or `new` may be the empty
/// tree.
pub fn diff_folder(
    repo: &Repository,
    old: ObjectId,
    new: ObjectId,
    folder: &str,
) -> Result<FolderDiff> {
    let find = |id: ObjectId| -> Result<Option<gix::Tree<'_>>> {
        if id == empty_tree(repo) {
            return Ok(None);
        }
        repo.find_tree(id).map(Some).map_err(|e| {
            Error::git(format!("could not read tree {id} of `{folder}`"), &e)
                .path(folder)
                .tree(id)
        })
    };
    // Entries borrow the trees' bytes: no allocation per fragment.
    fn entries<'t>(
        tree: &'t Option<gix::Tree<'_>>,
        id: ObjectId,
        folder: &str,
        hash: gix::hash::Kind,
    ) -> Result<Vec<(&'t [u8], EntryKind, ObjectId)>> {
        let Some(tree) = tree else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in gix::objs::TreeRefIter::from_bytes(&tree.data, hash) {
            let item = item.map_err(|e| {
                Error::git(format!("could not decode tree {id} of `{folder}`"), &e)
                    .path(folder)
                    .tree(id)
            })?;
            out.push((
                item.filename.as_ref(),
                item.mode.kind(),
                item.oid.to_owned(),
            ));
        }
        Ok(out)
    }
    let (ta, tb) = (find(old)?, find(new)?);
    let hash = repo.object_hash();
    let (a, b) = (
        entries(&ta, old, folder, hash)?,
        entries(&tb, new, folder, hash)?,
    );
    let mut diff = FolderDiff::default();
    let gone = |entry: &(&[u8], EntryKind, ObjectId), diff: &mut FolderDiff| {
        let name = entry.0.to_str_lossy();
        if let Entry::Fragment(blob) = classify_entry(folder, &name, entry.1, entry.2) {
            diff.removed.push(blob.key);
        }
    };
    let came = |entry: &(&[u8], EntryKind, ObjectId), diff: &mut FolderDiff| {
        let name = entry.0.to_str_lossy();
        match classify_entry(folder, &name, entry.1, entry.2) {
            Entry::Fragment(blob) => diff.upserts.push(blob),
            Entry::Ignored(warning) => diff.warnings.push(warning),
            Entry::Problem(e) => diff.problems.push(e),
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => {
                git_order(x.0, x.1 == EntryKind::Tree, y.0, y.1 == EntryKind::Tree)
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                gone(&a[i], &mut diff);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                came(&b[j], &mut diff);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if a[i].1 != b[j].1 || a[i].2 != b[j].2 {
                    gone(&a[i], &mut diff);
                    came(&b[j], &mut diff);
                } else if !is_fragment_entry(b[j].0, b[j].1) {
                    // Unchanged, yet a full read warns about it (or refuses
                    // it) every time: so does this.
                    came(&b[j], &mut diff);
                }
                i += 1;
                j += 1;
            }
        }
    }
    Ok(diff)
}

/// Git's order of tree entries: by name, a folder's name read as if it ended in `/`.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let next = |name: &[u8], tree: bool| match name.get(n) {
            Some(c) => *c,
            None if tree => b'/',
            None => 0,
        };
        next(a, a_tree).cmp(&next(b, b_tree))
    })
}

/// A fragment blob's bytes as read, or why they could not be.
pub type Bytes<'a> = Result<&'a [u8], ReadError>;

/// How many fragments are read per window: sorted by where they lie, read,
/// and handed on in the order asked. 8,192 parsed fragments are a few MB.
const WINDOW: usize = 8192;

/// Threads that read (this machine class has two cores).
const WORKERS: usize = 2;

/// The delta base cache of the readers, in all, unless the repository sets
/// `core.deltaBaseCacheLimit`: 8 MiB. Git's default is 96 MiB; read in pack
/// order, 100,000 fragments took as long with 16 MiB (fast-import order 4.6
/// s either way, random order 7.4 s against 7.9 s) and peaked 38 MB lower;
/// with 8 MiB, 2.25-2.50 s against 2.38-2.46 s (four rounds each, fast-import
/// order, realistic fragments) and 12 MB lower again (128 MB against 140).
const DELTA_BASE_CACHE: usize = 8 << 20;

/// Read and parse fragment blobs in batches of `batch`: each batch starts
/// as `begin()`, takes its fragments one by one through `work`, and is
/// handed to `each`, in the order of `blobs`.
///
/// The blobs are read window by window ([`read_in_pack_order`]), two
/// threads parse them and run `work` on the window's batches, and `each`
/// runs here. Each fragment is dropped as soon as `work` has taken it, so
/// the next one is parsed into the memory it freed (glibc's per-thread
/// cache hands back a freed chunk at once; parsing a whole batch first sent
/// ten thousand allocations a batch through its slower paths). The first
/// error in the order of `blobs` is returned.
pub fn map_fragments<T: Send>(
    repo: &Repository,
    blobs: &[FragmentBlob],
    batch: usize,
    begin: impl Fn() -> T + Sync,
    work: impl Fn(&mut T, Fragment) + Sync,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let batch = batch.max(1);
    read_in_pack_order(repo, blobs, |start, read| {
        let mut slots: Vec<(usize, Vec<Bytes<'_>>)> = Vec::new();
        let mut rest = read.into_iter();
        let mut at = start;
        loop {
            let next: Vec<_> = rest.by_ref().take(batch).collect();
            if next.is_empty() {
                break;
            }
            let n = next.len();
            slots.push((at, next));
            at += n;
        }
        let mut out: Vec<Option<Result<T>>> = (0..slots.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let (begin, work) = (&begin, &work);
            let mut pairs: Vec<_> = slots.into_iter().zip(out.iter_mut()).collect();
            let half = pairs.len().div_ceil(WORKERS).max(1);
            while !pairs.is_empty() {
                let mine: Vec<_> = pairs.drain(..half.min(pairs.len())).collect();
                scope.spawn(move || {
                    for ((at, raw), output) in mine {
                        let mut done = begin();
                        let read = raw.into_iter().zip(&blobs[at..]).try_for_each(|(r, b)| {
                            work(&mut done, parse_fragment(b, r?)?);
                            Ok(())
                        });
                        let failed = read.is_err();
                        *output = Some(read.map(|()| done));
                        if failed {
                            break;
                        }
                    }
                });
            }
        });
        for t in out.into_iter() {
            match t {
                Some(t) => each(t?)?,
                None => unreachable!("a batch after a failed one is not reported"),
            }
        }
        Ok(())
    })
}

/// Read every blob of `blobs`, [`WINDOW`] at a time, and hand each window's
/// bytes (checked against the size bound, and loose ones against their id,
/// not parsed: see [`parse_fragment`]) to `each` in the order of `blobs`,
/// with the position of the window's first blob. Raw bytes are a fifth of
/// the parsed fragments' memory.
///
/// Within a window the blobs are read in the order the packs hold them
/// (pack, then offset, see [`PackOrder`]), loose ones last, by two threads
/// that each keep a delta base cache of half of `core.deltaBaseCacheLimit`
/// (8 MiB in all by default): each delta chain is then resolved about once
/// instead of once per blob, whatever order the pack was written in. A loose
/// object is read once, and hashed (gix does not check it).
pub fn read_in_pack_order(
    repo: &Repository,
    blobs: &[FragmentBlob],
    mut each: impl FnMut(usize, Vec<Bytes<'_>>) -> Result<()>,
) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let order = PackOrder::open(repo, MAX_FRAGMENT_BYTES);
    let ids: Vec<ObjectId> = blobs.iter().map(|b| b.id).collect();
    let places = order.locate(&ids);
    drop(ids);
    let cache = delta_base_cache(repo) / WORKERS;
    let mut readers: Vec<Repository> = (0..WORKERS)
        .map(|_| {
            let mut r = repo.clone();
            if cache > 0 {
                r.objects.set_pack_cache(move || {
                    Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(cache))
                });
            }
            r
        })
        .collect();
    for start in (0..blobs.len()).step_by(WINDOW) {
        let end = (start + WINDOW).min(blobs.len());
        let mut sorted: Vec<usize> = (start..end).collect();
        sorted.sort_by_key(|&i| (places[i], i));
        let half = sorted.len().div_ceil(WORKERS).max(1);
        // Each reader appends the bytes to one buffer of its own, freed at
        // once: blobs read here and parsed on another thread would otherwise
        // be a hundred thousand frees across threads, slow in glibc's malloc.
        type Read = (usize, Result<std::ops::Range<usize>, ReadError>);
        let parts: Vec<(Vec<u8>, Vec<Read>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = readers
                .iter_mut()
                .zip(sorted.chunks(half))
                .map(|(reader, mine)| {
                    let (order, places) = (&order, &places);
                    scope.spawn(move || {
                        let (mut arena, mut buf) = (Vec::new(), Vec::new());
                        let spans = mine
                            .iter()
                            .map(|&i| {
                                let read = if places[i] == Location::Elsewhere {
                                    read_loose_into(reader, order, &blobs[i], &mut buf)
                                } else {
                                    read_fragment_into(reader, &blobs[i], &mut buf)
                                };
                                let span = read.map(|()| {
                                    arena.extend_from_slice(&buf);
                                    arena.len() - buf.len()..arena.len()
                                });
                                (i, span)
                            })
                            .collect::<Vec<_>>();
                        (arena, spans)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fragment reader panicked"))
                .collect()
        });
        let mut results: Vec<Option<Bytes<'_>>> = (start..end).map(|_| None).collect();
        let (arenas, spans): (Vec<Vec<u8>>, Vec<Vec<Read>>) = parts.into_iter().unzip();
        for (arena, spans) in arenas.iter().zip(spans) {
            for (i, span) in spans {
                results[i - start] = Some(span.map(|r| &arena[r]));
            }
        }
        each(
            start,
            results
                .into_iter()
                .map(|r| r.expect("every blob of the window was read"))
                .collect(),
        )?;
    }
    Ok(())
}

/// The repository's `core.deltaBaseCacheLimit`, or git's default.
fn delta_base_cache(repo: &Repository) -> usize {
    repo.config_snapshot()
        .integer("core.deltaBaseCacheLimit")
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DELTA_BASE_CACHE)
}

/// Read a fragment that no pack index lists: from the loose object folders
/// directly, inflating it once (with the size bound checked on its header
/// first), else through gix, which says why it is missing.
fn read_loose_into(
    repo: &Repository,
    order: &PackOrder,
    blob: &FragmentBlob,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    for store in order.loose() {
        match store.try_find(&blob.id, buf) {
            Ok(Some(data)) if data.kind == gix::objs::Kind::Blob => {
                let actual = blob_id(repo, buf)?;
                if actual != blob.id {
                    return Err(ReadError::Failed(corrupt(blob, actual)));
                }
                return Ok(());
            }
            Ok(None) => continue,
            // Not a blob, or over the bound: gix's path says which.
            _ => break,
        }
    }
    read_fragment_into(repo, blob, buf)
}

fn corrupt(blob: &FragmentBlob, actual: ObjectId) -> Error {
    Error::new(
        ErrorKind::Git,
        format!(
            "object {} of `{}` is corrupt: its content hashes to {actual} (see `git fsck`)",
            blob.id, blob.path
        ),
    )
    .path(&blob.path)
    .blob(blob.id)
}

fn not_a_regular_file(path: &str, kind: EntryKind, id: ObjectId) -> Error {
    Error::new(
        ErrorKind::InvalidTree,
        format!(
            "`{}` is a {} ({id}); the fragments folder holds only regular `<key>.json` files, and nothing else is followed",
            path.escape_debug(),
            describe_kind(kind)
        ),
    )
    .path(path)
    .blob(id)
}

/// Why a fragment blob could not be read: the blob is there and is not a
/// valid fragment, or git could not give us the blob at all. Callers that
/// validate many fragments report the first and stop at the second.
#[derive(Debug)]
pub enum ReadError {
    /// Not a valid fragment ([`ErrorKind::InvalidFragment`]), naming path and blob.
    Invalid(Error),
    /// Missing, corrupt or unreadable, naming path and blob.
    Failed(Error),
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Error {
        match e {
            ReadError::Invalid(e) | ReadError::Failed(e) => e,
        }
    }
}

impl From<Error> for ReadError {
    fn from(e: Error) -> ReadError {
        ReadError::Failed(e)
    }
}

/// Read and parse one fragment blob; errors name its path and blob id.
pub fn read_fragment(repo: &Repository, blob: &FragmentBlob) -> Result<Fragment, ReadError> {
    let mut buf = Vec::new();
    read_fragment_into(repo, blob, &mut buf)?;
    parse_fragment(blob, &buf)
}

/// Parse the bytes of a fragment blob read by [`read_in_pack_order`].
pub fn parse_fragment(blob: &FragmentBlob, data: &[u8]) -> Result<Fragment, ReadError> {
    Fragment::parse(blob.key.clone(), data).map_err(|e| ReadError::Invalid(fragment_error(blob, e)))
}

/// A fragment blob's bytes into `buf`, refused over the size bound before
/// they are loaded, and hashed when loose.
fn read_fragment_into(
    repo: &Repository,
    blob: &FragmentBlob,
    buf: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let header = repo.find_header(blob.id).map_err(|e| {
        Error::git(
            format!(
                "could not read blob {} of `{}`{}",
                blob.id,
                blob.path,
                partial_clone_hint(repo, &e)
            ),
            &e,
        )
        .path(&blob.path)
        .blob(blob.id)
    })?;
    // Refuse before loading: a hostile fragment could be gigabytes.
    let size = header.size() as usize;
    if size > MAX_FRAGMENT_BYTES {
        return Err(ReadError::Invalid(fragment_error(
            blob,
            FragmentError::TooLarge { size },
        )));
    }
    let data = {
        use gix::prelude::FindExt;
        repo.objects.find_blob(&blob.id, buf).map_err(|e| {
            let hint = partial_clone_hint(repo, &e);
            Error::git(
                format!("could not read blob {} of `{}`{hint}", blob.id, blob.path),
                &e,
            )
            .path(&blob.path)
            .blob(blob.id)
        })?;
        &buf[..]
    };
    // gix does not check a loose object's content against its id. A file
    // replaced by another object's bytes would otherwise be read as that
    // other fragment and land in a manifest, blamed on the wrong key. A
    // packed object is found through the pack's index, by its id, so only
    // loose ones are hashed (a clone's fragments are packed: no cost there).
    let loose = matches!(header, gix::odb::find::Header::Loose { .. });
    if loose {
        let actual = blob_id(repo, data)?;
        if actual != blob.id {
            return Err(ReadError::Failed(corrupt(blob, actual)));
        }
    }
    Ok(())
}

/// Wrap a fragment's validation failure with its path and blob id.
pub fn fragment_error(blob: &FragmentBlob, err: FragmentError) -> Error {
    Error::new(
        ErrorKind::InvalidFragment,
        format!("invalid fragment `{}` (blob {}): {err}", blob.path, blob.id),
    )
    .path(&blob.path)
    .blob(blob.id)
}

/// Every fragment of `<dir>/fragments` in `root`, parsed and validated.
pub fn read_fragments(repo: &Repository, root: ObjectId, dir: &str) -> Result<FragmentsRead> {
    let Listing {
        source,
        blobs,
        warnings,
        ..
    } = list_fragment_blobs(repo, root, dir)?.into_valid()?;
    let fragments = blobs
        .iter()
        .map(|b| Ok(read_fragment(repo, b)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(FragmentsRead {
        source,
        fragments,
        warnings,
    })
}
