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
