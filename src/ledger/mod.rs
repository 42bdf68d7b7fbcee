//! The evidence ledger (format-spec/evidence-ledger-v1.md): every decision as a hash-chained
//! record, the chain rules, and the [`Ledger`] trait a store implements.
//!
//! Sans-I/O: records are built from values ([`Draft`] + sequence number + previous hash) and
//! checked from bytes. The report a command printed is an opaque [`serde_json::Value`]; the
//! ledger never depends on report types. The store (`crate::store::ledger`, SQLite) is the only
//! code that knows how records are kept.

pub mod audit;
pub mod chain;
pub mod export;

pub use chain::{Broken, ChainCheck, ChainSummary, Rule, StoredRecord};

use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Schema id of a record.
pub const RECORD_SCHEMA: &str = "airlock/evidence-record/v1";
/// The `prev` of record 1: 64 zero hex digits.
pub const GENESIS_PREV: Sha256Digest = Sha256Digest([0; 32]);
/// Largest stored record accepted (report included).
pub const MAX_RECORD_SIZE: usize = 16 << 20;

/// How a deciding command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check passed (exit 0).
    Pass,
    /// A check failed or the gate denied (exit 1).
    Fail,
    /// Could not check (exit 2).
    Error,
}

impl Outcome {
    /// All outcomes.
    pub const ALL: [Outcome; 3] = [Outcome::Pass, Outcome::Fail, Outcome::Error];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a command's exit code (0 pass, 1 fail, anything else error).
    pub fn from_exit(code: u8) -> Self {
        match code {
            0 => Outcome::Pass,
            1 => Outcome::Fail,
            _ => Outcome::Error,
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// What a decision was about, as far as the command knew it. Absent fields are omitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// The bundle id (`sha256:...` of the manifest), when a bundle was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The release's product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The release's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The release channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The artifact digest the decision was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_digest: Option<String>,
}

/// A record before the store numbers and chains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// The site key's id (hex).
    pub site_id: String,
    /// When the decision was recorded (from `clock`).
    pub recorded_at: Timestamp,
    /// The deciding command (`verify`, `gate`, ...).
    pub command: String,
    /// What it was about.
    pub subject: Subject,
    /// How it ended.
    pub outcome: Outcome,
    /// The `--json` document the command printed (or would have).
    pub report: Value,
}

/// One ledger record (`airlock/evidence-record/v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// Always [`RECORD_SCHEMA`].
    pub schema: String,
    /// Sequence number, from 1, contiguous.
    pub seq: u64,
    /// The site key's id (hex).
    pub site_id: String,
    /// When recorded.
    pub recorded_at: Timestamp,
    /// The deciding command.
    pub command: String,
    /// What it was about.
    pub subject: Subject,
    /// How it ended.
    pub outcome: Outcome,
    /// SHA-256 of the RFC 8785 bytes of `report`.
    pub report_digest: Sha256Digest,
    /// The command's report.
    pub report: Value,
    /// The hash of record `seq - 1`, or [`GENESIS_PREV`] for seq 1.
    pub prev: Sha256Digest,
    /// SHA-256 of the RFC 8785 bytes of this record without `hash`.
    pub hash: Sha256Digest,
}

/// A record as sealed: the value and its RFC 8785 bytes (what the store keeps).
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed {
    /// The record.
    pub record: Record,
    /// Its canonical bytes, `hash` included.
    pub bytes: Vec<u8>,
}

/// Errors of the ledger core.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A record's bytes are not a valid v1 record.
    #[error(
        "evidence record is not a valid {RECORD_SCHEMA} record: {0}\n  hint: the ledger database or export was edited or truncated; run `airlock evidence verify`"
    )]
    Malformed(#[from] JsonError),
    /// A record names another schema.
    #[error(
        "evidence record has schema {found:?}, expected {RECORD_SCHEMA:?}\n  hint: this airlock reads {RECORD_SCHEMA} only; use the airlock that wrote it"
    )]
    Schema {
        /// The schema found.
        found: String,
    },
    /// A record is larger than [`MAX_RECORD_SIZE`].
    #[error(
        "evidence record is {size} bytes, more than the {MAX_RECORD_SIZE} allowed\n  hint: a report that large is not one airlock wrote"
    )]
    TooLarge {
        /// Its size.
        size: usize,
    },
}

