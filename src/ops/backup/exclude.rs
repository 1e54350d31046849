//! What the operator leaves out of a backup (`--exclude`, `--exclude-file`,
//! `--exclude-if-present`), as the platform's rclone command did: patterns in rclone's
//! and gitignore's sense (`*` within one path segment, `**` across them; a pattern without
//! `/` matches a name at any depth), and directories marked by a file they contain.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

#[derive(Debug, Default, Clone)]
pub struct Excludes {
    /// Matched against an entry's path below the snapshot's top (`mimir/anonymous/x`) and
    /// below its source (`anonymous/x`).
    paths: Option<GlobSet>,
    /// Matched against an entry's name.
    names: Option<GlobSet>,
    /// A directory holding an entry of one of these names is left out whole.
    pub if_present: Vec<Vec<u8>>,
}

impl Excludes {
    /// `patterns` as given on the command line or read from files (blank lines and lines
    /// starting with `#` are ignored there).
    pub fn new(patterns: &[String], if_present: &[String]) -> anyhow::Result<Excludes> {
        let (mut paths, mut names) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        let (mut any_path, mut any_name) = (false, false);
        for p in patterns {
            let p = p.trim_start_matches('/');
            let glob = |p: &str| -> anyhow::Result<Glob> {
                GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| anyhow::anyhow!("exclude pattern {p:?}: {e}"))
            };
            if p.contains('/') {
                paths.add(glob(p)?);
                any_path = true;
            } else {
                names.add(glob(p)?);
                any_name = true;
            }
        }
        Ok(Excludes {
            paths: any_path.then(|| paths.build()).transpose()?,
            names: any_name.then(|| names.build()).transpose()?,
            if_present: if_present.iter().map(|s| s.as_bytes().to_vec()).collect(),
        })
    }

    /// Read patterns from files, one per line.
    pub fn read_files(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<String>> {
        let mut out = vec![];
        for f in files {
            let text =
                std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("reading exclude file {}: {e}", f.display()))?;
            out.extend(
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string),
            );
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_none() && self.names.is_none() && self.if_present.is_empty()
    }

    /// Whether the entry at snapshot path `snap` (`source/below/name`) is left out.
    pub fn excludes(&self, snap: &str, name: &[u8]) -> bool {
        if let Some(n) = &self.names {
            if n.is_match(String::from_utf8_lossy(name).as_ref()) {
                return true;
            }
        }
        let Some(p) = &self.paths else { return false };
        let below = snap.split_once('/').map_or("", |(_, b)| b);
        p.is_match(snap) || (!below.is_empty() && p.is_match(below))
    }

    /// Whether a directory with these entries is left out whole.
    pub fn marks(&self, entries: &[(Vec<u8>, std::path::PathBuf)]) -> bool {
        !self.if_present.is_empty() && entries.iter().any(|(n, _)| self.if_present.contains(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rclone_like_patterns() {
        let e = Excludes::new(&["*/markers/*".into(), "*/bucket-index.json.gz".into(), "*.tmp".into()], &[]).unwrap();
        assert!(e.excludes("dop-mimir/anonymous/markers/x", b"x"), "below the source");
        assert!(e.excludes("dop-mimir/anonymous/bucket-index.json.gz", b"bucket-index.json.gz"));
        assert!(!e.excludes("dop-mimir/anonymous/01J/index", b"index"));
        assert!(!e.excludes("dop-mimir/a/b/markers/x", b"x"), "`*` stays within a segment");
        assert!(e.excludes("dop-mimir/deep/down/f.tmp", b"f.tmp"), "a name pattern matches at any depth");
        let e = Excludes::new(&["**/chunks/**".into()], &["deletion-mark.json".into()]).unwrap();
        assert!(e.excludes("m/t/01J/chunks/000001", b"000001"));
        assert!(e.marks(&[(b"deletion-mark.json".to_vec(), "p".into())]));
        assert!(!e.marks(&[(b"meta.json".to_vec(), "p".into())]));
    }
}
