//! Restore into a directory. Every needed blob is grouped by pack so each pack is fetched
//! once (one ranged read per run of nearby blobs) and each blob is written to every place
//! that needs it. Blobs are verified against their keyed hash before a byte is written,
//! and every file's length is checked at the end.
//!
//! Damage is contained: every file is written under a temporary name and renamed into
//! place only when all of its blobs verified and its length is right; a file that cannot
//! be restored is removed and reported (path, pack, blob), and the restore goes on. A TSDB
//! block that lost a file does not get its `meta.json`.
//!
//! Durability: commit records are renamed into place only after everything else restored
//! has been flushed to disk (`syncfs`), so after a crash or power loss a `meta.json` never
//! stands beside data that did not make it.

use anyhow::{bail, Context};
use parking_lot::Mutex;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::plan::{Plan, PlannedFile};
use super::{Damaged, DamagedEntry, RestoreOptions, RestoreReport};
use crate::id::Id;
use crate::notice::NoticeExt;
use crate::progress::Progress;
use crate::repo::file::tree::Node;
use crate::repo::file::FileType;
use crate::repo::index::BlobLoc;
use crate::repo::Repository;

/// Files kept open per restore worker.
const OPEN_FILES: usize = 16;
/// Blobs closer than this in a pack are fetched with one read.
const MAX_GAP: u64 = 1 << 20;

/// A file being written (always under a temporary name, renamed once complete).
struct Writing {
    path: String,
    node: Node,
    tmp: PathBuf,
    dest: PathBuf,
    written: AtomicU64,
    /// The first thing that went wrong: the file is not renamed into place.
    failed: Mutex<Option<Damaged>>,
}

impl Writing {
    fn fail(&self, d: Damaged) {
        self.failed.lock().get_or_insert(d);
    }

    fn ok(&self) -> bool {
        self.failed.lock().is_none()
    }
}

/// One blob and every (file, offset) it is written to.
struct BlobUse {
    id: Id,
    loc: BlobLoc,
    dests: Vec<(usize, u64)>,
}

pub(super) fn restore(
    repo: &Repository,
    plan: Plan,
    target: &Path,
    opts: &RestoreOptions,
) -> anyhow::Result<RestoreReport> {
    fs::create_dir_all(target).with_context(|| format!("creating target {}", target.display()))?;
    let target = fs::canonicalize(target)?;
    let mut report = RestoreReport::default();
    let pending = crate::vfs::prepare_cold(repo, plan.files.iter().flatten().map(|f| &f.node), opts.no_wait)?;
    if !pending.is_empty() {
        report.cold_packs_requested = pending;
        return Ok(report);
    }
    for d in &plan.want_dirs {
        make_dir(&target, d)?;
        report.dirs += 1;
    }
    let Plan { dirs, want_dirs, files, links, all, everything, base: _ } = plan;
    let progress = Progress::new(opts.progress, "restore");
    let [mut data, commits] = files;
    let gz = if opts.decompress { super::decompress::take_gzip(&mut data) } else { vec![] };
    for f in data.iter().filter(|f| f.node.key.is_some()) {
        let key = f.node.key.as_deref().unwrap_or_default();
        repo.notices().note(format!("{} holds S3 object {key:?}, whose key cannot be a file name", f.path));
    }
    let data = super::existing::sort_out(repo, &target, data, opts.overwrite, &mut report);
    let data: Vec<Writing> = data.into_iter().map(|f| writing(&target, f)).collect();
    restore_files(repo, &data, &progress)?;
    finish_files(&data, &mut report)?;
    super::decompress::restore(repo, &target, gz, &all, opts.overwrite, &mut report)?;
    let commits = super::withhold(commits, &mut report);
    let commits = super::existing::sort_out(repo, &target, commits, opts.overwrite, &mut report);
    let commits: Vec<Writing> = commits.into_iter().map(|f| writing(&target, f)).collect();
    restore_files(repo, &commits, &progress)?;
    if !commits.is_empty() {
        // Everything restored, commit records included (still under temporary names),
        // reaches the disk before any commit record appears under its name.
        sync_filesystem(&target)?;
    }
    finish_files(&commits, &mut report)?;
    progress.finish();

    for l in &links {
        let dest = target.join(&l.rel);
        let t = l.node.target.clone().unwrap_or_default();
        let _ = fs::remove_file(&dest);
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), &dest)
            .with_context(|| format!("creating symlink {}", dest.display()))?;
        report.symlinks += 1;
    }
    if opts.delete {
        let roots = everything.then(PathBuf::new);
        for d in roots.iter().chain(want_dirs.iter()) {
            for e in fs::read_dir(target.join(d)).with_context(|| format!("listing {}", target.join(d).display()))? {
                let e = e?;
                let rel = d.join(e.file_name());
                if all.contains(&rel) {
                    continue;
                }
                let p = e.path();
                let r = if e.file_type()?.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
                r.with_context(|| format!("removing {}", p.display()))?;
                report.deleted.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    // Directory metadata last (writing files into them changes mtime), deepest first.
    for d in want_dirs.iter().rev() {
        if let Some(n) = dirs.get(d) {
            set_meta(&target.join(d), n)?;
        }
    }
    Ok(report)
}

fn writing(target: &Path, f: PlannedFile) -> Writing {
    let dest = target.join(&f.rel);
    Writing {
        path: f.path,
        node: f.node,
        tmp: tmp_name(&dest),
        dest,
        written: AtomicU64::new(0),
        failed: Mutex::new(None),
    }
}

/// Rename the complete files into place (with their metadata) and remove the damaged
/// ones' temporaries.
fn finish_files(files: &[Writing], report: &mut RestoreReport) -> anyhow::Result<()> {
    for f in files.iter().filter(|f| f.ok()) {
        let w = f.written.load(Relaxed);
        if w != f.node.size {
            f.fail(Damaged::new(format!("wrote {w} of {} bytes", f.node.size)));
        }
    }
    // Per-file syscalls (rename, chmod, utimes) dominate restores of many small files:
    // spread them over the cores.
    files.par_iter().try_for_each(|f| -> anyhow::Result<()> {
        if !f.ok() {
            let _ = fs::remove_file(&f.tmp);
            return Ok(());
        }
        fs::rename(&f.tmp, &f.dest).with_context(|| format!("renaming into {}", f.dest.display()))?;
        set_meta(&f.dest, &f.node)
    })?;
    for f in files {
        match f.failed.lock().take() {
            None => report.file_done(&f.path, f.node.size),
            Some(d) => report.damaged.push(DamagedEntry { path: f.path.clone(), ..d.into() }),
        }
    }
    Ok(())
}

/// Flush every dirty page of the file system holding `dir` (one `syncfs`, cheaper than an
/// fsync per restored file).
fn sync_filesystem(dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let d = fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: `d` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("syncing {}", dir.display()));
    }
    Ok(())
}

