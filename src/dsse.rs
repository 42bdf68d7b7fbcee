//! DSSE envelopes (Dead Simple Signing Envelope, secure-systems-lab/dsse `envelope.md` and
//! `protocol.md`): parse, pre-authentication encoding, signing, and the one function that counts
//! valid signatures against a threshold of distinct trusted keys (for every signed thing in airlock:
//! bundles, trust roots, TUF metadata; see [`SignatureKey`]).
//!
//! Signatures are over `PAE(payloadType, payload)` =
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
//! `keyid` is only a hint: every signature is tried against every trusted key not yet counted.

use crate::json;
use crate::keys::{KeyId, PublicKey, SecretKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// Most signatures an envelope may carry; more is hostile (each costs a verification per key).
pub const MAX_SIGNATURES: usize = 32;

/// Errors of the DSSE layer.
#[derive(Debug, thiserror::Error)]
pub enum DsseError {
    /// Not strict JSON or not an envelope.
    #[error("DSSE envelope is malformed: {0}")]
    Malformed(#[from] json::JsonError),
    /// A base64 field that neither standard nor URL-safe base64 decodes.
    #[error("DSSE envelope field {field} is not standard or URL-safe base64")]
    Base64 {
        /// Which field.
        field: &'static str,
    },
    /// Too many signatures.
    #[error("DSSE envelope carries {count} signatures; at most {MAX_SIGNATURES} are accepted")]
    TooManySignatures {
        /// How many.
        count: usize,
    },
    /// No signatures at all.
    #[error("DSSE envelope carries no signatures")]
    NoSignatures,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyid: Option<String>,
    sig: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope<'a> {
    /// Borrowed from the envelope's bytes when unescaped (as base64 always is): no second copy.
    #[serde(borrow)]
    payload: std::borrow::Cow<'a, str>,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSignature>,
}

/// One signature as carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSignature {
    /// The keyid hint, if any.
    pub keyid: Option<String>,
    /// Signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed envelope. `payload` holds the exact decoded bytes; nothing is re-serialised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// Decoded payload bytes.
    pub payload: Vec<u8>,
    /// Signatures in envelope order.
    pub signatures: Vec<RawSignature>,
}

/// Decodes DSSE base64 (format-spec/bundle-v1.md §6): the standard or the URL-safe alphabet (one
/// of them, not mixed), with canonical padding or none, unused bits zero, no whitespace.
pub fn decode_b64(s: &str, field: &'static str) -> Result<Vec<u8>, DsseError> {
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .map_err(|_| DsseError::Base64 { field })
}

/// The pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Parses envelope bytes strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        let w: WireEnvelope = json::from_slice_strict_lean(bytes)?;
        if w.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures { count: w.signatures.len() });
        }
        if w.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let payload = decode_b64(&w.payload, "payload")?;
        let signatures = w
            .signatures
            .into_iter()
            .map(|s| Ok(RawSignature { keyid: s.keyid, sig: decode_b64(&s.sig, "signatures[].sig")? }))
            .collect::<Result<_, DsseError>>()?;
        Ok(Envelope { payload_type: w.payload_type, payload, signatures })
    }

    /// Signs `payload` with every key, signatures ordered by key id (deterministic bytes).
    pub fn sign(payload_type: &str, payload: &[u8], keys: &[&SecretKey]) -> Self {
        let msg = pae(payload_type, payload);
        let mut sorted: Vec<&&SecretKey> = keys.iter().collect();
        sorted.sort_by_key(|k| k.public().keyid());
        sorted.dedup_by_key(|k| k.public().keyid());
        let signatures =
            sorted.into_iter().map(|k| RawSignature { keyid: Some(k.public().keyid().hex()), sig: k.sign(&msg).to_vec() }).collect();
        Envelope { payload_type: payload_type.to_string(), payload: payload.to_vec(), signatures }
    }

    /// RFC 8785 bytes of the envelope (standard padded base64).
    pub fn to_bytes(&self) -> Vec<u8> {
        let w = WireEnvelope {
            payload: STANDARD.encode(&self.payload).into(),
            payload_type: self.payload_type.clone(),
            signatures: self.signatures.iter().map(|s| WireSignature { keyid: s.keyid.clone(), sig: STANDARD.encode(&s.sig) }).collect(),
        };
        json::canonical(&w)
    }

    /// Verifies against trusted keys: see [`count_valid_signatures`].
    pub fn verify(&self, trusted: &[PublicKey]) -> SignatureTally {
        count_valid_signatures(trusted, &self.signatures, &pae(&self.payload_type, &self.payload))
    }
}

/// What became of one carried signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureFate {
    /// Verified by this trusted key, counted toward the threshold.
    Counted(KeyId),
    /// Valid, but by a key already counted (a duplicate does not add to the threshold).
    DuplicateKey(KeyId),
    /// No trusted key verifies it, and its keyid names none of them: a signer outside the trust.
    Unverified,
    /// Its keyid names this trusted key, but no trusted key verifies it: altered, or made over
    /// other bytes. Not counted; a verifier treats it as tampering, not as an unknown co-signer.
    Invalid(KeyId),
    /// Verified by this trusted key, but its keyid names another key: not counted.
    HintMismatch(KeyId),
}

