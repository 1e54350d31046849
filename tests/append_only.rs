//! Append-only keys (format v4, format-spec §16): a key that backs up, deduplicating
//! against everything stored, but opens no stored content and deletes nothing. Against a
//! local repository, and against moto enforcing IAM with credentials that have no
//! `s3:DeleteObject`.

use crate::common::s3::*;
use crate::common::*;
use std::collections::BTreeSet;
use std::process::Command;

const AO_PASSWORD: &str = "append only, nothing else";

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect()
}

/// Every storage name in a local repository.
fn names(repo: &std::path::Path) -> BTreeSet<String> {
    files_under(repo).into_iter().map(|p| p.strip_prefix(repo).unwrap().to_string_lossy().into_owned()).collect()
}

/// What each command an append-only key must not run says: one clear refusal.
fn assert_refused(code: i32, err: &str, what: &str) {
    assert_eq!(code, 1, "{what}: {err}");
    assert!(err.contains("this key is append-only"), "{what}: {err}");
}

#[test]
fn an_append_only_key_backs_up_with_dedup_but_reads_and_deletes_nothing() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..4u8 {
        std::fs::write(src.join(format!("f{i}")), data(i, 400_000)).unwrap();
    }
    std::fs::write(src.join("sub/notes.txt"), b"first\n").unwrap();
    let s = src.to_str().unwrap();
    env.ok(&["backup", s]);
    let cache = env.path("cache");
    let ao = |args: &[&str]| {
        let out =
            env.cmd().env("CELLAR_PASSWORD", AO_PASSWORD).env("CELLAR_CACHE_DIR", &cache).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let out = env.cmd().env("CELLAR_NEW_PASSWORD", AO_PASSWORD).args(["key", "add", "--append-only"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = env.ok(&["key", "list", "--json"]);
    let kinds: Vec<bool> =
        json(&keys).as_array().unwrap().iter().map(|k| k["append_only"].as_bool().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|a| **a).count(), 1, "{keys}");

    let before = names(&env.repo);
    // First append-only backup: no send log yet, so everything is read, and everything
    // deduplicates against what the full key stored.
    std::fs::write(src.join("sub/notes.txt"), b"second\n").unwrap();
    let (code, out, err) = ao(&["backup", "--json", s]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["parent"], serde_json::Value::Null, "{out}");
    assert!(r["bytes_read"].as_u64().unwrap() >= 1_600_000, "{out}");
    assert!(r["bytes_added"].as_u64().unwrap() < 20_000, "deduplicated against the full key's data: {out}");
    // Second: the send log gives the parent; only the changed file is read.
    std::fs::write(src.join("sub/notes.txt"), b"third\n").unwrap();
    let (code, out, err) = ao(&["backup", "--json", s]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert!(r["parent"].is_string(), "{out}");
    assert_eq!(r["files_unmodified"], 4, "{out}");
    assert_eq!(r["files_changed"], 1, "{out}");
    assert_eq!(r["bytes_read"], 6, "{out}");
    // The nightly profile: `run` backs up and leaves forget, prune and check to the full
    // key's job (said so, not failed).
    let profile = env.path("nightly.toml");
    let text = format!(
        "repository = \"{}\"\n[sources.data]\npath = \"{s}\"\nretention = {{ keep-last = 1 }}\n\
         [prune]\nevery = \"1s\"\ngrace = \"0s\"\n[check]\nrotate-over = 1\n",
        env.repo.display()
    );
    std::fs::write(&profile, text).unwrap();
    let (code, out, err) = ao(&["run", profile.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = json(&out);
    for step in ["prune", "check"] {
        assert!(r[step]["why"].as_str().unwrap().contains("append-only"), "{step}: {out}");
    }
    assert_eq!(r["sources"][0]["forgotten"], 0, "{out}");
    let after = names(&env.repo);
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(gone.is_empty(), "an append-only backup deleted {gone:?}");
    assert!(after.iter().any(|n| n.starts_with("sessions/")), "{after:?}");

    // Nothing stored can be read, listed or changed with it.
    let target = env.path("ao-target");
    let t = target.to_str().unwrap();
    for args in [
        &["snapshots"][..],
        &["ls", "latest"],
        &["restore", "latest", "--target", t],
        &["dump", "latest", "src/sub/notes.txt"],
        &["find", "notes"],
        &["forget", "--keep-last", "1"],
        &["prune"],
        &["check"],
        &["stats"],
        &["locks", "extend"],
        &["key", "add"],
    ] {
        let (code, _, err) = ao(args);
        assert_refused(code, &err, &args.join(" "));
    }
    assert!(!target.exists(), "a refused restore wrote nothing");
    assert_eq!(names(&env.repo), after, "refused commands changed nothing");

    // The full key sees and restores everything, and check reads every byte.
    let snaps = json(&env.ok(&["snapshots", "--json"]));
    assert_eq!(snaps.as_array().unwrap().len(), 4, "nothing was forgotten");
    let full = env.path("full-target");
    env.ok(&["restore", "latest", "--target", full.to_str().unwrap()]);
    assert_same_tree(&src, &full.join("src"));
    env.ok(&["check", "--read-data"]);

    // The markers the append-only backups left (they delete nothing) belong to processes
    // that are gone: the full key's prune sweeps them.
    let markers = |env: &Env| names(&env.repo).iter().filter(|n| n.starts_with("writers/")).count();
    assert!(markers(&env) >= 3, "{:?}", names(&env.repo));
    env.ok(&["prune"]);
    assert_eq!(markers(&env), 0, "{:?}", names(&env.repo));
}

#[test]
fn repositories_made_before_format_v4_refuse_append_only_keys() {
    let env = Env::with_init_args(&["--no-append-only-keys", "--no-pg-custom-transparent"]);
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(env.repo.join("config")).unwrap()).unwrap();
    assert!(cfg["version"].as_u64().unwrap() < 4, "{cfg}");
    assert!(!env.repo.join("sessions").exists());
    let out = env.cmd().env("CELLAR_NEW_PASSWORD", AO_PASSWORD).args(["key", "add", "--append-only"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("made before append-only keys"), "{err}");
    assert_eq!(json(&env.ok(&["key", "list", "--json"])).as_array().unwrap().len(), 1, "no key was added");
}

/// The nightly job's setup (README "Protecting the archive"): S3 credentials without
/// s3:DeleteObject and an append-only key. moto enforces IAM after its first six
/// requests, which create an admin and the limited user.
#[test]
fn an_append_only_backup_needs_no_s3_delete_permission() {
    let moto = S3Server::moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]);
    let keys = moto.py(
        "iam = boto3.client('iam', region_name='us-east-1', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n\
         allow = lambda actions: json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}]})\n\
         out = []\n\
         for user, actions in [('admin', '*'), ('nightly', ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation'])]:\n\
         \x20   iam.create_user(UserName=user)\n\
         \x20   iam.put_user_policy(UserName=user, PolicyName='p', PolicyDocument=allow(actions))\n\
         \x20   k = iam.create_access_key(UserName=user)['AccessKey']\n\
         \x20   out += [k['AccessKeyId'], k['SecretAccessKey']]\n\
         print(' '.join(out))",
        &[],
    );
    let k: Vec<&str> = keys.split_whitespace().collect();
    let (admin, nightly) = ((k[0], k[1]), (k[2], k[3]));
    let run = |creds: (&str, &str), password: &str, args: &[&str]| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
        moto.env(&mut c);
        let out = c
            .env("AWS_ACCESS_KEY_ID", creds.0)
            .env("AWS_SECRET_ACCESS_KEY", creds.1)
            .env("CELLAR_PASSWORD", password)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let py_as = |creds: (&str, &str), code: &str| {
        let mut c = Command::new("python3");
        moto.env(&mut c);
        let prog = format!(
            "import boto3, os\nfrom botocore.config import Config\n\
             s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], config=Config(s3={{'addressing_style': 'path'}}))\n{code}"
        );
        let out = c
            .env("AWS_ACCESS_KEY_ID", creds.0)
            .env("AWS_SECRET_ACCESS_KEY", creds.1)
            .arg("-c")
            .arg(prog)
            .output()
            .unwrap();
        assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    py_as(
        admin,
        "s3.create_bucket(Bucket='mimir')\ns3.create_bucket(Bucket='archive')\n\
         for i in range(6):\n    s3.put_object(Bucket='mimir', Key=f'tenant/obj-{i}', Body=bytes([i]) * 300000 + os.urandom(64))",
    );
    // The limited credentials really cannot delete (else this test proves nothing).
    let denied = py_as(
        nightly,
        "s3.put_object(Bucket='archive', Key='probe', Body=b'x')\n\
         try:\n    s3.delete_object(Bucket='archive', Key='probe')\n    print('deleted')\n\
         except Exception as e:\n    print(e.response['Error']['Code'])",
    );
    assert_eq!(denied.trim(), "AccessDenied");

    let repo = "s3://archive/r";
    let (code, _, err) = run(admin, PASSWORD, &["init", "--repo", repo, "--kdf-memory-kib", "256"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(admin, PASSWORD, &["backup", "--repo", repo, "s3://mimir"]);
    assert_eq!(code, 0, "{err}");
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
    moto.env(&mut c);
    let out = c
        .env("AWS_ACCESS_KEY_ID", admin.0)
        .env("AWS_SECRET_ACCESS_KEY", admin.1)
        .env("CELLAR_PASSWORD", PASSWORD)
        .env("CELLAR_NEW_PASSWORD", AO_PASSWORD)
        .args(["key", "add", "--append-only", "--repo", repo, "--kdf-memory-kib", "256"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Two nightly runs, the bucket changing between them.
    py_as(admin, "s3.put_object(Bucket='mimir', Key='tenant/obj-6', Body=b'new tonight')");
    for night in 0..2 {
        let (code, out, err) = run(nightly, AO_PASSWORD, &["backup", "--repo", repo, "--json", "s3://mimir"]);
        assert_eq!(code, 0, "night {night}: {err}");
        let r = json(&out);
        assert!(r["bytes_added"].as_u64().unwrap() < 30_000, "deduplicated: {out}");
        if night == 0 {
            py_as(admin, "s3.put_object(Bucket='mimir', Key='tenant/obj-0', Body=b'changed')");
        } else {
            assert_eq!(r["files_unmodified"], 6, "the send log gave the parent: {out}");
            assert_eq!(r["files_changed"], 1, "{out}");
        }
    }
    let (code, _, err) = run(nightly, AO_PASSWORD, &["snapshots", "--repo", repo]);
    assert_refused(code, &err, "snapshots");
    let (code, _, err) = run(nightly, AO_PASSWORD, &["forget", "--repo", repo, "--keep-last", "1"]);
    assert_refused(code, &err, "forget");

    // The full key (kept offline) restores the newest night exactly.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(admin, PASSWORD, &["restore", "--repo", repo, "latest", "--target", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(admin, PASSWORD, &["snapshots", "--repo", repo, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out).as_array().unwrap().len(), 3);
    // Restored under the source's name; compare by key below it.
    let restored: std::collections::BTreeMap<String, String> = sha256_dir(dir.path())
        .into_iter()
        .map(|(k, v)| (k.split_once("tenant/").map(|(_, r)| format!("tenant/{r}")).unwrap_or(k), v))
        .collect();
    let want: std::collections::BTreeMap<String, String> = serde_json::from_str(&py_as(
        admin,
        "import hashlib, json\nprint(json.dumps({o['Key']: hashlib.sha256(s3.get_object(Bucket='mimir', Key=o['Key'])['Body'].read()).hexdigest() for o in s3.list_objects_v2(Bucket='mimir')['Contents']}))",
    ))
    .unwrap();
    assert_eq!(restored, want);
}
