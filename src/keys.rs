//! Ed25519 keys: key ids, the `.pub` / `.key` file formats, strict verification.
//!
//! The key id is the lowercase hex SHA-256 of the RFC 8785 form of
//! `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}` — the same
//! computation TUF / securesystemslib use, so a key has one id in bundles, trust roots and TUF
//! metadata. A key id is only ever a hint for which key to try; trust comes from the key bytes.
//!
//! Weak (small-order) public keys are refused when loaded; signatures are checked with
//! `verify_strict` (canonical S, no small-order R or A).

use crate::digest::Sha256Digest;
use crate::json;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Format tag of public key files.
pub const PUBLIC_KEY_FORMAT: &str = "airlock-public-key/v1";
/// Format tag of secret key files.
pub const SECRET_KEY_FORMAT: &str = "airlock-secret-key/v1";

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is not valid strict JSON or misses fields.
    #[error("key file is malformed: {0}")]
    Malformed(#[from] json::JsonError),
    /// The format tag is not one this binary reads.
    #[error("key file format {found:?} is not supported; this airlock reads {expected:?}")]
    Format {
        /// Found tag.
        found: String,
        /// Tag expected for this kind of file.
        expected: &'static str,
    },
    /// keytype/scheme other than ed25519.
    #[error("key type {keytype:?} / scheme {scheme:?} is not supported; only ed25519/ed25519")]
    Unsupported {
        /// keytype field.
        keytype: String,
        /// scheme field.
        scheme: String,
    },
    /// Hex of the wrong length or alphabet.
    #[error("key material {field} is not {len} bytes of lowercase hex")]
    Encoding {
        /// Which field.
        field: &'static str,
        /// Expected byte length.
        len: usize,
    },
    /// Not a valid curve point.
    #[error("public key {0} is not a valid Ed25519 point")]
    InvalidPoint(String),
    /// A small-order key: any signature could verify.
    #[error("public key {0} has small order (a weak key) and is refused")]
    Weak(String),
    /// The `keyid` field disagrees with the key.
    #[error("key file says keyid {stated} but the key's id is {computed}")]
    KeyIdMismatch {
        /// Stated in the file.
        stated: String,
        /// Computed from the key.
        computed: String,
    },
    /// Secret and public halves disagree.
    #[error("secret key file's public half does not match its private seed")]
    PairMismatch,
    /// A secret (private) key where a public key is taken.
    #[error("this is a secret key ({what}), not a public key")]
    SecretGiven {
        /// What it is, e.g. `an airlock secret key file`.
        what: &'static str,
    },
    /// None of the public key forms airlock reads.
    #[error(
        "not a public key airlock reads ({found}); expected an airlock key file (.pub), a PEM PUBLIC KEY (Ed25519 or P-256) or a securesystemslib key dict"
    )]
    NotPublicKey {
        /// What the bytes look like.
        found: String,
    },
    /// A PEM or securesystemslib key whose material is not a supported, valid key.
    #[error("{0}")]
    Desc(#[from] crate::trust::key::KeyDescError),
}

/// A key id: SHA-256 over the key's canonical description.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.hex())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyVal {
    #[serde(skip_serializing_if = "Option::is_none")]
    private: Option<String>,
    public: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    keyid: String,
    keytype: String,
    keyval: KeyVal,
    scheme: String,
}

/// An Ed25519 public key that passed the weak-key check.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    vk: VerifyingKey,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id.hex())
    }
}

fn decode32(s: &str, field: &'static str) -> Result<[u8; 32], KeyError> {
    let mut out = [0u8; 32];
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(KeyError::Encoding { field, len: 32 });
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| KeyError::Encoding { field, len: 32 })?;
    Ok(out)
}

/// The key id of a raw Ed25519 public key.
pub fn ed25519_keyid(public: &[u8; 32]) -> KeyId {
    let desc = serde_json::json!({
        "keytype": "ed25519",
        "keyval": {"public": hex::encode(public)},
        "scheme": "ed25519",
    });
    KeyId(Sha256Digest::of(&json::canonical_value(&desc)).0)
}

impl PublicKey {
    /// From the 32 raw bytes; refuses invalid and weak points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint(hex::encode(bytes)))?;
        if vk.is_weak() {
            return Err(KeyError::Weak(hex::encode(bytes)));
        }
        Ok(PublicKey { vk, id: ed25519_keyid(bytes) })
    }

    /// The key id.
    pub fn keyid(&self) -> KeyId {
        self.id
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.vk.to_bytes()
    }

    /// Strict verification (`verify_strict`): canonical S, no small-order components.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else { return false };
        self.vk.verify_strict(msg, &Signature::from_bytes(sig)).is_ok()
    }

    /// Parses a `.pub` file.
    pub fn parse_file(bytes: &[u8]) -> Result<Self, KeyError> {
        let f: KeyFile = json::from_slice_strict(bytes)?;
        check_header(&f, PUBLIC_KEY_FORMAT)?;
        if f.keyval.private.is_some() {
            return Err(KeyError::Format { found: "a public key file holding a private key".into(), expected: PUBLIC_KEY_FORMAT });
        }
        let pk = PublicKey::from_bytes(&decode32(&f.keyval.public, "keyval.public")?)?;
        check_keyid(&f, &pk)?;
        Ok(pk)
    }

    /// The `.pub` file bytes: RFC 8785 JSON and a newline.
    pub fn to_file(&self) -> Vec<u8> {
        let f = KeyFile {
            format: PUBLIC_KEY_FORMAT.into(),
            keyid: self.id.hex(),
            keytype: "ed25519".into(),
            keyval: KeyVal { private: None, public: hex::encode(self.to_bytes()) },
            scheme: "ed25519".into(),
        };
        let mut out = json::canonical(&f);
        out.push(b'\n');
        out
    }
}

