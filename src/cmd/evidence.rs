//! `airlock evidence site|search|show|verify|export|import`: the evidence ledger
//! (format-spec/evidence-ledger-v1.md) kept in `$AIRLOCK_HOME/ledger.sqlite`.

use super::Ui;
use super::pack::{Compress, Data, Job, Source, pack_sources};
use crate::bundle::manifest::Release;
use crate::ledger::audit::{self, AuditFormat, AuditOptions};
use crate::ledger::chain::ChainCheck;
use crate::ledger::export::{self, EXPORT_PRODUCT, HEAD_MEMBER, RECORDS_MEMBER};
use crate::ledger::{Filter, Head, Ledger, Locator, Outcome, Record, StoredRecord};
use crate::store::backend::{LedgerStore, StoreUrl};
use crate::store::ledger::{self as store, Merge, SqliteLedger};
use crate::time::Timestamp;
use crate::verify::{TrustPolicy, Verification};
use crate::{archive, clock, fsio};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

/// The evidence ledger: what was decided, when, on which site, with what result.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit codes: 0 passed, 1 the chain is broken or an import was refused, 2 could not check.\n\n\
Examples:\n  airlock evidence site\n  airlock evidence search --product app --outcome fail --since 2026-01-01T00:00:00Z\n  \
airlock evidence show 42 --json\n  airlock evidence verify\n  \
airlock evidence export --since 2026-01-01T00:00:00Z -o site-a.zip\n  airlock evidence import site-a.zip --site-key site-a.pub")]
pub struct Args {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show this site's id and public key (made on first use).
    Site(SiteArgs),
    /// Search records, newest first.
    Search(SearchArgs),
    /// Show one record by sequence number or hash.
    Show(ShowArgs),
    /// Walk the whole chain: contiguous sequence numbers, every hash, every link.
    Verify(VerifyArgs),
    /// Export records as a bundle signed by the site key (or as an audit file, --format).
    Export(ExportArgs),
    /// Merge another site's signed export into this machine's aggregation tables.
    Import(ImportArgs),
}

/// `evidence export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// First record recorded at or after this time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<Timestamp>,
    /// Last record recorded at or before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// Output file: FILE.zip or FILE.tar for the signed bundle; any name with --format.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Write an unsigned audit file instead of the signed bundle: jsonl, csv, splunk-hec,
    /// sentinel, datadog, webhook, jira, servicenow (format-spec/evidence-ledger-v1.md §9).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<AuditFormat>,
    /// Jira project key for --format jira.
    #[arg(long, default_value = "AIRLOCK")]
    pub jira_project: String,
    /// Jira issue type name for --format jira.
    #[arg(long, default_value = "Task")]
    pub jira_issue_type: String,
    /// Where the ledger is (as for `evidence search`; default: ledger.sqlite under $AIRLOCK_HOME).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

fn parse_format(s: &str) -> Result<AuditFormat, String> {
    AuditFormat::parse(s).ok_or_else(|| {
        format!("unknown audit format {s:?}; expected one of: {}", AuditFormat::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", "))
    })
}

/// `evidence import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The export bundle.
    pub export: PathBuf,
    /// The exporting site's public key (its `site.pub`).
    #[arg(long, value_name = "SITE.pub")]
    pub site_key: PathBuf,
    /// Where the ledger is: postgres://…, host=/path/to/socket dbname=…, or sqlite:PATH
    /// (default: ledger.sqlite under $AIRLOCK_HOME).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `evidence site`.
#[derive(clap::Args, Debug)]
pub struct SiteArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `evidence search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Subject product.
    #[arg(long)]
    pub product: Option<String>,
    /// Subject version.
    #[arg(long)]
    pub version: Option<String>,
    /// Subject bundle id (sha256:...).
    #[arg(long)]
    pub bundle_id: Option<String>,
    /// Deciding command (verify, gate, ...).
    #[arg(long)]
    pub command: Option<String>,
    /// Outcome.
    #[arg(long, value_parser = ["pass", "fail", "error"])]
    pub outcome: Option<String>,
    /// Release channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Recorded at or after (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<Timestamp>,
    /// Recorded at or before (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// At most N records (0: all).
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Search the records imported from other sites (`evidence import`) instead of this
    /// site's own chain.
    #[arg(long)]
    pub sites: bool,
    /// Where the ledger is: postgres://…, host=/path/to/socket dbname=…, or sqlite:PATH
    /// (default: ledger.sqlite under $AIRLOCK_HOME).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// JSON output (`airlock/evidence-search/v1`).
    #[arg(long)]
    pub json: bool,
}

/// `evidence show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Sequence number or record hash (sha256:...).
    pub at: String,
    /// Print the record itself (RFC 8785).
    #[arg(long)]
    pub json: bool,
}

