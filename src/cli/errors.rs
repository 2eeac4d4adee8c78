//! Errors as the binary shows them: the JSON name of each kind, its exit
//! status, the offender fields of `--json`, and the hints that name a flag
//! (docs/format.md, "Exit codes and JSON output").

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Hint};

/// The stable name of a kind in `--json` output.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Usage => "usage",
        ErrorKind::InvalidFragment => "invalid_fragment",
        ErrorKind::InvalidKey => "invalid_key",
        ErrorKind::InvalidPath => "invalid_path",
        ErrorKind::DuplicatePath => "duplicate_path",
        ErrorKind::InvalidTree => "invalid_tree",
        ErrorKind::InvalidManifest => "invalid_manifest",
        ErrorKind::Contention => "contention",
        ErrorKind::Lock => "lock",
        ErrorKind::NotFound => "not_found",
        ErrorKind::DirtyWorktree => "dirty_worktree",
        ErrorKind::Stale => "stale",
        ErrorKind::Unmigrated => "unmigrated",
        ErrorKind::ManifestTooLarge => "manifest_too_large",
        ErrorKind::Remote => "remote",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Git => "git",
        ErrorKind::Io => "io",
    }
}

/// The exit status of a failure: 2 bad usage or input, 3 gave up under
/// contention, 1 a finding of `check` or `verify`, 4 every other failure.
pub fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Usage
        | ErrorKind::InvalidFragment
        | ErrorKind::InvalidKey
        | ErrorKind::InvalidPath
        | ErrorKind::DuplicatePath
        | ErrorKind::InvalidTree
        | ErrorKind::InvalidManifest
        | ErrorKind::Unmigrated
        | ErrorKind::ManifestTooLarge => 2,
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

/// The message with the hint the library asked for, worded with the flags.
pub fn message(err: &Error) -> String {
    match err.hint {
        None => err.message.clone(),
        Some(Hint::Branch) => format!(
            "{} (name another with --branch or git config catalogue.branch, or record a fragment first)",
            err.message
        ),
        Some(Hint::Retries) => format!("{}; re-run it, or raise --retries", err.message),
        Some(Hint::Conflict) => {
            let key = err.offender.key.as_deref().unwrap_or("K");
            format!(
                "{}. Both claims stay listed under `conflicts` in manifest.json and at the top of index.md \
                 until one goes: re-record fragment `{key}` (the later in natural key order; either will do) \
                 without that path with `git catalogue record --key {key} ...`, or delete its fragment file",
                err.message
            )
        }
        Some(Hint::Unmigrated) => format!(
            "{}; run `git catalogue repair` to migrate such entries into recovery fragments, \
             or `git catalogue consolidate --drop-unbacked` to drop them on purpose",
            err.message
        ),
        Some(Hint::ManifestSize) => format!(
            "{}; raise the limit (`git config catalogue.manifestMaxSize 200m`) if your forge takes \
             larger files, split the catalogue into several folders with --dir (or git config \
             catalogue.dir), or delete fragments that are no longer needed",
            err.message
        ),
    }
}

/// `--json`'s `error` object: kind, message and the offender fields.
pub fn error_json(err: &Error) -> Value {
    let mut m = Map::new();
    m.insert(
        "kind".to_owned(),
        Value::String(kind_name(err.kind).to_owned()),
    );
    m.insert("message".to_owned(), Value::String(message(err)));
    let o = &err.offender;
    for (name, value) in [
        ("path", &o.path),
        ("blob", &o.blob),
        ("tree", &o.tree),
        ("commit", &o.commit),
        ("ref", &o.refname),
        ("lock", &o.lock),
        ("key", &o.key),
        ("remote", &o.remote),
    ] {
        if let Some(v) = value {
            m.insert(name.to_owned(), Value::String(v.clone()));
        }
    }
    if let Some(n) = o.attempts {
        m.insert("attempts".to_owned(), Value::from(n));
    }
    if !o.fragments.is_empty() {
        m.insert(
            "fragments".to_owned(),
            Value::Array(o.fragments.iter().cloned().map(Value::String).collect()),
        );
    }
    Value::Object(m)
}
