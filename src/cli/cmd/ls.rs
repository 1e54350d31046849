use clap::Args;
use std::io::Write;

use crate::cli::global::Global;
use crate::repo::file::tree::NodeKind;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id, unique prefix, or `latest`.
    snapshot: String,
    /// Only below this path.
    path: Option<String>,
}

pub fn run(g: &Global, a: LsArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let mut out = std::io::stdout().lock();
    crate::ops::ls::ls(&repo, &a.snapshot, a.path.as_deref().unwrap_or(""), |e| {
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
