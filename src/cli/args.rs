//! Command-line definitions, and nothing else: no IO happens here.
//!
//! [`crate::settings`] turns these raw arguments, plus git config, into the
//! settings a command runs with, so parsing stays apart from reading git.
//! Global flags are `global`, so `--json` and friends work before or after
//! the command name, as README.md promises.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Conflict-free artifact catalogue for git: every run records its own
/// fragment; consolidation rebuilds `manifest.json` and `index.md` from all of
/// them and moves the branch by compare-and-swap.
#[derive(Debug, Parser)]
#[command(name = "git-catalogue", bin_name = "git catalogue", version)]
pub struct Cli {
    /// Run as if started in <PATH> (like `git -C`).
    #[arg(short = 'C', global = true, value_name = "PATH")]
    pub chdir: Option<PathBuf>,
    /// Print one JSON object on stdout describing the outcome; human text goes to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// The catalogue folder [default: git config catalogue.dir, else `catalogue`].
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<String>,
    /// The branch the catalogue lives on [default: git config catalogue.branch, else `main`].
    #[arg(long, global = true, value_name = "NAME")]
    pub branch: Option<String>,
    /// Say less: only warnings, problems and errors on stderr, and no progress (like `git -q`).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: after the usual lines, every scalar field of the outcome on stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands (README.md, "Commands").
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write this run's fragment as a commit (on `refs/heads/catalogue/<key>`, or the branch with --direct).
    Record(RecordArgs),
    /// Rebuild manifest.json and index.md from the branch's fragments and commit them.
    Consolidate(ConsolidateArgs),
    /// Validate the fragments and report whether manifest and index are current (exit 1 if not).
    Check(CheckArgs),
    /// Print the catalogue of a revision, built from its fragments.
    List(ListArgs),
    /// List per-issue refs whose fragment has not reached the branch yet.
    Pending(PendingArgs),
    /// Check the catalogue of every commit of the branch's first-parent history (exit 1 on a problem).
    Verify(VerifyArgs),
    /// Recover entries that concurrent writers lost from manifest.json's history, as recovery fragments.
    Repair(RepairArgs),
    /// Print shell completions for SHELL on stdout (bash: works with git's own completion).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout; `git catalogue --help` shows it once installed.
    Manual(ManualArgs),
}

/// `completions`: a completion script for a shell.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `manual`: the man page.
#[derive(Debug, Args)]
pub struct ManualArgs {}

/// Options shared by commands that move a ref.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// How many times to rebuild and retry when another writer moved the ref first.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub retries: u32,
    /// The commit message [default: one that says what was done].
    #[arg(long, short = 'm', value_name = "MSG")]
    pub message: Option<String>,
    /// Fetch REMOTE's ref, build on its tip, and push (without force) instead of moving a local ref.
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
}

/// `record`: one producer run's fragment.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The issue this run belongs to; the key becomes `issue-<N>`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub issue: Option<u64>,
    /// The fragment key, when it is not `issue-<N>`.
    #[arg(long, value_name = "K")]
    pub key: Option<String>,
    /// An artifact path (repository-relative) this run produced. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub artifact: Vec<String>,
    /// Add the local file SRC to the commit at PATH and record PATH as an artifact. Repeatable.
    #[arg(long, value_name = "SRC=PATH")]
    pub add: Vec<String>,
    /// The `kind` of the preceding --artifact or --add.
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<String>,
    /// The `title` of the preceding --artifact or --add.
    #[arg(long, value_name = "TITLE")]
    pub title: Vec<String>,
    /// Fragment JSON to start from (`-` for stdin); --artifact and --add append to its artifacts.
    #[arg(long, value_name = "FILE")]
    pub fragment: Option<PathBuf>,
    /// Commit straight onto the branch instead of the per-issue ref.
    #[arg(long)]
    pub direct: bool,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `consolidate`: bring manifest.json and index.md up to date.
#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    /// Report what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Read every fragment, instead of only those changed since the manifest's `source`.
    #[arg(long)]
    pub full: bool,
    /// Drop the manifest's entries that no fragment backs (a legacy or hand-written
    /// manifest) instead of refusing; `git catalogue repair` migrates them instead.
    #[arg(long)]
    pub drop_unbacked: bool,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `check`: read-only validation.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The revision to check [default: the branch tip].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Only validate the fragments (valid, no duplicate paths); ignore manifest and index.
    #[arg(long)]
    pub fragments_only: bool,
    /// Judge a pull request: list what --rev (default HEAD) adds, changes or removes since
    /// it left BASE, and whether merging it onto BASE keeps the catalogue consistent.
    #[arg(long, value_name = "BASE", conflicts_with = "fragments_only")]
    pub base: Option<String>,
    /// With --base: append the summary as Markdown to FILE (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE", requires = "base")]
    pub summary: Option<PathBuf>,
}

