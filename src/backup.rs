//! Backup: list → skip unchanged (parent) → read → chunk → hash → dedup → compress →
//! encrypt → pack → write.
//!
//! Stages and their bounds:
//! - the walker (calling thread) lists directories depth-first and sends changed files into
//!   a bounded job queue; unchanged files are taken from the parent snapshot's trees;
//! - file workers (one per core) read a file window by window (bounded buffer), cut chunks,
//!   and hand the window's chunks to rayon for hashing, compression and sealing;
//! - the packer thread (bounded queue) fills packs and writes them.
//!
//! Trees are built bottom-up as results arrive: every directory counts its unfinished
//! entries and is sealed by whichever thread finishes the last one, so no stage waits for
//! a directory to complete (a big file never stalls the walker).

use anyhow::{bail, Context};
use crossbeam_channel::{bounded, Sender};
use parking_lot::Mutex;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

use crate::chunk::similar::{sketch, BaseWalker, Sketch, SketchIndex, Successors};
use crate::chunk::{looks_like_text, Profiles, WindowedChunker, SNIFF_LEN};
use crate::layout::{tsdb, BlockInfo, Excluded, Layout, Reason};
use crate::progress::Progress;
use crate::repo::blob::{self, BlobKind, EncodedBlob};
use crate::repo::packer::{save_index_for, Packer};
use crate::repo::s3::{S3Config, S3};
use crate::repo::snapshot::TenantBlocks;
use crate::repo::snapshot::{self, Snapshot, Summary};
use crate::repo::tree::{Node, NodeKind, Tree};
use crate::repo::{Id, Repository};
use crate::source::local::LocalTree;
use crate::source::s3::S3Tree;
use crate::source::{local, SourceEntry, SourceTree, StdinSource};

/// Window of a file read at once by one worker (raised to 4 × the largest chunk).
const WINDOW: usize = 16 << 20;
/// Changed files queued ahead of the workers.
const JOB_QUEUE: usize = 64;
/// Packs per index file.
const PACKS_PER_INDEX: usize = 256;

#[derive(Default)]
pub struct BackupOptions {
    pub sources: Vec<PathBuf>,
    pub stdin: Option<StdinSource>,
    pub tags: Vec<String>,
    pub host: Option<String>,
    /// Snapshot to compare against (`latest`, id or prefix); by default the newest snapshot
    /// with the same host and sources.
    pub parent: Option<String>,
    /// Read every file even if the parent says it is unchanged.
    pub force: bool,
    /// `None`: detect per source.
    pub layout: Option<Layout>,
    pub progress: bool,
    /// Called before each file is opened (tests use it to change the source mid-backup).
    pub before_open: Option<fn(&Path)>,
    /// Back up only this stable share of the sources (TSDB blocks whole, other files by
    /// path), as one of N workers whose snapshots form one logical snapshot.
    pub shard: Option<crate::repo::snapshot::Shard>,
    /// How to reach S3 for `s3://` sources.
    pub s3: S3Config,
    /// Objects read at once (default: one per core, 8 when a source is in S3, where reads
    /// wait on the network). Each reader holds one 16 MiB window.
    pub readers: Option<usize>,
    /// Named remotes for `remote:NAME` sources.
    pub user_config: crate::userconfig::UserConfig,
}

/// What a backup did. Printed as the last line of `backup --json`.
#[derive(Serialize, Debug, Clone)]
pub struct BackupReport {
    pub snapshot_id: String,
    pub parent: Option<String>,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub blobs_new: u64,
    /// New blobs stored as deltas against similar stored chunks.
    pub deltas_new: u64,
    pub total_files: u64,
    pub total_bytes: u64,
    /// Complete TSDB blocks in the snapshot.
    pub blocks: u64,
    /// Blocks left out, by reason.
    pub excluded_partial: u64,
    pub excluded_corrupted: u64,
    pub excluded_deletion_marked: u64,
    /// Regenerated bookkeeping left out (`markers/`, `bucket-index.json.gz`).
    pub bookkeeping_skipped: u64,
    /// Objects that could not be read; they are missing from the snapshot.
    pub errors: Vec<String>,
    /// Expected events of a live bucket (a block deleted while being read), not errors.
    pub notices: Vec<String>,
    /// Corrupted blocks, with what is wrong.
    pub corrupted: Vec<String>,
}

struct Ctx {
    repo: Arc<Repository>,
    profiles: Profiles,
    packer: Sender<EncodedBlob>,
    claimed: Mutex<HashSet<Id>>,
    fatal: Mutex<Option<anyhow::Error>>,
    warnings: Mutex<Vec<String>>,
    notices: Mutex<Vec<String>>,
    blocks: Mutex<Vec<BlockInfo>>,
    excluded: Mutex<Vec<Excluded>>,
    bookkeeping: AtomicU64,
    before_open: Option<fn(&Path)>,
    shard: Option<crate::repo::snapshot::Shard>,
    files: AtomicU64,
    dirs: AtomicU64,
    bytes: AtomicU64,
    files_new: AtomicU64,
    files_changed: AtomicU64,
    files_unmodified: AtomicU64,
    blobs_new: AtomicU64,
    /// New chunks stored as deltas.
    deltas_new: AtomicU64,
    progress: Arc<crate::progress::Counters>,
    /// Chunk sequences of text objects, for finding delta bases (`None`: no deltas).
    successors: Option<Successors>,
    /// Resemblance sketches of stored text chunks, whole and delta (with `successors`).
    sketches: SketchIndex,
    /// Sketches of the text chunks this backup stores, written with the index.
    new_sketches: Mutex<Vec<(Id, Sketch)>>,
    gzip: bool,
}

