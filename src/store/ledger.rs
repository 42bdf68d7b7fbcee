//! The evidence ledger on SQLite: `$AIRLOCK_HOME/ledger.sqlite`, and the site key
//! (`$AIRLOCK_HOME/site.key`, mode 0600, with `site.pub`).
//!
//! Durability: WAL, `synchronous=FULL`. An append is one `BEGIN IMMEDIATE` transaction (read
//! the head, seal the record, insert, commit), so two processes appending at once queue on the
//! write lock instead of forking the chain; a lock held longer than [`BUSY_TIMEOUT`] is an error.
//! The schema is versioned by `PRAGMA user_version` with forward migrations; a database from a
//! newer airlock, or a file that is not a whole SQLite database, is refused and never touched.
//! A new database is built beside its final name and linked into place, so a crash never leaves
//! a half-made `ledger.sqlite`. Each row keeps the record's exact canonical bytes: `evidence
//! verify` recomputes every hash from what was stored, never from the indexed columns.
//!
//! The aggregation tables (`site_records`, `sites`, `forks`) hold other sites' imported exports.

pub use super::backend::LedgerStore;
use super::backend::{Plan, plan_merge};
use crate::digest::Sha256Digest;
use crate::fsio;
use crate::keys::SecretKey;
use crate::ledger::{Broken, ChainSummary, Draft, Filter, Head, Ledger, LedgerError, Locator, Outcome, Record, StoredRecord, Subject};
use crate::time::Timestamp;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database file name under `$AIRLOCK_HOME`.
pub const DB_FILE: &str = "ledger.sqlite";
/// The site key file name under `$AIRLOCK_HOME`.
pub const SITE_KEY_FILE: &str = "site.key";
/// The site public key file name under `$AIRLOCK_HOME`.
pub const SITE_PUB_FILE: &str = "site.pub";
/// How long an append waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The schema version this airlock writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// Forward migrations: entry `i` takes `user_version` `i` to `i + 1`.
const MIGRATIONS: [&str; 1] = [r"
CREATE TABLE records (
    seq INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    recorded_at INTEGER NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL,
    product TEXT,
    version TEXT,
    bundle_id TEXT,
    channel TEXT,
    record BLOB NOT NULL
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
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    recorded_at INTEGER NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL,
    product TEXT,
    version TEXT,
    bundle_id TEXT,
    channel TEXT,
    record BLOB NOT NULL,
    PRIMARY KEY (site_id, seq)
);
CREATE TABLE forks (
    id INTEGER PRIMARY KEY,
    site_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    held BLOB NOT NULL,
    offered BLOB NOT NULL,
    export_digest TEXT NOT NULL,
    detected_at INTEGER NOT NULL
);
"];

/// Errors of the ledger store.
#[derive(Debug, thiserror::Error)]
pub enum LedgerStoreError {
    /// No state directory could be resolved or created.
    #[error("{0}\n  hint: set AIRLOCK_HOME to a writable directory")]
    Home(String),
    /// A file could not be read or written.
    #[error("{path}: {what}: {source}\n  hint: check the directory's permissions and free space")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a whole SQLite database (garbage or truncated); it was left as it was.
    #[error(
        "{path} is not a usable ledger database: {detail}; expected {expected}; the file was left as it was\n  hint: restore it from a backup (or move it aside to start a new ledger, keeping it as evidence)"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
        /// What a ledger must be.
        expected: String,
    },
    /// Written by a newer airlock: refused, never altered.
    #[error(
        "{path} has ledger schema version {found}; this airlock reads up to version {SCHEMA_VERSION}; the file was not changed\n  hint: use the airlock that wrote it, or a newer one"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// Another process held the write lock longer than [`BUSY_TIMEOUT`].
    #[error("{path} stayed locked by another process for more than {}s while {what}\n  hint: find the airlock process holding it (fuser {path}) and retry", BUSY_TIMEOUT.as_secs())]
    Busy {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
    },
    /// SQLite refused an operation.
    #[error("{path}: {what}: {source}\n  hint: run `airlock evidence verify`; a full disk or read-only home also ends here")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: rusqlite::Error,
    },
    /// A stored record could not be parsed.
    #[error("{path}: record #{seq}: {source}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The row's sequence number.
        seq: u64,
        /// The cause.
        source: LedgerError,
    },
    /// A `--store` value that names no backend airlock has.
    #[error(
        "--store {given:?} is not a ledger store airlock can open; expected postgres://…, postgresql://…, a key=value form with host=…, or sqlite:PATH\n  hint: leave --store out for the ledger under $AIRLOCK_HOME"
    )]
    StoreUrl {
        /// The value given, password redacted.
        given: String,
    },
    /// The PostgreSQL server refused an operation, or could not be reached.
    #[error(
        "PostgreSQL {location}: {what}: {source}\n  hint: check that the server is up and the role may write the database; nothing was half-written (each change is one transaction)"
    )]
    Postgres {
        /// Host and database (no password).
        location: String,
        /// What was being done.
        what: &'static str,
        /// The cause (the `postgres` crate's error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A PostgreSQL `--store` given to an airlock built without the `postgres` feature.
    #[error(
        "--store {given:?} names a PostgreSQL database, but this airlock was built without PostgreSQL support\n  hint: use an airlock built with default features (the `postgres` feature), or an SQLite store"
    )]
    NoPostgres {
        /// The value given, password redacted.
        given: String,
    },
    /// The PostgreSQL database holds a newer airlock schema: refused, never altered.
    #[error(
        "PostgreSQL {location} has ledger schema version {found}; this airlock reads up to version {SCHEMA_VERSION}; nothing was changed\n  hint: use the airlock that wrote it, or a newer one"
    )]
    PgNewer {
        /// Host and database.
        location: String,
        /// The stored schema version.
        found: i64,
    },
    /// The site key file exists but is not an airlock secret key.
    #[error(
        "site key {path} is unusable: {detail}; expected an airlock Ed25519 secret key (mode 0600)\n  hint: restore it from a backup; a new key would be a new site id"
    )]
    SiteKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

