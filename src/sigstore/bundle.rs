//! The Sigstore bundle (`dev.sigstore.bundle.v1.Bundle` in protobuf JSON): media type and
//! version, verification material, transparency log entries, RFC 3161 timestamps and the content
//! (a message signature or a DSSE envelope). Parsing decodes and shapes; it decides nothing
//! about trust.

use super::{SigstoreError, unb64};
use serde_json::Value;

/// A bundle version this airlock reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`: an inclusion promise (SET) is
    /// required, the inclusion proof optional.
    V01,
    /// `…;version=0.2`: an inclusion proof with a checkpoint is required.
    V02,
    /// `…;version=0.3` or `application/vnd.dev.sigstore.bundle.v0.3+json`: as v0.2, and the
    /// material is a single certificate or a public key (no chain).
    V03,
}

impl Version {
    /// From the media type; `None` for anything else.
    pub fn from_media_type(m: &str) -> Option<Version> {
        match m {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(Version::V01),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(Version::V02),
            "application/vnd.dev.sigstore.bundle+json;version=0.3" | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Version::V03),
            _ => None,
        }
    }
    /// For reports.
    pub fn name(self) -> &'static str {
        match self {
            Version::V01 => "v0.1",
            Version::V02 => "v0.2",
            Version::V03 => "v0.3",
        }
    }
}

/// Verification material: how the signing key is conveyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Material {
    /// `x509CertificateChain` (v0.1, v0.2): DER certificates, leaf first.
    Chain(Vec<Vec<u8>>),
    /// `certificate` (v0.3): the leaf's DER.
    Certificate(Vec<u8>),
    /// `publicKey`: a key the verifier holds (keyed signing), named by a hint.
    PublicKey {
        /// The hint, if any.
        hint: Option<String>,
    },
}

/// An RFC 6962 inclusion proof with its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// Leaf index.
    pub log_index: i64,
    /// Root hash at `tree_size`.
    pub root_hash: Vec<u8>,
    /// Tree size.
    pub tree_size: i64,
    /// Audit path.
    pub hashes: Vec<Vec<u8>>,
    /// The signed checkpoint note (`checkpoint.envelope`), if present.
    pub checkpoint: Option<String>,
}

/// One transparency log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogEntry {
    /// `logIndex` (global index for Rekor v1).
    pub log_index: i64,
    /// `logId.keyId`.
    pub log_id: Vec<u8>,
    /// `kindVersion.kind`.
    pub kind: String,
    /// `kindVersion.version`.
    pub version: String,
    /// `integratedTime` in seconds (Rekor v1; 0 or absent on Rekor v2).
    pub integrated_time: Option<i64>,
    /// `inclusionPromise.signedEntryTimestamp`.
    pub set: Option<Vec<u8>>,
    /// `inclusionProof`.
    pub proof: Option<InclusionProof>,
    /// `canonicalizedBody`, decoded.
    pub body: Vec<u8>,
}

/// One DSSE signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsseSignature {
    /// `keyid` (a hint).
    pub keyid: Option<String>,
    /// The signature bytes.
    pub sig: Vec<u8>,
}

/// What was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A signature over the artifact's bytes.
    MessageSignature {
        /// `messageDigest`: algorithm name and digest, a hint that must match the artifact.
        digest: Option<(String, Vec<u8>)>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// A DSSE envelope whose payload (an in-toto statement) names the artifact.
    Dsse {
        /// `payloadType`.
        payload_type: String,
        /// The payload.
        payload: Vec<u8>,
        /// The signatures (exactly one is accepted by verification).
        signatures: Vec<DsseSignature>,
    },
}

/// A parsed bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The version from the media type.
    pub version: Version,
    /// Verification material.
    pub material: Material,
    /// Transparency log entries.
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 `TimeStampResp` DER blobs.
    pub timestamps: Vec<Vec<u8>>,
    /// The signed content.
    pub content: Content,
}

