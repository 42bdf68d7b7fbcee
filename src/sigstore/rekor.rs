//! Rekor transparency log entries: the canonicalized body must describe this bundle (kinds
//! hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2, intoto 0.0.2), the signed entry timestamp (SET)
//! must verify under the log's key, and the inclusion proof must lead to the root of a
//! checkpoint signed by that key (C2SP signed note, key hint = the log id's first four bytes,
//! key name = the log's host).

use super::bundle::{Content, TlogEntry};
use super::pki::{Hash, SigAlg, VerifyKey, pem_decode};
use super::root::Log;
use super::{Nanos, SigstoreError, unb64};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::Note;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// What the entry must describe.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The signed content.
    pub content: &'a Content,
    /// SHA-256 of the artifact.
    pub artifact: &'a [u8; 32],
    /// The signature the log recorded (message signature or the DSSE signature).
    pub signature: &'a [u8],
    /// The signer: the leaf certificate's DER, or the public key's SPKI DER.
    pub signer_der: &'a [u8],
}

/// The outcome of one verified entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryOutcome {
    /// The log's host.
    pub log: String,
    /// The entry's log index.
    pub log_index: i64,
    /// The integrated time, when an SET vouched for it.
    pub integrated_time: Option<Nanos>,
    /// Whether an inclusion proof and checkpoint were verified.
    pub proven: bool,
}

fn body_err(detail: impl Into<String>) -> SigstoreError {
    SigstoreError::TlogBody { detail: detail.into() }
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Result<&'a Value, SigstoreError> {
    let mut cur = v;
    for k in keys {
        cur = cur.get(*k).ok_or_else(|| body_err(format!("body has no {}", keys.join("."))))?;
    }
    Ok(cur)
}

fn path_str<'a>(v: &'a Value, keys: &[&str]) -> Result<&'a str, SigstoreError> {
    path(v, keys)?.as_str().ok_or_else(|| body_err(format!("body {} is not a string", keys.join("."))))
}

fn path_b64(v: &Value, keys: &[&str]) -> Result<Vec<u8>, SigstoreError> {
    unb64(path_str(v, keys)?).ok_or_else(|| body_err(format!("body {} is not base64", keys.join("."))))
}

/// A verifier field of a v1 body: base64 of a PEM certificate or public key.
fn pem_signer(b64: &str) -> Result<Vec<u8>, SigstoreError> {
    let pem = unb64(b64).ok_or_else(|| body_err("verifier is not base64"))?;
    pem_decode(&pem, "CERTIFICATE")
        .or_else(|_| pem_decode(&pem, "PUBLIC KEY"))
        .map_err(|e| body_err(format!("verifier is not a PEM certificate or public key ({e})")))
}

/// A verifier of a v2 body: `{x509Certificate: {rawBytes}}` or `{publicKey: {rawBytes}}`.
fn v2_signer(v: &Value) -> Result<Vec<u8>, SigstoreError> {
    path_b64(v, &["x509Certificate", "rawBytes"]).or_else(|_| path_b64(v, &["publicKey", "rawBytes"]))
}

fn same(what: &str, expected: &[u8], actual: &[u8]) -> Result<(), SigstoreError> {
    if expected == actual {
        Ok(())
    } else {
        Err(body_err(format!("{what} differs: bundle {}, log entry {}", short(expected), short(actual))))
    }
}

fn short(b: &[u8]) -> String {
    let h = hex::encode(b);
    if h.len() > 24 { format!("{}…", &h[..24]) } else { h }
}

fn dsse_parts(c: &Content) -> Result<(&str, &[u8], &[u8]), SigstoreError> {
    match c {
        Content::Dsse { payload_type, payload, signatures } => match signatures.as_slice() {
            [one] => Ok((payload_type, payload, &one.sig)),
            _ => Err(SigstoreError::Signature {
                detail: format!("the DSSE envelope has {} signatures; exactly one is verified", signatures.len()),
            }),
        },
        Content::MessageSignature { .. } => Err(body_err("a DSSE-kind entry for a bundle that holds a message signature")),
    }
}

