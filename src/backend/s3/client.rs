//! The S3 client that repositories, sources and restore targets share. aws-sdk-s3 runs on
//! a private tokio runtime; the rest of cellar stays synchronous and calls in through
//! `block_on`, so CPU stages never run on the I/O runtime.
//!
//! Every request is retried by the SDK's standard retry strategy (exponential backoff with
//! jitter on 5xx, `SlowDown`/throttling, timeouts and connection errors); what still fails
//! is classified into a [`BackendError`].

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{BackendError, BackendResult};

/// Where and how to reach S3. Everything else (credentials, region, profile) comes from the
/// standard AWS environment variables and shared config files.
#[derive(Clone, Default)]
pub struct S3Config {
    /// Overrides `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Force path-style addressing (`http://host/bucket/key`). Used automatically for IP
    /// address and localhost endpoints, which cannot do virtual-hosted style.
    pub path_style: bool,
    /// Static credentials (from a remote's credentials file); else the AWS default chain.
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub region: Option<String>,
}

impl std::fmt::Debug for S3Config {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// `s3://bucket/prefix` split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl S3Url {
    pub fn parse(s: &str) -> Option<S3Url> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Url { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() })
    }

    /// Bytes of a listed key before the store's name: the prefix and its slash.
    pub fn strip_len(&self) -> usize {
        if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        }
    }

    /// The object key of `name` below the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A connected S3 client with its own runtime.
pub struct S3 {
    rt: tokio::runtime::Runtime,
    pub client: Client,
    endpoint: String,
}

/// What an HTTP status means, for errors whose server sent no message.
fn status_meaning(status: u16) -> String {
    match status {
        400 => "the server refused the request as invalid (for a storage class: the endpoint does not offer it)",
        403 => "access denied",
        404 => "not found",
        405 => "method not allowed by this server",
        409 => "conflict with the object's current state",
        412 => "a precondition failed (the object exists or changed)",
        416 => "the requested range is outside the object",
        429 | 503 => "the server is overloaded (throttling)",
        500 => "internal server error",
        501 => "not implemented by this server",
        _ => "no message from the server",
    }
    .to_string()
}

fn is_local_or_ip(endpoint: &str) -> bool {
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
}

