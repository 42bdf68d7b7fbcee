//! Persistent local state under `$AIRLOCK_HOME` (shell side: the only module besides `fsio`
//! that writes files). Every write is atomic and durable (see [`crate::fsio::AtomicFile`]).

pub mod backend;
pub mod ledger;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod tlog;
pub mod trust;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The state directory: `$AIRLOCK_HOME`, else `$XDG_DATA_HOME/airlock`, else
/// `~/.local/share/airlock`. Not created here.
pub fn home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("AIRLOCK_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("airlock"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/airlock")),
        None => bail!("no state directory: set AIRLOCK_HOME (or XDG_DATA_HOME or HOME)"),
    }
}

/// [`home`], created (mode 0700) if absent.
pub fn ensure_home() -> Result<PathBuf> {
    let h = home()?;
    if !h.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&h).with_context(|| format!("cannot create {}", h.display()))?;
    }
    Ok(h)
}