type Result<T, E = LedgerStoreError> = std::result::Result<T, E>;

/// The state directory for the ledger, created if absent.
pub fn home() -> Result<PathBuf> {
    super::ensure_home().map_err(|e| LedgerStoreError::Home(format!("{e:#}")))
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> LedgerStoreError + 'a {
    move |source| LedgerStoreError::Io { path: path.to_path_buf(), what, source }
}

fn anyhow_io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(anyhow::Error) -> LedgerStoreError + 'a {
    move |e| LedgerStoreError::Io { path: path.to_path_buf(), what, source: std::io::Error::other(format!("{e:#}")) }
}

/// The site key under `home`, made on first use (0600, atomically; a concurrent first use
/// keeps whichever key was linked first).
pub fn site_key(home: &Path) -> Result<SecretKey> {
    let path = home.join(SITE_KEY_FILE);
    if !path.exists() {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| io(&path, "making the site key")(std::io::Error::other(e.to_string())))?;
        let sk = SecretKey::from_seed(&seed);
        let mut f = fsio::AtomicFile::create(&path, 0o600).map_err(anyhow_io(&path, "creating the site key"))?;
        std::io::Write::write_all(f.file(), &sk.to_file()).map_err(io(&path, "writing the site key"))?;
        f.commit_new().map_err(anyhow_io(&path, "creating the site key"))?;
    }
    let bytes = fsio::read_small(&path, 64 << 10).map_err(anyhow_io(&path, "reading the site key"))?;
    let sk = SecretKey::parse_file(&bytes).map_err(|e| LedgerStoreError::SiteKey { path: path.clone(), detail: e.to_string() })?;
    let public = home.join(SITE_PUB_FILE);
    if fsio::read_small(&public, 64 << 10).ok().as_deref() != Some(&sk.public().to_file()[..]) {
        fsio::atomic_write(&public, &sk.public().to_file(), 0o644).map_err(anyhow_io(&public, "writing the site public key"))?;
    }
    Ok(sk)
}

/// Appends one record for a deciding command: the entry point commands call once their verdict
/// is final. Opens (or makes) the site key and the ledger under `$AIRLOCK_HOME`.
pub fn record(now: Timestamp, command: &str, subject: Subject, outcome: Outcome, report: &serde_json::Value) -> Result<Head> {
    record_in(&home()?, now, command, subject, outcome, report)
}

/// [`record`] under a given state directory (which must exist).
pub fn record_in(
    home: &Path,
    now: Timestamp,
    command: &str,
    subject: Subject,
    outcome: Outcome,
    report: &serde_json::Value,
) -> Result<Head> {
    let site = site_key(home)?;
    let mut db = SqliteLedger::open(home)?;
    db.append(Draft {
        site_id: site.public().keyid().hex(),
        recorded_at: now,
        command: command.to_string(),
        subject,
        outcome,
        report: report.clone(),
    })
}

