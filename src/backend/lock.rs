//! Object Lock (WORM) as the backend trait expresses it: a retention a file is written
//! with, and later extended. Only S3 buckets with Object Lock and versioning have it; in
//! such a bucket a DELETE without a version id only adds a delete marker, and the locked
//! version stays until its retention date has passed, whoever holds the S3 keys.

use serde::{Deserialize, Serialize};

/// The two S3 lock modes. Governance locks can be lifted by a principal with
/// `s3:BypassGovernanceRetention`; compliance locks by nobody, not even the bucket owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "governance",
            LockMode::Compliance => "compliance",
        }
    }
}

impl std::str::FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<LockMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "governance" => Ok(LockMode::Governance),
            "compliance" => Ok(LockMode::Compliance),
            _ => Err(format!("{s:?}: expected governance or compliance")),
        }
    }
}

/// A lock on one object version until a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// Whole seconds, as S3 keeps them: build it with [`Retention::until`].
    pub until: time::OffsetDateTime,
}

impl Retention {
    /// A lock until `t`, rounded up to a whole second, so that what is asked for, what S3
    /// stores and what a retention log records are the same date and never earlier.
    pub fn until(mode: LockMode, t: time::OffsetDateTime) -> Retention {
        let secs = t.unix_timestamp() + i64::from(t.nanosecond() > 0);
        Retention { mode, until: time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(t) }
    }
}

/// How a file is written beyond its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions<'a> {
    /// Storage class (cold storage for data packs); stores without classes ignore it.
    pub class: Option<&'a str>,
    /// Lock the new object until a date; stores without Object Lock refuse the write
    /// rather than store an unprotected file in a repository that promises protection.
    pub retention: Option<Retention>,
}

/// A file as a dated listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dated {
    pub name: String,
    pub size: u64,
    /// When the store last wrote it (S3 `LastModified`): a file written locked is locked
    /// until at least this plus the repository's period.
    pub modified: time::OffsetDateTime,
}

/// The error of a store without Object Lock.
pub(crate) fn unsupported(location: &str, what: &str) -> super::BackendError {
    super::BackendError::Rejected {
        what: what.to_string(),
        detail: format!("{location} has no Object Lock (only S3 buckets created with Object Lock have it)"),
    }
}
