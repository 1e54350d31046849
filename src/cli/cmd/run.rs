use clap::Args;
use indicatif::HumanBytes;

use crate::cli::global::Global;
use crate::cli::output::print_json;
use crate::cli::{UsageError, EXIT_PARTIAL};
use crate::ops::run::{run as run_profile, Outcome, RunOptions, RunReport};
use crate::profile::Profile;
use crate::source::Source;

#[derive(Args, Debug)]
#[command(after_long_help = PROFILE_HELP)]
pub struct RunArgs {
    /// The profile: a TOML file, or NAME for ~/.config/cellar/profiles/NAME.toml.
    profile: String,
}

const PROFILE_HELP: &str = "\
A profile describes the whole nightly job:

  repository = \"s3://dop-archive/cellar\"     # or a directory, or remote:NAME/PREFIX
  password-file = \"/etc/cellar/password\"
  host = \"dop-backup\"          # default: the profile's name (pod names change every run)
  tags = [\"nightly\"]
  metrics-file = \"/var/lib/node-exporter/textfile/cellar.prom\"   # optional
  pushgateway = \"http://pushgateway.monitoring:9091\"               # optional

  [sources.mimir]
  path = \"remote:mimir\"         # s3://BUCKET[/PREFIX], remote:NAME or a directory
  retention = { keep-daily = 14, keep-weekly = 8, keep-monthly = 24 }

  [sources.backup]
  path = \"remote:backup\"
  retention = { keep-daily = 30, keep-monthly = 12 }

  [prune]
  every = \"7d\"                  # when no prune marked data within this long
  grace = \"6h\"
  max-unused = \"5%\"

  [check]
  rotate-over = 7               # read slice (day % 7) + 1 of 7: all data once a week
  verify-blocks = false

Each source is backed up into its own snapshot, then forgotten by its own policy; prune
runs when due; the check reads one slice of the data. In a locked repository (`init
--object-lock`) the locks of what the snapshots need are extended too. Every step runs even
if an earlier one failed. Exit code: 0 all ok, 3 something was left out and reported (unreadable
objects, corrupted blocks), 1 a step failed. Safe to run on several hosts at once.";

pub fn run(g: &Global, a: RunArgs) -> anyhow::Result<u8> {
    let p = Profile::load(&a.profile)?;
    if g.repo.as_ref().is_some_and(|r| *r != p.repository) {
        return Err(UsageError(format!(
            "the profile names repository {}; --repo/CELLAR_REPO says another (unset it, or change the profile)",
            p.repository
        ))
        .into());
    }
    let mut g = g.clone();
    g.repo = Some(p.repository.clone());
    if g.password_file.is_none() {
        g.password_file.clone_from(&p.password_file);
    }
    let repo = g.open()?;
    let (s3, cfg) = (g.s3_config(), g.user_config()?);
    let resolve = |spec: &str| Source::resolve(spec, &s3, &cfg);
    let r = run_profile(
        &repo,
        &RunOptions { profile: &p, resolve: &resolve, progress: g.progress(), now: time::OffsetDateTime::now_utc() },
    );
    let metrics_ok = g.emit_metrics(&r.metrics, p.metrics_file.as_deref(), p.pushgateway.as_deref(), &p.name);
    if g.json {
        print_json(&r)?;
    } else {
        print(&r);
    }
    Ok(match r.outcome {
        Outcome::Ok if metrics_ok => 0,
        Outcome::Ok | Outcome::Failed => 1,
        Outcome::Partial => EXIT_PARTIAL,
    })
}

fn print(r: &RunReport) {
    for s in &r.sources {
        let mut line = format!("backup {} ({}): ", s.name, s.path);
        match (&s.backup, &s.error) {
            (Some(b), _) => {
                line += &format!(
                    "snapshot {}, {} files, {} read, {} added",
                    &b.snapshot_id[..8],
                    b.total_files,
                    HumanBytes(b.bytes_read),
                    HumanBytes(b.bytes_added)
                );
                let left_out = b.excluded_partial + b.excluded_corrupted + b.excluded_deletion_marked;
                if b.blocks > 0 || left_out > 0 {
                    line += &format!(", {} blocks", b.blocks);
                }
                if left_out > 0 {
                    line += &format!(
                        " (left out: {} partial, {} corrupted, {} deletion-marked)",
                        b.excluded_partial, b.excluded_corrupted, b.excluded_deletion_marked
                    );
                }
                for e in &b.errors {
                    eprintln!("cellar: warning: {}: could not read {e}", s.name);
                }
                for c in &b.corrupted {
                    eprintln!("cellar: warning: {}: corrupted block left out: {c}", s.name);
                }
            }
            (None, _) => line += "FAILED",
        }
        if s.forgotten > 0 {
            line += &format!("; forgot {}", crate::cli::output::count(s.forgotten, "snapshot", "snapshots"));
        }
        if let Some(e) = &s.error {
            line += &format!(": {e}");
        }
        println!("{line}");
    }
    match (&r.prune.report, &r.prune.error) {
        (_, Some(e)) => println!("prune: FAILED: {e}"),
        (Some(p), None) => println!(
            "prune: {}: {} packs marked, {} deleted, {} freed",
            r.prune.why,
            p.packs_marked,
            p.packs_deleted,
            HumanBytes(p.bytes_freed)
        ),
        (None, None) => println!("prune: {}", r.prune.why),
    }
    let locks =
        r.locks.as_ref().and_then(|l| l.report.as_ref()).or(r.prune.report.as_ref().and_then(|p| p.locks.as_ref()));
    if let Some(e) = r.locks.as_ref().and_then(|l| l.error.as_ref()) {
        println!("locks: FAILED: {e}");
    } else if let Some(l) = locks {
        print!("locks: ");
        crate::cli::cmd::locks::print(l);
    }
    match (&r.check.report, &r.check.error) {
        (_, Some(e)) => println!("check ({}): FAILED: {e}", r.check.why),
        (Some(c), None) if c.ok() => println!("check ({}): ok, {} packs read", r.check.why, c.packs_read),
        (Some(c), None) => {
            println!(
                "check ({}): DAMAGE: {} errors, {} damaged snapshots (`cellar check` names them)",
                r.check.why,
                c.errors.len(),
                c.damaged.len()
            );
        }
        (None, None) => {}
    }
    let outcome = match r.outcome {
        Outcome::Ok => "ok",
        Outcome::Partial => "PARTIAL (something was left out, see above)",
        Outcome::Failed => "FAILED",
    };
    println!("run {}: {outcome} in {:.1} s", r.profile, r.seconds);
}
