//! Planning prune's two phases from what the repository holds now. Plans only read.

use anyhow::Context;
use std::collections::{HashMap, HashSet};

use super::{PlanView, PlannedPack, PruneOptions, PruneReport, STALE_WRITER};
use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::deletion::DeletionRecord;
use crate::repo::file::pack::PackEntry;
use crate::repo::file::snapshot::parse_time;
use crate::repo::file::FileType;
use crate::repo::index::{BlobSet, Index};
use crate::repo::Repository;

/// The repository as prune sees it: the loaded index's files and packs, every pack
/// stored, every deletion record. Pack listings stay in the index's spill file and are
/// read back one pack at a time ([`pack_entries`]): prune holds no entry per blob.
pub struct State {
    /// The index files the loaded index was read from: what a rewrite supersedes.
    pub index_files: Vec<Id>,
    /// Packs some loaded index file lists.
    pub indexed: HashSet<Id>,
    /// Pack files present → size.
    pub stored: HashMap<Id, u64>,
    pub records: Vec<(Id, DeletionRecord)>,
}

impl State {
    /// Records and stored packs listed now; the index part from the index loaded now.
    fn load(repo: &Repository) -> anyhow::Result<State> {
        let records = repo.list_deletions()?;
        let stored = repo.list_sized(FileType::Pack)?.into_iter().collect();
        let mut s = State { index_files: vec![], indexed: HashSet::new(), stored, records };
        s.index_changed(repo);
        Ok(s)
    }

    /// Take the index part from the index loaded now (after a reload).
    fn index_changed(&mut self, repo: &Repository) {
        let idx = repo.index();
        self.index_files = idx.files().to_vec();
        self.indexed = idx.indexed_packs().collect();
    }

    pub fn doomed(&self) -> HashSet<Id> {
        self.records.iter().flat_map(|(_, r)| r.packs.iter().copied()).collect()
    }
}

/// A pack's entries from the loaded index (`None`: no index file lists it).
pub fn pack_entries(idx: &Index, pack: &Id) -> anyhow::Result<Option<Vec<PackEntry>>> {
    idx.pack_entries(pack).context("reading the index spill file back")
}

/// The blobs the current snapshots reference, against the index this loads. Snapshots
/// are listed first, then the index: a snapshot is written after its index files, so
/// every blob of every listed snapshot (also of concurrent backups) is then indexed.
fn used_blobs(repo: &Repository) -> anyhow::Result<(BlobSet, usize)> {
    let snaps = repo.list_snapshots()?;
    repo.load_index()?;
    let used = crate::vfs::reachable_blobs(repo, snaps.iter().map(|(_, s)| s))?;
    Ok((used, snaps.len()))
}

/// Phase A: which packs become deletion candidates, and which are repacked first.
pub struct MarkPlan {
    pub snapshots: usize,
    /// Against the index loaded by this phase (reloading it invalidates the set).
    pub used: BlobSet,
    pub state: State,
    /// Packs holding nothing referenced, or in no index: candidates as they are.
    pub unused: Vec<Id>,
    /// Packs mostly unused: their live blobs are copied, then they are candidates.
    pub repack: Vec<Id>,
    pub repack_bytes: u64,
}

pub fn plan_mark(repo: &Repository, opts: &PruneOptions) -> anyhow::Result<MarkPlan> {
    let (used, snapshots) = used_blobs(repo)?;
    let state = State::load(repo)?;
    let doomed = state.doomed();
    let cold_repo = repo.settings().pack_storage_class.is_some();
    let mut unused: Vec<Id> = vec![];
    let mut partial: Vec<(f64, Id, u64, u64)> = vec![]; // (live fraction, pack, live, total)
    let (mut total_used, mut total_unused) = (0u64, 0u64);
    let idx = repo.index();
    for p in state.stored.keys() {
        if doomed.contains(p) {
            continue;
        }
        let Some(entries) = pack_entries(&idx, p)? else {
            // In no index: a crashed backup's leftover, or one still being written.
            unused.push(*p);
            continue;
        };
        let live: u64 = entries.iter().filter(|e| used.contains(&idx, &e.id)).map(|e| u64::from(e.stored_len)).sum();
        let all: u64 = entries.iter().map(|e| u64::from(e.stored_len)).sum();
        if live == 0 {
            unused.push(*p);
        } else if live < all && (!cold_repo || opts.repack_cold || entries.iter().all(|e| e.kind == BlobKind::Tree)) {
            // Cold data packs are never read back for repacking unless asked: decided
            // from hot metadata only.
            partial.push((live as f64 / all as f64, *p, live, all));
        }
        total_used += live;
        total_unused += all - live;
    }
    drop(idx);
    // Repack the emptiest packs until the unused space left is within bounds.
    partial.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut repack = vec![];
    let mut repack_bytes = 0u64;
    for (_, p, live, all) in partial {
        if (total_unused as f64) <= opts.max_unused * total_used as f64 || repack_bytes + live > opts.max_repack_bytes {
            break;
        }
        repack.push(p);
        repack_bytes += live;
        total_unused -= all - live;
    }
    unused.sort();
    Ok(MarkPlan { snapshots, used, state, unused, repack, repack_bytes })
}

