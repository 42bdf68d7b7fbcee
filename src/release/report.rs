//! Report documents of `upgrade-validate` and `smoke` (sans-I/O): schema ids, the summary of a
//! verification embedded in them, and the bytes `--out DIR` writes (the report as RFC 8785 JSON
//! plus a `sha256sum -c` file over it).

use crate::bundle::checksums;
use crate::digest::Sha256Digest;
use crate::json;
use crate::report::Status;
use crate::verify::VerifyReport;
use serde_json::{Value, json};

/// Schema id of the upgrade report.
pub const UPGRADE_REPORT_SCHEMA: &str = "airlock/upgrade-report/v1";
/// Schema id of the smoke report.
pub const SMOKE_REPORT_SCHEMA: &str = "airlock/smoke-report/v1";

/// A verification in short: identity, trust and every failed check (all checks are counted).
pub fn verify_summary(r: &VerifyReport) -> Value {
    let failed: Vec<&crate::report::Check> = r.checks().iter().filter(|c| c.status == Status::Fail).collect();
    json!({
        "outcome": r.outcome(),
        "bundleId": r.bundle_id(),
        "release": r.release(),
        "merkleRoot": r.merkle_root(),
        "trust": r.trust(),
        "checks": r.checks().len(),
        "passed": r.checks().iter().filter(|c| c.status == Status::Pass).count(),
        "failed": failed,
    })
}

/// The files `--out DIR` holds for a report named `name` (e.g. `smoke-report`):
/// `name.json` (RFC 8785 plus LF) and `name.json.sha256` (GNU `sha256sum` format).
pub fn out_files(name: &str, doc: &Value) -> Vec<(String, Vec<u8>)> {
    let mut body = json::canonical_value(doc);
    body.push(b'\n');
    let file = format!("{name}.json");
    let sums = checksums::render([(file.as_str(), &Sha256Digest::of(&body))]);
    vec![(file.clone(), body), (format!("{file}.sha256"), sums)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_file_covers_the_report_bytes() {
        let files = out_files("smoke-report", &json!({"schema": SMOKE_REPORT_SCHEMA, "b": 1, "a": [2]}));
        assert_eq!(files[0].0, "smoke-report.json");
        assert_eq!(files[0].1, b"{\"a\":[2],\"b\":1,\"schema\":\"airlock/smoke-report/v1\"}\n");
        let want = format!("{}  smoke-report.json\n", Sha256Digest::of(&files[0].1).hex());
        assert_eq!(files[1], ("smoke-report.json.sha256".to_string(), want.into_bytes()));
    }
}
