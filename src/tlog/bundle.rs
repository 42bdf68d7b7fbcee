//! How a bundle proves that its signed manifest was logged (`format-spec/transparency-v1.md`).
//!
//! The **logged entry** is a short text derived from the manifest bytes only (so it exists
//! before any proof does, and fits a tlog-tiles entry's u16 length):
//!
//! ```text
//! airlock-bundle-manifest/v1
//! product <release.product>
//! version <release.version>
//! bundle-id <bundleId>
//! manifest sha256:<hex SHA-256 of manifest.json, the exact DSSE payload bytes>
//! ```
//!
//! The evidence is the archive member [`PROOF_MEMBER`], a C2SP tlog-proof of that entry. It is
//! *not* listed in the manifest (it cannot be: it proves the manifest), like the control
//! members; it authenticates itself through the log's signature and the inclusion proof.
//!
//! [`check_bundle_transparency`] decides one [`TransparencyOutcome`]: verified, missing,
//! unverifiable (cannot be checked offline with this trust), or failed (checked and wrong). No
//! path returns a silent pass.

use super::checkpoint::{Checkpoint, VerifiedCheckpoint, verify_checkpoint};
use super::proof::TlogProof;
use super::tiles::{Exactness, TileReader, TiledTree, check_consistency};
use super::{LogTrust, TlogError, b64};
use crate::bundle::manifest::Manifest;
use crate::digest::Sha256Digest;
use crate::merkle::Hash;
use crate::report::{Check, Status};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The archive member holding the manifest's tlog-proof (outside the manifest's member set).
pub const PROOF_MEMBER: &str = crate::bundle::TLOG_PROOF;
/// First line of the logged entry.
pub const ENTRY_HEADER: &str = "airlock-bundle-manifest/v1";
/// Largest proof member read.
pub const MAX_PROOF_MEMBER: u64 = super::proof::MAX_PROOF_SIZE as u64;

/// The logged entry for a manifest. `manifest_bytes` must be the bytes `manifest` was parsed
/// from (manifest.json, identical to the DSSE payload).
pub fn logged_entry(manifest: &Manifest, manifest_bytes: &[u8]) -> Vec<u8> {
    format!(
        "{ENTRY_HEADER}\nproduct {}\nversion {}\nbundle-id {}\nmanifest {}\n",
        manifest.release.product,
        manifest.release.version,
        manifest.bundle_id,
        Sha256Digest::of(manifest_bytes).prefixed()
    )
    .into_bytes()
}

/// A cached log for one origin, as the shell's store holds it.
pub struct CachedLog {
    /// The latest verified checkpoint note, as received.
    pub note: Vec<u8>,
    /// When airlock imported it.
    pub imported_at: Timestamp,
    /// The cached tiles of that tree.
    pub tiles: Box<dyn TileReader>,
}

/// Read access to the local transparency cache (implemented by `store::tlog`).
pub trait CheckpointCache {
    /// The latest cached checkpoint for `origin`. `Err`: the cache could not be read.
    fn latest(&self, origin: &str) -> Result<Option<CachedLog>, String>;
}

/// Evidence of a split view: two authentic checkpoints of one origin that cannot both be true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkEvidence {
    /// Origin.
    pub origin: String,
    /// The checkpoint airlock held (note bytes).
    pub cached: Vec<u8>,
    /// The checkpoint presented (note bytes).
    pub presented: Vec<u8>,
    /// Why they are inconsistent.
    pub detail: String,
}

impl ForkEvidence {
    /// The evidence file: RFC 8785 JSON, schema `airlock/tlog-fork-evidence/v1`.
    pub fn to_json(&self, detected_at: Timestamp) -> Vec<u8> {
        let v = serde_json::json!({
            "schema": "airlock/tlog-fork-evidence/v1",
            "origin": self.origin,
            "detectedAt": detected_at.rfc3339(),
            "detail": self.detail,
            "cachedCheckpoint": String::from_utf8_lossy(&self.cached),
            "presentedCheckpoint": String::from_utf8_lossy(&self.presented),
        });
        let mut out = crate::json::canonical_value(&v);
        out.push(b'\n');
        out
    }
}

/// How the proof's checkpoint relates to the local cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CacheRelation {
    /// No cached checkpoint for this origin.
    NotCached,
    /// The cached checkpoint is at least as large and consistent with the proof's.
    Consistent {
        /// Cached size.
        #[serde(rename = "cachedSize")]
        cached_size: u64,
        /// When it was imported.
        #[serde(rename = "importedAt")]
        imported_at: Timestamp,
    },
    /// The proof's checkpoint is newer than the cache: full consistency cannot be checked
    /// offline, but the inclusion proof's hashes that cover only cached leaves were compared
    /// with the cached tree and agree.
    ProofNewer {
        /// Cached size.
        #[serde(rename = "cachedSize")]
        cached_size: u64,
        /// How many of the proof's hashes (the leaf and its siblings) lie inside the cached tree
        /// and were found equal there.
        #[serde(rename = "sharedHashes")]
        shared_hashes: usize,
    },
    /// The cached checkpoint does not verify under the current trust; it was not used.
    Unusable {
        /// Why.
        why: String,
    },
}

