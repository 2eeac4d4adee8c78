//! The paged index: a small front page `<dir>/index.md` and the pages under
//! `<dir>/index/` (docs/format.md, "index.md").
//!
//! A page holds the fragments of one key range, at most [`PAGE_FRAGMENTS`]
//! of them. Where a page ends is decided by the keys alone, content-defined:
//! after a fragment whose key's FNV-1a hash is 0 modulo [`BOUNDARY_MODULUS`],
//! or when the page is full. So adding or removing a fragment changes the
//! page it falls on (and, only when that page was full, the pages after it up
//! to the next hash boundary), and every other page keeps its bytes. A page
//! is a pure function of its fragments, the catalogue folder and the issue
//! URL template: nothing on it counts the other pages.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::links::{linkable_issue, push_issue_url};
use super::{
    escape, escapes_to_itself, push_escaped, push_percent_encoded, Contested, CONFLICTS_HEAD,
};
use crate::core::fragment::field;

/// The most fragments one page holds.
pub const PAGE_FRAGMENTS: usize = 1000;

/// A page ends after a key whose hash is 0 modulo this: about 512 fragments a page.
pub const BOUNDARY_MODULUS: u64 = 512;

/// How many of the newest fragments the front page lists.
pub const NEWEST: usize = 50;

/// How many kinds the front page lists by name (the rest are summed).
pub const KINDS_SHOWN: usize = 20;

/// How many conflicting claims the front page shows (the rest are counted).
pub const CLAIMS_SHOWN: usize = 50;

/// Up to this many pages are listed on the front page; more go to [`PAGE_LIST`].
pub const PAGES_LISTED: usize = 300;

/// The folder of the pages, inside the catalogue folder.
pub const FOLDER: &str = "index";

/// The list of pages when the front page would be too long with it. No key
/// starts with `_`, so no page has this name.
pub const PAGE_LIST: &str = "_pages.md";

/// Longest text (in characters) of one cell on the front page: an issue or
/// a kind can be any length, the front page must not be.
const FRONT_CELL_CHARS: usize = 100;

/// Most bytes of conflict rows on the front page.
const CLAIM_BYTES: usize = 40_000;

/// FNV-1a, 64 bits: a stable hash of a key, the same on every machine and
/// in every version.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether a page ends after the fragment `key` whatever follows it.
pub fn ends_page(key: &str) -> bool {
    fnv1a64(key.as_bytes()) % BOUNDARY_MODULUS == 0
}

/// The lengths of the pages of the fragments `keys`, in natural key order.
pub fn paginate<'k>(keys: impl IntoIterator<Item = &'k str>) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut open = 0;
    for key in keys {
        open += 1;
        if open == PAGE_FRAGMENTS || ends_page(key) {
            lengths.push(open);
            open = 0;
        }
    }
    if open > 0 {
        lengths.push(open);
    }
    lengths
}

/// The file name of the page whose first fragment is `first_key`.
pub fn page_file(first_key: &str) -> String {
    format!("{first_key}.md")
}

/// How the pages link: to artifacts from `<dir>/index/`, and issues.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// From a page to the repository root: one `../` more than the front page's.
    pub page_prefix: String,
    /// From the front page to the repository root.
    pub front_prefix: String,
    /// The issue URL template, sanitised ([`super::links::usable_template`]).
    pub issue_url: Option<String>,
}

impl Links {
    /// For the catalogue folder `dir`, its issue URL template.
    pub fn new(dir: &str, issue_url: Option<&str>) -> Links {
        let (front_prefix, _) = super::layout(dir);
        Links {
            page_prefix: format!("../{front_prefix}"),
            front_prefix,
            issue_url: issue_url.and_then(super::links::usable_template),
        }
    }
}

/// The Issue cell of a fragment: `#N` for a number (a link when a template
/// is known), the escaped text of a string (a link when it is all digits),
/// empty without an issue.
pub fn issue_cell(issue: Option<&Value>, links: &Links) -> String {
    let mut out = String::new();
    let (text, number) = match issue {
        None | Some(Value::Null) => return out,
        Some(Value::Number(n)) => (n.to_string(), true),
        Some(Value::String(s)) => (s.clone(), false),
        Some(other) => (other.to_string(), false),
    };
    let shown = |out: &mut String| {
        if number {
            out.push('#');
        }
        push_escaped(out, &text);
    };
    match &links.issue_url {
        Some(template) if linkable_issue(&text) => {
            out.push('[');
            shown(&mut out);
            out.push_str("](");
            push_issue_url(&mut out, template, &text);
            out.push(')');
        }
        _ => shown(&mut out),
    }
    out
}