/// SHA-256 of the RFC 8785 form of a report.
pub fn report_digest(report: &Value) -> Sha256Digest {
    Sha256Digest::of(&json::canonical_value(report))
}

/// The hash of a record's value: SHA-256 over the RFC 8785 bytes of the object without `hash`.
fn hash_of(mut v: Value) -> Sha256Digest {
    if let Value::Object(m) = &mut v {
        m.remove("hash");
    }
    Sha256Digest::of(&json::canonical_value(&v))
}

impl Draft {
    /// Numbers and chains the draft: record `seq` after the record whose hash is `prev`.
    pub fn seal(self, seq: u64, prev: Sha256Digest) -> Sealed {
        let mut record = Record {
            schema: RECORD_SCHEMA.to_string(),
            seq,
            site_id: self.site_id,
            recorded_at: self.recorded_at,
            command: self.command,
            subject: self.subject,
            outcome: self.outcome,
            report_digest: report_digest(&self.report),
            report: self.report,
            prev,
            hash: Sha256Digest([0; 32]),
        };
        let v = serde_json::to_value(&record).expect("a record always serialises");
        record.hash = hash_of(v.clone());
        let mut v = v;
        v["hash"] = Value::String(record.hash.prefixed());
        Sealed { bytes: json::canonical_value(&v), record }
    }
}

/// Every member of a record but its report's content: what the chain rules read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fields {
    schema: String,
    pub(crate) seq: u64,
    pub(crate) site_id: String,
    recorded_at: Timestamp,
    command: String,
    subject: Subject,
    outcome: Outcome,
    pub(crate) report_digest: Sha256Digest,
    pub(crate) prev: Sha256Digest,
    pub(crate) hash: Sha256Digest,
}

/// A record's bytes checked alone (strict, canonical, a v1 record), with the two digests the
/// chain rules compare recomputed from those bytes.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) fields: Fields,
    /// Where the report's bytes are.
    report: std::ops::Range<usize>,
    /// SHA-256 of the bytes without the `hash` member.
    pub(crate) hash: Sha256Digest,
    /// SHA-256 of the report's bytes.
    pub(crate) report_digest: Sha256Digest,
}

impl Record {
    /// Parses stored bytes strictly (duplicate keys, unknown fields and non-canonical bytes
    /// refused). Hashes are not checked here: that is [`ChainCheck`]'s job.
    pub fn parse(bytes: &[u8]) -> Result<Self, LedgerError> {
        let c = Self::parse_checked(bytes)?;
        let report = json::parse_strict(&bytes[c.report])?;
        let f = c.fields;
        Ok(Record {
            schema: f.schema,
            seq: f.seq,
            site_id: f.site_id,
            recorded_at: f.recorded_at,
            command: f.command,
            subject: f.subject,
            outcome: f.outcome,
            report_digest: f.report_digest,
            report,
            prev: f.prev,
            hash: f.hash,
        })
    }

