//! The repository side of the lock-free deletion protocol (format-spec §11): deletion
//! records written by prune, and the writer markers by which backups tell prune what they
//! may still depend on.

use std::sync::Arc;

use super::file::deletion::DeletionRecord;
use super::file::snapshot::{hostname, now_rfc3339};
use super::file::writer::WriterRecord;
use super::file::{FileType, RepoFile};
use super::{Id, RepoResult, Repository};

/// Removes the writer marker when the backup ends, however it ends.
pub struct WriterGuard {
    repo: Arc<Repository>,
    id: Id,
    started: String,
}

impl WriterGuard {
    /// Replace the marker by one naming the deletion records the loaded index knew.
    pub fn saw(&mut self, seen: Vec<Id>) -> RepoResult<()> {
        let new = self.repo.write_writer(&self.started, Some(seen))?;
        let old = std::mem::replace(&mut self.id, new);
        self.repo.remove_file(FileType::Writer, &old)
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let _ = self.repo.remove_file(FileType::Writer, &self.id);
    }
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
        let started = now_rfc3339();
        let id = self.write_writer(&started, None)?;
        Ok(WriterGuard { repo: self.clone(), id, started })
    }

    fn write_writer(&self, started: &str, seen: Option<Vec<Id>>) -> RepoResult<Id> {
        let rec = WriterRecord {
            version: 1,
            started: started.to_string(),
            host: hostname(),
            pid: std::process::id(),
            seen_deletions: seen,
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
