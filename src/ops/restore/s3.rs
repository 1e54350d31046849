//! Restore into `s3://bucket/prefix`: every selected file becomes an object (streamed, each
//! blob verified), commit records after all other objects. An object whose data is
//! damaged is never created (the upload is abandoned before it completes) and is reported;
//! a block that lost a file does not get its `meta.json`. Directories are implicit in S3;
//! symlinks cannot be represented and are reported.

use parking_lot::Mutex;
use rayon::prelude::*;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::plan::{Plan, PlannedFile};
use super::{Damaged, DamagedEntry, RestoreOptions, RestoreReport};
use crate::backend::s3::{part_size_of, Put, S3Url, DEFAULT_PART, S3};
use crate::notice::NoticeExt;
use crate::progress::Progress;
use crate::repo::Repository;

/// Objects uploaded at once.
const UPLOADS: usize = 16;

/// Bytes the uploads in flight may buffer (each holds one part, or one small object).
const BUFFER_BUDGET: u64 = 256 << 20;

pub(super) fn restore(
    repo: &Repository,
    mut plan: Plan,
    s3: &Arc<S3>,
    url: &S3Url,
    opts: &RestoreOptions,
) -> anyhow::Result<RestoreReport> {
    let mut report = RestoreReport { dirs: plan.want_dirs.len() as u64, ..Default::default() };
    for l in &plan.links {
        repo.notices().note(format!("{} is a symlink; S3 cannot hold it, skipped", l.path));
    }
    let pending = crate::vfs::prepare_cold(repo, plan.files.iter().flatten().map(|f| &f.node), opts.no_wait)?;
    if !pending.is_empty() {
        report.cold_packs_requested = pending;
        return Ok(report);
    }
    let progress = Progress::new(opts.progress, "restore");
    let [data, commits] = std::mem::take(&mut plan.files);
    // Each phase completes before the next starts: no commit record before its data.
    upload_all(repo, &data, &plan.base, s3, url, &progress, &mut report)?;
    let commits = super::withhold(commits, &mut report);
    upload_all(repo, &commits, &plan.base, s3, url, &progress, &mut report)?;
    progress.finish();
    Ok(report)
}

/// Upload every file of a phase. Damage of the source is recorded per file; a failure of
/// the target bucket stops the restore.
fn upload_all(
    repo: &Repository,
    files: &[PlannedFile],
    base: &str,
    s3: &Arc<S3>,
    url: &S3Url,
    progress: &Progress,
    report: &mut RestoreReport,
) -> anyhow::Result<()> {
    let damaged: Mutex<Vec<DamagedEntry>> = Mutex::default();
    let other_etags = std::sync::atomic::AtomicU64::new(0);
    let budget = Budget::new(BUFFER_BUDGET);
    // Reads planned over every file of the phase: small files share requests.
    let source = crate::vfs::BlobSource::for_nodes(repo, files.iter().map(|f| &f.node));
    // Uploads wait on the network, not the CPU: more of them than cores run at once.
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(UPLOADS).thread_name(|i| format!("cellar-put-{i}")).build()?;
    pool.install(|| {
        files.par_iter().try_for_each(|f| -> anyhow::Result<()> {
            let key = url.key(&object_key(base, f));
            let mut reader = CountingReader { inner: crate::vfs::file_reader_in(&source, &f.node), n: 0, failed: None };
            // The original's parts, so the restored object gets the original's ETag.
            let part_size = f.node.etag.as_deref().and_then(|t| part_size_of(f.node.size, t));
            let put = Put { part_size, ..Put::default() };
            let _held = budget.take(f.node.size.min(part_size.unwrap_or(DEFAULT_PART)));
            let up = s3.upload_with(&url.bucket, &key, f.node.size, &mut reader, &put);
            let failed = match (reader.failed, up) {
                (Some(d), _) => Some(d),
                (None, Err(e)) => return Err(e.into()),
                (None, Ok(_)) if reader.n != f.node.size => {
                    Some(Damaged::new(format!("produced {} bytes, expected {}", reader.n, f.node.size)))
                }
                (None, Ok(up)) => {
                    if let Some(want) = &f.node.etag {
                        let got = match up.etag {
                            Some(t) => Some(t),
                            None => s3.etag(&url.bucket, &key)?,
                        };
                        if got.as_deref() != Some(want.as_str()) {
                            other_etags.fetch_add(1, Relaxed);
                        }
                    }
                    None
                }
            };
            if let Some(d) = failed {
                // A single PUT is sent only after all bytes were read, a multipart upload is
                // aborted: no object exists under the key. One that was there is replaced
                // only by complete, verified bytes.
                damaged.lock().push(DamagedEntry { path: f.path.clone(), ..d.into() });
                return Ok(());
            }
            progress.counters.bytes.fetch_add(f.node.size, Relaxed);
            progress.counters.files.fetch_add(1, Relaxed);
            Ok(())
        })
    })?;
    let n = other_etags.into_inner();
    if n > 0 {
        repo.notices().note(format!(
            "{n} restored objects got an ETag other than the original's (cut into other parts): ETag-based tools, cellar's next backup of the bucket included, read them once"
        ));
    }
    let damaged = damaged.into_inner();
    for f in files {
        match damaged.iter().find(|d| d.path == f.path) {
            None => report.file_done(&f.path, f.node.size),
            Some(d) => report.damaged.push(d.clone()),
        }
    }
    Ok(())
}

/// The key a file is restored under: its path (below the restored directory `base`), or,
/// for an S3 object whose key could not be a path, that exact key, which is relative to
/// the source's top-level directory of the snapshot.
fn object_key(base: &str, f: &PlannedFile) -> String {
    let Some(k) = &f.node.key else { return f.path.clone() };
    let full = if base.is_empty() { f.path.clone() } else { format!("{base}/{}", f.path) };
    let key = match full.split_once('/') {
        Some((top, _)) => format!("{top}/{k}"),
        None => k.clone(),
    };
    match base {
        "" => key,
        b => key.strip_prefix(&format!("{b}/")).map_or(key.clone(), str::to_string),
    }
}

/// A pool of buffer bytes: an upload waits until its share is free, so memory stays
/// bounded however many large objects are in flight.
struct Budget {
    free: Mutex<u64>,
    freed: parking_lot::Condvar,
    total: u64,
}

impl Budget {
    fn new(total: u64) -> Self {
        Budget { free: Mutex::new(total), freed: parking_lot::Condvar::new(), total }
    }

    fn take(&self, n: u64) -> Held<'_> {
        let n = n.min(self.total);
        let mut free = self.free.lock();
        while *free < n {
            self.freed.wait(&mut free);
        }
        *free -= n;
        Held { budget: self, n }
    }
}

/// Bytes of a [`Budget`], given back when dropped.
struct Held<'a> {
    budget: &'a Budget,
    n: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.budget.free.lock() += self.n;
        self.budget.freed.notify_all();
    }
}

/// Counts the bytes read, and keeps what went wrong if the source failed.
struct CountingReader<R> {
    inner: R,
    n: u64,
    failed: Option<Damaged>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.n += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = Some(Damaged::from_io(&e));
                Err(e)
            }
        }
    }
}
