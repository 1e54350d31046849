//! `stats`: how much the repository holds versus how much it stores.

use serde::Serialize;

use crate::repo::blob::{BlobKind, Compression};
use crate::repo::file::FileType;
use crate::repo::Repository;

/// How much the repository holds versus stores (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct Stats {
    pub snapshots: usize,
    /// Sum over snapshots of the bytes they restore to.
    pub logical_bytes: u64,
    /// Bytes of every repository file: config, keys, packs, index files, snapshots,
    /// sketches, deletion records and writer markers.
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
    s.stored_bytes += repo.backend().read(FileType::Config.dir())?.len() as u64;
    for t in FileType::ALL.into_iter().filter(|t| *t != FileType::Config) {
        for (_, size) in repo.backend().list(t.dir())? {
            s.stored_bytes += size;
            match t {
                FileType::Pack => s.pack_bytes += size,
                FileType::Sketch => s.sketch_bytes += size,
                _ => {}
            }
        }
    }
    let idx = repo.index();
    s.unique_blobs = idx.blob_count();
    for (_, l) in idx.blobs() {
        s.unique_bytes += u64::from(l.raw_len);
        let stored = u64::from(l.stored_len);
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
