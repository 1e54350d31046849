//! Lineage-aware thinning (`forget --thin-compacted`): in old snapshots, replace TSDB
//! blocks whose samples a compacted block in the repository holds by that compacted block.
//!
//! Ingesters upload each 2h block once per replica; the compactor merges them (and later
//! merges those) into blocks whose `meta.json` lists the level-1 blocks they hold in
//! `compaction.sources`. A year of daily snapshots would otherwise keep every raw replica
//! and every intermediate level. The rule (format-spec/layouts.md, "Thinning"):
//!
//! - a block B of tenant T in a snapshot is *covered* by a block C when C is held by some
//!   snapshot of the same sources, for the same tenant, and C's sources are a strict superset
//!   of B's (a block without recorded sources counts as its own single source);
//! - B is replaced by its largest cover (most sources, then highest level, then ULID);
//!   blocks without a cover are kept as they are, so no sample range is ever dropped;
//! - the rewritten snapshot keeps time, host, tags and parent, records what was replaced in
//!   `thinned`, and replaces the old snapshot file (written first, old one removed after).
//!
//! The rewritten snapshot restores a state with at least every sample the original held
//! (query-equivalent for Mimir, which deduplicates overlapping blocks); it may hold more,
//! because a compacted block spans a longer range than the blocks it replaces.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::layout::{load_blocks, BlockInfo};
use crate::repo::blob::BlobKind;
use crate::repo::packer::BlobWriter;
use crate::repo::snapshot::{parse_time, Snapshot, TenantBlocks};
use crate::repo::tree::{Node, NodeKind, Tree};
use crate::repo::{Id, Repository};

/// One replacement, as recorded in the rewritten snapshot and reported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Substitution {
    pub tenant: String,
    /// The block left out.
    pub block: String,
    /// The compacted block that holds its samples.
    pub by: String,
}

/// What thinning did to a snapshot, stored in it so the history stays explainable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Thinned {
    /// The snapshot as the backup wrote it (before the first thinning).
    pub original: Id,
    pub replaced: Vec<Substitution>,
}

#[derive(Serialize, Debug, Default)]
pub struct ThinReport {
    /// (old snapshot id, new snapshot id; empty on a dry run, substitutions)
    pub rewritten: Vec<(String, String, Vec<Substitution>)>,
    /// Snapshots old enough to be thinned that had nothing to replace.
    pub unchanged: usize,
    /// Covers that could not be used because prune has marked some of their data.
    pub covers_skipped: usize,
}

#[derive(Clone)]
struct Candidate {
    info: BlockInfo,
    sources: BTreeSet<String>,
    /// The snapshot holding it and its path there.
    snap: usize,
}

fn sources_of(b: &BlockInfo) -> BTreeSet<String> {
    if b.sources.is_empty() {
        [b.ulid.clone()].into()
    } else {
        b.sources.iter().cloned().collect()
    }
}

