//! Writing `manifest.json` and `index.md` one fragment at a time, and
//! splicing them: the one implementation of both files' bytes.
//!
//! A full consolidation streams fragments through a [`Writer`] in natural key
//! order, so it never holds more than one parsed fragment: memory is the size
//! of the outputs, not of every fragment as JSON values. An incremental one
//! cuts the previous outputs into per-fragment pieces ([`Old::cut`]) and
//! feeds the [`Writer`] those pieces verbatim for every fragment that did not
//! change, and parsed fragments for the ones that did ([`splice`]). Both go
//! through the same writer, so the bytes are the same as a full rebuild's
//! whenever the previous outputs were current for their `source`.
//!
//! Nothing here reads a repository.

use std::borrow::Cow;
use std::collections::{hash_map::Entry, BTreeSet, HashMap};
use std::ops::Range;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::fragment::{Fragment, FragmentKey};
use crate::index;
use crate::manifest::{natural_cmp, ArtifactEntry, DuplicatePath};

/// The two files, and what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// `manifest.json`.
    pub manifest: Vec<u8>,
    /// `index.md` (empty when the writer was made without a folder).
    pub index: Vec<u8>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed.
    pub artifacts: usize,
}

/// Builds both files from fragments given in natural key order.
pub struct Writer {
    source: String,
    /// `(link prefix, fragments folder)` of the index; None: no index.
    index: Option<(String, String)>,
    /// The entries of the manifest's `fragments` object, joined by ",\n".
    blocks: Vec<u8>,
    /// The manifest's artifact lines, joined by ",\n".
    lines: Vec<u8>,
    /// The index's table rows, each ending in "\n".
    rows: String,
    /// Keys of the fragments without artifacts.
    without: Vec<String>,
    fragments: usize,
    artifacts: usize,
    /// What it records of the artifact paths each fragment claims.
    claims: Claims,
}

/// The artifact paths a writer has seen, by the fragment claiming them.
enum Claims {
    /// Not recorded: the caller checked duplicates already.
    Off,
    /// Checked on every push: path -> index into `keys`.
    Check {
        keys: Vec<FragmentKey>,
        by_path: HashMap<Box<str>, u32>,
    },
    /// Recorded in order, for [`Writer::absorb`] to check: a batch.
    Record {
        keys: Vec<FragmentKey>,
        paths: Vec<(Box<str>, u32)>,
    },
}

