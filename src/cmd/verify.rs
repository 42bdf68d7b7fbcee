//! `airlock verify BUNDLE [--key K.pub ... [--threshold K] | --trust-root FILE] [--at-time T] [--json]`
//!
//! Trust comes from the pinned trust store's `release` role by default, from a given root with
//! `--trust-root`, or from ad-hoc keys with `--key`. Freshness checks (clock, root expiry,
//! root version, bundle order per product and channel; `crate::trust::state`) are appended to
//! the report; only store-trusted verifications update the anti-rollback state.

use super::Ui;
use super::{AboutExt, Decided, ShellError};
use crate::keys::PublicKey;
use crate::report::{Check, Outcome, render_checks, tally_line};
use crate::store::tlog::TlogStore;
use crate::store::trust::TrustStore;
use crate::time::Timestamp;
use crate::tlog::LogTrust;
use crate::tlog::note::VerifierKey;
use crate::trust::root::{MAX_ROOT_SIZE, TrustRoot, VerifiedRoot};
use crate::trust::state::{self, BundleRole, EvalTime, Record};
pub use crate::verify::ReleaseSigners;
use crate::verify::{self, Conclusion, Examined, FreshnessInputs, RootContext, TrustPolicy, Verification, VerifyError, VerifyReport};
use crate::{clock, fsio, progress};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Verify a bundle offline.
#[derive(clap::Args, Debug)]
#[command(after_help = "Every check is listed, on success too. Exit 0: all passed. 1: the bundle is not acceptable\n\
(digest, signature, threshold, member set, checksums, expired root, clock gone backwards, or older\n\
than a bundle already accepted for the same product and channel). 2: could not verify (usage, I/O,\n\
malformed or hostile archive, unknown format version, no trust root).\n\n\
Examples:\n  \
airlock verify app-1.2.0.zip                  # the pinned trust root's release role\n  \
airlock verify app-1.2.0.zip --trust-root root-v3.json\n  \
airlock verify app-1.2.0.zip \\\n      \
--at-time 2026-03-01T00:00:00Z   # as of then; rollback is report-only\n  \
airlock verify app.tar --key a.pub --key b.pub --key c.pub --threshold 2 --json\n  \
airlock verify app.zip --member-minisign-key upstream.pub   # artifacts/X.minisig over artifacts/X")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// Trust options.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Also check BUNDLE.minisig (minisign) or, when absent, BUNDLE.sig (signify) with this
    /// minisign public key.
    #[arg(long = "minisign-key", value_name = "PUB")]
    pub minisign_key: Option<PathBuf>,
    /// Also check every member X.minisig (or signify X.sig) inside the bundle over its member X
    /// with this minisign public key (e.g. upstream's signatures packed with their files);
    /// repeatable: each signature is checked with the key whose key id it names.
    #[arg(long = "member-minisign-key", value_name = "PUB")]
    pub member_minisign_keys: Vec<PathBuf>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
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
    /// Accept an older release than the one already accepted for this product (any channel):
    /// an intended downgrade. REASON is stated in the report, the ledger record and the
    /// anti-rollback state, and this release becomes the accepted one.
    #[arg(long, value_name = "REASON")]
    pub allow_downgrade: Option<String>,
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

/// Reads one public key file in any form airlock takes (an airlock `.pub`, PEM SPKI, a
/// securesystemslib key dict: [`crate::trust::key::read_public_key`]). A secret key says which
/// file to pass instead.
pub fn load_public(p: &Path) -> Result<crate::trust::key::TrustKey> {
    let b = fsio::read_small(p, 64 << 10)?;
    crate::trust::key::read_public_key(&b).map_err(|e| match e {
        crate::keys::KeyError::SecretGiven { .. } => {
            let public = match p.extension() {
                Some(x) if x == "key" => p.with_extension("pub").display().to_string(),
                _ => "its public half (the .pub file)".into(),
            };
            anyhow::Error::new(e).context(format!("{}: this is a secret key; pass {public}", p.display()))
        }
        e => anyhow::Error::new(e).context(format!("{} is not a public key airlock reads", p.display())),
    })
}

