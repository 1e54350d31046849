//! The kinds of files a repository holds (format-spec §1), one module each, and the one
//! seam through which they are stored and read: [`RepoFile`]. Every content-addressed file
//! is saved and loaded by [`crate::repo::Repository::save_file`] and
//! [`crate::repo::Repository::load_file`], which seal it, name it by the hash of its stored
//! bytes, and on reading verify that name before anything else looks at the bytes.

/// A file kind stored as compact JSON (snapshots, deletion records, writer markers).
macro_rules! json_file {
    ($t:ty, $kind:expr) => {
        impl $crate::repo::file::RepoFile for $t {
            const TYPE: $crate::repo::file::FileType = $kind;

            fn encode(&self) -> Vec<u8> {
                $crate::repo::file::to_json(self)
            }

            fn decode(plain: &[u8]) -> Result<Self, String> {
                $crate::repo::file::from_json(plain)
            }
        }
    };
}
pub(crate) use json_file;

pub mod config;
pub mod deletion;
pub mod index;
pub mod key;
pub mod pack;
pub mod retention_log;
pub mod session;
pub mod sketch;
pub mod snapshot;
pub mod tree;
pub mod verified;
pub mod writer;

use crate::error::RepoError;
use crate::id::Id;

/// Every kind of file in a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    Config,
    Key,
    Pack,
    Index,
    Snapshot,
    Deletion,
    Writer,
    Sketch,
    Verified,
    RetentionLog,
    Session,
}

impl FileType {
    /// Every kind, in the order `stats` and listings show them.
    pub const ALL: [FileType; 11] = [
        FileType::Config,
        FileType::Key,
        FileType::Pack,
        FileType::Index,
        FileType::Snapshot,
        FileType::Deletion,
        FileType::Writer,
        FileType::Sketch,
        FileType::Verified,
        FileType::RetentionLog,
        FileType::Session,
    ];

    /// Kinds a locked repository writes locked: everything a restore needs. Hints,
    /// markers and prune's records are not, so they can be removed when done.
    pub const fn locked(self) -> bool {
        matches!(
            self,
            FileType::Config
                | FileType::Key
                | FileType::Pack
                | FileType::Index
                | FileType::Snapshot
                | FileType::Session
        )
    }

    /// Kinds holding content (data, names, trees, snapshot manifests, resemblance
    /// sketches): in a format v4 repository they are sealed by a session key to the
    /// repository public key, which an append-only key cannot open (format-spec §16). The
    /// other sealed kinds stay under the master key that every key holds.
    pub const fn content(self) -> bool {
        matches!(self, FileType::Pack | FileType::Snapshot | FileType::Sketch)
    }

    /// The directory holding files of this kind (`config` is a single file at the top).
    pub const fn dir(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "keys",
            FileType::Pack => "data",
            FileType::Index => "index",
            FileType::Snapshot => "snapshots",
            FileType::Deletion => "deletions",
            FileType::Writer => "writers",
            FileType::Sketch => "sketches",
            FileType::Verified => "verified",
            FileType::RetentionLog => "retention",
            FileType::Session => "sessions",
        }
    }

    /// The storage name of the file with this id: `keys/<hex>`, `data/<hex[..2]>/<hex>`, ….
    pub fn name(self, id: &Id) -> String {
        let h = id.to_hex();
        match self {
            FileType::Config => "config".into(),
            FileType::Pack => format!("data/{}/{h}", &h[..2]),
            _ => format!("{}/{h}", self.dir()),
        }
    }

    /// The id a storage name of this kind stands for; `None` for names that are not
    /// repository files (foreign files, a mistyped directory).
    pub fn id_of(self, name: &str) -> Option<Id> {
        let rest = name.strip_prefix(self.dir())?.strip_prefix('/')?;
        let hex = match self {
            FileType::Config => return None,
            FileType::Pack => {
                let (dir, hex) = rest.split_once('/')?;
                (dir.len() == 2 && hex.starts_with(dir)).then_some(hex)?
            }
            _ => rest,
        };
        Id::from_hex(hex).ok()
    }

    /// What to call a file of this kind in messages.
    pub const fn noun(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "key file",
            FileType::Pack => "pack",
            FileType::Index => "index file",
            FileType::Snapshot => "snapshot",
            FileType::Deletion => "deletion record",
            FileType::Writer => "writer marker",
            FileType::Sketch => "sketch file",
            FileType::Verified => "verified-packs file",
            FileType::RetentionLog => "retention log",
            FileType::Session => "session file",
        }
    }
}

/// A content-addressed repository file with a plaintext encoding. Sealed kinds are
/// encrypted before they are named (with the master key, or for [`FileType::content`]
/// kinds of a v4 repository a session key); key and session files are stored as they are
/// (each is its own envelope).
pub trait RepoFile: Sized {
    const TYPE: FileType;
    /// Sealed with the master key (all kinds but key files).
    const SEALED: bool = true;

    fn encode(&self) -> Vec<u8>;
    /// Parse the plaintext; the error says what is wrong, the caller names the file.
    fn decode(plain: &[u8]) -> Result<Self, String>;
}

/// Verify that `bytes` hash to the id in `name` (spec §1): a mismatch is damage.
pub fn verify_name(name: &str, bytes: &[u8]) -> Result<Id, RepoError> {
    let want = Id::from_hex(name.rsplit('/').next().unwrap_or(name))
        .map_err(|_| RepoError::integrity(name, "the name is not a hex id"))?;
    let got = Id::of_stored(bytes);
    if got != want {
        return Err(RepoError::integrity(name, format!("content hash is {got}, not its name")));
    }
    Ok(want)
}

/// JSON encoding shared by the JSON file kinds.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("repository files serialize")
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| format!("not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_refused() {
        let id = Id([0xab; 32]);
        for t in FileType::ALL.into_iter().filter(|t| *t != FileType::Config) {
            assert_eq!(t.id_of(&t.name(&id)), Some(id), "{t:?}");
        }
        assert!(FileType::Pack.name(&id).starts_with("data/ab/abab"));
        assert_eq!(FileType::Pack.id_of(&format!("data/cd/{id}")), None);
        assert_eq!(FileType::Snapshot.id_of("snapshots/notes.txt"), None);
        assert_eq!(FileType::Index.id_of(&FileType::Snapshot.name(&id)), None);
    }
}
