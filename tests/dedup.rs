//! Deduplication: identical content is stored once, and an insertion shifts only the
//! chunks around it (content-defined chunking).

use crate::common::*;
use std::fs;

#[test]
fn same_content_under_two_names_is_stored_once() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    let data = pseudo_random(3 << 20, 11);
    fs::write(src.join("one"), &data).unwrap();
    let first = env.backup(&[src.to_str().unwrap()]);
    let stored_one = env.stats()["pack_bytes"].as_u64().unwrap();

    fs::write(src.join("two"), &data).unwrap();
    fs::create_dir(src.join("sub")).unwrap();
    fs::write(src.join("sub/three"), &data).unwrap();
    let second = env.backup(&[src.to_str().unwrap()]);
    let stats = env.stats();
    // Only the new tree blobs were added: a few hundred bytes, not 6 MiB.
    assert!(second["bytes_added"].as_u64().unwrap() < 4096, "{second}");
    assert!(stats["pack_bytes"].as_u64().unwrap() < stored_one + 4096);
    // New blobs: the root tree, the tree of `s` and the tree of `sub`; no data blob.
    assert_eq!(second["blobs_new"], 3, "{second}");
    assert_eq!(stats["unique_blobs"].as_u64().unwrap(), first["blobs_new"].as_u64().unwrap() + 3);
}

/// Back up `data` as `s/big`, then with one byte inserted at the start: returns
/// (chunks of the first version, new data chunks of the second).
fn insert_one_byte(data: &[u8], init: &[&str]) -> (u64, u64) {
    let env = Env::with_init_args(init);
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("big"), data).unwrap();
    let first = env.backup(&[src.to_str().unwrap()]);
    let chunks = first["blobs_new"].as_u64().unwrap() - 2; // minus two trees

    let mut shifted = vec![b'-'];
    shifted.extend_from_slice(data);
    fs::write(src.join("big"), &shifted).unwrap();
    let second = env.backup(&[src.to_str().unwrap()]);
    assert_eq!(second["files_changed"], 1);
    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_eq!(fs::read(out.join("s/big")).unwrap(), shifted);
    (chunks, second["blobs_new"].as_u64().unwrap() - 2)
}

#[test]
fn one_byte_insert_at_start_of_binary_file_reuses_all_but_a_few_chunks() {
    let (chunks, new) = insert_one_byte(&pseudo_random(48 << 20, 5), &[]);
    assert!(chunks >= 20, "expected many 1 MiB-average chunks, got {chunks}");
    assert!(new <= 2, "a 1-byte insert created {new} new chunks of {chunks}");
}

#[test]
fn one_byte_insert_at_start_of_sql_text_reuses_all_but_a_few_chunks() {
    let text: Vec<u8> = (0..60_000u64)
        .flat_map(|i| {
            format!(
                "INSERT INTO alert_history VALUES ({i}, '{:016x}', 'firing');\n",
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            )
            .into_bytes()
        })
        .collect();
    // Without deltas, text is cut small (~4 KiB)...
    let (chunks, new) = insert_one_byte(&text, &["--no-deltas"]);
    assert!(chunks >= 500, "expected many 4 KiB-average text chunks, got {chunks}");
    assert!(new <= 2, "a 1-byte insert created {new} new chunks of {chunks}");
    // ...with deltas (the default) in ~256 KiB chunks.
    let (chunks, new) = insert_one_byte(&text, &[]);
    // 3.9 MB in chunks of 64 KiB–1 MiB: the cut points follow the repository's random seed,
    // so the count varies (7 was seen); what matters is that the insert costs one or two.
    assert!((4..=62).contains(&chunks), "expected 256 KiB-average text chunks, got {chunks}");
    assert!(new <= 2, "a 1-byte insert created {new} new chunks of {chunks}");
}

#[test]
fn compressible_data_is_compressed_and_random_data_is_not_inflated() {
    let env = Env::new();
    let src = env.path("s");
    fs::create_dir(&src).unwrap();
    let text: Vec<u8> =
        (0..200_000).flat_map(|i| format!("INSERT INTO alerts VALUES ({i}, 'firing');\n").into_bytes()).collect();
    fs::write(src.join("dump.sql"), &text).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    let packed = env.stats()["pack_bytes"].as_u64().unwrap();
    assert!(packed * 5 < text.len() as u64, "SQL text stored in {packed} bytes of {}", text.len());

    let env2 = Env::new();
    fs::write(src.join("dump.sql"), pseudo_random(4 << 20, 9)).unwrap();
    env2.backup(&[src.to_str().unwrap()]);
    let packed = env2.stats()["pack_bytes"].as_u64().unwrap();
    // Per-blob overhead only: 40 bytes of AEAD + 44 bytes of header per ~64 KiB chunk.
    assert!(packed < (4 << 20) + (4 << 20) / 500, "random data grew to {packed}");
}
