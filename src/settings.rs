//! Where the catalogue lives: the catalogue folder and the branch, from the
//! values the binary was given plus git config, validated once.

use gix::{refs::FullName, Repository};

use crate::core::key::FragmentKey;
use crate::core::path::validate_written_path;
use crate::error::{Error, ErrorKind, Result};
use crate::git::store;

/// Where the catalogue lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The catalogue folder, repository-relative, `/`-separated, no trailing `/`.
    pub dir: String,
    /// The branch, e.g. `refs/heads/main`.
    pub branch: FullName,
    /// Which rule chose the branch.
    pub branch_source: BranchSource,
    /// Where issue numbers link on the index pages: a URL template with
    /// `{issue}`, from git config `catalogue.issueUrl`, else derived from a
    /// GitHub or GitLab `origin`; None: not linked.
    pub issue_url: Option<String>,
}

/// Which rule chose the branch (docs/format.md, "The branch"), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchSource {
    /// The caller named it (the command line).
    Given,
    /// git config `catalogue.branch`.
    Config,
    /// A non-bare repository's `refs/remotes/origin/HEAD`: the remote's default branch.
    RemoteHead,
    /// The branch `HEAD` names (a bare clone's default branch, or the one checked out).
    Head,
    /// Nothing named a branch: `main`.
    Default,
}

impl BranchSource {
    /// The stable name `--json` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchSource::Given => "argument",
            BranchSource::Config => "config",
            BranchSource::RemoteHead => "origin/HEAD",
            BranchSource::Head => "HEAD",
            BranchSource::Default => "default",
        }
    }
}

/// The folder when neither `--dir` nor `catalogue.dir` says otherwise.
pub const DEFAULT_DIR: &str = "catalogue";
/// The branch when neither `--branch` nor `catalogue.branch` says otherwise.
pub const DEFAULT_BRANCH: &str = "main";
/// Per-issue refs live below this prefix: `refs/heads/catalogue/<key>`.
pub const PER_ISSUE_PREFIX: &str = "refs/heads/catalogue/";

impl Settings {
    /// The values given first, then git config, then what the repository
    /// says (its remote's default branch, or the branch `HEAD` names), then
    /// the defaults.
    pub fn resolve(repo: &Repository, dir: Option<&str>, branch: Option<&str>) -> Result<Settings> {
        let dir = dir
            .map(ToOwned::to_owned)
            .or_else(|| store::config_string(repo, "catalogue.dir"))
            .unwrap_or_else(|| DEFAULT_DIR.to_owned());
        let (branch, branch_source) = match branch {
            Some(b) => (b.to_owned(), BranchSource::Given),
            None => match store::config_string(repo, "catalogue.branch") {
                Some(b) => (b, BranchSource::Config),
                None => repository_branch(repo)?
                    .unwrap_or_else(|| (DEFAULT_BRANCH.to_owned(), BranchSource::Default)),
            },
        };
        let mut settings = Settings::new(&dir, &branch)?;
        settings.branch_source = branch_source;
        settings.issue_url = issue_url(repo);
        Ok(settings)
    }

    /// Validate a folder and a short branch name.
    pub fn new(dir: &str, branch: &str) -> Result<Settings> {
        let dir = dir.trim_end_matches('/').to_owned();
        validate_written_path(&dir).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("invalid catalogue folder `{dir}`: {e}"),
            )
            .path(&dir)
        })?;
        let full = branch_ref(branch)?;
        Ok(Settings {
            dir,
            branch: full,
            branch_source: BranchSource::Given,
            issue_url: None,
        })
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

    /// `<dir>/index`: the folder of the index pages.
    pub fn pages_dir(&self) -> String {
        format!("{}/{}", self.dir, crate::core::index::pages::FOLDER)
    }

    /// `<dir>/index/<file>`.
    pub fn page_path(&self, file: &str) -> String {
        format!("{}/{file}", self.pages_dir())
    }
}

