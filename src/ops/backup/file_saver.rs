//! Reading one object: open it, choose how to cut it from its first bytes, cut, hash,
//! deduplicate and store its chunks window by window (bounded memory whatever the size),
//! decoding gzip objects first when the repository stores them transparently.

use rayon::prelude::*;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::ctx::Ctx;
use super::delta::{Found, NewChunk};
use super::tree_saver::{fill, DirState};
use crate::chunk::similar::{sketch, BaseWalker, Sketch};
use crate::chunk::{looks_like_text, WindowedChunker, SNIFF_LEN};
use crate::id::Id;
use crate::repo::blob::BlobKind;
use crate::repo::file::tree::Node;
use crate::source::{SourceEntry, SourceTree};

/// Window of a file read at once by one worker (raised to 4 × the largest chunk).
const WINDOW: usize = 16 << 20;

/// Where a file job's bytes come from: a path of a tree (with what its listing said, to
/// notice a change while reading), or a stream.
pub(super) enum JobSource {
    Path(Arc<dyn SourceTree>, PathBuf, SourceEntry),
    Reader(Box<dyn Read + Send>),
}

/// A changed or new file for a reader thread, and the directory slot its node fills.
pub(super) struct FileJob {
    pub source: JobSource,
    pub node: Node,
    pub dir: Arc<DirState>,
    pub slot: usize,
}

/// Read, cut and store one file, then fill its slot (with `None` if it could not be read:
/// it is reported, and a TSDB block it belongs to is left out whole). A local file that
/// changes while it is read (size, mtime or ctime differ afterwards) is read once more;
/// if it changes again it is stored as last read and reported as possibly torn.
pub(super) fn run_job(ctx: &Ctx, job: FileJob, window: &mut Vec<u8>) {
    let FileJob { source, node, dir, slot } = job;
    if ctx.failed() {
        return fill(ctx, &dir, slot, None);
    }
    let (src, p, mut entry) = match source {
        JobSource::Reader(r) => {
            let mut node = node;
            let res = read_object(ctx, r, None, window, &mut node);
            return finish(ctx, res, node, None, &dir, slot);
        }
        JobSource::Path(src, p, entry) => (src, p, entry),
    };
    let shown = src.display(&p);
    let mut node = node;
    for attempt in 0..2 {
        let f = match src.open(&p) {
            Ok(f) => f,
            Err(e) => {
                // A block the compactor deleted under us: drop the block, not an error.
                if !(e.kind() == std::io::ErrorKind::NotFound && dir.fail_block()) {
                    ctx.warn(format!("{shown}: {e}"));
                }
                return fill(ctx, &dir, slot, None);
            }
        };
        let mut n = node.clone();
        let res = read_object(ctx, f, Some((src.clone(), p.clone())), window, &mut n);
        if res.is_ok() && src.changed(&p, &entry) {
            if dir.fail_block() {
                // Block files never change once complete: the block is being replaced.
                return fill(ctx, &dir, slot, None);
            }
            if attempt == 0 {
                if let Ok(now) = src.stat(&p, &entry.name) {
                    ctx.count.bytes.fetch_add(now.size.wrapping_sub(node.size), Relaxed);
                    (node.size, node.mtime_ns, node.mode) = (now.size, now.mtime_ns, now.mode);
                    entry = now;
                }
                continue;
            }
            ctx.warn(format!("{shown}: changed while being read, twice; stored as last read, possibly torn"));
        }
        return finish(ctx, res, n, Some(shown), &dir, slot);
    }
}

/// One read of an object: sniff its first bytes, then cut it as gzip-transparent text
/// (where the source can be read again should decoding fail) or as it is.
fn read_object(
    ctx: &Ctx,
    mut reader: Box<dyn Read + Send>,
    again: Option<(Arc<dyn SourceTree>, PathBuf)>,
    window: &mut Vec<u8>,
    node: &mut Node,
) -> Result<(Vec<Id>, u64, bool), ChunkError> {
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    (&mut reader).take(SNIFF_LEN as u64).read_to_end(&mut prefix).map_err(ChunkError::Read)?;
    let gzip = ctx.gzip && crate::gzip::header_len(&prefix).is_ok_and(|h| h.is_some());
    let pg_custom = ctx.pg_custom && crate::gzip::is_pg_custom(&prefix);
    let mut reader = std::io::Cursor::new(prefix).chain(reader);
    match again {
        Some(again) if gzip => chunk_decoded(ctx, Box::new(crate::gzip::Decoder::new(reader)), again, window, node),
        Some(again) if pg_custom => {
            chunk_decoded(ctx, Box::new(crate::gzip::PgCustomDecoder::new(reader)), again, window, node)
        }
        _ => chunk_stream(ctx, &mut reader, window, false, series_name(node)),
    }
}

