//! Keys of trust roots and TUF metadata: Ed25519 (strict verification, weak keys refused) and
//! ECDSA P-256 with SHA-256 (DER signatures, as securesystemslib and Sigstore's TUF root use).
//!
//! A key is described as TUF does, `{"keytype","scheme","keyval":{"public"}}`, and its key id is
//! the lowercase hex SHA-256 of the securesystemslib canonical form of that description
//! ([`super::cjson`]). For Ed25519 this is exactly [`crate::keys::ed25519_keyid`]; for P-256 the
//! public value is the PEM (SubjectPublicKeyInfo, uncompressed point, 64-column base64, trailing
//! newline) that pyca/cryptography writes, so python-tuf computes the same id for the same key.

use super::cjson;
use crate::digest::Sha256Digest;
use crate::dsse::SignatureKey;
use crate::keys::{self, KeyId, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `keytype` of Ed25519 keys.
pub const ED25519: &str = "ed25519";
/// `keytype` of ECDSA keys.
pub const ECDSA: &str = "ecdsa";
/// `scheme` of ECDSA P-256 with SHA-256.
pub const ECDSA_P256: &str = "ecdsa-sha2-nistp256";

/// DER prefix of a P-256 SubjectPublicKeyInfo holding an uncompressed point (RFC 5480:
/// id-ecPublicKey, namedCurve prime256v1, BIT STRING of 66 bytes).
const SPKI_P256_UNCOMPRESSED: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];
/// The same with a compressed point (accepted when reading TUF metadata, normalised on load).
const SPKI_P256_COMPRESSED: [u8; 26] = [
    0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x22, 0x00,
];

/// Errors reading a key description.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyDescError {
    /// keytype/scheme pair airlock does not verify.
    #[error("key type {keytype:?} with scheme {scheme:?} is not supported; airlock verifies ed25519/ed25519 and ecdsa/ecdsa-sha2-nistp256")]
    Unsupported {
        /// keytype.
        keytype: String,
        /// scheme.
        scheme: String,
    },
    /// The public value does not decode to a valid key.
    #[error("{keytype} public key is invalid: {detail}")]
    Invalid {
        /// keytype.
        keytype: String,
        /// What was wrong.
        detail: String,
    },
    /// The public value is valid but not written in the one canonical form a trust root requires.
    #[error("{keytype} public key is not in canonical form; expected {expected:?}")]
    NotCanonical {
        /// keytype.
        keytype: String,
        /// The canonical public value.
        expected: String,
    },
}

/// The wire description of a key (TUF `KEY`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDesc {
    /// `ed25519` or `ecdsa`.
    pub keytype: String,
    /// `ed25519` or `ecdsa-sha2-nistp256`.
    pub scheme: String,
    /// `{"public": ...}`.
    pub keyval: KeyVal,
}

/// `keyval`: only the public part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVal {
    /// Hex (Ed25519) or PEM (ECDSA).
    pub public: String,
}

/// An ECDSA P-256 public key.
#[derive(Clone)]
pub struct P256Key {
    vk: p256::ecdsa::VerifyingKey,
    uncompressed: [u8; 65],
}

impl fmt::Debug for P256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P256Key({})", hex::encode(self.uncompressed))
    }
}

impl PartialEq for P256Key {
    fn eq(&self, o: &Self) -> bool {
        self.uncompressed == o.uncompressed
    }
}
impl Eq for P256Key {}