/// Loads Ed25519 public key files (ad-hoc `--key` trust: airlock signs bundles with Ed25519),
/// in any form [`load_public`] reads.
pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| match load_public(p)? {
            crate::trust::key::TrustKey::Ed25519(k) => Ok(k),
            other => anyhow::bail!(
                "{}: an {} key, but this option takes Ed25519 keys (what `airlock keygen` makes); put other key types in a trust root",
                p.display(),
                other.algorithm()
            ),
        })
        .collect()
}

/// Examines a bundle file, showing progress. The verdict waits for
/// [`crate::verify::Examined::conclude`].
pub fn examine_file(path: &Path, trust: &TrustPolicy, opts: &verify::Options<'_>, ui: Ui) -> Result<Examined, VerifyError> {
    let src = fsio::FileSource::open(path).map_err(|e| VerifyError::Archive(std::io::Error::other(format!("{e:#}")).into()))?;
    let bar = progress::bytes_bar(crate::archive::ByteSource::size(&src), "verifying", ui.progress);
    let r = verify::examine(&src, trust, opts, &|n| bar.inc(n));
    bar.finish_and_clear();
    r
}

/// Verifies a bundle file against ad-hoc keys with no trust store (the demo): no
/// transparency trust, no anti-rollback state; the witness says so.
pub fn verify_file(path: &Path, trust: &TrustPolicy, time: EvalTime, ui: Ui) -> Result<Verification, VerifyError> {
    let opts = verify::Options { threads: 2, time, ..Default::default() };
    Ok(examine_file(path, trust, &opts, ui)?.conclude(Conclusion::default()).verification)
}

/// Text rendering of a report.
pub fn render_text(path: &Path, r: &VerifyReport) -> String {
    let rel = r.release();
    let trust = r.trust();
    let mut s = format!(
        "bundle   {}\nrelease  {} {}{}\nbundleId {}\nroot     {}\ntrust    {} ({} key(s), threshold {})\n\n",
        path.display(),
        rel.product,
        rel.version,
        rel.commit.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        r.bundle_id(),
        r.merkle_root(),
        trust.source,
        trust.keys.len(),
        trust.threshold
    );
    s.push_str(&render_checks(r.checks()));
    let verdict = if r.outcome() == Outcome::Pass { "VERIFIED" } else { "NOT VERIFIED" };
    s.push_str(&format!("\n{}: {verdict}\n", tally_line(r.checks())));
    s
}

/// Where trust came from.
struct Trust {
    policy: TrustPolicy,
    /// The root in force, when trust came from one.
    root: Option<VerifiedRoot>,
    /// Verified trust-root history ending with the root in force (empty without a root).
    history: Vec<TrustRoot>,
    record: Record,
}

/// A concluded verification: every check (the bundle's, the trust root's, freshness, what the
/// caller checked outside the bundle) and the witness when all passed.
pub struct Checked {
    verification: Verification,
    root: Option<VerifiedRoot>,
    /// The verified trust-root history that leads to the root in force, oldest first, the root
    /// in force last: the stored roots (`history/N.root.json`) from which it follows by valid
    /// rotations. Empty when trust came from `--key`.
    pub history: Vec<TrustRoot>,
}

impl Checked {
    /// The verified bundle, only when every check passed (freshness included).
    pub fn verified(&self) -> Option<&verify::Verified<verify::VerifiedBundle>> {
        self.verification.verified()
    }

    /// The full report.
    pub fn report(&self) -> &VerifyReport {
        self.verification.report()
    }

