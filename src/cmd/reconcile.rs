//! `airlock reconcile BUNDLE --inventory OBS... [--stale-after 24h] [--json] [-o REPORT]`: the
//! verified bundle's deployment targets (and, when the ledger holds promotion state for it, the
//! channels it has reached) against normalised observations, at the command's one clock reading
//! (format-spec/inventory-v1.md §5). Exit 0 aligned, 1 drift (or the bundle did not verify),
//! 2 could not check. Recorded in the ledger as `reconcile`.

use super::inventory::parse_age;
use super::rollout::metadata;
use super::verify::{CheckAs, TrustArgs, render_text, subject_of};
use super::{AboutExt, Decided, ShellError, Ui};
use crate::fsio;
use crate::inventory::reconcile::{self, Desired, DriftClass, Report};
use crate::inventory::{MAX_OBSERVATIONS, Observations};
use crate::ledger::{Filter, Ledger, Outcome};
use crate::promotion::BundleRef;
use crate::release::ReleaseMetadata;
use crate::store::ledger::SqliteLedger;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Schema of the compact result `reconcile` records in the ledger.
pub const RECONCILE_RESULT_SCHEMA: &str = "airlock/reconcile-result/v1";

/// Reconcile fleet inventory with a verified release.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: every endpoint aligned and every deployment target observed. 1: drift (missing_observation,\n\
version_drift, binary_drift, stale_observation, unknown_target, missing_data,\n\
conflicting_observation), or the bundle did not verify. 2: usage, I/O, malformed observations,\n\
another product's observations.\n\n\
Example:\n  \
airlock reconcile app.zip --inventory jamf.obs.json --inventory falcon.obs.json \\\n      \
--stale-after 24h -o report.json")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// An observations file from `inventory ingest -o`; repeat for several providers.
    #[arg(long = "inventory", value_name = "OBS", required = true)]
    pub inventory: Vec<PathBuf>,
    /// An endpoint no provider has heard from for this long is stale (s, m, h or d).
    #[arg(long, value_name = "AGE", default_value = "24h", value_parser = parse_age)]
    pub stale_after: u64,
    /// Where to write the report (must not exist).
    #[arg(short, long, value_name = "REPORT")]
    pub output: Option<PathBuf>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
    /// Trust options for verifying the bundle, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// The channels `bundle` has reached, from the ledger's promotion state: every channel up to the
/// one its latest passed execution (else its rollout record) put it in. `None` when the ledger
/// holds no promotion state for it.
fn reached(bundle: &BundleRef, meta: &ReleaseMetadata) -> Result<Option<BTreeSet<String>>> {
    let history = super::promotion::history()?;
    let mut current =
        history.executions.iter().rev().find(|e| e.doc.bundle.bundle_id == bundle.bundle_id).map(|e| e.doc.to.channel.clone());
    if current.is_none()
        && let Some(db) = SqliteLedger::open_existing(&crate::store::home()?)?
    {
        let f = Filter { command: Some("rollout capture".into()), outcome: Some(Outcome::Pass), ..Default::default() };
        current = db
            .search(&f)?
            .iter()
            .filter(|r| r.report["rollout"]["bundle"]["bundleId"].as_str() == Some(bundle.bundle_id.as_str()))
            .find_map(|r| r.report["rollout"]["position"]["channel"].as_str().map(String::from));
    }
    let Some(current) = current else { return Ok(None) };
    let mut out = BTreeSet::new();
    for c in &meta.channels {
        out.insert(c.name.clone());
        if c.name == current {
            break;
        }
    }
    Ok(Some(out))
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let time = self.trust.eval_time()?;
        if let Some(o) = &self.output
            && fsio::present(o)?
        {
            return Err(ShellError::Usage(format!("{} exists; choose a new file", o.display())).into());
        }
        // Read and parsed a file per thread; the first failing file (in argument order) is the error.
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let files = crate::inventory::on_threads(self.inventory.len(), threads, |i| -> Result<Observations> {
            let p = &self.inventory[i];
            let bytes = fsio::read_small(p, MAX_OBSERVATIONS)?;
            Observations::parse(&bytes).map_err(|e| e.about(p))
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let Some(verified) = checked.verified() else {
            let report = checked.report();
            super::out(&render_text(&self.bundle, report))?;
            eprintln!("reconcile: {} did not verify; nothing to reconcile against", self.bundle.display());
            let doc = json!({"schema": RECONCILE_RESULT_SCHEMA, "outcome": "fail", "verify": report});
            return Ok(Decided { code: 1, report: doc, subject: subject_of(report, None), time: Some(time) });
        };
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let reached = reached(&bundle, &meta)?;
        let desired = Desired::from_metadata(bundle, &meta, reached.as_ref())?;
        let report = reconcile::reconcile(&desired, &files, time.instant(), self.stale_after)?;
        // The observations are the bulk of the memory; the report's bytes need none of them.
        drop(files);
        let code = u8::from(report.drifted());
        if let Some(o) = &self.output {
            fsio::write_new(o, &report.to_bytes(), 0o644)?;
        }
        if self.json {
            super::out_json(&report)?;
        } else if !ui.quiet || code != 0 {
            super::out(&render(&report))?;
        }
        if let Some(o) = self.output.as_ref().filter(|_| !ui.quiet) {
            eprintln!("wrote {}", o.display());
        }
        let mut subject = subject_of(checked.report(), None);
        subject.channel = None;
        let doc = json!({
            "schema": RECONCILE_RESULT_SCHEMA,
            "outcome": if code == 0 { "pass" } else { "fail" },
            "reportId": report.report_id,
            "bundle": report.bundle,
            "evaluatedAt": report.evaluated_at,
            "staleAfterSeconds": report.stale_after_seconds,
            "inputs": report.inputs,
            "summary": report.summary,
        });
        Ok(Decided { code, report: doc, subject, time: Some(time) })
    }
}

/// The text report: the summary, then every finding.
fn render(r: &Report) -> String {
    let mut s = format!(
        "reconcile {} {}: {} endpoints, {} aligned, {} drifted; {} deployment targets\n",
        r.bundle.product, r.bundle.version, r.summary.endpoints, r.summary.aligned, r.summary.drifted, r.summary.targets
    );
    for c in DriftClass::ALL {
        s.push_str(&format!("  {:24} {}\n", c.name(), r.summary.findings.get(&c).copied().unwrap_or(0)));
    }
    for f in &r.findings {
        s.push_str(&format!(
            "{} {} target={}{}{}: {}\n",
            f.class.name(),
            f.endpoint.as_deref().unwrap_or("-"),
            f.target.as_deref().unwrap_or("-"),
            f.expected.as_ref().map(|e| format!(" expected={e}")).unwrap_or_default(),
            f.actual.as_ref().map(|a| format!(" actual={a}")).unwrap_or_default(),
            f.detail
        ));
    }
    s.push_str(&format!("report {} ({})\n", r.report_id, r.outcome));
    s
}
