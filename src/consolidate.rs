//! `consolidate`: rebuild `manifest.json` and `index.md` from the branch tip's
//! fragments, commit them on the tip, and move the branch by compare-and-swap.
//!
//! Each attempt re-reads the tip, so when another writer wins the race the
//! retry rebuilds on the winner's commit: their fragments are read and land in
//! the manifest, and nothing they wrote is overwritten.

use gix::{objs::tree::EntryKind, ObjectId, Repository};

use crate::{
    error::{Error, ErrorKind, Result},
    index,
    manifest::{DuplicatePath, Manifest},
    publish::{self, Expected, Sink, Step},
    settings::Settings,
    store::{self, TreeChange},
    worktree,
};

/// The catalogue a tree's fragments make, rendered.
#[derive(Debug)]
pub struct Built {
    /// The consolidated catalogue.
    pub manifest: Manifest,
    /// `manifest.json` bytes.
    pub manifest_json: Vec<u8>,
    /// `index.md` bytes.
    pub index_md: Vec<u8>,
    /// Entries of the fragments folder that were skipped, one sentence each.
    pub warnings: Vec<String>,
}

/// Read every fragment of `root` and render manifest and index. Fails on the
/// first invalid fragment or duplicate path, naming it.
pub fn build(repo: &Repository, root: ObjectId, settings: &Settings) -> Result<Built> {
    let read = store::read_fragments(repo, root, &settings.dir)?;
    let manifest =
        Manifest::build(read.fragments, &read.source.to_string()).map_err(duplicate_error)?;
    Ok(render(manifest, settings, read.warnings))
}

/// Render a built manifest's two files.
pub fn render(manifest: Manifest, settings: &Settings, warnings: Vec<String>) -> Built {
    let manifest_json = manifest.to_json();
    let index_md = index::render(&manifest, &settings.dir).into_bytes();
    Built {
        manifest,
        manifest_json,
        index_md,
        warnings,
    }
}

/// The one way a path claimed twice is reported: the path and both fragments.
pub fn duplicate_error(dup: DuplicatePath) -> Error {
    let mut err = Error::new(ErrorKind::DuplicatePath, dup.to_string()).with("path", &dup.path);
    err.details.insert(
        "fragments".to_owned(),
        serde_json::json!([dup.first.as_str(), dup.second.as_str()]),
    );
    err
}

/// Which of manifest and index in `root` differ from `built` (missing ones
/// included); empty when the catalogue is current.
pub fn stale_paths(
    repo: &Repository,
    root: ObjectId,
    settings: &Settings,
    built: &Built,
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (path, bytes) in [
        (settings.manifest_path(), &built.manifest_json),
        (settings.index_path(), &built.index_md),
    ] {
        let want = store::blob_id(repo, bytes)?;
        match store::entry_at(repo, root, &path)? {
            Some(e) if e.id == want && e.kind == EntryKind::Blob => {}
            _ => stale.push(path),
        }
    }
    Ok(stale)
}

/// What `consolidate` is asked to do.
#[derive(Debug)]
pub struct Options {
    /// Report only.
    pub dry_run: bool,
    /// Retry budget under contention.
    pub retries: u32,
    /// Commit message override.
    pub message: Option<String>,
    /// Where the result goes: the local branch, or a remote's by push.
    pub sink: Sink,
}

/// What `consolidate` did.
#[derive(Debug)]
pub struct Outcome {
    /// Whether a commit was (or, with `dry_run`, would be) made.
    pub changed: bool,
    /// The consolidation commit, when one was made.
    pub commit: Option<ObjectId>,
    /// The branch's value afterwards.
    pub tip: ObjectId,
    /// Attempts taken (1 = no retry).
    pub attempts: u32,
    /// Fragments consolidated.
    pub fragments: usize,
    /// Artifacts in the manifest.
    pub artifacts: usize,
    /// The fragments tree the manifest was built from.
    pub source: String,
    /// Skipped entries of the fragments folder.
    pub warnings: Vec<String>,
}

/// Bring the branch's manifest and index up to date.
pub fn consolidate(repo: &Repository, settings: &Settings, opts: &Options) -> Result<Outcome> {
    let branch = &settings.branch;
    let published = publish::with_retries(opts.retries, branch, |_| {
        let tip = opts.sink.read(repo, &[branch])?[0].ok_or_else(|| {
            let whose = match opts.sink.remote_name() {
                Some(remote) => format!(" on remote `{remote}`"),
                None => String::new(),
            };
            Error::new(
                ErrorKind::NotFound,
                format!("branch {branch} does not exist{whose}; record a fragment first or pass --branch"),
            )
            .with("ref", branch)
        })?;
        let root = store::commit_tree(repo, tip)?;
        let built = build(repo, root, settings)?;
        let mut outcome = Outcome {
            changed: false,
            commit: None,
            tip,
            attempts: 0,
            fragments: built.manifest.fragments().len(),
            artifacts: built.manifest.artifact_count(),
            source: built.manifest.source().to_owned(),
            warnings: built.warnings.clone(),
        };
        if stale_paths(repo, root, settings, &built)?.is_empty() {
            return Ok(Step::Done(outcome));
        }
        outcome.changed = true;
        if opts.dry_run {
            return Ok(Step::Done(outcome));
        }
        let paths = [settings.manifest_path(), settings.index_path()];
        let checkout = match opts.sink {
            Sink::Local => worktree::checkout_of(repo, branch)?,
            Sink::Remote(_) => None,
        };
        if let Some(c) = &checkout {
            c.ensure_clean(&paths)?;
        }
        store::check_placement(repo, root, &[&paths[0], &paths[1]])?;
        let changes = vec![
            TreeChange {
                path: paths[0].clone(),
                kind: EntryKind::Blob,
                id: store::write_blob(repo, &built.manifest_json, &paths[0])?,
            },
            TreeChange {
                path: paths[1].clone(),
                kind: EntryKind::Blob,
                id: store::write_blob(repo, &built.index_md, &paths[1])?,
            },
        ];
        let tree = store::write_tree(repo, root, &changes)?;
        let message = opts.message.clone().unwrap_or_else(|| {
            format!(
                "catalogue: consolidate {} fragment(s), {} artifact(s)\n\nsource: {}\n",
                outcome.fragments, outcome.artifacts, outcome.source
            )
        });
        let commit = store::write_commit(repo, tree, &[tip], &message)?;
        let log = "catalogue: consolidate";
        let cas = opts
            .sink
            .swap(repo, branch, Expected::At(tip), commit, log, false)?;
        cas.step(|| {
            if let Some(warning) = checkout.as_ref().and_then(|c| c.follow(tip, commit)) {
                outcome.warnings.push(warning);
            }
            outcome.commit = Some(commit);
            outcome.tip = commit;
            Ok(outcome)
        })
    })?;
    let mut outcome = published.value;
    outcome.attempts = published.attempts;
    Ok(outcome)
}
