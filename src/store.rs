//! The git object layer, on gix: open the repository, read the fragments of a
//! tree, and write blobs, trees and commits.
//!
//! Nothing here moves a ref (that is [`crate::publish`]) and nothing here
//! decides what a fragment means (that is [`crate::fragment`]). Functions that
//! read git return plain data; every gix failure is wrapped once, here, into
//! [`Error`] naming the object or path involved.

use std::path::Path;

use gix::{bstr::ByteSlice, objs::tree::EntryKind, refs::FullName, ObjectId, Repository};

use crate::{
    error::{Error, ErrorKind, Result},
    fragment::{Fragment, FragmentError, FragmentKey, MAX_FRAGMENT_BYTES},
};

/// The identity used when neither git config nor the environment names one,
/// as in a bare CI clone. Documented in README.md.
pub const FALLBACK_NAME: &str = "git-catalogue";
/// See [`FALLBACK_NAME`].
pub const FALLBACK_EMAIL: &str = "git-catalogue@localhost";

/// How long a held ref lock is waited for, unless git config says otherwise.
/// gix's own default (100 ms) is shorter than one busy writer holds
/// `packed-refs.lock` under the load CONTRACT §3 promises to survive.
const DEFAULT_LOCK_TIMEOUT_MS: &str = "3000";

/// Open the repository the way git finds it: `GIT_DIR` and friends first,
/// else discovery upwards from `cwd` (which must be absolute; see the gix notes, P3).
pub fn open(cwd: &Path) -> Result<Repository> {
    let mut repo = gix::discover_with_environment_overrides(cwd).map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "not a git repository (or any parent up to the root): {}: {}",
                cwd.display(),
                crate::error::describe_gix(&e)
            ),
        )
        .with("path", cwd.display())
    })?;
    configure(&mut repo)?;
    Ok(repo)
}

/// In-memory settings every command needs: the fallback identity (applies only
/// where nothing is configured) and lock timeouts (only where unset).
fn configure(repo: &mut Repository) -> Result<()> {
    use gix::config::tree::{gitoxide, Core};
    let snapshot = repo.config_snapshot();
    let unset = |key: &str| snapshot.string(key).is_none();
    let files_unset = unset("core.filesRefLockTimeout");
    let packed_unset = unset("core.packedRefsTimeout");
    let mut config = repo.config_snapshot_mut();
    let set = |config: &mut gix::config::SnapshotMut<'_>, key, value: &str| {
        config
            .set_value(key, value)
            .map(|_| ())
            .map_err(|e| Error::git("could not set in-memory git config", &e))
    };
    set(
        &mut config,
        &gitoxide::Committer::NAME_FALLBACK,
        FALLBACK_NAME,
    )?;
    set(
        &mut config,
        &gitoxide::Committer::EMAIL_FALLBACK,
        FALLBACK_EMAIL,
    )?;
    set(&mut config, &gitoxide::Author::NAME_FALLBACK, FALLBACK_NAME)?;
    set(
        &mut config,
        &gitoxide::Author::EMAIL_FALLBACK,
        FALLBACK_EMAIL,
    )?;
    if files_unset {
        set(
            &mut config,
            &Core::FILES_REF_LOCK_TIMEOUT,
            DEFAULT_LOCK_TIMEOUT_MS,
        )?;
    }
    if packed_unset {
        set(
            &mut config,
            &Core::PACKED_REFS_TIMEOUT,
            DEFAULT_LOCK_TIMEOUT_MS,
        )?;
    }
    config
        .commit()
        .map_err(|e| Error::git("could not apply in-memory git config", &e))?;
    Ok(())
}

/// A git config string, if set.
pub fn config_string(repo: &Repository, key: &str) -> Option<String> {
    repo.config_snapshot()
        .string(key)
        .map(|v| v.to_str_lossy().into_owned())
}

