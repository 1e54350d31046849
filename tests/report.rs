//! `cellar report --html`: one self-contained file, opened in a real headless Chromium.
//! The DOM must hold what the repository holds (a dot per snapshot, a gap where a block
//! was removed), and the screenshot must show the charts drawn in their colours.

use crate::common::tsdb::*;
use crate::common::*;
use std::fs;
use std::process::Command;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return c;
        }
    }
    panic!("no chromium (.ci/run installs Debian's `chromium`)");
}

fn headless(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap()
}

/// Pixels of about one colour (each channel within 12: antialiasing, colour management)
/// in an RGBA/RGB PNG.
fn count_colour(png_path: &std::path::Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
    buf[..info.buffer_size()]
        .chunks(px)
        .filter(|p| p.len() >= 3 && near(p[0], rgb[0]) && near(p[1], rgb[1]) && near(p[2], rgb[2]))
        .count()
}

#[test]
fn html_report_shows_snapshots_coverage_gaps_growth_and_checks_in_a_real_browser() {
    let env = Env::new();
    // Three 2h blocks per tenant; the middle one of `anonymous` goes missing later.
    let (_keep, bucket) = fresh_bucket(&["20", "6"], &[("EXTRAS", "1")]);
    env.backup(&[bucket.to_str().unwrap(), "--allow-corrupted"]);
    let tenant = bucket.join("anonymous");
    let blocks = complete_blocks(&bucket)["anonymous"].clone();
    let mut metas: Vec<(std::path::PathBuf, Meta)> =
        blocks.iter().map(|u| (tenant.join(u), read_meta(&tenant.join(u)))).collect();
    metas.sort_by_key(|(_, m)| m.min_time);
    assert_eq!(metas.len(), 3, "three 2h blocks");
    let gap = (metas[0].1.max_time, metas[2].1.min_time);
    fs::remove_dir_all(&metas[1].0).unwrap();
    env.backup(&[bucket.to_str().unwrap(), "--allow-corrupted"]);
    env.ok(&["check", "--read-data"]);

    let data: serde_json::Value = serde_json::from_str(&env.ok(&["report", "--json"])).unwrap();
    let anon = data["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tenant"].as_str().unwrap().ends_with("anonymous"))
        .unwrap();
    assert_eq!(anon["gaps"], serde_json::json!([[gap.0, gap.1]]), "{anon}");
    let team = data["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tenant"].as_str().unwrap().ends_with("team-a"))
        .unwrap();
    assert_eq!(team["gaps"], serde_json::json!([]));

    let out = env.path("report.html");
    env.ok(&["report", "--html", out.to_str().unwrap()]);
    let html = fs::read_to_string(&out).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained, no script"
    );

    let url = format!("file://{}", out.display());
    let dom = headless(&["--dump-dom", &url]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("class=\"snap\"").count(), 2, "a dot per snapshot");
    assert_eq!(dom.matches("class=\"gap\"").count(), 1, "one gap, where the block went");
    assert!(dom.matches("class=\"covered\"").count() >= 3, "anonymous before and after the gap, team-a whole");
    assert!(dom.contains("id=\"growth\"") && dom.contains("class=\"stored\""));
    assert!(dom.contains("id=\"excluded\"") && dom.contains("corrupted"), "left-out blocks are listed");
    assert!(dom.contains("id=\"check\" class=\"ok\""), "the read-data check is shown as clean");

    let shot = std::env::var_os("CELLAR_REPORT_PNG").map_or_else(|| env.path("report.png"), std::path::PathBuf::from);
    let s = headless(&[&format!("--screenshot={}", shot.display()), "--window-size=1000,1200", &url]);
    assert!(s.status.success() && shot.exists(), "{}", String::from_utf8_lossy(&s.stderr));
    let green = count_colour(&shot, [0x38, 0xa1, 0x69]);
    let red = count_colour(&shot, [0xe5, 0x3e, 0x3e]);
    let blue = count_colour(&shot, [0x2b, 0x6c, 0xb0]);
    let orange = count_colour(&shot, [0xdd, 0x6b, 0x20]);
    let grey = count_colour(&shot, [0xa0, 0xae, 0xc0]);
    assert!(green > 2_000, "coverage bars drawn: {green} green pixels");
    assert!(red > 30, "the gap drawn: {red} red pixels");
    assert!(orange > 60, "both snapshots left blocks out: dots drawn orange: {orange} pixels");
    assert!(blue > 300 && grey > 300, "the growth lines drawn: {blue} blue, {grey} grey pixels");
}
