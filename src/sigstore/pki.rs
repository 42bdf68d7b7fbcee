//! Keys, certificates and SCTs: the X.509 a Sigstore verifier needs, parsed strictly by
//! `x509-cert` and verified over the exact signed bytes (the TBS as received).

use super::asn1::{self, tag};
use super::{NANOS, Nanos};
use der::Decode as _;
use der::asn1::ObjectIdentifier as Oid;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// id-ecPublicKey.
pub const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 (P-256).
pub const OID_P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (P-384).
pub const OID_P384: Oid = Oid::new_unwrap("1.3.132.0.34");
/// Ed25519 (RFC 8410).
pub const OID_ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// rsaEncryption.
pub const OID_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// sha256WithRSAEncryption.
pub const OID_RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption.
pub const OID_RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption.
pub const OID_RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// ecdsa-with-SHA256.
pub const OID_ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
pub const OID_ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512.
pub const OID_ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// The embedded SCT list extension (RFC 6962 §3.3).
pub const OID_SCT_LIST: Oid = Oid::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// Subject alternative name.
pub const OID_SAN: Oid = Oid::new_unwrap("2.5.29.17");
/// Basic constraints.
pub const OID_BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// Extended key usage.
pub const OID_EKU: Oid = Oid::new_unwrap("2.5.29.37");
/// id-kp-codeSigning.
pub const OID_CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
/// id-kp-timeStamping.
pub const OID_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Fulcio: OIDC issuer (v1, raw bytes).
pub const OID_FULCIO_ISSUER_V1: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio: OIDC issuer (v2, DER UTF8String).
pub const OID_FULCIO_ISSUER_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// A digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The digest of `msg`.
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(msg).to_vec(),
            Hash::Sha384 => Sha384::digest(msg).to_vec(),
            Hash::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }
    /// From a digest AlgorithmIdentifier's OID (NIST hash OIDs).
    pub fn from_oid(oid: &Oid) -> Option<Hash> {
        match oid.to_string().as_str() {
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// A signature algorithm: ECDSA with a hash, or pure Ed25519.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigAlg {
    /// ECDSA over the named hash of the message.
    Ecdsa(Hash),
    /// Ed25519 over the message itself.
    Ed25519,
    /// RSA PKCS#1 v1.5 over the named hash.
    Rsa(Hash),
}

impl SigAlg {
    /// From a signatureAlgorithm OID.
    pub fn from_oid(oid: &Oid) -> Option<SigAlg> {
        Some(match *oid {
            OID_ECDSA_SHA256 => SigAlg::Ecdsa(Hash::Sha256),
            OID_ECDSA_SHA384 => SigAlg::Ecdsa(Hash::Sha384),
            OID_ECDSA_SHA512 => SigAlg::Ecdsa(Hash::Sha512),
            OID_ED25519 => SigAlg::Ed25519,
            OID_RSA_SHA256 => SigAlg::Rsa(Hash::Sha256),
            OID_RSA_SHA384 => SigAlg::Rsa(Hash::Sha384),
            OID_RSA_SHA512 => SigAlg::Rsa(Hash::Sha512),
            _ => return None,
        })
    }
}

/// A public key this airlock verifies with.
#[derive(Clone, Debug)]
pub enum VerifyKey {
    /// ECDSA P-256.
    P256(Box<p256::ecdsa::VerifyingKey>),
    /// ECDSA P-384.
    P384(Box<p384::ecdsa::VerifyingKey>),
    /// Ed25519 (strict verification).
    Ed25519(Box<crate::keys::PublicKey>),
    /// RSA (PKCS#1 v1.5 verification only).
    Rsa(Box<rsa::PublicKey>),
}

impl VerifyKey {
    /// From a DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<VerifyKey, String> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("public key is not a DER SPKI ({e})"))?;
        let point = spki.subject_public_key.as_bytes().ok_or("public key bit string has unused bits")?;
        match spki.algorithm.oid {
            OID_EC_PUBLIC_KEY => {
                let curve =
                    spki.algorithm.parameters.and_then(|p| p.decode_as::<Oid>().ok()).ok_or("EC public key without a named curve")?;
                match curve {
                    OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(|k| VerifyKey::P256(Box::new(k)))
                        .map_err(|_| "not a valid P-256 point".into()),
                    OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(|k| VerifyKey::P384(Box::new(k)))
                        .map_err(|_| "not a valid P-384 point".into()),
                    c => Err(format!("EC curve {c} is not supported (P-256, P-384)")),
                }
            }
            OID_ED25519 => {
                let b: [u8; 32] = point.try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
                crate::keys::PublicKey::from_bytes(&b).map(|k| VerifyKey::Ed25519(Box::new(k))).map_err(|e| e.to_string())
            }
            OID_RSA => {
                use rsa::pkcs8::DecodePublicKey as _;
                rsa::PublicKey::from_public_key_der(der).map(|k| VerifyKey::Rsa(Box::new(k))).map_err(|e| format!("RSA key: {e}"))
            }
            o => Err(format!("key algorithm {o} is not supported (ECDSA P-256/P-384, Ed25519, RSA)")),
        }
    }

    /// From a PEM `PUBLIC KEY` block.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyKey, String> {
        Self::from_spki(&pem_decode(pem, "PUBLIC KEY")?)
    }

    /// Verifies a DER (ECDSA) or raw (Ed25519) signature over `msg` hashed as `alg` says.
    pub fn verify(&self, alg: SigAlg, msg: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (VerifyKey::Ed25519(k), SigAlg::Ed25519) => k.verify(msg, sig),
            (VerifyKey::Rsa(k), SigAlg::Rsa(h)) => {
                let scheme = match h {
                    Hash::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    Hash::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    Hash::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.verify(scheme, &h.digest(msg), sig).is_ok()
            }
            (VerifyKey::P256(_) | VerifyKey::P384(_), SigAlg::Ecdsa(h)) => self.verify_prehash(&h.digest(msg), sig),
            _ => false,
        }
    }

    /// Verifies a DER ECDSA signature over a digest computed by the caller.
    pub fn verify_prehash(&self, digest: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        match self {
            VerifyKey::P256(k) => p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            VerifyKey::P384(k) => p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| k.verify_prehash(digest, &s).is_ok()),
            VerifyKey::Ed25519(_) => false,
            VerifyKey::Rsa(k) => k.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), digest, sig).is_ok() && digest.len() == 32,
        }
    }

    /// The algorithm Sigstore signs artifacts with under this key (`PKIX_ECDSA_P256_SHA_256`,
    /// `PKIX_ECDSA_P384_SHA_384`, `PKIX_ED25519`).
    pub fn default_alg(&self) -> SigAlg {
        match self {
            VerifyKey::P256(_) => SigAlg::Ecdsa(Hash::Sha256),
            VerifyKey::P384(_) => SigAlg::Ecdsa(Hash::Sha384),
            VerifyKey::Ed25519(_) => SigAlg::Ed25519,
            VerifyKey::Rsa(_) => SigAlg::Rsa(Hash::Sha256),
        }
    }
}