fn bad(detail: impl Into<String>) -> SigstoreError {
    SigstoreError::BundleFormat { detail: detail.into() }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn req<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, SigstoreError> {
    get(v, key).ok_or_else(|| bad(format!("{at}.{key} is missing")))
}

fn text<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a str, SigstoreError> {
    req(v, key, at)?.as_str().ok_or_else(|| bad(format!("{at}.{key} is not a string")))
}

fn b64(v: &Value, key: &str, at: &str) -> Result<Vec<u8>, SigstoreError> {
    let s = text(v, key, at)?;
    unb64(s).ok_or_else(|| bad(format!("{at}.{key} is not valid base64")))
}

/// A protobuf JSON int64: a decimal string or a JSON integer.
fn int64(v: &Value, key: &str, at: &str) -> Result<i64, SigstoreError> {
    let x = req(v, key, at)?;
    let n = match x {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    n.ok_or_else(|| bad(format!("{at}.{key} is not an int64")))
}

fn list<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a [Value], SigstoreError> {
    match get(v, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(bad(format!("{at}.{key} is not an array"))),
    }
}

fn tlog_entry(e: &Value, at: &str) -> Result<TlogEntry, SigstoreError> {
    let log_index = int64(e, "logIndex", at)?;
    if log_index < 0 {
        return Err(bad(format!("{at}.logIndex is {log_index}; log indices are not negative")));
    }
    let kv = req(e, "kindVersion", at)?;
    let proof = match get(e, "inclusionProof") {
        None => None,
        Some(p) => {
            let at_p = format!("{at}.inclusionProof");
            let hashes = list(p, "hashes", &at_p)?
                .iter()
                .map(|h| h.as_str().and_then(unb64).ok_or_else(|| bad(format!("{at_p}.hashes holds a value that is not base64"))))
                .collect::<Result<Vec<_>, _>>()?;
            let checkpoint = match get(p, "checkpoint") {
                None => None,
                Some(c) => Some(text(c, "envelope", &format!("{at_p}.checkpoint"))?.to_string()),
            };
            let (idx, size) = (int64(p, "logIndex", &at_p)?, int64(p, "treeSize", &at_p)?);
            if idx < 0 || size < 0 {
                return Err(bad(format!("{at_p}: negative logIndex or treeSize")));
            }
            Some(InclusionProof { log_index: idx, root_hash: b64(p, "rootHash", &at_p)?, tree_size: size, hashes, checkpoint })
        }
    };
    let set = match get(e, "inclusionPromise") {
        None => None,
        Some(p) => Some(b64(p, "signedEntryTimestamp", &format!("{at}.inclusionPromise"))?),
    };
    let integrated_time = match get(e, "integratedTime") {
        None => None,
        Some(_) => Some(int64(e, "integratedTime", at)?).filter(|t| *t != 0),
    };
    Ok(TlogEntry {
        log_index,
        log_id: b64(req(e, "logId", at)?, "keyId", &format!("{at}.logId"))?,
        kind: text(kv, "kind", &format!("{at}.kindVersion"))?.to_string(),
        version: text(kv, "version", &format!("{at}.kindVersion"))?.to_string(),
        integrated_time,
        set,
        proof,
        body: b64(e, "canonicalizedBody", at)?,
    })
}

impl Bundle {
    /// Parses a bundle: strict JSON, a known media type, base64 everywhere bytes are expected.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, SigstoreError> {
        let v = crate::json::parse_strict(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// Shapes an already parsed JSON value (a JSON Lines entry).
    pub fn from_value(v: &Value) -> Result<Bundle, SigstoreError> {
        if !v.is_object() {
            return Err(bad("not a JSON object"));
        }
        let media = text(v, "mediaType", "bundle")?;
        let version = Version::from_media_type(media).ok_or_else(|| SigstoreError::MediaType { found: media.to_string() })?;
        let vm = req(v, "verificationMaterial", "bundle")?;
        let at = "verificationMaterial";
        let material = match (get(vm, "x509CertificateChain"), get(vm, "certificate"), get(vm, "publicKey")) {
            (Some(c), None, None) => Material::Chain(
                list(c, "certificates", "x509CertificateChain")?
                    .iter()
                    .enumerate()
                    .map(|(i, x)| b64(x, "rawBytes", &format!("{at}.x509CertificateChain.certificates[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            (None, Some(c), None) => Material::Certificate(b64(c, "rawBytes", &format!("{at}.certificate"))?),
            (None, None, Some(k)) => Material::PublicKey { hint: get(k, "hint").and_then(Value::as_str).map(str::to_string) },
            _ => return Err(bad(format!("{at} must hold exactly one of x509CertificateChain, certificate, publicKey"))),
        };
        let tlog_entries = list(vm, "tlogEntries", at)?
            .iter()
            .enumerate()
            .map(|(i, e)| tlog_entry(e, &format!("{at}.tlogEntries[{i}]")))
            .collect::<Result<_, _>>()?;
        let timestamps = match get(vm, "timestampVerificationData") {
            None => Vec::new(),
            Some(t) => list(t, "rfc3161Timestamps", "timestampVerificationData")?
                .iter()
                .enumerate()
                .map(|(i, x)| b64(x, "signedTimestamp", &format!("{at}.timestampVerificationData.rfc3161Timestamps[{i}]")))
                .collect::<Result<_, _>>()?,
        };
        let content = match (get(v, "messageSignature"), get(v, "dsseEnvelope")) {
            (Some(m), None) => {
                let digest = match get(m, "messageDigest") {
                    None => None,
                    Some(d) => Some((text(d, "algorithm", "messageDigest")?.to_string(), b64(d, "digest", "messageDigest")?)),
                };
                Content::MessageSignature { digest, signature: b64(m, "signature", "messageSignature")? }
            }
            (None, Some(d)) => Content::Dsse {
                payload_type: text(d, "payloadType", "dsseEnvelope")?.to_string(),
                payload: b64(d, "payload", "dsseEnvelope")?,
                signatures: list(d, "signatures", "dsseEnvelope")?
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        Ok(DsseSignature {
                            keyid: get(s, "keyid").and_then(Value::as_str).filter(|k| !k.is_empty()).map(str::to_string),
                            sig: b64(s, "sig", &format!("dsseEnvelope.signatures[{i}]"))?,
                        })
                    })
                    .collect::<Result<_, SigstoreError>>()?,
            },
            _ => return Err(bad("the bundle must hold exactly one of messageSignature, dsseEnvelope")),
        };
        Ok(Bundle { version, material, tlog_entries, timestamps, content })
    }

    /// The signature bytes the transparency log and the timestamps speak about: the message
    /// signature, or the DSSE envelope's (single) signature.
    pub fn signature(&self) -> Option<&[u8]> {
        match &self.content {
            Content::MessageSignature { signature, .. } => Some(signature),
            Content::Dsse { signatures, .. } => match signatures.as_slice() {
                [one] => Some(&one.sig),
                _ => None,
            },
        }
    }
}
