//! A TUF client (The Update Framework specification v1.0, §5 "Detailed client workflow") over a
//! sans-I/O [`Repository`] reader: root chain walk from a trusted root, then timestamp →
//! snapshot → targets (with delegations), then the target file by length and hashes.
//!
//! Every refusal is a [`TufError::Rule`] naming the specification step and the attack it stops.
//! Thresholds are counted by [`crate::dsse::count_valid_signatures`]: each distinct key counts
//! once whatever keyids it is listed under, and a keyid is only a hint. Signatures are over the
//! securesystemslib canonical form of `signed` ([`super::cjson`]).
//!
//! Deviation noted: TUF §4.3 asks clients to recompute each keyid from its key. Real roots
//! (Sigstore's among them) list keys under ids computed with older rules, and python-tuf does not
//! check them either; airlock accepts any keyid as a name and counts keys by their material,
//! which is what the check protects.

use super::cjson;
use super::key::{KeyDesc, ListedKey, TrustKey};
use super::root::WireSig;
use crate::digest::Sha256Digest;
use crate::dsse::{self, RawSignature};
use crate::json;
use crate::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A rule of the TUF client workflow: its section and what it protects against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TufRule {
    /// Section of the TUF specification (v1.0.x numbering).
    pub section: &'static str,
    /// What the rule checks and the attack it stops.
    pub title: &'static str,
}

impl fmt::Display for TufRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TUF {} ({})", self.section, self.title)
    }
}

macro_rules! rules {
    ($($name:ident = $sec:literal, $title:literal;)*) => {
        $(#[doc = $title] pub const $name: TufRule = TufRule { section: $sec, title: $title };)*
        /// Every rule, for documentation and tests.
        pub const ALL_RULES: &[TufRule] = &[$($name),*];
    };
}

rules! {
    METADATA_FORMAT = "4", "metadata must have the expected _type and a spec_version of major version 1";
    THRESHOLD_UNREACHABLE = "4.3", "a role's threshold must be between 1 and its number of keys, or it can never be met";
    ROOT_SELF_SIGNED = "5.2", "the trusted root must be signed by a threshold of its own root keys";
    ROOT_ENDLESS = "5.3.3", "root metadata larger than the limit: endless data attack";
    ROOT_SIGNATURES = "5.3.4", "root N+1 must be signed by a threshold of root N's keys and of its own: arbitrary software attack";
    ROOT_VERSION = "5.3.5", "root N+1 must have version exactly N+1: rollback attack";
    ROOT_FREEZE = "5.3.10", "the final root must not be expired: freeze attack";
    TIMESTAMP_ENDLESS = "5.4.1", "timestamp metadata larger than the limit: endless data attack";
    TIMESTAMP_SIGNATURES = "5.4.2", "timestamp must be signed by a threshold of the timestamp role's keys: arbitrary software attack";
    TIMESTAMP_ROLLBACK = "5.4.3.1", "timestamp version must not decrease: rollback attack";
    TIMESTAMP_SNAPSHOT_ROLLBACK = "5.4.3.2", "the snapshot version named by timestamp must not decrease: rollback attack";
    TIMESTAMP_FREEZE = "5.4.4", "timestamp must not be expired: freeze attack";
    SNAPSHOT_LENGTH = "5.5.1", "snapshot must have the length timestamp lists: endless data / mix-and-match attack";
    SNAPSHOT_HASHES = "5.5.2", "snapshot must have the hashes timestamp lists: mix-and-match attack";
    SNAPSHOT_SIGNATURES = "5.5.3", "snapshot must be signed by a threshold of the snapshot role's keys: arbitrary software attack";
    SNAPSHOT_VERSION = "5.5.4", "snapshot version must equal the one timestamp lists: mix-and-match attack";
    SNAPSHOT_ROLLBACK = "5.5.5", "targets versions in snapshot must not decrease nor disappear: rollback attack";
    SNAPSHOT_FREEZE = "5.5.6", "snapshot must not be expired: freeze attack";
    TARGETS_LENGTH = "5.6.1", "targets metadata must have the length snapshot lists: endless data / mix-and-match attack";
    TARGETS_HASHES = "5.6.2", "targets metadata must have the hashes snapshot lists: mix-and-match attack";
    TARGETS_SIGNATURES = "5.6.3", "targets metadata must be signed by a threshold of its delegator's keys: arbitrary software attack";
    TARGETS_VERSION = "5.6.4", "targets metadata version must equal the one snapshot lists: mix-and-match / rollback attack";
    TARGETS_FREEZE = "5.6.5", "targets metadata must not be expired: freeze attack";
    DELEGATION_SEARCH = "5.6.7", "the delegation search must find the target within the role limit, through roles listed in snapshot";
    TARGET_UNKNOWN = "5.7.2", "a target no trusted targets metadata describes is refused: arbitrary installation attack";
    TARGET_LENGTH = "5.7.3", "the target must have the length its metadata lists: endless data / wrong software attack";
    TARGET_HASHES = "5.7.3", "the target must have the hashes its metadata lists: arbitrary installation attack";
    TARGET_PATH = "5.7.3", "target and role names must be safe relative paths on the mirror";
}

/// Reading from the repository failed for a reason other than absence.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The file is longer than the most the client will read.
    #[error("{name} is longer than {max} bytes")]
    TooLarge {
        /// File name.
        name: String,
        /// Limit.
        max: u64,
    },
    /// I/O failure.
    #[error("cannot read {name}: {detail}")]
    Io {
        /// File name.
        name: String,
        /// What happened.
        detail: String,
    },
}

