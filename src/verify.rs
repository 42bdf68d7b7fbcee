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
use serde::Serialize;
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

impl VerifyError {
    /// A stable kind for reports and vectors.
    pub fn kind(&self) -> String {
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
#[derive(Clone, Default)]
pub struct Options<'a> {
    /// Archive caps.
    pub limits: Limits,
    /// Hashing threads (0 or 1 = sequential).
    pub threads: usize,
    /// What transparency evidence is checked against.
    pub transparency: Transparency<'a>,
}

/// Inputs of the transparency check (format-spec/transparency-v1.md §9).
#[derive(Clone, Default)]
pub struct Transparency<'a> {
    /// Trusted logs and witness policy; `None`: no log is trusted, a proof is `unverifiable`.
    pub trust: Option<&'a LogTrust>,
    /// The local checkpoint cache, for consistency with a newer cached checkpoint.
    pub cache: Option<&'a dyn CheckpointCache>,
    /// Now, for proof age.
    pub now: Timestamp,
    /// `--require-transparency`: missing or unverifiable evidence fails verification.
    pub require: bool,
}

/// A value only [`verify`] constructs.
#[derive(Debug)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// The verified value.
    pub fn get(&self) -> &T {
        &self.0
    }
}

/// What a passed verification established.
#[derive(Debug)]
pub struct VerifiedBundle {
    /// The signed manifest.
    pub manifest: Manifest,
    /// The exact manifest bytes that were signed.
    pub manifest_bytes: Vec<u8>,
    /// Trusted keys whose signatures counted.
    pub signers: Vec<KeyId>,
    /// Where each member lives in the archive.
    pub index: ArchiveIndex,
    /// Whether the signed manifest was proven logged.
    pub transparency: TransparencyOutcome,
}

/// The report of one verification.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// [`crate::report::VERIFY_REPORT_SCHEMA`].
    pub schema: &'static str,
    /// Pass / fail.
    pub outcome: Outcome,
    /// Archive flavour.
    pub format: Format,
    /// Format version.
    #[serde(rename = "formatVersion")]
    pub format_version: u64,
    /// Bundle id from the manifest.
    #[serde(rename = "bundleId")]
    pub bundle_id: String,
    /// Release identity.
    pub release: manifest::Release,
    /// Manifest Merkle root.
    #[serde(rename = "merkleRoot")]
    pub merkle_root: Sha256Digest,
    /// Trust used.
    pub trust: TrustSummary,
    /// Transparency outcome: `verified`, `missing`, `unverifiable` or `failed`.
    pub transparency: TransparencySummary,
    /// Every check in verification order.
    pub checks: Vec<Check>,
    /// Two authentic, inconsistent checkpoints (a split view), for the shell to write down.
    #[serde(skip)]
    pub fork_evidence: Option<tlog_bundle::ForkEvidence>,
    /// The envelope as read, so that signatures by keys outside this verification's trust
    /// (revoked, other roles) can be named without reading the archive again.
    #[serde(skip)]
    pub envelope: Envelope,
}

/// The transparency part of a report.
#[derive(Clone, Debug, Serialize)]
pub struct TransparencySummary {
    /// `verified` | `missing` | `unverifiable` | `failed`.
    pub outcome: &'static str,
    /// Log, index, checkpoint size, age, cache relation when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<tlog_bundle::TransparencyVerified>,
}

/// The trust part of a report.
#[derive(Clone, Debug, Serialize)]
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