impl Ctx {
    fn warn(&self, msg: String) {
        self.warnings.lock().push(msg);
    }

    fn fail(&self, e: anyhow::Error) {
        let mut f = self.fatal.lock();
        if f.is_none() {
            *f = Some(e);
        }
    }

    fn failed(&self) -> bool {
        self.fatal.lock().is_some()
    }

    /// True exactly once per blob id not yet in the repository: that caller stores it.
    fn claim(&self, id: &Id) -> bool {
        !self.repo.index().is_reusable(id) && self.claimed.lock().insert(*id)
    }

    /// Hash, and if new, compress, seal and queue one blob.
    fn store(&self, kind: BlobKind, data: &[u8]) -> anyhow::Result<Id> {
        let id = self.repo.blob_id(data);
        if self.claim(&id) {
            let b = self.repo.encode_blob(id, kind, data);
            self.packer.send(b).map_err(|_| anyhow::anyhow!("the pack writer stopped"))?;
            self.blobs_new.fetch_add(1, Relaxed);
        }
        Ok(id)
    }

    /// Compress, seal and queue a claimed blob: as a delta against a base when one was
    /// found and that pays. Returns whether it was stored whole.
    fn store_new(&self, id: Id, data: &[u8], found: Option<Found>, text: bool) -> anyhow::Result<bool> {
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
            self.deltas_new.fetch_add(1, Relaxed);
        }
        self.packer.send(b).map_err(|_| anyhow::anyhow!("the pack writer stopped"))?;
        self.blobs_new.fetch_add(1, Relaxed);
        Ok(whole)
    }

    /// Where a chunk similar to the stored chunk `old` may be a delta of: `old` itself, or
    /// its base when `old` is a delta (bases are always whole). `previous` is the chunk's
    /// likely previous version, kept when it is a delta of that base.
    fn base_for(&self, old: &Id, len: usize, previous: Option<Id>) -> Option<Found> {
        let idx = self.repo.index();
        let base = idx.base_of(old).unwrap_or(*old);
        let loc = idx.get(&base)?;
        let similar_size = (len / 4..=len.saturating_mul(4)).contains(&(loc.raw_len as usize));
        (idx.is_reusable(&base) && loc.compression != blob::Compression::Delta && similar_size)
            .then(|| Found { base, previous: previous.filter(|p| idx.base_of(p) == Some(base) && idx.is_reusable(p)) })
    }
}

/// A delta base found for a new chunk.
#[derive(Clone, Copy)]
struct Found {
    base: Id,
    /// The most similar stored chunk when it is a delta of `base`: likely the chunk's
    /// previous version, which tells drift from today's change.
    previous: Option<Id>,
}

/// Where a finished entry goes.
enum Up {
    Dir(Arc<DirState>, usize),
    Root(Sender<Option<Id>>),
}

/// A directory whose entries are still being backed up.
struct DirState {
    node: Node,
    slots: Mutex<Vec<Option<Node>>>,
    /// Unfinished entries, plus one held by the walker until it has listed them all.
    remaining: AtomicUsize,
    up: Up,
    /// A TSDB block: all of it goes into the snapshot, or none of it.
    block: Option<BlockInfo>,
    /// Something in this block could not be read as listed.
    failed: std::sync::atomic::AtomicBool,
}

impl DirState {
    fn new(node: Node, n: usize, up: Up) -> Arc<DirState> {
        Self::new_block(node, n, up, None)
    }

