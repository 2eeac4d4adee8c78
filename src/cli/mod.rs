//! The command line: the only code that knows clap, flag names, the
//! sentences a command prints and the shape of its `--json` object.
//!
//! [`run`] opens the repository and resolves where the catalogue lives; each
//! command's file turns its arguments into a library request, calls the
//! operation, and words the outcome as a [`Report`]. `main.rs` prints it.

pub mod args;
pub mod errors;
pub mod manual;
pub mod progress;

mod check;
mod consolidate;
mod gate;
mod history;
mod pending;
mod record;

use serde_json::{Map, Value};

pub use args::{Cli, Command};

use crate::error::{Error, ErrorKind, Result};
use crate::git::{remote::Remote, store};
use crate::publish::{Local, Sink};
use crate::settings::{BranchSource, Settings};
use crate::spool::Spool;

/// What a command did, for the binary to print.
#[derive(Debug)]
pub struct Report {
    /// The command's name, for `--json`.
    pub command: &'static str,
    /// The exit status: 0, or 1 when `check` or `verify` found a problem.
    pub exit_code: i32,
    /// The `--json` object (without `ok`/`command`, which the binary adds).
    pub json: Map<String, Value>,
    /// Lines for people, printed to stderr.
    pub messages: Vec<String>,
    /// The result for people, printed to stdout when not `--json` (e.g. `list`'s rows).
    pub stdout: String,
    /// The first problem, when `exit_code` is not 0.
    pub error: Option<Error>,
    /// `stdout` when it is spooled rather than held (`list`'s rows), printed in its place.
    pub stdout_spool: Option<Spool>,
    /// Values of `json` too large to hold (`list`'s entries), each held there
    /// as `null` and printed in its place.
    pub json_spools: Vec<JsonSpool>,
}

/// A `--json` value printed from a spool: an object or an array whose
/// members are the spooled records, each of them written with a leading `,`.
#[derive(Debug)]
pub struct JsonSpool {
    /// The field of [`Report::json`] it stands for.
    pub name: &'static str,
    /// An object (`{}`) rather than an array (`[]`).
    pub object: bool,
    /// How many members it has (for `-v`).
    pub members: usize,
    /// The members, each with its leading `,`.
    pub records: Spool,
}

impl JsonSpool {
    /// Write the value: brackets around the members, without the first `,`.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let (open, close) = if self.object {
            (b"{", b"}")
        } else {
            (b"[", b"]")
        };
        out.write_all(open)?;
        self.records.write_to(out, 1)?;
        out.write_all(close)
    }
}

impl Report {
    fn new(command: &'static str) -> Self {
        Report {
            command,
            exit_code: 0,
            json: Map::new(),
            messages: Vec::new(),
            stdout: String::new(),
            error: None,
            stdout_spool: None,
            json_spools: Vec::new(),
        }
    }

    /// Each of `warnings` as a `warning:` line.
    fn warn(&mut self, warnings: &[String]) {
        self.messages
            .extend(warnings.iter().map(|w| format!("warning: {w}")));
    }
}

/// Whether the arguments ask for `--json` (before a `--`): known before
/// clap parses them, so that even a usage error is one JSON object.
pub fn json_requested(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter()
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// The command's name as `--json` reports it.
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Record(_) => "record",
        Command::Consolidate(_) => "consolidate",
        Command::Check(_) => "check",
        Command::List(_) => "list",
        Command::Pending(_) => "pending",
        Command::Verify(_) => "verify",
        Command::Repair(_) => "repair",
        Command::Completions(_) => "completions",
        Command::Manual(_) => "manual",
    }
}

/// `completions` and `manual` need no repository: their text, if `command` is one.
fn without_repo(command: &Command) -> Option<Report> {
    let (name, text) = match command {
        Command::Completions(args) => ("completions", manual::completions(args.shell)),
        Command::Manual(_) => ("manual", manual::manual()),
        _ => return None,
    };
    let mut report = Report::new(name);
    report.stdout = text;
    Some(report)
}

/// What `-q` and `-v` make of a command's lines for people. `-q` keeps only
/// warnings and problems (errors are printed apart, always); `-v` adds every
/// scalar field of the outcome, and the size of each list, as `name: value`.
fn shape_messages(cli: &Cli, report: &mut Report) {
    if cli.quiet {
        report
            .messages
            .retain(|m| m.starts_with("warning:") || m.starts_with("problem:"));
    } else if cli.verbose {
        for (name, value) in &report.json {
            let spooled = report.json_spools.iter().find(|s| s.name == name);
            let shown = match (value, spooled) {
                (_, Some(s)) if s.object => {
                    let o = s.members;
                    format!("{} entr{}", o, if o == 1 { "y" } else { "ies" })
                }
                (_, Some(s)) => format!("{} item(s)", s.members),
                (value, None) => match value {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => format!("{} item(s)", a.len()),
                    Value::Object(o) => {
                        format!("{} entr{}", o.len(), if o.len() == 1 { "y" } else { "ies" })
                    }
                    other => other.to_string(),
                },
            };
            report.messages.push(format!("{name}: {shown}"));
        }
    }
}