/// `evidence verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Where the ledger is: postgres://…, host=/path/to/socket dbname=…, or sqlite:PATH
    /// (default: ledger.sqlite under $AIRLOCK_HOME).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Parses a `--since`/`--until` value.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

impl Args {
    /// With `--json`: the subcommand's name and the schema of its exit-2 error document.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        let error = crate::report::ERROR_SCHEMA;
        match &self.command {
            Cmd::Site(a) if a.json => Some(("evidence site", error)),
            Cmd::Search(a) if a.json => Some(("evidence search", error)),
            Cmd::Show(a) if a.json => Some(("evidence show", error)),
            Cmd::Verify(a) if a.json => Some(("evidence verify", error)),
            Cmd::Import(a) if a.json => Some(("evidence import", error)),
            _ => None,
        }
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        match self.command {
            Cmd::Site(a) => a.run(),
            Cmd::Search(a) => a.run(),
            Cmd::Show(a) => a.run(),
            Cmd::Verify(a) => a.run(ui),
            Cmd::Export(a) => a.run(ui),
            Cmd::Import(a) => a.run(ui),
        }
    }
}

fn open_existing() -> Result<Option<SqliteLedger>> {
    Ok(SqliteLedger::open_existing(&crate::store::home()?)?)
}

/// The store `--store` names (default: the SQLite ledger under `$AIRLOCK_HOME`), if it exists.
pub fn open_store_existing(url: Option<&str>) -> Result<Option<Box<dyn LedgerStore>>> {
    let url = StoreUrl::or_default(url, &crate::store::home()?)?;
    Ok(url.open_existing()?)
}

/// The store `--store` names, made if absent.
pub fn open_store(url: Option<&str>) -> Result<Box<dyn LedgerStore>> {
    let url = match url {
        Some(u) => StoreUrl::parse(u)?,
        None => StoreUrl::or_default(None, &store::home()?)?,
    };
    Ok(url.open()?)
}

impl SiteArgs {
    fn run(self) -> Result<u8> {
        let home = store::home()?;
        let sk = store::site_key(&home)?;
        let public = home.join(store::SITE_PUB_FILE);
        if self.json {
            super::out_json(
                &serde_json::json!({"siteId": sk.public().keyid().hex(), "publicKey": public, "publicKeyHex": hex::encode(sk.public().to_bytes())}),
            )?;
        } else {
            super::out(&format!(
                "site id    {}\npublic key {} (give this file to the aggregator: evidence import --site-key)\n",
                sk.public().keyid(),
                public.display()
            ))?;
        }
        Ok(0)
    }
}

impl SearchArgs {
    fn filter(&self) -> Filter {
        Filter {
            product: self.product.clone(),
            version: self.version.clone(),
            bundle_id: self.bundle_id.clone(),
            command: self.command.clone(),
            outcome: self.outcome.as_deref().and_then(Outcome::parse),
            channel: self.channel.clone(),
            since: self.since,
            until: self.until,
            limit: (self.limit > 0).then_some(self.limit),
        }
    }

    fn run(self) -> Result<u8> {
        let db = open_store_existing(self.store.as_deref())?;
        if self.sites {
            let found = match db {
                Some(db) => db.search_sites(&self.filter())?,
                None => vec![],
            };
            if self.json {
                let records: Vec<_> = found.iter().map(|(site, r)| serde_json::json!({"siteId": site, "record": r})).collect();
                super::out_json(
                    &serde_json::json!({"schema": "airlock/evidence-search/v1", "count": records.len(), "sites": true, "records": records}),
                )?;
            } else {
                let records: Vec<Record> = found.into_iter().map(|(_, r)| r).collect();
                super::out(&render_table(&records))?;
            }
            return Ok(0);
        }
        let records = match db {
            Some(db) => db.search(&self.filter())?,
            None => vec![],
        };
        if self.json {
            super::out_json(&serde_json::json!({"schema": "airlock/evidence-search/v1", "count": records.len(), "records": records}))?;
        } else {
            super::out(&render_table(&records))?;
        }
        Ok(0)
    }
}

