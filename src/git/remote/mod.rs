//! Remote transport through the `git` CLI: gix 0.90 has no push.
//!
//! A remote write is the same compare-and-swap as a local one, with the
//! forge's atomic ref update as the lock: fetch the remote ref into a ref of
//! our own, build on it, and push without force. A push of a commit whose
//! parent is the fetched tip is accepted only while the remote ref still
//! points there; otherwise git rejects it and [`porcelain::classify`] says it
//! was a lost race. Per-issue refs are pushed with `--force-with-lease`
//! against their own previous remote value.

pub mod porcelain;
pub mod transport;

use std::time::Duration;

use gix::{refs::FullName, ObjectId, Repository};

use crate::error::{Error, ErrorKind, Result};
use crate::git::command::{Git, Output};
use crate::git::store::{self, Expected};

pub use porcelain::PushOutcome;

/// Our own namespace for fetched remote refs: a fetch never touches the
/// user's branches or `refs/remotes/`.
pub const TRACKING_PREFIX: &str = "refs/catalogue/remotes/";

/// The git config key of the time limit of each transport command.
pub const TIMEOUT_KEY: &str = "catalogue.remoteTimeout";

/// The time limit of each `git fetch`, `git push` and `git ls-remote`
/// unless [`TIMEOUT_KEY`] says otherwise: in CI a minute without an answer
/// means a dead server, and a catalogue fetch (depth 1, a few kilobytes per
/// fragment) or push takes seconds even from a busy forge.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A remote we fetch from and push to.
#[derive(Clone, Debug)]
pub struct Remote {
    /// As the user named it: a configured remote, a URL or a path.
    pub name: String,
    /// Its folder under [`TRACKING_PREFIX`].
    id: String,
    git: Git,
    shallow: bool,
    /// A partial clone of this remote (`remote.<name>.promisor`): objects it
    /// lacks by design can be fetched by id.
    partial: bool,
    /// The time limit of each transport command ([`TIMEOUT_KEY`]).
    timeout: Duration,
}

