//! Blobs: the unit of deduplication. A blob is a chunk of file data or a tree; it is
//! compressed when that pays and always sealed on its own, so any blob can be fetched with
//! one ranged read.

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::crypto::Seal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlobKind {
    Data = 0,
    Tree = 1,
}

impl BlobKind {
    pub fn from_u8(b: u8) -> Result<Self, String> {
        Ok(match b {
            0 => BlobKind::Data,
            1 => BlobKind::Tree,
            _ => return Err(format!("unknown blob kind {b}")),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Compression {
    None = 0,
    Zstd = 1,
    /// zstd with another blob's plaintext (its base) as raw-content prefix. The payload
    /// starts with the base id; the base is always stored whole (depth 1). Format v2.
    Delta = 2,
}

impl Compression {
    pub fn from_u8(b: u8) -> Result<Self, String> {
        Ok(match b {
            0 => Compression::None,
            1 => Compression::Zstd,
            2 => Compression::Delta,
            _ => return Err(format!("unknown compression {b}")),
        })
    }
}

/// Keyed BLAKE3 of the plaintext: content-addressing that reveals nothing to someone
/// without the repository key (no confirmation-of-file attacks).
pub fn blob_id(id_key: &[u8; 32], data: &[u8]) -> Id {
    Id(*blake3::keyed_hash(id_key, data).as_bytes())
}

/// A blob ready to be packed.
pub struct EncodedBlob {
    pub id: Id,
    pub kind: BlobKind,
    pub compression: Compression,
    pub raw_len: u32,
    pub sealed: Vec<u8>,
    /// The base of a [`Compression::Delta`] blob.
    pub base: Option<Id>,
}

/// How big a prefix is trial-compressed to decide whether a blob is worth compressing.
const PROBE_LEN: usize = 8 * 1024;
/// Compression must save at least this fraction to be kept.
const MIN_SAVING: f64 = 0.03;

/// Compress (if it pays) and seal. A cheap probe on a prefix keeps already-compressed data
/// (gzip dumps, Loki chunks, TSDB XOR chunks) from being compressed twice for nothing.
pub fn encode(key: &dyn Seal, level: i32, id: Id, kind: BlobKind, raw: &[u8]) -> EncodedBlob {
    let (compression, payload) = compress(level, raw);
    let sealed = key.seal(payload.as_deref().unwrap_or(raw));
    EncodedBlob { id, kind, compression, raw_len: raw.len() as u32, sealed, base: None }
}

thread_local! {
    /// zstd contexts of this thread, one per level. Creating a context allocates and
    /// clears its tables: with a fresh one per blob, `ZSTD_createCCtx` took 8% of a
    /// backup of small files. A reused context gives the same bytes.
    static COMPRESSORS: std::cell::RefCell<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// `zstd::bulk::compress` on this thread's context for `level`.
fn zstd_compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSORS.with_borrow_mut(|cs| {
        let i = if let Some(i) = cs.iter().position(|(l, _)| *l == level) {
            i
        } else {
            cs.push((level, zstd::bulk::Compressor::new(level)?));
            cs.len() - 1
        };
        cs[i].1.compress(raw)
    })
}

/// `zstd::bulk::decompress` on this thread's context.
fn zstd_decompress(frame: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with_borrow_mut(|d| {
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        d.as_mut().expect("set above").decompress(frame, capacity)
    })
}

/// The stored payload of a blob kept whole: zstd when it pays (`None`: `raw` itself).
fn compress(level: i32, raw: &[u8]) -> (Compression, Option<Vec<u8>>) {
    if raw.len() >= 64 && worth_compressing(raw) {
        if let Ok(c) = zstd_compress(raw, level) {
            if (c.len() as f64) < raw.len() as f64 * (1.0 - MIN_SAVING) {
                return (Compression::Zstd, Some(c));
            }
        }
    }
    (Compression::None, None)
}

/// A delta is kept only when it is at most this fraction of the blob compressed on its own:
/// a small saving is not worth a second read at restore time.
pub const DELTA_MAX_FRACTION: f64 = 0.5;
/// The same for a TSDB record group. Groups are small (a few records), so one differing
/// record of two is half the group: at [`DELTA_MAX_FRACTION`] a replica that missed one
/// sample stored such groups whole. Their bases are read anyway when a block's
/// neighbouring replica is restored, and a group is a few KiB, not a dump's 1 MiB chunk.
pub const RECORDS_DELTA_MAX_FRACTION: f64 = 0.8;
/// zstd level of chunks that had a delta base and are stored whole (content that changes
/// between versions, such as dumps: they are the bases of the next versions, read for
/// weeks); the delta frames themselves are at [`DELTA_FRAME_LEVEL`]. Every other chunk is
/// compressed at the repository's level (3 by default): level 12 on all text was 5–10×
/// the time of the rest of a backup of logs (format-spec/chunking.md, "Compression
/// levels").
pub const DELTA_LEVEL: i32 = 12;

/// zstd level of delta frames. Against a close base most of a frame is long matches,
/// where level 9 finds what 12 finds: on daily SQL dumps it stored 0–1% more than 12 in
/// 20–25% less time (format-spec/chunking.md, "Versions in one run").
pub const DELTA_FRAME_LEVEL: i32 = 9;

/// Rebase when a delta against an old base has grown by more than this fraction of the
/// chunk's whole compressed size beyond the delta against its previous version: the excess
/// is drift since the base was stored, paid again by every later version until a newer
/// base exists. Storing the chunk whole then gives the following days a close base
/// (format-spec/chunking.md, "Daily dumps").
pub const REBASE_DRIFT: f64 = 0.15;

/// A delta base and, optionally, the chunk's previous version (itself a delta of that
/// base), which shows how much of the delta is drift rather than today's change.
pub struct DeltaBase<'a> {
    pub id: Id,
    pub plain: &'a [u8],
    pub previous: Option<&'a [u8]>,
    /// [`DELTA_MAX_FRACTION`], or [`RECORDS_DELTA_MAX_FRACTION`] for record groups.
    pub max_fraction: f64,
}

/// Encode `raw` as a delta against a base (the plaintext of a blob stored whole) when that
/// is much smaller than compressing it alone and the base is not stale; otherwise encode
/// it whole. A chunk with a base is content that changes between versions (dumps), so
/// when stored whole it is at [`DELTA_LEVEL`] (it becomes the base of the next versions),
/// and the decisions are measured against that size.
///
/// The level-12 whole encoding is the costliest step and is wasted on a chunk that ends up
/// a delta, so the decisions are first taken against the repository's cheap level:
/// see [`WholeSize`].
pub fn encode_with_base(key: &dyn Seal, level: i32, id: Id, raw: &[u8], base: &DeltaBase) -> EncodedBlob {
    let dense = level.max(DELTA_LEVEL);
    let frame_level = level.max(DELTA_FRAME_LEVEL);
    let mut whole = WholeSize::new(level, dense, raw);
    let delta = delta_compress(raw, base.plain, frame_level).ok().filter(|frame| {
        whole.at_least((32 + frame.len()) as f64 / base.max_fraction) && {
            // Stale: the delta has grown by more than `REBASE_DRIFT` of the whole size
            // beyond the delta against the chunk's previous version.
            let stale = base.previous.is_some_and(|prev| {
                !whole.at_least(frame.len() as f64 / REBASE_DRIFT)
                    && delta_compress(raw, prev, frame_level)
                        .is_ok_and(|d1| !whole.at_least(frame.len().saturating_sub(d1.len()) as f64 / REBASE_DRIFT))
            });
            !stale
        }
    });
    let (compression, payload, base) = if let Some(frame) = delta {
        let mut payload = Vec::with_capacity(32 + frame.len());
        payload.extend_from_slice(&base.id.0);
        payload.extend_from_slice(&frame);
        (Compression::Delta, Some(payload), Some(base.id))
    } else {
        let (compression, payload) = whole.into_dense();
        (compression, payload, None)
    };
    // Sealed once, whichever form won.
    let sealed = key.seal(payload.as_deref().unwrap_or(raw));
    EncodedBlob { id, kind: BlobKind::Data, compression, raw_len: raw.len() as u32, sealed, base }
}

/// How far the level-12 size of text may lie from its size at the repository's level, as
/// fractions of the latter (measured 63–85% on logs and SQL dumps; format-spec/chunking.md,
/// "Versions in one run"). Inside these bounds a decision is taken on the cheap size; a
/// decision that falls between them computes the exact size.
const DENSE_RATIO: (f64, f64) = (0.60, 1.02);

/// The size of a chunk compressed whole at the deltas' level, known exactly only when a
/// decision needs it: most chunks with a close base become deltas, and for them a cheap
/// encoding at the repository's level bounds the size well enough.
struct WholeSize<'a> {
    raw: &'a [u8],
    dense_level: i32,
    /// The size at the repository's level (the raw size when that does not pay).
    cheap: f64,
    dense: Option<(Compression, Option<Vec<u8>>)>,
}

impl<'a> WholeSize<'a> {
    fn new(level: i32, dense_level: i32, raw: &'a [u8]) -> Self {
        let (compression, payload) = compress(level, raw);
        let cheap = payload.as_ref().map_or(raw.len(), Vec::len) as f64;
        // When the repository's level is the deltas' level, the cheap encoding is exact.
        let dense = (level >= dense_level).then_some((compression, payload));
        WholeSize { raw, dense_level, cheap, dense }
    }

    /// Whether the chunk compressed whole at the deltas' level takes at least `len` bytes.
    fn at_least(&mut self, len: f64) -> bool {
        if self.dense.is_none() {
            if len <= self.cheap * DENSE_RATIO.0 {
                return true;
            }
            if len > self.cheap * DENSE_RATIO.1 {
                return false;
            }
        }
        len <= self.exact()
    }

    fn exact(&mut self) -> f64 {
        let (raw, level) = (self.raw, self.dense_level);
        let (_, payload) = self.dense.get_or_insert_with(|| compress(level, raw));
        payload.as_ref().map_or(raw.len(), Vec::len) as f64
    }

    fn into_dense(mut self) -> (Compression, Option<Vec<u8>>) {
        self.exact();
        self.dense.expect("computed by exact()")
    }
}

fn delta_compress(raw: &[u8], base: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let err = |c: usize| std::io::Error::other(zstd::zstd_safe::get_error_name(c));
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(level)).map_err(err)?;
    // Raw content, never parsed as a zstd dictionary (a base may start with its magic).
    cctx.ref_prefix(base).map_err(err)?;
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
    cctx.compress2(&mut out, raw).map_err(err)?;
    Ok(out)
}

fn delta_decompress(frame: &[u8], base: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    use zstd::zstd_safe::DCtx;
    let err = |c: usize| std::io::Error::other(zstd::zstd_safe::get_error_name(c));
    let mut dctx = DCtx::create();
    dctx.ref_prefix(base).map_err(err)?;
    let mut out = Vec::with_capacity(raw_len);
    dctx.decompress(&mut out, frame).map_err(err)?;
    Ok(out)
}

fn worth_compressing(raw: &[u8]) -> bool {
    if raw.len() <= PROBE_LEN * 2 {
        return true;
    }
    match zstd_compress(&raw[..PROBE_LEN], 1) {
        Ok(c) => (c.len() as f64) < PROBE_LEN as f64 * 0.95,
        Err(_) => true,
    }
}

/// Open, decompress and verify a stored blob against its id. Damage of the blob, or of the
/// delta base it needs, is a [`RepoError::Integrity`] naming the blob.
pub fn decode(
    key: &dyn Seal,
    id_key: &[u8; 32],
    id: &Id,
    compression: Compression,
    raw_len: u32,
    sealed: &[u8],
    fetch_base: &dyn Fn(&Id) -> Result<Vec<u8>, RepoError>,
) -> Result<Vec<u8>, RepoError> {
    let what = || format!("blob {}", id.short());
    let plain = key.open(&what(), sealed)?;
    let raw = match compression {
        Compression::None => plain,
        Compression::Zstd => {
            zstd_decompress(&plain, raw_len as usize).map_err(|e| RepoError::integrity(what(), format!("zstd: {e}")))?
        }
        Compression::Delta => {
            let Some((base_id, frame)) = plain.split_first_chunk::<32>() else {
                return Err(RepoError::integrity(what(), "delta shorter than its base id"));
            };
            let base_id = Id(*base_id);
            let base = fetch_base(&base_id)
                .map_err(|e| RepoError::integrity(what(), format!("its delta base {}: {e}", base_id.short())))?;
            delta_decompress(frame, &base, raw_len as usize)
                .map_err(|e| RepoError::integrity(what(), format!("delta: {e}")))?
        }
    };
    if raw.len() != raw_len as usize {
        return Err(RepoError::integrity(what(), format!("length {} != {}", raw.len(), raw_len)));
    }
    if blob_id(id_key, &raw) != *id {
        return Err(RepoError::integrity(what(), "content does not match its id"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_round_trips_and_needs_its_base() {
        let key = crate::repo::crypto::MasterKey::generate();
        let id_key = [7u8; 32];
        // A base starting with the zstd dictionary magic must still be taken as raw content.
        let mut base = vec![0x37, 0xa4, 0x30, 0xec];
        base.extend((0..20_000u32).flat_map(|i| format!("{i}\trow {}\n", i % 13).into_bytes()));
        let mut new = base.clone();
        new[5000..5010].copy_from_slice(b"CHANGED!!!");
        let (bid, nid) = (blob_id(&id_key, &base), blob_id(&id_key, &new));
        let b = encode_with_base(
            &key,
            3,
            nid,
            &new,
            &DeltaBase { id: bid, plain: &base, previous: None, max_fraction: DELTA_MAX_FRACTION },
        );
        assert_eq!((b.compression, b.base), (Compression::Delta, Some(bid)));
        assert!(b.sealed.len() < 200, "{}", b.sealed.len());
        let fetch = |id: &Id| if *id == bid { Ok(base.clone()) } else { Err(RepoError::MissingBlob { id: *id }) };
        let got = decode(&key, &id_key, &nid, b.compression, b.raw_len, &b.sealed, &fetch).unwrap();
        assert_eq!(got, new);
        // A wrong base is caught by the id check, a missing one is named.
        let wrong = |_: &Id| Ok(vec![b'x'; 4096]);
        assert!(decode(&key, &id_key, &nid, b.compression, b.raw_len, &b.sealed, &wrong).is_err());
        let missing = |id: &Id| -> Result<Vec<u8>, RepoError> { Err(RepoError::MissingBlob { id: *id }) };
        let e = decode(&key, &id_key, &nid, b.compression, b.raw_len, &b.sealed, &missing).unwrap_err();
        assert!(e.is_damage() && e.to_string().contains("delta base"), "{e}");
        // Unrelated content is stored whole.
        let other: Vec<u8> = (0..30_000u32).flat_map(|i| (i.wrapping_mul(2_654_435_761)).to_le_bytes()).collect();
        let w = encode_with_base(
            &key,
            3,
            blob_id(&id_key, &other),
            &other,
            &DeltaBase { id: bid, plain: &base, previous: None, max_fraction: DELTA_MAX_FRACTION },
        );
        assert_eq!(w.base, None);
    }

    /// The cheap bound takes the same decisions as the exact level-12 size.
    #[test]
    fn whole_size_bounds_decide_as_the_exact_size() {
        let raw: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("{i}\tuser-{}\t{}\n", i % 97, i.wrapping_mul(7919) % 10_007).into_bytes())
            .collect();
        let dense = compress(DELTA_LEVEL, &raw).1.unwrap();
        let exact = dense.len() as f64;
        let mut lazy = WholeSize::new(3, DELTA_LEVEL, &raw);
        for f in [0.1, 0.5, 0.59, 0.7, 0.9, 0.99, 1.0, 1.01, 1.1, 2.0] {
            assert_eq!(lazy.at_least(exact * f), f <= 1.0, "at {f} of the exact size");
        }
        assert_eq!(lazy.into_dense().1.unwrap(), dense);
        // A far-off length is decided without the level-12 encoding.
        let mut far = WholeSize::new(3, DELTA_LEVEL, &raw);
        assert!(far.at_least(1.0) && !far.at_least(raw.len() as f64 * 2.0));
        assert!(far.dense.is_none());
    }

    /// Drift since the base was stored, not the day's change, decides a rebase.
    #[test]
    fn a_stale_base_is_replaced_by_storing_the_chunk_whole() {
        let key = crate::repo::crypto::MasterKey::generate();
        // Rows whose values change on ~2% of rows a day, cumulatively.
        let day = |d: u32| -> Vec<u8> {
            (0..12_000u32)
                .flat_map(|i| {
                    let last =
                        (1..=d).rev().find(|&k| (i.wrapping_mul(2_654_435_761) ^ k.wrapping_mul(40_503)) % 50 == 0);
                    let v = last.map_or(0, |k| (i ^ k).wrapping_mul(97_531) % 1_000_000);
                    format!(
                        "{i}	rule-{}	firing	{v}
",
                        i % 50
                    )
                    .into_bytes()
                })
                .collect()
        };
        let (base, prev, now) = (day(0), day(9), day(10));
        let bid = Id([1; 32]);
        let delta = |previous: Option<&[u8]>| {
            encode_with_base(
                &key,
                3,
                Id([2; 32]),
                &now,
                &DeltaBase { id: bid, plain: &base, previous, max_fraction: DELTA_MAX_FRACTION },
            )
        };
        // Against day 0 alone, ten days of changes still make a worthwhile delta...
        assert_eq!(delta(None).base, Some(bid));
        // ...but nearly all of it is drift that yesterday's version already had: rebase.
        assert_eq!(delta(Some(&prev)).base, None);
        // When the day's own change is what makes the delta, the base stays.
        assert_eq!(delta(Some(&base)).base, Some(bid));
    }
}
