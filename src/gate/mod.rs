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
use crate::bundle::manifest::{Manifest, Member};
use crate::digest::Sha256Digest;
use crate::evidence::intoto::{self, Document};
use crate::evidence::sbom::{Coverage, Sbom};
use crate::evidence::slsa::{self, Provenance};
use crate::evidence::vex::{self, Merger, Status, VexDocument};
use crate::evidence::{ArtifactRef, Artifacts, MAX_EVIDENCE_SIZE};
use crate::keys::{KeyId, PublicKey};
use crate::report::{Check, Status as CheckStatus};
use crate::signed::Labels;
use crate::time::Timestamp;
use crate::trust::role::{RoleKeys, RoleName};
use crate::trust::root::VerifiedRoot;
use crate::trust::state::{EvalTime, Evaluation};
use crate::verify::{Verified, VerifiedBundle};
use policy::{EvidenceKind, LoadedPolicy, SignerRule};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use transparency::{CasRef, GateTransparency};

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

/// Trust-root roles as values: role name → keys (Ed25519 or P-256) and the root's threshold.
/// The gate counts a role's keys at the policy's threshold for each evidence class.
#[derive(Clone, Debug, Default)]
pub struct Roles(BTreeMap<RoleName, RoleKeys>);

impl Roles {
    /// Every role of a verified trust root.
    pub fn from_root(root: &VerifiedRoot) -> Self {
        Roles(root.role_names().filter_map(|n| Some((n.clone(), root.role(n)?.clone()))).collect())
    }

    /// Sets a role's keys.
    pub fn insert(&mut self, role: RoleName, keys: RoleKeys) {
        self.0.insert(role, keys);
    }

    /// Adds Ed25519 keys to a role (ad-hoc `--key` / `--role-key` trust).
    pub fn add_ed25519(&mut self, role: RoleName, keys: impl IntoIterator<Item = PublicKey>) {
        let entry = self.0.entry(role).or_insert_with(|| RoleKeys::ed25519([], 1));
        entry.extend(RoleKeys::ed25519(keys, 1).keys().iter().cloned());
    }

    /// Adds keys of any supported type to a role (ad-hoc `--role-key`: Ed25519 or P-256).
    pub fn add(&mut self, role: RoleName, keys: impl IntoIterator<Item = crate::trust::key::TrustKey>) {
        let entry = self.0.entry(role).or_insert_with(|| RoleKeys::ed25519([], 1));
        entry.extend(keys.into_iter().map(|key| crate::trust::key::ListedKey { keyid: key.keyid().hex(), key }));
    }

    /// A role's keys, if the role is known.
    pub fn get(&self, role: &RoleName) -> Option<&RoleKeys> {
        self.0.get(role)
    }

    /// The keys of a policy rule's role at the rule's threshold (no keys for an unknown role:
    /// nothing can meet it).
    pub fn for_rule(&self, rule: &SignerRule) -> RoleKeys {
        self.get(&rule.role).cloned().unwrap_or_default().at_threshold(rule.threshold)
    }
}

