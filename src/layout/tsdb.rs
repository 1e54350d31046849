//! TSDB block storage (Mimir, Thanos, Prometheus): block directories named by ULID, each
//! complete once its `meta.json` exists. Classification works on a listing (names and
//! sizes) plus the bytes of `meta.json`, so local directories and S3 listings share it.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

use crate::repo::file::snapshot::{BlockInfo, Reason};
use crate::repo::file::tree::NodeKind;
use crate::source::SourceTree;

/// Files the platform regenerates; never archived.
pub const BUCKET_INDEX: &[&str] = &["bucket-index.json.gz", "bucket-index.json"];
/// Tenant-level directory of global markers; never archived.
pub const MARKERS_DIR: &str = "markers";
pub const DELETION_MARK: &str = "deletion-mark.json";

/// 26 characters of Crockford base32 (no I, L, O, U), first one 0–7 (128-bit range).
pub fn is_ulid(name: &[u8]) -> bool {
    name.len() == 26
        && (b'0'..=b'7').contains(&name[0])
        && name.iter().all(|c| matches!(c.to_ascii_uppercase(), b'0'..=b'9' | b'A'..=b'H' | b'J' | b'K' | b'M' | b'N' | b'P'..=b'T' | b'V'..=b'Z'))
}

/// The parts of a block's `meta.json` cellar reads.
#[derive(Deserialize)]
pub(crate) struct Meta {
    pub ulid: String,
    #[serde(rename = "minTime")]
    pub min_time: i64,
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    stats: Stats,
    #[serde(default)]
    compaction: Compaction,
    #[serde(default)]
    pub thanos: Option<Thanos>,
}

#[derive(Deserialize, Default)]
struct Stats {
    #[serde(default, rename = "numSamples")]
    num_samples: u64,
    #[serde(default, rename = "numSeries")]
    num_series: u64,
    #[serde(default, rename = "numChunks")]
    num_chunks: u64,
}

#[derive(Deserialize, Default)]
struct Compaction {
    #[serde(default)]
    level: u32,
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct Thanos {
    #[serde(default)]
    pub files: Vec<ThanosFile>,
}

#[derive(Deserialize)]
pub(crate) struct ThanosFile {
    pub rel_path: String,
    pub size_bytes: Option<u64>,
}

/// The verdict on one block directory.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Complete(BlockInfo),
    Excluded(Reason, String),
}

/// Decide whether a block is complete. `files` maps paths relative to the block directory
/// (`index`, `chunks/000001`, `meta.json`) to sizes; `meta` is `meta.json`'s bytes if
/// present; `marked` says a global deletion marker names this block.
pub fn classify(
    path: &str,
    tenant: &str,
    ulid: &str,
    files: &BTreeMap<String, u64>,
    meta: Option<&[u8]>,
    marked: bool,
) -> Verdict {
    if marked || files.contains_key(DELETION_MARK) {
        return Verdict::Excluded(Reason::DeletionMarked, String::new());
    }
    let Some(meta) = meta else {
        return Verdict::Excluded(Reason::Partial, "no meta.json".into());
    };
    let m: Meta = match serde_json::from_slice(meta) {
        Ok(m) => m,
        Err(e) => return Verdict::Excluded(Reason::Corrupted, format!("meta.json is not valid: {e}")),
    };
    if m.ulid != ulid {
        return Verdict::Excluded(Reason::Corrupted, format!("meta.json names block {}", m.ulid));
    }
    if m.version.is_some_and(|v| v != 1) {
        return Verdict::Excluded(Reason::Corrupted, format!("meta.json: unknown version {}", m.version.unwrap_or(0)));
    }
    if m.min_time < 0 || m.min_time >= m.max_time {
        return Verdict::Excluded(
            Reason::Corrupted,
            format!("meta.json: time range {}..{} is not a valid block range", m.min_time, m.max_time),
        );
    }
    if !files.contains_key("index") {
        return Verdict::Excluded(Reason::Corrupted, "no index".into());
    }
    if !files.keys().any(|k| k.starts_with("chunks/")) {
        return Verdict::Excluded(Reason::Corrupted, "no chunks/".into());
    }
    if let Some(t) = &m.thanos {
        for f in &t.files {
            match (files.get(&f.rel_path), f.size_bytes) {
                (None, _) => return Verdict::Excluded(Reason::Corrupted, format!("{} is missing", f.rel_path)),
                (Some(&have), Some(want)) if have != want => {
                    return Verdict::Excluded(
                        Reason::Corrupted,
                        format!("{} is {have} bytes, meta.json says {want}", f.rel_path),
                    )
                }
                _ => {}
            }
        }
    }
    Verdict::Complete(BlockInfo {
        path: path.to_string(),
        tenant: tenant.to_string(),
        ulid: m.ulid,
        min_time: m.min_time,
        max_time: m.max_time,
        level: m.compaction.level,
        sources: m.compaction.sources,
        num_series: m.stats.num_series,
        num_samples: m.stats.num_samples,
        num_chunks: m.stats.num_chunks,
    })
}

