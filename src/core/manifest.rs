//! The manifest: every fragment consolidated into one `manifest.json` (docs/format.md, "manifest.json").
//!
//! The manifest is derived data. It must be a pure function of the *set* of fragments —
//! byte-identical whatever order they were read in and on whatever machine — so that two
//! consolidators racing on the same tree write the same blob, and `check` can tell
//! whether a committed manifest is current by rebuilding and comparing bytes.
//!
//! The layout puts one artifact per line so a consolidation diff shows one line per
//! changed artifact, which is what people read in pull requests and history.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use crate::core::fragment::Fragment;
use crate::core::key::FragmentKey;

/// The consolidated catalogue: fragments sorted by key in natural order.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    source: String,
    /// Sorted by key, natural order.
    fragments: Vec<Fragment>,
    /// Artifacts in manifest order, as (fragment index, artifact index) into `fragments`.
    /// Kept apart so each fragment stays exactly as its author wrote it.
    order: Vec<(usize, usize)>,
    /// Paths claimed more than once (bytewise order), with every claim, as
    /// (fragment index, artifact index) in manifest order. Not in `order`.
    conflicts: Vec<(String, Vec<(usize, usize)>)>,
    /// The first second claim met in manifest order, as [`Manifest::build`] reports it.
    first_duplicate: Option<DuplicatePath>,
}

impl Manifest {
    /// Build from fragments in any order. `source` is the hex id of the fragments tree
    /// (the caller supplies it; the empty tree's id when there is no fragments folder).
    ///
    /// Fails when one artifact path is claimed twice, by two fragments or twice within
    /// one; the error names the two fragments in natural key order, so it too is
    /// independent of input order. Keys are expected to be unique (they are file names
    /// in one folder).
    pub fn build(fragments: Vec<Fragment>, source: &str) -> Result<Manifest, DuplicatePath> {
        let manifest = Manifest::build_with_conflicts(fragments, source);
        match manifest.first_duplicate {
            Some(dup) => Err(dup),
            None => Ok(manifest),
        }
    }

    /// Build from fragments in any order, keeping every path claimed more than once
    /// as a [`Conflict`] instead of failing: the artifacts list only the paths
    /// claimed once, and [`Manifest::conflicts`] holds every claim of the others.
    /// This is what consolidation writes, so that a conflict never blocks the rest
    /// of the catalogue (docs/format.md, "Conflicts").
    pub fn build_with_conflicts(mut fragments: Vec<Fragment>, source: &str) -> Manifest {
        // Same-key fragments cannot come from one tree; if a caller passes them anyway,
        // the bytes tie-break keeps the result independent of input order.
        fragments.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then_with(|| a.to_bytes().cmp(&b.to_bytes()))
        });
        let mut order = Vec::with_capacity(fragments.iter().map(|f| f.artifacts.len()).sum());
        // Path -> its first claim, (fragment index, artifact index); the paths
        // claimed again -> every claim, in manifest order.
        let mut claimed: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut again: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        let mut first_duplicate = None;
        for (fragment_index, fragment) in fragments.iter().enumerate() {
            let mut own: Vec<(usize, &str)> = fragment
                .artifacts
                .iter()
                .enumerate()
                .map(|(i, fields)| (i, artifact_path(fields)))
                .collect();
            own.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
            for (artifact_index, path) in own {
                let claim = (fragment_index, artifact_index);
                match claimed.entry(path) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(claim);
                    }
                    std::collections::hash_map::Entry::Occupied(first) => {
                        let first = *first.get();
                        first_duplicate.get_or_insert_with(|| DuplicatePath {
                            path: path.to_owned(),
                            first: fragments[first.0].key.clone(),
                            second: fragment.key.clone(),
                        });
                        again.entry(path).or_insert_with(|| vec![first]).push(claim);
                    }
                }
                order.push(claim);
            }
        }
        let mut conflicts: Vec<(String, Vec<(usize, usize)>)> = again
            .into_iter()
            .map(|(path, held)| (path.to_owned(), held))
            .collect();
        conflicts.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if !conflicts.is_empty() {
            let contested: std::collections::HashSet<(usize, usize)> = conflicts
                .iter()
                .flat_map(|(_, held)| held.iter().copied())
                .collect();
            order.retain(|claim| !contested.contains(claim));
        }
        Manifest {
            source: source.to_owned(),
            fragments,
            order,
            conflicts,
            first_duplicate,
        }
    }

    /// The hex id of the fragments tree this manifest was built from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fragments, sorted by key in natural order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// Artifacts in manifest order: fragment key (natural), then path (bytewise).
    pub fn artifacts(&self) -> impl Iterator<Item = ArtifactEntry<'_>> {
        self.order.iter().map(|&(f, a)| {
            let fragment = &self.fragments[f];
            ArtifactEntry {
                fragment,
                fields: &fragment.artifacts[a],
            }
        })
    }

    /// How many artifacts the manifest lists: every path claimed once.
    pub fn artifact_count(&self) -> usize {
        self.order.len()
    }

    /// Every path claimed more than once, in bytewise order of path.
    pub fn conflicts(&self) -> Vec<Conflict> {
        self.conflicts
            .iter()
            .map(|(path, held)| Conflict {
                path: path.clone(),
                fragments: held
                    .iter()
                    .map(|&(f, _)| self.fragments[f].key.clone())
                    .collect(),
            })
            .collect()
    }

    /// Every claim of the conflicting paths, path by path as [`Manifest::conflicts`]
    /// lists them, each in manifest order.
    pub fn conflicting_artifacts(&self) -> impl Iterator<Item = (&str, Vec<ArtifactEntry<'_>>)> {
        self.conflicts.iter().map(|(path, held)| {
            let entries = held
                .iter()
                .map(|&(f, a)| ArtifactEntry {
                    fragment: &self.fragments[f],
                    fields: &self.fragments[f].artifacts[a],
                })
                .collect();
            (path.as_str(), entries)
        })
    }
}

