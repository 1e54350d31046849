//! The packing stage of a backup: one thread collects sealed blobs from the CPU stage into
//! packs and writes them. Bounded channels make the CPU stage wait when storage is slow,
//! so memory stays flat.

use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::id::Id;
use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::file::index::{IndexFile, MAX_ENTRIES};
use crate::repo::file::pack::{PackBuilder, PackEntry};
use crate::repo::{RepoResult, Repository};

/// Blobs waiting for the packer. Each is at most one chunk, so this bounds memory at about
/// `QUEUE * max_chunk` on top of the pack being built.
const QUEUE: usize = 8;

/// Packs written between two index files of a running writer: a writer killed or failed
/// midway leaves all but the last few of its packs indexed, and the next run reuses them
/// instead of uploading them again.
pub const INDEX_EVERY: usize = 8;

/// What the packer wrote.
#[derive(Default)]
pub struct PackerResult {
    /// Packs written but not indexed yet. Indexed packs are dropped: their listings live
    /// in the index, and keeping them here too would grow with the backup (~90 bytes a
    /// blob, 90 MB for a million small files).
    pub unindexed: Vec<(Id, Vec<PackEntry>)>,
    /// Bytes of packs and of the index files written so far.
    pub bytes_written: u64,
}

impl PackerResult {
    /// Index the packs not indexed yet; returns the bytes written.
    pub fn index_rest(&mut self, repo: &Repository, per_file: usize) -> RepoResult<u64> {
        save_index_for(repo, std::mem::take(&mut self.unindexed), per_file)
    }
}

pub struct Packer {
    tx: Option<Sender<EncodedBlob>>,
    handle: JoinHandle<anyhow::Result<PackerResult>>,
}

impl Packer {
    pub fn start(repo: Arc<Repository>) -> Packer {
        let (tx, rx) = bounded::<EncodedBlob>(QUEUE);
        let handle = std::thread::Builder::new()
            .name("cellar-packer".into())
            .spawn(move || run(&repo, rx))
            .expect("spawn packer thread");
        Packer { tx: Some(tx), handle }
    }

    /// A handle for producers; sending fails only if the packer stopped on an error.
    pub fn sender(&self) -> Sender<EncodedBlob> {
        self.tx.as_ref().expect("packer running").clone()
    }

    /// Flush the last pack and report. Producers must have dropped their senders.
    pub fn finish(mut self) -> anyhow::Result<PackerResult> {
        drop(self.tx.take());
        self.handle.join().map_err(|_| anyhow::anyhow!("packer thread panicked"))?
    }
}

