//! Index files map blob id → (pack, offset, length). The in-memory [`Index`] is the union
//! of all index files; a blob found in several packs (two concurrent writers stored it)
//! resolves to any one of them.
//!
//! ```text
//! index file plaintext = "CIX1" u32le(n_supersedes) id*  u32le(n_packs) pack*
//! pack  = pack_id[32] u32le(n_blobs) entry*
//! entry = id[32] kind u8  compression u8  reserved u16  offset u32le  stored_len u32le  raw_len u32le
//! ```

use anyhow::{bail, ensure};
use std::collections::HashMap;

use crate::error::Error;
use crate::repo::blob::{BlobKind, Compression};
use crate::repo::id::Id;
use crate::repo::pack::PackEntry;

const MAGIC: &[u8; 4] = b"CIX1";
const ENTRY_LEN: usize = 48;

/// Where a blob lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLoc {
    /// Index into [`Index::packs`].
    pub pack: u32,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
    pub kind: BlobKind,
    pub compression: Compression,
}

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
        out.extend_from_slice(MAGIC);
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
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> anyhow::Result<IndexFile> {
        let mut r = Reader { b, pos: 0 };
        if r.take(4)? != MAGIC {
            bail!("not a cellar index file (bad magic)");
        }
        let mut f = IndexFile::default();
        for _ in 0..r.u32()? {
            f.supersedes.push(r.id()?);
        }
        for _ in 0..r.u32()? {
            let pack = r.id()?;
            let n = r.u32()? as usize;
            ensure!(n * ENTRY_LEN <= b.len() - r.pos, "index file truncated");
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.id()?;
                let e = r.take(16)?;
                entries.push(PackEntry {
                    id,
                    kind: BlobKind::from_u8(e[0])?,
                    compression: Compression::from_u8(e[1])?,
                    offset: u32::from_le_bytes(e[4..8].try_into().unwrap()),
                    stored_len: u32::from_le_bytes(e[8..12].try_into().unwrap()),
                    raw_len: u32::from_le_bytes(e[12..16].try_into().unwrap()),
                });
            }
            f.packs.push((pack, entries));
        }
        ensure!(r.pos == b.len(), "index file has {} trailing bytes", b.len() - r.pos);
        Ok(f)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.pos + n > self.b.len() {
            return Err(Error::Integrity("index file truncated".into()).into());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn id(&mut self) -> anyhow::Result<Id> {
        Ok(Id(self.take(32)?.try_into().unwrap()))
    }
}

/// The union of the repository's index files, in memory.
#[derive(Default)]
pub struct Index {
    packs: Vec<Id>,
    pack_no: HashMap<Id, u32>,
    blobs: HashMap<Id, BlobLoc>,
    /// Packs a prune has marked for deletion (see format-spec §11): still readable, but
    /// new snapshots must not come to depend on them.
    doomed: std::collections::HashSet<u32>,
}

impl Index {
    fn pack_number(&mut self, pack: Id) -> u32 {
        *self.pack_no.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            (self.packs.len() - 1) as u32
        })
    }

    /// Mark packs as deletion candidates. Call before adding index files, so blobs that
    /// also live in a healthy pack resolve to that one.
    pub fn set_doomed(&mut self, packs: impl IntoIterator<Item = Id>) {
        for p in packs {
            let no = self.pack_number(p);
            self.doomed.insert(no);
        }
    }

    pub fn add_pack(&mut self, pack: Id, entries: &[PackEntry]) {
        let no = self.pack_number(pack);
        let doomed = self.doomed.contains(&no);
        for e in entries {
            if let Some(old) = self.blobs.get(&e.id) {
                if doomed || !self.doomed.contains(&old.pack) {
                    continue;
                }
            }
            self.blobs.insert(
                e.id,
                BlobLoc {
                    pack: no,
                    offset: e.offset,
                    stored_len: e.stored_len,
                    raw_len: e.raw_len,
                    kind: e.kind,
                    compression: e.compression,
                },
            );
        }
    }

    /// True if a new snapshot may reference this blob without storing it again: it is
    /// indexed in a pack that no prune has marked for deletion.
    pub fn is_reusable(&self, id: &Id) -> bool {
        self.blobs.get(id).is_some_and(|l| !self.doomed.contains(&l.pack))
    }

    pub fn add_file(&mut self, f: &IndexFile) {
        for (pack, entries) in &f.packs {
            self.add_pack(*pack, entries);
        }
    }

    pub fn get(&self, id: &Id) -> Option<&BlobLoc> {
        self.blobs.get(id)
    }

    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    pub fn pack_id(&self, no: u32) -> Id {
        self.packs[no as usize]
    }

    pub fn packs(&self) -> &[Id] {
        &self.packs
    }

    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    pub fn blobs(&self) -> impl Iterator<Item = (&Id, &BlobLoc)> {
        self.blobs.iter()
    }

    /// Location or a clear "missing blob" error.
    pub fn locate(&self, id: &Id) -> anyhow::Result<BlobLoc> {
        self.get(id)
            .copied()
            .ok_or_else(|| Error::NotFound(format!("blob {} is not in the index (missing data)", id)).into())
    }
}
