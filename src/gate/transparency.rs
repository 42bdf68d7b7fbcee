//! The transparency part of the gate input, as a value. The offline proof cache (C2SP
//! checkpoints, RFC 6962 inclusion proofs) decides whether the bundle's log entry is proven and
//! hands the gate one of these; the gate never talks to a log.

use crate::digest::Sha256Digest;
use crate::time::Timestamp;
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
pub enum Transparency {
    /// An inclusion proof verified against a trusted checkpoint.
    Verified {
        /// Rekor entry UUID (or the log's entry identifier).
        rekor_uuid: String,
        /// Index of the entry in the log.
        log_index: u64,
        /// The bundle member holding the proof (must be a `tlog/` member).
        proof_ref: CasRef,
        /// Time of the checkpoint the proof was verified against (its age is what the policy limits).
        checkpoint_time: Timestamp,
    },
    /// No proof material for this bundle.
    Missing,
    /// Proof material exists but does not verify.
    Unverifiable {
        /// Why, in words.
        reason: String,
    },
}

impl Transparency {
    /// `verified`, `missing` or `unverifiable`.
    pub fn status(&self) -> &'static str {
        match self {
            Transparency::Verified { .. } => "verified",
            Transparency::Missing => "missing",
            Transparency::Unverifiable { .. } => "unverifiable",
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
