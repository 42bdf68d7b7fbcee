//! Sigstore bundles verified offline (`format-spec/sigstore-v1.md`): bundle media types v0.1 to
//! v0.3 with a message signature or a DSSE envelope; keyless (Fulcio certificate, SCTs, identity
//! policy) and keyed; Rekor v1 (hashedrekord, dsse, intoto: body, SET, inclusion proof and
//! checkpoint) and Rekor v2 (checkpoint-only) entries; RFC 3161 timestamps; all against a
//! `trusted_root.json` given as a value. Sans-I/O: bytes and values in, a [`Verified`] or a
//! named [`SigstoreError`] out.
//!
//! Every failed check is one variant of [`SigstoreError`] with a stable id
//! ([`SigstoreError::check`], `sigstore.*`, modelled on cosign's error classes); only
//! [`SigstoreError::TrustedRoot`] means "could not check" (exit 2), every other one is a failed
//! check (exit 1).

pub mod asn1;
pub mod bundle;
pub mod pki;
pub mod rekor;
pub mod root;
pub mod tsa;
pub mod verify;

pub use bundle::Bundle;
pub use root::TrustedRoot;
pub use verify::{Artifact, FileOutcome, Identity, Policy, Verified, verify_bundle, verify_file};

/// Time in nanoseconds since the Unix epoch (UTC): Sigstore mixes seconds (Rekor, X.509),
/// milliseconds (SCTs) and fractions (RFC 3161, trusted-root validity ends such as `.999Z`).
pub type Nanos = i64;

/// Nanoseconds per second.
pub const NANOS: i64 = 1_000_000_000;

/// A time for messages: RFC 3339, whole seconds.
pub fn show_time(t: Nanos) -> String {
    crate::time::Timestamp(t.div_euclid(NANOS)).rfc3339()
}

/// A failed Sigstore check, or a trusted root that cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SigstoreError {
    /// The bundle is not a well-formed Sigstore bundle (JSON, required fields, base64).
    #[error("sigstore bundle: {detail}")]
    BundleFormat {
        /// What is wrong, where.
        detail: String,
    },
    /// The bundle's `mediaType` is not one of the versions this airlock reads.
    #[error("sigstore bundle: mediaType {found:?} is not a supported Sigstore bundle version (v0.1, v0.2, v0.3)")]
    MediaType {
        /// The media type found.
        found: String,
    },
    /// The verification material does not fit the bundle version or the policy (empty chain, a
    /// root certificate in the bundle, a public key without `--key`, a certificate with `--key`).
    #[error("verification material: {detail}")]
    Material {
        /// What is wrong.
        detail: String,
    },
    /// The bundle does not describe this artifact (message digest, DSSE subject).
    #[error("artifact: {detail}")]
    Artifact {
        /// Expected vs actual.
        detail: String,
    },
    /// The artifact signature or DSSE signature does not verify under the signing key.
    #[error("signature: {detail}")]
    Signature {
        /// What was verified with which key.
        detail: String,
    },
    /// The signing certificate does not chain to a certificate authority of the trusted root
    /// valid at the signing time.
    #[error("certificate chain: {detail}")]
    Chain {
        /// Which CA was tried and why it did not fit.
        detail: String,
    },
    /// The signing certificate was not valid at a verified signing time, or is not a code-signing
    /// leaf certificate.
    #[error("certificate: {detail}")]
    Certificate {
        /// Validity window vs time, or the usage found.
        detail: String,
    },
    /// No embedded SCT verifies under a CT log key of the trusted root.
    #[error("certificate transparency: {detail}")]
    Sct {
        /// What was found.
        detail: String,
    },
    /// The certificate's SAN does not match the identity policy.
    #[error("identity: certificate SAN {actual:?} does not match {expected}")]
    Identity {
        /// The policy (exact value or regular expression).
        expected: String,
        /// The SANs found.
        actual: String,
    },
    /// The certificate's OIDC issuer extension does not equal the policy's issuer.
    #[error("issuer: certificate OIDC issuer {actual:?}, expected {expected:?}")]
    Issuer {
        /// The policy's issuer.
        expected: String,
        /// The issuer in the certificate (empty when absent).
        actual: String,
    },
    /// The bundle's key material does not match `--key`, or the policy needs a key the bundle
    /// does not use.
    #[error("key: {detail}")]
    Key {
        /// What differs.
        detail: String,
    },
    /// A transparency log entry is missing, from an unknown log, or malformed.
    #[error("transparency log entry: {detail}")]
    TlogEntry {
        /// Which entry and what is wrong.
        detail: String,
    },
    /// A Rekor entry's canonicalized body does not describe this artifact, signature and key.
    #[error("transparency log body: {detail}")]
    TlogBody {
        /// Expected vs actual field.
        detail: String,
    },
    /// The signed entry timestamp (inclusion promise) does not verify under the log's key.
    #[error("inclusion promise (SET): {detail}")]
    InclusionPromise {
        /// Which entry.
        detail: String,
    },
    /// The inclusion proof does not lead from the entry to the stated root hash.
    #[error("inclusion proof: {detail}")]
    InclusionProof {
        /// Expected vs computed root.
        detail: String,
    },
    /// The checkpoint is malformed, does not match the proof, or is not signed by the log's key.
    #[error("checkpoint: {detail}")]
    Checkpoint {
        /// What is wrong.
        detail: String,
    },
    /// An RFC 3161 timestamp does not verify against a timestamp authority of the trusted root.
    #[error("timestamp: {detail}")]
    Timestamp {
        /// What is wrong.
        detail: String,
    },
    /// No verified signing time (an SET-backed integrated time or an RFC 3161 timestamp).
    #[error("signing time: {detail}")]
    NoSigningTime {
        /// What was present.
        detail: String,
    },
    /// The trusted root is unreadable or breaks its own format (exit 2: nothing can be checked).
    #[error("trusted root: {detail}")]
    TrustedRoot {
        /// What is wrong, where.
        detail: String,
    },
}

