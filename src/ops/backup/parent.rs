//! Incremental backups: which earlier snapshot a backup compares against, and when a file
//! of it can be taken over without reading the source again.

use std::collections::HashMap;

use super::ctx::Ctx;
use super::send_log::SendLog;
use super::BackupOptions;
use crate::error::RepoError;
use crate::id::Id;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{Node, NodeKind, Tree};
use crate::repo::Repository;

/// Trees of a parent kept in the send log (append-only keys), by id.
pub(super) type LoggedTrees = HashMap<Id, Vec<u8>>;

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
    Ok(repo.list_snapshots()?.into_iter().rev().find(|(_, s)| same_series(opts, host, sources, s)))
}

/// The parent of an append-only backup, from this host's send log: `--parent` by id
/// prefix, else the newest logged snapshot of the same sources.
pub(super) fn logged_parent(
    log: &SendLog,
    opts: &BackupOptions,
    host: &str,
    sources: &[String],
) -> anyhow::Result<Option<(Id, Snapshot, LoggedTrees)>> {
    if opts.force {
        return Ok(None);
    }
    let found = match &opts.parent {
        Some(p) => {
            let p = p.to_ascii_lowercase();
            let l = log.find(|id, _| p == "latest" || id.to_hex().starts_with(&p));
            if l.is_none() {
                anyhow::bail!("--parent {p}: not in this host's send log (an append-only key reads no snapshots)");
            }
            l
        }
        None => log.find(|_, s| same_series(opts, host, sources, s)),
    };
    Ok(found.map(|l| (l.id, l.snapshot, l.trees)))
}

/// Snapshots of the same series: the same sources, from the same host (for shards: the
/// same shard, whatever the host; shards run in changing pods).
pub(super) fn same_series(opts: &BackupOptions, host: &str, sources: &[String], s: &Snapshot) -> bool {
    s.sources == sources
        && match (&opts.shard, &s.shard) {
            (Some(a), Some(b)) => a.index == b.index && a.count == b.count,
            (None, None) => s.host == host,
            _ => false,
        }
}

/// A tree of the parent: from the send log when there is one, else from the repository.
pub(super) fn read_tree(repo: &Repository, logged: Option<&LoggedTrees>, id: &Id) -> Result<Tree, RepoError> {
    match logged {
        None => repo.read_tree(id),
        Some(trees) => {
            let what = || format!("tree {} of the send log", id.short());
            let b = trees.get(id).ok_or_else(|| RepoError::NotFound(what()))?;
            Tree::from_bytes(b).map_err(|e| RepoError::integrity(what(), e))
        }
    }
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
