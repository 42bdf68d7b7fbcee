//! `airlock upgrade-validate`: pairs of packed bundles, each refusal named by its rule.

mod release_support;

use release_support::*;
use serde_json::Value;
use std::path::Path;

const BIN: &[u8] = b"\x7fELF stand-in binary for upgrade tests\n";

fn probe() -> Value {
    serde_json::json!({"args": ["--version"], "expectExitCode": 0})
}

/// Packs CURRENT (1.2.0 unless said otherwise) and NEXT, runs upgrade-validate with `extra` args.
struct Pair<'a> {
    cur_version: &'a str,
    next_version: &'a str,
    next_meta: Value,
    next_vex: bool,
    next_key: &'a str,
}

impl Default for Pair<'_> {
    fn default() -> Self {
        Pair {
            cur_version: "1.2.0",
            next_version: "1.3.0",
            next_meta: metadata("artifacts/app", BIN, probe()),
            next_vex: true,
            next_key: "a",
        }
    }
}

fn run(w: &Path, p: Pair<'_>, extra: &[&str]) -> (Option<i32>, Value, String) {
    let cur_rel = layout(w, "cur", BIN, true);
    let o = pack(w, &cur_rel, &metadata("artifacts/app", BIN, probe()), p.cur_version, "cur.zip", &["a"]);
    assert!(o.status.success(), "{}", text(&o));
    let next_rel = layout(w, "next", BIN, p.next_vex);
    let o = pack(w, &next_rel, &p.next_meta, p.next_version, "next.zip", &[p.next_key]);
    assert!(o.status.success(), "{}", text(&o));
    let mut args = vec!["upgrade-validate", "cur.zip", "next.zip", "--json"];
    args.extend_from_slice(extra);
    let o = airlock(w, &args);
    let r = json_out(&o);
    assert_eq!(r["schema"], "airlock/upgrade-report/v1");
    (o.status.code(), r, text(&o))
}

#[test]
fn newer_release_passes_and_out_dir_holds_report_and_checksums() {
    let w = work();
    let (code, r, t) = run(&w.dir, Pair::default(), &["--key", "a.pub", "--out", "evidence"]);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(r["outcome"], "pass");
    assert!(failed(&r).is_empty());
    for id in ["upgrade.version", "upgrade.installer-targets", "upgrade.controls", "upgrade.channel", "upgrade.signers"] {
        assert!(r["checks"].as_array().unwrap().iter().any(|c| c["id"] == id && c["status"] == "pass"), "{id}: {r}");
    }
    assert_eq!(r["current"]["verification"]["outcome"], "pass");
    let body = std::fs::read(w.dir.join("evidence/upgrade-report.json")).unwrap();
    let sums = std::fs::read_to_string(w.dir.join("evidence/upgrade-report.json.sha256")).unwrap();
    assert_eq!(sums, format!("{}  upgrade-report.json\n", sha256_hex(&body)));
    let stored: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["outcome"], "pass");
    // The verdict is one record in the evidence ledger, about NEXT.
    let ledger = release_support::cli_support::ledger(&w.dir.join("airlock-home"));
    assert_eq!(ledger.iter().filter(|(c, _)| c == "upgrade-validate").count(), 1, "{ledger:?}");
    assert_eq!(ledger.last(), Some(&("upgrade-validate".to_string(), "pass".to_string())));
    // Text form says how signer continuity was checked.
    let o = airlock(&w.dir, &["upgrade-validate", "cur.zip", "next.zip", "--key", "a.pub"]);
    assert!(text(&o).contains("checked against the keys given with --key"), "{}", text(&o));
}

#[test]
fn rollbacks_fail_including_to_a_pre_release() {
    let w = work();
    for next in ["1.1.9", "1.2.0-rc.1"] {
        let (code, r, t) = run(&w.dir, Pair { next_version: next, ..Pair::default() }, &["--key", "a.pub"]);
        assert_eq!(code, Some(1), "{next}: {t}");
        assert_eq!(failed(&r), [("upgrade.version".to_string(), String::new())], "{next}");
        let c = r["checks"].as_array().unwrap().iter().find(|c| c["id"] == "upgrade.version").unwrap();
        assert_eq!((c["expected"].as_str().unwrap(), c["actual"].as_str().unwrap()), ("> 1.2.0", next));
        assert!(c["detail"].as_str().unwrap().contains("rollback"), "{c}");
    }
}

