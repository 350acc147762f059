//! UTC time formatting without a date library: `pay_time` (`YYYY-MM-DD HH:MM:SS`) and the
//! RFC 3339 stamps of the order query (`2025-12-30T23:51:07.381428Z`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Calendar fields of an instant, in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    micros: u32,
}

fn civil(t: SystemTime) -> Civil {
    // Instants before 1970 don't occur here; clamp them to the epoch.
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        micros: since.subsec_micros(),
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the callback `pay_time` format.
pub(crate) fn pay_time(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// RFC 3339 with microseconds and `Z`, the order query's `create_time` / `notify_time`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn known_instants() {
        assert_eq!(pay_time(at(0, 0)), "1970-01-01 00:00:00");
        // The docs' callback example time, read as UTC.
        assert_eq!(pay_time(at(1_754_412_235, 0)), "2025-08-05 16:43:55");
        assert_eq!(
            rfc3339(at(1_767_138_667, 381_428)),
            "2025-12-30T23:51:07.381428Z"
        );
        // Leap day and the turn of a century year divisible by 400.
        assert_eq!(pay_time(at(951_782_400, 0)), "2000-02-29 00:00:00");
        assert_eq!(pay_time(at(4_107_542_399, 0)), "2100-02-28 23:59:59");
    }
}
