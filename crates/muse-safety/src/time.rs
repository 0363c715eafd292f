//! RFC 3339 UTC timestamps from [`std::time::SystemTime`], without a date crate.
//!
//! Days since the Unix epoch are converted to a proleptic Gregorian date with the
//! era-based civil-from-days method (Howard Hinnant, "chrono-Compatible Low-Level Date
//! Algorithms"): shift the epoch to 0000-03-01 so the leap day ends each 400-year era.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, millisecond precision). Times before
/// 1970 are clamped to the epoch.
#[must_use]
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// (year, month 1–12, day 1–31) of the day `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (951_868_799, "2000-02-29T23:59:59.000Z"),
            (1_234_567_890, "2009-02-13T23:31:30.000Z"),
            (4_107_542_400, "2100-03-01T00:00:00.000Z"),
            (1_709_164_800, "2024-02-29T00:00:00.000Z"),
            (1_735_689_599, "2024-12-31T23:59:59.000Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs)),
                want,
                "{secs}"
            );
        }
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(rfc3339_utc(t), "1970-01-01T00:00:01.500Z");
    }
}
