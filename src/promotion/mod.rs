//! Rollout and promotion documents (sans-I/O). Normative text: `format-spec/promotion-v1.md`.
//!
//! Five signed documents, each a DSSE envelope with its own payloadType whose payload is the
//! RFC 8785 form of a strict, closed JSON object. Every one names its bundle by id and manifest
//! digest ([`BundleRef`]), never by a path, so a chain of them checks on any machine holding the
//! bundle and the trust root:
//!
//! ```text
//! rollout record   (operator)  a bundle staged/succeeded in a channel's ring, on deployments
//! request          (operator)  move it to the next ring / next channel / back (rollback)
//! approval         (approver)  approve or deny one request (by its payload digest), expiring
//! execution        (operator)  the request carried out with its approvals
//! hold             (operator)  hold or resume a product's channel
//! ```
//!
//! A document is identified by the SHA-256 of its payload (the exact signed bytes), so adding a
//! signature to an envelope does not change what it is. Documents are opened only through
//! [`crate::signed::open`]; the rules that decide from them live in [`rules`].

pub mod rules;

use crate::digest::Sha256Digest;
use crate::dsse::Envelope;
use crate::json::{self, JsonError};
use crate::keys::SecretKey;
use crate::signed::{self, Labels, SignedDocument};
use crate::time::Timestamp;
use crate::trust::role::RoleKeys;
use crate::verify::{Verified, VerifiedBundle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest free-text field (reason, actor, change record) accepted.
pub const MAX_TEXT: usize = 1024;

/// Why a promotion document could not be read (exit 2: could not check).
#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    /// The bytes are not a DSSE envelope of the expected document, or its payload is not the
    /// document's strict canonical JSON.
    #[error("{doc} is malformed: {detail}")]
    Malformed {
        /// The document kind (e.g. `rollout record`).
        doc: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A field breaks the document's value rules (empty text, expiry before issue, ...).
    #[error("{doc} field {field} is not acceptable: {detail}")]
    Field {
        /// The document kind.
        doc: &'static str,
        /// The field.
        field: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// How a verified bundle is named by every promotion document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BundleRef {
    /// The manifest's bundle id.
    pub bundle_id: String,
    /// SHA-256 of the signed manifest bytes.
    pub manifest_digest: Sha256Digest,
    /// The release's product.
    pub product: String,
    /// The release's version.
    pub version: String,
}

impl BundleRef {
    /// The reference of a verified bundle (only a bundle that verified is ever named).
    pub fn of(bundle: &Verified<VerifiedBundle>) -> Self {
        let m = bundle.get().manifest();
        BundleRef {
            bundle_id: m.bundle_id.clone(),
            manifest_digest: Sha256Digest::of(bundle.get().manifest_bytes()),
            product: m.release.product.clone(),
            version: m.release.version.clone(),
        }
    }
}

/// A place in the rollout: a channel and one of its rings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Position {
    /// Channel name.
    pub channel: String,
    /// Ring name within the channel.
    pub ring: String,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.channel, self.ring)
    }
}

/// A rollout's status as the operator captured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// Planned, nothing deployed.
    Planned,
    /// Deployed to the ring, not yet confirmed.
    Staged,
    /// Deployed and confirmed.
    Succeeded,
    /// Failed.
    Failed,
    /// Rolled back.
    RolledBack,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransitionKind {
    /// The next ring of the same channel.
    Ring,
    /// The first ring of the next channel.
    Channel,
    /// Back to where an executed transition came from.
    Rollback,
}

/// An approver's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Approves the request.
    Approve,
    /// Vetoes it.
    Deny,
}

/// Hold or resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HoldAction {
    /// Stops execution in the channel.
    Hold,
    /// Lifts the hold.
    Resume,
}

/// A signed promotion document kind: its payloadType, schema, name and signing role.
pub trait Document: Serialize + DeserializeOwned {
    /// DSSE payloadType.
    const PAYLOAD_TYPE: &'static str;
    /// `schema` value.
    const SCHEMA: &'static str;
    /// In words.
    const NAME: &'static str;
    /// The `schema` field as read.
    fn schema(&self) -> &str;
    /// The bundle named.
    fn bundle(&self) -> &BundleRef;
    /// Value rules beyond the shape (text lengths, time order); `Err((field, detail))`.
    fn check_fields(&self) -> Result<(), (&'static str, String)>;
}

macro_rules! document {
    ($t:ty, $pt:literal, $schema:literal, $name:literal) => {
        impl Document for $t {
            const PAYLOAD_TYPE: &'static str = $pt;
            const SCHEMA: &'static str = $schema;
            const NAME: &'static str = $name;
            fn schema(&self) -> &str {
                &self.schema
            }
            fn bundle(&self) -> &BundleRef {
                &self.bundle
            }
            fn check_fields(&self) -> Result<(), (&'static str, String)> {
                self.fields()
            }
        }
    };
}

/// A rollout record: the bundle staged or rolled out in a channel's ring on named deployments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutRecord {
    /// Always `airlock/rollout-record/v1`.
    pub schema: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// Where it is.
    pub position: Position,
    /// Deployment target ids of the release metadata, sorted, distinct.
    pub deployments: Vec<String>,
    /// Status.
    pub status: RolloutStatus,
    /// Who captured it.
    pub actor: String,
    /// Change-record reference, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_record: Option<String>,
    /// When captured.
    pub captured_at: Timestamp,
}
document!(RolloutRecord, "application/vnd.airlock.rollout-record.v1+json", "airlock/rollout-record/v1", "rollout record");

