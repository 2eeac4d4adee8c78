//! Property tests of the pure core: fragment bytes -> `Fragment` -> `Manifest` ->
//! `manifest.json` and `index.md` (issue 6, point 5).
//!
//! Every case is generated as a *model* first (a JSON tree whose numbers are strings
//! kept exactly as written and whose strings carry how they are escaped) and written
//! out as fragment text, with random whitespace and escape spellings. The model is the
//! oracle: it says which error an input must give, or exactly which manifest entries
//! (every field, in the contract's order) and which `index.md` lines it must produce.
//! Nothing here calls the code under test to compute an expected value.
//!
//! The inputs are hostile on purpose: any Unicode including control, bidirectional
//! and zero-width characters, Markdown and HTML syntax in titles, kinds and paths,
//! huge and tiny numbers in every spelling, deep nesting, empty arrays and objects,
//! repeated keys, and artifact paths claimed twice within and across fragments.
//!
//! `cargo test --test prop` runs a few thousand cases in a few seconds. A longer run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test prop
//! ```
//!
//! (`PROPTEST_CASES` then applies to every property.) A failure is shrunk to a minimal
//! input, printed, and saved under `tests/prop.proptest-regressions` so it is replayed
//! first on every later run.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use git_catalogue::core::fragment::{
    parse_json, Fragment, FragmentError, JsonError, MAX_DEPTH, MAX_FRAGMENT_DEPTH,
};
use git_catalogue::core::key::{natural_cmp, FragmentKey};
use git_catalogue::core::manifest::{DuplicatePath, Manifest};
use git_catalogue::core::render::manifest_json;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngAlgorithm};
use serde_json::{Number, Value};

/// The issue URL template the properties link through.
const TEMPLATE: &str = "https://forge.example/o/r/issues/{issue}";

/// `index.md` and every page under `index/`, as text, as consolidation
/// writes them for the catalogue folder `dir`, issues linked through [`TEMPLATE`].
fn index_pages(manifest: &Manifest, dir: &str) -> (String, Vec<(String, String)>) {
    let out = git_catalogue::core::render::outputs_linked(manifest, dir, Some(TEMPLATE));
    let text = |b: Vec<u8>| String::from_utf8(b).expect("the index is text");
    (
        text(out.index),
        out.pages.into_iter().map(|(f, b)| (f, text(b))).collect(),
    )
}

/// The manifest's `source` in every case: what it is does not matter to the core.
const SOURCE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// `cases` cases, unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    // In a debug build, ChaCha's refills were 30% of the run; XorShift's randomness is
    // ample for generating test inputs (`PROPTEST_RNG_ALGORITHM=cc` restores ChaCha).
    if std::env::var_os("PROPTEST_RNG_ALGORITHM").is_none() {
        config.rng_algorithm = RngAlgorithm::XorShift;
    }
    config
}

// ---------------------------------------------------------------------------------
// The model: JSON as its author wrote it.
// ---------------------------------------------------------------------------------

/// How a string's characters are spelled in the JSON text.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Escapes {
    /// Only what JSON requires: `"`, `\` and U+0000..U+001F (as `\u00XX`).
    Minimal,
    /// Also every non-ASCII character as `\uXXXX` (surrogate pairs above U+FFFF).
    NonAscii,
    /// Every character as `\uXXXX`.
    All,
    /// The short escapes where they exist (`\/`, `\n`, `\t`, ...), minimal otherwise.
    Short,
}

/// A string and its spelling.
#[derive(Clone, Debug)]
struct Text {
    s: String,
    esc: Escapes,
}

/// A JSON value as written: numbers are their exact text.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(Text),
    Arr(Vec<J>),
    Obj(Vec<(Text, J)>),
}

fn str_j(s: &str) -> J {
    J::Str(Text {
        s: s.to_owned(),
        esc: Escapes::Minimal,
    })
}

fn write_text(t: &Text, out: &mut String) {
    out.push('"');
    for c in t.s.chars() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let required = matches!(c, '"' | '\\') || u32::from(c) < 0x20;
        let as_unicode = match t.esc {
            Escapes::Minimal => required,
            Escapes::NonAscii => required || !c.is_ascii(),
            Escapes::All => true,
            Escapes::Short => required && short.is_none(),
        };
        if t.esc == Escapes::Short && short.is_some() {
            out.push_str(short.unwrap_or_default());
        } else if as_unicode {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else if c == '"' || c == '\\' {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

/// Write `j` as JSON text, putting the next of `ws` (cycled) between tokens.
fn write_j(j: &J, ws: &[&str], n: &mut usize, out: &mut String) {
    fn space(ws: &[&str], n: &mut usize, out: &mut String) {
        out.push_str(ws[*n % ws.len()]);
        *n += 1;
    }
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(text) => out.push_str(text),
        J::Str(t) => write_text(t, out),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(ws, n, out);
                write_j(item, ws, n, out);
                space(ws, n, out);
            }
            out.push(']');
        }
        J::Obj(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(ws, n, out);
                write_text(key, out);
                space(ws, n, out);
                out.push(':');
                space(ws, n, out);
                write_j(value, ws, n, out);
                space(ws, n, out);
            }
            out.push('}');
        }
    }
}

fn written(j: &J, ws: &[&str]) -> String {
    let mut out = String::new();
    out.push_str(ws[0]);
    write_j(j, ws, &mut 1, &mut out);
    out.push_str(ws[ws.len() - 1]);
    out
}

