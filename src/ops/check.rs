//! `check`: is every snapshot restorable, and if not, what exactly is lost?
//!
//! Structure first: every repository file readable (key, index, snapshot files are each
//! judged on their own), every indexed pack present and long enough, every tree readable,
//! every referenced blob indexed. With `--read-data` (or a subset of it), packs are read
//! back: name (hash), header, and every blob decrypted and checked against its id; the
//! result is remembered in `verified/` so later runs can skip recently verified packs and
//! backups store damaged blobs again.
//!
//! The report ends in the user's terms: which snapshots are intact, and for each damaged
//! one the tenants, TSDB blocks and files it loses.

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::file::key::KeyFile;
use crate::repo::file::pack::{parse_pack, PackEntry};
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{NodeKind, Tree};
use crate::repo::file::verified::Verification;
use crate::repo::file::FileType;
use crate::repo::{DamagedFile, Repository};
use crate::vfs::{Entry, Visitor};

/// Which packs to read back.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ReadData {
    /// None: structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// Slice `n` of `m` (1-based): the packs whose id, read as a number, is `n - 1` modulo
    /// `m`. Runs `1/m` … `m/m` together read every pack exactly once.
    Subset { n: u32, m: u32 },
    /// This fraction of the packs, chosen at random.
    Fraction(f64),
}

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub read: ReadData,
    /// With reading: skip packs a check verified intact within this long.
    pub max_age: Option<time::Duration>,
    /// Also verify every distinct TSDB block of every snapshot as Prometheus would read
    /// it (`verify-blocks`).
    pub verify_blocks: bool,
}

impl CheckOptions {
    pub fn read_all() -> CheckOptions {
        CheckOptions { read: ReadData::All, ..Default::default() }
    }
}

/// What `check` found (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct CheckReport {
    pub snapshots: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    /// Packs not read because a check verified them intact recently (`--max-age`).
    pub packs_recently_verified: usize,
    /// Problems that make data unrestorable or untrustworthy.
    pub errors: Vec<String>,
    /// Harmless leftovers (e.g. packs of an interrupted backup, not yet in any index).
    pub warnings: Vec<String>,
    /// Repository files that cannot be used (snapshots, index files, keys).
    pub damaged_files: Vec<DamagedFile>,
    /// Snapshots every file of which restores.
    pub intact: Vec<Id>,
    /// Snapshots that lose something, and what.
    pub damaged: Vec<DamagedSnapshot>,
    /// With `verify_blocks`: the distinct blocks verified, and those that are not sound
    /// (stored intact, but not a valid TSDB block), with the snapshots holding them.
    pub blocks_verified: usize,
    pub bad_blocks: Vec<BadBlockIn>,
}

/// A block that is not sound, and the snapshots holding it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BadBlockIn {
    #[serde(flatten)]
    pub block: crate::ops::verify_blocks::BadBlock,
    pub snapshots: Vec<Id>,
}

/// A snapshot that cannot be restored whole, in its user's terms.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DamagedSnapshot {
    pub id: Id,
    pub time: String,
    pub sources: Vec<String>,
    /// Tenants with a damaged block (or block list).
    pub tenants: Vec<String>,
    pub blocks: Vec<DamagedBlock>,
    /// Damaged files outside TSDB blocks; directories that cannot be listed end in `/`.
    pub files: Vec<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DamagedBlock {
    pub tenant: String,
    pub ulid: String,
    pub path: String,
    /// Damaged files of the block, relative to it; `[]` when its block list is damaged.
    pub files: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.damaged.is_empty() && self.damaged_files.is_empty() && self.bad_blocks.is_empty()
    }
}

