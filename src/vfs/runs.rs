//! Reading the blobs of many files with few requests.
//!
//! An operation that knows up front which files it will read (a restore into a bucket, a
//! `copy`, a `dump`) plans its reads as a directory restore does: the blobs it needs, and
//! the delta bases those need, are grouped per pack into *runs* of neighbouring blobs
//! (at most [`RUN_MAX`] bytes, gaps under [`RUN_GAP`]), and each run is fetched with one
//! ranged read the first time any file needs a blob of it. Runs stay in a bounded cache
//! shared by all readers, so the small files of a TSDB block, the records a chunks file
//! shares with another replica, and the base of a delta cost no request of their own.
//! Every blob is still verified on its own; one that fails is read from another copy.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::Arc;

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::blob::Compression;
use crate::repo::file::tree::Node;
use crate::repo::file::FileType;
use crate::repo::Repository;

/// Longest run read at once.
pub const RUN_MAX: u64 = 16 << 20;
/// Blobs further apart than this in a pack are not read together.
pub const RUN_GAP: u64 = 1 << 20;
/// Bytes of runs kept for readers that have not reached them yet.
const CACHE_BYTES: u64 = 128 << 20;

/// One planned range of a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u64,
    end: u64,
}

/// The blobs an operation will read, planned into runs, and the runs read so far.
pub struct BlobSource<'r> {
    repo: &'r Repository,
    /// Per pack, its planned runs by offset.
    runs: HashMap<Id, Vec<Run>>,
    cache: Mutex<RunCache>,
    /// One fetch per pack at a time, so that readers wanting the same run wait for it
    /// instead of reading it again.
    fetching: Mutex<HashMap<Id, Arc<Mutex<()>>>>,
}

#[derive(Default)]
struct RunCache {
    /// Oldest first.
    runs: VecDeque<(Id, Run, Arc<Vec<u8>>)>,
    bytes: u64,
}

impl RunCache {
    fn get(&self, pack: &Id, run: Run) -> Option<Arc<Vec<u8>>> {
        self.runs.iter().rev().find(|(p, r, _)| p == pack && *r == run).map(|(_, _, b)| b.clone())
    }

    fn put(&mut self, pack: Id, run: Run, bytes: Arc<Vec<u8>>) {
        self.bytes += bytes.len() as u64;
        self.runs.push_back((pack, run, bytes));
        while self.bytes > CACHE_BYTES && self.runs.len() > 1 {
            let (_, _, b) = self.runs.pop_front().expect("not empty");
            self.bytes -= b.len() as u64;
        }
    }
}

impl<'r> BlobSource<'r> {
    /// Plan the reads of these files' data (content, gzip recipes and the delta bases
    /// of both). Blobs the index does not know are left out of the plan; reading one
    /// reports it.
    pub fn for_nodes<'n>(repo: &'r Repository, nodes: impl IntoIterator<Item = &'n Node>) -> Self {
        Self::for_blobs(repo, nodes.into_iter().flat_map(|n| n.data_blobs().copied()))
    }

    /// Plan the reads of these blobs (and their delta bases).
    pub fn for_blobs(repo: &'r Repository, ids: impl IntoIterator<Item = Id>) -> Self {
        let mut wanted: HashMap<Id, Vec<Run>> = HashMap::new();
        {
            let idx = repo.index();
            let mut seen = std::collections::HashSet::new();
            for id in ids {
                let base = idx.base_of(&id);
                for id in std::iter::once(id).chain(base) {
                    if !seen.insert(id) {
                        continue;
                    }
                    let Ok(loc) = idx.locate(&id) else { continue };
                    let start = u64::from(loc.offset);
                    wanted
                        .entry(idx.pack_id(loc.pack))
                        .or_default()
                        .push(Run { start, end: start + u64::from(loc.stored_len) });
                }
            }
        }
        let runs = wanted.into_iter().map(|(pack, blobs)| (pack, plan_runs(blobs))).collect();
        BlobSource { repo, runs, cache: Mutex::default(), fetching: Mutex::default() }
    }

    /// Blob `id`, verified.
    pub fn read(&self, id: &Id) -> Result<Vec<u8>, RepoError> {
        self.read_as(id, false)
    }

    fn read_as(&self, id: &Id, as_base: bool) -> Result<Vec<u8>, RepoError> {
        let (pack, loc) = self.repo.locate(id)?;
        if as_base && loc.compression == Compression::Delta {
            // Deltas are depth 1: a damaged or malicious chain cannot make a read recurse.
            return Err(RepoError::integrity(format!("delta base {}", id.short()), "it is itself a delta"));
        }
        let (start, end) = (u64::from(loc.offset), u64::from(loc.offset) + u64::from(loc.stored_len));
        let run = self
            .runs
            .get(&pack)
            .and_then(|runs| {
                let i = runs.partition_point(|r| r.end <= start);
                runs.get(i).filter(|r| r.start <= start && end <= r.end).copied()
            })
            .unwrap_or(Run { start, end });
        // A copy that is gone or short: any other copy will do.
        let Ok(bytes) = self.fetch(&pack, run) else { return self.repo.read_blob_elsewhere(id, &pack) };
        let sealed = &bytes[(start - run.start) as usize..(end - run.start) as usize];
        self.repo.decode_blob_with(id, &loc, sealed, &|b| self.read_as(b, true)).or_else(|e| {
            if e.is_damage() {
                self.repo.read_blob_elsewhere(id, &pack).map_err(|_| e)
            } else {
                Err(e)
            }
        })
    }

    fn fetch(&self, pack: &Id, run: Run) -> Result<Arc<Vec<u8>>, RepoError> {
        if let Some(b) = self.cache.lock().get(pack, run) {
            return Ok(b);
        }
        let gate = self.fetching.lock().entry(*pack).or_default().clone();
        let _one_at_a_time = gate.lock();
        // Another reader may have fetched it while this one waited.
        if let Some(b) = self.cache.lock().get(pack, run) {
            return Ok(b);
        }
        let bytes = self.repo.backend().read_range(&FileType::Pack.name(pack), run.start, run.end - run.start)?;
        if bytes.len() as u64 != run.end - run.start {
            return Err(RepoError::integrity(format!("pack {}", pack.short()), "shorter than its index says"));
        }
        let bytes = Arc::new(bytes);
        self.cache.lock().put(*pack, run, bytes.clone());
        Ok(bytes)
    }

    /// The runs planned (one read each, unless the cache had to drop one early).
    pub fn planned_runs(&self) -> usize {
        self.runs.values().map(Vec::len).sum()
    }
}

