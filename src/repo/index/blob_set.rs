//! A set of blob ids in one bit per indexed blob: what the snapshots reach, for prune,
//! lock extension and check. A `HashSet<Id>` of 10 million blobs takes ~500 MB; this
//! takes 1.2 MB plus a hash set for ids the loaded index does not list (normally none).

use std::collections::HashSet;

use super::Index;
use crate::id::Id;

/// Membership is decided on the blob's 8-byte id prefix among the blobs the index lists:
/// a blob that shares its prefix with a member counts as a member too. For prune that can
/// only keep garbage, never delete a needed blob; at 10 million blobs the chance of any
/// such pair is ~3 in a million.
pub struct BlobSet {
    /// Bit per key position of the spilled index; only first keys of a prefix run are set.
    bits: Vec<u64>,
    /// Members the spilled index does not list (added after loading, or missing).
    others: HashSet<Id>,
    /// The index load the bits refer to ([`Index::generation`]).
    generation: u64,
    count: usize,
}

impl Index {
    /// An empty set for blobs of this index.
    pub fn blob_set(&self) -> BlobSet {
        let n = self.base.as_ref().map_or(0, |b| b.keys.len());
        BlobSet { bits: vec![0; n.div_ceil(64)], others: HashSet::new(), generation: self.generation, count: 0 }
    }
}

impl BlobSet {
    fn slot(&self, idx: &Index, id: &Id) -> Option<usize> {
        assert_eq!(self.generation, idx.generation, "a blob set read against an index it was not made for");
        idx.base.as_ref().and_then(|b| b.slot(id))
    }

    /// Add `id`; true if it was not a member yet.
    pub fn insert(&mut self, idx: &Index, id: &Id) -> bool {
        let new = match self.slot(idx, id) {
            Some(s) => {
                let (w, bit) = (s / 64, 1u64 << (s % 64));
                let new = self.bits[w] & bit == 0;
                self.bits[w] |= bit;
                new
            }
            None => self.others.insert(*id),
        };
        self.count += usize::from(new);
        new
    }

    pub fn contains(&self, idx: &Index, id: &Id) -> bool {
        match self.slot(idx, id) {
            Some(s) => self.bits[s / 64] & (1 << (s % 64)) != 0,
            None => self.others.contains(id),
        }
    }

    /// Distinct members (blobs sharing a prefix count once).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Members the loaded index does not list: ids only, they have no location.
    pub fn unlisted(&self) -> impl Iterator<Item = &Id> {
        self.others.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::{BlobKind, Compression};
    use crate::repo::file::index::IndexFile;
    use crate::repo::file::pack::PackEntry;
    use crate::repo::index::IndexBuilder;

    fn id(i: u32) -> Id {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.wrapping_mul(0x9E37_79B9).to_be_bytes());
        b[8..12].copy_from_slice(&i.to_le_bytes());
        Id(b)
    }

    fn index(n: u32) -> Index {
        let e = |i: u32| PackEntry {
            id: id(i),
            kind: BlobKind::Data,
            compression: Compression::Zstd,
            offset: i,
            stored_len: 1,
            raw_len: 1,
            base: None,
        };
        let mut b = IndexBuilder::new(n as usize).unwrap();
        b.add_file(&IndexFile { supersedes: vec![], packs: vec![(Id([1; 32]), (0..n).map(e).collect())] }).unwrap();
        b.finish().unwrap()
    }

    #[test]
    fn members_listed_or_not_are_found_and_counted_once() {
        let idx = index(10_000);
        let mut s = idx.blob_set();
        assert!(s.is_empty());
        for i in (0..10_000).step_by(3) {
            assert!(s.insert(&idx, &id(i)));
        }
        assert!(!s.insert(&idx, &id(3)), "a second insert is not new");
        // Not in the index: kept aside.
        assert!(s.insert(&idx, &id(20_000)));
        for i in 0..10_000 {
            assert_eq!(s.contains(&idx, &id(i)), i % 3 == 0, "blob {i}");
        }
        assert!(s.contains(&idx, &id(20_000)) && !s.contains(&idx, &id(20_001)));
        assert_eq!(s.len(), 3334 + 1);
        assert_eq!(s.unlisted().copied().collect::<Vec<_>>(), vec![id(20_000)]);
    }

    #[test]
    #[should_panic(expected = "not made for")]
    fn a_set_refuses_another_index() {
        let (a, b) = (index(10), index(10));
        let mut s = a.blob_set();
        s.insert(&b, &id(1));
    }
}
