//! The release metadata, upgrade report and smoke report schemas describe what airlock writes:
//! real output validated with Python's `jsonschema` (an independent implementation).

mod release_support;
mod schema_support;

use release_support::*;
use schema_support::{python_has, validate};

#[test]
fn release_documents_match_their_schemas() {
    if !python_has("jsonschema") {
        return;
    }
    let w = work();
    let d = &w.dir;
    let bin = b"\x7fELF schema test\n";
    let probe = serde_json::json!({"args": ["--version"], "expectExitCode": 0, "expectOutput": "x", "expectJson": {"pointer": "/v", "equals": [1]}});
    let meta = metadata("artifacts/app", bin, probe);
    let rel = layout(d, "rel", bin, true);
    assert!(pack(d, &rel, &meta, "1.2.0", "cur.zip", &["a"]).status.success());
    assert!(pack(d, &rel, &meta, "1.1.0", "old.zip", &["a"]).status.success());
    assert!(pack(d, &rel, &meta, "1.3.0", "next.zip", &["b"]).status.success());
    let bytes = std::fs::read(d.join("cur.zip")).unwrap();
    let idx = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
    let m = airlock::archive::read_member(&bytes, idx.get("release/airlock-release.json").unwrap(), 1 << 20).unwrap();
    std::fs::write(d.join("meta.json"), m).unwrap();
    validate("release-metadata-v1.schema.json", &[d.join("meta.json")]);

    assert!(airlock(d, &["keygen", "-o", "root"]).status.success());
    let far = "2099-01-01T00:00:00Z";
    trust_root(d, "root.json", &["--role", "root:1:root.pub", "--role", "release:1:a.pub,b.pub", "--expires", far], &["root"]);
    let mut reports = Vec::new();
    for (i, args) in [
        vec!["cur.zip", "next.zip", "--trust-root", "root.json"],
        vec!["cur.zip", "next.zip", "--key", "a.pub", "--key", "b.pub", "--threshold", "1"],
        vec!["cur.zip", "old.zip", "--key", "a.pub"],
        vec!["cur.zip", "next.zip", "--key", "a.pub"],
        vec!["cur.zip", "missing.zip", "--key", "a.pub"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = vec!["upgrade-validate", "--json"];
        a.extend(args);
        let o = airlock(d, &a);
        let p = d.join(format!("u{i}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        reports.push(p);
    }
    validate("upgrade-report-v1.schema.json", &reports);

    let mut reports = Vec::new();
    for (i, args) in [vec!["cur.zip", "--skip-execution"], vec!["cur.zip"], vec!["missing.zip"]].into_iter().enumerate() {
        let mut a = vec!["smoke", "--json", "--key", "a.pub"];
        a.extend(args);
        let o = airlock(d, &a);
        let p = d.join(format!("s{i}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        reports.push(p);
    }
    validate("smoke-report-v1.schema.json", &reports);
}
