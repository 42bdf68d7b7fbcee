//! `airlock verify BUNDLE --key K.pub [--key ...] [--threshold K] [--json]`

use super::Ui;
use crate::keys::PublicKey;
use crate::report::{Check, Status, VERIFY_REPORT_SCHEMA};
use crate::verify::{self, TrustPolicy, Verification, VerifyError, VerifyReport};
use crate::{fsio, progress};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Verify a bundle offline.
#[derive(clap::Args, Debug)]
#[command(after_help = "Every check is listed, on success too. Exit 0: all passed. 1: the bundle is not acceptable\n\
(digest, signature, threshold, member set or checksums failed). 2: could not verify (usage, I/O,\n\
malformed or hostile archive, unknown format version).\n\n\
Examples:\n  airlock verify app-1.2.0.zip --key release-1.pub\n  \
airlock verify app.tar --key a.pub --key b.pub --key c.pub --threshold 2 --json")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// A trusted public key (NAME.pub); repeat for k-of-n.
    #[arg(long = "key", value_name = "PUB", required = true)]
    pub keys: Vec<PathBuf>,
    /// Distinct trusted keys that must have signed (default: all given keys).
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Hashing threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
}

/// Loads public key files.
pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let b = fsio::read_small(p, 64 << 10)?;
            PublicKey::parse_file(&b).with_context(|| format!("{} is not an airlock public key", p.display()))
        })
        .collect()
}

/// Verifies a bundle file, showing progress. Shared by `demo` and later commands.
pub fn verify_file(path: &Path, trust: &TrustPolicy, threads: usize, ui: Ui) -> Result<Verification, VerifyError> {
    let src = fsio::FileSource::open(path).map_err(|e| VerifyError::Archive(std::io::Error::other(format!("{e:#}")).into()))?;
    let bar = progress::bytes_bar(crate::archive::ByteSource::size(&src), "verifying", ui.progress);
    let opts = verify::Options { threads, ..Default::default() };
    let r = verify::verify(&src, trust, &opts, &|n| bar.inc(n));
    bar.finish_and_clear();
    r
}

/// Text rendering of a report.
pub fn render_text(path: &Path, r: &VerifyReport) -> String {
    let mut s = format!(
        "bundle   {}\nrelease  {} {}{}\nbundleId {}\nroot     {}\ntrust    {} ({} key(s), threshold {})\n\n",
        path.display(),
        r.release.product,
        r.release.version,
        r.release.commit.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        r.bundle_id,
        r.merkle_root,
        r.trust.source,
        r.trust.keys.len(),
        r.trust.threshold
    );
    for c in &r.checks {
        s.push_str(&render_check(c));
    }
    let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
    let passed = r.checks.iter().filter(|c| c.status == Status::Pass).count();
    s.push_str(&format!("\n{passed} passed, {failed} failed: {}\n", if failed == 0 { "VERIFIED" } else { "NOT VERIFIED" }));
    s
}

fn render_check(c: &Check) -> String {
    let tag = match c.status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Info => "INFO",
    };
    let mut s = format!("{tag} {:<26} {}{}\n", c.id, c.subject.as_deref().map(|x| format!("{x}: ")).unwrap_or_default(), c.detail);
    if c.status == Status::Fail
        && let (Some(e), Some(a)) = (&c.expected, &c.actual)
    {
        s.push_str(&format!("     expected {e}\n     actual   {a}\n"));
    }
    s
}

/// The JSON document for exit 2.
pub fn error_json(path: &Path, e: &VerifyError) -> serde_json::Value {
    serde_json::json!({
        "schema": VERIFY_REPORT_SCHEMA,
        "bundle": path,
        "outcome": "error",
        "error": {"kind": e.kind(), "message": e.to_string(), "hint": e.hint()},
    })
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let keys = load_keys(&self.keys)?;
        let threshold = self.threshold.unwrap_or(keys.len());
        let trust = TrustPolicy { keys, threshold, source: "--key".into() };
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        match verify_file(&self.bundle, &trust, threads, ui) {
            Ok(v) => {
                let r = v.report();
                if self.json {
                    let mut doc = serde_json::to_value(r)?;
                    doc["bundle"] = serde_json::json!(self.bundle);
                    super::out_json(&doc)?;
                } else {
                    super::out(&render_text(&self.bundle, r))?;
                }
                Ok(r.outcome.exit_code())
            }
            Err(e) => {
                if self.json {
                    super::out_json(&error_json(&self.bundle, &e))?;
                }
                eprintln!("error: {}: {e}\nhint: {}", self.bundle.display(), e.hint());
                Ok(2)
            }
        }
    }
}
