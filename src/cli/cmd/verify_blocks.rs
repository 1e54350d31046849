use clap::Args;

use super::blocks::BlockArgs;
use crate::cli::global::Global;
use crate::cli::output::{count, print_json};

#[derive(Args, Debug)]
pub struct VerifyBlocksArgs {
    /// Snapshot id, unique prefix, or `latest`.
    snapshot: String,
    #[command(flatten)]
    blocks: BlockArgs,
}

pub fn run(g: &Global, a: VerifyBlocksArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let (_, snap) = repo.resolve_snapshot(&a.snapshot)?;
    let r = crate::ops::verify_blocks::verify(&repo, &snap, &a.blocks.filter()?)?;
    if g.json {
        print_json(&r)?;
    } else {
        for b in &r.bad {
            println!("{} {} ({}): {}", b.tenant, b.ulid, b.path, b.problems.join("; "));
        }
        println!(
            "{} verified: {} sound, {} not",
            count(r.blocks, "block", "blocks"),
            r.blocks - r.bad.len(),
            r.bad.len()
        );
    }
    Ok(u8::from(!r.ok()))
}
