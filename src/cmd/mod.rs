//! The command-line shell: one file per command, each an args struct with `run()`.
//! Results go to stdout, diagnostics and progress to stderr. Exit codes: 0 passed,
//! 1 a check failed, 2 could not check (usage, I/O, malformed or hostile input).

pub mod breakglass;
pub mod demo;
pub mod docs;
pub mod evidence;
pub mod export;
pub mod gate;
pub mod inspect;
pub mod inventory;
pub mod keygen;
pub mod minisig;
pub mod pack;
pub mod promotion;
pub mod reconcile;
pub mod remediation;
pub mod rollout;
pub mod serve;
pub mod sigstore;
pub mod smoke;
pub mod tlog;
pub mod trust;
pub mod unverified;
pub mod upgrade_validate;
pub mod verify;

use crate::clock;
use crate::report::{Diagnostic, ErrorBody, ErrorDoc};
use crate::trust::state::EvalTime;
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Offline verification appliance and evidence bundle format.
#[derive(Parser, Debug)]
#[command(name = "airlock", version, about, long_about = None, after_help = "Exit codes: 0 passed, 1 a check failed, 2 could not verify. State (trust store, transparency cache,\n\
evidence ledger) lives in $AIRLOCK_HOME, else $XDG_DATA_HOME/airlock, else ~/.local/share/airlock.\n\
Start with `airlock demo`; `airlock help COMMAND` shows each command's examples.\n\n\
Examples:\n  \
airlock demo --keep ./demo\n  \
airlock keygen -o release-1\n  \
airlock pack ./release -o app-1.2.0.zip --key release-1.key --product app --version 1.2.0\n  \
airlock verify app-1.2.0.zip --key release-1.pub\n  \
airlock gate app-1.2.0.zip --policy gate.json --key release-1.pub\n  \
airlock man ./man1")]
pub struct Cli {
    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Do not append this command's verdict to the evidence ledger (deciding commands record
    /// one by default; nothing is recorded under --at-time either).
    #[arg(long, global = true)]
    pub no_record: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make an Ed25519 signing key pair: NAME.key (mode 0600) and NAME.pub.
    Keygen(keygen::Args),
    /// Pack a directory into a signed, deterministic bundle (zip or tar).
    Pack(pack::Args),
    /// Show a bundle's manifest, members and signatures without trusting anything.
    Inspect(inspect::Args),
    /// Verify a bundle against trusted keys; every check is listed.
    Verify(verify::Args),
    /// Compare the release running today with a candidate: no rollback, nothing dropped, same or rotated signers.
    UpgradeValidate(upgrade_validate::Args),
    /// Verify a local copy, validate installer targets, run the host's native binary probe.
    Smoke(smoke::Args),
    /// Make keys, pack a sample release, verify it, tamper with it, verify again.
    Demo(demo::Args),
    /// Evaluate a verified bundle against a promotion-gate policy: allow or deny.
    Gate(gate::Args),
    /// Sign (or co-sign) a break-glass approval for a verified bundle, as the approver role.
    BreakGlass(breakglass::Args),
    /// Print a shell completion script.
    Completions(docs::CompletionsArgs),
    /// Print the man page.
    Man(docs::ManArgs),
    /// Pin, rotate and inspect the trust root; import targets from a TUF mirror.
    Trust(trust::Args),
    /// Offline transparency-log cache: import mirrors, status, prove, verify proofs.
    Tlog(tlog::Args),
    /// The evidence ledger: search, show, verify the chain, export and import signed evidence.
    Evidence(evidence::Args),
    /// Signed rollout records: capture one for a verified bundle (operator role), verify one.
    Rollout(rollout::Args),
    /// Promotions: request, approve (approver role), execute, hold, resume; status from the ledger.
    Promotion(promotion::Args),
    /// Sigstore bundles verified offline against a trusted_root.json: keyless or keyed, Rekor v1/v2, timestamps.
    Sigstore(sigstore::Args),
    /// Endpoint inventory: ingest Jamf, Intune, osquery/Fleet and EDR exports; their freshness.
    Inventory(inventory::Args),
    /// Reconcile observed fleet inventory with a verified release: drift, missing data, staleness.
    Reconcile(reconcile::Args),
    /// Remediation of fleet drift: signed plans (operator role).
    Remediation(remediation::Args),
    /// Export a verified release for endpoint-management tools (Jamf, Intune, a Linux fleet).
    Export(export::Args),
    /// Serve the promotion-evidence API over HTTP/1.1 on loopback or a Unix socket.
    Serve(serve::Args),
}