/// `list`: the catalogue of a revision.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The revision to list [default: the branch tip].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Only the artifacts of this issue.
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
}

/// `pending`: per-issue refs not yet on the branch.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Also list REMOTE's per-issue refs, and compare with REMOTE's branch instead of the local one.
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
}

/// `verify`: read-only checks of history.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Walk the branch's first-parent history and check every commit whose catalogue changed.
    #[arg(long)]
    pub history: bool,
    /// Check only the commits after REV on the first-parent line (REV..branch), e.g. the adoption commit.
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,
    /// The range form, `REV..` or `REV..TIP`: as --since REV, walking from TIP instead of the branch.
    #[arg(value_name = "RANGE", conflicts_with = "since")]
    pub range: Option<String>,
    #[command(flatten)]
    pub deepen: DeepenArgs,
}

/// `--deepen`, for the commands that read history.
#[derive(Debug, Args)]
pub struct DeepenArgs {
    /// In a shallow clone, first fetch the branch's whole history from REMOTE [default: the --push
    /// remote, else the branch's upstream remote, else origin].
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub deepen: Option<String>,
}

/// `repair`: recover lost entries as recovery fragments, then consolidate.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Report what would be recovered; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also recover entries removed by commits that only removed entries.
    #[arg(long)]
    pub include_deleted: bool,
    #[command(flatten)]
    pub deepen: DeepenArgs,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// Where an artifact of `record` comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactSource {
    /// `--artifact PATH`: produced elsewhere, only recorded.
    Recorded(String),
    /// `--add SRC=PATH`: the local file SRC is committed at PATH and recorded.
    Added {
        /// The local file.
        src: PathBuf,
        /// Its repository-relative destination, which is also the artifact path.
        dest: String,
    },
}

/// One artifact given on the command line, with the `--kind`/`--title` that followed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// Where it comes from.
    pub source: ArtifactSource,
    /// Its `kind`, if given.
    pub kind: Option<String>,
    /// Its `title`, if given.
    pub title: Option<String>,
}

impl ArtifactSpec {
    /// The artifact path recorded in the fragment.
    pub fn path(&self) -> &str {
        match &self.source {
            ArtifactSource::Recorded(path) => path,
            ArtifactSource::Added { dest, .. } => dest,
        }
    }
}

/// Pair each `--kind`/`--title` with the `--artifact` or `--add` before it.
///
/// clap's derive API drops argument positions, so this reads them from the
/// `record` sub-matches. It is pure: it only looks at the parsed arguments.
pub fn artifact_specs(record: &clap::ArgMatches) -> Result<Vec<ArtifactSpec>, String> {
    // (position, spec) for every artifact, in command-line order.
    let mut specs: Vec<(usize, ArtifactSpec)> = Vec::new();
    let values = |id: &str| -> Vec<(usize, String)> {
        match (record.indices_of(id), record.get_many::<String>(id)) {
            (Some(idx), Some(vals)) => idx.zip(vals.cloned()).collect(),
            _ => Vec::new(),
        }
    };
    for (pos, path) in values("artifact") {
        specs.push((
            pos,
            ArtifactSpec {
                source: ArtifactSource::Recorded(path),
                kind: None,
                title: None,
            },
        ));
    }
    for (pos, pair) in values("add") {
        let Some((src, dest)) = pair.split_once('=') else {
            return Err(format!("--add takes SRC=PATH, got `{pair}`"));
        };
        if src.is_empty() || dest.is_empty() {
            return Err(format!(
                "--add takes SRC=PATH with both sides non-empty, got `{pair}`"
            ));
        }
        specs.push((
            pos,
            ArtifactSpec {
                source: ArtifactSource::Added {
                    src: PathBuf::from(src),
                    dest: dest.to_owned(),
                },
                kind: None,
                title: None,
            },
        ));
    }
    specs.sort_by_key(|(pos, _)| *pos);
    for (flag, is_kind) in [("kind", true), ("title", false)] {
        for (pos, value) in values(flag) {
            let Some((_, spec)) = specs.iter_mut().rev().find(|(p, _)| *p < pos) else {
                return Err(format!(
                    "--{flag} `{value}` must follow the --artifact or --add it describes"
                ));
            };
            let slot = if is_kind {
                &mut spec.kind
            } else {
                &mut spec.title
            };
            if slot.is_some() {
                return Err(format!(
                    "--{flag} given twice for artifact `{}`",
                    spec.path()
                ));
            }
            *slot = Some(value);
        }
    }
    Ok(specs.into_iter().map(|(_, spec)| spec).collect())
}
