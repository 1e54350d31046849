//! Daily gzip'd dumps of a REAL PostgreSQL (scripts/testdata/make-pg-dumps.sh: a database
//! changed day by day, `pg_dump | gzip -6`) stored by their differences: decoded, cut, and
//! changed chunks stored as deltas against earlier ones. Restores are bit-exact; a damaged
//! delta base is reported by `check --read-data`; forgetting the snapshot that introduced
//! the bases keeps every other snapshot restorable.

use crate::common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DAYS: usize = 4;

/// `DAYS` dumps, generated once per test binary.
fn dumps() -> &'static [PathBuf] {
    static DUMPS: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    &DUMPS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testdata/make-pg-dumps.sh");
            let out = std::process::Command::new(script)
                .arg(dir.path())
                .arg(DAYS.to_string())
                .env("GZIP", "1")
                .env("SCALE", "0.3")
                .env("PGPORT", "54333")
                .output()
                .unwrap();
            assert!(out.status.success(), "make-pg-dumps.sh: {}", String::from_utf8_lossy(&out.stderr));
            let mut files: Vec<PathBuf> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            assert_eq!(files.len(), DAYS, "{files:?}");
            (dir, files)
        })
        .1
}

/// Back up day by day, the bucket holding only the newest dump (older ones expired at the
/// source), so each dump is referenced by exactly one snapshot. Returns the backup reports.
fn daily(env: &Env) -> Vec<serde_json::Value> {
    let bucket = env.path("backup");
    fs::create_dir_all(&bucket).unwrap();
    let mut reports = vec![];
    for (i, d) in dumps().iter().enumerate() {
        if i > 0 {
            fs::remove_file(bucket.join(dumps()[i - 1].file_name().unwrap())).unwrap();
        }
        fs::copy(d, bucket.join(d.file_name().unwrap())).unwrap();
        reports.push(env.backup(&["--host", "db", bucket.to_str().unwrap()]));
    }
    reports
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let mut snaps: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["time"].as_str().unwrap().to_string(), s["id"].as_str().unwrap().to_string()))
        .collect();
    snaps.sort();
    snaps.into_iter().map(|(_, id)| id).collect()
}

fn assert_restores(env: &Env, snap: &str, day: usize) {
    let d = &dumps()[day];
    let rel = format!("backup/{}", d.file_name().unwrap().to_str().unwrap());
    assert!(env.dump(snap, &rel) == fs::read(d).unwrap(), "day {} restores bit-exactly", day + 1);
}

