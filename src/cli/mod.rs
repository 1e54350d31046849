//! Command-line interface: parse, call the library, print. One module per command under
//! [`cmd`]; options every command takes in [`global`]; rendering in [`output`].
//!
//! Exit codes: 0 success, 1 error (nothing half-done is left visible), 2 usage error, 3
//! finished but some objects could not be read or restored (each is named), 4 nothing
//! selected (no snapshot, file or block matches what was asked for).

mod clock;
mod cmd;
mod global;
mod output;
mod password;
mod select;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use global::Global;

/// Exit code for "finished, but some source objects could not be read".
pub const EXIT_PARTIAL: u8 = 3;
/// Exit code for a usage error (also clap's).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a valid request that selects nothing: no snapshot matches the filters,
/// no file or block matches the includes.
pub const EXIT_NOTHING: u8 = 4;

/// A request that cannot be carried out as given: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Parser, Debug)]
#[command(
    name = "cellar",
    version,
    about = "Deduplicating, encrypted archiver for an observability platform's buckets",
    long_about = "cellar backs up directories and S3 buckets (Mimir TSDB blocks, Loki objects, \
PostgreSQL dumps) into a content-addressed, deduplicating, encrypted repository on disk or in \
S3, and restores them byte-exactly.\n\n\
Quick start:\n  export CELLAR_REPO=/srv/cellar CELLAR_PASSWORD_FILE=/etc/cellar.pass\n  \
cellar init\n  cellar backup /data/mimir /data/backup\n  cellar snapshots\n  \
cellar restore latest --target /tmp/restored\n  cellar dump --decompress latest backup/dop.dump.gz | psql\n\n\
Exit codes: 0 ok, 1 error, 2 usage error, 3 finished but some files could not be read or \
restored (each is named), 4 nothing selected (no snapshot, file or block matches)."
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new repository.
    Init(cmd::init::InitArgs),
    /// Back up directories, files, S3 buckets or standard input into a new snapshot.
    Backup(cmd::backup::BackupArgs),
    /// List snapshots (`--host`, `--tag`, `--path` select which).
    Snapshots(cmd::snapshots::SnapshotsArgs),
    /// List the entries of a snapshot.
    Ls(cmd::ls::LsArgs),
    /// Restore a snapshot into a directory or an S3 bucket.
    Restore(cmd::restore::RestoreArgs),
    /// List the TSDB blocks of a snapshot, and the blocks left out with their reasons.
    Blocks(cmd::blocks::BlocksArgs),
    /// Write one file of a snapshot to stdout, or a directory as a tar stream.
    Dump(cmd::dump::DumpArgs),
    /// Verify the repository; exit 0 only if it is healthy.
    Check(cmd::check::CheckArgs),
    /// Logical vs stored size, unique blobs, dedup+compression ratio.
    Stats,
    /// Remove snapshots by retention policy (or by id). Data is freed by `prune`.
    Forget(cmd::forget::ForgetArgs),
    /// Delete data no snapshot needs, safely while backups run (two-phase, grace period).
    Prune(cmd::prune::PruneCmdArgs),
    /// Manage the passwords (key files) that open the repository.
    #[command(subcommand)]
    Key(cmd::key::KeyCmd),
    /// Object Lock of a locked repository (`init --object-lock`): keep what the snapshots
    /// need protected.
    #[command(subcommand)]
    Locks(cmd::locks::LocksCmd),
    /// Copy snapshots into another repository (e.g. an offsite S3 one), storing only the
    /// data it lacks. Without snapshot ids, copies all of them.
    Copy(cmd::copy::CopyArgs),
    /// The configuration file: named S3 remotes and retention policies.
    #[command(subcommand)]
    Config(cmd::config::ConfigCmd),
    /// Check a snapshot's TSDB blocks as Prometheus would read them, without restoring:
    /// chunk and index checksums, meta.json against the files. Exit 1 if one is not sound.
    VerifyBlocks(cmd::verify_blocks::VerifyBlocksArgs),
    /// Rebuild a damaged index, or write snapshots without their damaged parts.
    #[command(subcommand)]
    Repair(cmd::repair::RepairCmd),
    /// An HTML report of the archive: snapshots, metric coverage and gaps, growth, blocks
    /// left out, the last data check.
    Report(cmd::report::ReportArgs),
    /// What changed between two snapshots: files added, removed and changed, TSDB blocks
    /// added and removed.
    Diff(cmd::diff::DiffArgs),
    /// Which snapshots hold a path, a file name or a TSDB block ULID (newest first).
    Find(cmd::find::FindArgs),
    /// Add, remove or replace the tags of snapshots.
    Tag(cmd::tag::TagArgs),
    /// The nightly job from a profile: back up every source, forget by policy, prune when
    /// due, check a rotating slice; one summary, metrics, one exit code.
    Run(cmd::run::RunArgs),
    /// The version, the build (commit, compiler) and the repository formats it reads.
    Version,
    /// Shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(cmd::completions::CompletionsArgs),
    /// Man pages generated from this help.
    Man(cmd::man::ManArgs),
}

