//! The one place that starts a process: every `git` subprocess is built here.
//!
//! gix does the object and ref work in-process. The `git` CLI is used only
//! where gix 0.90 has nothing light to offer: updating a checked-out index and
//! work tree (gix needs its heavy `worktree-mutation` feature for that), and
//! network transport (gix has no push). Every invocation gets the same
//! hygiene: an explicit `--git-dir`, `LC_ALL=C` so output can be parsed, no
//! stdin, no terminal prompts, and both pipes drained concurrently so a chatty
//! child can never deadlock on a full pipe.

use std::{
    ffi::OsStr,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use crate::error::{Error, ErrorKind, Result};

/// What a finished `git` process left.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Killed (with every process it started) because its time limit ran
    /// out: see [`Git::run_with_deadline`].
    pub timed_out: bool,
}

impl Output {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stderr as text, trimmed, for error messages.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// A `git` invocation bound to one repository.
#[derive(Clone, Debug)]
pub struct Git {
    git_dir: PathBuf,
    work_tree: Option<PathBuf>,
}

impl Git {
    /// `git --git-dir <git_dir> [--work-tree <work_tree>]`.
    pub fn new(git_dir: &Path, work_tree: Option<&Path>) -> Self {
        Git {
            git_dir: absolute(git_dir),
            work_tree: work_tree.map(absolute),
        }
    }

    /// For a gix repository.
    pub fn for_repo(repo: &gix::Repository) -> Self {
        Git::new(repo.git_dir(), repo.workdir())
    }

    /// Build the command: global options, then `args`. Callers put `--`
    /// before positional paths or refs themselves, since only they know
    /// where options end.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(&self.git_dir);
        if let Some(wt) = &self.work_tree {
            cmd.arg("--work-tree").arg(wt).current_dir(wt);
        }
        cmd.args(["-c", "core.quotePath=false"])
            .args(args)
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run `git <args>` to completion and collect its output.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with_input(args, None)
    }

    /// [`Git::run`], writing `input` to git's stdin (on its own thread, so a
    /// large input cannot deadlock against git's output).
    pub fn run_with_input<I, S>(&self, args: I, input: Option<Vec<u8>>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with_deadline(args, input, None)
    }

    /// [`Git::run_with_input`] with a time limit: when `limit` runs out
    /// before git exits, git and every process it started (a transport
    /// helper such as `git-remote-http`, an `ssh`) are killed and the
    /// output says [`Output::timed_out`].
    ///
    /// With a limit, git runs in a process group of its own, so that one
    /// `kill` reaches the helpers too: killing git alone would leave a
    /// helper blocked on a silent server, holding the pipes open. The price:
    /// a Ctrl-C at a terminal reaches this process, not git; gix's handler
    /// then ends this process, and git finishes (or hits the server's own
    /// limits) on its own.
    pub fn run_with_deadline<I, S>(
        &self,
        args: I,
        input: Option<Vec<u8>>,
        limit: Option<Duration>,
    ) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        #[cfg(unix)]
        if limit.is_some() {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let describe = format!("{cmd:?}");
        let mut child = cmd.spawn().map_err(|e| {
            Error::new(
                ErrorKind::Git,
                format!("could not start git ({describe}): {e}"),
            )
        })?;
        let feeder = match (child.stdin.take(), input) {
            (Some(mut stdin), Some(input)) => Some(std::thread::spawn(move || {
                use std::io::Write as _;
                // A git that exits early closes the pipe; its status says why.
                let _ = stdin.write_all(&input);
            })),
            _ => None,
        };
        // Both pipes are drained on threads of their own, so a chatty git
        // cannot block on a full pipe while this thread waits for it.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let result = match pipe {
                    Some(mut p) => p.read_to_end(&mut buf).map(|_| ()),
                    None => Ok(()),
                };
                (buf, result)
            })
        };
        let out_thread = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err_thread = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let (status, timed_out) = match limit {
            None => (child.wait(), false),
            Some(limit) => wait_or_kill(child, limit),
        };
        let status = status.map_err(|e| {
            Error::new(ErrorKind::Git, format!("waiting for git ({describe}): {e}"))
        })?;
        let (out, read) = out_thread
            .join()
            .unwrap_or_else(|_| (Vec::new(), Err(std::io::Error::other("reader thread died"))));
        read.map_err(|e| {
            Error::new(
                ErrorKind::Git,
                format!("reading git's output ({describe}): {e}"),
            )
        })?;
        let err = err_thread.join().map(|(buf, _)| buf).unwrap_or_default();
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        Ok(Output {
            code: status.code(),
            stdout: out,
            stderr: err,
            timed_out,
        })
    }
}

/// Wait for `child` at most `limit`; past it, kill its process group (git
/// and its helpers) and reap it. Returns the status and whether it was killed.
fn wait_or_kill(
    mut child: std::process::Child,
    limit: Duration,
) -> (std::io::Result<std::process::ExitStatus>, bool) {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(limit) {
        Ok(status) => {
            let _ = waiter.join();
            (status, false)
        }
        Err(_) => {
            kill_group(pid);
            let status = rx
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("git's waiter thread died")));
            let _ = waiter.join();
            (status, true)
        }
    }
}

/// SIGKILL to the process group `pid` leads (git started it with
/// `process_group(0)`, so its id is the group's).
#[cfg(unix)]
fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // The leader was not reaped when the limit ran out (the waiter had not
    // reported), so the group id still names git's own group.
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // touches no memory of ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_kills_git_and_the_processes_it_started() {
        let dir = tempfile_dir();
        let git = Git::new(&dir, None);
        // An alias that starts a shell which starts a grandchild holding
        // git's stderr open: killing git alone would leave the pipe open
        // for the grandchild's 30 s.
        let started = std::time::Instant::now();
        let out = git
            .run_with_deadline(
                ["-c", "alias.hang=!sh -c 'sleep 30 & sleep 30'", "hang"],
                None,
                Some(Duration::from_millis(300)),
            )
            .expect("runs");
        assert!(out.timed_out, "{out:?}");
        assert!(!out.success());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let fast = git
            .run_with_deadline(["--version"], None, Some(Duration::from_secs(30)))
            .expect("runs");
        assert!(fast.success() && !fast.timed_out, "{fast:?}");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("catalogue-deadline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
