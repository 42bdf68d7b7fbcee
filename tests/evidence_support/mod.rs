//! Shared by the evidence_* and gate_* tests: bundles built in memory through the library
//! (`pack::plan` + `archive::write::write_zip`), evidence documents written to their official
//! shapes, and the interop-tool rule (missing tool: loud SKIP, or failure under
//! `AIRLOCK_REQUIRE_INTEROP=1`).
#![allow(dead_code)]

use airlock::archive::write::write_zip;
use airlock::bundle::Kind;
use airlock::bundle::manifest::{Member, Release};
use airlock::digest::Sha256Digest;
use airlock::dsse::Envelope;
use airlock::keys::SecretKey;
use airlock::time::Timestamp;
use airlock::verify::{self, TrustPolicy, Verification, Verified, VerifiedBundle};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::process::Command;

/// A fixed creation time: bundles are byte-identical across runs.
pub const CREATED: Timestamp = Timestamp(1_790_000_000);
/// Evaluation time used by gate tests (after CREATED).
pub const NOW: Timestamp = Timestamp(1_790_100_000);

pub const APP: &str = "artifacts/app-linux-amd64";
pub const APP_BYTES: &[u8] = b"\x7fELF pretend binary for app 1.2.0\n";
pub const BUILDER_ID: &str =
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0";
pub const BUILDER_PIN: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml";
pub const BUILD_TYPE: &str = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1";

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// True when the tool can be used; otherwise SKIP loudly, or panic under AIRLOCK_REQUIRE_INTEROP=1.
pub fn have_tool(what: &str, probe: &mut Command) -> bool {
    let ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var("AIRLOCK_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("interop tool {what} is missing and AIRLOCK_REQUIRE_INTEROP=1; run `cargo xtask setup`");
        }
        eprintln!("SKIP: interop tool {what} is not installed (run `cargo xtask setup`); this test checked nothing");
    }
    ok
}

pub fn python_module(m: &str) -> bool {
    have_tool(&format!("python3 module {m}"), Command::new("python3").args(["-c", &format!("import {m}")]))
}

/// A signed zip bundle, in memory, from (path, bytes) pairs.
pub fn zip_bundle(files: &[(String, Vec<u8>)], signers: &[&SecretKey]) -> Vec<u8> {
    let members: Vec<Member> = files
        .iter()
        .map(|(p, b)| Member {
            path: p.clone(),
            size: b.len() as u64,
            digest: Sha256Digest::of(b),
            kind: Kind::of_path(p).expect("kind dir"),
        })
        .collect();
    let release = Release { product: "app".into(), version: "1.2.0".into(), commit: Some("0123456789abcdef".into()), channel: None };
    let plan = airlock::pack::plan(release, CREATED, members, signers, Vec::new()).expect("plan");
    let by_name: BTreeMap<&str, &[u8]> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
        let b = plan.control_bytes(name).or_else(|| by_name.get(name).copied()).expect("planned member").to_vec();
        Ok(Box::new(Cursor::new(b)))
    };
    write_zip(Cursor::new(Vec::new()), &plan.members, CREATED, &mut open).expect("zip").into_inner()
}

pub fn verified(bytes: &[u8], trusted: &[&SecretKey]) -> Box<Verified<VerifiedBundle>> {
    let trust = TrustPolicy::ed25519(trusted.iter().map(|k| k.public().clone()), 1, "test");
    let opts = verify::Options {
        time: airlock::trust::state::EvalTime::OperatorFixed { at: NOW, floor: airlock::time::Timestamp(0) },
        ..Default::default()
    };
    match verify::verify(&airlock::evidence::minisign::Bytes(bytes), &trust, &opts, &|_| {}).expect("verifiable") {
        Verification::Passed(v, _) => v,
        Verification::Failed(r) => panic!("bundle did not verify: {:?}", r.checks()),
    }
}

pub fn hex(b: &[u8]) -> String {
    Sha256Digest::of(b).hex()
}

