//! `airlock break-glass BUNDLE --reason TEXT --sign-key APPROVER.key [--valid-for 4h]
//! [--cosign APPROVAL] -o APPROVAL [trust options]`
//!
//! An approver signs the break-glass approval that `airlock gate --break-glass` accepts: the
//! transparency override for one verified bundle, for one reason, for a bounded time. The bundle
//! is verified first with the same trust options as `verify`; a bundle that does not verify is
//! never approved. With k-of-n approvers, the first makes the approval and each next one adds a
//! signature with `--cosign` (same bundle, same reason, checked).

use super::pack::load_secret;
use super::verify::{CheckAs, TrustArgs, render_text, subject_of};
use super::{AboutExt, Decided, Ui};
use crate::fsio;
use crate::gate::breakglass;
use crate::keys::SecretKey;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// Schema id of what `break-glass` records in the evidence ledger: the approval it signed and
/// the verification it signed it for.
pub const BREAK_GLASS_RESULT_SCHEMA: &str = "airlock/break-glass-result/v1";

/// Sign a break-glass approval for a verified bundle.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 0: approval written. 1: the bundle did not verify (nothing written). 2: usage, I/O,\n\
malformed bundle or approval.\n\n\
The approval is a DSSE envelope (application/vnd.airlock.break-glass.v1+json) naming the bundle id,\n\
the reason, issuedAt/expiresAt and the one thing it overrides (transparency). `airlock gate\n\
--break-glass REASON --break-glass-approval FILE` accepts it when the trust root's approver role (or\n\
--approver-key) signed it to its threshold, the reason matches byte for byte, and it is unexpired.\n\n\
Examples:\n  airlock break-glass app.zip --key release.pub --reason \"INC-42: log offline\" \\\n      \
--sign-key alice.key --valid-for 4h -o bg.dsse.json\n  \
airlock break-glass app.zip --key release.pub --reason \"INC-42: log offline\" \\\n      \
--sign-key bob.key --cosign bg.dsse.json -o bg.dsse.json")]
pub struct Args {
    /// The bundle (.zip or .tar) to approve.
    pub bundle: PathBuf,
    /// The reason, exactly as the gate operator will pass it to --break-glass.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// An approver's secret key (NAME.key); repeat to sign with several.
    #[arg(long = "sign-key", value_name = "KEY", required = true)]
    pub sign_keys: Vec<PathBuf>,
    /// How long the approval holds: seconds, or a number with s, m, h or d (default 4h; the
    /// gate policy's breakGlass.maxValiditySeconds caps it).
    #[arg(long, value_name = "DURATION", default_value = "4h", conflicts_with = "cosign")]
    pub valid_for: String,
    /// Add signatures to this existing approval instead of making a new one.
    #[arg(long, value_name = "APPROVAL")]
    pub cosign: Option<PathBuf>,
    /// Where to write the approval (must not exist, unless it is the --cosign file).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Trust options for verifying the bundle, as for `verify`.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Seconds in `4h`, `30m`, `1d`, `90s` or `600`.
pub fn parse_duration(s: &str) -> Result<u64> {
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: u64 = num.parse().with_context(|| format!("duration {s:?} is not a number with s, m, h or d (e.g. 4h)"))?;
    let mul = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => bail!("duration {s:?}: unit {other:?} is not s, m, h or d"),
    };
    n.checked_mul(mul).filter(|v| *v > 0).with_context(|| format!("duration {s:?} must be positive and at most a few centuries"))
}

impl Args {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let keys: Vec<SecretKey> = self.sign_keys.iter().map(|p| load_secret(p)).collect::<Result<_>>()?;
        let key_refs: Vec<&SecretKey> = keys.iter().collect();
        let time = self.trust.eval_time()?;
        let existing = match &self.cosign {
            Some(p) => Some(fsio::read_small(p, 1 << 20)?),
            None => None,
        };
        let replacing = self
            .cosign
            .as_ref()
            .is_some_and(|c| matches!((std::fs::canonicalize(c), std::fs::canonicalize(&self.output)), (Ok(a), Ok(b)) if a == b));
        if self.output.exists() && !replacing {
            bail!("{} exists; choose a new file, or pass it as --cosign to add signatures to it", self.output.display());
        }
        let valid_for = parse_duration(&self.valid_for)?;
        let checked = self.trust.check(&self.bundle, time, CheckAs::looking(), ui)?.map_err(|e| e.about(&self.bundle))?;
        let report = checked.report();
        let Some(verified) = checked.verified() else {
            super::out(&render_text(&self.bundle, report))?;
            eprintln!("break-glass: {} did not verify; nothing approved, nothing written", self.bundle.display());
            let doc = serde_json::json!({"schema": BREAK_GLASS_RESULT_SCHEMA, "outcome": "fail", "verify": report});
            return Ok(Decided { code: 1, report: doc, subject: subject_of(report, None), time: Some(time) });
        };
        let (bytes, approval) = match &existing {
            Some(prev) => breakglass::cosign(prev, verified, &self.reason, &key_refs)?,
            None => breakglass::approve(verified, &self.reason, valid_for, &key_refs)?,
        };
        if replacing {
            fsio::atomic_write(&self.output, &bytes, 0o644)?;
        } else {
            fsio::write_new(&self.output, &bytes, 0o644)?;
        }
        if !ui.quiet {
            let signers = crate::dsse::Envelope::parse(&bytes).map(|e| e.signatures.len()).unwrap_or(0);
            eprintln!(
                "wrote {}: break-glass for bundle {} ({} {}), reason {:?}, valid {} .. {}, {} signature(s)",
                self.output.display(),
                approval.bundle_id,
                verified.get().manifest().release.product,
                verified.get().manifest().release.version,
                approval.reason,
                approval.issued_at,
                approval.expires_at,
                signers
            );
        }
        let doc = serde_json::json!({
            "schema": BREAK_GLASS_RESULT_SCHEMA,
            "outcome": "pass",
            "approval": approval,
            "approvalDigest": crate::digest::Sha256Digest::of(&bytes),
            "cosigned": existing.is_some(),
            "verify": report,
        });
        Ok(Decided { code: 0, report: doc, subject: subject_of(report, None), time: Some(time) })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600").unwrap(), 600);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("4h").unwrap(), 14_400);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        for bad in ["", "h", "0", "0h", "4w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
