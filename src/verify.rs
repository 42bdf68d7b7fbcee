//! Bundle verification, in the order `format-spec/bundle-v1.md` §8 fixes. The only way to get a
//! [`Verified`] value is [`verify`] returning [`Verification::Passed`]; later stages (policy,
//! promotion, smoke) accept only that type.

use crate::archive::{self, ArchiveError, ArchiveIndex, ByteSource, Entry, Format, Limits, Method, Rule};
use crate::bundle::manifest::{self, Manifest, ManifestError};
use crate::bundle::{CHECKSUMS, CONTROL, ENVELOPE, MANIFEST, MAX_CONTROL_SIZE, PAYLOAD_TYPE_PREFIX, PAYLOAD_TYPE_V1, checksums};
use crate::digest::{Sha256Digest, StreamHasher};
use crate::dsse::{DsseError, Envelope};
use crate::keys::{KeyId, PublicKey};
use crate::report::{Check, Outcome};
use crate::signed::{Labels, Signatures};
use crate::time::Timestamp;
use crate::tlog::LogTrust;
use crate::tlog::bundle::{self as tlog_bundle, CheckpointCache, PROOF_MEMBER, TransparencyOutcome};
use crate::trust::role::RoleKeys;
use crate::trust::root::{TrustRoot, VerifiedRoot};
use crate::trust::state::{self, BundleFacts, BundleRole, EvalTime, Record, RootFacts, State};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Could not verify (exit 2): the input is malformed, hostile, of an unknown version, or the
/// trust configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The archive was refused by the strict walker or could not be read.
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    /// A control member is absent.
    #[error("bundle has no {0}; a v1 bundle holds manifest.json, manifest.dsse.json and checksums.txt at its root")]
    MissingControl(&'static str),
    /// A control member or the transparency proof is deflated: nothing signs their stored
    /// bytes, so they must be stored as they are (one encoding per bundle).
    #[error(
        "{0} is deflated; control members and the transparency proof must be stored (zip method 0), so that no second encoding of the same bytes exists"
    )]
    CompressedControl(String),
    /// The envelope could not be parsed.
    #[error("manifest.dsse.json: {0}")]
    Envelope(#[from] DsseError),
    /// payloadType names a manifest version this binary does not read.
    #[error(
        "bundle format version {found} (payloadType {payload_type:?}) is not supported; this airlock reads versions {}",
        manifest::versions()
    )]
    UnknownVersion {
        /// Version text found.
        found: String,
        /// The payloadType.
        payload_type: String,
    },
    /// payloadType is not an airlock manifest at all.
    #[error("manifest.dsse.json payloadType is {0:?}, not an airlock bundle manifest ({PAYLOAD_TYPE_V1})")]
    PayloadType(String),
    /// The manifest could not be read.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// No keys, or a threshold that can never be met.
    #[error("trust configuration unusable: {0}")]
    Trust(String),
}

/// The ids of the checks [`examine`] reports, in the order of format-spec/bundle-v1.md §9
/// (the `"type": "check"` entries of format-spec/rules-v1.json). The checks
/// [`Examined::conclude`] adds (trust root, anti-rollback state, detached signatures) are
/// defined in trust-root/README.md and are not rules of the bundle format.
pub const CHECK_IDS: &[&str] = &[
    "archive.structure",
    "manifest.format",
    "manifest.payload-agreement",
    "signature",
    "signature.threshold",
    "manifest.merkle-root",
    "manifest.bundle-id",
    "member.unlisted",
    "member.missing",
    "members.set",
    "checksums.line",
    "checksums.unlisted",
    "checksums.digest",
    "checksums.missing",
    "checksums.agreement",
    "member.digest",
    "member.crc",
    "member.deflate-padding",
    "member.deflate-stream",
    "transparency",
];

/// The error kinds that are not a walker [`Rule`] or a manifest rule.
const OWN_ERROR_KINDS: &[&str] = &[
    "trust.unusable",
    "bundle.missing-control",
    "bundle.compressed-control",
    "envelope.malformed",
    "envelope.payload-type",
    "format.unknown-version",
    "manifest.malformed",
];

/// Every error kind [`VerifyError::kind`] gives (exit 2; the `"type": "error"` entries of
/// format-spec/rules-v1.json): the archive rules, the kinds of this module, and
/// `manifest.<rule>` for each manifest rule. Not `io`, which names the environment (a file that
/// cannot be read), not a rule of the format.
pub fn error_kinds() -> Vec<String> {
    Rule::ALL
        .iter()
        .map(|r| r.id().to_string())
        .chain(OWN_ERROR_KINDS.iter().map(|k| k.to_string()))
        .chain(manifest::RULES.iter().map(|r| format!("manifest.{r}")))
        .collect()
}

impl VerifyError {
    /// A stable kind for reports and vectors: one of [`error_kinds`], or `io`.
    pub fn kind(&self) -> String {
        let kind = self.kind_unchecked();
        debug_assert!(kind == "io" || error_kinds().contains(&kind), "error kind {kind} is missing from error_kinds()");
        kind
    }

    fn kind_unchecked(&self) -> String {
        match self {
            VerifyError::Archive(e) => e.rule().map(|r| r.id().to_string()).unwrap_or_else(|| "io".into()),
            VerifyError::MissingControl(_) => "bundle.missing-control".into(),
            VerifyError::CompressedControl(_) => "bundle.compressed-control".into(),
            VerifyError::Envelope(_) => "envelope.malformed".into(),
            VerifyError::UnknownVersion { .. } => "format.unknown-version".into(),
            VerifyError::PayloadType(_) => "envelope.payload-type".into(),
            VerifyError::Manifest(ManifestError::UnknownVersion { .. }) => "format.unknown-version".into(),
            VerifyError::Manifest(ManifestError::Invalid { rule, .. }) => format!("manifest.{rule}"),
            VerifyError::Manifest(_) => "manifest.malformed".into(),
            VerifyError::Trust(_) => "trust.unusable".into(),
        }
    }

    /// One line saying what to try.
    pub fn hint(&self) -> &'static str {
        match self {
            VerifyError::Archive(ArchiveError::Io(_)) => "check the path and that the file is readable",
            VerifyError::Archive(_) => "do not use this bundle; obtain it again from its publisher and compare its digest",
            VerifyError::UnknownVersion { .. } | VerifyError::Manifest(ManifestError::UnknownVersion { .. }) => {
                "use an airlock release that reads this format version"
            }
            VerifyError::Trust(_) => "pass --key PUB at least --threshold times",
            _ => "the bundle is malformed; re-create it with `airlock pack` or obtain it again",
        }
    }
}

