//! Object Lock (WORM) repositories against real S3 servers with Object Lock: moto and
//! Ceph RGW. Locks are read back with boto3 (HeadObject), and the server itself is asked to
//! destroy a locked version, which it must refuse.

use crate::common::s3::*;
use crate::s3_tests;
use std::collections::BTreeMap;

/// key → (mode, retain-until as Unix seconds) of every object under `prefix`; objects
/// without a lock have ("", 0).
fn locks(srv: &S3Server, bucket: &str, prefix: &str) -> BTreeMap<String, (String, i64)> {
    let out = srv.py(
        "b, p = sys.argv[1], sys.argv[2]\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket=b, Prefix=p):\n\
         \x20   for o in page.get('Contents', []):\n\
         \x20       h = s3.head_object(Bucket=b, Key=o['Key'])\n\
         \x20       t = h.get('ObjectLockRetainUntilDate')\n\
         \x20       print(o['Key'], h.get('ObjectLockMode', '-'), int(t.timestamp()) if t else 0)",
        &[bucket, prefix],
    );
    out.lines()
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (v[0].to_string(), (v[1].trim_matches('-').to_string(), v[2].parse().unwrap()))
        })
        .collect()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn write_files(dir: &std::path::Path, names: &[&str]) {
    for n in names {
        let body: Vec<u8> = (0..200_000u32)
            .map(|j| (j.wrapping_mul(2_654_435_761) >> (n.len() as u32 + j % 7)) as u8 ^ n.as_bytes()[0])
            .collect();
        std::fs::write(dir.join(n), body).unwrap();
    }
}

