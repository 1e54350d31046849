//! Where to look for a delta base. A changed chunk of a daily dump usually sits between
//! chunks that did not change, and the chunk that followed the same unchanged neighbour in
//! an earlier object is its previous version: that is the base to try. Objects are matched
//! by content (shared chunks), not by name, so `dop-0402.dump.gz` finds `dop-0401.dump.gz`.

use parking_lot::Mutex;
use std::collections::HashMap;

use crate::repo::id::Id;

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
