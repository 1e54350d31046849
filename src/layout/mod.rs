//! What objects mean. A source is read through a layout that knows which objects form a
//! consistent, restorable state:
//! - `tsdb` (Mimir, Thanos and Prometheus block storage): only complete blocks, never
//!   deletion-marked ones, never the platform's regenerated bookkeeping;
//! - `loki`: index files listed before the chunk objects they reference;
//! - `files`: everything as it is.
//!
//! Layouts judge listings (names, sizes, `meta.json` bytes) read through a
//! [`crate::source::SourceTree`]; they know nothing of the repository.

pub mod detect;
pub mod loki;
mod roles;
pub mod tsdb;
pub mod tsdb_verify;

pub use detect::{detect, Layout};
pub use roles::{Child, Role};

use crate::repo::file::snapshot::{BlockInfo, Snapshot};

/// Restore rule shared by all layouts: files that make other files visible to the platform
/// are written only after everything else: a TSDB block's `meta.json` (its commit record)
/// and Loki index files (which point at chunk objects).
pub fn is_commit_record(path: &str) -> bool {
    path == "meta.json" || path.ends_with("/meta.json") || loki::is_index_file(path)
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

    /// Whether [`BlockFilter::paths`] needs the snapshot's block lists (more than tenants).
    pub fn needs_blocks(&self) -> bool {
        !(self.ulids.is_empty() && self.from.is_none() && self.to.is_none())
    }

    /// Snapshot paths to restore: whole tenant directories when only tenants are named,
    /// otherwise the selected block directories (`blocks`: the snapshot's block lists,
    /// needed only when [`BlockFilter::needs_blocks`]). Empty when nothing matches.
    pub fn paths(&self, snap: &Snapshot, blocks: &[BlockInfo]) -> Vec<String> {
        if self.needs_blocks() {
            blocks.iter().filter(|b| self.matches(b)).map(|b| b.path.clone()).collect()
        } else {
            snap.tenants.iter().filter(|t| self.tenants.contains(&t.tenant)).map(|t| t.path.clone()).collect()
        }
    }
}