#[test]
fn same_version_fails_unless_allowed() {
    let w = work();
    let (code, r, _) = run(&w.dir, Pair { next_version: "1.2.0", ..Pair::default() }, &["--key", "a.pub"]);
    assert_eq!(code, Some(1));
    assert_eq!(failed(&r), [("upgrade.version".to_string(), String::new())]);
    let (code, r, t) = run(&w.dir, Pair { next_version: "1.2.0", ..Pair::default() }, &["--key", "a.pub", "--allow-same-version"]);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(r["options"]["allowSameVersion"], true);
}

#[test]
fn removed_target_control_or_evidence_kind_fails_and_is_listed() {
    let w = work();
    // Installer target (and its deployment) removed.
    let mut m = metadata("artifacts/app", BIN, probe());
    m["installers"].as_array_mut().unwrap().remove(1);
    m["deployments"].as_array_mut().unwrap().remove(1);
    let (code, r, t) = run(&w.dir, Pair { next_meta: m, ..Pair::default() }, &["--key", "a.pub"]);
    assert_eq!(code, Some(1), "{t}");
    let f = failed(&r);
    assert!(f.contains(&("upgrade.installer-targets".into(), String::new())), "{f:?}");
    assert!(f.contains(&("upgrade.deployment-targets".into(), String::new())), "{f:?}");
    assert_eq!(r["changes"]["installers"]["removed"], serde_json::json!(["windows/arm64"]));
    assert_eq!(r["changes"]["deployments"]["removed"], serde_json::json!(["win-fleet"]));

    // Control removed (another added: listed, does not compensate).
    let mut m = metadata("artifacts/app", BIN, probe());
    m["controls"] = serde_json::json!(["provenance", "reproducible-build", "sbom", "vex"]);
    let (code, r, _) = run(&w.dir, Pair { next_meta: m, ..Pair::default() }, &["--key", "a.pub"]);
    assert_eq!(code, Some(1));
    assert_eq!(failed(&r), [("upgrade.controls".to_string(), String::new())]);
    assert_eq!(r["changes"]["controls"]["removed"], serde_json::json!(["smoke-before-rollout"]));
    assert_eq!(r["changes"]["controls"]["added"], serde_json::json!(["vex"]));

    // Evidence kind removed: NEXT carries no VEX document.
    let (code, r, _) = run(&w.dir, Pair { next_vex: false, ..Pair::default() }, &["--key", "a.pub"]);
    assert_eq!(code, Some(1));
    assert_eq!(failed(&r), [("upgrade.evidence-kinds".to_string(), String::new())]);
    assert_eq!(r["changes"]["evidenceKinds"]["removed"], serde_json::json!(["vex"]));
}

#[test]
fn weakened_channel_fails_with_each_weakening_named() {
    let w = work();
    let mut m = metadata("artifacts/app", BIN, probe());
    let ch = &mut m["channels"][0];
    ch["autoUpdate"] = true.into();
    ch["approvalRequired"] = false.into();
    ch["rings"] = serde_json::json!([{"name": "pilot", "maxPercent": 5, "soakHours": 2}]);
    let (code, r, t) = run(&w.dir, Pair { next_meta: m, ..Pair::default() }, &["--key", "a.pub"]);
    assert_eq!(code, Some(1), "{t}");
    let details: Vec<&str> =
        r["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail").map(|c| c["detail"].as_str().unwrap()).collect();
    assert_eq!(
        details,
        ["automatic updates turned on", "approval no longer required", "ring pilot soak shortened", "ring broad removed"],
        "{r}"
    );
    assert!(t.contains("\"expected\": \"soakHours >= 24\"") && t.contains("\"actual\": \"soakHours 2\""), "{t}");
}

