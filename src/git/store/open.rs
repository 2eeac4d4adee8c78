//! Opening the repository the way git finds it, and the in-memory config
//! every command runs with.

use std::path::Path;

use gix::{bstr::ByteSlice, Repository};

use crate::error::{describe_gix, Error, ErrorKind, Result};

/// The identity used when neither git config nor the environment names one,
/// as in a bare CI clone. Documented in README.md.
pub const FALLBACK_NAME: &str = "git-catalogue";

/// See [`FALLBACK_NAME`].
pub const FALLBACK_EMAIL: &str = "git-catalogue@localhost";

/// How long a held ref lock is waited for, unless git config says otherwise.
/// gix's own default (100 ms) is shorter than one busy writer holds
/// `packed-refs.lock` under the load of many concurrent writers (docs/format.md, "Concurrency").
const DEFAULT_LOCK_TIMEOUT_MS: &str = "3000";

/// Open the repository the way git finds it: `GIT_DIR` and friends first,
/// else discovery upwards from `cwd` (which must be absolute: gix 0.90 resolves a relative one
/// against nothing and fails to find the repository).
pub fn open(cwd: &Path) -> Result<Repository> {
    let mut repo = gix::discover_with_environment_overrides(cwd).map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "not a git repository (or any parent up to the root): {}: {}",
                cwd.display(),
                describe_gix(&e)
            ),
        )
        .path(cwd.display())
    })?;
    configure(&mut repo)?;
    Ok(repo)
}

/// In-memory settings every command needs: the fallback identity (applies only
/// where nothing is configured) and lock timeouts (only where unset).
fn configure(repo: &mut Repository) -> Result<()> {
    use gix::config::tree::{gitoxide, Core};
    let snapshot = repo.config_snapshot();
    let unset = |key: &str| snapshot.string(key).is_none();
    let files_unset = unset("core.filesRefLockTimeout");
    let packed_unset = unset("core.packedRefsTimeout");
    let mut config = repo.config_snapshot_mut();
    let set = |config: &mut gix::config::SnapshotMut<'_>, key, value: &str| {
        config
            .set_value(key, value)
            .map(|_| ())
            .map_err(|e| Error::git("could not set in-memory git config", &e))
    };
    set(
        &mut config,
        &gitoxide::Committer::NAME_FALLBACK,
        FALLBACK_NAME,
    )?;
    set(
        &mut config,
        &gitoxide::Committer::EMAIL_FALLBACK,
        FALLBACK_EMAIL,
    )?;
    set(&mut config, &gitoxide::Author::NAME_FALLBACK, FALLBACK_NAME)?;
    set(
        &mut config,
        &gitoxide::Author::EMAIL_FALLBACK,
        FALLBACK_EMAIL,
    )?;
    if files_unset {
        set(
            &mut config,
            &Core::FILES_REF_LOCK_TIMEOUT,
            DEFAULT_LOCK_TIMEOUT_MS,
        )?;
    }
    if packed_unset {
        set(
            &mut config,
            &Core::PACKED_REFS_TIMEOUT,
            DEFAULT_LOCK_TIMEOUT_MS,
        )?;
    }
    config
        .commit()
        .map_err(|e| Error::git("could not apply in-memory git config", &e))?;
    Ok(())
}

/// A git config string, if set.
pub fn config_string(repo: &Repository, key: &str) -> Option<String> {
    repo.config_snapshot()
        .string(key)
        .map(|v| v.to_str_lossy().into_owned())
}
