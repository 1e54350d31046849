//! SIGKILL at random points of backup, forget, prune, copy and thin: after every kill the
//! repository checks clean with `--read-data`, every snapshot that existed restores byte
//! for byte, and the next run of the command succeeds. `CELLAR_CRASH_ITERATIONS=500 cargo
//! test --test tests crash` is the long mode; CI runs a few dozen kills in all.

use crate::common::tsdb::*;
use crate::common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn iterations() -> u64 {
    std::env::var("CELLAR_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

/// A deterministic pseudo-random delay in `[0, max)` for kill number `i` of `what`.
fn delay(what: &str, i: u64, max: Duration) -> Duration {
    let seed = blake3::hash(format!("{what}{i}").as_bytes());
    let x = u64::from_le_bytes(seed.as_bytes()[..8].try_into().unwrap());
    max.mul_f64((x % 10_000) as f64 / 10_000.0)
}

/// Run `cellar ARGS` to completion; returns how long it took.
fn timed(env: &Env, args: &[&str]) -> Duration {
    let t = Instant::now();
    env.ok(args);
    t.elapsed()
}

/// Start `cellar ARGS` and SIGKILL it after `after` (if it is still running).
fn kill_after(env: &Env, args: &[&str], after: Duration) {
    let mut c = env.spawn(args);
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if c.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::yield_now();
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// Snapshot id → the files it must restore to (path below the source → bytes).
type Expected = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}

/// Clean check; every listed snapshot restores to what it was made from. Snapshots the
/// caller does not know (rewritten by thinning) are only checked to restore.
fn assert_intact(env: &Env, expected: &Expected, what: &str) {
    let (code, _, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{what}: {err}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    for s in snaps.as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let out = env.path(&format!("r-{}", &id[..12]));
        let _ = fs::remove_dir_all(&out);
        env.ok(&["restore", id, "--target", out.to_str().unwrap()]);
        if let Some(want) = expected.get(id) {
            assert!(read_tree(&out.join("src")) == *want, "{what}: snapshot {id} restores differently");
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

fn write_day(src: &Path, day: u64) -> BTreeMap<String, Vec<u8>> {
    let _ = fs::remove_dir_all(src);
    fs::create_dir_all(src.join("d")).unwrap();
    let files: BTreeMap<String, Vec<u8>> =
        (0..4).map(|i| (format!("d/f{i}"), pseudo_random(600_000, if i < 2 { i } else { day * 10 + i }))).collect();
    for (p, b) in &files {
        fs::write(src.join(p), b).unwrap();
    }
    files
}

fn backup_json(env: &Env, src: &Path) -> String {
    env.backup(&[src.to_str().unwrap()])["snapshot_id"].as_str().unwrap().to_string()
}

#[test]
fn killed_backups_leave_a_valid_repository_and_the_next_one_succeeds() {
    let env = Env::with_init_args(&["--pack-size", "1M"]);
    let src = env.path("src");
    let mut expected = Expected::new();
    let files = write_day(&src, 0);
    expected.insert(backup_json(&env, &src), files.clone());
    let t = Instant::now();
    expected
        .insert(env.backup(&["--force", src.to_str().unwrap()])["snapshot_id"].as_str().unwrap().to_string(), files);
    let full = t.elapsed();
    for i in 0..iterations() {
        let files = write_day(&src, i + 1);
        kill_after(&env, &["backup", "--force", src.to_str().unwrap()], delay("backup", i, full * 2));
        // A completed run is a snapshot of this day's files.
        let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
        for s in snaps.as_array().unwrap() {
            expected.entry(s["id"].as_str().unwrap().to_string()).or_insert_with(|| files.clone());
        }
        assert_intact(&env, &expected, &format!("backup kill {i}"));
        expected.insert(backup_json(&env, &src), files);
    }
}

/// A repository with snapshots of several days (and something for prune to delete).
fn repository_with_history(days: u64) -> (Env, Expected) {
    let env = Env::with_init_args(&["--pack-size", "1M"]);
    let src = env.path("src");
    let mut expected = Expected::new();
    for day in 0..days {
        let files = write_day(&src, day);
        expected.insert(backup_json(&env, &src), files);
    }
    (env, expected)
}

#[test]
fn killed_forgets_and_prunes_leave_a_valid_repository() {
    for i in 0..iterations() {
        let (env, expected) = repository_with_history(4);
        let args = ["forget", "--keep-last", "2", "--prune", "--grace", "0s", "--max-unused", "0%"];
        let full = {
            let (copy, _) = repository_with_history(4);
            timed(&copy, &args)
        };
        kill_after(&env, &args, delay("forget", i, full * 2));
        assert_intact(&env, &expected, &format!("forget/prune kill {i}"));
        env.ok(&args);
        assert_intact(&env, &expected, &format!("forget/prune after kill {i}"));
        let n: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
        assert_eq!(n.as_array().unwrap().len(), 2, "kill {i}");
    }
}

#[test]
fn killed_copies_leave_both_repositories_valid_and_the_next_copy_completes() {
    let (env, expected) = repository_with_history(3);
    let dst = env.path("dst");
    let init = ["--repo", dst.to_str().unwrap(), "init", "--kdf-memory-kib", "256", "--kdf-passes", "1"];
    env.ok(&init);
    let args = ["copy", "--to-repo", dst.to_str().unwrap()];
    let full = {
        let (other, _) = repository_with_history(3);
        let d = other.path("dst");
        other.ok(&["--repo", d.to_str().unwrap(), "init", "--kdf-memory-kib", "256", "--kdf-passes", "1"]);
        timed(&other, &["copy", "--to-repo", d.to_str().unwrap()])
    };
    for i in 0..iterations() {
        kill_after(&env, &args, delay("copy", i, full * 2));
        assert_intact(&env, &expected, &format!("copy kill {i} (source)"));
        let (code, _, err) = env.run(&["--repo", dst.to_str().unwrap(), "check", "--read-data"]);
        assert_eq!(code, 0, "copy kill {i}: destination: {err}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&env.ok(&["copy", "--json", "--to-repo", dst.to_str().unwrap()])).unwrap();
    let n: serde_json::Value =
        serde_json::from_str(&env.ok(&["--repo", dst.to_str().unwrap(), "snapshots", "--json"])).unwrap();
    assert_eq!(n.as_array().unwrap().len(), 3, "every snapshot copied once: {r}");
}

#[test]
fn killed_thinning_leaves_a_valid_repository() {
    let src = compacted_bucket();
    for i in 0..iterations() / 3 {
        let env = Env::new();
        env.ok(&["backup", "--allow-corrupted", src.to_str().unwrap()]);
        env.ok(&["backup", "--allow-corrupted", "--force", src.to_str().unwrap()]);
        let args = ["forget", "--thin-compacted"];
        let full = {
            let other = Env::new();
            other.ok(&["backup", "--allow-corrupted", src.to_str().unwrap()]);
            timed(&other, &args)
        };
        kill_after(&env, &args, delay("thin", i, full * 2));
        assert_intact(&env, &Expected::new(), &format!("thin kill {i}"));
        env.ok(&args);
        assert_intact(&env, &Expected::new(), &format!("thin after kill {i}"));
        // Thinned or not, every block Prometheus reads is still there.
        let out = env.path("r");
        env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
        assert!(!promtool_list(&out.join("mimir").join("anonymous")).is_empty());
    }
}
