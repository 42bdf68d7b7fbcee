//! Rekor v1 checkpoints (ECDSA P-256, note signature type 0x02) from sigstore-conformance
//! (tests/data/tlog/rekor-v1): the checkpoint verifies with the production log key, the inclusion
//! proof of the entry verifies, and the three tampered cases are refused with their rule.

use airlock::merkle::{self, Hash};
use airlock::tlog::LogTrust;
use airlock::tlog::checkpoint::verify_checkpoint;
use airlock::tlog::note::{TYPE_ECDSA, VerifierKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::path::Path;

const ORIGIN: &str = "rekor.sigstore.dev - 2605736670972794746";

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tlog/rekor-v1")
}

fn trust() -> LogTrust {
    let root: Value = serde_json::from_slice(&std::fs::read(dir().join("production-trusted_root.json")).unwrap()).unwrap();
    let log = root["tlogs"].as_array().unwrap().iter().find(|l| l["baseUrl"] == "https://rekor.sigstore.dev").unwrap();
    let spki = STANDARD.decode(log["publicKey"]["rawBytes"].as_str().unwrap()).unwrap();
    let vk = VerifierKey::from_parts("rekor.sigstore.dev", TYPE_ECDSA, &spki).unwrap();
    // The key id of a type 0x02 key is the first 4 bytes of SHA-256(SPKI): the logId's prefix.
    assert_eq!(format!("{:08x}", vk.key_id), "c0d23d6a");
    assert_eq!(VerifierKey::parse(&vk.to_string()).unwrap(), vk);
    let mut t = LogTrust::empty("sigstore production trusted root");
    t.add_log_key(vk, Some(ORIGIN));
    t
}

/// (checkpoint verification, inclusion verification) for a case.
fn check(case: &str) -> Result<(), String> {
    let b: Value = serde_json::from_slice(&std::fs::read(dir().join(case).join("bundle.sigstore.json")).unwrap()).unwrap();
    let e = &b["verificationMaterial"]["tlogEntries"][0];
    let ip = &e["inclusionProof"];
    let note = ip["checkpoint"]["envelope"].as_str().unwrap();
    let cp = verify_checkpoint(note.as_bytes(), &trust()).map_err(|e| e.rule().to_string())?;
    let body = STANDARD.decode(e["canonicalizedBody"].as_str().unwrap()).unwrap();
    let hashes: Vec<Hash> =
        ip["hashes"].as_array().unwrap().iter().map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()).collect();
    let index: u64 = ip["logIndex"].as_str().unwrap().parse().unwrap();
    let c = &cp.checkpoint;
    assert_eq!(c.origin, ORIGIN);
    merkle::verify_inclusion(&merkle::leaf_hash(&body), index, c.size, &hashes, &c.root).map_err(|_| "proof.inclusion".to_string())
}

#[test]
fn rekor_v1_checkpoints() {
    assert_eq!(check("happy-path-v0.2"), Ok(()));
    assert_eq!(check("invalid-checkpoint-signature_fail"), Err("note.signature-invalid".into()));
    // The signature is Rekor's, under a wrong key hint: the log key verifies a line that does
    // not carry its key id, so the note is refused as mislabelled (not merely "unsigned").
    assert_eq!(check("checkpoint-bad-keyhint_fail"), Err("note.signature-mislabelled".into()));
    assert_eq!(check("checkpoint-wrong-roothash_fail"), Err("proof.inclusion".into()));
    let mut cases: Vec<String> = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    cases.sort();
    assert_eq!(
        cases,
        [
            "LICENSE",
            "SOURCE.txt",
            "checkpoint-bad-keyhint_fail",
            "checkpoint-wrong-roothash_fail",
            "happy-path-v0.2",
            "invalid-checkpoint-signature_fail",
            "production-trusted_root.json"
        ]
    );
}