impl Remote {
    /// A remote of `repo`, as the user named it.
    pub fn new(repo: &Repository, name: &str) -> Result<Remote> {
        if name.is_empty() || name.starts_with('-') {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("invalid remote `{name}`"),
            ));
        }
        let shallow = repo
            .is_shallow()
            .map_err(|e| Error::git("could not tell whether the repository is shallow", &e))?;
        let partial =
            store::config_string(repo, &format!("remote.{name}.promisor")).is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
            });
        let timeout = match store::config_string(repo, TIMEOUT_KEY) {
            None => DEFAULT_TIMEOUT,
            Some(v) => parse_timeout(&v).ok_or_else(|| {
                Error::new(
                    ErrorKind::Usage,
                    format!(
                        "git config {TIMEOUT_KEY} is `{v}`: it must be a whole number of seconds, 1 or more"
                    ),
                )
            })?,
        };
        Ok(Remote {
            name: name.to_owned(),
            id: remote_id(name),
            // No work tree: transport never needs one, and git then cannot touch it.
            git: Git::new(repo.git_dir(), None),
            shallow,
            partial,
            timeout,
        })
    }

    /// Run one transport command under the time limit. A command that ran
    /// out of time is an [`ErrorKind::Remote`] error saying "timed out" and
    /// naming the remote (`doing`: what it was doing, "push to").
    fn transport(&self, args: &[String], input: Option<Vec<u8>>, doing: &str) -> Result<Output> {
        let out = self
            .git
            .run_with_deadline(args, input, Some(self.timeout))?;
        if out.timed_out {
            let landed = if doing == "push to" {
                "; the push may have landed: a re-run is safe, it builds on whatever the remote holds"
            } else {
                ""
            };
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "timed out: could not {doing} remote `{}` within {} s (git config {TIMEOUT_KEY}); \
                     the server accepted no request or sent no answer in time{landed}",
                    self.name,
                    self.timeout.as_secs()
                ),
            )
            .remote(&self.name));
        }
        Ok(out)
    }

    /// What `dest` holds on the remote now, by one `git ls-remote`
    /// (`None`: absent there).
    pub fn remote_value(&self, dest: &FullName) -> Result<Option<ObjectId>> {
        let dest_text = dest.as_bstr().to_string();
        let args = [
            "ls-remote".to_owned(),
            "--refs".to_owned(),
            "--".to_owned(),
            self.name.clone(),
            dest_text.clone(),
        ];
        let out = self.run(&args, "list the refs of")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let found = text.lines().find_map(|l| {
            let (id, name) = l.split_once('\t')?;
            (name == dest_text).then(|| ObjectId::from_hex(id.as_bytes()).ok())?
        });
        Ok(found)
    }

    /// Where `remote_ref` (`refs/heads/x`) is kept locally once fetched.
    pub fn tracking_ref(&self, remote_ref: &FullName) -> Result<FullName> {
        let full = self.tracking_prefix(&remote_ref.as_bstr().to_string());
        FullName::try_from(full.as_str()).map_err(|e| {
            Error::new(
                ErrorKind::Git,
                format!("invalid tracking ref `{full}`: {e}"),
            )
        })
    }

    /// The local counterpart of a remote ref name or prefix (`refs/heads/catalogue/`).
    pub fn tracking_prefix(&self, remote_prefix: &str) -> String {
        let short = remote_prefix.strip_prefix("refs/").unwrap_or(remote_prefix);
        format!("{TRACKING_PREFIX}{}/{short}", self.id)
    }

    /// Which of `refs` exist on the remote (one `git ls-remote`).
    pub fn existing(&self, refs: &[&FullName]) -> Result<Vec<bool>> {
        let mut args = vec![
            "ls-remote".to_owned(),
            "--refs".to_owned(),
            "--".to_owned(),
            self.name.clone(),
        ];
        args.extend(refs.iter().map(|r| r.as_bstr().to_string()));
        let out = self.run(&args, "list the refs of")?;
        let listed: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split('\t').nth(1))
            .collect();
        Ok(refs
            .iter()
            .map(|r| listed.contains(&r.as_bstr().to_string().as_str()))
            .collect())
    }

    /// What each of `refs` holds on the remote now (`None`: absent there),
    /// fetched into their tracking refs so the objects are here. Shallow
    /// where the repository is shallow.
    pub fn read(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<Option<ObjectId>>> {
        match self.fetch(repo, refs) {
            Ok(ids) => Ok(ids.into_iter().map(Some).collect()),
            // Some are absent there: fetch the rest.
            Err(Fetch::Missing { refs: missing, .. }) => {
                let present: Vec<&FullName> = refs
                    .iter()
                    .copied()
                    .filter(|r| !missing.contains(&r.as_bstr().to_string()))
                    .collect();
                let mut fetched = self
                    .fetch(repo, &present)
                    .map_err(Fetch::into_error)?
                    .into_iter();
                Ok(refs
                    .iter()
                    .map(|r| {
                        if present.contains(r) {
                            fetched.next()
                        } else {
                            None
                        }
                    })
                    .collect())
            }
            Err(Fetch::Failed(e)) => Err(e),
        }
    }

    /// Fetch `refs` into their tracking refs and return what they hold now.
    fn fetch(&self, repo: &Repository, refs: &[&FullName]) -> Result<Vec<ObjectId>, Fetch> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let mut refspecs = Vec::new();
        let mut tracking = Vec::new();
        for r in refs {
            let t = self.tracking_ref(r)?;
            // `+`: our tracking ref mirrors the remote, wherever it went.
            refspecs.push(format!("+{}:{}", r.as_bstr(), t.as_bstr()));
            tracking.push(t);
        }
        self.fetch_refspecs(&refspecs, false)?;
        let ids = tracking
            .iter()
            .map(|t| {
                store::ref_target(repo, t)?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Git,
                        format!("`git fetch` succeeded but left no {t}"),
                    )
                    .refname(t)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ids)
    }

    /// `git fetch` of raw refspecs into our namespace; `prune` drops tracking
    /// refs whose remote ref is gone. When the fetch fails, the remote is
    /// asked (by `git ls-remote`, whose output is made to be read) which of
    /// the refs named without a glob it lacks: those come back as
    /// [`Fetch::Missing`], so nothing depends on the words of git's error.
    pub fn fetch_refspecs(&self, refspecs: &[String], prune: bool) -> Result<(), Fetch> {
        let mut args = fetch_command();
        if self.shallow {
            args.push("--depth=1".to_owned());
        }
        if prune {
            args.push("--prune".to_owned());
        }
        args.push("--".to_owned());
        args.push(self.name.clone());
        args.extend(refspecs.iter().cloned());
        let out = self.transport(&args, None, "fetch from")?;
        if out.success() {
            return Ok(());
        }
        let failed = self.transport_error("fetch from", &out);
        if failed.transient {
            // The server is busy or away: asking it what it lacks would fail too.
            return Err(Fetch::Failed(failed));
        }
        let named: Vec<FullName> = refspecs
            .iter()
            .filter_map(|spec| {
                let source = spec.trim_start_matches('+').split(':').next()?;
                (!source.contains('*'))
                    .then(|| FullName::try_from(source).ok())
                    .flatten()
            })
            .collect();
        let named: Vec<&FullName> = named.iter().collect();
        // A remote that cannot list its refs either: the fetch's own error says more.
        let Ok(exists) = self.existing(&named) else {
            return Err(Fetch::Failed(failed));
        };
        let missing: Vec<String> = named
            .iter()
            .zip(exists)
            .filter(|(_, e)| !e)
            .map(|(r, _)| r.as_bstr().to_string())
            .collect();
        if missing.is_empty() {
            Err(Fetch::Failed(failed))
        } else {
            Err(Fetch::Missing {
                remote: self.name.clone(),
                refs: missing,
            })
        }
    }

    /// Fetch the whole history of `branch` (`refs/heads/x`) from the remote
    /// into its tracking ref, unshallowing a shallow clone: `git fetch
    /// --unshallow`. Returns false, having run nothing, when the repository
    /// is not shallow. The local branch is left where it is.
    pub fn deepen(&self, branch: &FullName) -> Result<bool> {
        if !self.shallow {
            return Ok(false);
        }
        let tracking = self.tracking_ref(branch)?;
        let mut args = fetch_command();
        args.extend([
            "--unshallow".to_owned(),
            "--".to_owned(),
            self.name.clone(),
            format!("+{}:{}", branch.as_bstr(), tracking.as_bstr()),
        ]);
        let out = self.transport(&args, None, "fetch the whole history from")?;
        if out.success() {
            return Ok(true);
        }
        let what = format!("fetch the whole history of {} from", branch.as_bstr());
        let error = self.transport_error(&what, &out);
        Err(match self.existing(&[branch]) {
            Ok(found) if found == [false] => Fetch::Missing {
                remote: self.name.clone(),
                refs: vec![branch.as_bstr().to_string()],
            }
            .into_error(),
            _ => error.refname(branch),
        })
    }

    /// Fetch objects by id in one request, as git's own lazy fetch in a
    /// partial clone does: a blobless clone (`--filter=blob:none`) calls
    /// this with the blobs it is about to read. The server must let clients
    /// ask for objects by id (`uploadpack.allowAnySHA1InWant` or
    /// `allowReachableSHA1InWant`, and `uploadpack.allowFilter`; GitHub does).
    /// Outside a partial clone of this remote it does nothing: a missing
    /// object there is an error, reported when it is read.
    pub fn fetch_objects(&self, ids: &[ObjectId]) -> Result<()> {
        if ids.is_empty() || !self.partial {
            return Ok(());
        }
        let args = [
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
            "-c",
            "fetch.negotiationAlgorithm=noop",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--filter=blob:none",
            "--stdin",
            "--",
            &self.name,
        ];
        let mut input = Vec::with_capacity(ids.len() * 41);
        for id in ids {
            input.extend_from_slice(id.to_string().as_bytes());
            input.push(b'\n');
        }
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let out = self.transport(&args, Some(input), "fetch objects from")?;
        if out.success() {
            return Ok(());
        }
        Err(self
            .transport_error(&format!("fetch {} missing object(s) from", ids.len()), &out)
            .blob(ids[0]))
    }

    /// Push `commit` to `dest`. `lease` is `None` for a plain fast-forward
    /// push, else `--force-with-lease` against that expected remote value.
    /// A refusal that is not a lost race or a held lock (a hook, a
    /// protection rule) is an [`ErrorKind::Rejected`] error: retrying cannot help.
    pub fn push(
        &self,
        commit: ObjectId,
        dest: &FullName,
        lease: Option<Expected>,
    ) -> Result<PushOutcome> {
        let mut args = vec![
            "push".to_owned(),
            "--porcelain".to_owned(),
            "--no-progress".to_owned(),
            "--no-recurse-submodules".to_owned(),
        ];
        if let Some(lease) = lease {
            let expect = match lease {
                Expected::Absent => String::new(),
                Expected::At(id) => id.to_string(),
            };
            args.push(format!("--force-with-lease={}:{expect}", dest.as_bstr()));
        }
        args.push("--".to_owned());
        args.push(self.name.clone());
        args.push(format!("{commit}:{}", dest.as_bstr()));
        let out = self.transport(&args, None, "push to")?;
        let refs = porcelain::parse(&out.stdout).map_err(|e| {
            Error::new(
                ErrorKind::Remote,
                format!("could not understand `git push` to `{}`: {e}", self.name),
            )
        })?;
        let dest_text = dest.as_bstr().to_string();
        let Some(status) = refs.iter().find(|r| r.to == dest_text) else {
            return self.unanswered_push(commit, dest, &out);
        };
        match porcelain::classify(status, &out.stderr) {
            PushOutcome::Refused { reason } => {
                Err(self.refused(dest, &reason, &porcelain::remote_messages(&out.stderr)))
            }
            PushOutcome::Pushed => self.confirm(commit, dest),
            outcome => Ok(outcome),
        }
    }

    /// Trust, then verify: the server said `ok`; one `git ls-remote` checks
    /// that its ref holds `commit`. A server that said `ok` without applying
    /// the update lost the write as surely as a lost race: the error is
    /// transient, so the retry loop rebuilds on what the remote holds and
    /// tries again, and reports it when the budget runs out.
    fn confirm(&self, commit: ObjectId, dest: &FullName) -> Result<PushOutcome> {
        let holds = self.remote_value(dest)?;
        if holds == Some(commit) {
            return Ok(PushOutcome::Pushed);
        }
        let actual = holds.map_or_else(|| "nothing".to_owned(), |id| id.to_string());
        Err(Error::new(
            ErrorKind::Remote,
            format!(
                "remote `{}` accepted the push of {commit} to {dest}, but its ref does not hold the commit \
                 (it holds {actual}): the server did not apply the update it reported",
                self.name
            ),
        )
        .remote(&self.name)
        .refname(dest)
        .commit(commit)
        .transient())
    }

    /// A push that ended without a status for `dest`: the connection broke
    /// or the reply was lost, perhaps after the server applied it. The
    /// remote is asked (one `git ls-remote`): if its ref holds `commit`, the
    /// push landed and that is all. Otherwise, and when the remote cannot be
    /// asked either, the error says the push may have landed and that a
    /// re-run is safe: every write re-reads the remote and builds on it, so
    /// a write that did land makes the re-run a no-op.
    fn unanswered_push(
        &self,
        commit: ObjectId,
        dest: &FullName,
        out: &Output,
    ) -> Result<PushOutcome> {
        let error = self
            .transport_error("push to", out)
            .refname(dest)
            .commit(commit);
        match self.remote_value(dest) {
            Ok(Some(id)) if id == commit => Ok(PushOutcome::Pushed),
            // Asked, and it does not hold the commit: the push did not land.
            Ok(_) => Err(error),
            Err(_) if transport::may_have_landed(&out.stderr) => {
                let mut error = error;
                error.message.push_str(
                    "; the push may have landed (the remote could not be asked afterwards): \
                     a re-run is safe, it builds on whatever the remote holds",
                );
                Err(error)
            }
            Err(_) => Err(error),
        }
    }

    /// A refusal as an error: git's reason plus the remote's own words.
    fn refused(&self, dest: &FullName, reason: &str, remote_said: &[String]) -> Error {
        let said = if remote_said.is_empty() {
            String::new()
        } else {
            format!("; the remote said: {}", remote_said.join(" / "))
        };
        Error::new(
            ErrorKind::Rejected,
            format!(
                "remote `{}` refused the update of {dest} ({reason}){said}",
                self.name
            ),
        )
        .refname(dest)
    }

    fn run(&self, args: &[String], what: &str) -> Result<Output> {
        let out = self.transport(args, None, what)?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.transport_error(what, &out))
        }
    }

    /// A failed transport command as an error, marked transient when
    /// [`transport::classify`] says a retry may pass.
    fn transport_error(&self, what: &str, out: &Output) -> Error {
        let error = Error::new(
            ErrorKind::Remote,
            format!(
                "could not {what} remote `{}` (git exited with {}): {}",
                self.name,
                out.code
                    .map_or_else(|| "a signal".to_owned(), |c| c.to_string()),
                out.stderr_text()
            ),
        )
        .remote(&self.name);
        match transport::classify(out.code, &out.stderr) {
            transport::Failure::Transient(_) => error.transient(),
            transport::Failure::Definite => error,
        }
    }
}

