//! Carrying out prune's plans, in the crash-safe order of format-spec §11: every step
//! leaves a valid repository, so an interrupted prune is finished by the next one.

use anyhow::Context;
use std::collections::{HashMap, HashSet};

use super::plan::{MarkPlan, State, SweepPlan};
use super::{PruneReport, STALE_TEMPORARY};
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
pub fn mark(repo: &Repository, plan: &MarkPlan, report: &mut PruneReport) -> anyhow::Result<()> {
    if !plan.repack.is_empty() {
        repack(repo, plan)?;
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
pub fn sweep(repo: &Repository, plan: SweepPlan, report: &mut PruneReport) -> anyhow::Result<()> {
    for id in &plan.stale_writers {
        repo.remove_file(FileType::Writer, id)?;
    }
    if plan.expired.is_empty() {
        return Ok(());
    }
    let SweepPlan { state: State { index_files, packs, .. }, expired, delete, .. } = plan;
    // 1. One compact index without the deleted packs, superseding all index files read.
    let mut keep: Vec<(Id, Vec<PackEntry>)> = packs.into_iter().filter(|(p, _)| !delete.contains(p)).collect();
    keep.sort_by_key(|a| a.0);
    repo.save_index(&IndexFile { supersedes: index_files.clone(), packs: keep })?;
    report.index_files_rewritten = index_files.len();
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

/// Copy the used blobs of the packs to repack that exist in no other live pack into new
/// packs (sealed bytes unchanged, each verified first), and index them.
fn repack(repo: &Repository, plan: &MarkPlan) -> anyhow::Result<()> {
    let state = &plan.state;
    let doomed: HashSet<Id> = state.records.iter().flat_map(|(_, r)| r.packs.iter().copied()).collect();
    // How many live packs hold each used blob of the packs to repack.
    let wanted: HashSet<Id> = plan
        .repack
        .iter()
        .flat_map(|p| state.packs[p].iter().map(|e| e.id))
        .filter(|id| plan.used.contains(id))
        .collect();
    let mut live_copies: HashMap<Id, usize> = HashMap::new();
    for (p, entries) in &state.packs {
        if doomed.contains(p) || !state.stored.contains_key(p) {
            continue;
        }
        for e in entries.iter().filter(|e| wanted.contains(&e.id)) {
            *live_copies.entry(e.id).or_default() += 1;
        }
    }
    let target = repo.settings().pack_size as usize;
    // Metadata and data stay in separate packs (data packs may be cold).
    let mut builders = [PackBuilder::new(target), PackBuilder::default()];
    let mut written = vec![];
    for p in &plan.repack {
        let bytes = repo.backend().read(&FileType::Pack.name(p)).with_context(|| format!("repacking {}", p.short()))?;
        for e in &state.packs[p] {
            let copies = live_copies.get(&e.id).copied().unwrap_or(0);
            if !plan.used.contains(&e.id) || copies > 1 {
                if copies > 1 {
                    live_copies.insert(e.id, copies - 1);
                }
                continue;
            }
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
                let (id, entries, _) = write_pack(repo, std::mem::take(pb), slot == 0)?;
                written.push((id, entries));
            }
        }
    }
    for (slot, pb) in builders.into_iter().enumerate() {
        if !pb.is_empty() {
            let (id, entries, _) = write_pack(repo, pb, slot == 0)?;
            written.push((id, entries));
        }
    }
    if !written.is_empty() {
        repo.save_index(&IndexFile { supersedes: vec![], packs: written })?;
    }
    Ok(())
}
