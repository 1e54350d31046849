//! `prune`: reclaim the space of data no snapshot references, without locks and without
//! endangering backups that run at the same time (format-spec §11).
//!
//! Phase A (mark): find blobs referenced by the snapshots; packs with nothing referenced,
//! and packs in no index (left by crashed backups, or still being written), become
//! deletion candidates, recorded in a new `deletions/<id>` file; packs mostly unused are
//! repacked first (their live blobs copied into new packs), then become candidates.
//! Backups load these records and never reuse blobs of candidate packs.
//!
//! Phase B (sweep): records older than the grace period are processed: a candidate pack
//! holding a blob that a snapshot now needs and that exists nowhere else is revived (a
//! backup that started before the record reused it); the others are deleted, in a
//! crash-safe order: the compact index without them first, then the old index files, then
//! the packs, then the record.

use anyhow::Context;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::index::IndexFile;
use crate::repo::pack::{PackBuilder, PackEntry};
use crate::repo::snapshot::{now_rfc3339, parse_time};
use crate::repo::tree::NodeKind;
use crate::repo::{pack_name, DeletionRecord, Id, Repository};

/// A temporary file older than this is taken to be left by a crashed writer.
pub const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);
/// A writer marker older than this is taken to be left by a crashed backup.
pub const STALE_WRITER: time::Duration = time::Duration::hours(48);

pub struct PruneOptions {
    /// Unused space tolerated in packs after pruning, as a fraction of used bytes.
    pub max_unused: f64,
    /// Upper bound on bytes repacked in one run.
    pub max_repack_bytes: u64,
    /// How long candidate packs wait before deletion. Must exceed the longest backup.
    pub grace: time::Duration,
    pub dry_run: bool,
    /// Repack data packs even in a cold storage class (each must be restored first).
    pub repack_cold: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: 0.05,
            max_repack_bytes: u64::MAX,
            grace: time::Duration::hours(6),
            dry_run: false,
            repack_cold: false,
        }
    }
}

#[derive(Serialize, Debug, Default)]
pub struct PruneReport {
    pub snapshots: usize,
    pub blobs_used: usize,
    pub packs: usize,
    /// Packs found unused now and recorded as candidates.
    pub packs_marked: usize,
    pub bytes_marked: u64,
    /// Packs whose live blobs were copied into new packs.
    pub packs_repacked: usize,
    pub bytes_repacked: u64,
    /// Candidates past the grace period that were deleted.
    pub packs_deleted: usize,
    pub bytes_freed: u64,
    /// Candidates that a snapshot needs again.
    pub packs_revived: usize,
    /// Candidates still within their grace period.
    pub packs_waiting: usize,
    /// Candidates past their grace period whose deletion waits for backups that started
    /// before they became candidates.
    pub packs_waiting_for_backups: usize,
    pub index_files_rewritten: usize,
    /// Temporary files of interrupted writes that were removed.
    pub temporaries_removed: usize,
    /// Sketch files (delta-base hints) merged into one without the entries of deleted blobs.
    pub sketch_files_compacted: usize,
}

/// Every blob the current snapshots reference: trees, file content, block lists.
pub fn used_blobs(repo: &Repository) -> anyhow::Result<(HashSet<Id>, usize)> {
    let mut used = HashSet::new();
    // Snapshots first, then the index: a snapshot is written after its index files, so
    // every blob of every listed snapshot (also of concurrent backups) is then indexed.
    let snaps = repo.list_snapshots()?;
    repo.load_index()?;
    for (_, s) in &snaps {
        for t in &s.tenants {
            used.insert(t.list);
        }
        let mut stack = vec![s.tree];
        while let Some(t) = stack.pop() {
            if !used.insert(t) {
                continue;
            }
            for n in repo.read_tree(&t)?.nodes {
                match n.kind {
                    NodeKind::Dir => stack.extend(n.subtree),
                    NodeKind::File => used.extend(n.data_blobs()),
                    NodeKind::Symlink => {}
                }
            }
        }
    }
    repo.index().with_bases(&mut used);
    Ok((used, snaps.len()))
}

/// The repository as prune sees it: every index file and every pack.
struct State {
    index_files: Vec<String>,
    /// Pack → entries, from the index files.
    packs: HashMap<Id, Vec<PackEntry>>,
    /// Pack files present → size.
    stored: HashMap<Id, u64>,
    records: Vec<(Id, DeletionRecord)>,
}

impl State {
    fn load(repo: &Repository) -> anyhow::Result<State> {
        let mut packs: HashMap<Id, Vec<PackEntry>> = HashMap::new();
        let mut index_files = vec![];
        for (name, _) in repo.backend().list("index")? {
            let f = repo.read_index_file(&name)?;
            for (p, e) in f.packs {
                packs.entry(p).or_insert(e);
            }
            index_files.push(name);
        }
        let stored = repo
            .backend()
            .list("data")?
            .into_iter()
            .filter_map(|(n, size)| Id::from_hex(n.rsplit('/').next()?).ok().map(|id| (id, size)))
            .collect();
        Ok(State { index_files, packs, stored, records: repo.list_deletions()? })
    }

