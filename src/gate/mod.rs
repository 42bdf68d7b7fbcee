//! The promotion gate (sans-I/O): from a verified bundle to the canonical gate input of seed 004
//! and an allow / deny decision under a policy. Normative text: `format-spec/gate-v1.md`.
//!
//! [`evaluate`] accepts only a [`Verified`] bundle, so an unchecked bundle cannot reach a
//! decision. It reads evidence members through the same [`ByteSource`] and checks each read
//! against the verified manifest digest (the file cannot be swapped between verify and gate).
//! Time, trust-root roles and the transparency outcome come in as values.

pub mod breakglass;
pub mod policy;
pub mod transparency;

use crate::archive::{self, ArchiveError, ByteSource};
use crate::bundle::Kind;
use crate::bundle::manifest::Manifest;
use crate::digest::Sha256Digest;
use crate::evidence::intoto::{self, Document};
use crate::evidence::sbom::{Coverage, Sbom};
use crate::evidence::slsa::{self, Provenance};
use crate::evidence::vex::{self, Merged, Status, VexDocument};
use crate::evidence::{ArtifactRef, Artifacts, MAX_EVIDENCE_SIZE};
use crate::keys::{KeyId, PublicKey};
use crate::report::{Check, Status as CheckStatus};
use crate::time::Timestamp;
use crate::verify::{Verified, VerifiedBundle};
use policy::{EvidenceKind, LoadedPolicy, SignerRule};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use transparency::{CasRef, Transparency};

/// `schema` of the gate input.
pub const GATE_INPUT_SCHEMA: &str = "airlock/gate-input/v1";
/// `schema` of the printed result (decision + input + checks).
pub const GATE_RESULT_SCHEMA: &str = "airlock/gate-result/v1";
/// Member kinds whose records make up the evidence set hashed into `evidenceScore`.
pub const SCORED_KINDS: [Kind; 5] = [Kind::Sbom, Kind::Provenance, Kind::Attestation, Kind::Vex, Kind::Tlog];
/// Check ids a signed break-glass may override.
pub const OVERRIDABLE: [&str; 3] = ["transparency.missing", "transparency.unverifiable", "transparency.proof-age"];

/// The gate could not evaluate (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The bundle holds no artifact member.
    #[error("the bundle holds no artifacts/ member; the gate decides about an artifact")]
    NoArtifact,
    /// Several artifacts and none chosen.
    #[error("the bundle holds {count} artifacts ({list}); choose one with --artifact PATH or the policy's \"artifact\"")]
    AmbiguousArtifact {
        /// How many.
        count: usize,
        /// Their paths.
        list: String,
    },
    /// The chosen artifact is not in the bundle.
    #[error("{0:?} is not an artifact member of this bundle")]
    NoSuchArtifact(String),
    /// A member could not be read back.
    #[error("reading {member}: {source}")]
    Read {
        /// Member path.
        member: String,
        /// Why.
        source: ArchiveError,
    },
    /// A member's bytes no longer match the verified manifest.
    #[error("{member} changed after verification (manifest {expected}, read {actual}); the bundle file was modified while in use")]
    Changed {
        /// Member path.
        member: String,
        /// Manifest digest.
        expected: Sha256Digest,
        /// Digest of the bytes read.
        actual: Sha256Digest,
    },
}

/// Trust-root roles as values: role name → keys.
#[derive(Clone, Debug, Default)]
pub struct Roles(pub BTreeMap<String, Vec<PublicKey>>);

impl Roles {
    /// Keys of a role (empty when the role is unknown).
    pub fn keys(&self, role: &str) -> &[PublicKey] {
        self.0.get(role).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Everything besides the bundle and the policy that the evaluation depends on.
#[derive(Clone, Debug)]
pub struct Context {
    /// Role keys.
    pub roles: Roles,
    /// The proof cache's outcome.
    pub transparency: Transparency,
    /// Evaluation time.
    pub now: Timestamp,
    /// `--artifact`, overriding the policy's choice.
    pub artifact: Option<String>,
    /// A break-glass request and the approver role.
    pub break_glass: Option<(breakglass::Request, breakglass::Approvers)>,
}

/// `artifact` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSection {
    /// Member path of the gated artifact.
    pub artifact_id: String,
    /// Its digest.
    pub digest: Sha256Digest,
}

/// `evidence` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSection {
    /// See [`evidence_score`].
    pub evidence_score: String,
    /// The manifest's bundle id.
    pub bundle_id: String,
    /// SHA-256 of the signed manifest bytes.
    pub bundle_digest: Sha256Digest,
}

