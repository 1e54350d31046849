//! `forget`: decide which snapshots a retention policy keeps, and remove the others'
//! snapshot files. Data is reclaimed later by `prune`.
//!
//! Semantics follow restic's documented rules, applied per group of snapshots (default:
//! same sources), newest first:
//! - `last N`: the N newest snapshots;
//! - `hourly/daily/weekly/monthly/yearly N`: walking from the newest, the newest snapshot of
//!   each of the N most recent hours/days/ISO weeks/months/years that have snapshots (UTC);
//! - `within D`: every snapshot no older than D before the group's newest snapshot;
//! - `tag T`: every snapshot carrying tag T.
//!
//! A snapshot is kept when any rule keeps it; the reasons are reported.

use anyhow::{bail, Context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::error::RepoError;
use crate::id::Id;
use crate::ops::prune::{PruneOptions, PruneReport};
use crate::ops::thin::ThinReport;
use crate::repo::file::snapshot::{logical_groups, parse_time, Snapshot};
use crate::repo::file::FileType;
use crate::repo::{resolve_prefix, Repository, SnapshotFilter};
pub use crate::userconfig::Policy;

/// How snapshots are grouped before the policy applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub sources: bool,
    pub tags: bool,
}

impl Default for GroupBy {
    /// By sources, as restic groups by paths.
    fn default() -> Self {
        GroupBy { host: false, sources: true, tags: false }
    }
}

impl GroupBy {
    /// `host,sources,tags` in any combination; empty for one group.
    pub fn parse(s: &str) -> anyhow::Result<GroupBy> {
        let mut g = GroupBy { host: false, sources: false, tags: false };
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "host" => g.host = true,
                "sources" | "paths" => g.sources = true,
                "tags" => g.tags = true,
                _ => bail!("unknown --group-by {p:?}: use host, sources and/or tags"),
            }
        }
        Ok(g)
    }

    pub fn key(&self, s: &Snapshot) -> String {
        let mut parts = vec![];
        if self.host {
            parts.push(format!("host={}", s.host));
        }
        if self.sources {
            parts.push(format!("sources={}", s.sources.join(",")));
        }
        if self.tags {
            let mut t = s.tags.clone();
            t.sort();
            parts.push(format!("tags={}", t.join(",")));
        }
        parts.join(" ")
    }
}

/// `1y2m3w4d5h6min7s` (years of 365 days, months of 30); a bare number means days.
pub fn parse_duration(s: &str) -> anyhow::Result<time::Duration> {
    let s = s.trim();
    if let Ok(days) = s.parse::<i64>() {
        return Ok(time::Duration::days(days));
    }
    let mut total = time::Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: i64 = num.parse().with_context(|| format!("bad duration {s:?}"))?;
        num.clear();
        total += match unit.as_str() {
            "y" => time::Duration::days(365 * n),
            "m" | "mo" => time::Duration::days(30 * n),
            "w" => time::Duration::weeks(n),
            "d" => time::Duration::days(n),
            "h" => time::Duration::hours(n),
            "min" => time::Duration::minutes(n),
            "s" => time::Duration::seconds(n),
            _ => bail!("bad duration unit {unit:?} in {s:?} (use y, m, w, d, h, min, s)"),
        };
    }
    if !num.is_empty() {
        bail!("duration {s:?} ends without a unit");
    }
    Ok(total)
}

/// The decision for one snapshot.
#[derive(Serialize, Debug, Clone)]
pub struct Decision {
    pub id: String,
    pub time: String,
    pub group: String,
    pub keep: bool,
    /// Rules that keep it (`last`, `daily`, `within 30d`, `tag x`, …).
    pub reasons: Vec<String>,
}

type BucketFn = fn(OffsetDateTime) -> i64;

fn hour(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(3600)
}
fn day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86400)
}
fn week(t: OffsetDateTime) -> i64 {
    let (y, w, _) = t.to_iso_week_date();
    i64::from(y) * 100 + i64::from(w)
}
fn month(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 100 + t.month() as i64
}
fn year(t: OffsetDateTime) -> i64 {
    i64::from(t.year())
}

