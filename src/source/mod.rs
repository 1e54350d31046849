//! Where objects come from. Local directories now; S3 buckets implement the same shape
//! (a listing of named entries and a way to open one) later.

pub mod local;

use std::io::Read;

use crate::repo::tree::NodeKind;

/// One object or directory as the source describes it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub name: Vec<u8>,
    /// `None` for things cellar does not archive (sockets, devices, FIFOs).
    pub kind: Option<NodeKind>,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
    pub target: Option<Vec<u8>>,
}

/// A single object read from standard input (`pg_dump | cellar backup --stdin`).
pub struct StdinSource {
    pub name: String,
    pub reader: Box<dyn Read + Send>,
}
