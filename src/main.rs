//! The `airlock` binary: parse arguments, run the command, map the outcome to the exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = airlock::cmd::Cli::parse();
    std::process::ExitCode::from(airlock::cmd::run(cli))
}