/// The keys (Ed25519 or P-256) and threshold a verification trusts to sign the manifest.
#[derive(Clone, Debug)]
pub struct TrustPolicy {
    /// The signing role: a root's `release` role, or `--key` keys.
    pub role: RoleKeys,
    /// Where the keys came from, for the report.
    pub source: String,
}

impl TrustPolicy {
    /// A role's keys as bundle trust.
    pub fn new(role: RoleKeys, source: impl Into<String>) -> Self {
        TrustPolicy { role, source: source.into() }
    }

    /// Ed25519 keys as bundle trust (`--key`, tests, pack's self-check).
    pub fn ed25519(keys: impl IntoIterator<Item = PublicKey>, threshold: usize, source: impl Into<String>) -> Self {
        Self::new(RoleKeys::ed25519(keys, threshold), source)
    }

    fn check(&self) -> Result<(), VerifyError> {
        self.role.check_usable().map_err(|e| VerifyError::Trust(e.to_string()))
    }
}

/// How the manifest's signature checks are named (format-spec/bundle-v1.md §8 step 3).
fn manifest_labels() -> Labels {
    Labels {
        signature: "signature",
        threshold: "signature.threshold",
        document: "the manifest".into(),
        signers: "trusted keys".into(),
        subject: None,
    }
}

/// Options.
#[derive(Clone)]
pub struct Options<'a> {
    /// Archive caps.
    pub limits: Limits,
    /// Hashing threads (0 or 1 = sequential).
    pub threads: usize,
    /// The command's one evaluation time: the clock read once, or a time the operator fixed.
    /// Proof age, root expiry and anti-rollback are all judged at it.
    pub time: EvalTime,
    /// What transparency evidence is checked against.
    pub transparency: TransparencyInputs<'a>,
}

impl Default for Options<'_> {
    /// Default caps, one thread, no transparency trust, evaluated at a fixed time of 0 (the
    /// epoch): library callers that judge time set [`Options::time`].
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            threads: 1,
            time: EvalTime::OperatorFixed { at: Timestamp(0), floor: Timestamp(0) },
            transparency: TransparencyInputs::default(),
        }
    }
}

/// Inputs of the transparency check (format-spec/transparency-v1.md §9).
#[derive(Clone, Default)]
pub struct TransparencyInputs<'a> {
    /// Trusted logs and witness policy; `None`: no log is trusted, a proof is `unverifiable`.
    pub trust: Option<&'a LogTrust>,
    /// The local checkpoint cache, for consistency with a newer cached checkpoint.
    pub cache: Option<&'a dyn CheckpointCache>,
    /// `--require-transparency`: missing or unverifiable evidence fails verification.
    pub require: bool,
}

/// A value only this module constructs: the bundle passed every check that decides, the
/// freshness and anti-rollback checks included when they were evaluated (see [`Basis`]).
///
/// Nothing outside the core can make one:
///
/// ```compile_fail,E0451
/// use airlock::verify::{Basis, Verified, VerifiedBundle};
/// fn forge(value: VerifiedBundle, basis: Basis) -> Verified<VerifiedBundle> {
///     Verified { value, basis }
/// }
/// ```
///
/// ```compile_fail,E0451
/// use airlock::verify::VerifiedBundle;
/// fn forge(manifest: airlock::bundle::manifest::Manifest, other: VerifiedBundle) -> VerifiedBundle {
///     VerifiedBundle { manifest, ..other }
/// }
/// ```
#[derive(Debug)]
pub struct Verified<T> {
    value: T,
    basis: Basis,
}

impl<T> Verified<T> {
    /// The verified value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// What the verification was checked under.
    pub fn basis(&self) -> &Basis {
        &self.basis
    }

    /// The time the verification was evaluated at (the command's one clock read, or `--at-time`).
    pub fn evaluated_at(&self) -> Timestamp {
        self.basis.time.instant()
    }
}

/// The trust a verification was checked under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TrustBasis {
    /// A trust root's release role.
    #[serde(rename_all = "camelCase")]
    Root {
        /// Root version.
        version: u64,
        /// SHA-256 of the root file.
        fingerprint: Sha256Digest,
    },
    /// Keys given ad hoc (`--key`), by key id, and the threshold.
    Keys {
        /// Trusted key ids.
        keyids: Vec<String>,
        /// Distinct keys required.
        threshold: usize,
    },
}

/// Whether the freshness and anti-rollback checks were part of a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreshnessBasis {
    /// Evaluated against the anti-rollback state (the clock, root expiry and version, bundle
    /// order), and passed.
    Evaluated,
    /// Not evaluated: a library verification without a trust store (a packer checking its own
    /// output, a test). Commands always evaluate.
    NotEvaluated,
}

/// What a [`Verified`] value was checked under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basis {
    /// The trust.
    pub trust: TrustBasis,
    /// The evaluation time and whether the operator fixed it (`--at-time`).
    pub time: EvalTime,
    /// Whether freshness and anti-rollback were evaluated.
    pub freshness: FreshnessBasis,
}

/// What a passed verification established.
#[derive(Debug)]
pub struct VerifiedBundle {
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    signers: Vec<KeyId>,
    index: ArchiveIndex,
    transparency: TransparencyOutcome,
}

impl VerifiedBundle {
    /// The signed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The exact manifest bytes that were signed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }
    /// Trusted keys whose signatures counted.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }
    /// Where each member lives in the archive.
    pub fn index(&self) -> &ArchiveIndex {
        &self.index
    }
    /// Whether the signed manifest was proven logged, with the digest of the proof member
    /// verification read (the one read of it).
    pub fn transparency(&self) -> &TransparencyOutcome {
        &self.transparency
    }
}

/// The report of one verification. Owned and round-trippable: what `--json` prints reads back
/// into the same value. Its fields are read through accessors; only this module changes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyReport {
    schema: String,
    /// The bundle file as the caller named it (a path), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bundle: Option<String>,
    outcome: Outcome,
    format: Format,
    format_version: u64,
    bundle_id: String,
    release: manifest::Release,
    merkle_root: Sha256Digest,
    trust: TrustSummary,
    transparency: TransparencySummary,
    checks: Vec<Check>,
    /// The evaluation time and whether `--at-time` fixed it.
    evaluation: crate::trust::state::Evaluation,
}

