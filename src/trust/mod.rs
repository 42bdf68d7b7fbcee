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