/// The SQLite ledger.
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
}

/// Checks the file header without SQLite: the magic, a whole number of pages and, when no
/// write-ahead log is pending, at least as many pages as the header says.
fn check_file(path: &Path) -> Result<()> {
    use std::io::Read;
    let bad = |detail: String| LedgerStoreError::NotADatabase {
        path: path.to_path_buf(),
        detail,
        expected: "an SQLite 3 database written by airlock".into(),
    };
    let mut f = std::fs::File::open(path).map_err(io(path, "opening the ledger"))?;
    let len = f.metadata().map_err(io(path, "reading the ledger's size"))?.len();
    let mut h = [0u8; 100];
    if len < 100 {
        return Err(bad(format!("the file is {len} bytes, shorter than an SQLite header (truncated?)")));
    }
    f.read_exact(&mut h).map_err(io(path, "reading the ledger's header"))?;
    if &h[..16] != b"SQLite format 3\0" {
        return Err(bad("the first 16 bytes are not the SQLite 3 magic".into()));
    }
    let page = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65536u64,
        p if p >= 512 && p.is_power_of_two() => u64::from(p),
        p => return Err(bad(format!("page size {p} is not a power of two from 512 to 65536"))),
    };
    if !len.is_multiple_of(page) {
        return Err(bad(format!("the file is {len} bytes, not a whole number of {page}-byte pages (truncated?)")));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_pending = std::fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false);
    let pages = u64::from(u32::from_be_bytes([h[28], h[29], h[30], h[31]]));
    let valid_for = h[24..28] == h[92..96];
    if !wal_pending && valid_for && pages * page > len {
        return Err(bad(format!("the header says {pages} pages of {page} bytes but the file is {len} bytes (truncated)")));
    }
    Ok(())
}

impl SqliteLedger {
    /// Opens the ledger under `home`, making it if absent.
    pub fn open(home: &Path) -> Result<Self> {
        let path = home.join(DB_FILE);
        if !path.exists() {
            Self::create(&path)?;
        }
        Self::open_path(&path)
    }

    /// Opens the ledger file `path` (`--store sqlite:PATH`), making it if absent.
    pub fn open_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            Self::create(path)?;
        }
        Self::open_path(path)
    }

    /// Opens the ledger under `home` if it exists (read commands make nothing).
    pub fn open_existing(home: &Path) -> Result<Option<Self>> {
        let path = home.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Self::open_path(&path).map(Some)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, what: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerStoreError + '_ {
        move |source| sql_error(&self.path, what, source)
    }

    fn create(path: &Path) -> Result<()> {
        let f = fsio::AtomicFile::create(path, 0o600).map_err(anyhow_io(path, "creating the ledger"))?;
        let tmp = f.tmp_path().to_path_buf();
        {
            let conn = Connection::open(&tmp).map_err(|e| sql_error(path, "creating the ledger", e))?;
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(path, "setting WAL mode", e))?;
            conn.pragma_update(None, "synchronous", "FULL").map_err(|e| sql_error(path, "setting synchronous=FULL", e))?;
            migrate(&conn, path, 0)?;
            conn.close().map_err(|(_, e)| sql_error(path, "closing the new ledger", e))?;
        }
        f.commit_new().map_err(anyhow_io(path, "creating the ledger"))?;
        Ok(())
    }

    fn open_path(path: &Path) -> Result<Self> {
        check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "opening the ledger", e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sql_error(path, "setting the busy timeout", e))?;
        let version: i64 =
            conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| sql_error(path, "reading the schema version", e))?;
        if version > SCHEMA_VERSION {
            return Err(LedgerStoreError::Newer { path: path.to_path_buf(), found: version });
        }
        if version < 1 {
            return Err(LedgerStoreError::NotADatabase {
                path: path.to_path_buf(),
                detail: "user_version 0: an SQLite database, but not one airlock made".into(),
                expected: format!("an airlock ledger (user_version 1..={SCHEMA_VERSION})"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| sql_error(path, "setting synchronous=FULL", e))?;
        // A commit is durable in the WAL already; checkpointing on every close would cost each
        // one-record command several more fsyncs. SQLite checkpoints every 1,000 pages instead.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| sql_error(path, "configuring checkpoints", e))?;
        if version < SCHEMA_VERSION {
            migrate(&conn, path, version)?;
        }
        Ok(SqliteLedger { conn, path: path.to_path_buf() })
    }

    /// Appends many records in one transaction (bulk loads and benchmarks).
    pub fn append_all(&mut self, drafts: impl IntoIterator<Item = Draft>) -> Result<Option<Head>> {
        let path = self.path.clone();
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| sql_error(&path, "locking the ledger", e))?;
        let mut head = read_head(&tx, &path)?;
        for d in drafts {
            let (seq, prev) = head.map(|h| (h.seq + 1, h.hash)).unwrap_or((1, crate::ledger::GENESIS_PREV));
            let sealed = d.seal(seq, prev);
            insert(&tx, &path, "records", None, &sealed.record, &sealed.bytes)?;
            head = Some(Head { seq, hash: sealed.record.hash });
        }
        tx.commit().map_err(|e| sql_error(&path, "committing the append", e))?;
        Ok(head)
    }

    fn each(&self, from: u64, visit: &mut dyn FnMut(StoredRecord) -> bool) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, hash, record FROM records WHERE seq >= ?1 ORDER BY seq")
            .map_err(self.sql("reading records"))?;
        let mut rows = st.query([from as i64]).map_err(self.sql("reading records"))?;
        while let Some(r) = rows.next().map_err(self.sql("reading records"))? {
            if !visit(stored(r).map_err(self.sql("reading records"))?) {
                break;
            }
        }
        Ok(())
    }

    fn keep_fork(&mut self, f: &Fork, now: Timestamp) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO forks (site_id, seq, held, offered, export_digest, detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![f.site_id, f.seq as i64, f.held, f.offered, f.export_digest, now.0],
            )
            .map_err(self.sql("keeping the fork as evidence"))?;
        Ok(())
    }
}

