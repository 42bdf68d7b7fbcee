//! Audit exports: ledger records rendered in the shapes other products ingest
//! (format-spec/evidence-ledger-v1.md §9, which cites each product's documentation). Sans-I/O:
//! records in, file bytes out. Unsigned copies for other tools; the signed export is the evidence.

use super::{Outcome, Record};
use serde_json::{Value, json};

/// An audit file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    /// One canonical record per line (as in the signed export).
    Jsonl,
    /// RFC 4180 CSV, one row per record, a header row.
    Csv,
    /// Splunk HTTP Event Collector events (`/services/collector/event`), one per line.
    SplunkHec,
    /// Microsoft Sentinel / Azure Monitor Logs Ingestion API: a JSON array for a custom table.
    Sentinel,
    /// Datadog logs intake v2 (`/api/v2/logs`): JSON arrays of at most 1,000 log items, one per line.
    Datadog,
    /// A generic webhook payload (`airlock/evidence-webhook/v1`).
    Webhook,
    /// Jira Cloud REST v3 create-issue bodies (`POST /rest/api/3/issue`), one per failed or errored record, one per line.
    Jira,
    /// ServiceNow Table API incident-create bodies (`POST /api/now/table/incident`), one per failed or errored record, one per line.
    Servicenow,
}

impl AuditFormat {
    /// Every format, with its command-line name.
    pub const ALL: [(AuditFormat, &'static str); 8] = [
        (AuditFormat::Jsonl, "jsonl"),
        (AuditFormat::Csv, "csv"),
        (AuditFormat::SplunkHec, "splunk-hec"),
        (AuditFormat::Sentinel, "sentinel"),
        (AuditFormat::Datadog, "datadog"),
        (AuditFormat::Webhook, "webhook"),
        (AuditFormat::Jira, "jira"),
        (AuditFormat::Servicenow, "servicenow"),
    ];

    /// The format named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }
}

/// Settings some formats need.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Jira project key.
    pub jira_project: String,
    /// Jira issue type name.
    pub jira_issue_type: String,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions { jira_project: "AIRLOCK".into(), jira_issue_type: "Task".into() }
    }
}

/// Datadog's documented maximum array size per request.
pub const DATADOG_MAX_BATCH: usize = 1000;

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// One line in words: `verify fail hello 1.0.0 (evidence #2 of site ab12cd34)`.
pub fn summary(r: &Record) -> String {
    let s = &r.subject;
    let what = [opt(&s.product), opt(&s.version)].iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>().join(" ");
    format!(
        "airlock {} {}{} (evidence #{} of site {})",
        r.command,
        r.outcome.name(),
        if what.is_empty() { String::new() } else { format!(" {what}") },
        r.seq,
        &r.site_id[..r.site_id.len().min(16)]
    )
}

fn record_value(r: &Record) -> Value {
    serde_json::to_value(r).expect("records serialise")
}