impl P256Key {
    /// From a SEC1 point (compressed or uncompressed); refuses points not on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyDescError> {
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| invalid(ECDSA, "not a valid P-256 point"))?;
        let pt = vk.to_sec1_point(false);
        let mut uncompressed = [0u8; 65];
        uncompressed.copy_from_slice(pt.as_bytes());
        Ok(P256Key { vk, uncompressed })
    }

    /// From DER SubjectPublicKeyInfo with the named curve prime256v1.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyDescError> {
        let uncompressed = der.len() == 91 && der[..26] == SPKI_P256_UNCOMPRESSED;
        let compressed = der.len() == 59 && der[..26] == SPKI_P256_COMPRESSED;
        if !(uncompressed || compressed) {
            return Err(invalid(ECDSA, "not a DER SubjectPublicKeyInfo of an ecPublicKey on prime256v1"));
        }
        Self::from_sec1(&der[26..])
    }

    /// From a PEM `PUBLIC KEY` block (any line wrapping).
    pub fn from_pem(pem: &str) -> Result<Self, KeyDescError> {
        let body = pem
            .trim()
            .strip_prefix("-----BEGIN PUBLIC KEY-----")
            .and_then(|r| r.strip_suffix("-----END PUBLIC KEY-----"))
            .ok_or_else(|| invalid(ECDSA, "not a PEM PUBLIC KEY block"))?;
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_| invalid(ECDSA, "PEM body is not base64"))?;
        Self::from_spki_der(&der)
    }

    /// DER SubjectPublicKeyInfo (uncompressed point).
    pub fn spki_der(&self) -> Vec<u8> {
        let mut out = SPKI_P256_UNCOMPRESSED.to_vec();
        out.extend_from_slice(&self.uncompressed);
        out
    }

    /// The canonical PEM: what pyca/cryptography writes for this key.
    pub fn pem(&self) -> String {
        let b64 = STANDARD.encode(self.spki_der());
        let mut s = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            s.push('\n');
        }
        s.push_str("-----END PUBLIC KEY-----\n");
        s
    }

    /// Verifies a DER-encoded ECDSA signature over SHA-256(`msg`). High-S values are accepted,
    /// as OpenSSL and pyca/cryptography produce both.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        let Ok(sig) = p256::ecdsa::DerSignature::from_bytes(sig) else { return false };
        self.vk.verify(msg, &sig).is_ok()
    }
}

fn invalid(keytype: &str, detail: &str) -> KeyDescError {
    KeyDescError::Invalid { keytype: keytype.into(), detail: detail.into() }
}

/// A verifying key of a trust root or of TUF metadata.
#[derive(Clone, PartialEq, Eq)]
pub enum TrustKey {
    /// Ed25519, strict.
    Ed25519(PublicKey),
    /// ECDSA P-256 / SHA-256.
    P256(P256Key),
}

impl fmt::Debug for TrustKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustKey({} {})", self.keytype(), self.keyid())
    }
}

