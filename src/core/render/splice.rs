//! Cutting the previous outputs into per-fragment pieces ([`Old::cut`]) and
//! splicing the changed fragments into them ([`splice`]).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;

use super::layout::{json_string, manifest_head, manifest_middle, manifest_tail, MANIFEST_OPENING};
use super::rope::{Rope, Spliced};
use super::writer::{path_of, Writer};
use crate::core::fragment::Fragment;
use crate::core::index;
use crate::core::key::{natural_cmp, FragmentKey};
use crate::core::manifest::DuplicatePath;

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
            &index::Contested::NONE,
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
            let mut w = Writer::new(source, Some(dir), false);
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
    index::header(
        &mut head,
        &fragments_dir,
        source,
        artifacts,
        fragments,
        &index::Contested::NONE,
    );
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
        conflicts: Vec::new(),
    })
}
