//! Reading and encoding blobs: the repository's side of [`super::blob`], with the index to
//! find them and the keys to open them.

use super::blob::{self, BlobKind, Compression, EncodedBlob};
use super::file::pack::PackEntry;
use super::file::tree::Tree;
use super::file::FileType;
use super::index::BlobLoc;
use super::{Id, RepoResult, Repository};
use crate::error::RepoError;

/// Whole metadata packs kept in memory for tree reads.
const META_PACKS_CACHED: usize = 4;

impl Repository {
    pub fn blob_id(&self, data: &[u8]) -> Id {
        blob::blob_id(&self.id_key, data)
    }

    /// A data blob compressed at the deltas' level (at least): for content where storage
    /// matters more than the compression time (see `NewChunk::GzipText` in backup).
    pub fn encode_dense(&self, id: Id, data: &[u8]) -> EncodedBlob {
        blob::encode(&self.content, self.settings.zstd_level.max(blob::DELTA_LEVEL), id, BlobKind::Data, data)
    }

    /// Compress (if it pays) and seal a blob whose id the caller already computed (for
    /// deduplication), so the data is hashed once.
    pub fn encode_blob(&self, id: Id, kind: BlobKind, data: &[u8]) -> EncodedBlob {
        blob::encode(&self.content, self.settings.zstd_level, id, kind, data)
    }

    /// Encode a data blob as a delta against `base` when that pays (see
    /// [`blob::encode_with_base`]).
    pub fn encode_delta(&self, id: Id, data: &[u8], base: &blob::DeltaBase) -> EncodedBlob {
        blob::encode_with_base(&self.content, self.settings.zstd_level, id, data, base)
    }

    /// The pack holding a blob and where in it.
    pub fn locate(&self, id: &Id) -> RepoResult<(Id, BlobLoc)> {
        let idx = self.index.read();
        let loc = idx.locate(id)?;
        Ok((idx.pack_id(loc.pack), loc))
    }

    /// Fetch, decrypt, decompress and verify one blob. A copy that is damaged or gone is
    /// passed over for another copy the index knows (a later backup stored it again, or
    /// two writers stored it): damage heals once any good copy exists.
    pub fn read_blob(&self, id: &Id) -> RepoResult<Vec<u8>> {
        self.read_copy(id, None)
    }

    /// Like [`Repository::read_blob`], from any copy not in `pack` (whose copy failed).
    pub fn read_blob_elsewhere(&self, id: &Id, pack: &Id) -> RepoResult<Vec<u8>> {
        self.read_copy(id, Some(pack))
    }

