//! `diff A B`: what changed between two snapshots, in files and in TSDB blocks. Files are
//! compared by content (their blob ids), so a rewritten file with the same bytes is not a
//! change, and a block is named once rather than as its index, chunks and meta.json.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::Repository;

#[derive(Serialize, Debug, Default)]
pub struct DiffReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Content, kind or link target differ.
    pub changed: Vec<String>,
    /// Only mode or modification time differ.
    pub metadata_changed: Vec<String>,
    /// TSDB blocks (`tenant/ULID`) in B but not A, and in A but not B.
    pub blocks_added: Vec<String>,
    pub blocks_removed: Vec<String>,
    pub bytes_added: u64,
    pub bytes_removed: u64,
}

/// What a file is, for comparing.
#[derive(PartialEq)]
struct Seen {
    kind: NodeKind,
    size: u64,
    content: Vec<crate::id::Id>,
    target: Option<Vec<u8>>,
    meta: (u32, i64),
}

fn entries(repo: &Repository, snap: &Snapshot) -> anyhow::Result<BTreeMap<String, Seen>> {
    let mut out = BTreeMap::new();
    crate::vfs::walk(repo, &snap.tree, |e| {
        let n: &Node = e.node;
        out.insert(
            e.path.to_string(),
            Seen {
                kind: n.kind,
                size: n.size,
                content: n.content.clone(),
                target: n.target.clone(),
                meta: (n.mode, n.mtime_ns),
            },
        );
        Ok(())
    })?;
    Ok(out)
}

fn blocks(repo: &Repository, snap: &Snapshot) -> anyhow::Result<std::collections::BTreeSet<String>> {
    Ok(crate::vfs::blocks(repo, snap)?.into_iter().map(|b| format!("{}/{}", b.tenant, b.ulid)).collect())
}

pub fn diff(repo: &Repository, a: &Snapshot, b: &Snapshot) -> anyhow::Result<DiffReport> {
    repo.load_index()?;
    let (ea, eb) = (entries(repo, a)?, entries(repo, b)?);
    let mut r = DiffReport::default();
    for (path, x) in &ea {
        match eb.get(path) {
            None => {
                r.bytes_removed += x.size;
                r.removed.push(path.clone());
            }
            Some(y)
                if x.kind != y.kind || x.target != y.target || (x.kind == NodeKind::File && x.content != y.content) =>
            {
                r.changed.push(path.clone());
            }
            Some(y) if x.meta != y.meta && x.kind != NodeKind::Dir => r.metadata_changed.push(path.clone()),
            Some(_) => {}
        }
    }
    for (path, y) in &eb {
        if !ea.contains_key(path) {
            r.bytes_added += y.size;
            r.added.push(path.clone());
        }
    }
    let (ba, bb) = (blocks(repo, a)?, blocks(repo, b)?);
    r.blocks_added = bb.difference(&ba).cloned().collect();
    r.blocks_removed = ba.difference(&bb).cloned().collect();
    Ok(r)
}