impl VerifyReport {
    /// [`crate::report::VERIFY_REPORT_SCHEMA`].
    pub fn schema(&self) -> &str {
        &self.schema
    }
    /// The same report naming the bundle file it is about (a label; it decides nothing).
    pub fn named(mut self, bundle: impl Into<String>) -> Self {
        self.bundle = Some(bundle.into());
        self
    }
    /// The bundle file, when named.
    pub fn bundle(&self) -> Option<&str> {
        self.bundle.as_deref()
    }
    /// Pass or fail over every check.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// Archive flavour.
    pub fn format(&self) -> Format {
        self.format
    }
    /// Bundle id from the manifest.
    pub fn bundle_id(&self) -> &str {
        &self.bundle_id
    }
    /// Release identity.
    pub fn release(&self) -> &manifest::Release {
        &self.release
    }
    /// Manifest Merkle root.
    pub fn merkle_root(&self) -> &Sha256Digest {
        &self.merkle_root
    }
    /// The trust used.
    pub fn trust(&self) -> &TrustSummary {
        &self.trust
    }
    /// The transparency outcome.
    pub fn transparency(&self) -> &TransparencySummary {
        &self.transparency
    }
    /// Every check in verification order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.failed())
    }

    fn push(&mut self, more: impl IntoIterator<Item = Check>) {
        self.checks.extend(more);
        self.outcome = Outcome::of(&self.checks);
    }
}

/// The transparency part of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencySummary {
    /// `verified` | `missing` | `unverifiable` | `failed`.
    pub outcome: String,
    /// Log, index, checkpoint size, age, cache relation when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<tlog_bundle::TransparencyVerified>,
}

/// The trust part of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSummary {
    /// Where keys came from.
    pub source: String,
    /// Trusted key ids.
    pub keys: Vec<String>,
    /// Threshold.
    pub threshold: usize,
    /// Key ids whose signatures counted.
    pub signers: Vec<String>,
}

/// Result of a completed verification.
pub enum Verification {
    /// Every check passed.
    Passed(Box<Verified<VerifiedBundle>>, VerifyReport),
    /// At least one check failed.
    Failed(VerifyReport),
}

impl Verification {
    /// The report either way.
    pub fn report(&self) -> &VerifyReport {
        match self {
            Verification::Passed(_, r) | Verification::Failed(r) => r,
        }
    }

    /// The witness, when every check passed.
    pub fn verified(&self) -> Option<&Verified<VerifiedBundle>> {
        match self {
            Verification::Passed(v, _) => Some(v),
            Verification::Failed(_) => None,
        }
    }
}

/// Which `release` keys of a trust root may sign the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseSigners {
    /// The release role of the root in force, at its threshold (`verify`, `gate`, `smoke`, NEXT
    /// in `upgrade-validate`).
    InForce,
    /// The release role of any version of the verified history, at that version's threshold,
    /// keys revoked by the root in force not counting (CURRENT in `upgrade-validate`: it may
    /// have been signed before a rotation). Checked as `trust.release-history`.
    AnyVersion,
}

/// The trust root a verification's keys came from, for the checks that depend on it.
#[derive(Clone, Copy, Debug)]
pub struct RootContext<'a> {
    /// The root in force, verified.
    pub root: &'a VerifiedRoot,
    /// The verified history, oldest first, the root in force last (at least the root itself).
    pub history: &'a [TrustRoot],
    /// Which release keys may have signed.
    pub signers: ReleaseSigners,
}

/// The anti-rollback inputs of a verification.
#[derive(Clone, Debug)]
pub struct FreshnessInputs {
    /// The state as it is now (read under the store's lock by a recording caller).
    pub state: State,
    /// Whether a passing bundle and the clock are recorded into the next state.
    pub record: Record,
    /// Whether the bundle is a candidate for acceptance or the release being replaced.
    pub role: BundleRole,
    /// An intended downgrade and its reason (`--allow-downgrade REASON`).
    pub allow_downgrade: Option<String>,
}

/// Everything besides the bundle that decides a verification: checked by [`Examined::conclude`].
#[derive(Clone, Debug, Default)]
pub struct Conclusion<'a> {
    /// The root the trust came from, if any.
    pub root: Option<RootContext<'a>>,
    /// The anti-rollback state; `None` only for library verifications without a store.
    pub freshness: Option<FreshnessInputs>,
    /// Checks made outside the bundle's own bytes that decide too (a detached `.minisig`, a
    /// member signature by an upstream key, a trust note, fork evidence written).
    pub checks: Vec<Check>,
}

/// A concluded verification and the state to persist.
pub struct Concluded {
    /// The verdict.
    pub verification: Verification,
    /// The next anti-rollback state, when something is to be recorded.
    pub next_state: Option<State>,
}

/// The bundle's own checks, done; the verdict waits for [`Examined::conclude`]. Yields no
/// witness.
pub struct Examined {
    report: VerifyReport,
    passed: Option<VerifiedBundle>,
    created_at: Timestamp,
    envelope: Envelope,
    signers: Vec<KeyId>,
    fork: Option<tlog_bundle::ForkEvidence>,
    time: EvalTime,
    keys: TrustBasis,
}

impl Examined {
    /// The report so far.
    pub fn report(&self) -> &VerifyReport {
        &self.report
    }

    /// Two authentic, inconsistent checkpoints (a split view), for the shell to write down.
    pub fn fork_evidence(&self) -> Option<&tlog_bundle::ForkEvidence> {
        self.fork.as_ref()
    }

