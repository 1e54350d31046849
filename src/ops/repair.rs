//! `repair`: make a damaged repository whole again, as far as its data allows.
//!
//! - [`index`] rebuilds the index: entries of intact index files are kept for the packs
//!   that exist, the headers of packs no intact index file describes are read (every pack
//!   carries a sealed list of its blobs), entries of missing packs are dropped. The new
//!   index files supersede all old ones, which are then removed.
//! - [`snapshots`] writes, for each damaged snapshot, a new one without its damaged files
//!   (whole TSDB blocks where a block lost a file, so no block with holes is ever
//!   restored), recording what was left out; the original stays until it is forgotten.

use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::rewrite::Rewriter;
use crate::id::Id;
use crate::repo::file::index::IndexFile;
use crate::repo::file::pack::{header_len_from_trailer, parse_header, PackEntry};
use crate::repo::file::snapshot::{BlockInfo, Repaired, Snapshot, TenantBlocks};
use crate::repo::file::FileType;
use crate::repo::Repository;

/// What `repair index` did or, on a dry run, would do (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct IndexRepair {
    /// Packs described by the intact index files.
    pub packs_from_index: usize,
    /// Packs whose header was read because no intact index file describes them.
    pub packs_from_headers: usize,
    /// Packs whose header cannot be read: their blobs are lost (named, with why).
    pub packs_unreadable: Vec<String>,
    /// Index entries of packs missing from storage, dropped.
    pub packs_missing: usize,
    pub index_files_written: usize,
    /// Old index files (damaged ones included) replaced.
    pub index_files_removed: usize,
    pub dry_run: bool,
}

pub fn index(repo: &Repository, dry_run: bool) -> anyhow::Result<IndexRepair> {
    let mut r = IndexRepair { dry_run, ..Default::default() };
    // Index files first, then packs: a backup indexes its packs after writing them, so
    // a pack listed after an index file it is missing from is read from its header.
    let old = repo.list_ids(FileType::Index)?;
    let loaded = repo.load_all::<IndexFile>()?;
    let stored: HashMap<Id, u64> = repo.list_sized(FileType::Pack)?.into_iter().collect();
    let mut packs: HashMap<Id, Vec<PackEntry>> = HashMap::new();
    for (_, f) in loaded.files {
        for (p, e) in f.packs {
            if stored.contains_key(&p) {
                packs.entry(p).or_insert(e);
            } else {
                r.packs_missing += 1;
            }
        }
    }
    r.packs_from_index = packs.len();
    let mut unknown: Vec<(Id, u64)> =
        stored.iter().filter(|(p, _)| !packs.contains_key(p)).map(|(p, s)| (*p, *s)).collect();
    unknown.sort();
    let names: Vec<String> = unknown.iter().map(|(p, _)| FileType::Pack.name(p)).collect();
    crate::vfs::thaw(repo, &names, true)?;
    for (p, size) in unknown {
        match read_header(repo, &p, size) {
            Ok(entries) => {
                packs.insert(p, entries);
                r.packs_from_headers += 1;
            }
            Err(e) => r.packs_unreadable.push(format!("pack {p}: {e}")),
        }
    }
    let mut all: Vec<(Id, Vec<PackEntry>)> = packs.into_iter().collect();
    all.sort_by_key(|(p, _)| *p);
    let chunks = crate::repo::packer::index_file_groups(all, 256);
    if dry_run {
        r.index_files_removed = old.len();
        r.index_files_written = chunks.len();
        return Ok(r);
    }
    let n = chunks.len();
    for (i, packs) in chunks.into_iter().enumerate() {
        // The last new file, written after all others, supersedes every old one
        // (format-spec §7): a reader that skips superseded files then misses nothing.
        let supersedes = if i + 1 == n { old.clone() } else { vec![] };
        repo.save_index(&IndexFile { supersedes, packs })?;
        r.index_files_written += 1;
    }
    for id in &old {
        repo.remove_file(FileType::Index, id)?;
    }
    r.index_files_removed = old.len();
    repo.load_index()?;
    Ok(r)
}

/// A pack's blob list from its sealed header (two ranged reads: trailer, header).
fn read_header(repo: &Repository, pack: &Id, size: u64) -> anyhow::Result<Vec<PackEntry>> {
    let name = FileType::Pack.name(pack);
    anyhow::ensure!(size >= 4, "{size} bytes: shorter than a pack's trailer");
    let trailer = repo.backend().read_range(&name, size - 4, 4)?;
    let n = header_len_from_trailer(&name, &trailer, size)?;
    let header = repo.backend().read_range(&name, size - 4 - n, n)?;
    let entries = parse_header(repo.content_keys(), &name, &header)?;
    let end = entries.last().map_or(0, |e| u64::from(e.offset) + u64::from(e.stored_len));
    anyhow::ensure!(end == size - 4 - n, "its blobs end at {end} but its header starts at {}", size - 4 - n);
    Ok(entries)
}