/// The object a ref points to directly, or `None` when it does not exist.
pub fn ref_target(repo: &Repository, name: &FullName) -> Result<Option<ObjectId>> {
    let reference = repo
        .try_find_reference(name.as_ref())
        .map_err(|e| Error::git(format!("could not read ref {name}"), &e).with("ref", name))?;
    match reference {
        None => Ok(None),
        Some(r) => match r.try_id() {
            Some(id) => Ok(Some(id.detach())),
            None => Err(Error::new(
                ErrorKind::Git,
                format!("ref {name} is symbolic; git-catalogue only moves direct refs"),
            )
            .with("ref", name)),
        },
    }
}

/// The commit to build on for `branch`: its tip, or `None` when HEAD names
/// the branch and it has no commit yet (the first record creates
/// it). A missing branch anywhere else is an error, so a mistyped `--branch`
/// cannot start an unrelated history.
pub fn branch_base(repo: &Repository, branch: &FullName) -> Result<Option<ObjectId>> {
    if let Some(tip) = ref_target(repo, branch)? {
        return Ok(Some(tip));
    }
    let head = repo
        .head()
        .map_err(|e| Error::git("could not read HEAD", &e))?;
    if head.is_unborn() && head.referent_name() == Some(branch.as_ref()) {
        return Ok(None);
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!("branch {branch} does not exist (check --branch or catalogue.branch)"),
    )
    .with("ref", branch))
}

/// Resolve a revision the way git does (`main~2`, a hex id, a tag) to a commit.
pub fn resolve_commit(repo: &Repository, rev: &str) -> Result<ObjectId> {
    let id = repo.rev_parse_single(rev).map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "revision `{rev}` not found: {}",
                crate::error::describe_gix(&e)
            ),
        )
        .with("commit", rev)
    })?;
    let object = id
        .object()
        .map_err(|e| Error::git(format!("could not read object {id}"), &e).with("commit", id))?;
    let commit = object.peel_to_commit().map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "revision `{rev}` is not a commit: {}",
                crate::error::describe_gix(&e)
            ),
        )
        .with("commit", rev)
    })?;
    Ok(commit.id)
}

/// The root tree of a commit.
pub fn commit_tree(repo: &Repository, commit: ObjectId) -> Result<ObjectId> {
    let c = repo.find_commit(commit).map_err(|e| {
        Error::git(format!("could not read commit {commit}"), &e).with("commit", commit)
    })?;
    c.tree_id().map(|id| id.detach()).map_err(|e| {
        Error::git(format!("could not read the tree of commit {commit}"), &e).with("commit", commit)
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
        .map_err(|e| Error::git(format!("could not read tree {tree}"), &e).with("tree", tree))?;
    let entry = t.lookup_entry(path.split('/')).map_err(|e| {
        Error::git(format!("could not look up `{path}` in tree {tree}"), &e).with("path", path)
    })?;
    Ok(entry.map(|e| PathEntry {
        kind: e.mode().kind(),
        id: e.object_id(),
    }))
}

/// Read a blob's bytes.
pub fn read_blob(repo: &Repository, id: ObjectId, path: &str) -> Result<Vec<u8>> {
    let mut blob = repo.find_blob(id).map_err(|e| {
        let hint = partial_clone_hint(repo, &e);
        Error::git(format!("could not read blob {id} of `{path}`{hint}"), &e)
            .with("path", path)
            .with("blob", id)
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
    /// Entries that break CONTRACT §1, each an error naming its path.
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
/// CONTRACT §1: other regular files are skipped with a warning; a symlink,
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
            .with("path", &folder)
            .with("blob", entry.id),
        );
        return Ok(listing);
    }
    listing.source = entry.id;
    let tree = repo.find_tree(entry.id).map_err(|e| {
        Error::git(
            format!("could not read tree {} of `{folder}`", entry.id),
            &e,
        )
        .with("path", &folder)
        .with("tree", entry.id)
    })?;
    for item in tree.iter() {
        let item = item.map_err(|e| {
            Error::git(
                format!("could not decode tree {} of `{folder}`", entry.id),
                &e,
            )
            .with("path", &folder)
            .with("tree", entry.id)
        })?;
        let name = item.filename().to_str_lossy();
        match classify_entry(&folder, &name, item.mode().kind(), item.object_id()) {
            Entry::Fragment(blob) => listing.blobs.push(blob),
            Entry::Ignored(warning) => listing.warnings.push(warning),
            Entry::Problem(e) => listing.problems.push(e),
        }
    }
    Ok(listing)
}

/// What one entry of the fragments folder is (CONTRACT §1).
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
                .with("path", &path)
                .with("key", stem),
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
    /// Entries that break CONTRACT §1 (changed or not).
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
                .with("path", folder)
                .with("tree", id)
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
                    .with("path", folder)
                    .with("tree", id)
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

/// Read and parse fragment blobs in batches of `batch`, run `work` on each
/// batch, and hand the results to `each` in the order of `blobs`.
///
/// Two threads share the batches (this machine class has two cores, and
/// inflating, parsing and rendering 100,000 fragments is the bulk of a full
/// consolidation), each fragment is dropped on the thread that parsed it,
/// and `each` runs here. The first error in the order of `blobs` is
/// returned, whichever thread met it.
pub fn map_fragments<T: Send>(
    repo: &Repository,
    blobs: &[FragmentBlob],
    batch: usize,
    work: impl Fn(Vec<Fragment>) -> T + Sync,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    const WORKERS: usize = 2;
    let chunks: Vec<&[FragmentBlob]> = blobs.chunks(batch.max(1)).collect();
    std::thread::scope(|scope| {
        let mut results = Vec::with_capacity(WORKERS);
        for w in 0..WORKERS {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<T>>(4);
            results.push(rx);
            let reader = repo.clone();
            let (chunks, work) = (&chunks, &work);
            scope.spawn(move || {
                for chunk in chunks.iter().skip(w).step_by(WORKERS) {
                    let read: Result<Vec<Fragment>> =
                        chunk.iter().map(|b| read_fragment(&reader, b)).collect();
                    let out = read.map(work);
                    let failed = out.is_err();
                    if tx.send(out).is_err() || failed {
                        break;
                    }
                }
            });
        }
        for i in 0..chunks.len() {
            let out = results[i % WORKERS].recv().map_err(|_| {
                Error::new(ErrorKind::Git, "a fragment reader stopped before its batch")
            })??;
            each(out)?;
        }
        Ok(())
    })
}

fn describe_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Tree => "folder",
        EntryKind::Blob | EntryKind::BlobExecutable => "file",
        EntryKind::Link => "symlink",
        EntryKind::Commit => "submodule",
    }
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
    .with("path", path)
    .with("blob", id)
}

