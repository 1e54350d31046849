//! Reading a snapshot: the one tree walker every operation uses (restore, dump, ls, check,
//! prune, thin, copy), path lookup, file readers, the blobs snapshots reach, and thawing
//! cold packs before reading them.
//!
//! The walker is iterative: a forged or absurdly deep snapshot costs memory for the trees
//! on the current path, never the thread's stack.

use anyhow::Context;
use std::collections::HashSet;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::RepoError;
use crate::id::Id;
use crate::notice::NoticeExt;
use crate::repo::file::snapshot::{BlockInfo, Snapshot};
use crate::repo::file::tree::{Node, NodeKind, Tree};
use crate::repo::file::FileType;
use crate::repo::Repository;

mod runs;
pub use runs::{BlobSource, ContentReader, RUN_GAP, RUN_MAX};

/// A snapshot entry met by the walker, with its path below the walk's root.
pub struct Entry<'a> {
    /// For display and `--include` matching (lossy if a name is not UTF-8).
    pub path: &'a str,
    /// The exact path, from the names' bytes.
    pub rel: &'a Path,
    pub node: &'a Node,
}

/// What a walk does at each step. Only [`Visitor::node`] is required.
pub trait Visitor {
    /// A node, in pre-order (a directory before its contents, entries in name order).
    /// Return `false` to leave a directory's contents out.
    fn node(&mut self, e: &Entry) -> anyhow::Result<bool>;

    /// Every entry of tree `id` (the directory at `path`, `""` for the root) has been
    /// visited: children are done before their parents.
    fn tree_done(&mut self, _id: &Id, _tree: &Tree, _path: &str) -> anyhow::Result<()> {
        Ok(())
    }

    /// The tree of the directory at `path` could not be read. By default the walk fails;
    /// a visitor that contains damage reports it and returns `Ok` to go on.
    fn unreadable(&mut self, _path: &str, _id: &Id, err: RepoError) -> anyhow::Result<()> {
        Err(err.into())
    }
}

/// One directory on the walker's current path.
struct Frame {
    id: Id,
    tree: Tree,
    path: String,
    rel: PathBuf,
    next: usize,
}

/// Walk the trees below `root`. With `dedupe`, a tree met a second time (identical
/// directories share one tree blob) is not entered again, also across calls sharing
/// `seen`. Names are checked: a tree holding an empty, `.`, `..` or `/`-containing name is
/// refused, so a crafted snapshot cannot lead a restore outside its target.
pub fn walk_with(
    repo: &Repository,
    root: &Id,
    seen: Option<&mut HashSet<Id>>,
    v: &mut dyn Visitor,
) -> anyhow::Result<()> {
    let mut local = HashSet::new();
    let (seen, dedupe) = match seen {
        Some(s) => (s, true),
        None => (&mut local, false),
    };
    if dedupe && !seen.insert(*root) {
        return Ok(());
    }
    let mut stack = vec![];
    match repo.read_tree(root) {
        Ok(tree) => stack.push(Frame { id: *root, tree, path: String::new(), rel: PathBuf::new(), next: 0 }),
        Err(e) => return v.unreadable("", root, e),
    }
    while let Some(top) = stack.last_mut() {
        let Some(node) = top.tree.nodes.get(top.next) else {
            let f = stack.pop().expect("non-empty");
            v.tree_done(&f.id, &f.tree, &f.path)?;
            continue;
        };
        top.next += 1;
        if !node.has_safe_name() {
            anyhow::bail!(RepoError::integrity(
                format!("tree {}", top.id.short()),
                format!("unsafe name {:?} under {:?}; refusing", node.name_lossy(), top.path)
            ));
        }
        let name = String::from_utf8_lossy(&node.name);
        let path = if top.path.is_empty() { name.into_owned() } else { format!("{}/{name}", top.path) };
        let rel = top.rel.join(std::ffi::OsStr::from_bytes(&node.name));
        let descend = v.node(&Entry { path: &path, rel: &rel, node })?;
        let sub = node.subtree.filter(|_| node.kind == NodeKind::Dir && descend);
        let Some(sub) = sub else { continue };
        if dedupe && !seen.insert(sub) {
            continue;
        }
        match repo.read_tree(&sub) {
            Ok(tree) => stack.push(Frame { id: sub, tree, path, rel, next: 0 }),
            Err(e) => v.unreadable(&path, &sub, e)?,
        }
    }
    Ok(())
}

/// Every entry below `root`, depth-first in name order (a directory before its contents).
pub fn walk(repo: &Repository, root: &Id, mut visit: impl FnMut(&Entry) -> anyhow::Result<()>) -> anyhow::Result<()> {
    struct Each<F>(F);
    impl<F: FnMut(&Entry) -> anyhow::Result<()>> Visitor for Each<F> {
        fn node(&mut self, e: &Entry) -> anyhow::Result<bool> {
            (self.0)(e).map(|()| true)
        }
    }
    walk_with(repo, root, None, &mut Each(&mut visit))
}