/// Compact JSON of `j` as the manifest must write it: numbers exactly as written,
/// strings the one way serde_json spells them.
fn canon(j: &J) -> String {
    match j {
        J::Null => "null".to_owned(),
        J::Bool(b) => b.to_string(),
        J::Num(text) => text.clone(),
        J::Str(t) => json_string(&t.s),
        J::Arr(items) => format!(
            "[{}]",
            items.iter().map(canon).collect::<Vec<_>>().join(",")
        ),
        J::Obj(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}:{}", json_string(&k.s), canon(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// What a value shows in a Kind or Title cell (before escaping): a string itself,
/// anything else its compact JSON.
fn cell_text(j: &J) -> String {
    match j {
        J::Str(t) => t.s.clone(),
        other => canon(other),
    }
}

/// Keep the first entry of each key (keys compare by their characters).
fn dedupe(entries: Vec<(Text, J)>) -> Vec<(Text, J)> {
    let mut seen = BTreeSet::new();
    entries
        .into_iter()
        .filter(|(k, _)| seen.insert(k.s.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------

/// Pieces that try to break a Markdown table, inject HTML or links, or hide text.
const HOSTILE: &[&str] = &[
    "|",
    "\\|",
    "\n",
    "\r\n",
    "\r",
    "<script>alert(1)</script>",
    "</td>",
    "<!--",
    "<https://evil.example>",
    "`",
    "```",
    "[",
    "]",
    "](javascript:alert(1))",
    "![x](y.png)",
    "\u{202E}",
    "\u{2066}",
    "\u{200B}",
    "\u{200D}",
    "\u{FEFF}",
    "\u{2028}",
    "\u{AD}",
    "\\",
    "&#124;",
    "&lt;",
    "&amp;",
    "*",
    "_",
    "~~",
    "#",
    "- ",
    "> ",
    "$x$",
    "\u{0}",
    "\u{1b}[31m",
    "\u{7f}",
    "\u{85}",
    "é",
    "文",
    "😀",
    "\u{10FFFF}",
    "https://evil.example",
    "www.example.com",
    "a@b.example",
    "-->",
    "\"",
    "/",
];

/// Any text: arbitrary Unicode scalar values, printable ASCII and hostile pieces.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        2 => any::<char>().prop_map(String::from),
        2 => "[ -~]{1,6}",
        3 => select(HOSTILE).prop_map(str::to_owned),
    ];
    vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn escapes() -> impl Strategy<Value = Escapes> {
    select(vec![
        Escapes::Minimal,
        Escapes::NonAscii,
        Escapes::All,
        Escapes::Short,
    ])
}

fn spelled(s: impl Strategy<Value = String>) -> impl Strategy<Value = Text> {
    (s, escapes()).prop_map(|(s, esc)| Text { s, esc })
}

/// Numbers in JSON's grammar, many beyond f64: long digit runs, long fractions,
/// huge and tiny exponents, `E` and `e`, with and without a sign, negative zero.
fn number() -> impl Strategy<Value = String> {
    let int = prop_oneof![Just("0".to_owned()), "[1-9][0-9]{0,40}"];
    let frac = prop_oneof![Just(String::new()), "\\.[0-9]{1,30}"];
    let exp = prop_oneof![Just(String::new()), "[eE][+-]?[0-9]{1,5}"];
    prop_oneof![
        4 => (any::<bool>(), int, frac, exp)
            .prop_map(|(neg, i, f, e)| format!("{}{i}{f}{e}", if neg { "-" } else { "" })),
        1 => select(vec![
            "12345678901234567890123",
            "1e400",
            "-0",
            "1E5",
            "0.10",
            "-0.0E-0",
            "4.9E-324",
            "1.7976931348623157e309",
            "18446744073709551616",
            "-9223372036854775809",
            "0",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A field name outside `reserved`.
fn field_name(reserved: &'static [&'static str]) -> impl Strategy<Value = Text> {
    spelled(text()).prop_map(move |mut t| {
        if reserved.contains(&t.s.as_str()) {
            t.s.push('_');
        }
        t
    })
}

/// Any JSON value, nested a few levels, with empty arrays and objects likely.
fn value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        spelled(text()).prop_map(J::Str),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(J::Arr),
            vec((field_name(&[]), inner), 0..4).prop_map(|e| J::Obj(dedupe(e))),
        ]
    })
}

/// `depth` containers around a number, arrays or objects as `kinds` says.
fn nested(depth: usize, kinds: &[bool]) -> J {
    let mut j = J::Num("1".to_owned());
    for level in 0..depth {
        j = if kinds[level % kinds.len()] {
            J::Arr(vec![j])
        } else {
            J::Obj(vec![(
                Text {
                    s: "k".to_owned(),
                    esc: Escapes::Minimal,
                },
                j,
            )])
        };
    }
    j
}

/// Keys matching `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, rich in digit runs.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9][A-Za-z0-9._-]{0,10}",
        "issue-[0-9]{1,3}",
        "issue-0{0,2}[0-9]{1,2}[a-z]?",
        "[a-c][0-9]{1,2}[-.]?[0-9]{0,2}",
    ]
}

/// Characters for valid path segments: Markdown and HTML syntax, spaces, Unicode,
/// bidirectional and zero-width characters. No `g`, `i` or `t`, so no segment can
/// spell `.git` or `git~1` in any disguise; everything else git accepts.
const SEGMENT_CHARS: &[char] = &[
    'a', 'b', 'Z', '0', '7', ' ', '.', '~', '_', '-', '[', ']', '(', ')', '|', '<', '>', '#', '%',
    '&', '\'', '`', '*', '!', '@', '$', '+', '=', ',', ';', '{', '}', '^', '"', ':', '?', 'é',
    '文', '😀', '\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}', '\u{2028}', '\u{AD}',
];

/// A valid artifact path of one to four segments.
fn path() -> impl Strategy<Value = String> {
    let segment = vec(select(SEGMENT_CHARS), 1..7).prop_map(|chars| {
        let s: String = chars.into_iter().collect();
        // `.` and `..` are not segments a path may have.
        if s.chars().all(|c| c == '.') {
            format!("a{s}")
        } else {
            s
        }
    });
    vec(segment, 1..4).prop_map(|segments| segments.join("/"))
}

/// Paths the contract or git refuses.
const BAD_PATHS: &[&str] = &[
    "",
    "/a",
    "a//b",
    "a/",
    ".",
    "..",
    "a/./b",
    "../x",
    "a\u{0}b",
    "a\nb",
    "a\u{7f}",
    "a/\u{85}b",
    ".git/config",
    "x/.GIT",
    "git~1/x",
    ".git./x",
    ".g\u{200c}it/x",
    "a\\b",
];

/// Where an artifact's path comes from: its own, or one shared by the whole case
/// (so the same path is claimed twice, within a fragment or across fragments).
#[derive(Clone, Debug)]
enum PathChoice {
    Own(String),
    Shared(Index),
}

#[derive(Clone, Debug)]
struct ArtifactDraft {
    path: PathChoice,
    path_esc: Escapes,
    path_at: Index,
    fields: Vec<(Text, J)>,
}

fn artifact() -> impl Strategy<Value = ArtifactDraft> {
    let path = prop_oneof![
        5 => path().prop_map(PathChoice::Own),
        2 => any::<Index>().prop_map(PathChoice::Shared),
    ];
    let described = prop_oneof![
        3 => spelled(text()).prop_map(J::Str),
        1 => value(),
    ];
    let kind = proptest::option::of(described.clone());
    let title = proptest::option::of(described);
    let others = vec(
        (
            field_name(&["path", "fragment", "issue", "kind", "title"]),
            value(),
        ),
        0..3,
    );
    (path, escapes(), any::<Index>(), kind, title, others).prop_map(
        |(path, path_esc, path_at, kind, title, others)| {
            let mut fields = Vec::new();
            if let Some(kind) = kind {
                fields.push((spelled_const("kind"), kind));
            }
            if let Some(title) = title {
                fields.push((spelled_const("title"), title));
            }
            fields.extend(others);
            ArtifactDraft {
                path,
                path_esc,
                path_at,
                fields: dedupe(fields),
            }
        },
    )
}

fn spelled_const(s: &str) -> Text {
    Text {
        s: s.to_owned(),
        esc: Escapes::Minimal,
    }
}

#[derive(Clone, Debug)]
struct FragmentDraft {
    /// Top-level fields other than `artifacts` (may include `issue`).
    fields: Vec<(Text, J)>,
    artifacts_at: Index,
    artifacts: Vec<ArtifactDraft>,
}

fn fragment_draft() -> impl Strategy<Value = FragmentDraft> {
    let issue = proptest::option::of(prop_oneof![
        number().prop_map(J::Num),
        spelled(text()).prop_map(J::Str),
    ]);
    let others = vec((field_name(&["artifacts", "issue"]), value()), 0..3);
    (
        issue,
        any::<Index>(),
        others,
        any::<Index>(),
        vec(artifact(), 0..4),
    )
        .prop_map(|(issue, issue_at, mut fields, artifacts_at, artifacts)| {
            fields = dedupe(fields);
            if let Some(issue) = issue {
                let at = issue_at.index(fields.len() + 1);
                fields.insert(at, (spelled_const("issue"), issue));
            }
            FragmentDraft {
                fields,
                artifacts_at,
                artifacts,
            }
        })
}

fn whitespace() -> impl Strategy<Value = Vec<&'static str>> {
    vec(select(vec!["", " ", "\n", "\t", "\r\n", "  "]), 1..4)
}