#[test]
fn next_signed_outside_the_trusted_keys_fails_and_a_trusted_new_signer_is_reported() {
    let w = work();
    // NEXT signed by d, which is not trusted: NEXT does not verify, nothing is compared.
    let (code, r, t) = run(&w.dir, Pair { next_key: "d", ..Pair::default() }, &["--key", "a.pub", "--key", "b.pub", "--threshold", "1"]);
    assert_eq!(code, Some(1), "{t}");
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["next"]["verification"]["outcome"], "fail");
    let failed_ids: Vec<&str> = r["next"]["verification"]["failed"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(failed_ids, ["signature.threshold"]);

    // NEXT signed by b, trusted alongside a: passes; the signer change is listed.
    let (code, r, t) = run(&w.dir, Pair { next_key: "b", ..Pair::default() }, &["--key", "a.pub", "--key", "b.pub", "--threshold", "1"]);
    assert_eq!(code, Some(0), "{t}");
    let kid = |k: &str| {
        let b = std::fs::read(w.dir.join(format!("{k}.pub"))).unwrap();
        serde_json::from_slice::<Value>(&b).unwrap()["keyid"].as_str().unwrap().to_string()
    };
    assert_eq!(r["changes"]["signers"]["added"], serde_json::json!([kid("b")]));
    assert_eq!(r["changes"]["signers"]["removed"], serde_json::json!([kid("a")]));
    assert!(r["changes"]["newSigners"][0]["detail"].as_str().unwrap().contains("--key"), "{r}");
}

