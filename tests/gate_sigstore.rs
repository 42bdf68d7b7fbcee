//! The gate with provenance packed as a Sigstore bundle (`provenance/*.sigstore.json`,
//! gate-v1 §4.3): allowed when the bundle verifies against the Sigstore trusted root under the
//! policy's keyless identity and its subject is the gated artifact; denied otherwise.

mod evidence_support;

use airlock::gate::policy::Policy;
use airlock::gate::transparency::GateTransparency;
use airlock::gate::{GateParams, GateResult, Roles, Verdict, evaluate};
use airlock::sigstore::TrustedRoot;
use evidence_support::*;
use std::path::Path;
use std::sync::Arc;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data(p: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-conformance").join(p)).unwrap()
}

fn gate(sigstore: serde_json::Value, with_root: bool) -> GateResult {
    let k = keys();
    let files = vec![
        ("artifacts/a.txt".to_string(), data("test/assets/a.txt")),
        ("provenance/a.txt.sigstore.json".to_string(), data("test/assets/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json")),
    ];
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy = Policy::parse(
        serde_json::to_vec(&serde_json::json!({
            "schema": "airlock/gate-policy/v1",
            "artifact": "artifacts/a.txt",
            "requiredEvidence": ["provenance"],
            "signers": {"provenance": {"role": "builder", "threshold": 1, "sigstore": sigstore}},
            "transparency": {"required": false},
        }))
        .unwrap()
        .as_slice(),
    )
    .expect("policy");
    let mut roles = Roles::default();
    roles.add_ed25519(airlock::trust::role::RoleName::RELEASE, [k.release.public().clone()]);
    let root = with_root.then(|| Arc::new(TrustedRoot::parse(&data("trusted-root/production-trusted_root.json")).unwrap()));
    let params = GateParams { roles, transparency: GateTransparency::Missing, artifact: None, break_glass: None, sigstore_root: root };
    evaluate(&v, &bytes, &policy, &params).expect("evaluates")
}

fn failed(r: &GateResult) -> Vec<String> {
    r.checks.iter().filter(|c| c.status == airlock::report::Status::Fail).map(|c| c.id.to_string()).collect()
}

#[test]
fn sigstore_provenance_meeting_the_identity_is_allowed() {
    let r = gate(serde_json::json!({"identity": IDENTITY, "issuer": ISSUER}), true);
    assert_eq!(r.decision.decision, Verdict::Allow, "{:#?}", r.checks);
    assert!(r.checks.iter().any(|c| c.id == "sigstore.identity" && c.subject.as_deref() == Some("provenance/a.txt.sigstore.json")));
    let regexp = gate(serde_json::json!({"identityRegexp": "^https://github.com/sigstore-conformance/", "issuer": ISSUER}), true);
    assert_eq!(regexp.decision.decision, Verdict::Allow, "{:#?}", regexp.checks);
}

#[test]
fn sigstore_provenance_from_another_identity_is_denied() {
    let r = gate(
        serde_json::json!({"identity": "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main", "issuer": ISSUER}),
        true,
    );
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(failed(&r).contains(&"sigstore.identity".to_string()), "{:?}", failed(&r));
    let r = gate(serde_json::json!({"identity": IDENTITY, "issuer": "https://accounts.google.com"}), true);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(failed(&r).contains(&"sigstore.issuer".to_string()), "{:?}", failed(&r));
}

#[test]
fn sigstore_provenance_without_a_trusted_root_is_denied() {
    let r = gate(serde_json::json!({"identity": IDENTITY, "issuer": ISSUER}), false);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(failed(&r).contains(&"sigstore.trusted-root".to_string()), "{:?}", failed(&r));
}

#[test]
fn a_policy_sigstore_rule_needs_exactly_one_identity_form() {
    for bad in [serde_json::json!({"issuer": ISSUER}), serde_json::json!({"identity": "a", "identityRegexp": "b", "issuer": ISSUER})] {
        let doc = serde_json::json!({"schema": "airlock/gate-policy/v1", "signers": {"provenance": {"role": "builder", "threshold": 1, "sigstore": bad}}});
        assert!(Policy::parse(&serde_json::to_vec(&doc).unwrap()).is_err(), "{doc}");
    }
}
