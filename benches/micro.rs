//! Micro-benchmarks of the hot loops of a backup: chunking, BLAKE3 ids, zstd (including the
//! compressibility probe on incompressible data), sealing, pack building and index lookups.
//! `cargo bench --bench micro`. Compare ratios between runs, not absolute times: the
//! machine is shared.

use cellar::chunk::{ChunkerParams, Cutter};
use cellar::repo::blob::{self, BlobKind};
use cellar::repo::crypto::MasterKey;
use cellar::repo::file::pack::{PackBuilder, PackEntry};
use cellar::repo::index::Index;
use cellar::repo::Id;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    blake3::Hasher::new().update(b"bench").finalize_xof().fill(&mut v);
    v
}

fn sql(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 100);
    let mut i = 0u64;
    while v.len() < len {
        v.extend_from_slice(
            format!("INSERT INTO alert_history VALUES ({i}, 'fp{:x}', 'firing', now());\n", i * 2_654_435_761 % 9973)
                .as_bytes(),
        );
        i += 1;
    }
    v.truncate(len);
    v
}

fn chunking(c: &mut Criterion) {
    let data = random(32 << 20);
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, p) in
        [("binary-1MiB", ChunkerParams::default_for_new_repo()), ("text-4KiB", ChunkerParams::text_for_new_repo())]
    {
        let cutter = Cutter::new(&ChunkerParams { seed: 7, ..p });
        g.bench_function(name, |b| {
            let mut out = Vec::new();
            b.iter(|| {
                out.clear();
                cutter.cut(black_box(&data), true, &mut out)
            });
        });
    }
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let key = [7u8; 32];
    let mut g = c.benchmark_group("blake3-keyed");
    for size in [4 << 10, 1 << 20] {
        let data = random(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &data, |b, d| {
            b.iter(|| blob::blob_id(&key, black_box(d)));
        });
    }
    g.finish();
}

fn compression(c: &mut Criterion) {
    let key = MasterKey::from_bytes([1; 32]);
    let mut g = c.benchmark_group("encode-blob");
    for (name, data) in [("sql-1MiB", sql(1 << 20)), ("random-1MiB", random(1 << 20))] {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| b.iter(|| blob::encode(&key, 3, Id::default(), BlobKind::Data, black_box(&data))));
    }
    g.finish();
}

/// Delta-base search and delta encoding: the per-chunk cost of format v2's deltas.
fn deltas(c: &mut Criterion) {
    let key = MasterKey::from_bytes([1; 32]);
    let base = sql(256 << 10);
    let mut changed = base.clone();
    for i in (0..changed.len()).step_by(9000) {
        changed[i] ^= 1;
    }
    let mut g = c.benchmark_group("delta");
    g.throughput(Throughput::Bytes(changed.len() as u64));
    g.bench_function("sketch-256KiB", |b| b.iter(|| cellar::chunk::similar::sketch(black_box(&changed))));
    g.bench_function("encode-with-base-256KiB", |b| {
        b.iter(|| {
            blob::encode_with_base(
                &key,
                3,
                Id::default(),
                black_box(&changed),
                &blob::DeltaBase {
                    id: Id([1; 32]),
                    plain: &base,
                    previous: None,
                    max_fraction: blob::DELTA_MAX_FRACTION,
                },
            )
        });
    });
    g.finish();
}

fn sealing(c: &mut Criterion) {
    let key = MasterKey::from_bytes([1; 32]);
    let data = random(1 << 20);
    let sealed = key.encrypt(&data);
    let mut g = c.benchmark_group("xchacha20poly1305");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("seal-1MiB", |b| b.iter(|| key.encrypt(black_box(&data))));
    g.bench_function("open-1MiB", |b| b.iter(|| key.decrypt(black_box(&sealed)).unwrap()));
    g.finish();
}

/// The floor of the backup pipeline on incompressible data: what every stored byte costs
/// at least (its keyed id, and sealing), on one core. Issue 18's target: backup throughput
/// per core within 3x of this.
fn floor(c: &mut Criterion) {
    let key = MasterKey::from_bytes([1; 32]);
    let id_key = [7u8; 32];
    let data = random(1 << 20);
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("blake3-keyed+seal-1MiB", |b| {
        b.iter(|| (blob::blob_id(&id_key, black_box(&data)), key.encrypt(black_box(&data))));
    });
    g.finish();
}

fn packing_and_index(c: &mut Criterion) {
    let key = MasterKey::from_bytes([1; 32]);
    let blobs: Vec<_> = (0..256u32)
        .map(|i| {
            blob::encode(&key, 3, Id(*blake3::hash(&i.to_le_bytes()).as_bytes()), BlobKind::Data, &random(64 << 10))
        })
        .collect();
    c.bench_function("pack-build-16MiB", |b| {
        b.iter(|| {
            let mut pb = PackBuilder::new(17 << 20);
            for bl in &blobs {
                pb.add(bl);
            }
            pb.finish(&key)
        });
    });

    let mut idx = Index::default();
    let ids: Vec<Id> = (0..1_000_000u32).map(|i| Id(*blake3::hash(&i.to_le_bytes()).as_bytes())).collect();
    for chunk in ids.chunks(1000) {
        let entries: Vec<PackEntry> = chunk
            .iter()
            .map(|id| PackEntry {
                id: *id,
                kind: BlobKind::Data,
                compression: blob::Compression::None,
                offset: 0,
                stored_len: 1,
                raw_len: 1,
                base: None,
            })
            .collect();
        idx.add_pack(Id(*blake3::hash(&chunk[0].0).as_bytes()), &entries);
    }
    let probes: Vec<Id> = (0..1000u32).map(|i| Id(*blake3::hash(&(i * 997).to_le_bytes()).as_bytes())).collect();
    c.bench_function("index-lookup-1M-blobs-x1000", |b| b.iter(|| probes.iter().filter(|p| idx.contains(p)).count()));
}

criterion_group!(benches, chunking, hashing, compression, deltas, sealing, floor, packing_and_index);
criterion_main!(benches);
