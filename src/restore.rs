//! Restore a snapshot (or part of it) into a directory.
//!
//! The plan groups every needed blob by pack so each pack is fetched once (one ranged read
//! per run of nearby blobs) and each blob is written to every place that needs it. Blobs
//! are verified against their keyed hash before a byte is written, and every file's length
//! is checked at the end, so a restored file is the file that was backed up.
//!
//! Files are restored in phases: files a layout marks as commit records (a TSDB block's
//! `meta.json`) are written only after every other file is complete, under a temporary
//! name that is renamed into place, so a reader never sees a half-restored block.

use anyhow::{bail, Context};
use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::progress::Progress;
use crate::repo::index::BlobLoc;
use crate::repo::snapshot::Snapshot;
use crate::repo::tree::{Node, NodeKind};
use crate::repo::{pack_name, Id, Repository};

/// Files kept open per restore worker.
const OPEN_FILES: usize = 16;
/// Blobs closer than this in a pack are fetched with one read.
const MAX_GAP: u64 = 1 << 20;

pub struct RestoreOptions {
    pub target: PathBuf,
    /// Globs on snapshot paths (`mimir/anonymous/**`); a match on a directory includes all
    /// below it. Empty means everything.
    pub include: Vec<String>,
    /// If set, only these snapshot paths and what is below them (block or tenant
    /// directories chosen by `--tenant/--block/--from/--to`).
    pub prefixes: Option<Vec<String>>,
    /// Files for which this returns true are written last (after all others, via rename).
    pub write_last: fn(&str) -> bool,
    pub progress: bool,
    /// With packs in cold storage: only request their restore and return (`--no-wait`).
    pub no_wait: bool,
}

impl RestoreOptions {
    pub fn new(target: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            target: target.into(),
            include: vec![],
            prefixes: None,
            write_last: |_| false,
            progress: false,
            no_wait: false,
        }
    }
}

#[derive(Serialize, Debug, Default)]
pub struct RestoreReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Snapshot paths in the order their files were completed (commit-record files last).
    #[serde(skip)]
    pub completion_order: Vec<String>,
    /// With `no_wait`: packs in cold storage whose restore was requested (nothing written).
    pub cold_packs_requested: Vec<String>,
}

impl RestoreReport {
    fn file_done(&mut self, path: &str, size: u64) {
        self.files += 1;
        self.bytes += size;
        self.completion_order.push(path.to_string());
    }
}

/// The packs holding these files' data, made readable first if they sit in cold storage
/// (restore requested for exactly these, then waited for unless `no_wait`). Returns the
/// packs still pending.
pub fn prepare_cold<'a>(
    repo: &Repository,
    nodes: impl Iterator<Item = &'a Node>,
    no_wait: bool,
) -> anyhow::Result<Vec<String>> {
    let idx = repo.index();
    let mut packs = std::collections::BTreeSet::new();
    for n in nodes {
        for id in n.data_blobs() {
            packs.insert(pack_name(&idx.pack_id(idx.locate(id)?.pack)));
            if let Some(b) = idx.base_of(id) {
                packs.insert(pack_name(&idx.pack_id(idx.locate(&b)?.pack)));
            }
        }
    }
    drop(idx);
    let packs: Vec<String> = packs.into_iter().collect();
    repo.backend().prepare_read(&packs, !no_wait)
}

/// A snapshot entry with its path below the snapshot root.
pub struct Entry {
    /// For display and `--include` matching (lossy if a name is not UTF-8).
    pub path: String,
    /// The exact path, from the names' bytes.
    pub rel: PathBuf,
    pub node: Node,
}

/// Walk a snapshot's trees depth-first in name order (a directory before its contents),
/// checking every name.
pub fn walk(repo: &Repository, root: &Id, mut visit: impl FnMut(Entry) -> anyhow::Result<()>) -> anyhow::Result<()> {
    walk_in(repo, root, "", Path::new(""), &mut visit)
}

