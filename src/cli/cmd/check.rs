use clap::Args;

use crate::cli::global::Global;
use crate::cli::output::print_json;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also read every pack and verify every blob (reads all data).
    #[arg(long)]
    read_data: bool,
}

pub fn run(g: &Global, a: CheckArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let r = crate::ops::check::check(&repo, a.read_data)?;
    if g.json {
        print_json(&r)?;
    } else {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for e in &r.errors {
            eprintln!("error: {e}");
        }
        println!(
            "checked {} snapshots, {} packs ({} read), {} blobs: {}",
            r.snapshots,
            r.packs,
            r.packs_read,
            r.blobs,
            if r.ok() { "no errors" } else { "ERRORS FOUND" }
        );
    }
    Ok(u8::from(!r.ok()))
}
