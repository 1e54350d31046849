//! Profiles: everything the nightly job does, in one TOML file, so that a CronJob runs
//! `cellar run /etc/cellar/nightly.toml` and nothing else.
//!
//! ```toml
//! repository = "s3://dop-archive/cellar"      # or a directory, or remote:NAME/PREFIX
//! password-file = "/etc/cellar/password"
//! host = "dop-backup"        # default: the profile's name (pod names change every run)
//! tags = ["nightly"]
//! metrics-file = "/var/lib/node-exporter/textfile/cellar.prom"
//! pushgateway = "http://pushgateway.monitoring:9091"
//!
//! [sources.mimir]
//! path = "remote:mimir"       # s3://BUCKET[/PREFIX], remote:NAME, or a directory
//! retention = { keep-daily = 14, keep-weekly = 8, keep-monthly = 24 }
//!
//! [sources.backup]
//! path = "remote:backup"
//! retention = { keep-daily = 30, keep-monthly = 12 }
//!
//! [prune]
//! every = "7d"                # prune when no prune started within this long
//! grace = "6h"
//! max-unused = "5%"
//!
//! [check]
//! rotate-over = 7             # read slice (day % 7) + 1 of 7: all data once a week
//! verify-blocks = false
//! ```

use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::userconfig::Policy;

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (its file name without `.toml`), set on load.
    #[serde(skip)]
    pub name: String,
    pub repository: String,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Host recorded in the snapshots and used to find each source's parent snapshot.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub sources: BTreeMap<String, SourceSpec>,
    #[serde(default)]
    pub prune: Option<PruneSchedule>,
    #[serde(default)]
    pub check: Option<CheckSchedule>,
    #[serde(default)]
    pub metrics_file: Option<PathBuf>,
    #[serde(default)]
    pub pushgateway: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceSpec {
    /// What `cellar backup` takes: a directory, `s3://BUCKET[/PREFIX]`, `remote:NAME`.
    pub path: String,
    /// Forget policy for this source's snapshots; none keeps them all.
    #[serde(default)]
    pub retention: Policy,
    /// Exit 0 even when corrupted blocks were left out (they are still reported).
    #[serde(default)]
    pub allow_corrupted: bool,
    /// As `backup --exclude`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// As `backup --exclude-if-present`.
    #[serde(default)]
    pub exclude_if_present: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PruneSchedule {
    /// Prune when no prune marked anything within this long (and whenever candidates
    /// have waited out the grace period). Default 7d.
    #[serde(default = "seven_days")]
    pub every: String,
    #[serde(default)]
    pub grace: Option<String>,
    #[serde(default)]
    pub max_unused: Option<String>,
}

fn seven_days() -> String {
    "7d".into()
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CheckSchedule {
    /// Read one slice of M of the packs each run, rotating by day: every pack is read
    /// once every M days. 0 or absent: structure only.
    #[serde(default)]
    pub rotate_over: u32,
    #[serde(default)]
    pub verify_blocks: bool,
}

impl Profile {
    /// A path to a TOML file, or a name looked up as `$XDG_CONFIG_HOME/cellar/profiles/NAME.toml`
    /// (`~/.config/…`).
    pub fn load(spec: &str) -> anyhow::Result<Profile> {
        let path = if spec.contains('/') || Path::new(spec).extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            PathBuf::from(spec)
        } else {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .context("no HOME to find profiles in; give the profile's path")?;
            base.join("cellar/profiles").join(format!("{spec}.toml"))
        };
        Self::from_file(&path)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Profile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading profile {}", path.display()))?;
        let mut p: Profile = toml::from_str(&text).with_context(|| format!("profile {}", path.display()))?;
        p.name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        anyhow::ensure!(!p.sources.is_empty(), "profile {}: no [sources.NAME] table", path.display());
        Ok(p)
    }
}
