//! A spool: output records appended one by one, held in memory while they
//! are few and moved to an unlinked temporary file once they are not, then
//! written out in order, leaving out records marked skipped on the way.
//!
//! `list` spools its rows (or its `--json` entries) so that a catalogue of
//! 100,000 fragments is never held whole, neither parsed nor rendered: each
//! fragment is dropped once its records are spooled. A full consolidation,
//! `check` and `verify --history` spool the outputs they render
//! (`catalogue::Spilling`) and hash and write them from here as blobs
//! (`store::Part`): a 62 MB manifest is never held whole either.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt as _;

use crate::error::{Error, ErrorKind, Result};

/// How many bytes a spool holds in memory before it moves them to its file.
const HELD: usize = 4 << 20;

/// Records appended in order; see the module.
#[derive(Debug, Default)]
pub struct Spool {
    /// The bytes after those in `file`.
    held: Vec<u8>,
    /// The unlinked file holding the first `in_file` bytes, once there are many.
    file: Option<File>,
    in_file: u64,
    /// Byte ranges to leave out.
    skip: Vec<Range<u64>>,
}

impl Spool {
    /// An empty spool.
    pub fn new() -> Spool {
        Spool::default()
    }

    /// How many bytes have been appended.
    pub fn len(&self) -> u64 {
        self.in_file + self.held.len() as u64
    }

    /// Whether nothing has been appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append the record `write` writes, and say where it lies.
    pub fn record(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<Range<u64>> {
        let start = self.len();
        write(&mut self.held);
        let end = self.len();
        if self.held.len() > HELD {
            self.spill()?;
        }
        Ok(start..end)
    }

    /// Append `bytes`, returning where they lie. Many bytes at once (a
    /// quarter MiB or more) go straight to the file, not through memory.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Range<u64>> {
        if bytes.len() < HELD / 16 {
            return self.record(|held| held.extend_from_slice(bytes));
        }
        let start = self.len();
        self.spill()?;
        self.write_file(bytes)?;
        Ok(start..self.len())
    }

    /// Read back `range` (of bytes appended) into memory.
    pub fn read(&self, range: &Range<u64>) -> Result<Vec<u8>> {
        let mut out = vec![0; usize::try_from(range.end - range.start).unwrap_or(usize::MAX)];
        self.read_at(range.start, &mut out)?;
        Ok(out)
    }

