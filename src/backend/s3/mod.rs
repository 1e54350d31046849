//! S3 storage: a repository under `s3://bucket/prefix` ([`S3Backend`]), and the shared
//! client ([`S3`]) that S3 sources and restore targets use as well.

mod as_of;
mod client;
mod etag;

pub use as_of::AsOfBackend;
pub use client::{ObjectInfo, Put, S3Config, S3Url, Uploaded, DEFAULT_PART, S3};
pub use etag::part_size_of;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use super::{check_name, Backend, BackendError, BackendResult, Dated, Retention, Thawing, WriteOptions};

/// A repository (or restore target) under `s3://bucket/prefix`.
pub struct S3Backend {
    s3: Arc<S3>,
    url: S3Url,
    /// Send `If-None-Match: *` on creates; cleared when the server rejects the header.
    conditional: AtomicBool,
    /// The server implements RestoreObject; cleared at its first 501.
    restores: AtomicBool,
}

impl S3Backend {
    pub fn new(s3: Arc<S3>, url: S3Url) -> Self {
        S3Backend { s3, url, conditional: AtomicBool::new(true), restores: AtomicBool::new(true) }
    }

    pub fn s3(&self) -> &Arc<S3> {
        &self.s3
    }

    pub fn url(&self) -> &S3Url {
        &self.url
    }

    fn get(&self, name: &str, range: Option<(u64, u64)>) -> BackendResult<Vec<u8>> {
        check_name(name)?;
        self.s3.retrying(|| self.get_once(name, range))
    }

    fn get_once(&self, name: &str, range: Option<(u64, u64)>) -> BackendResult<Vec<u8>> {
        self.s3.get_bytes(&self.url.bucket, &self.url.key(name), range, None)
    }