/// Why a fetch did not go through.
#[derive(Debug)]
pub enum Fetch {
    /// The remote lacks these refs, as it listed them itself.
    Missing {
        /// The remote, as the user named it.
        remote: String,
        /// Full ref names.
        refs: Vec<String>,
    },
    /// Anything else: transport, authentication, git.
    Failed(Error),
}

impl Fetch {
    /// As an error: a missing ref is [`ErrorKind::NotFound`], naming it.
    pub fn into_error(self) -> Error {
        match self {
            Fetch::Failed(e) => e,
            Fetch::Missing { remote, refs } => Error::new(
                ErrorKind::NotFound,
                format!("remote `{remote}` has no {}", refs.join(", ")),
            )
            .refname(&refs[0])
            .remote(remote),
        }
    }
}

impl From<Error> for Fetch {
    fn from(e: Error) -> Fetch {
        Fetch::Failed(e)
    }
}

/// `catalogue.remoteTimeout` as seconds: a whole number, 1 or more.
fn parse_timeout(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    (secs >= 1).then(|| Duration::from_secs(secs))
}

/// `git fetch` as every fetch of the tool runs it: no automatic gc or
/// maintenance in a CI clone, no tags, no FETCH_HEAD, no submodules.
fn fetch_command() -> Vec<String> {
    [
        "-c",
        "gc.auto=0",
        "-c",
        "maintenance.auto=false",
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
    ]
    .map(ToOwned::to_owned)
    .to_vec()
}

/// A ref-name-safe, stable folder name for a remote: the name itself when it
/// is a plain remote name, else `url-<16 hex>` of a FNV-1a hash of it.
fn remote_id(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if plain {
        return name.to_owned();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("url-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::{parse_timeout, remote_id};
    use std::time::Duration;

    #[test]
    fn the_time_limit_is_whole_seconds_from_one() {
        assert_eq!(parse_timeout("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timeout(" 5 "), Some(Duration::from_secs(5)));
        for bad in ["0", "-1", "1.5", "", "1m", "abc"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_remote_names_are_kept_and_urls_are_hashed_stably() {
        assert_eq!(remote_id("origin"), "origin");
        let a = remote_id("git://127.0.0.1:9418/origin.git");
        assert!(a.starts_with("url-") && a.len() == 20, "{a}");
        assert_eq!(a, remote_id("git://127.0.0.1:9418/origin.git"));
        assert_ne!(a, remote_id("../origin.git"));
    }
}
