//! Verification of one bundle, in the order of `format-spec/sigstore-v1.md` §3: material and
//! policy, the signature over the artifact, transparency log entries, timestamps, signing times,
//! then (keyless) the certificate at those times, its chain, its SCTs and the identity policy.
//! The first failed check ends verification with its named [`SigstoreError`].

use super::bundle::{Bundle, Content, Material, Version};
use super::pki::{Cert, Hash, OID_CODE_SIGNING, SigAlg, VerifyKey, embedded_scts, sct_signed_data};
use super::rekor::{EntryOutcome, Expect, verify_entry};
use super::root::TrustedRoot;
use super::{Nanos, SigstoreError, show_time, tsa};

/// The artifact: its SHA-256 digest (the digest form of the conformance protocol is the same).
pub type Artifact = [u8; 32];

/// The identity a certificate's SAN must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Equal to this value.
    Exact(String),
    /// Matched by this regular expression (anywhere in the SAN, as cosign's
    /// `--certificate-identity-regexp`; anchor it with `^…$` to match the whole value).
    Regexp(String),
}

/// What a bundle must satisfy besides its own consistency.
#[derive(Clone, Debug)]
pub enum Policy {
    /// Keyless: a Fulcio certificate with this identity and OIDC issuer, and optionally exact
    /// values of other Fulcio extensions (OID, value).
    Keyless {
        /// SAN policy.
        identity: Identity,
        /// OIDC issuer (exact).
        issuer: String,
        /// Further Fulcio extensions that must equal the value given.
        extensions: Vec<(String, String)>,
    },
    /// Keyed: signed by this public key (its SPKI DER and the key).
    Key {
        /// SPKI DER.
        spki: Vec<u8>,
        /// The key.
        key: VerifyKey,
    },
}

/// How the signer was identified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A Fulcio certificate.
    Certificate {
        /// Its SANs.
        sans: Vec<String>,
        /// Its OIDC issuer.
        issuer: String,
        /// The CA it chains to.
        ca: String,
    },
    /// The policy's public key.
    Key,
}

/// A verified bundle: what was checked, in order, and what it established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The bundle's version.
    pub version: Version,
    /// The signer.
    pub signer: Signer,
    /// Verified signing times and where each came from.
    pub times: Vec<(String, Nanos)>,
    /// The transparency log entries verified.
    pub entries: Vec<EntryOutcome>,
    /// Every check passed: (id, detail).
    pub checks: Vec<(&'static str, String)>,
}

fn compile(re: &str) -> Result<regex_lite::Regex, SigstoreError> {
    regex_lite::Regex::new(re)
        .map_err(|e| SigstoreError::Identity { expected: format!("regexp {re:?}"), actual: format!("(invalid regular expression: {e})") })
}

/// Checks an identity policy's regular expression before any bundle is read (a usage error).
pub fn check_regexp(re: &str) -> Result<(), String> {
    regex_lite::Regex::new(re).map(|_| ()).map_err(|e| e.to_string())
}

fn in_toto_subject_matches(payload: &[u8], artifact: &Artifact) -> Result<(), SigstoreError> {
    let st =
        crate::json::parse_strict(payload).map_err(|e| SigstoreError::Artifact { detail: format!("DSSE payload is not JSON ({e})") })?;
    let want = hex::encode(artifact);
    let subjects = st
        .get("subject")
        .and_then(|s| s.as_array())
        .ok_or_else(|| SigstoreError::Artifact { detail: "in-toto statement has no subject list".into() })?;
    let found: Vec<String> = subjects.iter().filter_map(|s| s.get("digest")?.get("sha256")?.as_str().map(str::to_string)).collect();
    if found.iter().any(|d| d.eq_ignore_ascii_case(&want)) {
        Ok(())
    } else {
        Err(SigstoreError::Artifact { detail: format!("no in-toto subject has sha256 {want} (subjects: {})", found.join(", ")) })
    }
}

