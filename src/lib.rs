//! cellar: a content-addressed, deduplicating, encrypted archiver for the data of an
//! observability platform (TSDB blocks, Loki objects, PostgreSQL dumps).
//!
//! The binary (`src/main.rs`, `src/cli/`) is a thin shell over this library so that tests
//! and benches drive exactly the code users run.

pub mod backup;
pub mod check;
pub mod chunk;
pub mod cli;
pub mod copy;
pub mod dump;
pub mod error;
pub mod forget;
pub mod gzip;
pub mod layout;
pub mod location;
pub mod progress;
pub mod prune;
pub mod repo;
pub mod restore;
pub mod source;
pub mod stats;
pub mod thin;
pub mod userconfig;

pub use error::{Error, Result};
