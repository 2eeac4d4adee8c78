//! The I/O floor of a consolidation, for `bench/consolidate.sh`: the
//! object reads and writes a consolidation cannot avoid, done with gix alone,
//! with no parsing, validation, sorting or rendering. A consolidation's time
//! divided by this one's, both timed as whole processes in the same run, says
//! how far it is from the physical limit of this machine.
//!
//! ```text
//! io_floor full        GIT_DIR COMMIT MANIFEST_BYTES
//! io_floor incremental GIT_DIR COMMIT MANIFEST_BYTES INDEX_BYTES
//! io_floor record      GIT_DIR COMMIT
//! ```
//!
//! - `full`: read every blob of `COMMIT:catalogue/fragments`, then write one
//!   new blob of `MANIFEST_BYTES`, made of the fragment bytes just read (JSON
//!   that compresses like the manifest does).
//! - `incremental`: read the blob `COMMIT:catalogue/manifest.json`, then write
//!   two new blobs of `MANIFEST_BYTES` and `INDEX_BYTES`, made of its bytes.
//! - `record`: read the fragments tree of `COMMIT`, write one new fragment
//!   blob and the fragments tree with it added: what `record` costs beyond
//!   the few small trees and the commit above it.
//!
//! Every written blob starts with a line naming the process and the time, so
//! it is a new object: gix skips writing objects that already exist, and the
//! floor must pay for compressing and storing its bytes. Objects are written
//! with the repository's own settings (`core.looseCompression`), as
//! `git-catalogue` writes them. Prints what it did on stdout.
//!
//! Build and run: `cargo run --release --example io_floor -- full …`; the
//! benchmark runs `target/release/examples/io_floor` directly so cargo's own
//! start-up is not timed.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use gix::objs::tree::{Entry, EntryKind};
use gix::prelude::FindExt;
use gix::{ObjectId, Repository};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, git_dir, commit) = match args.as_slice() {
        [mode, git_dir, commit, ..] => (mode.as_str(), git_dir, commit),
        _ => bail!(
            "usage: io_floor full|incremental|record GIT_DIR COMMIT [MANIFEST_BYTES [INDEX_BYTES]]"
        ),
    };
    let size = |i: usize| -> Result<usize> {
        args.get(i)
            .with_context(|| format!("{mode}: argument {} (a size in bytes) is missing", i + 1))?
            .parse()
            .with_context(|| format!("{mode}: argument {} is not a size in bytes", i + 1))
    };
    let started = Instant::now();
    let repo = gix::open(git_dir).map_err(|e| anyhow!("cannot open {git_dir}: {e:?}"))?;
    let commit = ObjectId::from_hex(commit.as_bytes())
        .with_context(|| format!("{commit} is not a full object id"))?;
    let root = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id())
        .map_err(|e| anyhow!("cannot read commit {commit}: {e:?}"))?
        .detach();
    let report = match mode {
        "full" => full(&repo, root, size(3)?)?,
        "incremental" => incremental(&repo, root, size(3)?, size(4)?)?,
        "record" => record(&repo, root)?,
        other => bail!("unknown mode `{other}`: full, incremental or record"),
    };
    println!(
        "{mode}: {report}, {:.1} ms in process",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Read every fragment blob, write one manifest-sized blob.
fn full(repo: &Repository, root: ObjectId, manifest_bytes: usize) -> Result<String> {
    let fragments = entry(repo, root, "catalogue/fragments")?;
    let tree = repo
        .find_tree(fragments)
        .map_err(|e| anyhow!("cannot read tree {fragments}: {e:?}"))?;
    let mut buf = Vec::new();
    let mut content = nonce();
    let (mut blobs, mut bytes) = (0usize, 0usize);
    for item in tree.iter() {
        let item = item.map_err(|e| anyhow!("cannot decode tree {fragments}: {e:?}"))?;
        if !item.mode().is_blob() {
            continue;
        }
        let blob = repo
            .objects
            .find_blob(item.oid(), &mut buf)
            .map_err(|e| anyhow!("cannot read blob {}: {e:?}", item.oid()))?;
        blobs += 1;
        bytes += blob.data.len();
        if content.len() < manifest_bytes {
            content.extend_from_slice(blob.data);
        }
    }
    let written = write(repo, content, manifest_bytes)?;
    Ok(format!(
        "read {blobs} blobs ({bytes} B), wrote {manifest_bytes} B as {written}"
    ))
}

/// Read the old manifest, write manifest- and index-sized blobs.
fn incremental(
    repo: &Repository,
    root: ObjectId,
    manifest_bytes: usize,
    index_bytes: usize,
) -> Result<String> {
    let manifest = entry(repo, root, "catalogue/manifest.json")?;
    let mut buf = Vec::new();
    let old = repo
        .objects
        .find_blob(&manifest, &mut buf)
        .map_err(|e| anyhow!("cannot read blob {manifest}: {e:?}"))?
        .data;
    let mut m = nonce();
    m.extend_from_slice(old);
    let mut i = nonce();
    i.extend_from_slice(&old[..old.len().min(index_bytes)]);
    let (m_id, i_id) = (
        write(repo, m, manifest_bytes)?,
        write(repo, i, index_bytes)?,
    );
    Ok(format!(
        "read {} B, wrote {manifest_bytes} B as {m_id} and {index_bytes} B as {i_id}",
        old.len()
    ))
}

/// Add one fragment blob to the fragments tree and write that tree.
fn record(repo: &Repository, root: ObjectId) -> Result<String> {
    let fragments = entry(repo, root, "catalogue/fragments")?;
    let tree = repo
        .find_tree(fragments)
        .map_err(|e| anyhow!("cannot read tree {fragments}: {e:?}"))?;
    let mut tree = tree
        .decode()
        .map_err(|e| anyhow!("cannot decode tree {fragments}: {e:?}"))?
        .to_owned();
    let mut fragment = nonce();
    fragment.extend_from_slice(b"{\n  \"issue\": 0,\n  \"artifacts\": []\n}\n");
    let blob = repo
        .write_blob(&fragment)
        .map_err(|e| anyhow!("cannot write a blob: {e:?}"))?
        .detach();
    tree.entries.push(Entry {
        mode: EntryKind::Blob.into(),
        filename: "zz-io-floor.json".into(),
        oid: blob,
    });
    tree.entries.sort();
    let id = repo
        .write_object(&tree)
        .map_err(|e| anyhow!("cannot write a tree: {e:?}"))?;
    Ok(format!(
        "wrote a fragments tree of {} entries as {id}",
        tree.entries.len()
    ))
}

/// The object at `path` under the tree `root`.
fn entry(repo: &Repository, root: ObjectId, path: &str) -> Result<ObjectId> {
    let tree = repo
        .find_tree(root)
        .map_err(|e| anyhow!("cannot read tree {root}: {e:?}"))?;
    let found = tree
        .lookup_entry_by_path(path)
        .map_err(|e| anyhow!("cannot look up {path}: {e:?}"))?;
    Ok(found
        .with_context(|| format!("{path} is not in tree {root}"))?
        .object_id())
}

/// A first line no other run writes, so every written object is new.
fn nonce() -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("io-floor {} {nanos}\n", std::process::id()).into_bytes()
}

/// Write `content`, cut or repeated to exactly `len` bytes, as a blob.
fn write(repo: &Repository, mut content: Vec<u8>, len: usize) -> Result<ObjectId> {
    if content.is_empty() {
        content.push(b'\n');
    }
    let mut i = 0;
    while content.len() < len {
        content.push(content[i]);
        i += 1;
    }
    content.truncate(len);
    Ok(repo
        .write_blob(&content)
        .map_err(|e| anyhow!("cannot write a blob: {e:?}"))?
        .detach())
}