/// `sbom` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SbomSection {
    /// SHA-256 of the RFC 8785 form of the SBOM.
    pub canonical_digest: Sha256Digest,
    /// `spdx` or `cyclonedx`.
    pub format: &'static str,
}

/// One `attestations[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationEntry {
    /// The statement's predicateType.
    pub predicate_type: String,
    /// SHA-256 of the envelope member.
    pub dsse_digest: Sha256Digest,
    /// Smallest key id among the trusted keys whose signatures counted.
    pub signer_key_id: String,
}

/// `transparency` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencySection {
    /// Rekor entry UUID.
    pub rekor_uuid: String,
    /// Log index.
    pub log_index: u64,
    /// `cas://sha256:...` of the proof member.
    pub proof_ref: CasRef,
}

/// `vex` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VexSection {
    /// SHA-256 of the RFC 8785 form of the merged VEX ([`Merged`]).
    pub merged_digest: Sha256Digest,
    /// Summary.
    pub status_summary: Status,
}

/// `inToto` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InTotoSection {
    /// SHA-256 of the layout member.
    pub layout_digest: Sha256Digest,
    /// SHA-256 of each link member, sorted.
    pub link_digests: Vec<Sha256Digest>,
}

/// The seed-004 promotion gate input. Sections whose evidence is absent are omitted, never
/// filled with placeholders; the policy decides whether an absence denies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateInput {
    /// [`GATE_INPUT_SCHEMA`].
    pub schema: &'static str,
    /// The gated artifact.
    pub artifact: ArtifactSection,
    /// Evidence identity.
    pub evidence: EvidenceSection,
    /// The SBOM listing the artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomSection>,
    /// Signed statements about the artifact, sorted by predicateType then dsseDigest.
    pub attestations: Vec<AttestationEntry>,
    /// Proof reference, when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparency: Option<TransparencySection>,
    /// Merged VEX.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vex: Option<VexSection>,
    /// in-toto layout and links.
    #[serde(rename = "inToto", skip_serializing_if = "Option::is_none")]
    pub in_toto: Option<InTotoSection>,
}

impl GateInput {
    /// RFC 8785 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::json::canonical(self)
    }

    /// SHA-256 of [`Self::to_bytes`].
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest::of(&self.to_bytes())
    }
}

/// allow / deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every rule held (possibly with a break-glass for transparency).
    Allow,
    /// At least one reason.
    Deny,
}

/// One reason, from a failed check.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Reason {
    /// Stable reason code (the check id).
    pub code: &'static str,
    /// What it is about (member path, role, evidence kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The decision record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// allow / deny.
    pub decision: Verdict,
    /// Why deny (sorted, deduplicated); empty on allow.
    pub reasons: Vec<Reason>,
    /// Transparency reasons a break-glass overrode.
    pub overridden: Vec<Reason>,
    /// SHA-256 of the RFC 8785 policy.
    pub policy_digest: Sha256Digest,
    /// SHA-256 of the RFC 8785 gate input.
    pub gate_input_digest: Sha256Digest,
    /// `verified`, `missing` or `unverifiable`.
    pub transparency: &'static str,
    /// The break-glass that was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<breakglass::Granted>,
}

/// Everything [`evaluate`] produces.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// [`GATE_RESULT_SCHEMA`].
    pub schema: &'static str,
    /// The decision.
    pub decision: Decision,
    /// The gate input.
    pub gate_input: GateInput,
    /// Every check, passed or failed, in evaluation order.
    pub checks: Vec<Check>,
}

impl GateResult {
    /// RFC 8785 bytes of the whole result.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::json::canonical(self)
    }
}

