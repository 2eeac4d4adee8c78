//! The pure half of `repair`: parse manifest versions and classify every
//! artifact path that was ever present, from a version graph built elsewhere.
//!
//! It exists apart from the git reading (`history/mod.rs`) so the rules of
//! linear overwrite vs deletion, lost in merge, bridging of
//! invalid versions, last drop wins — are tested on hand-built graphs without
//! a repository.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use serde_json::{Map, Value};

pub use super::versions::Entries;

/// What a commit's manifest says.
#[derive(Clone, Debug, PartialEq)]
pub enum Version {
    /// A parsed version (no manifest file at all is the empty set).
    Valid(Arc<Entries>),
    /// Not valid JSON: says nothing, bridged by its valid ancestors.
    Invalid,
}

fn get(entries: &Entries, path: u32) -> Option<u32> {
    entries
        .binary_search_by_key(&path, |e| e.0)
        .ok()
        .map(|i| entries[i].1)
}

fn has(entries: &Entries, path: u32) -> bool {
    get(entries, path).is_some()
}

/// The paths of `parent` missing from `here`, and whether `here` has any
/// path `parent` lacks: one merge walk of the two sorted lists.
fn difference(parent: &Entries, here: &Entries) -> (Vec<u32>, bool) {
    let (mut i, mut j) = (0, 0);
    let mut removed = Vec::new();
    let mut added = false;
    while i < parent.len() || j < here.len() {
        match (parent.get(i), here.get(j)) {
            (Some(p), Some(h)) if p.0 == h.0 => {
                i += 1;
                j += 1;
            }
            (Some(p), Some(h)) if p.0 < h.0 => {
                removed.push(p.0);
                i += 1;
            }
            (Some(p), None) => {
                removed.push(p.0);
                i += 1;
            }
            _ => {
                added = true;
                j += 1;
            }
        }
    }
    (removed, added)
}

/// The issue number an entry carries: a positive integer or its string.
pub fn entry_issue(entry: &Map<String, Value>) -> Option<u64> {
    let n = match entry.get("issue")? {
        Value::Number(n) => n.to_string().parse::<u64>().ok()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    (n > 0).then_some(n)
}

/// The recovery fragment key of an entry: `issue-<N>` (or
/// `issue-<N>-recovered` when `issue-<N>` exists at the tip), else
/// `recovered-<short>` where `short` abbreviates the commit that dropped it
/// (the tip for entries still in its manifest).
pub fn recovery_key(issue: Option<u64>, tip_has: impl Fn(&str) -> bool, short: &str) -> String {
    match issue {
        Some(n) if tip_has(&format!("issue-{n}")) => format!("issue-{n}-recovered"),
        Some(n) => format!("issue-{n}"),
        None => format!("recovered-{short}"),
    }
}

/// How an entry came to be missing (or not) at the tip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// In the tip's fragments.
    Present,
    /// In the tip's manifest without a fragment.
    Migrated,
    /// Added on a merge's side and dropped by the merge.
    LostInMerge,
    /// Removed by a commit that also added entries.
    Overwritten,
    /// Removed by a commit that only removed entries, and not a
    /// consolidation dropping an entry no fragment ever backed.
    Deleted,
}

impl Class {
    /// The name `--json` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Present => "present",
            Class::Migrated => "migrated",
            Class::LostInMerge => "lost_in_merge",
            Class::Overwritten => "overwritten",
            Class::Deleted => "deleted",
        }
    }
}

/// A commit of the graph; `parents` are indices of earlier nodes.
#[derive(Clone, Debug)]
pub struct Node {
    /// Indices of the parents (all of them, in commit order).
    pub parents: Vec<usize>,
    /// Its version.
    pub version: Version,
    /// Whether this commit is a git-catalogue consolidation: it wrote the
    /// manifest from its fragments (a `source` naming its fragments tree).
    /// An entry such a commit dropped without any fragment having backed
    /// it was not deleted by anyone: the consolidation never knew of it.
    pub consolidation: bool,
}

/// The verdict for one path that is not in the tip's fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Its class (never `Present`).
    pub class: Class,
    /// The node that last had the entry.
    pub last_seen: usize,
    /// The node that dropped it: None for an entry still in the tip's
    /// manifest; for one a consolidation dropped, that consolidation.
    pub dropped_by: Option<usize>,
    /// The entry as last seen.
    pub entry: u32,
}