/// What the shell needs from global flags.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// `--quiet`.
    pub quiet: bool,
    /// Progress bars allowed.
    pub progress: bool,
}

impl Command {
    /// For a command run with `--json`: its name and the schema of its report, under which the
    /// exit-2 error document is printed.
    fn json_output(&self) -> Option<(&'static str, &'static str)> {
        use crate::release::report::{SMOKE_REPORT_SCHEMA, UPGRADE_REPORT_SCHEMA};
        use crate::report::{ERROR_SCHEMA, VERIFY_REPORT_SCHEMA};
        match self {
            Command::Verify(a) if a.json => Some(("verify", VERIFY_REPORT_SCHEMA)),
            Command::UpgradeValidate(a) if a.json => Some(("upgrade-validate", UPGRADE_REPORT_SCHEMA)),
            Command::Smoke(a) if a.json => Some(("smoke", SMOKE_REPORT_SCHEMA)),
            Command::Gate(a) if a.json => Some(("gate", crate::gate::GATE_RESULT_SCHEMA)),
            Command::Inspect(a) if a.json => Some(("inspect", ERROR_SCHEMA)),
            Command::Keygen(a) if a.json => Some(("keygen", ERROR_SCHEMA)),
            Command::Pack(a) if a.json => Some(("pack", ERROR_SCHEMA)),
            Command::Trust(a) => a.json_output(),
            Command::Tlog(a) => a.json_output(),
            Command::Evidence(a) => a.json_output(),
            Command::Promotion(a) => a.json_output(),
            Command::Sigstore(a) => a.json_output(),
            Command::Inventory(a) => a.json_output(),
            Command::Reconcile(a) if a.json => Some(("reconcile", crate::inventory::reconcile::REPORT_SCHEMA)),
            _ => None,
        }
    }
}

/// A deciding command's verdict: its exit code, the document it printed (or prints with
/// `--json`), what it was about and the time it decided at (its one clock reading). [`run`]
/// appends it to the evidence ledger.
#[derive(Debug)]
pub struct Decided {
    /// Exit code.
    pub code: u8,
    /// The `--json` document.
    pub report: serde_json::Value,
    /// What it was about.
    pub subject: crate::ledger::Subject,
    /// The evaluation time, when the command read one.
    pub time: Option<EvalTime>,
}

impl Decided {
    /// A command that decides nothing the ledger keeps: only its exit code.
    pub fn plain(code: u8) -> Self {
        Decided { code, report: serde_json::Value::Null, subject: Default::default(), time: None }
    }
}

impl Command {
    /// The name a deciding command is recorded under in the evidence ledger, when this run
    /// records: not under `--at-time` (a verdict as of another time is not evidence of now).
    fn ledger_name(&self) -> Option<&'static str> {
        let at_time = |t: &verify::TrustArgs| t.at_time.is_some();
        match self {
            Command::Verify(a) if !at_time(&a.trust) => Some("verify"),
            Command::Gate(a) if !at_time(&a.trust) => Some("gate"),
            Command::UpgradeValidate(a) if !at_time(&a.trust) => Some("upgrade-validate"),
            Command::Smoke(a) if !at_time(&a.trust) => Some("smoke"),
            Command::BreakGlass(a) if !at_time(&a.trust) => Some("break-glass"),
            Command::Trust(a) => a.ledger_name(),
            Command::Tlog(a) => a.ledger_name(),
            Command::Rollout(a) => a.ledger_name(),
            Command::Promotion(a) => a.ledger_name(),
            Command::Sigstore(a) => a.ledger_name(),
            Command::Reconcile(a) if !at_time(&a.trust) => Some("reconcile"),
            Command::Remediation(a) => a.ledger_name(),
            _ => None,
        }
    }
}