/// Metadata (trees, block lists) and file data go to separate packs: data packs may live in
/// a cold storage class, metadata packs never do, so listing, planning and checking never
/// wait for a cold object.
fn run(repo: &Repository, rx: Receiver<EncodedBlob>) -> anyhow::Result<PackerResult> {
    let target = repo.settings().pack_size as usize;
    let mut res = PackerResult::default();
    let mut data = PackBuilder::new(target + (1 << 20));
    let mut meta = PackBuilder::default();
    let run = || -> anyhow::Result<()> {
        for blob in rx {
            let (pb, cold) = if blob.kind == BlobKind::Tree { (&mut meta, false) } else { (&mut data, true) };
            pb.add(&blob);
            if pb.len() >= target {
                flush(repo, std::mem::take(pb), cold, &mut res)?;
                let unindexed = &res.unindexed;
                if unindexed.len() >= INDEX_EVERY
                    || unindexed.iter().map(|(_, e)| e.len()).sum::<usize>() >= MAX_ENTRIES
                {
                    res.bytes_written += res.index_rest(repo, INDEX_EVERY)?;
                }
            }
        }
        for (pb, cold) in [(std::mem::take(&mut data), true), (std::mem::take(&mut meta), false)] {
            if !pb.is_empty() {
                flush(repo, pb, cold, &mut res)?;
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        // What was written is indexed, so the next run finds it (best effort: the
        // repository may be what failed).
        let _ = res.index_rest(repo, INDEX_EVERY);
        return Err(e);
    }
    Ok(res)
}

fn flush(repo: &Repository, pb: PackBuilder, cold: bool, res: &mut PackerResult) -> anyhow::Result<()> {
    let (id, entries, len) = write_pack(repo, pb, cold)?;
    res.bytes_written += len;
    res.unindexed.push((id, entries));
    Ok(())
}

/// Seal a pack's header and write it (data packs, `cold`, in the cold storage class).
/// Returns its id, entries and stored size.
pub fn write_pack(repo: &Repository, pb: PackBuilder, cold: bool) -> RepoResult<(Id, Vec<PackEntry>, u64)> {
    let (id, bytes, entries) = pb.finish(repo.content_keys());
    repo.write_pack(&id, &bytes, cold)?;
    Ok((id, entries, bytes.len() as u64))
}

/// Write index files for new packs, at most `per_file` packs each, so no index file grows
/// without bound. Returns the bytes written.
pub fn save_index_for(repo: &Repository, packs: Vec<(Id, Vec<PackEntry>)>, per_file: usize) -> RepoResult<u64> {
    let mut bytes = 0;
    for packs in index_file_groups(packs, per_file) {
        bytes += repo.save_index(&IndexFile { supersedes: vec![], packs })?.1;
    }
    Ok(bytes)
}

/// Packs grouped, in order, into the contents of index files of at most `per_file` packs
/// and [`MAX_ENTRIES`] entries (a pack is never split).
pub fn index_file_groups(packs: Vec<(Id, Vec<PackEntry>)>, per_file: usize) -> Vec<Vec<(Id, Vec<PackEntry>)>> {
    let mut groups: Vec<Vec<(Id, Vec<PackEntry>)>> = vec![];
    let mut entries = 0;
    for p in packs {
        match groups.last_mut() {
            Some(g) if g.len() < per_file && entries + p.1.len() <= MAX_ENTRIES => {
                entries += p.1.len();
                g.push(p);
            }
            _ => {
                entries = p.1.len();
                groups.push(vec![p]);
            }
        }
    }
    groups
}

/// Stores whole plaintext blobs the repository does not have yet, for operations that
/// write a few blobs outside the backup pipeline (copy, thinning). Each blob is stored at
/// most once per writer; the packer starts with the first blob.
pub struct BlobWriter {
    repo: Arc<Repository>,
    packer: Option<Packer>,
    claimed: std::collections::HashSet<Id>,
}

impl BlobWriter {
    pub fn new(repo: Arc<Repository>) -> BlobWriter {
        BlobWriter { repo, packer: None, claimed: Default::default() }
    }

    /// The blob's id, and whether this call stored it.
    pub fn put(&mut self, kind: BlobKind, plain: &[u8]) -> anyhow::Result<(Id, bool)> {
        let id = self.repo.blob_id(plain);
        if self.repo.index().is_reusable(&id) || !self.claimed.insert(id) {
            return Ok((id, false));
        }
        let p = self.packer.get_or_insert_with(|| Packer::start(self.repo.clone()));
        p.sender()
            .send(self.repo.encode_blob(id, kind, plain))
            .map_err(|_| anyhow::anyhow!("the pack writer stopped"))?;
        Ok((id, true))
    }

    /// Write the last pack and index what was stored; returns the bytes written.
    pub fn finish(self) -> anyhow::Result<u64> {
        let Some(p) = self.packer else { return Ok(0) };
        let mut packed = p.finish()?;
        Ok(packed.bytes_written + packed.index_rest(&self.repo, 256)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::{BlobKind, Compression};

    fn pack(no: u8, entries: usize) -> (Id, Vec<PackEntry>) {
        let e = |i: usize| PackEntry {
            id: Id([i as u8; 32]),
            kind: BlobKind::Data,
            compression: Compression::Zstd,
            offset: i as u32,
            stored_len: 1,
            raw_len: 1,
            base: None,
        };
        (Id([no; 32]), (0..entries).map(e).collect())
    }

    #[test]
    fn index_files_are_bounded_in_packs_and_entries_and_never_split_a_pack() {
        let big = MAX_ENTRIES + 5;
        let packs = vec![pack(1, 10), pack(2, MAX_ENTRIES - 20), pack(3, 20), pack(4, big), pack(5, 1), pack(6, 1)];
        let groups = index_file_groups(packs, 2);
        let shape: Vec<Vec<(u8, usize)>> =
            groups.iter().map(|g| g.iter().map(|(id, e)| (id.0[0], e.len())).collect()).collect();
        assert_eq!(
            shape,
            vec![vec![(1, 10), (2, MAX_ENTRIES - 20)], vec![(3, 20)], vec![(4, big)], vec![(5, 1), (6, 1)]]
        );
    }
}
