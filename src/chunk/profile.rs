//! Which chunker profile an object gets. The choice is made from the object's first bytes
//! only, so the same content is always cut the same way (and deduplicates) whatever its name.

use std::collections::BTreeMap;

use super::{ChunkerParams, Cutter};

pub const PROFILE_DEFAULT: &str = "default";
pub const PROFILE_TEXT: &str = "text";
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

/// Cutters for every profile of a repository, built once per backup.
pub struct Profiles {
    cutters: BTreeMap<String, Cutter>,
}

impl Profiles {
    pub fn new(params: &BTreeMap<String, ChunkerParams>) -> Profiles {
        Profiles { cutters: params.iter().map(|(k, p)| (k.clone(), Cutter::new(p))).collect() }
    }

    /// The cutter for an object starting with `prefix`; falls back to `default` when the
    /// repository has no profile of that kind (repositories made before it existed).
    pub fn for_prefix(&self, prefix: &[u8]) -> &Cutter {
        let kind = if looks_like_text(prefix) { PROFILE_TEXT } else { PROFILE_DEFAULT };
        self.cutters.get(kind).unwrap_or_else(|| &self.cutters[PROFILE_DEFAULT])
    }

    pub fn max_size(&self) -> usize {
        self.cutters.values().map(|c| c.max_size()).max().unwrap_or(0)
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
