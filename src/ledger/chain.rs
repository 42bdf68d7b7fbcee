//! Chain verification: a fold over stored records in sequence order that stops at the first
//! record breaking a rule (format-spec/evidence-ledger-v1.md, "Chain rules").

use super::{Checked, GENESIS_PREV, Head, LedgerError, Record};
use crate::digest::Sha256Digest;

/// A record as a store holds it: the row's own sequence number and hash columns (what indexes
/// and look-ups use) beside the record's canonical bytes (what is verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The row's sequence number.
    pub seq: u64,
    /// The row's hash column.
    pub hash: Sha256Digest,
    /// The record's RFC 8785 bytes.
    pub bytes: Vec<u8>,
}

impl StoredRecord {
    /// A stored form of a sealed record.
    pub fn of(sealed: &super::Sealed) -> Self {
        StoredRecord { seq: sealed.record.seq, hash: sealed.record.hash, bytes: sealed.bytes.clone() }
    }
}

/// The chain rules, in the order they are checked for each record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The bytes are not a strict, canonical v1 record.
    Record,
    /// The record's `seq` is not the one after the previous record's (a deleted, inserted or
    /// moved record).
    SeqGap,
    /// The record names another site than the first record of the chain.
    Site,
    /// `reportDigest` is not the SHA-256 of the canonical report (the report was edited).
    ReportDigest,
    /// `hash` is not the SHA-256 of the canonical record without `hash` (the record was edited).
    Hash,
    /// The row's sequence number or hash column disagrees with the record it holds.
    Row,
    /// `prev` is not the previous record's hash (a record before it was replaced).
    Link,
}

impl Rule {
    /// The stable rule id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Record => "ledger.record",
            Rule::SeqGap => "ledger.seq-gap",
            Rule::Row => "ledger.row",
            Rule::Site => "ledger.site",
            Rule::ReportDigest => "ledger.report-digest",
            Rule::Hash => "ledger.hash",
            Rule::Link => "ledger.link",
        }
    }
}

/// The first record that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("evidence record #{seq} breaks {rule_id}: expected {expected}, found {actual}\n  hint: the ledger was edited behind airlock's back; keep the database as evidence and compare with the last export", rule_id = rule.id())]
pub struct Broken {
    /// The sequence number where the chain broke (the row's, or the expected one).
    pub seq: u64,
    /// The rule.
    pub rule: Rule,
    /// What the rule expected.
    pub expected: String,
    /// What was found.
    pub actual: String,
}

/// One record's bytes checked alone.
type Parsed = Result<Checked, LedgerError>;

/// The end of a verified chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Records checked.
    pub count: u64,
    /// The last record checked.
    pub head: Option<Head>,
}