fn walk_in(
    repo: &Repository,
    id: &Id,
    prefix: &str,
    rel_prefix: &Path,
    visit: &mut dyn FnMut(Entry) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tree = repo.read_tree(id)?;
    for node in tree.nodes {
        if !node.has_safe_name() {
            bail!("snapshot contains an unsafe name {:?} under {prefix:?}; refusing", node.name_lossy());
        }
        let name = String::from_utf8_lossy(&node.name);
        let path = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
        let rel = rel_prefix.join(std::ffi::OsStr::from_bytes(&node.name));
        let sub = node.subtree.filter(|_| node.kind == NodeKind::Dir);
        visit(Entry { path: path.clone(), rel: rel.clone(), node })?;
        if let Some(sub) = sub {
            walk_in(repo, &sub, &path, &rel, visit)?;
        }
    }
    Ok(())
}

fn build_globs(patterns: &[String]) -> anyhow::Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p.trim_matches('/')).with_context(|| format!("bad --include pattern {p:?}"))?);
    }
    Ok(Some(b.build()?))
}

/// True if `path` or one of its ancestors matches.
fn included(globs: &Option<GlobSet>, path: &str) -> bool {
    let Some(g) = globs else { return true };
    let mut p = path;
    loop {
        if g.is_match(p) {
            return true;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return false,
        }
    }
}

/// Chosen by `--include` globs and by the block/tenant prefixes.
fn selected(opts: &RestoreOptions, globs: &Option<GlobSet>, path: &str) -> bool {
    included(globs, path)
        && opts.prefixes.as_ref().is_none_or(|ps| ps.iter().any(|p| path == p || path.starts_with(&format!("{p}/"))))
}

/// Restore into `s3://bucket/prefix`: every selected file becomes an object (streamed, each
/// blob verified), commit records (`meta.json`, Loki index files) after all other objects.
/// Directories are implicit in S3; symlinks cannot be represented and are reported.
pub fn restore_to_s3(
    repo: &Repository,
    snap: &Snapshot,
    opts: &RestoreOptions,
    s3: &std::sync::Arc<crate::repo::s3::S3>,
    url: &crate::repo::s3::S3Url,
) -> anyhow::Result<RestoreReport> {
    repo.load_index()?;
    let globs = build_globs(&opts.include)?;
    let mut phases: [Vec<Entry>; 2] = [vec![], vec![]];
    let mut report = RestoreReport::default();
    walk(repo, &snap.tree, |e| {
        if selected(opts, &globs, &e.path) {
            match e.node.kind {
                NodeKind::File => phases[(opts.write_last)(&e.path) as usize].push(e),
                NodeKind::Symlink => eprintln!("cellar: note: {} is a symlink; S3 cannot hold it, skipped", e.path),
                NodeKind::Dir => report.dirs += 1,
            }
        }
        Ok(())
    })?;
    let pending = prepare_cold(repo, phases.iter().flatten().map(|e| &e.node), opts.no_wait)?;
    if !pending.is_empty() {
        report.cold_packs_requested = pending;
        return Ok(report);
    }
    let progress = Progress::new(opts.progress, "restore");
    for phase in &phases {
        // Each phase completes before the next starts: no commit record before its data.
        phase.par_iter().try_for_each(|e| -> anyhow::Result<()> {
            let key = url.key(&e.path);
            let mut reader = CountingReader { inner: crate::dump::file_reader(repo, &e.node), n: 0 };
            s3.upload(&url.bucket, &key, e.node.size, &mut reader, false, None)?;
            if reader.n != e.node.size {
                bail!("{}: produced {} bytes, expected {}", e.path, reader.n, e.node.size);
            }
            progress.counters.bytes.fetch_add(e.node.size, Relaxed);
            progress.counters.files.fetch_add(1, Relaxed);
            Ok(())
        })?;
        for e in phase {
            report.file_done(&e.path, e.node.size);
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

struct PlannedFile {
    path: String,
    node: Node,
    /// Where the bytes go while being written (a temporary name for last-phase files).
    write_to: PathBuf,
    dest: PathBuf,
    written: AtomicU64,
}

/// One blob and every (file, offset) it is written to.
struct BlobUse {
    id: Id,
    loc: BlobLoc,
    dests: Vec<(usize, u64)>,
}

pub fn restore(repo: &Repository, snap: &Snapshot, opts: &RestoreOptions) -> anyhow::Result<RestoreReport> {
    repo.load_index()?;
    let globs = build_globs(&opts.include)?;
    let mut entries = Vec::new();
    walk(repo, &snap.tree, |e| {
        entries.push(e);
        Ok(())
    })?;

    let target = &opts.target;
    fs::create_dir_all(target).with_context(|| format!("creating target {}", target.display()))?;
    let target = fs::canonicalize(target)?;

    // Directories needed: those of included entries and their ancestors.
    let mut dirs: BTreeMap<PathBuf, Node> = BTreeMap::new();
    let mut want_dirs = std::collections::BTreeSet::new();
    let mut files = [Vec::new(), Vec::new()];
    let mut links = Vec::new();
    for e in entries {
        let inc = selected(opts, &globs, &e.path);
        if inc {
            for a in e.rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
                want_dirs.insert(a.to_path_buf());
            }
        }
        match e.node.kind {
            NodeKind::Dir => {
                if inc {
                    want_dirs.insert(e.rel.clone());
                }
                dirs.insert(e.rel, e.node);
            }
            NodeKind::File if inc => {
                let dest = target.join(&e.rel);
                let last = (opts.write_last)(&e.path);
                let write_to = if last { tmp_name(&dest) } else { dest.clone() };
                files[last as usize].push(PlannedFile {
                    path: e.path,
                    node: e.node,
                    write_to,
                    dest,
                    written: AtomicU64::new(0),
                });
            }
            NodeKind::Symlink if inc => links.push(e),
            _ => {}
        }
    }

    let mut report = RestoreReport::default();
    let pending = prepare_cold(repo, files.iter().flatten().map(|f| &f.node), opts.no_wait)?;
    if !pending.is_empty() {
        report.cold_packs_requested = pending;
        return Ok(report);
    }
    for d in &want_dirs {
        make_dir(&target, d)?;
        report.dirs += 1;
    }

    let progress = Progress::new(opts.progress, "restore");
    for phase in &files {
        restore_files(repo, phase, &progress)?;
        // Per-file syscalls (rename, chmod, utimes) dominate restores of many small files:
        // spread them over the cores.
        phase.par_iter().try_for_each(|f| -> anyhow::Result<()> {
            if f.write_to != f.dest {
                fs::rename(&f.write_to, &f.dest).with_context(|| format!("renaming into {}", f.dest.display()))?;
            }
            set_meta(&f.dest, &f.node)
        })?;
        for f in phase {
            report.file_done(&f.path, f.node.size);
        }
    }
    progress.finish();

    for l in &links {
        let dest = target.join(&l.rel);
        let t = l.node.target.clone().unwrap_or_default();
        let _ = fs::remove_file(&dest);
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), &dest)
            .with_context(|| format!("creating symlink {}", dest.display()))?;
        report.symlinks += 1;
    }
    // Directory metadata last (writing files into them changes mtime), deepest first.
    for d in want_dirs.iter().rev() {
        if let Some(n) = dirs.get(d) {
            set_meta(&target.join(d), n)?;
        }
    }
    Ok(report)
}