/// The paths claimed so far by fragments met one at a time in natural key
/// order, each artifact of a fragment in [`in_manifest_order`]: what
/// [`Manifest::build_with_conflicts`] decides with every fragment held, for
/// a caller that keeps none of them (`list`). The first claim of a path
/// keeps a mark of the caller's (where it put that claim's record), so that
/// a path found contested later can take its first claim back.
#[derive(Debug)]
pub struct Claims<T> {
    /// Path -> its first claim: (fragment number, the caller's mark).
    first: HashMap<Box<str>, (u32, T)>,
    /// The paths claimed again -> every claimant, in order, the first included.
    again: BTreeMap<Box<str>, Vec<u32>>,
}

impl<T: Default> Claims<T> {
    /// No claims, with room for about `paths` of them.
    pub fn with_capacity(paths: usize) -> Claims<T> {
        Claims {
            first: HashMap::with_capacity(paths),
            again: BTreeMap::new(),
        }
    }

    /// Claim `path` for the fragment numbered `fragment` (numbers in natural
    /// key order). The first claim of a path gets its mark to fill in; a
    /// later one is recorded as a conflict and gets None.
    pub fn claim(&mut self, path: &str, fragment: u32) -> Option<&mut T> {
        match self.first.entry(path.into()) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                Some(&mut slot.insert((fragment, T::default())).1)
            }
            std::collections::hash_map::Entry::Occupied(taken) => {
                let owner = taken.get().0;
                self.again
                    .entry(taken.key().clone())
                    .or_insert_with(|| vec![owner])
                    .push(fragment);
                None
            }
        }
    }

    /// The paths claimed more than once, bytewise, each with every claimant
    /// in order (a fragment that lists it twice appears twice), and the marks
    /// of their first claims, which are not listed either.
    pub fn finish(mut self) -> (Vec<(String, Vec<u32>)>, Vec<T>) {
        let mut marks = Vec::with_capacity(self.again.len());
        let conflicts = std::mem::take(&mut self.again)
            .into_iter()
            .map(|(path, held)| {
                if let Some((_, mark)) = self.first.remove(&path) {
                    marks.push(mark);
                }
                (path.into_string(), held)
            })
            .collect();
        (conflicts, marks)
    }
}

/// A fragment's artifacts in the order the manifest lists them: by path,
/// bytewise (a path listed twice keeps the author's order).
pub fn in_manifest_order(fragment: &Fragment) -> Vec<ArtifactEntry<'_>> {
    let mut own: Vec<ArtifactEntry<'_>> = fragment
        .artifacts
        .iter()
        .map(|fields| ArtifactEntry { fragment, fields })
        .collect();
    own.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    own
}

/// One artifact path claimed more than once: by two fragments (or more), or twice
/// within one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The path.
    pub path: String,
    /// Every claimant, in natural key order; a fragment that lists the path twice
    /// appears twice.
    pub fragments: Vec<FragmentKey>,
}

