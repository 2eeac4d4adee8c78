//! Fragments: the source of truth of a catalogue (docs/format.md, "Fragments").
//!
//! Every producer run writes its own small JSON file, `catalogue/fragments/<key>.json`,
//! so concurrent writers never touch the same file. This module decides what a valid
//! fragment is — its key, its schema version 1, its artifact paths — and nothing else:
//! it reads no files and no git objects, so the rules can be tested on plain bytes and
//! applied identically by `record`, `check` and `consolidate`.

use std::fmt;

use serde_json::{Map, Value};

mod verbatim;

pub use verbatim::{JsonError, MAX_DEPTH};

use crate::core::key::FragmentKey;
use crate::core::path::{validate_path, PathError};

/// The largest fragment blob we accept. Exactly 1 MiB is allowed, one byte more is not.
///
/// A fragment describes a handful of artifacts; anything larger is a mistake (or an
/// attack), and refusing it before parsing keeps every command's memory bounded.
pub const MAX_FRAGMENT_BYTES: usize = 1 << 20;

/// The deepest nesting of arrays and objects a fragment may have, counting the
/// fragment object itself.
///
/// `manifest.json` (and `list --json`) put a fragment's fields two levels deeper, under
/// `fragments` and the key, and must stay within [`MAX_DEPTH`], the most serde_json and
/// so many JSON tools read. A fragment nested deeper would produce a manifest that
/// nobody, this tool included, could read back.
pub const MAX_FRAGMENT_DEPTH: usize = MAX_DEPTH - 2;

/// A parsed, validated fragment.
///
/// The fields are public so callers can build a fragment (as `record --artifact` does),
/// but the invariants [`Fragment::parse`] establishes are expected to hold: no
/// `artifacts` key in `fields`, and every artifact has a valid `path` string and no
/// `fragment` or `issue` field.
#[derive(Clone, Debug, PartialEq)]
pub struct Fragment {
    /// The fragment's name, from its file name.
    pub key: FragmentKey,
    /// Top-level fields other than `artifacts`, in the author's order.
    pub fields: Map<String, Value>,
    /// Each artifact's own fields, in the author's order (has a valid "path" string).
    pub artifacts: Vec<Map<String, Value>>,
}

