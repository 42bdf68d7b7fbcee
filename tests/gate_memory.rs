//! Issue 21, class 8: `gate` over large evidence in bounded memory. A CycloneDX SBOM of 400,000
//! components and an OpenVEX document of 120,000 statements (about 15 MB each) are gated in one
//! bundle; the peak RSS of the gate process (GNU time's `%M`) must stay a small multiple of one
//! member's size. Read as a whole JSON tree, as before, each such document cost about 27 times its
//! size (1.7 GB for a 62 MB SBOM), so the old readers fail this bound by far. The full-size
//! figures (62 MB and 66 MB members, four at once) are `cargo xtask bench gate-memory`'s.
//!
//! Its own test binary: the peak is measured per child, but a test binary's other tests would
//! share the machine's memory while this one runs.

mod cli_support;

use std::fmt::Write as _;
use std::path::Path;

const COMPONENTS: usize = 400_000;
const STATEMENTS: usize = 120_000;
/// The bound on the gate's peak RSS, in KiB: both members' bytes and room for a debug binary.
const BOUND_KIB: u64 = 160 << 10;

fn cyclonedx(artifact_sha: &str) -> String {
    let mut s = String::from(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"timestamp":"2026-01-01T00:00:00Z"},"components":["#,
    );
    write!(
        s,
        r#"{{"type":"application","name":"app","bom-ref":"pkg:generic/app@1.0","hashes":[{{"alg":"SHA-256","content":"{artifact_sha}"}}]}}"#
    )
    .unwrap();
    for i in 1..COMPONENTS {
        write!(s, r#",{{"type":"library","name":"c{i:07}"}}"#).unwrap();
    }
    s.push_str("]}");
    s
}

fn openvex() -> String {
    let mut s = String::from(
        r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/t","author":"t","timestamp":"2026-01-01T00:00:00Z","version":1,"statements":["#,
    );
    for i in 0..STATEMENTS {
        if i > 0 {
            s.push(',');
        }
        write!(s, r#"{{"vulnerability":{{"name":"CVE-2026-{i:07}"}},"products":[{{"@id":"pkg:generic/app@1.0"}}],"status":"not_affected","justification":"component_not_present"}}"#).unwrap();
    }
    s.push_str("]}");
    s
}

fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn gate_over_large_sbom_and_vex_stays_in_bounded_memory() {
    if !Path::new("/usr/bin/time").is_file() {
        assert!(std::env::var_os("AIRLOCK_REQUIRE_INTEROP").is_none(), "GNU time is required here (cargo xtask setup installs it)");
        eprintln!("skipped: /usr/bin/time (GNU time) is not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let run = |c: &mut std::process::Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(cli_support::command(&home).arg("keygen").arg("-o").arg(d.path().join("k")));
    let app = b"#!/bin/sh\necho app\n";
    let app_sha = airlock::digest::Sha256Digest::of(app).hex();
    let tree = d.path().join("tree");
    put(&tree.join("artifacts/app"), app);
    let (sbom, vex) = (cyclonedx(&app_sha), openvex());
    assert!(sbom.len() > 14_000_000 && vex.len() > 14_000_000, "{} and {} bytes", sbom.len(), vex.len());
    put(&tree.join("sbom/app.cdx.json"), sbom.as_bytes());
    put(&tree.join("vex/app.openvex.json"), vex.as_bytes());
    let bundle = d.path().join("b.zip");
    run(cli_support::command(&home)
        .args(["--no-record", "pack", "--no-progress", "-q", "--product", "app", "--version", "1.0.0", "--key"])
        .arg(d.path().join("k.key"))
        .arg("-o")
        .arg(&bundle)
        .arg(&tree));
    let policy = d.path().join("policy.json");
    put(
        &policy,
        br#"{"schema":"airlock/gate-policy/v1","artifact":"artifacts/app","requiredEvidence":["sbom","vex"],"signers":{"manifest":{"role":"release","threshold":1}},"vex":{"maxStatus":"under_investigation"},"transparency":{"required":false}}"#,
    );
    let rss = d.path().join("rss");
    let o = cli_support::command_via(&home, &["/usr/bin/time", "-f", "%M", "-o", rss.to_str().unwrap()])
        .args(["--no-record", "--no-progress", "gate", "--json"])
        .arg(&bundle)
        .arg("--policy")
        .arg(&policy)
        .arg("--key")
        .arg(d.path().join("k.pub"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "the gate read the evidence and allowed: {out}\n{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["decision"]["decision"], "allow", "{doc}");
    // Every entry was read, not skipped.
    let detail = |id: &str| doc["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).map(|c| c["detail"].to_string());
    assert!(detail("sbom.parse").is_some_and(|d| d.contains("400000 entries")), "{doc}");
    assert!(detail("vex.parse").is_some_and(|d| d.contains("120000 statements")), "{doc}");
    let text = std::fs::read_to_string(&rss).unwrap();
    let kib: u64 = text.trim().lines().last().and_then(|l| l.trim().parse().ok()).expect("GNU time wrote %M");
    eprintln!("gate peak RSS {kib} KiB");
    assert!(kib < BOUND_KIB, "gate peaked at {kib} KiB over two ~15 MB members; the bound is {BOUND_KIB} KiB");
}
