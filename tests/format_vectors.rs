//! Format v1 test vectors (see format-spec/vectors.md). These values are a contract: if a
//! change makes one of these tests fail, it changed the on-disk format, which requires a new
//! format version, not a new expected value.

use cellar::chunk::{ChunkerParams, Cutter};
use cellar::repo::blob::blob_id;
use cellar::repo::crypto::{derive_kek, KdfParams, MasterKey};
use cellar::repo::file::index::IndexFile;
use cellar::repo::file::pack::{parse_pack, PackEntry};
use cellar::repo::file::FileType;
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
                base: None,
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

/// Format v2: an index file holding a delta entry is `CIX2`, and the delta's entry is
/// followed by its base id; entries stored whole keep the v1 layout.
#[test]
fn index_file_with_a_delta_entry() {
    use cellar::repo::blob::{BlobKind, Compression};
    let whole = PackEntry {
        id: Id([0x22; 32]),
        kind: BlobKind::Data,
        compression: Compression::Zstd,
        offset: 0,
        stored_len: 0x50,
        raw_len: 0x1000,
        base: None,
    };
    let delta = PackEntry {
        id: Id([0x33; 32]),
        compression: Compression::Delta,
        offset: 0x50,
        stored_len: 0x20,
        base: Some(Id([0x22; 32])),
        ..whole.clone()
    };
    let f = IndexFile { supersedes: vec![], packs: vec![(Id([0x11; 32]), vec![whole, delta])] };
    let b = f.encode();
    let mut want = b"CIX2".to_vec();
    want.extend_from_slice(&0u32.to_le_bytes());
    want.extend_from_slice(&1u32.to_le_bytes());
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&2u32.to_le_bytes());
    want.extend_from_slice(&[0x22; 32]);
    want.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0x50, 0, 0, 0, 0, 0x10, 0, 0]);
    want.extend_from_slice(&[0x33; 32]);
    want.extend_from_slice(&[0, 2, 0, 0, 0x50, 0, 0, 0, 0x20, 0, 0, 0, 0, 0x10, 0, 0]);
    want.extend_from_slice(&[0x22; 32]);
    assert_eq!(b, want);
    assert_eq!(IndexFile::decode(&b).unwrap(), f);
    // A v1 file must not carry a delta.
    let mut v1 = b.clone();
    v1[..4].copy_from_slice(b"CIX1");
    assert!(IndexFile::decode(&v1).is_err());
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

/// A scratch copy of a checked-in repository: `check --read-data` records what it verified
/// (`verified/`), which must not change the files under version control.
fn scratch_copy(repo: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    crate::common::tsdb::copy_dir(Path::new(repo), d.path());
    d
}

/// The checked-in repository written by cellar 0.1 must stay readable, byte for byte.
#[test]
fn checked_in_v1_repository_restores_exactly() {
    let scratch = scratch_copy(VECTOR_REPO);
    let repo = Repository::open(Arc::new(LocalBackend::new(scratch.path())), VECTOR_PASSWORD).unwrap();
    let report = cellar::ops::check::check(&repo, &cellar::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let snaps = repo.list_snapshots().unwrap();
    assert_eq!(snaps.len(), 1);
    let (_, snap) = &snaps[0];
    assert_eq!(snap.tags, vec!["vector".to_string()]);
    let out = tempfile::tempdir().unwrap();
    let opts = cellar::ops::restore::RestoreOptions::new(out.path());
    cellar::ops::restore::restore(&repo, snap, &opts).unwrap();
    for (path, bytes) in vector_files() {
        assert_eq!(std::fs::read(out.path().join(path)).unwrap(), bytes, "{path}");
    }
    assert_eq!(std::fs::read_link(out.path().join("vector/link")).unwrap(), Path::new("hello.txt"));
    // Blob ids of the stored content are the keyed hashes under the repository's id key.
    let zeros = cellar::vfs::lookup(&repo, snap, "vector/zeros").unwrap();
    let chunk = repo.read_blob(&zeros.content[0]).unwrap();
    assert_eq!(blob_id(repo.id_key(), &chunk), zeros.content[0]);
    // Packs parse with the documented layout, and zeros were stored compressed.
    let idx = repo.index();
    let loc = idx.get(&zeros.content[0]).unwrap();
    assert_eq!(loc.compression, cellar::repo::blob::Compression::Zstd);
    let pack = std::fs::read(Path::new(VECTOR_REPO).join(FileType::Pack.name(&idx.pack_id(loc.pack)))).unwrap();
    assert!(parse_pack(repo.key(), "pack", &pack).unwrap().iter().any(|e| e.id == zeros.content[0]));
}

/// The settings of the v1 vector repository (small chunks and packs, a fast KDF, no v2+
/// features); the v4 one adds append-only keys.
fn v1_init_options() -> cellar::repo::InitOptions {
    cellar::repo::InitOptions {
        chunkers: [("default".to_string(), ChunkerParams::with_sizes(1024, 4096, 16384))].into(),
        pack_size: 1 << 20,
        zstd_level: 3,
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        pack_storage_class: None,
        gzip_transparent: false,
        pg_custom_transparent: false,
        deltas: false,
        object_lock: None,
        append_only_keys: false,
    }
}

/// Regenerates the checked-in repository: `cargo test --test tests format_vectors -- --ignored`.
/// Only for a new format version; v1's repository must never change.
#[test]
#[ignore = "regenerates the checked-in v1 vector repository"]
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
    let opts = v1_init_options();
    let repo = Repository::init(Arc::new(LocalBackend::new(VECTOR_REPO)), VECTOR_PASSWORD, &opts).unwrap();
    let bo = cellar::ops::backup::BackupOptions {
        sources: vec![crate::common::local_source(&src.path().join("vector"))],
        tags: vec!["vector".into()],
        host: Some("vector-host".into()),
        ..Default::default()
    };
    cellar::ops::backup::backup(Arc::new(repo), bo).unwrap();
}