/// Verifies a parsed bundle for an artifact (its SHA-256) under a trusted root and a policy.
pub fn verify_bundle(b: &Bundle, artifact: &Artifact, root: &TrustedRoot, policy: &Policy) -> Result<Verified, SigstoreError> {
    let mut checks: Vec<(&'static str, String)> = vec![("sigstore.bundle.media-type", format!("bundle {}", b.version.name()))];
    let material = |d: &str| SigstoreError::Material { detail: d.into() };

    // 1. Material and policy.
    let (leaf, key, signer_der): (Option<Cert>, VerifyKey, Vec<u8>) = match (&b.material, policy) {
        (Material::PublicKey { .. }, Policy::Key { spki, key }) => (None, key.clone(), spki.clone()),
        (Material::PublicKey { hint }, Policy::Keyless { .. }) => {
            return Err(SigstoreError::Key {
                detail: format!(
                    "the bundle was signed with a key (hint {:?}), not a certificate; pass that key with --key",
                    hint.as_deref().unwrap_or("")
                ),
            });
        }
        (Material::Certificate(_) | Material::Chain(_), Policy::Key { .. }) => {
            return Err(SigstoreError::Key {
                detail: "the bundle carries a Fulcio certificate; verify it with an identity policy, not --key".into(),
            });
        }
        (Material::Certificate(der), Policy::Keyless { .. }) => keyless_leaf(der, &material)?,
        (Material::Chain(certs), Policy::Keyless { .. }) => {
            let (first, rest) = certs.split_first().ok_or_else(|| material("the certificate chain is empty"))?;
            for (i, c) in rest.iter().enumerate() {
                let c = Cert::parse(c).map_err(|e| material(&format!("chain certificate {}: {e}", i + 1)))?;
                if c.is_self_signed() {
                    return Err(material(&format!(
                        "chain certificate {} is a self-signed root; roots come from the trusted root only",
                        i + 1
                    )));
                }
            }
            keyless_leaf(first, &material)?
        }
    };
    checks.push(("sigstore.material", if leaf.is_some() { "Fulcio certificate".into() } else { "public key given with --key".into() }));

    // 2. The signature over the artifact.
    let signature = match &b.content {
        Content::MessageSignature { digest, signature } => {
            if let Some((alg, d)) = digest {
                if alg != "SHA2_256" {
                    return Err(SigstoreError::Artifact { detail: format!("messageDigest algorithm {alg}; SHA2_256 is verified") });
                }
                if d.as_slice() != artifact {
                    return Err(SigstoreError::Artifact {
                        detail: format!("messageDigest is sha256:{}, the artifact is sha256:{}", hex::encode(d), hex::encode(artifact)),
                    });
                }
            }
            let ok = match key.default_alg() {
                SigAlg::Ecdsa(Hash::Sha256) => key.verify_prehash(artifact, signature),
                _ => {
                    return Err(SigstoreError::Signature {
                        detail: "only ECDSA P-256 message signatures are verified from a digest".into(),
                    });
                }
            };
            if !ok {
                return Err(SigstoreError::Signature {
                    detail: format!("the message signature does not verify over sha256:{}", hex::encode(artifact)),
                });
            }
            checks.push(("sigstore.artifact", format!("sha256:{}", hex::encode(artifact))));
            signature.as_slice()
        }
        Content::Dsse { payload_type, payload, signatures } => {
            let [one] = signatures.as_slice() else {
                return Err(SigstoreError::Signature {
                    detail: format!("the DSSE envelope has {} signatures; exactly one is verified", signatures.len()),
                });
            };
            if !key.verify(key.default_alg(), &crate::dsse::pae(payload_type, payload), &one.sig) {
                return Err(SigstoreError::Signature {
                    detail: "the DSSE signature does not verify over PAE(payloadType, payload)".into(),
                });
            }
            if payload_type != "application/vnd.in-toto+json" {
                return Err(SigstoreError::Artifact {
                    detail: format!("DSSE payloadType {payload_type:?}; application/vnd.in-toto+json names its subjects"),
                });
            }
            in_toto_subject_matches(payload, artifact)?;
            checks.push(("sigstore.artifact", format!("in-toto subject sha256:{}", hex::encode(artifact))));
            one.sig.as_slice()
        }
    };
    checks.push(("sigstore.signature", "verified under the signing key".into()));

    // 3. Transparency log entries.
    if b.tlog_entries.is_empty() {
        return Err(SigstoreError::TlogEntry { detail: "the bundle has no transparency log entry".into() });
    }
    let expect = Expect { content: &b.content, artifact, signature, signer_der: &signer_der };
    let mut entries = Vec::new();
    for e in &b.tlog_entries {
        let log = root.tlog(&e.log_id).ok_or_else(|| SigstoreError::TlogEntry {
            detail: format!("entry {} is from log {} which the trusted root does not list", e.log_index, hex::encode(&e.log_id)),
        })?;
        let rekor_v2 = e.version == "0.0.2";
        let out = verify_entry(e, log, &expect, b.version >= Version::V02 || rekor_v2, b.version == Version::V01 && !rekor_v2)?;
        checks.push((
            "sigstore.tlog",
            format!(
                "{} entry {}: body matches{}{}",
                out.log,
                out.log_index,
                if out.integrated_time.is_some() { ", SET verified" } else { "" },
                if out.proven { ", inclusion proof and checkpoint verified" } else { "" }
            ),
        ));
        entries.push((out, log));
    }

    // 4. RFC 3161 timestamps.
    let mut times: Vec<(String, Nanos)> = Vec::new();
    for (i, ts) in b.timestamps.iter().enumerate() {
        let (t, uri) =
            tsa::verify(ts, signature, &root.tsas).map_err(|d| SigstoreError::Timestamp { detail: format!("timestamp {i}: {d}") })?;
        checks.push(("sigstore.timestamp", format!("{} by {uri}", show_time(t))));
        times.push((format!("RFC 3161 timestamp by {uri}"), t));
    }
    let tsa_times: Vec<Nanos> = times.iter().map(|(_, t)| *t).collect();
    for (out, log) in &entries {
        if let Some(t) = out.integrated_time {
            times.push((format!("integrated time of {} entry {}", out.log, out.log_index), t));
        }
        let at: Vec<Nanos> = out.integrated_time.map_or_else(|| tsa_times.clone(), |t| vec![t]);
        if let Some(t) = at.iter().find(|t| !log.valid.contains(**t)) {
            return Err(SigstoreError::TlogEntry {
                detail: format!("the key of {} is trusted {}, not at {}", log.base_url, log.valid.show(), show_time(*t)),
            });
        }
    }

    // 5. Signing times.
    if times.is_empty() {
        return Err(SigstoreError::NoSigningTime {
            detail: "neither an RFC 3161 timestamp nor an SET-backed integrated time proves when the signature was made".into(),
        });
    }
    checks.push(("sigstore.signing-time", times.iter().map(|(w, t)| format!("{} ({w})", show_time(*t))).collect::<Vec<_>>().join(", ")));

    // 6. Keyless: the certificate, its chain, its SCTs, the identity.
    let signer = match (leaf, policy) {
        (Some(leaf), Policy::Keyless { identity, issuer, extensions }) => {
            for (_, t) in &times {
                if !leaf.valid_at(*t) {
                    return Err(SigstoreError::Certificate {
                        detail: format!(
                            "signing time {} is outside the certificate's validity {} to {}",
                            show_time(*t),
                            show_time(leaf.not_before),
                            show_time(leaf.not_after)
                        ),
                    });
                }
            }
            if leaf.is_ca() || !leaf.has_eku(&OID_CODE_SIGNING) {
                return Err(SigstoreError::Certificate {
                    detail: "the signing certificate is not a code-signing leaf (CA flag set or no codeSigning usage)".into(),
                });
            }
            checks.push((
                "sigstore.certificate.validity",
                format!("valid {} to {} at every signing time", show_time(leaf.not_before), show_time(leaf.not_after)),
            ));
            let ca = chain_to_ca(&leaf, root, &times)?;
            checks.push(("sigstore.certificate.chain", ca.uri.clone()));
            let scts = verify_scts(&leaf, &ca.chain[0], root)?;
            checks.push(("sigstore.certificate.sct", scts));
            let sans = leaf.sans();
            let ok = match identity {
                Identity::Exact(s) => sans.iter().any(|x| x == s),
                Identity::Regexp(re) => {
                    let r = compile(re)?;
                    sans.iter().any(|x| r.is_match(x))
                }
            };
            if !ok {
                let expected = match identity {
                    Identity::Exact(s) => format!("{s:?}"),
                    Identity::Regexp(r) => format!("regexp {r:?}"),
                };
                return Err(SigstoreError::Identity { expected, actual: sans.join(", ") });
            }
            checks.push(("sigstore.identity", sans.join(", ")));
            let found = leaf.oidc_issuer().unwrap_or_default();
            if &found != issuer {
                return Err(SigstoreError::Issuer { expected: issuer.clone(), actual: found });
            }
            checks.push(("sigstore.issuer", found.clone()));
            for (oid, want) in extensions {
                let o = der::asn1::ObjectIdentifier::new(oid)
                    .map_err(|_| SigstoreError::Issuer { expected: format!("{oid}={want}"), actual: "(not an OID)".into() })?;
                let got = leaf.fulcio_text(&o).unwrap_or_default();
                if &got != want {
                    return Err(SigstoreError::Identity { expected: format!("extension {oid} = {want:?}"), actual: got });
                }
                checks.push(("sigstore.identity", format!("extension {oid} = {got:?}")));
            }
            Signer::Certificate { sans, issuer: found, ca: ca.uri.clone() }
        }
        _ => Signer::Key,
    };
    Ok(Verified { version: b.version, signer, times, entries: entries.into_iter().map(|(o, _)| o).collect(), checks })
}

/// The signing certificate and its key.
fn keyless_leaf(der: &[u8], material: &dyn Fn(&str) -> SigstoreError) -> Result<(Option<Cert>, VerifyKey, Vec<u8>), SigstoreError> {
    let leaf = Cert::parse(der).map_err(|e| material(&format!("signing certificate: {e}")))?;
    let key = leaf.key.clone().map_err(|e| material(&format!("signing certificate key: {e}")))?;
    Ok((Some(leaf), key, der.to_vec()))
}

fn chain_to_ca<'r>(leaf: &Cert, root: &'r TrustedRoot, times: &[(String, Nanos)]) -> Result<&'r super::root::Authority, SigstoreError> {
    let mut why = Vec::new();
    'ca: for ca in &root.cas {
        if let Some((_, t)) = times.iter().find(|(_, t)| !ca.valid.contains(*t)) {
            why.push(format!("{}: trusted {}, not at {}", ca.uri, ca.valid.show(), show_time(*t)));
            continue;
        }
        if let Err(e) = leaf.signed_by(&ca.chain[0]) {
            why.push(format!("{}: {e}", ca.uri));
            continue;
        }
        for (i, c) in ca.chain.iter().enumerate() {
            if !c.is_ca() {
                why.push(format!("{}: certificate {i} is not a CA", ca.uri));
                continue 'ca;
            }
            if let Some((_, t)) = times.iter().find(|(_, t)| !c.valid_at(*t)) {
                why.push(format!("{}: certificate {i} not valid at {}", ca.uri, show_time(*t)));
                continue 'ca;
            }
            let issuer = ca.chain.get(i + 1).unwrap_or(c);
            if let Err(e) = c.signed_by(issuer) {
                why.push(format!("{}: certificate {i}: {e}", ca.uri));
                continue 'ca;
            }
        }
        return Ok(ca);
    }
    if why.is_empty() {
        why.push("the trusted root lists no certificate authority".into());
    }
    Err(SigstoreError::Chain { detail: format!("no trusted CA issued the signing certificate ({})", why.join("; ")) })
}