/// Checks that the entry's canonicalized body describes the bundle.
pub fn check_body(e: &TlogEntry, x: &Expect<'_>) -> Result<(), SigstoreError> {
    let body = crate::json::parse_strict(&e.body).map_err(|err| body_err(format!("canonicalizedBody is not JSON ({err})")))?;
    let (kind, api) = (path_str(&body, &["kind"])?, path_str(&body, &["apiVersion"])?);
    if kind != e.kind || api != e.version {
        return Err(body_err(format!("body is {kind} {api}, kindVersion says {} {}", e.kind, e.version)));
    }
    match (kind, api) {
        ("hashedrekord", "0.0.1") => {
            if !matches!(x.content, Content::MessageSignature { .. }) {
                return Err(body_err("a hashedrekord 0.0.1 entry for a DSSE bundle"));
            }
            let spec = path(&body, &["spec"])?;
            if path_str(spec, &["data", "hash", "algorithm"])? != "sha256" {
                return Err(body_err("hashedrekord hash algorithm is not sha256"));
            }
            let value = hex::decode(path_str(spec, &["data", "hash", "value"])?).map_err(|_| body_err("hash value is not hex"))?;
            same("artifact digest", x.artifact, &value)?;
            same("signature", x.signature, &path_b64(spec, &["signature", "content"])?)?;
            same("signing key", x.signer_der, &pem_signer(path_str(spec, &["signature", "publicKey", "content"])?)?)
        }
        ("hashedrekord", "0.0.2") => {
            let spec = path(&body, &["spec", "hashedRekordV002"])?;
            if path_str(spec, &["data", "algorithm"])? != "SHA2_256" {
                return Err(body_err("hashedRekordV002 digest algorithm is not SHA2_256"));
            }
            let digest = path_b64(spec, &["data", "digest"])?;
            match x.content {
                Content::MessageSignature { .. } => same("artifact digest", x.artifact, &digest)?,
                Content::Dsse { .. } => {
                    let (ty, payload, _) = dsse_parts(x.content)?;
                    same("DSSE PAE digest", &Sha256::digest(crate::dsse::pae(ty, payload)), &digest)?
                }
            }
            same("signature", x.signature, &path_b64(spec, &["signature", "content"])?)?;
            same("signing key", x.signer_der, &v2_signer(path(spec, &["signature", "verifier"])?)?)
        }
        ("dsse", "0.0.1") => {
            let (_, payload, sig) = dsse_parts(x.content)?;
            let spec = path(&body, &["spec"])?;
            let ph = hex::decode(path_str(spec, &["payloadHash", "value"])?).map_err(|_| body_err("payloadHash is not hex"))?;
            same("DSSE payload hash", &Sha256::digest(payload), &ph)?;
            one_signature(path(spec, &["signatures"])?, |s| {
                same("DSSE signature", sig, &path_b64(s, &["signature"])?)?;
                same("signing key", x.signer_der, &pem_signer(path_str(s, &["verifier"])?)?)
            })
        }
        ("dsse", "0.0.2") => {
            let (_, payload, sig) = dsse_parts(x.content)?;
            let spec = path(&body, &["spec", "dsseV002"])?;
            same("DSSE payload hash", &Sha256::digest(payload), &path_b64(spec, &["payloadHash", "digest"])?)?;
            one_signature(path(spec, &["signatures"])?, |s| {
                same("DSSE signature", sig, &path_b64(s, &["content"])?)?;
                same("signing key", x.signer_der, &v2_signer(path(s, &["verifier"])?)?)
            })
        }
        ("intoto", "0.0.2") => {
            let (ty, payload, sig) = dsse_parts(x.content)?;
            let c = path(&body, &["spec", "content"])?;
            let ph = hex::decode(path_str(c, &["payloadHash", "value"])?).map_err(|_| body_err("payloadHash is not hex"))?;
            same("in-toto payload hash", &Sha256::digest(payload), &ph)?;
            if path_str(c, &["envelope", "payloadType"])? != ty {
                return Err(body_err("in-toto payloadType differs from the envelope's"));
            }
            one_signature(path(c, &["envelope", "signatures"])?, |s| {
                // The intoto kind stores the envelope's base64 signature text base64-encoded again.
                let inner = path_b64(s, &["sig"])?;
                let raw = std::str::from_utf8(&inner).ok().and_then(unb64).unwrap_or(inner);
                same("in-toto signature", sig, &raw)?;
                same("signing key", x.signer_der, &pem_signer(path_str(s, &["publicKey"])?)?)
            })
        }
        (k, v) => Err(SigstoreError::TlogEntry { detail: format!("entry kind {k} {v} is not supported (hashedrekord, dsse, intoto)") }),
    }
}

fn one_signature(v: &Value, f: impl Fn(&Value) -> Result<(), SigstoreError>) -> Result<(), SigstoreError> {
    match v.as_array().map(Vec::as_slice) {
        Some([one]) => f(one),
        Some(many) => Err(body_err(format!("the entry records {} signatures; the bundle has one", many.len()))),
        None => Err(body_err("the entry's signatures are not a list")),
    }
}

