//! Storing new text chunks as deltas: which stored chunk a new one may be a delta of, and
//! encoding it against that base (format-spec §5, §13).

use std::sync::atomic::Ordering::Relaxed;

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

impl Ctx {
    /// Compress, seal and queue a claimed blob: as a delta against a base when one was
    /// found and that pays. Returns whether it was stored whole.
    pub fn store_new(&self, id: Id, data: &[u8], found: Option<Found>, text: bool) -> anyhow::Result<bool> {
        let base = found.and_then(|f| self.repo.read_base(&f.base).ok().map(|plain| (f, plain)));
        let b = match base {
            Some((f, plain)) => {
                // The chunk's previous version, when it is a delta of the same base.
                let previous = f.previous.and_then(|p| self.repo.read_with_base(&p, &f.base, &plain).ok());
                let base = blob::DeltaBase { id: f.base, plain: &plain, previous: previous.as_deref() };
                self.repo.encode_delta(id, data, &base)
            }
            None if text => self.repo.encode_text(id, data),
            None => self.repo.encode_blob(id, BlobKind::Data, data),
        };
        let whole = b.base.is_none();
        if !whole {
            self.count.deltas_new.fetch_add(1, Relaxed);
        }
        self.queue(b)?;
        Ok(whole)
    }

    /// Where a chunk similar to the stored chunk `old` may be a delta of: `old` itself, or
    /// its base when `old` is a delta (bases are always whole). `previous` is the chunk's
    /// likely previous version, kept when it is a delta of that base.
    pub fn base_for(&self, old: &Id, len: usize, previous: Option<Id>) -> Option<Found> {
        let idx = self.repo.index();
        let base = idx.base_of(old).unwrap_or(*old);
        let loc = idx.get(&base)?;
        let similar_size = (len / 4..=len.saturating_mul(4)).contains(&(loc.raw_len as usize));
        (idx.is_reusable(&base) && loc.compression != blob::Compression::Delta && similar_size)
            .then(|| Found { base, previous: previous.filter(|p| idx.base_of(p) == Some(base) && idx.is_reusable(p)) })
    }
}
