//! `airlock rollout capture BUNDLE --channel C --ring R --deployment ID... --status S --actor NAME
//! [--change-record REF] --sign-key KEY -o ROLLOUT` and `airlock rollout verify ROLLOUT --bundle
//! BUNDLE`: the operator's signed rollout record for a verified bundle
//! (format-spec/promotion-v1.md §2), and its check on any machine with the bundle and the trust
//! root. Both verify the bundle first with the usual trust options; the operator role comes from
//! the trust root in force.

use super::pack::load_secret;
use super::upgrade_validate::read_metadata;
use super::verify::{CheckAs, Checked, TrustArgs, render_text, subject_of};
use super::{AboutExt, Decided, ShellError, Ui};
use crate::fsio;
use crate::promotion::{self, BundleRef, Document, Position, RolloutRecord, RolloutStatus, rules};
use crate::release::{BoundMetadata, ReleaseError, ReleaseMetadata};
use crate::report::{Check, Status, render_checks, tally_line};
use crate::trust::role::{RoleKeys, RoleName};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Schema id of what `rollout capture` and `rollout verify` report and record.
pub const ROLLOUT_RESULT_SCHEMA: &str = "airlock/rollout-result/v1";
/// Largest promotion document read.
pub const MAX_DOCUMENT: u64 = 1 << 20;

/// Capture and check signed rollout records.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
airlock rollout capture app.zip --channel canary --ring c1 --deployment canary-hosts \\\n      \
--status staged \\\n      \
--actor alice --sign-key operator.key -o rollout.json\n  \
airlock rollout verify rollout.json --bundle app.zip")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Sub,
}

/// `rollout` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Sign a rollout record for a verified bundle, as the operator role.
    Capture(CaptureArgs),
    /// Check a rollout record: operator signature, binding to this bundle, deployments and ring.
    Verify(VerifyArgs),
}

/// A rollout's status.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    /// Planned, nothing deployed.
    Planned,
    /// Deployed to the ring, not yet confirmed.
    Staged,
    /// Deployed and confirmed.
    Succeeded,
    /// Failed.
    Failed,
    /// Rolled back.
    RolledBack,
}

impl From<StatusArg> for RolloutStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Planned => RolloutStatus::Planned,
            StatusArg::Staged => RolloutStatus::Staged,
            StatusArg::Succeeded => RolloutStatus::Succeeded,
            StatusArg::Failed => RolloutStatus::Failed,
            StatusArg::RolledBack => RolloutStatus::RolledBack,
        }
    }
}

