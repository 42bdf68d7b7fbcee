//! The airlock trust root (`trust-root/README.md`): a TUF-shaped signed document holding keys,
//! roles with k-of-n thresholds, revoked keys, a version and an expiry; and the rules by which one
//! root replaces another (rotation).
//!
//! Signatures are over the RFC 8785 canonical bytes of the `signed` object, hex-encoded in
//! `signatures[].sig`. A root's key ids must be the ids computed from the keys
//! ([`super::key::TrustKey::keyid`]), so within a root one key has exactly one id.

use super::key::{KeyDesc, KeyDescError, ListedKey, TrustKey};
use super::role::{RoleKeys, RoleName};
use crate::digest::Sha256Digest;
use crate::dsse::{self, RawSignature, SignatureTally};
use crate::json::{self, JsonError};
use crate::keys::KeyId;
use crate::keys::SecretKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `signed._type` of an airlock trust root.
pub const ROOT_TYPE: &str = "airlock-trust-root";
/// The one `spec_version` this airlock reads.
pub const SPEC_VERSION: &str = "1";
/// Most keys in a root.
pub const MAX_KEYS: usize = 64;
/// Most key ids in one role.
pub const MAX_ROLE_KEYS: usize = 32;
/// Most roles in a root.
pub const MAX_ROLES: usize = 16;
/// Largest trust-root file read.
pub const MAX_ROOT_SIZE: u64 = 1 << 20;
/// Most rotations applied by one `trust update` run.
pub const MAX_ROTATIONS_PER_RUN: usize = 64;

/// Why a trust root or a rotation was refused. [`RootError::rule`] names the rule.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// Not strict JSON.
    #[error("trust root is not valid strict JSON: {0}")]
    Json(#[from] JsonError),
    /// Fields missing, unknown or of the wrong type.
    #[error("trust root does not match the v1 schema: {0}")]
    Schema(String),
    /// `_type` is not `airlock-trust-root`.
    #[error("signed._type is {0:?}, not {ROOT_TYPE:?}: this is not an airlock trust root")]
    Type(String),
    /// A spec version this binary does not read.
    #[error("trust root spec_version {0:?} is not supported; this airlock reads spec_version {SPEC_VERSION:?}")]
    SpecVersion(String),
    /// A structural rule of the format is broken.
    #[error("trust root v{version} breaks rule {rule}: {detail}")]
    Invalid {
        /// Rule id.
        rule: &'static str,
        /// The root's version.
        version: u64,
        /// What was wrong.
        detail: String,
    },
    /// A key description is unusable.
    #[error("trust root v{version} key {keyid}: {source}")]
    Key {
        /// The root's version.
        version: u64,
        /// The key id as listed.
        keyid: String,
        /// Why.
        source: KeyDescError,
    },
    /// The same keyid twice in `signatures`.
    #[error("trust root v{version} carries two signatures under keyid {keyid} (rule signatures.duplicate-keyid)")]
    DuplicateSignature {
        /// The root's version.
        version: u64,
        /// The repeated keyid.
        keyid: String,
    },
    /// Too few distinct keys of a role signed.
    #[error(
        "trust root v{version} is signed by {found} distinct key(s) of the root role of v{signer_version}, {required} required (rule {rule})"
    )]
    Threshold {
        /// `root.self-signature`, `rotation.signatures-old` or `rotation.signatures-new`.
        rule: &'static str,
        /// Version of the document being checked.
        version: u64,
        /// Version of the root whose role keys were used.
        signer_version: u64,
        /// Distinct valid keys.
        found: usize,
        /// Threshold.
        required: u64,
    },
    /// A rotation that is not exactly N+1.
    #[error("rotation from trust root v{trusted} must be to v{expected}, but the next root is v{found} (rule rotation.version)")]
    Version {
        /// Trusted version N.
        trusted: u64,
        /// N+1.
        expected: u64,
        /// Version found.
        found: u64,
    },
    /// A revoked key reappears or is un-revoked.
    #[error("trust root v{version} un-revokes key {keyid}, revoked in v{revoked_in} (rule rotation.revocation-permanent)")]
    Unrevoked {
        /// The new root's version.
        version: u64,
        /// The key id.
        keyid: String,
        /// Version that revoked it.
        revoked_in: u64,
    },
    /// The final root of a chain has expired.
    #[error("trust root v{version} expired at {expires}, and the time is {now} (rule {rule})")]
    Expired {
        /// `rotation.expired-final` or `root.expired`.
        rule: &'static str,
        /// Version.
        version: u64,
        /// Its expiry.
        expires: Timestamp,
        /// The evaluation time.
        now: Timestamp,
    },
    /// More rotations than one run applies.
    #[error("{count} rotations given; at most {max} are applied per run (rule rotation.too-many)")]
    TooManyRotations {
        /// How many.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// No root given to rotate to.
    #[error("no trust root to rotate to (rule rotation.empty)")]
    EmptyChain,
}