use std::os::unix::ffi::OsStrExt;

fn tmp_name(dest: &Path) -> PathBuf {
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
fn open_nofollow(p: &Path, truncate: bool) -> anyhow::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .with_context(|| format!("opening {} for writing", p.display()))
}

fn restore_files(repo: &Repository, files: &[PlannedFile], progress: &Progress) -> anyhow::Result<()> {
    // Create every file at its final length; empty files are done here.
    // Empty files are made here; the others by the first worker that writes to them.
    files.par_iter().filter(|f| f.node.content.is_empty()).try_for_each(|f| -> anyhow::Result<()> {
        open_nofollow(&f.write_to, true)?.set_len(f.node.size)?;
        Ok(())
    })?;
    // Gzip-transparent files are recreated front to back (each deflate segment continues
    // the previous one), each by one worker.
    files.par_iter().filter(|f| f.node.gzip.is_some()).try_for_each(|f| -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, open_nofollow(&f.write_to, true)?);
        let n = std::io::copy(&mut crate::dump::file_reader(repo, &f.node), &mut out)
            .with_context(|| format!("restoring {}", f.path))?;
        out.into_inner().map_err(|e| e.into_error())?;
        f.written.store(n, Relaxed);
        progress.counters.bytes.fetch_add(n, Relaxed);
        Ok(())
    })?;
    let idx = repo.index();
    let mut by_pack: BTreeMap<u32, BTreeMap<u32, BlobUse>> = BTreeMap::new();
    for (fi, f) in files.iter().enumerate().filter(|(_, f)| f.node.gzip.is_none()) {
        let mut off = 0u64;
        for id in &f.node.content {
            let loc = idx.locate(id).with_context(|| format!("restoring {}", f.path))?;
            by_pack
                .entry(loc.pack)
                .or_default()
                .entry(loc.offset)
                .or_insert_with(|| BlobUse { id: *id, loc, dests: vec![] })
                .dests
                .push((fi, off));
            off += loc.raw_len as u64;
        }
        if off != f.node.size {
            bail!("{}: its blobs hold {off} bytes but the file has {} (damaged snapshot)", f.path, f.node.size);
        }
    }
    let packs: Vec<(Id, Vec<BlobUse>)> =
        by_pack.into_iter().map(|(p, m)| (idx.pack_id(p), m.into_values().collect())).collect();
    drop(idx);

    packs.par_iter().try_for_each(|(pack, uses)| -> anyhow::Result<()> {
        let name = pack_name(pack);
        // Blobs of one file tend to sit together in a pack: keep a few files open instead
        // of opening the file once per blob (4 KiB text chunks made that the bottleneck).
        let mut open: Vec<(usize, fs::File)> = Vec::with_capacity(OPEN_FILES);
        for run in runs(uses) {
            let start = run[0].loc.offset as u64;
            let end = run.iter().map(|u| u.loc.offset as u64 + u.loc.stored_len as u64).max().unwrap_or(start);
            let bytes = repo.backend().read_range(&name, start, end - start)?;
            for u in run {
                let o = (u.loc.offset as u64 - start) as usize;
                let data = repo.decode_blob(&u.id, &u.loc, &bytes[o..o + u.loc.stored_len as usize])?;
                for &(fi, off) in &u.dests {
                    let f = &files[fi];
                    let slot = match open.iter().position(|(i, _)| *i == fi) {
                        Some(p) => p,
                        None => {
                            if open.len() == OPEN_FILES {
                                open.remove(0);
                            }
                            // Created without truncating (other workers may have written
                            // parts already); the length fixes what was there before.
                            let file = open_nofollow(&f.write_to, false)?;
                            file.set_len(f.node.size).with_context(|| format!("sizing {}", f.write_to.display()))?;
                            open.push((fi, file));
                            open.len() - 1
                        }
                    };
                    open[slot]
                        .1
                        .write_all_at(&data, off)
                        .with_context(|| format!("writing {}", f.write_to.display()))?;
                    f.written.fetch_add(data.len() as u64, Relaxed);
                    progress.counters.bytes.fetch_add(data.len() as u64, Relaxed);
                }
            }
        }
        Ok(())
    })?;

    for f in files {
        let w = f.written.load(Relaxed);
        if w != f.node.size {
            bail!("{}: wrote {w} of {} bytes", f.path, f.node.size);
        }
        progress.counters.files.fetch_add(1, Relaxed);
    }
    Ok(())
}

/// Split a pack's blobs (sorted by offset) into runs read with one request each.
fn runs(uses: &[BlobUse]) -> Vec<&[BlobUse]> {
    let mut out = vec![];
    let mut start = 0;
    for i in 1..=uses.len() {
        let split = i == uses.len() || {
            let prev_end = uses[i - 1].loc.offset as u64 + uses[i - 1].loc.stored_len as u64;
            uses[i].loc.offset as u64 > prev_end + MAX_GAP
        };
        if split {
            out.push(&uses[start..i]);
            start = i;
        }
    }
    out
}

fn set_meta(p: &Path, n: &Node) -> anyhow::Result<()> {
    if n.mode != 0 {
        fs::set_permissions(p, fs::Permissions::from_mode(n.mode & 0o7777))
            .with_context(|| format!("setting permissions of {}", p.display()))?;
    }
    let t = filetime::FileTime::from_unix_time(
        n.mtime_ns.div_euclid(1_000_000_000),
        n.mtime_ns.rem_euclid(1_000_000_000) as u32,
    );
    filetime::set_symlink_file_times(p, t, t).with_context(|| format!("setting times of {}", p.display()))?;
    Ok(())
}
