//! The command line as an operator meets it: version and build facts, completions and
//! man pages generated from the same definitions as `--help`, exit codes that tell usage
//! errors from failures.

use crate::common::Env;

#[test]
fn version_names_the_build_and_the_formats_it_reads() {
    let env = Env::new();
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["version", "--json"])).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let commit = v["commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()), "{commit}");
    assert!(v["rustc"].as_str().unwrap().starts_with("rustc "), "{v}");
    let newest = v["format_version"].as_u64().unwrap();
    assert!(newest >= 2);
    let reads: Vec<u64> = v["reads_format_versions"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(reads, (1..=newest).collect::<Vec<_>>(), "older repositories stay readable");
    let text = env.ok(&["version"]);
    assert!(text.starts_with(&format!("cellar {}", env!("CARGO_PKG_VERSION"))), "{text}");
    // clap's own flag agrees.
    assert!(env.ok(&["--version"]).contains(env!("CARGO_PKG_VERSION")));
}

/// The scripts are generated from the command definitions: every command is in them,
/// and bash can load the bash one.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let env = Env::new();
    let bash = env.ok(&["completions", "bash"]);
    for c in ["backup", "restore", "snapshots", "forget", "prune", "check", "copy", "completions"] {
        assert!(bash.contains(c), "bash completions lack {c}");
    }
    let script = env.path("cellar.bash");
    std::fs::write(&script, &bash).unwrap();
    let out = std::process::Command::new("bash")
        .args(["-c", &format!("source {} && complete -p cellar", script.display())])
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("cellar"), "{out:?}");
    assert!(env.ok(&["completions", "zsh"]).contains("#compdef cellar"));
    let (code, _, err) = env.run(&["completions", "tcsh-9000"]);
    assert_eq!(code, 2, "{err}");

    let page = env.ok(&["man"]);
    assert!(page.contains(".TH cellar"), "{}", &page[..page.len().min(300)]);
    let dir = env.path("man");
    env.ok(&["man", "--out-dir", dir.to_str().unwrap()]);
    for p in ["cellar.1", "cellar-backup.1", "cellar-restore.1", "cellar-forget.1"] {
        let text = std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(text.contains(".TH"), "{p}");
    }
}

/// Usage errors exit 2 with what to do next; a failure exits 1; a plural is right.
#[test]
fn usage_errors_exit_2_and_counts_read_as_english() {
    let env = Env::new();
    let mut no_repo = env.cmd();
    no_repo.env_remove("CELLAR_REPO").arg("snapshots");
    let out = no_repo.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--repo") && err.contains("CELLAR_REPO"), "{err}");

    let (code, _, err) = env.run(&["forget"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--keep-"), "{err}");

    let missing = env.path("nothing-here");
    let mut c = env.cmd();
    c.env("CELLAR_REPO", &missing).arg("snapshots");
    assert_eq!(c.output().unwrap().status.code(), Some(1), "a missing repository is a failure, not a usage error");

    let data = env.path("d");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), b"x").unwrap();
    env.ok(&["backup", data.to_str().unwrap()]);
    let listed = env.ok(&["snapshots"]);
    assert!(listed.trim_end().ends_with("1 snapshot"), "{listed}");
    assert!(listed.contains("time (UTC)"), "times are labelled: {listed}");
}

