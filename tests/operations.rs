//! Running it unattended: `cellar run PROFILE` as the nightly CronJob does, its metrics as
//! node-exporter's textfile collector (checked by `promtool check metrics`) and a real
//! Prometheus Pushgateway read them.

use crate::common::tsdb::*;
use crate::common::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn profile(env: &Env, extra_source: &str) -> std::path::PathBuf {
    let p = env.path("nightly.toml");
    let text = format!(
        r#"repository = "{repo}"
tags = ["nightly"]
metrics-file = "{metrics}"

[sources.mimir]
path = "{mimir}"
allow-corrupted = true

[sources.backup]
path = "{backup}"
retention = {{ keep-last = 2 }}
{extra_source}
[prune]
every = "7d"
grace = "0s"

[check]
rotate-over = 3
"#,
        repo = env.repo.display(),
        metrics = env.path("cellar.prom").display(),
        mimir = env.path("mimir").display(),
        backup = env.path("backup").display(),
    );
    fs::write(&p, text).unwrap();
    p
}

/// `promtool check metrics` accepts the file (exposition format and naming lints).
fn promtool_accepts(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(fs::File::open(path).unwrap())
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn run_backs_up_every_source_applies_each_policy_prunes_checks_and_writes_metrics() {
    let env = Env::new();
    copy_dir(bucket(), &env.path("mimir"));
    fs::create_dir_all(env.path("backup/postgres-backup")).unwrap();
    let p = profile(&env, "");
    let run = |env: &Env| {
        let out = env.cmd().env_remove("CELLAR_REPO").args(["run", p.to_str().unwrap()]).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for day in 1..=3 {
        fs::write(env.path(&format!("backup/postgres-backup/dop-2025042{day}1200.dump")), pseudo_random(50_000, day))
            .unwrap();
        let (code, out, err) = run(&env);
        assert_eq!(code, Some(0), "night {day}:\n{out}\n{err}");
        assert!(out.contains("backup mimir") && out.contains("backup backup"), "{out}");
        assert!(out.contains("check (read slice "), "{out}");
        assert!(out.trim_end().lines().last().unwrap().starts_with("run nightly: ok"), "{out}");
    }
    // One snapshot per source per night; the backup source's policy kept two of three.
    let snaps: serde_json::Value = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    let of = |name: &str| {
        snaps.as_array().unwrap().iter().filter(|s| s["sources"][0].as_str().unwrap().ends_with(name)).count()
    };
    assert_eq!((of("/mimir"), of("/backup")), (3, 2), "{snaps}");
    assert!(snaps.as_array().unwrap().iter().all(|s| s["host"] == "nightly" && s["tags"][0] == "nightly"));
    // The second night found the first night's mimir snapshot as its parent: nothing read again.
    let latest = env.ok(&["snapshots", "--path", "mimir", "--json"]);
    assert!(latest.contains("\"parent\""), "{latest}");
    // The latest backup of the dumps has all three (the policy removed a snapshot, not data).
    let out = env.path("restored");
    env.ok(&["restore", "latest", "--path", "backup", "--target", out.to_str().unwrap()]);
    assert_eq!(fs::read_dir(out.join("backup/postgres-backup")).unwrap().count(), 3);

    let metrics_path = env.path("cellar.prom");
    promtool_accepts(&metrics_path);
    let m = fs::read_to_string(&metrics_path).unwrap();
    for want in [
        "cellar_last_success_timestamp_seconds{command=\"backup\",source=\"mimir\"}",
        "cellar_last_success_timestamp_seconds{command=\"check\",source=\"\"}",
        "cellar_backup_blocks{source=\"mimir\"}",
        "cellar_backup_blocks_excluded{reason=\"corrupted\",source=\"mimir\"}",
        "cellar_tsdb_newest_sample_timestamp_seconds{source=\"mimir\",tenant=",
        "cellar_check_ok 1",
        "cellar_run_outcome{profile=\"nightly\"} 0",
    ] {
        assert!(m.contains(want), "{want} missing from:\n{m}");
    }
    // The newest block end is the newest complete block's maxTime, as meta.json says.
    let newest_meta = complete_blocks(bucket())
        .iter()
        .flat_map(|(tenant, ulids)| ulids.iter().map(move |u| read_meta(&bucket().join(tenant).join(u)).max_time))
        .max()
        .unwrap();
    let newest = m
        .lines()
        .filter(|l| l.starts_with("cellar_tsdb_newest_sample_timestamp_seconds"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!(newest <= newest_meta as f64 / 1000.0 && newest > 0.0, "{newest} vs {newest_meta}");
    let mimir_success =
        sample(&m, "cellar_last_success_timestamp_seconds{command=\"backup\",source=\"mimir\"}").unwrap();

    // A source that fails: the others still run, the exit code says so, and the failed
    // source's metrics say when it last *succeeded* (never, here) while mimir's stays.
    let p2 = profile(&env, "\n[sources.loki]\npath = \"/nonexistent/loki\"\n");
    let out = env.cmd().env_remove("CELLAR_REPO").args(["run", p2.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("backup loki (/nonexistent/loki): FAILED"), "{stdout}");
    assert!(stdout.contains("backup mimir") && stdout.contains("snapshot "), "{stdout}");
    let m = fs::read_to_string(&metrics_path).unwrap();
    promtool_accepts(&metrics_path);
    assert_eq!(sample(&m, "cellar_last_run_success{command=\"backup\",source=\"loki\"}"), Some(0.0), "{m}");
    assert!(sample(&m, "cellar_last_success_timestamp_seconds{command=\"backup\",source=\"loki\"}").is_none(), "{m}");
    assert!(
        sample(&m, "cellar_last_success_timestamp_seconds{command=\"backup\",source=\"mimir\"}").unwrap()
            >= mimir_success
    );
    assert_eq!(sample(&m, "cellar_run_outcome{profile=\"nightly\"}"), Some(2.0));

    // Every other command writes its job's metrics on request, keeping earlier successes.
    let single = env.path("check.prom");
    fs::write(&single, "cellar_last_success_timestamp_seconds{command=\"check\",source=\"\"} 1000\n").unwrap();
    env.ok(&["check", "--metrics-file", single.to_str().unwrap()]);
    promtool_accepts(&single);
    let m = fs::read_to_string(&single).unwrap();
    assert!(
        sample(&m, "cellar_last_success_timestamp_seconds{command=\"check\",source=\"\"}").unwrap() > 1000.0,
        "{m}"
    );
}

/// A real Pushgateway receives the run's metrics under the profile's job.
#[test]
fn run_pushes_its_metrics_to_a_pushgateway() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut gw = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prometheus-pushgateway (.ci/run installs it)");
    let mut err = BufReader::new(gw.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Listening on") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "the pushgateway exited before listening");
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));

    let env = Env::new();
    fs::create_dir_all(env.path("mimir")).unwrap();
    fs::create_dir_all(env.path("backup")).unwrap();
    fs::write(env.path("backup/dump.sql"), b"SELECT 1;\n").unwrap();
    let p = profile(&env, "");
    let out = env
        .cmd()
        .env_remove("CELLAR_REPO")
        .args(["run", p.to_str().unwrap(), "--pushgateway", &format!("http://{addr}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let scraped = Command::new("curl").args(["-sf", &format!("http://{addr}/metrics")]).output().unwrap();
    let scraped = String::from_utf8_lossy(&scraped.stdout);
    let _ = gw.kill();
    let _ = gw.wait();
    let line = scraped.lines().find(|l| l.starts_with("cellar_run_outcome{")).unwrap_or_else(|| panic!("{scraped}"));
    assert!(line.contains("job=\"nightly\"") && line.contains("profile=\"nightly\"") && line.ends_with(" 0"), "{line}");
    assert!(scraped.contains("cellar_backup_files{") && scraped.contains("source=\"backup\""), "{scraped}");
}
