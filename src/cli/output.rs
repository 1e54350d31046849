//! How results reach the terminal: JSON lines for scripts, short human lines otherwise,
//! and notices on stderr.

use serde::Serialize;
use std::io::Write;

use crate::notice::{Level, Notice, NoticeSink};

/// Print one JSON value as one line on stdout.
pub fn print_json<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// `n` and the noun, with the plural where it is due: "1 snapshot", "2 snapshots".
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Renders library notices as `cellar: note: …` / `cellar: warning: …` lines on stderr;
/// `quiet` (under `--json`) drops notes but keeps warnings.
pub struct StderrNotices {
    pub quiet: bool,
}

impl NoticeSink for StderrNotices {
    fn notice(&self, n: Notice) {
        match n.level {
            Level::Note if self.quiet => {}
            Level::Note => eprintln!("cellar: note: {}", n.message),
            Level::Warning => eprintln!("cellar: warning: {}", n.message),
        }
    }
}

/// `init --json`.
#[derive(Serialize)]
pub struct InitOutput {
    pub id: String,
    pub version: u32,
}

/// `key add --json`.
#[derive(Serialize)]
pub struct KeyAdded {
    pub id: crate::id::Id,
}

/// `config import-dop --json`.
#[derive(Serialize)]
pub struct ImportOutput {
    pub config: std::path::PathBuf,
    pub remotes: Vec<String>,
}

/// `restore --no-wait --json` when cold packs were requested.
#[derive(Serialize)]
pub struct ColdRequested<'a> {
    pub cold_packs_requested: &'a [String],
}

/// `forget --json` with thinning: `{"thin": …}`.
#[derive(Serialize)]
pub struct ThinOutput<'a> {
    pub thin: &'a crate::ops::thin::ThinReport,
}
