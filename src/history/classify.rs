//! The pure half of `repair`: parse manifest versions and classify every
//! artifact path that was ever present, from a version graph built elsewhere.
//!
//! It exists apart from the git reading (`history/mod.rs`) so the rules of
//! issue #4 — linear overwrite vs deletion, lost in merge, bridging of
//! invalid versions, last drop wins — are tested on hand-built graphs without
//! a repository.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use serde_json::{Map, Value};

/// One manifest version: artifact path -> its entry (own fields).
pub type Entries = BTreeMap<String, Map<String, Value>>;

/// What a commit's manifest says.
#[derive(Clone, Debug, PartialEq)]
pub enum Version {
    /// A parsed version (no manifest file at all is the empty set).
    Valid(Arc<Entries>),
    /// Not valid JSON: says nothing, bridged by its valid ancestors.
    Invalid,
}

/// Parse one manifest version in any of the accepted formats:
/// (a) a top-level array of artifact objects; (b)/(c) an object with
/// `artifacts`. Entries without a string `path` are skipped.
pub fn parse_version(bytes: &[u8]) -> Result<Entries, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.shift_remove("artifacts") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err("`artifacts` is not an array".to_owned()),
            None => return Err("no `artifacts` array".to_owned()),
        },
        _ => return Err("neither an array nor an object".to_owned()),
    };
    let mut out = Entries::new();
    for item in items {
        let Value::Object(fields) = item else {
            continue;
        };
        let Some(Value::String(path)) = fields.get("path") else {
            continue;
        };
        out.insert(path.clone(), fields);
    }
    Ok(out)
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
/// (the tip for migrated entries).
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
    /// Removed by a commit that only removed entries.
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
}

/// The verdict for one path.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Its class.
    pub class: Class,
    /// The node that last had the entry (None for present).
    pub last_seen: Option<usize>,
    /// The node that dropped it (None for present/migrated).
    pub dropped_by: Option<usize>,
    /// The entry as last seen (or at the tip).
    pub entry: Map<String, Value>,
}