/// Objects smaller than this are never ordered behind their versions: they are a chunk or
/// two, while thousands of small files named alike (`f000123.json`) would be cut one by
/// one.
const MIN_VERSION_SIZE: u64 = 256 << 10;

/// The name that puts an object in a series of versions, when it is large enough to be one
/// worth ordering (the size listed: a gzip object's compressed size).
fn series_name(node: &Node) -> Option<&[u8]> {
    (node.size >= MIN_VERSION_SIZE).then_some(&node.name[..])
}

/// Fill the file's slot with what the read produced.
fn finish(
    ctx: &Ctx,
    result: Result<(Vec<Id>, u64, bool), ChunkError>,
    mut node: Node,
    path: Option<String>,
    dir: &Arc<DirState>,
    slot: usize,
) {
    let label = String::from_utf8_lossy(&node.name).into_owned();
    match result {
        Ok((content, size, text)) => {
            node.text = text && ctx.successors.is_some();
            if let Some(p) = &path {
                if size != node.size && dir.fail_block() {
                    return fill(ctx, dir, slot, None);
                }
                if size != node.size {
                    ctx.warn(format!("{p}: changed while being read ({} → {size} bytes); stored as read", node.size));
                    ctx.count.bytes.fetch_add(size.wrapping_sub(node.size), Relaxed);
                }
            } else {
                ctx.count.bytes.fetch_add(size, Relaxed);
            }
            node.size = size;
            node.content = content;
            fill(ctx, dir, slot, Some(node));
        }
        Err(ChunkError::Read(e)) => {
            dir.fail_block();
            let what = path.unwrap_or(label);
            ctx.warn(format!("{what}: {e}"));
            fill(ctx, dir, slot, None);
        }
        Err(ChunkError::Store(e)) => {
            ctx.fail(e);
            fill(ctx, dir, slot, None);
        }
    }
}

enum ChunkError {
    /// The source failed: skip the object, keep going.
    Read(std::io::Error),
    /// The repository failed: stop the backup.
    Store(anyhow::Error),
}

/// Cut, hash, deduplicate and store one object; returns its chunk ids, its length and
/// whether it was cut as text (and so offers its chunks as delta bases). `decoded`: the
/// bytes are the text of a gzip object (a dump, most likely). `series`: the name that
/// places a text object in its series of versions ([`super::series`]), if it has one.
fn chunk_stream(
    ctx: &Ctx,
    reader: &mut dyn Read,
    window: &mut Vec<u8>,
    decoded: bool,
    series: Option<&[u8]>,
) -> Result<(Vec<Id>, u64, bool), ChunkError> {
    // The first bytes choose the chunker profile (text or binary).
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    reader.take(SNIFF_LEN as u64).read_to_end(&mut prefix).map_err(ChunkError::Read)?;
    let chunking = ctx.profiles.for_prefix(&prefix);
    let text = looks_like_text(&prefix);
    let successors = ctx.successors.as_ref().filter(|_| text);
    // TSDB record groups find bases by content only: a replica's group that differs from
    // the merged block's in a record or two (a missed sample) is a delta of it.
    let records = matches!(chunking, crate::chunk::Chunking::Records(..));
    let similar = ctx.successors.is_some() && (text || records);
    let sketches = if records { &ctx.record_sketches } else { &ctx.sketches };
    let mut place = series.filter(|_| successors.is_some()).map(|name| ctx.series.enter(name));
    let object = ctx.pending_bases.object();
    let mut walker = BaseWalker::default();
    let mut wc = WindowedChunker::new(std::io::Cursor::new(prefix).chain(reader), chunking, WINDOW, window);
    let mut ids: Vec<Id> = Vec::new();
    loop {
        let before = wc.bytes_read();
        let batch = match wc.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => return Err(ChunkError::Read(e)),
        };
        let chunks = batch.chunks();
        if let Some(p) = &place {
            p.wait_for(before + chunks.iter().map(|c| c.len() as u64).sum::<u64>());
        }
        // Sketches only for chunks the repository lacks (the ones that may become deltas).
        let hash = |c: &[u8]| {
            let id = ctx.repo.blob_id(c);
            (id, (similar && !ctx.repo.index().is_reusable(&id)).then(|| sketch(c)))
        };
        let hashed: Vec<(Id, Option<Sketch>)> =
            if chunks.len() == 1 { vec![hash(chunks[0])] } else { chunks.par_iter().map(|c| hash(c)).collect() };
        let batch_ids: Vec<Id> = hashed.iter().map(|h| h.0).collect();
        // In order: which chunks are new, and the base each new one may be a delta of.
        let mut new = Vec::new();
        for (i, (id, sk)) in hashed.iter().enumerate() {
            let claimed = ctx.claim(id);
            let aligned = successors.and_then(|s| walker.step(s, *id, !claimed));
            if !claimed {
                continue;
            }
            let base = sk.as_ref().and_then(|sk| {
                let len = chunks[i].len();
                // Most similar by content, else the old chunk at the same place. (A weaker
                // fallback, such as the previous chunk's base, was measured to cost more:
                // a mediocre delta also keeps the chunk from becoming a good future base.)
                // The newest version of this content tells how stale the base has become.
                let previous = sketches.newest_version(sk);
                sketches
                    .most_similar(sk)
                    .and_then(|o| ctx.base_for(&o, len, previous, object))
                    .or_else(|| aligned.and_then(|o| ctx.base_for(&o, len, Some(o), object)))
            });
            new.push((i, base, *sk));
        }
        // A window sharing nothing with stored chunks (no chunk known, none with a base):
        // not a version of the one before it (logs of one name pattern), so stop following.
        if new.len() == hashed.len() && new.iter().all(|n| n.1.is_none()) {
            if let Some(p) = &mut place {
                p.leave();
            }
        }
        let store = |&(i, found, sk): &(usize, Option<Found>, Option<Sketch>)| {
            let kind = match (sk.is_some(), decoded) {
                (false, _) => NewChunk::Other,
                (true, _) if records => NewChunk::Records,
                (true, false) => NewChunk::Text,
                (true, true) => NewChunk::GzipText,
            };
            ctx.store_new(batch_ids[i], chunks[i], found, kind, object)
        };
        let stored: anyhow::Result<Vec<bool>> =
            if new.len() == 1 { store(&new[0]).map(|w| vec![w]) } else { new.par_iter().map(store).collect() };
        // Sketches of the new text chunks (whole ones are bases, deltas the newest version of
        // their content), in object order: the same data always indexes the same way.
        for (&(i, _, sk), whole) in new.iter().zip(stored.map_err(ChunkError::Store)?) {
            if let Some(s) = sk {
                sketches.add(batch_ids[i], &s, whole);
                if !records {
                    ctx.new_sketches.lock().push((batch_ids[i], s));
                }
            }
        }
        if let Some(s) = successors {
            s.record(ids.last().copied(), &batch_ids);
        }
        ids.extend(batch_ids);
        if let Some(p) = &place {
            p.stored(wc.bytes_read());
        }
        ctx.progress.bytes.fetch_add(wc.bytes_read() - before, Relaxed);
    }
    Ok((ids, wc.bytes_read(), text))
}