pub(super) fn tmp_name(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.cellar-tmp"))
}

/// Create one directory below `target`, refusing to pass through symlinks (which could
/// lead outside the target).
fn make_dir(target: &Path, rel: &Path) -> anyhow::Result<()> {
    let p = target.join(rel);
    match fs::symlink_metadata(&p) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => bail!("{} exists and is not a directory; refusing to restore over it", p.display()),
        Err(_) => fs::create_dir(&p).with_context(|| format!("creating {}", p.display())),
    }
}

/// Open for writing, creating the file if needed; `truncate` empties an existing one.
pub(super) fn open_nofollow(p: &Path, truncate: bool) -> anyhow::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .with_context(|| format!("opening {} for writing", p.display()))
}

/// Write every file's bytes under its temporary name. Damage is recorded on the files it
/// hits and the restore goes on; only local failures (the target's disk) stop it.
fn restore_files(repo: &Repository, files: &[Writing], progress: &Progress) -> anyhow::Result<()> {
    // Empty files are made here; the others by the first worker that writes to them.
    files.par_iter().filter(|f| f.node.content.is_empty()).try_for_each(|f| -> anyhow::Result<()> {
        open_nofollow(&f.tmp, true)?.set_len(f.node.size)?;
        Ok(())
    })?;
    // Gzip-transparent files are recreated front to back (each deflate segment continues
    // the previous one), each by one worker.
    files.par_iter().filter(|f| f.node.gzip.is_some()).try_for_each(|f| -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, open_nofollow(&f.tmp, true)?);
        match std::io::copy(&mut crate::vfs::file_reader(repo, &f.node), &mut out) {
            Ok(n) => {
                out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
                f.written.store(n, Relaxed);
                progress.counters.bytes.fetch_add(n, Relaxed);
            }
            Err(e) => f.fail(Damaged::from_io(&e)),
        }
        Ok(())
    })?;
    let packs = by_pack(repo, files);
    packs.par_iter().try_for_each(|(pack, uses)| restore_pack(repo, files, pack, uses, progress))?;
    progress.counters.files.fetch_add(files.len() as u64, Relaxed);
    Ok(())
}

