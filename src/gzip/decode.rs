//! Gzip stream → decoded text + recipe, verified segment by segment.

use std::io::{Cursor, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::{ExitCode, PreflateConfig, PreflateStreamProcessor, RecreateStreamProcessor};

use super::{container::header_len, SEGMENT_PLAIN};

/// The object cannot be stored gzip-transparently (not gzip, damaged, or preflate cannot
/// recreate it exactly, or cheaply enough); the caller stores it as raw bytes instead.
#[derive(Debug)]
pub struct NotReproducible(pub String);

impl std::fmt::Display for NotReproducible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not stored gzip-transparently: {}", self.0)
    }
}

impl std::error::Error for NotReproducible {}

/// One member as found: header and trailer bytes, and per segment its decoded length and
/// preflate's corrections.
#[derive(Default, Debug)]
pub struct DecodedMember {
    pub header: Vec<u8>,
    pub segments: Vec<(u64, Vec<u8>)>,
    pub trailer: Vec<u8>,
}

/// What the decoder learned, once the stream has been read to its end.
#[derive(Default, Debug)]
pub struct Decoded {
    pub members: Vec<DecodedMember>,
    /// Decoded bytes (the tail excluded).
    pub plain: u64,
    /// Bytes after the last member, passed through verbatim.
    pub tail: u64,
    /// Deflate bytes of all members.
    pub deflate: u64,
    pub corrections: u64,
}

enum State {
    Header,
    Member(Box<(PreflateStreamProcessor, RecreateStreamProcessor)>, crc32fast::Hasher, u64),
    Trailer(crc32fast::Hasher, u64),
    Tail,
}

/// Reads a gzip stream and yields its decoded text followed by any trailing bytes.
/// Fails with an [`std::io::Error`] wrapping [`NotReproducible`] as soon as the stream
/// turns out not to be recreatable bit-exactly.
pub struct Decoder<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    state: State,
    out: Vec<u8>,
    out_pos: usize,
    /// Compressed bytes consumed so far (for the cost check).
    consumed: u64,
    /// Bytes returned by `read`.
    emitted: u64,
    done: Decoded,
}

/// Compressed bytes offered to preflate at a time (doubled while it asks for more).
const WINDOW: usize = 1 << 20;
/// Corrections above this share of the compressed size: storing raw is cheaper.
const MAX_CORRECTIONS_SHARE: f64 = 0.1;

fn refuse(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(NotReproducible(msg.into()))
}

impl<R: Read> Decoder<R> {
    pub fn new(src: R) -> Self {
        Decoder {
            src,
            buf: Vec::with_capacity(WINDOW),
            pos: 0,
            eof: false,
            state: State::Header,
            out: Vec::new(),
            out_pos: 0,
            consumed: 0,
            emitted: 0,
            done: Decoded::default(),
        }
    }

    /// Decoded bytes returned so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// The recipe parts and counts; call after `read` returned 0.
    pub fn finish(self) -> Decoded {
        self.done
    }

    /// Make at least `want` unconsumed bytes available (fewer at the end of the source).
    fn fill_to(&mut self, want: usize) -> std::io::Result<()> {
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

    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        self.consumed += n as u64;
        v
    }

