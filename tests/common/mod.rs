//! Helpers shared by the integration tests: a CLI runner with a fast KDF and throwaway
//! repositories, and tree comparison.
#![allow(dead_code)]

pub mod s3;
pub mod tsdb;

use assert_cmd::Command;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
}

impl Env {
    /// A fresh, initialised repository (weak KDF so tests run fast).
    pub fn new() -> Env {
        Self::with_init_args(&[])
    }

    pub fn with_init_args(args: &[&str]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let e = Env { dir, repo };
        let mut a = vec!["init", "--kdf-memory-kib", "256", "--kdf-passes", "1"];
        a.extend_from_slice(args);
        e.ok(&a);
        e
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("cellar").unwrap();
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CELLAR_REPO", &self.repo)
            .env("CELLAR_PASSWORD", PASSWORD);
        c
    }

    /// Start `cellar ARGS` in the background with piped output.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("cellar"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CELLAR_REPO", &self.repo)
            .env("CELLAR_PASSWORD", PASSWORD)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "cellar {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `backup --json` and its parsed last line.
    pub fn backup(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["backup", "--json"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    }

    /// `dump SNAPSHOT PATH` as raw bytes.
    pub fn dump(&self, snap: &str, path: &str) -> Vec<u8> {
        let out = self.cmd().args(["dump", snap, path]).output().unwrap();
        assert!(out.status.success(), "dump failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["stats", "--json"])).unwrap()
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Assert two trees hold the same names, types, bytes, modes, mtimes and link targets.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let la = listing(a);
    let lb = listing(b);
    assert_eq!(la.len(), lb.len(), "different entry counts in {} and {}", a.display(), b.display());
    for (x, y) in la.iter().zip(lb.iter()) {
        assert_eq!(x.0, y.0, "entry names differ");
        assert_eq!(x.1, y.1, "{:?}: type/mode/size/mtime differ", x.0);
        assert_eq!(x.2, y.2, "{:?}: content differs", x.0);
    }
}

type Listing = Vec<(PathBuf, String, Vec<u8>)>;

fn listing(root: &Path) -> Listing {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut ents: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        ents.sort();
        for p in ents {
            let md = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = md.file_type();
            let (kind, content) = if ft.is_symlink() {
                ("l".to_string(), fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes())
            } else if ft.is_dir() {
                stack.push(p.clone());
                (format!("d {:o}", md.mode() & 0o7777), vec![])
            } else {
                (
                    format!("f {:o} {} {}", md.mode() & 0o7777, md.len(), md.mtime_nsec() + md.mtime() * 1_000_000_000),
                    fs::read(&p).unwrap(),
                )
            };
            out.push((rel, kind, content));
        }
    }
    out.sort();
    out
}

/// A repository opened through the library (for tests that need hooks), with a fast KDF.
pub fn lib_repo(dir: &Path) -> std::sync::Arc<cellar::repo::Repository> {
    let opts = cellar::repo::InitOptions {
        kdf: cellar::repo::crypto::KdfParams { m_kib: 256, t: 1, p: 1 },
        ..Default::default()
    };
    let backend = std::sync::Arc::new(cellar::repo::LocalBackend::new(dir));
    std::sync::Arc::new(cellar::repo::Repository::init(backend, PASSWORD.as_bytes(), &opts).unwrap())
}

/// Every file below `dir` (recursively), in no particular order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A local file or directory as a backup source.
pub fn local_source(path: &Path) -> cellar::source::Source {
    cellar::source::Source::local(path).unwrap()
}

/// A local source whose files call `hook` just before they are opened (to change the
/// source while a backup runs, or to watch the order of reads).
pub fn hooked_source(path: &Path, hook: fn(&Path)) -> cellar::source::Source {
    let mut s = local_source(path);
    if let cellar::source::Input::Tree { tree, .. } = &mut s.input {
        *tree = std::sync::Arc::new(Hooked(hook));
    }
    s
}

struct Hooked(fn(&Path));

impl cellar::source::SourceTree for Hooked {
    fn stat(&self, path: &Path, name: &[u8]) -> std::io::Result<cellar::source::SourceEntry> {
        cellar::source::local::LocalTree.stat(path, name)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(Vec<u8>, PathBuf)>> {
        cellar::source::local::LocalTree.read_dir(path)
    }
    fn open(&self, path: &Path) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        (self.0)(path);
        cellar::source::local::LocalTree.open(path)
    }
    fn display(&self, path: &Path) -> String {
        path.display().to_string()
    }
    fn changed(&self, path: &Path, before: &cellar::source::SourceEntry) -> bool {
        cellar::source::local::LocalTree.changed(path, before)
    }
}

/// The CLI's repository opened through the library (to look inside or damage it).
pub fn open_lib(repo: &Path) -> std::sync::Arc<cellar::repo::Repository> {
    let backend = std::sync::Arc::new(cellar::repo::LocalBackend::new(repo));
    let r = cellar::repo::Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    r.load_index().unwrap();
    std::sync::Arc::new(r)
}

/// Flip one bit of blob `id` where it is stored (in its pack file): the pack stays the
/// same length and its header intact, the blob no longer authenticates.
pub fn damage_blob(repo_dir: &Path, repo: &cellar::repo::Repository, id: &cellar::Id) {
    let (pack, loc) = repo.locate(id).unwrap();
    let p = repo_dir.join(cellar::repo::file::FileType::Pack.name(&pack));
    let mut b = fs::read(&p).unwrap();
    b[loc.offset as usize + loc.stored_len as usize / 2] ^= 0x10;
    fs::write(&p, b).unwrap();
}
