//! The manual page and the shell completions, both generated from the clap
//! definitions in [`super::args`], so that neither can drift from the flags.
//!
//! git turns `git catalogue --help` into `git help catalogue`, which runs
//! `man git-catalogue`: the page [`manual`] renders must be installed as
//! `git-catalogue.1` on the manual path (README.md, "Install").

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;

/// The command tree as the generators see it: named `git-catalogue`, the
/// program's file name, with every subcommand's `git catalogue …` name set.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

/// The man page `git-catalogue(1)` in roff: name, synopsis, description,
/// global options, one section per command with its options (git's `--help`
/// opens one page, so the commands are sections of it), exit status.
pub fn manual() -> String {
    let cmd = command();
    let mut out: Vec<u8> = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone()).manual("Git Manual");
    // Writing into a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    // The global options are described once, above; each command lists its own.
    let globals: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set() || a.get_id() == "help")
        .map(|a| a.get_id().to_string())
        .collect();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_uppercase();
        out.extend_from_slice(format!(".SH \"{name}\"\n").as_bytes());
        let mut own = sub.clone();
        for id in &globals {
            if own.get_arguments().any(|a| a.get_id() == id.as_str()) {
                own = own.mut_arg(id.as_str(), |a| a.hide(true));
            }
        }
        let page = clap_mangen::Man::new(own.clone());
        let mut section: Vec<u8> = Vec::new();
        let _ = page.render_synopsis_section(&mut section);
        let _ = page.render_description_section(&mut section);
        if own.get_arguments().any(|a| !a.is_hide_set()) {
            let _ = page.render_options_section(&mut section);
        }
        // The command's parts are sub-sections of its own section.
        let text = String::from_utf8_lossy(&section).replace("\n.SH ", "\n.SS ");
        let text = text
            .strip_prefix(".SH ")
            .map_or(text.clone(), |rest| format!(".SS {rest}"));
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    let _ = man.render_version_section(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The exit codes, as README.md and docs/format.md state them.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Done, also when the catalogue was already current.
.TP
\fB1\fR
\fBcheck\fR or \fBverify\fR found a problem.
.TP
\fB2\fR
Bad usage or bad input: a revision that names nothing, a missing file, an invalid fragment, key or path, a duplicate path.
.TP
\fB3\fR
Gave up under contention after the given number of retries.
.TP
\fB4\fR
Any other failure: a lock file that stays, a missing branch, local changes in the way, an unreachable remote, a push refused by a hook, git errors.
.SH "SEE ALSO"
\fBgit\fR(1); docs/format.md in the source repository for the formats, refs and JSON fields.
"#;

/// The completion script for `shell`. For bash it also defines
/// `_git_catalogue`, the function git's own completion calls for
/// `git catalogue <TAB>`, which hands the words after `catalogue` to the
/// generated `git-catalogue` completion.
pub fn completions(shell: Shell) -> String {
    // Unbuilt: the generator names every subcommand after "git-catalogue" itself.
    let mut cmd = Cli::command().bin_name("git-catalogue");
    let mut out: Vec<u8> = Vec::new();
    clap_complete::generate(shell, &mut cmd, "git-catalogue", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if shell == Shell::Bash {
        // clap_complete names the case labels of a subcommand's options after
        // the derive's `bin_name` ("git catalogue", with a space) but the
        // words it matches after the program ("git-catalogue"): make them one.
        text = text.replace("git__subcmd__catalogue", "git__catalogue");
        text.push_str(BASH_FOR_GIT);
    }
    if shell == Shell::Fish {
        text.push_str(&fish_positional_values(&cmd));
    }
    text
}

/// clap_complete's fish generator completes only named options, never a
/// positional argument (its own note in `aot/shells/fish.rs`), so without
/// these lines `git-catalogue completions <TAB>` offers file names: one
/// `complete` line per subcommand positional with a fixed set of values,
/// using the condition function the generator defines.
fn fish_positional_values(cmd: &clap::Command) -> String {
    let mut out = String::new();
    for sub in cmd.get_subcommands() {
        for arg in sub.get_positionals() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !values.is_empty() {
                out.push_str(&format!(
                    "complete -c git-catalogue -n \"__fish_git_catalogue_using_subcommand {}\" -f -a \"{}\"\n",
                    sub.get_name(),
                    values.join(" ")
                ));
            }
        }
    }
    out
}

/// git's bash completion (`git-completion.bash`) completes `git NAME …` for
/// an external command by calling `_git_NAME`, with `words`, `cword` and
/// `__git_cmd_idx` (the index of NAME in `words`) set.
const BASH_FOR_GIT: &str = r#"
# `git catalogue <TAB>` through git's own completion: it calls _git_catalogue.
_git_catalogue() {
    local COMP_WORDS COMP_CWORD
    local idx="${__git_cmd_idx:-1}"
    COMP_WORDS=(git-catalogue "${words[@]:idx+1}")
    COMP_CWORD=$((cword - idx))
    _git__catalogue git-catalogue "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;
