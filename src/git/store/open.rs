//! Opening the repository the way git finds it, and the in-memory config
//! every command runs with (docs/format.md, "How the repository is found").
//!
//! gix 0.90 discovers repositories, but differs from git in ways that matter
//! to a writer, so this module closes the gaps before gix opens anything:
//!
//! - a `.git` file that is not a valid gitfile, or points at no repository,
//!   stops discovery with an error (git: "not a git repository"); gix skips
//!   it and opens the enclosing repository;
//! - `git -c key=value` reaches us as `GIT_CONFIG_PARAMETERS`, which gix does
//!   not read: it is parsed here and handed to gix as command-line overrides;
//! - `GIT_OBJECT_DIRECTORY` is honoured by opening the object store there;
//!   `GIT_ALTERNATE_OBJECT_DIRECTORIES` is refused (gix reads alternates
//!   only from `objects/info/alternates`);
//! - SHA-256 and reftable repositories, which gix 0.90 cannot work on in
//!   this build, are named for what they are.
//!
//! The parsing (gitfiles, `GIT_CONFIG_PARAMETERS`) is pure and unit-tested
//! below; the rest is file-system probing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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

/// The variables git sets for `git -c` (and `--config-env`).
const CONFIG_PARAMETERS: &str = "GIT_CONFIG_PARAMETERS";
/// Replaces `$GIT_DIR/objects`.
const OBJECT_DIRECTORY: &str = "GIT_OBJECT_DIRECTORY";
/// More object directories to read from.
const ALTERNATES: &str = "GIT_ALTERNATE_OBJECT_DIRECTORIES";

/// The process environment that decides which repository is opened and how.
struct Environment {
    git_dir: Option<OsString>,
    object_dir: Option<OsString>,
    alternates: Option<OsString>,
    config_parameters: Option<OsString>,
    ceilings: Vec<PathBuf>,
}

impl Environment {
    fn of_process() -> Self {
        // git treats an empty value of these as unset.
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let ceilings = var("GIT_CEILING_DIRECTORIES")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| p.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        Environment {
            git_dir: var("GIT_DIR"),
            object_dir: var(OBJECT_DIRECTORY),
            alternates: var(ALTERNATES),
            config_parameters: var(CONFIG_PARAMETERS),
            ceilings,
        }
    }
}

/// Open the repository the way git finds it: `GIT_DIR` and friends first,
/// else discovery upwards from `cwd` (which must be absolute: gix 0.90 resolves a relative one
/// against nothing and fails to find the repository).
///
/// Nothing is written before this returns, so every refusal here leaves every
/// repository as it was.
pub fn open(cwd: &Path) -> Result<Repository> {
    let env = Environment::of_process();
    if let Some(alternates) = &env.alternates {
        return Err(alternates_refused(alternates));
    }
    let overrides = match &env.config_parameters {
        Some(raw) => config_overrides(raw)?,
        None => Vec::new(),
    };
    let candidate = match &env.git_dir {
        Some(dir) => Some(cwd.join(dir)),
        None => find_git_dir(cwd, &env.ceilings)?,
    };
    if let Some(git_dir) = &candidate {
        refuse_unsupported_formats(git_dir)?;
    }
    let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
    trust.full = trust.full.cli_overrides(overrides.clone());
    trust.reduced = trust.reduced.cli_overrides(overrides);
    let mut shared = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
        cwd,
        Default::default(),
        trust,
    )
    .map_err(|e| match &candidate {
        Some(git_dir) => Error::git(
            format!("could not open the git repository {}", git_dir.display()),
            &e,
        )
        .path(git_dir.display()),
        None => Error::new(
            ErrorKind::NotFound,
            format!(
                "not a git repository (or any parent up to the root): {}: {}",
                cwd.display(),
                describe_gix(&e)
            ),
        )
        .path(cwd.display()),
    })?;
    if let Some(dir) = &env.object_dir {
        shared.objects = std::sync::Arc::new(object_store(&shared.objects, &cwd.join(dir), cwd)?);
    }
    let mut repo = shared.to_thread_local();
    configure(&mut repo)?;
    Ok(repo)
}

// Discovery: which git dir git would use from `cwd`.

