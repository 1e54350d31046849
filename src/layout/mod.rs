//! What objects mean. Format v1's foundation treats every source as plain files; the
//! block-aware layouts (Mimir/Prometheus TSDB, Loki, dumps) build on this seam.

/// Restore rule shared by all layouts: a TSDB block's `meta.json` is its commit record and
/// is written only after the rest of the block.
pub fn is_commit_record(path: &str) -> bool {
    path == "meta.json" || path.ends_with("/meta.json")
}