impl TrustKey {
    /// `keytype` of the canonical description.
    pub fn keytype(&self) -> &'static str {
        match self {
            TrustKey::Ed25519(_) => ED25519,
            TrustKey::P256(_) => ECDSA,
        }
    }

    /// Human name of the algorithm.
    pub fn algorithm(&self) -> &'static str {
        match self {
            TrustKey::Ed25519(_) => "Ed25519",
            TrustKey::P256(_) => "ECDSA P-256",
        }
    }

    /// The canonical description.
    pub fn desc(&self) -> KeyDesc {
        match self {
            TrustKey::Ed25519(k) => {
                KeyDesc { keytype: ED25519.into(), scheme: ED25519.into(), keyval: KeyVal { public: hex::encode(k.to_bytes()) } }
            }
            TrustKey::P256(k) => KeyDesc { keytype: ECDSA.into(), scheme: ECDSA_P256.into(), keyval: KeyVal { public: k.pem() } },
        }
    }

    /// The key id: SHA-256 of the securesystemslib canonical form of [`Self::desc`].
    pub fn keyid(&self) -> KeyId {
        match self {
            TrustKey::Ed25519(k) => k.keyid(),
            TrustKey::P256(_) => {
                let v = serde_json::to_value(self.desc()).expect("a key description serialises");
                KeyId(Sha256Digest::of(&cjson::canonical(&v).expect("a key description is strings only")).0)
            }
        }
    }

    /// Reads a trust-root key: only the canonical description of a supported key is accepted.
    pub fn from_root_desc(d: &KeyDesc) -> Result<Self, KeyDescError> {
        let k = Self::from_tuf_desc(d)?;
        if d.keytype != k.keytype() || d.keyval.public != k.desc().keyval.public {
            return Err(KeyDescError::NotCanonical { keytype: d.keytype.clone(), expected: k.desc().keyval.public });
        }
        Ok(k)
    }

    /// Reads a TUF key leniently: keytype `ecdsa-sha2-nistp256` (deprecated alias) is accepted,
    /// and PEM wrapping and point compression may differ; the key material is what counts.
    pub fn from_tuf_desc(d: &KeyDesc) -> Result<Self, KeyDescError> {
        match (d.keytype.as_str(), d.scheme.as_str()) {
            (ED25519, ED25519) => {
                let p = &d.keyval.public;
                let mut raw = [0u8; 32];
                if p.len() != 64 || p.bytes().any(|b| b.is_ascii_uppercase()) || hex::decode_to_slice(p, &mut raw).is_err() {
                    return Err(invalid(ED25519, "public value is not 64 lowercase hex characters"));
                }
                PublicKey::from_bytes(&raw).map(TrustKey::Ed25519).map_err(|e| match e {
                    keys::KeyError::Weak(_) => invalid(ED25519, "small-order (weak) key: any signature could verify"),
                    _ => invalid(ED25519, "not a valid curve point"),
                })
            }
            (ECDSA | ECDSA_P256, ECDSA_P256) => P256Key::from_pem(&d.keyval.public).map(TrustKey::P256),
            _ => Err(KeyDescError::Unsupported { keytype: d.keytype.clone(), scheme: d.scheme.clone() }),
        }
    }

    /// Verifies a signature (Ed25519: 64 bytes, strict; P-256: DER).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            TrustKey::Ed25519(k) => k.verify(msg, sig),
            TrustKey::P256(k) => k.verify(msg, sig),
        }
    }
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410: id-Ed25519, BIT STRING of 33 bytes).
const SPKI_ED25519: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Reads a public key in any form a user holds it (format-spec/bundle-v1.md §5.1): an airlock
/// `.pub` file, a PEM `PUBLIC KEY` (SubjectPublicKeyInfo of an Ed25519 or P-256 key), or a
/// securesystemslib / TUF key dict (`keytype`, `scheme`, `keyval.public`, optionally `keyid`,
/// which must then be the computed id, and `keyid_hash_algorithms`). The key id is always the
/// one [`TrustKey::keyid`] computes, whatever the form. A secret key in any of these forms is
/// [`keys::KeyError::SecretGiven`].
pub fn read_public_key(bytes: &[u8]) -> Result<TrustKey, keys::KeyError> {
    use keys::KeyError;
    let text = std::str::from_utf8(bytes).unwrap_or("").trim();
    if text.starts_with("-----BEGIN") {
        if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            let body = text
                .strip_prefix("-----BEGIN PUBLIC KEY-----")
                .and_then(|r| r.strip_suffix("-----END PUBLIC KEY-----"))
                .ok_or_else(|| KeyError::NotPublicKey { found: "a PEM PUBLIC KEY block without its END line".into() })?;
            let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = STANDARD.decode(b64).map_err(|_| KeyError::NotPublicKey { found: "a PEM block whose body is not base64".into() })?;
            if der.len() == 44 && der[..12] == SPKI_ED25519 {
                let raw: [u8; 32] = der[12..].try_into().expect("44 - 12 bytes");
                return PublicKey::from_bytes(&raw).map(TrustKey::Ed25519);
            }
            return Ok(TrustKey::P256(P256Key::from_spki_der(&der)?));
        }
        if text.lines().next().is_some_and(|l| l.contains("PRIVATE KEY")) {
            return Err(KeyError::SecretGiven { what: "a PEM private key" });
        }
        let first = text.lines().next().unwrap_or_default();
        return Err(KeyError::NotPublicKey { found: format!("PEM {:?}", first.trim_matches('-')) });
    }
    if text.starts_with("untrusted comment:") {
        return Err(KeyError::NotPublicKey { found: "a minisign/signify key; pass it to --minisign-key".into() });
    }
    if !text.starts_with('{') {
        return Err(KeyError::NotPublicKey { found: "neither JSON nor PEM".into() });
    }
    let v = crate::json::parse_strict(bytes)?;
    let o = v.as_object().ok_or_else(|| KeyError::NotPublicKey { found: "JSON that is not an object".into() })?;
    if let Some(f) = o.get("format") {
        if f.as_str() == Some(keys::SECRET_KEY_FORMAT) {
            return Err(KeyError::SecretGiven { what: "an airlock secret key file" });
        }
        return PublicKey::parse_file(bytes).map(TrustKey::Ed25519);
    }
    if !o.contains_key("keytype") {
        return Err(KeyError::NotPublicKey { found: "a JSON object with neither format nor keytype".into() });
    }
    if o.get("keyval").and_then(|k| k.get("private")).is_some_and(|p| p.as_str().is_some_and(|p| !p.is_empty())) {
        return Err(KeyError::SecretGiven { what: "a securesystemslib key dict holding keyval.private" });
    }
    if let Some(k) = o.keys().find(|k| !["keytype", "scheme", "keyval", "keyid", "keyid_hash_algorithms"].contains(&k.as_str())) {
        return Err(KeyError::NotPublicKey { found: format!("a securesystemslib key dict with unknown field {k:?}") });
    }
    let str_of = |v: Option<&serde_json::Value>, field: &'static str| {
        v.and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| KeyError::NotPublicKey { found: format!("a securesystemslib key dict without a string {field}") })
    };
    let keyval = o.get("keyval").and_then(serde_json::Value::as_object);
    if let Some(k) = keyval.and_then(|kv| kv.keys().find(|k| !["public", "private"].contains(&k.as_str()))) {
        return Err(KeyError::NotPublicKey { found: format!("a securesystemslib key dict with unknown field keyval.{k}") });
    }
    let desc = KeyDesc {
        keytype: str_of(o.get("keytype"), "keytype")?,
        scheme: str_of(o.get("scheme"), "scheme")?,
        keyval: KeyVal { public: str_of(keyval.and_then(|kv| kv.get("public")), "keyval.public")? },
    };
    let key = TrustKey::from_tuf_desc(&desc)?;
    if let Some(stated) = o.get("keyid") {
        let stated = str_of(Some(stated), "keyid")?;
        if stated != key.keyid().hex() {
            return Err(KeyError::KeyIdMismatch { stated, computed: key.keyid().hex() });
        }
    }
    Ok(key)
}

