//! Command-line interface: parse, call the library, print. Exit codes: 0 success, 1 fatal
//! error (nothing half-done is left visible), 2 usage error, 3 finished but some source
//! objects could not be read (they are missing from the snapshot).

mod password;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use indicatif::HumanBytes;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::backup::{backup, BackupOptions};
use crate::chunk::ChunkerParams;
use crate::repo::crypto::KdfParams;
use crate::repo::{InitOptions, LocalBackend, Repository};
use crate::source::StdinSource;
use password::PasswordSource;

/// Exit code for "finished, but some source objects could not be read".
pub const EXIT_PARTIAL: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "cellar",
    version,
    about = "Deduplicating, encrypted archiver for an observability platform's buckets",
    long_about = "cellar backs up directories (and later S3 buckets) into a content-addressed, \
deduplicating, encrypted repository, and restores them byte-exactly.\n\n\
Quick start:\n  export CELLAR_REPO=/srv/cellar CELLAR_PASSWORD_FILE=/etc/cellar.pass\n  \
cellar init\n  cellar backup /data/mimir /data/backup\n  cellar snapshots\n  \
cellar restore latest --target /tmp/restored\n  cellar dump latest backup/dop.dump.gz | zcat | psql\n\n\
Exit codes: 0 ok, 1 error, 2 usage error, 3 backup finished but some files could not be read."
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// Repository location: a directory, or s3://BUCKET/PREFIX.
    #[arg(short = 'r', long, env = "CELLAR_REPO", global = true)]
    repo: Option<String>,
    /// S3 endpoint URL (overrides AWS_ENDPOINT_URL), e.g. https://s3.example.com for Ceph RGW.
    /// Credentials, region and profiles come from the standard AWS variables and files.
    #[arg(long, global = true)]
    s3_endpoint: Option<String>,
    /// Use path-style S3 addressing (automatic for IP-address and localhost endpoints).
    #[arg(long, global = true)]
    s3_path_style: bool,
    /// Do not use the local cache of a remote repository's metadata (~/.cache/cellar, or
    /// CELLAR_CACHE_DIR). The cache is verified on every read either way.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Configuration file: retention policies and named S3 remotes (`remote:NAME`).
    /// Default: ~/.config/cellar/config.toml if it exists.
    #[arg(long, env = "CELLAR_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Read the repository password from this file (first line).
    #[arg(long, env = "CELLAR_PASSWORD_FILE", global = true)]
    password_file: Option<PathBuf>,
    /// Use an empty password. For tests and throwaway repositories only: anyone with
    /// access to the files can read the data.
    #[arg(long, global = true)]
    insecure_no_password: bool,
    /// Machine-readable output (JSON; NDJSON for `ls`).
    #[arg(long, global = true)]
    json: bool,
    /// No progress display.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up directories, files or standard input into a new snapshot.
    Backup(BackupArgs),
    /// List snapshots.
    Snapshots,
    /// List the entries of a snapshot.
    Ls {
        /// Snapshot id, unique prefix, or `latest`.
        snapshot: String,
        /// Only below this path.
        path: Option<String>,
    },
    /// Restore a snapshot into a directory or an S3 bucket.
    Restore {
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
    },
    /// List the TSDB blocks of a snapshot, and the blocks left out with their reasons.
    Blocks {
        /// Snapshot id, unique prefix, or `latest`.
        snapshot: String,
        #[command(flatten)]
        blocks: BlockArgs,
    },
    /// Write one file of a snapshot to stdout, or a directory as a tar stream.
    Dump {
        /// Snapshot id, unique prefix, or `latest`.
        snapshot: String,
        /// Path inside the snapshot, e.g. `backup/dop-202504211200.dump.gz`.
        path: String,
    },
    /// Verify the repository; exit 0 only if it is healthy.
    Check {
        /// Also read every pack and verify every blob (reads all data).
        #[arg(long)]
        read_data: bool,
    },
    /// Logical vs stored size, unique blobs, dedup+compression ratio.
    Stats,
    /// Remove snapshots by retention policy (or by id). Data is freed by `prune`.
    Forget(ForgetArgs),
    /// Delete data no snapshot needs, safely while backups run (two-phase, grace period).
    Prune {
        /// Report what would be marked, repacked and freed; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        #[command(flatten)]
        opts: PruneArgs,
    },
    /// Manage the passwords (key files) that open the repository.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Copy snapshots into another repository (e.g. an offsite S3 one), storing only the
    /// data it lacks. Without snapshot ids, copies all of them.
    Copy {
        /// Snapshots to copy (ids, prefixes or `latest`); all when none are given.
        snapshots: Vec<String>,
        /// Destination repository: a directory, s3://BUCKET/PREFIX or remote:NAME/PREFIX.
        #[arg(long)]
        to_repo: String,
        /// Password file of the destination (else CELLAR_TO_PASSWORD, else the source's password).
        #[arg(long)]
        to_password_file: Option<PathBuf>,
    },
    /// The configuration file: named S3 remotes and retention policies.
    #[command(subcommand)]
    Config(ConfigCmd),
}

