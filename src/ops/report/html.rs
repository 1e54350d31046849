//! The report as one HTML file: inline CSS and SVG, no script, nothing fetched, so it can
//! be mailed, archived with the backup or opened on an air-gapped host.

use std::fmt::Write;

use super::ReportData;

const W: f64 = 960.0;
const LEFT: f64 = 220.0;
const ROW: f64 = 26.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

fn day(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).unwrap_or_default()
        })
        .unwrap_or_default()
}

/// A time range of at least an hour (padded around a single point in time), so that
/// snapshots of one minute still spread out and the axis labels stay apart.
fn padded(lo: i64, hi: i64, min: i64) -> (i64, i64) {
    if hi - lo >= min {
        (lo, hi)
    } else {
        let mid = lo + (hi - lo) / 2;
        (mid - min / 2, mid + min / 2)
    }
}

/// A linear map of `[lo, hi]` onto `[LEFT, W - 10]`.
fn scale(lo: f64, hi: f64) -> impl Fn(f64) -> f64 {
    let span = if hi > lo { hi - lo } else { 1.0 };
    move |v| LEFT + (v - lo) / span * (W - 10.0 - LEFT)
}

pub fn render(r: &ReportData) -> String {
    let mut h = String::new();
    let s = &r.stats;
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>cellar report: {repo}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1a202c;background:#fff}}
h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}}
table{{border-collapse:collapse}} td,th{{padding:3px 10px;border-bottom:1px solid #e2e8f0;text-align:left}}
.num{{text-align:right}} .bad{{color:#c53030;font-weight:600}} .ok{{color:#2f855a;font-weight:600}}
svg text{{font-size:11px;fill:#2d3748}}
</style></head><body>
<h1>cellar report</h1>
<p>Repository <code>{repo}</code>, generated {generated} (UTC).</p>
<table id="summary">
<tr><th>snapshots</th><td class="num">{n}</td></tr>
<tr><th>logical bytes (all snapshots)</th><td class="num">{logical}</td></tr>
<tr><th>stored bytes</th><td class="num">{stored}</td></tr>
<tr><th>logical / stored (dedup × compression)</th><td class="num" id="ratio">{ratio:.1}×</td></tr>
</table>
"#,
        repo = esc(&r.repository),
        generated = esc(r.generated.get(..19).unwrap_or(&r.generated)),
        n = r.snapshots.len(),
        logical = bytes(s.logical_bytes),
        stored = bytes(s.stored_bytes),
        ratio = s.ratio,
    );
    timeline(&mut h, r);
    coverage(&mut h, r);
    growth(&mut h, r);
    excluded(&mut h, r);
    check(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn timeline(h: &mut String, r: &ReportData) {
    h.push_str("<h2>Snapshots</h2>\n");
    let mut rows: Vec<&str> = r.snapshots.iter().map(|s| s.sources.as_str()).collect();
    rows.sort_unstable();
    rows.dedup();
    let height = ROW * rows.len().max(1) as f64 + 30.0;
    let (lo, hi) = padded(
        r.snapshots.iter().map(|s| s.at).min().unwrap_or(0),
        r.snapshots.iter().map(|s| s.at).max().unwrap_or(0),
        3600,
    );
    let (lo, hi) = (lo as f64, hi as f64);
    let x = scale(lo, hi);
    let _ = writeln!(h, r#"<svg id="timeline" width="{W}" height="{height}" viewBox="0 0 {W} {height}">"#);
    for (i, src) in rows.iter().enumerate() {
        let y = ROW * i as f64 + 18.0;
        let _ = writeln!(
            h,
            r##"<text x="4" y="{ty}">{}</text><line x1="{LEFT}" x2="{x2}" y1="{y}" y2="{y}" stroke="#cbd5e0"/>"##,
            esc(&truncate(src, 34)),
            ty = y + 4.0,
            x2 = W - 10.0
        );
        for s in r.snapshots.iter().filter(|s| s.sources == *src) {
            let color = if s.excluded_blocks > 0 { "#dd6b20" } else { "#2b6cb0" };
            let _ = writeln!(
                h,
                r#"<circle class="snap" cx="{:.1}" cy="{y}" r="6" fill="{color}"><title>{} {} {} files, {}{}</title></circle>"#,
                x(s.at as f64),
                esc(&s.id),
                esc(&s.time),
                s.files,
                bytes(s.bytes),
                if s.excluded_blocks > 0 { format!(", {} blocks left out", s.excluded_blocks) } else { String::new() }
            );
        }
    }
    axis(h, lo as i64, hi as i64, height - 6.0);
    h.push_str("</svg>\n");
}

fn coverage(h: &mut String, r: &ReportData) {
    h.push_str("<h2>Metric coverage per tenant (latest snapshot of each source; gaps in red)</h2>\n");
    if r.coverage.is_empty() {
        h.push_str("<p id=\"coverage\">No TSDB blocks.</p>\n");
        return;
    }
    let lo = r.coverage.iter().filter_map(|c| c.covered.first()).map(|c| c.0).min().unwrap_or(0) as f64;
    let hi = r.coverage.iter().filter_map(|c| c.covered.last()).map(|c| c.1).max().unwrap_or(0) as f64;
    let x = scale(lo, hi);
    let height = ROW * r.coverage.len() as f64 + 30.0;
    let _ = writeln!(h, r#"<svg id="coverage" width="{W}" height="{height}" viewBox="0 0 {W} {height}">"#);
    for (i, c) in r.coverage.iter().enumerate() {
        let y = ROW * i as f64 + 6.0;
        let _ = writeln!(
            h,
            r#"<text x="4" y="{}">{} ({} blocks)</text>"#,
            y + 13.0,
            esc(&truncate(&c.tenant, 26)),
            c.blocks
        );
        for &(a, b) in &c.covered {
            let _ = writeln!(
                h,
                r##"<rect class="covered" x="{:.1}" y="{y}" width="{:.1}" height="16" fill="#38a169"><title>{} → {}</title></rect>"##,
                x(a as f64),
                (x(b as f64) - x(a as f64)).max(1.0),
                day(a / 1000),
                day(b / 1000)
            );
        }
        for &(a, b) in &c.gaps {
            let _ = writeln!(
                h,
                r##"<rect class="gap" x="{:.1}" y="{y}" width="{:.1}" height="16" fill="#e53e3e"><title>no data {} → {}</title></rect>"##,
                x(a as f64),
                (x(b as f64) - x(a as f64)).max(3.0),
                day(a / 1000),
                day(b / 1000)
            );
        }
    }
    axis(h, (lo / 1000.0) as i64, (hi / 1000.0) as i64, height - 6.0);
    h.push_str("</svg>\n");
    let gaps: usize = r.coverage.iter().map(|c| c.gaps.len()).sum();
    let _ = writeln!(
        h,
        "<p id=\"gaps\" class=\"{}\">{gaps} coverage {}</p>",
        if gaps == 0 { "ok" } else { "bad" },
        if gaps == 1 { "gap" } else { "gaps" }
    );
}

/// Growth over time: what the repository stored (blue) against what the newest snapshot
/// of each source held (grey). Snapshots record the repository's size when they were
/// written, so the curve survives a retention policy: it is drawn through the snapshots
/// kept. For older snapshots without that record, the bytes each one added are summed.
fn growth(h: &mut String, r: &ReportData) {
    h.push_str(
        "<h2>Growth: bytes stored in the repository (blue) and held by the newest snapshot of each source (grey)</h2>\n",
    );
    let mut newest: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut stored = 0u64;
    let points: Vec<(i64, u64, u64)> = r
        .snapshots
        .iter()
        .map(|s| {
            newest.insert(&s.sources, s.bytes);
            stored = if s.repository_bytes > 0 { s.repository_bytes } else { stored + s.bytes_added };
            (s.at, newest.values().sum(), stored)
        })
        .collect();
    let height = 220.0;
    let (lo, hi) = padded(points.first().map_or(0, |p| p.0), points.last().map_or(0, |p| p.0), 3600);
    let (lo, hi) = (lo as f64, hi as f64);
    let x = scale(lo, hi);
    let top = points.iter().map(|p| p.1.max(p.2)).max().unwrap_or(1).max(1) as f64;
    let y = |v: u64| height - 30.0 - v as f64 / top * (height - 50.0);
    // Steps from zero: each snapshot changes the value at its time.
    let line = |f: &dyn Fn(&(i64, u64, u64)) -> u64| {
        let mut out = vec![format!("{:.1},{:.1}", x(lo), y(0))];
        let mut last = 0;
        for p in &points {
            out.push(format!("{:.1},{:.1}", x(p.0 as f64), y(last)));
            last = f(p);
            out.push(format!("{:.1},{:.1}", x(p.0 as f64), y(last)));
        }
        out.push(format!("{:.1},{:.1}", x(hi), y(last)));
        out.join(" ")
    };
    let _ = writeln!(h, r#"<svg id="growth" width="{W}" height="{height}" viewBox="0 0 {W} {height}">"#);
    let _ = writeln!(h, r#"<text x="4" y="24">{}</text><text x="4" y="{}">0</text>"#, bytes(top as u64), height - 30.0);
    if let Some(&(_, held, stored)) = points.last() {
        let _ = writeln!(
            h,
            r#"<text x="4" y="60">now: stored {}</text><text x="4" y="76">held {}</text><text x="4" y="92" id="stored-over-held">{:.2}× of what is held</text>"#,
            bytes(stored),
            bytes(held),
            stored as f64 / held.max(1) as f64
        );
    }
    let _ = writeln!(
        h,
        r##"<polyline class="held" points="{}" fill="none" stroke="#a0aec0" stroke-width="3"/>"##,
        line(&|p| p.1)
    );
    let _ = writeln!(
        h,
        r##"<polyline class="stored" points="{}" fill="none" stroke="#2b6cb0" stroke-width="3"/>"##,
        line(&|p| p.2)
    );
    axis(h, lo as i64, hi as i64, height - 6.0);
    h.push_str("</svg>\n");
}

fn excluded(h: &mut String, r: &ReportData) {
    h.push_str("<h2>Blocks left out of the latest snapshots</h2>\n");
    if r.excluded.is_empty() {
        h.push_str("<p id=\"excluded\" class=\"ok\">None.</p>\n");
        return;
    }
    h.push_str(
        "<table id=\"excluded\"><tr><th>source</th><th>tenant</th><th>block</th><th>reason</th><th>detail</th></tr>\n",
    );
    for e in &r.excluded {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&e.source),
            esc(&e.tenant),
            esc(&e.ulid),
            if e.reason == "corrupted" { "bad" } else { "" },
            esc(&e.reason),
            esc(&e.detail)
        );
    }
    h.push_str("</table>\n");
}

fn check(h: &mut String, r: &ReportData) {
    h.push_str("<h2>Last data check</h2>\n");
    match &r.last_check {
        None => h.push_str(
            "<p id=\"check\" class=\"bad\">No pack was ever read back: run <code>cellar check --read-data-subset 1/7</code> nightly.</p>\n",
        ),
        Some(c) => {
            let _ = writeln!(
                h,
                "<p id=\"check\" class=\"{}\">{} of {} packs read back and verified, between {} and {} (UTC); {} found damaged.</p>",
                if c.packs_damaged == 0 { "ok" } else { "bad" },
                c.packs_verified,
                c.packs_total,
                day(c.oldest as i64),
                day(c.newest as i64),
                c.packs_damaged
            );
        }
    }
}

/// Time labels along the bottom of a chart.
fn axis(h: &mut String, lo: i64, hi: i64, y: f64) {
    let x = scale(lo as f64, hi as f64);
    let n = 4;
    for i in 0..=n {
        let t = lo + (hi - lo) * i / n;
        let anchor = match i {
            0 => "start",
            i if i == n => "end",
            _ => "middle",
        };
        let _ = writeln!(h, r#"<text x="{:.1}" y="{y}" text-anchor="{anchor}">{}</text>"#, x(t as f64), day(t));
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("…{}", s.chars().rev().take(n - 1).collect::<Vec<_>>().into_iter().rev().collect::<String>())
    }
}
