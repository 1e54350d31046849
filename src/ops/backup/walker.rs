//! The walker (calling thread) lists source directories depth-first and hands changed
//! files to the readers through a bounded queue; unchanged files are taken from the parent
//! snapshot's trees. Layout rules (tenants, blocks, bookkeeping, Loki's order) come from
//! [`crate::layout`]. The walk is iterative, so directory depth is bounded by memory only.
//!
//! The walk itself is one thread, but what it learns about entries is not: the entries
//! of a directory the parent snapshot has are described (stat, and for files whether the
//! parent's content can be taken over) [`LOOK_AHEAD`] at a time in parallel, and a
//! directory is listed while its parent tree is read. A no-change backup of a local tree
//! is bound by those syscalls and index lookups, not by the walk's bookkeeping.

use crossbeam_channel::Sender;
use rayon::prelude::*;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::ctx::Ctx;
use super::file_saver::{FileJob, JobSource};
use super::parent::unchanged;
use super::tree_saver::{fill, release, DirState, Up};
use crate::layout::{tsdb, Child, Role};
use crate::repo::file::snapshot::{BlockInfo, Excluded};
use crate::repo::file::tree::{Node, NodeKind, Tree};
use crate::source::{SourceEntry, SourceTree};

/// Where an entry is and what it is for the walker.
pub(super) struct At {
    pub src: Arc<dyn SourceTree>,
    pub path: PathBuf,
    pub name: Vec<u8>,
    /// Path inside the snapshot, for messages and the manifest.
    pub snap: String,
    /// The same entry in the parent snapshot.
    pub prev: Option<Node>,
    pub role: Role,
    /// Set when this entry is a complete TSDB block directory.
    pub block: Option<BlockInfo>,
}

/// Entries described ahead of the walk, in parallel. Bounded, so a flat directory of
/// millions of entries costs little more memory than its listing.
const LOOK_AHEAD: usize = 256;

/// What was learned about an entry ahead of the walk.
struct Looked {
    entry: io::Result<SourceEntry>,
    /// A file whose content can be taken over from the parent ([`unchanged`]).
    unchanged: bool,
}

/// A directory being walked: its entries in name order (the slots of its tree) and the
/// order in which they are visited.
struct Frame {
    src: Arc<dyn SourceTree>,
    me: Arc<DirState>,
    entries: Vec<(Vec<u8>, PathBuf)>,
    order: Vec<usize>,
    pos: usize,
    /// Descriptions of `order[pos..]`, front first.
    ahead: VecDeque<Looked>,
    prev: Option<Tree>,
    role: Role,
    snap: String,
    /// ULIDs a tenant's `markers/` marks for deletion.
    marked: HashSet<String>,
}

/// Back up one top-level entry (a file, or a directory and everything below) into
/// `dir[slot]`.
pub(super) fn walk(ctx: &Ctx, top: At, dir: &Arc<DirState>, slot: usize, jobs: &Sender<FileJob>) {
    let mut stack: Vec<Frame> = entry(ctx, top, None, dir, slot, jobs).into_iter().collect();
    while let Some(f) = stack.last_mut() {
        let Some(&i) = f.order.get(f.pos) else {
            let done = stack.pop().expect("non-empty");
            release(ctx, &done.me);
            continue;
        };
        // Only against a parent: then the walk is the bottleneck (most files are taken
        // over); without one the readers are, and the cores are theirs.
        if f.ahead.is_empty() && f.prev.is_some() {
            look_ahead(ctx, f);
        }
        let looked = f.ahead.pop_front();
        f.pos += 1;
        let (name, path) = std::mem::take(&mut f.entries[i]);
        let snap = format!("{}/{}", f.snap, String::from_utf8_lossy(&name));
        let prev = f.prev.as_ref().and_then(|t| t.find(&name)).cloned();
        if ctx.excludes.excludes(&snap, &name) {
            ctx.count.excluded_by_rule.fetch_add(1, Relaxed);
            fill(ctx, &f.me, i, None);
            continue;
        }
        let mut at = At { src: f.src.clone(), path, name, snap, prev, role: Role::Plain, block: None };
        let is_dir = || match looked.as_ref().map(|l| &l.entry) {
            Some(Ok(e)) => e.kind == Some(NodeKind::Dir),
            _ => f.src.is_dir(&at.path),
        };
        match f.role.child(&at.name, is_dir) {
            Child::Entry(role) => at.role = role,
            Child::Bookkeeping => {
                ctx.count.bookkeeping.fetch_add(1, Relaxed);
                fill(ctx, &f.me, i, None);
                continue;
            }
            Child::Block { tenant, ulid } => {
                if let Some(info) = judge(ctx, f, &at, tenant, ulid) {
                    at.block = Some(info);
                } else {
                    fill(ctx, &f.me, i, None);
                    continue;
                }
            }
        }
        let me = f.me.clone();
        if let Some(child) = entry(ctx, at, looked, &me, i, jobs) {
            stack.push(child);
        }
    }
}