impl Conflict {
    /// The claimant to change to resolve it: the last in natural key order (any
    /// of them will do).
    pub fn later(&self) -> &FragmentKey {
        self.fragments.last().expect("a conflict has two claims")
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.fragments.iter().map(|k| format!("`{k}`")).collect();
        match names.as_slice() {
            [a, b] => write!(
                f,
                "artifact path `{}` is claimed by both fragment {a} and fragment {b}",
                self.path.escape_debug()
            ),
            [rest @ .., last] => write!(
                f,
                "artifact path `{}` is claimed by fragments {} and {last}",
                self.path.escape_debug(),
                rest.join(", ")
            ),
            [] => write!(
                f,
                "artifact path `{}` is claimed twice",
                self.path.escape_debug()
            ),
        }
    }
}

/// An artifact's `path`; [`Fragment::parse`] guarantees it is a string.
fn artifact_path(fields: &Map<String, Value>) -> &str {
    crate::core::fragment::field(fields, "path")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One artifact as the manifest lists it, with the fragment it came from.
#[derive(Clone, Copy, Debug)]
pub struct ArtifactEntry<'a> {
    /// The fragment that claims the artifact.
    pub fragment: &'a Fragment,
    /// The artifact's own fields, as its author wrote them.
    pub fields: &'a Map<String, Value>,
}

impl ArtifactEntry<'_> {
    /// The artifact's path.
    pub fn path(&self) -> &str {
        artifact_path(self.fields)
    }

    /// The full object as written in `manifest.json`: `fragment`, then `issue` when the
    /// fragment has one, then the artifact's own fields in the author's order.
    pub fn to_value(&self) -> Map<String, Value> {
        let mut object = Map::with_capacity(self.fields.len() + 2);
        object.insert(
            "fragment".to_owned(),
            Value::String(self.fragment.key.as_str().to_owned()),
        );
        if let Some(issue) = self.fragment.issue() {
            object.insert("issue".to_owned(), issue.clone());
        }
        for (name, value) in self.fields {
            // Parsing refuses these inside an artifact; for a hand-built fragment the
            // manifest's own values must still win.
            if name != "fragment" && name != "issue" {
                object.insert(name.clone(), value.clone());
            }
        }
        object
    }
}

/// One artifact path claimed twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePath {
    /// The path claimed twice.
    pub path: String,
    /// The fragment that claims it first, in natural key order.
    pub first: FragmentKey,
    /// The other claimant (equal to `first` when one fragment lists the path twice).
    pub second: FragmentKey,
}

impl fmt::Display for DuplicatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "artifact path `{}` is claimed by both fragment `{}` and fragment `{}`",
            self.path.escape_debug(),
            self.first,
            self.second
        )
    }
}

impl std::error::Error for DuplicatePath {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::Rng;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn fragment(key: &str, json: &str) -> Fragment {
        let key = FragmentKey::new(key).expect("test keys are valid");
        Fragment::parse(key, json.as_bytes()).expect("test fragments are valid")
    }