/// One artifact line: `fragment`, then `issue` when the fragment has one,
/// then the artifact's own fields in the author's order. Serialised straight
/// from the fragment, without building the object.
struct Line<'a>(ArtifactEntry<'a>);

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("fragment", self.0.fragment.key.as_str())?;
        if let Some(issue) = self.0.fragment.issue() {
            map.serialize_entry("issue", issue)?;
        }
        for (name, value) in self.0.fields {
            // Parsing refuses these inside an artifact; for a hand-built fragment the
            // manifest's own values must still win.
            if name != "fragment" && name != "issue" {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// Writes through, putting four spaces after every newline.
struct Indented<'b>(&'b mut Vec<u8>);

impl std::io::Write for Indented<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (i, line) in buf.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.0.extend_from_slice(b"\n    ");
            }
            self.0.extend_from_slice(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn separate(buffer: &mut Vec<u8>) {
    if !buffer.is_empty() {
        buffer.extend_from_slice(b",\n");
    }
}

impl Writer {
    /// A writer for the fragments tree `source`. `dir` is the catalogue
    /// folder, for the index's links; None writes no index. With
    /// `check_duplicates`, [`Writer::push`] refuses a path claimed twice.
    pub fn new(source: &str, dir: Option<&str>, check_duplicates: bool) -> Writer {
        Writer {
            source: source.to_owned(),
            index: dir.map(index::layout),
            blocks: Vec::new(),
            lines: Vec::new(),
            rows: String::new(),
            without: Vec::new(),
            fragments: 0,
            artifacts: 0,
            claims: if check_duplicates {
                Claims::Check {
                    keys: Vec::new(),
                    by_path: HashMap::new(),
                }
            } else {
                Claims::Off
            },
        }
    }

    /// A writer for a batch of consecutive fragments, rendered apart (on
    /// another thread) and then added to the main writer by
    /// [`Writer::absorb`], which checks the paths it claims.
    pub fn batch(dir: Option<&str>) -> Writer {
        let mut writer = Writer::new("", dir, false);
        writer.claims = Claims::Record {
            keys: Vec::new(),
            paths: Vec::new(),
        };
        writer
    }

    /// Make room for the claims of about `paths` artifact paths at once,
    /// rather than growing the map step by step.
    pub fn reserve_claims(&mut self, paths: usize) {
        if let Claims::Check { by_path, .. } = &mut self.claims {
            by_path.reserve(paths);
        }
    }

    /// Append a batch that follows every fragment pushed so far, checking
    /// its paths against all claimed before, in order: the error is the one
    /// pushing its fragments here would give.
    pub fn absorb(&mut self, batch: Writer) -> Result<(), DuplicatePath> {
        if let (
            Claims::Check { keys, by_path },
            Claims::Record {
                keys: theirs,
                paths,
            },
        ) = (&mut self.claims, batch.claims)
        {
            let offset = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
            keys.extend(theirs);
            for (path, i) in paths {
                let me = offset + i;
                // The batch's own string moves into the map: no copy per path.
                match by_path.entry(path) {
                    Entry::Vacant(slot) => {
                        slot.insert(me);
                    }
                    Entry::Occupied(taken) => {
                        return Err(DuplicatePath {
                            path: taken.key().to_string(),
                            first: keys[*taken.get() as usize].clone(),
                            second: keys[me as usize].clone(),
                        });
                    }
                }
            }
        }
        for (ours, theirs) in [
            (&mut self.blocks, batch.blocks),
            (&mut self.lines, batch.lines),
        ] {
            if !theirs.is_empty() {
                separate(ours);
                ours.extend_from_slice(&theirs);
            }
        }
        self.rows.push_str(&batch.rows);
        self.without.extend(batch.without);
        self.fragments += batch.fragments;
        self.artifacts += batch.artifacts;
        Ok(())
    }

    /// Add one fragment. Fragments must come in natural key order.
    ///
    /// Its artifacts are listed by path, bytewise. A path claimed twice fails
    /// naming both fragments in natural key order, as [`crate::manifest::Manifest::build`] does.
    pub fn push(&mut self, fragment: &Fragment) -> Result<(), DuplicatePath> {
        let mut own: Vec<(&str, &Map<String, Value>)> = fragment
            .artifacts
            .iter()
            .map(|fields| (path_of(fields), fields))
            .collect();
        own.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        match &mut self.claims {
            Claims::Off => {}
            Claims::Check { keys, by_path } => {
                let me = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
                keys.push(fragment.key.clone());
                for (path, _) in &own {
                    if let Some(first) = by_path.insert((*path).into(), me) {
                        return Err(DuplicatePath {
                            path: (*path).to_owned(),
                            first: keys[first as usize].clone(),
                            second: fragment.key.clone(),
                        });
                    }
                }
            }
            Claims::Record { keys, paths } => {
                let me = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
                keys.push(fragment.key.clone());
                paths.extend(own.iter().map(|(path, _)| ((*path).into(), me)));
            }
        }
        separate(&mut self.blocks);
        self.blocks.extend_from_slice(b"    ");
        self.blocks
            .extend_from_slice(json_string(fragment.key.as_str()).as_bytes());
        self.blocks.extend_from_slice(b": ");
        // serde_json escapes newlines inside strings, so every '\n' it writes is
        // layout, and indenting after each one nests the object correctly.
        serde_json::to_writer_pretty(Indented(&mut self.blocks), &fragment.fields)
            .expect("a serde_json::Map always serialises");
        for (_, fields) in &own {
            let entry = ArtifactEntry { fragment, fields };
            separate(&mut self.lines);
            self.lines.extend_from_slice(b"    ");
            serde_json::to_writer(&mut self.lines, &Line(entry))
                .expect("a serde_json::Map always serialises");
            if let Some((link_prefix, _)) = &self.index {
                index::row(&mut self.rows, &entry, link_prefix);
            }
        }
        if own.is_empty() {
            self.without.push(fragment.key.as_str().to_owned());
        }
        self.fragments += 1;
        self.artifacts += own.len();
        Ok(())
    }

    /// Both files, each in pieces that are never joined: the manifest's
    /// head, fragment blocks and middle, its artifact lines, its tail; the
    /// index's head, its rows, its tail. Written out piece by piece, the
    /// bulk (lines and rows) is neither copied nor moved again.
    pub fn finish_rope(self) -> Spliced<'static> {
        let parts = self.parts();
        let mut index: Rope<'static> = Vec::new();
        if let Some((head, rows, foot)) = parts.index {
            index = vec![
                Cow::Owned(head.into_bytes()),
                Cow::Owned(rows.into_bytes()),
                Cow::Owned(foot.into_bytes()),
            ];
        }
        Spliced {
            manifest: vec![
                Cow::Owned(parts.blocks),
                Cow::Owned(parts.lines),
                Cow::Borrowed(parts.tail),
            ],
            index,
            fragments: parts.fragments,
            artifacts: parts.artifacts,
        }
    }

    /// Both files, joined.
    ///
    /// The artifact lines, the bulk of the manifest, become the manifest in
    /// place: the smaller parts are inserted before them, so the peak holds
    /// each output once.
    pub fn finish(self) -> Outputs {
        let parts = self.parts();
        let mut manifest = parts.lines;
        manifest.extend_from_slice(parts.tail);
        manifest.splice(0..0, parts.blocks);
        let index = match parts.index {
            None => Vec::new(),
            Some((head, mut page, foot)) => {
                page.insert_str(0, &head);
                page.push_str(&foot);
                page.into_bytes()
            }
        };
        Outputs {
            manifest,
            index,
            fragments: parts.fragments,
            artifacts: parts.artifacts,
        }
    }

    fn parts(self) -> Parts {
        let Writer {
            source,
            index,
            mut blocks,
            lines,
            rows,
            without,
            fragments,
            artifacts,
            claims,
        } = self;
        drop(claims);
        let has_fragments = !blocks.is_empty();
        let has_artifacts = !lines.is_empty();
        blocks.splice(0..0, manifest_head(&source, has_fragments));
        blocks.extend_from_slice(manifest_middle(has_fragments, has_artifacts));
        let index = index.map(|(_, fragments_dir)| {
            let mut head = String::with_capacity(512);
            index::header(&mut head, &fragments_dir, &source, artifacts, fragments);
            let mut foot = String::new();
            index::footer(&mut foot, without.iter().map(String::as_str));
            (head, rows, foot)
        });
        Parts {
            blocks,
            lines,
            tail: manifest_tail(has_artifacts),
            index,
            fragments,
            artifacts,
        }
    }
}

