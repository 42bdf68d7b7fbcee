//! Shared by the schema tests: validate real airlock output against `format-spec/schemas/`
//! with Python's `jsonschema` (an independent implementation).

use std::path::Path;
use std::process::Command;

/// True when the Python module imports; when it does not, fails under
/// `AIRLOCK_REQUIRE_INTEROP=1`, else prints a loud SKIP.
pub fn python_has(module: &str) -> bool {
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

/// Validates every document against `format-spec/schemas/<schema>`; panics naming the failure.
pub fn validate<P: AsRef<Path>>(schema: &str, docs: &[P]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(root.join("format-spec/schemas").join(schema))
        .args(docs.iter().map(|d| d.as_ref()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{schema}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("ok {}", docs.len()), "{schema}: every document checked");
}
