//! Record-aware cutting of Prometheus TSDB chunk segment files (`chunks/NNNNNN`).
//!
//! Replicas and compacted blocks hold byte-identical chunk records between different
//! neighbours, so content-defined chunking cannot share them. This cutter cuts only at
//! record boundaries and groups the records of one series within one 2-hour range (the
//! TSDB's block range), so a group is the same bytes in every block that holds that
//! series' data for that range: the ingester replicas, the compactor's merged 2h block and
//! every larger block made from it. Measurements and alternatives: format-spec/chunking.md.
//!
//! Segment file: `magic u32be 0x85BD40DD | version u8 (1) | 3 bytes padding`, then records
//! `uvarint len | u8 encoding | data[len] | crc32c(encoding ‖ data) u32be`.

/// Segment file magic number (big-endian on disk).
pub const SEGMENT_MAGIC: [u8; 4] = [0x85, 0xBD, 0x40, 0xDD];
pub const SEGMENT_HEADER_LEN: usize = 8;
/// A record larger than this is not a TSDB chunk; the file is cut generically from there.
pub const MAX_RECORD: usize = 1 << 20;
/// The TSDB block range groups are aligned to (milliseconds).
pub const GROUP_RANGE_MS: i64 = 2 * 3600 * 1000;
/// XOR-encoded float chunk, the only encoding whose first timestamp the rule reads.
const ENCODING_XOR: u8 = 1;

/// True when `prefix` starts a version-1 chunk segment file.
pub fn is_segment(prefix: &[u8]) -> bool {
    prefix.len() >= SEGMENT_HEADER_LEN && prefix[..4] == SEGMENT_MAGIC && prefix[4] == 1
}

/// How far [`RecordCutter::cut`] got.
#[derive(Debug, PartialEq, Eq)]
pub struct RecordCut {
    /// Bytes covered by the lengths pushed.
    pub used: usize,
    /// The bytes at `used` are not a valid record (bad CRC, impossible length, truncated
    /// at end of file): the caller cuts the rest of the object generically.
    pub invalid: bool,
}

pub struct RecordCutter {
    max_group: usize,
}

struct Record {
    len: usize,
    /// First sample's timestamp of an XOR chunk.
    first_ts: Option<i64>,
}

enum Parse {
    Record(Record),
    NeedMore,
    Invalid,
}

impl RecordCutter {
    /// `max_group` bounds a group's bytes (a record larger than it is a group of its own).
    pub fn new(max_group: usize) -> RecordCutter {
        RecordCutter { max_group }
    }

    /// The largest piece this cutter can leave uncut at the end of a window.
    pub fn max_size(&self) -> usize {
        self.max_group.max(MAX_RECORD) + 16
    }

    /// Push group lengths covering a prefix of `data`, which starts at a record boundary, or
    /// at the file's start when `at_start`. Without `eof` the last group is left for the
    /// next call (it may continue), so windowed cutting equals cutting the whole file.
    pub fn cut(&self, data: &[u8], at_start: bool, eof: bool, out: &mut Vec<usize>) -> RecordCut {
        let mut pos = 0;
        if at_start {
            if !is_segment(data) {
                return RecordCut { used: 0, invalid: true };
            }
            // The header is a piece of its own: identical in every segment file.
            out.push(SEGMENT_HEADER_LEN);
            pos = SEGMENT_HEADER_LEN;
        }
        let mut group_start = pos;
        let mut group_range: Option<i64> = None;
        let mut prev_ts: Option<i64> = None;
        loop {
            if pos == data.len() {
                if eof && pos > group_start {
                    out.push(pos - group_start);
                    group_start = pos;
                }
                return RecordCut { used: group_start, invalid: false };
            }
            let rec = match parse_record(&data[pos..], eof) {
                Parse::Record(r) => r,
                Parse::NeedMore => return RecordCut { used: group_start, invalid: false },
                Parse::Invalid => {
                    if pos > group_start {
                        out.push(pos - group_start);
                    }
                    return RecordCut { used: pos, invalid: true };
                }
            };
            let continues = match (rec.first_ts, prev_ts, group_range) {
                (Some(ts), Some(prev), Some(range)) => {
                    ts > prev && ts.div_euclid(GROUP_RANGE_MS) == range && pos - group_start + rec.len <= self.max_group
                }
                _ => false,
            };
            if !continues && pos > group_start {
                out.push(pos - group_start);
                group_start = pos;
            }
            if pos == group_start {
                group_range = rec.first_ts.map(|t| t.div_euclid(GROUP_RANGE_MS));
            }
            prev_ts = rec.first_ts;
            pos += rec.len;
        }
    }
}

