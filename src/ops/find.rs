//! `find PATTERN`: which snapshots hold a path, a file name or a TSDB block (its ULID is
//! its directory's name), newest first, so "when did this block leave the bucket?" has an
//! answer.

use globset::GlobBuilder;
use serde::Serialize;

use crate::id::Id;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::Repository;

#[derive(Serialize, Debug)]
pub struct Found {
    pub snapshot: Id,
    pub time: String,
    pub path: String,
    pub size: u64,
}

/// `pattern` is a glob (`*` within a segment, `**` across) matched against each entry's
/// name and its whole path.
pub fn find(repo: &Repository, snaps: &[(Id, Snapshot)], pattern: &str) -> anyhow::Result<Vec<Found>> {
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| anyhow::anyhow!("pattern {pattern:?}: {e}"))?
        .compile_matcher();
    repo.load_index()?;
    let mut out = vec![];
    for (id, s) in snaps.iter().rev() {
        crate::vfs::walk(repo, &s.tree, |e| {
            let name = e.path.rsplit('/').next().unwrap_or(e.path);
            if glob.is_match(name) || glob.is_match(e.path) {
                out.push(Found { snapshot: *id, time: s.time.clone(), path: e.path.to_string(), size: e.node.size });
            }
            Ok(())
        })?;
    }
    Ok(out)
}
