//! `cellar run PROFILE`: the nightly job. Back up every source of the profile (each into
//! its own snapshot, so retention and `latest --path NAME` work per source), forget by each
//! source's policy, prune when due, and read a rotating slice of the data; then one summary
//! and the metrics of everything.
//!
//! Every step runs even when an earlier one failed (a failed loki backup must not stop
//! mimir's, nor the check), and each is reported. It is idempotent and safe to run on
//! several hosts at once: each step uses the repository's lock-free protocol
//! (format-spec §11).

use serde::Serialize;
use std::sync::Arc;

use crate::metrics::{self, Metrics};
use crate::ops::backup::{backup, BackupOptions, BackupReport};
use crate::ops::check::{check, CheckOptions, CheckReport, ReadData};
use crate::ops::forget::{forget, parse_duration, ForgetOptions, GroupBy};
use crate::ops::locks::{extend, ExtendOptions, LockReport};
use crate::ops::prune::{prune, PruneOptions, PruneReport};
use crate::profile::Profile;
use crate::repo::{Repository, SnapshotFilter};
use crate::source::Source;

/// What made a step fail or only partly succeed.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Done, but something was left out and reported (unreadable objects, corrupted blocks).
    Partial,
    Failed,
}

#[derive(Serialize, Debug)]
pub struct SourceRun {
    pub name: String,
    pub path: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupReport>,
    /// Snapshots this source's policy removed.
    pub forgotten: usize,
    pub seconds: f64,
}

#[derive(Serialize, Debug)]
pub struct Step<R> {
    pub outcome: Outcome,
    /// Why it ran or did not.
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<R>,
}

#[derive(Serialize, Debug)]
pub struct RunReport {
    pub profile: String,
    pub sources: Vec<SourceRun>,
    pub prune: Step<PruneReport>,
    /// Locked repositories: the lock extension (run by prune when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks: Option<Step<LockReport>>,
    pub check: Step<CheckReport>,
    /// The worst outcome of all steps.
    pub outcome: Outcome,
    pub seconds: f64,
    #[serde(skip)]
    pub metrics: Metrics,
}

pub struct RunOptions<'a> {
    pub profile: &'a Profile,
    /// Resolves a source path of the profile (S3 endpoints, remotes).
    pub resolve: &'a dyn Fn(&str) -> anyhow::Result<Source>,
    pub progress: bool,
    /// Now, for the prune schedule and the check rotation.
    pub now: time::OffsetDateTime,
}

pub fn run(repo: &Arc<Repository>, opts: &RunOptions) -> RunReport {
    let p = opts.profile;
    let started = metrics::now_seconds();
    let mut m = Metrics::default();
    let host = p.host.clone().unwrap_or_else(|| p.name.clone());
    let mut sources = vec![];
    for (name, spec) in &p.sources {
        let t0 = metrics::now_seconds();
        let mut s = SourceRun {
            name: name.clone(),
            path: spec.path.clone(),
            outcome: Outcome::Ok,
            error: None,
            backup: None,
            forgotten: 0,
            seconds: 0.0,
        };
        let label = match back_up(repo, opts, &host, spec) {
            Ok((r, label)) => {
                let partial = !r.errors.is_empty() || (!r.corrupted.is_empty() && !spec.allow_corrupted);
                s.outcome = if partial { Outcome::Partial } else { Outcome::Ok };
                metrics::backup_with_coverage(&mut m, repo, name, &r);
                s.backup = Some(r);
                Some(label)
            }
            Err(e) => {
                s.outcome = Outcome::Failed;
                s.error = Some(format!("{e:#}"));
                None
            }
        };
        metrics::job(&mut m, "backup", name, t0, s.outcome != Outcome::Failed);
        // Forget even after a failed backup: the policy judges the snapshots there are,
        // and keeps the newest of each period whatever tonight brought.
        // An append-only key only backs up; the full key's job forgets, prunes and checks.
        if !spec.retention.is_empty() && !repo.append_only() {
            let t1 = metrics::now_seconds();
            // The label a failed backup would have recorded: its earlier snapshots'.
            let label = label.or_else(|| (opts.resolve)(&spec.path).ok().map(|s| s.label));
            match label.map_or(Ok(0), |l| forget_source(repo, spec, l)) {
                Ok(n) => s.forgotten = n,
                Err(e) => {
                    s.outcome = Outcome::Failed;
                    let msg = format!("forget: {e:#}");
                    s.error = Some(s.error.map_or(msg.clone(), |b| format!("{b}; {msg}")));
                }
            }
            metrics::job(&mut m, "forget", name, t1, s.error.is_none());
            metrics::forget(&mut m, name, s.forgotten);
        }
        s.seconds = metrics::now_seconds() - t0;
        sources.push(s);
    }

    let prune = prune_step(repo, p, opts.now, &mut m);
    let locks = locks_step(repo, &prune, &mut m);
    let check = check_step(repo, p, opts.now, &mut m);
    let outcome = sources
        .iter()
        .map(|s| s.outcome)
        .chain([prune.outcome, check.outcome])
        .chain(locks.as_ref().map(|l| l.outcome))
        .max()
        .unwrap_or(Outcome::Ok);
    metrics::job(&mut m, "run", &p.name, started, outcome == Outcome::Ok);
    m.gauge(
        "cellar_run_outcome",
        "Worst outcome of the last run: 0 ok, 1 partial (something left out and reported), 2 failed.",
        &[("profile", &p.name)],
        f64::from(outcome as u8),
    );
    RunReport {
        profile: p.name.clone(),
        sources,
        prune,
        locks,
        check,
        outcome,
        seconds: metrics::now_seconds() - started,
        metrics: m,
    }
}

