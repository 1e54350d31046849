//! Listing snapshots and the TSDB blocks they hold.

use serde::Serialize;

use crate::id::Id;
use crate::layout::BlockFilter;
use crate::repo::file::snapshot::{logical_groups, BlockInfo, Excluded, Shard, Summary, Thinned};
use crate::repo::{Repository, SnapshotFilter};

/// One snapshot as `snapshots` shows it (format-spec/json.md).
#[derive(Serialize, Debug)]
pub struct SnapshotListing {
    pub id: Id,
    pub short_id: String,
    pub time: String,
    pub host: String,
    pub tags: Vec<String>,
    pub sources: Vec<String>,
    pub tree: Id,
    pub parent: Option<Id>,
    pub summary: Summary,
    pub tenants: Vec<TenantListing>,
    /// Blocks left out of the snapshot.
    pub excluded: usize,
    pub shard: Option<Shard>,
    /// For a shard: whether every shard of its logical snapshot is present.
    pub shard_group_complete: Option<bool>,
    pub thinned: Option<Thinned>,
}

/// A tenant's blocks in a snapshot: how many, and the time range they cover.
#[derive(Serialize, Debug)]
pub struct TenantListing {
    pub path: String,
    pub tenant: String,
    pub blocks: u64,
    /// Milliseconds since the epoch (earliest `minTime`, latest `maxTime`).
    pub min_time: i64,
    pub max_time: i64,
}

/// Every snapshot the filter matches, oldest first.
pub fn list(repo: &Repository, filter: &SnapshotFilter) -> anyhow::Result<Vec<SnapshotListing>> {
    let snaps = repo.list_snapshots_matching(filter)?;
    let groups = logical_groups(&snaps);
    let complete_of =
        |id: &Id| groups.iter().find(|(m, _)| m.iter().any(|&i| snaps[i].0 == *id)).is_some_and(|(_, c)| *c);
    Ok(snaps
        .iter()
        .map(|(id, s)| SnapshotListing {
            id: *id,
            short_id: id.short(),
            time: s.time.clone(),
            host: s.host.clone(),
            tags: s.tags.clone(),
            sources: s.sources.clone(),
            tree: s.tree,
            parent: s.parent,
            summary: s.summary.clone(),
            tenants: s
                .tenants
                .iter()
                .map(|t| TenantListing {
                    path: t.path.clone(),
                    tenant: t.tenant.clone(),
                    blocks: t.blocks,
                    min_time: t.min_time,
                    max_time: t.max_time,
                })
                .collect(),
            excluded: s.excluded.len(),
            shard: s.shard.clone(),
            shard_group_complete: s.shard.as_ref().map(|_| complete_of(id)),
            thinned: s.thinned.clone(),
        })
        .collect())
}

/// The blocks of a snapshot a filter selects, and the blocks it left out (format-spec/json.md).
#[derive(Serialize, Debug)]
pub struct BlocksReport {
    pub blocks: Vec<BlockInfo>,
    pub excluded: Vec<Excluded>,
}

pub fn blocks(repo: &Repository, snapshot: &str, filter: &BlockFilter) -> anyhow::Result<BlocksReport> {
    repo.load_index()?;
    let (_, snap) = repo.resolve_snapshot(snapshot)?;
    let blocks = crate::vfs::blocks(repo, &snap)?.into_iter().filter(|b| filter.matches(b)).collect();
    let excluded = snap
        .excluded
        .iter()
        .filter(|e| filter.tenants.is_empty() || filter.tenants.contains(&e.tenant))
        .cloned()
        .collect();
    Ok(BlocksReport { blocks, excluded })
}
