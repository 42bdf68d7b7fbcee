//! `airlock inventory ingest FILE --provider jamf|intune|linux|edr --product NAME [--channel C]
//! [--deployment ID] [--observed-at T] [--json] [-o OBS]` and `airlock inventory freshness
//! [--warn 24h] [--critical 48h] [--json]` (format-spec/inventory-v1.md §2, §4).
//!
//! Ingest reads a provider export through `fsio` (size-bounded), normalises it in the core
//! (`inventory::providers`), writes the observations file and appends one `inventory ingest`
//! record to the evidence ledger; on any refusal nothing is written and nothing recorded.
//! Freshness reads the ingestion times back from the ledger's search.

use super::{AboutExt, ShellError, Ui};
use crate::digest::Sha256Digest;
use crate::inventory::providers::{self, Ingest};
use crate::inventory::{MAX_EXPORT, Provider};
use crate::ledger::{Filter, Ledger, Outcome, Subject};
use crate::store::ledger::SqliteLedger;
use crate::time::Timestamp;
use crate::{clock, fsio};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Schema of what `inventory ingest` prints and records.
pub const INGEST_SCHEMA: &str = "airlock/inventory-ingest/v1";
/// Schema of what `inventory freshness` prints.
pub const FRESHNESS_SCHEMA: &str = "airlock/inventory-freshness/v1";
/// The ledger command of an ingestion.
pub const INGEST_COMMAND: &str = "inventory ingest";

/// Endpoint inventory: ingest provider exports, report their freshness.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
airlock inventory ingest fleet-results.jsonl --provider linux --product app -o fleet.obs\n  \
airlock inventory ingest jamf-computers.json --provider jamf --product app -o jamf.obs\n  \
airlock inventory freshness --warn 24h --critical 48h")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Sub,
}

/// `inventory` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Normalise a Jamf, Intune, osquery/Fleet or EDR export into an observations file.
    Ingest(IngestArgs),
    /// Age of the latest ingestion per provider, channel and deployment target.
    Freshness(FreshnessArgs),
}

/// A provider on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ProviderArg {
    /// Jamf Pro API computers inventory.
    Jamf,
    /// Microsoft Intune Graph managedDevices (with detectedApps).
    Intune,
    /// osquery / Fleet result logs.
    Linux,
    /// CrowdStrike Falcon devices, Defender for Endpoint machines or software inventory.
    Edr,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Jamf => Provider::Jamf,
            ProviderArg::Intune => Provider::Intune,
            ProviderArg::Linux => Provider::Linux,
            ProviderArg::Edr => Provider::Edr,
        }
    }
}

/// `inventory ingest`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: normalised, written (-o) and recorded. 2: malformed JSON (line and column), a file in\n\
another provider's shape (names the missing field), duplicate endpoints, times after --observed-at,\n\
a file beyond 512 MiB: nothing written, nothing recorded.\n\n\
Example:\n  \
airlock inventory ingest computers.json --provider jamf --product app \\\n      \
--channel stable -o jamf.obs.json")]
pub struct IngestArgs {
    /// The provider's export.
    pub file: PathBuf,
    /// Which provider exported it.
    #[arg(long, value_enum)]
    pub provider: ProviderArg,
    /// The product whose installations are picked out of the software lists.
    #[arg(long, value_name = "NAME")]
    pub product: String,
    /// The release channel the export covers.
    #[arg(long, value_name = "C")]
    pub channel: Option<String>,
    /// The deployment target the export is scoped to (e.g. a Jamf smart group's target).
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,
    /// When the export was taken (YYYY-MM-DDTHH:MM:SSZ); default now.
    #[arg(long, value_name = "T")]
    pub observed_at: Option<String>,
    /// Where to write the observations file (must not exist).
    #[arg(short, long, value_name = "OBS")]
    pub output: Option<PathBuf>,
    /// Print the versioned JSON result.
    #[arg(long)]
    pub json: bool,
}

/// `inventory freshness`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: every latest ingestion younger than --critical (warnings printed). 1: one is critical,\n\
or nothing was ever ingested. 2: the ledger cannot be read.")]
pub struct FreshnessArgs {
    /// Age that warns (s, m, h or d).
    #[arg(long, value_name = "AGE", default_value = "24h", value_parser = parse_age)]
    pub warn: u64,
    /// Age that fails (s, m, h or d).
    #[arg(long, value_name = "AGE", default_value = "48h", value_parser = parse_age)]
    pub critical: u64,
    /// Print the versioned JSON result.
    #[arg(long)]
    pub json: bool,
}

/// Parses `90s`, `15m`, `24h`, `7d` into seconds.
pub fn parse_age(s: &str) -> std::result::Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration like 24h"))?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(mul).filter(|v| *v > 0 && *v <= i64::MAX as u64 / 2).ok_or_else(|| format!("{s:?} is out of range"))
}

impl Args {
    /// For `--json`: the command's name and schema.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        match &self.command {
            Sub::Ingest(a) if a.json => Some((INGEST_COMMAND, INGEST_SCHEMA)),
            Sub::Freshness(a) if a.json => Some(("inventory freshness", FRESHNESS_SCHEMA)),
            _ => None,
        }
    }

    /// Runs. `record`: append the ingestion to the ledger (not under `--no-record`).
    pub fn run(self, ui: Ui, record: bool) -> Result<u8> {
        match self.command {
            Sub::Ingest(a) => a.run(ui, record),
            Sub::Freshness(a) => a.run(),
        }
    }
}

