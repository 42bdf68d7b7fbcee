//! Deterministic generation of `vectors/inventory-v1/`: provider exports (the documented
//! examples of `tests/data/inventory/`, and cuts of them), desired states, and per case
//! `NAME.case.json` (which exports, as which provider, at which time) with `NAME.expected.json`
//! saying what a reconciler must answer: outcome, report id, summary and every finding's
//! endpoint, class, target and field (format-spec/inventory-v1.md §5).

use crate::inventory::Provider;
use crate::inventory::providers::{Ingest, ingest};
use crate::inventory::reconcile::{Desired, DesiredTarget, Report, reconcile};
use crate::promotion::BundleRef;
use crate::time::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const JAMF: &[u8] = include_bytes!("../../tests/data/inventory/jamf-computers-inventory.json");
const INTUNE: &[u8] = include_bytes!("../../tests/data/inventory/intune-managed-devices.json");
const OSQUERY: &[u8] = include_bytes!("../../tests/data/inventory/osquery-results.jsonl");
const FALCON: &[u8] = include_bytes!("../../tests/data/inventory/falcon-devices.json");
const MDE: &[u8] = include_bytes!("../../tests/data/inventory/defender-machines.json");
const MDE_SW: &[u8] = include_bytes!("../../tests/data/inventory/defender-software-inventory.json");

const AT: &str = "2026-12-01T00:00:00Z";

fn target(id: &str, platform: &str, channel: &str, tool: &str, installer: &str, binary: &[u8]) -> DesiredTarget {
    DesiredTarget {
        id: id.into(),
        platform: platform.into(),
        channel: channel.into(),
        management_tool: tool.into(),
        installer: installer.into(),
        digest: crate::digest::Sha256Digest::of(binary),
        install_path: if platform.starts_with("windows") { "C:\\Program Files\\app\\app.exe" } else { "/usr/local/bin/app" }.into(),
        version: "1.2.0".into(),
        expected: true,
        rollback: vec!["reinstall 1.1.0".into()],
    }
}

/// The fixtures' fleet: `only_linux` keeps the Linux servers; `expected` false says the release
/// has not reached their channel yet.
fn desired(only_linux: bool, expected: bool) -> Desired {
    let mut targets = vec![target("linux-servers", "linux/amd64", "stable", "fleet", "linux-amd64", b"app linux\n")];
    if !only_linux {
        targets.extend([
            target("mac-canary", "darwin/arm64", "canary", "jamf", "darwin-arm64", b"app darwin\n"),
            target("mac-fleet", "darwin/arm64", "stable", "jamf", "darwin-arm64", b"app darwin\n"),
            target("win-fleet", "windows/arm64", "stable", "intune", "windows-arm64", b"MZ pretend\n"),
        ]);
    }
    for t in &mut targets {
        t.expected = expected;
    }
    Desired {
        bundle: BundleRef {
            bundle_id: format!("sha256:{}", "ab".repeat(32)),
            manifest_digest: crate::digest::Sha256Digest([1; 32]),
            product: "app".into(),
            version: "1.2.0".into(),
        },
        targets,
    }
}

/// `desired.json`'s form: the bundle and its targets.
pub fn desired_to_json(d: &Desired) -> Value {
    json!({"bundle": d.bundle, "targets": d.targets})
}

/// Reads `desired.json`'s form back.
pub fn desired_from_json(v: &Value) -> Result<Desired, serde_json::Error> {
    Ok(Desired { bundle: serde_json::from_value(v["bundle"].clone())?, targets: serde_json::from_value(v["targets"].clone())? })
}

/// One case: exports (file, provider, channel), evaluation time, stale-after, the desired state
/// file, and the drift classes it is built to produce (the generator refuses a case that does not).
struct Case {
    name: &'static str,
    what: &'static str,
    desired: &'static str,
    exports: Vec<(&'static str, Provider, Option<&'static str>)>,
    stale_after: u64,
    must: &'static [&'static str],
}