/// Decodes the first PEM block with this label.
pub fn pem_decode(pem: &[u8], label: &str) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "PEM is not UTF-8")?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or_else(|| format!("no {begin} line"))? + begin.len();
    let stop = text[start..].find(&end).ok_or_else(|| format!("no {end} line"))? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    super::unb64(&b64).ok_or_else(|| format!("{label} PEM body is not base64"))
}

/// One X.509 extension.
#[derive(Clone, Debug)]
pub struct Extension {
    /// extnID.
    pub oid: Oid,
    /// critical.
    pub critical: bool,
    /// extnValue's content.
    pub value: Vec<u8>,
}

/// A parsed certificate with the bytes its signature covers.
#[derive(Clone, Debug)]
pub struct Cert {
    /// The certificate's DER.
    pub der: Vec<u8>,
    /// tbsCertificate exactly as received.
    pub tbs: Vec<u8>,
    /// The signature algorithm, when supported.
    pub sig_alg: Option<SigAlg>,
    /// The signature.
    pub signature: Vec<u8>,
    /// DER of the issuer Name.
    pub issuer: Vec<u8>,
    /// DER of the subject Name.
    pub subject: Vec<u8>,
    /// DER of the SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The key, when its type is supported.
    pub key: Result<VerifyKey, String>,
    /// notBefore.
    pub not_before: Nanos,
    /// notAfter.
    pub not_after: Nanos,
    /// Extensions in order.
    pub extensions: Vec<Extension>,
}