impl MarkPlan {
    /// Every pack this phase makes a candidate, sorted.
    pub fn candidates(&self) -> Vec<Id> {
        let mut c: Vec<Id> = self.unused.iter().chain(&self.repack).copied().collect();
        c.sort();
        c
    }

    /// Every candidate with its size and why.
    pub fn view(&self) -> Vec<PlannedPack> {
        let why = |p: &Id| {
            if self.repack.contains(p) {
                "repack"
            } else if self.state.indexed.contains(p) {
                "unused"
            } else {
                "unindexed"
            }
        };
        self.candidates()
            .into_iter()
            .map(|p| PlannedPack { pack: p, bytes: self.state.stored[&p], why: Some(why(&p)) })
            .collect()
    }

    pub fn report(&self, r: &mut PruneReport) {
        r.snapshots = self.snapshots;
        r.blobs_used = self.used.len();
        r.packs = self.state.stored.len();
        r.packs_marked = self.unused.len() + self.repack.len();
        r.bytes_marked = self.candidates().iter().map(|p| self.state.stored[p]).sum();
        r.packs_repacked = self.repack.len();
        r.bytes_repacked = self.repack_bytes;
    }
}

/// Phase B: which candidates are deleted now, which wait, which are revived.
pub struct SweepPlan {
    pub state: State,
    /// Records processed now: past the grace period and seen by every running writer.
    pub expired: Vec<Id>,
    /// Candidate packs deleted now (present in storage or not).
    pub delete: HashSet<Id>,
    pub revived: HashSet<Id>,
    pub waiting: usize,
    pub waiting_for_backups: usize,
    /// Candidates of records otherwise due whose Object Lock has not run out yet.
    pub locked: Vec<super::LockedPack>,
    /// Markers older than [`STALE_WRITER`]: left by crashed backups, removed.
    pub stale_writers: Vec<Id>,
}

