//! `airlock export endpoint-management BUNDLE --format jamf|intune|linux -o DIR`: the files a
//! management tool installs a verified release from (format-spec/inventory-v1.md §7): each
//! installer's binary, copied from the verified bundle, and scripts that verify its SHA-256
//! before installing; `checksums.txt` over every output. Exit 1 when the bundle did not verify
//! (nothing written), 2 when it cannot be read or has no installer for the format.

use super::rollout::metadata;
use super::verify::{CheckAs, TrustArgs, render_text};
use super::{AboutExt, ShellError, Ui};
use crate::digest::Sha256Digest;
use crate::inventory::export::{self, Format};
use crate::promotion::BundleRef;
use crate::{archive, fsio};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Largest installer binary exported.
pub const MAX_BINARY: u64 = 2 << 30;

/// Export a verified release for other tools.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
airlock export endpoint-management app.zip --format linux -o out/\n  \
airlock export endpoint-management app.zip --format intune -o intune/")]
pub struct Args {
    /// What to export.
    #[command(subcommand)]
    pub command: Sub,
}

/// `export` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// A Jamf policy and script, an Intune Win32 app, or a Linux fleet manifest and install script.
    EndpointManagement(EndpointArgs),
}

/// The management tool.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    /// Jamf Pro (macOS installers).
    Jamf,
    /// Microsoft Intune (Windows installers).
    Intune,
    /// A Linux fleet (Linux installers).
    Linux,
}

/// `export endpoint-management`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Every script verifies the binary's SHA-256 before installing and refuses on a mismatch.\n\
Exit 0: written. 1: the bundle did not verify (nothing written). 2: usage, I/O, no installer for the\n\
format.\n\n\
Example:\n  \
airlock export endpoint-management app.zip \\\n      \
--format linux -o out/linux && (cd out/linux && sha256sum -c checksums.txt)")]
pub struct EndpointArgs {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// For which tool.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// The directory to create (must not exist).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Trust options for verifying the bundle, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        match self.command {
            Sub::EndpointManagement(a) => a.run(ui),
        }
    }
}

impl EndpointArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let time = self.trust.eval_time()?;
        if fsio::present(&self.output)? {
            return Err(ShellError::Usage(format!("{} exists; choose a new directory", self.output.display())).into());
        }
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let Some(verified) = checked.verified() else {
            super::out(&render_text(&self.bundle, checked.report()))?;
            eprintln!("export: {} did not verify; nothing written", self.bundle.display());
            return Ok(1);
        };
        let meta = metadata(&self.bundle, &checked)?;
        let format = match self.format {
            FormatArg::Jamf => Format::Jamf,
            FormatArg::Intune => Format::Intune,
            FormatArg::Linux => Format::Linux,
        };
        let bundle = BundleRef::of(verified);
        let files = export::files(format, &bundle, &meta);
        if files.is_empty() {
            return Err(ShellError::Usage(format!("the release has no {} installer to export for {:?}", format.os(), self.format)).into());
        }
        // Every binary read from the verified bundle and checked against the manifest's digest
        // before anything is written.
        let src = fsio::FileSource::open(&self.bundle)?;
        let mut outputs: Vec<(String, Vec<u8>)> = vec![];
        for i in meta.installers.iter().filter(|i| i.os == format.os()) {
            let entry = verified.get().index().get(&i.binary).with_context(|| format!("{} is not a member of the bundle", i.binary))?;
            let bytes = archive::read_member(&src, entry, MAX_BINARY).with_context(|| format!("reading {}", i.binary))?;
            let actual = Sha256Digest::of(&bytes);
            if actual != i.digest {
                return Err(anyhow::anyhow!(
                    "{}: SHA-256 {actual} read back, the verified release says {}; the bundle file changed after verification",
                    i.binary,
                    i.digest
                ));
            }
            outputs.push((export::binary_name(i), bytes));
        }
        outputs.extend(files);
        let sums: Vec<(String, Sha256Digest)> = outputs.iter().map(|(n, b)| (n.clone(), Sha256Digest::of(b))).collect();
        std::fs::create_dir_all(&self.output).with_context(|| format!("creating {}", self.output.display()))?;
        for (name, bytes) in &outputs {
            let mode = if name.ends_with(".sh") || !name.contains('.') { 0o755 } else { 0o644 };
            fsio::write_new(&self.output.join(name), bytes, mode)?;
        }
        fsio::write_new(&self.output.join("checksums.txt"), &export::checksums(&sums), 0o644)?;
        if !ui.quiet {
            for (name, d) in &sums {
                eprintln!("wrote {} ({})", self.output.join(name).display(), d);
            }
            eprintln!("wrote {}", self.output.join("checksums.txt").display());
        }
        Ok(0)
    }
}
