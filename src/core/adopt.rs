//! Adopting a manifest: which of its entries no fragment backs.
//!
//! A repository can arrive with a `manifest.json` that git-catalogue did not
//! write: the old racing design's (a top-level array of entries, or an
//! object with an `artifacts` array, as [`crate::core::versions`] reads
//! them), or one edited by hand. Consolidating rebuilds the manifest from
//! the fragments alone, so an entry that no fragment backs would silently
//! go. [`unbacked`] names those entries, so that consolidation can refuse
//! instead (docs/format.md, "Adopting a manifest").

use serde_json::Value;

use crate::core::render::{lists_conflicts, Old};
use crate::core::versions::Interner;

/// Whether `manifest` is laid out as git-catalogue writes it (with or
/// without a `conflicts` list). Its entries were then the consolidation of
/// the fragments tree it names as `source`; a fragment changed or removed
/// since is a change its author made on purpose, so none of them is lost by
/// rebuilding. This is the trust the incremental path puts in it, and it
/// has the same limit (docs/format.md, "Documented limits").
pub fn own_layout(manifest: &[u8]) -> bool {
    if Old::cut(manifest, None).is_some() {
        return true;
    }
    if !lists_conflicts(manifest) {
        return false;
    }
    // Cut the `conflicts` list off and look at the rest.
    let Some(at) = manifest.windows(MARK.len()).position(|w| w == MARK) else {
        return false;
    };
    let mut rest = manifest[..at].to_vec();
    rest.extend_from_slice(b"\n}\n");
    Old::cut(&rest, None).is_some()
}

const MARK: &[u8] = b",\n  \"conflicts\": [\n";

/// The paths of the entries of `manifest` that no fragment backs, in the
/// manifest's order. `exists` says whether a fragment key exists now,
/// `claimed` whether some fragment claims a path now.
///
/// An entry is backed when a fragment claims its path (the one it names,
/// or, for an entry migrated by `repair`, its recovery fragment), or when it
/// names a fragment that no longer exists: removing a fragment removes its
/// entries on purpose. Every other entry is unbacked: one without a
/// `fragment` field, or naming a fragment that does not list its path.
///
/// A manifest in git-catalogue's own layout has none ([`own_layout`]); one
/// that is not JSON, or holds no array of entries, has no entry to lose.
pub fn unbacked(
    manifest: &[u8],
    exists: impl Fn(&str) -> bool,
    claimed: impl Fn(&str) -> bool,
) -> Vec<String> {
    if own_layout(manifest) {
        return Vec::new();
    }
    let mut interner = Interner::default();
    let Ok(read) = interner.parse(manifest, None) else {
        return Vec::new();
    };
    // Path ids are given in the order paths are first met: manifest order.
    read.entries
        .iter()
        .filter(|&&(path, entry)| {
            let path = interner.path(path);
            let named = interner
                .entry(entry)
                .get("fragment")
                .and_then(Value::as_str);
            !(claimed(path) || named.is_some_and(|key| !exists(key)))
        })
        .map(|&(path, _)| interner.path(path).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fragment::Fragment;
    use crate::core::key::FragmentKey;
    use crate::core::manifest::Manifest;
    use crate::core::render::manifest_json;

    fn fragment(key: &str, json: &str) -> Fragment {
        let key = FragmentKey::new(key).expect("test keys are valid");
        Fragment::parse(key, json.as_bytes()).expect("test fragments are valid")
    }

    fn check(manifest: &str, keys: &[&str], paths: &[&str]) -> Vec<String> {
        unbacked(
            manifest.as_bytes(),
            |k| keys.contains(&k),
            |p| paths.contains(&p),
        )
    }

    #[test]
    fn a_legacy_array_is_unbacked_until_fragments_claim_its_paths() {
        let legacy = r#"[{"issue": 1, "path": "docs/1.md"}, {"issue": 2, "path": "docs/2.md"}]"#;
        assert_eq!(check(legacy, &[], &[]), ["docs/1.md", "docs/2.md"]);
        assert_eq!(check(legacy, &["issue-1"], &["docs/1.md"]), ["docs/2.md"]);
        assert!(check(legacy, &["issue-1", "issue-2"], &["docs/1.md", "docs/2.md"]).is_empty());
    }

    #[test]
    fn an_object_with_artifacts_is_read_too_and_a_removed_fragment_is_fine() {
        let manifest = r#"{"version": 0, "artifacts": [
            {"fragment": "issue-1", "path": "a"},
            {"fragment": "issue-2", "path": "b"},
            {"fragment": "issue-3", "path": "c"},
            {"path": "d"}
        ]}"#;
        // issue-1 exists without `a`: unbacked. issue-2 is gone: removed on
        // purpose. issue-3 lists `c`. `d` names no fragment and none claims it.
        assert_eq!(check(manifest, &["issue-1", "issue-3"], &["c"]), ["a", "d"]);
    }

    #[test]
    fn git_catalogues_own_layout_is_trusted_with_or_without_conflicts() {
        let clean = Manifest::build_with_conflicts(
            vec![fragment("issue-1", r#"{"artifacts": [{"path": "a"}]}"#)],
            "s",
        );
        let json = String::from_utf8(manifest_json(&clean)).expect("text");
        assert!(own_layout(json.as_bytes()));
        // issue-1 was re-recorded without `a`: a change on purpose.
        assert!(check(&json, &["issue-1"], &[]).is_empty());
        let conflicted = Manifest::build_with_conflicts(
            vec![
                fragment(
                    "issue-1",
                    r#"{"artifacts": [{"path": "a"}, {"path": "x"}]}"#,
                ),
                fragment("issue-2", r#"{"artifacts": [{"path": "a"}]}"#),
            ],
            "s",
        );
        let json = String::from_utf8(manifest_json(&conflicted)).expect("text");
        assert!(json.contains("\"conflicts\""), "{json}");
        assert!(own_layout(json.as_bytes()), "{json}");
        assert!(check(&json, &["issue-1"], &[]).is_empty());
        // The same entries reformatted are not the own layout: checked.
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        let reformatted = serde_json::to_string(&value).expect("json");
        assert!(!own_layout(reformatted.as_bytes()));
        assert_eq!(check(&reformatted, &["issue-1"], &[]), ["x"]);
    }

    #[test]
    fn what_is_not_a_list_of_entries_has_nothing_to_lose() {
        assert!(check("not json", &[], &[]).is_empty());
        assert!(check(r#"{"entries": []}"#, &[], &[]).is_empty());
        assert!(check(r#"[1, "x", {"title": "no path"}]"#, &[], &[]).is_empty());
    }
}
