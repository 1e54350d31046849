//! What objects mean. A source is read through a layout that knows which objects form a
//! consistent, restorable state:
//! - `tsdb` (Mimir, Thanos and Prometheus block storage): only complete blocks, never
//!   deletion-marked ones, never the platform's regenerated bookkeeping;
//! - `loki`: index files listed before the chunk objects they reference;
//! - `files`: everything as it is.

pub mod detect;
pub mod loki;
pub mod tsdb;

use serde::{Deserialize, Serialize};

pub use detect::{detect, Layout};

/// Restore rule shared by all layouts: files that make other files visible to the platform
/// are written only after everything else: a TSDB block's `meta.json` (its commit record)
/// and Loki index files (which point at chunk objects).
pub fn is_commit_record(path: &str) -> bool {
    path == "meta.json" || path.ends_with("/meta.json") || loki::is_index_file(path)
}

/// A block the snapshot holds, as recorded in the manifest.
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

/// All blocks a snapshot holds (reading each tenant's list blob).
pub fn load_blocks(
    repo: &crate::repo::Repository,
    snap: &crate::repo::snapshot::Snapshot,
) -> anyhow::Result<Vec<BlockInfo>> {
    let mut out = vec![];
    for t in &snap.tenants {
        let list: Vec<BlockInfo> = serde_json::from_slice(&repo.read_blob(&t.list)?)
            .map_err(|e| anyhow::anyhow!("block list of {}: {e}", t.path))?;
        out.extend(list);
    }
    Ok(out)
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
}

/// A time given on the command line: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`
/// (UTC), or milliseconds since the epoch. Returns milliseconds.
pub fn parse_time_arg(s: &str) -> anyhow::Result<i64> {
    use time::macros::format_description as fd;
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let s2 = s.replace('T', " ");
    for f in [fd!("[year]-[month]-[day] [hour]:[minute]:[second]"), fd!("[year]-[month]-[day] [hour]:[minute]")] {
        if let Ok(t) = time::PrimitiveDateTime::parse(&s2, &f) {
            return Ok((t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64);
        }
    }
    if let Ok(d) = time::Date::parse(s, &fd!("[year]-[month]-[day]")) {
        return Ok((d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64);
    }
    anyhow::bail!("cannot read time {s:?}: use RFC 3339, YYYY-MM-DD, 'YYYY-MM-DD HH:MM' (UTC) or epoch milliseconds")
}

/// Which blocks a partial restore selects.
#[derive(Default, Debug)]
pub struct BlockFilter {
    pub tenants: Vec<String>,
    pub ulids: Vec<String>,
    /// Half-open `[from, to)` in ms; a block is selected when its range overlaps.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl BlockFilter {
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.ulids.is_empty() && self.from.is_none() && self.to.is_none()
    }

    pub fn matches(&self, b: &BlockInfo) -> bool {
        (self.tenants.is_empty() || self.tenants.contains(&b.tenant))
            && (self.ulids.is_empty() || self.ulids.iter().any(|u| u.eq_ignore_ascii_case(&b.ulid)))
            && self.from.is_none_or(|f| b.max_time > f)
            && self.to.is_none_or(|t| b.min_time < t)
    }

    /// Snapshot paths to restore: whole tenant directories when only tenants are named,
    /// otherwise the selected block directories.
    pub fn paths(
        &self,
        repo: &crate::repo::Repository,
        snap: &crate::repo::snapshot::Snapshot,
    ) -> anyhow::Result<Vec<String>> {
        let out: Vec<String> = if self.ulids.is_empty() && self.from.is_none() && self.to.is_none() {
            snap.tenants.iter().filter(|t| self.tenants.contains(&t.tenant)).map(|t| t.path.clone()).collect()
        } else {
            load_blocks(repo, snap)?.into_iter().filter(|b| self.matches(b)).map(|b| b.path).collect()
        };
        if out.is_empty() {
            anyhow::bail!(crate::error::Error::NotFound(
                "no block of the snapshot matches --tenant/--block/--from/--to".into()
            ));
        }
        Ok(out)
    }
}
