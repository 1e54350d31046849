//! FastCDC (2020 variant) over the `fastcdc` crate's gear tables, XORed with a repository
//! seed. Tables are built once per backup, not per file.

use super::ChunkerParams;
use fastcdc::v2020::{cut_gear, get_gear_with_seed, logarithm2, MASKS};

pub struct Cutter {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

impl Cutter {
    pub fn new(p: &ChunkerParams) -> Cutter {
        let bits = logarithm2(p.avg);
        let (gear, gear_ls) = get_gear_with_seed(p.seed);
        Cutter {
            min: p.min as usize,
            avg: p.avg as usize,
            max: p.max as usize,
            mask_s: MASKS[(bits + p.normalization) as usize],
            mask_l: MASKS[(bits - p.normalization) as usize],
            gear,
            gear_ls,
        }
    }

    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Length of the next chunk at the start of `data` (all of it if shorter than `min`).
    pub fn next_len(&self, data: &[u8]) -> usize {
        let (_, n) = cut_gear(
            data,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        n
    }

    /// Chunk lengths covering `data`. When `eof` is false the last piece, which may have
    /// ended only because the data did, is left out: the caller re-cuts it with more data.
    /// Because FastCDC looks only at bytes after a chunk's start, cutting a stream window by
    /// window gives exactly the cuts of the whole stream.
    pub fn cut(&self, data: &[u8], eof: bool, out: &mut Vec<usize>) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            let n = self.next_len(&data[pos..]);
            if !eof && pos + n == data.len() {
                break;
            }
            out.push(n);
            pos += n;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_cuts_equal_whole_cuts() {
        let mut data = vec![0u8; 3 << 20];
        let mut x = 0x1234_5678_9abc_def0u64;
        for b in &mut data {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let c = Cutter::new(&ChunkerParams { seed: 42, ..ChunkerParams::with_sizes(4096, 16384, 65536) });
        let mut whole = vec![];
        c.cut(&data, true, &mut whole);
        let mut pieces = vec![];
        let mut pos = 0;
        while pos < data.len() {
            let end = (pos + 200_000).min(data.len());
            pos += c.cut(&data[pos..end], end == data.len(), &mut pieces);
        }
        assert_eq!(whole, pieces);
        assert_eq!(whole.iter().sum::<usize>(), data.len());
        assert!(whole.iter().all(|&n| n <= 65536));
    }
}