/// Store a gzip object (or a pg_dump archive) as decoded text and set its recipe on
/// `node`; when it cannot be recreated bit-exactly, read the source again and store it raw.
fn chunk_decoded(
    ctx: &Ctx,
    mut dec: Box<dyn crate::gzip::Decode + '_>,
    (src, p): (Arc<dyn SourceTree>, PathBuf),
    window: &mut Vec<u8>,
    node: &mut Node,
) -> Result<(Vec<Id>, u64, bool), ChunkError> {
    let r = chunk_stream(ctx, &mut dec, window, true, series_name(node));
    // Progress counts source bytes, not decoded ones.
    ctx.progress.bytes.fetch_sub(dec.emitted(), Relaxed);
    match r {
        Ok((content, _, text)) => {
            let (recipe, size) = gzip_recipe(ctx, dec.finish()).map_err(ChunkError::Store)?;
            ctx.progress.bytes.fetch_add(size, Relaxed);
            node.gzip = Some(recipe);
            Ok((content, size, text))
        }
        Err(ChunkError::Read(e)) if crate::gzip::NotReproducible::is_cause_of(&e) => {
            ctx.notice(format!("{}: {e}; stored as raw bytes", src.display(&p)));
            let mut again = src.open(&p).map_err(ChunkError::Read)?;
            chunk_stream(ctx, &mut again, window, false, series_name(node))
        }
        Err(e) => Err(e),
    }
}

/// Store a decoded gzip object's corrections; returns the recipe and the object's size.
fn gzip_recipe(ctx: &Ctx, d: crate::gzip::Decoded) -> anyhow::Result<(crate::gzip::Recipe, u64)> {
    let mut recipe = crate::gzip::Recipe { content_len: d.plain + d.tail, members: vec![] };
    let mut size = d.tail;
    for dm in d.members {
        size += (dm.header.len() + dm.trailer.len()) as u64;
        size += dm.framed.as_ref().map_or(0, |f| (f.head.len() + f.tail.len()) as u64 + f.overhead());
        let mut m = crate::gzip::Member { header: dm.header, framed: dm.framed, segments: vec![], trailer: dm.trailer };
        for (plain, corrections) in dm.segments {
            m.segments.push(crate::gzip::Segment { plain, corrections: ctx.store(BlobKind::Data, &corrections)? });
        }
        recipe.members.push(m);
    }
    Ok((recipe, size + d.deflate))
}
