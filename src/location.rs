//! Where a repository, a source or a restore target is: a local path, `s3://BUCKET/PREFIX`,
//! or `remote:NAME[/PREFIX]`, a named S3 remote from the config file (its own endpoint,
//! bucket and credentials: the platform's buckets each have their own keys).

use anyhow::{bail, Context};
use std::path::PathBuf;

use crate::backend::s3::{S3Config, S3Url};
use crate::userconfig::UserConfig;

#[derive(Clone, Debug)]
pub enum Location {
    Local(PathBuf),
    S3(S3Url, S3Config),
}

/// Resolve a location string. `base` is the S3 configuration from flags and environment.
pub fn resolve(spec: &str, base: &S3Config, cfg: &UserConfig) -> anyhow::Result<Location> {
    if let Some(rest) = spec.strip_prefix("remote:") {
        let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(r) = cfg.remote.get(name) else {
            let known: Vec<&String> = cfg.remote.keys().collect();
            bail!("no remote {name:?} in the config file (known: {known:?}); add [remote.{name}] or run `cellar config import-dop`");
        };
        let mut prefix = r.prefix.trim_matches('/').to_string();
        if !sub.is_empty() {
            prefix = if prefix.is_empty() {
                sub.trim_matches('/').to_string()
            } else {
                format!("{prefix}/{}", sub.trim_matches('/'))
            };
        }
        let mut s3 = S3Config {
            endpoint: r.endpoint.clone().or_else(|| base.endpoint.clone()),
            path_style: r.path_style || base.path_style,
            ..Default::default()
        };
        if let Some(f) = &r.credentials_file {
            let (k, s) = read_credentials(f).with_context(|| format!("credentials of remote {name}"))?;
            s3.access_key = Some(k);
            s3.secret_key = Some(s);
        }
        s3.region = r.region.clone();
        return Ok(Location::S3(S3Url { bucket: r.bucket.clone(), prefix }, s3));
    }
    if let Some(url) = S3Url::parse(spec) {
        return Ok(Location::S3(url, base.clone()));
    }
    if spec.starts_with("s3:") {
        bail!("bad S3 location {spec:?}: use s3://BUCKET/PREFIX");
    }
    Ok(Location::Local(PathBuf::from(spec)))
}

/// `aws_access_key_id = …` / `aws_secret_access_key = …` lines (the AWS credentials file
/// format, one profile), as written by `config import-dop`.
pub fn read_credentials(path: &std::path::Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut key = None;
    let mut secret = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => key = Some(v.trim().to_string()),
            "aws_secret_access_key" => secret = Some(v.trim().to_string()),
            _ => {}
        }
    }
    match (key, secret) {
        (Some(k), Some(s)) => Ok((k, s)),
        _ => bail!("{} lacks aws_access_key_id or aws_secret_access_key", path.display()),
    }
}