    /// The envelope as read.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Adds the checks that depend on the trust root, the anti-rollback state and what the
    /// caller checked outside the bundle, and decides. The only place a [`Verified`] is made.
    pub fn conclude(self, c: Conclusion<'_>) -> Concluded {
        let Examined { mut report, mut passed, created_at, mut envelope, signers, fork: _, mut time, keys } = self;
        // Under --at-time, expiry is never judged before a time the store has already seen.
        if let Some(f) = &c.freshness {
            time = time.with_floor(f.state.latest_known_time);
        }
        report.evaluation = time.evaluation();
        report.push(c.checks);
        let mut trust = keys;
        let mut root_facts = None;
        if let Some(rc) = c.root {
            let root = rc.root;
            if rc.signers == ReleaseSigners::AnyVersion && rc.history.len() > 1 && passed.is_some() {
                report.push([crate::trust::release_history_check(rc.history, &signers)]);
            }
            // Signatures by revoked or non-release keys of the root, named from the envelope read.
            report.push(crate::trust::foreign_signature_checks(root, &envelope));
            trust = TrustBasis::Root { version: root.version(), fingerprint: root.fingerprint() };
            root_facts = Some(RootFacts { version: root.version(), expires: root.expires() });
        }
        let mut next_state = None;
        let freshness = match &c.freshness {
            Some(f) => {
                // Bundle order is judged only for a bundle whose own checks passed.
                let facts = passed.as_ref().map(|_| BundleFacts {
                    release: &report.release,
                    created_at,
                    bundle_id: &report.bundle_id,
                    role: f.role,
                    downgrade: f.allow_downgrade.as_deref(),
                });
                let ok_so_far = passed.is_some() && report.outcome == Outcome::Pass;
                let fresh = state::evaluate(&f.state, root_facts, facts.as_ref(), time, ok_so_far, f.record);
                next_state = fresh.next;
                report.push(fresh.checks);
                FreshnessBasis::Evaluated
            }
            None => FreshnessBasis::NotEvaluated,
        };
        if let Some(value) = &mut passed {
            value.manifest_bytes = std::mem::take(&mut envelope.payload);
        }
        let verification = match passed {
            Some(value) if report.outcome == Outcome::Pass => {
                Verification::Passed(Box::new(Verified { value, basis: Basis { trust, time, freshness } }), report)
            }
            _ => Verification::Failed(report),
        };
        Concluded { verification, next_state }
    }
}

fn control<'a>(index: &'a ArchiveIndex, name: &'static str) -> Result<&'a Entry, VerifyError> {
    let e = index.get(name).ok_or(VerifyError::MissingControl(name))?;
    stored_only(e)
}

fn stored_only(e: &Entry) -> Result<&Entry, VerifyError> {
    match e.method {
        Method::Stored => Ok(e),
        Method::Deflate => Err(VerifyError::CompressedControl(e.name.clone())),
    }
}