impl LedgerStore for SqliteLedger {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn search_each(&self, f: &Filter, visit: &mut dyn FnMut(Record) -> bool) -> Result<()> {
        let (clauses, args) = filter_sql(f);
        let sql = format!("SELECT seq, hash, record FROM records{clauses} ORDER BY seq DESC{}", limit_sql(f));
        let mut st = self.conn.prepare(&sql).map_err(self.sql("searching"))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), stored).map_err(self.sql("searching"))?;
        for row in rows {
            let row = row.map_err(self.sql("searching"))?;
            let r =
                Record::parse(&row.bytes).map_err(|source| LedgerStoreError::Record { path: self.path.clone(), seq: row.seq, source })?;
            if !visit(r) {
                break;
            }
        }
        Ok(())
    }

    /// Number of records.
    fn count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.sql("counting records"))
    }

    /// The contiguous sequence range covering records recorded in `since..=until` (from the
    /// first record at or after `since` to the last at or before `until`), if any.
    fn seq_bounds(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> Result<Option<(u64, u64)>> {
        let lo: Option<i64> = self
            .conn
            .query_row("SELECT min(seq) FROM records WHERE recorded_at >= ?1", [since.map_or(i64::MIN, |t| t.0)], |r| r.get(0))
            .map_err(self.sql("finding the export range"))?;
        let hi: Option<i64> = self
            .conn
            .query_row("SELECT max(seq) FROM records WHERE recorded_at <= ?1", [until.map_or(i64::MAX, |t| t.0)], |r| r.get(0))
            .map_err(self.sql("finding the export range"))?;
        Ok(match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo as u64, hi as u64)),
            _ => None,
        })
    }

    fn structure_check(&self) -> Result<Option<String>> {
        let s: String = self.conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(self.sql("checking the database structure"))?;
        Ok((s != "ok").then_some(s))
    }

    /// The structure check on a second read-only connection and the chain walk at once:
    /// `evidence verify`'s two walks over the file, in parallel.
    fn check_all(
        &self,
        threads: usize,
        tick: &(dyn Fn(u64) + Sync),
    ) -> Result<(Option<String>, std::result::Result<ChainSummary, Broken>)> {
        std::thread::scope(|s| {
            let path = self.path.as_path();
            let structure = s.spawn(move || -> Result<Option<String>> {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, "opening the ledger", e))?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sql_error(path, "setting the busy timeout", e))?;
                let s: String = conn
                    .query_row("PRAGMA quick_check", [], |r| r.get(0))
                    .map_err(|e| sql_error(path, "checking the database structure", e))?;
                Ok((s != "ok").then_some(s))
            });
            let chain = super::backend::verify_chain(self, threads, tick);
            Ok((structure.join().expect("quick_check does not panic")?, chain?))
        })
    }

    /// The records held for an imported site, in order.
    fn site_records(&self, site_id: &str) -> Result<Vec<StoredRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT seq, hash, record FROM site_records WHERE site_id = ?1 ORDER BY seq")
            .map_err(self.sql("reading site records"))?;
        let rows = st.query_map([site_id], stored).map_err(self.sql("reading site records"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.sql("reading site records"))
    }

    fn search_sites(&self, f: &Filter) -> Result<Vec<(String, Record)>> {
        let (clauses, args) = filter_sql(f);
        let sql = format!(
            "SELECT site_id, seq, hash, record FROM site_records{clauses} ORDER BY recorded_at DESC, site_id DESC, seq DESC{}",
            limit_sql(f)
        );
        let mut st = self.conn.prepare(&sql).map_err(self.sql("searching site records"))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, Vec<u8>>(3)?))
            })
            .map_err(self.sql("searching site records"))?;
        let mut out = vec![];
        for row in rows {
            let (site, seq, bytes) = row.map_err(self.sql("searching site records"))?;
            let r = Record::parse(&bytes).map_err(|source| LedgerStoreError::Record { path: self.path.clone(), seq, source })?;
            out.push((site, r));
        }
        Ok(out)
    }

    /// The forks kept as evidence, oldest first.
    fn forks(&self) -> Result<Vec<Fork>> {
        let mut st = self
            .conn
            .prepare("SELECT site_id, seq, held, offered, export_digest FROM forks ORDER BY id")
            .map_err(self.sql("reading forks"))?;
        let rows = st
            .query_map([], |r| {
                Ok(Fork {
                    site_id: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    held: r.get(2)?,
                    offered: r.get(3)?,
                    export_digest: r.get(4)?,
                })
            })
            .map_err(self.sql("reading forks"))?;
        rows.collect::<std::result::Result<_, _>>().map_err(self.sql("reading forks"))
    }

    /// Merges a verified export of `site_id` (its records already chain-checked among
    /// themselves, in order) into the aggregation tables, in one transaction. Records the
    /// aggregator already holds must be byte-identical; new ones must continue the held chain.
    /// A fork or gap merges nothing; a fork is kept in `forks` as evidence.
    fn import_site(
        &mut self,
        site_id: &str,
        public_key_hex: &str,
        records: &[(Record, StoredRecord)],
        export_digest: &str,
        now: Timestamp,
    ) -> Result<Merge> {
        let path = self.path.clone();
        let tx =
            self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| sql_error(&path, "locking the ledger", e))?;
        let held = tx
            .query_row("SELECT seq, hash FROM site_records WHERE site_id = ?1 ORDER BY seq DESC LIMIT 1", [site_id], |r| {
                Ok(Head { seq: r.get::<_, i64>(0)? as u64, hash: digest_of(&r.get::<_, Vec<u8>>(1)?)? })
            })
            .optional()
            .map_err(|e| sql_error(&path, "reading the site's head", e))?;
        let plan = plan_merge(site_id, held, records, export_digest, |seq| {
            tx.query_row("SELECT record FROM site_records WHERE site_id = ?1 AND seq = ?2", params![site_id, seq as i64], |r| r.get(0))
                .map_err(|e| sql_error(&path, "reading a held record", e))
        })?;
        let (same, first_new) = match plan {
            Plan::Insert { same, first_new } => (same, first_new),
            Plan::Gap { held, first } => return Ok(Merge::Gap { held, first }),
            Plan::Fork(fork) => {
                drop(tx);
                self.keep_fork(&fork, now)?;
                return Ok(Merge::Fork(fork));
            }
        };
        tx.execute("INSERT OR IGNORE INTO sites (site_id, public_key) VALUES (?1, ?2)", [site_id, public_key_hex])
            .map_err(|e| sql_error(&path, "recording the site", e))?;
        for (record, row) in &records[first_new..] {
            insert(&tx, &path, "site_records", Some(site_id), record, &row.bytes)?;
        }
        let added = (records.len() - first_new) as u64;
        tx.commit().map_err(|e| sql_error(&path, "committing the import", e))?;
        Ok(Merge::Merged { same, added })
    }
}

