//! `airlock gate BUNDLE --policy POLICY [--json] [--key K.pub ... | --trust-root FILE]
//! [--role-key ROLE=K.pub ...] [--break-glass REASON --break-glass-approval FILE]`
//!
//! Verifies the bundle first with the same trust options as `verify` (pinned trust store by
//! default, `--trust-root`, or ad-hoc `--key`), then computes the seed-004 gate input and
//! evaluates the policy. With a trust root, every role's keys (Ed25519 or P-256) (and the `approver` role's
//! threshold) come from it; with `--key`, those keys form the manifest role and `--role-key` /
//! `--approver-key` supply the others. `--json` prints the RFC 8785 result document and nothing else
//! on stdout (no trailing newline, so the bytes are exactly canonical).

use super::AboutExt;
use super::Decided;
use super::Ui;
use super::verify::{CheckAs, TrustArgs, load_keys, render_text, subject_of};
use crate::fsio;
use crate::gate::breakglass::Request;
use crate::gate::policy::Policy;
use crate::gate::transparency::GateTransparency;
use crate::gate::{self, GateParams, GateResult, Roles, Verdict};
use crate::report::{Status, render_checks};
use crate::trust::role::{RoleKeys, RoleName};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Evaluate a bundle against a promotion-gate policy.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: allow. 1: deny (or the bundle did not verify). 2: could not evaluate (usage, I/O,\n\
malformed bundle or policy).\n\n\
Trust as for verify: the pinned trust store, --trust-root FILE, or --key PUB. With a trust root, the\n\
policy's signer roles (release, builder, attestor, layout-owner) and the approver role come from it;\n\
with --key, those keys form the manifest role and --role-key ROLE=PUB adds keys to the others.\n\
Transparency: the bundle's tlog/manifest.tlog-proof is checked against --log-key or the trust\n\
root's tlog role and the local cache; missing or unverifiable evidence under a policy that requires\n\
it denies unless --break-glass is given with an approval signed by the approver role.\n\n\
Examples:\n  \
airlock gate app.zip --policy gate.json --key release.pub --role-key builder=builder.pub\n  \
airlock gate app.zip --policy gate.json --key release.pub --json\n  \
airlock gate app.zip --policy gate.json --key release.pub --break-glass \"INC-42: log offline\" \\\n      \
--break-glass-approval bg.dsse.json --approver-key alice.pub --approver-key bob.pub \\\n      \
--approver-threshold 2")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// The gate policy (schema airlock/gate-policy/v1): JSON, or TOML when the name ends in .toml.
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// Trust options, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// A key of a trust-root role, as ROLE=PUB; repeat.
    #[arg(long = "role-key", value_name = "ROLE=PUB")]
    pub role_keys: Vec<String>,
    /// The artifact member to gate (default: the policy's, else the only one).
    #[arg(long, value_name = "PATH")]
    pub artifact: Option<String>,
    /// Override missing or unverifiable transparency, for this reason (needs an approval).
    #[arg(long, value_name = "REASON", requires = "break_glass_approval")]
    pub break_glass: Option<String>,
    /// The break-glass approval (a DSSE envelope signed by the approver role).
    #[arg(long, value_name = "FILE", requires = "break_glass")]
    pub break_glass_approval: Option<PathBuf>,
    /// An approver-role public key, when trust comes from --key (a trust root's approver role
    /// is used otherwise); repeat.
    #[arg(long = "approver-key", value_name = "PUB")]
    pub approver_keys: Vec<PathBuf>,
    /// Distinct approver keys required with --approver-key (default: all given).
    #[arg(long, requires = "approver_keys")]
    pub approver_threshold: Option<usize>,
    /// Print the RFC 8785 result document.
    #[arg(long)]
    pub json: bool,
    /// The Sigstore trusted_root.json that `*.sigstore.json` evidence is verified against
    /// (default: the one `airlock trust import-tuf --target trusted_root.json` kept, if any).
    #[arg(long, value_name = "FILE")]
    pub sigstore_trusted_root: Option<PathBuf>,
}

fn parse_role_keys(specs: &[String]) -> Result<Vec<(RoleName, PathBuf)>> {
    specs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((r, p)) if !p.is_empty() => Ok((RoleName::parse(r).with_context(|| format!("--role-key {s:?}"))?, PathBuf::from(p))),
            _ => bail!("--role-key {s:?} is not ROLE=PUB"),
        })
        .collect()
}

