//! Detached minisign and signify signatures: our own parser of the text formats and verification
//! with `verify_strict` (through [`crate::keys::PublicKey`]).
//!
//! Formats (jedisct1/minisign, OpenBSD signify):
//!
//! * public key: `untrusted comment: ...` line, then base64 of 42 bytes:
//!   `"Ed"` ‖ key id (8 bytes) ‖ Ed25519 public key (32 bytes);
//! * signature: `untrusted comment: ...` line, then base64 of 74 bytes:
//!   algorithm (`"Ed"` legacy: the signature is over the message itself; `"ED"` prehashed: over
//!   BLAKE2b-512 of the message) ‖ key id (8 bytes) ‖ Ed25519 signature (64 bytes);
//!   minisign adds `trusted comment: TEXT` and base64 of a 64-byte *global signature* over
//!   `signature ‖ TEXT`, which binds the comment (timestamp, file name) to the signature.
//!   signify writes only the first two lines and always uses `"Ed"`.
//!
//! A minisign signature (four lines) verifies only if both its signature and its global signature
//! verify; a signify signature (two lines) carries no trusted comment. Every signature is checked
//! with `verify_strict`, so S+L malleations and small-order keys are refused.

use crate::archive::ByteSource;
use crate::keys::PublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blake2::{Blake2b512, Digest as _};

/// Largest message accepted for a legacy (`Ed`, not prehashed) signature, which must be held in
/// memory whole: minisign itself signs large files prehashed.
pub const MAX_LEGACY_MESSAGE: u64 = 1 << 30;
/// Longest comment line accepted (minisign's own limit is 1024 bytes of comment).
pub const MAX_LINE: usize = 2048;

/// Why a key or signature file could not be read, or a signature did not verify.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MinisignError {
    /// The file's lines are not the format's lines.
    #[error("{what} is not in minisign/signify format: {detail}")]
    Format {
        /// `public key` or `signature`.
        what: &'static str,
        /// Which rule failed.
        detail: String,
    },
    /// An algorithm tag other than `Ed` / `ED`.
    #[error("{what} uses algorithm {found:?}; only \"Ed\" (legacy) and \"ED\" (prehashed, BLAKE2b-512) are defined")]
    Algorithm {
        /// `public key` or `signature`.
        what: &'static str,
        /// The two tag bytes, lossily.
        found: String,
    },
    /// The public key is not a usable Ed25519 key (invalid or small-order point).
    #[error("public key is not a usable Ed25519 key: {0}")]
    Key(String),
    /// Signature and key carry different key ids.
    #[error("signature was made by key ID {signature}, but the given public key has key ID {key}")]
    KeyIdMismatch {
        /// Key id in the signature.
        signature: String,
        /// Key id of the public key.
        key: String,
    },
    /// The signature does not verify over the message.
    #[error("signature ({algorithm}) does not verify over the file with key ID {key}: the file was changed or signed by another key")]
    BadSignature {
        /// `Ed` or `ED`.
        algorithm: &'static str,
        /// Key id.
        key: String,
    },
    /// The global signature over signature ‖ trusted comment does not verify.
    #[error("global signature over the trusted comment {comment:?} does not verify: the comment or the signature was altered")]
    BadGlobalSignature {
        /// The trusted comment text.
        comment: String,
    },
    /// A legacy signature over a message too large to hold in memory.
    #[error(
        "legacy (\"Ed\") signature over {size} bytes; at most {MAX_LEGACY_MESSAGE} are accepted, sign large files prehashed (minisign's default)"
    )]
    LegacyTooLarge {
        /// Message size.
        size: u64,
    },
    /// The message could not be read.
    #[error("could not read the signed file: {0}")]
    Io(String),
}

/// Signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `Ed`: Ed25519 over the message bytes.
    Legacy,
    /// `ED`: Ed25519 over BLAKE2b-512(message).
    Prehashed,
}

impl Algorithm {
    /// The wire tag.
    pub fn tag(self) -> &'static str {
        match self {
            Algorithm::Legacy => "Ed",
            Algorithm::Prehashed => "ED",
        }
    }
}

