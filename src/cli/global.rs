//! Options every command takes, and what they resolve to: the repository, passwords,
//! locations, the operator's config file.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

use super::output::StderrNotices;
use super::password::PasswordSource;
use crate::backend::s3::{AsOfBackend, S3Backend, S3Config, S3};
use crate::backend::{Backend, LocalBackend};
use crate::location::Location;
use crate::repo::Repository;
use crate::userconfig::UserConfig;

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Repository location: a directory, s3://BUCKET/PREFIX or remote:NAME/PREFIX.
    #[arg(short = 'r', long, env = "CELLAR_REPO", global = true)]
    pub repo: Option<String>,
    /// S3 endpoint URL (overrides AWS_ENDPOINT_URL), e.g. https://s3.example.com for Ceph RGW.
    /// Credentials, region and profiles come from the standard AWS variables and files.
    #[arg(long, global = true)]
    pub s3_endpoint: Option<String>,
    /// Use path-style S3 addressing (automatic for IP-address and localhost endpoints).
    #[arg(long, global = true)]
    pub s3_path_style: bool,
    /// Do not use the local cache of a remote repository's metadata (~/.cache/cellar, or
    /// CELLAR_CACHE_DIR). The cache is verified on every read either way.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Configuration file: retention policies and named S3 remotes (`remote:NAME`).
    /// Default: ~/.config/cellar/config.toml if it exists.
    #[arg(long, env = "CELLAR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Read the repository password from this file (first line).
    #[arg(long, env = "CELLAR_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Use an empty password. For tests and throwaway repositories only: anyone with
    /// access to the files can read the data.
    #[arg(long, global = true)]
    pub insecure_no_password: bool,
    /// Open an S3 repository as it was at TIME, from the object versions of its bucket
    /// (versioning on, ideally Object Lock): recovers what someone with the S3 keys
    /// deleted or overwrote since. Read-only: snapshots, ls, find, diff, check, restore,
    /// dump and copy work; nothing is written. TIME as for `--from` (RFC 3339, 'YYYY-MM-DD
    /// HH:MM', …).
    #[arg(long, value_name = "TIME", global = true)]
    pub as_of: Option<String>,
    /// Machine-readable output (JSON; NDJSON for `ls`; format-spec/json.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress display.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Write Prometheus metrics of this run to PATH (node-exporter textfile format,
    /// replaced atomically): backup, check, forget, prune and run report what they did and
    /// when they last succeeded.
    #[arg(long, value_name = "PATH", env = "CELLAR_METRICS_FILE", global = true)]
    pub metrics_file: Option<PathBuf>,
    /// Push the same metrics to this Prometheus Pushgateway (job `cellar`, or the
    /// profile's name for `run`).
    #[arg(long, value_name = "URL", env = "CELLAR_PUSHGATEWAY", global = true)]
    pub pushgateway: Option<String>,
}

impl Global {
    /// Record one command's job in the metrics, if any were asked for: `fill` adds what
    /// the command did when it succeeded. The command's own result is returned unchanged.
    pub fn job_metrics<T>(
        &self,
        command: &str,
        source: &str,
        started: f64,
        result: anyhow::Result<T>,
        fill: impl FnOnce(&mut crate::metrics::Metrics, &T) -> bool,
    ) -> anyhow::Result<T> {
        if self.metrics_file.is_none() && self.pushgateway.is_none() {
            return result;
        }
        let mut m = crate::metrics::Metrics::default();
        let ok = match &result {
            Ok(r) => fill(&mut m, r),
            Err(_) => false,
        };
        crate::metrics::job(&mut m, command, source, started, ok);
        self.emit_metrics(&m, None, None, "cellar");
        result
    }

    /// Write and push `m` where asked (the options, else the given defaults). A failure is
    /// reported on stderr and returns false: the work itself was done.
    pub fn emit_metrics(
        &self,
        m: &crate::metrics::Metrics,
        file: Option<&std::path::Path>,
        gateway: Option<&str>,
        job: &str,
    ) -> bool {
        let mut ok = true;
        if let Some(path) = self.metrics_file.as_deref().or(file) {
            if let Err(e) = m.write_textfile(path) {
                eprintln!("cellar: error: writing metrics to {}: {e}", path.display());
                ok = false;
            }
        }
        if let Some(url) = self.pushgateway.as_deref().or(gateway) {
            if let Err(e) = m.push(url, job) {
                eprintln!("cellar: error: {e:#}");
                ok = false;
            }
        }
        ok
    }