/// The fold's state: what the next record must be.
#[derive(Clone, Debug)]
pub struct ChainCheck {
    next: u64,
    /// `None`: the first record's `prev` is taken as given (a range starting mid-chain).
    prev: Option<Sha256Digest>,
    site: Option<String>,
    summary: ChainSummary,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainCheck {
    /// A whole chain: from seq 1 with the genesis `prev`.
    pub fn new() -> Self {
        ChainCheck { next: 1, prev: Some(GENESIS_PREV), site: None, summary: ChainSummary::default() }
    }

    /// A chain continuing after `head` (an import extending what is already held).
    pub fn after(head: Head) -> Self {
        ChainCheck { next: head.seq + 1, prev: Some(head.hash), site: None, summary: ChainSummary::default() }
    }

    /// A range starting at `seq` whose first `prev` cannot be checked here (an export with
    /// `--since`); seq 1 still needs the genesis `prev`.
    pub fn from_seq(seq: u64) -> Self {
        ChainCheck { next: seq, prev: (seq <= 1).then_some(GENESIS_PREV), site: None, summary: ChainSummary::default() }
    }

    /// Every record must name this site.
    pub fn for_site(mut self, site_id: &str) -> Self {
        self.site = Some(site_id.to_string());
        self
    }

    /// Checks the next record, or names the broken rule. After an error the state is unchanged
    /// and the fold should stop.
    pub fn push(&mut self, row: &StoredRecord) -> Result<(), Broken> {
        self.push_parsed(row, Record::parse_checked(&row.bytes))
    }

    /// Checks a run of consecutive records as [`Self::push`] would, one after the other, with the
    /// work on each record alone (strict parse, canonical form, both digests) spread over up to
    /// `threads` threads first. Stops at the first broken record.
    pub fn push_batch(&mut self, rows: &[StoredRecord], threads: usize) -> Result<(), Broken> {
        let chunk = rows.len().div_ceil(threads.clamp(1, 64)).max(1);
        let parsed: Vec<Parsed> = std::thread::scope(|s| {
            let work: Vec<_> = rows
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(|r| Record::parse_checked(&r.bytes)).collect::<Vec<_>>()))
                .collect();
            work.into_iter().flat_map(|h| h.join().expect("checking a record does not panic")).collect()
        });
        for (row, p) in rows.iter().zip(parsed) {
            self.push_parsed(row, p)?;
        }
        Ok(())
    }

    fn push_parsed(&mut self, row: &StoredRecord, parsed: Parsed) -> Result<(), Broken> {
        let broken = |rule, expected: String, actual: String| Broken { seq: row.seq, rule, expected, actual };
        let Checked { fields: record, hash: h, report_digest: rd, .. } = parsed.map_err(|e: LedgerError| {
            broken(Rule::Record, "a strict RFC 8785 evidence-record/v1".into(), e.to_string().lines().next().unwrap_or("").into())
        })?;
        if record.seq != self.next {
            return Err(Broken { seq: self.next, ..broken(Rule::SeqGap, format!("seq {}", self.next), format!("seq {}", record.seq)) });
        }
        match &self.site {
            Some(s) if *s != record.site_id => return Err(broken(Rule::Site, format!("siteId {s}"), format!("siteId {}", record.site_id))),
            _ => {}
        }
        if rd != record.report_digest {
            return Err(broken(Rule::ReportDigest, rd.prefixed(), record.report_digest.prefixed()));
        }
        if h != record.hash {
            return Err(broken(Rule::Hash, h.prefixed(), record.hash.prefixed()));
        }
        if row.seq != record.seq || row.hash != record.hash {
            return Err(broken(
                Rule::Row,
                format!("row seq {} hash {}", record.seq, record.hash),
                format!("row seq {} hash {}", row.seq, row.hash),
            ));
        }
        if let Some(p) = self.prev
            && p != record.prev
        {
            return Err(broken(Rule::Link, format!("prev {p}"), format!("prev {}", record.prev)));
        }
        self.site.get_or_insert_with(|| record.site_id.clone());
        self.next += 1;
        self.prev = Some(record.hash);
        self.summary = ChainSummary { count: self.summary.count + 1, head: Some(Head { seq: record.seq, hash: record.hash }) };
        Ok(())
    }

    /// What has been verified so far.
    pub fn summary(&self) -> ChainSummary {
        self.summary
    }

    /// The site every record named (after the first record).
    pub fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }
}

/// Verifies a whole chain from seq 1.
pub fn verify<'a>(rows: impl IntoIterator<Item = &'a StoredRecord>) -> Result<ChainSummary, Broken> {
    let mut c = ChainCheck::new();
    rows.into_iter().try_for_each(|r| c.push(r))?;
    Ok(c.summary())
}

/// Verifies a whole chain given as JSON Lines (one record per LF-terminated line, the export's
/// `records.jsonl` form and the conformance vectors'): each line's own `seq` and `hash` stand in
/// for the row columns; a line that is not a record breaks [`Rule::Record`] at its line number.
pub fn verify_jsonl(bytes: &[u8]) -> Result<ChainSummary, Broken> {
    let mut c = ChainCheck::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for (i, line) in body.split(|b| *b == b'\n').enumerate().filter(|_| !bytes.is_empty()) {
        let row = match Record::parse(line) {
            Ok(r) => StoredRecord { seq: r.seq, hash: r.hash, bytes: line.to_vec() },
            Err(_) => StoredRecord { seq: i as u64 + 1, hash: Sha256Digest([0; 32]), bytes: line.to_vec() },
        };
        c.push(&row)?;
    }
    Ok(c.summary())
}

#[cfg(test)]
mod tests {
    use super::super::tests::draft;
    use super::*;
    use crate::json;

