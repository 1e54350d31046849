//! Incremental backups: unchanged files (same path, size, mtime) are not read again.

use crate::common::*;
use std::fs;

#[test]
fn unchanged_files_are_not_read_and_changes_are_found() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..20 {
        fs::write(src.join("d").join(format!("f{i}")), pseudo_random(10_000 + i, i as u64)).unwrap();
    }
    let s = src.to_str().unwrap();
    let first = env.backup(&[s]);
    assert_eq!(first["files_new"], 20);
    assert_eq!(first["bytes_read"].as_u64().unwrap(), (0..20).map(|i| 10_000 + i).sum::<u64>());

    let second = env.backup(&[s]);
    assert_eq!(second["files_unmodified"], 20);
    assert_eq!(second["files_new"], 0);
    assert_eq!(second["bytes_read"], 0);
    assert_eq!(second["parent"], first["snapshot_id"]);

    fs::write(src.join("d/f3"), b"changed").unwrap();
    fs::write(src.join("d/new"), b"new").unwrap();
    fs::remove_file(src.join("d/f4")).unwrap();
    let third = env.backup(&[s]);
    assert_eq!(third["files_changed"], 1);
    assert_eq!(third["files_new"], 1);
    assert_eq!(third["files_unmodified"], 18);
    assert_eq!(third["bytes_read"], 10);

    // --force reads everything again but stores nothing new.
    let forced = env.backup(&["--force", s]);
    assert_eq!(forced["files_new"], 20);
    assert_eq!(forced["blobs_new"], 0);

    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("s"));
    // Older snapshots still restore as they were.
    let out1 = env.path("out1");
    env.ok(&["restore", first["snapshot_id"].as_str().unwrap(), "--target", out1.to_str().unwrap()]);
    assert_eq!(fs::read(out1.join("s/d/f3")).unwrap(), pseudo_random(10_003, 3));
    assert!(out1.join("s/d/f4").exists());
}

#[test]
fn parent_is_per_host_and_sources() {
    let env = Env::new();
    let a = env.path("a");
    let b = env.path("b");
    for d in [&a, &b] {
        fs::create_dir(d).unwrap();
        fs::write(d.join("f"), b"x").unwrap();
    }
    env.backup(&[a.to_str().unwrap()]);
    let other = env.backup(&[b.to_str().unwrap()]);
    assert!(other["parent"].is_null());
    let other_host = env.backup(&["--host", "elsewhere", a.to_str().unwrap()]);
    assert!(other_host["parent"].is_null());
    let again = env.backup(&[a.to_str().unwrap()]);
    assert_eq!(again["files_unmodified"], 1);
}

/// Snapshot metadata grows with the change, not with the tree: after changing 1% of 5,000
/// files in 50 directories, the new metadata is a small fraction of the first snapshot's.
#[test]
fn metadata_added_is_proportional_to_the_change() {
    let env = Env::new();
    let src = env.path("s");
    for d in 0..50 {
        fs::create_dir_all(src.join(format!("d{d:02}"))).unwrap();
        for f in 0..100 {
            fs::write(src.join(format!("d{d:02}/f{f:03}")), format!("{d}-{f}")).unwrap();
        }
    }
    let s = src.to_str().unwrap();
    env.backup(&[s]);
    let first_meta = env.stats()["stored_bytes"].as_u64().unwrap();
    for f in 0..50 {
        fs::write(src.join(format!("d07/f{f:03}")), format!("changed {f}")).unwrap();
    }
    let second = env.backup(&[s]);
    assert_eq!(second["files_changed"], 50);
    // New blobs: 50 file chunks + the tree of d07, of s, and the root.
    assert_eq!(second["blobs_new"], 53);
    let added = second["bytes_added"].as_u64().unwrap();
    assert!(added * 20 < first_meta, "1% change added {added} bytes; the first snapshot stored {first_meta}");
}
