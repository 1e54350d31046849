//! `stats`: how much the repository holds versus how much it stores.

use serde::Serialize;

use crate::repo::blob::{BlobKind, Compression};
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
    /// Stored (sealed) bytes of tree blobs, of data blobs stored whole, and of delta blobs.
    pub tree_blob_bytes: u64,
    pub data_blob_bytes: u64,
    pub delta_blob_bytes: u64,
    pub delta_blobs: usize,
    /// Bytes of the resemblance sketch files (delta-base hints).
    pub sketch_bytes: u64,
}

pub fn stats(repo: &Repository) -> anyhow::Result<Stats> {
    repo.load_index()?;
    let mut s = Stats::default();
    for (_, snap) in repo.list_snapshots()? {
        s.snapshots += 1;
        s.logical_bytes += snap.summary.bytes;
    }
    for dir in ["data", "index", "snapshots", "keys", "sketches"] {
        for (_, size) in repo.backend().list(dir)? {
            s.stored_bytes += size;
            match dir {
                "data" => s.pack_bytes += size,
                "sketches" => s.sketch_bytes += size,
                _ => {}
            }
        }
    }
    let idx = repo.index();
    s.unique_blobs = idx.blob_count();
    for (_, l) in idx.blobs() {
        s.unique_bytes += l.raw_len as u64;
        let stored = l.stored_len as u64;
        match (l.kind, l.compression) {
            (BlobKind::Tree, _) => s.tree_blob_bytes += stored,
            (_, Compression::Delta) => {
                s.delta_blob_bytes += stored;
                s.delta_blobs += 1;
            }
            _ => s.data_blob_bytes += stored,
        }
    }
    s.ratio = if s.stored_bytes > 0 { s.logical_bytes as f64 / s.stored_bytes as f64 } else { 0.0 };
    Ok(s)
}
