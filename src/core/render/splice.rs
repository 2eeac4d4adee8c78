//! Cutting the previous outputs into per-fragment pieces ([`Old::cut`]) and
//! splicing the changed fragments into them ([`splice`]).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};
use std::ops::Range;

use super::layout::{json_string, manifest_head, manifest_middle, manifest_tail, MANIFEST_OPENING};
use super::rope::{Page, Rope, Spliced};
use super::writer::{path_of, Writer};
use crate::core::fragment::Fragment;
use crate::core::index::{self, pages};
use crate::core::key::{natural_cmp, FragmentKey};
use crate::core::manifest::DuplicatePath;

/// One fragment's share of the previous outputs.
#[derive(Debug)]
struct Piece<'a> {
    key: &'a str,
    /// Its entry of the manifest's `fragments` object, without separator.
    block: &'a str,
    /// Its artifact lines: indices into [`Old::lines`].
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
        // A manifest of an earlier layout (no `$schema` line) is not cut: the
        // caller rebuilds it in full once, in today's layout.
        let rest = manifest.strip_prefix(MANIFEST_OPENING)?;
        let mut it = lines_of(rest);
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
        Some(Old {
            source,
            manifest,
            index,
            pieces,
            lines,
        })
    }

    /// Whether the old front page is one a [`Writer`] wrote for the old
    /// manifest, with catalogue folder `dir` and the issue URL `template`:
    /// it opens with the provenance naming the same `source` and says issue
    /// numbers link the same way. An index of the earlier layout (one
    /// table), one restored from another commit, or one written with another
    /// template fails: splicing on it would keep what a full rebuild
    /// replaces. The pages themselves are taken as written, as the rows of
    /// the earlier layout were.
    pub fn index_matches(&self, dir: &str, template: Option<&str>) -> bool {
        let Some(index) = self.index else {
            return false;
        };
        let (_, fragments_dir) = index::layout(dir);
        let head = pages::front_head(&fragments_dir, &self.source);
        let links = pages::Links::new(dir, template);
        index.starts_with(&head)
            && index[head.len()..]
                .split_inclusive('\n')
                .any(|l| l == pages::links_line(&links))
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
    issue_url: Option<&str>,
    old_pages: &HashSet<String>,
) -> Result<Spliced<'a>, NotSpliced> {
    assert!(
        old.index.is_some(),
        "splice needs the old index: Old::cut(manifest, Some(index))"
    );
    // Duplicates among the changed fragments, reported as a full build would.
    let changed =
        crate::core::manifest::Manifest::build(changed, source).map_err(NotSpliced::Duplicate)?;
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
            let mut w = Writer::new(source, Some(dir), false).with_issue_url(issue_url);
            w.push(f);
            w
        })
        .collect();
    // The order of the parts: kept pieces and new fragments by natural key.
    enum Part<'p, 'a> {
        Kept(&'p Piece<'a>),
        New(usize),
    }
    let mut parts: Vec<Part<'_, 'a>> = Vec::with_capacity(old.pieces.len() + new.len());
    // The old piece each part is, for the kept ones.
    let mut origin: Vec<Option<usize>> = Vec::with_capacity(parts.capacity());
    let mut fresh = changed.fragments().iter().enumerate().peekable();
    for (at, piece) in old.pieces.iter().enumerate() {
        while let Some((i, _)) =
            fresh.next_if(|(_, f)| natural_cmp(f.key.as_str(), piece.key).is_lt())
        {
            parts.push(Part::New(i));
            origin.push(None);
        }
        if !skip.contains(piece.key) {
            parts.push(Part::Kept(piece));
            origin.push(Some(at));
        }
    }
    for (i, _) in fresh {
        parts.push(Part::New(i));
        origin.push(None);
    }
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
    // The pages: each new one that holds exactly the fragments of an old
    // one, none of them changed, is that page, kept by name; the others are
    // rendered, kept fragments from their manifest lines.
    let links = pages::Links::new(dir, issue_url);
    let keys: Vec<&str> = parts
        .iter()
        .map(|part| match part {
            Part::Kept(p) => p.key,
            Part::New(i) => changed.fragments()[*i].key.as_str(),
        })
        .collect();
    let lengths = pages::paginate(keys.iter().copied());
    let mut old_by_first: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut start = 0;
    for n in pages::paginate(old.pieces.iter().map(|p| p.key)) {
        old_by_first.insert(old.pieces[start].key, (start, n));
        start += n;
    }
    // A fragment as the pages list it, owned: (issue cell, rows, artifacts).
    let listing = |at: usize| -> (String, String, usize) {
        match &parts[at] {
            Part::New(i) => {
                let w = &new[*i];
                let e = &w.listed[0];
                (e.issue.to_string(), w.page_rows.clone(), e.artifacts)
            }
            Part::Kept(p) => kept_listing(old, p, &links),
        }
    };
    let mut out_pages = Vec::with_capacity(lengths.len() + 1);
    let mut page_keys = Vec::with_capacity(lengths.len());
    let mut start = 0;
    for &n in &lengths {
        let first = keys[start];
        page_keys.push((first, keys[start + n - 1]));
        let file = pages::page_file(first);
        let unchanged = old_pages.contains(&file)
            && origin[start].is_some_and(|o| {
                old_by_first.get(first) == Some(&(o, n))
                    && (0..n).all(|j| origin[start + j] == Some(o + j))
            });
        let bytes = if unchanged {
            None
        } else {
            let owned: Vec<(String, String, usize)> = (start..start + n).map(listing).collect();
            let listed: Vec<pages::Listed<'_>> = owned
                .iter()
                .zip(&keys[start..start + n])
                .map(|((issue, rows, artifacts), key)| pages::Listed {
                    key,
                    issue,
                    rows,
                    artifacts: *artifacts,
                })
                .collect();
            Some(pages::page(&listed))
        };
        out_pages.push(Page { file, bytes });
        start += n;
    }
    // Kinds: the kept lines' without parsing them, the new fragments'.
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for part in &parts {
        match part {
            Part::Kept(p) => {
                for line in &old.lines[p.lines.clone()] {
                    *kinds.entry(pages::kind_key_of_line(line)).or_default() += 1;
                }
            }
            Part::New(i) => {
                for (kind, n) in &new[*i].kinds {
                    *kinds.entry(kind.clone()).or_default() += n;
                }
            }
        }
    }
    let newest_from = parts.len().saturating_sub(pages::NEWEST);
    let newest_owned: Vec<(String, String, usize)> =
        (newest_from..parts.len()).map(listing).collect();
    let newest: Vec<pages::Listed<'_>> = newest_owned
        .iter()
        .zip(&keys[newest_from..])
        .map(|((issue, _, artifacts), key)| pages::Listed {
            key,
            issue,
            rows: "",
            artifacts: *artifacts,
        })
        .collect();
    let newest_pages = pages::pages_of(&lengths, &page_keys, newest_from, parts.len());
    let (_, fragments_dir) = index::layout(dir);
    let (front, list) = pages::front(
        &pages::Front {
            fragments_dir: &fragments_dir,
            source,
            links: &links,
            fragments,
            artifacts,
            kinds: &kinds,
            contested: &index::Contested::NONE,
        },
        &lengths,
        &page_keys,
        &newest,
        &newest_pages,
    );
    if let Some(list) = list {
        out_pages.push(Page {
            file: pages::PAGE_LIST.to_owned(),
            bytes: Some(list),
        });
    }
    let _ = without;
    Ok(Spliced {
        manifest: manifest.finish(),
        index: vec![Cow::Owned(front)],
        pages: out_pages,
        fragments,
        artifacts,
        conflicts: Vec::new(),
    })
}