// ---------------------------------------------------------------------------------
// A fragment model and what it must become.
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Artifact {
    path: String,
    /// All fields in the author's order, `path` among them.
    fields: Vec<(Text, J)>,
}

impl Artifact {
    fn get(&self, name: &str) -> Option<&J> {
        self.fields
            .iter()
            .find(|(k, _)| k.s == name)
            .map(|(_, v)| v)
    }
}

#[derive(Clone, Debug)]
struct Model {
    key: String,
    fields: Vec<(Text, J)>,
    artifacts_at: usize,
    artifacts: Vec<Artifact>,
}

impl Model {
    fn new(key: &str, draft: &FragmentDraft, shared: &[String]) -> Model {
        let artifacts = draft
            .artifacts
            .iter()
            .map(|a| {
                let path = match &a.path {
                    PathChoice::Own(p) => p.clone(),
                    PathChoice::Shared(i) => shared[i.index(shared.len())].clone(),
                };
                let mut fields = a.fields.clone();
                let at = a.path_at.index(fields.len() + 1);
                fields.insert(
                    at,
                    (
                        spelled_const("path"),
                        J::Str(Text {
                            s: path.clone(),
                            esc: a.path_esc,
                        }),
                    ),
                );
                Artifact { path, fields }
            })
            .collect();
        Model {
            key: key.to_owned(),
            fields: draft.fields.clone(),
            artifacts_at: draft.artifacts_at.index(draft.fields.len() + 1),
            artifacts,
        }
    }

    fn issue(&self) -> Option<&J> {
        self.fields
            .iter()
            .find(|(k, _)| k.s == "issue")
            .map(|(_, v)| v)
    }

    /// The whole fragment as a JSON tree, `artifacts` where the author put it.
    fn to_j(&self) -> J {
        let mut entries = self.fields.clone();
        let artifacts = J::Arr(
            self.artifacts
                .iter()
                .map(|a| J::Obj(a.fields.clone()))
                .collect(),
        );
        entries.insert(self.artifacts_at, (spelled_const("artifacts"), artifacts));
        J::Obj(entries)
    }

    /// The manifest entry of `artifact`: `fragment`, `issue` when the fragment has
    /// one, then the artifact's own fields in order.
    fn entry(&self, artifact: &Artifact) -> J {
        let mut entries = vec![(spelled_const("fragment"), str_j(&self.key))];
        if let Some(issue) = self.issue() {
            entries.push((spelled_const("issue"), issue.clone()));
        }
        entries.extend(artifact.fields.iter().cloned());
        J::Obj(entries)
    }
}

/// The contract's natural order, as its text defines it, written independently of
/// `manifest::natural_cmp`: each key becomes a list of tokens `(code point, digits
/// without leading zeros as (length, text), run length)`, where a digit run takes the
/// code point of `'0'`, compared lexicographically; a full tie compares bytes.
fn model_cmp(a: &str, b: &str) -> Ordering {
    fn tokens(s: &str) -> Vec<(u32, usize, String, usize)> {
        let mut out = Vec::new();
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_ascii_digit() {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let run: String = chars[start..i].iter().collect();
                let value = run.trim_start_matches('0').to_owned();
                out.push((u32::from('0'), value.len(), value, run.len()));
            } else {
                out.push((u32::from(chars[i]), 0, String::new(), 0));
                i += 1;
            }
        }
        out
    }
    tokens(a)
        .cmp(&tokens(b))
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// What `Manifest::build` must give for `models`: the entries in order, or the
/// first path claimed twice walking fragments in natural order and each fragment's
/// paths bytewise.
fn expected_manifest(models: &[Model]) -> Result<Vec<(&Model, &Artifact)>, DuplicatePath> {
    let mut sorted: Vec<&Model> = models.iter().collect();
    sorted.sort_by(|a, b| model_cmp(&a.key, &b.key));
    let mut claimed: HashMap<&str, &str> = HashMap::new();
    let mut entries = Vec::new();
    for model in sorted {
        let mut own: Vec<&Artifact> = model.artifacts.iter().collect();
        own.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for artifact in own {
            if let Some(first) = claimed.insert(&artifact.path, &model.key) {
                return Err(DuplicatePath {
                    path: artifact.path.clone(),
                    first: key_of(first),
                    second: key_of(&model.key),
                });
            }
            entries.push((model, artifact));
        }
    }
    Ok(entries)
}

