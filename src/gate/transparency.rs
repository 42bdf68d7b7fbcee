//! The transparency part of the gate input, as a value. The offline proof cache (C2SP
//! checkpoints, RFC 6962 inclusion proofs) decides whether the bundle's log entry is proven and
//! hands the gate one of these; the gate never talks to a log.

use crate::digest::Sha256Digest;
use crate::time::Timestamp;
use crate::tlog::bundle::TransparencyOutcome;
use serde::Serialize;

/// A `cas://sha256:<hex>` reference: content addressed by its SHA-256, here the digest of the
/// bundle member holding the proof material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CasRef(pub Sha256Digest);

impl CasRef {
    /// The text form.
    pub fn text(&self) -> String {
        format!("cas://{}", self.0.prefixed())
    }

    /// Parses `cas://sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Option<Self> {
        Sha256Digest::parse_prefixed(s.strip_prefix("cas://")?).ok().map(CasRef)
    }
}

impl Serialize for CasRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

/// What the proof cache established about the bundle's transparency-log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateTransparency {
    /// An inclusion proof verified against a trusted checkpoint.
    Verified {
        /// Rekor entry UUID (or the log's entry identifier).
        rekor_uuid: String,
        /// Index of the entry in the log.
        log_index: u64,
        /// The bundle member holding the proof (must be a `tlog/` member).
        proof_ref: CasRef,
        /// Time of the newest trusted statement about the proof's checkpoint (its age is what the
        /// policy limits); `None` when nothing dates it, and then no age limit can be met.
        checkpoint_time: Option<Timestamp>,
    },
    /// No proof material for this bundle.
    Missing,
    /// Proof material exists but cannot be checked offline with the trust at hand.
    Unverifiable {
        /// Why, in words.
        reason: String,
    },
    /// Proof material was checked and is wrong: tampered, about another manifest, or a split
    /// view of the log. Never overridable by a break-glass.
    Failed {
        /// The rule that failed.
        rule: String,
        /// Why, in words.
        reason: String,
    },
}

impl GateTransparency {
    /// `verified`, `missing` or `unverifiable`.
    pub fn status(&self) -> &'static str {
        match self {
            GateTransparency::Verified { .. } => "verified",
            GateTransparency::Missing => "missing",
            GateTransparency::Unverifiable { .. } => "unverifiable",
            GateTransparency::Failed { .. } => "failed",
        }
    }

    /// The gate's view of the verification's transparency outcome. `rekorUuid` is the
    /// lowercase hex RFC 6962 leaf hash of the logged entry (a Rekor entry UUID without its
    /// tree-id prefix: the entry's identity in any RFC 6962 log); `proofRef` names the proof
    /// member by the digest of the bytes verification read; the checkpoint time is the newest
    /// trusted cosignature's.
    pub fn from_tlog(outcome: &TransparencyOutcome) -> Self {
        match outcome {
            TransparencyOutcome::Verified(v) => GateTransparency::Verified {
                rekor_uuid: v.entry_id.clone(),
                log_index: v.index,
                proof_ref: CasRef(v.proof_digest),
                checkpoint_time: v.checkpoint_time,
            },
            TransparencyOutcome::Missing => GateTransparency::Missing,
            TransparencyOutcome::Unverifiable { why } => GateTransparency::Unverifiable { reason: why.clone() },
            TransparencyOutcome::Failed { rule, detail, .. } => {
                GateTransparency::Failed { rule: (*rule).to_string(), reason: detail.clone() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_round_trip() {
        let r = CasRef(Sha256Digest::of(b"p"));
        assert_eq!(CasRef::parse(&r.text()), Some(r));
        assert_eq!(CasRef::parse(&r.0.prefixed()), None);
    }
}
