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
use serde_json::{Map, Value};

use crate::{
    cli::{ArtifactSource, ArtifactSpec},
    consolidate,
    error::{Error, ErrorKind, Result},
    fragment::{validate_path, Fragment, FragmentError, FragmentKey},
    manifest::{DuplicatePath, Manifest},
    publish::{self, Expected, Sink, Step},
    render::Old,
    settings::{self, Settings},
    store::{self, FragmentBlob, TreeChange},
    worktree,
};

/// A local file to commit alongside the fragment.
#[derive(Clone, Debug)]
pub struct AddedFile {
    /// Repository-relative destination (also an artifact path).
    pub dest: String,
    /// Its content.
    pub data: Vec<u8>,
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
    /// Where the commit goes: local refs, or a remote's by push.
    pub sink: Sink,
}

/// Assemble and validate the fragment from the command line: the optional
/// `--fragment` JSON, then `--issue`, then each `--artifact`/`--add` in order.
/// Reads the `--add` sources; touches no repository.
pub fn prepare(
    settings: &Settings,
    key: Option<&str>,
    issue: Option<u64>,
    base_json: Option<(&str, &[u8])>,
    specs: &[ArtifactSpec],
) -> Result<(Fragment, Vec<AddedFile>)> {
    let mut fields: Map<String, Value> = match base_json {
        None => Map::new(),
        Some((source, bytes)) => {
            // Validate the file as a fragment first, so its errors read as such.
            let probe_key = FragmentKey::new("fragment").expect("a valid constant key");
            let parsed = Fragment::parse(probe_key, bytes)
                .map_err(|e| invalid(&format!("--fragment `{source}`"), ("path", source), e))?;
            let mut all = parsed.fields;
            all.insert(
                "artifacts".to_owned(),
                Value::Array(parsed.artifacts.into_iter().map(Value::Object).collect()),
            );
            all
        }
    };
    if let Some(n) = issue {
        match fields.get("issue") {
            Some(existing) if !crate::inspect::issue_is(Some(existing), n) => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("--issue {n} disagrees with the fragment's \"issue\": {existing}"),
                ))
            }
            _ => {
                fields.insert("issue".to_owned(), Value::Number(n.into()));
            }
        }
    }
    let key = match (key, issue) {
        (Some(k), _) => FragmentKey::new(k)
            .map_err(|e| Error::new(ErrorKind::InvalidKey, e.to_string()).with("key", k))?,
        (None, Some(n)) => FragmentKey::for_issue(n),
        (None, None) => match fields.get("issue").and_then(|v| v.to_string().parse::<u64>().ok()) {
            Some(n) if n > 0 => FragmentKey::for_issue(n),
            _ => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    "record needs --issue N or --key K (or a fragment whose \"issue\" is a positive integer)",
                ))
            }
        },
    };
    let mut added = Vec::new();
    let mut artifacts: Vec<Value> = match fields.shift_remove("artifacts") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for spec in specs {
        let mut artifact = Map::new();
        artifact.insert("path".to_owned(), Value::String(spec.path().to_owned()));
        if let Some(kind) = &spec.kind {
            artifact.insert("kind".to_owned(), Value::String(kind.clone()));
        }
        if let Some(title) = &spec.title {
            artifact.insert("title".to_owned(), Value::String(title.clone()));
        }
        artifacts.push(Value::Object(artifact));
        if let ArtifactSource::Added { src, dest } = &spec.source {
            added.push(read_added(settings, src, dest)?);
        }
    }
    fields.insert("artifacts".to_owned(), Value::Array(artifacts));
    let bytes = serde_json::to_vec(&Value::Object(fields)).map_err(|e| {
        Error::new(
            ErrorKind::InvalidFragment,
            format!("could not serialise the fragment: {e}"),
        )
    })?;
    let fragment = Fragment::parse(key.clone(), &bytes)
        .map_err(|e| invalid(&format!("fragment `{key}`"), ("key", key.as_str()), e))?;
    // A path claimed twice within this one fragment.
    Manifest::build(vec![fragment.clone()], "").map_err(crate::consolidate::duplicate_error)?;
    Ok((fragment, added))
}

