//! Listing, reading and resolving snapshots.

use super::file::snapshot::Snapshot;
use super::file::FileType;
use super::{resolve_prefix, Id, Loaded, RepoResult, Repository};
use crate::error::RepoError;
use crate::notice::NoticeExt;

impl Repository {
    pub fn save_snapshot(&self, s: &Snapshot) -> RepoResult<(Id, u64)> {
        self.save_file(s)
    }

    pub fn read_snapshot(&self, id: &Id) -> RepoResult<Snapshot> {
        self.load_file(id)
    }

    /// Every readable snapshot, oldest first (by time, then id). Damaged snapshot files
    /// are skipped, each with a notice naming it: one bad file never hides the others.
    pub fn list_snapshots(&self) -> RepoResult<Vec<(Id, Snapshot)>> {
        let l = self.list_snapshots_checked()?;
        for d in &l.damaged {
            self.notices().warn(format!(
                "skipping {}: {} (`cellar forget {}` removes it)",
                d.name(),
                d.error,
                d.id.short()
            ));
        }
        Ok(l.files)
    }

    /// Readable snapshots (oldest first) and the damaged snapshot files.
    pub fn list_snapshots_checked(&self) -> RepoResult<Loaded<Snapshot>> {
        let mut l = self.load_all::<Snapshot>()?;
        sort_snapshots(&mut l.files);
        Ok(l)
    }

    pub fn snapshot_ids(&self) -> RepoResult<Vec<Id>> {
        self.list_ids(FileType::Snapshot)
    }

    /// `latest`, a full id, or a unique prefix of one.
    pub fn resolve_snapshot(&self, spec: &str) -> RepoResult<(Id, Snapshot)> {
        if spec == "latest" {
            return self
                .list_snapshots()?
                .pop()
                .ok_or_else(|| RepoError::NotFound("the repository has no snapshots".into()));
        }
        let id = resolve_prefix(self.snapshot_ids()?.into_iter(), spec, "snapshot")?;
        Ok((id, self.read_snapshot(&id)?))
    }
}

/// Oldest first, by the snapshots' times as points in time (not as strings), then by id.
pub fn sort_snapshots(snaps: &mut [(Id, Snapshot)]) {
    snaps.sort_by_cached_key(|(id, s)| (s.timestamp(), *id));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(time: &str) -> Snapshot {
        Snapshot::sample(time, "/s")
    }

    /// The formatter drops a zero fraction: as strings, `…:00Z` sorts after `…:00.5Z`
    /// although it is half a second earlier.
    #[test]
    fn snapshots_of_the_same_second_sort_by_time_not_by_text() {
        let (early, late) = (snap("2026-12-01T10:00:00Z"), snap("2026-12-01T10:00:00.5Z"));
        assert!(early.time > late.time, "the premise: the text order is wrong");
        let mut v = vec![(Id([2; 32]), late.clone()), (Id([1; 32]), early.clone())];
        sort_snapshots(&mut v);
        assert_eq!(v.iter().map(|(_, s)| s.time.as_str()).collect::<Vec<_>>(), [&early.time, &late.time]);
        // Through the repository: `latest` is the later one whatever the ids.
        let repo = crate::repo::tests::mem_repo();
        repo.save_snapshot(&late).unwrap();
        repo.save_snapshot(&early).unwrap();
        assert_eq!(repo.resolve_snapshot("latest").unwrap().1.time, late.time);
    }
}
