//! Published external vectors (copied under tests/data/external with SOURCE.txt and LICENSE):
//! Wycheproof Ed25519, C2SP CCTV Ed25519 (with airlock's documented acceptance policy), and the
//! RFC 8785 JCS vectors. Each harness walks its whole folder and fails on a case it cannot read.

use airlock::json;
use airlock::keys::PublicKey;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/external").join(rel)
}

/// airlock's Ed25519 acceptance: load the key (refusing invalid and small-order points), then
/// `verify_strict`. This is the exact path bundle and trust-root signatures take.
fn airlock_accepts(pk_hex: &str, msg: &[u8], sig_hex: &str) -> bool {
    let Ok(pk) = hex::decode(pk_hex) else { return false };
    let Ok(pk) = <[u8; 32]>::try_from(pk.as_slice()) else { return false };
    let Ok(sig) = hex::decode(sig_hex) else { return false };
    match PublicKey::from_bytes(&pk) {
        Ok(k) => k.verify(msg, &sig),
        Err(_) => false,
    }
}

#[test]
fn wycheproof_ed25519_all_151_agree() {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("wycheproof-ed25519/testvectors_v1/ed25519_test.json")).unwrap()).unwrap();
    let mut n = 0;
    let mut disagreements = Vec::new();
    for g in doc["testGroups"].as_array().unwrap() {
        let pk = g["publicKey"]["pk"].as_str().unwrap();
        for t in g["tests"].as_array().unwrap() {
            n += 1;
            let msg = hex::decode(t["msg"].as_str().unwrap()).unwrap();
            let want = match t["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {} has result {other:?}; this harness knows valid/invalid only", t["tcId"]),
            };
            if airlock_accepts(pk, &msg, t["sig"].as_str().unwrap()) != want {
                disagreements.push(t["tcId"].as_u64().unwrap());
            }
        }
    }
    assert_eq!(n, doc["numberOfTests"].as_u64().unwrap(), "every declared test was run");
    assert_eq!(n, 151);
    assert!(disagreements.is_empty(), "disagree with Wycheproof on tcIds {disagreements:?}");
}

/// CCTV vectors carry flags, not results. airlock's documented policy (format-spec/bundle-v1.md
/// §5): refuse small-order A or R, non-canonical encodings of A or R, and anything needing the
/// cofactored equation; so exactly the vectors whose flags are within
/// {low_order_component_A, low_order_component_R} are accepted.
#[test]
fn cctv_ed25519_policy_holds_for_all_914() {
    let v: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(data("cctv-ed25519/ed25519/ed25519vectors.json")).unwrap()).unwrap();
    assert_eq!(v.len(), 914);
    let allowed: BTreeSet<&str> = ["low_order_component_A", "low_order_component_R"].into();
    let known: BTreeSet<&str> = [
        "low_order",
        "low_order_A",
        "low_order_R",
        "non_canonical_A",
        "non_canonical_R",
        "low_order_component_A",
        "low_order_component_R",
        "low_order_residue",
        "reencoded_k",
    ]
    .into();
    let mut accepted = 0;
    for c in &v {
        let flags: Vec<&str> = c["flags"].as_array().map(|a| a.iter().map(|f| f.as_str().unwrap()).collect()).unwrap_or_default();
        for f in &flags {
            assert!(known.contains(f), "vector {} has unknown flag {f:?}", c["number"]);
        }
        let want = flags.iter().all(|f| allowed.contains(f));
        let got = airlock_accepts(c["key"].as_str().unwrap(), c["msg"].as_str().unwrap().as_bytes(), c["sig"].as_str().unwrap());
        assert_eq!(got, want, "vector {} flags {flags:?}", c["number"]);
        accepted += got as usize;
    }
    assert_eq!(accepted, 43, "the documented policy accepts 43 of 914");
}

#[test]
fn jcs_rfc8785_all_cases() {
    let dir = data("jcs-rfc8785/testdata");
    let mut names = BTreeSet::new();
    for sub in ["input", "output", "outhex"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            let ext = p.extension().unwrap().to_str().unwrap();
            assert_eq!(ext, if sub == "outhex" { "txt" } else { "json" }, "unexpected file {}", p.display());
            names.insert(stem);
        }
    }
    assert_eq!(names.len(), 6);
    for n in &names {
        let input = std::fs::read(dir.join(format!("input/{n}.json"))).unwrap_or_else(|_| panic!("{n}: no input"));
        let output = std::fs::read(dir.join(format!("output/{n}.json"))).unwrap_or_else(|_| panic!("{n}: no output"));
        let outhex = std::fs::read_to_string(dir.join(format!("outhex/{n}.txt"))).unwrap_or_else(|_| panic!("{n}: no outhex"));
        let hex_bytes = hex::decode(outhex.split_whitespace().collect::<String>()).unwrap();
        assert_eq!(hex_bytes, output, "{n}: output and outhex agree");
        let v = json::parse_strict(&input).unwrap_or_else(|e| panic!("{n}: strict parse refused: {e}"));
        assert_eq!(json::canonical_value(&v), output, "{n}: canonical bytes");
        // And the canonical bytes pass the canonical check unchanged.
        json::parse_canonical(&output).unwrap_or_else(|e| panic!("{n}: canonical output refused: {e}"));
    }
}
