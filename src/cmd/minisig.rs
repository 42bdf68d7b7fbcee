//! `airlock verify BUNDLE --minisign-key K.pub`: the detached `BUNDLE.minisig` (minisign, or a
//! signify `.sig` renamed) next to the bundle, verified over the whole bundle file and reported
//! as one more check of the verify report. `--member-minisign-key K.pub`: the signatures packed
//! inside the bundle beside their members ([`minisign::member_checks`]).

use crate::evidence::minisign;
use crate::fsio;
use crate::report::Check;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Largest signature file read.
const MAX_SIG_FILE: u64 = 64 << 10;

/// Where the detached signature of `bundle` lives: `BUNDLE.minisig`.
pub fn signature_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Checks `BUNDLE.minisig` with the key in `key_path`. `Err` means the key file is unusable
/// (exit 2); a missing, malformed or wrong signature is a failed check (exit 1).
pub fn check(bundle: &Path, key_path: &Path) -> Result<Check> {
    let key_bytes = fsio::read_small(key_path, MAX_SIG_FILE)?;
    let key =
        minisign::MinisignPublicKey::parse(&key_bytes).with_context(|| format!("{} is not a minisign public key", key_path.display()))?;
    let sig_path = signature_path(bundle);
    let fail = |detail: String| Check::new("minisign.signature", false, detail).subject(sig_path.display().to_string());
    let sig_bytes = match fsio::read_small(&sig_path, MAX_SIG_FILE) {
        Ok(b) => b,
        Err(e) => return Ok(fail(format!("cannot read the detached signature: {e:#}"))),
    };
    let sig = match minisign::MinisignSignature::parse(&sig_bytes) {
        Ok(s) => s,
        Err(e) => return Ok(fail(e.to_string())),
    };
    let src = fsio::FileSource::open(bundle)?;
    let subject = sig_path.display().to_string();
    Ok(sig.outcome_check("minisign.signature", &subject, &key, "the bundle file", sig.verify_source(&key, &src)))
}

/// The `minisign.member` checks of the signatures packed inside `bundle`. `Err` means the key
/// file is unusable or the bundle unreadable (exit 2). An archive the strict walker refuses
/// yields no checks here: verification itself refuses it.
pub fn member_checks(bundle: &Path, key_path: &Path) -> Result<Vec<Check>> {
    let key_bytes = fsio::read_small(key_path, MAX_SIG_FILE)?;
    let key =
        minisign::MinisignPublicKey::parse(&key_bytes).with_context(|| format!("{} is not a minisign public key", key_path.display()))?;
    let src = fsio::FileSource::open(bundle)?;
    Ok(match crate::archive::walk(&src, &crate::archive::Limits::default()) {
        Ok(index) => minisign::member_checks(&src, &index, &key),
        Err(_) => Vec::new(),
    })
}
