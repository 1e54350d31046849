//! The repository: config, keys, packs, index and snapshots over a [`Backend`].
//!
//! ```text
//! config               plaintext header + sealed settings        (written once, at init)
//! keys/<id>            password-wrapped master keys
//! data/<id[0..2]>/<id> pack files
//! index/<id>           sealed index files
//! snapshots/<id>       sealed snapshot manifests
//! sketches/<id>        sealed resemblance sketches of text chunks (format v2; hints only)
//! ```
//! Every file except `config` is named by the BLAKE3 of its bytes and never rewritten.

pub mod backend;
pub mod blob;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod id;
pub mod index;
pub mod keys;
pub mod pack;
pub mod packer;
pub mod s3;
pub mod snapshot;
pub mod tree;

use anyhow::{bail, Context};
use parking_lot::{RwLock, RwLockReadGuard};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use backend::{Backend, LocalBackend};
pub use id::Id;

use crate::chunk::similar::Sketch;
use crate::chunk::ChunkerParams;
use crate::error::Error;
use blob::{BlobKind, EncodedBlob};
use config::{Config, Settings};
use crypto::{KdfParams, MasterKey};
use index::{BlobLoc, Index, IndexBuilder, IndexFile};
use keys::KeyFile;
use snapshot::Snapshot;
use tree::Tree;

/// Packs a prune found unused, to be deleted once the grace period has passed if they are
/// still unused (`deletions/<id>`, see format-spec §11).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct DeletionRecord {
    pub version: u32,
    /// When the packs were found unused (RFC 3339).
    pub created: String,
    pub packs: Vec<Id>,
}

/// A running backup (`writers/<id>`), see format-spec §11.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct WriterRecord {
    pub version: u32,
    pub started: String,
    pub host: String,
    pub pid: u32,
    /// Deletion records this writer's index took into account (it will not reuse their
    /// packs); `None` until it has loaded the index, meaning "may reuse any pack".
    #[serde(default)]
    pub seen_deletions: Option<Vec<Id>>,
}

/// Removes the writer marker when the backup ends, however it ends.
pub struct WriterGuard {
    repo: std::sync::Arc<Repository>,
    name: String,
    started: String,
}

impl WriterGuard {
    /// Replace the marker by one naming the deletion records the loaded index knew.
    pub fn saw(&mut self, seen: Vec<Id>) -> anyhow::Result<()> {
        let new = self.repo.write_writer(&self.started, Some(seen))?;
        let old = std::mem::replace(&mut self.name, new);
        self.repo.backend.remove(&old)
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let _ = self.repo.backend.remove(&self.name);
    }
}

/// Choices fixed when a repository is created.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub chunkers: BTreeMap<String, ChunkerParams>,
    pub pack_size: u64,
    pub zstd_level: i32,
    pub kdf: KdfParams,
    /// S3 storage class for data packs (cold storage); `None` keeps the bucket's default.
    pub pack_storage_class: Option<String>,
    /// Gzip-transparent storage (format v2).
    pub gzip_transparent: bool,
    /// Delta blobs (format v2).
    pub deltas: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        let mut chunkers = BTreeMap::new();
        chunkers.insert(crate::chunk::PROFILE_DEFAULT.to_string(), ChunkerParams::default_for_new_repo());
        chunkers.insert(crate::chunk::PROFILE_TEXT.to_string(), ChunkerParams::text_with_deltas_for_new_repo());
        chunkers.insert(crate::chunk::PROFILE_TSDB_SEGMENT.to_string(), ChunkerParams::tsdb_records_for_new_repo());
        InitOptions {
            chunkers,
            pack_size: 16 << 20,
            zstd_level: 3,
            kdf: KdfParams::default(),
            pack_storage_class: None,
            gzip_transparent: true,
            deltas: true,
        }
    }
}

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    key_id: Id,
    config: Config,
    settings: Settings,
    id_key: [u8; 32],
    index: RwLock<Index>,
    seen_deletions: RwLock<Vec<Id>>,
}

pub fn pack_name(id: &Id) -> String {
    let h = id.to_hex();
    format!("data/{}/{}", &h[..2], h)
}