/// Text rendering of a gate result.
pub fn render(path: &Path, r: &GateResult) -> String {
    let d = &r.decision;
    let mut s = format!(
        "bundle       {}\nartifact     {} ({})\nbundleId     {}\nscore        {}\npolicy       {}\ngate input   {}\ntransparency {}\n\n",
        path.display(),
        r.gate_input.artifact.artifact_id,
        r.gate_input.artifact.digest,
        r.gate_input.evidence.bundle_id,
        r.gate_input.evidence.evidence_score,
        d.policy_digest,
        d.gate_input_digest,
        d.transparency
    );
    s.push_str(&render_checks(&r.checks));
    if let Some(bg) = &d.break_glass {
        s.push_str(&format!(
            "\nBREAK-GLASS applied: {:?}, approved by {}, expires {}, overriding {}\n",
            bg.reason,
            bg.approvers.join(", "),
            bg.expires_at,
            d.overridden.iter().map(|r| r.code.as_ref()).collect::<Vec<_>>().join(", ")
        ));
    }
    match d.decision {
        Verdict::Allow => s.push_str("\nALLOW\n"),
        Verdict::Deny => s.push_str(&format!(
            "\nDENY: {}\n",
            d.reasons
                .iter()
                .map(|r| r.subject.as_ref().map(|x| format!("{} ({x})", r.code)).unwrap_or_else(|| r.code.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    s
}

impl Args {
    /// Runs; the decision is recorded by [`super::run`].
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let (decided, text) = self.decide(ui)?;
        if self.json {
            super::out(&String::from_utf8(crate::json::canonical_value(&decided.report)).expect("JSON is UTF-8"))?;
        } else {
            super::out(&text)?;
        }
        if decided.code == 1 && decided.report["verify"].is_object() {
            eprintln!("gate: {} did not verify: DENY (bundle.verify)", self.bundle.display());
        }
        Ok(decided)
    }

    /// Evaluates and returns the verdict (its `report` is the `--json` document) and the text
    /// rendering, printing neither (`run` prints; `airlock serve` answers with the document).
    pub fn decide(&self, ui: Ui) -> Result<(Decided, String)> {
        let policy_bytes = fsio::read_small(&self.policy, 1 << 20)?;
        let toml = self.policy.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let policy = if toml { Policy::parse_toml(&policy_bytes) } else { Policy::parse(&policy_bytes) }
            .with_context(|| format!("policy {}", self.policy.display()))?;
        let time = self.trust.eval_time()?;
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let mut roles = Roles::default();
        let mut approvers = None;
        match checked.root() {
            Some(root) => {
                if !self.role_keys.is_empty() || !self.approver_keys.is_empty() {
                    bail!("--role-key and --approver-key are for ad-hoc --key trust; with a trust root, roles come from the root");
                }
                roles = Roles::from_root(root);
                approvers = roles.get(&RoleName::APPROVER).cloned();
            }
            None => {
                roles.add_ed25519(policy.policy.signers.manifest.role.clone(), load_keys(&self.trust.keys)?);
                for (role, path) in parse_role_keys(&self.role_keys)? {
                    roles.add(role, [super::verify::load_public(&path)?]);
                }
                if !self.approver_keys.is_empty() {
                    let keys = load_keys(&self.approver_keys)?;
                    let threshold = self.approver_threshold.unwrap_or(keys.len());
                    approvers = Some(RoleKeys::ed25519(keys, threshold));
                }
            }
        }
        let break_glass = match (&self.break_glass, &self.break_glass_approval) {
            (Some(reason), Some(file)) => {
                let Some(approvers) = approvers else {
                    bail!(
                        "--break-glass needs the approver role: a trust root with an \"approver\" role, or --approver-key PUB with --key"
                    );
                };
                Some((Request { reason: reason.clone(), approval: fsio::read_small(file, 1 << 20)? }, approvers))
            }
            _ => None,
        };
        let report = checked.report();
        let Some(verified) = checked.verified() else {
            let doc = serde_json::json!({
                "schema": gate::GATE_RESULT_SCHEMA,
                "decision": {"decision": "deny", "reasons": [{"code": "bundle.verify"}], "policyDigest": policy.digest},
                "verify": report,
            });
            let text = render_text(&self.bundle, report);
            return Ok((Decided { code: 1, report: doc, subject: subject_of(report, None), time: Some(time) }, text));
        };
        if !self.json && !ui.quiet {
            eprintln!(
                "verified {} with {}: {} checks passed, manifest signed by {} of {} trusted keys",
                self.bundle.display(),
                report.trust().source,
                report.checks().iter().filter(|c| c.status == Status::Pass).count(),
                report.trust().signers.len(),
                report.trust().keys.len()
            );
        }
        let src = fsio::FileSource::open(&self.bundle)?;
        // The transparency outcome and the time are the verification's: the proof was read
        // once, by verify, and the clock once, by this command.
        let transparency = GateTransparency::from_tlog(verified.get().transparency());
        let sigstore_root = match &self.sigstore_trusted_root {
            Some(p) => Some(std::sync::Arc::new(super::sigstore::load_trusted_root(Some(p))?.0)),
            None => {
                let p = crate::store::trust::TrustStore::open()?.sigstore_root_path();
                if fsio::present(&p)? { Some(std::sync::Arc::new(super::sigstore::load_trusted_root(Some(&p))?.0)) } else { None }
            }
        };
        let params = GateParams { roles, transparency, artifact: self.artifact.clone(), break_glass, sigstore_root };
        let result = gate::evaluate(verified, &src, &policy, &params).map_err(|e| e.about(&self.bundle))?;
        let code = match result.decision.decision {
            Verdict::Allow => 0,
            Verdict::Deny => 1,
        };
        let subject = subject_of(report, Some(result.gate_input.artifact.digest.prefixed()));
        let decided = Decided { code, report: serde_json::from_slice(&result.to_bytes())?, subject, time: Some(time) };
        Ok((decided, render(&self.bundle, &result)))
    }
}
