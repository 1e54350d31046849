//! `ls`: the entries of a snapshot below a path.

use serde::Serialize;

use crate::error::RepoError;
use crate::repo::file::tree::NodeKind;
use crate::repo::Repository;

/// One entry as `ls --json` prints it, one per line (format-spec/json.md).
#[derive(Serialize, Debug)]
pub struct LsEntry {
    pub path: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    pub mode: u32,
    pub mtime_ns: i64,
    /// Gzip files stored as decoded text: the decoded length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gzip_decoded_size: Option<u64>,
    /// … and the number of gzip members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gzip_members: Option<usize>,
}

/// Visit every entry of `snapshot` below `path` (depth-first, name order).
pub fn ls(
    repo: &Repository,
    snapshot: &str,
    path: &str,
    mut visit: impl FnMut(LsEntry) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    repo.load_index()?;
    let (_, snap) = repo.resolve_snapshot(snapshot)?;
    let base = path.trim_matches('/');
    let start = crate::vfs::lookup(repo, &snap, base)?;
    let Some(sub) = start.subtree.filter(|_| start.kind == NodeKind::Dir) else {
        anyhow::bail!(RepoError::Invalid(format!("{base} is not a directory")));
    };
    crate::vfs::walk(repo, &sub, |e| {
        let path = if base.is_empty() { e.path.to_string() } else { format!("{base}/{}", e.path) };
        visit(LsEntry {
            path,
            size: e.node.size,
            kind: e.node.kind,
            mode: e.node.mode,
            mtime_ns: e.node.mtime_ns,
            gzip_decoded_size: e.node.gzip.as_ref().map(|r| r.content_len),
            gzip_members: e.node.gzip.as_ref().map(|r| r.members.len()),
        })
    })
}
