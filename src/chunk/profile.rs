//! Which chunker profile an object gets. The choice is made from the object's first bytes
//! only, so the same content is always cut the same way (and deduplicates) whatever its name.

use std::collections::BTreeMap;

use anyhow::Context;

use super::tsdb_records::{is_segment, RecordCutter};
use super::{ChunkerParams, Cutter, ALGO_TSDB_RECORDS};

pub const PROFILE_DEFAULT: &str = "default";
pub const PROFILE_TEXT: &str = "text";
/// Prometheus TSDB chunk segment files (`chunks/NNNNNN`), recognised by magic and version.
pub const PROFILE_TSDB_SEGMENT: &str = "tsdb-segment";
/// Bytes examined to classify an object.
pub const SNIFF_LEN: usize = 8192;

/// Mostly printable ASCII/UTF-8 with line breaks: SQL dumps, logs, JSON, CSV.
pub fn looks_like_text(prefix: &[u8]) -> bool {
    if prefix.len() < 512 {
        return false;
    }
    let printable = prefix.iter().filter(|&&b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e) || b >= 0x80).count();
    let newlines = prefix.iter().filter(|&&b| b == b'\n').count();
    !prefix.contains(&0) && printable * 100 >= prefix.len() * 97 && newlines > 0
}

/// How one object is cut.
#[derive(Clone, Copy)]
pub enum Chunking<'a> {
    Cdc(&'a Cutter),
    /// Record-aware, with the content-defined cutter for whatever does not parse.
    Records(&'a RecordCutter, &'a Cutter),
}

impl Chunking<'_> {
    pub fn max_size(&self) -> usize {
        match self {
            Chunking::Cdc(c) => c.max_size(),
            Chunking::Records(r, c) => r.max_size().max(c.max_size()),
        }
    }
}

/// Cutters for every profile of a repository, built once per backup.
pub struct Profiles {
    cutters: BTreeMap<String, Cutter>,
    records: Option<RecordCutter>,
}

impl Profiles {
    /// Fails on a profile this build cannot cut with (a repository made by a newer cellar):
    /// writing with different cuts would silently lose deduplication.
    pub fn new(params: &BTreeMap<String, ChunkerParams>) -> anyhow::Result<Profiles> {
        let mut cutters = BTreeMap::new();
        let mut records = None;
        for (k, p) in params {
            p.validate().with_context(|| format!("chunker profile {k:?}"))?;
            if p.algorithm == ALGO_TSDB_RECORDS {
                records = Some(RecordCutter::new(p.max as usize));
            } else {
                cutters.insert(k.clone(), Cutter::new(p));
            }
        }
        anyhow::ensure!(cutters.contains_key(PROFILE_DEFAULT), "no default chunker profile");
        Ok(Profiles { cutters, records })
    }

    /// The chunking for an object starting with `prefix`; falls back to `default` when the
    /// repository has no profile of that kind (repositories made before it existed).
    pub fn for_prefix(&self, prefix: &[u8]) -> Chunking<'_> {
        let default = &self.cutters[PROFILE_DEFAULT];
        if let Some(r) = self.records.as_ref().filter(|_| is_segment(prefix)) {
            return Chunking::Records(r, default);
        }
        let kind = if looks_like_text(prefix) { PROFILE_TEXT } else { PROFILE_DEFAULT };
        Chunking::Cdc(self.cutters.get(kind).unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sql_and_binary() {
        let sql: Vec<u8> = (0..200).flat_map(|i| format!("INSERT INTO t VALUES ({i}, 'x');\n").into_bytes()).collect();
        assert!(looks_like_text(&sql));
        let mut bin = sql.clone();
        bin[100] = 0;
        assert!(!looks_like_text(&bin));
        assert!(!looks_like_text(&[0x1f, 0x8b, 8, 0]));
        assert!(!looks_like_text(b"short text\n"));
    }
}
