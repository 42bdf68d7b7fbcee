//! Deterministic generation of `vectors/evidence-ledger-v1/`: chains as JSON Lines (valid and
//! broken), each with `NAME.expected.json` saying what a verifier must answer
//! (format-spec/evidence-ledger-v1.md §8).

use crate::json;
use crate::ledger::chain::verify_jsonl;
use crate::ledger::{Draft, GENESIS_PREV, Outcome, Sealed, Subject};
use crate::time::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn draft(site: &str, n: u64) -> Draft {
    let outcome = [Outcome::Pass, Outcome::Fail, Outcome::Error][(n % 3) as usize];
    Draft {
        site_id: site.to_string(),
        recorded_at: Timestamp(1_798_761_600 + 60 * n as i64),
        command: if n.is_multiple_of(3) { "gate".into() } else { "verify".into() },
        subject: Subject {
            bundle_id: Some(format!("{:064x}", n)),
            product: Some("hello".into()),
            version: Some(format!("1.{n}.0")),
            channel: Some("stable".into()),
            artifact_digest: None,
        },
        outcome,
        report: json!({"schema": "airlock/verify-report/v1", "outcome": outcome.name(), "n": n, "note": "é ☃ \u{1F600}"}),
    }
}

fn chain(site: &str, n: u64) -> Vec<Sealed> {
    let mut prev = GENESIS_PREV;
    (1..=n)
        .map(|i| {
            let s = draft(site, i).seal(i, prev);
            prev = s.record.hash;
            s
        })
        .collect()
}

fn edit(s: &Sealed, f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&s.bytes).expect("sealed bytes are JSON");
    f(&mut v);
    json::canonical_value(&v)
}

fn jsonl(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
}

/// Where each case is meant to break (seq, rule id); `None`: valid.
fn expected_break(name: &str) -> Option<(u64, &'static str)> {
    match name {
        "report-edited" => Some((2, "ledger.report-digest")),
        "field-edited" => Some((3, "ledger.hash")),
        "hash-edited" => Some((4, "ledger.hash")),
        "deleted" => Some((2, "ledger.seq-gap")),
        "swapped" => Some((2, "ledger.seq-gap")),
        "relinked" => Some((3, "ledger.link")),
        "other-site" => Some((2, "ledger.site")),
        "genesis-prev" => Some((1, "ledger.link")),
        "not-canonical" => Some((2, "ledger.record")),
        "duplicate-key" => Some((2, "ledger.record")),
        "seq-repeated" => Some((3, "ledger.seq-gap")),
        _ => None,
    }
}

/// Every file of `vectors/evidence-ledger-v1/` (README.md aside) by relative path.
pub fn evidence_ledger_v1_vectors() -> BTreeMap<String, Vec<u8>> {
    let site = super::test_key("site-a").public().keyid().hex();
    let other = super::test_key("site-b").public().keyid().hex();
    let c = chain(&site, 4);
    let plain: Vec<Vec<u8>> = c.iter().map(|s| s.bytes.clone()).collect();
    let mut cases: Vec<(&str, &str, Vec<Vec<u8>>)> = vec![("valid-one", "a chain of one record", plain[..1].to_vec())];
    cases.push(("valid-four", "four records: pass, fail, error outcomes, non-ASCII report text", plain.clone()));
    let mut r = plain.clone();
    r[1] = edit(&c[1], |v| v["report"]["outcome"] = "pass".into());
    cases.push(("report-edited", "record 2's report changed, reportDigest not", r));
    let mut r = plain.clone();
    r[2] = edit(&c[2], |v| v["outcome"] = "fail".into());
    cases.push(("field-edited", "record 3's outcome changed, hash not", r));
    let mut r = plain.clone();
    r[3] = edit(&c[3], |v| v["hash"] = format!("sha256:{}", "0".repeat(64)).into());
    cases.push(("hash-edited", "record 4's hash replaced", r));
    let mut r = plain.clone();
    r.remove(1);
    cases.push(("deleted", "record 2 deleted", r));
    let mut r = plain.clone();
    r.swap(1, 2);
    cases.push(("swapped", "records 2 and 3 swapped", r));
    let mut r = plain.clone();
    let mut d = draft(&site, 2);
    d.outcome = Outcome::Pass;
    r[1] = d.seal(2, c[0].record.hash).bytes;
    cases.push(("relinked", "record 2 replaced by a self-consistent record; record 3's prev no longer matches", r));
    let mut r = plain.clone();
    r[1] = draft(&other, 2).seal(2, c[0].record.hash).bytes;
    cases.push(("other-site", "record 2 is another site's", r));
    let mut r = plain.clone();
    r[0] = draft(&site, 1).seal(1, crate::digest::Sha256Digest([0x11; 32])).bytes;
    cases.push(("genesis-prev", "record 1 sealed after a prev that is not 64 zeros", r));
    let mut r = plain.clone();
    let text = String::from_utf8(plain[1].clone()).expect("utf-8");
    r[1] = text.replacen(",\"hash\":", ", \"hash\":", 1).into_bytes();
    cases.push(("not-canonical", "record 2 has a space: not RFC 8785", r));
    let mut r = plain.clone();
    r[1] = text.replacen("{", "{\"command\":\"gate\",", 1).into_bytes();
    cases.push(("duplicate-key", "record 2 has two command members", r));
    let mut r = plain.clone();
    r[2] = edit(&c[2], |v| v["seq"] = 2.into());
    cases.push(("seq-repeated", "record 3 says seq 2", r));

    let mut files = BTreeMap::new();
    for (name, what, lines) in cases {
        let bytes = jsonl(&lines);
        let expected = match (verify_jsonl(&bytes), expected_break(name)) {
            (Ok(s), None) => json!({"description": what, "result": "valid", "count": s.count, "head": s.head}),
            (Err(b), Some((seq, rule))) if b.seq == seq && b.rule.id() == rule => {
                json!({"description": what, "result": "broken", "seq": b.seq, "rule": b.rule.id()})
            }
            (got, want) => panic!("vector {name}: the verifier answers {got:?}, the vector is meant to break {want:?}"),
        };
        let mut e = serde_json::to_vec_pretty(&expected).expect("JSON");
        e.push(b'\n');
        files.insert(format!("{name}.jsonl"), bytes);
        files.insert(format!("{name}.expected.json"), e);
    }
    files
}
