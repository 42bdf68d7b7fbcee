//! The one place the wall clock and `SOURCE_DATE_EPOCH` are read.

use crate::time::Timestamp;

/// Now, from the system clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    Timestamp(d)
}

/// Creation time for reproducible output: `SOURCE_DATE_EPOCH` when set (reproducible-builds.org
/// spec: decimal seconds since the epoch), else now.
pub fn creation_time() -> anyhow::Result<Timestamp> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: i64 = s.trim().parse().map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={s:?} is not a decimal number of seconds"))?;
            anyhow::ensure!((0..=253_402_300_799).contains(&secs), "SOURCE_DATE_EPOCH={secs} is outside 1970..9999");
            Ok(Timestamp(secs))
        }
        Err(_) => Ok(now()),
    }
}
