//! The manifest: every fragment consolidated into one `manifest.json` (CONTRACT §1).
//!
//! The manifest is derived data. It must be a pure function of the *set* of fragments —
//! byte-identical whatever order they were read in and on whatever machine — so that two
//! consolidators racing on the same tree write the same blob, and `check` can tell
//! whether a committed manifest is current by rebuilding and comparing bytes.
//!
//! The layout puts one artifact per line so a consolidation diff shows one line per
//! changed artifact, which is what people read in pull requests and history.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::fragment::{Fragment, FragmentKey};

/// Natural order of CONTRACT §1, used for fragment keys everywhere they are listed.
///
/// Both strings are split into tokens: a maximal run of ASCII digits is one token, any
/// other character is a token of its own. Tokens compare left to right:
///
/// - two digit runs compare by numeric value, of any length (leading zeros are stripped
///   and the remaining digits compared by length, then bytewise, so nothing overflows);
///   equal values put the shorter run first (`7` < `007`), at that token;
/// - two characters compare by code point;
/// - a digit run sorts before a character whose code point is above `'0'` and after one
///   below it (as if the run were the character `'0'`), so `a-1` < `a1` because `-` is
///   0x2D;
/// - a string that runs out of tokens first sorts first.
///
/// Full ties fall back to bytewise order, so the order is total and consistent with
/// string equality. Examples: `issue-2` < `issue-10` < `issue-10a`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut left = Tokens { rest: a };
    let mut right = Tokens { rest: b };
    loop {
        let ordering = match (left.next(), right.next()) {
            (None, None) => break,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => compare_tokens(x, y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.as_bytes().cmp(b.as_bytes())
}

/// A byte string whose bytewise order is [`natural_cmp`]'s order, for
/// sorting many keys with one encoding each instead of tokenising both sides
/// of every comparison.
///
/// Each token is encoded in turn: a character as its UTF-8 bytes; a digit
/// run as `'0'` (where natural order places it among characters; `'0'` is
/// never a character token, since every digit is part of a run), then the
/// length of its value without leading zeros, that value's digits, and the
/// run's own length. A final 0 byte and the string itself break full ties
/// bytewise. Strings holding NUL are not keys and may sort differently.
pub fn natural_key(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2 + 1);
    for token in (Tokens { rest: s }) {
        match token {
            Token::Char(c) => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Token::Digits(run) => {
                let value = run.trim_start_matches('0');
                out.push(b'0');
                out.extend_from_slice(&(value.len() as u64).to_be_bytes());
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(&(run.len() as u64).to_be_bytes());
            }
        }
    }
    out.push(0);
    out.extend_from_slice(s.as_bytes());
    out
}

/// One token of [`natural_cmp`].
#[derive(Clone, Copy)]
enum Token<'a> {
    /// A maximal run of ASCII digits.
    Digits(&'a str),
    /// Any other character.
    Char(char),
}

/// Splits a string into [`Token`]s.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let first = self.rest.chars().next()?;
        if first.is_ascii_digit() {
            // ASCII digits are single bytes, so the byte count is a char boundary.
            let len = self.rest.bytes().take_while(u8::is_ascii_digit).count();
            let (run, rest) = self.rest.split_at(len);
            self.rest = rest;
            Some(Token::Digits(run))
        } else {
            self.rest = &self.rest[first.len_utf8()..];
            Some(Token::Char(first))
        }
    }
}

fn compare_tokens(a: Token<'_>, b: Token<'_>) -> Ordering {
    match (a, b) {
        (Token::Digits(x), Token::Digits(y)) => {
            let x_value = x.trim_start_matches('0');
            let y_value = y.trim_start_matches('0');
            x_value
                .len()
                .cmp(&y_value.len())
                .then_with(|| x_value.cmp(y_value))
                .then_with(|| x.len().cmp(&y.len()))
        }
        (Token::Char(x), Token::Char(y)) => x.cmp(&y),
        // A digit run stands where '0' would; '0' itself is always part of a run.
        (Token::Digits(_), Token::Char(c)) => '0'.cmp(&c),
        (Token::Char(c), Token::Digits(_)) => c.cmp(&'0'),
    }
}

/// The consolidated catalogue: fragments sorted by key in natural order.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    source: String,
    /// Sorted by key, natural order.
    fragments: Vec<Fragment>,
    /// Artifacts in manifest order, as (fragment index, artifact index) into `fragments`.
    /// Kept apart so each fragment stays exactly as its author wrote it.
    order: Vec<(usize, usize)>,
}

