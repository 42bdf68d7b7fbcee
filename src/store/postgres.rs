//! The evidence ledger on PostgreSQL (`--store postgres://…` or `host=/run/postgresql …`): the
//! same tables, records and rules as the SQLite ledger, for an aggregator of many sites.
//!
//! Every change is one transaction. Appends to the local chain take one transaction-scoped
//! advisory lock (so concurrent appenders queue instead of forking the chain; the primary key
//! on `seq` and the unique `hash` would refuse a fork anyway); an import takes a lock keyed by
//! its site, so importers of different sites run side by side and two importers of one site
//! queue. A server that goes away mid-import rolls the transaction back: nothing half-written.
//! No TLS: a Unix socket or loopback is the expected path to the aggregator's database.

use super::backend::{LedgerStore, Plan, plan_merge, redact};
use super::ledger::{Fork, LedgerStoreError, Merge, SCHEMA_VERSION, SearchArg, filter_clauses, limit_sql};
use crate::digest::Sha256Digest;
use crate::ledger::{Draft, Filter, GENESIS_PREV, Head, Ledger, Locator, Record, StoredRecord};
use crate::time::Timestamp;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls};
use std::cell::RefCell;

type Result<T, E = LedgerStoreError> = std::result::Result<T, E>;

/// Advisory lock key serialising schema creation (`"airlock"` in ASCII).
const SCHEMA_LOCK: i64 = 0x6169_726c_6f63_6b00;
/// Advisory lock key serialising appends to the local chain.
const APPEND_LOCK: i64 = SCHEMA_LOCK + 1;

