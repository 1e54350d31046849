//! The in-memory index: the union of the repository's index files
//! ([`crate::repo::file::index::IndexFile`]). A blob found in several packs (two
//! concurrent writers stored it) resolves to any one of them, preferring packs no prune
//! has marked for deletion.

use std::collections::HashMap;

use crate::error::RepoError;
use crate::id::Id;
use crate::repo::blob::{BlobKind, Compression};
use crate::repo::file::index::IndexFile;
use crate::repo::file::pack::PackEntry;

mod blob_set;
pub use blob_set::BlobSet;

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

/// The union of the repository's index files.
///
/// Index entries are not kept in RAM: [`IndexBuilder`] spills them (84 bytes each) to an
/// unlinked temporary file, and keeps only an 8-byte id prefix and a record number per
/// blob (12 bytes) sorted in memory. A lookup of a blob the repository lacks (most lookups
/// of a backup of new data) touches only that array; a hit reads its record with one
/// positional read. The file is not memory-mapped: a walk over every blob (check, prune)
/// would then make the whole file part of the process's resident set (~840 MB at 10
/// million blobs), which a container's memory limit counts; read through the page cache
/// it stays the kernel's to evict. So 10 million blobs need ~120 MB of RAM. Entries added
/// after loading (this process's own packs) live in a small hash map.
#[derive(Default)]
pub struct Index {
    packs: Vec<Id>,
    pack_no: HashMap<Id, u32>,
    /// Packs a prune has marked for deletion (see format-spec §11): still readable, but
    /// new snapshots must not come to depend on them.
    doomed: std::collections::HashSet<u32>,
    base: Option<Spilled>,
    /// Entries of packs added after loading (this process's own), spilled like `base`
    /// once `recent` holds [`SPILL_RECENT`] blobs, so a first backup of millions of
    /// blobs keeps 12 bytes a blob in RAM, not ~250. Apart from `base`: a [`BlobSet`]'s
    /// bits refer to `base`'s key positions, which must not move.
    added: Option<Spilled>,
    recent: HashMap<Id, Vec<BlobLoc>>,
    /// Delta blob → its base. Deltas are a minority (changed chunks of dumps), so they
    /// stay in RAM.
    deltas: HashMap<Id, Id>,
    /// Distinct blob ids in `base`, `added` and `recent`.
    count: usize,
    /// (blob, pack number) copies a `check --read-data` found damaged: never reused, and
    /// read only when no other copy exists.
    damaged: std::collections::HashSet<(Id, u32)>,
    /// The index files loaded, in load order: what a rewrite of the index supersedes.
    files: Vec<Id>,
    /// Per pack number: the spilled records (first, count) of the first index file that
    /// lists the pack. A pack's entries are contiguous in its index file, so prune and
    /// check read one pack's listing back without holding every entry in RAM.
    runs: Vec<Option<(u32, u32)>>,
    /// Tells one load from another, so a [`BlobSet`] is never read against an index it
    /// was not built for.
    generation: u64,
    /// Sealed bytes of every entry of the packs counted in `counted` (each pack once).
    stored: u64,
    counted: std::collections::HashSet<u32>,
}

/// Sorted `(id prefix, record number)` keys over a file of records.
struct Spilled {
    keys: Vec<[u32; 3]>,
    /// `buckets[t]`: the first key whose prefix has top 16 bits `t` (65,537 entries), so
    /// a lookup binary-searches a few hundred keys, not millions.
    buckets: Vec<u32>,
    file: std::fs::File,
    /// Bit per record: set when the same id has a record with a lower number (a blob
    /// stored twice), so a sequential scan yields each blob once.
    repeat: Vec<u64>,
}

/// Blobs added after loading that are kept in a hash map before they are spilled.
const SPILL_RECENT: usize = 50_000;

/// Id, location, kind, compression, a flag and the delta base (zeros for whole blobs):
/// a pack's listing is read back exactly as its index file gave it.
const RECORD_LEN: usize = 84;

fn prefix(id: &Id) -> u64 {
    u64::from_be_bytes(id.0[..8].try_into().expect("8 bytes"))
}

fn key_prefix(k: &[u32; 3]) -> u64 {
    (u64::from(k[0]) << 32) | u64::from(k[1])
}

