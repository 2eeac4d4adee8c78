//! Installed on `PATH`, the tool behaves like a git command: `git catalogue
//! --help` opens its manual (git turns it into `man git-catalogue`), git's
//! own bash completion completes `git catalogue <TAB>` through the script
//! `completions bash` prints, the zsh and fish scripts complete in real zsh
//! and fish, `-q` and `-v` say less and more, and progress is drawn on a
//! terminal only.
//!
//! Real programs throughout: git, man, bash with git's completion script,
//! zsh (driven in a pseudo-terminal by its own `zsh/zpty`), fish, and
//! util-linux's `script` for a terminal. The zsh and fish tests skip, saying
//! so on stderr, where the shell is not installed; `.ci/run` installs both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

use super::support::{hermetic, run, run_catalogue, Content, Repo, BIN};

/// git's bash completion, as the git package installs it.
const GIT_COMPLETION: &str = "/usr/share/bash-completion/completions/git";

/// A prefix as an installer lays it out: `bin/git-catalogue`, and with
/// `manual` the page at `share/man/man1/git-catalogue.1`.
fn install_prefix(repo: &Repo, manual: bool) -> Result<PathBuf> {
    let prefix = repo.scratch().join("prefix");
    std::fs::create_dir_all(prefix.join("bin"))?;
    let link = prefix.join("bin/git-catalogue");
    if !link.exists() {
        std::os::unix::fs::symlink(BIN, &link)?;
    }
    if manual {
        let page = repo.catalogue(&["manual"])?;
        page.expect(0)?;
        let dir = prefix.join("share/man/man1");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("git-catalogue.1"), &page.stdout)?;
    }
    Ok(prefix)
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> Result<OsString> {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    Ok(std::env::join_paths(
        std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)),
    )?)
}

/// A hermetic `git` with `prefix/bin` on `PATH` and no manual path set, so
/// that `man` derives it from `PATH` as it does for a user.
fn git_with(repo: &Repo, prefix: &Path) -> Result<Command> {
    let mut cmd = Command::new("git");
    hermetic(&mut cmd, &repo.home())
        .current_dir(&repo.path)
        .env("PATH", path_with(&prefix.join("bin"))?)
        .env_remove("MANPATH")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100");
    Ok(cmd)
}

#[test]
fn help_through_git_opens_the_manual() -> Result<()> {
    ensure!(
        Command::new("man").arg("-w").arg("man").output().is_ok(),
        "`man` is needed (Debian: apt-get install man-db; .ci/run installs it)"
    );
    let repo = Repo::new()?;
    // Without the page git's `--help` has nothing to open: what a `cargo
    // install` without README's man page step gives.
    let prefix = install_prefix(&repo, false)?;
    let out = run(
        git_with(&repo, &prefix)?.args(["catalogue", "--help"]),
        None,
    )?;
    ensure!(
        !out.status.success(),
        "no page installed, yet `git catalogue --help` succeeded: {out:?}"
    );

    let prefix = install_prefix(&repo, true)?;
    let out = run(
        git_with(&repo, &prefix)?.args(["catalogue", "--help"]),
        None,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "git catalogue --help: {out:?}");
    for wanted in [
        "git-catalogue",
        "GIT CATALOGUE RECORD",
        "GIT CATALOGUE CONSOLIDATE",
        "--retries",
        "--quiet",
        "EXIT STATUS",
        "contention",
    ] {
        ensure!(
            text.contains(wanted),
            "the manual lacks `{wanted}`:\n{text}"
        );
    }
    // The tool's own -h is clap's help, exit 0, for every command.
    let short = repo.catalogue(&["record", "-h"])?;
    short.expect(0)?;
    ensure!(short.stdout.contains("--artifact"), "{short:?}");
    Ok(())
}