    fn chain(n: u64) -> Vec<StoredRecord> {
        let mut prev = GENESIS_PREV;
        (1..=n)
            .map(|i| {
                let s = draft(i).seal(i, prev);
                prev = s.record.hash;
                StoredRecord::of(&s)
            })
            .collect()
    }

    fn edit(row: &mut StoredRecord, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v: serde_json::Value = serde_json::from_slice(&row.bytes).unwrap();
        f(&mut v);
        row.bytes = json::canonical_value(&v);
    }

    fn rule_at(rows: &[StoredRecord]) -> (u64, &'static str) {
        let b = verify(rows).unwrap_err();
        (b.seq, b.rule.id())
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let rows = chain(5);
        let s = verify(&rows).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.head, Some(Head { seq: 5, hash: rows[4].hash }));
        assert_eq!(verify(&[]).unwrap(), ChainSummary::default());
    }

    #[test]
    fn each_edit_is_named_by_its_rule() {
        let base = chain(4);
        let mut r = base.clone();
        edit(&mut r[1], |v| v["report"]["n"] = 99.into());
        assert_eq!(rule_at(&r), (2, "ledger.report-digest"));

        let mut r = base.clone();
        edit(&mut r[2], |v| v["outcome"] = "pass".into());
        assert_eq!(rule_at(&r), (3, "ledger.hash"));

        let mut r = base.clone();
        r.remove(1);
        assert_eq!(rule_at(&r), (2, "ledger.seq-gap"));

        let mut r = base.clone();
        r.swap(1, 2);
        assert_eq!(rule_at(&r), (2, "ledger.seq-gap"));

        let mut r = base.clone();
        r[3].hash = Sha256Digest([7; 32]);
        assert_eq!(rule_at(&r), (4, "ledger.row"));

        // A record replaced wholesale with a self-consistent one breaks the next link.
        let mut r = base.clone();
        let mut d = draft(2);
        d.outcome = Outcome::Error;
        let forged = d.seal(2, base[0].hash);
        r[1] = StoredRecord::of(&forged);
        assert_eq!(rule_at(&r), (3, "ledger.link"));

        let mut r = base.clone();
        r[0].bytes.truncate(40);
        assert_eq!(rule_at(&r), (1, "ledger.record"));
    }

    use super::super::Outcome;

    #[test]
    fn strings_needing_escapes_and_empty_subjects_verify() {
        let mut d = draft(1);
        d.command = "ver\"ify\u{7f}\u{2028}é\\".into();
        d.subject = Default::default();
        d.report = serde_json::json!({"z": 1e-7, "a": [null, true, "\u{1F600}\n"], "hash": "x", "": {}});
        let s = d.seal(1, GENESIS_PREV);
        assert_eq!(verify(&[StoredRecord::of(&s)]).unwrap().count, 1);
    }

    #[test]
    fn batches_break_where_single_pushes_do() {
        let mut rows = chain(9);
        assert_eq!(ChainCheck::new().push_batch(&rows, 4).map(drop), verify(&rows).map(drop));
        let mut c = ChainCheck::new();
        c.push_batch(&rows, 3).unwrap();
        assert_eq!(c.summary(), verify(&rows).unwrap());
        edit(&mut rows[6], |v| v["report"]["n"] = 0.into());
        let mut c = ChainCheck::new();
        let b = c.push_batch(&rows, 2).unwrap_err();
        assert_eq!((b.seq, b.rule), (7, Rule::ReportDigest));
        assert_eq!(c.summary().count, 6);
    }

    #[test]
    fn ranges_continue_and_sites_stay_one() {
        let rows = chain(5);
        let mut c = ChainCheck::from_seq(3);
        for r in &rows[2..] {
            c.push(r).unwrap();
        }
        let mut c = ChainCheck::after(Head { seq: 2, hash: rows[1].hash });
        c.push(&rows[2]).unwrap();
        let mut c = ChainCheck::after(Head { seq: 2, hash: rows[0].hash });
        assert_eq!(c.push(&rows[2]).unwrap_err().rule, Rule::Link);
        let mut c = ChainCheck::new().for_site("other");
        assert_eq!(c.push(&rows[0]).unwrap_err().rule, Rule::Site);
    }
}
