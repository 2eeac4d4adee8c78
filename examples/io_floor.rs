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
use git_catalogue::git::store::PackOrder;
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
///
/// Read as git-catalogue reads them (`map_fragments`): in windows of 8,192
/// sorted by pack and offset (`PackOrder`), loose ones last, on two threads
/// with a delta base cache of 8 MiB each (git-catalogue's default of 16
/// MiB in all).
fn full(repo: &Repository, root: ObjectId, manifest_bytes: usize) -> Result<String> {
    const WINDOW: usize = 8192;
    const WORKERS: usize = 2;
    let fragments = entry(repo, root, "catalogue/fragments")?;
    let tree = repo
        .find_tree(fragments)
        .map_err(|e| anyhow!("cannot read tree {fragments}: {e:?}"))?;
    let mut ids = Vec::new();
    for item in tree.iter() {
        let item = item.map_err(|e| anyhow!("cannot decode tree {fragments}: {e:?}"))?;
        if item.mode().is_blob() {
            ids.push(item.object_id());
        }
    }
    let order = PackOrder::open(repo, usize::MAX);
    let places = order.locate(&ids);
    let cache = (16 << 20) / WORKERS;
    let mut readers: Vec<Repository> = (0..WORKERS)
        .map(|_| {
            let mut r = repo.clone();
            r.objects.set_pack_cache(move || {
                Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(cache))
            });
            r
        })
        .collect();
    let mut content = nonce();
    let (mut blobs, mut bytes) = (0usize, 0usize);
    for start in (0..ids.len()).step_by(WINDOW) {
        let end = (start + WINDOW).min(ids.len());
        let mut sorted: Vec<usize> = (start..end).collect();
        sorted.sort_by_key(|&i| (places[i], i));
        let half = sorted.len().div_ceil(WORKERS).max(1);
        // Each reader appends to one buffer of its own, as the tool does.
        type Spans = Vec<(usize, std::ops::Range<usize>)>;
        let read: Vec<Result<(Vec<u8>, Spans)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = readers
                .iter_mut()
                .zip(sorted.chunks(half))
                .map(|(reader, mine)| {
                    let ids = &ids;
                    scope.spawn(move || {
                        let (mut arena, mut buf, mut spans) = (Vec::new(), Vec::new(), Vec::new());
                        for &i in mine {
                            let blob = reader
                                .objects
                                .find_blob(&ids[i], &mut buf)
                                .map_err(|e| anyhow!("cannot read blob {}: {e:?}", ids[i]))?;
                            let from = arena.len();
                            arena.extend_from_slice(blob.data);
                            spans.push((i, from..arena.len()));
                        }
                        Ok((arena, spans))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a reader panicked"))
                .collect()
        });
        let read = read.into_iter().collect::<Result<Vec<_>>>()?;
        let mut window: Vec<Option<&[u8]>> = (start..end).map(|_| None).collect();
        for (arena, spans) in &read {
            for (i, span) in spans {
                window[i - start] = Some(&arena[span.clone()]);
            }
        }
        // Handed on in tree order, as the tool renders them.
        for data in window.into_iter().flatten() {
            blobs += 1;
            bytes += data.len();
            if content.len() < manifest_bytes {
                content.extend_from_slice(data);
            }
        }
    }
    let written = write(repo, content, manifest_bytes)?;
    Ok(format!(
        "read {blobs} blobs ({bytes} B) from {} pack(s), wrote {manifest_bytes} B as {written}",
        order.packs()
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
