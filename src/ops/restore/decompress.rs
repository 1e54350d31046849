//! `restore --decompress`: every selected `*.gz` file is written as the bytes it holds
//! decoded (what `zcat` prints), under its name without `.gz`, so a recovery reads the
//! SQL straight away (`psql -f dop-202504211200.dump`). Gzip-transparent files give their
//! stored text (verified chunk by chunk against its ids) without recreating the gzip
//! stream; gzip files stored as they are are inflated, every member's CRC checked. As for
//! every restored file, the bytes go to a temporary name that is renamed into place only
//! when complete.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::existing::Overwrite;
use super::local::{open_nofollow, set_meta, tmp_name};
use super::plan::PlannedFile;
use super::{Damaged, DamagedEntry, RestoreReport};
use crate::repo::Repository;

/// Take the files `--decompress` decodes (named `*.gz`) out of `files`.
pub(super) fn take_gzip(files: &mut Vec<PlannedFile>) -> Vec<PlannedFile> {
    let (gz, rest): (Vec<_>, Vec<_>) = std::mem::take(files).into_iter().partition(|f| decoded_rel(&f.rel).is_some());
    *files = rest;
    gz
}

/// `x.gz` → `x`; `None` for other names (and for a bare `.gz`).
fn decoded_rel(rel: &Path) -> Option<PathBuf> {
    let name = rel.file_name()?.as_bytes();
    let stem = name.strip_suffix(b".gz").filter(|s| !s.is_empty())?;
    Some(rel.with_file_name(OsStr::from_bytes(stem)))
}

enum Outcome {
    Written { path: String, bytes: u64 },
    Kept(String),
    Damaged(DamagedEntry),
}

/// Write each file decoded; `in_snapshot` (every path the snapshot holds) keeps a decoded
/// name from replacing a file the snapshot also has.
pub(super) fn restore(
    repo: &Repository,
    target: &Path,
    files: Vec<PlannedFile>,
    in_snapshot: &std::collections::HashSet<PathBuf>,
    overwrite: Overwrite,
    report: &mut RestoreReport,
) -> anyhow::Result<()> {
    let outcomes: Vec<anyhow::Result<Outcome>> =
        files.par_iter().map(|f| one(repo, target, f, in_snapshot, overwrite)).collect();
    for o in outcomes {
        match o? {
            Outcome::Written { path, bytes } => report.file_done(&path, bytes),
            Outcome::Kept(path) => report.kept.push(path),
            Outcome::Damaged(d) => report.damaged.push(d),
        }
    }
    Ok(())
}

/// One file. Damage (a missing blob, a broken gzip stream) is that file's outcome; only a
/// failure of the target (its disk) is an error.
fn one(
    repo: &Repository,
    target: &Path,
    f: &PlannedFile,
    in_snapshot: &std::collections::HashSet<PathBuf>,
    overwrite: Overwrite,
) -> anyhow::Result<Outcome> {
    let rel = decoded_rel(&f.rel).expect("taken by take_gzip");
    let path = f.path.strip_suffix(".gz").unwrap_or(&f.path).to_string();
    let damaged = |e: String| Outcome::Damaged(DamagedEntry { path: f.path.clone(), ..Damaged::new(e).into() });
    if in_snapshot.contains(&rel) {
        return Ok(damaged(format!("the snapshot also holds {path}; restore {} without --decompress", f.path)));
    }
    let dest = target.join(&rel);
    if overwrite == Overwrite::Never && std::fs::symlink_metadata(&dest).is_ok() {
        return Ok(Outcome::Kept(path));
    }
    let tmp = tmp_name(&dest);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, open_nofollow(&tmp, true)?);
    let written = crate::ops::dump::write_decoded(repo, &f.node, &f.path, &mut out);
    let flushed = out.flush();
    if let Err(e) = written {
        drop(out);
        let _ = std::fs::remove_file(&tmp);
        return Ok(damaged(format!("{e:#}")));
    }
    flushed?;
    let bytes = out.get_ref().metadata()?.len();
    drop(out);
    set_meta(&tmp, &f.node)?;
    std::fs::rename(&tmp, &dest).map_err(|e| anyhow::anyhow!("renaming into {}: {e}", dest.display()))?;
    Ok(Outcome::Written { path, bytes })
}
