//! Local directories and files.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{SourceEntry, SourceTree};
use crate::repo::file::tree::NodeKind;

/// The local file system; paths are absolute or relative to the working directory.
pub struct LocalTree;

impl SourceTree for LocalTree {
    fn stat(&self, path: &Path, name: &[u8]) -> io::Result<SourceEntry> {
        stat(path, name)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf)>> {
        read_dir_sorted(path)
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
        Ok(Box::new(fs::File::open(path)?))
    }

    fn display(&self, path: &Path) -> String {
        path.display().to_string()
    }

    fn changed(&self, path: &Path, before: &SourceEntry) -> bool {
        stat(path, &before.name).map_or(true, |now| {
            (now.size, now.mtime_ns, now.ctime_ns) != (before.size, before.mtime_ns, before.ctime_ns)
        })
    }
}

/// Entry names of a directory, sorted by their bytes (the order trees are stored in).
pub fn read_dir_sorted(dir: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf)>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        v.push((e.file_name().as_bytes().to_vec(), e.path()));
    }
    v.sort();
    Ok(v)
}

/// Describe a path without following a final symlink.
pub fn stat(path: &Path, name: &[u8]) -> io::Result<SourceEntry> {
    let md = fs::symlink_metadata(path)?;
    let ft = md.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_file() {
        Some(NodeKind::File)
    } else if ft.is_dir() {
        Some(NodeKind::Dir)
    } else if ft.is_symlink() {
        Some(NodeKind::Symlink)
    } else {
        None
    };
    let special = if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() {
        Some("block device")
    } else if ft.is_char_device() {
        Some("character device")
    } else {
        kind.is_none().then_some("special file")
    };
    let target = if ft.is_symlink() { Some(fs::read_link(path)?.as_os_str().as_bytes().to_vec()) } else { None };
    Ok(SourceEntry {
        name: name.to_vec(),
        kind,
        size: if ft.is_file() { md.len() } else { 0 },
        mtime_ns: md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec()),
        mode: md.mode() & 0o7777,
        target,
        etag: None,
        ctime_ns: md.ctime().saturating_mul(1_000_000_000).saturating_add(md.ctime_nsec()),
        special,
        key: None,
    })
}

/// The name a source gets at the top of a snapshot: its last path component.
pub fn top_name(path: &Path) -> Option<Vec<u8>> {
    path.file_name().map(|n: &OsStr| n.as_bytes().to_vec())
}