/// `rollout capture`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: record written. 1: the bundle did not verify, or the channel, ring or a deployment is not in\n\
its release metadata, or the key is not an operator key (nothing written). 2: usage, I/O, malformed\n\
input.\n\n\
Example:\n  \
airlock rollout capture app.zip --channel canary --ring c2 --deployment ci-canary \\\n      \
--status staged --actor alice --sign-key operator.key -o rollout.dsse.json")]
pub struct CaptureArgs {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// Channel of the release metadata.
    #[arg(long, value_name = "C")]
    pub channel: String,
    /// Ring of that channel.
    #[arg(long, value_name = "R")]
    pub ring: String,
    /// Deployment target id of the release metadata; repeat for several.
    #[arg(long = "deployment", value_name = "ID", required = true)]
    pub deployments: Vec<String>,
    /// The rollout's status.
    #[arg(long, value_enum)]
    pub status: StatusArg,
    /// Who captured it.
    #[arg(long, value_name = "NAME")]
    pub actor: String,
    /// A change-record reference.
    #[arg(long, value_name = "REF")]
    pub change_record: Option<String>,
    /// The operator's secret key (NAME.key).
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Where to write the record (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Trust options for verifying the bundle, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `rollout verify`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: the record is signed by the operator role, names this bundle, and its channel, ring and\n\
deployments exist in the bundle's release metadata. 1: a check failed. 2: usage, I/O, malformed\n\
record.")]
pub struct VerifyArgs {
    /// The rollout record.
    pub rollout: PathBuf,
    /// The bundle it should name.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Trust options for verifying the bundle, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

impl Args {
    /// The name this run is recorded under in the evidence ledger (none under `--at-time`).
    pub fn ledger_name(&self) -> Option<&'static str> {
        match &self.command {
            Sub::Capture(a) if a.trust.at_time.is_none() => Some("rollout capture"),
            Sub::Verify(a) if a.trust.at_time.is_none() => Some("rollout verify"),
            _ => None,
        }
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        match self.command {
            Sub::Capture(a) => a.run(ui),
            Sub::Verify(a) => a.run(ui),
        }
    }
}

/// The operator role of the trust root in force.
pub fn operator_role(checked: &Checked) -> Result<RoleKeys> {
    let role = checked.root().and_then(|r| r.role(&RoleName::OPERATOR)).cloned();
    role.ok_or_else(|| {
        ShellError::Usage(
            "rollout and promotion documents are checked against the trust root's operator role, and the root in force has none; \
             pin a root with an operator role (airlock trust init / trust update)"
                .into(),
        )
        .into()
    })
}

/// The verified bundle's release metadata (exit 2 when it has none).
pub fn metadata(path: &Path, checked: &Checked) -> Result<ReleaseMetadata> {
    let v = checked.verified().expect("called only for a verified bundle");
    let bytes = read_metadata(path, v)?.ok_or(ReleaseError::Missing)?;
    Ok(BoundMetadata::bind(v, &bytes)?.metadata().clone())
}

/// Ends a command whose bundle did not verify: the report, exit 1, nothing written.
fn not_verified(bundle: &Path, checked: &Checked, time: crate::trust::state::EvalTime, what: &str) -> Result<Decided> {
    let report = checked.report();
    super::out(&render_text(bundle, report))?;
    eprintln!("{what}: {} did not verify; nothing written", bundle.display());
    let doc = serde_json::json!({"schema": ROLLOUT_RESULT_SCHEMA, "outcome": "fail", "verify": report});
    Ok(Decided { code: 1, report: doc, subject: subject_of(report, None), time: Some(time) })
}

fn outcome(checks: &[Check]) -> (u8, &'static str) {
    if checks.iter().any(|c| c.status == Status::Fail) { (1, "fail") } else { (0, "pass") }
}

impl CaptureArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        self.trust.real_clock_only("rollout capture")?;
        let key = load_secret(&self.sign_key)?;
        let time = self.trust.eval_time()?;
        if self.output.exists() {
            return Err(ShellError::Usage(format!("{} exists; choose a new file", self.output.display())).into());
        }
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let Some(verified) = checked.verified() else { return not_verified(&self.bundle, &checked, time, "rollout capture") };
        let operator = operator_role(&checked)?;
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let mut deployments = self.deployments.clone();
        deployments.sort();
        deployments.dedup();
        let record = RolloutRecord {
            schema: RolloutRecord::SCHEMA.into(),
            bundle: bundle.clone(),
            position: Position { channel: self.channel.clone(), ring: self.ring.clone() },
            deployments,
            status: self.status.into(),
            actor: self.actor.clone(),
            change_record: self.change_record.clone(),
            captured_at: verified.evaluated_at(),
        };
        let bytes = promotion::sign(&record, &[&key]);
        // The record must read back as one (value rules) and open under the operator role.
        let (mut checks, _) = promotion::read_and_open::<RolloutRecord>(&bytes, &operator, "operator")?;
        checks.extend(rules::rollout_checks(&record, &bundle, &meta));
        let (code, word) = outcome(&checks);
        if !ui.quiet || code != 0 {
            super::out(&render_checks(&checks))?;
        }
        if code == 0 {
            fsio::write_new(&self.output, &bytes, 0o644)?;
            if !ui.quiet {
                eprintln!(
                    "wrote {}: rollout of {} {} at {} on {:?}, {:?}",
                    self.output.display(),
                    bundle.product,
                    bundle.version,
                    record.position,
                    record.deployments,
                    record.status
                );
            }
        } else {
            eprintln!("rollout capture: {}; nothing written", tally_line(&checks));
        }
        let doc = serde_json::json!({
            "schema": ROLLOUT_RESULT_SCHEMA,
            "outcome": word,
            "rollout": record,
            "rolloutId": promotion::id_of(&record),
            "checks": checks,
            "verify": checked.report(),
        });
        Ok(Decided { code, report: doc, subject: subject_of(checked.report(), None), time: Some(time) })
    }
}

impl VerifyArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        let time = self.trust.eval_time()?;
        let bytes = fsio::read_small(&self.rollout, MAX_DOCUMENT)?;
        let unopened = promotion::read::<RolloutRecord>(&bytes)?;
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let Some(verified) = checked.verified() else { return not_verified(&self.bundle, &checked, time, "rollout verify") };
        let operator = operator_role(&checked)?;
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let id = *unopened.id();
        let (mut checks, opened) = promotion::open(unopened, &operator, "operator");
        if let Some(o) = &opened {
            checks.extend(rules::rollout_checks(o.doc.payload(), &bundle, &meta));
        }
        let (code, word) = outcome(&checks);
        if !ui.quiet || code != 0 {
            super::out(&render_checks(&checks))?;
            eprintln!("rollout verify {}: {}", self.rollout.display(), tally_line(&checks));
        }
        let doc = serde_json::json!({
            "schema": ROLLOUT_RESULT_SCHEMA,
            "outcome": word,
            "rolloutId": id,
            "rollout": opened.as_ref().map(|o| o.doc.payload()),
            "checks": checks,
            "verify": checked.report(),
        });
        Ok(Decided { code, report: doc, subject: subject_of(checked.report(), None), time: Some(time) })
    }
}
