//! Make a repository whose index lists N blobs (in fake packs), to measure what a large
//! index costs the commands that load it: `benches/index-memory.sh`.
//!
//!     cargo run --release --example synth_index -- DIR N
//!
//! The password is taken from CELLAR_PASSWORD. Packs are not written: only commands that
//! do not read the fake blobs (backup of other data, stats, snapshots) make sense on it.
use cellar::repo::blob::{BlobKind, Compression};
use cellar::repo::file::index::IndexFile;
use cellar::repo::file::pack::PackEntry;
use cellar::repo::{Id, InitOptions, LocalBackend, Repository};
use std::sync::Arc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: synth_index DIR N");
    let n: u64 = args[2].parse()?;
    let pw = std::env::var("CELLAR_PASSWORD")?;
    let repo = Repository::init(Arc::new(LocalBackend::new(&args[1])), pw.as_bytes(), &InitOptions::default())?;
    let per_pack = 10_000u64;
    let per_file = 50u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut made = 0;
    while made < n {
        let mut f = IndexFile::default();
        while made < n && (f.packs.len() as u64) < per_file {
            let mut pack = [0u8; 32];
            pack.iter_mut().for_each(|b| *b = next() as u8);
            let k = per_pack.min(n - made);
            let entries = (0..k)
                .map(|i| {
                    let mut id = [0u8; 32];
                    for c in id.chunks_mut(8) {
                        c.copy_from_slice(&next().to_le_bytes());
                    }
                    PackEntry {
                        id: Id(id),
                        kind: BlobKind::Data,
                        compression: Compression::None,
                        offset: (i * 1000) as u32,
                        stored_len: 1000,
                        raw_len: 960,
                        base: None,
                    }
                })
                .collect();
            f.packs.push((Id(pack), entries));
            made += k;
        }
        repo.save_index(&f)?;
    }
    println!("{made} blobs indexed in {}", args[1]);
    Ok(())
}