/// Apply `policy` to snapshots (any order); returns decisions newest first per group.
pub fn apply(policy: &Policy, group_by: GroupBy, snaps: &[(Id, Snapshot)]) -> anyhow::Result<Vec<Decision>> {
    if policy.is_empty() {
        bail!("no retention policy given (e.g. --keep-daily 7); refusing to forget everything");
    }
    let within = policy.keep_within.as_deref().map(parse_duration).transpose()?;
    let mut groups: BTreeMap<String, Vec<(OffsetDateTime, &Id, &Snapshot)>> = BTreeMap::new();
    for (id, s) in snaps {
        groups.entry(group_by.key(s)).or_default().push((parse_time(&s.time).map_err(anyhow::Error::msg)?, id, s));
    }
    let mut out = vec![];
    for (group, mut list) in groups {
        list.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(a.1)));
        let newest = list[0].0;
        let mut rules: Vec<(&str, u32, BucketFn, Option<i64>)> = vec![
            ("hourly", policy.keep_hourly, hour, None),
            ("daily", policy.keep_daily, day, None),
            ("weekly", policy.keep_weekly, week, None),
            ("monthly", policy.keep_monthly, month, None),
            ("yearly", policy.keep_yearly, year, None),
        ];
        let mut last = policy.keep_last;
        for (t, id, s) in list {
            let mut reasons = vec![];
            if last > 0 {
                last -= 1;
                reasons.push("last".to_string());
            }
            for (name, left, bucket, prev) in &mut rules {
                let b = bucket(t);
                if *left > 0 && *prev != Some(b) {
                    *left -= 1;
                    *prev = Some(b);
                    reasons.push(name.to_string());
                }
            }
            if let Some(w) = within {
                if t >= newest - w {
                    reasons.push(format!("within {}", policy.keep_within.as_deref().unwrap_or_default()));
                }
            }
            for tag in &policy.keep_tag {
                if s.tags.contains(tag) {
                    reasons.push(format!("tag {tag}"));
                }
            }
            out.push(Decision {
                id: id.to_hex(),
                time: s.time.clone(),
                group: group.clone(),
                keep: !reasons.is_empty(),
                reasons,
            });
        }
    }
    Ok(out)
}

/// Apply `policy` to logical snapshots: the shards of a sharded backup are kept or removed
/// together (judged by the newest shard's time), and an incomplete group is always kept.
pub fn apply_logical(policy: &Policy, group_by: GroupBy, snaps: &[(Id, Snapshot)]) -> anyhow::Result<Vec<Decision>> {
    let groups = logical_groups(snaps);
    let mut units = vec![];
    let mut out = vec![];
    for (members, complete) in &groups {
        if !complete {
            for &i in members {
                let (id, s) = &snaps[i];
                out.push(Decision {
                    id: id.to_hex(),
                    time: s.time.clone(),
                    group: group_by.key(s),
                    keep: true,
                    reasons: vec!["incomplete shard group".into()],
                });
            }
            continue;
        }
        let newest = members.iter().copied().max_by_key(|&i| snaps[i].1.timestamp()).expect("non-empty");
        units.push((snaps[newest].0, snaps[newest].1.clone()));
    }
    let decided = apply(policy, group_by, &units)?;
    for d in decided {
        let (members, _) = groups
            .iter()
            .find(|(m, c)| *c && m.iter().any(|&i| snaps[i].0.to_hex() == d.id))
            .expect("every unit comes from a group");
        for &i in members {
            let (id, s) = &snaps[i];
            out.push(Decision { id: id.to_hex(), time: s.time.clone(), ..d.clone() });
        }
    }
    Ok(out)
}

/// Remove the snapshot files of the decisions that do not keep. Returns how many.
pub fn remove(repo: &Repository, decisions: &[Decision]) -> anyhow::Result<usize> {
    let mut n = 0;
    for d in decisions.iter().filter(|d| !d.keep) {
        repo.remove_file(FileType::Snapshot, &Id::from_hex(&d.id)?)?;
        n += 1;
    }
    Ok(n)
}

pub use crate::repo::file::snapshot::source_name;

