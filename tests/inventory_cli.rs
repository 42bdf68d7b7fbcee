//! `airlock inventory ingest|freshness`, `reconcile` and `remediation plan` through the binary,
//! on the documented-example fixtures in `tests/data/inventory/`: refusals write and record
//! nothing; reconcile produces every drift class, exits 1 on drift and 0 when aligned, and is
//! recorded; a remediation plan is signed only by the operator role.

mod release_support;
mod schema_support;

use release_support::cli_support::ledger;
use release_support::{airlock, json_out, pack, pin, sha256_hex, text, trust_root, work};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

const FAR: &str = "2099-01-01T00:00:00Z";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/inventory/");

fn installer(id: &str, os: &str, arch: &str, binary: &str, bytes: &[u8]) -> Value {
    json!({"id": id, "os": os, "arch": arch, "binary": binary, "digest": format!("sha256:{}", sha256_hex(bytes)),
           "installPath": if os == "windows" { "C:\\Program Files\\app\\app.exe" } else { "/usr/local/bin/app" },
           "installMethod": "copy", "probe": {"args": ["--version"], "expectExitCode": 0}})
}

fn deployment(id: &str, surface: &str, platform: &str, installer: &str, channel: &str, tool: &str) -> Value {
    json!({"id": id, "surface": surface, "platform": platform, "installer": installer, "channel": channel,
           "managementTool": tool, "rollback": [format!("reinstall the previous release with {tool}")]})
}

const BINARIES: [(&str, &[u8]); 3] = [
    ("artifacts/app-linux-amd64", b"app linux\n"),
    ("artifacts/app-darwin-arm64", b"app darwin\n"),
    ("artifacts/app-windows-arm64.exe", b"MZ pretend\n"),
];

/// Release metadata for the fixtures' fleet; `only_linux` keeps the one Linux server target.
fn metadata(only_linux: bool) -> Value {
    let mut deployments = vec![
        deployment("gha-runner", "ci-runner", "linux/amd64", "linux-amd64", "stable", "runner-image"),
        deployment("linux-servers", "server", "linux/amd64", "linux-amd64", "stable", "fleet"),
    ];
    if !only_linux {
        deployments.extend([
            deployment("mac-canary", "managed-endpoint", "darwin/arm64", "darwin-arm64", "canary", "jamf"),
            deployment("mac-fleet", "managed-endpoint", "darwin/arm64", "darwin-arm64", "stable", "jamf"),
            deployment("win-fleet", "managed-endpoint", "windows/arm64", "windows-arm64", "stable", "intune"),
        ]);
    }
    let ch = |name: &str| {
        json!({"name": name, "autoUpdate": false, "approvalRequired": true,
        "rings": [{"name": "all", "maxPercent": 100, "soakHours": 1}], "holdConditions": [], "rollbackRequirements": []})
    };
    json!({
        "schema": "airlock/release-metadata/v1",
        "installers": [
            installer("linux-amd64", "linux", "amd64", BINARIES[0].0, BINARIES[0].1),
            installer("darwin-arm64", "darwin", "arm64", BINARIES[1].0, BINARIES[1].1),
            installer("windows-arm64", "windows", "arm64", BINARIES[2].0, BINARIES[2].1),
        ],
        "deployments": deployments,
        "channels": [ch("canary"), ch("stable")],
        "controls": [],
    })
}

