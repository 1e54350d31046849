//! `copy`: put snapshots of one repository into another (local → offsite S3) without
//! reading the original sources again, storing only the blobs the destination lacks.
//!
//! Blob ids are keyed per repository, so each blob is read from the source, its id under
//! the destination's key computed, and it is stored only if the destination does not have
//! it; trees are rewritten with the destination's ids. A snapshot already present in the
//! destination (same time, host, sources and content) is not written twice. The copy
//! announces itself as a writer, so a prune of the destination stays safe meanwhile.

use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{NodeKind, Tree};
use crate::repo::packer::BlobWriter;
use crate::repo::Repository;

#[derive(Serialize, Debug, Default)]
pub struct CopyReport {
    pub snapshots_copied: Vec<String>,
    pub snapshots_already_present: usize,
    pub blobs_read: u64,
    pub blobs_stored: u64,
    pub bytes_added: u64,
}

struct Mapper<'a> {
    src: &'a Repository,
    writer: BlobWriter,
    map: HashMap<Id, Id>,
    report: CopyReport,
    /// Format version of the destination (gzip-transparent files need 2).
    dst_version: u32,
}

impl Mapper<'_> {
    /// Store plaintext in the destination unless it has it; returns its destination id.
    fn put(&mut self, kind: BlobKind, plain: &[u8]) -> anyhow::Result<Id> {
        let (id, stored) = self.writer.put(kind, plain)?;
        self.report.blobs_stored += u64::from(stored);
        Ok(id)
    }

    /// Copy blob `id` (read in runs with the `ahead` blobs that follow it).
    fn blob(&mut self, runs: &mut crate::vfs::Runs, id: &Id, ahead: &[Id]) -> anyhow::Result<Id> {
        if let Some(m) = self.map.get(id) {
            return Ok(*m);
        }
        let plain = runs.read(id, ahead)?;
        self.report.blobs_read += 1;
        let new = self.put(BlobKind::Data, &plain)?;
        self.map.insert(*id, new);
        Ok(new)
    }

    /// Rewrite a source tree with destination ids and store it. Its subtrees were mapped
    /// before it (the walker visits children first).
    fn tree(&mut self, id: &Id, tree: &Tree) -> anyhow::Result<Id> {
        let mut t = tree.clone();
        self.report.blobs_read += 1;
        for n in &mut t.nodes {
            match n.kind {
                NodeKind::File => {
                    let mut runs = crate::vfs::Runs::new(self.src);
                    let ids = std::mem::take(&mut n.content);
                    n.content = (0..ids.len())
                        .map(|i| self.blob(&mut runs, &ids[i], &ids[i + 1..]))
                        .collect::<anyhow::Result<_>>()?;
                    if let Some(g) = n.gzip.as_mut() {
                        anyhow::ensure!(
                            self.dst_version >= 2,
                            "{:?} is stored gzip-transparently, which the destination repository (format v{}) cannot hold; \
                             copy into a repository made by `cellar init` of this version",
                            n.name_lossy(),
                            self.dst_version
                        );
                        let mut runs = crate::vfs::Runs::new(self.src);
                        for s in g.members.iter_mut().flat_map(|m| &mut m.segments) {
                            s.corrections = self.blob(&mut runs, &s.corrections, &[])?;
                        }
                    }
                }
                NodeKind::Dir => {
                    if let Some(sub) = n.subtree {
                        n.subtree = Some(*self.map.get(&sub).context("internal error: subtree not copied first")?);
                    }
                }
                NodeKind::Symlink => {}
            }
        }
        let new = self.put(BlobKind::Tree, &t.to_bytes())?;
        self.map.insert(*id, new);
        Ok(new)
    }
}

fn same_snapshot(a: &Snapshot, b: &Snapshot) -> bool {
    a.time == b.time && a.host == b.host && a.sources == b.sources && a.tree == b.tree && a.shard == b.shard
}

pub fn copy(src: &Repository, dst: Arc<Repository>, snaps: &[(Id, Snapshot)]) -> anyhow::Result<CopyReport> {
    let mut marker = dst.register_writer()?;
    dst.load_index()?;
    marker.saw(dst.seen_deletions())?;
    src.load_index()?;
    let existing = dst.list_snapshots()?;
    let mut m = Mapper {
        src,
        writer: BlobWriter::new(dst.clone()),
        map: HashMap::new(),
        report: CopyReport::default(),
        dst_version: dst.config().version,
    };
    let mut new_snaps = vec![];
    let result = (|| -> anyhow::Result<()> {
        // Every tree of every snapshot once, children first.
        crate::vfs::walk_trees(src, snaps.iter().map(|(_, s)| s.tree), |id, tree| {
            m.tree(id, tree).map(|_| ()).with_context(|| format!("copying tree {}", id.short()))
        })?;
        for (_, s) in snaps {
            let mut c = s.clone();
            c.tree = m.map[&s.tree];
            for t in &mut c.tenants {
                let plain = m.src.read_blob(&t.list)?;
                t.list = m.put(BlobKind::Tree, &plain)?;
            }
            c.parent = None;
            if existing.iter().any(|(_, e)| same_snapshot(e, &c)) {
                m.report.snapshots_already_present += 1;
            } else {
                new_snaps.push(c);
            }
        }
        Ok(())
    })();
    let Mapper { writer: blobs, mut report, .. } = m;
    let written = blobs.finish();
    result?;
    report.bytes_added = written.context("writing packs to the destination")?;
    // Snapshots last: once one exists, everything it references is stored and indexed.
    for s in new_snaps {
        let (id, bytes) = dst.save_snapshot(&s)?;
        report.bytes_added += bytes;
        report.snapshots_copied.push(id.to_hex());
    }
    Ok(report)
}

/// Copy the snapshots named by `specs` (ids, prefixes or `latest`; all of them when empty).
pub fn copy_named(src: &Repository, dst: Arc<Repository>, specs: &[String]) -> anyhow::Result<CopyReport> {
    let chosen: Vec<(Id, Snapshot)> = if specs.is_empty() {
        src.list_snapshots()?
    } else {
        specs.iter().map(|s| src.resolve_snapshot(s)).collect::<Result<_, _>>()?
    };
    copy(src, dst, &chosen)
}