/// A promotion request: move the rollout's bundle from one position to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromotionRequest {
    /// Always `airlock/promotion-request/v1`.
    pub schema: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// Digest of the rollout record's payload it starts from.
    pub rollout: Sha256Digest,
    /// What it asks for.
    pub kind: TransitionKind,
    /// Where the bundle is.
    pub from: Position,
    /// Where it should go.
    pub to: Position,
    /// For a rollback: digest of the execution's payload it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<Sha256Digest>,
    /// When requested.
    pub requested_at: Timestamp,
    /// After this it cannot execute.
    pub expires_at: Timestamp,
}
document!(PromotionRequest, "application/vnd.airlock.promotion-request.v1+json", "airlock/promotion-request/v1", "promotion request");

/// An approver's decision on one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Approval {
    /// Always `airlock/promotion-approval/v1`.
    pub schema: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// Digest of the request's payload.
    pub request: Sha256Digest,
    /// Approve or deny.
    pub decision: Decision,
    /// Why.
    pub reason: String,
    /// The target channel's hold conditions the approver saw.
    pub hold_conditions: Vec<String>,
    /// The target channel's rollback requirements the approver approved against.
    pub rollback_requirements: Vec<String>,
    /// When decided.
    pub issued_at: Timestamp,
    /// After this it does not count.
    pub expires_at: Timestamp,
}
document!(Approval, "application/vnd.airlock.promotion-approval.v1+json", "airlock/promotion-approval/v1", "promotion approval");

/// An executed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Execution {
    /// Always `airlock/promotion-execution/v1`.
    pub schema: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// Digest of the request's payload.
    pub request: Sha256Digest,
    /// Digests of the approvals' payloads that counted, sorted.
    pub approvals: Vec<Sha256Digest>,
    /// Key ids of the approvers that counted, sorted.
    pub approvers: Vec<String>,
    /// The request's kind.
    pub kind: TransitionKind,
    /// From.
    pub from: Position,
    /// To.
    pub to: Position,
    /// When executed.
    pub executed_at: Timestamp,
}
document!(Execution, "application/vnd.airlock.promotion-execution.v1+json", "airlock/promotion-execution/v1", "promotion execution");

/// A hold on (or resumption of) a product's channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hold {
    /// Always `airlock/promotion-hold/v1`.
    pub schema: String,
    /// The bundle whose product is held.
    pub bundle: BundleRef,
    /// The channel.
    pub channel: String,
    /// Hold or resume.
    pub action: HoldAction,
    /// Why.
    pub reason: String,
    /// When.
    pub issued_at: Timestamp,
}
document!(Hold, "application/vnd.airlock.promotion-hold.v1+json", "airlock/promotion-hold/v1", "promotion hold");

fn text(field: &'static str, s: &str) -> Result<(), (&'static str, String)> {
    if s.trim().is_empty() || s.len() > MAX_TEXT {
        return Err((field, format!("must be 1..{MAX_TEXT} bytes of text")));
    }
    Ok(())
}

fn window(issued: Timestamp, expires: Timestamp) -> Result<(), (&'static str, String)> {
    if expires <= issued {
        return Err(("expiresAt", format!("{expires} is not after {issued}")));
    }
    Ok(())
}

impl RolloutRecord {
    fn fields(&self) -> Result<(), (&'static str, String)> {
        text("actor", &self.actor)?;
        if let Some(c) = &self.change_record {
            text("changeRecord", c)?;
        }
        if self.deployments.is_empty() || self.deployments.windows(2).any(|w| w[0] >= w[1]) {
            return Err(("deployments", "must be at least one id, sorted and distinct".into()));
        }
        Ok(())
    }
}

impl PromotionRequest {
    fn fields(&self) -> Result<(), (&'static str, String)> {
        if (self.kind == TransitionKind::Rollback) != self.rollback_of.is_some() {
            return Err(("rollbackOf", "is present exactly when kind is \"rollback\"".into()));
        }
        window(self.requested_at, self.expires_at)
    }
}

