//! A strict JSON reader that keeps every number exactly as it was written.
//!
//! Fragments are copied into the manifest verbatim (docs/format.md, "Fragments"), numbers digit for
//! digit. serde_json with `arbitrary_precision` keeps the digits but respells every
//! exponent (`1e400` and `1E+400` both come back as `1e+400`), and a document that
//! repeats a key silently keeps only the last value. Neither is what the author wrote,
//! so fragments are read here instead, into the same `serde_json::Value` every other
//! module uses.
//!
//! What "verbatim" means, precisely:
//!
//! - **Numbers** are kept as their exact text: `1e400` stays `1e400`, `1E5` stays
//!   `1E5`, `-0` stays `-0`, `0.10` stays `0.10`, `12345678901234567890123` stays as it
//!   is. No two JSON readers agree on what such a number *is* (f64 overflows, decimals
//!   lose trailing zeros), so the spelling is the only faithful copy.
//! - **Strings** are kept as the same sequence of Unicode scalar values, not the same
//!   escape spelling: `"\u00e9"` and `"é"` are one string to every JSON reader, and the
//!   manifest writes it the one way serde_json writes strings (raw UTF-8, with `"`, `\`
//!   and the control characters U+0000..U+001F escaped; `\/` becomes `/`). Escaping
//!   control characters is also what keeps each manifest artifact on one line.
//!   An escaped lone surrogate (`"\ud800"`) is no Unicode scalar value and cannot be
//!   kept, so it is an error.
//! - **Objects** keep their keys in the author's order. A key repeated in one object
//!   is an error naming the key and the object: readers disagree about which value
//!   counts, and keeping one would silently drop the other.
//! - Whitespace between tokens is layout, not data, and is not kept.
//!
//! The grammar is RFC 8259's, strictly: no comments, no trailing commas, no leading
//! zeros or `+` on numbers, no byte order mark, valid UTF-8, nesting at most the
//! caller's limit, itself at most [`MAX_DEPTH`] (serde_json's), which also keeps the
//! reader's recursion bounded on hostile input.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Number, Value};

/// The deepest nesting of arrays and objects a JSON text may have: serde_json's limit,
/// so whatever this reader takes, serde_json (and tools built on it) can read too.
pub const MAX_DEPTH: usize = 127;

/// Parse one JSON text nested at most `max_depth` levels, keeping numbers as written
/// and refusing repeated keys.
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    let mut reader = Reader {
        bytes,
        text: std::str::from_utf8(bytes).ok(),
        pos: 0,
        max_depth,
        members: Vec::new(),
    };
    let result = reader.skip_whitespace().and_then(|()| {
        let value = reader.value(0)?;
        reader.skip_whitespace()?;
        if reader.pos < bytes.len() {
            return Err(reader.syntax("trailing characters after the JSON value"));
        }
        Ok(value)
    });
    result.map_err(|failure| failure.locate(bytes))
}

/// Why a text is not JSON the reader accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The text breaks the JSON grammar.
    Syntax {
        /// What is wrong, e.g. "expected `,` or `]`".
        message: String,
        /// 1-based line of the offending byte.
        line: usize,
        /// 1-based column (in bytes) of the offending byte.
        column: usize,
    },
    /// One object holds the same key twice.
    DuplicateKey {
        /// The repeated key (after unescaping).
        key: String,
        /// JSON Pointer (RFC 6901) of the object; empty for the top level.
        object: String,
        /// 1-based line of the second occurrence.
        line: usize,
        /// 1-based column (in bytes) of the second occurrence.
        column: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax {
                message,
                line,
                column,
            } => write!(f, "{message} at line {line} column {column}"),
            JsonError::DuplicateKey {
                key,
                object,
                line,
                column,
            } => {
                let object = if object.is_empty() {
                    "the top-level object".to_owned()
                } else {
                    format!("the object at `{}`", object.escape_debug())
                };
                write!(
                    f,
                    "{object} has the key `{}` twice (again at line {line} column {column}); \
                     JSON readers disagree on which value counts",
                    key.escape_debug()
                )
            }
        }
    }
}

impl std::error::Error for JsonError {}

/// A failure before its position is turned into a line and column.
struct Failure {
    offset: usize,
    kind: FailureKind,
}

enum FailureKind {
    Syntax(String),
    /// `path` holds the pointer's segments innermost first: each enclosing container
    /// adds its own while the error travels out, so nothing is tracked on success.
    Duplicate {
        key: String,
        path: Vec<String>,
    },
}