/// What a verified proof established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparencyVerified {
    /// Log origin.
    pub origin: String,
    /// Entry index.
    pub index: u64,
    /// Checkpoint tree size.
    pub checkpoint_size: u64,
    /// Checkpoint root (base64).
    pub root: String,
    /// Log keys that signed.
    pub log_keys: Vec<String>,
    /// Witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
    /// Seconds since the newest trusted cosignature; `None` when none carries a time.
    pub age_secs: Option<u64>,
    /// Time of the newest trusted cosignature (what dates the checkpoint); `None` when none
    /// carries a time.
    pub checkpoint_time: Option<Timestamp>,
    /// Lowercase hex RFC 6962 leaf hash of the logged entry: its identity in any RFC 6962 log
    /// (a Rekor entry UUID without its tree-id prefix).
    pub entry_id: String,
    /// SHA-256 of the proof member's bytes, as verification read them.
    pub proof_digest: Sha256Digest,
    /// Relation to the local cache.
    pub cache: CacheRelation,
}

/// The transparency outcome of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransparencyOutcome {
    /// The manifest's entry is proven included in an authentic checkpoint.
    Verified(TransparencyVerified),
    /// The bundle carries no transparency evidence.
    Missing,
    /// Evidence is present but cannot be checked offline with this trust.
    Unverifiable {
        /// Why.
        why: String,
    },
    /// Evidence was checked and is wrong (tampered, another manifest, a fork).
    Failed {
        /// The rule that failed.
        rule: &'static str,
        /// The error message.
        detail: String,
        /// Set when the proof's checkpoint and the cache disagree: the shell writes it.
        fork: Option<ForkEvidence>,
    },
}

impl TransparencyOutcome {
    /// A stable name: `verified`, `missing`, `unverifiable`, `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            TransparencyOutcome::Verified(_) => "verified",
            TransparencyOutcome::Missing => "missing",
            TransparencyOutcome::Unverifiable { .. } => "unverifiable",
            TransparencyOutcome::Failed { .. } => "failed",
        }
    }

    /// The report check (`transparency`). Verified passes; failed fails; missing and
    /// unverifiable are recorded as `info` (the promotion gate decides) unless `require`, which
    /// makes them fail.
    pub fn to_check(&self, require: bool) -> Check {
        let gate = |c: Check| if require { c } else { c.info() };
        match self {
            TransparencyOutcome::Verified(v) => Check::new(
                "transparency",
                true,
                format!(
                    "manifest logged in {} at index {} (checkpoint size {}, {}{}{})",
                    v.origin,
                    v.index,
                    v.checkpoint_size,
                    match &v.age_secs {
                        Some(a) => format!("newest cosignature {a} s old"),
                        None => "no witness cosignature".into(),
                    },
                    if v.witnesses.is_empty() { String::new() } else { format!(", witnesses {}", v.witnesses.join(" ")) },
                    match &v.cache {
                        CacheRelation::NotCached => ", origin not in the local cache".to_string(),
                        CacheRelation::Consistent { cached_size, .. } => format!(", consistent with cached size {cached_size}"),
                        CacheRelation::ProofNewer { cached_size, shared_hashes } => format!(
                            ", newer than cached size {cached_size}: agrees with the cache on {shared_hashes} shared hash(es), full consistency not checked"
                        ),
                        CacheRelation::Unusable { why } => format!(", cache not used: {why}"),
                    }
                ),
            )
            .subject(v.origin.clone())
            .values("verified", "verified"),
            TransparencyOutcome::Missing => gate(
                Check::new("transparency", false, format!("transparency: missing (no {PROOF_MEMBER} member)"))
                    .values("verified", "missing"),
            ),
            TransparencyOutcome::Unverifiable { why } => {
                gate(Check::new("transparency", false, format!("transparency: unverifiable: {why}")).values("verified", "unverifiable"))
            }
            TransparencyOutcome::Failed { rule, detail, .. } => {
                Check::new("transparency", false, format!("transparency: failed: {detail}")).subject(*rule).values("verified", "failed")
            }
        }
    }

    /// Whether the check would fail verification.
    pub fn fails(&self, require: bool) -> bool {
        self.to_check(require).status == Status::Fail
    }
}

fn failed(e: TlogError) -> TransparencyOutcome {
    TransparencyOutcome::Failed { rule: e.rule(), detail: e.to_string(), fork: None }
}

