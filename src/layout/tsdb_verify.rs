//! Verifying a TSDB block's files as Prometheus would read them, without Prometheus:
//! the chunk segment files' records and CRC32Cs, the index file's table of contents and
//! every section's CRC32C (Prometheus `tsdb/docs/format/index.md`, `chunks.md`), and
//! `meta.json`'s agreement with the files. Everything works on streams, so a block is
//! verified inside the archive in bounded memory, without restoring it.

use std::io::Read;

use super::tsdb::Meta;
use crate::chunk::tsdb_records::{MAX_RECORD, SEGMENT_MAGIC};

/// Index file magic number (big-endian).
pub const INDEX_MAGIC: [u8; 4] = [0xBA, 0xAA, 0xD7, 0x00];
/// Length of the index's table of contents: 6 refs and a CRC.
pub const TOC_LEN: u64 = 6 * 8 + 4;

/// A reader that knows where it is.
struct Stream<'r> {
    r: &'r mut dyn Read,
    pos: u64,
}

impl Stream<'_> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b).map_err(|e| format!("at byte {}: {e}", self.pos))?;
        self.pos += n as u64;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.exact(4)?.try_into().expect("4 bytes")))
    }

    /// A uvarint, or `None` at a clean end of the stream.
    fn uvarint(&mut self) -> Result<Option<u64>, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let mut b = [0u8; 1];
            match self.r.read(&mut b) {
                Ok(0) if i == 0 => return Ok(None),
                Ok(0) => return Err(format!("at byte {}: cut off inside a length", self.pos)),
                Ok(_) => {}
                Err(e) => return Err(format!("at byte {}: {e}", self.pos)),
            }
            self.pos += 1;
            v |= u64::from(b[0] & 0x7f) << (7 * i);
            if b[0] & 0x80 == 0 {
                return Ok(Some(v));
            }
        }
        Err(format!("at byte {}: a length of more than 10 bytes", self.pos))
    }

    /// Skip to `off`, which must be ahead; the bytes passed over must be zero (padding).
    fn pad_to(&mut self, off: u64) -> Result<(), String> {
        if off < self.pos {
            return Err(format!("section at {off} overlaps the previous one (ending at {})", self.pos));
        }
        let gap = self.exact((off - self.pos) as usize)?;
        if gap.iter().any(|&b| b != 0) {
            return Err(format!("non-zero bytes between sections before {off}"));
        }
        Ok(())
    }

    /// A `len(4) data crc32c(4)` section; returns its data.
    fn section(&mut self, what: &str) -> Result<Vec<u8>, String> {
        let at = self.pos;
        let len = self.u32()? as usize;
        let data = self.exact(len).map_err(|e| format!("{what} at {at}: {e}"))?;
        let crc = self.u32()?;
        if crc32c::crc32c(&data) != crc {
            return Err(format!("{what} at {at}: CRC mismatch"));
        }
        Ok(data)
    }
}

/// Verify a chunk segment file: header, then records to the end, each with its CRC32C.
/// Returns the number of chunks.
pub fn verify_segment(r: &mut dyn Read) -> Result<u64, String> {
    let mut s = Stream { r, pos: 0 };
    let h = s.exact(8).map_err(|e| format!("header: {e}"))?;
    if h[..4] != SEGMENT_MAGIC {
        return Err("not a chunk segment file (bad magic)".into());
    }
    if h[4] != 1 {
        return Err(format!("unknown segment version {}", h[4]));
    }
    let mut n = 0;
    loop {
        let at = s.pos;
        let Some(len) = s.uvarint()? else { return Ok(n) };
        if len as usize > MAX_RECORD {
            return Err(format!("chunk at {at}: impossible length {len}"));
        }
        let mut data = s.exact(len as usize + 1).map_err(|e| format!("chunk at {at}: {e}"))?;
        let crc = s.u32().map_err(|e| format!("chunk at {at}: {e}"))?;
        if crc32c::crc32c(&data) != crc {
            return Err(format!("chunk at {at}: CRC mismatch"));
        }
        data.clear();
        n += 1;
    }
}

/// The index's table of contents, from its last [`TOC_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Toc {
    pub symbols: u64,
    pub series: u64,
    pub label_indices: u64,
    pub label_offset_table: u64,
    pub postings: u64,
    pub postings_offset_table: u64,
}

pub fn parse_toc(b: &[u8]) -> Result<Toc, String> {
    if b.len() != TOC_LEN as usize {
        return Err("table of contents cut off".into());
    }
    let crc = u32::from_be_bytes(b[48..52].try_into().expect("4 bytes"));
    if crc32c::crc32c(&b[..48]) != crc {
        return Err("table of contents: CRC mismatch".into());
    }
    let r = |i: usize| u64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(Toc {
        symbols: r(0),
        series: r(1),
        label_indices: r(2),
        label_offset_table: r(3),
        postings: r(4),
        postings_offset_table: r(5),
    })
}

