//! The one error type the library returns, and the exit codes of CONTRACT §2.
//!
//! Callers act on the [`ErrorKind`]: the binary maps it to an exit status and to
//! `"error": {"kind": …}` in `--json` output. Each error also carries the
//! offender — the fragment path, blob id, commit, ref or lock file — as
//! structured `details`, so scripts need not parse the message.
//!
//! A lost compare-and-swap is *not* an error (see [`crate::publish`]); only
//! running out of retries is ([`ErrorKind::Contention`]).

use serde_json::{Map, Value};

/// What went wrong, as a caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line is wrong (unknown combination of flags, bad value).
    Usage,
    /// A fragment is not valid JSON, or not schema version 1.
    InvalidFragment,
    /// A fragment key does not match the contract's pattern, or is not a valid ref name.
    InvalidKey,
    /// An artifact path or `--add` destination is refused.
    InvalidPath,
    /// One artifact path is claimed twice.
    DuplicatePath,
    /// Something other than a regular `<key>.json` blob sits in the fragments folder.
    InvalidTree,
    /// The retry budget ran out while other writers kept moving the ref.
    Contention,
    /// A lock file stayed in place longer than we wait.
    Lock,
    /// A branch, revision, object or file does not exist.
    NotFound,
    /// The checked-out work tree has local changes to paths the command would write.
    DirtyWorktree,
    /// `check` found the manifest or index out of date.
    Stale,
    /// A remote could not be reached, or git's transport failed (no such remote, network, authentication).
    Remote,
    /// A remote refused an update for a reason other than a lost race (a hook, a protection rule).
    Rejected,
    /// git (gix or the `git` CLI) failed in a way we did not expect.
    Git,
    /// Reading or writing a local file failed.
    Io,
}

impl ErrorKind {
    /// The stable name used in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::InvalidFragment => "invalid_fragment",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::InvalidPath => "invalid_path",
            ErrorKind::DuplicatePath => "duplicate_path",
            ErrorKind::InvalidTree => "invalid_tree",
            ErrorKind::Contention => "contention",
            ErrorKind::Lock => "lock",
            ErrorKind::NotFound => "not_found",
            ErrorKind::DirtyWorktree => "dirty_worktree",
            ErrorKind::Stale => "stale",
            ErrorKind::Remote => "remote",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Git => "git",
            ErrorKind::Io => "io",
        }
    }

    /// The kind whose [`as_str`](Self::as_str) is `name`.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        use ErrorKind::*;
        [
            Usage,
            InvalidFragment,
            InvalidKey,
            InvalidPath,
            DuplicatePath,
            InvalidTree,
            Contention,
            Lock,
            NotFound,
            DirtyWorktree,
            Stale,
            Remote,
            Rejected,
            Git,
            Io,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// Exit status of CONTRACT §2: 2 bad usage or input, 3 gave up under
    /// contention, 1 a finding of `check`, 4 every other failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage
            | ErrorKind::InvalidFragment
            | ErrorKind::InvalidKey
            | ErrorKind::InvalidPath
            | ErrorKind::DuplicatePath
            | ErrorKind::InvalidTree => 2,
            ErrorKind::Contention => 3,
            ErrorKind::Stale => 1,
            ErrorKind::Lock
            | ErrorKind::NotFound
            | ErrorKind::DirtyWorktree
            | ErrorKind::Remote
            | ErrorKind::Rejected
            | ErrorKind::Git
            | ErrorKind::Io => 4,
        }
    }
}

/// An error with its kind, a sentence for people, and the offender for scripts.
#[derive(Clone, Debug)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// One or more sentences naming the offender.
    pub message: String,
    /// Offender fields for `--json`: `path`, `blob`, `commit`, `ref`, `lock`, `key`, …
    pub details: Map<String, Value>,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Attach an offender field, e.g. `.with("ref", "refs/heads/main")`.
    pub fn with(mut self, field: &str, value: impl ToString) -> Self {
        self.details
            .insert(field.to_owned(), Value::String(value.to_string()));
        self
    }

    /// Attach a numeric field, e.g. `.with_number("attempts", 3)`.
    pub fn with_number(mut self, field: &str, value: u32) -> Self {
        self.details.insert(field.to_owned(), Value::from(value));
        self
    }

    /// Wrap a gix failure that happened while doing `what`.
    pub fn git(what: impl std::fmt::Display, err: &gix::Error) -> Self {
        let kind = if err.is_not_found() {
            ErrorKind::NotFound
        } else if local_file_refused(err) {
            ErrorKind::Io
        } else {
            ErrorKind::Git
        };
        Error::new(kind, format!("{what}: {}", describe_gix(err)))
    }

    /// Prefix the message with what the caller was doing.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Whether gix failed because the file system refused a write (a read-only
/// object directory, a full disk): `io`, the user's to fix, not git's.
fn local_file_refused(err: &gix::Error) -> bool {
    use std::io::ErrorKind as Io;
    err.iter_errors()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|e| {
            matches!(
                e.kind(),
                Io::PermissionDenied | Io::ReadOnlyFilesystem | Io::StorageFull
            )
        })
}

/// gix 0.90 prints only the outermost context with `{}`; the causes hold the
/// useful part (which object, which path), so join the whole chain once here.
pub fn describe_gix(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.iter_errors() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}
