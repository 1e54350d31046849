//! Chunking a reader through a fixed window buffer, so a file of any size needs memory for
//! one window only (and no mmap, which a concurrent truncation would turn into SIGBUS).

use std::io::{ErrorKind, Read};

use super::Chunking;

/// Reads a stream window by window and yields the chunks of each window. The window
/// buffer is borrowed so a worker can reuse one allocation for every file it reads: for
/// many small files, allocating a window per file costs more than the hashing.
pub struct WindowedChunker<'c, 'b, R> {
    reader: R,
    chunking: Chunking<'c>,
    /// Bytes cut so far (0: the next window starts the object).
    cut_total: u64,
    buf: &'b mut Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
    lens: Vec<usize>,
    total: u64,
}

/// Chunks of one window: `data` sliced by `lens` in order.
pub struct Batch<'a> {
    pub data: &'a [u8],
    pub lens: &'a [usize],
}

impl<'a> Batch<'a> {
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.lens.len());
        let mut pos = 0;
        for &n in self.lens {
            out.push(&self.data[pos..pos + n]);
            pos += n;
        }
        out
    }
}

impl<'c, 'b, R: Read> WindowedChunker<'c, 'b, R> {
    /// `buf` grows to `window` (at least 4 × the largest chunk) once and is then reused.
    pub fn new(reader: R, chunking: Chunking<'c>, window: usize, buf: &'b mut Vec<u8>) -> Self {
        let window = window.max(4 * chunking.max_size());
        buf.resize(window, 0);
        WindowedChunker {
            reader,
            chunking,
            cut_total: 0,
            buf,
            start: 0,
            filled: 0,
            eof: false,
            lens: Vec::new(),
            total: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// The next window's chunks, or `None` at the end of the stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Batch<'_>>> {
        // Keep the uncut tail, then fill the window.
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        while !self.eof && self.filled < self.buf.len() {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.filled += n;
                    self.total += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.filled == 0 {
            return Ok(None);
        }
        self.lens.clear();
        let data = &self.buf[..self.filled];
        let used = match self.chunking {
            Chunking::Cdc(c) => c.cut(data, self.eof, &mut self.lens),
            Chunking::Records(r, fallback) => {
                let rc = r.cut(data, self.cut_total == 0, self.eof, &mut self.lens);
                if rc.invalid {
                    // Not (or no longer) a valid segment file: cut the rest generically.
                    self.chunking = Chunking::Cdc(fallback);
                    rc.used + fallback.cut(&data[rc.used..], self.eof, &mut self.lens)
                } else {
                    rc.used
                }
            }
        };
        self.start = used;
        self.cut_total += used as u64;
        Ok(Some(Batch { data: &self.buf[..used], lens: &self.lens }))
    }
}