/// A first backup of a bucket that already holds several days of dumps: the later dumps
/// find the earlier ones' chunks as bases within the run (before their packs are written),
/// and every dump restores bit-exactly.
#[test]
fn dumps_backed_up_in_one_run_are_deltas_of_each_other() {
    let fill = |env: &Env| {
        let bucket = env.path("backup");
        fs::create_dir_all(&bucket).unwrap();
        for d in dumps() {
            fs::copy(d, bucket.join(d.file_name().unwrap())).unwrap();
        }
        env.backup(&[bucket.to_str().unwrap()])
    };
    let delta = Env::new();
    let r = fill(&delta);
    assert!(r["deltas_new"].as_u64().unwrap() > 0, "later dumps of the run are deltas: {r}");
    let plain = Env::with_init_args(&["--no-deltas"]);
    fill(&plain);
    let size = |e: &Env| e.stats()["pack_bytes"].as_u64().unwrap();
    let (d, p) = (size(&delta), size(&plain));
    eprintln!("{DAYS} dumps in one run: packs with deltas {d}, decoded only {p}");
    assert!(d * 2 < p, "in one run, deltas store far less than decoding alone: {d} vs {p}");
    // Versions cut one behind the other find each other as they would one a day (measured
    // within 10% on one repository; the margin here is the spread between two repositories'
    // chunker seeds). Cut side by side, they stored 50–60% more.
    let one_a_day = Env::new();
    daily(&one_a_day);
    let o = size(&one_a_day);
    eprintln!("the same dumps one a day: {o}");
    assert!(d * 4 <= o * 5, "one run stores about what the same dumps one a day do: {d} vs {o}");
    let snap = &snapshot_ids(&delta)[0];
    for day in 0..DAYS {
        assert_restores(&delta, snap, day);
    }
    let (code, out, err) = delta.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn daily_dumps_are_stored_as_deltas_and_restore_exactly() {
    let delta = Env::new();
    let reports = daily(&delta);
    for r in &reports[1..] {
        assert!(r["deltas_new"].as_u64().unwrap() > 0, "later days store changed chunks as deltas: {r}");
    }
    let plain = Env::with_init_args(&["--no-deltas"]);
    daily(&plain);
    let raw = Env::with_init_args(&["--no-deltas", "--no-gzip-transparent"]);
    daily(&raw);
    let size = |e: &Env| e.stats()["pack_bytes"].as_u64().unwrap();
    let (d, p, r) = (size(&delta), size(&plain), size(&raw));
    let gz: u64 = dumps().iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    eprintln!("{DAYS} dumps, {gz} bytes of gzip: packs with deltas {d}, decoded only {p}, raw {r}");
    assert!(r >= gz * 9 / 10, "raw gzip does not deduplicate: {r} vs {gz}");
    assert!(d * 2 < r, "deltas must store far less than raw gzip: {d} vs {r}");
    assert!(d < p, "deltas must beat decoding alone: {d} vs {p}");
    let stats = delta.stats();
    assert!(stats["delta_blobs"].as_u64().unwrap() > 0);

    let ids = snapshot_ids(&delta);
    for (day, id) in ids.iter().enumerate() {
        assert_restores(&delta, id, day);
    }
    let (code, out, err) = delta.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");

    // The first snapshot introduced the bases; forget it and prune right away.
    let sketch_files = || fs::read_dir(delta.repo.join("sketches")).map_or(0, std::iter::Iterator::count);
    assert_eq!(sketch_files(), DAYS, "one sketch file per backup");
    delta.ok(&["forget", &ids[0]]);
    let pruned: serde_json::Value = serde_json::from_str(&delta.ok(&["prune", "--grace", "0s", "--json"])).unwrap();
    assert_eq!(pruned["sketch_files_compacted"], DAYS, "{pruned}");
    assert_eq!(sketch_files(), 1, "merged into one, without the hints of deleted blobs");
    let (code, out, err) = delta.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "after forgetting the base snapshot: {out}{err}");
    for (day, id) in ids.iter().enumerate().skip(1) {
        assert_restores(&delta, id, day);
    }
    // Bases are kept only while a delta needs them: with every snapshot gone, prune
    // removes everything.
    for id in &ids[1..] {
        delta.ok(&["forget", id]);
    }
    delta.ok(&["prune", "--grace", "0s"]);
    assert_eq!(delta.stats()["unique_blobs"], 0);
    assert_eq!(sketch_files(), 0, "no hints about blobs that are gone");
}