impl RootError {
    /// The stable rule id.
    pub fn rule(&self) -> &'static str {
        match self {
            RootError::Json(_) => "root.json",
            RootError::Schema(_) => "root.schema",
            RootError::Type(_) => "root.type",
            RootError::SpecVersion(_) => "root.spec-version",
            RootError::Invalid { rule, .. } => rule,
            RootError::Key { source: KeyDescError::Unsupported { .. }, .. } => "key.unsupported",
            RootError::Key { source: KeyDescError::NotCanonical { .. }, .. } => "key.not-canonical",
            RootError::Key { .. } => "key.invalid",
            RootError::DuplicateSignature { .. } => "signatures.duplicate-keyid",
            RootError::Threshold { rule, .. } => rule,
            RootError::Version { .. } => "rotation.version",
            RootError::Unrevoked { .. } => "rotation.revocation-permanent",
            RootError::Expired { rule, .. } => rule,
            RootError::TooManyRotations { .. } => "rotation.too-many",
            RootError::EmptyChain => "rotation.empty",
        }
    }

    /// True when the document is readable but a trust rule refused it (exit 1); false when it
    /// could not be read at all (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RootError::DuplicateSignature { .. }
                | RootError::Threshold { .. }
                | RootError::Version { .. }
                | RootError::Unrevoked { .. }
                | RootError::Expired { .. }
                | RootError::TooManyRotations { .. }
        )
    }

    /// One line saying what to try.
    pub fn hint(&self) -> &'static str {
        match self {
            RootError::Version { .. } => "apply every intermediate root in order (N+1, N+2, ...); none may be skipped",
            RootError::Threshold { .. } => {
                "collect signatures from a threshold of root keys of both the old and the new root (`airlock trust sign`)"
            }
            RootError::DuplicateSignature { .. } => "keep one signature per key id",
            RootError::Expired { .. } => "obtain a newer root from the root key holders",
            RootError::TooManyRotations { .. } => "apply the chain in several runs",
            RootError::Unrevoked { .. } => "a revoked key stays revoked: replace it with a new key",
            _ => "obtain the trust root again from its publisher and compare its fingerprint",
        }
    }
}

/// One role: keys and a threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDesc {
    /// Key ids (each in `keys`, none revoked, no repeats).
    pub keyids: Vec<String>,
    /// Distinct keys required, 1..=keyids.len().
    pub threshold: u64,
    /// Role-specific parameters for the role's consumer (e.g. the tlog witness policy); covered by
    /// the signature, opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// The signed part of a trust root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSigned {
    /// Always [`ROOT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// Always [`SPEC_VERSION`].
    pub spec_version: String,
    /// A display name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version, ≥ 1; each rotation adds exactly one.
    pub version: u64,
    /// Not trusted at or after this instant.
    pub expires: Timestamp,
    /// Every key the root knows, revoked ones included, by key id.
    pub keys: BTreeMap<String, KeyDesc>,
    /// Roles by name.
    pub roles: BTreeMap<String, RoleDesc>,
    /// Revoked key ids (sorted, each in `keys`, none in a role). Revocation is permanent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<String>,
}

/// One signature as TUF-shaped documents carry it (airlock roots and TUF metadata alike).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSig {
    pub(crate) keyid: String,
    pub(crate) sig: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRoot {
    signatures: Vec<WireSig>,
    signed: Value,
}

/// A parsed, structurally valid trust root. Signatures are not checked by parsing: trust comes
/// only from a [`VerifiedRoot`]. The fields are private, so the invariants parsing establishes
/// (every role key id is in `keys`, key ids are the keys' ids, no role lists a revoked key) hold
/// for the value's whole life.
#[derive(Clone, Debug)]
pub struct TrustRoot {
    signed: RootSigned,
    signed_bytes: Vec<u8>,
    signatures: Vec<RawSignature>,
    keys: BTreeMap<String, TrustKey>,
    roles: BTreeMap<RoleName, RoleKeys>,
    fingerprint: Sha256Digest,
}