impl Manifest {
    /// Build from fragments in any order. `source` is the hex id of the fragments tree
    /// (the caller supplies it; the empty tree's id when there is no fragments folder).
    ///
    /// Fails when one artifact path is claimed twice, by two fragments or twice within
    /// one; the error names the two fragments in natural key order, so it too is
    /// independent of input order. Keys are expected to be unique (they are file names
    /// in one folder).
    pub fn build(mut fragments: Vec<Fragment>, source: &str) -> Result<Manifest, DuplicatePath> {
        // Same-key fragments cannot come from one tree; if a caller passes them anyway,
        // the bytes tie-break keeps the result independent of input order.
        fragments.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then_with(|| a.to_bytes().cmp(&b.to_bytes()))
        });
        let mut order = Vec::with_capacity(fragments.iter().map(|f| f.artifacts.len()).sum());
        let mut claimed: HashMap<&str, &FragmentKey> = HashMap::new();
        for (fragment_index, fragment) in fragments.iter().enumerate() {
            let mut own: Vec<(usize, &str)> = fragment
                .artifacts
                .iter()
                .enumerate()
                .map(|(i, fields)| (i, artifact_path(fields)))
                .collect();
            own.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
            for (artifact_index, path) in own {
                if let Some(first) = claimed.insert(path, &fragment.key) {
                    return Err(DuplicatePath {
                        path: path.to_owned(),
                        first: first.clone(),
                        second: fragment.key.clone(),
                    });
                }
                order.push((fragment_index, artifact_index));
            }
        }
        Ok(Manifest {
            source: source.to_owned(),
            fragments,
            order,
        })
    }

    /// The hex id of the fragments tree this manifest was built from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fragments, sorted by key in natural order.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// Artifacts in manifest order: fragment key (natural), then path (bytewise).
    pub fn artifacts(&self) -> impl Iterator<Item = ArtifactEntry<'_>> {
        self.order.iter().map(|&(f, a)| {
            let fragment = &self.fragments[f];
            ArtifactEntry {
                fragment,
                fields: &fragment.artifacts[a],
            }
        })
    }

    /// How many artifacts all fragments hold together.
    pub fn artifact_count(&self) -> usize {
        self.order.len()
    }

    /// The bytes of `manifest.json`.
    ///
    /// The envelope and `fragments` are pretty-printed with 2-space indentation, each
    /// artifact compact on one line indented by 4 spaces; the result is valid JSON and
    /// ends with `}` and a newline. [`crate::render::Writer`] writes them.
    pub fn to_json(&self) -> Vec<u8> {
        let mut writer = crate::render::Writer::new(&self.source, None, false);
        for fragment in &self.fragments {
            // `build` already refused duplicate paths.
            let _ = writer.push(fragment);
        }
        writer.finish().manifest
    }
}

/// An artifact's `path`; [`Fragment::parse`] guarantees it is a string.
fn artifact_path(fields: &Map<String, Value>) -> &str {
    fields.get("path").and_then(Value::as_str).unwrap_or("")
}

/// One artifact as the manifest lists it, with the fragment it came from.
#[derive(Clone, Copy, Debug)]
pub struct ArtifactEntry<'a> {
    /// The fragment that claims the artifact.
    pub fragment: &'a Fragment,
    /// The artifact's own fields, as its author wrote them.
    pub fields: &'a Map<String, Value>,
}

impl ArtifactEntry<'_> {
    /// The artifact's path.
    pub fn path(&self) -> &str {
        artifact_path(self.fields)
    }

    /// The full object as written in `manifest.json`: `fragment`, then `issue` when the
    /// fragment has one, then the artifact's own fields in the author's order.
    pub fn to_value(&self) -> Map<String, Value> {
        let mut object = Map::with_capacity(self.fields.len() + 2);
        object.insert(
            "fragment".to_owned(),
            Value::String(self.fragment.key.as_str().to_owned()),
        );
        if let Some(issue) = self.fragment.issue() {
            object.insert("issue".to_owned(), issue.clone());
        }
        for (name, value) in self.fields {
            // Parsing refuses these inside an artifact; for a hand-built fragment the
            // manifest's own values must still win.
            if name != "fragment" && name != "issue" {
                object.insert(name.clone(), value.clone());
            }
        }
        object
    }
}

/// One artifact path claimed twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePath {
    /// The path claimed twice.
    pub path: String,
    /// The fragment that claims it first, in natural key order.
    pub first: FragmentKey,
    /// The other claimant (equal to `first` when one fragment lists the path twice).
    pub second: FragmentKey,
}

