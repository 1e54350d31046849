//! Real TSDB blocks for tests: a Mimir-like bucket written by promtool.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Run the bucket generator into a fresh temporary directory (`<tmp>/mimir`).
fn generate(args: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("mimir");
    let st = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testdata/make-mimir-bucket.sh"))
        .arg(&out)
        .args(args)
        .envs(env.iter().copied())
        .env("VERIFY", "0")
        .output()
        .unwrap();
    assert!(st.status.success(), "generating blocks failed: {}", String::from_utf8_lossy(&st.stderr));
    (d, out)
}

/// A bucket of one's own (to change): `make-mimir-bucket.sh` with these arguments.
pub fn fresh_bucket(args: &[&str], env: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    generate(args, env)
}

/// One generated bucket per test binary (promtool takes a few seconds).
pub fn bucket() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| generate(&["40", "4"], &[("REPLICAS", "3"), ("EXTRAS", "1")])).1
}

/// What the bucket holds, judged independently of cellar: tenant → complete block ULIDs.
pub fn complete_blocks(bucket: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for t in fs::read_dir(bucket).unwrap() {
        let t = t.unwrap().path();
        let tenant = t.file_name().unwrap().to_string_lossy().into_owned();
        let markers: Vec<String> = fs::read_dir(t.join("markers"))
            .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let set: &mut BTreeSet<String> = out.entry(tenant).or_default();
        for b in fs::read_dir(&t).unwrap() {
            let b = b.unwrap().path();
            let ulid = b.file_name().unwrap().to_string_lossy().into_owned();
            if !b.is_dir() || ulid == "markers" {
                continue;
            }
            let complete = b.join("meta.json").exists() && b.join("index").exists() && b.join("chunks").is_dir();
            let marked = b.join("deletion-mark.json").exists() || markers.iter().any(|m| m.starts_with(&ulid));
            if complete && !marked {
                set.insert(ulid);
            }
        }
    }
    out
}

pub fn promtool_list(dir: &Path) -> BTreeSet<String> {
    let out = Command::new("promtool").args(["tsdb", "list"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "promtool tsdb list {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A one-tenant bucket where the real Prometheus compactor has merged each 2h range's six
/// ingester replicas into one level-2 block (`compaction.sources` = the replicas). Takes
/// about a minute (Prometheus compacts a minute after it starts).
pub fn compacted_bucket() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| generate(&["60", "6"], &[("REPLICAS", "3"), ("COMPACT", "1"), ("TENANTS", "anonymous")])).1
}

/// A block's meta.json, the fields tests need.
pub struct Meta {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
    pub level: u64,
    pub sources: BTreeSet<String>,
}

pub fn read_meta(block: &Path) -> Meta {
    let m: serde_json::Value = serde_json::from_slice(&fs::read(block.join("meta.json")).unwrap()).unwrap();
    Meta {
        ulid: m["ulid"].as_str().unwrap().into(),
        min_time: m["minTime"].as_i64().unwrap(),
        max_time: m["maxTime"].as_i64().unwrap(),
        level: m["compaction"]["level"].as_u64().unwrap(),
        sources: m["compaction"]["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().into()).collect(),
    }
}

/// Every block directory under `dir` with its meta.json.
pub fn metas(dir: &Path) -> Vec<(PathBuf, Meta)> {
    let mut v: Vec<(PathBuf, Meta)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").exists())
        .map(|p| {
            let m = read_meta(&p);
            (p, m)
        })
        .collect();
    v.sort_by(|a, b| a.1.ulid.cmp(&b.1.ulid));
    v
}

/// Copy a directory tree (blocks are small).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            fs::copy(&p, &dst).unwrap();
        }
    }
}