    fn new_block(node: Node, n: usize, up: Up, block: Option<BlockInfo>) -> Arc<DirState> {
        Arc::new(DirState {
            node,
            slots: Mutex::new(vec![None; n]),
            remaining: AtomicUsize::new(n + 1),
            up,
            block,
            failed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The TSDB block directory this directory is in (or is), if any.
    fn enclosing_block(self: &Arc<Self>) -> Option<Arc<DirState>> {
        let mut d = self.clone();
        loop {
            if d.block.is_some() {
                return Some(d);
            }
            let next = match &d.up {
                Up::Dir(p, _) => p.clone(),
                Up::Root(_) => return None,
            };
            d = next;
        }
    }

    /// Mark the enclosing block (if any) as failed; true if there was one.
    fn fail_block(self: &Arc<Self>) -> bool {
        self.enclosing_block().map(|b| b.failed.store(true, SeqCst)).is_some()
    }
}

/// Record a finished entry (or `None` if it was skipped); seal the directory when it was
/// the last one.
fn fill(ctx: &Ctx, dir: &Arc<DirState>, slot: usize, node: Option<Node>) {
    dir.slots.lock()[slot] = node;
    release(ctx, dir);
}

fn release(ctx: &Ctx, dir: &Arc<DirState>) {
    if dir.remaining.fetch_sub(1, SeqCst) != 1 {
        return;
    }
    let nodes: Vec<Node> = std::mem::take(&mut *dir.slots.lock()).into_iter().flatten().collect();
    let tree = Tree { nodes };
    let id = match ctx.store(BlobKind::Tree, &tree.to_bytes()) {
        Ok(id) => Some(id),
        Err(e) => {
            ctx.fail(e);
            None
        }
    };
    match &dir.up {
        Up::Dir(parent, slot) => {
            let mut node = id.map(|id| Node { subtree: Some(id), ..dir.node.clone() });
            if let Some(b) = &dir.block {
                if dir.failed.load(SeqCst) {
                    ctx.notices.lock().push(format!(
                        "block {} changed or disappeared while being read (compacted or deleted?); left out of this snapshot",
                        b.path
                    ));
                    node = None;
                } else if node.is_some() {
                    ctx.blocks.lock().push(b.clone());
                }
            }
            ctx.dirs.fetch_add(1, Relaxed);
            fill(ctx, parent, *slot, node)
        }
        Up::Root(tx) => {
            let _ = tx.send(id);
        }
    }
}

enum JobSource {
    Path(Arc<dyn SourceTree>, PathBuf),
    Reader(Box<dyn Read + Send>),
}

struct FileJob {
    source: JobSource,
    node: Node,
    dir: Arc<DirState>,
    slot: usize,
}

fn node_of(e: &SourceEntry, kind: NodeKind) -> Node {
    Node {
        name: e.name.clone(),
        kind,
        size: e.size,
        mtime_ns: e.mtime_ns,
        mode: e.mode,
        content: vec![],
        subtree: None,
        target: e.target.clone(),
        etag: e.etag.clone(),
        gzip: None,
        text: false,
    }
}

/// One source of a backup, resolved.
enum Top {
    Tree { src: Arc<dyn SourceTree>, path: PathBuf },
    Stdin,
}

/// Back up `opts` into `repo` and write a snapshot.
pub fn backup(repo: Arc<Repository>, mut opts: BackupOptions) -> anyhow::Result<BackupReport> {
    // Resolve sources (local paths, s3:// URLs) to trees and their top-level names.
    let mut tops: Vec<(Vec<u8>, Top)> = Vec::new();
    let mut source_names: Vec<String> = Vec::new();
    let mut s3: Option<Arc<S3>> = None;
    for s in &opts.sources {
        let text = s.to_string_lossy();
        if let crate::location::Location::S3(url, cfg) = crate::location::resolve(&text, &opts.s3, &opts.user_config)? {
            let client = S3::connect(&cfg)?;
            s3 = Some(client.clone());
            let tree = S3Tree::list(client, url.clone()).with_context(|| format!("source {url}"))?;
            let name =
                url.prefix.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&url.bucket).as_bytes().to_vec();
            tops.push((name, Top::Tree { src: Arc::new(tree), path: PathBuf::new() }));
            source_names.push(url.to_string());
            continue;
        }
        let abs = std::path::absolute(s).with_context(|| format!("source {}", s.display()))?;
        std::fs::symlink_metadata(&abs).with_context(|| format!("source {} cannot be read", s.display()))?;
        let name = local::top_name(&abs)
            .ok_or_else(|| anyhow::anyhow!("source {} has no name to store it under", s.display()))?;
        tops.push((name, Top::Tree { src: Arc::new(LocalTree), path: abs.clone() }));
        source_names.push(abs.display().to_string());
    }
    if let Some(st) = &opts.stdin {
        if st.name.is_empty() || st.name.contains('/') || st.name == "." || st.name == ".." {
            bail!("--stdin-name {:?} must be a plain file name", st.name);
        }
        tops.push((st.name.as_bytes().to_vec(), Top::Stdin));
        source_names.push(format!("stdin:{}", st.name));
    }
    if tops.is_empty() {
        bail!("nothing to back up: give at least one source path or --stdin");
    }
    tops.sort_by(|a, b| a.0.cmp(&b.0));
    for w in tops.windows(2) {
        if w[0].0 == w[1].0 {
            bail!(
                "two sources would both be stored as {:?}; back them up separately",
                String::from_utf8_lossy(&w[0].0)
            );
        }
    }
    source_names.sort();
    let host = opts.host.clone().unwrap_or_else(snapshot::hostname);

    // Announce this backup before reading the index, so prune defers deleting any pack
    // this backup might deduplicate against.
    let mut writer = repo.register_writer()?;
    repo.load_index()?;
    writer.saw(repo.seen_deletions())?;
    let parent = find_parent(&repo, &opts, &host, &source_names)?;
    let parent_root = match &parent {
        Some((_, s)) => Some(repo.read_tree(&s.tree).context("reading the parent snapshot's tree")?),
        None => None,
    };

    let progress = Progress::new(opts.progress, "backup");
    let packer = Packer::start(repo.clone());
    let ctx = Arc::new(Ctx {
        profiles: Profiles::new(&repo.settings().chunkers)?,
        repo: repo.clone(),
        packer: packer.sender(),
        claimed: Mutex::new(HashSet::new()),
        fatal: Mutex::new(None),
        warnings: Mutex::new(Vec::new()),
        notices: Mutex::new(Vec::new()),
        blocks: Mutex::new(Vec::new()),
        excluded: Mutex::new(Vec::new()),
        bookkeeping: AtomicU64::new(0),
        before_open: opts.before_open,
        shard: opts.shard.clone(),
        files: AtomicU64::new(0),
        dirs: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        files_new: AtomicU64::new(0),
        files_changed: AtomicU64::new(0),
        files_unmodified: AtomicU64::new(0),
        blobs_new: AtomicU64::new(0),
        deltas_new: AtomicU64::new(0),
        progress: progress.counters.clone(),
        successors: repo.settings().deltas.then(Successors::default),
        sketches: {
            let s = SketchIndex::default();
            if repo.settings().deltas {
                let idx = repo.index();
                for (id, sk) in repo.load_sketches()? {
                    s.add(id, &sk, idx.base_of(&id).is_none());
                }
            }
            s
        },
        new_sketches: Mutex::new(Vec::new()),
        gzip: repo.settings().gzip_transparent,
    });

    let (job_tx, job_rx) = bounded::<FileJob>(JOB_QUEUE);
    let readers = opts.readers.unwrap_or(if s3.is_some() { 8 } else { rayon::current_num_threads() }).max(1);
    let workers: Vec<_> = (0..readers)
        .map(|i| {
            let (ctx, rx) = (ctx.clone(), job_rx.clone());
            std::thread::Builder::new()
                .name(format!("cellar-read-{i}"))
                .spawn(move || {
                    // One window buffer per worker, reused for every file.
                    let mut window = Vec::new();
                    for job in rx {
                        run_job(&ctx, job, &mut window);
                    }
                })
                .expect("spawn worker")
        })
        .collect();
    drop(job_rx);

    let (root_tx, root_rx) = bounded(1);
    let root = DirState::new(Node::root_dir(None), tops.len(), Up::Root(root_tx));
    let mut stdin = opts.stdin.take();
    for (i, (name, top)) in tops.iter().enumerate() {
        let prev = parent_root.as_ref().and_then(|t| t.find(name));
        match top {
            Top::Stdin => {
                let st = stdin.take().expect("stdin source");
                let e = SourceEntry {
                    name: name.clone(),
                    kind: Some(NodeKind::File),
                    size: 0,
                    mtime_ns: now_ns(),
                    mode: 0o644,
                    target: None,
                    etag: None,
                };
                ctx.files_new.fetch_add(1, Relaxed);
                ctx.files.fetch_add(1, Relaxed);
                let job = FileJob {
                    source: JobSource::Reader(st.reader),
                    node: node_of(&e, NodeKind::File),
                    dir: root.clone(),
                    slot: i,
                };
                send_job(&ctx, &job_tx, job);
            }
            Top::Tree { src, path } => {
                let layout = match opts.layout {
                    _ if !src.is_dir(path) => Layout::Files,
                    Some(Layout::Mimir) | Some(Layout::Prometheus) => {
                        crate::layout::detect::refine_tsdb(src.as_ref(), path)
                    }
                    Some(l) => l,
                    None => crate::layout::detect(src.as_ref(), path),
                };
                let snap = String::from_utf8_lossy(name).into_owned();
                let at = At { src, path, name, snap, prev, role: Role::for_layout(layout), block: None };
                walk_entry(&ctx, at, &root, i, &job_tx);
            }
        }
    }
    release(&ctx, &root);
    drop(job_tx);
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a backup worker panicked"))?;
    }
    let root_id = root_rx.recv().ok().flatten();
    drop(root);
    // The manifest's block lists, one blob per tenant: unchanged tenants deduplicate.
    let tenants = match block_lists(&ctx) {
        Ok(t) => t,
        Err(e) => {
            ctx.fail(e);
            vec![]
        }
    };
    let ctx = Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("internal error: backup context still shared"))?;
    let ctx_deltas = ctx.deltas_new.load(Relaxed);
    let mut summary = Summary {
        files: ctx.files.load(Relaxed),
        dirs: ctx.dirs.load(Relaxed),
        bytes: ctx.bytes.load(Relaxed),
        files_new: ctx.files_new.load(Relaxed),
        files_changed: ctx.files_changed.load(Relaxed),
        files_unmodified: ctx.files_unmodified.load(Relaxed),
        bytes_read: progress.counters.bytes.load(Relaxed),
        bytes_added: 0,
        blobs_new: ctx.blobs_new.load(Relaxed),
        errors: 0,
    };
    let Ctx { packer: packer_tx, fatal, warnings, notices, excluded, bookkeeping, blocks, new_sketches, .. } = ctx;
    drop(packer_tx);
    let packed = packer.finish();
    progress.finish();
    // The packer's own error is the root cause when it stopped (e.g. disk full); workers
    // then only saw "the pack writer stopped".
    let packed = packed.context("writing packs failed; no snapshot was written")?;
    if let Some(e) = fatal.into_inner() {
        return Err(e.context("backup failed; no snapshot was written"));
    }
    let root_id = root_id.ok_or_else(|| anyhow::anyhow!("internal error: no root tree"))?;
    let index_bytes = save_index_for(&repo, packed.packs, PACKS_PER_INDEX)?;
    let new_sketches = new_sketches.into_inner();
    if !new_sketches.is_empty() {
        repo.save_sketches(&new_sketches)?;
    }

