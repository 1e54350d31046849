//! Rewriting snapshot trees (thinning, repair): new trees are written through a
//! [`BlobWriter`] and read back from memory until they are packed and indexed.

use anyhow::Context;
use std::collections::HashMap;
use std::sync::Arc;

use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::tree::{NodeKind, Tree};
use crate::repo::packer::BlobWriter;
use crate::repo::Repository;

/// Writes rewritten trees and reads them back before they are packed and indexed (a
/// snapshot with two thinned tenants rewrites the root twice).
pub struct Rewriter<'a> {
    repo: &'a Repository,
    store: BlobWriter,
    written: HashMap<Id, Tree>,
}

impl<'a> Rewriter<'a> {
    pub fn new(repo: &'a Arc<Repository>) -> Rewriter<'a> {
        Rewriter { repo, store: BlobWriter::new(repo.clone()), written: HashMap::new() }
    }

    /// Write the last pack and index what was stored.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.store.finish()
    }

    /// Store a metadata blob (a block list).
    pub fn put_blob(&mut self, plain: &[u8]) -> anyhow::Result<Id> {
        Ok(self.store.put(BlobKind::Tree, plain)?.0)
    }

    /// A copy of `root` without the entries at `paths` (files, or directories with all
    /// below them; `/`-separated, relative to `root`). Unreadable directories on the way
    /// may be dropped themselves but not entered.
    pub fn remove(&mut self, root: &Id, paths: &[String]) -> anyhow::Result<Id> {
        let mut tree = self.read(root)?;
        let mut keep = Vec::with_capacity(tree.nodes.len());
        for mut node in std::mem::take(&mut tree.nodes) {
            let name = node.name_lossy();
            if paths.iter().any(|p| p.trim_end_matches('/') == name) {
                continue;
            }
            let prefix = format!("{name}/");
            let below: Vec<String> = paths
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            if let (false, Some(sub)) = (below.is_empty(), node.subtree) {
                node.subtree = Some(self.remove(&sub, &below)?);
            }
            keep.push(node);
        }
        tree.nodes = keep;
        self.put(tree)
    }
    pub fn read(&self, id: &Id) -> anyhow::Result<Tree> {
        match self.written.get(id) {
            Some(t) => Ok(t.clone()),
            None => Ok(self.repo.read_tree(id)?),
        }
    }

    pub fn put(&mut self, t: Tree) -> anyhow::Result<Id> {
        let (id, _) = self.store.put(BlobKind::Tree, &t.to_bytes())?;
        self.written.insert(id, t);
        Ok(id)
    }

    /// The tree id of the directory at `path` below `root`.
    pub fn subtree_at(&self, root: &Id, path: &str) -> anyhow::Result<Id> {
        let mut id = *root;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            id = self
                .read(&id)?
                .find(comp.as_bytes())
                .and_then(|n| n.subtree.filter(|_| n.kind == NodeKind::Dir))
                .with_context(|| format!("snapshot tree has no directory {path:?}"))?;
        }
        Ok(id)
    }

    /// Store new trees from the directory at `path` up to the root; returns the new root.
    pub fn replace_subtree(&mut self, root: &Id, path: &str, leaf: Id) -> anyhow::Result<Id> {
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let mut id = leaf;
        for depth in (0..comps.len()).rev() {
            let mut parent = self.read(&self.subtree_at(root, &comps[..depth].join("/"))?)?;
            let node = parent
                .nodes
                .iter_mut()
                .find(|n| n.name == comps[depth].as_bytes())
                .with_context(|| format!("snapshot tree has no directory {path:?}"))?;
            node.subtree = Some(id);
            id = self.put(parent)?;
        }
        Ok(id)
    }
}