pub fn check(repo: &Repository, opts: &CheckOptions) -> anyhow::Result<CheckReport> {
    let mut r = CheckReport::default();
    let packs: HashMap<Id, u64> = repo.list_sized(FileType::Pack)?.into_iter().collect();
    r.packs = packs.len();

    // Repository files, each on its own.
    // Index files are read once, into the spilled index (bounded memory at millions of
    // blobs); pack listings are read back from it one pack at a time.
    let keys = repo.load_all::<KeyFile>()?;
    let snaps = repo.list_snapshots_checked()?;
    repo.load_index()?;
    let index_damage = repo.index_damage();
    for d in keys.damaged.iter().chain(&index_damage).chain(&snaps.damaged) {
        r.errors.push(format!("{} is damaged: {}", d.name(), d.error));
    }
    r.damaged_files.extend(keys.damaged.into_iter().chain(index_damage).chain(snaps.damaged));

    // Every indexed pack present and long enough; the blobs of those that are not are lost.
    let mut bad = missing_copies(repo, &packs, &mut r.errors)?;
    let listed: HashSet<Id> = repo.index().indexed_packs().collect();
    for p in packs.keys().filter(|p| !listed.contains(p)) {
        r.warnings.push(format!("pack {p} is not in any index (left by an interrupted backup; prune removes it)"));
    }
    r.blobs = repo.index().blob_count();

    if opts.read != ReadData::None {
        read_packs(repo, opts, &packs, &listed, &mut r, &mut bad)?;
    }
    let bad_blobs = lost_blobs(repo, &bad);

    // Damage in the user's terms.
    let lost = damaged_paths(repo, snaps.files.iter().map(|(_, s)| s.tree), &bad_blobs, &mut r.errors)?;
    for (id, s) in &snaps.files {
        r.snapshots += 1;
        match lost.get(&s.tree) {
            None => r.intact.push(*id),
            Some(paths) => r.damaged.push(describe(repo, *id, s, paths)),
        }
    }
    r.snapshots += r.damaged_files.iter().filter(|d| d.kind == FileType::Snapshot).count();
    if opts.verify_blocks {
        verify_all_blocks(repo, &snaps.files, &mut r);
    }
    Ok(r)
}

/// Verify each distinct block (by its directory's tree) once, whichever snapshots hold it.
fn verify_all_blocks(repo: &Repository, snaps: &[(Id, Snapshot)], r: &mut CheckReport) {
    use crate::ops::verify_blocks::{block_tree, verify_block, BadBlock};
    let mut distinct: BTreeMap<Id, (crate::repo::file::snapshot::BlockInfo, Vec<Id>)> = BTreeMap::new();
    for (id, s) in snaps {
        for b in crate::vfs::blocks(repo, s).unwrap_or_default() {
            if let Ok(t) = block_tree(repo, s, &b) {
                distinct.entry(t).or_insert_with(|| (b, vec![])).1.push(*id);
            }
        }
    }
    r.blocks_verified = distinct.len();
    let list: Vec<_> = distinct.into_iter().collect();
    r.bad_blocks = list
        .par_iter()
        .filter_map(|(t, (b, snaps))| {
            let problems = verify_block(repo, b, t);
            (!problems.is_empty()).then(|| BadBlockIn {
                block: BadBlock { tenant: b.tenant.clone(), ulid: b.ulid.clone(), path: b.path.clone(), problems },
                snapshots: snaps.clone(),
            })
        })
        .collect();
}

/// Copies (blob, pack) that are gone: every entry of an indexed pack missing from storage
/// or shorter than its index says. Each such pack is named in `errors`.
pub(crate) fn missing_copies(
    repo: &Repository,
    packs: &HashMap<Id, u64>,
    errors: &mut Vec<String>,
) -> anyhow::Result<HashSet<(Id, Id)>> {
    let mut bad = HashSet::new();
    let idx = repo.index();
    let mut listed: Vec<Id> = idx.indexed_packs().collect();
    listed.sort();
    for p in &listed {
        let entries = listing(&idx, p)?;
        let end = entries.iter().map(|e| u64::from(e.offset) + u64::from(e.stored_len)).max().unwrap_or(0);
        let problem = match packs.get(p) {
            None => Some(format!("pack {p} is in the index but missing from storage")),
            Some(&size) if end + 4 > size => {
                Some(format!("pack {p} is {size} bytes, shorter than its indexed blobs ({end})"))
            }
            Some(_) => None,
        };
        if let Some(msg) = problem {
            errors.push(msg);
            bad.extend(entries.iter().map(|e| (e.id, *p)));
        }
    }
    Ok(bad)
}

/// A pack's entries as the loaded index lists them (none if no index file does).
fn listing(idx: &crate::repo::index::Index, pack: &Id) -> anyhow::Result<Vec<PackEntry>> {
    Ok(crate::ops::prune::plan::pack_entries(idx, pack)?.unwrap_or_default())
}

/// The blobs every copy of which is bad: lost, unless a backup stores them again.
pub(crate) fn lost_blobs(repo: &Repository, bad: &HashSet<(Id, Id)>) -> HashSet<Id> {
    let idx = repo.index();
    bad.iter()
        .map(|(b, _)| *b)
        .filter(|b| idx.all_locations(b).iter().all(|l| bad.contains(&(*b, idx.pack_id(l.pack)))))
        .collect()
}