/// Describe the next [`LOOK_AHEAD`] entries of `f` in parallel.
fn look_ahead(ctx: &Ctx, f: &mut Frame) {
    let end = (f.pos + LOOK_AHEAD).min(f.order.len());
    let (src, entries, prev) = (&f.src, &f.entries, &f.prev);
    let looked: Vec<Looked> = f.order[f.pos..end]
        .par_iter()
        .with_min_len(16)
        .map(|&i| {
            let (name, path) = &entries[i];
            let entry = src.stat(path, name);
            let unchanged = match (&entry, prev.as_ref().and_then(|t| t.find(name))) {
                (Ok(e), Some(p)) if e.kind == Some(NodeKind::File) => unchanged(ctx, p, &node_of(e, NodeKind::File)),
                _ => false,
            };
            Looked { entry, unchanged }
        })
        .collect();
    f.ahead.extend(looked);
}

/// A block directory of the frame's tenant: `Some` if it is complete (and this shard's),
/// else it is recorded as left out (with its reason) or as vanished.
fn judge(ctx: &Ctx, f: &Frame, at: &At, tenant: String, ulid: String) -> Option<BlockInfo> {
    if ctx.shard.as_ref().is_some_and(|sh| !sh.takes(&at.snap)) {
        return None;
    }
    let marked = f.marked.contains(&ulid);
    match tsdb::judge_block(f.src.as_ref(), &at.path, &at.snap, &tenant, &ulid, marked) {
        Some(tsdb::Verdict::Complete(info)) => Some(info),
        Some(tsdb::Verdict::Excluded(reason, detail)) => {
            ctx.excluded.lock().push(Excluded { path: at.snap.clone(), tenant, ulid, reason, detail });
            None
        }
        None => {
            ctx.notice(format!("block {} disappeared while being listed; left out", at.snap));
            None
        }
    }
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
        key: e.key.clone(),
    }
}

/// Back up one entry into `dir[slot]`: files go to the readers (or are taken over from
/// the parent), symlinks are recorded; a directory is listed and returned as a frame for
/// the walk to descend into. `looked`: the entry as described ahead of the walk.
fn entry(
    ctx: &Ctx,
    at: At,
    looked: Option<Looked>,
    dir: &Arc<DirState>,
    slot: usize,
    jobs: &Sender<FileJob>,
) -> Option<Frame> {
    if ctx.failed() {
        fill(ctx, dir, slot, None);
        return None;
    }
    let src = &at.src;
    let (stat, known_unchanged) = match looked {
        Some(l) => (l.entry, Some(l.unchanged)),
        None => (src.stat(&at.path, &at.name), None),
    };
    let e = match stat {
        Ok(e) => e,
        Err(err) => {
            // A block the compactor deleted under us: drop the block, not an error.
            if !(err.kind() == std::io::ErrorKind::NotFound && dir.fail_block()) {
                ctx.warn(format!("{}: {err}", src.display(&at.path)));
            }
            fill(ctx, dir, slot, None);
            return None;
        }
    };
    match e.kind {
        Some(NodeKind::File)
            if ctx.shard.as_ref().is_some_and(|sh| dir.enclosing_block().is_none() && !sh.takes(&at.snap)) =>
        {
            fill(ctx, dir, slot, None);
        }
        Some(NodeKind::File) => file(ctx, &at, e, known_unchanged, dir, slot, jobs),
        Some(NodeKind::Symlink) => fill(ctx, dir, slot, Some(node_of(&e, NodeKind::Symlink))),
        Some(NodeKind::Dir) => return directory(ctx, at, node_of(&e, NodeKind::Dir), dir, slot),
        None => {
            // Reported, not an error: only files, directories and symlinks hold data.
            let what = e.special.unwrap_or("special file");
            ctx.notice(format!("{}: not stored: a {what}", src.display(&at.path)));
            fill(ctx, dir, slot, None);
        }
    }
    None
}

