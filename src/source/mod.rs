//! Where objects come from: a local directory tree, an S3 bucket (listed once, then served
//! as a tree of key prefixes), or standard input. The backup walker sees only
//! [`SourceTree`], so every layout rule works the same on disk and in a bucket.

pub mod local;
pub mod s3;

use anyhow::Context;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::s3::{S3Url, S3};

use crate::repo::file::tree::NodeKind;

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
    /// Inode change time (local files): with size and mtime, what tells that a file was
    /// rewritten while it was read, even at the same size and with its mtime reset.
    pub ctime_ns: i64,
    /// For entries cellar does not archive (`kind` is `None`): what they are.
    pub special: Option<&'static str>,
    /// The object's key (relative to the source) when its path had to be escaped.
    pub key: Option<String>,
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

    /// Objects the source lists but cannot offer, one message each (they are reported,
    /// never silently left out; the backup exits 3).
    fn skipped(&self) -> Vec<String> {
        vec![]
    }

    /// Things about the listing a user should hear (objects stored under escaped names).
    fn notices(&self) -> Vec<String> {
        vec![]
    }

    /// Reads wait on the network (more readers in parallel pay off).
    fn is_remote(&self) -> bool {
        false
    }

    /// Whether the object at `path` is no longer what `before` described (size, mtime,
    /// ctime): it changed while it was being read. Sources whose reads see one version
    /// of an object (S3: one GET, resumed pinned to its ETag) never change under a reader.
    fn changed(&self, _path: &Path, _before: &SourceEntry) -> bool {
        false
    }
}

/// One source of a backup, resolved: what it is stored as at the snapshot's top, what the
/// snapshot records it as, and where its bytes come from.
pub struct Source {
    /// Name of its entry at the top of the snapshot (`/data/mimir` → `mimir`).
    pub name: Vec<u8>,
    /// As recorded in the snapshot's `sources`: an absolute path, an `s3://` URL, or
    /// `stdin:NAME`. With the host, it selects the next backup's parent.
    pub label: String,
    pub input: Input,
}

pub enum Input {
    /// A file or directory of a tree (local directory, S3 bucket listing).
    Tree { tree: Arc<dyn SourceTree>, path: PathBuf },
    /// One object read from a stream (`pg_dump | cellar backup --stdin`).
    Reader(Box<dyn Read + Send>),
}

impl Source {
    /// A local file or directory, stored under its last path component.
    pub fn local(path: &Path) -> anyhow::Result<Source> {
        let abs = std::path::absolute(path).with_context(|| format!("source {}", path.display()))?;
        std::fs::symlink_metadata(&abs).with_context(|| format!("source {} cannot be read", path.display()))?;
        let name = local::top_name(&abs)
            .ok_or_else(|| anyhow::anyhow!("source {} has no name to store it under", path.display()))?;
        Ok(Source {
            name,
            label: abs.display().to_string(),
            input: Input::Tree { tree: Arc::new(local::LocalTree), path: abs },
        })
    }

    /// An S3 bucket or prefix, listed now, stored under the prefix's last component (or
    /// the bucket's name).
    pub fn s3(s3: Arc<S3>, url: S3Url) -> anyhow::Result<Source> {
        let tree = s3::S3Tree::list(s3, url.clone()).with_context(|| format!("source {url}"))?;
        let name = url.prefix.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&url.bucket).as_bytes().to_vec();
        Ok(Source { name, label: url.to_string(), input: Input::Tree { tree: Arc::new(tree), path: PathBuf::new() } })
    }

    /// One object from a stream, stored as `name`.
    pub fn reader(name: &str, reader: Box<dyn Read + Send>) -> anyhow::Result<Source> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            anyhow::bail!("--stdin-name {name:?} must be a plain file name");
        }
        Ok(Source { name: name.as_bytes().to_vec(), label: format!("stdin:{name}"), input: Input::Reader(reader) })
    }

    /// A location as the user gives it: a path, `s3://BUCKET/PREFIX` or `remote:NAME`.
    pub fn resolve(
        spec: &str,
        s3: &crate::backend::s3::S3Config,
        cfg: &crate::userconfig::UserConfig,
    ) -> anyhow::Result<Source> {
        match crate::location::resolve(spec, s3, cfg)? {
            crate::location::Location::S3(url, cfg) => Source::s3(S3::connect(&cfg)?, url),
            crate::location::Location::Local(p) => Source::local(&p),
        }
    }
}
