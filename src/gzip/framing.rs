//! Length-prefixed frames around a zlib stream, as PostgreSQL's custom archive format
//! writes each table's data: `int(len) ‖ len bytes`, repeated (format-spec §12.1).

use serde::{Deserialize, Serialize};

/// Where a zlib stream's bytes sit in the object: `head` (the 2-byte zlib header), the
/// deflate bytes and `tail` (the Adler-32), concatenated and cut into `frames`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Framed {
    /// Bytes of a frame length's magnitude (the archive's `intSize`); each length is
    /// written as a zero sign byte and then this many bytes, least significant first.
    pub int_size: u8,
    #[serde(with = "super::b64")]
    pub head: Vec<u8>,
    #[serde(with = "super::b64")]
    pub tail: Vec<u8>,
    /// Frame lengths, run-length coded: `[length, count]` (pg_dump writes 4 KiB frames and
    /// one shorter last one, so this stays two pairs long).
    pub frames: Vec<[u32; 2]>,
}

impl Framed {
    /// Bytes the framing adds to the stream: one length per frame.
    pub fn overhead(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f[1])).sum::<u64>() * (1 + u64::from(self.int_size))
    }

    /// Record one more frame of `len` bytes.
    pub fn push_frame(&mut self, len: u32) {
        match self.frames.last_mut() {
            Some(f) if f[0] == len => f[1] += 1,
            _ => self.frames.push([len, 1]),
        }
    }

    /// The encoding of a frame length.
    pub fn length_bytes(&self, len: u32) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend((0..self.int_size).map(|i| u64::from(len).checked_shr(8 * u32::from(i)).unwrap_or(0) as u8));
        v
    }
}

/// Re-inserts the frame lengths while a stream's bytes are recreated.
pub struct Framer<'a> {
    framed: &'a Framed,
    run: usize,
    used: u32,
    left: u32,
}

impl<'a> Framer<'a> {
    pub fn new(framed: &'a Framed) -> Self {
        Framer { framed, run: 0, used: 0, left: 0 }
    }

    /// Append `bytes` of the stream to `out`, each frame preceded by its length.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        while !bytes.is_empty() {
            if self.left == 0 {
                let len = self
                    .next_frame()
                    .ok_or_else(|| std::io::Error::other("a framed zlib stream is longer than its recorded frames"))?;
                out.extend(self.framed.length_bytes(len));
                self.left = len;
            }
            let n = bytes.len().min(self.left as usize);
            out.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.left -= n as u32;
        }
        Ok(())
    }

    fn next_frame(&mut self) -> Option<u32> {
        let f = loop {
            let f = self.framed.frames.get(self.run)?;
            if self.used < f[1] && f[0] > 0 {
                break f;
            }
            self.run += 1;
            self.used = 0;
        };
        self.used += 1;
        Some(f[0])
    }

    /// Every frame filled exactly.
    pub fn finish(mut self) -> std::io::Result<()> {
        if self.left != 0 || self.next_frame().is_some() {
            return Err(std::io::Error::other("a framed zlib stream is shorter than its recorded frames"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_mismatches_are_errors() {
        let mut f = Framed { int_size: 4, head: vec![], tail: vec![], frames: vec![] };
        for len in [3, 3, 2] {
            f.push_frame(len);
        }
        assert_eq!(f.frames, vec![[3, 2], [2, 1]]);
        assert_eq!(f.overhead(), 15);
        let mut out = vec![];
        let mut fr = Framer::new(&f);
        fr.push(b"abcd", &mut out).unwrap();
        fr.push(b"efgh", &mut out).unwrap();
        fr.finish().unwrap();
        assert_eq!(out, b"\0\x03\0\0\0abc\0\x03\0\0\0def\0\x02\0\0\0gh");
        let mut fr = Framer::new(&f);
        assert!(fr.push(b"abcdefghi", &mut vec![]).is_err());
        let mut fr = Framer::new(&f);
        fr.push(b"abcdefg", &mut vec![]).unwrap();
        assert!(fr.finish().is_err());
    }
}