/// Walk up from `cwd` as git does: in each directory, `.git` (a directory,
/// or a gitfile naming one), then the directory itself as a bare repository,
/// stopping below a `GIT_CEILING_DIRECTORIES` entry. `None` when nothing is
/// found (gix then says why); an error for a `.git` file git would refuse.
fn find_git_dir(cwd: &Path, ceilings: &[PathBuf]) -> Result<Option<PathBuf>> {
    let is_git = |p: &Path| gix::discover::is_git(p).is_ok();
    let mut dir = cwd.to_path_buf();
    loop {
        let dot_git = dir.join(".git");
        match std::fs::metadata(&dot_git) {
            Ok(meta) if meta.is_file() => {
                let target = gitfile_target(&dot_git)?;
                if is_git(&target) {
                    return Ok(Some(target));
                }
                return Err(gitfile_error(
                    &dot_git,
                    format!(
                        "points at {}, which is not a git repository (git says \"not a git repository: {}\")",
                        target.display(),
                        target.display()
                    ),
                )
                .path(dot_git.display()));
            }
            Ok(meta) if meta.is_dir() && is_git(&dot_git) => return Ok(Some(dot_git)),
            _ => {}
        }
        if is_git(&dir) {
            return Ok(Some(dir));
        }
        match dir.parent() {
            Some(parent) if !ceilings.iter().any(|c| c == parent) => dir = parent.to_owned(),
            _ => return Ok(None),
        }
    }
}

/// The git dir a `.git` file names, resolved against the file's folder.
fn gitfile_target(dot_git: &Path) -> Result<PathBuf> {
    let content = std::fs::read(dot_git).map_err(|e| {
        gitfile_error(dot_git, format!("cannot be read: {e}")).path(dot_git.display())
    })?;
    let named = parse_gitfile(&content)
        .map_err(|problem| gitfile_error(dot_git, problem.to_owned()).path(dot_git.display()))?;
    let named = gix::path::from_byte_slice(named).map_err(|_| {
        gitfile_error(dot_git, "names a path this system cannot spell".to_owned())
            .path(dot_git.display())
    })?;
    let base = dot_git.parent().unwrap_or(Path::new(""));
    Ok(base.join(named))
}

fn gitfile_error(dot_git: &Path, problem: String) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "not a git repository: the gitfile {} {problem}; git refuses to work here, and so does \
             git-catalogue (fix or remove that file)",
            dot_git.display()
        ),
    )
}

/// What a gitfile names, as git reads one: `gitdir: <path>`, trailing
/// newlines and carriage returns ignored. Else why it is not a gitfile.
pub fn parse_gitfile(content: &[u8]) -> std::result::Result<&[u8], &'static str> {
    let Some(rest) = content.strip_prefix(b"gitdir: ") else {
        return Err("is not a valid gitfile (it must read `gitdir: <path>`)");
    };
    let end = rest
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    match &rest[..end] {
        [] => Err("names no path after `gitdir: `"),
        path => Ok(path),
    }
}

// Storage formats gix 0.90 (as built here) cannot work on.

/// Refuse a SHA-256 or reftable repository by its own config, before gix
/// fails on it with a message that names neither.
fn refuse_unsupported_formats(git_dir: &Path) -> Result<()> {
    let common = common_dir(git_dir);
    let Ok(config) =
        gix::config::File::from_path_no_includes(common.join("config"), gix::config::Source::Local)
    else {
        return Ok(()); // no readable config: gix says what is wrong with it
    };
    let value = |key: &str| config.string(key).map(|v| v.to_str_lossy().into_owned());
    if let Some(format) =
        value("extensions.objectFormat").filter(|f| !f.eq_ignore_ascii_case("sha1"))
    {
        return Err(Error::new(
            ErrorKind::Git,
            format!(
                "{} is a {format} repository (extensions.objectFormat = {format}): git-catalogue is \
                 built on gix 0.90 with SHA-1 objects only and cannot read or write it",
                git_dir.display()
            ),
        )
        .path(git_dir.display()));
    }
    if let Some(format) =
        value("extensions.refStorage").filter(|f| !f.eq_ignore_ascii_case("files"))
    {
        return Err(Error::new(
            ErrorKind::Git,
            format!(
                "{} keeps its refs in the {format} format (extensions.refStorage = {format}): gix 0.90, \
                 which git-catalogue is built on, reads and writes only the files format. \
                 `git refs migrate --ref-format=files` converts the repository",
                git_dir.display()
            ),
        )
        .path(git_dir.display()));
    }
    Ok(())
}