/// A fork found on import: two different records at one sequence number of one site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    /// The site.
    pub site_id: String,
    /// The sequence number.
    pub seq: u64,
    /// The record already held.
    pub held: Vec<u8>,
    /// The record the export offered.
    pub offered: Vec<u8>,
    /// The export bundle's id.
    pub export_digest: String,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Merged: `same` records were already held identically, `added` are new.
    Merged {
        /// Already held, identical.
        same: u64,
        /// New.
        added: u64,
    },
    /// Refused: a different record at a held sequence number (kept in `forks`).
    Fork(Fork),
    /// Refused: the export does not continue the held chain.
    Gap {
        /// The newest held sequence number.
        held: u64,
        /// The export's first new sequence number.
        first: u64,
    },
}

fn sql_error(path: &Path, what: &'static str, source: rusqlite::Error) -> LedgerStoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => LedgerStoreError::Busy { path: path.to_path_buf(), what },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => LedgerStoreError::NotADatabase {
            path: path.to_path_buf(),
            detail: format!("{what}: {source}"),
            expected: "an intact SQLite 3 database written by airlock".into(),
        },
        _ => LedgerStoreError::Sqlite { path: path.to_path_buf(), what, source },
    }
}

fn migrate(conn: &Connection, path: &Path, from: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = i as i64 + 1;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql} PRAGMA user_version = {to}; COMMIT;"))
            .map_err(|e| sql_error(path, "migrating the ledger schema", e))?;
    }
    Ok(())
}

