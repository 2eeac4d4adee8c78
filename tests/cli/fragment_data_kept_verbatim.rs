//! Faithful data: what a fragment says reaches `manifest.json`
//! unchanged. Numbers keep their exact spelling, digit for digit and exponent for
//! exponent, even where no f64 holds them; strings keep every Unicode character (their
//! escape spelling is JSON layout, written the one way serde_json writes strings); a
//! key repeated in one object is refused instead of silently dropping a value.
//! Everything is read back with `git cat-file`, not with the library.

use anyhow::{ensure, Result};

use crate::support::{str_field, Content, Repo};

/// Numbers no f64 keeps as written, each under its own field name.
const NUMBERS: &[(&str, &str)] = &[
    ("big", "12345678901234567890123"),
    ("huge", "1e400"),
    ("negative_zero", "-0"),
    ("upper_e", "1E5"),
    ("trailing_zero", "0.10"),
    ("tiny", "4.9E-324"),
    ("signed_exponent", "-1.5e+10"),
    ("long_fraction", "3.14159265358979323846264338327950288"),
];

/// A fragment holding every number of [`NUMBERS`] at the top level, nested, and in
/// an artifact, with strings spelled with and without escapes.
fn fragment_text() -> String {
    let fields: Vec<String> = NUMBERS
        .iter()
        .map(|(name, number)| format!("\"{name}\": {number}"))
        .collect();
    let fields = fields.join(", ");
    format!(
        r#"{{
  "issue": 7,
  "run": {{{fields}, "deep": [[[1E-7]]], "empty": [], "none": {{}}}},
  "artifacts": [
    {{"path": "docs/é/😀 report.md", "kind": "caf\u00e9", "title": "café \ud83d\ude00 \u0007 tab\t end\u202e", {fields}}}
  ]
}}
"#
    )
}

#[test]
fn numbers_and_unicode_reach_the_manifest_exactly_as_the_fragment_wrote_them() -> Result<()> {
    let repo = Repo::new_bare()?;
    let file = repo.sandbox_file("faithful.json", fragment_text().as_bytes())?;
    let file = file.to_string_lossy().into_owned();
    repo.catalogue_ok(&["record", "--direct", "--fragment", &file])?;

    // The fragment blob `record` wrote keeps every spelling.
    let fragment = repo.text("main:catalogue/fragments/issue-7.json")?;
    for (name, number) in NUMBERS {
        let field = format!("\"{name}\": {number}");
        ensure!(
            fragment.matches(&field).count() == 2,
            "{field} is not in the fragment twice (run and artifact):\n{fragment}"
        );
    }

    repo.consolidate()?;
    let manifest = repo.text("main:catalogue/manifest.json")?;
    // The artifact line, byte for byte: fragment and issue first, then the author's
    // fields in order; numbers as written, strings as serde_json writes them (raw
    // UTF-8, only `"`, `\` and U+0000..U+001F escaped).
    let numbers: Vec<String> = NUMBERS
        .iter()
        .map(|(name, number)| format!("\"{name}\":{number}"))
        .collect();
    let line = format!(
        "    {{\"fragment\":\"issue-7\",\"issue\":7,\"path\":\"docs/é/😀 report.md\",\"kind\":\"café\",\
         \"title\":\"café 😀 \\u0007 tab\\t end\u{202e}\",{}}}\n",
        numbers.join(",")
    );
    ensure!(
        manifest.contains(&line),
        "the manifest does not hold the artifact line\n{line}\nbut:\n{manifest}"
    );
    // The fragment's own fields, pretty-printed, with the same spellings.
    for (name, number) in NUMBERS {
        let field = format!("\n        \"{name}\": {number},\n");
        ensure!(manifest.contains(&field), "{field:?} not in:\n{manifest}");
    }
    ensure!(
        manifest.contains("\"deep\": [\n          [\n            [\n              1E-7\n"),
        "{manifest}"
    );

    // The manifest is current by the tool's own check, `list --json` reports the
    // same spellings, and the repository is sound.
    repo.catalogue(&["check"])?.expect(0)?;
    let list = repo.catalogue(&["--json", "list"])?;
    list.expect(0)?;
    for (name, number) in NUMBERS {
        let field = format!("\"{name}\":{number}");
        ensure!(
            list.stdout.contains(&field),
            "{field} not in list --json: {list:?}"
        );
    }
    repo.fsck()?;
    Ok(())
}

#[test]
fn a_hand_committed_fragment_keeps_its_numbers_and_its_characters_not_its_escapes() -> Result<()> {
    let repo = Repo::new_bare()?;
    let fragment = r#"{"artifacts": [{"path": "a.md", "n": 1e400, "m": -0.0E-0, "s": "\u00e9\/\u0041\ud83d\ude00", "raw": "é/A😀"}], "issue": "X-1"}"#;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/x.json",
            Content::File(fragment.as_bytes()),
        )],
        "A fragment written by hand",
    )?;
    repo.consolidate()?;
    let manifest = repo.text("main:catalogue/manifest.json")?;
    let line = "    {\"fragment\":\"x\",\"issue\":\"X-1\",\"path\":\"a.md\",\"n\":1e400,\"m\":-0.0E-0,\"s\":\"é/A😀\",\"raw\":\"é/A😀\"}\n";
    ensure!(manifest.contains(line), "{line} not in:\n{manifest}");
    repo.catalogue(&["check"])?.expect(0)?;
    Ok(())
}

#[test]
fn a_key_repeated_in_one_object_is_refused_naming_the_key_and_nothing_is_written() -> Result<()> {
    let repo = Repo::new_bare()?;
    let repeated =
        br#"{"issue": 3, "artifacts": [{"path": "a.md", "title": "first", "title": "second"}]}"#;

    // Through record: refused before anything is written.
    let file = repo.sandbox_file("repeated.json", repeated)?;
    let file = file.to_string_lossy().into_owned();
    let before = repo.snapshot()?;
    let (status, out) = repo.catalogue_json(&["record", "--direct", "--fragment", &file])?;
    ensure!(status == 2, "exit {status}: {out}");
    let error = &out["error"];
    ensure!(error["kind"] == "invalid_fragment", "{out}");
    let message = str_field(error, "message")?;
    ensure!(
        message.contains("`title` twice") && message.contains("/artifacts/0"),
        "the message does not name the key and its object: {message}"
    );
    ensure!(repo.snapshot()? == before, "record wrote something");

    // Committed by hand: consolidate refuses it, naming the fragment and its blob.
    repo.commit_by_hand(
        &[("catalogue/fragments/issue-3.json", Content::File(repeated))],
        "A fragment with a repeated key",
    )?;
    let before = repo.snapshot()?;
    let (status, out) = repo.catalogue_json(&["consolidate"])?;
    ensure!(status == 2, "exit {status}: {out}");
    let error = &out["error"];
    ensure!(error["kind"] == "invalid_fragment", "{out}");
    ensure!(
        error["path"] == "catalogue/fragments/issue-3.json",
        "no path: {out}"
    );
    let blob = repo.rev("main:catalogue/fragments/issue-3.json")?;
    ensure!(error["blob"] == blob.as_str(), "no blob id {blob}: {out}");
    ensure!(
        str_field(error, "message")?.contains("`title` twice"),
        "{out}"
    );
    ensure!(repo.snapshot()? == before, "consolidate wrote something");
    Ok(())
}
