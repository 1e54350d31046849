//! Scale-out: N workers back up shares of one bucket at the same time (`--shard I/N`);
//! their snapshots form one logical snapshot for snapshots, restore and forget.

use crate::common::tsdb::*;
use crate::common::*;
use std::collections::BTreeSet;

fn shard_backups(env: &Env, group: &str, shards: &[u32]) -> Vec<serde_json::Value> {
    let b = bucket().to_str().unwrap();
    let procs: Vec<_> = shards
        .iter()
        .map(|i| {
            env.spawn(&[
                "backup",
                "--json",
                "--allow-corrupted",
                b,
                "--shard",
                &format!("{i}/3"),
                "--shard-group",
                group,
            ])
        })
        .collect();
    procs
        .into_iter()
        .map(|p| {
            let out = p.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn shards_split_blocks_whole_and_restore_as_one_snapshot() {
    let env = Env::new();
    let reports = shard_backups(&env, "day1", &[0, 1, 2]);
    let expected = complete_blocks(bucket());
    let total: usize = expected.values().map(std::collections::BTreeSet::len).sum();
    // Every complete block is in exactly one shard.
    let per_shard: Vec<u64> = reports.iter().map(|r| r["blocks"].as_u64().unwrap()).collect();
    assert_eq!(per_shard.iter().sum::<u64>() as usize, total, "{per_shard:?}");
    assert!(per_shard.iter().all(|&n| n > 0), "a stable hash spreads blocks: {per_shard:?}");
    let mut seen = BTreeSet::new();
    for r in &reports {
        let blocks: serde_json::Value =
            serde_json::from_str(&env.ok(&["blocks", r["snapshot_id"].as_str().unwrap(), "--json"])).unwrap();
        for b in blocks["blocks"].as_array().unwrap() {
            assert!(seen.insert(b["ulid"].as_str().unwrap().to_string()), "block in two shards");
        }
    }
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert!(snaps.as_array().unwrap().iter().all(|s| s["shard_group_complete"] == true));

    // Restoring any shard restores the whole logical snapshot.
    let target = env.path("restored");
    env.ok(&["restore", reports[1]["snapshot_id"].as_str().unwrap(), "--target", target.to_str().unwrap()]);
    for (tenant, ulids) in &expected {
        assert_eq!(&promtool_list(&target.join("mimir").join(tenant)), ulids);
    }
    // A second run of shard 0 has shard 0 of the previous run as parent: nothing re-read.
    let again = shard_backups(&env, "day2", &[0]);
    assert_eq!(again[0]["parent"], reports[0]["snapshot_id"]);
    assert_eq!(again[0]["bytes_read"], 0);
}

#[test]
fn incomplete_groups_are_shown_kept_and_not_restored_as_a_whole() {
    let env = Env::new();
    let day1 = shard_backups(&env, "day1", &[0, 1, 2]);
    let day2 = shard_backups(&env, "day2", &[0, 2]);
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let incomplete: Vec<_> = snaps.as_array().unwrap().iter().filter(|s| s["shard_group_complete"] == false).collect();
    assert_eq!(incomplete.len(), 2);
    assert!(env.ok(&["snapshots"]).contains("group INCOMPLETE"));

    let target = env.path("t");
    let (code, _, err) =
        env.run(&["restore", day2[0]["snapshot_id"].as_str().unwrap(), "--target", target.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("incomplete"), "{err}");
    env.ok(&[
        "restore",
        day2[0]["snapshot_id"].as_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--this-shard-only",
    ]);

    // forget --keep-last 1 keeps the newest complete group whole and never forgets part of
    // an incomplete one; day1 is the only complete group, so everything stays.
    let out: serde_json::Value = serde_json::from_str(&env.ok(&["forget", "--keep-last", "1", "--json"])).unwrap();
    assert_eq!(out["removed"], 0, "{out}");
    // A complete day3 makes day1 go, as a whole.
    let day3 = shard_backups(&env, "day3", &[0, 1, 2]);
    let out: serde_json::Value = serde_json::from_str(&env.ok(&["forget", "--keep-last", "1", "--json"])).unwrap();
    assert_eq!(out["removed"], 3, "{out}");
    let left: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let left: BTreeSet<String> =
        left.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    for r in day1 {
        assert!(!left.contains(r["snapshot_id"].as_str().unwrap()));
    }
    for r in day2.iter().chain(day3.iter()) {
        assert!(left.contains(r["snapshot_id"].as_str().unwrap()));
    }
}

/// A shard whose block list is damaged fails a restore by block; it used to be skipped as
/// "no block here", and the restore exited 0.
#[test]
fn a_damaged_shard_fails_a_restore_by_block_instead_of_being_skipped() {
    let env = Env::new();
    let reports = shard_backups(&env, "day1", &[0, 1, 2]);
    let id = |i: usize| reports[i]["snapshot_id"].as_str().unwrap().to_string();
    let blocks: serde_json::Value = serde_json::from_str(&env.ok(&["blocks", &id(0), "--json"])).unwrap();
    let ulid = blocks["blocks"][0]["ulid"].as_str().unwrap().to_string();
    let target = env.path("restored");
    env.ok(&["restore", &id(0), "--target", target.to_str().unwrap(), "--block", &ulid]);

    let repo = open_lib(&env.repo);
    let (_, other) = repo.resolve_snapshot(&id(1)).unwrap();
    damage_blob(&env.repo, &repo, &other.tenants[0].list);
    let target = env.path("restored-again");
    let (code, _, err) = env.run(&["restore", &id(0), "--target", target.to_str().unwrap(), "--block", &ulid]);
    assert_eq!(code, 1, "a damaged shard must not be skipped silently: {err}");
    assert!(err.contains("block list"), "{err}");
}
