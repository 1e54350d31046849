//! Format v1 test vectors (see format-spec/vectors.md). These values are a contract: if a
//! change makes one of these tests fail, it changed the on-disk format, which requires a new
//! format version, not a new expected value.

mod common;

use cellar::chunk::{ChunkerParams, Cutter};
use cellar::repo::blob::blob_id;
use cellar::repo::crypto::{derive_kek, KdfParams, MasterKey};
use cellar::repo::index::IndexFile;
use cellar::repo::pack::{parse_pack, PackEntry};
use cellar::repo::{Id, LocalBackend, Repository};
use std::path::Path;
use std::sync::Arc;

fn xof(label: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new().update(label).finalize_xof().fill(&mut out);
    out
}

fn key_0_to_31() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

#[test]
fn blob_id_is_keyed_blake3() {
    let id = blob_id(&key_0_to_31(), b"cellar format v1");
    assert_eq!(id.to_hex(), VECTOR_BLOB_ID);
}

#[test]
fn fastcdc_v2020_cut_points() {
    let data = xof(b"cellar chunker vector", 200_000);
    let p = ChunkerParams { seed: 0x0123_4567_89ab_cdef, ..ChunkerParams::with_sizes(1024, 4096, 16384) };
    let mut lens = vec![];
    Cutter::new(&p).cut(&data, true, &mut lens);
    assert_eq!(lens.iter().sum::<usize>(), data.len());
    assert_eq!(&lens[..12], VECTOR_CUTS_SEEDED);
    let p0 = ChunkerParams { seed: 0, ..p };
    let mut lens0 = vec![];
    Cutter::new(&p0).cut(&data, true, &mut lens0);
    assert_eq!(&lens0[..12], VECTOR_CUTS_UNSEEDED);
}

#[test]
fn argon2id_key_derivation() {
    let k = derive_kek(b"password", b"saltsaltsaltsalt", KdfParams { m_kib: 256, t: 1, p: 1 }).unwrap();
    assert_eq!(hex::encode(k), VECTOR_KEK);
}

#[test]
fn sealed_message_opens() {
    let key = MasterKey::from_bytes([0x42; 32]);
    let sealed = hex::decode(VECTOR_SEALED).unwrap();
    assert_eq!(key.decrypt(&sealed).unwrap(), b"cellar");
    // Layout: 24-byte nonce, ciphertext, 16-byte tag.
    assert_eq!(&sealed[..24], &[0x24; 24]);
    assert_eq!(sealed.len(), 6 + 40);
}

#[test]
fn index_file_plaintext_layout() {
    let f = IndexFile {
        supersedes: vec![Id([0xaa; 32])],
        packs: vec![(
            Id([0x11; 32]),
            vec![PackEntry {
                id: Id([0x22; 32]),
                kind: cellar::repo::blob::BlobKind::Tree,
                compression: cellar::repo::blob::Compression::Zstd,
                offset: 0x0102_0304,
                stored_len: 0x50,
                raw_len: 0x1000,
            }],
        )],
    };
    let b = f.encode();
    let mut want = b"CIX1".to_vec();
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(&[0xaa; 32]);
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(&[0x22; 32]);
    want.extend_from_slice(&[1, 1, 0, 0, 4, 3, 2, 1, 0x50, 0, 0, 0, 0, 0x10, 0, 0]);
    assert_eq!(b, want);
    assert_eq!(IndexFile::decode(&b).unwrap(), f);
}

const VECTOR_REPO: &str = "tests/vectors/repo-v1";
const VECTOR_PASSWORD: &[u8] = b"cellar test vector";

fn vector_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("vector/hello.txt", b"hello, cellar\n".to_vec()),
        ("vector/sub/xof.bin", xof(b"cellar repo vector", 50_000)),
        ("vector/zeros", vec![0u8; 100_000]),
    ]
}

