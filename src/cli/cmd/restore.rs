use clap::Args;
use indicatif::HumanBytes;

use super::blocks::BlockArgs;
use crate::cli::global::Global;
use crate::cli::output::{print_json, ColdRequested};
use crate::ops::restore::{restore_logical, RestoreOptions, Selection, Target};

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id, unique prefix, or `latest`.
    snapshot: String,
    /// Directory to restore into (created if missing; nothing is written outside it), or
    /// s3://BUCKET/PREFIX. Either way every TSDB meta.json is written last.
    #[arg(long, short = 't')]
    target: String,
    /// Only paths matching this glob (repeatable); a matching directory brings all
    /// below it. Example: --include 'mimir/anonymous/**'
    #[arg(long)]
    include: Vec<String>,
    #[command(flatten)]
    blocks: BlockArgs,
    /// For a shard of a sharded backup: restore only this shard, not its whole group.
    #[arg(long)]
    this_shard_only: bool,
    /// With packs in cold storage (GLACIER …): request their restore, print what was
    /// requested, and exit instead of waiting.
    #[arg(long)]
    no_wait: bool,
}

pub fn run(g: &Global, a: RestoreArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let target = Target::resolve(&a.target, &g.s3_config(), &g.user_config()?)?;
    let selection = Selection { include: a.include, ..Selection::default() };
    let opts = RestoreOptions { target, selection, progress: g.progress(), no_wait: a.no_wait };
    let (id, r) = restore_logical(&repo, &a.snapshot, &a.blocks.filter()?, a.this_shard_only, opts)?;
    if !r.cold_packs_requested.is_empty() {
        if g.json {
            print_json(&ColdRequested { cold_packs_requested: &r.cold_packs_requested })?;
        } else {
            println!(
                "requested restore of {} cold packs; run the restore again once they are available",
                r.cold_packs_requested.len()
            );
        }
        return Ok(0);
    }
    if g.json {
        print_json(&r)?;
    } else if !g.quiet {
        let what = if r.shards > 1 { format!(" ({} shards)", r.shards) } else { String::new() };
        println!("restored snapshot {}{what}: {} files, {} dirs, {}", id.short(), r.files, r.dirs, HumanBytes(r.bytes));
    }
    Ok(0)
}
