//! The keys of content (packs, snapshots, sketches; [`FileType::content`]).
//!
//! Format v1–v3 seal content with the master key, like everything else. Format v4 seals it
//! to the repository's X25519 public key (format-spec §16): every writer session draws an
//! ephemeral key pair, stores its public half in `sessions/<id>`, and seals with the key
//! both halves agree on, tagging each nonce with the session file's id. A full key holds the
//! repository secret and derives any session's key from its file; an append-only key holds
//! only the public key, so it opens nothing but what its own session sealed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use super::crypto::{self, MasterKey, RepoSecret, Seal, SESSION_TAG_LEN};
use super::file::session::SessionFile;
use super::file::{FileType, RepoFile};
use super::Id;
use crate::backend::Backend;
use crate::error::RepoError;

type Tag = [u8; SESSION_TAG_LEN];

/// Seals and opens content for one open repository.
pub struct ContentKeys {
    mode: Mode,
}

enum Mode {
    Shared(MasterKey),
    Sessions(Box<Sessions>),
}

struct Sessions {
    backend: Arc<dyn Backend>,
    public: [u8; 32],
    /// `None`: an append-only key.
    secret: Option<RepoSecret>,
    /// This process's own session, drawn at its first seal.
    own: OnceLock<Own>,
    own_stored: Mutex<bool>,
    /// Keys of other sessions by tag (several only if two session ids share a tag);
    /// shared, so a read takes a reference count, not a copy.
    known: RwLock<HashMap<Tag, Arc<Vec<MasterKey>>>>,
    /// Session files already read; held while looking one up, so threads missing the same
    /// tag read it once.
    loaded: Mutex<HashSet<Id>>,
}

struct Own {
    id: Id,
    file: SessionFile,
    key: MasterKey,
    /// `[key]`, as [`Sessions::keys_for`] returns it.
    keys: Arc<Vec<MasterKey>>,
}

impl ContentKeys {
    /// Format v1–v3: content is sealed with the master key.
    pub fn shared(master: MasterKey) -> ContentKeys {
        ContentKeys { mode: Mode::Shared(master) }
    }

    /// Format v4: content is sealed to `public`; `secret` is the repository secret of a
    /// full key, `None` for an append-only key.
    pub fn sessions(backend: Arc<dyn Backend>, public: [u8; 32], secret: Option<RepoSecret>) -> ContentKeys {
        ContentKeys {
            mode: Mode::Sessions(Box::new(Sessions {
                backend,
                public,
                secret,
                own: OnceLock::new(),
                own_stored: Mutex::new(false),
                known: RwLock::default(),
                loaded: Mutex::default(),
            })),
        }
    }

    /// The repository secret of a full key of a v4 repository.
    pub fn secret(&self) -> Option<&RepoSecret> {
        match &self.mode {
            Mode::Sessions(s) => s.secret.as_ref(),
            Mode::Shared(_) => None,
        }
    }

    /// True for an append-only key: content of other sessions cannot be opened.
    pub fn append_only(&self) -> bool {
        matches!(&self.mode, Mode::Sessions(s) if s.secret.is_none())
    }

    /// Store the own session's file with `write` if it has sealed something and is not
    /// stored yet. Called before any file sealed by the session is written, so no reader
    /// meets a tag without its session file; held locked, so it is written once.
    pub(crate) fn ensure_session_stored(
        &self,
        write: impl FnOnce(&SessionFile) -> Result<(), RepoError>,
    ) -> Result<(), RepoError> {
        let Mode::Sessions(s) = &self.mode else { return Ok(()) };
        let Some(own) = s.own() else { return Ok(()) };
        let mut stored = s.own_stored.lock();
        if !*stored {
            write(&own.file)?;
            *stored = true;
        }
        Ok(())
    }
}

impl Sessions {
    fn own(&self) -> Option<&Own> {
        self.own.get()
    }

    fn own_or_new(&self) -> &Own {
        self.own.get_or_init(|| {
            let (public, key) = crypto::new_session(&self.public);
            let file = SessionFile { public };
            let id = Id::of_stored(&file.encode());
            Own { id, file, keys: Arc::new(vec![key.clone()]), key }
        })
    }

    fn keys_for(&self, tag: &Tag, what: &str) -> Result<Arc<Vec<MasterKey>>, RepoError> {
        if let Some(own) = self.own().filter(|o| o.id.0[..SESSION_TAG_LEN] == *tag) {
            return Ok(own.keys.clone());
        }
        if let Some(k) = self.known.read().get(tag) {
            return Ok(k.clone());
        }
        let Some(secret) = &self.secret else {
            return Err(RepoError::AppendOnly(format!("read {what} (sealed by another session)")));
        };
        let mut loaded = self.loaded.lock();
        if let Some(k) = self.known.read().get(tag) {
            return Ok(k.clone());
        }
        let prefix = format!("{}/{}", FileType::Session.dir(), hex::encode(tag));
        for (name, _) in self.backend.list(FileType::Session.dir())? {
            let Some(id) = FileType::Session.id_of(&name).filter(|_| name.starts_with(&prefix)) else { continue };
            if !loaded.insert(id) {
                continue;
            }
            let stored = self.backend.read(&name)?;
            super::file::verify_name(&name, &stored)?;
            let f = SessionFile::decode(&stored).map_err(|e| RepoError::integrity(&name, e))?;
            Arc::make_mut(self.known.write().entry(*tag).or_default()).push(secret.session_key(&f.public));
        }
        self.known.read().get(tag).cloned().ok_or_else(|| {
            RepoError::integrity(what, format!("sealed by session {}…, which has no session file", hex::encode(tag)))
        })
    }
}

impl Seal for ContentKeys {
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        match &self.mode {
            Mode::Shared(k) => k.encrypt(plain),
            Mode::Sessions(s) => {
                let own = s.own_or_new();
                own.key.encrypt_tagged(own.id.0[..SESSION_TAG_LEN].try_into().expect("8 bytes"), plain)
            }
        }
    }

    fn open(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, RepoError> {
        match &self.mode {
            Mode::Shared(k) => k.open(what, sealed),
            Mode::Sessions(s) => {
                let tag = crypto::session_tag(sealed)
                    .ok_or_else(|| RepoError::integrity(what, format!("{} bytes is too short", sealed.len())))?;
                let keys = s.keys_for(&tag, what)?;
                let mut last = None;
                for k in keys.iter() {
                    match k.decrypt(sealed) {
                        Ok(p) => return Ok(p),
                        Err(e) => last = Some(e),
                    }
                }
                Err(RepoError::integrity(what, last.map_or_else(String::new, |e| e.to_string())))
            }
        }
    }
}