/// Verify an index file of `size` bytes, streamed from its start, against its table of
/// contents (read separately from its end): magic, version, and the CRC32C of the symbol
/// table, every series entry, label index, postings list and both offset tables.
pub fn verify_index(size: u64, toc: &Toc, r: &mut dyn Read) -> Result<(), String> {
    let mut s = Stream { r, pos: 0 };
    let h = s.exact(5).map_err(|e| format!("header: {e}"))?;
    if h[..4] != INDEX_MAGIC {
        return Err("not a TSDB index (bad magic)".into());
    }
    if h[4] != 1 && h[4] != 2 {
        return Err(format!("unknown index version {}", h[4]));
    }
    let toc_at = size.checked_sub(TOC_LEN).ok_or("shorter than its table of contents")?;
    // Section starts in file order, each bounded by the next present one.
    let order =
        [toc.symbols, toc.series, toc.label_indices, toc.postings, toc.label_offset_table, toc.postings_offset_table];
    if order.iter().any(|&o| o > toc_at || (o != 0 && o < 5)) {
        return Err("table of contents points outside the file".into());
    }
    let next = |i: usize| order[i + 1..].iter().copied().find(|&o| o != 0).unwrap_or(toc_at);
    if toc.symbols != 0 {
        s.pad_to(toc.symbols)?;
        s.section("symbol table")?;
    }
    if toc.series != 0 && h[4] == 2 {
        s.pad_to(toc.series)?;
        series(&mut s, next(1))?;
    }
    for (i, (start, what)) in
        [(toc.label_indices, "label index"), (toc.postings, "postings list")].into_iter().enumerate()
    {
        if start != 0 && h[4] == 2 {
            s.pad_to(start)?;
            sections(&mut s, next(2 + i), what)?;
        }
    }
    for (start, what) in
        [(toc.label_offset_table, "label offset table"), (toc.postings_offset_table, "postings offset table")]
    {
        if start != 0 && h[4] == 2 {
            s.pad_to(start)?;
            s.section(what)?;
        }
    }
    if h[4] == 2 {
        s.pad_to(toc_at)?;
    }
    Ok(())
}

/// Series entries, each 16-byte aligned: `uvarint len | data | crc32c`, up to `end`.
fn series(s: &mut Stream, end: u64) -> Result<(), String> {
    while s.pos < end {
        let aligned = s.pos.div_ceil(16) * 16;
        if aligned >= end {
            return s.pad_to(end);
        }
        s.pad_to(aligned)?;
        let at = s.pos;
        let len = s.uvarint()?.ok_or("series cut off")?;
        if len == 0 {
            // Zero padding up to the next section.
            return s.pad_to(end);
        }
        if at + len > end {
            return Err(format!("series at {at}: length {len} runs past its section"));
        }
        let data = s.exact(len as usize)?;
        let crc = s.u32()?;
        if crc32c::crc32c(&data) != crc {
            return Err(format!("series at {at}: CRC mismatch"));
        }
    }
    Ok(())
}

/// `len(4) data crc(4)` sections, each 4-byte aligned, up to `end`.
fn sections(s: &mut Stream, end: u64, what: &str) -> Result<(), String> {
    while s.pos < end {
        let aligned = s.pos.div_ceil(4) * 4;
        if aligned >= end {
            return s.pad_to(end);
        }
        s.pad_to(aligned)?;
        let mut peek = s.exact(4)?;
        let len = u32::from_be_bytes(peek[..].try_into().expect("4 bytes"));
        if len == 0 {
            continue; // padding
        }
        let at = s.pos - 4;
        if at + 8 + u64::from(len) > end {
            return Err(format!("{what} at {at}: length {len} runs past its section"));
        }
        peek = s.exact(len as usize)?;
        let crc = s.u32()?;
        if crc32c::crc32c(&peek) != crc {
            return Err(format!("{what} at {at}: CRC mismatch"));
        }
    }
    Ok(())
}

/// What `meta.json` says that can be checked against the block: ULID, time range,
/// version, and the size of every file it lists (`files`: path → size in the block).
pub fn verify_meta(ulid: &str, meta: &[u8], files: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    let mut out = vec![];
    let m: Meta = match serde_json::from_slice(meta) {
        Ok(m) => m,
        Err(e) => return vec![format!("meta.json is not valid: {e}")],
    };
    if m.ulid != ulid {
        out.push(format!("meta.json names block {}", m.ulid));
    }
    if m.min_time >= m.max_time {
        out.push(format!("meta.json: minTime {} is not before maxTime {}", m.min_time, m.max_time));
    }
    if m.version != Some(1) {
        out.push(format!("meta.json: unknown version {:?}", m.version));
    }
    for f in m.thanos.iter().flat_map(|t| &t.files) {
        match (files.get(&f.rel_path), f.size_bytes) {
            (None, _) => out.push(format!("{} is listed in meta.json but missing", f.rel_path)),
            (Some(&have), Some(want)) if have != want => {
                out.push(format!("{} is {have} bytes, meta.json says {want}", f.rel_path));
            }
            _ => {}
        }
    }
    if !files.contains_key("index") {
        out.push("no index".into());
    }
    if !files.keys().any(|k| k.starts_with("chunks/")) {
        out.push("no chunks/".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(enc: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![data.len() as u8, enc];
        v.extend_from_slice(data);
        let mut c = vec![enc];
        c.extend_from_slice(data);
        v.extend_from_slice(&crc32c::crc32c(&c).to_be_bytes());
        v
    }

    #[test]
    fn segments_verify_and_a_flipped_bit_is_named() {
        let mut f = vec![0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0];
        f.extend(record(1, b"abcdef"));
        f.extend(record(1, b"ghij"));
        assert_eq!(verify_segment(&mut &f[..]), Ok(2));
        let mut bad = f.clone();
        bad[12] ^= 1;
        assert!(verify_segment(&mut &bad[..]).unwrap_err().contains("chunk at 8: CRC mismatch"));
        assert!(verify_segment(&mut &f[..f.len() - 2]).is_err(), "a cut-off record is damage");
    }

    #[test]
    fn toc_crc_is_checked() {
        let mut t = vec![0u8; 48];
        t[7] = 5;
        t.extend_from_slice(&crc32c::crc32c(&t).to_be_bytes());
        assert_eq!(parse_toc(&t).unwrap().symbols, 5);
        t[0] ^= 1;
        assert!(parse_toc(&t).is_err());
    }
}
