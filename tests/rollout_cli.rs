//! `airlock rollout capture` and `rollout verify` through the binary: a record only for a
//! verified bundle and the operator role, bound to the bundle and its release metadata; every
//! refusal names its rule and writes nothing; both are recorded in the evidence ledger.

mod release_support;

use release_support::cli_support::ledger;
use release_support::{airlock, canary_metadata, layout, pack, pin, text, trust_root, work};
use std::fs;
use std::path::Path;

const FAR: &str = "2099-01-01T00:00:00Z";

/// Two bundles (`app.zip`, `other.zip`) with canary rings 2 %/4 h and 10 %/24 h and a stable
/// channel, and a pinned root with an operator role (key `op`).
fn setup(d: &Path) {
    for k in ["root", "op"] {
        assert!(airlock(d, &["keygen", "-o", k]).status.success());
    }
    let meta = canary_metadata();
    let rel = layout(d, "rel", b"app\n", false);
    for (out, version) in [("app.zip", "1.2.0"), ("other.zip", "1.3.0")] {
        let o = pack(d, &rel, &meta, version, out, &["a"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    trust_root(
        d,
        "root.json",
        &["--role", "root:1:root.pub", "--role", "release:1:a.pub", "--role", "operator:1:op.pub", "--expires", FAR],
        &["root"],
    );
    pin(d, "root.json");
}

fn capture(d: &Path, out: &str, key: &str, deployment: &str) -> std::process::Output {
    airlock(
        d,
        &[
            "rollout",
            "capture",
            "app.zip",
            "--channel",
            "canary",
            "--ring",
            "c2",
            "--deployment",
            deployment,
            "--status",
            "staged",
            "--actor",
            "alice",
            "--change-record",
            "CHG-1",
            "--sign-key",
            key,
            "-o",
            out,
        ],
    )
}

#[test]
fn a_captured_rollout_verifies_and_every_refusal_names_its_rule_and_writes_nothing() {
    let w = work();
    let d = &w.dir;
    setup(d);
    let home = d.join("airlock-home");
    let before = ledger(&home).len();

    let o = capture(d, "rollout.dsse.json", "op.key", "canary-runners");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let env: serde_json::Value = serde_json::from_slice(&fs::read(d.join("rollout.dsse.json")).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.airlock.rollout-record.v1+json");
    let o = airlock(d, &["rollout", "verify", "rollout.dsse.json", "--bundle", "app.zip"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A deployment of another channel, a key outside the operator role: exit 1, nothing written.
    for (key, dep, rule) in [("op.key", "gha-runner", "promotion.deployments"), ("b.key", "canary-runners", "promotion.signer")] {
        let o = capture(d, "refused.dsse.json", key, dep);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(rule), "{rule}: {}", text(&o));
        assert!(!d.join("refused.dsse.json").exists());
    }

    // Another bundle, an altered record: exit 1 naming the rule; a malformed one: exit 2.
    let o = airlock(d, &["rollout", "verify", "rollout.dsse.json", "--bundle", "other.zip"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("promotion.bundle"), "{}", text(&o));
    let altered = fs::read_to_string(d.join("rollout.dsse.json")).unwrap();
    let payload = env["payload"].as_str().unwrap();
    let decoded = String::from_utf8(base64_decode(payload)).unwrap().replace("\"c2\"", "\"c10\"");
    fs::write(d.join("altered.dsse.json"), altered.replace(payload, &base64_encode(decoded.as_bytes()))).unwrap();
    let o = airlock(d, &["rollout", "verify", "altered.dsse.json", "--bundle", "app.zip"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("promotion.signature"), "{}", text(&o));
    fs::write(d.join("garbage.dsse.json"), b"{\"payloadType\":1}").unwrap();
    let o = airlock(d, &["rollout", "verify", "garbage.dsse.json", "--bundle", "app.zip"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("rollout record is malformed"), "{}", text(&o));

    let rows = ledger(&home);
    let ours: Vec<(&str, &str)> = rows[before..].iter().map(|(c, o)| (c.as_str(), o.as_str())).collect();
    assert_eq!(
        ours,
        [
            ("rollout capture", "pass"),
            ("rollout verify", "pass"),
            ("rollout capture", "fail"),
            ("rollout capture", "fail"),
            ("rollout verify", "fail"),
            ("rollout verify", "fail"),
            ("rollout verify", "error"),
        ]
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
