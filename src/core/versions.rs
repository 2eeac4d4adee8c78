//! Reading thousands of manifest versions cheaply (the pure half).
//!
//! A history of the old racing design holds thousands of versions of one
//! manifest, each differing from its parent by an entry or two. Parsing every
//! version whole into JSON values costs O(versions × entries) allocations and
//! was the scan's whole cost. Instead:
//!
//! - every version is laid out as the byte spans of its artifact array's
//!   elements ([`Layout`]);
//! - a version is read against its parent's bytes and layout: the elements in
//!   the common byte prefix and suffix are the parent's, and only the bytes
//!   between them are parsed ([`Interner::parse`]);
//! - each distinct element is parsed once, and an entry or path is a `u32`
//!   ([`Interner`]), so a version is a sorted list of ids.
//!
//! The result is exactly what a full parse gives: when the changed bytes do
//! not fit the array grammar between the kept elements, the version is parsed
//! whole, and that parse decides validity and reports the error.

use std::collections::HashMap;

use serde_json::{value::RawValue, Map, Value};

/// A version's entries: `(path id, entry id)` sorted by path id, one per
/// path (when a version lists a path twice, the later entry wins, as a JSON
/// reader building a map would).
pub type Entries = Vec<(u32, u32)>;

/// One element of a version's artifact array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    start: usize,
    end: usize,
    /// The entry, or None when the element is not an object with a string `path`.
    entry: Option<u32>,
}

/// Where a valid version's artifact array and its elements lie in its bytes.
#[derive(Clone, Debug)]
pub struct Layout {
    /// 1 for a top-level array, 2 for an object's `artifacts` array.
    depth: usize,
    /// Just after the array's `[`.
    open: usize,
    /// At the array's `]`.
    close: usize,
    items: Vec<Item>,
    /// No two elements carry the same path.
    unique: bool,
}

/// How a version was read from its parent's: elements `k1..k2` of the
/// parent's were replaced by elements `added` of the new layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    k1: usize,
    k2: usize,
    added: std::ops::Range<usize>,
}

/// A valid version as read.
#[derive(Clone, Debug)]
pub struct Read {
    /// Its layout, the base for reading its children.
    pub layout: Layout,
    /// Its entries.
    pub entries: Entries,
    /// Whether it was read against its parent (false: parsed whole).
    pub incremental: bool,
}

/// Every path and every distinct artifact element seen, stored once.
#[derive(Default)]
pub struct Interner {
    paths: Vec<String>,
    path_ids: HashMap<String, u32>,
    /// Entry id -> (path id, fields).
    entries: Vec<(u32, Map<String, Value>)>,
    /// Element bytes -> its entry (None: not an artifact object).
    by_bytes: HashMap<Box<[u8]>, Option<u32>>,
}

const WS: [u8; 4] = [b' ', b'\t', b'\n', b'\r'];

fn id(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 distinct paths and entries")
}

impl Interner {
    /// The path of a path id.
    pub fn path(&self, id: u32) -> &str {
        &self.paths[id as usize]
    }

    /// The id of a path, if it was ever seen.
    pub fn path_id(&self, path: &str) -> Option<u32> {
        self.path_ids.get(path).copied()
    }

    /// The fields of an entry.
    pub fn entry(&self, id: u32) -> &Map<String, Value> {
        &self.entries[id as usize].1
    }

    fn intern_path(&mut self, path: &str) -> u32 {
        if let Some(&id) = self.path_ids.get(path) {
            return id;
        }
        let n = id(self.paths.len());
        self.paths.push(path.to_owned());
        self.path_ids.insert(path.to_owned(), n);
        n
    }

    /// The entry of one array element (None: not an object with a string
    /// `path`), or why the element cannot be parsed at all. The array's raw
    /// scan does not count nesting, so an element nested deeper than the JSON
    /// reader's limit is found only here: it makes its version invalid rather
    /// than being skipped as "not an artifact".
    fn intern_entry(&mut self, raw: &[u8]) -> Result<Option<u32>, String> {
        if let Some(&e) = self.by_bytes.get(raw) {
            return Ok(e);
        }
        // Numbers as written (serde_json would respell `1E5` as `1e+5`); an
        // old entry that repeats a key is still read, its last value winning.
        let value = match crate::core::fragment::parse_json(raw) {
            Ok(v) => v,
            Err(_) => serde_json::from_slice::<Value>(raw).map_err(|e| e.to_string())?,
        };
        let e = match value {
            Value::Object(fields) => match fields.get("path") {
                Some(Value::String(p)) => {
                    let path = self.intern_path(p);
                    let n = id(self.entries.len());
                    self.entries.push((path, fields));
                    Some(n)
                }
                _ => None,
            },
            _ => None,
        };
        self.by_bytes.insert(raw.into(), e);
        Ok(e)
    }