    pub fn user_config(&self) -> anyhow::Result<UserConfig> {
        UserConfig::load_or_default(self.config.as_deref())
    }

    pub fn locate(&self, spec: &str) -> anyhow::Result<Location> {
        crate::location::resolve(spec, &self.s3_config(), &self.user_config()?)
    }

    pub fn s3_config(&self) -> S3Config {
        S3Config { endpoint: self.s3_endpoint.clone(), path_style: self.s3_path_style, ..Default::default() }
    }

    /// Show progress on a terminal unless `--quiet` or `--json`.
    pub fn progress(&self) -> bool {
        !self.quiet && !self.json
    }

    /// The storage at `spec` (a repository location), with the metadata cache in front of
    /// a remote one unless `--no-cache`.
    pub fn backend_at(&self, spec: &str, cache: bool) -> anyhow::Result<Arc<dyn Backend>> {
        Ok(match self.locate(spec)? {
            Location::S3(url, cfg) => {
                let s3: Arc<dyn Backend> = Arc::new(S3Backend::new(S3::connect(&cfg)?, url));
                if cache && !self.no_cache {
                    crate::repo::with_cache(s3)
                } else {
                    s3
                }
            }
            Location::Local(p) => Arc::new(LocalBackend::new(p)),
        })
    }

    pub fn backend(&self) -> anyhow::Result<Arc<dyn Backend>> {
        let Some(r) = &self.repo else {
            return Err(super::UsageError("no repository given: use --repo or set CELLAR_REPO".into()).into());
        };
        let Some(at) = &self.as_of else { return self.backend_at(r, true) };
        let at_ms = super::clock::parse_ms(at)?;
        match self.locate(r)? {
            // No metadata cache: it holds what the repository has now, not then.
            Location::S3(url, cfg) => Ok(Arc::new(AsOfBackend::open(S3::connect(&cfg)?, url, at_ms)?)),
            Location::Local(_) => {
                Err(super::UsageError(format!("--as-of reads the object versions of an S3 bucket; {r} is a directory"))
                    .into())
            }
        }
    }

    pub fn password(&self, confirm: bool) -> anyhow::Result<Vec<u8>> {
        PasswordSource {
            insecure_no_password: self.insecure_no_password,
            file: self.password_file.as_deref(),
            env: "CELLAR_PASSWORD",
            flags: ("--password-file", "--insecure-no-password"),
            prompt: "repository password: ",
        }
        .get(confirm)
    }

    /// Open the repository, reporting its notices on stderr (or not at all with `--json`).
    pub fn open(&self) -> anyhow::Result<Arc<Repository>> {
        let b = self.backend()?;
        // Refuse a missing repository or a newer format before asking for a password.
        crate::repo::read_config(b.as_ref())?;
        let pw = self.password(false)?;
        Ok(Arc::new(Repository::open_with(b, &pw, Arc::new(StderrNotices { quiet: self.json }))?))
    }

    /// Open another repository (`copy --to-repo`): its own password file or variable, else
    /// this repository's password.
    pub fn open_other(&self, spec: &str, password_file: Option<&std::path::Path>) -> anyhow::Result<Arc<Repository>> {
        let backend = self.backend_at(spec, false)?;
        crate::repo::read_config(backend.as_ref()).context("destination repository")?;
        let pw = if password_file.is_some() || std::env::var_os("CELLAR_TO_PASSWORD").is_some() {
            PasswordSource {
                insecure_no_password: false,
                file: password_file,
                env: "CELLAR_TO_PASSWORD",
                flags: ("--to-password-file", "--insecure-no-password"),
                prompt: "destination password: ",
            }
            .get(false)?
        } else {
            self.password(false)?
        };
        let notices = Arc::new(StderrNotices { quiet: self.json });
        Ok(Arc::new(Repository::open_with(backend, &pw, notices).context("opening the destination repository")?))
    }
}
