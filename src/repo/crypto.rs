//! Authenticated encryption of everything the repository stores, and password-based key
//! wrapping. XChaCha20-Poly1305 is used because its 192-bit nonces can be drawn at random
//! for every message without a collision budget to track across concurrent writers.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

/// Bytes added to every encrypted message: 24-byte nonce in front, 16-byte tag behind.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// Fill a fixed-size array from the OS random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the OS random source failed");
    b
}

/// The repository's data key. Everything except `config`'s plaintext header and the key
/// files themselves is sealed with it.
#[derive(Clone)]
pub struct MasterKey {
    raw: [u8; 32],
    aead: XChaCha20Poly1305,
}

impl MasterKey {
    pub fn generate() -> Self {
        Self::from_bytes(random())
    }

    pub fn from_bytes(raw: [u8; 32]) -> Self {
        MasterKey { raw, aead: XChaCha20Poly1305::new(&raw.into()) }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    /// `nonce || ciphertext || tag`.
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        seal(&self.aead, plain)
    }

    /// Decrypts and authenticates; any modified byte fails. The caller names what failed
    /// (a file, a blob) in a [`crate::error::RepoError::Integrity`].
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        open(&self.aead, sealed)
    }
}

/// A sealed message that did not open: too short, or its tag does not verify (damaged,
/// tampered, or sealed with another key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed message of {0} bytes is too short")]
    TooShort(usize),
    #[error("authentication failed (damaged or tampered data)")]
    Authentication,
}

fn seal(aead: &XChaCha20Poly1305, plain: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random();
    let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
    out.extend_from_slice(&nonce);
    let ct = aead.encrypt(XNonce::from_slice(&nonce), plain).expect("encryption cannot fail");
    out.extend_from_slice(&ct);
    out
}

fn open(aead: &XChaCha20Poly1305, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < OVERHEAD {
        return Err(OpenError::TooShort(sealed.len()));
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    aead.decrypt(XNonce::from_slice(nonce), ct).map_err(|_| OpenError::Authentication)
}

/// Argon2id cost parameters, stored in each key file so they can be raised later without
/// breaking older keys.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes: ~0.2–0.5 s on a server core, the OWASP-recommended range.
    fn default() -> Self {
        KdfParams { m_kib: 64 * 1024, t: 3, p: 1 }
    }
}

/// Derive the 32-byte key-encryption key from a password. Fails only on parameters
/// Argon2id refuses (a damaged or hand-edited key file).
pub fn derive_kek(password: &[u8], salt: &[u8], params: KdfParams) -> Result<[u8; 32], String> {
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| format!("invalid Argon2id parameters {params:?}: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = [0u8; 32];
    a.hash_password_into(password, salt, &mut out).map_err(|e| format!("deriving the key from the password: {e}"))?;
    Ok(out)
}

/// Seal `plain` under a key-encryption key (used only for wrapping the master key).
pub fn wrap(kek: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    seal(&XChaCha20Poly1305::new(kek.into()), plain)
}

/// Open a wrapped master key; a failure here means the password was wrong for this key.
pub fn unwrap(kek: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    open(&XChaCha20Poly1305::new(kek.into()), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let k = MasterKey::generate();
        let mut s = k.encrypt(b"hello");
        assert_eq!(s.len(), 5 + OVERHEAD);
        assert_eq!(k.decrypt(&s).unwrap(), b"hello");
        s[30] ^= 1;
        assert!(k.decrypt(&s).is_err());
        assert!(MasterKey::generate().decrypt(&k.encrypt(b"x")).is_err());
    }
}
