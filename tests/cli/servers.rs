//! Servers beside `support::GitDaemon` for the remote tests: smart HTTP
//! (`git http-backend` behind lighttpd), dulwich's HTTP server, a TCP proxy
//! that injects faults (resets, a push reply dropped after the server applied
//! it), and a listener that accepts and never answers. Each listens on
//! 127.0.0.1 at a free port and stops when its guard is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::support::Repo;

/// The dulwich release the lying-server test runs against (the one the
/// issue measured); `.ci/run` installs the same.
pub const DULWICH_VERSION: &str = "1.2.21";

/// How long a server may take to accept its first connection.
const STARTUP: Duration = Duration::from_secs(15);

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Wait until `port` accepts a connection; an error (with `log`) when
/// `child` exits first or [`STARTUP`] passes.
fn wait_listening(child: &mut Child, port: u16, log: &Path) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "server exited ({status}) before listening on {addr}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        ensure!(
            started.elapsed() < STARTUP,
            "server did not listen on {addr} within {STARTUP:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// lighttpd, as the project's CI installs it (`apt-get install lighttpd`).
fn lighttpd() -> Result<PathBuf> {
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
    {
        let candidate = dir.join("lighttpd");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("lighttpd is not installed: these tests need it (`apt-get install lighttpd`; .ci/run installs it)")
}

/// Smart HTTP: `git http-backend` as a CGI program behind lighttpd, serving
/// the folder a bare repository sits in, pushes allowed (`REMOTE_USER` is
/// set, as an authenticating forge would).
pub struct HttpServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
}

impl HttpServer {
    /// Serve `repo` with git's own `git-http-backend`.
    pub fn serve(repo: &Repo) -> Result<HttpServer> {
        let backend = Path::new(repo.git(&["--exec-path"])?.trim()).join("git-http-backend");
        Self::serve_cgi(repo, &backend)
    }

    /// Serve `repo` with `cgi` standing in for `git-http-backend` (a wrapper
    /// script that fails some requests and passes the rest on to
    /// `$GIT_HTTP_BACKEND`).
    pub fn serve_cgi(repo: &Repo, cgi: &Path) -> Result<HttpServer> {
        ensure!(repo.bare, "the HTTP server serves bare repositories");
        let base = repo.path.parent().context("a repository has a folder")?;
        let backend = Path::new(repo.git(&["--exec-path"])?.trim()).join("git-http-backend");
        let dir = repo.scratch().join(format!("lighttpd-{}", free_port()?));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("error.log");
        let conf = dir.join("lighttpd.conf");
        let port = free_port()?;
        let q = |p: &Path| format!("\"{}\"", p.display());
        std::fs::write(
            &conf,
            format!(
                r#"server.modules = ("mod_alias", "mod_cgi", "mod_setenv")
server.bind = "127.0.0.1"
server.port = {port}
server.document-root = {base}
server.errorlog = {log}
server.max-connections = 1024
server.max-keep-alive-requests = 100
alias.url = ("/git/" => "{cgi}/")
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ("" => "")
  setenv.add-environment = (
    "GIT_PROJECT_ROOT" => {base},
    "GIT_HTTP_EXPORT_ALL" => "1",
    "GIT_CONFIG_NOSYSTEM" => "1",
    "GIT_CONFIG_GLOBAL" => "/dev/null",
    "GIT_HTTP_BACKEND" => {backend},
    "REMOTE_USER" => "ci",
    "PATH" => "/usr/local/bin:/usr/bin:/bin"
  )
}}
"#,
                base = q(base),
                log = q(&log),
                cgi = cgi.display(),
                backend = q(&backend),
            ),
        )?;
        let child = Self::spawn(&conf, port, &log)?;
        Ok(HttpServer {
            child,
            port,
            conf,
            log,
        })
    }

    fn spawn(conf: &Path, port: u16, log: &Path) -> Result<Child> {
        let mut child = Command::new(lighttpd()?)
            .arg("-D")
            .arg("-f")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log.with_extension("stderr"))?)
            .spawn()
            .context("starting lighttpd")?;
        wait_listening(&mut child, port, log)?;
        Ok(child)
    }

    /// `http://127.0.0.1:<port>/git/<name>` for a repository it serves.
    pub fn url(&self, repo: &Repo) -> Result<String> {
        let name = repo.path.file_name().context("a repository has a name")?;
        Ok(format!(
            "http://127.0.0.1:{}/git/{}",
            self.port,
            name.to_string_lossy()
        ))
    }

    /// Stop the server (its port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.child = Self::spawn(&self.conf, self.port, &self.log)?;
        Ok(())
    }

    /// What lighttpd logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where dulwich is importable from: `$CATALOGUE_TEST_DULWICH` (a folder
