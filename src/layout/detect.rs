//! Recognise what a source directory holds.

use std::path::Path;

use super::tsdb::is_ulid;
use crate::source::SourceTree;

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

fn has_ulid_dir(src: &dyn SourceTree, dir: &Path) -> bool {
    src.read_dir(dir).is_ok_and(|v| v.iter().any(|(n, p)| is_ulid(n) && src.is_dir(p)))
}

/// Guess the layout of a directory from its first two levels. Blocks at the top mean a
/// Prometheus/Thanos layout; blocks one level down a Mimir one; an `index/` holding
/// `index_*` tables (or Loki's cluster seed) a Loki one.
pub fn detect(src: &dyn SourceTree, dir: &Path) -> Layout {
    let Ok(entries) = src.read_dir(dir) else { return Layout::Files };
    if entries.iter().any(|(n, _)| n == b"loki_cluster_seed.json")
        || entries.iter().any(|(n, p)| {
            n == b"index" && src.read_dir(p).is_ok_and(|v| v.iter().any(|(t, _)| t.starts_with(b"index_")))
        })
    {
        return Layout::Loki;
    }
    if entries.iter().any(|(n, p)| is_ulid(n) && src.is_dir(p)) {
        return Layout::Prometheus;
    }
    if entries.iter().any(|(_, p)| src.is_dir(p) && has_ulid_dir(src, p)) {
        return Layout::Mimir;
    }
    Layout::Files
}

/// A forced `--layout mimir` on a directory that has blocks at the top means Prometheus.
pub fn refine_tsdb(src: &dyn SourceTree, dir: &Path) -> Layout {
    if has_ulid_dir(src, dir) {
        Layout::Prometheus
    } else {
        Layout::Mimir
    }
}