/// The outcome of checking carried signatures against trusted keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureTally {
    /// Per carried signature, in order: its keyid hint and its fate.
    pub signatures: Vec<(Option<String>, SignatureFate)>,
    /// Distinct trusted keys with a valid signature, in the order found.
    pub valid_keys: Vec<KeyId>,
}

impl SignatureTally {
    /// True when at least `threshold` (≥ 1) distinct trusted keys signed.
    pub fn meets(&self, threshold: usize) -> bool {
        threshold >= 1 && self.valid_keys.len() >= threshold
    }
}

/// A key the counting function can try. Implemented by Ed25519 [`PublicKey`]s (bundles) and by
/// trust-root / TUF keys (`crate::trust::key`), so every threshold in airlock is counted by
/// [`count_valid_signatures`] and nowhere else.
pub trait SignatureKey {
    /// Identity of the key material: two entries with the same identity are one key and count
    /// once, whatever keyids they are listed under.
    fn identity(&self) -> KeyId;
    /// True when a carried `keyid` hint names this key (the hinted key is tried first).
    fn matches_hint(&self, hint: &str) -> bool;
    /// Verifies `sig` over `msg`.
    fn verify_sig(&self, msg: &[u8], sig: &[u8]) -> bool;
}

impl SignatureKey for PublicKey {
    fn identity(&self) -> KeyId {
        self.keyid()
    }
    fn matches_hint(&self, hint: &str) -> bool {
        self.keyid().hex() == hint
    }
    fn verify_sig(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify(msg, sig)
    }
}

/// The one place signatures are counted: each trusted key (by material, see
/// [`SignatureKey::identity`]) counts at most once, and a signature no trusted key verifies
/// counts nothing. A keyid never makes a key trusted: it only says which key to try first. But a
/// non-empty keyid that names a *different* key than the one that verified the signature is a
/// mislabelled signature and does not count either ([`SignatureFate::HintMismatch`]): otherwise
/// the hint would be bytes that nothing covers (a tar bundle has no CRC), and two readers could
/// disagree about which key signed.
pub fn count_valid_signatures<K: SignatureKey>(trusted: &[K], sigs: &[RawSignature], msg: &[u8]) -> SignatureTally {
    let mut valid_keys: Vec<KeyId> = Vec::new();
    let mut signatures = Vec::with_capacity(sigs.len());
    for s in sigs {
        let mut order: Vec<&K> = trusted.iter().collect();
        if let Some(h) = &s.keyid {
            order.sort_by_key(|k| !k.matches_hint(h));
        }
        let hint = s.keyid.as_deref().filter(|h| !h.is_empty());
        let fate = match order.into_iter().find(|k| k.verify_sig(msg, &s.sig)) {
            Some(k) if hint.is_some_and(|h| !k.matches_hint(h)) => SignatureFate::HintMismatch(k.identity()),
            Some(k) if valid_keys.contains(&k.identity()) => SignatureFate::DuplicateKey(k.identity()),
            Some(k) => {
                valid_keys.push(k.identity());
                SignatureFate::Counted(k.identity())
            }
            None => match hint.and_then(|h| trusted.iter().find(|k| k.matches_hint(h))) {
                Some(named) => SignatureFate::Invalid(named.identity()),
                None => SignatureFate::Unverified,
            },
        };
        signatures.push((s.keyid.clone(), fate));
    }
    SignatureTally { signatures, valid_keys }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn threshold_counts_distinct_keys_only() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let env = Envelope::sign("t", b"p", &[&a, &b]);
        let parsed = Envelope::parse(&env.to_bytes()).unwrap();
        assert_eq!(parsed, env);
        let trusted = [a.public().clone(), b.public().clone()];
        assert!(parsed.verify(&trusted).meets(2));
        // The same signature twice counts once.
        let mut dup = env.clone();
        dup.signatures = vec![env.signatures[0].clone(), env.signatures[0].clone()];
        let tally = dup.verify(&trusted);
        assert_eq!(tally.valid_keys.len(), 1);
        assert!(matches!(tally.signatures[1].1, SignatureFate::DuplicateKey(_)));
        assert!(!tally.meets(2));
        // A keyid naming another key makes the signature not count; an absent or empty one is fine.
        let mut lie = env.clone();
        lie.signatures[0].keyid = Some("00".repeat(32));
        let tally = lie.verify(&trusted);
        assert!(matches!(tally.signatures[0].1, SignatureFate::HintMismatch(_)));
        assert!(!tally.meets(2));
        let mut unlabelled = env.clone();
        unlabelled.signatures[0].keyid = None;
        unlabelled.signatures[1].keyid = Some(String::new());
        assert!(unlabelled.verify(&trusted).meets(2));
        // A changed payload fails every signature.
        let mut changed = env;
        changed.payload = b"q".to_vec();
        assert!(changed.verify(&trusted).valid_keys.is_empty());
    }

    #[test]
    fn url_safe_base64_accepted() {
        let a = SecretKey::from_seed(&[1; 32]);
        let env = Envelope::sign("t", &[0xfb, 0xff], &[&a]);
        let text = String::from_utf8(env.to_bytes()).unwrap().replace('+', "-").replace('/', "_");
        assert_eq!(Envelope::parse(text.as_bytes()).unwrap(), env);
    }
}