/// Times are UTC and say so; with `TZ` they are that zone's local time, named, and a time
/// typed without an offset is read in the same zone.
#[test]
fn times_show_in_utc_or_in_the_zone_tz_names() {
    let env = Env::new();
    let data = env.path("d");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), b"x").unwrap();
    env.ok(&["backup", data.to_str().unwrap()]);
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let stored: jiff::Timestamp = snaps[0]["time"].as_str().unwrap().parse().unwrap();
    let in_zone =
        |z: &str| stored.to_zoned(jiff::tz::TimeZone::get(z).unwrap()).strftime("%Y-%m-%d %H:%M:%S").to_string();
    let tz = |zone: &str, args: &[&str]| {
        let out = env.cmd().env("TZ", zone).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let utc = env.ok(&["snapshots"]);
    assert!(utc.contains("time (UTC)") && utc.contains(&in_zone("UTC")), "{utc}");
    // +05:30 all year: the shift cannot be confused with an hour of DST.
    let (code, local, err) = tz("Asia/Kolkata", &["snapshots"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(local.contains("time (Asia/Kolkata)") && local.contains(&in_zone("Asia/Kolkata")), "{local}");
    let (_, found, _) = tz("Asia/Kolkata", &["find", "f"]);
    assert!(found.contains(&format!("{} IST", in_zone("Asia/Kolkata"))), "{found}");
    let (_, json, _) = tz("Asia/Kolkata", &["snapshots", "--json"]);
    assert!(json.contains(snaps[0]["time"].as_str().unwrap()), "JSON stays UTC: {json}");

    let (code, shown, err) = tz("Mars/Olympus_Mons", &["snapshots"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("TZ=") && shown.contains("time (UTC)"), "{err}{shown}");
    let (code, _, err) = tz("Asia/Kolkata", &["blocks", "latest", "--from", "yesterday"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("Asia/Kolkata") && err.contains("YYYY-MM-DD"), "{err}");
}

/// Without credentials the error says so, not that the endpoint is unreachable (and with
/// them, a dead endpoint is named as such). No server is needed for either.
#[test]
fn missing_s3_credentials_and_dead_endpoints_are_told_apart() {
    let home = tempfile::tempdir().unwrap();
    let run = |creds: bool| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("cellar"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CELLAR_PASSWORD", "x")
            .args(["--repo", "s3://bucket/r", "--s3-endpoint", "http://127.0.0.1:9", "snapshots"]);
        if creds {
            c.env("AWS_ACCESS_KEY_ID", "a").env("AWS_SECRET_ACCESS_KEY", "b");
        }
        let out = c.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(false);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no S3 credentials") && err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert!(!err.contains("reachable"), "{err}");
    let (code, err) = run(true);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("reachable") && err.contains("127.0.0.1:9"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `key add` with no new password names the option that gives one.
#[test]
fn key_add_without_a_password_names_its_own_option() {
    let env = Env::new();
    let (code, _, err) = env.run(&["key", "add"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--new-password-file") && err.contains("CELLAR_NEW_PASSWORD"), "{err}");
}

/// `tag` rewrites the snapshots it selects (and only those); `ls -l` shows modes, sizes
/// and times; `key passwd` replaces the password in use.
#[test]
fn tag_ls_long_and_key_passwd() {
    let env = Env::new();
    let d = env.path("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/f"), b"12345").unwrap();
    std::fs::set_permissions(d.join("sub/f"), std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    env.ok(&["backup", d.to_str().unwrap(), "--tag", "a"]);
    env.ok(&["backup", d.to_str().unwrap(), "--tag", "b"]);
    let (code, _, err) = env.run(&["tag", "--add", "x"]);
    assert_eq!(code, 2, "tagging everything needs a selection: {err}");
    let out = env.ok(&["tag", "--tag", "a", "--add", "keep", "--remove", "a"]);
    assert!(out.contains("1 snapshot changed"), "{out}");
    let tags: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let mut all: Vec<String> = tags.as_array().unwrap().iter().map(|s| s["tags"].to_string()).collect();
    all.sort();
    assert_eq!(all, ["[\"b\"]", "[\"keep\"]"]);
    let (code, _, _) = env.run(&["snapshots", "--tag", "a"]);
    assert_eq!(code, 4, "the old tag is gone");
    env.ok(&["check"]);

    let long = env.ok(&["ls", "-l", "latest:d"]);
    let line = long.lines().find(|l| l.ends_with("d/sub/f")).unwrap_or_else(|| panic!("{long}"));
    assert!(line.starts_with("-rw-r----- ") && line.contains(" 5  "), "{line}");
    let year = time::OffsetDateTime::now_utc().year().to_string();
    assert!(line.contains(&year), "{line}");
    assert!(long.lines().any(|l| l.starts_with('d') && l.ends_with("d/sub")), "{long}");

    let pw = env.path("new.pw");
    std::fs::write(&pw, "a new password\n").unwrap();
    env.ok(&[
        "key",
        "passwd",
        "--new-password-file",
        pw.to_str().unwrap(),
        "--kdf-memory-kib",
        "256",
        "--kdf-passes",
        "1",
    ]);
    let (code, _, err) = env.run(&["snapshots"]);
    assert_eq!(code, 1, "the old password no longer opens it: {err}");
    assert!(err.contains("wrong password"), "{err}");
    let out = env.cmd().env("CELLAR_PASSWORD", "a new password").args(["snapshots"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The guide's rclone excludes, and marker files, leave entries out; they are counted.
#[test]
fn backup_excludes_patterns_pattern_files_and_marked_directories() {
    let env = Env::new();
    let b = env.path("bucket");
    for p in [
        "t1/markers/m1",
        "t1/bucket-index.json.gz",
        "t1/blk/index",
        "t1/old/deletion-mark.json",
        "t1/old/index",
        "x.tmp",
        "deep/er/y.tmp",
        "keep.txt",
    ] {
        std::fs::create_dir_all(b.join(p).parent().unwrap()).unwrap();
        std::fs::write(b.join(p), p).unwrap();
    }
    let file = env.path("excludes");
    std::fs::write(&file, "# the guide's\n*/bucket-index.json.gz\n\n").unwrap();
    let r = env.backup(&[
        b.to_str().unwrap(),
        "--layout",
        "files",
        "--exclude",
        "*/markers/*",
        "--exclude",
        "*.tmp",
        "--exclude-file",
        file.to_str().unwrap(),
        "--exclude-if-present",
        "deletion-mark.json",
    ]);
    assert_eq!(r["excluded_by_rule"], 5, "{r}");
    let listed = env.ok(&["ls", "latest"]);
    for gone in ["markers/m1", "bucket-index", "old", ".tmp"] {
        assert!(!listed.contains(gone), "{gone} in:\n{listed}");
    }
    for kept in ["bucket/t1/blk/index", "bucket/keep.txt", "bucket/deep/er"] {
        assert!(listed.contains(kept), "{kept} missing:\n{listed}");
    }
    let (code, _, err) = env.run(&["backup", b.to_str().unwrap(), "--exclude", "a[b"]);
    assert_ne!(code, 0);
    assert!(err.contains("a[b"), "{err}");
}

/// `diff` names added, removed, changed and re-stamped files and the TSDB blocks that
/// came and went; `find` says which snapshots hold a block.
#[test]
fn diff_and_find_answer_in_files_and_blocks() {
    use crate::common::tsdb::*;
    let env = Env::new();
    let (mimir, src) = (env.path("mimir"), env.path("src"));
    copy_dir(bucket(), &mimir);
    std::fs::create_dir(&src).unwrap();
    for (n, body) in [("a", "A"), ("b", "B"), ("c", "C")] {
        std::fs::write(src.join(n), body).unwrap();
    }
    let backup = || env.ok(&["backup", mimir.to_str().unwrap(), src.to_str().unwrap(), "--allow-corrupted"]);
    backup();
    let tenant = mimir.join("anonymous");
    let gone = complete_blocks(&mimir)["anonymous"].iter().next().unwrap().clone();
    std::fs::remove_dir_all(tenant.join(&gone)).unwrap();
    std::fs::remove_file(src.join("a")).unwrap();
    std::fs::write(src.join("b"), "B2").unwrap();
    let t = filetime::FileTime::from_unix_time(1_700_000_000, 0);
    filetime::set_file_mtime(src.join("c"), t).unwrap();
    std::fs::write(src.join("d"), "D").unwrap();
    backup();

    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let (first, second) = (snaps[0]["id"].as_str().unwrap(), snaps[1]["id"].as_str().unwrap());
    let d: serde_json::Value = serde_json::from_str(&env.ok(&["diff", first, second, "--json"])).unwrap();
    assert_eq!(d["added"], serde_json::json!(["src/d"]), "{d}");
    assert_eq!(d["changed"], serde_json::json!(["src/b"]), "{d}");
    assert_eq!(d["metadata_changed"], serde_json::json!(["src/c"]), "{d}");
    let removed: Vec<&str> = d["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(removed.contains(&"src/a") && removed.iter().any(|p| p.ends_with(&gone)), "{d}");
    assert!(removed.iter().all(|p| *p == "src/a" || p.contains(&gone)), "only a and the block: {d}");
    assert_eq!(d["blocks_removed"], serde_json::json!([format!("anonymous/{gone}")]), "{d}");
    assert_eq!(d["blocks_added"], serde_json::json!([]));
    let text = env.ok(&["diff", first, second]);
    assert!(text.contains(&format!("-B   anonymous/{gone}")) && text.contains("+    src/d"), "{text}");

    let found: serde_json::Value = serde_json::from_str(&env.ok(&["find", &gone, "--json"])).unwrap();
    let holders: Vec<&str> = found.as_array().unwrap().iter().map(|f| f["snapshot"].as_str().unwrap()).collect();
    assert_eq!(holders, [first], "only the first snapshot holds the removed block: {found}");
    let found: serde_json::Value = serde_json::from_str(&env.ok(&["find", "b", "--json"])).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 2, "a name at any depth, in both: {found}");
    let (code, _, err) = env.run(&["find", "no-such-*"]);
    assert_eq!(code, 4, "{err}");
}