/// A refused fragment: a bad artifact path is `invalid_path` naming the path;
/// anything else is `invalid_fragment` naming where the fragment came from.
fn invalid(what: &str, (field, origin): (&str, &str), err: FragmentError) -> Error {
    match &err {
        FragmentError::BadPath { path, .. } => {
            Error::new(ErrorKind::InvalidPath, format!("{what}: {err}")).with("path", path)
        }
        _ => Error::new(ErrorKind::InvalidFragment, format!("invalid {what}: {err}"))
            .with(field, origin),
    }
}

fn read_added(settings: &Settings, src: &std::path::Path, dest: &str) -> Result<AddedFile> {
    validate_path(dest).map_err(|e| {
        Error::new(
            ErrorKind::InvalidPath,
            format!("invalid --add destination `{}`: {e}", dest.escape_debug()),
        )
        .with("path", dest)
    })?;
    if let Some(segment) = dest.split('/').find(|s| is_gitmodules(s)) {
        return Err(Error::new(
            ErrorKind::InvalidPath,
            format!(
                "invalid --add destination `{}`: git reads `{}` as `.gitmodules`, the submodule \
                 configuration that `git fsck` and forges parse and refuse when hostile; an artifact is never one",
                dest.escape_debug(),
                segment.escape_debug()
            ),
        )
        .with("path", dest));
    }
    if dest == settings.dir || dest.starts_with(&format!("{}/", settings.dir)) {
        return Err(Error::new(
            ErrorKind::InvalidPath,
            format!("--add destination `{dest}` is inside the catalogue folder `{}`, which git-catalogue owns", settings.dir),
        )
        .with("path", dest));
    }
    let meta = std::fs::metadata(src).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read --add source `{}`: {e}", src.display()),
        )
        .with("path", src.display())
    })?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("--add source `{}` is not a regular file", src.display()),
        )
        .with("path", src.display()));
    }
    let data = std::fs::read(src).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read --add source `{}`: {e}", src.display()),
        )
        .with("path", src.display())
    })?;
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    };
    #[cfg(not(unix))]
    let executable = false;
    Ok(AddedFile {
        dest: dest.to_owned(),
        data,
        executable,
    })
}