/// Open the repository from the current directory (after `-C`) and run the
/// command. `matches` are clap's raw matches, needed to pair `--kind` and
/// `--title` with their artifacts.
pub fn run(cli: &Cli, matches: &clap::ArgMatches) -> Result<Report> {
    progress::set_quiet(cli.quiet);
    if let Some(report) = without_repo(&cli.command) {
        return Ok(report);
    }
    let mut report = run_in_repo(cli, matches)?;
    shape_messages(cli, &mut report);
    Ok(report)
}

/// [`run`] for the commands that work on a repository.
fn run_in_repo(cli: &Cli, matches: &clap::ArgMatches) -> Result<Report> {
    if let Some(dir) = &cli.chdir {
        std::env::set_current_dir(dir).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot change to `{}`: {e}", dir.display()),
            )
            .path(dir.display())
        })?;
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    let repo = store::open(&cwd)?;
    let settings = Settings::resolve(&repo, cli.dir.as_deref(), cli.branch.as_deref())?;
    run_with_repo(&repo, &settings, &cli.command, matches)
}

/// Run a command on an opened repository with resolved settings.
pub fn run_with_repo(
    repo: &gix::Repository,
    settings: &Settings,
    command: &Command,
    matches: &clap::ArgMatches,
) -> Result<Report> {
    let mut report = match command {
        Command::Record(args) => {
            let record = matches.subcommand_matches("record");
            record::run(repo, settings, args, record)
        }
        Command::Consolidate(args) => consolidate::run(repo, settings, args),
        Command::Check(args) => check::check(repo, settings, args),
        // `list` spools only the format that is printed.
        Command::List(args) => check::list(repo, settings, args, matches.get_flag("json")),
        Command::Pending(args) => pending::run(repo, settings, args),
        Command::Verify(args) => history::verify(repo, settings, args),
        Command::Repair(args) => history::repair(repo, settings, args),
        Command::Completions(_) | Command::Manual(_) => {
            return Ok(without_repo(command).unwrap_or_else(|| Report::new(command_name(command))));
        }
    }?;
    // Which branch, and why: a command that writes says so in words too,
    // since a repository's own default can differ from what a person expects.
    report
        .json
        .entry("branch")
        .or_insert_with(|| Value::String(settings.branch.to_string()));
    report.json.insert(
        "branch_from".to_owned(),
        Value::String(settings.branch_source.as_str().to_owned()),
    );
    if matches!(
        command,
        Command::Record(_) | Command::Consolidate(_) | Command::Repair(_)
    ) {
        report.messages.push(format!(
            "branch {}: {}",
            settings.branch,
            branch_rule(settings.branch_source)
        ));
    }
    Ok(report)
}

/// Why the branch is the one it is, in words.
fn branch_rule(source: BranchSource) -> &'static str {
    match source {
        BranchSource::Given => "given with --branch",
        BranchSource::Config => "from git config catalogue.branch",
        BranchSource::RemoteHead => "the remote's default branch (refs/remotes/origin/HEAD)",
        BranchSource::Head => "the branch HEAD names",
        BranchSource::Default => "nothing names a branch, so the default, main",
    }
}

/// Where `--push` sends a write: the remote it names, else local refs.
fn sink(repo: &gix::Repository, args: &args::WriteArgs) -> Result<Box<dyn Sink>> {
    Ok(match &args.push {
        None => Box::new(Local),
        Some(name) => Box::new(Remote::new(repo, name)?),
    })
}

/// A `json!` object as a map.
fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// " of remote `NAME`", when pushing.
fn of_remote(remote: Option<&str>) -> String {
    remote
        .map(|r| format!(" of remote `{r}`"))
        .unwrap_or_default()
}

/// " after N retries", when there were any.
fn retries_note(attempts: u32) -> String {
    match attempts {
        0 | 1 => String::new(),
        n => format!(" after {} retr{}", n - 1, if n == 2 { "y" } else { "ies" }),
    }
}

/// Control characters (tabs and newlines included) would break a line-per-row listing.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
