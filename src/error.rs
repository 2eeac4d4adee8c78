//! The one error type the library returns.
//!
//! Callers act on the [`ErrorKind`]; the offender (the fragment path, blob
//! id, commit, ref or lock file) travels as typed fields in [`Offender`], so
//! neither the binary nor a script has to parse the message. The binary
//! chooses exit codes, JSON names and any hint that names a flag
//! (docs/format.md, "Exit codes" and "JSON output"): the library only says
//! which [`Hint`] applies.
//!
//! A lost compare-and-swap is *not* an error (see `crate::publish`); only
//! running out of retries is ([`ErrorKind::Contention`]).

/// What went wrong, as a caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line is wrong (unknown combination of flags, bad value).
    Usage,
    /// A fragment is not valid JSON, or not schema version 1.
    InvalidFragment,
    /// A fragment key does not match the key pattern, or is not a valid ref name.
    InvalidKey,
    /// An artifact path or the destination of a written file is refused.
    InvalidPath,
    /// One artifact path is claimed twice.
    DuplicatePath,
    /// Something other than a regular `<key>.json` blob sits in the fragments folder.
    InvalidTree,
    /// A committed `manifest.json` is not JSON (found by `verify --history`).
    InvalidManifest,
    /// The retry budget ran out while other writers kept moving the ref.
    Contention,
    /// A lock file stayed in place longer than we wait.
    Lock,
    /// A branch, revision, object or file does not exist.
    NotFound,
    /// The checked-out work tree has local changes to paths the command would write.
    DirtyWorktree,
    /// The manifest or index is out of date.
    Stale,
    /// The manifest holds entries no fragment backs (a legacy or hand-written
    /// manifest): consolidating would drop them.
    Unmigrated,
    /// The `manifest.json` about to be written is larger than the limit
    /// (git config `catalogue.manifestMaxSize`): a forge would refuse the push.
    ManifestTooLarge,
    /// A remote could not be reached, or git's transport failed (no such remote, network, authentication).
    Remote,
    /// A remote refused an update for a reason other than a lost race (a hook, a protection rule).
    Rejected,
    /// git (gix or the `git` CLI) failed in a way we did not expect.
    Git,
    /// Reading or writing a local file failed.
    Io,
}

/// The things an error can name, each in its own field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offender {
    /// A repository path (or a local file).
    pub path: Option<String>,
    /// A blob id.
    pub blob: Option<String>,
    /// A tree id.
    pub tree: Option<String>,
    /// A commit id, or the revision as the user typed it.
    pub commit: Option<String>,
    /// A full ref name.
    pub refname: Option<String>,
    /// A lock file.
    pub lock: Option<String>,
    /// A fragment key.
    pub key: Option<String>,
    /// A remote, as the user named it.
    pub remote: Option<String>,
    /// The attempts a writing command made before it stopped.
    pub attempts: Option<u32>,
    /// The fragments involved, when there are two (a path claimed twice).
    pub fragments: Vec<String>,
}

/// A next step the binary may add, in its own words (it alone knows the
/// flags): the library only says which one applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// The branch does not exist: name another one, or record first.
    Branch,
    /// Other writers kept winning: re-run, or allow more retries.
    Retries,
    /// A path claimed twice on the branch: re-record the later claimant
    /// (the error's `key`) without it, or delete that fragment.
    Conflict,
    /// Entries no fragment backs: migrate them with `repair`, or drop them on purpose.
    Unmigrated,
    /// A manifest over the size limit: raise the limit, split the
    /// catalogue, or prune fragments.
    ManifestSize,
}

/// An error with its kind, a sentence for people, and the offender for scripts.
#[derive(Clone, Debug)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// One or more sentences naming the offender.
    pub message: String,
    /// The offender, field by field (boxed: most results are not errors,
    /// and a large `Err` would make every `Result` large).
    pub offender: Box<Offender>,
    /// A next step for the binary to word, if one applies.
    pub hint: Option<Hint>,
    /// A failure a retry a moment later may pass (a busy server's reset, a
    /// gateway's 503, a push the server said `ok` to but did not apply): the
    /// retry loop takes it as a lost attempt, within the same budget.
    pub transient: bool,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            offender: Box::default(),
            hint: None,
            transient: false,
        }
    }

    /// The one wording of a branch that is not there (on `remote`, when
    /// given), naming it.
    pub fn missing_branch(branch: impl std::fmt::Display, remote: Option<&str>) -> Self {
        let whose = remote
            .map(|r| format!(" on remote `{r}`"))
            .unwrap_or_default();
        let mut err = Error::new(
            ErrorKind::NotFound,
            format!("branch {branch} does not exist{whose}"),
        )
        .refname(branch);
        err.offender.remote = remote.map(ToOwned::to_owned);
        err.hint = Some(Hint::Branch);
        err
    }

    /// A remote's refusal, in its own words.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Rejected, reason)
    }

    /// Name a path.
    pub fn path(mut self, value: impl ToString) -> Self {
        self.offender.path = Some(value.to_string());
        self
    }

    /// Name a blob.
    pub fn blob(mut self, value: impl ToString) -> Self {
        self.offender.blob = Some(value.to_string());
        self
    }

    /// Name a tree.
    pub fn tree(mut self, value: impl ToString) -> Self {
        self.offender.tree = Some(value.to_string());
        self
    }

    /// Name a commit (or the revision as given).
    pub fn commit(mut self, value: impl ToString) -> Self {
        self.offender.commit = Some(value.to_string());
        self
    }

    /// Name a ref.
    pub fn refname(mut self, value: impl ToString) -> Self {
        self.offender.refname = Some(value.to_string());
        self
    }

    /// Name a lock file.
    pub fn lock(mut self, value: impl ToString) -> Self {
        self.offender.lock = Some(value.to_string());
        self
    }

    /// Name a fragment key.
    pub fn key(mut self, value: impl ToString) -> Self {
        self.offender.key = Some(value.to_string());
        self
    }

    /// Name a remote.
    pub fn remote(mut self, value: impl ToString) -> Self {
        self.offender.remote = Some(value.to_string());
        self
    }

    /// Say how many attempts were made.
    pub fn attempts(mut self, n: u32) -> Self {
        self.offender.attempts = Some(n);
        self
    }

    /// Name the fragments involved.
    pub fn fragments<S: ToString>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.offender.fragments = keys.into_iter().map(|k| k.to_string()).collect();
        self
    }

    /// Mark as worth another attempt (see the `transient` field).
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Attach a next step for the binary to word.
    pub fn hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
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
