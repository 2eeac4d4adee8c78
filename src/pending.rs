//! `pending`: per-issue refs whose fragment has not reached the branch yet.
//!
//! A per-issue ref's fragment has "reached" the branch when the branch tip
//! holds the very same blob at `<dir>/fragments/<key>.json`. Comparing blob
//! ids reads two tree entries per ref and no history, so it costs the same
//! in a `--depth 1` clone as in a full one.

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use crate::core::key::{natural_cmp, FragmentKey};
use crate::error::{Error, Result};
use crate::git::remote::{Fetch, Remote};
use crate::git::store::{self, FragmentBlob};
use crate::settings::{Settings, PER_ISSUE_PREFIX};

/// Why a ref is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The branch has no fragment of that key.
    Missing,
    /// The branch has another version of it.
    Differs,
}

impl State {
    /// The name `--json` and the listing use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Differs => "differs",
        }
    }
}

/// One pending per-issue ref.
#[derive(Clone, Debug)]
pub struct PendingRef {
    /// The fragment key.
    pub key: FragmentKey,
    /// The ref, local or remote-tracking.
    pub refname: String,
    /// Its tip.
    pub commit: ObjectId,
    /// Artifacts its fragment lists.
    pub artifacts: usize,
    /// Why it is pending.
    pub state: State,
}

/// What `pending` found.
#[derive(Debug)]
pub struct Found {
    /// The branch tip compared against (`None`: the branch does not exist).
    pub tip: Option<ObjectId>,
    /// Pending refs, by key in natural order, then by ref.
    pub pending: Vec<PendingRef>,
    /// Refs that were skipped, one sentence each.
    pub warnings: Vec<String>,
}

/// List pending per-issue refs: local ones, plus `remote`'s when given (then
/// compared with the remote's branch, which is what a merge would land on).
pub fn pending(repo: &Repository, settings: &Settings, remote: Option<&Remote>) -> Result<Found> {
    let mut prefixes = vec![PER_ISSUE_PREFIX.to_owned()];
    let tip = match remote {
        None => Some(
            store::ref_target(repo, &settings.branch)?
                .ok_or_else(|| Error::missing_branch(&settings.branch, None))?,
        ),
        Some(remote) => {
            let tracking_prefix = remote.tracking_prefix(PER_ISSUE_PREFIX);
            let branch_tracking = remote.tracking_ref(&settings.branch)?;
            remote
                .fetch_refspecs(
                    &[
                        format!(
                            "+{}:{}",
                            settings.branch.as_bstr(),
                            branch_tracking.as_bstr()
                        ),
                        format!("+{PER_ISSUE_PREFIX}*:{tracking_prefix}*"),
                    ],
                    true,
                )
                .map_err(Fetch::into_error)?;
            prefixes.push(tracking_prefix);
            store::ref_target(repo, &branch_tracking)?
        }
    };
    let root = tip.map(|t| store::commit_tree(repo, t)).transpose()?;
    let mut found = Found {
        tip,
        pending: Vec::new(),
        warnings: Vec::new(),
    };
    for prefix in &prefixes {
        for (refname, commit) in refs_under(repo, prefix)? {
            let name = &refname[prefix.len()..];
            let Ok(key) = FragmentKey::new(name) else {
                found.warnings.push(format!(
                    "skipping {refname}: `{name}` is not a fragment key"
                ));
                continue;
            };
            let path = settings.fragment_path(&key);
            let ref_tree = store::commit_tree(repo, commit)?;
            let ours = match store::entry_at(repo, ref_tree, &path)? {
                Some(e) if matches!(e.kind, EntryKind::Blob | EntryKind::BlobExecutable) => e.id,
                _ => {
                    found.warnings.push(format!(
                        "skipping {refname}: its tip {commit} has no `{path}`"
                    ));
                    continue;
                }
            };
            let theirs = match root {
                Some(root) => store::entry_at(repo, root, &path)?.map(|e| e.id),
                None => None,
            };
            let state = match theirs {
                Some(id) if id == ours => continue,
                Some(_) => State::Differs,
                None => State::Missing,
            };
            let blob = FragmentBlob {
                key: key.clone(),
                id: ours,
                path: path.clone(),
            };
            let artifacts = match store::read_fragment(repo, &blob) {
                Ok(f) => f.artifacts.len(),
                Err(e) => {
                    found
                        .warnings
                        .push(format!("{refname}: {}", Error::from(e).message));
                    0
                }
            };
            found.pending.push(PendingRef {
                key,
                refname,
                commit,
                artifacts,
                state,
            });
        }
    }
    found.pending.sort_by(|a, b| {
        natural_cmp(a.key.as_str(), b.key.as_str()).then_with(|| a.refname.cmp(&b.refname))
    });
    Ok(found)
}

/// Every direct ref under `prefix` with its target.
fn refs_under(repo: &Repository, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
    let wrap = |e: gix::Error| Error::git(format!("could not list refs under {prefix}"), &e);
    let platform = repo.references().map_err(wrap)?;
    let iter = platform.prefixed(prefix).map_err(wrap)?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| {
            Error::new(
                crate::error::ErrorKind::Git,
                format!("could not read a ref under {prefix}: {e}"),
            )
        })?;
        if let Some(id) = r.try_id() {
            out.push((r.name().as_bstr().to_string(), id.detach()));
        }
    }
    Ok(out)
}
