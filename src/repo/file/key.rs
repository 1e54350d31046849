//! Key files (`keys/<id>`): the master key wrapped by a password. Several may exist, so
//! several people or machines can open one repository, and passwords can be rotated.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{FileType, RepoFile};
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
    pub fn create(master: &MasterKey, password: &[u8], params: KdfParams) -> Result<KeyFile, String> {
        let salt: [u8; 16] = crypto::random();
        let kek = crypto::derive_kek(password, &salt, params)?;
        Ok(KeyFile {
            version: 1,
            created: super::snapshot::now_rfc3339(),
            host: super::snapshot::hostname(),
            user: std::env::var("USER").unwrap_or_default(),
            kdf: Kdf { algorithm: "argon2id".into(), params, salt: b64().encode(salt) },
            master_key: b64().encode(crypto::wrap(&kek, master.as_bytes())),
        })
    }

    /// `Ok(None)` when the password does not open this key; an error when the key file
    /// itself is unusable (the caller names the file).
    pub fn open(&self, password: &[u8]) -> Result<Option<MasterKey>, String> {
        if self.kdf.algorithm != "argon2id" {
            return Err(format!("unknown KDF {:?}", self.kdf.algorithm));
        }
        let salt = b64().decode(&self.kdf.salt).map_err(|_| "bad salt".to_string())?;
        let sealed = b64().decode(&self.master_key).map_err(|_| "bad master_key".to_string())?;
        let kek = crypto::derive_kek(password, &salt, self.kdf.params)?;
        match crypto::unwrap(&kek, &sealed) {
            Ok(raw) => {
                let raw: [u8; 32] = raw.try_into().map_err(|_| "the master key is not 32 bytes".to_string())?;
                Ok(Some(MasterKey::from_bytes(raw)))
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
