//! An S3 bucket (or prefix) as a source tree. The bucket is listed once, at the start of
//! the backup (ListObjectsV2, paginated): that listing decides which blocks and objects the
//! snapshot can hold, and objects are then streamed one by one with GET.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{SourceEntry, SourceTree};
use crate::backend::s3::{ObjectInfo, S3Url, S3};
use crate::repo::file::tree::NodeKind;

pub struct S3Tree {
    s3: Arc<S3>,
    url: S3Url,
    /// Objects by path relative to the prefix.
    objects: BTreeMap<String, ObjectInfo>,
    /// Every directory (key prefix) that holds something; `""` is the root.
    dirs: BTreeSet<String>,
    /// Listed keys that cannot be stored as paths, with the reason.
    skipped: Vec<String>,
}

impl S3Tree {
    pub fn list(s3: Arc<S3>, url: S3Url) -> crate::backend::BackendResult<S3Tree> {
        let prefix = if url.prefix.is_empty() { String::new() } else { format!("{}/", url.prefix) };
        let mut objects = BTreeMap::new();
        let mut dirs = BTreeSet::from([String::new()]);
        let mut skipped = vec![];
        for o in s3.list_objects(&url.bucket, &prefix)? {
            let rel = o.key[prefix.len()..].to_string();
            // Keys that cannot be file names ("a//b", "x/", "..") cannot be archived as paths.
            if rel.is_empty() || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                skipped.push(format!(
                    "s3://{}/{}: not stored: the key has an empty, \".\" or \"..\" path segment",
                    url.bucket, o.key
                ));
                continue;
            }
            let mut p = rel.as_str();
            while let Some(i) = p.rfind('/') {
                p = &p[..i];
                dirs.insert(p.to_string());
            }
            objects.insert(rel, o);
        }
        Ok(S3Tree { s3, url, objects, dirs, skipped })
    }

    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    fn rel(path: &Path) -> String {
        path.to_string_lossy().trim_matches('/').to_string()
    }
}

fn not_found(p: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{p}: not in the bucket listing"))
}

impl SourceTree for S3Tree {
    fn stat(&self, path: &Path, name: &[u8]) -> io::Result<SourceEntry> {
        let rel = Self::rel(path);
        if let Some(o) = self.objects.get(&rel) {
            return Ok(SourceEntry {
                name: name.to_vec(),
                kind: Some(NodeKind::File),
                size: o.size,
                mtime_ns: o.mtime_ns,
                mode: 0o644,
                target: None,
                etag: Some(o.etag.clone()),
            });
        }
        if self.dirs.contains(&rel) {
            return Ok(SourceEntry {
                name: name.to_vec(),
                kind: Some(NodeKind::Dir),
                size: 0,
                mtime_ns: 0,
                mode: 0o755,
                target: None,
                etag: None,
            });
        }
        Err(not_found(&rel))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, PathBuf)>> {
        let rel = Self::rel(path);
        if !self.dirs.contains(&rel) {
            return Err(not_found(&rel));
        }
        let start = if rel.is_empty() { String::new() } else { format!("{rel}/") };
        let mut names = BTreeSet::new();
        for k in self.objects.range(start.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&start)) {
            names.insert(k[start.len()..].split('/').next().unwrap_or_default().to_string());
        }
        for d in self.dirs.range(start.clone()..).take_while(|k| k.starts_with(&start)) {
            if d.len() > start.len() {
                names.insert(d[start.len()..].split('/').next().unwrap_or_default().to_string());
            }
        }
        Ok(names.into_iter().map(|n| (n.clone().into_bytes(), PathBuf::from(format!("{start}{n}")))).collect())
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn io::Read + Send>> {
        let rel = Self::rel(path);
        if !self.objects.contains_key(&rel) {
            return Err(not_found(&rel));
        }
        let key = self.url.key(&rel);
        self.s3.open(&self.url.bucket, &key).map_err(|e| {
            let kind = if e.is_not_found() { io::ErrorKind::NotFound } else { io::ErrorKind::Other };
            io::Error::new(kind, e)
        })
    }

    fn skipped(&self) -> Vec<String> {
        self.skipped.clone()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn display(&self, path: &Path) -> String {
        let rel = Self::rel(path);
        if rel.is_empty() {
            self.url.to_string()
        } else {
            format!("s3://{}/{}", self.url.bucket, self.url.key(&rel))
        }
    }
}