/// Classify every path ever present and absent from the tip's fragments
/// (`in_fragments`). `nodes` must be topologically ordered (parents before
/// children), `tip` is the branch tip's index, and `merge_base` gives the
/// merge base of two nodes (None when unrelated). `backed` says whether an
/// entry (by entry id) was built from a fragment, as a git-catalogue
/// manifest's entries are. Keys are path ids.
///
/// A removal by a commit that only removed entries is `Deleted`, unless the
/// commit is a consolidation ([`Node::consolidation`]) and the entry was not
/// backed by a fragment in the version it was dropped from: then it is a
/// legacy entry the adoption never migrated, and it is `Migrated`.
pub fn classify(
    nodes: &[Node],
    tip: usize,
    in_fragments: impl Fn(u32) -> bool,
    backed: impl Fn(u32) -> bool,
    mut merge_base: impl FnMut(usize, usize) -> Option<usize>,
) -> BTreeMap<u32, Verdict> {
    // Bridging: each node's nearest valid ancestors (itself when valid).
    let mut eff: Vec<Vec<usize>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let set = match node.version {
            Version::Valid(_) => vec![i],
            Version::Invalid => {
                let mut v: Vec<usize> = Vec::new();
                for &p in &node.parents {
                    if let Some(e) = eff.get(p) {
                        for &x in e {
                            if !v.contains(&x) {
                                v.push(x);
                            }
                        }
                    }
                }
                v
            }
        };
        eff.push(set);
    }
    let empty = Entries::new();
    let entries = |i: usize| -> &Entries {
        match nodes.get(i).map(|n| &n.version) {
            Some(Version::Valid(e)) => e.as_ref(),
            _ => &empty,
        }
    };
    // path -> (class, last seen, dropped by); a later drop replaces an earlier one.
    let mut drops: HashMap<u32, (Class, usize, usize)> = HashMap::new();
    for (d, node) in nodes.iter().enumerate() {
        let Version::Valid(here) = &node.version else {
            continue;
        };
        let mut ps: Vec<usize> = Vec::new();
        for &p in &node.parents {
            for &x in eff.get(p).map(Vec::as_slice).unwrap_or(&[]) {
                if !ps.contains(&x) {
                    ps.push(x);
                }
            }
        }
        let Some(&first) = ps.first() else { continue };
        if ps.len() == 1 {
            if let Some(Version::Valid(p)) = nodes.get(first).map(|n| &n.version) {
                if Arc::ptr_eq(p, here) {
                    continue;
                }
            }
        }
        let mut lost: HashSet<u32> = HashSet::new();
        if ps.len() >= 2 {
            let mut base = Some(first);
            for &p in &ps[1..] {
                base = base.and_then(|b| merge_base(b, p));
            }
            // An invalid base is read as the union of its bridged versions.
            let mut base_paths: HashSet<u32> = HashSet::new();
            if let Some(b) = base {
                for &x in eff.get(b).map(Vec::as_slice).unwrap_or(&[]) {
                    base_paths.extend(entries(x).iter().map(|e| e.0));
                }
            }
            for &p in &ps {
                for &(path, _) in entries(p) {
                    if !base_paths.contains(&path) && !has(here, path) && lost.insert(path) {
                        drops.insert(path, (Class::LostInMerge, p, d));
                    }
                }
            }
        }
        let (removed, added) = difference(entries(first), here);
        let class = if added {
            Class::Overwritten
        } else {
            Class::Deleted
        };
        for path in removed {
            if lost.contains(&path) {
                continue;
            }
            let class = match class {
                Class::Deleted
                    if node.consolidation
                        && get(entries(first), path).is_some_and(|e| !backed(e)) =>
                {
                    Class::Migrated
                }
                c => c,
            };
            drops.insert(path, (class, first, d));
        }
    }
    let mut out = BTreeMap::new();
    for &t in eff.get(tip).map(Vec::as_slice).unwrap_or(&[]) {
        for &(path, entry) in entries(t) {
            if in_fragments(path) || out.contains_key(&path) {
                continue;
            }
            out.insert(
                path,
                Verdict {
                    class: Class::Migrated,
                    last_seen: t,
                    dropped_by: None,
                    entry,
                },
            );
        }
    }
    for (path, (class, seen, by)) in drops {
        if out.contains_key(&path) || in_fragments(path) {
            continue;
        }
        let Some(entry) = get(entries(seen), path) else {
            continue;
        };
        out.insert(
            path,
            Verdict {
                class,
                last_seen: seen,
                dropped_by: Some(by),
                entry,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Paths are one letter; a path's id (and its entry's) is its byte.
    fn v(paths: &[&str]) -> Version {
        let mut e: Entries = paths.iter().map(|p| (pid(p), pid(p))).collect();
        e.sort_unstable();
        Version::Valid(Arc::new(e))
    }

    fn pid(p: &str) -> u32 {
        u32::from(p.as_bytes()[0])
    }

    fn n(parents: &[usize], version: Version) -> Node {
        Node {
            parents: parents.to_vec(),
            version,
            consolidation: false,
        }
    }

    /// A consolidation commit.
    fn c(parents: &[usize], version: Version) -> Node {
        Node {
            consolidation: true,
            ..n(parents, version)
        }
    }

    /// Naive merge base for small hand-built graphs: the common ancestor
    /// with the highest index.
    fn ancestors(nodes: &[Node], i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(nodes[x].parents.iter().copied());
            }
        }
        seen
    }

    fn run(nodes: &[Node], frag: &[&str]) -> BTreeMap<String, Verdict> {
        run_backed(nodes, frag, &[])
    }

    /// `backed`: the entries built from a fragment.
    fn run_backed(nodes: &[Node], frag: &[&str], backed: &[&str]) -> BTreeMap<String, Verdict> {
        let frag: BTreeSet<u32> = frag.iter().map(|p| pid(p)).collect();
        let backed: BTreeSet<u32> = backed.iter().map(|p| pid(p)).collect();
        let out = classify(
            nodes,
            nodes.len() - 1,
            |p| frag.contains(&p),
            |e| backed.contains(&e),
            |a, b| {
                let (x, y) = (ancestors(nodes, a), ancestors(nodes, b));
                x.intersection(&y).max().copied()
            },
        );
        out.into_iter()
            .map(|(p, v)| {
                assert_eq!(v.entry, p);
                (char::from(p as u8).to_string(), v)
            })
            .collect()
    }

    fn class(r: &BTreeMap<String, Verdict>, p: &str) -> (Class, Option<usize>, Option<usize>) {
        let v = &r[p];
        (v.class, Some(v.last_seen), v.dropped_by)
    }

    #[test]
    fn linear_overwrite_and_deletion() {
        let nodes = vec![
            n(&[], v(&["a"])),
            n(&[0], v(&["a", "b"])),
            n(&[1], v(&["a", "c"])), // stale base: drops b, adds c
            n(&[2], v(&["c"])),      // only removes a
        ];
        let r = run(&nodes, &[]);
        assert_eq!(class(&r, "b"), (Class::Overwritten, Some(1), Some(2)));
        assert_eq!(class(&r, "a"), (Class::Deleted, Some(2), Some(3)));
        assert_eq!(class(&r, "c"), (Class::Migrated, Some(3), None));
    }

    #[test]
    fn merge_keeping_one_side() {
        let nodes = vec![
            n(&[], v(&["a"])),
            n(&[0], v(&["a", "m"])), // main
            n(&[0], v(&["a", "s"])), // side
            n(&[1, 2], v(&["a", "m"])),
        ];
        let r = run(&nodes, &["a", "m"]);
        assert_eq!(class(&r, "s"), (Class::LostInMerge, Some(2), Some(3)));
        assert!(
            !r.contains_key("a") && !r.contains_key("m"),
            "present: not classified"
        );
    }

    #[test]
    fn conflict_markers_are_bridged() {
        let nodes = vec![
            n(&[], v(&["a"])),
            n(&[0], v(&["a", "f"])),      // main
            n(&[0], v(&["a", "d"])),      // side
            n(&[1, 2], Version::Invalid), // markers committed
            n(&[3], v(&["a", "f", "e"])), // the fix drops d
        ];
        let r = run(&nodes, &[]);
        // Not "deleted by the fix": the fix is judged as the merge it completes.
        assert_eq!(class(&r, "d"), (Class::LostInMerge, Some(2), Some(4)));
    }

    #[test]
    fn invalid_linear_version_is_transparent() {
        let nodes = vec![
            n(&[], v(&["a", "b"])),
            n(&[0], Version::Invalid),
            n(&[1], v(&["a"])),
        ];
        let r = run(&nodes, &[]);
        assert_eq!(class(&r, "b"), (Class::Deleted, Some(0), Some(2)));
    }

    #[test]
    fn last_drop_wins() {
        let nodes = vec![
            n(&[], v(&["a", "x"])),
            n(&[0], v(&["a", "y"])),      // x overwritten
            n(&[1], v(&["a", "y", "x"])), // x re-added
            n(&[2], v(&["a", "y"])),      // x deleted
        ];
        let r = run(&nodes, &[]);
        assert_eq!(class(&r, "x"), (Class::Deleted, Some(2), Some(3)));
    }

    #[test]
    fn present_and_migrated_at_tip() {
        let nodes = vec![n(&[], v(&["a", "b"]))];
        let r = run(&nodes, &["a"]);
        assert!(!r.contains_key("a"));
        assert_eq!(class(&r, "b"), (Class::Migrated, Some(0), None));
    }

    #[test]
    fn recovery_keys() {
        let has = |k: &str| k == "issue-61";
        assert_eq!(recovery_key(Some(61), has, "abc1234"), "issue-61-recovered");
        assert_eq!(recovery_key(Some(62), has, "abc1234"), "issue-62");
        assert_eq!(recovery_key(None, has, "abc1234"), "recovered-abc1234");
    }

    #[test]
    fn merge_drops_of_the_first_parent_are_linear() {
        let nodes = vec![
            n(&[], v(&["a", "b"])),
            n(&[0], v(&["a", "b"])),
            n(&[0], v(&["a", "b", "s"])),
            n(&[1, 2], v(&["a", "s", "r"])), // drops b (in base), adds r
        ];
        let r = run(&nodes, &[]);
        assert_eq!(class(&r, "b"), (Class::Overwritten, Some(1), Some(3)));
        assert_eq!(r["s"].class, Class::Migrated);
    }

    #[test]
    fn a_consolidation_that_drops_unbacked_legacy_entries_migrates_them() {
        let nodes = vec![
            n(&[], v(&["a", "b"])), // legacy manifest
            c(&[0], v(&[])),        // consolidated from no fragments
        ];
        let r = run(&nodes, &[]);
        assert_eq!(class(&r, "a"), (Class::Migrated, Some(0), Some(1)));
        assert_eq!(class(&r, "b"), (Class::Migrated, Some(0), Some(1)));
    }

    #[test]
    fn a_consolidation_keeping_some_fragments_migrates_only_the_unbacked() {
        let nodes = vec![
            n(&[], v(&["a", "b"])),
            c(&[0], v(&["a", "f"])), // adds f: b is overwritten, as before
            c(&[1], v(&["f"])),      // a (legacy) dropped by a consolidation
        ];
        let r = run_backed(&nodes, &["f"], &["f"]);
        assert_eq!(class(&r, "b"), (Class::Overwritten, Some(0), Some(1)));
        assert_eq!(class(&r, "a"), (Class::Migrated, Some(1), Some(2)));
    }

    #[test]
    fn deliberate_deletions_stay_deleted() {
        // A fragment removed, then consolidated: its entry was backed.
        let removed = vec![n(&[], v(&[])), c(&[0], v(&["a", "b"])), c(&[1], v(&["a"]))];
        let r = run_backed(&removed, &["a"], &["a", "b"]);
        assert_eq!(class(&r, "b"), (Class::Deleted, Some(1), Some(2)));
        // A hand edit (not a consolidation) removing legacy entries.
        let by_hand = vec![n(&[], v(&["a", "b"])), n(&[0], v(&["a"]))];
        let r = run(&by_hand, &[]);
        assert_eq!(class(&r, "b"), (Class::Deleted, Some(0), Some(1)));
    }
}
