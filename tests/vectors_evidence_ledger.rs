//! Walks `vectors/evidence-ledger-v1/`: every chain answers what its `NAME.expected.json` says,
//! every file is the generated one, and no unknown file sits in the folder.

use airlock::conformance::ledger::evidence_ledger_v1_vectors;
use airlock::ledger::chain::verify_jsonl;
use std::path::Path;

#[test]
fn every_evidence_ledger_vector_answers_as_expected_and_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/evidence-ledger-v1");
    let want = evidence_ledger_v1_vectors();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "README.md" {
            continue;
        }
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let generated = want.get(&name).unwrap_or_else(|| panic!("unknown file {name} in vectors/evidence-ledger-v1"));
        assert!(bytes == *generated, "{name} is stale; run `cargo xtask vectors`");
        seen += 1;
        let Some(stem) = name.strip_suffix(".jsonl") else { continue };
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{stem}.expected.json"))).unwrap()).unwrap();
        match (verify_jsonl(&bytes), expected["result"].as_str()) {
            (Ok(s), Some("valid")) => {
                assert_eq!(s.count, expected["count"].as_u64().unwrap(), "{stem}");
                assert_eq!(serde_json::to_value(s.head).unwrap(), expected["head"], "{stem}");
            }
            (Err(b), Some("broken")) => {
                assert_eq!(b.seq, expected["seq"].as_u64().unwrap(), "{stem}");
                assert_eq!(b.rule.id(), expected["rule"].as_str().unwrap(), "{stem}");
            }
            (got, want) => panic!("{stem}: verifier says {got:?}, vector says {want:?}"),
        }
    }
    assert_eq!(seen, want.len(), "generated files missing from vectors/evidence-ledger-v1");
    assert!(want.keys().filter(|k| k.ends_with(".jsonl")).count() >= 10);
}
