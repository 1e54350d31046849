use clap::Args;
use std::io::Write;

use crate::cli::global::Global;
use crate::cli::select::SnapshotArgs;
use crate::repo::file::tree::NodeKind;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id, unique prefix, or `latest`; `SNAPSHOT:PATH` lists below PATH.
    snapshot: String,
    /// Only below this path (relative to `SNAPSHOT:PATH` when both are given).
    path: Option<String>,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: LsArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let mut out = std::io::stdout().lock();
    let pinned = a.select.pin(&repo, &a.snapshot)?;
    let (spec, dir) = crate::vfs::split_spec(&pinned);
    let path = match a.path.as_deref() {
        Some(p) if !dir.is_empty() => format!("{}/{}", dir.trim_end_matches('/'), p.trim_start_matches('/')),
        Some(p) => p.to_string(),
        None => dir.to_string(),
    };
    crate::ops::ls::ls(&repo, spec, &path, |e| {
        if g.json {
            serde_json::to_writer(&mut out, &e)?;
            writeln!(out)?;
        } else {
            let kind = match e.kind {
                NodeKind::File => "file",
                NodeKind::Dir => "dir",
                NodeKind::Symlink => "symlink",
            };
            writeln!(out, "{kind:<7} {:>12}  {}", e.size, e.path)?;
        }
        Ok(())
    })?;
    Ok(0)
}
