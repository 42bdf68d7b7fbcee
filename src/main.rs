//! The `airlock` binary: parse arguments, run the command, map the outcome to the exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    match airlock::cmd::Cli::try_parse() {
        Ok(cli) => std::process::ExitCode::from(airlock::cmd::run(cli)),
        Err(e) => std::process::ExitCode::from(airlock::cmd::usage_error(e)),
    }
}