/// `evidenceScore`: lowercase hex SHA-256 of the RFC 8785 form of
/// `{"artifact":{"digest","path"},"evidence":[{"digest","kind","path"}...]}`, where `evidence`
/// lists every manifest member whose kind is in [`SCORED_KINDS`], in manifest (path) order.
pub fn evidence_score(manifest: &Manifest, artifact: &ArtifactRef) -> String {
    let evidence: Vec<serde_json::Value> = manifest
        .members
        .iter()
        .filter(|m| SCORED_KINDS.contains(&m.kind))
        .map(|m| serde_json::json!({"digest": m.digest, "kind": m.kind, "path": m.path}))
        .collect();
    let doc = serde_json::json!({"artifact": {"digest": artifact.digest, "path": artifact.path}, "evidence": evidence});
    Sha256Digest::of(&crate::json::canonical_value(&doc)).hex()
}

fn read_verified(src: &dyn ByteSource, vb: &VerifiedBundle, path: &str, digest: &Sha256Digest) -> Result<Vec<u8>, GateError> {
    let e = vb.index.get(path).ok_or_else(|| GateError::Read {
        member: path.into(),
        source: ArchiveError::Io(std::io::Error::other("member absent from the verified index")),
    })?;
    let bytes = archive::read_member(src, e, MAX_EVIDENCE_SIZE).map_err(|source| GateError::Read { member: path.into(), source })?;
    let actual = Sha256Digest::of(&bytes);
    if actual != *digest {
        return Err(GateError::Changed { member: path.into(), expected: *digest, actual });
    }
    Ok(bytes)
}

