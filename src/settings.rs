//! Where the catalogue lives: the catalogue folder and the branch, from the
//! values the binary was given plus git config, validated once.

use gix::{refs::FullName, Repository};

use crate::core::key::FragmentKey;
use crate::core::path::validate_path;
use crate::error::{Error, ErrorKind, Result};
use crate::git::store;

/// Where the catalogue lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The catalogue folder, repository-relative, `/`-separated, no trailing `/`.
    pub dir: String,
    /// The branch, e.g. `refs/heads/main`.
    pub branch: FullName,
}

/// The folder when neither `--dir` nor `catalogue.dir` says otherwise.
pub const DEFAULT_DIR: &str = "catalogue";
/// The branch when neither `--branch` nor `catalogue.branch` says otherwise.
pub const DEFAULT_BRANCH: &str = "main";
/// Per-issue refs live below this prefix: `refs/heads/catalogue/<key>`.
pub const PER_ISSUE_PREFIX: &str = "refs/heads/catalogue/";

impl Settings {
    /// Flags first, then git config, then the defaults.
    pub fn resolve(repo: &Repository, dir: Option<&str>, branch: Option<&str>) -> Result<Settings> {
        let dir = dir
            .map(ToOwned::to_owned)
            .or_else(|| store::config_string(repo, "catalogue.dir"))
            .unwrap_or_else(|| DEFAULT_DIR.to_owned());
        let branch = branch
            .map(ToOwned::to_owned)
            .or_else(|| store::config_string(repo, "catalogue.branch"))
            .unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
        Settings::new(&dir, &branch)
    }

    /// Validate a folder and a short branch name.
    pub fn new(dir: &str, branch: &str) -> Result<Settings> {
        let dir = dir.trim_end_matches('/').to_owned();
        validate_path(&dir).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("invalid catalogue folder `{dir}`: {e}"),
            )
            .path(&dir)
        })?;
        let full = branch_ref(branch)?;
        Ok(Settings { dir, branch: full })
    }

    /// `<dir>/fragments`.
    pub fn fragments_dir(&self) -> String {
        format!("{}/fragments", self.dir)
    }

    /// `<dir>/fragments/<key>.json`.
    pub fn fragment_path(&self, key: &FragmentKey) -> String {
        format!("{}/fragments/{}", self.dir, key.file_name())
    }

    /// `<dir>/manifest.json`.
    pub fn manifest_path(&self) -> String {
        format!("{}/{MANIFEST_FILE}", self.dir)
    }

    /// `<dir>/index.md`.
    pub fn index_path(&self) -> String {
        format!("{}/index.md", self.dir)
    }
}

/// The manifest's file name inside the catalogue folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// `refs/heads/<name>` for a short branch name (a full `refs/heads/…` is accepted too).
pub fn branch_ref(branch: &str) -> Result<FullName> {
    let full = if branch.starts_with("refs/heads/") {
        branch.to_owned()
    } else {
        format!("refs/heads/{branch}")
    };
    FullName::try_from(full.as_str()).map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("invalid branch name `{branch}`: {e}"),
        )
        .refname(&full)
    })
}

/// The per-issue ref of a key, `refs/heads/catalogue/<key>`.
pub fn per_issue_ref(key: &FragmentKey) -> Result<FullName> {
    let full = format!("{PER_ISSUE_PREFIX}{key}");
    FullName::try_from(full.as_str()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidKey,
            format!("fragment key `{key}` does not make a valid ref name `{full}`: {e}"),
        )
        .key(key)
        .refname(&full)
    })
}