/// A finished [`Writer`]'s outputs before they are joined.
struct Parts {
    /// The manifest up to its first artifact line.
    blocks: Vec<u8>,
    /// The artifact lines.
    lines: Vec<u8>,
    /// The manifest after them.
    tail: &'static [u8],
    /// The index's head, rows and tail, when it has one.
    index: Option<(String, String, String)>,
    fragments: usize,
    artifacts: usize,
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// An artifact's `path`; [`Fragment::parse`] guarantees it is a string.
fn path_of(fields: &Map<String, Value>) -> &str {
    fields.get("path").and_then(Value::as_str).unwrap_or("")
}

/// One fragment's share of the previous outputs.
#[derive(Debug)]
struct Piece<'a> {
    key: &'a str,
    /// Its entry of the manifest's `fragments` object, without separator.
    block: &'a str,
    /// Its artifact lines (and index rows): indices into [`Old::lines`].
    lines: Range<usize>,
}

/// The previous `manifest.json` and `index.md`, cut into per-fragment pieces.
#[derive(Debug)]
pub struct Old<'a> {
    /// The `source` the previous manifest names.
    pub source: String,
    manifest: &'a str,
    index: Option<&'a str>,
    pieces: Vec<Piece<'a>>,
    /// Artifact lines, with their indentation, without separator.
    lines: Vec<&'a str>,
    /// Index rows, with their newline; one per artifact line.
    rows: Vec<&'a str>,
}

/// `a == b` for the short strings compared once per line (separators,
/// fragment keys), as a plain loop: `==` on slices calls libc's `memcmp`,
/// and at 460,000 calls per splice of 100,000 fragments the calls alone
/// were 7% of the time.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Split after every '\n' (the last line may lack one).
fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

