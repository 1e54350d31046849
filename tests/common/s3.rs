//! Real S3 servers for the tests, both on 127.0.0.1: moto (one process per test, started
//! here) and Ceph RGW, the platform's own S3 (one cluster per test binary, started on first
//! use by tests/support/rgw.sh; each test gets its own RGW tenant, so bucket names never
//! collide). Buckets are filled and read back with boto3, a client independent of cellar.
//!
//! `s3_tests! { fn name(srv: &S3Server) { … } }` turns one body into `name::moto` and
//! `name::rgw`: the same test against both servers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Moto,
    Rgw,
}

pub struct S3Server {
    pub kind: Kind,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// cellar's metadata cache for this test (CELLAR_CACHE_DIR).
    pub cache: tempfile::TempDir,
    moto: Option<Child>,
}

impl S3Server {
    pub fn start(kind: Kind) -> S3Server {
        match kind {
            Kind::Moto => Self::moto_with(&[]),
            Kind::Rgw => Self::rgw(),
        }
    }

    pub fn moto() -> S3Server {
        Self::moto_with(&[])
    }

    /// moto's server mode with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn moto_with(env: &[(&str, &str)]) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("python3")
            .envs(env.iter().copied())
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto server (.ci/run installs it: pip install 'moto[server]')");
        // Werkzeug announces the listening socket on stderr once it accepts connections.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "moto server exited before listening");
            if line.contains("Running on") {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        S3Server {
            kind: Kind::Moto,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: "testing".into(),
            secret_key: "testing".into(),
            cache: tempfile::tempdir().unwrap(),
            moto: Some(child),
        }
    }

    /// A fresh tenant (own user, own bucket namespace) on the shared RGW cluster.
    pub fn rgw() -> S3Server {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let rgw = shared_rgw();
        let tenant = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let (access_key, secret_key) = (format!("{tenant}-key"), format!("{tenant}-secret"));
        let out = Command::new("radosgw-admin")
            .arg("-c")
            .arg(&rgw.conf)
            .args(["user", "create", "--tenant", &tenant, "--uid", "cellar", "--display-name", "cellar test"])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .output()
            .unwrap();
        assert!(out.status.success(), "radosgw-admin user create: {}", String::from_utf8_lossy(&out.stderr));
        S3Server {
            kind: Kind::Rgw,
            endpoint: rgw.endpoint.clone(),
            access_key,
            secret_key,
            cache: tempfile::tempdir().unwrap(),
            moto: None,
        }
    }

    /// The environment a client of this server needs.
    pub fn env(&self, c: &mut Command) {
        c.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("CELLAR_CACHE_DIR", self.cache.path());
    }

