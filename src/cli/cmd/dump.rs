use clap::Args;

use crate::cli::global::Global;
use crate::cli::select::SnapshotArgs;
use crate::cli::UsageError;

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot id, unique prefix, or `latest`; `SNAPSHOT:PATH` names the file too,
    /// e.g. `latest:backup/dop-202504211200.dump.gz`.
    snapshot: String,
    /// Path inside the snapshot, e.g. `backup/dop-202504211200.dump.gz`.
    path: Option<String>,
    /// Print a gzip file's decoded bytes, as `zcat` would: `cellar dump --decompress
    /// latest:backup/dop-202504211200.dump.gz | psql`. Gzip-transparent files are printed
    /// from their stored text without inflating anything. A gzip file that was already
    /// damaged when it was backed up fails as it would with zcat (exit 1, after what did
    /// decode); its original bytes still dump and restore without --decompress.
    #[arg(long, short = 'd')]
    decompress: bool,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: DumpArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let pinned = a.select.pin(&repo, &a.snapshot)?;
    let (spec, inner) = crate::vfs::split_spec(&pinned);
    let path = match (a.path.as_deref(), inner) {
        (Some(p), "") => p.to_string(),
        (None, p) if !p.is_empty() => p.to_string(),
        (Some(p), dir) => format!("{}/{}", dir.trim_end_matches('/'), p.trim_start_matches('/')),
        (None, _) => {
            return Err(UsageError("dump needs a file: `cellar dump SNAPSHOT PATH` or `SNAPSHOT:PATH`".into()).into())
        }
    };
    let (_, snap) = repo.resolve_snapshot(spec)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    crate::ops::dump::dump(&repo, &snap, &path, a.decompress, &mut out)?;
    Ok(0)
}