impl<'a> Old<'a> {
    /// Cut the outputs a [`Writer`] wrote. None when they are not laid out
    /// as it writes them (edited by hand, an older layout, not UTF-8): the
    /// caller then rebuilds in full. Without the index, the result serves
    /// [`Old::claimant`] but not [`splice`].
    pub fn cut(manifest: &'a [u8], index: Option<&'a [u8]>) -> Option<Old<'a>> {
        let manifest = std::str::from_utf8(manifest).ok()?;
        let index = match index {
            Some(bytes) => Some(std::str::from_utf8(bytes).ok()?),
            None => None,
        };
        let mut it = lines_of(manifest);
        if it.next()? != "{\n" || it.next()? != "  \"version\": 1,\n" {
            return None;
        }
        let source_line = it.next()?;
        let source: String = serde_json::from_str(
            source_line
                .strip_prefix("  \"source\": ")?
                .strip_suffix(",\n")?,
        )
        .ok()?;
        // The `fragments` object: a block starts at each line `    "<key>": `.
        let mut blocks: Vec<(&str, &str)> = Vec::new();
        match it.next()? {
            "  \"fragments\": {},\n" => {}
            "  \"fragments\": {\n" => {
                let mut start: Option<(usize, &str)> = None;
                loop {
                    let line = it.next()?;
                    let at = line.as_ptr() as usize - manifest.as_ptr() as usize;
                    let is_end = line == "  },\n";
                    let opens = line.starts_with("    \"");
                    if is_end || opens {
                        if let Some((s, key)) = start.take() {
                            // The previous block ends before this line, with ",\n"
                            // unless it is the last.
                            let text = &manifest[s..at];
                            let text = if is_end {
                                text.strip_suffix('\n')?
                            } else {
                                text.strip_suffix(",\n")?
                            };
                            if text.ends_with(',') {
                                return None;
                            }
                            blocks.push((key, text));
                        } else if is_end {
                            return None;
                        }
                    }
                    if is_end {
                        break;
                    }
                    if opens {
                        let rest = &line[5..];
                        let key = &rest[..rest.find('"')?];
                        FragmentKey::new(key).ok()?;
                        start = Some((at, key));
                    } else if start.is_none() {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        // The artifact lines.
        let mut lines: Vec<&str> = Vec::new();
        let mut line_keys: Vec<&str> = Vec::new();
        match it.next()? {
            "  \"artifacts\": []\n" => {}
            "  \"artifacts\": [\n" => loop {
                let line = it.next()?;
                if line == "  ]\n" {
                    break;
                }
                let body = line.strip_suffix('\n')?;
                let body = body.strip_suffix(',').unwrap_or(body);
                let rest = body.strip_prefix("    {\"fragment\":\"")?;
                line_keys.push(&rest[..rest.find('"')?]);
                lines.push(body);
            },
            _ => return None,
        }
        if it.next()? != "}\n" || it.next().is_some() {
            return None;
        }
        // Match lines to blocks: both in the same key order.
        let mut pieces = Vec::with_capacity(blocks.len());
        let mut next = 0;
        for (key, block) in blocks {
            let first = next;
            while line_keys
                .get(next)
                .is_some_and(|k| short_eq(k.as_bytes(), key.as_bytes()))
            {
                next += 1;
            }
            pieces.push(Piece {
                key,
                block,
                lines: first..next,
            });
        }
        if next != lines.len() {
            return None;
        }
        // The index's rows: the lines after the table head, up to the first
        // that is not a row.
        let rows: Vec<&str> = match index {
            None => Vec::new(),
            Some(index) => {
                let rows: Vec<&str> = match index.find(index::TABLE_HEAD) {
                    Some(at) => lines_of(&index[at + index::TABLE_HEAD.len()..])
                        .take_while(|l| l.starts_with("| "))
                        .collect(),
                    None => Vec::new(),
                };
                if rows.len() != lines.len() {
                    return None;
                }
                rows
            }
        };
        Some(Old {
            source,
            manifest,
            index,
            pieces,
            lines,
            rows,
        })
    }

    /// Whether the old index is the page a [`Writer`] writes around its rows
    /// for the old manifest, with catalogue folder `dir`: the same `source`,
    /// the same counts, the same fragments without artifacts, nothing else
    /// before or after the rows. An index restored from another commit, or
    /// one whose head or tail was edited, fails; splicing it would keep what
    /// a full rebuild replaces. Costs the head and the tail, not the rows.
    pub fn index_matches(&self, dir: &str) -> bool {
        let Some(index) = self.index else {
            return false;
        };
        let (_, fragments_dir) = index::layout(dir);
        let mut head = String::with_capacity(512);
        index::header(
            &mut head,
            &fragments_dir,
            &self.source,
            self.lines.len(),
            self.pieces.len(),
        );
        let mut foot = String::new();
        index::footer(
            &mut foot,
            self.pieces
                .iter()
                .filter(|p| p.lines.is_empty())
                .map(|p| p.key),
        );
        let rows: usize = self.rows.iter().map(|r| r.len()).sum();
        index.len() == head.len() + rows + foot.len()
            && index.starts_with(&head)
            && index.ends_with(&foot)
            && self
                .rows
                .first()
                .is_none_or(|r| r.as_ptr() as usize - index.as_ptr() as usize == head.len())
    }

    /// The first of `paths` that an artifact line of a fragment other than
    /// those in `skip` may claim. Errs on the side of yes (the caller then
    /// rebuilds in full, which decides): it looks for a `"path":` followed by
    /// the path's JSON text anywhere in a line. One pass over the lines.
    pub fn claimant(&self, paths: &[&str], skip: &BTreeSet<&str>) -> Option<String> {
        let (Some(first), Some(last)) = (self.lines.first(), self.lines.last()) else {
            return None;
        };
        // The artifact lines are one stretch of the manifest: search it whole
        // for each path, then see whose line a hit is on.
        let at = |s: &str| s.as_ptr() as usize - self.manifest.as_ptr() as usize;
        let (start, end) = (at(first), at(last) + last.len());
        let stretch = &self.manifest[start..end];
        let starts: Vec<usize> = self.lines.iter().map(|l| at(l) - start).collect();
        let line_owner: Vec<usize> = self
            .pieces
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.lines.clone().map(move |_| i))
            .collect();
        for path in paths {
            let needle = format!("\"path\":{}", json_string(path));
            for (hit, _) in stretch.match_indices(&needle) {
                // The token must end there: `"path":"a"` is not `"path":"ab"`.
                if !matches!(
                    stretch.as_bytes().get(hit + needle.len()),
                    Some(b',' | b'}')
                ) {
                    continue;
                }
                let line = starts.partition_point(|&s| s <= hit) - 1;
                let owner = &self.pieces[line_owner[line]];
                if !skip.contains(owner.key) {
                    return Some((*path).to_owned());
                }
            }
        }
        None
    }
}

/// Why [`splice`] could not splice.
#[derive(Debug)]
pub enum NotSpliced {
    /// A path may be claimed twice: rebuild in full, which decides and names it.
    MayClaimTwice(String),
    /// Two changed fragments claim one path.
    Duplicate(DuplicatePath),
}

/// Bytes in pieces: runs of the previous outputs, borrowed, and new text.
/// Written out and hashed piece by piece, never joined.
pub type Rope<'a> = Vec<Cow<'a, [u8]>>;

/// The two files of a splice, as ropes over the previous outputs.
#[derive(Debug)]
pub struct Spliced<'a> {
    /// `manifest.json`.
    pub manifest: Rope<'a>,
    /// `index.md`.
    pub index: Rope<'a>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed.
    pub artifacts: usize,
}

impl Spliced<'_> {
    /// Both files joined (for tests and small catalogues).
    pub fn to_outputs(&self) -> Outputs {
        Outputs {
            manifest: self.manifest.concat(),
            index: self.index.concat(),
            fragments: self.fragments,
            artifacts: self.artifacts,
        }
    }
}

