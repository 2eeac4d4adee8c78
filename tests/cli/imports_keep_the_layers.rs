//! The layers the folder tree promises (`src/lib.rs`, "Layers"), checked
//! from the sources' own imports, so that a change that breaks them fails
//! here instead of being found in review:
//!
//! - `core/` imports nothing of the crate outside `core/`, and of gix only
//!   `gix::validate`;
//! - only `cli/` (and `main.rs`, which parses) uses clap, and only `cli/`
//!   names one of the tool's flags in a string;
//! - only `git/command.rs` starts a process;
//! - no file imports a file of a higher layer, and no files import each
//!   other in a circle.
//!
//! Test code (`#[cfg(test)]` modules) is left out: a test may drive a lower
//! layer through a higher one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

/// Layers from the bottom up; a file may import its own layer and those below.
const LAYERS: &[(&str, &[&str])] = &[
    ("core", &["core/"]),
    ("error", &["error.rs"]),
    ("spool", &["spool.rs"]),
    ("git", &["git/"]),
    ("publish", &["publish/"]),
    ("settings", &["settings.rs"]),
    ("catalogue", &["catalogue.rs"]),
    (
        "operations",
        &[
            "record.rs",
            "consolidate.rs",
            "inspect.rs",
            "gate.rs",
            "pending.rs",
            "history/",
        ],
    ),
    ("cli", &["cli/"]),
    ("crate root", &["lib.rs", "main.rs"]),
];

/// One source file: its path below `src/`, its module path, and its code
/// without comments and test modules.
struct Source {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn sources() -> Result<Vec<Source>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files)?;
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(&src)?
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.push(Source {
            module: module_of(&rel),
            code: without_tests(&without_comments(&text)),
            rel,
        });
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// `core/render/mod.rs` -> [core, render]; `lib.rs`/`main.rs` -> [].
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code with `//` and `/* */` comments blanked, strings kept.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The code without `#[cfg(test)]` items (a `mod tests { … }` block or a
/// `mod tests;` line).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at its `;` or at the brace that closes its block.
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Every path a file names from `crate::` or `super::`, with `use` groups
/// (`crate::{a::b, c}`) expanded, as module paths from the crate root.
fn crate_paths(source: &Source) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code = &source.code;
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..start].chars().last().unwrap_or(' ');
        if before.is_alphanumeric() || before == '_' || before == ':' {
            continue;
        }
        let mut base: Vec<String> = Vec::new();
        let mut text = &code[start..];
        if let Some(rest) = text.strip_prefix("crate::") {
            text = rest;
        } else {
            base = source.module.clone();
            // `super` of a `mod.rs` file is its folder's parent.
            while let Some(rest) = text.strip_prefix("super::") {
                base.pop();
                text = rest;
            }
        }
        expand(&base, text, &mut out);
    }
    out
}

/// Expand a use tree starting at `text` under `base`.
fn expand(base: &[String], text: &str, out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut rest = text;
    loop {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                for item in split_group(group) {
                    expand(&path, item.trim(), out);
                }
                return;
            }
            out.push(path);
            return;
        }
        rest = &rest[name.len()..];
        if name != "self" {
            path.push(name);
        }
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => {
                out.push(path);
                return;
            }
        }
    }
}

