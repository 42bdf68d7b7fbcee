//! C2SP signed notes (`c2sp.org/signed-note`): parsing with caps, verifier keys
//! (`name+hex8+base64(type||key)`), key ids, and verification of Ed25519 (type 0x01), ECDSA
//! P-256 (type 0x02, as Rekor v1 checkpoints use) and Ed25519 cosignatures (type 0x04,
//! [`super::cosig`]).
//!
//! Rules: the text is everything up to and including the newline before the *last* blank line;
//! signature lines from unknown keys (name and key id not both matching a known key) are
//! ignored; a signature from a known key that fails to verify rejects the whole note.

use super::{TlogError, b64, unb64};
use crate::keys::{PublicKey, SecretKey};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Largest note accepted (bytes). Checkpoints are a few hundred bytes; 16 post-quantum
/// signatures are under 100 KiB.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines accepted (the spec requires at least 16; Go's note package allows 100).
pub const MAX_SIGNATURES: usize = 100;

/// Signature type: Ed25519 over the note text.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type: ECDSA (here P-256 with SHA-256), key id from the SPKI.
pub const TYPE_ECDSA: u8 = 0x02;
/// Signature type: timestamped Ed25519 witness cosignature v1.
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (RFC 5480).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];

/// One signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id (big-endian first four bytes).
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub sig: Vec<u8>,
}

/// A parsed, not yet verified, signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// Signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// A key name: non-empty, no Unicode spaces, no `+`.
pub fn check_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("key name is empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || *c == '+') {
        return Err(format!("key name {name:?} contains {c:?}; names hold no spaces and no '+'"));
    }
    Ok(())
}

impl Note {
    /// Parses a signed note (caps, UTF-8, no control characters but newline, split at the last
    /// blank line, at least one well-formed signature line).
    pub fn parse(bytes: &[u8]) -> Result<Note, TlogError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(TlogError::NoteSize { size: bytes.len(), max: MAX_NOTE_SIZE });
        }
        let s = std::str::from_utf8(bytes).map_err(|e| TlogError::NoteEncoding { detail: format!("not UTF-8 ({e})") })?;
        if let Some(p) = s.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(TlogError::NoteEncoding { detail: format!("control character 0x{:02x} at byte {p}", s.as_bytes()[p]) });
        }
        if !s.ends_with('\n') {
            return Err(TlogError::NoteFormat { detail: "does not end with a newline".into() });
        }
        let split = s.rfind("\n\n").ok_or_else(|| TlogError::NoteFormat { detail: "no blank line before the signatures".into() })?;
        let text = &s[..split + 1];
        let sig_block = &s[split + 2..];
        if sig_block.is_empty() {
            return Err(TlogError::NoteFormat { detail: "no signature lines after the last blank line".into() });
        }
        let lines: Vec<&str> = sig_block[..sig_block.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(TlogError::TooManySignatures { count: lines.len(), max: MAX_SIGNATURES });
        }
        let mut signatures = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let bad = |detail: String| TlogError::SignatureLine { line: i + 1, detail };
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| bad("does not start with an em dash (U+2014) and a space".into()))?;
            let (name, sig) = rest.split_once(' ').ok_or_else(|| bad("no space between key name and signature".into()))?;
            check_key_name(name).map_err(bad)?;
            let raw = unb64(sig).ok_or_else(|| bad(format!("signature of {name} is not canonical standard base64")))?;
            if raw.len() < 5 {
                return Err(bad(format!("signature of {name} is {} bytes; a 4-byte key id and a signature are needed", raw.len())));
            }
            let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            signatures.push(NoteSignature { name: name.to_string(), key_id, sig: raw[4..].to_vec() });
        }
        Ok(Note { text: text.to_string(), signatures })
    }

    /// The note's bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            let mut raw = sig.key_id.to_be_bytes().to_vec();
            raw.extend_from_slice(&sig.sig);
            s.push_str(&format!("\u{2014} {} {}\n", sig.name, b64(&raw)));
        }
        s.into_bytes()
    }

    /// Verifies every signature line whose (name, key id) matches one of `keys`. Returns, for
    /// each verified line, the index into `keys` and the cosignature timestamp (type 0x04).
    /// A matching line that fails rejects the note; unknown lines are ignored, except one that
    /// shares a name or a key id with a known key that verifies it: a mislabelled line (an
    /// altered name or key id) rejects the note too. (A key rotated under the same name signs
    /// with other material, which the old key does not verify: still merely unknown.)
    pub fn verify(&self, keys: &[&VerifierKey]) -> Result<Vec<(usize, Option<u64>)>, TlogError> {
        let mut out = Vec::new();
        for sig in &self.signatures {
            let Some(i) = keys.iter().position(|k| k.name == sig.name && k.key_id == sig.key_id) else {
                let mislabel = keys
                    .iter()
                    .filter(|k| k.name == sig.name || k.key_id == sig.key_id)
                    .find(|k| k.verify(self.text.as_bytes(), &sig.sig).ok().flatten().is_some());
                if let Some(k) = mislabel {
                    return Err(TlogError::MislabelledSignature {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                        known: k.name.clone(),
                        known_id: k.key_id,
                    });
                }
                continue;
            };
            match keys[i].verify(self.text.as_bytes(), &sig.sig)? {
                Some(ts) => out.push((i, ts)),
                None => return Err(TlogError::BadSignature { name: sig.name.clone(), key_id: sig.key_id }),
            }
        }
        Ok(out)
    }
}

