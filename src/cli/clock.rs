//! Times as an operator reads and types them. Human output shows UTC with the zone named,
//! unless `TZ` is set: then it shows that zone's local time, named, and times typed without
//! an offset (`--from 2026-12-01`) are read in the same zone, so what is shown can be pasted
//! back. JSON output and everything stored stay RFC 3339 UTC.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::sync::OnceLock;

/// The zone of human output: UTC, or the one `TZ` names.
fn zone() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| match std::env::var("TZ") {
        Ok(v) if !v.trim().is_empty() => TimeZone::try_system().unwrap_or_else(|e| {
            eprintln!("cellar: warning: TZ={v:?} is not a time zone this system knows ({e}); showing UTC");
            TimeZone::UTC
        }),
        _ => TimeZone::UTC,
    })
}

/// The zone's name for column headings: `UTC`, `Europe/Berlin`, or `local` for a `TZ`
/// rule without an IANA name.
pub fn zone_name() -> &'static str {
    let z = zone();
    if *z == TimeZone::UTC {
        "UTC"
    } else {
        z.iana_name().unwrap_or("local")
    }
}

const CIVIL: &str = "%Y-%m-%d %H:%M:%S";
const CIVIL_NAMED: &str = "%Y-%m-%d %H:%M:%S %Z";

fn in_zone(t: Timestamp, pattern: &str) -> String {
    t.to_zoned(zone().clone()).strftime(pattern).to_string()
}

/// A stored time (RFC 3339) as `YYYY-MM-DD HH:MM:SS` in the display zone, for a column
/// whose heading names the zone. Unreadable input is shown as stored.
pub fn show(rfc3339: &str) -> String {
    rfc3339.parse::<Timestamp>().map_or_else(|_| rfc3339.to_string(), |t| in_zone(t, CIVIL))
}

/// Like [`show`], with the zone's abbreviation (`UTC`, `CET`, `CEST`), for text that has
/// no heading.
pub fn show_named(rfc3339: &str) -> String {
    rfc3339.parse::<Timestamp>().map_or_else(|_| rfc3339.to_string(), |t| in_zone(t, CIVIL_NAMED))
}

/// Milliseconds since the epoch (TSDB block bounds, file times) like [`show`].
pub fn show_ms(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| in_zone(t, CIVIL))
}

/// A time typed on the command line, in milliseconds since the epoch: epoch milliseconds,
/// RFC 3339 with an offset, or `YYYY-MM-DD[ HH:MM[:SS]]` in the display zone. Anything
/// else is a usage error.
pub fn parse_ms(s: &str) -> anyhow::Result<i64> {
    parse_in(s, zone()).ok_or_else(|| {
        super::UsageError(format!(
            "cannot read time {s:?}: use RFC 3339 (2026-12-01T02:30:00Z), YYYY-MM-DD, 'YYYY-MM-DD HH:MM' ({}) or epoch milliseconds",
            zone_name()
        ))
        .into()
    })
}

fn parse_in(s: &str, zone: &TimeZone) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t.as_millisecond());
    }
    let dt = s.trim().replacen(' ', "T", 1).parse::<DateTime>().ok()?;
    Some(dt.to_zoned(zone.clone()).ok()?.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_without_an_offset_are_read_in_the_display_zone() {
        let utc = TimeZone::UTC;
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        let day = 1_764_547_200_000; // 2025-12-01T00:00:00Z
        assert_eq!(parse_in("2025-12-01", &utc), Some(day));
        assert_eq!(parse_in("2025-12-01 05:30", &kolkata), Some(day));
        assert_eq!(parse_in("2025-12-01T05:30:00", &kolkata), Some(day));
        assert_eq!(parse_in("2025-12-01T00:00:00Z", &kolkata), Some(day), "an offset wins over the zone");
        assert_eq!(parse_in(&day.to_string(), &kolkata), Some(day));
        assert_eq!(parse_in("yesterday", &utc), None);
    }
}
