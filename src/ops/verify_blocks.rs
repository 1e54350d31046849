//! `verify-blocks`: check TSDB blocks inside the archive without restoring them, as
//! Prometheus would read them: every chunk record's CRC32C, the index's table of contents
//! and section checksums, and `meta.json` against the files (`layout::tsdb_verify`).

use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::id::Id;
use crate::layout::tsdb_verify::{parse_toc, verify_index, verify_meta, verify_segment, TOC_LEN};
use crate::layout::BlockFilter;
use crate::repo::file::snapshot::{BlockInfo, Snapshot};
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::Repository;

/// What `verify-blocks` found (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct VerifyReport {
    pub blocks: usize,
    pub bad: Vec<BadBlock>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BadBlock {
    pub tenant: String,
    pub ulid: String,
    pub path: String,
    /// What is wrong, file by file.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.bad.is_empty()
    }
}

/// Verify the blocks of `snap` that `filter` selects.
pub fn verify(repo: &Repository, snap: &Snapshot, filter: &BlockFilter) -> anyhow::Result<VerifyReport> {
    repo.load_index()?;
    let blocks: Vec<BlockInfo> = crate::vfs::blocks(repo, snap)?.into_iter().filter(|b| filter.matches(b)).collect();
    let bad: Vec<BadBlock> = blocks
        .par_iter()
        .filter_map(|b| {
            let problems = match block_tree(repo, snap, b) {
                Ok(t) => verify_block(repo, b, &t),
                Err(e) => vec![e],
            };
            (!problems.is_empty()).then(|| BadBlock {
                tenant: b.tenant.clone(),
                ulid: b.ulid.clone(),
                path: b.path.clone(),
                problems,
            })
        })
        .collect();
    Ok(VerifyReport { blocks: blocks.len(), bad })
}

/// The tree of block `b`'s directory in `snap`.
pub fn block_tree(repo: &Repository, snap: &Snapshot, b: &BlockInfo) -> Result<Id, String> {
    let dir = crate::vfs::lookup(repo, snap, &b.path).map_err(|e| format!("not readable in the snapshot: {e:#}"))?;
    dir.subtree.filter(|_| dir.kind == NodeKind::Dir).ok_or_else(|| "not a directory in the snapshot".into())
}

/// Everything wrong with one block (its directory's tree `sub`); empty when it is sound.
pub fn verify_block(repo: &Repository, b: &BlockInfo, sub: &Id) -> Vec<String> {
    let mut files: BTreeMap<String, Node> = BTreeMap::new();
    if let Err(e) = crate::vfs::walk(repo, sub, |e| {
        if e.node.kind == NodeKind::File {
            files.insert(e.path.to_string(), e.node.clone());
        }
        Ok(())
    }) {
        return vec![format!("block directory unreadable: {e:#}")];
    }
    let sizes = files.iter().map(|(k, n)| (k.clone(), n.size)).collect();
    let mut problems = match files.get("meta.json").map(|n| read_all(repo, n)) {
        Some(Ok(meta)) => verify_meta(&b.ulid, &meta, &sizes),
        Some(Err(e)) => vec![format!("meta.json: {e}")],
        None => vec!["no meta.json".into()],
    };
    for (path, node) in &files {
        let r = if path == "index" {
            verify_index_node(repo, node)
        } else if path.starts_with("chunks/") {
            verify_segment(&mut crate::vfs::file_reader(repo, node)).map(|_| ())
        } else {
            Ok(())
        };
        if let Err(e) = r {
            problems.push(format!("{path}: {e}"));
        }
    }
    problems
}

fn verify_index_node(repo: &Repository, node: &Node) -> Result<(), String> {
    if node.size < TOC_LEN + 5 {
        return Err(format!("{} bytes: too short for an index", node.size));
    }
    let toc = crate::vfs::read_at(repo, node, node.size - TOC_LEN, TOC_LEN).map_err(|e| format!("{e:#}"))?;
    let toc = parse_toc(&toc)?;
    verify_index(node.size, &toc, &mut crate::vfs::file_reader(repo, node))
}

fn read_all(repo: &Repository, node: &Node) -> Result<Vec<u8>, String> {
    let mut v = vec![];
    std::io::Read::read_to_end(&mut crate::vfs::file_reader(repo, node), &mut v).map_err(|e| e.to_string())?;
    Ok(v)
}