/// Every file of `vectors/inventory-v1/` (README.md aside) by relative path.
pub fn inventory_v1_vectors() -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let lin_ok = OSQUERY.split(|&b| b == b'\n').next().expect("a first line").to_vec();
    for (name, bytes) in [
        ("jamf-computers-inventory.json", JAMF.to_vec()),
        ("intune-managed-devices.json", INTUNE.to_vec()),
        ("osquery-results.jsonl", OSQUERY.to_vec()),
        ("osquery-lin-ok.jsonl", [lin_ok, b"\n".to_vec()].concat()),
        ("falcon-devices.json", FALCON.to_vec()),
        ("defender-machines.json", MDE.to_vec()),
        ("defender-software-inventory.json", MDE_SW.to_vec()),
    ] {
        files.insert(format!("exports/{name}"), bytes);
    }
    let desireds = [
        ("desired-fleet.json", desired(false, true)),
        ("desired-linux.json", desired(true, true)),
        ("desired-linux-not-reached.json", desired(true, false)),
    ];
    for (name, d) in &desireds {
        files.insert(name.to_string(), pretty(&desired_to_json(d)));
    }
    let all = vec![
        ("exports/jamf-computers-inventory.json", Provider::Jamf, Some("stable")),
        ("exports/intune-managed-devices.json", Provider::Intune, None),
        ("exports/osquery-results.jsonl", Provider::Linux, None),
        ("exports/falcon-devices.json", Provider::Edr, None),
        ("exports/defender-machines.json", Provider::Edr, None),
        ("exports/defender-software-inventory.json", Provider::Edr, None),
    ];
    let day = 86_400;
    let cases = [
        Case {
            name: "every-class",
            what: "the six documented exports against the whole fleet: every drift class",
            desired: "desired-fleet.json",
            exports: all.clone(),
            stale_after: 2 * day,
            must: &[
                "missing_observation",
                "version_drift",
                "binary_drift",
                "stale_observation",
                "unknown_target",
                "missing_data",
                "conflicting_observation",
            ],
        },
        Case {
            name: "aligned",
            what: "one Linux server with the signed binary and version, seen in time: aligned",
            desired: "desired-linux.json",
            exports: vec![("exports/osquery-lin-ok.jsonl", Provider::Linux, None)],
            stale_after: 2 * day,
            must: &[],
        },
        Case {
            name: "stale",
            what: "the same server last seen more than a day before the evaluation: stale_observation",
            desired: "desired-linux.json",
            exports: vec![("exports/osquery-lin-ok.jsonl", Provider::Linux, None)],
            stale_after: day,
            must: &["stale_observation"],
        },
        Case {
            name: "unobserved-targets",
            what: "only one Linux server against the whole fleet: every other target is missing_observation",
            desired: "desired-fleet.json",
            exports: vec![("exports/osquery-lin-ok.jsonl", Provider::Linux, None)],
            stale_after: 2 * day,
            must: &["missing_observation"],
        },
        Case {
            name: "binary-drift",
            what: "osquery's hosts against the Linux servers: a tampered binary is binary_drift",
            desired: "desired-linux.json",
            exports: vec![("exports/osquery-results.jsonl", Provider::Linux, None)],
            stale_after: 2 * day,
            must: &["binary_drift"],
        },
        Case {
            name: "conflicting",
            what: "Intune and Defender's software inventory disagree about one machine's version: conflicting_observation; no digest: missing_data",
            desired: "desired-fleet.json",
            exports: vec![
                ("exports/intune-managed-devices.json", Provider::Intune, None),
                ("exports/defender-software-inventory.json", Provider::Edr, None),
            ],
            stale_after: 2 * day,
            must: &["conflicting_observation", "missing_data"],
        },
        Case {
            name: "not-reached",
            what: "the release has not reached the Linux servers' channel: nothing is expected of them",
            desired: "desired-linux-not-reached.json",
            exports: vec![("exports/osquery-results.jsonl", Provider::Linux, None)],
            stale_after: 2 * day,
            must: &[],
        },
    ];
    let at = Timestamp::parse(AT).expect("a time");
    for c in cases {
        let d = &desireds.iter().find(|(n, _)| *n == c.desired).expect("a desired state").1;
        let obs: Vec<_> = c
            .exports
            .iter()
            .map(|(f, p, ch)| {
                let i = Ingest { provider: *p, product: "app".into(), channel: ch.map(String::from), deployment: None, observed_at: at };
                ingest(&files[*f], &i).unwrap_or_else(|e| panic!("vector {}: {f}: {e}", c.name))
            })
            .collect();
        let r = reconcile(d, &obs, at, c.stale_after).unwrap_or_else(|e| panic!("vector {}: {e}", c.name));
        for class in c.must {
            assert!(r.findings.iter().any(|f| f.class.name() == *class), "vector {}: no {class} in {:?}", c.name, r.summary);
        }
        let case = json!({
            "description": c.what,
            "desired": c.desired,
            "evaluatedAt": at,
            "staleAfterSeconds": c.stale_after,
            "product": "app",
            "exports": c.exports.iter().map(|(f, p, ch)| json!({"file": f, "provider": p, "channel": ch, "observedAt": at})).collect::<Vec<_>>(),
        });
        files.insert(format!("{}.case.json", c.name), pretty(&case));
        files.insert(format!("{}.expected.json", c.name), pretty(&expected(&r)));
    }
    files
}

/// What `NAME.expected.json` holds of a report.
pub fn expected(r: &Report) -> Value {
    json!({
        "outcome": r.outcome,
        "reportId": r.report_id,
        "summary": r.summary,
        "findings": r.findings.iter().map(|f| json!({"endpoint": f.endpoint, "class": f.class, "target": f.target, "field": f.field})).collect::<Vec<_>>(),
    })
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON");
    b.push(b'\n');
    b
}