/// Prints the primitive vectors (to fill in the constants for a new format version).
#[test]
#[ignore = "prints vectors for a new format version"]
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
    let repo = cellar::repo::crypto::RepoSecret::from_bytes([0x11; 32]);
    let (eph_public, key) = cellar::repo::crypto::session_from_ephemeral([0x22; 32], &repo.public());
    println!("REPO_PUBLIC {}", hex::encode(repo.public()));
    println!("SESSION_PUBLIC {}", hex::encode(eph_public));
    println!("SESSION_KEY {}", hex::encode(key.as_bytes()));
}

const VECTOR_BLOB_ID: &str = "af5cc180aafb1aabccfdc4b44662125a0f9c5bc32fc0c5e93f9fc6cfd41e128a";
const VECTOR_CUTS_SEEDED: &[usize] = &[6591, 2582, 1697, 5645, 6123, 2383, 1117, 6069, 4662, 4992, 2538, 3061];
const VECTOR_CUTS_UNSEEDED: &[usize] = &[14575, 2071, 4583, 11792, 8267, 2830, 5201, 2979, 1782, 2032, 9336, 4960];
const VECTOR_KEK: &str = "66718e5b070ee61962e7a1df6cdc4dbe51e8fd61d1e3f2f245b0069c87e1db6b";
const VECTOR_SEALED: &str =
    "242424242424242424242424242424242424242424242424c63bbb090f565c6d94d6d7117c76b6584e8232fef069";

const VECTOR_REPO_PUBLIC: &str = "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13";
const VECTOR_SESSION_PUBLIC: &str = "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20";
const VECTOR_SESSION_KEY: &str = "5038e006af9aca0f84d7407e3c94b4d7f38c8b37f0e50ce0b16959910ee9149d";

const VECTOR_REPO_V2: &str = "tests/vectors/repo-v2";
const VECTOR_SRC_V2: &str = "tests/vectors/repo-v2-source";

/// SQL-like text of a "day": rows whose values change a little from day to day.
fn v2_day(day: u64) -> Vec<u8> {
    let mut out = b"-- vector dump\nCOPY public.alert_history (id, rule, state, value) FROM stdin;\n".to_vec();
    for i in 0..6000u64 {
        let v = if i % 97 == day { 1000 + day } else { i * 7 % 113 };
        out.extend_from_slice(format!("{i}\trule-{}\tfiring\t{v}\n", i % 50).as_bytes());
    }
    out.extend_from_slice(b"\\.\n");
    out
}

