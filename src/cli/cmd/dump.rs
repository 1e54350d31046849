use clap::Args;

use crate::cli::global::Global;

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot id, unique prefix, or `latest`.
    snapshot: String,
    /// Path inside the snapshot, e.g. `backup/dop-202504211200.dump.gz`.
    path: String,
}

pub fn run(g: &Global, a: DumpArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let (_, snap) = repo.resolve_snapshot(&a.snapshot)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    crate::ops::dump::dump(&repo, &snap, &a.path, &mut out)?;
    Ok(0)
}