/// The report schema of a deciding command, by its ledger name.
fn report_schema(ledger_name: &str) -> &'static str {
    match ledger_name {
        "verify" => crate::report::VERIFY_REPORT_SCHEMA,
        "gate" => crate::gate::GATE_RESULT_SCHEMA,
        "upgrade-validate" => crate::release::report::UPGRADE_REPORT_SCHEMA,
        "smoke" => crate::release::report::SMOKE_REPORT_SCHEMA,
        "break-glass" => breakglass::BREAK_GLASS_RESULT_SCHEMA,
        "tlog import" => tlog::TLOG_REPORT_SCHEMA,
        "rollout capture" | "rollout verify" => rollout::ROLLOUT_RESULT_SCHEMA,
        n if n.starts_with("promotion ") => promotion::PROMOTION_RESULT_SCHEMA,
        n if n.starts_with("trust ") => trust::TRUST_REPORT_SCHEMA,
        "sigstore verify" => sigstore::SIGSTORE_REPORT_SCHEMA,
        "reconcile" => reconcile::RECONCILE_RESULT_SCHEMA,
        "remediation plan" => remediation::REMEDIATION_RESULT_SCHEMA,
        _ => crate::report::ERROR_SCHEMA,
    }
}

/// Appends a verdict to the evidence ledger after it is final. A verdict whose record cannot be
/// written is not given: exit 2 with the reason (`--no-record` decides without recording).
fn record(command: &str, d: Decided, ui: Ui) -> u8 {
    let now = match d.time {
        Some(EvalTime::Clock(t)) => Ok(t),
        _ => clock::now(),
    };
    let outcome = crate::ledger::Outcome::from_exit(d.code);
    let appended = now
        .map_err(anyhow::Error::new)
        .and_then(|now| crate::store::ledger::record(now, command, d.subject, outcome, &d.report).map_err(anyhow::Error::new));
    match appended {
        Ok(head) => {
            if !ui.quiet {
                eprintln!("recorded evidence #{} {}", head.seq, head.hash);
            }
            d.code
        }
        Err(e) => {
            eprintln!(
                "error: the verdict (exit {}) could not be recorded in the evidence ledger: {}\nhint: free space or fix $AIRLOCK_HOME, or pass --no-record to decide without recording",
                d.code,
                message(&e)
            );
            2
        }
    }
}

/// Runs a command and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let ui = Ui { quiet: cli.quiet, progress: !cli.no_progress && !cli.quiet };
    let json = cli.command.json_output();
    let ledger = if cli.no_record { None } else { cli.command.ledger_name() };
    let no_record = cli.no_record;
    let decided = |r: Result<Decided>| -> Result<u8> {
        let d = r?;
        Ok(match ledger {
            Some(name) => record(name, d, ui),
            None => d.code,
        })
    };
    let result = match cli.command {
        Command::Keygen(a) => a.run(ui),
        Command::Pack(a) => a.run(ui),
        Command::Inspect(a) => a.run(ui),
        Command::Verify(a) => decided(a.run(ui)),
        Command::UpgradeValidate(a) => decided(a.run(ui)),
        Command::Smoke(a) => decided(a.run(ui)),
        Command::Demo(a) => a.run(ui),
        Command::Gate(a) => decided(a.run(ui)),
        Command::BreakGlass(a) => decided(a.run(ui)),
        Command::Completions(a) => a.run(ui),
        Command::Man(a) => a.run(ui),
        Command::Trust(a) => decided(a.run(ui)),
        Command::Tlog(a) => decided(a.run(ui)),
        Command::Evidence(a) => a.run(ui),
        Command::Rollout(a) => decided(a.run(ui)),
        Command::Promotion(a) => decided(a.run(ui)),
        Command::Sigstore(a) => decided(a.run(ui)),
        Command::Inventory(a) => a.run(ui, !no_record),
        Command::Reconcile(a) => decided(a.run(ui)),
        Command::Remediation(a) => decided(a.run(ui)),
        Command::Export(a) => a.run(ui),
        Command::Serve(a) => a.run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // The document names the command and its schema whether it is printed (--json) or
            // only recorded in the ledger.
            let named = json.or_else(|| ledger.map(|n| (n, report_schema(n))));
            let doc = error_doc(&e, named.map(|j| j.0).unwrap_or(""), named.map(|j| j.1).unwrap_or(crate::report::ERROR_SCHEMA));
            if json.is_some() {
                let _ = out_json(&doc);
            }
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {}\nhint: {}", doc.error.message, doc.error.hint);
            drop(err);
            let code = doc.outcome.exit_code();
            // A refusal is evidence too: a deciding command records its error document.
            match (ledger, serde_json::to_value(&doc)) {
                (Some(name), Ok(report)) => {
                    let d = Decided { code, report, subject: Default::default(), time: None };
                    record(name, d, ui)
                }
                _ => code,
            }
        }
    }
}

