//! RFC 3161 timestamps: a `TimeStampResp` whose CMS SignedData (RFC 5652) is signed by a
//! timestamp authority of the trusted root, whose message imprint is the hash of the bundle's
//! signature, and whose `genTime` lies inside the authority's window and its certificates'
//! validity. The result is a verified signing time.

use super::asn1::{self, Tlv, tag};
use super::pki::{Hash, OID_TIME_STAMPING, SigAlg};
use super::root::Authority;
use super::{Nanos, show_time};
use der::Decode as _;
use der::asn1::ObjectIdentifier as Oid;

const OID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const OID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");

/// The parts of a timestamp token verification needs.
#[derive(Clone, Debug)]
pub struct Token {
    /// TSTInfo's DER (the signed content).
    pub tst_info: Vec<u8>,
    /// messageImprint hash algorithm.
    pub imprint_hash: Hash,
    /// messageImprint hashedMessage.
    pub imprint: Vec<u8>,
    /// genTime.
    pub gen_time: Nanos,
    /// The SignerInfo's digest algorithm.
    pub digest_alg: Hash,
    /// signedAttrs re-tagged as SET (what the signature covers).
    pub signed_attrs: Vec<u8>,
    /// The messageDigest attribute.
    pub message_digest: Vec<u8>,
    /// The signature algorithm, when it names one (else ECDSA over `digest_alg`).
    pub sig_alg: Option<SigAlg>,
    /// The signature.
    pub signature: Vec<u8>,
}

fn oid(t: &Tlv<'_>) -> Result<Oid, String> {
    Oid::from_der(t.raw).map_err(|e| format!("bad OID ({e})"))
}

fn alg_oid(t: &Tlv<'_>, what: &str) -> Result<Oid, String> {
    let (o, _) = asn1::expect(t.content, tag::OID, what)?;
    oid(&o)
}

/// Parses a `TimeStampResp` (or a bare `ContentInfo` token).
pub fn parse(der: &[u8]) -> Result<Token, String> {
    let (resp, rest) = asn1::expect(der, tag::SEQUENCE, "TimeStampResp")?;
    if !rest.is_empty() {
        return Err("bytes after the TimeStampResp".into());
    }
    let parts = asn1::children(resp.content)?;
    let content_info = match parts.as_slice() {
        // TimeStampResp { status PKIStatusInfo, timeStampToken ContentInfo }
        [status, token] if status.tag == tag::SEQUENCE && token.tag == tag::SEQUENCE => {
            let st = asn1::children(status.content)?;
            let granted = st.first().is_some_and(|s| s.tag == tag::INTEGER && (s.content == [0] || s.content == [1]));
            if !granted {
                return Err("PKIStatus is not granted (0) or grantedWithMods (1)".into());
            }
            *token
        }
        // A bare ContentInfo.
        [ct, _] if ct.tag == tag::OID => resp,
        _ => return Err("not a TimeStampResp (status, timeStampToken)".into()),
    };
    let ci = asn1::children(content_info.content)?;
    let [ct, explicit] = ci.as_slice() else { return Err("ContentInfo is not (contentType, content)".into()) };
    if oid(ct)? != OID_SIGNED_DATA || explicit.tag != tag::CTX0 {
        return Err("timeStampToken is not CMS SignedData".into());
    }
    let (sd, _) = asn1::expect(explicit.content, tag::SEQUENCE, "SignedData")?;
    let sd = asn1::children(sd.content)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
    let encap = sd.get(2).ok_or("SignedData has no encapContentInfo")?;
    let signer_infos = sd.last().filter(|s| s.tag == tag::SET).ok_or("SignedData has no signerInfos")?;
    let enc = asn1::children(encap.content)?;
    let [ect, econtent] = enc.as_slice() else { return Err("encapContentInfo has no eContent".into()) };
    if oid(ect)? != OID_TST_INFO || econtent.tag != tag::CTX0 {
        return Err("eContentType is not id-ct-TSTInfo".into());
    }
    let (os, _) = asn1::expect(econtent.content, tag::OCTET_STRING, "eContent")?;
    let tst_info = os.content.to_vec();
    let (tst, _) = asn1::expect(&tst_info, tag::SEQUENCE, "TSTInfo")?;
    let tst = asn1::children(tst.content)?;
    // version, policy, messageImprint, serialNumber, genTime, ...
    let mi = tst.get(2).filter(|t| t.tag == tag::SEQUENCE).ok_or("TSTInfo has no messageImprint")?;
    let mi = asn1::children(mi.content)?;
    let [mi_alg, mi_hash] = mi.as_slice() else { return Err("messageImprint is not (hashAlgorithm, hashedMessage)".into()) };
    let imprint_hash = Hash::from_oid(&alg_oid(mi_alg, "messageImprint.hashAlgorithm")?).ok_or("messageImprint hash is not SHA-2")?;
    let gt = tst.get(4).filter(|t| t.tag == tag::GENERALIZED_TIME).ok_or("TSTInfo has no genTime")?;
    let gen_time = asn1::generalized_time(gt.content)?;

    let sis = asn1::children(signer_infos.content)?;
    let [si] = sis.as_slice() else { return Err(format!("{} SignerInfos; exactly one is accepted", sis.len())) };
    let si = asn1::children(si.content)?;
    // version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature
    let digest_alg = Hash::from_oid(&alg_oid(si.get(2).ok_or("SignerInfo truncated")?, "digestAlgorithm")?)
        .ok_or("SignerInfo digest algorithm is not SHA-2")?;
    let attrs = si.get(3).filter(|t| t.tag == tag::CTX0).ok_or("SignerInfo has no signedAttrs")?;
    let mut signed_attrs = attrs.raw.to_vec();
    signed_attrs[0] = tag::SET;
    let mut message_digest = None;
    let mut content_type_ok = false;
    for a in asn1::children(attrs.content)? {
        let ac = asn1::children(a.content)?;
        let [ty, vals] = ac.as_slice() else { return Err("a signed attribute is not (type, values)".into()) };
        let vals = asn1::children(vals.content)?;
        match oid(ty)? {
            o if o == OID_MESSAGE_DIGEST => {
                let [v] = vals.as_slice() else { return Err("messageDigest attribute must hold one value".into()) };
                message_digest = Some(v.content.to_vec());
            }
            o if o == OID_CONTENT_TYPE => content_type_ok = vals.len() == 1 && oid(&vals[0])? == OID_TST_INFO,
            _ => {}
        }
    }
    if !content_type_ok {
        return Err("signed contentType attribute is not id-ct-TSTInfo".into());
    }
    let sig_alg_oid = alg_oid(si.get(4).ok_or("SignerInfo has no signatureAlgorithm")?, "signatureAlgorithm")?;
    let sig = si.get(5).filter(|t| t.tag == tag::OCTET_STRING).ok_or("SignerInfo has no signature")?;
    Ok(Token {
        imprint_hash,
        imprint: mi_hash.content.to_vec(),
        gen_time,
        digest_alg,
        signed_attrs,
        message_digest: message_digest.ok_or("no messageDigest signed attribute")?,
        sig_alg: SigAlg::from_oid(&sig_alg_oid),
        signature: sig.content.to_vec(),
        tst_info,
    })
}

