//! The harness: hermetic git repositories in temporary directories, and the
//! `git-catalogue` binary driven the way a user or a CI job drives it.
//!
//! Nothing here mocks git. Repositories are built with the `git` CLI, and
//! results are checked with the `git` CLI, an oracle independent of the gix
//! code under test. Every process (git and the tool) runs with a fixed
//! identity, fixed dates, no global or system config and `LC_ALL=C`, so that
//! object ids are the same on every machine and nothing on the host leaks in.
//!
//! The test files share one of everything: one [`Repo`] (sandbox, git
//! oracle, commits by hand, runs of the tool, and the scenarios the tests
//! start from), one way to require a refusal ([`assert_refusal`]), one way
//! to run a table of cases ([`every_case`]). A copy kept in a test file
//! drifts from the original, and then two files that mean the same promise
//! check different things.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_git-catalogue");

/// The identity and date every hermetic process runs with.
pub const AUTHOR_NAME: &str = "A U Thor";
pub const AUTHOR_EMAIL: &str = "author@example.com";
pub const COMMITTER_NAME: &str = "C O Mitter";
pub const COMMITTER_EMAIL: &str = "committer@example.com";
pub const DATE: &str = "2005-04-07T22:13:13 +0000";

/// The identity commits are made with when none is configured (README, Identity).
pub const FALLBACK_IDENTITY: &str = "git-catalogue <git-catalogue@localhost>";

/// git's empty tree, the manifest's `source` when there is no fragments folder.
pub const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// Every `error.kind` README (`--json`) documents.
pub const ERROR_KINDS: &[&str] = &[
    "usage",
    "invalid_fragment",
    "invalid_key",
    "invalid_path",
    "duplicate_path",
    "invalid_tree",
    "contention",
    "lock",
    "not_found",
    "dirty_worktree",
    "stale",
    // A manifest with entries no fragment backs, which consolidating would drop.
    "unmigrated",
    // `consolidate`: the manifest it would write is over catalogue.manifestMaxSize.
    "manifest_too_large",
    // `verify --history` only: a committed manifest that is not JSON.
    "invalid_manifest",
    "git",
    "io",
    // Only `--push` meets these: a remote that cannot be reached or does not
    // exist, and a push the remote's hooks or policy declined.
    "remote",
    "rejected",
];

/// A sample file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// `text` spells every number of `fixtures/fragments/full.json` that no f64
/// keeps as written, digit for digit.
pub fn assert_full_fixture_numbers_verbatim(text: &str) {
    for digits in [
        "12345678901234567890123",
        "1.50",
        "0.10",
        "18446744073709551616",
    ] {
        assert!(
            text.contains(digits),
            "{digits} was not kept verbatim in:\n{text}"
        );
    }
}

/// Make `cmd` hermetic: no inherited `GIT_*` variables, no global or system
/// config, `HOME` inside the sandbox, a fixed identity and date, `LC_ALL=C`.
pub fn hermetic<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("EMAIL")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_NAME", COMMITTER_NAME)
        .env("GIT_COMMITTER_EMAIL", COMMITTER_EMAIL)
        .env("GIT_COMMITTER_DATE", DATE)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
}

/// Remove every source of identity a hermetic command would otherwise have.
pub fn without_identity(cmd: &mut Command) -> &mut Command {
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The outcome of one run of the tool.
#[derive(Debug)]
pub struct Run {
    /// The exit status; -1 when the process was killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Fail unless the exit status is `code`, showing both streams.
    pub fn expect(&self, code: i32) -> Result<&Run> {
        ensure!(
            self.status == code,
            "expected exit {code}, got {}\n--- stdout\n{}--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }

    /// `--json` output: exactly one JSON object and a newline on stdout, with
    /// `"ok"` (a boolean matching the exit status) and `"command"`.
    pub fn json(&self) -> Result<Value> {
        let body = self
            .stdout
            .strip_suffix('\n')
            .with_context(|| format!("--json stdout must end in a newline: {self:?}"))?;
        ensure!(
            !body.ends_with('\n') && !body.is_empty(),
            "--json stdout must be one object and one newline: {self:?}"
        );
        let value: Value = serde_json::from_str(body)
            .with_context(|| format!("--json stdout is not one JSON value: {self:?}"))?;
        ensure!(
            value.is_object(),
            "--json output is not an object: {self:?}"
        );
        let ok = value["ok"]
            .as_bool()
            .with_context(|| format!("--json output has no boolean \"ok\": {self:?}"))?;
        ensure!(
            ok == (self.status == 0),
            "\"ok\": {ok} disagrees with exit status {}: {self:?}",
            self.status
        );
        if !ok {
            ensure!(
                value["error"]["kind"].is_string(),
                "a failure must carry error.kind: {self:?}"
            );
            ensure!(
                value["error"]["message"].is_string(),
                "a failure must carry error.message: {self:?}"
            );
        }
        Ok(value)
    }
}

/// `error.kind` must be one of the kinds README documents. Checked last by
/// the error tests, so that every other finding is reported first.
pub fn known_kind(error: &Value) -> Result<()> {
    let kind = str_field(error, "kind")?;
    ensure!(
        ERROR_KINDS.contains(&kind),
        "error.kind {kind:?} is not one of the kinds README documents {ERROR_KINDS:?}: {error}"
    );
    Ok(())
}

/// Run `task(0)` … `task(n - 1)` on `n` threads at once (each typically
/// spawning the tool as its own OS process) and collect their results in
/// order. A panicking task becomes an error, not a hang.
pub fn in_parallel<T: Send>(n: usize, task: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    std::thread::scope(|s| {
        let task = &task;
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || task(i))).collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("parallel task {i} panicked"))?
            })
            .collect()
    })
}

