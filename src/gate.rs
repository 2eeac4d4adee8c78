//! `check --base`: what a pull request does to the catalogue, and whether
//! merging it onto its base keeps the catalogue consistent.
//!
//! The pull request's changes are the fragments that differ between the
//! merge base and the head: added, changed or removed, compared by blob id,
//! so unchanged fragments are never read. The merge would be consistent when
//! every fragment it adds or changes is valid and no artifact path it claims
//! is claimed by another fragment of the base as it is now (or by another of
//! its own). Reading the base's fragments is the one O(catalogue) step.

use std::collections::{BTreeMap, BTreeSet};

use gix::{ObjectId, Repository};

use crate::catalogue;
use crate::core::fragment::Fragment;
use crate::core::key::FragmentKey;
use crate::core::manifest::DuplicatePath;
use crate::error::{Error, Result};
use crate::git::store::{self, FragmentBlob, ReadError};
use crate::settings::Settings;

/// How a pull request touches one fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// New in the pull request.
    Added,
    /// Another version of a fragment the base has.
    Changed,
    /// Deleted by the pull request.
    Removed,
}

impl Change {
    /// The word the listing and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// One fragment the pull request touches.
#[derive(Clone, Debug)]
pub struct Row {
    /// The fragment.
    pub key: FragmentKey,
    /// Added, changed or removed.
    pub change: Change,
    /// Its artifact paths: the new version's, or the removed one's.
    pub paths: Vec<String>,
    /// Paths the new version no longer lists (for a changed fragment).
    pub dropped: Vec<String>,
}

/// What `check --base` found.
#[derive(Debug)]
pub struct Gate {
    /// The base tip.
    pub base: ObjectId,
    /// Where the pull request branched off (`None`: no common history here).
    pub merge_base: Option<ObjectId>,
    /// The pull request's head.
    pub head: ObjectId,
    /// The fragments it touches, in natural key order.
    pub rows: Vec<Row>,
    /// Invalid fragments it adds or changes, and paths the merge would claim twice.
    pub problems: Vec<Error>,
    /// Things worth knowing that are not problems.
    pub warnings: Vec<String>,
}

/// Compare `head` with its merge base against `base`, and judge the merge.
pub fn gate(
    repo: &Repository,
    settings: &Settings,
    base: ObjectId,
    head: ObjectId,
) -> Result<Gate> {
    let merge_base = repo
        .merge_base(base, head)
        .ok()
        .flatten()
        .map(|id| id.detach());
    let mut out = Gate {
        base,
        merge_base,
        head,
        rows: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let before_commit = merge_base.unwrap_or_else(|| {
        out.warnings.push(format!(
            "{head} and {base} share no history here (a shallow clone?): comparing with {base} itself"
        ));
        base
    });
    let dir = &settings.dir;
    let before = store::list_fragment_blobs(repo, store::commit_tree(repo, before_commit)?, dir)?;
    let after = store::list_fragment_blobs(repo, store::commit_tree(repo, head)?, dir)?;
    // Entries of the folder that are not fragments, new in the pull request.
    let old_problems: BTreeSet<Option<String>> = before
        .problems
        .iter()
        .map(|e| e.offender.path.clone())
        .collect();
    out.problems.extend(
        after
            .problems
            .into_iter()
            .filter(|e| !old_problems.contains(&e.offender.path)),
    );
    let (rows, new_versions, invalid) = changes(repo, before.blobs, after.blobs)?;
    out.rows = rows;
    out.problems.extend(invalid);
    // The merge: the base as it is now, with the pull request's versions of
    // the fragments it touches.
    let touched: BTreeSet<&FragmentKey> = out.rows.iter().map(|r| &r.key).collect();
    let ours: BTreeSet<&FragmentKey> = new_versions.iter().map(|f| &f.key).collect();
    let base_now = store::list_fragment_blobs(repo, store::commit_tree(repo, base)?, dir)?;
    let mut claims: Vec<(FragmentKey, Vec<String>)> = Vec::new();
    for blob in base_now.blobs.iter().filter(|b| !touched.contains(&b.key)) {
        match store::read_fragment(repo, blob) {
            Ok(f) => claims.push((f.key.clone(), paths_of(&f))),
            // The base's own invalid fragments are the base's business.
            Err(ReadError::Invalid(_)) => {}
            Err(ReadError::Failed(e)) => return Err(e),
        }
    }
    claims.extend(new_versions.iter().map(|f| (f.key.clone(), paths_of(f))));
    for dup in claimed_twice(&claims)
        .into_iter()
        .filter(|d| ours.contains(&d.first) || ours.contains(&d.second))
    {
        out.problems.push(catalogue::duplicate_error(dup));
    }
    Ok(out)
}

/// The fragments that differ between two listings, by blob id, in natural
/// key order; the new versions of those added or changed; and the invalid
/// ones among those.
fn changes(
    repo: &Repository,
    before: Vec<FragmentBlob>,
    after: Vec<FragmentBlob>,
) -> Result<(Vec<Row>, Vec<Fragment>, Vec<Error>)> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let before: BTreeMap<FragmentKey, FragmentBlob> =
        before.into_iter().map(|b| (b.key.clone(), b)).collect();
    let after: BTreeMap<FragmentKey, FragmentBlob> =
        after.into_iter().map(|b| (b.key.clone(), b)).collect();
    let mut new_versions: Vec<Fragment> = Vec::new();
    for (key, blob) in &after {
        let change = match before.get(key) {
            None => Change::Added,
            Some(old) if old.id != blob.id => Change::Changed,
            Some(_) => continue,
        };
        match store::read_fragment(repo, blob) {
            Ok(fragment) => {
                let paths = paths_of(&fragment);
                let dropped = match before.get(key).map(|old| store::read_fragment(repo, old)) {
                    Some(Ok(old)) => paths_of(&old)
                        .into_iter()
                        .filter(|p| !paths.contains(p))
                        .collect(),
                    _ => Vec::new(),
                };
                rows.push(Row {
                    key: key.clone(),
                    change,
                    paths,
                    dropped,
                });
                new_versions.push(fragment);
            }
            Err(ReadError::Invalid(e)) => {
                rows.push(Row {
                    key: key.clone(),
                    change,
                    paths: Vec::new(),
                    dropped: Vec::new(),
                });
                problems.push(e);
            }
            Err(ReadError::Failed(e)) => return Err(e),
        }
    }
    for (key, blob) in &before {
        if after.contains_key(key) {
            continue;
        }
        let paths = match store::read_fragment(repo, blob) {
            Ok(old) => paths_of(&old),
            Err(ReadError::Invalid(_)) => Vec::new(),
            Err(ReadError::Failed(e)) => return Err(e),
        };
        rows.push(Row {
            key: key.clone(),
            change: Change::Removed,
            paths,
            dropped: Vec::new(),
        });
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((rows, new_versions, problems))
}

/// What a consolidation of `root` would change in its manifest: the
/// fragments that differ from those of the manifest's `source` (all of them
/// when there is no git-catalogue manifest to compare with).
pub fn since_manifest_source(
    repo: &Repository,
    settings: &Settings,
    root: ObjectId,
) -> Result<Vec<Row>> {
    let folder = settings.fragments_dir();
    let before = match catalogue::manifest_source(repo, root, settings)? {
        Some(source) if repo.has_object(source) => {
            store::list_fragment_folder(repo, source, &folder)?.blobs
        }
        _ => Vec::new(),
    };
    let after = store::list_fragment_blobs(repo, root, &settings.dir)?.blobs;
    Ok(changes(repo, before, after)?.0)
}

/// A fragment's artifact paths, in its order.
fn paths_of(fragment: &Fragment) -> Vec<String> {
    fragment
        .artifacts
        .iter()
        .filter_map(|a| {
            a.get("path")
                .and_then(|p| p.as_str())
                .map(ToOwned::to_owned)
        })
        .collect()
}

/// Every path claimed twice among `claims`, each pair once, the claimants
/// in natural key order.
fn claimed_twice(claims: &[(FragmentKey, Vec<String>)]) -> Vec<DuplicatePath> {
    let mut by_path: BTreeMap<&str, Vec<&FragmentKey>> = BTreeMap::new();
    for (key, paths) in claims {
        for path in paths {
            by_path.entry(path).or_default().push(key);
        }
    }
    let mut out = Vec::new();
    for (path, mut keys) in by_path {
        keys.sort();
        for pair in keys.windows(2) {
            out.push(DuplicatePath {
                path: path.to_owned(),
                first: pair[0].clone(),
                second: pair[1].clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> FragmentKey {
        FragmentKey::new(k).expect("valid test key")
    }

    #[test]
    fn a_path_claimed_by_two_fragments_is_found_once_per_pair_in_natural_order() {
        let claims = vec![
            (key("issue-10"), vec!["a".to_owned(), "b".to_owned()]),
            (key("issue-2"), vec!["a".to_owned()]),
            (key("issue-3"), vec!["c".to_owned(), "c".to_owned()]),
        ];
        let found = claimed_twice(&claims);
        let shown: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|d| (d.path.as_str(), d.first.as_str(), d.second.as_str()))
            .collect();
        assert_eq!(
            shown,
            [("a", "issue-2", "issue-10"), ("c", "issue-3", "issue-3")]
        );
    }
}
