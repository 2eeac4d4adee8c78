//! `record`: the fragment assembled from the command line (`--fragment`,
//! `--issue`/`--key`, each `--artifact`/`--add` with its `--kind` and
//! `--title`), the `--add` files read, and the report.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::args::{ArtifactSource, ArtifactSpec, RecordArgs};
use super::{obj, of_remote, retries_note, sink, Report};
use crate::catalogue;
use crate::core::fragment::MAX_FRAGMENT_BYTES;
use crate::core::fragment::{Fragment, FragmentError};
use crate::core::key::FragmentKey;
use crate::core::manifest::Manifest;
use crate::core::path::validate_written_path;
use crate::error::{Error, ErrorKind, Result};
use crate::inspect::issue_is;
use crate::record::{self, AddedFile, Request};
use crate::settings::Settings;

/// `git catalogue record`.
pub fn run(
    repo: &gix::Repository,
    settings: &Settings,
    args: &RecordArgs,
    matches: Option<&clap::ArgMatches>,
) -> Result<Report> {
    let specs = matches
        .map(super::args::artifact_specs)
        .transpose()
        .map_err(|m| Error::new(ErrorKind::Usage, m))?
        .unwrap_or_default();
    let base = match &args.fragment {
        None => None,
        Some(path) => Some((path.display().to_string(), read_input(path)?)),
    };
    let (fragment, added) = prepare(
        settings,
        args.key.as_deref(),
        args.issue,
        base.as_ref()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        &specs,
    )?;
    let req = Request {
        fragment,
        added,
        direct: args.direct,
        retries: args.write.retries,
        message: args.write.message.clone(),
    };
    let sink = sink(repo, &args.write)?;
    let out = record::record(repo, settings, sink.as_ref(), &req)?;
    let mut report = Report::new("record");
    report.warn(&out.warnings);
    report.messages.push(match out.commit {
        Some(c) => format!(
            "recorded {} ({} artifact(s)) as {c} on {}{}{}",
            out.key,
            out.artifacts,
            out.target,
            of_remote(args.write.push.as_deref()),
            retries_note(out.attempts)
        ),
        None => format!(
            "{} already holds this fragment of {}; nothing to do",
            out.target, out.key
        ),
    });
    report.json = obj(json!({
        "key": out.key.as_str(),
        "ref": out.target.to_string(),
        "commit": out.commit.map(|c| c.to_string()),
        "parent": out.parent.map(|c| c.to_string()),
        // The commit on `ref` that holds the fragment now: the one written, or
        // the tip that already held it (as when an earlier attempt's push
        // landed though its reply was lost).
        "tip": out.commit.or(out.parent).map(|c| c.to_string()),
        "changed": out.commit.is_some(),
        "remote": args.write.push,
        "pushed": args.write.push.as_ref().and(out.commit).map(|c| c.to_string()),
        "attempts": out.attempts,
        "fragment": out.fragment_path,
        "artifacts": out.artifacts,
        "warnings": out.warnings,
    }));
    Ok(report)
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
                .map_err(|e| invalid(&format!("--fragment `{source}`"), |e| e.path(source), e))?;
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
            Some(existing) if !issue_is(Some(existing), n) => {
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
            .map_err(|e| Error::new(ErrorKind::InvalidKey, e.to_string()).key(k))?,
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
        .map_err(|e| invalid(&format!("fragment `{key}`"), |e| e.key(&key), e))?;
    // A path claimed twice within this one fragment.
    Manifest::build(vec![fragment.clone()], "").map_err(catalogue::duplicate_error)?;
    Ok((fragment, added))
}

/// A refused fragment: a bad artifact path is `invalid_path` naming the path;
/// anything else is `invalid_fragment` naming where the fragment came from.
fn invalid(what: &str, origin: impl FnOnce(Error) -> Error, err: FragmentError) -> Error {
    match &err {
        FragmentError::BadPath { path, .. } => {
            Error::new(ErrorKind::InvalidPath, format!("{what}: {err}")).path(path)
        }
        _ => origin(Error::new(
            ErrorKind::InvalidFragment,
            format!("invalid {what}: {err}"),
        )),
    }
}

/// The largest `--add` file: forges refuse a file over 100 MB in a push.
pub const MAX_ADD_BYTES: u64 = 100 << 20;

fn read_added(settings: &Settings, src: &Path, dest: &str) -> Result<AddedFile> {
    validate_written_path(dest).map_err(|e| {
        Error::new(
            ErrorKind::InvalidPath,
            format!("invalid --add destination `{}`: {e}", dest.escape_debug()),
        )
        .path(dest)
    })?;
    if dest == settings.dir || dest.starts_with(&format!("{}/", settings.dir)) {
        return Err(Error::new(
            ErrorKind::InvalidPath,
            format!("--add destination `{dest}` is inside the catalogue folder `{}`, which git-catalogue owns", settings.dir),
        )
        .path(dest));
    }
    let refuse = |why: String| {
        Error::new(
            ErrorKind::Usage,
            format!("--add source `{}` {why}", src.display()),
        )
        .path(src.display())
    };
    // A symlink's target is never read: a producer's output folder must not
    // be able to point `--add` at a secret (a key, /proc/self/environ) and
    // have it committed. A relative source is checked at every folder of
    // its path, the file itself when it is opened.
    if src.is_relative() {
        let mut prefix = std::path::PathBuf::new();
        for part in src.components() {
            prefix.push(part);
            if std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse(format!(
                    "goes through the symbolic link `{}`; git-catalogue never follows one",
                    prefix.display()
                )));
            }
        }
    }
    let file = open_no_follow(src).map_err(|e| {
        if is_symlink_error(&e) {
            refuse("is a symbolic link; git-catalogue never reads what one points to".to_owned())
        } else {
            Error::new(
                missing_is_usage(&e),
                format!("cannot read --add source `{}`: {e}", src.display()),
            )
            .path(src.display())
        }
    })?;
    let meta = file.metadata().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read --add source `{}`: {e}", src.display()),
        )
        .path(src.display())
    })?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file".to_owned()));
    }
    if meta.len() > MAX_ADD_BYTES {
        return Err(refuse(format!(
            "is {} bytes, over the limit of {MAX_ADD_BYTES} (forges refuse larger files)",
            meta.len()
        )));
    }
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    };
    #[cfg(not(unix))]
    let executable = false;
    Ok(AddedFile {
        dest: dest.to_owned(),
        size: meta.len(),
        file,
        executable,
    })
}