    let warnings = warnings.into_inner();
    let mut excluded = excluded.into_inner();
    excluded.sort_by(|a, b| a.path.cmp(&b.path));
    summary.errors = warnings.len() as u64;
    summary.bytes_added = packed.bytes_written + index_bytes;
    let snap = Snapshot {
        version: 1,
        time: snapshot::now_rfc3339(),
        host,
        user: std::env::var("USER").unwrap_or_default(),
        tags: opts.tags.clone(),
        sources: source_names,
        tree: root_id,
        parent: parent.as_ref().map(|(id, _)| *id),
        summary: summary.clone(),
        program: format!("cellar {}", env!("CARGO_PKG_VERSION")),
        tenants,
        excluded: excluded.clone(),
        shard: opts.shard.clone(),
        thinned: None,
    };
    let (snap_id, snap_bytes) = repo.save_snapshot(&snap)?;
    Ok(BackupReport {
        snapshot_id: snap_id.to_hex(),
        parent: parent.map(|(id, _)| id.to_hex()),
        files_new: summary.files_new,
        files_changed: summary.files_changed,
        files_unmodified: summary.files_unmodified,
        dirs: summary.dirs,
        bytes_read: summary.bytes_read,
        bytes_added: summary.bytes_added + snap_bytes,
        blobs_new: summary.blobs_new,
        deltas_new: ctx_deltas,
        total_files: summary.files,
        total_bytes: summary.bytes,
        blocks: blocks.into_inner().len() as u64,
        excluded_partial: excluded.iter().filter(|e| e.reason == Reason::Partial).count() as u64,
        excluded_corrupted: excluded.iter().filter(|e| e.reason == Reason::Corrupted).count() as u64,
        excluded_deletion_marked: excluded.iter().filter(|e| e.reason == Reason::DeletionMarked).count() as u64,
        bookkeeping_skipped: bookkeeping.into_inner(),
        corrupted: excluded
            .iter()
            .filter(|e| e.reason == Reason::Corrupted)
            .map(|e| format!("{}: {}", e.path, e.detail))
            .collect(),
        errors: warnings,
        notices: notices.into_inner(),
    })
}