impl S3 {
    pub fn connect(cfg: &S3Config) -> BackendResult<Arc<S3>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cellar-s3")
            .enable_all()
            .build()
            .map_err(|e| BackendError::io("starting the S3 runtime", e))?;
        let shared = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .retry_config(
                    aws_config::retry::RetryConfig::standard()
                        .with_max_attempts(8)
                        .with_initial_backoff(Duration::from_millis(200))
                        .with_max_backoff(Duration::from_secs(2)),
                )
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(10))
                        .operation_attempt_timeout(Duration::from_mins(5))
                        .build(),
                )
                .load(),
        );
        let mut b = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(r) = &cfg.region {
            b = b.region(aws_sdk_s3::config::Region::new(r.clone()));
        } else if shared.region().is_none() {
            b = b.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        if let (Some(k), Some(s)) = (&cfg.access_key, &cfg.secret_key) {
            b = b.credentials_provider(aws_sdk_s3::config::Credentials::new(k, s, None, None, "cellar-remote"));
        }
        let endpoint = cfg
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(e) = &cfg.endpoint {
            b = b.endpoint_url(e);
        }
        let path_style = cfg.path_style || endpoint.as_deref().is_some_and(is_local_or_ip);
        b = b.force_path_style(path_style);
        let client = Client::from_conf(b.build());
        Ok(Arc::new(S3 { rt, client, endpoint: endpoint.unwrap_or_else(|| "AWS S3".into()) }))
    }

    /// Run `f` again when it fails in a way the SDK does not retry itself: a body cut
    /// short after good headers, a reset while streaming. Exponential backoff with jitter.
    pub fn retrying<T>(&self, mut f: impl FnMut() -> BackendResult<T>) -> BackendResult<T> {
        let mut attempt = 0;
        loop {
            match f() {
                Err(BackendError::Transient { .. } | BackendError::Short { .. }) if attempt < 5 => {
                    let mut r = [0u8; 2];
                    let _ = getrandom::getrandom(&mut r);
                    let jitter = u64::from(u16::from_le_bytes(r) % 100);
                    std::thread::sleep(Duration::from_millis((100 << attempt) + jitter));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The endpoint requests go to, for messages.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Classify a failed request into a [`BackendError`] with one clear line: by the S3
    /// error code, else by the HTTP status (servers such as Ceph RGW often send no message,
    /// so the status is explained instead of printing an empty string).
    pub fn explain<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        e: SdkError<E>,
        what: &str,
    ) -> BackendError {
        let what = what.to_string();
        let server = self.endpoint.clone();
        match &e {
            // Not the network: the request could not be sent, most often for want of
            // credentials (the SDK resolves them just before sending).
            SdkError::DispatchFailure(d) if !d.is_io() && !d.is_timeout() => {
                let chain = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                if chain.contains("credentials") {
                    BackendError::Other(format!(
                        "{what}: no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or \
                         AWS_PROFILE, or use a remote:NAME from `cellar import-dop`)"
                    ))
                } else {
                    BackendError::Transient { what, detail: chain }
                }
            }
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_timeout() { "timed out" } else { "failed" };
                BackendError::Transient {
                    what,
                    detail: format!("connecting to {server} {kind} (is the endpoint right and reachable?)"),
                }
            }
            SdkError::TimeoutError(_) => BackendError::Transient { what, detail: format!("{server} did not answer in time") },
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = e.code().unwrap_or("").to_string();
                let message = e.message().filter(|m| !m.is_empty()).map_or_else(|| status_meaning(status), str::to_string);
                let detail = if code.is_empty() {
                    format!("HTTP {status}: {message}")
                } else {
                    format!("{code} (HTTP {status}): {message}")
                };
                match code.as_str() {
                    "NoSuchKey" | "NotFound" => BackendError::NotFound { name: what },
                    "NoSuchBucket" => BackendError::NoSuchBucket { what },
                    "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "InvalidToken" | "ExpiredToken" => {
                        BackendError::AccessDenied { what, server, detail: format!("{detail}; check the credentials") }
                    }
                    "NotImplemented" => BackendError::NotSupported { what, server },
                    "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => {
                        BackendError::Transient { what, detail }
                    }
                    _ => match status {
                        404 => BackendError::NotFound { name: what },
                        403 => BackendError::AccessDenied { what, server, detail },
                        501 => BackendError::NotSupported { what, server },
                        500..=599 | 429 => BackendError::Transient { what, detail },
                        _ => BackendError::Rejected { what, detail },
                    },
                }
            }
            SdkError::ConstructionFailure(_) => BackendError::Other(format!(
                "{what}: cannot build the request (are credentials configured? AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
            )),
            _ => BackendError::Transient {
                what,
                detail: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            },
        }
    }

    /// An object's bytes (`range`: offset and length), of its current version or of
    /// `version`. A ranged read that comes back short is [`BackendError::Short`].
    pub fn get_bytes(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
        version: Option<&str>,
    ) -> BackendResult<Vec<u8>> {
        let what = format!("s3://{bucket}/{key}");
        let mut req = self.client.get_object().bucket(bucket).key(key).set_version_id(version.map(str::to_string));
        if let Some((off, len)) = range {
            if len == 0 {
                return Ok(vec![]);
            }
            req = req.range(format!("bytes={}-{}", off, off + len - 1));
        }
        let data = self.block_on(async {
            let resp = req.send().await.map_err(|e| self.explain(e, &what))?;
            let b = resp.body.collect().await.map_err(|e| BackendError::Transient {
                what: what.clone(),
                detail: format!("reading the body: {e}"),
            })?;
            Ok::<_, BackendError>(b.into_bytes().to_vec())
        })?;
        if let Some((off, len)) = range {
            if data.len() as u64 != len {
                return Err(BackendError::Short { name: what, needed: off + len });
            }
        }
        Ok(data)
    }

    /// Every version and delete marker under `prefix` (paginated), in the order the
    /// server lists them.
    pub fn list_versions(&self, bucket: &str, prefix: &str) -> BackendResult<Vec<ObjectVersion>> {
        let what = format!("listing the object versions of s3://{bucket}/{prefix}");
        let mut out = vec![];
        let ms = |t: Option<&aws_smithy_types::DateTime>| {
            t.map_or(0, |t| t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000))
        };
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .block_on(
                    self.client
                        .list_object_versions()
                        .bucket(bucket)
                        .prefix(prefix)
                        .set_key_marker(key_marker.take())
                        .set_version_id_marker(version_marker.take())
                        .send(),
                )
                .map_err(|e| self.explain(e, &what))?;
            for v in page.versions() {
                out.push(ObjectVersion {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    modified_ms: ms(v.last_modified()),
                    size: Some(v.size().unwrap_or(0) as u64),
                });
            }
            for d in page.delete_markers() {
                out.push(ObjectVersion {
                    key: d.key().unwrap_or_default().to_string(),
                    version_id: d.version_id().unwrap_or("null").to_string(),
                    modified_ms: ms(d.last_modified()),
                    size: None,
                });
            }
            if page.is_truncated() != Some(true) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                return Err(BackendError::Other(format!("{what}: a truncated page without a next marker")));
            }
        }
    }

    /// List every object under `prefix` (paginated): (key, size, etag, last modified ns).
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> BackendResult<Vec<ObjectInfo>> {
        let mut out = vec![];
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        let what = format!("listing s3://{bucket}/{prefix}");
        self.block_on(async {
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.explain(e, &what))?;
                for o in page.contents() {
                    out.push(ObjectInfo {
                        key: o.key().unwrap_or_default().to_string(),
                        size: o.size().unwrap_or(0) as u64,
                        etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                        mtime_ns: o
                            .last_modified()
                            .map_or(0, |t| t.secs() * 1_000_000_000 + i64::from(t.subsec_nanos())),
                    });
                }
            }
            Ok::<_, BackendError>(())
        })?;
        Ok(out)
    }

    /// Stream an object's bytes (a blocking reader over the async body). A body that
    /// breaks off is resumed with a ranged GET from where it stopped, pinned to the same
    /// ETag, so a reset connection costs only the rest of the object and a replaced object
    /// is detected instead of mixed.
    pub fn open(self: &Arc<Self>, bucket: &str, key: &str) -> BackendResult<Box<dyn Read + Send>> {
        let what = format!("reading s3://{bucket}/{key}");
        let resp = self
            .block_on(self.client.get_object().bucket(bucket).key(key).send())
            .map_err(|e| self.explain(e, &what))?;
        let etag = resp.e_tag().map(str::to_string);
        Ok(Box::new(BodyReader {
            s3: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag,
            offset: 0,
            resumes: 0,
            body: resp.body,
            buf: bytes::Bytes::new(),
        }))
    }

    /// [`open`](Self::open) for an object whose size and ETag a listing gave: one above
    /// [`PARALLEL_MIN`] is fetched as [`RANGE`]-sized ranged GETs, [`RANGES_IN_FLIGHT`] at
    /// once (one connection's throughput is far below a server's), each pinned to the
    /// listed ETag with `If-Match`, so an object replaced since the listing fails the read
    /// instead of mixing two versions.
    pub fn open_listed(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        size: u64,
        etag: &str,
    ) -> BackendResult<Box<dyn Read + Send>> {
        if size < PARALLEL_MIN || etag.is_empty() {
            return self.open(bucket, key);
        }
        Ok(Box::new(RangesReader {
            s3: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: format!("\"{}\"", etag.trim_matches('"')),
            size,
            next: 0,
            in_flight: std::collections::VecDeque::new(),
            buf: bytes::Bytes::new(),
        }))
    }

    /// One ranged GET, pinned to `etag`, retried like [`retrying`](Self::retrying).
    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        start: u64,
        len: u64,
    ) -> BackendResult<bytes::Bytes> {
        let what = format!("reading s3://{bucket}/{key} at byte {start}");
        let mut attempt = 0;
        loop {
            let req = self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .if_match(etag)
                .range(format!("bytes={start}-{}", start + len - 1));
            let got = match req.send().await {
                Ok(resp) => match resp.body.collect().await.map(aws_sdk_s3::primitives::AggregatedBytes::into_bytes) {
                    Ok(b) if b.len() as u64 == len => Ok(b),
                    Ok(_) => Err(BackendError::Short { name: what.clone(), needed: start + len }),
                    Err(e) => {
                        Err(BackendError::Transient { what: what.clone(), detail: format!("reading the body: {e}") })
                    }
                },
                Err(e) => Err(self.explain(e, &what)),
            };
            match got {
                Err(BackendError::Transient { .. } | BackendError::Short { .. }) if attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Upload from a reader of known size: one PUT up to 64 MiB, multipart above. With
    /// `if_none_match`, returns false when the key existed already (HTTP 412) and nothing
    /// was written.
    pub fn upload(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        r: impl Read,
        if_none_match: bool,
        class: Option<&str>,
    ) -> BackendResult<bool> {
        let put = Put { if_none_match, class, ..Put::default() };
        self.upload_with(bucket, key, size, r, &put).map(|u| u.created)
    }

    /// [`upload`](Self::upload) with every option, returning the new object's ETag.
    pub fn upload_with(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        mut r: impl Read,
        put: &Put,
    ) -> BackendResult<Uploaded> {
        let class = put.class.map(aws_sdk_s3::types::StorageClass::from);
        let (lock_mode, lock_until) = match &put.retention {
            Some(r) => (Some(object_lock_mode(r.mode)), Some(smithy_time(r.until))),
            None => (None, None),
        };
        let what = format!("writing s3://{bucket}/{key}");
        let not_created = Uploaded { created: false, etag: None };
        if put.part_size.is_none() && size <= DEFAULT_PART {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            r.read_to_end(&mut data).map_err(|e| BackendError::io(what.clone(), e))?;
            let mut req = self
                .client
                .put_object()
                .bucket(bucket)
                .key(key)
                .set_storage_class(class)
                .set_object_lock_mode(lock_mode)
                .set_object_lock_retain_until_date(lock_until)
                .body(ByteStream::from(data));
            if put.if_none_match {
                req = req.if_none_match("*");
            }
            return match self.block_on(req.send()) {
                Ok(o) => Ok(Uploaded { created: true, etag: o.e_tag().and_then(unquoted) }),
                Err(e) if put.if_none_match && precondition_failed(&e) => Ok(not_created),
                Err(e) => Err(self.explain(e, &what)),
            };
        }
        let part = put.part_size.unwrap_or(DEFAULT_PART).max(1);
        let up = self
            .block_on(
                self.client
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .set_storage_class(class)
                    .set_object_lock_mode(lock_mode)
                    .set_object_lock_retain_until_date(lock_until)
                    .send(),
            )
            .map_err(|e| self.explain(e, &what))?;
        let upload_id = up.upload_id().unwrap_or_default().to_string();
        let result = (|| -> BackendResult<Uploaded> {
            let mut parts = vec![];
            for n in 1.. {
                let mut chunk = Vec::with_capacity(usize::try_from(part.min(size)).unwrap_or(0));
                (&mut r).take(part).read_to_end(&mut chunk).map_err(|e| BackendError::io(what.clone(), e))?;
                if chunk.is_empty() && n > 1 {
                    break;
                }
                let last = (chunk.len() as u64) < part;
                let p = self
                    .block_on(
                        self.client
                            .upload_part()
                            .bucket(bucket)
                            .key(key)
                            .upload_id(&upload_id)
                            .part_number(n)
                            .body(ByteStream::from(chunk))
                            .send(),
                    )
                    .map_err(|e| self.explain(e, &what))?;
                parts.push(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(p.e_tag().map(str::to_string))
                        .build(),
                );
                if last {
                    break;
                }
            }
            let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
            let mut req = self
                .client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(done);
            if put.if_none_match {
                req = req.if_none_match("*");
            }
            match self.block_on(req.send()) {
                // Ceph RGW 16 answers with an empty <ETag>.
                Ok(o) => Ok(Uploaded { created: true, etag: o.e_tag().and_then(unquoted) }),
                // The key existed: nothing was created (the parts are discarded below).
                // (RGW 16 ignores the header here and replaces the object: format-spec §1.)
                Err(e) if put.if_none_match && precondition_failed(&e) => Ok(not_created),
                // A success whose body the SDK cannot parse (moto names the XML root
                // `…Response` instead of `…Result`): believe it only if the object is there
                // with the right size. (A 200 carrying an `<Error>` body is a failure.)
                Err(e) if unparsed_success(&e) && self.has_size(bucket, key, size) => {
                    Ok(Uploaded { created: true, etag: None })
                }
                Err(e) => Err(self.explain(e, &what)),
            }
        })();
        if !matches!(result, Ok(Uploaded { created: true, .. })) {
            // Nothing half-written stays visible or billed.
            let _ = self
                .block_on(self.client.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send());
        }
        result
    }

    /// Whether locked writes to `bucket` protect anything: Object Lock must be enabled on
    /// it. That also means versioning is on: S3 enables it with Object Lock and refuses to
    /// suspend it afterwards, so it is not asked for separately.
    pub fn check_object_lock(&self, bucket: &str) -> BackendResult<()> {
        use aws_sdk_s3::types::ObjectLockEnabled;
        let what = format!("Object Lock on s3://{bucket}");
        let refuse = |detail: String| BackendError::Rejected { what: what.clone(), detail };
        let enabled = match self.block_on(self.client.get_object_lock_configuration().bucket(bucket).send()) {
            Ok(o) => o.object_lock_configuration().and_then(|c| c.object_lock_enabled()).cloned(),
            Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("ObjectLockConfigurationNotFoundError") => {
                None
            }
            Err(e) => return Err(self.explain(e, &what)),
        };
        if enabled != Some(ObjectLockEnabled::Enabled) {
            return Err(refuse(
                "the bucket was not created with Object Lock enabled (it can only be enabled at creation: \
                 create a new bucket with `--object-lock-enabled-for-bucket`, or on RGW \
                 `s3api create-bucket --object-lock-enabled-for-bucket`)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// PutObjectRetention on the current version of `bucket/key`.
    pub fn put_retention(&self, bucket: &str, key: &str, r: &crate::backend::Retention) -> BackendResult<()> {
        use aws_sdk_s3::types::{ObjectLockRetention, ObjectLockRetentionMode};
        let mode = match r.mode {
            crate::backend::LockMode::Governance => ObjectLockRetentionMode::Governance,
            crate::backend::LockMode::Compliance => ObjectLockRetentionMode::Compliance,
        };
        let retention = ObjectLockRetention::builder().mode(mode).retain_until_date(smithy_time(r.until)).build();
        let what = format!("extending the lock of s3://{bucket}/{key}");
        self.block_on(self.client.put_object_retention().bucket(bucket).key(key).retention(retention).send())
            .map_err(|e| self.explain(e, &what))?;
        Ok(())
    }

    /// The ETag of `bucket/key` as HEAD reports it (unquoted).
    pub fn etag(&self, bucket: &str, key: &str) -> BackendResult<Option<String>> {
        let what = format!("s3://{bucket}/{key}");
        let h = self
            .block_on(self.client.head_object().bucket(bucket).key(key).send())
            .map_err(|e| self.explain(e, &what))?;
        Ok(h.e_tag().and_then(unquoted))
    }
}

/// Listed objects from this size on are read as parallel ranged GETs.
pub const PARALLEL_MIN: u64 = 64 << 20;
/// The size of one ranged GET of a large object.
pub const RANGE: u64 = 16 << 20;
/// Ranged GETs of one object in flight (bounding its buffered bytes to 4 × 16 MiB).
pub const RANGES_IN_FLIGHT: usize = 4;

/// Objects up to this size are one PUT; larger ones go in parts of this size.
pub const DEFAULT_PART: u64 = 64 << 20;

/// How [`S3::upload_with`] writes an object.
#[derive(Debug, Default, Clone)]
pub struct Put<'a> {
    /// `If-None-Match: *`: create only, never replace.
    pub if_none_match: bool,
    pub class: Option<&'a str>,
    /// Multipart with parts of exactly this size (the last one shorter), even for an
    /// object that fits one part: to reproduce an original's multipart ETag.
    pub part_size: Option<u64>,
    /// Object Lock on the new version.
    pub retention: Option<crate::backend::Retention>,
}

/// The result of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// False when `If-None-Match` found the key taken and nothing was written.
    pub created: bool,
    /// The new object's ETag (unquoted, as in listings), when the server reported one.
    pub etag: Option<String>,
}

impl S3 {
    /// True when `bucket/key` exists and is `size` bytes long.
    fn has_size(&self, bucket: &str, key: &str, size: u64) -> bool {
        self.block_on(self.client.head_object().bucket(bucket).key(key).send())
            .is_ok_and(|h| h.content_length() == i64::try_from(size).ok())
    }
}

/// An ETag as listings give it (cellar's form): without the quotes; `None` when empty.
fn object_lock_mode(m: crate::backend::LockMode) -> aws_sdk_s3::types::ObjectLockMode {
    match m {
        crate::backend::LockMode::Governance => aws_sdk_s3::types::ObjectLockMode::Governance,
        crate::backend::LockMode::Compliance => aws_sdk_s3::types::ObjectLockMode::Compliance,
    }
}

/// A retention date ([`crate::backend::Retention::until`] makes it whole seconds).
fn smithy_time(t: time::OffsetDateTime) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.unix_timestamp())
}

fn unquoted(etag: &str) -> Option<String> {
    Some(etag.trim_matches('"').to_string()).filter(|t| !t.is_empty())
}

/// HTTP 412: `If-None-Match: *` found the key taken.
fn precondition_failed<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

/// An HTTP 200 answer the SDK could not decode, and that is not an S3 `<Error>` document.
fn unparsed_success<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
    e.raw_response().is_some_and(|r| {
        r.status().as_u16() == 200 && !r.body().bytes().is_some_and(|b| b.windows(7).any(|w| w == b"<Error>"))
    })
}

/// One version of an object, or a delete marker (`size: None`), as ListObjectVersions
/// reports it.
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
    /// Last modified, milliseconds since the epoch.
    pub modified_ms: i64,
    pub size: Option<u64>,
}