fn key_of(s: &str) -> FragmentKey {
    FragmentKey::new(s).expect("generated keys match the pattern")
}

/// `serde_json`'s reading of a value, for comparing with our reader: numbers as
/// serde_json spells them.
fn respelled(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(
            n.as_str()
                .parse::<Number>()
                .expect("our reader keeps only valid numbers"),
        ),
        Value::Array(items) => Value::Array(items.iter().map(respelled).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), respelled(v))).collect())
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------
// Faults: one per fragment, each with the exact error it must give.
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Fault {
    None,
    /// Cut the text before its closing brace.
    Truncate(Index),
    NotAnObject,
    MissingArtifacts,
    ArtifactsNotArray(J),
    BadIssue(J),
    ArtifactNotObject(Index, J),
    MissingPath(Index, Option<J>),
    BadPath(Index, &'static str),
    Reserved(Index, &'static str, Index),
    /// Repeat an entry of the top-level object (`None`) or of an artifact.
    DuplicateKey(Option<Index>, Index, Escapes),
}

fn not_string() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        Just(J::Arr(vec![])),
        Just(J::Obj(vec![])),
    ]
}

fn faults() -> impl Strategy<Value = Fault> {
    prop_oneof![
        12 => Just(Fault::None),
        1 => any::<Index>().prop_map(Fault::Truncate),
        1 => Just(Fault::NotAnObject),
        1 => Just(Fault::MissingArtifacts),
        1 => prop_oneof![
            Just(J::Null),
            Just(J::Obj(vec![])),
            spelled(text()).prop_map(J::Str),
        ].prop_map(Fault::ArtifactsNotArray),
        1 => prop_oneof![Just(J::Null), any::<bool>().prop_map(J::Bool), Just(J::Arr(vec![]))]
            .prop_map(Fault::BadIssue),
        1 => (any::<Index>(), prop_oneof![
            Just(J::Null),
            spelled(text()).prop_map(J::Str),
            number().prop_map(J::Num),
            Just(J::Arr(vec![])),
        ]).prop_map(|(i, j)| Fault::ArtifactNotObject(i, j)),
        1 => (any::<Index>(), proptest::option::of(not_string()))
            .prop_map(|(i, j)| Fault::MissingPath(i, j)),
        2 => (any::<Index>(), select(BAD_PATHS)).prop_map(|(i, p)| Fault::BadPath(i, p)),
        1 => (any::<Index>(), select(vec!["fragment", "issue"]), any::<Index>())
            .prop_map(|(i, f, at)| Fault::Reserved(i, f, at)),
        2 => (proptest::option::of(any::<Index>()), any::<Index>(), escapes())
            .prop_map(|(o, k, e)| Fault::DuplicateKey(o, k, e)),
    ]
}

/// The error a fault must give, as a predicate with a description.
enum Expected {
    Ok,
    Error(FragmentError),
    /// Any `FragmentError::Json`.
    Syntax,
}

/// Apply `fault` to the model's tree and say what parsing must give.
fn apply(fault: &Fault, model: &Model) -> (J, Expected) {
    let mut model = model.clone();
    let needs_artifact = matches!(
        fault,
        Fault::ArtifactNotObject(..)
            | Fault::MissingPath(..)
            | Fault::BadPath(..)
            | Fault::Reserved(..)
            | Fault::DuplicateKey(Some(_), ..)
    );
    if needs_artifact && model.artifacts.is_empty() {
        model.artifacts.push(Artifact {
            path: "a".to_owned(),
            fields: vec![(spelled_const("path"), str_j("a"))],
        });
    }
    let count = model.artifacts.len();
    let mut tree = model.to_j();
    let J::Obj(top) = &mut tree else {
        unreachable!("to_j gives an object")
    };
    let artifacts_position = model.artifacts_at;
    fn artifact(top: &mut [(Text, J)], at: usize, i: usize) -> &mut Vec<(Text, J)> {
        match &mut top[at].1 {
            J::Arr(items) => match &mut items[i] {
                J::Obj(fields) => fields,
                _ => unreachable!("artifacts are objects"),
            },
            _ => unreachable!("artifacts is an array"),
        }
    }
    let expected = match fault {
        Fault::None => Expected::Ok,
        // Applied to the text by the caller.
        Fault::Truncate(_) => Expected::Syntax,
        Fault::NotAnObject => {
            tree = J::Arr(vec![tree]);
            Expected::Error(FragmentError::NotAnObject)
        }
        Fault::MissingArtifacts => {
            top.remove(artifacts_position);
            Expected::Error(FragmentError::MissingArtifacts)
        }
        Fault::ArtifactsNotArray(j) => {
            top[artifacts_position].1 = j.clone();
            Expected::Error(FragmentError::ArtifactsNotArray)
        }
        Fault::BadIssue(j) => {
            match top.iter_mut().find(|(k, _)| k.s == "issue") {
                Some(entry) => entry.1 = j.clone(),
                None => top.insert(0, (spelled_const("issue"), j.clone())),
            }
            Expected::Error(FragmentError::BadIssue)
        }
        Fault::ArtifactNotObject(i, j) => {
            let index = i.index(count);
            if let J::Arr(items) = &mut top[artifacts_position].1 {
                items[index] = j.clone();
            }
            Expected::Error(FragmentError::ArtifactNotObject { index })
        }
        Fault::MissingPath(i, j) => {
            let index = i.index(count);
            let fields = artifact(top, artifacts_position, index);
            let at = fields
                .iter()
                .position(|(k, _)| k.s == "path")
                .expect("every artifact has a path");
            match j {
                None => {
                    fields.remove(at);
                }
                Some(j) => fields[at].1 = j.clone(),
            }
            Expected::Error(FragmentError::MissingPath { index })
        }
        Fault::BadPath(i, path) => {
            let index = i.index(count);
            let fields = artifact(top, artifacts_position, index);
            if let Some(entry) = fields.iter_mut().find(|(k, _)| k.s == "path") {
                entry.1 = str_j(path);
            }
            Expected::Error(FragmentError::BadPath {
                index,
                path: (*path).to_owned(),
                // Compared by index and path only; see `check_fragment`.
                error: git_catalogue::core::path::PathError::Empty,
            })
        }
        Fault::Reserved(i, field, at) => {
            let index = i.index(count);
            let fields = artifact(top, artifacts_position, index);
            let at = at.index(fields.len() + 1);
            fields.insert(at, (spelled_const(field), J::Num("1".to_owned())));
            Expected::Error(FragmentError::ReservedField {
                index,
                field: (*field).to_owned(),
            })
        }
        Fault::DuplicateKey(object, k, esc) => {
            let (fields, pointer) = match object {
                None => (top, String::new()),
                Some(i) => {
                    let index = i.index(count);
                    (
                        artifact(top, artifacts_position, index),
                        format!("/artifacts/{index}"),
                    )
                }
            };
            let k = k.index(fields.len());
            let (mut key, value) = fields[k].clone();
            let name = key.s.clone();
            key.esc = *esc;
            fields.insert(k + 1, (key, value));
            Expected::Error(FragmentError::DuplicateKey {
                key: name,
                object: pointer,
                line: 0,
                column: 0,
            })
        }
    };
    (tree, expected)
}

