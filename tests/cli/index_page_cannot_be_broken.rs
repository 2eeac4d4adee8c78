//! index.md and its pages: generated Markdown no fragment can break, inject
//! HTML or links into, or hide another entry in; issue numbers link to the
//! forge when the repository says where it is.

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

/// The front page and every page under `catalogue/index/`, by path.
fn index_files(repo: &Repo) -> Result<Vec<(String, String)>> {
    let mut files = vec![(
        "catalogue/index.md".to_owned(),
        repo.text("main:catalogue/index.md")?,
    )];
    for name in repo.tree_names("main:catalogue/index")? {
        let path = format!("catalogue/index/{name}");
        let text = repo.text(&format!("main:{path}"))?;
        files.push((path, text));
    }
    Ok(files)
}

/// Every link target (`](target)`) of a page.
fn link_targets(page: &str) -> Vec<&str> {
    page.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &page[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn hostile_titles_cannot_break_the_table_inject_html_or_links_or_hide_entries() -> Result<()> {
    let repo = Repo::new_bare()?;
    repo.git(&[
        "config",
        "catalogue.issueUrl",
        "https://forge.example/o/r/issues/{issue}",
    ])?;
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
    // An issue that is text made to look like a link.
    let forged = br#"{"issue": "1)](https://evil.example/x", "artifacts": [{"path": "docs/forged.md", "title": "[x](https://evil.example)"}]}"#;
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/forged.json",
            crate::support::Content::File(forged),
        )],
        "A fragment by hand",
    )?;
    repo.record_direct(99, "docs/a.md")?;
    repo.consolidate()?;
    let artifacts = hostile.len() + 3;

    let files = index_files(&repo)?;
    ensure!(files.len() >= 2, "no pages: {files:?}");
    let mut rows = 0;
    for (path, page) in &files {
        assert!(!page.contains('<'), "a raw < reached {path}:\n{page}");
        assert!(
            !page.contains("](javascript:"),
            "a javascript: link reached {path}:\n{page}"
        );
        assert!(
            !page.lines().any(|l| l.trim_start().starts_with("| fake")),
            "a title forged a row in {path}:\n{page}"
        );
        assert!(
            page.to_lowercase().contains("generated"),
            "{path} does not say it is generated"
        );
        // No link leaves the repository but an issue through the template.
        for target in link_targets(page) {
            let to_forge = target
                .strip_prefix("https://forge.example/o/r/issues/")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            ensure!(
                to_forge || !target.contains(':'),
                "{path} links to {target:?}:\n{page}"
            );
        }
        for (header, table) in tables(page)? {
            for row in &table {
                assert_eq!(
                    cell_count(row),
                    header,
                    "row {row:?} has a different cell count:\n{page}"
                );
            }
            if path != "catalogue/index.md" {
                assert_eq!(header, 4, "{page}");
                rows += table.len();
            }
        }
    }
    assert_eq!(rows, artifacts, "one row per artifact on the pages");
    let pages: String = files[1..].iter().map(|(_, p)| p.as_str()).collect();
    // Links are relative to the page's own folder, and issues link to the forge.
    assert!(
        pages.contains("](../../docs/a.md)"),
        "no relative link to docs/a.md:\n{pages}"
    );
    assert!(
        pages.contains(
            "| [#99](https://forge.example/o/r/issues/99) | [docs/a\\.md](../../docs/a.md) |"
        ),
        "{pages}"
    );
    // A link target stays one link: no raw space, parenthesis or `#` inside it.
    assert!(
        pages.contains("%5Bt%5D") || pages.contains("%5bt%5d"),
        "[ ] not percent-encoded in the link:\n{pages}"
    );
    assert!(
        !pages.contains("](../../docs/[t]"),
        "raw [ in a link target:\n{pages}"
    );
    // Every artifact is reachable from its own row.
    for (path, _) in hostile {
        let named = path.trim_start_matches("docs/").trim_end_matches(".md");
        assert!(
            pages
                .lines()
                .any(|l| l.starts_with("| ") && l.contains(named)),
            "no row for {path}:\n{pages}"
        );
    }
    // check renders the links as consolidate does: current under the same
    // template, stale (the front page and the pages that link) under another.
    repo.catalogue(&["check"])?.expect(0)?;
    repo.git(&[
        "config",
        "catalogue.issueUrl",
        "https://other.example/{issue}",
    ])?;
    let (code, checked) = repo.catalogue_json(&["check"])?;
    assert_eq!(code, 1, "{checked}");
    let problems = checked["problems"].to_string();
    ensure!(
        problems.contains("catalogue/index.md") && problems.contains("catalogue/index/"),
        "{checked}"
    );
    Ok(())
}

