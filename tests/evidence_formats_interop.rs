//! Evidence in the formats users already have (issue 18), made by the real python tools:
//! Statement v0.1 with SLSA provenance v0.2 (what slsa-github-generator v1.x writes), signed by
//! an ECDSA P-256 key, and an `.intoto.jsonl` member with several envelopes (`securesystemslib`),
//! carried through the gate with the P-256 key as the builder role's key; CycloneDX 1.4 and 1.5
//! JSON and XML (`cyclonedx-python-lib`) and SPDX tag-value (`spdx-tools`) SBOMs.

mod evidence_support;

use airlock::evidence::sbom::Sbom;
use airlock::gate::policy::{LoadedPolicy, Policy};
use airlock::gate::transparency::GateTransparency;
use airlock::gate::{GateParams, Roles, Verdict, evaluate};
use airlock::report::Status;
use airlock::trust::key::{ListedKey, P256Key, TrustKey};
use airlock::trust::role::{RoleKeys, RoleName};
use evidence_support::*;
use std::process::Command;

const SCRIPT: &str = r#"
import hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from securesystemslib.dsse import Envelope

builder = CryptoSigner.generate_ecdsa()
attestor = CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes([3]) * 32))
app = hashlib.sha256(open("app-linux-amd64", "rb").read()).hexdigest()
subject = [{"name": "app-linux-amd64", "digest": {"sha256": app}}]

def envelope(statement, signer):
    env = Envelope(payload=json.dumps(statement).encode(), payload_type="application/vnd.in-toto+json", signatures={})
    env.sign(signer)
    return json.dumps(env.to_dict())

prov = {"_type": "https://in-toto.io/Statement/v0.1", "subject": subject,
        "predicateType": "https://slsa.dev/provenance/v0.2", "predicate": json.loads(sys.argv[1])}
open("provenance.jsonl", "w").write(envelope(prov, builder) + "\n")
test = {"_type": "https://in-toto.io/Statement/v0.1", "subject": subject,
        "predicateType": "https://in-toto.io/attestation/test-result/v0.1", "predicate": {"result": "PASSED"}}
scan = {"_type": "https://in-toto.io/Statement/v1", "subject": subject,
        "predicateType": "https://in-toto.io/attestation/vulns/v0.1", "predicate": {}}
open("attestations.jsonl", "w").write(envelope(test, attestor) + "\n" + envelope(scan, attestor) + "\n")
open("builder.json", "w").write(json.dumps({"keyid": builder.public_key.keyid, "key": builder.public_key.to_dict()}))
"#;

