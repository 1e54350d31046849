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
//!
//! [`plan`] decides every replacement from the block lists and trees alone; [`execute`]
//! writes the new trees and snapshots. A dry run prints the plan.

use anyhow::Context;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::rewrite::Rewriter;
use crate::id::Id;
use crate::repo::file::snapshot::{parse_time, BlockInfo, Snapshot, Substitution, TenantBlocks, Thinned};
use crate::repo::file::tree::Node;
use crate::repo::file::FileType;
use crate::repo::Repository;
use crate::vfs::{blocks, subtree_at};

/// What thinning did or, on a dry run, would do (format-spec/json.md).
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
    /// The snapshot holding it.
    snap: usize,
}

fn sources_of(b: &BlockInfo) -> BTreeSet<String> {
    if b.sources.is_empty() {
        [b.ulid.clone()].into()
    } else {
        b.sources.iter().cloned().collect()
    }
}

/// The replacements in one tenant directory of one snapshot.
struct TenantChange {
    /// Index into the snapshot's `tenants`.
    tenant: usize,
    /// Block directories that go.
    gone: BTreeSet<String>,
    /// Cover block directories that come (ULID, node from the snapshot holding it, info).
    add: Vec<(String, Node, BlockInfo)>,
    /// The tenant's new block list.
    list: Vec<BlockInfo>,
}

/// The replacements in one snapshot.
pub struct SnapshotChange {
    pub id: Id,
    pub subs: Vec<Substitution>,
    tenants: Vec<TenantChange>,
}

/// Every replacement thinning would make.
#[derive(Default)]
pub struct ThinPlan {
    pub changes: Vec<SnapshotChange>,
    pub unchanged: usize,
    pub covers_skipped: usize,
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
    let plan = plan(repo, &snaps, age)?;
    if dry_run {
        let rewritten = plan.changes.into_iter().map(|c| (c.id.to_hex(), String::new(), c.subs)).collect();
        return Ok(ThinReport { rewritten, unchanged: plan.unchanged, covers_skipped: plan.covers_skipped });
    }
    execute(repo, &snaps, plan)
}

/// Decide every replacement: for each old enough snapshot and tenant, the largest usable
/// cover of each block.
pub fn plan(
    repo: &Repository,
    snaps: &[(Id, Snapshot)],
    age: &dyn Fn(&Snapshot) -> Option<time::Duration>,
) -> anyhow::Result<ThinPlan> {
    let now = time::OffsetDateTime::now_utc();
    // Every block of every snapshot, by (sources, tenant): the candidates for covers.
    let mut lists: Vec<Vec<BlockInfo>> = Vec::with_capacity(snaps.len());
    let mut catalogue: HashMap<(Vec<String>, String), BTreeMap<String, Candidate>> = HashMap::new();
    for (i, (id, s)) in snaps.iter().enumerate() {
        let list = blocks(repo, s).with_context(|| format!("block lists of snapshot {}", id.short()))?;
        for b in &list {
            catalogue
                .entry((s.sources.clone(), b.tenant.clone()))
                .or_default()
                .entry(b.ulid.clone())
                .or_insert_with(|| Candidate { info: b.clone(), sources: sources_of(b), snap: i });
        }
        lists.push(list);
    }
    let mut plan = ThinPlan::default();
    let mut usable: HashMap<String, Option<Node>> = HashMap::new();
    for (i, (id, s)) in snaps.iter().enumerate() {
        let Some(min_age) = age(s) else { continue };
        if s.shard.is_some() || s.tenants.is_empty() || parse_time(&s.time).map_err(anyhow::Error::msg)? + min_age > now
        {
            continue;
        }
        let mut change = SnapshotChange { id: *id, subs: vec![], tenants: vec![] };
        for (ti, t) in s.tenants.iter().enumerate() {
            let here: Vec<&BlockInfo> =
                lists[i].iter().filter(|b| b.path.rsplit_once('/').map(|p| p.0) == Some(&t.path)).collect();
            let Some(cands) = catalogue.get(&(s.sources.clone(), t.tenant.clone())) else { continue };
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
                if !usable.contains_key(&c.info.ulid) {
                    let n = cover_node(repo, &snaps[c.snap].1, &c.info)?;
                    plan.covers_skipped += usize::from(n.is_none());
                    usable.insert(c.info.ulid.clone(), n);
                }
                if usable[&c.info.ulid].is_none() {
                    continue;
                }
                chosen.insert(c.info.ulid.clone(), c);
                replaced.push((b, c.info.ulid.clone()));
            }
            if replaced.is_empty() {
                continue;
            }
            // A cover the snapshot already holds is not added twice.
            let gone: BTreeSet<String> = replaced.iter().map(|(b, _)| b.ulid.clone()).collect();
            let present: BTreeSet<&str> = here.iter().map(|b| b.ulid.as_str()).collect();
            let mut list: Vec<BlockInfo> =
                here.iter().filter(|b| !gone.contains(&b.ulid)).map(|b| (*b).clone()).collect();
            let mut add = vec![];
            for (ulid, c) in &chosen {
                if present.contains(ulid.as_str()) && !gone.contains(ulid) {
                    continue;
                }
                let node = usable[ulid].clone().expect("usable cover");
                let info = BlockInfo { path: format!("{}/{}", t.path, ulid), ..c.info.clone() };
                list.push(info.clone());
                add.push((ulid.clone(), node, info));
            }
            list.sort_by(|a, b| a.ulid.cmp(&b.ulid));
            list.dedup_by(|a, b| a.ulid == b.ulid);
            change.subs.extend(replaced.into_iter().map(|(b, by)| Substitution {
                tenant: t.tenant.clone(),
                block: b.ulid.clone(),
                by,
            }));
            change.tenants.push(TenantChange { tenant: ti, gone, add, list });
        }
        if change.subs.is_empty() {
            plan.unchanged += 1;
        } else {
            plan.changes.push(change);
        }
    }
    Ok(plan)
}

