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