/// Forward migrations: entry `i` takes the schema from version `i` to `i + 1` (the same tables as
/// the SQLite ledger's version 1).
const MIGRATIONS: [&str; 1] = [r"
CREATE TABLE records (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL UNIQUE,
    recorded_at BIGINT NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL,
    product TEXT,
    version TEXT,
    bundle_id TEXT,
    channel TEXT,
    record BYTEA NOT NULL
);
CREATE INDEX records_product ON records (product, seq);
CREATE INDEX records_version ON records (version, seq);
CREATE INDEX records_bundle_id ON records (bundle_id, seq);
CREATE INDEX records_command ON records (command, seq);
CREATE INDEX records_outcome ON records (outcome, seq);
CREATE INDEX records_channel ON records (channel, seq);
CREATE INDEX records_recorded_at ON records (recorded_at);
CREATE TABLE sites (
    site_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL
);
CREATE TABLE site_records (
    site_id TEXT NOT NULL REFERENCES sites (site_id),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    recorded_at BIGINT NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL,
    product TEXT,
    version TEXT,
    bundle_id TEXT,
    channel TEXT,
    record BYTEA NOT NULL,
    PRIMARY KEY (site_id, seq)
);
CREATE INDEX site_records_recorded_at ON site_records (recorded_at);
CREATE TABLE forks (
    id BIGSERIAL PRIMARY KEY,
    site_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    held BYTEA NOT NULL,
    offered BYTEA NOT NULL,
    export_digest TEXT NOT NULL,
    detected_at BIGINT NOT NULL
);
"];

/// The PostgreSQL ledger: one connection.
pub struct PgLedger {
    client: RefCell<Client>,
    location: String,
}

fn location_of(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .map(|h| match h {
                    postgres::config::Host::Tcp(s) => s.clone(),
                    postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            format!("{}/{}", hosts.join(","), c.get_dbname().unwrap_or("(default database)"))
        }
        Err(_) => redact(url),
    }
}

impl PgLedger {
    fn pg(&self, what: &'static str) -> impl FnOnce(postgres::Error) -> LedgerStoreError + '_ {
        move |source| LedgerStoreError::Postgres { location: self.location.clone(), what, source: Box::new(source) }
    }

    fn raw(url: &str) -> Result<Self> {
        let location = location_of(url);
        let client = Client::connect(url, NoTls).map_err(|source| LedgerStoreError::Postgres {
            location: location.clone(),
            what: "connecting",
            source: Box::new(source),
        })?;
        Ok(PgLedger { client: RefCell::new(client), location })
    }

    /// Connects and makes (or migrates) the schema.
    pub fn connect(url: &str) -> Result<Self> {
        let db = Self::raw(url)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects; `None` when the database has no airlock schema yet (read commands make nothing).
    pub fn connect_existing(url: &str) -> Result<Option<Self>> {
        let db = Self::raw(url)?;
        let present: bool = db
            .client
            .borrow_mut()
            .query_one("SELECT to_regclass('airlock_ledger_schema') IS NOT NULL", &[])
            .map_err(db.pg("reading the schema version"))?
            .get(0);
        if !present {
            return Ok(None);
        }
        db.migrate()?;
        Ok(Some(db))
    }

    fn migrate(&self) -> Result<()> {
        let mut c = self.client.borrow_mut();
        let mut tx = c.transaction().map_err(self.pg("migrating the ledger schema"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(self.pg("locking the schema"))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS airlock_ledger_schema (version BIGINT NOT NULL)")
            .map_err(self.pg("migrating the ledger schema"))?;
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM airlock_ledger_schema", &[])
            .map_err(self.pg("reading the schema version"))?
            .map(|r| r.get(0));
        let version = found.unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(LedgerStoreError::PgNewer { location: self.location.clone(), found: version });
        }
        for sql in MIGRATIONS.iter().skip(version as usize) {
            tx.batch_execute(sql).map_err(self.pg("migrating the ledger schema"))?;
        }
        if found.is_none() {
            tx.execute("INSERT INTO airlock_ledger_schema (version) VALUES ($1)", &[&SCHEMA_VERSION])
        } else {
            tx.execute("UPDATE airlock_ledger_schema SET version = $1", &[&SCHEMA_VERSION])
        }
        .map_err(self.pg("migrating the ledger schema"))?;
        tx.commit().map_err(self.pg("migrating the ledger schema"))
    }

    fn records(&self, sql: &str, params: &[&(dyn ToSql + Sync)], what: &'static str) -> Result<Vec<StoredRecord>> {
        let rows = self.client.borrow_mut().query(sql, params).map_err(self.pg(what))?;
        rows.iter().map(|r| stored(self, r, what)).collect()
    }

    fn parse(&self, seq: u64, bytes: &[u8]) -> Result<Record> {
        Record::parse(bytes).map_err(|source| LedgerStoreError::Record { path: self.location.clone().into(), seq, source })
    }
}

fn stored(db: &PgLedger, r: &postgres::Row, what: &'static str) -> Result<StoredRecord> {
    let seq = r.get::<_, i64>(0) as u64;
    let hash: Vec<u8> = r.get(1);
    let hash: [u8; 32] = hash.try_into().map_err(|_| LedgerStoreError::NotADatabase {
        path: db.location.clone().into(),
        detail: format!("{what}: record #{seq}'s hash column is not 32 bytes"),
        expected: "an airlock ledger schema".into(),
    })?;
    Ok(StoredRecord { seq, hash: Sha256Digest(hash), bytes: r.get(2) })
}

fn head_of(db: &PgLedger, c: &mut impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Head>> {
    let row = c.query_opt(sql, params).map_err(db.pg("reading the chain head"))?;
    row.map(|r| {
        let s = stored(db, &r, "reading the chain head")?;
        Ok(Head { seq: s.seq, hash: s.hash })
    })
    .transpose()
}

fn insert(db: &PgLedger, c: &mut impl GenericClient, site: Option<&str>, r: &Record, bytes: &[u8]) -> Result<()> {
    let s = &r.subject;
    let (seq, hash, outcome) = (r.seq as i64, &r.hash.0[..], r.outcome.name());
    let cols = "seq, hash, recorded_at, command, outcome, product, version, bundle_id, channel, record";
    let values: [&(dyn ToSql + Sync); 10] =
        [&seq, &hash, &r.recorded_at.0, &r.command, &outcome, &s.product, &s.version, &s.bundle_id, &s.channel, &bytes];
    match site {
        None => c.execute(&format!("INSERT INTO records ({cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"), &values),
        Some(site) => {
            let mut v = values.to_vec();
            v.push(&site);
            c.execute(&format!("INSERT INTO site_records ({cols}, site_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"), &v)
        }
    }
    .map(drop)
    .map_err(db.pg("inserting a record"))
}

/// The WHERE clause with `$n` placeholders and its boxed arguments.
fn filter_pg(f: &Filter) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let (clauses, args) = filter_clauses(f);
    let numbered: Vec<String> = clauses.iter().enumerate().map(|(i, c)| c.replace('?', &format!("${}", i + 1))).collect();
    let sql = if numbered.is_empty() { String::new() } else { format!(" WHERE {}", numbered.join(" AND ")) };
    let args = args
        .into_iter()
        .map(|a| match a {
            SearchArg::Text(t) => Box::new(t) as Box<dyn ToSql + Sync>,
            SearchArg::Int(i) => Box::new(i),
        })
        .collect();
    (sql, args)
}

impl Ledger for PgLedger {
    type Error = LedgerStoreError;

    fn append(&mut self, draft: Draft) -> Result<Head> {
        let mut c = self.client.borrow_mut();
        let mut tx = c.transaction().map_err(self.pg("starting the append"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK]).map_err(self.pg("locking the ledger"))?;
        let head = head_of(self, &mut tx, "SELECT seq, hash, record FROM records ORDER BY seq DESC LIMIT 1", &[])?;
        let (seq, prev) = head.map(|h| (h.seq + 1, h.hash)).unwrap_or((1, GENESIS_PREV));
        let sealed = draft.seal(seq, prev);
        insert(self, &mut tx, None, &sealed.record, &sealed.bytes)?;
        tx.commit().map_err(self.pg("committing the append"))?;
        Ok(Head { seq, hash: sealed.record.hash })
    }

    fn get(&self, at: Locator) -> Result<Option<StoredRecord>> {
        let q = "SELECT seq, hash, record FROM records WHERE ";
        let rows = match at {
            Locator::Seq(n) => self.records(&format!("{q}seq = $1"), &[&(n as i64)], "reading a record")?,
            Locator::Hash(h) => self.records(&format!("{q}hash = $1"), &[&&h.0[..]], "reading a record")?,
        };
        Ok(rows.into_iter().next())
    }

    fn search(&self, f: &Filter) -> Result<Vec<Record>> {
        let (clauses, args) = filter_pg(f);
        let sql = format!("SELECT seq, hash, record FROM records{clauses} ORDER BY seq DESC{}", limit_sql(f));
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        self.records(&sql, &params, "searching")?.iter().map(|r| self.parse(r.seq, &r.bytes)).collect()
    }

    fn head(&self) -> Result<Option<Head>> {
        head_of(self, &mut *self.client.borrow_mut(), "SELECT seq, hash, record FROM records ORDER BY seq DESC LIMIT 1", &[])
    }

    fn range(&self, from: u64, visit: &mut dyn FnMut(StoredRecord) -> bool) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut c = self.client.borrow_mut();
        let from = from as i64;
        let mut rows = c
            .query_raw("SELECT seq, hash, record FROM records WHERE seq >= $1 ORDER BY seq", [&from as &(dyn ToSql + Sync)])
            .map_err(self.pg("reading records"))?;
        while let Some(r) = rows.next().map_err(self.pg("reading records"))? {
            if !visit(stored(self, &r, "reading records")?) {
                break;
            }
        }
        Ok(())
    }
}

impl LedgerStore for PgLedger {
    fn location(&self) -> String {
        format!("postgres {}", self.location)
    }

    fn search_each(&self, f: &Filter, visit: &mut dyn FnMut(Record) -> bool) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let (clauses, args) = filter_pg(f);
        let sql = format!("SELECT seq, hash, record FROM records{clauses} ORDER BY seq DESC{}", limit_sql(f));
        let mut c = self.client.borrow_mut();
        // Rows taken as they arrive (query_raw), not the whole result at once.
        let mut rows = c.query_raw(&sql, args.iter().map(|a| a.as_ref())).map_err(self.pg("searching"))?;
        while let Some(row) = rows.next().map_err(self.pg("searching"))? {
            let s = stored(self, &row, "searching")?;
            if !visit(self.parse(s.seq, &s.bytes)?) {
                break;
            }
        }
        Ok(())
    }

    fn count(&self) -> Result<u64> {
        let n: i64 = self.client.borrow_mut().query_one("SELECT count(*) FROM records", &[]).map_err(self.pg("counting records"))?.get(0);
        Ok(n as u64)
    }

    fn seq_bounds(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> Result<Option<(u64, u64)>> {
        let mut c = self.client.borrow_mut();
        let (since, until) = (since.map_or(i64::MIN, |t| t.0), until.map_or(i64::MAX, |t| t.0));
        let lo: Option<i64> = c
            .query_one("SELECT min(seq) FROM records WHERE recorded_at >= $1", &[&since])
            .map_err(self.pg("finding the export range"))?
            .get(0);
        let hi: Option<i64> = c
            .query_one("SELECT max(seq) FROM records WHERE recorded_at <= $1", &[&until])
            .map_err(self.pg("finding the export range"))?
            .get(0);
        Ok(match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo as u64, hi as u64)),
            _ => None,
        })
    }

    fn site_records(&self, site_id: &str) -> Result<Vec<StoredRecord>> {
        self.records("SELECT seq, hash, record FROM site_records WHERE site_id = $1 ORDER BY seq", &[&site_id], "reading site records")
    }

    fn search_sites(&self, f: &Filter) -> Result<Vec<(String, Record)>> {
        let (clauses, args) = filter_pg(f);
        let sql = format!(
            "SELECT seq, hash, record, site_id FROM site_records{clauses} ORDER BY recorded_at DESC, site_id DESC, seq DESC{}",
            limit_sql(f)
        );
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let rows = self.client.borrow_mut().query(&sql, &params).map_err(self.pg("searching site records"))?;
        rows.iter()
            .map(|r| {
                let s = stored(self, r, "searching site records")?;
                Ok((r.get::<_, String>(3), self.parse(s.seq, &s.bytes)?))
            })
            .collect()
    }

    fn forks(&self) -> Result<Vec<Fork>> {
        let rows = self
            .client
            .borrow_mut()
            .query("SELECT site_id, seq, held, offered, export_digest FROM forks ORDER BY id", &[])
            .map_err(self.pg("reading forks"))?;
        Ok(rows
            .iter()
            .map(|r| Fork { site_id: r.get(0), seq: r.get::<_, i64>(1) as u64, held: r.get(2), offered: r.get(3), export_digest: r.get(4) })
            .collect())
    }

    fn import_site(
        &mut self,
        site_id: &str,
        public_key_hex: &str,
        records: &[(Record, StoredRecord)],
        export_digest: &str,
        now: Timestamp,
    ) -> Result<Merge> {
        let mut c = self.client.borrow_mut();
        let mut tx = c.transaction().map_err(self.pg("starting the import"))?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&site_id]).map_err(self.pg("locking the site"))?;
        let held =
            head_of(self, &mut tx, "SELECT seq, hash, record FROM site_records WHERE site_id = $1 ORDER BY seq DESC LIMIT 1", &[&site_id])?;
        let plan = plan_merge(site_id, held, records, export_digest, |seq| {
            tx.query_one("SELECT record FROM site_records WHERE site_id = $1 AND seq = $2", &[&site_id, &(seq as i64)])
                .map(|r| r.get::<_, Vec<u8>>(0))
                .map_err(self.pg("reading a held record"))
        })?;
        let (same, first_new) = match plan {
            Plan::Insert { same, first_new } => (same, first_new),
            Plan::Gap { held, first } => return Ok(Merge::Gap { held, first }),
            Plan::Fork(f) => {
                drop(tx);
                c.execute(
                    "INSERT INTO forks (site_id, seq, held, offered, export_digest, detected_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&f.site_id, &(f.seq as i64), &f.held, &f.offered, &f.export_digest, &now.0],
                )
                .map_err(self.pg("keeping the fork as evidence"))?;
                return Ok(Merge::Fork(f));
            }
        };
        tx.execute(
            "INSERT INTO sites (site_id, public_key) VALUES ($1, $2) ON CONFLICT (site_id) DO NOTHING",
            &[&site_id, &public_key_hex],
        )
        .map_err(self.pg("recording the site"))?;
        for (record, row) in &records[first_new..] {
            insert(self, &mut tx, Some(site_id), record, &row.bytes)?;
        }
        tx.commit().map_err(self.pg("committing the import"))?;
        Ok(Merge::Merged { same, added: (records.len() - first_new) as u64 })
    }
}