fn encode_record(id: &Id, l: &BlobLoc, base: Option<&Id>) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    if let Some(b) = base {
        r[50] = 1;
        r[52..].copy_from_slice(&b.0);
    }
    r[..32].copy_from_slice(&id.0);
    r[32..36].copy_from_slice(&l.pack.to_le_bytes());
    r[36..40].copy_from_slice(&l.offset.to_le_bytes());
    r[40..44].copy_from_slice(&l.stored_len.to_le_bytes());
    r[44..48].copy_from_slice(&l.raw_len.to_le_bytes());
    r[48] = l.kind as u8;
    r[49] = l.compression as u8;
    r
}

impl Spilled {
    /// Sorts `keys` (records of `file`, numbered from 0) and finds repeated ids. Returns
    /// the spill and its count of distinct ids.
    fn new(mut keys: Vec<[u32; 3]>, file: std::fs::File) -> (Spilled, usize) {
        keys.sort_unstable();
        keys.shrink_to_fit();
        let n = keys.len();
        let mut s = Spilled { keys, buckets: vec![], file, repeat: vec![0; n.div_ceil(64)] };
        s.rebuild_buckets();
        // Distinct ids: equal prefixes are adjacent (records in order within a run, as the
        // keys sort by record number last); compare full ids only within a run.
        let mut count = 0;
        let mut i = 0;
        while i < n {
            let p = key_prefix(&s.keys[i]);
            let mut j = i + 1;
            while j < n && key_prefix(&s.keys[j]) == p {
                j += 1;
            }
            if j - i == 1 {
                count += 1;
            } else {
                let mut seen: Vec<Id> = Vec::new();
                for k in i..j {
                    let key = s.keys[k];
                    let id = s.record(&key).0;
                    if seen.contains(&id) {
                        s.repeat[key[2] as usize / 64] |= 1 << (key[2] % 64);
                    } else {
                        seen.push(id);
                        count += 1;
                    }
                }
            }
            i = j;
        }
        (s, count)
    }

    fn rebuild_buckets(&mut self) {
        self.buckets.clear();
        self.buckets.reserve((1 << 16) + 1);
        for t in 0..=(1u64 << 16) {
            self.buckets.push(self.keys.partition_point(|k| key_prefix(k) >> 48 < t) as u32);
        }
    }

    /// Append records after the existing ones, keeping the keys sorted (one merge).
    fn append(&mut self, records: &[(Id, BlobLoc, Option<Id>)]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let old = self.keys.len();
        let mut buf = Vec::with_capacity(records.len() * RECORD_LEN);
        let mut new = Vec::with_capacity(records.len());
        for (i, (id, loc, base)) in records.iter().enumerate() {
            let n = u32::try_from(old + i).map_err(|_| std::io::Error::other("more than 4 billion index entries"))?;
            let p = prefix(id);
            new.push([(p >> 32) as u32, p as u32, n]);
            buf.extend_from_slice(&encode_record(id, loc, base.as_ref()));
        }
        self.file.write_all_at(&buf, (old * RECORD_LEN) as u64)?;
        new.sort_unstable();
        // Merge from the back, in place.
        self.keys.resize(old + new.len(), [0; 3]);
        let (mut i, mut j) = (old, new.len());
        for k in (0..old + new.len()).rev() {
            if j == 0 {
                break;
            }
            if i > 0 && self.keys[i - 1] > new[j - 1] {
                self.keys[k] = self.keys[i - 1];
                i -= 1;
            } else {
                self.keys[k] = new[j - 1];
                j -= 1;
            }
        }
        self.rebuild_buckets();
        self.repeat.resize(self.keys.len().div_ceil(64), 0);
        for k in &new {
            let p = key_prefix(k);
            let at = self.first_key(p);
            let run = &self.keys[at..];
            if run.get(1).is_some_and(|next| key_prefix(next) == p) {
                let id = self.record(k).0;
                let earlier =
                    run.iter().take_while(|o| key_prefix(o) == p).any(|o| o[2] < k[2] && self.record(o).0 == id);
                if earlier {
                    self.repeat[k[2] as usize / 64] |= 1 << (k[2] % 64);
                }
            }
        }
        Ok(())
    }

