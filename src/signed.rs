//! One opener for every signed document (sans-I/O): DSSE envelope bytes, the payloadType the
//! caller expects, a payload parser and the role whose keys must sign → a [`SignedDocument`]
//! holding the parsed payload and its signature tally, or a refusal ([`OpenError`]).
//!
//! ```text
//! read(bytes, payload_type, parse)      -> Parsed<T>          envelope + payload, nothing trusted
//!   .verify(&role)                      -> SignedDocument<T>  only when the role accepted it
//! open(bytes, payload_type, parse, &role) = read(..)?.verify(&role)
//! Signatures::check(&envelope, &role)   -> every fate and the threshold, for reports that list
//!                                          each signature whatever the outcome (bundle verify)
//! ```
//!
//! The **signature-fate policy** lives here and nowhere else ([`fate_status`]): a signature that
//! a role key verifies counts once per key; a second signature by a counted key and a signature
//! no role key verifies (an outside co-signer) are information; a signature whose keyid names a
//! role key that does not verify it (altered, or over other bytes: [`SignatureFate::Invalid`])
//! and a signature verified by a role key under another key's keyid (mislabelled:
//! [`SignatureFate::HintMismatch`]) fail, whatever the threshold says. A document is accepted
//! when at least `threshold` (≥ 1) distinct role keys signed and no signature failed.
//!
//! Bundle manifests, break-glass approvals and in-toto attestations open through it; rollout
//! records, promotion requests, approvals, ledger exports and Sigstore DSSE content are meant
//! to, each with its own [`Labels`] (check ids and words) and nothing else of its own.

use crate::dsse::{DsseError, Envelope, SignatureFate, SignatureTally, count_valid_signatures, pae};
use crate::keys::KeyId;
use crate::report::{Check, Status};
use crate::trust::key::TrustKey;
use crate::trust::role::RoleKeys;

/// How a document's signature checks are named in reports.
#[derive(Clone, Debug)]
pub struct Labels {
    /// Id of each per-signature check (e.g. `signature`).
    pub signature: &'static str,
    /// Id of the threshold check (e.g. `signature.threshold`).
    pub threshold: &'static str,
    /// The document in words (e.g. `the manifest`).
    pub document: String,
    /// The role's keys in words (e.g. `trusted keys`, `approver keys`).
    pub signers: String,
    /// Subject of every check (e.g. a member path); `None`: per-signature checks name the key,
    /// the threshold check names nothing.
    pub subject: Option<String>,
}

impl Labels {
    /// `signers` with the key types in words, e.g. `keys of role "builder" (1 Ed25519 key)`.
    fn signers_with(&self, types: &str) -> String {
        format!("the {} ({types})", self.signers)
    }
}

/// The signature-fate policy: what one carried signature means for the document.
/// [`Status::Pass`]: it counts; [`Status::Info`]: reported, neither counts nor fails;
/// [`Status::Fail`]: the document is refused whatever the threshold.
pub fn fate_status(fate: &SignatureFate) -> Status {
    match fate {
        SignatureFate::Counted(_) => Status::Pass,
        SignatureFate::DuplicateKey(_) | SignatureFate::Unverified => Status::Info,
        SignatureFate::Invalid(_) | SignatureFate::HintMismatch(_) => Status::Fail,
    }
}

