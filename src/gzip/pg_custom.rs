//! PostgreSQL custom-format archives (`pg_dump -Fc`) → decoded table data + recipe.
//!
//! pg_dump compresses each table's data (and each large object) as one zlib stream and
//! writes it in length-prefixed frames; everything else (header, table of contents, block
//! headers) is plain. Like gzip, zlib scrambles every byte after a changed row, so two
//! daily `-Fc` dumps would share no chunk. The decoder keeps the plain parts verbatim in
//! the recipe, decodes every stream and recreates it bit-exactly with preflate, exactly as
//! for gzip members (format-spec §12.1).
//!
//! It does not parse the table of contents (its layout changes with every archive
//! version): it finds each stream by its framing (`int(len)` then a zlib header). A false
//! match costs nothing but speed: every stream is recreated and compared before the
//! object is accepted, and an object that does not come back exact is stored raw.

use std::io::Read;

use super::analyse::{Stream, WINDOW};
use super::decode::refuse;
use super::input::{Input, Output};
#[cfg(test)]
use super::NotReproducible;
use super::{Decoded, DecodedMember, Framed};

/// An archive's magic, format version 1.x, and format `archCustom` (1): the first 11
/// bytes of a `pg_dump -Fc` file.
pub fn is_pg_custom(prefix: &[u8]) -> bool {
    prefix.len() >= 11 && &prefix[..5] == b"PGDMP" && prefix[5] == 1 && (1..=8).contains(&prefix[8]) && prefix[10] == 1
}

/// Largest frame accepted (pg_dump writes at most 4 KiB).
const MAX_FRAME: u64 = 16 << 20;
/// Plain bytes between two streams above this (a table of contents of 64 MiB): not a
/// compressed archive worth decoding.
const MAX_VERBATIM: usize = 64 << 20;

enum State {
    Scan,
    Stream(Box<Open>),
    Done,
}

/// The stream being decoded: its frames are read into `payload` as preflate asks.
struct Open {
    stream: Stream,
    adler: adler2::Adler32,
    payload: Vec<u8>,
    framed: Framed,
    /// The terminating zero-length frame has been seen (and left for the next header).
    frames_done: bool,
}

/// Reads a custom-format archive and yields the decoded data of every stream, then the
/// plain bytes after the last one. Fails with an [`std::io::Error`] wrapping
/// [`super::NotReproducible`] when the archive cannot be recreated bit-exactly.
pub struct PgCustomDecoder<R> {
    input: Input<R>,
    int_size: usize,
    pending: Vec<u8>,
    state: State,
    out: Output,
    done: Decoded,
}

impl<R: Read> PgCustomDecoder<R> {
    pub fn new(src: R) -> Self {
        PgCustomDecoder {
            input: Input::new(src),
            int_size: 0,
            pending: vec![],
            state: State::Scan,
            out: Output::default(),
            done: Decoded::default(),
        }
    }

