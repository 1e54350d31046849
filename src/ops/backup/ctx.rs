//! What every stage of one backup shares: the repository, the packer's queue, counters,
//! and what was found along the way (warnings, notices, blocks).

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::chunk::similar::{Sketch, SketchIndex, Successors};
use crate::chunk::Profiles;
use crate::id::Id;
use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::file::snapshot::{BlockInfo, Excluded, Shard};
use crate::repo::Repository;

/// Counters of one backup, summed into its report and snapshot summary.
#[derive(Default)]
pub(super) struct Counters {
    pub files: AtomicU64,
    pub dirs: AtomicU64,
    pub bytes: AtomicU64,
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unmodified: AtomicU64,
    pub blobs_new: AtomicU64,
    /// New chunks stored as deltas.
    pub deltas_new: AtomicU64,
    /// Regenerated bookkeeping left out (`markers/`, `bucket-index.json.gz`).
    pub bookkeeping: AtomicU64,
    /// Entries the operator's excludes left out.
    pub excluded_by_rule: AtomicU64,
}

pub(super) struct Ctx {
    pub repo: Arc<Repository>,
    pub profiles: Profiles,
    pub packer: Sender<EncodedBlob>,
    claimed: Mutex<Claims>,
    fatal: Mutex<Option<anyhow::Error>>,
    pub warnings: Mutex<Vec<String>>,
    pub notices: Mutex<Vec<String>>,
    pub blocks: Mutex<Vec<BlockInfo>>,
    pub excluded: Mutex<Vec<Excluded>>,
    pub shard: Option<Shard>,
    pub count: Counters,
    pub progress: Arc<crate::progress::Counters>,
    /// Chunk sequences of text objects, for finding delta bases (`None`: no deltas).
    pub successors: Option<Successors>,
    /// Resemblance sketches of stored text chunks, whole and delta (with `successors`).
    pub sketches: SketchIndex,
    /// Sketches of the TSDB record groups this run stored, bounded (not persisted: one
    /// per group would outweigh what their deltas save across runs).
    pub record_sketches: SketchIndex,
    /// Sketches of the text chunks this backup stores, written with the index.
    pub new_sketches: Mutex<Vec<(Id, Sketch)>>,
    /// Text chunks this backup stored whole whose pack is not indexed yet: bases for the
    /// similar objects after them in the same run (a night's dumps).
    pub pending_bases: super::delta::PendingBases,
    /// Versions of a text object cut one behind the other.
    pub series: super::series::Series,
    /// Store gzip objects as decoded text plus a recipe.
    pub gzip: bool,
    /// Store pg_dump custom-format archives so too (format v5).
    pub pg_custom: bool,
    pub excludes: super::exclude::Excludes,
    /// The parent's trees from the send log (append-only keys), else `None`: read from
    /// the repository.
    pub parent_trees: Option<super::parent::LoggedTrees>,
    /// Trees this backup stored or reused, for the send log (append-only keys only).
    pub sent_trees: Option<Mutex<super::send_log::Trees>>,
}

/// Blobs this backup has taken on to store. Once a blob is indexed the index answers
/// for it, so the set is cleared of indexed blobs whenever it doubles: it holds what is in
/// flight, not every blob of the backup (32 MB and more for a million new files).
#[derive(Default)]
struct Claims {
    ids: HashSet<Id>,
    /// Size at which indexed blobs are dropped next.
    prune_at: usize,
}

/// Claims below this many are never pruned.
const CLAIMS_PRUNE_MIN: usize = 100_000;

/// Features of TSDB record groups kept for finding bases: ~64 K groups (~100 MB of chunk
/// data, a 2h range's replicas and merges in a large tenant) in ~25 MB of memory.
const RECORD_SKETCH_FEATURES: usize = 512 << 10;