/// Everything besides the bundle and the policy that the evaluation depends on.
#[derive(Clone, Debug)]
pub struct GateParams {
    /// Role keys.
    pub roles: Roles,
    /// The proof cache's outcome.
    pub transparency: GateTransparency,
    /// `--artifact`, overriding the policy's choice.
    pub artifact: Option<String>,
    /// A break-glass request and the approver role (its keys and threshold).
    pub break_glass: Option<(breakglass::Request, RoleKeys)>,
    /// The Sigstore trusted root `*.sigstore.json` evidence is verified against (none: such
    /// evidence is denied).
    pub sigstore_root: Option<std::sync::Arc<crate::sigstore::TrustedRoot>>,
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
    /// See [`evidence_digest`] (the seed-004 field name is `evidenceScore`).
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
    pub code: std::borrow::Cow<'static, str>,
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
    /// The evaluation time, whether `--at-time` fixed it, and the time expiry was judged at.
    pub evaluation: Evaluation,
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

/// `evidenceScore` (a digest, not a score): lowercase hex SHA-256 of the RFC 8785 form of
/// `{"artifact":{"digest","path"},"evidence":[{"digest","kind","path"}...]}`, where `evidence`
/// lists every manifest member whose kind is in [`SCORED_KINDS`], in manifest (path) order.
pub fn evidence_digest(manifest: &Manifest, artifact: &ArtifactRef) -> String {
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
    let e = vb.index().get(path).ok_or_else(|| GateError::Read {
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

fn choose_artifact(artifacts: &Artifacts, policy: &policy::Policy, params: &GateParams) -> Result<ArtifactRef, GateError> {
    if artifacts.0.is_empty() {
        return Err(GateError::NoArtifact);
    }
    match params.artifact.as_ref().or(policy.artifact.as_ref()) {
        Some(p) => artifacts.get(p).cloned().ok_or_else(|| GateError::NoSuchArtifact(p.clone())),
        None if artifacts.0.len() == 1 => Ok(artifacts.0[0].clone()),
        None => Err(GateError::AmbiguousArtifact {
            count: artifacts.0.len(),
            list: artifacts.0.iter().map(|a| a.path.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The manifest's signers (counted at verification) against the policy's manifest rule.
fn manifest_signer_check(rule: &SignerRule, counted: &[KeyId], roles: &Roles) -> Check {
    let role = roles.for_rule(rule);
    let n = counted.iter().filter(|k| role.contains(k)).collect::<BTreeSet<_>>().len();
    Check::new(
        "signer.threshold",
        n >= rule.threshold,
        format!("{n} distinct keys of role {:?} signed it; {} required", rule.role.as_str(), rule.threshold),
    )
    .subject(crate::bundle::ENVELOPE)
    .values(format!(">= {}", rule.threshold), n.to_string())
}

/// How an evidence envelope's signature checks are named: per member, against a policy rule.
fn evidence_labels(path: &str, rule: &SignerRule) -> Labels {
    Labels {
        signature: "signer.signature",
        threshold: "signer.threshold",
        document: path.to_string(),
        signers: format!("keys of role {:?}", rule.role.as_str()),
        subject: Some(path.to_string()),
    }
}

/// A statement its policy role signed.
struct SignedStatement {
    path: String,
    digest: Sha256Digest,
    kind: Kind,
    statement: intoto::Statement,
    signers: Vec<KeyId>,
}

/// An in-toto layout the layout role signed.
struct SignedLayout {
    path: String,
    digest: Sha256Digest,
    layout: intoto::Layout,
}

/// An in-toto link: its signatures are counted per step by [`intoto::check_chain`].
struct LinkMember {
    digest: Sha256Digest,
    path: String,
    envelope: crate::dsse::Envelope,
    link: intoto::Link,
}

/// The evidence members, parsed, and their envelopes opened against the policy's roles.
#[derive(Default)]
struct Evidence {
    /// Each SBOM with only the entries that can bind to a bundle artifact.
    sboms: Vec<(String, Sbom)>,
    /// The VEX statements that apply to the gated artifact, merged as they were read.
    vex: Option<VexFold>,
    statements: Vec<SignedStatement>,
    layouts: Vec<SignedLayout>,
    links: Vec<LinkMember>,
}

/// The VEX statements read so far that apply to the gated artifact (its own and the unbound
/// ones, which count: fail closed), merged per vulnerability.
#[derive(Default)]
struct VexFold {
    merger: Merger,
    unbound: usize,
}

/// Step 1: reads every evidence member (each read checked against the verified digest), parses
/// SBOMs and VEX, and opens DSSE envelopes through the one signed-document opener: statements
/// against the provenance or attestation rule's role, layouts against the layout rule's role.
///
/// One member at a time: its bytes and parse are dropped before the next is read, and what is
/// kept is small whatever the document's size (format-spec/evidence-v1.md, "Memory"): of an
/// SBOM the entries that can bind to a bundle artifact, of a VEX document the merged statuses
/// of the statements that apply to `artifact`.
fn read_evidence(
    vb: &VerifiedBundle,
    src: &dyn ByteSource,
    p: &policy::Policy,
    params: &GateParams,
    (artifacts, artifact): (&Artifacts, &ArtifactRef),
    checks: &mut Vec<Check>,
) -> Result<Evidence, GateError> {
    let roles = &params.roles;
    let mut ev = Evidence::default();
    // Artifact path → the identifiers the SBOMs give it, for binding VEX products. Members are
    // sorted by path (the manifest refuses otherwise), so every sbom/ member is read before the
    // first vex/ one, where this is built.
    let mut sbom_ids: Option<BTreeMap<String, Vec<String>>> = None;
    for m in &vb.manifest().members {
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
            Kind::Sbom => match Sbom::parse_for(&bytes, &artifacts.0) {
                Ok(s) => {
                    checks.push(
                        Check::new("sbom.parse", true, format!("{} document, {} entries", s.format.name(), s.count)).subject(&m.path),
                    );
                    ev.sboms.push((m.path.clone(), s));
                }
                // An SBOM airlock cannot read denies only when the policy requires an SBOM.
                Err(e) if !p.required_evidence.contains(&EvidenceKind::Sbom) => checks.push(
                    Check::new(e.code(), true, format!("{e}; not read, and the policy does not require an SBOM")).subject(&m.path).info(),
                ),
                Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
            },
            Kind::Vex => {
                let ids = sbom_ids.get_or_insert_with(|| {
                    let of = |a: &ArtifactRef| ev.sboms.iter().flat_map(|(_, s)| s.ids_of(&a.digest)).collect();
                    artifacts.0.iter().map(|a| (a.path.clone(), of(a))).collect()
                });
                // Statements of a document that turns out malformed are not merged.
                let mut fold = VexFold::default();
                let parsed = VexDocument::parse_with(&bytes, &mut |st| {
                    match vex::scope(st, artifact, &artifacts.0, ids) {
                        vex::Scope::Artifact => fold.merger.add(st),
                        vex::Scope::Unbound => {
                            fold.unbound += 1;
                            fold.merger.add(st);
                        }
                        vex::Scope::OtherArtifact => {}
                    }
                    false
                });
                match parsed {
                    Ok(v) => {
                        checks.push(Check::new("vex.parse", true, format!("{} statements", v.count)).subject(&m.path));
                        let all = ev.vex.get_or_insert_with(VexFold::default);
                        all.merger.absorb(fold.merger);
                        all.unbound += fold.unbound;
                    }
                    Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
                }
            }
            _ if m.path.ends_with(SIGSTORE_SUFFIX) => open_sigstore(m, &bytes, p, params.sigstore_root.as_deref(), &mut ev, checks),
            _ if m.path.ends_with(intoto::JSONL_SUFFIX) => match intoto::split_jsonl(&bytes) {
                Ok(lines) if lines.len() == 1 => open_envelope(m, lines[0].1, p, roles, &mut ev, checks),
                // Several envelopes: each is its own document, named `PATH#LINE`, its digest the
                // SHA-256 of its line (the member's digest binds them all).
                Ok(lines) => {
                    for (n, line) in lines {
                        let one = Member { path: format!("{}#{n}", m.path), digest: Sha256Digest::of(line), ..m.clone() };
                        open_envelope(&one, line, p, roles, &mut ev, checks);
                    }
                }
                Err(e) => checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
            },
            _ => open_envelope(m, &bytes, p, roles, &mut ev, checks),
        }
    }
    Ok(ev)
}

/// Opens one provenance/ or attestations/ envelope; the document's kind chooses the role.
fn open_envelope(m: &Member, bytes: &[u8], p: &policy::Policy, roles: &Roles, ev: &mut Evidence, checks: &mut Vec<Check>) {
    let parsed = match intoto::read(bytes) {
        Ok(x) => x,
        Err(e) => return checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
    };
    let rule = match (parsed.unverified_payload(), m.kind) {
        (Document::Statement(_), Kind::Provenance) => &p.signers.provenance,
        (Document::Statement(_), _) => &p.signers.attestation,
        (Document::Layout(_), Kind::Attestation) => &p.signers.layout,
        (Document::Link(_), Kind::Attestation) => {
            let (envelope, doc) = parsed.into_unverified();
            if let Document::Link(link) = doc {
                ev.links.push(LinkMember { digest: m.digest, path: m.path.clone(), envelope, link });
            }
            return;
        }
        _ => {
            return checks.push(
                Check::new(
                    "evidence.unrecognised",
                    false,
                    format!("in-toto layouts and links belong under attestations/, not {}/", m.kind.dir()),
                )
                .subject(&m.path),
            );
        }
    };
    let labels = evidence_labels(&m.path, rule);
    let doc = match parsed.verify(&roles.for_rule(rule)) {
        Ok(d) => d,
        Err(refused) => return checks.extend(refused.0.checks(&labels)),
    };
    checks.extend(doc.signatures().checks(&labels));
    let signers = doc.signers_sorted();
    match doc.into_payload() {
        Document::Statement(statement) => {
            ev.statements.push(SignedStatement { path: m.path.clone(), digest: m.digest, kind: m.kind, statement, signers })
        }
        Document::Layout(layout) => ev.layouts.push(SignedLayout { path: m.path.clone(), digest: m.digest, layout }),
        Document::Link(_) => unreachable!("links are not opened against a role"),
    }
}

/// The name ending of evidence packed as a Sigstore bundle.
pub const SIGSTORE_SUFFIX: &str = ".sigstore.json";

/// Opens one provenance/ or attestations/ Sigstore bundle (gate-v1 §4.3): a DSSE in-toto
/// statement verified offline against the Sigstore trusted root and the rule's keyless identity;
/// its subjects are then bound to the bundle's artifacts like any statement's. The statement's
/// signer is recorded as the SHA-256 of the signing certificate.
fn open_sigstore(
    m: &Member,
    bytes: &[u8],
    p: &policy::Policy,
    root: Option<&crate::sigstore::TrustedRoot>,
    ev: &mut Evidence,
    checks: &mut Vec<Check>,
) {
    use crate::sigstore::bundle::{Bundle, Content, Material};
    let fail = |id: &'static str, d: String| Check::new(id, false, d).subject(&m.path);
    let (rule, what) =
        if m.kind == Kind::Provenance { (&p.signers.provenance, "provenance") } else { (&p.signers.attestation, "attestation") };
    let Some(signer) = rule.sigstore.as_ref().and_then(policy::SigstoreSigner::policy) else {
        return checks
            .push(fail("sigstore.policy", format!("a Sigstore bundle, but the policy names no signers.{what}.sigstore identity")));
    };
    let Some(root) = root else {
        return checks.push(fail("sigstore.trusted-root", "a Sigstore bundle, but no Sigstore trusted root was given".into()));
    };
    let bundle = match Bundle::parse(bytes) {
        Ok(b) => b,
        Err(e) => return checks.push(fail(e.check(), e.to_string())),
    };
    let Content::Dsse { payload, .. } = &bundle.content else {
        return checks.push(fail(
            "sigstore.artifact",
            "a message-signature bundle names no subject; evidence must be a DSSE in-toto statement".into(),
        ));
    };
    let statement = match intoto::Statement::parse(payload) {
        Ok(s) => s,
        Err(e) => return checks.push(Check::new(e.code(), false, e.to_string()).subject(&m.path)),
    };
    let Some(first) = statement.subjects.iter().find_map(|s| s.sha256) else {
        return checks.push(fail("sigstore.artifact", "the statement has no sha256 subject".into()));
    };
    match crate::sigstore::verify_bundle(&bundle, &first.0, root, &signer) {
        Ok(v) => {
            for (id, d) in &v.checks {
                checks.push(Check::new(*id, true, d.clone()).subject(&m.path));
            }
            let leaf = match &bundle.material {
                Material::Certificate(c) => c.as_slice(),
                Material::Chain(c) => c.first().map_or(&[][..], Vec::as_slice),
                Material::PublicKey { .. } => &[],
            };
            let signer = KeyId(Sha256Digest::of(leaf).0);
            ev.statements.push(SignedStatement { path: m.path.clone(), digest: m.digest, kind: m.kind, statement, signers: vec![signer] });
        }
        Err(e) => checks.push(fail(e.check(), e.to_string())),
    }
}

/// What the signed statements established.
#[derive(Default)]
struct Statements {
    attestations: Vec<AttestationEntry>,
    have_provenance: bool,
    have_attestation: bool,
}

/// Step 2: binds each signed statement's subjects to bundle artifacts and checks provenance
/// against the policy's SLSA pins.
fn check_statements(
    statements: &[SignedStatement],
    artifacts: &Artifacts,
    artifact: &ArtifactRef,
    p: &policy::Policy,
    checks: &mut Vec<Check>,
) -> Statements {
    let mut out = Statements::default();
    for sm in statements {
        let st = &sm.statement;
        let bound = match intoto::bind(st, artifacts) {
            Ok(b) => {
                checks.push(
                    Check::new(
                        "attestation.subjects",
                        true,
                        format!("{} subjects, each the digest of a bundle artifact", st.subjects.len()),
                    )
                    .subject(&sm.path),
                );
                b
            }
            Err(e) => {
                checks.push(Check::new(e.code(), false, e.detail()).subject(&sm.path));
                continue;
            }
        };
        let about_gated = bound.iter().any(|a| a.path == artifact.path);
        if sm.kind == Kind::Provenance && !provenance_holds(sm, p, checks) {
            continue;
        }
        if about_gated {
            if sm.kind == Kind::Provenance {
                out.have_provenance = true;
            } else {
                out.have_attestation = true;
            }
            out.attestations.push(AttestationEntry {
                predicate_type: st.predicate_type.clone(),
                dsse_digest: sm.digest,
                signer_key_id: sm.signers.first().expect("an accepted document has a signer").hex(),
            });
        }
    }
    out.attestations.sort();
    out
}

/// A provenance/ statement: SLSA provenance v1 or v0.2 whose pins match the policy. False when
/// it is neither or does not parse (a check says why); pin mismatches are checks and do not stop
/// it counting as provenance (the failed check denies).
fn provenance_holds(sm: &SignedStatement, p: &policy::Policy, checks: &mut Vec<Check>) -> bool {
    let st = &sm.statement;
    let Some(parsed) = Provenance::from_typed(&st.predicate_type, &st.predicate) else {
        checks.push(
            Check::new("provenance.predicate-type", false, "a provenance/ member must hold SLSA provenance v1 or v0.2")
                .subject(&sm.path)
                .values(format!("{} or {}", slsa::PREDICATE_V1, slsa::PREDICATE_V02), st.predicate_type.clone()),
        );
        return false;
    };
    match parsed {
        Ok(prov) => {
            if let Some(pins) = &p.slsa {
                let found = slsa::check(&prov, pins);
                if found.is_empty() {
                    checks.push(
                        Check::new("slsa.pins", true, "builder, build type, source and external parameters match the policy")
                            .subject(&sm.path),
                    );
                }
                for f in found {
                    checks.push(Check::new(f.code, false, f.detail).subject(&sm.path).values(f.expected, f.actual));
                }
            }
            true
        }
        Err(e) => {
            checks.push(Check::new(e.code(), false, e.to_string()).subject(&sm.path));
            false
        }
    }
}

/// Step 3: the in-toto layout (exactly one, signed by the layout role) and its links.
fn check_in_toto(ev: &Evidence, artifact: &ArtifactRef, now: Timestamp, checks: &mut Vec<Check>) -> Option<InTotoSection> {
    match (ev.layouts.as_slice(), ev.links.is_empty()) {
        ([], true) => None,
        ([], false) => {
            checks.push(
                Check::new("intoto.no-layout", false, "links are present but no layout signed by the layout role")
                    .subject(&ev.links[0].path),
            );
            None
        }
        ([layout], _) => {
            let pairs: Vec<(&crate::dsse::Envelope, &intoto::Link)> = ev.links.iter().map(|l| (&l.envelope, &l.link)).collect();
            let found = intoto::check_chain(&layout.layout, &pairs, artifact, now);
            let holds = found.is_empty();
            for f in found {
                checks.push(Check::new(f.code, false, f.detail).subject(&layout.path));
            }
            holds.then(|| {
                checks.push(
                    Check::new(
                        "intoto.chain",
                        true,
                        format!("{} steps covered by {} links; the artifact is a product", layout.layout.steps.len(), pairs.len()),
                    )
                    .subject(&layout.path),
                );
                let mut link_digests: Vec<Sha256Digest> = ev.links.iter().map(|l| l.digest).collect();
                link_digests.sort_by_key(|d| d.prefixed());
                InTotoSection { layout_digest: layout.digest, link_digests }
            })
        }
        (many, _) => {
            checks.push(Check::new("intoto.layout-ambiguous", false, format!("{} signed layouts; exactly one is allowed", many.len())));
            None
        }
    }
}

/// Step 4: SBOM coverage of the gated artifact (or of every artifact, as the policy says).
fn check_sbom(
    sboms: &[(String, Sbom)],
    artifacts: &Artifacts,
    artifact: &ArtifactRef,
    p: &policy::Policy,
    checks: &mut Vec<Check>,
) -> Option<SbomSection> {
    if sboms.is_empty() {
        return None;
    }
    let required: Vec<&ArtifactRef> = if p.sbom.cover_all_artifacts { artifacts.0.iter().collect() } else { vec![artifact] };
    let mut sbom_section = None;
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
    sbom_section
}

/// Step 5: VEX statements that apply to the gated artifact, merged, against the policy's worst
/// tolerated status.
fn check_vex(vex: Option<VexFold>, artifact: &ArtifactRef, p: &policy::Policy, checks: &mut Vec<Check>) -> Option<VexSection> {
    let VexFold { merger, unbound } = vex?;
    if unbound > 0 {
        checks.push(
            Check::new(
                "vex.unbound",
                true,
                format!(
                    "{unbound} statements name no bundle artifact by digest or SBOM identifier; they count for this artifact (fail closed)"
                ),
            )
            .info(),
        );
    }
    let merged = merger.finish();
    if let Some(rule) = &p.vex {
        let worst = merged.worst();
        checks.push(
            Check::new(
                "vex.status",
                worst.rank() <= rule.max_status.rank(),
                format!(
                    "worst per-vulnerability VEX status over {} vulnerabilities{}",
                    merged.vulnerabilities.len(),
                    merged.not_cleared().map(|l| format!(": {l}")).unwrap_or_default()
                ),
            )
            .subject(&artifact.path)
            .values(format!("<= {}", rule.max_status.name()), worst.name()),
        );
    }
    Some(VexSection { merged_digest: merged.digest(), status_summary: merged.summary })
}

/// Step 6: the transparency outcome against the policy. proofRef must name proof material
/// carried by this bundle: a manifest tlog/ member, or the tlog-proof member that proves the
/// manifest (outside the member set).
fn check_transparency(
    vb: &VerifiedBundle,
    p: &policy::Policy,
    params: &GateParams,
    now: Timestamp,
    checks: &mut Vec<Check>,
) -> Option<TransparencySection> {
    let manifest = vb.manifest();
    let mut proof_digests: BTreeSet<Sha256Digest> = manifest.members.iter().filter(|m| m.kind == Kind::Tlog).map(|m| m.digest).collect();
    // The proof member verification read (its digest, not a second read of the file).
    if let crate::tlog::bundle::TransparencyOutcome::Verified(v) = vb.transparency() {
        proof_digests.insert(v.proof_digest);
    }
    let mut transparency_section = None;
    let required_t = p.transparency.required;
    let mark = |c: Check| if required_t { c } else { c.info() };
    match &params.transparency {
        GateTransparency::Verified { rekor_uuid, log_index, proof_ref, checkpoint_time } => {
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
                        let age = now.0 - t.0;
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
        GateTransparency::Missing => {
            checks.push(mark(Check::new("transparency.missing", false, "no transparency-log inclusion proof for this bundle")))
        }
        GateTransparency::Unverifiable { reason } => {
            checks.push(mark(Check::new("transparency.unverifiable", false, format!("transparency proof cannot be checked: {reason}"))))
        }
        // Checked and wrong: denies whatever the policy says about requiring transparency.
        GateTransparency::Failed { rule, reason } => {
            checks.push(Check::new("transparency.failed", false, format!("transparency proof is wrong: {reason}")).subject(rule.clone()))
        }
    }
    transparency_section
}

/// Step 7: every evidence kind the policy requires is present, bound and valid; a missing one is
/// reported under `evidence.missing`.
fn check_required(p: &policy::Policy, present: impl Fn(&EvidenceKind) -> bool, checks: &mut Vec<Check>) {
    let (held, missing): (Vec<&EvidenceKind>, Vec<&EvidenceKind>) = p.required_evidence.iter().partition(|k| present(k));
    for k in held {
        checks.push(Check::new("evidence.required", true, "present, bound to the artifact and valid").subject(k.name()));
    }
    for k in missing {
        checks.push(Check::new("evidence.missing", false, format!("required evidence kind {} is missing", k.name())).subject(k.name()));
    }
}

fn failed_reasons(checks: &[Check]) -> BTreeSet<Reason> {
    checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| Reason { code: c.id.clone(), subject: c.subject.clone() }).collect()
}

/// Step 8: allow or deny; a break-glass the approver role signed may override transparency
/// reasons, and nothing else.
fn decide(
    checks: &mut Vec<Check>,
    policy: &LoadedPolicy,
    params: &GateParams,
    time: EvalTime,
    manifest: &Manifest,
    gate_input: &GateInput,
) -> Decision {
    let p = &policy.policy;
    let failed = failed_reasons(checks);
    let only_transparency = !failed.is_empty() && failed.iter().all(|r| OVERRIDABLE.contains(&r.code.as_ref()));
    let mut granted = None;
    if let Some((req, approvers)) = &params.break_glass {
        if !p.break_glass.allowed {
            checks.push(Check::new("break-glass.disallowed", false, "the policy does not allow break-glass"));
        } else if !failed.iter().any(|r| OVERRIDABLE.contains(&r.code.as_ref())) {
            checks.push(Check::new("break-glass.unused", true, "break-glass given but transparency held; not applied").info());
        } else {
            let (bg_checks, g) = breakglass::check(req, approvers, manifest, p.break_glass.max_validity_seconds, time);
            checks.extend(bg_checks);
            granted = g;
        }
    }
    let all_failed = failed_reasons(checks);
    let (reasons, overridden): (Vec<Reason>, Vec<Reason>) = if granted.is_some() && only_transparency {
        all_failed.into_iter().partition(|r| !OVERRIDABLE.contains(&r.code.as_ref()))
    } else {
        (all_failed.into_iter().collect(), vec![])
    };
    let verdict = if reasons.is_empty() { Verdict::Allow } else { Verdict::Deny };
    Decision {
        decision: verdict,
        reasons,
        overridden,
        policy_digest: policy.digest,
        gate_input_digest: gate_input.digest(),
        transparency: params.transparency.status(),
        break_glass: if verdict == Verdict::Allow { granted } else { None },
        evaluation: time.evaluation(),
    }
}

/// Computes the gate input and the decision, in named steps: read and open the evidence,
/// statements and SLSA, in-toto, SBOM, VEX, transparency, required evidence, decide.
pub fn evaluate(
    verified: &Verified<VerifiedBundle>,
    src: &dyn ByteSource,
    policy: &LoadedPolicy,
    params: &GateParams,
) -> Result<GateResult, GateError> {
    let vb = verified.get();
    // The verification's one time (the command's clock read, or --at-time): nothing here reads
    // another.
    let now = verified.evaluated_at();
    let manifest = vb.manifest();
    let p = &policy.policy;
    let artifacts = Artifacts::of(manifest);
    let artifact = choose_artifact(&artifacts, p, params)?;
    let mut checks =
        vec![Check::new("gate.artifact", true, format!("gating {} ({})", artifact.path, artifact.digest)).subject(&artifact.path)];
    checks.push(manifest_signer_check(&p.signers.manifest, vb.signers(), &params.roles));

    let mut ev = read_evidence(vb, src, p, params, (&artifacts, &artifact), &mut checks)?;
    let statements = check_statements(&ev.statements, &artifacts, &artifact, p, &mut checks);
    let in_toto = check_in_toto(&ev, &artifact, now, &mut checks);
    let sbom = check_sbom(&ev.sboms, &artifacts, &artifact, p, &mut checks);
    let vex = check_vex(ev.vex.take(), &artifact, p, &mut checks);
    let transparency = check_transparency(vb, p, params, now, &mut checks);
    check_required(
        p,
        |k| match k {
            EvidenceKind::Sbom => sbom.is_some(),
            EvidenceKind::Provenance => statements.have_provenance,
            EvidenceKind::Attestation => statements.have_attestation,
            EvidenceKind::Vex => vex.is_some(),
            EvidenceKind::InToto => in_toto.is_some(),
        },
        &mut checks,
    );

    let gate_input = GateInput {
        schema: GATE_INPUT_SCHEMA,
        artifact: ArtifactSection { artifact_id: artifact.path.clone(), digest: artifact.digest },
        evidence: EvidenceSection {
            evidence_score: evidence_digest(manifest, &artifact),
            bundle_id: manifest.bundle_id.clone(),
            bundle_digest: Sha256Digest::of(vb.manifest_bytes()),
        },
        sbom,
        attestations: statements.attestations,
        transparency,
        vex,
        in_toto,
    };
    let decision = decide(&mut checks, policy, params, verified.basis().time, manifest, &gate_input);
    Ok(GateResult { schema: GATE_RESULT_SCHEMA, decision, gate_input, checks })
}