    /// Checks stored bytes strictly and recomputes what the chain rules compare, without
    /// building the report: one validating pass over the bytes (`json::canonical_members`:
    /// strict and already RFC 8785, so every member's bytes are its canonical form), the small
    /// members parsed, and two hashes over the stored bytes themselves: the report member's
    /// value, and the whole record less its `hash` member and the comma joining it.
    pub(crate) fn parse_checked(bytes: &[u8]) -> Result<Checked, LedgerError> {
        use sha2::Digest as _;
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(LedgerError::TooLarge { size: bytes.len() });
        }
        let members = json::canonical_members(bytes)?;
        // Every member read from its canonical bytes (already strict: no duplicate key, no
        // integer beyond 2^53, valid UTF-8), as serde would map them onto the record.
        let schema = |what: String| LedgerError::Malformed(JsonError::Schema(what));
        let string = |m: &json::MemberSpan| -> Result<String, LedgerError> {
            let b = &bytes[m.value.clone()];
            match b {
                [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                    Ok(std::str::from_utf8(inner).expect("UTF-8 checked by canonical_members").to_string())
                }
                _ => match json::parse_strict(b)? {
                    Value::String(s) => Ok(s),
                    _ => Err(schema(format!("invalid type for `{}`: expected a string", m.key))),
                },
            }
        };
        let digest = |m: &json::MemberSpan| {
            let s = string(m)?;
            Sha256Digest::parse_prefixed(&s).map_err(|e| schema(format!("invalid value for `{}`: {e}", m.key)))
        };
        // Another schema is named before anything else is judged.
        if let Some(m) = members.iter().find(|m| m.key == "schema")
            && let Value::String(s) = json::parse_strict(&bytes[m.value.clone()])?
            && s != RECORD_SCHEMA
        {
            return Err(LedgerError::Schema { found: s });
        }
        let (mut schema_v, mut seq, mut site_id, mut recorded_at, mut command, mut subject) = (None, None, None, None, None, None);
        let (mut outcome, mut report_digest, mut prev, mut hash, mut report, mut hash_at) = (None, None, None, None, None, None);
        for (i, m) in members.iter().enumerate() {
            match m.key.as_str() {
                "schema" => schema_v = Some(string(m)?),
                "seq" => {
                    let b = &bytes[m.value.clone()];
                    let n = std::str::from_utf8(b).ok().filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse().ok());
                    seq = Some(n.ok_or_else(|| schema("invalid value for `seq`: expected a non-negative integer".into()))?);
                }
                "siteId" => site_id = Some(string(m)?),
                "recordedAt" => {
                    let s = string(m)?;
                    recorded_at = Some(Timestamp::parse(&s).map_err(|e| schema(format!("invalid value for `recordedAt`: {e}")))?);
                }
                "command" => command = Some(string(m)?),
                "subject" => {
                    let v = json::parse_strict(&bytes[m.value.clone()])?;
                    subject = Some(serde_json::from_value::<Subject>(v).map_err(|e| schema(format!("`subject`: {e}")))?);
                }
                "outcome" => {
                    let s = string(m)?;
                    outcome = Some(Outcome::parse(&s).ok_or_else(|| schema(format!("invalid value for `outcome`: {s:?}")))?);
                }
                "reportDigest" => report_digest = Some(digest(m)?),
                "prev" => prev = Some(digest(m)?),
                "hash" => {
                    hash = Some(digest(m)?);
                    hash_at = Some(i);
                }
                "report" => report = Some(m.value.clone()),
                other => return Err(schema(format!("unknown field `{other}`"))),
            }
        }
        let missing = |name: &str| schema(format!("missing field `{name}`"));
        let fields = Fields {
            schema: schema_v.ok_or_else(|| missing("schema"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            site_id: site_id.ok_or_else(|| missing("siteId"))?,
            recorded_at: recorded_at.ok_or_else(|| missing("recordedAt"))?,
            command: command.ok_or_else(|| missing("command"))?,
            subject: subject.ok_or_else(|| missing("subject"))?,
            outcome: outcome.ok_or_else(|| missing("outcome"))?,
            report_digest: report_digest.ok_or_else(|| missing("reportDigest"))?,
            prev: prev.ok_or_else(|| missing("prev"))?,
            hash: hash.ok_or_else(|| missing("hash"))?,
        };
        let report = report.ok_or_else(|| missing("report"))?;
        let i = hash_at.expect("a parsed record has a hash member");
        // `,"hash":"…"` after the member before it, or `"hash":"…",` when it comes first.
        let cut = match i {
            0 => members[0].member.start..members.get(1).map_or(members[0].member.end, |n| n.member.start),
            _ => members[i - 1].member.end..members[i].member.end,
        };
        let mut h = sha2::Sha256::new();
        h.update(&bytes[..cut.start]);
        h.update(&bytes[cut.end..]);
        let report_digest = Sha256Digest::of(&bytes[report.clone()]);
        Ok(Checked { fields, report, hash: Sha256Digest(h.finalize().into()), report_digest })
    }

    /// Canonical bytes of this record as it is (`hash` as stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        json::canonical(self)
    }
}

/// Which record to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locator {
    /// By sequence number.
    Seq(u64),
    /// By record hash.
    Hash(Sha256Digest),
}

impl Locator {
    /// Parses `SEQ` (decimal) or `sha256:HEX` / `HEX`.
    pub fn parse(s: &str) -> Option<Self> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok().map(Locator::Seq);
        }
        Sha256Digest::parse_prefixed(s).or_else(|_| Sha256Digest::from_hex(s)).ok().map(Locator::Hash)
    }
}