/// Chunk sizes are fixed at init. Two profiles: `default` for binary objects (TSDB blocks,
/// Loki chunks, gzip files), `text` for objects whose first 8 KiB look like text (SQL dumps,
/// logs). See format-spec/chunking.md for the measurements behind the defaults.
#[derive(Args, Debug)]
struct InitArgs {
    /// Minimum chunk size of the binary profile (bytes; K/M suffixes allowed).
    #[arg(long, value_parser = parse_size, default_value = "256K")]
    chunk_min: u64,
    /// Average chunk size of the binary profile, a power of two.
    #[arg(long, value_parser = parse_size, default_value = "1M")]
    chunk_avg: u64,
    /// Maximum chunk size of the binary profile.
    #[arg(long, value_parser = parse_size, default_value = "4M")]
    chunk_max: u64,
    /// Minimum chunk size of the text profile (SQL dumps, decoded `.gz`, logs). Default
    /// 64K, or 1K with --no-deltas.
    #[arg(long, value_parser = parse_size)]
    text_chunk_min: Option<u64>,
    /// Average chunk size of the text profile. Default 256K: changed chunks are stored as
    /// deltas of a few hundred bytes, and large chunks compress better. With --no-deltas
    /// the default is 4K, so scattered row changes leave most chunks intact.
    #[arg(long, value_parser = parse_size)]
    text_chunk_avg: Option<u64>,
    /// Maximum chunk size of the text profile. Default 1M, or 16K with --no-deltas.
    #[arg(long, value_parser = parse_size)]
    text_chunk_max: Option<u64>,
    /// Largest group of TSDB chunk records cut from a `chunks/NNNNNN` segment file. Records
    /// are grouped per series and 2h range so replicas and compacted blocks share them.
    #[arg(long, value_parser = parse_size, default_value = "64K")]
    tsdb_group_max: u64,
    /// Cut TSDB segment files like any binary file (content-defined), not at records.
    #[arg(long)]
    no_tsdb_records: bool,
    /// Store gzip files (daily `.dump.gz`) as raw bytes instead of as their decoded text
    /// plus the corrections that recreate the exact original bytes. Decoding lets daily
    /// dumps share chunks; gzip scrambles every byte after a change.
    #[arg(long)]
    no_gzip_transparent: bool,
    /// Store every new chunk whole, never as a delta against a similar earlier chunk.
    /// Deltas store a dump's changed rows in a few bytes instead of whole chunks.
    #[arg(long)]
    no_deltas: bool,
    /// Target pack file size.
    #[arg(long, value_parser = parse_size, default_value = "16M")]
    pack_size: u64,
    /// zstd level for compressible blobs.
    #[arg(long, default_value_t = 3)]
    compression_level: i32,
    /// S3 storage class for data packs, e.g. GLACIER, DEEP_ARCHIVE, STANDARD_IA. Config,
    /// keys, index, snapshots and metadata packs stay in the default class, so listing,
    /// forget, prune planning and check (without --read-data) never touch cold objects.
    #[arg(long)]
    pack_storage_class: Option<String>,
    #[command(flatten)]
    kdf: KdfArgs,
}

#[derive(Args, Debug)]
struct KdfArgs {
    /// Argon2id memory for the new key, in KiB (tests lower it to run fast).
    #[arg(long, default_value_t = KdfParams::default().m_kib, hide = true)]
    kdf_memory_kib: u32,
    /// Argon2id passes for the new key.
    #[arg(long, default_value_t = KdfParams::default().t, hide = true)]
    kdf_passes: u32,
}

impl KdfArgs {
    fn params(&self) -> KdfParams {
        KdfParams { m_kib: self.kdf_memory_kib, t: self.kdf_passes, p: 1 }
    }
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// Files, directories or s3://BUCKET[/PREFIX]; each is stored at the snapshot's top under
    /// its last path component (`/data/mimir` → `mimir/`, `s3://dop-mimir` → `dop-mimir/`).
    sources: Vec<PathBuf>,
    /// Read one object from standard input (`pg_dump dop | cellar backup --stdin --stdin-name dop.dump`).
    #[arg(long, requires = "stdin_name")]
    stdin: bool,
    /// Name of the object read with --stdin.
    #[arg(long)]
    stdin_name: Option<String>,
    /// Tag the snapshot (repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Host name recorded in the snapshot (default: this machine's).
    #[arg(long)]
    host: Option<String>,
    /// Compare against this snapshot instead of the newest one with the same host and sources.
    #[arg(long)]
    parent: Option<String>,
    /// Read every file, even those the parent snapshot says are unchanged.
    #[arg(long)]
    force: bool,
    /// How to read each source directory. `auto` recognises Mimir buckets (tenants/blocks),
    /// Prometheus/Thanos block directories and Loki buckets; `mimir` covers all TSDB block
    /// storage; `files` takes everything as it is.
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    layout: LayoutArg,
    /// Exit 0 even when corrupted blocks (meta.json without index or chunks) were left out.
    #[arg(long)]
    allow_corrupted: bool,
    /// Back up only share I of N (0-based), e.g. `--shard $JOB_COMPLETION_INDEX/8` in a
    /// Kubernetes Indexed Job: TSDB blocks go whole to one shard, other files by path. The N
    /// shard snapshots of a group form one logical snapshot for snapshots/restore/forget.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Name of the logical snapshot the shards belong to (default: today's UTC date).
    #[arg(long, requires = "shard")]
    shard_group: Option<String>,
    /// Objects read at once (default: one per core; 8 when a source is in S3). Each reader
    /// holds a 16 MiB window, so this also bounds memory.
    #[arg(long)]
    read_concurrency: Option<usize>,
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u32, u32) = (i.parse().map_err(|_| "bad shard index")?, n.parse().map_err(|_| "bad shard count")?);
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LayoutArg {
    Auto,
    Mimir,
    Loki,
    Files,
}