/// The common dir of a git dir: itself, or what its `commondir` file names
/// (a linked work tree's git dir).
fn common_dir(git_dir: &Path) -> PathBuf {
    std::fs::read(git_dir.join("commondir"))
        .ok()
        .and_then(|bytes| {
            let named = gix::path::from_byte_slice(bytes.trim_end()).ok()?;
            Some(git_dir.join(named))
        })
        .unwrap_or_else(|| git_dir.to_owned())
}

// The object directory.

/// The object store at `GIT_OBJECT_DIRECTORY`, with the settings of the one
/// gix opened at `$GIT_DIR/objects` (which is then not used, as in git).
fn object_store(opened: &gix::odb::Store, dir: &Path, cwd: &Path) -> Result<gix::odb::Store> {
    if !dir.is_dir() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{OBJECT_DIRECTORY} names {}, which is not a directory",
                dir.display()
            ),
        )
        .path(dir.display()));
    }
    let mut replacements = opened.replacements().collect::<Vec<_>>().into_iter();
    gix::odb::Store::at_opts(
        dir.to_owned(),
        opened.object_hash(),
        &mut replacements,
        gix::odb::store::init::Options {
            use_multi_pack_index: opened.use_multi_pack_index(),
            current_dir: Some(cwd.to_owned()),
            ..Default::default()
        },
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::Git,
            format!(
                "could not open the object directory {} ({OBJECT_DIRECTORY}): {e}",
                dir.display()
            ),
        )
        .path(dir.display())
    })
}

fn alternates_refused(value: &OsString) -> Error {
    let value = value.to_string_lossy();
    Error::new(
        ErrorKind::Git,
        format!(
            "{ALTERNATES} is set ({value}), and gix 0.90, which git-catalogue is built on, reads \
             alternate object directories only from objects/info/alternates: objects found only \
             there would look missing. Unset it, or list those directories in \
             objects/info/alternates (git sets it for hooks running in a push's quarantine)"
        ),
    )
    .path(value)
}

// `git -c`: GIT_CONFIG_PARAMETERS.

/// `GIT_CONFIG_PARAMETERS` as gix command-line overrides (`key=value`, or
/// `key` alone for an implicit `true`).
fn config_overrides(raw: &OsString) -> Result<Vec<gix::bstr::BString>> {
    let bytes = gix::path::os_str_into_bstr(raw).map_err(|_| {
        Error::new(
            ErrorKind::Usage,
            format!("{CONFIG_PARAMETERS} is not valid UTF-8"),
        )
    })?;
    let pairs = parse_config_parameters(bytes).map_err(|problem| {
        Error::new(
            ErrorKind::Usage,
            format!(
                "{CONFIG_PARAMETERS} is not in git's format ({problem}): {}",
                shown(&bytes.to_str_lossy())
            ),
        )
    })?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| {
            let mut item = key;
            if let Some(value) = value {
                item.push(b'=');
                item.extend_from_slice(&value);
            }
            item.into()
        })
        .collect())
}

/// `text` with control characters escaped, so it cannot act on a terminal.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A config key and its value (`None`: given without `=`, an implicit `true`).
pub type ConfigPair = (Vec<u8>, Option<Vec<u8>>);

/// Parse `GIT_CONFIG_PARAMETERS` as git writes and reads it: whitespace-
/// separated items, each `'key'='value'`, `'key'=` or `'key'` (an old-style
/// `'key=value'` too), every word shell-single-quoted, with `'\''` and
/// `'\!'` standing for a quote and a `!`.
pub fn parse_config_parameters(raw: &[u8]) -> std::result::Result<Vec<ConfigPair>, String> {
    let bogus = |at: &[u8]| format!("bogus item at `{}`", at.to_str_lossy());
    let mut out = Vec::new();
    let mut rest = raw.trim_start();
    while !rest.is_empty() {
        let (key, after) = single_quoted(rest).ok_or_else(|| bogus(rest))?;
        let (key, value, after) = match after.first() {
            None => split_old_style(key, after),
            Some(c) if c.is_ascii_whitespace() => split_old_style(key, after),
            Some(b'=') => match after.get(1) {
                Some(b'\'') => {
                    let (value, after) = single_quoted(&after[1..]).ok_or_else(|| bogus(rest))?;
                    if after.first().is_some_and(|c| !c.is_ascii_whitespace()) {
                        return Err(bogus(rest));
                    }
                    (key, Some(value), after)
                }
                None => (key, None, &after[1..]),
                Some(c) if c.is_ascii_whitespace() => (key, None, &after[1..]),
                Some(_) => return Err(bogus(rest)),
            },
            Some(_) => return Err(bogus(rest)),
        };
        let name = key.trim();
        let dot = name.iter().position(|&b| b == b'.');
        let last_dot = name.iter().rposition(|&b| b == b'.');
        if dot.is_none_or(|d| d == 0) || last_dot == Some(name.len() - 1) {
            return Err(format!(
                "`{}` is not a config key of the form section.name",
                name.to_str_lossy()
            ));
        }
        out.push((name.to_vec(), value));
        rest = after.trim_start();
    }
    Ok(out)
}

