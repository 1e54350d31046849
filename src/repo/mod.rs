//! The repository: config, keys, packs, index and snapshots over a [`Backend`].
//!
//! ```text
//! config               plaintext header + sealed settings        (written once, at init)
//! keys/<id>            password-wrapped master keys
//! data/<id[0..2]>/<id> pack files
//! index/<id>           sealed index files
//! snapshots/<id>       sealed snapshot manifests
//! deletions/<id>       sealed deletion records (two-phase prune)
//! writers/<id>         sealed writer markers (running backups)
//! sketches/<id>        sealed resemblance sketches of text chunks (format v2; hints only)
//! verified/<id>        sealed verified-packs hints (check --read-data)
//! retention/<id>       sealed retention logs: lock extensions (format v3; hints only)
//! sessions/<id>        writer sessions' public keys (format v4: content keys)
//! ```
//! Every file except `config` is named by the BLAKE3 of its bytes and never rewritten; each
//! kind is a module of [`file`], stored and read through [`Repository::save_file`] and
//! [`Repository::load_file`].

pub mod blob;
mod blobs;
pub mod content;
pub mod crypto;
pub mod file;
pub mod index;
mod markers;
pub mod packer;
mod snapshots;

use parking_lot::{RwLock, RwLockReadGuard};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::backend::{Backend, LocalBackend};
pub use crate::id::Id;
pub use markers::{writer_is_gone, WriterGuard, HEARTBEAT_TIMEOUT};
pub use snapshots::SnapshotFilter;

use crate::chunk::ChunkerParams;
use crate::error::RepoError;
use crate::notice::{Discard, NoticeExt, NoticeSink};
use content::ContentKeys;
use crypto::{KdfParams, MasterKey, RepoSecret, Seal};
use file::config::{Config, Settings};
use file::index::IndexFile;
use file::key::KeyFile;
use file::sketch::SketchFile;
use file::verified::{Verification, VerifiedFile};
use file::{verify_name, FileType, RepoFile};
use index::{Index, IndexBuilder};

/// Result of a repository call.
pub type RepoResult<T> = Result<T, RepoError>;

/// The files of one kind: those that opened, and those that are damaged.
pub struct Loaded<F> {
    pub files: Vec<(Id, F)>,
    pub damaged: Vec<DamagedFile>,
}

/// A repository file that cannot be used: its bytes do not match its name, it does not
/// decrypt, or it does not decode.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DamagedFile {
    #[serde(skip)]
    pub kind: FileType,
    pub id: Id,
    pub error: String,
}

impl DamagedFile {
    /// The file's storage name (`snapshots/…`).
    pub fn name(&self) -> String {
        self.kind.name(&self.id)
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
    /// Transparent pg_dump custom-format archives (format v5); only with `gzip_transparent`.
    pub pg_custom_transparent: bool,
    /// Delta blobs (format v2).
    pub deltas: bool,
    /// Write what restores need locked (S3 Object Lock; format v3).
    pub object_lock: Option<file::config::ObjectLock>,
    /// Seal content to a repository key pair, so append-only keys can be made (format v4).
    pub append_only_keys: bool,
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
            pg_custom_transparent: true,
            deltas: true,
            object_lock: None,
            append_only_keys: true,
        }
    }
}

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: MasterKey,
    content: ContentKeys,
    key_id: Id,
    config: Config,
    settings: Settings,
    id_key: [u8; 32],
    index: RwLock<Index>,
    seen_deletions: RwLock<Vec<Id>>,
    /// Index files the last [`Repository::load_index`] skipped as damaged.
    index_damage: RwLock<Vec<DamagedFile>>,
    notices: Arc<dyn NoticeSink>,
    /// Recently read metadata packs (see `blobs::sealed_at`).
    meta_packs: parking_lot::Mutex<std::collections::VecDeque<(Id, Arc<Vec<u8>>)>>,
}