    /// Fill `buf` with the bytes appended from `at` on, from the file and
    /// then from those still held.
    pub fn read_at(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let end = at + buf.len() as u64;
        if end > self.len() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "read past the end of the output's temporary file ({end} > {})",
                    self.len()
                ),
            ));
        }
        let from_file = (self.in_file.saturating_sub(at) as usize).min(buf.len());
        if from_file > 0 {
            let file = self.file.as_ref().expect("bytes in the file mean a file");
            file.read_exact_at(&mut buf[..from_file], at).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot read the output's temporary file: {e}"),
                )
            })?;
        }
        let rest = buf.len() - from_file;
        if rest > 0 {
            let held_at = (at + from_file as u64 - self.in_file) as usize;
            buf[from_file..].copy_from_slice(&self.held[held_at..held_at + rest]);
        }
        Ok(())
    }

    /// Leave the bytes `range` (a record's) out when written.
    pub fn skip(&mut self, range: Range<u64>) {
        if !range.is_empty() {
            self.skip.push(range);
        }
    }

    /// Move the held bytes to the file, making it on first use.
    fn spill(&mut self) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        self.write_file(&held)?;
        self.held = held;
        self.held.clear();
        Ok(())
    }

    /// Append `bytes` to the file (after the bytes held, which must be none).
    fn write_file(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert!(self.held.is_empty());
        if bytes.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile().map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "cannot make a temporary file to spool the output in {} (TMPDIR): {e}",
                        std::env::temp_dir().display()
                    ),
                )
            })?),
        };
        file.write_all(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot write the output's temporary file in {} (TMPDIR): {e}",
                    std::env::temp_dir().display()
                ),
            )
        })?;
        self.in_file += bytes.len() as u64;
        Ok(())
    }

    /// Write every byte not skipped to `out`, in order, leaving out the
    /// first `lead` of them too (a separator that records start with).
    pub fn write_to(mut self, out: &mut dyn Write, lead: u64) -> std::io::Result<()> {
        self.skip.sort_by_key(|r| r.start);
        let mut lead = lead;
        let mut at = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let mut skips = std::mem::take(&mut self.skip).into_iter().peekable();
        let mut file = self.file.take();
        if let Some(f) = &mut file {
            f.seek(SeekFrom::Start(0))?;
        }
        let total = self.len();
        while at < total {
            // The next stretch to write: up to the next skip, the end of the file, or the buffer.
            while let Some(r) = skips.peek() {
                if r.end <= at {
                    skips.next();
                } else if r.start <= at {
                    at = r.end;
                    skips.next();
                } else {
                    break;
                }
            }
            if at >= total {
                break;
            }
            let until = skips.peek().map_or(total, |r| r.start.min(total));
            let chunk: &[u8] = if at < self.in_file {
                let f = file.as_mut().expect("bytes in the file mean a file");
                let n = (until.min(self.in_file) - at).min(buf.len() as u64) as usize;
                f.seek(SeekFrom::Start(at))?;
                f.read_exact(&mut buf[..n])?;
                &buf[..n]
            } else {
                let from = (at - self.in_file) as usize;
                &self.held[from..(until - self.in_file) as usize]
            };
            at += chunk.len() as u64;
            let dropped = lead.min(chunk.len() as u64) as usize;
            lead -= dropped as u64;
            out.write_all(&chunk[dropped..])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of `n` bytes each, `rows` of them, every `skip`-th skipped.
    fn spooled(rows: usize, skip: usize) -> (Vec<u8>, Vec<u8>) {
        let mut spool = Spool::new();
        let mut expected = Vec::new();
        for i in 0..rows {
            let row = format!(",row {i} {}\n", "x".repeat(i % 700));
            let range = spool
                .record(|out| out.extend_from_slice(row.as_bytes()))
                .expect("spooled");
            if i % skip == 0 {
                spool.skip(range);
            } else {
                expected.extend_from_slice(row.as_bytes());
            }
        }
        let mut out = Vec::new();
        spool.write_to(&mut out, 1).expect("written");
        (out, expected.split_off(1.min(expected.len())))
    }

    #[test]
    fn bytes_pushed_read_back_from_file_and_memory_alike() {
        let mut spool = Spool::new();
        let mut all = Vec::new();
        let mut ranges = Vec::new();
        for i in 0..2000 {
            // Now and then many bytes at once, which go straight to the file.
            let n = if i % 500 == 250 {
                300_000
            } else {
                i * 7 % 5000
            };
            let bytes = format!("{i}:{}|", "y".repeat(n)).into_bytes();
            ranges.push(spool.push(&bytes).expect("pushed"));
            all.extend_from_slice(&bytes);
        }
        assert!(
            spool.file.is_some() && !spool.held.is_empty(),
            "both in use"
        );
        for r in ranges.iter().step_by(37).chain(ranges.last()) {
            let got = spool.read(r).expect("read");
            assert!(got == all[r.start as usize..r.end as usize], "{r:?}");
        }
        // A range across the file's end and the bytes held.
        let across = spool.in_file - 10..spool.in_file + 10;
        assert!(
            spool.read(&across).expect("read") == all[across.start as usize..across.end as usize]
        );
        assert!(spool.read(&(0..spool.len() + 1)).is_err());
    }

    #[test]
    fn small_and_large_spools_write_what_was_kept_in_order() {
        for (rows, skip) in [(0, 1), (1, 2), (10, 3), (30_000, 7), (30_000, 1)] {
            let (out, expected) = spooled(rows, skip);
            assert_eq!(out.len(), expected.len(), "{rows} rows, skip {skip}");
            assert!(out == expected, "{rows} rows, skip {skip}");
        }
    }
}
