//! Backup → restore must give back exactly what was backed up: names (including non-UTF-8
//! and long ones), bytes, modes, mtimes, symlinks, empty files and large files.

use crate::common::*;
use proptest::prelude::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug, Clone)]
enum Item {
    File { path: Vec<String>, len: usize, seed: u64, mode: u32 },
    Link { path: Vec<String>, target: String },
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[a-zA-Z0-9 ._-]{1,20}".prop_filter("no dot names", |s| s != "." && s != ".."),
        "[\\u{e9}\\u{4e2d}\\u{1F600}a-z]{1,6}",
        "[a-z]{60,120}",
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let path = || prop::collection::vec(name(), 1..6);
    prop_oneof![
        6 => (path(), prop_oneof![Just(0usize), 1usize..5000, 100_000usize..700_000], any::<u64>(), prop_oneof![Just(0o644u32), Just(0o600), Just(0o755)])
            .prop_map(|(path, len, seed, mode)| Item::File { path, len, seed, mode }),
        1 => (path(), "[a-z/.]{1,30}").prop_map(|(path, target)| Item::Link { path, target }),
    ]
}

fn materialize(root: &Path, items: &[Item]) {
    fs::create_dir_all(root).unwrap();
    for it in items {
        let (path, is_file) = match it {
            Item::File { path, .. } => (path, true),
            Item::Link { path, .. } => (path, false),
        };
        let mut p = root.to_path_buf();
        let mut ok = true;
        for c in &path[..path.len() - 1] {
            p.push(c);
            if p.exists() && !p.is_dir() || p.is_symlink() {
                ok = false;
                break;
            }
            fs::create_dir_all(&p).unwrap();
        }
        p.push(path.last().unwrap());
        if !ok || p.exists() || p.is_symlink() {
            continue;
        }
        match it {
            Item::File { len, seed, mode, .. } => {
                fs::write(&p, pseudo_random(*len, *seed)).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Item::Link { target, .. } => std::os::unix::fs::symlink(target, &p).unwrap(),
        }
        let _ = is_file;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_trees_round_trip(items in prop::collection::vec(item(), 0..40)) {
        let env = Env::new();
        let src = env.path("src");
        materialize(&src, &items);
        env.backup(&[src.to_str().unwrap()]);
        let out = env.path("out");
        env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
        assert_same_tree(&src, &out.join("src"));
    }
}

#[test]
fn unusual_names_deep_paths_large_and_empty_files() {
    let env = Env::new();
    let src = env.path("data");
    let mut deep = src.clone();
    for i in 0..40 {
        deep.push(format!("level-{i:02}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom"), b"deep").unwrap();
    // Non-UTF-8, spaces, newlines, leading dashes, unicode.
    fs::write(src.join(std::ffi::OsStr::from_bytes(b"bad\xff\xfename")), b"latin1").unwrap();
    fs::write(src.join("with space\nand newline"), b"x").unwrap();
    fs::write(src.join("-dash"), b"").unwrap();
    fs::write(src.join("\u{65e5}\u{672c}.txt"), b"nihon").unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    fs::write(src.join("large.bin"), pseudo_random(9 << 20, 7)).unwrap();
    fs::create_dir(src.join("empty-dir")).unwrap();
    std::os::unix::fs::symlink("../outside/target", src.join("dangling")).unwrap();

    env.backup(&[src.to_str().unwrap()]);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("data"));
    // And a second restore over the first works and stays identical.
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("data"));
}

#[test]
fn include_restores_only_matching_subtrees() {
    let env = Env::new();
    let src = env.path("b");
    for t in ["t1", "t2"] {
        fs::create_dir_all(src.join(t).join("blk")).unwrap();
        fs::write(src.join(t).join("blk/index"), t).unwrap();
    }
    env.backup(&[src.to_str().unwrap()]);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap(), "--include", "b/t2"]);
    assert!(out.join("b/t2/blk/index").exists());
    assert!(!out.join("b/t1").exists());
}

