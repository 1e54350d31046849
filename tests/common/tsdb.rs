//! Real TSDB blocks for tests: a Mimir-like bucket written by promtool.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One generated bucket per test binary (promtool takes a few seconds).
pub fn bucket() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("mimir");
        let st = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testdata/make-mimir-bucket.sh"))
            .arg(&out)
            .args(["40", "4"])
            .env("REPLICAS", "3")
            .env("EXTRAS", "1")
            .env("VERIFY", "0")
            .output()
            .unwrap();
        assert!(st.status.success(), "generating blocks failed: {}", String::from_utf8_lossy(&st.stderr));
        (d, out)
    })
    .1
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