/// How a verifier key verifies.
#[derive(Clone)]
enum Algo {
    Ed25519(PublicKey),
    EcdsaP256(Box<p256::ecdsa::VerifyingKey>),
    Cosignature(PublicKey),
}

/// A note verifier key (`c2sp.org/signed-note` vkey).
#[derive(Clone)]
pub struct VerifierKey {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// Signature type byte.
    pub sig_type: u8,
    /// Public key material after the type byte (32 bytes Ed25519, DER SPKI for ECDSA).
    pub material: Vec<u8>,
    algo: Algo,
}

impl PartialEq for VerifierKey {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.key_id == o.key_id && self.sig_type == o.sig_type && self.material == o.material
    }
}
impl Eq for VerifierKey {}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(&self.material);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, b64(&raw))
    }
}

/// `SHA-256(name || 0x0A || type || key)[:4]`, big-endian.
pub fn key_id(name: &str, sig_type: u8, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn spki_key_id(spki: &[u8]) -> u32 {
    let d = Sha256::digest(spki);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

impl VerifierKey {
    /// Parses `name+hex8+base64(type||key)`. The base64 part may contain `+`: only the first two
    /// `+` separate fields. The key id must be the one computed from the key.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let shown: String = text.chars().take(120).collect();
        let bad = |detail: String| TlogError::VerifierKey { key: shown.clone(), detail };
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+hex8+base64".into()));
        };
        check_key_name(name).map_err(&bad)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("key id {id_hex:?} is not 8 hex digits")));
        }
        let stated = u32::from_str_radix(id_hex, 16).map_err(|e| bad(e.to_string()))?;
        let raw = unb64(key_b64).ok_or_else(|| bad("key is not canonical standard base64".into()))?;
        let (&sig_type, material) = raw.split_first().ok_or_else(|| bad("key is empty".into()))?;
        let vk = Self::from_parts(name, sig_type, material).map_err(|e| match e {
            TlogError::VerifierKey { detail, .. } => bad(detail),
            other => other,
        })?;
        if vk.key_id != stated {
            return Err(TlogError::KeyIdMismatch { name: name.into(), stated, computed: vk.key_id });
        }
        Ok(vk)
    }

    /// Builds a key from its name, type and material, computing the key id.
    pub fn from_parts(name: &str, sig_type: u8, material: &[u8]) -> Result<Self, TlogError> {
        let bad = |detail: String| TlogError::VerifierKey { key: name.into(), detail };
        check_key_name(name).map_err(&bad)?;
        let ed = |m: &[u8]| -> Result<PublicKey, TlogError> {
            let b: [u8; 32] = m.try_into().map_err(|_| bad(format!("Ed25519 key is {} bytes; 32 expected", m.len())))?;
            PublicKey::from_bytes(&b).map_err(|e| bad(e.to_string()))
        };
        let (algo, key_id) = match sig_type {
            TYPE_ED25519 => (Algo::Ed25519(ed(material)?), key_id(name, sig_type, material)),
            TYPE_COSIGNATURE => (Algo::Cosignature(ed(material)?), key_id(name, sig_type, material)),
            TYPE_ECDSA => {
                let point = material
                    .strip_prefix(&P256_SPKI_PREFIX[..])
                    .filter(|p| p.len() == 65)
                    .ok_or_else(|| bad("ECDSA key is not a DER SubjectPublicKeyInfo of an uncompressed P-256 point".into()))?;
                let k =
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| bad("ECDSA key is not a valid P-256 point".into()))?;
                (Algo::EcdsaP256(Box::new(k)), spki_key_id(material))
            }
            t => {
                return Err(TlogError::KeyType {
                    name: name.into(),
                    sig_type: t,
                    role: "by this airlock (0x01 Ed25519, 0x02 ECDSA P-256, 0x04 Ed25519 cosignature)",
                });
            }
        };
        Ok(VerifierKey { name: name.into(), key_id, sig_type, material: material.to_vec(), algo })
    }

    /// An Ed25519 (type 0x01) key.
    pub fn ed25519(name: &str, key: &PublicKey) -> Result<Self, TlogError> {
        Self::from_parts(name, TYPE_ED25519, &key.to_bytes())
    }

    /// An Ed25519 cosignature (type 0x04) key.
    pub fn cosigner(name: &str, key: &PublicKey) -> Result<Self, TlogError> {
        Self::from_parts(name, TYPE_COSIGNATURE, &key.to_bytes())
    }

    /// Verifies `sig` (after the key id) over `text`. `Ok(Some(ts))`: valid, with the
    /// cosignature timestamp for type 0x04. `Ok(None)`: invalid. `Err`: malformed cosignature.
    pub fn verify(&self, text: &[u8], sig: &[u8]) -> Result<Option<Option<u64>>, TlogError> {
        Ok(match &self.algo {
            Algo::Ed25519(pk) => pk.verify(text, sig).then_some(None),
            Algo::EcdsaP256(k) => {
                use p256::ecdsa::signature::Verifier as _;
                let ok = der_ecdsa_signature(sig)
                    .and_then(|rs| p256::ecdsa::Signature::from_slice(&rs).ok())
                    .is_some_and(|s| k.verify(text, &s).is_ok());
                ok.then_some(None)
            }
            Algo::Cosignature(pk) => {
                if sig.len() != 72 {
                    return Err(TlogError::CosignatureFormat { name: self.name.clone(), len: sig.len() });
                }
                let ts = u64::from_be_bytes(sig[..8].try_into().expect("8 bytes"));
                let msg = super::cosig::signed_message(ts, text);
                (ts <= i64::MAX as u64 && pk.verify(&msg, &sig[8..])).then_some(Some(ts))
            }
        })
    }

    /// The key text `name+hex8+base64`.
    pub fn text(&self) -> String {
        self.to_string()
    }
}

