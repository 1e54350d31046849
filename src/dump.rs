//! Reading a snapshot without restoring it: `ls` entries, and `dump` a file's bytes or a
//! directory as a tar stream, so `cellar dump latest dop.dump | psql` needs no disk space.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::repo::snapshot::Snapshot;
use crate::repo::tree::{Node, NodeKind};
use crate::repo::{Id, Repository};
use crate::restore::{walk, Entry};

/// Find the node at `path` (`/`-separated, relative to the snapshot root). The root itself
/// is returned as a directory node for `""` or `/`.
pub fn lookup(repo: &Repository, snap: &Snapshot, path: &str) -> anyhow::Result<Node> {
    let mut node = Node::root_dir(Some(snap.tree));
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let Some(sub) = node.subtree.filter(|_| node.kind == NodeKind::Dir) else {
            bail!(Error::NotFound(format!("{path}: {:?} is not a directory", node.name_lossy())));
        };
        let tree = repo.read_tree(&sub)?;
        node = tree
            .find(comp.as_bytes())
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("{path} is not in the snapshot")))?;
    }
    Ok(node)
}

/// Streams a file's content blob by blob (verifying each).
pub struct ContentReader<'r> {
    repo: &'r Repository,
    ids: std::slice::Iter<'r, Id>,
    buf: Vec<u8>,
    pos: usize,
}

impl<'r> ContentReader<'r> {
    pub fn new(repo: &'r Repository, content: &'r [Id]) -> Self {
        ContentReader { repo, ids: content.iter(), buf: vec![], pos: 0 }
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(id) = self.ids.next() else {
                return Ok(0);
            };
            self.buf = self.repo.read_blob(id).map_err(|e| std::io::Error::other(format!("{e:#}")))?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The original bytes of a file node: its content, or for gzip-transparent files the gzip
/// stream recreated from the decoded content and the recipe.
pub fn file_reader<'r>(repo: &'r Repository, node: &'r Node) -> Box<dyn Read + 'r> {
    let content = ContentReader::new(repo, &node.content);
    match &node.gzip {
        None => Box::new(content),
        Some(recipe) => Box::new(crate::gzip::Rebuilder::new(content, recipe, Box::new(|id| repo.read_blob(id)))),
    }
}

/// Write a file's bytes, or a directory as tar, to `out`.
pub fn dump(repo: &Repository, snap: &Snapshot, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    repo.load_index()?;
    let node = lookup(repo, snap, path)?;
    if node.kind == NodeKind::File {
        crate::restore::prepare_cold(repo, std::iter::once(&node), false)?;
    }
    match node.kind {
        NodeKind::File => {
            let n = std::io::copy(&mut file_reader(repo, &node), out)?;
            if n != node.size {
                bail!("{path}: produced {n} bytes, expected {}", node.size);
            }
        }
        NodeKind::Dir => dump_tar(repo, &node, out)?,
        NodeKind::Symlink => bail!("{path} is a symlink; nothing to dump"),
    }
    out.flush()?;
    Ok(())
}

fn dump_tar(repo: &Repository, dir: &Node, out: &mut dyn Write) -> anyhow::Result<()> {
    let base = PathBuf::from(std::ffi::OsStr::from_bytes(&dir.name));
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    if !dir.name.is_empty() {
        let mut h = header(dir, NodeKind::Dir, 0);
        tar.append_data(&mut h, &base, &b""[..])?;
    }
    let Some(sub) = dir.subtree else {
        return Ok(());
    };
    walk(repo, &sub, |Entry { rel, node, .. }| {
        let p = Path::new(&base).join(rel);
        let mut h = header(&node, node.kind, node.size);
        match node.kind {
            NodeKind::File => tar.append_data(&mut h, &p, file_reader(repo, &node)),
            NodeKind::Dir => tar.append_data(&mut h, &p, &b""[..]),
            NodeKind::Symlink => {
                let t = String::from_utf8_lossy(node.target.as_deref().unwrap_or_default()).into_owned();
                tar.append_link(&mut h, &p, t)
            }
        }
        .with_context(|| format!("writing {} to the tar stream", p.display()))
    })?;
    tar.finish()?;
    Ok(())
}

fn header(n: &Node, kind: NodeKind, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(match kind {
        NodeKind::File => tar::EntryType::Regular,
        NodeKind::Dir => tar::EntryType::Directory,
        NodeKind::Symlink => tar::EntryType::Symlink,
    });
    h.set_size(size);
    h.set_mode(if n.mode == 0 { 0o644 } else { n.mode });
    h.set_mtime(n.mtime_ns.div_euclid(1_000_000_000).max(0) as u64);
    h
}
