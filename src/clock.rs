//! The one place the wall clock and `SOURCE_DATE_EPOCH` are read.

use crate::time::Timestamp;

/// A clock that cannot give a usable time: nothing that depends on the time is decided.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// The system clock reads a time before 1970-01-01T00:00:00Z.
    #[error("the system clock reads {behind_secs} s before 1970-01-01T00:00:00Z; expected a time after the Unix epoch")]
    BeforeEpoch {
        /// How far before the epoch, in whole seconds.
        behind_secs: u64,
    },
    /// The system clock reads a time past what a timestamp holds.
    #[error("the system clock reads {secs} s after the Unix epoch; expected at most {}", i64::MAX)]
    TooFar {
        /// Seconds since the epoch.
        secs: u64,
    },
}

impl crate::report::Diagnostic for ClockError {
    fn id(&self) -> std::borrow::Cow<'static, str> {
        "clock.unusable".into()
    }
    fn hint(&self) -> std::borrow::Cow<'static, str> {
        "set the system clock right, or pass --at-time RFC3339 where the command takes it".into()
    }
}

/// Now, from the system clock; a clock before 1970 (or past what a timestamp holds) is an error,
/// never a silent 1970.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Result<Timestamp, ClockError> {
    since_epoch(std::time::SystemTime::now())
}

/// A monotonic instant: `airlock serve`'s request deadlines and latency counters (never a
/// decision's time, which is [`now`]).
#[allow(clippy::disallowed_methods)]
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

fn since_epoch(t: std::time::SystemTime) -> Result<Timestamp, ClockError> {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).map(Timestamp).map_err(|_| ClockError::TooFar { secs: d.as_secs() }),
        Err(e) => Err(ClockError::BeforeEpoch { behind_secs: e.duration().as_secs() }),
    }
}

/// [`now`] for the shell's `anyhow` edge (the typed error names itself in the error document).
pub fn now_or_refuse() -> anyhow::Result<Timestamp> {
    Ok(now()?)
}

/// Creation time for reproducible output: `SOURCE_DATE_EPOCH` when set (reproducible-builds.org
/// spec: decimal seconds since the epoch), else now.
pub fn creation_time() -> anyhow::Result<Timestamp> {
    match source_date_epoch()? {
        Some(t) => Ok(t),
        None => now_or_refuse(),
    }
}

/// [`creation_time`] for a command that already read the clock: `SOURCE_DATE_EPOCH` when set,
/// else that reading (so the command reads the clock once).
pub fn creation_time_at(now: Timestamp) -> anyhow::Result<Timestamp> {
    Ok(source_date_epoch()?.unwrap_or(now))
}

fn source_date_epoch() -> anyhow::Result<Option<Timestamp>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: i64 = s.trim().parse().map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={s:?} is not a decimal number of seconds"))?;
            anyhow::ensure!((0..=253_402_300_799).contains(&secs), "SOURCE_DATE_EPOCH={secs} is outside 1970..9999");
            Ok(Some(Timestamp(secs)))
        }
        Err(std::env::VarError::NotUnicode(s)) => anyhow::bail!("SOURCE_DATE_EPOCH={s:?} is not a decimal number of seconds"),
        Err(std::env::VarError::NotPresent) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_clock_before_1970_is_an_error_not_the_epoch() {
        let e = since_epoch(UNIX_EPOCH - Duration::from_secs(90)).unwrap_err();
        assert!(matches!(e, ClockError::BeforeEpoch { behind_secs: 90 }), "{e:?}");
        assert!(e.to_string().contains("before 1970"), "{e}");
        assert_eq!(since_epoch(UNIX_EPOCH).unwrap(), Timestamp(0));
        assert_eq!(since_epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap(), Timestamp(1_700_000_000));
    }
}