s3_tests! {
    /// Every file a restore needs is written locked; the locks of what the live snapshot
    /// needs are extended, those of what only a forgotten snapshot needed are not; the
    /// server refuses to destroy a locked version; prune waits for the locks and says until
    /// when; the data still restores byte for byte.
    fn locked_repository_keeps_what_snapshots_need_locked(srv: &S3Server) {
        srv.create_bucket("plainbucket");
        let (code, _, err) = srv.cellar(&[
            "init", "--repo", "s3://plainbucket/r", "--object-lock", "compliance", "--retain", "1d", "--kdf-memory-kib", "256",
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("not created with Object Lock enabled"), "{err}");
        assert!(locks(srv, "plainbucket", "r/").is_empty(), "a refused init writes nothing");

        srv.py("s3.create_bucket(Bucket='worm', ObjectLockEnabledForBucket=True)", &[]);
        let repo = "s3://worm/r";
        let before = now();
        let (code, _, err) =
            srv.cellar(&["init", "--repo", repo, "--object-lock", "compliance", "--retain", "1d", "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let config: serde_json::Value =
            serde_json::from_str(&srv.py("print(s3.get_object(Bucket='worm', Key='r/config')['Body'].read().decode())", &[])).unwrap();
        // Locked (v3), append-only keys possible (v4), pg_dump archives transparent (v5).
        assert_eq!(config["version"], 5, "a locked repository is format v3 or later: {config}");

        let data = tempfile::tempdir().unwrap();
        write_files(data.path(), &["old.bin", "kept.bin"]);
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", data.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let first = json(&out)["snapshot_id"].as_str().unwrap().to_string();
        std::fs::remove_file(data.path().join("old.bin")).unwrap();
        write_files(data.path(), &["new.bin"]);
        let (code, _, err) = srv.cellar(&["backup", "--repo", repo, data.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let after = now();

        let written = locks(srv, "worm", "r/");
        let locked_kinds = ["config", "keys/", "data/", "index/", "snapshots/", "sessions/"];
        for (key, (mode, until)) in &written {
            let name = key.strip_prefix("r/").unwrap();
            if locked_kinds.iter().any(|k| name.starts_with(k)) {
                assert_eq!(mode, "COMPLIANCE", "{key}");
                assert!((before + 86_400..=after + 86_400 + 1).contains(until), "{key} locked until {until}");
            } else {
                assert_eq!(mode, "", "{key} is a hint or marker and is not locked");
            }
        }
        assert!(written.keys().filter(|k| k.starts_with("r/data/")).count() >= 2);
        assert!(written.keys().any(|k| k.starts_with("r/sessions/")), "the session file is locked: {written:?}");

        // The server itself refuses to destroy a locked version.
        let pack = written.keys().find(|k| k.starts_with("r/data/")).unwrap();
        let refused = srv.py(
            "v = s3.list_object_versions(Bucket='worm', Prefix=sys.argv[1])['Versions'][0]['VersionId']\n\
             try:\n\
             \x20   s3.delete_object(Bucket='worm', Key=sys.argv[1], VersionId=v)\n\
             \x20   print('deleted')\n\
             except Exception as e:\n\
             \x20   print('refused', e)",
            &[pack],
        );
        assert!(refused.starts_with("refused"), "{refused}");

        // The first snapshot is forgotten: what only it needed is left to run out.
        let (code, _, err) = srv.cellar(&["forget", "--repo", repo, &first]);
        assert_eq!(code, 0, "{err}");
        // The extension dates its locks from some moment while it runs: not before this.
        let extended_at = now();
        let (code, out, err) = srv.cellar(&["locks", "extend", "--repo", repo, "--min-remaining", "2d", "--json"]);
        assert_eq!(code, 0, "{err}");
        let r = json(&out);
        let (needed, extended, not_needed) =
            (r["files_needed"].as_u64().unwrap(), r["files_extended"].as_u64().unwrap(), r["files_not_needed"].as_u64().unwrap());
        assert_eq!(extended, needed, "{r}");
        assert!(not_needed >= 1, "the forgotten snapshot's own pack and file: {r}");
        let now_locks = locks(srv, "worm", "r/");
        let (mut moved, mut kept) = (0, 0);
        for (key, (mode, until)) in &now_locks {
            let Some((_, old)) = written.get(key) else { continue };
            if mode.is_empty() {
                continue;
            }
            if until > old {
                assert!(*until >= extended_at + 86_400 - 2, "{key}: extended to a full period from now");
                moved += 1;
            } else {
                kept += 1;
            }
        }
        assert_eq!((moved, kept), (needed, not_needed), "exactly the needed files were extended");
        // Idempotent: right after, nothing is due.
        let (code, out, err) = srv.cellar(&["locks", "extend", "--repo", repo, "--json"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json(&out)["files_extended"], 0, "{out}");

        // Prune finds the forgotten data but may not delete it before its lock ends.
        let (code, _, err) = srv.cellar(&["prune", "--repo", repo, "--grace", "0s", "--max-unused", "0%"]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = srv.cellar(&["prune", "--repo", repo, "--grace", "0s", "--json"]);
        assert_eq!(code, 0, "{err}");
        let p = json(&out);
        assert!(p["packs_locked"].as_u64().unwrap() >= 1, "{p}");
        assert_eq!(p["packs_deleted"], 0, "{p}");
        let until = p["locked_until_first"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_second();
        assert!((before + 86_400 - 700..=after + 86_400 + 1).contains(&until), "{p}");
        let left = locks(srv, "worm", "r/data/");
        for k in now_locks.keys().filter(|k| k.starts_with("r/data/")) {
            assert!(left.contains_key(k), "{k} was deleted while locked");
        }

        let (code, _, err) = srv.cellar(&["check", "--repo", repo, "--read-data"]);
        assert_eq!(code, 0, "{err}");
        let target = tempfile::tempdir().unwrap();
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest", "--target", target.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let restored: BTreeMap<String, String> = sha256_dir(target.path())
            .into_iter()
            .filter_map(|(k, v)| Some((k.rsplit('/').next()?.to_string(), v)))
            .collect();
        assert_eq!(restored, sha256_dir(data.path()));
    }

    /// Once a forgotten pack's lock has run out, prune deletes it (a lock of seconds, so
    /// the test sees it end).
    fn prune_deletes_a_pack_once_its_lock_has_ended(srv: &S3Server) {
        srv.py("s3.create_bucket(Bucket='shortlock', ObjectLockEnabledForBucket=True)", &[]);
        let repo = "s3://shortlock/r";
        let (code, _, err) =
            srv.cellar(&["init", "--repo", repo, "--object-lock", "governance", "--retain", "3s", "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let data = tempfile::tempdir().unwrap();
        write_files(data.path(), &["a.bin"]);
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", data.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let snap = json(&out)["snapshot_id"].as_str().unwrap().to_string();

        // The nightly job keeps the locks of what its snapshots need: with a lock of
        // seconds, all of them are due each time.
        let written = locks(srv, "shortlock", "r/");
        // Locks are whole seconds: an extension can only be seen to move a lock once the
        // clock has passed the second the backup's locks were dated from.
        let dated = written.values().map(|(_, t)| *t).max().unwrap() - 3;
        while now() <= dated {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let dir = tempfile::tempdir().unwrap();
        let (pw, profile) = (dir.path().join("pw"), dir.path().join("nightly.toml"));
        std::fs::write(&pw, crate::common::PASSWORD).unwrap();
        std::fs::write(
            &profile,
            format!(
                "repository = \"{repo}\"\npassword-file = \"{}\"\n[sources.files]\npath = \"{}\"\n",
                pw.display(),
                data.path().display()
            ),
        )
        .unwrap();
        let (code, out, err) = srv.cellar(&["run", profile.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let run = json(&out);
        let l = &run["locks"]["report"];
        assert!(l["files_extended"].as_u64().unwrap() >= 5, "{run}");
        let extended = locks(srv, "shortlock", "r/");
        for (key, (_, until)) in written.iter().filter(|(_, (m, _))| !m.is_empty()) {
            assert!(extended[key].1 >= *until, "{key}");
        }
        assert!(written.iter().any(|(k, (_, t))| !k.contains("snapshots/") && extended[k].1 > *t), "{written:?} {extended:?}");

        // An offsite copy into a locked repository is locked by its own settings.
        let offsite = "s3://shortlock/offsite";
        let (code, _, err) = srv.cellar(&[
            "init", "--repo", offsite, "--object-lock", "compliance", "--retain", "2d", "--kdf-memory-kib", "256",
        ]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = srv.cellar(&["copy", "--repo", repo, "--to-repo", offsite]);
        assert_eq!(code, 0, "{err}");
        let copied = locks(srv, "shortlock", "offsite/");
        assert!(copied.keys().any(|k| k.starts_with("offsite/data/")), "{copied:?}");
        for (key, (mode, until)) in copied.iter().filter(|(k, _)| !k.contains("/writers/") && !k.contains("/sketches/")) {
            assert_eq!(mode, "COMPLIANCE", "{key}");
            assert!(*until > now() + 86_400, "{key}");
        }

        let nightly = run["sources"][0]["backup"]["snapshot_id"].as_str().unwrap();
        let (code, _, err) = srv.cellar(&["forget", "--repo", repo, &snap, nightly]);
        assert_eq!(code, 0, "{err}");
        let lock_ends = locks(srv, "shortlock", "r/data/").values().map(|(_, t)| *t).max().unwrap();
        // Poll until prune deletes the pack; it must not before the lock has ended.
        let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
        loop {
            let started = now();
            let (code, out, err) = srv.cellar(&["prune", "--repo", repo, "--grace", "0s", "--json"]);
            assert_eq!(code, 0, "{err}");
            let p = json(&out);
            if p["packs_deleted"].as_u64().unwrap() > 0 {
                assert!(started + 1 >= lock_ends, "deleted at {started}, locked until {lock_ends}: {p}");
                assert!(locks(srv, "shortlock", "r/data/").is_empty(), "{p}");
                break;
            }
            if p["packs_locked"].as_u64().unwrap() > 0 {
                let until = p["locked_until_last"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_second();
                assert!((lock_ends - 1..=lock_ends).contains(&until), "reported {until}, the server says {lock_ends}: {p}");
            }
            assert!(std::time::Instant::now() < deadline, "prune never deleted the pack: {p}");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}