/// An in-toto Statement v1 (bytes).
pub fn statement(subjects: &[(&str, String)], predicate_type: &str, predicate: serde_json::Value) -> Vec<u8> {
    let subject: Vec<serde_json::Value> = subjects.iter().map(|(n, d)| serde_json::json!({"name": n, "digest": {"sha256": d}})).collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .unwrap()
}

pub fn slsa_predicate(builder_id: &str, git_ref: &str) -> serde_json::Value {
    serde_json::json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"workflow": {"ref": git_ref, "repository": "https://github.com/acme/app", "path": ".github/workflows/release.yml"}},
            "internalParameters": {"github": {"event_name": "push"}},
            "resolvedDependencies": [{"uri": format!("git+https://github.com/acme/app@{git_ref}"), "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}]
        },
        "runDetails": {"builder": {"id": builder_id}, "metadata": {"invocationId": "https://github.com/acme/app/actions/runs/1/attempts/1"}}
    })
}

/// A DSSE envelope with an in-toto payload.
pub fn dsse(payload: &[u8], signers: &[&SecretKey]) -> Vec<u8> {
    Envelope::sign("application/vnd.in-toto+json", payload, signers).to_bytes()
}

/// CycloneDX 1.6 SBOM listing one component with a SHA-256.
pub fn cyclonedx(name: &str, sha256: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {"timestamp": "2026-09-21T00:00:00Z", "component": {"type": "application", "name": "app", "version": "1.2.0", "bom-ref": "pkg:generic/app@1.2.0"}},
        "components": [{"type": "file", "name": name, "bom-ref": "app-bin", "purl": "pkg:generic/app-linux-amd64@1.2.0", "hashes": [{"alg": "SHA-256", "content": sha256}]}]
    }))
    .unwrap()
}

/// SPDX 2.3 JSON listing one file with a SHA-256 (and the SHA1 the spec requires).
pub fn spdx23(file_name: &str, sha256: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "app-1.2.0",
        "documentNamespace": "https://example.com/spdxdocs/app-1.2.0-2f6a3c1e",
        "creationInfo": {"created": "2026-09-21T00:00:00Z", "creators": ["Tool: hand-written"]},
        "packages": [{"SPDXID": "SPDXRef-Package-app", "name": "app", "versionInfo": "1.2.0", "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
                      "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:generic/app@1.2.0"}]}],
        "files": [{"SPDXID": "SPDXRef-File-app", "fileName": format!("./bin/{file_name}"),
                   "checksums": [{"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}, {"algorithm": "SHA256", "checksumValue": sha256}]}],
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Package-app"}]
    }))
    .unwrap()
}

/// SPDX 3.0.1 JSON-LD listing one file with a SHA-256.
pub fn spdx3(file_name: &str, sha256: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
        "@graph": [
            {"type": "CreationInfo", "@id": "_:creationinfo", "specVersion": "3.0.1", "created": "2026-09-21T00:00:00Z", "createdBy": ["https://example.com/agent/release-bot"]},
            {"type": "Tool", "spdxId": "https://example.com/agent/release-bot", "creationInfo": "_:creationinfo", "name": "release-bot"},
            {"type": "SpdxDocument", "spdxId": "https://example.com/spdx/app-1.2.0", "creationInfo": "_:creationinfo", "rootElement": ["https://example.com/spdx/app-1.2.0/sbom"]},
            {"type": "software_Sbom", "spdxId": "https://example.com/spdx/app-1.2.0/sbom", "creationInfo": "_:creationinfo", "rootElement": ["https://example.com/spdx/app-1.2.0/file"]},
            {"type": "software_File", "spdxId": "https://example.com/spdx/app-1.2.0/file", "creationInfo": "_:creationinfo", "name": file_name,
             "verifiedUsing": [{"type": "Hash", "algorithm": "sha256", "hashValue": sha256}]}
        ]
    }))
    .unwrap()
}