/// A search over the ledger. Every set field must match; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Subject product, exactly.
    pub product: Option<String>,
    /// Subject version, exactly.
    pub version: Option<String>,
    /// Subject bundle id, exactly.
    pub bundle_id: Option<String>,
    /// Command, exactly.
    pub command: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Subject channel, exactly.
    pub channel: Option<String>,
    /// Recorded at or after.
    pub since: Option<Timestamp>,
    /// Recorded at or before.
    pub until: Option<Timestamp>,
    /// At most this many records, newest first.
    pub limit: Option<u64>,
}

impl Filter {
    /// Whether `r` matches (the reference semantics a store's query must agree with).
    pub fn matches(&self, r: &Record) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
        eq(&self.product, &r.subject.product)
            && eq(&self.version, &r.subject.version)
            && eq(&self.bundle_id, &r.subject.bundle_id)
            && eq(&self.channel, &r.subject.channel)
            && self.command.as_ref().is_none_or(|c| *c == r.command)
            && self.outcome.is_none_or(|o| o == r.outcome)
            && self.since.is_none_or(|t| r.recorded_at >= t)
            && self.until.is_none_or(|t| r.recorded_at <= t)
    }
}

/// The newest record: its sequence number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Sequence number.
    pub seq: u64,
    /// Record hash.
    pub hash: Sha256Digest,
}

/// The evidence ledger as the core sees it. The store implements it (SQLite today); the core
/// never sees how.
pub trait Ledger {
    /// The store's error.
    type Error;

    /// Appends one record after the current head, atomically: concurrent appenders never fork
    /// the chain.
    fn append(&mut self, draft: Draft) -> Result<Head, Self::Error>;
    /// One record as stored.
    fn get(&self, at: Locator) -> Result<Option<StoredRecord>, Self::Error>;
    /// Records matching `filter`, newest first.
    fn search(&self, filter: &Filter) -> Result<Vec<Record>, Self::Error>;
    /// The newest record, if any.
    fn head(&self) -> Result<Option<Head>, Self::Error>;
    /// Every stored record with `seq >= from` in ascending order, handed to `visit` until it
    /// returns `false`.
    fn range(&self, from: u64, visit: &mut dyn FnMut(StoredRecord) -> bool) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn draft(n: u64) -> Draft {
        Draft {
            site_id: "ab".repeat(32),
            recorded_at: Timestamp(1_800_000_000 + n as i64),
            command: "verify".into(),
            subject: Subject { product: Some("app".into()), version: Some(format!("1.{n}.0")), ..Default::default() },
            outcome: if n.is_multiple_of(2) { Outcome::Pass } else { Outcome::Fail },
            report: serde_json::json!({"schema": "airlock/verify-report/v1", "n": n}),
        }
    }

    #[test]
    fn sealed_bytes_parse_back_and_hash_excludes_itself() {
        let s = draft(1).seal(1, GENESIS_PREV);
        let back = Record::parse(&s.bytes).unwrap();
        assert_eq!(back, s.record);
        assert_eq!(back.hash, hash_of(serde_json::to_value(&back).unwrap()));
        assert_eq!(back.report_digest, report_digest(&back.report));
        assert!(std::str::from_utf8(&s.bytes).unwrap().contains(&format!("\"prev\":\"sha256:{}\"", "0".repeat(64))));
    }

    #[test]
    fn strict_parse_refuses_duplicates_unknown_fields_other_schema_and_non_canonical() {
        let s = draft(1).seal(1, GENESIS_PREV);
        let text = String::from_utf8(s.bytes.clone()).unwrap();
        let dup = text.replacen("{", "{\"command\":\"x\",", 1);
        assert!(matches!(Record::parse(dup.as_bytes()), Err(LedgerError::Malformed(JsonError::DuplicateKey { .. }))));
        let mut v: Value = serde_json::from_slice(&s.bytes).unwrap();
        v["extra"] = Value::Bool(true);
        assert!(matches!(Record::parse(&json::canonical_value(&v)), Err(LedgerError::Malformed(JsonError::Schema(_)))));
        let other = text.replace(RECORD_SCHEMA, "airlock/evidence-record/v2");
        assert!(matches!(Record::parse(other.as_bytes()), Err(LedgerError::Schema { .. })));
        let spaced = text.replacen(",", ", ", 1);
        assert!(matches!(Record::parse(spaced.as_bytes()), Err(LedgerError::Malformed(JsonError::NotCanonical { .. }))));
    }

