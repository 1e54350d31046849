//! Every parser of untrusted bytes, fed mutations of valid inputs (and the seed corpus in
//! `tests/fuzz-corpus/`) and plain random bytes: none may panic, hang or allocate without
//! bound. Property tests on stable Rust (proptest); `CELLAR_FUZZ_CASES=100000 cargo test
//! --test tests fuzz` runs a long campaign, CI a short one.

use cellar::repo::file::RepoFile;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn cases() -> u32 {
    std::env::var("CELLAR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fuzz-corpus/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A valid input with some bytes flipped, some cut off, or some inserted.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    (prop::collection::vec((0..len, any::<u8>()), 0..8), 0..=len, prop::collection::vec(any::<u8>(), 0..16), 0..=len)
        .prop_map(move |(flips, cut, insert, at)| {
            let mut b = seed.clone();
            for (i, x) in flips {
                if i < b.len() {
                    b[i] ^= x;
                }
            }
            b.truncate(cut.max(1).min(b.len()));
            let at = at.min(b.len());
            b.splice(at..at, insert);
            b
        })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

/// Mostly mutations of `seed`, sometimes noise.
fn input(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => mutated(seed), 1 => bytes()]
}

fn index_seed() -> Vec<u8> {
    use cellar::repo::blob::{BlobKind, Compression};
    use cellar::repo::file::pack::PackEntry;
    let e = |i: u8, c| PackEntry {
        id: cellar::Id([i; 32]),
        kind: BlobKind::Data,
        compression: c,
        offset: u32::from(i) * 100,
        stored_len: 100,
        raw_len: 90,
        base: (c == Compression::Delta).then_some(cellar::Id([9; 32])),
    };
    cellar::repo::file::index::IndexFile {
        supersedes: vec![cellar::Id([7; 32])],
        packs: vec![(cellar::Id([1; 32]), vec![e(1, Compression::Zstd), e(2, Compression::Delta)])],
    }
    .encode()
}

fn key() -> cellar::repo::crypto::MasterKey {
    cellar::repo::crypto::MasterKey::from_bytes([3; 32])
}

fn pack_seed() -> Vec<u8> {
    let k = key();
    let mut pb = cellar::repo::file::pack::PackBuilder::new(1 << 16);
    for i in 0..3u8 {
        pb.add(&cellar::repo::blob::encode(&k, 3, cellar::Id([i; 32]), cellar::repo::blob::BlobKind::Data, &[i; 300]));
    }
    pb.finish(&k).1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn index_files(b in input(index_seed())) {
        let _ = cellar::repo::file::index::IndexFile::decode(&b);
    }

    #[test]
    fn pack_headers(b in input(pack_seed())) {
        let _ = cellar::repo::file::pack::parse_pack(&key(), "pack", &b);
    }

    #[test]
    fn sealed_messages(b in bytes()) {
        let _ = key().decrypt(&b);
    }

    #[test]
    fn blobs(b in bytes(), raw_len in 0u32..1 << 20, c in 0u8..3) {
        let compression = cellar::repo::blob::Compression::from_u8(c).unwrap();
        let sealed = key().encrypt(&b);
        let fetch = |id: &cellar::Id| Err(cellar::RepoError::MissingBlob { id: *id });
        let _ = cellar::repo::blob::decode(&key(), &[1; 32], &cellar::Id([0; 32]), compression, raw_len, &sealed, &fetch);
    }

    #[test]
    fn trees(b in input(br#"{"nodes":[{"name":"a","type":"file","size":3,"mtime_ns":1,"mode":420,"content":["0101010101010101010101010101010101010101010101010101010101010101"]},{"name":[255,1],"type":"dir","mode":493,"subtree":"0202020202020202020202020202020202020202020202020202020202020202"}]}"#.to_vec())) {
        let _ = cellar::repo::file::tree::Tree::from_bytes(&b);
    }

    #[test]
    fn snapshots(b in input(br#"{"version":1,"time":"2026-11-25T20:42:23Z","host":"h","tags":[],"sources":["/m"],"tree":"0101010101010101010101010101010101010101010101010101010101010101","parent":null,"summary":{"files":1},"tenants":[{"path":"m/t","tenant":"t","blocks":1,"min_time":0,"max_time":1,"list":"0202020202020202020202020202020202020202020202020202020202020202"}],"shard":{"group":"g","index":0,"count":2}}"#.to_vec())) {
        if let Ok(s) = cellar::repo::file::snapshot::Snapshot::decode(&b) {
            let _ = s.timestamp();
        }
    }

    #[test]
    fn configs(b in input(br#"{"format":"cellar","version":2,"id":"00112233445566778899aabbccddeeff","settings":"AAAA"}"#.to_vec())) {
        if let Ok(c) = cellar::repo::file::config::Config::parse(&b) {
            let _ = c.settings(&key());
        }
    }

    #[test]
    fn key_files(b in input(br#"{"version":1,"created":"x","host":"","user":"","kdf":{"algorithm":"argon2id","m_kib":64,"t":1,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"master_key":"AAAA"}"#.to_vec())) {
        if let Ok(k) = cellar::repo::file::key::KeyFile::decode(&b) {
            // Bounded costs only: a forged key file must not make a reader spend GiBs.
            if k.kdf.params.m_kib <= 4096 && k.kdf.params.t <= 4 {
                let _ = k.open(b"password");
            }
        }
    }

    #[test]
    fn sketch_and_verified_files(b in input({
        let mut v = b"CSK2".to_vec();
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&[0; 8 + 96]);
        v
    })) {
        let _ = cellar::repo::file::sketch::SketchFile::decode(&b);
        let _ = cellar::repo::file::verified::VerifiedFile::decode(&b);
    }

    #[test]
    fn meta_json(b in input(corpus("meta.json"))) {
        let files: BTreeMap<String, u64> = [("index".to_string(), 3668), ("chunks/000001".to_string(), 22715)].into();
        let _ = cellar::layout::tsdb::classify("p", "t", "01M8SS9DHJ58BDGWR5B7XAAQF2", &files, Some(&b), false);
        let _ = cellar::layout::tsdb_verify::verify_meta("01M8SS9DHJ58BDGWR5B7XAAQF2", &b, &files);
    }

    #[test]
    fn tsdb_chunk_segments(b in input(corpus("tsdb-chunks"))) {
        let _ = cellar::layout::tsdb_verify::verify_segment(&mut &b[..]);
        let cutter = cellar::chunk::RecordCutter::new(64 << 10);
        let mut out = vec![];
        let r = cutter.cut(&b, true, true, &mut out);
        prop_assert!(r.used <= b.len());
        prop_assert_eq!(out.iter().sum::<usize>(), r.used);
    }

    #[test]
    fn tsdb_indexes(b in input(corpus("tsdb-index"))) {
        let len = b.len() as u64;
        if len >= cellar::layout::tsdb_verify::TOC_LEN {
            if let Ok(toc) = cellar::layout::tsdb_verify::parse_toc(&b[b.len() - 52..]) {
                let _ = cellar::layout::tsdb_verify::verify_index(len, &toc, &mut &b[..]);
            }
        }
    }

    #[test]
    fn gzip_streams(b in input(gzip_of(&b"INSERT INTO t VALUES (1, 'x');\n".repeat(200)))) {
        let mut d = cellar::gzip::Decoder::new(&b[..]);
        let _ = std::io::copy(&mut d, &mut std::io::sink());
    }

    #[test]
    fn import_dop_input(b in input(corpus("dop-secrets.json"))) {
        let dir = tempfile::tempdir().unwrap();
        let _ = cellar::userconfig::import_dop(&b, "https://s3.example.com", &dir.path().join("c.toml"), dir.path());
    }
}

/// A gzip member made with the system's `gzip` (the seed of the gzip parser).
fn gzip_of(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = std::process::Command::new("gzip")
        .arg("-6")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    c.wait_with_output().unwrap().stdout
}
