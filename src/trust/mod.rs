//! Trust roots (sans-I/O): the airlock trust-root document and its rotation rules ([`root`]),
//! trust-root and TUF keys ([`key`]), the anti-rollback state machine ([`state`]), and a TUF
//! client over a repository reader ([`tuf`]). Signatures everywhere are counted by the one
//! function [`crate::dsse::count_valid_signatures`].

pub mod cjson;
pub mod key;
pub mod role;
pub mod root;
pub mod state;
pub mod tuf;

use crate::verify::TrustPolicy;
use key::TrustKey;
use role::{RoleKeys, RoleName};
use root::{TrustRoot, VerifiedRoot};

/// Bundle-signing trust from a verified root's `release` role: its keys (Ed25519 or P-256) and
/// its threshold.
pub fn release_policy(root: &VerifiedRoot, source: String) -> Option<TrustPolicy> {
    Some(TrustPolicy::new(root.role(&RoleName::RELEASE)?.clone(), source))
}

/// Bundle-signing trust for a bundle that may predate rotations (CURRENT in `upgrade-validate`):
/// the `release` keys of every version of `history` (oldest first, the last in force) except
/// keys the root in force revoked, at the smallest threshold among the versions. This is only a
/// pre-filter: [`release_history_check`] then requires the signers to meet one version's role at
/// that version's threshold, so keys of different versions never add up.
pub fn release_policy_any_version(history: &[TrustRoot], source: String) -> Option<TrustPolicy> {
    let in_force = history.last()?;
    let mut keys = RoleKeys::default();
    let mut threshold = usize::MAX;
    for root in history {
        let role = root.role(&RoleName::RELEASE)?;
        threshold = threshold.min(role.threshold());
        keys.extend(role.keys().iter().filter(|k| !in_force.is_revoked(&k.keyid)).cloned());
    }
    Some(TrustPolicy::new(keys.at_threshold(threshold), source))
}

/// Whether `signers` (the keys that counted at verification) meet the `release` role of at least
/// one version of `history` at its own threshold, keys revoked by the root in force (the last)
/// not counting. Check `trust.release-history`.
pub fn release_history_check(history: &[TrustRoot], signers: &[crate::keys::KeyId]) -> crate::report::Check {
    let revoked = |id: &str| history.last().is_some_and(|r| r.is_revoked(id));
    let mut met = Vec::new();
    let mut best = (0usize, 0usize);
    for root in history {
        let Some(role) = root.role(&RoleName::RELEASE) else { continue };
        let n = role.keys().iter().filter(|k| !revoked(&k.keyid) && signers.contains(&k.key.keyid())).count();
        if n >= role.threshold() {
            met.push(root.version());
        }
        best = best.max((n, role.threshold()));
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
pub fn foreign_signature_checks(root: &VerifiedRoot, envelope: &crate::dsse::Envelope) -> Vec<crate::report::Check> {
    use crate::dsse::SignatureFate;
    let release = root.role(&RoleName::RELEASE).cloned().unwrap_or_default();
    let others: Vec<key::ListedKey> = root
        .keys()
        .iter()
        .filter(|(_, k)| !release.contains(&k.keyid()))
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
            let roles: Vec<&str> = root.roles_of_key(&id).into_iter().map(RoleName::as_str).collect();
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
pub fn root_log_trust(root: &VerifiedRoot) -> Result<Option<crate::tlog::LogTrust>, TlogRoleError> {
    tlog_role_trust(root)
}

/// Checks a draft root's tlog role policy as [`root_log_trust`] will read it once signed
/// (`trust new`), without trusting the unsigned draft for anything.
pub fn check_tlog_role(draft: &TrustRoot) -> Result<(), TlogRoleError> {
    tlog_role_trust(draft).map(|_| ())
}

fn tlog_role_trust(root: &TrustRoot) -> Result<Option<crate::tlog::LogTrust>, TlogRoleError> {
    use crate::tlog::note::{TYPE_ECDSA, TYPE_ED25519};
    let Some(role) = root.role(&RoleName::TLOG) else { return Ok(None) };
    let Some(text) = root.role_policy(&RoleName::TLOG).and_then(|p| p.get("tlogPolicy")) else {
        return Ok(None);
    };
    let text = text.as_str().ok_or(TlogRoleError::NotText)?;
    let policy = crate::tlog::policy::Policy::parse(text.as_bytes())?;
    for log in &policy.logs {
        let listed = role.keys().iter().any(|k| match (&k.key, log.sig_type) {
            (TrustKey::Ed25519(pk), TYPE_ED25519) => pk.to_bytes().as_slice() == log.material.as_slice(),
            (TrustKey::P256(pk), TYPE_ECDSA) => pk.spki_der() == log.material,
            _ => false,
        });
        if !listed {
            return Err(TlogRoleError::UnlistedLogKey {
                log: format!("{}+{:08x}", log.name, log.key_id),
                role: role.keys().iter().map(|k| k.keyid.clone()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(Some(crate::tlog::LogTrust::from_policy(policy, format!("trust root v{} tlog role", root.version()))))
}