/// One line per record.
pub fn render_table(records: &[Record]) -> String {
    let mut s = format!(
        "{:>6}  {:<20}  {:<16}  {:<7}  {:<24}  {:<10}  HASH\n",
        "SEQ", "RECORDED", "COMMAND", "OUTCOME", "PRODUCT VERSION", "CHANNEL"
    );
    for r in records {
        let pv = format!("{} {}", r.subject.product.as_deref().unwrap_or("-"), r.subject.version.as_deref().unwrap_or("-"));
        s.push_str(&format!(
            "{:>6}  {:<20}  {:<16}  {:<7}  {:<24}  {:<10}  {}\n",
            r.seq,
            r.recorded_at,
            r.command,
            r.outcome.name(),
            pv,
            r.subject.channel.as_deref().unwrap_or("-"),
            &r.hash.prefixed()[..23]
        ));
    }
    s.push_str(&format!("{} record(s)\n", records.len()));
    s
}

impl ShowArgs {
    fn run(self) -> Result<u8> {
        let Some(at) = Locator::parse(&self.at) else {
            bail!(
                "{:?} is neither a sequence number nor a record hash (sha256:<64 hex>)\n  hint: take one from `airlock evidence search`",
                self.at
            )
        };
        let found = match open_existing()? {
            Some(db) => db.get(at)?,
            None => None,
        };
        let Some(row) = found else {
            bail!("no evidence record {} in this ledger\n  hint: `airlock evidence search` lists what is recorded", self.at)
        };
        let r = Record::parse(&row.bytes).with_context(|| format!("evidence record #{}", row.seq))?;
        if self.json {
            let mut b = row.bytes;
            b.push(b'\n');
            super::out(&String::from_utf8_lossy(&b))?;
        } else {
            let s = &r.subject;
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            super::out(&format!(
                "seq           {}\nhash          {}\nprev          {}\nsite          {}\nrecorded at   {}\ncommand       {}\noutcome       {}\nproduct       {}\nversion       {}\nchannel       {}\nbundle id     {}\nartifact      {}\nreport digest {}\nreport\n{}\n",
                r.seq,
                r.hash,
                r.prev,
                r.site_id,
                r.recorded_at,
                r.command,
                r.outcome.name(),
                opt(&s.product),
                opt(&s.version),
                opt(&s.channel),
                opt(&s.bundle_id),
                opt(&s.artifact_digest),
                r.report_digest,
                serde_json::to_string_pretty(&r.report)?
            ))?;
        }
        Ok(0)
    }
}

impl VerifyArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let Some(db) = open_store_existing(self.store.as_deref())? else {
            return self.print(None, Ok(Default::default()), ui);
        };
        let total = db.count()?;
        let bar = crate::progress::count_bar(total, "verifying evidence", ui.progress);
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (damage, result) = db.check_all(threads, &|n| bar.inc(n))?;
        bar.finish_and_clear();
        if let Some(problem) = damage {
            bail!(
                "{}: SQLite quick_check found damage: {problem}\n  hint: restore the ledger from a backup; keep this file as evidence",
                db.location()
            );
        }
        self.print(Some(db.as_ref()), result, ui)
    }

    fn print(
        &self,
        db: Option<&dyn LedgerStore>,
        result: Result<crate::ledger::ChainSummary, crate::ledger::Broken>,
        ui: Ui,
    ) -> Result<u8> {
        let path = db.map(|d| d.location()).unwrap_or_else(|| "(no ledger yet)".into());
        match result {
            Ok(s) => {
                if self.json {
                    super::out_json(
                        &serde_json::json!({"schema": "airlock/evidence-verify/v1", "ledger": path, "outcome": "pass", "count": s.count, "head": s.head}),
                    )?;
                } else if !ui.quiet {
                    let head = s.head.map(|h| format!(", head #{} {}", h.seq, h.hash)).unwrap_or_default();
                    super::out(&format!("{path}: {} record(s), chain intact{head}\n", s.count))?;
                }
                Ok(0)
            }
            Err(b) => {
                if self.json {
                    super::out_json(&serde_json::json!({
                        "schema": "airlock/evidence-verify/v1", "ledger": path, "outcome": "fail",
                        "broken": {"seq": b.seq, "rule": b.rule.id(), "expected": b.expected, "actual": b.actual},
                    }))?;
                } else {
                    super::out(&format!("{path}: FAIL {}\n", b))?;
                }
                Ok(1)
            }
        }
    }
}