/// A minisign / signify public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignPublicKey {
    /// Key id, 8 bytes as stored.
    pub key_id: [u8; 8],
    /// The Ed25519 key (weak keys refused on parse).
    pub key: PublicKey,
}

/// The trusted comment and its global signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedComment {
    /// Text after `trusted comment: `.
    pub text: String,
    /// Ed25519 signature over `signature ‖ text`.
    pub global_signature: [u8; 64],
}

/// A parsed signature file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinisignSignature {
    /// `Ed` or `ED`.
    pub algorithm: Algorithm,
    /// Key id of the signer.
    pub key_id: [u8; 8],
    /// Ed25519 signature.
    pub signature: [u8; 64],
    /// Present in minisign files, absent in signify files.
    pub trusted: Option<TrustedComment>,
}

/// Key id as minisign prints it: the 8 bytes read as a little-endian integer, uppercase hex.
pub fn key_id_text(id: &[u8; 8]) -> String {
    format!("{:X}", u64::from_le_bytes(*id))
}

fn fmt_err(what: &'static str, detail: impl Into<String>) -> MinisignError {
    MinisignError::Format { what, detail: detail.into() }
}

/// Splits into lines on `\n` (a `\r` before it is dropped); one final newline is optional.
fn lines<'a>(text: &'a [u8], what: &'static str) -> Result<Vec<&'a str>, MinisignError> {
    let text = std::str::from_utf8(text).map_err(|_| fmt_err(what, "not UTF-8"))?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    let out: Vec<&str> = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    if out.iter().any(|l| l.len() > MAX_LINE) {
        return Err(fmt_err(what, format!("a line is longer than {MAX_LINE} bytes")));
    }
    Ok(out)
}

fn b64_exact<const N: usize>(line: &str, what: &'static str, field: &str) -> Result<[u8; N], MinisignError> {
    let bytes = STANDARD.decode(line).map_err(|_| fmt_err(what, format!("{field} is not standard padded base64")))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| fmt_err(what, format!("{field} decodes to {} bytes; {N} expected", bytes.len())))
}

fn comment_line<'a>(line: &'a str, prefix: &str, what: &'static str) -> Result<&'a str, MinisignError> {
    line.strip_prefix(prefix).ok_or_else(|| fmt_err(what, format!("expected a line starting with {prefix:?}, found {:?}", short(line))))
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

impl MinisignPublicKey {
    /// Parses a `.pub` file (two lines).
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        const W: &str = "public key";
        let l = lines(bytes, W)?;
        if l.len() != 2 {
            return Err(fmt_err(W, format!("{} lines; a public key file has exactly 2", l.len())));
        }
        comment_line(l[0], "untrusted comment: ", W)?;
        Self::from_base64(l[1])
    }

    /// Parses the base64 key line alone (as `minisign -P` takes it).
    pub fn from_base64(line: &str) -> Result<Self, MinisignError> {
        const W: &str = "public key";
        let raw: [u8; 42] = b64_exact(line, W, "the key line")?;
        if &raw[..2] != b"Ed" {
            return Err(MinisignError::Algorithm { what: W, found: String::from_utf8_lossy(&raw[..2]).into_owned() });
        }
        let key_id: [u8; 8] = raw[2..10].try_into().expect("8 bytes");
        let pk: [u8; 32] = raw[10..].try_into().expect("32 bytes");
        let key = PublicKey::from_bytes(&pk).map_err(|e| MinisignError::Key(e.to_string()))?;
        Ok(MinisignPublicKey { key_id, key })
    }

    /// Key id as minisign prints it.
    pub fn key_id_text(&self) -> String {
        key_id_text(&self.key_id)
    }
}