/// Write the plan: new tenant trees, block lists and snapshots, each new snapshot before
/// the old one is removed (a crash leaves both, never neither).
pub fn execute(repo: &Arc<Repository>, snaps: &[(Id, Snapshot)], plan: ThinPlan) -> anyhow::Result<ThinReport> {
    let mut w = Rewriter::new(repo);
    let mut new_snaps = vec![];
    for change in plan.changes {
        let s = &snaps.iter().find(|(id, _)| *id == change.id).expect("planned from these").1;
        let mut n = s.clone();
        for tc in change.tenants {
            let t = &s.tenants[tc.tenant];
            let mut tree = w.read(&w.subtree_at(&n.tree, &t.path)?)?;
            tree.nodes.retain(|node| !tc.gone.contains(String::from_utf8_lossy(&node.name).as_ref()));
            for (ulid, mut node, _) in tc.add {
                node.name = ulid.into_bytes();
                tree.nodes.push(node);
            }
            tree.nodes.sort_by(|a, b| a.name.cmp(&b.name));
            tree.nodes.dedup_by(|a, b| a.name == b.name);
            let leaf = w.put(tree)?;
            n.tree = w.replace_subtree(&n.tree, &t.path, leaf)?;
            n.tenants[tc.tenant] = TenantBlocks {
                path: t.path.clone(),
                tenant: t.tenant.clone(),
                blocks: tc.list.len() as u64,
                min_time: tc.list.iter().map(|b| b.min_time).min().unwrap_or(0),
                max_time: tc.list.iter().map(|b| b.max_time).max().unwrap_or(0),
                list: w.put_blob(&serde_json::to_vec(&tc.list)?)?,
            };
        }
        let mut th = n.thinned.take().unwrap_or(Thinned { original: change.id, replaced: vec![] });
        th.replaced.extend(change.subs.iter().cloned());
        n.thinned = Some(th);
        new_snaps.push((change.id, n, change.subs));
    }
    w.finish().context("writing thinned trees")?;
    let mut report =
        ThinReport { unchanged: plan.unchanged, covers_skipped: plan.covers_skipped, ..Default::default() };
    for (old, s, subs) in new_snaps {
        let (new, _) = repo.save_snapshot(&s)?;
        repo.remove_file(FileType::Snapshot, &old)?;
        report.rewritten.push((old.to_hex(), new.to_hex(), subs));
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
    if !repo.index().is_reusable(&sub) {
        return Ok(None);
    }
    let mut ok = true;
    crate::vfs::walk(repo, &sub, |e| {
        let index = repo.index();
        ok &= e.node.data_blobs().all(|b| index.is_reusable(b)) && e.node.subtree.is_none_or(|s| index.is_reusable(&s));
        Ok(())
    })?;
    Ok(ok.then_some(node))
}