    /// Run a boto3 snippet with `s3` bound to a (path-style) client of this server.
    pub fn py(&self, code: &str, args: &[&str]) -> String {
        let mut c = Command::new("python3");
        self.env(&mut c);
        let prog = format!(
            "import boto3, sys, os, json\nfrom botocore.config import Config\n\
             s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], config=Config(s3={{'addressing_style': 'path'}}))\n{code}"
        );
        let out = c.arg("-c").arg(prog).args(args).output().unwrap();
        assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn create_bucket(&self, b: &str) {
        self.py("s3.create_bucket(Bucket=sys.argv[1])", &[b]);
    }

    /// Upload every file below `dir` (boto3's upload_file: multipart above 8 MiB).
    pub fn upload_dir(&self, dir: &Path, bucket: &str) {
        self.py(
            "root, b = sys.argv[1], sys.argv[2]\nfor d, _, fs in os.walk(root):\n    for f in fs:\n        p = os.path.join(d, f)\n        s3.upload_file(p, b, os.path.relpath(p, root))",
            &[dir.to_str().unwrap(), bucket],
        );
    }

    /// key → sha256 of every object in a bucket.
    pub fn contents(&self, bucket: &str) -> BTreeMap<String, String> {
        let out = self.py(
            "import hashlib\nres = {}\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1]):\n    for o in page.get('Contents', []):\n        res[o['Key']] = hashlib.sha256(s3.get_object(Bucket=sys.argv[1], Key=o['Key'])['Body'].read()).hexdigest()\nprint(json.dumps(res))",
            &[bucket],
        );
        serde_json::from_str(&out).unwrap()
    }

    /// key → ETag of every object in a bucket (as HEAD reports it).
    pub fn etags(&self, bucket: &str) -> BTreeMap<String, String> {
        let out = self.py(
            "res = {}\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1]):\n    for o in page.get('Contents', []):\n        res[o['Key']] = s3.head_object(Bucket=sys.argv[1], Key=o['Key'])['ETag']\nprint(json.dumps(res))",
            &[bucket],
        );
        serde_json::from_str(&out).unwrap()
    }

    /// Run the cellar binary against this server; (exit code, stdout, stderr).
    pub fn cellar(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("cellar"));
        self.env(&mut c);
        let out = c.env("CELLAR_PASSWORD", super::PASSWORD).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.moto {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The RGW cluster this test process shares.
struct SharedRgw {
    endpoint: String,
    conf: PathBuf,
    /// Write end of the watcher's stdin: it closes when this process exits (however it
    /// exits), and the watcher then stops the cluster and removes its files.
    _watch: std::process::ChildStdin,
}

fn shared_rgw() -> &'static SharedRgw {
    static RGW: OnceLock<SharedRgw> = OnceLock::new();
    RGW.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rgw.sh");
        // Short: unix-socket paths inside it are limited to 107 bytes.
        let dir = std::env::temp_dir().join(format!("cellar-rgw-{}", std::process::id()));
        let out = Command::new(script).arg("start").arg(&dir).stderr(Stdio::piped()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let endpoint = stdout.lines().find_map(|l| l.strip_prefix("RGW_ENDPOINT=")).map(str::to_string);
        let Some(endpoint) = endpoint.filter(|_| out.status.success()) else {
            panic!(
                "Ceph RGW did not start (.ci/run installs ceph-mon ceph-osd radosgw ceph-common):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Outlives this process on purpose (it is never waited for): it stops the cluster
        // after the last test.
        #[allow(clippy::zombie_processes)]
        let mut watcher = Command::new("bash")
            .args(["-c", "cat >/dev/null; \"$0\" stop \"$1\" && rm -rf -- \"$1\"", script])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let watch = watcher.stdin.take().unwrap();
        SharedRgw { endpoint, conf: dir.join("ceph.conf"), _watch: watch }
    })
}

/// A recording proxy in front of a server (tests/support/s3_proxy.py): sees the order of
/// requests on the wire, can cut one download short, throttle, inject faults or add latency.
pub struct Proxy {
    child: Child,
    pub endpoint: String,
}

impl Proxy {
    pub fn start(srv: &S3Server, log: &Path, cut: Option<&str>) -> Proxy {
        Self::with_env(srv, log, cut, &[])
    }

    /// The first `n` requests are answered 503 SlowDown.
    pub fn throttling(srv: &S3Server, log: &Path, n: u32) -> Proxy {
        Self::with_env(srv, log, None, &[("SLOWDOWN", &n.to_string())])
    }

    /// With `FAULT_RATE`, `FAULT_ALWAYS`, `LATENCY_MS`, … (see the script).
    pub fn with_env(srv: &S3Server, log: &Path, cut: Option<&str>, env: &[(&str, &str)]) -> Proxy {
        let mut c = Command::new("python3");
        c.envs(env.iter().copied());
        c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/s3_proxy.py")).arg(&srv.endpoint).arg(log);
        if let Some(cut) = cut {
            c.arg(cut);
        }
        let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").expect("proxy announces its port").to_string();
        Proxy { child, endpoint: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// path (relative to `dir`) → sha256 of every file below `dir`.
pub fn sha256_dir(dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new("python3")
        .args(["-c", "import hashlib, os, sys, json\nroot = sys.argv[1]\nres = {}\nfor d, _, fs in os.walk(root):\n    for f in fs:\n        p = os.path.join(d, f)\n        res[os.path.relpath(p, root)] = hashlib.sha256(open(p, 'rb').read()).hexdigest()\nprint(json.dumps(res))"])
        .arg(dir)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One test body, run against moto and against Ceph RGW: `name::moto`, `name::rgw`.
#[macro_export]
macro_rules! s3_tests {
    ($( $(#[doc = $doc:literal])* fn $name:ident($srv:ident: &S3Server) $body:block )*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($srv: &S3Server) $body

            #[test]
            fn moto() {
                body(&S3Server::start(Kind::Moto));
            }

            #[test]
            fn rgw() {
                body(&S3Server::start(Kind::Rgw));
            }
        }
    )*};
}