/// A kept fragment as the pages list it, from its manifest lines (and its
/// block, when it has none): (issue cell, rows, artifacts). The same bytes
/// as [`Writer::push`] writes for the fragment: a line holds the fragment's
/// issue and the artifact's fields in their order, values as parsed.
fn kept_listing(old: &Old<'_>, piece: &Piece<'_>, links: &pages::Links) -> (String, String, usize) {
    let lines = &old.lines[piece.lines.clone()];
    let mut rows = String::new();
    let mut issue_cell = None;
    for line in lines {
        let Ok(mut fields) = serde_json::from_str::<Map<String, Value>>(line.trim_start()) else {
            continue;
        };
        fields.shift_remove("fragment");
        let issue = fields.shift_remove("issue");
        let cell = issue_cell.get_or_insert_with(|| pages::issue_cell(issue.as_ref(), links));
        pages::page_row(&mut rows, cell, piece.key, &fields, links);
    }
    let issue_cell = issue_cell.unwrap_or_else(|| {
        // No artifacts: the issue is in the fragment's entry.
        let entry = piece
            .block
            .split_once(": ")
            .and_then(|(_, object)| serde_json::from_str::<Map<String, Value>>(object).ok());
        pages::issue_cell(entry.as_ref().and_then(|e| e.get("issue")), links)
    });
    (issue_cell, rows, lines.len())
}
