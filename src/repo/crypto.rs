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
        seal(&self.aead, plain, None)
    }

    /// Like [`MasterKey::encrypt`], with the nonce's first 8 bytes set to `tag`: a session
    /// key's messages name their session this way (format-spec §16), so a reader finds the
    /// key without any layout change. 128 random bits remain, ample for one session.
    pub fn encrypt_tagged(&self, tag: &[u8; SESSION_TAG_LEN], plain: &[u8]) -> Vec<u8> {
        seal(&self.aead, plain, Some(tag))
    }

    /// Decrypts and authenticates; any modified byte fails. The caller names what failed
    /// (a file, a blob) in a [`crate::error::RepoError::Integrity`].
    pub fn decrypt(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        open(&self.aead, sealed)
    }
}

/// What seals and opens content: the master key itself (format v1–v3), or the session keys
/// of a v4 repository ([`crate::repo::content::ContentKeys`]). `what` names the message in
/// errors.
pub trait Seal: Send + Sync {
    fn seal(&self, plain: &[u8]) -> Vec<u8>;
    fn open(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, crate::error::RepoError>;
}

impl Seal for MasterKey {
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        self.encrypt(plain)
    }

    fn open(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, crate::error::RepoError> {
        self.decrypt(sealed).map_err(|e| crate::error::RepoError::integrity(what, e))
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

fn seal(aead: &XChaCha20Poly1305, plain: &[u8], tag: Option<&[u8; SESSION_TAG_LEN]>) -> Vec<u8> {
    let mut nonce: [u8; NONCE_LEN] = random();
    if let Some(tag) = tag {
        nonce[..SESSION_TAG_LEN].copy_from_slice(tag);
    }
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

/// Bytes of a session tag: the start of the nonce of every message a session key seals.
pub const SESSION_TAG_LEN: usize = 8;

/// The session tag of a sealed message (its nonce's first bytes), if it is long enough.
pub fn session_tag(sealed: &[u8]) -> Option<[u8; SESSION_TAG_LEN]> {
    sealed.get(..SESSION_TAG_LEN).map(|t| t.try_into().expect("8 bytes"))
}

/// The repository's X25519 key pair (format v4): content is sealed to its public half, so
/// a writer holding only the public half (an append-only key) cannot read what others
/// wrote. Only full keys hold the secret half.
#[derive(Clone)]
pub struct RepoSecret(x25519_dalek::StaticSecret);

impl RepoSecret {
    pub fn generate() -> Self {
        RepoSecret::from_bytes(random())
    }

    pub fn from_bytes(raw: [u8; 32]) -> Self {
        RepoSecret(x25519_dalek::StaticSecret::from(raw))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// The key of the session whose ephemeral public key is `session_public`.
    pub fn session_key(&self, session_public: &[u8; 32]) -> MasterKey {
        let shared = self.0.diffie_hellman(&x25519_dalek::PublicKey::from(*session_public));
        session_key_from(shared.as_bytes(), session_public, &self.public())
    }
}

/// A writer's new session: an ephemeral X25519 key pair whose agreement with the
/// repository public key gives the session's content key. The ephemeral secret is dropped
/// here; only the session key (kept in memory by the writer) and the public half (stored
/// in `sessions/`) remain.
pub fn new_session(repo_public: &[u8; 32]) -> ([u8; 32], MasterKey) {
    session_from_ephemeral(random(), repo_public)
}

/// The session of ephemeral secret `eph` (public half, key): [`new_session`] with a chosen
/// secret, for test vectors.
pub fn session_from_ephemeral(eph: [u8; 32], repo_public: &[u8; 32]) -> ([u8; 32], MasterKey) {
    let eph = x25519_dalek::StaticSecret::from(eph);
    let eph_public = x25519_dalek::PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&x25519_dalek::PublicKey::from(*repo_public));
    (eph_public, session_key_from(shared.as_bytes(), &eph_public, repo_public))
}

/// `BLAKE3-derive_key("cellar 2026-12 session key v1", shared || session_public ||
/// repo_public)` (format-spec §16): binding both public keys keeps a key agreed with one
/// repository from being replayed as another's.
pub fn session_key_from(shared: &[u8; 32], session_public: &[u8; 32], repo_public: &[u8; 32]) -> MasterKey {
    let mut h = blake3::Hasher::new_derive_key(SESSION_KEY_CONTEXT);
    h.update(shared);
    h.update(session_public);
    h.update(repo_public);
    MasterKey::from_bytes(*h.finalize().as_bytes())
}

/// The BLAKE3 key-derivation context of session keys.
pub const SESSION_KEY_CONTEXT: &str = "cellar 2026-12 session key v1";

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
    seal(&XChaCha20Poly1305::new(kek.into()), plain, None)
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

    #[test]
    fn sessions_agree_and_tag_their_nonces() {
        let repo = RepoSecret::generate();
        let (eph_public, writer_key) = new_session(&repo.public());
        let reader_key = repo.session_key(&eph_public);
        assert_eq!(writer_key.as_bytes(), reader_key.as_bytes());
        let sealed = writer_key.encrypt_tagged(b"12345678", b"content");
        assert_eq!(session_tag(&sealed), Some(*b"12345678"));
        assert_eq!(reader_key.decrypt(&sealed).unwrap(), b"content");
        assert!(RepoSecret::generate().session_key(&eph_public).decrypt(&sealed).is_err());
    }
}
