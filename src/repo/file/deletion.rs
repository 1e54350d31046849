//! Deletion records (`deletions/<id>`, format-spec §11): packs a prune found unused, to be
//! deleted once the grace period has passed and every running backup has seen the record.

use serde::{Deserialize, Serialize};

use super::FileType;
use crate::id::Id;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeletionRecord {
    pub version: u32,
    /// When the packs were found unused (RFC 3339).
    pub created: String,
    pub packs: Vec<Id>,
}

super::json_file!(DeletionRecord, FileType::Deletion);
