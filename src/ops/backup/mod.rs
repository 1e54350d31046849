//! Backup: list → skip unchanged (parent) → read → chunk → hash → dedup → compress →
//! encrypt → pack → write.
//!
//! Stages and their bounds:
//! - the walker (calling thread, [`walker`]) lists directories depth-first and sends
//!   changed files into a bounded job queue; unchanged files are taken from the parent
//!   snapshot's trees ([`parent`]);
//! - readers (one per core, more for S3; [`file_saver`]) read a file window by window
//!   (bounded buffer), cut chunks, and hand the window's chunks to rayon for hashing,
//!   compression ([`delta`] for text) and sealing;
//! - the packer thread (bounded queue) fills packs and writes them;
//! - trees are sealed bottom-up as their entries finish ([`tree_saver`]).

mod ctx;
mod delta;
pub mod exclude;
mod file_saver;
mod parent;
mod send_log;
mod series;
mod tree_saver;
mod walker;

use crate::notice::NoticeExt;
use anyhow::{bail, Context};
use crossbeam_channel::bounded;
use serde::Serialize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::layout::{Layout, Role};
use crate::progress::Progress;
use crate::repo::file::snapshot::{self, Reason, Shard, Snapshot, Summary};
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::packer::Packer;
use crate::repo::Repository;
use crate::source::{Input, Source};
use ctx::Ctx;
use file_saver::{FileJob, JobSource};
use tree_saver::{DirState, Up};

/// Changed files queued ahead of the readers.
const JOB_QUEUE: usize = 64;
/// Packs per index file.
const PACKS_PER_INDEX: usize = 256;

#[derive(Default)]
pub struct BackupOptions {
    /// What to back up, resolved ([`Source::resolve`]); each becomes one entry at the top
    /// of the snapshot.
    pub sources: Vec<Source>,
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
    /// Back up only this stable share of the sources (TSDB blocks whole, other files by
    /// path), as one of N workers whose snapshots form one logical snapshot.
    pub shard: Option<Shard>,
    /// Objects read at once (default: one per core, 8 when a source is in S3, where reads
    /// wait on the network). Each reader holds one 16 MiB window.
    pub readers: Option<usize>,
    /// What the operator leaves out (patterns, marker files).
    pub excludes: exclude::Excludes,
    /// Where an append-only key keeps its send log (default: in the cache directory).
    pub send_log: Option<std::path::PathBuf>,
}

/// What a backup did. Printed as the last line of `backup --json` (format-spec/json.md).
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
    /// Entries left out by `--exclude`, `--exclude-file` and `--exclude-if-present`.
    pub excluded_by_rule: u64,
    /// Objects that could not be read or stored; they are missing from the snapshot.
    pub errors: Vec<String>,
    /// Expected events of a live bucket (a block deleted while being read), not errors.
    pub notices: Vec<String>,
    /// Corrupted blocks, with what is wrong.
    pub corrupted: Vec<String>,
}

