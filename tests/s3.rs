//! S3 end to end against REAL S3 servers on 127.0.0.1 (tests/common/s3.rs): moto, and Ceph
//! RGW, the platform's own S3. A Mimir-like bucket of real promtool blocks → repository in
//! another bucket → restore into a third bucket; buckets are filled and read back with
//! boto3, an independent client. The tests in `s3_tests!` run against both servers; the
//! others need one server's particular behaviour (moto's simulated GLACIER and IAM, RGW's
//! storage classes as placement labels).

use crate::common::s3::*;
use crate::common::tsdb::*;
use crate::common::*;
use crate::s3_tests;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

s3_tests! {
    fn mimir_bucket_to_s3_repository_to_another_bucket(srv: &S3Server) {
        for b in ["mimir", "archive", "restored"] {
            srv.create_bucket(b);
        }
        srv.upload_dir(bucket(), "mimir");
        let repo = "s3://archive/cellar";
        let (code, _, err) = srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");

        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", "s3://mimir"]);
        assert_eq!(code, 3, "corrupted blocks are reported: {err}");
        let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        let expected = complete_blocks(bucket());
        assert_eq!(
            r["blocks"].as_u64().unwrap() as usize,
            expected.values().map(std::collections::BTreeSet::len).sum::<usize>()
        );
        assert_eq!(
            (r["excluded_partial"].as_u64(), r["excluded_corrupted"].as_u64(), r["excluded_deletion_marked"].as_u64()),
            (Some(2), Some(2), Some(2))
        );

        // Unchanged bucket: key, size and ETag match the parent, nothing is downloaded.
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", "--allow-corrupted", "s3://mimir"]);
        assert_eq!(code, 0, "{err}");
        let r2: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(r2["bytes_read"], 0, "{r2}");
        assert_eq!(r2["files_unmodified"], r["total_files"]);

        let (code, _, err) = srv.cellar(&["check", "--repo", repo, "--read-data"]);
        assert_eq!(code, 0, "{err}");
        // `latest:mimir` restores the snapshot's mimir directory at the bucket's root.
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest:mimir", "--target", "s3://restored"]);
        assert_eq!(code, 0, "{err}");

        // Exactly the complete blocks, byte for byte, under the same keys.
        let source = sha256_dir(bucket());
        let want: BTreeMap<String, String> = source
            .into_iter()
            .filter(|(k, _)| {
                let parts: Vec<&str> = k.split('/').collect();
                parts.len() >= 3 && expected.get(parts[0]).is_some_and(|s| s.contains(parts[1]))
            })
            .collect();
        assert_eq!(srv.contents("restored"), want);
    }

    /// Someone with the S3 keys deletes the repository and overwrites its config; the
    /// bucket's versioning kept the old versions, and `--as-of` reads the repository as it
    /// was: its snapshots list, check and restore byte-exactly. Writes are refused.
    fn as_of_recovers_a_deleted_and_overwritten_repository(srv: &S3Server) {
        srv.create_bucket("archive");
        srv.py("s3.put_bucket_versioning(Bucket='archive', VersioningConfiguration={'Status': 'Enabled'})", &[]);
        let repo = "s3://archive/r";
        let (code, _, err) = srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let data = tempfile::tempdir().unwrap();
        for i in 0..20u32 {
            let body: Vec<u8> = (0..50_000u32).map(|j| (j.wrapping_mul(2_654_435_761) >> (i % 24)) as u8).collect();
            std::fs::write(data.path().join(format!("f{i}.bin")), body).unwrap();
        }
        let (code, _, err) = srv.cellar(&["backup", "--repo", repo, data.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");

        // The moment to recover: the backup's newest write (or marker removal) as the
        // server dated it.
        let newest: i64 = srv
            .py(
                "v = s3.list_object_versions(Bucket='archive', Prefix='r/')\n\
                 print(max(int(x['LastModified'].timestamp() * 1000) for x in v['Versions'] + v.get('DeleteMarkers', [])))",
                &[],
            )
            .trim()
            .parse()
            .unwrap();
        let at = jiff::Timestamp::from_millisecond(newest).unwrap().to_string();
        // The attack must be dated later, also on a server that keeps whole seconds.
        while jiff::Timestamp::now().as_millisecond() < (newest / 1000 + 1) * 1000 + 50 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        srv.py(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket='archive', Prefix='r/'):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       s3.delete_object(Bucket='archive', Key=o['Key'])\n\
             s3.put_object(Bucket='archive', Key='r/config', Body=b'{\"version\": 99}')",
            &[],
        );
        let (code, _, err) = srv.cellar(&["snapshots", "--repo", repo, "--no-cache"]);
        assert_ne!(code, 0, "the attack broke the current repository: {err}");

        let (code, out, err) = srv.cellar(&["snapshots", "--repo", repo, "--as-of", &at, "--json"]);
        assert_eq!(code, 0, "{err}");
        let snaps: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");
        let (code, out, err) = srv.cellar(&["check", "--repo", repo, "--as-of", &at, "--read-data"]);
        assert_eq!(code, 0, "{out}{err}");
        let target = tempfile::tempdir().unwrap();
        let (code, _, err) =
            srv.cellar(&["restore", "--repo", repo, "--as-of", &at, "latest", "--target", target.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let restored: BTreeMap<String, String> = sha256_dir(target.path())
            .into_iter()
            .filter_map(|(k, v)| Some((k.rsplit('/').next()?.to_string(), v)))
            .collect();
        let original: BTreeMap<String, String> = sha256_dir(data.path());
        assert_eq!(restored, original);

        // What the attack left can be copied out into a new repository.
        let rescued = tempfile::tempdir().unwrap();
        let dest = rescued.path().join("r");
        let (code, _, err) = srv.cellar(&["init", "--repo", dest.to_str().unwrap(), "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = srv.cellar(&["copy", "--repo", repo, "--as-of", &at, "--to-repo", dest.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = srv.cellar(&["check", "--repo", dest.to_str().unwrap(), "--read-data"]);
        assert_eq!(code, 0, "{err}");

        // Before the repository existed there is nothing; a write is refused up front.
        let (code, _, err) = srv.cellar(&["snapshots", "--repo", repo, "--as-of", "2001-01-01"]);
        assert_eq!(code, 1, "{err}");
        let (code, _, err) = srv.cellar(&["backup", "--repo", repo, "--as-of", &at, data.path().to_str().unwrap()]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("read-only") && err.contains("copy --to-repo"), "{err}");
    }

    fn s3_errors_are_one_clear_line(srv: &S3Server) {
        srv.create_bucket("archive");
        let (code, _, err) = srv.cellar(&["init", "--repo", "s3://missing-bucket/x", "--kdf-memory-kib", "256"]);
        assert_eq!(code, 1);
        assert!(err.contains("bucket does not exist"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");

        let (code, _, err) = srv.cellar(&["init", "--repo", "s3://archive/r", "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = srv.cellar(&["backup", "--repo", "s3://archive/r", "s3://no-such-source"]);
        assert_eq!(code, 1);
        assert!(err.contains("bucket does not exist"), "{err}");
        // Nothing half-written: no snapshot appeared.
        let (_, out, _) = srv.cellar(&["snapshots", "--repo", "s3://archive/r", "--json"]);
        assert_eq!(out.trim(), "[]");

        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (code, _, err) =
            srv.cellar(&["snapshots", "--repo", "s3://archive/r", "--s3-endpoint", &format!("http://127.0.0.1:{dead}")]);
        assert_eq!(code, 1);
        assert!(err.contains("reachable"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    fn copy_to_an_offsite_s3_repository_moves_only_missing_data(srv: &S3Server) {
        srv.create_bucket("offsite");
        let env = Env::new();
        let src = env.path("data");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), pseudo_random(3 << 20, 1)).unwrap();
        std::fs::write(src.join("b"), pseudo_random(1 << 20, 2)).unwrap();
        env.backup(&[src.to_str().unwrap()]);
        let offsite = "s3://offsite/cellar";
        let (code, _, err) = srv.cellar(&["init", "--repo", offsite, "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
        let local = env.repo.to_str().unwrap();

        let (code, out, err) = srv.cellar(&["copy", "--repo", local, "--to-repo", offsite, "--json"]);
        assert_eq!(code, 0, "{err}");
        let first: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(first["snapshots_copied"].as_array().unwrap().len(), 1);
        assert!(first["bytes_added"].as_u64().unwrap() > 4 << 20);

        // Again: nothing to do.
        let (_, out, _) = srv.cellar(&["copy", "--repo", local, "--to-repo", offsite, "--json"]);
        let again: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(again["snapshots_copied"].as_array().unwrap().len(), 0);
        assert_eq!(again["snapshots_already_present"], 1);
        assert_eq!(again["blobs_stored"], 0);

        // A new snapshot sharing most data: only the new file's data travels.
        std::fs::write(src.join("c"), pseudo_random(1 << 20, 3)).unwrap();
        env.backup(&[src.to_str().unwrap()]);
        let (_, out, _) = srv.cellar(&["copy", "--repo", local, "--to-repo", offsite, "latest", "--json"]);
        let third: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(third["snapshots_copied"].as_array().unwrap().len(), 1);
        assert!(third["bytes_added"].as_u64().unwrap() < (1 << 20) + (64 << 10), "{third}");

        let (code, _, err) = srv.cellar(&["check", "--repo", offsite, "--read-data"]);
        assert_eq!(code, 0, "{err}");
        let out_dir = env.path("restored");
        let (code, _, err) =
            srv.cellar(&["restore", "--repo", offsite, "latest", "--target", out_dir.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert_same_tree(&src, &out_dir.join("data"));
    }

    fn metadata_cache_is_used_and_verified(srv: &S3Server) {
        srv.create_bucket("archive");
        let repo = "s3://archive/c";
        assert_eq!(srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
        let env = Env::new();
        let src = env.path("d");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("f"), b"cached").unwrap();
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", src.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let id = serde_json::from_str::<serde_json::Value>(out.lines().last().unwrap()).unwrap()["snapshot_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(srv.cellar(&["snapshots", "--repo", repo]).0, 0);
        let key = format!("c/snapshots/{id}");
        let good = srv.py(
            "sys.stdout.buffer.write(s3.get_object(Bucket='archive', Key=sys.argv[1])['Body'].read().hex().encode())",
            &[&key],
        );

        // Damage the object in S3: the verified cache still serves the right bytes …
        srv.py("s3.put_object(Bucket='archive', Key=sys.argv[1], Body=b'damaged')", &[&key]);
        let (code, _, err) = srv.cellar(&["snapshots", "--repo", repo]);
        assert_eq!(code, 0, "{err}");
        // … and without the cache the damage is reported (and the snapshot skipped), not used.
        let (code, out, err) = srv.cellar(&["snapshots", "--repo", repo, "--no-cache"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains(&format!("skipping snapshots/{id}")) && err.contains("integrity"), "{err}");
        assert!(out.contains("0 snapshots"), "{out}");

        // Damage the cache instead: it is detected and refilled from the (repaired) bucket.
        srv.py("s3.put_object(Bucket='archive', Key=sys.argv[1], Body=bytes.fromhex(sys.argv[2]))", &[&key, &good]);
        let cached: Vec<_> = files_under(srv.cache.path()).into_iter().filter(|p| p.ends_with(&id)).collect();
        for p in files_under(srv.cache.path()) {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
        assert_eq!(cached.len(), 1, "the snapshot file is cached");
        std::fs::write(&cached[0], b"bad cache").unwrap();
        let (code, out, err) = srv.cellar(&["snapshots", "--repo", repo, "--json"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&id));
        assert_eq!(hex::encode(std::fs::read(&cached[0]).unwrap()), good);
    }

    fn reads_resume_after_a_reset_and_s3_restores_put_meta_json_last(srv: &S3Server) {
        for b in ["mimir", "archive", "restored"] {
            srv.create_bucket(b);
        }
        srv.upload_dir(bucket(), "mimir");
        let repo = "s3://archive/r";
        assert_eq!(srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);

        // 1. A segment download is cut in the middle: the read resumes with a ranged GET.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("backup.log");
        let proxy = Proxy::start(srv, &log, Some("/chunks/000001"));
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", "--allow-corrupted", "--s3-endpoint", &proxy.endpoint, "s3://mimir"],
        );
        assert_eq!(code, 0, "{err}");
        let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
        let requests = std::fs::read_to_string(&log).unwrap();
        assert!(
            requests.lines().any(|l| l.starts_with("GET /mimir/") && l.contains("/chunks/000001") && l.contains("bytes=")),
            "no resumed (ranged) GET:\n{requests}"
        );
        drop(proxy);

        // 2. Restore through the proxy: the PUT order on the wire puts every meta.json after
        //    every other object of its block.
        let log = dir.path().join("restore.log");
        let proxy = Proxy::start(srv, &log, None);
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest", "--target", "s3://restored/m", "--s3-endpoint", &proxy.endpoint],
        );
        assert_eq!(code, 0, "{err}");
        let puts: Vec<String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("PUT /restored/"))
            .map(|l| l.split(' ').nth(1).unwrap().split('?').next().unwrap().to_string())
            .collect();
        let metas: Vec<usize> = (0..puts.len()).filter(|&i| puts[i].ends_with("/meta.json")).collect();
        assert_eq!(metas.len(), complete_blocks(bucket()).values().map(std::collections::BTreeSet::len).sum::<usize>());
        for &i in &metas {
            let block = puts[i].trim_end_matches("meta.json");
            let last_other = puts.iter().rposition(|p| p.starts_with(block) && !p.ends_with("/meta.json")).unwrap();
            assert!(last_other < i, "{} was uploaded before the rest of its block", puts[i]);
        }
        // And the bytes that crossed the cut connection are exact.
        let want: BTreeMap<String, String> = sha256_dir(bucket())
            .into_iter()
            .filter(|(k, _)| {
                let p: Vec<&str> = k.split('/').collect();
                p.len() >= 3 && complete_blocks(bucket()).get(p[0]).is_some_and(|s| s.contains(p[1]))
            })
            .map(|(k, v)| (format!("m/mimir/{k}"), v))
            .collect();
        assert_eq!(srv.contents("restored"), want);
    }

    /// Keys S3 allows but a path cannot hold (`a//b`, `dir/`, `.`, `..`, a key that is also a
    /// prefix of others) are stored under escaped names, reported, and restored into S3 under
    /// exactly their own keys.
    fn unrepresentable_keys_are_stored_escaped_and_restore_exactly(srv: &S3Server) {
        for b in ["odd", "archive", "back"] {
            srv.create_bucket(b);
        }
        let keys = ["ok/file", "a//b", "x/./y", "p/../q", "dir/", "same", "same/child", "%"];
        srv.py(
            "import json\nfor k in json.loads(sys.argv[1]):\n    s3.put_object(Bucket='odd', Key=k, Body=('body of ' + k).encode())",
            &[&serde_json::to_string(&keys).unwrap()],
        );
        let repo = "s3://archive/c";
        assert_eq!(srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
        let (code, out, err) = srv.cellar(&["backup", "--repo", repo, "--json", "s3://odd"]);
        assert_eq!(code, 0, "every object is stored: {err}");
        let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(r["total_files"], keys.len(), "{r}");
        let notices: Vec<&str> = r["notices"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        for key in ["a//b", "x/./y", "p/../q", "dir/", "same"] {
            assert!(notices.iter().any(|n| n.contains(&format!("s3://odd/{key}:"))), "{key} not reported: {notices:?}");
        }
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest", "--target", "s3://back"]);
        assert_eq!(code, 0, "{err}");
        let got = srv.contents("back");
        let want: BTreeMap<String, String> =
            srv.contents("odd").into_iter().map(|(k, v)| (format!("odd/{k}"), v)).collect();
        assert_eq!(got, want, "S3 → S3 restores give every key back exactly");
        srv.create_bucket("back2");
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest:odd", "--target", "s3://back2"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(srv.contents("back2"), srv.contents("odd"), "bucket → same keys in another bucket");
    }

    /// A restored bucket carries the original's ETags, multipart ones included (boto3's
    /// 8 MiB parts, rclone-like 5 MiB parts): ETag-based tools see nothing changed.
    fn restored_buckets_keep_the_original_etags(srv: &S3Server) {
        for b in ["src", "archive", "dst"] {
            srv.create_bucket(b);
        }
        let dir = tempfile::tempdir().unwrap();
        for (name, len, seed) in [("small", 3 << 20, 1), ("boto3-parts", (20 << 20) + 17, 2), ("rclone-parts", 12 << 20, 3)] {
            std::fs::write(dir.path().join(name), pseudo_random(len, seed)).unwrap();
        }
        srv.py(
            "from boto3.s3.transfer import TransferConfig\n\
             d = sys.argv[1]\n\
             s3.upload_file(d + '/small', 'src', 'small')\n\
             s3.upload_file(d + '/boto3-parts', 'src', 'a/boto3-parts')\n\
             s3.upload_file(d + '/rclone-parts', 'src', 'a/rclone-parts', Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))",
            &[dir.path().to_str().unwrap()],
        );
        let original = srv.etags("src");
        assert!(original["a/boto3-parts"].ends_with("-3\"") && original["a/rclone-parts"].ends_with("-3\""), "{original:?}");
        let repo = "s3://archive/r";
        assert_eq!(srv.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
        let (code, _, err) = srv.cellar(&["backup", "--repo", repo, "s3://src"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = srv.cellar(&["restore", "--repo", repo, "latest:src", "--target", "s3://dst"]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("ETag"), "{err}");
        assert_eq!(srv.etags("dst"), original);
        assert_eq!(srv.contents("dst"), srv.contents("src"));
    }
}

#[test]
fn import_dop_writes_private_remotes_that_back_up_bucket_to_bucket() {
    use std::os::unix::fs::PermissionsExt;
    let moto = S3Server::moto();
    for b in ["dop-mimir", "dop-loki", "dop-backup"] {
        moto.create_bucket(b);
    }
    moto.upload_dir(bucket(), "dop-mimir");
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let secret = "wJalrXUtnFEMI-very-secret";
    // The shape of `kubectl get secrets,configmaps -o json`.
    let items: Vec<serde_json::Value> = ["mimir", "loki", "backup"]
        .iter()
        .flat_map(|n| {
            [
                serde_json::json!({"kind": "Secret", "metadata": {"name": format!("{n}-s3")},
                    "data": {"AWS_ACCESS_KEY_ID": b64(&format!("key-{n}")), "AWS_SECRET_ACCESS_KEY": b64(secret)}}),
                serde_json::json!({"kind": "ConfigMap", "metadata": {"name": format!("{n}-s3")},
                    "data": {"BUCKET_NAME": format!("dop-{n}")}}),
            ]
        })
        .collect();
    let input = serde_json::to_vec(&serde_json::json!({"kind": "List", "items": items})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("etc/cellar.toml");
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
    moto.env(&mut c);
    let mut child = c
        .args(["--config", cfg.to_str().unwrap(), "config", "import-dop", "--endpoint", &moto.endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &input).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(secret), "a secret was printed: {printed}");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!cfg_text.contains(secret), "the config file must not hold secrets");
    for n in ["mimir", "loki", "backup"] {
        let f = dir.path().join(format!("etc/{n}.credentials"));
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(&f).unwrap().contains(&format!("key-{n}")));
    }
    assert!(cfg_text.contains("dop-mimir") && cfg_text.contains("[remote.backup]"), "{cfg_text}");

    // The remotes work: bucket to bucket, with the endpoint and keys from the config only.
    let run = |args: &[&str]| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("cellar"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("CELLAR_PASSWORD", PASSWORD)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["--repo", "remote:backup/cellar", "init", "--kdf-memory-kib", "256"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) =
        run(&["--repo", "remote:backup/cellar", "backup", "--allow-corrupted", "--json", "remote:mimir"]);
    assert_eq!(code, Some(0), "{err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        r["blocks"].as_u64().unwrap() as usize,
        complete_blocks(bucket()).values().map(std::collections::BTreeSet::len).sum::<usize>()
    );
    assert!(moto.contents("dop-backup").keys().any(|k| k.starts_with("cellar/snapshots/")));
}

/// Data packs in GLACIER: everyday commands never touch them (moto refuses to read cold
/// objects, so any read would fail), and restore requests exactly the packs it needs.
#[test]
fn cold_packs_are_not_read_by_metadata_commands_and_restored_on_demand() {
    let moto = S3Server::moto();
    moto.create_bucket("cold");
    let repo = "s3://cold/r";
    let (code, _, err) = moto.cellar(&[
        "init",
        "--repo",
        repo,
        "--kdf-memory-kib",
        "256",
        "--pack-size",
        "1M",
        "--pack-storage-class",
        "GLACIER",
    ]);
    assert_eq!(code, 0, "{err}");
    let env = Env::new();
    let src = env.path("d");
    std::fs::create_dir(&src).unwrap();
    for i in 0..3 {
        std::fs::write(src.join(format!("f{i}")), pseudo_random(2_500_000, i)).unwrap();
    }
    let (code, _, err) = moto.cellar(&["backup", "--repo", repo, src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let classes: BTreeMap<String, String> = serde_json::from_str(&moto.py(
        "res = {}\nfor o in s3.list_objects_v2(Bucket='cold')['Contents']:\n    res[o['Key']] = o.get('StorageClass', 'STANDARD')\nprint(json.dumps(res))",
        &[],
    ))
    .unwrap();
    let cold: Vec<&String> = classes.iter().filter(|(_, c)| *c == "GLACIER").map(|(k, _)| k).collect();
    assert!(cold.len() >= 3, "data packs are cold: {classes:?}");
    assert!(cold.iter().all(|k| k.starts_with("r/data/")));
    assert!(classes.iter().any(|(k, c)| k.starts_with("r/data/") && c == "STANDARD"), "metadata packs stay hot");

    for args in [
        vec!["snapshots"],
        vec!["ls", "latest"],
        vec!["check"],
        vec!["stats"],
        vec!["forget", "--keep-last", "1", "--dry-run"],
        vec!["prune", "--dry-run"],
    ] {
        let mut a = vec!["--repo", repo];
        a.extend(args.iter());
        let (code, _, err) = moto.cellar(&a);
        assert_eq!(code, 0, "{args:?} must not read cold packs: {err}");
    }

    let target = env.path("out");
    let (code, out, err) = moto.cellar(&[
        "restore",
        "--repo",
        repo,
        "latest",
        "--target",
        target.to_str().unwrap(),
        "--include",
        "d/f1",
        "--no-wait",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let requested: std::collections::BTreeSet<String> = serde_json::from_str::<serde_json::Value>(&out).unwrap()
        ["cold_packs_requested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("r/{}", v.as_str().unwrap()))
        .collect();
    assert!(!target.join("d/f1").exists(), "--no-wait writes nothing");
    let restoring: std::collections::BTreeSet<String> = serde_json::from_str::<Vec<String>>(&moto.py(
        "res = []\nfor o in s3.list_objects_v2(Bucket='cold')['Contents']:\n    if 'Restore' in s3.head_object(Bucket='cold', Key=o['Key']):\n        res.append(o['Key'])\nprint(json.dumps(res))",
        &[],
    ))
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(restoring, requested, "restore requested exactly the packs it needs");
    assert!(!requested.is_empty() && requested.len() < cold.len(), "one file needs some packs, not all");

    let (code, _, err) =
        moto.cellar(&["restore", "--repo", repo, "latest", "--target", target.to_str().unwrap(), "--include", "d/f1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(target.join("d/f1")).unwrap(), pseudo_random(2_500_000, 1));
    let (code, _, err) = moto.cellar(&["check", "--repo", repo, "--read-data"]);
    assert_eq!(code, 0, "{err}");
}

/// With a server that checks signatures (moto enforces IAM after its first N requests,
/// used here to create a user and its key), a wrong secret is one clear line.
#[test]
fn wrong_credentials_are_one_clear_line() {
    let moto = S3Server::moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let keys = moto.py(
        "iam = boto3.client('iam', region_name='us-east-1', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n\
         iam.create_user(UserName='cellar')\n\
         iam.put_user_policy(UserName='cellar', PolicyName='s3', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))\n\
         k = iam.create_access_key(UserName='cellar')['AccessKey']\n\
         s3.create_bucket(Bucket='authed')\n\
         print(k['AccessKeyId'], k['SecretAccessKey'])",
        &[],
    );
    let (id, secret) = keys.trim().split_once(' ').unwrap();
    let run = |secret: &str| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
        moto.env(&mut c);
        let out = c
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("CELLAR_PASSWORD", PASSWORD)
            .args(["init", "--repo", "s3://authed/r", "--kdf-memory-kib", "256"])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run("not-the-secret");
    assert_eq!(code, Some(1));
    assert!(err.contains("check the credentials"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, err) = run(secret);
    assert_eq!(code, Some(0), "the right key works: {err}");
}

/// Throttling (503 SlowDown) is retried with backoff; and a second backup of an unchanged
/// bucket issues listing requests only: not one object is downloaded again.
#[test]
fn slowdown_is_retried_and_an_unchanged_bucket_costs_only_the_listing() {
    let moto = S3Server::moto();
    for b in ["many", "archive"] {
        moto.create_bucket(b);
    }
    moto.py(
        "for i in range(1500):\n    s3.put_object(Bucket='many', Key=f'tenant-{i % 3}/obj-{i:05d}', Body=os.urandom(100) + str(i).encode())",
        &[],
    );
    let repo = "s3://archive/r";
    assert_eq!(moto.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
    let dir = tempfile::tempdir().unwrap();

    let log = dir.path().join("first.log");
    let proxy = Proxy::throttling(&moto, &log, 5);
    let (code, out, err) =
        moto.cellar(&["backup", "--repo", repo, "--json", "--s3-endpoint", &proxy.endpoint, "s3://many"]);
    assert_eq!(code, 0, "throttled requests must be retried: {err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["files_new"], 1500);
    let first = std::fs::read_to_string(&log).unwrap();
    assert_eq!(first.lines().filter(|l| l.ends_with("THROTTLED")).count(), 5);
    drop(proxy);

    let log = dir.path().join("second.log");
    let proxy = Proxy::start(&moto, &log, None);
    let (code, out, err) =
        moto.cellar(&["backup", "--repo", repo, "--json", "--s3-endpoint", &proxy.endpoint, "s3://many"]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["files_unmodified"], 1500);
    assert_eq!(r["bytes_read"], 0);
    let second = std::fs::read_to_string(&log).unwrap();
    let source_requests: Vec<&str> = second.lines().filter(|l| l.contains(" /many")).collect();
    assert!(!source_requests.is_empty());
    assert!(
        source_requests.iter().all(|l| l.starts_with("GET /many?") || l.starts_with("GET /many/?")),
        "only listing requests on the source bucket: {:?}",
        source_requests.iter().filter(|l| !l.contains("list-type")).take(3).collect::<Vec<_>>()
    );
}

/// A multipart upload with `If-None-Match: *` onto an existing key creates nothing and
/// says so (it used to report "created" after the server's 412).
#[test]
fn a_conditional_multipart_upload_onto_an_existing_key_reports_not_created() {
    let moto = S3Server::moto();
    moto.create_bucket("bulky");
    let cfg = cellar::backend::s3::S3Config {
        endpoint: Some(moto.endpoint.clone()),
        access_key: Some("testing".into()),
        secret_key: Some("testing".into()),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let s3 = cellar::backend::s3::S3::connect(&cfg).unwrap();
    let big = pseudo_random((64 << 20) + 1000, 5);
    assert!(s3.upload("bulky", "k", big.len() as u64, &big[..], true, None).unwrap(), "the first upload creates");
    let other = pseudo_random((64 << 20) + 1000, 6);
    assert!(!s3.upload("bulky", "k", other.len() as u64, &other[..], true, None).unwrap(), "412: nothing created");
    // The first object is still there, whole.
    let got = moto.py("b = s3.get_object(Bucket='bulky', Key='k')['Body'].read()\nprint(len(b), b[:64].hex())", &[]);
    assert_eq!(got.trim(), format!("{} {}", big.len(), hex::encode(&big[..64])));
}

/// One request in ten fails (500, 503 SlowDown, connection reset, body cut short): backup
/// from S3 into S3, restore into S3 and copy between S3 repositories all complete with
/// exactly the right bytes. A store that is down gives one clear error and no snapshot.
#[test]
fn ten_percent_of_requests_failing_is_survived_and_a_dead_store_is_one_clear_error() {
    let moto = S3Server::moto();
    for b in ["mimir", "archive", "offsite", "restored"] {
        moto.create_bucket(b);
    }
    moto.upload_dir(bucket(), "mimir");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("faults.log");
    let proxy = Proxy::with_env(&moto, &log, None, &[("FAULT_RATE", "0.1"), ("FAULT_SEED", "7")]);
    let via = |args: &[&str]| {
        let mut a = vec!["--s3-endpoint", proxy.endpoint.as_str()];
        a.extend_from_slice(args);
        moto.cellar(&a)
    };
    for repo in ["s3://archive/r", "s3://offsite/r"] {
        let (code, _, err) = via(&["init", "--repo", repo, "--kdf-memory-kib", "256"]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = via(&["backup", "--repo", "s3://archive/r", "--allow-corrupted", "--no-cache", "s3://mimir"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        via(&["restore", "--repo", "s3://archive/r", "--no-cache", "latest", "--target", "s3://restored"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = via(&["copy", "--repo", "s3://archive/r", "--no-cache", "--to-repo", "s3://offsite/r"]);
    assert_eq!(code, 0, "{err}");
    let faults = std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.contains(" FAULT ")).count();
    assert!(faults >= 10, "the proxy must really have failed requests: {faults}");
    // Checked without the proxy: everything is there, byte for byte.
    for repo in ["s3://archive/r", "s3://offsite/r"] {
        let (code, _, err) = moto.cellar(&["check", "--repo", repo, "--read-data", "--no-cache"]);
        assert_eq!(code, 0, "{repo}: {err}");
    }
    let expected = complete_blocks(bucket());
    let want: BTreeMap<String, String> = sha256_dir(bucket())
        .into_iter()
        .filter(|(k, _)| {
            let parts: Vec<&str> = k.split('/').collect();
            parts.len() >= 3 && expected.get(parts[0]).is_some_and(|s| s.contains(parts[1]))
        })
        .map(|(k, v)| (format!("mimir/{k}"), v))
        .collect();
    assert_eq!(moto.contents("restored"), want);

    // A store that answers nothing but errors.
    let dead = Proxy::with_env(&moto, &dir.path().join("dead.log"), None, &[("FAULT_ALWAYS", "1")]);
    let snapshots_before =
        moto.py("print(len(s3.list_objects_v2(Bucket='archive', Prefix='r/snapshots/').get('Contents', [])))", &[]);
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
    moto.env(&mut c);
    let out = c
        .env("CELLAR_PASSWORD", PASSWORD)
        .args(["--s3-endpoint", &dead.endpoint, "--repo", "s3://archive/r", "--no-cache", "backup"])
        .arg(&src)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("InternalError"), "{err}");
    let snapshots_after =
        moto.py("print(len(s3.list_objects_v2(Bucket='archive', Prefix='r/snapshots/').get('Contents', [])))", &[]);
    assert_eq!(snapshots_before, snapshots_after, "no snapshot from a failed backup");
}

/// On Ceph RGW a storage class is a placement label: one the zonegroup does not declare is
/// refused at `init` (with a sentence, not RGW's empty 400) and leaves nothing behind; a
/// declared cold class needs no thaw (RestoreObject answers 501), so restores and
/// `check --read-data` read the packs directly and say so.
#[test]
fn rgw_storage_classes_are_probed_at_init_and_cold_labels_read_directly() {
    let srv = S3Server::rgw();
    srv.create_bucket("cold");
    let init = |class: &str| {
        srv.cellar(&[
            "init",
            "--repo",
            "s3://cold/r",
            "--kdf-memory-kib",
            "256",
            "--pack-size",
            "1M",
            "--pack-storage-class",
            class,
        ])
    };
    let (code, _, err) = init("ONEZONE_IA");
    assert_eq!(code, 1);
    assert!(err.contains("storage class \"ONEZONE_IA\"") && err.contains("does not offer it"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(srv.contents("cold").is_empty(), "a refused init leaves nothing: {:?}", srv.contents("cold"));

    let (code, _, err) = init("GLACIER");
    assert_eq!(code, 0, "{err}");
    let env = Env::new();
    let src = env.path("d");
    std::fs::create_dir(&src).unwrap();
    for i in 0..3 {
        std::fs::write(src.join(format!("f{i}")), pseudo_random(1_500_000, i)).unwrap();
    }
    let (code, _, err) = srv.cellar(&["backup", "--repo", "s3://cold/r", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let glacier = srv.py(
        "print(sum(1 for o in s3.list_objects_v2(Bucket='cold', Prefix='r/data/')['Contents'] if o.get('StorageClass') == 'GLACIER'))",
        &[],
    );
    assert!(glacier.trim().parse::<u32>().unwrap() >= 3, "data packs are labelled GLACIER: {glacier}");
    let target = env.path("out");
    let (code, _, err) =
        srv.cellar(&["restore", "--repo", "s3://cold/r", "latest", "--target", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("does not implement RestoreObject") && err.contains("reading them directly"), "{err}");
    assert_same_tree(&src, &target.join("d"));
    let (code, _, err) = srv.cellar(&["check", "--repo", "s3://cold/r", "--read-data"]);
    assert_eq!(code, 0, "{err}");
}

/// RGW checks signatures: a wrong secret for a real key is one clear line.
#[test]
fn rgw_wrong_credentials_are_one_clear_line() {
    let srv = S3Server::rgw();
    srv.create_bucket("authed");
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
    srv.env(&mut c);
    let out = c
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .env("CELLAR_PASSWORD", PASSWORD)
        .args(["init", "--repo", "s3://authed/r", "--kdf-memory-kib", "256"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("check the credentials"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// An object above 64 MiB is read as 16 MiB ranged GETs, each pinned to the listed ETag
/// (`If-Match`), and comes back exact.
#[test]
fn large_objects_are_read_as_pinned_parallel_ranges() {
    let moto = S3Server::moto();
    for b in ["big", "archive"] {
        moto.create_bucket(b);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = pseudo_random((80 << 20) + 123, 9);
    std::fs::write(dir.path().join("blob"), &data).unwrap();
    moto.py("s3.upload_file(sys.argv[1], 'big', 'x/blob')", &[dir.path().join("blob").to_str().unwrap()]);
    let repo = "s3://archive/r";
    assert_eq!(moto.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
    let log = dir.path().join("requests.log");
    let proxy = Proxy::start(&moto, &log, None);
    let (code, _, err) = moto.cellar(&["backup", "--repo", repo, "--s3-endpoint", &proxy.endpoint, "s3://big"]);
    assert_eq!(code, 0, "{err}");
    let ranges: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("GET /big/x/blob"))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(ranges.len(), 6, "five 16 MiB ranges and the rest: {ranges:?}");
    assert!(ranges.contains(&format!("bytes={}-{}", 5 << 24, data.len() - 1)), "{ranges:?}");
    let out = dir.path().join("out");
    let (code, _, err) = moto.cellar(&["restore", "--repo", repo, "latest", "--target", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(out.join("big/x/blob")).unwrap() == data, "the bytes come back exact");
}

/// Reads are planned over all files of a restore into a bucket, a copy and a dump: the
/// many small files of a bucket share ranged GETs of their packs (one per run), instead
/// of one or more GETs each. 150 small objects, with deltas and shared chunks among them.
#[test]
fn small_files_share_pack_reads_in_s3_restores_and_copies() {
    let moto = S3Server::moto();
    for b in ["src", "archive", "offsite", "restored"] {
        moto.create_bucket(b);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let common = pseudo_random(40_000, 1);
    for i in 0..150u64 {
        // Each a shared head (dedup across files) and a tail of its own.
        let mut body = common[..(i as usize * 97) % 30_000].to_vec();
        body.extend(pseudo_random(2_000 + (i as usize % 7) * 500, 100 + i));
        std::fs::write(data.join(format!("obj-{i:03}")), body).unwrap();
    }
    moto.upload_dir(&data, "src");
    let repo = "s3://archive/r";
    assert_eq!(moto.cellar(&["init", "--repo", repo, "--kdf-memory-kib", "256"]).0, 0);
    let (code, _, err) = moto.cellar(&["backup", "--repo", repo, "s3://src"]);
    assert_eq!(code, 0, "{err}");

    let log = dir.path().join("requests.log");
    let proxy = Proxy::start(&moto, &log, None);
    let pack_gets = |what: &str| {
        let text = std::fs::read_to_string(&log).unwrap();
        let gets: Vec<&str> = text.lines().filter(|l| l.starts_with("GET /archive/r/data/")).collect();
        let packs: std::collections::BTreeSet<&str> = gets.iter().map(|l| l.split('?').next().unwrap()).collect();
        assert!(!packs.is_empty(), "{what}: read nothing?");
        assert!(
            gets.len() <= 2 * packs.len(),
            "{what}: {} GETs for {} packs:\n{}",
            gets.len(),
            packs.len(),
            gets.join("\n")
        );
        std::fs::write(&log, "").unwrap();
    };
    let (code, _, err) = moto.cellar(&[
        "restore",
        "--repo",
        repo,
        "--s3-endpoint",
        &proxy.endpoint,
        "latest:src",
        "--target",
        "s3://restored",
    ]);
    assert_eq!(code, 0, "{err}");
    pack_gets("restore into a bucket");
    assert_eq!(moto.contents("restored"), moto.contents("src"), "every object back, exact");

    assert_eq!(moto.cellar(&["init", "--repo", "s3://offsite/r", "--kdf-memory-kib", "256"]).0, 0);
    let (code, _, err) =
        moto.cellar(&["copy", "--repo", repo, "--s3-endpoint", &proxy.endpoint, "--to-repo", "s3://offsite/r"]);
    assert_eq!(code, 0, "{err}");
    pack_gets("copy");
    let out = dir.path().join("out");
    let (code, _, err) =
        moto.cellar(&["restore", "--repo", "s3://offsite/r", "latest", "--target", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_dir(&out.join("src")), sha256_dir(&data), "the copy restores exactly");
}