/// Parse `bytes` and hold the result to `expected` and the model.
fn check_fragment(
    model: &Model,
    bytes: &[u8],
    expected: &Expected,
) -> Result<Option<Fragment>, TestCaseError> {
    let parsed = Fragment::parse(key_of(&model.key), bytes);
    let text = String::from_utf8_lossy(bytes);
    match (expected, parsed) {
        (Expected::Ok, Ok(fragment)) => {
            prop_assert_eq!(fragment.key.as_str(), model.key.as_str());
            // Every top-level field, in order, numbers as written.
            let fields = serde_json::to_string(&fragment.fields).expect("serialises");
            prop_assert_eq!(&fields, &canon(&J::Obj(model.fields.clone())), "{}", text);
            prop_assert_eq!(fragment.artifacts.len(), model.artifacts.len());
            for (got, want) in fragment.artifacts.iter().zip(&model.artifacts) {
                let got = serde_json::to_string(got).expect("serialises");
                prop_assert_eq!(got, canon(&J::Obj(want.fields.clone())), "{}", text);
            }
            // What `record` writes parses back to the same fragment.
            let again = Fragment::parse(fragment.key.clone(), &fragment.to_bytes());
            prop_assert_eq!(again.as_ref(), Ok(&fragment));
            Ok(Some(fragment))
        }
        (Expected::Ok, Err(error)) => Err(TestCaseError::fail(format!(
            "{error}\nfor the valid fragment {text}"
        ))),
        (_, Ok(_)) => Err(TestCaseError::fail(format!(
            "accepted an invalid fragment: {text}"
        ))),
        (Expected::Syntax, Err(error)) => {
            prop_assert!(matches!(error, FragmentError::Json { .. }), "{:?}", error);
            clear(&error.to_string())?;
            Ok(None)
        }
        (Expected::Error(want), Err(got)) => {
            let message = got.to_string();
            clear(&message)?;
            match (want, &got) {
                (
                    FragmentError::BadPath { index, path, .. },
                    FragmentError::BadPath {
                        index: i, path: p, ..
                    },
                ) => {
                    prop_assert_eq!((index, path), (i, p));
                    prop_assert!(
                        message.contains(&path.escape_debug().to_string()),
                        "{}",
                        message
                    );
                }
                (
                    FragmentError::DuplicateKey { key, object, .. },
                    FragmentError::DuplicateKey {
                        key: k, object: o, ..
                    },
                ) => {
                    prop_assert_eq!((key, object), (k, o), "{}", text);
                    prop_assert!(
                        message.contains(&key.escape_debug().to_string()),
                        "{}",
                        message
                    );
                }
                (want, got) => prop_assert_eq!(want, got, "{}", text),
            }
            Ok(None)
        }
    }
}

/// A clear error: one non-empty line, no raw control character.
fn clear(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.is_empty());
    prop_assert!(
        !message.chars().any(char::is_control),
        "control character in the message {:?}",
        message
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// manifest.json and index.md, checked against the model.
// ---------------------------------------------------------------------------------

fn check_manifest(
    bytes: &[u8],
    models: &[Model],
    entries: &[(&Model, &Artifact)],
) -> Result<(), TestCaseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // It parses back, with our reader and with serde_json's.
    let value = parse_json(bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let standard = serde_json::from_slice::<Value>(bytes)
        .map_err(|e| TestCaseError::fail(format!("serde_json: {e}\n{text}")))?;
    prop_assert_eq!(respelled(&value), standard);
    prop_assert_eq!(&value["version"], &Value::from(1));
    prop_assert_eq!(&value["source"], &Value::from(SOURCE));

    // Every fragment, in natural order, with exactly its fields.
    let mut sorted: Vec<&Model> = models.iter().collect();
    sorted.sort_by(|a, b| model_cmp(&a.key, &b.key));
    let fragments = value["fragments"]
        .as_object()
        .ok_or_else(|| TestCaseError::fail("no fragments object"))?;
    let keys: Vec<&str> = fragments.keys().map(String::as_str).collect();
    let want: Vec<&str> = sorted.iter().map(|m| m.key.as_str()).collect();
    prop_assert_eq!(keys, want);
    for model in &sorted {
        let got = serde_json::to_string(&fragments[&model.key]).expect("serialises");
        prop_assert_eq!(got, canon(&J::Obj(model.fields.clone())));
    }

    // Every artifact, in the contract's order, each on its own line, byte for byte.
    let artifacts = value["artifacts"]
        .as_array()
        .ok_or_else(|| TestCaseError::fail("no artifacts array"))?;
    prop_assert_eq!(artifacts.len(), entries.len());
    let lines: Vec<&str> = text.split('\n').collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("  \"artifacts\": ["))
        .ok_or_else(|| TestCaseError::fail(format!("no artifacts line in {text}")))?;
    if entries.is_empty() {
        prop_assert_eq!(&lines[start..], &["  \"artifacts\": []", "}", ""]);
    } else {
        prop_assert_eq!(lines[start], "  \"artifacts\": [");
        for (i, (model, artifact)) in entries.iter().enumerate() {
            let comma = if i + 1 < entries.len() { "," } else { "" };
            let line = format!("    {}{comma}", canon(&model.entry(artifact)));
            prop_assert_eq!(lines[start + 1 + i], line.as_str());
        }
        prop_assert_eq!(&lines[start + 1 + entries.len()..], &["  ]", "}", ""]);
    }
    Ok(())
}

