//! [`Writer`]: both files' bytes, one fragment at a time, in natural key order.

use std::borrow::Cow;
use std::collections::{hash_map::Entry, BTreeMap, BTreeSet, HashMap};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::layout::{conflicts_tail, json_string, manifest_head, manifest_middle, manifest_tail};
use super::rope::{Outputs, Page, Rope, Spliced};
use crate::core::fragment::{field, Fragment};
use crate::core::index;
use crate::core::index::pages::{self, Links, Listed};
use crate::core::key::FragmentKey;
use crate::core::manifest::{ArtifactEntry, Conflict, DuplicatePath};

/// Builds both files from fragments given in natural key order.
pub struct Writer {
    pub(super) source: String,
    /// `(link prefix, fragments folder)` of the index; None: no index.
    pub(super) index: Option<(String, String)>,
    /// The entries of the manifest's `fragments` object, joined by ",\n".
    pub(super) blocks: Vec<u8>,
    /// The manifest's artifact lines, joined by ",\n".
    pub(super) lines: Vec<u8>,
    /// The earlier layout's table rows, each ending in "\n" (only with `earlier`).
    pub(super) rows: String,
    /// Write the earlier, single-table layout instead of the pages.
    pub(super) earlier: bool,
    /// How the pages link.
    pub(super) links: Links,
    /// The rows of the open page (the pages cut have dropped theirs), each
    /// ending in "\n".
    pub(super) page_rows: String,
    /// The fragments as the pages list them: those of the open page, and
    /// the newest before it (for the front page); earlier ones are dropped.
    pub(super) listed: Vec<ListedEntry>,
    /// Artifacts by kind key, every claim counted.
    pub(super) kinds: HashMap<String, usize>,
    /// Keys of the fragments without artifacts.
    pub(super) without: Vec<String>,
    pub(super) fragments: usize,
    pub(super) artifacts: usize,
    /// What it records of the artifact paths each fragment claims.
    claims: Claims,
    /// The pages cut so far, when it writes the paged index and checks
    /// claims (a main writer, not a batch).
    cut: Option<Cut>,
    /// Bytes of `blocks` and of `lines` handed out by [`Writer::take`].
    taken: (usize, usize),
}

/// What a main writer hands out before it finishes ([`Writer::take`]):
/// bytes that nothing pushed later changes.
#[derive(Debug, Default)]
pub struct Taken {
    /// The next bytes of the manifest up to the artifact lines: the first
    /// ones taken start with the manifest's head.
    pub blocks: Vec<u8>,
    /// The next bytes of the artifact lines.
    pub lines: Vec<u8>,
    /// The pages finished since the last take: file name, bytes.
    pub pages: Vec<(String, Vec<u8>)>,
}

/// The pages a main writer has cut as the fragments came: a page is done
/// once the fragment ending it is pushed ([`pages::ends_page`]).
#[derive(Debug, Default)]
struct Cut {
    /// Fragments on each page cut.
    lengths: Vec<usize>,
    /// The first and last key of each page cut.
    keys: Vec<(Box<str>, Box<str>)>,
    /// Pages cut and not taken yet: file name, bytes.
    out: Vec<(String, Vec<u8>)>,
    /// The first entry of `listed` on the open page: the rows of the entries
    /// from here on are in `page_rows`, and no earlier rows are.
    open: usize,
    /// The first entry of `listed` not yet looked at.
    scanned: usize,
}

/// One fragment as the pages list it; its rows are `page_rows[..rows_end]`
/// after the previous entry's.
#[derive(Debug)]
pub(super) struct ListedEntry {
    pub(super) key: Box<str>,
    pub(super) issue: Box<str>,
    pub(super) rows_end: usize,
    pub(super) artifacts: usize,
}