/// Thin every snapshot for which `age` gives a minimum age it has reached.
pub fn thin(
    repo: &Arc<Repository>,
    age: &dyn Fn(&Snapshot) -> Option<time::Duration>,
    dry_run: bool,
) -> anyhow::Result<ThinReport> {
    let mut writer = if dry_run { None } else { Some(repo.register_writer()?) };
    repo.load_index()?;
    if let Some(w) = writer.as_mut() {
        w.saw(repo.seen_deletions())?;
    }
    let snaps = repo.list_snapshots()?;
    let now = time::OffsetDateTime::now_utc();

    // Every block of every snapshot, by (sources, tenant): the candidates for covers.
    let mut blocks: Vec<Vec<BlockInfo>> = Vec::with_capacity(snaps.len());
    let mut catalogue: HashMap<(Vec<String>, String), BTreeMap<String, Candidate>> = HashMap::new();
    for (i, (id, s)) in snaps.iter().enumerate() {
        let list = load_blocks(repo, s).with_context(|| format!("block lists of snapshot {}", id.short()))?;
        for b in &list {
            catalogue
                .entry((s.sources.clone(), b.tenant.clone()))
                .or_default()
                .entry(b.ulid.clone())
                .or_insert_with(|| Candidate { info: b.clone(), sources: sources_of(b), snap: i });
        }
        blocks.push(list);
    }

    let mut report = ThinReport::default();
    let mut store = BlobWriter::new(repo.clone());
    let mut usable: HashMap<String, Option<Node>> = HashMap::new();
    let mut new_snaps: Vec<(Id, Snapshot, Vec<Substitution>)> = vec![];
    for (i, (id, s)) in snaps.iter().enumerate() {
        let Some(min_age) = age(s) else { continue };
        if s.shard.is_some() || s.tenants.is_empty() || parse_time(&s.time)? + min_age > now {
            continue;
        }
        let mut subs: Vec<Substitution> = vec![];
        let mut tenants = s.tenants.clone();
        let mut root = s.tree;
        for t in &mut tenants {
            let here: Vec<&BlockInfo> =
                blocks[i].iter().filter(|b| b.path.rsplit_once('/').map(|p| p.0) == Some(&t.path)).collect();
            let Some(cands) = catalogue.get(&(s.sources.clone(), t.tenant.clone())) else { continue };
            let present: BTreeSet<&str> = here.iter().map(|b| b.ulid.as_str()).collect();
            let mut chosen: BTreeMap<String, &Candidate> = BTreeMap::new();
            let mut replaced: Vec<(&BlockInfo, String)> = vec![];
            for b in &here {
                let mine = sources_of(b);
                let best = cands
                    .values()
                    .filter(|c| c.info.ulid != b.ulid && c.sources.len() > mine.len() && c.sources.is_superset(&mine))
                    .max_by(|x, y| {
                        (x.sources.len(), x.info.level, &x.info.ulid).cmp(&(
                            y.sources.len(),
                            y.info.level,
                            &y.info.ulid,
                        ))
                    });
                let Some(c) = best else { continue };
                let node = match usable.get(&c.info.ulid) {
                    Some(n) => n.clone(),
                    None => {
                        let n = cover_node(repo, &snaps[c.snap].1, &c.info)?;
                        if n.is_none() {
                            report.covers_skipped += 1;
                        }
                        usable.insert(c.info.ulid.clone(), n.clone());
                        n
                    }
                };
                if node.is_none() {
                    continue;
                }
                chosen.insert(c.info.ulid.clone(), c);
                replaced.push((b, c.info.ulid.clone()));
            }
            if replaced.is_empty() {
                continue;
            }
            // A cover the snapshot already holds is not added twice.
            let gone: BTreeSet<&str> = replaced.iter().map(|(b, _)| b.ulid.as_str()).collect();
            let mut list: Vec<BlockInfo> =
                here.iter().filter(|b| !gone.contains(b.ulid.as_str())).map(|b| (*b).clone()).collect();
            let mut tree = repo.read_tree(&subtree_at(repo, &root, &t.path)?)?;
            tree.nodes.retain(|n| !gone.contains(String::from_utf8_lossy(&n.name).as_ref()));
            for (ulid, c) in &chosen {
                if present.contains(ulid.as_str()) && !gone.contains(ulid.as_str()) {
                    continue;
                }
                let mut node = usable[ulid].clone().expect("usable cover");
                node.name = ulid.as_bytes().to_vec();
                tree.nodes.push(node);
                list.push(BlockInfo { path: format!("{}/{}", t.path, ulid), ..c.info.clone() });
            }
            tree.nodes.sort_by(|a, b| a.name.cmp(&b.name));
            tree.nodes.dedup_by(|a, b| a.name == b.name);
            list.sort_by(|a, b| a.ulid.cmp(&b.ulid));
            list.dedup_by(|a, b| a.ulid == b.ulid);
            if !dry_run {
                let (leaf, _) = store.put(BlobKind::Tree, &tree.to_bytes())?;
                root = replace_subtree(repo, &mut store, &root, &t.path, leaf)?;
                *t = TenantBlocks {
                    path: t.path.clone(),
                    tenant: t.tenant.clone(),
                    blocks: list.len() as u64,
                    min_time: list.iter().map(|b| b.min_time).min().unwrap_or(0),
                    max_time: list.iter().map(|b| b.max_time).max().unwrap_or(0),
                    list: store.put(BlobKind::Tree, &serde_json::to_vec(&list)?)?.0,
                };
            }
            subs.extend(replaced.into_iter().map(|(b, by)| Substitution {
                tenant: t.tenant.clone(),
                block: b.ulid.clone(),
                by,
            }));
        }
        if subs.is_empty() {
            report.unchanged += 1;
            continue;
        }
        let mut n = s.clone();
        n.tree = root;
        n.tenants = tenants;
        let mut th = n.thinned.take().unwrap_or(Thinned { original: *id, replaced: vec![] });
        th.replaced.extend(subs.iter().cloned());
        n.thinned = Some(th);
        new_snaps.push((*id, n, subs));
    }

    store.finish().context("writing thinned trees")?;
    for (old, s, subs) in new_snaps {
        let new = if dry_run {
            String::new()
        } else {
            // New snapshot first, then the old one goes: a crash leaves both, never neither.
            let (new, _) = repo.save_snapshot(&s)?;
            repo.backend().remove(&format!("snapshots/{old}"))?;
            new.to_hex()
        };
        report.rewritten.push((old.to_hex(), new, subs));
    }
    Ok(report)
}