/// What `forget` is asked to do.
#[derive(Default)]
pub struct ForgetOptions {
    /// Forget these snapshots (ids or prefixes) instead of applying a policy.
    pub ids: Vec<String>,
    /// The policy given on the command line (`--keep-*`).
    pub policy: Policy,
    pub group_by: GroupBy,
    /// Only these snapshots are considered (thinned, judged by a policy); the others are
    /// kept and not listed.
    pub filter: SnapshotFilter,
    /// Policies by source name (`[policy.<source>]` of the config file); used when neither
    /// ids nor a command-line policy are given. Snapshots no policy covers are kept.
    pub config_policies: BTreeMap<String, Policy>,
    /// `--thin-compacted[=AGE]` for every snapshot (else the config's per-source ages).
    pub thin_compacted: Option<time::Duration>,
    pub dry_run: bool,
    /// Run prune afterwards with these options (ignored on a dry run).
    pub prune: Option<PruneOptions>,
}

/// The decisions and what was removed (format-spec/json.md).
#[derive(Serialize, Debug, Default)]
pub struct ForgetDecisions {
    /// Newest first per group.
    pub decisions: Vec<Decision>,
    pub removed: usize,
    pub dry_run: bool,
}

/// What `forget` did, part by part (each part is one line of `forget --json`).
#[derive(Debug, Default)]
pub struct ForgetOutcome {
    /// With thinning.
    pub thin: Option<ThinReport>,
    /// Unless only thinning was asked for.
    pub forget: Option<ForgetDecisions>,
    /// With `prune`.
    pub prune: Option<PruneReport>,
}

/// Thin (if asked), decide which snapshots the policy keeps and remove the others, then
/// prune (if asked).
pub fn forget(repo: &Arc<Repository>, opts: &ForgetOptions) -> anyhow::Result<ForgetOutcome> {
    repo.require_full_key("forget snapshots")?;
    let mut out = ForgetOutcome::default();
    let cfg = if opts.ids.is_empty() { opts.config_policies.clone() } else { BTreeMap::new() };
    let thin_cfg: Vec<(String, time::Duration)> = cfg
        .iter()
        .filter_map(|(k, p)| p.thin_compacted.as_deref().map(|d| parse_duration(d).map(|d| (k.clone(), d))))
        .collect::<anyhow::Result<_>>()?;
    let thinning = opts.thin_compacted.is_some() || !thin_cfg.is_empty();
    if thinning {
        let age = |s: &Snapshot| {
            if !opts.filter.matches(s) {
                return None;
            }
            opts.thin_compacted.or_else(|| {
                let name = s.sources.iter().map(|src| source_name(src)).next()?;
                thin_cfg.iter().find(|(k, _)| k == name).map(|(_, d)| *d)
            })
        };
        out.thin = Some(crate::ops::thin::thin(repo, &age, opts.dry_run)?);
    }
    let keep_rules_in_config = cfg.values().any(|p| !p.is_empty());
    let thinning_only = thinning && opts.ids.is_empty() && opts.policy.is_empty() && !keep_rules_in_config;
    if !thinning_only {
        let mut listed = repo.list_snapshots_checked()?;
        let all_ids = listed.files.iter().map(|(id, _)| *id).chain(listed.damaged.iter().map(|d| d.id));
        for p in &opts.ids {
            resolve_prefix(all_ids.clone(), p, "snapshot")?;
        }
        if opts.ids.is_empty() {
            listed.files.retain(|(_, s)| opts.filter.matches(s));
            if listed.files.is_empty() && !opts.filter.is_empty() {
                return Err(RepoError::NothingSelected(format!("no snapshot matches {}", opts.filter)).into());
            }
        }
        let mut decisions = decide(opts, &cfg, &listed.files)?;
        // Damaged snapshot files can be forgotten by id (they cannot be read, so no policy
        // can judge them); otherwise they stay, named, for repair.
        for d in &listed.damaged {
            let named = opts.ids.iter().any(|p| d.id.to_hex().starts_with(&p.to_ascii_lowercase()));
            let reasons = if named { vec![] } else { vec![format!("damaged ({})", d.error)] };
            decisions.push(Decision {
                id: d.id.to_hex(),
                time: String::new(),
                group: "damaged".into(),
                keep: !named,
                reasons,
            });
        }
        let removed = if opts.dry_run { 0 } else { remove(repo, &decisions)? };
        out.forget = Some(ForgetDecisions { decisions, removed, dry_run: opts.dry_run });
    }
    if let Some(p) = opts.prune.as_ref().filter(|_| !opts.dry_run) {
        out.prune = Some(crate::ops::prune::prune(repo, p)?);
    }
    Ok(out)
}