/// Group the snapshot's blocks by tenant directory and store each group's list as a blob.
fn block_lists(ctx: &Ctx) -> anyhow::Result<Vec<TenantBlocks>> {
    let mut by_tenant: std::collections::BTreeMap<String, Vec<BlockInfo>> = Default::default();
    for b in ctx.blocks.lock().iter() {
        let dir = b.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("").to_string();
        by_tenant.entry(dir).or_default().push(b.clone());
    }
    let mut out = vec![];
    for (path, mut blocks) in by_tenant {
        blocks.sort_by(|a, b| a.ulid.cmp(&b.ulid));
        let list = ctx.store(BlobKind::Tree, &serde_json::to_vec(&blocks)?)?;
        out.push(TenantBlocks {
            path,
            tenant: blocks[0].tenant.clone(),
            blocks: blocks.len() as u64,
            min_time: blocks.iter().map(|b| b.min_time).min().unwrap_or(0),
            max_time: blocks.iter().map(|b| b.max_time).max().unwrap_or(0),
            list,
        });
    }
    Ok(out)
}

fn now_ns() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos()) as i64
}

fn find_parent(
    repo: &Repository,
    opts: &BackupOptions,
    host: &str,
    sources: &[String],
) -> anyhow::Result<Option<(Id, Snapshot)>> {
    if opts.force {
        return Ok(None);
    }
    if let Some(p) = &opts.parent {
        return repo.resolve_snapshot(p).map(Some);
    }
    // Shards run on changing hosts (pods): their parent is the same shard of the sources.
    Ok(repo.list_snapshots()?.into_iter().rev().find(|(_, s)| {
        s.sources == sources
            && match (&opts.shard, &s.shard) {
                (Some(a), Some(b)) => a.index == b.index && a.count == b.count,
                (None, None) => s.host == host,
                _ => false,
            }
    }))
}

fn send_job(ctx: &Ctx, tx: &Sender<FileJob>, job: FileJob) {
    if let Err(e) = tx.send(job) {
        // Workers are gone only after a panic; account for the slot so trees still close.
        let job = e.into_inner();
        ctx.fail(anyhow::anyhow!("backup workers stopped"));
        fill(ctx, &job.dir, job.slot, None);
    }
}

/// What a directory is, in the source's layout.
#[derive(Clone)]
enum Role {
    Plain,
    /// Mimir bucket root: each subdirectory is a tenant.
    TsdbRoot,
    /// Holds blocks (a Mimir tenant, or a Prometheus/Thanos root with tenant `""`).
    Tenant(String),
    /// Loki bucket root: `index/` is listed before the chunk directories.
    LokiRoot,
}

impl Role {
    fn for_layout(l: Layout) -> Role {
        match l {
            Layout::Files => Role::Plain,
            Layout::Mimir => Role::TsdbRoot,
            Layout::Prometheus => Role::Tenant(String::new()),
            Layout::Loki => Role::LokiRoot,
        }
    }
}

/// Where an entry is and what it is for the walker.
struct At<'a> {
    src: &'a Arc<dyn SourceTree>,
    path: &'a Path,
    name: &'a [u8],
    /// Path inside the snapshot, for messages and the manifest.
    snap: String,
    prev: Option<&'a Node>,
    role: Role,
    block: Option<BlockInfo>,
}

fn child_snap(parent: &str, name: &[u8]) -> String {
    format!("{parent}/{}", String::from_utf8_lossy(name))
}