impl Failure {
    /// Record that the failure happened inside member or element `segment`.
    fn inside(mut self, segment: impl FnOnce() -> String) -> Failure {
        if let FailureKind::Duplicate { path, .. } = &mut self.kind {
            path.push(segment());
        }
        self
    }

    fn locate(self, bytes: &[u8]) -> JsonError {
        let before = &bytes[..self.offset.min(bytes.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
        match self.kind {
            FailureKind::Syntax(message) => JsonError::Syntax {
                message,
                line,
                column,
            },
            FailureKind::Duplicate { key, path } => JsonError::DuplicateKey {
                key,
                object: path
                    .iter()
                    .rev()
                    .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
                    .collect(),
                line,
                column,
            },
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    /// `bytes`, when all of it is UTF-8: string runs are then sliced from
    /// it, not validated again one by one.
    text: Option<&'a str>,
    pos: usize,
    max_depth: usize,
    /// The members of the objects being read, innermost last: an object
    /// collects its own here and takes them off when it closes, so that its
    /// map is built once, at its final size.
    members: Vec<(String, Value)>,
}

/// Up to this many members, an object's keys are checked for a repeat by
/// comparing them; beyond, with a set (a hostile fragment can hold a
/// hundred thousand keys).
const FEW_MEMBERS: usize = 16;

impl<'a> Reader<'a> {
    fn syntax(&self, message: &str) -> Failure {
        self.syntax_at(self.pos, message)
    }

    fn syntax_at(&self, offset: usize, message: &str) -> Failure {
        Failure {
            offset,
            kind: FailureKind::Syntax(message.to_owned()),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skip JSON whitespace (space, tab, LF, CR). Never fails; `Result` for chaining.
    fn skip_whitespace(&mut self) -> Result<(), Failure> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, Failure> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.syntax("expected a JSON value")),
            None => Err(self.syntax("unexpected end of input, expected a JSON value")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), Failure> {
        if depth > self.max_depth {
            return Err(self.syntax(&format!(
                "arrays and objects nested deeper than {} levels",
                self.max_depth
            )));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Value, Failure> {
        self.enter(depth)?;
        self.pos += 1; // `{`
        self.skip_whitespace()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Map::new()));
        }
        let first = self.members.len();
        let mut seen: Option<HashSet<String>> = None;
        loop {
            self.skip_whitespace()?;
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(key.clone()),
                None => {
                    let mine = &self.members[first..];
                    let repeated = mine.iter().any(|(k, _)| *k == key);
                    if !repeated && mine.len() >= FEW_MEMBERS {
                        let mut all: HashSet<String> =
                            mine.iter().map(|(k, _)| k.clone()).collect();
                        all.insert(key.clone());
                        seen = Some(all);
                    }
                    repeated
                }
            };
            if repeated {
                return Err(Failure {
                    offset: key_at,
                    kind: FailureKind::Duplicate {
                        key,
                        path: Vec::new(),
                    },
                });
            }
            self.skip_whitespace()?;
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected `:` after an object key"));
            }
            self.pos += 1;
            self.skip_whitespace()?;
            let value = match self.value(depth) {
                Ok(value) => value,
                Err(failure) => return Err(failure.inside(|| key)),
            };
            self.members.push((key, value));
            self.skip_whitespace()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    let mut map = Map::with_capacity(self.members.len() - first);
                    map.extend(self.members.drain(first..));
                    return Ok(Value::Object(map));
                }
                Some(_) => return Err(self.syntax("expected `,` or `}` in an object")),
                None => return Err(self.syntax("unexpected end of input inside an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Failure> {
        self.enter(depth)?;
        self.pos += 1; // `[`
        let mut items = Vec::new();
        self.skip_whitespace()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace()?;
            let index = items.len();
            let item = self
                .value(depth)
                .map_err(|failure| failure.inside(|| index.to_string()))?;
            items.push(item);
            self.skip_whitespace()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(self.syntax("expected `,` or `]` in an array")),
                None => return Err(self.syntax("unexpected end of input inside an array")),
            }
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Failure> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax(&format!("expected `{word}`")))
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as written.
    fn number(&mut self) -> Result<Number, Failure> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.syntax("a number has a leading zero"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("expected a digit in a number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.at_least_one_digit("expected a digit after the decimal point")?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.at_least_one_digit("expected a digit in the exponent")?;
        }
        // Only ASCII bytes were consumed, so this cannot fail.
        let text = std::str::from_utf8(&self.bytes[start..self.pos])
            .map_err(|_| self.syntax_at(start, "a number is not ASCII"))?;
        Ok(number_as_written(text))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn at_least_one_digit(&mut self, message: &str) -> Result<(), Failure> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.syntax(message));
        }
        self.digits();
        Ok(())
    }

    /// A string token, unescaped. Raw runs must be valid UTF-8 without control bytes.
    fn string(&mut self) -> Result<String, Failure> {
        self.pos += 1; // opening quote

        // Most strings are one raw run: allocated once, at their size.
        let rest = &self.bytes[self.pos..];
        if let Some(end) = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        {
            if rest[end] == b'"' {
                let text = self.run(self.pos, self.pos + end)?;
                self.pos += end + 1;
                return Ok(text.to_owned());
            }
        }
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            // `"` and `\` never occur inside a multi-byte UTF-8 sequence, so scanning
            // bytes is safe; each raw run is validated as UTF-8 when it ends.
            match self.peek() {
                None => return Err(self.syntax("unexpected end of input inside a string")),
                Some(b'"') => {
                    self.push_run(&mut out, run)?;
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.push_run(&mut out, run)?;
                    self.escape(&mut out)?;
                    run = self.pos;
                }
                Some(0x00..=0x1F) => {
                    return Err(self.syntax(
                        "a control character (U+0000..U+001F) in a string must be escaped",
                    ))
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn push_run(&self, out: &mut String, start: usize) -> Result<(), Failure> {
        out.push_str(self.run(start, self.pos)?);
        Ok(())
    }

    /// The raw run `start..end` of a string (between `"`, `\` or control
    /// bytes, all ASCII, so on character boundaries), checked to be UTF-8.
    fn run(&self, start: usize, end: usize) -> Result<&'a str, Failure> {
        match self.text {
            Some(text) => Ok(&text[start..end]),
            None => std::str::from_utf8(&self.bytes[start..end])
                .map_err(|e| self.syntax_at(start + e.valid_up_to(), "invalid UTF-8 in a string")),
        }
    }

    /// One escape sequence; `pos` is at the backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Failure> {
        let at = self.pos;
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err(
                                self.syntax_at(at, "a lone leading surrogate in a \\u escape")
                            );
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(
                                self.syntax_at(at, "a lone leading surrogate in a \\u escape")
                            );
                        }
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.syntax_at(at, "a lone trailing surrogate in a \\u escape"))
                    }
                    unit => u32::from(unit),
                };
                out.push(
                    char::from_u32(c).ok_or_else(|| self.syntax_at(at, "an invalid \\u escape"))?,
                );
                return Ok(());
            }
            _ => return Err(self.syntax_at(at, "an invalid escape in a string")),
        };
        out.push(c);
        self.pos += 1;
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, Failure> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("expected four hex digits after \\u"))?;
        let mut unit = 0u16;
        for &b in digits {
            let digit = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.syntax("expected four hex digits after \\u"))?;
            unit = unit * 16 + digit as u16;
        }
        self.pos += 4;
        Ok(unit)
    }
}

