//! `airlock upgrade-validate CURRENT NEXT [--key PUB... [--threshold K] | --trust-root FILE] [--allow-same-version] [--json] [--out DIR]`
//!
//! Both bundles are fully verified first (each once; hashing is parallel inside verify) with
//! `verify`'s trust options, recording nothing in the anti-rollback state: NEXT against the
//! release role in force, CURRENT against the release role of any version of the verified
//! trust-root history (it may predate a rotation). Their release metadata, read back and bound
//! to the verified manifests by digest, is then compared by
//! [`crate::release::upgrade::compare`], with the trust-root history as the signer authority.

use super::Decided;
use super::verify::{CheckAs, Checked, ReleaseSigners, TrustArgs, subject_of};
use super::{AboutExt, Ui};
use crate::archive;
use crate::fsio;
use crate::keys::KeyId;
use crate::release::report::{UPGRADE_REPORT_SCHEMA, out_files, verify_summary};
use crate::release::upgrade::{self, RoleVersion, SameVersion, SignerAuthority};
use crate::release::{BoundMetadata, MAX_METADATA_SIZE, METADATA_PATH, ReleaseError};
use crate::report::{Check, Outcome, Status, render_checks};
use crate::trust::state::{BundleRole, EvalTime};
use crate::verify::{Verified, VerifiedBundle, VerifyReport};
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Compare the release running today with a candidate before promoting it.
#[derive(clap::Args, Debug)]
#[command(after_help = "Both bundles are verified first with the same trust options as `verify`. NEXT is refused when it\n\
is a rollback (SemVer precedence: 1.2.0 -> 1.2.0-rc.1 is one), the same version (unless\n\
--allow-same-version), drops an installer target, deployment target, evidence kind, channel or\n\
release control, weakens a channel (auto-update on, approval off, ring removed or widened, soak\n\
shortened, hold condition or rollback requirement dropped), or is not signed at threshold by the\n\
release role in force (CURRENT may be signed by the release role of an earlier trust-root version;\n\
a new signer is reported with the rotation that admitted it). Nothing is recorded in the\n\
anti-rollback state. Exit 0: NEXT may replace CURRENT. 1: refused. 2: could not check.\n\n\
Examples:\n  airlock upgrade-validate app-1.2.0.zip app-1.3.0-rc.1.zip          # the pinned trust root\n  \
airlock upgrade-validate cur.zip next.zip --trust-root root-v3.json --json --out evidence/\n  \
airlock upgrade-validate cur.zip next.zip --key a.pub --key b.pub --threshold 1")]
pub struct Args {
    /// The bundle running today.
    pub current: PathBuf,
    /// The candidate.
    pub next: PathBuf,
    /// Let an equal version pass (a re-signed or re-packed release).
    #[arg(long)]
    pub allow_same_version: bool,
    /// Trust options (as for `verify`).
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
    /// Also write the report and its checksum file into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The signer authority NEXT is held to: the release role history of the trust root NEXT was
/// verified with, or the `--key` keys.
pub fn authority(next: &Checked) -> SignerAuthority {
    let t = next.report().trust();
    if next.root().is_some() {
        SignerAuthority::TrustRoot { source: t.source.clone(), history: next.history.iter().filter_map(RoleVersion::of).collect() }
    } else {
        let keyids = t.keys.iter().filter_map(|h| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())).map(KeyId).collect();
        SignerAuthority::Keys { source: t.source.clone(), keyids, threshold: t.threshold }
    }
}

/// One sentence on how signer continuity was checked, naming the rotations that changed the
/// release role.
fn continuity(a: &SignerAuthority) -> String {
    match a {
        SignerAuthority::Keys { source, .. } => {
            format!("checked against the keys given with {source}; no trust-root rotation history")
        }
        SignerAuthority::TrustRoot { source, history } => {
            let (Some(first), Some(last)) = (history.first(), history.last()) else {
                return format!("{source} has no release role");
            };
            let changed: Vec<String> = history
                .windows(2)
                .filter(|w| w[0].keyids != w[1].keyids || w[0].threshold != w[1].threshold)
                .map(|w| format!("{} -> {}", w[0].root_version, w[1].root_version))
                .collect();
            format!(
                "checked against the release role of {source}; verified trust-root history v{}..v{}; release role changed by rotation(s): {}",
                first.root_version,
                last.root_version,
                if changed.is_empty() { "none".to_string() } else { changed.join(", ") }
            )
        }
    }
}