/// Group a pack's needed blobs (any order, no duplicates) into runs.
fn plan_runs(mut blobs: Vec<Run>) -> Vec<Run> {
    blobs.sort_by_key(|b| b.start);
    let mut runs: Vec<Run> = vec![];
    for b in blobs {
        match runs.last_mut() {
            Some(r) if b.start <= r.end + RUN_GAP && b.end.max(r.end) - r.start <= RUN_MAX => r.end = r.end.max(b.end),
            _ => runs.push(b),
        }
    }
    runs
}

/// Streams a file's content blob by blob (verifying each) from a [`BlobSource`].
pub struct ContentReader<'s, 'r> {
    source: Source<'s, 'r>,
    ids: &'s [Id],
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

/// A source of one's own (one file read alone) or shared by the files of an operation.
#[derive(Clone)]
pub(crate) enum Source<'s, 'r> {
    Owned(Arc<BlobSource<'r>>),
    Shared(&'s BlobSource<'r>),
}

impl<'r> Source<'_, 'r> {
    pub(crate) fn get(&self) -> &BlobSource<'r> {
        match self {
            Source::Owned(s) => s,
            Source::Shared(s) => s,
        }
    }
}

impl<'s, 'r> ContentReader<'s, 'r> {
    pub(crate) fn new(source: Source<'s, 'r>, content: &'s [Id]) -> Self {
        ContentReader { source, ids: content, next: 0, buf: vec![], pos: 0 }
    }
}

impl Read for ContentReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(id) = self.ids.get(self.next) else {
                return Ok(0);
            };
            self.next += 1;
            self.buf = self.source.get().read(id).map_err(std::io::Error::other)?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Run {
        Run { start, end }
    }

    #[test]
    fn neighbours_join_a_run_and_far_or_long_ones_start_another() {
        let mb = 1 << 20;
        // Out of order on input; the 1 MiB gap joins, a gap of more does not.
        let runs = plan_runs(vec![r(10, 20), r(0, 10), r(20 + mb, 30 + mb), r(31 + 2 * mb, 40 + 2 * mb)]);
        assert_eq!(runs, [r(0, 30 + mb), r(31 + 2 * mb, 40 + 2 * mb)]);
        // No run longer than RUN_MAX.
        let blobs: Vec<Run> = (0..40).map(|i| r(i * mb, (i + 1) * mb)).collect();
        let runs = plan_runs(blobs);
        assert!(runs.iter().all(|x| x.end - x.start <= RUN_MAX));
        assert_eq!(runs.iter().map(|x| x.end - x.start).sum::<u64>(), 40 * mb, "every blob in one run");
    }
}
