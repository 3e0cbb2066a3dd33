//! Unix times as the text people read on Tessera's pages (`YYYY-MM-DD HH:MM[:SS] UTC`),
//! and back: the one formatter the account page and the console share. The calendar is
//! the proleptic Gregorian one of ISO 8601, in UTC (no time zones, no leap seconds: unix
//! time has none).

/// The civil date and time of `unix`: (year, month, day, hour, minute, second).
fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, seconds / 3600, (seconds % 3600) / 60, seconds % 60)
}

/// `unix` as `YYYY-MM-DD HH:MM UTC` (to the minute: what a user needs to know a session).
pub fn to_minute(unix: i64) -> String {
    let (year, month, day, hour, minute, _) = civil(unix);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// `unix` as `YYYY-MM-DD HH:MM:SS UTC` (to the second: what an administrator reads).
pub fn to_second(unix: i64) -> String {
    let (year, month, day, hour, minute, second) = civil(unix);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]` (a `T` may separate them; a trailing
/// ` UTC` or `Z` is allowed), read as UTC, into unix seconds; `None` if it is not one.
pub fn parse(raw: &str) -> Option<i64> {
    let raw = raw.trim().trim_end_matches(" UTC").trim_end_matches('Z');
    let (date, clock) = raw.split_once([' ', 'T']).unwrap_or((raw, "00:00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let hour = t.next().flatten()?;
    let minute = t.next().flatten().unwrap_or(0);
    let second = t.next().flatten().unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days-from-civil (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc_to_the_minute_or_the_second() {
        assert_eq!(to_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(to_minute(1_796_601_599), "2026-12-06 23:59 UTC");
        assert_eq!(to_second(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(to_second(1_764_028_800), "2025-11-25 00:00:00 UTC");
        assert_eq!(to_second(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(to_second(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn shown_times_parse_back() {
        for t in [0, 951_782_400, 1_764_028_800, 1_764_031_234, 4_102_444_799] {
            assert_eq!(parse(&to_second(t)), Some(t));
            assert_eq!(parse(&to_minute(t)), Some(t - t % 60));
        }
        assert_eq!(parse("2025-11-25"), Some(1_764_028_800));
        assert_eq!(parse("2025-11-25T01:02"), Some(1_764_028_800 + 3720));
        assert_eq!(parse("2025-13-01"), None);
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse(""), None);
    }
}
