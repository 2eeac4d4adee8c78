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
        let mut cmd = self.command(args);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
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
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        // Drain stderr on its own thread while this one drains stdout.
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            s.read_to_end(&mut out).map_err(|e| {
                Error::new(
                    ErrorKind::Git,
                    format!("reading git's output ({describe}): {e}"),
                )
            })?;
        }
        let err = err_thread.join().unwrap_or_default();
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let status = child.wait().map_err(|e| {
            Error::new(ErrorKind::Git, format!("waiting for git ({describe}): {e}"))
        })?;
        Ok(Output {
            code: status.code(),
            stdout: out,
            stderr: err,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