    fn read_copy(&self, id: &Id, except: Option<&Id>) -> RepoResult<Vec<u8>> {
        let locs: Vec<(Id, BlobLoc)> = {
            let idx = self.index.read();
            idx.all_locations(id)
                .into_iter()
                .map(|l| (idx.pack_id(l.pack), l))
                .filter(|(p, _)| Some(p) != except)
                .collect()
        };
        let mut first = None;
        for (pack, loc) in locs {
            let got = self.sealed_at(&pack, &loc).and_then(|sealed| self.decode_blob(id, &loc, &sealed));
            match got {
                Ok(b) => return Ok(b),
                Err(e) if e.is_damage() => {
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first.unwrap_or(RepoError::MissingBlob { id: *id }))
    }

    /// The stored bytes of the blob at `loc` in `pack`. Metadata blobs (trees, block lists)
    /// are served from whole metadata packs kept in a small cache: walking a snapshot on S3
    /// costs one request per metadata pack, not one per directory.
    fn sealed_at(&self, pack: &Id, loc: &BlobLoc) -> RepoResult<Vec<u8>> {
        let name = FileType::Pack.name(pack);
        let (start, len) = (loc.offset as usize, loc.stored_len as usize);
        if loc.kind != BlobKind::Tree {
            return Ok(self.backend.read_range(&name, start as u64, len as u64)?);
        }
        let cached = self.meta_packs.lock().iter().find(|(p, _)| p == pack).map(|(_, b)| b.clone());
        let bytes = if let Some(b) = cached {
            b
        } else {
            let b = std::sync::Arc::new(self.backend.read(&name)?);
            let mut c = self.meta_packs.lock();
            if c.len() >= META_PACKS_CACHED {
                c.pop_front();
            }
            c.push_back((*pack, b.clone()));
            b
        };
        bytes
            .get(start..start + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| RepoError::Backend(crate::error::BackendError::Short { name, needed: (start + len) as u64 }))
    }

    fn read_sealed(&self, id: &Id) -> RepoResult<(BlobLoc, Vec<u8>)> {
        let (pack, loc) = self.locate(id)?;
        let name = FileType::Pack.name(&pack);
        let sealed = self.backend.read_range(&name, u64::from(loc.offset), u64::from(loc.stored_len))?;
        Ok((loc, sealed))
    }

    /// Open and verify a blob whose stored bytes the caller read (restore reads runs of
    /// nearby blobs with one request).
    pub fn decode_blob(&self, id: &Id, loc: &BlobLoc, sealed: &[u8]) -> RepoResult<Vec<u8>> {
        self.decode_with(id, loc.compression, loc.raw_len, sealed, &|b| self.read_base(b))
    }

    /// Like [`Repository::decode_blob`], with the delta base (if any) fetched by the
    /// caller, who may hold it already (reads planned in runs).
    pub fn decode_blob_with(
        &self,
        id: &Id,
        loc: &BlobLoc,
        sealed: &[u8],
        fetch_base: &dyn Fn(&Id) -> RepoResult<Vec<u8>>,
    ) -> RepoResult<Vec<u8>> {
        self.decode_with(id, loc.compression, loc.raw_len, sealed, fetch_base)
    }

    fn decode_with(
        &self,
        id: &Id,
        compression: Compression,
        raw_len: u32,
        sealed: &[u8],
        fetch_base: &dyn Fn(&Id) -> RepoResult<Vec<u8>>,
    ) -> RepoResult<Vec<u8>> {
        blob::decode(&self.content, &self.id_key, id, compression, raw_len, sealed, fetch_base)
    }

    /// Read a blob that may be a delta of `base_id`, whose plaintext the caller already
    /// holds (a backup weighing a chunk's previous version against its base).
    pub fn read_with_base(&self, id: &Id, base_id: &Id, base: &[u8]) -> RepoResult<Vec<u8>> {
        let (loc, sealed) = self.read_sealed(id)?;
        let fetch = |b: &Id| if b == base_id { Ok(base.to_vec()) } else { self.read_base(b) };
        self.decode_with(id, loc.compression, loc.raw_len, &sealed, &fetch)
    }

    /// The plaintext of a delta's base, which must be stored whole (deltas are depth 1, so
    /// a damaged or malicious chain cannot make a read recurse).
    pub fn read_base(&self, id: &Id) -> RepoResult<Vec<u8>> {
        let (loc, sealed) = self.read_sealed(id)?;
        if loc.compression == Compression::Delta {
            return Err(RepoError::integrity(format!("delta base {}", id.short()), "it is itself a delta"));
        }
        self.decode_blob(id, &loc, &sealed)
    }

    /// Decrypt and verify one blob of a pack held whole in memory (check, repack).
    pub fn decode_entry(&self, e: &PackEntry, pack: &[u8]) -> RepoResult<Vec<u8>> {
        let sealed = sealed_in(e, pack)?;
        self.decode_with(&e.id, e.compression, e.raw_len, sealed, &|b| self.read_base(b))
    }

    /// Decrypt one blob of a pack without decoding it: all that can be verified of a delta
    /// whose base is gone (see `check`).
    pub fn open_entry(&self, e: &PackEntry, pack: &[u8]) -> RepoResult<()> {
        crate::repo::crypto::Seal::open(&self.content, &format!("blob {}", e.id.short()), sealed_in(e, pack)?).map(drop)
    }

    /// Write a pack; data packs (`cold`) go to the repository's cold storage class if any.
    pub fn write_pack(&self, id: &Id, bytes: &[u8], cold: bool) -> RepoResult<()> {
        let class = if cold { self.settings.pack_storage_class.as_deref() } else { None };
        let opts = crate::backend::WriteOptions { class, retention: self.retention_for(FileType::Pack) };
        self.ensure_session_stored()?;
        Ok(self.backend.write_with(&FileType::Pack.name(id), bytes, &opts)?)
    }

    pub fn read_tree(&self, id: &Id) -> RepoResult<Tree> {
        Tree::from_bytes(&self.read_blob(id)?).map_err(|e| RepoError::integrity(format!("tree {}", id.short()), e))
    }
}

/// The sealed bytes of entry `e` in a pack held whole in memory.
fn sealed_in<'a>(e: &PackEntry, pack: &'a [u8]) -> RepoResult<&'a [u8]> {
    pack.get(e.offset as usize..e.offset as usize + e.stored_len as usize)
        .ok_or_else(|| RepoError::integrity(format!("blob {}", e.id.short()), "it lies outside its pack"))
}