/// Characters `index.md` must never contain: control characters other than the line
/// feed, and the invisible ones that reorder or hide text.
fn forbidden_in_page(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{AD}'
                | '\u{61C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Undo the page's escaping: `\` before ASCII punctuation (`/` and `-` stay bare),
/// the four entities, and the word joiner after an e-mail address's `@`.
fn unescape(cell: &str) -> Result<String, TestCaseError> {
    let mut out = String::new();
    let mut rest = cell;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let next = rest[1..]
                .chars()
                .next()
                .ok_or_else(|| TestCaseError::fail(format!("lone backslash ends {cell:?}")))?;
            prop_assert!(next.is_ascii_punctuation(), "\\{} in {:?}", next, cell);
            let local_before = out
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_alphanumeric() || ".+-_".contains(p));
            out.push(next);
            rest = &rest[1 + next.len_utf8()..];
            // GFM's e-mail autolink: a local part, `@`, a domain character.
            let domain_after = rest.starts_with(|d: char| d.is_ascii_alphanumeric() || d == '-')
                || rest.starts_with("\\_");
            prop_assert!(
                !(next == '@' && local_before && domain_after),
                "an e-mail address GFM would link in {:?}",
                cell
            );
        } else if c == '&' {
            // The word joiner shows as nothing; it stands only right after an
            // escaped `@` (so that GFM cannot make an e-mail link).
            if rest.starts_with("&#8288;") {
                prop_assert!(
                    out.ends_with('@'),
                    "a word joiner not after @ in {:?}",
                    cell
                );
                rest = &rest["&#8288;".len()..];
                continue;
            }
            let (entity, to) = [
                ("&amp;", '&'),
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&#124;", '|'),
            ]
            .into_iter()
            .find(|(e, _)| rest.starts_with(e))
            .ok_or_else(|| TestCaseError::fail(format!("raw & in {cell:?}")))?;
            out.push(to);
            rest = &rest[entity.len()..];
        } else {
            prop_assert!(
                !(c.is_ascii_punctuation() && c != '/' && c != '-'),
                "unescaped {:?} in {:?}",
                c,
                cell
            );
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}

/// `shown` is what the page shows for `original`: the same characters, except that
/// ones that are not visible (control, bidi, zero-width) may be blanked to a space.
fn shows(shown: &str, original: &str) -> Result<(), TestCaseError> {
    let a: Vec<char> = shown.chars().collect();
    let b: Vec<char> = original.chars().collect();
    prop_assert_eq!(a.len(), b.len(), "{:?} does not show {:?}", shown, original);
    for (x, y) in a.iter().zip(&b) {
        prop_assert!(
            x == y || (*x == ' ' && (y.is_control() || (!y.is_ascii() && !y.is_alphanumeric()))),
            "{:?} does not show {:?}",
            shown,
            original
        );
    }
    Ok(())
}

/// The cells of a row: split at every `|` (none may be escaped: the page writes a
/// fragment's `|` as `&#124;`), each padded by exactly one space on either side.
fn cells(row: &str) -> Result<Vec<&str>, TestCaseError> {
    let inner = row
        .strip_prefix("| ")
        .and_then(|r| r.strip_suffix(" |"))
        .ok_or_else(|| TestCaseError::fail(format!("not a row: {row:?}")))?;
    Ok(inner.split(" | ").collect())
}

fn percent_decode(url: &str) -> Result<Vec<u8>, TestCaseError> {
    let bytes = url.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = url
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| TestCaseError::fail(format!("bad escape in {url}")))?;
            out.push(hex);
            i += 3;
        } else {
            prop_assert!(
                bytes[i].is_ascii_alphanumeric() || b"-._~/".contains(&bytes[i]),
                "raw {:?} in the link target {}",
                char::from(bytes[i]),
                url
            );
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// No raw HTML, no hidden or reordering characters, anywhere in `page`.
fn check_inert(page: &str) -> Result<(), TestCaseError> {
    prop_assert!(!page.contains('<'), "raw < in\n{}", page);
    if let Some(c) = page.chars().find(|&c| forbidden_in_page(c)) {
        return Err(TestCaseError::fail(format!("{c:?} in\n{page}")));
    }
    Ok(())
}

/// The Issue cell of `model`'s rows: `#N` for a number, the text of a
/// string, the key without an issue; a link exactly when the issue is all
/// digits, to [`TEMPLATE`] with the digits in it.
fn check_issue_cell(cell: &str, model: &Model) -> Result<(), TestCaseError> {
    let (shown, url) = match cell
        .strip_prefix('[')
        .and_then(|c| c.strip_suffix(')'))
        .and_then(|c| c.split_once("]("))
    {
        Some((text, url)) => (text, Some(url)),
        None => (cell, None),
    };
    // The key stands in for an issue that shows nothing.
    let blank = match model.issue() {
        None | Some(J::Null) => true,
        Some(J::Num(_)) => false,
        Some(j) => cell_text(j).is_empty(),
    };
    let digits = match model.issue() {
        _ if blank => {
            prop_assert_eq!(unescape(shown)?, model.key.as_str());
            None
        }
        Some(J::Num(n)) => {
            let number = shown
                .strip_prefix('#')
                .ok_or_else(|| TestCaseError::fail(format!("no # in {cell:?}")))?;
            prop_assert_eq!(unescape(number)?, n.as_str());
            Some(n.clone())
        }
        Some(j) => {
            let text = cell_text(j);
            shows(&unescape(shown)?, &text)?;
            Some(text)
        }
        None => unreachable!("no issue is blank"),
    };
    let linkable = digits
        .as_deref()
        .filter(|d| !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()));
    match (linkable, url) {
        (Some(d), Some(url)) => {
            prop_assert_eq!(url, TEMPLATE.replace("{issue}", d));
        }
        (None, None) => {}
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "issue link {got:?}, expected one for {want:?}: {cell:?}"
            )))
        }
    }
    Ok(())
}