fn trust_doc(cur: &VerifyReport, next: &VerifyReport, a: &SignerAuthority) -> Value {
    let history: Vec<Value> = match a {
        SignerAuthority::TrustRoot { history, .. } => history
            .iter()
            .map(|r| json!({"rootVersion": r.root_version, "keyids": r.keyids.iter().map(KeyId::hex).collect::<Vec<_>>(), "threshold": r.threshold}))
            .collect(),
        SignerAuthority::Keys { .. } => vec![],
    };
    json!({
        "source": next.trust().source,
        "keys": next.trust().keys,
        "threshold": next.trust().threshold,
        "current": {"source": cur.trust().source, "keys": cur.trust().keys, "threshold": cur.trust().threshold},
        "releaseHistory": history,
        "signerContinuity": continuity(a),
    })
}

/// Writes a report and its checksum file into `dir` (created if absent), each file atomically.
pub fn write_out(dir: &Path, name: &str, doc: &Value) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, bytes) in out_files(name, doc) {
        fsio::atomic_write(&dir.join(file), &bytes, 0o644)?;
    }
    Ok(())
}

/// Ends a reporting command: the report (and its checksum file) into `--out DIR` when given,
/// then JSON or text on stdout; returns `code`.
pub fn finish_report(out_dir: Option<&Path>, name: &str, json: bool, doc: Value, text: &str, code: u8) -> Result<Decided> {
    if let Some(dir) = out_dir {
        write_out(dir, name, &doc)?;
    }
    if json {
        super::out_json(&doc)?;
    } else {
        super::out(text)?;
    }
    Ok(Decided { code, report: doc, subject: Default::default(), time: None })
}

/// Reads the release metadata member back from a verified bundle file. `None` when the
/// manifest lists none. The bytes are bound to the manifest digest by [`BoundMetadata::bind`].
pub fn read_metadata(path: &Path, v: &Verified<VerifiedBundle>) -> Result<Option<Vec<u8>>> {
    let Some(entry) = v.get().index().get(METADATA_PATH) else { return Ok(None) };
    if BoundMetadata::member(v).is_none() {
        return Ok(None);
    }
    let src = fsio::FileSource::open(path)?;
    Ok(Some(
        archive::read_member(&src, entry, MAX_METADATA_SIZE).with_context(|| format!("reading {METADATA_PATH} from {}", path.display()))?,
    ))
}

/// Ends a report command that could not check (exit 2): the error document goes to `--out DIR`
/// when given and to stdout with `--json`, the error and its hint to stderr.
pub fn fail_report(e: anyhow::Error, command: &str, schema: &str, json: bool, out_dir: Option<&Path>, name: &str) -> Result<Decided> {
    let doc = super::error_doc(&e, command, schema);
    eprintln!("error: {}\nhint: {}", doc.error.message, doc.error.hint);
    let value = serde_json::to_value(&doc)?;
    if let Some(dir) = out_dir {
        write_out(dir, name, &value)?;
    }
    if json {
        super::out_json(&value)?;
    }
    Ok(Decided { code: 2, report: value, subject: Default::default(), time: None })
}

/// The trust root changed between the verifications of CURRENT and NEXT.
#[derive(Debug, thiserror::Error)]
#[error("the trust root changed between the two verifications ({before} then {after})")]
pub struct TrustChanged {
    /// Fingerprint at CURRENT's verification.
    pub before: crate::digest::Sha256Digest,
    /// Fingerprint at NEXT's verification.
    pub after: crate::digest::Sha256Digest,
}

impl crate::report::Diagnostic for TrustChanged {
    fn id(&self) -> std::borrow::Cow<'static, str> {
        "trust.changed".into()
    }
    fn hint(&self) -> std::borrow::Cow<'static, str> {
        "run upgrade-validate again once the trust store is no longer being updated".into()
    }
}

impl Args {
    fn finish(&self, doc: Value, text: &str, code: u8) -> Result<Decided> {
        finish_report(self.out.as_deref(), "upgrade-report", self.json, doc, text, code)
    }

    fn fail_early(&self, e: anyhow::Error) -> Result<Decided> {
        fail_report(e, "upgrade-validate", UPGRADE_REPORT_SCHEMA, self.json, self.out.as_deref(), "upgrade-report")
    }