/// Back up one directory entry (recursing into directories) into `dir[slot]`.
fn walk_entry(ctx: &Ctx, at: At, dir: &Arc<DirState>, slot: usize, jobs: &Sender<FileJob>) {
    let path = at.path;
    if ctx.failed() {
        return fill(ctx, dir, slot, None);
    }
    let src = at.src;
    let e = match src.stat(path, at.name) {
        Ok(e) => e,
        Err(err) => {
            if err.kind() == std::io::ErrorKind::NotFound && dir.fail_block() {
                return fill(ctx, dir, slot, None);
            }
            ctx.warn(format!("{}: {err}", src.display(path)));
            return fill(ctx, dir, slot, None);
        }
    };
    let prev = at.prev;
    match e.kind {
        Some(NodeKind::File)
            if ctx.shard.as_ref().is_some_and(|sh| dir.enclosing_block().is_none() && !sh.takes(&at.snap)) =>
        {
            fill(ctx, dir, slot, None)
        }
        Some(NodeKind::File) => {
            let mut node = node_of(&e, NodeKind::File);
            ctx.files.fetch_add(1, Relaxed);
            ctx.progress.files.fetch_add(1, Relaxed);
            ctx.bytes.fetch_add(e.size, Relaxed);
            if let Some(p) = prev.filter(|p| unchanged(ctx, p, &node)) {
                node.content = p.content.clone();
                node.gzip = p.gzip.clone();
                node.text = p.text;
                if let Some(s) = ctx.successors.as_ref().filter(|_| p.text) {
                    s.record(None, &p.content);
                }
                ctx.files_unmodified.fetch_add(1, Relaxed);
                return fill(ctx, dir, slot, Some(node));
            }
            if prev.is_some_and(|p| p.kind == NodeKind::File) {
                ctx.files_changed.fetch_add(1, Relaxed);
            } else {
                ctx.files_new.fetch_add(1, Relaxed);
            }
            let job =
                FileJob { source: JobSource::Path(src.clone(), path.to_path_buf()), node, dir: dir.clone(), slot };
            send_job(ctx, jobs, job);
        }
        Some(NodeKind::Symlink) => fill(ctx, dir, slot, Some(node_of(&e, NodeKind::Symlink))),
        Some(NodeKind::Dir) => {
            let mut entries = match src.read_dir(path) {
                Ok(v) => v,
                Err(err) => {
                    if err.kind() == std::io::ErrorKind::NotFound && dir.fail_block() {
                        return fill(ctx, dir, slot, None);
                    }
                    ctx.warn(format!("{}: {err}", src.display(path)));
                    return fill(ctx, dir, slot, None);
                }
            };
            let prev_tree = prev.and_then(|p| p.subtree).and_then(|id| match ctx.repo.read_tree(&id) {
                Ok(t) => Some(t),
                Err(err) => {
                    ctx.warn(format!("parent tree of {} unreadable, reading everything: {err:#}", src.display(path)));
                    None
                }
            });
            let me =
                DirState::new_block(node_of(&e, NodeKind::Dir), entries.len(), Up::Dir(dir.clone(), slot), at.block);
            // Slots follow name order; the visiting order may differ (Loki: index first).
            let mut order: Vec<usize> = (0..entries.len()).collect();
            if matches!(at.role, Role::LokiRoot) {
                order.sort_by_key(|&i| entries[i].0 != crate::layout::loki::INDEX_DIR);
            }
            let marked = match &at.role {
                Role::Tenant(_) => entries
                    .iter()
                    .find(|(n, _)| n == tsdb::MARKERS_DIR.as_bytes())
                    .and_then(|(_, p)| src.read_dir(p).ok())
                    .map(|m| tsdb::marked_ulids(m.iter().map(|(n, _)| n.as_slice())))
                    .unwrap_or_default(),
                _ => Default::default(),
            };
            for i in order {
                let (child_name, child_path) = std::mem::take(&mut entries[i]);
                let snap = child_snap(&at.snap, &child_name);
                let p = prev_tree.as_ref().and_then(|t| t.find(&child_name));
                let mut child =
                    At { src, path: &child_path, name: &child_name, snap, prev: p, role: Role::Plain, block: None };
                match &at.role {
                    Role::TsdbRoot if src.is_dir(&child_path) => {
                        child.role = Role::Tenant(String::from_utf8_lossy(&child_name).into_owned());
                    }
                    Role::Tenant(tenant) => {
                        if child_name == tsdb::MARKERS_DIR.as_bytes()
                            || tsdb::BUCKET_INDEX.iter().any(|b| child_name == b.as_bytes())
                        {
                            ctx.bookkeeping.fetch_add(1, Relaxed);
                            fill(ctx, &me, i, None);
                            continue;
                        }
                        if tsdb::is_ulid(&child_name) && src.is_dir(&child_path) {
                            if ctx.shard.as_ref().is_some_and(|sh| !sh.takes(&child.snap)) {
                                fill(ctx, &me, i, None);
                                continue;
                            }
                            let ulid = String::from_utf8_lossy(&child_name).into_owned();
                            match classify_block(
                                src.as_ref(),
                                &child_path,
                                &child.snap,
                                tenant,
                                &ulid,
                                marked.contains(&ulid),
                            ) {
                                Some(tsdb::Verdict::Complete(info)) => child.block = Some(info),
                                Some(tsdb::Verdict::Excluded(reason, detail)) => {
                                    ctx.excluded.lock().push(Excluded {
                                        path: child.snap.clone(),
                                        tenant: tenant.clone(),
                                        ulid,
                                        reason,
                                        detail,
                                    });
                                    fill(ctx, &me, i, None);
                                    continue;
                                }
                                None => {
                                    ctx.notices
                                        .lock()
                                        .push(format!("block {} disappeared while being listed; left out", child.snap));
                                    fill(ctx, &me, i, None);
                                    continue;
                                }
                            }
                        }
                    }
                    _ => {}
                }
                walk_entry(ctx, child, &me, i, jobs);
            }
            release(ctx, &me);
        }
        None => fill(ctx, dir, slot, None),
    }
}

