//! Replica- and compaction-aware storage of TSDB blocks, against REAL blocks: ingester
//! replicas written by promtool and merged by the real Prometheus compactor. Checks that
//! record-aware chunking shares chunk records between replicas and compacted blocks, that
//! damaged segment files still round-trip, and that `forget --thin-compacted` replaces only
//! covered blocks and leaves every snapshot readable by promtool.

use crate::common::tsdb::*;
use crate::common::*;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

/// Unique chunk records across all segment files, by an independent parser.
fn unique_record_bytes(bucket: &Path) -> (u64, u64) {
    let mut seen = HashSet::new();
    let (mut total, mut unique) = (0u64, 0u64);
    for f in files_under(bucket) {
        if f.parent().unwrap().file_name().unwrap() != "chunks" {
            continue;
        }
        let b = fs::read(&f).unwrap();
        assert_eq!(&b[..4], &[0x85, 0xBD, 0x40, 0xDD], "{} is a segment file", f.display());
        let mut i = 8;
        while i < b.len() {
            let (mut len, mut shift, start) = (0usize, 0, i);
            loop {
                let c = b[i];
                i += 1;
                len |= ((c & 0x7f) as usize) << shift;
                shift += 7;
                if c < 0x80 {
                    break;
                }
            }
            i += 1 + len + 4;
            total += (i - start) as u64;
            if seen.insert(b[start..i].to_vec()) {
                unique += (i - start) as u64;
            }
        }
    }
    (total, unique)
}

