//! `report`: what the archive holds, for a person: the snapshots over time, each tenant's
//! metric coverage with its gaps, how the repository grew against what it holds, the
//! blocks left out and when data was last read back. Gathered here; drawn as one
//! self-contained HTML file by [`html`].

mod html;

use serde::Serialize;
use std::collections::BTreeMap;

use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::verified::VerifiedFile;
use crate::repo::Repository;

pub use html::render;

#[derive(Serialize, Debug)]
pub struct ReportData {
    /// RFC 3339, UTC.
    pub generated: String,
    pub repository: String,
    pub snapshots: Vec<SnapshotRow>,
    /// Per source and tenant, from the latest snapshot of each source.
    pub coverage: Vec<Coverage>,
    /// Blocks the latest snapshot of each source left out.
    pub excluded: Vec<ExcludedRow>,
    pub stats: crate::ops::stats::Stats,
    pub last_check: Option<LastCheck>,
}

#[derive(Serialize, Debug)]
pub struct SnapshotRow {
    pub id: String,
    pub time: String,
    /// Seconds since the epoch.
    pub at: i64,
    pub host: String,
    pub sources: String,
    pub tags: Vec<String>,
    pub files: u64,
    /// Logical bytes.
    pub bytes: u64,
    /// Bytes this snapshot's backup added to the repository.
    pub bytes_added: u64,
    /// The repository's sealed blob bytes once this snapshot's data was stored (0:
    /// unknown, an older or copied snapshot).
    pub repository_bytes: u64,
    pub excluded_blocks: usize,
}

#[derive(Serialize, Debug)]
pub struct Coverage {
    pub source: String,
    pub tenant: String,
    pub snapshot: String,
    pub blocks: usize,
    /// Merged `[from, to)` ranges of the blocks' samples (ms since the epoch).
    pub covered: Vec<(i64, i64)>,
    /// The holes between them.
    pub gaps: Vec<(i64, i64)>,
}

#[derive(Serialize, Debug)]
pub struct ExcludedRow {
    pub source: String,
    pub tenant: String,
    pub ulid: String,
    pub reason: String,
    pub detail: String,
}

#[derive(Serialize, Debug)]
pub struct LastCheck {
    /// Seconds since the epoch of the newest verification.
    pub newest: u64,
    pub oldest: u64,
    pub packs_verified: usize,
    pub packs_damaged: usize,
    pub packs_total: usize,
}

pub fn gather(repo: &Repository) -> anyhow::Result<ReportData> {
    repo.load_index()?;
    let snaps = repo.list_snapshots()?;
    let mut latest: BTreeMap<String, (String, &Snapshot)> = BTreeMap::new();
    let mut rows = vec![];
    for (id, s) in &snaps {
        let sources = s.sources.join(" ");
        rows.push(SnapshotRow {
            id: id.short(),
            time: s.time.clone(),
            at: s.timestamp().unix_timestamp(),
            host: s.host.clone(),
            sources: sources.clone(),
            tags: s.tags.clone(),
            files: s.summary.files,
            bytes: s.summary.bytes,
            bytes_added: s.summary.bytes_added,
            repository_bytes: s.summary.repository_bytes,
            excluded_blocks: s.excluded.len(),
        });
        latest.insert(sources, (id.short(), s)); // oldest first: the last one stays
    }
    let mut coverage = vec![];
    let mut excluded = vec![];
    for (source, (id, s)) in &latest {
        let mut by_tenant: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for b in crate::vfs::blocks(repo, s)? {
            let key = b.path.rsplit_once('/').map_or(b.tenant.clone(), |(dir, _)| dir.to_string());
            by_tenant.entry(key).or_default().push((b.min_time, b.max_time));
        }
        for (tenant, ranges) in by_tenant {
            let blocks = ranges.len();
            let (covered, gaps) = merge(ranges);
            coverage.push(Coverage { source: source.clone(), tenant, snapshot: id.clone(), blocks, covered, gaps });
        }
        excluded.extend(s.excluded.iter().map(|e| ExcludedRow {
            source: source.clone(),
            tenant: e.tenant.clone(),
            ulid: e.ulid.clone(),
            reason: e.reason.as_str().to_string(),
            detail: e.detail.clone(),
        }));
    }
    let verified = repo.load_all::<VerifiedFile>()?.files;
    let checks: Vec<_> = verified.iter().flat_map(|(_, f)| f.packs.iter().map(|(v, _)| v)).collect();
    let packs_total = repo.index().packs().len();
    let last_check = (!checks.is_empty()).then(|| LastCheck {
        newest: checks.iter().map(|v| v.at).max().unwrap_or(0),
        oldest: checks.iter().map(|v| v.at).min().unwrap_or(0),
        packs_verified: checks
            .iter()
            .filter(|v| v.intact)
            .map(|v| v.pack)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        packs_damaged: checks.iter().filter(|v| !v.intact).count(),
        packs_total,
    });
    Ok(ReportData {
        generated: crate::repo::file::snapshot::now_rfc3339(),
        repository: repo.backend().location(),
        snapshots: rows,
        coverage,
        excluded,
        stats: crate::ops::stats::stats(repo)?,
        last_check,
    })
}

/// `[from, to)` in milliseconds since the epoch.
type Range = (i64, i64);

/// Holes shorter than this are no gap: a block's range runs from its first sample to just
/// after its last, so neighbouring blocks are a scrape interval apart.
pub const GAP_MIN_MS: i64 = 5 * 60 * 1000;

/// Merge `[from, to)` ranges; returns them merged and the gaps (of at least
/// [`GAP_MIN_MS`]) between them.
fn merge(mut ranges: Vec<Range>) -> (Vec<Range>, Vec<Range>) {
    ranges.sort_unstable();
    let mut covered: Vec<Range> = vec![];
    for (a, b) in ranges {
        match covered.last_mut() {
            Some(last) if a < last.1 + GAP_MIN_MS => last.1 = last.1.max(b),
            _ => covered.push((a, b)),
        }
    }
    let gaps = covered.windows(2).map(|w| (w[0].1, w[1].0)).collect();
    (covered, gaps)
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlapping_and_touching_blocks_merge_and_holes_are_gaps() {
        let m = super::GAP_MIN_MS;
        let (c, g) = super::merge(vec![(10, 20), (0, 10), (15, 25), (24 + m, 30 + m), (40 + 3 * m, 50 + 3 * m)]);
        assert_eq!(c, [(0, 30 + m), (40 + 3 * m, 50 + 3 * m)], "a hole of just under GAP_MIN_MS is no gap");
        assert_eq!(g, [(30 + m, 40 + 3 * m)]);
    }
}