/// The repository as the client sees it: `metadata/NAME` and `targets/PATH` of a mirror. The
/// client only ever asks for names it built from verified metadata and checked with
/// [`safe_path`]. `Ok(None)` means the file is absent.
pub trait Repository {
    /// Reads `metadata/{name}`, at most `max_len` bytes (longer is [`FetchError::TooLarge`]).
    fn metadata(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError>;
    /// Reads `targets/{path}`, at most `max_len` bytes.
    fn target(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError>;
}

/// Errors of the TUF client.
#[derive(Debug, thiserror::Error)]
pub enum TufError {
    /// A workflow rule refused the repository's metadata or target (exit 1).
    #[error("{rule}: {detail}")]
    Rule {
        /// The rule.
        rule: TufRule,
        /// What was found, with expected and actual values.
        detail: String,
    },
    /// A required file is not in the mirror (exit 2).
    #[error("{name} is not in the mirror ({step})")]
    Missing {
        /// File name.
        name: String,
        /// Workflow step that needed it.
        step: &'static str,
    },
    /// A metadata file is not readable TUF metadata (exit 2).
    #[error("{name} is not valid TUF metadata: {detail}")]
    Malformed {
        /// File name.
        name: String,
        /// What was wrong.
        detail: String,
    },
    /// Reading failed (exit 2).
    #[error("{0}")]
    Fetch(#[from] FetchError),
}

impl TufError {
    /// True for a refusal by a rule (exit 1); false when the input could not be read (exit 2).
    pub fn is_refusal(&self) -> bool {
        matches!(self, TufError::Rule { .. })
    }
    /// The rule, when a rule refused.
    pub fn rule(&self) -> Option<TufRule> {
        match self {
            TufError::Rule { rule, .. } => Some(*rule),
            _ => None,
        }
    }
}

fn refuse(rule: TufRule, detail: impl Into<String>) -> TufError {
    TufError::Rule { rule, detail: detail.into() }
}

/// Size and count limits (python-tuf's defaults).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest root metadata.
    pub root: u64,
    /// Largest timestamp metadata.
    pub timestamp: u64,
    /// Largest snapshot metadata when timestamp gives no length.
    pub snapshot: u64,
    /// Largest targets metadata when snapshot gives no length.
    pub targets: u64,
    /// Most root versions walked in one update.
    pub root_rotations: u64,
    /// Most targets roles visited in one search.
    pub delegations: usize,
    /// Largest target file accepted.
    pub target: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            root: 512_000,
            timestamp: 16_384,
            snapshot: 2_000_000,
            targets: 5_000_000,
            root_rotations: 256,
            delegations: 32,
            target: 1 << 30,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMeta {
    signatures: Vec<WireSig>,
    signed: Value,
}

/// A role's keys and threshold as listed in root or in a delegation.
#[derive(Clone, Debug, Deserialize)]
pub struct RoleKeys {
    /// Key ids.
    pub keyids: Vec<String>,
    /// Threshold.
    pub threshold: u64,
}

/// `signed` of root metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct RootMeta {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires: Timestamp,
    /// Consistent snapshots in use.
    #[serde(default)]
    pub consistent_snapshot: bool,
    /// Keys by keyid.
    pub keys: BTreeMap<String, KeyDesc>,
    /// Top-level roles.
    pub roles: BTreeMap<String, RoleKeys>,
}

/// A `METAFILES` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MetaFile {
    /// Version.
    pub version: u64,
    /// Length, if listed.
    #[serde(default)]
    pub length: Option<u64>,
    /// Hashes by algorithm, if listed.
    #[serde(default)]
    pub hashes: Option<BTreeMap<String, String>>,
}

/// `signed` of timestamp or snapshot metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct MetaList {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires: Timestamp,
    /// Listed metadata files.
    pub meta: BTreeMap<String, MetaFile>,
}

/// A target's description.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct TargetFile {
    /// Length in bytes.
    pub length: u64,
    /// Hashes by algorithm.
    pub hashes: BTreeMap<String, String>,
}

/// A delegated role.
#[derive(Clone, Debug, Deserialize)]
pub struct DelegatedRole {
    /// Role name.
    pub name: String,
    /// Key ids.
    pub keyids: Vec<String>,
    /// Threshold.
    pub threshold: u64,
    /// Terminating delegation.
    #[serde(default)]
    pub terminating: bool,
    /// Path patterns.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Path hash prefixes.
    #[serde(default)]
    pub path_hash_prefixes: Option<Vec<String>>,
}

/// Delegations of a targets role.
#[derive(Clone, Debug, Deserialize)]
pub struct Delegations {
    /// Keys.
    pub keys: BTreeMap<String, KeyDesc>,
    /// Roles in priority order.
    #[serde(default)]
    pub roles: Vec<DelegatedRole>,
}