/// Whether a path segment is `.gitmodules` in any spelling git treats as it
/// (any case, `gitmod~1`, trailing dots or spaces, `::$DATA`, HFS+-ignored
/// code points). `--add` writes a file there, unlike `--artifact`, which only
/// names a path: a `.gitmodules` blob at any depth is parsed by `git fsck`
/// (a hostile URL fails it, and forges refuse the push). gix knows every
/// disguise, but reports them only for a symlink, so ask it as for one.
fn is_gitmodules(segment: &str) -> bool {
    use gix::validate::path::component::{Error, Mode, Options};
    let options = Options {
        protect_windows: false,
        protect_ntfs: true,
        protect_hfs: true,
    };
    matches!(
        gix::validate::path::component(segment.into(), Some(Mode::Symlink), options),
        Err(Error::SymlinkedGitModules)
    )
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

/// Write the fragment commit and move the ref.
pub fn record(repo: &Repository, settings: &Settings, req: &Request) -> Result<Outcome> {
    let key = &req.fragment.key;
    let target = if req.direct {
        settings.branch.clone()
    } else {
        settings::per_issue_ref(key)?
    };
    let fragment_path = settings.fragment_path(key);
    let fragment_bytes = req.fragment.to_bytes();
    let published = publish::with_retries(req.retries, &target, |_| {
        // A new per-issue ref starts from the branch; otherwise build on the ref itself.
        let (current, parent, branch_tip) = match &req.sink {
            Sink::Local => {
                let current = store::ref_target(repo, &target)?;
                let branch_tip = store::branch_base(repo, &settings.branch)?;
                (current, current.or(branch_tip), branch_tip)
            }
            Sink::Remote(_) => {
                let mut refs = vec![&target];
                if !req.direct {
                    refs.push(&settings.branch);
                }
                let tips = req.sink.read(repo, &refs)?;
                let base = tips.last().copied().flatten().ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "remote `{}` has no {}",
                            req.sink.remote_name().unwrap_or_default(),
                            settings.branch
                        ),
                    )
                    .with("ref", &settings.branch)
                })?;
                (tips[0], Some(tips[0].unwrap_or(base)), Some(base))
            }
        };
        let root = match parent {
            Some(p) => store::commit_tree(repo, p)?,
            None => store::empty_tree(repo),
        };
        let mut claim_roots = vec![root];
        if let Some(tip) = branch_tip.filter(|t| Some(*t) != parent) {
            claim_roots.push(store::commit_tree(repo, tip)?);
        }
        let fetch = |ids: &[ObjectId]| req.sink.fetch_missing(repo, ids);
        ensure_unclaimed(repo, &claim_roots, settings, &req.fragment, &fetch)?;
        let mut paths = vec![fragment_path.clone()];
        paths.extend(req.added.iter().map(|a| a.dest.clone()));
        let checkout = match req.sink {
            Sink::Local => worktree::checkout_of(repo, &target)?,
            Sink::Remote(_) => None,
        };
        if let Some(c) = &checkout {
            c.ensure_clean(&paths)?;
        }
        let placed: Vec<&str> = paths.iter().map(String::as_str).collect();
        store::check_placement(repo, root, &placed)?;
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
                id: store::write_blob(repo, &file.data, &file.dest)?,
            });
        }
        let tree = store::write_tree(repo, root, &changes)?;
        if req.direct && tree == root {
            // The branch already holds exactly this fragment and these files;
            // an empty commit on the shared branch would only be noise. (A
            // per-issue ref always gets its commit: CONTRACT §2 says a re-run
            // adds one, and the pull request shows the re-run.)
            return Ok(Step::Done((None, parent, None)));
        }
        let message = req.message.clone().unwrap_or_else(|| {
            format!(
                "catalogue: record {key}\n\n{} artifact(s) in {fragment_path}\n",
                req.fragment.artifacts.len()
            )
        });
        let parents: Vec<ObjectId> = parent.into_iter().collect();
        let commit = store::write_commit(repo, tree, &parents, &message)?;
        let log = format!("catalogue: record {key}");
        let expected = Expected::from_option(current);
        let cas = req
            .sink
            .swap(repo, &target, expected, commit, &log, !req.direct)?;
        cas.step(|| {
            let warning = checkout
                .as_ref()
                .and_then(|c| c.follow(parent.unwrap_or_else(|| store::empty_tree(repo)), commit));
            Ok((Some(commit), parent, warning))
        })
    })?;
    let (commit, parent, warning) = published.value;
    Ok(Outcome {
        key: key.clone(),
        target,
        commit,
        parent,
        attempts: published.attempts,
        fragment_path,
        artifacts: req.fragment.artifacts.len(),
        warnings: warning.into_iter().collect(),
    })
}

/// Refuse a fragment that claims a path another fragment already claims
/// (CONTRACT §1), in any of `roots`: the tree this commit builds on and, for a
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
        if let Ok(since) = consolidate::since_manifest(repo, *root, settings, false, fetch)? {
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
            Err(e) if e.kind == ErrorKind::InvalidFragment => continue,
            Err(e) => return Err(e),
        };
        for artifact in &other.artifacts {
            if let Some(path) = artifact.get("path").and_then(Value::as_str) {
                if ours.contains(&path) {
                    return Err(crate::consolidate::duplicate_error(DuplicatePath {
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