impl Cert {
    /// Parses a DER certificate (strictly, through `x509-cert`).
    pub fn parse(der: &[u8]) -> Result<Cert, String> {
        let c = x509_cert::Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate ({e})"))?;
        let (outer, _) = asn1::expect(der, tag::SEQUENCE, "certificate")?;
        let (tbs, _) = asn1::expect(outer.content, tag::SEQUENCE, "tbsCertificate")?;
        let t = c.tbs_certificate();
        let enc = |r: der::Result<Vec<u8>>| r.map_err(|e| e.to_string());
        use der::Encode as _;
        let spki = enc(t.subject_public_key_info().to_der())?;
        let secs = |time: x509_cert::time::Time| i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX / NANOS) * NANOS;
        let extensions = t
            .extensions()
            .map(|exts| {
                exts.iter().map(|e| Extension { oid: e.extn_id, critical: e.critical, value: e.extn_value.as_bytes().to_vec() }).collect()
            })
            .unwrap_or_default();
        Ok(Cert {
            der: der.to_vec(),
            tbs: tbs.raw.to_vec(),
            sig_alg: SigAlg::from_oid(&c.signature_algorithm().oid),
            signature: c.signature().as_bytes().ok_or("signature bit string has unused bits")?.to_vec(),
            issuer: enc(t.issuer().to_der())?,
            subject: enc(t.subject().to_der())?,
            key: VerifyKey::from_spki(&spki),
            spki,
            not_before: secs(t.validity().not_before),
            not_after: secs(t.validity().not_after),
            extensions,
        })
    }

    /// The extension with this OID.
    pub fn extension(&self, oid: &Oid) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == *oid)
    }

    /// Whether this certificate was signed by `issuer`'s key (and names it as issuer).
    pub fn signed_by(&self, issuer: &Cert) -> Result<(), String> {
        if self.issuer != issuer.subject {
            return Err("issuer name differs from the CA certificate's subject".into());
        }
        let key = issuer.key.as_ref().map_err(|e| format!("CA key: {e}"))?;
        let alg = self.sig_alg.ok_or("signature algorithm not supported")?;
        if key.verify(alg, &self.tbs, &self.signature) { Ok(()) } else { Err("signature does not verify under the CA key".into()) }
    }

    /// Whether the certificate is self-signed (a root).
    pub fn is_self_signed(&self) -> bool {
        self.signed_by(self).is_ok()
    }

    /// basicConstraints cA.
    pub fn is_ca(&self) -> bool {
        self.extension(&OID_BASIC_CONSTRAINTS)
            .and_then(|e| x509_cert::ext::pkix::BasicConstraints::from_der(&e.value).ok())
            .is_some_and(|b| b.ca)
    }

    /// Whether the extended key usage lists `usage`.
    pub fn has_eku(&self, usage: &Oid) -> bool {
        self.extension(&OID_EKU)
            .and_then(|e| x509_cert::ext::pkix::ExtendedKeyUsage::from_der(&e.value).ok())
            .is_some_and(|k| k.0.contains(usage))
    }

    /// Whether `t` is inside [notBefore, notAfter].
    pub fn valid_at(&self, t: Nanos) -> bool {
        t >= self.not_before && t <= self.not_after
    }

    /// Subject alternative names: URIs, emails, DNS names and Fulcio's UTF-8 otherNames.
    pub fn sans(&self) -> Vec<String> {
        use x509_cert::ext::pkix::name::GeneralName;
        let Some(e) = self.extension(&OID_SAN) else { return Vec::new() };
        let Ok(san) = x509_cert::ext::pkix::SubjectAltName::from_der(&e.value) else { return Vec::new() };
        san.0
            .iter()
            .filter_map(|n| match n {
                GeneralName::UniformResourceIdentifier(s) | GeneralName::Rfc822Name(s) | GeneralName::DnsName(s) => Some(s.to_string()),
                GeneralName::OtherName(o) => o.value.decode_as::<der::asn1::Utf8StringRef<'_>>().ok().map(|s| s.as_str().to_string()),
                _ => None,
            })
            .collect()
    }

    /// A Fulcio extension's value as text: DER UTF8String (the v2 OIDs, `.1.8` and up) or raw
    /// bytes (the deprecated v1 OIDs `.1.1`-`.1.6`).
    pub fn fulcio_text(&self, oid: &Oid) -> Option<String> {
        let e = self.extension(oid)?;
        if let Ok((t, rest)) = asn1::read(&e.value)
            && t.tag == 0x0c
            && rest.is_empty()
        {
            return std::str::from_utf8(t.content).ok().map(str::to_string);
        }
        std::str::from_utf8(&e.value).ok().map(str::to_string)
    }

    /// The OIDC issuer: the v2 extension, else the v1 one.
    pub fn oidc_issuer(&self) -> Option<String> {
        self.fulcio_text(&OID_FULCIO_ISSUER_V2).or_else(|| self.fulcio_text(&OID_FULCIO_ISSUER_V1))
    }

    /// The TBS without the SCT list extension: the precertificate TBS the CT log signed
    /// (RFC 6962 §3.2).
    pub fn precert_tbs(&self) -> Result<Vec<u8>, String> {
        let (tbs, _) = asn1::expect(&self.tbs, tag::SEQUENCE, "tbsCertificate")?;
        let mut content = Vec::new();
        for child in asn1::children(tbs.content)? {
            if child.tag != tag::CTX3 {
                content.extend_from_slice(child.raw);
                continue;
            }
            let (seq, _) = asn1::expect(child.content, tag::SEQUENCE, "extensions")?;
            let mut exts = Vec::new();
            for ext in asn1::children(seq.content)? {
                let (oid, _) = asn1::expect(ext.content, tag::OID, "extnID")?;
                if oid.content != OID_SCT_LIST.as_bytes() {
                    exts.extend_from_slice(ext.raw);
                }
            }
            content.extend(asn1::encode(tag::CTX3, &asn1::encode(tag::SEQUENCE, &exts)));
        }
        Ok(asn1::encode(tag::SEQUENCE, &content))
    }
}

