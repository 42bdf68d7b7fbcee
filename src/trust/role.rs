//! Roles as types: a validated role name ([`RoleName`], with the roles airlock defines as
//! constants) and a role's keys with its threshold ([`RoleKeys`]), over the key type that covers
//! Ed25519 and ECDSA P-256 ([`TrustKey`]). Every consumer of a role — the bundle's release
//! signers, the gate's evidence signers, break-glass approvers, rollout operators — takes a
//! [`RoleKeys`], so a P-256 key (an HSM's, a Sigstore-backed signer's) counts wherever an
//! Ed25519 key does.

use super::key::{ListedKey, TrustKey};
use crate::keys::{KeyId, PublicKey};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::{Borrow, Cow};
use std::fmt;

/// A role name: `[a-z][a-z0-9-]{0,31}`, as the trust-root format requires.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleName(Cow<'static, str>);

/// A role name that breaks `[a-z][a-z0-9-]{0,31}`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("role name {0:?} is not [a-z][a-z0-9-]{{0,31}}; use a lowercase name such as \"release\" or \"layout-owner\"")]
pub struct RoleNameError(pub String);

impl RoleName {
    /// Signs trust roots and their rotations.
    pub const ROOT: RoleName = RoleName(Cow::Borrowed("root"));
    /// Signs bundle manifests.
    pub const RELEASE: RoleName = RoleName(Cow::Borrowed("release"));
    /// The transparency logs the root vouches for (with `policy.tlogPolicy`).
    pub const TLOG: RoleName = RoleName(Cow::Borrowed("tlog"));
    /// Signs break-glass approvals.
    pub const APPROVER: RoleName = RoleName(Cow::Borrowed("approver"));
    /// Signs rollout records and promotion requests.
    pub const OPERATOR: RoleName = RoleName(Cow::Borrowed("operator"));
    /// Roles with a meaning defined today; others are allowed and carried for later consumers.
    pub const KNOWN: [RoleName; 5] = [Self::ROOT, Self::RELEASE, Self::TLOG, Self::APPROVER, Self::OPERATOR];
    /// Roles every trust root must define.
    pub const REQUIRED: [RoleName; 2] = [Self::ROOT, Self::RELEASE];

    /// Checks a role name.
    pub fn parse(s: &str) -> Result<Self, RoleNameError> {
        let b = s.as_bytes();
        let ok = (1..=32).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
        if ok { Ok(RoleName(Cow::Owned(s.to_string()))) } else { Err(RoleNameError(s.to_string())) }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the roles in [`Self::KNOWN`].
    pub fn is_known(&self) -> bool {
        Self::KNOWN.contains(self)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for RoleName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RoleName {
    type Err = RoleNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a set of role keys can never verify anything.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoleKeysError {
    /// No keys at all.
    #[error("no trusted keys")]
    NoKeys,
    /// The threshold is 0 or more than the distinct keys.
    #[error("threshold {threshold} cannot be met by {keys} trusted keys")]
    Threshold {
        /// The threshold.
        threshold: usize,
        /// Distinct keys.
        keys: usize,
    },
}

/// A role's keys (Ed25519 or P-256, each under the key id it is listed with) and how many
/// distinct ones must sign. The keys a signature is counted against; see
/// [`crate::signed`] for the one way a signed document is checked against them.
#[derive(Clone, Debug, Default)]
pub struct RoleKeys {
    keys: Vec<ListedKey>,
    threshold: usize,
}

impl RoleKeys {
    /// Keys and a threshold. Not checked: see [`Self::check_usable`]; a threshold that cannot
    /// be met simply never is.
    pub fn new(keys: Vec<ListedKey>, threshold: usize) -> Self {
        RoleKeys { keys, threshold }
    }

    /// Ed25519 keys (ad-hoc `--key` trust), each under its own key id.
    pub fn ed25519(keys: impl IntoIterator<Item = PublicKey>, threshold: usize) -> Self {
        let keys = keys.into_iter().map(|k| ListedKey { keyid: k.keyid().hex(), key: TrustKey::Ed25519(k) }).collect();
        RoleKeys { keys, threshold }
    }

    /// The same keys at another threshold (a policy's, rather than the root's).
    pub fn at_threshold(&self, threshold: usize) -> Self {
        RoleKeys { keys: self.keys.clone(), threshold }
    }

    /// Adds keys (ad-hoc role keys given one by one); a key already present is not repeated.
    pub fn extend(&mut self, keys: impl IntoIterator<Item = ListedKey>) {
        for k in keys {
            if !self.contains(&k.key.keyid()) {
                self.keys.push(k);
            }
        }
    }

    /// The keys.
    pub fn keys(&self) -> &[ListedKey] {
        &self.keys
    }

    /// Distinct keys required.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Key ids of the key material (what signature fates name), in listed order.
    pub fn keyids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.key.keyid()).collect()
    }

    /// True when `id` is the key id of one of the keys.
    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.iter().any(|k| k.key.keyid() == *id)
    }

    /// The key with key id `id`.
    pub fn get(&self, id: &KeyId) -> Option<&TrustKey> {
        self.keys.iter().map(|k| &k.key).find(|k| k.keyid() == *id)
    }

    /// Fails when no signature could ever meet the threshold (no keys, threshold 0 or above
    /// the number of distinct keys).
    pub fn check_usable(&self) -> Result<(), RoleKeysError> {
        if self.keys.is_empty() {
            return Err(RoleKeysError::NoKeys);
        }
        let mut ids = self.keyids();
        ids.sort();
        ids.dedup();
        if self.threshold == 0 || self.threshold > ids.len() {
            return Err(RoleKeysError::Threshold { threshold: self.threshold, keys: ids.len() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn role_names_follow_the_root_format() {
        for ok in ["root", "release", "layout-owner", "a", "x9-", &"a".repeat(32)] {
            assert_eq!(RoleName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "Release", "9lives", "-x", "has space", "under_score", "é", &"a".repeat(33)] {
            assert_eq!(RoleName::parse(bad), Err(RoleNameError(bad.to_string())), "{bad:?}");
        }
        assert!(serde_json::from_str::<RoleName>("\"Root\"").is_err());
        assert_eq!(serde_json::from_str::<RoleName>("\"operator\"").unwrap(), RoleName::OPERATOR);
        assert!(RoleName::OPERATOR.is_known() && !RoleName::parse("builder").unwrap().is_known());
        for k in RoleName::KNOWN {
            assert_eq!(RoleName::parse(k.as_str()).unwrap(), k);
        }
    }

    #[test]
    fn usable_role_keys() {
        let a = SecretKey::from_seed(&[1; 32]).public().clone();
        let b = SecretKey::from_seed(&[2; 32]).public().clone();
        assert_eq!(RoleKeys::ed25519([], 1).check_usable(), Err(RoleKeysError::NoKeys));
        assert!(RoleKeys::ed25519([a.clone(), b.clone()], 2).check_usable().is_ok());
        // The same key twice is one key.
        assert_eq!(RoleKeys::ed25519([a.clone(), a.clone()], 2).check_usable(), Err(RoleKeysError::Threshold { threshold: 2, keys: 1 }));
        assert!(RoleKeys::ed25519([a.clone()], 0).check_usable().is_err());
        let mut r = RoleKeys::ed25519([a.clone()], 1);
        r.extend(RoleKeys::ed25519([a.clone(), b.clone()], 1).keys().to_vec());
        assert_eq!(r.keyids(), [a.keyid(), b.keyid()]);
    }
}
