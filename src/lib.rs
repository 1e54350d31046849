//! cellar: a content-addressed, deduplicating, encrypted archiver for the data of an
//! observability platform (TSDB blocks, Loki objects, PostgreSQL dumps).
//!
//! Layers, each depending only on those below it:
//! - [`ops`]: the operations (backup, restore, check, prune, forget, thin, copy, …);
//! - [`vfs`]: reading snapshots (one tree walker for every operation);
//! - [`repo`]: the repository and its file kinds ([`repo::file`]), the in-memory index;
//! - [`backend`]: storage (a directory, S3, a verified cache);
//! - [`source`], [`layout`], [`chunk`], [`gzip`]: where objects come from, what they mean,
//!   how they are cut.
//!
//! The binary (`src/main.rs`, `src/cli/`) is a thin shell over this library so that tests
//! and benches drive exactly the code users run.

pub mod backend;
pub mod chunk;
pub mod cli;
pub mod error;
pub mod gzip;
pub mod host;
pub mod id;
pub mod layout;
pub mod location;
pub mod metrics;
pub mod notice;
pub mod ops;
pub mod profile;
pub(crate) mod progress;
pub mod repo;
pub mod source;
pub mod userconfig;
pub mod vfs;

pub use error::{BackendError, RepoError, Result};
pub use id::Id;
pub use ops::{backup, check, copy, dump, forget, prune, restore, stats, thin};
pub use repo::Repository;