/// The directory node of `c` in its snapshot, if every blob beneath it may be reused (none
/// sits in a pack a prune has marked).
fn cover_node(repo: &Repository, snap: &Snapshot, c: &BlockInfo) -> anyhow::Result<Option<Node>> {
    let (parent, name) = c.path.rsplit_once('/').unwrap_or(("", &c.path));
    let dir = repo.read_tree(&subtree_at(repo, &snap.tree, parent)?)?;
    let Some(node) = dir.find(name.as_bytes()).cloned() else {
        anyhow::bail!("block {} is in the manifest but not in the snapshot tree", c.path)
    };
    let Some(sub) = node.subtree else { return Ok(None) };
    let index = repo.index();
    if !index.is_reusable(&sub) {
        return Ok(None);
    }
    drop(index);
    let mut stack = vec![sub];
    while let Some(t) = stack.pop() {
        for n in repo.read_tree(&t)?.nodes {
            let index = repo.index();
            let ok = n.data_blobs().all(|b| index.is_reusable(b)) && n.subtree.is_none_or(|s| index.is_reusable(&s));
            if !ok {
                return Ok(None);
            }
            if n.kind == NodeKind::Dir {
                stack.extend(n.subtree);
            }
        }
    }
    Ok(Some(node))
}

/// The tree id at `path` (components separated by `/`) below `root`.
fn subtree_at(repo: &Repository, root: &Id, path: &str) -> anyhow::Result<Id> {
    let mut id = *root;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        let t = repo.read_tree(&id)?;
        id = t
            .find(comp.as_bytes())
            .and_then(|n| n.subtree)
            .with_context(|| format!("snapshot tree has no directory {path:?}"))?;
    }
    Ok(id)
}

/// Store new trees from the directory at `path` up to the root; returns the new root.
fn replace_subtree(repo: &Repository, store: &mut BlobWriter, root: &Id, path: &str, leaf: Id) -> anyhow::Result<Id> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let Some((last, parents)) = comps.split_last() else { return Ok(leaf) };
    let parent_path = parents.join("/");
    let parent_id = subtree_at(repo, root, &parent_path)?;
    let mut parent: Tree = repo.read_tree(&parent_id)?;
    let node = parent
        .nodes
        .iter_mut()
        .find(|n| n.name == last.as_bytes())
        .with_context(|| format!("snapshot tree has no directory {path:?}"))?;
    node.subtree = Some(leaf);
    let (new_parent, _) = store.put(BlobKind::Tree, &parent.to_bytes())?;
    replace_subtree(repo, store, root, &parent_path, new_parent)
}