impl Repository {
    /// Create a new repository in `backend`, which must not hold one already.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], opts: &InitOptions) -> RepoResult<Repository> {
        let key = MasterKey::generate();
        let secret = opts.append_only_keys.then(RepoSecret::generate);
        let mut chunkers = opts.chunkers.clone();
        for c in chunkers.values_mut() {
            if c.seed == 0 {
                c.seed = u64::from_le_bytes(crypto::random());
            }
        }
        let repository_id = hex::encode(crypto::random::<16>());
        let settings = Settings {
            repository_id: Some(repository_id.clone()),
            id_key: hex::encode(crypto::random::<32>()),
            chunkers,
            pack_size: opts.pack_size,
            zstd_level: opts.zstd_level,
            pack_storage_class: opts.pack_storage_class.clone(),
            gzip_transparent: opts.gzip_transparent,
            pg_custom_transparent: opts.gzip_transparent && opts.pg_custom_transparent,
            deltas: opts.deltas,
            object_lock: opts.object_lock,
            public_key: secret.as_ref().map(|s| hex::encode(s.public())),
        };
        settings.validate()?;
        if settings.object_lock.is_some() {
            backend.check_object_lock()?;
        }
        crate::chunk::Profiles::new(&settings.chunkers).map_err(|e| RepoError::Invalid(format!("{e:#}")))?;
        if let Some(class) = &settings.pack_storage_class {
            backend.probe_storage_class(class)?;
        }
        let config = Config::new(repository_id, &settings, &key);
        let kf = KeyFile::create(&key, secret.as_ref(), false, password, opts.kdf).map_err(RepoError::Invalid)?;
        // The key goes first: a config without a key would be a locked-out repository.
        let lock = |kind| retention(settings.object_lock.as_ref(), kind);
        let (key_id, _) = store_plain(backend.as_ref(), &kf, lock(FileType::Key))?;
        let config_bytes = serde_json::to_vec_pretty(&config).expect("config serializes");
        let opts = crate::backend::WriteOptions { class: None, retention: lock(FileType::Config) };
        if !backend.create_new_with(FileType::Config.dir(), &config_bytes, &opts)? {
            backend.remove(&FileType::Key.name(&key_id))?;
            return Err(RepoError::Invalid(format!("a repository already exists at {}", backend.location())));
        }
        Repository::assemble(backend, key, secret, key_id, config, settings)
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        key: MasterKey,
        secret: Option<RepoSecret>,
        key_id: Id,
        config: Config,
        settings: Settings,
    ) -> RepoResult<Repository> {
        let id_key = settings.id_key()?;
        let content = match settings.public_key()? {
            Some(public) => {
                if secret.as_ref().is_some_and(|s| s.public() != public) {
                    let name = FileType::Key.name(&key_id);
                    return Err(RepoError::integrity(
                        name,
                        "its repository secret does not match the config's public key",
                    ));
                }
                ContentKeys::sessions(backend.clone(), public, secret)
            }
            None => ContentKeys::shared(key.clone()),
        };
        Ok(Repository {
            backend,
            key,
            content,
            key_id,
            config,
            settings,
            id_key,
            index: RwLock::new(Index::default()),
            seen_deletions: RwLock::default(),
            index_damage: RwLock::default(),
            notices: Arc::new(Discard),
            meta_packs: parking_lot::Mutex::default(),
        })
    }

    /// Open with a password, trying every key file.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> RepoResult<Repository> {
        Repository::open_with(backend, password, Arc::new(Discard))
    }

    /// Open with a password, trying every key file, and report notices (damaged files
    /// skipped, …) to `notices`. A damaged key file is skipped: it locks out nobody else.
    pub fn open_with(
        backend: Arc<dyn Backend>,
        password: &[u8],
        notices: Arc<dyn NoticeSink>,
    ) -> RepoResult<Repository> {
        let config = read_config(backend.as_ref())?;
        let ids = list_ids(backend.as_ref(), FileType::Key)?;
        if ids.is_empty() {
            let msg = format!("the repository at {} has no key files", backend.location());
            return Err(RepoError::integrity("keys/", msg));
        }
        for key_id in ids {
            let name = FileType::Key.name(&key_id);
            let opened = load::<KeyFile>(backend.as_ref(), None, &key_id)
                .and_then(|kf| kf.open(password).map_err(|e| RepoError::integrity(&name, e)));
            match opened {
                Ok(Some(key)) => {
                    let settings = config.settings(&key.master)?;
                    let mut repo = Repository::assemble(backend, key.master, key.secret, key_id, config, settings)?;
                    repo.notices = notices;
                    return Ok(repo);
                }
                Ok(None) => {}
                Err(e) if e.is_damage() => notices.warn(format!("skipping {name}: {e}")),
                Err(e) => return Err(e),
            }
        }
        Err(RepoError::WrongPassword)
    }

    /// Report notices (skipped hint files, …) to `sink` instead of dropping them.
    pub fn with_notices(mut self, sink: Arc<dyn NoticeSink>) -> Repository {
        self.notices = sink;
        self
    }

    pub fn notices(&self) -> &Arc<dyn NoticeSink> {
        &self.notices
    }
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    /// The master key: config settings, index and the other metadata kinds.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }
    /// What seals and opens content kinds (packs, snapshots, sketches).
    pub fn content_keys(&self) -> &ContentKeys {
        &self.content
    }
    /// True when the key opened is append-only: it can back up, nothing else.
    pub fn append_only(&self) -> bool {
        self.content.append_only()
    }
    /// Refuse `what` (e.g. "forget snapshots") to an append-only key, before anything is
    /// read or changed.
    pub fn require_full_key(&self, what: &str) -> RepoResult<()> {
        if self.append_only() {
            return Err(RepoError::AppendOnly(what.to_string()));
        }
        Ok(())
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

    // ---- files: the one way content-addressed files are written and read ----

    /// Seal (unless it is a key file), name by hash and write a file. Returns its id and
    /// stored size.
    pub fn save_file<F: RepoFile>(&self, f: &F) -> RepoResult<(Id, u64)> {
        let stored = self.seal_file(f);
        if F::TYPE.content() {
            self.ensure_session_stored()?;
        }
        write_stored(self.backend.as_ref(), F::TYPE, &stored, self.retention_for(F::TYPE))
    }

    /// The stored bytes of `f`: sealed with the key its kind takes (unsealed for key and
    /// session files).
    fn seal_file<F: RepoFile>(&self, f: &F) -> Vec<u8> {
        let plain = f.encode();
        match (F::SEALED, F::TYPE.content()) {
            (false, _) => plain,
            (true, true) => self.content.seal(&plain),
            (true, false) => self.key.encrypt(&plain),
        }
    }

    /// Write this process's session file if its session has sealed content (format v4):
    /// before any file that content is in.
    pub(crate) fn ensure_session_stored(&self) -> RepoResult<()> {
        self.content.ensure_session_stored(|f| {
            store_plain(self.backend.as_ref(), f, self.retention_for(FileType::Session)).map(|_| ())
        })
    }

    /// The lock a file of `kind` written now gets: a full period from now in a locked
    /// repository, for the kinds restores need.
    pub fn retention_for(&self, kind: FileType) -> Option<crate::backend::Retention> {
        retention(self.settings.object_lock.as_ref(), kind)
    }

    /// Read a file, verify its name (spec §1), open and decode it.
    pub fn load_file<F: RepoFile>(&self, id: &Id) -> RepoResult<F> {
        let keys: &dyn Seal = if F::TYPE.content() { &self.content } else { &self.key };
        load(self.backend.as_ref(), Some(keys), id)
    }

    /// The ids of every file of a kind. Names that are not ids of that kind (foreign files)
    /// are reported as notices and left alone.
    pub fn list_ids(&self, t: FileType) -> RepoResult<Vec<Id>> {
        Ok(self.list_sized(t)?.into_iter().map(|(id, _)| id).collect())
    }

    /// [`Repository::list_ids`] with each file's stored size.
    pub fn list_sized(&self, t: FileType) -> RepoResult<Vec<(Id, u64)>> {
        let (ids, foreign) = list_names(self.backend.as_ref(), t)?;
        for name in foreign {
            self.notices.warn(format!("ignoring {name}: not a repository file name"));
        }
        Ok(ids)
    }

    /// Every readable file of a kind, and the damaged ones (named, with what is wrong), so
    /// that one damaged file never hides the others. A file that vanished meanwhile is
    /// neither.
    pub fn load_all<F: RepoFile>(&self) -> RepoResult<Loaded<F>> {
        let mut out = Loaded { files: vec![], damaged: vec![] };
        for id in self.list_ids(F::TYPE)? {
            match self.load_file(&id) {
                Ok(f) => out.files.push((id, f)),
                Err(e) if e.is_missing_file() => {}
                Err(e) if e.is_damage() => out.damaged.push(DamagedFile { kind: F::TYPE, id, error: e.to_string() }),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn remove_file(&self, t: FileType, id: &Id) -> RepoResult<()> {
        Ok(self.backend.remove(&t.name(id))?)
    }

    // ---- keys ----

    /// Add a key: a full one, or (`append_only`, format v4 only) one that can back up
    /// but opens no content. Only a full key adds keys.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams, append_only: bool) -> RepoResult<Id> {
        self.require_full_key("add keys")?;
        if append_only && self.settings.public_key.is_none() {
            return Err(RepoError::Invalid(format!(
                "this repository is format v{}, made before append-only keys: its content and index share one key. \
                 Make a new repository with `cellar init` (format v4) and `cellar copy --to-repo` into it",
                self.config.version
            )));
        }
        self.write_key(password, kdf, append_only)
    }

    fn write_key(&self, password: &[u8], kdf: KdfParams, append_only: bool) -> RepoResult<Id> {
        let secret = if append_only { None } else { self.content.secret() };
        let kf = KeyFile::create(&self.key, secret, append_only, password, kdf).map_err(RepoError::Invalid)?;
        Ok(self.save_file(&kf)?.0)
    }

    /// Change the password of the key this session opened with: the new key file is
    /// written before the old one is removed, so a crash leaves both passwords working,
    /// never neither. An append-only key stays append-only.
    pub fn change_password(&self, password: &[u8], kdf: KdfParams) -> RepoResult<Id> {
        let new = self.write_key(password, kdf, self.append_only())?;
        self.remove_file(FileType::Key, &self.key_id)?;
        Ok(new)
    }

    pub fn list_keys(&self) -> RepoResult<Vec<(Id, KeyFile)>> {
        self.list_ids(FileType::Key)?.into_iter().map(|id| Ok((id, self.load_file(&id)?))).collect()
    }

    /// Remove a key file; refuses the key in use and the last key, which would lock
    /// everyone out.
    pub fn remove_key(&self, prefix: &str) -> RepoResult<Id> {
        self.require_full_key("remove keys")?;
        let keys = self.list_ids(FileType::Key)?;
        let id = resolve_prefix(keys.iter().copied(), prefix, "key")?;
        if id == self.key_id {
            return Err(RepoError::Invalid(
                "refusing to remove the key this session opened the repository with".into(),
            ));
        }
        if keys.len() <= 1 {
            return Err(RepoError::Invalid("refusing to remove the last key".into()));
        }
        let full_left =
            keys.iter().filter(|k| **k != id).any(|k| self.load_file::<KeyFile>(k).map_or(true, |f| !f.append_only));
        if !full_left {
            return Err(RepoError::Invalid(
                "refusing to remove the last full key: append-only keys cannot restore, forget or prune".into(),
            ));
        }
        self.remove_file(FileType::Key, &id)?;
        Ok(id)
    }

    // ---- index ----

    /// Read every index file into memory (replacing what was loaded), knowing which packs
    /// prune has marked for deletion.
    pub fn load_index(&self) -> RepoResult<()> {
        // A concurrent prune replaces index files (new compact file first, then removal of
        // the old ones): an index file vanishing under us means "list again".
        let mut attempt = 0;
        loop {
            match self.try_load_index() {
                Err(e) if attempt < 5 && e.is_missing_file() => attempt += 1,
                other => return other,
            }
        }
    }

    fn try_load_index(&self) -> RepoResult<()> {
        // The previous load goes first: operations load the index before they start
        // using it, never while another thread reads it, and keeping both would double
        // the peak (two key arrays of 12 bytes per blob, 240 MB at 10 million blobs).
        drop(std::mem::take(&mut *self.index.write()));
        let records = self.list_deletions()?;
        *self.seen_deletions.write() = records.iter().map(|(id, _)| *id).collect();
        let files = self.list_sized(FileType::Index)?;
        let spill = |e: std::io::Error| RepoError::Backend(crate::error::BackendError::io("the index spill file", e));
        let expected = files.iter().map(|(_, size)| *size as usize / 48).sum();
        let mut b = IndexBuilder::new(expected).map_err(spill)?;
        b.set_doomed(records.into_iter().flat_map(|(_, r)| r.packs));
        b.set_damaged(self.damaged_copies()?);
        let mut damaged = vec![];
        for (id, _) in files {
            match self.load_file::<IndexFile>(&id) {
                Ok(f) => b.add_named_file(id, &f).map_err(spill)?,
                // A damaged index file hides only its own entries: the rest still works,
                // and the blobs it alone knew count as missing (a backup stores them again).
                Err(e) if e.is_damage() && !e.is_missing_file() => {
                    self.notices.warn(format!(
                        "skipping {}: {e} (`cellar repair index` rebuilds the index from the packs)",
                        FileType::Index.name(&id)
                    ));
                    damaged.push(DamagedFile { kind: FileType::Index, id, error: e.to_string() });
                }
                Err(e) => return Err(e),
            }
        }
        *self.index.write() = b.finish().map_err(spill)?;
        *self.index_damage.write() = damaged;
        Ok(())
    }

    /// The latest verification of every pack a `check --read-data` read (hints: damaged
    /// verified-packs files are skipped with a notice).
    pub fn verifications(&self) -> RepoResult<std::collections::HashMap<Id, (Verification, Vec<Id>)>> {
        let l = self.load_all::<VerifiedFile>()?;
        for d in &l.damaged {
            self.notices.warn(format!("skipping {}: {}", d.name(), d.error));
        }
        let mut latest: std::collections::HashMap<Id, (Verification, Vec<Id>)> = Default::default();
        for (_, f) in l.files {
            for (v, bad) in f.packs {
                if latest.get(&v.pack).is_none_or(|(old, _)| old.at <= v.at) {
                    latest.insert(v.pack, (v, bad));
                }
            }
        }
        Ok(latest)
    }

    /// Record verifications, and merge every verified-packs file into one that keeps each
    /// pack's latest result (for packs still present), so the hints do not grow forever.
    pub fn save_verifications(
        &self,
        new: Vec<(Verification, Vec<Id>)>,
        present: &std::collections::HashSet<Id>,
    ) -> RepoResult<()> {
        let old = self.list_ids(FileType::Verified)?;
        let mut all = self.verifications()?;
        for (v, bad) in new {
            all.insert(v.pack, (v, bad));
        }
        let mut packs: Vec<(Verification, Vec<Id>)> =
            all.into_values().filter(|(v, _)| present.contains(&v.pack)).collect();
        packs.sort_by_key(|(v, _)| v.pack);
        let (id, _) = self.save_file(&VerifiedFile { packs })?;
        for o in old.into_iter().filter(|o| *o != id) {
            self.remove_file(FileType::Verified, &o)?;
        }
        Ok(())
    }

    /// Copies (blob, pack) the latest checks found damaged.
    fn damaged_copies(&self) -> RepoResult<Vec<(Id, Id)>> {
        Ok(self
            .verifications()?
            .into_values()
            .filter(|(v, _)| !v.intact)
            .flat_map(|(v, bad)| bad.into_iter().map(move |b| (b, v.pack)))
            .collect())
    }

    /// Index files the last [`Repository::load_index`] had to skip as damaged.
    pub fn index_damage(&self) -> Vec<DamagedFile> {
        self.index_damage.read().clone()
    }

    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read()
    }

    /// Write an index file and merge it into the loaded index.
    pub fn save_index(&self, f: &IndexFile) -> RepoResult<(Id, u64)> {
        let r = self.save_file(f)?;
        self.index.write().add_file(f);
        Ok(r)
    }

    // ---- sketches ----

    /// Write the resemblance sketches of the text chunks a backup stored, so later backups
    /// can find delta bases by content (hints only: nothing is ever read through them),
    /// stamped with the time so that readers can let the newest version of some content
    /// win (§13).
    pub fn save_sketches(&self, entries: Vec<(Id, crate::chunk::similar::Sketch)>) -> RepoResult<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.save_file(&SketchFile { written_at: now.as_nanos() as u64, entries })?;
        Ok(())
    }

    /// Every sketch file's entries, oldest file first (`CSK1` files, unstamped, before all
    /// others). A damaged or unreadable file is skipped with a notice: losing hints costs
    /// only compression.
    pub fn load_sketches(&self) -> RepoResult<Vec<(Id, crate::chunk::similar::Sketch)>> {
        Ok(self.sketch_files()?.into_iter().flat_map(|(_, f)| f.entries).collect())
    }

    fn sketch_files(&self) -> RepoResult<Vec<(Id, SketchFile)>> {
        let mut files = vec![];
        for id in self.list_ids(FileType::Sketch)? {
            match self.load_file::<SketchFile>(&id) {
                Ok(f) => files.push((id, f)),
                Err(e) => self.notices.warn(format!("skipping sketches/{id}: {e}")),
            }
        }
        files.sort_by_key(|(id, f)| (f.written_at, *id));
        Ok(files)
    }

    /// Rewrite the sketch files as one, without the entries whose blob is no longer indexed
    /// (prune, after deleting packs): otherwise they grow with every backup forever. The
    /// new file takes the newest time it merges, so files written meanwhile still count as
    /// newer; unreadable files are left alone. Returns the number of files merged.
    pub fn compact_sketches(&self) -> RepoResult<usize> {
        let files = self.sketch_files()?;
        let total: usize = files.iter().map(|(_, f)| f.entries.len()).sum();
        let kept: Vec<_> = {
            let idx = self.index();
            files.iter().flat_map(|(_, f)| &f.entries).filter(|(id, _)| idx.get(id).is_some()).copied().collect()
        };
        if files.len() < 2 && kept.len() == total {
            return Ok(0);
        }
        if !kept.is_empty() {
            let written_at = files.iter().map(|(_, f)| f.written_at).max().unwrap_or(0);
            self.save_file(&SketchFile { written_at, entries: kept })?;
        }
        for (id, _) in &files {
            self.remove_file(FileType::Sketch, id)?;
        }
        Ok(files.len())
    }
}