/// The checked-in v2 repository (gzip-transparent file, delta blobs, sketch file) must stay
/// readable, byte for byte. Its two snapshots back up `day1.sql` + `dump.sql.gz`, then
/// `day2.sql` (a changed copy of day 1, stored as deltas).
#[test]
fn checked_in_v2_repository_restores_exactly() {
    let scratch = scratch_copy(VECTOR_REPO_V2);
    let repo = Repository::open(Arc::new(LocalBackend::new(scratch.path())), VECTOR_PASSWORD).unwrap();
    assert_eq!(repo.config().version, 2);
    let report = cellar::ops::check::check(&repo, &cellar::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let mut snaps = repo.list_snapshots().unwrap();
    snaps.sort_by_key(|(_, s)| s.time.clone());
    assert_eq!(snaps.len(), 2);
    for (i, (_, snap)) in snaps.iter().enumerate() {
        let out = tempfile::tempdir().unwrap();
        cellar::ops::restore::restore(&repo, snap, &cellar::ops::restore::RestoreOptions::new(out.path())).unwrap();
        let names: &[&str] = if i == 0 { &["day1.sql", "dump.sql.gz"] } else { &["day2.sql"] };
        for n in names {
            let want = std::fs::read(Path::new(VECTOR_SRC_V2).join(n)).unwrap();
            assert_eq!(std::fs::read(out.path().join("vector").join(n)).unwrap(), want, "{n}");
        }
    }
    let gz = cellar::vfs::lookup(&repo, &snaps[0].1, "vector/dump.sql.gz").unwrap();
    let recipe = gz.gzip.as_ref().expect("dump.sql.gz is stored as decoded text");
    assert_eq!(recipe.members.len(), 1);
    assert_eq!(recipe.content_len, v2_day(1).len() as u64);
    let day2 = cellar::vfs::lookup(&repo, &snaps[1].1, "vector/day2.sql").unwrap();
    let idx = repo.index();
    assert!(day2.content.iter().any(|id| idx.base_of(id).is_some()), "day 2 holds delta blobs");
    let index_files = std::fs::read_dir(Path::new(VECTOR_REPO_V2).join("index")).unwrap();
    let magics: Vec<Vec<u8>> = index_files
        .map(|f| {
            let sealed = std::fs::read(f.unwrap().path()).unwrap();
            repo.key().decrypt(&sealed).unwrap()[..4].to_vec()
        })
        .collect();
    assert!(magics.contains(&b"CIX2".to_vec()), "{magics:?}");
}

/// Regenerates the v2 vector repository: `cargo test --test tests format_vectors -- --ignored`
/// (needs `gzip`). Only for a new format version; v2's repository must never change.
#[test]
#[ignore = "regenerates the checked-in v2 vector repository"]
fn make_vector_repository_v2() {
    let src = Path::new(VECTOR_SRC_V2);
    let _ = std::fs::remove_dir_all(src);
    std::fs::create_dir_all(src).unwrap();
    std::fs::write(src.join("day1.sql"), v2_day(1)).unwrap();
    std::fs::write(src.join("day2.sql"), v2_day(2)).unwrap();
    let gz = std::process::Command::new("gzip").args(["-6", "-n", "-c"]).arg(src.join("day1.sql")).output().unwrap();
    std::fs::write(src.join("dump.sql.gz"), gz.stdout).unwrap();
    let _ = std::fs::remove_dir_all(VECTOR_REPO_V2);
    let opts = cellar::repo::InitOptions {
        chunkers: [
            ("default".to_string(), ChunkerParams::with_sizes(1024, 4096, 16384)),
            ("text".to_string(), ChunkerParams::with_sizes(4096, 16384, 65536)),
        ]
        .into(),
        pack_size: 1 << 20,
        zstd_level: 3,
        kdf: KdfParams { m_kib: 256, t: 1, p: 1 },
        pack_storage_class: None,
        gzip_transparent: true,
        pg_custom_transparent: false,
        deltas: true,
        object_lock: None,
        append_only_keys: false,
    };
    let repo = Arc::new(Repository::init(Arc::new(LocalBackend::new(VECTOR_REPO_V2)), VECTOR_PASSWORD, &opts).unwrap());
    for (i, names) in [&["day1.sql", "dump.sql.gz"][..], &["day2.sql"][..]].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("vector");
        std::fs::create_dir(&v).unwrap();
        for n in *names {
            std::fs::copy(src.join(n), v.join(n)).unwrap();
            let t = filetime::FileTime::from_unix_time(1_745_236_800 + i as i64, 0);
            filetime::set_file_times(v.join(n), t, t).unwrap();
        }
        let bo = cellar::ops::backup::BackupOptions {
            sources: vec![crate::common::local_source(&v)],
            tags: vec!["vector".into()],
            host: Some("vector-host".into()),
            ..Default::default()
        };
        cellar::ops::backup::backup(repo.clone(), bo).unwrap();
    }
}

