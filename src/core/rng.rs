//! A small seeded xorshift generator for the core's randomised tests: the
//! cases repeat for a seed, and no crate is needed.

/// xorshift64.
pub struct Rng(u64);

impl Rng {
    /// A generator that repeats the same numbers for the same seed.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
