//! `record`: write one run's fragment as a commit, straight into the object
//! database, with no checkout.
//!
//! By default the commit goes onto the run's own per-issue ref
//! `refs/heads/catalogue/<key>`, from which a pull request can be opened; a
//! re-run builds on that ref's own tip so the pull request's diff stays the
//! fragment alone. With `--direct` it goes onto the branch, by the same
//! compare-and-swap and retry loop as `consolidate`.

use std::collections::{BTreeSet, HashSet};

use gix::{objs::tree::EntryKind, refs::FullName, ObjectId, Repository};
use serde_json::Value;

use crate::catalogue;
use crate::core::fragment::Fragment;
use crate::core::key::FragmentKey;
use crate::core::manifest::DuplicatePath;
use crate::core::render::Old;
use crate::error::{Error, ErrorKind, Result};
use crate::git::store::{self, FragmentBlob, ReadError, TreeChange};
use crate::publish::{self, commit_step, Expected, Sink, Step, Write};
use crate::settings::{self, Settings};

/// A local file to commit alongside the fragment, opened once: every
/// attempt reads the same file, from its start, never a path again.
#[derive(Debug)]
pub struct AddedFile {
    /// Repository-relative destination (also an artifact path).
    pub dest: String,
    /// The open file.
    pub file: std::fs::File,
    /// Its size when it was opened.
    pub size: u64,
    /// Whether the source was executable.
    pub executable: bool,
}

/// A validated request to record.
#[derive(Debug)]
pub struct Request {
    /// The fragment to write.
    pub fragment: Fragment,
    /// Files to add to the commit.
    pub added: Vec<AddedFile>,
    /// Onto the branch instead of the per-issue ref.
    pub direct: bool,
    /// Retry budget.
    pub retries: u32,
    /// Commit message override.
    pub message: Option<String>,
}

/// What `record` did.
#[derive(Debug)]
pub struct Outcome {
    /// The fragment's key.
    pub key: FragmentKey,
    /// The ref written.
    pub target: FullName,
    /// The new commit, or `None` when the ref already held this exact content.
    pub commit: Option<ObjectId>,
    /// The commit it was built on.
    pub parent: Option<ObjectId>,
    /// Attempts taken.
    pub attempts: u32,
    /// The fragment's path in the tree.
    pub fragment_path: String,
    /// How many artifacts the fragment lists.
    pub artifacts: usize,
    /// Things that went wrong after the ref moved (a work tree that could not follow).
    pub warnings: Vec<String>,
}

/// Write the fragment commit and move the ref, on `sink`.
pub fn record(
    repo: &Repository,
    settings: &Settings,
    sink: &dyn Sink,
    req: &Request,
) -> Result<Outcome> {
    let key = &req.fragment.key;
    let target = if req.direct {
        settings.branch.clone()
    } else {
        settings::per_issue_ref(key)?
    };
    let fragment_path = settings.fragment_path(key);
    // What is written is what every reader judges: the pretty-printed
    // bytes, not the caller's compact input, must be within the limit.
    let fragment_bytes = req.fragment.to_written_bytes().map_err(|e| {
        Error::new(
            ErrorKind::InvalidFragment,
            format!("fragment `{key}` cannot be recorded: {e}"),
        )
        .key(key)
        .path(&fragment_path)
    })?;
    let published = publish::with_retries(req.retries, &target, |_| {
        // A new per-issue ref starts from the branch; otherwise build on the ref itself.
        let mut refs = vec![&target];
        if !req.direct {
            refs.push(&settings.branch);
        }
        let tips = sink.read(repo, &refs)?;
        let current = tips[0];
        let branch_tip = tips.last().copied().flatten();
        if branch_tip.is_none() && !sink.may_create(repo, &settings.branch)? {
            return Err(Error::missing_branch(&settings.branch, sink.remote_name()));
        }
        let parent = current.or(branch_tip);
        let root = match parent {
            Some(p) => store::commit_tree(repo, p)?,
            None => store::empty_tree(repo),
        };
        let mut claim_roots = vec![root];
        if let Some(tip) = branch_tip.filter(|t| Some(*t) != parent) {
            claim_roots.push(store::commit_tree(repo, tip)?);
        }
        let fetch = |ids: &[ObjectId]| sink.fetch_missing(repo, ids);
        ensure_unclaimed(repo, &claim_roots, settings, &req.fragment, &fetch)?;
        let mut paths = vec![fragment_path.clone()];
        paths.extend(req.added.iter().map(|a| a.dest.clone()));
        let message = req.message.clone().unwrap_or_else(|| {
            format!(
                "catalogue: record {key}\n\n{} artifact(s) in {fragment_path}\n",
                req.fragment.artifacts.len()
            )
        });
        let log = format!("catalogue: record {key}");
        let write = Write {
            target: &target,
            expected: Expected::from_option(current),
            parent,
            root,
            paths,
            message,
            log: &log,
            // A per-issue ref always gets its commit, and a re-run replaces
            // the run's own earlier one (docs/format.md, "Refs"); on the
            // shared branch an empty commit would only be noise.
            lease: !req.direct,
            skip_unchanged: req.direct,
        };
        let step = commit_step(repo, sink, write, || {
            let mut changes = vec![TreeChange {
                path: fragment_path.clone(),
                kind: EntryKind::Blob,
                id: store::write_blob(repo, &fragment_bytes, &fragment_path)?,
            }];
            for file in &req.added {
                changes.push(TreeChange {
                    path: file.dest.clone(),
                    kind: if file.executable {
                        EntryKind::BlobExecutable
                    } else {
                        EntryKind::Blob
                    },
                    id: store::write_file(repo, &file.file, file.size, &file.dest)?,
                });
            }
            Ok(changes)
        })?;
        Ok(match step {
            Step::Done(committed) => Step::Done((committed, parent)),
            Step::Lost(loss) => Step::Lost(loss),
        })
    })?;
    let (committed, parent) = published.value;
    Ok(Outcome {
        key: key.clone(),
        target,
        commit: committed.commit,
        parent,
        attempts: published.attempts,
        fragment_path,
        artifacts: req.fragment.artifacts.len(),
        warnings: committed.warning.into_iter().collect(),
    })
}

