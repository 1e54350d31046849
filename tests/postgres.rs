//! PostgreSQL dumps through cellar, with a REAL PostgreSQL server (Debian's `postgresql`,
//! started here on a private unix socket): a database is dumped, backed up via `--stdin`
//! and as a `.dump.gz` file, restored with `cellar dump … | psql` into fresh databases, and
//! the restored databases dump identically to the original.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The server binaries: `PGBIN`, else the newest /usr/lib/postgresql/*/bin (Debian keeps
/// them off the PATH, one directory per major version).
fn bin() -> String {
    if let Ok(b) = std::env::var("PGBIN") {
        return b;
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (apt-get install postgresql, or set PGBIN)")
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql, or set PGBIN)")
        .1
        .display()
        .to_string()
}
const PORT: &str = "54331";

struct Pg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    sock: PathBuf,
}

impl Pg {
    fn start() -> Pg {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let (data, sock) = (dir.path().join("data"), dir.path().join("sock"));
        fs::create_dir(&sock).unwrap();
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o777)).unwrap();
        let as_pg = |args: &[&str]| {
            let out = Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let bin = bin();
        as_pg(&[&format!("{bin}/initdb"), "-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let opts = format!("-k {} -p {PORT} -c listen_addresses='' -c fsync=off", sock.display());
        let log = dir.path().join("log");
        // -w: pg_ctl returns once the server accepts connections.
        as_pg(&[
            &format!("{bin}/pg_ctl"),
            "-D",
            data.to_str().unwrap(),
            "-w",
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "start",
        ]);
        Pg { _dir: dir, data, sock }
    }

    fn conn(&self) -> Vec<String> {
        vec!["-h".into(), self.sock.display().to_string(), "-p".into(), PORT.into(), "-U".into(), "postgres".into()]
    }

    fn psql(&self, db: &str, sql: &str) {
        let out = Command::new("psql")
            .args(self.conn())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", db, "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Plain-SQL dump, without the random `\restrict` key lines of newer pg_dump.
    fn dump(&self, db: &str) -> Vec<u8> {
        let out = Command::new("pg_dump").args(self.conn()).arg(db).output().unwrap();
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                &format!("{}/pg_ctl", bin()),
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

fn without_restrict_lines(d: &[u8]) -> String {
    String::from_utf8_lossy(d)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn restore_into(env: &Env, pg: &Pg, db: &str, pipeline: &str) {
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    let conn = pg.conn().join(" ");
    let cmd = format!("set -euo pipefail; {pipeline} | psql {conn} -v ON_ERROR_STOP=1 -q -d {db} >/dev/null");
    let cellar = assert_cmd::cargo::cargo_bin("cellar");
    let out = Command::new("bash")
        .args(["-c", &cmd])
        .env("PATH", format!("{}:{}", cellar.parent().unwrap().display(), std::env::var("PATH").unwrap()))
        .env("CELLAR_REPO", &env.repo)
        .env("CELLAR_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{pipeline}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dumps_round_trip_through_stdin_and_gzip_files_into_fresh_databases() {
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE dop");
    pg.psql(
        "dop",
        "CREATE TABLE alert_history (id bigserial PRIMARY KEY, fingerprint text NOT NULL, labels jsonb, \
           starts_at timestamptz, ends_at timestamptz, status text, note text, payload bytea); \
         INSERT INTO alert_history (fingerprint, labels, starts_at, ends_at, status, note, payload) \
           SELECT md5(i::text), jsonb_build_object('alertname', 'HighLatency', 'pod', 'api-' || (i % 17)), \
                  timestamptz '2025-04-01' + i * interval '1 minute', \
                  CASE WHEN i % 5 = 0 THEN NULL ELSE timestamptz '2025-04-01' + (i + 3) * interval '1 minute' END, \
                  CASE WHEN i % 3 = 0 THEN 'firing' ELSE 'resolved' END, \
                  CASE WHEN i % 7 = 0 THEN E'multi\\nline ''quoted'' \\u00e9\\u4e2d' END, \
                  decode(md5(i::text), 'hex') \
           FROM generate_series(1, 30000) i; \
         CREATE TABLE silences (id int PRIMARY KEY, matcher text, until timestamptz); \
         INSERT INTO silences SELECT i, 'pod=~api-' || i, now() FROM generate_series(1, 500) i; \
         CREATE INDEX ON alert_history (fingerprint);",
    );
    let original = pg.dump("dop");
    assert!(original.len() > 3 << 20, "dump is {} bytes", original.len());

    let env = Env::new();
    // 1. A live pg_dump piped into cellar.
    let out = env
        .cmd()
        .args(["backup", "--json", "--stdin", "--stdin-name", "dop.dump"])
        .write_stdin(original.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdin_snap: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let stdin_snap = stdin_snap["snapshot_id"].as_str().unwrap().to_string();

    // 2. The platform's backup bucket: a gzip'd dump file.
    let bucket = env.path("backup/postgres-backup");
    fs::create_dir_all(&bucket).unwrap();
    let gz = bucket.join("dop-202504211200.dump.gz");
    let mut child =
        Command::new("gzip").arg("-6").stdin(Stdio::piped()).stdout(fs::File::create(&gz).unwrap()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &original).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    env.backup(&[env.path("backup").to_str().unwrap()]);
    assert_eq!(env.dump("latest", "backup/postgres-backup/dop-202504211200.dump.gz"), fs::read(&gz).unwrap());

    restore_into(&env, &pg, "from_stdin", &format!("cellar dump {stdin_snap} dop.dump"));
    restore_into(&env, &pg, "from_gz", "cellar dump latest backup/postgres-backup/dop-202504211200.dump.gz | zcat");
    let want = without_restrict_lines(&original);
    assert_eq!(without_restrict_lines(&pg.dump("from_stdin")), want);
    assert_eq!(without_restrict_lines(&pg.dump("from_gz")), want);
}

/// `pg_dump -Fc` archives (one zlib stream per table) are stored as their decoded table
/// data: a second day's archive of a database with 1% of rows changed adds a small part of
/// what it adds stored raw, every archive restores bit-exactly, `pg_restore` loads the
/// restored file into a database that dumps like the original, and `copy` refuses a
/// destination too old to hold such files.
#[test]
fn custom_format_dumps_dedup_across_days_and_restore_with_pg_restore() {
    let pg = Pg::start();
    pg.psql("postgres", "CREATE DATABASE dop");
    pg.psql(
        "dop",
        "CREATE TABLE alerts (id bigserial PRIMARY KEY, fingerprint text, labels jsonb, status text); \
         INSERT INTO alerts (fingerprint, labels, status) \
           SELECT md5(i::text), jsonb_build_object('alertname', 'HighLatency', 'pod', 'api-' || (i % 17)), \
                  CASE WHEN i % 3 = 0 THEN 'firing' ELSE 'resolved' END \
           FROM generate_series(1, 60000) i; \
         CREATE TABLE silences (id int PRIMARY KEY, matcher text); \
         INSERT INTO silences SELECT i, 'pod=~api-' || i FROM generate_series(1, 500) i; \
         SELECT lo_from_bytea(0, convert_to(repeat('a large object ', 1000), 'UTF8'));",
    );
    let custom = |db: &str| {
        let out = Command::new("pg_dump").args(pg.conn()).args(["-Fc", db]).output().unwrap();
        assert!(out.status.success(), "pg_dump -Fc: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.starts_with(b"PGDMP"));
        out.stdout
    };
    let day1 = custom("dop");
    pg.psql("dop", "UPDATE alerts SET status = 'silenced' WHERE id % 100 = 7");
    let day2 = custom("dop");
    let want = without_restrict_lines(&pg.dump("dop"));

    // Day by day, transparent (the default) and raw.
    let added = |env: &Env| {
        let bucket = env.path("backup/postgres-backup");
        fs::create_dir_all(&bucket).unwrap();
        fs::write(bucket.join("dop-1.dump"), &day1).unwrap();
        env.backup(&[env.path("backup").to_str().unwrap()]);
        fs::write(bucket.join("dop-2.dump"), &day2).unwrap();
        let s = env.backup(&[env.path("backup").to_str().unwrap()]);
        s["bytes_added"].as_u64().unwrap()
    };
    let env = Env::new();
    let raw_env = Env::with_init_args(&["--no-pg-custom-transparent"]);
    let (transparent, raw) = (added(&env), added(&raw_env));
    assert!(raw > day2.len() as u64 / 2, "stored raw, day 2 adds about its size: {raw}");
    assert!(transparent * 5 < raw, "day 2 added {transparent} bytes decoded, {raw} raw");
    let config =
        |e: &Env| -> serde_json::Value { serde_json::from_slice(&fs::read(e.repo.join("config")).unwrap()).unwrap() };
    assert_eq!(config(&env)["version"], 5);
    assert!(config(&raw_env)["version"].as_u64().unwrap() <= 4, "readable by older builds");

    for (name, bytes) in [("dop-1.dump", &day1), ("dop-2.dump", &day2)] {
        assert!(env.dump("latest", &format!("backup/postgres-backup/{name}")) == *bytes, "{name} restores bit-exactly");
    }
    let target = env.path("restored");
    env.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    let restored = target.join("backup/postgres-backup/dop-2.dump");
    assert!(fs::read(&restored).unwrap() == day2);
    pg.psql("postgres", "CREATE DATABASE from_custom");
    let out = Command::new("pg_restore")
        .args(pg.conn())
        .args(["--exit-on-error", "-d", "from_custom"])
        .arg(&restored)
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(without_restrict_lines(&pg.dump("from_custom")), want);
    // `dump --decompress` has no text to give for an archive that is not gzip.
    let (code, _, err) = env.run(&["dump", "--decompress", "latest", "backup/postgres-backup/dop-2.dump"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a gzip file"), "{err}");

    // A version 4 destination cannot hold them: copy says so and copies nothing wrong.
    let dst = env.path("v4");
    let dst_s = dst.to_str().unwrap();
    env.ok(&["--repo", dst_s, "init", "--kdf-memory-kib", "256", "--kdf-passes", "1", "--no-pg-custom-transparent"]);
    let (code, _, err) = env.run(&["copy", "--to-repo", dst_s]);
    assert_ne!(code, 0);
    assert!(err.contains("pg_dump archive") && err.contains("format v4"), "{err}");
    assert!(raw_env.dump("latest", "backup/postgres-backup/dop-2.dump") == day2);
}