/// Open a file for reading without following a symlink at its last step
/// (`O_NOFOLLOW`), so that what was checked is what is read.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Whether opening failed because the last step is a symlink (`ELOOP`).
fn is_symlink_error(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The bytes of `--fragment FILE`, or stdin for `-`, read only to the
/// fragment limit and one byte more: an endless or huge input is refused
/// without holding it.
fn read_input(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = MAX_FRAGMENT_BYTES as u64;
    let mut buf = Vec::new();
    let (name, read) = if path.as_os_str() == "-" {
        (
            "-".to_owned(),
            std::io::stdin()
                .lock()
                .take(limit + 1)
                .read_to_end(&mut buf),
        )
    } else {
        let name = path.display().to_string();
        let read = open_no_follow(path).and_then(|f| f.take(limit + 1).read_to_end(&mut buf));
        (name, read)
    };
    read.map_err(|e| {
        let (kind, what) = if is_symlink_error(&e) {
            (
                ErrorKind::Usage,
                "it is a symbolic link, which git-catalogue never follows".to_owned(),
            )
        } else {
            (missing_is_usage(&e), e.to_string())
        };
        let source = if name == "-" {
            "the fragment from stdin".to_owned()
        } else {
            format!("fragment file `{name}`")
        };
        Error::new(kind, format!("cannot read {source}: {what}")).path(&name)
    })?;
    if buf.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::InvalidFragment,
            format!(
                "invalid --fragment `{name}`: it is larger than the limit of {limit} bytes (read stopped there)"
            ),
        )
        .path(&name));
    }
    Ok(buf)
}

/// A file named on the command line that is not there is bad input (exit 2);
/// one that is there and cannot be read is an I/O failure (exit 4).
fn missing_is_usage(e: &std::io::Error) -> ErrorKind {
    if e.kind() == std::io::ErrorKind::NotFound {
        ErrorKind::Usage
    } else {
        ErrorKind::Io
    }
}