impl TrustRoot {
    /// Parses and checks the structure of a trust-root file.
    pub fn parse(bytes: &[u8]) -> Result<Self, RootError> {
        let fingerprint = Sha256Digest::of(bytes);
        let v = json::parse_strict(bytes)?;
        let w: WireRoot = serde_json::from_value(v).map_err(|e| RootError::Schema(e.to_string()))?;
        match w.signed.get("_type").and_then(Value::as_str) {
            Some(ROOT_TYPE) => {}
            Some(t) => return Err(RootError::Type(t.to_string())),
            None => return Err(RootError::Schema("signed._type is missing or not a string".into())),
        }
        match w.signed.get("spec_version").and_then(Value::as_str) {
            Some(SPEC_VERSION) => {}
            Some(t) => return Err(RootError::SpecVersion(t.to_string())),
            None => return Err(RootError::Schema("signed.spec_version is missing or not a string".into())),
        }
        if let Some(keys) = w.signed.get("keys").and_then(Value::as_object) {
            for (id, k) in keys {
                let fields: Vec<&str> = k.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
                let keyval: Vec<&str> =
                    k.get("keyval").and_then(Value::as_object).map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
                if fields != ["keytype", "keyval", "scheme"] || keyval != ["public"] {
                    return Err(RootError::Schema(format!("key {id} must have exactly keytype, keyval.public and scheme")));
                }
            }
        }
        let signed_bytes = json::canonical_value(&w.signed);
        let signed: RootSigned = serde_json::from_value(w.signed).map_err(|e| RootError::Schema(e.to_string()))?;
        let version = signed.version;
        if w.signatures.len() > dsse::MAX_SIGNATURES {
            return Err(inv(
                "signatures.too-many",
                version,
                format!("{} signatures, at most {}", w.signatures.len(), dsse::MAX_SIGNATURES),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut signatures = Vec::with_capacity(w.signatures.len());
        for s in w.signatures {
            if !seen.insert(s.keyid.clone()) {
                return Err(RootError::DuplicateSignature { version, keyid: s.keyid });
            }
            let sig = hex::decode(&s.sig)
                .ok()
                .filter(|_| !s.sig.bytes().any(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| inv("signatures.encoding", version, format!("signature by {} is not lowercase hex", s.keyid)))?;
            signatures.push(RawSignature { keyid: Some(s.keyid), sig });
        }
        let (keys, roles) = check_signed(&signed)?;
        Ok(TrustRoot { signed, signed_bytes, signatures, keys, roles, fingerprint })
    }

    /// The signed part as parsed (read-only: a changed copy is a new, unsigned document).
    pub fn signed(&self) -> &RootSigned {
        &self.signed
    }

    /// RFC 8785 bytes of the signed part: what signatures cover.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed_bytes
    }

    /// Carried signatures.
    pub fn signatures(&self) -> &[RawSignature] {
        &self.signatures
    }

    /// Every key the root knows, revoked ones included, by key id.
    pub fn keys(&self) -> &BTreeMap<String, TrustKey> {
        &self.keys
    }

    /// SHA-256 of the file bytes as read (what `trust init --fingerprint` pins).
    pub fn fingerprint(&self) -> Sha256Digest {
        self.fingerprint
    }

    /// Display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.signed.name.as_deref()
    }

    /// Revoked key ids (sorted).
    pub fn revoked(&self) -> &[String] {
        &self.signed.revoked
    }

    /// Role names defined, sorted.
    pub fn role_names(&self) -> impl Iterator<Item = &RoleName> {
        self.roles.keys()
    }

    /// The roles that list key id `keyid`.
    pub fn roles_of_key(&self, keyid: &str) -> Vec<&RoleName> {
        self.roles.iter().filter(|(_, r)| r.keys().iter().any(|k| k.keyid == keyid)).map(|(n, _)| n).collect()
    }

    /// A role's parameters for its consumer (e.g. the tlog role's `tlogPolicy`).
    pub fn role_policy(&self, name: &RoleName) -> Option<&Value> {
        self.signed.roles.get(name.as_str()).and_then(|r| r.policy.as_ref())
    }

    /// Version.
    pub fn version(&self) -> u64 {
        self.signed.version
    }

    /// Expiry.
    pub fn expires(&self) -> Timestamp {
        self.signed.expires
    }

    /// True when expired at `now` (TUF: expiry must be strictly later than the time).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.signed.expires <= now
    }

    /// A role's keys and threshold, if defined. The keys were resolved when the root was
    /// parsed, so this never fails on a defined role.
    pub fn role(&self, name: &RoleName) -> Option<&RoleKeys> {
        self.roles.get(name)
    }

    fn check_signed_by(&self, signer: &TrustRoot, rule: &'static str) -> Result<SignatureTally, RootError> {
        let (tally, threshold) = match signer.role(&RoleName::ROOT) {
            Some(r) => (dsse::count_valid_signatures(r.keys(), &self.signatures, &self.signed_bytes), r.threshold()),
            None => (dsse::count_valid_signatures::<ListedKey>(&[], &self.signatures, &self.signed_bytes), 1),
        };
        if !tally.meets(threshold) {
            return Err(RootError::Threshold {
                rule,
                version: self.version(),
                signer_version: signer.version(),
                found: tally.valid_keys.len(),
                required: threshold as u64,
            });
        }
        Ok(tally)
    }

    /// Key ids revoked here.
    pub fn is_revoked(&self, keyid: &str) -> bool {
        self.signed.revoked.iter().any(|k| k == keyid)
    }

    /// Revoked keys with their material.
    pub fn revoked_keys(&self) -> Vec<ListedKey> {
        self.keys.iter().filter(|(id, _)| self.is_revoked(id)).map(|(id, k)| ListedKey { keyid: id.clone(), key: k.clone() }).collect()
    }
}

/// A trust root whose signatures were checked: self-signed by a threshold of its own root role
/// ([`Self::self_signed`]), or reached from a verified root by a valid rotation
/// ([`verify_rotation`], [`apply_chain`]). The only values anything takes trust from (release
/// keys, log keys, approvers, operators); fields are private and nothing else constructs it:
///
/// ```compile_fail
/// use airlock::trust::root::{TrustRoot, VerifiedRoot};
/// fn forge(root: TrustRoot) -> VerifiedRoot {
///     VerifiedRoot { root, signers: Vec::new() }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct VerifiedRoot {
    root: TrustRoot,
    signers: Vec<KeyId>,
}