fn parse_record(b: &[u8], eof: bool) -> Parse {
    let need_more = if eof { Parse::Invalid } else { Parse::NeedMore };
    let Some((len, n)) = uvarint(b) else {
        return if b.len() >= 10 { Parse::Invalid } else { need_more };
    };
    if len > MAX_RECORD as u64 {
        return Parse::Invalid;
    }
    let len = len as usize;
    let total = n + 1 + len + 4;
    if b.len() < total {
        return need_more;
    }
    let body = &b[n..n + 1 + len];
    let crc = u32::from_be_bytes(b[total - 4..total].try_into().expect("4 bytes"));
    if crc32c::crc32c(body) != crc {
        return Parse::Invalid;
    }
    let first_ts = if body[0] == ENCODING_XOR && len > 2 {
        // XOR chunk data: u16be sample count, then the first timestamp as a signed varint.
        uvarint(&body[3..]).map(|(u, _)| (u >> 1) as i64 ^ -((u & 1) as i64))
    } else {
        None
    };
    Parse::Record(Record { len: total, first_ts })
}

/// Unsigned LEB128 varint (at most 10 bytes); `None` if incomplete or too long.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        x |= u64::from(c & 0x7f) << (7 * i);
        if c < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
        while x >= 0x80 {
            out.push(x as u8 | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }

    /// A record holding an XOR-shaped chunk starting at `ts` with `n` filler bytes.
    fn record(ts: i64, n: usize, fill: u8) -> Vec<u8> {
        let mut data = vec![0, 120];
        put_uvarint(&mut data, ((ts << 1) ^ (ts >> 63)) as u64);
        data.extend(std::iter::repeat_n(fill, n));
        let mut body = vec![ENCODING_XOR];
        body.extend(&data);
        let mut rec = vec![];
        put_uvarint(&mut rec, data.len() as u64);
        rec.extend(&body);
        rec.extend(crc32c::crc32c(&body).to_be_bytes());
        rec
    }

    fn segment(records: &[Vec<u8>]) -> Vec<u8> {
        let mut f = SEGMENT_MAGIC.to_vec();
        f.extend([1, 0, 0, 0]);
        for r in records {
            f.extend(r);
        }
        f
    }

    fn cut_all(c: &RecordCutter, data: &[u8]) -> (Vec<usize>, RecordCut) {
        let mut out = vec![];
        let r = c.cut(data, true, true, &mut out);
        (out, r)
    }

    const H: i64 = 3600 * 1000;

    #[test]
    fn groups_series_runs_within_two_hours() {
        // series A: 4 chunks in [0h,2h) then 2 in [2h,4h); series B: 2 chunks in [0h,2h)
        let a: Vec<_> = [0, 30, 60, 90, 120, 150].iter().map(|m| record(m * 60_000, 50, 1)).collect();
        let b: Vec<_> = [5, 65].iter().map(|m| record(m * 60_000, 70, 2)).collect();
        let recs: Vec<_> = a.iter().chain(&b).cloned().collect();
        let (lens, r) = cut_all(&RecordCutter::new(1 << 16), &segment(&recs));
        let size = |rs: &[Vec<u8>]| rs.iter().map(std::vec::Vec::len).sum::<usize>();
        assert_eq!(lens, vec![8, size(&a[..4]), size(&a[4..]), size(&b)]);
        assert!(!r.invalid);
        assert_eq!(r.used, segment(&recs).len());
    }

    #[test]
    fn windowed_cutting_equals_whole() {
        let recs: Vec<_> =
            (0..400).map(|i| record((i % 7) * 20 * 60_000 + (i / 7) * 3 * H, 30 + i as usize % 90, i as u8)).collect();
        let file = segment(&recs);
        let c = RecordCutter::new(1 << 12);
        let (whole, _) = cut_all(&c, &file);
        let mut pieces = vec![];
        let mut pos = 0;
        while pos < file.len() {
            let end = (pos + 3000).min(file.len());
            let r = c.cut(&file[pos..end], pos == 0, end == file.len(), &mut pieces);
            assert!(!r.invalid);
            pos += r.used;
        }
        assert_eq!(whole, pieces);
        assert_eq!(whole.iter().sum::<usize>(), file.len());
    }

    #[test]
    fn damaged_record_stops_record_cutting() {
        let recs: Vec<_> = (0..6).map(|i| record(i * 60_000, 40, 9)).collect();
        let mut file = segment(&recs);
        let bad = 8 + recs[0].len() + recs[1].len() + 5;
        file[bad] ^= 0xff;
        let (lens, r) = cut_all(&RecordCutter::new(1 << 16), &file);
        assert_eq!(lens, vec![8, recs[0].len() + recs[1].len()]);
        assert_eq!(r, RecordCut { used: 8 + recs[0].len() + recs[1].len(), invalid: true });
        // truncated in the middle of the last record
        let file = segment(&recs);
        let (_, r) = cut_all(&RecordCutter::new(1 << 16), &file[..file.len() - 3]);
        assert!(r.invalid);
        assert_eq!(r.used, file.len() - recs[5].len());
        // not a segment file at all
        assert!(cut_all(&RecordCutter::new(1 << 16), b"hello world, not a segment").1.invalid);
    }
}