impl MinisignSignature {
    /// Parses a `.minisig` (four lines) or signify `.sig` (two lines) file.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        const W: &str = "signature";
        let l = lines(bytes, W)?;
        if l.len() != 2 && l.len() != 4 {
            return Err(fmt_err(W, format!("{} lines; minisign signatures have 4, signify signatures 2", l.len())));
        }
        comment_line(l[0], "untrusted comment: ", W)?;
        let raw: [u8; 74] = b64_exact(l[1], W, "the signature line")?;
        let algorithm = match &raw[..2] {
            b"Ed" => Algorithm::Legacy,
            b"ED" => Algorithm::Prehashed,
            other => return Err(MinisignError::Algorithm { what: W, found: String::from_utf8_lossy(other).into_owned() }),
        };
        let key_id: [u8; 8] = raw[2..10].try_into().expect("8 bytes");
        let signature: [u8; 64] = raw[10..].try_into().expect("64 bytes");
        let trusted = if l.len() == 4 {
            let text = comment_line(l[2], "trusted comment: ", W)?.to_string();
            let global_signature: [u8; 64] = b64_exact(l[3], W, "the global signature line")?;
            Some(TrustedComment { text, global_signature })
        } else {
            if algorithm == Algorithm::Prehashed {
                return Err(fmt_err(W, "a prehashed (\"ED\") signature must carry a trusted comment and global signature"));
            }
            None
        };
        Ok(MinisignSignature { algorithm, key_id, signature, trusted })
    }

    /// Checks the key id and the global signature (everything that does not need the message).
    fn check_envelope(&self, pk: &MinisignPublicKey) -> Result<(), MinisignError> {
        if self.key_id != pk.key_id {
            return Err(MinisignError::KeyIdMismatch { signature: key_id_text(&self.key_id), key: pk.key_id_text() });
        }
        if let Some(t) = &self.trusted {
            let mut msg = Vec::with_capacity(64 + t.text.len());
            msg.extend_from_slice(&self.signature);
            msg.extend_from_slice(t.text.as_bytes());
            if !pk.key.verify(&msg, &t.global_signature) {
                return Err(MinisignError::BadGlobalSignature { comment: t.text.clone() });
            }
        }
        Ok(())
    }

    fn bad(&self, pk: &MinisignPublicKey) -> MinisignError {
        MinisignError::BadSignature { algorithm: self.algorithm.tag(), key: pk.key_id_text() }
    }

    /// Verifies over an in-memory message.
    pub fn verify(&self, pk: &MinisignPublicKey, message: &[u8]) -> Result<(), MinisignError> {
        self.verify_source(pk, &Bytes(message))
    }

    /// Verifies over a positional byte source (prehashed signatures stream; legacy ones read the
    /// message whole, up to [`MAX_LEGACY_MESSAGE`]). The global signature is checked first.
    pub fn verify_source(&self, pk: &MinisignPublicKey, src: &dyn ByteSource) -> Result<(), MinisignError> {
        self.verify_stream(pk, src.size(), &mut |sink| read_chunks(src, sink))
    }

    /// Verifies over a message of `size` bytes that `feed` hands to its sink in order (a member
    /// streamed out of an archive, inflating). Prehashed signatures stream; legacy ones collect
    /// the message, up to [`MAX_LEGACY_MESSAGE`]. The global signature is checked first.
    pub fn verify_stream(&self, pk: &MinisignPublicKey, size: u64, feed: &mut Feed<'_>) -> Result<(), MinisignError> {
        self.check_envelope(pk)?;
        let ok = match self.algorithm {
            Algorithm::Prehashed => {
                let mut h = Blake2b512::new();
                feed(&mut |c| h.update(c))?;
                pk.key.verify(&h.finalize(), &self.signature)
            }
            Algorithm::Legacy => {
                if size > MAX_LEGACY_MESSAGE {
                    return Err(MinisignError::LegacyTooLarge { size });
                }
                let mut all = Vec::with_capacity(size.min(1 << 20) as usize);
                feed(&mut |c| all.extend_from_slice(c))?;
                pk.key.verify(&all, &self.signature)
            }
        };
        if ok { Ok(()) } else { Err(self.bad(pk)) }
    }
}