impl VerifiedRoot {
    /// Checks `root` is signed by a threshold of its own root role (rule `root.self-signature`).
    pub fn self_signed(root: TrustRoot) -> Result<Self, RootError> {
        let tally = root.check_signed_by(&root, "root.self-signature")?;
        Ok(VerifiedRoot { root, signers: tally.valid_keys })
    }

    /// Parses a trust-root file and checks its self-signature.
    pub fn parse_self_signed(bytes: &[u8]) -> Result<Self, RootError> {
        Self::self_signed(TrustRoot::parse(bytes)?)
    }

    /// The root.
    pub fn root(&self) -> &TrustRoot {
        &self.root
    }

    /// Root-role keys whose signatures counted when it was verified.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }
}

impl std::ops::Deref for VerifiedRoot {
    type Target = TrustRoot;
    fn deref(&self) -> &TrustRoot {
        &self.root
    }
}

fn inv(rule: &'static str, version: u64, detail: String) -> RootError {
    RootError::Invalid { rule, version, detail }
}

type Resolved = (BTreeMap<String, TrustKey>, BTreeMap<RoleName, RoleKeys>);

fn check_signed(s: &RootSigned) -> Result<Resolved, RootError> {
    let v = s.version;
    if v == 0 {
        return Err(inv("root.version", v, "version must be at least 1".into()));
    }
    if let Some(n) = &s.name
        && (n.is_empty() || n.len() > 128 || n.chars().any(char::is_control))
    {
        return Err(inv("root.name", v, "name must be 1..=128 characters without control characters".into()));
    }
    if s.keys.len() > MAX_KEYS {
        return Err(inv("keys.too-many", v, format!("{} keys, at most {MAX_KEYS}", s.keys.len())));
    }
    let mut keys = BTreeMap::new();
    for (id, d) in &s.keys {
        let k = TrustKey::from_root_desc(d).map_err(|source| RootError::Key { version: v, keyid: id.clone(), source })?;
        let computed = k.keyid().hex();
        if *id != computed {
            return Err(inv("key.keyid-mismatch", v, format!("key listed as {id} has key id {computed}")));
        }
        keys.insert(id.clone(), k);
    }
    if s.roles.len() > MAX_ROLES {
        return Err(inv("roles.too-many", v, format!("{} roles, at most {MAX_ROLES}", s.roles.len())));
    }
    for r in RoleName::REQUIRED {
        if !s.roles.contains_key(r.as_str()) {
            return Err(inv("role.missing", v, format!("required role {r:?} is not defined")));
        }
    }
    let mut sorted = s.revoked.clone();
    sorted.sort();
    sorted.dedup();
    if sorted != s.revoked {
        return Err(inv("revoked.order", v, "revoked key ids must be sorted and unique".into()));
    }
    for id in &s.revoked {
        if !keys.contains_key(id) {
            return Err(inv(
                "revoked.unknown-key",
                v,
                format!("revoked key {id} is not in keys (keep revoked keys so their signatures can be recognised)"),
            ));
        }
    }
    let mut roles = BTreeMap::new();
    for (name, r) in &s.roles {
        let Ok(role) = RoleName::parse(name) else {
            return Err(inv("role.name", v, format!("role name {name:?} is not [a-z][a-z0-9-]{{0,31}}")));
        };
        if r.keyids.len() > MAX_ROLE_KEYS {
            return Err(inv("role.too-many-keys", v, format!("role {name} lists {} keys, at most {MAX_ROLE_KEYS}", r.keyids.len())));
        }
        let mut ids = BTreeSet::new();
        for id in &r.keyids {
            if !ids.insert(id) {
                return Err(inv("role.duplicate-keyid", v, format!("role {name} lists key {id} twice")));
            }
            if !keys.contains_key(id) {
                return Err(inv("role.unknown-keyid", v, format!("role {name} lists key {id}, which is not in keys")));
            }
            if s.revoked.contains(id) {
                return Err(inv("role.revoked-key", v, format!("role {name} lists key {id}, which is revoked")));
            }
        }
        if r.threshold == 0 || r.threshold > r.keyids.len() as u64 {
            return Err(inv(
                "role.threshold",
                v,
                format!("role {name} has threshold {} but {} key(s): it must be 1..={}", r.threshold, r.keyids.len(), r.keyids.len()),
            ));
        }
        let listed = r.keyids.iter().filter_map(|id| keys.get(id).map(|k| ListedKey { keyid: id.clone(), key: k.clone() })).collect();
        roles.insert(role, RoleKeys::new(listed, r.threshold as usize));
    }
    Ok((keys, roles))
}

