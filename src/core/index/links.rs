//! Where an issue number links on the forge (docs/format.md, "index.md").
//!
//! A link target is the one place a page's text leaves Markdown's control:
//! so the only target built from a fragment's value is a URL template (git
//! config `catalogue.issueUrl`, or derived from the `origin` remote) with
//! its `{issue}` replaced by the issue, percent-encoded, and only for
//! issues that are whole numbers. The template itself comes from the
//! repository's own config, and is sanitised all the same.

use std::fmt::Write as _;

/// The placeholder a template's issue goes in.
pub const PLACEHOLDER: &str = "{issue}";

/// `template` as a page may use it: an `http://` or `https://` URL holding
/// `{issue}`, every byte outside the URL characters (space, quotes,
/// parentheses, angle brackets, backslash, backtick, `|`, non-ASCII, control
/// characters) percent-encoded. None when it is not such a URL.
pub fn usable_template(template: &str) -> Option<String> {
    let template = template.trim();
    let lower = template.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://"))
        || !template.contains(PLACEHOLDER)
    {
        return None;
    }
    let mut out = String::with_capacity(template.len());
    for &byte in template.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:/?#@!$&'*+,;=%{}".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    Some(out)
}

/// The issue template of a GitHub or GitLab remote URL, in any of the forms
/// git accepts for them: `https://github.com/O/R(.git)`, `git@github.com:O/R.git`,
/// `ssh://git@github.com/O/R.git` (GitLab: `gitlab.com`, with subgroups,
/// `/-/issues/{issue}`). None for any other host or shape.
pub fn template_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .or_else(|| url.strip_prefix("git+ssh://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // A port (`ssh://git@github.com:22/O/R`).
        let host = host.split_once(':').map_or(host, |(h, _)| h);
        (host, path)
    } else {
        // scp-like: `[user@]host:path`.
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        (host, path)
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let valid = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    };
    if !segments.iter().all(valid) {
        return None;
    }
    match host.to_ascii_lowercase().as_str() {
        "github.com" | "www.github.com" if segments.len() == 2 => Some(format!(
            "https://github.com/{}/{}/issues/{PLACEHOLDER}",
            segments[0], segments[1]
        )),
        "gitlab.com" if segments.len() >= 2 => Some(format!(
            "https://gitlab.com/{}/-/issues/{PLACEHOLDER}",
            segments.join("/")
        )),
        _ => None,
    }
}

/// The issue as a link target may carry it: a whole number, written in
/// digits (a JSON number or a string of digits), at most 20 of them.
pub(crate) fn linkable_issue(issue: &str) -> bool {
    !issue.is_empty() && issue.len() <= 20 && issue.bytes().all(|b| b.is_ascii_digit())
}

/// `template` (from [`usable_template`]) with `{issue}` replaced by `issue`,
/// percent-encoded (every byte but ASCII alphanumerics and `-._~`).
pub(crate) fn push_issue_url(out: &mut String, template: &str, issue: &str) {
    let mut parts = template.split(PLACEHOLDER);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        for &byte in issue.as_bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_gitlab_remotes_give_their_issue_urls() {
        for url in [
            "https://github.com/o/r",
            "https://github.com/o/r.git",
            "https://github.com/o/r/",
            "https://user@github.com/o/r.git",
            "git@github.com:o/r.git",
            "ssh://git@github.com/o/r.git",
            "ssh://git@github.com:22/o/r",
        ] {
            assert_eq!(
                template_from_remote(url).as_deref(),
                Some("https://github.com/o/r/issues/{issue}"),
                "{url}"
            );
        }
        assert_eq!(
            template_from_remote("git@gitlab.com:g/sub/r.git").as_deref(),
            Some("https://gitlab.com/g/sub/r/-/issues/{issue}")
        );
        for url in [
            "https://example.com/o/r.git",
            "/srv/git/r.git",
            "../r",
            "https://github.com/o",
            "https://github.com/o/r/x",
            "https://github.com/o/r%20x",
            "https://github.com/../r",
            "file:///github.com/o/r",
        ] {
            assert_eq!(template_from_remote(url), None, "{url}");
        }
    }

    #[test]
    fn templates_must_be_web_urls_and_are_encoded() {
        assert_eq!(usable_template("ftp://x/{issue}"), None);
        assert_eq!(usable_template("https://x/issues"), None);
        assert_eq!(usable_template("javascript:alert(1)//{issue}"), None);
        assert_eq!(
            usable_template(" https://x/a b(c)<d>`|\\/{issue} ").as_deref(),
            Some("https://x/a%20b%28c%29%3Cd%3E%60%7C%5C/{issue}")
        );
    }

    #[test]
    fn the_issue_is_encoded_into_the_template() {
        let mut out = String::new();
        push_issue_url(&mut out, "https://x/{issue}?n={issue}", "1 )/");
        assert_eq!(out, "https://x/1%20%29%2F?n=1%20%29%2F");
        assert!(linkable_issue("123"));
        assert!(!linkable_issue("12a") && !linkable_issue("") && !linkable_issue("-1"));
    }
}