    /// Read one version, against its parent's bytes and layout when given.
    /// Accepts a top-level array of artifact objects, or an object with an
    /// `artifacts` array. Elements without a string `path` are skipped.
    pub fn parse(
        &mut self,
        bytes: &[u8],
        base: Option<(&[u8], &Layout, &Entries)>,
    ) -> Result<Read, String> {
        if let Some((base_bytes, layout, entries)) = base {
            if let Some((next, splice)) = self.splice(bytes, base_bytes, layout) {
                let entries = self.spliced_entries(layout, entries, &next, &splice);
                let (entries, unique) = match entries {
                    Some(e) => (e, true),
                    None => self.entries_of(&next),
                };
                return Ok(Read {
                    layout: Layout { unique, ..next },
                    entries,
                    incremental: true,
                });
            }
        }
        let mut layout = self.full(bytes)?;
        let (entries, unique) = self.entries_of(&layout);
        layout.unique = unique;
        Ok(Read {
            layout,
            entries,
            incremental: false,
        })
    }

    fn full(&mut self, bytes: &[u8]) -> Result<Layout, String> {
        let top: &RawValue = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let (depth, array) = match top.get().as_bytes().first() {
            Some(b'[') => (1, top),
            Some(b'{') => {
                // Later duplicate keys win, as in serde_json's own map.
                let fields: HashMap<String, &RawValue> =
                    serde_json::from_str(top.get()).map_err(|e| e.to_string())?;
                match fields.get("artifacts") {
                    Some(a) if a.get().starts_with('[') => (2, *a),
                    Some(_) => return Err("`artifacts` is not an array".to_owned()),
                    None => return Err("no `artifacts` array".to_owned()),
                }
            }
            _ => return Err("neither an array nor an object".to_owned()),
        };
        let elements: Vec<&RawValue> =
            serde_json::from_str(array.get()).map_err(|e| e.to_string())?;
        let origin = bytes.as_ptr() as usize;
        let at = |s: &str| s.as_ptr() as usize - origin;
        let start = at(array.get());
        let mut items = Vec::with_capacity(elements.len());
        for (n, raw) in elements.into_iter().enumerate() {
            let (s, e) = (at(raw.get()), at(raw.get()) + raw.get().len());
            let entry = self.intern_entry(&bytes[s..e]).map_err(|why| {
                format!("element {n} of the artifacts array cannot be parsed: {why}")
            })?;
            items.push(Item {
                start: s,
                end: e,
                entry,
            });
        }
        Ok(Layout {
            depth,
            open: start + 1,
            close: start + array.get().len() - 1,
            items,
            unique: false,
        })
    }

