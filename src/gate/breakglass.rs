//! Break-glass approvals: a DSSE envelope (payloadType [`PAYLOAD_TYPE`]) whose payload is the
//! RFC 8785 form of
//!
//! ```json
//! {"bundleId":"<64 hex>","expiresAt":"YYYY-MM-DDTHH:MM:SSZ","issuedAt":"YYYY-MM-DDTHH:MM:SSZ",
//!  "overrides":["transparency"],"reason":"<text>","schema":"airlock/break-glass/v1"}
//! ```
//!
//! signed by at least `threshold` distinct keys of the trust root's `approver` role. It lets the
//! gate allow a bundle whose transparency proof is missing, unverifiable or too old — nothing
//! else — for one bundle, with the exact reason the operator gives on the command line, until it
//! expires. The decision records who approved it and the approval's digest.

use crate::bundle::manifest::Manifest;
use crate::digest::Sha256Digest;
use crate::dsse::Envelope;
use crate::json::{self, JsonError};
use crate::keys::{KeyId, SecretKey};
use crate::report::Check;
use crate::signed::{self, Labels, OpenError};
use crate::time::Timestamp;
use crate::trust::role::RoleKeys;
use crate::trust::state::EvalTime;
use serde::{Deserialize, Serialize};

/// DSSE payloadType of a break-glass approval.
pub const PAYLOAD_TYPE: &str = "application/vnd.airlock.break-glass.v1+json";
/// `schema` of the payload.
pub const SCHEMA: &str = "airlock/break-glass/v1";
/// Longest reason accepted.
pub const MAX_REASON: usize = 1024;

/// The signed statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Approval {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The bundle it applies to.
    pub bundle_id: String,
    /// The reason, exactly as given with `--break-glass`.
    pub reason: String,
    /// When approved.
    pub issued_at: Timestamp,
    /// When it stops applying.
    pub expires_at: Timestamp,
    /// What it overrides: only `"transparency"` is defined.
    pub overrides: Vec<String>,
}

/// What the operator asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// `--break-glass REASON`.
    pub reason: String,
    /// The approval file's bytes.
    pub approval: Vec<u8>,
}

/// A break-glass that held, for the decision record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Granted {
    /// The reason.
    pub reason: String,
    /// Approver key ids whose signatures counted, sorted.
    pub approvers: Vec<String>,
    /// SHA-256 of the approval file.
    pub approval_digest: Sha256Digest,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// Makes an approval envelope (RFC 8785 bytes). Used by tests and by whoever signs approvals.
pub fn sign(approval: &Approval, keys: &[&SecretKey]) -> Vec<u8> {
    Envelope::sign(PAYLOAD_TYPE, &json::canonical(approval), keys).to_bytes()
}

/// Parses an approval payload: canonical JSON of the [`SCHEMA`] document.
fn parse_approval(payload: &[u8]) -> Result<Approval, JsonError> {
    let approval: Approval =
        json::parse_canonical(payload).and_then(|v| serde_json::from_value(v).map_err(|e| JsonError::Schema(e.to_string())))?;
    if approval.schema != SCHEMA {
        return Err(JsonError::Schema(format!("schema {:?} is not {SCHEMA:?}", approval.schema)));
    }
    Ok(approval)
}

fn labels() -> Labels {
    Labels {
        signature: "break-glass.signature",
        threshold: "break-glass.signatures",
        document: "the break-glass approval".into(),
        signers: "approver keys".into(),
        subject: None,
    }
}

