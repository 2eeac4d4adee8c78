//! Progress of a long history walk on stderr: only on a terminal, and only
//! once the walk is long (a thousand commits, or a second).

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::history::Progress;

/// A one-line counter, rewritten in place.
#[derive(Debug)]
pub struct Terminal {
    start: Instant,
    tty: bool,
    shown: bool,
}

impl Terminal {
    /// A counter that shows itself only when stderr is a terminal.
    pub fn new() -> Self {
        Terminal {
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            shown: false,
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
        if !self.tty || n % 100 != 0 {
            return;
        }
        if n >= 1000 || self.start.elapsed().as_secs() >= 1 {
            self.shown = true;
            let mut err = std::io::stderr();
            let _ = write!(err, "\r{stage}: {n} commit(s)");
            let _ = err.flush();
        }
    }

    fn done(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