/// Verifies a token over `signature` (the bytes whose hash is the imprint) against the
/// timestamp authorities; returns the verified time and the authority's URI.
pub fn verify(der: &[u8], signature: &[u8], tsas: &[Authority]) -> Result<(Nanos, String), String> {
    let t = parse(der)?;
    if t.imprint != t.imprint_hash.digest(signature) {
        return Err("the message imprint is not the hash of this bundle's signature".into());
    }
    if t.message_digest != t.digest_alg.digest(&t.tst_info) {
        return Err("the signed messageDigest attribute is not the hash of TSTInfo".into());
    }
    let mut why = Vec::new();
    for a in tsas {
        let leaf = &a.chain[0];
        let Ok(key) = &leaf.key else { continue };
        let alg = t.sig_alg.unwrap_or(SigAlg::Ecdsa(t.digest_alg));
        if !key.verify(alg, &t.signed_attrs, &t.signature) {
            why.push(format!("{}: signature does not verify under its key", a.uri));
            continue;
        }
        if !a.valid.contains(t.gen_time) {
            return Err(format!("genTime {} is outside the trusted root's window {} for {}", show_time(t.gen_time), a.valid.show(), a.uri));
        }
        if let Some((i, c)) = a.chain.iter().enumerate().find(|(_, c)| !c.valid_at(t.gen_time)) {
            return Err(format!(
                "genTime {} is outside certificate {i} of {} (valid {} to {})",
                show_time(t.gen_time),
                a.uri,
                show_time(c.not_before),
                show_time(c.not_after)
            ));
        }
        if !leaf.has_eku(&OID_TIME_STAMPING) {
            return Err(format!("{}: the signing certificate lacks the timeStamping extended key usage", a.uri));
        }
        for w in a.chain.windows(2) {
            w[0].signed_by(&w[1]).map_err(|e| format!("{}: chain: {e}", a.uri))?;
        }
        return Ok((t.gen_time, a.uri.clone()));
    }
    if why.is_empty() {
        why.push("the trusted root lists no timestamp authority".into());
    }
    Err(format!("no trusted timestamp authority signed it ({})", why.join("; ")))
}
