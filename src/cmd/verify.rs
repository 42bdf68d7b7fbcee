//! `airlock verify BUNDLE [--key K.pub ... [--threshold K] | --trust-root FILE] [--at-time T] [--json]`
//!
//! Trust comes from the pinned trust store's `release` role by default, from a given root with
//! `--trust-root`, or from ad-hoc keys with `--key`. Freshness checks (clock, root expiry,
//! root version, bundle order per product and channel; `crate::trust::state`) are appended to
//! the report; only store-trusted verifications update the anti-rollback state.

use super::Ui;
use crate::keys::PublicKey;
use crate::report::{Check, Outcome, Status, VERIFY_REPORT_SCHEMA};
use crate::store::tlog::TlogStore;
use crate::store::trust::TrustStore;
use crate::time::Timestamp;
use crate::tlog::LogTrust;
use crate::tlog::note::VerifierKey;
use crate::trust::root::{MAX_ROOT_SIZE, TrustRoot};
use crate::trust::state::{self, BundleFacts, EvalTime, Record, RootFacts};
use crate::verify::{self, TrustPolicy, Verification, VerifyError, VerifyReport};
use crate::{clock, fsio, progress};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Verify a bundle offline.
#[derive(clap::Args, Debug)]
#[command(after_help = "Every check is listed, on success too. Exit 0: all passed. 1: the bundle is not acceptable\n\
(digest, signature, threshold, member set, checksums, expired root, clock gone backwards, or older than\n\
a bundle already accepted for the same product and channel). 2: could not verify (usage, I/O,\n\
malformed or hostile archive, unknown format version, no trust root).\n\n\
Examples:\n  airlock verify app-1.2.0.zip                      # the pinned trust root's release role\n  \
airlock verify app-1.2.0.zip --trust-root root-v3.json\n  \
airlock verify app-1.2.0.zip --at-time 2026-03-01T00:00:00Z   # as of a stated time; rollback is report-only\n  \
airlock verify app.tar --key a.pub --key b.pub --key c.pub --threshold 2 --json\n  \
airlock verify app.zip --member-minisign-key upstream.pub   # artifacts/x.tar.gz.minisig over artifacts/x.tar.gz")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// Trust options.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Also check BUNDLE.minisig (minisign, or a renamed signify .sig) with this minisign public key.
    #[arg(long = "minisign-key", value_name = "PUB")]
    pub minisign_key: Option<PathBuf>,
    /// Also check every member X.minisig (or signify X.sig) inside the bundle over its member X
    /// with this minisign public key (e.g. upstream's signatures packed with their files).
    #[arg(long = "member-minisign-key", value_name = "PUB")]
    pub member_minisign_key: Option<PathBuf>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
    /// Do not append the verdict to the evidence ledger.
    #[arg(long)]
    pub no_record: bool,
}

/// The trust options every command that verifies a bundle takes: the pinned trust store's
/// `release` role by default, `--trust-root FILE`, or ad-hoc `--key` (with `--threshold`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// A trusted public key (NAME.pub) for ad-hoc use; repeat for k-of-n. Default: the pinned
    /// trust root's release role.
    #[arg(long = "key", value_name = "PUB", conflicts_with = "trust_root")]
    pub keys: Vec<PathBuf>,
    /// Distinct trusted keys that must have signed (default: all given keys). Only with --key.
    #[arg(long, requires = "keys")]
    pub threshold: Option<usize>,
    /// Use this trust root's release role instead of the pinned one (it must be self-signed).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// Verify as of this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock; the clock and the
    /// anti-rollback history are then reported, not enforced, and nothing is recorded.
    #[arg(long, value_name = "TIME")]
    pub at_time: Option<String>,
    /// Hashing threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Trust this transparency-log verifier key (`name+hex8+base64`, C2SP note format) for the
    /// bundle's proof, instead of the trust root's `tlog` role; repeatable.
    #[arg(long = "log-key", value_name = "VKEY")]
    pub log_keys: Vec<String>,
    /// Fail (exit 1) when the bundle's transparency evidence is missing or cannot be checked
    /// offline, instead of recording it for the promotion gate.
    #[arg(long)]
    pub require_transparency: bool,
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