/// List a block directory once (recursively, through the source) and judge it; `None` if
/// the block vanished meanwhile (the compactor deleted it).
pub fn judge_block(
    src: &dyn SourceTree,
    dir: &Path,
    snap: &str,
    tenant: &str,
    ulid: &str,
    marked: bool,
) -> Option<Verdict> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let entries = match src.read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => return None,
            Err(_) => continue,
        };
        for (n, p) in entries {
            let r = format!("{rel}{}", String::from_utf8_lossy(&n));
            match src.stat(&p, &n) {
                Ok(e) if e.kind == Some(NodeKind::Dir) => stack.push((p, format!("{r}/"))),
                // A block file that points elsewhere (`index` → /etc/passwd) is not a
                // block file: the block is judged corrupted, the link never followed.
                Ok(e) if e.kind == Some(NodeKind::Symlink) => {
                    return Some(Verdict::Excluded(Reason::Corrupted, format!("{r} is a symlink")));
                }
                Ok(e) => {
                    files.insert(r, e.size);
                }
                Err(_) => {}
            }
        }
    }
    let meta = if files.contains_key("meta.json") { src.read_all(&dir.join("meta.json")).ok() } else { None };
    Some(classify(snap, tenant, ulid, &files, meta.as_deref(), marked))
}

/// The ULIDs a tenant's `markers/` directory marks for deletion, if it has one.
pub fn marked_in(
    src: &dyn SourceTree,
    tenant_entries: &[(Vec<u8>, std::path::PathBuf)],
) -> std::collections::HashSet<String> {
    tenant_entries
        .iter()
        .find(|(n, _)| n == MARKERS_DIR.as_bytes())
        .and_then(|(_, p)| src.read_dir(p).ok())
        .map(|m| marked_ulids(m.iter().map(|(n, _)| n.as_slice())))
        .unwrap_or_default()
}

/// ULIDs named by `<tenant>/markers/<ULID>-deletion-mark.json`.
pub fn marked_ulids<'a>(marker_names: impl Iterator<Item = &'a [u8]>) -> std::collections::HashSet<String> {
    marker_names
        .filter_map(|n| n.strip_suffix(b"-deletion-mark.json"))
        .filter(|u| is_ulid(u))
        .map(|u| String::from_utf8_lossy(u).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "01JDEMA0000000000000000000";

    fn files(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn meta(extra: &str) -> Vec<u8> {
        format!(r#"{{"ulid":"{U}","minTime":1,"maxTime":2,"compaction":{{"level":2,"sources":["a","b"]}}{extra}}}"#)
            .into_bytes()
    }

    #[test]
    fn ulids() {
        assert!(is_ulid(U.as_bytes()));
        assert!(is_ulid(b"01jdema0000000000000000000"));
        assert!(!is_ulid(b"01JDEMA000000000000000000U"));
        assert!(!is_ulid(b"markers"));
        assert!(!is_ulid(b"81JDEMO0000000000000000000"));
    }

    #[test]
    fn verdicts() {
        let ok = files(&[("index", 10), ("chunks/000001", 20), ("meta.json", 5)]);
        let m = meta("");
        assert!(
            matches!(classify("p", "t", U, &ok, Some(&m), false), Verdict::Complete(b) if b.level == 2 && b.sources.len() == 2)
        );
        assert!(matches!(classify("p", "t", U, &ok, None, false), Verdict::Excluded(Reason::Partial, _)));
        assert!(matches!(classify("p", "t", U, &ok, Some(&m), true), Verdict::Excluded(Reason::DeletionMarked, _)));
        let no_index = files(&[("chunks/000001", 20), ("meta.json", 5)]);
        assert!(matches!(classify("p", "t", U, &no_index, Some(&m), false), Verdict::Excluded(Reason::Corrupted, _)));
        let no_chunks = files(&[("index", 10), ("meta.json", 5)]);
        assert!(matches!(classify("p", "t", U, &no_chunks, Some(&m), false), Verdict::Excluded(Reason::Corrupted, _)));
        assert!(matches!(
            classify("p", "t", U, &ok, Some(b"{not json"), false),
            Verdict::Excluded(Reason::Corrupted, _)
        ));
        let sized =
            meta(r#","thanos":{"files":[{"rel_path":"chunks/000001","size_bytes":21},{"rel_path":"meta.json"}]}"#);
        assert!(
            matches!(classify("p", "t", U, &ok, Some(&sized), false), Verdict::Excluded(Reason::Corrupted, d) if d.contains("21"))
        );
        for bad in [
            format!(r#"{{"ulid":"{U}","minTime":5,"maxTime":2}}"#),
            format!(r#"{{"ulid":"{U}","minTime":-7,"maxTime":2}}"#),
            format!(r#"{{"ulid":"{U}","minTime":1,"maxTime":2,"version":7}}"#),
        ] {
            assert!(
                matches!(
                    classify("p", "t", U, &ok, Some(bad.as_bytes()), false),
                    Verdict::Excluded(Reason::Corrupted, _)
                ),
                "{bad}"
            );
        }
        let mut marked = ok.clone();
        marked.insert(DELETION_MARK.into(), 3);
        assert!(matches!(
            classify("p", "t", U, &marked, Some(&m), false),
            Verdict::Excluded(Reason::DeletionMarked, _)
        ));
    }
}