impl Repository {
    /// Create a new repository in `backend`, which must not hold one already.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], opts: &InitOptions) -> anyhow::Result<Repository> {
        let key = MasterKey::generate();
        let mut chunkers = opts.chunkers.clone();
        for c in chunkers.values_mut() {
            if c.seed == 0 {
                c.seed = u64::from_le_bytes(crypto::random());
            }
        }
        let settings = Settings {
            id_key: hex::encode(crypto::random::<32>()),
            chunkers,
            pack_size: opts.pack_size,
            zstd_level: opts.zstd_level,
            pack_storage_class: opts.pack_storage_class.clone(),
            gzip_transparent: opts.gzip_transparent,
            deltas: opts.deltas,
        };
        settings.validate()?;
        crate::chunk::Profiles::new(&settings.chunkers)?;
        let config = Config::new(hex::encode(crypto::random::<16>()), &settings, &key);
        let kf = KeyFile::create(&key, password, opts.kdf)?;
        let kbytes = serde_json::to_vec_pretty(&kf)?;
        let key_id = Id::of_stored(&kbytes);
        // The key goes first: a config without a key would be a locked-out repository.
        backend.write(&format!("keys/{key_id}"), &kbytes)?;
        if !backend.create_new("config", &serde_json::to_vec_pretty(&config)?)? {
            backend.remove(&format!("keys/{key_id}"))?;
            bail!("a repository already exists at {}", backend.location());
        }
        Repository::assemble(backend, key, key_id, config, settings)
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        key: MasterKey,
        key_id: Id,
        config: Config,
        settings: Settings,
    ) -> anyhow::Result<Repository> {
        let id_key = settings.id_key()?;
        Ok(Repository {
            backend,
            key,
            key_id,
            config,
            settings,
            id_key,
            index: RwLock::new(Index::default()),
            seen_deletions: RwLock::default(),
        })
    }

    /// Open with a password, trying every key file.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> anyhow::Result<Repository> {
        let config = read_config(backend.as_ref())?;
        let keys = list_keys(backend.as_ref())?;
        if keys.is_empty() {
            bail!("repository at {} has no key files", backend.location());
        }
        for (key_id, kf) in keys {
            if let Some(key) = kf.open(password)? {
                let settings = config.settings(&key)?;
                return Repository::assemble(backend, key, key_id, config, settings);
            }
        }
        Err(Error::WrongPassword.into())
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    pub fn key(&self) -> &MasterKey {
        &self.key
    }
    pub fn key_id(&self) -> Id {
        self.key_id
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn id_key(&self) -> &[u8; 32] {
        &self.id_key
    }

    // ---- keys ----

    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> anyhow::Result<Id> {
        let kf = KeyFile::create(&self.key, password, kdf)?;
        let b = serde_json::to_vec_pretty(&kf)?;
        let id = Id::of_stored(&b);
        self.backend.write(&format!("keys/{id}"), &b)?;
        Ok(id)
    }

    pub fn list_keys(&self) -> anyhow::Result<Vec<(Id, KeyFile)>> {
        list_keys(self.backend.as_ref())
    }

    /// Remove a key file; refuses the key in use and the last key, which would lock
    /// everyone out.
    pub fn remove_key(&self, prefix: &str) -> anyhow::Result<Id> {
        let keys = self.list_keys()?;
        let id = resolve_prefix(keys.iter().map(|(id, _)| *id), prefix, "key")?;
        if id == self.key_id {
            bail!("refusing to remove the key this session opened the repository with");
        }
        if keys.len() <= 1 {
            bail!("refusing to remove the last key");
        }
        self.backend.remove(&format!("keys/{id}"))?;
        Ok(id)
    }

    // ---- index ----

    /// Read every index file into memory (replacing what was loaded), knowing which packs
    /// prune has marked for deletion.
    pub fn load_index(&self) -> anyhow::Result<()> {
        // A concurrent prune replaces index files (new compact file first, then removal of
        // the old ones): an index file vanishing under us means "list again".
        let mut attempt = 0;
        loop {
            match self.try_load_index() {
                Err(e) if attempt < 5 && matches!(e.downcast_ref::<Error>(), Some(Error::NotFound(_))) => attempt += 1,
                other => return other,
            }
        }
    }

    fn try_load_index(&self) -> anyhow::Result<()> {
        let records = self.list_deletions()?;
        *self.seen_deletions.write() = records.iter().map(|(id, _)| *id).collect();
        let files = self.backend.list("index")?;
        let expected = files.iter().map(|(_, size)| *size as usize / 48).sum();
        let mut b = IndexBuilder::new(expected)?;
        b.set_doomed(records.into_iter().flat_map(|(_, r)| r.packs));
        for (name, _) in files {
            let f = self.read_index_file(&name)?;
            b.add_file(&f)?;
        }
        *self.index.write() = b.finish()?;
        Ok(())
    }

    pub fn read_index_file(&self, name: &str) -> anyhow::Result<IndexFile> {
        let sealed = self.backend.read(name)?;
        check_name(name, &sealed)?;
        let plain = self.key.decrypt(&sealed).with_context(|| format!("opening {name}"))?;
        IndexFile::decode(&plain).with_context(|| format!("decoding {name}"))
    }

    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read()
    }

    /// Write an index file and merge it into the loaded index.
    pub fn save_index(&self, f: &IndexFile) -> anyhow::Result<(Id, u64)> {
        let sealed = self.key.encrypt(&f.encode());
        let id = Id::of_stored(&sealed);
        self.backend.write(&format!("index/{id}"), &sealed)?;
        self.index.write().add_file(f);
        Ok((id, sealed.len() as u64))
    }

    // ---- sketches ----

    /// Write the resemblance sketches of the text chunks a backup stored, so later backups
    /// can find delta bases by content (hints only: nothing is ever read through them),
    /// stamped with the time so that readers can let the newest version of some content
    /// win (§13).
    pub fn save_sketches(&self, entries: &[(Id, Sketch)]) -> anyhow::Result<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.write_sketch_file(entries, now.as_nanos() as u64)
    }

    fn write_sketch_file(&self, entries: &[(Id, Sketch)], written_at: u64) -> anyhow::Result<()> {
        let mut b = Vec::with_capacity(16 + entries.len() * SKETCH_ENTRY);
        b.extend_from_slice(b"CSK2");
        b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        b.extend_from_slice(&written_at.to_le_bytes());
        for (id, s) in entries {
            b.extend_from_slice(&id.0);
            for f in s {
                b.extend_from_slice(&f.to_le_bytes());
            }
        }
        let sealed = self.key.encrypt(&b);
        self.backend.write(&format!("sketches/{}", Id::of_stored(&sealed)), &sealed)
    }

    /// Every sketch file's entries, oldest file first (`CSK1` files, unstamped, before all
    /// others). A damaged or unreadable file is skipped with a warning: losing hints costs
    /// only compression.
    pub fn load_sketches(&self) -> anyhow::Result<Vec<(Id, Sketch)>> {
        Ok(self.sketch_files()?.into_iter().flat_map(|f| f.entries).collect())
    }

    fn sketch_files(&self) -> anyhow::Result<Vec<SketchFile>> {
        let mut files = vec![];
        for (name, _) in self.backend.list("sketches")? {
            match self.backend.read(&name).and_then(|s| self.key.decrypt(&s)).and_then(|p| parse_sketches(&p)) {
                Ok((written_at, entries)) => files.push(SketchFile { written_at, name, entries }),
                Err(e) => eprintln!("cellar: warning: skipping {name}: {e:#}"),
            }
        }
        files.sort_by(|a, b| (a.written_at, &a.name).cmp(&(b.written_at, &b.name)));
        Ok(files)
    }

    /// Rewrite the sketch files as one, without the entries whose blob is no longer indexed
    /// (prune, after deleting packs): otherwise they grow with every backup forever. The
    /// new file takes the newest time it merges, so files written meanwhile still count as
    /// newer; unreadable files are left alone. Returns the number of files merged.
    pub fn compact_sketches(&self) -> anyhow::Result<usize> {
        let files = self.sketch_files()?;
        let idx = self.index();
        let total: usize = files.iter().map(|f| f.entries.len()).sum();
        let kept: Vec<(Id, Sketch)> =
            files.iter().flat_map(|f| &f.entries).filter(|(id, _)| idx.get(id).is_some()).copied().collect();
        if files.len() < 2 && kept.len() == total {
            return Ok(0);
        }
        if !kept.is_empty() {
            self.write_sketch_file(&kept, files.iter().map(|f| f.written_at).max().unwrap_or(0))?;
        }
        for f in &files {
            self.backend.remove(&f.name)?;
        }
        Ok(files.len())
    }

    // ---- blobs ----

    pub fn blob_id(&self, data: &[u8]) -> Id {
        blob::blob_id(&self.id_key, data)
    }

    /// Encode a text chunk of a repository with deltas, stored whole: it may serve as a
    /// delta base for a long time, so it gets the deltas' zstd level.
    pub fn encode_text(&self, id: Id, data: &[u8]) -> EncodedBlob {
        blob::encode(&self.key, self.settings.zstd_level.max(blob::DELTA_MIN_LEVEL), id, BlobKind::Data, data)
    }

    /// Compress (if it pays) and seal a blob whose id the caller already computed (for
    /// deduplication), so the data is hashed once.
    pub fn encode_blob(&self, id: Id, kind: BlobKind, data: &[u8]) -> EncodedBlob {
        blob::encode(&self.key, self.settings.zstd_level, id, kind, data)
    }

    pub fn locate(&self, id: &Id) -> anyhow::Result<(Id, BlobLoc)> {
        let idx = self.index.read();
        let loc = idx.locate(id)?;
        Ok((idx.pack_id(loc.pack), loc))
    }

    /// Fetch, decrypt, decompress and verify one blob.
    pub fn read_blob(&self, id: &Id) -> anyhow::Result<Vec<u8>> {
        let (loc, sealed) = self.read_sealed(id)?;
        self.decode_blob(id, &loc, &sealed)
    }

    fn read_sealed(&self, id: &Id) -> anyhow::Result<(BlobLoc, Vec<u8>)> {
        let (pack, loc) = self.locate(id)?;
        let sealed = self
            .backend
            .read_range(&pack_name(&pack), loc.offset as u64, loc.stored_len as u64)
            .with_context(|| format!("reading blob {} from pack {}", id.short(), pack.short()))?;
        Ok((loc, sealed))
    }

    pub fn decode_blob(&self, id: &Id, loc: &BlobLoc, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.decode_with(id, loc.compression, loc.raw_len, sealed, &|b| self.read_base(b))
    }

    fn decode_with(
        &self,
        id: &Id,
        compression: blob::Compression,
        raw_len: u32,
        sealed: &[u8],
        fetch_base: &dyn Fn(&Id) -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        blob::decode(&self.key, &self.id_key, id, compression, raw_len, sealed, fetch_base)
    }

    /// Read a blob that may be a delta of `base_id`, whose plaintext the caller already
    /// holds (a backup weighing a chunk's previous version against its base).
    pub fn read_with_base(&self, id: &Id, base_id: &Id, base: &[u8]) -> anyhow::Result<Vec<u8>> {
        let (loc, sealed) = self.read_sealed(id)?;
        let fetch = |b: &Id| if b == base_id { Ok(base.to_vec()) } else { self.read_base(b) };
        self.decode_with(id, loc.compression, loc.raw_len, &sealed, &fetch)
    }

    /// The plaintext of a delta's base, which must be stored whole (deltas are depth 1, so
    /// a damaged or malicious chain cannot make a read recurse).
    pub fn read_base(&self, id: &Id) -> anyhow::Result<Vec<u8>> {
        let (loc, sealed) = self.read_sealed(id)?;
        if loc.compression == blob::Compression::Delta {
            return Err(Error::Integrity(format!("delta base {} is itself a delta", id.short())).into());
        }
        self.decode_blob(id, &loc, &sealed)
    }

    /// Encode a data blob as a delta against `base` when that pays (see
    /// [`blob::encode_with_base`]).
    pub fn encode_delta(&self, id: Id, data: &[u8], base: &blob::DeltaBase) -> EncodedBlob {
        blob::encode_with_base(&self.key, self.settings.zstd_level, id, data, base)
    }

    /// Decrypt and verify one blob of a pack held whole in memory (check, repack).
    pub fn decode_entry(&self, e: &pack::PackEntry, pack: &[u8]) -> anyhow::Result<Vec<u8>> {
        let sealed = pack
            .get(e.offset as usize..e.offset as usize + e.stored_len as usize)
            .ok_or_else(|| Error::Integrity(format!("blob {} lies outside its pack", e.id.short())))?;
        self.decode_with(&e.id, e.compression, e.raw_len, sealed, &|b| self.read_base(b))
    }

    /// Write a pack; data packs (`cold`) go to the repository's cold storage class if any.
    pub fn write_pack(&self, id: &Id, bytes: &[u8], cold: bool) -> anyhow::Result<()> {
        let class = if cold { self.settings.pack_storage_class.as_deref() } else { None };
        self.backend.write_with_class(&pack_name(id), bytes, class)
    }

    pub fn read_tree(&self, id: &Id) -> anyhow::Result<Tree> {
        Tree::from_bytes(&self.read_blob(id)?).with_context(|| format!("tree {}", id.short()))
    }

    // ---- deletion records (two-phase prune) ----

    pub fn list_deletions(&self) -> anyhow::Result<Vec<(Id, DeletionRecord)>> {
        let mut out = vec![];
        for (name, _) in self.backend.list("deletions")? {
            let sealed = match self.backend.read(&name) {
                Ok(b) => b,
                // Another prune finished it meanwhile.
                Err(e) if matches!(e.downcast_ref::<Error>(), Some(Error::NotFound(_))) => continue,
                Err(e) => return Err(e),
            };
            let id = check_name(&name, &sealed)?;
            let plain = self.key.decrypt(&sealed).with_context(|| format!("opening {name}"))?;
            out.push((id, serde_json::from_slice(&plain).with_context(|| format!("decoding {name}"))?));
        }
        Ok(out)
    }

    pub fn save_deletion(&self, r: &DeletionRecord) -> anyhow::Result<Id> {
        let sealed = self.key.encrypt(&serde_json::to_vec(r)?);
        let id = Id::of_stored(&sealed);
        self.backend.write(&format!("deletions/{id}"), &sealed)?;
        Ok(id)
    }

    // ---- writer markers ----

    /// Announce a backup (or any writer that deduplicates against the index) until the
    /// guard is dropped. Call before loading the index; then [`WriterGuard::saw`] records
    /// which deletion records the loaded index took into account.
    pub fn register_writer(self: &std::sync::Arc<Self>) -> anyhow::Result<WriterGuard> {
        let mut g = WriterGuard { repo: self.clone(), name: String::new(), started: snapshot::now_rfc3339() };
        g.name = self.write_writer(&g.started, None)?;
        Ok(g)
    }

    fn write_writer(&self, started: &str, seen: Option<Vec<Id>>) -> anyhow::Result<String> {
        let rec = WriterRecord {
            version: 1,
            started: started.to_string(),
            host: snapshot::hostname(),
            pid: std::process::id(),
            seen_deletions: seen,
        };
        let sealed = self.key.encrypt(&serde_json::to_vec(&rec)?);
        let name = format!("writers/{}", Id::of_stored(&sealed));
        self.backend.write(&name, &sealed)?;
        Ok(name)
    }

    /// Deletion records the last [`Repository::load_index`] took into account.
    pub fn seen_deletions(&self) -> Vec<Id> {
        self.seen_deletions.read().clone()
    }

    /// Writers that announced themselves, with the name of their marker file.
    pub fn list_writers(&self) -> anyhow::Result<Vec<(String, WriterRecord)>> {
        let mut out = vec![];
        for (name, _) in self.backend.list("writers")? {
            let Ok(sealed) = self.backend.read(&name) else { continue }; // finished meanwhile
            let plain = self.key.decrypt(&sealed).with_context(|| format!("opening {name}"))?;
            out.push((
                name,
                serde_json::from_slice(&plain).with_context(|| format!("decoding writer marker {}", out.len()))?,
            ));
        }
        Ok(out)
    }

    // ---- snapshots ----

    pub fn save_snapshot(&self, s: &Snapshot) -> anyhow::Result<(Id, u64)> {
        let sealed = self.key.encrypt(&serde_json::to_vec(s)?);
        let id = Id::of_stored(&sealed);
        self.backend.write(&format!("snapshots/{id}"), &sealed)?;
        Ok((id, sealed.len() as u64))
    }

    pub fn read_snapshot(&self, id: &Id) -> anyhow::Result<Snapshot> {
        let name = format!("snapshots/{id}");
        let sealed = self.backend.read(&name)?;
        check_name(&name, &sealed)?;
        let plain = self.key.decrypt(&sealed).with_context(|| format!("opening snapshot {}", id.short()))?;
        serde_json::from_slice(&plain).with_context(|| format!("decoding snapshot {}", id.short()))
    }

    /// All snapshots, oldest first.
    pub fn list_snapshots(&self) -> anyhow::Result<Vec<(Id, Snapshot)>> {
        let mut out = Vec::new();
        for id in self.snapshot_ids()? {
            out.push((id, self.read_snapshot(&id)?));
        }
        out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    pub fn snapshot_ids(&self) -> anyhow::Result<Vec<Id>> {
        self.backend
            .list("snapshots")?
            .into_iter()
            .map(|(n, _)| Id::from_hex(n.trim_start_matches("snapshots/")))
            .collect()
    }

    /// `latest`, a full id, or a unique prefix of one.
    pub fn resolve_snapshot(&self, spec: &str) -> anyhow::Result<(Id, Snapshot)> {
        if spec == "latest" {
            return self
                .list_snapshots()?
                .pop()
                .ok_or_else(|| Error::NotFound("the repository has no snapshots".into()).into());
        }
        let id = resolve_prefix(self.snapshot_ids()?.into_iter(), spec, "snapshot")?;
        Ok((id, self.read_snapshot(&id)?))
    }
}