/// Verifies a bundle file against ad-hoc keys, no transparency inputs, showing progress.
pub fn verify_file(path: &Path, trust: &TrustPolicy, threads: usize, ui: Ui) -> Result<Verification, VerifyError> {
    verify_file_with(path, trust, threads, verify::Transparency::default(), ui)
}

/// Verifies a bundle file, showing progress.
pub fn verify_file_with(
    path: &Path,
    trust: &TrustPolicy,
    threads: usize,
    transparency: verify::Transparency<'_>,
    ui: Ui,
) -> Result<Verification, VerifyError> {
    let src = fsio::FileSource::open(path).map_err(|e| VerifyError::Archive(std::io::Error::other(format!("{e:#}")).into()))?;
    let bar = progress::bytes_bar(crate::archive::ByteSource::size(&src), "verifying", ui.progress);
    let opts = verify::Options { threads, transparency, ..Default::default() };
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

/// Where trust came from.
struct Trust {
    policy: TrustPolicy,
    root: Option<TrustRoot>,
    /// Verified trust-root history ending with `root` (empty without a root).
    history: Vec<TrustRoot>,
    record: Record,
    notes: Vec<Check>,
}

/// A verification with trust freshness applied: the report holds every check (core, trust notes,
/// foreign signatures, freshness) and the outcome over all of them.
pub struct Checked {
    verification: Verification,
    /// The full report.
    pub report: VerifyReport,
    /// The trust root used, if trust came from one.
    pub root: Option<TrustRoot>,
    /// The verified trust-root history that leads to `root`, oldest first, `root` last: the
    /// stored roots (`history/N.root.json`) from which `root` follows by valid rotations.
    /// Empty when trust came from `--key`.
    pub history: Vec<TrustRoot>,
}

impl Checked {
    /// The verified bundle, only when every check passed (freshness included).
    pub fn verified(&self) -> Option<&verify::Verified<verify::VerifiedBundle>> {
        match (&self.verification, self.report.outcome) {
            (Verification::Passed(b, _), Outcome::Pass) => Some(b),
            _ => None,
        }
    }
}

/// Whether this verification may record accepted bundles and the clock in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// `verify`: record when trust came from the pinned store.
    WhenStoreTrusted,
    /// Comparisons and gates that look at bundles without accepting them: record nothing.
    Never,
}

/// Which `release` keys may sign the bundle when trust comes from a trust root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseSigners {
    /// The release role of the root in force, at its threshold (`verify`, `gate`, `smoke`, NEXT
    /// in `upgrade-validate`).
    InForce,
    /// The release role of any version of the verified history, at that version's threshold,
    /// keys revoked by the root in force not counting (CURRENT in `upgrade-validate`: it may
    /// have been signed before a rotation). Checked as `trust.release-history`.
    AnyVersion,
}

impl TrustArgs {
    /// Trusted logs: `--log-key` keys, else the trust root's `tlog` role policy (a C2SP
    /// tlog-policy document under `policy.tlogPolicy`), else none.
    fn log_trust(&self, root: Option<&TrustRoot>) -> Result<Option<LogTrust>> {
        if !self.log_keys.is_empty() {
            let mut t = LogTrust::empty("--log-key");
            for k in &self.log_keys {
                t.add_log_key(VerifierKey::parse(k).with_context(|| format!("--log-key {k:?}"))?, None);
            }
            return Ok(Some(t));
        }
        match root {
            Some(root) => Ok(crate::trust::root_log_trust(root)?),
            None => Ok(None),
        }
    }

