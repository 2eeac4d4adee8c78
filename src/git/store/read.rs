//! Reading trees and blobs, and comparing a blob with bytes in memory.

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use super::open::config_string;
use super::parts::{Part, Parts};
use crate::error::{Error, Result};

/// The root tree of a commit.
pub fn commit_tree(repo: &Repository, commit: ObjectId) -> Result<ObjectId> {
    let c = repo
        .find_commit(commit)
        .map_err(|e| Error::git(format!("could not read commit {commit}"), &e).commit(commit))?;
    c.tree_id().map(|id| id.detach()).map_err(|e| {
        Error::git(format!("could not read the tree of commit {commit}"), &e).commit(commit)
    })
}

/// The id of the empty tree in this repository's hash.
pub fn empty_tree(repo: &Repository) -> ObjectId {
    ObjectId::empty_tree(repo.object_hash())
}

/// An entry found at a path of a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathEntry {
    /// What kind of entry it is.
    pub kind: EntryKind,
    /// Its object id.
    pub id: ObjectId,
}

/// The entry at `path` (`/`-separated) in `tree`, if any.
pub fn entry_at(repo: &Repository, tree: ObjectId, path: &str) -> Result<Option<PathEntry>> {
    if tree == empty_tree(repo) {
        return Ok(None);
    }
    let t = repo
        .find_tree(tree)
        .map_err(|e| Error::git(format!("could not read tree {tree}"), &e).tree(tree))?;
    let entry = t.lookup_entry(path.split('/')).map_err(|e| {
        Error::git(format!("could not look up `{path}` in tree {tree}"), &e).path(path)
    })?;
    Ok(entry.map(|e| PathEntry {
        kind: e.mode().kind(),
        id: e.object_id(),
    }))
}

/// How often a single blob read that found nothing is tried: `git gc` beside
/// us moves a loose object into a new pack and deletes the loose file, and a
/// look-up that falls between the two finds neither (seen once in a loop of
/// gc, maintenance and 60 writers: a consolidation could not read the
/// manifest the one before it had written). Git rescans its packs on a miss
/// too. The pauses add up to 30 ms, so an object that really is missing is
/// reported almost as fast.
const FIND_ATTEMPTS: u32 = 5;

/// `find`, tried again after a short pause while it finds nothing.
fn found<T>(find: impl FnMut() -> gix::Result<T>) -> gix::Result<T> {
    retried(FIND_ATTEMPTS, gix::Error::is_not_found, find)
}

/// Run `op` up to `attempts` times while it fails as `again` says a busy
/// repository makes it fail, pausing 2, 4, 8, ... ms in between; anything
/// else, or the last failure, is returned.
pub(super) fn retried<T>(
    attempts: u32,
    again: impl Fn(&gix::Error) -> bool,
    mut op: impl FnMut() -> gix::Result<T>,
) -> gix::Result<T> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(e) if attempt < attempts && again(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Read a blob's bytes.
pub fn read_blob(repo: &Repository, id: ObjectId, path: &str) -> Result<Vec<u8>> {
    let mut blob = found(|| repo.find_blob(id)).map_err(|e| {
        let hint = partial_clone_hint(repo, &e);
        Error::git(format!("could not read blob {id} of `{path}`{hint}"), &e)
            .path(path)
            .blob(id)
    })?;
    let mut data = blob.take_data();
    // gix resolves a delta chain in a buffer of twice the object's size or
    // more; a 40 MB manifest would keep 80 MB resident. Give the scratch
    // half back (for a large buffer this is an mremap, not a copy).
    if data.capacity() > data.len() + (1 << 20) {
        data.shrink_to_fit();
    }
    Ok(data)
}

/// The largest `manifest.json` or `index.md` that is ever read whole: 256
/// MiB. A forge refuses a file of 100 MB, and 100,000 fragments make a
/// manifest of about 40 MB. A larger blob is judged by its header alone
/// (docs/format.md, "Limits").
pub const MAX_OUTPUT_BYTES: u64 = 256 << 20;

/// The size of a blob, from its header: nothing is inflated.
pub fn blob_size(repo: &Repository, id: ObjectId, path: &str) -> Result<u64> {
    found(|| repo.find_header(id))
        .map(|h| h.size())
        .map_err(|e| {
            let hint = partial_clone_hint(repo, &e);
            Error::git(format!("could not read blob {id} of `{path}`{hint}"), &e)
                .path(path)
                .blob(id)
        })
}

/// Read a blob's bytes when its header says it is at most `limit` bytes;
/// `None` when it is larger, without inflating it.
pub fn read_blob_at_most(
    repo: &Repository,
    id: ObjectId,
    path: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>> {
    if blob_size(repo, id, path)? > limit {
        return Ok(None);
    }
    read_blob(repo, id, path).map(Some)
}

/// Whether `path` in the tree `root` is a regular blob holding exactly the
/// concatenation of `pieces`. A size that differs answers without hashing;
/// only equal sizes (or a blob this clone lacks, in a blobless clone) are
/// hashed.
pub fn holds(repo: &Repository, root: ObjectId, path: &str, parts: &[Part<'_>]) -> Result<bool> {
    let Some(entry) = entry_at(repo, root, path)? else {
        return Ok(false);
    };
    if entry.kind != EntryKind::Blob {
        return Ok(false);
    }
    let len: u64 = parts.iter().map(Part::len).sum();
    if let Ok(header) = repo.find_header(entry.id) {
        if header.size() != len {
            return Ok(false);
        }
    }
    Ok(hash_pieces(repo, parts)? == entry.id)
}

/// The blob id of the concatenation of `parts`.
pub(super) fn hash_pieces(repo: &Repository, parts: &[Part<'_>]) -> Result<ObjectId> {
    let len: u64 = parts.iter().map(Part::len).sum();
    let mut hasher = gix::hash::hasher(repo.object_hash());
    hasher.update(&gix::objs::encode::loose_header(gix::objs::Kind::Blob, len));
    Parts::for_each(parts, |bytes| hasher.update(bytes))?;
    hasher
        .try_finalize()
        .map_err(|e| Error::git("could not hash a blob", &e))
}

/// For an object missing from a partial clone: why, and what to do. gix
/// reads only local objects; it cannot fetch from the promisor remote.
pub(super) fn partial_clone_hint(repo: &Repository, err: &gix::Error) -> String {
    if !err.is_not_found() {
        return String::new();
    }
    let promisor = config_string(repo, "extensions.partialClone").or_else(|| {
        let config = repo.config_snapshot();
        repo.remote_names()
            .into_iter()
            .map(|name| name.to_string())
            .find(|name| config.boolean(format!("remote.{name}.promisor").as_str()) == Some(true))
    });
    match promisor {
        Some(remote) => format!(
            " (this is a partial clone of `{remote}`, and git-catalogue reads only objects that are here: \
             fetch the fragment blobs first, e.g. `git fetch --refetch --no-filter {remote} <branch>`, \
             or clone without --filter)"
        ),
        None => String::new(),
    }
}

pub(super) fn describe_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Tree => "folder",
        EntryKind::Blob | EntryKind::BlobExecutable => "file",
        EntryKind::Link => "symlink",
        EntryKind::Commit => "submodule",
    }
}
