//! Restore a snapshot (or part of it) into a directory ([`local`]) or an S3 bucket
//! ([`s3`]).
//!
//! What is restored is decided first ([`plan`]): `--include` globs and the block/tenant
//! selection choose snapshot paths; files a layout marks as commit records (a TSDB block's
//! `meta.json`, Loki's index files) form a second phase written only after every other
//! file is complete, so the platform never sees a half-restored block. A shard of a
//! sharded backup stands for its whole logical snapshot.

mod decompress;
mod existing;
mod local;
pub mod plan;
mod s3;

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::s3::{S3Url, S3};
use crate::error::RepoError;
use crate::id::Id;
use crate::layout::BlockFilter;
use crate::repo::file::snapshot::{logical_groups, Snapshot};
use crate::repo::Repository;

pub use existing::Overwrite;
pub use plan::{selected, Selection};

/// Where a restore writes.
#[derive(Clone)]
pub enum Target {
    /// A directory (created if missing; nothing is written outside it).
    Dir(PathBuf),
    /// `s3://bucket/prefix`: every file becomes an object.
    S3 { s3: Arc<S3>, url: S3Url },
}

impl Target {
    /// A location as the user gives it: a path, `s3://BUCKET/PREFIX` or `remote:NAME`.
    pub fn resolve(
        spec: &str,
        s3: &crate::backend::s3::S3Config,
        cfg: &crate::userconfig::UserConfig,
    ) -> anyhow::Result<Target> {
        Ok(match crate::location::resolve(spec, s3, cfg)? {
            crate::location::Location::S3(url, cfg) => Target::S3 { s3: S3::connect(&cfg)?, url },
            crate::location::Location::Local(p) => Target::Dir(p),
        })
    }
}

#[derive(Clone)]
pub struct RestoreOptions {
    pub target: Target,
    pub selection: Selection,
    pub progress: bool,
    /// With packs in cold storage: only request their restore and return (`--no-wait`).
    pub no_wait: bool,
    /// Files already in a target directory (identical ones are always kept).
    pub overwrite: Overwrite,
    /// Remove what a target directory holds that the snapshot does not (within the
    /// directories restored).
    pub delete: bool,
    /// Write `*.gz` files decoded, without `.gz` (a directory target only).
    pub decompress: bool,
}

impl RestoreOptions {
    /// Everything, into directory `target`, commit records last.
    pub fn new(target: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            target: Target::Dir(target.into()),
            selection: Selection::default(),
            progress: false,
            no_wait: false,
            overwrite: Overwrite::default(),
            delete: false,
            decompress: false,
        }
    }
}

/// What a restore did (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct RestoreReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Shards of a sharded backup restored together.
    pub shards: usize,
    /// Snapshot paths in the order their files were completed (commit-record files last).
    #[serde(skip)]
    pub completion_order: Vec<String>,
    /// With `no_wait`: packs in cold storage whose restore was requested (nothing written).
    pub cold_packs_requested: Vec<String>,
    /// Files that could not be restored (nothing was left under their names).
    pub damaged: Vec<DamagedEntry>,
    /// Commit records (`meta.json`) not written because their block lost a file.
    pub withheld: Vec<String>,
    /// Files found in place already, identical (not written again; counted in `files`).
    pub unchanged: u64,
    /// Files in place that differ from the snapshot and were kept (`--overwrite never`).
    pub kept: Vec<String>,
    /// Paths removed from the target because the snapshot does not hold them (`--delete`).
    pub deleted: Vec<String>,
}

/// A file a restore could not write, and why (format-spec/json.md).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct DamagedEntry {
    /// Snapshot path.
    pub path: String,
    /// The blob at fault, and the pack it was read from, where known.
    pub blob: Option<Id>,
    pub pack: Option<Id>,
    pub error: String,
}

/// What went wrong with one file, before its path is attached.
#[derive(Debug, Clone)]
pub(crate) struct Damaged {
    pub blob: Option<Id>,
    pub pack: Option<Id>,
    pub error: String,
}

impl Damaged {
    pub fn new(error: String) -> Damaged {
        Damaged { blob: None, pack: None, error }
    }

    /// From a failed read of a file's bytes: the repository error inside, with the blob
    /// it names.
    pub fn from_io(e: &std::io::Error) -> Damaged {
        let blob = match e.get_ref().and_then(|i| i.downcast_ref::<RepoError>()) {
            Some(RepoError::MissingBlob { id }) => Some(*id),
            _ => None,
        };
        Damaged { blob, ..Damaged::new(e.to_string()) }
    }
}

impl From<Damaged> for DamagedEntry {
    fn from(d: Damaged) -> DamagedEntry {
        DamagedEntry { path: String::new(), blob: d.blob, pack: d.pack, error: d.error }
    }
}

