use clap::Args;

use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::ops::check::{check, CheckOptions, CheckReport, ReadData};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also read every pack and verify every blob (reads all data).
    #[arg(long)]
    read_data: bool,
    /// Read only a slice of the packs: `N/M` reads slice N of M (run 1/7 … 7/7 on seven
    /// nights to read everything once a week), `P%` a random P percent.
    #[arg(long, value_name = "N/M|P%", value_parser = parse_subset, conflicts_with = "read_data")]
    read_data_subset: Option<ReadData>,
    /// With reading: skip packs an earlier check verified intact within this long (e.g.
    /// 30d), so a nightly `check --read-data --max-age 30d` reads each pack once a month.
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    /// Also verify every TSDB block as Prometheus would read it (chunk and index
    /// checksums, meta.json against the files), each distinct block once.
    #[arg(long)]
    verify_blocks: bool,
}

fn parse_subset(s: &str) -> Result<ReadData, String> {
    if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| format!("bad percentage {s:?}"))?;
        if !(0.0..=100.0).contains(&p) || p == 0.0 {
            return Err(format!("{s}: the percentage must be above 0 and at most 100"));
        }
        return Ok(ReadData::Fraction(p / 100.0));
    }
    let (n, m) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected N/M (e.g. 1/7) or P% (e.g. 10%)"))?;
    let (n, m): (u32, u32) = (n.parse().map_err(|_| "bad N")?, m.parse().map_err(|_| "bad M")?);
    if m == 0 || n == 0 || n > m {
        return Err(format!("{s}: need 1 <= N <= M"));
    }
    Ok(ReadData::Subset { n, m })
}

pub fn run(g: &Global, a: CheckArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let read = match (a.read_data, a.read_data_subset) {
        (true, _) => ReadData::All,
        (false, Some(s)) => s,
        (false, None) if a.max_age.is_some() => ReadData::All,
        (false, None) => ReadData::None,
    };
    let max_age = a.max_age.as_deref().map(crate::ops::forget::parse_duration).transpose()?;
    let started = crate::metrics::now_seconds();
    let r = check(&repo, &CheckOptions { read, max_age, verify_blocks: a.verify_blocks });
    let r = g.job_metrics("check", "", started, r, |m, r| {
        crate::metrics::check(m, r);
        r.ok()
    })?;
    if g.json {
        print_json(&r)?;
    } else {
        print(&r);
    }
    Ok(u8::from(!r.ok()))
}

fn print(r: &CheckReport) {
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for e in &r.errors {
        eprintln!("error: {e}");
    }
    for d in &r.damaged {
        println!(
            "snapshot {} {} {}: DAMAGED",
            d.id.short(),
            crate::cli::clock::show_named(&d.time),
            d.sources.join(" ")
        );
        for b in &d.blocks {
            let what = if b.files.is_empty() { "block list damaged".to_string() } else { b.files.join(", ") };
            println!("  tenant {} block {}: {what}", b.tenant, b.ulid);
        }
        for f in &d.files {
            println!("  {f}");
        }
    }
    for b in &r.bad_blocks {
        let snaps: Vec<String> = b.snapshots.iter().map(crate::id::Id::short).collect();
        println!(
            "block {} (tenant {}, in snapshots {}): NOT SOUND: {}",
            b.block.ulid,
            b.block.tenant,
            snaps.join(" "),
            b.block.problems.join("; ")
        );
    }
    if r.blocks_verified > 0 {
        println!("{} verified, {} not sound", count(r.blocks_verified, "block", "blocks"), r.bad_blocks.len());
    }
    if !r.damaged.is_empty() || !r.damaged_files.is_empty() {
        let files = r.damaged_files.iter().map(crate::repo::DamagedFile::name).collect::<Vec<_>>();
        println!(
            "{} intact, {} damaged{}",
            count(r.intact.len(), "snapshot", "snapshots"),
            r.damaged.len(),
            if files.is_empty() { String::new() } else { format!("; damaged files: {}", files.join(", ")) }
        );
    }
    let recent = if r.packs_recently_verified > 0 {
        format!(", {} verified recently", r.packs_recently_verified)
    } else {
        String::new()
    };
    println!(
        "checked {} snapshots, {} packs ({} read{recent}), {} blobs: {}",
        r.snapshots,
        r.packs,
        r.packs_read,
        r.blobs,
        if r.ok() { "no errors" } else { "ERRORS FOUND" }
    );
}