    fn trust(&self, store: &TrustStore, st: &state::State, signers: ReleaseSigners) -> Result<Option<Trust>> {
        if !self.keys.is_empty() {
            let keys = load_keys(&self.keys)?;
            let threshold = self.threshold.unwrap_or(keys.len());
            return Ok(Some(Trust {
                policy: TrustPolicy { keys, threshold, source: "--key".into() },
                root: None,
                history: vec![],
                record: Record::ReadOnly,
                notes: vec![],
            }));
        }
        let (root, source, record) = match &self.trust_root {
            Some(p) => {
                let bytes = fsio::read_small(p, MAX_ROOT_SIZE)?;
                let root = TrustRoot::parse(&bytes).with_context(|| format!("{} is not a usable trust root", p.display()))?;
                root.verify_self().with_context(|| format!("{} is not signed by its own root role", p.display()))?;
                let src = format!("--trust-root {} v{} ({})", p.display(), root.version(), root.fingerprint.prefixed());
                (root, src, Record::ReadOnly)
            }
            None => match store.load_root(st)? {
                Some(root) => {
                    let src = format!("trust store root v{} ({})", root.version(), root.fingerprint.prefixed());
                    (root, src, Record::Store)
                }
                None => return Ok(None),
            },
        };
        let history = store.history(&root);
        let (policy, skipped) = match signers {
            ReleaseSigners::AnyVersion if history.len() > 1 => {
                let (first, last) = (history[0].version(), root.version());
                crate::trust::release_policy_any_version(&history, format!("{source}; release role of any version v{first}..v{last}"))
            }
            _ => crate::trust::release_policy(&root, source),
        }
        .context("the trust root has no release role")?;
        let notes = skipped
            .into_iter()
            .map(|id| {
                Check::new("trust.release-key", true, "release key is not Ed25519 and cannot verify bundle signatures").subject(id).info()
            })
            .collect();
        Ok(Some(Trust { policy, root: Some(root), history, record, notes }))
    }

    /// Verifies `bundle` with these trust options and the anti-rollback state. `Ok(Err(_))`
    /// is "could not verify" (exit 2) with the report-ready error.
    pub fn check(&self, bundle: &Path, recording: Recording, ui: Ui) -> Result<Result<Checked, VerifyError>> {
        self.check_as(bundle, recording, ReleaseSigners::InForce, ui)
    }

    /// [`Self::check`], choosing which release keys may have signed.
    pub fn check_as(&self, bundle: &Path, recording: Recording, signers: ReleaseSigners, ui: Ui) -> Result<Result<Checked, VerifyError>> {
        self.check_with(bundle, recording, signers, Vec::new(), ui)
    }

