use anyhow::Context;
use clap::Args;

use crate::chunk::ChunkerParams;
use crate::cli::global::Global;
use crate::cli::output::{print_json, InitOutput};
use crate::cli::parse_size;
use crate::repo::crypto::KdfParams;
use crate::repo::{InitOptions, Repository};

/// Chunk sizes are fixed at init. Two profiles: `default` for binary objects (TSDB blocks,
/// Loki chunks, gzip files), `text` for objects whose first 8 KiB look like text (SQL dumps,
/// logs). See format-spec/chunking.md for the measurements behind the defaults.
#[derive(Args, Debug)]
pub struct InitArgs {
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
    /// Store PostgreSQL custom-format archives (`pg_dump -Fc`) as raw bytes instead of as
    /// their decoded table data plus corrections. Decoding lets daily `-Fc` dumps share
    /// chunks as plain ones do; it needs repository format v5, which cellar builds older
    /// than v5 cannot read (this flag keeps the repository readable by them).
    #[arg(long)]
    no_pg_custom_transparent: bool,
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
    /// Write every file a restore needs (config, keys, index, snapshots, packs) with an S3
    /// Object Lock, so that nobody holding the S3 keys can destroy them before --retain
    /// has passed. `compliance`: nobody can lift the lock, not even the bucket's owner;
    /// `governance`: a principal with s3:BypassGovernanceRetention can. The bucket must
    /// have been created with Object Lock enabled (which turns on versioning). While a
    /// snapshot needs a file, `cellar run`, `prune` and `cellar locks extend` keep its lock
    /// extended; see README "Protecting the archive".
    #[arg(long, value_name = "MODE", requires = "retain")]
    object_lock: Option<crate::backend::LockMode>,
    /// How long each file stays locked after it was written or last extended, e.g. 30d
    /// (units d, w, m, y; also h and s). Deleted data stays stored (and billed) this long.
    #[arg(long, value_name = "DURATION", requires = "object_lock")]
    retain: Option<String>,
    /// Make a repository that cannot have append-only keys (together with
    /// --no-pg-custom-transparent: format v1–v3, readable by cellar builds older than
    /// format v4). By default content is sealed to a repository key pair, so that
    /// `key add --append-only` can later make a key that backs up but cannot read or
    /// delete anything.
    #[arg(long)]
    no_append_only_keys: bool,
    #[command(flatten)]
    kdf: KdfArgs,
}

#[derive(Args, Debug)]
pub struct KdfArgs {
    /// Argon2id memory for the new key, in KiB (tests lower it to run fast).
    #[arg(long, default_value_t = KdfParams::default().m_kib, hide = true)]
    kdf_memory_kib: u32,
    /// Argon2id passes for the new key.
    #[arg(long, default_value_t = KdfParams::default().t, hide = true)]
    kdf_passes: u32,
}

impl KdfArgs {
    pub fn params(&self) -> KdfParams {
        KdfParams { m_kib: self.kdf_memory_kib, t: self.kdf_passes, p: 1 }
    }
}

impl InitArgs {
    fn options(&self) -> anyhow::Result<InitOptions> {
        let mut opts = InitOptions::default();
        let text = if self.no_deltas {
            ChunkerParams::text_for_new_repo()
        } else {
            ChunkerParams::text_with_deltas_for_new_repo()
        };
        for (kind, min, avg, max) in [
            (crate::chunk::PROFILE_DEFAULT, self.chunk_min, self.chunk_avg, self.chunk_max),
            (
                crate::chunk::PROFILE_TEXT,
                self.text_chunk_min.unwrap_or(text.min.into()),
                self.text_chunk_avg.unwrap_or(text.avg.into()),
                self.text_chunk_max.unwrap_or(text.max.into()),
            ),
        ] {
            let size = |v: u64| u32::try_from(v).with_context(|| format!("{kind} chunk size {v} is too large"));
            let c = ChunkerParams::with_sizes(size(min)?, size(avg)?, size(max)?);
            c.validate().with_context(|| format!("{kind} chunk sizes"))?;
            opts.chunkers.insert(kind.into(), c);
        }
        if self.no_tsdb_records {
            opts.chunkers.remove(crate::chunk::PROFILE_TSDB_SEGMENT);
        } else {
            let max = u32::try_from(self.tsdb_group_max).unwrap_or(u32::MAX);
            let c = ChunkerParams { max, ..ChunkerParams::tsdb_records_for_new_repo() };
            c.validate().context("--tsdb-group-max")?;
            opts.chunkers.insert(crate::chunk::PROFILE_TSDB_SEGMENT.into(), c);
        }
        opts.pack_size = self.pack_size;
        opts.zstd_level = self.compression_level;
        opts.kdf = self.kdf.params();
        opts.pack_storage_class = self.pack_storage_class.clone();
        opts.gzip_transparent = !self.no_gzip_transparent;
        opts.pg_custom_transparent = !self.no_pg_custom_transparent;
        opts.deltas = !self.no_deltas;
        opts.append_only_keys = !self.no_append_only_keys;
        if let (Some(mode), Some(retain)) = (self.object_lock, &self.retain) {
            let d = crate::ops::forget::parse_duration(retain)
                .map_err(|e| crate::cli::UsageError(format!("--retain {retain:?}: {e:#}")))?;
            let retain_seconds = u64::try_from(d.whole_seconds())
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| crate::cli::UsageError(format!("--retain {retain:?}: must be longer than 0")))?;
            opts.object_lock = Some(crate::repo::file::config::ObjectLock { mode, retain_seconds });
        }
        Ok(opts)
    }
}

pub fn run(g: &Global, a: InitArgs) -> anyhow::Result<u8> {
    let opts = a.options()?;
    // A repository's files must not mix with someone else's.
    if let Some(crate::location::Location::Local(p)) = g.repo.as_deref().map(|r| g.locate(r)).transpose()? {
        let has_entries = std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_some());
        if has_entries && !p.join("config").exists() {
            return Err(crate::cli::UsageError(format!(
                "{} is not empty and holds no repository; give an empty or new directory",
                p.display()
            ))
            .into());
        }
    }
    let backend = g.backend()?;
    let pw = g.password(true)?;
    let repo = Repository::init(backend, &pw, &opts)?;
    if g.json {
        print_json(&InitOutput { id: repo.config().id.clone(), version: repo.config().version })?;
    } else {
        eprintln!("created cellar repository {} at {}", repo.config().id, repo.backend().location());
        if let Some(l) = repo.settings().object_lock {
            eprintln!(
                "every file a restore needs is written with a {} lock of {}, extended while a snapshot needs it",
                l.mode.as_str(),
                crate::ops::locks::show_period(l.retain_seconds)
            );
        }
        eprintln!("keep the password safe: without it the data cannot be recovered");
    }
    Ok(0)
}
