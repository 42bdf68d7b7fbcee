//! The JSON Schemas in format-spec/schemas/ describe what airlock actually writes: validated with
//! Python's `jsonschema` (an independent implementation) against real output.

mod cli_support;

mod schema_support;

use schema_support::{python_has, validate};
use std::path::Path;

#[test]
fn written_documents_match_their_schemas() {
    if !python_has("jsonschema") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/bundle-v1");
    let bytes = std::fs::read(vectors.join("valid-zip/bundle.zip")).unwrap();
    let idx = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
    for (name, out) in [("manifest.json", "m.json"), ("manifest.dsse.json", "e.json")] {
        let b = airlock::archive::read_member(&bytes, idx.get(name).unwrap(), 1 << 20).unwrap();
        std::fs::write(d.join(out), b).unwrap();
    }
    validate("manifest-v1.schema.json", &[&d.join("m.json")]);
    validate("dsse-envelope.schema.json", &[&d.join("e.json")]);
    validate("public-key-v1.schema.json", &[&vectors.join("keys/a.pub")]);
    validate("secret-key-v1.schema.json", &[&vectors.join("keys/a.key")]);
    let mut reports = Vec::new();
    for (i, case) in ["valid-zip", "tampered-member", "unknown-version"].iter().enumerate() {
        let o = cli_support::command(&d.join("airlock-home"))
            .args(["verify", "--json", "--no-progress", "--key"])
            .arg(vectors.join("keys/a.pub"))
            .arg(vectors.join(case).join("bundle.zip"))
            .output()
            .unwrap();
        let p = d.join(format!("r{i}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        reports.push(p);
    }
    validate("verify-report-v1.schema.json", &reports.iter().map(|p| p.as_path()).collect::<Vec<_>>());
}

#[test]
fn trust_root_examples_match_their_schema() {
    if !python_has("jsonschema") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("trust-root/examples");
    let mut docs: Vec<std::path::PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    docs.sort();
    assert!(!docs.is_empty());
    validate("trust-root-v1.schema.json", &docs.iter().map(|p| p.as_path()).collect::<Vec<_>>());
}