/// Back up `opts.sources` into `repo` and write a snapshot.
pub fn backup(repo: Arc<Repository>, mut opts: BackupOptions) -> anyhow::Result<BackupReport> {
    let mut sources = std::mem::take(&mut opts.sources);
    if sources.is_empty() {
        bail!("nothing to back up: give at least one source path or --stdin");
    }
    sources.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = sources.windows(2).find(|w| w[0].name == w[1].name) {
        bail!("two sources would both be stored as {:?}; back them up separately", String::from_utf8_lossy(&w[0].name));
    }
    let mut labels: Vec<String> = sources.iter().map(|s| s.label.clone()).collect();
    labels.sort();
    let host = opts.host.clone().unwrap_or_else(snapshot::hostname);

    // Announce this backup before reading the index, so prune defers deleting any pack
    // this backup might deduplicate against.
    let mut writer = repo.register_writer()?;
    repo.load_index()?;
    writer.saw(repo.seen_deletions())?;
    // An append-only key cannot read snapshots: its parent comes from the host's send log.
    let (send_log, parent, logged_trees) = if repo.append_only() {
        let log = send_log::SendLog::open(opts.send_log.clone(), &repo.config().id)
            .map_err(|e| repo.notices().warn(format!("{e:#}; every object is read again")))
            .ok();
        match log.as_ref().map(|l| parent::logged_parent(l, &opts, &host, &labels)).transpose()?.flatten() {
            Some((id, s, trees)) => (log, Some((id, s)), Some(trees)),
            None => (log, None, None),
        }
    } else {
        (None, parent::find_parent(&repo, &opts, &host, &labels)?, None)
    };
    let (parent, parent_root) = match parent {
        Some((id, s)) => match parent::read_tree(&repo, logged_trees.as_ref(), &s.tree) {
            Ok(t) => (Some((id, s)), Some(t)),
            // A damaged parent costs only the comparison: everything is read again.
            Err(e) => {
                repo.notices().warn(format!("parent snapshot {} unreadable, reading everything: {e}", id.short()));
                (None, None)
            }
        },
        None => (None, None),
    };

    let progress = Progress::new(opts.progress, "backup");
    let packer = Packer::start(repo.clone());
    let mut ctx =
        Ctx::new(repo.clone(), packer.sender(), opts.shard.clone(), opts.excludes.clone(), progress.counters.clone())?;
    if send_log.is_some() {
        ctx.parent_trees = logged_trees;
        ctx.sent_trees = Some(Default::default());
    }
    let ctx = Arc::new(ctx);
    for s in &sources {
        if let Input::Tree { tree, .. } = &s.input {
            for msg in tree.skipped() {
                ctx.warn(msg);
            }
            for msg in tree.notices() {
                ctx.notice(msg);
            }
        }
    }

    let (job_tx, job_rx) = bounded::<FileJob>(JOB_QUEUE);
    let remote = sources.iter().any(|s| matches!(&s.input, Input::Tree { tree, .. } if tree.is_remote()));
    let readers = opts.readers.unwrap_or(if remote { 8 } else { rayon::current_num_threads() }).max(1);
    let workers = spawn_readers(&ctx, &job_rx, readers);
    drop(job_rx);
    let (root_tx, root_rx) = bounded(1);
    let root = DirState::new(Node::root_dir(None), sources.len(), Up::Root(root_tx), None);
    for (i, src) in sources.into_iter().enumerate() {
        let prev = parent_root.as_ref().and_then(|t| t.find(&src.name)).cloned();
        feed(&ctx, src, prev, opts.layout, &root, i, &job_tx);
    }
    tree_saver::release(&ctx, &root);
    drop(job_tx);
    for w in workers {
        w.join().map_err(|_| anyhow::anyhow!("a backup reader panicked"))?;
    }
    let root_id = root_rx.recv().ok().flatten();
    drop(root);
    let tenants = tree_saver::block_lists(&ctx).unwrap_or_else(|e| {
        ctx.fail(e);
        vec![]
    });
    let ctx = Arc::try_unwrap(ctx).map_err(|_| anyhow::anyhow!("internal error: backup context still shared"))?;
    let fatal = ctx.take_fatal();
    let Ctx { packer: packer_tx, warnings, notices, excluded, blocks, new_sketches, count, sent_trees, .. } = ctx;
    drop(packer_tx);
    let packed = packer.finish();
    progress.finish();
    // The packer's own error is the root cause when it stopped (e.g. disk full); readers
    // then only saw "the pack writer stopped".
    let mut packed = packed.context("writing packs failed; no snapshot was written")?;
    // Indexed even when the backup failed: the next run reuses what was uploaded.
    let index_bytes = packed.index_rest(&repo, PACKS_PER_INDEX)?;
    if let Some(e) = fatal {
        return Err(e.context("backup failed; no snapshot was written"));
    }
    let root_id = root_id.ok_or_else(|| anyhow::anyhow!("internal error: no root tree"))?;
    let new_sketches = new_sketches.into_inner();
    if !new_sketches.is_empty() {
        repo.save_sketches(new_sketches)?;
    }

    let done = Finished {
        root: root_id,
        tenants,
        warnings: warnings.into_inner(),
        notices: notices.into_inner(),
        excluded: excluded.into_inner(),
        blocks: blocks.into_inner().len() as u64,
        count,
        bytes_read: progress.counters.bytes.load(Relaxed),
        bytes_added: packed.bytes_written + index_bytes,
    };
    if !writer.still_announced()? {
        anyhow::bail!(
            "no snapshot was written: a prune took this backup for gone (was it paused for minutes?) and may have \
             deleted data it uses; run the backup again"
        );
    }
    let sent = send_log.as_ref().map(|log| (log, sent_trees.map(parking_lot::Mutex::into_inner).unwrap_or_default()));
    write_snapshot(&repo, &opts, host, labels, parent.map(|(id, _)| id), done, sent)
}

/// What an append-only backup logs: the send log and the trees of the new snapshot.
type Sent<'a> = Option<(&'a send_log::SendLog, send_log::Trees)>;

/// What the pipeline produced, for the snapshot and the report.
struct Finished {
    root: crate::id::Id,
    tenants: Vec<crate::repo::file::snapshot::TenantBlocks>,
    warnings: Vec<String>,
    notices: Vec<String>,
    excluded: Vec<crate::repo::file::snapshot::Excluded>,
    blocks: u64,
    count: ctx::Counters,
    bytes_read: u64,
    bytes_added: u64,
}

