//! How long a loser waits before it tries again (docs/format.md,
//! "Concurrency").

use std::time::Duration;

use crate::core::rng::Rng;

/// The longest single pause while a remote's ref lock is held.
pub(super) const LOCK_BACKOFF_CAP: Duration = Duration::from_secs(1);

/// The smallest unit of backoff, and the cap of one pause, unless
/// [`CAP_WINDOWS`] of the losing attempt's own duration are longer.
const BACKOFF_BASE: Duration = Duration::from_millis(10);

const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// The longest pause, in units of the losing attempt (see [`backoff_after`]).
const CAP_WINDOWS: u32 = 200;

/// The longest pause however slow the losing attempt was (see [`backoff_after`]).
const PAUSE_LIMIT: Duration = Duration::from_secs(60);

/// The pause before attempt `n + 1`, in units of 10 ms (see [`backoff_after`]).
pub fn backoff(n: u32, jitter: &mut Jitter) -> Duration {
    backoff_after(Duration::ZERO, n, jitter)
}

/// How many units the pause after `n` lost attempts lasts: 1, 2, 4, 8, then
/// three times more after each further loss (24, 72, 216, …).
fn windows(n: u32) -> u32 {
    match n {
        0..=4 => 1 << n.saturating_sub(1),
        n => 8u32.saturating_mul(3u32.saturating_pow(n - 4)),
    }
}

/// The pause before attempt `n + 1`, counted in units of the losing
/// attempt's own duration (at least 10 ms), each scaled by a random factor
/// in [0.5, 1.5) so that writers who collided once spread out.
///
/// An attempt is the window in which others race us: a local compare-and-
/// swap takes milliseconds, a fetch-build-push round trip to a forge a large
/// fraction of a second. Pausing a fixed few milliseconds after a slow round
/// trip would have a loser retry straight into the same crowd.
///
/// The schedule is tuned on `tests/cli/many_clones_lose_nothing.rs` (32 shallow clones, each
/// pushing 11 writes back to back through a git daemon, one window ≈ 0.3 s
/// under that load) and a simulation of it. Nothing coordinates the
/// writers, so every attempt is a lottery: it wins only if no other push
/// lands within its window. With N writers in the crowd, a loser's pauses
/// must grow to about N windows before its chance per attempt is good; and
/// it has only 11 attempts (`--retries 10`). The earlier schedule (doubling,
/// each pause capped at 8 s ≈ 27 windows) ran 12 of the 352 writes (3.4 %)
/// out of attempts: fresh writers, pausing briefly, kept beating old losers,
/// pausing 8 s. Doubling for four losses keeps a small crowd as quick as
/// before; tripling after them, up to 200 windows (60 s at 0.3 s), reaches a
/// crowd of 32 within the budget. Measured on that test: 0 of 352 writes
/// out of attempts (at most 8 retries), against 12 before, for 1.7 landed
/// writes per second against 2.5: fewer attempts are made that would lose.
/// The simulation (`bench/backoff_sim.py`) agrees: 0.005 % of writes out
/// of attempts against 3.3 %, for a makespan 1.8 times as long.
/// Ten losses in a row now wait at most about 900 windows (4.5 minutes at
/// 0.3 s), only ever under a crowd that large.
///
/// One pause is also at most [`PAUSE_LIMIT`] (60 s, before jitter), however
/// slow the losing attempt was. Measured with 64 shallow clones x (3
/// records + 1 consolidation) through git daemon (`sixty_four_…` in
/// `tests/cli/many_clones_lose_nothing.rs`): all 256 writes landed (attempts
/// median 1, p90 7, max 9 of 11), but the run took 605 s, its last write
/// asleep alone for over 400 s of it: git daemon listens with a backlog of 5, so under
/// 64 writers a connection can wait seconds for the kernel to retransmit
/// its SYN, an attempt then lasts seconds, and 200 of those units made one
/// writer's late pauses several minutes long. 60 s is still 200 windows of
/// the 0.3 s a crowd of 32 makes, which the schedule above was tuned on.
pub fn backoff_after(attempt: Duration, n: u32, jitter: &mut Jitter) -> Duration {
    let unit = attempt.max(BACKOFF_BASE);
    let cap = BACKOFF_CAP.max(unit.saturating_mul(CAP_WINDOWS).min(PAUSE_LIMIT));
    let nominal = unit.saturating_mul(windows(n)).min(cap);
    nominal.mul_f64(0.5 + jitter.next_unit())
}

/// A small xorshift generator seeded from std's per-process random hasher
/// keys; good enough to de-synchronise writers, and no extra crate.
#[derive(Debug)]
pub struct Jitter(Rng);

impl Jitter {
    /// A generator seeded differently in every process.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Jitter(Rng::seeded(h.finish()))
    }

    /// A generator that repeats the same numbers for the same seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Jitter(Rng::seeded(seed))
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        self.0.next_unit()
    }

    /// A number in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_four_times_then_triples_under_the_cap_with_jitter() {
        assert_eq!(
            (1..=8).map(windows).collect::<Vec<_>>(),
            [1, 2, 4, 8, 24, 72, 216, 648]
        );
        let mut j = Jitter::new();
        for n in 1..=20 {
            let d = backoff(n, &mut j);
            let nominal = BACKOFF_BASE.saturating_mul(windows(n)).min(BACKOFF_CAP);
            assert!(d >= nominal / 2, "attempt {n}: {d:?} < half of {nominal:?}");
            assert!(
                d < nominal.mul_f64(1.5),
                "attempt {n}: {d:?} >= 1.5 x {nominal:?}"
            );
        }
    }

    #[test]
    fn backoff_is_counted_in_units_of_a_slow_attempt_up_to_200_of_them() {
        let mut j = Jitter::new();
        let window = Duration::from_millis(300);
        for n in 1..=12 {
            let d = backoff_after(window, n, &mut j);
            let nominal = (window * windows(n)).min(window * CAP_WINDOWS);
            assert!(
                d >= nominal / 2 && d < nominal.mul_f64(1.5),
                "attempt {n}: {d:?} vs {nominal:?}"
            );
        }
        // A very slow attempt (a connection waiting on a full backlog) waits
        // at most 60 s, not 200 of its own units.
        let slow = backoff_after(Duration::from_secs(3), 9, &mut j);
        assert!(slow < PAUSE_LIMIT.mul_f64(1.5), "{slow:?}");
        // A fast local attempt still waits at least the 10 ms unit, and is
        // capped at 8 s, not at 200 units.
        assert!(backoff_after(Duration::from_micros(50), 1, &mut j) >= BACKOFF_BASE / 2);
        assert!(backoff_after(Duration::from_millis(5), 12, &mut j) >= BACKOFF_CAP / 2);
    }
}