/// Read the chosen packs back; record every damaged blob, and what was verified.
fn read_packs(
    repo: &Repository,
    opts: &CheckOptions,
    packs: &HashMap<Id, u64>,
    indexed: &HashSet<Id>,
    r: &mut CheckReport,
    bad: &mut HashSet<(Id, Id)>,
) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let recent = match opts.max_age {
        Some(age) => {
            let since = now.saturating_sub(age.whole_seconds().max(0) as u64);
            repo.verifications()?
                .into_values()
                .filter(|(v, _)| v.intact && v.at >= since)
                .map(|(v, _)| v.pack)
                .collect()
        }
        None => HashSet::new(),
    };
    let mut list: Vec<&Id> = indexed.iter().filter(|p| packs.contains_key(p) && chosen(opts.read, p)).collect();
    list.sort();
    let before = list.len();
    list.retain(|p| !recent.contains(*p));
    r.packs_recently_verified = before - list.len();
    // Reading means restoring cold packs first.
    let names: Vec<String> = list.iter().map(|p| FileType::Pack.name(p)).collect();
    crate::vfs::thaw(repo, &names, true)?;
    let results = list
        .par_iter()
        .map(|p| {
            let entries = listing(&repo.index(), p)?;
            let (res, bad) = read_pack(repo, p, &entries);
            Ok((**p, res, bad))
        })
        .collect::<anyhow::Result<Vec<(Id, Result<(), String>, Vec<Id>)>>>()?;
    r.packs_read = results.len();
    let mut verified = vec![];
    for (p, res, lost) in results {
        if let Err(e) = &res {
            r.errors.push(format!("pack {p}: {e}"));
        }
        bad.extend(lost.iter().map(|b| (*b, p)));
        verified.push((Verification { pack: p, at: now, intact: res.is_ok() }, lost));
    }
    let present: HashSet<Id> = packs.keys().copied().collect();
    // A read-only view (a repository as of a past time) has nowhere to record them.
    if !repo.backend().read_only() {
        repo.save_verifications(verified, &present).context("recording verified packs")?;
    }
    Ok(())
}

/// Whether `ReadData` selects pack `p`.
fn chosen(read: ReadData, p: &Id) -> bool {
    match read {
        ReadData::None => false,
        ReadData::All => true,
        ReadData::Subset { n, m } => u32::from_be_bytes(p.0[..4].try_into().expect("4 bytes")) % m == n - 1,
        ReadData::Fraction(f) => {
            let x: u32 = u32::from_le_bytes(crate::repo::crypto::random());
            f64::from(x) < f * f64::from(u32::MAX)
        }
    }
}

/// Read one pack: its name, header and every blob. Returns what is wrong (if anything)
/// and the blobs it loses. Blobs are checked at the offsets the index gives, so a damaged
/// header or a changed byte costs only the blobs that really fail.
fn read_pack(repo: &Repository, pack: &Id, indexed: &[PackEntry]) -> (Result<(), String>, Vec<Id>) {
    let name = FileType::Pack.name(pack);
    let bytes = match repo.backend().read(&name) {
        Ok(b) => b,
        Err(e) => return (Err(e.to_string()), indexed.iter().map(|e| e.id).collect()),
    };
    let mut problems = vec![];
    let got = Id::of_stored(&bytes);
    if got != *pack {
        problems.push(format!("content hash is {got} (damaged)"));
    }
    match parse_pack(repo.content_keys(), &name, &bytes) {
        Ok(h) if h != indexed => problems.push("header does not match the index".into()),
        Ok(_) => {}
        Err(e) => problems.push(format!("header: {e}")),
    }
    let mut bad = vec![];
    let mut first = None;
    for e in indexed {
        // A delta whose base is in no index is garbage: prune keeps the base of every
        // delta a snapshot needs (and the structural check names one that lost it), but
        // leaves unused blobs in packs it does not repack. Only its encryption can be
        // verified; decoding it would report damage that no snapshot has.
        let orphan = e.base.is_some_and(|b| !repo.index().contains(&b));
        let res = if orphan { repo.open_entry(e, &bytes) } else { repo.decode_entry(e, &bytes).map(drop) };
        if let Err(err) = res {
            first.get_or_insert_with(|| err.to_string());
            bad.push(e.id);
        }
    }
    if let Some(f) = first {
        problems.push(format!("{} damaged blobs, first: {f}", bad.len()));
    }
    if problems.is_empty() {
        (Ok(()), bad)
    } else {
        (Err(problems.join("; ")), bad)
    }
}

