//! Index files (`index/<id>`, format-spec §7) map blob id → (pack, offset, length). The
//! in-memory union of all of them is [`crate::repo::index::Index`].
//!
//! ```text
//! index file plaintext = "CIX1" u32le(n_supersedes) id*  u32le(n_packs) pack*
//! pack  = pack_id[32] u32le(n_blobs) entry*
//! entry = id[32] kind u8  compression u8  reserved u16  offset u32le  stored_len u32le  raw_len u32le
//!         [base_id[32] when compression = 2 (delta); magic "CIX2" only]
//! ```
//!
//! Files holding a delta entry are written with magic `CIX2` (format v2); others keep
//! `CIX1`, so repositories without deltas stay readable by older builds.

use super::pack::PackEntry;
use super::{FileType, RepoFile};
use crate::id::Id;
use crate::repo::blob::{BlobKind, Compression};

const MAGIC: &[u8; 4] = b"CIX1";
const MAGIC_DELTA: &[u8; 4] = b"CIX2";
const ENTRY_LEN: usize = 48;

/// Entries cellar's writers put in one index file at most (a pack is never split, so a
/// file holding one pack may exceed it). Every reader decodes one whole file at a time:
/// what that costs must not grow with the repository, or loading the index of a million
/// small files would need ~110 MB for one file's plaintext and entries (it takes ~7 MB).
pub const MAX_ENTRIES: usize = 50_000;

/// Decoded content of one index file.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct IndexFile {
    /// Index files whose content this one includes (written by prune when it rewrites the
    /// index; readers may ignore superseded files).
    pub supersedes: Vec<Id>,
    pub packs: Vec<(Id, Vec<PackEntry>)>,
}

impl IndexFile {
    pub fn encode(&self) -> Vec<u8> {
        let n: usize = self.packs.iter().map(|(_, e)| 36 + e.len() * ENTRY_LEN).sum();
        let mut out = Vec::with_capacity(12 + self.supersedes.len() * 32 + n);
        let deltas = self.packs.iter().any(|(_, es)| es.iter().any(|e| e.base.is_some()));
        out.extend_from_slice(if deltas { MAGIC_DELTA } else { MAGIC });
        out.extend_from_slice(&(self.supersedes.len() as u32).to_le_bytes());
        for s in &self.supersedes {
            out.extend_from_slice(&s.0);
        }
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for (pack, entries) in &self.packs {
            out.extend_from_slice(&pack.0);
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for e in entries {
                out.extend_from_slice(&e.id.0);
                out.push(e.kind as u8);
                out.push(e.compression as u8);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&e.offset.to_le_bytes());
                out.extend_from_slice(&e.stored_len.to_le_bytes());
                out.extend_from_slice(&e.raw_len.to_le_bytes());
                if let Some(b) = &e.base {
                    out.extend_from_slice(&b.0);
                }
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<IndexFile, String> {
        let mut r = Reader { b, pos: 0 };
        let magic = r.take(4)?;
        let v2 = magic == MAGIC_DELTA;
        if magic != MAGIC && !v2 {
            return Err("not a cellar index file (bad magic; made by a newer cellar?)".into());
        }
        let mut f = IndexFile::default();
        for _ in 0..r.u32()? {
            f.supersedes.push(r.id()?);
        }
        for _ in 0..r.u32()? {
            let pack = r.id()?;
            let n = r.u32()? as usize;
            if n * ENTRY_LEN > b.len() - r.pos {
                return Err("truncated".into());
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.id()?;
                let e = r.take(16)?;
                let compression = Compression::from_u8(e[1])?;
                let base = if compression == Compression::Delta {
                    if !v2 {
                        return Err("delta entry in a CIX1 index file".into());
                    }
                    Some(r.id()?)
                } else {
                    None
                };
                entries.push(PackEntry {
                    id,
                    kind: BlobKind::from_u8(e[0])?,
                    compression,
                    offset: u32::from_le_bytes(e[4..8].try_into().expect("4 bytes")),
                    stored_len: u32::from_le_bytes(e[8..12].try_into().expect("4 bytes")),
                    raw_len: u32::from_le_bytes(e[12..16].try_into().expect("4 bytes")),
                    base,
                });
            }
            f.packs.push((pack, entries));
        }
        if r.pos != b.len() {
            return Err(format!("{} trailing bytes", b.len() - r.pos));
        }
        Ok(f)
    }
}

impl RepoFile for IndexFile {
    const TYPE: FileType = FileType::Index;

    fn encode(&self) -> Vec<u8> {
        IndexFile::encode(self)
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        IndexFile::decode(plain)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.pos + n > self.b.len() {
            return Err("truncated".into());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn id(&mut self) -> Result<Id, String> {
        Ok(Id(self.take(32)?.try_into().expect("32 bytes")))
    }
}