pub fn plan_sweep(repo: &Repository, opts: &PruneOptions) -> anyhow::Result<SweepPlan> {
    let state = State::load(repo)?;
    let now = time::OffsetDateTime::now_utc();
    // A running backup that has not seen a record may have loaded the index without it
    // and reused its packs: that record waits until the backup is done.
    let mut running: Vec<Option<HashSet<Id>>> = vec![];
    let mut stale_writers = vec![];
    for (id, w) in repo.list_writers()? {
        if crate::repo::writer_is_gone(&w, now, STALE_WRITER) {
            // Left by a writer that is gone: it protects nothing any more.
            stale_writers.push(id);
        } else {
            running.push(w.seen_deletions.map(|v| v.into_iter().collect()));
        }
    }
    let mut plan = SweepPlan {
        state,
        expired: vec![],
        delete: HashSet::new(),
        revived: HashSet::new(),
        waiting: 0,
        waiting_for_backups: 0,
        locked: vec![],
        stale_writers,
    };
    // In a locked repository a record also waits for its packs' locks: deleting a locked
    // pack would only hide it (a delete marker) while it stays stored and billed.
    let locks = match repo.settings().object_lock {
        Some(l) => Some(crate::ops::locks::KnownLocks::load(repo, &l)?),
        None => None,
    };
    let mut delete = HashSet::new();
    for (id, r) in &plan.state.records {
        if parse_time(&r.created).map_err(anyhow::Error::msg)? + opts.grace > now {
            plan.waiting += r.packs.len();
        } else if running.iter().any(|seen| !seen.as_ref().is_some_and(|s| s.contains(id))) {
            plan.waiting_for_backups += r.packs.len();
        } else if let Some(locked) = match &locks {
            Some(l) => Some(still_locked(repo, l, &plan.state, &r.packs, now)?).filter(|v| !v.is_empty()),
            None => None,
        } {
            plan.locked.extend(locked);
        } else {
            plan.expired.push(*id);
            delete.extend(r.packs.iter().copied());
        }
    }
    if plan.expired.is_empty() {
        return Ok(plan);
    }
    // References collected again now: snapshots written since phase A (concurrent
    // backups) count too. Used blobs in packs about to be deleted (usually few) that no
    // surviving stored pack also holds are at risk.
    let (used, _) = used_blobs(repo)?;
    plan.state.index_changed(repo);
    let state = &plan.state;
    let idx = repo.index();
    let mut at_risk: HashMap<Id, Vec<Id>> = HashMap::new();
    let mut doomed_here: Vec<&Id> = delete.iter().collect();
    doomed_here.sort();
    for p in doomed_here {
        for e in pack_entries(&idx, p)?.into_iter().flatten().filter(|e| used.contains(&idx, &e.id)) {
            if at_risk.contains_key(&e.id) {
                continue;
            }
            let holders: Vec<Id> = idx.all_locations(&e.id).iter().map(|l| idx.pack_id(l.pack)).collect();
            if holders.iter().all(|h| delete.contains(h) || !state.stored.contains_key(h)) {
                at_risk.insert(e.id, holders.into_iter().filter(|h| delete.contains(h)).collect());
            }
        }
    }
    drop(idx);
    for hs in at_risk.values_mut() {
        hs.sort();
        if hs.iter().all(|h| delete.contains(h)) {
            delete.remove(&hs[0]);
            plan.revived.insert(hs[0]);
        }
    }
    plan.delete = delete;
    Ok(plan)
}

/// The packs of one record that are stored and locked past `now`, with their dates.
fn still_locked(
    repo: &Repository,
    locks: &crate::ops::locks::KnownLocks,
    state: &State,
    packs: &[Id],
    now: time::OffsetDateTime,
) -> anyhow::Result<Vec<super::LockedPack>> {
    let mut out = vec![];
    for p in packs {
        let Some(bytes) = state.stored.get(p) else { continue };
        if let Some(until) = locks.pack_locked_until(repo, p, now)? {
            out.push(super::LockedPack {
                pack: *p,
                bytes: *bytes,
                until: crate::repo::file::snapshot::format_time(until),
            });
        }
    }
    Ok(out)
}

impl SweepPlan {
    pub fn view(&self) -> PlanView {
        let mut delete: Vec<PlannedPack> = self
            .delete
            .iter()
            .filter_map(|p| Some(PlannedPack { pack: *p, bytes: *self.state.stored.get(p)?, why: None }))
            .collect();
        delete.sort_by_key(|p| p.pack);
        let mut revive: Vec<Id> = self.revived.iter().copied().collect();
        revive.sort();
        let mut locked = self.locked.clone();
        locked.sort_by(|a, b| a.until.cmp(&b.until).then(a.pack.cmp(&b.pack)));
        PlanView { mark: vec![], delete, revive, locked }
    }

    pub fn report(&self, r: &mut PruneReport) {
        r.packs_waiting = self.waiting;
        r.writers_gone = self.stale_writers.len();
        r.packs_waiting_for_backups = self.waiting_for_backups;
        r.packs_locked = self.locked.len();
        r.bytes_locked = self.locked.iter().map(|p| p.bytes).sum();
        // RFC 3339 in UTC sorts as text.
        r.locked_until_first = self.locked.iter().map(|p| p.until.clone()).min();
        r.locked_until_last = self.locked.iter().map(|p| p.until.clone()).max();
        r.packs_revived = self.revived.len();
        r.packs_deleted = self.delete.iter().filter(|p| self.state.stored.contains_key(p)).count();
        r.bytes_freed = self.delete.iter().filter_map(|p| self.state.stored.get(p)).sum();
    }
}