/// Complete `line` (the cursor at its end) in bash with git's completion
/// and the tool's script loaded; the candidates, one per line.
fn complete(repo: &Repo, prefix: &Path, script: &Path, line: &str) -> Result<Vec<String>> {
    let driver = format!(
        r#"
source {GIT_COMPLETION}
source {script}
COMP_LINE={line:?}
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
case "$COMP_LINE" in *' ') COMP_WORDS+=('') ;; esac
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
if [ "${{COMP_WORDS[0]}}" = git ]; then __git_wrap__git_main; else _git__catalogue git-catalogue "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; fi
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        script = script.display()
    );
    let mut cmd = Command::new("bash");
    hermetic(&mut cmd, &repo.home())
        .current_dir(&repo.path)
        .env("PATH", path_with(&prefix.join("bin"))?)
        .args(["--norc", "--noprofile", "-c", &driver]);
    let out = run(&mut cmd, None)?;
    ensure!(out.status.success(), "bash: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

#[test]
fn bash_completion_completes_through_gits_own() -> Result<()> {
    ensure!(
        Path::new(GIT_COMPLETION).exists(),
        "git's bash completion is missing at {GIT_COMPLETION} (Debian's git package ships it)"
    );
    let repo = Repo::new()?;
    let prefix = install_prefix(&repo, false)?;
    let script = repo.scratch().join("git-catalogue.bash");
    let printed = repo.catalogue(&["completions", "bash"])?;
    printed.expect(0)?;
    std::fs::write(&script, &printed.stdout)?;

    let cases: &[(&str, &[&str])] = &[
        // git's completion hands the words after `catalogue` to the script.
        ("git catalogue rec", &["record"]),
        ("git catalogue con", &["consolidate"]),
        ("git -C . catalogue ch", &["check"]),
        ("git catalogue consolidate --dry", &["--dry-run"]),
        ("git catalogue record --dir", &["--dir", "--direct"]),
        ("git catalogue completions f", &["fish"]),
        // The program's own name, as a shell without git's completion has it.
        ("git-catalogue pen", &["pending"]),
    ];
    for (line, wanted) in cases {
        let mut got = complete(&repo, &prefix, &script, line)?;
        got.sort();
        ensure!(
            got == *wanted,
            "`{line}<TAB>` gave {got:?}, wanted {wanted:?}"
        );
    }
    // And git lists the command itself among its own.
    let got = complete(&repo, &prefix, &script, "git catalog")?;
    ensure!(got == ["catalogue"], "`git catalog<TAB>` gave {got:?}");
    Ok(())
}

/// Whether `shell` runs here; when it does not, say why the test that
/// needs it is skipped (`.ci/run` installs it, so CI never skips).
fn shell_present(shell: &str, test: &str) -> bool {
    let found = Command::new(shell)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "SKIPPED {test}: `{shell}` is not installed (Debian: apt-get install {shell}; .ci/run installs it)"
        );
    }
    found
}