/// Read and parse one fragment blob; errors name its path and blob id.
pub fn read_fragment(repo: &Repository, blob: &FragmentBlob) -> Result<Fragment> {
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
        .with("path", &blob.path)
        .with("blob", blob.id)
    })?;
    // Refuse before loading: a hostile fragment could be gigabytes.
    let size = header.size() as usize;
    let data = if size > MAX_FRAGMENT_BYTES {
        return Err(fragment_error(blob, FragmentError::TooLarge { size }));
    } else {
        read_blob(repo, blob.id, &blob.path)?
    };
    // gix does not check a loose object's content against its id. A file
    // replaced by another object's bytes would otherwise be read as that
    // other fragment and land in a manifest, blamed on the wrong key. A
    // packed object is found through the pack's index, by its id, so only
    // loose ones are hashed (a clone's fragments are packed: no cost there).
    let loose = matches!(header, gix::odb::find::Header::Loose { .. });
    if loose && blob_id(repo, &data)? != blob.id {
        let actual = blob_id(repo, &data)?;
        return Err(Error::new(
            ErrorKind::Git,
            format!(
                "object {} of `{}` is corrupt: its content hashes to {actual} (see `git fsck`)",
                blob.id, blob.path
            ),
        )
        .with("path", &blob.path)
        .with("blob", blob.id));
    }
    Fragment::parse(blob.key.clone(), &data).map_err(|e| fragment_error(blob, e))
}

