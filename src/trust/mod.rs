//! Trust roots (sans-I/O): the airlock trust-root document and its rotation rules ([`root`]),
//! trust-root and TUF keys ([`key`]), the anti-rollback state machine ([`state`]), and a TUF
//! client over a repository reader ([`tuf`]). Signatures everywhere are counted by the one
//! function [`crate::dsse::count_valid_signatures`].

pub mod cjson;
pub mod key;
pub mod root;
pub mod state;
pub mod tuf;

use crate::verify::TrustPolicy;
use key::TrustKey;
use root::TrustRoot;

/// Bundle-signing trust from a root's `release` role: its Ed25519 keys and its threshold.
/// Bundle signatures are Ed25519 (DSSE over the manifest); release keys of another type are
/// returned by id so the report can say they could not count.
pub fn release_policy(root: &TrustRoot, source: String) -> Option<(TrustPolicy, Vec<String>)> {
    let role = root.role("release")?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for k in role.keys {
        match k.key {
            TrustKey::Ed25519(pk) => keys.push(pk),
            TrustKey::P256(_) => skipped.push(k.keyid),
        }
    }
    Some((TrustPolicy { keys, threshold: role.threshold as usize, source }, skipped))
}

/// Bundle-signing trust for a bundle that may predate rotations (CURRENT in `upgrade-validate`):
/// the Ed25519 `release` keys of every version of `history` (oldest first, the last in force)
/// except keys the root in force revoked, at the smallest threshold among the versions. This is
/// only a pre-filter: [`release_history_check`] then requires the signers to meet one version's
/// role at that version's threshold, so keys of different versions never add up.
pub fn release_policy_any_version(history: &[TrustRoot], source: String) -> Option<(TrustPolicy, Vec<String>)> {
    let in_force = history.last()?;
    let mut keys: Vec<crate::keys::PublicKey> = Vec::new();
    let mut skipped = Vec::new();
    let mut threshold = usize::MAX;
    for root in history {
        let role = root.role("release")?;
        threshold = threshold.min(role.threshold as usize);
        for k in role.keys {
            if in_force.is_revoked(&k.keyid) {
                continue;
            }
            match k.key {
                TrustKey::Ed25519(pk) if !keys.iter().any(|x| x.keyid() == pk.keyid()) => keys.push(pk),
                TrustKey::Ed25519(_) => {}
                TrustKey::P256(_) if !skipped.contains(&k.keyid) => skipped.push(k.keyid),
                TrustKey::P256(_) => {}
            }
        }
    }
    Some((TrustPolicy { keys, threshold, source }, skipped))
}

/// Whether `signers` (the keys that counted at verification) meet the `release` role of at least
/// one version of `history` at its own threshold, keys revoked by the root in force (the last)
/// not counting. Check `trust.release-history`.
pub fn release_history_check(history: &[TrustRoot], signers: &[crate::keys::KeyId]) -> crate::report::Check {
    let revoked = |id: &str| history.last().is_some_and(|r| r.is_revoked(id));
    let mut met = Vec::new();
    let mut best = (0usize, 0u64);
    for root in history {
        let Some(role) = root.role("release") else { continue };
        let n = role.keys.iter().filter(|k| !revoked(&k.keyid) && signers.contains(&k.key.keyid())).count();
        if n as u64 >= role.threshold {
            met.push(root.version());
        }
        best = best.max((n, role.threshold));
    }
    let span = match (history.first(), history.last()) {
        (Some(f), Some(l)) => format!("v{}..v{}", f.version(), l.version()),
        _ => "(none)".into(),
    };
    let versions = |v: &[u64]| v.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ");
    if met.is_empty() {
        crate::report::Check::new(
            "trust.release-history",
            false,
            format!("not signed at threshold by the release role of any verified trust-root version {span}"),
        )
        .values("the release role of one version at its threshold", format!("at most {} of {} required", best.0, best.1))
    } else {
        crate::report::Check::new(
            "trust.release-history",
            true,
            format!("signed at threshold by the release role of trust-root version(s) {} (verified history {span})", versions(&met)),
        )
    }
}