/// Builds a [`Rope`] over `base`: consecutive items of a list that were
/// consecutive in `base` too, with the same separator between them, become
/// one borrowed run.
struct RopeBuilder<'a> {
    base: &'a str,
    parts: Rope<'a>,
    /// The borrowed run being extended: a byte range of `base`.
    open: Option<(usize, usize)>,
    sep: &'static [u8],
    first: bool,
}

impl<'a> RopeBuilder<'a> {
    fn new(base: &'a str) -> Self {
        RopeBuilder {
            base,
            parts: Vec::new(),
            open: None,
            sep: b"",
            first: true,
        }
    }

    fn flush(&mut self) {
        if let Some((s, e)) = self.open.take() {
            self.parts.push(Cow::Borrowed(&self.base.as_bytes()[s..e]));
        }
    }

    /// Text outside any list.
    fn text(&mut self, bytes: impl Into<Cow<'a, [u8]>>) {
        self.flush();
        self.parts.push(bytes.into());
    }

    /// Start a list whose items are joined by `sep`.
    fn list(&mut self, sep: &'static [u8]) {
        self.flush();
        self.sep = sep;
        self.first = true;
    }

    /// An item of the list that is a slice of `base`.
    fn borrowed(&mut self, item: &'a str) {
        let start = item.as_ptr() as usize - self.base.as_ptr() as usize;
        let end = start + item.len();
        if !self.first {
            if let Some((s, e)) = self.open {
                if start >= e && short_eq(&self.base.as_bytes()[e..start], self.sep) {
                    self.open = Some((s, end));
                    return;
                }
            }
            self.flush();
            self.parts.push(Cow::Borrowed(self.sep));
        }
        self.first = false;
        self.open = Some((start, end));
    }

    /// An item of the list that is new text.
    fn owned(&mut self, item: Vec<u8>) {
        self.flush();
        if !self.first {
            self.parts.push(Cow::Borrowed(self.sep));
        }
        self.first = false;
        self.parts.push(Cow::Owned(item));
    }

    fn finish(mut self) -> Rope<'a> {
        self.flush();
        self.parts
    }
}