/// Checks a break-glass request against the approver role. The approval opens through the one
/// signed-document opener ([`crate::signed::open`]): when the approvers did not sign it to their
/// threshold, or a signature is altered or mislabelled, only the signature checks are reported
/// and nothing in its payload is looked at. Returns the checks (all reported) and, when every
/// one passed, the grant.
///
/// The approval must be issued no later than the evaluation time and unexpired at
/// [`EvalTime::expiry_instant`]: under `--at-time` that is never before the real clock, so an
/// operator-supplied time cannot revive an expired approval.
pub fn check(req: &Request, approvers: &RoleKeys, manifest: &Manifest, max_validity: u64, time: EvalTime) -> (Vec<Check>, Option<Granted>) {
    let mut checks = Vec::new();
    let fail = |id, detail: String| Check::new(id, false, detail);
    let approval_digest = Sha256Digest::of(&req.approval);
    if req.reason.trim().is_empty() || req.reason.len() > MAX_REASON {
        checks.push(fail("break-glass.reason", format!("--break-glass REASON must be 1..{MAX_REASON} bytes of text")));
        return (checks, None);
    }
    let doc = match signed::open(&req.approval, PAYLOAD_TYPE, parse_approval, approvers) {
        Ok(d) => d,
        Err(OpenError::Refused(r)) => {
            checks.extend(r.0.checks(&labels()));
            return (checks, None);
        }
        Err(e) => {
            checks.push(fail("break-glass.malformed", format!("approval is not a signed {SCHEMA} document: {e}")));
            return (checks, None);
        }
    };
    checks.extend(doc.signatures().checks(&labels()));
    let approval = doc.payload();
    let signers = doc.signers_sorted();
    checks.push(
        Check::new("break-glass.bundle", approval.bundle_id == manifest.bundle_id, "the approval names this bundle")
            .values(manifest.bundle_id.clone(), approval.bundle_id.clone()),
    );
    checks.push(
        Check::new("break-glass.reason", approval.reason == req.reason, "the approval's reason is the --break-glass reason, byte for byte")
            .values(req.reason.clone(), approval.reason.clone()),
    );
    checks.push(
        Check::new("break-glass.scope", approval.overrides == ["transparency"], "the approval overrides transparency and nothing else")
            .values("[\"transparency\"]", format!("{:?}", approval.overrides)),
    );
    let validity = approval.expires_at.0 - approval.issued_at.0;
    checks.push(
        Check::new(
            "break-glass.validity",
            validity > 0 && validity as u64 <= max_validity,
            "expiresAt is after issuedAt, within the policy's longest validity",
        )
        .values(format!("0 < validity <= {max_validity} s"), format!("{validity} s")),
    );
    let (now, judged) = (time.instant(), time.expiry_instant());
    let live = approval.issued_at <= now && judged < approval.expires_at;
    let when = if time.overridden() {
        format!("evaluated at {now} (--at-time), expiry judged at {judged}")
    } else {
        format!("evaluated at {now}")
    };
    checks.push(
        Check::new(
            "break-glass.expiry",
            live,
            if live {
                format!("approval valid from {} until {}; {when}", approval.issued_at, approval.expires_at)
            } else {
                format!("approval valid from {} until {}; {when}: outside that window", approval.issued_at, approval.expires_at)
            },
        )
        .values(format!("[{}, {})", approval.issued_at, approval.expires_at), when.clone()),
    );
    let ok = checks.iter().all(|c| c.status != crate::report::Status::Fail);
    let granted = ok.then(|| Granted {
        reason: approval.reason.clone(),
        approvers: signers.iter().map(KeyId::hex).collect(),
        approval_digest,
        expires_at: approval.expires_at,
    });
    (checks, granted)
}

/// Why an approval could not be made or co-signed.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    /// The reason is empty or too long.
    #[error("the reason must be 1..{MAX_REASON} bytes of text; give the incident or change reference the gate operator will quote")]
    Reason,
    /// The validity is zero or longer than [`MAX_APPROVAL_VALIDITY`].
    #[error(
        "validity {0} s is not usable: an approval holds more than 0 s and at most 30 days (2592000 s); give a duration such as 4h or 1d (a gate also refuses one longer than its policy's breakGlass.maxValiditySeconds, default 1d)"
    )]
    Validity(u64),
    /// No signing key.
    #[error("no approver key given; pass --key APPROVER.key at least once")]
    NoKey,
    /// The approval to co-sign is not one.
    #[error("the approval to co-sign is malformed: {0}")]
    Malformed(String),
    /// The approval to co-sign is for something else.
    #[error(
        "the approval to co-sign does not match: {field} is {actual:?}, expected {expected:?}; co-sign only an approval for this bundle and reason"
    )]
    Mismatch {
        /// Field.
        field: &'static str,
        /// What this bundle or request needs.
        expected: String,
        /// What the approval says.
        actual: String,
    },
}