/// A delta no snapshot needs may outlive its base: prune keeps bases only for what is
/// used, and leaves unused blobs in the packs it keeps. `check --read-data` must not call
/// such a delta damage (a year of nightly runs failed on one on day 99).
#[test]
fn check_does_not_call_an_unused_delta_whose_base_was_pruned_damage() {
    let env = Env::new();
    let bucket = env.path("backup");
    fs::create_dir_all(&bucket).unwrap();
    fs::copy(&dumps()[0], bucket.join("dop.dump.gz")).unwrap();
    env.backup(&[bucket.to_str().unwrap()]);
    // Day 2's deltas share their backup, and so their pack, with a file kept afterwards.
    fs::copy(&dumps()[1], bucket.join("dop.dump.gz")).unwrap();
    fs::write(bucket.join("kept.bin"), pseudo_random(4 << 20, 21)).unwrap();
    let r = env.backup(&[bucket.to_str().unwrap()]);
    assert!(r["deltas_new"].as_u64().unwrap() > 0, "{r}");
    fs::remove_file(bucket.join("dop.dump.gz")).unwrap();
    env.backup(&[bucket.to_str().unwrap()]);
    for id in &snapshot_ids(&env)[..2] {
        env.ok(&["forget", id]);
    }
    env.ok(&["prune", "--grace", "0s", "--max-unused", "100%"]);
    let s = env.stats();
    assert!(s["delta_blobs"].as_u64().unwrap() > 0, "an unused delta stays in a kept pack: {s}");
    let (code, out, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
    let target = env.path("out");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    assert_eq!(fs::read(target.join("backup/kept.bin")).unwrap(), pseudo_random(4 << 20, 21));
}

#[test]
fn damaged_delta_base_is_reported_by_check() {
    let env = Env::new();
    let bucket = env.path("backup");
    fs::create_dir_all(&bucket).unwrap();
    fs::copy(&dumps()[0], bucket.join("day1.dump.gz")).unwrap();
    env.backup(&[bucket.to_str().unwrap()]);
    let packs_day1 = files_under(&env.repo.join("data"));
    fs::remove_file(bucket.join("day1.dump.gz")).unwrap();
    fs::copy(&dumps()[1], bucket.join("day2.dump.gz")).unwrap();
    let r = env.backup(&[bucket.to_str().unwrap()]);
    assert!(r["deltas_new"].as_u64().unwrap() > 0, "{r}");
    let (code, out, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
    // Damage the data of every day-1 pack (the bases), leaving their headers readable.
    for p in &packs_day1 {
        let mut b = fs::read(p).unwrap();
        for i in (16..b.len() / 2).step_by(512) {
            b[i] ^= 0x55;
        }
        fs::write(p, b).unwrap();
    }
    let (code, out, err) = env.run(&["check", "--read-data"]);
    assert_ne!(code, 0, "damage must be detected:\n{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("delta base"), "deltas of day 2 must be reported through their damaged bases:\n{all}");
}

/// Rows of a synthetic table on day `d`: ~0.25% of the rows get a new value each day, so the
/// distance to any older day keeps growing (what PostgreSQL's moved rows do to a dump).
fn drifting_table(d: u32) -> Vec<u8> {
    let mut out = b"COPY public.alert_history (id, rule, state, value) FROM stdin;\n".to_vec();
    for i in 0..60_000u32 {
        let last = (1..=d).rev().find(|&k| (i.wrapping_mul(2_654_435_761) ^ k.wrapping_mul(40_503)) % 400 == 0);
        let v = last.map_or(0, |k| (i ^ k).wrapping_mul(97_531) % 1_000_000);
        out.extend_from_slice(format!("{i}\trule-{}\tfiring\t{v}\n", i % 50).as_bytes());
    }
    out.extend_from_slice(b"\\.\n");
    out
}

/// Deltas are taken against whole chunks only (depth 1), so against an old base they grow
/// with every day of drift: without rebasing every day would add more than the day before.
/// Once most of a delta is drift rather than the day's change the chunk is stored whole
/// again, and the following days are small deltas of that new base.
#[test]
fn a_drifting_table_is_rebased_and_later_days_stay_small() {
    let env = Env::new();
    let bucket = env.path("db");
    fs::create_dir_all(&bucket).unwrap();
    let mut added = vec![];
    for d in 1..=24u32 {
        fs::write(bucket.join("table.sql"), drifting_table(d)).unwrap();
        let r = env.backup(&["--host", "db", bucket.to_str().unwrap()]);
        added.push((r["bytes_added"].as_u64().unwrap(), r["deltas_new"].as_u64().unwrap()));
    }
    eprintln!("bytes added, deltas per day: {added:?}");
    let drop_after = (2..added.len()).find(|&d| added[d].0 * 3 < added[d - 1].0 * 2);
    let d = drop_after.unwrap_or_else(|| panic!("no rebase seen: {added:?}"));
    assert!(added[d].1 > 0, "the day after a rebase is stored as deltas of the new base: {added:?}");
    assert!(added[1..].iter().all(|a| a.1 > 0), "every later day stores deltas: {added:?}");
    let snaps = snapshot_ids(&env);
    for (day, id) in snaps.iter().enumerate() {
        assert_eq!(env.dump(id, "db/table.sql"), drifting_table(day as u32 + 1), "day {}", day + 1);
    }
    let (code, out, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
}
