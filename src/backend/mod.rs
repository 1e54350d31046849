//! Storage of named, immutable files. One trait serves repositories (a local directory or
//! an S3 prefix), the verified metadata cache in front of a remote one, and restore
//! targets, so create-once, atomic-rename and retry logic live in one place per store.
//!
//! Names are `/`-separated relative paths such as `data/ab/abcd…` or `snapshots/…`. Every
//! method fails with a typed [`BackendError`], so callers can tell a missing file from a
//! transient failure without reading messages.

pub mod cache;
pub mod local;
pub mod lock;
pub mod s3;

#[cfg(test)]
pub(crate) mod faulty;
#[cfg(test)]
pub(crate) mod mem;

pub use crate::error::BackendError;
pub use local::LocalBackend;
pub use lock::{Dated, LockMode, Retention, WriteOptions};

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

/// A flat store of immutable files.
pub trait Backend: Send + Sync {
    /// Whole file.
    fn read(&self, name: &str) -> BackendResult<Vec<u8>>;
    /// `len` bytes at `offset`; fails with [`BackendError::Short`] if the file is shorter.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BackendResult<Vec<u8>>;
    /// Create `name` with `data`, atomically and durably (once this returns, a crash or
    /// power loss does not lose it, and readers see all of it or nothing). Files are named
    /// by content, so an existing file with that name is accepted as identical.
    fn write(&self, name: &str, data: &[u8]) -> BackendResult<()>;
    /// Create `name` only if it does not exist yet; returns false if it did.
    fn create_new(&self, name: &str, data: &[u8]) -> BackendResult<bool>;
    /// Files directly or indirectly under `dir` as (name relative to the store, size),
    /// sorted by name.
    fn list(&self, dir: &str) -> BackendResult<Vec<(String, u64)>>;
    /// Remove a file, durably; removing a missing file is not an error.
    fn remove(&self, name: &str) -> BackendResult<()>;
    /// Human-readable location for messages.
    fn location(&self) -> String;
    /// [`write`](Self::write) in a storage class and/or locked until a date (Object Lock).
    fn write_with(&self, name: &str, data: &[u8], opts: &WriteOptions) -> BackendResult<()> {
        if opts.retention.is_some() {
            return Err(lock::unsupported(&self.location(), &format!("writing {name} locked")));
        }
        self.write(name, data)
    }
    /// [`create_new`](Self::create_new), locked until a date (the config of a locked
    /// repository).
    fn create_new_with(&self, name: &str, data: &[u8], opts: &WriteOptions) -> BackendResult<bool> {
        if opts.retention.is_some() {
            return Err(lock::unsupported(&self.location(), &format!("writing {name} locked")));
        }
        self.create_new(name, data)
    }
    /// Refuse, with the reason, a store where locked writes would not protect anything:
    /// one without Object Lock, or (S3) a bucket without versioning.
    fn check_object_lock(&self) -> BackendResult<()> {
        Err(lock::unsupported(&self.location(), "--object-lock"))
    }
    /// Move the lock of `name` to a later date (never earlier: servers refuse shortening a
    /// compliance lock).
    fn extend_retention(&self, name: &str, _to: &Retention) -> BackendResult<()> {
        Err(lock::unsupported(&self.location(), &format!("extending the lock of {name}")))
    }
    /// The date the lock of `name` ends, as the store has it (`None`: not locked).
    fn lock_until(&self, name: &str) -> BackendResult<Option<time::OffsetDateTime>> {
        Err(lock::unsupported(&self.location(), &format!("reading the lock of {name}")))
    }
    /// [`list`](Self::list) with the time each file was written, for stores that know it.
    fn list_dated(&self, dir: &str) -> BackendResult<Vec<Dated>> {
        Err(lock::unsupported(&self.location(), &format!("listing {dir}/ with dates")))
    }
    /// Make files readable that may sit in cold storage (S3 GLACIER/DEEP_ARCHIVE): request
    /// a temporary copy of each one that needs it. Callers poll until nothing is pending.
    fn prepare_read(&self, _names: &[String]) -> BackendResult<Thawing> {
        Ok(Thawing::default())
    }
    /// Refuse a storage class the store does not offer now, at `init`, rather than at the
    /// first pack write of the first backup. Stores without classes accept any.
    fn probe_storage_class(&self, _class: &str) -> BackendResult<()> {
        Ok(())
    }
    /// True for a store that refuses every write (a repository as of a past time):
    /// operations skip what they would only record, such as verified-pack hints.
    fn read_only(&self) -> bool {
        false
    }
    /// Delete temporary files of interrupted writes older than `age`; returns how many.
    fn remove_stale_temporaries(&self, _age: std::time::Duration) -> BackendResult<usize> {
        Ok(0)
    }
}

/// What [`Backend::prepare_read`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Thawing {
    /// Not readable yet: a restore was requested or is still running.
    pub pending: Vec<String>,
    /// In a cold class, but the server has no restore (RestoreObject answered 501, as on
    /// Ceph RGW, where a class is a placement label): read directly.
    pub read_directly: Vec<String>,
}

/// Refuse names that could escape the store or alias another name: empty, `.`, `..`, or
/// with empty components.
pub fn check_name(name: &str) -> BackendResult<()> {
    if name.is_empty() || name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(BackendError::InvalidName(name.to_string()));
    }
    Ok(())
}
