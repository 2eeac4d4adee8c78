//! Progress of a long history walk on stderr, drawn by indicatif: the count
//! of each stage, its rate and the time so far, then the time it took.
//! Only on a terminal, never under `-q`, and only once the walk is long (a
//! thousand items, or a second), so short runs and logs stay as they are.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::history::Progress;

/// Set by `-q`: no progress at all.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether progress is hidden (`-q`) from now on.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// The walk must be this long before anything is drawn.
const SHOW_AFTER_ITEMS: usize = 1000;
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// What a stage counts, for the line.
fn unit(stage: &str) -> &'static str {
    match stage {
        "reading trees" => "tree(s)",
        "reading manifests" => "manifest version(s)",
        _ => "commit(s)",
    }
}

/// Whether a walk that has done `n` items since `elapsed` is long enough to show.
fn worth_showing(n: usize, elapsed: Duration) -> bool {
    n >= SHOW_AFTER_ITEMS || elapsed >= SHOW_AFTER
}

/// The closing line of a stage: its time and its rate. The total is the
/// command's own closing line ("… in N checked commit(s)"), which counts
/// exactly; the walk's ticks report the items done before the last one.
fn summary(stage: &str, n: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
    format!("{stage}: done in {secs:.1}s ({rate:.0} {}/s)", unit(stage))
}

/// A counter per stage, drawn in place on a terminal.
#[derive(Debug)]
pub struct Terminal {
    start: Instant,
    tty: bool,
    /// The stage being drawn: its name, its bar, its count, when it began.
    current: Option<(String, ProgressBar, usize, Instant)>,
}

impl Terminal {
    /// A counter that shows itself only when stderr is a terminal and `-q` is not given.
    pub fn new() -> Self {
        Terminal {
            start: Instant::now(),
            tty: std::io::stderr().is_terminal() && !QUIET.load(Ordering::Relaxed),
            current: None,
        }
    }

    /// End the stage being drawn, leaving its summary line.
    fn finish_stage(&mut self) {
        if let Some((stage, bar, n, began)) = self.current.take() {
            bar.finish_and_clear();
            eprintln!("{}", summary(&stage, n, began.elapsed()));
        }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Terminal {
    fn tick(&mut self, stage: &str, n: usize) {
        if !self.tty {
            return;
        }
        if !matches!(&self.current, Some((s, ..)) if s == stage) {
            if self.current.is_none() && !worth_showing(n, self.start.elapsed()) {
                return;
            }
            self.finish_stage();
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{msg}}: {{human_pos}} {} ({{per_sec}}, {{elapsed}})",
                    unit(stage)
                ))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(stage.to_owned());
            self.current = Some((stage.to_owned(), bar, 0, Instant::now()));
        }
        if let Some((_, bar, count, _)) = &mut self.current {
            *count = n;
            bar.set_position(n as u64);
        }
    }

    fn done(&mut self) {
        self.finish_stage();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_walks_are_not_shown() {
        assert!(!worth_showing(999, Duration::from_millis(900)));
        assert!(worth_showing(1000, Duration::ZERO));
        assert!(worth_showing(1, Duration::from_secs(1)));
    }

    #[test]
    fn the_summary_gives_total_time_and_rate() {
        assert_eq!(
            summary("verify", 5000, Duration::from_secs(2)),
            "verify: done in 2.0s (2500 commit(s)/s)"
        );
        assert_eq!(
            summary("reading trees", 0, Duration::ZERO),
            "reading trees: done in 0.0s (0 tree(s)/s)"
        );
    }

    #[test]
    fn off_a_terminal_nothing_is_drawn() {
        // The unit tests' stderr is captured, not a terminal.
        let mut t = Terminal::new();
        t.tick("verify", 5000);
        t.done();
        assert!(t.current.is_none());
    }
}
