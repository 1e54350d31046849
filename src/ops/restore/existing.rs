//! Restoring into a target that already holds files: what to do with each one there. A
//! file identical to the snapshot's (same length, every chunk hashing to its blob id) is
//! kept as it is, which is what makes an interrupted restore resume where it stopped. What
//! happens to a file that differs is the user's choice, and the default never replaces
//! anything the snapshot did not write.

use rayon::prelude::*;
use std::fs;
use std::io::Read;
use std::path::Path;

use super::plan::PlannedFile;
use super::RestoreReport;
use crate::repo::file::tree::Node;
use crate::repo::Repository;

/// What to do with a file already at a restored file's place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Overwrite {
    /// Replace it, even when it is identical.
    Always,
    /// Replace it when it differs; keep it when it is identical.
    IfChanged,
    /// Keep it (report it when it differs); identical files count as restored.
    #[default]
    Never,
}

/// Sort the planned files into those to write; files already in place are counted (as
/// `unchanged`, or, when they differ and are kept, as `kept`).
pub(super) fn sort_out(
    repo: &Repository,
    target: &Path,
    files: Vec<PlannedFile>,
    overwrite: Overwrite,
    report: &mut RestoreReport,
) -> Vec<PlannedFile> {
    if overwrite == Overwrite::Always {
        return files;
    }
    // 0: absent (write), 1: identical (skip), 2: differs.
    let state: Vec<u8> = files
        .par_iter()
        .map(|f| match fs::symlink_metadata(target.join(&f.rel)) {
            Err(_) => 0,
            Ok(md) if md.is_file() && md.len() == f.node.size && same_content(repo, &target.join(&f.rel), &f.node) => 1,
            Ok(_) => 2,
        })
        .collect();
    let mut write = vec![];
    for (f, s) in files.into_iter().zip(state) {
        match (s, overwrite) {
            (0, _) | (2, Overwrite::IfChanged) => write.push(f),
            (1, _) => {
                report.unchanged += 1;
                report.file_done(&f.path, f.node.size);
            }
            _ => report.kept.push(f.path),
        }
    }
    write
}

/// Whether the file at `p` holds exactly `node`'s bytes: each piece, as long as its blob,
/// hashes to that blob's id (no data is read from the repository), or for gzip files the
/// recreated bytes compare equal.
fn same_content(repo: &Repository, p: &Path, node: &Node) -> bool {
    let Ok(mut f) = fs::File::open(p) else { return false };
    if node.gzip.is_some() {
        return same_bytes(&mut f, &mut crate::vfs::file_reader(repo, node));
    }
    let mut buf = vec![];
    for id in &node.content {
        let Ok((_, loc)) = repo.locate(id) else { return false };
        buf.resize(loc.raw_len as usize, 0);
        if f.read_exact(&mut buf).is_err() || repo.blob_id(&buf) != *id {
            return false;
        }
    }
    f.read(&mut [0u8; 1]).is_ok_and(|n| n == 0)
}

fn same_bytes(a: &mut dyn Read, b: &mut dyn Read) -> bool {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = a.read(&mut x) else { return false };
        if n == 0 {
            return b.read(&mut y[..1]).is_ok_and(|m| m == 0);
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}