fn verify_scts(leaf: &Cert, issuer: &Cert, root: &TrustedRoot) -> Result<String, SigstoreError> {
    let scts = embedded_scts(leaf).map_err(|d| SigstoreError::Sct { detail: d })?;
    if scts.is_empty() {
        return Err(SigstoreError::Sct { detail: "the certificate embeds no SCT".into() });
    }
    let tbs = leaf.precert_tbs().map_err(|d| SigstoreError::Sct { detail: d })?;
    let mut why = Vec::new();
    for sct in &scts {
        let Some(log) = root.ctlogs.iter().find(|l| l.log_id == sct.log_id) else {
            why.push(format!("SCT from unknown CT log {}", hex::encode(sct.log_id)));
            continue;
        };
        let Some(key) = &log.key else {
            why.push(format!("{}: key type not supported", log.base_url));
            continue;
        };
        let t = (sct.timestamp_ms as i64).saturating_mul(1_000_000);
        if !log.valid.contains(t) {
            why.push(format!("{}: trusted {}, SCT at {}", log.base_url, log.valid.show(), show_time(t)));
            continue;
        }
        let alg = match (sct.hash, sct.sig_alg) {
            (4, 3) => SigAlg::Ecdsa(Hash::Sha256),
            (5, 3) => SigAlg::Ecdsa(Hash::Sha384),
            (_, 7) => SigAlg::Ed25519,
            (h, s) => {
                why.push(format!("{}: SCT algorithm ({h}, {s}) not supported", log.base_url));
                continue;
            }
        };
        if key.verify(alg, &sct_signed_data(sct, &issuer.spki, &tbs), &sct.signature) {
            return Ok(format!("SCT by {} at {}", log.base_url, show_time(t)));
        }
        why.push(format!("{}: SCT signature does not verify", log.base_url));
    }
    Err(SigstoreError::Sct { detail: format!("no embedded SCT verifies under a trusted CT log key ({})", why.join("; ")) })
}