/// One embedded signed certificate timestamp (RFC 6962 §3.2).
#[derive(Clone, Debug)]
pub struct Sct {
    /// SHA-256 of the CT log's key.
    pub log_id: [u8; 32],
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// CtExtensions (opaque).
    pub extensions: Vec<u8>,
    /// Hash algorithm byte (4 = SHA-256).
    pub hash: u8,
    /// Signature algorithm byte (3 = ECDSA).
    pub sig_alg: u8,
    /// The signature.
    pub signature: Vec<u8>,
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err("SCT list truncated".into());
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Ok(h)
}

fn be(b: &[u8]) -> usize {
    b.iter().fold(0usize, |a, &x| (a << 8) | x as usize)
}

/// The SCTs embedded in a certificate (none when the extension is absent).
pub fn embedded_scts(cert: &Cert) -> Result<Vec<Sct>, String> {
    let Some(ext) = cert.extension(&OID_SCT_LIST) else { return Ok(Vec::new()) };
    let (os, rest) = asn1::expect(&ext.value, tag::OCTET_STRING, "SCT list")?;
    if !rest.is_empty() {
        return Err("bytes after the SCT list".into());
    }
    let mut b = os.content;
    let total = be(take(&mut b, 2)?);
    if total != b.len() {
        return Err(format!("SCT list length {total}, {} bytes present", b.len()));
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = be(take(&mut b, 2)?);
        let mut s = take(&mut b, len)?;
        let version = take(&mut s, 1)?[0];
        if version != 0 {
            return Err(format!("SCT version {version}; only v1 (0) exists"));
        }
        let log_id: [u8; 32] = take(&mut s, 32)?.try_into().expect("32 bytes");
        let timestamp_ms = be(take(&mut s, 8)?) as u64;
        let ext_len = be(take(&mut s, 2)?);
        let extensions = take(&mut s, ext_len)?.to_vec();
        let hash = take(&mut s, 1)?[0];
        let sig_alg = take(&mut s, 1)?[0];
        let sig_len = be(take(&mut s, 2)?);
        let signature = take(&mut s, sig_len)?.to_vec();
        if !s.is_empty() {
            return Err("bytes after an SCT's signature".into());
        }
        out.push(Sct { log_id, timestamp_ms, extensions, hash, sig_alg, signature });
    }
    Ok(out)
}

/// The bytes an SCT for a precertificate signs (RFC 6962 §3.2, `digitally-signed struct`).
pub fn sct_signed_data(sct: &Sct, issuer_spki: &[u8], precert_tbs: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8, 0u8];
    m.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&Sha256::digest(issuer_spki));
    m.extend_from_slice(&(precert_tbs.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(precert_tbs);
    m.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    m.extend_from_slice(&sct.extensions);
    m
}