/// Sketch files (§13): the checked-in `CSK1` file (unstamped) still loads; new files are
/// `CSK2`, stamped with their write time, and load oldest first whatever their names, so
/// the newest version of some content wins.
#[test]
fn sketch_files_load_oldest_first() {
    let vector = Repository::open(Arc::new(LocalBackend::new(VECTOR_REPO_V2)), VECTOR_PASSWORD).unwrap();
    assert!(!vector.load_sketches().unwrap().is_empty(), "the CSK1 file of the v2 vector");

    let dir = tempfile::tempdir().unwrap();
    let repo = crate::common::lib_repo(dir.path());
    let entry = |n: u8| (Id([n; 32]), [u64::from(n); 8]);
    // Many files, so that name order (content hashes) and write order surely differ.
    for n in 1..=8u8 {
        repo.save_sketches(vec![entry(n), entry(100 + n)]).unwrap();
    }
    let loaded: Vec<u8> = repo.load_sketches().unwrap().iter().map(|(id, _)| id.0[0]).collect();
    let want: Vec<u8> = (1..=8u8).flat_map(|n| [n, 100 + n]).collect();
    assert_eq!(loaded, want);

    // The layout of vectors.md, "Sketch file `CSK2`".
    let one = tempfile::tempdir().unwrap();
    let repo = crate::common::lib_repo(one.path());
    repo.save_sketches(vec![entry(1), entry(101)]).unwrap();
    let files = crate::common::files_under(&one.path().join("sketches"));
    assert_eq!(files.len(), 1);
    // Sketches are content: in a v4 repository sealed by the writer's session key.
    let sealed = std::fs::read(&files[0]).unwrap();
    let plain = cellar::repo::crypto::Seal::open(repo.content_keys(), "sketch", &sealed).unwrap();
    assert_eq!(&plain[..8], b"CSK2\x02\0\0\0");
    let written = u64::from_le_bytes(plain[8..16].try_into().unwrap());
    assert!(written > 1_700_000_000_000_000_000, "unix nanoseconds: {written}");
    let mut want = vec![];
    for n in [1u8, 101] {
        want.extend([n; 32]);
        for _ in 0..8 {
            want.extend(u64::from(n).to_le_bytes());
        }
    }
    assert_eq!(&plain[16..], &want[..]);
}

/// §3, §10: a locked repository is version 3, and its settings cannot pass for an older
/// version's (a build that does not know locks would write unprotected files into it).
#[test]
fn locked_settings_need_version_3() {
    use cellar::repo::file::config::{Config, ObjectLock};
    let key = MasterKey::generate();
    let settings_json = serde_json::json!({
        "id_key": "00".repeat(32),
        "chunkers": {"default": {"algorithm": "fastcdc-v2020", "min": 262_144, "avg": 1_048_576,
                                 "max": 4_194_304, "normalization": 1, "seed": 1}},
        "pack_size": 16_777_216,
        "zstd_level": 3,
        "object_lock": {"mode": "governance", "retain_seconds": 2_592_000}
    });
    let settings: cellar::repo::file::config::Settings = serde_json::from_value(settings_json.clone()).unwrap();
    assert_eq!(
        settings.object_lock,
        Some(ObjectLock { mode: cellar::backend::LockMode::Governance, retain_seconds: 2_592_000 })
    );
    let config = Config::new("ab".repeat(16), &settings, &key);
    assert_eq!(config.version, 3);
    let parsed = Config::parse(&serde_json::to_vec(&config).unwrap()).unwrap();
    assert_eq!(parsed.settings(&key).unwrap(), settings);
    // The same settings under a config claiming version 2 are refused.
    let sealed = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key.encrypt(&serde_json::to_vec(&settings_json).unwrap()),
    );
    let v2 = serde_json::json!({"format": "cellar", "version": 2, "id": "ab".repeat(16), "settings": sealed});
    let err = Config::parse(&serde_json::to_vec(&v2).unwrap()).unwrap().settings(&key).unwrap_err();
    assert!(err.to_string().contains("need format v3"), "{err}");
    // And a version this build does not know is refused before any key is tried.
    let next = cellar::repo::file::config::FORMAT_VERSION + 1;
    let newer = serde_json::json!({"format": "cellar", "version": next, "id": "ab".repeat(16), "settings": ""});
    assert!(Config::parse(&serde_json::to_vec(&newer).unwrap()).is_err());
}

