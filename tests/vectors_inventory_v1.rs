//! Walks `vectors/inventory-v1/`: every file is the generated one, no unknown or unreadable file
//! sits in the folder, and every case, ingested and reconciled from the files on disk alone,
//! answers what its `NAME.expected.json` says (outcome, report id, summary, findings).

use airlock::conformance::inventory::{desired_from_json, expected, inventory_v1_vectors};
use airlock::inventory::providers::{Ingest, ingest};
use airlock::inventory::reconcile::reconcile;
use airlock::time::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every file under `dir` by relative path; an unreadable entry fails the harness.
fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let path = format!("{rel}{name}");
        if entry.file_type().unwrap().is_dir() {
            walk(&entry.path(), &format!("{path}/"), out);
        } else {
            out.insert(path, std::fs::read(entry.path()).unwrap_or_else(|e| panic!("reading {name}: {e}")));
        }
    }
}

fn json(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(files.get(name).unwrap_or_else(|| panic!("{name} is missing"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_inventory_vector_reconciles_as_expected_and_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/inventory-v1");
    let mut files = BTreeMap::new();
    walk(&dir, "", &mut files);
    files.remove("README.md").expect("the vectors have a README.md");
    let want = inventory_v1_vectors();
    for (name, bytes) in &files {
        let generated = want.get(name).unwrap_or_else(|| panic!("unknown file {name} in vectors/inventory-v1"));
        assert!(bytes == generated, "{name} is stale; run `cargo xtask vectors`");
    }
    assert_eq!(files.len(), want.len(), "generated files missing from vectors/inventory-v1");

    let mut classes = BTreeSet::new();
    let mut cases = 0;
    for name in files.keys().filter_map(|n| n.strip_suffix(".case.json")) {
        let case = json(&files, &format!("{name}.case.json"));
        let want = json(&files, &format!("{name}.expected.json"));
        let desired = desired_from_json(&json(&files, case["desired"].as_str().unwrap())).unwrap();
        let at = Timestamp::parse(case["evaluatedAt"].as_str().unwrap()).unwrap();
        let obs: Vec<_> = case["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let i = Ingest {
                    provider: serde_json::from_value(e["provider"].clone()).unwrap(),
                    product: case["product"].as_str().unwrap().into(),
                    channel: e["channel"].as_str().map(String::from),
                    deployment: None,
                    observed_at: Timestamp::parse(e["observedAt"].as_str().unwrap()).unwrap(),
                };
                let file = e["file"].as_str().unwrap();
                ingest(&files[file], &i).unwrap_or_else(|err| panic!("{name}: {file}: {err}"))
            })
            .collect();
        let report = reconcile(&desired, &obs, at, case["staleAfterSeconds"].as_u64().unwrap()).unwrap();
        assert_eq!(expected(&report), want, "{name}: {}", case["description"]);
        assert_eq!(report.outcome == "aligned", report.findings.is_empty(), "{name}");
        classes.extend(report.findings.iter().map(|f| f.class.name()));
        cases += 1;
    }
    assert!(cases >= 7, "{cases} cases");
    assert_eq!(classes.len(), 7, "every drift class is in some vector: {classes:?}");
}