/// For an object missing from a partial clone: why, and what to do. gix
/// reads only local objects; it cannot fetch from the promisor remote.
fn partial_clone_hint(repo: &Repository, err: &gix::Error) -> String {
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

/// Wrap a fragment's validation failure with its path and blob id.
pub fn fragment_error(blob: &FragmentBlob, err: FragmentError) -> Error {
    Error::new(
        ErrorKind::InvalidFragment,
        format!("invalid fragment `{}` (blob {}): {err}", blob.path, blob.id),
    )
    .with("path", &blob.path)
    .with("blob", blob.id)
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
        .map(|b| read_fragment(repo, b))
        .collect::<Result<Vec<_>>>()?;
    Ok(FragmentsRead {
        source,
        fragments,
        warnings,
    })
}

/// Whether `path` in the tree `root` is a regular blob holding exactly the
/// concatenation of `pieces`. A size that differs answers without hashing;
/// only equal sizes (or a blob this clone lacks, in a blobless clone) are
/// hashed.
pub fn holds(repo: &Repository, root: ObjectId, path: &str, pieces: &[&[u8]]) -> Result<bool> {
    let Some(entry) = entry_at(repo, root, path)? else {
        return Ok(false);
    };
    if entry.kind != EntryKind::Blob {
        return Ok(false);
    }
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    if let Ok(header) = repo.find_header(entry.id) {
        if header.size() != len as u64 {
            return Ok(false);
        }
    }
    Ok(hash_pieces(repo, pieces)? == entry.id)
}

/// The blob id of the concatenation of `pieces`.
fn hash_pieces(repo: &Repository, pieces: &[&[u8]]) -> Result<ObjectId> {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut hasher = gix::hash::hasher(repo.object_hash());
    hasher.update(&gix::objs::encode::loose_header(
        gix::objs::Kind::Blob,
        len as u64,
    ));
    for piece in pieces {
        hasher.update(piece);
    }
    hasher
        .try_finalize()
        .map_err(|e| Error::git("could not hash a blob", &e))
}

/// Write the concatenation of `pieces` as a blob without joining them:
/// hashed, then compressed piece by piece (nothing is written when the
/// object exists).
pub fn write_pieces(repo: &Repository, pieces: &[&[u8]], path: &str) -> Result<ObjectId> {
    let id = hash_pieces(repo, pieces)?;
    if repo.has_object(id) {
        return Ok(id);
    }
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut reader = Pieces { pieces, at: 0 };
    use gix::objs::Write as _;
    // Held: a signal mid-write would leave `objects/.tmpXXXXXX` (see `crate::signals`).
    crate::signals::held(|| {
        repo.objects
            .write_stream_with_known_id(gix::objs::Kind::Blob, len as u64, &mut reader, id)
    })
    .map_err(|e| {
        Error::git(format!("could not write blob {id} of `{path}`"), &e).with("path", path)
    })
}

/// A reader over pieces of bytes, in order.
struct Pieces<'p> {
    pieces: &'p [&'p [u8]],
    at: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(first) = self.pieces.first() {
            if self.at < first.len() {
                let n = buf.len().min(first.len() - self.at);
                buf[..n].copy_from_slice(&first[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            self.pieces = &self.pieces[1..];
            self.at = 0;
        }
        Ok(0)
    }
}

/// Write a blob, returning its id (a no-op when it already exists).
pub fn write_blob(repo: &Repository, data: &[u8], path: &str) -> Result<ObjectId> {
    // Held: a signal mid-write would leave `objects/.tmpXXXXXX` (see `crate::signals`).
    crate::signals::held(|| repo.write_blob(data))
        .map(|id| id.detach())
        .map_err(|e| {
            Error::git(format!("could not write the blob for `{path}`"), &e).with("path", path)
        })
}

/// The id `data` would have as a blob, without writing it.
pub fn blob_id(repo: &Repository, data: &[u8]) -> Result<ObjectId> {
    gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, data)
        .map_err(|e| Error::new(ErrorKind::Git, format!("could not hash a blob: {e}")))
}

/// One file to put into a tree.
#[derive(Clone, Debug)]
pub struct TreeChange {
    /// Repository-relative, `/`-separated, already validated.
    pub path: String,
    /// `Blob` or `BlobExecutable`.
    pub kind: EntryKind,
    /// An existing blob.
    pub id: ObjectId,
}

