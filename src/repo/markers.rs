//! The repository side of the lock-free deletion protocol (format-spec §11): deletion
//! records written by prune, and the writer markers by which backups tell prune what they
//! may still depend on.

use std::sync::Arc;

use super::file::deletion::DeletionRecord;
use super::file::snapshot::{hostname, now_rfc3339, parse_time};
use super::file::writer::WriterRecord;
use super::file::{FileType, RepoFile};
use super::{Id, RepoResult, Repository};

/// How often a running writer refreshes its marker, so a prune can tell a writer that is
/// gone (its heartbeat stopped) from one that runs long.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_mins(1);
/// A marker whose heartbeat is older than this belongs to a writer that is gone.
pub const HEARTBEAT_TIMEOUT: time::Duration = time::Duration::minutes(10);

/// The writer's current marker: what it says and the file saying it.
struct Marker {
    id: Id,
    seen: Option<Vec<Id>>,
}

/// Announces a running writer until dropped: writes the marker, refreshes it every
/// [`HEARTBEAT`] from a thread of its own, and removes it when the writer ends, however
/// it ends.
pub struct WriterGuard {
    repo: Arc<Repository>,
    started: String,
    marker: Arc<parking_lot::Mutex<Marker>>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    beat: Option<std::thread::JoinHandle<()>>,
}

impl WriterGuard {
    fn start(repo: Arc<Repository>) -> RepoResult<WriterGuard> {
        let started = now_rfc3339();
        let id = repo.write_writer(&started, None)?;
        let marker = Arc::new(parking_lot::Mutex::new(Marker { id, seen: None }));
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let (r, m, st) = (repo.clone(), marker.clone(), started.clone());
        let beat = std::thread::Builder::new()
            .name("cellar-heartbeat".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HEARTBEAT) {
                    let mut m = m.lock();
                    // Best effort: a missed beat is made up by the next one.
                    if let Ok(new) = r.write_writer(&st, m.seen.clone()) {
                        let old = std::mem::replace(&mut m.id, new);
                        let _ = r.remove_marker(&old);
                    }
                }
            })
            .expect("spawn heartbeat thread");
        Ok(WriterGuard { repo, started, marker, stop: Some(stop), beat: Some(beat) })
    }

    /// Replace the marker by one naming the deletion records the loaded index knew.
    pub fn saw(&mut self, seen: Vec<Id>) -> RepoResult<()> {
        let mut m = self.marker.lock();
        let new = self.repo.write_writer(&self.started, Some(seen.clone()))?;
        let old = std::mem::replace(&mut m.id, new);
        m.seen = Some(seen);
        self.repo.remove_marker(&old)
    }

    /// Whether the marker is still there. A prune removes the marker of a writer it takes
    /// to be gone (heartbeat stopped: the process was paused for minutes) before deleting
    /// anything that writer may use; such a writer must not commit a snapshot.
    pub fn still_announced(&self) -> RepoResult<bool> {
        let id = self.marker.lock().id;
        match self.repo.backend().read(&FileType::Writer.name(&id)) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(b) = self.beat.take() {
            let _ = b.join();
        }
        let _ = self.repo.remove_marker(&self.marker.lock().id);
    }
}

/// True when a writer marker belongs to a writer that is gone: its process no longer runs
/// on this host, its heartbeat stopped, or (markers without a heartbeat) it is older than
/// `stale_after`.
pub fn writer_is_gone(w: &WriterRecord, now: time::OffsetDateTime, stale_after: time::Duration) -> bool {
    let older = |t: &str, d: time::Duration| parse_time(t).is_ok_and(|t| t + d <= now);
    crate::host::writer_gone(&w.host, w.pid)
        || w.heartbeat.as_deref().is_some_and(|h| older(h, HEARTBEAT_TIMEOUT))
        || older(&w.started, stale_after)
}

impl Repository {
    /// Every deletion record; one that vanished meanwhile (another prune finished it) is
    /// skipped.
    pub fn list_deletions(&self) -> RepoResult<Vec<(Id, DeletionRecord)>> {
        self.load_present()
    }

    /// Every file of a short-lived kind (records, markers) still there when read.
    fn load_present<F: RepoFile>(&self) -> RepoResult<Vec<(Id, F)>> {
        let mut out = vec![];
        for id in self.list_ids(F::TYPE)? {
            match self.load_file(&id) {
                Ok(f) => out.push((id, f)),
                Err(e) if e.is_missing_file() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn save_deletion(&self, r: &DeletionRecord) -> RepoResult<Id> {
        Ok(self.save_file(r)?.0)
    }

    /// Announce a backup (or any writer that deduplicates against the index) until the
    /// guard is dropped. Call before loading the index; then [`WriterGuard::saw`] records
    /// which deletion records the loaded index took into account.
    pub fn register_writer(self: &Arc<Self>) -> RepoResult<WriterGuard> {
        WriterGuard::start(self.clone())
    }

    /// Remove a marker this writer replaced or is done with. An append-only key removes
    /// nothing (its S3 credentials need no delete permission): its markers stop beating
    /// and a full key's prune removes them once they are stale.
    fn remove_marker(&self, id: &Id) -> RepoResult<()> {
        if self.append_only() {
            return Ok(());
        }
        self.remove_file(FileType::Writer, id)
    }

    fn write_writer(&self, started: &str, seen: Option<Vec<Id>>) -> RepoResult<Id> {
        let rec = WriterRecord {
            version: 1,
            started: started.to_string(),
            host: hostname(),
            pid: std::process::id(),
            seen_deletions: seen,
            heartbeat: Some(now_rfc3339()),
        };
        Ok(self.save_file(&rec)?.0)
    }

    /// Deletion records the last [`Repository::load_index`] took into account.
    pub fn seen_deletions(&self) -> Vec<Id> {
        self.seen_deletions.read().clone()
    }

    /// Writers that announced themselves; markers removed meanwhile (the writer finished)
    /// are skipped.
    pub fn list_writers(&self) -> RepoResult<Vec<(Id, WriterRecord)>> {
        self.load_present()
    }
}
