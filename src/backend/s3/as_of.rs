//! A repository as it was at a past time, read from the object versions of a versioned
//! bucket (and kept there by Object Lock): after someone with the S3 keys deleted or
//! overwrote the repository's files, `--as-of TIME` opens what was current at TIME, so
//! snapshots can be listed, checked and restored from what the bucket preserved.
//! Read-only: every write is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::client::{S3Url, S3};
use crate::backend::{check_name, Backend, BackendError, BackendResult};

/// The repository under `url` as of `at_ms` (milliseconds since the epoch).
pub struct AsOfBackend {
    s3: Arc<S3>,
    url: S3Url,
    at_ms: i64,
    /// Store name → (version id, size) of the version current at `at_ms`.
    files: BTreeMap<String, (String, u64)>,
}

impl AsOfBackend {
    /// List the versions under the repository's prefix once and keep, per key, the newest
    /// version written at or before `at_ms`; a key whose newest entry then is a delete
    /// marker, or that did not exist yet, is absent.
    pub fn open(s3: Arc<S3>, url: S3Url, at_ms: i64) -> BackendResult<AsOfBackend> {
        let listed = s3.list_versions(&url.bucket, &url.prefix)?;
        let strip = url.strip_len();
        let mut newest: BTreeMap<String, (i64, Option<(String, u64)>)> = BTreeMap::new();
        for v in listed {
            if v.modified_ms > at_ms || v.key.len() <= strip {
                continue;
            }
            let name = v.key[strip..].to_string();
            let entry = v.size.map(|size| (v.version_id, size));
            match newest.get(&name) {
                // Servers list the versions of a key newest first; of two entries in the
                // same millisecond the first listed wins.
                Some((t, _)) if *t >= v.modified_ms => {}
                _ => {
                    newest.insert(name, (v.modified_ms, entry));
                }
            }
        }
        let files = newest.into_iter().filter_map(|(name, (_, e))| e.map(|e| (name, e))).collect();
        Ok(AsOfBackend { s3, url, at_ms, files })
    }

    fn version(&self, name: &str) -> BackendResult<&str> {
        check_name(name)?;
        self.files.get(name).map(|(v, _)| v.as_str()).ok_or_else(|| BackendError::NotFound { name: self.shown(name) })
    }

    fn shown(&self, name: &str) -> String {
        format!("s3://{}/{} as of {}", self.url.bucket, self.url.key(name), self.at())
    }

    fn at(&self) -> String {
        jiff::Timestamp::from_millisecond(self.at_ms).map_or_else(|_| self.at_ms.to_string(), |t| t.to_string())
    }

    fn refuse(&self, name: &str) -> BackendError {
        BackendError::ReadOnly { what: format!("writing {}", self.shown(name)) }
    }
}

impl Backend for AsOfBackend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        let v = self.version(name)?;
        let key = self.url.key(name);
        self.s3.retrying(|| self.s3.get_bytes(&self.url.bucket, &key, None, Some(v)))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        let v = self.version(name)?;
        let key = self.url.key(name);
        self.s3.retrying(|| self.s3.get_bytes(&self.url.bucket, &key, Some((offset, len)), Some(v)))
    }

    fn write(&self, name: &str, _data: &[u8]) -> BackendResult<()> {
        Err(self.refuse(name))
    }

    fn create_new(&self, name: &str, _data: &[u8]) -> BackendResult<bool> {
        Err(self.refuse(name))
    }

    fn write_with(&self, name: &str, _data: &[u8], _opts: &crate::backend::WriteOptions) -> BackendResult<()> {
        Err(self.refuse(name))
    }

    fn create_new_with(&self, name: &str, _data: &[u8], _opts: &crate::backend::WriteOptions) -> BackendResult<bool> {
        Err(self.refuse(name))
    }

    fn extend_retention(&self, name: &str, _to: &crate::backend::Retention) -> BackendResult<()> {
        Err(self.refuse(name))
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        let under = format!("{dir}/");
        Ok(self
            .files
            .range(under.clone()..)
            .take_while(|(n, _)| n.starts_with(&under))
            .map(|(n, (_, s))| (n.clone(), *s))
            .collect())
    }

    fn remove(&self, name: &str) -> BackendResult<()> {
        Err(BackendError::ReadOnly { what: format!("deleting {}", self.shown(name)) })
    }

    fn location(&self) -> String {
        format!("{} as of {}", self.url, self.at())
    }

    fn read_only(&self) -> bool {
        true
    }
}