/// One row of a page, for the artifact `fields` of fragment `key`, whose
/// Issue cell is `issue` ([`issue_cell`]; the key stands in when it is empty).
pub fn page_row(
    out: &mut String,
    issue: &str,
    key: &str,
    fields: &Map<String, Value>,
    links: &Links,
) {
    let path = field(fields, "path").and_then(Value::as_str).unwrap_or("");
    out.push_str("| ");
    if issue.is_empty() {
        push_escaped(out, key);
    } else {
        out.push_str(issue);
    }
    out.push_str(" | [");
    push_escaped(out, path);
    out.push_str("](");
    out.push_str(&links.page_prefix);
    push_percent_encoded(out, path);
    out.push_str(") | ");
    if let Some(text) = display(field(fields, "kind")) {
        push_escaped(out, &text);
    }
    out.push_str(" | ");
    if let Some(text) = display(field(fields, "title")) {
        push_escaped(out, &text);
    }
    out.push_str(" |\n");
}

/// A Kind or Title value as shown: a string itself, other JSON values as
/// their JSON text, nothing when absent or null.
pub fn display(value: Option<&Value>) -> Option<Cow<'_, str>> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Cow::Borrowed(s)),
        Some(other) => Some(Cow::Owned(other.to_string())),
    }
}

/// The key the kinds are counted by: the kind's escaped display text
/// (empty for no kind), borrowed from the value when escaping changes
/// nothing (the common case: counting a kind seen before then allocates
/// nothing).
pub fn kind_key(value: Option<&Value>) -> Cow<'_, str> {
    match display(value) {
        None => Cow::Borrowed(""),
        Some(Cow::Borrowed(text)) if escapes_to_itself(text) => Cow::Borrowed(text),
        Some(text) => Cow::Owned(escape(&text)),
    }
}

/// The same key from the raw JSON text of an artifact line's `kind` value,
/// without parsing the line: a string's content, any other value's JSON text
/// (a line is written compactly, as `to_string` writes a value).
pub fn kind_key_of_line(line: &str) -> String {
    match top_level_value(line, "kind") {
        None | Some("null") => String::new(),
        Some(raw) if raw.starts_with('"') && !raw.contains('\\') => escape(&raw[1..raw.len() - 1]),
        Some(raw) if raw.starts_with('"') => serde_json::from_str::<String>(raw)
            .map(|s| escape(&s))
            .unwrap_or_default(),
        Some(raw) => escape(raw),
    }
}

/// The raw text of the value of member `name` of the JSON object `obj`
/// (not of a nested object). None when absent or `obj` is not an object.
fn top_level_value<'a>(obj: &'a str, name: &str) -> Option<&'a str> {
    let b = obj.as_bytes();
    let start = obj.find('{')?;
    let mut i = start + 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return None,
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(b, i)?;
        let key = &obj[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value_end = value_end(b, i)?;
        if key == name {
            return Some(&obj[i..value_end]);
        }
        i = value_end;
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// After the string that opens at `b[i] == '"'`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// After the value that starts at `b[i]`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// One fragment as the pages and the front page list it.
#[derive(Debug, Clone)]
pub struct Listed<'a> {
    /// Its key.
    pub key: &'a str,
    /// Its Issue cell ([`issue_cell`]).
    pub issue: &'a str,
    /// Its rows ([`page_row`]), one per artifact.
    pub rows: &'a str,
    /// How many artifacts.
    pub artifacts: usize,
}

