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
use crate::json;
use crate::keys::{KeyId, PublicKey, SecretKey};
use crate::report::Check;
use crate::time::Timestamp;
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

/// The approver role, as the trust root supplies it.
#[derive(Clone, Debug)]
pub struct Approvers {
    /// The role's keys.
    pub keys: Vec<PublicKey>,
    /// Distinct keys required.
    pub threshold: usize,
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

/// Checks a break-glass request. Returns the checks (all reported) and, when every one passed,
/// the grant.
pub fn check(
    req: &Request,
    approvers: &Approvers,
    manifest: &Manifest,
    max_validity: u64,
    now: Timestamp,
) -> (Vec<Check>, Option<Granted>) {
    let mut checks = Vec::new();
    let fail = |id, detail: String| Check::new(id, false, detail);
    let approval_digest = Sha256Digest::of(&req.approval);
    if req.reason.trim().is_empty() || req.reason.len() > MAX_REASON {
        checks.push(fail("break-glass.reason", format!("--break-glass REASON must be 1..{MAX_REASON} bytes of text")));
        return (checks, None);
    }
    let env = match Envelope::parse(&req.approval) {
        Ok(e) => e,
        Err(e) => {
            checks.push(fail("break-glass.malformed", format!("approval is not a DSSE envelope: {e}")));
            return (checks, None);
        }
    };
    if env.payload_type != PAYLOAD_TYPE {
        checks.push(fail("break-glass.malformed", format!("approval payloadType is {:?}, not {PAYLOAD_TYPE:?}", env.payload_type)));
        return (checks, None);
    }
    let approval: Approval = match json::parse_canonical(&env.payload)
        .and_then(|v| serde_json::from_value(v).map_err(|e| json::JsonError::Schema(e.to_string())))
    {
        Ok(a) => a,
        Err(e) => {
            checks.push(fail("break-glass.malformed", format!("approval payload is not a canonical {SCHEMA} document: {e}")));
            return (checks, None);
        }
    };
    if approval.schema != SCHEMA {
        checks.push(fail("break-glass.malformed", format!("approval schema {:?} is not {SCHEMA:?}", approval.schema)));
        return (checks, None);
    }
    let tally = env.verify(&approvers.keys);
    let mut signers: Vec<KeyId> = tally.valid_keys.clone();
    signers.sort();
    checks.push(
        Check::new(
            "break-glass.signatures",
            approvers.threshold >= 1 && tally.meets(approvers.threshold),
            format!("{} of {} required distinct approver keys signed the break-glass approval", signers.len(), approvers.threshold),
        )
        .values(format!(">= {}", approvers.threshold), signers.len().to_string()),
    );
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
    let live = approval.issued_at <= now && now < approval.expires_at;
    checks.push(Check::new(
        "break-glass.expiry",
        live,
        if live {
            format!("approval valid from {} until {}", approval.issued_at, approval.expires_at)
        } else {
            format!("approval valid from {} until {}, evaluated outside that window", approval.issued_at, approval.expires_at)
        },
    ));
    let ok = checks.iter().all(|c| c.status != crate::report::Status::Fail);
    let granted = ok.then(|| Granted {
        reason: approval.reason.clone(),
        approvers: signers.iter().map(KeyId::hex).collect(),
        approval_digest,
        expires_at: approval.expires_at,
    });
    (checks, granted)
}