fn lines(values: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(&crate::json::canonical_value(&v));
        out.push(b'\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn decided_badly(r: &&Record) -> bool {
    r.outcome != Outcome::Pass
}

/// Renders `records` (ascending) in `format`.
pub fn render(format: AuditFormat, records: &[Record], o: &AuditOptions) -> Vec<u8> {
    match format {
        AuditFormat::Jsonl => lines(records.iter().map(record_value)),
        AuditFormat::Csv => {
            let mut s = String::from(
                "seq,recordedAt,siteId,command,outcome,product,version,channel,bundleId,artifactDigest,reportDigest,prev,hash\r\n",
            );
            for r in records {
                let x = &r.subject;
                let row = [
                    r.seq.to_string(),
                    r.recorded_at.rfc3339(),
                    r.site_id.clone(),
                    r.command.clone(),
                    r.outcome.name().into(),
                    opt(&x.product).into(),
                    opt(&x.version).into(),
                    opt(&x.channel).into(),
                    opt(&x.bundle_id).into(),
                    opt(&x.artifact_digest).into(),
                    r.report_digest.prefixed(),
                    r.prev.prefixed(),
                    r.hash.prefixed(),
                ];
                s.push_str(&row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
                s.push_str("\r\n");
            }
            s.into_bytes()
        }
        AuditFormat::SplunkHec => lines(records.iter().map(|r| {
            json!({
                "time": r.recorded_at.0,
                "host": r.site_id,
                "source": "airlock",
                "sourcetype": "_json",
                "event": record_value(r),
                "fields": {"command": r.command, "outcome": r.outcome.name(), "seq": r.seq.to_string(), "product": opt(&r.subject.product)},
            })
        })),
        AuditFormat::Sentinel => {
            let rows: Vec<Value> = records
                .iter()
                .map(|r| {
                    let x = &r.subject;
                    json!({
                        "TimeGenerated": r.recorded_at.rfc3339(),
                        "SiteId": r.site_id, "Seq": r.seq, "Command": r.command, "Outcome": r.outcome.name(),
                        "Product": opt(&x.product), "Version": opt(&x.version), "Channel": opt(&x.channel),
                        "BundleId": opt(&x.bundle_id), "ArtifactDigest": opt(&x.artifact_digest),
                        "ReportDigest": r.report_digest.prefixed(), "RecordHash": r.hash.prefixed(), "PrevHash": r.prev.prefixed(),
                        "Record": record_value(r),
                    })
                })
                .collect();
            let mut b = crate::json::canonical_value(&Value::Array(rows));
            b.push(b'\n');
            b
        }
        AuditFormat::Datadog => lines(records.chunks(DATADOG_MAX_BATCH).map(|chunk| {
            Value::Array(
                chunk
                    .iter()
                    .map(|r| {
                        let x = &r.subject;
                        let mut tags = vec![format!("command:{}", r.command), format!("outcome:{}", r.outcome.name())];
                        for (k, v) in [("product", &x.product), ("version", &x.version), ("channel", &x.channel)] {
                            if let Some(v) = v {
                                tags.push(format!("{k}:{v}"));
                            }
                        }
                        json!({
                            "ddsource": "airlock",
                            "ddtags": tags.join(","),
                            "hostname": r.site_id,
                            "service": "airlock",
                            "status": match r.outcome { Outcome::Pass => "info", Outcome::Fail => "warning", Outcome::Error => "error" },
                            "message": summary(r),
                            "airlock": record_value(r),
                        })
                    })
                    .collect(),
            )
        })),
        AuditFormat::Webhook => {
            let mut b = crate::json::canonical_value(&json!({
                "schema": "airlock/evidence-webhook/v1",
                "count": records.len(),
                "records": records.iter().map(record_value).collect::<Vec<_>>(),
            }));
            b.push(b'\n');
            b
        }
        AuditFormat::Jira => lines(records.iter().filter(decided_badly).map(|r| {
            let para = |t: String| json!({"type": "paragraph", "content": [{"type": "text", "text": t}]});
            json!({"fields": {
                "project": {"key": o.jira_project},
                "issuetype": {"name": o.jira_issue_type},
                "summary": summary(r).chars().take(255).collect::<String>(),
                "description": {"type": "doc", "version": 1, "content": [
                    para(format!("airlock recorded a {} verdict of {} at {}.", r.outcome.name(), r.command, r.recorded_at)),
                    para(format!("Evidence record #{} {} (site {}); report digest {}.", r.seq, r.hash, r.site_id, r.report_digest)),
                    para(format!("Check it on the site: airlock evidence show {}", r.hash)),
                ]},
                "labels": ["airlock", format!("airlock-{}", r.outcome.name())],
            }})
        })),
        AuditFormat::Servicenow => lines(records.iter().filter(decided_badly).map(|r| {
            let level = if r.outcome == Outcome::Error { "2" } else { "3" };
            json!({
                "short_description": summary(r).chars().take(160).collect::<String>(),
                "description": format!(
                    "airlock recorded a {} verdict of {} at {}.\nEvidence record #{} {} (site {}), report digest {}.\nCheck it on the site: airlock evidence show {}",
                    r.outcome.name(), r.command, r.recorded_at, r.seq, r.hash, r.site_id, r.report_digest, r.hash
                ),
                "urgency": level,
                "impact": level,
                "correlation_id": r.hash.prefixed(),
                "correlation_display": "airlock",
            })
        })),
    }
}