/// Checks a bundle's transparency evidence. `proof_member`: the bytes of [`PROOF_MEMBER`] if
/// the archive holds it. `trust`: the log trust (`None`: none configured). `cache`: the local
/// cache, for consistency with a newer cached checkpoint. `now`: for the age.
pub fn check_bundle_transparency(
    manifest: &Manifest,
    manifest_bytes: &[u8],
    proof_member: Option<&[u8]>,
    trust: Option<&LogTrust>,
    cache: Option<&dyn CheckpointCache>,
    now: Timestamp,
) -> TransparencyOutcome {
    let Some(bytes) = proof_member else { return TransparencyOutcome::Missing };
    let proof = match TlogProof::parse(bytes) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let entry = logged_entry(manifest, manifest_bytes);
    // A proof no trusted log speaks for is unverifiable, unless it does not even hold together
    // (a damaged hash, index or root): then it fails, whoever is trusted.
    let unverifiable = |why: String| match proof.check_unauthenticated(&entry) {
        Ok(()) => TransparencyOutcome::Unverifiable { why },
        Err(e) => failed(e),
    };
    let Some(trust) = trust.filter(|t| !t.is_empty()) else {
        return unverifiable("no transparency log is trusted (trust root tlog role or --log-key); the proof cannot be checked".into());
    };
    let verified = match proof.verify_entry(&entry, trust) {
        Ok(v) => v,
        Err(e @ (TlogError::UntrustedOrigin { .. } | TlogError::NotSignedByLog { .. } | TlogError::QuorumNotMet { .. })) => {
            return unverifiable(e.to_string());
        }
        Err(e) => return failed(e),
    };
    let cp = &verified.checkpoint;
    if let Err(e) = cp.check_times(now) {
        return failed(e);
    }
    let c = &cp.checkpoint;
    let path = InclusionPath { index: verified.index, leaf: verified.leaf_hash, hashes: &proof.hashes };
    let relation = match cache.map(|k| check_against_cache(cp, Some(&path), trust, k)) {
        None => CacheRelation::NotCached,
        Some(CacheCheck::Related(r)) => r,
        Some(CacheCheck::Fork(e, ev)) => return TransparencyOutcome::Failed { rule: e.rule(), detail: e.to_string(), fork: Some(ev) },
        Some(CacheCheck::Unverifiable(why)) => return TransparencyOutcome::Unverifiable { why },
    };
    let newest = cp.newest_cosignature();
    // Never more than the skew ahead (checked above): a cosignature within it counts as 0 s old.
    let age_secs = newest.map(|t| (now.0.max(0) as u64).saturating_sub(t));
    TransparencyOutcome::Verified(TransparencyVerified {
        origin: c.origin.clone(),
        index: verified.index,
        checkpoint_size: c.size,
        root: b64(&c.root),
        log_keys: cp.log_keys.clone(),
        witnesses: cp.witnesses.iter().map(|w| w.witness.clone()).collect(),
        age_secs,
        checkpoint_time: newest.map(|t| Timestamp(t.min(i64::MAX as u64) as i64)),
        entry_id: hex::encode(verified.leaf_hash),
        proof_digest: Sha256Digest::of(bytes),
        cache: relation,
    })
}

/// The result of comparing an authentic checkpoint with the cache.
#[derive(Clone, Debug)]
pub enum CacheCheck {
    /// Consistent, not cached, newer, or cache unusable.
    Related(CacheRelation),
    /// The cache holds an authentic checkpoint inconsistent with this one.
    Fork(TlogError, ForkEvidence),
    /// The cache could not be read or could not prove consistency.
    Unverifiable(String),
}

/// A verified inclusion proof in a checkpoint's tree: the entry's index, its leaf hash and the
/// RFC 9162 audit path (leaf sibling first).
#[derive(Clone, Copy, Debug)]
pub struct InclusionPath<'a> {
    /// Entry index.
    pub index: u64,
    /// Leaf hash of the entry.
    pub leaf: Hash,
    /// Audit path, as in the proof.
    pub hashes: &'a [Hash],
}