/// OpenVEX v0.2.0 with one statement about the product with this SHA-256.
pub fn openvex(vuln: &str, status: &str, sha256: &str) -> Vec<u8> {
    let mut st = serde_json::json!({
        "vulnerability": {"name": vuln},
        "products": [{"@id": "pkg:generic/app-linux-amd64@1.2.0", "hashes": {"sha-256": sha256}}],
        "status": status
    });
    match status {
        "not_affected" => st["justification"] = "vulnerable_code_not_in_execute_path".into(),
        "affected" => st["action_statement"] = "Upgrade to 1.2.1".into(),
        _ => {}
    }
    serde_json::to_vec_pretty(&serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/app-1.2.0",
        "author": "ACME security",
        "timestamp": "2026-09-21T00:00:00Z",
        "version": 1,
        "statements": [st]
    }))
    .unwrap()
}

/// Role keys used across gate tests.
pub struct Keys {
    pub release: SecretKey,
    pub builder: SecretKey,
    pub attestor: SecretKey,
    pub approver_a: SecretKey,
    pub approver_b: SecretKey,
}

pub fn keys() -> Keys {
    Keys { release: key(1), builder: key(2), attestor: key(3), approver_a: key(4), approver_b: key(5) }
}

/// Knobs for the standard evidence bundle.
pub struct Spec {
    pub provenance_subject: String,
    pub builder_id: String,
    pub sbom_digest: String,
    pub vex_status: &'static str,
    pub with_tlog: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            provenance_subject: hex(APP_BYTES),
            builder_id: BUILDER_ID.into(),
            sbom_digest: hex(APP_BYTES),
            vex_status: "not_affected",
            with_tlog: true,
        }
    }
}

pub const TLOG_PROOF: &[u8] = b"{\"logIndex\":42,\"note\":\"proof material for the proof cache\"}\n";

/// The standard evidence bundle: artifact, CycloneDX + SPDX SBOMs, SLSA provenance, a test
/// attestation, OpenVEX, tlog proof material.
pub fn standard_files(k: &Keys, s: &Spec) -> Vec<(String, Vec<u8>)> {
    let app = hex(APP_BYTES);
    let prov = statement(
        &[("app-linux-amd64", s.provenance_subject.clone())],
        "https://slsa.dev/provenance/v1",
        slsa_predicate(&s.builder_id, "refs/tags/v1.2.0"),
    );
    let test = statement(
        &[("app-linux-amd64", app.clone())],
        "https://in-toto.io/attestation/test-result/v0.1",
        serde_json::json!({"result": "PASSED", "configuration": [], "passedTests": ["unit"]}),
    );
    let mut files = vec![
        (APP.to_string(), APP_BYTES.to_vec()),
        ("artifacts/README.txt".to_string(), b"read me\n".to_vec()),
        ("sbom/app.cdx.json".to_string(), cyclonedx("app-linux-amd64", &s.sbom_digest)),
        ("provenance/app.intoto.json".to_string(), dsse(&prov, &[&k.builder])),
        ("attestations/test-result.intoto.json".to_string(), dsse(&test, &[&k.attestor])),
        ("vex/app.openvex.json".to_string(), openvex("CVE-2026-1111", s.vex_status, &app)),
        ("release/notes.md".to_string(), b"# app 1.2.0\n".to_vec()),
    ];
    if s.with_tlog {
        files.push(("tlog/app.proof.json".to_string(), TLOG_PROOF.to_vec()));
    }
    files
}

pub fn policy_json(extra: serde_json::Value) -> Vec<u8> {
    let mut p = serde_json::json!({
        "schema": "airlock/gate-policy/v1",
        "artifact": APP,
        "requiredEvidence": ["sbom", "provenance", "attestation", "vex"],
        "signers": {"manifest": {"role": "release", "threshold": 1}, "provenance": {"role": "builder", "threshold": 1}, "attestation": {"role": "attestor", "threshold": 1}},
        "slsa": {"builderId": BUILDER_PIN, "buildType": BUILD_TYPE, "sourceUri": "https://github.com/acme/app", "sourceRef": "refs/tags/v1.2.0", "allowedExternalParameters": ["workflow"]},
        "vex": {"maxStatus": "under_investigation"},
        "transparency": {"required": true, "maxProofAgeSeconds": 86400}
    });
    if let (Some(o), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec_pretty(&p).unwrap()
}
