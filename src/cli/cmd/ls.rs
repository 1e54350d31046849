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
    /// Long listing: permissions, size, modification time (UTC, or local with TZ), path; S3 objects show
    /// their stored time. Gzip files stored as decoded text show both sizes.
    #[arg(short = 'l', long = "long")]
    long: bool,
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
            if a.long {
                let t = crate::cli::clock::show_ms(e.mtime_ns.div_euclid(1_000_000));
                let kind_char = match e.kind {
                    NodeKind::File => '-',
                    NodeKind::Dir => 'd',
                    NodeKind::Symlink => 'l',
                };
                let gz = e.gzip_decoded_size.map_or(String::new(), |d| format!("  (gzip of {d} bytes)"));
                writeln!(out, "{kind_char}{} {:>12}  {t}  {}{gz}", permissions(e.mode), e.size, e.path)?;
            } else {
                writeln!(out, "{kind:<7} {:>12}  {}", e.size, e.path)?;
            }
        }
        Ok(())
    })?;
    Ok(0)
}

/// `rwxr-x---` from a mode's permission bits.
fn permissions(mode: u32) -> String {
    (0..9)
        .map(|i| {
            let bit = 1 << (8 - i);
            if mode & bit == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][i % 3]
            }
        })
        .collect()
}