/// An old-style item, `'key=value'` or `'key'`, split at its first `=`.
fn split_old_style(word: Vec<u8>, after: &[u8]) -> (Vec<u8>, Option<Vec<u8>>, &[u8]) {
    match word.iter().position(|&b| b == b'=') {
        Some(eq) => (word[..eq].to_vec(), Some(word[eq + 1..].to_vec()), after),
        None => (word, None, after),
    }
}

/// One shell-single-quoted word at the start of `s`, as git's
/// `sq_dequote_step` reads it: its text and what follows it. `None` when
/// `s` does not start with a quote or the quote is not closed.
fn single_quoted(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if s.first() != Some(&b'\'') {
        return None;
    }
    let mut text = Vec::new();
    let mut i = 1;
    loop {
        match *s.get(i)? {
            b'\'' => {
                // Out of the quotes: `\'` or `\!` followed by a new quote continues the word.
                if s.get(i + 1) == Some(&b'\\')
                    && matches!(s.get(i + 2), Some(b'\'' | b'!'))
                    && s.get(i + 3) == Some(&b'\'')
                {
                    text.push(s[i + 2]);
                    i += 4;
                    continue;
                }
                return Some((text, &s[i + 1..]));
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
}

// The in-memory config.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, Option<String>)> {
        parse_config_parameters(raw.as_bytes())
            .unwrap_or_else(|e| panic!("{raw:?}: {e}"))
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k).unwrap(),
                    v.map(|v| String::from_utf8(v).unwrap()),
                )
            })
            .collect()
    }

    fn pair(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(ToOwned::to_owned))
    }

    #[test]
    fn config_parameters_as_git_writes_them() {
        // `git -c user.name=X -c user.email=y` (git 2.31 and later).
        assert_eq!(
            pairs("'user.name'='X' 'user.email'='y'"),
            [pair("user.name", Some("X")), pair("user.email", Some("y"))]
        );
        // `git -c core.bare` (no `=`) and `git -c k=` (empty value).
        assert_eq!(
            pairs("'core.bare' 'a.b'=''"),
            [pair("core.bare", None), pair("a.b", Some(""))]
        );
        // `'a.b'=` is an implicit true, like git's parser.
        assert_eq!(
            pairs("'a.b'= 'c.d'='e'"),
            [pair("a.b", None), pair("c.d", Some("e"))]
        );
        // Old style, one word: split at the first `=`.
        assert_eq!(pairs("'a.b=c=d'"), [pair("a.b", Some("c=d"))]);
        // Quotes, `!`, spaces and `=` inside values; subsections with dots.
        assert_eq!(
            pairs(r"'user.name'='O'\''Brien '\!'x' 'url.https://h/a.b.insteadof'='x=y'"),
            [
                pair("user.name", Some("O'Brien !x")),
                pair("url.https://h/a.b.insteadof", Some("x=y"))
            ]
        );
        assert_eq!(pairs("  "), []);
    }

    #[test]
    fn config_parameters_not_in_gits_format_are_refused() {
        for raw in [
            "user.name=X",
            "'user.name'='X",
            "'user.name'=X",
            "'user.name'='X'y",
            "'user.name'x",
            "'nodot'='x'",
            "'.a'='x'",
            "'a.'='x'",
        ] {
            assert!(
                parse_config_parameters(raw.as_bytes()).is_err(),
                "{raw:?} was accepted"
            );
        }
    }

    #[test]
    fn gitfiles_as_git_reads_them() {
        assert_eq!(parse_gitfile(b"gitdir: /x/y\n"), Ok(&b"/x/y"[..]));
        assert_eq!(parse_gitfile(b"gitdir: ../a b\r\n"), Ok(&b"../a b"[..]));
        assert!(parse_gitfile(b"garbage\n").is_err());
        assert!(parse_gitfile(b"gitdir:/x\n").is_err());
        assert!(parse_gitfile(b"gitdir: \n").is_err());
        assert!(parse_gitfile(b"").is_err());
    }
}