/// Strict DER `SEQUENCE { INTEGER r, INTEGER s }` to 64 bytes `r || s` (P-256).
fn der_ecdsa_signature(der: &[u8]) -> Option<[u8; 64]> {
    fn int(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = len as usize;
        if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
            return None;
        }
        let (v, rest) = rest.split_at(len);
        // Minimal, positive encoding.
        if v[0] & 0x80 != 0 || (len > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        let v = if v[0] == 0 { &v[1..] } else { v };
        (v.len() <= 32).then_some((v, rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len >= 0x80 || body.len() != len as usize {
        return None;
    }
    let (r, rest) = int(body)?;
    let (s, rest) = int(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// Signs `text` with an Ed25519 (type 0x01) key; returns the signature line's parts.
pub fn sign_ed25519(text: &str, name: &str, key: &SecretKey) -> NoteSignature {
    let id = key_id(name, TYPE_ED25519, &key.public().to_bytes());
    NoteSignature { name: name.into(), key_id: id, sig: key.sign(text.as_bytes()).to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of the C2SP signed-note specification.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn c2sp_example_verifies_and_tampering_is_refused() {
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        assert_eq!(k.to_string(), SPEC_VKEY);
        let n = Note::parse(SPEC_NOTE.as_bytes()).unwrap();
        assert_eq!(n.text, "This is an example message.\n");
        assert_eq!(n.verify(&[&k]).unwrap(), vec![(0, None)]);
        assert_eq!(n.to_bytes(), SPEC_NOTE.as_bytes());
        let bad = SPEC_NOTE.replace("example message", "example massage");
        let e = Note::parse(bad.as_bytes()).unwrap().verify(&[&k]).unwrap_err();
        assert_eq!(e.rule(), "note.signature-invalid");
    }

    #[test]
    fn plus_inside_base64_and_key_id_checked() {
        // Find a key whose base64 holds a '+', then check only the first two '+' split.
        let mut found = false;
        for seed in 0u8..=255 {
            let sk = SecretKey::from_seed(&[seed; 32]);
            let vk = VerifierKey::ed25519("log.example/a", sk.public()).unwrap();
            let s = vk.to_string();
            if s.matches('+').count() > 2 {
                assert_eq!(VerifierKey::parse(&s).unwrap(), vk);
                found = true;
                break;
            }
        }
        assert!(found);
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        let wrong = SPEC_VKEY.replace("530d903a", "530d903b");
        assert_eq!(VerifierKey::parse(&wrong).unwrap_err().rule(), "vkey.key-id");
        assert_eq!(VerifierKey::parse("example.com/foo+530d903a").unwrap_err().rule(), "vkey.format");
        let mut raw = vec![0x09u8];
        raw.extend_from_slice(&k.material);
        let t9 = format!("example.com/foo+{:08x}+{}", key_id("example.com/foo", 9, &k.material), b64(&raw));
        assert_eq!(VerifierKey::parse(&t9).unwrap_err().rule(), "vkey.type");
    }

    #[test]
    fn unknown_signers_ignored_and_malformed_refused() {
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        let other = SecretKey::from_seed(&[3; 32]);
        let mut n = Note::parse(SPEC_NOTE.as_bytes()).unwrap();
        n.signatures.insert(0, sign_ed25519(&n.text, "someone.else", &other));
        // Same name, other id: unknown, ignored.
        let mut same_name = sign_ed25519(&n.text, "example.com/foo", &other);
        same_name.sig[0] ^= 1;
        n.signatures.push(same_name);
        let parsed = Note::parse(&n.to_bytes()).unwrap();
        assert_eq!(parsed.verify(&[&k]).unwrap(), vec![(0, None)]);
        for (bytes, rule) in [
            (&b"text\n\n"[..], "note.format"),
            (b"text\n", "note.format"),
            (b"text\n\n\xe2\x80\x94 a AAAAAAA=", "note.format"),
            (b"text\n\n- a AAAAAAA=\n", "note.signature-line"),
            (b"text\n\n\xe2\x80\x94 a+b AAAAAAA=\n", "note.signature-line"),
            (b"text\n\n\xe2\x80\x94 a AAAA\n", "note.signature-line"),
            (b"te\x01xt\n\n\xe2\x80\x94 a AAAAAAA=\n", "note.encoding"),
            (b"te\xffxt\n\n\xe2\x80\x94 a AAAAAAA=\n", "note.encoding"),
        ] {
            assert_eq!(Note::parse(bytes).unwrap_err().rule(), rule, "{:?}", String::from_utf8_lossy(bytes));
        }
        let many = format!("t\n\n{}", "\u{2014} a AAAAAAA=\n".repeat(MAX_SIGNATURES + 1));
        assert_eq!(Note::parse(many.as_bytes()).unwrap_err().rule(), "note.signature-count");
        assert_eq!(Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]).unwrap_err().rule(), "note.size");
    }

    #[test]
    fn der_signatures_are_strict() {
        let mut der = vec![0x30, 6, 0x02, 1, 5, 0x02, 1, 7];
        let rs = der_ecdsa_signature(&der).unwrap();
        assert_eq!((rs[31], rs[63]), (5, 7));
        der[4] = 0x85; // negative
        assert!(der_ecdsa_signature(&der).is_none());
        assert!(der_ecdsa_signature(&[0x30, 7, 0x02, 2, 0, 5, 0x02, 1, 7]).is_none()); // non-minimal
        assert!(der_ecdsa_signature(&[0x30, 6, 0x02, 1, 5, 0x02, 1, 7, 0]).is_none()); // trailing
    }
}