fn other_bytes(bucket: &Path) -> u64 {
    files_under(bucket)
        .iter()
        .filter(|f| f.parent().unwrap().file_name().unwrap() != "chunks")
        .map(|f| fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn replicas_and_compacted_blocks_share_stored_records() {
    let b = compacted_bucket();
    let tenant = b.join("anonymous");
    let m = metas(&tenant);
    assert!(m.iter().any(|(_, m)| m.level == 2 && m.sources.len() == 6), "the compactor merged six replicas");
    let (records, unique) = unique_record_bytes(b);
    assert!(records > 2 * unique, "replicas repeat records: {records} vs {unique} unique");

    let generic = Env::with_init_args(&["--no-tsdb-records"]);
    generic.backup(&[b.to_str().unwrap()]);
    let aware = Env::new();
    let summary = aware.backup(&[b.to_str().unwrap()]);
    let whole = Env::with_init_args(&["--no-deltas"]);
    whole.backup(&[b.to_str().unwrap()]);
    let stored = |e: &Env| e.stats()["stored_bytes"].as_u64().unwrap();
    let (g, a, w) = (stored(&generic), stored(&aware), stored(&whole));
    // Replicas that missed a sample hold groups differing from the merged block's in one
    // record: those are stored as deltas of the group stored first.
    let deltas = summary["deltas_new"].as_u64().unwrap();
    assert!(deltas > 0 && a < w, "record groups as deltas: {deltas} deltas, {a} bytes vs {w} without deltas");
    // Floor: each unique record once, plus the index files and meta.json raw (cellar
    // compresses those, which more than pays for its per-group metadata on this data).
    let floor = unique + other_bytes(b);
    println!("records {records}, unique {unique}, floor {floor}; stored: generic {g}, record-aware {a}, no deltas {w}");
    assert!(a * 3 < g * 2, "record-aware chunking stores much less: {a} vs {g}");
    assert!(a < floor * 3 / 2, "record-aware storage {a} within 1.5x of the floor {floor}");

    let target = aware.path("restored");
    aware.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(b, &target.join("mimir"));
    let listed = promtool_list(&target.join("mimir/anonymous"));
    assert_eq!(listed, m.iter().map(|(_, m)| m.ulid.clone()).collect::<BTreeSet<_>>());
}

#[test]
fn damaged_segment_files_round_trip_and_keep_their_good_records_shared() {
    let b = compacted_bucket();
    let env = Env::new();
    let src = env.path("bucket");
    copy_dir(b, &src);
    env.backup(&["--layout", "files", src.to_str().unwrap()]);

    // Damage three segment files: a flipped byte mid-file (CRC mismatch), a truncation in
    // the middle of a record, and garbage appended after the last record.
    let segs: Vec<_> = files_under(&src).into_iter().filter(|f| f.ends_with("chunks/000001")).take(3).collect();
    let mut damaged_bytes = 0;
    for (i, f) in segs.iter().enumerate() {
        let mut data = fs::read(f).unwrap();
        match i {
            0 => {
                let mid = data.len() / 2;
                data[mid] ^= 0x5a;
            }
            1 => data.truncate(data.len() * 2 / 3 + 1),
            _ => data.extend_from_slice(&pseudo_random(5000, 9)),
        }
        damaged_bytes += data.len() as u64;
        fs::write(f, data).unwrap();
    }
    let r = env.backup(&["--layout", "files", src.to_str().unwrap()]);
    let added = r["bytes_added"].as_u64().unwrap();
    // The records before the damage are still cut as records and deduplicate.
    assert!(added < damaged_bytes * 3 / 4, "only the damaged parts are new: added {added} of {damaged_bytes}");

    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &target.join("bucket"));
}

/// Blocks of a snapshot as `(ulid, level, min_time, max_time)`.
fn snapshot_blocks(env: &Env, snap: &str) -> BTreeSet<(String, u64, i64, i64)> {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["blocks", snap, "--json"])).unwrap();
    v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["ulid"].as_str().unwrap().to_string(),
                b["level"].as_u64().unwrap(),
                b["min_time"].as_i64().unwrap(),
                b["max_time"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn thinning_replaces_covered_blocks_only_and_prune_reclaims_the_replicas() {
    let b = compacted_bucket().join("anonymous");
    let all = metas(&b);
    let raw: Vec<_> = all.iter().filter(|(_, m)| m.level == 1).collect();
    let mut merged: Vec<_> = all.iter().filter(|(_, m)| m.level > 1).collect();
    merged.sort_by_key(|(_, m)| m.min_time);
    assert!(merged.len() >= 3 && raw.len() >= 12);
    // The compactor's newest merged block is withheld: its range stays uncompacted.
    let (withheld, used) = merged.split_last().unwrap();
    let covered: BTreeSet<&str> = used.iter().flat_map(|(_, m)| m.sources.iter().map(String::as_str)).collect();

    let env = Env::new();
    let live = env.path("mimir");
    let tenant = live.join("anonymous");
    // Day 1: only the ingesters' replicas.
    for (p, _) in &raw {
        copy_dir(p, &tenant.join(p.file_name().unwrap()));
    }
    env.backup(&[live.to_str().unwrap()]);
    let day1 = snapshot_blocks(&env, "latest");
    // Day 2: the compactor merged all ranges but the newest and deleted their replicas.
    for (p, m) in &raw {
        if covered.contains(m.ulid.as_str()) {
            fs::remove_dir_all(tenant.join(p.file_name().unwrap())).unwrap();
        }
    }
    for (p, _) in used {
        copy_dir(p, &tenant.join(p.file_name().unwrap()));
    }
    env.backup(&[live.to_str().unwrap()]);
    let day2 = snapshot_blocks(&env, "latest");
    let before = env.stats()["stored_bytes"].as_u64().unwrap();

    // A dry run changes nothing; a policy in the config file thins like the option does,
    // and a snapshot younger than the policy's age is left alone.
    let out = env.ok(&["forget", "--thin-compacted", "--dry-run"]);
    assert!(out.contains("would be rewritten"), "{out}");
    let cfg = env.path("cellar.toml");
    fs::write(&cfg, "[policy.mimir]\nthin-compacted = \"0s\"\n").unwrap();
    let out = env.ok(&["--config", cfg.to_str().unwrap(), "forget", "--dry-run"]);
    assert!(out.contains("1 snapshot would be thinned"), "{out}");
    fs::write(&cfg, "[policy.mimir]\nthin-compacted = \"30d\"\n").unwrap();
    let out = env.ok(&["--config", cfg.to_str().unwrap(), "forget", "--dry-run"]);
    assert!(out.contains("0 snapshots would be thinned"), "{out}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert!(snaps.as_array().unwrap().iter().all(|s| s["thinned"].is_null()));

    let out: serde_json::Value = serde_json::from_str(&env.ok(&["--json", "forget", "--thin-compacted"])).unwrap();
    let rewritten = out["thin"]["rewritten"].as_array().unwrap();
    assert_eq!(rewritten.len(), 1, "only day 1 has covered blocks: {out}");
    assert_eq!(out["thin"]["unchanged"], 1);

    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let snaps = snaps.as_array().unwrap();
    assert_eq!(snaps.len(), 2);
    let thinned = snaps.iter().find(|s| !s["thinned"].is_null()).expect("a thinned snapshot");
    let id = thinned["id"].as_str().unwrap();
    let after = snapshot_blocks(&env, id);
    // Exactly: the uncovered replicas stay, the covered ones become their merged blocks.
    let expected: BTreeSet<_> = day1
        .iter()
        .filter(|b| !covered.contains(b.0.as_str()))
        .cloned()
        .chain(used.iter().map(|(_, m)| (m.ulid.clone(), m.level, m.min_time, m.max_time)))
        .collect();
    assert_eq!(after, expected);
    assert!(after.iter().all(|b| b.0 != withheld.1.ulid));
    assert_eq!(thinned["thinned"]["replaced"].as_array().unwrap().len(), covered.len());
    // No sample range is lost: every original block's range lies within the new blocks'.
    for (_, _, lo, hi) in &day1 {
        assert!(after.iter().any(|(_, _, a, b)| a <= lo && hi <= b), "range {lo}..{hi} still held");
    }
    assert_eq!(
        snapshot_blocks(&env, snaps.iter().find(|s| s["thinned"].is_null()).unwrap()["id"].as_str().unwrap()),
        day2
    );

    // prune reclaims what only the replicas held; everything left reads back.
    env.ok(&["prune", "--grace", "0s"]);
    let pruned = env.stats()["stored_bytes"].as_u64().unwrap();
    assert!(pruned < before, "prune reclaimed the replicas: {pruned} < {before}");
    env.ok(&["check", "--read-data"]);
    for s in snaps {
        let sid = s["id"].as_str().unwrap();
        let target = env.path(&format!("restore-{sid}"));
        env.ok(&["restore", sid, "--target", target.to_str().unwrap()]);
        let listed = promtool_list(&target.join("mimir/anonymous"));
        let want: BTreeSet<String> = snapshot_blocks(&env, sid).into_iter().map(|b| b.0).collect();
        assert_eq!(listed, want);
        for u in &want {
            let src = all.iter().find(|(_, m)| &m.ulid == u).unwrap().0.clone();
            for f in ["meta.json", "index", "chunks/000001"] {
                assert_eq!(
                    fs::read(target.join("mimir/anonymous").join(u).join(f)).unwrap(),
                    fs::read(src.join(f)).unwrap()
                );
            }
        }
    }
}