    fn doomed(&self) -> HashSet<Id> {
        self.records.iter().flat_map(|(_, r)| r.packs.iter().copied()).collect()
    }
}

pub fn prune(repo: &Repository, opts: &PruneOptions) -> anyhow::Result<PruneReport> {
    let mut report = PruneReport::default();
    let (used, n_snaps) = used_blobs(repo)?;
    report.snapshots = n_snaps;
    report.blobs_used = used.len();
    let state = State::load(repo)?;
    report.packs = state.stored.len();

    // ---- phase A: mark ----
    let doomed = state.doomed();
    let cold_repo = repo.settings().pack_storage_class.is_some();
    let mut candidates: Vec<Id> = vec![];
    let mut partial: Vec<(f64, Id, u64, u64)> = vec![]; // (live fraction, pack, live, total)
    let (mut total_used, mut total_unused) = (0u64, 0u64);
    for (p, &size) in &state.stored {
        if doomed.contains(p) {
            continue;
        }
        let Some(entries) = state.packs.get(p) else {
            // In no index: a crashed backup's leftover, or one still being written.
            candidates.push(*p);
            report.bytes_marked += size;
            continue;
        };
        let live: u64 = entries.iter().filter(|e| used.contains(&e.id)).map(|e| e.stored_len as u64).sum();
        let all: u64 = entries.iter().map(|e| e.stored_len as u64).sum();
        if live == 0 {
            candidates.push(*p);
            report.bytes_marked += size;
        } else if live < all && (!cold_repo || opts.repack_cold || entries.iter().all(|e| e.kind == BlobKind::Tree)) {
            // Cold data packs are never read back for repacking unless asked: decided
            // from hot metadata only.
            partial.push((live as f64 / all as f64, *p, live, all));
        }
        total_used += live;
        total_unused += all - live;
    }
    // Repack the emptiest packs until the unused space left is within bounds.
    partial.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut to_repack = vec![];
    let mut repack_bytes = 0u64;
    for (_, p, live, all) in partial {
        if (total_unused as f64) <= opts.max_unused * total_used as f64 || repack_bytes + live > opts.max_repack_bytes {
            break;
        }
        to_repack.push(p);
        repack_bytes += live;
        total_unused -= all - live;
    }
    report.packs_repacked = to_repack.len();
    report.bytes_repacked = repack_bytes;
    if !opts.dry_run && !to_repack.is_empty() {
        // How many live packs hold each used blob of the packs to repack.
        let wanted: HashSet<Id> =
            to_repack.iter().flat_map(|p| state.packs[p].iter().map(|e| e.id)).filter(|id| used.contains(id)).collect();
        let mut live_copies: HashMap<Id, usize> = HashMap::new();
        for (p, entries) in &state.packs {
            if doomed.contains(p) || !state.stored.contains_key(p) {
                continue;
            }
            for e in entries.iter().filter(|e| wanted.contains(&e.id)) {
                *live_copies.entry(e.id).or_default() += 1;
            }
        }
        repack(repo, &state, &to_repack, &used, &mut live_copies)?;
    }
    report.bytes_marked += to_repack.iter().map(|p| state.stored[p]).sum::<u64>();
    candidates.extend(to_repack);
    candidates.sort();
    report.packs_marked = candidates.len();
    if !opts.dry_run && !candidates.is_empty() {
        repo.save_deletion(&DeletionRecord { version: 1, created: now_rfc3339(), packs: candidates })?;
    }

    // Files of writes interrupted by a crash (a live write takes seconds, not hours).
    if !opts.dry_run {
        report.temporaries_removed = repo.backend().remove_stale_temporaries(STALE_TEMPORARY)?;
    }

    // ---- phase B: sweep records past their grace period ----
    drop(state);
    let mut state = State::load(repo)?;
    let now = time::OffsetDateTime::now_utc();
    // A running backup that has not seen a record may have loaded the index without it
    // and reused its packs: that record waits until the backup is done.
    let mut running: Vec<Option<HashSet<Id>>> = vec![];
    for (name, w) in repo.list_writers()? {
        if parse_time(&w.started)? + STALE_WRITER <= now {
            // Left by a crashed backup: it protects nothing any more.
            if !opts.dry_run {
                repo.backend().remove(&name)?;
            }
        } else {
            running.push(w.seen_deletions.map(|v| v.into_iter().collect()));
        }
    }
    let mut expired = vec![];
    for (id, r) in &state.records {
        if parse_time(&r.created)? + opts.grace > now {
            report.packs_waiting += r.packs.len();
        } else if running.iter().any(|seen| !seen.as_ref().is_some_and(|s| s.contains(id))) {
            report.packs_waiting_for_backups += r.packs.len();
        } else {
            expired.push((*id, r.clone()));
        }
    }
    if expired.is_empty() {
        return Ok(report);
    }
    // Snapshots written since phase A (concurrent backups) count too.
    let (used, _) = used_blobs(repo)?;
    let mut delete: HashSet<Id> = expired.iter().flat_map(|(_, r)| r.packs.iter().copied()).collect();
    // Used blobs that live in packs about to be deleted (usually few), and whether any
    // surviving pack also holds them.
    let mut at_risk: HashMap<Id, Vec<Id>> = HashMap::new();
    for p in &delete {
        for e in state.packs.get(p).into_iter().flatten().filter(|e| used.contains(&e.id)) {
            at_risk.entry(e.id).or_default().push(*p);
        }
    }
    for (p, entries) in &state.packs {
        if !delete.contains(p) && state.stored.contains_key(p) {
            for e in entries {
                at_risk.remove(&e.id);
            }
        }
    }
    let mut revived = HashSet::new();
    for hs in at_risk.values_mut() {
        if hs.iter().all(|p| delete.contains(p)) {
            hs.sort();
            delete.remove(&hs[0]);
            revived.insert(hs[0]);
        }
    }
    report.packs_revived = revived.len();
    report.packs_deleted = delete.iter().filter(|p| state.stored.contains_key(p)).count();
    report.bytes_freed = delete.iter().filter_map(|p| state.stored.get(p)).sum();
    if opts.dry_run {
        return Ok(report);
    }
    // 1. One compact index without the deleted packs, superseding all index files read.
    let keep: Vec<(Id, Vec<PackEntry>)> = {
        let mut v: Vec<_> = std::mem::take(&mut state.packs).into_iter().filter(|(p, _)| !delete.contains(p)).collect();
        v.sort_by_key(|a| a.0);
        v
    };
    let superseded: Vec<Id> =
        state.index_files.iter().filter_map(|n| Id::from_hex(n.trim_start_matches("index/")).ok()).collect();
    repo.save_index(&IndexFile { supersedes: superseded, packs: keep })?;
    report.index_files_rewritten = state.index_files.len();
    // 2. The old index files (everything they say is in the new one, minus deleted packs).
    for n in &state.index_files {
        repo.backend().remove(n)?;
    }
    // 3. The packs, 4. the records.
    for p in &delete {
        repo.backend().remove(&pack_name(p))?;
    }
    for (id, _) in &expired {
        repo.backend().remove(&format!("deletions/{id}"))?;
    }
    repo.load_index()?;
    // 5. Hints about deleted blobs (never needed to read anything).
    report.sketch_files_compacted = repo.compact_sketches()?;
    Ok(report)
}