/// The outputs of `old` with the fragments `removed` gone and `changed`
/// (added or modified) put in their place, for the fragments tree `source`.
///
/// The result borrows every unchanged run of the previous outputs, so that
/// besides them only the changed fragments' text is held.
pub fn splice<'a>(
    old: &Old<'a>,
    removed: &BTreeSet<&str>,
    changed: Vec<Fragment>,
    source: &str,
    dir: &str,
) -> Result<Spliced<'a>, NotSpliced> {
    let index_text = old
        .index
        .expect("splice needs the old index: Old::cut(manifest, Some(index))");
    // Duplicates among the changed fragments, reported as a full build would.
    let changed =
        crate::manifest::Manifest::build(changed, source).map_err(NotSpliced::Duplicate)?;
    let mut skip: BTreeSet<&str> = removed.clone();
    skip.extend(changed.fragments().iter().map(|f| f.key.as_str()));
    let paths: Vec<&str> = changed.artifacts().map(|a| path_of(a.fields)).collect();
    if let Some(path) = old.claimant(&paths, &skip) {
        return Err(NotSpliced::MayClaimTwice(path));
    }
    // Each changed fragment rendered alone.
    let mut new: Vec<Writer> = changed
        .fragments()
        .iter()
        .map(|f| {
            let mut w = Writer::new(source, Some(dir), false);
            let _ = w.push(f);
            w
        })
        .collect();
    // The order of the parts: kept pieces and new fragments by natural key.
    enum Part<'p, 'a> {
        Kept(&'p Piece<'a>),
        New(usize),
    }
    let mut parts: Vec<Part<'_, 'a>> = Vec::with_capacity(old.pieces.len() + new.len());
    let mut fresh = changed.fragments().iter().enumerate().peekable();
    for piece in &old.pieces {
        while let Some((i, _)) =
            fresh.next_if(|(_, f)| natural_cmp(f.key.as_str(), piece.key).is_lt())
        {
            parts.push(Part::New(i));
        }
        if !skip.contains(piece.key) {
            parts.push(Part::Kept(piece));
        }
    }
    parts.extend(fresh.map(|(i, _)| Part::New(i)));
    let (mut fragments, mut artifacts) = (0, 0);
    let mut without = Vec::new();
    for part in &parts {
        let (key, n) = match part {
            Part::Kept(p) => (p.key, p.lines.len()),
            Part::New(i) => (changed.fragments()[*i].key.as_str(), new[*i].artifacts),
        };
        fragments += 1;
        artifacts += n;
        if n == 0 {
            without.push(key);
        }
    }
    let mut manifest = RopeBuilder::new(old.manifest);
    manifest.text(manifest_head(source, fragments > 0));
    manifest.list(b",\n");
    for part in &parts {
        match part {
            Part::Kept(p) => manifest.borrowed(p.block),
            Part::New(i) => manifest.owned(std::mem::take(&mut new[*i].blocks)),
        }
    }
    manifest.text(manifest_middle(fragments > 0, artifacts > 0));
    manifest.list(b",\n");
    for part in &parts {
        match part {
            Part::Kept(p) => old.lines[p.lines.clone()]
                .iter()
                .for_each(|l| manifest.borrowed(l)),
            Part::New(i) if !new[*i].lines.is_empty() => {
                manifest.owned(std::mem::take(&mut new[*i].lines));
            }
            Part::New(_) => {}
        }
    }
    manifest.text(manifest_tail(artifacts > 0));
    let (_, fragments_dir) = index::layout(dir);
    let mut page = RopeBuilder::new(index_text);
    let mut head = String::with_capacity(512);
    index::header(&mut head, &fragments_dir, source, artifacts, fragments);
    page.text(head.into_bytes());
    page.list(b"");
    for part in &parts {
        match part {
            Part::Kept(p) => old.rows[p.lines.clone()]
                .iter()
                .for_each(|r| page.borrowed(r)),
            Part::New(i) if !new[*i].rows.is_empty() => {
                page.owned(std::mem::take(&mut new[*i].rows).into_bytes());
            }
            Part::New(_) => {}
        }
    }
    let mut foot = String::new();
    index::footer(&mut foot, without);
    page.text(foot.into_bytes());
    Ok(Spliced {
        manifest: manifest.finish(),
        index: page.finish(),
        fragments,
        artifacts,
    })
}

/// The manifest up to its first fragment entry.
fn manifest_head(source: &str, has_fragments: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(source.len() + 96);
    head.extend_from_slice(b"{\n  \"version\": 1,\n  \"source\": ");
    head.extend_from_slice(json_string(source).as_bytes());
    head.extend_from_slice(if has_fragments {
        b",\n  \"fragments\": {\n"
    } else {
        b",\n  \"fragments\": {}"
    });
    head
}

/// Between the last fragment entry and the first artifact line.
fn manifest_middle(has_fragments: bool, has_artifacts: bool) -> &'static [u8] {
    match (has_fragments, has_artifacts) {
        (true, true) => b"\n  },\n  \"artifacts\": [\n",
        (true, false) => b"\n  },\n  \"artifacts\": []",
        (false, true) => b",\n  \"artifacts\": [\n",
        (false, false) => b",\n  \"artifacts\": []",
    }
}