    /// [`Self::check_as`] with checks made outside the bundle (e.g. a detached `.minisig`):
    /// they join the report before freshness is evaluated, so a failing one keeps the bundle
    /// from being recorded as accepted.
    pub fn check_with(
        &self,
        bundle: &Path,
        recording: Recording,
        signers: ReleaseSigners,
        extra: Vec<Check>,
        ui: Ui,
    ) -> Result<Result<Checked, VerifyError>> {
        let time = match &self.at_time {
            Some(t) => EvalTime::OperatorFixed(Timestamp::parse(t)?),
            None => EvalTime::Clock(clock::now()),
        };
        let store = TrustStore::open()?;
        let st = store.load_state()?;
        let Some(trust) = self.trust(&store, &st, signers)? else {
            anyhow::bail!(
                "no trust root is pinned and neither --trust-root nor --key was given\n\
                 hint: pin a root with `airlock trust init ROOT.json --fingerprint SHA256`, or pass --trust-root FILE or --key PUB"
            );
        };
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let log_trust = self.log_trust(trust.root.as_ref())?;
        let cache = TlogStore::open_default()?;
        let transparency = verify::Transparency {
            trust: log_trust.as_ref(),
            cache: Some(&cache),
            now: time.instant(),
            require: self.require_transparency,
        };
        let v = match verify_file_with(bundle, &trust.policy, threads, transparency, ui) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let mut r = v.report().clone();
        let created = match &v {
            Verification::Passed(b, _) => Some(b.get().manifest.created_at),
            Verification::Failed(_) => None,
        };
        r.checks.extend(trust.notes.iter().cloned());
        let mut verified = matches!(v, Verification::Passed(..)) && extra.iter().all(|c| c.status != Status::Fail);
        r.checks.extend(extra);
        if let Verification::Passed(b, _) = &v
            && signers == ReleaseSigners::AnyVersion
            && trust.history.len() > 1
        {
            let c = crate::trust::release_history_check(&trust.history, &b.get().signers);
            verified &= c.status != Status::Fail;
            r.checks.push(c);
        }
        if let Some(root) = &trust.root {
            // Signatures by revoked or non-release keys of the root, named from the envelope
            // verification already read.
            let named = crate::trust::foreign_signature_checks(root, &r.envelope);
            r.checks.extend(named);
        }
        let facts = created.map(|c| BundleFacts { release: &r.release, created_at: c, bundle_id: &r.bundle_id });
        let root_facts = trust.root.as_ref().map(|x| RootFacts { version: x.version(), expires: x.expires() });
        let record = if recording == Recording::Never { Record::ReadOnly } else { trust.record };
        // Evaluate and record under the store's lock, against the state as it is now: another
        // verification may have recorded something while this one was hashing.
        let _lock = if record == Record::Store { Some(store.lock()?) } else { None };
        let st = if record == Record::Store { store.load_state()? } else { st };
        let fresh = state::evaluate(&st, root_facts, facts.as_ref(), time, verified, record);
        r.checks.extend(fresh.checks);
        r.outcome = Outcome::of(&r.checks);
        if let Some(next) = fresh.next {
            store.save_state(&next)?;
        }
        if let Some(ev) = &r.fork_evidence {
            let path = cache.write_fork_evidence(ev, time.instant())?;
            eprintln!("airlock: split view of log {:?}: both checkpoints written to {}", ev.origin, path.display());
            r.checks.push(
                Check::new("transparency.fork-evidence", false, "two authentic checkpoints of this log disagree; evidence written")
                    .subject(path.display().to_string()),
            );
            r.outcome = Outcome::of(&r.checks);
        }
        Ok(Ok(Checked { verification: v, report: r, root: trust.root, history: trust.history }))
    }
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let mut extra = match &self.minisign_key {
            Some(k) => vec![super::minisig::check(&self.bundle, k)?],
            None => Vec::new(),
        };
        if let Some(k) = &self.member_minisign_key {
            extra.extend(super::minisig::member_checks(&self.bundle, k)?);
        }
        let (code, doc, subject) =
            match self.trust.check_with(&self.bundle, Recording::WhenStoreTrusted, ReleaseSigners::InForce, extra, ui)? {
                Ok(c) => {
                    let r = &c.report;
                    let mut doc = serde_json::to_value(r)?;
                    doc["bundle"] = serde_json::json!(self.bundle);
                    if self.json {
                        super::out_json(&doc)?;
                    } else {
                        super::out(&render_text(&self.bundle, r))?;
                    }
                    let subject = crate::ledger::Subject {
                        bundle_id: Some(r.bundle_id.clone()),
                        product: Some(r.release.product.clone()),
                        version: Some(r.release.version.clone()),
                        channel: r.release.channel.clone(),
                        artifact_digest: None,
                    };
                    (r.outcome.exit_code(), doc, subject)
                }
                Err(e) => {
                    let doc = error_json(&self.bundle, &e);
                    if self.json {
                        super::out_json(&doc)?;
                    }
                    eprintln!("error: {}: {e}\nhint: {}", self.bundle.display(), e.hint());
                    (2, doc, crate::ledger::Subject::default())
                }
            };
        // The verdict is final: record it (on failure too), unless told not to or verifying as
        // of another time. A record that cannot be written turns the verdict into exit 2.
        if self.no_record || self.trust.at_time.is_some() {
            return Ok(code);
        }
        match crate::store::ledger::record(clock::now(), "verify", subject, crate::ledger::Outcome::from_exit(code), &doc) {
            Ok(head) => {
                if !ui.quiet {
                    eprintln!("recorded evidence #{} {}", head.seq, head.hash);
                }
                Ok(code)
            }
            Err(e) => {
                eprintln!(
                    "error: the verdict (exit {code}) could not be recorded in the evidence ledger: {e}\n  (pass --no-record to decide without recording)"
                );
                Ok(2)
            }
        }
    }
}
