//! airlock's own Sigstore vectors: each refusal rule of format-spec/sigstore-v1.md §3, made by
//! one mutation of a bundle that verifies, must be refused under its own check id; and the
//! identity policy forms (exact, regexp, issuer, extension) on a real Fulcio certificate.

use airlock::sigstore::{Bundle, Identity, Policy, TrustedRoot, verify_bundle};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::Path;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data(p: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-conformance").join(p)).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s.as_str().unwrap()).unwrap()
}

fn flip_b64(v: &mut Value, byte: usize) {
    let mut b = unb64(v);
    let i = byte.min(b.len() - 5);
    b[i] ^= 0x01;
    *v = Value::String(b64(&b));
}

fn keyless(identity: Identity, issuer: &str) -> Policy {
    Policy::Keyless { identity, issuer: issuer.into(), extensions: vec![] }
}

fn outcome(bundle: &Value, root: &TrustedRoot, policy: &Policy) -> Result<(), &'static str> {
    let artifact = airlock::digest::Sha256Digest::of(&data("test/assets/a.txt")).0;
    let b = Bundle::parse(&serde_json::to_vec(bundle).unwrap()).map_err(|e| e.check())?;
    verify_bundle(&b, &artifact, root, policy).map(|_| ()).map_err(|e| e.check())
}

type Mutation = (&'static str, &'static str, fn(&mut Value));