impl LayoutArg {
    fn to_layout(self) -> Option<crate::layout::Layout> {
        match self {
            LayoutArg::Auto => None,
            LayoutArg::Mimir => Some(crate::layout::Layout::Mimir),
            LayoutArg::Loki => Some(crate::layout::Layout::Loki),
            LayoutArg::Files => Some(crate::layout::Layout::Files),
        }
    }
}

/// Select TSDB blocks (restore restores only those; blocks lists only those).
#[derive(Args, Debug)]
struct BlockArgs {
    /// Only this tenant (repeatable). Alone, restores the tenant's whole directory.
    #[arg(long)]
    tenant: Vec<String>,
    /// Only this block ULID (repeatable).
    #[arg(long)]
    block: Vec<String>,
    /// Only blocks with samples at or after this time (RFC 3339, YYYY-MM-DD, 'YYYY-MM-DD HH:MM' UTC, or epoch ms).
    #[arg(long)]
    from: Option<String>,
    /// Only blocks with samples before this time.
    #[arg(long)]
    to: Option<String>,
}

impl BlockArgs {
    fn filter(&self) -> anyhow::Result<crate::layout::BlockFilter> {
        Ok(crate::layout::BlockFilter {
            tenants: self.tenant.clone(),
            ulids: self.block.clone(),
            from: self.from.as_deref().map(crate::layout::parse_time_arg).transpose()?,
            to: self.to.as_deref().map(crate::layout::parse_time_arg).transpose()?,
        })
    }
}

/// Policies: restic's semantics. Each `--keep-*` rule keeps snapshots; a snapshot is
/// removed only when no rule keeps it. Without any rule and without ids, the policies of the
/// config file (`[policy.<source name>]`) apply, and snapshots no policy covers are kept.
#[derive(Args, Debug)]
struct ForgetArgs {
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
}

