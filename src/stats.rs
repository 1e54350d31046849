//! `stats`: how much the repository holds versus how much it stores.

use serde::Serialize;

use crate::repo::Repository;

#[derive(Serialize, Debug, Default)]
pub struct Stats {
    pub snapshots: usize,
    /// Sum over snapshots of the bytes they restore to.
    pub logical_bytes: u64,
    /// Bytes of packs, index files, snapshots, keys and config.
    pub stored_bytes: u64,
    pub pack_bytes: u64,
    pub unique_blobs: usize,
    /// Uncompressed size of the unique blobs.
    pub unique_bytes: u64,
    /// logical / stored: what dedup and compression achieve together.
    pub ratio: f64,
}

pub fn stats(repo: &Repository) -> anyhow::Result<Stats> {
    repo.load_index()?;
    let mut s = Stats::default();
    for (_, snap) in repo.list_snapshots()? {
        s.snapshots += 1;
        s.logical_bytes += snap.summary.bytes;
    }
    for dir in ["data", "index", "snapshots", "keys"] {
        for (_, size) in repo.backend().list(dir)? {
            s.stored_bytes += size;
            if dir == "data" {
                s.pack_bytes += size;
            }
        }
    }
    let idx = repo.index();
    s.unique_blobs = idx.blob_count();
    s.unique_bytes = idx.blobs().map(|(_, l)| l.raw_len as u64).sum();
    s.ratio = if s.stored_bytes > 0 { s.logical_bytes as f64 / s.stored_bytes as f64 } else { 0.0 };
    Ok(s)
}