/// `SNAPSHOT:PATH` picks a directory of the snapshot: restore puts its contents at the
/// target's root (globs then relative to it), ls lists below it, dump reads a file in it.
#[test]
fn snapshot_path_specs_address_one_directory() {
    let env = Env::new();
    let src = env.path("b");
    for t in ["t1", "t2"] {
        fs::create_dir_all(src.join(t).join("blk")).unwrap();
        fs::write(src.join(t).join("blk/index"), t).unwrap();
        fs::write(src.join(t).join("blk/meta.json"), "{}").unwrap();
    }
    env.backup(&[src.to_str().unwrap()]);
    let out = env.path("out");
    env.ok(&["restore", "latest:b/t2", "--target", out.to_str().unwrap()]);
    assert_eq!(fs::read(out.join("blk/index")).unwrap(), b"t2");
    assert!(out.join("blk/meta.json").exists());
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "only t2's contents, at the root");
    let out2 = env.path("out2");
    env.ok(&["restore", "latest:b", "--target", out2.to_str().unwrap(), "--include", "t1/**"]);
    assert!(out2.join("t1/blk/index").exists() && !out2.join("t2").exists());

    let listed = env.ok(&["ls", "latest:b/t1"]);
    assert!(listed.contains("b/t1/blk/index") && !listed.contains("t2"), "{listed}");
    let (code, dumped, err) = env.run(&["dump", "latest:b/t1/blk/index"]);
    assert_eq!((code, dumped.as_str()), (0, "t1"), "{err}");
    let (code, _, err) = env.run(&["dump", "latest"]);
    assert_eq!(code, 2, "a dump without a file is a usage error: {err}");
    let (code, _, err) = env.run(&["restore", "latest:b/nope", "--target", out.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("b/nope"), "{err}");
}

/// README's "Using it" in order: a bucket backup, then a `pg_dump` on stdin. `latest`
/// alone is the dump; `--path`, `--tag` and `--host` say which latest, and a selection
/// that matches nothing exits 4, not 0.
#[test]
fn latest_follows_host_tag_and_path_filters_and_selecting_nothing_exits_4() {
    let env = Env::new();
    let mimir = env.path("mimir");
    fs::create_dir_all(mimir.join("anonymous/blk")).unwrap();
    fs::write(mimir.join("anonymous/blk/index"), b"idx").unwrap();
    env.ok(&["backup", mimir.to_str().unwrap(), "--tag", "nightly", "--host", "node-a"]);
    let out =
        env.cmd().args(["backup", "--stdin", "--stdin-name", "dop.sql"]).write_stdin("SELECT 1;\n").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["snapshots", "--json"];
        a.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&env.ok(&a)).unwrap();
        v.as_array().unwrap().iter().map(|s| s["sources"][0].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&[]).len(), 2);
    assert_eq!(ids(&["--path", "mimir"]), [mimir.to_str().unwrap()]);
    assert_eq!(ids(&["--path", mimir.to_str().unwrap()]), [mimir.to_str().unwrap()]);
    assert_eq!(ids(&["--tag", "nightly"]), [mimir.to_str().unwrap()]);
    let (code, out, _) = env.run(&["snapshots", "--json", "--tag", "nightly,other"]);
    assert_eq!((code, out.trim()), (4, "[]"), "a,b asks for both tags");
    assert_eq!(ids(&["--tag", "other", "--tag", "nightly"]).len(), 1, "repeated: any");
    assert_eq!(ids(&["--host", "node-a"]), [mimir.to_str().unwrap()]);
    assert_eq!(ids(&["--path", "stdin:dop.sql"]), ["stdin:dop.sql"]);

    // `latest` alone is the dump: nothing of mimir in it, and saying so exits 4.
    let target = env.path("r1");
    let (code, _, err) =
        env.run(&["restore", "latest", "--target", target.to_str().unwrap(), "--include", "mimir/anonymous/**"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("nothing restored"), "{err}");
    // With the filter, the same restore finds the bucket's snapshot.
    let target = env.path("r2");
    env.ok(&[
        "restore",
        "latest",
        "--path",
        "mimir",
        "--target",
        target.to_str().unwrap(),
        "--include",
        "mimir/anonymous/**",
    ]);
    assert_eq!(fs::read(target.join("mimir/anonymous/blk/index")).unwrap(), b"idx");
    let listed = env.ok(&["ls", "latest:mimir", "--tag", "nightly"]);
    assert!(listed.contains("mimir/anonymous/blk/index"), "{listed}");
    let (code, dumped, err) = env.run(&["dump", "latest:mimir/anonymous/blk/index", "--host", "node-a"]);
    assert_eq!((code, dumped.as_str()), (0, "idx"), "{err}");

    // Filters that match no snapshot: exit 4 with the filter named, for every reader.
    for cmd in [
        vec!["snapshots", "--host", "nowhere"],
        vec!["ls", "latest", "--host", "nowhere"],
        vec!["dump", "latest:mimir/anonymous/blk/index", "--host", "nowhere"],
        vec!["blocks", "latest", "--host", "nowhere"],
        vec!["forget", "--keep-last", "1", "--host", "nowhere"],
    ] {
        let (code, _, err) = env.run(&cmd);
        assert_eq!(code, 4, "{cmd:?}: {err}");
        assert!(err.contains("--host nowhere"), "{cmd:?}: {err}");
    }
    // forget with a filter judges only what it selects: the dump's snapshot stays.
    env.ok(&["forget", "--keep-last", "1", "--path", "mimir"]);
    assert_eq!(ids(&[]).len(), 2, "one snapshot per source, both kept");
}