impl IngestArgs {
    fn run(self, ui: Ui, record: bool) -> Result<u8> {
        let now = clock::now()?;
        let observed_at = match &self.observed_at {
            Some(t) => Timestamp::parse(t)?,
            None => now,
        };
        if observed_at > now {
            return Err(ShellError::Usage(format!(
                "--observed-at {observed_at} is after the clock's {now}; an export cannot come from the future"
            ))
            .into());
        }
        if let Some(o) = &self.output
            && fsio::present(o)?
        {
            return Err(ShellError::Usage(format!("{} exists; choose a new file", o.display())).into());
        }
        let bytes = fsio::read_small(&self.file, MAX_EXPORT)?;
        let ingest = Ingest {
            provider: self.provider.into(),
            product: self.product.clone(),
            channel: self.channel.clone(),
            deployment: self.deployment.clone(),
            observed_at,
        };
        let obs = providers::ingest(&bytes, &ingest).map_err(|e| e.about(&self.file))?;
        let out = obs.to_bytes();
        let doc = json!({
            "schema": INGEST_SCHEMA,
            "outcome": "pass",
            "provider": obs.provider,
            "source": obs.source,
            "product": obs.product,
            "channel": obs.channel,
            "deploymentTarget": self.deployment,
            "observedAt": obs.observed_at,
            "exportDigest": obs.export_digest,
            "observationsDigest": Sha256Digest::of(&out),
            "endpoints": obs.observations.len(),
            "fields": obs.field_counts(),
        });
        if let Some(o) = &self.output {
            fsio::write_new(o, &out, 0o644)?;
        }
        if record {
            let subject = Subject { product: Some(obs.product.clone()), channel: obs.channel.clone(), ..Default::default() };
            if let Err(e) = crate::store::ledger::record(now, INGEST_COMMAND, subject, Outcome::Pass, &doc) {
                // No observations without their ingestion record.
                if let Some(o) = &self.output {
                    let _ = std::fs::remove_file(o);
                }
                return Err(anyhow::Error::new(e).context("the ingestion could not be recorded in the evidence ledger; nothing was kept"));
            }
        }
        if self.json {
            super::out_json(&doc)?;
        } else if !ui.quiet {
            let counts: Vec<String> = obs.field_counts().iter().map(|(k, v)| format!("{k} {v}")).collect();
            super::out(&format!(
                "{} export {}: {} endpoints of {} ({:?}); fields reported: {}\n",
                obs.provider.name(),
                self.file.display(),
                obs.observations.len(),
                obs.product,
                obs.source,
                counts.join(", ")
            ))?;
            if let Some(o) = &self.output {
                eprintln!("wrote {}", o.display());
            }
        }
        Ok(0)
    }
}

impl FreshnessArgs {
    fn run(self) -> Result<u8> {
        if self.warn > self.critical {
            return Err(ShellError::Usage("--warn must not be longer than --critical".into()).into());
        }
        let now = clock::now()?;
        let records = match SqliteLedger::open_existing(&crate::store::home()?)? {
            Some(db) => db.search(&Filter { command: Some(INGEST_COMMAND.into()), outcome: Some(Outcome::Pass), ..Default::default() })?,
            None => vec![],
        };
        // Latest observation time per (product, provider, channel, deployment target).
        type Key = (String, String, Option<String>, Option<String>);
        let mut latest: BTreeMap<Key, (Timestamp, Timestamp)> = BTreeMap::new();
        for r in &records {
            let s = |k: &str| r.report.get(k).and_then(|v| v.as_str()).map(String::from);
            let observed = s("observedAt").and_then(|t| Timestamp::parse(&t).ok()).unwrap_or(r.recorded_at);
            let key = (s("product").unwrap_or_default(), s("provider").unwrap_or_default(), s("channel"), s("deploymentTarget"));
            let e = latest.entry(key).or_insert((observed, r.recorded_at));
            if observed > e.0 {
                *e = (observed, r.recorded_at);
            }
        }
        let mut critical = latest.is_empty();
        let mut entries = vec![];
        let mut lines = vec![];
        for ((product, provider, channel, target), (observed, ingested)) in &latest {
            let age = (now.0 - observed.0).max(0) as u64;
            let status = if age > self.critical {
                critical = true;
                "critical"
            } else if age > self.warn {
                "warn"
            } else {
                "ok"
            };
            lines.push(format!(
                "{status:8} {product} {provider} channel={} target={} observed {observed} ({}h ago)",
                channel.as_deref().unwrap_or("-"),
                target.as_deref().unwrap_or("-"),
                age / 3600
            ));
            entries.push(json!({
                "product": product, "provider": provider, "channel": channel, "deploymentTarget": target,
                "latestObservedAt": observed, "ingestedAt": ingested, "ageSeconds": age, "status": status,
            }));
        }
        let outcome = if critical { "fail" } else { "pass" };
        if self.json {
            super::out_json(&json!({
                "schema": FRESHNESS_SCHEMA, "outcome": outcome, "evaluatedAt": now,
                "warnSeconds": self.warn, "criticalSeconds": self.critical, "entries": entries,
            }))?;
        } else if latest.is_empty() {
            super::out("no inventory has been ingested into this ledger; run `airlock inventory ingest`\n")?;
        } else {
            super::out(&(lines.join("\n") + "\n"))?;
        }
        Ok(if critical { 1 } else { 0 })
    }
}
