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

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{NodeKind, Tree};
use crate::repo::packer::BlobWriter;
use crate::repo::{Repository, SnapshotFilter};

/// Packs of the source read at once (reads wait on the network, not the CPU).
const READERS: usize = 4;

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
    /// Format version of the destination (gzip-transparent files need 2, pg_dump archives 5).
    dst_version: u32,
}

impl Mapper<'_> {
    /// Store plaintext in the destination unless it has it; returns its destination id.
    fn put(&mut self, kind: BlobKind, plain: &[u8]) -> anyhow::Result<Id> {
        let (id, stored) = self.writer.put(kind, plain)?;
        self.report.blobs_stored += u64::from(stored);
        Ok(id)
    }

    /// Copy every data blob the trees reference, in pack order: one ranged read per run
    /// of neighbouring blobs over all files (a TSDB block's small files share a run), so
    /// a copy from S3 costs about what a directory restore does, not a request per file.
    fn data(&mut self, trees: &[(Id, Tree)]) -> anyhow::Result<()> {
        let mut named: HashMap<Id, String> = HashMap::new();
        for (_, t) in trees {
            for n in t.nodes.iter().filter(|n| n.kind == NodeKind::File) {
                if n.gzip.is_some() && self.dst_version < 2 {
                    anyhow::bail!(
                        "{:?} is stored gzip-transparently, which the destination repository (format v{}) cannot hold; \
                         copy into a repository made by `cellar init` of this version",
                        n.name_lossy(),
                        self.dst_version
                    );
                }
                if n.gzip.as_ref().is_some_and(crate::gzip::Recipe::framed) && self.dst_version < 5 {
                    anyhow::bail!(
                        "{:?} is a pg_dump archive stored transparently, which the destination repository (format v{}) \
                         cannot hold; copy into a repository made by `cellar init` of this version",
                        n.name_lossy(),
                        self.dst_version
                    );
                }
                let corrections =
                    n.gzip.iter().flat_map(|g| g.members.iter().flat_map(|m| &m.segments)).map(|s| &s.corrections);
                for id in n.content.iter().chain(corrections) {
                    named.entry(*id).or_insert_with(|| n.name_lossy());
                }
            }
        }
        let mut wanted: Vec<(Option<(Id, u32)>, Id)> = named
            .keys()
            .filter(|id| !self.map.contains_key(id))
            .map(|id| (self.src.locate(id).ok().map(|(p, l)| (p, l.offset)), *id))
            .collect();
        // Missing blobs last (their error names the file), the rest by pack and offset:
        // each planned run is then read once and consumed before the next.
        wanted.sort_by_key(|(at, id)| (at.is_none(), *at, *id));
        let src = self.src;
        let source = crate::vfs::BlobSource::for_blobs(src, wanted.iter().map(|(_, id)| *id));
        // Packs are read (and their blobs decrypted and verified) by a few workers at
        // once, as a directory restore does, while this thread stores what they read in
        // the destination; a bounded queue keeps memory flat.
        let mut by_pack: Vec<Vec<Id>> = vec![];
        let mut last = None;
        for (at, id) in &wanted {
            let pack = at.map(|(p, _)| p);
            if by_pack.is_empty() || pack != last {
                by_pack.push(vec![]);
                last = pack;
            }
            by_pack.last_mut().expect("pushed").push(*id);
        }
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(READERS).thread_name(|i| format!("cellar-copy-{i}")).build()?;
        let (tx, rx) = crossbeam_channel::bounded::<(Id, Result<Vec<u8>, RepoError>)>(256);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let source = &source;
            let by_pack = &by_pack;
            s.spawn(move || {
                pool.install(|| {
                    use rayon::prelude::*;
                    by_pack.par_iter().try_for_each(|ids| {
                        ids.iter().try_for_each(|id| tx.send((*id, source.read(id))).map_err(|_| ()))
                    })
                })
            });
            for (id, plain) in rx {
                let plain = plain.with_context(|| format!("copying blob {} of {:?}", id.short(), named[&id]))?;
                self.report.blobs_read += 1;
                let new = self.put(BlobKind::Data, &plain)?;
                self.map.insert(id, new);
            }
            Ok(())
        })
    }

    /// Rewrite a source tree with destination ids and store it. Its data blobs were
    /// copied before ([`Mapper::data`]) and its subtrees mapped before it (the walker
    /// visits children first).
    fn tree(&mut self, id: &Id, tree: &Tree) -> anyhow::Result<Id> {
        let mut t = tree.clone();
        self.report.blobs_read += 1;
        let mapped =
            |map: &HashMap<Id, Id>, id: &Id| map.get(id).copied().context("internal error: blob not copied first");
        for n in &mut t.nodes {
            match n.kind {
                NodeKind::File => {
                    n.content = n.content.iter().map(|id| mapped(&self.map, id)).collect::<anyhow::Result<_>>()?;
                    for s in n.gzip.iter_mut().flat_map(|g| g.members.iter_mut().flat_map(|m| &mut m.segments)) {
                        s.corrections = mapped(&self.map, &s.corrections)?;
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
        // Every tree of every snapshot once, children first; the data they need, then
        // the trees rewritten with the destination's ids.
        let mut trees = vec![];
        crate::vfs::walk_trees(src, snaps.iter().map(|(_, s)| s.tree), |id, tree| {
            trees.push((*id, tree.clone()));
            Ok(())
        })?;
        m.data(&trees)?;
        for (id, tree) in &trees {
            m.tree(id, tree).with_context(|| format!("copying tree {}", id.short()))?;
        }
        for (_, s) in snaps {
            let mut c = s.clone();
            c.tree = m.map[&s.tree];
            for t in &mut c.tenants {
                let plain = m.src.read_blob(&t.list)?;
                t.list = m.put(BlobKind::Tree, &plain)?;
            }
            c.parent = None;
            // The source's size says nothing of the destination's.
            c.summary.repository_bytes = 0;
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

/// Copy the snapshots named by `specs` (ids, prefixes or `latest`; all the filter
/// matches when empty).
pub fn copy_named(
    src: &Repository,
    dst: Arc<Repository>,
    specs: &[String],
    filter: &SnapshotFilter,
) -> anyhow::Result<CopyReport> {
    let chosen = src.select_snapshots(specs, filter)?;
    copy(src, dst, &chosen)
}