#[test]
fn the_index_is_current_after_consolidation_and_check_agrees() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(1, "docs/a b.md")])?;
    let page = repo.text("main:catalogue/index/issue-1.md")?;
    // A space in a link target is percent-encoded so the link stays one link.
    assert!(page.contains("../../docs/a%20b.md"), "{page}");
    let front = repo.text("main:catalogue/index.md")?;
    assert!(front.contains("](index/issue-1.md)"), "{front}");
    repo.catalogue(&["check"])?.expect(0)?;
    // A page edited by hand, or one no fragment makes, is stale, by path.
    repo.commit_by_hand(
        &[(
            "catalogue/index/zzz.md",
            crate::support::Content::File(b"# not a page\n"),
        )],
        "A stray page",
    )?;
    let (code, out) = repo.catalogue_json(&["check"])?;
    assert_ne!(code, 0, "{out}");
    ensure!(out.to_string().contains("catalogue/index/zzz.md"), "{out}");
    let done = repo.consolidate()?;
    assert_eq!(done["changed"], true, "{done}");
    ensure!(
        !repo.tree_names("main:catalogue/index")?.contains("zzz.md"),
        "the stray page is removed"
    );
    repo.catalogue(&["check"])?.expect(0)?;
    repo.fsck()?;
    Ok(())
}

/// A GitHub or GitLab `origin` links issues without any config; the config
/// wins over it; and changing where issues link rewrites every page.
#[test]
fn issues_link_to_the_origin_s_forge_or_the_configured_url() -> Result<()> {
    let repo = Repo::bare_consolidated(&[(7, "docs/a.md")])?;
    let page = repo.text("main:catalogue/index/issue-7.md")?;
    assert!(page.contains("| #7 | [docs/a\\.md]"), "not linked: {page}");
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        "git@github.com:owner/repo.git",
    ])?;
    let out = repo.catalogue_ok(&["consolidate"])?;
    assert_eq!(out["mode"], "full", "another template rebuilds: {out}");
    let page = repo.text("main:catalogue/index/issue-7.md")?;
    assert!(
        page.contains("| [#7](https://github.com/owner/repo/issues/7) |"),
        "{page}"
    );
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        "https://gitlab.com/g/sub/repo.git",
    ])?;
    repo.consolidate()?;
    let page = repo.text("main:catalogue/index/issue-7.md")?;
    assert!(
        page.contains("| [#7](https://gitlab.com/g/sub/repo/-/issues/7) |"),
        "{page}"
    );
    repo.git(&[
        "config",
        "catalogue.issueUrl",
        "https://t.example/browse/{issue} x",
    ])?;
    repo.consolidate()?;
    let page = repo.text("main:catalogue/index/issue-7.md")?;
    assert!(
        page.contains("| [#7](https://t.example/browse/7%20x) |"),
        "{page}"
    );
    let front = repo.text("main:catalogue/index.md")?;
    assert!(
        front.contains("Issue numbers link to `https://t.example/browse/{issue}%20x`."),
        "{front}"
    );
    repo.catalogue(&["check"])?.expect(0)?;
    Ok(())
}