impl Command {
    /// Commands that change the repository: refused on a read-only view (`--as-of`)
    /// before they start, not at their first write.
    fn writes(&self) -> Option<&'static str> {
        Some(match self {
            Command::Init(_) => "init",
            Command::Backup(_) => "backup",
            Command::Forget(_) => "forget",
            Command::Prune(_) => "prune",
            Command::Repair(_) => "repair",
            Command::Tag(_) => "tag",
            Command::Run(_) => "run",
            Command::Locks(_) => "locks",
            _ => return None,
        })
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    if let (Some(at), Some(name)) = (&g.as_of, cli.cmd.writes()) {
        return Err(UsageError(format!(
            "--as-of {at} opens the repository read-only, and `cellar {name}` writes to it; \
             restore from it, or `copy --to-repo` it into a new repository"
        ))
        .into());
    }
    match cli.cmd {
        Command::Init(a) => cmd::init::run(g, a),
        Command::Backup(a) => cmd::backup::run(g, a),
        Command::Snapshots(a) => cmd::snapshots::run(g, a),
        Command::Ls(a) => cmd::ls::run(g, a),
        Command::Restore(a) => cmd::restore::run(g, a),
        Command::Blocks(a) => cmd::blocks::run(g, a),
        Command::Dump(a) => cmd::dump::run(g, a),
        Command::Check(a) => cmd::check::run(g, a),
        Command::Stats => cmd::stats::run(g),
        Command::Forget(a) => cmd::forget::run(g, a),
        Command::Prune(a) => cmd::prune::run(g, a),
        Command::Key(k) => cmd::key::run(g, k),
        Command::Locks(c) => cmd::locks::run(g, c),
        Command::Copy(a) => cmd::copy::run(g, a),
        Command::Config(c) => cmd::config::run(g, c),
        Command::Repair(c) => cmd::repair::run(g, c),
        Command::VerifyBlocks(a) => cmd::verify_blocks::run(g, a),
        Command::Run(a) => cmd::run::run(g, a),
        Command::Tag(a) => cmd::tag::run(g, a),
        Command::Diff(a) => cmd::diff::run(g, a),
        Command::Find(a) => cmd::find::run(g, a),
        Command::Report(a) => cmd::report::run(g, a),
        Command::Version => cmd::version::run(g),
        Command::Completions(a) => Ok(cmd::completions::run(a)),
        Command::Man(a) => cmd::man::run(a),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`cellar ls | head`) is the reader's choice, not a failure.
        Err(e)
            if crate::error::find::<std::io::Error>(&e)
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(0)
        }
        Err(e) => {
            eprintln!("cellar: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// A request that cannot be carried out as given is a usage error (2), one that selects
/// nothing is 4; everything else is 1.
fn exit_code(e: &anyhow::Error) -> u8 {
    use crate::error::RepoError;
    match crate::error::find::<RepoError>(e) {
        _ if crate::error::find::<UsageError>(e).is_some() => EXIT_USAGE,
        Some(RepoError::NothingSelected(_)) => EXIT_NOTHING,
        _ => 1,
    }
}

/// A size with an optional K/M/G suffix (powers of 1024; `KiB`, `KB` also accepted).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (s, 1u64),
        Some((i, _)) => {
            let mul = match s[i..].to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "" => 1,
                other => return Err(format!("unknown size suffix {other:?} (use K, M or G)")),
            };
            (&s[..i], mul)
        }
    };
    num.parse::<u64>().map(|n| n * mul).map_err(|e| format!("bad size {s:?}: {e}"))
}