/// List a block directory once and judge it; `None` if it vanished meanwhile.
fn classify_block(
    src: &dyn SourceTree,
    dir: &Path,
    snap: &str,
    tenant: &str,
    ulid: &str,
    marked: bool,
) -> Option<tsdb::Verdict> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let entries = match src.read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => return None,
            Err(_) => continue,
        };
        for (n, p) in entries {
            let r = format!("{rel}{}", String::from_utf8_lossy(&n));
            match src.stat(&p, &n) {
                Ok(e) if e.kind == Some(NodeKind::Dir) => stack.push((p, format!("{r}/"))),
                Ok(e) => {
                    files.insert(r, e.size);
                }
                Err(_) => {}
            }
        }
    }
    let meta = if files.contains_key("meta.json") { src.read_all(&dir.join("meta.json")).ok() } else { None };
    Some(tsdb::classify(snap, tenant, ulid, &files, meta.as_deref(), marked))
}

/// Same size and mtime as in the parent, and all of its data still in the repository.
fn unchanged(ctx: &Ctx, prev: &Node, now: &Node) -> bool {
    // S3 objects are immutable: key, size and ETag identify the content. Files: size, mtime.
    let same = match &now.etag {
        Some(etag) => prev.etag.as_ref() == Some(etag),
        None => prev.mtime_ns == now.mtime_ns,
    };
    prev.kind == NodeKind::File && prev.size == now.size && same && {
        let idx = ctx.repo.index();
        prev.data_blobs().all(|id| idx.is_reusable(id))
    }
}

fn run_job(ctx: &Ctx, job: FileJob, window: &mut Vec<u8>) {
    let FileJob { source, mut node, dir, slot } = job;
    if ctx.failed() {
        return fill(ctx, &dir, slot, None);
    }
    let label = String::from_utf8_lossy(&node.name).into_owned();
    let mut source_again = None;
    let (reader, path): (Box<dyn Read + Send>, Option<String>) = match source {
        JobSource::Path(src, p) => {
            if let Some(hook) = ctx.before_open {
                hook(&p);
            }
            match src.open(&p) {
                Ok(f) => {
                    let shown = src.display(&p);
                    source_again = Some((src, p));
                    (f, Some(shown))
                }
                Err(e) => {
                    // A block the compactor deleted under us: drop the block, not an error.
                    if !(e.kind() == std::io::ErrorKind::NotFound && dir.fail_block()) {
                        ctx.warn(format!("{}: {e}", src.display(&p)));
                    }
                    return fill(ctx, &dir, slot, None);
                }
            }
        }
        JobSource::Reader(r) => (r, None),
    };
    let mut reader = reader;
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    let result = match ((&mut reader).take(SNIFF_LEN as u64).read_to_end(&mut prefix), source_again) {
        (Err(e), _) => Err(ChunkError::Read(e)),
        // Gzip-transparent only where the source can be read again if decoding fails.
        (Ok(_), Some(again)) if ctx.gzip && crate::gzip::header_len(&prefix).is_ok_and(|h| h.is_some()) => {
            chunk_gzip(ctx, std::io::Cursor::new(prefix).chain(reader), again, window, &mut node)
        }
        (Ok(_), _) => chunk_stream(ctx, &mut std::io::Cursor::new(prefix).chain(reader), window),
    };
    match result {
        Ok((content, size, text)) => {
            node.text = text && ctx.successors.is_some();
            if let Some(p) = &path {
                if size != node.size && dir.fail_block() {
                    return fill(ctx, &dir, slot, None);
                }
                if size != node.size {
                    ctx.warn(format!(
                        "{}: changed while being read ({} → {} bytes); stored as read",
                        p, node.size, size
                    ));
                    ctx.bytes.fetch_add(size.wrapping_sub(node.size), Relaxed);
                }
            } else {
                ctx.bytes.fetch_add(size, Relaxed);
            }
            node.size = size;
            node.content = content;
            fill(ctx, &dir, slot, Some(node))
        }
        Err(ChunkError::Read(e)) => {
            dir.fail_block();
            let what = path.unwrap_or(label);
            ctx.warn(format!("{what}: {e}"));
            fill(ctx, &dir, slot, None)
        }
        Err(ChunkError::Store(e)) => {
            ctx.fail(e);
            fill(ctx, &dir, slot, None)
        }
    }
}

enum ChunkError {
    /// The source failed: skip the object, keep going.
    Read(std::io::Error),
    /// The repository failed: stop the backup.
    Store(anyhow::Error),
}

