//! `prune`: reclaim the space of data no snapshot references, without locks and without
//! endangering backups that run at the same time (format-spec §11). Each phase is planned
//! from what the repository holds ([`plan`]) and then carried out ([`execute`]); a dry run
//! reports the plans and changes nothing.
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

pub mod execute;
pub mod plan;

use serde::Serialize;

use crate::repo::Repository;

/// A temporary file older than this is taken to be left by a crashed writer.
pub const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_hours(6);
/// A writer marker without a heartbeat (written by an older cellar) older than this is
/// taken to be left by a crashed backup. Markers with a heartbeat go stale once it stops
/// for [`crate::repo::HEARTBEAT_TIMEOUT`], or at once when their process is gone.
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
    /// Entries per index file that prune writes (a pack is never split). Tests lower it
    /// so that a rewrite spans several files.
    pub index_file_entries: usize,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            max_unused: 0.05,
            max_repack_bytes: u64::MAX,
            grace: time::Duration::hours(6),
            dry_run: false,
            repack_cold: false,
            index_file_entries: execute::COMPACT_FILE_ENTRIES,
        }
    }
}

/// What prune did, or with `dry_run` would do (format-spec/json.md).
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
    /// Candidates past their grace period whose deletion waits for their Object Lock to
    /// run out (locked repositories), and when the first and the last of those locks end.
    pub packs_locked: usize,
    pub bytes_locked: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until_first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until_last: Option<String>,
    /// Locked repositories: the lock extension prune ran first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks: Option<crate::ops::locks::LockReport>,
    /// Writer markers of writers that are gone (process ended on this host, heartbeat
    /// stopped, or very old), which protect nothing and are removed.
    pub writers_gone: usize,
    pub index_files_rewritten: usize,
    /// Temporary files of interrupted writes that were removed.
    pub temporaries_removed: usize,
    /// Sketch files (delta-base hints) merged into one without the entries of deleted blobs.
    pub sketch_files_compacted: usize,
    /// On a dry run: the plan itself, pack by pack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanView>,
}

/// A dry run's plan: what would become a candidate (and why), what would be deleted, what
/// would be revived.
#[derive(Serialize, Debug, Default)]
pub struct PlanView {
    pub mark: Vec<PlannedPack>,
    pub delete: Vec<PlannedPack>,
    pub revive: Vec<crate::id::Id>,
    /// Due for deletion but locked (Object Lock) until the date given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<LockedPack>,
}

/// A pack prune cannot delete yet: locked until `until` (RFC 3339).
#[derive(Serialize, Debug, Clone)]
pub struct LockedPack {
    pub pack: crate::id::Id,
    pub bytes: u64,
    pub until: String,
}

#[derive(Serialize, Debug)]
pub struct PlannedPack {
    pub pack: crate::id::Id,
    pub bytes: u64,
    /// For `mark`: `unused` (nothing referenced), `unindexed` (in no index: left by an
    /// interrupted backup) or `repack` (mostly unused: live blobs copied first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
}

pub fn prune(repo: &Repository, opts: &PruneOptions) -> anyhow::Result<PruneReport> {
    repo.require_full_key("prune")?;
    refuse_beside_damage(repo)?;
    let mut report = PruneReport::default();
    // First keep what the snapshots need locked, so that nothing prune keeps falls out
    // of protection.
    if repo.settings().object_lock.is_some() {
        let o = crate::ops::locks::ExtendOptions { dry_run: opts.dry_run, ..Default::default() };
        report.locks = Some(crate::ops::locks::extend(repo, &o)?);
    }
    let mark = plan::plan_mark(repo, opts)?;
    mark.report(&mut report);
    let mark_view = if opts.dry_run { mark.view() } else { vec![] };
    if !opts.dry_run {
        execute::mark(repo, &mark, opts, &mut report)?;
    }
    drop(mark);
    let sweep = plan::plan_sweep(repo, opts)?;
    sweep.report(&mut report);
    if opts.dry_run {
        report.plan = Some(PlanView { mark: mark_view, ..sweep.view() });
    } else {
        execute::sweep(repo, sweep, opts, &mut report)?;
    }
    Ok(report)
}

/// Prune deletes what no snapshot references. With a damaged snapshot or index file it
/// cannot know what that is, so it refuses, and says how to repair.
fn refuse_beside_damage(repo: &Repository) -> anyhow::Result<()> {
    let snaps = repo.list_snapshots_checked()?;
    repo.load_index()?;
    let mut why = vec![];
    for d in &snaps.damaged {
        why.push(format!(
            "{} is damaged ({}): forget it (`cellar forget {}`) if it is lost for good",
            d.name(),
            d.error,
            d.id.short()
        ));
    }
    for d in repo.index_damage() {
        why.push(format!("{} is damaged ({}): run `cellar repair index`", d.name(), d.error));
    }
    if why.is_empty() {
        return Ok(());
    }
    Err(crate::error::RepoError::Invalid(format!(
        "refusing to prune: it would delete data it cannot account for; {}",
        why.join("; ")
    ))
    .into())
}

#[cfg(test)]
mod tests;