impl MinisignSignature {
    /// The report check for a verification `result` of this signature with `pk` over `what`.
    pub fn outcome_check(
        &self,
        id: &'static str,
        subject: &str,
        pk: &MinisignPublicKey,
        what: &str,
        result: Result<(), MinisignError>,
    ) -> crate::report::Check {
        let check = match result {
            Ok(()) => crate::report::Check::new(
                id,
                true,
                format!(
                    "{} signature by key ID {} verifies over {what}{}",
                    self.algorithm.tag(),
                    pk.key_id_text(),
                    self.trusted.as_ref().map(|t| format!("; trusted comment: {}", t.text)).unwrap_or_default()
                ),
            ),
            Err(e) => crate::report::Check::new(id, false, e.to_string()),
        };
        check.subject(subject)
    }
}

/// Hands a message to a sink in chunks, in order.
pub type Feed<'a> = dyn FnMut(&mut dyn FnMut(&[u8])) -> Result<(), MinisignError> + 'a;

/// Suffixes of detached signature members: minisign's `.minisig` and signify's `.sig`.
pub const MEMBER_SIGNATURE_SUFFIXES: [&str; 2] = [".minisig", ".sig"];

/// Detached signatures carried *inside* a bundle: for every member `X.minisig` (or signify
/// `X.sig`) beside a member `X`, one `minisign.member` check, `X` streamed out of the archive
/// (inflating) and verified with `pk`. No such pair is itself a failed check: the caller asked
/// for member signatures. Signature members over 64 KiB, or that do not parse, fail their check.
///
/// With several keys (members signed by different upstream keys), each signature is checked with
/// the key whose key id it names; a signature naming none of them fails its check, naming the
/// key ids given.
pub fn member_checks(src: &dyn ByteSource, index: &crate::archive::ArchiveIndex, keys: &[MinisignPublicKey]) -> Vec<crate::report::Check> {
    use crate::report::Check;
    let mut out = Vec::new();
    for sig_entry in &index.entries {
        let Some(target) = MEMBER_SIGNATURE_SUFFIXES.iter().find_map(|suf| sig_entry.name.strip_suffix(suf)).and_then(|t| index.get(t))
        else {
            continue;
        };
        let subject = format!("{} over {}", sig_entry.name, target.name);
        let fail = |detail: String| Check::new("minisign.member", false, detail).subject(subject.clone());
        let sig = match crate::archive::read_member(src, sig_entry, 64 << 10)
            .map_err(|e| e.to_string())
            .and_then(|b| MinisignSignature::parse(&b).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                out.push(fail(e));
                continue;
            }
        };
        // The key the signature names; with one key given, that key (a mismatch is then reported
        // by verification, naming both ids).
        let pk = match keys.iter().find(|k| k.key_id == sig.key_id) {
            Some(k) => k,
            None if keys.len() == 1 => &keys[0],
            None => {
                let given: Vec<String> = keys.iter().map(MinisignPublicKey::key_id_text).collect();
                out.push(
                    fail(format!(
                        "signed by key id {}, which is none of the {} keys given ({})",
                        key_id_text(&sig.key_id),
                        keys.len(),
                        given.join(", ")
                    ))
                    .values(given.join(" or "), key_id_text(&sig.key_id)),
                );
                continue;
            }
        };
        let mut feed = |sink: &mut dyn FnMut(&[u8])| {
            crate::archive::stream_member(src, target, &mut |c| {
                sink(c);
                true
            })
            .map_err(|e| MinisignError::Io(e.to_string()))
        };
        out.push(sig.outcome_check("minisign.member", &subject, pk, "the member", sig.verify_stream(pk, target.size, &mut feed)));
    }
    if out.is_empty() {
        out.push(Check::new(
            "minisign.member",
            false,
            "no member X.minisig or X.sig lies beside a member X; pack the upstream signatures with their files",
        ));
    }
    out
}

/// A byte slice as a [`ByteSource`] (`[u8]` itself is unsized and cannot be passed as `&dyn`).
pub struct Bytes<'a>(pub &'a [u8]);

impl ByteSource for Bytes<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read_at(offset, buf)
    }
}

fn read_chunks(src: &dyn ByteSource, sink: &mut dyn FnMut(&[u8])) -> Result<(), MinisignError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    let size = src.size();
    while off < size {
        let want = (size - off).min(buf.len() as u64) as usize;
        src.read_exact_at(off, &mut buf[..want]).map_err(|e| MinisignError::Io(e.to_string()))?;
        sink(&buf[..want]);
        off += want as u64;
    }
    Ok(())
}