/// Report lines for bundle signatures made by keys the root knows but that cannot count toward
/// the `release` threshold: revoked keys, and keys of other roles. Information only: such a
/// signature never counts, and the threshold check decides.
pub fn foreign_signature_checks(root: &TrustRoot, envelope: &crate::dsse::Envelope) -> Vec<crate::report::Check> {
    use crate::dsse::SignatureFate;
    let release: Vec<String> = root.signed.roles.get("release").map(|r| r.keyids.clone()).unwrap_or_default();
    let others: Vec<key::ListedKey> = root
        .keys
        .iter()
        .filter(|(id, _)| !release.contains(id))
        .map(|(id, k)| key::ListedKey { keyid: id.clone(), key: k.clone() })
        .collect();
    let msg = crate::dsse::pae(&envelope.payload_type, &envelope.payload);
    let tally = crate::dsse::count_valid_signatures(&others, &envelope.signatures, &msg);
    let mut out = Vec::new();
    for (_, fate) in &tally.signatures {
        let SignatureFate::Counted(id) = fate else { continue };
        let id = id.hex();
        let detail = if root.is_revoked(&id) {
            format!("valid signature by a key REVOKED in trust root v{}; it does not count", root.version())
        } else {
            let roles: Vec<&str> = root.signed.roles.iter().filter(|(_, r)| r.keyids.contains(&id)).map(|(n, _)| n.as_str()).collect();
            format!("valid signature by a key of role(s) {} but not of release; it does not count", roles.join(", "))
        };
        out.push(crate::report::Check::new("signature.not-release", true, detail).subject(id).info());
    }
    out
}

/// Why a trust root's `tlog` role cannot be used as log trust.
#[derive(Debug, thiserror::Error)]
pub enum TlogRoleError {
    /// `policy.tlogPolicy` is not a string.
    #[error("the trust root's tlog role policy.tlogPolicy is not a string; set it with `airlock trust new --tlog-policy FILE`")]
    NotText,
    /// `policy.tlogPolicy` is not a C2SP tlog-policy.
    #[error("the trust root's tlog role policy.tlogPolicy is not a C2SP tlog-policy: {0}")]
    Policy(#[from] crate::tlog::TlogError),
    /// A `log` line trusts a key the role does not list.
    #[error(
        "the trust root's tlog role policy trusts log key {log}, which is not a key of the tlog role (role key ids: {role}); the role's keys are the logs the root's signers vouch for: list it (`--role tlog:1:log.pub`) or drop the log line"
    )]
    UnlistedLogKey {
        /// The log key (`name+id`).
        log: String,
        /// The role's key ids.
        role: String,
    },
}

/// The trust root's `tlog` role as log trust: its `policy.tlogPolicy`, a C2SP tlog-policy
/// (format-spec/transparency-v1.md §1), whose every `log` key must be one of the role's keys
/// (same Ed25519 key, or same P-256 key for ECDSA logs): the role's key list is what the root's
/// signers vouch for, the policy adds witnesses and the quorum. `None` when the root has no
/// tlog role or the role carries no tlogPolicy.
pub fn root_log_trust(root: &TrustRoot) -> Result<Option<crate::tlog::LogTrust>, TlogRoleError> {
    use crate::tlog::note::{TYPE_ECDSA, TYPE_ED25519};
    let Some(text) = root.signed.roles.get("tlog").and_then(|r| r.policy.as_ref()).and_then(|p| p.get("tlogPolicy")) else {
        return Ok(None);
    };
    let text = text.as_str().ok_or(TlogRoleError::NotText)?;
    let policy = crate::tlog::policy::Policy::parse(text.as_bytes())?;
    let role = root.role("tlog").expect("the role holds the policy");
    for log in &policy.logs {
        let listed = role.keys.iter().any(|k| match (&k.key, log.sig_type) {
            (TrustKey::Ed25519(pk), TYPE_ED25519) => pk.to_bytes().as_slice() == log.material.as_slice(),
            (TrustKey::P256(pk), TYPE_ECDSA) => pk.spki_der() == log.material,
            _ => false,
        });
        if !listed {
            return Err(TlogRoleError::UnlistedLogKey {
                log: format!("{}+{:08x}", log.name, log.key_id),
                role: role.keys.iter().map(|k| k.keyid.clone()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(Some(crate::tlog::LogTrust::from_policy(policy, format!("trust root v{} tlog role", root.version()))))
}
