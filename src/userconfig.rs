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
//!
//! [remote.mimir]          # `cellar backup remote:mimir`
//! endpoint = "https://s3.example.com"
//! bucket = "dop-mimir"
//! credentials_file = "/etc/cellar/mimir.credentials"
//! ```

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Retention policy by source name (the last path component of a source, or the
    /// `--stdin-name`).
    #[serde(default)]
    pub policy: BTreeMap<String, Policy>,
    /// Named S3 locations (`remote:NAME`).
    #[serde(default)]
    pub remote: BTreeMap<String, Remote>,
}

/// One named S3 location with its own endpoint and credentials.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub bucket: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub path_style: bool,
    /// File with `aws_access_key_id = …` and `aws_secret_access_key = …` (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<std::path::PathBuf>,
}

/// A retention policy. All counts 0 / empty means "no policy" (forget refuses that).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub keep_last: u32,
    #[serde(default)]
    pub keep_hourly: u32,
    #[serde(default)]
    pub keep_daily: u32,
    #[serde(default)]
    pub keep_weekly: u32,
    #[serde(default)]
    pub keep_monthly: u32,
    #[serde(default)]
    pub keep_yearly: u32,
    /// e.g. `30d`, `12h`, `1y2m`: see [`crate::ops::forget::parse_duration`].
    #[serde(default)]
    pub keep_within: Option<String>,
    #[serde(default)]
    pub keep_tag: Vec<String>,
    /// Thin snapshots older than this (`0s`: all) by replacing TSDB blocks with the
    /// compacted blocks that hold their samples (`forget --thin-compacted`,
    /// [`crate::ops::thin`]).
    #[serde(default)]
    pub thin_compacted: Option<String>,
}

impl Policy {
    /// True when no rule keeps anything (thinning is not a keep rule).
    pub fn is_empty(&self) -> bool {
        Policy { thin_compacted: None, ..self.clone() } == Policy::default()
    }
}

impl UserConfig {
    /// The config file named by `--config`/`CELLAR_CONFIG`, else
    /// `$XDG_CONFIG_HOME/cellar/config.toml` (or `~/.config/…`) if it exists, else empty.
    pub fn default_path() -> Option<std::path::PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))?;
        Some(base.join("cellar/config.toml"))
    }

    pub fn load_or_default(path: Option<&Path>) -> anyhow::Result<UserConfig> {
        match path {
            Some(p) => Self::load(p),
            None => match Self::default_path().filter(|p| p.exists()) {
                Some(p) => Self::load(&p),
                None => Ok(UserConfig::default()),
            },
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<UserConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }
}

/// `cellar config import-dop`: turn the JSON of
/// `kubectl -n d8-observability-platform get secrets,configmaps -o json` into remotes
/// `mimir`, `loki` and `backup` (secrets `<name>-s3` hold base64 `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`; config maps `<name>-s3` hold `BUCKET_NAME`). Credentials go to
/// `<creds_dir>/<name>.credentials` with mode 0600; the config file only names them.
/// Returns the remote names written. Secrets are never printed.
pub fn import_dop(json: &[u8], endpoint: &str, config: &Path, creds_dir: &Path) -> anyhow::Result<Vec<String>> {
    use anyhow::bail;
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let doc: serde_json::Value =
        serde_json::from_slice(json).context("input is not JSON from `kubectl get … -o json`")?;
    let items = doc["items"].as_array().cloned().unwrap_or_else(|| vec![doc.clone()]);
    let mut keys: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut buckets: BTreeMap<String, String> = BTreeMap::new();
    for it in &items {
        let Some(name) = it["metadata"]["name"].as_str().and_then(|n| n.strip_suffix("-s3")) else { continue };
        match it["kind"].as_str() {
            Some("Secret") => {
                let get = |k: &str| -> anyhow::Result<String> {
                    let b64 = it["data"][k].as_str().with_context(|| format!("secret {name}-s3 lacks {k}"))?;
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .with_context(|| format!("secret {name}-s3: {k} is not base64"))?;
                    Ok(String::from_utf8(raw)
                        .with_context(|| format!("secret {name}-s3: {k} is not text"))?
                        .trim()
                        .to_string())
                };
                keys.insert(name.to_string(), (get("AWS_ACCESS_KEY_ID")?, get("AWS_SECRET_ACCESS_KEY")?));
            }
            Some("ConfigMap") => {
                if let Some(b) = it["data"]["BUCKET_NAME"].as_str() {
                    buckets.insert(name.to_string(), b.to_string());
                }
            }
            _ => {}
        }
    }
    let names: Vec<String> = buckets.keys().filter(|n| keys.contains_key(*n)).cloned().collect();
    if names.is_empty() {
        bail!("found no pair of secret and config map named <name>-s3 (expected mimir-s3, loki-s3, backup-s3)");
    }
    std::fs::create_dir_all(creds_dir).with_context(|| format!("creating {}", creds_dir.display()))?;
    let mut table: toml::Table = if config.exists() {
        toml::from_str(&std::fs::read_to_string(config)?).with_context(|| format!("parsing {}", config.display()))?
    } else {
        toml::Table::new()
    };
    let remotes = table.entry("remote").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(remotes) = remotes.as_table_mut() else { bail!("{}: `remote` is not a table", config.display()) };
    for name in &names {
        let (k, s) = &keys[name];
        let path = creds_dir.join(format!("{name}.credentials"));
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(f, "[default]\naws_access_key_id = {k}\naws_secret_access_key = {s}")?;
        let remote = Remote {
            endpoint: Some(endpoint.to_string()),
            bucket: buckets[name].clone(),
            credentials_file: Some(path),
            ..Default::default()
        };
        remotes.insert(name.clone(), toml::Value::try_from(&remote)?);
    }
    if let Some(dir) = config.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(config, toml::to_string_pretty(&table)?).with_context(|| format!("writing {}", config.display()))?;
    // The config names credentials files but holds no secret; still, keep it private.
    std::fs::set_permissions(config, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(names)
}