/// `signed` of targets metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct TargetsMeta {
    /// Version.
    pub version: u64,
    /// Expiry.
    pub expires: Timestamp,
    /// Targets.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetFile>,
    /// Delegations.
    #[serde(default)]
    pub delegations: Option<Delegations>,
}

/// Verified metadata with the bytes it came from.
#[derive(Clone, Debug)]
pub struct Meta<T> {
    /// The signed part.
    pub signed: T,
    /// File bytes as read (for persisting).
    pub bytes: Vec<u8>,
}

/// Metadata the shell persists between runs (TUF §5.3.8, §5.4.5, §5.5.7).
#[derive(Clone, Debug, Default)]
pub struct Persisted {
    /// Latest trusted root.
    pub root: Vec<u8>,
    /// Trusted timestamp, if any.
    pub timestamp: Option<Vec<u8>>,
    /// Trusted snapshot, if any.
    pub snapshot: Option<Vec<u8>>,
}

/// What an update established, for the report.
#[derive(Clone, Debug, Default)]
pub struct Trail {
    /// Root versions trusted, in order (the first is the starting root).
    pub roots: Vec<u64>,
    /// Why the root walk stopped.
    pub root_stop: String,
    /// Notes (dropped persisted metadata, equal timestamp kept, ...).
    pub notes: Vec<String>,
    /// Targets roles visited in the search.
    pub visited: Vec<String>,
}

/// The TUF client.
pub struct Client {
    limits: Limits,
    now: Timestamp,
    root: Meta<RootMeta>,
    timestamp: Option<Meta<MetaList>>,
    snapshot: Option<Meta<MetaList>>,
    targets: BTreeMap<String, Meta<TargetsMeta>>,
    /// The report trail.
    pub trail: Trail,
}

fn parse_envelope(name: &str, bytes: &[u8]) -> Result<(Vec<RawSignature>, Value, Vec<u8>), TufError> {
    let malformed = |detail: String| TufError::Malformed { name: name.to_string(), detail };
    let v = json::parse_strict(bytes).map_err(|e| malformed(e.to_string()))?;
    let w: WireMeta = serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?;
    if w.signatures.len() > dsse::MAX_SIGNATURES {
        return Err(malformed(format!("{} signatures; at most {} are read", w.signatures.len(), dsse::MAX_SIGNATURES)));
    }
    let mut sigs = Vec::new();
    for s in w.signatures {
        let sig = hex::decode(&s.sig).map_err(|_| malformed(format!("signature by {} is not hex", s.keyid)))?;
        sigs.push(RawSignature { keyid: Some(s.keyid), sig });
    }
    let canon = cjson::canonical(&w.signed).map_err(|e| malformed(e.to_string()))?;
    Ok((sigs, w.signed, canon))
}

fn check_type(name: &str, signed: &Value, expected: &str) -> Result<(), TufError> {
    let t = signed.get("_type").and_then(Value::as_str).unwrap_or("");
    if t != expected {
        return Err(refuse(METADATA_FORMAT, format!("{name} has _type {t:?}, expected {expected:?}")));
    }
    let sv = signed.get("spec_version").and_then(Value::as_str).unwrap_or("");
    if sv.split('.').next() != Some("1") {
        return Err(refuse(METADATA_FORMAT, format!("{name} has spec_version {sv:?}; this client implements 1.x")));
    }
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(name: &str, signed: Value) -> Result<T, TufError> {
    serde_json::from_value(signed).map_err(|e| TufError::Malformed { name: name.to_string(), detail: e.to_string() })
}

/// Builds the listed keys of a role; keys of unsupported types are left out (they can never
/// count), and a threshold beyond the number of keyids is refused.
fn role_keys(
    keys: &BTreeMap<String, KeyDesc>,
    role: &str,
    keyids: &[String],
    threshold: u64,
    source: &str,
) -> Result<Vec<ListedKey>, TufError> {
    let distinct: BTreeSet<&String> = keyids.iter().collect();
    if threshold == 0 || threshold > distinct.len() as u64 {
        return Err(refuse(
            THRESHOLD_UNREACHABLE,
            format!("{source}: role {role} has threshold {threshold} but {} keyid(s)", distinct.len()),
        ));
    }
    Ok(distinct
        .into_iter()
        .filter_map(|id| keys.get(id).and_then(|d| TrustKey::from_tuf_desc(d).ok()).map(|key| ListedKey { keyid: id.clone(), key }))
        .collect())
}

/// Counts signatures and refuses below threshold (and duplicate keyids in the list).
fn check_threshold(
    rule: TufRule,
    what: &str,
    keys: &[ListedKey],
    threshold: u64,
    sigs: &[RawSignature],
    msg: &[u8],
) -> Result<Vec<String>, TufError> {
    let mut seen = BTreeSet::new();
    for s in sigs {
        if let Some(k) = &s.keyid
            && !seen.insert(k.clone())
        {
            return Err(refuse(rule, format!("{what} carries two signatures under keyid {k}")));
        }
    }
    let tally = dsse::count_valid_signatures(keys, sigs, msg);
    if !tally.meets(threshold as usize) {
        let dup: Vec<&str> = tally
            .signatures
            .iter()
            .filter(|(_, f)| matches!(f, dsse::SignatureFate::DuplicateKey(_)))
            .filter_map(|(h, _)| h.as_deref())
            .collect();
        let note = if dup.is_empty() { String::new() } else { format!(" (keyid(s) {} name a key already counted)", dup.join(", ")) };
        return Err(refuse(rule, format!("{what} is signed by {} distinct key(s), {threshold} required{note}", tally.valid_keys.len())));
    }
    let by_identity: BTreeMap<_, _> = keys.iter().map(|k| (k.key.keyid(), k.keyid.clone())).collect();
    Ok(tally.valid_keys.iter().map(|id| by_identity.get(id).cloned().unwrap_or_else(|| id.hex())).collect())
}

fn top_role<'a>(root: &'a RootMeta, role: &str) -> Result<&'a RoleKeys, TufError> {
    root.roles.get(role).ok_or_else(|| refuse(METADATA_FORMAT, format!("root v{} defines no {role} role", root.version)))
}