    fn step(&mut self) -> std::io::Result<bool> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Scan => {
                    if self.int_size == 0 {
                        self.input.fill_to(11)?;
                        if !is_pg_custom(self.input.avail()) {
                            return Err(refuse("not a PostgreSQL custom-format archive"));
                        }
                        self.int_size = self.input.avail()[8] as usize;
                    }
                    self.input.fill_to(64 << 10)?;
                    if let Some(i) = find_stream(self.input.avail(), self.int_size) {
                        self.pending.extend(self.input.take(i));
                        let header = std::mem::take(&mut self.pending);
                        self.done.members.push(DecodedMember { header, ..Default::default() });
                        let framed =
                            Framed { int_size: self.int_size as u8, head: vec![], tail: vec![], frames: vec![] };
                        let open = Open {
                            stream: Stream::new(),
                            adler: adler2::Adler32::new(),
                            payload: vec![],
                            framed,
                            frames_done: false,
                        };
                        self.state = State::Stream(Box::new(open));
                        continue;
                    }
                    if self.input.eof {
                        if self.done.members.is_empty() {
                            return Err(refuse("no zlib-compressed data in the archive"));
                        }
                        // The plain bytes after the last stream end the content.
                        let n = self.input.avail().len();
                        self.pending.extend(self.input.take(n));
                        let tail = std::mem::take(&mut self.pending);
                        self.done.tail += tail.len() as u64;
                        let more = !tail.is_empty();
                        self.out.set(tail);
                        return Ok(more);
                    }
                    let keep = self.int_size + 3;
                    let n = self.input.avail().len().saturating_sub(keep);
                    self.pending.extend(self.input.take(n));
                    if self.pending.len() > MAX_VERBATIM {
                        return Err(refuse("more than 64 MiB of uncompressed archive between data streams"));
                    }
                    self.state = State::Scan;
                }
                State::Stream(mut open) => {
                    if open.framed.head.is_empty() {
                        self.pull(&mut open, 2)?;
                        if open.payload.len() < 2 {
                            return Err(refuse("a data block ends inside its zlib header"));
                        }
                        open.framed.head = open.payload.drain(..2).collect();
                    }
                    let mut window = WINDOW;
                    let a = loop {
                        self.pull(&mut open, window)?;
                        let end = open.payload.len().min(window);
                        let all = open.frames_done && end == open.payload.len();
                        match open.stream.next(&open.payload[..end], all)? {
                            Some(a) => break a,
                            None => window *= 2,
                        }
                    };
                    open.payload.drain(..a.compressed);
                    open.adler.write_slice(&a.plain);
                    let plain = self.done.add_segment(a, self.input.consumed)?;
                    if open.stream.is_done() {
                        self.pull(&mut open, 5)?;
                        if open.payload.len() != 4 || !open.frames_done {
                            return Err(refuse("a zlib stream does not end where its frames do"));
                        }
                        if open.payload[..] != open.adler.checksum().to_be_bytes() {
                            return Err(refuse("a zlib stream's Adler-32 does not match its data"));
                        }
                        open.framed.tail = std::mem::take(&mut open.payload);
                        self.done.members.last_mut().expect("in a member").framed = Some(open.framed);
                        self.state = State::Scan;
                    } else {
                        self.state = State::Stream(open);
                    }
                    self.out.set(plain);
                    return Ok(true);
                }
                State::Done => return Ok(false),
            }
        }
    }

    /// Read frames into the payload until it holds `want` bytes or the stream's frames end.
    fn pull(&mut self, open: &mut Open, want: usize) -> std::io::Result<()> {
        let k = self.int_size;
        while open.payload.len() < want && !open.frames_done {
            self.input.fill_to(1 + k)?;
            let Some(len) = frame_len(self.input.avail(), k) else {
                return Err(refuse("the archive ends or breaks inside a data block"));
            };
            if len == 0 {
                open.frames_done = true;
                break;
            }
            self.input.fill_to(1 + k + len as usize)?;
            if self.input.avail().len() < 1 + k + len as usize {
                return Err(refuse("the archive ends inside a data block"));
            }
            self.input.skip(1 + k);
            open.payload.extend_from_slice(&self.input.avail()[..len as usize]);
            self.input.skip(len as usize);
            open.framed.push_frame(len);
        }
        Ok(())
    }
}

/// A frame length at the start of `buf`: a zero sign byte and `k` magnitude bytes.
fn frame_len(buf: &[u8], k: usize) -> Option<u32> {
    let b = buf.get(..1 + k)?;
    if b[0] != 0 {
        return None;
    }
    let v = b[1..].iter().rev().fold(0u64, |v, &x| v.saturating_mul(256).saturating_add(u64::from(x)));
    (v <= MAX_FRAME).then_some(v as u32)
}

/// Where the first frame of a zlib stream starts in `buf`: a non-zero frame length
/// followed by a zlib header (deflate, 32 KiB window, no preset dictionary).
fn find_stream(buf: &[u8], k: usize) -> Option<usize> {
    let need = 1 + k + 2;
    (0..buf.len().checked_sub(need - 1)?).find(|&i| {
        let (cmf, flg) = (buf[i + 1 + k], buf[i + 2 + k]);
        buf[i] == 0
            && cmf == 0x78
            && flg & 0x20 == 0
            && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
            && frame_len(&buf[i..], k).is_some_and(|n| n >= 2)
    })
}

impl<R: Read> super::Decode for PgCustomDecoder<R> {
    fn emitted(&self) -> u64 {
        self.out.emitted
    }
    fn finish(self: Box<Self>) -> Decoded {
        self.done
    }
}