#[test]
fn several_sources_and_stdin_in_one_snapshot() {
    let env = Env::new();
    let a = env.path("a");
    let b = env.path("b.txt");
    fs::create_dir(&a).unwrap();
    fs::write(a.join("f"), b"A").unwrap();
    fs::write(&b, b"B").unwrap();
    let out = env
        .cmd()
        .args(["backup", "--json", a.to_str().unwrap(), b.to_str().unwrap(), "--stdin", "--stdin-name", "dop.dump"])
        .write_stdin(pseudo_random(300_000, 3))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(r["total_files"], 3);
    assert_eq!(r["total_bytes"], 300_000 + 2);
    assert_eq!(env.dump("latest", "dop.dump"), pseudo_random(300_000, 3));
    assert_eq!(env.dump("latest", "b.txt"), b"B");
    assert_eq!(env.dump("latest", "a/f"), b"A");
}

#[test]
fn restoring_over_an_older_copy_replaces_every_file_exactly() {
    let env = Env::new();
    let src = env.path("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("short"), b"abc").unwrap();
    fs::write(src.join("long"), pseudo_random(300_000, 3)).unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    env.backup(&[src.to_str().unwrap()]);
    // The target already holds other versions: longer, shorter, non-empty.
    let target = env.path("t");
    let dst = target.join("src");
    fs::create_dir_all(&dst).unwrap();
    fs::write(dst.join("short"), pseudo_random(100_000, 4)).unwrap();
    fs::write(dst.join("long"), b"x").unwrap();
    fs::write(dst.join("empty"), b"not empty").unwrap();
    // By default files that differ are kept (and reported); asked to, they are replaced.
    assert_eq!(env.run(&["restore", "latest", "--target", target.to_str().unwrap()]).0, 3);
    assert_eq!(fs::read(dst.join("long")).unwrap(), b"x");
    env.ok(&["restore", "latest", "--overwrite", "if-changed", "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &dst);
}

/// `stats` counts every byte the repository stores, `config` included.
#[test]
fn stats_counts_every_stored_file() {
    let env = Env::new();
    let src = env.path("s");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), pseudo_random(100_000, 3)).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    let on_disk: u64 = files_under(&env.repo).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(env.stats()["stored_bytes"].as_u64().unwrap(), on_disk);
}