/// A key as listed under a (possibly different) keyid in some metadata: the keyid is only the
/// hint; the identity is the key material.
#[derive(Clone, Debug)]
pub struct ListedKey {
    /// The keyid it is listed under.
    pub keyid: String,
    /// The key.
    pub key: TrustKey,
}

impl SignatureKey for ListedKey {
    fn identity(&self) -> KeyId {
        self.key.keyid()
    }
    fn matches_hint(&self, hint: &str) -> bool {
        self.keyid == hint
    }
    fn verify_sig(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key.verify(msg, sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sigstore's public-good Rekor key (trusted_root.json `tlogs[0].publicKey.rawBytes`).
    const REKOR_SPKI_B64: &str =
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==";

    #[test]
    fn p256_spki_pem_round_trip_and_keyid() {
        let der = STANDARD.decode(REKOR_SPKI_B64).unwrap();
        let k = P256Key::from_spki_der(&der).unwrap();
        assert_eq!(k.spki_der(), der);
        let pem = k.pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
        assert_eq!(P256Key::from_pem(&pem).unwrap(), k);
        let tk = TrustKey::P256(k);
        let d = tk.desc();
        assert_eq!(TrustKey::from_root_desc(&d).unwrap(), tk);
        // The key id is over the raw-newline canonical form, not RFC 8785's escaped one.
        let canon = format!("{{\"keytype\":\"ecdsa\",\"keyval\":{{\"public\":\"{pem}\"}},\"scheme\":\"ecdsa-sha2-nistp256\"}}");
        assert_eq!(tk.keyid().0, Sha256Digest::of(canon.as_bytes()).0);
        // A re-wrapped PEM is the same key for TUF but not canonical for a trust root.
        let rewrapped = KeyDesc { keyval: KeyVal { public: pem.replace('\n', "\r\n") }, ..d.clone() };
        assert_eq!(TrustKey::from_tuf_desc(&rewrapped).unwrap(), tk);
        assert!(matches!(TrustKey::from_root_desc(&rewrapped), Err(KeyDescError::NotCanonical { .. })));
    }

    #[test]
    fn public_keys_read_in_every_form_with_one_keyid() {
        use crate::keys::{KeyError, SecretKey};
        let sk = SecretKey::from_seed(&[5u8; 32]);
        let ed = TrustKey::Ed25519(sk.public().clone());
        let mut der = SPKI_ED25519.to_vec();
        der.extend_from_slice(&sk.public().to_bytes());
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(&der));
        let sslib = serde_json::json!({"keytype": "ed25519", "scheme": "ed25519", "keyid_hash_algorithms": ["sha256", "sha512"], "keyval": {"public": hex::encode(sk.public().to_bytes())}});
        for form in [sk.public().to_file(), pem.into_bytes(), sslib.to_string().into_bytes()] {
            let k = read_public_key(&form).unwrap();
            assert_eq!((k.keyid(), &k), (ed.keyid(), &ed));
        }
        let p = TrustKey::P256(P256Key::from_spki_der(&STANDARD.decode(REKOR_SPKI_B64).unwrap()).unwrap());
        assert_eq!(read_public_key(p.desc().keyval.public.as_bytes()).unwrap(), p);
        let mut d = serde_json::to_value(p.desc()).unwrap();
        d["keyid"] = p.keyid().hex().into();
        assert_eq!(read_public_key(d.to_string().as_bytes()).unwrap().keyid(), p.keyid());
        d["keyid"] = "00".into();
        assert!(matches!(read_public_key(d.to_string().as_bytes()), Err(KeyError::KeyIdMismatch { .. })));
        // Secret keys, in each form, are named as such.
        let secret_sslib = serde_json::json!({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "00", "private": "11"}});
        for secret in [
            sk.to_file(),
            b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n".to_vec(),
            secret_sslib.to_string().into_bytes(),
        ] {
            assert!(matches!(read_public_key(&secret), Err(KeyError::SecretGiven { .. })));
        }
        for other in [
            &b"untrusted comment: minisign public key\nRWQ=\n"[..],
            b"hello",
            br#"{"keytype":"rsa","scheme":"rsassa-pss-sha256","keyval":{"public":"x"}}"#,
        ] {
            assert!(read_public_key(other).is_err());
        }
    }

