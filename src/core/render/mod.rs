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

mod layout;
mod rope;
mod splice;
mod writer;

pub use layout::{lists_conflicts, schema_openings};
pub use rope::{Outputs, Page, Rope, Spliced};
pub use splice::{splice, NotSpliced, Old};
pub use writer::{Taken, Writer};

use crate::core::manifest::Manifest;

/// The bytes of `manifest.json` for a built manifest.
///
/// The envelope and `fragments` are pretty-printed with 2-space indentation,
/// each artifact compact on one line indented by 4 spaces; the result is
/// valid JSON and ends with `}` and a newline.
pub fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    outputs(manifest, None).manifest
}

/// The bytes of `index.md` for a built manifest. `dir` is the catalogue
/// folder relative to the repository root (e.g. `catalogue`, or `a/b`);
/// links are relative from `<dir>/index.md`, so artifact `docs/a.md` becomes
/// `../docs/a.md` for `catalogue` and `../../docs/a.md` for `a/b`.
pub fn index_md(manifest: &Manifest, dir: &str) -> Vec<u8> {
    outputs(manifest, Some(dir)).index
}

/// The pages under `<dir>/index/` of a built manifest (file name, bytes),
/// issue numbers linked through `issue_url`.
pub fn index_pages(
    manifest: &Manifest,
    dir: &str,
    issue_url: Option<&str>,
) -> Vec<(String, Vec<u8>)> {
    outputs_linked(manifest, dir, issue_url).pages
}

/// Both files of a built manifest (no index without `dir`).
pub fn outputs(manifest: &Manifest, dir: Option<&str>) -> Outputs {
    outputs_with(manifest, dir, None)
}

/// Every output of a built manifest, issue numbers linked through `issue_url`.
pub fn outputs_linked(manifest: &Manifest, dir: &str, issue_url: Option<&str>) -> Outputs {
    outputs_with(manifest, Some(dir), issue_url)
}

fn outputs_with(manifest: &Manifest, dir: Option<&str>, issue_url: Option<&str>) -> Outputs {
    // Checking claims, so that paths claimed twice are listed apart, as
    // `Manifest::build_with_conflicts` lists them.
    let mut writer = Writer::new(manifest.source(), dir, true).with_issue_url(issue_url);
    for fragment in manifest.fragments() {
        writer.push(fragment);
    }
    writer.finish()
}

#[cfg(test)]
mod tests;