/// The predicate slsa-github-generator v1.x's generic workflow writes.
fn slsa_v02() -> serde_json::Value {
    serde_json::json!({
        "builder": {"id": BUILDER_ID},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
        "invocation": {
            "configSource": {"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}, "entryPoint": ".github/workflows/release.yml"},
            "parameters": {},
            "environment": {"github_event_name": "push"}
        },
        "metadata": {"buildInvocationId": "1-1", "completeness": {"parameters": true, "environment": false, "materials": false}, "reproducible": false},
        "materials": [{"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}]
    })
}

struct Made {
    provenance: Vec<u8>,
    attestations: Vec<u8>,
    builder_keyid: String,
    builder: TrustKey,
}

fn make() -> Option<Made> {
    if !python_module("securesystemslib") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app-linux-amd64"), APP_BYTES).unwrap();
    let o = Command::new("python3").args(["-c", SCRIPT, &slsa_v02().to_string()]).current_dir(dir.path()).output().unwrap();
    assert!(o.status.success(), "python fixture failed: {}", String::from_utf8_lossy(&o.stderr));
    let r = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&r("builder.json")).unwrap();
    let pem = b["key"]["keyval"]["public"].as_str().unwrap();
    Some(Made {
        provenance: r("provenance.jsonl"),
        attestations: r("attestations.jsonl"),
        builder_keyid: b["keyid"].as_str().unwrap().to_string(),
        builder: TrustKey::P256(P256Key::from_pem(pem).unwrap()),
    })
}

fn policy() -> LoadedPolicy {
    Policy::parse(&policy_json(serde_json::json!({
        "requiredEvidence": ["provenance", "attestation"],
        "slsa": {"builderId": BUILDER_PIN, "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
                 "sourceUri": "https://github.com/acme/app", "sourceRef": "refs/tags/v1.2.0"},
        "transparency": {"required": false}
    })))
    .unwrap()
}

fn params(builder: RoleKeys) -> GateParams {
    let k = keys();
    let mut roles = Roles::default();
    roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    roles.add_ed25519(RoleName::parse("attestor").unwrap(), [k.attestor.public().clone()]);
    roles.insert(RoleName::parse("builder").unwrap(), builder);
    GateParams { roles, transparency: GateTransparency::Missing, artifact: None, break_glass: None, sigstore_root: None }
}

#[test]
fn v01_statements_slsa_v02_p256_signatures_and_jsonl_reach_the_gate() {
    let Some(m) = make() else { return };
    // securesystemslib and airlock give the P-256 key the same id.
    assert_eq!(m.builder.keyid().hex(), m.builder_keyid);
    let k = keys();
    let files = vec![
        (APP.to_string(), APP_BYTES.to_vec()),
        ("provenance/app.intoto.jsonl".to_string(), m.provenance.clone()),
        ("attestations/app.intoto.jsonl".to_string(), m.attestations.clone()),
    ];
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let p256 = RoleKeys::new(vec![ListedKey { keyid: m.builder_keyid.clone(), key: m.builder.clone() }], 1);
    let r = evaluate(&v, &bytes, &policy(), &params(p256)).unwrap();
    assert_eq!(r.decision.decision, Verdict::Allow, "{:#?}", r.checks);
    let passed =
        |id: &str, subject: &str| r.checks.iter().any(|c| c.id == id && c.subject.as_deref() == Some(subject) && c.status == Status::Pass);
    assert!(passed("slsa.pins", "provenance/app.intoto.jsonl"), "{:#?}", r.checks);
    assert!(passed("signer.threshold", "provenance/app.intoto.jsonl"));
    // Each envelope of the JSON Lines member is its own document, named by its line.
    assert!(passed("attestation.subjects", "attestations/app.intoto.jsonl#1"));
    assert!(passed("attestation.subjects", "attestations/app.intoto.jsonl#2"));
    let types: Vec<&str> = r.gate_input.attestations.iter().map(|a| a.predicate_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "https://in-toto.io/attestation/test-result/v0.1",
            "https://in-toto.io/attestation/vulns/v0.1",
            "https://slsa.dev/provenance/v0.2"
        ]
    );
    let builder_entry = r.gate_input.attestations.iter().find(|a| a.predicate_type.ends_with("v0.2")).unwrap();
    assert_eq!(builder_entry.signer_key_id, m.builder_keyid);

    // The builder role holding only an Ed25519 key: nothing counts, and the check says why in
    // key types.
    let r = evaluate(&v, &bytes, &policy(), &params(RoleKeys::ed25519([k.builder.public().clone()], 1))).unwrap();
    assert_eq!(r.decision.decision, Verdict::Deny);
    let t = r.checks.iter().find(|c| c.id == "signer.threshold" && c.subject.as_deref() == Some("provenance/app.intoto.jsonl")).unwrap();
    assert_eq!(t.status, Status::Fail);
    assert!(t.detail.contains("the role holds 1 Ed25519 key, the envelope carries an ECDSA (DER) signature"), "{}", t.detail);
}

const SBOM_SCRIPT: &str = r#"
import hashlib
from datetime import datetime
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model import HashType, HashAlgorithm
from cyclonedx.output.json import JsonV1Dot4, JsonV1Dot5
from cyclonedx.output.xml import XmlV1Dot4, XmlV1Dot5
from packageurl import PackageURL
from spdx_tools.spdx.model import Relationship, RelationshipType, Document, CreationInfo, Actor, ActorType, File, Package, Checksum, ChecksumAlgorithm, ExternalPackageRef, ExternalPackageRefCategory
from spdx_tools.spdx.writer.tagvalue.tagvalue_writer import write_document_to_file

data = open("app-linux-amd64", "rb").read()
sha = hashlib.sha256(data).hexdigest()
bom = Bom()
app = Component(name="app-linux-amd64", type=ComponentType.APPLICATION, bom_ref="app", purl=PackageURL.from_string("pkg:generic/app@1.2.0"),
    hashes=[HashType(alg=HashAlgorithm.SHA_1, content=hashlib.sha1(data).hexdigest()), HashType(alg=HashAlgorithm.SHA_256, content=sha)])
app.components.add(Component(name="libfoo", type=ComponentType.LIBRARY, bom_ref="libfoo", purl=PackageURL.from_string("pkg:generic/libfoo@0.9")))
bom.components.add(app)
bom.metadata.component = Component(name="app", type=ComponentType.APPLICATION, bom_ref="release")
open("app.cdx14.json", "w").write(JsonV1Dot4(bom).output_as_string(indent=2))
open("app.cdx14.xml", "w").write(XmlV1Dot4(bom).output_as_string(indent=2))
open("app.cdx15.json", "w").write(JsonV1Dot5(bom).output_as_string(indent=2))
open("app.cdx15.xml", "w").write(XmlV1Dot5(bom).output_as_string(indent=2))
ci = CreationInfo(spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name="app", document_namespace="https://example.com/app", creators=[Actor(ActorType.TOOL, "test")], created=datetime(2026, 1, 1))
doc = Document(ci)
doc.packages = [Package(name="app", spdx_id="SPDXRef-Package-app", download_location="https://example.com/app-1.2.0.tar.gz", files_analyzed=False,
    external_references=[ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", "pkg:generic/app@1.2.0")])]
doc.files = [File(name="./app-linux-amd64", spdx_id="SPDXRef-File-app", checksums=[Checksum(ChecksumAlgorithm.SHA256, sha), Checksum(ChecksumAlgorithm.SHA1, hashlib.sha1(data).hexdigest())], comment="built\nby CI")]
doc.relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-Package-app")]
write_document_to_file(doc, "app.spdx", validate=True)
"#;

#[test]
fn cyclonedx_json_and_xml_and_spdx_tag_value_read() {
    if !python_module("cyclonedx") || !python_module("spdx_tools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app-linux-amd64"), APP_BYTES).unwrap();
    let o = Command::new("python3").args(["-c", SBOM_SCRIPT]).current_dir(dir.path()).output().unwrap();
    assert!(o.status.success(), "python fixture failed: {}", String::from_utf8_lossy(&o.stderr));
    let r = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    let k = keys();
    let gate = |sbom_path: &str, sbom: Vec<u8>, required: bool| {
        let files = vec![(APP.to_string(), APP_BYTES.to_vec()), (sbom_path.to_string(), sbom)];
        let bytes = zip_bundle(&files, &[&k.release]);
        let v = verified(&bytes, &[&k.release]);
        let req: Vec<&str> = if required { vec!["sbom"] } else { vec![] };
        let policy =
            Policy::parse(&policy_json(serde_json::json!({"requiredEvidence": req, "transparency": {"required": false}}))).unwrap();
        let mut roles = Roles::default();
        roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
        let params = GateParams { roles, transparency: GateTransparency::Missing, artifact: None, break_glass: None, sigstore_root: None };
        evaluate(&v, &bytes, &policy, &params).unwrap()
    };
    let read = [
        ("sbom/app.cdx.json", "app.cdx14.json", "cyclonedx"),
        ("sbom/app.cdx.xml", "app.cdx14.xml", "cyclonedx"),
        ("sbom/app.cdx.xml", "app.cdx15.xml", "cyclonedx"),
        ("sbom/app.spdx", "app.spdx", "spdx"),
    ];
    for (path, file, family) in read {
        let res = gate(path, r(file), true);
        assert_eq!(res.decision.decision, Verdict::Allow, "{file}: {:#?}", res.checks);
        assert_eq!(res.gate_input.sbom.as_ref().map(|s| s.format), Some(family), "{file}");
        let c = res.checks.iter().find(|c| c.id == "sbom.coverage").unwrap_or_else(|| panic!("{file}: {:#?}", res.checks));
        assert_eq!(c.status, Status::Pass, "{file}: {}", c.detail);
    }
    // The XML and JSON forms of the same BOM, both written by cyclonedx-python-lib, parse to the
    // same value (format and entries; the digest is of the JSON's canonical form, the XML's bytes).
    for (json, xml, name) in [("app.cdx14.json", "app.cdx14.xml", "CycloneDX 1.4"), ("app.cdx15.json", "app.cdx15.xml", "CycloneDX 1.5")] {
        let j = Sbom::parse(&r(json)).unwrap();
        let x = Sbom::parse(&r(xml)).unwrap_or_else(|e| panic!("{xml}: {e}"));
        assert_eq!((x.format, &x.entries), (j.format, &j.entries), "{xml}");
        assert_eq!(x.format.name(), name);
        let names: Vec<&str> = x.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["app", "app-linux-amd64", "libfoo"], "{xml}");
        assert_eq!(x.entries[1].ids, ["app", "pkg:generic/app@1.2.0"]);
        assert!(x.entries[1].sha256.is_some());
    }
}

/// The VEX status check names the vulnerabilities that are not cleared, worst first.
#[test]
fn vex_status_names_the_affected_vulnerability() {
    let k = keys();
    let mut files = standard_files(&k, &Spec { vex_status: "affected", ..Spec::default() });
    files.push(("vex/other.openvex.json".into(), openvex("CVE-2026-2222", "under_investigation", &hex(APP_BYTES))));
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy =
        Policy::parse(&policy_json(serde_json::json!({"requiredEvidence": ["vex"], "transparency": {"required": false}}))).unwrap();
    let mut roles = Roles::default();
    roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    let params = GateParams { roles, transparency: GateTransparency::Missing, artifact: None, break_glass: None, sigstore_root: None };
    let r = evaluate(&v, &bytes, &policy, &params).unwrap();
    assert_eq!(r.decision.decision, Verdict::Deny);
    let c = r.checks.iter().find(|c| c.id == "vex.status").unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.detail.ends_with("over 2 vulnerabilities: CVE-2026-1111 affected, CVE-2026-2222 under_investigation"), "{}", c.detail);
}

/// A CSAF 2.0 VEX document (shaped as the CSAF 2.0 specification's VEX profile example): the
/// product bound by its sha256 file hash, known_affected with a remediation; the gate reads it
/// and the VEX check names the vulnerability. Without the profile's action statement it is
/// malformed.
#[test]
fn csaf_vex_is_read_and_bound_by_hash() {
    let csaf = |with_remediation: bool| {
        let mut v = serde_json::json!({
            "document": {
                "category": "csaf_vex", "csaf_version": "2.0", "title": "app: CVE-2026-3333",
                "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example"},
                "tracking": {"id": "ACME-2026-1", "status": "final", "version": "1", "initial_release_date": "2026-01-01T00:00:00Z",
                             "current_release_date": "2026-01-01T00:00:00Z", "revision_history": [{"date": "2026-01-01T00:00:00Z", "number": "1", "summary": "first"}]}
            },
            "product_tree": {"branches": [{"category": "vendor", "name": "Acme", "branches": [{"category": "product_version", "name": "1.2.0",
                "product": {"name": "app 1.2.0", "product_id": "APP-1.2.0", "product_identification_helper": {
                    "purl": "pkg:generic/app@1.2.0",
                    "hashes": [{"filename": "app-linux-amd64", "file_hashes": [{"algorithm": "sha256", "value": hex(APP_BYTES)}]}]}}}]}]},
            "vulnerabilities": [{"cve": "CVE-2026-3333", "product_status": {"known_affected": ["APP-1.2.0"]},
                "remediations": [{"category": "vendor_fix", "details": "upgrade to 1.2.1", "product_ids": ["APP-1.2.0"]}]}]
        });
        if !with_remediation {
            v["vulnerabilities"][0].as_object_mut().unwrap().remove("remediations");
        }
        serde_json::to_vec_pretty(&v).unwrap()
    };
    let doc = airlock::evidence::vex::VexDocument::parse(&csaf(true)).unwrap();
    assert_eq!(doc.format, airlock::evidence::vex::Format::Csaf);
    let e = airlock::evidence::vex::VexDocument::parse(&csaf(false)).unwrap_err();
    assert!(e.to_string().contains("has no action statement (remediations)"), "{e}");

    let k = keys();
    let files = vec![(APP.to_string(), APP_BYTES.to_vec()), ("vex/app.csaf.json".to_string(), csaf(true))];
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy =
        Policy::parse(&policy_json(serde_json::json!({"requiredEvidence": ["vex"], "transparency": {"required": false}}))).unwrap();
    let mut roles = Roles::default();
    roles.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    let params = GateParams { roles, transparency: GateTransparency::Missing, artifact: None, break_glass: None, sigstore_root: None };
    let r = evaluate(&v, &bytes, &policy, &params).unwrap();
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(r.checks.iter().any(|c| c.id == "vex.parse" && c.status == Status::Pass));
    assert!(!r.checks.iter().any(|c| c.id == "vex.unbound"), "bound by its sha256 file hash: {:#?}", r.checks);
    let c = r.checks.iter().find(|c| c.id == "vex.status").unwrap();
    assert!(c.detail.ends_with(": CVE-2026-3333 affected"), "{}", c.detail);
}