/// What one applied rotation established.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The new root, verified by the rotation.
    pub root: VerifiedRoot,
    /// Key ids of root N whose signatures counted.
    pub old_signers: Vec<String>,
    /// Key ids of root N+1 whose signatures counted.
    pub new_signers: Vec<String>,
}

/// The rotation rules N → N+1 on any two parsed roots (history walks use it on stored roots).
fn rotation_tallies(trusted: &TrustRoot, next: &TrustRoot) -> Result<(SignatureTally, SignatureTally), RootError> {
    let expected = trusted.version() + 1;
    if next.version() != expected {
        return Err(RootError::Version { trusted: trusted.version(), expected, found: next.version() });
    }
    let old = next.check_signed_by(trusted, "rotation.signatures-old")?;
    let new = next.check_signed_by(next, "rotation.signatures-new")?;
    for id in &trusted.signed.revoked {
        if !next.is_revoked(id) {
            return Err(RootError::Unrevoked { version: next.version(), keyid: id.clone(), revoked_in: trusted.version() });
        }
    }
    Ok((old, new))
}

/// Checks one rotation N → N+1: version exactly N+1, a threshold of distinct root keys of N and
/// of N+1, revocations kept. Expiry of `next` is not checked here (intermediate roots may be
/// expired; see [`apply_chain`]). A passed rotation verifies `next`.
pub fn verify_rotation(trusted: &VerifiedRoot, next: &TrustRoot) -> Result<Rotation, RootError> {
    let (old, new) = rotation_tallies(trusted, next)?;
    Ok(Rotation {
        root: VerifiedRoot { root: next.clone(), signers: new.valid_keys.clone() },
        old_signers: old.valid_keys.iter().map(|k| k.hex()).collect(),
        new_signers: new.valid_keys.iter().map(|k| k.hex()).collect(),
    })
}

/// Applies rotations from `trusted` through `chain` (sorted by version first), all or nothing:
/// every step must pass [`verify_rotation`], at most `max` steps, and the final root must not be
/// expired at `now`.
pub fn apply_chain(trusted: &VerifiedRoot, mut chain: Vec<TrustRoot>, now: Timestamp, max: usize) -> Result<Vec<Rotation>, RootError> {
    if chain.is_empty() {
        return Err(RootError::EmptyChain);
    }
    if chain.len() > max {
        return Err(RootError::TooManyRotations { count: chain.len(), max });
    }
    chain.sort_by_key(TrustRoot::version);
    let mut steps: Vec<Rotation> = Vec::with_capacity(chain.len());
    for next in &chain {
        let current = steps.last().map(|s| &s.root).unwrap_or(trusted);
        steps.push(verify_rotation(current, next)?);
    }
    let last = &steps.last().expect("chain is not empty").root;
    if last.is_expired(now) {
        return Err(RootError::Expired { rule: "rotation.expired-final", version: last.version(), expires: last.expires(), now });
    }
    Ok(steps)
}

/// Most trust-root versions [`linked_history`] walks back.
pub const MAX_HISTORY: usize = 4096;

/// The verified history that leads to `current`, oldest first and ending with `current`: going
/// back from `current`, each root `older(N-1)` returns is kept while `current`'s chain follows
/// from it by a valid rotation ([`verify_rotation`]: version N-1 → N, a threshold of both root
/// roles, revocations kept; expiry is not checked, history may have expired). The walk stops at
/// the first version `older` does not have, the first that does not chain (it is not history of
/// this root, e.g. a store re-pinned with `--force`), version 1, or [`MAX_HISTORY`] roots.
pub fn linked_history(current: &TrustRoot, mut older: impl FnMut(u64) -> Option<TrustRoot>) -> Vec<TrustRoot> {
    let mut out = vec![current.clone()];
    while out.len() < MAX_HISTORY {
        let newest = out.last().expect("never empty");
        let Some(v) = newest.version().checked_sub(1).filter(|v| *v > 0) else { break };
        match older(v) {
            Some(prev) if rotation_tallies(&prev, newest).is_ok() => out.push(prev),
            _ => break,
        }
    }
    out.reverse();
    out
}

