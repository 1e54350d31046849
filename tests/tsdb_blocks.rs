//! Block-aware snapshots against REAL TSDB blocks written by Prometheus' own code
//! (`promtool tsdb create-blocks-from openmetrics`), laid out like a Mimir bucket with
//! replicas, partial, corrupted and deletion-marked blocks, markers and bucket index.
//! Restores are checked with `promtool tsdb list` and `promtool tsdb analyze`.

use crate::common::tsdb::*;
use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[test]
fn snapshot_holds_exactly_the_complete_blocks_and_promtool_reads_the_restore() {
    let env = Env::new();
    let b = bucket();
    let expected = complete_blocks(b);
    assert!(expected.values().all(|s| s.len() >= 6), "generator made too few blocks: {expected:?}");

    // Corrupted blocks make the backup exit 3 (configurable) but the snapshot is written.
    let (code, out, err) = env.run(&["backup", "--json", b.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("corrupted block left out"), "{err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["excluded_partial"], 2);
    assert_eq!(r["excluded_corrupted"], 2);
    assert_eq!(r["excluded_deletion_marked"], 2);
    // Allowed, they are warnings: exit 0 and no "error:" line.
    let (code, _, err) = env.run(&["backup", "--allow-corrupted", b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: corrupted block left out") && !err.contains("error:"), "{err}");

    let blocks: serde_json::Value = serde_json::from_str(&env.ok(&["blocks", "latest", "--json"])).unwrap();
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for bl in blocks["blocks"].as_array().unwrap() {
        assert!(bl["max_time"].as_i64() > bl["min_time"].as_i64());
        assert_eq!(bl["level"], 1);
        got.entry(bl["tenant"].as_str().unwrap().into()).or_default().insert(bl["ulid"].as_str().unwrap().into());
    }
    assert_eq!(got, expected);
    let reasons: BTreeSet<String> =
        blocks["excluded"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons, ["corrupted", "deletion-marked", "partial"].map(String::from).into());

    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    for (tenant, ulids) in &expected {
        let dir = target.join("mimir").join(tenant);
        assert_eq!(&promtool_list(&dir), ulids, "promtool lists exactly the complete blocks of {tenant}");
        let a = Command::new("promtool").args(["tsdb", "analyze"]).arg(&dir).output().unwrap();
        assert!(a.status.success(), "promtool tsdb analyze: {}", String::from_utf8_lossy(&a.stderr));
        assert!(!dir.join("markers").exists() && !dir.join("bucket-index.json.gz").exists());
        for u in ulids {
            for f in ["meta.json", "index", "chunks/000001"] {
                assert_eq!(fs::read(dir.join(u).join(f)).unwrap(), fs::read(b.join(tenant).join(u).join(f)).unwrap());
            }
        }
    }
    // `snapshots` reports the time range per tenant.
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let tenants = snaps[0]["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert!(tenants.iter().all(|t| t["max_time"].as_i64().unwrap() - t["min_time"].as_i64().unwrap() > 3 * 3_600_000));
}

#[test]
fn partial_restores_by_tenant_block_and_time() {
    let env = Env::new();
    let b = bucket();
    env.run(&["backup", b.to_str().unwrap()]);
    let blocks: serde_json::Value = serde_json::from_str(&env.ok(&["blocks", "latest", "--json"])).unwrap();
    let all = blocks["blocks"].as_array().unwrap();

    let t1 = env.path("t1");
    env.ok(&["restore", "latest", "--target", t1.to_str().unwrap(), "--tenant", "team-a"]);
    assert!(t1.join("mimir/team-a").is_dir() && !t1.join("mimir/anonymous").exists());

    let one = all[0]["ulid"].as_str().unwrap();
    let t2 = env.path("t2");
    env.ok(&["restore", "latest", "--target", t2.to_str().unwrap(), "--block", one]);
    assert_eq!(fs::read_dir(t2.join("mimir").join(all[0]["tenant"].as_str().unwrap())).unwrap().count(), 1);

    // --from/--to: exactly the blocks whose [min_time, max_time) overlaps.
    let min = all.iter().map(|b| b["min_time"].as_i64().unwrap()).min().unwrap();
    let (from, to) = (min + 2 * 3_600_000 + 60_000, min + 2 * 3_600_000 + 120_000);
    let want: BTreeSet<String> = all
        .iter()
        .filter(|b| b["max_time"].as_i64().unwrap() > from && b["min_time"].as_i64().unwrap() < to)
        .map(|b| b["ulid"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty() && want.len() < all.len());
    let t3 = env.path("t3");
    env.ok(&[
        "restore",
        "latest",
        "--target",
        t3.to_str().unwrap(),
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
    ]);
    let mut got = BTreeSet::new();
    for t in fs::read_dir(t3.join("mimir")).unwrap() {
        for bl in fs::read_dir(t.unwrap().path()).unwrap() {
            got.insert(bl.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert_eq!(got, want);
}

/// The order of writes, observed by the kernel (inotify), not by cellar: every block's
/// `meta.json` appears only after every other file of the block was last written.
#[test]
fn meta_json_appears_after_every_other_file_of_its_block() {
    let env = Env::new();
    let b = bucket();
    env.run(&["backup", b.to_str().unwrap()]);
    let target = env.path("restored");
    // First restore creates the directories, so the watcher sees every file event later.
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    for f in &files_under(&target) {
        fs::remove_file(f).unwrap();
    }
    let mut watcher = Command::new("inotifywait")
        .args(["-m", "-r", "-e", "close_write,moved_to", "--format", "%e %w%f"])
        .arg(&target)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // inotifywait announces on stderr when its watches are in place.
    let mut stderr = std::io::BufReader::new(watcher.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "inotifywait exited");
        if line.contains("Watches established") {
            break;
        }
    }
    let mut stdout = std::io::BufReader::new(watcher.stdout.take().unwrap());
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    // A final probe marks the end of the restore's events.
    fs::write(target.join("end-probe"), b"x").unwrap();
    let mut events = vec![];
    loop {
        line.clear();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        if line.contains("end-probe") {
            break;
        }
        events.push(line.trim().to_string());
    }
    watcher.kill().unwrap();
    watcher.wait().unwrap();

    let mut checked = 0;
    for (i, ev) in events.iter().enumerate() {
        let Some(p) = ev.strip_prefix("MOVED_TO ").filter(|p| p.ends_with("/meta.json")) else { continue };
        let block = &p[..p.len() - "meta.json".len()];
        let last_other =
            events.iter().rposition(|e| e.starts_with("CLOSE_WRITE") && e.contains(block) && !e.contains("meta.json"));
        assert!(last_other.is_some_and(|j| j < i), "{p}: other files of the block were written after meta.json");
        checked += 1;
    }
    assert!(
        !events.iter().any(|e| e.starts_with("CLOSE_WRITE") && e.ends_with("/meta.json")),
        "meta.json written in place"
    );
    assert_eq!(checked, complete_blocks(b).values().map(std::collections::BTreeSet::len).sum::<usize>());
}

static VICTIM: OnceLock<PathBuf> = OnceLock::new();

/// The compactor deletes a block while the backup reads it: the block is dropped whole,
/// with a notice, and the snapshot stays consistent.
#[test]
fn a_block_deleted_while_being_read_is_left_out_whole() {
    let src = tempfile::tempdir().unwrap();
    let copy = src.path().join("mimir");
    assert!(Command::new("cp").arg("-a").arg(bucket()).arg(&copy).status().unwrap().success());
    let victim_tenant = copy.join("anonymous");
    let victim = complete_blocks(&copy)["anonymous"].iter().next().unwrap().clone();
    VICTIM.set(victim_tenant.join(&victim)).unwrap();
    fn delete_victim(opening: &Path) {
        let v = VICTIM.get().unwrap();
        // Delete it when its chunk file is about to be read: index/meta.json may be done.
        if opening.starts_with(v) && opening.ends_with("chunks/000001") {
            fs::remove_dir_all(v).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = lib_repo(dir.path());
    let opts =
        cellar::ops::backup::BackupOptions { sources: vec![hooked_source(&copy, delete_victim)], ..Default::default() };
    let r = cellar::ops::backup::backup(repo.clone(), opts).unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.notices.iter().any(|n| n.contains(&victim)), "{:?}", r.notices);

    let (_, snap) = repo.resolve_snapshot("latest").unwrap();
    let blocks = cellar::vfs::blocks(&repo, &snap).unwrap();
    assert!(!blocks.iter().any(|b| b.ulid == victim));
    assert_eq!(blocks.len(), complete_blocks(&copy).values().map(std::collections::BTreeSet::len).sum::<usize>());
    // Nothing of the block is in the snapshot, not even the files read before deletion.
    assert!(cellar::vfs::lookup(&repo, &snap, &format!("mimir/anonymous/{victim}")).is_err());
    let out = tempfile::tempdir().unwrap();
    cellar::ops::restore::restore(&repo, &snap, &cellar::ops::restore::RestoreOptions::new(out.path())).unwrap();
    assert_eq!(promtool_list(&out.path().join("mimir/anonymous")), complete_blocks(&copy)["anonymous"]);
}
