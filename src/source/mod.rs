//! Where objects come from: a local directory tree, an S3 bucket (listed once, then served
//! as a tree of key prefixes), or standard input. The backup walker sees only
//! [`SourceTree`], so every layout rule works the same on disk and in a bucket.

pub mod local;
pub mod s3;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::repo::tree::NodeKind;

/// One object or directory as the source describes it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub name: Vec<u8>,
    /// `None` for things cellar does not archive (sockets, devices, FIFOs).
    pub kind: Option<NodeKind>,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
    pub target: Option<Vec<u8>>,
    /// S3 ETag: with the size, what tells an unchanged object (objects are immutable).
    pub etag: Option<String>,
}

/// A tree of named objects. Paths are relative to the source's root (`""` is the root).
pub trait SourceTree: Send + Sync {
    fn stat(&self, path: &Path, name: &[u8]) -> io::Result<SourceEntry>;
    /// Entry names and their paths, sorted by name bytes.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf)>>;
    fn open(&self, path: &Path) -> io::Result<Box<dyn Read + Send>>;
    /// For messages: the full location of a path.
    fn display(&self, path: &Path) -> String;

    fn is_dir(&self, path: &Path) -> bool {
        self.stat(path, b"").is_ok_and(|e| e.kind == Some(NodeKind::Dir))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut v = vec![];
        self.open(path)?.read_to_end(&mut v)?;
        Ok(v)
    }
}

/// A single object read from standard input (`pg_dump | cellar backup --stdin`).
pub struct StdinSource {
    pub name: String,
    pub reader: Box<dyn Read + Send>,
}