/// Write the snapshot (last: everything it references is stored and indexed) and report.
fn write_snapshot(
    repo: &Repository,
    opts: &BackupOptions,
    host: String,
    labels: Vec<String>,
    parent: Option<crate::id::Id>,
    done: Finished,
    sent: Sent,
) -> anyhow::Result<BackupReport> {
    let Finished { root, tenants, mut warnings, notices, mut excluded, blocks, count, bytes_read, bytes_added } = done;
    excluded.sort_by(|a, b| a.path.cmp(&b.path));
    let summary = Summary {
        files: count.files.into_inner(),
        dirs: count.dirs.into_inner(),
        bytes: count.bytes.into_inner(),
        files_new: count.files_new.into_inner(),
        files_changed: count.files_changed.into_inner(),
        files_unmodified: count.files_unmodified.into_inner(),
        bytes_read,
        bytes_added,
        blobs_new: count.blobs_new.into_inner(),
        errors: warnings.len() as u64,
        repository_bytes: repo.index().stored_bytes(),
    };
    let snap = Snapshot {
        version: 1,
        time: snapshot::now_rfc3339(),
        host,
        user: std::env::var("USER").unwrap_or_default(),
        tags: opts.tags.clone(),
        sources: labels,
        tree: root,
        parent,
        summary: summary.clone(),
        program: format!("cellar {}", env!("CARGO_PKG_VERSION")),
        tenants,
        excluded: excluded.clone(),
        shard: opts.shard.clone(),
        thinned: None,
        repaired: None,
    };
    let (snap_id, snap_bytes) = repo.save_snapshot(&snap)?;
    if let Some((log, trees)) = sent {
        // The snapshot is written either way; without the log the next run reads all.
        let same = |s: &Snapshot| parent::same_series(opts, &snap.host, &snap.sources, s);
        if let Err(e) = log.record(&snap_id, &snap, &trees, same) {
            warnings.push(format!("send log not updated (the next backup reads everything again): {e:#}"));
        }
    }
    let by_reason = |r: Reason| excluded.iter().filter(|e| e.reason == r).count() as u64;
    Ok(BackupReport {
        snapshot_id: snap_id.to_hex(),
        parent: parent.map(|id| id.to_hex()),
        files_new: summary.files_new,
        files_changed: summary.files_changed,
        files_unmodified: summary.files_unmodified,
        dirs: summary.dirs,
        bytes_read: summary.bytes_read,
        bytes_added: summary.bytes_added + snap_bytes,
        blobs_new: summary.blobs_new,
        deltas_new: count.deltas_new.into_inner(),
        total_files: summary.files,
        total_bytes: summary.bytes,
        blocks,
        excluded_partial: by_reason(Reason::Partial),
        excluded_corrupted: by_reason(Reason::Corrupted),
        excluded_deletion_marked: by_reason(Reason::DeletionMarked),
        bookkeeping_skipped: count.bookkeeping.into_inner(),
        excluded_by_rule: count.excluded_by_rule.into_inner(),
        corrupted: excluded
            .iter()
            .filter(|e| e.reason == Reason::Corrupted)
            .map(|e| format!("{}: {}", e.path, e.detail))
            .collect(),
        errors: warnings,
        notices,
    })
}

/// Reader threads, each with one window buffer reused for every file.
fn spawn_readers(
    ctx: &Arc<Ctx>,
    rx: &crossbeam_channel::Receiver<FileJob>,
    n: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let (ctx, rx) = (ctx.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("cellar-read-{i}"))
                .spawn(move || {
                    let mut window = Vec::new();
                    for job in rx {
                        file_saver::run_job(&ctx, job, &mut window);
                    }
                })
                .expect("spawn reader")
        })
        .collect()
}

/// Hand one source to the pipeline as `root[slot]`: a stream becomes one file job, a tree
/// is walked in the layout it has (or is told to have).
fn feed(
    ctx: &Ctx,
    src: Source,
    prev: Option<Node>,
    layout: Option<Layout>,
    root: &Arc<DirState>,
    slot: usize,
    jobs: &crossbeam_channel::Sender<FileJob>,
) {
    match src.input {
        Input::Reader(reader) => {
            ctx.count.files_new.fetch_add(1, Relaxed);
            ctx.count.files.fetch_add(1, Relaxed);
            let node = Node {
                name: src.name,
                kind: NodeKind::File,
                size: 0,
                mtime_ns: now_ns(),
                mode: 0o644,
                ..Node::root_dir(None)
            };
            walker::send_job(ctx, jobs, FileJob { source: JobSource::Reader(reader), node, dir: root.clone(), slot });
        }
        Input::Tree { tree, path } => {
            let layout = match layout {
                _ if !tree.is_dir(&path) => Layout::Files,
                Some(Layout::Mimir | Layout::Prometheus) => crate::layout::detect::refine_tsdb(tree.as_ref(), &path),
                Some(l) => l,
                None => crate::layout::detect(tree.as_ref(), &path),
            };
            let snap = String::from_utf8_lossy(&src.name).into_owned();
            let role = Role::for_layout(layout);
            let at = walker::At { src: tree, path, name: src.name, snap, prev, role, block: None };
            walker::walk(ctx, at, root, slot, jobs);
        }
    }
}

fn now_ns() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64
}