impl fmt::Display for DuplicatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "artifact path `{}` is claimed by both fragment `{}` and fragment `{}`",
            self.path.escape_debug(),
            self.first,
            self.second
        )
    }
}

impl std::error::Error for DuplicatePath {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_keys_sort_as_natural_cmp_does() {
        let alphabet = ['0', '1', '2', '9', 'a', 'B', '-', '.', '_', 'z', 'é'];
        let mut rng = crate::publish::Jitter::seeded(0x243f_6a88_85a3_08d3);
        let mut next = |n: usize| rng.below(n);
        let mut words: Vec<String> = (0..400)
            .map(|_| {
                (0..next(7))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect()
            })
            .collect();
        words.extend(
            ["issue-2", "issue-10", "issue-10a", "7", "007", "a-1", "a1"].map(String::from),
        );
        for a in &words {
            for b in &words {
                assert_eq!(
                    natural_key(a).cmp(&natural_key(b)),
                    natural_cmp(a, b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

    fn fragment(key: &str, json: &str) -> Fragment {
        let key = FragmentKey::new(key).expect("test keys are valid");
        Fragment::parse(key, json.as_bytes()).expect("test fragments are valid")
    }

    /// A tiny deterministic xorshift64 generator, enough to shuffle test inputs.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                let j = (self.next() % (i as u64 + 1)) as usize;
                items.swap(i, j);
            }
        }
    }

    #[test]
    fn natural_order_compares_digit_runs_by_value() {
        use Ordering::*;
        let cases = [
            ("issue-2", "issue-10", Less),
            ("issue-10", "issue-10a", Less),
            ("issue-2", "issue-10a", Less),
            ("7", "007", Less),
            ("007", "7", Greater),
            ("a7z", "a007b", Less),
            ("a-1", "a1", Less),
            ("a1", "a-1", Greater),
            ("a1", "a.1", Greater),
            ("a1", "aa", Less),
            ("a1", "a:", Less),
            ("issue", "issue-1", Less),
            ("", "a", Less),
            ("", "", Equal),
            ("abc", "abc", Equal),
            ("B", "a", Less),
            ("0", "00", Less),
            ("00", "000", Less),
            ("1", "00", Greater),
            (
                "x99999999999999999999999999999999999",
                "x100000000000000000000000000000000000",
                Less,
            ),
            (
                "x100000000000000000000000000000000001",
                "x100000000000000000000000000000000000",
                Greater,
            ),
            ("é", "e", Greater),
            ("a\u{1F600}", "a\u{E9}", Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(natural_cmp(a, b), expected, "{a:?} vs {b:?}");
            assert_eq!(natural_cmp(b, a), expected.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn natural_order_is_a_total_order_consistent_with_equality() {
        let words = [
            "",
            "0",
            "00",
            "1",
            "01",
            "10",
            "a",
            "a0",
            "a00",
            "a1",
            "a-1",
            "a.1",
            "a01",
            "a10",
            "a1b",
            "a01b",
            "b",
            "B",
            "issue-2",
            "issue-10",
            "issue-10a",
            "issue-010",
            "x9y9",
            "x09y9",
            "x9y09",
        ];
        for a in words {
            assert_eq!(natural_cmp(a, a), Ordering::Equal);
            for b in words {
                if a != b {
                    assert_ne!(natural_cmp(a, b), Ordering::Equal, "{a:?} vs {b:?}");
                }
                assert_eq!(natural_cmp(a, b), natural_cmp(b, a).reverse());
                for c in words {
                    if natural_cmp(a, b) == Ordering::Less && natural_cmp(b, c) == Ordering::Less {
                        assert_eq!(natural_cmp(a, c), Ordering::Less, "{a:?} {b:?} {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_manifest_has_the_contract_s_exact_layout() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment("notes", r#"{"artifacts": [{"path": "b.md"}]}"#),
                fragment(
                    "issue-2",
                    r#"{"issue": 2, "run": {"id": 77}, "artifacts": [{"path": "a.md", "kind": "summary"}]}"#,
                ),
            ],
            EMPTY_TREE,
        )?;
        let expected = r#"{
  "version": 1,
  "source": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
  "fragments": {
    "issue-2": {
      "issue": 2,
      "run": {
        "id": 77
      }
    },
    "notes": {}
  },
  "artifacts": [
    {"fragment":"issue-2","issue":2,"path":"a.md","kind":"summary"},
    {"fragment":"notes","path":"b.md"}
  ]
}
"#;
        assert_eq!(String::from_utf8(manifest.to_json())?, expected);
        Ok(())
    }

    #[test]
    fn a_manifest_without_fragments_has_empty_fragments_and_artifacts() -> TestResult {
        let manifest = Manifest::build(vec![], EMPTY_TREE)?;
        let expected = "{\n  \"version\": 1,\n  \"source\": \"4b825dc642cb6eb9a060e54bf8d69288fbee4904\",\n  \"fragments\": {},\n  \"artifacts\": []\n}\n";
        assert_eq!(String::from_utf8(manifest.to_json())?, expected);
        assert_eq!(manifest.artifact_count(), 0);
        assert_eq!(manifest.source(), EMPTY_TREE);
        Ok(())
    }

    #[test]
    fn fragments_without_artifacts_still_appear_and_artifacts_can_be_empty() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment("b", r#"{"issue": "X-1", "artifacts": []}"#),
                fragment("a", r#"{"artifacts": []}"#),
            ],
            "abc",
        )?;
        let text = String::from_utf8(manifest.to_json())?;
        assert!(text.contains("\"fragments\": {\n    \"a\": {},\n    \"b\": {\n      \"issue\": \"X-1\"\n    }\n  },\n  \"artifacts\": []\n}\n"), "{text}");
        Ok(())
    }

    #[test]
    fn artifacts_sort_by_natural_key_then_bytewise_path() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment(
                    "issue-10",
                    r#"{"artifacts": [{"path": "z"}, {"path": "B"}, {"path": "a"}]}"#,
                ),
                fragment(
                    "issue-2",
                    r#"{"artifacts": [{"path": "b/x10"}, {"path": "b/x2"}, {"path": "é"}]}"#,
                ),
                fragment("issue-10a", r#"{"artifacts": [{"path": "0"}]}"#),
            ],
            "s",
        )?;
        let listed: Vec<_> = manifest
            .artifacts()
            .map(|a| format!("{}:{}", a.fragment.key, a.path()))
            .collect();
        assert_eq!(
            listed,
            [
                "issue-2:b/x10",
                "issue-2:b/x2",
                "issue-2:é",
                "issue-10:B",
                "issue-10:a",
                "issue-10:z",
                "issue-10a:0"
            ]
        );
        assert_eq!(manifest.artifact_count(), 7);
        let keys: Vec<_> = manifest
            .fragments()
            .iter()
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(keys, ["issue-2", "issue-10", "issue-10a"]);
        // The fragments themselves keep their author's artifact order.
        assert_eq!(manifest.fragments()[1].artifacts[0]["path"], "z");
        Ok(())
    }

    #[test]
    fn an_artifact_value_carries_fragment_then_issue_then_its_own_fields() {
        let with_issue = fragment(
            "issue-7",
            r#"{"issue": 7, "artifacts": [{"title": "T", "path": "p", "n": 1.10}]}"#,
        );
        let manifest = Manifest::build(vec![with_issue], "s").expect("no duplicates");
        let entry = manifest.artifacts().next().expect("one artifact");
        let value = entry.to_value();
        let names: Vec<_> = value.keys().map(String::as_str).collect();
        assert_eq!(names, ["fragment", "issue", "title", "path", "n"]);
        assert_eq!(
            serde_json::to_string(&value).ok().as_deref(),
            Some(r#"{"fragment":"issue-7","issue":7,"title":"T","path":"p","n":1.10}"#)
        );
    }

    #[test]
    fn a_path_claimed_by_two_fragments_is_an_error_naming_both_in_natural_order() {
        for fragments in [
            vec![
                fragment("issue-10", r#"{"artifacts": [{"path": "a.md"}]}"#),
                fragment("issue-9", r#"{"artifacts": [{"path": "a.md"}]}"#),
            ],
            vec![
                fragment("issue-9", r#"{"artifacts": [{"path": "a.md"}]}"#),
                fragment("issue-10", r#"{"artifacts": [{"path": "a.md"}]}"#),
            ],
        ] {
            let error = Manifest::build(fragments, "s").expect_err("duplicate path");
            assert_eq!(
                error,
                DuplicatePath {
                    path: "a.md".into(),
                    first: FragmentKey::for_issue(9),
                    second: FragmentKey::for_issue(10),
                }
            );
            assert_eq!(
                error.to_string(),
                "artifact path `a.md` is claimed by both fragment `issue-9` and fragment `issue-10`"
            );
        }
    }

    #[test]
    fn a_path_listed_twice_in_one_fragment_is_an_error() {
        let error = Manifest::build(
            vec![fragment(
                "k",
                r#"{"artifacts": [{"path": "a"}, {"path": "b"}, {"path": "a", "kind": "x"}]}"#,
            )],
            "s",
        )
        .expect_err("duplicate path");
        assert_eq!(error.path, "a");
        assert_eq!(error.first.as_str(), "k");
        assert_eq!(error.second.as_str(), "k");
    }

    #[test]
    fn the_manifest_is_valid_json_that_parses_back_to_the_same_values() -> TestResult {
        let manifest = Manifest::build(
            vec![
                fragment(
                    "issue-3",
                    r#"{"issue": 3, "big": 123456789012345678901234567890.000, "nested": {"l": [1, {"m": "x\ny"}], "e": {}, "a": []},
                        "artifacts": [{"path": "q'uote/ü (1).md", "title": "line\nbreak \u0000 \"q\"", "n": 1e-7}]}"#,
                ),
                fragment("empty", r#"{"artifacts": []}"#),
            ],
            EMPTY_TREE,
        )?;
        let bytes = manifest.to_json();
        let parsed: Value = serde_json::from_slice(&bytes)?;
        let mut fragments = Map::new();
        for f in manifest.fragments() {
            fragments.insert(f.key.to_string(), Value::Object(f.fields.clone()));
        }
        let artifacts: Vec<Value> = manifest
            .artifacts()
            .map(|a| Value::Object(a.to_value()))
            .collect();
        let expected = serde_json::json!({
            "version": 1,
            "source": EMPTY_TREE,
            "fragments": fragments,
            "artifacts": artifacts,
        });
        assert_eq!(parsed, expected);
        assert_eq!(
            parsed["fragments"]["issue-3"]["big"].to_string(),
            "123456789012345678901234567890.000"
        );
        assert_eq!(parsed["artifacts"][0]["n"].to_string(), "1e-7");
        // One line per artifact, whatever its strings hold.
        let text = String::from_utf8(bytes)?;
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("    {\"fragment\""))
                .count(),
            1
        );
        Ok(())
    }

    #[test]
    fn any_input_order_gives_byte_identical_manifests() -> TestResult {
        let mut fragments = vec![
            fragment(
                "issue-2",
                r#"{"issue": 2, "artifacts": [{"path": "d/2b"}, {"path": "d/2a"}]}"#,
            ),
            fragment(
                "issue-10",
                r#"{"issue": 10, "run": {"id": 1}, "artifacts": [{"path": "d/10"}]}"#,
            ),
            fragment(
                "issue-10a",
                r#"{"artifacts": [{"path": "d/10a", "kind": "k"}]}"#,
            ),
            fragment("issue-007", r#"{"artifacts": [{"path": "d/007"}]}"#),
            fragment("issue-7", r#"{"artifacts": [{"path": "d/7"}]}"#),
            fragment("notes", r#"{"artifacts": []}"#),
            fragment("Zeta", r#"{"artifacts": [{"path": "z"}]}"#),
            fragment("a-1", r#"{"artifacts": [{"path": "a-1"}]}"#),
            fragment("a1", r#"{"artifacts": [{"path": "a1"}]}"#),
            fragment("a.1", r#"{"artifacts": [{"path": "a.1"}]}"#),
            fragment(
                "x",
                r#"{"artifacts": [{"path": "x/3"}, {"path": "x/1"}, {"path": "x/2"}]}"#,
            ),
        ];
        let reference = Manifest::build(fragments.clone(), EMPTY_TREE)?.to_json();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..64 {
            rng.shuffle(&mut fragments);
            let manifest = Manifest::build(fragments.clone(), EMPTY_TREE)?;
            assert_eq!(manifest.to_json(), reference);
        }
        let keys: Vec<_> = Manifest::build(fragments, EMPTY_TREE)?
            .fragments()
            .iter()
            .map(|f| f.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "Zeta",
                "a-1",
                "a.1",
                "a1",
                "issue-2",
                "issue-7",
                "issue-007",
                "issue-10",
                "issue-10a",
                "notes",
                "x"
            ]
        );
        Ok(())
    }

    #[test]
    fn any_input_order_gives_the_same_duplicate_path_error() {
        let mut fragments = vec![
            fragment("c", r#"{"artifacts": [{"path": "p"}]}"#),
            fragment("a", r#"{"artifacts": [{"path": "q"}]}"#),
            fragment("b", r#"{"artifacts": [{"path": "p"}]}"#),
            fragment("d", r#"{"artifacts": [{"path": "p"}]}"#),
        ];
        let mut rng = XorShift(42);
        for _ in 0..50 {
            rng.shuffle(&mut fragments);
            let error = Manifest::build(fragments.clone(), "s").expect_err("duplicate path");
            assert_eq!((error.first.as_str(), error.second.as_str()), ("b", "c"));
        }
    }
}
