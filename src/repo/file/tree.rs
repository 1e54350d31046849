//! Trees: one blob per directory listing its entries. Trees deduplicate like data, so a
//! snapshot in which one directory changed stores new trees only along that path.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::Id;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Tree {
    /// Sorted by name bytes; names are unique.
    pub nodes: Vec<Node>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Node {
    #[serde(with = "bytes_or_string")]
    pub name: Vec<u8>,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// File length in bytes (0 for others).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub mtime_ns: i64,
    /// Unix permission bits (`0o7777` mask).
    #[serde(default)]
    pub mode: u32,
    /// File content: data blob ids in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Id>,
    /// Directory: its tree blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<Id>,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_bytes_or_string")]
    pub target: Option<Vec<u8>>,
    /// S3 ETag of the object this file was read from (change detection for S3 sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Set when `content` is the decoded text of a gzip file: how to recreate the original
    /// bytes exactly (format v2). `size` stays the size of the gzip file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip: Option<crate::gzip::Recipe>,
    /// The content was cut as text (or decoded gzip text): its chunks are offered as delta
    /// bases to similar files of later backups (format v2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text: bool,
    /// The S3 key (relative to the backed-up bucket or prefix) of an object whose key
    /// cannot be a path as it is (`a//b`, `dir/`, `.`, a key that is also a prefix): the
    /// node's name is an escaped spelling, and restores into S3 use this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Node {
    /// The unnamed directory at the top of a snapshot.
    pub fn root_dir(subtree: Option<Id>) -> Node {
        Node {
            name: vec![],
            kind: NodeKind::Dir,
            size: 0,
            mtime_ns: 0,
            mode: 0o755,
            content: vec![],
            subtree,
            target: None,
            etag: None,
            gzip: None,
            text: false,
            key: None,
        }
    }

    /// Every data blob a file needs: its content and, for gzip files, the corrections.
    pub fn data_blobs(&self) -> impl Iterator<Item = &Id> {
        self.content.iter().chain(self.gzip.iter().flat_map(crate::gzip::Recipe::blobs))
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// A name that is safe to create inside a directory: not empty, no separator, no NUL,
    /// not `.` or `..`. Restore refuses anything else, so a crafted snapshot cannot write
    /// outside its target.
    pub fn has_safe_name(&self) -> bool {
        !self.name.is_empty()
            && self.name != b"."
            && self.name != b".."
            && !self.name.contains(&b'/')
            && !self.name.contains(&0)
    }
}

impl Tree {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tree serializes")
    }

    /// Parse a tree blob's plaintext; the error says what is wrong with it.
    pub fn from_bytes(b: &[u8]) -> Result<Tree, String> {
        let t: Tree = serde_json::from_slice(b).map_err(|e| format!("not a valid tree: {e}"))?;
        if t.nodes.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err("tree entries are not sorted and unique".into());
        }
        Ok(t)
    }

    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().map(|i| &self.nodes[i])
    }
}

/// Names are JSON strings when valid UTF-8, else arrays of byte values: Unix file names are
/// bytes, and a backup must restore them exactly.
mod bytes_or_string {
    use super::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        S(String),
        B(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(v) {
            Ok(st) => s.serialize_str(st),
            Err(_) => v.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::S(s) => s.into_bytes(),
            Repr::B(b) => b,
        })
    }
}

mod opt_bytes_or_string {
    use super::{bytes_or_string, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => bytes_or_string::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        bytes_or_string::deserialize(d).map(Some)
    }
}