impl<R: Read> Read for PgCustomDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.out.drained() {
            if !self.step()? {
                return Ok(0);
            }
        }
        Ok(self.out.copy_to(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip::{Member, Rebuilder, Recipe, Segment};
    use crate::id::Id;
    use std::io::Write;

    /// An archive laid out as pg_dump writes one: header and table of contents, then per
    /// table `01 ‖ int(dumpId)` and its zlib stream in 4 KiB frames, ended by `int(0)`.
    fn archive(toc: &[u8], tables: &[Vec<u8>]) -> Vec<u8> {
        let int = |v: u32| {
            let mut b = vec![0u8];
            b.extend(v.to_le_bytes());
            b
        };
        let mut a = b"PGDMP\x01\x0e\x00\x04\x08\x01".to_vec();
        a.extend(toc);
        for (i, t) in tables.iter().enumerate() {
            a.push(1);
            a.extend(int(i as u32 + 100));
            let mut z = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::new(6));
            z.write_all(t).unwrap();
            for frame in z.finish().unwrap().chunks(4096) {
                a.extend(int(frame.len() as u32));
                a.extend(frame);
            }
            a.extend(int(0));
        }
        a
    }

    fn table(rows: usize, seed: u64) -> Vec<u8> {
        let mut t = Vec::new();
        for i in 0..rows as u64 {
            writeln!(t, "{i}\t{:x}\tresolved\t{{\"pod\": \"api-{}\"}}", i.wrapping_mul(seed) >> 7, i % 17).unwrap();
        }
        t.extend(b"\\.\n\n");
        t
    }

    /// Decode, keep the corrections in memory, rebuild; the decoded content too.
    fn round_trip(a: &[u8]) -> std::io::Result<(Vec<u8>, Recipe, Vec<u8>)> {
        let mut dec = Box::new(PgCustomDecoder::new(a));
        let mut content = vec![];
        dec.read_to_end(&mut content)?;
        let d = crate::gzip::Decode::finish(dec);
        let mut blobs = std::collections::HashMap::new();
        let mut recipe = Recipe { content_len: content.len() as u64, members: vec![] };
        for m in d.members {
            let segments = (m.segments.into_iter())
                .map(|(plain, c)| {
                    let id = Id(*blake3::hash(&c).as_bytes());
                    blobs.insert(id, c);
                    Segment { plain, corrections: id }
                })
                .collect();
            recipe.members.push(Member { header: m.header, framed: m.framed, segments, trailer: m.trailer });
        }
        let mut out = vec![];
        Rebuilder::new(&content[..], &recipe, Box::new(move |id| Ok(blobs[id].clone()))).read_to_end(&mut out)?;
        Ok((content, recipe, out))
    }

    #[test]
    fn archives_come_back_bit_exact_and_their_tables_decoded() {
        let (t1, t2) = (table(3000, 77), table(20, 5));
        let a = archive(b"\x00\x03\x00\x00\x00dop\x00toc text", &[t1.clone(), t2.clone()]);
        let (content, recipe, out) = round_trip(&a).unwrap();
        assert!(out == a, "recreated archive differs");
        assert!(recipe.framed() && recipe.members.len() == 2);
        assert!(content.starts_with(&t1) && content[t1.len()..].starts_with(&t2));
        assert_eq!(&content[t1.len() + t2.len()..], b"\0\0\0\0\0", "the last terminator is the tail");
        assert_eq!(recipe.members[0].framed.as_ref().unwrap().frames.len(), 2, "{:?}", recipe.members[0].framed);
    }

    #[test]
    fn broken_archives_are_refused_never_recreated_wrongly() {
        let a = archive(b"toc", &[table(2000, 3)]);
        let refused = |bytes: &[u8]| {
            let e = round_trip(bytes).unwrap_err();
            assert!(NotReproducible::is_cause_of(&e), "{e}");
        };
        refused(&a[..a.len() - 3000]); // truncated inside the stream
        let mut bad_adler = a.clone();
        let n = bad_adler.len();
        bad_adler[n - 6] ^= 1; // last byte of the Adler-32
        refused(&bad_adler);
        refused(b"PGDMP\x01\x0e\x00\x04\x08\x01 nothing compressed here");
        // A table of contents that happens to hold what looks like a frame + zlib header.
        let fake = archive(b"\x00\x10\x00\x00\x00\x78\x9cnot zlib at all", &[table(10, 1)]);
        refused(&fake);
        assert!(!is_pg_custom(b"PGDMP\x01\x0e\x00\x04\x08\x03")); // the tar format
    }
}
