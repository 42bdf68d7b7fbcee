//! `airlock sigstore verify ARTIFACT --bundle FILE ...`: a Sigstore bundle (or JSON Lines of
//! them) verified offline against a `trusted_root.json` ([`crate::sigstore`]); the flags are
//! cosign's (`verify-blob`) and the sigstore-conformance CLI protocol's.

use super::{Decided, ShellError, Ui, out_json};
use crate::fsio;
use crate::report::{Check, render_checks};
use crate::sigstore::pki::{VerifyKey, pem_decode};
use crate::sigstore::{Identity, Policy, TrustedRoot, verify_file};
use anyhow::{Context, Result};
use clap::{Args as ClapArgs, Subcommand};
use serde_json::json;
use std::io::Read as _;
use std::path::PathBuf;

/// Schema of the `sigstore verify` report.
pub const SIGSTORE_REPORT_SCHEMA: &str = "airlock/sigstore-verify-result/v1";
/// Largest bundle file read (a JSON Lines file of many attestations).
const MAX_BUNDLE_FILE: u64 = 64 << 20;
/// Largest trusted root read.
const MAX_ROOT_FILE: u64 = 8 << 20;

/// `airlock sigstore`.
#[derive(ClapArgs, Debug)]
#[command(after_help = "Examples:\n  \
airlock sigstore verify app.tar.gz --bundle app.tar.gz.sigstore.json \\\n      \
--trusted-root trusted_root.json \\\n      \
--certificate-identity \\\n      \
https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0 \\\n      \
--certificate-oidc-issuer https://token.actions.githubusercontent.com\n  \
airlock sigstore verify app.tar.gz --bundle app.sigstore.json --key cosign.pub \\\n      \
--trusted-root trusted_root.json")]
pub struct Args {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Sub,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Verify a Sigstore bundle (cosign sign-blob --bundle, gh attestation download) for an artifact, offline.
    #[command(after_help = "Exit codes: 0 verified, 1 a check failed, 2 could not check.\n\
Examples:\n  \
airlock sigstore verify app.tar.gz --bundle app.tar.gz.sigstore.json \\\n    \
--certificate-identity \\\n      \
https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.0 \\\n    \
--certificate-oidc-issuer https://token.actions.githubusercontent.com \\\n      \
--trusted-root trusted_root.json\n  \
airlock sigstore verify sha256:9f86d0... --bundle attestations.jsonl \\\n      \
--certificate-identity-regexp '^https://github.com/org/' \\\n    \
--certificate-oidc-issuer https://token.actions.githubusercontent.com\n  \
airlock sigstore verify app.tar.gz --bundle app.sigstore.json --key cosign.pub \\\n      \
--trusted-root trusted_root.json")]
    Verify(VerifyArgs),
}

/// `airlock sigstore verify`.
#[derive(ClapArgs, Debug)]
pub struct VerifyArgs {
    /// The artifact: a file, or `sha256:<hex>` of it.
    pub artifact: String,
    /// The bundle file: one Sigstore bundle, or JSON Lines of bundles (any one verifying suffices).
    #[arg(long)]
    pub bundle: PathBuf,
    /// The SAN the signing certificate must carry (exact).
    #[arg(long, conflicts_with_all = ["certificate_identity_regexp", "key"])]
    pub certificate_identity: Option<String>,
    /// A regular expression the SAN must match (unanchored, as cosign's; use ^...$ for the whole value).
    #[arg(long, conflicts_with = "key")]
    pub certificate_identity_regexp: Option<String>,
    /// The OIDC issuer the certificate must name (Fulcio extension 1.3.6.1.4.1.57264.1.8, or .1.1).
    #[arg(long, conflicts_with = "key")]
    pub certificate_oidc_issuer: Option<String>,
    /// Another Fulcio extension that must equal a value, OID=VALUE (e.g. 1.3.6.1.4.1.57264.1.12=https://github.com/org/repo); repeatable.
    #[arg(long = "certificate-extension", value_name = "OID=VALUE", conflicts_with = "key")]
    pub certificate_extensions: Vec<String>,
    /// A PEM public key: verify a keyed (not keyless) bundle.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The Sigstore trusted_root.json; default: the one last imported by `airlock trust import-tuf --target trusted_root.json`.
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// `--json` output name and schema.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        match &self.command {
            Sub::Verify(a) if a.json => Some(("sigstore verify", SIGSTORE_REPORT_SCHEMA)),
            Sub::Verify(_) => None,
        }
    }

    /// The ledger name.
    pub fn ledger_name(&self) -> Option<&'static str> {
        match &self.command {
            Sub::Verify(_) => Some("sigstore verify"),
        }
    }

    /// Runs the subcommand.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        match self.command {
            Sub::Verify(a) => a.run(ui),
        }
    }
}

/// `sha256:<hex>` or the SHA-256 of a file, streamed.
fn artifact_digest(arg: &str) -> Result<[u8; 32]> {
    if let Some(hex_part) = arg.strip_prefix("sha256:") {
        let d = crate::digest::Sha256Digest::from_hex(hex_part)
            .map_err(|e| ShellError::Usage(format!("artifact {arg:?}: {e}; give a file or sha256:<64 hex digits>")))?;
        return Ok(d.0);
    }
    let path = PathBuf::from(arg);
    let (mut f, _) = fsio::open_input(&path, fsio::Links::Follow)?;
    let mut h = crate::digest::StreamHasher::new(false);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish().0.0)
}