/// After the last artifact line.
fn manifest_tail(has_artifacts: bool) -> &'static [u8] {
    if has_artifacts {
        b"\n  ]\n}\n"
    } else {
        b"\n}\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    const NEXT: &str = "0123456789012345678901234567890123456789";

    fn fragment(key: &str, json: &str) -> Fragment {
        let key = FragmentKey::new(key).expect("test keys are valid");
        Fragment::parse(key, json.as_bytes()).expect("test fragments are valid")
    }

    fn full(fragments: &[Fragment], source: &str) -> Outputs {
        let manifest = Manifest::build(fragments.to_vec(), source).expect("no duplicates");
        let mut w = Writer::new(source, Some("catalogue"), true);
        for f in manifest.fragments() {
            w.push(f).expect("no duplicates");
        }
        w.finish()
    }

    use crate::publish::Jitter as Rng;

    fn random_fragment(rng: &mut Rng, key: &str, paths: &[&str]) -> Fragment {
        let mut arts = Vec::new();
        let n = rng.below(4);
        for i in 0..n {
            let path = paths[rng.below(paths.len())];
            let title = ["T", "a | b", "x\ny", "<b>", "é \u{202e}"][rng.below(5)];
            // Now and then two fragments (or one, twice) claim a path.
            let path = if rng.below(8) == 0 {
                format!("{path}/{}", rng.below(3))
            } else {
                format!("{path}/{key}/{i}")
            };
            arts.push(serde_json::json!({"path": path, "title": title, "n": rng.below(100)}));
        }
        let mut top = serde_json::Map::new();
        match rng.below(3) {
            0 => {}
            1 => {
                top.insert("issue".into(), Value::from(rng.below(50) + 1));
            }
            _ => {
                top.insert("issue".into(), Value::from(format!("{}", rng.below(9))));
                top.insert(
                    "run".into(),
                    serde_json::json!({"id": rng.below(9), "tags": ["a", "b"]}),
                );
            }
        }
        top.insert("artifacts".into(), Value::Array(arts));
        fragment(key, &Value::Object(top).to_string())
    }

    #[test]
    fn the_writer_and_the_manifest_agree_on_empty_and_small_catalogues() {
        for set in [vec![], vec![fragment("k", r#"{"artifacts":[]}"#)]] {
            let out = full(&set, TREE);
            let m = Manifest::build(set.clone(), TREE).expect("ok");
            assert_eq!(out.manifest, m.to_json());
            assert_eq!(out.index, index::render(&m, "catalogue").into_bytes());
            assert!(Old::cut(&out.manifest, Some(&out.index)).is_some());
        }
    }

    #[test]
    fn the_rope_holds_the_bytes_of_the_joined_files() {
        let mut rng = Rng::seeded(7);
        let keys = ["a", "issue-2", "issue-10", "z"];
        for round in 0..50 {
            // Round 0 has no fragments; random_fragment gives some none.
            let set: Vec<Fragment> = keys[..round % 5]
                .iter()
                .map(|key| random_fragment(&mut rng, key, &["docs", "c|d"]))
                .collect();
            // A path claimed twice: no outputs to compare.
            let Ok(manifest) = Manifest::build(set, TREE) else {
                continue;
            };
            let [mut joined, mut rope] = [0, 1].map(|_| Writer::new(TREE, Some("catalogue"), true));
            for f in manifest.fragments() {
                joined.push(f).expect("no duplicates");
                rope.push(f).expect("no duplicates");
            }
            assert_eq!(
                rope.finish_rope().to_outputs(),
                joined.finish(),
                "round {round}"
            );
        }
    }

    #[test]
    fn cut_refuses_what_the_writer_did_not_write() {
        let set = vec![
            fragment(
                "issue-1",
                r#"{"issue":1,"artifacts":[{"path":"a"},{"path":"b"}]}"#,
            ),
            fragment("issue-2", r#"{"artifacts":[{"path":"c"}]}"#),
        ];
        let out = full(&set, TREE);
        let m = String::from_utf8(out.manifest.clone()).expect("utf8");
        assert!(Old::cut(m.as_bytes(), Some(&out.index)).is_some());
        for edited in [
            m.replace(
                "    {\"fragment\":\"issue-2\"",
                "    {\"fragment\":\"issue-0\"",
            ),
            m.replace("\"path\":\"a\"}", "\"path\":\"a\"}\n"),
            m.replace("  \"version\": 1", "  \"version\": 2"),
            m.replace("\n}\n", "\n}"),
            format!("{m}\n"),
            m.replacen("    \"issue-1\"", "    \"issue-3\"", 1),
        ] {
            assert!(
                Old::cut(edited.as_bytes(), Some(&out.index)).is_none(),
                "accepted an edited manifest:\n{edited}"
            );
        }
        let index = String::from_utf8(out.index.clone()).expect("utf8");
        let fewer = index.replacen("| #1 |", "x #1 |", 1);
        assert!(Old::cut(&out.manifest, Some(fewer.as_bytes())).is_none());
    }

    #[test]
    fn a_new_claim_on_an_unchanged_fragment_s_path_is_not_spliced() {
        let set = vec![
            fragment(
                "issue-1",
                r#"{"artifacts":[{"meta":{"path":"nested"},"path":"x \"q\".md"}]}"#,
            ),
            fragment("issue-2", r#"{"artifacts":[{"path":"y"}]}"#),
        ];
        let out = full(&set, TREE);
        let old = Old::cut(&out.manifest, Some(&out.index)).expect("cut");
        let none = BTreeSet::new();
        let claim = |json: &str| {
            splice(
                &old,
                &none,
                vec![fragment("issue-3", json)],
                NEXT,
                "catalogue",
            )
        };
        assert!(matches!(
            claim(r#"{"artifacts":[{"path":"x \"q\".md"}]}"#),
            Err(NotSpliced::MayClaimTwice(p)) if p == "x \"q\".md"
        ));
        assert!(matches!(
            claim(r#"{"artifacts":[{"path":"y"}]}"#),
            Err(NotSpliced::MayClaimTwice(_))
        ));
        // A nested `path` is not a claim, but errs on the side of a full rebuild.
        assert!(matches!(
            claim(r#"{"artifacts":[{"path":"nested"}]}"#),
            Err(NotSpliced::MayClaimTwice(_))
        ));
        // Replacing the claimant itself is fine.
        let moved = splice(
            &old,
            &BTreeSet::from(["issue-1"]),
            vec![fragment(
                "issue-3",
                r#"{"artifacts":[{"path":"x \"q\".md"}]}"#,
            )],
            NEXT,
            "catalogue",
        )
        .expect("spliced");
        let mut next = set[1..].to_vec();
        next.push(fragment(
            "issue-3",
            r#"{"artifacts":[{"path":"x \"q\".md"}]}"#,
        ));
        assert_eq!(moved.to_outputs(), full(&next, NEXT));
    }

    /// Batches rendered apart and absorbed in order give the bytes, and the
    /// duplicate error, of pushing every fragment to one writer.
    #[test]
    fn absorbed_batches_equal_one_writer() {
        let mut rng = Rng::seeded(0x9e37_79b9_7f4a_7c15);
        let paths = ["docs", "src"];
        for round in 0..300 {
            let mut set: Vec<Fragment> = (0..rng.below(12))
                .map(|i| random_fragment(&mut rng, &format!("issue-{i}"), &paths))
                .collect();
            set.sort_by(|a, b| a.key.cmp(&b.key));
            let mut one = Writer::new(TREE, Some("catalogue"), true);
            let want = set
                .iter()
                .try_for_each(|f| one.push(f))
                .map(|()| one.finish());
            let mut main = Writer::new(TREE, Some("catalogue"), true);
            let size = 1 + rng.below(4);
            let got = set
                .chunks(size)
                .try_for_each(|chunk| {
                    let mut batch = Writer::batch(Some("catalogue"));
                    for f in chunk {
                        let _ = batch.push(f);
                    }
                    main.absorb(batch)
                })
                .map(|()| main.finish());
            assert_eq!(got, want, "round {round}, batches of {size}");
        }
    }

    /// Random catalogues, random changes (adds, modifications, deletions,
    /// renames): every splice equals a full rebuild byte for byte.
    #[test]
    fn splices_equal_full_rebuilds() {
        let mut rng = Rng::seeded(0x2545_f491_4f6c_dd1d);
        let keys: Vec<String> = (0..14)
            .map(|i| match i % 3 {
                0 => format!("issue-{i}"),
                1 => format!("issue-{}", i * 10),
                _ => format!("k{i}.x"),
            })
            .collect();
        let paths = ["docs", "src", "a b"];
        let mut spliced = 0;
        for _round in 0..400 {
            let mut current: Vec<Fragment> = Vec::new();
            for k in &keys {
                if rng.below(2) == 0 {
                    current.push(random_fragment(&mut rng, k, &paths));
                }
            }
            if Manifest::build(current.clone(), TREE).is_err() {
                continue;
            }
            let before = full(&current, TREE);
            let old = Old::cut(&before.manifest, Some(&before.index))
                .expect("the writer's own outputs cut");
            assert_eq!(old.source, TREE);
            let mut next = current.clone();
            let mut removed: BTreeSet<&str> = BTreeSet::new();
            let mut changed = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let k = keys[rng.below(keys.len())].as_str();
                let at = next.iter().position(|f| f.key.as_str() == k);
                match (rng.below(3), at) {
                    (0, Some(i)) => {
                        next.remove(i);
                        changed.retain(|f: &Fragment| f.key.as_str() != k);
                        removed.insert(k);
                    }
                    (1, Some(i)) => {
                        // A rename: the same content under a key not present.
                        let to = keys
                            .iter()
                            .find(|n| !next.iter().any(|f| f.key.as_str() == n.as_str()));
                        if let Some(to) = to {
                            let f = next.remove(i);
                            removed.insert(k);
                            changed.retain(|c: &Fragment| c.key.as_str() != k);
                            let moved = Fragment {
                                key: FragmentKey::new(to).expect("valid"),
                                ..f
                            };
                            let moved =
                                fragment(to, &String::from_utf8(moved.to_bytes()).expect("utf8"));
                            removed.remove(to.as_str());
                            changed.push(moved.clone());
                            next.push(moved);
                        }
                    }
                    _ => {
                        let f = random_fragment(&mut rng, k, &paths);
                        if let Some(i) = at {
                            next.remove(i);
                        }
                        removed.remove(k);
                        changed.retain(|c: &Fragment| c.key.as_str() != k);
                        changed.push(f.clone());
                        next.push(f);
                    }
                }
            }
            let want = Manifest::build(next.clone(), NEXT);
            let edits = removed.len() + changed.len();
            let got = splice(&old, &removed, changed, NEXT, "catalogue");
            match (want, got) {
                (Ok(_), Ok(got)) => {
                    assert_eq!(got.to_outputs(), full(&next, NEXT));
                    // Unchanged runs are borrowed whole, not line by line.
                    assert!(
                        got.manifest.len() <= 3 + 8 * (edits + 1),
                        "{} pieces for {edits} edits",
                        got.manifest.len()
                    );
                    spliced += 1;
                }
                (Err(_), Err(_)) => {}
                (Ok(_), Err(NotSpliced::MayClaimTwice(_))) => {}
                (want, got) => panic!("full {want:?}, spliced {got:?}"),
            }
        }
        assert!(spliced > 250, "only {spliced} of 400 rounds spliced");
    }
}
