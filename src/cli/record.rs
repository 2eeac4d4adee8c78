//! `record`: the fragment assembled from the command line (`--fragment`,
//! `--issue`/`--key`, each `--artifact`/`--add` with its `--kind` and
//! `--title`), the `--add` files read, and the report.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::args::{ArtifactSource, ArtifactSpec, RecordArgs};
use super::{obj, of_remote, retries_note, sink, Report};
use crate::catalogue;
use crate::core::fragment::{Fragment, FragmentError};
use crate::core::key::FragmentKey;
use crate::core::manifest::Manifest;
use crate::core::path::{is_gitmodules, validate_path};
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

fn read_added(settings: &Settings, src: &std::path::Path, dest: &str) -> Result<AddedFile> {
    validate_path(dest).map_err(|e| {
        Error::new(
            ErrorKind::InvalidPath,
            format!("invalid --add destination `{}`: {e}", dest.escape_debug()),
        )
        .path(dest)
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
        .path(dest));
    }
    if dest == settings.dir || dest.starts_with(&format!("{}/", settings.dir)) {
        return Err(Error::new(
            ErrorKind::InvalidPath,
            format!("--add destination `{dest}` is inside the catalogue folder `{}`, which git-catalogue owns", settings.dir),
        )
        .path(dest));
    }
    let meta = std::fs::metadata(src).map_err(|e| {
        Error::new(
            missing_is_usage(&e),
            format!("cannot read --add source `{}`: {e}", src.display()),
        )
        .path(src.display())
    })?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("--add source `{}` is not a regular file", src.display()),
        )
        .path(src.display()));
    }
    let data = std::fs::read(src).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read --add source `{}`: {e}", src.display()),
        )
        .path(src.display())
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

/// The bytes of `--fragment FILE`, or stdin for `-`.
fn read_input(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut buf).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read the fragment from stdin: {e}"),
            )
            .path("-")
        })?;
    } else {
        buf = std::fs::read(path).map_err(|e| {
            Error::new(
                missing_is_usage(&e),
                format!("cannot read fragment file `{}`: {e}", path.display()),
            )
            .path(path.display())
        })?;
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
