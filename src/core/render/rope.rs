//! Bytes in pieces, and the two files as ropes.

use std::borrow::Cow;

/// Bytes in pieces: runs of the previous outputs, borrowed, and new text.
/// Written out and hashed piece by piece, never joined.
pub type Rope<'a> = Vec<Cow<'a, [u8]>>;

use crate::core::manifest::Conflict;

/// The two files of a splice, as ropes over the previous outputs.
#[derive(Debug)]
pub struct Spliced<'a> {
    /// `manifest.json`.
    pub manifest: Rope<'a>,
    /// `index.md`: the front page (the whole single table in the earlier layout).
    pub index: Rope<'a>,
    /// The pages under `index/`, in order; a page kept from the previous
    /// outputs has no bytes.
    pub pages: Vec<Page>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed (paths claimed once).
    pub artifacts: usize,
    /// Paths claimed more than once, listed apart (never from a splice).
    pub conflicts: Vec<Conflict>,
}

impl Spliced<'_> {
    /// Both files joined (for tests and small catalogues).
    pub fn to_outputs(&self) -> Outputs {
        Outputs {
            manifest: self.manifest.concat(),
            index: self.index.concat(),
            pages: self
                .pages
                .iter()
                .filter_map(|p| Some((p.file.clone(), p.bytes.clone()?)))
                .collect(),
            fragments: self.fragments,
            artifacts: self.artifacts,
            conflicts: self.conflicts.clone(),
        }
    }
}

/// The two files, and what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// `manifest.json`.
    pub manifest: Vec<u8>,
    /// `index.md` (empty when the writer was made without a folder).
    pub index: Vec<u8>,
    /// The pages under `index/`: file name, bytes.
    pub pages: Vec<(String, Vec<u8>)>,
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed (paths claimed once).
    pub artifacts: usize,
    /// Paths claimed more than once, listed apart.
    pub conflicts: Vec<Conflict>,
}

/// One page under `<dir>/index/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its file name in that folder.
    pub file: String,
    /// Its bytes; None: the previous outputs' page of that name, unchanged.
    pub bytes: Option<Vec<u8>>,
}