/// One source into its own snapshot; returns the report and the source's label (what
/// the snapshot names as its source).
fn back_up(
    repo: &Arc<Repository>,
    opts: &RunOptions,
    host: &str,
    spec: &crate::profile::SourceSpec,
) -> anyhow::Result<(BackupReport, String)> {
    let source = (opts.resolve)(&spec.path)?;
    let label = source.label.clone();
    let r = backup(
        repo.clone(),
        BackupOptions {
            sources: vec![source],
            tags: opts.profile.tags.clone(),
            host: Some(host.to_string()),
            parent: None,
            force: false,
            layout: None,
            progress: opts.progress,
            shard: None,
            readers: None,
            excludes: crate::ops::backup::exclude::Excludes::new(&spec.exclude, &spec.exclude_if_present)?,
            send_log: None,
        },
    )?;
    Ok((r, label))
}

/// Apply the source's policy to the snapshots of exactly this source (by its label).
fn forget_source(repo: &Arc<Repository>, spec: &crate::profile::SourceSpec, label: String) -> anyhow::Result<usize> {
    let opts = ForgetOptions {
        policy: spec.retention.clone(),
        group_by: GroupBy::default(),
        filter: SnapshotFilter { paths: vec![label], ..Default::default() },
        ..Default::default()
    };
    match forget(repo, &opts) {
        Ok(out) => Ok(out.forget.map_or(0, |f| f.removed)),
        Err(e) if is_nothing_selected(&e) => Ok(0),
        Err(e) => Err(e),
    }
}

fn is_nothing_selected(e: &anyhow::Error) -> bool {
    matches!(crate::error::find::<crate::error::RepoError>(e), Some(crate::error::RepoError::NothingSelected(_)))
}

/// The step a job with an append-only key leaves to the full key's job.
fn skipped_append_only<R>() -> Step<R> {
    Step { outcome: Outcome::Ok, why: APPEND_ONLY_SKIP.into(), error: None, report: None }
}

const APPEND_ONLY_SKIP: &str = "skipped: the key is append-only (the full key's job forgets, prunes and checks)";

