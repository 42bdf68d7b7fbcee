//! The signed export's payload (format-spec/evidence-ledger-v1.md §6): `evidence/records.jsonl`
//! (one canonical record per line) and `evidence/head.json` (which site, which range, which
//! head). Building and checking both is sans-I/O; the shell packs them into a bundle signed by
//! the site key and verifies that bundle before calling [`check`].

use super::chain::{Broken, ChainCheck, StoredRecord};
use super::{Head, LedgerError, Record};
use crate::json::{self, JsonError};
use crate::keys::PublicKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Schema id of `head.json`.
pub const EXPORT_HEAD_SCHEMA: &str = "airlock/evidence-export-head/v1";
/// Member path of the records.
pub const RECORDS_MEMBER: &str = "evidence/records.jsonl";
/// Member path of the head.
pub const HEAD_MEMBER: &str = "evidence/head.json";
/// The export bundle's release product.
pub const EXPORT_PRODUCT: &str = "airlock-evidence";

/// `evidence/head.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportHead {
    /// Always [`EXPORT_HEAD_SCHEMA`].
    pub schema: String,
    /// The site key's id (hex): every record's `siteId`.
    pub site_id: String,
    /// The site's Ed25519 public key (hex); its key id is `siteId`.
    pub site_public_key: String,
    /// When the export was made.
    pub exported_at: Timestamp,
    /// Number of records.
    pub count: u64,
    /// The first record's sequence number.
    pub first: u64,
    /// The last record exported.
    pub head: Head,
    /// The site ledger's head when exported (equal to `head` unless `--until` cut the range).
    pub ledger_head: Head,
}

/// Errors checking an export's payload.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `head.json` is not a valid head.
    #[error(
        "{HEAD_MEMBER} is not a valid {EXPORT_HEAD_SCHEMA} document: {0}\n  hint: the export was not made by `airlock evidence export`"
    )]
    Head(#[from] JsonError),
    /// `head.json` names another schema.
    #[error("{HEAD_MEMBER} has schema {found:?}, expected {EXPORT_HEAD_SCHEMA:?}\n  hint: use an airlock that reads it")]
    Schema {
        /// Found.
        found: String,
    },
    /// The export is of another site than the key given.
    #[error(
        "the export is of site {actual}, but the key given is site {expected}\n  hint: pass the site.pub of the site that made this export"
    )]
    Site {
        /// The given key's id.
        expected: String,
        /// What the export claims.
        actual: String,
    },
    /// A line of `records.jsonl` is not a record.
    #[error("{RECORDS_MEMBER} line {line}: {source}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// The cause.
        source: LedgerError,
    },
    /// `records.jsonl` is not newline-terminated canonical lines.
    #[error("{RECORDS_MEMBER}: {0}\n  hint: one RFC 8785 record per line, each ending in LF, no blank lines")]
    Lines(&'static str),
    /// The records break a chain rule.
    #[error("{RECORDS_MEMBER}: {0}")]
    Chain(#[from] Broken),
    /// `head.json` disagrees with the records.
    #[error(
        "{HEAD_MEMBER} says {expected} but the records hold {actual}\n  hint: the export was assembled by hand; ask the site for a new one"
    )]
    Mismatch {
        /// What head.json says.
        expected: String,
        /// What the records hold.
        actual: String,
    },
    /// An export holds no records.
    #[error("an export holds at least one record; this one holds none\n  hint: widen --since/--until")]
    Empty,
}

/// Builds the two members from stored rows (contiguous, ascending) and the site key.
pub fn build(
    rows: &[StoredRecord],
    site: &PublicKey,
    ledger_head: Head,
    exported_at: Timestamp,
) -> Result<(Vec<u8>, Vec<u8>), ExportError> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Err(ExportError::Empty) };
    let mut jsonl = Vec::with_capacity(rows.iter().map(|r| r.bytes.len() + 1).sum());
    for r in rows {
        jsonl.extend_from_slice(&r.bytes);
        jsonl.push(b'\n');
    }
    let head = head(site, first.seq, rows.len() as u64, Head { seq: last.seq, hash: last.hash }, ledger_head, exported_at)?;
    Ok((jsonl, head))
}

/// `head.json` for `count` contiguous records from seq `first` to `last`, when the records
/// member is written elsewhere (streamed to a file by the shell, one record per line as [`build`]
/// writes them).
pub fn head(
    site: &PublicKey,
    first: u64,
    count: u64,
    last: Head,
    ledger_head: Head,
    exported_at: Timestamp,
) -> Result<Vec<u8>, ExportError> {
    if count == 0 {
        return Err(ExportError::Empty);
    }
    let head = ExportHead {
        schema: EXPORT_HEAD_SCHEMA.into(),
        site_id: site.keyid().hex(),
        site_public_key: hex::encode(site.to_bytes()),
        exported_at,
        count,
        first,
        head: last,
        ledger_head,
    };
    Ok(json::canonical(&head))
}

