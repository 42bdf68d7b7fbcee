//! `airlock verify BUNDLE --minisign-key K.pub`: the detached `BUNDLE.minisig` (minisign) or, when
//! there is none, `BUNDLE.sig` (signify) next to the bundle, verified over the whole bundle file
//! and reported as one more check of the verify report. `--member-minisign-key K.pub`
//! (repeatable): the signatures packed inside the bundle beside their members
//! ([`minisign::member_checks`]), each checked with the key it names.

use crate::archive::ArchiveError;
use crate::evidence::minisign;
use crate::fsio;
use crate::report::Check;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Largest signature file read.
const MAX_SIG_FILE: u64 = 64 << 10;

/// Where the detached signature of `bundle` lives: `BUNDLE.minisig`, or signify's `BUNDLE.sig`
/// when only that exists (when neither does: `BUNDLE.minisig`, named in the failed check).
pub fn signature_path(bundle: &Path) -> PathBuf {
    let with = |suffix: &str| {
        let mut s = bundle.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let (minisig, sig) = (with(".minisig"), with(".sig"));
    if !fsio::present(&minisig).unwrap_or(true) && fsio::present(&sig).unwrap_or(false) { sig } else { minisig }
}

/// Checks `BUNDLE.minisig` with the key in `key_path`. `Err` means the key file is unusable
/// (exit 2); a missing, malformed or wrong signature is a failed check (exit 1).
pub fn check(bundle: &Path, key_path: &Path) -> Result<Check> {
    let key_bytes = fsio::read_small(key_path, MAX_SIG_FILE)?;
    let key =
        minisign::MinisignPublicKey::parse(&key_bytes).with_context(|| format!("{} is not a minisign public key", key_path.display()))?;
    let sig_path = signature_path(bundle);
    let fail = |detail: String| Check::new("minisign.signature", false, detail).subject(sig_path.display().to_string());
    let sig_bytes = match fsio::read_input(&sig_path, MAX_SIG_FILE, fsio::Links::Follow) {
        Ok(b) => b,
        // A pipe, device or directory where the signature should be cannot be checked (exit 2).
        Err(e @ fsio::InputError::NotRegular { .. }) => return Err(e.into()),
        Err(e) => return Ok(fail(format!("cannot read the detached signature: {e}"))),
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
/// file is unusable or the bundle unreadable (exit 2); `Ok(Err)` an archive the strict walker
/// refuses (exit 2 with verification's error document), never an empty list of checks.
pub fn member_checks(bundle: &Path, key_paths: &[PathBuf]) -> Result<Result<Vec<Check>, ArchiveError>> {
    let keys = key_paths
        .iter()
        .map(|p| {
            let bytes = fsio::read_small(p, MAX_SIG_FILE)?;
            minisign::MinisignPublicKey::parse(&bytes).with_context(|| format!("{} is not a minisign public key", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(super::unverified::UnverifiedBundle::open(bundle)?.map(|b| minisign::member_checks(&b.src, &b.index, &keys)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn a_refused_archive_is_a_refusal_not_an_empty_list_of_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let sk = crate::keys::SecretKey::from_seed(&[3; 32]);
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&[1; 8]);
        raw.extend_from_slice(&sk.public().to_bytes());
        let key = tmp.path().join("k.pub");
        std::fs::write(&key, format!("untrusted comment: test key\n{}\n", base64::engine::general_purpose::STANDARD.encode(raw))).unwrap();
        // An end-of-central-directory record with nothing before it: refused by the walker.
        let bundle = tmp.path().join("b.zip");
        let mut eocd = b"PK\x05\x06".to_vec();
        eocd.resize(22, 0);
        std::fs::write(&bundle, &eocd).unwrap();
        let refused = member_checks(&bundle, &[key]).unwrap().unwrap_err();
        assert_eq!(refused.rule(), Some(crate::archive::Rule::ZipPrependedBytes), "{refused}");
    }
}