/// Cut, hash, deduplicate and store one object; returns its chunk ids, its length and
/// whether it was cut as text (and so offers its chunks as delta bases).
fn chunk_stream(ctx: &Ctx, reader: &mut dyn Read, window: &mut Vec<u8>) -> Result<(Vec<Id>, u64, bool), ChunkError> {
    // The first bytes choose the chunker profile (text or binary).
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    reader.take(SNIFF_LEN as u64).read_to_end(&mut prefix).map_err(ChunkError::Read)?;
    let chunking = ctx.profiles.for_prefix(&prefix);
    let text = looks_like_text(&prefix);
    let successors = ctx.successors.as_ref().filter(|_| text);
    let mut walker = BaseWalker::default();
    let mut wc = WindowedChunker::new(std::io::Cursor::new(prefix).chain(reader), chunking, WINDOW, window);
    let mut ids: Vec<Id> = Vec::new();
    loop {
        let before = wc.bytes_read();
        let batch = match wc.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err(ChunkError::Read(e)),
        };
        let chunks = batch.chunks();
        // Sketches only for chunks the repository lacks (the ones that may become deltas).
        let hash = |c: &[u8]| {
            let id = ctx.repo.blob_id(c);
            (id, successors.filter(|_| !ctx.repo.index().is_reusable(&id)).map(|_| sketch(c)))
        };
        let hashed: Vec<(Id, Option<Sketch>)> =
            if chunks.len() == 1 { vec![hash(chunks[0])] } else { chunks.par_iter().map(|c| hash(c)).collect() };
        let batch_ids: Vec<Id> = hashed.iter().map(|h| h.0).collect();
        // In order: which chunks are new, and the base each new one may be a delta of.
        let mut new = Vec::new();
        for (i, (id, sk)) in hashed.iter().enumerate() {
            let claimed = ctx.claim(id);
            let aligned = successors.and_then(|s| walker.step(s, *id, !claimed));
            if !claimed {
                continue;
            }
            let base = sk.as_ref().and_then(|sk| {
                let len = chunks[i].len();
                // Most similar by content, else the old chunk at the same place. (A weaker
                // fallback, such as the previous chunk's base, was measured to cost more:
                // a mediocre delta also keeps the chunk from becoming a good future base.)
                // The newest version of this content tells how stale the base has become.
                let previous = ctx.sketches.newest_version(sk);
                ctx.sketches
                    .most_similar(sk)
                    .and_then(|o| ctx.base_for(&o, len, previous))
                    .or_else(|| aligned.and_then(|o| ctx.base_for(&o, len, Some(o))))
            });
            new.push((i, base, *sk));
        }
        let store = |&(i, found, sk): &(usize, Option<Found>, Option<Sketch>)| {
            ctx.store_new(batch_ids[i], chunks[i], found, sk.is_some())
        };
        let stored: anyhow::Result<Vec<bool>> =
            if new.len() == 1 { store(&new[0]).map(|w| vec![w]) } else { new.par_iter().map(store).collect() };
        // Sketches of the new text chunks (whole ones are bases, deltas the newest version of
        // their content), in object order: the same data always indexes the same way.
        for (&(i, _, sk), whole) in new.iter().zip(stored.map_err(ChunkError::Store)?) {
            if let Some(s) = sk {
                ctx.sketches.add(batch_ids[i], &s, whole);
                ctx.new_sketches.lock().push((batch_ids[i], s));
            }
        }
        if let Some(s) = successors {
            s.record(ids.last().copied(), &batch_ids);
        }
        ids.extend(batch_ids);
        ctx.progress.bytes.fetch_add(wc.bytes_read() - before, Relaxed);
    }
    Ok((ids, wc.bytes_read(), text))
}

/// Store a gzip object as decoded text and set its recipe on `node`; when it cannot be
/// recreated bit-exactly, read the source again and store it raw.
fn chunk_gzip(
    ctx: &Ctx,
    reader: impl Read,
    (src, p): (Arc<dyn SourceTree>, PathBuf),
    window: &mut Vec<u8>,
    node: &mut Node,
) -> Result<(Vec<Id>, u64, bool), ChunkError> {
    let mut dec = crate::gzip::Decoder::new(reader);
    let r = chunk_stream(ctx, &mut dec, window);
    // Progress counts source bytes, not decoded ones.
    ctx.progress.bytes.fetch_sub(dec.emitted(), Relaxed);
    match r {
        Ok((content, _, text)) => {
            let (recipe, size) = gzip_recipe(ctx, dec.finish()).map_err(ChunkError::Store)?;
            ctx.progress.bytes.fetch_add(size, Relaxed);
            node.gzip = Some(recipe);
            Ok((content, size, text))
        }
        Err(ChunkError::Read(e)) if e.get_ref().is_some_and(|i| i.is::<crate::gzip::NotReproducible>()) => {
            ctx.notices.lock().push(format!("{}: {e}; stored as raw bytes", src.display(&p)));
            let mut again = src.open(&p).map_err(ChunkError::Read)?;
            chunk_stream(ctx, &mut again, window)
        }
        Err(e) => Err(e),
    }
}

/// Store a decoded gzip object's corrections; returns the recipe and the object's size.
fn gzip_recipe(ctx: &Ctx, d: crate::gzip::Decoded) -> anyhow::Result<(crate::gzip::Recipe, u64)> {
    let mut recipe = crate::gzip::Recipe { content_len: d.plain + d.tail, members: vec![] };
    let mut size = d.tail;
    for dm in d.members {
        size += (dm.header.len() + dm.trailer.len()) as u64;
        let mut m = crate::gzip::Member { header: dm.header, segments: vec![], trailer: dm.trailer };
        for (plain, corrections) in dm.segments {
            m.segments.push(crate::gzip::Segment { plain, corrections: ctx.store(BlobKind::Data, &corrections)? });
        }
        recipe.members.push(m);
    }
    Ok((recipe, size + d.deflate))
}
