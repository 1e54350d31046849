//! Errors that a user must be able to tell apart (and scripts by exit code).

use std::fmt;

/// Result alias used across the library.
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// Failures with a meaning of their own, beyond "something went wrong". They are carried
/// inside `anyhow::Error` and recovered with `downcast_ref` where the caller cares.
#[derive(Debug)]
pub enum Error {
    /// No key file of the repository opens with the given password.
    WrongPassword,
    /// The repository was written by a newer cellar; refusing protects it from damage.
    UnsupportedVersion { found: u32, supported: u32 },
    /// Stored bytes do not match what was written: corruption or tampering.
    Integrity(String),
    /// A named thing (snapshot, path, blob) does not exist.
    NotFound(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongPassword => write!(f, "wrong password: no key in this repository opens with it"),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "repository format version {found} is newer than this cellar supports ({supported}); upgrade cellar to open it"
            ),
            Error::Integrity(msg) => write!(f, "integrity error: {msg}"),
            Error::NotFound(msg) => write!(f, "not found: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
