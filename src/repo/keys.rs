//! Key files (`keys/<id>`): the master key wrapped by a password. Several may exist, so
//! several people or machines can open one repository, and passwords can be rotated.

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::repo::crypto::{self, KdfParams, MasterKey};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeyFile {
    pub version: u32,
    pub created: String,
    pub host: String,
    pub user: String,
    pub kdf: Kdf,
    /// Base64 of the master key sealed under the Argon2id-derived key.
    pub master_key: String,
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

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl KeyFile {
    pub fn create(master: &MasterKey, password: &[u8], params: KdfParams) -> anyhow::Result<KeyFile> {
        let salt: [u8; 16] = crypto::random();
        let kek = crypto::derive_kek(password, &salt, params)?;
        Ok(KeyFile {
            version: 1,
            created: crate::repo::snapshot::now_rfc3339(),
            host: crate::repo::snapshot::hostname(),
            user: std::env::var("USER").unwrap_or_default(),
            kdf: Kdf { algorithm: "argon2id".into(), params, salt: b64().encode(salt) },
            master_key: b64().encode(crypto::wrap(&kek, master.as_bytes())),
        })
    }

    /// `None` when the password does not open this key.
    pub fn open(&self, password: &[u8]) -> anyhow::Result<Option<MasterKey>> {
        anyhow::ensure!(self.kdf.algorithm == "argon2id", "unknown KDF {:?}", self.kdf.algorithm);
        let salt = b64().decode(&self.kdf.salt).context("key file: bad salt")?;
        let sealed = b64().decode(&self.master_key).context("key file: bad master_key")?;
        let kek = crypto::derive_kek(password, &salt, self.kdf.params)?;
        match crypto::unwrap(&kek, &sealed) {
            Ok(raw) => {
                let raw: [u8; 32] =
                    raw.try_into().map_err(|_| anyhow::anyhow!("key file: master key is not 32 bytes"))?;
                Ok(Some(MasterKey::from_bytes(raw)))
            }
            Err(_) => Ok(None),
        }
    }
}
