//! `airlock remediation plan REPORT --strategy republish|rollback|mixed [--sla-hours N]
//! --sign-key KEY -o PLAN [--trust-root FILE]`: per drifted endpoint of a reconciliation report
//! an action and a due time, signed by the operator role of the trust root in force (pinned, or
//! `--trust-root`) and recorded in the ledger (format-spec/inventory-v1.md §6). A key that is not
//! an operator key writes nothing (exit 1).

use super::pack::load_secret;
use super::{AboutExt, Decided, ShellError, Ui};
use crate::inventory::reconcile::Report;
use crate::inventory::remediation::{self, RemediationPlan, Strategy};
use crate::ledger::Subject;
use crate::promotion;
use crate::report::{Status, render_checks, tally_line};
use crate::store::trust::TrustStore;
use crate::trust::role::RoleName;
use crate::trust::root::{MAX_ROOT_SIZE, TrustRoot, VerifiedRoot};
use crate::trust::state::EvalTime;
use crate::{clock, fsio};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;

/// Schema of what `remediation plan` prints and records.
pub const REMEDIATION_RESULT_SCHEMA: &str = "airlock/remediation-result/v1";
/// Largest reconciliation report read.
pub const MAX_REPORT: u64 = 512 << 20;

/// Remediation of fleet drift.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
airlock remediation plan report.json --strategy mixed --sla-hours 48 \\\n      \
--sign-key operator.key -o plan.json")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Sub,
}

/// `remediation` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Sign a plan (operator role): an action and a due time per drifted endpoint.
    Plan(PlanArgs),
}

/// A strategy on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum StrategyArg {
    /// Install the signed binary everywhere it drifted.
    Republish,
    /// The target's rollback steps everywhere it drifted.
    Rollback,
    /// Republish a binary that is not the signed one; roll back another version.
    Mixed,
}

/// `remediation plan`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: plan signed and written. 1: the key is not an operator key of the trust root (nothing\n\
written). 2: usage, I/O, a report that is malformed, edited (its id no longer matches) or without\n\
drift.\n\n\
Example:\n  \
airlock remediation plan report.json --strategy mixed --sla-hours 48 \\\n      \
--sign-key operator.key -o plan.dsse.json")]
pub struct PlanArgs {
    /// The report `airlock reconcile -o` wrote.
    pub report: PathBuf,
    /// How drift is corrected.
    #[arg(long, value_enum)]
    pub strategy: StrategyArg,
    /// Hours until every action is due.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub sla_hours: u32,
    /// The operator's secret key (NAME.key).
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Where to write the signed plan (must not exist).
    #[arg(short, long, value_name = "PLAN")]
    pub output: PathBuf,
    /// A trust root to take the operator role from instead of the pinned one.
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
}

impl Args {
    /// The ledger name.
    pub fn ledger_name(&self) -> Option<&'static str> {
        Some("remediation plan")
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        match self.command {
            Sub::Plan(a) => a.run(ui),
        }
    }
}

impl PlanArgs {
    fn root(&self) -> Result<VerifiedRoot> {
        if let Some(p) = &self.trust_root {
            let bytes = fsio::read_small(p, MAX_ROOT_SIZE)?;
            let root = TrustRoot::parse(&bytes).with_context(|| format!("{} is not a usable trust root", p.display()))?;
            return VerifiedRoot::self_signed(root).with_context(|| format!("{} is not signed by its own root role", p.display()));
        }
        let store = TrustStore::open()?;
        store.load_root(&store.load_state()?)?.ok_or_else(|| ShellError::NoTrustRoot.into())
    }

    fn run(self, ui: Ui) -> Result<Decided> {
        let key = load_secret(&self.sign_key)?;
        let now = clock::now()?;
        if fsio::present(&self.output)? {
            return Err(ShellError::Usage(format!("{} exists; choose a new file", self.output.display())).into());
        }
        let bytes = fsio::read_small(&self.report, MAX_REPORT)?;
        let report = Report::parse(&bytes).map_err(|e| e.about(&self.report))?;
        let root = self.root()?;
        let operator = root.role(&RoleName::OPERATOR).cloned().ok_or_else(|| {
            ShellError::Usage("remediation plans are signed by the trust root's operator role, and the root in force has none".into())
        })?;
        let strategy = match self.strategy {
            StrategyArg::Republish => Strategy::Republish,
            StrategyArg::Rollback => Strategy::Rollback,
            StrategyArg::Mixed => Strategy::Mixed,
        };
        let plan = remediation::plan(&report, strategy, self.sla_hours, now).map_err(|e| e.about(&self.report))?;
        let signed = promotion::sign(&plan, &[&key]);
        let (checks, _) = promotion::read_and_open::<RemediationPlan>(&signed, &operator, "operator")?;
        let code = u8::from(checks.iter().any(|c| c.status == Status::Fail));
        if !ui.quiet || code != 0 {
            super::out(&render_checks(&checks))?;
        }
        if code == 0 {
            fsio::write_new(&self.output, &signed, 0o644)?;
            if !ui.quiet {
                eprintln!(
                    "wrote {}: {} actions for report {}, due {}",
                    self.output.display(),
                    plan.actions.len(),
                    plan.report,
                    plan.actions[0].due_at
                );
            }
        } else {
            eprintln!("remediation plan: {}; nothing written", tally_line(&checks));
        }
        let doc = json!({
            "schema": REMEDIATION_RESULT_SCHEMA,
            "outcome": if code == 0 { "pass" } else { "fail" },
            "planId": promotion::id_of(&plan),
            "plan": plan,
            "checks": checks,
        });
        let subject = Subject {
            bundle_id: Some(plan.bundle.bundle_id.clone()),
            product: Some(plan.bundle.product.clone()),
            version: Some(plan.bundle.version.clone()),
            ..Default::default()
        };
        Ok(Decided { code, report: doc, subject, time: Some(EvalTime::Clock(now)) })
    }
}