/// Copy the used blobs of `packs` that exist nowhere else into new packs, and index them.
fn repack(
    repo: &Repository,
    state: &State,
    packs: &[Id],
    used: &HashSet<Id>,
    live_copies: &mut HashMap<Id, usize>,
) -> anyhow::Result<()> {
    let target = repo.settings().pack_size as usize;
    // Metadata and data stay in separate packs (data packs may be cold).
    let mut builders = [PackBuilder::new(target), PackBuilder::default()];
    let mut written = vec![];
    for p in packs {
        let bytes = repo.backend().read(&pack_name(p)).with_context(|| format!("repacking {}", p.short()))?;
        for e in &state.packs[p] {
            let copies = live_copies.get(&e.id).copied().unwrap_or(0);
            if !used.contains(&e.id) || copies > 1 {
                if copies > 1 {
                    live_copies.insert(e.id, copies - 1);
                }
                continue;
            }
            // Verify before copying: never spread damage into a new pack.
            repo.decode_entry(e, &bytes).with_context(|| format!("repacking {}", p.short()))?;
            let sealed = &bytes[e.offset as usize..(e.offset + e.stored_len) as usize];
            let slot = (e.kind == BlobKind::Tree) as usize;
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
                written.push(write_pack(repo, std::mem::take(pb), slot == 0)?);
            }
        }
    }
    for (slot, pb) in builders.into_iter().enumerate() {
        if !pb.is_empty() {
            written.push(write_pack(repo, pb, slot == 0)?);
        }
    }
    if !written.is_empty() {
        repo.save_index(&IndexFile { supersedes: vec![], packs: written })?;
    }
    Ok(())
}

fn write_pack(repo: &Repository, pb: PackBuilder, cold: bool) -> anyhow::Result<(Id, Vec<PackEntry>)> {
    let (id, bytes, entries) = pb.finish(repo.key());
    repo.write_pack(&id, &bytes, cold)?;
    Ok((id, entries))
}
