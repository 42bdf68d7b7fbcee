//! Time as a value. The core never reads the clock: the shell's [`crate::clock`] does, once,
//! and passes a [`Timestamp`] in.
//!
//! The wire form is RFC 3339 restricted to UTC with whole seconds: `YYYY-MM-DDTHH:MM:SSZ`,
//! exactly 20 bytes. One form means one byte representation in signed documents.

use std::fmt;

/// Seconds since the Unix epoch, UTC. The default is the epoch itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A string that is not `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("time {0:?} is not RFC 3339 UTC with whole seconds (YYYY-MM-DDTHH:MM:SSZ)")]
pub struct TimeError(pub String);

const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Howard Hinnant's algorithm, proleptic Gregorian.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Timestamp {
    /// Parses the strict wire form.
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let err = || TimeError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(err());
            }
            Ok(part.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
        };
        let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
        if !(MIN_YEAR..=MAX_YEAR).contains(&y)
            || !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || se > 59
        {
            return Err(err());
        }
        Ok(Timestamp(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se))
    }

    /// Calendar fields (year, month, day, hour, minute, second), UTC; clamped like [`Self::rfc3339`].
    pub fn civil(&self) -> (i64, i64, i64, i64, i64, i64) {
        let max = days_from_civil(MAX_YEAR, 12, 31) * 86400 + 86399;
        let t = self.0.clamp(0, max);
        let (y, m, d) = civil_from_days(t.div_euclid(86400));
        let s = t.rem_euclid(86400);
        (y, m, d, s / 3600, s / 60 % 60, s % 60)
    }

    /// The strict wire form. Times before 1970 or after 9999 are clamped into range.
    pub fn rfc3339(&self) -> String {
        let (y, m, d, h, mi, s) = self.civil();
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        for (s, t) in [("1970-01-01T00:00:00Z", 0), ("2000-02-29T12:34:56Z", 951827696), ("2026-11-22T18:44:45Z", 1795373085)] {
            assert_eq!(Timestamp::parse(s), Ok(Timestamp(t)), "{s}");
            assert_eq!(Timestamp(t).rfc3339(), s);
        }
    }

    #[test]
    fn refuses_other_forms() {
        for s in [
            "2026-11-22T18:44:45+00:00",
            "2026-11-22T18:44:45.1Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-22t18:44:45Z",
            "1969-12-31T23:59:59Z",
            "2026-11-22T24:00:00Z",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
    }
}
