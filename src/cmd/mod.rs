//! The command-line shell: one file per command, each an args struct with `run()`.
//! Results go to stdout, diagnostics and progress to stderr. Exit codes: 0 passed,
//! 1 a check failed, 2 could not check (usage, I/O, malformed or hostile input).

pub mod breakglass;
pub mod demo;
pub mod docs;
pub mod evidence;
pub mod gate;
pub mod inspect;
pub mod keygen;
pub mod minisig;
pub mod pack;
pub mod smoke;
pub mod tlog;
pub mod trust;
pub mod upgrade_validate;
pub mod verify;

use clap::{Parser, Subcommand};
use std::io::Write;

/// Offline verification appliance and evidence bundle format.
#[derive(Parser, Debug)]
#[command(name = "airlock", version, about, long_about = None, after_help = "Exit codes: 0 passed, 1 a check failed, 2 could not verify.\nStart with `airlock demo`.")]
pub struct Cli {
    /// Print nothing on stderr but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
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
}

/// What the shell needs from global flags.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// `--quiet`.
    pub quiet: bool,
    /// Progress bars allowed.
    pub progress: bool,
}

/// Runs a command and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let ui = Ui { quiet: cli.quiet, progress: !cli.no_progress && !cli.quiet };
    let result = match cli.command {
        Command::Keygen(a) => a.run(ui),
        Command::Pack(a) => a.run(ui),
        Command::Inspect(a) => a.run(ui),
        Command::Verify(a) => a.run(ui),
        Command::UpgradeValidate(a) => a.run(ui),
        Command::Smoke(a) => a.run(ui),
        Command::Demo(a) => a.run(ui),
        Command::Gate(a) => a.run(ui),
        Command::BreakGlass(a) => a.run(ui),
        Command::Completions(a) => a.run(ui),
        Command::Man(a) => a.run(ui),
        Command::Trust(a) => a.run(ui),
        Command::Tlog(a) => a.run(ui),
        Command::Evidence(a) => a.run(ui),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            2
        }
    }
}

/// Prints an error chain and, when attached, the hint line.
pub fn report_error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in e.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
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
