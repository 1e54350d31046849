//! Where to look for a delta base. A changed chunk of a daily dump usually sits between
//! chunks that did not change, and the chunk that followed the same unchanged neighbour in
//! an earlier object is its previous version: that is the base to try. Objects are matched
//! by content (shared chunks), not by name, so `dop-0402.dump.gz` finds `dop-0401.dump.gz`.

use parking_lot::Mutex;
use std::collections::HashMap;

use crate::id::Id;

/// Chunk → the chunk that followed it, over the text objects seen so far (the parent
/// snapshot's and this backup's). Later objects overwrite earlier ones: the newest
/// version of a neighbourhood is the most similar.
#[derive(Default)]
pub struct Successors {
    next: Mutex<HashMap<Id, Id>>,
}

impl Successors {
    /// Record an object's chunk sequence (or a piece of it, starting after `before`).
    pub fn record(&self, before: Option<Id>, ids: &[Id]) {
        let mut m = self.next.lock();
        let mut prev = before;
        for id in ids {
            if let Some(p) = prev {
                m.insert(p, *id);
            }
            prev = Some(*id);
        }
    }

    pub fn next_of(&self, id: &Id) -> Option<Id> {
        self.next.lock().get(id).copied()
    }
}

/// Follows an earlier object alongside the one being read: after an unchanged chunk, the
/// aligned old chunk is its successor; after a changed one, the successor of the old chunk
/// aligned with that (a run of changes walks along the old object).
#[derive(Default)]
pub struct BaseWalker {
    /// The old chunk aligned with the previous chunk of this object.
    anchor: Option<Id>,
}