/// A file: taken over from the parent if unchanged (`known_unchanged`: as found ahead of
/// the walk), else sent to the readers.
fn file(
    ctx: &Ctx,
    at: &At,
    e: SourceEntry,
    known_unchanged: Option<bool>,
    dir: &Arc<DirState>,
    slot: usize,
    jobs: &Sender<FileJob>,
) {
    let mut node = node_of(&e, NodeKind::File);
    ctx.count.files.fetch_add(1, Relaxed);
    ctx.progress.files.fetch_add(1, Relaxed);
    ctx.count.bytes.fetch_add(node.size, Relaxed);
    if let Some(p) = at.prev.as_ref().filter(|p| known_unchanged.unwrap_or_else(|| unchanged(ctx, p, &node))) {
        node.content = p.content.clone();
        node.gzip = p.gzip.clone();
        node.text = p.text;
        if let Some(s) = ctx.successors.as_ref().filter(|_| p.text) {
            s.record(None, &p.content);
        }
        ctx.count.files_unmodified.fetch_add(1, Relaxed);
        return fill(ctx, dir, slot, Some(node));
    }
    if at.prev.as_ref().is_some_and(|p| p.kind == NodeKind::File) {
        ctx.count.files_changed.fetch_add(1, Relaxed);
    } else {
        ctx.count.files_new.fetch_add(1, Relaxed);
    }
    let job = FileJob { source: JobSource::Path(at.src.clone(), at.path.clone(), e), node, dir: dir.clone(), slot };
    send_job(ctx, jobs, job);
}

fn directory(ctx: &Ctx, at: At, node: Node, dir: &Arc<DirState>, slot: usize) -> Option<Frame> {
    let src = at.src;
    // Listed while the parent's tree is read: both wait on I/O or decode.
    let prev_id = at.prev.and_then(|p| p.subtree);
    let (listed, prev) = rayon::join(|| src.read_dir(&at.path), || prev_id.map(|id| ctx.parent_tree(&id)));
    let entries = match listed {
        Ok(v) => v,
        Err(err) => {
            if !(err.kind() == std::io::ErrorKind::NotFound && dir.fail_block()) {
                ctx.warn(format!("{}: {err}", src.display(&at.path)));
            }
            fill(ctx, dir, slot, None);
            return None;
        }
    };
    if ctx.excludes.marks(&entries) {
        ctx.count.excluded_by_rule.fetch_add(1, Relaxed);
        fill(ctx, dir, slot, None);
        return None;
    }
    let prev = prev.and_then(|r| match r {
        Ok(t) => Some(t),
        Err(err) => {
            ctx.warn(format!("parent tree of {} unreadable, reading everything: {err}", src.display(&at.path)));
            None
        }
    });
    let me = DirState::new(node, entries.len(), Up::Dir(dir.clone(), slot), at.block);
    // Slots follow name order; the visiting order may differ (Loki: index first).
    let names: Vec<&[u8]> = entries.iter().map(|(n, _)| n.as_slice()).collect();
    let order = at.role.visit_order(&names);
    let marked =
        if matches!(at.role, Role::Tenant(_)) { tsdb::marked_in(src.as_ref(), &entries) } else { HashSet::new() };
    Some(Frame { src, me, entries, order, pos: 0, ahead: VecDeque::new(), prev, role: at.role, snap: at.snap, marked })
}

pub(super) fn send_job(ctx: &Ctx, tx: &Sender<FileJob>, job: FileJob) {
    if let Err(e) = tx.send(job) {
        // Workers are gone only after a panic; account for the slot so trees still close.
        let job = e.into_inner();
        ctx.fail(anyhow::anyhow!("backup workers stopped"));
        fill(ctx, &job.dir, job.slot, None);
    }
}
