//! Pack files: many sealed blobs followed by a sealed header listing them, then the
//! header's length. The header lets `check --read-data` and index rebuilding work from
//! packs alone.
//!
//! ```text
//! pack   = blob_0 … blob_n-1  sealed_header  u32le(len(sealed_header))
//! header = u8 version(1|2)  entry*          entry = 44 bytes (see format-spec)
//! ```
//!
//! Version 2 headers (written only when the pack holds a delta blob) follow each delta's
//! entry by its base id (32 bytes), so index rebuilding and prune never lose a base.

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::blob::{BlobKind, Compression, EncodedBlob};
use crate::repo::crypto::Seal;

pub const HEADER_VERSION: u8 = 1;
/// Header version of packs holding delta blobs.
pub const HEADER_VERSION_DELTA: u8 = 2;
pub const HEADER_ENTRY_LEN: usize = 44;

/// One blob of a pack, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackEntry {
    pub id: Id,
    pub kind: BlobKind,
    pub compression: Compression,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
    /// Base of a delta blob ([`Compression::Delta`]).
    pub base: Option<Id>,
}

/// Accumulates blobs in memory until the pack is big enough to write.
#[derive(Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl PackBuilder {
    pub fn new(capacity: usize) -> Self {
        PackBuilder { buf: Vec::with_capacity(capacity), entries: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn add(&mut self, b: &EncodedBlob) {
        self.entries.push(PackEntry {
            id: b.id,
            kind: b.kind,
            compression: b.compression,
            offset: self.buf.len() as u32,
            stored_len: b.sealed.len() as u32,
            raw_len: b.raw_len,
            base: b.base,
        });
        self.buf.extend_from_slice(&b.sealed);
    }

    /// Seal the header and return (pack id, pack bytes, entries).
    pub fn finish(mut self, key: &dyn Seal) -> (Id, Vec<u8>, Vec<PackEntry>) {
        let mut header = Vec::with_capacity(1 + self.entries.len() * HEADER_ENTRY_LEN);
        let deltas = self.entries.iter().any(|e| e.base.is_some());
        header.push(if deltas { HEADER_VERSION_DELTA } else { HEADER_VERSION });
        for e in &self.entries {
            header.push(e.kind as u8);
            header.push(e.compression as u8);
            header.extend_from_slice(&[0, 0]);
            header.extend_from_slice(&e.stored_len.to_le_bytes());
            header.extend_from_slice(&e.raw_len.to_le_bytes());
            header.extend_from_slice(&e.id.0);
            if let Some(b) = &e.base {
                header.extend_from_slice(&b.0);
            }
        }
        let sealed = key.seal(&header);
        self.buf.extend_from_slice(&sealed);
        self.buf.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        let id = Id::of_stored(&self.buf);
        (id, self.buf, self.entries)
    }
}

/// Length of the sealed header, from the last 4 bytes of pack `what` (for messages).
pub fn header_len_from_trailer(what: &str, trailer: &[u8], pack_len: u64) -> Result<u64, RepoError> {
    let trailer: [u8; 4] = trailer.try_into().map_err(|_| RepoError::integrity(what, "no 4-byte trailer"))?;
    let n = u64::from(u32::from_le_bytes(trailer));
    if n + 4 > pack_len {
        return Err(RepoError::integrity(what, format!("header length {n} exceeds the pack size {pack_len}")));
    }
    Ok(n)
}

/// Parse the sealed header of pack `what`; offsets follow from the lengths in order.
pub fn parse_header(key: &dyn Seal, what: &str, sealed: &[u8]) -> Result<Vec<PackEntry>, RepoError> {
    let bad = |detail: String| RepoError::integrity(what, format!("header: {detail}"));
    let h = key.open(&format!("{what}: header"), sealed)?;
    let version = h.first().copied();
    if version != Some(HEADER_VERSION) && version != Some(HEADER_VERSION_DELTA) {
        return Err(bad(format!("version {version:?} unsupported (made by a newer cellar?)")));
    }
    let mut body = &h[1..];
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(body.len() / HEADER_ENTRY_LEN);
    let truncated = || bad("its length is not a whole number of entries".into());
    while !body.is_empty() {
        let (e, rest) = body.split_at_checked(HEADER_ENTRY_LEN).ok_or_else(truncated)?;
        body = rest;
        let stored_len = u32::from_le_bytes(e[4..8].try_into().expect("4 bytes"));
        let compression = Compression::from_u8(e[1]).map_err(bad)?;
        let base = if compression == Compression::Delta {
            if version != Some(HEADER_VERSION_DELTA) {
                return Err(bad("delta blob in a version 1 header".into()));
            }
            let (b, rest) = body.split_at_checked(32).ok_or_else(truncated)?;
            body = rest;
            Some(Id(b.try_into().expect("32 bytes")))
        } else {
            None
        };
        out.push(PackEntry {
            kind: BlobKind::from_u8(e[0]).map_err(bad)?,
            compression,
            offset: u32::try_from(offset).map_err(|_| bad("blobs beyond 4 GiB".into()))?,
            stored_len,
            raw_len: u32::from_le_bytes(e[8..12].try_into().expect("4 bytes")),
            id: Id(e[12..44].try_into().expect("32 bytes")),
            base,
        });
        offset += u64::from(stored_len);
    }
    Ok(out)
}

/// Parse the header of a whole pack held in memory.
pub fn parse_pack(key: &dyn Seal, what: &str, pack: &[u8]) -> Result<Vec<PackEntry>, RepoError> {
    if pack.len() < 4 {
        return Err(RepoError::integrity(what, "shorter than its trailer"));
    }
    let n = header_len_from_trailer(what, &pack[pack.len() - 4..], pack.len() as u64)? as usize;
    let start = pack.len() - 4 - n;
    let entries = parse_header(key, what, &pack[start..pack.len() - 4])?;
    let end = entries.last().map_or(0, |e| e.offset as usize + e.stored_len as usize);
    if end != start {
        return Err(RepoError::integrity(what, format!("blobs end at {end} but the header starts at {start}")));
    }
    Ok(entries)
}
