//! `airlock promotion request|approve|execute|hold|resume|status`: the signed steps of a
//! promotion (format-spec/promotion-v1.md). Each verifies the bundle first with the usual trust
//! options and takes its roles from the trust root in force; the core decides
//! ([`crate::promotion::rules`]) from the documents, the metadata and the history this store's
//! evidence ledger holds of earlier `promotion execute`, `hold` and `resume` runs. Every run of a
//! deciding verb is recorded; a refusal writes no document and changes no promotion state.

use super::breakglass::parse_duration;
use super::pack::load_secret;
use super::rollout::{MAX_DOCUMENT, metadata, operator_role};
use super::verify::{CheckAs, Checked, TrustArgs, render_text, subject_of};
use super::{AboutExt, Decided, ShellError, Ui};
use crate::digest::Sha256Digest;
use crate::fsio;
use crate::ledger::{Filter, Ledger, Outcome};
use crate::promotion::rules::{self, Executed, ExecutionFiles, History, HoldEvent, Roles};
use crate::promotion::{
    self, Approval, BundleRef, Decision, Document, Execution, Hold, HoldAction, Position, PromotionRequest, RolloutRecord, TransitionKind,
};
use crate::report::{Check, Status, render_checks, tally_line};
use crate::store::ledger::SqliteLedger;
use crate::time::Timestamp;
use crate::trust::role::{RoleKeys, RoleName};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema id of what the promotion verbs report and record.
pub const PROMOTION_RESULT_SCHEMA: &str = "airlock/promotion-result/v1";

/// Request, approve, execute, hold and resume promotions; show their status.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
airlock promotion request --rollout rollout.json --bundle app.zip --to-ring c10 --expires-in 1d \\\n      \
--sign-key operator.key -o request.json\n  \
airlock promotion approve request.json --bundle app.zip --reason \"canary healthy\" \\\n      \
--sign-key approver-1.key \\\n      \
-o approval-1.json\n  \
airlock promotion execute request.json --rollout rollout.json --bundle app.zip \\\n      \
--approval approval-1.json \\\n      \
--approval approval-2.json --sign-key operator.key -o execution.json\n  \
airlock promotion status")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Sub,
}

/// `promotion` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Request the next ring, the next channel, or a rollback (operator role).
    Request(RequestArgs),
    /// Approve or deny a request (approver role).
    Approve(ApproveArgs),
    /// Execute a request with its approvals (operator role).
    Execute(ExecuteArgs),
    /// Hold a product's channel: no execution there until resumed (operator role).
    Hold(HoldArgs),
    /// Lift a hold (operator role).
    Resume(HoldArgs),
    /// Per product and channel: ring, version, executions, holds.
    Status(StatusArgs),
    /// Check a chain of documents (rollout, requests, approvals, executions, holds) against a
    /// bundle and the trust root, on any machine.
    Verify(VerifyArgs),
}

