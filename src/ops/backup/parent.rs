//! Incremental backups: which earlier snapshot a backup compares against, and when a file
//! of it can be taken over without reading the source again.

use super::ctx::Ctx;
use super::BackupOptions;
use crate::id::Id;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::Repository;

/// The parent: `--parent` if given, else the newest snapshot of the same sources from the
/// same host (for shards: the same shard, whatever the host; shards run in changing pods).
pub(super) fn find_parent(
    repo: &Repository,
    opts: &BackupOptions,
    host: &str,
    sources: &[String],
) -> anyhow::Result<Option<(Id, Snapshot)>> {
    if opts.force {
        return Ok(None);
    }
    if let Some(p) = &opts.parent {
        return Ok(Some(repo.resolve_snapshot(p)?));
    }
    Ok(repo.list_snapshots()?.into_iter().rev().find(|(_, s)| {
        s.sources == sources
            && match (&opts.shard, &s.shard) {
                (Some(a), Some(b)) => a.index == b.index && a.count == b.count,
                (None, None) => s.host == host,
                _ => false,
            }
    }))
}

/// Unchanged since the parent, with all of its data still reusable in the repository. S3
/// objects are immutable: key, size and ETag identify the content; files: size and mtime.
pub(super) fn unchanged(ctx: &Ctx, prev: &Node, now: &Node) -> bool {
    let same = match &now.etag {
        Some(etag) => prev.etag.as_ref() == Some(etag),
        None => prev.mtime_ns == now.mtime_ns,
    };
    prev.kind == NodeKind::File && prev.size == now.size && same && {
        let idx = ctx.repo.index();
        prev.data_blobs().all(|id| idx.is_reusable(id))
    }
}