fn check_index(
    (front, pages): &(String, Vec<(String, String)>),
    models: &[Model],
    entries: &[(&Model, &Artifact)],
) -> Result<(), TestCaseError> {
    // The front page: inert, its counts, a newest row per fragment up to 50,
    // and only links into the catalogue's own pages or to the forge.
    check_inert(front)?;
    let lines: Vec<&str> = front.split('\n').collect();
    prop_assert_eq!(lines[0], "# Catalogue");
    prop_assert!(lines[2].starts_with("Generated by git-catalogue from catalogue/fragments/"));
    let (n, m) = (entries.len(), models.len());
    let page_files: Vec<&(String, String)> =
        pages.iter().filter(|(f, _)| !f.starts_with('_')).collect();
    let counts = format!(
        "{n} {} in {m} {}, on {} {}.",
        if n == 1 { "artifact" } else { "artifacts" },
        if m == 1 { "fragment" } else { "fragments" },
        page_files.len(),
        if page_files.len() == 1 {
            "page"
        } else {
            "pages"
        },
    );
    prop_assert!(
        lines.contains(&counts.as_str()),
        "no {:?} in\n{}",
        counts,
        front
    );
    for (at, _) in front.match_indices("](") {
        let target = &front[at + 2..];
        prop_assert!(
            target.starts_with("index/") || target.starts_with("https://forge.example/"),
            "a link out of the catalogue: {:?}",
            &target[..target.find(')').unwrap_or(target.len())]
        );
    }
    for (file, page) in page_files.iter().copied() {
        prop_assert!(
            front.contains(&format!("](index/{file})")),
            "the front page does not link {}",
            file
        );
        let _ = page;
    }
    // The pages, in order: exactly one row per artifact, in manifest order,
    // four cells each; then each page's fragments without artifacts.
    let mut rows: Vec<(&str, &str)> = Vec::new();
    let mut empty_listed: Vec<String> = Vec::new();
    for (file, page) in page_files.iter().copied() {
        check_inert(page)?;
        let lines: Vec<&str> = page.split('\n').collect();
        prop_assert!(lines[0].starts_with("# "), "{:?}", lines[0]);
        prop_assert_eq!(lines[1], "");
        prop_assert!(
            lines[2].starts_with("One page of the [catalogue](../index.md): "),
            "{:?}",
            lines[2]
        );
        prop_assert_eq!(lines[3], "");
        let mut at = 4;
        if lines[at] == "_No artifacts on this page._" {
            at += 1;
        } else {
            prop_assert_eq!(lines[at], "| Issue | Artifact | Kind | Title |");
            prop_assert_eq!(lines[at + 1], "| --- | --- | --- | --- |");
            at += 2;
            while lines[at].starts_with("| ") {
                rows.push((file.as_str(), lines[at]));
                at += 1;
            }
        }
        if lines[at].is_empty() && lines.get(at + 1) == Some(&"## Fragments without artifacts") {
            prop_assert_eq!(lines[at + 2], "");
            at += 3;
            while let Some(item) = lines[at].strip_prefix("- ") {
                empty_listed.push(unescape(item)?);
                at += 1;
            }
        }
        prop_assert_eq!(
            &lines[at..],
            &[""],
            "unexpected lines at the end of {}:\n{}",
            file,
            page
        );
    }
    prop_assert_eq!(rows.len(), entries.len());
    for ((_, row), (model, artifact)) in rows.iter().zip(entries) {
        let cells = cells(row)?;
        prop_assert_eq!(cells.len(), 4, "{:?}", row);
        check_issue_cell(cells[0], model)?;
        // `[text](../../url)`: the text shows the path, the url decodes to it exactly.
        let link = cells[1];
        let (text, url) = link
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(')'))
            .and_then(|l| l.split_once("]("))
            .ok_or_else(|| TestCaseError::fail(format!("not a link: {link:?}")))?;
        shows(&unescape(text)?, &artifact.path)?;
        let url = url
            .strip_prefix("../../")
            .ok_or_else(|| TestCaseError::fail(format!("not relative: {link:?}")))?;
        prop_assert_eq!(percent_decode(url)?, artifact.path.as_bytes().to_vec());
        for (cell, field) in [(cells[2], "kind"), (cells[3], "title")] {
            let want = match artifact.get(field) {
                None | Some(J::Null) => String::new(),
                Some(j) => cell_text(j),
            };
            shows(&unescape(cell)?, &want)?;
        }
    }
    let mut empty: Vec<&Model> = models.iter().filter(|m| m.artifacts.is_empty()).collect();
    empty.sort_by(|a, b| model_cmp(&a.key, &b.key));
    let empty: Vec<String> = empty.iter().map(|m| m.key.clone()).collect();
    prop_assert_eq!(empty_listed, empty);
    Ok(())
}

