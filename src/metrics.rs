//! Prometheus metrics of a run, for node-exporter's textfile collector (`--metrics-file`)
//! or a Pushgateway (`--pushgateway`): what an operator alerts on ("no successful backup
//! of mimir in 26 h", "check found damage", "the newest block is old").
//!
//! A textfile is replaced atomically (written beside, then renamed), so the collector
//! never reads half a file. The time of the last *success* of each labelled job is kept
//! from the previous file when this run failed: a failing job must not reset the clock an
//! alert watches.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::ops::backup::BackupReport;
use crate::ops::check::CheckReport;
use crate::ops::prune::PruneReport;

/// The family whose samples survive a failed run.
pub const LAST_SUCCESS: &str = "cellar_last_success_timestamp_seconds";

#[derive(Default, Debug, Clone)]
pub struct Metrics {
    /// name → (help, samples: sorted label set → value).
    families: BTreeMap<String, (String, BTreeMap<String, f64>)>,
}

impl Metrics {
    /// Set a gauge. Label values are escaped as the exposition format requires.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let labels = render_labels(labels);
        let f = self.families.entry(name.to_string()).or_insert_with(|| (help.to_string(), BTreeMap::new()));
        f.1.insert(labels, value);
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, (help, samples)) in &self.families {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for (labels, v) in samples {
                out.push_str(&format!("{name}{labels} {}\n", fmt_value(*v)));
            }
        }
        out
    }

    /// Carry over the last-success samples of `previous` (an earlier file's text) that
    /// this run did not set.
    pub fn keep_last_success(&mut self, previous: &str) {
        for line in previous.lines() {
            let Some(rest) = line.strip_prefix(LAST_SUCCESS) else { continue };
            let Some((labels, value)) = rest.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if !labels.is_empty() && !labels.starts_with('{') {
                continue; // another family whose name starts the same
            }
            let f = self
                .families
                .entry(LAST_SUCCESS.to_string())
                .or_insert_with(|| (LAST_SUCCESS_HELP.to_string(), BTreeMap::new()));
            f.1.entry(labels.to_string()).or_insert(value);
        }
    }

    /// Replace `path` with these metrics (keeping earlier successes), atomically.
    pub fn write_textfile(&self, path: &Path) -> std::io::Result<()> {
        let mut all = self.clone();
        if let Ok(previous) = std::fs::read_to_string(path) {
            all.keep_last_success(&previous);
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new().prefix(".cellar-metrics-").tempfile_in(dir)?;
        tmp.write_all(all.render().as_bytes())?;
        tmp.as_file().sync_all()?;
        // Readable by the collector, which runs as another user.
        std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Replace this job's group on a Pushgateway (`PUT /metrics/job/JOB`).
    pub fn push(&self, gateway: &str, job: &str) -> anyhow::Result<()> {
        let url = format!("{}/metrics/job/{}", gateway.trim_end_matches('/'), job);
        ureq::put(&url)
            .set("Content-Type", "text/plain; version=0.0.4")
            .send_string(&self.render())
            .map_err(|e| anyhow::anyhow!("pushing metrics to {url}: {e}"))?;
        Ok(())
    }
}

const LAST_SUCCESS_HELP: &str = "When the job last succeeded (Unix time).";

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Unix time now, in seconds.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// One job's outcome: its duration, when it ran, and (if it succeeded) its success time.
pub fn job(m: &mut Metrics, command: &str, source: &str, started: f64, ok: bool) {
    let labels = [("command", command), ("source", source)];
    let now = now_seconds();
    m.gauge("cellar_last_run_timestamp_seconds", "When the job last ran (Unix time).", &labels, now);
    m.gauge("cellar_last_run_success", "1 if the job's last run succeeded, else 0.", &labels, f64::from(u8::from(ok)));
    m.gauge("cellar_last_run_duration_seconds", "How long the job's last run took.", &labels, now - started);
    if ok {
        m.gauge(LAST_SUCCESS, LAST_SUCCESS_HELP, &labels, now);
    }
}

/// What a backup read, stored and left out, per source.
pub fn backup(m: &mut Metrics, source: &str, r: &BackupReport) {
    let l = [("source", source)];
    let g = |m: &mut Metrics, n: &str, h: &str, v: u64| m.gauge(n, h, &l, v as f64);
    g(m, "cellar_backup_files", "Files in the snapshot.", r.total_files);
    g(m, "cellar_backup_bytes", "Logical bytes in the snapshot.", r.total_bytes);
    g(m, "cellar_backup_bytes_read", "Bytes read from the source (unchanged files are not read).", r.bytes_read);
    g(m, "cellar_backup_bytes_added", "Bytes added to the repository (after dedup and compression).", r.bytes_added);
    g(m, "cellar_backup_errors", "Source objects that could not be read or stored.", r.errors.len() as u64);
    g(m, "cellar_backup_blocks", "Complete TSDB blocks in the snapshot.", r.blocks);
    for (reason, n) in [
        ("partial", r.excluded_partial),
        ("corrupted", r.excluded_corrupted),
        ("deletion_marked", r.excluded_deletion_marked),
    ] {
        m.gauge(
            "cellar_backup_blocks_excluded",
            "TSDB blocks left out of the snapshot, by reason.",
            &[("source", source), ("reason", reason)],
            n as f64,
        );
    }
    let ratio = if r.bytes_added == 0 { 0.0 } else { r.total_bytes as f64 / r.bytes_added as f64 };
    m.gauge(
        "cellar_backup_logical_per_added_ratio",
        "Logical bytes of the snapshot per byte added: how much dedup and compression saved (0 when nothing was added).",
        &l,
        ratio,
    );
}

/// A backup's metrics with the TSDB coverage of the snapshot it wrote (read back: the
/// report does not carry the tenants).
pub fn backup_with_coverage(m: &mut Metrics, repo: &crate::repo::Repository, source: &str, r: &BackupReport) {
    backup(m, source, r);
    if let Ok((_, snap)) = repo.resolve_snapshot(&r.snapshot_id) {
        coverage(m, source, &snap.tenants);
    }
}

/// How many snapshots a forget removed.
pub fn forget(m: &mut Metrics, source: &str, removed: usize) {
    m.gauge(
        "cellar_forget_snapshots_removed",
        "Snapshots the last forget removed.",
        &[("source", source)],
        removed as f64,
    );
}

/// The newest sample time per tenant (the data-loss window, if the platform failed now).
pub fn coverage(m: &mut Metrics, source: &str, tenants: &[crate::repo::file::snapshot::TenantBlocks]) {
    for t in tenants {
        let l = [("source", source), ("tenant", t.path.as_str())];
        m.gauge(
            "cellar_tsdb_newest_sample_timestamp_seconds",
            "End of the newest complete TSDB block of the tenant in the latest snapshot (Unix time).",
            &l,
            t.max_time as f64 / 1000.0,
        );
        m.gauge(
            "cellar_tsdb_oldest_sample_timestamp_seconds",
            "Start of the oldest TSDB block of the tenant in the latest snapshot (Unix time).",
            &l,
            t.min_time as f64 / 1000.0,
        );
        m.gauge(
            "cellar_tsdb_blocks",
            "Complete TSDB blocks of the tenant in the latest snapshot.",
            &l,
            t.blocks as f64,
        );
    }
}

pub fn check(m: &mut Metrics, r: &CheckReport) {
    m.gauge("cellar_check_ok", "1 if the last check found the repository healthy.", &[], f64::from(u8::from(r.ok())));
    m.gauge("cellar_check_errors", "Problems the last check found.", &[], r.errors.len() as f64);
    m.gauge("cellar_check_damaged_snapshots", "Snapshots the last check found damaged.", &[], r.damaged.len() as f64);
    m.gauge("cellar_check_packs_read", "Packs whose data the last check read and verified.", &[], r.packs_read as f64);
}

pub fn prune(m: &mut Metrics, r: &PruneReport) {
    m.gauge("cellar_prune_packs_deleted", "Packs the last prune deleted.", &[], r.packs_deleted as f64);
    m.gauge("cellar_prune_bytes_freed", "Bytes the last prune freed.", &[], r.bytes_freed as f64);
    m.gauge(
        "cellar_prune_bytes_locked",
        "Bytes prune could delete but their Object Lock has not ended.",
        &[],
        r.bytes_locked as f64,
    );
    if let Some(l) = &r.locks {
        locks(m, l);
    }
}

/// Alert when the first lock a snapshot needs ends within days: extensions have stopped.
pub fn locks(m: &mut Metrics, r: &crate::ops::locks::LockReport) {
    if let Some(t) = r.needed_locked_until.as_deref().and_then(|t| crate::repo::file::snapshot::parse_time(t).ok()) {
        m.gauge(
            "cellar_lock_needed_until_timestamp_seconds",
            "When the first Object Lock of a file the snapshots need ends (Unix time).",
            &[],
            t.unix_timestamp() as f64,
        );
    }
    m.gauge(
        "cellar_lock_files_extended",
        "Locks the last extension moved to a later date.",
        &[],
        r.files_extended as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_sorted_families_and_keeps_earlier_successes() {
        let mut m = Metrics::default();
        m.gauge("cellar_x", "X.", &[("source", "a\"b"), ("command", "backup")], 2.0);
        m.gauge("cellar_x", "X.", &[("command", "backup"), ("source", "c")], 0.5);
        let text = m.render();
        assert_eq!(
            text,
            "# HELP cellar_x X.\n# TYPE cellar_x gauge\ncellar_x{command=\"backup\",source=\"a\\\"b\"} 2\ncellar_x{command=\"backup\",source=\"c\"} 0.5\n"
        );
        let previous = format!("{LAST_SUCCESS}{{command=\"backup\",source=\"mimir\"}} 1700000000\n{LAST_SUCCESS}{{command=\"backup\",source=\"loki\"}} 1700000001\n");
        let mut now = Metrics::default();
        now.gauge(LAST_SUCCESS, "h", &[("command", "backup"), ("source", "loki")], 1_800_000_000.0);
        now.keep_last_success(&previous);
        let text = now.render();
        assert!(text.contains("source=\"mimir\"} 1700000000"), "{text}");
        assert!(text.contains("source=\"loki\"} 1800000000") && !text.contains("1700000001"), "{text}");
    }
}