/// One listed object.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub mtime_ns: i64,
}

/// How often a broken object body is resumed before the read fails.
const MAX_RESUMES: u32 = 5;

struct BodyReader {
    s3: Arc<S3>,
    bucket: String,
    key: String,
    etag: Option<String>,
    /// Bytes delivered so far.
    offset: u64,
    resumes: u32,
    body: ByteStream,
    buf: bytes::Bytes,
}

impl BodyReader {
    fn resume(&mut self, cause: String) -> std::io::Result<()> {
        if self.resumes >= MAX_RESUMES {
            return Err(std::io::Error::other(format!(
                "reading s3://{}/{}: {cause} (gave up after {MAX_RESUMES} resumes)",
                self.bucket, self.key
            )));
        }
        self.resumes += 1;
        let mut req =
            self.s3.client.get_object().bucket(&self.bucket).key(&self.key).range(format!("bytes={}-", self.offset));
        if let Some(e) = &self.etag {
            req = req.if_match(e);
        }
        let what = format!("resuming s3://{}/{} at byte {}", self.bucket, self.key, self.offset);
        let resp = self.s3.block_on(req.send()).map_err(|e| {
            // 412: the object was replaced meanwhile; 404: deleted. Either way the caller
            // must not get a mix of two objects.
            let e = self.s3.explain(e, &what);
            let kind = if e.is_not_found() { std::io::ErrorKind::NotFound } else { std::io::ErrorKind::Other };
            std::io::Error::new(kind, e)
        })?;
        self.body = resp.body;
        Ok(())
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.s3.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => self.resume(format!("body broke off: {e}"))?,
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        self.offset += n as u64;
        Ok(n)
    }
}

