//! Storing new text chunks as deltas: which stored chunk a new one may be a delta of, and
//! encoding it against that base (format-spec §5, §13).

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::ctx::Ctx;
use crate::id::Id;
use crate::repo::blob::{self, BlobKind};

/// A delta base found for a new chunk.
#[derive(Clone, Copy)]
pub(super) struct Found {
    pub base: Id,
    /// The most similar stored chunk when it is a delta of `base`: likely the chunk's
    /// previous version, which tells drift from today's change.
    pub previous: Option<Id>,
}

/// What a new chunk is, for how it is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NewChunk {
    /// Not text, or a repository without deltas.
    Other,
    /// Text: a delta base for later chunks when stored whole.
    Text,
    /// A TSDB record group: a base like text, and kept as a delta at a larger fraction of
    /// its whole size ([`blob::RECORDS_DELTA_MAX_FRACTION`]).
    Records,
    /// Text decoded from a gzip object: a base as well, and compressed at the deltas'
    /// level even without a base, because decoding and re-deflating it costs far more than
    /// the level does, and the owner gzip'd it to save space (dumps).
    GzipText,
}

/// Plaintext of the text chunks this run stored whole whose pack is not indexed yet (an
/// index file is written every 8 packs of 16 MiB: without this a night's dumps would all
/// be stored whole, none finding the one before it as a base). Chunks that are indexed by
/// now are dropped first when space is needed; beyond the bound the oldest go.
#[derive(Default)]
pub struct PendingBases {
    inner: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Plaintext, and the object (see [`PendingBases::object`]) that stored it.
    chunks: HashMap<Id, (Arc<Vec<u8>>, u64)>,
    objects: u64,
    order: VecDeque<Id>,
    bytes: usize,
    /// Plaintext bytes added over the run, and that count at the last sweep for indexed
    /// chunks: a sweep walks every kept chunk, so it runs once per eighth of the bound
    /// added, not once per chunk (TSDB record groups are a few KiB: tens of thousands).
    added: usize,
    swept: usize,
}

/// Bytes of plaintext [`PendingBases`] keeps at most.
const PENDING_BASES_BYTES: usize = 64 << 20;

impl PendingBases {
    /// A number for an object being stored: its own chunks are not its bases (in-run
    /// bases are for similar objects; a chunk like another of the same object was measured
    /// to cost level-12 attempts for nothing).
    pub fn object(&self) -> u64 {
        let mut p = self.inner.lock();
        p.objects += 1;
        p.objects
    }

    fn add(&self, id: Id, plain: &[u8], object: u64, indexed: impl Fn(&Id) -> bool) {
        let mut p = self.inner.lock();
        if p.chunks.insert(id, (Arc::new(plain.to_vec()), object)).is_some() {
            return;
        }
        p.order.push_back(id);
        p.bytes += plain.len();
        p.added += plain.len();
        if p.bytes > PENDING_BASES_BYTES && p.added - p.swept >= PENDING_BASES_BYTES / 8 {
            p.swept = p.added;
            let Pending { chunks, order, bytes, .. } = &mut *p;
            order.retain(|id| {
                let keep = !indexed(id);
                if !keep {
                    *bytes -= chunks.remove(id).map_or(0, |c| c.0.len());
                }
                keep
            });
        }
        while p.bytes > PENDING_BASES_BYTES {
            let Some(old) = p.order.pop_front() else { break };
            if let Some(c) = p.chunks.remove(&old) {
                p.bytes -= c.0.len();
            }
        }
    }

    /// The plaintext of `id` if another object than `object` stored it.
    fn get(&self, id: &Id, object: u64) -> Option<Arc<Vec<u8>>> {
        self.inner.lock().chunks.get(id).filter(|c| c.1 != object).map(|c| c.0.clone())
    }
}

impl Ctx {
    /// Compress, seal and queue a claimed blob: as a delta against a base when one was
    /// found and that pays. Text chunks stored whole become bases for the rest of the
    /// run. Returns whether it was stored whole.
    pub(super) fn store_new(
        &self,
        id: Id,
        data: &[u8],
        found: Option<Found>,
        kind: NewChunk,
        object: u64,
    ) -> anyhow::Result<bool> {
        let base = found.and_then(|f| {
            let plain =
                self.pending_bases.get(&f.base, object).or_else(|| self.repo.read_base(&f.base).ok().map(Arc::new));
            plain.map(|p| (f, p))
        });
        let b = match base {
            Some((f, plain)) => {
                // The chunk's previous version, when it is a delta of the same base.
                let previous = f.previous.and_then(|p| self.repo.read_with_base(&p, &f.base, &plain).ok());
                let max_fraction =
                    if kind == NewChunk::Records { blob::RECORDS_DELTA_MAX_FRACTION } else { blob::DELTA_MAX_FRACTION };
                let base = blob::DeltaBase { id: f.base, plain: &plain, previous: previous.as_deref(), max_fraction };
                self.repo.encode_delta(id, data, &base)
            }
            None if kind == NewChunk::GzipText => self.repo.encode_dense(id, data),
            None => self.repo.encode_blob(id, BlobKind::Data, data),
        };
        let whole = b.base.is_none();
        if !whole {
            self.count.deltas_new.fetch_add(1, Relaxed);
        }
        self.queue(b)?;
        if whole && kind != NewChunk::Other {
            self.pending_bases.add(id, data, object, |id| self.repo.index().contains(id));
        }
        Ok(whole)
    }

    /// Where a chunk similar to the stored chunk `old` may be a delta of: `old` itself, or
    /// its base when `old` is a delta (bases are always whole), whether indexed or stored
    /// earlier in this run. `previous` is the chunk's likely previous version, kept when it
    /// is an indexed delta of that base.
    pub fn base_for(&self, old: &Id, len: usize, previous: Option<Id>, object: u64) -> Option<Found> {
        let (base, indexed_len, previous) = {
            let idx = self.repo.index();
            let base = idx.base_of(old).unwrap_or(*old);
            let indexed_len = match idx.get(&base) {
                Some(loc) if idx.is_reusable(&base) && loc.compression != blob::Compression::Delta => {
                    Some(loc.raw_len as usize)
                }
                Some(_) => return None,
                None => None,
            };
            (base, indexed_len, previous.filter(|p| idx.base_of(p) == Some(base) && idx.is_reusable(p)))
        };
        // Not under the index lock: `PendingBases::add` takes the two the other way round.
        let base_len = indexed_len.or_else(|| self.pending_bases.get(&base, object).map(|p| p.len()))?;
        (len / 4..=len.saturating_mul(4)).contains(&base_len).then_some(Found { base, previous })
    }
}
