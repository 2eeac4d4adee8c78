//! A pure parser of `git push --porcelain` output, tested on captured samples, and the
//! classification the retry loop acts on.
//!
//! The format (git-push(1), "OUTPUT"), on stdout:
//!
//! ```text
//! To <url>
//! <flag> TAB <from>:<to> TAB <summary> [(<reason>)]
//! ...
//! Done
//! ```
//!
//! `<flag>` is one of ` ` (fast-forward), `+` (forced update), `-` (deleted),
//! `*` (new ref), `!` (rejected or failed), `=` (up to date). For `!`, the
//! summary is `[rejected]`, `[remote rejected]` or `[remote failure]` and the
//! reason says why: `non-fast-forward`, `fetch first` and `stale info` mean
//! another writer moved the ref first. A `[remote rejected]` ref whose update
//! failed under the remote's own compare-and-swap (`failed to update ref`,
//! with `… but expected …` on stderr) is a lost race too; with `Unable to create
//! '….lock': File exists` on stderr it is a held lock. Anything else — a
//! hook or branch protection saying no — is a refusal, not a race.
//!
//! The samples in `fixtures/push/` were captured from git 2.47 and are the
//! unit tests' input.

/// One ref line of the porcelain output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefStatus {
    /// The status flag character.
    pub flag: char,
    /// The local side of the refspec as given.
    pub from: String,
    /// The remote ref.
    pub to: String,
    /// `old..new`, `[new branch]`, `[rejected]`, `[remote rejected]`, …
    pub summary: String,
    /// The text in parentheses, if any: `fetch first`, `pre-receive hook declined`, …
    pub reason: Option<String>,
}

impl RefStatus {
    /// Whether the remote ref now has what was pushed (including "already had it").
    pub fn is_success(&self) -> bool {
        matches!(self.flag, ' ' | '+' | '-' | '*' | '=')
    }
}

/// Parse every ref line of `git push --porcelain` stdout. Lines that are not
/// ref lines (`To …`, `Done`, blank) are skipped; a line with a known flag but
/// the wrong shape is an error, so a format change cannot pass silently.
pub fn parse(stdout: &[u8]) -> Result<Vec<RefStatus>, String> {
    let text = String::from_utf8_lossy(stdout);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line == "Done" || line.starts_with("To ") {
            continue;
        }
        let mut chars = line.chars();
        let flag = chars.next().unwrap_or(' ');
        let rest = chars.as_str();
        if !matches!(flag, ' ' | '+' | '-' | '*' | '!' | '=') || !rest.starts_with('\t') {
            return Err(format!(
                "unexpected line in `git push --porcelain` output: {line:?}"
            ));
        }
        let mut fields = rest[1..].splitn(2, '\t');
        let (Some(refspec), Some(status)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "malformed ref line in `git push --porcelain` output: {line:?}"
            ));
        };
        let Some((from, to)) = refspec.rsplit_once(':') else {
            return Err(format!(
                "ref line without `from:to` in `git push --porcelain` output: {line:?}"
            ));
        };
        let (summary, reason) = match status.find(" (") {
            Some(i) if status.ends_with(')') => (
                status[..i].to_owned(),
                Some(status[i + 2..status.len() - 1].to_owned()),
            ),
            _ => (status.to_owned(), None),
        };
        out.push(RefStatus {
            flag,
            from: from.to_owned(),
            to: to.to_owned(),
            summary,
            reason,
        });
    }
    Ok(out)
}

/// What a push of one ref means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote ref now holds the pushed commit.
    Pushed,
    /// Another writer moved the ref first: fetch, rebuild, retry.
    Lost {
        /// git's reason, for the record.
        reason: String,
    },
    /// The remote's ref lock is held; retry after a pause.
    Locked {
        /// The lock file as the remote named it.
        lock: String,
    },
    /// The remote refused for another reason (a hook, a protection rule): do not retry.
    Refused {
        /// git's reason.
        reason: String,
    },
}

/// Decide what happened to `status`, using the remote's stderr for the
/// `[remote rejected]` cases that the porcelain line alone cannot tell apart.
pub fn classify(status: &RefStatus, stderr: &[u8]) -> PushOutcome {
    if status.is_success() {
        return PushOutcome::Pushed;
    }
    let reason = status
        .reason
        .clone()
        .unwrap_or_else(|| status.summary.clone());
    if status.summary == "[rejected]" {
        return match reason.as_str() {
            "non-fast-forward" | "fetch first" | "stale info" | "already exists" => {
                PushOutcome::Lost { reason }
            }
            _ => PushOutcome::Refused { reason },
        };
    }
    let err = String::from_utf8_lossy(stderr);
    if let Some(lock) = held_lock(&err) {
        return PushOutcome::Locked { lock };
    }
    let failed_update = matches!(reason.as_str(), "failed to update ref" | "failed to lock");
    if failed_update || err.contains("but expected") || err.contains("reference already exists") {
        return PushOutcome::Lost { reason };
    }
    PushOutcome::Refused { reason }
}