/// Verifies a bundle with no trust root and no anti-rollback state: [`examine`] then
/// [`Examined::conclude`] with nothing more. The witness says freshness was not evaluated.
pub fn verify(
    src: &dyn ByteSource,
    trust: &TrustPolicy,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Verification, VerifyError> {
    Ok(examine(src, trust, opts, progress)?.conclude(Conclusion::default()).verification)
}

/// Checks a bundle's own bytes in the order of bundle-v1 §8: archive, envelope and version,
/// signatures, manifest, member set, `checksums.txt`, member digests, transparency. The verdict
/// waits for [`Examined::conclude`].
pub fn examine(
    src: &dyn ByteSource,
    trust: &TrustPolicy,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Examined, VerifyError> {
    trust.check()?;
    // 1. Strict archive walk.
    let index = archive::walk(src, &opts.limits)?;
    let mut checks = vec![Check::new(
        "archive.structure",
        true,
        format!("{} archive, {} members, strict walk passed", fmt_format(index.format), index.entries.len()),
    )];

    // 2. Envelope and version.
    let env_bytes = archive::read_member(src, control(&index, ENVELOPE)?, MAX_CONTROL_SIZE)?;
    let envelope = Envelope::parse(&env_bytes)?;
    drop(env_bytes);
    match envelope.payload_type.strip_prefix(PAYLOAD_TYPE_PREFIX).and_then(|r| r.strip_suffix("+json")) {
        Some("1") => {}
        Some(v) => return Err(VerifyError::UnknownVersion { found: v.to_string(), payload_type: envelope.payload_type.clone() }),
        None => return Err(VerifyError::PayloadType(envelope.payload_type.clone())),
    }
    // manifest.json is compared with the payload as soon as it is read, and not kept: a passed
    // bundle's manifest bytes are the payload's. Likewise the signatures are counted before the
    // manifest is parsed (and reported after it, in the spec's order), so that the signed
    // message (a copy of the payload) and the parsed manifest are never held together.
    // (manifest.json is not even held whole: it is compared and hashed as it streams by.)
    let (same, manifest_digest) = same_as(src, control(&index, MANIFEST)?, &envelope.payload)?;
    let signatures = Signatures::check(&envelope, &trust.role);
    let manifest = Manifest::parse(&envelope.payload)?;
    checks.push(Check::new(
        "manifest.format",
        true,
        format!("payloadType {PAYLOAD_TYPE_V1}, format version 1, canonical JSON, v1 rules hold"),
    ));
    checks.push(
        Check::new(
            "manifest.payload-agreement",
            same,
            if same {
                "manifest.json is byte-identical to the signed DSSE payload"
            } else {
                "manifest.json differs from the signed DSSE payload"
            },
        )
        .values(Sha256Digest::of(&envelope.payload).prefixed(), manifest_digest.prefixed()),
    );

    // 3. Signatures, under the one signature-fate policy (crate::signed), counted above.
    checks.extend(signatures.checks(&manifest_labels()));

    // 4. Manifest self-consistency.
    let root = manifest::merkle_root(&manifest.members);
    checks.push(
        Check::new("manifest.merkle-root", root == manifest.merkle_root, "RFC 6962 root over the member records")
            .values(manifest.merkle_root.prefixed(), root.prefixed()),
    );
    let id = manifest::bundle_id(manifest.created_at, &manifest.merkle_root, &manifest.release);
    checks.push(
        Check::new("manifest.bundle-id", id == manifest.bundle_id, "bundle id recomputed from createdAt, merkleRoot, release")
            .values(manifest.bundle_id.clone(), id),
    );

    // 5. Member-set equality.
    let (todo, set) = member_set(&manifest, &index);
    let set_ok = set.is_empty();
    checks.extend(set);
    checks.push(
        Check::new("members.set", set_ok, "archive members equal the manifest's members exactly")
            .values(manifest.members.len().to_string(), index.entries.iter().filter(|e| is_payload(&e.name)).count().to_string()),
    );

    // 6. checksums.txt agreement.
    // Compared as it streams by (10 MB for 99,000 members); read whole only to say what differs.
    let sums_entry = control(&index, CHECKSUMS)?;
    if sums_entry.size > MAX_CONTROL_SIZE {
        archive::read_member(src, sums_entry, MAX_CONTROL_SIZE)?;
    }
    let mut comparer = checksums::Comparer::new(manifest.members.iter().map(|m| (m.path.as_str(), &m.digest)));
    archive::stream_member(src, sums_entry, &mut |piece| {
        comparer.feed(piece);
        true
    })?;
    if comparer.matches() {
        checks.push(Check::new(
            "checksums.agreement",
            true,
            format!("checksums.txt lists exactly the {} manifest members with equal digests", manifest.members.len()),
        ));
    } else {
        let sums = archive::read_member(src, sums_entry, MAX_CONTROL_SIZE)?;
        checks.extend(checksums_checks(&manifest, &sums));
    }

    // 7. Member digests, streamed, in parallel; failures one by one, passes counted.
    checks.extend(member_checks(src, &manifest, &todo, opts.threads.max(1), progress));
    drop(todo);

    // 8. Transparency: the manifest's logged entry, proven against trusted log keys and the cache.
    let proof = match index.get(PROOF_MEMBER) {
        Some(e) => Some(archive::read_member(src, stored_only(e)?, tlog_bundle::MAX_PROOF_MEMBER)?),
        None => None,
    };
    let t = &opts.transparency;
    let transparency =
        tlog_bundle::check_bundle_transparency(&manifest, &envelope.payload, proof.as_deref(), t.trust, t.cache, opts.time.instant());
    checks.push(transparency.to_check(t.require));

    debug_assert!(
        checks.iter().all(|c| CHECK_IDS.contains(&c.id.as_ref())),
        "a check id is missing from CHECK_IDS: {:?}",
        checks.iter().map(|c| c.id.as_ref()).filter(|id| !CHECK_IDS.contains(id)).collect::<Vec<_>>()
    );
    let outcome = Outcome::of(&checks);
    let report = VerifyReport {
        schema: crate::report::VERIFY_REPORT_SCHEMA.into(),
        bundle: None,
        outcome,
        format: index.format,
        format_version: manifest.format_version,
        bundle_id: manifest.bundle_id.clone(),
        release: manifest.release.clone(),
        merkle_root: manifest.merkle_root,
        trust: TrustSummary {
            source: trust.source.clone(),
            keys: trust.role.keyids().iter().map(KeyId::hex).collect(),
            threshold: trust.role.threshold(),
            signers: signatures.signers().iter().map(KeyId::hex).collect(),
        },
        transparency: TransparencySummary {
            outcome: transparency.name().into(),
            proof: match &transparency {
                TransparencyOutcome::Verified(v) => Some(v.clone()),
                _ => None,
            },
        },
        checks,
        evaluation: opts.time.evaluation(),
    };
    let fork = match &transparency {
        TransparencyOutcome::Failed { fork, .. } => fork.clone(),
        _ => None,
    };
    let keys = TrustBasis::Keys { keyids: report.trust.keys.clone(), threshold: trust.role.threshold() };
    let created_at = manifest.created_at;
    let passed = (outcome == Outcome::Pass).then(|| VerifiedBundle {
        // Moved from the envelope by `conclude`, once nothing reads the envelope any more
        // (manifest.payload-agreement passed: the payload is manifest.json's bytes).
        manifest_bytes: Vec::new(),
        manifest,
        signers: signatures.signers().to_vec(),
        index,
        transparency,
    });
    Ok(Examined { report, passed, created_at, envelope, signers: signatures.signers().to_vec(), fork, time: opts.time, keys })
}

/// Whether a control member's bytes are exactly `expected`, and their SHA-256, read as a
/// stream: what [`archive::read_member`] would refuse is refused the same way, and the bytes are
/// never held whole.
fn same_as(src: &dyn ByteSource, e: &Entry, expected: &[u8]) -> Result<(bool, Sha256Digest), VerifyError> {
    if e.size > MAX_CONTROL_SIZE {
        archive::read_member(src, e, MAX_CONTROL_SIZE)?;
    }
    let (mut at, mut same) = (0usize, true);
    let mut h = StreamHasher::new(false);
    archive::stream_member(src, e, &mut |piece| {
        same = same && expected.get(at..at + piece.len()) == Some(piece);
        at += piece.len();
        h.update(piece);
        true
    })?;
    Ok((same && at == expected.len(), h.finish().0))
}

/// A payload member: not a control member, and not the transparency proof (it proves the
/// manifest, so the manifest cannot list it: transparency-v1 §9.2).
fn is_payload(name: &str) -> bool {
    !CONTROL.contains(&name) && name != PROOF_MEMBER
}

/// The manifest's members against the archive's payload members, both in bytewise name order
/// (the manifest's by rule `members.order`, the archive's through its index), in one merge: the
/// pairs to hash, in manifest order, and a `member.unlisted` then a `member.missing` check for
/// each difference, each in name order. O(members) name comparisons.
fn member_set<'m, 'i>(manifest: &'m Manifest, index: &'i ArchiveIndex) -> (Vec<(&'m manifest::Member, &'i Entry)>, Vec<Check>) {
    let mut pairs = Vec::with_capacity(manifest.members.len());
    let (mut unlisted, mut missing) = (Vec::new(), Vec::new());
    let mut listed = manifest.members.iter().peekable();
    let mut present = index.by_name().filter(|e| is_payload(&e.name)).peekable();
    loop {
        match (listed.peek(), present.peek()) {
            (Some(m), Some(e)) => match m.path.as_bytes().cmp(e.name.as_bytes()) {
                std::cmp::Ordering::Equal => pairs.push((listed.next().expect("peeked"), present.next().expect("peeked"))),
                std::cmp::Ordering::Less => missing.push(listed.next().expect("peeked")),
                std::cmp::Ordering::Greater => unlisted.push(present.next().expect("peeked")),
            },
            (Some(_), None) => missing.push(listed.next().expect("peeked")),
            (None, Some(_)) => unlisted.push(present.next().expect("peeked")),
            (None, None) => break,
        }
    }
    let checks =
        unlisted
            .into_iter()
            .map(|e| Check::new("member.unlisted", false, "archive holds a member the signed manifest does not list").subject(&e.name))
            .chain(missing.into_iter().map(|m| {
                Check::new("member.missing", false, "the signed manifest lists a member the archive does not hold").subject(&m.path)
            }))
            .collect();
    (pairs, checks)
}

fn fmt_format(f: Format) -> &'static str {
    match f {
        Format::Zip => "zip",
        Format::Tar => "tar",
    }
}

fn checksums_checks(manifest: &Manifest, sums: &[u8]) -> Vec<Check> {
    let mut out = Vec::new();
    let entries = || manifest.members.iter().map(|m| (m.path.as_str(), &m.digest));
    if checksums::renders_as(entries(), sums) {
        out.push(Check::new(
            "checksums.agreement",
            true,
            format!("checksums.txt lists exactly the {} manifest members with equal digests", manifest.members.len()),
        ));
        return out;
    }
    let listed: BTreeMap<&str, &Sha256Digest> = manifest.members.iter().map(|m| (m.path.as_str(), &m.digest)).collect();
    let mut seen = BTreeSet::new();
    for line in checksums::parse(sums) {
        match line {
            checksums::Line::Malformed { line, text } => {
                out.push(Check::new("checksums.line", false, format!("line {line} is not `<64 hex>  <path>`: {text:?}")))
            }
            checksums::Line::Entry { path, digest } => {
                if !seen.insert(path.clone()) {
                    out.push(Check::new("checksums.line", false, "listed twice").subject(path));
                    continue;
                }
                match listed.get(path.as_str()) {
                    None => {
                        out.push(Check::new("checksums.unlisted", false, "checksums.txt lists a path the manifest does not").subject(path))
                    }
                    Some(d) if **d != digest => out.push(
                        Check::new("checksums.digest", false, "checksums.txt digest differs from the signed manifest")
                            .subject(path)
                            .values(d.prefixed(), digest.prefixed()),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    for p in listed.keys().filter(|p| !seen.contains(**p)) {
        out.push(Check::new("checksums.missing", false, "manifest member absent from checksums.txt").subject(*p));
    }
    out.push(
        Check::new(
            "checksums.agreement",
            false,
            "checksums.txt is not the exact rendering of the manifest (order, format or content differ)",
        )
        .values(Sha256Digest::of(&checksums::render(entries())).prefixed(), Sha256Digest::of(sums).prefixed()),
    );
    out
}

/// A member's hash, or why its bytes could not be read back exactly.
struct MemberHash {
    digest: Option<Sha256Digest>,
    size: u64,
    /// SHA-256 and length of the stored deflate stream, for a deflated member read to its end.
    stream: Option<(Sha256Digest, u64)>,
    integrity: Result<(), ArchiveError>,
}

fn hash_one(src: &dyn ByteSource, e: &Entry, progress: &(dyn Fn(u64) + Sync)) -> MemberHash {
    let mut h = StreamHasher::new(false);
    let mut raw = (e.method == Method::Deflate).then(|| StreamHasher::new(false));
    let r = archive::stream_member_with_raw(
        src,
        e,
        &mut |c| {
            if let Some(raw) = &mut raw {
                raw.update(c);
            }
        },
        &mut |c| {
            h.update(c);
            progress(c.len() as u64);
            true
        },
    );
    let (d, _, size) = h.finish();
    let stream = raw.map(|r| {
        let (d, _, n) = r.finish();
        (d, n)
    });
    match r {
        Ok(()) => MemberHash { digest: Some(d), size, stream, integrity: Ok(()) },
        // All bytes were read; only the archive's own CRC, or a deflate bit no decoder reads,
        // disagrees: the digests are meaningful.
        Err(err @ ArchiveError::Refused { rule: Rule::Crc | Rule::DeflatePadding, .. }) => {
            MemberHash { digest: Some(d), size, stream, integrity: Err(err) }
        }
        Err(err) => MemberHash { digest: None, size, stream: None, integrity: Err(err) },
    }
}

/// The checks of step 9 for every listed member the archive holds, hashed on `threads` threads.
///
/// Only failures are kept one by one (in manifest order); passes are counted, and each of
/// `member.digest` and `member.deflate-stream` that passed for any member is reported once with
/// the count (format-spec/bundle-v1.md §9 step 9). Nothing is kept per passing member, so the
/// memory of this step does not grow with the member count.
fn member_checks(
    src: &dyn ByteSource,
    manifest: &Manifest,
    todo: &[(&manifest::Member, &Entry)],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<Check> {
    let runs = member_runs(todo);
    let next = AtomicUsize::new(0);
    let (digests, streams) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let failed: Mutex<Vec<(usize, Vec<Check>)>> = Mutex::new(Vec::new());
    let work = || {
        // Each thread reads its runs of small members through its own window.
        let window = archive::Window::new(src, archive::Window::DEFAULT);
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(run) = runs.get(k) else { break };
            for &i in run {
                let (m, e) = todo[i as usize];
                let h = hash_one(&window, e, progress);
                let stream = stream_check(manifest.deflate_stream(&m.path), e, &h);
                // The common case builds no check at all.
                let mut checks = if h.integrity.is_ok() && h.digest == Some(m.digest) && h.size == m.size {
                    digests.fetch_add(1, Ordering::Relaxed);
                    Vec::new()
                } else {
                    digest_checks(m, h)
                };
                checks.extend(stream);
                for c in checks.iter().filter(|c| !c.failed()) {
                    match c.id.as_ref() {
                        "member.digest" => digests.fetch_add(1, Ordering::Relaxed),
                        _ => streams.fetch_add(1, Ordering::Relaxed),
                    };
                }
                checks.retain(Check::failed);
                if !checks.is_empty() {
                    failed.lock().expect("no panics while holding the lock").push((i as usize, checks));
                }
            }
        }
    };
    if threads <= 1 || todo.len() <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut failed = failed.into_inner().expect("no panics while holding the lock");
    failed.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    let (digests, streams) = (digests.into_inner(), streams.into_inner());
    if digests > 0 {
        out.push(Check::new(
            "member.digest",
            true,
            format!("{digests} of {} listed members: size and SHA-256 equal the signed records", manifest.members.len()),
        ));
    }
    if streams > 0 {
        out.push(Check::new("member.deflate-stream", true, format!("{streams} deflated members: the stored stream is the signed one")));
    }
    out.extend(failed.into_iter().flat_map(|(_, c)| c));
    out
}

/// Largest stored span of one run of members handed to a hashing thread.
const RUN_BYTES: u64 = 1 << 20;

/// The members of `todo` (their positions) in runs a thread hashes in one go: neighbours in the
/// archive, in archive order, up to [`RUN_BYTES`] of stored data a run (a larger member is a run
/// of its own); the runs largest first, so that one big member does not start last.
fn member_runs(todo: &[(&manifest::Member, &Entry)]) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..todo.len()).map(|i| u32::try_from(i).expect("fewer than 2^32 members")).collect();
    order.sort_unstable_by_key(|&i| todo[i as usize].1.data_offset);
    let mut runs: Vec<(u64, Vec<u32>)> = Vec::new();
    for i in order {
        let size = todo[i as usize].1.stored_size;
        match runs.last_mut() {
            Some((bytes, run)) if *bytes + size <= RUN_BYTES => {
                *bytes += size;
                run.push(i);
            }
            _ => runs.push((size, vec![i])),
        }
    }
    runs.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    runs.into_iter().map(|(_, run)| run).collect()
}

/// The stored form of a member against the signed manifest: a member the manifest lists in
/// `deflateStreams` must be deflated with exactly that stream; any other must be stored.
fn stream_check(signed: Option<&manifest::DeflateStream>, e: &Entry, h: &MemberHash) -> Option<Check> {
    let check = |ok: bool, detail: String| Check::new("member.deflate-stream", ok, detail).subject(&e.name);
    match (signed, e.method) {
        (None, Method::Stored) => None,
        (None, Method::Deflate) => Some(
            check(false, "member is deflated but the signed manifest lists no deflate stream for it (signed bundles deflate only what the manifest names)".into())
                .values("stored", format!("deflated, {} bytes", e.stored_size)),
        ),
        (Some(s), Method::Stored) => Some(
            check(false, "the signed manifest lists a deflate stream for this member but the archive stores it".into())
                .values(format!("deflated, {} bytes", s.size), "stored"),
        ),
        (Some(s), Method::Deflate) => Some(match h.stream {
            Some((d, n)) => {
                let ok = d == s.digest && n == s.size;
                check(
                    ok,
                    if ok {
                        format!("{n} stored bytes, the signed deflate stream")
                    } else {
                        format!("the stored deflate stream is not the signed one ({n} bytes, signed {})", s.size)
                    },
                )
                .values(s.digest.prefixed(), d.prefixed())
            }
            None => check(false, "the stored deflate stream could not be read to its end".into()).values(s.digest.prefixed(), "unreadable"),
        }),
    }
}

fn digest_checks(m: &manifest::Member, h: MemberHash) -> Vec<Check> {
    let mut out = Vec::new();
    match (&h.digest, &h.integrity) {
        (Some(d), _) => {
            let ok = *d == m.digest && h.size == m.size;
            out.push(
                Check::new(
                    "member.digest",
                    ok,
                    if ok {
                        format!("{} bytes, digest matches", h.size)
                    } else if h.size != m.size {
                        format!("size differs: manifest {} bytes, archive {} bytes", m.size, h.size)
                    } else {
                        "digest differs from the signed manifest".into()
                    },
                )
                .subject(&m.path)
                .values(m.digest.prefixed(), d.prefixed()),
            );
        }
        (None, Err(e)) => out.push(
            Check::new("member.digest", false, format!("member bytes cannot be read back: {e}"))
                .subject(&m.path)
                .values(m.digest.prefixed(), "unreadable"),
        ),
        (None, Ok(())) => unreachable!("a digest is absent only when reading failed"),
    }
    if let Err(e) = &h.integrity
        && h.digest.is_some()
    {
        let id = if e.rule() == Some(Rule::DeflatePadding) { "member.deflate-padding" } else { "member.crc" };
        out.push(Check::new(id, false, e.to_string()).subject(&m.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Kind;
    use crate::bundle::manifest::{Member, Release};
    use crate::keys::SecretKey;
    use crate::report::Status;

    const CREATED: Timestamp = Timestamp(1_700_000_000);

    fn bundle(version: &str, key: &SecretKey) -> Vec<u8> {
        let files: Vec<(String, Vec<u8>)> = vec![("artifacts/app".into(), b"binary".to_vec())];
        let members = files
            .iter()
            .map(|(p, b)| Member { path: p.clone(), size: b.len() as u64, digest: Sha256Digest::of(b), kind: Kind::of_path(p).unwrap() })
            .collect();
        let release = Release { product: "app".into(), version: version.into(), commit: None, channel: Some("stable".into()) };
        let plan = crate::pack::plan(release, CREATED, members, &[key], Vec::new()).unwrap();
        let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
            let b = plan.control_bytes(name).map(<[u8]>::to_vec).unwrap_or_else(|| files.iter().find(|f| f.0 == name).unwrap().1.clone());
            Ok(Box::new(std::io::Cursor::new(b)))
        };
        crate::archive::write::write_tar(Vec::new(), &plan.members, CREATED, &mut open).unwrap()
    }

    fn examined(bytes: &[u8], key: &SecretKey, time: EvalTime) -> Examined {
        let trust = TrustPolicy::ed25519([key.public().clone()], 1, "test");
        examine(&bytes.to_vec(), &trust, &Options { time, ..Default::default() }, &|_| {}).unwrap()
    }

    fn with_state(state: State, role: BundleRole) -> Conclusion<'static> {
        Conclusion { freshness: Some(FreshnessInputs { state, record: Record::Store, role, allow_downgrade: None }), ..Default::default() }
    }

    fn failed(v: &Verification) -> Vec<&str> {
        v.report().failed().map(|c| c.id.as_ref()).collect()
    }

    #[test]
    fn the_witness_says_what_it_was_checked_under() {
        let key = SecretKey::from_seed(&[7; 32]);
        let bytes = bundle("1.2.0", &key);
        let now = Timestamp(1_800_000_000);
        let c = examined(&bytes, &key, EvalTime::Clock(now)).conclude(with_state(State::default(), BundleRole::Candidate));
        let v = c.verification.verified().expect("passes");
        assert_eq!(v.basis().trust, TrustBasis::Keys { keyids: vec![key.public().keyid().hex()], threshold: 1 });
        assert_eq!((v.basis().time, v.basis().freshness, v.evaluated_at()), (EvalTime::Clock(now), FreshnessBasis::Evaluated, now));
        let next = c.next_state.expect("a store-trusted pass records");
        assert_eq!(next.bundles["app"].version, "1.2.0");
        assert_eq!(next.latest_known_time, Some(now));
        // Without a store, the witness says freshness was not evaluated.
        let c = examined(&bytes, &key, EvalTime::OperatorFixed { at: now, floor: now }).conclude(Conclusion::default());
        assert_eq!(c.verification.verified().unwrap().basis().freshness, FreshnessBasis::NotEvaluated);
        assert!(c.next_state.is_none());
    }

    #[test]
    fn no_witness_when_a_concluding_check_fails() {
        let key = SecretKey::from_seed(&[7; 32]);
        let bytes = bundle("1.2.0", &key);
        let now = Timestamp(1_800_000_000);
        // A clock earlier than the latest known time.
        let seen = State { latest_known_time: Some(Timestamp(now.0 + 60)), ..State::default() };
        let c = examined(&bytes, &key, EvalTime::Clock(now)).conclude(with_state(seen, BundleRole::Candidate));
        assert!(c.verification.verified().is_none());
        assert_eq!(failed(&c.verification), ["freshness.clock"]);
        assert!(c.next_state.is_none(), "nothing is recorded from a clock that went backwards");
        // A failing check from outside the bundle (a detached signature).
        let outside = Check::new("minisign.signature", false, "does not verify");
        let c = examined(&bytes, &key, EvalTime::Clock(now))
            .conclude(Conclusion { checks: vec![outside], ..with_state(State::default(), BundleRole::Candidate) });
        assert!(c.verification.verified().is_none());
        assert_eq!(c.verification.report().outcome(), Outcome::Fail);
        assert!(c.next_state.is_some_and(|s| s.bundles.is_empty()), "the clock is recorded, the bundle is not accepted");
    }

    #[test]
    fn an_older_release_fails_as_a_candidate_and_is_reported_as_a_baseline() {
        let key = SecretKey::from_seed(&[7; 32]);
        let now = EvalTime::Clock(Timestamp(1_800_000_000));
        let first = examined(&bundle("2.0.0", &key), &key, now).conclude(with_state(State::default(), BundleRole::Candidate));
        let state = first.next_state.unwrap();
        let older = bundle("1.0.0", &key);
        let c = examined(&older, &key, now).conclude(with_state(state.clone(), BundleRole::Candidate));
        assert_eq!(failed(&c.verification), ["freshness.bundle-order"]);
        let c = examined(&older, &key, now).conclude(with_state(state.clone(), BundleRole::Baseline));
        let v = c.verification.verified().expect("a baseline older than an accepted release is not a rollback");
        let order = c.verification.report().checks().iter().find(|c| c.id == "freshness.bundle-order").unwrap();
        assert_eq!(order.status, Status::Info);
        assert_eq!(v.get().manifest().release.version, "1.0.0");
        assert_eq!(c.next_state.unwrap().bundles, state.bundles, "a baseline is never recorded as accepted");
    }

    /// 3,000 small members: one `member.digest` check counts them, a flipped member is named
    /// on its own, and the reads reaching the archive grow with its bytes over the read-ahead
    /// window, not with the member count (each member was two reads of its own).
    #[test]
    fn many_small_members_are_counted_and_read_in_windows() {
        struct Counting(Vec<u8>, AtomicUsize);
        impl ByteSource for Counting {
            fn size(&self) -> u64 {
                self.0.len() as u64
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
                self.1.fetch_add(1, Ordering::Relaxed);
                self.0.read_at(offset, buf)
            }
        }
        let key = SecretKey::from_seed(&[7; 32]);
        let n = 3000;
        let files: Vec<(String, Vec<u8>)> =
            (0..n).map(|i| (format!("artifacts/d{}/f{i:05}", i % 9), format!("{i}").repeat(40).into_bytes())).collect();
        let members = files
            .iter()
            .map(|(p, b)| Member { path: p.clone(), size: b.len() as u64, digest: Sha256Digest::of(b), kind: Kind::Artifact })
            .collect();
        let release = Release { product: "app".into(), version: "1.0.0".into(), commit: None, channel: None };
        let plan = crate::pack::plan(release, CREATED, members, &[&key], Vec::new()).unwrap();
        let by_name: std::collections::HashMap<&str, &[u8]> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
            let b = plan.control_bytes(name).map(<[u8]>::to_vec).unwrap_or_else(|| by_name[name].to_vec());
            Ok(Box::new(std::io::Cursor::new(b)))
        };
        let mut bytes = crate::archive::write::write_tar(Vec::new(), &plan.members, CREATED, &mut open).unwrap();
        let trust = TrustPolicy::ed25519([key.public().clone()], 1, "test");
        let src = Counting(bytes.clone(), AtomicUsize::new(0));
        let v = verify(&src, &trust, &Options { threads: 2, ..Default::default() }, &|_| {}).unwrap();
        let digests: Vec<&Check> = v.report().checks().iter().filter(|c| c.id == "member.digest").collect();
        assert_eq!(digests.len(), 1, "one check for all passed members");
        assert!(digests[0].detail.starts_with("3000 of 3000 listed members"), "{}", digests[0].detail);
        let reads = src.1.load(Ordering::Relaxed);
        let windows = bytes.len() / archive::Window::DEFAULT + 1;
        assert!(reads <= 6 * windows + 40, "{reads} reads of the archive for {windows} windows of it");
        // One member's content changed: named alone, the others counted.
        let at = bytes.windows(80).position(|w| w == "1234".repeat(20).as_bytes()).expect("member 1234's bytes");
        bytes[at] ^= 1;
        let v = verify(&bytes, &trust, &Options::default(), &|_| {}).unwrap();
        let failed: Vec<(&str, Option<&str>)> = v.report().failed().map(|c| (c.id.as_ref(), c.subject.as_deref())).collect();
        assert_eq!(failed, [("member.digest", Some("artifacts/d1/f01234"))]);
        assert!(v.report().checks().iter().any(|c| c.id == "member.digest" && c.detail.starts_with("2999 of 3000")));
    }

    #[test]
    fn reports_read_back_unchanged() {
        let key = SecretKey::from_seed(&[7; 32]);
        let c = examined(&bundle("1.2.0", &key), &key, EvalTime::Clock(Timestamp(1_800_000_000)))
            .conclude(with_state(State::default(), BundleRole::Candidate));
        let report = c.verification.report().clone().named("app.tar");
        let text = serde_json::to_string(&report).unwrap();
        let back: VerifyReport = crate::json::from_slice_strict(text.as_bytes()).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.bundle(), Some("app.tar"));
    }
}
