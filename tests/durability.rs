//! Durability (format-spec §1), seen through the system calls the real binary makes under
//! `strace`: a repository file's rename (or link) into place is followed by an fsync of its
//! directory, and a restore flushes everything before any commit record (`meta.json`)
//! appears under its name.

use crate::common::tsdb::*;
use crate::common::*;
use std::process::Command;

/// Run `cellar ARGS` under strace; returns the trace (paths decoded with `-y`).
fn traced(env: &Env, args: &[&str]) -> Vec<String> {
    let log = env.path(&format!("strace-{}.log", args[0]));
    let st = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat", "-o"])
        .arg(&log)
        .arg(assert_cmd::cargo::cargo_bin("cellar"))
        .args(args)
        .env("CELLAR_REPO", &env.repo)
        .env("CELLAR_PASSWORD", PASSWORD)
        .output()
        .expect("strace (apt install strace)");
    assert!(st.status.success(), "cellar {args:?}: {}", String::from_utf8_lossy(&st.stderr));
    std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect()
}

/// The destination path of a rename/link line, if it is one.
fn destination(line: &str) -> Option<&str> {
    if !(line.contains("rename") || line.contains("link")) || line.contains("= -1") {
        return None;
    }
    line.rsplit_once(", \"").map(|(_, d)| d.split('"').next().unwrap_or(""))
}

#[test]
fn committed_repository_files_are_fsynced_into_their_directories() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), pseudo_random(300_000, 1)).unwrap();
    let trace = traced(&env, &["backup", src.to_str().unwrap()]);
    let mut checked = 0;
    for (i, line) in trace.iter().enumerate() {
        let Some(dest) = destination(line) else { continue };
        let Some(dir) = ["/snapshots/", "/index/", "/data/"].iter().find(|d| dest.contains(*d)) else { continue };
        let dir_path = &dest[..dest.rfind('/').unwrap()];
        let synced = trace[i + 1..].iter().any(|l| l.contains("fsync(") && l.contains(&format!("<{dir_path}>")));
        assert!(synced, "{dest} ({dir}) was put in place but its directory never fsynced:\n{}", trace.join("\n"));
        checked += 1;
    }
    assert!(checked >= 3, "expected a pack, an index file and a snapshot to be written:\n{}", trace.join("\n"));
}

#[test]
fn a_restore_flushes_block_data_before_any_meta_json_appears() {
    let env = Env::new();
    let b = bucket();
    env.ok(&["backup", "--allow-corrupted", b.to_str().unwrap()]);
    let target = env.path("restored");
    let trace = traced(&env, &["restore", "latest", "--target", target.to_str().unwrap()]);
    let first_meta = trace
        .iter()
        .position(|l| destination(l).is_some_and(|d| d.ends_with("/meta.json")))
        .unwrap_or_else(|| panic!("no meta.json renamed into place:\n{}", trace.join("\n")));
    assert!(
        trace[..first_meta].iter().any(|l| l.contains("syncfs(") && l.contains(" = 0")),
        "meta.json appeared before the restored data was flushed:\n{}",
        trace[..=first_meta].join("\n")
    );
    assert_eq!(promtool_list(&target.join("mimir").join("anonymous")), complete_blocks(b)["anonymous"]);
}
