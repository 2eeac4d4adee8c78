//! Artifact paths: which repository paths a fragment may name, and which a
//! file may be written at (docs/format.md, "Artifact paths").
//!
//! The rules are checked here once, for `record`, `check`, `consolidate` and
//! `repair` alike, on plain strings: nothing here reads a file or a tree.

use std::fmt;

/// Why an artifact path (or the destination of a written file) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// The path has an empty segment: `a//b` or a trailing `/`.
    EmptySegment,
    /// The path has a `.` or `..` segment.
    DotSegment,
    /// The path holds NUL or another control character (U+0000..U+001F, U+007F).
    ControlCharacter,
    /// The path holds a backslash, which is a separator on Windows.
    Backslash,
    /// A file written there would be `.gitmodules`, which git parses as
    /// submodule configuration (in any spelling git treats as it).
    GitModules {
        /// The segment git reads as `.gitmodules`.
        segment: String,
    },
    /// A segment is longer than file systems take as one name.
    NameTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// git refuses a segment of the path (`.git`, a Windows device name, ...).
    Refused {
        /// The refused segment.
        segment: String,
        /// gix's reason.
        reason: String,
    },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("the path is empty"),
            PathError::Absolute => f.write_str("the path is absolute (starts with `/`)"),
            PathError::EmptySegment => {
                f.write_str("the path has an empty segment (`//` or a trailing `/`)")
            }
            PathError::DotSegment => f.write_str("the path has a `.` or `..` segment"),
            PathError::ControlCharacter => {
                f.write_str("the path holds a NUL or other control character")
            }
            PathError::Backslash => f.write_str("the path holds a backslash"),
            PathError::GitModules { segment } => write!(
                f,
                "git reads `{}` as `.gitmodules`, the submodule configuration that `git fsck` and \
                 forges parse and refuse when hostile; nothing git-catalogue writes is one",
                segment.escape_debug()
            ),
            PathError::NameTooLong { bytes } => write!(
                f,
                "a segment is {bytes} bytes long; file systems take at most {MAX_NAME_BYTES} \
                 bytes as one name, so no checkout could hold it"
            ),
            PathError::Refused { segment, reason } => write!(
                f,
                "git refuses the path segment `{}`: {reason}",
                segment.escape_debug()
            ),
        }
    }
}

impl std::error::Error for PathError {}

/// Check a path against the contract's rules, then git's own.
///
/// The contract: non-empty, relative, `/`-separated, no `.` or `..` segment, no leading
/// `/`, no empty segment (no `a//b`, no trailing `/`), no NUL or control character
/// (U+0000..U+001F and U+007F), no backslash. Then every segment must pass gix's
/// component validation with all protections on (`.git` in any case and its NTFS and
/// HFS+ disguises, Windows device names and characters), because such a path could
/// not be checked out safely on every platform the catalogue's readers use.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    // C0, DEL and C1: none belongs in a file name, and all of them can hide text.
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    // What git itself refuses (core.protectNTFS and core.protectHFS are on by
    // default in git): `.git` in any case or disguise, `git~1`, `.git.`, …
    // Windows device names and `:` are valid paths to git, so they are allowed.
    let options = gix::validate::path::component::Options {
        protect_windows: false,
        protect_ntfs: true,
        protect_hfs: true,
    };
    for segment in path.split('/') {
        gix::validate::path::component(segment.into(), None, options).map_err(|error| {
            PathError::Refused {
                segment: segment.to_owned(),
                reason: error.to_string(),
            }
        })?;
    }
    Ok(())
}

/// The longest name one path segment may have where a file is written:
/// ext4, XFS, APFS and NTFS take at most 255 bytes (or UTF-16 units).
pub const MAX_NAME_BYTES: usize = 255;

/// Check a path where git-catalogue writes a file or a folder (an `--add`
/// destination, the catalogue folder): the rules of [`validate_path`], and
/// no segment that git reads as `.gitmodules` or that no file system takes
/// as a name, so that every checkout of the branch can hold what was written.
pub fn validate_written_path(path: &str) -> Result<(), PathError> {
    validate_path(path)?;
    for segment in path.split('/') {
        if is_gitmodules(segment) {
            return Err(PathError::GitModules {
                segment: segment.to_owned(),
            });
        }
        if segment.len() > MAX_NAME_BYTES {
            return Err(PathError::NameTooLong {
                bytes: segment.len(),
            });
        }
    }
    Ok(())
}

/// Whether a path segment is `.gitmodules` in any spelling git treats as it
/// (any case, `gitmod~1`, trailing dots or spaces, `::$DATA`, HFS+-ignored
/// code points). `--add` writes a file there, unlike `--artifact`, which only
/// names a path: a `.gitmodules` blob at any depth is parsed by `git fsck`
/// (a hostile URL fails it, and forges refuse the push). gix knows every
/// disguise, but reports them only for a symlink, so ask it as for one.
fn is_gitmodules(segment: &str) -> bool {
    use gix::validate::path::component::{Error, Mode, Options};
    let options = Options {
        protect_windows: false,
        protect_ntfs: true,
        protect_hfs: true,
    };
    matches!(
        gix::validate::path::component(segment.into(), Some(Mode::Symlink), options),
        Err(Error::SymlinkedGitModules)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_path_refuses_gitmodules_in_every_disguise_and_overlong_names() {
        for path in [
            ".gitmodules",
            ".GitModules",
            "gitmod~1",
            "a/.gitmodules",
            ".gitmodules .",
            "a/.gitmodules.",
        ] {
            assert!(
                matches!(
                    validate_written_path(path),
                    Err(PathError::GitModules { .. })
                ),
                "{path:?}: {:?}",
                validate_written_path(path)
            );
            // Only named, not written: an artifact path may say it.
            assert!(
                validate_path(path).is_ok() || path.ends_with('.'),
                "{path:?}"
            );
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            validate_written_path(&format!("docs/{long}.md")),
            Err(PathError::NameTooLong {
                bytes: MAX_NAME_BYTES + 4
            })
        );
        let longest = "x".repeat(MAX_NAME_BYTES);
        assert_eq!(validate_written_path(&format!("docs/{longest}")), Ok(()));
    }
}
