//! Nothing is silently left out, every input is survived, interrupted work resumes:
//! special files and files changing while read are reported, metadata restores exactly,
//! trees of any depth work, and a killed backup's uploads are reused.

use crate::common::tsdb::*;
use crate::common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn fifos_and_sockets_are_reported_not_silently_skipped() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("file"), b"data").unwrap();
    let fifo = src.join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let r = env.backup(&[src.to_str().unwrap()]);
    let notices: Vec<&str> = r["notices"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notices.iter().any(|n| n.contains("pipe") && n.contains("FIFO")), "{notices:?}");
    assert!(notices.iter().any(|n| n.contains("sock") && n.contains("socket")), "{notices:?}");
    assert_eq!(r["total_files"], 1);
}

/// A source whose file is rewritten in place (same size, mtime put back) while the first
/// `rewrites` reads of it run.
struct Rewriting {
    rewrites: usize,
    opened: AtomicUsize,
}

struct RewriteOnRead {
    inner: fs::File,
    path: PathBuf,
    rewrite: bool,
}

impl std::io::Read for RewriteOnRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if std::mem::take(&mut self.rewrite) {
            // Same size, same mtime: only the ctime tells.
            let md = fs::metadata(&self.path)?;
            let mut b = fs::read(&self.path)?;
            b.iter_mut().for_each(|x| *x = x.wrapping_add(1));
            fs::write(&self.path, &b)?;
            let t = filetime::FileTime::from_last_modification_time(&md);
            filetime::set_file_mtime(&self.path, t)?;
        }
        Ok(n)
    }
}

impl cellar::source::SourceTree for Rewriting {
    fn stat(&self, path: &Path, name: &[u8]) -> std::io::Result<cellar::source::SourceEntry> {
        cellar::source::local::LocalTree.stat(path, name)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(Vec<u8>, PathBuf)>> {
        cellar::source::local::LocalTree.read_dir(path)
    }
    fn open(&self, path: &Path) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        let n = self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(RewriteOnRead {
            inner: fs::File::open(path)?,
            path: path.to_path_buf(),
            rewrite: n < self.rewrites,
        }))
    }
    fn display(&self, path: &Path) -> String {
        path.display().to_string()
    }
    fn changed(&self, path: &Path, before: &cellar::source::SourceEntry) -> bool {
        cellar::source::local::LocalTree.changed(path, before)
    }
}

#[test]
fn a_file_rewritten_while_read_is_read_again_and_reported_if_it_keeps_changing() {
    for rewrites in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let repo = lib_repo(&dir.path().join("repo"));
        let src = dir.path().join("s");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("f"), pseudo_random(3 << 20, 9)).unwrap();
        let mut source = local_source(&src);
        let tree = Arc::new(Rewriting { rewrites, opened: AtomicUsize::new(0) });
        if let cellar::source::Input::Tree { tree: t, .. } = &mut source.input {
            *t = tree.clone();
        }
        let opts = cellar::ops::backup::BackupOptions { sources: vec![source], ..Default::default() };
        let r = cellar::ops::backup::backup(repo.clone(), opts).unwrap();
        assert_eq!(tree.opened.load(Ordering::SeqCst), 2, "read once more after the change");
        let (_, snap) = repo.resolve_snapshot(&r.snapshot_id).unwrap();
        let node = cellar::vfs::lookup(&repo, &snap, "s/f").unwrap();
        let mut got = vec![];
        std::io::Read::read_to_end(&mut cellar::vfs::file_reader(&repo, &node), &mut got).unwrap();
        if rewrites == 1 {
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            assert_eq!(got, fs::read(src.join("f")).unwrap(), "the second read is stored, whole");
        } else {
            assert!(r.errors.iter().any(|e| e.contains("changed while being read, twice")), "{:?}", r.errors);
        }
    }
}