    /// The trust root in force, if trust came from one.
    pub fn root(&self) -> Option<&VerifiedRoot> {
        self.root.as_ref()
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

/// How a command verifies a bundle.
#[derive(Clone, Debug)]
pub struct CheckAs {
    /// Whether the anti-rollback state may be updated.
    pub recording: Recording,
    /// Which release keys may have signed.
    pub signers: ReleaseSigners,
    /// Candidate for acceptance, or the release being replaced.
    pub role: BundleRole,
    /// Checks made outside the bundle (a detached `.minisig`): they decide too.
    pub extra: Vec<Check>,
}

impl CheckAs {
    /// A bundle being accepted by `verify`: recorded when store-trusted.
    pub fn accepting() -> Self {
        CheckAs { recording: Recording::WhenStoreTrusted, signers: ReleaseSigners::InForce, role: BundleRole::Candidate, extra: vec![] }
    }

    /// A bundle looked at without being accepted (gate, smoke, break-glass, NEXT of
    /// upgrade-validate): judged as a candidate, nothing recorded.
    pub fn looking() -> Self {
        CheckAs { recording: Recording::Never, ..Self::accepting() }
    }
}

impl TrustArgs {
    /// `--allow-downgrade`'s reason: 1..=1024 bytes of text (exit 2 otherwise).
    fn downgrade_reason(&self) -> Result<Option<String>> {
        match &self.allow_downgrade {
            Some(r) if r.trim().is_empty() || r.len() > 1024 => Err(ShellError::Usage(format!(
                "--allow-downgrade needs a reason of 1 to 1024 bytes of text (got {} bytes); say why the older release is intended",
                r.len()
            ))
            .into()),
            r => Ok(r.clone()),
        }
    }

    /// Refuses `--at-time` for a command that signs a dated promotion document (`rollout
    /// capture`, `promotion request|approve|execute|hold|resume`): the document's time is the real
    /// clock's, because soak starts at a capture, approvals expire, and a verdict under
    /// `--at-time` is not recorded. Judging documents at another time is what `verify` is for.
    pub fn real_clock_only(&self, command: &str) -> Result<()> {
        match &self.at_time {
            Some(_) => Err(ShellError::Usage(format!(
                "{command} signs a document dated by the real clock (soak starts at a capture, approvals expire): \
                 --at-time is refused; drop it (`promotion verify` and `rollout verify` take --at-time)"
            ))
            .into()),
            None => Ok(()),
        }
    }

    /// The command's one evaluation time: the clock read once, or `--at-time` with that reading
    /// as the floor expiry is judged at (an operator-supplied time never revives an expired
    /// root or approval).
    pub fn eval_time(&self) -> Result<EvalTime> {
        let at = self.at_time.as_deref().map(Timestamp::parse).transpose()?;
        let now = clock::now()?;
        Ok(match at {
            Some(at) => EvalTime::OperatorFixed { at, floor: now },
            None => EvalTime::Clock(now),
        })
    }

    /// Trusted logs: `--log-key` keys, else the trust root's `tlog` role policy (a C2SP
    /// tlog-policy document under `policy.tlogPolicy`), else none.
    fn log_trust(&self, root: Option<&VerifiedRoot>) -> Result<Option<LogTrust>> {
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
            // The same key given twice would count twice towards --threshold: a mistake on the
            // command line (exit 2), never a threshold that a single signer can meet.
            for (i, k) in keys.iter().enumerate() {
                if let Some(j) = keys[..i].iter().position(|o| o.to_bytes() == k.to_bytes()) {
                    return Err(ShellError::Usage(format!(
                        "--key {} and --key {} are the same public key; give each trusted key once",
                        self.keys[j].display(),
                        self.keys[i].display()
                    ))
                    .into());
                }
            }
            return Ok(Some(Trust {
                policy: TrustPolicy::ed25519(keys, threshold, "--key"),
                root: None,
                history: vec![],
                record: Record::ReadOnly,
            }));
        }
        let (root, source, record) = match &self.trust_root {
            Some(p) => {
                let bytes = fsio::read_small(p, MAX_ROOT_SIZE)?;
                let root = TrustRoot::parse(&bytes).with_context(|| format!("{} is not a usable trust root", p.display()))?;
                let root =
                    VerifiedRoot::self_signed(root).with_context(|| format!("{} is not signed by its own root role", p.display()))?;
                let src = format!("--trust-root {} v{} ({})", p.display(), root.version(), root.fingerprint().prefixed());
                (root, src, Record::ReadOnly)
            }
            None => match store.load_root(st)? {
                Some(root) => {
                    let src = format!("trust store root v{} ({})", root.version(), root.fingerprint().prefixed());
                    (root, src, Record::Store)
                }
                None => return Ok(None),
            },
        };
        let history = store.history(&root)?;
        let policy = match signers {
            ReleaseSigners::AnyVersion if history.len() > 1 => {
                let (first, last) = (history[0].version(), root.version());
                crate::trust::release_policy_any_version(&history, format!("{source}; release role of any version v{first}..v{last}"))
            }
            _ => crate::trust::release_policy(&root, source),
        }
        .context("the trust root has no release role")?;
        Ok(Some(Trust { policy, root: Some(root), history, record }))
    }

    /// Verifies `bundle` with these trust options and the anti-rollback state, at `time` (the
    /// command's one reading, [`Self::eval_time`]). `Ok(Err(_))` is "could not verify" (exit 2)
    /// with the report-ready error.
    pub fn check(&self, bundle: &Path, time: EvalTime, how: CheckAs, ui: Ui) -> Result<Result<Checked, VerifyError>> {
        let store = TrustStore::open()?;
        let st = store.load_state()?;
        let Some(trust) = self.trust(&store, &st, how.signers)? else {
            return Err(ShellError::NoTrustRoot.into());
        };
        let threads = self.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let log_trust = self.log_trust(trust.root.as_ref())?;
        let cache = TlogStore::open_default()?;
        let opts = verify::Options {
            threads,
            time,
            transparency: verify::TransparencyInputs { trust: log_trust.as_ref(), cache: Some(&cache), require: self.require_transparency },
            ..Default::default()
        };
        let examined = match examine_file(bundle, &trust.policy, &opts, ui) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let mut checks = how.extra;
        if let Some(ev) = examined.fork_evidence() {
            let path = cache.write_fork_evidence(ev, time.instant())?;
            eprintln!("airlock: split view of log {:?}: both checkpoints written to {}", ev.origin, path.display());
            checks.push(
                Check::new("transparency.fork-evidence", false, "two authentic checkpoints of this log disagree; evidence written")
                    .subject(path.display().to_string()),
            );
        }
        let record = if how.recording == Recording::Never { Record::ReadOnly } else { trust.record };
        // Conclude and record under the store's lock, against the state as it is now: another
        // verification may have recorded something while this one was hashing.
        let _lock = if record == Record::Store { Some(store.lock()?) } else { None };
        let state = if record == Record::Store { store.load_state()? } else { st };
        let root = trust.root.as_ref().map(|root| RootContext { root, history: &trust.history, signers: how.signers });
        let allow_downgrade = self.downgrade_reason()?;
        let concluded = examined.conclude(Conclusion {
            root,
            freshness: Some(FreshnessInputs { state, record, role: how.role, allow_downgrade }),
            checks,
        });
        if let Some(next) = &concluded.next_state {
            store.save_state(next)?;
        }
        Ok(Ok(Checked { verification: concluded.verification, root: trust.root, history: trust.history }))
    }
}

impl Args {
    /// Runs; the verdict is recorded by [`super::run`].
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let (decided, r) = self.decide(ui)?;
        if self.json {
            super::out_json(&r)?;
        } else {
            super::out(&render_text(&self.bundle, &r))?;
        }
        Ok(decided)
    }