    /// Read `bytes` as `base` with the elements between the common prefix
    /// and suffix replaced. None when the changed bytes do not parse as
    /// array elements in that place: the caller then parses whole.
    fn splice(&mut self, bytes: &[u8], base: &[u8], layout: &Layout) -> Option<(Layout, Splice)> {
        let pfx = common_prefix(base, bytes);
        let room = base.len().min(bytes.len()) - pfx;
        let sfx = common_suffix(base, bytes, room);
        let cut = base.len() - sfx;
        if layout.open > pfx || layout.close < cut {
            return None;
        }
        let items = &layout.items;
        let k1 = items.partition_point(|it| it.end <= pfx);
        let k2 = k1 + items[k1..].partition_point(|it| it.start < cut);
        let shift = |x: usize| x + bytes.len() - base.len();
        let a = if k1 > 0 {
            items[k1 - 1].end
        } else {
            layout.open
        };
        let b = shift(items.get(k2).map_or(layout.close, |it| it.start));
        let (lead, trail) = (k1 > 0, k2 < items.len());
        let (mut x0, mut x1) = (a, b);
        while x0 < x1 && WS.contains(&bytes[x0]) {
            x0 += 1;
        }
        while x1 > x0 && WS.contains(&bytes[x1 - 1]) {
            x1 -= 1;
        }
        let mut added = Vec::new();
        let lone_comma = x1 == x0 + 1 && bytes[x0] == b',';
        if x0 == x1 {
            // Nothing between: fine unless two kept elements now touch.
            if lead && trail {
                return None;
            }
        } else if !(lead && trail && lone_comma) {
            if lead {
                if bytes[x0] != b',' {
                    return None;
                }
                x0 += 1;
            }
            if trail {
                if x1 <= x0 || bytes[x1 - 1] != b',' {
                    return None;
                }
                x1 -= 1;
            }
            // Parse the new elements at the depth they sit at, so that
            // serde_json's nesting limit applies exactly as in a whole parse.
            let mut doc = Vec::with_capacity(x1 - x0 + 2 * layout.depth);
            doc.extend(std::iter::repeat_n(b'[', layout.depth));
            doc.extend_from_slice(&bytes[x0..x1]);
            doc.extend(std::iter::repeat_n(b']', layout.depth));
            let elements: Vec<&RawValue> = if layout.depth == 1 {
                serde_json::from_slice(&doc).ok()?
            } else {
                let mut outer: Vec<Vec<&RawValue>> = serde_json::from_slice(&doc).ok()?;
                if outer.len() != 1 {
                    return None;
                }
                outer.pop()?
            };
            if elements.is_empty() {
                return None;
            }
            let origin = doc.as_ptr() as usize;
            for raw in elements {
                let s = raw.get().as_ptr() as usize - origin - layout.depth + x0;
                let e = s + raw.get().len();
                added.push((s, e));
            }
        }
        let mut next = Vec::with_capacity(items.len() - (k2 - k1) + added.len());
        next.extend_from_slice(&items[..k1]);
        let from = next.len();
        for (s, e) in added {
            // An element that cannot be parsed: the whole parse reports it.
            let entry = self.intern_entry(&bytes[s..e]).ok()?;
            next.push(Item {
                start: s,
                end: e,
                entry,
            });
        }
        let to = next.len();
        next.extend(items[k2..].iter().map(|it| Item {
            start: shift(it.start),
            end: shift(it.end),
            entry: it.entry,
        }));
        Some((
            Layout {
                depth: layout.depth,
                open: layout.open,
                close: shift(layout.close),
                items: next,
                unique: false,
            },
            Splice {
                k1,
                k2,
                added: from..to,
            },
        ))
    }

    /// The entries of a spliced version, derived from its parent's when
    /// both list every path once and the change is small. None: derive
    /// them whole.
    fn spliced_entries(
        &self,
        base: &Layout,
        base_entries: &Entries,
        next: &Layout,
        splice: &Splice,
    ) -> Option<Entries> {
        const SMALL: usize = 64;
        if !base.unique || splice.k2 - splice.k1 > SMALL || splice.added.len() > SMALL {
            return None;
        }
        let mut out = base_entries.clone();
        for it in &base.items[splice.k1..splice.k2] {
            if let Some(e) = it.entry {
                let path = self.entries[e as usize].0;
                let at = out.binary_search_by_key(&path, |x| x.0).ok()?;
                out.remove(at);
            }
        }
        for it in &next.items[splice.added.clone()] {
            if let Some(e) = it.entry {
                let path = self.entries[e as usize].0;
                match out.binary_search_by_key(&path, |x| x.0) {
                    Ok(_) => return None,
                    Err(at) => out.insert(at, (path, e)),
                }
            }
        }
        Some(out)
    }

    /// A layout's entries, and whether every path appears once.
    fn entries_of(&self, layout: &Layout) -> (Entries, bool) {
        let mut all: Vec<(u32, usize, u32)> = layout
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| it.entry.map(|e| (self.entries[e as usize].0, i, e)))
            .collect();
        all.sort_unstable();
        let n = all.len();
        let mut out = Entries::with_capacity(n);
        for (i, &(path, _, e)) in all.iter().enumerate() {
            if all.get(i + 1).is_some_and(|next| next.0 == path) {
                continue;
            }
            out.push((path, e));
        }
        let unique = out.len() == n;
        (out, unique)
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Compare in chunks so the common case runs at memcmp speed.
    const CHUNK: usize = 4096;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix(a: &[u8], b: &[u8], room: usize) -> usize {
    const CHUNK: usize = 4096;
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i + CHUNK <= room && a[la - i - CHUNK..la - i] == b[lb - i - CHUNK..lb - i] {
        i += CHUNK;
    }
    while i < room && a[la - i - 1] == b[lb - i - 1] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path, fields) in path order.
    type Named = Vec<(String, Map<String, Value>)>;

    /// What a whole parse gives.
    fn whole(bytes: &[u8]) -> Result<Named, String> {
        let mut i = Interner::default();
        let r = i.parse(bytes, None)?;
        assert!(!r.incremental);
        Ok(named(&i, &r.entries))
    }