/// Write the stored bytes of a file of `kind` under their hash.
fn write_stored(
    backend: &dyn Backend,
    kind: FileType,
    stored: &[u8],
    retention: Option<crate::backend::Retention>,
) -> RepoResult<(Id, u64)> {
    let id = Id::of_stored(stored);
    backend.write_with(&kind.name(&id), stored, &crate::backend::WriteOptions { class: None, retention })?;
    Ok((id, stored.len() as u64))
}

/// Write an unsealed kind (key and session files), which needs no repository yet.
fn store_plain<F: RepoFile>(
    backend: &dyn Backend,
    f: &F,
    retention: Option<crate::backend::Retention>,
) -> RepoResult<(Id, u64)> {
    debug_assert!(!F::SEALED);
    write_stored(backend, F::TYPE, &f.encode(), retention)
}

fn retention(lock: Option<&file::config::ObjectLock>, kind: FileType) -> Option<crate::backend::Retention> {
    let lock = lock.filter(|_| kind.locked())?;
    Some(crate::backend::Retention::until(lock.mode, time::OffsetDateTime::now_utc() + lock.period()))
}

/// Read, verify the name, open (with `key`, for sealed kinds) and decode one file.
fn load<F: RepoFile>(backend: &dyn Backend, key: Option<&dyn Seal>, id: &Id) -> RepoResult<F> {
    let name = F::TYPE.name(id);
    let stored = backend.read(&name)?;
    verify_name(&name, &stored)?;
    let plain = match (F::SEALED, key) {
        (true, Some(k)) => k.open(&name, &stored)?,
        (true, None) => return Err(RepoError::Invalid(format!("{name}: sealed, and no key to open it"))),
        (false, _) => stored,
    };
    F::decode(&plain).map_err(|e| RepoError::integrity(name, e))
}