    fn scan(&self) -> ScanRecords<'_> {
        ScanRecords { spilled: self, buf: Vec::new(), at: 0, next: 0 }
    }

    fn record(&self, k: &[u32; 3]) -> (Id, BlobLoc) {
        use std::os::unix::fs::FileExt;
        let mut r = [0u8; RECORD_LEN];
        // The file is ours and complete; a failing read means the disk failed.
        self.file.read_exact_at(&mut r, u64::from(k[2]) * RECORD_LEN as u64).expect("reading the index spill file");
        decode_record(&r)
    }

    /// The position of the first key with `id`'s prefix (where its run starts), or where
    /// it would be.
    fn first_key(&self, p: u64) -> usize {
        let t = (p >> 48) as usize;
        let (lo, hi) = (self.buckets[t] as usize, self.buckets[t + 1] as usize);
        lo + self.keys[lo..hi].partition_point(|k| key_prefix(k) < p)
    }

    /// The key position standing for every blob with `id`'s 8-byte prefix, if any is
    /// spilled. Compares prefixes only: no record is read.
    fn slot(&self, id: &Id) -> Option<usize> {
        let p = prefix(id);
        let at = self.first_key(p);
        (at < self.keys.len() && key_prefix(&self.keys[at]) == p).then_some(at)
    }

    /// Locations recorded for `id`, in index order.
    fn find(&self, id: &Id) -> impl Iterator<Item = BlobLoc> + '_ {
        let p = prefix(id);
        let start = self.first_key(p);
        let id = *id;
        self.keys[start..].iter().take_while(move |k| key_prefix(k) == p).filter_map(move |k| {
            let (rid, loc) = self.record(k);
            (rid == id).then_some(loc)
        })
    }
}

/// Loads index files into an [`Index`] with bounded memory.
pub struct IndexBuilder {
    idx: Index,
    out: std::io::BufWriter<std::fs::File>,
    keys: Vec<[u32; 3]>,
}

impl IndexBuilder {
    /// `expected` entries are reserved up front (from the index files' sizes), so the key
    /// array does not double while growing.
    pub fn new(expected: usize) -> std::io::Result<IndexBuilder> {
        let f = tempfile::tempfile().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("creating the index spill file in {}: {e}", std::env::temp_dir().display()),
            )
        })?;
        Ok(IndexBuilder {
            idx: Index::default(),
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            keys: Vec::with_capacity(expected),
        })
    }

    /// Mark packs as deletion candidates (before adding files).
    pub fn set_doomed(&mut self, packs: impl IntoIterator<Item = Id>) {
        self.idx.set_doomed(packs);
    }

    /// Record copies (blob, pack) found damaged.
    pub fn set_damaged(&mut self, copies: impl IntoIterator<Item = (Id, Id)>) {
        self.idx.set_damaged(copies);
    }

    /// Add index file `id` (its name is kept: see [`Index::files`]).
    pub fn add_named_file(&mut self, id: Id, f: &IndexFile) -> std::io::Result<()> {
        self.idx.files.push(id);
        self.add_file(f)
    }

    pub fn add_file(&mut self, f: &IndexFile) -> std::io::Result<()> {
        use std::io::Write;
        for (pack, entries) in &f.packs {
            let no = self.idx.pack_number(*pack);
            let first = u32::try_from(self.keys.len())
                .map_err(|_| std::io::Error::other("more than 4 billion index entries"))?;
            let runs = &mut self.idx.runs;
            if runs.len() <= no as usize {
                runs.resize(no as usize + 1, None);
            }
            runs[no as usize].get_or_insert((first, entries.len() as u32));
            self.idx.count_pack(no, entries);
            for e in entries {
                let n = u32::try_from(self.keys.len())
                    .map_err(|_| std::io::Error::other("more than 4 billion index entries"))?;
                let p = prefix(&e.id);
                self.keys.push([(p >> 32) as u32, p as u32, n]);
                self.out.write_all(&encode_record(&e.id, &BlobLoc::of(no, e), e.base.as_ref()))?;
                if let Some(b) = e.base {
                    self.idx.deltas.insert(e.id, b);
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> std::io::Result<Index> {
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let IndexBuilder { mut idx, out, keys } = self;
        idx.generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        if keys.is_empty() {
            return Ok(idx);
        }
        let (base, count) = Spilled::new(keys, file);
        idx.count = count;
        idx.base = Some(base);
        Ok(idx)
    }
}

/// Sequential scan of a spill file, skipping repeated ids.
struct ScanRecords<'a> {
    spilled: &'a Spilled,
    buf: Vec<u8>,
    /// Record number of `buf[0]`.
    at: usize,
    next: usize,
}

impl Iterator for ScanRecords<'_> {
    type Item = (Id, BlobLoc);

    fn next(&mut self) -> Option<(Id, BlobLoc)> {
        use std::os::unix::fs::FileExt;
        let total = self.spilled.keys.len();
        loop {
            if self.next >= total {
                return None;
            }
            let n = self.next;
            self.next += 1;
            if self.spilled.repeat[n / 64] & (1 << (n % 64)) != 0 {
                continue;
            }
            if n >= self.at + self.buf.len() / RECORD_LEN {
                let count = (total - n).min(20_000);
                self.buf.resize(count * RECORD_LEN, 0);
                // The file is ours and complete; a failing read means the disk failed.
                self.spilled
                    .file
                    .read_exact_at(&mut self.buf, (n * RECORD_LEN) as u64)
                    .expect("reading the index spill file");
                self.at = n;
            }
            let o = (n - self.at) * RECORD_LEN;
            return Some(decode_record(&self.buf[o..o + RECORD_LEN]));
        }
    }
}

fn decode_record(r: &[u8]) -> (Id, BlobLoc) {
    let u = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().expect("4 bytes"));
    let loc = BlobLoc {
        pack: u(32),
        offset: u(36),
        stored_len: u(40),
        raw_len: u(44),
        // Written by this process from validated index entries.
        kind: if r[48] == 0 { BlobKind::Data } else { BlobKind::Tree },
        compression: match r[49] {
            0 => Compression::None,
            1 => Compression::Zstd,
            _ => Compression::Delta,
        },
    };
    (Id(r[..32].try_into().expect("32 bytes")), loc)
}