/// `app.zip` (the whole fleet), `lin.zip` (Linux servers only), a pinned root with an operator
/// role (key `op`).
fn setup(d: &Path) {
    for k in ["root", "op"] {
        assert!(airlock(d, &["keygen", "-o", k]).status.success());
    }
    let rel = d.join("rel");
    for (p, b) in BINARIES {
        fs::create_dir_all(rel.join(p).parent().unwrap()).unwrap();
        fs::write(rel.join(p), b).unwrap();
    }
    for (out, only_linux) in [("app.zip", false), ("lin.zip", true)] {
        let o = pack(d, &rel, &metadata(only_linux), "1.2.0", out, &["a"]);
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

fn ingest(d: &Path, file: &str, provider: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let path = if Path::new(file).is_absolute() || d.join(file).exists() { file.to_string() } else { format!("{DATA}{file}") };
    let mut args = vec!["inventory", "ingest", &path, "--provider", provider, "--product", "app", "-o", out];
    args.extend_from_slice(extra);
    airlock(d, &args)
}

#[test]
fn ingest_refusals_name_the_problem_and_write_and_record_nothing() {
    let w = work();
    let d = &w.dir;
    let home = d.join("airlock-home");
    fs::write(d.join("broken.json"), b"{\n  \"results\": [\n    {\"id\": \"1\",}\n  ]\n}\n").unwrap();
    fs::write(d.join("dup.json"), br#"{"resources":[{"device_id":"d1","hostname":"a"},{"device_id":"d1","hostname":"b"}]}"#).unwrap();
    let big = fs::File::create(d.join("big.json")).unwrap();
    big.set_len((512 << 20) + 1).unwrap();
    let cases: [(&str, &str, &[&str], &str, &str); 6] = [
        ("broken.json", "jamf", &[], "inventory.json", "line 3, column 16"),
        ("intune-managed-devices.json", "jamf", &[], "inventory.shape", "/results is missing"),
        ("jamf-computers-inventory.json", "edr", &[], "inventory.shape", "--provider jamf"),
        ("dup.json", "edr", &[], "inventory.duplicate-endpoint", "\"d1\" appears twice"),
        ("falcon-devices.json", "edr", &["--observed-at", "2026-06-01T00:00:00Z"], "inventory.future-time", "last_seen"),
        ("big.json", "jamf", &[], "input.too-large", "larger than"),
    ];
    for (file, provider, extra, kind, cause) in cases {
        let mut args = extra.to_vec();
        args.push("--json");
        let o = ingest(d, file, provider, "out.obs.json", &args);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", text(&o));
        let doc = json_out(&o);
        assert_eq!(doc["error"]["kind"], kind, "{file}: {doc}");
        assert!(doc["error"]["message"].as_str().unwrap().contains(cause), "{file}: {doc}");
        assert!(!d.join("out.obs.json").exists(), "{file}: nothing written");
        assert!(ledger(&home).is_empty(), "{file}: nothing recorded");
    }
    // Nothing ingested: freshness fails closed.
    let o = airlock(d, &["inventory", "freshness"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn reconcile_finds_every_drift_class_and_a_plan_is_signed_by_the_operator_only() {
    let w = work();
    let d = &w.dir;
    setup(d);
    let home = d.join("airlock-home");
    let at = ["--observed-at", "2026-12-01T00:00:00Z"];
    let files = [
        ("jamf-computers-inventory.json", "jamf", "jamf.obs"),
        ("intune-managed-devices.json", "intune", "intune.obs"),
        ("osquery-results.jsonl", "linux", "linux.obs"),
        ("falcon-devices.json", "edr", "falcon.obs"),
        ("defender-machines.json", "edr", "mde.obs"),
        ("defender-software-inventory.json", "edr", "mde-sw.obs"),
    ];
    for (file, provider, out) in files {
        let mut extra = at.to_vec();
        if provider == "jamf" {
            extra.extend(["--channel", "stable"]);
        }
        let o = ingest(d, file, provider, out, &extra);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", text(&o));
    }
    let o = airlock(d, &["inventory", "freshness", "--json", "--critical", "100000d", "--warn", "100000d"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json_out(&o)["entries"].as_array().unwrap().len(), 4, "jamf/stable, intune, linux, edr");

    let mut args = vec!["reconcile", "app.zip", "--stale-after", "100000d", "--json", "-o", "report.json"];
    for (_, _, out) in files {
        args.extend(["--inventory", out]);
    }
    let o = airlock(d, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report = json_out(&o);
    assert_eq!(report["schema"], "airlock/reconciliation-report/v1");
    for class in [
        "missing_observation",
        "version_drift",
        "binary_drift",
        "stale_observation",
        "unknown_target",
        "missing_data",
        "conflicting_observation",
    ] {
        assert!(report["summary"]["findings"][class].as_u64().unwrap() > 0, "{class}: {}", report["summary"]);
    }
    let finding = |endpoint: &str, class: &str| {
        report["findings"].as_array().unwrap().iter().any(|f| f["endpoint"] == endpoint && f["class"] == class)
    };
    assert!(finding("serial:C02OLD000002", "version_drift") && finding("host:lin-tampered", "binary_drift"));
    assert!(finding("serial:VMW-LIN-0009", "missing_data"), "an endpoint with no version is missing_data");
    assert!(finding("serial:W-OK-0001", "conflicting_observation"), "Intune and Defender disagree");
    let written: Value = serde_json::from_slice(&fs::read(d.join("report.json")).unwrap()).unwrap();
    assert_eq!(written, report);
    assert_eq!(ledger(&home).last().unwrap(), &("reconcile".to_string(), "fail".to_string()));

    // A plan by the operator; another key writes nothing.
    let plan = |key: &str, out: &str| {
        airlock(d, &["remediation", "plan", "report.json", "--strategy", "mixed", "--sla-hours", "48", "--sign-key", key, "-o", out])
    };
    let o = plan("b.key", "refused.dsse.json");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("promotion.signer"), "{}", text(&o));
    assert!(!d.join("refused.dsse.json").exists());
    let o = plan("op.key", "plan.dsse.json");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let env: Value = serde_json::from_slice(&fs::read(d.join("plan.dsse.json")).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.airlock.remediation-plan.v1+json");
    if schema_support::python_has("jsonschema") {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
        fs::write(d.join("plan.payload.json"), payload).unwrap();
        schema_support::validate("remediation-plan-v1.schema.json", &[d.join("plan.payload.json")]);
        schema_support::validate("reconciliation-report-v1.schema.json", &[d.join("report.json")]);
        let obs: Vec<_> = files.iter().map(|f| d.join(f.2)).collect();
        schema_support::validate("inventory-observations-v1.schema.json", &obs);
    }
    let l = ledger(&home);
    assert_eq!(&l[l.len() - 2..], [("remediation plan".into(), "fail".into()), ("remediation plan".into(), "pass".into())]);

    // An edited report is refused (its id no longer matches).
    let mut edited = written.clone();
    edited["summary"]["aligned"] = json!(9);
    fs::write(d.join("edited.json"), serde_json::to_vec(&edited).unwrap()).unwrap();
    let o = airlock(d, &["remediation", "plan", "edited.json", "--strategy", "republish", "--sign-key", "op.key", "-o", "p2.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("it was edited"), "{}", text(&o));
    assert!(!d.join("p2.json").exists());
}

#[test]
fn reconcile_exits_0_when_every_target_is_observed_and_aligned() {
    let w = work();
    let d = &w.dir;
    setup(d);
    let lines = fs::read_to_string(format!("{DATA}osquery-results.jsonl")).unwrap();
    fs::write(d.join("ok.jsonl"), lines.lines().next().unwrap()).unwrap();
    let o = ingest(d, "ok.jsonl", "linux", "ok.obs", &["--observed-at", "2026-12-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = airlock(d, &["reconcile", "lin.zip", "--inventory", "ok.obs", "--stale-after", "100000d"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 endpoints, 1 aligned, 0 drifted"), "{}", text(&o));
    // The same inventory against the whole fleet: every other target is unobserved.
    let o = airlock(d, &["reconcile", "app.zip", "--inventory", "ok.obs", "--stale-after", "100000d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("missing_observation - target=mac-fleet"), "{}", text(&o));
}

#[test]
fn the_exported_linux_script_installs_the_signed_binary_and_refuses_a_tampered_one() {
    let w = work();
    let d = &w.dir;
    setup(d);
    let o = airlock(d, &["export", "endpoint-management", "app.zip", "--format", "linux", "-o", "linux"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = d.join("linux");
    let sums = std::process::Command::new("sha256sum").arg("-c").arg("checksums.txt").current_dir(&out).output().unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    let manifest: Value = serde_json::from_slice(&fs::read(out.join("fleet-manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["installers"][0]["deploymentTargets"], json!(["gha-runner", "linux-servers"]));

    let install = |root: &Path| std::process::Command::new("sh").arg(out.join("install-linux-amd64.sh")).arg(root).output().unwrap();
    let good = d.join("root-good");
    let o = install(&good);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read(good.join("usr/local/bin/app")).unwrap(), b"app linux\n");

    fs::write(out.join("linux-amd64-app-linux-amd64"), b"app linux, tampered\n").unwrap();
    let bad = d.join("root-bad");
    let o = install(&bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing to install"), "{}", text(&o));
    assert!(!bad.exists(), "nothing installed, not even a directory");

    // Jamf and Intune exports verify before installing too.
    for (format, script) in [("jamf", "jamf-install-darwin-arm64.sh"), ("intune", "install-windows-arm64.ps1")] {
        let o = airlock(d, &["export", "endpoint-management", "app.zip", "--format", format, "-o", format]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let s = fs::read_to_string(d.join(format).join(script)).unwrap();
        let (check, copy) = if format == "jamf" { ("sha256_of \"$SRC\"", "cp --") } else { ("Get-FileHash", "Copy-Item") };
        assert!(s.find(check).unwrap() < s.find(copy).unwrap(), "{format}: verify before install\n{s}");
    }
    // The directory must be new.
    let o = airlock(d, &["export", "endpoint-management", "app.zip", "--format", "linux", "-o", "linux"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