const VECTOR_REPO_V4: &str = "tests/vectors/repo-v4";
const VECTOR_AO_PASSWORD: &[u8] = b"cellar append-only vector";

/// §16: a session key is BLAKE3-derive_key over the X25519 agreement and both public keys;
/// its messages carry the session tag as the first 8 nonce bytes.
#[test]
fn session_key_derivation() {
    use cellar::repo::crypto::{session_from_ephemeral, session_tag, RepoSecret, SESSION_KEY_CONTEXT};
    assert_eq!(SESSION_KEY_CONTEXT, "cellar 2026-12 session key v1");
    let repo = RepoSecret::from_bytes([0x11; 32]);
    assert_eq!(hex::encode(repo.public()), VECTOR_REPO_PUBLIC);
    let (eph_public, writer) = session_from_ephemeral([0x22; 32], &repo.public());
    assert_eq!(hex::encode(eph_public), VECTOR_SESSION_PUBLIC);
    assert_eq!(hex::encode(writer.as_bytes()), VECTOR_SESSION_KEY);
    assert_eq!(repo.session_key(&eph_public).as_bytes(), writer.as_bytes());
    let sealed = writer.encrypt_tagged(b"tag-tag!", b"cellar");
    assert_eq!(session_tag(&sealed), Some(*b"tag-tag!"));
    assert_eq!(sealed.len(), 6 + 40);
}