// ---------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1500))]

    /// Each fragment text either gives exactly the error its fault calls for (one
    /// clear line naming the offender), or a fragment holding exactly the model's
    /// fields, numbers as written, which `to_bytes` round-trips.
    #[test]
    fn a_fragment_is_read_exactly_or_refused_with_the_error_its_fault_calls_for(
        key in key(),
        shared in vec(path(), 1..4),
        draft in fragment_draft(),
        fault in faults(),
        ws in whitespace(),
    ) {
        let model = Model::new(&key, &draft, &shared);
        let (tree, expected) = apply(&fault, &model);
        let mut bytes = written(&tree, &ws).into_bytes();
        if let Fault::Truncate(at) = &fault {
            let end = bytes.iter().rposition(|&b| b == b'}').expect("an object");
            bytes.truncate(at.index(end + 1));
        }
        check_fragment(&model, &bytes, &expected)?;
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// A set of fragments, in two different orders, gives the same result: the same
    /// duplicate-path error (the one the model predicts), or byte-identical
    /// `manifest.json` and `index.md` that hold exactly the model's entries.
    #[test]
    fn fragments_in_any_order_give_one_manifest_and_index_that_hold_exactly_their_entries(
        keys in btree_set(key(), 0..6),
        shared in vec(path(), 1..5),
        drafts in vec(fragment_draft(), 6),
        ws in whitespace(),
        order in vec(any::<Index>(), 6),
    ) {
        let models: Vec<Model> = keys
            .iter()
            .zip(&drafts)
            .map(|(key, draft)| Model::new(key, draft, &shared))
            .collect();
        let mut fragments = Vec::new();
        for model in &models {
            let bytes = written(&model.to_j(), &ws).into_bytes();
            let fragment = check_fragment(model, &bytes, &Expected::Ok)?;
            fragments.push(fragment.expect("a valid fragment"));
        }
        let mut shuffled = fragments.clone();
        for i in (1..shuffled.len()).rev() {
            let j = order[i].index(i + 1);
            shuffled.swap(i, j);
        }
        let built = Manifest::build(fragments, SOURCE);
        let again = Manifest::build(shuffled, SOURCE);
        match expected_manifest(&models) {
            Err(duplicate) => {
                prop_assert_eq!(built.as_ref().err(), Some(&duplicate));
                prop_assert_eq!(again.as_ref().err(), Some(&duplicate));
                let message = duplicate.to_string();
                clear(&message)?;
                prop_assert!(message.contains(&duplicate.path.escape_debug().to_string()));
            }
            Ok(entries) => {
                let (built, again) = match (built, again) {
                    (Ok(a), Ok(b)) => (a, b),
                    (a, b) => return Err(TestCaseError::fail(format!("{a:?} / {b:?}"))),
                };
                let json = manifest_json(&built);
                prop_assert_eq!(&json, &manifest_json(&again));
                let page = index_pages(&built, "catalogue");
                prop_assert_eq!(&page, &index_pages(&again, "catalogue"));
                check_manifest(&json, &models, &entries)?;
                check_index(&page, &models, &entries)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// Our reader accepts exactly what serde_json accepts, except a repeated key
    /// (refused here), and reads the same values, except that numbers keep their
    /// spelling; also on texts broken by random edits.
    #[test]
    fn the_json_reader_agrees_with_serde_json_except_for_spellings_and_repeated_keys(
        tree in value(),
        ws in whitespace(),
        edits in vec((any::<Index>(), select(b"{}[],:\"\\ -+.eE019tfnul\x00\x1f\x7f\xc3\xa9\xff".to_vec()), 0..3usize), 0..3),
    ) {
        let mut bytes = written(&tree, &ws).into_bytes();
        for (at, byte, how) in &edits {
            let at = at.index(bytes.len() + 1);
            match how {
                0 => bytes.insert(at, *byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = *byte,
                _ => bytes.push(*byte),
            }
        }
        let ours = parse_json(&bytes);
        let theirs = serde_json::from_slice::<Value>(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        if edits.is_empty() {
            let value = ours.as_ref().map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(serde_json::to_string(value).expect("serialises"), canon(&tree));
        }
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(&respelled(a), b, "{}", text),
            (Err(JsonError::DuplicateKey { .. }), _) | (Err(_), Err(_)) => {}
            (a, b) => return Err(TestCaseError::fail(format!("ours {a:?}, serde_json {b:?}: {text:?}"))),
        }
        if let Err(error) = &ours {
            clear(&error.to_string())?;
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Nesting up to the limit is read; deeper is a clear error, never a crash; a
    /// manifest built from the deepest fragment still parses back.
    #[test]
    fn deep_nesting_is_read_up_to_the_limit_and_refused_beyond_it(
        depth in 1usize..=MAX_DEPTH + 8,
        kinds in vec(any::<bool>(), 1..4),
    ) {
        let deep = nested(depth, &kinds);
        let text = written(&deep, &[""]);
        prop_assert_eq!(parse_json(text.as_bytes()).is_ok(), depth <= MAX_DEPTH);
        prop_assert_eq!(serde_json::from_str::<Value>(&text).is_ok(), depth <= MAX_DEPTH);

        let fragment = J::Obj(vec![
            (spelled_const("deep"), deep),
            (spelled_const("artifacts"), J::Arr(vec![J::Obj(vec![
                (spelled_const("path"), str_j("a")),
            ])])),
        ]);
        let bytes = written(&fragment, &[""]).into_bytes();
        let parsed = Fragment::parse(key_of("k"), &bytes);
        // The fragment object is one level more; the manifest nests its fields two more.
        prop_assert_eq!(parsed.is_ok(), depth < MAX_FRAGMENT_DEPTH, "{:?}", parsed);
        match parsed {
            Ok(parsed) => {
                let manifest = Manifest::build(vec![parsed], SOURCE)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let json = manifest_json(&manifest);
                prop_assert!(
                    parse_json(&json).is_ok() && serde_json::from_slice::<Value>(&json).is_ok(),
                    "a fragment nested {} deep gives a manifest no JSON reader takes back",
                    depth + 1
                );
            }
            Err(error) => {
                prop_assert!(matches!(error, FragmentError::Json { .. }), "{:?}", error);
                prop_assert!(error.to_string().contains("nested deeper than"), "{}", error);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// `natural_cmp` is the contract's natural order, compared with an independent
    /// reading of its definition, on keys rich in digit runs and leading zeros.
    #[test]
    fn natural_order_is_the_contract_s(
        a in prop_oneof!["[0-9a.-]{0,8}", key(), any::<String>()],
        b in prop_oneof!["[0-9a.-]{0,8}", key(), any::<String>()],
    ) {
        prop_assert_eq!(natural_cmp(&a, &b), model_cmp(&a, &b), "{:?} vs {:?}", a, b);
        prop_assert_eq!(natural_cmp(&a, &a), Ordering::Equal);
    }
}