/// `pip install --target` filled; `.ci/run` sets it), else the same cache
/// folder `.ci/run` uses, installed there now with pip if it is not yet.
/// Never a silent skip: no dulwich is an error saying how to get it.
pub fn dulwich_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CATALOGUE_TEST_DULWICH") {
        let dir = PathBuf::from(dir);
        ensure!(
            dir.join("dulwich").join("web.py").is_file(),
            "CATALOGUE_TEST_DULWICH={} holds no dulwich/web.py",
            dir.display()
        );
        return Ok(dir);
    }
    let cache = std::env::var_os("CI_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("git-catalogue-ci"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/git-catalogue-ci"))
        })
        .context("no HOME to keep dulwich in: set CATALOGUE_TEST_DULWICH")?;
    let dir = cache.join(format!("dulwich-{DULWICH_VERSION}"));
    if !dir.join("dulwich").join("web.py").is_file() {
        let lock = cache.join("dulwich.install.lock");
        std::fs::create_dir_all(&cache)?;
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--root-user-action=ignore", "--target"])
            .arg(&dir)
            .arg(format!("dulwich=={DULWICH_VERSION}"))
            .env("PIP_NO_INPUT", "1")
            .output()
            .context("running python3 -m pip")?;
        let _ = std::fs::remove_file(lock);
        ensure!(
            out.status.success() && dir.join("dulwich").join("web.py").is_file(),
            "could not install dulwich {DULWICH_VERSION} into {} (set CATALOGUE_TEST_DULWICH to a folder \
             holding it, as .ci/run does): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(dir)
}

/// dulwich's smart HTTP server (`python3 -m dulwich.web`), serving one
/// repository at its root.
pub struct DulwichServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    log: PathBuf,
}