/// A checked export: its head and its records in order.
#[derive(Debug)]
pub struct CheckedExport {
    /// `head.json`.
    pub head: ExportHead,
    /// The records, parsed and as stored.
    pub records: Vec<(Record, StoredRecord)>,
}

/// Checks an export's payload against the site key: the head names that site, the records form
/// an unbroken chain of that site from `first` (seq 1 needs the genesis `prev`), and the head's
/// count, first and last agree with them.
pub fn check(head_bytes: &[u8], records_bytes: &[u8], site: &PublicKey) -> Result<CheckedExport, ExportError> {
    let v = json::parse_canonical(head_bytes)?;
    if let Some(s) = v.get("schema").and_then(|s| s.as_str())
        && s != EXPORT_HEAD_SCHEMA
    {
        return Err(ExportError::Schema { found: s.into() });
    }
    let head: ExportHead = serde_json::from_value(v).map_err(|e| JsonError::Schema(e.to_string()))?;
    let site_id = site.keyid().hex();
    if head.site_id != site_id || head.site_public_key != hex::encode(site.to_bytes()) {
        return Err(ExportError::Site { expected: site_id, actual: head.site_id });
    }
    if records_bytes.is_empty() {
        return Err(ExportError::Empty);
    }
    if records_bytes.last() != Some(&b'\n') {
        return Err(ExportError::Lines("the last line does not end in LF"));
    }
    let mut chain = ChainCheck::from_seq(head.first).for_site(&site_id);
    let mut records = Vec::new();
    for (i, line) in records_bytes[..records_bytes.len() - 1].split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            return Err(ExportError::Lines("blank line"));
        }
        let r = Record::parse(line).map_err(|source| ExportError::Line { line: i + 1, source })?;
        let row = StoredRecord { seq: r.seq, hash: r.hash, bytes: line.to_vec() };
        chain.push(&row)?;
        records.push((r, row));
    }
    let got = chain.summary();
    let want = (head.count, Some(head.head));
    if (got.count, got.head) != want {
        let show = |c: u64, h: Option<Head>| {
            format!("{c} record(s) ending at {}", h.map(|h| format!("#{} {}", h.seq, h.hash)).unwrap_or_default())
        };
        return Err(ExportError::Mismatch { expected: show(want.0, want.1), actual: show(got.count, got.head) });
    }
    Ok(CheckedExport { head, records })
}

#[cfg(test)]
mod tests {
    use super::super::GENESIS_PREV;
    use super::super::tests::draft;
    use super::*;
    use crate::keys::SecretKey;

    fn rows(site: &SecretKey, n: u64) -> Vec<StoredRecord> {
        let mut prev = GENESIS_PREV;
        (1..=n)
            .map(|i| {
                let mut d = draft(i);
                d.site_id = site.public().keyid().hex();
                let s = d.seal(i, prev);
                prev = s.record.hash;
                StoredRecord::of(&s)
            })
            .collect()
    }

    #[test]
    fn built_exports_check_and_edits_are_caught() {
        let site = SecretKey::from_seed(&[3; 32]);
        let r = rows(&site, 4);
        let head = Head { seq: 4, hash: r[3].hash };
        let (jsonl, hb) = build(&r[1..], site.public(), head, Timestamp(5)).unwrap();
        let c = check(&hb, &jsonl, site.public()).unwrap();
        assert_eq!((c.head.first, c.head.count, c.records.len()), (2, 3, 3));
        assert_eq!(c.records[0].0.prev, r[0].hash);

        let other = SecretKey::from_seed(&[4; 32]);
        assert!(matches!(check(&hb, &jsonl, other.public()), Err(ExportError::Site { .. })));
        let dropped: Vec<u8> = jsonl.split_inclusive(|b| *b == b'\n').skip(1).flatten().copied().collect();
        assert!(matches!(check(&hb, &dropped, site.public()), Err(ExportError::Chain(b)) if b.rule.id() == "ledger.seq-gap"));
        let (short, _) = build(&r[1..3], site.public(), head, Timestamp(5)).unwrap();
        assert!(matches!(check(&hb, &short, site.public()), Err(ExportError::Mismatch { .. })));
        let mut edited = String::from_utf8(jsonl.clone()).unwrap();
        edited = edited.replacen("\"fail\"", "\"pass\"", 1);
        assert!(matches!(check(&hb, edited.as_bytes(), site.public()), Err(ExportError::Chain(b)) if b.rule.id() == "ledger.hash"));
        assert!(matches!(check(&hb, &jsonl[..jsonl.len() - 1], site.public()), Err(ExportError::Lines(_))));
    }
}