/// The trusted root: `--trusted-root`, else the trust store's copy.
pub fn load_trusted_root(given: Option<&PathBuf>) -> Result<(TrustedRoot, String)> {
    let path = match given {
        Some(p) => p.clone(),
        None => {
            let p = crate::store::trust::TrustStore::open()?.sigstore_root_path();
            if !fsio::present(&p)? {
                return Err(ShellError::Usage(
                    "no Sigstore trusted root: pass --trusted-root FILE, or import one with `airlock trust import-tuf --repo MIRROR --root ROOT.json --target trusted_root.json -o trusted_root.json`".into(),
                )
                .into());
            }
            p
        }
    };
    let bytes = fsio::read_input(&path, MAX_ROOT_FILE, fsio::Links::Follow)?;
    let root = TrustedRoot::parse(&bytes).with_context(|| path.display().to_string())?;
    Ok((root, path.display().to_string()))
}

/// The report lines of one bundle: every passed check, or the one that failed.
fn checks_of(r: &Result<crate::sigstore::Verified, crate::sigstore::SigstoreError>) -> Vec<Check> {
    match r {
        Ok(v) => v.checks.iter().map(|(id, d)| Check::new(*id, true, d.clone())).collect(),
        Err(e) => vec![Check::new(e.check(), false, e.to_string())],
    }
}

impl VerifyArgs {
    fn policy(&self) -> Result<Policy> {
        if let Some(k) = &self.key {
            let pem = fsio::read_small(k, 64 << 10)?;
            let spki = pem_decode(&pem, "PUBLIC KEY").map_err(|e| ShellError::Usage(format!("{}: {e}", k.display())))?;
            let key = VerifyKey::from_spki(&spki).map_err(|e| ShellError::Usage(format!("{}: {e}", k.display())))?;
            return Ok(Policy::Key { spki, key });
        }
        let identity = match (&self.certificate_identity, &self.certificate_identity_regexp) {
            (Some(i), None) => Identity::Exact(i.clone()),
            (None, Some(r)) => {
                crate::sigstore::verify::check_regexp(r).map_err(|e| ShellError::Usage(format!("--certificate-identity-regexp: {e}")))?;
                Identity::Regexp(r.clone())
            }
            _ => {
                return Err(ShellError::Usage(
                    "give --certificate-identity or --certificate-identity-regexp (keyless), or --key (keyed)".into(),
                )
                .into());
            }
        };
        let issuer = self
            .certificate_oidc_issuer
            .clone()
            .ok_or_else(|| ShellError::Usage("--certificate-oidc-issuer is required with an identity".into()))?;
        let extensions = self
            .certificate_extensions
            .iter()
            .map(|e| {
                let (o, v) =
                    e.split_once('=').ok_or_else(|| ShellError::Usage(format!("--certificate-extension {e:?}: expected OID=VALUE")))?;
                der::asn1::ObjectIdentifier::new(o)
                    .map_err(|_| ShellError::Usage(format!("--certificate-extension: {o:?} is not an OID")))?;
                Ok((o.to_string(), v.to_string()))
            })
            .collect::<Result<Vec<_>, ShellError>>()?;
        Ok(Policy::Keyless { identity, issuer, extensions })
    }

    /// Verifies and reports.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let policy = self.policy()?;
        let digest = artifact_digest(&self.artifact)?;
        let (root, root_name) = load_trusted_root(self.trusted_root.as_ref())?;
        let bytes = fsio::read_input(&self.bundle, MAX_BUNDLE_FILE, fsio::Links::Follow)?;
        let outcome = verify_file(&bytes, &digest, &root, &policy);
        let matched = outcome.matched();
        let results: Vec<serde_json::Value> = outcome
            .results
            .iter()
            .map(|(n, r)| {
                let checks = checks_of(r);
                json!({"line": n, "outcome": if r.is_ok() { "pass" } else { "fail" }, "checks": checks})
            })
            .collect();
        let artifact = format!("sha256:{}", hex::encode(digest));
        let code = if matched.is_some() { 0 } else { 1 };
        let report = json!({
            "schema": SIGSTORE_REPORT_SCHEMA,
            "command": "sigstore verify",
            "outcome": if code == 0 { "pass" } else { "fail" },
            "artifact": artifact,
            "bundle": self.bundle.display().to_string(),
            "jsonLines": outcome.json_lines,
            "matched": matched,
            "trustedRoot": root_name,
            "results": results,
        });
        if self.json {
            out_json(&report)?;
        } else if !ui.quiet || code != 0 {
            for (n, r) in &outcome.results {
                let checks = checks_of(r);
                if outcome.json_lines {
                    println!("bundle on line {n}:");
                }
                print!("{}", render_checks(&checks));
            }
            match matched {
                Some(n) if outcome.json_lines => println!("sigstore verify: PASS ({artifact}, bundle on line {n})"),
                Some(_) => println!("sigstore verify: PASS ({artifact})"),
                None => println!("sigstore verify: FAIL ({artifact})"),
            }
        }
        let subject = crate::ledger::Subject { artifact_digest: Some(artifact), ..Default::default() };
        Ok(Decided { code, report, subject, time: None })
    }
}