/// The checked-in repository written by cellar 0.1 must stay readable, byte for byte.
#[test]
fn checked_in_v1_repository_restores_exactly() {
    let repo = Repository::open(Arc::new(LocalBackend::new(VECTOR_REPO)), VECTOR_PASSWORD).unwrap();
    let report = cellar::check::check(&repo, true).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let snaps = repo.list_snapshots().unwrap();
    assert_eq!(snaps.len(), 1);
    let (_, snap) = &snaps[0];
    assert_eq!(snap.tags, vec!["vector".to_string()]);
    let out = tempfile::tempdir().unwrap();
    let opts = cellar::restore::RestoreOptions::new(out.path());
    cellar::restore::restore(&repo, snap, &opts).unwrap();
    for (path, bytes) in vector_files() {
        assert_eq!(std::fs::read(out.path().join(path)).unwrap(), bytes, "{path}");
    }
    assert_eq!(std::fs::read_link(out.path().join("vector/link")).unwrap(), Path::new("hello.txt"));
    // Blob ids of the stored content are the keyed hashes under the repository's id key.
    let zeros = cellar::dump::lookup(&repo, snap, "vector/zeros").unwrap();
    let chunk = repo.read_blob(&zeros.content[0]).unwrap();
    assert_eq!(blob_id(repo.id_key(), &chunk), zeros.content[0]);
    // Packs parse with the documented layout, and zeros were stored compressed.
    let idx = repo.index();
    let loc = idx.get(&zeros.content[0]).unwrap();
    assert_eq!(loc.compression, cellar::repo::blob::Compression::Zstd);
    let pack = std::fs::read(Path::new(VECTOR_REPO).join(cellar::repo::pack_name(&idx.pack_id(loc.pack)))).unwrap();
    assert!(parse_pack(repo.key(), &pack).unwrap().iter().any(|e| e.id == zeros.content[0]));
}

/// Regenerates the checked-in repository: `cargo test --test format_vectors -- --ignored`.
/// Only for a new format version; v1's repository must never change.
#[test]
#[ignore]
fn make_vector_repository() {
    let src = tempfile::tempdir().unwrap();
    for (path, bytes) in vector_files() {
        let p = src.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    std::os::unix::fs::symlink("hello.txt", src.path().join("vector/link")).unwrap();
    let t = filetime::FileTime::from_unix_time(1_745_236_800, 0);
    for p in ["vector/hello.txt", "vector/sub/xof.bin", "vector/zeros", "vector/sub", "vector"] {
        filetime::set_file_times(src.path().join(p), t, t).unwrap();
    }
    let _ = std::fs::remove_dir_all(VECTOR_REPO);
    let opts = cellar::repo::InitOptions {
        chunkers: [("default".to_string(), ChunkerParams::with_sizes(1024, 4096, 16384))].into(),
        pack_size: 1 << 20,
        zstd_level: 3,
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        pack_storage_class: None,
    };
    let repo = Repository::init(Arc::new(LocalBackend::new(VECTOR_REPO)), VECTOR_PASSWORD, &opts).unwrap();
    let bo = cellar::backup::BackupOptions {
        sources: vec![src.path().join("vector")],
        tags: vec!["vector".into()],
        host: Some("vector-host".into()),
        ..Default::default()
    };
    cellar::backup::backup(Arc::new(repo), bo).unwrap();
}

/// Prints the primitive vectors (to fill in the constants for a new format version).
#[test]
#[ignore]
fn print_vectors() {
    use chacha20poly1305::aead::{Aead, KeyInit};
    println!("BLOB_ID {}", blob_id(&key_0_to_31(), b"cellar format v1").to_hex());
    let data = xof(b"cellar chunker vector", 200_000);
    for seed in [0x0123_4567_89ab_cdefu64, 0] {
        let p = ChunkerParams { seed, ..ChunkerParams::with_sizes(1024, 4096, 16384) };
        let mut lens = vec![];
        Cutter::new(&p).cut(&data, true, &mut lens);
        println!("CUTS seed={seed:x} {:?}", &lens[..12]);
    }
    let k = derive_kek(b"password", b"saltsaltsaltsalt", KdfParams { m_kib: 256, t: 1, p: 1 }).unwrap();
    println!("KEK {}", hex::encode(k));
    let aead = chacha20poly1305::XChaCha20Poly1305::new(&[0x42; 32].into());
    let ct = aead.encrypt(chacha20poly1305::XNonce::from_slice(&[0x24; 24]), &b"cellar"[..]).unwrap();
    println!("SEALED {}{}", hex::encode([0x24; 24]), hex::encode(ct));
}

const VECTOR_BLOB_ID: &str = "af5cc180aafb1aabccfdc4b44662125a0f9c5bc32fc0c5e93f9fc6cfd41e128a";
const VECTOR_CUTS_SEEDED: &[usize] = &[6591, 2582, 1697, 5645, 6123, 2383, 1117, 6069, 4662, 4992, 2538, 3061];
const VECTOR_CUTS_UNSEEDED: &[usize] = &[14575, 2071, 4583, 11792, 8267, 2830, 5201, 2979, 1782, 2032, 9336, 4960];
const VECTOR_KEK: &str = "66718e5b070ee61962e7a1df6cdc4dbe51e8fd61d1e3f2f245b0069c87e1db6b";
const VECTOR_SEALED: &str =
    "242424242424242424242424242424242424242424242424c63bbb090f565c6d94d6d7117c76b6584e8232fef069";