/// For every tree (reachable from `roots`) that loses something, the paths below it that
/// are lost: files needing a lost or unindexed blob, and directories that cannot be read
/// (ending in `/`). Trees are visited once each, children first.
pub(crate) fn damaged_paths(
    repo: &Repository,
    roots: impl IntoIterator<Item = Id>,
    bad_blobs: &HashSet<Id>,
    errors: &mut Vec<String>,
) -> anyhow::Result<HashMap<Id, Vec<String>>> {
    struct Lost<'a> {
        repo: &'a Repository,
        bad: &'a HashSet<Id>,
        lost: HashMap<Id, Vec<String>>,
        errors: &'a mut Vec<String>,
    }
    impl Visitor for Lost<'_> {
        fn node(&mut self, _: &Entry) -> anyhow::Result<bool> {
            Ok(true)
        }
        fn tree_done(&mut self, id: &Id, tree: &Tree, _: &str) -> anyhow::Result<()> {
            let idx = self.repo.index();
            let mut paths = vec![];
            for n in &tree.nodes {
                let name = n.name_lossy();
                match n.kind {
                    NodeKind::File => {
                        let gone = |b: &Id| self.bad.contains(b) || !idx.contains(b);
                        if n.data_blobs().any(|b| gone(b) || idx.base_of(b).is_some_and(|base| gone(&base))) {
                            paths.push(name);
                        }
                    }
                    NodeKind::Dir => match n.subtree {
                        None => paths.push(format!("{name}/")),
                        Some(sub) => {
                            if let Some(below) = self.lost.get(&sub) {
                                paths.extend(below.iter().map(|p| {
                                    if p.is_empty() {
                                        format!("{name}/")
                                    } else {
                                        format!("{name}/{p}")
                                    }
                                }));
                            }
                        }
                    },
                    NodeKind::Symlink => {}
                }
            }
            if !paths.is_empty() {
                self.lost.insert(*id, paths);
            }
            Ok(())
        }
        fn unreadable(&mut self, path: &str, id: &Id, err: RepoError) -> anyhow::Result<()> {
            self.errors.push(format!("tree {} ({}): {err}", id.short(), if path.is_empty() { "/" } else { path }));
            // The directory itself is lost: its parent names it.
            self.lost.insert(*id, vec![String::new()]);
            Ok(())
        }
    }
    let mut v = Lost { repo, bad: bad_blobs, lost: HashMap::new(), errors };
    let mut seen = HashSet::new();
    for root in roots {
        crate::vfs::walk_with(repo, &root, Some(&mut seen), &mut v)?;
    }
    Ok(v.lost)
}

/// A damaged snapshot's losses, by tenant and block where it has TSDB blocks.
fn describe(repo: &Repository, id: Id, s: &Snapshot, paths: &[String]) -> DamagedSnapshot {
    let mut d = DamagedSnapshot {
        id,
        time: s.time.clone(),
        sources: s.sources.clone(),
        tenants: vec![],
        blocks: vec![],
        files: vec![],
    };
    // Block lists, tenant by tenant (a damaged list costs its tenant's block names only).
    let mut blocks = vec![];
    for t in &s.tenants {
        if let Ok(list) = crate::vfs::blocks(repo, &Snapshot { tenants: vec![t.clone()], ..s.clone() }) {
            blocks.extend(list);
        } else {
            d.tenants.push(t.tenant.clone());
            d.files.push(format!("{} (block list)", t.path));
        }
    }
    let mut by_block: BTreeMap<String, DamagedBlock> = BTreeMap::new();
    for p in paths {
        let p = if p.is_empty() { "/".to_string() } else { p.clone() };
        match blocks.iter().find(|b| p.starts_with(&format!("{}/", b.path)) || p == format!("{}/", b.path)) {
            Some(b) => {
                let e = by_block.entry(b.path.clone()).or_insert_with(|| DamagedBlock {
                    tenant: b.tenant.clone(),
                    ulid: b.ulid.clone(),
                    path: b.path.clone(),
                    files: vec![],
                });
                let rel = p[b.path.len()..].trim_start_matches('/');
                e.files.push(if rel.is_empty() { "/".into() } else { rel.to_string() });
            }
            None => d.files.push(p),
        }
    }
    d.blocks = by_block.into_values().collect();
    d.tenants.extend(d.blocks.iter().map(|b| b.tenant.clone()));
    d.tenants.sort();
    d.tenants.dedup();
    d
}
