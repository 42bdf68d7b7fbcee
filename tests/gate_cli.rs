//! `airlock gate` end to end through the binary: RFC 8785 output checked with the Python
//! `rfc8785` package, byte-identical across runs, exit codes 0 / 1 / 2, and break-glass from files.

mod cli_support;

mod evidence_support;

use airlock::gate::breakglass::{self, Approval};
use airlock::time::Timestamp;
use evidence_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Setup {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    bundle_id: String,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn setup(spec: &Spec) -> Setup {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip_bundle(&standard_files(&k, spec), &[&k.release]);
    let bundle_id = verified(&bytes, &[&k.release]).get().manifest().bundle_id.clone();
    let bundle = write(dir.path(), "app-1.2.0.zip", &bytes);
    for (name, key) in
        [("release", &k.release), ("builder", &k.builder), ("attestor", &k.attestor), ("alice", &k.approver_a), ("bob", &k.approver_b)]
    {
        write(dir.path(), &format!("{name}.pub"), &key.public().to_file());
    }
    Setup { dir, bundle, bundle_id }
}

fn gate(s: &Setup, policy: &[u8], extra: &[&str]) -> Output {
    let d = s.dir.path();
    let policy_path = write(d, "policy.json", policy);
    let mut cmd = cli_support::command(&d.join("airlock-home"));
    cmd.arg("--no-progress").arg("gate").arg(&s.bundle).arg("--policy").arg(policy_path).arg("--key").arg(d.join("release.pub"));
    cmd.arg("--role-key").arg(format!("builder={}", d.join("builder.pub").display()));
    cmd.arg("--role-key").arg(format!("attestor={}", d.join("attestor.pub").display()));
    cmd.args(extra).current_dir(d).output().unwrap()
}

/// A transparency break-glass for the set-up's bundle, issued a minute ago, valid for an hour.
fn approval_for(s: &Setup, reason: &str) -> Approval {
    let now = airlock::clock::now().expect("the test machine's clock reads after 1970");
    Approval {
        schema: breakglass::SCHEMA.into(),
        bundle_id: s.bundle_id.clone(),
        reason: reason.into(),
        issued_at: Timestamp(now.0 - 60),
        expires_at: Timestamp(now.0 + 3600),
        overrides: vec!["transparency".into()],
    }
}

fn no_transparency() -> Vec<u8> {
    policy_json(serde_json::json!({"transparency": {"required": false}}))
}

#[test]
fn json_output_is_rfc8785_and_identical_across_runs() {
    let s = setup(&Spec::default());
    // The decision records its evaluation time: two runs at one stated time (ahead of the
    // clock, so expiry is judged at it too) print the same bytes.
    let ahead = Timestamp(airlock::clock::now().unwrap().0 + 86_400).to_string();
    let a = gate(&s, &no_transparency(), &["--json", "--at-time", &ahead]);
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let b = gate(&s, &no_transparency(), &["--json", "--at-time", &ahead]);
    assert_eq!(a.stdout, b.stdout, "two runs printed different bytes");
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(doc["decision"]["decision"], "allow");
    assert_eq!(doc["gateInput"]["artifact"]["artifactId"], APP);
    // Our own canonical check first (always runs), then the independent Python implementation.
    assert!(airlock::json::parse_canonical(&a.stdout).is_ok());
    if !python_module("rfc8785") {
        return;
    }
    let out = write(s.dir.path(), "out.json", &a.stdout);
    let py = Command::new("python3")
        .args(["-c", "import json,sys,rfc8785; b=open(sys.argv[1],'rb').read(); sys.exit(0 if rfc8785.dumps(json.loads(b))==b else 3)"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(py.status.success(), "gate output differs from rfc8785.dumps(json.loads(output)): {}", String::from_utf8_lossy(&py.stderr));
    // The embedded gate input alone is canonical too (what a downstream gate hashes).
    let gi = serde_json::to_vec(&doc["gateInput"]).unwrap();
    let gi_path = write(s.dir.path(), "gi.json", &gi);
    let py = Command::new("python3")
        .args([
            "-c",
            "import json,sys,hashlib,rfc8785; print('sha256:'+hashlib.sha256(rfc8785.dumps(json.load(open(sys.argv[1])))).hexdigest())",
        ])
        .arg(&gi_path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), doc["decision"]["gateInputDigest"].as_str().unwrap());
}

#[test]
fn exit_codes_deny_and_could_not_evaluate() {
    let s = setup(&Spec { vex_status: "affected", ..Spec::default() });
    let o = gate(&s, &no_transparency(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("DENY: vex.status"), "{text}");
    // Malformed policy: could not evaluate.
    let o = gate(&s, b"{\"schema\":\"airlock/gate-policy/v1\",\"schema\":\"x\"}", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("duplicate key"));
    // A bundle that does not verify is denied before any evidence is read.
    let mut bytes = std::fs::read(&s.bundle).unwrap();
    let at = bytes.windows(APP_BYTES.len()).position(|w| w == APP_BYTES).unwrap();
    bytes[at] ^= 1;
    std::fs::write(&s.bundle, bytes).unwrap();
    let o = gate(&s, &no_transparency(), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["decision"]["reasons"][0]["code"], "bundle.verify");
    // Each decision, the could-not-evaluate one too, is one record in the evidence ledger.
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    let home = s.dir.path().join("airlock-home");
    assert_eq!(cli_support::ledger(&home), pairs(&[("gate", "fail"), ("gate", "error"), ("gate", "fail")]));
    // --no-record and --at-time record nothing.
    assert_eq!(gate(&s, &no_transparency(), &["--no-record"]).status.code(), Some(1));
    assert_eq!(gate(&s, &no_transparency(), &["--at-time", "2026-06-01T00:00:00Z"]).status.code(), Some(1));
    assert_eq!(cli_support::ledger(&home).len(), 3);
}

#[test]
fn missing_transparency_denies_unless_a_signed_break_glass_is_given() {
    let s = setup(&Spec::default());
    let policy = policy_json(serde_json::json!({}));
    let o = gate(&s, &policy, &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["decision"]["reasons"], serde_json::json!([{"code": "transparency.missing"}]));

    let k = keys();
    let reason = "CHG-2026-0042 log mirror not yet synced";
    let approval = approval_for(&s, reason);
    let d = s.dir.path();
    let signed = write(d, "bg.dsse.json", &breakglass::sign(&approval, &[&k.approver_a, &k.approver_b]));
    let args = |file: &Path, why: &str| -> Vec<String> {
        vec![
            "--json".into(),
            "--break-glass".into(),
            why.into(),
            "--break-glass-approval".into(),
            file.display().to_string(),
            "--approver-key".into(),
            d.join("alice.pub").display().to_string(),
            "--approver-key".into(),
            d.join("bob.pub").display().to_string(),
            "--approver-threshold".into(),
            "2".into(),
        ]
    };
    let a = args(&signed, reason);
    let o = gate(&s, &policy, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["decision"]["breakGlass"]["reason"], reason);
    assert_eq!(doc["decision"]["overridden"][0]["code"], "transparency.missing");

    // Signed by one approver only: deny.
    let half = write(d, "bg-half.dsse.json", &breakglass::sign(&approval, &[&k.approver_a]));
    let a = args(&half, reason);
    let o = gate(&s, &policy, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1));
    // --break-glass without approver keys: usage error.
    let o = gate(&s, &policy, &["--break-glass", reason, "--break-glass-approval", signed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--break-glass needs the approver role"), "{err}");
}

/// `--at-time` never revives an expired break-glass approval: expiry is judged at max(--at-time,
/// real clock); the decision records the evaluation time and that it was overridden.
#[test]
fn an_expired_break_glass_is_denied_whatever_at_time_says() {
    let s = setup(&Spec::default());
    let d = s.dir.path();
    let k = keys();
    let reason = "CHG-2026-0043 mirror down";
    let now = airlock::clock::now().unwrap().0;
    let approval = Approval { issued_at: Timestamp(now - 7200), expires_at: Timestamp(now - 3600), ..approval_for(&s, reason) };
    let signed = write(d, "bg-expired.dsse.json", &breakglass::sign(&approval, &[&k.approver_a, &k.approver_b]));
    let policy = policy_json(serde_json::json!({}));
    let inside = Timestamp(now - 5400).to_string();
    let (alice, bob) = (d.join("alice.pub").display().to_string(), d.join("bob.pub").display().to_string());
    let bg = [
        "--json",
        "--break-glass",
        reason,
        "--break-glass-approval",
        signed.to_str().unwrap(),
        "--approver-key",
        &alice,
        "--approver-key",
        &bob,
    ];
    for extra in [vec!["--at-time", inside.as_str()], vec![]] {
        let mut a = bg.to_vec();
        a.extend(&extra);
        let o = gate(&s, &policy, &a);
        assert_eq!(o.status.code(), Some(1), "{:?}: {}", extra, String::from_utf8_lossy(&o.stdout));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let codes: Vec<&str> = doc["decision"]["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"break-glass.expiry"), "{codes:?}");
        let ev = &doc["decision"]["evaluation"];
        assert_eq!(ev["overridden"], !extra.is_empty(), "{ev}");
        if !extra.is_empty() {
            assert_eq!(ev["time"], inside.as_str(), "{ev}");
            let judged = Timestamp::parse(ev["expiryJudgedAt"].as_str().unwrap()).unwrap();
            assert!(judged.0 >= now, "expiry judged at the real clock at least: {ev}");
        }
    }
}

#[test]
fn evidence_score_by_hand_with_jq_matches() {
    // format-spec/gate-v1.md §2.1 gives a jq recipe; it must reproduce the printed score.
    if !have_tool("jq", Command::new("jq").arg("--version")) {
        return;
    }
    let s = setup(&Spec::default());
    let o = gate(&s, &no_transparency(), &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let k = keys();
    let bytes = std::fs::read(&s.bundle).unwrap();
    let manifest = verified(&bytes, &[&k.release]).get().manifest().to_bytes();
    let mpath = write(s.dir.path(), "manifest.json", &manifest);
    let filter = r#"{artifact: (.members[] | select(.path == $a) | {digest, path}),
        evidence: [.members[] | select(.kind | IN("sbom","provenance","attestation","vex","tlog")) | {digest, kind, path}]}"#;
    let jq = Command::new("jq").args(["-j", "-S", "-c", "--arg", "a", APP, filter]).arg(&mpath).output().unwrap();
    assert!(jq.status.success(), "{}", String::from_utf8_lossy(&jq.stderr));
    assert_eq!(airlock::digest::Sha256Digest::of(&jq.stdout).hex(), doc["gateInput"]["evidence"]["evidenceScore"].as_str().unwrap());
    // bundleDigest is sha256 of manifest.json as stored in the archive.
    assert_eq!(doc["gateInput"]["evidence"]["bundleDigest"], airlock::digest::Sha256Digest::of(&manifest).prefixed());
}

fn airlock(s: &Setup, args: &[&str]) -> Output {
    let d = s.dir.path();
    cli_support::command(&d.join("airlock-home")).arg("--no-progress").args(args).current_dir(d).output().unwrap()
}

#[test]
fn roles_and_approvers_come_from_a_trust_root() {
    let s = setup(&Spec::default());
    let d = s.dir.path();
    let k = keys();
    let root_key = key(20);
    write(d, "root.key", &root_key.to_file());
    write(d, "root.pub", &root_key.public().to_file());
    let new = airlock(
        &s,
        &[
            "trust",
            "new",
            "-o",
            "root.json",
            "--expires",
            "2099-01-01T00:00:00Z",
            "--role",
            "root:1:root.pub",
            "--role",
            "release:1:release.pub",
            "--role",
            "builder:1:builder.pub",
            "--role",
            "attestor:1:attestor.pub",
            "--role",
            "approver:2:alice.pub,bob.pub",
        ],
    );
    assert!(new.status.success(), "{}", String::from_utf8_lossy(&new.stderr));
    let sign = airlock(&s, &["trust", "sign", "root.json", "--key", "root.key"]);
    assert!(sign.status.success(), "{}", String::from_utf8_lossy(&sign.stderr));
    let policy_path = write(d, "policy.json", &policy_json(serde_json::json!({})));
    let base = ["gate", s.bundle.to_str().unwrap(), "--policy", policy_path.to_str().unwrap(), "--trust-root", "root.json", "--json"];
    // Roles builder and attestor from the root: only transparency is missing.
    let o = airlock(&s, &base);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["decision"]["reasons"], serde_json::json!([{"code": "transparency.missing"}]));
    // The root's approver role (2 of 2) decides the break-glass.
    let reason = "INC-9 log unreachable";
    let approval = approval_for(&s, reason);
    write(d, "two.json", &breakglass::sign(&approval, &[&k.approver_a, &k.approver_b]));
    write(d, "one.json", &breakglass::sign(&approval, &[&k.approver_a]));
    let with = |file: &str| {
        let mut a = base.to_vec();
        a.extend(["--break-glass", reason, "--break-glass-approval", file]);
        airlock(&s, &a)
    };
    assert_eq!(with("two.json").status.code(), Some(0));
    let o = with("one.json");
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["decision"]["reasons"].as_array().unwrap().iter().any(|r| r["code"] == "break-glass.signatures"));
    // Ad-hoc approver keys cannot stand in for the root's approver role.
    let mut a = base.to_vec();
    a.extend(["--break-glass", reason, "--break-glass-approval", "one.json", "--approver-key", "alice.pub", "--approver-threshold", "1"]);
    let o = airlock(&s, &a);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--role-key and --approver-key are for ad-hoc --key trust"), "{err}");
}

/// `airlock break-glass` signs what `gate` accepts: alice makes the approval, bob co-signs it,
/// and the 2-of-2 approver role then lets the gate allow a bundle without transparency. A
/// tampered bundle is never approved (exit 1, nothing written); an approval for another reason
/// is not co-signed; an existing file is not overwritten.
#[test]
fn break_glass_command_makes_and_cosigns_an_approval_the_gate_accepts() {
    let s = setup(&Spec::default());
    let d = s.dir.path();
    let k = keys();
    write(d, "alice.key", &k.approver_a.to_file());
    write(d, "bob.key", &k.approver_b.to_file());
    let reason = "INC-42: log mirror offline";
    let bundle = s.bundle.to_str().unwrap();
    let approve = |extra: &[&str]| {
        let mut a = vec!["break-glass", bundle, "--key", "release.pub", "--reason", reason];
        a.extend_from_slice(extra);
        airlock(&s, &a)
    };
    // Longer than the stated maximum (30 days): refused, never cut short; nothing written.
    let o = approve(&["--sign-key", "alice.key", "--valid-for", "31d", "-o", "long.dsse.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most 30 days"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("long.dsse.json").exists());
    let o = approve(&["--sign-key", "alice.key", "--valid-for", "2h", "-o", "bg.dsse.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let env = airlock::dsse::Envelope::parse(&std::fs::read(d.join("bg.dsse.json")).unwrap()).unwrap();
    let approval: Approval = serde_json::from_slice(&env.payload).unwrap();
    assert_eq!((approval.bundle_id.as_str(), approval.reason.as_str()), (s.bundle_id.as_str(), reason));
    assert_eq!(approval.expires_at.0 - approval.issued_at.0, 7200);
    assert_eq!(env.signatures.len(), 1);
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(cli_support::ledger(&d.join("airlock-home")), pairs(&[("break-glass", "error"), ("break-glass", "pass")]));

    let policy = policy_json(serde_json::json!({}));
    let gate_with = |file: &str| {
        gate(
            &s,
            &policy,
            &[
                "--json",
                "--break-glass",
                reason,
                "--break-glass-approval",
                file,
                "--approver-key",
                "alice.pub",
                "--approver-key",
                "bob.pub",
                "--approver-threshold",
                "2",
            ],
        )
    };
    // One of two approvers: deny.
    assert_eq!(gate_with("bg.dsse.json").status.code(), Some(1));
    // The file exists: a new approval is not written over it.
    let o = approve(&["--sign-key", "bob.key", "-o", "bg.dsse.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--cosign"), "{}", String::from_utf8_lossy(&o.stderr));
    // Bob co-signs in place; signing twice with the same key adds nothing.
    for _ in 0..2 {
        let o = approve(&["--sign-key", "bob.key", "--cosign", "bg.dsse.json", "-o", "bg.dsse.json"]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let env = airlock::dsse::Envelope::parse(&std::fs::read(d.join("bg.dsse.json")).unwrap()).unwrap();
    assert_eq!(env.signatures.len(), 2);
    let o = gate_with("bg.dsse.json");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["decision"]["breakGlass"]["reason"], reason);
    assert_eq!(doc["decision"]["breakGlass"]["approvers"].as_array().unwrap().len(), 2);

    // Co-signing for another reason is refused.
    let o = airlock(
        &s,
        &[
            "break-glass",
            bundle,
            "--key",
            "release.pub",
            "--reason",
            "other",
            "--sign-key",
            "bob.key",
            "--cosign",
            "bg.dsse.json",
            "-o",
            "x.json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reason"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("x.json").exists());

    // A tampered bundle is not approved and nothing is written.
    let mut bytes = std::fs::read(&s.bundle).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x01;
    write(d, "tampered.zip", &bytes);
    let o = airlock(
        &s,
        &["break-glass", "tampered.zip", "--key", "release.pub", "--reason", reason, "--sign-key", "alice.key", "-o", "t.json"],
    );
    assert!(matches!(o.status.code(), Some(1) | Some(2)), "{:?}", o.status);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    match o.status.code() {
        Some(1) => assert!(out.contains("NOT VERIFIED") && out.contains("FAIL member."), "{out}"),
        _ => assert!(err.contains("refused by rule"), "{err}"),
    }
    assert!(!d.join("t.json").exists(), "an approval was written for a bundle that did not verify");
}

/// A TOML policy file decides as its JSON twin and records the same policy digest.
#[test]
fn a_toml_policy_decides_like_its_json_twin() {
    let s = setup(&Spec::default());
    let d = s.dir.path();
    let json = gate(&s, &no_transparency(), &["--json"]);
    assert_eq!(json.status.code(), Some(0), "{}", String::from_utf8_lossy(&json.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&no_transparency()).unwrap();
    let toml_text = to_toml(&policy);
    write(d, "policy.toml", toml_text.as_bytes());
    let toml = airlock(
        &s,
        &[
            "gate",
            s.bundle.to_str().unwrap(),
            "--policy",
            "policy.toml",
            "--key",
            "release.pub",
            "--role-key",
            "builder=builder.pub",
            "--role-key",
            "attestor=attestor.pub",
            "--json",
        ],
    );
    assert_eq!(toml.status.code(), Some(0), "{toml_text}\n{}", String::from_utf8_lossy(&toml.stderr));
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&json.stdout).unwrap(), serde_json::from_slice(&toml.stdout).unwrap());
    assert_eq!(a["decision"]["policyDigest"], b["decision"]["policyDigest"]);
    assert_eq!(a["decision"]["decision"], b["decision"]["decision"]);
    // A misspelt field in TOML is refused like in JSON: could not evaluate.
    write(d, "bad.toml", format!("{toml_text}\nrequiredEvidnce = []\n").as_bytes());
    let o = airlock(&s, &["gate", s.bundle.to_str().unwrap(), "--policy", "bad.toml", "--key", "release.pub"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("policy bad.toml") && err.contains("unknown field `requiredEvidnce`"), "{err}");
}

/// TOML text for a JSON object of scalars, arrays of scalars and nested objects (as tables).
fn to_toml(v: &serde_json::Value) -> String {
    fn scalar(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Array(a) => format!("[{}]", a.iter().map(scalar).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }
    fn table(prefix: &str, obj: &serde_json::Map<String, serde_json::Value>, out: &mut String) {
        for (k, v) in obj.iter().filter(|(_, v)| !v.is_object()) {
            out.push_str(&format!("{k} = {}\n", scalar(v)));
        }
        for (k, v) in obj.iter().filter(|(_, v)| v.is_object()) {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            out.push_str(&format!("\n[{name}]\n"));
            table(&name, v.as_object().unwrap(), out);
        }
    }
    let mut out = String::new();
    table("", v.as_object().unwrap(), &mut out);
    out
}
