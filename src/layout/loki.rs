//! Loki buckets. Chunk objects (`<tenant>/<fingerprint>/<from>:<through>:<checksum>`) are
//! immutable and already compressed; index files (`index/<table>/…`) reference chunks, and
//! a chunk is always uploaded before an index that points at it. So a backup lists `index/`
//! before the chunk directories (every chunk a captured index references is captured too),
//! and a restore writes index files after the chunks.

/// The directory of index tables (and `delete_requests/`).
pub const INDEX_DIR: &[u8] = b"index";

/// Index files are restored last, like TSDB commit records: `index/index_<day>/…`.
pub fn is_index_file(path: &str) -> bool {
    let rel = match path.find("index/index_") {
        Some(0) => path,
        Some(i) if path.as_bytes()[i - 1] == b'/' => &path[i..],
        _ => return false,
    };
    rel.matches('/').count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files() {
        assert!(is_index_file("loki/index/index_19800/fake/1700000000-ingester-1.tsdb.gz"));
        assert!(is_index_file("index/index_19800/compactor-1700.tsdb.gz"));
        assert!(!is_index_file("loki/index/delete_requests/delete_requests.gz"));
        assert!(!is_index_file("mimir/anonymous/01JDEMA0000000000000000000/index"));
        assert!(!is_index_file("loki/fake/abc/index_x"));
    }
}
