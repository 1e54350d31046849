//! The send log of an append-only key (format-spec §16): what this host last backed up,
//! kept on the host, because an append-only key cannot read older snapshots back from the
//! repository. It holds the newest snapshot manifest of each source set this host wrote
//! and that snapshot's trees: names, sizes, mtimes/ETags and blob ids of what the host
//! read anyway, never file content.
//!
//! ```text
//! <dir>/<snapshot id>  = "CSL1" u32le(len) snapshot-json  (tree_id[32] u32le(len) tree)*
//! ```
//! A missing or damaged send log costs only the comparison: every file is read again and
//! deduplicated against the index as usual.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::id::Id;
use crate::repo::file::snapshot::Snapshot;

const MAGIC: &[u8; 4] = b"CSL1";

/// The trees of one snapshot, as stored (id, encoded tree).
pub type Trees = Vec<(Id, Vec<u8>)>;

/// A parent snapshot read from the send log, with its trees.
pub struct Logged {
    pub id: Id,
    pub snapshot: Snapshot,
    pub trees: HashMap<Id, Vec<u8>>,
}

pub struct SendLog {
    dir: PathBuf,
}

impl SendLog {
    /// The send log in `dir`, or by default `<cache dir>/<repository id>/send-log`.
    pub fn open(dir: Option<PathBuf>, repo_id: &str) -> anyhow::Result<SendLog> {
        let dir = match dir {
            Some(d) => d,
            None => crate::backend::cache::base_dir()
                .context("no directory for the send log: set CELLAR_CACHE_DIR or HOME, or give --send-log")?
                .join(repo_id)
                .join("send-log"),
        };
        Ok(SendLog { dir })
    }

    /// The newest logged snapshot `wanted` accepts. Unreadable entries are skipped (the
    /// caller reads everything again without a parent).
    pub fn find(&self, wanted: impl Fn(&Id, &Snapshot) -> bool) -> Option<Logged> {
        let mut best: Option<(String, PathBuf, Id)> = None;
        for e in std::fs::read_dir(&self.dir).ok()?.flatten() {
            let Some(id) = e.file_name().to_str().and_then(|n| Id::from_hex(n).ok()) else { continue };
            let Ok(s) = read_header(&e.path()) else { continue };
            if wanted(&id, &s) && best.as_ref().is_none_or(|(t, _, _)| s.time > *t) {
                best = Some((s.time.clone(), e.path(), id));
            }
        }
        let (_, path, id) = best?;
        read_all(&path).ok().map(|(snapshot, trees)| Logged { id, snapshot, trees })
    }

    /// Log snapshot `id` with its trees, then remove older entries `same_sources` matches:
    /// only the newest of each source set is ever a parent. Written to a temporary name and
    /// renamed, so a crash leaves the previous entry usable.
    pub fn record(
        &self,
        id: &Id,
        snapshot: &Snapshot,
        trees: &Trees,
        same_sources: impl Fn(&Snapshot) -> bool,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let json = serde_json::to_vec(snapshot)?;
        let mut buf = Vec::with_capacity(8 + json.len() + trees.iter().map(|(_, t)| 36 + t.len()).sum::<usize>());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
        buf.extend_from_slice(&json);
        for (tid, t) in trees {
            buf.extend_from_slice(&tid.0);
            buf.extend_from_slice(&(t.len() as u32).to_le_bytes());
            buf.extend_from_slice(t);
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&buf)?;
        tmp.as_file().sync_all()?;
        let path = self.dir.join(id.to_hex());
        tmp.persist(&path).with_context(|| format!("writing {}", path.display()))?;
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let p = e.path();
            if p != path && read_header(&p).is_ok_and(|s| same_sources(&s)) {
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(())
    }
}

fn read_header(path: &std::path::Path) -> anyhow::Result<Snapshot> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut head = [0u8; 8];
    f.read_exact(&mut head)?;
    anyhow::ensure!(&head[..4] == MAGIC, "not a send log entry");
    let mut json = vec![0u8; u32::from_le_bytes(head[4..8].try_into()?) as usize];
    f.read_exact(&mut json)?;
    Ok(serde_json::from_slice(&json)?)
}

fn read_all(path: &std::path::Path) -> anyhow::Result<(Snapshot, HashMap<Id, Vec<u8>>)> {
    let b = std::fs::read(path)?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> anyhow::Result<&[u8]> {
        let s = b.get(pos..pos + n).context("truncated send log entry")?;
        pos += n;
        Ok(s)
    };
    anyhow::ensure!(take(4)? == MAGIC, "not a send log entry");
    let n = u32::from_le_bytes(take(4)?.try_into()?) as usize;
    let snapshot: Snapshot = serde_json::from_slice(take(n)?)?;
    let mut trees = HashMap::new();
    let end = b.len();
    let mut at = 8 + n;
    while at < end {
        let id = Id(take(32)?.try_into()?);
        let n = u32::from_le_bytes(take(4)?.try_into()?) as usize;
        trees.insert(id, take(n)?.to_vec());
        at += 36 + n;
    }
    Ok((snapshot, trees))
}
