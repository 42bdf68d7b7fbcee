//! `airlock gate BUNDLE --policy POLICY [--json] --key K.pub ... [--role-key ROLE=K.pub ...]
//! [--break-glass REASON --break-glass-approval FILE --approver-key K.pub ...]`
//!
//! Verifies the bundle first (same trust options as `verify`), then computes the seed-004 gate
//! input and evaluates the policy. `--json` prints the RFC 8785 result document and nothing else
//! on stdout (no trailing newline, so the bytes are exactly canonical).

use super::Ui;
use super::verify::{load_keys, render_text, verify_file};
use crate::gate::breakglass::{Approvers, Request};
use crate::gate::policy::Policy;
use crate::gate::transparency::Transparency;
use crate::gate::{self, Context as GateContext, GateResult, Roles, Verdict};
use crate::report::{Check, Status};
use crate::verify::{TrustPolicy, Verification};
use crate::{clock, fsio};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Evaluate a bundle against a promotion-gate policy.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: allow. 1: deny (or the bundle did not verify). 2: could not evaluate (usage, I/O,\n\
malformed bundle or policy).\n\n\
The --key keys form the trust-root role named by the policy's signers.manifest.role (default \"release\");\n\
--role-key ROLE=PUB adds keys to other roles (builder, attestor, layout-owner, ...).\n\
Transparency: until the offline proof cache supplies an outcome, it is \"missing\"; a policy that\n\
requires transparency then denies unless --break-glass is given with an approval signed by the\n\
approver role.\n\n\
Examples:\n  airlock gate app.zip --policy gate.json --key release.pub --role-key builder=builder.pub\n  \
airlock gate app.zip --policy gate.json --key release.pub --json\n  \
airlock gate app.zip --policy gate.json --key release.pub --break-glass \"INC-42: log offline\" \\\n      \
--break-glass-approval bg.dsse.json --approver-key alice.pub --approver-key bob.pub --approver-threshold 2")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// The gate policy (JSON, schema airlock/gate-policy/v1).
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// A trusted bundle-signing public key; repeat for k-of-n.
    #[arg(long = "key", value_name = "PUB", required = true)]
    pub keys: Vec<PathBuf>,
    /// Distinct trusted keys that must have signed the manifest (default: all given keys).
    #[arg(long)]
    pub threshold: Option<usize>,
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
    /// An approver-role public key; repeat.
    #[arg(long = "approver-key", value_name = "PUB")]
    pub approver_keys: Vec<PathBuf>,
    /// Distinct approver keys required (default: all given approver keys).
    #[arg(long)]
    pub approver_threshold: Option<usize>,
    /// Hashing threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the RFC 8785 result document.
    #[arg(long)]
    pub json: bool,
}

fn parse_role_keys(specs: &[String]) -> Result<Vec<(String, PathBuf)>> {
    specs
        .iter()
        .map(|s| match s.split_once('=') {
            Some((r, p)) if !r.is_empty() && !p.is_empty() => Ok((r.to_string(), PathBuf::from(p))),
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
    for c in &r.checks {
        s.push_str(&render_check(c));
    }
    if let Some(bg) = &d.break_glass {
        s.push_str(&format!(
            "\nBREAK-GLASS applied: {:?}, approved by {}, expires {}, overriding {}\n",
            bg.reason,
            bg.approvers.join(", "),
            bg.expires_at,
            d.overridden.iter().map(|r| r.code).collect::<Vec<_>>().join(", ")
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

fn render_check(c: &Check) -> String {
    let tag = match c.status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Info => "INFO",
    };
    let mut s = format!("{tag} {:<28} {}{}\n", c.id, c.subject.as_deref().map(|x| format!("{x}: ")).unwrap_or_default(), c.detail);
    if c.status == Status::Fail
        && let (Some(e), Some(a)) = (&c.expected, &c.actual)
    {
        s.push_str(&format!("     expected {e}\n     actual   {a}\n"));
    }
    s
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let policy_bytes = fsio::read_small(&self.policy, 1 << 20)?;
        let policy = Policy::parse(&policy_bytes).with_context(|| format!("policy {}", self.policy.display()))?;
        let keys = load_keys(&self.keys)?;
        let threshold = self.threshold.unwrap_or(keys.len());
        let mut roles = Roles::default();
        roles.0.entry(policy.policy.signers.manifest.role.clone()).or_default().extend(keys.iter().cloned());
        for (role, path) in parse_role_keys(&self.role_keys)? {
            let k = load_keys(std::slice::from_ref(&path))?;
            roles.0.entry(role).or_default().extend(k);
        }
        let break_glass = match (&self.break_glass, &self.break_glass_approval) {
            (Some(reason), Some(file)) => {
                if self.approver_keys.is_empty() {
                    bail!("--break-glass needs the approver role's keys: pass --approver-key PUB (and --approver-threshold N)");
                }
                let approval = fsio::read_small(file, 1 << 20)?;
                let keys = load_keys(&self.approver_keys)?;
                let threshold = self.approver_threshold.unwrap_or(keys.len());
                Some((Request { reason: reason.clone(), approval }, Approvers { keys, threshold }))
            }
            _ => None,
        };
        let trust = TrustPolicy { keys, threshold, source: "--key".into() };
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let verification = match verify_file(&self.bundle, &trust, threads, ui) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {}: {e}\nhint: {}", self.bundle.display(), e.hint());
                return Ok(2);
            }
        };
        let verified = match verification {
            Verification::Passed(v, report) => {
                if !self.json && !ui.quiet {
                    eprintln!(
                        "verified {}: {} checks passed, manifest signed by {} of {} trusted keys",
                        self.bundle.display(),
                        report.checks.iter().filter(|c| c.status == Status::Pass).count(),
                        report.trust.signers.len(),
                        report.trust.keys.len()
                    );
                }
                v
            }
            Verification::Failed(report) => {
                if self.json {
                    let doc = serde_json::json!({
                        "schema": gate::GATE_RESULT_SCHEMA,
                        "decision": {"decision": "deny", "reasons": [{"code": "bundle.verify"}], "policyDigest": policy.digest},
                        "verify": report,
                    });
                    super::out(&String::from_utf8(crate::json::canonical_value(&doc)).expect("JSON is UTF-8"))?;
                } else {
                    super::out(&render_text(&self.bundle, &report))?;
                }
                eprintln!("gate: {} did not verify: DENY (bundle.verify)", self.bundle.display());
                return Ok(1);
            }
        };
        let src = fsio::FileSource::open(&self.bundle)?;
        let ctx =
            GateContext { roles, transparency: Transparency::Missing, now: clock::now(), artifact: self.artifact.clone(), break_glass };
        let result = match gate::evaluate(&verified, &src, &policy, &ctx) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}: {e}", self.bundle.display());
                return Ok(2);
            }
        };
        if self.json {
            super::out(&String::from_utf8(result.to_bytes()).expect("JSON is UTF-8"))?;
        } else {
            super::out(&render(&self.bundle, &result))?;
        }
        Ok(match result.decision.decision {
            Verdict::Allow => 0,
            Verdict::Deny => 1,
        })
    }
}
