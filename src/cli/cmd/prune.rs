use anyhow::Context;
use clap::Args;
use indicatif::HumanBytes;

use crate::cli::global::Global;
use crate::cli::output::print_json;
use crate::cli::parse_size;
use crate::ops::prune::{PruneOptions, PruneReport};

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Unused space to tolerate inside packs, as a percentage of used space: packs emptier
    /// than needed to reach it are repacked.
    #[arg(long, default_value = "5%")]
    max_unused: String,
    /// Repack at most this much data in one run (K/M/G suffixes).
    #[arg(long, value_parser = parse_size)]
    max_repack_size: Option<u64>,
    /// Candidate packs are deleted only after this long (e.g. 6h), and only once every
    /// backup that started before they became candidates has finished (backups announce
    /// themselves in `writers/`; markers older than 48 h count as crashed).
    #[arg(long, default_value = "6h")]
    grace: String,
    /// Also repack data packs in a cold storage class (each is restored and read first).
    #[arg(long)]
    repack_cold: bool,
}

impl PruneArgs {
    pub fn options(&self, dry_run: bool) -> anyhow::Result<PruneOptions> {
        let pct: f64 = self
            .max_unused
            .trim_end_matches('%')
            .parse()
            .with_context(|| format!("--max-unused {:?}: expected a percentage like 5%", self.max_unused))?;
        Ok(PruneOptions {
            max_unused: pct / 100.0,
            max_repack_bytes: self.max_repack_size.unwrap_or(u64::MAX),
            grace: crate::ops::forget::parse_duration(&self.grace)?,
            dry_run,
            repack_cold: self.repack_cold,
            ..PruneOptions::default()
        })
    }
}

#[derive(Args, Debug)]
pub struct PruneCmdArgs {
    /// Report what would be marked, repacked and freed; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    #[command(flatten)]
    opts: PruneArgs,
}

pub fn run(g: &Global, a: PruneCmdArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let started = crate::metrics::now_seconds();
    let r = crate::ops::prune::prune(&repo, &a.opts.options(a.dry_run)?);
    let r = g.job_metrics("prune", "", started, r, |m, r| {
        crate::metrics::prune(m, r);
        true
    })?;
    print(g, &r, a.dry_run)?;
    Ok(0)
}

pub fn print(g: &Global, r: &PruneReport, dry_run: bool) -> anyhow::Result<()> {
    if g.json {
        return print_json(r);
    }
    if let Some(plan) = &r.plan {
        for p in &plan.mark {
            println!(
                "would mark   {} {:>10}  {}",
                p.pack.short(),
                HumanBytes(p.bytes).to_string(),
                p.why.unwrap_or("")
            );
        }
        for p in &plan.delete {
            println!("would delete {} {:>10}", p.pack.short(), HumanBytes(p.bytes).to_string());
        }
        for p in &plan.revive {
            println!("would revive {}", p.short());
        }
        for p in &plan.locked {
            println!(
                "locked       {} {:>10}  until {}",
                p.pack.short(),
                HumanBytes(p.bytes).to_string(),
                crate::cli::clock::show_named(&p.until)
            );
        }
    }
    if let Some(l) = &r.locks {
        crate::cli::cmd::locks::print(l);
    }
    let would = if dry_run { "would be " } else { "" };
    println!(
        "{} snapshots use {} blobs; {} packs: {} {would}marked unused ({}), {} {would}repacked ({}), {} {would}deleted ({} freed), {} revived, {} waiting for their grace period, {} for running backups",
        r.snapshots,
        r.blobs_used,
        r.packs,
        r.packs_marked,
        HumanBytes(r.bytes_marked),
        r.packs_repacked,
        HumanBytes(r.bytes_repacked),
        r.packs_deleted,
        HumanBytes(r.bytes_freed),
        r.packs_revived,
        r.packs_waiting,
        r.packs_waiting_for_backups
    );
    if let (Some(first), Some(last)) = (&r.locked_until_first, &r.locked_until_last) {
        println!(
            "{} packs ({}) are due for deletion but locked: they are deleted by the first prune after their locks end, from {} to {}",
            r.packs_locked,
            HumanBytes(r.bytes_locked),
            crate::cli::clock::show_named(first),
            crate::cli::clock::show_named(last)
        );
    }
    Ok(())
}