/// The checked-in v4 repository: one snapshot by its full key, one by its append-only key
/// (two sessions). The full key reads both byte for byte; the append-only key opens the
/// repository but no snapshot.
#[test]
fn checked_in_v4_repository_restores_exactly() {
    let scratch = scratch_copy(VECTOR_REPO_V4);
    let backend = || Arc::new(LocalBackend::new(scratch.path()));
    let repo = Repository::open(backend(), VECTOR_PASSWORD).unwrap();
    assert_eq!(repo.config().version, 4);
    assert!(!repo.append_only());
    let report = cellar::ops::check::check(&repo, &cellar::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let mut snaps = repo.list_snapshots().unwrap();
    snaps.sort_by_key(|(_, s)| s.time.clone());
    assert_eq!(snaps.len(), 2);
    assert_eq!(repo.list_ids(FileType::Session).unwrap().len(), 2);
    for (i, (_, snap)) in snaps.iter().enumerate() {
        let out = tempfile::tempdir().unwrap();
        cellar::ops::restore::restore(&repo, snap, &cellar::ops::restore::RestoreOptions::new(out.path())).unwrap();
        for (path, bytes) in v4_files(i) {
            assert_eq!(std::fs::read(out.path().join(path)).unwrap(), bytes, "snapshot {i}: {path}");
        }
    }
    let ao = Repository::open(backend(), VECTOR_AO_PASSWORD).unwrap();
    assert!(ao.append_only());
    let err = ao.list_snapshots().unwrap_err();
    assert!(matches!(err, cellar::error::RepoError::AppendOnly(_)), "{err}");
}

/// The files of the v4 vector's snapshot `i` (the second adds one and changes another).
fn v4_files(i: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut files = vector_files();
    if i == 1 {
        files[0].1 = b"hello again, cellar\n".to_vec();
        files.push(("vector/added.bin", xof(b"cellar v4 vector", 20_000)));
    }
    files
}

/// Regenerates the v4 vector repository: `cargo test --test tests format_vectors -- --ignored`.
/// Only for a new format version; v4's repository must never change.
#[test]
#[ignore = "regenerates the checked-in v4 vector repository"]
fn make_vector_repository_v4() {
    let _ = std::fs::remove_dir_all(VECTOR_REPO_V4);
    let opts = cellar::repo::InitOptions { append_only_keys: true, ..v1_init_options() };
    let full = Arc::new(Repository::init(Arc::new(LocalBackend::new(VECTOR_REPO_V4)), VECTOR_PASSWORD, &opts).unwrap());
    full.add_key(VECTOR_AO_PASSWORD, opts.kdf, true).unwrap();
    let send_log = tempfile::tempdir().unwrap();
    for i in 0..2 {
        let src = tempfile::tempdir().unwrap();
        for (path, bytes) in v4_files(i) {
            let p = src.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        let repo = match i {
            0 => full.clone(),
            _ => Arc::new(Repository::open(Arc::new(LocalBackend::new(VECTOR_REPO_V4)), VECTOR_AO_PASSWORD).unwrap()),
        };
        let bo = cellar::ops::backup::BackupOptions {
            sources: vec![crate::common::local_source(&src.path().join("vector"))],
            tags: vec!["vector".into()],
            host: Some("vector-host".into()),
            send_log: Some(send_log.path().to_path_buf()),
            ..Default::default()
        };
        cellar::ops::backup::backup(repo, bo).unwrap();
    }
    // Writer markers the append-only backup left (it deletes nothing) are not part of it.
    let _ = std::fs::remove_dir_all(Path::new(VECTOR_REPO_V4).join("writers"));
}

const VECTOR_REPO_V5: &str = "tests/vectors/repo-v5";
/// A real `pg_dump -Fc` archive (PostgreSQL 15, two tables, zlib at pg_dump's default).
const VECTOR_PG_CUSTOM: &str = "tests/vectors/repo-v5-source/vector.dump";

/// The checked-in v5 repository: one snapshot holding a pg_dump custom-format archive
/// stored transparently (framed zlib streams, format-spec §12.1); it restores bit-exactly
/// and its recipe is framed.
#[test]
fn checked_in_v5_repository_restores_a_pg_custom_archive_exactly() {
    let scratch = scratch_copy(VECTOR_REPO_V5);
    let repo = Repository::open(Arc::new(LocalBackend::new(scratch.path())), VECTOR_PASSWORD).unwrap();
    assert_eq!(repo.config().version, 5);
    assert!(repo.settings().pg_custom_transparent);
    let report = cellar::ops::check::check(&repo, &cellar::ops::check::CheckOptions::read_all()).unwrap();
    assert!(report.ok(), "{:?}", report.errors);
    let snaps = repo.list_snapshots().unwrap();
    assert_eq!(snaps.len(), 1);
    let out = tempfile::tempdir().unwrap();
    cellar::ops::restore::restore(&repo, &snaps[0].1, &cellar::ops::restore::RestoreOptions::new(out.path())).unwrap();
    let want = std::fs::read(VECTOR_PG_CUSTOM).unwrap();
    assert!(std::fs::read(out.path().join("vector/vector.dump")).unwrap() == want, "restored archive differs");
    let root = repo.read_tree(&snaps[0].1.tree).unwrap();
    let dir = root.nodes.iter().find(|n| n.name == b"vector").unwrap();
    let tree = repo.read_tree(&dir.subtree.unwrap()).unwrap();
    let node = tree.nodes.iter().find(|n| n.name == b"vector.dump").unwrap();
    let recipe = node.gzip.as_ref().expect("stored transparently");
    assert!(recipe.framed() && recipe.members.len() >= 2, "{recipe:?}");
}

/// Regenerates the v5 vector repository: `cargo test --test tests format_vectors -- --ignored`.
/// Only for a new format version; v5's repository must never change.
#[test]
#[ignore = "regenerates the checked-in v5 vector repository"]
fn make_vector_repository_v5() {
    let _ = std::fs::remove_dir_all(VECTOR_REPO_V5);
    let mut opts = cellar::repo::InitOptions {
        gzip_transparent: true,
        pg_custom_transparent: true,
        append_only_keys: false,
        ..v1_init_options()
    };
    opts.chunkers.insert("text".into(), ChunkerParams::with_sizes(4096, 16384, 65536));
    let repo = Arc::new(Repository::init(Arc::new(LocalBackend::new(VECTOR_REPO_V5)), VECTOR_PASSWORD, &opts).unwrap());
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("vector")).unwrap();
    std::fs::copy(VECTOR_PG_CUSTOM, src.path().join("vector/vector.dump")).unwrap();
    let bo = cellar::ops::backup::BackupOptions {
        sources: vec![crate::common::local_source(&src.path().join("vector"))],
        tags: vec!["vector".into()],
        host: Some("vector-host".into()),
        ..Default::default()
    };
    cellar::ops::backup::backup(repo, bo).unwrap();
    let _ = std::fs::remove_dir_all(Path::new(VECTOR_REPO_V5).join("writers"));
}