/// A `Number` that serialises as exactly `text`, which must match JSON's number grammar.
///
/// serde_json (with `arbitrary_precision`) stores a number as its text and writes that
/// text back unchanged, but every public constructor re-parses and respells the
/// exponent. `from_string_unchecked` is the one that stores the text as given; it is
/// hidden from serde_json's docs. `numbers_keep_their_spelling_through_serde_json` in
/// the tests below pins that it still does what we rely on, so a serde_json upgrade
/// that changes it fails the test suite instead of changing manifests.
fn number_as_written(text: &str) -> Number {
    Number::from_string_unchecked(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn parse_all(json: &[u8]) -> Result<Value, JsonError> {
        parse(json, MAX_DEPTH)
    }

    fn text_of(json: &str) -> Result<String, Box<dyn std::error::Error>> {
        Ok(serde_json::to_string(&parse(json.as_bytes(), MAX_DEPTH)?)?)
    }

    #[test]
    fn numbers_keep_their_spelling_through_serde_json() -> TestResult {
        for number in [
            "0",
            "-0",
            "-0.0",
            "0.10",
            "1e400",
            "1E400",
            "1E+400",
            "1e-400",
            "1E5",
            "-1.5e+10",
            "12345678901234567890123",
            "-12345678901234567890123.000",
            "18446744073709551616",
            "-9223372036854775809",
            "123",
        ] {
            let value = parse(number.as_bytes(), MAX_DEPTH)?;
            assert_eq!(value.to_string(), number);
            assert_eq!(serde_json::to_string(&value)?, number);
            assert_eq!(serde_json::to_string_pretty(&value)?, number);
            assert_eq!(
                serde_json::to_vec(&[&value])?,
                format!("[{number}]").into_bytes()
            );
        }
        // serde_json's own reader respells exponents; this module exists for that.
        let respelled: Value = serde_json::from_str("1e400")?;
        assert_eq!(respelled.to_string(), "1e+400");
        Ok(())
    }

    #[test]
    fn documents_come_back_in_the_author_s_order_with_numbers_as_written() -> TestResult {
        assert_eq!(
            text_of(" {\"z\" : [1E5, -0, {}, [], \"\"], \"a\":{\"b\":null,\"c\":true,\"d\":false}}\r\n\t")?,
            r#"{"z":[1E5,-0,{},[],""],"a":{"b":null,"c":true,"d":false}}"#
        );
        Ok(())
    }

    #[test]
    fn strings_keep_their_characters_not_their_escapes() -> TestResult {
        let cases = [
            (r#""\u00e9""#, "é"),
            ("\"é\"", "é"),
            (r#""\ud83d\ude00""#, "😀"),
            (r#""\uD83D\uDE00""#, "😀"),
            (r#""\/\"\\\b\f\n\r\t""#, "/\"\\\u{8}\u{c}\n\r\t"),
            (r#""\u0000\u001f\u007f""#, "\u{0}\u{1f}\u{7f}"),
            ("\"\u{202e}\u{200b}\u{2028}\"", "\u{202e}\u{200b}\u{2028}"),
        ];
        for (json, expected) in cases {
            assert_eq!(
                parse(json.as_bytes(), MAX_DEPTH)?,
                Value::String(expected.into()),
                "{json}"
            );
            // And exactly what serde_json's own reader makes of it.
            assert_eq!(
                serde_json::from_str::<Value>(json)?,
                Value::String(expected.into())
            );
        }
        Ok(())
    }

    #[test]
    fn a_repeated_key_is_found_in_objects_of_many_members_too() -> TestResult {
        // Past FEW_MEMBERS the keys are checked with a set: a repeat of an
        // early key, of the key that made the set, and of one added after.
        for (members, again) in [(40, 3), (FEW_MEMBERS + 1, FEW_MEMBERS), (40, 30)] {
            let mut json = String::from("{\"outer\": {");
            for i in 0..members {
                json.push_str(&format!("\"k{i}\": {i}, "));
            }
            let at = json.len();
            json.push_str(&format!("\"k{again}\": 0}}}}"));
            assert_eq!(
                parse(json.as_bytes(), MAX_DEPTH),
                Err(JsonError::DuplicateKey {
                    key: format!("k{again}"),
                    object: "/outer".into(),
                    line: 1,
                    column: at + 1,
                }),
                "{members} members, k{again} again"
            );
        }
        // And without a repeat, every member is kept, in order.
        let json = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"k{i}\": {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Value::Object(map) = parse(json.as_bytes(), MAX_DEPTH)? else {
            panic!("an object");
        };
        let keys: Vec<String> = map.keys().cloned().collect();
        assert_eq!(keys, (0..100).map(|i| format!("k{i}")).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn a_repeated_key_is_an_error_naming_the_key_and_the_object() {
        let cases = [
            (r#"{"a": 1, "a": 2}"#, "a", "", 1, 10),
            (r#"{"x": [0, {"k": 1, "\u006b": 2}]}"#, "k", "/x/1", 1, 20),
            (
                "{\"a/b\": {\"~\": {\n\"q\": 1, \"q\": 2}}}",
                "q",
                "/a~1b/~0",
                2,
                9,
            ),
        ];
        for (json, key, object, line, column) in cases {
            assert_eq!(
                parse(json.as_bytes(), MAX_DEPTH),
                Err(JsonError::DuplicateKey {
                    key: key.into(),
                    object: object.into(),
                    line,
                    column,
                }),
                "{json}"
            );
        }
        let message = parse_all(br#"{"artifacts": [{"path": "a", "path": "b"}]}"#)
            .expect_err("repeated key")
            .to_string();
        assert_eq!(
            message,
            "the object at `/artifacts/0` has the key `path` twice (again at line 1 column 30); \
             JSON readers disagree on which value counts"
        );
    }

    #[test]
    fn serde_json_s_private_number_key_is_an_ordinary_key() -> TestResult {
        // serde_json's reader turns this object into the number 12 (a quirk of
        // `arbitrary_precision`); a fragment must keep what its author wrote.
        let json = r#"{"$serde_json::private::Number":"12"}"#;
        assert_eq!(text_of(json)?, json);
        assert!(parse(json.as_bytes(), MAX_DEPTH)?.is_object());
        Ok(())
    }

    #[test]
    fn everything_outside_the_grammar_is_a_syntax_error_with_its_position() {
        let cases: &[(&[u8], &str, usize, usize)] = &[
            (b"", "unexpected end of input, expected a JSON value", 1, 1),
            (
                b"  ",
                "unexpected end of input, expected a JSON value",
                1,
                3,
            ),
            (b"{} x", "trailing characters after the JSON value", 1, 4),
            (b"\xef\xbb\xbf{}", "expected a JSON value", 1, 1),
            (b"[1,]", "expected a JSON value", 1, 4),
            (b"{\"a\":1,}", "expected a string key", 1, 8),
            (b"{a:1}", "expected a string key", 1, 2),
            (b"{\"a\" 1}", "expected `:` after an object key", 1, 6),
            (b"[1 2]", "expected `,` or `]` in an array", 1, 4),
            (
                b"{\"a\":1 \"b\":2}",
                "expected `,` or `}` in an object",
                1,
                8,
            ),
            (b"[", "unexpected end of input, expected a JSON value", 1, 2),
            (b"[1", "unexpected end of input inside an array", 1, 3),
            (
                b"{\"a\":1",
                "unexpected end of input inside an object",
                1,
                7,
            ),
            (b"\"abc", "unexpected end of input inside a string", 1, 5),
            (b"01", "a number has a leading zero", 1, 2),
            (b"-", "expected a digit in a number", 1, 2),
            (b"+1", "expected a JSON value", 1, 1),
            (b"1.", "expected a digit after the decimal point", 1, 3),
            (b".5", "expected a JSON value", 1, 1),
            (b"1e", "expected a digit in the exponent", 1, 3),
            (b"1e+", "expected a digit in the exponent", 1, 4),
            (b"NaN", "expected a JSON value", 1, 1),
            (b"tru", "expected `true`", 1, 1),
            (b"nul", "expected `null`", 1, 1),
            (
                b"\"a\nb\"",
                "a control character (U+0000..U+001F) in a string must be escaped",
                1,
                3,
            ),
            (b"\"\\x\"", "an invalid escape in a string", 1, 2),
            (b"\"\\u12\"", "expected four hex digits after \\u", 1, 4),
            (
                b"\"\\ud800\"",
                "a lone leading surrogate in a \\u escape",
                1,
                2,
            ),
            (
                b"\"\\ud800\\u0041\"",
                "a lone leading surrogate in a \\u escape",
                1,
                2,
            ),
            (
                b"\"\\udc00\"",
                "a lone trailing surrogate in a \\u escape",
                1,
                2,
            ),
            (b"\"a\xffb\"", "invalid UTF-8 in a string", 1, 3),
            (b"[\n  1,\n  x]", "expected a JSON value", 3, 3),
            (b"// c\n{}", "expected a JSON value", 1, 1),
        ];
        for &(json, message, line, column) in cases {
            assert_eq!(
                parse(json, MAX_DEPTH),
                Err(JsonError::Syntax {
                    message: message.into(),
                    line,
                    column
                }),
                "{:?}",
                String::from_utf8_lossy(json)
            );
            assert!(
                serde_json::from_slice::<serde::de::IgnoredAny>(json).is_err()
                    || serde_json::from_slice::<Value>(json).is_err(),
                "serde_json accepts {:?}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn nesting_is_limited_to_max_depth() -> TestResult {
        let deepest = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        parse(deepest.as_bytes(), MAX_DEPTH)?;
        // The same limit as serde_json's reader, so no fragment it accepted is refused now.
        serde_json::from_str::<Value>(&deepest)?;
        let deeper = format!("[{deepest}]");
        assert!(serde_json::from_str::<Value>(&deeper).is_err());
        let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        parse(objects.as_bytes(), MAX_DEPTH)?;
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            parse(too_deep.as_bytes(), MAX_DEPTH),
            Err(JsonError::Syntax {
                message: "arrays and objects nested deeper than 127 levels".into(),
                line: 1,
                column: MAX_DEPTH + 1,
            })
        );
        // A megabyte of brackets is refused without exhausting the stack.
        assert!(parse(&vec![b'['; 1 << 20], MAX_DEPTH).is_err());
        Ok(())
    }

    #[test]
    fn errors_display_on_one_line() {
        for json in [&b"{\"a\n\": 1}"[..], b"{\"a\\n\":1,\"a\\n\":2}", b"[\n\n x"] {
            let message = parse(json, MAX_DEPTH).expect_err("invalid").to_string();
            assert!(!message.contains('\n') && !message.is_empty(), "{message}");
        }
    }
}