/// The items of a `{ … }` group (its text after the `{`), split at its own commas.
fn split_group(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut from = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[from..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The file a module path lands in: the longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for n in (0..=path.len()).rev() {
        let stem = path[..n].join("/");
        for candidate in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn layer_of(rel: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, members)| members.iter().any(|m| rel == *m || rel.starts_with(m)))
}

/// The long flags the command line defines: every `#[arg(long …)]` field of
/// `cli/args.rs`, spelled as on the command line.
fn flags(sources: &[Source]) -> Result<BTreeSet<String>> {
    let args = sources
        .iter()
        .find(|s| s.rel == "cli/args.rs")
        .context("src/cli/args.rs is missing")?;
    let mut out = BTreeSet::new();
    let mut long = false;
    for line in args.code.lines().map(str::trim) {
        if line.starts_with("#[arg(") && line.contains("long") {
            long = true;
        } else if long && line.starts_with("pub ") {
            if let Some(field) = line
                .trim_start_matches("pub ")
                .split(':')
                .next()
                .map(str::trim)
            {
                out.insert(format!("--{}", field.replace('_', "-")));
            }
            long = false;
        }
    }
    ensure!(
        out.len() >= 10,
        "found only {out:?} in src/cli/args.rs: has its layout changed?"
    );
    Ok(out)
}

/// The string literals of some code.
fn literals(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let mut end = after.len();
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        out.push(&after[..end]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

#[test]
fn every_source_file_belongs_to_a_layer() -> Result<()> {
    let orphans: Vec<String> = sources()?
        .into_iter()
        .map(|s| s.rel)
        .filter(|rel| layer_of(rel).is_none())
        .collect();
    ensure!(orphans.is_empty(), "files in no layer: {orphans:?}");
    Ok(())
}

#[test]
fn no_file_imports_a_file_of_a_higher_layer() -> Result<()> {
    let sources = sources()?;
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for source in &sources {
        let Some(own) = layer_of(&source.rel) else {
            continue;
        };
        for path in crate_paths(source) {
            let Some(target) = file_of(&path, &files) else {
                continue;
            };
            checked += 1;
            if let Some(theirs) = layer_of(&target) {
                if theirs > own {
                    problems.push(format!(
                        "{} ({}) imports {} ({}) via crate::{}",
                        source.rel,
                        LAYERS[own].0,
                        target,
                        LAYERS[theirs].0,
                        path.join("::")
                    ));
                }
            }
        }
    }
    ensure!(
        checked > 100,
        "only {checked} imports found: is the parser broken?"
    );
    ensure!(
        problems.is_empty(),
        "imports upwards:\n{}",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn no_files_import_each_other_in_a_circle() -> Result<()> {
    let sources = sources()?;
    let files: BTreeSet<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let targets = edges.entry(source.rel.clone()).or_default();
        for path in crate_paths(source) {
            if let Some(target) = file_of(&path, &files) {
                // A `mod.rs` re-exporting its own children is not an import.
                let folder = source.rel.trim_end_matches("mod.rs");
                let own_child = source.rel.ends_with("mod.rs") && target.starts_with(folder);
                if target != source.rel && !own_child {
                    targets.insert(target);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node) {
            if let Some(circle) = visit(node, &edges, &mut state, &mut Vec::new()) {
                anyhow::bail!(
                    "files import each other in a circle: {}",
                    circle.join(" -> ")
                );
            }
        }
    }
    Ok(())
}

#[test]
fn the_core_imports_nothing_outside_itself_and_of_gix_only_validate() -> Result<()> {
    let mut problems = Vec::new();
    for source in sources()?.iter().filter(|s| s.rel.starts_with("core/")) {
        for path in crate_paths(source) {
            if path.first().map(String::as_str) != Some("core") {
                problems.push(format!("{} uses crate::{}", source.rel, path.join("::")));
            }
        }
        for (at, _) in source.code.match_indices("gix::") {
            let rest = &source.code[at..];
            if !rest.starts_with("gix::validate") {
                let line: String = rest.chars().take_while(|c| *c != '\n').collect();
                problems.push(format!("{} uses {line}", source.rel));
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "the core reaches out:\n{}",
        problems.join("\n")
    );
    Ok(())
}

/// Flags of this tool that git's commands have too, with the same meaning.
const GITS_OWN_FLAGS: &[&str] = &["--quiet", "--verbose"];

#[test]
fn only_the_command_line_knows_clap_and_the_flags() -> Result<()> {
    let sources = sources()?;
    let flags = flags(&sources)?;
    let mut problems = Vec::new();
    for source in sources.iter().filter(|s| !s.rel.starts_with("cli/")) {
        if source.rel != "main.rs" && source.code.contains("clap") {
            problems.push(format!("{} uses clap", source.rel));
        }
        for literal in literals(&source.code) {
            for flag in &flags {
                let named = literal.match_indices(flag.as_str()).any(|(at, _)| {
                    let next = literal[at + flag.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '-')
                });
                // `-q/--quiet` and `-v/--verbose` are git's own flags too: git/
                // passes them to the git it runs (`git fetch --quiet`).
                let gits_own = source.rel.starts_with("git/")
                    && GITS_OWN_FLAGS.contains(&flag.as_str())
                    && literal == flag.as_str();
                if named && !gits_own {
                    problems.push(format!("{} names {flag} in \"{literal}\"", source.rel));
                }
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "flags outside cli/:\n{}",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn only_git_command_rs_starts_a_process() -> Result<()> {
    let mut problems = Vec::new();
    for source in sources()?.iter().filter(|s| s.rel != "git/command.rs") {
        for needle in ["Command::new", "process::Command", "process::Child"] {
            if source.code.contains(needle) {
                problems.push(format!("{} has {needle}", source.rel));
            }
        }
    }
    ensure!(
        problems.is_empty(),
        "processes started outside git/command.rs:\n{}",
        problems.join("\n")
    );
    Ok(())
}