impl RestoreReport {
    fn file_done(&mut self, path: &str, size: u64) {
        self.files += 1;
        self.bytes += size;
        self.completion_order.push(path.to_string());
    }

    fn add(&mut self, o: RestoreReport) {
        self.files += o.files;
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.bytes += o.bytes;
        self.completion_order.extend(o.completion_order);
        self.cold_packs_requested.extend(o.cold_packs_requested);
        self.damaged.extend(o.damaged);
        self.withheld.extend(o.withheld);
        self.unchanged += o.unchanged;
        self.kept.extend(o.kept);
        self.deleted.extend(o.deleted);
    }
}

/// The commit records to write, and those withheld (recorded in the report) because
/// something below their directory was lost: the platform must not see a TSDB block with
/// holes. The block's other files stay, for inspection.
fn withhold(commits: Vec<plan::PlannedFile>, report: &mut RestoreReport) -> Vec<plan::PlannedFile> {
    let lost_below = |dir: &str| report.damaged.iter().any(|d| d.path.starts_with(&format!("{dir}/")));
    let (withheld, keep): (Vec<_>, Vec<_>) =
        commits.into_iter().partition(|f| f.path.rsplit_once('/').is_some_and(|(dir, _)| lost_below(dir)));
    report.withheld.extend(withheld.into_iter().map(|f| f.path));
    keep
}

/// Restore one snapshot as it is.
pub fn restore(repo: &Repository, snap: &Snapshot, opts: &RestoreOptions) -> anyhow::Result<RestoreReport> {
    repo.load_index()?;
    let plan = plan::plan(repo, snap, &opts.selection)?;
    if opts.decompress {
        if !matches!(opts.target, Target::Dir(_)) {
            anyhow::bail!("--decompress restores into a directory, not into S3");
        }
        if opts.delete {
            anyhow::bail!("--decompress and --delete do not go together: the decoded files are not in the snapshot");
        }
    }
    match &opts.target {
        Target::Dir(dir) => local::restore(repo, plan, dir, opts),
        Target::S3 { s3, url } => s3::restore(repo, plan, s3, url, opts),
    }
}

/// Restore what the user named: `snapshot` (an id, prefix or `latest`) and, for one shard
/// of a sharded backup, its whole logical snapshot (unless `this_shard_only`), limited to
/// the blocks `filter` selects. Fails when the selection matches nothing.
pub fn restore_logical(
    repo: &Repository,
    snapshot: &str,
    filter: &BlockFilter,
    this_shard_only: bool,
    opts: RestoreOptions,
) -> anyhow::Result<(Id, RestoreReport)> {
    let (snapshot, base) = crate::vfs::split_spec(snapshot);
    let (id, snap) = repo.resolve_snapshot(snapshot)?;
    let members = if snap.shard.is_some() && !this_shard_only { group_of(repo, id, &snap)? } else { vec![(id, snap)] };
    repo.load_index()?;
    let mut total = RestoreReport { shards: members.len(), ..Default::default() };
    let mut matched = false;
    for (_, snap) in &members {
        let mut selection = Selection { base: base.trim_matches('/').to_string(), ..opts.selection.clone() };
        if !selection.base.is_empty() && crate::vfs::lookup(repo, snap, &selection.base).is_err() && members.len() > 1 {
            continue; // This shard does not hold the directory.
        }
        if !filter.is_empty() {
            let blocks = if filter.needs_blocks() { crate::vfs::blocks(repo, snap)? } else { vec![] };
            let paths = filter.paths(snap, &blocks);
            let below = selection.prefixes_below_base(paths);
            if below.as_ref().is_some_and(Vec::is_empty) {
                continue; // This shard holds none of the selected blocks.
            }
            selection.prefixes = below;
        }
        matched = true;
        let r = restore(repo, snap, &RestoreOptions { selection, ..opts.clone() })?;
        let cold = !r.cold_packs_requested.is_empty();
        total.add(r);
        if cold {
            break;
        }
    }
    if !matched {
        return Err(RepoError::NotFound("no block of the snapshot matches --tenant/--block/--from/--to".into()).into());
    }
    Ok((id, total))
}

/// Every shard of the logical snapshot `id` belongs to; refuses an incomplete group.
fn group_of(repo: &Repository, id: Id, snap: &Snapshot) -> anyhow::Result<Vec<(Id, Snapshot)>> {
    let all = repo.list_snapshots()?;
    let groups = logical_groups(&all);
    let (m, complete) = groups.iter().find(|(m, _)| m.iter().any(|&i| all[i].0 == id)).expect("listed");
    if !complete {
        anyhow::bail!(
            "snapshot {} is one of {} shards present of {} in its group; the logical snapshot is incomplete (restore it anyway with --this-shard-only)",
            id.short(),
            m.len(),
            snap.shard.as_ref().map_or(0, |s| s.count)
        );
    }
    Ok(m.iter().map(|&i| all[i].clone()).collect())
}
