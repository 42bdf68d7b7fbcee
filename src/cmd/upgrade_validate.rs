//! `airlock upgrade-validate CURRENT NEXT --key PUB... [--threshold K] [--allow-same-version] [--json] [--out DIR]`
//!
//! Both bundles are fully verified first (each once; hashing is parallel inside verify), then
//! their release metadata, read back and bound to the verified manifests by digest, is compared
//! by [`crate::release::upgrade::compare`].

use super::Ui;
use super::verify::{load_keys, verify_file};
use crate::archive;
use crate::fsio;
use crate::release::report::{UPGRADE_REPORT_SCHEMA, out_files, verify_summary};
use crate::release::upgrade::{self, SameVersion, SignerAuthority};
use crate::release::{BoundMetadata, MAX_METADATA_SIZE, METADATA_PATH, ReleaseError};
use crate::report::{Check, Outcome, Status};
use crate::verify::{TrustPolicy, Verification, Verified, VerifiedBundle, VerifyError};
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
release signers in force. Exit 0: NEXT may replace CURRENT. 1: refused. 2: could not check.\n\n\
Examples:\n  airlock upgrade-validate app-1.2.0.zip app-1.3.0-rc.1.zip --key release.pub\n  \
airlock upgrade-validate cur.zip next.zip --key a.pub --key b.pub --threshold 1 --json --out evidence/")]
pub struct Args {
    /// The bundle running today.
    pub current: PathBuf,
    /// The candidate.
    pub next: PathBuf,
    /// Let an equal version pass (a re-signed or re-packed release).
    #[arg(long)]
    pub allow_same_version: bool,
    /// A trusted public key (NAME.pub); repeat for k-of-n.
    #[arg(long = "key", value_name = "PUB", required = true)]
    pub keys: Vec<PathBuf>,
    /// Distinct trusted keys that must have signed each bundle (default: all given keys).
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Hashing threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
    /// Also write the report and its checksum file into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How both bundles are verified and what NEXT's signers are checked against.
pub struct Trust {
    /// Policy for CURRENT.
    pub current: TrustPolicy,
    /// Policy for NEXT.
    pub next: TrustPolicy,
    /// The release signers in force for NEXT, with their history when a trust root gives one.
    pub authority: SignerAuthority,
}

/// Builds the trust both verifications use: the one place to add `--trust-root` and the trust
/// store (then `authority` becomes [`SignerAuthority::TrustRoot`] with the role history).
pub fn build_trust(keys: &[PathBuf], threshold: Option<usize>) -> Result<Trust> {
    let keys = load_keys(keys)?;
    let threshold = threshold.unwrap_or(keys.len());
    let policy = TrustPolicy { keys: keys.clone(), threshold, source: "--key".into() };
    let authority = SignerAuthority::Keys { source: "--key".into(), keyids: keys.iter().map(|k| k.keyid()).collect(), threshold };
    Ok(Trust { current: policy.clone(), next: policy, authority })
}

/// Text lines for checks (PASS/FAIL/INFO, expected and actual under failures).
pub fn render_checks(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let tag = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Info => "INFO",
        };
        s.push_str(&format!("{tag} {:<26} {}{}\n", c.id, c.subject.as_deref().map(|x| format!("{x}: ")).unwrap_or_default(), c.detail));
        if c.status == Status::Fail
            && let (Some(e), Some(a)) = (&c.expected, &c.actual)
        {
            s.push_str(&format!("     expected {e}\n     actual   {a}\n"));
        }
    }
    s
}

/// Writes a report and its checksum file into `dir` (created if absent), each file atomically.
pub fn write_out(dir: &Path, name: &str, doc: &Value) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, bytes) in out_files(name, doc) {
        fsio::atomic_write(&dir.join(file), &bytes, 0o644)?;
    }
    Ok(())
}

/// Reads the release metadata member back from a verified bundle file. `None` when the
/// manifest lists none. The bytes are bound to the manifest digest by [`BoundMetadata::bind`].
pub fn read_metadata(path: &Path, v: &Verified<VerifiedBundle>) -> Result<Option<Vec<u8>>> {
    let Some(entry) = v.get().index.get(METADATA_PATH) else { return Ok(None) };
    if BoundMetadata::member(v).is_none() {
        return Ok(None);
    }
    let src = fsio::FileSource::open(path)?;
    Ok(Some(
        archive::read_member(&src, entry, MAX_METADATA_SIZE).with_context(|| format!("reading {METADATA_PATH} from {}", path.display()))?,
    ))
}

fn error_doc(kind: &str, message: String, hint: &str, bundle: Option<&Path>) -> Value {
    json!({
        "schema": UPGRADE_REPORT_SCHEMA,
        "outcome": "error",
        "bundle": bundle,
        "error": {"kind": kind, "message": message, "hint": hint},
    })
}

