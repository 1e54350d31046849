//! The `config` file: a plaintext header (so a newer format is refused before any password
//! is asked) carrying the sealed repository settings.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::chunk::ChunkerParams;
use crate::error::RepoError;
use crate::repo::crypto::MasterKey;

/// The newest repository format this build reads and writes. Version 2 adds gzip-
/// transparent files and delta blobs; repositories using neither are written as version 1,
/// which older builds keep reading. Version 3 adds Object Lock: only locked repositories
/// are version 3, so that a build unaware of locks (which would write unprotected files
/// into them) refuses them. Version 4 seals content to a repository public key, so that
/// append-only keys can exist (format-spec §16); new repositories are version 4 unless
/// made with `init --no-append-only-keys`. Version 5 stores PostgreSQL custom-format
/// archives transparently (format-spec §12.1): new repositories are version 5 unless made
/// with `init --no-pg-custom-transparent`.
pub const FORMAT_VERSION: u32 = 5;

/// Plaintext part of `config`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Config {
    /// Always `"cellar"`: tells a cellar repository from anything else.
    pub format: String,
    pub version: u32,
    /// Random repository id (hex), for caches and for telling repositories apart.
    pub id: String,
    /// Base64 of the sealed JSON [`Settings`].
    pub settings: String,
}

/// Fixed-at-init parameters. Sealed so that the id key stays secret and no one can change
/// chunking or ids of a repository without the key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Settings {
    /// Key for BLAKE3 keyed hashing of blob ids (hex, 32 bytes).
    pub id_key: String,
    /// Chunker profiles by object kind; `default` is always present.
    pub chunkers: BTreeMap<String, ChunkerParams>,
    /// Target pack size in bytes.
    pub pack_size: u64,
    /// zstd level used when compression pays.
    pub zstd_level: i32,
    /// S3 storage class for data packs (e.g. GLACIER); metadata stays in the default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_storage_class: Option<String>,
    /// Store gzip objects as decoded text plus a recipe (format v2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gzip_transparent: bool,
    /// Store pg_dump custom-format archives as their decoded table data plus a recipe
    /// (format v5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pg_custom_transparent: bool,
    /// Store changed text chunks as deltas against similar stored chunks (format v2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deltas: bool,
    /// The config's plaintext `id`, sealed here so a changed id is detected (it keys the
    /// metadata cache). Absent in repositories made before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<String>,
    /// S3 Object Lock: the files restores need are written locked (format v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    /// The repository's X25519 public key (hex): content is sealed to it by session keys,
    /// and only full keys hold its secret (format v4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// How a locked repository locks its files: each one until at least `retain_seconds`
/// after it was written, and, while a snapshot needs it, again and again from then on.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    pub mode: crate::backend::LockMode,
    pub retain_seconds: u64,
}

impl ObjectLock {
    pub fn period(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.retain_seconds).unwrap_or(i64::MAX / 2))
    }
}

impl Settings {
    /// The format version a repository with these settings needs.
    pub fn format_version(&self) -> u32 {
        if self.pg_custom_transparent {
            5
        } else if self.public_key.is_some() {
            4
        } else if self.object_lock.is_some() {
            3
        } else if self.gzip_transparent || self.deltas {
            2
        } else {
            1
        }
    }

    pub fn id_key(&self) -> Result<[u8; 32], RepoError> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(&self.id_key, &mut k).map_err(|_| RepoError::integrity("config", "bad id_key"))?;
        Ok(k)
    }

    /// The repository public key (format v4).
    pub fn public_key(&self) -> Result<Option<[u8; 32]>, RepoError> {
        let Some(h) = &self.public_key else { return Ok(None) };
        let mut k = [0u8; 32];
        hex::decode_to_slice(h, &mut k).map_err(|_| RepoError::integrity("config", "bad public_key"))?;
        Ok(Some(k))
    }

    pub fn validate(&self) -> Result<(), RepoError> {
        self.id_key()?;
        self.public_key()?;
        // Chunker profiles are validated when a backup builds its cutters: a reader never
        // re-chunks, so a profile added by a newer writer must not stop a restore.
        if !self.chunkers.contains_key("default") {
            return Err(RepoError::integrity("config", "settings have no default chunker"));
        }
        if self.object_lock.is_some_and(|l| l.retain_seconds == 0) {
            return Err(RepoError::Invalid("an Object Lock period must be longer than 0 seconds".into()));
        }
        if !(1 << 20..=1 << 30).contains(&self.pack_size) {
            return Err(RepoError::Invalid(format!("pack size {} is outside 1 MiB..1 GiB", self.pack_size)));
        }
        Ok(())
    }
}

impl Config {
    pub fn new(id: String, settings: &Settings, key: &MasterKey) -> Config {
        let sealed = key.encrypt(&serde_json::to_vec(settings).expect("settings serialize"));
        Config {
            format: "cellar".into(),
            version: settings.format_version(),
            id,
            settings: base64::engine::general_purpose::STANDARD.encode(sealed),
        }
    }

    /// Parse and refuse anything that is not a cellar repository of a version we know.
    pub fn parse(bytes: &[u8]) -> Result<Config, RepoError> {
        let c: Config = serde_json::from_slice(bytes)
            .map_err(|e| RepoError::integrity("config", format!("not valid cellar JSON: {e}")))?;
        if c.format != "cellar" {
            return Err(RepoError::NotARepository(format!("not a cellar repository (config format {:?})", c.format)));
        }
        if c.version > FORMAT_VERSION {
            return Err(RepoError::UnsupportedVersion { found: c.version, supported: FORMAT_VERSION });
        }
        if c.version == 0 {
            return Err(RepoError::integrity("config", "version 0 is invalid"));
        }
        Ok(c)
    }

    pub fn settings(&self, key: &MasterKey) -> Result<Settings, RepoError> {
        let bad = |detail: String| RepoError::integrity("config", detail);
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&self.settings)
            .map_err(|_| bad("settings are not base64".into()))?;
        let plain = key.decrypt(&sealed).map_err(|e| bad(format!("settings: {e}")))?;
        let s: Settings =
            serde_json::from_slice(&plain).map_err(|e| bad(format!("settings are not valid JSON: {e}")))?;
        s.validate()?;
        if s.repository_id.as_ref().is_some_and(|sealed| *sealed != self.id) {
            return Err(bad(format!("its id {:?} is not the repository id sealed in its settings", self.id)));
        }
        if s.format_version() > self.version {
            return Err(bad(format!(
                "settings need format v{} but the config says v{}",
                s.format_version(),
                self.version
            )));
        }
        Ok(s)
    }
}
