//! Fragment keys and their natural order (docs/format.md, "Fragments").
//!
//! A key names a fragment: its file name without `.json`, and the last part of
//! its per-issue ref. Keys are listed everywhere in natural order, so that
//! `issue-2` comes before `issue-10`.

use std::cmp::Ordering;
use std::fmt;

/// The longest key the contract allows: one leading character plus up to 127 more.
const MAX_KEY_LEN: usize = 128;

/// The key pattern, as shown to people in error messages.
pub(crate) const KEY_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9._-]{0,127}";

/// The name of a fragment: its file name in the fragments folder without `.json`.
///
/// Construction validates the contract's pattern `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, so a
/// key can always be used as a file name and inside a ref name without further checks.
/// Keys order naturally (see [`natural_cmp`]): `issue-2` < `issue-10`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey(String);

impl FragmentKey {
    /// Validate `s` against `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
    pub fn new(s: &str) -> Result<FragmentKey, KeyError> {
        if FragmentKey::is_valid(s) {
            Ok(FragmentKey(s.to_owned()))
        } else {
            Err(KeyError { key: s.to_owned() })
        }
    }

    /// Whether `s` matches `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, without
    /// making a key of it.
    pub fn is_valid(s: &str) -> bool {
        let bytes = s.as_bytes();
        match bytes.split_first() {
            None => false,
            Some((first, rest)) => {
                first.is_ascii_alphanumeric()
                    && bytes.len() <= MAX_KEY_LEN
                    && rest
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            }
        }
    }

    /// The key an issue run uses: `issue-<n>`.
    pub fn for_issue(n: u64) -> FragmentKey {
        // Always valid: "issue-" plus at most 20 digits is far below the length limit.
        FragmentKey(format!("issue-{n}"))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name in the fragments folder: `<key>.json`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.0)
    }
}

impl fmt::Display for FragmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for FragmentKey {
    /// Natural order, so `issue-2` sorts before `issue-10` everywhere keys are listed.
    fn cmp(&self, other: &Self) -> Ordering {
        natural_cmp(&self.0, &other.0)
    }
}

impl PartialOrd for FragmentKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A string that is not a valid fragment key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The refused text, as given.
    pub key: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is unvalidated input: escape it so it cannot smuggle control
        // characters into a terminal or a log.
        write!(
            f,
            "invalid fragment key `{}`: a key must match {KEY_PATTERN}",
            self.key.escape_debug()
        )
    }
}

impl std::error::Error for KeyError {}

/// Natural order (docs/format.md, "Fragments"), used for fragment keys everywhere they are listed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_keys_sort_as_natural_cmp_does() {
        let alphabet = ['0', '1', '2', '9', 'a', 'B', '-', '.', '_', 'z', 'é'];
        let mut rng = crate::core::rng::Rng::seeded(0x243f_6a88_85a3_08d3);
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
}