    #[test]
    fn p256_signatures_verify_including_high_s() {
        use p256::ecdsa::signature::Signer as _;
        let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = P256Key::from_sec1(sk.verifying_key().to_sec1_point(true).as_bytes()).unwrap();
        let sig: p256::ecdsa::Signature = sk.sign(b"msg");
        assert!(pk.verify(b"msg", sig.to_der().as_bytes()));
        assert!(!pk.verify(b"msh", sig.to_der().as_bytes()));
        // The same signature with s replaced by n - s is equally valid ECDSA.
        let (r, s) = sig.split_scalars();
        let flipped = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert!(pk.verify(b"msg", flipped.to_der().as_bytes()));
        assert!(!pk.verify(b"msg", &sig.to_bytes()), "raw r||s is not the DER form TUF uses");
    }

    #[test]
    fn unsupported_and_weak_keys_refused() {
        let rsa = KeyDesc { keytype: "rsa".into(), scheme: "rsassa-pss-sha256".into(), keyval: KeyVal { public: "x".into() } };
        assert!(matches!(TrustKey::from_tuf_desc(&rsa), Err(KeyDescError::Unsupported { .. })));
        let mut ident = [0u8; 32];
        ident[0] = 1;
        let weak = KeyDesc { keytype: ED25519.into(), scheme: ED25519.into(), keyval: KeyVal { public: hex::encode(ident) } };
        assert!(matches!(TrustKey::from_tuf_desc(&weak), Err(KeyDescError::Invalid { .. })));
    }
}