/// `promotion verify`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: every document is signed by its role, names this bundle, and every document it names is\n\
among those given. 1: a check failed. 2: usage, I/O, a malformed document.")]
pub struct VerifyArgs {
    /// The documents.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The bundle they name.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `promotion request`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to_ring", "to_channel", "rollback"])))]
pub struct RequestArgs {
    /// The rollout record it starts from.
    #[arg(long, value_name = "ROLLOUT")]
    pub rollout: PathBuf,
    /// The bundle.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The next ring of the current channel.
    #[arg(long, value_name = "R")]
    pub to_ring: Option<String>,
    /// The next channel (its first ring).
    #[arg(long, value_name = "C")]
    pub to_channel: Option<String>,
    /// Roll back this execution.
    #[arg(long, value_name = "EXECUTION")]
    pub rollback: Option<PathBuf>,
    /// How long the request may wait for execution (s, m, h or d).
    #[arg(long, value_name = "DUR")]
    pub expires_in: String,
    /// The operator's secret key.
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Where to write the request (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `promotion approve`.
#[derive(clap::Args, Debug)]
pub struct ApproveArgs {
    /// The request.
    pub request: PathBuf,
    /// The bundle.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Deny (veto) instead of approving.
    #[arg(long)]
    pub deny: bool,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// How long the approval counts (s, m, h or d).
    #[arg(long, value_name = "DUR", default_value = "24h")]
    pub expires_in: String,
    /// The approver's secret key.
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Where to write the approval (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `promotion execute`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Approvals expire by the real clock: --at-time is refused (as for every verb that signs).")]
pub struct ExecuteArgs {
    /// The request.
    pub request: PathBuf,
    /// The rollout record the request starts from.
    #[arg(long, value_name = "ROLLOUT")]
    pub rollout: PathBuf,
    /// The bundle.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// An approval; repeat.
    #[arg(long = "approval", value_name = "APPROVAL")]
    pub approvals: Vec<PathBuf>,
    /// The operator's secret key.
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Where to write the execution (must not exist).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `promotion hold` and `promotion resume`.
#[derive(clap::Args, Debug)]
pub struct HoldArgs {
    /// A bundle of the product.
    #[arg(long, value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The channel.
    #[arg(long, value_name = "C")]
    pub channel: String,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The operator's secret key.
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Also write the signed document here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `promotion status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Only this product.
    #[arg(long, value_name = "P")]
    pub product: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The name this run is recorded under (none under `--at-time`, none for `status`).
    pub fn ledger_name(&self) -> Option<&'static str> {
        let live = |t: &TrustArgs| t.at_time.is_none();
        match &self.command {
            Sub::Request(a) if live(&a.trust) => Some("promotion request"),
            Sub::Approve(a) if live(&a.trust) => Some("promotion approve"),
            Sub::Execute(a) if live(&a.trust) => Some("promotion execute"),
            Sub::Hold(a) if live(&a.trust) => Some("promotion hold"),
            Sub::Resume(a) if live(&a.trust) => Some("promotion resume"),
            Sub::Verify(a) if live(&a.trust) => Some("promotion verify"),
            _ => None,
        }
    }

    /// For `--json`: the name and schema of the error document.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        match &self.command {
            Sub::Status(a) if a.json => Some(("promotion status", crate::report::ERROR_SCHEMA)),
            _ => None,
        }
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        match self.command {
            Sub::Request(a) => a.run(ui),
            Sub::Approve(a) => a.run(ui),
            Sub::Execute(a) => a.run(ui),
            Sub::Hold(a) => a.run(HoldAction::Hold, ui),
            Sub::Resume(a) => a.run(HoldAction::Resume, ui),
            Sub::Status(a) => a.run().map(|()| Decided::plain(0)),
            Sub::Verify(a) => a.run(ui),
        }
    }
}

/// The promotion history this store's ledger holds: passed executions, holds and resumptions,
/// and the latest time any promotion step was recorded at.
pub fn history() -> Result<History> {
    let Some(db) = SqliteLedger::open_existing(&crate::store::home()?)? else { return Ok(History::default()) };
    let mut records = Vec::new();
    for command in ["promotion request", "promotion approve", "promotion execute", "promotion hold", "promotion resume"] {
        records.extend(db.search(&Filter { command: Some(command.into()), ..Default::default() })?);
    }
    records.sort_by_key(|r| r.seq);
    let mut h = History::default();
    for r in &records {
        h.latest = h.latest.max(Some(r.recorded_at));
        if r.outcome != Outcome::Pass {
            continue;
        }
        match r.command.as_str() {
            "promotion execute" => {
                let doc: Execution = serde_json::from_value(r.report["execution"].clone())?;
                h.executions.push(Executed { execution: promotion::id_of(&doc), doc });
            }
            "promotion hold" | "promotion resume" => {
                let doc: Hold = serde_json::from_value(r.report["hold"].clone())?;
                h.holds.push(HoldEvent { product: doc.bundle.product, channel: doc.channel, action: doc.action, at: doc.issued_at });
            }
            _ => {}
        }
    }
    Ok(h)
}

/// The bundle checked; `Err(decided)` when it did not verify (exit 1, nothing written).
fn verified_bundle(
    trust: &TrustArgs,
    bundle: &Path,
    ui: Ui,
    what: &str,
) -> Result<(Checked, crate::trust::state::EvalTime, Option<Decided>)> {
    let time = trust.eval_time()?;
    let checked = trust.check(bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(bundle))?;
    if checked.verified().is_none() {
        let report = checked.report();
        super::out(&render_text(bundle, report))?;
        eprintln!("{what}: {} did not verify; nothing written", bundle.display());
        let doc = json!({"schema": PROMOTION_RESULT_SCHEMA, "outcome": "fail", "verify": report});
        let d = Decided { code: 1, report: doc, subject: subject_of(report, None), time: Some(time) };
        return Ok((checked, time, Some(d)));
    }
    Ok((checked, time, None))
}

fn approver_role(checked: &Checked) -> Result<RoleKeys> {
    checked.root().and_then(|r| r.role(&RoleName::APPROVER)).cloned().ok_or_else(|| {
        ShellError::Usage("approvals are checked against the trust root's approver role, and the root in force has none".into()).into()
    })
}

fn must_be_new(p: &Path) -> Result<()> {
    if p.exists() {
        return Err(ShellError::Usage(format!("{} exists; choose a new file", p.display())).into());
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>> {
    fsio::read_small(p, MAX_DOCUMENT)
}

fn expiry(from: Timestamp, dur: &str) -> Result<Timestamp> {
    let secs = i64::try_from(parse_duration(dur)?).map_err(|_| ShellError::Usage(format!("duration {dur:?} is too long")))?;
    Ok(Timestamp(from.0.saturating_add(secs)))
}

/// Ends a verb: prints the checks, writes `bytes` to `output` only when every check passed.
fn finish(
    what: &str,
    checks: Vec<Check>,
    write: Option<(&Path, &[u8])>,
    mut report: serde_json::Value,
    checked: &Checked,
    time: crate::trust::state::EvalTime,
    ui: Ui,
) -> Result<Decided> {
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if !ui.quiet || failed {
        super::out(&render_checks(&checks))?;
    }
    if failed {
        eprintln!("{what}: {}; nothing written", tally_line(&checks));
    } else if let Some((p, b)) = write {
        fsio::write_new(p, b, 0o644)?;
        if !ui.quiet {
            eprintln!("{what}: wrote {}", p.display());
        }
    }
    report["schema"] = PROMOTION_RESULT_SCHEMA.into();
    report["outcome"] = if failed { "fail" } else { "pass" }.into();
    report["checks"] = serde_json::to_value(&checks)?;
    report["verify"] = serde_json::to_value(checked.report())?;
    Ok(Decided { code: u8::from(failed), report, subject: subject_of(checked.report(), None), time: Some(time) })
}

impl RequestArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        self.trust.real_clock_only("promotion request")?;
        let key = load_secret(&self.sign_key)?;
        must_be_new(&self.output)?;
        let rollout_bytes = read(&self.rollout)?;
        let rollout = promotion::read::<RolloutRecord>(&rollout_bytes)?;
        let rollback = self.rollback.as_deref().map(read).transpose()?;
        let rollback = rollback.as_deref().map(promotion::read::<Execution>).transpose()?;
        let (checked, time, refused) = verified_bundle(&self.trust, &self.bundle, ui, "promotion request")?;
        if let Some(d) = refused {
            return Ok(d);
        }
        let verified = checked.verified().expect("verified");
        let operator = operator_role(&checked)?;
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let history = history()?;
        let now = verified.evaluated_at();
        let (mut checks, rollout) = promotion::open(rollout, &operator, "operator");
        let Some(rollout) = rollout else { return finish("promotion request", checks, None, json!({}), &checked, time, ui) };
        let r = rollout.doc.payload();
        checks.extend(rules::rollout_checks(r, &bundle, &meta));
        checks.push(rules::rollout_ready(r));
        checks.push(rules::clock_monotonic(&history, now));
        let (current, _) = history.position(&bundle, r);
        let (kind, to, rollback_of) = match (&self.to_ring, &self.to_channel, rollback) {
            (Some(ring), _, _) => (TransitionKind::Ring, Position { channel: current.channel.clone(), ring: ring.clone() }, None),
            (_, Some(c), _) => {
                let first = meta.channels.iter().find(|x| &x.name == c).and_then(|x| x.rings.first()).map(|x| x.name.clone());
                (TransitionKind::Channel, Position { channel: c.clone(), ring: first.unwrap_or_default() }, None)
            }
            (_, _, Some(exec)) => {
                let (c, opened) = promotion::open(exec, &operator, "operator");
                checks.extend(c);
                let Some(e) = opened else { return finish("promotion request", checks, None, json!({}), &checked, time, ui) };
                (TransitionKind::Rollback, e.doc.payload().from.clone(), Some(e.id))
            }
            _ => return Err(ShellError::Usage("give --to-ring, --to-channel or --rollback".into()).into()),
        };
        let req = PromotionRequest {
            schema: PromotionRequest::SCHEMA.into(),
            bundle: bundle.clone(),
            rollout: rollout.id,
            kind,
            from: current.clone(),
            to,
            rollback_of,
            requested_at: now,
            expires_at: expiry(now, &self.expires_in)?,
        };
        checks.push(rules::position_exists("promotion request", &req.to, &meta));
        checks.extend(rules::transition(&req, &current, &meta, &history));
        let bytes = promotion::sign(&req, &[&key]);
        let (c, _) = promotion::read_and_open::<PromotionRequest>(&bytes, &operator, "operator")?;
        checks.extend(c);
        let report = json!({"request": req, "requestId": promotion::id_of(&req)});
        finish("promotion request", checks, Some((&self.output, &bytes)), report, &checked, time, ui)
    }
}

impl ApproveArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        self.trust.real_clock_only("promotion approve")?;
        let key = load_secret(&self.sign_key)?;
        must_be_new(&self.output)?;
        let request = promotion::read::<PromotionRequest>(&read(&self.request)?)?;
        let (checked, time, refused) = verified_bundle(&self.trust, &self.bundle, ui, "promotion approve")?;
        if let Some(d) = refused {
            return Ok(d);
        }
        let verified = checked.verified().expect("verified");
        let (operator, approver) = (operator_role(&checked)?, approver_role(&checked)?);
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let now = verified.evaluated_at();
        let (mut checks, request) = promotion::open(request, &operator, "operator");
        let Some(request) = request else { return finish("promotion approve", checks, None, json!({}), &checked, time, ui) };
        let req = request.doc.payload();
        checks.push(rules::bundle_named("promotion request", &req.bundle, &bundle));
        checks.push(rules::request_live(req, now));
        let channel = if req.kind == TransitionKind::Rollback { &req.from.channel } else { &req.to.channel };
        let target = meta.channels.iter().find(|c| &c.name == channel);
        let (holds, rollback) = target.map(|c| (c.hold_conditions.clone(), c.rollback_requirements.clone())).unwrap_or_default();
        if !ui.quiet {
            eprintln!("approving {} -> {} ({:?}) of {} {}", req.from, req.to, req.kind, bundle.product, bundle.version);
            eprintln!("  hold conditions of {channel}: {holds:?}\n  rollback requirements of {channel}: {rollback:?}");
        }
        let approval = Approval {
            schema: Approval::SCHEMA.into(),
            bundle,
            request: request.id,
            decision: if self.deny { Decision::Deny } else { Decision::Approve },
            reason: self.reason.clone(),
            hold_conditions: holds,
            rollback_requirements: rollback,
            issued_at: now,
            expires_at: expiry(now, &self.expires_in)?,
        };
        let bytes = promotion::sign(&approval, &[&key]);
        let (c, _) = promotion::read_and_open::<Approval>(&bytes, &approver.at_threshold(1), "approver")?;
        checks.extend(c);
        let report = json!({"approval": approval, "approvalId": promotion::id_of(&approval)});
        finish("promotion approve", checks, Some((&self.output, &bytes)), report, &checked, time, ui)
    }
}

impl ExecuteArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        self.trust.real_clock_only("promotion execute")?;
        let key = load_secret(&self.sign_key)?;
        must_be_new(&self.output)?;
        let (rollout, request) = (read(&self.rollout)?, read(&self.request)?);
        let approvals = self.approvals.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
        let (checked, time, refused) = verified_bundle(&self.trust, &self.bundle, ui, "promotion execute")?;
        if let Some(d) = refused {
            return Ok(d);
        }
        let verified = checked.verified().expect("verified");
        let (operator, approver) = (operator_role(&checked)?, approver_role(&checked)?);
        let meta = metadata(&self.bundle, &checked)?;
        let bundle = BundleRef::of(verified);
        let history = history()?;
        let now = verified.evaluated_at();
        let files = ExecutionFiles { rollout: &rollout, request: &request, approvals: &approvals };
        let roles = Roles { operator: &operator, approver: &approver };
        let (checks, execution) = rules::execute(&files, &bundle, &meta, roles, &history, now, now)?;
        let bytes = execution.as_ref().map(|e| promotion::sign(e, &[&key]));
        let mut checks = checks;
        if let Some(b) = &bytes {
            checks.extend(promotion::read_and_open::<Execution>(b, &operator, "operator")?.0);
        }
        // What `status` shows as soak remaining: the hours the target ring soaks before the
        // next step (the rule itself reads them from the metadata when that step is asked).
        let soak_hours = execution.as_ref().and_then(|e| {
            meta.channels.iter().find(|c| c.name == e.to.channel)?.rings.iter().find(|r| r.name == e.to.ring).map(|r| r.soak_hours)
        });
        let report = json!({
            "execution": execution,
            "executionId": execution.as_ref().map(promotion::id_of),
            "soakHours": soak_hours,
        });
        finish("promotion execute", checks, bytes.as_deref().map(|b| (self.output.as_path(), b)), report, &checked, time, ui)
    }
}

impl HoldArgs {
    fn run(self, action: HoldAction, ui: Ui) -> Result<Decided> {
        let what = if action == HoldAction::Hold { "promotion hold" } else { "promotion resume" };
        self.trust.real_clock_only(what)?;
        let key = load_secret(&self.sign_key)?;
        if let Some(p) = &self.output {
            must_be_new(p)?;
        }
        let (checked, time, refused) = verified_bundle(&self.trust, &self.bundle, ui, what)?;
        if let Some(d) = refused {
            return Ok(d);
        }
        let verified = checked.verified().expect("verified");
        let operator = operator_role(&checked)?;
        let meta = metadata(&self.bundle, &checked)?;
        let history = history()?;
        let now = verified.evaluated_at();
        let hold = Hold {
            schema: Hold::SCHEMA.into(),
            bundle: BundleRef::of(verified),
            channel: self.channel.clone(),
            action,
            reason: self.reason.clone(),
            issued_at: now,
        };
        let mut checks = vec![
            rules::clock_monotonic(&history, now),
            Check::new(
                "promotion.position",
                meta.channels.iter().any(|c| c.name == self.channel),
                "the channel exists in the release metadata",
            )
            .values("a channel of the metadata", self.channel.clone()),
        ];
        let bytes = promotion::sign(&hold, &[&key]);
        checks.extend(promotion::read_and_open::<Hold>(&bytes, &operator, "operator")?.0);
        let report = json!({"hold": hold, "holdId": promotion::id_of(&hold)});
        finish(what, checks, self.output.as_deref().map(|p| (p, bytes.as_slice())), report, &checked, time, ui)
    }
}

/// Passed requests by id, and the soak hours of each execution's target ring by execution id.
type Pending = (Vec<(Sha256Digest, PromotionRequest)>, BTreeMap<String, u64>);

/// What `status` reads of the ledger besides the history.
fn requests_and_soaks() -> Result<Pending> {
    let Some(db) = SqliteLedger::open_existing(&crate::store::home()?)? else { return Ok(Default::default()) };
    let passed = |command: &str| db.search(&Filter { command: Some(command.into()), outcome: Some(Outcome::Pass), ..Default::default() });
    let mut requests = Vec::new();
    for r in passed("promotion request")? {
        let doc: PromotionRequest = serde_json::from_value(r.report["request"].clone())?;
        requests.push((promotion::id_of(&doc), doc));
    }
    let mut soaks = BTreeMap::new();
    for r in passed("promotion execute")? {
        if let (Some(id), Some(h)) = (r.report["executionId"].as_str(), r.report["soakHours"].as_u64()) {
            soaks.insert(id.to_string(), h);
        }
    }
    Ok((requests, soaks))
}

impl StatusArgs {
    fn run(self) -> Result<()> {
        let h = history()?;
        let (requests, soaks) = requests_and_soaks()?;
        // Status decides nothing: it reads the clock once to say what is still pending.
        let now = crate::clock::now()?;
        let wanted = |product: &str| self.product.as_ref().is_none_or(|p| p == product);
        let mut rows: BTreeMap<(String, String), serde_json::Value> = Default::default();
        let blank = || json!({"executed": 0, "pending": []});
        for e in h.executions.iter().filter(|e| wanted(&e.doc.bundle.product)) {
            let d = &e.doc;
            let row = rows.entry((d.bundle.product.clone(), d.to.channel.clone())).or_insert_with(blank);
            row["ring"] = d.to.ring.clone().into();
            row["version"] = d.bundle.version.clone().into();
            row["bundleId"] = d.bundle.bundle_id.clone().into();
            row["since"] = d.executed_at.to_string().into();
            row["executed"] = (row["executed"].as_u64().unwrap_or(0) + 1).into();
            let until = soaks.get(&e.execution.prefixed()).map(|&hours| Timestamp(d.executed_at.0.saturating_add(hours as i64 * 3600)));
            row["soakUntil"] = until.map(|t| t.to_string()).into();
            row["soakRemainingSeconds"] = until.map(|t| t.0.saturating_sub(now.0).max(0)).into();
        }
        for ev in h.holds.iter().filter(|ev| wanted(&ev.product)) {
            let row = rows.entry((ev.product.clone(), ev.channel.clone())).or_insert_with(blank);
            row["held"] = h.held(&ev.product, &ev.channel).into();
        }
        let executed: std::collections::BTreeSet<&Sha256Digest> = h.executions.iter().map(|e| &e.doc.request).collect();
        for (id, req) in requests.iter().filter(|(id, r)| wanted(&r.bundle.product) && !executed.contains(id) && r.expires_at > now) {
            let row = rows.entry((req.bundle.product.clone(), req.to.channel.clone())).or_insert_with(blank);
            let pending = json!({
                "requestId": id.prefixed(),
                "kind": req.kind,
                "from": req.from,
                "to": req.to,
                "version": req.bundle.version,
                "expiresAt": req.expires_at.to_string(),
            });
            row["pending"].as_array_mut().expect("an array").push(pending);
        }
        let list: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|((p, c), mut v)| {
                v["product"] = p.into();
                v["channel"] = c.into();
                if v.get("held").is_none() {
                    v["held"] = false.into();
                }
                v
            })
            .collect();
        if self.json {
            return super::out_json(&json!({"schema": "airlock/promotion-status/v1", "at": now.to_string(), "channels": list}));
        }
        if list.is_empty() {
            return super::out("no promotion recorded in this ledger\n");
        }
        let mut text = String::new();
        for v in &list {
            let soak = match v["soakRemainingSeconds"].as_i64() {
                Some(0) => ", soaked".to_string(),
                Some(s) => format!(", soak {}h{:02}m left", s / 3600, s % 3600 / 60),
                None => String::new(),
            };
            text.push_str(&format!(
                "{} {}: ring {} version {} since {} ({} executed{soak}){}\n",
                v["product"].as_str().unwrap_or_default(),
                v["channel"].as_str().unwrap_or_default(),
                v["ring"].as_str().unwrap_or("-"),
                v["version"].as_str().unwrap_or("-"),
                v["since"].as_str().unwrap_or("-"),
                v["executed"],
                if v["held"] == true { ", HELD" } else { "" }
            ));
            for p in v["pending"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "  pending {} {} -> {} ({}), expires {}\n",
                    p["kind"].as_str().unwrap_or_default(),
                    p["from"]["ring"].as_str().unwrap_or_default(),
                    p["to"]["ring"].as_str().unwrap_or_default(),
                    p["requestId"].as_str().unwrap_or_default(),
                    p["expiresAt"].as_str().unwrap_or_default()
                ));
            }
        }
        super::out(&text)
    }
}

impl VerifyArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        let files = self.files.iter().map(|p| read(p)).collect::<Result<Vec<_>>>()?;
        let (checked, time, refused) = verified_bundle(&self.trust, &self.bundle, ui, "promotion verify")?;
        if let Some(d) = refused {
            return Ok(d);
        }
        let verified = checked.verified().expect("verified");
        let (operator, approver) = (operator_role(&checked)?, approver_role(&checked)?);
        let meta = metadata(&self.bundle, &checked)?;
        let checks = rules::verify_chain(&files, &BundleRef::of(verified), &meta, Roles { operator: &operator, approver: &approver })?;
        let report = json!({"documents": self.files.len()});
        finish("promotion verify", checks, None, report, &checked, time, ui)
    }
}
