//! The operations, one module each. Each takes an open [`crate::repo::Repository`] and
//! options, does its work through the repository and [`crate::vfs`], and returns a report
//! that the CLI prints (and `--json` serializes, format-spec/json.md). None of them print.

pub mod backup;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod find;
pub mod forget;
pub mod keys;
pub mod locks;
pub mod ls;
pub mod prune;
pub mod repair;
pub mod report;
pub mod restore;
mod rewrite;
pub mod run;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod thin;
pub mod verify_blocks;