impl Ctx {
    pub fn new(
        repo: Arc<Repository>,
        packer: Sender<EncodedBlob>,
        shard: Option<Shard>,
        excludes: super::exclude::Excludes,
        progress: Arc<crate::progress::Counters>,
    ) -> anyhow::Result<Ctx> {
        let deltas = repo.settings().deltas;
        let sketches = SketchIndex::default();
        // An append-only key cannot open stored chunks, so only this run's are bases.
        if deltas && !repo.append_only() {
            let stored = repo.load_sketches()?;
            let idx = repo.index();
            for (id, sk) in stored {
                sketches.add(id, &sk, idx.base_of(&id).is_none());
            }
        }
        Ok(Ctx {
            profiles: Profiles::new(&repo.settings().chunkers)?,
            gzip: repo.settings().gzip_transparent,
            pg_custom: repo.settings().pg_custom_transparent,
            successors: deltas.then(Successors::default),
            repo,
            packer,
            claimed: Mutex::default(),
            fatal: Mutex::default(),
            warnings: Mutex::default(),
            notices: Mutex::default(),
            blocks: Mutex::default(),
            excluded: Mutex::default(),
            shard,
            count: Counters::default(),
            progress,
            sketches,
            record_sketches: SketchIndex::bounded(RECORD_SKETCH_FEATURES),
            new_sketches: Mutex::default(),
            pending_bases: Default::default(),
            series: Default::default(),
            excludes,
            parent_trees: None,
            sent_trees: None,
        })
    }

    /// A tree of the parent snapshot (see [`super::parent::read_tree`]).
    pub fn parent_tree(&self, id: &Id) -> Result<crate::repo::file::tree::Tree, crate::error::RepoError> {
        super::parent::read_tree(&self.repo, self.parent_trees.as_ref(), id)
    }

    /// An object that could not be read: it is missing from the snapshot, and said so.
    pub fn warn(&self, msg: String) {
        self.warnings.lock().push(msg);
    }

    /// An expected event of a live bucket (a block deleted while it was read).
    pub fn notice(&self, msg: String) {
        self.notices.lock().push(msg);
    }

    /// The repository failed: the backup stops and writes no snapshot.
    pub fn fail(&self, e: anyhow::Error) {
        let mut f = self.fatal.lock();
        if f.is_none() {
            *f = Some(e);
        }
    }

    pub fn failed(&self) -> bool {
        self.fatal.lock().is_some()
    }

    pub fn take_fatal(&self) -> Option<anyhow::Error> {
        self.fatal.lock().take()
    }

    /// True exactly once per blob id not yet in the repository: that caller stores it.
    pub fn claim(&self, id: &Id) -> bool {
        // The index lock is taken before the claims' (as everywhere), never after.
        let idx = self.repo.index();
        if idx.is_reusable(id) {
            return false;
        }
        let mut c = self.claimed.lock();
        if c.ids.len() >= c.prune_at.max(CLAIMS_PRUNE_MIN) {
            c.ids.retain(|id| !idx.is_reusable(id));
            c.prune_at = 2 * c.ids.len();
        }
        c.ids.insert(*id)
    }

    /// Hash, and if new, compress, seal and queue one blob.
    pub fn store(&self, kind: BlobKind, data: &[u8]) -> anyhow::Result<Id> {
        let id = self.repo.blob_id(data);
        if let Some(sent) = self.sent_trees.as_ref().filter(|_| kind == BlobKind::Tree) {
            sent.lock().push((id, data.to_vec()));
        }
        if self.claim(&id) {
            self.queue(self.repo.encode_blob(id, kind, data))?;
        }
        Ok(id)
    }

    /// Hand a sealed blob to the packer.
    pub fn queue(&self, b: EncodedBlob) -> anyhow::Result<()> {
        self.packer.send(b).map_err(|_| anyhow::anyhow!("the pack writer stopped"))?;
        self.count.blobs_new.fetch_add(1, Relaxed);
        Ok(())
    }
}
