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
        self.select_snapshot(spec, &SnapshotFilter::default())
    }

    /// Like [`Repository::resolve_snapshot`], with `latest` meaning the newest snapshot
    /// the filter matches: in a repository that holds buckets and `pg_dump` streams,
    /// "the latest" is only useful per source. An id names one snapshot whatever the
    /// filter, as in restic.
    pub fn select_snapshot(&self, spec: &str, filter: &SnapshotFilter) -> RepoResult<(Id, Snapshot)> {
        if spec == "latest" {
            let mut all = self.list_snapshots()?;
            if all.is_empty() {
                return Err(RepoError::NothingSelected("the repository has no snapshots".into()));
            }
            all.retain(|(_, s)| filter.matches(s));
            return all.pop().ok_or_else(|| RepoError::NothingSelected(format!("no snapshot matches {filter}")));
        }
        let id = resolve_prefix(self.snapshot_ids()?.into_iter(), spec, "snapshot")?;
        Ok((id, self.read_snapshot(&id)?))
    }

    /// The snapshots named by `specs` (ids, prefixes, `latest` of the filter), or, without
    /// specs, every snapshot the filter matches; a filter that matches nothing is
    /// [`RepoError::NothingSelected`].
    pub fn select_snapshots(&self, specs: &[String], filter: &SnapshotFilter) -> RepoResult<Vec<(Id, Snapshot)>> {
        if !specs.is_empty() {
            return specs.iter().map(|s| self.select_snapshot(s, filter)).collect();
        }
        let all = self.list_snapshots_matching(filter)?;
        if all.is_empty() && !filter.is_empty() {
            return Err(RepoError::NothingSelected(format!("no snapshot matches {filter}")));
        }
        Ok(all)
    }

    /// Every readable snapshot the filter matches, oldest first.
    pub fn list_snapshots_matching(&self, filter: &SnapshotFilter) -> RepoResult<Vec<(Id, Snapshot)>> {
        let mut all = self.list_snapshots()?;
        all.retain(|(_, s)| filter.matches(s));
        Ok(all)
    }
}

/// Which snapshots an operation considers, restic's `--host`, `--tag` and `--path`.
/// Each kind given must match; within a kind any value may (a `--tag` value `a,b` asks
/// for both tags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Each entry: tags that must all be present.
    pub tags: Vec<Vec<String>>,
    /// A source as given to `backup` (`s3://mimir`, `/data/loki`, `stdin:dop.sql`), or
    /// the name it is stored under (`mimir`, `dop.sql`).
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.tags.is_empty() && self.paths.is_empty()
    }

    pub fn matches(&self, s: &Snapshot) -> bool {
        let host = self.hosts.is_empty() || self.hosts.contains(&s.host);
        let tags = self.tags.is_empty() || self.tags.iter().any(|all| all.iter().all(|t| s.tags.contains(t)));
        let paths = self.paths.iter().all(|p| {
            let p = p.trim_end_matches('/');
            s.sources.iter().any(|src| src.trim_end_matches('/') == p || super::file::snapshot::source_name(src) == p)
        });
        host && tags && paths
    }
}

impl std::fmt::Display for SnapshotFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = vec![];
        parts.extend(self.hosts.iter().map(|h| format!("--host {h}")));
        parts.extend(self.tags.iter().map(|t| format!("--tag {}", t.join(","))));
        parts.extend(self.paths.iter().map(|p| format!("--path {p}")));
        if parts.is_empty() {
            f.write_str("(no filter)")
        } else {
            f.write_str(&parts.join(" "))
        }
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