/// Files of one kind: (id, stored size), and the names in its directory that are not ids
/// of that kind.
type Listing = (Vec<(Id, u64)>, Vec<String>);

/// List a kind's directory.
fn list_names(backend: &dyn Backend, t: FileType) -> RepoResult<Listing> {
    let mut ids = vec![];
    let mut foreign = vec![];
    for (name, size) in backend.list(t.dir())? {
        match t.id_of(&name) {
            Some(id) => ids.push((id, size)),
            None => foreign.push(name),
        }
    }
    Ok((ids, foreign))
}

fn list_ids(backend: &dyn Backend, t: FileType) -> RepoResult<Vec<Id>> {
    Ok(list_names(backend, t)?.0.into_iter().map(|(id, _)| id).collect())
}

/// Read and vet `config` without a password: a missing repository or a newer format is
/// reported before anyone is asked for a password.
pub fn read_config(backend: &dyn Backend) -> RepoResult<Config> {
    match backend.read(FileType::Config.dir()) {
        Ok(b) => Config::parse(&b),
        Err(e) if e.is_not_found() => Err(RepoError::NotARepository(format!(
            "no cellar repository at {} (run `cellar init` first)",
            backend.location()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Wrap a remote backend in the verified metadata cache, keyed by the repository id from
/// its config. Without a repository yet (init) or a place for the cache, the backend is
/// used as it is.
pub fn with_cache(inner: Arc<dyn Backend>) -> Arc<dyn Backend> {
    let cached = inner.read(FileType::Config.dir()).ok().and_then(|bytes| {
        let c = Config::parse(&bytes).ok()?;
        crate::backend::cache::CachedBackend::new(inner.clone(), &c.id, bytes)
    });
    match cached {
        Some(c) => Arc::new(c),
        None => inner,
    }
}

/// Find the one id that starts with `prefix`.
pub fn resolve_prefix(ids: impl Iterator<Item = Id>, prefix: &str, what: &str) -> RepoResult<Id> {
    let p = prefix.to_ascii_lowercase();
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(RepoError::Invalid(format!("{what} id {prefix:?} is not a hex id or prefix")));
    }
    let matches: Vec<Id> = ids.filter(|id| id.to_hex().starts_with(&p)).collect();
    match matches.len() {
        0 => Err(RepoError::NotFound(format!("no {what} with id {prefix}"))),
        1 => Ok(matches[0]),
        n => Err(RepoError::Invalid(format!("{what} id prefix {prefix} is ambiguous ({n} matches); give more digits"))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh repository in memory, with a KDF cheap enough for unit tests.
    pub fn mem_repo() -> Repository {
        mem_repo_on(Arc::new(crate::backend::mem::MemBackend::default()))
    }

    pub fn mem_repo_on(backend: Arc<dyn Backend>) -> Repository {
        let opts = InitOptions { kdf: KdfParams { m_kib: 64, t: 1, p: 1 }, ..Default::default() };
        Repository::init(backend, b"test", &opts).expect("init")
    }
}
