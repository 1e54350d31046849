use clap::Args;

use crate::cli::clock;
use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::select::SnapshotArgs;
use crate::cli::EXIT_NOTHING;
use crate::layout::BlockFilter;

/// Select TSDB blocks (restore restores only those; blocks lists only those).
#[derive(Args, Debug)]
pub struct BlockArgs {
    /// Only this tenant (repeatable). Alone, restores the tenant's whole directory.
    #[arg(long)]
    tenant: Vec<String>,
    /// Only this block ULID (repeatable).
    #[arg(long)]
    block: Vec<String>,
    /// Only blocks with samples at or after this time (RFC 3339, YYYY-MM-DD, 'YYYY-MM-DD HH:MM', or epoch ms).
    /// Times without an offset are UTC, or local time when TZ is set.
    #[arg(long)]
    from: Option<String>,
    /// Only blocks with samples before this time.
    #[arg(long)]
    to: Option<String>,
}

impl BlockArgs {
    pub fn filter(&self) -> anyhow::Result<BlockFilter> {
        Ok(BlockFilter {
            tenants: self.tenant.clone(),
            ulids: self.block.clone(),
            from: self.from.as_deref().map(clock::parse_ms).transpose()?,
            to: self.to.as_deref().map(clock::parse_ms).transpose()?,
        })
    }
}

#[derive(Args, Debug)]
pub struct BlocksArgs {
    /// Snapshot id, unique prefix, or `latest`.
    snapshot: String,
    #[command(flatten)]
    blocks: BlockArgs,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: BlocksArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let snapshot = a.select.pin(&repo, &a.snapshot)?;
    let filter = a.blocks.filter()?;
    let r = crate::ops::snapshots::blocks(&repo, &snapshot, &filter)?;
    // Asked for blocks and found none: a script must not read that as success.
    let code = if r.blocks.is_empty() && !filter.is_empty() { EXIT_NOTHING } else { 0 };
    if g.json {
        print_json(&r)?;
        return Ok(code);
    }
    println!(
        "{:<16} {:<26} {:<19}   {:<19} {:>5} {:>8} {:>10}",
        "tenant",
        "ulid",
        format!("from ({})", clock::zone_name()),
        "to",
        "level",
        "series",
        "samples"
    );
    for b in &r.blocks {
        println!(
            "{:<16} {:<26} {} → {} {:>5} {:>8} {:>10}",
            b.tenant,
            b.ulid,
            clock::show_ms(b.min_time),
            clock::show_ms(b.max_time),
            b.level,
            b.num_series,
            b.num_samples
        );
    }
    println!("{}", count(r.blocks.len(), "block", "blocks"));
    for e in &r.excluded {
        println!(
            "left out: {:<16} {:<26} {}{}",
            e.tenant,
            e.ulid,
            e.reason.as_str(),
            if e.detail.is_empty() { String::new() } else { format!(" ({})", e.detail) }
        );
    }
    if code != 0 {
        eprintln!("cellar: no block of snapshot {} matches the filters", a.snapshot);
    }
    Ok(code)
}
