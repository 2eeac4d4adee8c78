//! A blob's bytes in parts, held or spooled ([`crate::spool::Spool`]): what
//! lets a full consolidation of 100,000 fragments hash and write a 62 MB
//! manifest without holding it.

use std::ops::Range;

use crate::error::Result;
use crate::spool::Spool;

/// Part of a blob's bytes: held, or a range of a [`Spool`].
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// Bytes set aside.
    Spooled(&'a Spool, u64, u64),
}

impl<'a> From<&'a [u8]> for Part<'a> {
    fn from(bytes: &'a [u8]) -> Part<'a> {
        Part::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Part<'a> {
    fn from(bytes: &'a Vec<u8>) -> Part<'a> {
        Part::Bytes(bytes)
    }
}

impl<'a> Part<'a> {
    /// The bytes `range` of `spool`.
    pub fn spooled(spool: &'a Spool, range: &Range<u64>) -> Part<'a> {
        Part::Spooled(spool, range.start, range.end)
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::Spooled(_, start, end) => end - start,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its first `n` bytes (fewer when it is shorter).
    pub fn prefix(&self, n: u64) -> Result<Vec<u8>> {
        let n = n.min(self.len());
        match *self {
            Part::Bytes(b) => Ok(b[..n as usize].to_vec()),
            Part::Spooled(spool, start, _) => spool.read(&(start..start + n)),
        }
    }

    /// It without its first `n` bytes.
    pub fn skip(&self, n: u64) -> Part<'a> {
        let n = n.min(self.len());
        match *self {
            Part::Bytes(b) => Part::Bytes(&b[n as usize..]),
            Part::Spooled(spool, start, end) => Part::Spooled(spool, start + n, end),
        }
    }
}

/// A reader over parts, in order.
pub(crate) struct Parts<'p> {
    parts: &'p [Part<'p>],
    at: u64,
}

impl<'p> Parts<'p> {
    pub(super) fn new(parts: &'p [Part<'p>]) -> Parts<'p> {
        Parts { parts, at: 0 }
    }

    /// Hand each run of bytes to `each`, in order, through `buf` for
    /// spooled ones.
    pub(super) fn for_each(parts: &[Part<'_>], mut each: impl FnMut(&[u8])) -> Result<()> {
        let mut buf = vec![0; 1 << 16];
        for part in parts {
            match *part {
                Part::Bytes(b) => each(b),
                Part::Spooled(spool, start, end) => {
                    let mut at = start;
                    while at < end {
                        let n = buf.len().min((end - at) as usize);
                        spool.read_at(at, &mut buf[..n])?;
                        each(&buf[..n]);
                        at += n as u64;
                    }
                }
            }
        }
        Ok(())
    }
}

impl std::io::Read for Parts<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(first) = self.parts.first() {
            let len = first.len();
            if self.at < len {
                let n = (buf.len() as u64).min(len - self.at) as usize;
                match *first {
                    Part::Bytes(b) => {
                        let at = self.at as usize;
                        buf[..n].copy_from_slice(&b[at..at + n]);
                    }
                    Part::Spooled(spool, start, _) => {
                        spool
                            .read_at(start + self.at, &mut buf[..n])
                            .map_err(|e| std::io::Error::other(e.message))?;
                    }
                }
                self.at += n as u64;
                return Ok(n);
            }
            self.parts = &self.parts[1..];
            self.at = 0;
        }
        Ok(0)
    }
}
