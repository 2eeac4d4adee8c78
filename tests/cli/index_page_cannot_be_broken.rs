//! index.md: a generated Markdown page no fragment can break, inject HTML or
//! links into, or hide another entry in.

use anyhow::{ensure, Result};

use crate::support::Repo;

/// The cells of a Markdown table row: split on `|` not escaped by a backslash.
fn cell_count(row: &str) -> usize {
    let mut separators = 0;
    let mut backslashes = 0;
    for c in row.chars() {
        match c {
            '\\' => backslashes += 1,
            '|' => {
                if backslashes % 2 == 0 {
                    separators += 1;
                }
                backslashes = 0;
            }
            _ => backslashes = 0,
        }
    }
    // A row written `| a | b |` has one more separator than cells.
    separators - 1
}

fn is_delimiter_row(line: &str) -> bool {
    let inner = line.trim().trim_matches('|');
    !inner.is_empty()
        && inner.split('|').all(|cell| {
            let cell = cell.trim().trim_start_matches(':').trim_end_matches(':');
            !cell.is_empty() && cell.chars().all(|c| c == '-')
        })
}

/// Every table in the page: (header cell count, body rows).
fn tables(page: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let mut tables = Vec::new();
    let lines: Vec<&str> = page.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with('|') {
            let header = lines[i];
            ensure!(
                i + 1 < lines.len() && is_delimiter_row(lines[i + 1]),
                "table header without a delimiter row at line {}:\n{page}",
                i + 1
            );
            let mut rows = Vec::new();
            i += 2;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                rows.push(lines[i].to_owned());
                i += 1;
            }
            tables.push((cell_count(header), rows));
        } else {
            i += 1;
        }
    }
    Ok(tables)
}

#[test]
fn hostile_titles_cannot_break_the_table_inject_html_or_links_or_hide_entries() -> Result<()> {
    let repo = Repo::new_bare()?;
    let hostile = [
        ("docs/pipe.md", "a | b | c"),
        ("docs/newline.md", "innocent\n| fake | row |\n| --- | --- |"),
        ("docs/script.md", "<script>alert(1)</script>"),
        ("docs/link.md", "](javascript:alert(1))"),
        (
            "docs/image.md",
            "![x](https://evil.example/x.png) <img src=x onerror=alert(1)>",
        ),
        ("docs/backslash.md", "trailing backslash \\"),
        ("docs/hide.md", "<!-- hide the next entry"),
    ];
    for (i, (path, title)) in hostile.iter().enumerate() {
        let issue = (i + 1).to_string();
        repo.record_direct_with(
            &issue,
            path,
            &["--title", title, "--kind", "kind|with<pipe>"],
        )?;
    }
    // Markdown-active characters in a path (ones git accepts on every platform).
    repo.catalogue_ok(&[
        "record",
        "--direct",
        "--key",
        "k-1",
        "--artifact",
        "docs/[t](u) #1 %41 & 'q'.md",
        "--title",
        "`code` *em* [t](u)",
    ])?;
    repo.record_direct(99, "docs/a.md")?;
    repo.consolidate()?;
    let artifacts = hostile.len() + 2;

    let page = repo.text("main:catalogue/index.md")?;
    assert!(!page.contains('<'), "a raw < reached index.md:\n{page}");
    assert!(
        !page.contains("](javascript:"),
        "a javascript: link reached index.md:\n{page}"
    );
    assert!(
        !page.lines().any(|l| l.trim_start().starts_with("| fake")),
        "a title forged a row:\n{page}"
    );
    assert!(
        page.to_lowercase().contains("generated"),
        "the page does not say it is generated"
    );
    // Links are relative to the page.
    assert!(
        page.contains("](../docs/a.md)"),
        "no relative link to docs/a.md:\n{page}"
    );

    let tables = tables(&page)?;
    ensure!(!tables.is_empty(), "index.md has no table:\n{page}");
    let rows: usize = tables.iter().map(|(_, rows)| rows.len()).sum();
    assert_eq!(rows, artifacts, "one row per artifact:\n{page}");
    for (header, rows) in &tables {
        for row in rows {
            assert_eq!(
                cell_count(row),
                *header,
                "row {row:?} has a different cell count:\n{page}"
            );
        }
    }
    // A link target stays one link: no raw space, parenthesis or `#` inside it.
    assert!(
        page.contains("%5Bt%5D") || page.contains("%5bt%5d"),
        "[ ] not percent-encoded in the link:\n{page}"
    );
    assert!(
        !page.contains("](../docs/[t]"),
        "raw [ in a link target:\n{page}"
    );
    // Every artifact is reachable from its own row.
    for (path, _) in hostile {
        let rows_naming = tables
            .iter()
            .flat_map(|(_, rows)| rows)
            .filter(|row| row.contains(path.trim_start_matches("docs/").trim_end_matches(".md")))
            .count();
        assert!(rows_naming >= 1, "no row for {path}:\n{page}");
    }
    Ok(())
}

#[test]
fn the_index_is_current_after_consolidation_and_check_agrees() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(1, "docs/a b.md")])?;
    let page = repo.text("main:catalogue/index.md")?;
    // A space in a link target is percent-encoded so the link stays one link.
    assert!(page.contains("../docs/a%20b.md"), "{page}");
    repo.catalogue(&["check"])?.expect(0)?;
    Ok(())
}
