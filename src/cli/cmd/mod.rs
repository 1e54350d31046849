//! One module per command: its arguments, one library call, and how its result is printed.

pub mod backup;
pub mod blocks;
pub mod check;
pub mod completions;
pub mod config;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod find;
pub mod forget;
pub mod init;
pub mod key;
pub mod locks;
pub mod ls;
pub mod man;
pub mod prune;
pub mod repair;
pub mod report;
pub mod restore;
pub mod run;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod verify_blocks;
pub mod version;
