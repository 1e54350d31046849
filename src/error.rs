//! Typed errors. Callers decide by type, never by message text: a missing pack is damage to
//! `check` but routine to a prune racing another prune; a transient S3 failure is worth a
//! later retry, a wrong password is not. [`BackendError`] is what storage can fail with,
//! [`RepoError`] what reading or writing a repository can fail with. Operations and the
//! CLI carry them inside `anyhow::Error` with context and recover them with [`find`].

use crate::id::Id;

/// Result alias used by operations; the repository and backends use their own error types.
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// What a storage backend (local directory, S3, cache) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The file does not exist.
    #[error("{name}: no such file")]
    NotFound { name: String },
    /// The file is shorter than the range that was asked for.
    #[error("{name} is shorter than {needed} bytes")]
    Short { name: String, needed: u64 },
    /// A failure that may pass (throttling, 5xx, timeouts, resets), still there after the
    /// client's own retries.
    #[error("{what}: {detail}")]
    Transient { what: String, detail: String },
    /// The server does not implement the request (HTTP 501 `NotImplemented`).
    #[error("{what}: not implemented by {server}")]
    NotSupported { what: String, server: String },
    /// The credentials were refused.
    #[error("{what}: access denied by {server}: {detail}")]
    AccessDenied { what: String, server: String, detail: String },
    /// The request was refused as invalid (HTTP 4xx other than the above), e.g. a storage
    /// class the endpoint does not offer.
    #[error("{what}: {detail}")]
    Rejected { what: String, detail: String },
    /// The bucket does not exist.
    #[error("{what}: the bucket does not exist")]
    NoSuchBucket { what: String },
    /// A name that cannot be stored (empty, `.`/`..` or empty path components).
    #[error("invalid storage name {0:?}")]
    InvalidName(String),
    /// Local file system failure.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A write to a store opened read-only (a repository as of a past time).
    #[error(
        "{what}: the repository is open read-only (--as-of shows it as it was; nothing can be written to the past)"
    )]
    ReadOnly { what: String },
    /// Anything else the storage reported.
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// Wrap a local I/O error, turning "not found" into [`BackendError::NotFound`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BackendError {
        let what = what.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            BackendError::NotFound { name: what }
        } else {
            BackendError::Io { what, source }
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    /// A file that is gone or shorter than recorded: damage when the repository needs it.
    pub fn is_damage(&self) -> bool {
        matches!(self, BackendError::NotFound { .. } | BackendError::Short { .. })
    }
}

/// What reading or writing a repository can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No key file of the repository opens with the given password.
    #[error("wrong password: no key in this repository opens with it")]
    WrongPassword,
    /// The repository was written by a newer cellar; refusing protects it from damage.
    #[error(
        "repository format version {found} is newer than this cellar supports ({supported}); upgrade cellar to open it"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    /// There is no repository (no `config`) at the location, or it is not cellar's.
    #[error("{0}")]
    NotARepository(String),
    /// Stored bytes do not match what was written: damage or tampering. `what` names the
    /// file or blob.
    #[error("integrity error: {what}: {detail}")]
    Integrity { what: String, detail: String },
    /// A blob something needs is in no index file: its data is missing.
    #[error("blob {id} is not in the index (missing data)")]
    MissingBlob { id: Id },
    /// Something the user named (a snapshot, a path, a key) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request was valid but selects nothing (no snapshot matches the filters, no
    /// file matches the includes): scripts must not mistake it for success.
    #[error("nothing selected: {0}")]
    NothingSelected(String),
    /// A request that cannot be carried out as given (an ambiguous id prefix, a setting
    /// out of range).
    #[error("{0}")]
    Invalid(String),
    /// The key opened is append-only (format-spec §16): it can back up, but not read what
    /// is stored nor change what exists. The text says what was refused.
    #[error("this key is append-only: it cannot {0}; use a full key (an append-only key can only back up)")]
    AppendOnly(String),
    /// The storage failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl RepoError {
    pub fn integrity(what: impl Into<String>, detail: impl std::fmt::Display) -> RepoError {
        RepoError::Integrity { what: what.into(), detail: detail.to_string() }
    }

    /// True when a repository file or pack is absent from storage.
    pub fn is_missing_file(&self) -> bool {
        matches!(self, RepoError::Backend(b) if b.is_not_found())
    }

    /// True for damage to stored data: wrong bytes, missing blobs, missing or short files.
    pub fn is_damage(&self) -> bool {
        match self {
            RepoError::Integrity { .. } | RepoError::MissingBlob { .. } => true,
            RepoError::Backend(b) => b.is_damage(),
            _ => false,
        }
    }
}

/// The first error of type `E` in the chain of `e` (context layers, `io::Error` sources).
pub fn find<E: std::error::Error + Send + Sync + 'static>(e: &anyhow::Error) -> Option<&E> {
    e.chain().find_map(|c| c.downcast_ref::<E>())
}

/// True when `e` is damage to stored data (see [`RepoError::is_damage`]).
pub fn is_damage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<RepoError>().is_some_and(RepoError::is_damage)
            || c.downcast_ref::<BackendError>().is_some_and(BackendError::is_damage)
    })
}

/// True when `e` says a file is absent from storage.
pub fn is_missing_file(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<RepoError>().is_some_and(RepoError::is_missing_file)
            || c.downcast_ref::<BackendError>().is_some_and(BackendError::is_not_found)
    })
}