#[test]
fn modes_are_restored_exactly_even_000() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir_all(src.join("d")).unwrap();
    for (name, mode) in [("none", 0o000), ("exec", 0o750), ("sticky", 0o1644)] {
        fs::write(src.join(name), name).unwrap();
        fs::set_permissions(src.join(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::set_permissions(src.join("d"), fs::Permissions::from_mode(0o700)).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("s"));
}

#[test]
fn a_password_file_gives_its_first_line() {
    let env = Env::new();
    let f = env.path("pw");
    fs::write(&f, format!("{PASSWORD}\nsecond line, a comment\n")).unwrap();
    let out = env
        .cmd()
        .env_remove("CELLAR_PASSWORD")
        .args(["--password-file", f.to_str().unwrap(), "snapshots"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_block_whose_index_is_a_symlink_is_corrupted_and_never_followed() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("mimir");
    copy_dir(bucket(), &b);
    let victim = complete_blocks(&b)["anonymous"].iter().next().unwrap().clone();
    let index = b.join("anonymous").join(&victim).join("index");
    let size = fs::metadata(&index).unwrap().len();
    fs::remove_file(&index).unwrap();
    // A target of the same size, so no size check can catch it.
    let decoy = work.path().join("decoy");
    fs::write(&decoy, vec![0u8; size as usize]).unwrap();
    std::os::unix::fs::symlink(&decoy, &index).unwrap();
    let (code, out, err) = env.run(&["backup", "--json", b.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    let r: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(
        r["corrupted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains(&format!("{victim}: index is a symlink"))),
        "{r}"
    );
}

/// Trees as deep as the OS allows for files, and forged ones far deeper, are walked
/// without recursion: nothing overflows a stack.
#[test]
fn deep_trees_back_up_restore_and_list() {
    let env = Env::new();
    let src = env.path("s");
    let mut deep = src.clone();
    // Under PATH_MAX (4096) with the temporary directory's own path.
    let levels = (4000 - src.as_os_str().len() - 10) / 2;
    for _ in 0..levels {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f"), b"bottom").unwrap();
    env.backup(&[src.to_str().unwrap()]);
    assert!(levels > 1500, "{levels}");
    let lines = env.ok(&["ls", "latest"]).lines().count();
    assert_eq!(lines, levels + 2);
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);

    // A forged snapshot 10,000 directories deep: ls, check and dump as tar cope.
    let repo = open_lib(&env.repo);
    let mut w = cellar::repo::packer::BlobWriter::new(repo.clone());
    let leaf = cellar::repo::file::tree::Tree::default();
    let (mut id, _) = w.put(cellar::repo::blob::BlobKind::Tree, &leaf.to_bytes()).unwrap();
    for _ in 0..10_000 {
        let mut n = cellar::repo::file::tree::Node::root_dir(Some(id));
        n.name = b"x".to_vec();
        let t = cellar::repo::file::tree::Tree { nodes: vec![n] };
        id = w.put(cellar::repo::blob::BlobKind::Tree, &t.to_bytes()).unwrap().0;
    }
    w.finish().unwrap();
    let (_, mut snap) = repo.resolve_snapshot("latest").unwrap();
    snap.tree = id;
    snap.time = "2030-01-01T00:00:00Z".into();
    repo.save_snapshot(&snap).unwrap();
    assert_eq!(env.ok(&["ls", "latest"]).lines().count(), 10_000);
    assert_eq!(env.run(&["check"]).0, 0);
    let out = env.cmd().args(["dump", "latest", "/"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A restore runs into the OS's path limit and says so, cleanly.
    let (code, _, err) = env.run(&["restore", "latest", "--target", env.path("r").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("File name too long") || err.contains("name too long"), "{err}");
}

/// A backup killed midway has indexed most of what it uploaded: the next run reuses it,
/// and a prune sees at once that the killed writer is gone.
#[test]
fn a_killed_backup_is_resumed_by_the_next_run_and_does_not_block_prune() {
    let env = Env::with_init_args(&["--pack-size", "1M"]);
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    for i in 0..12 {
        fs::write(src.join(format!("f{i}")), pseudo_random(8 << 20, 100 + i)).unwrap();
    }
    let mut child = env.spawn(&["backup", "--read-concurrency", "1", src.to_str().unwrap()]);
    // Wait (with a deadline) until six index files (48 packs) exist, then kill it hard.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    let index_files = || fs::read_dir(env.repo.join("index")).map_or(0, Iterator::count);
    while index_files() < 6 {
        assert!(child.try_wait().unwrap().is_none(), "the backup finished before it could be killed");
        assert!(std::time::Instant::now() < deadline, "no index files appeared");
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(env.ok(&["snapshots", "--json"]).trim() == "[]", "no snapshot from a killed backup");
    assert_eq!(files_under(&env.repo.join("writers")).len(), 1, "the killed backup's marker is left");
    let indexed_before = env.stats()["unique_blobs"].as_u64().unwrap();
    assert!(indexed_before > 0);

    // prune: the marker's process is gone, so it protects nothing (not for 48 hours).
    let r: Value = serde_json::from_str(&env.ok(&["prune", "--dry-run", "--json"])).unwrap();
    assert_eq!(r["writers_gone"], 1, "{r}");
    let total: u64 = 12 * (8 << 20);
    let done = env.backup(&[src.to_str().unwrap()]);
    assert!(done["bytes_added"].as_u64().unwrap() < total * 70 / 100, "the indexed uploads were reused: {done}");
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
    env.ok(&["prune", "--grace", "0s"]);
    assert!(files_under(&env.repo.join("writers")).is_empty(), "stale marker removed");
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("s"));
}

/// A restore into a target that holds part of it already: identical files are not
/// written again (an interrupted restore resumes), a file that differs is kept and named
/// unless `--overwrite` says otherwise, and `--delete` removes what the snapshot lacks.
#[test]
fn restores_resume_never_replace_silently_and_delete_on_request() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    for i in 0..6 {
        fs::write(src.join(format!("f{i}")), pseudo_random(300_000, i)).unwrap();
    }
    env.backup(&[src.to_str().unwrap()]);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    // As if the first restore died after four files; and the user changed one of them.
    fs::remove_file(out.join("s/f4")).unwrap();
    fs::remove_file(out.join("s/f5")).unwrap();
    fs::write(out.join("s/f0"), b"mine").unwrap();
    fs::write(out.join("s/extra"), b"not in the snapshot").unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["restore", "latest", "--json", "--target", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        let (code, o, e) = env.run(&a);
        (code, serde_json::from_str::<Value>(o.lines().last().unwrap_or("null")).unwrap_or(Value::Null), e)
    };
    let (code, r, err) = run(&[]);
    assert_eq!(code, 3, "a kept file that differs is reported: {err}");
    assert_eq!(r["unchanged"], 3, "{r}");
    assert_eq!(r["kept"], serde_json::json!(["s/f0"]));
    assert_eq!(fs::read(out.join("s/f0")).unwrap(), b"mine", "never replaced by default");
    assert_eq!(fs::read(out.join("s/f5")).unwrap(), pseudo_random(300_000, 5), "the missing files were restored");
    let (code, r, _) = run(&["--overwrite", "if-changed", "--delete"]);
    assert_eq!(code, 0);
    assert_eq!(r["unchanged"], 5, "{r}");
    assert_eq!(r["deleted"], serde_json::json!(["s/extra"]));
    assert_same_tree(&src, &out.join("s"));
}
