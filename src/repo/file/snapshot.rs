//! Snapshot manifests (`snapshots/<id>`, format-spec §9): when, where from, the root
//! tree, and the TSDB blocks held and left out (format-spec/layouts.md). The manifest's
//! types live here, with the file, so that layouts and operations depend on them and not
//! the other way round.

use serde::{Deserialize, Serialize};

use super::FileType;
use crate::id::Id;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub version: u32,
    /// RFC 3339, UTC.
    pub time: String,
    pub host: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// What was backed up, as given (absolute paths, `s3://…` URLs, `stdin:NAME`).
    pub sources: Vec<String>,
    /// Root tree: one entry per source, named by the source's last path component.
    pub tree: Id,
    #[serde(default)]
    pub parent: Option<Id>,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default)]
    pub program: String,
    /// TSDB tenants in the snapshot, with their time range and a blob listing their blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantBlocks>,
    /// Blocks left out, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
    /// Set when this snapshot is one shard of a logical snapshot taken by N workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Set when `forget --thin-compacted` rewrote this snapshot (blocks replaced by the
    /// compacted blocks that hold their samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinned: Option<Thinned>,
    /// Set when `repair snapshots` wrote this snapshot without the damaged parts of
    /// another (which is kept until it is forgotten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repaired: Option<Repaired>,
}

/// The name a snapshot source is known by in policies: `/data/mimir` → `mimir`,
/// `stdin:dop.dump` → `dop.dump`.
pub fn source_name(source: &str) -> &str {
    let s = source.strip_prefix("stdin:").unwrap_or(source);
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}

/// What `repair snapshots` left out of a damaged snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Repaired {
    /// The damaged snapshot this one was made from.
    pub original: Id,
    /// Paths left out: damaged files, whole TSDB blocks that lost a file, unreadable
    /// directories (ending in `/`).
    pub dropped: Vec<String>,
}

impl Snapshot {
    /// `time` as a point in time. Snapshots are ordered by this, never by the string: the
    /// formatter drops trailing zeros of the fraction, so `…:00Z` sorts after `…:00.5Z`.
    /// An unreadable time (a damaged or hand-made manifest) counts as the epoch.
    pub fn timestamp(&self) -> time::OffsetDateTime {
        parse_time(&self.time).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

super::json_file!(Snapshot, FileType::Snapshot);

#[cfg(test)]
impl Snapshot {
    /// A snapshot of `source` at `time`, with nothing in it (for tests of listing and
    /// retention).
    pub(crate) fn sample(time: &str, source: &str) -> Snapshot {
        Snapshot {
            version: 1,
            time: time.into(),
            host: "h".into(),
            user: String::new(),
            tags: vec![],
            sources: vec![source.into()],
            tree: Id::default(),
            parent: None,
            summary: Summary::default(),
            program: String::new(),
            tenants: vec![],
            excluded: vec![],
            shard: None,
            thinned: None,
            repaired: None,
        }
    }
}

/// A block the snapshot holds, as recorded in the manifest's block lists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BlockInfo {
    /// Path of the block directory in the snapshot (`mimir/anonymous/01J…`).
    pub path: String,
    pub tenant: String,
    pub ulid: String,
    /// Milliseconds since the epoch; `max_time` is exclusive.
    pub min_time: i64,
    pub max_time: i64,
    pub level: u32,
    /// ULIDs of the level-1 blocks whose samples this block holds (`compaction.sources`).
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub num_series: u64,
    #[serde(default)]
    pub num_samples: u64,
    #[serde(default)]
    pub num_chunks: u64,
}

/// Why a block was left out of a snapshot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No `meta.json`: an upload in progress or abandoned.
    Partial,
    /// `meta.json` but `index` or `chunks/` missing, sizes not matching, or `meta.json`
    /// unreadable: only a failed copy makes these.
    Corrupted,
    /// The compactor will delete it.
    DeletionMarked,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Partial => "partial",
            Reason::Corrupted => "corrupted",
            Reason::DeletionMarked => "deletion-marked",
        }
    }
}

/// A block left out, as recorded in the manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Excluded {
    pub path: String,
    pub tenant: String,
    pub ulid: String,
    pub reason: Reason,
    #[serde(default)]
    pub detail: String,
}

/// One replacement made by thinning (`forget --thin-compacted`), as recorded in the
/// rewritten snapshot and reported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Substitution {
    pub tenant: String,
    /// The block left out.
    pub block: String,
    /// The compacted block that holds its samples.
    pub by: String,
}

/// What thinning did to a snapshot, stored in it so the history stays explainable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Thinned {
    /// The snapshot as the backup wrote it (before the first thinning).
    pub original: Id,
    pub replaced: Vec<Substitution>,
}

/// One share of a sharded backup (`backup --shard I/N`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Shards with the same sources, group and count form one logical snapshot.
    pub group: String,
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The stable share a key (a block directory or file path) belongs to.
    pub fn owner(key: &str, count: u32) -> u32 {
        let h = blake3::hash(key.as_bytes());
        (u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % u64::from(count)) as u32
    }

    pub fn takes(&self, key: &str) -> bool {
        Shard::owner(key, self.count) == self.index
    }
}

/// Snapshots grouped into logical snapshots: a plain snapshot alone, or the shards of a
/// sharded backup. Returns (members, complete).
pub fn logical_groups(snaps: &[(Id, Snapshot)]) -> Vec<(Vec<usize>, bool)> {
    let mut groups: std::collections::BTreeMap<(Vec<String>, String, u32), Vec<usize>> = Default::default();
    let mut out = vec![];
    for (i, (_, s)) in snaps.iter().enumerate() {
        match &s.shard {
            None => out.push((vec![i], true)),
            Some(sh) => groups.entry((s.sources.clone(), sh.group.clone(), sh.count)).or_default().push(i),
        }
    }
    for ((_, _, count), members) in groups {
        let have: std::collections::BTreeSet<u32> =
            members.iter().filter_map(|&i| snaps[i].1.shard.as_ref().map(|s| s.index)).collect();
        out.push((members, have.len() as u32 == count));
    }
    out.sort_by_key(|(m, _)| m[0]);
    out
}

/// The blocks of one tenant directory of a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TenantBlocks {
    /// The tenant directory in the snapshot (`mimir/anonymous`).
    pub path: String,
    pub tenant: String,
    pub blocks: u64,
    /// Earliest `minTime` and latest `maxTime` (ms) of its blocks.
    pub min_time: i64,
    pub max_time: i64,
    /// Metadata blob (kind 1, stored with the trees) holding the JSON array of
    /// [`BlockInfo`].
    pub list: Id,
}

/// What a backup did, kept so `snapshots` and `stats` need not walk trees.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    /// Logical bytes: the sum of file sizes in the snapshot.
    pub bytes: u64,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub blobs_new: u64,
    pub errors: u64,
    /// Sealed bytes of every blob in the repository once this backup's data was stored
    /// (format-spec §9): the repository's size over time, which the snapshots that
    /// outlive a retention policy still chart. 0 when unknown (older or copied snapshots).
    #[serde(default)]
    pub repository_bytes: u64,
}

pub fn now_rfc3339() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// RFC 3339, as every time in repository files and JSON output is written.
pub fn format_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).expect("time formats")
}

pub fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("bad time {s:?}: {e}"))
}

pub use crate::host::hostname;
