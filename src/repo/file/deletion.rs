//! Deletion records (`deletions/<id>`, format-spec §11): packs a prune found unused, to be
//! deleted once the grace period has passed and every running backup has seen the record.

use serde::{Deserialize, Serialize};

use super::{FileType, RepoFile};
use crate::id::Id;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeletionRecord {
    pub version: u32,
    /// When the packs were found unused (RFC 3339).
    pub created: String,
    pub packs: Vec<Id>,
}

impl RepoFile for DeletionRecord {
    const TYPE: FileType = FileType::Deletion;

    fn encode(&self) -> Vec<u8> {
        super::to_json(self)
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        super::from_json(plain)
    }
}
