//! Object Lock retention of a locked repository (format-spec §15): every file a live
//! snapshot needs stays locked, however old it is. Dedup makes that necessary: tonight's
//! snapshot reuses packs written a year ago, whose locks, set when they were written,
//! would otherwise have run out long ago. Files only forgotten snapshots need are left to
//! run out, so prune can delete them once they have.
//!
//! A file's lock is known without asking S3 for it: at least its write time (listed)
//! plus the period, or a later date a retention log recorded when it was extended. An
//! extension moves the locks that end within `min_remaining` (default: half the period)
//! to a full period from now, so each needed file costs one request per half period.

use anyhow::Context;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use time::OffsetDateTime;

use crate::backend::Retention;
use crate::id::Id;
use crate::notice::NoticeExt;
use crate::repo::file::config::ObjectLock;
use crate::repo::file::retention_log::{Extended, RetentionLog};
use crate::repo::file::FileType;
use crate::repo::Repository;

/// How far a server's clock may be ahead of the writer's: a file's lock is taken to end
/// this much before its listed write time plus the period.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(10);
/// Lock extensions sent at once (each is one small request).
const PARALLEL_REQUESTS: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct ExtendOptions {
    /// Extend the locks that end sooner than this from now; `None`: half the period.
    pub min_remaining: Option<time::Duration>,
    pub dry_run: bool,
}

/// What an extension found and did (format-spec/json.md).
#[derive(Serialize, Debug, Default, Clone)]
pub struct LockReport {
    pub mode: String,
    pub period_seconds: u64,
    /// Locked files the live snapshots need: config, keys, index files, snapshots, packs.
    pub files_needed: usize,
    pub bytes_needed: u64,
    /// Of those, the ones whose locks were (on a dry run: would be) extended.
    pub files_extended: usize,
    pub bytes_extended: u64,
    /// The date they were extended to (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_until: Option<String>,
    /// The earliest date a needed file's lock ends, after this extension: the next
    /// extension must run before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_locked_until: Option<String>,
    /// Locked files no live snapshot needs (left to run out; prune deletes them after).
    pub files_not_needed: usize,
    pub dry_run: bool,
}

/// The lock settings of `repo`, or an error saying it has none.
pub fn lock_of(repo: &Repository) -> anyhow::Result<ObjectLock> {
    repo.settings().object_lock.ok_or_else(|| {
        crate::error::RepoError::Invalid(format!(
            "the repository at {} is not locked (only repositories made with `init --object-lock` are)",
            repo.backend().location()
        ))
        .into()
    })
}

/// Every locked file of the repository (by storage name) with its size and the date its
/// lock is known to last until at least.
pub struct KnownLocks {
    pub files: HashMap<String, (u64, OffsetDateTime)>,
    /// Retention logs read (to be replaced by the next extension).
    logs: Vec<Id>,
    log_entries: Vec<Extended>,
}

impl KnownLocks {
    pub fn load(repo: &Repository, lock: &ObjectLock) -> anyhow::Result<KnownLocks> {
        let b = repo.backend();
        let mut files = HashMap::new();
        for kind in FileType::ALL.into_iter().filter(|k| k.locked() && *k != FileType::Config) {
            for d in b.list_dated(kind.dir()).with_context(|| format!("listing {}/", kind.dir()))? {
                files.insert(d.name, (d.size, d.modified + lock.period() - CLOCK_SKEW));
            }
        }
        // The config is not listed: its lock is known from the logs, or taken as ending now.
        files.insert(FileType::Config.dir().to_string(), (0, OffsetDateTime::UNIX_EPOCH));
        let mut logs = vec![];
        let mut log_entries = vec![];
        for id in repo.list_ids(FileType::RetentionLog)? {
            match repo.load_file::<RetentionLog>(&id) {
                Ok(log) => log_entries.extend(log.entries),
                // A lost log only makes the next extension do more.
                Err(e) if e.is_damage() => {
                    repo.notices().warn(format!("skipping {}: {e}", FileType::RetentionLog.name(&id)));
                }
                Err(e) => return Err(e.into()),
            }
            logs.push(id);
        }
        for e in &log_entries {
            let until = OffsetDateTime::from_unix_timestamp(e.until).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            if let Some((_, known)) = files.get_mut(&e.name()) {
                *known = (*known).max(until);
            }
        }
        Ok(KnownLocks { files, logs, log_entries })
    }