/// Every needed blob of the (non-gzip) files, grouped by pack and sorted by offset. A
/// file that needs a blob the index lacks, or whose blobs do not add up to its size, is
/// marked damaged here.
fn by_pack(repo: &Repository, files: &[Writing]) -> Vec<(Id, Vec<BlobUse>)> {
    let idx = repo.index();
    let mut by_pack: BTreeMap<u32, BTreeMap<u32, BlobUse>> = BTreeMap::new();
    'files: for (fi, f) in files.iter().enumerate().filter(|(_, f)| f.node.gzip.is_none()) {
        let mut uses = vec![];
        let mut off = 0u64;
        for id in &f.node.content {
            match idx.locate(id) {
                Ok(loc) => uses.push((*id, loc, off)),
                Err(e) => {
                    f.fail(Damaged { blob: Some(*id), ..Damaged::new(e.to_string()) });
                    continue 'files;
                }
            }
            off += u64::from(uses.last().expect("pushed").1.raw_len);
        }
        if off != f.node.size {
            f.fail(Damaged::new(format!(
                "its blobs hold {off} bytes but the file has {} (damaged snapshot)",
                f.node.size
            )));
            continue;
        }
        for (id, loc, off) in uses {
            by_pack
                .entry(loc.pack)
                .or_default()
                .entry(loc.offset)
                .or_insert_with(|| BlobUse { id, loc, dests: vec![] })
                .dests
                .push((fi, off));
        }
    }
    by_pack.into_iter().map(|(p, m)| (idx.pack_id(p), m.into_values().collect())).collect()
}

/// Read the needed runs of one pack and write each blob wherever it goes. A run that
/// cannot be read, or a blob that does not verify, is read from another copy if the index
/// knows one; else the files needing it are marked damaged, naming pack and blob.
fn restore_pack(
    repo: &Repository,
    files: &[Writing],
    pack: &Id,
    uses: &[BlobUse],
    progress: &Progress,
) -> anyhow::Result<()> {
    let name = FileType::Pack.name(pack);
    // Blobs of one file tend to sit together in a pack: keep a few files open instead
    // of opening the file once per blob (4 KiB text chunks made that the bottleneck).
    let mut open: Vec<(usize, fs::File)> = Vec::with_capacity(OPEN_FILES);
    for run in runs(uses) {
        if run.iter().all(|u| u.dests.iter().all(|&(fi, _)| !files[fi].ok())) {
            continue;
        }
        let start = u64::from(run[0].loc.offset);
        let end = run.iter().map(|u| u64::from(u.loc.offset) + u64::from(u.loc.stored_len)).max().unwrap_or(start);
        let bytes = repo.backend().read_range(&name, start, end - start);
        for u in run {
            let data = match &bytes {
                Ok(b) => {
                    let o = (u64::from(u.loc.offset) - start) as usize;
                    repo.decode_blob(&u.id, &u.loc, &b[o..o + u.loc.stored_len as usize])
                }
                Err(e) => Err(crate::error::RepoError::Backend(crate::error::BackendError::Other(e.to_string()))),
            };
            let data = match data.or_else(|first| repo.read_blob_elsewhere(&u.id, pack).map_err(|_| first)) {
                Ok(d) => d,
                Err(e) => {
                    for &(fi, _) in &u.dests {
                        files[fi].fail(Damaged { blob: Some(u.id), pack: Some(*pack), ..Damaged::new(e.to_string()) });
                    }
                    continue;
                }
            };
            for &(fi, off) in &u.dests {
                let f = &files[fi];
                if !f.ok() {
                    continue;
                }
                let slot = if let Some(p) = open.iter().position(|(i, _)| *i == fi) {
                    p
                } else {
                    if open.len() == OPEN_FILES {
                        open.remove(0);
                    }
                    // Created without truncating (other workers may have written
                    // parts already); the length fixes what was there before.
                    let file = open_nofollow(&f.tmp, false)?;
                    file.set_len(f.node.size).with_context(|| format!("sizing {}", f.tmp.display()))?;
                    open.push((fi, file));
                    open.len() - 1
                };
                open[slot].1.write_all_at(&data, off).with_context(|| format!("writing {}", f.tmp.display()))?;
                f.written.fetch_add(data.len() as u64, Relaxed);
                progress.counters.bytes.fetch_add(data.len() as u64, Relaxed);
            }
        }
    }
    Ok(())
}

/// Split a pack's blobs (sorted by offset) into runs read with one request each.
fn runs(uses: &[BlobUse]) -> Vec<&[BlobUse]> {
    let mut out = vec![];
    let mut start = 0;
    for i in 1..=uses.len() {
        let split = i == uses.len() || {
            let prev_end = u64::from(uses[i - 1].loc.offset) + u64::from(uses[i - 1].loc.stored_len);
            u64::from(uses[i].loc.offset) > prev_end + MAX_GAP
        };
        if split {
            out.push(&uses[start..i]);
            start = i;
        }
    }
    out
}

pub(super) fn set_meta(p: &Path, n: &Node) -> anyhow::Result<()> {
    // Every mode is restored as recorded, 000 included.
    fs::set_permissions(p, fs::Permissions::from_mode(n.mode & 0o7777))
        .with_context(|| format!("setting permissions of {}", p.display()))?;
    let t = filetime::FileTime::from_unix_time(
        n.mtime_ns.div_euclid(1_000_000_000),
        n.mtime_ns.rem_euclid(1_000_000_000) as u32,
    );
    filetime::set_symlink_file_times(p, t, t).with_context(|| format!("setting times of {}", p.display()))?;
    Ok(())
}
