//! Session files (`sessions/<id>`, format v4, format-spec §16): the ephemeral X25519 public
//! key of one writer session. With the repository's secret key it gives the session key
//! that sealed the session's content; without it (an append-only key) it gives nothing.
//! Stored unsealed: it is public, and a reader needs it before it has any session key.

use super::{FileType, RepoFile};

const MAGIC: &[u8; 4] = b"CSE1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFile {
    /// The session's ephemeral X25519 public key.
    pub public: [u8; 32],
}

impl RepoFile for SessionFile {
    const TYPE: FileType = FileType::Session;
    const SEALED: bool = false;

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.public);
        out
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        match plain.split_first_chunk::<4>() {
            Some((m, rest)) if m == MAGIC && rest.len() == 32 => {
                Ok(SessionFile { public: rest.try_into().expect("32 bytes") })
            }
            Some((m, _)) if m == MAGIC => Err(format!("{} bytes, not 36", plain.len())),
            _ => Err("not a cellar session file (bad magic; made by a newer cellar?)".into()),
        }
    }
}
