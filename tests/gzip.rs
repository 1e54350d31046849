//! Gzip-transparent storage: gzip files written by real tools (GNU gzip at levels 1, 6
//! and 9, zlib through Python, pigz) and hand-made edge cases (several members, every
//! header field, trailing garbage, truncation, non-gzip `.gz`) all restore bit-exactly;
//! the ones that can be recreated are stored as decoded text, so the same dump compressed
//! differently deduplicates.

use crate::common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A few MB of SQL-dump-like text.
fn sql_text(rows: usize, seed: u64) -> Vec<u8> {
    let mut out = b"--\n-- PostgreSQL database dump\n--\n\nCOPY public.alert_history (id, fingerprint, state, started_at, labels) FROM stdin;\n".to_vec();
    let noise = pseudo_random(rows * 4, seed);
    for i in 0..rows {
        let n = u32::from_le_bytes(noise[i * 4..i * 4 + 4].try_into().unwrap());
        out.extend_from_slice(
            format!(
                "{i}\t{:016x}\t{}\t2025-04-{:02} {:02}:{:02}:00+00\t{{\"alertname\": \"HighLatency{}\", \"cluster\": \"eu-{}\"}}\n",
                u64::from(n) * 2_654_435_761,
                ["firing", "resolved", "pending"][n as usize % 3],
                n % 28 + 1,
                n % 24,
                n % 60,
                n % 40,
                n % 7
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\\.\n");
    out
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn gzip(args: &[&str], input: &Path) -> Vec<u8> {
    run(Command::new("gzip").args(args).arg("-c").arg(input))
}

/// Python's zlib: raw deflate of `input`, wrapped by hand in a gzip header carrying every
/// optional field (FEXTRA, FNAME, FCOMMENT, FHCRC), or the stock `gzip` module's output.
fn python(script: &str, input: &Path) -> Vec<u8> {
    run(Command::new("python3").arg("-c").arg(script).arg(input))
}

const PY_ZLIB: &str =
    "import gzip,sys; sys.stdout.buffer.write(gzip.compress(open(sys.argv[1],'rb').read(), 6, mtime=0))";
const PY_ALL_FIELDS: &str = r"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
body = c.compress(data) + c.flush()
head = bytes([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10]) + struct.pack('<I', 1745236800) + bytes([2, 3])
extra = b'AP' + struct.pack('<H', 4) + b'\x01\x02\x03\x04'
head += struct.pack('<H', len(extra)) + extra + b'dop-202504211200.dump\0' + b'nightly dump\0'
head += struct.pack('<H', zlib.crc32(head) & 0xffff)
sys.stdout.buffer.write(head + body + struct.pack('<II', zlib.crc32(data), len(data) & 0xffffffff))
";

#[test]
fn gzip_files_from_every_writer_restore_bit_exactly() {
    let env = Env::new();
    let work = env.path("work");
    fs::create_dir(&work).unwrap();
    let text = work.join("dump.sql");
    fs::write(&text, sql_text(40_000, 1)).unwrap();
    let half = work.join("half.sql");
    fs::write(&half, sql_text(10_000, 2)).unwrap();

    let src = env.path("backup");
    fs::create_dir(&src).unwrap();
    let put = |name: &str, bytes: Vec<u8>| fs::write(src.join(name), bytes).unwrap();
    let gz6 = gzip(&["-6", "-n"], &text);
    put("gzip6.dump.gz", gz6.clone());
    // Decoded text is stored once: the other encodings of the same dump add little.
    let first = env.backup(&[src.to_str().unwrap()]);
    put("gzip1.dump.gz", gzip(&["-1"], &text));
    put("gzip9.dump.gz", gzip(&["-9", "-n"], &text));
    put("zlib.dump.gz", python(PY_ZLIB, &text));
    put("pigz.dump.gz", run(Command::new("pigz").args(["-6", "-c"]).arg(&text)));
    put("all-header-fields.dump.gz", python(PY_ALL_FIELDS, &text));
    let second = env.backup(&[src.to_str().unwrap()]);
    let later: u64 = ["gzip1", "gzip9", "zlib", "pigz", "all-header-fields"]
        .iter()
        .map(|n| fs::metadata(src.join(format!("{n}.dump.gz"))).unwrap().len())
        .sum();
    let added = second["bytes_added"].as_u64().unwrap();
    assert!(
        added < later / 20,
        "five more encodings of a stored dump ({later} bytes of gzip) added {added} bytes (first backup: {})",
        first["bytes_added"]
    );

    let mut two = gzip(&["-6"], &half);
    two.extend(gzip(&["-1"], &text));
    put("two-members.dump.gz", two);
    let mut garbage = gz6.clone();
    garbage.extend_from_slice(&pseudo_random(5000, 9));
    put("trailing-garbage.dump.gz", garbage);
    put("empty.gz", run(Command::new("gzip").arg("-c").stdin(std::process::Stdio::null())));
    // Not recreatable: stored as raw bytes, still restored exactly.
    put("truncated.dump.gz", gz6[..gz6.len() / 2].to_vec());
    put("not-gzip.gz", pseudo_random(100_000, 3));
    let mut fake = vec![0x1f, 0x8b, 8, 0];
    fake.extend(pseudo_random(50_000, 4));
    put("bad-deflate.gz", fake);
    let mut bad_crc = gz6.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff;
    put("bad-crc.dump.gz", bad_crc);

    env.backup(&[src.to_str().unwrap()]);

    let listing = env.ok(&["ls", "--json", "latest"]);
    let decoded: Vec<(String, u64)> = listing
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|j| j["type"] == "file")
        .map(|j| {
            let name = j["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (name, j["gzip_members"].as_u64().unwrap_or(0))
        })
        .collect();
    let members = |n: &str| decoded.iter().find(|(name, _)| name == n).unwrap_or_else(|| panic!("{n} listed")).1;
    for n in ["gzip6", "gzip1", "gzip9", "zlib", "pigz", "all-header-fields", "trailing-garbage"] {
        assert_eq!(members(&format!("{n}.dump.gz")), 1, "{n} stored as decoded text");
    }
    assert_eq!(members("two-members.dump.gz"), 2);
    assert_eq!(members("empty.gz"), 1);
    for n in ["truncated.dump.gz", "not-gzip.gz", "bad-deflate.gz", "bad-crc.dump.gz"] {
        assert_eq!(members(n), 0, "{n} must be stored raw");
    }

    let out = env.path("out");
    env.ok(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert_same_tree(&src, &out.join("backup"));
    for f in fs::read_dir(&src).unwrap() {
        let p = f.unwrap().path();
        let rel = format!("backup/{}", p.file_name().unwrap().to_str().unwrap());
        assert_eq!(env.dump("latest", &rel), fs::read(&p).unwrap(), "dump of {rel}");
    }
    // `dump --decompress` prints what zcat prints; where zcat fails, so does it.
    for f in fs::read_dir(&src).unwrap() {
        let p = f.unwrap().path();
        let rel = format!("backup/{}", p.file_name().unwrap().to_str().unwrap());
        let zcat = Command::new("gzip").arg("-dc").arg(&p).output().unwrap();
        let ours = env.cmd().args(["dump", "--decompress", "latest", &rel]).output().unwrap();
        // gzip exits 2 for a warning (trailing garbage ignored), 1 for an error.
        if zcat.status.code() == Some(1) {
            assert_eq!(ours.status.code(), Some(1), "{rel}: zcat fails, dump --decompress must too");
        } else {
            assert!(ours.status.success(), "{rel}: {}", String::from_utf8_lossy(&ours.stderr));
            assert!(ours.stdout == zcat.stdout, "{rel}: dump --decompress differs from zcat");
        }
    }
    // `restore --decompress` writes each `x.gz` as `x`, holding what zcat prints; a file
    // zcat cannot decode is named as damaged, and nothing is left under its name.
    let decoded = env.path("decoded");
    let (code, out, err) =
        env.run(&["restore", "--json", "--decompress", "latest", "--target", decoded.to_str().unwrap()]);
    assert_eq!(code, 3, "some files are not valid gzip: {out}{err}");
    let report: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let damaged: Vec<&str> =
        report["damaged"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    let mut restored = 0;
    for f in fs::read_dir(&src).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let stem = name.strip_suffix(".gz").expect("every source file is *.gz");
        let zcat = Command::new("gzip").arg("-dc").arg(&p).output().unwrap();
        let at = decoded.join("backup").join(stem);
        if zcat.status.code() == Some(1) {
            assert!(!at.exists(), "{name}: zcat fails, so nothing is written");
            assert!(damaged.contains(&format!("backup/{name}").as_str()), "{name} named: {damaged:?}");
        } else {
            assert!(fs::read(&at).unwrap() == zcat.stdout, "{name}: restore --decompress differs from zcat");
            restored += 1;
        }
        assert!(!decoded.join("backup").join(&name).exists(), "{name} itself is not restored");
    }
    assert_eq!(report["files"], restored, "{out}");
    let leftovers: Vec<_> =
        files_under(&decoded).into_iter().filter(|p| p.to_string_lossy().contains("cellar-tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (code, _, err) =
        env.run(&["restore", "--decompress", "--delete", "latest", "--target", decoded.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("do not go together"), "{err}");
    let (code, out, err) = env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn gzip_transparency_can_be_turned_off() {
    let env = Env::with_init_args(&["--no-gzip-transparent", "--no-deltas", "--no-append-only-keys"]);
    let src = env.path("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("dump.sql"), sql_text(5000, 5)).unwrap();
    let gz = gzip(&["-6"], &src.join("dump.sql"));
    fs::write(src.join("dump.sql.gz"), &gz).unwrap();
    env.backup(&[src.to_str().unwrap()]);
    let listing = env.ok(&["ls", "--json", "latest"]);
    assert!(!listing.contains("gzip_members"), "{listing}");
    let config: serde_json::Value = serde_json::from_slice(&fs::read(env.repo.join("config")).unwrap()).unwrap();
    assert_eq!(config["version"], 1, "a repository without v2 features stays readable by v1 builds");
    assert_eq!(env.dump("latest", "src/dump.sql.gz"), gz);
    // Stored as it is, a gzip file is inflated on the way out.
    let out = env.cmd().args(["dump", "--decompress", "latest", "src/dump.sql.gz"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == sql_text(5000, 5), "dump --decompress of a raw-stored gzip file");
    let out = env.cmd().args(["dump", "--decompress", "latest", "src/dump.sql"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a gzip file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