/// A command line clap refused: help and version are printed as asked (exit 0); anything else
/// is a usage error (exit 2), printed as clap words it and, when `--json` was asked for, as the
/// error document too.
pub fn usage_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand { 2 } else { 0 };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--json") {
        let command = args.iter().take_while(|a| !a.starts_with('-')).cloned().collect::<Vec<_>>().join(" ");
        let message = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        let _ = out_json(&ErrorDoc {
            schema: crate::report::ERROR_SCHEMA.into(),
            command,
            bundle: None,
            outcome: crate::report::Outcome::Error,
            error: ErrorBody { kind: "usage".into(), message, hint: "`airlock help <command>` lists the options and examples".into() },
        });
    }
    let _ = e.print();
    2
}

/// Marks an error as a refusal by a rule (exit 1, outcome `fail`) rather than a failure to
/// check (exit 2), for commands whose only output on refusal is the error document.
#[derive(Debug, thiserror::Error)]
#[error("")]
pub struct Refusal;

/// Turns an error into a refusal (exit 1).
pub fn refusal(e: impl Into<anyhow::Error>) -> anyhow::Error {
    e.into().context(Refusal)
}

/// Errors of the shell itself: what the commands refuse before any layer below is asked.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// No trust was given and none is pinned.
    #[error("no trust root is pinned and neither --trust-root nor --key was given")]
    NoTrustRoot,
    /// An option or an argument cannot be used as given.
    #[error("{0}")]
    Usage(String),
    /// A file's SHA-256 is not the fingerprint given for it.
    #[error("{file}: fingerprint mismatch: expected {expected}, the file's SHA-256 is {actual}; nothing was pinned")]
    FingerprintMismatch {
        /// The file.
        file: String,
        /// `--fingerprint`.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// No transparency log is trusted.
    #[error("no transparency log is trusted")]
    NoLogTrust,
    /// The local tlog cache cannot answer (unreadable, or no proof from it).
    #[error("the local transparency-log cache cannot be used: {0}")]
    CacheUnusable(String),
    /// `trust init` over a pinned root without `--force`.
    #[error("a trust root is already pinned in {0}")]
    AlreadyPinned(String),
    /// `trust init` of a root older than the highest version the store has seen.
    #[error("{file} is root v{version}, but this trust store has seen v{highest} (rule trust.root-version); nothing was pinned{}", kept.as_ref().map(|k| format!("; the store still holds v{highest} in {k}")).unwrap_or_default())]
    OlderRoot {
        /// The file given.
        file: String,
        /// Its version.
        version: u64,
        /// The store's highest root version.
        highest: u64,
        /// The stored copy of that version, when the store still has it.
        kept: Option<String>,
    },
}

impl Diagnostic for ShellError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            ShellError::NoTrustRoot => "trust.none".into(),
            ShellError::Usage(_) => "usage".into(),
            ShellError::FingerprintMismatch { .. } => "trust.fingerprint".into(),
            ShellError::AlreadyPinned(_) => "trust.already-pinned".into(),
            ShellError::OlderRoot { .. } => "trust.root-version".into(),
            ShellError::CacheUnusable(_) => "tlog.cache-unusable".into(),
            ShellError::NoLogTrust => "tlog.no-trust".into(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            ShellError::NoTrustRoot => {
                "pin a root with `airlock trust init ROOT.json --fingerprint SHA256`, or pass --trust-root FILE or --key PUB".into()
            }
            ShellError::Usage(_) => "`airlock help <command>` lists the options and examples".into(),
            ShellError::FingerprintMismatch { .. } => {
                "obtain the file again from offline media and compare its fingerprint with the one published out of band".into()
            }
            ShellError::AlreadyPinned(_) => "use `airlock trust update` to rotate, or --force to re-pin from offline media".into(),
            ShellError::OlderRoot { .. } => {
                "pin that version or a later one (the stored copy, checked against its fingerprint from offline media); only if none exists, --allow-older-root (trust-root/README.md §8)".into()
            }
            ShellError::CacheUnusable(_) => "import the log's tiles again with `airlock tlog import MIRROR`".into(),
            ShellError::NoLogTrust => {
                "pass --log-key NAME+HEX8+BASE64 or --policy FILE, or pin a trust root whose tlog role carries a tlog policy (`airlock trust new --tlog-policy`)".into()
            }
        }
    }
}