/// Read and vet `config` without a password: a missing repository or a newer format is
/// reported before anyone is asked for a password.
pub fn read_config(backend: &dyn Backend) -> anyhow::Result<Config> {
    match backend.read("config") {
        Ok(b) => Config::parse(&b),
        Err(e) if matches!(e.downcast_ref::<Error>(), Some(Error::NotFound(_))) => {
            bail!("no cellar repository at {} (run `cellar init` first)", backend.location())
        }
        Err(e) => Err(e.context("reading repository config")),
    }
}

fn list_keys(backend: &dyn Backend) -> anyhow::Result<Vec<(Id, KeyFile)>> {
    let mut out = Vec::new();
    for (name, _) in backend.list("keys")? {
        let b = backend.read(&name)?;
        let id = check_name(&name, &b)?;
        let kf: KeyFile = serde_json::from_slice(&b).with_context(|| format!("parsing {name}"))?;
        out.push((id, kf));
    }
    Ok(out)
}

/// Files are named by the hash of their bytes: a mismatch means damage.
fn check_name(name: &str, bytes: &[u8]) -> anyhow::Result<Id> {
    let want = Id::from_hex(name.rsplit('/').next().unwrap_or(name))?;
    let got = Id::of_stored(bytes);
    if got != want {
        return Err(Error::Integrity(format!("{name}: content hash is {got}, not its name")).into());
    }
    Ok(want)
}