impl Fragment {
    /// Parse and validate fragment bytes (schema version 1, docs/format.md, "Fragments").
    ///
    /// The size limit is checked before any parsing. The JSON is read by
    /// [`parse_json`]: numbers are kept as written, strings as their characters, fields
    /// in the author's order, and a key repeated in one object is an error, because the
    /// manifest copies all of it verbatim.
    pub fn parse(key: FragmentKey, bytes: &[u8]) -> Result<Fragment, FragmentError> {
        if bytes.len() > MAX_FRAGMENT_BYTES {
            return Err(FragmentError::TooLarge { size: bytes.len() });
        }
        let value = verbatim::parse(bytes, MAX_FRAGMENT_DEPTH).map_err(FragmentError::from)?;
        let Value::Object(mut fields) = value else {
            return Err(FragmentError::NotAnObject);
        };
        // `shift_remove` keeps the remaining fields in the author's order.
        let artifacts = match fields.shift_remove("artifacts") {
            None => return Err(FragmentError::MissingArtifacts),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(FragmentError::ArtifactsNotArray),
        };
        if let Some(issue) = field(&fields, "issue") {
            if !(issue.is_number() || issue.is_string()) {
                return Err(FragmentError::BadIssue);
            }
        }
        let artifacts = artifacts
            .into_iter()
            .enumerate()
            .map(|(index, item)| validate_artifact(index, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Fragment {
            key,
            fields,
            artifacts,
        })
    }

    /// The `issue` field, if any (number or string).
    pub fn issue(&self) -> Option<&Value> {
        field(&self.fields, "issue")
    }

    /// Serialise back to the bytes `record` writes: pretty JSON (2-space indent) of the
    /// fields in order with `artifacts` last, and a trailing newline.
    ///
    /// `Fragment::parse(key, &f.to_bytes())` gives back `f`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut object = self.fields.clone();
        // A stray `artifacts` in `fields` (only possible for a hand-built fragment) must
        // not produce a duplicate key; the real list wins and goes last.
        object.shift_remove("artifacts");
        object.insert(
            "artifacts".to_owned(),
            Value::Array(self.artifacts.iter().cloned().map(Value::Object).collect()),
        );
        let mut bytes = serde_json::to_vec_pretty(&Value::Object(object))
            .expect("a serde_json::Value with string keys always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// [`Fragment::to_bytes`], refused when the result is over
    /// [`MAX_FRAGMENT_BYTES`]: a fragment is written only when every reader
    /// will accept what was written.
    pub fn to_written_bytes(&self) -> Result<Vec<u8>, FragmentError> {
        let bytes = self.to_bytes();
        if bytes.len() > MAX_FRAGMENT_BYTES {
            return Err(FragmentError::TooLarge { size: bytes.len() });
        }
        Ok(bytes)
    }
}

/// Parse a JSON text the way fragments are read: numbers kept exactly as written
/// (`1e400` stays `1e400`, not serde_json's `1e+400`), strings as their Unicode
/// characters, object keys in order, a repeated key refused, nesting at most
/// [`MAX_DEPTH`] levels (fragments themselves are held to [`MAX_FRAGMENT_DEPTH`]).
/// See the module `verbatim` for what "verbatim" means.
///
/// Serialising the result with serde_json writes every number back as it was read.
pub fn parse_json(bytes: &[u8]) -> Result<Value, JsonError> {
    verbatim::parse(bytes, MAX_DEPTH)
}

/// `fields[name]`. A fragment's objects hold a handful of fields, and
/// comparing a few short names costs less than hashing one with SipHash, as
/// `Map::get` does; a large object is looked up by hash.
pub fn field<'m>(fields: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    const FEW: usize = 8;
    if fields.len() > FEW {
        return fields.get(name);
    }
    fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Check one element of `artifacts` and return its fields.
fn validate_artifact(index: usize, item: Value) -> Result<Map<String, Value>, FragmentError> {
    let Value::Object(fields) = item else {
        return Err(FragmentError::ArtifactNotObject { index });
    };
    let Some(path) = field(&fields, "path").and_then(Value::as_str) else {
        return Err(FragmentError::MissingPath { index });
    };
    validate_path(path).map_err(|error| FragmentError::BadPath {
        index,
        path: path.to_owned(),
        error,
    })?;
    // The manifest adds these two to every artifact; letting an artifact carry its own
    // would make the manifest lie about where an entry came from.
    for reserved in ["fragment", "issue"] {
        if field(&fields, reserved).is_some() {
            return Err(FragmentError::ReservedField {
                index,
                field: reserved.to_owned(),
            });
        }
    }
    Ok(fields)
}

/// Why a fragment is invalid.
///
/// `Display` gives a one-line human reason *without* the file path: the caller knows
/// the path and blob id and adds them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FragmentError {
    /// The blob is larger than [`MAX_FRAGMENT_BYTES`].
    TooLarge {
        /// The blob's size in bytes.
        size: usize,
    },
    /// The bytes are not JSON.
    Json {
        /// What is wrong, with its line and column.
        message: String,
    },
    /// One object in the fragment holds the same key twice.
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// JSON Pointer of the object holding it (empty for the top level).
        object: String,
        /// 1-based line of the second occurrence.
        line: usize,
        /// 1-based column (in bytes) of the second occurrence.
        column: usize,
    },
    /// The JSON is not an object.
    NotAnObject,
    /// The object has no `artifacts` field.
    MissingArtifacts,
    /// `artifacts` is not an array.
    ArtifactsNotArray,
    /// An element of `artifacts` is not an object.
    ArtifactNotObject {
        /// Position in `artifacts`, from 0.
        index: usize,
    },
    /// An artifact has no `path`, or its `path` is not a string.
    MissingPath {
        /// Position in `artifacts`, from 0.
        index: usize,
    },
    /// An artifact's `path` breaks the path rules.
    BadPath {
        /// Position in `artifacts`, from 0.
        index: usize,
        /// The refused path.
        path: String,
        /// Which rule it breaks.
        error: PathError,
    },
    /// An artifact carries `fragment` or `issue`, which the manifest reserves.
    ReservedField {
        /// Position in `artifacts`, from 0.
        index: usize,
        /// The reserved field name.
        field: String,
    },
    /// The top-level `issue` is present but neither a number nor a string.
    BadIssue,
}