/// Largest `records.jsonl` an import reads.
const MAX_EXPORT_RECORDS: u64 = 4 << 30;

impl ExportArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let home = store::home()?;
        let Some(db) = open_store_existing(self.store.as_deref())? else {
            bail!(
                "there is no evidence ledger in {} yet; nothing to export\n  hint: deciding commands (verify, ...) record evidence",
                home.display()
            )
        };
        let Some((first, last)) = db.seq_bounds(self.since, self.until)? else {
            bail!(
                "no evidence record was recorded in the range given; nothing to export\n  hint: widen --since/--until (`airlock evidence search` shows what is recorded)"
            )
        };
        let ledger_head = db.head()?.context("the ledger has records but no head")?;
        // The signed export's records are streamed to a temp file next to the output (removed
        // when done) so a large ledger is never held in memory; an audit copy needs them all.
        let mut records_file = match self.format {
            None => Some(fsio::AtomicFile::create(&self.output, 0o600)?),
            Some(_) => None,
        };
        let mut rows: Vec<StoredRecord> = Vec::new();
        let (mut count, mut newest, mut write_error) = (0u64, None, None);
        let mut check = ChainCheck::from_seq(first);
        let mut broken = None;
        {
            let mut out = records_file.as_mut().map(|f| std::io::BufWriter::with_capacity(1 << 16, f.file()));
            db.range(first, &mut |row| {
                if row.seq > last {
                    return false;
                }
                match check.push(&row) {
                    Ok(_) => {
                        count += 1;
                        newest = Some(Head { seq: row.seq, hash: row.hash });
                        match &mut out {
                            Some(w) => match w.write_all(&row.bytes).and_then(|()| w.write_all(b"\n")) {
                                Ok(()) => true,
                                Err(e) => {
                                    write_error = Some(e);
                                    false
                                }
                            },
                            None => {
                                rows.push(row);
                                true
                            }
                        }
                    }
                    Err(b) => {
                        broken = Some(b);
                        false
                    }
                }
            })?;
            if let Some(mut w) = out
                && let Err(e) = w.flush()
            {
                write_error = Some(e);
            }
        }
        if let Some(b) = broken {
            eprintln!("error: refusing to export a broken chain: {b}");
            return Ok(1);
        }
        if let (Some(e), Some(f)) = (write_error, &records_file) {
            return Err(e).with_context(|| {
                format!(
                    "writing the export's records to {} (beside the output)\n  hint: check the free space and permissions of the output's directory",
                    f.tmp_path().display()
                )
            });
        }
        if let Some(format) = self.format {
            let records = rows.iter().map(|r| Record::parse(&r.bytes)).collect::<Result<Vec<_>, _>>()?;
            let opts = AuditOptions { jira_project: self.jira_project.clone(), jira_issue_type: self.jira_issue_type.clone() };
            fsio::atomic_write(&self.output, &audit::render(format, &records, &opts), 0o644)?;
            if !ui.quiet {
                eprintln!("wrote evidence #{first}..#{last} ({} record(s)) to {} (unsigned audit copy)", rows.len(), self.output.display());
            }
            return Ok(0);
        }
        let site = store::site_key(&home)?;
        let now = clock::now()?;
        let (Some(records_file), Some(newest)) = (&records_file, newest) else { return Err(export::ExportError::Empty.into()) };
        let head = export::head(site.public(), first, count, newest, ledger_head, now)?;
        let job = Job {
            output: &self.output,
            keys: std::slice::from_ref(&site),
            release: Release { product: EXPORT_PRODUCT.into(), version: format!("1.0.{last}"), commit: None, channel: None },
            created_at: clock::creation_time_at(now)?,
            compress: Compress::Auto,
            tlog_proof: None,
        };
        let sources = vec![
            Source { path: HEAD_MEMBER.into(), data: Data::Bytes(head), expect: None },
            Source { path: RECORDS_MEMBER.into(), data: Data::File(records_file.tmp_path().to_path_buf()), expect: None },
        ];
        let m = pack_sources(sources, job, ui)?;
        if !ui.quiet {
            eprintln!(
                "exported evidence #{first}..#{last} ({} record(s)) of site {} to {}, bundle id {}\n  check it anywhere: airlock verify {} --key {}",
                count,
                site.public().keyid(),
                self.output.display(),
                m.bundle_id,
                self.output.display(),
                home.join(store::SITE_PUB_FILE).display()
            );
        }
        Ok(0)
    }
}