/// Complete `line` (the cursor at its end) in fish with the tool's script
/// sourced, as fish's own `complete -C` lists the candidates: the first
/// column of each line (a description follows a tab).
fn fish_complete(repo: &Repo, prefix: &Path, script: &Path, line: &str) -> Result<Vec<String>> {
    let driver = format!(
        "source {}; complete -C {}",
        fish_quote(&script.display().to_string()),
        fish_quote(line)
    );
    let mut cmd = Command::new("fish");
    hermetic(&mut cmd, &repo.home())
        .current_dir(repo.scratch())
        .env("PATH", path_with(&prefix.join("bin"))?)
        .env("XDG_DATA_HOME", repo.home().join(".local/share"))
        .args(["--no-config", "-c", &driver]);
    let out = run(&mut cmd, None)?;
    ensure!(out.status.success(), "fish: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

/// `text` as one fish word: single quotes, with `\` and `'` escaped.
fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[test]
fn fish_completion_completes_a_subcommand_in_fish() -> Result<()> {
    if !shell_present("fish", "fish_completion_completes_a_subcommand_in_fish") {
        return Ok(());
    }
    let repo = Repo::new()?;
    let prefix = install_prefix(&repo, false)?;
    let script = repo.scratch().join("git-catalogue.fish");
    let printed = repo.catalogue(&["completions", "fish"])?;
    printed.expect(0)?;
    std::fs::write(&script, &printed.stdout)?;

    let cases: &[(&str, &[&str])] = &[
        ("git-catalogue cons", &["consolidate"]),
        ("git-catalogue rec", &["record"]),
        ("git-catalogue pen", &["pending"]),
        ("git-catalogue --json ch", &["check"]),
        ("git-catalogue consolidate --dry", &["--dry-run"]),
        ("git-catalogue record --dir", &["--dir", "--direct"]),
        // A positional's values, which clap's fish generator leaves out.
        ("git-catalogue completions f", &["fish"]),
    ];
    for (line, wanted) in cases {
        let mut got = fish_complete(&repo, &prefix, &script, line)?;
        got.sort();
        ensure!(
            got == *wanted,
            "fish: `{line}<TAB>` gave {got:?}, wanted {wanted:?}"
        );
    }
    Ok(())
}

/// Drives an interactive zsh in a pseudo-terminal (zsh's own `zsh/zpty`
/// module): loads the completion system with the tool's function on
/// `fpath`, types the line and a TAB, and prints what the completion
/// system offered. The widget's `compadd` is wrapped so that every
/// candidate that matched is printed as `match:<word>` between two marks
/// (the technique of zsh-capture-completion); nothing is ever run, since
/// Enter is unbound and the shell exits after the completion. Every read
/// polls with a time limit, so a zsh that never answers fails the test
/// instead of hanging it.
const ZSH_CAPTURE_SETUP: &str = r#"
PROMPT=
fpath=($CAPTURE_FPATH $fpath)
autoload -Uz compinit
compinit -u -d $CAPTURE_DUMP
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
zstyle ':completion:*' insert-tab false
capture-mark() { print -r -- '<<capture>>' }
compprefuncs=(capture-mark)
comppostfuncs=(capture-mark exit)
compadd() {
  # Calls that only ask for matches (-O, -A, -D) are the completion
  # system's own bookkeeping: pass them through.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "$@"
  local h
  for h in $__hits; do print -r -- "match:$h"; done
}
print -r -- '<<ready>>'
"#;

const ZSH_CAPTURE_DRIVER: &str = r#"
zmodload zsh/zpty zsh/zselect || exit 3
zpty z zsh -f -i
zpty -w z "source ${(q)1}"
integer idle=0 marks=0 ready=0
local line
while (( idle < 400 )); do
  if zpty -r -t z line; then
    idle=0
    if (( ! ready )); then
      [[ $line == *'<<ready>>'* ]] && { ready=1; zpty -w -n z "$2"$'\t' }
      continue
    fi
    [[ $line == *match:* ]] && print -r -- ${${line#*match:}%%$'\r'*}
    [[ $line == *'<<capture>>'* ]] && (( ++marks == 2 )) && exit 0
  else
    (( idle++ ))
    zselect -t 5
  fi
done
print -u2 "zsh gave no completion within 20 s (ready: $ready, marks: $marks)"
exit 4
"#;

/// Complete `line` in an interactive zsh with the completion system and
/// the tool's `_git-catalogue` (the script `completions zsh` prints) on
/// `fpath`, as a user installs it; the candidates it offered.
fn zsh_complete(repo: &Repo, prefix: &Path, fpath: &Path, line: &str) -> Result<Vec<String>> {
    let scratch = repo.scratch();
    let setup = scratch.join("capture-setup.zsh");
    let driver = scratch.join("capture-driver.zsh");
    std::fs::write(&setup, ZSH_CAPTURE_SETUP)?;
    std::fs::write(&driver, ZSH_CAPTURE_DRIVER)?;
    let mut cmd = Command::new("zsh");
    hermetic(&mut cmd, &repo.home())
        .current_dir(&scratch)
        .env("PATH", path_with(&prefix.join("bin"))?)
        .env("TERM", "xterm")
        .env("CAPTURE_FPATH", fpath)
        .env("CAPTURE_DUMP", scratch.join("zcompdump"))
        .arg("-f")
        .arg(&driver)
        .arg(&setup)
        .arg(line);
    let out = run(&mut cmd, None)?;
    ensure!(out.status.success(), "zsh: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

#[test]
fn zsh_completion_completes_a_subcommand_in_zsh() -> Result<()> {
    if !shell_present("zsh", "zsh_completion_completes_a_subcommand_in_zsh") {
        return Ok(());
    }
    let repo = Repo::new()?;
    let prefix = install_prefix(&repo, false)?;
    let printed = repo.catalogue(&["completions", "zsh"])?;
    printed.expect(0)?;
    // Installed as zsh looks for it: a file named after the function, on `fpath`.
    let fpath = repo.scratch().join("zsh-functions");
    std::fs::create_dir_all(&fpath)?;
    let script = fpath.join("_git-catalogue");
    std::fs::write(&script, &printed.stdout)?;
    let parsed = run(Command::new("zsh").arg("-n").arg(&script), None)?;
    ensure!(parsed.status.success(), "zsh -n: {parsed:?}");

    let cases: &[(&str, &[&str])] = &[
        ("git-catalogue cons", &["consolidate"]),
        ("git-catalogue rec", &["record"]),
        ("git-catalogue --json pen", &["pending"]),
        ("git-catalogue consolidate --dry", &["--dry-run"]),
        ("git-catalogue record --dir", &["--dir", "--direct"]),
        ("git-catalogue completions f", &["fish"]),
        // zsh's own git completion calls `_git-catalogue` for `git catalogue`.
        ("git catalogue cons", &["consolidate"]),
        ("git catalog", &["catalogue"]),
    ];
    for (line, wanted) in cases {
        let mut got = zsh_complete(&repo, &prefix, &fpath, line)?;
        got.sort();
        got.dedup();
        ensure!(
            got == *wanted,
            "zsh: `{line}<TAB>` gave {got:?}, wanted {wanted:?}"
        );
    }
    Ok(())
}

#[test]
fn manual_and_completions_need_no_repository() -> Result<()> {
    let repo = Repo::new()?;
    let outside = repo.scratch();
    for (args, wanted) in [
        (&["manual"][..], ".TH git-catalogue 1"),
        (&["completions", "bash"][..], "complete -F _git__catalogue"),
        (&["completions", "zsh"][..], "#compdef git-catalogue"),
        (&["completions", "fish"][..], "complete -c git-catalogue"),
    ] {
        let out = repo.catalogue_in(&outside, args)?;
        out.expect(0)?;
        ensure!(out.stdout.contains(wanted), "{args:?} lacks `{wanted}`");
    }
    let out = repo.catalogue_in(&outside, &["completions", "tcsh"])?;
    out.expect(2)?;
    ensure!(out.stderr.contains("tcsh"), "{out:?}");
    Ok(())
}

#[test]
fn quiet_says_only_problems_and_verbose_says_more() -> Result<()> {
    let repo = Repo::new_bare()?;
    let loud = repo.catalogue(&["record", "--direct", "--issue", "1", "--artifact", "a.md"])?;
    loud.expect(0)?;
    ensure!(!loud.stderr.is_empty(), "record said nothing: {loud:?}");

    let quiet = repo.catalogue(&[
        "-q",
        "record",
        "--direct",
        "--issue",
        "2",
        "--artifact",
        "b.md",
    ])?;
    quiet.expect(0)?;
    ensure!(quiet.stderr.is_empty(), "-q still said: {}", quiet.stderr);
    ensure!(
        repo.exists("main:catalogue/fragments/issue-2.json")?,
        "-q record wrote nothing"
    );

    // Verbose: the outcome's fields, after the usual lines.
    let verbose = repo.catalogue(&["consolidate", "--verbose"])?;
    verbose.expect(0)?;
    for wanted in ["consolidated", "attempts: 1", "mode: full", "fragments: 2"] {
        ensure!(
            verbose.stderr.contains(wanted),
            "-v lacks `{wanted}`: {}",
            verbose.stderr
        );
    }

    // Errors and problems are never silenced.
    let failed = repo.catalogue(&["-q", "list", "--rev", "no-such-rev"])?;
    failed.expect(2)?;
    ensure!(failed.stderr.contains("error:"), "{failed:?}");
    repo.commit_by_hand(
        &[(
            "catalogue/fragments/issue-3.json",
            Content::File(b"{\"artifacts\": 1}"),
        )],
        "a broken fragment",
    )?;
    let problem = repo.catalogue(&["check", "-q"])?;
    problem.expect(1)?;
    ensure!(
        problem.stderr.starts_with("problem:") && !problem.stderr.contains("\nok:"),
        "-q check: {}",
        problem.stderr
    );

    let both = repo.catalogue(&["-q", "-v", "check"])?;
    both.expect(2)?;
    Ok(())
}

/// `count` empty commits on `main`, in one `git fast-import`.
fn long_history(repo: &Repo, count: usize) -> Result<()> {
    let mut stream = String::new();
    for i in 0..count {
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter C <c@example.com> {} +0000\ndata 2\nc\n",
            1_200_000_000 + i
        ));
        if i == 0 {
            stream.push_str("from refs/heads/main^0\n");
        }
        stream.push('\n');
    }
    let mut cmd = repo.git_command(&repo.path);
    cmd.args(["fast-import", "--quiet"]);
    let out = run(&mut cmd, Some(stream.as_bytes()))?;
    ensure!(out.status.success(), "fast-import: {out:?}");
    ensure!(repo.count("main")? > count, "history too short");
    Ok(())
}

/// Run the tool on a terminal (util-linux `script` gives it one); what the
/// terminal showed.
fn on_a_terminal(repo: &Repo, args: &str) -> Result<String> {
    let mut cmd = Command::new("script");
    hermetic(&mut cmd, &repo.home())
        .current_dir(&repo.path)
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"]);
    let out = run(&mut cmd, None).context("util-linux `script` is needed")?;
    ensure!(out.status.success(), "script: {out:?}");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn progress_shows_on_a_terminal_only() -> Result<()> {
    let repo = Repo::new()?;
    long_history(&repo, 1100)?;

    let shown = on_a_terminal(&repo, "verify --history")?;
    ensure!(
        shown.contains("verify: 1,0") && shown.contains("commit(s)/s"),
        "no count and rate on a terminal:\n{shown:?}"
    );
    ensure!(
        shown.contains("verify: done in") && shown.contains("1101 skipped"),
        "no closing lines on a terminal:\n{shown:?}"
    );

    let quiet = on_a_terminal(&repo, "-q verify --history")?;
    ensure!(
        quiet.trim().is_empty(),
        "-q on a terminal showed: {quiet:?}"
    );

    let mut cmd = repo.catalogue_command(&repo.path);
    let off = run_catalogue(cmd.args(["verify", "--history"]))?;
    off.expect(0)?;
    ensure!(
        !off.stderr.contains('\r')
            && !off.stderr.contains("done in")
            && !off.stderr.contains('\x1b'),
        "progress off a terminal: {:?}",
        off.stderr
    );
    Ok(())
}
