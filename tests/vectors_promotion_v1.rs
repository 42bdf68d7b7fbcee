//! Walks `vectors/promotion-v1/`: every case answers what its `expected` says, every file is the
//! generated one, no unknown file sits in the folder, and every signed payload in a case
//! validates against its JSON Schema.

mod schema_support;

use airlock::conformance::promotion::{Case, promotion_v1_vectors};
use base64::Engine;
use schema_support::{python_has, validate};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/promotion-v1")
}

fn cases() -> Vec<(String, Case)> {
    let want = promotion_v1_vectors();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "README.md" {
            continue;
        }
        let bytes = std::fs::read(dir().join(&name)).unwrap();
        let generated = want.get(&name).unwrap_or_else(|| panic!("unknown file {name} in vectors/promotion-v1"));
        assert!(bytes == *generated, "{name} is stale; run `cargo xtask vectors`");
        out.push((name, serde_json::from_slice(&bytes).unwrap()));
    }
    assert_eq!(out.len(), want.len(), "generated files missing from vectors/promotion-v1");
    out
}

#[test]
fn every_promotion_vector_answers_as_expected_and_is_current() {
    let cases = cases();
    for (name, case) in &cases {
        assert_eq!(case.answer(), case.expected, "{name}: {}", case.description);
    }
    let results: Vec<&str> = cases.iter().map(|(_, c)| c.expected.result.as_str()).collect();
    for r in ["executed", "refused", "malformed"] {
        assert!(results.contains(&r), "no {r} case");
    }
    // One refused case per rule the issue names.
    let failed: Vec<&str> = cases.iter().flat_map(|(_, c)| c.expected.failed.iter().map(String::as_str)).collect();
    for rule in [
        "promotion.soak",
        "promotion.ring-order",
        "promotion.approval-expiry",
        "promotion.approval-request",
        "promotion.bundle",
        "promotion.approval-distinct",
        "promotion.signer",
        "promotion.signature",
        "promotion.approval-deny",
        "promotion.replay",
        "promotion.hold",
        "promotion.clock",
        "promotion.rollout-status",
        "promotion.rollback-execution",
    ] {
        assert!(failed.contains(&rule), "no vector is refused by {rule}");
    }
}

#[test]
fn every_payload_in_the_vectors_validates_against_its_schema() {
    if !python_has("jsonschema") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut by_schema: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    let mut n = 0;
    let mut put = |schema: &'static str, bytes: Vec<u8>| {
        n += 1;
        let p = scratch.path().join(format!("{n}.json"));
        std::fs::write(&p, bytes).unwrap();
        by_schema.entry(schema).or_default().push(p);
    };
    for (_, case) in cases() {
        let mut envelopes = vec![&case.rollout, &case.request];
        envelopes.extend(&case.approvals);
        for env in envelopes {
            let schema = match env["payloadType"].as_str().unwrap() {
                "application/vnd.airlock.rollout-record.v1+json" => "rollout-record-v1.schema.json",
                "application/vnd.airlock.promotion-request.v1+json" => "promotion-request-v1.schema.json",
                "application/vnd.airlock.promotion-approval.v1+json" => "promotion-approval-v1.schema.json",
                other => panic!("unexpected payloadType {other}"),
            };
            let payload = base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
            // The malformed and altered cases carry payloads no schema-valid document has.
            if case.expected.result == "malformed" || case.expected.failed.iter().any(|f| f == "promotion.signature") {
                continue;
            }
            put(schema, payload);
            put("dsse-envelope.schema.json", serde_json::to_vec(env).unwrap());
        }
        for e in case.history.executions.iter().chain(&case.expected.execution) {
            put("promotion-execution-v1.schema.json", serde_json::to_vec(e).unwrap());
        }
    }
    assert_eq!(by_schema.len(), 5, "every promotion schema exercised: {:?}", by_schema.keys());
    for (schema, docs) in &by_schema {
        validate(schema, docs);
    }
}
