//! A read-ahead buffer over the source object, for the decoders' parsers.

use std::io::{ErrorKind, Read};

pub struct Input<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// The source has no more bytes than those buffered.
    pub eof: bool,
    /// Source bytes consumed so far.
    pub consumed: u64,
}

impl<R: Read> Input<R> {
    pub fn new(src: R) -> Self {
        Input { src, buf: Vec::with_capacity(super::analyse::WINDOW), pos: 0, eof: false, consumed: 0 }
    }

    /// Make at least `want` unconsumed bytes available (fewer at the end of the source).
    pub fn fill_to(&mut self, want: usize) -> std::io::Result<()> {
        if self.pos > 0 && self.buf.len() - self.pos < want {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        while !self.eof && self.buf.len() - self.pos < want {
            let old = self.buf.len();
            self.buf.resize(old + (want - (old - self.pos)).max(64 << 10), 0);
            match self.src.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    self.eof = true;
                }
                Ok(n) => self.buf.truncate(old + n),
                Err(e) if e.kind() == ErrorKind::Interrupted => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The buffered, unconsumed bytes.
    pub fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Consume `n` buffered bytes.
    pub fn skip(&mut self, n: usize) {
        assert!(n <= self.buf.len() - self.pos, "skipping past the buffered bytes");
        self.pos += n;
        self.consumed += n as u64;
    }

    /// Consume and return `n` buffered bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let v = self.avail()[..n].to_vec();
        self.skip(n);
        v
    }
}

/// Decoded bytes produced by a decoder's step and not yet read by its caller.
#[derive(Default)]
pub struct Output {
    buf: Vec<u8>,
    pos: usize,
    /// Bytes handed to the caller so far.
    pub emitted: u64,
}

impl Output {
    pub fn set(&mut self, buf: Vec<u8>) {
        self.buf = buf;
        self.pos = 0;
    }

    /// Everything produced has been read.
    pub fn drained(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Copy what fits into `out`.
    pub fn copy_to(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.emitted += n as u64;
        n
    }
}