impl BlobLoc {
    fn of(pack: u32, e: &PackEntry) -> BlobLoc {
        BlobLoc {
            pack,
            offset: e.offset,
            stored_len: e.stored_len,
            raw_len: e.raw_len,
            kind: e.kind,
            compression: e.compression,
        }
    }
}

impl Index {
    fn pack_number(&mut self, pack: Id) -> u32 {
        *self.pack_no.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            (self.packs.len() - 1) as u32
        })
    }

    /// Mark packs as deletion candidates.
    pub fn set_doomed(&mut self, packs: impl IntoIterator<Item = Id>) {
        for p in packs {
            let no = self.pack_number(p);
            self.doomed.insert(no);
        }
    }

    /// Every recorded location of `id`.
    fn locations(&self, id: &Id) -> impl Iterator<Item = BlobLoc> + '_ {
        let id = *id;
        let spilled = self.base.iter().chain(self.added.iter()).flat_map(move |b| b.find(&id));
        spilled.chain(self.recent.get(&id).into_iter().flatten().copied())
    }

    /// Add `entries`' sealed bytes to [`Index::stored_bytes`] unless pack `no` was
    /// counted already (a pack listed by two index files, as during a prune).
    fn count_pack(&mut self, no: u32, entries: &[PackEntry]) {
        if self.counted.insert(no) {
            self.stored += entries.iter().map(|e| u64::from(e.stored_len)).sum::<u64>();
        }
    }

    /// Sealed bytes of every blob copy in the indexed packs: what the repository stores,
    /// less pack headers and metadata files. Summed while loading, so a backup can record
    /// the repository's size in its snapshot without listing the storage.
    pub fn stored_bytes(&self) -> u64 {
        self.stored
    }

    /// Add a pack written (or indexed) after loading.
    pub fn add_pack(&mut self, pack: Id, entries: &[PackEntry]) {
        let no = self.pack_number(pack);
        self.count_pack(no, entries);
        for e in entries {
            if !self.contains(&e.id) {
                self.count += 1;
            }
            self.recent.entry(e.id).or_default().push(BlobLoc::of(no, e));
            if let Some(b) = e.base {
                self.deltas.insert(e.id, b);
            }
        }
        if self.recent.len() >= SPILL_RECENT {
            self.spill_recent();
        }
    }

    /// Move `recent` into `added`. If the spill file cannot be created or written, the
    /// entries stay in RAM: only memory is lost.
    fn spill_recent(&mut self) {
        if self.added.is_none() {
            let Ok(file) = tempfile::tempfile() else { return };
            self.added = Some(Spilled::new(vec![], file).0);
        }
        let records: Vec<(Id, BlobLoc, Option<Id>)> = self
            .recent
            .iter()
            .flat_map(|(id, locs)| locs.iter().map(|l| (*id, *l, self.deltas.get(id).copied())))
            .collect();
        let added = self.added.as_mut().expect("created above");
        if added.append(&records).is_ok() {
            self.recent = HashMap::new();
        }
    }

    /// Record copies found damaged (blob, pack).
    pub fn set_damaged(&mut self, copies: impl IntoIterator<Item = (Id, Id)>) {
        for (blob, pack) in copies {
            let no = self.pack_number(pack);
            self.damaged.insert((blob, no));
        }
    }

    /// A copy that is neither in a pack marked for deletion nor known damaged.
    fn live(&self, id: &Id, l: &BlobLoc) -> bool {
        !self.doomed.contains(&l.pack) && !self.damaged.contains(&(*id, l.pack))
    }

    /// True if a new snapshot may reference this blob without storing it again: it is
    /// indexed in a pack that no prune has marked for deletion and no check found damaged
    /// (and so is its delta base). A blob whose only copy is damaged is stored again by
    /// the next backup that meets it: damage heals.
    pub fn is_reusable(&self, id: &Id) -> bool {
        self.locations(id).any(|l| self.live(id, &l))
            && self.base_of(id).is_none_or(|b| self.locations(&b).any(|l| self.live(&b, &l)))
    }

    /// The base a delta blob is decoded against (`None` for blobs stored whole).
    pub fn base_of(&self, id: &Id) -> Option<Id> {
        self.deltas.get(id).copied()
    }

    /// Add the delta bases of `used` blobs: what must be kept for them to stay readable.
    pub fn with_bases(&self, used: &mut BlobSet) {
        let bases: Vec<Id> = self.deltas.iter().filter(|(d, _)| used.contains(self, d)).map(|(_, b)| *b).collect();
        for b in &bases {
            used.insert(self, b);
        }
    }

    pub fn add_file(&mut self, f: &IndexFile) {
        for (pack, entries) in &f.packs {
            self.add_pack(*pack, entries);
        }
    }

    /// A location of `id`, preferring packs no prune has marked.
    pub fn get(&self, id: &Id) -> Option<BlobLoc> {
        let mut first = None;
        for l in self.locations(id) {
            if self.live(id, &l) {
                return Some(l);
            }
            first.get_or_insert(l);
        }
        first
    }

    /// Every location of `id`, live copies first: where to look for another copy when one
    /// is damaged.
    pub fn all_locations(&self, id: &Id) -> Vec<BlobLoc> {
        let mut v: Vec<BlobLoc> = self.locations(id).collect();
        v.sort_by_key(|l| !self.live(id, l));
        v.dedup();
        v
    }

    pub fn contains(&self, id: &Id) -> bool {
        self.locations(id).next().is_some()
    }

    pub fn pack_id(&self, no: u32) -> Id {
        self.packs[no as usize]
    }

    pub fn packs(&self) -> &[Id] {
        &self.packs
    }

    pub fn blob_count(&self) -> usize {
        self.count
    }

    /// Each distinct blob once, with one of its locations. Reads the spill file in order,
    /// 20,000 records at a time.
    pub fn blobs(&self) -> impl Iterator<Item = (Id, BlobLoc)> + '_ {
        let unlisted = |s: &Option<Spilled>, id: &Id| s.as_ref().is_none_or(|b| b.find(id).next().is_none());
        let base = self.base.iter().flat_map(Spilled::scan);
        let added = self.added.iter().flat_map(Spilled::scan).filter(move |(id, _)| unlisted(&self.base, id));
        let recent = self
            .recent
            .iter()
            .filter(move |(id, _)| unlisted(&self.base, id) && unlisted(&self.added, id))
            .map(|(id, locs)| (*id, locs[0]));
        base.chain(added).chain(recent)
    }

    /// The index files this index was loaded from.
    pub fn files(&self) -> &[Id] {
        &self.files
    }

    /// Every pack some loaded index file lists (not those added since loading).
    pub fn indexed_packs(&self) -> impl Iterator<Item = Id> + '_ {
        self.runs.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(no, _)| self.packs[no])
    }

    /// True if a loaded index file lists `pack`.
    pub fn lists_pack(&self, pack: &Id) -> bool {
        self.run_of(pack).is_some()
    }

    fn run_of(&self, pack: &Id) -> Option<(u32, u32)> {
        let no = *self.pack_no.get(pack)?;
        self.runs.get(no as usize).copied().flatten()
    }

    /// A pack's entries as the first loaded index file listing it gives them, read back
    /// from the spill file.
    /// `None` when no loaded index file lists the pack.
    pub fn pack_entries(&self, pack: &Id) -> std::io::Result<Option<Vec<PackEntry>>> {
        use std::os::unix::fs::FileExt;
        let Some((first, n)) = self.run_of(pack) else { return Ok(None) };
        let Some(base) = &self.base else { return Ok(Some(vec![])) };
        let mut buf = vec![0u8; n as usize * RECORD_LEN];
        base.file.read_exact_at(&mut buf, u64::from(first) * RECORD_LEN as u64)?;
        let entries = buf
            .chunks_exact(RECORD_LEN)
            .map(|r| {
                let (id, l) = decode_record(r);
                PackEntry {
                    id,
                    kind: l.kind,
                    compression: l.compression,
                    offset: l.offset,
                    stored_len: l.stored_len,
                    raw_len: l.raw_len,
                    base: (r[50] == 1).then(|| Id(r[52..].try_into().expect("32 bytes"))),
                }
            })
            .collect();
        Ok(Some(entries))
    }

    /// Location or a [`RepoError::MissingBlob`].
    pub fn locate(&self, id: &Id) -> Result<BlobLoc, RepoError> {
        self.get(id).ok_or(RepoError::MissingBlob { id: *id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32, kind: BlobKind) -> PackEntry {
        let mut id = [0u8; 32];
        // Shared 8-byte prefixes for pairs of ids, to exercise prefix runs.
        id[..4].copy_from_slice(&(i / 2).to_be_bytes());
        id[8..12].copy_from_slice(&i.to_le_bytes());
        PackEntry {
            id: Id(id),
            kind,
            compression: Compression::Zstd,
            offset: i * 10,
            stored_len: 100 + i,
            raw_len: 200 + i,
            base: None,
        }
    }

    #[test]
    fn spilled_index_finds_every_blob_and_prefers_live_packs() {
        let (p1, p2, p3) = (Id([1; 32]), Id([2; 32]), Id([3; 32]));
        let f1 =
            IndexFile { supersedes: vec![], packs: vec![(p1, (0..1000).map(|i| entry(i, BlobKind::Data)).collect())] };
        // Blob 7 also lives in p2, which prune has marked; blob 8 only in p2.
        let f2 = IndexFile {
            supersedes: vec![],
            packs: vec![(p2, vec![entry(7, BlobKind::Data), entry(1000, BlobKind::Tree)])],
        };
        let mut b = IndexBuilder::new(10).unwrap();
        b.set_doomed([p2]);
        b.add_file(&f2).unwrap();
        b.add_file(&f1).unwrap();
        let mut idx = b.finish().unwrap();
        assert_eq!(idx.blob_count(), 1001);
        for i in 0..1000 {
            let e = entry(i, BlobKind::Data);
            let l = idx.get(&e.id).unwrap();
            assert_eq!((idx.pack_id(l.pack), l.offset, l.stored_len, l.raw_len), (p1, i * 10, 100 + i, 200 + i));
            assert!(idx.is_reusable(&e.id));
        }
        let only_doomed = entry(1000, BlobKind::Tree).id;
        assert!(idx.contains(&only_doomed) && !idx.is_reusable(&only_doomed));
        assert_eq!(idx.get(&only_doomed).unwrap().kind, BlobKind::Tree);
        assert!(!idx.contains(&entry(5000, BlobKind::Data).id));
        assert_eq!(idx.blobs().count(), 1001);

        // Added after loading: found, counted once, listed once.
        idx.add_pack(p3, &[entry(5000, BlobKind::Data), entry(3, BlobKind::Data)]);
        assert!(idx.is_reusable(&entry(5000, BlobKind::Data).id));
        assert_eq!(idx.blob_count(), 1002);
        assert_eq!(idx.blobs().count(), 1002);
        assert_eq!(
            idx.blobs().map(|(_, l)| u64::from(l.raw_len)).sum::<u64>(),
            (0..=1000).map(|i| 200 + i as u64).sum::<u64>() + 5200
        );
    }

    #[test]
    fn blobs_added_after_loading_are_spilled_and_still_found_once() {
        let (p1, p2, p3) = (Id([1; 32]), Id([2; 32]), Id([3; 32]));
        let n = SPILL_RECENT as u32;
        // An empty repository (no base), as a first backup sees it.
        let mut idx = Index::default();
        idx.add_pack(p1, &(0..n).map(|i| entry(i, BlobKind::Data)).collect::<Vec<_>>());
        assert!(idx.recent.is_empty(), "a full hash map is spilled");
        // A second batch interleaves with the first in key order (pairs share prefixes),
        // and repeats two blobs of the first in another pack.
        let mut second: Vec<PackEntry> = (n..2 * n + 10).map(|i| entry(i, BlobKind::Tree)).collect();
        second.extend([entry(0, BlobKind::Data), entry(n - 1, BlobKind::Data)]);
        idx.add_pack(p2, &second);
        idx.add_pack(p3, &[entry(3 * n, BlobKind::Data)]);
        assert!(!idx.recent.is_empty() && idx.recent.len() < SPILL_RECENT);
        assert_eq!(idx.blob_count(), 2 * n as usize + 11);
        assert_eq!(idx.blobs().count(), 2 * n as usize + 11);
        for i in (0..2 * n + 10).step_by(997).chain([0, n - 1, n, 2 * n + 9, 3 * n]) {
            let e = entry(i, if (n..2 * n + 10).contains(&i) { BlobKind::Tree } else { BlobKind::Data });
            let l = idx.get(&e.id).unwrap_or_else(|| panic!("blob {i} lost"));
            assert_eq!((l.kind, l.offset, l.raw_len), (e.kind, e.offset, e.raw_len));
            assert!(idx.is_reusable(&e.id));
        }
        assert_eq!(idx.all_locations(&entry(0, BlobKind::Data).id).len(), 2);
        assert!(!idx.contains(&entry(3 * n + 1, BlobKind::Data).id));
    }

    #[test]
    fn a_pack_listing_reads_back_as_its_first_index_file_gave_it() {
        let (p1, p2) = (Id([1; 32]), Id([2; 32]));
        let mut delta = entry(5, BlobKind::Data);
        delta.compression = Compression::Delta;
        delta.base = Some(entry(4, BlobKind::Data).id);
        let l1: Vec<PackEntry> = vec![entry(4, BlobKind::Data), delta.clone(), entry(6, BlobKind::Tree)];
        // The same delta blob in p2 against another base: each listing keeps its own.
        let mut other = delta.clone();
        other.base = Some(entry(9, BlobKind::Data).id);
        let l2 = vec![other.clone(), entry(7, BlobKind::Data)];
        let f1 = IndexFile { supersedes: vec![], packs: vec![(p1, l1.clone())] };
        // A later file listing p1 again (a duplicate) does not change its listing.
        let f2 = IndexFile { supersedes: vec![], packs: vec![(p2, l2.clone()), (p1, l1[..1].to_vec())] };
        let mut b = IndexBuilder::new(0).unwrap();
        b.set_doomed([Id([3; 32])]);
        b.add_named_file(Id([10; 32]), &f1).unwrap();
        b.add_named_file(Id([11; 32]), &f2).unwrap();
        let idx = b.finish().unwrap();
        assert_eq!(idx.files(), &[Id([10; 32]), Id([11; 32])]);
        let mut packs: Vec<Id> = idx.indexed_packs().collect();
        packs.sort();
        assert_eq!(packs, vec![p1, p2], "a pack only marked doomed is not listed");
        assert_eq!(idx.pack_entries(&p1).unwrap(), Some(l1));
        assert_eq!(idx.pack_entries(&p2).unwrap(), Some(l2));
        assert_eq!(idx.pack_entries(&Id([3; 32])).unwrap(), None);
        assert!(idx.lists_pack(&p1) && !idx.lists_pack(&Id([3; 32])));
    }
}
