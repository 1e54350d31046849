use clap::Subcommand;
use indicatif::HumanBytes;

use crate::cli::clock;
use crate::cli::global::Global;
use crate::cli::output::print_json;
use crate::ops::locks::{extend, ExtendOptions, LockReport};

#[derive(Subcommand, Debug)]
pub enum LocksCmd {
    /// Keep every file the live snapshots need locked: extend the Object Lock of those
    /// whose lock ends within --min-remaining to a full period from now. Files only
    /// forgotten snapshots need are left to run out (prune deletes them after). Safe to run
    /// any time and repeatedly; `cellar run` and `prune` run it too.
    Extend {
        /// Extend the locks that end sooner than this (e.g. 15d); default: half the
        /// repository's lock period. Each needed file costs one request per extension.
        #[arg(long)]
        min_remaining: Option<String>,
        /// Report what would be extended; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
}

pub fn run(g: &Global, c: LocksCmd) -> anyhow::Result<u8> {
    let repo = g.open()?;
    match c {
        LocksCmd::Extend { min_remaining, dry_run } => {
            let min_remaining = min_remaining
                .map(|d| {
                    crate::ops::forget::parse_duration(&d)
                        .map_err(|e| crate::cli::UsageError(format!("--min-remaining: {e:#}")))
                })
                .transpose()?;
            let r = extend(&repo, &ExtendOptions { min_remaining, dry_run })?;
            if g.json {
                print_json(&r)?;
            } else {
                print(&r);
            }
        }
    }
    Ok(0)
}

/// One line: what is needed, what was extended and until when.
pub fn print(r: &LockReport) {
    let would = if r.dry_run { "would be " } else { "" };
    let until = r.extended_until.as_deref().map(|t| format!(" to {}", clock::show_named(t))).unwrap_or_default();
    let next = r
        .needed_locked_until
        .as_deref()
        .map(|t| format!("; the first needed lock ends {}", clock::show_named(t)))
        .unwrap_or_default();
    println!(
        "{} lock of {}: {} files ({}) needed by snapshots, {} {would}extended ({}){until}; {} not needed (left to run out){next}",
        r.mode,
        crate::ops::locks::show_period(r.period_seconds),
        r.files_needed,
        HumanBytes(r.bytes_needed),
        r.files_extended,
        HumanBytes(r.bytes_extended),
        r.files_not_needed,
    );
}
