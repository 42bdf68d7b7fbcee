//! in-toto interop: DSSE envelopes and statements signed by python `securesystemslib`, a layout
//! and a link made by python `in-toto` (`use_dsse=True`), read by our parsers and carried through
//! the gate to the `inToto` section.

mod evidence_support;

use airlock::digest::Sha256Digest;
use airlock::evidence::intoto::{self, Document};
use airlock::evidence::{ArtifactRef, Artifacts};
use airlock::gate::policy::Policy;
use airlock::gate::transparency::GateTransparency;
use airlock::gate::{GateParams, Roles, Verdict, evaluate};
use airlock::trust::role::{RoleKeys, RoleName};
use evidence_support::*;
use std::process::Command;

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

const SCRIPT: &str = r#"
import json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from securesystemslib.dsse import Envelope as SslibEnvelope
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Envelope
from in_toto import runlib

def signer(seed):
    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))

builder, owner, func = signer(2), signer(11), signer(12)
app = open("app-linux-amd64", "rb").read()
import hashlib
statement = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "app-linux-amd64", "digest": {"sha256": hashlib.sha256(app).hexdigest()}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": json.loads(sys.argv[1]),
}
env = SslibEnvelope(payload=json.dumps(statement, indent=2).encode(), payload_type="application/vnd.in-toto+json", signatures={})
env.sign(builder)
open("provenance.json", "w").write(json.dumps(env.to_dict()))

layout = Layout()
layout.set_relative_expiration(days=3650)
kid = func.public_key.keyid
layout.keys = {kid: dict(func.public_key.to_dict(), keyid=kid)}
step = Step(name="build")
step.pubkeys = [kid]
step.threshold = 1
step.expected_command = ["true"]
layout.steps = [step]
lenv = Envelope.from_signable(layout)
lenv.create_signature(owner)
open("layout.json", "w").write(json.dumps(lenv.to_dict()))
link = runlib.in_toto_run("build", [], ["app-linux-amd64"], ["true"], use_dsse=True, signer=func)
open("build.link", "w").write(json.dumps(link.to_dict()))
open("keyids.json", "w").write(json.dumps({"builder": builder.public_key.keyid, "owner": owner.public_key.keyid, "func": kid}))
"#;

struct Made {
    provenance: Vec<u8>,
    layout: Vec<u8>,
    link: Vec<u8>,
    keyids: serde_json::Value,
}

fn make() -> Option<Made> {
    if !python_module("securesystemslib") || !python_module("in_toto") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app-linux-amd64"), APP_BYTES).unwrap();
    let pred = serde_json::to_string(&slsa_predicate(BUILDER_ID, "refs/tags/v1.2.0")).unwrap();
    let o = Command::new("python3").args(["-c", SCRIPT, &pred]).current_dir(dir.path()).output().unwrap();
    assert!(o.status.success(), "python fixture failed: {}", String::from_utf8_lossy(&o.stderr));
    let r = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    Some(Made {
        provenance: r("provenance.json"),
        layout: r("layout.json"),
        link: r("build.link"),
        keyids: serde_json::from_slice(&r("keyids.json")).unwrap(),
    })
}

#[test]
fn securesystemslib_envelopes_and_keyids_agree() {
    let Some(m) = make() else { return };
    // securesystemslib computes the same key ids as airlock.
    assert_eq!(m.keyids["builder"], key(2).public().keyid().hex());
    assert_eq!(m.keyids["owner"], key(11).public().keyid().hex());
    let opened = intoto::read(&m.provenance).unwrap().verify(&RoleKeys::ed25519([key(2).public().clone()], 1)).unwrap();
    assert!(opened.signatures().meets_threshold());
    let Document::Statement(st) = opened.payload() else { panic!("a statement") };
    let arts = Artifacts(vec![ArtifactRef { path: APP.into(), digest: Sha256Digest::of(APP_BYTES) }]);
    assert_eq!(intoto::bind(st, &arts).unwrap().len(), 1);
    // A bundle without that artifact: the subject matches nothing.
    let other = Artifacts(vec![ArtifactRef { path: APP.into(), digest: Sha256Digest::of(b"x") }]);
    assert_eq!(intoto::bind(st, &other).unwrap_err().code(), "attestation.subject-unbound");
    // Another key does not count.
    let refused = intoto::read(&m.provenance).unwrap().verify(&RoleKeys::ed25519([key(3).public().clone()], 1)).unwrap_err();
    assert!(!refused.0.meets_threshold());
    // The python layout and link parse as such.
    let layout = intoto::read(&m.layout).unwrap().verify(&RoleKeys::ed25519([key(11).public().clone()], 1)).unwrap();
    assert!(matches!(layout.payload(), Document::Layout(_)));
    assert!(matches!(intoto::read(&m.link).unwrap().unverified_payload(), Document::Link(_)));
}

#[test]
fn python_in_toto_layout_and_link_reach_the_gate() {
    let Some(m) = make() else { return };
    let k = keys();
    let mut files = standard_files(&k, &Spec::default());
    files.retain(|(p, _)| !p.starts_with("provenance/"));
    files.push(("provenance/app.intoto.json".into(), m.provenance.clone()));
    files.push(("attestations/root.layout.json".into(), m.layout.clone()));
    files.push(("attestations/build.link.json".into(), m.link.clone()));
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy = Policy::parse(&policy_json(serde_json::json!({
        "requiredEvidence": ["sbom", "provenance", "attestation", "vex", "in-toto"],
        "transparency": {"required": false}
    })))
    .unwrap();
    let mut roles = Roles::default();
    roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    roles.add_ed25519(role("builder"), [k.builder.public().clone()]);
    roles.add_ed25519(role("attestor"), [k.attestor.public().clone()]);
    roles.add_ed25519(role("layout-owner"), [key(11).public().clone()]);
    let ctx = GateParams {
        roles: roles.clone(),
        transparency: GateTransparency::Missing,
        artifact: None,
        break_glass: None,
        sigstore_root: None,
    };
    let r = evaluate(&v, &bytes, &policy, &ctx).unwrap();
    assert_eq!(r.decision.decision, Verdict::Allow, "{:#?}", r.checks);
    let it = r.gate_input.in_toto.as_ref().unwrap();
    assert_eq!(it.layout_digest, Sha256Digest::of(&m.layout));
    assert_eq!(it.link_digests, vec![Sha256Digest::of(&m.link)]);

    // A layout signed by someone who is not the layout owner: no layout, links unanchored.
    roles.insert(role("layout-owner"), RoleKeys::ed25519([key(42).public().clone()], 1));
    let ctx = GateParams { roles, ..ctx };
    let r = evaluate(&v, &bytes, &policy, &ctx).unwrap();
    let codes: Vec<&str> = r.decision.reasons.iter().map(|x| x.code.as_ref()).collect();
    assert_eq!(codes, ["evidence.missing", "intoto.no-layout", "signer.threshold"], "{codes:?}");
}