/// The WHERE clause of a search (with `?` placeholders) and its arguments, in one order for
/// both backends (PostgreSQL numbers the placeholders).
pub(crate) fn filter_clauses(f: &Filter) -> (Vec<&'static str>, Vec<SearchArg>) {
    let mut clauses = vec![];
    let mut args = vec![];
    let text = [
        (&f.product, "product = ?"),
        (&f.version, "version = ?"),
        (&f.bundle_id, "bundle_id = ?"),
        (&f.command, "command = ?"),
        (&f.channel, "channel = ?"),
    ];
    for (v, c) in text {
        if let Some(v) = v {
            clauses.push(c);
            args.push(SearchArg::Text(v.clone()));
        }
    }
    if let Some(o) = f.outcome {
        clauses.push("outcome = ?");
        args.push(SearchArg::Text(o.name().to_string()));
    }
    if let Some(t) = f.since {
        clauses.push("recorded_at >= ?");
        args.push(SearchArg::Int(t.0));
    }
    if let Some(t) = f.until {
        clauses.push("recorded_at <= ?");
        args.push(SearchArg::Int(t.0));
    }
    (clauses, args)
}

/// One search argument.
pub(crate) enum SearchArg {
    /// A text column's value.
    Text(String),
    /// `recorded_at` bound.
    Int(i64),
}

/// ` LIMIT n` or nothing.
pub(crate) fn limit_sql(f: &Filter) -> String {
    f.limit.map(|n| format!(" LIMIT {}", n.min(i64::MAX as u64))).unwrap_or_default()
}

fn filter_sql(f: &Filter) -> (String, Vec<rusqlite::types::Value>) {
    let (clauses, args) = filter_clauses(f);
    let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let args = args
        .into_iter()
        .map(|a| match a {
            SearchArg::Text(t) => t.into(),
            SearchArg::Int(i) => i.into(),
        })
        .collect();
    (sql, args)
}

fn digest_of(b: &[u8]) -> rusqlite::Result<Sha256Digest> {
    let a: [u8; 32] = b.try_into().map_err(|_| rusqlite::Error::InvalidColumnType(1, "hash".into(), rusqlite::types::Type::Blob))?;
    Ok(Sha256Digest(a))
}

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord { seq: r.get::<_, i64>(0)? as u64, hash: digest_of(&r.get::<_, Vec<u8>>(1)?)?, bytes: r.get(2)? })
}

fn read_head(conn: &Connection, path: &Path) -> Result<Option<Head>> {
    conn.query_row("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", [], |r| {
        Ok(Head { seq: r.get::<_, i64>(0)? as u64, hash: digest_of(&r.get::<_, Vec<u8>>(1)?)? })
    })
    .optional()
    .map_err(|e| sql_error(path, "reading the chain head", e))
}

