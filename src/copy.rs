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
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::repo::blob::BlobKind;
use crate::repo::packer::{save_index_for, Packer};
use crate::repo::snapshot::Snapshot;
use crate::repo::tree::{NodeKind, Tree};
use crate::repo::{Id, Repository};

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
    dst: &'a Repository,
    packer: crossbeam_channel::Sender<crate::repo::blob::EncodedBlob>,
    map: HashMap<Id, Id>,
    claimed: HashSet<Id>,
    report: CopyReport,
}

impl Mapper<'_> {
    /// Store plaintext in the destination unless it has it; returns its destination id.
    fn put(&mut self, kind: BlobKind, plain: &[u8]) -> anyhow::Result<Id> {
        let id = self.dst.blob_id(plain);
        if !self.dst.index().is_reusable(&id) && self.claimed.insert(id) {
            self.packer
                .send(self.dst.encode_blob(id, kind, plain))
                .map_err(|_| anyhow::anyhow!("the pack writer stopped"))?;
            self.report.blobs_stored += 1;
        }
        Ok(id)
    }

    fn blob(&mut self, id: &Id) -> anyhow::Result<Id> {
        if let Some(m) = self.map.get(id) {
            return Ok(*m);
        }
        let plain = self.src.read_blob(id)?;
        self.report.blobs_read += 1;
        let new = self.put(BlobKind::Data, &plain)?;
        self.map.insert(*id, new);
        Ok(new)
    }

    fn tree(&mut self, id: &Id) -> anyhow::Result<Id> {
        if let Some(m) = self.map.get(id) {
            return Ok(*m);
        }
        let mut t: Tree = self.src.read_tree(id)?;
        self.report.blobs_read += 1;
        for n in &mut t.nodes {
            match n.kind {
                NodeKind::File => {
                    n.content = n.content.iter().map(|c| self.blob(c)).collect::<anyhow::Result<_>>()?;
                }
                NodeKind::Dir => {
                    if let Some(sub) = n.subtree {
                        n.subtree = Some(self.tree(&sub)?);
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
    let mut writer = dst.register_writer()?;
    dst.load_index()?;
    writer.saw(dst.seen_deletions())?;
    src.load_index()?;
    let existing = dst.list_snapshots()?;
    let packer = Packer::start(dst.clone());
    let mut m = Mapper {
        src,
        dst: &dst,
        packer: packer.sender(),
        map: HashMap::new(),
        claimed: HashSet::new(),
        report: CopyReport::default(),
    };
    let mut new_snaps = vec![];
    let result = (|| -> anyhow::Result<()> {
        for (id, s) in snaps {
            let mut c = s.clone();
            c.tree = m.tree(&s.tree).with_context(|| format!("copying snapshot {}", id.short()))?;
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
    let Mapper { packer: tx, mut report, .. } = m;
    drop(tx);
    let packed = packer.finish();
    result?;
    let packed = packed.context("writing packs to the destination")?;
    report.bytes_added = packed.bytes_written + save_index_for(&dst, packed.packs, 256)?;
    // Snapshots last: once one exists, everything it references is stored and indexed.
    for s in new_snaps {
        let (id, bytes) = dst.save_snapshot(&s)?;
        report.bytes_added += bytes;
        report.snapshots_copied.push(id.to_hex());
    }
    Ok(report)
}
