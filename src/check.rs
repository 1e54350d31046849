//! `check`: is every snapshot restorable? Structure first (index ↔ packs, trees, every
//! referenced blob indexed); with `read_data`, every pack is read, its name (hash) and
//! header verified, and every blob decrypted and checked against its id.

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

use crate::repo::pack::parse_pack;
use crate::repo::tree::NodeKind;
use crate::repo::{pack_name, Id, Repository};

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
    let packs: HashMap<Id, u64> = repo
        .backend()
        .list("data")?
        .into_iter()
        .filter_map(|(n, size)| Id::from_hex(n.rsplit('/').next().unwrap_or("")).ok().map(|id| (id, size)))
        .collect();
    r.packs = packs.len();

    // Index files, each must open; every indexed pack must exist and be long enough.
    let mut indexed: HashMap<Id, Vec<crate::repo::pack::PackEntry>> = HashMap::new();
    for (name, _) in repo.backend().list("index")? {
        match repo.read_index_file(&name) {
            Ok(f) => {
                for (p, e) in f.packs {
                    indexed.insert(p, e);
                }
            }
            Err(e) => r.errors.push(format!("{name}: {e:#}")),
        }
    }
    repo.load_index().ok();
    for (p, entries) in &indexed {
        match packs.get(p) {
            None => r.errors.push(format!("pack {p} is in the index but missing from storage")),
            Some(&size) => {
                let end = entries.iter().map(|e| e.offset as u64 + e.stored_len as u64).max().unwrap_or(0);
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
                r.errors.push(format!("snapshot {id}: {e:#}"));
                continue;
            }
        };
        let mut stack = vec![snap.tree];
        while let Some(t) = stack.pop() {
            if !seen_trees.insert(t) {
                continue;
            }
            let tree = match repo.read_tree(&t) {
                Ok(t) => t,
                Err(e) => {
                    r.errors.push(format!("snapshot {}: tree {}: {e:#}", id.short(), t.short()));
                    continue;
                }
            };
            let idx = repo.index();
            for n in &tree.nodes {
                match n.kind {
                    NodeKind::Dir => match n.subtree {
                        Some(s) => stack.push(s),
                        None => r.errors.push(format!(
                            "snapshot {}: directory {:?} has no tree",
                            id.short(),
                            n.name_lossy()
                        )),
                    },
                    NodeKind::File => {
                        for b in n.data_blobs() {
                            if !idx.contains(b) || idx.base_of(b).is_some_and(|base| !idx.contains(&base)) {
                                r.errors.push(format!(
                                    "snapshot {}: file {:?} needs blob {} which is missing",
                                    id.short(),
                                    n.name_lossy(),
                                    b.short()
                                ));
                            }
                        }
                    }
                    NodeKind::Symlink => {}
                }
            }
        }
    }

    if read_data {
        // Reading everything means restoring cold packs first.
        let names: Vec<String> = indexed.keys().filter(|p| packs.contains_key(p)).map(pack_name).collect();
        repo.backend().prepare_read(&names, true)?;
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

fn read_pack(repo: &Repository, pack: &Id, indexed: &[crate::repo::pack::PackEntry]) -> anyhow::Result<()> {
    let bytes = repo.backend().read(&pack_name(pack))?;
    let got = Id::of_stored(&bytes);
    anyhow::ensure!(got == *pack, "content hash is {got} (damaged)");
    let header = parse_pack(repo.key(), &bytes).context("header")?;
    anyhow::ensure!(header == indexed, "header does not match the index");
    for e in &header {
        repo.decode_entry(e, &bytes)?;
    }
    Ok(())
}
