//! Where the evidence ledger is kept: the [`LedgerStore`] trait both backends implement (SQLite,
//! embedded and the default; PostgreSQL, for an aggregator of many sites) and `--store URL`.
//!
//! The core sees neither: it gets records, heads and merge outcomes as values. What an import
//! means (same records, continuation, gap, fork) is decided once, in [`plan_merge`], from what a
//! backend reads inside its own transaction.

use super::ledger::{Fork, LedgerStoreError, Merge};
use crate::ledger::{Broken, ChainCheck, ChainSummary, Filter, Head, Ledger, Record, StoredRecord};
use crate::time::Timestamp;
use std::path::{Path, PathBuf};

type Result<T, E = LedgerStoreError> = std::result::Result<T, E>;

/// A ledger store: the local chain ([`Ledger`]) plus the aggregation of other sites' exports.
pub trait LedgerStore: Ledger<Error = LedgerStoreError> + Send {
    /// Where the store is, for messages (a file path, or a PostgreSQL host and database without
    /// the password).
    fn location(&self) -> String;
    /// Number of records in the local chain.
    fn count(&self) -> Result<u64>;
    /// The contiguous sequence range covering records recorded in `since..=until`, if any.
    fn seq_bounds(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> Result<Option<(u64, u64)>>;
    /// The records held for an imported site, in order.
    fn site_records(&self, site_id: &str) -> Result<Vec<StoredRecord>>;
    /// Imported records of every site matching `filter`, newest first (`recorded_at`, then
    /// site id, then sequence number, descending), with their site id.
    fn search_sites(&self, filter: &Filter) -> Result<Vec<(String, Record)>>;
    /// The forks kept as evidence, oldest first.
    fn forks(&self) -> Result<Vec<Fork>>;
    /// Merges a verified export of `site_id` (its records already chain-checked among
    /// themselves, in order) in one transaction ([`plan_merge`] decides); concurrent importers
    /// of one site queue, and a fork merges nothing and is kept in `forks`.
    fn import_site(
        &mut self,
        site_id: &str,
        public_key_hex: &str,
        records: &[(Record, StoredRecord)],
        export_digest: &str,
        now: Timestamp,
    ) -> Result<Merge>;
    /// Visits the local records matching `filter` in [`Ledger::search`]'s order, one at a time
    /// (the server's search answer is written from them without holding them all); `visit`
    /// returns false to stop. A backend without a streaming read reads them all first.
    fn search_each(&self, filter: &Filter, visit: &mut dyn FnMut(Record) -> bool) -> Result<()> {
        for r in self.search(filter)? {
            if !visit(r) {
                break;
            }
        }
        Ok(())
    }
    /// A structural check of the storage itself (SQLite's `quick_check`); `None` when intact or
    /// when the backend has none of its own.
    fn structure_check(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// The structure check and the whole-chain walk ([`verify_chain`]); `evidence verify`.
    fn check_all(
        &self,
        threads: usize,
        tick: &(dyn Fn(u64) + Sync),
    ) -> Result<(Option<String>, std::result::Result<ChainSummary, Broken>)> {
        Ok((self.structure_check()?, verify_chain(self, threads, tick)?))
    }
}

/// Walks the whole chain from seq 1 ([`ChainCheck`]), `threads` threads checking records in
/// batches while this thread reads the next batch; `tick` is told how many were checked.
/// `Ok(Err(_))`: the first broken record.
pub fn verify_chain<S: LedgerStore + ?Sized>(
    store: &S,
    threads: usize,
    tick: &(dyn Fn(u64) + Sync),
) -> Result<std::result::Result<ChainSummary, Broken>> {
    const BATCH: usize = 8192;
    let (send, batches) = std::sync::mpsc::sync_channel::<Vec<StoredRecord>>(2);
    std::thread::scope(|s| {
        let checker = s.spawn(move || {
            let mut check = ChainCheck::new();
            for batch in batches {
                check.push_batch(&batch, threads)?;
                tick(batch.len() as u64);
            }
            Ok(check.summary())
        });
        let mut batch = Vec::with_capacity(BATCH);
        let read = store.range(1, &mut |row| {
            batch.push(row);
            // A closed channel means the checker stopped at a broken record: stop reading.
            batch.len() < BATCH || send.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_ok()
        });
        if !batch.is_empty() {
            let _ = send.send(batch);
        }
        drop(send);
        let checked = checker.join().expect("checking records does not panic");
        read.map(|()| checked)
    })
}

/// What an import does, decided from the held head and the held records it overlaps.
#[derive(Debug)]
pub enum Plan {
    /// Insert `records[first_new..]`; `same` records were already held identically.
    Insert {
        /// Already held, identical.
        same: u64,
        /// Index of the first record to insert.
        first_new: usize,
    },
    /// A different record is held at one of the export's sequence numbers.
    Fork(Fork),
    /// The export does not continue the held chain.
    Gap {
        /// The newest held sequence number.
        held: u64,
        /// The export's first new sequence number.
        first: u64,
    },
}

/// Decides an import: records at held sequence numbers must be byte-identical to the held ones
/// (`held_record` reads one inside the caller's transaction), the first new one must follow the
/// held head and link to its hash.
pub fn plan_merge<E>(
    site_id: &str,
    held: Option<Head>,
    records: &[(Record, StoredRecord)],
    export_digest: &str,
    mut held_record: impl FnMut(u64) -> std::result::Result<Vec<u8>, E>,
) -> std::result::Result<Plan, E> {
    let held_seq = held.map_or(0, |h| h.seq);
    let mut same = 0u64;
    for (i, (record, row)) in records.iter().enumerate() {
        if row.seq <= held_seq {
            let existing = held_record(row.seq)?;
            if existing != row.bytes {
                return Ok(Plan::Fork(Fork {
                    site_id: site_id.into(),
                    seq: row.seq,
                    held: existing,
                    offered: row.bytes.clone(),
                    export_digest: export_digest.into(),
                }));
            }
            same += 1;
            continue;
        }
        if row.seq != held_seq + 1 || held.is_some_and(|h| h.hash != record.prev) {
            return Ok(Plan::Gap { held: held_seq, first: row.seq });
        }
        return Ok(Plan::Insert { same, first_new: i });
    }
    Ok(Plan::Insert { same, first_new: records.len() })
}

/// Where `--store` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUrl {
    /// An SQLite ledger file (the default: `$AIRLOCK_HOME/ledger.sqlite`; `sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://…`, `postgresql://…` or the key=value form
    /// (`host=/run/postgresql dbname=airlock`).
    Postgres(String),
}

impl StoreUrl {
    /// Parses a `--store` value.
    pub fn parse(s: &str) -> Result<Self> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") || s.split_whitespace().any(|w| w.starts_with("host=")) {
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        if let Some(p) = s.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
            return Ok(StoreUrl::Sqlite(PathBuf::from(p)));
        }
        Err(LedgerStoreError::StoreUrl { given: redact(s) })
    }

    /// `--store` if given, else the SQLite ledger under `home`.
    pub fn or_default(given: Option<&str>, home: &Path) -> Result<Self> {
        match given {
            Some(s) => Self::parse(s),
            None => Ok(StoreUrl::Sqlite(home.join(super::ledger::DB_FILE))),
        }
    }

    /// Opens the store, making it (and its schema) if absent.
    pub fn open(&self) -> Result<Box<dyn LedgerStore>> {
        Ok(match self {
            StoreUrl::Sqlite(p) => Box::new(super::ledger::SqliteLedger::open_file(p)?),
            #[cfg(feature = "postgres")]
            StoreUrl::Postgres(u) => Box::new(super::postgres::PgLedger::connect(u)?),
            #[cfg(not(feature = "postgres"))]
            StoreUrl::Postgres(u) => return Err(LedgerStoreError::NoPostgres { given: redact(u) }),
        })
    }

    /// Opens the store if it exists (read commands make nothing): `None` for a missing SQLite
    /// file or a PostgreSQL database without airlock's schema.
    pub fn open_existing(&self) -> Result<Option<Box<dyn LedgerStore>>> {
        Ok(match self {
            StoreUrl::Sqlite(p) if !p.exists() => None,
            StoreUrl::Sqlite(p) => Some(Box::new(super::ledger::SqliteLedger::open_file(p)?)),
            #[cfg(feature = "postgres")]
            StoreUrl::Postgres(u) => super::postgres::PgLedger::connect_existing(u)?.map(|l| Box::new(l) as Box<dyn LedgerStore>),
            #[cfg(not(feature = "postgres"))]
            StoreUrl::Postgres(u) => return Err(LedgerStoreError::NoPostgres { given: redact(u) }),
        })
    }
}

/// A store URL fit for messages: a password (`user:secret@`, `password=secret`) is replaced
/// by `***`.
pub fn redact(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        if let Some(at) = rest.find('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out.replace_range(scheme_end + 3 + colon + 1..scheme_end + 3 + at, "***");
        }
    }
    out.split_whitespace()
        .map(|w| if w.starts_with("password=") { "password=***".to_string() } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert!(matches!(StoreUrl::parse("postgres://u@localhost/db").unwrap(), StoreUrl::Postgres(_)));
        assert!(matches!(StoreUrl::parse("host=/tmp/pg dbname=airlock").unwrap(), StoreUrl::Postgres(_)));
        assert_eq!(StoreUrl::parse("sqlite:/x/l.sqlite").unwrap(), StoreUrl::Sqlite("/x/l.sqlite".into()));
        let e = StoreUrl::parse("mysql://root:hunter2@h/db").unwrap_err().to_string();
        assert!(e.contains("mysql://root:***@h/db") && !e.contains("hunter2"), "{e}");
        assert_eq!(redact("host=/s password=pw dbname=a"), "host=/s password=*** dbname=a");
        assert_eq!(redact("postgres://a:b@h/d"), "postgres://a:***@h/d");
    }
}