/// Verifies a bundle.
pub fn verify(
    src: &dyn ByteSource,
    trust: &TrustPolicy,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Verification, VerifyError> {
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
    match envelope.payload_type.strip_prefix(PAYLOAD_TYPE_PREFIX).and_then(|r| r.strip_suffix("+json")) {
        Some("1") => {}
        Some(v) => return Err(VerifyError::UnknownVersion { found: v.to_string(), payload_type: envelope.payload_type.clone() }),
        None => return Err(VerifyError::PayloadType(envelope.payload_type.clone())),
    }
    let manifest_bytes = archive::read_member(src, control(&index, MANIFEST)?, MAX_CONTROL_SIZE)?;
    let manifest = Manifest::parse(&envelope.payload)?;
    checks.push(Check::new(
        "manifest.format",
        true,
        format!("payloadType {PAYLOAD_TYPE_V1}, format version 1, canonical JSON, v1 rules hold"),
    ));
    let same = manifest_bytes == envelope.payload;
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
        .values(Sha256Digest::of(&envelope.payload).prefixed(), Sha256Digest::of(&manifest_bytes).prefixed()),
    );

    // 3. Signatures, under the one signature-fate policy (crate::signed).
    let signatures = Signatures::check(&envelope, &trust.role);
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
    let listed: BTreeMap<&str, &manifest::Member> = manifest.members.iter().map(|m| (m.path.as_str(), m)).collect();
    // The transparency proof proves the manifest, so the manifest cannot list it (transparency-v1 §9.2).
    let present: BTreeSet<&str> =
        index.entries.iter().map(|e| e.name.as_str()).filter(|n| !CONTROL.contains(n) && *n != PROOF_MEMBER).collect();
    let mut set_ok = true;
    for extra in present.iter().filter(|p| !listed.contains_key(*p)) {
        set_ok = false;
        checks.push(Check::new("member.unlisted", false, "archive holds a member the signed manifest does not list").subject(*extra));
    }
    for missing in listed.keys().filter(|p| !present.contains(*p)) {
        set_ok = false;
        checks.push(Check::new("member.missing", false, "the signed manifest lists a member the archive does not hold").subject(*missing));
    }
    checks.push(
        Check::new("members.set", set_ok, "archive members equal the manifest's members exactly")
            .values(listed.len().to_string(), present.len().to_string()),
    );

    // 6. checksums.txt agreement.
    let sums = archive::read_member(src, control(&index, CHECKSUMS)?, MAX_CONTROL_SIZE)?;
    checks.extend(checksums_checks(&manifest, &sums));

    // 7. Member digests, streamed, in parallel.
    let todo: Vec<(&manifest::Member, &Entry)> = manifest.members.iter().filter_map(|m| index.get(&m.path).map(|e| (m, e))).collect();
    for ((m, result), (_, e)) in hash_all(src, &todo, opts.threads.max(1), progress).into_iter().zip(&todo) {
        let stream = stream_check(manifest.deflate_stream(&m.path), e, &result);
        checks.extend(digest_checks(m, result));
        checks.extend(stream);
    }

    // 8. Transparency: the manifest's logged entry, proven against trusted log keys and the cache.
    let proof = match index.get(PROOF_MEMBER) {
        Some(e) => Some(archive::read_member(src, stored_only(e)?, tlog_bundle::MAX_PROOF_MEMBER)?),
        None => None,
    };
    let t = &opts.transparency;
    let transparency = tlog_bundle::check_bundle_transparency(&manifest, &envelope.payload, proof.as_deref(), t.trust, t.cache, t.now);
    checks.push(transparency.to_check(t.require));

    let outcome = Outcome::of(&checks);
    let report = VerifyReport {
        schema: crate::report::VERIFY_REPORT_SCHEMA,
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
            outcome: transparency.name(),
            proof: match &transparency {
                TransparencyOutcome::Verified(v) => Some(v.clone()),
                _ => None,
            },
        },
        checks,
        fork_evidence: match &transparency {
            TransparencyOutcome::Failed { fork, .. } => fork.clone(),
            _ => None,
        },
        envelope,
    };
    Ok(match outcome {
        Outcome::Pass => Verification::Passed(
            Box::new(Verified(VerifiedBundle { manifest, manifest_bytes, signers: signatures.signers().to_vec(), index, transparency })),
            report,
        ),
        _ => Verification::Failed(report),
    })
}

fn fmt_format(f: Format) -> &'static str {
    match f {
        Format::Zip => "zip",
        Format::Tar => "tar",
    }
}

fn checksums_checks(manifest: &Manifest, sums: &[u8]) -> Vec<Check> {
    let mut out = Vec::new();
    let expected = checksums::render(manifest.members.iter().map(|m| (m.path.as_str(), &m.digest)));
    if expected == sums {
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
        .values(Sha256Digest::of(&expected).prefixed(), Sha256Digest::of(sums).prefixed()),
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

fn hash_all<'m>(
    src: &dyn ByteSource,
    todo: &[(&'m manifest::Member, &Entry)],
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<(&'m manifest::Member, MemberHash)> {
    // Largest first, so one big member does not start last.
    let mut order: Vec<usize> = (0..todo.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(todo[i].1.size));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<MemberHash>>> = Mutex::new((0..todo.len()).map(|_| None).collect());
    let work = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            let r = hash_one(src, todo[i].1, progress);
            results.lock().expect("no panics while holding the lock")[i] = Some(r);
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
    let results = results.into_inner().expect("no panics while holding the lock");
    todo.iter().zip(results).map(|((m, _), r)| (*m, r.expect("every member hashed"))).collect()
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