fn verify_error(path: &Path, e: &VerifyError) -> Value {
    error_doc(&e.kind(), format!("{}: {e}", path.display()), e.hint(), Some(path))
}

fn release_error(path: &Path, e: &ReleaseError) -> Value {
    let kind = match e {
        ReleaseError::Missing => "release.metadata-missing",
        ReleaseError::Digest { .. } => "release.metadata-changed",
        ReleaseError::UnknownSchema { .. } => "release.unknown-schema",
        _ => "release.metadata-malformed",
    };
    error_doc(kind, format!("{}: {e}", path.display()), "re-pack the bundle with `airlock pack --release`", Some(path))
}

impl Args {
    fn finish(&self, doc: &Value, text: &str, code: u8) -> Result<u8> {
        if let Some(dir) = &self.out {
            write_out(dir, "upgrade-report", doc)?;
        }
        if self.json {
            super::out_json(doc)?;
        } else {
            super::out(text)?;
        }
        Ok(code)
    }

    fn fail_early(&self, doc: Value) -> Result<u8> {
        let msg = doc["error"]["message"].as_str().unwrap_or_default().to_string();
        let hint = doc["error"]["hint"].as_str().unwrap_or_default().to_string();
        eprintln!("error: {msg}\nhint: {hint}");
        if let Some(dir) = &self.out {
            write_out(dir, "upgrade-report", &doc)?;
        }
        if self.json {
            super::out_json(&doc)?;
        }
        Ok(2)
    }

    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let trust = match build_trust(&self.keys, self.threshold) {
            Ok(t) => t,
            Err(e) => {
                return self.fail_early(error_doc(
                    "trust.unusable",
                    format!("{e:#}"),
                    "pass --key PUB files made by `airlock keygen`",
                    None,
                ));
            }
        };
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let cur = match verify_file(&self.current, &trust.current, threads, ui) {
            Ok(v) => v,
            Err(e) => return self.fail_early(verify_error(&self.current, &e)),
        };
        let next = match verify_file(&self.next, &trust.next, threads, ui) {
            Ok(v) => v,
            Err(e) => return self.fail_early(verify_error(&self.next, &e)),
        };
        let trust_doc = json!({
            "source": trust.current.source,
            "keys": trust.current.keys.iter().map(|k| k.keyid().hex()).collect::<Vec<_>>(),
            "threshold": trust.current.threshold,
            "signerContinuity": match &trust.authority {
                SignerAuthority::Keys { source, .. } => format!("checked against the keys given with {source}; no trust-root rotation history"),
                SignerAuthority::TrustRoot { source, history } => format!("checked against the release role of {source} ({} version(s))", history.len()),
            },
        });
        let mut doc = json!({
            "schema": UPGRADE_REPORT_SCHEMA,
            "current": {"bundle": self.current, "verification": verify_summary(cur.report())},
            "next": {"bundle": self.next, "verification": verify_summary(next.report())},
            "trust": trust_doc,
            "options": {"allowSameVersion": self.allow_same_version},
        });
        let (cv, nv) = match (&cur, &next) {
            (Verification::Passed(c, _), Verification::Passed(n, _)) => (c, n),
            _ => {
                let mut text = String::new();
                for (which, path, v) in [("CURRENT", &self.current, &cur), ("NEXT", &self.next, &next)] {
                    let r = v.report();
                    let failed: Vec<Check> = r.checks.iter().filter(|c| c.status == Status::Fail).cloned().collect();
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
                return self.finish(&doc, &text, 1);
            }
        };
        let cur_bytes = match read_metadata(&self.current, cv)? {
            Some(b) => b,
            None => return self.fail_early(release_error(&self.current, &ReleaseError::Missing)),
        };
        let cur_meta = match BoundMetadata::bind(cv, &cur_bytes) {
            Ok(m) => m,
            Err(e) => return self.fail_early(release_error(&self.current, &e)),
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
                    Err(e) => return self.fail_early(release_error(&self.next, &e)),
                };
                let same = if self.allow_same_version { SameVersion::Allow } else { SameVersion::Refuse };
                let cmp = upgrade::compare(&cur_meta, &next_meta, &trust.authority, same);
                changes = serde_json::to_value(&cmp.changes)?;
                checks = cmp.checks;
            }
        }
        let outcome = Outcome::of(&checks);
        doc["outcome"] = json!(outcome);
        doc["changes"] = changes.clone();
        doc["checks"] = serde_json::to_value(&checks)?;
        let (cr, nr) = (&cv.get().manifest.release, &nv.get().manifest.release);
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
        self.finish(&doc, &text, outcome.exit_code())
    }
}