/// Verifies the signed entry timestamp over `{body, integratedTime, logID, logIndex}` (RFC 8785).
pub fn check_set(e: &TlogEntry, log: &Log, key: &VerifyKey) -> Result<Nanos, SigstoreError> {
    let set = e.set.as_deref().ok_or_else(|| SigstoreError::InclusionPromise { detail: "no signed entry timestamp".into() })?;
    let t = e.integrated_time.ok_or_else(|| SigstoreError::InclusionPromise { detail: "an SET without an integratedTime".into() })?;
    let payload = serde_json::json!({
        "body": crate::tlog::b64(&e.body),
        "integratedTime": t,
        "logID": hex::encode(&e.log_id),
        "logIndex": e.log_index,
    });
    let msg = crate::json::canonical_value(&payload);
    if !key.verify(key.default_alg(), &msg, set) {
        return Err(SigstoreError::InclusionPromise {
            detail: format!("the SET of entry {} does not verify under the key of {}", e.log_index, log.base_url),
        });
    }
    Ok(t.saturating_mul(super::NANOS))
}

/// Verifies the inclusion proof and its checkpoint.
pub fn check_proof(e: &TlogEntry, log: &Log, key: &VerifyKey, checkpoint_required: bool) -> Result<(), SigstoreError> {
    let p = e.proof.as_ref().ok_or_else(|| SigstoreError::InclusionProof { detail: "no inclusion proof".into() })?;
    let ip = |d: String| SigstoreError::InclusionProof { detail: d };
    let root: [u8; 32] = p.root_hash.as_slice().try_into().map_err(|_| ip("rootHash is not 32 bytes".into()))?;
    let hashes: Vec<[u8; 32]> = p
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into())
        .collect::<Result<_, _>>()
        .map_err(|_| ip("a proof hash is not 32 bytes".into()))?;
    let leaf = crate::merkle::leaf_hash(&e.body);
    crate::merkle::verify_inclusion(&leaf, p.log_index as u64, p.tree_size as u64, &hashes, &root)
        .map_err(|err| ip(format!("entry {} in a tree of {}: {err}", p.log_index, p.tree_size)))?;
    let cp = |d: String| SigstoreError::Checkpoint { detail: d };
    let envelope = match (p.checkpoint.as_deref(), checkpoint_required) {
        (Some(c), _) => c,
        (None, true) => return Err(cp("the inclusion proof has no checkpoint".into())),
        // v0.1: the SET is the log's word; a proof without a checkpoint proves nothing more.
        (None, false) => return Ok(()),
    };
    let note = Note::parse(envelope.as_bytes()).map_err(|err| cp(format!("not a signed note: {err}")))?;
    let body = Checkpoint::parse(&note.text).map_err(|err| cp(err.to_string()))?;
    if body.size != p.tree_size as u64 || body.root != root {
        return Err(cp(format!(
            "checkpoint is size {} root {}, the proof says size {} root {}",
            body.size,
            short(&body.root),
            p.tree_size,
            short(&root)
        )));
    }
    let hint = e.log_id.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let mut verified = 0;
    for s in note.signatures.iter().filter(|s| s.name == log.host() && Some(s.key_id) == hint) {
        let alg = match key {
            VerifyKey::Ed25519(_) => SigAlg::Ed25519,
            _ => SigAlg::Ecdsa(Hash::Sha256),
        };
        if !key.verify(alg, note.text.as_bytes(), &s.sig) {
            return Err(cp(format!("the signature of {} (key hint {:08x}) does not verify", s.name, s.key_id)));
        }
        verified += 1;
    }
    if verified == 0 {
        return Err(cp(format!("no signature line by {} with key hint {:08x}", log.host(), hint.unwrap_or(0))));
    }
    Ok(())
}

/// What the log's key verifies, per entry: body, SET (when present), inclusion proof (when
/// present or required).
pub fn verify_entry(
    e: &TlogEntry,
    log: &Log,
    x: &Expect<'_>,
    proof_required: bool,
    set_required: bool,
) -> Result<EntryOutcome, SigstoreError> {
    let key = log
        .key
        .as_ref()
        .ok_or_else(|| SigstoreError::TlogEntry { detail: format!("the key of {} is of an unsupported type", log.base_url) })?;
    check_body(e, x)?;
    let integrated_time = match (&e.set, set_required) {
        (Some(_), _) => Some(check_set(e, log, key)?),
        (None, true) => {
            return Err(SigstoreError::InclusionPromise { detail: format!("entry {} has no inclusion promise (SET)", e.log_index) });
        }
        (None, false) => None,
    };
    let proven = match (&e.proof, proof_required) {
        (Some(_), _) => {
            check_proof(e, log, key, proof_required)?;
            true
        }
        (None, true) => return Err(SigstoreError::InclusionProof { detail: format!("entry {} has no inclusion proof", e.log_index) }),
        (None, false) => false,
    };
    Ok(EntryOutcome { log: log.host().to_string(), log_index: e.log_index, integrated_time, proven })
}