/// The decision for every snapshot: by ids, by the command-line policy, or by the config's
/// policies per source.
fn decide(
    opts: &ForgetOptions,
    cfg: &BTreeMap<String, Policy>,
    snaps: &[(Id, Snapshot)],
) -> anyhow::Result<Vec<Decision>> {
    if !opts.ids.is_empty() {
        if !opts.policy.is_empty() {
            bail!("give snapshot ids or a policy, not both");
        }
        let chosen: Vec<Id> = opts
            .ids
            .iter()
            .filter_map(|p| match resolve_prefix(snaps.iter().map(|(id, _)| *id), p, "snapshot") {
                // Perhaps a damaged snapshot file, decided by the caller.
                Err(RepoError::NotFound(_)) => None,
                other => Some(other),
            })
            .collect::<Result<_, RepoError>>()?;
        return Ok(snaps
            .iter()
            .map(|(id, s)| Decision {
                id: id.to_hex(),
                time: s.time.clone(),
                group: String::new(),
                keep: !chosen.contains(id),
                reasons: if chosen.contains(id) { vec![] } else { vec!["not named".into()] },
            })
            .collect());
    }
    if !opts.policy.is_empty() {
        return apply_logical(&opts.policy, opts.group_by, snaps);
    }
    if !cfg.values().any(|p| !p.is_empty()) {
        bail!(RepoError::Invalid(
            "no retention policy: give --keep-* options, snapshot ids, or a config file (--config) with [policy.<source>] tables".into()
        ));
    }
    let mut out = vec![];
    let mut uncovered = vec![];
    let mut by_policy: BTreeMap<&str, Vec<(Id, Snapshot)>> = BTreeMap::new();
    for (id, s) in snaps {
        let covered = s.sources.iter().map(|src| source_name(src)).find(|n| cfg.get(*n).is_some_and(|p| !p.is_empty()));
        match covered {
            Some(name) => {
                by_policy.entry(cfg.get_key_value(name).expect("found").0).or_default().push((*id, s.clone()));
            }
            None => uncovered.push((*id, s)),
        }
    }
    for (name, list) in by_policy {
        out.extend(apply_logical(&cfg[name], opts.group_by, &list)?.into_iter().map(|mut d| {
            d.group = format!("policy {name}: {}", d.group);
            d
        }));
    }
    out.extend(uncovered.into_iter().map(|(id, s)| Decision {
        id: id.to_hex(),
        time: s.time.clone(),
        group: String::new(),
        keep: true,
        reasons: vec!["no policy covers its sources".into()],
    }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: &str, sources: &str, tags: &[&str]) -> (Id, Snapshot) {
        let s = Snapshot {
            tags: tags.iter().map(std::string::ToString::to_string).collect(),
            ..Snapshot::sample(t, sources)
        };
        (Id(*blake3::hash(format!("{t}{sources}").as_bytes()).as_bytes()), s)
    }

    fn kept(p: &Policy, g: GroupBy, snaps: &[(Id, Snapshot)]) -> Vec<String> {
        let mut v: Vec<String> = apply(p, g, snaps).unwrap().into_iter().filter(|d| d.keep).map(|d| d.time).collect();
        v.sort();
        v
    }

    fn daily(from: time::Date, days: i64) -> Vec<(Id, Snapshot)> {
        (0..days)
            .map(|i| {
                let d = from + time::Duration::days(i);
                snap(&format!("{d}T12:00:00Z"), "/data/mimir", &[])
            })
            .collect()
    }

    #[test]
    fn hourly_and_daily_keep_the_newest_of_each_bucket() {
        let mut snaps = vec![];
        for d in 1..=3 {
            for h in 0..24 {
                for m in [0, 30] {
                    snaps.push(snap(&format!("2025-04-0{d}T{h:02}:{m:02}:00Z"), "/s", &[]));
                }
            }
        }
        let p = Policy { keep_daily: 2, keep_hourly: 3, ..Default::default() };
        assert_eq!(
            kept(&p, GroupBy { sources: true, ..Default::default() }, &snaps),
            ["2025-04-02T23:30:00Z", "2025-04-03T21:30:00Z", "2025-04-03T22:30:00Z", "2025-04-03T23:30:00Z"]
        );
    }

    #[test]
    fn weekly_monthly_yearly_follow_iso_weeks_and_calendar_months() {
        let snaps = daily(time::macros::date!(2024 - 12 - 01), 121); // 2024-12-01 .. 2025-03-31
        let g = GroupBy { sources: true, ..Default::default() };
        // 2025-03-31 is a Monday (ISO week 14), 2025-03-30 the Sunday ending week 13.
        let p = Policy { keep_weekly: 2, ..Default::default() };
        assert_eq!(kept(&p, g, &snaps), ["2025-03-30T12:00:00Z", "2025-03-31T12:00:00Z"]);
        let p = Policy { keep_monthly: 3, ..Default::default() };
        assert_eq!(kept(&p, g, &snaps), ["2025-01-31T12:00:00Z", "2025-02-28T12:00:00Z", "2025-03-31T12:00:00Z"]);
        let p = Policy { keep_yearly: 5, ..Default::default() };
        assert_eq!(kept(&p, g, &snaps), ["2024-12-31T12:00:00Z", "2025-03-31T12:00:00Z"]);
        let p = Policy { keep_last: 1, keep_monthly: 1, keep_yearly: 2, ..Default::default() };
        assert_eq!(kept(&p, g, &snaps), ["2024-12-31T12:00:00Z", "2025-03-31T12:00:00Z"]);
    }

    #[test]
    fn within_is_relative_to_the_newest_snapshot_and_tags_always_keep() {
        let mut snaps = daily(time::macros::date!(2025 - 03 - 01), 31);
        snaps[4].1.tags = vec!["archive".into()];
        let g = GroupBy { sources: true, ..Default::default() };
        let p = Policy { keep_within: Some("2d".into()), keep_tag: vec!["archive".into()], ..Default::default() };
        assert_eq!(
            kept(&p, g, &snaps),
            ["2025-03-05T12:00:00Z", "2025-03-29T12:00:00Z", "2025-03-30T12:00:00Z", "2025-03-31T12:00:00Z"]
        );
        let d = apply(&p, g, &snaps).unwrap();
        assert_eq!(d.iter().find(|d| d.time.starts_with("2025-03-05")).unwrap().reasons, ["tag archive"]);
    }

    #[test]
    fn groups_are_judged_separately() {
        let mut snaps = daily(time::macros::date!(2025 - 03 - 01), 3);
        snaps.push(snap("2025-03-01T13:00:00Z", "/data/loki", &[]));
        let p = Policy { keep_last: 1, ..Default::default() };
        assert_eq!(
            kept(&p, GroupBy { sources: true, ..Default::default() }, &snaps),
            ["2025-03-01T13:00:00Z", "2025-03-03T12:00:00Z"]
        );
        assert_eq!(kept(&p, GroupBy::parse("").unwrap(), &snaps), ["2025-03-03T12:00:00Z"]);
    }

    #[test]
    fn empty_policy_is_refused_and_durations_parse() {
        assert!(apply(&Policy::default(), GroupBy::parse("").unwrap(), &daily(time::macros::date!(2025 - 03 - 01), 2))
            .is_err());
        assert_eq!(
            parse_duration("1y2m3w4d5h6min7s").unwrap().whole_seconds(),
            ((365 + 60 + 21 + 4) * 24 + 5) * 3600 + 6 * 60 + 7
        );
        assert_eq!(parse_duration("30").unwrap(), time::Duration::days(30));
        assert!(parse_duration("5x").is_err());
    }
}
