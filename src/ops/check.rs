//! `check`: is every snapshot restorable? Structure first (index ↔ packs, trees, every
//! referenced blob indexed); with `read_data`, every pack is read, its name (hash) and
//! header verified, and every blob decrypted and checked against its id.

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::file::index::IndexFile;
use crate::repo::file::pack::{parse_pack, PackEntry};
use crate::repo::file::tree::NodeKind;
use crate::repo::file::FileType;
use crate::repo::Repository;
use crate::vfs::{Entry, Visitor};

/// What `check` found (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct CheckReport {
    pub snapshots: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    /// Problems that make data unrestorable or untrustworthy.
    pub errors: Vec<String>,
    /// Harmless leftovers (e.g. packs of an interrupted backup, not yet in any index).
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

pub fn check(repo: &Repository, read_data: bool) -> anyhow::Result<CheckReport> {
    let mut r = CheckReport::default();
    let packs: HashMap<Id, u64> = repo.list_sized(FileType::Pack)?.into_iter().collect();
    r.packs = packs.len();

    // Index files, each must open; every indexed pack must exist and be long enough.
    let mut indexed: HashMap<Id, Vec<PackEntry>> = HashMap::new();
    for id in repo.list_ids(FileType::Index)? {
        match repo.load_file::<IndexFile>(&id) {
            Ok(f) => indexed.extend(f.packs),
            Err(e) => r.errors.push(format!("{}: {e}", FileType::Index.name(&id))),
        }
    }
    repo.load_index().ok();
    for (p, entries) in &indexed {
        match packs.get(p) {
            None => r.errors.push(format!("pack {p} is in the index but missing from storage")),
            Some(&size) => {
                let end = entries.iter().map(|e| u64::from(e.offset) + u64::from(e.stored_len)).max().unwrap_or(0);
                if end + 4 > size {
                    r.errors.push(format!("pack {p} is {size} bytes, shorter than its indexed blobs ({end})"));
                }
            }
        }
    }
    for p in packs.keys().filter(|p| !indexed.contains_key(p)) {
        r.warnings.push(format!("pack {p} is not in any index (left by an interrupted backup; prune removes it)"));
    }
    r.blobs = repo.index().blob_count();

    // Snapshots: every tree readable, every referenced blob indexed.
    let mut seen_trees = HashSet::new();
    for id in repo.snapshot_ids()? {
        r.snapshots += 1;
        let snap = match repo.read_snapshot(&id) {
            Ok(s) => s,
            Err(e) => {
                r.errors.push(format!("snapshot {id}: {e}"));
                continue;
            }
        };
        let mut v = Structure { repo, snap: id, errors: &mut r.errors };
        crate::vfs::walk_with(repo, &snap.tree, Some(&mut seen_trees), &mut v)?;
    }

    if read_data {
        // Reading everything means restoring cold packs first.
        let names: Vec<String> =
            indexed.keys().filter(|p| packs.contains_key(p)).map(|p| FileType::Pack.name(p)).collect();
        crate::vfs::thaw(repo, &names, true)?;
        let mut list: Vec<(&Id, &Vec<_>)> = indexed.iter().collect();
        list.sort_by_key(|(p, _)| **p);
        let errs: Vec<String> = list
            .par_iter()
            .filter(|(p, _)| packs.contains_key(p))
            .flat_map_iter(|(p, entries)| read_pack(repo, p, entries).err().map(|e| format!("pack {p}: {e:#}")))
            .collect();
        r.packs_read = list.len();
        r.errors.extend(errs);
    }
    Ok(r)
}

/// Checks one snapshot's trees: readable, directories with trees, file blobs indexed.
struct Structure<'a> {
    repo: &'a Repository,
    snap: Id,
    errors: &'a mut Vec<String>,
}

impl Visitor for Structure<'_> {
    fn node(&mut self, e: &Entry) -> anyhow::Result<bool> {
        let n = e.node;
        match n.kind {
            NodeKind::Dir if n.subtree.is_none() => {
                self.errors.push(format!("snapshot {}: directory {:?} has no tree", self.snap.short(), n.name_lossy()));
            }
            NodeKind::File => {
                let idx = self.repo.index();
                for b in n.data_blobs() {
                    if !idx.contains(b) || idx.base_of(b).is_some_and(|base| !idx.contains(&base)) {
                        self.errors.push(format!(
                            "snapshot {}: file {:?} needs blob {} which is missing",
                            self.snap.short(),
                            n.name_lossy(),
                            b.short()
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(true)
    }

    fn unreadable(&mut self, _path: &str, id: &Id, err: RepoError) -> anyhow::Result<()> {
        self.errors.push(format!("snapshot {}: tree {}: {err}", self.snap.short(), id.short()));
        Ok(())
    }
}

fn read_pack(repo: &Repository, pack: &Id, indexed: &[PackEntry]) -> anyhow::Result<()> {
    let name = FileType::Pack.name(pack);
    let bytes = repo.backend().read(&name)?;
    let got = Id::of_stored(&bytes);
    anyhow::ensure!(got == *pack, "content hash is {got} (damaged)");
    let header = parse_pack(repo.key(), &name, &bytes).context("header")?;
    anyhow::ensure!(header == indexed, "header does not match the index");
    for e in &header {
        repo.decode_entry(e, &bytes)?;
    }
    Ok(())
}
