//! The JSON Schemas in `format-spec/schemas/` describe what the code reads and writes: gate
//! results (allow, deny, break-glass), policies, break-glass payloads, checked with python
//! `jsonschema` (draft 2020-12). Documents the code refuses are refused by the schema too.

mod evidence_support;

use airlock::digest::Sha256Digest;
use airlock::gate::breakglass::{self, Approval, Request};
use airlock::gate::policy::Policy;
use airlock::gate::transparency::{CasRef, GateTransparency};
use airlock::gate::{GateParams, Roles, evaluate};
use airlock::time::Timestamp;
use airlock::trust::role::{RoleKeys, RoleName};
use evidence_support::*;
use std::process::Command;

const CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
root = sys.argv[1]
names = ["gate-input-v1", "gate-result-v1", "gate-policy-v1", "break-glass-v1"]
schemas = {n: json.load(open(f"{root}/{n}.schema.json")) for n in names}
reg = Registry().with_resources([(f"{n}.schema.json", Resource.from_contents(s)) for n, s in schemas.items()]
                                + [(s["$id"], Resource.from_contents(s)) for s in schemas.values()])
cases = json.load(open(sys.argv[2]))
bad = []
for schema, doc, want in cases:
    Draft202012Validator.check_schema(schemas[schema])
    ok = Draft202012Validator(schemas[schema], registry=reg).is_valid(doc)
    if ok != want:
        bad.append((schema, want, [e.message for e in Draft202012Validator(schemas[schema], registry=reg).iter_errors(doc)][:3]))
print(json.dumps(bad))
sys.exit(1 if bad else 0)
"#;

#[test]
fn outputs_and_inputs_match_the_published_schemas() {
    if !python_module("jsonschema") {
        return;
    }
    let k = keys();
    let bytes = zip_bundle(&standard_files(&k, &Spec::default()), &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy_bytes = policy_json(serde_json::json!({}));
    let policy = Policy::parse(&policy_bytes).unwrap();
    let mut roles = Roles::default();
    roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    roles.add_ed25519(RoleName::parse("builder").unwrap(), [k.builder.public().clone()]);
    roles.add_ed25519(RoleName::parse("attestor").unwrap(), [k.attestor.public().clone()]);
    let verified_t = GateTransparency::Verified {
        rekor_uuid: "24296fb24b8ad77a".into(),
        log_index: 7,
        proof_ref: CasRef(Sha256Digest::of(TLOG_PROOF)),
        checkpoint_time: Some(Timestamp(NOW.0 - 10)),
    };
    let ctx = GateParams { roles, transparency: verified_t, artifact: None, break_glass: None, sigstore_root: None };
    let allow = evaluate(&v, &bytes, &policy, &ctx).unwrap();
    let approval = Approval {
        schema: breakglass::SCHEMA.into(),
        bundle_id: v.get().manifest().bundle_id.clone(),
        reason: "INC-1".into(),
        issued_at: Timestamp(NOW.0 - 1),
        expires_at: Timestamp(NOW.0 + 60),
        overrides: vec!["transparency".into()],
    };
    let bg = Request { reason: "INC-1".into(), approval: breakglass::sign(&approval, &[&k.approver_a]) };
    let ctx = GateParams {
        transparency: GateTransparency::Missing,
        break_glass: Some((bg, RoleKeys::ed25519([k.approver_a.public().clone()], 1))),
        ..ctx
    };
    let glass = evaluate(&v, &bytes, &policy, &ctx).unwrap();
    assert!(glass.decision.break_glass.is_some());
    let deny = evaluate(&v, &bytes, &policy, &GateParams { break_glass: None, ..ctx }).unwrap();
    let j = |b: Vec<u8>| -> serde_json::Value { serde_json::from_slice(&b).unwrap() };
    let policy_v: serde_json::Value = serde_json::from_slice(&policy_bytes).unwrap();
    let mut misspelt = policy_v.clone();
    misspelt["requiredEvidnce"] = serde_json::json!([]);
    assert!(Policy::parse(&serde_json::to_vec(&misspelt).unwrap()).is_err());
    let mut bad_bg = serde_json::to_value(&approval).unwrap();
    bad_bg["overrides"] = serde_json::json!(["transparency", "vex"]);
    let cases = serde_json::json!([
        ["gate-result-v1", j(allow.to_bytes()), true],
        ["gate-result-v1", j(glass.to_bytes()), true],
        ["gate-result-v1", j(deny.to_bytes()), true],
        ["gate-input-v1", j(allow.gate_input.to_bytes()), true],
        ["gate-policy-v1", policy_v, true],
        ["gate-policy-v1", serde_json::json!({"schema": "airlock/gate-policy/v1"}), true],
        ["gate-policy-v1", misspelt, false],
        ["break-glass-v1", serde_json::to_value(&approval).unwrap(), true],
        ["break-glass-v1", bad_bg, false],
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/format-spec/schemas");
    let o = Command::new("python3").args(["-c", CHECK, root]).arg(&cases_path).output().unwrap();
    assert!(o.status.success(), "schema disagreements: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}
