use clap::Args;

use super::prune::PruneArgs;
use crate::cli::global::Global;
use crate::cli::output::{print_json, ThinOutput};
use crate::cli::select::SnapshotArgs;
use crate::cli::UsageError;
use crate::ops::forget::{forget, parse_duration, ForgetOptions, GroupBy, Policy};
use crate::ops::thin::ThinReport;

/// Policies: restic's semantics. Each `--keep-*` rule keeps snapshots; a snapshot is
/// removed only when no rule keeps it. Without any rule and without ids, the policies of the
/// config file (`[policy.<source name>]`) apply, and snapshots no policy covers are kept.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Forget these snapshots (ids or prefixes) instead of applying a policy.
    ids: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, default_value_t = 0)]
    keep_last: u32,
    /// Keep the newest snapshot of each of the N newest hours that have one (UTC).
    #[arg(long, default_value_t = 0)]
    keep_hourly: u32,
    /// Keep the newest snapshot of each of the N newest days that have one (UTC).
    #[arg(long, default_value_t = 0)]
    keep_daily: u32,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have one.
    #[arg(long, default_value_t = 0)]
    keep_weekly: u32,
    /// Keep the newest snapshot of each of the N newest months that have one.
    #[arg(long, default_value_t = 0)]
    keep_monthly: u32,
    /// Keep the newest snapshot of each of the N newest years that have one.
    #[arg(long, default_value_t = 0)]
    keep_yearly: u32,
    /// Keep every snapshot within this long of the newest one (e.g. 30d, 1y6m, 12h).
    #[arg(long)]
    keep_within: Option<String>,
    /// Keep every snapshot with this tag (repeatable).
    #[arg(long)]
    keep_tag: Vec<String>,
    /// Apply the policy to each group of snapshots with the same… (host, sources, tags).
    #[arg(long, default_value = "sources")]
    group_by: String,
    /// First rewrite snapshots older than AGE (default 0s: all) so that TSDB blocks whose
    /// samples a compacted block in the repository holds (its compaction.sources include
    /// theirs, same tenant) are replaced by that block; prune then reclaims the raw
    /// replicas and intermediate levels. Blocks no compacted block covers are kept.
    /// Works without --keep-* options too.
    #[arg(long, value_name = "AGE", num_args = 0..=1, require_equals = true, default_missing_value = "0s")]
    thin_compacted: Option<String>,
    /// Show what would be kept (and why) and removed; change nothing.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Run prune afterwards.
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    prune_opts: PruneArgs,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: ForgetArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let opts = ForgetOptions {
        config_policies: if a.ids.is_empty() { g.user_config()?.policy } else { Default::default() },
        policy: Policy {
            keep_last: a.keep_last,
            keep_hourly: a.keep_hourly,
            keep_daily: a.keep_daily,
            keep_weekly: a.keep_weekly,
            keep_monthly: a.keep_monthly,
            keep_yearly: a.keep_yearly,
            keep_within: a.keep_within,
            keep_tag: a.keep_tag,
            thin_compacted: None,
        },
        ids: a.ids,
        group_by: GroupBy::parse(&a.group_by)?,
        filter: a.select.filter(),
        thin_compacted: a.thin_compacted.as_deref().map(parse_duration).transpose()?,
        dry_run: a.dry_run,
        prune: if a.prune { Some(a.prune_opts.options(false)?) } else { None },
    };
    let config_has_rules = opts.config_policies.values().any(|p| !p.is_empty() || p.thin_compacted.is_some());
    if opts.ids.is_empty() && opts.policy.is_empty() && opts.thin_compacted.is_none() && !config_has_rules {
        return Err(UsageError(
            "no retention policy: give --keep-* options, snapshot ids, or a config file (--config) with [policy.<source>] tables".into(),
        )
        .into());
    }
    let started = crate::metrics::now_seconds();
    let out = g.job_metrics("forget", "", started, forget(&repo, &opts), |m, out| {
        crate::metrics::forget(m, "", out.forget.as_ref().map_or(0, |f| f.removed));
        true
    })?;
    if let Some(t) = &out.thin {
        print_thin(g, t, a.dry_run)?;
    }
    if let Some(f) = &out.forget {
        if g.json {
            print_json(f)?;
        } else {
            let mut group = None;
            for d in &f.decisions {
                if group != Some(&d.group) {
                    println!("{}", if d.group.is_empty() { "(all snapshots)" } else { &d.group });
                    group = Some(&d.group);
                }
                let verdict = match (d.keep, a.dry_run) {
                    (true, _) => "keep  ",
                    (false, true) => "would remove",
                    (false, false) => "remove",
                };
                println!(
                    "  {} {} {verdict} {}",
                    &d.id[..8],
                    crate::cli::clock::show_named(&d.time),
                    d.reasons.join(", ")
                );
            }
            let n = f.decisions.iter().filter(|d| !d.keep).count();
            println!(
                "{} kept, {} {}",
                f.decisions.len() - n,
                n,
                if a.dry_run { "would be removed" } else { "removed" }
            );
        }
    }
    if let Some(p) = &out.prune {
        super::prune::print(g, p, false)?;
    }
    Ok(0)
}

fn print_thin(g: &Global, r: &ThinReport, dry_run: bool) -> anyhow::Result<()> {
    if g.json {
        return print_json(&ThinOutput { thin: r });
    }
    for (old, new, subs) in &r.rewritten {
        let arrow = if dry_run { "would be rewritten".to_string() } else { format!("→ {}", &new[..8]) };
        println!("thin {} {arrow}: {} blocks replaced by compacted blocks", &old[..8], subs.len());
        for s in subs {
            println!("  {} {} → {}", s.tenant, s.block, s.by);
        }
    }
    println!(
        "{} {}thinned, {} had nothing to replace{}",
        crate::cli::output::count(r.rewritten.len(), "snapshot", "snapshots"),
        if dry_run { "would be " } else { "" },
        r.unchanged,
        if r.covers_skipped > 0 {
            format!(", {} compacted blocks not usable (data marked by a prune)", r.covers_skipped)
        } else {
            String::new()
        }
    );
    Ok(())
}