    /// When the lock of pack `id` ends after `now`, or `None` once it has ended (or the
    /// pack is gone). The known date is a lower bound (clock skew, lost logs): when it
    /// says "ended", the store is asked, so nothing is deleted a second early.
    pub fn pack_locked_until(
        &self,
        repo: &Repository,
        id: &Id,
        now: OffsetDateTime,
    ) -> anyhow::Result<Option<OffsetDateTime>> {
        let name = FileType::Pack.name(id);
        match self.files.get(&name) {
            None => Ok(None),
            Some((_, known)) if *known > now => Ok(Some(*known)),
            Some(_) => match repo.backend().lock_until(&name) {
                Ok(t) => Ok(t.filter(|t| *t > now)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }
}

/// The locked files the live snapshots need, by storage name: the config, every key, every
/// index file, every snapshot, and every pack holding a blob they reach (delta bases too).
fn needed_files(repo: &Repository) -> anyhow::Result<HashSet<String>> {
    let snaps = repo.list_snapshots()?;
    repo.load_index()?;
    let used = crate::vfs::reachable_blobs(repo, snaps.iter().map(|(_, s)| s))?;
    let mut needed = HashSet::new();
    needed.insert(FileType::Config.dir().to_string());
    for kind in [FileType::Key, FileType::Index, FileType::Snapshot, FileType::Session] {
        needed.extend(repo.list_ids(kind)?.iter().map(|id| kind.name(id)));
    }
    let idx = repo.index();
    let packs = idx.packs();
    let mut pack_ids: HashSet<u32> = HashSet::new();
    let listed = idx.blobs().map(|(id, _)| id).filter(|id| used.contains(&idx, id));
    for id in listed.chain(used.unlisted().copied()) {
        if let Some(loc) = idx.get(&id) {
            pack_ids.insert(loc.pack);
        }
    }
    needed.extend(pack_ids.into_iter().map(|p| FileType::Pack.name(&packs[p as usize])));
    Ok(needed)
}

/// Extend the locks of the files the live snapshots need that end within
/// `min_remaining`, record the new dates in one retention log that replaces the old ones.
/// Idempotent: a second run right after extends nothing.
pub fn extend(repo: &Repository, opts: &ExtendOptions) -> anyhow::Result<LockReport> {
    repo.require_full_key("extend locks (it cannot read which files the snapshots need)")?;
    let lock = lock_of(repo)?;
    let now = OffsetDateTime::now_utc();
    let needed = needed_files(repo)?;
    let known = KnownLocks::load(repo, &lock)?;
    let min_remaining = opts.min_remaining.unwrap_or(lock.period() / 2);
    let to = Retention::until(lock.mode, now + lock.period());
    let until = to.until;
    let mut report = LockReport {
        mode: lock.mode.as_str().into(),
        period_seconds: lock.retain_seconds,
        dry_run: opts.dry_run,
        ..LockReport::default()
    };
    let mut due: Vec<(&String, u64)> = vec![];
    let mut earliest: Option<OffsetDateTime> = None;
    for (name, (size, known_until)) in &known.files {
        if !needed.contains(name) {
            report.files_not_needed += 1;
            continue;
        }
        report.files_needed += 1;
        report.bytes_needed += size;
        if *known_until < now + min_remaining {
            due.push((name, *size));
            earliest = Some(earliest.map_or(until, |e| e.min(until)));
        } else {
            earliest = Some(earliest.map_or(*known_until, |e| e.min(*known_until)));
        }
    }
    due.sort();
    report.files_extended = due.len();
    report.bytes_extended = due.iter().map(|(_, s)| s).sum();
    report.needed_locked_until = earliest.map(crate::repo::file::snapshot::format_time);
    if !due.is_empty() {
        report.extended_until = Some(crate::repo::file::snapshot::format_time(until));
    }
    if opts.dry_run {
        return Ok(report);
    }
    let extended = extend_all(repo, &due, &to)?;
    if extended.is_empty() && known.logs.len() <= 1 {
        return Ok(report);
    }
    // One log with what is still in force (of files that exist) and what was just done.
    let fresh: HashSet<&str> = extended.iter().map(String::as_str).collect();
    let mut entries: Vec<Extended> = known
        .log_entries
        .iter()
        .filter(|e| {
            e.until > now.unix_timestamp() && known.files.contains_key(&e.name()) && !fresh.contains(e.name().as_str())
        })
        .copied()
        .collect();
    for name in &extended {
        let (kind, id) = parse_locked_name(name)?;
        entries.push(Extended { kind, id, until: until.unix_timestamp() });
    }
    // Per file, the latest date only.
    entries.sort_by_key(|e| (e.kind, e.id, std::cmp::Reverse(e.until)));
    entries.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
    if !entries.is_empty() {
        repo.save_file(&RetentionLog { entries })?;
    }
    for id in &known.logs {
        repo.remove_file(FileType::RetentionLog, id)?;
    }
    Ok(report)
}

/// Send the extensions, several at once; returns the names extended (all of them, or the
/// first error).
fn extend_all(repo: &Repository, due: &[(&String, u64)], to: &Retention) -> anyhow::Result<Vec<String>> {
    let next = AtomicUsize::new(0);
    let failed = parking_lot::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_REQUESTS.min(due.len()) {
            s.spawn(|| loop {
                if failed.lock().is_some() {
                    return;
                }
                let Some((name, _)) = due.get(next.fetch_add(1, Relaxed)) else { return };
                if let Err(e) = repo.backend().extend_retention(name, to) {
                    failed.lock().get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = failed.into_inner() {
        return Err(anyhow::Error::new(e).context("extending Object Lock retention"));
    }
    Ok(due.iter().map(|(n, _)| (*n).clone()).collect())
}

/// A lock period as people say it: `30 days`, `1 day`, `12 hours`, `90 seconds`.
pub fn show_period(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn parse_locked_name(name: &str) -> anyhow::Result<(FileType, Id)> {
    if name == FileType::Config.dir() {
        return Ok((FileType::Config, Id([0; 32])));
    }
    for kind in [FileType::Key, FileType::Pack, FileType::Index, FileType::Snapshot, FileType::Session] {
        if let Some(id) = kind.id_of(name) {
            return Ok((kind, id));
        }
    }
    anyhow::bail!("{name}: not a locked repository file")
}