/// One page's bytes: its fragments, in natural key order (at least one).
pub fn page(fragments: &[Listed<'_>]) -> Vec<u8> {
    let rows: usize = fragments.iter().map(|f| f.rows.len()).sum();
    let mut out = String::with_capacity(rows + 512);
    let (first, last) = (fragments[0].key, fragments[fragments.len() - 1].key);
    out.push_str("# ");
    push_escaped(&mut out, first);
    if fragments.len() > 1 {
        out.push_str(" – ");
        push_escaped(&mut out, last);
    }
    let artifacts: usize = fragments.iter().map(|f| f.artifacts).sum();
    let _ = writeln!(
        out,
        "\n\nOne page of the [catalogue](../index.md): {} {}, {artifacts} {}. \
         Generated by git-catalogue from the fragments; do not edit it by hand.\n",
        fragments.len(),
        plural(fragments.len(), "fragment", "fragments"),
        plural(artifacts, "artifact", "artifacts"),
    );
    if artifacts == 0 {
        out.push_str("_No artifacts on this page._\n");
    } else {
        out.push_str(PAGE_HEAD);
        for f in fragments {
            out.push_str(f.rows);
        }
    }
    let mut without = fragments.iter().filter(|f| f.artifacts == 0).peekable();
    if without.peek().is_some() {
        out.push_str("\n## Fragments without artifacts\n\n");
        for f in without {
            out.push_str("- ");
            push_escaped(&mut out, f.key);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// A page's table head.
pub const PAGE_HEAD: &str = "| Issue | Artifact | Kind | Title |\n| --- | --- | --- | --- |\n";

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// What the front page says, besides the lists of fragments.
pub struct Front<'a> {
    /// The fragments folder, as [`super::layout`] names it.
    pub fragments_dir: &'a str,
    /// The fragments tree.
    pub source: &'a str,
    /// How the pages link.
    pub links: &'a Links,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed (paths claimed once).
    pub artifacts: usize,
    /// Artifacts by kind key ([`kind_key`]), every claim counted.
    pub kinds: &'a HashMap<String, usize>,
    /// The conflicts, rows in the earlier layout ([`super::row`]).
    pub contested: &'a Contested<'a>,
}

/// The front page's first lines, up to and including the provenance line:
/// what an incremental build checks the previous front page against.
pub fn front_head(fragments_dir: &str, source: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("# Catalogue\n\n");
    let _ = writeln!(
        out,
        "Generated by git-catalogue from {} (fragments tree {}): \
         do not edit this page or the pages under `index/` by hand, \
         run `git catalogue consolidate` instead.\n",
        escape(fragments_dir),
        escape(source),
    );
    out
}

/// The sentence that says where issue numbers link: part of what an
/// incremental build checks, so that a new template rewrites every page.
pub fn links_line(links: &Links) -> String {
    match &links.issue_url {
        Some(t) => format!("Issue numbers link to `{t}`.\n"),
        None => "Issue numbers are not linked: set git config `catalogue.issueUrl` \
                 (or use a GitHub or GitLab `origin`) to link them.\n"
            .to_owned(),
    }
}

/// The front page, and the page list when it does not fit on it.
/// `fragments` are every fragment in natural key order, `lengths` the pages
/// ([`paginate`]) over them; `newest` the last [`NEWEST`] (or fewer), oldest
/// first.
pub fn front(
    front: &Front<'_>,
    lengths: &[usize],
    page_keys: &[(&str, &str)],
    newest: &[Listed<'_>],
    newest_pages: &[&str],
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = front_head(front.fragments_dir, front.source);
    out.push_str(
        "This catalogue lists the artifacts that producer runs recorded, one fragment per run: \
         this page sums them up, and the pages under `index/` list every artifact, \
         a row each, by fragment key in natural order. \
         The same entries are in `manifest.json` for programs.\n\n",
    );
    out.push_str(&links_line(front.links));
    out.push('\n');
    let _ = writeln!(
        out,
        "{} {} in {} {}, on {} {}.\n",
        front.artifacts,
        plural(front.artifacts, "artifact", "artifacts"),
        front.fragments,
        plural(front.fragments, "fragment", "fragments"),
        lengths.len(),
        plural(lengths.len(), "page", "pages"),
    );
    // Kinds, most artifacts first.
    if !front.kinds.is_empty() {
        let mut kinds: Vec<(&String, &usize)> = front.kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        out.push_str("## Kinds\n\n| Kind | Artifacts |\n| --- | --- |\n");
        for (kind, n) in kinds.iter().take(KINDS_SHOWN) {
            out.push_str("| ");
            if kind.is_empty() {
                out.push_str("_no kind_");
            } else {
                push_cut_escaped(&mut out, kind);
            }
            let _ = writeln!(out, " | {n} |");
        }
        if kinds.len() > KINDS_SHOWN {
            let rest: usize = kinds[KINDS_SHOWN..].iter().map(|(_, n)| **n).sum();
            let _ = writeln!(
                out,
                "| _{} other kinds_ | {rest} |",
                kinds.len() - KINDS_SHOWN
            );
        }
        out.push('\n');
    }
    let contested = front.contested;
    if contested.paths > 0 {
        let _ = writeln!(
            out,
            "## Conflicts\n\n\
             {} {} claimed by more than one fragment, so {} listed here only, with every claim, \
             and `git catalogue consolidate` fails until each is claimed once. \
             To resolve one, change one of its fragments (the later in natural key order, or either): \
             record it again without the path, or delete it.\n",
            contested.paths,
            plural(contested.paths, "artifact path is", "artifact paths are"),
            plural(contested.paths, "it is", "they are"),
        );
        out.push_str(CONFLICTS_HEAD);
        let mut shown = 0;
        let mut bytes = 0;
        let all: Vec<&str> = contested.rows.split_inclusive('\n').collect();
        for row in &all {
            if shown == CLAIMS_SHOWN || bytes + row.len() > CLAIM_BYTES {
                break;
            }
            out.push_str(row);
            shown += 1;
            bytes += row.len();
        }
        if shown < all.len() {
            let _ = writeln!(
                out,
                "\n{} more {}: `manifest.json` lists every one, under `conflicts`.",
                all.len() - shown,
                plural(all.len() - shown, "claim", "claims"),
            );
        }
        out.push('\n');
    }
    if !newest.is_empty() {
        out.push_str(
            "## Newest fragments\n\nThe last fragments in natural key order, last first.\n\n\
             | Fragment | Issue | Artifacts | Page |\n| --- | --- | --- | --- |\n",
        );
        for (f, page) in newest.iter().zip(newest_pages).rev() {
            out.push_str("| ");
            push_escaped(&mut out, f.key);
            out.push_str(" | ");
            // A link (the only cell text starting with a bare `[`) is as
            // long as the template; only plain text is cut.
            if f.issue.starts_with('[') {
                out.push_str(f.issue);
            } else {
                push_cut_escaped(&mut out, f.issue);
            }
            let _ = write!(out, " | {} | [", f.artifacts);
            push_escaped(&mut out, page);
            out.push_str("](index/");
            push_percent_encoded(&mut out, &page_file(page));
            out.push_str(") |\n");
        }
        out.push('\n');
    }
    let mut list = String::new();
    for ((first, last), n) in page_keys.iter().zip(lengths) {
        list.push_str("- [");
        push_escaped(&mut list, first);
        if first != last {
            list.push_str(" – ");
            push_escaped(&mut list, last);
        }
        list.push_str("](");
        list.push_str(if lengths.len() > PAGES_LISTED {
            ""
        } else {
            "index/"
        });
        push_percent_encoded(&mut list, &page_file(first));
        let _ = writeln!(list, "): {n} {}", plural(*n, "fragment", "fragments"));
    }
    let mut separate = None;
    if !lengths.is_empty() {
        out.push_str("## Pages\n\n");
        if lengths.len() > PAGES_LISTED {
            let _ = writeln!(
                out,
                "The {} pages are listed on [their own page](index/{PAGE_LIST}).",
                lengths.len()
            );
            let mut page = String::with_capacity(list.len() + 256);
            page.push_str("# Pages of the catalogue\n\n");
            page.push_str(
                "Generated by git-catalogue with the [catalogue](../index.md); \
                 do not edit it by hand.\n\n",
            );
            page.push_str(&list);
            separate = Some(page.into_bytes());
        } else {
            out.push_str(&list);
        }
    } else {
        out.push_str("_No fragments yet._\n");
    }
    (out.into_bytes(), separate)
}

/// The front page, and the page list when it has its own page, once the
/// pages are cut: `lengths` and `page_keys` (first and last key) of every
/// page, and at least the last [`NEWEST`] fragments of `listed` (their rows
/// are not read).
pub fn finish_front(
    front_says: &Front<'_>,
    lengths: &[usize],
    page_keys: &[(&str, &str)],
    listed_last: &[Listed<'_>],
) -> (Vec<u8>, Option<(String, Vec<u8>)>) {
    let total: usize = lengths.iter().sum();
    let newest = &listed_last[listed_last.len().saturating_sub(NEWEST)..];
    let newest_from = total - newest.len();
    let newest_pages = pages_of(lengths, page_keys, newest_from, total);
    let (front_page, list) = front(front_says, lengths, page_keys, newest, &newest_pages);
    (front_page, list.map(|list| (PAGE_LIST.to_owned(), list)))
}

/// The first key of the page of each fragment `from..to`.
pub fn pages_of<'k>(
    lengths: &[usize],
    page_keys: &[(&'k str, &'k str)],
    from: usize,
    to: usize,
) -> Vec<&'k str> {
    let mut out = Vec::with_capacity(to - from);
    let mut start = 0;
    for (&n, (first, _)) in lengths.iter().zip(page_keys) {
        for i in start..start + n {
            if (from..to).contains(&i) {
                out.push(*first);
            }
        }
        start += n;
    }
    out
}

/// `text` escaped, cut to [`FRONT_CELL_CHARS`] characters of the escaped
/// text (never inside an escape) with `…` when longer.
fn push_cut_escaped(out: &mut String, escaped: &str) {
    if escaped.chars().count() <= FRONT_CELL_CHARS {
        out.push_str(escaped);
        return;
    }
    // The escaped text is made of whole escapes; cut before the last one
    // that would cross the limit: after a character that is neither a
    // backslash escape's first half nor inside an entity.
    let mut end = 0;
    let mut in_entity = false;
    let mut after_backslash = false;
    for (taken, (i, c)) in escaped.char_indices().enumerate() {
        if taken >= FRONT_CELL_CHARS && !in_entity && !after_backslash {
            break;
        }
        end = i + c.len_utf8();
        if after_backslash {
            after_backslash = false;
        } else if c == '\\' {
            after_backslash = true;
        } else if c == '&' {
            in_entity = true;
        } else if c == ';' && in_entity {
            in_entity = false;
        }
    }
    out.push_str(&escaped[..end]);
    out.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn pages_end_at_hash_boundaries_or_when_full() {
        let keys: Vec<String> = (1..=5000).map(|i| format!("issue-{i}")).collect();
        let lengths = paginate(keys.iter().map(String::as_str));
        assert_eq!(lengths.iter().sum::<usize>(), 5000);
        assert!(lengths.iter().all(|&n| (1..=PAGE_FRAGMENTS).contains(&n)));
        let mut at = 0;
        for &n in &lengths[..lengths.len() - 1] {
            at += n;
            assert!(n == PAGE_FRAGMENTS || ends_page(&keys[at - 1]));
        }
        assert!(lengths.len() > 2, "{lengths:?}");
    }

    #[test]
    fn kinds_are_read_from_a_line_as_parsing_would_read_them() {
        for line in [
            r#"{"fragment":"a","path":"p","kind":"summary"}"#,
            r#"{"fragment":"a","run":{"kind":"no"},"kind":"s\"x\\y|"}"#,
            r#"{"fragment":"a","kind":[1,{"k":"]"}],"title":"t"}"#,
            r#"{"fragment":"a","kind":3.50}"#,
            r#"{"fragment":"a","kind":null}"#,
            r#"{"fragment":"a","title":"\"kind\":1"}"#,
        ] {
            let map: Map<String, Value> = serde_json::from_str(line).expect("json");
            assert_eq!(kind_key_of_line(line), kind_key(map.get("kind")), "{line}");
        }
    }

    /// Long issues and kinds, many kinds, many conflicting claims: the
    /// front page stays under 100 KB, and says what it leaves out.
    #[test]
    fn the_front_page_is_bounded_whatever_the_fragments_say() {
        use crate::core::fragment::Fragment;
        use crate::core::key::FragmentKey;
        use crate::core::manifest::Manifest;
        let long = "x|".repeat(3000);
        let fragments: Vec<Fragment> = (0..1500)
            .map(|i| {
                let json = serde_json::json!({
                    "issue": format!("{i}{long}"),
                    "artifacts": [
                        {"path": format!("docs/{i}.md"), "kind": format!("{i}{long}"), "title": long},
                        {"path": "docs/shared.md", "title": long},
                    ],
                });
                let key = FragmentKey::new(&format!("k{i}")).expect("valid key");
                Fragment::parse(key, json.to_string().as_bytes()).expect("valid fragment")
            })
            .collect();
        let manifest = Manifest::build_with_conflicts(fragments, "0".repeat(40).as_str());
        let out = crate::core::render::outputs_linked(&manifest, "catalogue", None);
        let front = String::from_utf8(out.index).expect("text");
        assert!(front.len() < 100_000, "{} bytes", front.len());
        assert!(front.contains("| _1481 other kinds_ | 1481 |"), "{front}");
        assert!(
            front.contains("more claims: `manifest.json` lists every one"),
            "{front}"
        );
        assert!(front.contains("## Newest fragments"));
        let largest = out.pages.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
        assert!(out.pages.len() >= 2, "{} pages", out.pages.len());
        assert!(largest > 0);
    }

    #[test]
    fn long_front_cells_are_cut_between_escapes() {
        let mut out = String::new();
        let text = escape(&"a|".repeat(100));
        push_cut_escaped(&mut out, &text);
        assert!(out.ends_with('…'));
        let cut = out.trim_end_matches('…');
        assert!(cut.ends_with("&#124;") || cut.ends_with('a'), "{out}");
    }
}
