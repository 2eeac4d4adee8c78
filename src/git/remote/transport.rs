//! A pure classification of a failed `git fetch`, `git push` or `git
//! ls-remote`, from git's exit status and stderr, tested on captured samples
//! (`fixtures/transport/`, captured from git 2.47 against `git daemon`,
//! smart HTTP servers and TCP listeners on 127.0.0.1).
//!
//! A *transient* failure is one a busy or restarting server gives and a
//! retry a moment later would pass: a reset or refused connection (a server
//! whose listen backlog is full resets or refuses new connections), an
//! empty reply, a connection cut mid-transfer, HTTP 502, 503 or 504 (a proxy
//! or load balancer in front of a busy forge). The retry loop treats it like
//! a lost race, within the same budget (`crate::publish::with_retries`).
//!
//! A *definite* failure is a refusal that a retry cannot change: HTTP 401
//! and 403 (authentication), 404 or "no such repository", "access denied",
//! a hook's refusal, HTTP 500 (the server's own bug), and anything not
//! recognised. Definite wins where both appear: a message that names a
//! missing repository is never retried, whatever else it says. git daemon's
//! bare "Could not read from remote repository" (it hung up) is definite
//! too: a daemon without `--informative-errors` says exactly that for a
//! repository that does not exist.

/// What a failed transport command means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another try after a pause; the words that said so.
    Transient(String),
    /// Retrying cannot help.
    Definite,
}

/// Words in git's stderr that mean a retry cannot help. Checked first.
const DEFINITE: &[&str] = &[
    "The requested URL returned error: 401",
    "The requested URL returned error: 403",
    "The requested URL returned error: 404",
    "The requested URL returned error: 500",
    "could not read Username",
    "could not read Password",
    "Authentication failed",
    "Permission denied",
    "remote error: access denied",
    "no such repository",
    "not found",
    "does not appear to be a git repository",
    "repository not exported",
];

/// Words in git's stderr (git's own or curl's, as git passes them on) that
/// a busy, restarting or overloaded server gives.
const TRANSIENT: &[&str] = &[
    "Connection reset by peer",
    "Connection refused",
    "Couldn't connect to server",
    "Empty reply from server",
    "The requested URL returned error: 502",
    "The requested URL returned error: 503",
    "The requested URL returned error: 504",
    "HTTP 502",
    "HTTP 503",
    "HTTP 504",
    "early EOF",
    "unexpected disconnect while reading sideband packet",
    "transfer closed with outstanding read data remaining",
    "Recv failure",
    "Send failure",
    "Broken pipe",
];

/// Classify a transport command that exited with `code` (`None`: killed by a
/// signal) and wrote `stderr`. A command that exited 0 did not fail; it is
/// [`Failure::Definite`] only so that the function is total.
pub fn classify(code: Option<i32>, stderr: &[u8]) -> Failure {
    if code == Some(0) {
        return Failure::Definite;
    }
    let text = String::from_utf8_lossy(stderr);
    if DEFINITE.iter().any(|w| text.contains(w)) {
        return Failure::Definite;
    }
    match TRANSIENT.iter().find(|w| text.contains(**w)) {
        Some(w) => Failure::Transient((*w).to_owned()),
        None => Failure::Definite,
    }
}

/// Whether a failed push may have been applied by the server before the
/// reply was lost: the server hung up or the connection broke after the
/// request could have reached it. A refused connection cannot have landed.
pub fn may_have_landed(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    // A pack that was being sent (`send-pack: …`) may have been applied even
    // when curl's next connection is then refused.
    text.contains("send-pack:")
        || !(text.contains("Connection refused") || text.contains("Couldn't connect to server"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reconnect_after_the_pack_was_sent_may_have_landed() {
        // Captured from git 2.47 over smart HTTP: the server applied the
        // push, the reply was lost, and curl's next connection was refused.
        let cut = b"error: RPC failed; curl 7 Failed to connect to 127.0.0.1 port 38741 after 0 ms: \
            Couldn't connect to server\nsend-pack: unexpected disconnect while reading sideband packet\n\
            fatal: the remote end hung up unexpectedly\n";
        assert!(may_have_landed(cut));
        let never =
            b"fatal: unable to access 'http://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 \
            port 1 after 0 ms: Couldn't connect to server\n";
        assert!(!may_have_landed(never));
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/transport")
            .join(format!("{name}.stderr"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn resets_refusals_empty_replies_and_gateway_errors_are_transient() {
        for (name, words) in [
            ("daemon-reset", "Connection reset by peer"),
            ("daemon-refused", "Connection refused"),
            ("http-reset", "Connection reset by peer"),
            ("http-refused", "Couldn't connect to server"),
            ("http-empty", "Empty reply from server"),
            ("http-502", "The requested URL returned error: 502"),
            ("http-503", "The requested URL returned error: 503"),
            ("http-504", "The requested URL returned error: 504"),
        ] {
            assert_eq!(
                classify(Some(128), &sample(name)),
                Failure::Transient(words.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn authentication_missing_repositories_and_server_bugs_are_definite() {
        for name in [
            "http-401",
            "http-403",
            "http-404",
            "http-500",
            "daemon-not-exported",
            "daemon-no-repo",
            "daemon-hung-up",
        ] {
            assert_eq!(
                classify(Some(128), &sample(name)),
                Failure::Definite,
                "{name}"
            );
        }
    }

    #[test]
    fn a_missing_repository_is_definite_even_beside_transient_words() {
        let both = b"fatal: repository 'http://127.0.0.1:1/x.git/' not found\nerror: Connection reset by peer\n";
        assert_eq!(classify(Some(128), both), Failure::Definite);
        assert_eq!(
            classify(Some(128), b"fatal: something new\n"),
            Failure::Definite
        );
        assert_eq!(classify(Some(0), b""), Failure::Definite);
    }

    #[test]
    fn only_a_connection_never_made_cannot_have_landed() {
        assert!(!may_have_landed(&sample("daemon-refused")));
        assert!(!may_have_landed(&sample("http-refused")));
        assert!(may_have_landed(&sample("http-empty")));
        assert!(may_have_landed(&sample("daemon-reset")));
    }
}
