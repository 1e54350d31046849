//! Writer markers (`writers/<id>`, format-spec §11): a running backup (or copy, or
//! thinning) announces itself, so prune defers deleting packs it might deduplicate against.

use serde::{Deserialize, Serialize};

use super::FileType;
use crate::id::Id;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WriterRecord {
    pub version: u32,
    pub started: String,
    pub host: String,
    pub pid: u32,
    /// Deletion records this writer's index took into account (it will not reuse their
    /// packs); `None` until it has loaded the index, meaning "may reuse any pack".
    #[serde(default)]
    pub seen_deletions: Option<Vec<Id>>,
    /// When the writer last refreshed its marker (every minute while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
}

super::json_file!(WriterRecord, FileType::Writer);
