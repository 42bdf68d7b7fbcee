//! `airlock keygen -o NAME`: NAME.key (0600) and NAME.pub.

use super::Ui;
use crate::fsio;
use crate::keys::SecretKey;
use anyhow::{Result, anyhow};
use std::path::PathBuf;

/// Make an Ed25519 key pair.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  airlock keygen -o release-1\n  # writes release-1.key (mode 0600, keep it offline) and release-1.pub")]
pub struct Args {
    /// Output name: writes NAME.key and NAME.pub; neither may exist.
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
    /// Print the public key's id as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow!("the operating system gave no randomness: {e}"))?;
        let sk = SecretKey::from_seed(&seed);
        let (key, public) = (self.output.with_extension("key"), self.output.with_extension("pub"));
        fsio::write_new(&key, &sk.to_file(), 0o600)?;
        fsio::write_new(&public, &sk.public().to_file(), 0o644)?;
        if self.json {
            super::out_json(&serde_json::json!({"keyid": sk.public().keyid().hex(), "secretKey": key, "publicKey": public}))?;
        } else if !ui.quiet {
            super::out(&format!(
                "keyid {}\nsecret key {} (mode 0600; keep it offline)\npublic key {}\n",
                sk.public().keyid(),
                key.display(),
                public.display()
            ))?;
        }
        Ok(0)
    }
}