    #[test]
    fn locator_and_filter() {
        assert_eq!(Locator::parse("12"), Some(Locator::Seq(12)));
        assert_eq!(Locator::parse(&format!("sha256:{}", "a".repeat(64))), Some(Locator::Hash(Sha256Digest([0xaa; 32]))));
        assert_eq!(Locator::parse("x"), None);
        let r = draft(2).seal(2, GENESIS_PREV).record;
        assert!(Filter::default().matches(&r));
        assert!(Filter { product: Some("app".into()), outcome: Some(Outcome::Pass), ..Default::default() }.matches(&r));
        assert!(!Filter { version: Some("1.3.0".into()), ..Default::default() }.matches(&r));
        assert!(!Filter { since: Some(Timestamp(1_800_000_003)), ..Default::default() }.matches(&r));
        assert!(!Filter { channel: Some("stable".into()), ..Default::default() }.matches(&r));
    }

    /// The span reader accepts exactly the records the general path (strict canonical parse,
    /// then serde onto [`Record`]) accepts, and reads the same values, over thousands of edits.
    #[test]
    fn record_parse_agrees_with_the_general_path() {
        let general = |b: &[u8]| -> Option<Record> {
            let v = json::parse_canonical(b).ok()?;
            let r: Record = serde_json::from_value(v).ok()?;
            (r.schema == RECORD_SCHEMA).then_some(r)
        };
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let edits: [(&str, &str); 14] = [
            ("\"outcome\":\"pass\"", "\"outcome\":\"maybe\""),
            ("\"seq\":1", "\"seq\":-1"),
            ("\"seq\":1", "\"seq\":1.5"),
            ("\"seq\":1", "\"seq\":\"1\""),
            ("\"command\":\"verify\"", "\"command\":7"),
            ("\"command\":\"verify\"", "\"command\":\"ver\\u0001ify\""),
            ("\"product\":\"app\"", "\"product\":\"app\",\"zzz\":1"),
            ("\"subject\":{", "\"subject\":{\"artifactDigest\":\"x\","),
            ("\"recordedAt\":\"2027", "\"recordedAt\":\"1027"),
            ("\"recordedAt\":\"2027-01-15T08:00:01Z\"", "\"recordedAt\":\"2027-01-15T08:00:01.5Z\""),
            ("\"prev\":\"sha256:0", "\"prev\":\"sha256:A"),
            ("\"prev\":\"sha256:0", "\"prev\":\"sha512:0"),
            ("\"report\":{", "\"report\":[{"),
            ("\"schema\":\"airlock", "\"schema\":\"\\u0041irlock"),
        ];
        const SUBST: &[u8] = b"{}[]\":,0-.az\\ 123456789bcdefxyzABZ";
        let (mut accepted, mut refused) = (0, 0);
        for n in 1..60u64 {
            let sealed = draft(n).seal(n, GENESIS_PREV);
            let text = String::from_utf8(sealed.bytes.clone()).unwrap();
            let mut cases: Vec<Vec<u8>> = edits.iter().map(|(a, b)| text.replacen(a, b, 1).into_bytes()).collect();
            cases.push(sealed.bytes.clone());
            for _ in 0..40 {
                let mut b = sealed.bytes.clone();
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] = SUBST[(next() as usize) % SUBST.len()],
                    1 => drop(b.remove(at)),
                    _ => b.insert(at, SUBST[(next() as usize) % 14]),
                }
                cases.push(b);
            }
            for b in cases {
                let (mine, theirs) = (Record::parse(&b).ok(), general(&b));
                assert_eq!(mine, theirs, "{}", String::from_utf8_lossy(&b));
                if mine.is_some() { accepted += 1 } else { refused += 1 }
            }
        }
        assert!(accepted > 59 && refused > 1000, "accepted {accepted}, refused {refused}");
    }
}