/// Reads a large object front to back from ranged GETs running ahead of the reader.
struct RangesReader {
    s3: Arc<S3>,
    bucket: String,
    key: String,
    /// Quoted, as `If-Match` wants it.
    etag: String,
    size: u64,
    /// The first byte not yet requested.
    next: u64,
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<BackendResult<bytes::Bytes>>>,
    buf: bytes::Bytes,
}

impl RangesReader {
    fn request_ahead(&mut self) {
        while self.in_flight.len() < RANGES_IN_FLIGHT && self.next < self.size {
            let len = RANGE.min(self.size - self.next);
            let (s3, bucket, key, etag, start) =
                (self.s3.clone(), self.bucket.clone(), self.key.clone(), self.etag.clone(), self.next);
            let task = self.s3.rt.spawn(async move { s3.get_range(&bucket, &key, &etag, start, len).await });
            self.in_flight.push_back(task);
            self.next += len;
        }
    }
}

impl Read for RangesReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            self.request_ahead();
            let Some(task) = self.in_flight.pop_front() else { return Ok(0) };
            let got = self.s3.block_on(task).map_err(std::io::Error::other)?;
            self.buf = got.map_err(|e| {
                // 412: replaced since the listing; 404: deleted.
                let kind = if e.is_not_found() { std::io::ErrorKind::NotFound } else { std::io::ErrorKind::Other };
                std::io::Error::new(kind, e)
            })?;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

impl Drop for RangesReader {
    fn drop(&mut self) {
        for t in &self.in_flight {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_path_style_detection() {
        assert_eq!(S3Url::parse("s3://b/p/q/").unwrap(), S3Url { bucket: "b".into(), prefix: "p/q".into() });
        assert_eq!(S3Url::parse("s3://b").unwrap().key("config"), "config");
        assert_eq!(S3Url::parse("s3://b/x").unwrap().key("config"), "x/config");
        assert!(S3Url::parse("s3:///x").is_none() && S3Url::parse("/tmp/x").is_none());
        assert!(is_local_or_ip("http://127.0.0.1:9000"));
        assert!(is_local_or_ip("http://localhost:9000/"));
        assert!(is_local_or_ip("http://[::1]:9000"));
        assert!(!is_local_or_ip("https://s3.example.com"));
    }
}