/// Parses both files and verifies: the one call the shell makes.
pub fn verify_detached(public_key: &[u8], signature: &[u8], message: &dyn ByteSource) -> Result<MinisignSignature, MinisignError> {
    let pk = MinisignPublicKey::parse(public_key)?;
    let sig = MinisignSignature::parse(signature)?;
    sig.verify_source(&pk, message)?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn key_file(sk: &SecretKey, id: [u8; 8]) -> Vec<u8> {
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&id);
        raw.extend_from_slice(&sk.public().to_bytes());
        format!("untrusted comment: minisign public key {}\n{}\n", key_id_text(&id), STANDARD.encode(raw)).into_bytes()
    }

    fn sig_file(sk: &SecretKey, id: [u8; 8], alg: Algorithm, msg: &[u8], comment: Option<&str>) -> Vec<u8> {
        let sig = match alg {
            Algorithm::Legacy => sk.sign(msg),
            Algorithm::Prehashed => sk.sign(&Blake2b512::digest(msg)),
        };
        let mut raw = alg.tag().as_bytes().to_vec();
        raw.extend_from_slice(&id);
        raw.extend_from_slice(&sig);
        let mut s = format!("untrusted comment: x\n{}\n", STANDARD.encode(raw));
        if let Some(c) = comment {
            let mut g = sig.to_vec();
            g.extend_from_slice(c.as_bytes());
            s.push_str(&format!("trusted comment: {c}\n{}\n", STANDARD.encode(sk.sign(&g))));
        }
        s.into_bytes()
    }

    #[test]
    fn both_algorithms_verify_and_tampering_fails() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let id = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        let pk = key_file(&sk, id);
        for alg in [Algorithm::Legacy, Algorithm::Prehashed] {
            let sig = sig_file(&sk, id, alg, b"message", Some("timestamp:1"));
            assert!(verify_detached(&pk, &sig, &Bytes(b"message")).is_ok(), "{alg:?}");
            assert!(matches!(verify_detached(&pk, &sig, &Bytes(b"messagf")), Err(MinisignError::BadSignature { .. })));
            let edited = String::from_utf8(sig).unwrap().replace("timestamp:1", "timestamp:2");
            assert!(matches!(verify_detached(&pk, edited.as_bytes(), &Bytes(b"message")), Err(MinisignError::BadGlobalSignature { .. })));
        }
        // signify: two lines, legacy only.
        let sig = sig_file(&sk, id, Algorithm::Legacy, b"m", None);
        assert!(verify_detached(&pk, &sig, &Bytes(b"m")).is_ok());
        let sig = sig_file(&sk, id, Algorithm::Prehashed, b"m", None);
        assert!(matches!(verify_detached(&pk, &sig, &Bytes(b"m")), Err(MinisignError::Format { .. })));
    }

    #[test]
    fn key_id_mismatch_and_format_refusals() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let pk = key_file(&sk, [1; 8]);
        let sig = sig_file(&sk, [2; 8], Algorithm::Prehashed, b"m", Some("c"));
        assert!(matches!(verify_detached(&pk, &sig, &Bytes(b"m")), Err(MinisignError::KeyIdMismatch { .. })));
        assert!(matches!(MinisignSignature::parse(b"untrusted comment: x\n"), Err(MinisignError::Format { .. })));
        assert!(matches!(MinisignPublicKey::parse(b"no comment\nRWQ=\n"), Err(MinisignError::Format { .. })));
        let mut bad_alg = sig.clone();
        // "ED" base64-encodes to "RUQ"; "Ex" would be "RXg".
        let text = String::from_utf8(bad_alg.clone()).unwrap();
        let line = text.lines().nth(1).unwrap();
        let mut raw = STANDARD.decode(line).unwrap();
        raw[1] = b'x';
        bad_alg = text.replace(line, &STANDARD.encode(raw)).into_bytes();
        assert!(matches!(MinisignSignature::parse(&bad_alg), Err(MinisignError::Algorithm { .. })));
    }
}