    /// For each object: readable now (hot, or a finished restore) → nothing; cold →
    /// request a temporary copy (RestoreObject) unless one is already on its way. A server
    /// that answers RestoreObject with 501 (Ceph RGW, where a storage class is only a
    /// label) needs no thaw: its objects are read directly, and it is not asked again.
    fn request_restores(&self, names: &[String]) -> BackendResult<Thawing> {
        use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, StorageClass, Tier};
        let mut out = Thawing::default();
        for name in names {
            let key = self.url.key(name);
            let what = format!("s3://{}/{key}", self.url.bucket);
            let head = self
                .s3
                .block_on(self.s3.client.head_object().bucket(&self.url.bucket).key(&key).send())
                .map_err(|e| self.s3.explain(e, &what))?;
            let cold = matches!(head.storage_class(), Some(StorageClass::Glacier | StorageClass::DeepArchive));
            if !cold {
                continue;
            }
            if !self.restores.load(Relaxed) {
                out.read_directly.push(name.clone());
                continue;
            }
            match head.restore() {
                Some(r) if r.contains("ongoing-request=\"false\"") => continue, // restored copy available
                Some(_) => {}                                                   // restore running
                None => {
                    let params = GlacierJobParameters::builder()
                        .tier(Tier::Standard)
                        .build()
                        .map_err(|e| BackendError::Other(format!("{what}: {e}")))?;
                    let req = RestoreRequest::builder().days(2).glacier_job_parameters(params).build();
                    let sent = self.s3.block_on(
                        self.s3.client.restore_object().bucket(&self.url.bucket).key(&key).restore_request(req).send(),
                    );
                    match sent.map_err(|e| self.s3.explain(e, &format!("requesting restore of {what}"))) {
                        Ok(_) => {}
                        Err(BackendError::NotSupported { .. }) => {
                            self.restores.store(false, Relaxed);
                            out.read_directly.push(name.clone());
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            out.pending.push(name.clone());
        }
        Ok(out)
    }
}

impl Backend for S3Backend {
    fn read(&self, name: &str) -> BackendResult<Vec<u8>> {
        self.get(name, None)
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>> {
        self.get(name, Some((offset, len)))
    }

    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()> {
        self.write_with(name, data, &WriteOptions::default())
    }

    /// Repository files are created once under content-derived names: `If-None-Match: *`
    /// makes that explicit, and "already exists" (412) means the same bytes are there. A
    /// server that does not support the header (501) gets plain PUTs from then on.
    fn write_with(&self, name: &str, data: &[u8], opts: &WriteOptions) -> BackendResult<()> {
        check_name(name)?;
        let key = self.url.key(name);
        let put = |if_none_match| Put { if_none_match, class: opts.class, retention: opts.retention, part_size: None };
        let size = data.len() as u64;
        if self.conditional.load(Relaxed) {
            match self.s3.upload_with(&self.url.bucket, &key, size, data, &put(true)) {
                Ok(_) => return Ok(()),
                Err(BackendError::NotSupported { .. }) => self.conditional.store(false, Relaxed),
                Err(e) => return Err(e),
            }
        }
        self.s3.upload_with(&self.url.bucket, &key, size, data, &put(false)).map(|_| ())
    }

    fn create_new_with(&self, name: &str, data: &[u8], opts: &WriteOptions) -> BackendResult<bool> {
        check_name(name)?;
        match self.get(name, None) {
            Ok(_) => return Ok(false),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let put = Put { if_none_match: true, class: opts.class, retention: opts.retention, part_size: None };
        self.s3.upload_with(&self.url.bucket, &self.url.key(name), data.len() as u64, data, &put).map(|u| u.created)
    }

    fn check_object_lock(&self) -> BackendResult<()> {
        self.s3.check_object_lock(&self.url.bucket)
    }

    fn extend_retention(&self, name: &str, to: &Retention) -> BackendResult<()> {
        check_name(name)?;
        let key = self.url.key(name);
        self.s3.retrying(|| self.s3.put_retention(&self.url.bucket, &key, to))
    }

    fn lock_until(&self, name: &str) -> BackendResult<Option<time::OffsetDateTime>> {
        check_name(name)?;
        let key = self.url.key(name);
        let what = format!("s3://{}/{key}", self.url.bucket);
        let head = self.s3.retrying(|| {
            self.s3
                .block_on(self.s3.client.head_object().bucket(&self.url.bucket).key(&key).send())
                .map_err(|e| self.s3.explain(e, &what))
        })?;
        Ok(head.object_lock_retain_until_date().and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.secs()).ok()))
    }

    fn list_dated(&self, dir: &str) -> BackendResult<Vec<Dated>> {
        let base = self.url.key(dir);
        let strip = self.url.strip_len();
        let listed = self.s3.retrying(|| self.s3.list_objects(&self.url.bucket, &format!("{base}/")))?;
        let mut v: Vec<Dated> = listed
            .into_iter()
            .map(|o| Dated {
                name: o.key[strip..].to_string(),
                size: o.size,
                modified: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(o.mtime_ns))
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn prepare_read(&self, names: &[String]) -> BackendResult<Thawing> {
        self.request_restores(names)
    }

    /// A probe object written in `class` and removed again: RGW rejects a class its
    /// placement does not declare with a bare 400, which here becomes a sentence.
    fn probe_storage_class(&self, class: &str) -> BackendResult<()> {
        let mut r = [0u8; 8];
        getrandom::getrandom(&mut r).map_err(|e| BackendError::Other(format!("the OS random source failed: {e}")))?;
        let name = format!("cellar-probe-{}", hex::encode(r));
        let key = self.url.key(&name);
        match self.s3.upload(&self.url.bucket, &key, 0, &b""[..], false, Some(class)) {
            Ok(_) => self.remove(&name),
            Err(BackendError::Rejected { detail, .. }) => {
                Err(BackendError::Rejected {
                    what: format!("storage class {class:?}"),
                    detail: format!(
                        "{} does not offer it ({detail}); on Ceph RGW a class must be declared in the zonegroup and zone placement first",
                        self.s3.endpoint()
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `If-None-Match: *` where the server supports it; servers that ignore the header
    /// fall back to a check-then-write, which is only racy between two `init`s.
    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool> {
        self.create_new_with(name, data, &WriteOptions::default())
    }

    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>> {
        let base = self.url.key(dir);
        let strip = self.url.strip_len();
        let mut v: Vec<(String, u64)> = self
            .s3
            .retrying(|| self.s3.list_objects(&self.url.bucket, &format!("{base}/")))?
            .into_iter()
            .map(|o| (o.key[strip..].to_string(), o.size))
            .collect();
        v.sort();
        Ok(v)
    }

    fn remove(&self, name: &str) -> BackendResult<()> {
        check_name(name)?;
        let key = self.url.key(name);
        let what = format!("deleting s3://{}/{key}", self.url.bucket);
        self.s3
            .block_on(self.s3.client.delete_object().bucket(&self.url.bucket).key(&key).send())
            .map_err(|e| self.s3.explain(e, &what))?;
        Ok(())
    }

    fn location(&self) -> String {
        self.url.to_string()
    }
}