impl ImportArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let key = super::verify::load_keys(std::slice::from_ref(&self.site_key))?.remove(0);
        let policy = TrustPolicy::ed25519([key.clone()], 1, format!("--site-key {}", self.site_key.display()));
        let now = clock::now()?;
        let vb = match super::verify::verify_file(&self.export, &policy, crate::trust::state::EvalTime::Clock(now), ui) {
            Ok(Verification::Passed(vb, _)) => vb,
            Ok(Verification::Failed(r)) => {
                eprint!("{}", super::verify::render_text(&self.export, &r));
                eprintln!("error: {} is not an export signed by site {}; nothing merged", self.export.display(), key.keyid());
                return Ok(1);
            }
            Err(e) => return Err(super::AboutExt::about(e, &self.export)),
        };
        let vb = vb.get();
        if vb.manifest().release.product != EXPORT_PRODUCT {
            eprintln!(
                "error: {} is a bundle of {:?}, not an evidence export ({EXPORT_PRODUCT}); nothing merged",
                self.export.display(),
                vb.manifest().release.product
            );
            return Ok(1);
        }
        let src = fsio::FileSource::open(&self.export)?;
        let read = |path: &str, max: u64| -> Result<Vec<u8>> {
            let member = vb
                .manifest()
                .members
                .iter()
                .find(|m| m.path == path)
                .with_context(|| format!("the export has no {path} member; nothing merged"))?;
            let e = vb.index().get(path).with_context(|| format!("{path} is missing from the archive"))?;
            let bytes = archive::read_member(&src, e, max)?;
            anyhow::ensure!(crate::digest::Sha256Digest::of(&bytes) == member.digest, "{path} changed after verification; nothing merged");
            Ok(bytes)
        };
        let (head, records) = (read(HEAD_MEMBER, 1 << 20)?, read(RECORDS_MEMBER, MAX_EXPORT_RECORDS)?);
        let checked = match export::check(&head, &records, &key) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}\nnothing merged");
                return Ok(1);
            }
        };
        let site = checked.head.site_id.clone();
        let mut db = open_store(self.store.as_deref())?;
        let merge = db.import_site(&site, &checked.head.site_public_key, &checked.records, &vb.manifest().bundle_id, now)?;
        let (code, doc) = match &merge {
            Merge::Merged { same, added } => {
                (0, serde_json::json!({"outcome": "merged", "added": added, "alreadyHeld": same, "head": checked.head.head}))
            }
            Merge::Fork(f) => {
                let hash = |b: &[u8]| Record::parse(b).map(|r| r.hash.prefixed()).unwrap_or_else(|_| "(unparsable)".into());
                (
                    1,
                    serde_json::json!({"outcome": "fork", "seq": f.seq, "heldHash": hash(&f.held), "offeredHash": hash(&f.offered),
                        "kept": "both records are kept in the forks table of this ledger"}),
                )
            }
            Merge::Gap { held, first } => (1, serde_json::json!({"outcome": "gap", "heldHead": held, "exportFirst": first})),
        };
        let mut doc = doc;
        doc["schema"] = "airlock/evidence-import/v1".into();
        doc["siteId"] = site.clone().into();
        doc["export"] = serde_json::json!(self.export);
        if self.json {
            super::out_json(&doc)?;
        }
        match merge {
            Merge::Merged { same, added } => {
                if !self.json && !ui.quiet {
                    super::out(&format!(
                        "site {site}: {added} record(s) merged, {same} already held, head #{} {}\n",
                        checked.head.head.seq, checked.head.head.hash
                    ))?;
                }
            }
            Merge::Fork(f) => eprintln!(
                "error: FORK of site {site} at evidence #{}: the export's record ({}) differs from the one already held ({}); nothing merged, both kept as evidence in {}\n  hint: the site's ledger was rewritten or two ledgers share one site key; investigate before trusting either",
                f.seq,
                doc["offeredHash"].as_str().unwrap_or(""),
                doc["heldHash"].as_str().unwrap_or(""),
                db.location()
            ),
            Merge::Gap { held, first } => eprintln!(
                "error: site {site}: this machine holds its chain up to #{held}, the export continues from #{first}; nothing merged\n  hint: import the exports in between first (or one exported with an earlier --since)"
            ),
        }
        Ok(code)
    }
}