    /// Produce the next piece of output into `self.out`; false at the end.
    fn step(&mut self) -> std::io::Result<bool> {
        loop {
            match std::mem::replace(&mut self.state, State::Tail) {
                State::Header => {
                    let mut want = 64;
                    let len = loop {
                        self.fill_to(want)?;
                        match header_len(self.avail()) {
                            Ok(Some(n)) => break Some(n),
                            Ok(None) if !self.eof => want *= 2,
                            _ => break None,
                        }
                    };
                    match len {
                        Some(n) => {
                            let h = self.take(n);
                            self.done.members.push(DecodedMember { header: h, ..Default::default() });
                            let cfg = PreflateConfig {
                                max_chain_length: 4096,
                                plain_text_limit: SEGMENT_PLAIN,
                                verify_compression: false,
                            };
                            let pair = (PreflateStreamProcessor::new(&cfg), RecreateStreamProcessor::new());
                            self.state = State::Member(Box::new(pair), crc32fast::Hasher::new(), 0);
                        }
                        None if self.done.members.is_empty() => {
                            return Err(refuse("no gzip header at the start"));
                        }
                        // Anything after the last member is kept verbatim.
                        None => self.state = State::Tail,
                    }
                }
                State::Member(mut pp, mut crc, mut len) => {
                    let mut window = WINDOW;
                    let r = loop {
                        self.fill_to(window)?;
                        let end = self.buf.len().min(self.pos + window);
                        let input = &self.buf[self.pos..end];
                        let res = catch_unwind(AssertUnwindSafe(|| pp.0.decompress(input)))
                            .map_err(|_| refuse("preflate panicked while analysing"))?;
                        match res {
                            Ok(r) => break r,
                            Err(e) if e.exit_code() == ExitCode::ShortRead && !(self.eof && end == self.buf.len()) => {
                                window *= 2;
                            }
                            Err(e) => {
                                let first = e.message().lines().next().unwrap_or("").to_string();
                                return Err(refuse(format!("preflate: {:?} {first}", e.exit_code())));
                            }
                        }
                    };
                    let plain = pp.0.plain_text().text().to_vec();
                    // Recreate now, from exactly what will be stored, and compare.
                    let orig = &self.buf[self.pos..self.pos + r.compressed_size];
                    let rec =
                        catch_unwind(AssertUnwindSafe(|| pp.1.recompress(&mut Cursor::new(&plain), &r.corrections)))
                            .map_err(|_| refuse("preflate panicked while recreating"))?;
                    match rec {
                        Ok((bytes, _)) if bytes == orig => {}
                        Ok(_) => return Err(refuse("recreated deflate bytes differ from the original")),
                        Err(e) => return Err(refuse(format!("recreating: {:?}", e.exit_code()))),
                    }
                    self.pos += r.compressed_size;
                    self.consumed += r.compressed_size as u64;
                    self.done.deflate += r.compressed_size as u64;
                    crc.update(&plain);
                    len += plain.len() as u64;
                    self.done.corrections += r.corrections.len() as u64;
                    if self.done.corrections as f64 > MAX_CORRECTIONS_SHARE * self.consumed.max(1 << 20) as f64 {
                        return Err(refuse(format!(
                            "corrections ({} bytes) cost more than decoding saves",
                            self.done.corrections
                        )));
                    }
                    let m = self.done.members.last_mut().expect("in a member");
                    m.segments.push((plain.len() as u64, r.corrections));
                    self.done.plain += plain.len() as u64;
                    pp.0.shrink_to_dictionary();
                    self.state = if pp.0.is_done() { State::Trailer(crc, len) } else { State::Member(pp, crc, len) };
                    self.out = plain;
                    self.out_pos = 0;
                    return Ok(true);
                }
                State::Trailer(crc, len) => {
                    self.fill_to(8)?;
                    if self.avail().len() < 8 {
                        return Err(refuse("gzip member ends without its trailer"));
                    }
                    let t = &self.avail()[..8];
                    if t[..4] != crc.finalize().to_le_bytes() || t[4..] != (len as u32).to_le_bytes() {
                        return Err(refuse("gzip trailer does not match the data (CRC-32 or length)"));
                    }
                    let t = self.take(8);
                    self.done.members.last_mut().expect("in a member").trailer = t;
                    self.state = State::Header;
                }
                State::Tail => {
                    self.fill_to(WINDOW)?;
                    if self.avail().is_empty() {
                        return Ok(false);
                    }
                    let n = self.avail().len();
                    self.out = self.take(n);
                    self.out_pos = 0;
                    self.done.tail += n as u64;
                    return Ok(true);
                }
            }
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos == self.out.len() {
            if !self.step()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.out.len() - self.out_pos);
        out[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        self.emitted += n as u64;
        Ok(n)
    }
}
