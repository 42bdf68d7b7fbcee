//! The SBOM and VEX vectors in `tests/data/evidence/`, written by hand to the official formats:
//! one harness walks both folders, checks each file against `cases.json`, and fails on a file
//! that is not listed (so a new vector cannot be forgotten) or a listed file that is absent.

use airlock::digest::Sha256Digest;
use airlock::evidence::ArtifactRef;
use airlock::evidence::sbom::{Coverage, Sbom};
use airlock::evidence::vex::{Merged, VexDocument};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn every_vector_parses_as_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/evidence");
    let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("cases.json")).unwrap()).unwrap();
    let listed: BTreeSet<String> = cases.as_object().unwrap().keys().filter(|k| *k != "comment").cloned().collect();
    let mut found = BTreeSet::new();
    for dir in ["sbom", "vex"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            found.insert(format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()));
        }
    }
    assert_eq!(found, listed, "tests/data/evidence and cases.json disagree");
    let hello = ArtifactRef { path: "artifacts/hello".into(), digest: Sha256Digest::of(b"hello\n") };
    let mut ran = 0;
    for name in &listed {
        let case = &cases[name];
        let bytes = std::fs::read(root.join(name)).unwrap();
        let expect = case["expect"].as_str().unwrap();
        if name.starts_with("sbom/") {
            match (Sbom::parse(&bytes), expect) {
                (Ok(s), "ok") => {
                    assert_eq!(s.format.name(), case["format"], "{name}");
                    assert_eq!(s.format.family(), case["family"], "{name}");
                    assert!(matches!(s.coverage(&hello), Coverage::Listed { .. }), "{name}: {:?}", s.coverage(&hello));
                    // Another build of the same file name is a digest mismatch, not "absent".
                    let other = ArtifactRef { path: "artifacts/hello".into(), digest: Sha256Digest::of(b"hello 2\n") };
                    assert_eq!(s.coverage(&other).code(), Some("sbom.digest-mismatch"), "{name}");
                    if let Some(twin) = case["sameAs"].as_str() {
                        // The XML form of a JSON vector: the same format and entries.
                        let j = Sbom::parse(&std::fs::read(root.join(twin)).unwrap()).unwrap();
                        assert_eq!((s.format, &s.entries), (j.format, &j.entries), "{name} vs {twin}");
                    } else {
                        // The canonical digest ignores formatting.
                        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                        assert_eq!(Sbom::parse(&serde_json::to_vec(&v).unwrap()).unwrap().canonical_digest, s.canonical_digest);
                    }
                }
                (Err(e), want) => assert_eq!(e.code(), want, "{name}: {e}"),
                (Ok(s), want) => panic!("{name}: parsed as {} but {want} was expected", s.format.name()),
            }
        } else {
            match (VexDocument::parse(&bytes), expect) {
                (Ok(v), "ok") => {
                    assert_eq!(format!("{:?}", v.format), case["format"].as_str().unwrap(), "{name}");
                    assert_eq!(v.statements.len() as u64, case["statements"].as_u64().unwrap(), "{name}");
                    let m = Merged::of(&v.statements);
                    assert_eq!(m.summary.name(), case["summary"], "{name}");
                    assert_eq!(m.worst().name(), case["worst"], "{name}");
                }
                (Err(e), want) => assert_eq!(e.code(), want, "{name}: {e}"),
                (Ok(_), want) => panic!("{name}: parsed but {want} was expected"),
            }
        }
        ran += 1;
    }
    assert_eq!(ran, listed.len());
}
