//! Recognise what a source directory holds.

use std::path::Path;

use super::tsdb::is_ulid;
use crate::source::local::read_dir_sorted;

/// How a source is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Everything as it is.
    Files,
    /// Mimir bucket: tenants at the top, blocks below them.
    Mimir,
    /// Thanos bucket or Prometheus data directory: blocks at the top (one unnamed tenant).
    Prometheus,
    /// Loki bucket: `index/` tables and per-tenant chunk objects.
    Loki,
}

impl Layout {
    pub fn name(&self) -> &'static str {
        match self {
            Layout::Files => "files",
            Layout::Mimir => "mimir",
            Layout::Prometheus => "prometheus",
            Layout::Loki => "loki",
        }
    }
}

fn has_ulid_dir(dir: &Path) -> bool {
    read_dir_sorted(dir).map(|v| v.iter().any(|(n, p)| is_ulid(n) && p.is_dir())).unwrap_or(false)
}

/// Guess the layout of a directory from its first two levels. Blocks at the top mean a
/// Prometheus/Thanos layout; blocks one level down a Mimir one; an `index/` holding
/// `index_*` tables (or Loki's cluster seed) a Loki one.
pub fn detect(dir: &Path) -> Layout {
    let Ok(entries) = read_dir_sorted(dir) else { return Layout::Files };
    if entries.iter().any(|(n, _)| n == b"loki_cluster_seed.json")
        || entries.iter().any(|(n, p)| {
            n == b"index"
                && read_dir_sorted(p).map(|v| v.iter().any(|(t, _)| t.starts_with(b"index_"))).unwrap_or(false)
        })
    {
        return Layout::Loki;
    }
    if entries.iter().any(|(n, p)| is_ulid(n) && p.is_dir()) {
        return Layout::Prometheus;
    }
    if entries.iter().any(|(_, p)| p.is_dir() && has_ulid_dir(p)) {
        return Layout::Mimir;
    }
    Layout::Files
}

/// A forced `--layout mimir` on a directory that has blocks at the top means Prometheus.
pub fn refine_tsdb(dir: &Path) -> Layout {
    if has_ulid_dir(dir) {
        Layout::Prometheus
    } else {
        Layout::Mimir
    }
}