    fn check(&self, bundle: &Path, time: EvalTime, how: CheckAs, ui: Ui) -> Result<Checked> {
        self.trust.check(bundle, time, how, ui)?.map_err(|e| e.about(bundle))
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let time = match self.trust.eval_time() {
            Ok(t) => t,
            Err(e) => return self.fail_early(e),
        };
        // CURRENT is the release being replaced: judged as the baseline, not a candidate.
        let baseline = CheckAs { signers: ReleaseSigners::AnyVersion, role: BundleRole::Baseline, ..CheckAs::looking() };
        let cur = match self.check(&self.current, time, baseline, ui) {
            Ok(c) => c,
            Err(e) => return self.fail_early(e),
        };
        let next = match self.check(&self.next, time, CheckAs::looking(), ui) {
            Ok(c) => c,
            Err(e) => return self.fail_early(e),
        };
        if let (Some(a), Some(b)) = (cur.root(), next.root())
            && a.fingerprint() != b.fingerprint()
        {
            return self.fail_early(TrustChanged { before: a.fingerprint(), after: b.fingerprint() }.into());
        }
        let authority = authority(&next);
        let mut doc = json!({
            "schema": UPGRADE_REPORT_SCHEMA,
            "current": {"bundle": self.current, "verification": verify_summary(cur.report())},
            "next": {"bundle": self.next, "verification": verify_summary(next.report())},
            "trust": trust_doc(cur.report(), next.report(), &authority),
            "options": {"allowSameVersion": self.allow_same_version},
        });
        let (cv, nv) = match (cur.verified(), next.verified()) {
            (Some(c), Some(n)) => (c, n),
            _ => {
                let mut text = String::new();
                for (which, path, v) in [("CURRENT", &self.current, &cur), ("NEXT", &self.next, &next)] {
                    let r = v.report();
                    let failed: Vec<Check> = r.failed().cloned().collect();
                    text.push_str(&format!(
                        "{which} {}: verification {}\n{}",
                        path.display(),
                        if failed.is_empty() { "passed" } else { "FAILED" },
                        render_checks(&failed)
                    ));
                }
                text.push_str("\nREFUSED: both bundles must verify before they can be compared\n");
                doc["outcome"] = json!(Outcome::Fail);
                doc["checks"] = json!([]);
                return self.finish(doc, &text, 1).map(|d| Decided { subject: subject_of(next.report(), None), time: Some(time), ..d });
            }
        };
        let cur_bytes = match read_metadata(&self.current, cv)? {
            Some(b) => b,
            None => return self.fail_early(ReleaseError::Missing.about(&self.current)),
        };
        let cur_meta = match BoundMetadata::bind(cv, &cur_bytes) {
            Ok(m) => m,
            Err(e) => return self.fail_early(e.about(&self.current)),
        };
        let checks: Vec<Check>;
        let mut changes = Value::Null;
        match read_metadata(&self.next, nv)? {
            None => {
                checks = vec![
                    Check::new(
                        "upgrade.metadata",
                        false,
                        format!("NEXT carries no {METADATA_PATH}: every target, channel and control would be dropped"),
                    )
                    .values("present", "absent"),
                ];
            }
            Some(b) => {
                let next_meta = match BoundMetadata::bind(nv, &b) {
                    Ok(m) => m,
                    Err(e) => return self.fail_early(e.about(&self.next)),
                };
                let same = if self.allow_same_version { SameVersion::Allow } else { SameVersion::Refuse };
                let cmp = upgrade::compare(&cur_meta, &next_meta, &authority, same);
                changes = serde_json::to_value(&cmp.changes)?;
                checks = cmp.checks;
            }
        }
        let outcome = Outcome::of(&checks);
        doc["outcome"] = json!(outcome);
        doc["changes"] = changes.clone();
        doc["checks"] = serde_json::to_value(&checks)?;
        let (cr, nr) = (&cv.get().manifest().release, &nv.get().manifest().release);
        let mut text = format!(
            "current  {} {} {} (verified)\nnext     {} {} {} (verified)\ntrust    {}\n\n",
            self.current.display(),
            cr.product,
            cr.version,
            self.next.display(),
            nr.product,
            nr.version,
            doc["trust"]["signerContinuity"].as_str().unwrap_or_default()
        );
        if cur.report().trust().source != next.report().trust().source {
            text.insert_str(text.len() - 1, &format!("         CURRENT verified against {}\n", cur.report().trust().source));
        }
        text.push_str(&render_checks(&checks));
        if let Value::Object(map) = &changes {
            text.push('\n');
            for (k, v) in map {
                if let (Some(a), Some(r)) = (v.get("added").and_then(Value::as_array), v.get("removed").and_then(Value::as_array))
                    && !(a.is_empty() && r.is_empty())
                {
                    let list = |x: &Vec<Value>| x.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ");
                    text.push_str(&format!("{k:<14} added [{}] removed [{}]\n", list(a), list(r)));
                }
            }
        }
        let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
        text.push_str(&format!(
            "\n{} checks, {failed} failed: {}\n",
            checks.len(),
            if failed == 0 { "NEXT MAY REPLACE CURRENT" } else { "REFUSED" }
        ));
        let subject = subject_of(next.report(), None);
        self.finish(doc, &text, outcome.exit_code()).map(|d| Decided { subject, time: Some(time), ..d })
    }
}