/// The verdicts for a `--bundle` file: one bundle (JSON), or JSON Lines of bundles
/// (`gh attestation download`) where the first that verifies decides.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    /// Whether the file was read as JSON Lines.
    pub json_lines: bool,
    /// Each bundle tried, in file order (1-based line number for JSON Lines), up to the first
    /// that verified.
    pub results: Vec<(usize, Result<Verified, SigstoreError>)>,
}

impl FileOutcome {
    /// The bundle that verified (its line number, 1 for a single bundle).
    pub fn matched(&self) -> Option<usize> {
        self.results.iter().find(|(_, r)| r.is_ok()).map(|(i, _)| *i)
    }
}

/// Verifies a `--bundle` file's bytes: a JSON bundle, or JSON Lines of bundles of which any one
/// verifying for this artifact and policy suffices.
pub fn verify_file(bytes: &[u8], artifact: &Artifact, root: &TrustedRoot, policy: &Policy) -> FileOutcome {
    let single = crate::json::parse_strict(bytes);
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if single.is_ok() || lines.len() < 2 {
        let r = single
            .map_err(|e| SigstoreError::BundleFormat { detail: format!("not JSON: {e}") })
            .and_then(|v| Bundle::from_value(&v))
            .and_then(|b| verify_bundle(&b, artifact, root, policy));
        return FileOutcome { json_lines: false, results: vec![(1, r)] };
    }
    let mut results = Vec::new();
    for (n, line) in lines {
        let r = Bundle::parse(line).and_then(|b| verify_bundle(&b, artifact, root, policy));
        let ok = r.is_ok();
        results.push((n, r));
        if ok {
            break;
        }
    }
    FileOutcome { json_lines: true, results }
}