impl fmt::Display for FragmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FragmentError::TooLarge { size } => write!(
                f,
                "fragment is {size} bytes, larger than the limit of {MAX_FRAGMENT_BYTES} bytes (1 MiB)"
            ),
            FragmentError::Json { message } => write!(f, "fragment is not valid JSON: {message}"),
            FragmentError::DuplicateKey {
                key,
                object,
                line,
                column,
            } => write!(
                f,
                "fragment is ambiguous: {}",
                JsonError::DuplicateKey {
                    key: key.clone(),
                    object: object.clone(),
                    line: *line,
                    column: *column,
                }
            ),
            FragmentError::NotAnObject => f.write_str("fragment is not a JSON object"),
            FragmentError::MissingArtifacts => {
                f.write_str("fragment has no `artifacts` field (an array of objects is required)")
            }
            FragmentError::ArtifactsNotArray => f.write_str("fragment's `artifacts` is not an array"),
            FragmentError::ArtifactNotObject { index } => {
                write!(f, "artifacts[{index}] is not a JSON object")
            }
            FragmentError::MissingPath { index } => {
                write!(f, "artifacts[{index}] has no `path` string")
            }
            FragmentError::BadPath { index, path, error } => write!(
                f,
                "artifacts[{index}] has an invalid path `{}`: {error}",
                path.escape_debug()
            ),
            FragmentError::ReservedField { index, field } => write!(
                f,
                "artifacts[{index}] carries the reserved field `{}` (the manifest sets it)",
                field.escape_debug()
            ),
            FragmentError::BadIssue => f.write_str("fragment's `issue` is neither a number nor a string"),
        }
    }
}

impl From<JsonError> for FragmentError {
    fn from(error: JsonError) -> FragmentError {
        match error {
            JsonError::Syntax { .. } => FragmentError::Json {
                message: error.to_string(),
            },
            JsonError::DuplicateKey {
                key,
                object,
                line,
                column,
            } => FragmentError::DuplicateKey {
                key,
                object,
                line,
                column,
            },
        }
    }
}

impl std::error::Error for FragmentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FragmentError::BadPath { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::key::{KeyError, KEY_PATTERN};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn key(s: &str) -> FragmentKey {
        FragmentKey::new(s).expect("test keys are valid")
    }

    fn parse(json: &str) -> Result<Fragment, FragmentError> {
        Fragment::parse(key("k"), json.as_bytes())
    }

    #[test]
    fn keys_matching_the_pattern_are_accepted() -> TestResult {
        for ok in ["a", "Z", "0", "issue-123", "a.b_c-d", "9.", "x-"] {
            assert_eq!(FragmentKey::new(ok)?.as_str(), ok);
        }
        let longest = format!("a{}", "b".repeat(127));
        assert_eq!(FragmentKey::new(&longest)?.as_str().len(), 128);
        Ok(())
    }