    #[test]
    fn artifacts_sort_by_natural_key_then_bytewise_path() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment(
                    "issue-10",
                    r#"{"artifacts": [{"path": "z"}, {"path": "B"}, {"path": "a"}]}"#,
                ),
                fragment(
                    "issue-2",
                    r#"{"artifacts": [{"path": "b/x10"}, {"path": "b/x2"}, {"path": "é"}]}"#,
                ),
                fragment("issue-10a", r#"{"artifacts": [{"path": "0"}]}"#),
            ],
            "s",
        )?;
        let listed: Vec<_> = manifest
            .artifacts()
            .map(|a| format!("{}:{}", a.fragment.key, a.path()))
            .collect();
        assert_eq!(
            listed,
            [
                "issue-2:b/x10",
                "issue-2:b/x2",
                "issue-2:é",
                "issue-10:B",
                "issue-10:a",
                "issue-10:z",
                "issue-10a:0"
            ]
        );
        assert_eq!(manifest.artifact_count(), 7);
        let keys: Vec<_> = manifest
            .fragments()
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(keys, ["issue-2", "issue-10", "issue-10a"]);
        // The fragments themselves keep their author's artifact order.
        assert_eq!(manifest.fragments()[1].artifacts[0]["path"], "z");
        Ok(())
    }

    #[test]
    fn an_artifact_value_carries_fragment_then_issue_then_its_own_fields() {
        let with_issue = fragment(
            "issue-7",
            r#"{"issue": 7, "artifacts": [{"title": "T", "path": "p", "n": 1.10}]}"#,
        );
        let manifest = Manifest::build(vec![with_issue], "s").expect("no duplicates");
        let entry = manifest.artifacts().next().expect("one artifact");
        let value = entry.to_value();
        let names: Vec<_> = value.keys().map(String::as_str).collect();
        assert_eq!(names, ["fragment", "issue", "title", "path", "n"]);
        assert_eq!(
            serde_json::to_string(&value).ok().as_deref(),
            Some(r#"{"fragment":"issue-7","issue":7,"title":"T","path":"p","n":1.10}"#)
        );
    }

    #[test]
    fn a_path_claimed_by_two_fragments_is_an_error_naming_both_in_natural_order() {
        for fragments in [
            vec![
                fragment("issue-10", r#"{"artifacts": [{"path": "a.md"}]}"#),
                fragment("issue-9", r#"{"artifacts": [{"path": "a.md"}]}"#),
            ],
            vec![
                fragment("issue-9", r#"{"artifacts": [{"path": "a.md"}]}"#),
                fragment("issue-10", r#"{"artifacts": [{"path": "a.md"}]}"#),
            ],
        ] {
            let error = Manifest::build(fragments, "s").expect_err("duplicate path");
            assert_eq!(
                error,
                DuplicatePath {
                    path: "a.md".into(),
                    first: FragmentKey::for_issue(9),
                    second: FragmentKey::for_issue(10),
                }
            );
            assert_eq!(
                error.to_string(),
                "artifact path `a.md` is claimed by both fragment `issue-9` and fragment `issue-10`"
            );
        }
    }

    #[test]
    fn a_path_listed_twice_in_one_fragment_is_an_error() {
        let error = Manifest::build(
            vec![fragment(
                "k",
                r#"{"artifacts": [{"path": "a"}, {"path": "b"}, {"path": "a", "kind": "x"}]}"#,
            )],
            "s",
        )
        .expect_err("duplicate path");
        assert_eq!(error.path, "a");
        assert_eq!(error.first.as_str(), "k");
        assert_eq!(error.second.as_str(), "k");
    }

    #[test]
    fn claims_met_one_fragment_at_a_time_decide_as_the_whole_manifest_does() {
        let manifest = Manifest::build_with_conflicts(
            vec![
                fragment(
                    "issue-10",
                    r#"{"artifacts": [{"path": "p"}, {"path": "a"}]}"#,
                ),
                fragment(
                    "issue-2",
                    r#"{"artifacts": [{"path": "p"}, {"path": "q"}]}"#,
                ),
                fragment(
                    "issue-3",
                    r#"{"artifacts": [{"path": "q"}, {"path": "q"}]}"#,
                ),
                fragment(
                    "issue-4",
                    r#"{"artifacts": [{"path": "r"}, {"path": "b"}]}"#,
                ),
            ],
            "s",
        );
        let mut claims: Claims<Option<String>> = Claims::with_capacity(8);
        let mut listed = Vec::new();
        for (n, f) in manifest.fragments().iter().enumerate() {
            for entry in in_manifest_order(f) {
                let claim = format!("{}:{}", f.key, entry.path());
                if let Some(mark) = claims.claim(entry.path(), n as u32) {
                    *mark = Some(claim.clone());
                    listed.push(claim);
                }
            }
        }
        let (conflicts, marks) = claims.finish();
        let marks: Vec<String> = marks.into_iter().flatten().collect();
        listed.retain(|c| !marks.contains(c));
        let expected: Vec<String> = manifest
            .artifacts()
            .map(|a| format!("{}:{}", a.fragment.key, a.path()))
            .collect();
        assert_eq!(listed, expected);
        let keys: Vec<&FragmentKey> = manifest.fragments().iter().map(|f| &f.key).collect();
        let conflicts: Vec<Conflict> = conflicts
            .into_iter()
            .map(|(path, held)| Conflict {
                path,
                fragments: held.iter().map(|&n| keys[n as usize].clone()).collect(),
            })
            .collect();
        assert_eq!(conflicts, manifest.conflicts());
        assert_eq!(conflicts.len(), 2);
    }

    #[test]
    fn any_input_order_gives_the_same_duplicate_path_error() {
        let mut fragments = vec![
            fragment("c", r#"{"artifacts": [{"path": "p"}]}"#),
            fragment("a", r#"{"artifacts": [{"path": "q"}]}"#),
            fragment("b", r#"{"artifacts": [{"path": "p"}]}"#),
            fragment("d", r#"{"artifacts": [{"path": "p"}]}"#),
        ];
        let mut rng = Rng::seeded(42);
        for _ in 0..50 {
            rng.shuffle(&mut fragments);
            let error = Manifest::build(fragments.clone(), "s").expect_err("duplicate path");
            assert_eq!((error.first.as_str(), error.second.as_str()), ("b", "c"));
        }
    }
}