/// The artifact paths a writer has seen, by the fragment claiming them.
enum Claims {
    /// Not recorded: the caller checked duplicates already.
    Off,
    /// Checked on every push: path -> its first claim, (index into `keys`,
    /// artifact line); the paths claimed again -> every claim.
    Check {
        keys: Vec<FragmentKey>,
        by_path: HashMap<Box<str>, (u32, u32)>,
        again: BTreeMap<Box<str>, Vec<(u32, u32)>>,
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

/// serde_json's pretty layout (two spaces a level) for a value nested two
/// levels deep: every line after the first starts four spaces further in,
/// as a fragment's block in the manifest does. Written straight into the
/// buffer, without a pass over the bytes to indent them. (serde_json's own
/// `PrettyFormatter` always starts at the left margin, so it cannot be
/// used; these methods are its, with a starting level.)
struct Nested {
    level: usize,
    has_value: bool,
}

impl Nested {
    /// For a value that starts two levels (four spaces) in.
    fn new() -> Nested {
        Nested {
            level: 2,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + std::io::Write>(
        &self,
        writer: &mut W,
        comma: bool,
    ) -> std::io::Result<()> {
        writer.write_all(if comma { b",\n" } else { b"\n" })?;
        for _ in 0..self.level {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    /// `[` or `{`: one level further in, nothing in it yet.
    fn open<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    /// `]` or `}`, on a line of its own unless the array or object is empty.
    fn close<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, false)?;
        }
        writer.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(writer, !first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(writer, !first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

fn separate(buffer: &mut Vec<u8>) {
    separate_after(buffer, 0);
}

/// [`separate`], for a buffer `taken` bytes of which were handed out.
fn separate_after(buffer: &mut Vec<u8>, taken: usize) {
    if !buffer.is_empty() || taken > 0 {
        buffer.extend_from_slice(b",\n");
    }
}

impl Writer {
    /// A writer for the fragments tree `source`. `dir` is the catalogue
    /// folder, for the index's links; None writes no index. With
    /// `check_duplicates`, [`Writer::push`] records a path claimed twice as a
    /// conflict, and (with an index) pages are cut as the fragments come,
    /// so that [`Writer::take`] can hand them out.
    pub fn new(source: &str, dir: Option<&str>, check_duplicates: bool) -> Writer {
        Writer {
            source: source.to_owned(),
            index: dir.map(index::layout),
            blocks: Vec::new(),
            lines: Vec::new(),
            rows: String::new(),
            earlier: false,
            links: dir.map(|d| Links::new(d, None)).unwrap_or_default(),
            page_rows: String::new(),
            listed: Vec::new(),
            kinds: HashMap::new(),
            without: Vec::new(),
            fragments: 0,
            artifacts: 0,
            claims: if check_duplicates {
                Claims::Check {
                    keys: Vec::new(),
                    by_path: HashMap::new(),
                    again: BTreeMap::new(),
                }
            } else {
                Claims::Off
            },
            cut: (check_duplicates && dir.is_some()).then(Cut::default),
            taken: (0, 0),
        }
    }

    /// Link issue numbers through `template` (`{issue}` in a URL; see
    /// [`crate::core::index::links::usable_template`]).
    pub fn with_issue_url(mut self, template: Option<&str>) -> Writer {
        if let Some((prefix, _)) = &self.index {
            let dir_links = Links {
                page_prefix: format!("../{prefix}"),
                front_prefix: prefix.clone(),
                issue_url: template.and_then(index::links::usable_template),
            };
            self.links = dir_links;
        }
        self
    }

    /// Write `index.md` in the earlier layout, one table of every artifact
    /// and no pages: what versions before the pages wrote, which
    /// `verify --history` judges their commits by.
    pub fn earlier_layout(mut self) -> Writer {
        self.earlier = true;
        self.cut = None;
        self
    }

    /// A writer for a batch of consecutive fragments, rendered apart (on
    /// another thread) and then added to the main writer by
    /// [`Writer::absorb`], which checks the paths it claims.
    pub fn batch(dir: Option<&str>) -> Writer {
        let mut writer = Writer::new("", dir, false);
        writer.cut = None;
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
    /// its paths against all claimed before, in order: the conflicts are the
    /// ones pushing its fragments here would record.
    pub fn absorb(&mut self, batch: Writer) {
        if let (
            Claims::Check {
                keys,
                by_path,
                again,
            },
            Claims::Record {
                keys: theirs,
                paths,
            },
        ) = (&mut self.claims, batch.claims)
        {
            let offset = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
            let lines = u32::try_from(self.artifacts).expect("fewer than 2^32 artifacts");
            keys.extend(theirs);
            for (n, (path, i)) in paths.into_iter().enumerate() {
                let claim = (offset + i, lines + n as u32);
                claim_path(by_path, again, path, claim);
            }
        }
        for (ours, theirs, taken) in [
            (&mut self.blocks, batch.blocks, self.taken.0),
            (&mut self.lines, batch.lines, self.taken.1),
        ] {
            if !theirs.is_empty() {
                separate_after(ours, taken);
                ours.extend_from_slice(&theirs);
            }
        }
        self.rows.push_str(&batch.rows);
        let offset = self.page_rows.len();
        self.page_rows.push_str(&batch.page_rows);
        self.listed.extend(batch.listed.into_iter().map(|mut e| {
            e.rows_end += offset;
            e
        }));
        for (kind, n) in batch.kinds {
            *self.kinds.entry(kind).or_default() += n;
        }
        self.without.extend(batch.without);
        self.fragments += batch.fragments;
        self.artifacts += batch.artifacts;
        self.cut_pages();
    }

    /// Cut the pages that the fragments pushed so far complete, each
    /// rendered at once and its rows dropped.
    fn cut_pages(&mut self) {
        let Some(cut) = &mut self.cut else {
            return;
        };
        let mut start = 0;
        let mut i = cut.scanned;
        while i < self.listed.len() {
            let on = i + 1 - cut.open;
            if on == pages::PAGE_FRAGMENTS || pages::ends_page(&self.listed[i].key) {
                let listed = with_rows(&self.listed[cut.open..=i], &self.page_rows, start);
                let (first, last) = (&self.listed[cut.open].key, &self.listed[i].key);
                cut.out
                    .push((pages::page_file(first), pages::page(&listed)));
                cut.lengths.push(on);
                cut.keys.push((first.clone(), last.clone()));
                start = self.listed[i].rows_end;
                cut.open = i + 1;
            }
            i += 1;
        }
        cut.scanned = i;
        if start > 0 {
            self.page_rows.drain(..start);
            for e in &mut self.listed[cut.open..] {
                e.rows_end -= start;
            }
        }
        // Of the fragments on pages cut, the front page lists only the
        // newest: the others have been rendered and are dropped.
        let done = cut.open.saturating_sub(pages::NEWEST);
        if done >= pages::PAGE_FRAGMENTS {
            self.listed.drain(..done);
            cut.open -= done;
            cut.scanned -= done;
        }
    }

    /// Bytes held that [`Writer::take`] would hand out.
    pub fn held(&self) -> usize {
        let pages = self
            .cut
            .as_ref()
            .map_or(0, |c| c.out.iter().map(|(_, b)| b.len()).sum());
        self.blocks.len() + self.lines.len() + pages
    }

    /// Hand out the bytes no later fragment changes: the manifest's blocks
    /// and artifact lines so far, and the pages finished, so that a caller
    /// can write them out instead of holding them. After a take, the whole
    /// manifest is every `blocks` taken, then [`Writer::finish_rope`]'s
    /// `manifest[0]`, then every `lines` taken, then the rest of its
    /// manifest pieces; its pages are every page taken and its own.
    ///
    /// When a path has been claimed twice ([`Writer::conflicts`]), finishing
    /// moves claims out of the artifact lines: the lines taken must then be
    /// given back first ([`Writer::give_back_lines`]).
    pub fn take(&mut self) -> Taken {
        let mut blocks = std::mem::take(&mut self.blocks);
        if self.taken.0 == 0 && !blocks.is_empty() {
            blocks.splice(0..0, manifest_head(&self.source, true));
        }
        self.taken.0 += blocks.len();
        let lines = std::mem::take(&mut self.lines);
        self.taken.1 += lines.len();
        let pages = self
            .cut
            .as_mut()
            .map(|c| std::mem::take(&mut c.out))
            .unwrap_or_default();
        Taken {
            blocks,
            lines,
            pages,
        }
    }

    /// Whether finishing needs the artifact lines taken so far back: a path
    /// is claimed twice, and some lines were taken.
    pub fn needs_lines_back(&self) -> bool {
        self.taken.1 > 0 && matches!(&self.claims, Claims::Check { again, .. } if !again.is_empty())
    }

    /// Put back every artifact line taken (all of them, in order), before
    /// finishing a writer that [`Writer::needs_lines_back`].
    pub fn give_back_lines(&mut self, mut lines: Vec<u8>) {
        assert_eq!(lines.len(), self.taken.1, "every line taken is given back");
        lines.extend_from_slice(&self.lines);
        self.lines = lines;
        self.taken.1 = 0;
    }

    /// The paths claimed more than once so far, bytewise, each with its
    /// claimants in natural key order.
    pub fn conflicts(&self) -> Vec<Conflict> {
        match &self.claims {
            Claims::Check { keys, again, .. } => again
                .iter()
                .map(|(path, held)| Conflict {
                    path: path.to_string(),
                    fragments: held
                        .iter()
                        .map(|&(k, _)| keys[k as usize].clone())
                        .collect(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The first path claimed a second time, in the order the claims were
    /// pushed, with its first and second claimant: what
    /// [`crate::core::manifest::Manifest::build`] refuses with.
    pub fn first_duplicate(&self) -> Option<DuplicatePath> {
        let Claims::Check { keys, again, .. } = &self.claims else {
            return None;
        };
        let (path, held) = again.iter().min_by_key(|(_, held)| held[1].1)?;
        Some(DuplicatePath {
            path: path.to_string(),
            first: keys[held[0].0 as usize].clone(),
            second: keys[held[1].0 as usize].clone(),
        })
    }

    /// Add one fragment. Fragments must come in natural key order.
    ///
    /// Its artifacts are listed by path, bytewise. A path claimed twice is
    /// recorded as a conflict (made with `check_duplicates`): the finished
    /// files list it apart, with every claim, as [`crate::core::manifest::Manifest::build_with_conflicts`] does.
    pub fn push(&mut self, fragment: &Fragment) {
        let mut own: Vec<(&str, &Map<String, Value>)> = fragment
            .artifacts
            .iter()
            .map(|fields| (path_of(fields), fields))
            .collect();
        own.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        match &mut self.claims {
            Claims::Off => {}
            Claims::Check {
                keys,
                by_path,
                again,
            } => {
                let me = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
                let lines = u32::try_from(self.artifacts).expect("fewer than 2^32 artifacts");
                keys.push(fragment.key.clone());
                for (n, (path, _)) in own.iter().enumerate() {
                    claim_path(by_path, again, (*path).into(), (me, lines + n as u32));
                }
            }
            Claims::Record { keys, paths } => {
                let me = u32::try_from(keys.len()).expect("fewer than 2^32 fragments");
                keys.push(fragment.key.clone());
                paths.extend(own.iter().map(|(path, _)| ((*path).into(), me)));
            }
        }
        separate_after(&mut self.blocks, self.taken.0);
        self.blocks.extend_from_slice(b"    ");
        self.blocks
            .extend_from_slice(json_string(fragment.key.as_str()).as_bytes());
        self.blocks.extend_from_slice(b": ");
        let mut nested = serde_json::Serializer::with_formatter(&mut self.blocks, Nested::new());
        fragment
            .fields
            .serialize(&mut nested)
            .expect("a serde_json::Map always serialises");
        let paged = self.index.is_some() && !self.earlier;
        let issue = if paged {
            pages::issue_cell(fragment.issue(), &self.links)
        } else {
            String::new()
        };
        for (_, fields) in &own {
            let entry = ArtifactEntry { fragment, fields };
            separate_after(&mut self.lines, self.taken.1);
            self.lines.extend_from_slice(b"    ");
            serde_json::to_writer(&mut self.lines, &Line(entry))
                .expect("a serde_json::Map always serialises");
            match &self.index {
                Some((link_prefix, _)) if self.earlier => {
                    index::row(&mut self.rows, &entry, link_prefix);
                }
                Some(_) => {
                    pages::page_row(
                        &mut self.page_rows,
                        &issue,
                        fragment.key.as_str(),
                        fields,
                        &self.links,
                    );
                    let kind = pages::kind_key(field(fields, "kind"));
                    match self.kinds.get_mut(kind.as_ref()) {
                        Some(n) => *n += 1,
                        None => {
                            self.kinds.insert(kind.into_owned(), 1);
                        }
                    }
                }
                None => {}
            }
        }
        if paged {
            self.listed.push(ListedEntry {
                key: fragment.key.as_str().into(),
                issue: issue.into(),
                rows_end: self.page_rows.len(),
                artifacts: own.len(),
            });
        }
        if own.is_empty() {
            self.without.push(fragment.key.as_str().to_owned());
        }
        self.fragments += 1;
        self.artifacts += own.len();
        self.cut_pages();
    }

    /// Both files, each in pieces that are never joined: the manifest's
    /// head, fragment blocks and middle, its artifact lines, its tail; the
    /// index's head, its rows, its tail. Written out piece by piece, the
    /// bulk (lines and rows) is neither copied nor moved again.
    pub fn finish_rope(self) -> Spliced<'static> {
        let parts = self.parts();
        let mut index: Rope<'static> = Vec::new();
        let mut pages = Vec::new();
        match parts.index {
            IndexParts::None => {}
            IndexParts::Earlier(head, rows, foot) => {
                index = vec![
                    Cow::Owned(head.into_bytes()),
                    Cow::Owned(rows.into_bytes()),
                    Cow::Owned(foot.into_bytes()),
                ];
            }
            IndexParts::Paged(front, written) => {
                index = vec![Cow::Owned(front)];
                pages = written
                    .into_iter()
                    .map(|(file, bytes)| Page {
                        file,
                        bytes: Some(bytes),
                    })
                    .collect();
            }
        }
        Spliced {
            pages,
            manifest: vec![
                Cow::Owned(parts.blocks),
                Cow::Owned(parts.lines),
                parts.tail,
            ],
            index,
            fragments: parts.fragments,
            artifacts: parts.artifacts,
            conflicts: parts.conflicts,
        }
    }

    /// Both files, joined.
    ///
    /// The artifact lines, the bulk of the manifest, become the manifest in
    /// place: the smaller parts are inserted before them, so the peak holds
    /// each output once.
    pub fn finish(self) -> Outputs {
        assert_eq!(
            self.taken,
            (0, 0),
            "a writer taken from finishes with finish_rope"
        );
        let parts = self.parts();
        let mut manifest = parts.lines;
        manifest.extend_from_slice(&parts.tail);
        manifest.splice(0..0, parts.blocks);
        let (index, pages) = match parts.index {
            IndexParts::None => (Vec::new(), Vec::new()),
            IndexParts::Earlier(head, mut page, foot) => {
                page.insert_str(0, &head);
                page.push_str(&foot);
                (page.into_bytes(), Vec::new())
            }
            IndexParts::Paged(front, pages) => (front, pages),
        };
        Outputs {
            pages,
            manifest,
            index,
            fragments: parts.fragments,
            artifacts: parts.artifacts,
            conflicts: parts.conflicts,
        }
    }

    fn parts(self) -> Parts {
        let conflicts = self.conflicts();
        let Writer {
            source,
            index,
            mut blocks,
            mut lines,
            mut rows,
            earlier,
            links,
            page_rows,
            listed,
            kinds,
            without,
            fragments,
            mut artifacts,
            claims,
            cut,
            taken,
        } = self;
        let front_prefix = links.front_prefix.clone();
        // The contested claims' lines and rows move out of the table into the
        // conflicts, verbatim: rare, so only then are the lines split.
        let mut contested_lines = Vec::new();
        let mut contested_rows = String::new();
        if let Claims::Check { again, .. } = claims {
            if !again.is_empty() {
                assert_eq!(
                    taken.1, 0,
                    "the lines taken are given back before finishing"
                );
                let moved: BTreeSet<u32> = again
                    .values()
                    .flat_map(|held| held.iter().map(|&(_, line)| line))
                    .collect();
                let all_lines: Vec<&[u8]> = lines.split(|b| *b == b'\n').collect();
                let all_rows: Vec<&str> = rows.split_inclusive('\n').collect();
                let line_of = |n: u32| -> &[u8] {
                    let line = all_lines[n as usize];
                    let line = line.strip_suffix(b",").unwrap_or(line);
                    line.strip_prefix(b"    ").unwrap_or(line)
                };
                let mut kept_lines = Vec::with_capacity(lines.len());
                let mut kept_rows = String::with_capacity(rows.len());
                // Rows only when there is an index: one per line then.
                let row_of = |n: usize| all_rows.get(n).copied().unwrap_or("");
                // The pages keep every claim; the front page shows the
                // contested ones as the earlier layout wrote them.
                let contested_row = |n: u32| -> String {
                    if earlier {
                        row_of(n as usize).to_owned()
                    } else if index.is_some() {
                        earlier_row_of_line(line_of(n), &front_prefix)
                    } else {
                        String::new()
                    }
                };
                for (n, line) in all_lines.iter().enumerate() {
                    if moved.contains(&(n as u32)) {
                        continue;
                    }
                    let line = line.strip_suffix(b",").unwrap_or(line);
                    separate(&mut kept_lines);
                    kept_lines.extend_from_slice(line);
                    kept_rows.push_str(row_of(n));
                }
                for (conflict, held) in conflicts.iter().zip(again.values()) {
                    separate(&mut contested_lines);
                    contested_lines.extend_from_slice(b"    {\"path\":");
                    contested_lines.extend_from_slice(json_string(&conflict.path).as_bytes());
                    contested_lines.extend_from_slice(b",\"fragments\":[");
                    for (i, key) in conflict.fragments.iter().enumerate() {
                        if i > 0 {
                            contested_lines.push(b',');
                        }
                        contested_lines.extend_from_slice(json_string(key.as_str()).as_bytes());
                    }
                    contested_lines.extend_from_slice(b"],\"artifacts\":[");
                    for (i, &(_, line)) in held.iter().enumerate() {
                        if i > 0 {
                            contested_lines.push(b',');
                        }
                        contested_lines.extend_from_slice(line_of(line));
                        contested_rows.push_str(&contested_row(line));
                    }
                    contested_lines.extend_from_slice(b"]}");
                }
                artifacts -= moved.len();
                lines = kept_lines;
                rows = kept_rows;
            }
        }
        let has_fragments = taken.0 > 0 || !blocks.is_empty();
        let has_artifacts = taken.1 > 0 || !lines.is_empty();
        if taken.0 == 0 {
            blocks.splice(0..0, manifest_head(&source, has_fragments));
        }
        blocks.extend_from_slice(manifest_middle(has_fragments, has_artifacts));
        let tail = if conflicts.is_empty() {
            Cow::Borrowed(manifest_tail(has_artifacts))
        } else {
            Cow::Owned(conflicts_tail(has_artifacts, &contested_lines))
        };
        let index = match index {
            None => IndexParts::None,
            Some((_, fragments_dir)) if !earlier => {
                let mut cut = cut.unwrap_or_default();
                let open = with_rows(&listed[cut.open..], &page_rows, 0);
                // What no boundary ended: the last page.
                let mut at = 0;
                for n in pages::paginate(open.iter().map(|f| f.key)) {
                    let on = &open[at..at + n];
                    at += n;
                    cut.out.push((pages::page_file(on[0].key), pages::page(on)));
                    cut.lengths.push(n);
                    cut.keys.push((on[0].key.into(), on[n - 1].key.into()));
                }
                let last: Vec<Listed<'_>> = listed[listed.len().saturating_sub(pages::NEWEST)..]
                    .iter()
                    .map(|e| Listed {
                        key: &e.key,
                        issue: &e.issue,
                        rows: "",
                        artifacts: e.artifacts,
                    })
                    .collect();
                let page_keys: Vec<(&str, &str)> =
                    cut.keys.iter().map(|(a, b)| (&**a, &**b)).collect();
                let (front, list) = pages::finish_front(
                    &pages::Front {
                        fragments_dir: &fragments_dir,
                        source: &source,
                        links: &links,
                        fragments,
                        artifacts,
                        kinds: &kinds,
                        contested: &index::Contested {
                            paths: conflicts.len(),
                            rows: &contested_rows,
                        },
                    },
                    &cut.lengths,
                    &page_keys,
                    &last,
                );
                cut.out.extend(list);
                IndexParts::Paged(front, cut.out)
            }
            Some((_, fragments_dir)) => {
                let mut head = String::with_capacity(512);
                index::header(
                    &mut head,
                    &fragments_dir,
                    &source,
                    artifacts,
                    fragments,
                    &index::Contested {
                        paths: conflicts.len(),
                        rows: &contested_rows,
                    },
                );
                let mut foot = String::new();
                index::footer(&mut foot, without.iter().map(String::as_str));
                IndexParts::Earlier(head, rows, foot)
            }
        };
        Parts {
            blocks,
            lines,
            tail,
            index,
            fragments,
            artifacts,
            conflicts,
        }
    }
}

/// `entries` as the pages list them, their rows in `rows` from `from` on.
fn with_rows<'w>(entries: &'w [ListedEntry], rows: &'w str, mut from: usize) -> Vec<Listed<'w>> {
    entries
        .iter()
        .map(|e| {
            let own = &rows[from..e.rows_end];
            from = e.rows_end;
            Listed {
                key: &e.key,
                issue: &e.issue,
                rows: own,
                artifacts: e.artifacts,
            }
        })
        .collect()
}

/// Record that the claim `(key index, artifact line)` names `path`: the
/// first claim of a path is its owner; a later one makes a conflict.
fn claim_path(
    by_path: &mut HashMap<Box<str>, (u32, u32)>,
    again: &mut BTreeMap<Box<str>, Vec<(u32, u32)>>,
    path: Box<str>,
    claim: (u32, u32),
) {
    // The batch's own string moves into the map: no copy per path.
    match by_path.entry(path) {
        Entry::Vacant(slot) => {
            slot.insert(claim);
        }
        Entry::Occupied(taken) => {
            let first = *taken.get();
            again
                .entry(taken.key().clone())
                .or_insert_with(|| vec![first])
                .push(claim);
        }
    }
}

/// A finished [`Writer`]'s outputs before they are joined.
struct Parts {
    /// The manifest up to its first artifact line.
    blocks: Vec<u8>,
    /// The artifact lines.
    lines: Vec<u8>,
    /// The manifest after them (with the conflicts, when there are any).
    tail: Cow<'static, [u8]>,
    /// The index.
    index: IndexParts,
    fragments: usize,
    artifacts: usize,
    conflicts: Vec<Conflict>,
}

/// The index of a finished writer.
enum IndexParts {
    /// None asked for.
    None,
    /// The earlier layout's head, rows and tail.
    Earlier(String, String, String),
    /// The front page and the pages (file under `index/`, bytes).
    Paged(Vec<u8>, Vec<(String, Vec<u8>)>),
}

/// The earlier layout's row for the artifact `line` (a manifest artifact
/// line, as [`Line`] writes it), with links from the front page.
pub(super) fn earlier_row_of_line(line: &[u8], link_prefix: &str) -> String {
    let mut out = String::new();
    if let Ok(mut fields) = serde_json::from_slice::<Map<String, Value>>(line) {
        let key = match fields.shift_remove("fragment") {
            Some(Value::String(k)) => k,
            _ => String::new(),
        };
        let issue = fields.shift_remove("issue");
        index::row_of(&mut out, &key, issue.as_ref(), &fields, link_prefix);
    }
    out
}

/// An artifact's `path`; [`Fragment::parse`] guarantees it is a string.
pub(super) fn path_of(fields: &Map<String, Value>) -> &str {
    field(fields, "path").and_then(Value::as_str).unwrap_or("")
}
