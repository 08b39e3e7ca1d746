//! Proleptic Gregorian calendar arithmetic for the demo data and PostgreSQL dates.
//!
//! `chrono`/`time` would bring a whole date library for three conversions, and their
//! sqlx decoders reject PostgreSQL's `infinity`; these functions follow Howard Hinnant's
//! `civil_from_days` / `days_from_civil` algorithms.

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub(crate) const PG_EPOCH_DAYS: i64 = 10_957;

/// `(year, month, day)` for a count of days since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // `m` is 1..=12 and `d` is 1..=31 by construction.
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 for a calendar date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (years outside 0..=9999 get a sign and more digits, as in ISO 8601).
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:+05}-{m:02}-{d:02}")
    }
}

/// `HH:MM:SS` plus `.ffffff` with trailing zeros removed when there are microseconds.
pub(crate) fn format_time(micros_of_day: i64) -> String {
    let secs = micros_of_day.div_euclid(1_000_000);
    let frac = micros_of_day.rem_euclid(1_000_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        let digits = format!("{frac:06}");
        format!("{h:02}:{m:02}:{s:02}.{}", digits.trim_end_matches('0'))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` for microseconds since 1970-01-01T00:00:00.
pub(crate) fn format_timestamp(micros: i64) -> String {
    const DAY: i64 = 86_400_000_000;
    let days = micros.div_euclid(DAY);
    let rest = micros.rem_euclid(DAY);
    format!("{}T{}", format_date(days), format_time(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(PG_EPOCH_DAYS), (2000, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_date(19_782), "2024-02-29");
        assert_eq!(format_date(days_from_civil(-44, 3, 15)), "-0044-03-15");
        assert_eq!(format_time(3_723_000_000), "01:02:03");
        assert_eq!(format_time(3_723_500_000), "01:02:03.5");
        assert_eq!(
            format_timestamp(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999");
    }
}