fn choose_artifact(artifacts: &Artifacts, policy: &policy::Policy, ctx: &Context) -> Result<ArtifactRef, GateError> {
    if artifacts.0.is_empty() {
        return Err(GateError::NoArtifact);
    }
    match ctx.artifact.as_ref().or(policy.artifact.as_ref()) {
        Some(p) => artifacts.get(p).cloned().ok_or_else(|| GateError::NoSuchArtifact(p.clone())),
        None if artifacts.0.len() == 1 => Ok(artifacts.0[0].clone()),
        None => Err(GateError::AmbiguousArtifact {
            count: artifacts.0.len(),
            list: artifacts.0.iter().map(|a| a.path.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

fn signer_check(what: &str, rule: &SignerRule, counted: &[KeyId], roles: &Roles) -> Check {
    let role_ids: BTreeSet<KeyId> = roles.keys(&rule.role).iter().map(PublicKey::keyid).collect();
    let n = counted.iter().filter(|k| role_ids.contains(k)).collect::<BTreeSet<_>>().len();
    Check::new(
        "signer.threshold",
        n >= rule.threshold,
        format!("{n} distinct keys of role {:?} signed it; {} required", rule.role, rule.threshold),
    )
    .subject(what)
    .values(format!(">= {}", rule.threshold), n.to_string())
}

/// An envelope opened and signature-checked, kept for the later steps.
struct OpenedMember {
    path: String,
    digest: Sha256Digest,
    kind: Kind,
    opened: intoto::Opened,
}

/// Computes the gate input and the decision.
pub fn evaluate(
    verified: &Verified<VerifiedBundle>,
    src: &dyn ByteSource,
    policy: &LoadedPolicy,
    ctx: &Context,
) -> Result<GateResult, GateError> {
    let vb = verified.get();
    let manifest = &vb.manifest;
    let p = &policy.policy;
    let artifacts = Artifacts::of(manifest);
    let artifact = choose_artifact(&artifacts, p, ctx)?;
    let mut checks =
        vec![Check::new("gate.artifact", true, format!("gating {} ({})", artifact.path, artifact.digest)).subject(&artifact.path)];

    // Manifest signers by role.
    checks.push(signer_check("manifest.dsse.json", &p.signers.manifest, &vb.signers, &ctx.roles));

    // Read and parse every evidence member.
    let mut sboms: Vec<(String, Sbom)> = Vec::new();
    let mut vexes: Vec<(String, VexDocument)> = Vec::new();
    let mut envelopes: Vec<OpenedMember> = Vec::new();
    for m in &manifest.members {
        match m.kind {
            Kind::Sbom | Kind::Vex | Kind::Provenance | Kind::Attestation => {}
            Kind::Tlog => {
                checks.push(
                    Check::new("evidence.tlog", true, "transparency material; interpreted by the proof cache").subject(&m.path).info(),
                );
                continue;
            }
            Kind::Release | Kind::Evidence | Kind::Other => {
                checks.push(
                    Check::new("evidence.not-interpreted", true, format!("kind {}: listed, digested, not interpreted", m.kind.name()))
                        .subject(&m.path)
                        .info(),
                );
                continue;
            }
            Kind::Artifact => continue,
        }
        let bytes = read_verified(src, vb, &m.path, &m.digest)?;
        match m.kind {
            Kind::Sbom => match Sbom::parse(&bytes) {
                Ok(s) => {
                    checks.push(
                        Check::new("sbom.parse", true, format!("{} document, {} entries", s.format.name(), s.entries.len()))
                            .subject(&m.path),
                    );
                    sboms.push((m.path.clone(), s));
                }
                Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
            },
            Kind::Vex => match VexDocument::parse(&bytes) {
                Ok(v) => {
                    checks.push(Check::new("vex.parse", true, format!("{} statements", v.statements.len())).subject(&m.path));
                    vexes.push((m.path.clone(), v));
                }
                Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
            },
            _ => {
                // Layouts are signed by the layout role; try that role's keys too for attestations/.
                let rule = if m.kind == Kind::Provenance { &p.signers.provenance } else { &p.signers.attestation };
                let mut keys: Vec<PublicKey> = ctx.roles.keys(&rule.role).to_vec();
                if m.kind == Kind::Attestation {
                    keys.extend(ctx.roles.keys(&p.signers.layout.role).iter().cloned());
                }
                match intoto::open(&bytes, &keys) {
                    Ok(opened) => envelopes.push(OpenedMember { path: m.path.clone(), digest: m.digest, kind: m.kind, opened }),
                    Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
                }
            }
        }
    }

    // Statements: bind, check signers and (for provenance) SLSA pins.
    let mut attestations = Vec::new();
    let mut have_provenance = false;
    let mut have_attestation = false;
    let mut layouts: Vec<&OpenedMember> = Vec::new();
    let mut links: Vec<&OpenedMember> = Vec::new();
    for om in &envelopes {
        let rule = if om.kind == Kind::Provenance { &p.signers.provenance } else { &p.signers.attestation };
        match &om.opened.document {
            Document::Statement(st) => {
                let bound = match intoto::bind(st, &artifacts) {
                    Ok(b) => {
                        checks.push(
                            Check::new(
                                "attestation.subjects",
                                true,
                                format!("{} subjects, each the digest of a bundle artifact", st.subjects.len()),
                            )
                            .subject(&om.path),
                        );
                        b
                    }
                    Err(e) => {
                        checks.push(Check::new(e.code(), false, e.detail()).subject(&om.path));
                        continue;
                    }
                };
                let role_keys = ctx.roles.keys(&rule.role);
                let counted: Vec<KeyId> =
                    om.opened.tally.valid_keys.iter().filter(|k| role_keys.iter().any(|r| r.keyid() == **k)).copied().collect();
                let sc = signer_check(&om.path, rule, &counted, &ctx.roles);
                let signed = sc.status == CheckStatus::Pass;
                checks.push(sc);
                let about_gated = bound.iter().any(|a| a.path == artifact.path);
                if om.kind == Kind::Provenance {
                    if st.predicate_type != slsa::PREDICATE_V1 {
                        checks.push(
                            Check::new("provenance.predicate-type", false, "a provenance/ member must hold SLSA provenance v1")
                                .subject(&om.path)
                                .values(slsa::PREDICATE_V1, st.predicate_type.clone()),
                        );
                        continue;
                    }
                    match Provenance::from_predicate(&st.predicate) {
                        Ok(prov) => {
                            if let Some(pins) = &p.slsa {
                                let found = slsa::check(&prov, pins);
                                if found.is_empty() {
                                    checks.push(
                                        Check::new(
                                            "slsa.pins",
                                            true,
                                            "builder, build type, source and external parameters match the policy",
                                        )
                                        .subject(&om.path),
                                    );
                                }
                                for f in found {
                                    checks.push(Check::new(f.code, false, f.detail).subject(&om.path).values(f.expected, f.actual));
                                }
                            }
                        }
                        Err(e) => {
                            checks.push(Check::new(e.code(), false, e.to_string()).subject(&om.path));
                            continue;
                        }
                    }
                }
                if signed && about_gated {
                    if om.kind == Kind::Provenance {
                        have_provenance = true;
                    } else {
                        have_attestation = true;
                    }
                    let mut ids: Vec<String> = counted.iter().map(KeyId::hex).collect();
                    ids.sort();
                    attestations.push(AttestationEntry {
                        predicate_type: st.predicate_type.clone(),
                        dsse_digest: om.digest,
                        signer_key_id: ids.into_iter().next().expect("threshold >= 1 met"),
                    });
                }
            }
            Document::Layout(_) if om.kind == Kind::Attestation => {
                let role_keys = ctx.roles.keys(&p.signers.layout.role);
                let counted: Vec<KeyId> =
                    om.opened.tally.valid_keys.iter().filter(|k| role_keys.iter().any(|r| r.keyid() == **k)).copied().collect();
                let sc = signer_check(&om.path, &p.signers.layout, &counted, &ctx.roles);
                if sc.status == CheckStatus::Pass {
                    layouts.push(om);
                }
                checks.push(sc);
            }
            Document::Link(_) if om.kind == Kind::Attestation => links.push(om),
            _ => checks.push(
                Check::new(
                    "evidence.unrecognised",
                    false,
                    format!("in-toto layouts and links belong under attestations/, not {}/", om.kind.dir()),
                )
                .subject(&om.path),
            ),
        }
    }
    attestations.sort();

    // in-toto layout and links.
    let mut in_toto = None;
    match (layouts.as_slice(), links.is_empty()) {
        ([], true) => {}
        ([], false) => checks.push(
            Check::new("intoto.no-layout", false, "links are present but no layout signed by the layout role").subject(&links[0].path),
        ),
        ([layout], _) => {
            let Document::Layout(l) = &layout.opened.document else { unreachable!("only layouts are pushed") };
            let pairs: Vec<(&crate::dsse::Envelope, &intoto::Link)> = links
                .iter()
                .filter_map(|om| match &om.opened.document {
                    Document::Link(k) => Some((&om.opened.envelope, k)),
                    _ => None,
                })
                .collect();
            let found = intoto::check_chain(l, &pairs, &artifact, ctx.now);
            if found.is_empty() {
                checks.push(
                    Check::new(
                        "intoto.chain",
                        true,
                        format!("{} steps covered by {} links; the artifact is a product", l.steps.len(), pairs.len()),
                    )
                    .subject(&layout.path),
                );
                let mut link_digests: Vec<Sha256Digest> = links.iter().map(|l| l.digest).collect();
                link_digests.sort_by_key(|d| d.prefixed());
                in_toto = Some(InTotoSection { layout_digest: layout.digest, link_digests });
            }
            for f in found {
                checks.push(Check::new(f.code, false, f.detail).subject(&layout.path));
            }
        }
        (many, _) => {
            checks.push(Check::new("intoto.layout-ambiguous", false, format!("{} signed layouts; exactly one is allowed", many.len())))
        }
    }

    // SBOM coverage.
    let mut required: Vec<&ArtifactRef> = vec![&artifact];
    if p.sbom.cover_all_artifacts {
        required = artifacts.0.iter().collect();
    }
    let mut sbom_section = None;
    if !sboms.is_empty() {
        for a in required {
            let cov: Vec<(&String, Coverage)> = sboms.iter().map(|(path, s)| (path, s.coverage(a))).collect();
            let mut bad = false;
            for (path, c) in &cov {
                if let Coverage::DigestMismatch { name, recorded } = c {
                    bad = true;
                    checks.push(
                        Check::new(
                            "sbom.digest-mismatch",
                            false,
                            format!("{path} lists {name:?} with another SHA-256 than artifact {}", a.path),
                        )
                        .subject(&a.path)
                        .values(a.digest.prefixed(), recorded.prefixed()),
                    );
                }
            }
            let listed = cov.iter().find(|(_, c)| matches!(c, Coverage::Listed { .. }));
            match listed {
                Some((path, _)) if !bad => {
                    checks.push(Check::new("sbom.coverage", true, format!("{path} lists the artifact with its SHA-256")).subject(&a.path));
                    if a.path == artifact.path && sbom_section.is_none() {
                        let s = &sboms.iter().find(|(p, _)| p == *path).expect("present").1;
                        sbom_section = Some(SbomSection { canonical_digest: s.canonical_digest, format: s.format.family() });
                    }
                }
                Some(_) => {}
                None if !bad => {
                    let code = if cov.iter().any(|(_, c)| matches!(c, Coverage::NoDigest { .. })) {
                        "sbom.digest-missing"
                    } else {
                        "sbom.artifact-missing"
                    };
                    checks.push(
                        Check::new(code, false, "no SBOM in the bundle lists this artifact with its SHA-256")
                            .subject(&a.path)
                            .values(a.digest.prefixed(), "(not listed)"),
                    );
                }
                None => {}
            }
        }
    }

    // VEX merge for the gated artifact.
    let mut vex_section = None;
    if !vexes.is_empty() {
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &artifacts.0 {
            ids.insert(a.path.clone(), sboms.iter().flat_map(|(_, s)| s.ids_of(&a.digest)).collect());
        }
        let mut applicable = Vec::new();
        let mut unbound = 0usize;
        for (_, d) in &vexes {
            for st in &d.statements {
                match vex::scope(st, &artifact, &artifacts.0, &ids) {
                    vex::Scope::Artifact => applicable.push(st),
                    vex::Scope::Unbound => {
                        unbound += 1;
                        applicable.push(st);
                    }
                    vex::Scope::OtherArtifact => {}
                }
            }
        }
        if unbound > 0 {
            checks.push(
                Check::new("vex.unbound", true, format!("{unbound} statements name no bundle artifact by digest or SBOM identifier; they count for this artifact (fail closed)"))
                    .info(),
            );
        }
        let merged = Merged::of(applicable);
        if let Some(rule) = &p.vex {
            let worst = merged.worst();
            checks.push(
                Check::new(
                    "vex.status",
                    worst.rank() <= rule.max_status.rank(),
                    format!("worst per-vulnerability VEX status over {} vulnerabilities", merged.vulnerabilities.len()),
                )
                .subject(&artifact.path)
                .values(format!("<= {}", rule.max_status.name()), worst.name()),
            );
        }
        vex_section = Some(VexSection { merged_digest: merged.digest(), status_summary: merged.summary });
    }

    // Transparency. proofRef must name proof material carried by this bundle: a manifest tlog/
    // member, or the tlog-proof member that proves the manifest (outside the member set).
    let mut proof_digests: BTreeSet<Sha256Digest> = manifest.members.iter().filter(|m| m.kind == Kind::Tlog).map(|m| m.digest).collect();
    if let Some(e) = vb.index.get(crate::tlog::bundle::PROOF_MEMBER) {
        let bytes = archive::read_member(src, e, crate::tlog::bundle::MAX_PROOF_MEMBER)
            .map_err(|source| GateError::Read { member: crate::tlog::bundle::PROOF_MEMBER.into(), source })?;
        proof_digests.insert(Sha256Digest::of(&bytes));
    }
    let mut transparency_section = None;
    let status = ctx.transparency.status();
    let required_t = p.transparency.required;
    let mark = |c: Check| if required_t { c } else { c.info() };
    match &ctx.transparency {
        Transparency::Verified { rekor_uuid, log_index, proof_ref, checkpoint_time } => {
            if proof_digests.contains(&proof_ref.0) {
                checks.push(Check::new(
                    "transparency.proof",
                    true,
                    format!("inclusion proof verified; proof material is bundle member {}", proof_ref.text()),
                ));
                transparency_section =
                    Some(TransparencySection { rekor_uuid: rekor_uuid.clone(), log_index: *log_index, proof_ref: *proof_ref });
            } else {
                checks.push(mark(Check::new(
                    "transparency.unverifiable",
                    false,
                    format!("proofRef {} is no proof member of this bundle", proof_ref.text()),
                )));
            }
            if let Some(max) = p.transparency.max_proof_age_seconds {
                checks.push(mark(match checkpoint_time {
                    Some(t) => {
                        let age = ctx.now.0 - t.0;
                        Check::new("transparency.proof-age", age >= 0 && age as u64 <= max, format!("proof checkpoint dated {t}"))
                            .values(format!("<= {max} s"), format!("{age} s"))
                    }
                    None => Check::new(
                        "transparency.proof-age",
                        false,
                        "nothing dates the proof's checkpoint (no timed witness cosignature); its age cannot be bounded",
                    )
                    .values(format!("<= {max} s"), "unknown"),
                }));
            }
        }
        Transparency::Missing => {
            checks.push(mark(Check::new("transparency.missing", false, "no transparency-log inclusion proof for this bundle")))
        }
        Transparency::Unverifiable { reason } => {
            checks.push(mark(Check::new("transparency.unverifiable", false, format!("transparency proof cannot be checked: {reason}"))))
        }
        // Checked and wrong: denies whatever the policy says about requiring transparency.
        Transparency::Failed { rule, reason } => {
            checks.push(Check::new("transparency.failed", false, format!("transparency proof is wrong: {reason}")).subject(rule.clone()))
        }
    }

    // Required evidence.
    for k in &p.required_evidence {
        let present = match k {
            EvidenceKind::Sbom => sbom_section.is_some(),
            EvidenceKind::Provenance => have_provenance,
            EvidenceKind::Attestation => have_attestation,
            EvidenceKind::Vex => vex_section.is_some(),
            EvidenceKind::InToto => in_toto.is_some(),
        };
        checks.push(
            Check::new(
                "evidence.required",
                present,
                if present { "present, bound to the artifact and valid" } else { "required by the policy but absent, unbound or invalid" },
            )
            .subject(k.name()),
        );
    }
    // Report a missing required kind under its own code too, so the reason is explicit.
    let missing: Vec<String> =
        checks.iter().filter(|c| c.id == "evidence.required" && c.status == CheckStatus::Fail).filter_map(|c| c.subject.clone()).collect();
    for m in missing {
        checks.push(Check::new("evidence.missing", false, format!("required evidence kind {m} is missing")).subject(m));
    }
    checks.retain(|c| !(c.id == "evidence.required" && c.status == CheckStatus::Fail));

    let gate_input = GateInput {
        schema: GATE_INPUT_SCHEMA,
        artifact: ArtifactSection { artifact_id: artifact.path.clone(), digest: artifact.digest },
        evidence: EvidenceSection {
            evidence_score: evidence_score(manifest, &artifact),
            bundle_id: manifest.bundle_id.clone(),
            bundle_digest: Sha256Digest::of(&vb.manifest_bytes),
        },
        sbom: sbom_section,
        attestations,
        transparency: transparency_section,
        vex: vex_section,
        in_toto,
    };

    // Decision.
    let failed: BTreeSet<Reason> =
        checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| Reason { code: c.id, subject: c.subject.clone() }).collect();
    let only_transparency = !failed.is_empty() && failed.iter().all(|r| OVERRIDABLE.contains(&r.code));
    let mut granted = None;
    if let Some((req, approvers)) = &ctx.break_glass {
        if !p.break_glass.allowed {
            checks.push(Check::new("break-glass.disallowed", false, "the policy does not allow break-glass"));
        } else if !failed.iter().any(|r| OVERRIDABLE.contains(&r.code)) {
            checks.push(Check::new("break-glass.unused", true, "break-glass given but transparency held; not applied").info());
        } else {
            let (bg_checks, g) = breakglass::check(req, approvers, manifest, p.break_glass.max_validity_seconds, ctx.now);
            checks.extend(bg_checks);
            granted = g;
        }
    }
    let all_failed: BTreeSet<Reason> =
        checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| Reason { code: c.id, subject: c.subject.clone() }).collect();
    let (reasons, overridden): (Vec<Reason>, Vec<Reason>) = if granted.is_some() && only_transparency {
        (
            all_failed.iter().filter(|r| !OVERRIDABLE.contains(&r.code)).cloned().collect(),
            all_failed.iter().filter(|r| OVERRIDABLE.contains(&r.code)).cloned().collect(),
        )
    } else {
        (all_failed.into_iter().collect(), vec![])
    };
    let verdict = if reasons.is_empty() { Verdict::Allow } else { Verdict::Deny };
    let decision = Decision {
        decision: verdict,
        reasons,
        overridden,
        policy_digest: policy.digest,
        gate_input_digest: gate_input.digest(),
        transparency: status,
        break_glass: if verdict == Verdict::Allow { granted } else { None },
    };
    Ok(GateResult { schema: GATE_RESULT_SCHEMA, decision, gate_input, checks })
}
