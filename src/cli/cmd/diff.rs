use clap::Args;

use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::select::SnapshotArgs;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot (id, prefix or `latest`).
    a: String,
    /// The newer snapshot.
    b: String,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: DiffArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let filter = a.select.filter();
    let (_, sa) = repo.select_snapshot(&a.a, &filter)?;
    let (_, sb) = repo.select_snapshot(&a.b, &filter)?;
    let r = crate::ops::diff::diff(&repo, &sa, &sb)?;
    if g.json {
        print_json(&r)?;
        return Ok(0);
    }
    for (sign, list) in [("+", &r.added), ("-", &r.removed), ("M", &r.changed), ("U", &r.metadata_changed)] {
        for p in list {
            println!("{sign}    {p}");
        }
    }
    for b in &r.blocks_added {
        println!("+B   {b}");
    }
    for b in &r.blocks_removed {
        println!("-B   {b}");
    }
    println!(
        "{} added ({}), {} removed ({}), {} changed, {} with new metadata; TSDB blocks: {} added, {} removed",
        count(r.added.len(), "entry", "entries"),
        indicatif::HumanBytes(r.bytes_added),
        r.removed.len(),
        indicatif::HumanBytes(r.bytes_removed),
        r.changed.len(),
        r.metadata_changed.len(),
        r.blocks_added.len(),
        r.blocks_removed.len()
    );
    Ok(0)
}