/// One snapshot `repair snapshots` rewrote (format-spec/json.md).
#[derive(Serialize, Debug, Clone)]
pub struct SnapshotRepair {
    pub original: Id,
    /// The new snapshot; `None` on a dry run.
    pub repaired: Option<Id>,
    pub dropped: Vec<String>,
}

#[derive(Serialize, Debug, Default)]
pub struct SnapshotsRepair {
    pub repaired: Vec<SnapshotRepair>,
    /// Snapshots with nothing damaged.
    pub intact: usize,
    /// Damaged snapshots nothing can be saved of (their root tree is gone).
    pub unrepairable: Vec<Id>,
    pub dry_run: bool,
}

pub fn snapshots(repo: &Arc<Repository>, dry_run: bool) -> anyhow::Result<SnapshotsRepair> {
    let mut writer = if dry_run { None } else { Some(repo.register_writer()?) };
    let snaps = repo.list_snapshots()?;
    repo.load_index()?;
    if let Some(w) = writer.as_mut() {
        w.saw(repo.seen_deletions())?;
    }
    let packs: HashMap<Id, u64> = repo.list_sized(FileType::Pack)?.into_iter().collect();
    // Lost: copies in missing packs, and copies the latest checks found damaged.
    let mut bad = super::check::missing_copies(repo, &packs, &mut vec![])?;
    for (v, blobs) in repo.verifications()?.into_values() {
        bad.extend(blobs.into_iter().map(|b| (b, v.pack)));
    }
    let lost_blobs = super::check::lost_blobs(repo, &bad);
    let lost = super::check::damaged_paths(repo, snaps.iter().map(|(_, s)| s.tree), &lost_blobs, &mut vec![])?;
    let mut report = SnapshotsRepair { dry_run, ..Default::default() };
    let mut w = Rewriter::new(repo);
    let mut new_snaps = vec![];
    for (id, s) in &snaps {
        let Some(paths) = lost.get(&s.tree) else {
            report.intact += 1;
            continue;
        };
        if paths.iter().any(String::is_empty) {
            report.unrepairable.push(*id);
            continue;
        }
        let (drop, tenants) = what_to_drop(repo, s, paths);
        if dry_run {
            report.repaired.push(SnapshotRepair { original: *id, repaired: None, dropped: drop });
            continue;
        }
        let mut n = s.clone();
        n.tree = w.remove(&s.tree, &drop)?;
        n.tenants = tenants
            .into_iter()
            .map(|(t, list)| {
                Ok(TenantBlocks {
                    blocks: list.len() as u64,
                    min_time: list.iter().map(|b| b.min_time).min().unwrap_or(0),
                    max_time: list.iter().map(|b| b.max_time).max().unwrap_or(0),
                    list: w.put_blob(&serde_json::to_vec(&list)?)?,
                    ..t
                })
            })
            .collect::<anyhow::Result<_>>()?;
        n.parent = Some(*id);
        n.repaired = Some(Repaired { original: *id, dropped: drop });
        new_snaps.push(n);
    }
    w.finish()?;
    // Snapshots last: once one exists, everything it references is stored and indexed.
    for n in new_snaps {
        let (new, _) = repo.save_snapshot(&n)?;
        let r = n.repaired.expect("set above");
        report.repaired.push(SnapshotRepair { original: r.original, repaired: Some(new), dropped: r.dropped });
    }
    Ok(report)
}

/// The paths to leave out of a damaged snapshot (whole blocks for files of a TSDB block),
/// and its tenants' new block lists (a tenant whose list is unreadable is left out of the
/// manifest, its directories stay in the tree).
fn what_to_drop(
    repo: &Repository,
    s: &Snapshot,
    lost: &[String],
) -> (Vec<String>, Vec<(TenantBlocks, Vec<BlockInfo>)>) {
    let mut tenants = vec![];
    let mut blocks: Vec<BlockInfo> = vec![];
    for t in &s.tenants {
        if let Ok(list) = crate::vfs::blocks(repo, &Snapshot { tenants: vec![t.clone()], ..s.clone() }) {
            blocks.extend(list.iter().cloned());
            tenants.push((t.clone(), list));
        }
    }
    let mut drop: BTreeSet<String> = BTreeSet::new();
    for p in lost {
        match blocks.iter().find(|b| p.starts_with(&format!("{}/", b.path))) {
            Some(b) => drop.insert(b.path.clone()),
            None => drop.insert(p.clone()),
        };
    }
    // Nothing below a dropped directory needs naming again.
    let all: Vec<String> = drop.into_iter().collect();
    let below = |p: &String, d: &String| d != p && p.starts_with(&format!("{}/", d.trim_end_matches('/')));
    let drop: Vec<String> = all.iter().filter(|p| !all.iter().any(|d| below(p, d))).cloned().collect();
    let gone: HashSet<&str> = drop.iter().map(|p| p.trim_end_matches('/')).collect();
    for (_, list) in &mut tenants {
        list.retain(|b| !gone.contains(b.path.as_str()));
    }
    (drop, tenants)
}
