//! The operator's configuration file (TOML): retention policies per source, so a cron job
//! can run `cellar forget --prune` with no flags.
//!
//! ```toml
//! [policy.mimir]          # snapshots that contain a source named `mimir`
//! keep-daily = 7
//! keep-weekly = 8
//! keep-monthly = 24
//!
//! [policy.backup]
//! keep-daily = 30
//! keep-within = "90d"
//! ```

use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

use crate::forget::Policy;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Retention policy by source name (the last path component of a source, or the
    /// `--stdin-name`).
    #[serde(default)]
    pub policy: BTreeMap<String, Policy>,
}

impl UserConfig {
    pub fn load(path: &Path) -> anyhow::Result<UserConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }
}

/// The name a snapshot source is known by in policies: `/data/mimir` → `mimir`,
/// `stdin:dop.dump` → `dop.dump`.
pub fn source_name(source: &str) -> &str {
    let s = source.strip_prefix("stdin:").unwrap_or(source);
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}
