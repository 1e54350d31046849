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
    /// Keys that cannot be paths as they are (`a//b`, `dir/`, `.`, `..`, a key that is
    /// also a prefix of other keys), by the escaped path they are stored under.
    escaped: BTreeMap<String, String>,
}

/// How a key segment that cannot be a file name is spelled in a path: `%` for an empty
/// segment, `%2E` and `%2E%2E` for `.` and `..`. The original key travels with the file
/// (the tree node's `key`), so a restore into S3 puts it back exactly.
fn escape_segment(c: &str) -> &str {
    match c {
        "" => "%",
        "." => "%2E",
        ".." => "%2E%2E",
        c => c,
    }
}

impl S3Tree {
    pub fn list(s3: Arc<S3>, url: S3Url) -> crate::backend::BackendResult<S3Tree> {
        let prefix = if url.prefix.is_empty() { String::new() } else { format!("{}/", url.prefix) };
        let mut objects = BTreeMap::new();
        let mut dirs = BTreeSet::from([String::new()]);
        let mut odd = vec![];
        let add_dirs = |dirs: &mut BTreeSet<String>, path: &str| {
            let mut p = path;
            while let Some(i) = p.rfind('/') {
                p = &p[..i];
                dirs.insert(p.to_string());
            }
        };
        for o in s3.retrying(|| s3.list_objects(&url.bucket, &prefix))? {
            let rel = o.key[prefix.len()..].to_string();
            if rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                odd.push((rel, o));
                continue;
            }
            add_dirs(&mut dirs, &rel);
            objects.insert(rel, o);
        }
        // A key that is also a "directory" of other keys (`same` and `same/child`).
        let shadowed: Vec<String> = objects.keys().filter(|k| dirs.contains(*k)).cloned().collect();
        for k in shadowed {
            let o = objects.remove(&k).expect("listed");
            odd.push((k, o));
        }
        let mut escaped = BTreeMap::new();
        for (rel, o) in odd {
            let mut path = rel.split('/').map(escape_segment).collect::<Vec<_>>().join("/");
            if !path.ends_with('%') && (dirs.contains(&path) || objects.contains_key(&path)) {
                path.push('%');
            }
            while dirs.contains(&path) || objects.contains_key(&path) {
                path.push('~');
            }
            add_dirs(&mut dirs, &path);
            escaped.insert(path.clone(), rel);
            objects.insert(path, o);
        }
        Ok(S3Tree { s3, url, objects, dirs, escaped })
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
                ctime_ns: 0,
                special: None,
                key: self.escaped.get(&rel).cloned(),
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
                ctime_ns: 0,
                special: None,
                key: None,
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
        let Some(o) = self.objects.get(&rel) else {
            return Err(not_found(&rel));
        };
        self.s3.open_listed(&self.url.bucket, &o.key, o.size, &o.etag).map_err(|e| {
            let kind = if e.is_not_found() { io::ErrorKind::NotFound } else { io::ErrorKind::Other };
            io::Error::new(kind, e)
        })
    }

    fn notices(&self) -> Vec<String> {
        self.escaped
            .iter()
            .map(|(path, key)| {
                format!("s3://{}/{}: stored as {path:?} (the key cannot be a path as it is); restores to S3 under its own key", self.url.bucket, self.url.key(key))
            })
            .collect()
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