/// Every distinct tree reachable from `roots`, each once, children before parents.
pub fn walk_trees(
    repo: &Repository,
    roots: impl IntoIterator<Item = Id>,
    mut visit: impl FnMut(&Id, &Tree) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    struct Trees<F>(F);
    impl<F: FnMut(&Id, &Tree) -> anyhow::Result<()>> Visitor for Trees<F> {
        fn node(&mut self, _: &Entry) -> anyhow::Result<bool> {
            Ok(true)
        }
        fn tree_done(&mut self, id: &Id, tree: &Tree, _: &str) -> anyhow::Result<()> {
            (self.0)(id, tree)
        }
    }
    let mut seen = HashSet::new();
    let mut v = Trees(&mut visit);
    for root in roots {
        walk_with(repo, &root, Some(&mut seen), &mut v)?;
    }
    Ok(())
}

/// Every blob the snapshots reference (trees, file content, gzip corrections, block
/// lists) plus the delta bases those need: what must be kept for them to stay readable.
/// The set refers to the index loaded now (one bit per indexed blob: bounded memory at
/// millions of blobs); reloading the index invalidates it.
pub fn reachable_blobs<'a>(
    repo: &Repository,
    snaps: impl IntoIterator<Item = &'a Snapshot>,
) -> anyhow::Result<crate::repo::index::BlobSet> {
    let mut used = repo.index().blob_set();
    let mut roots = vec![];
    {
        let idx = repo.index();
        for s in snaps {
            for t in &s.tenants {
                used.insert(&idx, &t.list);
            }
            roots.push(s.tree);
        }
    }
    walk_trees(repo, roots, |id, tree| {
        let idx = repo.index();
        used.insert(&idx, id);
        for n in tree.nodes.iter().filter(|n| n.kind == NodeKind::File) {
            for b in n.data_blobs() {
                used.insert(&idx, b);
            }
        }
        Ok(())
    })?;
    repo.index().with_bases(&mut used);
    Ok(used)
}

/// `SNAPSHOT:PATH` (restic's syntax) as (snapshot, path); `(spec, "")` without a colon.
/// Snapshot ids and `latest` never hold a colon.
pub fn split_spec(spec: &str) -> (&str, &str) {
    spec.split_once(':').unwrap_or((spec, ""))
}

/// Find the node at `path` (`/`-separated, relative to the snapshot root). The root itself
/// is returned as a directory node for `""` or `/`.
pub fn lookup(repo: &Repository, snap: &Snapshot, path: &str) -> anyhow::Result<Node> {
    lookup_below(repo, snap.tree, path)
}

fn lookup_below(repo: &Repository, root: Id, path: &str) -> anyhow::Result<Node> {
    let mut node = Node::root_dir(Some(root));
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let Some(sub) = node.subtree.filter(|_| node.kind == NodeKind::Dir) else {
            anyhow::bail!(RepoError::NotFound(format!("{path}: {:?} is not a directory", node.name_lossy())));
        };
        let tree = repo.read_tree(&sub)?;
        node = tree
            .find(comp.as_bytes())
            .cloned()
            .ok_or_else(|| RepoError::NotFound(format!("{path} is not in the snapshot")))?;
    }
    Ok(node)
}

/// The tree id of the directory at `path` below `root`.
pub fn subtree_at(repo: &Repository, root: &Id, path: &str) -> anyhow::Result<Id> {
    let node = lookup_below(repo, *root, path)?;
    node.subtree
        .filter(|_| node.kind == NodeKind::Dir)
        .ok_or_else(|| RepoError::NotFound(format!("snapshot tree has no directory {path:?}")).into())
}

/// All blocks a snapshot holds (reading each tenant's list blob).
pub fn blocks(repo: &Repository, snap: &Snapshot) -> anyhow::Result<Vec<BlockInfo>> {
    let mut out = vec![];
    for t in &snap.tenants {
        let what = || format!("block list of {}", t.path);
        let plain = repo.read_blob(&t.list).with_context(what)?;
        let list: Vec<BlockInfo> = serde_json::from_slice(&plain).map_err(|e| RepoError::integrity(what(), e))?;
        out.extend(list);
    }
    Ok(out)
}

/// `len` bytes of a (non-gzip) file at `offset`, reading only the blobs that hold them.
pub fn read_at(repo: &Repository, node: &Node, offset: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(node.gzip.is_none(), "ranged reads of gzip-transparent files are not supported");
    let mut out = Vec::with_capacity(len as usize);
    let mut pos = 0u64;
    for id in &node.content {
        let blob_len = u64::from(repo.locate(id)?.1.raw_len);
        let (start, end) = (pos, pos + blob_len);
        pos = end;
        if end <= offset || start >= offset + len {
            continue;
        }
        let b = repo.read_blob(id)?;
        let from = offset.saturating_sub(start) as usize;
        let to = (offset + len).min(end) - start;
        out.extend_from_slice(&b[from..to as usize]);
    }
    anyhow::ensure!(out.len() as u64 == len, "bytes {offset}..{} are beyond the file's end", offset + len);
    Ok(out)
}