/// The bundle's first transparency log entry.
fn e(v: &mut Value) -> &mut Value {
    &mut v["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn each_refusal_rule_is_named() {
    let v1: Value = serde_json::from_slice(&data("test/assets/bundle-verify/happy-path-v0.3/bundle.sigstore.json")).unwrap();
    let prod = TrustedRoot::parse(&data("trusted-root/production-trusted_root.json")).unwrap();
    let v2: Value = serde_json::from_slice(&data("test/assets/bundle-verify/rekor2-happy-path/bundle.sigstore.json")).unwrap();
    let stage = TrustedRoot::parse(&data("test/assets/bundle-verify/rekor2-happy-path/trusted_root.json")).unwrap();
    let policy = keyless(Identity::Exact(IDENTITY.into()), ISSUER);
    assert_eq!(outcome(&v1, &prod, &policy), Ok(()));
    assert_eq!(outcome(&v2, &stage, &policy), Ok(()));

    let rekor_v1: &[Mutation] = &[
        ("media type v0.4", "sigstore.bundle.media-type", |v| v["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.4+json")),
        ("no content", "sigstore.bundle.format", |v| {
            v.as_object_mut().unwrap().remove("messageSignature");
        }),
        ("two key materials", "sigstore.bundle.format", |v| v["verificationMaterial"]["publicKey"] = json!({"hint": "x"})),
        ("signature bit flip", "sigstore.signature", |v| flip_b64(&mut v["messageSignature"]["signature"], 40)),
        ("message digest of another artifact", "sigstore.artifact", |v| flip_b64(&mut v["messageSignature"]["messageDigest"]["digest"], 0)),
        ("message digest algorithm", "sigstore.artifact", |v| v["messageSignature"]["messageDigest"]["algorithm"] = json!("SHA2_512")),
        ("unknown log", "sigstore.tlog.entry", |v| flip_b64(&mut e(v)["logId"]["keyId"], 0)),
        ("no tlog entry", "sigstore.tlog.entry", |v| v["verificationMaterial"]["tlogEntries"] = json!([])),
        ("kind differs from body", "sigstore.tlog.body", |v| e(v)["kindVersion"]["kind"] = json!("dsse")),
        ("SET bit flip", "sigstore.tlog.set", |v| flip_b64(&mut e(v)["inclusionPromise"]["signedEntryTimestamp"], 20)),
        ("integrated time moved", "sigstore.tlog.set", |v| {
            let t: i64 = e(v)["integratedTime"].as_str().unwrap().parse().unwrap();
            e(v)["integratedTime"] = json!((t + 1).to_string());
        }),
        ("proof hash bit flip", "sigstore.tlog.inclusion-proof", |v| flip_b64(&mut e(v)["inclusionProof"]["hashes"][0], 0)),
        ("no inclusion proof in v0.3", "sigstore.tlog.inclusion-proof", |v| {
            e(v).as_object_mut().unwrap().remove("inclusionProof");
        }),
        ("checkpoint signature bit flip", "sigstore.tlog.checkpoint", |v| {
            let cp = e(v)["inclusionProof"]["checkpoint"]["envelope"].as_str().unwrap().to_string();
            let (text, sig) = cp.trim_end().rsplit_once(' ').unwrap();
            let mut raw = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
            raw[10] ^= 1;
            e(v)["inclusionProof"]["checkpoint"]["envelope"] = json!(format!("{text} {}\n", b64(&raw)));
        }),
        ("checkpoint of another tree size", "sigstore.tlog.checkpoint", |v| {
            let cp = e(v)["inclusionProof"]["checkpoint"]["envelope"].as_str().unwrap().to_string();
            let mut lines: Vec<String> = cp.split('\n').map(str::to_string).collect();
            lines[1] = format!("{}", lines[1].parse::<u64>().unwrap() + 1);
            e(v)["inclusionProof"]["checkpoint"]["envelope"] = json!(lines.join("\n"));
        }),
    ];
    for (what, id, m) in rekor_v1 {
        let mut b = v1.clone();
        m(&mut b);
        assert_eq!(outcome(&b, &prod, &policy), Err(*id), "{what}");
    }
    // The right bundle under the wrong trusted root.
    assert_eq!(outcome(&v1, &stage, &policy), Err("sigstore.tlog.entry"), "staging root");
    // A root whose certificate authorities are another instance's: no chain.
    let swap = |key: &str| {
        let mut r: Value = serde_json::from_slice(&data("trusted-root/production-trusted_root.json")).unwrap();
        let other: Value = serde_json::from_slice(&data("test/assets/bundle-verify/rekor2-happy-path/trusted_root.json")).unwrap();
        r[key] = other[key].clone();
        TrustedRoot::parse(&serde_json::to_vec(&r).unwrap()).unwrap()
    };
    assert_eq!(outcome(&v1, &swap("certificateAuthorities"), &policy), Err("sigstore.certificate.chain"), "foreign CAs");
    assert_eq!(outcome(&v1, &swap("ctlogs"), &policy), Err("sigstore.certificate.sct"), "foreign CT logs");

    let rekor_v2: &[Mutation] = &[
        ("no timestamp", "sigstore.signing-time", |v| {
            v["verificationMaterial"].as_object_mut().unwrap().remove("timestampVerificationData");
        }),
        // In the SignerInfo's signature, the last element. (A flip inside an embedded
        // certificate changes nothing: embedded certificates are never trusted.)
        ("timestamp signature bit flip", "sigstore.timestamp", |v| {
            flip_b64(&mut v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"], usize::MAX)
        }),
        ("Ed25519 checkpoint bit flip", "sigstore.tlog.checkpoint", |v| {
            let cp = e(v)["inclusionProof"]["checkpoint"]["envelope"].as_str().unwrap().to_string();
            let (text, sig) = cp.trim_end().rsplit_once(' ').unwrap();
            let mut raw = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
            raw[10] ^= 1;
            e(v)["inclusionProof"]["checkpoint"]["envelope"] = json!(format!("{text} {}\n", b64(&raw)));
        }),
    ];
    for (what, id, m) in rekor_v2 {
        let mut b = v2.clone();
        m(&mut b);
        assert_eq!(outcome(&b, &stage, &policy), Err(*id), "{what}");
    }
}

#[test]
fn identity_policy_forms() {
    let v: Value = serde_json::from_slice(&data("test/assets/bundle-verify/happy-path-v0.3/bundle.sigstore.json")).unwrap();
    let root = TrustedRoot::parse(&data("trusted-root/production-trusted_root.json")).unwrap();
    let re = |r: &str| Identity::Regexp(r.into());
    let cases: Vec<(Policy, Result<(), &str>)> = vec![
        (keyless(Identity::Exact(IDENTITY.into()), ISSUER), Ok(())),
        (keyless(Identity::Exact(IDENTITY.to_uppercase()), ISSUER), Err("sigstore.identity")),
        (keyless(Identity::Exact(format!("{IDENTITY}x")), ISSUER), Err("sigstore.identity")),
        (keyless(re("^https://github\\.com/sigstore-conformance/"), ISSUER), Ok(())),
        // Unanchored, as cosign: a pattern found anywhere in the SAN matches.
        (keyless(re("extremely-dangerous-oidc-beacon"), ISSUER), Ok(())),
        (keyless(re("^extremely-dangerous-oidc-beacon"), ISSUER), Err("sigstore.identity")),
        (keyless(re("^https://github\\.com/sigstore-conformance/x$"), ISSUER), Err("sigstore.identity")),
        (keyless(Identity::Exact(IDENTITY.into()), "https://token.actions.githubusercontent.com/"), Err("sigstore.issuer")),
        (keyless(Identity::Exact(IDENTITY.into()), ""), Err("sigstore.issuer")),
        (
            Policy::Keyless {
                identity: Identity::Exact(IDENTITY.into()),
                issuer: ISSUER.into(),
                extensions: vec![("1.3.6.1.4.1.57264.1.14".into(), "refs/heads/main".into())],
            },
            Ok(()),
        ),
        (
            Policy::Keyless {
                identity: Identity::Exact(IDENTITY.into()),
                issuer: ISSUER.into(),
                extensions: vec![("1.3.6.1.4.1.57264.1.14".into(), "refs/heads/evil".into())],
            },
            Err("sigstore.identity"),
        ),
    ];
    for (p, want) in cases {
        assert_eq!(outcome(&v, &root, &p), want, "{p:?}");
    }
}