/// Classify every path ever present. `nodes` must be topologically ordered
/// (parents before children), `tip` is the branch tip's index,
/// `tip_fragment_paths` the paths in the tip's fragments, and `merge_base`
/// gives the merge base of two nodes (None when unrelated).
pub fn classify(
    nodes: &[Node],
    tip: usize,
    tip_fragment_paths: &BTreeSet<String>,
    tip_fragment_entries: &Entries,
    mut merge_base: impl FnMut(usize, usize) -> Option<usize>,
) -> BTreeMap<String, Verdict> {
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
    let entries = |i: usize| -> Option<&Entries> {
        match &nodes.get(i)?.version {
            Version::Valid(e) => Some(e.as_ref()),
            Version::Invalid => None,
        }
    };
    let empty = Entries::new();
    let mut drops: HashMap<String, (Class, usize, usize)> = HashMap::new();
    for (d, node) in nodes.iter().enumerate() {
        let Some(here) = entries(d) else { continue };
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
                if let Version::Valid(h) = &node.version {
                    if Arc::ptr_eq(p, h) {
                        continue;
                    }
                }
            }
        }
        let mut lost: BTreeSet<&String> = BTreeSet::new();
        if ps.len() >= 2 {
            let mut base = Some(first);
            for &p in &ps[1..] {
                base = base.and_then(|b| merge_base(b, p));
            }
            // An invalid base is read as the union of its bridged versions.
            let mut base_paths: BTreeSet<&String> = BTreeSet::new();
            if let Some(b) = base {
                for &x in eff.get(b).map(Vec::as_slice).unwrap_or(&[]) {
                    base_paths.extend(entries(x).unwrap_or(&empty).keys());
                }
            }
            for &p in &ps {
                for path in entries(p).unwrap_or(&empty).keys() {
                    if !base_paths.contains(path) && !here.contains_key(path) && lost.insert(path) {
                        drops.insert(path.clone(), (Class::LostInMerge, p, d));
                    }
                }
            }
        }
        let parent = entries(first).unwrap_or(&empty);
        let added = here.keys().any(|k| !parent.contains_key(k));
        let class = if added {
            Class::Overwritten
        } else {
            Class::Deleted
        };
        for path in parent.keys() {
            if !here.contains_key(path) && !lost.contains(path) {
                drops.insert(path.clone(), (class, first, d));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (path, entry) in tip_fragment_entries {
        out.insert(
            path.clone(),
            Verdict {
                class: Class::Present,
                last_seen: None,
                dropped_by: None,
                entry: entry.clone(),
            },
        );
    }
    for &t in eff.get(tip).map(Vec::as_slice).unwrap_or(&[]) {
        for (path, entry) in entries(t).unwrap_or(&empty) {
            if tip_fragment_paths.contains(path) || out.contains_key(path) {
                continue;
            }
            out.insert(
                path.clone(),
                Verdict {
                    class: Class::Migrated,
                    last_seen: Some(t),
                    dropped_by: None,
                    entry: entry.clone(),
                },
            );
        }
    }
    let mut drops: Vec<(String, (Class, usize, usize))> = drops.into_iter().collect();
    drops.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, (class, seen, by)) in drops {
        if out.contains_key(&path) || tip_fragment_paths.contains(&path) {
            continue;
        }
        let entry = entries(seen)
            .and_then(|e| e.get(&path))
            .cloned()
            .unwrap_or_default();
        out.insert(
            path,
            Verdict {
                class,
                last_seen: Some(seen),
                dropped_by: Some(by),
                entry,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(paths: &[&str]) -> Version {
        let mut e = Entries::new();
        for p in paths {
            let mut m = Map::new();
            m.insert("path".to_owned(), Value::String((*p).to_owned()));
            e.insert((*p).to_owned(), m);
        }
        Version::Valid(Arc::new(e))
    }

    fn n(parents: &[usize], version: Version) -> Node {
        Node {
            parents: parents.to_vec(),
            version,
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
        let paths: BTreeSet<String> = frag.iter().map(|s| (*s).to_owned()).collect();
        let mut entries = Entries::new();
        for p in frag {
            let mut m = Map::new();
            m.insert("path".to_owned(), Value::String((*p).to_owned()));
            entries.insert((*p).to_owned(), m);
        }
        classify(nodes, nodes.len() - 1, &paths, &entries, |a, b| {
            let (x, y) = (ancestors(nodes, a), ancestors(nodes, b));
            x.intersection(&y).max().copied()
        })
    }

    fn class(r: &BTreeMap<String, Verdict>, p: &str) -> (Class, Option<usize>, Option<usize>) {
        let v = &r[p];
        (v.class, v.last_seen, v.dropped_by)
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
        assert_eq!(r["a"].class, Class::Present);
        assert_eq!(r["m"].class, Class::Present);
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
        assert_eq!(r["a"].class, Class::Present);
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
    fn legacy_formats() {
        let a = parse_version(br#"[{"path":"x","issue":"3"},{"nopath":1},{"path":7}]"#);
        let b = parse_version(br#"{"issue":9,"artifacts":[{"path":"y"}]}"#);
        let c = parse_version(
            br#"{"version":1,"artifacts":[{"path":"z","fragment":"issue-2","issue":2}]}"#,
        );
        let a = a.expect("a");
        assert_eq!(a.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(entry_issue(&a["x"]), Some(3));
        let b = b.expect("b");
        assert_eq!(entry_issue(&b["y"]), None);
        let c = c.expect("c");
        assert_eq!(entry_issue(&c["z"]), Some(2));
        assert!(parse_version(b"<<<<<<< HEAD\n{}\n=======\n").is_err());
        assert!(parse_version(b"42").is_err());
    }
}
