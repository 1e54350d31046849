//! The two-phase deletion protocol (format-spec §11) at every crash point: a prune (and a
//! backup) killed after its N-th change to storage, for every N, or failing there, leaves a
//! repository that checks clean, whose snapshots all restore, and that the next prune
//! finishes.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{prune, PruneOptions};
use crate::backend::faulty::{Fault, FaultyBackend};
use crate::backend::mem::MemBackend;
use crate::backend::Backend;
use crate::ops::backup::{backup, BackupOptions};
use crate::repo::file::FileType;
use crate::repo::tests::mem_repo_on;
use crate::repo::Repository;
use crate::source::Source;

/// Files of a source directory: path → bytes.
type Files = BTreeMap<String, Vec<u8>>;

fn write_tree(dir: &std::path::Path, files: &Files) {
    let _ = std::fs::remove_dir_all(dir);
    for (p, b) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn run_backup(repo: &Arc<Repository>, dir: &std::path::Path) -> anyhow::Result<String> {
    let opts = BackupOptions { sources: vec![Source::local(dir)?], force: true, ..Default::default() };
    Ok(backup(repo.clone(), opts)?.snapshot_id)
}

fn open(backend: Arc<dyn Backend>) -> Arc<Repository> {
    Arc::new(Repository::open(backend, b"test").expect("the repository opens"))
}

/// Every snapshot restores to exactly what was backed up; the check is clean.
fn assert_intact(backend: Arc<dyn Backend>, expected: &BTreeMap<String, Files>, what: &str) {
    let repo = open(backend);
    let report = crate::ops::check::check(&repo, &crate::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{what}: check found {:?}", report.errors);
    repo.load_index().unwrap();
    for (id, snap) in repo.list_snapshots().unwrap() {
        let want = &expected[&id.to_hex()];
        let mut got = Files::new();
        crate::vfs::walk(&repo, &snap.tree, |e| {
            if e.node.kind == crate::repo::file::tree::NodeKind::File {
                let mut b = vec![];
                std::io::Read::read_to_end(&mut crate::vfs::file_reader(&repo, e.node), &mut b)?;
                got.insert(e.path.trim_start_matches("src/").to_string(), b);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(&got, want, "{what}: snapshot {} restores differently", id.short());
    }
}

/// A repository with two snapshots sharing some data, the first one forgotten: a prune
/// has unused packs to delete and a partly used one to repack.
fn prepared() -> (Arc<MemBackend>, BTreeMap<String, Files>) {
    let mem = Arc::new(MemBackend::default());
    let repo = Arc::new(mem_repo_on(mem.clone()));
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("src");
    let mut files: Files = (0..6).map(|i| (format!("f{i}"), bytes(i, 300_000))).collect();
    write_tree(&dir, &files);
    let first = run_backup(&repo, &dir).unwrap();
    files.remove("f0");
    files.insert("g".into(), bytes(99, 200_000));
    write_tree(&dir, &files);
    let second = run_backup(&repo, &dir).unwrap();
    repo.remove_file(FileType::Snapshot, &crate::id::Id::from_hex(&first).unwrap()).unwrap();
    (mem, [(second, files)].into())
}

fn copy_of(mem: &MemBackend) -> Arc<MemBackend> {
    let m = Arc::new(MemBackend::default());
    for (k, v) in mem.snapshot() {
        m.put_raw(&k, v);
    }
    m
}

/// No grace period, and one pack per index file written, so that every rewrite of the
/// index spans several files and each of them is a crash point.
fn no_grace() -> PruneOptions {
    PruneOptions { grace: time::Duration::ZERO, index_file_entries: 1, ..Default::default() }
}

#[test]
fn a_prune_killed_at_any_change_leaves_every_snapshot_restorable() {
    let (base, expected) = prepared();
    let mut completed = false;
    for k in 0..200 {
        let mem = copy_of(&base);
        let faulty = Arc::new(FaultyBackend::new(mem.clone(), Fault::CrashAt(k)));
        let result = prune(&open(faulty.clone()), &no_grace());
        assert_intact(mem.clone(), &expected, &format!("crash at change {k}"));
        // The next prune finishes the job.
        let r = prune(&open(mem.clone()), &no_grace()).unwrap_or_else(|e| panic!("prune after crash {k}: {e:#}"));
        assert_intact(mem.clone(), &expected, &format!("prune after crash at change {k}"));
        if result.is_ok() {
            assert!(faulty.changes() <= k, "a completed prune made {} changes", faulty.changes());
            assert!(k > 3, "the prune must have had crash points to test (done after {k})");
            assert_eq!((r.packs_marked, r.packs_deleted), (0, 0), "nothing left to do after a complete prune");
            completed = true;
            break;
        }
    }
    assert!(completed, "the prune never completed within 200 changes");
    // And the repacked, pruned repository holds no data of the forgotten snapshot.
    let mem = copy_of(&base);
    let r = prune(&open(mem.clone()), &no_grace()).unwrap();
    assert!(r.packs_deleted >= 1 && r.packs_repacked >= 1, "{r:?}");
}

#[test]
fn a_prune_failing_at_any_change_fails_cleanly_and_loses_nothing() {
    let (base, expected) = prepared();
    for k in 0.. {
        let mem = copy_of(&base);
        let faulty = Arc::new(FaultyBackend::new(mem.clone(), Fault::FailAt(k)));
        let result = prune(&open(faulty.clone()), &no_grace());
        assert_intact(mem.clone(), &expected, &format!("failure at change {k}"));
        prune(&open(mem.clone()), &no_grace()).unwrap();
        assert_intact(mem, &expected, &format!("prune after failure at change {k}"));
        if faulty.changes() <= k {
            assert!(result.is_ok());
            break;
        }
        assert!(result.is_err(), "a failed change at {k} must fail the prune, not be ignored");
    }
}

#[test]
fn a_backup_killed_at_any_change_leaves_the_repository_valid_and_the_next_one_succeeds() {
    let (base, expected) = prepared();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("src");
    let files: Files = (0..3).map(|i| (format!("n{i}"), bytes(1000 + i, 400_000))).collect();
    write_tree(&dir, &files);
    for k in 0.. {
        let mem = copy_of(&base);
        let faulty = Arc::new(FaultyBackend::new(mem.clone(), Fault::CrashAt(k)));
        let result = run_backup(&open(faulty.clone()), &dir);
        let done = faulty.changes() <= k;
        match &result {
            // Only the earlier snapshots exist, and they are intact.
            Err(_) => assert_intact(mem.clone(), &expected, &format!("backup crash at change {k}")),
            // The last change, removing the writer marker, is best effort: the snapshot
            // is complete, and the marker is left for prune to time out.
            Ok(_) if !done => assert_eq!(mem.list("writers").unwrap().len(), 1, "crash at {k} after the snapshot"),
            Ok(_) => {}
        }
        let id = run_backup(&open(mem.clone()), &dir).unwrap();
        let mut now = expected.clone();
        if let Ok(first) = &result {
            now.insert(first.clone(), files.clone());
        }
        now.insert(id, files.clone());
        // A prune then removes the crashed backup's leftovers without touching the rest.
        prune(&open(mem.clone()), &no_grace()).unwrap();
        assert_intact(mem, &now, &format!("after backup crash at change {k}"));
        if done {
            break;
        }
    }
}

#[test]
fn a_rewritten_index_spans_bounded_files_and_the_last_supersedes_the_old_ones() {
    let (base, expected) = prepared();
    let mem = copy_of(&base);
    let old: Vec<String> = mem.list("index").unwrap().into_iter().map(|(n, _)| n).collect();
    let r = prune(&open(mem.clone()), &no_grace()).unwrap();
    assert!(r.packs_deleted >= 1, "{r:?}");
    let repo = open(mem.clone());
    let files = repo.load_all::<crate::repo::file::index::IndexFile>().unwrap();
    assert!(files.damaged.is_empty());
    assert!(files.files.len() >= 2, "one pack per file: {} files", files.files.len());
    assert!(files.files.iter().all(|(_, f)| f.packs.len() == 1), "a file holds at most one pack here");
    let superseding: Vec<_> = files.files.iter().filter(|(_, f)| !f.supersedes.is_empty()).collect();
    assert_eq!(superseding.len(), 1, "exactly one file names the superseded ones");
    let named: Vec<String> = superseding[0].1.supersedes.iter().map(|id| FileType::Index.name(id)).collect();
    for o in &old {
        assert!(named.iter().any(|n| o.ends_with(n.rsplit('/').next().unwrap())), "{o} superseded");
    }
    assert_intact(mem, &expected, "after a rewrite in several files");
}

/// A change that silently does not happen (a rename lost to a power failure without the
/// directory fsync) is not hidden: `check --read-data` names what is missing.
#[test]
fn a_lost_pack_write_is_reported_by_check() {
    let (base, _) = prepared();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("src");
    write_tree(&dir, &[("lost".to_string(), bytes(7, 300_000))].into());
    // Change 0 is the writer marker, 1 its replacement, 2 the removal of the first, 3 the
    // session file (format v4), 4 the first pack.
    for (change, named) in [(4, "missing from storage"), (3, "which has no session file")] {
        let mem = copy_of(&base);
        let faulty = Arc::new(FaultyBackend::new(mem.clone(), Fault::LoseAt(change)));
        run_backup(&open(faulty), &dir).unwrap();
        let report = crate::ops::check::check(&open(mem), &crate::ops::check::CheckOptions::default()).unwrap();
        assert!(report.errors.iter().any(|e| e.contains(named)), "change {change}: {:?}", report.errors);
    }
}
