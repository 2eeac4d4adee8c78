//! The `git-catalogue` binary: parse, run, print, exit. Everything else is in the library.

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};
use git_catalogue::cli::{command_name, errors, json_requested, run, Cli, JsonSpool};
use git_catalogue::error::{Error, ErrorKind};
use serde_json::{Map, Value};

fn main() {
    // On SIGTERM, SIGINT, SIGHUP: delete the lock files gix holds, then die as
    // the signal says. Objects are written before the ref that makes them
    // reachable, so nothing half-written is ever visible.
    //
    // Installed with the signals held: the handler reads gix-tempfile's
    // registry, which installing it initialises; a SIGINT landing in between
    // ran the handler inside that initialisation, waiting on itself forever
    // (seen once in the SIGINT loop of tests/cli/survives_being_killed.rs). Held, the signal
    // is delivered once the handler is ready.
    let _signals = git_catalogue::git::signals::held(|| gix::interrupt::init_handler_default(0));
    // `--json` must shape even usage errors, so look for it before clap does.
    let json = json_requested(std::env::args().skip(1));
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    std::process::exit(0);
                }
                _ => 2,
            };
            if json {
                let err = Error::new(ErrorKind::Usage, e.to_string().trim().to_owned());
                emit(None, false, None, Vec::new(), Some(&err));
            }
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            if json {
                let err = Error::new(ErrorKind::Usage, e.to_string().trim().to_owned());
                emit(None, false, None, Vec::new(), Some(&err));
            }
            let _ = e.print();
            std::process::exit(2);
        }
    };
    let name = command_name(&cli.command);
    let code = match run(&cli, &matches) {
        Ok(report) => {
            for m in &report.messages {
                eprintln!("{}", for_terminal(m));
            }
            if cli.json {
                emit(
                    Some(name),
                    report.exit_code == 0,
                    Some(report.json),
                    report.json_spools,
                    report.error.as_ref(),
                );
            } else if let Some(spool) = report.stdout_spool {
                write_stdout(|out| spool.write_to(out, 0));
            } else {
                print_stdout(&report.stdout);
            }
            report.exit_code
        }
        Err(err) => {
            eprintln!("error: {}", for_terminal(&errors::message(&err)));
            if cli.json {
                emit(Some(name), false, None, Vec::new(), Some(&err));
            }
            errors::exit_code(err.kind)
        }
    };
    std::process::exit(code);
}

/// Print one JSON object on stdout: `ok`, `command`, the fields, `error`;
/// a field of `spools` is written from its spool, in the place of its value.
fn emit(
    command: Option<&str>,
    ok: bool,
    fields: Option<Map<String, Value>>,
    mut spools: Vec<JsonSpool>,
    error: Option<&Error>,
) {
    let mut out = Map::new();
    out.insert("ok".to_owned(), Value::Bool(ok));
    // Always there, as README promises: null when the command line could
    // not be parsed far enough to know the command.
    out.insert(
        "command".to_owned(),
        command.map_or(Value::Null, |c| Value::String(c.to_owned())),
    );
    for (k, v) in fields.unwrap_or_default() {
        out.insert(k, v);
    }
    if let Some(e) = error {
        out.insert("error".to_owned(), errors::error_json(e));
    }
    if spools.is_empty() {
        print_stdout(&format!("{}\n", Value::Object(out)));
        return;
    }
    // The bytes `Value::Object(out)` would show, written piece by piece.
    write_stdout(|w| {
        w.write_all(b"{")?;
        for (n, (name, value)) in out.into_iter().enumerate() {
            if n > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, &name)?;
            w.write_all(b":")?;
            match spools.iter().position(|s| s.name == name) {
                Some(at) => spools.swap_remove(at).write_to(w)?,
                None => serde_json::to_writer(&mut *w, &value)?,
            }
        }
        w.write_all(b"}\n")
    });
}

/// Text for a terminal: a control character other than a newline or a tab
/// is shown escaped, so that no name taken from a fragment, a tree or a
/// remote's reply can send escape sequences to the reader's terminal.
fn for_terminal(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A closed pipe (`git catalogue list | head -1`) is success, not a panic.
fn print_stdout(text: &str) {
    write_stdout(|out| out.write_all(text.as_bytes()));
}

/// Run `write` on stdout, buffered, and flush: [`print_stdout`] for output
/// written piece by piece.
fn write_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if let Err(e) = write(&mut out).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(4);
        }
    }
}
