//! The fixed text of `manifest.json` around its fragment entries and
//! artifact lines (docs/format.md, "manifest.json").

/// The manifest's first three lines: `{`, the JSON Schema it is written to
/// (the `$id` of `schemas/manifest.schema.json`), and its format version.
pub(super) const MANIFEST_OPENING: &str =
    "{\n  \"$schema\": \"urn:git-catalogue:schema:manifest:1\",\n  \"version\": 1,\n";

/// The same lines as versions before the `$schema` line wrote them.
const EARLIER_OPENING: &str = "{\n  \"version\": 1,\n";

/// The manifest up to its first fragment entry.
pub(super) fn manifest_head(source: &str, has_fragments: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(source.len() + 160);
    head.extend_from_slice(MANIFEST_OPENING.as_bytes());
    head.extend_from_slice(b"  \"source\": ");
    head.extend_from_slice(json_string(source).as_bytes());
    head.extend_from_slice(if has_fragments {
        b",\n  \"fragments\": {\n"
    } else {
        b",\n  \"fragments\": {}"
    });
    head
}

/// Between the last fragment entry and the first artifact line.
pub(super) fn manifest_middle(has_fragments: bool, has_artifacts: bool) -> &'static [u8] {
    match (has_fragments, has_artifacts) {
        (true, true) => b"\n  },\n  \"artifacts\": [\n",
        (true, false) => b"\n  },\n  \"artifacts\": []",
        (false, true) => b",\n  \"artifacts\": [\n",
        (false, false) => b",\n  \"artifacts\": []",
    }
}

/// After the last artifact line.
pub(super) fn manifest_tail(has_artifacts: bool) -> &'static [u8] {
    if has_artifacts {
        b"\n  ]\n}\n"
    } else {
        b"\n}\n"
    }
}

/// After the last artifact line when some paths are claimed more than
/// once: the `conflicts` array, one line per path (`lines`, joined), then
/// the end of the file.
pub(super) fn conflicts_tail(has_artifacts: bool, lines: &[u8]) -> Vec<u8> {
    let mut tail = Vec::with_capacity(lines.len() + 32);
    if has_artifacts {
        tail.extend_from_slice(b"\n  ]");
    }
    tail.extend_from_slice(b",\n  \"conflicts\": [\n");
    tail.extend_from_slice(lines);
    tail.extend_from_slice(b"\n  ]\n}\n");
    tail
}

/// The manifest's opening lines as written now and as versions before the
/// `$schema` line wrote them: a manifest that starts with the first is the
/// earlier one's with them swapped.
pub fn schema_openings() -> (&'static [u8], &'static [u8]) {
    (MANIFEST_OPENING.as_bytes(), EARLIER_OPENING.as_bytes())
}

/// Whether `manifest` lists path conflicts, as [`conflicts_tail`] writes them.
pub fn lists_conflicts(manifest: &[u8]) -> bool {
    const MARK: &[u8] = b"\n  \"conflicts\": [\n";
    manifest.windows(MARK.len()).any(|w| w == MARK)
}

/// `s` as a JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}