    fn named(i: &Interner, e: &Entries) -> Named {
        let mut v: Vec<_> = e
            .iter()
            .map(|&(p, e)| (i.path(p).to_owned(), i.entry(e).clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Read `child` against `parent` and check it equals a whole parse.
    fn against(parent: &str, child: &str) -> Option<bool> {
        let mut i = Interner::default();
        let p = i.parse(parent.as_bytes(), None).ok()?;
        let got = i.parse(
            child.as_bytes(),
            Some((parent.as_bytes(), &p.layout, &p.entries)),
        );
        let want = whole(child.as_bytes());
        match (got, want) {
            (Ok(g), Ok(w)) => {
                assert_eq!(named(&i, &g.entries), w, "{parent:?} -> {child:?}");
                Some(g.incremental)
            }
            (Err(_), Err(_)) => Some(false),
            (g, w) => panic!("{parent:?} -> {child:?}: spliced {g:?}, whole {w:?}"),
        }
    }

    #[test]
    fn formats() {
        let a = whole(br#"[{"path":"x","issue":"3"},{"nopath":1},{"path":7}]"#).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, "x");
        let b = whole(br#"{"issue":9,"artifacts":[{"path":"y"}]}"#).unwrap();
        assert_eq!(b[0].0, "y");
        let dup = whole(br#"{"artifacts":[{"path":"y"}],"artifacts":[{"path":"z"}]}"#).unwrap();
        assert_eq!(dup[0].0, "z", "a later duplicate key wins");
        let last = whole(br#"[{"path":"y","n":1},{"path":"y","n":2}]"#).unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].1["n"], 2);
        assert!(whole(b"<<<<<<< HEAD\n{}\n=======\n").is_err());
        assert!(whole(b"42").is_err());
        assert!(whole(br#"{"artifacts":3}"#).is_err());
        assert!(whole(br#"{"other":[]}"#).is_err());
    }

    #[test]
    fn entries_keep_numbers_as_written() {
        let mut i = Interner::default();
        let r = i
            .parse(
                br#"[{"path":"a","n":1E5,"big":1e400},{"path":"b","k":1,"k":2}]"#,
                None,
            )
            .expect("valid");
        let got = named(&i, &r.entries);
        assert_eq!(
            serde_json::to_string(&got[0].1).expect("json"),
            r#"{"path":"a","n":1E5,"big":1e400}"#
        );
        // An old entry repeating a key is still an entry (its last value wins).
        assert_eq!(got[1].1["k"], 2);
    }

    #[test]
    fn appends_and_removals_are_spliced() {
        let p = "[\n  {\"path\": \"a\"},\n  {\"path\": \"b\"}\n]\n";
        assert_eq!(
            against(
                p,
                "[\n  {\"path\": \"a\"},\n  {\"path\": \"b\"},\n  {\"path\": \"c\"}\n]\n"
            ),
            Some(true)
        );
        assert_eq!(against(p, "[\n  {\"path\": \"a\"}\n]\n"), Some(true));
        assert_eq!(against(p, "[\n  {\"path\": \"b\"}\n]\n"), Some(true));
        assert_eq!(against(p, "[\n]\n"), Some(true));
        assert_eq!(
            against(
                p,
                "[\n  {\"path\": \"a\"},\n  {\"path\": \"x\"},\n  {\"path\": \"b\"}\n]\n"
            ),
            Some(true)
        );
        let o = r#"{"version":1,"artifacts":[{"path":"a"},{"path":"b"}],"x":1}"#;
        assert_eq!(
            against(
                o,
                r#"{"version":1,"artifacts":[{"path":"a"},{"path":"c"},{"path":"b"}],"x":1}"#
            ),
            Some(true)
        );
        assert_eq!(
            against(
                o,
                r#"{"version":1,"artifacts":[{"path":"a"},{"path":"a"}],"x":1}"#
            ),
            Some(true)
        );
    }

    #[test]
    fn broken_splices_fall_back_or_fail_like_a_whole_parse() {
        let p = r#"[{"path":"a"},{"path":"b"}]"#;
        for child in [
            r#"[{"path":"a"}{"path":"b"}]"#,
            r#"[{"path":"a"},,{"path":"b"}]"#,
            r#"[{"path":"a"},]"#,
            r#"[,{"path":"b"}]"#,
            r#"[{"path":"a"},{"path":"b"}],"#,
            r#"[{"path":"a"}],[{"path":"b"}]"#,
            r#"[{"path":"a"},{"path":"b"}"#,
            r#"[{"path":"a"},{"path":"ab"}]"#,
            "<<<<<<< HEAD\n[{\"path\":\"a\"},{\"path\":\"b\"}]",
        ] {
            against(p, child).expect("parent parses");
        }
        // A new element without its comma, after the last or before the first kept one.
        let one = r#"[{"path":"a"}]"#;
        for child in [
            r#"[{"path":"a"} 17]"#,
            r#"[{"path":"a"} {"path":"b"}]"#,
            r#"[17 {"path":"a"}]"#,
            r#"[{"path":"b"} {"path":"a"}]"#,
            r#"[{"path":"a"},17 18]"#,
        ] {
            assert_eq!(against(one, child), Some(false), "{child}");
        }
        let n = r#"[1,{"path":"b"}]"#;
        against(n, r#"[12,{"path":"b"}]"#);
        against(n, r#"[1 2,{"path":"b"}]"#);
        let o = r#"{"artifacts":[{"path":"a"}]}"#;
        against(o, r#"{"artifacts":[{"path":"a"}],[1]}"#);
        against(o, r#"{"artifacts":[{"path":"a"}]],[[1]}"#);
    }

    #[test]
    fn an_element_too_deep_to_parse_makes_its_version_invalid() {
        // The raw scan of the array does not count nesting: 200 levels inside
        // one element pass it, and only the element's own parse fails.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let bytes = format!(r#"[{{"path":"a"}},{{"path":"deep","x":{deep}}}]"#);
        let err = whole(bytes.as_bytes()).expect_err("an unreadable element is not skipped");
        assert!(
            err.contains("element 1") && err.contains("recursion limit"),
            "{err}"
        );
        // Read against a parent, the same.
        assert_eq!(against(r#"[{"path":"a"}]"#, &bytes), Some(false));
    }

    #[test]
    fn nesting_limit_matches_a_whole_parse() {
        // 127 levels inside an element pass at depth 1 but not at depth 2.
        let deep = format!("{}{}", "[".repeat(126), "]".repeat(126));
        let p = r#"{"artifacts":[{"path":"a"}]}"#;
        let c = format!(r#"{{"artifacts":[{{"path":"a"}},{deep}]}}"#);
        against(p, &c);
        let p = r#"[{"path":"a"}]"#;
        let c = format!(r#"[{{"path":"a"}},{deep}]"#);
        against(p, &c);
    }

    /// A small deterministic generator: random edits of random manifests,
    /// every splice checked against a whole parse.
    #[test]
    fn random_edits_agree_with_whole_parses() {
        let mut rng = crate::publish::backoff::Jitter::seeded(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: usize| rng.below(n);
        let atoms = [
            r#"{"path":"a"}"#,
            r#"{"path":"b","n":1}"#,
            r#"{"path":"b","n":2}"#,
            r#"{"path":"c"}"#,
            r#"{"nopath":1}"#,
            "17",
            r#""s""#,
            "[]",
        ];
        let mut spliced = 0;
        for _ in 0..3000 {
            let mut parts: Vec<String> = (0..next(6))
                .map(|_| atoms[next(atoms.len())].to_owned())
                .collect();
            let object = next(2) == 0;
            let render = |parts: &[String], sep: &str| {
                let body = parts.join(sep);
                if object {
                    format!("{{\"version\":1,\"artifacts\":[{body}]}}\n")
                } else {
                    format!("[\n{body}\n]\n")
                }
            };
            let parent = render(&parts, ",\n");
            match next(4) {
                0 if !parts.is_empty() => {
                    let k = next(parts.len());
                    parts.remove(k);
                }
                1 => {
                    let k = next(parts.len() + 1);
                    parts.insert(k, atoms[next(atoms.len())].to_owned());
                }
                2 if !parts.is_empty() => {
                    let k = next(parts.len());
                    parts[k] = atoms[next(atoms.len())].to_owned();
                }
                _ => {}
            }
            let mut child = render(&parts, ",\n");
            if next(5) == 0 && !child.is_empty() {
                // Damage: delete or duplicate one byte.
                let k = next(child.len());
                if child.is_char_boundary(k) && child.is_char_boundary(k + 1) {
                    if next(2) == 0 {
                        child.remove(k);
                    } else {
                        let c = child.as_bytes()[k] as char;
                        child.insert(k, c);
                    }
                }
            }
            if against(&parent, &child) == Some(true) {
                spliced += 1;
            }
        }
        assert!(spliced > 1000, "only {spliced} of 3000 were spliced");
    }
}