/// Refuse a fragment that claims a path another fragment already claims
/// (docs/format.md, "Fragments"), in any of `roots`: the tree this commit builds on and, for a
/// per-issue ref, the branch it will be merged into. Other fragments that are
/// themselves invalid are not this run's business (`check` and `consolidate`
/// report them); failures to read git are.
///
/// The consolidated manifest answers for every fragment unchanged since its
/// `source`, so only the fragments changed since are read: a record costs
/// O(changed), not O(catalogue). Where the manifest cannot answer, or may
/// name the path, every fragment is read and decides.
fn ensure_unclaimed(
    repo: &Repository,
    roots: &[ObjectId],
    settings: &Settings,
    fragment: &Fragment,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
) -> Result<()> {
    let ours: Vec<&str> = fragment
        .artifacts
        .iter()
        .filter_map(|a| a.get("path").and_then(Value::as_str))
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let mut seen = HashSet::new();
    for root in roots {
        if let Ok(since) = catalogue::since_manifest(repo, *root, settings, false, fetch)? {
            if let Some(old) = Old::cut(&since.manifest, None) {
                let changed: Vec<&FragmentBlob> = since
                    .diff
                    .upserts
                    .iter()
                    .filter(|b| b.key != fragment.key)
                    .collect();
                let mut skip: BTreeSet<&str> =
                    since.diff.removed.iter().map(FragmentKey::as_str).collect();
                skip.extend(since.diff.upserts.iter().map(|b| b.key.as_str()));
                skip.insert(fragment.key.as_str());
                if old.claimant(&ours, &skip).is_none() {
                    claimed_in(repo, &changed, fragment, &ours, &mut seen, fetch)?;
                    continue;
                }
            }
        }
        let listing = store::list_fragment_blobs(repo, *root, &settings.dir)?;
        let others: Vec<&FragmentBlob> = listing
            .blobs
            .iter()
            .filter(|b| b.key != fragment.key)
            .collect();
        claimed_in(repo, &others, fragment, &ours, &mut seen, fetch)?;
    }
    Ok(())
}

/// Refuse `fragment` when one of `others` claims one of its paths `ours`.
fn claimed_in(
    repo: &Repository,
    others: &[&FragmentBlob],
    fragment: &Fragment,
    ours: &[&str],
    seen: &mut HashSet<ObjectId>,
    fetch: &dyn Fn(&[ObjectId]) -> Result<()>,
) -> Result<()> {
    let todo: Vec<&FragmentBlob> = others
        .iter()
        .copied()
        .filter(|b| seen.insert(b.id))
        .collect();
    fetch(&todo.iter().map(|b| b.id).collect::<Vec<_>>())?;
    for blob in todo {
        let other = match store::read_fragment(repo, blob) {
            Ok(other) => other,
            Err(ReadError::Invalid(_)) => continue,
            Err(ReadError::Failed(e)) => return Err(e),
        };
        for artifact in &other.artifacts {
            if let Some(path) = artifact.get("path").and_then(Value::as_str) {
                if ours.contains(&path) {
                    return Err(catalogue::duplicate_error(DuplicatePath {
                        path: path.to_owned(),
                        first: other.key.clone(),
                        second: fragment.key.clone(),
                    }));
                }
            }
        }
    }
    Ok(())
}