/// The original bytes of a file node: its content, or for gzip-transparent files the gzip
/// stream recreated from the decoded content and the recipe.
pub fn file_reader<'r>(repo: &'r Repository, node: &'r Node) -> Box<dyn Read + 'r> {
    let source = std::sync::Arc::new(BlobSource::for_nodes(repo, std::iter::once(node)));
    reader_from(runs::Source::Owned(source), node)
}

/// The decoded bytes of a gzip-transparent file (what `zcat` prints): its stored content
/// without the raw tail after the last member, read without recreating the gzip stream.
/// `None` for files not stored gzip-transparently, and for pg_dump archives.
pub fn decoded_reader<'r>(repo: &'r Repository, node: &'r Node) -> Option<Box<dyn Read + 'r>> {
    // A pg_dump archive's decoded streams are not a file anyone reads: no `zcat` view.
    let decoded = node.gzip.as_ref().filter(|r| !r.framed())?.decoded_len();
    let source = std::sync::Arc::new(BlobSource::for_nodes(repo, std::iter::once(node)));
    Some(Box::new(ContentReader::new(runs::Source::Owned(source), &node.content).take(decoded)))
}

/// Like [`file_reader`], reading from a source planned for many files (see
/// [`BlobSource`]): their neighbouring blobs share requests.
pub fn file_reader_in<'s, 'r>(source: &'s BlobSource<'r>, node: &'s Node) -> Box<dyn Read + 's> {
    reader_from(runs::Source::Shared(source), node)
}

fn reader_from<'s, 'r: 's>(source: runs::Source<'s, 'r>, node: &'s Node) -> Box<dyn Read + 's> {
    match &node.gzip {
        None => Box::new(ContentReader::new(source, &node.content)),
        Some(recipe) => {
            // The recipe's blobs were planned with the content's: one source for both.
            let fetch_from = source.clone();
            let content = ContentReader::new(source, &node.content);
            Box::new(crate::gzip::Rebuilder::new(content, recipe, Box::new(move |id| fetch_from.get().read(id))))
        }
    }
}

/// The packs holding these files' data (and their delta bases).
pub fn packs_of<'a>(repo: &Repository, nodes: impl Iterator<Item = &'a Node>) -> anyhow::Result<Vec<String>> {
    let idx = repo.index();
    let mut packs = std::collections::BTreeSet::new();
    for n in nodes {
        for id in n.data_blobs() {
            packs.insert(FileType::Pack.name(&idx.pack_id(idx.locate(id)?.pack)));
            if let Some(b) = idx.base_of(id) {
                packs.insert(FileType::Pack.name(&idx.pack_id(idx.locate(&b)?.pack)));
            }
        }
    }
    Ok(packs.into_iter().collect())
}

/// Make packs readable that may sit in cold storage: request their restore and, with
/// `wait`, poll until all are readable (reporting progress as notices). Returns the packs
/// still pending (empty when waiting).
pub fn thaw(repo: &Repository, packs: &[String], wait: bool) -> anyhow::Result<Vec<String>> {
    let mut pending = thaw_step(repo, packs)?;
    if !wait || pending.is_empty() {
        return Ok(pending);
    }
    let total = pending.len();
    let started = std::time::Instant::now();
    while !pending.is_empty() {
        repo.notices().note(format!(
            "waiting for {} of {total} cold packs to be restored from {} ({}s so far)",
            pending.len(),
            repo.backend().location(),
            started.elapsed().as_secs()
        ));
        std::thread::sleep(std::time::Duration::from_secs(if cfg!(debug_assertions) { 1 } else { 60 }));
        pending = thaw_step(repo, &pending)?;
    }
    Ok(vec![])
}

fn thaw_step(repo: &Repository, packs: &[String]) -> anyhow::Result<Vec<String>> {
    let t = repo.backend().prepare_read(packs)?;
    if !t.read_directly.is_empty() {
        repo.notices().note(format!(
            "{} packs are in a cold storage class, but the server of {} does not implement RestoreObject (a class is only a label there): reading them directly",
            t.read_directly.len(),
            repo.backend().location()
        ));
    }
    Ok(t.pending)
}

/// [`thaw`] the packs these files need.
pub fn prepare_cold<'a>(
    repo: &Repository,
    nodes: impl Iterator<Item = &'a Node>,
    no_wait: bool,
) -> anyhow::Result<Vec<String>> {
    let packs = packs_of(repo, nodes)?;
    thaw(repo, &packs, !no_wait)
}
