//! Key files (`keys/<id>`): the master key wrapped by a password. Several may exist, so
//! several people or machines can open one repository, and passwords can be rotated.
//!
//! In a format v4 repository a full key wraps the master key and the repository secret (64
//! bytes); an append-only key wraps the master key alone (32 bytes), so whoever holds it
//! can back up but opens no content (format-spec §16).

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{FileType, RepoFile};
use crate::repo::crypto::{self, KdfParams, MasterKey, RepoSecret};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeyFile {
    pub version: u32,
    pub created: String,
    pub host: String,
    pub user: String,
    pub kdf: Kdf,
    /// Base64 of the master key (and, for a full key of a v4 repository, the repository
    /// secret after it) sealed under the Argon2id-derived key.
    pub master_key: String,
    /// Made by `key add --append-only`: for listings only; what the key can do follows
    /// from what it wraps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_only: bool,
}

/// What a key file opened to.
pub struct OpenedKey {
    pub master: MasterKey,
    /// The repository secret: present in full keys of v4 repositories.
    pub secret: Option<RepoSecret>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Kdf {
    /// Always `"argon2id"` (version 0x13).
    pub algorithm: String,
    #[serde(flatten)]
    pub params: KdfParams,
    /// Base64 of a random 16-byte salt.
    pub salt: String,
}

/// Upper bounds on the cost parameters a key file may ask for (4 GiB, far above the
/// default 64 MiB).
pub const MAX_KDF_MEMORY_KIB: u32 = 4 << 20;
pub const MAX_KDF_PASSES: u32 = 64;
pub const MAX_KDF_LANES: u32 = 16;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl KeyFile {
    /// A key wrapping `master` and, for a full key of a v4 repository, `secret`; `None`
    /// there makes an append-only key.
    pub fn create(
        master: &MasterKey,
        secret: Option<&RepoSecret>,
        append_only: bool,
        password: &[u8],
        params: KdfParams,
    ) -> Result<KeyFile, String> {
        let salt: [u8; 16] = crypto::random();
        let kek = crypto::derive_kek(password, &salt, params)?;
        let mut payload = master.as_bytes().to_vec();
        if let Some(s) = secret {
            payload.extend_from_slice(&s.to_bytes());
        }
        Ok(KeyFile {
            version: 1,
            created: super::snapshot::now_rfc3339(),
            // Key files are readable without a password: who made one is not written
            // (older key files may name a host and user; format-spec/security.md).
            host: String::new(),
            user: String::new(),
            kdf: Kdf { algorithm: "argon2id".into(), params, salt: b64().encode(salt) },
            master_key: b64().encode(crypto::wrap(&kek, &payload)),
            append_only,
        })
    }

    /// `Ok(None)` when the password does not open this key; an error when the key file
    /// itself is unusable (the caller names the file).
    pub fn open(&self, password: &[u8]) -> Result<Option<OpenedKey>, String> {
        if self.kdf.algorithm != "argon2id" {
            return Err(format!("unknown KDF {:?}", self.kdf.algorithm));
        }
        // A key file is read before anything is authenticated: its cost parameters must
        // not make a reader allocate or compute without bound.
        let p = self.kdf.params;
        if p.m_kib > MAX_KDF_MEMORY_KIB || p.t > MAX_KDF_PASSES || p.p > MAX_KDF_LANES {
            return Err(format!(
                "Argon2id parameters {p:?} exceed what cellar accepts ({MAX_KDF_MEMORY_KIB} KiB, {MAX_KDF_PASSES} passes, {MAX_KDF_LANES} lanes)"
            ));
        }
        let salt = b64().decode(&self.kdf.salt).map_err(|_| "bad salt".to_string())?;
        let sealed = b64().decode(&self.master_key).map_err(|_| "bad master_key".to_string())?;
        let kek = crypto::derive_kek(password, &salt, self.kdf.params)?;
        match crypto::unwrap(&kek, &sealed) {
            Ok(raw) => {
                let (master, secret) = match raw.len() {
                    32 => (&raw[..], None),
                    64 => (&raw[..32], Some(&raw[32..])),
                    n => return Err(format!("the wrapped key is {n} bytes, not 32 or 64")),
                };
                Ok(Some(OpenedKey {
                    master: MasterKey::from_bytes(master.try_into().expect("32 bytes")),
                    secret: secret.map(|s| RepoSecret::from_bytes(s.try_into().expect("32 bytes"))),
                }))
            }
            Err(_) => Ok(None),
        }
    }
}

impl RepoFile for KeyFile {
    const TYPE: FileType = FileType::Key;
    const SEALED: bool = false;

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("key files serialize")
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        super::from_json(plain)
    }
}