/// Find the one id that starts with `prefix`.
pub fn resolve_prefix(ids: impl Iterator<Item = Id>, prefix: &str, what: &str) -> anyhow::Result<Id> {
    let p = prefix.to_ascii_lowercase();
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{what} id {prefix:?} is not a hex id or prefix");
    }
    let matches: Vec<Id> = ids.filter(|id| id.to_hex().starts_with(&p)).collect();
    match matches.len() {
        0 => Err(Error::NotFound(format!("no {what} with id {prefix}")).into()),
        1 => Ok(matches[0]),
        n => bail!("{what} id prefix {prefix} is ambiguous ({n} matches); give more digits"),
    }
}

const SKETCH_ENTRY: usize = 32 + 8 * crate::chunk::similar::SKETCH_LEN;

struct SketchFile {
    written_at: u64,
    name: String,
    entries: Vec<(Id, Sketch)>,
}

/// A sketch file's plaintext: its write time (0 for `CSK1`) and entries (§13).
fn parse_sketches(plain: &[u8]) -> anyhow::Result<(u64, Vec<(Id, Sketch)>)> {
    let (written, body) = match plain.get(..4) {
        Some(b"CSK1") => (0, &plain[8.min(plain.len())..]),
        Some(b"CSK2") if plain.len() >= 16 => (u64::from_le_bytes(plain[8..16].try_into().expect("8")), &plain[16..]),
        _ => anyhow::bail!("not a sketch file"),
    };
    let n = plain.get(4..8).map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize);
    anyhow::ensure!(n == Some(body.len() / SKETCH_ENTRY) && body.len() % SKETCH_ENTRY == 0, "not a sketch file");
    let entries = body
        .chunks_exact(SKETCH_ENTRY)
        .map(|e| {
            let id = Id(e[..32].try_into().expect("32 bytes"));
            (id, std::array::from_fn(|i| u64::from_le_bytes(e[32 + 8 * i..40 + 8 * i].try_into().expect("8"))))
        })
        .collect();
    Ok((written, entries))
}
