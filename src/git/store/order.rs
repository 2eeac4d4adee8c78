//! Where each fragment blob lies in the object database, so that many blobs
//! can be read in the order the packs hold them.
//!
//! Reading blobs in tree order from a pack whose delta chains do not follow
//! that order (as `git fast-import` writes them) resolves the same chains
//! again and again: that was 70 % of a full consolidation, in zlib. Sorted by
//! pack and offset, each chain's bases are met while they are still in the
//! delta base cache. The packs' `.idx` files say where each object is; an
//! object in none of them is loose (or missing), and is read last.

use std::path::{Path, PathBuf};

use gix::odb::pack::index;
use gix::{ObjectId, Repository};

/// Where one object lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// In pack number `pack` (this order's numbering) at byte `offset`.
    Packed {
        /// Index into the packs this order found.
        pack: u32,
        /// Byte offset of the object's entry in the pack.
        offset: u64,
    },
    /// In no pack index: loose, in an alternate's loose objects, or missing.
    Elsewhere,
}

/// The pack indices and loose object folders of a repository and its
/// alternates, read once.
pub struct PackOrder {
    packs: Vec<index::File>,
    loose: Vec<gix::odb::loose::Store>,
}

impl PackOrder {
    /// Read the `.idx` files of `objects/pack` of the repository and of each
    /// of its alternates (`objects/info/alternates`). An index that cannot be
    /// read is skipped: its objects are then read as if loose, through gix,
    /// which reports any real failure for the blob concerned.
    pub fn open(repo: &Repository, loose_limit: usize) -> PackOrder {
        let objects = repo.objects.store_ref().path().to_owned();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let mut dirs = vec![objects.clone()];
        // The alternates gix itself follows; unreadable ones are gix's to report.
        dirs.extend(gix::odb::alternate::resolve(objects, &cwd).unwrap_or_default());
        let hash = repo.object_hash();
        let mut packs = Vec::new();
        let mut loose = Vec::new();
        for dir in &dirs {
            packs.extend(pack_indices(&dir.join("pack"), hash));
            loose.push(gix::odb::loose::Store::at_opts(
                dir,
                hash,
                gix::odb::loose::Options {
                    alloc_limit_bytes: Some(loose_limit),
                    ..Default::default()
                },
            ));
        }
        PackOrder { packs, loose }
    }

    /// How many pack indices were read.
    pub fn packs(&self) -> usize {
        self.packs.len()
    }

    /// The loose object folders, the repository's first.
    pub fn loose(&self) -> &[gix::odb::loose::Store] {
        &self.loose
    }

    /// Where each of `ids` lies (the first pack that holds it wins).
    ///
    /// Each pack costs the smaller of scanning its index (one hash lookup
    /// per object it holds) and a fanout-and-binary search per id still
    /// unplaced, so 500 small packs cost about as much as one large one.
    pub fn locate(&self, ids: &[ObjectId]) -> Vec<Location> {
        let mut out = vec![Location::Elsewhere; ids.len()];
        let mut todo: Vec<usize> = (0..ids.len()).collect();
        let mut wanted: Option<std::collections::HashMap<ObjectId, Vec<usize>>> = None;
        for (p, idx) in self.packs.iter().enumerate() {
            if todo.is_empty() {
                break;
            }
            let objects = idx.num_objects() as usize;
            let searches = todo.len() * (usize::BITS - objects.leading_zeros()) as usize;
            if objects < searches {
                let wanted = wanted.get_or_insert_with(|| {
                    let mut map = std::collections::HashMap::with_capacity(ids.len());
                    for &i in &todo {
                        map.entry(ids[i]).or_insert_with(Vec::new).push(i);
                    }
                    map
                });
                for e in 0..idx.num_objects() {
                    if let Some(found) = wanted.remove(idx.oid_at_index(e)) {
                        let offset = idx.pack_offset_at_index(e);
                        for i in found {
                            out[i] = Location::Packed {
                                pack: p as u32,
                                offset,
                            };
                        }
                    }
                }
            } else {
                for &i in &todo {
                    if let Some(e) = idx.lookup(ids[i]) {
                        out[i] = Location::Packed {
                            pack: p as u32,
                            offset: idx.pack_offset_at_index(e),
                        };
                        if let Some(wanted) = &mut wanted {
                            wanted.remove(&ids[i]);
                        }
                    }
                }
            }
            todo.retain(|&i| out[i] == Location::Elsewhere);
        }
        out
    }
}

/// Every readable `*.idx` of a `pack` folder (none when there is none).
fn pack_indices(dir: &Path, hash: gix::hash::Kind) -> Vec<index::File> {
    // Unlisted packs only cost order: their objects are still read, by gix.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| index::File::at(&p, hash).ok())
        .collect()
}