/// An envelope's signatures checked against one role.
#[derive(Clone, Debug)]
pub struct Signatures {
    tally: SignatureTally,
    threshold: usize,
    algorithms: Vec<(KeyId, &'static str)>,
    /// Per carried signature, what its bytes look like (names the key type when nothing counts).
    shapes: Box<[&'static str]>,
}

/// What a signature's bytes look like: the key type a reader should look for.
fn signature_shape(sig: &[u8]) -> &'static str {
    match sig {
        [0x30, len, ..] if usize::from(*len) + 2 == sig.len() && (8..=72).contains(&sig.len()) => "an ECDSA (DER) signature",
        _ if sig.len() == 64 => "a 64-byte signature (Ed25519, or raw ECDSA r||s)",
        _ => "a signature of no supported key type",
    }
}

/// The role's keys counted by type (from [`algorithm`]'s words): `1 Ed25519 key and 2 ECDSA
/// P-256 keys`, or `no keys`.
fn role_types(algorithms: &[(KeyId, &'static str)]) -> String {
    let parts: Vec<String> = [("Ed25519", "Ed25519"), ("ECDSA P-256", "ECDSA P-256")]
        .into_iter()
        .map(|(prefix, name)| (algorithms.iter().filter(|(_, a)| a.starts_with(prefix)).count(), name))
        .filter(|(n, _)| *n > 0)
        .map(|(n, t)| format!("{n} {t} key{}", if n == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() { "no keys".into() } else { parts.join(" and ") }
}

impl Signatures {
    /// Counts `envelope`'s signatures over PAE(payloadType, payload) against `role`'s keys
    /// (by [`count_valid_signatures`], the one counting function).
    pub fn check(envelope: &Envelope, role: &RoleKeys) -> Self {
        let tally = count_valid_signatures(role.keys(), &envelope.signatures, &pae(&envelope.payload_type, &envelope.payload));
        let algorithms = role.keys().iter().map(|k| (k.key.keyid(), algorithm(&k.key))).collect();
        let shapes = envelope.signatures.iter().map(|s| signature_shape(&s.sig)).collect();
        Signatures { tally, threshold: role.threshold(), algorithms, shapes }
    }

    /// Each carried signature's fate and the distinct keys that counted.
    pub fn tally(&self) -> &SignatureTally {
        &self.tally
    }

    /// Distinct role keys whose signatures counted, in the order found.
    pub fn signers(&self) -> &[KeyId] {
        &self.tally.valid_keys
    }

    /// The role's threshold.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// True when at least the threshold (≥ 1) of distinct role keys signed.
    pub fn meets_threshold(&self) -> bool {
        self.tally.meets(self.threshold)
    }

    /// True when some signature fails under [`fate_status`].
    pub fn tampered(&self) -> bool {
        self.tally.signatures.iter().any(|(_, f)| fate_status(f) == Status::Fail)
    }

    /// The threshold is met and no signature failed.
    pub fn accepted(&self) -> bool {
        self.meets_threshold() && !self.tampered()
    }

    fn algorithm_of(&self, id: &KeyId) -> &'static str {
        self.algorithms.iter().find(|(k, _)| k == id).map(|(_, a)| *a).unwrap_or("signature")
    }

    /// One check per carried signature, then the threshold check, named by `labels`.
    pub fn checks(&self, labels: &Labels) -> Vec<Check> {
        let mut out = Vec::with_capacity(self.tally.signatures.len() + 1);
        for (i, (hint, fate)) in self.tally.signatures.iter().enumerate() {
            let hint_s = hint.clone().unwrap_or_else(|| "(no keyid)".into());
            let (detail, key, values): (String, String, Option<(String, String)>) = match fate {
                SignatureFate::Counted(k) => (format!("valid {} by a trusted key", self.algorithm_of(k)), k.hex(), None),
                SignatureFate::DuplicateKey(k) => ("second signature by an already-counted key; counted once".into(), k.hex(), None),
                SignatureFate::Invalid(k) => (
                    format!(
                        "the keyid names a trusted key, but that key does not verify this signature over {} (altered, or made over other bytes)",
                        labels.document.strip_prefix("the ").map(|d| format!("this {d}")).unwrap_or_else(|| labels.document.clone())
                    ),
                    hint_s.clone(),
                    Some((format!("a valid {}", self.algorithm_of(k)), "invalid".into())),
                ),
                SignatureFate::Unverified => (
                    format!(
                        "{} by a key outside the trust policy (none of {} verifies it); ignored",
                        self.shapes.get(i).copied().unwrap_or("a signature"),
                        labels.signers_with(&role_types(&self.algorithms))
                    ),
                    hint_s.clone(),
                    None,
                ),
                SignatureFate::HintMismatch(k) => (
                    "verified by a trusted key, but its keyid names another key (mislabelled signature); not counted".into(),
                    k.hex(),
                    Some((k.hex(), hint_s.clone())),
                ),
            };
            let status = fate_status(fate);
            let mut c = match &labels.subject {
                Some(s) => Check::new(labels.signature, status != Status::Fail, format!("key {key}: {detail}")).subject(s.clone()),
                None => Check::new(labels.signature, status != Status::Fail, detail).subject(key),
            };
            if status == Status::Info {
                c = c.info();
            }
            if let Some((e, a)) = values {
                c = c.values(e, a);
            }
            out.push(c);
        }
        let n = self.tally.valid_keys.len();
        let mut detail = format!("{n} of {} required distinct {} signed {}", self.threshold, labels.signers, labels.document);
        if !self.meets_threshold() {
            // Say which key types met which signatures: a P-256 signature against Ed25519 role
            // keys (or the reverse) is the usual reason nothing counted.
            let mut shapes = self.shapes.to_vec();
            shapes.sort_unstable();
            shapes.dedup();
            detail.push_str(&format!("; the role holds {}, the envelope carries {}", role_types(&self.algorithms), shapes.join(", ")));
        }
        let mut t = Check::new(labels.threshold, self.meets_threshold(), detail).values(format!(">= {}", self.threshold), n.to_string());
        if let Some(s) = &labels.subject {
            t = t.subject(s.clone());
        }
        out.push(t);
        out
    }
}

fn algorithm(k: &TrustKey) -> &'static str {
    match k {
        TrustKey::Ed25519(_) => "Ed25519 signature (verify_strict)",
        TrustKey::P256(_) => "ECDSA P-256 signature",
    }
}

/// Why an envelope could not be read as the expected document. `E` is the payload parser's error.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E: std::error::Error + 'static> {
    /// The bytes are not a DSSE envelope.
    #[error("{0}")]
    Envelope(#[from] DsseError),
    /// The envelope carries another kind of document.
    #[error("DSSE payloadType is {found:?}, expected {expected:?}; this is another kind of document")]
    PayloadType {
        /// payloadType found.
        found: String,
        /// payloadType expected.
        expected: String,
    },
    /// The payload does not parse.
    #[error("{0}")]
    Payload(#[source] E),
}

/// Why a signed document was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError<E: std::error::Error + 'static> {
    /// Not an envelope of the expected document.
    #[error("{0}")]
    Read(#[from] ReadError<E>),
    /// The role did not accept the signatures.
    #[error("{0}")]
    Refused(#[from] Refused),
}

/// The role did not accept a document's signatures: below the threshold, or a signature that
/// fails the fate policy. Carries the checks so the refusal can be reported signature by
/// signature.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "signed by {} of {} required distinct keys of the role{}; collect signatures from the role's key holders, and never re-use an altered envelope",
    .0.signers().len(),
    .0.threshold(),
    if .0.tampered() { ", and a signature is altered or mislabelled" } else { "" }
)]
pub struct Refused(pub Signatures);

/// A document whose envelope and payload parsed; its signatures are not yet checked.
#[derive(Clone, Debug)]
pub struct Parsed<T> {
    envelope: Envelope,
    payload: T,
}

impl<T> Parsed<T> {
    /// The payload before any signature check: only for choosing which role must have signed
    /// it (e.g. an in-toto layout or a statement), never for a decision.
    pub fn unverified_payload(&self) -> &T {
        &self.payload
    }

    /// The envelope as read.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Checks the signatures against `role`; the document comes out only when accepted.
    pub fn verify(self, role: &RoleKeys) -> Result<SignedDocument<T>, Refused> {
        let signatures = Signatures::check(&self.envelope, role);
        if !signatures.accepted() {
            return Err(Refused(signatures));
        }
        Ok(SignedDocument { envelope: self.envelope, payload: self.payload, signatures })
    }

    /// Envelope and payload, for code that adds signatures (co-signing), never for trust.
    pub fn into_unverified(self) -> (Envelope, T) {
        (self.envelope, self.payload)
    }
}

/// A document a role accepted: at least its threshold of distinct keys signed the exact payload
/// bytes, no signature failed the fate policy, and the payload parsed. Only
/// [`Parsed::verify`] makes one:
///
/// ```compile_fail,E0451
/// use airlock::signed::{Parsed, SignedDocument};
/// fn forge(p: Parsed<String>, other: SignedDocument<String>) -> SignedDocument<String> {
///     let (envelope, payload) = p.into_unverified();
///     SignedDocument { envelope, payload, ..other }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SignedDocument<T> {
    envelope: Envelope,
    payload: T,
    signatures: Signatures,
}

impl<T> SignedDocument<T> {
    /// The parsed payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The envelope (its payload is the exact signed bytes).
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The signature checks.
    pub fn signatures(&self) -> &Signatures {
        &self.signatures
    }

    /// The parsed payload, owned.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// Distinct role keys that signed, sorted.
    pub fn signers_sorted(&self) -> Vec<KeyId> {
        let mut v = self.signatures.signers().to_vec();
        v.sort();
        v
    }
}

/// Parses a DSSE envelope of `payload_type` and its payload; checks no signature.
pub fn read<T, E: std::error::Error + 'static>(
    bytes: &[u8],
    payload_type: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<Parsed<T>, ReadError<E>> {
    let envelope = Envelope::parse(bytes)?;
    if envelope.payload_type != payload_type {
        return Err(ReadError::PayloadType { found: envelope.payload_type.clone(), expected: payload_type.to_string() });
    }
    let payload = parse(&envelope.payload).map_err(ReadError::Payload)?;
    Ok(Parsed { envelope, payload })
}

/// Opens a signed document: [`read`], then [`Parsed::verify`] against `role`.
pub fn open<T, E: std::error::Error + 'static>(
    bytes: &[u8],
    payload_type: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
    role: &RoleKeys,
) -> Result<SignedDocument<T>, OpenError<E>> {
    Ok(read(bytes, payload_type, parse)?.verify(role)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::RawSignature;
    use crate::keys::SecretKey;
    use crate::trust::key::{ListedKey, P256Key};

    const T: &str = "application/vnd.example+json";

    fn sk(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn utf8(b: &[u8]) -> Result<String, std::str::Utf8Error> {
        std::str::from_utf8(b).map(str::to_string)
    }

    fn role(keys: &[&SecretKey], threshold: usize) -> RoleKeys {
        RoleKeys::ed25519(keys.iter().map(|k| k.public().clone()), threshold)
    }

    fn refused(r: Result<SignedDocument<String>, OpenError<std::str::Utf8Error>>) -> Signatures {
        match r {
            Err(OpenError::Refused(Refused(s))) => s,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn opens_a_document_the_role_signed() {
        let (a, b) = (sk(1), sk(2));
        let env = Envelope::sign(T, b"hello", &[&a, &b]).to_bytes();
        let doc = open(&env, T, utf8, &role(&[&a, &b], 2)).unwrap();
        assert_eq!(doc.payload(), "hello");
        assert_eq!(doc.signers_sorted().len(), 2);
        let labels = Labels {
            signature: "signature",
            threshold: "signature.threshold",
            document: "the manifest".into(),
            signers: "trusted keys".into(),
            subject: None,
        };
        let ids: Vec<String> = doc.signatures().checks(&labels).iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids, ["signature", "signature", "signature.threshold"]);
    }

    #[test]
    fn wrong_payload_type_and_bad_payload_are_refused_before_signatures() {
        let a = sk(1);
        let env = Envelope::sign("application/other", b"x", &[&a]).to_bytes();
        assert!(matches!(open(&env, T, utf8, &role(&[&a], 1)), Err(OpenError::Read(ReadError::PayloadType { .. }))));
        let env = Envelope::sign(T, &[0xff], &[&a]).to_bytes();
        assert!(matches!(open(&env, T, utf8, &role(&[&a], 1)), Err(OpenError::Read(ReadError::Payload(_)))));
        assert!(matches!(open(b"{}", T, utf8, &role(&[&a], 1)), Err(OpenError::Read(ReadError::Envelope(_)))));
    }

    #[test]
    fn below_threshold_is_refused_and_outside_signers_are_information() {
        let (a, b, outsider) = (sk(1), sk(2), sk(9));
        let env = Envelope::sign(T, b"x", &[&a, &outsider]).to_bytes();
        let s = refused(open(&env, T, utf8, &role(&[&a, &b], 2)));
        assert!(!s.meets_threshold() && !s.tampered());
        let fates: Vec<Status> = s.tally().signatures.iter().map(|(_, f)| fate_status(f)).collect();
        assert!(fates.contains(&Status::Pass) && fates.contains(&Status::Info));
        // The same envelope meets a 1-of-2 role.
        assert!(open(&env, T, utf8, &role(&[&a, &b], 1)).is_ok());
    }

    #[test]
    fn an_altered_signature_under_a_trusted_keyid_is_refused_even_above_threshold() {
        let (a, b) = (sk(1), sk(2));
        let mut env = Envelope::sign(T, b"x", &[&a, &b]);
        env.signatures[1].sig[0] ^= 1;
        let s = refused(open(&env.to_bytes(), T, utf8, &role(&[&a, &b], 1)));
        assert!(s.meets_threshold() && s.tampered());
        assert!(matches!(s.tally().signatures[1].1, SignatureFate::Invalid(_)));
        let labels =
            Labels { signature: "x.sig", threshold: "x.n", document: "it".into(), signers: "keys".into(), subject: Some("m".into()) };
        let failed: Vec<String> = s.checks(&labels).into_iter().filter(|c| c.status == Status::Fail).map(|c| c.id.to_string()).collect();
        assert_eq!(failed, ["x.sig"]);
    }

    #[test]
    fn a_mislabelled_keyid_is_refused() {
        let (a, b) = (sk(1), sk(2));
        let mut env = Envelope::sign(T, b"x", &[&a]);
        env.signatures[0].keyid = Some(b.public().keyid().hex());
        let s = refused(open(&env.to_bytes(), T, utf8, &role(&[&a, &b], 1)));
        assert!(matches!(s.tally().signatures[0].1, SignatureFate::HintMismatch(_)));
    }

    #[test]
    fn a_p256_role_key_counts() {
        use p256::ecdsa::signature::Signer as _;
        let sk256 = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = TrustKey::P256(P256Key::from_sec1(sk256.verifying_key().to_sec1_point(false).as_bytes()).unwrap());
        let keyid = pk.keyid().hex();
        let sig: p256::ecdsa::Signature = sk256.sign(&pae(T, b"x"));
        let a = sk(1);
        let mut env = Envelope::sign(T, b"x", &[&a]);
        env.signatures.push(RawSignature { keyid: Some(keyid.clone()), sig: sig.to_der().as_bytes().to_vec() });
        let mut r = role(&[&a], 2);
        r.extend([ListedKey { keyid, key: pk.clone() }]);
        let doc = open(&env.to_bytes(), T, utf8, &r).unwrap();
        assert!(doc.signers_sorted().contains(&pk.keyid()));
        let labels = Labels { signature: "s", threshold: "t", document: "d".into(), signers: "k".into(), subject: None };
        assert!(doc.signatures().checks(&labels).iter().any(|c| c.detail.contains("ECDSA P-256")));
    }
}