/// The longest validity an approval is made with: 30 days. A longer one is refused, never cut
/// short to fit (an approver must know how long what they sign holds).
pub const MAX_APPROVAL_VALIDITY: u64 = 30 * 86_400;

/// Makes a break-glass approval for a verified bundle (an approver never approves a bundle that
/// did not verify): the transparency override for `reason`, valid `valid_for` seconds from the
/// verification's evaluation time,
/// signed by `keys`. Returns the envelope and the approval it carries.
pub fn approve(
    bundle: &crate::verify::Verified<crate::verify::VerifiedBundle>,
    reason: &str,
    valid_for: u64,
    keys: &[&SecretKey],
) -> Result<(Vec<u8>, Approval), ApproveError> {
    // Issued at the verification's time: the witness carries the command's one clock reading.
    let now = bundle.evaluated_at();
    if reason.trim().is_empty() || reason.len() > MAX_REASON {
        return Err(ApproveError::Reason);
    }
    if keys.is_empty() {
        return Err(ApproveError::NoKey);
    }
    let expires = i64::try_from(valid_for)
        .ok()
        .filter(|v| *v > 0 && *v as u64 <= MAX_APPROVAL_VALIDITY)
        .and_then(|v| now.0.checked_add(v))
        .ok_or(ApproveError::Validity(valid_for))?;
    let approval = Approval {
        schema: SCHEMA.into(),
        bundle_id: bundle.get().manifest().bundle_id.clone(),
        reason: reason.into(),
        issued_at: now,
        expires_at: Timestamp(expires),
        overrides: vec!["transparency".into()],
    };
    Ok((sign(&approval, keys), approval))
}

/// Adds signatures by `keys` to an existing approval for the same verified bundle and reason
/// (k-of-n approvers sign one after another). A key that already signed is not added twice;
/// signatures stay ordered by key id. Returns the new envelope and the approval it carries.
pub fn cosign(
    existing: &[u8],
    bundle: &crate::verify::Verified<crate::verify::VerifiedBundle>,
    reason: &str,
    keys: &[&SecretKey],
) -> Result<(Vec<u8>, Approval), ApproveError> {
    if keys.is_empty() {
        return Err(ApproveError::NoKey);
    }
    // Co-signing adds signatures; whose signatures already count is for the gate to decide.
    let (mut env, approval) =
        signed::read(existing, PAYLOAD_TYPE, parse_approval).map_err(|e| ApproveError::Malformed(e.to_string()))?.into_unverified();
    let want_id = &bundle.get().manifest().bundle_id;
    if approval.bundle_id != *want_id {
        return Err(ApproveError::Mismatch { field: "bundleId", expected: want_id.clone(), actual: approval.bundle_id });
    }
    if approval.reason != reason {
        return Err(ApproveError::Mismatch { field: "reason", expected: reason.into(), actual: approval.reason });
    }
    let msg = crate::dsse::pae(&env.payload_type, &env.payload);
    for k in keys {
        let id = k.public().keyid().hex();
        if !env.signatures.iter().any(|s| s.keyid.as_deref() == Some(id.as_str())) {
            env.signatures.push(crate::dsse::RawSignature { keyid: Some(id), sig: k.sign(&msg).to_vec() });
        }
    }
    env.signatures.sort_by(|a, b| a.keyid.cmp(&b.keyid));
    Ok((env.to_bytes(), approval))
}
