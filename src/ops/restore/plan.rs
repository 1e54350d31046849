//! What a restore writes: the selected entries of a snapshot, split into the phase of
//! ordinary files and the phase of commit records written after them.

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::Repository;

/// Which entries of a snapshot a restore writes, and which of them go last.
#[derive(Clone)]
pub struct Selection {
    /// Globs on snapshot paths (`mimir/anonymous/**`); a match on a directory includes all
    /// below it. Empty means everything.
    pub include: Vec<String>,
    /// If set, only these snapshot paths and what is below them (block or tenant
    /// directories chosen by `--tenant/--block/--from/--to`).
    pub prefixes: Option<Vec<String>>,
    /// Files for which this returns true are written last (after all others, via rename).
    pub write_last: fn(&str) -> bool,
    /// Restore the contents of this directory of the snapshot (`SNAPSHOT:PATH`) at the
    /// target's root; `""` for the whole snapshot. Globs and prefixes are relative to it.
    pub base: String,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { include: vec![], prefixes: None, write_last: crate::layout::is_commit_record, base: String::new() }
    }
}

impl Selection {
    /// Snapshot-wide paths (block or tenant directories) as prefixes below `base`; `None`
    /// when `base` lies inside one of them (all of it is selected), `Some([])` when none
    /// is below `base`.
    pub fn prefixes_below_base(&self, paths: Vec<String>) -> Option<Vec<String>> {
        if self.base.is_empty() {
            return Some(paths);
        }
        let mut out = vec![];
        for p in paths {
            if p == self.base || self.base.starts_with(&format!("{p}/")) {
                return None;
            }
            if let Some(rel) = p.strip_prefix(&format!("{}/", self.base)) {
                out.push(rel.to_string());
            }
        }
        Some(out)
    }
}

/// A file to restore.
pub struct PlannedFile {
    /// Snapshot path (for messages, S3 keys and the completion order).
    pub path: String,
    /// Exact relative path, from the names' bytes.
    pub rel: PathBuf,
    pub node: Node,
}

/// The selected entries of a snapshot.
#[derive(Default)]
pub struct Plan {
    /// Every directory of the snapshot, for restoring the metadata of those created.
    pub dirs: BTreeMap<PathBuf, Node>,
    /// Directories to create: those of selected entries and their ancestors.
    pub want_dirs: BTreeSet<PathBuf>,
    /// Files: `[0]` ordinary ones, `[1]` commit records (written after all of `[0]`).
    pub files: [Vec<PlannedFile>; 2],
    /// Symlinks, with their snapshot paths.
    pub links: Vec<PlannedFile>,
    /// Every path of the snapshot (what `--delete` must not remove).
    pub all: std::collections::HashSet<PathBuf>,
    /// Nothing was left out by the selection.
    pub everything: bool,
    /// The snapshot directory restored (`Selection::base`).
    pub base: String,
}

pub fn plan(repo: &Repository, snap: &Snapshot, sel: &Selection) -> anyhow::Result<Plan> {
    let globs = build_globs(&sel.include)?;
    let mut p = Plan {
        everything: sel.include.is_empty() && sel.prefixes.is_none(),
        base: sel.base.clone(),
        ..Plan::default()
    };
    let root = if sel.base.is_empty() { snap.tree } else { crate::vfs::subtree_at(repo, &snap.tree, &sel.base)? };
    crate::vfs::walk(repo, &root, |e| {
        p.all.insert(e.rel.to_path_buf());
        let inc = selected(sel, globs.as_ref(), e.path);
        if inc {
            // Ancestors nearest first; one already wanted has all of its own (the walk is
            // pre-order), so deep trees cost linear, not quadratic, work.
            for a in e.rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
                if !p.want_dirs.insert(a.to_path_buf()) {
                    break;
                }
            }
        }
        let planned = || PlannedFile { path: e.path.to_string(), rel: e.rel.to_path_buf(), node: e.node.clone() };
        match e.node.kind {
            NodeKind::Dir => {
                if inc {
                    p.want_dirs.insert(e.rel.to_path_buf());
                }
                p.dirs.insert(e.rel.to_path_buf(), e.node.clone());
            }
            NodeKind::File if inc => p.files[usize::from((sel.write_last)(e.path))].push(planned()),
            NodeKind::Symlink if inc => p.links.push(planned()),
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
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
fn included(globs: Option<&GlobSet>, path: &str) -> bool {
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
pub fn selected(sel: &Selection, globs: Option<&GlobSet>, path: &str) -> bool {
    included(globs, path)
        && sel.prefixes.as_ref().is_none_or(|ps| ps.iter().any(|p| path == p || path.starts_with(&format!("{p}/"))))
}
