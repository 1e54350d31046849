//! `key`: the passwords (key files) that open a repository.

use serde::Serialize;

use crate::id::Id;
use crate::repo::Repository;

/// One key file as `key list` shows it (format-spec/json.md).
#[derive(Serialize, Debug)]
pub struct KeyListing {
    pub id: Id,
    /// The key this session opened the repository with.
    pub current: bool,
    pub created: String,
    pub host: String,
    pub user: String,
    /// Made by `key add --append-only`: can back up, cannot read or delete.
    pub append_only: bool,
}

pub fn list(repo: &Repository) -> anyhow::Result<Vec<KeyListing>> {
    Ok(repo
        .list_keys()?
        .into_iter()
        .map(|(id, k)| KeyListing {
            id,
            current: id == repo.key_id(),
            created: k.created,
            host: k.host,
            user: k.user,
            append_only: k.append_only,
        })
        .collect())
}