fn insert(conn: &Connection, path: &Path, table: &str, site: Option<&str>, r: &Record, bytes: &[u8]) -> Result<()> {
    let s = &r.subject;
    let cols = "seq, hash, recorded_at, command, outcome, product, version, bundle_id, channel, record";
    let p = params![
        r.seq as i64,
        &r.hash.0[..],
        r.recorded_at.0,
        r.command,
        r.outcome.name(),
        s.product,
        s.version,
        s.bundle_id,
        s.channel,
        bytes
    ];
    let res = match site {
        None => conn
            .prepare_cached(&format!("INSERT INTO {table} ({cols}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"))
            .and_then(|mut st| st.execute(p)),
        Some(site) => conn
            .prepare_cached(&format!("INSERT INTO {table} (site_id, {cols}) VALUES (?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"))
            .and_then(|mut st| {
                st.execute(params![
                    r.seq as i64,
                    &r.hash.0[..],
                    r.recorded_at.0,
                    r.command,
                    r.outcome.name(),
                    s.product,
                    s.version,
                    s.bundle_id,
                    s.channel,
                    bytes,
                    site
                ])
            }),
    };
    res.map(drop).map_err(|e| sql_error(path, "inserting a record", e))
}

impl Ledger for SqliteLedger {
    type Error = LedgerStoreError;

    fn append(&mut self, draft: Draft) -> Result<Head> {
        Ok(self.append_all([draft])?.expect("one record was appended"))
    }

    fn get(&self, at: Locator) -> Result<Option<StoredRecord>> {
        let q = "SELECT seq, hash, record FROM records WHERE ";
        match at {
            Locator::Seq(n) => self.conn.query_row(&format!("{q}seq = ?1"), [n as i64], stored),
            Locator::Hash(h) => self.conn.query_row(&format!("{q}hash = ?1"), [&h.0[..]], stored),
        }
        .optional()
        .map_err(self.sql("reading a record"))
    }

    fn search(&self, f: &Filter) -> Result<Vec<Record>> {
        let (clauses, args) = filter_sql(f);
        let sql = format!("SELECT seq, hash, record FROM records{clauses} ORDER BY seq DESC{}", limit_sql(f));
        let mut st = self.conn.prepare(&sql).map_err(self.sql("searching"))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), stored).map_err(self.sql("searching"))?;
        let mut out = vec![];
        for row in rows {
            let row = row.map_err(self.sql("searching"))?;
            out.push(Record::parse(&row.bytes).map_err(|source| LedgerStoreError::Record {
                path: self.path.clone(),
                seq: row.seq,
                source,
            })?);
        }
        Ok(out)
    }

    fn head(&self) -> Result<Option<Head>> {
        read_head(&self.conn, &self.path)
    }

    fn range(&self, from: u64, visit: &mut dyn FnMut(StoredRecord) -> bool) -> Result<()> {
        self.each(from, visit)
    }
}

impl crate::report::Diagnostic for LedgerStoreError {
    fn id(&self) -> std::borrow::Cow<'static, str> {
        match self {
            LedgerStoreError::Home(_) => "ledger.home",
            LedgerStoreError::Io { .. } => "io",
            LedgerStoreError::NotADatabase { .. } => "ledger.not-a-database",
            LedgerStoreError::Newer { .. } => "ledger.newer-schema",
            LedgerStoreError::Busy { .. } => "ledger.busy",
            LedgerStoreError::Sqlite { .. } => "ledger.sqlite",
            LedgerStoreError::Record { .. } => "ledger.record",
            LedgerStoreError::SiteKey { .. } => "ledger.site-key",
            LedgerStoreError::StoreUrl { .. } => "ledger.store-url",
            LedgerStoreError::Postgres { .. } => "ledger.postgres",
            LedgerStoreError::NoPostgres { .. } => "ledger.no-postgres",
            LedgerStoreError::PgNewer { .. } => "ledger.newer-schema",
        }
        .into()
    }
    fn hint(&self) -> std::borrow::Cow<'static, str> {
        let text = self.to_string();
        match text.split_once("hint: ") {
            Some((_, h)) => h.lines().next().unwrap_or_default().trim().to_string().into(),
            None => "run `airlock evidence verify`; check $AIRLOCK_HOME's permissions and free space".into(),
        }
    }
}
