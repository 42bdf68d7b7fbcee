//! `airlock completions SHELL` and `airlock man`: documentation that travels with the binary.

use super::{Cli, Ui};
use anyhow::Result;
use clap::CommandFactory;

/// Print a shell completion script.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  airlock completions bash > /etc/bash_completion.d/airlock\n  airlock completions zsh > \"${fpath[1]}/_airlock\""
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl CompletionsArgs {
    /// Runs.
    pub fn run(self, _ui: Ui) -> Result<u8> {
        let mut buf = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "airlock", &mut buf);
        super::out(&String::from_utf8_lossy(&buf))?;
        Ok(0)
    }
}

/// Print the man page (roff) for airlock and every subcommand.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  airlock man > airlock.1 && man ./airlock.1")]
pub struct ManArgs {}

impl ManArgs {
    /// Runs.
    pub fn run(self, _ui: Ui) -> Result<u8> {
        let cmd = Cli::command();
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            buf.extend_from_slice(b"\n");
            clap_mangen::Man::new(sub.clone().name(format!("airlock-{}", sub.get_name()))).render(&mut buf)?;
        }
        super::out(&String::from_utf8_lossy(&buf))?;
        Ok(0)
    }
}
