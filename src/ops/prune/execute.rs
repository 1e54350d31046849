//! Carrying out prune's plans, in the crash-safe order of format-spec §11: every step
//! leaves a valid repository, so an interrupted prune is finished by the next one.

use anyhow::Context;
use std::collections::HashMap;

use super::plan::{pack_entries, MarkPlan, State, SweepPlan};
use super::{PruneOptions, PruneReport, STALE_TEMPORARY};
use crate::id::Id;
use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::file::deletion::DeletionRecord;
use crate::repo::file::index::IndexFile;
use crate::repo::file::pack::{PackBuilder, PackEntry};
use crate::repo::file::snapshot::now_rfc3339;
use crate::repo::file::FileType;
use crate::repo::packer::write_pack;
use crate::repo::Repository;

/// Phase A: repack, then record every candidate in one new deletion record; remove the
/// temporaries of crashed writers.
pub fn mark(repo: &Repository, plan: &MarkPlan, opts: &PruneOptions, report: &mut PruneReport) -> anyhow::Result<()> {
    if !plan.repack.is_empty() {
        repack(repo, plan, opts.index_file_entries)?;
    }
    let candidates = plan.candidates();
    if !candidates.is_empty() {
        repo.save_deletion(&DeletionRecord { version: 1, created: now_rfc3339(), packs: candidates })?;
    }
    // Files of writes interrupted by a crash (a live write takes seconds, not hours).
    report.temporaries_removed = repo.backend().remove_stale_temporaries(STALE_TEMPORARY)?;
    Ok(())
}

/// Phase B: delete what the plan deletes, in order.
pub fn sweep(repo: &Repository, plan: SweepPlan, opts: &PruneOptions, report: &mut PruneReport) -> anyhow::Result<()> {
    for id in &plan.stale_writers {
        repo.remove_file(FileType::Writer, id)?;
    }
    if plan.expired.is_empty() {
        return Ok(());
    }
    let SweepPlan { state: State { index_files, indexed, .. }, expired, delete, .. } = plan;
    // 1. A compact index without the deleted packs, superseding all index files read.
    report.index_files_rewritten = index_files.len();
    let keep = indexed.into_iter().filter(|p| !delete.contains(p)).collect();
    write_compact_index(repo, keep, index_files.clone(), opts.index_file_entries)?;
    // 2. The old index files (everything they say is in the new one, minus deleted packs).
    for id in &index_files {
        repo.remove_file(FileType::Index, id)?;
    }
    // 3. The packs, 4. the records.
    for p in &delete {
        repo.remove_file(FileType::Pack, p)?;
    }
    for id in &expired {
        repo.remove_file(FileType::Deletion, id)?;
    }
    repo.load_index()?;
    // 5. Hints about deleted blobs (never needed to read anything).
    report.sketch_files_compacted = repo.compact_sketches()?;
    Ok(())
}

/// Entries per index file of a rewritten index: a reader holds one decoded file at a
/// time, so no file may grow with the repository.
pub const COMPACT_FILE_ENTRIES: usize = crate::repo::file::index::MAX_ENTRIES;

/// Write the listings of `packs` (from the loaded index) as new index files of at most
/// `per_file` entries (a pack is never split), one pack at a time. The last file, written
/// after all others, names the superseded files (format-spec §7): an interruption before
/// it leaves only duplicates of what the old files say.
pub fn write_compact_index(
    repo: &Repository,
    mut packs: Vec<Id>,
    supersedes: Vec<Id>,
    per_file: usize,
) -> anyhow::Result<usize> {
    packs.sort();
    let mut part = IndexFile::default();
    let (mut entries, mut files) = (0, 0);
    for p in packs {
        let listing = pack_entries(&repo.index(), &p)?.unwrap_or_default();
        if entries > 0 && entries + listing.len() > per_file {
            // Not merged into the loaded index: the caller reloads it.
            repo.save_file(&std::mem::take(&mut part))?;
            files += 1;
            entries = 0;
        }
        entries += listing.len();
        part.packs.push((p, listing));
    }
    part.supersedes = supersedes;
    repo.save_file(&part)?;
    Ok(files + 1)
}

/// Copy the used blobs of the packs to repack that exist in no other live pack into new
/// packs (sealed bytes unchanged, each verified first), and index them. A blob held by
/// several packs being repacked is copied from the first of them in the plan's order.
fn repack(repo: &Repository, plan: &MarkPlan, per_file: usize) -> anyhow::Result<()> {
    let state = &plan.state;
    let doomed = state.doomed();
    let order: HashMap<Id, usize> = plan.repack.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let target = repo.settings().pack_size as usize;
    // Metadata and data stay in separate packs (data packs may be cold).
    let mut builders = [PackBuilder::new(target), PackBuilder::default()];
    let mut written = NewPacks { per_file, ..Default::default() };
    for p in &plan.repack {
        let copy: Vec<PackEntry> = {
            let idx = repo.index();
            let entries = pack_entries(&idx, p)?.unwrap_or_default();
            entries
                .into_iter()
                .filter(|e| plan.used.contains(&idx, &e.id))
                .filter(|e| {
                    let holders: Vec<Id> = idx.all_locations(&e.id).iter().map(|l| idx.pack_id(l.pack)).collect();
                    let live_elsewhere = holders.iter().any(|h| {
                        h != p && !order.contains_key(h) && !doomed.contains(h) && state.stored.contains_key(h)
                    });
                    !live_elsewhere && holders.iter().filter_map(|h| order.get(h)).min() == order.get(p)
                })
                .collect()
        };
        if copy.is_empty() {
            continue;
        }
        let bytes = repo.backend().read(&FileType::Pack.name(p)).with_context(|| format!("repacking {}", p.short()))?;
        for e in &copy {
            // Verify before copying: never spread damage into a new pack.
            repo.decode_entry(e, &bytes).with_context(|| format!("repacking {}", p.short()))?;
            let sealed = &bytes[e.offset as usize..(e.offset + e.stored_len) as usize];
            let slot = usize::from(e.kind == BlobKind::Tree);
            let pb = &mut builders[slot];
            pb.add(&EncodedBlob {
                id: e.id,
                kind: e.kind,
                compression: e.compression,
                raw_len: e.raw_len,
                sealed: sealed.to_vec(),
                base: e.base,
            });
            if pb.len() >= target {
                written.add(repo, write_pack(repo, std::mem::take(pb), slot == 0)?)?;
            }
        }
    }
    for (slot, pb) in builders.into_iter().enumerate() {
        if !pb.is_empty() {
            written.add(repo, write_pack(repo, pb, slot == 0)?)?;
        }
    }
    written.flush(repo)
}

/// Index files for the packs a repack writes, each saved once it holds `per_file`
/// entries. They are not merged into the loaded index (which
/// would hold an entry per copied blob in RAM): the sweep reloads it.
#[derive(Default)]
struct NewPacks {
    file: IndexFile,
    entries: usize,
    per_file: usize,
}

impl NewPacks {
    fn add(&mut self, repo: &Repository, (id, entries, _): (Id, Vec<PackEntry>, u64)) -> anyhow::Result<()> {
        self.entries += entries.len();
        self.file.packs.push((id, entries));
        if self.entries >= self.per_file {
            self.flush(repo)?;
        }
        Ok(())
    }

    fn flush(&mut self, repo: &Repository) -> anyhow::Result<()> {
        if !self.file.packs.is_empty() {
            repo.save_file(&std::mem::take(&mut self.file))?;
        }
        self.entries = 0;
        Ok(())
    }
}