#[test]
fn missing_metadata_fails_for_next_and_cannot_be_checked_for_current() {
    let w = work();
    let rel = layout(&w.dir, "plain", BIN, true);
    let o =
        airlock(&w.dir, &["pack", rel.to_str().unwrap(), "-o", "plain.zip", "--product", "app", "--version", "1.3.0", "--key", "a.key"]);
    assert!(o.status.success(), "{}", text(&o));
    let cur = layout(&w.dir, "cur", BIN, true);
    assert!(pack(&w.dir, &cur, &metadata("artifacts/app", BIN, probe()), "1.2.0", "cur.zip", &["a"]).status.success());
    let o = airlock(&w.dir, &["upgrade-validate", "cur.zip", "plain.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(failed(&json_out(&o)), [("upgrade.metadata".to_string(), String::new())]);
    let o = airlock(&w.dir, &["upgrade-validate", "plain.zip", "cur.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json_out(&o)["error"]["kind"], "release.metadata-missing");
}

const FAR: &str = "2099-01-01T00:00:00Z";

/// Packs cur.zip (1.2.0) and next.zip (1.3.0), signed by the given keys, with the same metadata.
fn pack_pair(w: &Path, cur_keys: &[&str], next_keys: &[&str]) {
    let meta = metadata("artifacts/app", BIN, probe());
    for (dir, version, out, keys) in [("cur", "1.2.0", "cur.zip", cur_keys), ("next", "1.3.0", "next.zip", next_keys)] {
        let rel = layout(w, dir, BIN, true);
        let o = pack(w, &rel, &meta, version, out, keys);
        assert!(o.status.success(), "{}", text(&o));
    }
}

fn validate(w: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["upgrade-validate", "cur.zip", "next.zip", "--json"];
    args.extend_from_slice(extra);
    let o = airlock(w, &args);
    (o.status.code(), json_out(&o), text(&o))
}

/// v1: root key `root`, release role `a` (1-of-1), pinned; `root` and `e` keys made.
fn pinned_v1(w: &Path) {
    for k in ["root", "e"] {
        assert!(airlock(w, &["keygen", "-o", k]).status.success());
    }
    trust_root(w, "v1.json", &["--role", "root:1:root.pub", "--role", "release:1:a.pub", "--expires", FAR], &["root"]);
    pin(w, "v1.json");
}

#[test]
fn next_signed_after_a_trust_root_rotation_passes_and_the_report_names_the_rotation() {
    let w = work();
    let d = &w.dir;
    pinned_v1(d);
    // v2 rotates the release role from a to b. CURRENT was signed by a under v1, NEXT by b.
    trust_root(d, "v2.json", &["--from", "v1.json", "--role", "release:1:b.pub", "--expires", FAR], &["root"]);
    let o = airlock(d, &["trust", "update", "v2.json"]);
    assert!(o.status.success(), "{}", text(&o));
    pack_pair(d, &["a"], &["b"]);
    // NEXT was verified (and recorded as accepted) first: CURRENT, the release being replaced,
    // is older than it, which is reported, not held against the comparison.
    let o = airlock(d, &["verify", "next.zip"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let (code, r, t) = validate(d, &[]);
    assert_eq!(code, Some(0), "{t}");
    assert!(r["trust"]["source"].as_str().unwrap().starts_with("trust store root v2"), "{}", r["trust"]);
    assert!(r["trust"]["current"]["source"].as_str().unwrap().contains("release role of any version v1..v2"), "{}", r["trust"]);
    assert_eq!(r["trust"]["releaseHistory"].as_array().unwrap().len(), 2);
    assert!(r["trust"]["signerContinuity"].as_str().unwrap().contains("rotation(s): 1 -> 2"), "{}", r["trust"]);
    assert_eq!(r["changes"]["signers"]["added"], serde_json::json!([keyid(d, "b")]));
    assert_eq!(r["changes"]["newSigners"][0]["introducedBy"], serde_json::json!({"fromVersion": 1, "toVersion": 2}));
    let change = r["checks"].as_array().unwrap().iter().find(|c| c["id"] == "upgrade.signer-change" && c["status"] == "pass").unwrap();
    assert!(change["detail"].as_str().unwrap().contains("rotation 1 -> 2"), "{change}");
    assert_eq!(change["subject"], keyid(d, "b").as_str());
    // The text report says it too.
    let o = airlock(d, &["upgrade-validate", "cur.zip", "next.zip"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("admitted to the release role by the trust-root rotation 1 -> 2"), "{}", text(&o));
    // Comparing records nothing: the accepted bundle is still NEXT alone.
    let state = std::fs::read_to_string(d.join("airlock-home/trust/state.json")).unwrap();
    assert!(state.contains("\"version\":\"1.3.0\"") && !state.contains("1.2.0"), "{state}");

    // The same from a given root file; the stored history it follows from still names the rotation.
    let (code, r, t) = validate(d, &["--trust-root", "v2.json"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(r["trust"]["source"].as_str().unwrap().starts_with("--trust-root v2.json v2"), "{}", r["trust"]);
    assert_eq!(r["changes"]["newSigners"][0]["introducedBy"], serde_json::json!({"fromVersion": 1, "toVersion": 2}));
}

#[test]
fn next_signed_outside_the_release_role_fails() {
    let w = work();
    let d = &w.dir;
    pinned_v1(d);
    // v2: release role b and d, 2-of-2.
    trust_root(d, "v2.json", &["--from", "v1.json", "--role", "release:2:b.pub,d.pub", "--expires", FAR], &["root"]);
    assert!(airlock(d, &["trust", "update", "v2.json"]).status.success());
    let next_failed = |r: &Value| -> Vec<String> {
        r["next"]["verification"]["failed"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    // A key that was never in the release role (e), and one rotated out of it (a): refused.
    for (signers, what) in [(&["e"][..], "never a release key"), (&["a"][..], "rotated out in v2"), (&["b"][..], "under threshold")] {
        pack_pair(d, &["a"], signers);
        let (code, r, t) = validate(d, &[]);
        assert_eq!(code, Some(1), "{what}: {t}");
        assert_eq!(r["outcome"], "fail");
        assert_eq!(r["current"]["verification"]["outcome"], "pass", "{what}");
        assert_eq!(next_failed(&r), ["signature.threshold"], "{what}");
    }
    // CURRENT's signers must meet one version's role at its threshold: b alone meets neither
    // v1 (a, 1-of-1) nor v2 (b and d, 2-of-2), though it is a release key of the history.
    pack_pair(d, &["b"], &["b", "d"]);
    let (code, r, t) = validate(d, &[]);
    assert_eq!(code, Some(1), "{t}");
    let failed: Vec<&str> = r["current"]["verification"]["failed"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(failed, ["trust.release-history"]);
    // Signed properly by both, it passes; both new signers are traced to the rotation.
    pack_pair(d, &["a"], &["b", "d"]);
    let (code, r, t) = validate(d, &[]);
    assert_eq!(code, Some(0), "{t}");
    let rotations: Vec<&Value> = r["changes"]["newSigners"].as_array().unwrap().iter().map(|s| &s["introducedBy"]).collect();
    assert_eq!(rotations, [&serde_json::json!({"fromVersion": 1, "toVersion": 2}); 2]);
}

#[test]
fn without_a_trust_root_or_keys_nothing_can_be_checked() {
    let w = work();
    pack_pair(&w.dir, &["a"], &["a"]);
    let (code, r, t) = validate(&w.dir, &[]);
    assert_eq!(code, Some(2), "{t}");
    assert_eq!(r["error"]["kind"], "trust.none");
    assert!(t.contains("no trust root is pinned"), "{t}");
}
