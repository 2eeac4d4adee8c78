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
    /// `index.md`.
    pub index: Rope<'a>,
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
    /// Fragments listed.
    pub fragments: usize,
    /// Artifacts listed (paths claimed once).
    pub artifacts: usize,
    /// Paths claimed more than once, listed apart.
    pub conflicts: Vec<Conflict>,
}
