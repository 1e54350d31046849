//! Trees are built bottom-up as results arrive: every directory counts its unfinished
//! entries and is sealed by whichever thread finishes the last one, so no stage waits for
//! a directory to complete (a big file never stalls the walker). A TSDB block directory
//! goes into the snapshot whole or not at all.

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

use super::ctx::Ctx;
use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::snapshot::{BlockInfo, TenantBlocks};
use crate::repo::file::tree::{Node, Tree};

/// Where a finished entry goes.
pub(super) enum Up {
    Dir(Arc<DirState>, usize),
    Root(Sender<Option<Id>>),
}

/// A directory whose entries are still being backed up.
pub(super) struct DirState {
    node: Node,
    slots: Mutex<Vec<Option<Node>>>,
    /// Unfinished entries, plus one held by the walker until it has listed them all.
    remaining: AtomicUsize,
    up: Up,
    /// A TSDB block: all of it goes into the snapshot, or none of it.
    block: Option<BlockInfo>,
    /// Something in this block could not be read as listed.
    failed: AtomicBool,
}

impl DirState {
    pub fn new(node: Node, n: usize, up: Up, block: Option<BlockInfo>) -> Arc<DirState> {
        Arc::new(DirState {
            node,
            slots: Mutex::new(vec![None; n]),
            remaining: AtomicUsize::new(n + 1),
            up,
            block,
            failed: AtomicBool::new(false),
        })
    }

    /// The TSDB block directory this directory is in (or is), if any.
    pub fn enclosing_block(self: &Arc<Self>) -> Option<Arc<DirState>> {
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
    pub fn fail_block(self: &Arc<Self>) -> bool {
        self.enclosing_block().map(|b| b.failed.store(true, SeqCst)).is_some()
    }
}

/// Record a finished entry (or `None` if it was skipped); seal the directory when it was
/// the last one, and so on up (iteratively: a deep tree cannot exhaust the stack).
pub(super) fn fill(ctx: &Ctx, dir: &Arc<DirState>, slot: usize, node: Option<Node>) {
    dir.slots.lock()[slot] = node;
    release(ctx, dir);
}

/// Give up one hold on `dir` (an entry finished, or the walker listed them all).
pub(super) fn release(ctx: &Ctx, dir: &Arc<DirState>) {
    let mut dir = dir.clone();
    loop {
        if dir.remaining.fetch_sub(1, SeqCst) != 1 {
            return;
        }
        let Some((parent, slot, node)) = seal(ctx, &dir) else { return };
        parent.slots.lock()[slot] = node;
        dir = parent;
    }
}

/// Store a finished directory's tree; returns where its node goes (`None` at the root,
/// whose id goes to the waiting backup).
fn seal(ctx: &Ctx, dir: &DirState) -> Option<(Arc<DirState>, usize, Option<Node>)> {
    let nodes: Vec<Node> = std::mem::take(&mut *dir.slots.lock()).into_iter().flatten().collect();
    let id = match ctx.store(BlobKind::Tree, &Tree { nodes }.to_bytes()) {
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
                    ctx.notice(format!(
                        "block {} changed or disappeared while being read (compacted or deleted?); left out of this snapshot",
                        b.path
                    ));
                    node = None;
                } else if node.is_some() {
                    ctx.blocks.lock().push(b.clone());
                }
            }
            ctx.count.dirs.fetch_add(1, Relaxed);
            Some((parent.clone(), *slot, node))
        }
        Up::Root(tx) => {
            let _ = tx.send(id);
            None
        }
    }
}

/// Group the snapshot's blocks by tenant directory and store each group's list as a
/// metadata blob: unchanged tenants deduplicate.
pub(super) fn block_lists(ctx: &Ctx) -> anyhow::Result<Vec<TenantBlocks>> {
    let mut by_tenant: std::collections::BTreeMap<String, Vec<BlockInfo>> = Default::default();
    for b in ctx.blocks.lock().iter() {
        let dir = b.path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
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
