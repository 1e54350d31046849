//! Loki buckets: index files are listed before the chunk objects they reference when
//! backing up, and restored after them.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn loki_bucket(root: &Path) {
    for (tenant, fp) in [("fake", "1a2b3c4d5e6f"), ("team-a", "99aa00bb11cc")] {
        let d = root.join(tenant).join(fp);
        fs::create_dir_all(&d).unwrap();
        for i in 0..5 {
            fs::write(d.join(format!("18e5a{i}:18e5b{i}:a1b2c3d{i}")), pseudo_random(20_000, i)).unwrap();
        }
        let idx = root.join("index/index_19800").join(tenant);
        fs::create_dir_all(&idx).unwrap();
        fs::write(idx.join("1711929600-ingester-0-1711929600.tsdb.gz"), pseudo_random(3_000, 99)).unwrap();
    }
    fs::create_dir_all(root.join("index/delete_requests")).unwrap();
    fs::write(root.join("index/delete_requests/delete_requests"), b"{}").unwrap();
    fs::write(root.join("loki_cluster_seed.json"), br#"{"UID":"x"}"#).unwrap();
}

static OPENED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

#[test]
fn index_is_read_before_chunks_and_restored_after_them() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("loki");
    loki_bucket(&root);
    assert_eq!(cellar::layout::detect(&cellar::source::local::LocalTree, &root), cellar::layout::Layout::Loki);

    let dir = tempfile::tempdir().unwrap();
    let repo = lib_repo(dir.path());
    fn record(p: &Path) {
        OPENED.lock().unwrap().push(p.to_path_buf());
    }
    // One worker, so files are opened in the order the walker lists them.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let opts = cellar::ops::backup::BackupOptions { sources: vec![hooked_source(&root, record)], ..Default::default() };
    pool.install(|| cellar::ops::backup::backup(repo.clone(), opts)).unwrap();
    let opened = OPENED.lock().unwrap().clone();
    let is_index = |p: &PathBuf| p.strip_prefix(&root).unwrap().starts_with("index");
    let last_index = opened.iter().rposition(is_index).unwrap();
    let first_chunk = opened.iter().position(|p| p.to_string_lossy().contains(':')).unwrap();
    assert!(last_index < first_chunk, "index files must be read before chunk objects: {opened:?}");

    let (_, snap) = repo.resolve_snapshot("latest").unwrap();
    let out = tempfile::tempdir().unwrap();
    // Commit records (here Loki index files) are written last by default.
    let ro = cellar::ops::restore::RestoreOptions::new(out.path());
    let report = cellar::ops::restore::restore(&repo, &snap, &ro).unwrap();
    let order = &report.completion_order;
    let first_index = order.iter().position(|p| p.contains("index/index_")).unwrap();
    let last_chunk = order.iter().rposition(|p| p.contains(':')).unwrap();
    assert!(last_chunk < first_index, "chunks must be restored before index files: {order:?}");
    assert_same_tree(&root, &out.path().join("loki"));
}
