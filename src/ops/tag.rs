//! `tag`: change the tags of snapshots. A snapshot file is named by its content, so a
//! changed snapshot is written anew and the old file removed after it (a crash between
//! the two leaves both, which `forget` can resolve; never neither).

use serde::Serialize;

use crate::id::Id;
use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::FileType;
use crate::repo::Repository;

/// What to do with the tags; `set` replaces them all, then `add` and `remove` apply.
#[derive(Debug, Default)]
pub struct TagChange {
    pub set: Option<Vec<String>>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl TagChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_none() && self.add.is_empty() && self.remove.is_empty()
    }

    fn apply(&self, tags: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.set.clone().unwrap_or_else(|| tags.to_vec());
        for t in &self.add {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        out.retain(|t| !self.remove.contains(t));
        out
    }
}

#[derive(Serialize, Debug, Default)]
pub struct TagReport {
    /// (old id, new id) of each snapshot rewritten.
    pub changed: Vec<(Id, Id)>,
    /// Snapshots whose tags were already as asked.
    pub unchanged: usize,
}

pub fn tag(repo: &Repository, snaps: &[(Id, Snapshot)], change: &TagChange) -> anyhow::Result<TagReport> {
    repo.require_full_key("change tags")?;
    let mut report = TagReport::default();
    for (id, s) in snaps {
        let tags = change.apply(&s.tags);
        if tags == s.tags {
            report.unchanged += 1;
            continue;
        }
        let mut new = s.clone();
        new.tags = tags;
        let (new_id, _) = repo.save_snapshot(&new)?;
        repo.remove_file(FileType::Snapshot, id)?;
        report.changed.push((*id, new_id));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_add_then_remove() {
        let c = TagChange {
            set: Some(vec!["a".into(), "b".into()]),
            add: vec!["c".into(), "a".into()],
            remove: vec!["b".into()],
        };
        assert_eq!(c.apply(&["x".into()]), ["a", "c"]);
        let c = TagChange { add: vec!["n".into()], ..Default::default() };
        assert_eq!(c.apply(&["x".into()]), ["x", "n"]);
    }
}