fn check_header(f: &KeyFile, expected: &'static str) -> Result<(), KeyError> {
    if f.format != expected {
        return Err(KeyError::Format { found: f.format.clone(), expected });
    }
    if f.keytype != "ed25519" || f.scheme != "ed25519" {
        return Err(KeyError::Unsupported { keytype: f.keytype.clone(), scheme: f.scheme.clone() });
    }
    Ok(())
}

fn check_keyid(f: &KeyFile, pk: &PublicKey) -> Result<(), KeyError> {
    if f.keyid != pk.id.hex() {
        return Err(KeyError::KeyIdMismatch { stated: f.keyid.clone(), computed: pk.id.hex() });
    }
    Ok(())
}

/// An Ed25519 signing key.
pub struct SecretKey {
    sk: SigningKey,
    public: PublicKey,
}

impl SecretKey {
    /// From a 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let sk = SigningKey::from_bytes(seed);
        let public = PublicKey::from_bytes(&sk.verifying_key().to_bytes()).expect("a key derived from a seed is never weak");
        SecretKey { sk, public }
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs a message (deterministic, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.sk.sign(msg).to_bytes()
    }

    /// Parses a `.key` file.
    pub fn parse_file(bytes: &[u8]) -> Result<Self, KeyError> {
        let f: KeyFile = json::from_slice_strict(bytes)?;
        check_header(&f, SECRET_KEY_FORMAT)?;
        let seed = decode32(f.keyval.private.as_deref().unwrap_or(""), "keyval.private")?;
        let sk = SecretKey::from_seed(&seed);
        if decode32(&f.keyval.public, "keyval.public")? != sk.public.to_bytes() {
            return Err(KeyError::PairMismatch);
        }
        check_keyid(&f, &sk.public)?;
        Ok(sk)
    }

    /// The `.key` file bytes: RFC 8785 JSON and a newline. Unencrypted: keep it on offline media.
    pub fn to_file(&self) -> Vec<u8> {
        let f = KeyFile {
            format: SECRET_KEY_FORMAT.into(),
            keyid: self.public.id.hex(),
            keytype: "ed25519".into(),
            keyval: KeyVal { private: Some(hex::encode(self.sk.to_bytes())), public: hex::encode(self.public.to_bytes()) },
            scheme: "ed25519".into(),
        };
        let mut out = json::canonical(&f);
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_ids_agree() {
        let sk = SecretKey::from_seed(&[7u8; 32]);
        let sk2 = SecretKey::parse_file(&sk.to_file()).unwrap();
        let pk = PublicKey::parse_file(&sk.public().to_file()).unwrap();
        assert_eq!(sk2.public(), &pk);
        let sig = sk.sign(b"msg");
        assert!(pk.verify(b"msg", &sig));
        assert!(!pk.verify(b"msh", &sig));
    }

    #[test]
    fn keyid_is_securesystemslib_style() {
        // sha256 of {"keytype":"ed25519","keyval":{"public":"00..00"},"scheme":"ed25519"}
        let canon = br#"{"keytype":"ed25519","keyval":{"public":"0000000000000000000000000000000000000000000000000000000000000000"},"scheme":"ed25519"}"#;
        assert_eq!(ed25519_keyid(&[0u8; 32]).0, Sha256Digest::of(canon).0);
    }

    #[test]
    fn weak_keys_and_tampered_files_refused() {
        // The identity point (small order).
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert!(matches!(PublicKey::from_bytes(&ident), Err(KeyError::Weak(_))));
        let sk = SecretKey::from_seed(&[9u8; 32]);
        let text = String::from_utf8(sk.public().to_file()).unwrap();
        let other = SecretKey::from_seed(&[10u8; 32]);
        let swapped = text.replace(&hex::encode(sk.public().to_bytes()), &hex::encode(other.public().to_bytes()));
        assert!(matches!(PublicKey::parse_file(swapped.as_bytes()), Err(KeyError::KeyIdMismatch { .. })));
        assert!(matches!(PublicKey::parse_file(&sk.to_file()), Err(KeyError::Format { .. })));
    }
}
