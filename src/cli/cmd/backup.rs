use clap::Args;
use indicatif::HumanBytes;
use std::path::PathBuf;

use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::EXIT_PARTIAL;
use crate::layout::Layout;
use crate::ops::backup::exclude::Excludes;
use crate::ops::backup::{backup, BackupOptions};
use crate::repo::file::snapshot::{now_rfc3339, Shard};
use crate::source::Source;

#[derive(Args, Debug)]
pub struct BackupArgs {
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
    /// With an append-only key: where this host keeps its send log, the listing of what it
    /// last backed up (an append-only key cannot read older snapshots, so this is how
    /// unchanged files are skipped). Default: <cache dir>/<repository id>/send-log. Keep it
    /// on a persistent volume; without it every object is read again (and still
    /// deduplicated).
    #[arg(long, value_name = "DIR")]
    send_log: Option<PathBuf>,
    /// Leave out what matches this pattern (repeatable): `*` stays within a path segment,
    /// `**` crosses them, a pattern without `/` matches a name at any depth, others match
    /// the path below the source (or below the snapshot's top), e.g. `--exclude
    /// '*/markers/*' --exclude '*.tmp'`. Mimir's markers, bucket indexes and
    /// deletion-marked blocks are left out without being asked.
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Read exclude patterns from this file, one per line (`#` comments; repeatable).
    #[arg(long, value_name = "FILE")]
    exclude_file: Vec<PathBuf>,
    /// Leave out every directory that holds an entry of this name (repeatable), e.g.
    /// `--exclude-if-present deletion-mark.json` or `.nobackup`.
    #[arg(long, value_name = "NAME")]
    exclude_if_present: Vec<String>,
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
    fn to_layout(self) -> Option<Layout> {
        match self {
            LayoutArg::Auto => None,
            LayoutArg::Mimir => Some(Layout::Mimir),
            LayoutArg::Loki => Some(Layout::Loki),
            LayoutArg::Files => Some(Layout::Files),
        }
    }
}

pub fn run(g: &Global, a: BackupArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let (s3, cfg) = (g.s3_config(), g.user_config()?);
    let mut sources = a
        .sources
        .iter()
        .map(|s| Source::resolve(&s.to_string_lossy(), &s3, &cfg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if a.stdin {
        let name = a.stdin_name.as_deref().unwrap_or_default();
        sources.push(Source::reader(name, Box::new(std::io::stdin()))?);
    }
    let opts = BackupOptions {
        sources,
        tags: a.tag,
        host: a.host,
        parent: a.parent,
        force: a.force,
        layout: a.layout.to_layout(),
        progress: g.progress(),
        shard: a.shard.map(|(index, count)| Shard {
            group: a.shard_group.clone().unwrap_or_else(|| now_rfc3339()[..10].to_string()),
            index,
            count,
        }),
        readers: a.read_concurrency,
        excludes: {
            let mut patterns = a.exclude.clone();
            patterns.extend(Excludes::read_files(&a.exclude_file)?);
            Excludes::new(&patterns, &a.exclude_if_present)?
        },
        send_log: a.send_log,
    };
    let started = crate::metrics::now_seconds();
    let names: Vec<String> = opts.sources.iter().map(|s| String::from_utf8_lossy(&s.name).into_owned()).collect();
    let allow_corrupted = a.allow_corrupted;
    let metrics_repo = repo.clone();
    let source = names.join(",");
    let r = g.job_metrics("backup", &source, started, backup(repo, opts), |m, r| {
        crate::metrics::backup_with_coverage(m, &metrics_repo, &source, r);
        r.errors.is_empty() && (r.corrupted.is_empty() || allow_corrupted)
    })?;
    for e in &r.errors {
        eprintln!("cellar: warning: could not read {e}");
    }
    for n in &r.notices {
        eprintln!("cellar: note: {n}");
    }
    let corrupted = !r.corrupted.is_empty() && !a.allow_corrupted;
    // Allowed corrupted blocks are reported, not errors: the backup succeeded.
    let level = if a.allow_corrupted { "warning" } else { "error" };
    for c in &r.corrupted {
        eprintln!("cellar: {level}: corrupted block left out: {c}");
    }
    if g.json {
        print_json(&r)?;
    } else if !g.quiet {
        println!(
            "snapshot {} saved: {} ({} new, {} changed, {} unmodified), {} read, {} added{}",
            &r.snapshot_id[..8],
            count(r.total_files as usize, "file", "files"),
            r.files_new,
            r.files_changed,
            r.files_unmodified,
            HumanBytes(r.bytes_read),
            HumanBytes(r.bytes_added),
            if r.deltas_new > 0 {
                format!(" ({} as deltas)", count(r.deltas_new as usize, "chunk", "chunks"))
            } else {
                String::new()
            }
        );
        let left_out = r.excluded_partial + r.excluded_corrupted + r.excluded_deletion_marked;
        if r.excluded_by_rule > 0 {
            println!("{} entries left out by the excludes", r.excluded_by_rule);
        }
        if r.blocks > 0 || left_out > 0 {
            println!(
                "TSDB blocks: {} complete; left out: {} partial, {} corrupted, {} deletion-marked; {} bookkeeping objects skipped",
                r.blocks, r.excluded_partial, r.excluded_corrupted, r.excluded_deletion_marked, r.bookkeeping_skipped
            );
        }
    }
    Ok(if r.errors.is_empty() && !corrupted { 0 } else { EXIT_PARTIAL })
}
