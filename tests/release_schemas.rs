//! The release metadata, upgrade report and smoke report schemas describe what airlock writes:
//! real output validated with Python's `jsonschema` (an independent implementation).

mod release_support;

use release_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python_has(module: &str) -> bool {
    let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("AIRLOCK_REQUIRE_INTEROP").is_err(), "python module {module} is required (run `cargo xtask setup`)");
        eprintln!("SKIP: python module {module} missing; run `cargo xtask setup`");
    }
    ok
}

const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
for path in sys.argv[2:]:
    jsonschema.validate(json.load(open(path)), schema, cls=jsonschema.Draft202012Validator)
print("ok", len(sys.argv) - 2)
"#;

fn validate(schema: &str, docs: &[PathBuf]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("python3").arg("-c").arg(VALIDATE).arg(root.join("format-spec/schemas").join(schema)).args(docs).output().unwrap();
    assert!(o.status.success(), "{schema}: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("ok {}", docs.len()));
}

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
