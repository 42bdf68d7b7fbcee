//! `airlock inspect BUNDLE [--json]`: what the bundle claims, with nothing trusted.

use super::Ui;
use super::unverified::UnverifiedBundle;
use anyhow::Result;
use std::path::PathBuf;

/// Show a bundle's claims without verifying them.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Nothing shown here is trusted: use `airlock verify` for that.\n\nExamples:\n  airlock inspect app-1.2.0.zip\n  airlock inspect app-1.2.0.zip --json | jq .members"
)]
pub struct Args {
    /// The bundle.
    pub bundle: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// Prints the claims (text or `--json`); exit 0, or 2 when the bundle cannot be read.
    pub fn run(self, _ui: Ui) -> Result<u8> {
        let bundle = UnverifiedBundle::open_or_refuse(&self.bundle)?;
        let env = bundle.envelope()?;
        let (_, m) = bundle.manifest()?;
        let index = &bundle.index;
        let sigs: Vec<serde_json::Value> =
            env.signatures.iter().map(|s| serde_json::json!({"keyid": s.keyid, "sigBytes": s.sig.len()})).collect();
        if self.json {
            super::out_json(&serde_json::json!({
                "schema": "airlock/inspect/v1",
                "bundle": self.bundle,
                "archive": {"format": index.format, "size": bundle.size(), "entries": index.entries.len()},
                "payloadType": env.payload_type,
                "signatures": sigs,
                "manifest": m,
                "trusted": false,
            }))?;
        } else {
            let mut s = format!(
                "bundle     {} ({:?}, {} bytes) -- NOT VERIFIED, nothing here is trusted\nformat     v{} ({})\nbundleId   {}\nrelease    {} {}{}{}\ncreatedAt  {}\nmerkleRoot {}\nsignatures {}\n",
                self.bundle.display(),
                index.format,
                bundle.size(),
                m.format_version,
                env.payload_type,
                m.bundle_id,
                m.release.product,
                m.release.version,
                m.release.commit.as_deref().map(|c| format!(" commit {c}")).unwrap_or_default(),
                m.release.channel.as_deref().map(|c| format!(" channel {c}")).unwrap_or_default(),
                m.created_at,
                m.merkle_root,
                env.signatures.len()
            );
            for sig in &env.signatures {
                s.push_str(&format!("  keyid {}\n", sig.keyid.as_deref().unwrap_or("(none)")));
            }
            s.push_str(&format!("members    {}\n", m.members.len()));
            for mem in &m.members {
                s.push_str(&format!("  {:<11} {:>12}  {}  {}\n", mem.kind.name(), mem.size, mem.digest, mem.path));
                if let Some(d) = m.deflate_stream(&mem.path) {
                    s.push_str(&format!("  {:<11} {:>12}  {}  (signed deflate stream)\n", "", d.size, d.digest));
                }
            }
            super::out(&s)?;
        }
        Ok(0)
    }
}