impl Approval {
    fn fields(&self) -> Result<(), (&'static str, String)> {
        text("reason", &self.reason)?;
        window(self.issued_at, self.expires_at)
    }
}

impl Execution {
    fn fields(&self) -> Result<(), (&'static str, String)> {
        if self.approvals.windows(2).any(|w| w[0] >= w[1]) || self.approvers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(("approvals", "approvals and approvers must be sorted and distinct".into()));
        }
        Ok(())
    }
}

impl Hold {
    fn fields(&self) -> Result<(), (&'static str, String)> {
        text("reason", &self.reason)
    }
}

/// Parses a payload of `D`: canonical strict JSON, the closed shape, the right schema, the
/// value rules.
pub fn parse_payload<D: Document>(payload: &[u8]) -> Result<D, PromotionError> {
    let malformed = |detail: String| PromotionError::Malformed { doc: D::NAME, detail };
    let v = json::parse_canonical(payload).map_err(|e| malformed(e.to_string()))?;
    let d: D = serde_json::from_value(v).map_err(|e| malformed(JsonError::Schema(e.to_string()).to_string()))?;
    if d.schema() != D::SCHEMA {
        return Err(malformed(format!("schema {:?} is not {:?}", d.schema(), D::SCHEMA)));
    }
    d.check_fields().map_err(|(field, detail)| PromotionError::Field { doc: D::NAME, field, detail })?;
    Ok(d)
}

/// The payload of `doc` in its one form (RFC 8785).
pub fn payload_bytes<D: Document>(doc: &D) -> Vec<u8> {
    json::canonical(doc)
}

/// The id of a document: SHA-256 of its payload bytes.
pub fn id_of<D: Document>(doc: &D) -> Sha256Digest {
    Sha256Digest::of(&payload_bytes(doc))
}

/// Signs `doc` with `keys`: the envelope's bytes.
pub fn sign<D: Document>(doc: &D, keys: &[&SecretKey]) -> Vec<u8> {
    Envelope::sign(D::PAYLOAD_TYPE, &payload_bytes(doc), keys).to_bytes()
}

/// A document whose envelope parsed; the role has not yet been asked.
pub struct Unopened<D> {
    parsed: signed::Parsed<D>,
    id: Sha256Digest,
}

impl<D: Document> Unopened<D> {
    /// Its id (SHA-256 of the payload bytes).
    pub fn id(&self) -> &Sha256Digest {
        &self.id
    }

    /// The payload before any signature check: for reports, never for a decision.
    pub fn unverified(&self) -> &D {
        self.parsed.unverified_payload()
    }
}

/// Reads an envelope of `D` (exit 2 when malformed); checks no signature.
pub fn read<D: Document>(bytes: &[u8]) -> Result<Unopened<D>, PromotionError> {
    let parsed = signed::read(bytes, D::PAYLOAD_TYPE, parse_payload::<D>).map_err(|e| match e {
        signed::ReadError::Payload(p) => p,
        other => PromotionError::Malformed { doc: D::NAME, detail: other.to_string() },
    })?;
    let id = Sha256Digest::of(&parsed.envelope().payload);
    Ok(Unopened { parsed, id })
}

/// A document its role accepted, with its id.
#[derive(Clone, Debug)]
pub struct Opened<D> {
    /// The accepted document.
    pub doc: SignedDocument<D>,
    /// SHA-256 of its payload.
    pub id: Sha256Digest,
}

/// Labels of a document's signature checks: `promotion.signature` per signature and
/// `promotion.signer` for the role threshold, subject the document kind.
pub fn labels<D: Document>(role: &str) -> Labels {
    Labels {
        signature: "promotion.signature",
        threshold: "promotion.signer",
        document: format!("the {}", D::NAME),
        signers: format!("{role} keys"),
        subject: Some(D::NAME.into()),
    }
}

/// Opens a read document against `role` (named `role_name` in checks): the signature checks
/// (all reported) and the opened document when the role accepted it.
pub fn open<D: Document>(u: Unopened<D>, role: &RoleKeys, role_name: &str) -> (Vec<crate::report::Check>, Option<Opened<D>>) {
    let id = u.id;
    match u.parsed.verify(role) {
        Ok(doc) => (doc.signatures().checks(&labels::<D>(role_name)), Some(Opened { doc, id })),
        Err(r) => (r.0.checks(&labels::<D>(role_name)), None),
    }
}

/// [`read`] then [`open`], for callers that treat a malformed document as exit 2.
pub fn read_and_open<D: Document>(
    bytes: &[u8],
    role: &RoleKeys,
    role_name: &str,
) -> Result<(Vec<crate::report::Check>, Option<Opened<D>>), PromotionError> {
    Ok(open(read::<D>(bytes)?, role, role_name))
}

#[cfg(test)]
mod tests;