#[derive(Args, Debug)]
struct PruneArgs {
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
    fn options(&self, dry_run: bool) -> anyhow::Result<crate::prune::PruneOptions> {
        let pct: f64 = self
            .max_unused
            .trim_end_matches('%')
            .parse()
            .with_context(|| format!("--max-unused {:?}: expected a percentage like 5%", self.max_unused))?;
        Ok(crate::prune::PruneOptions {
            max_unused: pct / 100.0,
            max_repack_bytes: self.max_repack_size.unwrap_or(u64::MAX),
            grace: crate::forget::parse_duration(&self.grace)?,
            dry_run,
            repack_cold: self.repack_cold,
        })
    }
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Create remotes `mimir`, `loki` and `backup` from the platform's secrets, replacing
    /// the backup guide's jq: `kubectl -n d8-observability-platform get secrets,configmaps
    /// -o json | cellar config import-dop --endpoint https://s3.<baseDomain>`. Credentials
    /// are written to files with mode 0600 and never printed.
    ImportDop {
        /// The platform's S3 endpoint, e.g. https://s3.example.com.
        #[arg(long)]
        endpoint: String,
        /// Directory for the credentials files (default: beside the config file).
        #[arg(long)]
        credentials_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCmd {
    /// Add a key: a new password that opens the repository.
    Add {
        /// Read the new password from this file (else CELLAR_NEW_PASSWORD, else prompt).
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        /// The new key has an empty password (tests only).
        #[arg(long)]
        new_insecure_no_password: bool,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// List keys.
    List,
    /// Remove a key (not the one in use, not the last).
    Remove {
        /// Key id or unique prefix.
        id: String,
    },
}

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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`cellar ls | head`) is the reader's choice, not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(0)
        }
        Err(e) => {
            eprintln!("cellar: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

impl Global {
    fn user_config(&self) -> anyhow::Result<crate::userconfig::UserConfig> {
        crate::userconfig::UserConfig::load_or_default(self.config.as_deref())
    }

    fn locate(&self, spec: &str) -> anyhow::Result<crate::location::Location> {
        crate::location::resolve(spec, &self.s3_config(), &self.user_config()?)
    }

    fn s3_config(&self) -> crate::repo::s3::S3Config {
        crate::repo::s3::S3Config {
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_path_style,
            ..Default::default()
        }
    }

    fn backend(&self) -> anyhow::Result<Arc<dyn crate::repo::Backend>> {
        let Some(r) = &self.repo else { bail!("no repository given: use --repo or set CELLAR_REPO") };
        Ok(match self.locate(r)? {
            crate::location::Location::S3(url, cfg) => {
                let s3: Arc<dyn crate::repo::Backend> =
                    Arc::new(crate::repo::s3::S3Backend::new(crate::repo::s3::S3::connect(&cfg)?, url));
                if self.no_cache {
                    s3
                } else {
                    crate::repo::cache::with_cache(s3)
                }
            }
            crate::location::Location::Local(p) => Arc::new(LocalBackend::new(p)),
        })
    }

    fn password(&self, confirm: bool) -> anyhow::Result<Vec<u8>> {
        PasswordSource {
            insecure_no_password: self.insecure_no_password,
            file: self.password_file.as_deref(),
            env: "CELLAR_PASSWORD",
            prompt: "repository password: ",
        }
        .get(confirm)
    }

    fn open(&self) -> anyhow::Result<Arc<Repository>> {
        let b = self.backend()?;
        // Refuse a missing repository or a newer format before asking for a password.
        crate::repo::read_config(b.as_ref())?;
        let pw = self.password(false)?;
        Ok(Arc::new(Repository::open(b, &pw)?))
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match cli.cmd {
        Command::Init(a) => {
            let backend = g.backend()?;
            let pw = g.password(true)?;
            let mut opts = InitOptions::default();
            let text = if a.no_deltas {
                ChunkerParams::text_for_new_repo()
            } else {
                ChunkerParams::text_with_deltas_for_new_repo()
            };
            for (kind, min, avg, max) in [
                (crate::chunk::PROFILE_DEFAULT, a.chunk_min, a.chunk_avg, a.chunk_max),
                (
                    crate::chunk::PROFILE_TEXT,
                    a.text_chunk_min.unwrap_or(text.min.into()),
                    a.text_chunk_avg.unwrap_or(text.avg.into()),
                    a.text_chunk_max.unwrap_or(text.max.into()),
                ),
            ] {
                let c = ChunkerParams::with_sizes(min as u32, avg as u32, max as u32);
                c.validate().with_context(|| format!("{kind} chunk sizes"))?;
                opts.chunkers.insert(kind.into(), c);
            }
            if a.no_tsdb_records {
                opts.chunkers.remove(crate::chunk::PROFILE_TSDB_SEGMENT);
            } else {
                let max = u32::try_from(a.tsdb_group_max).unwrap_or(u32::MAX);
                let c = ChunkerParams { max, ..ChunkerParams::tsdb_records_for_new_repo() };
                c.validate().context("--tsdb-group-max")?;
                opts.chunkers.insert(crate::chunk::PROFILE_TSDB_SEGMENT.into(), c);
            }
            opts.pack_size = a.pack_size;
            opts.zstd_level = a.compression_level;
            opts.kdf = a.kdf.params();
            opts.pack_storage_class = a.pack_storage_class.clone();
            opts.gzip_transparent = !a.no_gzip_transparent;
            opts.deltas = !a.no_deltas;
            let repo = Repository::init(backend, &pw, &opts)?;
            if g.json {
                print_json(&serde_json::json!({"id": repo.config().id, "version": repo.config().version}))?;
            } else {
                eprintln!("created cellar repository {} at {}", repo.config().id, repo.backend().location());
                eprintln!("keep the password safe: without it the data cannot be recovered");
            }
            Ok(0)
        }
        Command::Backup(a) => {
            let repo = g.open()?;
            let stdin = if a.stdin {
                let name = a.stdin_name.clone().context("--stdin needs --stdin-name")?;
                Some(StdinSource { name, reader: Box::new(std::io::stdin()) })
            } else {
                None
            };
            let opts = BackupOptions {
                sources: a.sources,
                stdin,
                tags: a.tag,
                host: a.host,
                parent: a.parent,
                force: a.force,
                layout: a.layout.to_layout(),
                progress: !g.quiet && !g.json,
                before_open: None,
                shard: a.shard.map(|(index, count)| crate::repo::snapshot::Shard {
                    group: a
                        .shard_group
                        .clone()
                        .unwrap_or_else(|| crate::repo::snapshot::now_rfc3339()[..10].to_string()),
                    index,
                    count,
                }),
                s3: g.s3_config(),
                readers: a.read_concurrency,
                user_config: g.user_config()?,
            };
            let allow_corrupted = a.allow_corrupted;
            let r = backup(repo, opts)?;
            for e in &r.errors {
                eprintln!("cellar: warning: could not read {e}");
            }
            for n in &r.notices {
                eprintln!("cellar: note: {n}");
            }
            for c in &r.corrupted {
                eprintln!("cellar: error: corrupted block left out: {c}");
            }
            if g.json {
                print_json(&r)?;
            } else if !g.quiet {
                println!(
                    "snapshot {} saved: {} files ({} new, {} changed, {} unmodified), {} read, {} added{}",
                    &r.snapshot_id[..8],
                    r.total_files,
                    r.files_new,
                    r.files_changed,
                    r.files_unmodified,
                    HumanBytes(r.bytes_read),
                    HumanBytes(r.bytes_added),
                    if r.deltas_new > 0 { format!(" ({} chunks as deltas)", r.deltas_new) } else { String::new() }
                );
                let left_out = r.excluded_partial + r.excluded_corrupted + r.excluded_deletion_marked;
                if r.blocks > 0 || left_out > 0 {
                    println!(
                        "TSDB blocks: {} complete; left out: {} partial, {} corrupted, {} deletion-marked; {} bookkeeping objects skipped",
                        r.blocks, r.excluded_partial, r.excluded_corrupted, r.excluded_deletion_marked, r.bookkeeping_skipped
                    );
                }
            }
            let corrupted = !r.corrupted.is_empty() && !allow_corrupted;
            Ok(if r.errors.is_empty() && !corrupted { 0 } else { EXIT_PARTIAL })
        }
        Command::Snapshots => {
            let repo = g.open()?;
            let snaps = repo.list_snapshots()?;
            let groups = crate::repo::snapshot::logical_groups(&snaps);
            let complete_of = |id: &crate::repo::Id| {
                groups.iter().find(|(m, _)| m.iter().any(|&i| snaps[i].0 == *id)).is_some_and(|(_, c)| *c)
            };
            if g.json {
                let v: Vec<_> = snaps
                    .iter()
                    .map(|(id, s)| {
                        serde_json::json!({
                            "id": id.to_hex(), "short_id": id.short(), "time": s.time, "host": s.host,
                            "tags": s.tags, "sources": s.sources, "tree": s.tree, "parent": s.parent,
                            "summary": s.summary,
                            "tenants": s.tenants.iter().map(|t| serde_json::json!({
                                "path": t.path, "tenant": t.tenant, "blocks": t.blocks,
                                "min_time": t.min_time, "max_time": t.max_time,
                            })).collect::<Vec<_>>(),
                            "excluded": s.excluded.len(),
                            "shard": s.shard,
                            "shard_group_complete": s.shard.as_ref().map(|_| complete_of(id)),
                            "thinned": s.thinned,
                        })
                    })
                    .collect();
                print_json(&v)?;
            } else {
                println!("{:<9} {:<20} {:<16} {:>10} {:>8}  sources", "id", "time", "host", "size", "files");
                for (id, s) in &snaps {
                    let t = s.time.get(..19).unwrap_or(&s.time).replace('T', " ");
                    let mut tags = if s.tags.is_empty() { String::new() } else { format!(" [{}]", s.tags.join(",")) };
                    if let Some(sh) = &s.shard {
                        let state = if complete_of(id) { "" } else { ", group INCOMPLETE" };
                        tags.push_str(&format!(" [shard {}/{} of {}{state}]", sh.index, sh.count, sh.group));
                    }
                    if let Some(th) = &s.thinned {
                        tags.push_str(&format!(
                            " [thinned from {}: {} blocks replaced]",
                            th.original.short(),
                            th.replaced.len()
                        ));
                    }
                    println!(
                        "{:<9} {:<20} {:<16} {:>10} {:>8}  {}{}",
                        id.short(),
                        t,
                        s.host,
                        HumanBytes(s.summary.bytes).to_string(),
                        s.summary.files,
                        s.sources.join(" "),
                        tags
                    );
                    for t in &s.tenants {
                        println!(
                            "          {}: {} blocks, metrics {} → {} UTC",
                            t.path,
                            t.blocks,
                            crate::layout::format_ms(t.min_time),
                            crate::layout::format_ms(t.max_time)
                        );
                    }
                }
                println!("{} snapshots", snaps.len());
            }
            Ok(0)
        }
        Command::Ls { snapshot, path } => {
            let repo = g.open()?;
            repo.load_index()?;
            let (_, snap) = repo.resolve_snapshot(&snapshot)?;
            let base = path.as_deref().unwrap_or("").trim_matches('/').to_string();
            let start = crate::dump::lookup(&repo, &snap, &base)?;
            let mut out = std::io::stdout().lock();
            let Some(sub) = start.subtree else {
                bail!("{base} is not a directory");
            };
            crate::restore::walk(&repo, &sub, |e| {
                let path = if base.is_empty() { e.path } else { format!("{base}/{}", e.path) };
                let kind = match e.node.kind {
                    crate::repo::tree::NodeKind::File => "file",
                    crate::repo::tree::NodeKind::Dir => "dir",
                    crate::repo::tree::NodeKind::Symlink => "symlink",
                };
                if g.json {
                    let mut j = serde_json::json!({"path": path, "size": e.node.size, "type": kind, "mode": e.node.mode, "mtime_ns": e.node.mtime_ns});
                    if let Some(r) = &e.node.gzip {
                        // Stored as decoded text: its length and the number of gzip members.
                        j["gzip_decoded_size"] = r.content_len.into();
                        j["gzip_members"] = r.members.len().into();
                    }
                    serde_json::to_writer(&mut out, &j)?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "{kind:<7} {:>12}  {path}", e.node.size)?;
                }
                Ok(())
            })?;
            Ok(0)
        }
        Command::Restore { snapshot, target, include, blocks, this_shard_only, no_wait } => {
            let repo = g.open()?;
            let (id, snap) = repo.resolve_snapshot(&snapshot)?;
            // A shard stands for its whole logical snapshot.
            let members: Vec<(crate::repo::Id, crate::repo::snapshot::Snapshot)> = match &snap.shard {
                Some(_) if !this_shard_only => {
                    let all = repo.list_snapshots()?;
                    let groups = crate::repo::snapshot::logical_groups(&all);
                    let (m, complete) = groups.iter().find(|(m, _)| m.iter().any(|&i| all[i].0 == id)).expect("found");
                    if !complete {
                        bail!(
                            "snapshot {} is one of {} shards present of {} in its group; the logical snapshot is incomplete (restore it anyway with --this-shard-only)",
                            id.short(),
                            m.len(),
                            snap.shard.as_ref().map(|s| s.count).unwrap_or(0)
                        );
                    }
                    m.iter().map(|&i| all[i].clone()).collect()
                }
                _ => vec![(id, snap)],
            };
            let filter = blocks.filter()?;
            let mut total = crate::restore::RestoreReport::default();
            let mut matched = false;
            for (_, snap) in &members {
                let prefixes = if filter.is_empty() {
                    None
                } else {
                    repo.load_index()?;
                    match filter.paths(&repo, snap) {
                        Ok(p) => Some(p),
                        Err(e) if members.len() > 1 && e.downcast_ref::<crate::error::Error>().is_some() => continue,
                        Err(e) => return Err(e),
                    }
                };
                matched = true;
                let opts = crate::restore::RestoreOptions {
                    target: PathBuf::from(&target),
                    include: include.clone(),
                    prefixes,
                    write_last: crate::layout::is_commit_record,
                    progress: !g.quiet && !g.json,
                    no_wait,
                };
                let r = match g.locate(&target)? {
                    crate::location::Location::S3(url, cfg) => {
                        let s3 = crate::repo::s3::S3::connect(&cfg)?;
                        crate::restore::restore_to_s3(&repo, snap, &opts, &s3, &url)?
                    }
                    crate::location::Location::Local(_) => crate::restore::restore(&repo, snap, &opts)?,
                };
                if !r.cold_packs_requested.is_empty() {
                    let n = r.cold_packs_requested.len();
                    if g.json {
                        print_json(&serde_json::json!({"cold_packs_requested": r.cold_packs_requested}))?;
                    } else {
                        println!("requested restore of {n} cold packs; run the restore again once they are available");
                    }
                    return Ok(0);
                }
                total.files += r.files;
                total.dirs += r.dirs;
                total.symlinks += r.symlinks;
                total.bytes += r.bytes;
            }
            if !matched {
                bail!(crate::error::Error::NotFound(
                    "no block of the snapshot matches --tenant/--block/--from/--to".into()
                ));
            }
            if g.json {
                print_json(&total)?;
            } else if !g.quiet {
                let what = if members.len() > 1 { format!(" ({} shards)", members.len()) } else { String::new() };
                println!(
                    "restored snapshot {}{what}: {} files, {} dirs, {}",
                    id.short(),
                    total.files,
                    total.dirs,
                    HumanBytes(total.bytes)
                );
            }
            Ok(0)
        }
        Command::Blocks { snapshot, blocks } => {
            let repo = g.open()?;
            repo.load_index()?;
            let (_, snap) = repo.resolve_snapshot(&snapshot)?;
            let filter = blocks.filter()?;
            let list: Vec<_> =
                crate::layout::load_blocks(&repo, &snap)?.into_iter().filter(|b| filter.matches(b)).collect();
            let excluded: Vec<_> = snap
                .excluded
                .iter()
                .filter(|e| filter.tenants.is_empty() || filter.tenants.contains(&e.tenant))
                .collect();
            if g.json {
                print_json(&serde_json::json!({"blocks": list, "excluded": excluded}))?;
            } else {
                println!(
                    "{:<16} {:<26} {:<19}   {:<19} {:>5} {:>8} {:>10}",
                    "tenant", "ulid", "from (UTC)", "to", "level", "series", "samples"
                );
                for b in &list {
                    println!(
                        "{:<16} {:<26} {} → {} {:>5} {:>8} {:>10}",
                        b.tenant,
                        b.ulid,
                        crate::layout::format_ms(b.min_time),
                        crate::layout::format_ms(b.max_time),
                        b.level,
                        b.num_series,
                        b.num_samples
                    );
                }
                println!("{} blocks", list.len());
                for e in &excluded {
                    println!(
                        "left out: {:<16} {:<26} {}{}",
                        e.tenant,
                        e.ulid,
                        e.reason.as_str(),
                        if e.detail.is_empty() { String::new() } else { format!(" ({})", e.detail) }
                    );
                }
            }
            Ok(0)
        }
        Command::Dump { snapshot, path } => {
            let repo = g.open()?;
            let (_, snap) = repo.resolve_snapshot(&snapshot)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            crate::dump::dump(&repo, &snap, &path, &mut out)?;
            Ok(0)
        }
        Command::Check { read_data } => {
            let repo = g.open()?;
            let r = crate::check::check(&repo, read_data)?;
            if g.json {
                print_json(&r)?;
            } else {
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                for e in &r.errors {
                    eprintln!("error: {e}");
                }
                println!(
                    "checked {} snapshots, {} packs ({} read), {} blobs: {}",
                    r.snapshots,
                    r.packs,
                    r.packs_read,
                    r.blobs,
                    if r.ok() { "no errors" } else { "ERRORS FOUND" }
                );
            }
            Ok(if r.ok() { 0 } else { 1 })
        }
        Command::Stats => {
            let repo = g.open()?;
            let s = crate::stats::stats(&repo)?;
            if g.json {
                print_json(&s)?;
            } else {
                println!("snapshots:      {}", s.snapshots);
                println!("logical size:   {}", HumanBytes(s.logical_bytes));
                println!("stored size:    {}", HumanBytes(s.stored_bytes));
                println!("unique blobs:   {} ({} uncompressed)", s.unique_blobs, HumanBytes(s.unique_bytes));
                println!("ratio:          {:.2}x", s.ratio);
                println!(
                    "blobs stored:   {} trees, {} data whole, {} as {} deltas",
                    HumanBytes(s.tree_blob_bytes),
                    HumanBytes(s.data_blob_bytes),
                    HumanBytes(s.delta_blob_bytes),
                    s.delta_blobs
                );
            }
            Ok(0)
        }
        Command::Key(k) => run_key(g, k),
        Command::Copy { snapshots, to_repo, to_password_file } => {
            let src = g.open()?;
            let dst_backend: Arc<dyn crate::repo::Backend> = match g.locate(&to_repo)? {
                crate::location::Location::S3(url, cfg) => {
                    Arc::new(crate::repo::s3::S3Backend::new(crate::repo::s3::S3::connect(&cfg)?, url))
                }
                crate::location::Location::Local(p) => Arc::new(LocalBackend::new(p)),
            };
            crate::repo::read_config(dst_backend.as_ref()).context("destination repository")?;
            let pw = if to_password_file.is_some() || std::env::var_os("CELLAR_TO_PASSWORD").is_some() {
                PasswordSource {
                    insecure_no_password: false,
                    file: to_password_file.as_deref(),
                    env: "CELLAR_TO_PASSWORD",
                    prompt: "destination password: ",
                }
                .get(false)?
            } else {
                g.password(false)?
            };
            let dst = Arc::new(Repository::open(dst_backend, &pw).context("opening the destination repository")?);
            let all = src.list_snapshots()?;
            let chosen: Vec<(crate::repo::Id, crate::repo::snapshot::Snapshot)> = if snapshots.is_empty() {
                all
            } else {
                snapshots.iter().map(|s| src.resolve_snapshot(s)).collect::<anyhow::Result<_>>()?
            };
            let r = crate::copy::copy(&src, dst, &chosen)?;
            if g.json {
                print_json(&r)?;
            } else {
                println!(
                    "copied {} snapshots ({} already present): {} blobs stored, {} added",
                    r.snapshots_copied.len(),
                    r.snapshots_already_present,
                    r.blobs_stored,
                    HumanBytes(r.bytes_added)
                );
            }
            Ok(0)
        }
        Command::Config(ConfigCmd::ImportDop { endpoint, credentials_dir }) => {
            let path = match &g.config {
                Some(p) => p.clone(),
                None => crate::userconfig::UserConfig::default_path()
                    .context("no --config and no HOME to place the config in")?,
            };
            let creds = credentials_dir.unwrap_or_else(|| path.parent().map(|p| p.to_path_buf()).unwrap_or_default());
            let mut input = vec![];
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)?;
            let names = crate::userconfig::import_dop(&input, &endpoint, &path, &creds)?;
            if g.json {
                print_json(&serde_json::json!({"config": path, "remotes": names}))?;
            } else {
                println!(
                    "wrote remotes {} to {} (credentials in {}, mode 0600)",
                    names.join(", "),
                    path.display(),
                    creds.display()
                );
                println!("try: cellar --config {} backup remote:{}", path.display(), names[0]);
            }
            Ok(0)
        }
        Command::Forget(a) => run_forget(g, a),
        Command::Prune { dry_run, opts } => {
            let repo = g.open()?;
            let r = crate::prune::prune(&repo, &opts.options(dry_run)?)?;
            print_prune(g, &r, dry_run)?;
            Ok(0)
        }
    }
}

fn print_prune(g: &Global, r: &crate::prune::PruneReport, dry_run: bool) -> anyhow::Result<()> {
    if g.json {
        return print_json(r);
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
    Ok(())
}

fn print_thin(g: &Global, r: &crate::thin::ThinReport, dry_run: bool) -> anyhow::Result<()> {
    if g.json {
        return print_json(&serde_json::json!({"thin": r}));
    }
    for (old, new, subs) in &r.rewritten {
        let arrow = if dry_run { "would be rewritten".to_string() } else { format!("→ {}", &new[..8]) };
        println!("thin {} {arrow}: {} blocks replaced by compacted blocks", &old[..8], subs.len());
        for s in subs {
            println!("  {} {} → {}", s.tenant, s.block, s.by);
        }
    }
    println!(
        "{} snapshots {}thinned, {} had nothing to replace{}",
        r.rewritten.len(),
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

fn run_forget(g: &Global, a: ForgetArgs) -> anyhow::Result<u8> {
    use crate::forget::{apply_logical, Decision, GroupBy, Policy};
    let repo = g.open()?;
    let cfg_policies = if a.ids.is_empty() { g.user_config()?.policy } else { Default::default() };
    let thin_cli = a.thin_compacted.as_deref().map(crate::forget::parse_duration).transpose()?;
    let thin_cfg: Vec<(String, time::Duration)> = cfg_policies
        .iter()
        .filter_map(|(k, p)| {
            p.thin_compacted.as_deref().map(|d| crate::forget::parse_duration(d).map(|d| (k.clone(), d)))
        })
        .collect::<anyhow::Result<_>>()?;
    let thinning = thin_cli.is_some() || !thin_cfg.is_empty();
    if thinning {
        let age = |s: &crate::repo::snapshot::Snapshot| {
            thin_cli.or_else(|| {
                let name = s.sources.iter().map(|src| crate::userconfig::source_name(src)).next()?;
                thin_cfg.iter().find(|(k, _)| k == name).map(|(_, d)| *d)
            })
        };
        let r = crate::thin::thin(&repo, &age, a.dry_run)?;
        print_thin(g, &r, a.dry_run)?;
    }
    let snaps = repo.list_snapshots()?;
    let policy = Policy {
        keep_last: a.keep_last,
        keep_hourly: a.keep_hourly,
        keep_daily: a.keep_daily,
        keep_weekly: a.keep_weekly,
        keep_monthly: a.keep_monthly,
        keep_yearly: a.keep_yearly,
        keep_within: a.keep_within.clone(),
        keep_tag: a.keep_tag.clone(),
        thin_compacted: None,
    };
    let group_by = GroupBy::parse(&a.group_by)?;
    let keep_rules_in_config = cfg_policies.values().any(|p| !p.is_empty());
    if thinning && a.ids.is_empty() && policy.is_empty() && !keep_rules_in_config {
        // Thinning only.
        if a.prune && !a.dry_run {
            let r = crate::prune::prune(&repo, &a.prune_opts.options(false)?)?;
            print_prune(g, &r, false)?;
        }
        return Ok(0);
    }
    let decisions: Vec<Decision> = if !a.ids.is_empty() {
        if !policy.is_empty() {
            bail!("give snapshot ids or a policy, not both");
        }
        let chosen: Vec<crate::repo::Id> = a
            .ids
            .iter()
            .map(|p| crate::repo::resolve_prefix(snaps.iter().map(|(id, _)| *id), p, "snapshot"))
            .collect::<anyhow::Result<_>>()?;
        snaps
            .iter()
            .map(|(id, s)| Decision {
                id: id.to_hex(),
                time: s.time.clone(),
                group: String::new(),
                keep: !chosen.contains(id),
                reasons: if chosen.contains(id) { vec![] } else { vec!["not named".into()] },
            })
            .collect()
    } else if !policy.is_empty() {
        apply_logical(&policy, group_by, &snaps)?
    } else {
        let cfg = crate::userconfig::UserConfig { policy: cfg_policies, ..Default::default() };
        if !keep_rules_in_config {
            bail!("no retention policy: give --keep-* options, snapshot ids, or a config file (--config) with [policy.<source>] tables");
        }
        let mut out = vec![];
        let mut uncovered = vec![];
        let mut by_policy: std::collections::BTreeMap<&str, Vec<(crate::repo::Id, crate::repo::snapshot::Snapshot)>> =
            Default::default();
        for (id, s) in &snaps {
            match s
                .sources
                .iter()
                .map(|src| crate::userconfig::source_name(src))
                .find(|n| cfg.policy.get(*n).is_some_and(|p| !p.is_empty()))
            {
                Some(name) => {
                    by_policy.entry(cfg.policy.get_key_value(name).unwrap().0).or_default().push((*id, s.clone()))
                }
                None => uncovered.push((*id, s)),
            }
        }
        for (name, list) in by_policy {
            out.extend(apply_logical(&cfg.policy[name], group_by, &list)?.into_iter().map(|mut d| {
                d.group = format!("policy {name}: {}", d.group);
                d
            }));
        }
        out.extend(uncovered.into_iter().map(|(id, s)| Decision {
            id: id.to_hex(),
            time: s.time.clone(),
            group: String::new(),
            keep: true,
            reasons: vec!["no policy covers its sources".into()],
        }));
        out
    };
    let removed = if a.dry_run { 0 } else { crate::forget::remove(&repo, &decisions)? };
    if g.json {
        print_json(&serde_json::json!({"decisions": decisions, "removed": removed, "dry_run": a.dry_run}))?;
    } else {
        let mut group = None;
        for d in &decisions {
            if group != Some(&d.group) {
                println!("{}", if d.group.is_empty() { "(all snapshots)" } else { &d.group });
                group = Some(&d.group);
            }
            let verdict = if d.keep {
                "keep  "
            } else if a.dry_run {
                "would remove"
            } else {
                "remove"
            };
            println!("  {} {} {verdict} {}", &d.id[..8], d.time.get(..19).unwrap_or(&d.time), d.reasons.join(", "));
        }
        let n = decisions.iter().filter(|d| !d.keep).count();
        println!("{} kept, {} {}", decisions.len() - n, n, if a.dry_run { "would be removed" } else { "removed" });
    }
    if a.prune && !a.dry_run {
        let r = crate::prune::prune(&repo, &a.prune_opts.options(false)?)?;
        print_prune(g, &r, false)?;
    }
    Ok(0)
}

fn run_key(g: &Global, k: KeyCmd) -> anyhow::Result<u8> {
    let repo = g.open()?;
    match k {
        KeyCmd::Add { new_password_file, new_insecure_no_password, kdf } => {
            let pw = PasswordSource {
                insecure_no_password: new_insecure_no_password,
                file: new_password_file.as_deref(),
                env: "CELLAR_NEW_PASSWORD",
                prompt: "new password: ",
            }
            .get(true)?;
            let id = repo.add_key(&pw, kdf.params())?;
            if g.json {
                print_json(&serde_json::json!({"id": id}))?;
            } else {
                println!("added key {}", id.short());
            }
        }
        KeyCmd::List => {
            let keys = repo.list_keys()?;
            if g.json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|(id, k)| serde_json::json!({"id": id, "current": *id == repo.key_id(), "created": k.created, "host": k.host, "user": k.user}))
                    .collect();
                print_json(&v)?;
            } else {
                for (id, k) in keys {
                    let cur = if id == repo.key_id() { "*" } else { " " };
                    println!("{cur} {}  {}  {}@{}", id.short(), k.created, k.user, k.host);
                }
            }
        }
        KeyCmd::Remove { id } => {
            let id = repo.remove_key(&id)?;
            if !g.json {
                println!("removed key {}", id.short());
            }
        }
    }
    Ok(0)
}