impl BaseWalker {
    /// The old chunk aligned with chunk `id`; `known` when `id` itself is stored already.
    pub fn step(&mut self, s: &Successors, id: Id, known: bool) -> Option<Id> {
        let aligned = self.anchor.and_then(|a| s.next_of(&a));
        self.anchor = if known { Some(id) } else { aligned };
        aligned.filter(|_| !known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    #[test]
    fn walks_along_the_older_object() {
        let s = Successors::default();
        // Yesterday: 1 2 3 4 5. Today: 1 20 30 4 50 (2, 3 and 5 changed).
        s.record(None, &[id(1), id(2), id(3), id(4), id(5)]);
        let mut w = BaseWalker::default();
        let today = [(1, true), (20, false), (30, false), (4, true), (50, false)];
        let bases: Vec<Option<Id>> = today.iter().map(|&(n, known)| w.step(&s, id(n), known)).collect();
        assert_eq!(bases, vec![None, Some(id(2)), Some(id(3)), None, Some(id(5))]);
        // The first chunk has no neighbour to go by.
        let mut w = BaseWalker::default();
        assert_eq!(w.step(&s, id(9), false), None);
    }
}

/// Features per sketch.
pub const SKETCH_LEN: usize = 8;

/// A resemblance sketch of a chunk: the [`SKETCH_LEN`] smallest hashes of content-defined
/// 64-byte windows (bottom-k min-hash). Two versions of a chunk that differ in a few rows
/// share most of these, wherever the rows moved; unrelated chunks share none. Unused
/// slots are `u64::MAX`.
pub type Sketch = [u64; SKETCH_LEN];

/// Gear table for window hashing (fixed: sketches are persisted and compared across runs).
static GEAR: std::sync::LazyLock<[u64; 256]> = std::sync::LazyLock::new(|| {
    let mut s = 0x5eed_c311_a4d3_17a5_u64;
    std::array::from_fn(|_| {
        // splitmix64
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
});

pub fn sketch(data: &[u8]) -> Sketch {
    let gear = &*GEAR;
    let mut out = [u64::MAX; SKETCH_LEN];
    let mut h = 0u64;
    for &b in data {
        h = (h << 1).wrapping_add(gear[b as usize]);
        // ~1 window in 64 bytes; the gear state depends on the last 64 bytes only.
        if h & 0x3f == 0 {
            let f = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            if f < out[SKETCH_LEN - 1] && !out.contains(&f) {
                let at = out.partition_point(|&x| x < f);
                out.copy_within(at..SKETCH_LEN - 1, at + 1);
                out[at] = f;
            }
        }
    }
    out
}

/// Feature → the stored text chunks having it, loaded from the repository's sketch files
/// and extended as chunks are stored. Two maps: whole chunks (delta bases) and all chunks
/// (the newest version of some content, which may itself be a delta).
#[derive(Default)]
pub struct SketchIndex {
    bases: Mutex<HashMap<u64, Id>>,
    versions: Mutex<HashMap<u64, Id>>,
    /// With a bound: features of bases kept at most (then the index starts over), and no
    /// versions kept. For TSDB record groups, a few KiB each: an unbounded index of a
    /// large bucket's groups would cost more memory than the backup is allowed.
    bound: Option<usize>,
}

impl SketchIndex {
    /// An index of whole chunks only, forgetting everything once it holds `features`.
    pub fn bounded(features: usize) -> SketchIndex {
        SketchIndex { bound: Some(features), ..Default::default() }
    }

    /// Index a stored chunk; `whole` when it is stored whole and so can be a base.
    pub fn add(&self, id: Id, s: &Sketch, whole: bool) {
        let features = || s.iter().filter(|&&f| f != u64::MAX);
        if let Some(bound) = self.bound {
            if whole {
                let mut m = self.bases.lock();
                if m.len() >= bound {
                    m.clear();
                }
                features().for_each(|&f| {
                    m.insert(f, id);
                });
            }
            return;
        }
        if whole {
            let mut m = self.bases.lock();
            features().for_each(|&f| {
                m.insert(f, id);
            });
        }
        let mut m = self.versions.lock();
        features().for_each(|&f| {
            m.insert(f, id);
        });
    }

    /// The whole stored chunk sharing the most features with `s` (at least two).
    pub fn most_similar(&self, s: &Sketch) -> Option<Id> {
        best(&self.bases.lock(), s)
    }

    /// The stored chunk, whole or delta, sharing the most features with `s` (at least two):
    /// usually the previous version of the same content.
    pub fn newest_version(&self, s: &Sketch) -> Option<Id> {
        best(&self.versions.lock(), s)
    }
}

fn best(m: &HashMap<u64, Id>, s: &Sketch) -> Option<Id> {
    let mut votes: Vec<(Id, usize)> = Vec::new();
    for f in s.iter().filter(|&&f| f != u64::MAX) {
        if let Some(id) = m.get(f) {
            match votes.iter_mut().find(|(v, _)| v == id) {
                Some(v) => v.1 += 1,
                None => votes.push((*id, 1)),
            }
        }
    }
    votes.into_iter().filter(|&(_, n)| n >= 2).max_by_key(|&(_, n)| n).map(|(id, _)| id)
}

#[cfg(test)]
mod sketch_tests {
    use super::*;

    fn rows(seed: u64, n: usize, changed: &[usize]) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let v = if changed.contains(&i) { seed + 1 } else { seed };
                format!("{i}\talert-{}\tfiring\t2025-04-{:02} 12:00:{:02}\n", i * 7 + v as usize, i % 28 + 1, i % 60)
                    .into_bytes()
            })
            .collect()
    }

    #[test]
    fn similar_chunks_share_features_unrelated_do_not() {
        let a = rows(1, 1500, &[]);
        let b = rows(1, 1500, &[10, 400, 900]);
        let c = rows(5000, 1500, &[]);
        let (sa, sb, sc) = (sketch(&a), sketch(&b), sketch(&c));
        assert!(sa.iter().all(|&f| f != u64::MAX));
        let shared = |x: &Sketch, y: &Sketch| x.iter().filter(|f| y.contains(f)).count();
        assert!(shared(&sa, &sb) >= SKETCH_LEN / 2, "{}", shared(&sa, &sb));
        assert_eq!(shared(&sa, &sc), 0);
        let idx = SketchIndex::default();
        idx.add(Id([1; 32]), &sa, true);
        idx.add(Id([3; 32]), &sc, true);
        assert_eq!(idx.most_similar(&sb), Some(Id([1; 32])));
        // A delta version of the same content is the newest version, never a base.
        idx.add(Id([2; 32]), &sb, false);
        assert_eq!(idx.most_similar(&sb), Some(Id([1; 32])));
        assert_eq!(idx.newest_version(&sb), Some(Id([2; 32])));
        // A bounded index keeps bases only, and starts over when full.
        let small = SketchIndex::bounded(SKETCH_LEN + 1);
        small.add(Id([1; 32]), &sa, true);
        small.add(Id([2; 32]), &sb, false);
        assert_eq!((small.most_similar(&sb), small.newest_version(&sb)), (Some(Id([1; 32])), None));
        small.add(Id([3; 32]), &sc, true);
        small.add(Id([4; 32]), &sc, true);
        assert_eq!(small.most_similar(&sb), None, "forgotten once full");
        assert_eq!(small.most_similar(&sc), Some(Id([4; 32])));
        // A newer whole version of the content becomes the base.
        idx.add(Id([4; 32]), &sb, true);
        assert_eq!(idx.most_similar(&sa), Some(Id([4; 32])));
    }
}
