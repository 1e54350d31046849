//! Bad input gets a clear error and loses nothing.

use crate::common::*;
use std::fs;

fn packs(env: &Env) -> Vec<std::path::PathBuf> {
    let mut v = vec![];
    for d in fs::read_dir(env.repo.join("data")).unwrap() {
        for f in fs::read_dir(d.unwrap().path()).unwrap() {
            v.push(f.unwrap().path());
        }
    }
    v
}

fn env_with_data() -> Env {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a"), pseudo_random(2 << 20, 1)).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    env
}

#[test]
fn wrong_password_is_refused_clearly() {
    let env = env_with_data();
    let out = env.cmd().env("CELLAR_PASSWORD", "nope").args(["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong password"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn no_password_and_no_terminal_is_an_error_not_a_hang() {
    let env = Env::new();
    let out = env.cmd().env_remove("CELLAR_PASSWORD").args(["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a password the invocation lacks is a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no password given") && err.contains("--password-file"), "{err}");
}

#[test]
fn corrupted_pack_is_found_by_check_read_data_and_restore_refuses_it() {
    let env = env_with_data();
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
    // The data pack (metadata lives in a separate, smaller pack).
    let p = &packs(&env).into_iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap();
    let mut b = fs::read(p).unwrap();
    b[1000] ^= 0x01;
    fs::write(p, &b).unwrap();

    let (code, _, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("damaged") || err.contains("authentication"), "{err}");

    // The restore goes on past the damage, names it, and leaves no damaged file behind.
    let out = env.path("out");
    let (code, _, err) = env.run(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("integrity error") && err.contains("damaged, not restored"), "{err}");
}

#[test]
fn missing_pack_is_reported_by_check() {
    let env = env_with_data();
    fs::remove_file(&packs(&env)[0]).unwrap();
    let (code, _, err) = env.run(&["check"]);
    assert_eq!(code, 1);
    assert!(err.contains("missing from storage"), "{err}");
}

#[test]
fn newer_format_version_is_refused_before_asking_for_a_password() {
    let env = Env::new();
    let cfg = env.repo.join("config");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    let newer = cellar::repo::file::config::FORMAT_VERSION + 1;
    v["version"] = newer.into();
    fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = env.cmd().env_remove("CELLAR_PASSWORD").args(["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("version {newer} is newer")), "{err}");
}

#[test]
fn not_a_repository_and_double_init_are_clear_errors() {
    let env = Env::new();
    let (code, _, err) = env.run(&["--repo", env.path("nothing").to_str().unwrap(), "snapshots"]);
    assert_eq!(code, 1);
    assert!(err.contains("no cellar repository"), "{err}");
    let (code, _, err) = env.run(&["init", "--kdf-memory-kib", "256"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    // The failed init left the existing repository openable.
    env.ok(&["snapshots"]);
}

#[test]
fn unreadable_source_object_gives_exit_3_and_a_snapshot_of_the_rest() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("ok"), b"fine").unwrap();
    // Reading /proc/self/mem at offset 0 fails with EIO: an object that cannot be read.
    let (code, out, err) = env.run(&["backup", "--json", src.to_str().unwrap(), "/proc/self/mem"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("could not read"), "{err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["errors"].as_array().unwrap().len(), 1);
    assert_eq!(env.dump("latest", "s/ok"), b"fine");
    let (code, _, _) = env.run(&["dump", "latest", "mem"]);
    assert_eq!(code, 1);
}

#[test]
fn missing_source_is_fatal_and_writes_no_snapshot() {
    let env = Env::new();
    let (code, _, err) = env.run(&["backup", env.path("absent").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot be read"), "{err}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 0);
}

#[test]
fn keys_can_be_added_listed_and_removed() {
    let env = env_with_data();
    let pwfile = env.path("new.pass");
    fs::write(&pwfile, "second password\n").unwrap();
    env.ok(&["key", "add", "--new-password-file", pwfile.to_str().unwrap(), "--kdf-memory-kib", "256"]);
    let keys: serde_json::Value = serde_json::from_str(&env.ok(&["key", "list", "--json"])).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let old =
        keys.as_array().unwrap().iter().find(|k| k["current"] == true).unwrap()["id"].as_str().unwrap().to_string();

    // The key in use cannot be removed; with the other password it can.
    assert_eq!(env.run(&["key", "remove", &old[..10]]).0, 1);
    let with_new = |args: &[&str]| {
        env.cmd().env_remove("CELLAR_PASSWORD").arg("--password-file").arg(&pwfile).args(args).output().unwrap()
    };
    assert!(with_new(&["key", "remove", &old[..10]]).status.success());
    assert_eq!(env.run(&["snapshots"]).0, 1, "the removed password must no longer open the repository");
    let out = with_new(&["dump", "latest", "s/a"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, pseudo_random(2 << 20, 1));
    // The last key cannot be removed.
    let keys: serde_json::Value = serde_json::from_slice(&with_new(&["key", "list", "--json"]).stdout).unwrap();
    let last = keys[0]["id"].as_str().unwrap().to_string();
    assert!(!with_new(&["key", "remove", &last]).status.success());
}

#[test]
fn empty_password_needs_the_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("r");
    let mut c = assert_cmd::Command::cargo_bin("cellar").unwrap();
    let out = c.env("CELLAR_PASSWORD", "").args(["init", "--repo", repo.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-no-password"));
    let mut c = assert_cmd::Command::cargo_bin("cellar").unwrap();
    c.env_remove("CELLAR_PASSWORD")
        .args(["init", "--insecure-no-password", "--kdf-memory-kib", "256", "--repo", repo.to_str().unwrap()])
        .assert()
        .success();
}

/// A full disk fails the backup cleanly: no snapshot, no torn files, and the repository
/// still opens and checks clean afterwards. Needs root (CI runs as root) for a tiny tmpfs.
#[test]
fn disk_full_fails_cleanly_and_keeps_the_repository_valid() {
    let env = Env::new();
    let mnt = env.path("small");
    fs::create_dir(&mnt).unwrap();
    let st =
        std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&mnt).status().unwrap();
    assert!(st.success(), "this test needs to mount a tmpfs (run as root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let repo = mnt.join("repo");
    let r = repo.to_str().unwrap();
    env.ok(&["init", "--repo", r, "--kdf-memory-kib", "256", "--pack-size", "1M"]);
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("small"), b"fits").unwrap();
    env.ok(&["backup", "--repo", r, src.to_str().unwrap()]);
    fs::write(src.join("big"), pseudo_random(8 << 20, 2)).unwrap();

    let (code, _, err) = env.run(&["backup", "--repo", r, src.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No space left"), "{err}");
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json", "--repo", r])).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1, "no snapshot may be written by a failed backup");
    let leftovers: Vec<_> = files_under(&repo).into_iter().filter(|p| p.to_string_lossy().contains(".tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (code, _, err) = env.run(&["check", "--read-data", "--repo", r]);
    assert_eq!(code, 0, "{err}");
    let out = env.cmd().args(["dump", "latest", "s/small", "--repo", r]).output().unwrap();
    assert_eq!(out.stdout, b"fits", "the earlier snapshot still restores");
}
