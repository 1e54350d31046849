//! Gzip stream → decoded text + recipe, verified segment by segment.

use std::io::Read;

use super::analyse::{Analysed, Stream, WINDOW};
use super::container::header_len;
use super::input::{Input, Output};
use super::Framed;

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

impl NotReproducible {
    /// The read failed because the object cannot be stored transparently (the caller reads
    /// it again, raw), not because the source failed.
    pub fn is_cause_of(e: &std::io::Error) -> bool {
        e.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<NotReproducible>)
    }
}

/// One member as found: header and trailer bytes, and per segment its decoded length and
/// preflate's corrections.
#[derive(Default, Debug)]
pub struct DecodedMember {
    pub header: Vec<u8>,
    pub framed: Option<Framed>,
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
    Member(Stream, crc32fast::Hasher, u64),
    Trailer(crc32fast::Hasher, u64),
    Tail,
}

/// Reads a gzip stream and yields its decoded text followed by any trailing bytes.
/// Fails with an [`std::io::Error`] wrapping [`NotReproducible`] as soon as the stream
/// turns out not to be recreatable bit-exactly.
pub struct Decoder<R> {
    input: Input<R>,
    state: State,
    out: Output,
    done: Decoded,
}

/// Corrections above this share of the compressed size: storing raw is cheaper.
const MAX_CORRECTIONS_SHARE: f64 = 0.1;

pub(super) fn refuse(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(NotReproducible(msg.into()))
}

impl Decoded {
    /// Count a verified segment into the last member and return its text; refuses the
    /// object once corrections cost more than decoding saves (`consumed`: source bytes read).
    pub(super) fn add_segment(&mut self, a: Analysed, consumed: u64) -> std::io::Result<Vec<u8>> {
        self.deflate += a.compressed as u64;
        self.corrections += a.corrections.len() as u64;
        if self.corrections as f64 > MAX_CORRECTIONS_SHARE * consumed.max(1 << 20) as f64 {
            return Err(refuse(format!("corrections ({} bytes) cost more than decoding saves", self.corrections)));
        }
        self.plain += a.plain.len() as u64;
        let m = self.members.last_mut().expect("in a member");
        m.segments.push((a.plain.len() as u64, a.corrections));
        Ok(a.plain)
    }
}

impl<R: Read> Decoder<R> {
    pub fn new(src: R) -> Self {
        Decoder { input: Input::new(src), state: State::Header, out: Output::default(), done: Decoded::default() }
    }

    /// Produce the next piece of output into `self.out`; false at the end.
    fn step(&mut self) -> std::io::Result<bool> {
        loop {
            match std::mem::replace(&mut self.state, State::Tail) {
                State::Header => {
                    let mut want = 64;
                    let len = loop {
                        self.input.fill_to(want)?;
                        match header_len(self.input.avail()) {
                            Ok(Some(n)) => break Some(n),
                            Ok(None) if !self.input.eof => want *= 2,
                            _ => break None,
                        }
                    };
                    match len {
                        Some(n) => {
                            let h = self.input.take(n);
                            self.done.members.push(DecodedMember { header: h, ..Default::default() });
                            self.state = State::Member(Stream::new(), crc32fast::Hasher::new(), 0);
                        }
                        None if self.done.members.is_empty() => {
                            return Err(refuse("no gzip header at the start"));
                        }
                        // Anything after the last member is kept verbatim.
                        None => self.state = State::Tail,
                    }
                }
                State::Member(mut stream, mut crc, mut len) => {
                    let mut window = WINDOW;
                    let a = loop {
                        self.input.fill_to(window)?;
                        let avail = self.input.avail();
                        let end = avail.len().min(window);
                        let all = self.input.eof && end == avail.len();
                        match stream.next(&avail[..end], all)? {
                            Some(a) => break a,
                            None => window *= 2,
                        }
                    };
                    self.input.skip(a.compressed);
                    crc.update(&a.plain);
                    len += a.plain.len() as u64;
                    let plain = self.done.add_segment(a, self.input.consumed)?;
                    self.state =
                        if stream.is_done() { State::Trailer(crc, len) } else { State::Member(stream, crc, len) };
                    self.out.set(plain);
                    return Ok(true);
                }
                State::Trailer(crc, len) => {
                    self.input.fill_to(8)?;
                    if self.input.avail().len() < 8 {
                        return Err(refuse("gzip member ends without its trailer"));
                    }
                    let t = &self.input.avail()[..8];
                    if t[..4] != crc.finalize().to_le_bytes() || t[4..] != (len as u32).to_le_bytes() {
                        return Err(refuse("gzip trailer does not match the data (CRC-32 or length)"));
                    }
                    let t = self.input.take(8);
                    self.done.members.last_mut().expect("in a member").trailer = t;
                    self.state = State::Header;
                }
                State::Tail => {
                    self.input.fill_to(WINDOW)?;
                    if self.input.avail().is_empty() {
                        return Ok(false);
                    }
                    let n = self.input.avail().len();
                    self.out.set(self.input.take(n));
                    self.done.tail += n as u64;
                    return Ok(true);
                }
            }
        }
    }
}

impl<R: Read> super::Decode for Decoder<R> {
    fn emitted(&self) -> u64 {
        self.out.emitted
    }
    fn finish(self: Box<Self>) -> Decoded {
        self.done
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.out.drained() {
            if !self.step()? {
                return Ok(0);
            }
        }
        Ok(self.out.copy_to(out))
    }
}
