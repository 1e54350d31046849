//! A local cache of a remote repository's metadata (key files, index files, snapshots), so
//! `cellar snapshots` against S3 is fast after the first call. Cached files are content
//! addressed like the repository's, so every read checks the cached bytes against the name
//! and falls back to the remote on any mismatch: the cache is verified, never trusted.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Backend, BackendResult};
use crate::id::Id;

pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    dir: PathBuf,
    /// `config` is written once at init and never changes: read once per process.
    config: Vec<u8>,
}

/// Directories whose files are immutable and named by their hash.
fn cacheable(name: &str) -> bool {
    ["index/", "snapshots/", "keys/", "sessions/"].iter().any(|p| name.starts_with(p))
}

/// Where local state lives: `$CELLAR_CACHE_DIR`, else `$XDG_CACHE_HOME/cellar`, else
/// `~/.cache/cellar`; one directory per repository id below it.
pub fn base_dir() -> Option<PathBuf> {
    std::env::var_os("CELLAR_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("cellar")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cellar")))
}

impl CachedBackend {
    /// Cache under `$XDG_CACHE_HOME/cellar/<repository id>` (or `~/.cache/…`).
    pub fn new(inner: Arc<dyn Backend>, repo_id: &str, config: Vec<u8>) -> Option<CachedBackend> {
        let base = base_dir()?;
        Some(CachedBackend { inner, dir: base.join(repo_id), config })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn store(&self, name: &str, data: &[u8]) {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let p = self.path(name);
        let tmp = p.with_extension("tmp");
        // Private to the user (sealed content, but still the repository's metadata). A
        // cache that cannot be written is only slower; never an error.
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p.parent().expect("has parent"))
            .and_then(|()| {
                let _ = fs::remove_file(&tmp);
                fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)
            })
            .and_then(|mut f| f.write_all(data))
            .and_then(|()| fs::rename(&tmp, &p));
    }

    fn cached(&self, name: &str) -> Option<Vec<u8>> {
        let bytes = fs::read(self.path(name)).ok()?;
        let want = Id::from_hex(name.rsplit('/').next()?).ok()?;
        if Id::of_stored(&bytes) == want {
            Some(bytes)
        } else {
            let _ = fs::remove_file(self.path(name));
            None
        }
    }
}

impl Backend for CachedBackend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        if name == "config" {
            return Ok(self.config.clone());
        }
        if !cacheable(name) {
            return self.inner.read(name);
        }
        if let Some(b) = self.cached(name) {
            return Ok(b);
        }
        let b = self.inner.read(name)?;
        self.store(name, &b);
        Ok(b)
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        self.inner.read_range(name, offset, len)
    }

    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()> {
        self.inner.write(name, data)?;
        if cacheable(name) {
            self.store(name, data);
        }
        Ok(())
    }

    fn write_with(&self, name: &str, data: &[u8], opts: &super::WriteOptions) -> BackendResult<()> {
        self.inner.write_with(name, data, opts)?;
        if cacheable(name) {
            self.store(name, data);
        }
        Ok(())
    }

    fn create_new_with(&self, name: &str, data: &[u8], opts: &super::WriteOptions) -> BackendResult<bool> {
        self.inner.create_new_with(name, data, opts)
    }

    fn check_object_lock(&self) -> BackendResult<()> {
        self.inner.check_object_lock()
    }

    fn extend_retention(&self, name: &str, to: &super::Retention) -> BackendResult<()> {
        self.inner.extend_retention(name, to)
    }

    fn lock_until(&self, name: &str) -> BackendResult<Option<time::OffsetDateTime>> {
        self.inner.lock_until(name)
    }

    fn list_dated(&self, dir: &str) -> BackendResult<Vec<super::Dated>> {
        self.inner.list_dated(dir)
    }

    fn prepare_read(&self, names: &[String]) -> BackendResult<super::Thawing> {
        self.inner.prepare_read(names)
    }

    fn probe_storage_class(&self, class: &str) -> BackendResult<()> {
        self.inner.probe_storage_class(class)
    }

    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool> {
        self.inner.create_new(name, data)
    }

    /// Also forgets cached files the repository no longer has (pruned index files,
    /// forgotten snapshots).
    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        let v = self.inner.list(dir)?;
        if cacheable(&format!("{dir}/")) {
            let present: std::collections::HashSet<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
            if let Ok(rd) = fs::read_dir(self.path(dir)) {
                for e in rd.flatten() {
                    let name = format!("{dir}/{}", e.file_name().to_string_lossy());
                    if !present.contains(name.as_str()) {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
        Ok(v)
    }

    fn remove(&self, name: &str) -> BackendResult<()> {
        self.inner.remove(name)?;
        let _ = fs::remove_file(self.path(name));
        Ok(())
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn remove_stale_temporaries(&self, age: std::time::Duration) -> BackendResult<usize> {
        self.inner.remove_stale_temporaries(age)
    }
}