impl DulwichServer {
    /// Serve `repo` (bare).
    pub fn serve(repo: &Repo) -> Result<DulwichServer> {
        let path = dulwich_path()?;
        let port = free_port()?;
        let log = repo.scratch().join(format!("dulwich-{port}.log"));
        let mut child = Command::new("python3")
            .args([
                "-m",
                "dulwich.web",
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(&repo.path)
            .env("PYTHONPATH", &path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting python3 -m dulwich.web")?;
        wait_listening(&mut child, port, &log)?;
        Ok(DulwichServer { child, port, log })
    }

    /// What the server logged so far, its last `lines` lines.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for DulwichServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`Proxy`] does wrong.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Reset the first `n` connections as a busy server does: accept, let
    /// the request arrive, close without reading it (the kernel answers
    /// with a reset).
    ResetFirst(usize),
    /// Forward the first `n` smart-HTTP pushes (`POST …/git-receive-pack`)
    /// to the server, which applies them, then close the client's connection
    /// without passing the reply on.
    DropPushReply(usize),
    /// [`Fault::DropPushReply`] of the first push, after which the proxy
    /// refuses every connection: the server went away mid-reply, so the
    /// client cannot ask it afterwards.
    DropPushReplyThenRefuse,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that injects a [`Fault`]
/// and forwards everything else byte for byte.
pub struct Proxy {
    /// The port it listens on.
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// How many connections were reset or push replies dropped so far.
    pub hit: Arc<AtomicUsize>,
    accepter: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Start one in front of `127.0.0.1:<upstream>`.
    pub fn start(upstream: u16, fault: Fault) -> Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let refusing = Arc::new(AtomicBool::new(false));
        let hit = Arc::new(AtomicUsize::new(0));
        let (s, r, h) = (stop.clone(), refusing.clone(), hit.clone());
        let accepter = std::thread::spawn(move || {
            let mut connections = 0usize;
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) || r.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                connections += 1;
                match fault {
                    Fault::ResetFirst(n) if connections <= n => {
                        h.fetch_add(1, Ordering::SeqCst);
                        // Let the request arrive unread, then close: a reset.
                        std::thread::sleep(Duration::from_millis(50));
                        drop(client);
                    }
                    _ => {
                        let (h, r) = (h.clone(), r.clone());
                        std::thread::spawn(move || {
                            let dropped = forward(client, upstream, fault, h).unwrap_or(false);
                            if dropped && matches!(fault, Fault::DropPushReplyThenRefuse) {
                                r.store(true, Ordering::SeqCst);
                                let _ = TcpStream::connect(("127.0.0.1", port));
                            }
                        });
                    }
                }
            }
        });
        Ok(Proxy {
            port,
            stop,
            hit,
            accepter: Some(accepter),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accepter.take() {
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            let _ = t.join();
        }
    }
}

/// Copy bytes both ways between `client` and the upstream port, dropping a
/// push's reply when `fault` says so. Whether it dropped one.
fn forward(client: TcpStream, upstream: u16, fault: Fault, hit: Arc<AtomicUsize>) -> Result<bool> {
    let server = TcpStream::connect(("127.0.0.1", upstream))?;
    let dropping = Arc::new(AtomicBool::new(false));
    let (mut c_read, mut s_write) = (client.try_clone()?, server.try_clone()?);
    let up_dropping = dropping.clone();
    let limit = match fault {
        Fault::DropPushReply(n) => n,
        Fault::DropPushReplyThenRefuse => 1,
        Fault::ResetFirst(_) => 0,
    };
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        let mut window: Vec<u8> = Vec::new();
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if limit > 0 && !up_dropping.load(Ordering::SeqCst) {
                window.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&window);
                if text.contains("POST ")
                    && text.contains("/git-receive-pack HTTP")
                    && hit
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                            (h < limit).then_some(h + 1)
                        })
                        .is_ok()
                {
                    up_dropping.store(true, Ordering::SeqCst);
                }
                if window.len() > 4096 {
                    window.drain(..window.len() - 256);
                }
            }
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let mut buf = [0u8; 16384];
    let mut discarded = 0usize;
    loop {
        if dropping.load(Ordering::SeqCst) {
            // The server is answering a push it has applied: swallow the
            // reply until it has been quiet a moment, then hang up.
            s_read.set_read_timeout(Some(Duration::from_millis(500)))?;
        }
        match s_read.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if dropping.load(Ordering::SeqCst) => discarded += n,
            Ok(n) => {
                if c_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(_) if dropping.load(Ordering::SeqCst) && discarded > 0 => break,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = s_read.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(dropping.load(Ordering::SeqCst))
}

/// Run a prepared command for at most `limit`; an error, after killing it,
/// when it is still running then (a hang must fail the test, not stall it).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<(crate::support::Run, Duration)> {
    let dir = tempfile::tempdir()?;
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()
        .with_context(|| format!("spawning {cmd:?}"))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "still running after {limit:?}, killed: {cmd:?}\n--- stderr\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    Ok((
        crate::support::Run {
            status: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out)?,
            stderr: std::fs::read_to_string(&err)?,
        },
        took,
    ))
}

/// A TCP listener that accepts every connection and never answers: a
/// server that hangs.
pub struct Stalled {
    /// The port it listens on.
    pub port: u16,
    stop: Arc<AtomicBool>,
    accepter: Option<std::thread::JoinHandle<()>>,
}

impl Stalled {
    /// Start one.
    pub fn start() -> Result<Stalled> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let accepter = std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = c {
                    held.push(c);
                }
            }
        });
        Ok(Stalled {
            port,
            stop,
            accepter: Some(accepter),
        })
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accepter.take() {
            let _ = t.join();
        }
    }
}
