//! The published `vectors/bundle-v1/` conformance vectors: one harness walks the folder, fails on
//! any file it does not know, and runs every case through the library and the real binary.
//! A second test regenerates the vectors in memory and fails when the committed files are stale.

mod cli_support;

use airlock::conformance::{self, Expectation};
use airlock::keys::PublicKey;
use airlock::verify::{self, TrustPolicy, Verification};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/bundle-v1")
}

fn key(name: &str) -> PublicKey {
    PublicKey::parse_file(&std::fs::read(dir().join(format!("keys/{name}.pub"))).unwrap()).unwrap()
}

#[test]
fn every_vector_behaves_as_it_says() {
    let mut ran = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name == "README.md" || name == "keys" {
            continue;
        }
        assert!(p.is_dir(), "unknown file {} in vectors/bundle-v1", p.display());
        let exp: Expectation =
            airlock::json::from_slice_strict(&std::fs::read(p.join("expect.json")).unwrap_or_else(|_| panic!("{name}: no expect.json")))
                .unwrap_or_else(|e| panic!("{name}: unreadable expect.json: {e}"));
        let files: BTreeSet<String> = std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(files, BTreeSet::from(["expect.json".to_string(), exp.bundle.clone()]), "{name}: unexpected files");
        let bytes = std::fs::read(p.join(&exp.bundle)).unwrap();
        let trust = TrustPolicy::ed25519(exp.keys.iter().map(|k| key(k)), exp.threshold, "vector");
        let got = verify::verify(&bytes, &trust, &verify::Options::default(), &|_| {});
        match (&got, exp.exit) {
            (Ok(Verification::Passed(..)), 0) => {}
            (Ok(Verification::Failed(r)), 1) => {
                let failed: BTreeSet<String> =
                    r.checks().iter().filter(|c| c.status == airlock::report::Status::Fail).map(|c| c.id.to_string()).collect();
                assert_eq!(failed, exp.failed_checks.iter().cloned().collect(), "{name}: failed checks");
            }
            (Err(e), 2) => assert_eq!(Some(e.kind()), exp.error_kind, "{name}: error kind ({e})"),
            (other, want) => panic!(
                "{name}: expected exit {want}, got {}",
                match other {
                    Ok(Verification::Passed(..)) => "pass".to_string(),
                    Ok(Verification::Failed(r)) => format!(
                        "fail {:?}",
                        r.checks().iter().filter(|c| c.status == airlock::report::Status::Fail).map(|c| c.id.as_ref()).collect::<Vec<_>>()
                    ),
                    Err(e) => format!("error {e}"),
                }
            ),
        }
        // The binary agrees on the exit code.
        let home = tempfile::tempdir().unwrap();
        let mut cmd = cli_support::command(home.path());
        cmd.args(["verify", "--no-progress", "--json"]).arg(p.join(&exp.bundle)).arg("--threshold").arg(exp.threshold.to_string());
        for k in &exp.keys {
            cmd.arg("--key").arg(dir().join(format!("keys/{k}.pub")));
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(exp.exit as i32), "{name}: binary exit code; stderr {}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: --json output is not JSON: {e}"));
        assert_eq!(report["schema"], "airlock/verify-report/v1");
        // The cause, not just the code: the error kind, or the checks that failed.
        match exp.exit {
            2 => assert_eq!(report["error"]["kind"].as_str(), exp.error_kind.as_deref(), "{name}: binary error kind: {report}"),
            1 => {
                let failed: BTreeSet<&str> = report["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["status"] == "fail")
                    .map(|c| c["id"].as_str().unwrap())
                    .collect();
                assert_eq!(failed, exp.failed_checks.iter().map(String::as_str).collect(), "{name}: binary failed checks");
            }
            _ => assert_eq!(report["outcome"], "pass", "{name}"),
        }
        ran += 1;
    }
    assert!(ran >= 13, "only {ran} vectors found");
}

#[test]
fn committed_vectors_are_current() {
    let want = conformance::bundle_v1_vectors();
    let mut on_disk = cli_support::files_under(&dir());
    on_disk.remove("README.md");
    let expected: BTreeSet<String> = want.keys().cloned().collect();
    assert_eq!(on_disk, expected, "vector file set differs: run `cargo xtask vectors`");
    for (rel, bytes) in &want {
        assert!(std::fs::read(dir().join(rel)).unwrap() == *bytes, "{rel} is stale: run `cargo xtask vectors`");
    }
}