    #[test]
    fn keys_breaking_the_pattern_are_refused() {
        let too_long = format!("a{}", "b".repeat(128));
        for bad in [
            "",
            ".a",
            "-a",
            "_a",
            "a b",
            "a/b",
            "a\\b",
            "é",
            "a\n",
            "a:b",
            "a~b",
            too_long.as_str(),
        ] {
            assert_eq!(
                FragmentKey::new(bad),
                Err(KeyError {
                    key: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_key_error_names_the_key_and_the_pattern_with_control_characters_escaped() {
        let message = KeyError {
            key: "bad\nkey".into(),
        }
        .to_string();
        assert!(message.contains("bad\\nkey"), "{message}");
        assert!(message.contains(KEY_PATTERN), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn issue_keys_file_names_and_display_are_the_key_text() {
        let k = FragmentKey::for_issue(123);
        assert_eq!(k.as_str(), "issue-123");
        assert_eq!(k.to_string(), "issue-123");
        assert_eq!(k.file_name(), "issue-123.json");
        assert_eq!(
            FragmentKey::new(FragmentKey::for_issue(u64::MAX).as_str()).ok(),
            Some(FragmentKey::for_issue(u64::MAX))
        );
    }

    #[test]
    fn keys_sort_in_natural_order() {
        let mut keys = [
            key("issue-10a"),
            key("issue-10"),
            key("issue-2"),
            key("Issue-1"),
        ];
        keys.sort();
        let texts: Vec<_> = keys.iter().map(FragmentKey::as_str).collect();
        assert_eq!(texts, ["Issue-1", "issue-2", "issue-10", "issue-10a"]);
    }

    #[test]
    fn a_fragment_keeps_fields_in_order_and_numbers_digit_for_digit() -> TestResult {
        let f = parse(
            r#"{"zeta": 1, "issue": 123, "big": 123456789012345678901234567890, "f": 1.50,
                "e": 1E+400, "artifacts": [{"title": "T", "path": "docs/a.md", "n": -0.0}], "after": true}"#,
        )?;
        let names: Vec<_> = f.fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["zeta", "issue", "big", "f", "e", "after"]);
        assert_eq!(
            f.fields["big"].to_string(),
            "123456789012345678901234567890"
        );
        assert_eq!(f.fields["f"].to_string(), "1.50");
        // Exactly as written: serde_json's own reader would give `1e+400`.
        assert_eq!(f.fields["e"].to_string(), "1E+400");
        assert_eq!(f.issue().map(Value::to_string).as_deref(), Some("123"));
        assert_eq!(f.artifacts.len(), 1);
        let artifact_names: Vec<_> = f.artifacts[0].keys().map(String::as_str).collect();
        assert_eq!(artifact_names, ["title", "path", "n"]);
        assert_eq!(f.artifacts[0]["n"].to_string(), "-0.0");
        Ok(())
    }

    #[test]
    fn numbers_survive_parse_and_to_bytes_exactly_as_written() -> TestResult {
        let numbers = [
            "12345678901234567890123",
            "1e400",
            "-0",
            "1E5",
            "0.10",
            "-1.5E-7",
        ];
        let json = format!(
            r#"{{"issue": 1e0, "n": [{}], "artifacts": [{{"path": "a", "size": 1E5}}]}}"#,
            numbers.join(", ")
        );
        let f = parse(&json)?;
        let bytes = String::from_utf8(f.to_bytes())?;
        for number in numbers {
            assert!(
                bytes.contains(&format!("\n    {number}")),
                "{number}: {bytes}"
            );
        }
        assert!(bytes.contains("\"issue\": 1e0,"), "{bytes}");
        assert!(bytes.contains("\"size\": 1E5\n"), "{bytes}");
        assert_eq!(Fragment::parse(key("k"), bytes.as_bytes())?, f);
        Ok(())
    }

    #[test]
    fn a_repeated_key_anywhere_is_refused_with_the_key_and_its_object() {
        let cases = [
            (
                r#"{"artifacts": [], "artifacts": [{"path": "a"}]}"#,
                "artifacts",
                "",
            ),
            (r#"{"issue": 1, "issue": 2, "artifacts": []}"#, "issue", ""),
            (
                r#"{"artifacts": [{"path": "a", "kind": "x", "kind": "y"}]}"#,
                "kind",
                "/artifacts/0",
            ),
            (
                r#"{"run": {"id": 1, "id": 2}, "artifacts": []}"#,
                "id",
                "/run",
            ),
        ];
        for (json, key, object) in cases {
            match parse(json) {
                Err(FragmentError::DuplicateKey {
                    key: k, object: o, ..
                }) => {
                    assert_eq!((k.as_str(), o.as_str()), (key, object), "{json}");
                }
                other => panic!("{json}: expected DuplicateKey, got {other:?}"),
            }
        }
        let message = parse(r#"{"artifacts": [{"path": "a", "path": "b"}]}"#)
            .expect_err("repeated key")
            .to_string();
        assert!(message.contains("`path` twice"), "{message}");
        assert!(message.contains("`/artifacts/0`"), "{message}");
    }

    #[test]
    fn fragments_nest_two_levels_less_than_json_so_their_manifest_stays_readable() -> TestResult {
        let nested = |depth: usize| {
            format!(
                r#"{{"artifacts": [], "deep": {}1{}}}"#,
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        let deepest = parse(&nested(MAX_FRAGMENT_DEPTH))?;
        let manifest = crate::core::render::manifest_json(&crate::core::manifest::Manifest::build(
            vec![deepest],
            "s",
        )?);
        serde_json::from_slice::<Value>(&manifest)?;
        parse_json(&manifest)?;
        match parse(&nested(MAX_FRAGMENT_DEPTH + 1)) {
            Err(FragmentError::Json { message }) => {
                assert!(
                    message.contains("nested deeper than 125 levels"),
                    "{message}"
                );
            }
            other => panic!("expected a nesting error, got {other:?}"),
        }
        // The same text is JSON any reader takes; only as a fragment is it refused.
        parse_json(nested(MAX_FRAGMENT_DEPTH + 1).as_bytes())?;
        Ok(())
    }

    #[test]
    fn an_empty_artifact_list_is_valid_and_issue_is_optional() -> TestResult {
        let f = parse(r#"{"artifacts": []}"#)?;
        assert!(f.artifacts.is_empty());
        assert!(f.fields.is_empty());
        assert_eq!(f.issue(), None);
        let f = parse(r#"{"issue": "JIRA-7", "artifacts": []}"#)?;
        assert_eq!(f.issue(), Some(&Value::String("JIRA-7".into())));
        Ok(())
    }

    #[test]
    fn to_bytes_is_pretty_with_artifacts_last_and_parses_back_to_the_same_fragment() -> TestResult {
        let f = parse(
            r#"{"artifacts": [{"path": "a.md", "kind": "summary", "x": 1.000}], "issue": 7, "run": {"id": 77}}"#,
        )?;
        let bytes = f.to_bytes();
        let expected = "{\n  \"issue\": 7,\n  \"run\": {\n    \"id\": 77\n  },\n  \"artifacts\": [\n    {\n      \"path\": \"a.md\",\n      \"kind\": \"summary\",\n      \"x\": 1.000\n    }\n  ]\n}\n";
        assert_eq!(String::from_utf8(bytes.clone())?, expected);
        assert_eq!(Fragment::parse(key("k"), &bytes)?, f);
        let empty = parse(r#"{"artifacts": []}"#)?;
        assert_eq!(
            String::from_utf8(empty.to_bytes())?,
            "{\n  \"artifacts\": []\n}\n"
        );
        Ok(())
    }

    #[test]
    fn exactly_one_mebibyte_is_allowed_and_one_byte_more_is_rejected() -> TestResult {
        let body = r#"{"artifacts": []}"#;
        let mut bytes = body.as_bytes().to_vec();
        bytes.resize(MAX_FRAGMENT_BYTES, b' ');
        assert_eq!(bytes.len(), 1 << 20);
        assert!(Fragment::parse(key("k"), &bytes)?.artifacts.is_empty());
        bytes.push(b' ');
        assert_eq!(
            Fragment::parse(key("k"), &bytes),
            Err(FragmentError::TooLarge {
                size: (1 << 20) + 1
            })
        );
        Ok(())
    }

    #[test]
    fn the_size_limit_is_checked_before_parsing() {
        let bytes = vec![b'x'; MAX_FRAGMENT_BYTES + 1];
        assert!(matches!(
            Fragment::parse(key("k"), &bytes),
            Err(FragmentError::TooLarge { .. })
        ));
    }

    #[test]
    fn invalid_json_reports_serde_json_s_line_and_column() {
        match parse("{\n  \"artifacts\": [,]\n}") {
            Err(FragmentError::Json { message }) => {
                assert!(message.contains("line 2"), "{message}");
                assert!(message.contains("column"), "{message}");
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
        assert!(matches!(parse(""), Err(FragmentError::Json { .. })));
        assert!(matches!(
            parse("{\"artifacts\": []} x"),
            Err(FragmentError::Json { .. })
        ));
        assert!(matches!(
            Fragment::parse(key("k"), b"\xff"),
            Err(FragmentError::Json { .. })
        ));
    }

    #[test]
    fn each_schema_violation_has_its_own_error() {
        let cases: &[(&str, FragmentError)] = &[
            ("[]", FragmentError::NotAnObject),
            ("\"x\"", FragmentError::NotAnObject),
            ("{}", FragmentError::MissingArtifacts),
            (r#"{"issue": 1}"#, FragmentError::MissingArtifacts),
            (r#"{"artifacts": {}}"#, FragmentError::ArtifactsNotArray),
            (r#"{"artifacts": null}"#, FragmentError::ArtifactsNotArray),
            (
                r#"{"artifacts": [{"path": "a"}, "b"]}"#,
                FragmentError::ArtifactNotObject { index: 1 },
            ),
            (
                r#"{"artifacts": [{}]}"#,
                FragmentError::MissingPath { index: 0 },
            ),
            (
                r#"{"artifacts": [{"path": 1}]}"#,
                FragmentError::MissingPath { index: 0 },
            ),
            (
                r#"{"artifacts": [{"path": null}]}"#,
                FragmentError::MissingPath { index: 0 },
            ),
            (
                r#"{"artifacts": [{"path": "a", "fragment": "x"}]}"#,
                FragmentError::ReservedField {
                    index: 0,
                    field: "fragment".into(),
                },
            ),
            (
                r#"{"artifacts": [{"path": "a"}, {"issue": 3, "path": "b"}]}"#,
                FragmentError::ReservedField {
                    index: 1,
                    field: "issue".into(),
                },
            ),
            (
                r#"{"issue": null, "artifacts": []}"#,
                FragmentError::BadIssue,
            ),
            (
                r#"{"issue": [1], "artifacts": []}"#,
                FragmentError::BadIssue,
            ),
            (
                r#"{"issue": true, "artifacts": []}"#,
                FragmentError::BadIssue,
            ),
            (
                r#"{"artifacts": [{"path": "../x"}]}"#,
                FragmentError::BadPath {
                    index: 0,
                    path: "../x".into(),
                    error: PathError::DotSegment,
                },
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json).as_ref(), Err(expected), "{json}");
        }
    }

    #[test]
    fn fragment_errors_display_on_one_line_without_a_file_path() {
        let errors = [
            FragmentError::TooLarge { size: 2_000_000 },
            FragmentError::Json {
                message: "expected value at line 1 column 1".into(),
            },
            FragmentError::NotAnObject,
            FragmentError::MissingArtifacts,
            FragmentError::ArtifactsNotArray,
            FragmentError::ArtifactNotObject { index: 2 },
            FragmentError::MissingPath { index: 2 },
            FragmentError::BadPath {
                index: 2,
                path: "a\n/b".into(),
                error: PathError::ControlCharacter,
            },
            FragmentError::ReservedField {
                index: 2,
                field: "issue".into(),
            },
            FragmentError::BadIssue,
            FragmentError::DuplicateKey {
                key: "a\nb".into(),
                object: "/x\n".into(),
                line: 1,
                column: 2,
            },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.is_empty());
            assert!(!message.contains('\n'), "{message}");
        }
        let bad_path = FragmentError::BadPath {
            index: 0,
            path: ".git/config".into(),
            error: PathError::Refused {
                segment: ".git".into(),
                reason: "no".into(),
            },
        };
        assert!(std::error::Error::source(&bad_path).is_some());
        assert!(bad_path.to_string().contains(".git/config"));
    }

    #[test]
    fn ordinary_relative_paths_are_accepted() -> TestResult {
        for ok in [
            "a",
            "a.md",
            "docs/generated/123/summary.md",
            ".gitignore",
            ".github/workflows/ci.yml",
            ".gitmodules",
            "a b/c d.txt",
            "ünïcödé/文件.md",
            "x/...x",
            "a)b(c%d&e#f",
            "git~2",
        ] {
            validate_path(ok).map_err(|e| format!("{ok:?}: {e}"))?;
        }
        Ok(())
    }

    #[test]
    fn the_contract_s_path_rules_are_enforced() {
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            ("/a", PathError::Absolute),
            ("/", PathError::Absolute),
            ("a//b", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            (".", PathError::DotSegment),
            ("..", PathError::DotSegment),
            ("a/./b", PathError::DotSegment),
            ("a/../b", PathError::DotSegment),
            ("../a", PathError::DotSegment),
            ("a\0b", PathError::ControlCharacter),
            ("a\nb", PathError::ControlCharacter),
            ("a\rb", PathError::ControlCharacter),
            ("a\tb", PathError::ControlCharacter),
            ("a\u{1f}b", PathError::ControlCharacter),
            ("a\u{7f}b", PathError::ControlCharacter),
            ("a\\b", PathError::Backslash),
            ("..\\a", PathError::Backslash),
        ];
        for (path, expected) in cases {
            assert_eq!(validate_path(path).as_ref(), Err(expected), "{path:?}");
        }
    }

    #[test]
    fn segments_git_refuses_are_refused_with_gix_s_reason() {
        for (path, segment) in [
            (".git/config", ".git"),
            ("a/.GIT/config", ".GIT"),
            ("a/.Git", ".Git"),
            ("git~1/config", "git~1"),
            ("GIT~1/x", "GIT~1"),
            (".git./x", ".git."),
            (".git /x", ".git "),
            (".g\u{200c}it/x", ".g\u{200c}it"),
        ] {
            match validate_path(path) {
                Err(PathError::Refused { segment: s, reason }) => {
                    assert_eq!(s, segment, "{path:?}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{path:?}: expected Refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn names_only_windows_forbids_are_valid_paths_as_they_are_to_git() {
        for path in [
            "docs/CON",
            "docs/nul.txt",
            "logs/aux.txt",
            "c:/x",
            "docs/report: final.md",
            "a/b|c",
            "a/b<c",
            "a/trailing.",
            "a/trailing ",
        ] {
            assert_eq!(validate_path(path), Ok(()), "{path:?}");
        }
    }

    #[test]
    fn c1_control_characters_are_refused_too() {
        assert_eq!(validate_path("a/\u{85}b"), Err(PathError::ControlCharacter));
        assert_eq!(validate_path("a/\u{9b}b"), Err(PathError::ControlCharacter));
    }

    #[test]
    fn path_errors_display_on_one_line() {
        let errors = [
            PathError::Empty,
            PathError::Absolute,
            PathError::EmptySegment,
            PathError::DotSegment,
            PathError::ControlCharacter,
            PathError::Backslash,
            PathError::Refused {
                segment: "a\nb".into(),
                reason: "because".into(),
            },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.is_empty() && !message.contains('\n'), "{message}");
        }
    }
}
