//! Restore into `s3://bucket/prefix`: every selected file becomes an object (streamed, each
//! blob verified), commit records after all other objects. Directories are implicit in
//! S3; symlinks cannot be represented and are reported.

use anyhow::bail;
use rayon::prelude::*;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::plan::Plan;
use super::{RestoreOptions, RestoreReport};
use crate::backend::s3::{S3Url, S3};
use crate::notice::NoticeExt;
use crate::progress::Progress;
use crate::repo::Repository;

pub(super) fn restore(
    repo: &Repository,
    plan: Plan,
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
    for phase in &plan.files {
        // Each phase completes before the next starts: no commit record before its data.
        phase.par_iter().try_for_each(|f| -> anyhow::Result<()> {
            let key = url.key(&f.path);
            let mut reader = CountingReader { inner: crate::vfs::file_reader(repo, &f.node), n: 0 };
            s3.upload(&url.bucket, &key, f.node.size, &mut reader, false, None)?;
            if reader.n != f.node.size {
                bail!("{}: produced {} bytes, expected {}", f.path, reader.n, f.node.size);
            }
            progress.counters.bytes.fetch_add(f.node.size, Relaxed);
            progress.counters.files.fetch_add(1, Relaxed);
            Ok(())
        })?;
        for f in phase {
            report.file_done(&f.path, f.node.size);
        }
    }
    progress.finish();
    Ok(report)
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
