//! Writing blobs, trees and commits. Nothing here moves a ref.

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use super::parts::{Part, Parts};
use super::read::{describe_kind, empty_tree, entry_at, hash_pieces, retried};
use crate::error::{Error, ErrorKind, Result};
use crate::git::signals;

/// How often one object write is tried when the file system answers as a
/// busy repository does (see [`persisting`]).
const PERSIST_ATTEMPTS: u32 = 6;

/// Run one object write, again when it failed transiently. gix creates
/// `objects/XX/` and then renames the finished temporary file into it; a
/// `git prune-packed` or `git gc` running beside it removes an empty
/// `objects/XX/` in between, and the rename fails with `ENOENT` (an
/// `EEXIST` is the same race seen from the other side). Each retry creates
/// the folder anew; the pauses (2, 4, 8, 16, 32 ms) let the maintenance
/// step finish. Anything else, or the same failure six times, is returned.
fn persisting<T>(write: impl FnMut() -> gix::Result<T>) -> gix::Result<T> {
    retried(PERSIST_ATTEMPTS, is_transient, write)
}

/// Whether a write failed on a file or folder that vanished or appeared
/// under it, as maintenance running beside it causes.
fn is_transient(e: &gix::Error) -> bool {
    e.downcast_any_ref::<std::io::Error>().is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::AlreadyExists
        )
    })
}

/// Write the concatenation of `pieces` as a blob without joining them:
/// hashed, then compressed piece by piece (nothing is written when the
/// object exists).
pub fn write_pieces(repo: &Repository, parts: &[Part<'_>], path: &str) -> Result<ObjectId> {
    let id = hash_pieces(repo, parts)?;
    if repo.has_object(id) {
        return Ok(id);
    }
    let len: u64 = parts.iter().map(Part::len).sum();
    use gix::objs::Write as _;
    // Held: a signal mid-write would leave `objects/.tmpXXXXXX` (see `crate::git::signals`).
    persisting(|| {
        let mut reader = Parts::new(parts);
        signals::held(|| {
            repo.objects
                .write_stream_with_known_id(gix::objs::Kind::Blob, len, &mut reader, id)
        })
    })
    .map_err(|e| Error::git(format!("could not write blob {id} of `{path}`"), &e).path(path))
}

/// Write a blob, returning its id (a no-op when it already exists).
pub fn write_blob(repo: &Repository, data: &[u8], path: &str) -> Result<ObjectId> {
    // Held: a signal mid-write would leave `objects/.tmpXXXXXX` (see `crate::git::signals`).
    persisting(|| signals::held(|| repo.write_blob(data)).map(|id| id.detach()))
        .map_err(|e| Error::git(format!("could not write the blob for `{path}`"), &e).path(path))
}

/// Write the open file `file` as a blob of exactly `size` bytes, streamed
/// from the start of the file through the compressor: memory stays small
/// whatever the size. A file that grew or shrank since `size` was taken is
/// an error, so the blob is always what its header says.
pub fn write_file(
    repo: &Repository,
    file: &std::fs::File,
    size: u64,
    path: &str,
) -> Result<ObjectId> {
    use std::io::{Read as _, Seek as _};
    let io_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("could not read the file for `{path}`: {e}"),
        )
        .path(path)
    };
    let mut handle = file.try_clone().map_err(io_error)?;
    use gix::objs::Write as _;
    // Each try streams the file again from its start.
    let mut rewind_error = None;
    let id = persisting(|| {
        if let Err(e) = handle.seek(std::io::SeekFrom::Start(0)) {
            rewind_error = Some(e);
            return Err(gix::Error::from_error(std::io::Error::other(
                "could not rewind",
            )));
        }
        let mut exact = Exact {
            inner: (&handle).take(size),
            left: size,
        };
        // Held: a signal mid-write would leave `objects/.tmpXXXXXX` (see `crate::git::signals`).
        signals::held(|| {
            repo.objects
                .write_stream(gix::objs::Kind::Blob, size, &mut exact)
        })
    });
    if let Some(e) = rewind_error {
        return Err(io_error(e));
    }
    let id = id
        .map_err(|e| Error::git(format!("could not write the blob for `{path}`"), &e).path(path))?;
    let mut more = [0u8; 1];
    if (&handle).read(&mut more).map_err(io_error)? != 0 {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the file for `{path}` grew while it was read; nothing was committed"),
        )
        .path(path));
    }
    Ok(id)
}

/// A reader that must give exactly the bytes it was told of.
struct Exact<R> {
    inner: std::io::Take<R>,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
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
                .path(long));
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
                .path(path));
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
    let _held = signals::Held::new();
    for change in changes {
        crate::core::path::validate_path(&change.path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidPath,
                format!("cannot write `{}`: {e}", change.path.escape_debug()),
            )
            .path(&change.path)
        })?;
    }
    let root: gix::objs::Tree = if base == empty_tree(repo) {
        gix::objs::Tree::empty()
    } else {
        let tree = repo
            .find_tree(base)
            .map_err(|e| Error::git(format!("could not read tree {base}"), &e).tree(base))?;
        tree.decode()
            .map_err(|e| Error::git(format!("could not decode tree {base}"), &e).tree(base))?
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
                .path(&change.path)
            })?;
    }
    editor
        .write(|tree| persisting(|| repo.write_object(tree).map(|id| id.detach())))
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
    persisting(|| signals::held(|| repo.write_object(&commit)).map(|id| id.detach()))
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