/// The lock file in git's "Unable to create '<path>.lock': File exists." message.
fn held_lock(stderr: &str) -> Option<String> {
    let start = stderr.find("Unable to create '")? + "Unable to create '".len();
    let rest = &stderr[start..];
    let end = rest.find("': File exists")?;
    Some(rest[..end].to_owned())
}

/// The remote's own words (`remote: …` lines), for an error message.
pub fn remote_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> (Vec<u8>, Vec<u8>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/push");
        let read = |ext: &str| {
            std::fs::read(dir.join(format!("{name}.{ext}"))).expect("captured sample exists")
        };
        (read("stdout"), read("stderr"))
    }

    fn one(name: &str) -> (RefStatus, PushOutcome) {
        let (out, err) = sample(name);
        let mut refs = parse(&out).expect("parses");
        assert_eq!(refs.len(), 1, "{name}: {refs:?}");
        let status = refs.remove(0);
        let outcome = classify(&status, &err);
        (status, outcome)
    }

    #[test]
    fn a_new_ref_is_pushed() {
        let (s, o) = one("new-ref");
        assert_eq!(
            (s.flag, s.to.as_str(), s.summary.as_str()),
            ('*', "refs/heads/main", "[new branch]")
        );
        assert_eq!(o, PushOutcome::Pushed);
    }

    #[test]
    fn a_fast_forward_is_pushed() {
        let (s, o) = one("fast-forward");
        assert_eq!(s.flag, ' ');
        assert!(s.summary.contains(".."), "{s:?}");
        assert_eq!(o, PushOutcome::Pushed);
    }

    #[test]
    fn up_to_date_counts_as_pushed() {
        assert_eq!(one("up-to-date").1, PushOutcome::Pushed);
    }

    #[test]
    fn a_lease_forced_update_is_pushed() {
        let (s, o) = one("lease-ok");
        assert_eq!(
            (s.flag, s.to.as_str()),
            ('+', "refs/heads/catalogue/issue-1")
        );
        assert_eq!(s.reason.as_deref(), Some("forced update"));
        assert_eq!(o, PushOutcome::Pushed);
    }

    #[test]
    fn non_fast_forward_fetch_first_and_stale_info_are_lost_races() {
        for (name, why) in [
            ("non-fast-forward", "non-fast-forward"),
            ("fetch-first", "fetch first"),
            ("stale-info", "stale info"),
        ] {
            let (s, o) = one(name);
            assert_eq!((s.flag, s.summary.as_str()), ('!', "[rejected]"), "{name}");
            assert_eq!(
                o,
                PushOutcome::Lost {
                    reason: why.to_owned()
                },
                "{name}"
            );
        }
    }

    #[test]
    fn a_declining_hook_is_a_refusal_with_its_reason() {
        let (s, o) = one("hook-declined");
        assert_eq!(s.summary, "[remote rejected]");
        assert_eq!(
            o,
            PushOutcome::Refused {
                reason: "pre-receive hook declined".to_owned()
            }
        );
        let (_, err) = sample("hook-declined");
        assert_eq!(
            remote_messages(&err),
            vec!["catalogue: pushes to main need review".to_owned()]
        );
    }

    #[test]
    fn a_held_remote_lock_names_the_lock_file() {
        let (s, o) = one("remote-lock-held");
        assert_eq!(s.reason.as_deref(), Some("failed to update ref"));
        match o {
            PushOutcome::Locked { lock } => {
                assert!(lock.ends_with("refs/heads/main.lock"), "{lock}")
            }
            other => panic!("expected a held lock, got {other:?}"),
        }
    }

    #[test]
    fn a_remote_compare_and_swap_failure_is_a_lost_race() {
        // Captured with a pre-receive hook that moved main under the push.
        let (s, o) = one("remote-moved");
        assert_eq!(s.summary, "[remote rejected]");
        assert_eq!(
            o,
            PushOutcome::Lost {
                reason: "failed to update ref".to_owned()
            }
        );
    }

    #[test]
    fn a_failure_without_ref_lines_parses_to_nothing() {
        let (out, _) = sample("no-such-remote");
        assert_eq!(parse(&out).expect("parses"), Vec::new());
    }

    #[test]
    fn a_garbled_ref_line_is_an_error_not_a_guess() {
        assert!(parse(b"To x\n!\trefs/heads/main\n").is_err());
        assert!(parse(b"?\ta:b\tok\n").is_err());
    }
}
