//! Retention: forget by policy, prune safely (two-phase deletion with a grace period), and
//! no exclusive locks: backups and prune run at the same time.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn write_source(dir: &Path, seed: u64, files: usize, size: usize) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..files {
        fs::write(dir.join(format!("f{i}")), pseudo_random(size, seed * 1000 + i as u64)).unwrap();
    }
}

#[test]
fn forget_and_prune_free_exactly_what_the_forgotten_snapshot_alone_held() {
    let env = Env::new();
    let (a, b) = (env.path("a"), env.path("b"));
    write_source(&a, 1, 3, 1 << 20);
    write_source(&b, 2, 3, 1 << 20);
    let snap_a = env.backup(&[a.to_str().unwrap()]);
    env.backup(&[b.to_str().unwrap()]);
    let before = env.stats()["stored_bytes"].as_u64().unwrap();

    env.ok(&["forget", snap_a["snapshot_id"].as_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_str(&env.ok(&["prune", "--grace", "0s", "--json"])).unwrap();
    assert!(r["packs_deleted"].as_u64().unwrap() >= 1, "{r}");
    let after = env.stats()["stored_bytes"].as_u64().unwrap();
    let added_a = snap_a["bytes_added"].as_u64().unwrap();
    let freed = before - after;
    // Everything A added (its packs, index entries, snapshot) is gone, give or take the
    // index being rewritten as one file.
    assert!(freed.abs_diff(added_a) < 2048, "freed {freed}, snapshot A had added {added_a}");
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&b, &out.join("b"));
}

/// Snapshots record the repository's size when they were written, so the growth of a
/// repository under a retention policy can be charted from the snapshots it kept.
#[test]
fn snapshots_record_the_repository_size_through_forget_and_prune() {
    let env = Env::new();
    let src = env.path("s");
    write_source(&src, 7, 2, 1 << 20);
    let sizes = || -> Vec<u64> {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
        v.as_array().unwrap().iter().map(|s| s["summary"]["repository_bytes"].as_u64().unwrap()).collect()
    };
    let first = env.backup(&[src.to_str().unwrap()]);
    let r1 = sizes()[0];
    assert!(r1 >= 2 << 20 && r1 <= first["bytes_added"].as_u64().unwrap(), "{r1} vs {first}");

    fs::write(src.join("extra"), pseudo_random(1 << 20, 99)).unwrap();
    let second = env.backup(&[src.to_str().unwrap()]);
    let r2 = sizes()[1];
    assert!(r2 >= r1 + (1 << 20) && r2 <= r1 + second["bytes_added"].as_u64().unwrap(), "{r1} → {r2}");

    // The extra file goes; once the snapshot holding it is forgotten and pruned, the next
    // snapshot records a repository a megabyte smaller.
    fs::remove_file(src.join("extra")).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    let id = {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
        v[1]["id"].as_str().unwrap().to_string()
    };
    env.ok(&["forget", &id]);
    env.ok(&["prune", "--grace", "0s"]);
    env.backup(&[src.to_str().unwrap(), "--force"]);
    let after = sizes();
    assert_eq!(after.len(), 3);
    assert!(after[2] + (1 << 20) <= after[1] && after[2] >= r1, "{after:?}");

    let report: serde_json::Value = serde_json::from_str(&env.ok(&["report", "--json"])).unwrap();
    let charted: Vec<u64> =
        report["snapshots"].as_array().unwrap().iter().map(|s| s["repository_bytes"].as_u64().unwrap()).collect();
    assert_eq!(charted, after);
    let html = env.path("r.html");
    env.ok(&["report", "--html", html.to_str().unwrap()]);
    let html = fs::read_to_string(&html).unwrap();
    let held = f64::from(2u32 << 20);
    let ratio = after[2] as f64 / held;
    assert!(html.contains(&format!(">{ratio:.2}× of what is held<")), "the newest size against what is held");
}

#[test]
fn candidates_wait_for_the_grace_period_and_repacking_keeps_live_data() {
    let env = Env::with_init_args(&["--pack-size", "1M"]);
    let src = env.path("s");
    write_source(&src, 3, 8, 600 << 10);
    env.backup(&[src.to_str().unwrap()]);
    // Replace most files: the first snapshot's packs become mostly unused.
    write_source(&src, 4, 6, 600 << 10);
    env.backup(&[src.to_str().unwrap()]);
    env.ok(&["forget", "--keep-last", "1"]);

    let stored = env.stats()["stored_bytes"].as_u64().unwrap();
    let r: serde_json::Value = serde_json::from_str(&env.ok(&["prune", "--json"])).unwrap();
    assert!(r["packs_marked"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["packs_deleted"], 0, "default grace period must delay deletion: {r}");
    assert!(env.stats()["stored_bytes"].as_u64().unwrap() >= stored, "nothing may be deleted yet");
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);

    let r: serde_json::Value = serde_json::from_str(&env.ok(&["prune", "--grace", "0s", "--json"])).unwrap();
    assert!(r["packs_deleted"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["packs_waiting"], 0);
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("s"));
    // Unused space is now within --max-unused (5%).
    let s = env.stats();
    assert!(s["pack_bytes"].as_u64().unwrap() < (s["unique_bytes"].as_u64().unwrap() as f64 * 1.10) as u64, "{s}");
}

#[test]
fn dry_runs_change_nothing() {
    let env = Env::new();
    let src = env.path("s");
    write_source(&src, 5, 2, 100_000);
    env.backup(&[src.to_str().unwrap()]);
    write_source(&src, 6, 2, 100_000);
    env.backup(&[src.to_str().unwrap()]);
    let listing = |p: &Path| {
        let mut v: Vec<_> = files_under(p);
        v.sort();
        v
    };
    let before = listing(&env.repo);
    let out = env.ok(&["forget", "--keep-last", "1", "--dry-run"]);
    assert!(out.contains("would remove"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&env.ok(&["prune", "--dry-run", "--grace", "0s", "--json"])).unwrap();
    assert_eq!(r["packs_marked"], 0, "nothing is unused while both snapshots exist: {r}");
    assert_eq!(listing(&env.repo), before);
}

static REPO_DIR: OnceLock<PathBuf> = OnceLock::new();

/// A backup that loaded the index before prune marked a pack, and then reused a blob of
/// it, keeps that pack alive: prune defers deletion while the backup runs (even with no
/// grace period), and revives the pack once the backup's snapshot needs it.
#[test]
fn a_backup_that_reuses_a_candidate_pack_revives_it() {
    let dir = tempfile::tempdir().unwrap();
    REPO_DIR.set(dir.path().to_path_buf()).unwrap();
    let repo = lib_repo(dir.path());
    let src = tempfile::tempdir().unwrap();
    let s = src.path().join("s");
    write_source(&s, 7, 2, 300_000);
    let opts = |hook: Option<fn(&Path)>| cellar::ops::backup::BackupOptions {
        sources: vec![match hook {
            Some(h) => hooked_source(&s, h),
            None => local_source(&s),
        }],
        force: true,
        ..Default::default()
    };
    cellar::ops::backup::backup(repo.clone(), opts(None)).unwrap();
    // Forget it: its packs are unused now.
    let (id, _) = repo.resolve_snapshot("latest").unwrap();
    repo.backend().remove(&format!("snapshots/{id}")).unwrap();

    fn mark_while_backup_runs(_: &Path) {
        static DONE: OnceLock<()> = OnceLock::new();
        DONE.get_or_init(|| {
            let other = cellar::repo::Repository::open(
                std::sync::Arc::new(cellar::repo::LocalBackend::new(REPO_DIR.get().unwrap())),
                PASSWORD.as_bytes(),
            )
            .unwrap();
            // No grace period at all: only the running backup's marker protects the pack.
            let opts = cellar::ops::prune::PruneOptions { grace: time::Duration::ZERO, ..Default::default() };
            let r = cellar::ops::prune::prune(&other, &opts).unwrap();
            assert!(r.packs_marked >= 1, "{r:?}");
            assert_eq!(r.packs_deleted, 0, "deleted a pack a running backup may use: {r:?}");
            assert!(r.packs_waiting_for_backups >= 1, "{r:?}");
        });
    }
    // The backup has loaded the index (pack not yet doomed) when prune marks it; it
    // deduplicates the same content against the marked pack.
    let r = cellar::ops::backup::backup(repo.clone(), opts(Some(mark_while_backup_runs))).unwrap();
    assert_eq!(r.blobs_new, 0, "the backup reused the (now candidate) data");

    let r = cellar::ops::prune::prune(
        &repo,
        &cellar::ops::prune::PruneOptions { grace: time::Duration::ZERO, ..Default::default() },
    )
    .unwrap();
    assert!(r.packs_revived >= 1, "{r:?}");
    let report = cellar::ops::check::check(&repo, &cellar::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let (_, snap) = repo.resolve_snapshot("latest").unwrap();
    let out = tempfile::tempdir().unwrap();
    cellar::ops::restore::restore(&repo, &snap, &cellar::ops::restore::RestoreOptions::new(out.path())).unwrap();
    assert_same_tree(&s, &out.path().join("s"));
}

/// Four backup processes of different data and a prune run at the same time, repeatedly,
/// with no lock. Afterwards the repository checks clean and every snapshot restores.
#[test]
fn concurrent_backups_and_prune_keep_every_snapshot_restorable() {
    let env = Env::new();
    let sources: Vec<PathBuf> = (0..4).map(|i| env.path(&format!("src{i}"))).collect();
    let mut expected: Vec<(String, usize, u64)> = vec![]; // (snapshot id, source, seed)
    let mut deleted_any = false;
    for round in 0..6u64 {
        for (i, s) in sources.iter().enumerate() {
            let _ = fs::remove_dir_all(s);
            // Half the files stay, half change each round: dedup and garbage both happen.
            write_source(s, i as u64 * 100, 3, 200_000);
            write_source(&s.join("changing"), i as u64 * 100 + round + 1, 3, 200_000);
        }
        let backups: Vec<_> =
            sources.iter().map(|s| env.spawn(&["backup", "--json", "--force", s.to_str().unwrap()])).collect();
        // No grace period: deletions really race the backups; only the protocol protects them.
        let prune = env.spawn(&["forget", "--keep-last", "1", "--prune", "--grace", "0s", "--json"]);
        for (i, b) in backups.into_iter().enumerate() {
            let out = b.wait_with_output().unwrap();
            assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
            let r: serde_json::Value =
                serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
            expected.push((r["snapshot_id"].as_str().unwrap().to_string(), i, round));
        }
        let out = prune.wait_with_output().unwrap();
        assert!(out.status.success(), "forget --prune: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        deleted_any |= r["packs_deleted"].as_u64().unwrap() > 0;
    }
    let (code, _, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{err}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let present: Vec<String> =
        snaps.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    assert!(present.len() >= 4, "forget keeps the newest per source: {present:?}");
    for (id, i, round) in expected.iter().filter(|(id, _, _)| present.contains(id)) {
        let out = env.path(&format!("out-{id}"));
        env.ok(&["restore", id, "--target", out.to_str().unwrap()]);
        let want = env.path("want");
        let _ = fs::remove_dir_all(&want);
        write_source(&want, *i as u64 * 100, 3, 200_000);
        write_source(&want.join("changing"), *i as u64 * 100 + round + 1, 3, 200_000);
        let got = out.join(format!("src{i}"));
        for f in files_under(&want) {
            let rel = f.strip_prefix(&want).unwrap();
            assert_eq!(fs::read(got.join(rel)).unwrap(), fs::read(&f).unwrap(), "snapshot {id}: {}", rel.display());
        }
    }
    assert!(deleted_any, "the test must exercise deletion while backups run");
    // Once backups have stopped, a prune with no grace reclaims everything unused.
    env.ok(&["prune", "--grace", "0s"]);
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
}

#[test]
fn config_file_policies_apply_per_source_and_uncovered_snapshots_stay() {
    let env = Env::new();
    for name in ["mimir", "backup", "other"] {
        let d = env.path(name);
        for day in 0..3 {
            write_source(&d, day, 1, 1000);
            env.backup(&[d.to_str().unwrap()]);
        }
    }
    let cfg = env.path("cellar.toml");
    fs::write(&cfg, "[policy.mimir]\nkeep-last = 1\n\n[policy.backup]\nkeep-last = 2\n").unwrap();
    let out: serde_json::Value =
        serde_json::from_str(&env.ok(&["forget", "--config", cfg.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(out["removed"], 3, "{out}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let count = |name: &str| {
        snaps.as_array().unwrap().iter().filter(|s| s["sources"][0].as_str().unwrap().ends_with(name)).count()
    };
    assert_eq!((count("/mimir"), count("/backup"), count("/other")), (1, 2, 3));
    // A typo in the config is an error, not a silent "keep everything".
    fs::write(&cfg, "[policy.mimir]\nkeep-lsat = 1\n").unwrap();
    assert_eq!(env.run(&["forget", "--config", cfg.to_str().unwrap()]).0, 1);
}

#[test]
fn leftovers_of_crashed_writers_are_cleaned_up() {
    let env = Env::new();
    let src = env.path("s");
    write_source(&src, 9, 2, 50_000);
    env.backup(&[src.to_str().unwrap()]);
    // A pack a crashed backup wrote but never indexed, and a torn temporary file.
    let junk = b"pack bytes of a backup that crashed before writing its index".to_vec();
    let id = blake3::hash(&junk).to_hex().to_string();
    let orphan = env.repo.join("data").join(&id[..2]).join(&id);
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::write(&orphan, &junk).unwrap();
    let tmp = env.repo.join("index/.tmp-0123456789abcdef");
    fs::write(&tmp, b"torn").unwrap();
    let old = filetime::FileTime::from_unix_time(1_600_000_000, 0);
    filetime::set_file_mtime(&tmp, old).unwrap();
    // A marker of a backup that crashed days ago must not block deletion forever.
    let repo = cellar::repo::Repository::open(
        std::sync::Arc::new(cellar::repo::LocalBackend::new(&env.repo)),
        PASSWORD.as_bytes(),
    )
    .unwrap();
    let stale = cellar::repo::file::writer::WriterRecord {
        version: 1,
        started: "2020-01-01T00:00:00Z".into(),
        host: "gone".into(),
        pid: 1,
        seen_deletions: None,
        heartbeat: None,
    };
    repo.save_file(&stale).unwrap();

    let (code, _, err) = env.run(&["check"]);
    assert_eq!(code, 0, "an unindexed pack is a warning, not an error: {err}");
    assert!(err.contains("not in any index"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&env.ok(&["prune", "--grace", "0s", "--json"])).unwrap();
    assert_eq!(r["packs_deleted"], 1, "{r}");
    assert_eq!(r["temporaries_removed"], 1, "{r}");
    assert!(!orphan.exists() && !tmp.exists());
    assert!(fs::read_dir(env.repo.join("writers")).unwrap().next().is_none(), "stale marker removed");
    let (code, _, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
}