/// The issue URL template: git config `catalogue.issueUrl` when it is a
/// usable one, else the `origin` remote's issues when it is on GitHub or
/// GitLab.
fn issue_url(repo: &Repository) -> Option<String> {
    use crate::core::index::links;
    if let Some(template) = store::config_string(repo, "catalogue.issueUrl") {
        // Set but empty: the repository asks for no links.
        return links::usable_template(&template);
    }
    store::config_string(repo, "remote.origin.url")
        .and_then(|url| links::template_from_remote(&url))
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

/// The branch the repository itself names: in a non-bare repository its
/// remote's default branch (`refs/remotes/origin/HEAD`), else the branch
/// `HEAD` names (in a bare clone, the remote's default branch).
fn repository_branch(repo: &Repository) -> Result<Option<(String, BranchSource)>> {
    if !repo.is_bare() {
        if let Some(target) = store::symbolic_target(repo, "refs/remotes/origin/HEAD")? {
            if let Some(name) = target.strip_prefix("refs/remotes/origin/") {
                return Ok(Some((name.to_owned(), BranchSource::RemoteHead)));
            }
        }
    }
    Ok(store::symbolic_target(repo, "HEAD")?
        .and_then(|t| t.strip_prefix("refs/heads/").map(ToOwned::to_owned))
        .map(|name| (name, BranchSource::Head)))
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

/// The git config key of the manifest size that `consolidate` warns above.
pub const MANIFEST_WARN_SIZE_KEY: &str = "catalogue.manifestWarnSize";
/// The git config key of the manifest size that `consolidate` refuses above.
pub const MANIFEST_MAX_SIZE_KEY: &str = "catalogue.manifestMaxSize";

/// How large a `manifest.json` `consolidate` writes without a word, and
/// how large it writes at all (docs/format.md, "Manifest size"). Forges
/// warn at 50 MiB and refuse a file over 100 MiB, so the defaults speak
/// well before the first and refuse just before the second: a push that
/// would fail is never committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Bytes above which `consolidate` warns.
    pub warn: u64,
    /// Bytes above which `consolidate` refuses to write.
    pub max: u64,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        ManifestLimits {
            warn: 25 << 20,
            max: 95 << 20,
        }
    }
}

impl ManifestLimits {
    /// The defaults, with [`MANIFEST_WARN_SIZE_KEY`] and
    /// [`MANIFEST_MAX_SIZE_KEY`] from git config where set. A value that
    /// is not a size is a usage error naming the key.
    pub fn resolve(repo: &Repository) -> Result<ManifestLimits> {
        let mut limits = ManifestLimits::default();
        for (key, slot) in [
            (MANIFEST_WARN_SIZE_KEY, &mut limits.warn),
            (MANIFEST_MAX_SIZE_KEY, &mut limits.max),
        ] {
            if let Some(value) = store::config_string(repo, key) {
                *slot = parse_size(&value).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Usage,
                        format!(
                            "git config {key} is `{}`: it must be a size in bytes, 1 or more, \
                             optionally with the suffix k, m or g (as git config --type=int reads it)",
                            value.escape_debug()
                        ),
                    )
                })?;
            }
        }
        Ok(limits)
    }
}

/// A size as git config `--type=int` reads one: a whole number with an
/// optional `k`, `m` or `g` (either case) for 1024, 1024² and 1024³.
/// Zero, a sign, a fraction, other suffixes and overflow are refused.
pub fn parse_size(value: &str) -> Option<u64> {
    let value = value.trim();
    let (digits, unit) = match value.char_indices().last()? {
        (at, 'k' | 'K') => (&value[..at], 1 << 10),
        (at, 'm' | 'M') => (&value[..at], 1 << 20),
        (at, 'g' | 'G') => (&value[..at], 1 << 30),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(unit).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_git_reads_them() {
        for (value, bytes) in [
            ("1", Some(1)),
            ("2048", Some(2048)),
            ("2k", Some(2048)),
            ("8K", Some(8192)),
            ("25m", Some(25 << 20)),
            ("95M", Some(95 << 20)),
            ("1g", Some(1 << 30)),
            (" 3k ", Some(3072)),
            ("0", None),
            ("0k", None),
            ("", None),
            ("k", None),
            ("-1", None),
            ("+1", None),
            ("1.5m", None),
            ("10mb", None),
            ("10 m", None),
            ("ten", None),
            ("99999999999999999999", None),
            ("99999999999g", None),
        ] {
            assert_eq!(parse_size(value), bytes, "{value:?}");
        }
    }
}