    /// Verifies and returns the verdict and the report without printing them (`run` prints;
    /// `airlock serve` answers with the same report).
    pub fn decide(&self, ui: Ui) -> Result<(Decided, VerifyReport)> {
        let time = self.trust.eval_time()?;
        let mut extra = match &self.minisign_key {
            Some(k) => vec![super::minisig::check(&self.bundle, k)?],
            None => Vec::new(),
        };
        if !self.member_minisign_keys.is_empty() {
            match super::minisig::member_checks(&self.bundle, &self.member_minisign_keys)? {
                Ok(checks) => extra.extend(checks),
                Err(refused) => return Err(VerifyError::Archive(refused).about(&self.bundle)),
            }
        }
        let checked =
            self.trust.check(&self.bundle, time, CheckAs { extra, ..CheckAs::accepting() }, ui)?.map_err(|e| e.about(&self.bundle))?;
        let r = checked.report().clone().named(self.bundle.display().to_string());
        let decided =
            Decided { code: r.outcome().exit_code(), report: serde_json::to_value(&r)?, subject: subject_of(&r, None), time: Some(time) };
        Ok((decided, r))
    }
}

/// What a verification was about, for the evidence ledger.
pub fn subject_of(r: &VerifyReport, artifact_digest: Option<String>) -> crate::ledger::Subject {
    crate::ledger::Subject {
        bundle_id: Some(r.bundle_id().to_string()),
        product: Some(r.release().product.clone()),
        version: Some(r.release().version.clone()),
        channel: r.release().channel.clone(),
        artifact_digest,
    }
}
