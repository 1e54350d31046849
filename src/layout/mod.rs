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