fn prune_step(repo: &Arc<Repository>, p: &Profile, now: time::OffsetDateTime, m: &mut Metrics) -> Step<PruneReport> {
    if repo.append_only() {
        return skipped_append_only();
    }
    let Some(s) = &p.prune else {
        return Step {
            outcome: Outcome::Ok,
            why: "not scheduled (no [prune] table)".into(),
            error: None,
            report: None,
        };
    };
    let t0 = metrics::now_seconds();
    let result = (|| -> anyhow::Result<(String, Option<PruneReport>)> {
        let every = parse_duration(&s.every)?;
        let grace = s.grace.as_deref().map(parse_duration).transpose()?.unwrap_or(time::Duration::hours(6));
        let max_unused = match &s.max_unused {
            Some(v) => {
                v.trim_end_matches('%')
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("[prune] max-unused {v:?}: expected a percentage like 5%"))?
                    / 100.0
            }
            None => 0.05,
        };
        let records = repo.list_deletions()?;
        let times: Vec<time::OffsetDateTime> =
            records.iter().filter_map(|(_, r)| crate::repo::file::snapshot::parse_time(&r.created).ok()).collect();
        let why = if let Some(old) = times.iter().min().filter(|t| now - **t >= grace) {
            let marked = old.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            format!("deletion candidates marked {marked} have waited out the grace period")
        } else if times.iter().max().is_some_and(|t| now - *t < every) {
            return Ok((format!("not due: a prune marked data within {}", s.every), None));
        } else {
            format!("due: no prune marked data within {}", s.every)
        };
        let opts = PruneOptions { max_unused, grace, ..PruneOptions::default() };
        Ok((why, Some(prune(repo, &opts)?)))
    })();
    match result {
        Ok((why, report)) => {
            if let Some(r) = &report {
                metrics::prune(m, r);
                metrics::job(m, "prune", "", t0, true);
            }
            Step { outcome: Outcome::Ok, why, error: None, report }
        }
        Err(e) => {
            metrics::job(m, "prune", "", t0, false);
            Step { outcome: Outcome::Failed, why: "ran".into(), error: Some(format!("{e:#}")), report: None }
        }
    }
}

/// In a locked repository, extend the locks tonight's snapshots need, unless prune just
/// did.
fn locks_step(repo: &Arc<Repository>, prune: &Step<PruneReport>, m: &mut Metrics) -> Option<Step<LockReport>> {
    repo.settings().object_lock?;
    if repo.append_only() {
        return Some(skipped_append_only());
    }
    if prune.report.as_ref().is_some_and(|r| r.locks.is_some()) {
        return None;
    }
    let t0 = metrics::now_seconds();
    Some(match extend(repo, &ExtendOptions::default()) {
        Ok(r) => {
            metrics::locks(m, &r);
            metrics::job(m, "locks", "", t0, true);
            Step { outcome: Outcome::Ok, why: "locked repository".into(), error: None, report: Some(r) }
        }
        Err(e) => {
            metrics::job(m, "locks", "", t0, false);
            Step {
                outcome: Outcome::Failed,
                why: "locked repository".into(),
                error: Some(format!("{e:#}")),
                report: None,
            }
        }
    })
}

fn check_step(repo: &Arc<Repository>, p: &Profile, now: time::OffsetDateTime, m: &mut Metrics) -> Step<CheckReport> {
    if repo.append_only() {
        return skipped_append_only();
    }
    let s = p.check.clone().unwrap_or_default();
    let t0 = metrics::now_seconds();
    let (read, why) = if s.rotate_over == 0 {
        (ReadData::None, "structure only (no [check] rotate-over)".to_string())
    } else {
        let day = (now.unix_timestamp().div_euclid(86_400)) as u64;
        let n = (day % u64::from(s.rotate_over)) as u32 + 1;
        (ReadData::Subset { n, m: s.rotate_over }, format!("read slice {n}/{} of the data", s.rotate_over))
    };
    match check(repo, &CheckOptions { read, max_age: None, verify_blocks: s.verify_blocks }) {
        Ok(r) => {
            metrics::check(m, &r);
            let ok = r.ok();
            metrics::job(m, "check", "", t0, ok);
            Step { outcome: if ok { Outcome::Ok } else { Outcome::Failed }, why, error: None, report: Some(r) }
        }
        Err(e) => {
            metrics::job(m, "check", "", t0, false);
            Step { outcome: Outcome::Failed, why, error: Some(format!("{e:#}")), report: None }
        }
    }
}
