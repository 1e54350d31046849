use indicatif::HumanBytes;

use clap::Args;

use crate::cli::clock;
use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::select::SnapshotArgs;
use crate::cli::EXIT_NOTHING;

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: SnapshotsArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let filter = a.select.filter();
    let snaps = crate::ops::snapshots::list(&repo, &filter)?;
    let code = if snaps.is_empty() && !filter.is_empty() {
        eprintln!("cellar: no snapshot matches {filter}");
        EXIT_NOTHING
    } else {
        0
    };
    if g.json {
        print_json(&snaps)?;
        return Ok(code);
    }
    let heading = format!("time ({})", clock::zone_name());
    println!("{:<9} {:<20} {:<16} {:>10} {:>8}  sources", "id", heading, "host", "size", "files");
    for s in &snaps {
        let t = clock::show(&s.time);
        let mut tags = if s.tags.is_empty() { String::new() } else { format!(" [{}]", s.tags.join(",")) };
        if let Some(sh) = &s.shard {
            let state = if s.shard_group_complete == Some(true) { "" } else { ", group INCOMPLETE" };
            tags.push_str(&format!(" [shard {}/{} of {}{state}]", sh.index, sh.count, sh.group));
        }
        if let Some(th) = &s.thinned {
            tags.push_str(&format!(" [thinned from {}: {} blocks replaced]", th.original.short(), th.replaced.len()));
        }
        println!(
            "{:<9} {:<20} {:<16} {:>10} {:>8}  {}{}",
            s.short_id,
            t,
            s.host,
            HumanBytes(s.summary.bytes).to_string(),
            s.summary.files,
            s.sources.join(" "),
            tags
        );
        for t in &s.tenants {
            println!(
                "          {}: {}, metrics {} → {} {}",
                t.path,
                count(t.blocks as usize, "block", "blocks"),
                clock::show_ms(t.min_time),
                clock::show_ms(t.max_time),
                clock::zone_name()
            );
        }
    }
    println!("{}", count(snaps.len(), "snapshot", "snapshots"));
    Ok(code)
}