impl SigstoreError {
    /// The stable id of the check that failed.
    pub fn check(&self) -> &'static str {
        match self {
            SigstoreError::BundleFormat { .. } => "sigstore.bundle.format",
            SigstoreError::MediaType { .. } => "sigstore.bundle.media-type",
            SigstoreError::Material { .. } => "sigstore.material",
            SigstoreError::Artifact { .. } => "sigstore.artifact",
            SigstoreError::Signature { .. } => "sigstore.signature",
            SigstoreError::Chain { .. } => "sigstore.certificate.chain",
            SigstoreError::Certificate { .. } => "sigstore.certificate.validity",
            SigstoreError::Sct { .. } => "sigstore.certificate.sct",
            SigstoreError::Identity { .. } => "sigstore.identity",
            SigstoreError::Issuer { .. } => "sigstore.issuer",
            SigstoreError::Key { .. } => "sigstore.key",
            SigstoreError::TlogEntry { .. } => "sigstore.tlog.entry",
            SigstoreError::TlogBody { .. } => "sigstore.tlog.body",
            SigstoreError::InclusionPromise { .. } => "sigstore.tlog.set",
            SigstoreError::InclusionProof { .. } => "sigstore.tlog.inclusion-proof",
            SigstoreError::Checkpoint { .. } => "sigstore.tlog.checkpoint",
            SigstoreError::Timestamp { .. } => "sigstore.timestamp",
            SigstoreError::NoSigningTime { .. } => "sigstore.signing-time",
            SigstoreError::TrustedRoot { .. } => "sigstore.trusted-root",
        }
    }

    /// One line saying what to try.
    pub fn hint(&self) -> &'static str {
        match self {
            SigstoreError::BundleFormat { .. } | SigstoreError::MediaType { .. } => {
                "obtain the bundle again from its publisher (cosign sign-blob --bundle, gh attestation download)"
            }
            SigstoreError::Material { .. } | SigstoreError::Key { .. } => {
                "a keyless bundle is verified with --certificate-identity/--certificate-oidc-issuer, a keyed one with --key"
            }
            SigstoreError::Artifact { .. } | SigstoreError::Signature { .. } | SigstoreError::TlogBody { .. } => {
                "check that this bundle belongs to this artifact; do not install the artifact"
            }
            SigstoreError::Identity { .. } | SigstoreError::Issuer { .. } => {
                "compare the signer shown with the one you expect; fix the policy only if the signer is legitimate"
            }
            SigstoreError::Chain { .. } | SigstoreError::Sct { .. } | SigstoreError::TlogEntry { .. } => {
                "check that --trusted-root is the root of the Sigstore instance that signed this bundle"
            }
            SigstoreError::Certificate { .. } | SigstoreError::NoSigningTime { .. } | SigstoreError::Timestamp { .. } => {
                "the signature was not made while its certificate was valid, or its time is unproven: do not trust it"
            }
            SigstoreError::InclusionPromise { .. } | SigstoreError::InclusionProof { .. } | SigstoreError::Checkpoint { .. } => {
                "the transparency proof is forged or from another log: obtain the bundle again"
            }
            SigstoreError::TrustedRoot { .. } => {
                "import the trusted root again (airlock trust import-tuf ... --target trusted_root.json) or pass --trusted-root"
            }
        }
    }
}

/// Decodes protobuf-JSON bytes as Go's `protojson` does (Sigstore's reference encoder):
/// standard or URL-safe alphabet, padded or not, line breaks ignored (`base64` wraps at 76).
pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let joined: std::borrow::Cow<'_, str> = if s.contains(['\n', '\r']) { s.replace(['\n', '\r'], "").into() } else { s.into() };
    let j = joined.as_ref();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(j).ok())
}
