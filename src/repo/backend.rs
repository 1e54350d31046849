//! Storage of named, immutable files. One trait serves the repository (local directory now,
//! S3 later) and restore targets, so retry, create-once and atomic-rename logic live once.
//!
//! Names are `/`-separated relative paths such as `data/ab/abcd…` or `snapshots/…`.

use anyhow::{bail, Context};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A flat store of immutable files.
pub trait Backend: Send + Sync {
    /// Whole file.
    fn read(&self, name: &str) -> anyhow::Result<Vec<u8>>;
    /// `len` bytes at `offset`; fails if the file is shorter.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> anyhow::Result<Vec<u8>>;
    /// Create `name` with `data`, atomically (readers see all of it or nothing). Files are
    /// named by content, so an existing file with that name is accepted as identical.
    fn write(&self, name: &str, data: &[u8]) -> anyhow::Result<()>;
    /// Create `name` only if it does not exist yet; returns false if it did.
    fn create_new(&self, name: &str, data: &[u8]) -> anyhow::Result<bool>;
    /// Files directly or indirectly under `dir` as (name relative to the store, size).
    fn list(&self, dir: &str) -> anyhow::Result<Vec<(String, u64)>>;
    /// Remove a file; removing a missing file is not an error.
    fn remove(&self, name: &str) -> anyhow::Result<()>;
    /// Human-readable location for messages.
    fn location(&self) -> String;
    /// Write in a storage class (cold storage for data packs); stores without classes ignore it.
    fn write_with_class(&self, name: &str, data: &[u8], _class: Option<&str>) -> anyhow::Result<()> {
        self.write(name, data)
    }
    /// Make files readable that may sit in cold storage (S3 GLACIER/DEEP_ARCHIVE): request
    /// a temporary copy of each one that needs it and, with `wait`, return once all are
    /// readable. Returns the names for which a restore was requested or still runs.
    fn prepare_read(&self, _names: &[String], _wait: bool) -> anyhow::Result<Vec<String>> {
        Ok(vec![])
    }
    /// Delete temporary files of interrupted writes older than `age`; returns how many.
    fn remove_stale_temporaries(&self, _age: std::time::Duration) -> anyhow::Result<usize> {
        Ok(0)
    }
}

/// A repository or target in a local directory.
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        if name.is_empty() || name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("invalid storage name {name:?}");
        }
        Ok(self.root.join(name))
    }

    /// Write to a unique temporary file beside the destination, fsync, then move into
    /// place: a crash or a full disk leaves at most a stray `.tmp-*` file, never a torn one.
    fn write_tmp(&self, dest: &Path, data: &[u8]) -> anyhow::Result<PathBuf> {
        let dir = dest.parent().expect("names always have a parent");
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".tmp-{}", hex::encode(crate::repo::crypto::random::<8>())));
        let res = (|| -> std::io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("writing {}", dest.display()));
        }
        Ok(tmp)
    }
}

impl Backend for LocalBackend {
    fn read(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let p = self.path(name)?;
        fs::read(&p).map_err(|e| not_found_or(e, &p))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> anyhow::Result<Vec<u8>> {
        let p = self.path(name)?;
        let mut f = File::open(&p).map_err(|e| not_found_or(e, &p))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                Error::Integrity(format!("{} is shorter than {} bytes", p.display(), offset + len)).into()
            } else {
                anyhow::Error::from(e).context(format!("reading {}", p.display()))
            }
        })?;
        Ok(buf)
    }

    fn write(&self, name: &str, data: &[u8]) -> anyhow::Result<()> {
        let dest = self.path(name)?;
        let tmp = self.write_tmp(&dest, data)?;
        fs::rename(&tmp, &dest).with_context(|| format!("renaming into {}", dest.display()))?;
        Ok(())
    }

    fn create_new(&self, name: &str, data: &[u8]) -> anyhow::Result<bool> {
        let dest = self.path(name)?;
        let tmp = self.write_tmp(&dest, data)?;
        // link() fails if the destination exists: an atomic create-if-absent.
        let res = fs::hard_link(&tmp, &dest);
        let _ = fs::remove_file(&tmp);
        match res {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("creating {}", dest.display())),
        }
    }

    fn list(&self, dir: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let base = self.path(dir)?;
        let mut stack = vec![(base, dir.to_string())];
        while let Some((p, rel)) = stack.pop() {
            let rd = match fs::read_dir(&p) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("listing {}", p.display())),
            };
            for ent in rd {
                let ent = ent?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    continue;
                }
                let ft = ent.file_type()?;
                let child = format!("{rel}/{name}");
                if ft.is_dir() {
                    stack.push((ent.path(), child));
                } else if ft.is_file() {
                    out.push((child, ent.metadata()?.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn remove(&self, name: &str) -> anyhow::Result<()> {
        let p = self.path(name)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", p.display())),
            _ => Ok(()),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn remove_stale_temporaries(&self, age: std::time::Duration) -> anyhow::Result<usize> {
        let mut n = 0;
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(md) = e.metadata() else { continue };
                if md.is_dir() {
                    stack.push(p);
                } else if e.file_name().to_string_lossy().starts_with(".tmp-")
                    && md.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|el| el >= age)
                {
                    fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

fn not_found_or(e: std::io::Error, p: &Path) -> anyhow::Error {
    if e.kind() == ErrorKind::NotFound {
        Error::NotFound(p.display().to_string()).into()
    } else {
        anyhow::Error::from(e).context(format!("reading {}", p.display()))
    }
}