/// Run a prepared command, feeding `stdin` if given, and collect its outcome.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().context("child stdin")?;
        // Write from a thread so a child that answers before reading all of
        // its input cannot deadlock us.
        let input = input.to_vec();
        let writer = std::thread::spawn(move || pipe.write_all(&input));
        let out = child.wait_with_output()?;
        // The child may legitimately close stdin early.
        let _ = writer.join();
        return Ok(out);
    }
    Ok(child.wait_with_output()?)
}

/// Run a prepared `git-catalogue` command.
pub fn run_catalogue(cmd: &mut Command) -> Result<Run> {
    Ok(Run::from_output(run(cmd, None)?))
}

/// The arguments of `record --direct --issue <issue> --artifact <path>`, for
/// runs that are raced, killed or expected to fail rather than to succeed.
pub fn record_direct_args<'a>(issue: &'a str, path: &'a str) -> [&'a str; 6] {
    ["record", "--direct", "--issue", issue, "--artifact", path]
}

/// What a command may not change when it fails: the refs and the object files.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    refs: String,
    objects: BTreeSet<String>,
}

/// One entry committed by hand with [`Repo::commit_by_hand`].
pub enum Content<'a> {
    /// A regular file (mode 100644).
    File(&'a [u8]),
    /// A symlink (mode 120000) pointing at the given target.
    Symlink(&'a str),
    /// A submodule (gitlink, mode 160000) at the given commit id.
    Gitlink(&'a str),
    /// A regular file (mode 100644) whose blob is already written, e.g. by
    /// [`Repo::zero_blob`].
    Blob(&'a str),
}

/// A git repository in its own temporary directory, with a private `HOME`.
pub struct Repo {
    tmp: TempDir,
    /// The repository: the work tree of a non-bare repository, the git dir of a bare one.
    pub path: PathBuf,
    /// Whether it is bare.
    pub bare: bool,
}

impl Repo {
    // Building and cloning: each repository gets a sandbox of its own.

    fn sandbox() -> Result<TempDir> {
        let tmp = tempfile::Builder::new()
            .prefix("git-catalogue-")
            .tempdir()?;
        std::fs::create_dir(tmp.path().join("home"))?;
        std::fs::create_dir(tmp.path().join("scratch"))?;
        Ok(tmp)
    }

    /// A non-bare repository with `main` checked out and one commit holding a README.
    pub fn new() -> Result<Repo> {
        let tmp = Self::sandbox()?;
        let path = tmp.path().join("repo");
        let repo = Repo {
            path: path.clone(),
            tmp,
            bare: false,
        };
        repo.git_in(
            repo.tmp.path(),
            &["-c", "init.defaultBranch=main", "init", "-q", "repo"],
        )?;
        std::fs::write(path.join("README.md"), "# A catalogued repository\n")?;
        repo.git(&["add", "README.md"])?;
        repo.git(&["commit", "-q", "-m", "Initial commit"])?;
        Ok(repo)
    }

    /// A bare repository holding the history of [`Repo::new`].
    pub fn new_bare() -> Result<Repo> {
        Repo::new()?.clone_bare()
    }

    /// One commit on `main` by `git fast-import`, writing `fragments` (key,
    /// bytes) under `catalogue/fragments/` and deleting `removes` (paths):
    /// thousands of fragments in well under a second.
    pub fn import_fragments(
        &self,
        fragments: &[(String, Vec<u8>)],
        removes: &[String],
    ) -> Result<()> {
        let mut stream = Vec::new();
        stream.extend_from_slice(
            b"commit refs/heads/main\ncommitter A U Thor <author@example.com> 1700000000 +0000\ndata 14\nmany fragments\nfrom refs/heads/main^0\n",
        );
        for path in removes {
            stream.extend_from_slice(format!("D {path}\n").as_bytes());
        }
        for (key, body) in fragments {
            stream.extend_from_slice(
                format!(
                    "M 100644 inline catalogue/fragments/{key}.json\ndata {}\n",
                    body.len()
                )
                .as_bytes(),
            );
            stream.extend_from_slice(body);
            stream.push(b'\n');
        }
        stream.extend_from_slice(b"done\n");
        let mut cmd = self.git_command(&self.path);
        cmd.args(["fast-import", "--quiet", "--done"]);
        let out = run(&mut cmd, Some(&stream))?;
        ensure!(out.status.success(), "fast-import: {out:?}");
        Ok(())
    }

    /// The committed outputs equal a full rebuild: a full dry run finds
    /// nothing to do.
    pub fn assert_full_rebuild_equal(&self) -> Result<()> {
        let full = self.catalogue_ok(&["consolidate", "--full", "--dry-run"])?;
        ensure!(
            full["changed"] == false,
            "a full rebuild differs from the committed outputs: {full}"
        );
        Ok(())
    }

    /// `git clone --bare` of this repository into a new sandbox.
    pub fn clone_bare(&self) -> Result<Repo> {
        self.clone_with(&["--bare"], self.path.as_os_str(), "repo.git", true)
    }

    /// `git clone --bare --depth 1 file://…`: a shallow bare clone (a
    /// `file://` URL, because a plain local path ignores `--depth`).
    pub fn clone_shallow_bare(&self) -> Result<Repo> {
        let url = format!("file://{}", self.path.display());
        self.clone_with(
            &["--bare", "--depth", "1"],
            OsStr::new(&url),
            "shallow.git",
            true,
        )
    }

    /// A plain non-bare `git clone` of this repository, `main` checked out.
    pub fn clone_worktree(&self) -> Result<Repo> {
        self.clone_with(&[], self.path.as_os_str(), "clone", false)
    }

    /// `git clone --bare --depth 1 <url>` into a new sandbox: a shallow bare
    /// clone of whatever `url` serves (a `git://` daemon, a `file://` path),
    /// with `origin` set to `url` as `git clone` does.
    pub fn clone_shallow_bare_url(url: &str) -> Result<Repo> {
        Self::clone_into(
            &["--bare", "--depth", "1"],
            OsStr::new(url),
            "shallow.git",
            true,
        )
    }

    /// `git clone --bare --filter=blob:none file://…`: a blobless partial
    /// clone, which holds commits and trees but no blob at all. The source
    /// must allow filters (`uploadpack.allowFilter`).
    pub fn clone_partial_bare(&self) -> Result<Repo> {
        let url = self.file_url();
        Self::clone_into(
            &["--bare", "--filter=blob:none"],
            OsStr::new(&url),
            "partial.git",
            true,
        )
    }

    /// `git clone <flags> <url>` into a new sandbox, e.g. a blobless shallow
    /// bare clone (`--bare --depth 1 --filter=blob:none`).
    pub fn clone_url(flags: &[&str], url: &str) -> Result<Repo> {
        let bare = flags.contains(&"--bare");
        Self::clone_into(flags, OsStr::new(url), "clone.git", bare)
    }

    fn clone_with(&self, flags: &[&str], source: &OsStr, name: &str, bare: bool) -> Result<Repo> {
        Self::clone_into(flags, source, name, bare)
    }

    fn clone_into(flags: &[&str], source: &OsStr, name: &str, bare: bool) -> Result<Repo> {
        let tmp = Self::sandbox()?;
        let path = tmp.path().join(name);
        let repo = Repo { tmp, path, bare };
        let mut args: Vec<&OsStr> = vec![OsStr::new("clone"), OsStr::new("-q")];
        args.extend(flags.iter().map(OsStr::new));
        args.push(source);
        args.push(repo.path.as_os_str());
        repo.git_os(repo.tmp.path(), &args, &[])?;
        Ok(repo)
    }

    // Places in and around the repository.

    /// The sandbox's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// A directory in the sandbox that is not inside any repository.
    pub fn scratch(&self) -> PathBuf {
        self.tmp.path().join("scratch")
    }

    /// Write a file in the sandbox (outside the repository); its path.
    pub fn sandbox_file(&self, name: &str, content: &[u8]) -> Result<PathBuf> {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, content)?;
        Ok(path)
    }

    /// The `file://` URL of this repository (a URL, so that `--depth` is honoured).
    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Install an executable hook script in the git dir, e.g. `pre-receive`.
    pub fn install_hook(&self, name: &str, script: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let hooks = self.git_dir().join("hooks");
        std::fs::create_dir_all(&hooks)?;
        let path = hooks.join(name);
        std::fs::write(&path, script)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    }

    /// The git dir (`.git` of a non-bare repository).
    pub fn git_dir(&self) -> PathBuf {
        if self.bare {
            self.path.clone()
        } else {
            self.path.join(".git")
        }
    }

    /// The loose object file of `id`.
    pub fn loose_object(&self, id: &str) -> PathBuf {
        self.git_dir().join("objects").join(&id[..2]).join(&id[2..])
    }

    // git as the oracle: what is in the repository, read with the git CLI.

    /// A hermetic `git` command run in `cwd`.
    pub fn git_command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new("git");
        hermetic(&mut cmd, &self.home()).current_dir(cwd);
        cmd
    }

    fn git_os(&self, cwd: &Path, args: &[&OsStr], envs: &[(&str, &OsStr)]) -> Result<Vec<u8>> {
        let mut cmd = self.git_command(cwd);
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = run(&mut cmd, None)?;
        if !out.status.success() {
            bail!(
                "git {:?} failed ({}):\n{}{}",
                args,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// Run git in the repository; its stdout, or an error carrying its stderr.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        self.git_in(&self.path, args)
    }

    /// Run git in `cwd`; its stdout, or an error carrying its stderr.
    pub fn git_in(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let out = self.git_os(cwd, &args, &[])?;
        Ok(String::from_utf8(out)?)
    }

    /// Run git with extra environment; its raw stdout.
    pub fn git_env(&self, args: &[&str], envs: &[(&str, &OsStr)]) -> Result<Vec<u8>> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        self.git_os(&self.path, &args, envs)
    }

    /// The exit status of a git command that may legitimately fail.
    pub fn git_status(&self, args: &[&str]) -> Result<i32> {
        let mut cmd = self.git_command(&self.path);
        cmd.args(args);
        Ok(run(&mut cmd, None)?.status.code().unwrap_or(-1))
    }

    /// `git rev-parse --verify <rev>`.
    pub fn rev(&self, rev: &str) -> Result<String> {
        Ok(self
            .git(&["rev-parse", "--verify", "-q", rev])
            .with_context(|| format!("{rev} does not resolve"))?
            .trim()
            .to_owned())
    }

    /// Whether `rev` resolves to an object.
    pub fn exists(&self, rev: &str) -> Result<bool> {
        Ok(self.git_status(&["cat-file", "-e", rev])? == 0)
    }

    /// The bytes of a blob, e.g. `main:catalogue/manifest.json`.
    pub fn blob(&self, spec: &str) -> Result<Vec<u8>> {
        self.git_env(&["cat-file", "blob", spec], &[])
    }

    /// A blob as text.
    pub fn text(&self, spec: &str) -> Result<String> {
        Ok(String::from_utf8(self.blob(spec)?)?)
    }

    /// A blob parsed as JSON.
    pub fn json(&self, spec: &str) -> Result<Value> {
        serde_json::from_slice(&self.blob(spec)?).with_context(|| format!("{spec} is not JSON"))
    }

    /// The parents of a commit.
    pub fn parents(&self, rev: &str) -> Result<Vec<String>> {
        let line = self.git(&["rev-list", "--parents", "-n", "1", rev])?;
        Ok(line.split_whitespace().skip(1).map(str::to_owned).collect())
    }

    /// `git rev-list --count <range>`.
    pub fn count(&self, range: &str) -> Result<usize> {
        Ok(self.git(&["rev-list", "--count", range])?.trim().parse()?)
    }

    /// The file names in a tree, e.g. `main:catalogue/fragments`.
    pub fn tree_names(&self, spec: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .git(&["ls-tree", "--name-only", spec])?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// The paths `git diff-tree -r --name-only` reports between two commits.
    pub fn changed_paths(&self, from: &str, to: &str) -> Result<String> {
        self.git(&["diff-tree", "-r", "--name-only", "--no-commit-id", from, to])
    }

    /// The commits of `main`'s first-parent history since `base`.
    pub fn first_parents_since(&self, base: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .git(&["rev-list", "--first-parent", &format!("{base}..main")])?
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// `git fsck --strict` must be clean (dangling objects from lost races are fine).
    pub fn fsck(&self) -> Result<()> {
        let mut cmd = self.git_command(&self.path);
        cmd.args(["fsck", "--strict", "--no-dangling", "--no-progress"]);
        let out = run(&mut cmd, None)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success() && text.trim().is_empty(),
            "git fsck --strict is not clean ({}):\n{text}",
            out.status
        );
        Ok(())
    }

    /// The refs (byte for byte as `git for-each-ref` prints them), and the
    /// object files in the object database.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let refs = self.git(&["for-each-ref"])?;
        let root = self.git_dir().join("objects");
        let mut objects = BTreeSet::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    stack.push(entry.path());
                } else {
                    let rel = entry.path().strip_prefix(&root)?.display().to_string();
                    objects.insert(rel);
                }
            }
        }
        Ok(Snapshot { refs, objects })
    }

    // Commits by hand: what no `record` would write, as a merged pull
    // request or an old writer leaves it.

    /// Commit entries onto `main` by hand, without the tool and without a work
    /// tree: through a private index, `git commit-tree` and a compare-and-swap
    /// `git update-ref`. Only for bare repositories, whose `main` has no
    /// checkout to fall out of step with. Returns the new commit.
    pub fn commit_by_hand(&self, entries: &[(&str, Content<'_>)], message: &str) -> Result<String> {
        ensure!(self.bare, "commit_by_hand is for bare repositories");
        let index = self.tmp.path().join("hand-index");
        let _ = std::fs::remove_file(&index);
        let env: [(&str, &OsStr); 1] = [("GIT_INDEX_FILE", index.as_os_str())];
        let old = self.rev("main")?;
        self.git_env(&["read-tree", "main"], &env)?;
        let blob_file = self.tmp.path().join("hand-blob");
        for (path, content) in entries {
            let (mode, id) = match content {
                Content::File(bytes) => ("100644", self.hash_object(&blob_file, bytes)?),
                Content::Symlink(target) => {
                    ("120000", self.hash_object(&blob_file, target.as_bytes())?)
                }
                Content::Gitlink(id) => ("160000", (*id).to_owned()),
                Content::Blob(id) => ("100644", (*id).to_owned()),
            };
            let info = format!("{mode},{id},{path}");
            self.git_env(&["update-index", "--add", "--cacheinfo", &info], &env)?;
        }
        let tree = String::from_utf8(self.git_env(&["write-tree"], &env)?)?;
        let commit = self.git(&["commit-tree", tree.trim(), "-p", &old, "-m", message])?;
        let commit = commit.trim().to_owned();
        self.git(&["update-ref", "refs/heads/main", &commit, &old])?;
        Ok(commit)
    }

    /// Write a blob of `size` zero bytes, streamed by git from `/dev/zero`
    /// (nothing held in memory; its object is tiny compressed). Its id.
    pub fn zero_blob(&self, size: u64) -> Result<String> {
        let mut zeros = Command::new("head")
            .args(["-c", &size.to_string(), "/dev/zero"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut cmd = self.git_command(&self.path);
        cmd.args(["hash-object", "-w", "--stdin"])
            .stdin(Stdio::from(zeros.stdout.take().context("head's stdout")?));
        let out = cmd.output()?;
        ensure!(zeros.wait()?.success(), "head -c {size} /dev/zero failed");
        ensure!(
            out.status.success(),
            "git hash-object: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    fn hash_object(&self, file: &Path, bytes: &[u8]) -> Result<String> {
        std::fs::write(file, bytes)?;
        let path = file.to_str().context("sandbox path is not UTF-8")?;
        let id = self.git(&["hash-object", "-w", "--no-filters", path])?;
        Ok(id.trim().to_owned())
    }

    /// Commit onto `main` of a bare repository a blob at a raw byte path,
    /// which `--cacheinfo` cannot pass (non-UTF-8, control characters), with
    /// `git update-index -z --index-info` on a private index and a
    /// compare-and-swap `git update-ref`. Returns the new commit.
    pub fn commit_raw_path(&self, path: &[u8], content: &[u8], message: &str) -> Result<String> {
        ensure!(self.bare, "commit_raw_path is for bare repositories");
        let index = self.tmp.path().join("raw-index");
        let _ = std::fs::remove_file(&index);
        let old = self.rev("main")?;
        let env: [(&str, &OsStr); 1] = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git_env(&["read-tree", "main"], &env)?;
        let blob = self.hash_object(&self.tmp.path().join("raw-blob"), content)?;
        let mut line = format!("100644 {blob}\t").into_bytes();
        line.extend_from_slice(path);
        line.push(0);
        let mut cmd = self.git_command(&self.path);
        cmd.args(["update-index", "-z", "--index-info"])
            .env("GIT_INDEX_FILE", &index);
        let out = run(&mut cmd, Some(&line))?;
        ensure!(
            out.status.success(),
            "git update-index --index-info refused {:?}: {}",
            String::from_utf8_lossy(path),
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8(self.git_env(&["write-tree"], &env)?)?;
        let commit = self.git(&["commit-tree", tree.trim(), "-p", &old, "-m", message])?;
        let commit = commit.trim().to_owned();
        self.git(&["update-ref", "refs/heads/main", &commit, &old])?;
        Ok(commit)
    }

    /// Whether git itself refuses `path` as a tree entry of `mode`
    /// (`100644`, `120000`), with core.protectNTFS and core.protectHFS on, as
    /// git is on Windows and macOS: the oracle for hostile paths.
    pub fn git_refuses_path(&self, path: &str, mode: &str) -> Result<bool> {
        let index = self.tmp.path().join("oracle-index");
        let _ = std::fs::remove_file(&index);
        let blob = self.hash_object(&self.tmp.path().join("oracle-blob"), b"x\n")?;
        let mut cmd = self.git_command(&self.path);
        cmd.args([
            "-c",
            "core.protectNTFS=true",
            "-c",
            "core.protectHFS=true",
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("{mode},{blob},{path}"),
        ])
        .env("GIT_INDEX_FILE", &index);
        Ok(!run(&mut cmd, None)?.status.success())
    }

    // Running the tool.

    /// A hermetic command running the tool in `cwd`.
    pub fn catalogue_command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        hermetic(&mut cmd, &self.home()).current_dir(cwd);
        cmd
    }

    /// Run the tool in the repository.
    pub fn catalogue(&self, args: &[&str]) -> Result<Run> {
        self.catalogue_in(&self.path, args)
    }

    /// Run the tool in `cwd`.
    pub fn catalogue_in(&self, cwd: &Path, args: &[&str]) -> Result<Run> {
        run_catalogue(self.catalogue_command(cwd).args(args))
    }

    /// Run the tool in the repository with `stdin` as its standard input.
    pub fn catalogue_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<Run> {
        let mut cmd = self.catalogue_command(&self.path);
        cmd.args(args);
        Ok(Run::from_output(run(&mut cmd, Some(stdin))?))
    }

    /// Run the tool with `--json` (before the command name) and parse its stdout.
    pub fn catalogue_json(&self, args: &[&str]) -> Result<(i32, Value)> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.catalogue(&all)?;
        let value = run.json()?;
        Ok((run.status, value))
    }

    /// Run the tool with `--json`, require exit 0 and return the object.
    pub fn catalogue_ok(&self, args: &[&str]) -> Result<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.catalogue(&all)?;
        run.expect(0)?;
        run.json()
    }

    // Scenarios: the few starting points the tests share, and the runs
    // they repeat. A test whose subject is a flag combination spells its
    // arguments out instead.

    /// `record --direct --issue <issue> --artifact <path>`, then `extra`;
    /// required to succeed. Its `--json` object.
    pub fn record_direct_with(
        &self,
        issue: impl Display,
        path: &str,
        extra: &[&str],
    ) -> Result<Value> {
        let issue = issue.to_string();
        self.catalogue_ok(&[&record_direct_args(&issue, path)[..], extra].concat())
    }

    /// `record --direct --issue <issue> --artifact <path>`: one fragment
    /// committed onto the branch. Its `--json` object.
    pub fn record_direct(&self, issue: impl Display, path: &str) -> Result<Value> {
        self.record_direct_with(issue, path, &[])
    }

    /// `record --issue <issue> --artifact <path>`, then `extra`: a fragment
    /// on the per-issue ref. Its `--json` object.
    pub fn record_with(&self, issue: impl Display, path: &str, extra: &[&str]) -> Result<Value> {
        let issue = issue.to_string();
        let head = ["record", "--issue", &issue, "--artifact", path];
        self.catalogue_ok(&[&head[..], extra].concat())
    }

    /// `record --issue <issue> --artifact <path>`. Its `--json` object.
    pub fn record(&self, issue: impl Display, path: &str) -> Result<Value> {
        self.record_with(issue, path, &[])
    }

    /// `consolidate`, required to succeed. Its `--json` object.
    pub fn consolidate(&self) -> Result<Value> {
        self.catalogue_ok(&["consolidate"])
    }

    /// This repository after [`Repo::record_direct`] of each `(issue, path)`:
    /// fragments on the branch, manifest not built for them yet.
    pub fn with_recorded(self, artifacts: &[(usize, &str)]) -> Result<Repo> {
        for (issue, path) in artifacts {
            self.record_direct(issue, path)?;
        }
        Ok(self)
    }

    /// [`Repo::with_recorded`], then one `consolidate`: a branch whose
    /// catalogue is current.
    pub fn with_consolidated(self, artifacts: &[(usize, &str)]) -> Result<Repo> {
        let repo = self.with_recorded(artifacts)?;
        repo.consolidate()?;
        Ok(repo)
    }

    /// A bare repository (as a CI clone or a server has it) after
    /// [`Repo::with_recorded`].
    pub fn bare_recorded(artifacts: &[(usize, &str)]) -> Result<Repo> {
        Repo::new_bare()?.with_recorded(artifacts)
    }

    /// A bare repository after [`Repo::with_consolidated`].
    pub fn bare_consolidated(artifacts: &[(usize, &str)]) -> Result<Repo> {
        Repo::new_bare()?.with_consolidated(artifacts)
    }

    /// A non-bare repository whose history `fixtures/history/<script>.sh`
    /// built (the old racing writers' damage), in a sandbox of its own.
    pub fn history_fixture(script: &str) -> Result<Repo> {
        let repo = Repo::new()?;
        std::fs::remove_dir_all(&repo.path)?;
        let script = fixture(&format!("history/{script}.sh"));
        let mut cmd = Command::new("bash");
        hermetic(&mut cmd, &repo.home())
            .arg(&script)
            .arg(&repo.path)
            .current_dir(repo.scratch());
        let out = run(&mut cmd, None)?;
        ensure!(
            out.status.success(),
            "{} failed:\n{}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(repo)
    }
}

/// A string field of a JSON object, or an error naming the field.
pub fn str_field<'v>(value: &'v Value, field: &str) -> Result<&'v str> {
    value[field]
        .as_str()
        .with_context(|| format!("{field} is not a string in {value}"))
}

/// The `path`s of a manifest's (or `list --json`'s) `artifacts`, in order.
pub fn artifact_paths(manifest: &Value) -> Result<Vec<String>> {
    manifest["artifacts"]
        .as_array()
        .with_context(|| format!("no artifacts array in {manifest}"))?
        .iter()
        .map(|a| Ok(str_field(a, "path")?.to_owned()))
        .collect()
}

/// A real `git daemon` serving the folder that holds a bare repository, with
/// `receive-pack` enabled, on a free port of 127.0.0.1 (loopback only).
///
/// It is started with the repository's hermetic environment, is known to
/// accept connections before [`GitDaemon::serve`] returns, and is killed when
/// the guard is dropped, so a failing test leaves no daemon behind.
pub struct GitDaemon {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    /// Its stderr (git daemon logs there), kept for diagnostics.
    log: PathBuf,
}

impl GitDaemon {
    /// How long a daemon may take to accept its first connection.
    const STARTUP: std::time::Duration = std::time::Duration::from_secs(10);

    /// Serve `repo`'s parent folder. A port taken between picking and binding
    /// it (another process got there first) is answered by trying another one.
    pub fn serve(repo: &Repo) -> Result<GitDaemon> {
        Self::serve_with(repo, &[])
    }

    /// [`GitDaemon::serve`] with extra `git daemon` options, such as
    /// `--max-connections=0`: by default the daemon takes 32 clients at once
    /// and, past that, kills a connection from an address with several, which
    /// on loopback is any of them.
    ///
    /// It runs git's `git-daemon` program itself, not `git daemon`: the `git`
    /// wrapper starts that program as a child of its own, so killing the
    /// wrapper on drop would leave the daemon running, orphaned, after the
    /// test.
    pub fn serve_with(repo: &Repo, extra: &[&str]) -> Result<GitDaemon> {
        ensure!(repo.bare, "git daemon serves bare repositories");
        let base = repo.path.parent().context("a repository has a folder")?;
        let log = repo.tmp.path().join("git-daemon.log");
        let exec_path = repo.git(&["--exec-path"])?;
        let program = Path::new(exec_path.trim()).join("git-daemon");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let mut cmd = Command::new(&program);
            hermetic(&mut cmd, &repo.home()).current_dir(base);
            cmd.args([
                "--reuseaddr",
                "--informative-errors",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .args(extra)
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
            let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
            let mut daemon = GitDaemon {
                child,
                port,
                log: log.clone(),
            };
            match daemon.wait_until_listening()? {
                true => return Ok(daemon),
                false => last = daemon.log_text(),
            }
        }
        bail!("git daemon did not start on any of 5 free ports:\n{last}")
    }

    /// `git://127.0.0.1:<port>/<name>` for a repository this daemon serves.
    pub fn url(&self, repo: &Repo) -> Result<String> {
        let name = repo.path.file_name().context("a repository has a name")?;
        Ok(format!(
            "git://127.0.0.1:{}/{}",
            self.port,
            name.to_string_lossy()
        ))
    }

    /// What the daemon wrote to its stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `true` once the port accepts a connection; `false` when the daemon
    /// exited first (the port was taken); an error after [`Self::STARTUP`].
    /// (The probe hangs up at once, which the daemon logs as "the remote end
    /// hung up unexpectedly": expected, and harmless.)
    fn wait_until_listening(&mut self) -> Result<bool> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = std::time::Instant::now();
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(false);
            }
            let probe = std::time::Duration::from_millis(200);
            if std::net::TcpStream::connect_timeout(&addr, probe).is_ok() {
                return Ok(true);
            }
            ensure!(
                started.elapsed() < Self::STARTUP,
                "git daemon did not accept connections on {addr} within {:?}:\n{}",
                Self::STARTUP,
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // Only this daemon, by its own handle; its per-connection children
        // end with their connections.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 127.0.0.1 that was free a moment ago: bound to port 0, read, released.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

// Refusals: every error path is checked the same way in every file, so
// that one promise ("names its offender, writes nothing") means one thing.

/// The `--json` error fields that may name an offender (README, `--json`).
pub const OFFENDER_FIELDS: &[&str] = &["path", "blob", "commit", "ref", "lock", "key", "remote"];

/// Every error path must look like this, with and without `--json`: exit
/// `code`; stderr names every string of `named`; with `--json`, stdout is
/// exactly one JSON object with `"ok": false` and an `error` of kind `kind`
/// whose `message` (raw or escaped) and at least one offender field (raw)
/// name each of `named`;
/// and refs and object files are unchanged by either run. Every unmet
/// expectation is listed, not just the first. Returns the `error` object.
pub fn assert_refusal(
    repo: &Repo,
    args: &[&str],
    code: i32,
    kind: &str,
    named: &[&str],
) -> Result<Value> {
    assert_refusal_as(repo, args, code, kind, named, Unchanged::Everything)
}

/// What a refused command may not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unchanged {
    /// Refs and object files: refused before anything was written.
    Everything,
    /// Branches and tags only: a command that lost a race, met a lock or
    /// was refused by a remote may leave the objects it built (unreachable)
    /// and what it fetched (in its own tracking refs).
    Branches,
}

/// [`assert_refusal`], checking only what `unchanged` says.
pub fn assert_refusal_as(
    repo: &Repo,
    args: &[&str],
    code: i32,
    kind: &str,
    named: &[&str],
    unchanged: Unchanged,
) -> Result<Value> {
    let mut problems = Vec::new();
    let branches = || repo.git(&["for-each-ref", "refs/heads", "refs/tags"]);
    let before = repo.snapshot()?;
    let branches_before = branches()?;
    let human = repo.catalogue(args)?;
    if human.status != code {
        problems.push(format!("exit {} instead of {code}", human.status));
    }
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(args);
    let json_run = repo.catalogue(&json_args)?;
    if json_run.status != code {
        problems.push(format!(
            "--json: exit {} instead of {code}",
            json_run.status
        ));
    }
    let error = match json_run.json() {
        Ok(out) => out["error"].clone(),
        Err(e) => {
            problems.push(format!("{e:#}"));
            Value::Null
        }
    };
    if error["kind"] != kind {
        problems.push(format!(
            "error.kind is {} instead of {kind:?}",
            error["kind"]
        ));
    }
    let message = error["message"].as_str().unwrap_or_default();
    for n in named {
        if !names(&human.stderr, n) {
            problems.push(format!("stderr does not name {n:?}"));
        }
        if !names(message, n) {
            problems.push(format!("error.message does not name {n:?}"));
        }
        if !OFFENDER_FIELDS
            .iter()
            .any(|f| error[*f].as_str().is_some_and(|v| v.contains(n)))
        {
            problems.push(format!("no offender field {OFFENDER_FIELDS:?} names {n:?}"));
        }
    }
    // Hostile names must not reach a terminal raw.
    if human.stderr.contains('\u{1b}') {
        problems.push("a raw escape character reached stderr".to_owned());
    }
    if let Err(e) = known_kind(&error) {
        problems.push(e.to_string());
    }
    match unchanged {
        Unchanged::Everything if repo.snapshot()? != before => {
            problems.push("refs or objects changed".to_owned())
        }
        _ if branches()? != branches_before => problems.push("branches or tags changed".to_owned()),
        _ => {}
    }
    ensure!(
        problems.is_empty(),
        "{args:?}:\n    - {}\n    stderr: {}\n    json: {}",
        problems.join("\n    - "),
        human.stderr.trim(),
        json_run.stdout.trim()
    );
    Ok(error)
}

/// A racer that ran out of attempts on `main`: kind `contention`, naming
/// `refs/heads/main` in its `--json` error and on stderr.
pub fn assert_gave_up_naming_main(run: &Run, out: &Value) -> Result<()> {
    ensure!(out["error"]["kind"] == "contention", "{run:?}");
    ensure!(
        out["error"].to_string().contains("refs/heads/main"),
        "the contention error names the ref: {run:?}"
    );
    ensure!(
        run.stderr.contains("refs/heads/main"),
        "stderr names the ref: {run:?}"
    );
    Ok(())
}

/// Whether text for people names `n`, as written or escaped: a hostile name
/// may be shown escaped (`\u{200c}`, `\\`) so that it cannot act on a terminal.
pub fn names(text: &str, n: &str) -> bool {
    text.contains(n) || text.contains(&*n.escape_debug().to_string())
}

/// [`assert_refusal`] of `record <args>` (with `--direct` appended when
/// `direct`): exit 2, `kind`, naming `named`, nothing written.
pub fn assert_record_refused(
    repo: &Repo,
    args: &[&str],
    direct: bool,
    kind: &str,
    named: &str,
) -> Result<()> {
    let mut all = vec!["record"];
    all.extend_from_slice(args);
    if direct {
        all.push("--direct");
    }
    assert_refusal(repo, &all, 2, kind, &[named]).map(drop)
}

/// [`every_case`] over each value twice, `(value, false)` then `(value,
/// true)`: bad input must be refused alike by a per-issue and a `--direct`
/// record, which take different paths to the branch.
pub fn every_case_both_ways<'v>(
    values: &[&'v str],
    mut each: impl FnMut(&'v str, bool) -> Result<()>,
) -> Result<()> {
    let cases: Vec<(&str, bool)> = values
        .iter()
        .flat_map(|v| [(*v, false), (*v, true)])
        .collect();
    every_case(&cases, |&(value, direct)| each(value, direct))
}

/// Run `each` on every case, then fail listing every case that failed.
pub fn every_case<T: std::fmt::Debug>(
    cases: &[T],
    mut each: impl FnMut(&T) -> Result<()>,
) -> Result<()> {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| each(case).err().map(|e| format!("{case:?}: {e:#}")))
        .collect();
    ensure!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    Ok(())
}
