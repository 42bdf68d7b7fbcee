//! `Sbom::parse` on arbitrary bytes (JSON, CycloneDX XML and SPDX tag-value all reach it): it
//! must never panic, and on JSON it must agree with the whole-tree strict path it replaced: the
//! same strict-JSON refusal as `json::parse_strict`, and on acceptance the RFC 8785 digest of
//! that tree. `Sbom::parse_for` (what the gate reads) must agree with it on count and digest.
#![no_main]
use airlock::evidence::{ArtifactRef, EvidenceError, canonical_digest, sbom::Sbom};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = Sbom::parse(data);
    let json = matches!(data.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | None);
    if json {
        match (&parsed, airlock::json::parse_strict(data)) {
            (Err(EvidenceError::Json { source, .. }), Err(strict)) => assert_eq!(source, &strict),
            (Err(EvidenceError::Json { source, .. }), Ok(_)) => panic!("refused as not strict JSON ({source}); the strict parser accepts"),
            (_, Err(strict)) => panic!("the strict parser refuses ({strict}); Sbom::parse gave {parsed:?}"),
            (Ok(s), Ok(tree)) => assert_eq!(s.canonical_digest, canonical_digest(&tree)),
            (Err(_), Ok(_)) => {}
        }
    }
    let artifact = ArtifactRef { path: "artifacts/app".into(), digest: airlock::digest::Sha256Digest::of(b"app") };
    match (&parsed, Sbom::parse_for(data, std::slice::from_ref(&artifact))) {
        (Ok(s), Ok(f)) => {
            assert_eq!((s.count, s.canonical_digest), (f.count, f.canonical_digest));
            assert_eq!(s.coverage(&artifact), f.coverage(&artifact));
        }
        (Err(s), Err(f)) => assert_eq!(s.to_string(), f.to_string()),
        (s, f) => panic!("parse {s:?}, parse_for {f:?}"),
    }
});