/// Refuse `paths` that cannot all become files of `base`: the gix editor
/// would silently turn a file into a folder (or the reverse) where one path
/// crosses another or crosses an entry of `base`. Run it before writing any
/// object, so bad input writes nothing.
pub fn check_placement(repo: &Repository, base: ObjectId, paths: &[&str]) -> Result<()> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            if short == long || long.starts_with(&format!("{short}/")) {
                return Err(Error::new(
                    ErrorKind::InvalidPath,
                    format!("`{short}` and `{long}` cannot both be files of one commit"),
                )
                .with("path", long));
            }
        }
    }
    for path in paths {
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for (i, part) in components.iter().enumerate() {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let last = i + 1 == components.len();
            let Some(existing) = entry_at(repo, base, &prefix)? else {
                break;
            };
            let clash = if last {
                matches!(existing.kind, EntryKind::Tree | EntryKind::Commit)
            } else {
                existing.kind != EntryKind::Tree
            };
            if clash {
                return Err(Error::new(
                    ErrorKind::InvalidPath,
                    format!(
                        "cannot write `{path}`: `{prefix}` is a {} in the base tree {base}",
                        describe_kind(existing.kind)
                    ),
                )
                .with("path", path));
            }
        }
    }
    Ok(())
}

/// `base` with `changes` applied; only the trees on the changed paths are
/// rebuilt. Callers run [`check_placement`] first.
///
/// This is gix's plumbing editor, not `Repository::edit_tree`: that one
/// checks that every entry of every tree it writes exists, which costs a
/// lookup per fragment (O(catalogue) for a one-fragment record) and fails in
/// a blobless clone, which lacks the other fragments' blobs by design. The
/// paths written here are validated instead, as git would validate them.
pub fn write_tree(repo: &Repository, base: ObjectId, changes: &[TreeChange]) -> Result<ObjectId> {
    let _held = crate::signals::Held::new();
    for change in changes {
        crate::fragment::validate_path(&change.path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidPath,
                format!("cannot write `{}`: {e}", change.path.escape_debug()),
            )
            .with("path", &change.path)
        })?;
    }
    let root: gix::objs::Tree = if base == empty_tree(repo) {
        gix::objs::Tree::empty()
    } else {
        let tree = repo.find_tree(base).map_err(|e| {
            Error::git(format!("could not read tree {base}"), &e).with("tree", base)
        })?;
        tree.decode()
            .map_err(|e| {
                Error::git(format!("could not decode tree {base}"), &e).with("tree", base)
            })?
            .into()
    };
    let mut editor = gix::objs::tree::Editor::new(root, &repo.objects, repo.object_hash());
    for change in changes {
        editor
            .upsert(change.path.split('/'), change.kind, change.id)
            .map_err(|e| {
                Error::git(
                    format!("could not place `{}` in tree {base}", change.path),
                    &e,
                )
                .with("path", &change.path)
            })?;
    }
    editor
        .write(|tree| repo.write_object(tree).map(|id| id.detach()))
        .map_err(|e| Error::git(format!("could not write the tree edited from {base}"), &e))
}

/// Write a commit of `tree` on `parents`, authored and committed by the
/// configured identity (or the fallback).
pub fn write_commit(
    repo: &Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    message: &str,
) -> Result<ObjectId> {
    let author = identity(repo.author(), "author")?;
    let committer = identity(repo.committer(), "committer")?;
    let commit = gix::objs::Commit {
        tree,
        parents: parents.to_vec().into(),
        author,
        committer,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    crate::signals::held(|| repo.write_object(&commit))
        .map(|id| id.detach())
        .map_err(|e| Error::git(format!("could not write a commit of tree {tree}"), &e))
}

fn identity(
    sig: Option<gix::Result<gix::actor::SignatureRef<'_>>>,
    role: &str,
) -> Result<gix::actor::Signature> {
    let sig = sig
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Git,
                format!("no {role} identity, not even the fallback"),
            )
        })?
        .map_err(|e| {
            Error::git(
                format!(
                    "the {role} identity is invalid (check GIT_{}_DATE)",
                    role.to_uppercase()
                ),
                &e,
            )
        })?;
    sig.to_owned().map_err(|e| {
        Error::new(
            ErrorKind::Git,
            format!("the {role} identity is invalid: {e}"),
        )
    })
}