fn root_role_keys(root: &RootMeta, role: &str) -> Result<(Vec<ListedKey>, u64), TufError> {
    let r = top_role(root, role)?;
    Ok((role_keys(&root.keys, role, &r.keyids, r.threshold, &format!("root v{}", root.version))?, r.threshold))
}

/// Parses root metadata and checks it is signed by a threshold of `signer`'s root keys (and,
/// for a rotation, of its own).
fn parse_root(name: &str, bytes: &[u8]) -> Result<(Vec<RawSignature>, RootMeta, Vec<u8>), TufError> {
    let (sigs, signed, canon) = parse_envelope(name, bytes)?;
    check_type(name, &signed, "root")?;
    let root: RootMeta = typed(name, signed)?;
    for r in ["root", "timestamp", "snapshot", "targets"] {
        let k = top_role(&root, r)?;
        role_keys(&root.keys, r, &k.keyids, k.threshold, &format!("{name} (v{})", root.version))?;
    }
    Ok((sigs, root, canon))
}

fn verify_length_hashes(
    len_rule: TufRule,
    hash_rule: TufRule,
    what: &str,
    bytes: &[u8],
    length: Option<u64>,
    hashes: Option<&BTreeMap<String, String>>,
) -> Result<(), TufError> {
    if let Some(l) = length
        && bytes.len() as u64 != l
    {
        return Err(refuse(len_rule, format!("{what} is {} bytes, expected {l}", bytes.len())));
    }
    if let Some(h) = hashes {
        let mut checked = 0;
        for (alg, want) in h {
            let got = match alg.as_str() {
                "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
                "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
                _ => continue,
            };
            checked += 1;
            if !got.eq_ignore_ascii_case(want) {
                return Err(refuse(hash_rule, format!("{what} has {alg} {got}, expected {want}")));
            }
        }
        if checked == 0 && !h.is_empty() {
            return Err(refuse(
                hash_rule,
                format!(
                    "{what}: none of the listed hash algorithms ({}) is sha256 or sha512",
                    h.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses names that are not plain relative paths (no `..`, `.`, empty or absolute parts, no
/// backslash or NUL): a hostile targets file must not make the client read outside the mirror.
pub fn safe_path(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.contains(['\\', '\0']) && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

fn fetch_meta(repo: &dyn Repository, name: &str, max: u64, step: &'static str, endless: TufRule) -> Result<Vec<u8>, TufError> {
    match repo.metadata(name, max) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(TufError::Missing { name: name.to_string(), step }),
        Err(FetchError::TooLarge { name, max }) => Err(refuse(endless, format!("{name} is longer than {max} bytes"))),
        Err(e) => Err(e.into()),
    }
}

/// One element of a segment pattern: `*`, `?`, a `[...]` class or a literal character.
#[derive(PartialEq)]
enum GlobTok<'a> {
    Star,
    Any,
    Class { neg: bool, set: &'a [char] },
    Lit(char),
}

impl GlobTok<'_> {
    fn matches(&self, c: char) -> bool {
        match self {
            GlobTok::Star | GlobTok::Any => true,
            GlobTok::Lit(l) => *l == c,
            GlobTok::Class { neg, set } => {
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != *neg
            }
        }
    }
}

/// Shell-style glob of one path segment: `*`, `?`, `[...]` (as Python's fnmatch). The pattern
/// is signed only by a delegated role, so it is hostile input: runs of `*` collapse to one and
/// the match iterates with one backtrack point (the last `*`), never recursing: at most
/// pattern × name steps, whatever the number of `*`.
fn glob_segment(pat: &[char], s: &[char]) -> bool {
    let mut toks = Vec::with_capacity(pat.len());
    let mut i = 0;
    while i < pat.len() {
        let tok = match pat[i] {
            '*' => GlobTok::Star,
            '?' => GlobTok::Any,
            '[' => match pat.iter().skip(i + 2).position(|c| *c == ']').map(|k| k + i + 2) {
                Some(close) => {
                    let (neg, set) = if pat[i + 1] == '!' { (true, &pat[i + 2..close]) } else { (false, &pat[i + 1..close]) };
                    i = close;
                    GlobTok::Class { neg, set }
                }
                None => GlobTok::Lit('['),
            },
            c => GlobTok::Lit(c),
        };
        i += 1;
        if !(tok == GlobTok::Star && toks.last() == Some(&GlobTok::Star)) {
            toks.push(tok);
        }
    }
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and the first name position it has not yet swallowed.
    let mut star: Option<(usize, usize)> = None;
    while t < s.len() {
        match toks.get(p) {
            Some(GlobTok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(tok) if tok.matches(s[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|tok| *tok == GlobTok::Star)
}

/// True when a delegation covers `target` (TUF §4.5: `paths` patterns match segment by segment,
/// `*` never crossing `/`; or `path_hash_prefixes` of the SHA-256 of the path).
pub fn delegation_covers(role: &DelegatedRole, target: &str) -> bool {
    if let Some(paths) = &role.paths {
        let t: Vec<&str> = target.split('/').collect();
        return paths.iter().any(|p| {
            let ps: Vec<&str> = p.split('/').collect();
            ps.len() == t.len()
                && ps.iter().zip(&t).all(|(a, b)| glob_segment(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>()))
        });
    }
    if let Some(prefixes) = &role.path_hash_prefixes {
        let h = Sha256Digest::of(target.as_bytes()).hex();
        return prefixes.iter().any(|p| h.starts_with(p.as_str()));
    }
    false
}

impl Client {
    /// Loads the trusted root (TUF §5.2) and, if given, persisted timestamp and snapshot
    /// metadata, which are kept only if the root's keys still verify them (expiry does not
    /// matter for them: they only serve the rollback checks).
    pub fn new(trusted: &Persisted, now: Timestamp, limits: Limits) -> Result<Self, TufError> {
        let (sigs, root, canon) = parse_root("trusted root.json", &trusted.root)?;
        let (keys, threshold) = root_role_keys(&root, "root")?;
        check_threshold(ROOT_SELF_SIGNED, &format!("trusted root v{}", root.version), &keys, threshold, &sigs, &canon)?;
        let mut c = Client {
            limits,
            now,
            trail: Trail { roots: vec![root.version], ..Trail::default() },
            root: Meta { signed: root, bytes: trusted.root.clone() },
            timestamp: None,
            snapshot: None,
            targets: BTreeMap::new(),
        };
        if let Some(b) = &trusted.timestamp {
            match c.verify_list("trusted timestamp.json", b, "timestamp", TIMESTAMP_SIGNATURES) {
                Ok(m) => c.timestamp = Some(m),
                Err(e) => c.trail.notes.push(format!("persisted timestamp dropped: {e}")),
            }
        }
        if let Some(b) = &trusted.snapshot {
            match c.verify_list("trusted snapshot.json", b, "snapshot", SNAPSHOT_SIGNATURES) {
                Ok(m) => c.snapshot = Some(m),
                Err(e) => c.trail.notes.push(format!("persisted snapshot dropped: {e}")),
            }
        }
        Ok(c)
    }

    /// The metadata to persist now (valid after any step, including a failed one: what was
    /// verified stays verified).
    pub fn persisted(&self) -> Persisted {
        Persisted {
            root: self.root.bytes.clone(),
            timestamp: self.timestamp.as_ref().map(|m| m.bytes.clone()),
            snapshot: self.snapshot.as_ref().map(|m| m.bytes.clone()),
        }
    }

    /// The trusted root's version.
    pub fn root_version(&self) -> u64 {
        self.root.signed.version
    }

    /// Versions of the trusted timestamp, snapshot and top-level targets.
    pub fn versions(&self) -> (Option<u64>, Option<u64>, Option<u64>) {
        (
            self.timestamp.as_ref().map(|m| m.signed.version),
            self.snapshot.as_ref().map(|m| m.signed.version),
            self.targets.get("targets").map(|m| m.signed.version),
        )
    }

    fn verify_list(&self, name: &str, bytes: &[u8], role: &str, rule: TufRule) -> Result<Meta<MetaList>, TufError> {
        let (sigs, signed, canon) = parse_envelope(name, bytes)?;
        check_type(name, &signed, role)?;
        let (keys, threshold) = root_role_keys(&self.root.signed, role)?;
        check_threshold(rule, name, &keys, threshold, &sigs, &canon)?;
        Ok(Meta { signed: typed(name, signed)?, bytes: bytes.to_vec() })
    }

    /// TUF §5.3: walks `N+1.root.json` while present, each signed by a threshold of the old and
    /// the new root keys and of version exactly N+1; then refuses an expired final root, and
    /// forgets timestamp and snapshot metadata if their keys were rotated (fast-forward
    /// recovery).
    pub fn update_root(&mut self, repo: &dyn Repository) -> Result<(), TufError> {
        let original = self.root.signed.clone();
        let mut walked = 0;
        loop {
            if walked >= self.limits.root_rotations {
                self.trail.root_stop = format!("stopped after {walked} rotations (the per-update limit)");
                break;
            }
            let n = self.root.signed.version;
            let name = format!("{}.root.json", n + 1);
            let bytes = match repo.metadata(&name, self.limits.root) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    self.trail.root_stop = format!("{name} is not in the mirror: root v{n} is the last contiguous version");
                    break;
                }
                Err(FetchError::TooLarge { name, max }) => return Err(refuse(ROOT_ENDLESS, format!("{name} is longer than {max} bytes"))),
                Err(e) => return Err(e.into()),
            };
            let (sigs, new, canon) = parse_root(&name, &bytes)?;
            let (old_keys, old_t) = root_role_keys(&self.root.signed, "root")?;
            check_threshold(ROOT_SIGNATURES, &format!("{name} (by root v{n}'s keys)"), &old_keys, old_t, &sigs, &canon)?;
            let (new_keys, new_t) = root_role_keys(&new, "root")?;
            check_threshold(ROOT_SIGNATURES, &format!("{name} (by its own keys)"), &new_keys, new_t, &sigs, &canon)?;
            if new.version != n + 1 {
                return Err(refuse(ROOT_VERSION, format!("{name} has version {}, expected {}", new.version, n + 1)));
            }
            self.root = Meta { signed: new, bytes };
            self.trail.roots.push(n + 1);
            walked += 1;
        }
        let r = &self.root.signed;
        if r.expires <= self.now {
            return Err(refuse(ROOT_FREEZE, format!("root v{} expired at {}; update start time {}", r.version, r.expires, self.now)));
        }
        let same =
            |role: &str| original.roles.get(role).map(|x| (&x.keyids, x.threshold)) == r.roles.get(role).map(|x| (&x.keyids, x.threshold));
        if !same("timestamp") || !same("snapshot") {
            self.timestamp = None;
            self.snapshot = None;
            self.trail.notes.push("timestamp or snapshot keys rotated: trusted timestamp and snapshot forgotten (TUF 5.3.11)".into());
        }
        Ok(())
    }

    /// TUF §5.4.
    pub fn update_timestamp(&mut self, repo: &dyn Repository) -> Result<(), TufError> {
        let bytes = fetch_meta(repo, "timestamp.json", self.limits.timestamp, "TUF 5.4.1", TIMESTAMP_ENDLESS)?;
        let new = self.verify_list("timestamp.json", &bytes, "timestamp", TIMESTAMP_SIGNATURES)?;
        if new.signed.meta.len() != 1 || !new.signed.meta.contains_key("snapshot.json") {
            return Err(TufError::Malformed {
                name: "timestamp.json".into(),
                detail: "meta must describe exactly snapshot.json (TUF 4.6)".into(),
            });
        }
        if let Some(old) = &self.timestamp {
            let (nv, ov) = (new.signed.version, old.signed.version);
            if nv < ov {
                return Err(refuse(TIMESTAMP_ROLLBACK, format!("timestamp.json has version {nv}, lower than the trusted version {ov}")));
            }
            let (ns, os) = (new.signed.meta["snapshot.json"].version, old.signed.meta.get("snapshot.json").map(|m| m.version).unwrap_or(0));
            if ns < os {
                return Err(refuse(
                    TIMESTAMP_SNAPSHOT_ROLLBACK,
                    format!("timestamp.json v{nv} names snapshot v{ns}, lower than v{os} named by the trusted timestamp"),
                ));
            }
            if nv == ov {
                self.trail.notes.push(format!("timestamp.json v{nv} equals the trusted version: kept the trusted one"));
                return self.check_timestamp_fresh();
            }
        }
        self.timestamp = Some(new);
        self.check_timestamp_fresh()
    }

    fn check_timestamp_fresh(&self) -> Result<(), TufError> {
        let t = &self.timestamp.as_ref().expect("set").signed;
        if t.expires <= self.now {
            return Err(refuse(
                TIMESTAMP_FREEZE,
                format!("timestamp.json v{} expired at {}; update start time {}", t.version, t.expires, self.now),
            ));
        }
        Ok(())
    }

    fn consistent(&self) -> bool {
        self.root.signed.consistent_snapshot
    }

    /// TUF §5.5.
    pub fn update_snapshot(&mut self, repo: &dyn Repository) -> Result<(), TufError> {
        let ts = self.timestamp.as_ref().expect("timestamp is updated first");
        let mf = ts.signed.meta["snapshot.json"].clone();
        let name = if self.consistent() { format!("{}.snapshot.json", mf.version) } else { "snapshot.json".to_string() };
        let bytes = fetch_meta(repo, &name, mf.length.unwrap_or(self.limits.snapshot), "TUF 5.5.1", SNAPSHOT_LENGTH)?;
        verify_length_hashes(SNAPSHOT_LENGTH, SNAPSHOT_HASHES, &name, &bytes, mf.length, mf.hashes.as_ref())?;
        let new = self.verify_list(&name, &bytes, "snapshot", SNAPSHOT_SIGNATURES)?;
        if new.signed.version != mf.version {
            return Err(refuse(
                SNAPSHOT_VERSION,
                format!("{name} has version {}, timestamp.json lists {}", new.signed.version, mf.version),
            ));
        }
        if let Some(old) = &self.snapshot {
            for (file, om) in &old.signed.meta {
                match new.signed.meta.get(file) {
                    None => {
                        return Err(refuse(
                            SNAPSHOT_ROLLBACK,
                            format!("{name} no longer lists {file}, listed by trusted snapshot v{}", old.signed.version),
                        ));
                    }
                    Some(nm) if nm.version < om.version => {
                        return Err(refuse(
                            SNAPSHOT_ROLLBACK,
                            format!(
                                "{name} lists {file} v{}, lower than v{} in trusted snapshot v{}",
                                nm.version, om.version, old.signed.version
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        if new.signed.expires <= self.now {
            return Err(refuse(
                SNAPSHOT_FREEZE,
                format!("{name} (v{}) expired at {}; update start time {}", new.signed.version, new.signed.expires, self.now),
            ));
        }
        self.snapshot = Some(new);
        Ok(())
    }

    /// TUF §5.6.1–5.6.5 for `role`, signed by `keys` at `threshold`.
    fn load_targets(&mut self, repo: &dyn Repository, role: &str, keys: &[ListedKey], threshold: u64) -> Result<(), TufError> {
        if self.targets.contains_key(role) {
            return Ok(());
        }
        if !safe_path(role) || role.contains('/') {
            return Err(refuse(TARGET_PATH, format!("role name {role:?} cannot name a metadata file")));
        }
        let snap = self.snapshot.as_ref().expect("snapshot is updated first");
        let file = format!("{role}.json");
        let mf = snap
            .signed
            .meta
            .get(&file)
            .cloned()
            .ok_or_else(|| refuse(DELEGATION_SEARCH, format!("snapshot v{} does not list {file}", snap.signed.version)))?;
        let name = if self.consistent() { format!("{}.{file}", mf.version) } else { file.clone() };
        let bytes = fetch_meta(repo, &name, mf.length.unwrap_or(self.limits.targets), "TUF 5.6.1", TARGETS_LENGTH)?;
        verify_length_hashes(TARGETS_LENGTH, TARGETS_HASHES, &name, &bytes, mf.length, mf.hashes.as_ref())?;
        let (sigs, signed, canon) = parse_envelope(&name, &bytes)?;
        check_type(&name, &signed, "targets")?;
        check_threshold(TARGETS_SIGNATURES, &name, keys, threshold, &sigs, &canon)?;
        let t: TargetsMeta = typed(&name, signed)?;
        if t.version != mf.version {
            return Err(refuse(TARGETS_VERSION, format!("{name} has version {}, snapshot lists {}", t.version, mf.version)));
        }
        if t.expires <= self.now {
            return Err(refuse(
                TARGETS_FREEZE,
                format!("{name} (v{}) expired at {}; update start time {}", t.version, t.expires, self.now),
            ));
        }
        self.targets.insert(role.to_string(), Meta { signed: t, bytes });
        Ok(())
    }

    /// TUF §5.6: top-level targets.
    pub fn update_targets(&mut self, repo: &dyn Repository) -> Result<(), TufError> {
        let (keys, threshold) = root_role_keys(&self.root.signed, "targets")?;
        self.load_targets(repo, "targets", &keys, threshold)
    }

    /// §5.3–§5.6 in order.
    pub fn refresh(&mut self, repo: &dyn Repository) -> Result<(), TufError> {
        self.update_root(repo)?;
        self.update_timestamp(repo)?;
        self.update_snapshot(repo)?;
        self.update_targets(repo)
    }

    /// TUF §5.6.7: pre-order depth-first search of the delegation graph for `target`.
    pub fn find_target(&mut self, repo: &dyn Repository, target: &str) -> Result<TargetFile, TufError> {
        if !safe_path(target) {
            return Err(refuse(TARGET_PATH, format!("target name {target:?} is not a safe relative path")));
        }
        self.update_targets(repo)?;
        let mut stack: Vec<(String, Vec<ListedKey>, u64)> = vec![("targets".into(), Vec::new(), 0)];
        let mut visited = BTreeSet::new();
        let mut budget = self.limits.delegations;
        while let Some((role, keys, threshold)) = stack.pop() {
            if budget == 0 {
                return Err(refuse(DELEGATION_SEARCH, format!("{target}: more than {} targets roles visited", self.limits.delegations)));
            }
            if !visited.insert(role.clone()) {
                continue;
            }
            if role != "targets" {
                self.load_targets(repo, &role, &keys, threshold)?;
            }
            self.trail.visited.push(role.clone());
            budget -= 1;
            let meta = &self.targets[&role].signed;
            if let Some(t) = meta.targets.get(target) {
                return Ok(t.clone());
            }
            if let Some(d) = &meta.delegations {
                let mut children = Vec::new();
                for r in &d.roles {
                    if !delegation_covers(r, target) {
                        continue;
                    }
                    let keys = role_keys(&d.keys, &r.name, &r.keyids, r.threshold, &format!("delegation from {role}"))?;
                    children.push((r.name.clone(), keys, r.threshold));
                    if r.terminating {
                        stack.clear();
                        break;
                    }
                }
                children.reverse();
                stack.extend(children);
            }
        }
        Err(refuse(
            TARGET_UNKNOWN,
            format!("no trusted targets metadata describes {target:?} (searched {})", self.trail.visited.join(", ")),
        ))
    }

    /// TUF §5.7: reads the target (by hash-prefixed name under consistent snapshots) and checks
    /// its length and hashes.
    pub fn fetch_target(&self, repo: &dyn Repository, target: &str, info: &TargetFile) -> Result<Vec<u8>, TufError> {
        if info.length > self.limits.target {
            return Err(refuse(
                TARGET_LENGTH,
                format!("{target} is listed at {} bytes; at most {} are accepted", info.length, self.limits.target),
            ));
        }
        let names: Vec<String> = if self.consistent() {
            let (dir, base) = match target.rsplit_once('/') {
                Some((d, b)) => (format!("{d}/"), b),
                None => (String::new(), target),
            };
            info.hashes.values().map(|h| format!("{dir}{h}.{base}")).collect()
        } else {
            vec![target.to_string()]
        };
        for name in &names {
            if !safe_path(name) {
                return Err(refuse(TARGET_PATH, format!("target file name {name:?} is not a safe relative path")));
            }
            match repo.target(name, info.length) {
                Ok(Some(bytes)) => {
                    verify_length_hashes(TARGET_LENGTH, TARGET_HASHES, target, &bytes, Some(info.length), Some(&info.hashes))?;
                    if !info.hashes.keys().any(|a| a == "sha256" || a == "sha512") {
                        return Err(refuse(TARGET_HASHES, format!("{target} lists no sha256 or sha512 hash")));
                    }
                    return Ok(bytes);
                }
                Ok(None) => continue,
                Err(FetchError::TooLarge { .. }) => {
                    return Err(refuse(
                        TARGET_LENGTH,
                        format!("{target} ({name}) is longer than the {} bytes its metadata lists", info.length),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TufError::Missing { name: names.join(" or "), step: "TUF 5.7.3" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(paths: &[&str]) -> DelegatedRole {
        DelegatedRole {
            name: "r".into(),
            keyids: vec![],
            threshold: 1,
            terminating: false,
            paths: Some(paths.iter().map(|s| s.to_string()).collect()),
            path_hash_prefixes: None,
        }
    }

    #[test]
    fn path_patterns_follow_the_spec_examples() {
        assert!(delegation_covers(&role(&["targets/*.tgz"]), "targets/foo.tgz"));
        assert!(!delegation_covers(&role(&["targets/*.tgz"]), "targets/foo.txt"));
        assert!(delegation_covers(&role(&["foo-version-?.tgz"]), "foo-version-a.tgz"));
        assert!(!delegation_covers(&role(&["foo-version-?.tgz"]), "foo-version-alpha.tgz"));
        assert!(!delegation_covers(&role(&["*.tgz"]), "targets/foo.tgz"));
        assert!(delegation_covers(&role(&["foo.tgz"]), "foo.tgz"));
        assert!(delegation_covers(&role(&["v[0-9].json"]), "v7.json"));
        assert!(!delegation_covers(&role(&["v[!0-9].json"]), "v7.json"));
    }

    #[test]
    fn path_patterns_edge_cases() {
        let m = |p: &str, s: &str| glob_segment(&p.chars().collect::<Vec<_>>(), &s.chars().collect::<Vec<_>>());
        for (p, s, want) in [
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcd", false),
            ("*a", "aaa", true),
            ("*ab", "aab", true),
            ("a*", "a", true),
            ("??", "a", false),
            ("[]]x", "]x", true),
            ("[!]]x", "]x", false),
            ("[ab", "[ab", true),
            ("*[0-9]", "v12", true),
            ("**x**", "aax", true),
        ] {
            assert_eq!(m(p, s), want, "{p:?} against {s:?}");
        }
    }

    #[test]
    fn path_patterns_take_linear_time_and_no_stack() {
        // Before: a million `*` overflowed the stack; ~22 `*` before a mismatch took minutes.
        let name = "a".repeat(4096);
        let many = format!("{}b", "*".repeat(1_000_000));
        assert!(!delegation_covers(&role(&[&many]), &name));
        let spaced = format!("{}b", "a*".repeat(30));
        assert!(!delegation_covers(&role(&[&spaced]), &name));
        assert!(delegation_covers(&role(&[&format!("{}a", "*".repeat(30))]), &name));
    }

    #[test]
    fn unsafe_paths_refused() {
        for p in ["", "/etc/passwd", "a/../b", "./a", "a//b", "a\\b", ".."] {
            assert!(!safe_path(p), "{p}");
        }
        assert!(safe_path("dir/file.json"));
    }

    #[test]
    fn rules_have_sections() {
        assert!(ALL_RULES.iter().all(|r| !r.section.is_empty() && !r.title.is_empty()));
        assert_eq!(TIMESTAMP_FREEZE.to_string(), "TUF 5.4.4 (timestamp must not be expired: freeze attack)");
    }
}