/// Compares an authentic checkpoint with the cached checkpoint of its origin: a cached tree at
/// least as large must be consistent with it (proof from the cached tiles). A smaller cached
/// tree cannot prove consistency with a newer checkpoint, but when `path` (a verified inclusion
/// proof under `cp`) is given, every hash of it that covers only leaves the cached tree holds
/// (the leaf itself, and siblings ending at or below the cached size, which are complete
/// subtrees in any tree that extends the cached one) must equal the cached tree's: a difference
/// is a fork.
pub fn check_against_cache(
    cp: &VerifiedCheckpoint,
    path: Option<&InclusionPath<'_>>,
    trust: &LogTrust,
    cache: &dyn CheckpointCache,
) -> CacheCheck {
    let c = &cp.checkpoint;
    let cached = match cache.latest(&c.origin) {
        Err(e) => return CacheCheck::Unverifiable(format!("the transparency cache cannot be read: {e}")),
        Ok(None) => return CacheCheck::Related(CacheRelation::NotCached),
        Ok(Some(x)) => x,
    };
    match verify_checkpoint(&cached.note, trust) {
        Err(e) => CacheCheck::Related(CacheRelation::Unusable { why: e.to_string() }),
        Ok(cc) if cc.checkpoint.size < c.size => {
            let shared = match path {
                None => Ok(0),
                Some(p) => shared_path_hashes(c, &cc.checkpoint, p, cached.tiles.as_ref()),
            };
            match shared {
                Ok(n) => CacheCheck::Related(CacheRelation::ProofNewer { cached_size: cc.checkpoint.size, shared_hashes: n }),
                Err(e @ TlogError::Fork { .. }) => {
                    let ev =
                        ForkEvidence { origin: c.origin.clone(), cached: cached.note, presented: cp.bytes.clone(), detail: e.to_string() };
                    CacheCheck::Fork(e, ev)
                }
                Err(e) => CacheCheck::Unverifiable(format!("the cache cannot check the proof's path against the cached tree: {e}")),
            }
        }
        Ok(cc) => match check_consistency(c, &cc.checkpoint, cached.tiles.as_ref()) {
            Ok(()) => CacheCheck::Related(CacheRelation::Consistent { cached_size: cc.checkpoint.size, imported_at: cached.imported_at }),
            Err(e @ TlogError::Fork { .. }) => {
                let ev = ForkEvidence { origin: c.origin.clone(), cached: cached.note, presented: cp.bytes.clone(), detail: e.to_string() };
                CacheCheck::Fork(e, ev)
            }
            Err(e) => CacheCheck::Unverifiable(format!("the cache cannot prove consistency: {e}")),
        },
    }
}

/// Compares the hashes of `path` (an inclusion proof in `newer`'s tree) that cover only leaves
/// below `cached.size` with the cached tree's; returns how many were compared. A difference is
/// a [`TlogError::Fork`] (cached = old, newer = new).
fn shared_path_hashes(
    newer: &Checkpoint,
    cached: &Checkpoint,
    path: &InclusionPath<'_>,
    tiles: &dyn TileReader,
) -> Result<usize, TlogError> {
    let n = cached.size;
    if n == 0 || path.index >= newer.size {
        return Ok(0);
    }
    // The subtree each path hash stands for, recorded in proof order.
    let mut ranges = Vec::new();
    let _ = crate::merkle::inclusion_proof_with::<()>(newer.size, path.index, &mut |lo, hi| {
        ranges.push((lo, hi));
        Ok([0; 32])
    });
    ranges.reverse();
    if ranges.len() != path.hashes.len() {
        return Ok(0);
    }
    let tree = TiledTree::new(tiles, n, Exactness::Prefix);
    let mut items: Vec<((u64, u64), &Hash)> = ranges.into_iter().zip(path.hashes.iter()).collect();
    items.push(((path.index, path.index + 1), &path.leaf));
    let mut shared = 0;
    for ((lo, hi), h) in items.into_iter().filter(|((_, hi), _)| *hi <= n) {
        let mine = tree.range_hash(lo, hi)?;
        if &mine != h {
            return Err(TlogError::Fork {
                origin: newer.origin.clone(),
                old_size: n,
                old_root: b64(&cached.root),
                new_size: newer.size,
                new_root: b64(&newer.root),
                detail: format!(
                    "the inclusion proof of entry {} gives leaves [{lo}, {hi}) the hash {}; the cached tree has {}",
                    path.index,
                    b64(h),
                    b64(&mine)
                ),
            });
        }
        shared += 1;
    }
    Ok(shared)
}

/// For `pack --tlog-proof` (no trust needed): the proof parses, names `origin` if given, and
/// its inclusion proof puts this manifest's logged entry under its own checkpoint's root. It
/// does not say the checkpoint is authentic; `verify` does that.
pub fn proof_matches_manifest(manifest: &Manifest, manifest_bytes: &[u8], proof_bytes: &[u8]) -> Result<Checkpoint, TlogError> {
    let proof = TlogProof::parse(proof_bytes)?;
    let note = super::note::Note::parse(&proof.checkpoint)?;
    let c = Checkpoint::parse(&note.text)?;
    let leaf = crate::merkle::leaf_hash(&logged_entry(manifest, manifest_bytes));
    crate::merkle::verify_inclusion(&leaf, proof.index, c.size, &proof.hashes, &c.root).map_err(|e| TlogError::Inclusion {
        origin: c.origin.clone(),
        index: proof.index,
        size: c.size,
        detail: format!("{e} (is this proof for this bundle's manifest?)"),
    })?;
    Ok(c)
}