/// A file the error is about: the context an error gets when it concerns one input (the
/// bundle), so that the message starts with its path and the error document names it.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.display())]
pub struct About(pub PathBuf);

/// Wraps an error with the file it is about.
pub trait AboutExt {
    /// `path: error`, the path kept for the error document.
    fn about(self, path: &Path) -> anyhow::Error;
}

impl<E: std::error::Error + Send + Sync + 'static> AboutExt for E {
    fn about(self, path: &Path) -> anyhow::Error {
        anyhow::Error::new(self).context(About(path.to_path_buf()))
    }
}

/// The stable id and hint of an error: those of the outermost error in its chain that names
/// itself ([`Diagnostic`]); an I/O error is `io`; anything else is the command line's.
pub fn diagnose(e: &anyhow::Error) -> (String, String) {
    macro_rules! try_types {
        ($cause:expr, $($t:ty),+ $(,)?) => {
            $(if let Some(d) = $cause.downcast_ref::<$t>() {
                return (Diagnostic::id(d).into_owned(), Diagnostic::hint(d).into_owned());
            })+
        };
    }
    for cause in e.chain() {
        try_types!(
            cause,
            ShellError,
            crate::fsio::InputError,
            crate::verify::VerifyError,
            crate::trust::root::RootError,
            crate::trust::tuf::TufError,
            crate::trust::tuf::FetchError,
            crate::trust::TlogRoleError,
            crate::tlog::TlogError,
            crate::gate::GateError,
            crate::gate::policy::PolicyError,
            crate::gate::breakglass::ApproveError,
            crate::release::ReleaseError,
            crate::release::cavra::CavraError,
            crate::promotion::PromotionError,
            crate::pack::PackError,
            crate::keys::KeyError,
            crate::evidence::minisign::MinisignError,
            crate::archive::ArchiveError,
            crate::json::JsonError,
            crate::trust::state::ClockWentBackwards,
            crate::sigstore::SigstoreError,
            crate::clock::ClockError,
            crate::store::ledger::LedgerStoreError,
            crate::ledger::LedgerError,
            crate::ledger::export::ExportError,
            crate::trust::role::RoleNameError,
            crate::trust::role::RoleKeysError,
            crate::inventory::InventoryError,
            crate::api::ApiError,
        );
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return ("io".into(), "check the path, that the file exists and is readable, and the free space".into());
        }
    }
    ("invalid-input".into(), "check the command line and the files it names; `airlock help <command>` lists the options".into())
}

/// An error's one-line message: every layer of its chain joined by `: `, outermost first. The
/// refusal marker says nothing (an empty layer) and is skipped; a hint some errors still carry
/// inside their text (`\n  hint: …`) is left to the hint line, not repeated in the message; an
/// error that shows its source in its own text is not followed by that source again. Every
/// place that prints an error chain uses this, so no text is printed twice.
pub fn message(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for layer in e.chain() {
        let text = layer.to_string();
        let text = text.split("\n  hint: ").next().unwrap_or_default();
        if text.is_empty() || message.contains(text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

/// The exit-2 document of a command: see [`ErrorDoc`].
pub fn error_doc(e: &anyhow::Error, command: &str, schema: &str) -> ErrorDoc {
    let (kind, hint) = diagnose(e);
    // Context types are found through every layer by anyhow's own downcast.
    let bundle = e.downcast_ref::<About>().map(|a| a.0.display().to_string());
    let refused = e.downcast_ref::<Refusal>().is_some();
    let message = message(e);
    ErrorDoc {
        schema: schema.into(),
        command: command.into(),
        bundle,
        outcome: if refused { crate::report::Outcome::Fail } else { crate::report::Outcome::Error },
        error: ErrorBody { kind, message, hint },
    }
}

/// Writes to stdout; a closed pipe (`airlock inspect x | head`) ends output quietly instead of
/// aborting (the release profile aborts on panic).
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Pretty JSON plus newline on stdout.
pub fn out_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    out(&s)
}