/// Adds signatures by `keys` to a trust-root document (replacing earlier signatures by the same
/// key ids) and returns the new file: RFC 8785 JSON and a newline. The document's structure is
/// checked first; whether the signatures suffice is not (see [`verify_rotation`]).
pub fn sign(bytes: &[u8], keys: &[&SecretKey]) -> Result<Vec<u8>, RootError> {
    let root = TrustRoot::parse(bytes)?;
    let mut sigs: BTreeMap<String, String> =
        root.signatures.iter().map(|s| (s.keyid.clone().unwrap_or_default(), hex::encode(&s.sig))).collect();
    for k in keys {
        sigs.insert(k.public().keyid().hex(), hex::encode(k.sign(&root.signed_bytes)));
    }
    Ok(render(&root.signed, sigs.into_iter().map(|(keyid, sig)| WireSig { keyid, sig }).collect()))
}

/// An unsigned document for `signed` (RFC 8785 JSON and a newline).
pub fn unsigned(signed: &RootSigned) -> Vec<u8> {
    render(signed, Vec::new())
}

fn render(signed: &RootSigned, signatures: Vec<WireSig>) -> Vec<u8> {
    let mut out = json::canonical(&serde_json::json!({"signatures": signatures, "signed": signed}));
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn signed(version: u64, root: &[&SecretKey], threshold: u64, expires: &str) -> RootSigned {
        let mut keys = BTreeMap::new();
        for k in root {
            let tk = TrustKey::Ed25519(k.public().clone());
            keys.insert(tk.keyid().hex(), tk.desc());
        }
        let ids: Vec<String> = root.iter().map(|k| k.public().keyid().hex()).collect();
        let mut roles = BTreeMap::new();
        roles.insert("root".to_string(), RoleDesc { keyids: ids.clone(), threshold, policy: None });
        roles.insert("release".to_string(), RoleDesc { keyids: ids[..1].to_vec(), threshold: 1, policy: None });
        RootSigned {
            type_: ROOT_TYPE.into(),
            spec_version: SPEC_VERSION.into(),
            name: None,
            version,
            expires: Timestamp::parse(expires).unwrap(),
            keys,
            roles,
            revoked: vec![],
        }
    }

    fn make(s: &RootSigned, signers: &[&SecretKey]) -> TrustRoot {
        TrustRoot::parse(&sign(&unsigned(s), signers).unwrap()).unwrap()
    }

    const FAR: &str = "2099-01-01T00:00:00Z";

    /// A P-256 trust key from a scalar.
    fn p256_key(n: u8) -> TrustKey {
        let sk = p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap();
        TrustKey::P256(super::super::key::P256Key::from_sec1(sk.verifying_key().to_sec1_point(false).as_bytes()).unwrap())
    }

    /// The tlog role binds its policy: an ECDSA (Rekor-style) and an Ed25519 log, each trusted by
    /// the policy only when the role lists the same key.
    #[test]
    fn tlog_policy_logs_must_be_tlog_role_keys() {
        use crate::tlog::note::{TYPE_ECDSA, VerifierKey};
        let a = sk(1);
        let ecdsa_log = p256_key(7);
        let TrustKey::P256(pk) = &ecdsa_log else { unreachable!() };
        let ecdsa_vkey = VerifierKey::from_parts("rekor.example", TYPE_ECDSA, &pk.spki_der()).unwrap();
        let ed_log = sk(9);
        let ed_vkey = VerifierKey::ed25519("log.example", ed_log.public()).unwrap();
        let root_with = |role_keys: &[TrustKey], policy: String| {
            let mut s = signed(1, &[&a], 1, FAR);
            let mut ids = Vec::new();
            for k in role_keys {
                s.keys.insert(k.keyid().hex(), k.desc());
                ids.push(k.keyid().hex());
            }
            let policy = serde_json::json!({ "tlogPolicy": policy });
            s.roles.insert("tlog".into(), RoleDesc { keyids: ids, threshold: 1, policy: Some(policy) });
            VerifiedRoot::self_signed(make(&s, &[&a])).unwrap()
        };
        let both = format!("log {ecdsa_vkey}\nlog {ed_vkey}\nquorum none\n");
        let ok = root_with(&[ecdsa_log.clone(), TrustKey::Ed25519(ed_log.public().clone())], both.clone());
        let trust = crate::trust::root_log_trust(&ok).unwrap().expect("a tlog policy");
        assert_eq!(trust.logs.len(), 2);
        // The Ed25519 log's key is not in the role: refused, naming it.
        let missing = root_with(std::slice::from_ref(&ecdsa_log), both);
        let e = crate::trust::root_log_trust(&missing).unwrap_err();
        assert!(e.to_string().contains("log.example+"), "{e}");
        // Another P-256 key in the role does not stand for the policy's.
        let other = root_with(&[p256_key(8)], format!("log {ecdsa_vkey}\nquorum none\n"));
        assert!(matches!(crate::trust::root_log_trust(&other), Err(crate::trust::TlogRoleError::UnlistedLogKey { .. })));
        // No tlog role: no log trust.
        let plain = VerifiedRoot::self_signed(make(&signed(1, &[&a], 1, FAR), &[&a])).unwrap();
        assert!(crate::trust::root_log_trust(&plain).unwrap().is_none());
    }

    /// A P-256 `release` key counts for a bundle manifest's DSSE signatures like an Ed25519 one.
    #[test]
    fn a_p256_release_key_counts_for_bundle_signatures() {
        use p256::ecdsa::signature::Signer as _;
        let a = sk(1);
        let p256_sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let release = p256_key(7);
        let mut s = signed(1, &[&a], 1, FAR);
        s.keys.insert(release.keyid().hex(), release.desc());
        s.roles.insert("release".into(), RoleDesc { keyids: vec![release.keyid().hex()], threshold: 1, policy: None });
        let root = VerifiedRoot::self_signed(make(&s, &[&a])).unwrap();
        let policy = crate::trust::release_policy(&root, "test".into()).unwrap();
        assert_eq!(policy.role.keyids(), [release.keyid()]);
        let payload_type = crate::bundle::PAYLOAD_TYPE_V1;
        let sig: p256::ecdsa::Signature = p256_sk.sign(&dsse::pae(payload_type, b"{}"));
        let env = dsse::Envelope {
            payload_type: payload_type.into(),
            payload: b"{}".to_vec(),
            signatures: vec![RawSignature { keyid: Some(release.keyid().hex()), sig: sig.to_der().as_bytes().to_vec() }],
        };
        let sigs = crate::signed::Signatures::check(&env, &policy.role);
        assert!(sigs.accepted());
        // The Ed25519 root key is not a release key: its signature is information, not a count.
        let by_root = dsse::Envelope::sign(payload_type, b"{}", &[&a]);
        assert!(!crate::signed::Signatures::check(&by_root, &policy.role).meets_threshold());
    }

    #[test]
    fn chain_applies_and_rules_are_named() {
        let (a, b, c, d) = (sk(1), sk(2), sk(3), sk(4));
        let v1 = VerifiedRoot::self_signed(make(&signed(1, &[&a], 1, FAR), &[&a])).unwrap();
        assert_eq!(v1.signers(), [a.public().keyid()]);
        let v2 = make(&signed(2, &[&b, &c, &d], 2, FAR), &[&a, &b, &c]);
        let v3 = make(&signed(3, &[&b, &c, &d], 2, FAR), &[&c, &d]);
        let now = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
        let steps = apply_chain(&v1, vec![v3.clone(), v2.clone()], now, 8).unwrap();
        assert_eq!(steps.last().unwrap().root.version(), 3);
        assert_eq!(apply_chain(&v1, vec![v3.clone()], now, 8).unwrap_err().rule(), "rotation.version");
        let under = make(&signed(2, &[&b, &c, &d], 2, FAR), &[&a, &b]);
        assert_eq!(verify_rotation(&v1, &under).unwrap_err().rule(), "rotation.signatures-new");
        let no_old = make(&signed(2, &[&b, &c, &d], 2, FAR), &[&b, &c]);
        assert_eq!(verify_rotation(&v1, &no_old).unwrap_err().rule(), "rotation.signatures-old");
        let expired = make(&signed(2, &[&a], 1, "2020-01-01T00:00:00Z"), &[&a]);
        assert_eq!(apply_chain(&v1, vec![expired.clone()], now, 8).unwrap_err().rule(), "rotation.expired-final");
        // An expired intermediate is fine when the final root is valid.
        let v3b = make(&signed(3, &[&a], 1, FAR), &[&a]);
        apply_chain(&v1, vec![expired, v3b], now, 8).unwrap();
        assert_eq!(apply_chain(&v1, vec![v2, v3], now, 1).unwrap_err().rule(), "rotation.too-many");
    }

    #[test]
    fn history_is_the_chain_of_valid_rotations_back_from_the_current_root() {
        let (a, b, c) = (sk(1), sk(2), sk(3));
        let v1 = make(&signed(1, &[&a], 1, FAR), &[&a]);
        let v2 = make(&signed(2, &[&b], 1, "2020-01-01T00:00:00Z"), &[&a, &b]);
        let v3 = make(&signed(3, &[&c], 1, FAR), &[&b, &c]);
        let versions = |h: Vec<TrustRoot>| h.iter().map(TrustRoot::version).collect::<Vec<_>>();
        let all = [v1.clone(), v2.clone(), v3.clone()];
        let from = |roots: &[TrustRoot]| {
            let roots = roots.to_vec();
            move |v: u64| roots.iter().find(|r| r.version() == v).cloned()
        };
        // An expired intermediate is still history.
        assert_eq!(versions(linked_history(&v3, from(&all))), [1, 2, 3]);
        // A missing version ends it.
        assert_eq!(versions(linked_history(&v3, from(&[v1.clone(), v3.clone()]))), [3]);
        // A v2 that v3 does not follow from (another chain) ends it, and so does a stray v1.
        let foreign_v2 = make(&signed(2, &[&a], 1, FAR), &[&a]);
        assert_eq!(versions(linked_history(&v3, from(&[v1.clone(), foreign_v2, v3.clone()]))), [3]);
        let stray_v1 = make(&signed(1, &[&c], 1, FAR), &[&c]);
        assert_eq!(versions(linked_history(&v3, from(&[stray_v1, v2, v3.clone()]))), [2, 3]);
        assert_eq!(versions(linked_history(&v1, from(&all))), [1]);
    }

    #[test]
    fn duplicate_keyid_signatures_refused_and_same_key_counts_once() {
        let (a, b) = (sk(1), sk(2));
        let s = signed(1, &[&a, &b], 2, FAR);
        let doc = String::from_utf8(sign(&unsigned(&s), &[&a]).unwrap()).unwrap();
        let v: Value = serde_json::from_str(&doc).unwrap();
        let sig = v["signatures"][0].clone();
        let mut twice = v.clone();
        twice["signatures"] = Value::Array(vec![sig.clone(), sig.clone()]);
        let e = TrustRoot::parse(twice.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.rule(), "signatures.duplicate-keyid");
        // The same signature under b's keyid hint: one distinct key, threshold 2 not met.
        let mut hinted = v;
        let mut sig2 = sig;
        sig2["keyid"] = Value::String(b.public().keyid().hex());
        hinted["signatures"].as_array_mut().unwrap().push(sig2);
        let r = TrustRoot::parse(hinted.to_string().as_bytes()).unwrap();
        assert_eq!(VerifiedRoot::self_signed(r).unwrap_err().rule(), "root.self-signature");
    }

    #[test]
    fn structural_rules() {
        let a = sk(1);
        let mut s = signed(1, &[&a], 1, FAR);
        s.roles.get_mut("root").unwrap().threshold = 2;
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "role.threshold");
        let mut s = signed(1, &[&a], 1, FAR);
        s.roles.remove("release");
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "role.missing");
        let mut s = signed(1, &[&a], 1, FAR);
        s.revoked = vec![a.public().keyid().hex()];
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "role.revoked-key");
        let mut s = signed(1, &[&a], 1, FAR);
        s.spec_version = "2".into();
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "root.spec-version");
        let mut s = signed(1, &[&a], 1, FAR);
        let (id, d) = s.keys.pop_first().unwrap();
        s.keys.insert("00".repeat(32), d);
        let _ = id;
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "key.keyid-mismatch");
        let mut s = signed(1, &[&a], 1, FAR);
        let r = s.roles["release"].clone();
        s.roles.insert("Ops".into(), r);
        assert_eq!(TrustRoot::parse(&unsigned(&s)).unwrap_err().rule(), "role.name");
    }

    /// A root becomes a [`VerifiedRoot`] only by its own root role's signatures or by a valid
    /// rotation from a verified root; an unsigned, under-signed or foreign-signed root does not.
    #[test]
    fn verified_root_only_from_a_verified_document() {
        let (a, b, c) = (sk(1), sk(2), sk(3));
        let unsigned_v1 = TrustRoot::parse(&unsigned(&signed(1, &[&a, &b], 2, FAR))).unwrap();
        assert_eq!(VerifiedRoot::self_signed(unsigned_v1).unwrap_err().rule(), "root.self-signature");
        let under = make(&signed(1, &[&a, &b], 2, FAR), &[&a]);
        assert_eq!(VerifiedRoot::self_signed(under).unwrap_err().rule(), "root.self-signature");
        let foreign = make(&signed(1, &[&a], 1, FAR), &[&c]);
        assert!(VerifiedRoot::parse_self_signed(&sign(&unsigned(&signed(1, &[&a], 1, FAR)), &[&c]).unwrap()).is_err());
        assert_eq!(VerifiedRoot::self_signed(foreign).unwrap_err().rule(), "root.self-signature");
        let v1 = VerifiedRoot::parse_self_signed(&sign(&unsigned(&signed(1, &[&a, &b], 2, FAR)), &[&a, &b]).unwrap()).unwrap();
        assert_eq!(v1.role(&RoleName::RELEASE).unwrap().keyids(), [a.public().keyid()]);
        assert!(v1.role(&RoleName::OPERATOR).is_none());
        // v2 signed by v1's root role and its own: the rotation yields it verified.
        let v2 = make(&signed(2, &[&c], 1, FAR), &[&a, &b, &c]);
        let step = verify_rotation(&v1, &v2).unwrap();
        assert_eq!(step.root.version(), 2);
        assert_eq!(step.root.signers(), [c.public().keyid()]);
        // Not signed by v1: no verified v2, even though v2 is self-signed.
        let self_only = make(&signed(2, &[&c], 1, FAR), &[&c]);
        assert_eq!(verify_rotation(&v1, &self_only).unwrap_err().rule(), "rotation.signatures-old");
    }
}
