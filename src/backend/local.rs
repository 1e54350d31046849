//! A repository (or the cache of one) in a local directory.
//!
//! Durability (format-spec §1): a file is written to a unique temporary name beside its
//! destination, fsynced, moved into place with `rename` (or `link`, for create-if-absent),
//! and then the directory is fsynced, so that after a power loss the name exists with all
//! of its bytes or not at all. Directories created on the way are fsynced into their
//! parents, and removals are made durable the same way, so prune's ordering (new index,
//! then old index files, then packs) survives a power loss too.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{check_name, Backend, BackendError, BackendResult};

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

    fn path(&self, name: &str) -> BackendResult<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Write to a unique temporary file beside the destination and fsync it: a crash or a
    /// full disk leaves at most a stray `.tmp-*` file, never a torn one.
    fn write_tmp(&self, dest: &Path, data: &[u8]) -> BackendResult<PathBuf> {
        let dir = dest.parent().expect("names always have a parent");
        ensure_dir(dir)?;
        let mut r = [0u8; 8];
        getrandom::getrandom(&mut r).map_err(|e| BackendError::Other(format!("the OS random source failed: {e}")))?;
        let tmp = dir.join(format!(".tmp-{}", tmp_tag(&r)));
        let res = (|| -> std::io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(BackendError::io(format!("writing {}", dest.display()), e));
        }
        Ok(tmp)
    }
}

/// `<host>.<pid>.<random hex>`: who wrote a temporary, so a prune can remove those of
/// writers that are gone at once (same host, no such process) and others after a while.
fn tmp_tag(random: &[u8]) -> String {
    format!("{}.{}.{}", tmp_host(), std::process::id(), hex::encode(random))
}

/// This host's name as temporaries carry it (no dots: they separate the fields).
fn tmp_host() -> String {
    crate::host::hostname().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// Whether the temporary file `name` (`.tmp-<host>.<pid>.<hex>`) was left by a writer of
/// this host that is gone. Older names (`.tmp-<hex>`) say nothing.
fn tmp_of_gone_writer(name: &str) -> bool {
    let parts: Vec<&str> = name.trim_start_matches(".tmp-").rsplitn(3, '.').collect();
    match parts.as_slice() {
        [_, pid, host] => *host == tmp_host() && pid.parse().is_ok_and(|pid| !crate::host::pid_alive(pid)),
        _ => false,
    }
}

/// Make a directory entry change (create, rename, link, unlink) in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `dir` and any missing parents, fsyncing each new directory into its parent.
fn ensure_dir(dir: &Path) -> BackendResult<()> {
    // A relative repository path's parent is "": the working directory, which exists.
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(BackendError::io(format!("creating {}", dir.display()), e)),
    }
    if let Some(parent) = dir.parent() {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        sync_dir(parent).map_err(|e| BackendError::io(format!("syncing {}", parent.display()), e))?;
    }
    Ok(())
}

fn sync_parent(p: &Path) -> BackendResult<()> {
    let dir = p.parent().expect("names always have a parent");
    sync_dir(dir).map_err(|e| BackendError::io(format!("syncing {}", dir.display()), e))
}

impl Backend for LocalBackend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        let p = self.path(name)?;
        fs::read(&p).map_err(|e| BackendError::io(p.display().to_string(), e))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        let p = self.path(name)?;
        let shown = || p.display().to_string();
        let mut f = File::open(&p).map_err(|e| BackendError::io(shown(), e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| BackendError::io(shown(), e))?;
        let mut buf =
            vec![0u8; usize::try_from(len).map_err(|_| BackendError::Other(format!("{}: range too large", shown())))?];
        f.read_exact(&mut buf).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                BackendError::Short { name: shown(), needed: offset + len }
            } else {
                BackendError::io(shown(), e)
            }
        })?;
        Ok(buf)
    }

    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()> {
        let dest = self.path(name)?;
        let tmp = self.write_tmp(&dest, data)?;
        fs::rename(&tmp, &dest).map_err(|e| BackendError::io(format!("renaming into {}", dest.display()), e))?;
        sync_parent(&dest)
    }

    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool> {
        let dest = self.path(name)?;
        let tmp = self.write_tmp(&dest, data)?;
        // link() fails if the destination exists: an atomic create-if-absent.
        let res = fs::hard_link(&tmp, &dest);
        let _ = fs::remove_file(&tmp);
        match res {
            Ok(()) => sync_parent(&dest).map(|()| true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(BackendError::io(format!("creating {}", dest.display()), e)),
        }
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let base = self.path(dir)?;
        let mut stack = vec![(base, dir.to_string())];
        while let Some((p, rel)) = stack.pop() {
            let rd = match fs::read_dir(&p) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(BackendError::io(format!("listing {}", p.display()), e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| BackendError::io(format!("listing {}", p.display()), e))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    continue;
                }
                let ft = ent.file_type().map_err(|e| BackendError::io(ent.path().display().to_string(), e))?;
                let child = format!("{rel}/{name}");
                if ft.is_dir() {
                    stack.push((ent.path(), child));
                } else if ft.is_file() {
                    match ent.metadata() {
                        Ok(md) => out.push((child, md.len())),
                        // Removed since the directory was read.
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(BackendError::io(ent.path().display().to_string(), e)),
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn remove(&self, name: &str) -> BackendResult<()> {
        let p = self.path(name)?;
        match fs::remove_file(&p) {
            Ok(()) => sync_parent(&p),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BackendError::io(format!("removing {}", p.display()), e)),
        }
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    /// Temporaries of writers of this host that are gone go at once, all others once older
    /// than `age`.
    fn remove_stale_temporaries(&self, age: std::time::Duration) -> BackendResult<usize> {
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
                    && (tmp_of_gone_writer(&e.file_name().to_string_lossy())
                        || md.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|el| el >= age))
                {
                    match fs::remove_file(&p) {
                        Ok(()) => n += 1,
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(BackendError::io(format!("removing {}", p.display()), e)),
                    }
                }
            }
        }
        Ok(n)
    }
}
