//! `airlock demo`: the whole job on an embedded sample, in a temporary directory.

use super::Ui;
use super::pack::{Compress, Job, pack_dir};
use super::verify::{render_text, subject_of, verify_file};
use crate::bundle::manifest::Release;
use crate::keys::SecretKey;
use crate::ledger::Ledger as _;
use crate::trust::state::EvalTime;
use crate::verify::{TrustPolicy, Verification};
use crate::{clock, fsio};
use anyhow::{Context, Result, bail};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Run the end-to-end demo.
#[derive(clap::Args, Debug)]
#[command(after_help = "Makes a key, packs a sample release, verifies it, flips one byte of one member and\n\
verifies again. Exit 0 when the tampered bundle was caught.\n\nExamples:\n  airlock demo\n  airlock demo --keep ./demo-out")]
pub struct Args {
    /// Keep the demo files in this (new) directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

struct TempDir(PathBuf, bool);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn sample_release(dir: &Path) -> Result<()> {
    let files: &[(&str, &[u8])] = &[
        ("artifacts/hello-linux-amd64", b"#!/bin/sh\necho 'hello from airlock demo 1.0.0'\n"),
        ("artifacts/hello-windows-amd64.exe", b"MZ demo payload, not a real executable\n"),
        (
            "sbom/hello.spdx.json",
            br#"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"hello","documentNamespace":"https://example.invalid/hello-1.0.0","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: airlock-demo"]},"packages":[]}"#,
        ),
        ("release/notes.md", b"# hello 1.0.0\n\nFirst release.\n"),
    ];
    for (rel, bytes) in files {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("has parent"))?;
        fs::write(&p, bytes)?;
    }
    Ok(())
}

impl Args {
    pub fn run(self, ui: Ui) -> Result<u8> {
        let work = match &self.keep {
            Some(d) => {
                fs::create_dir(d).with_context(|| format!("--keep {} must not exist yet", d.display()))?;
                TempDir(d.clone(), false)
            }
            None => {
                let mut rnd = [0u8; 6];
                getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let d = std::env::temp_dir().join(format!("airlock-demo-{}", hex::encode(rnd)));
                fs::create_dir(&d)?;
                TempDir(d, true)
            }
        };
        let dir = &work.0;
        let say = |s: String| if ui.quiet { Ok(()) } else { super::out(&s) };

        say(format!("== 1. keygen: a release signing key in {}\n", dir.display()))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let key = SecretKey::from_seed(&seed);
        fsio::write_new(&dir.join("release.key"), &key.to_file(), 0o600)?;
        fsio::write_new(&dir.join("release.pub"), &key.public().to_file(), 0o644)?;
        say(format!("keyid {}\n\n", key.public().keyid()))?;

        say("== 2. pack: a sample release (two artifacts, an SBOM, notes)\n".into())?;
        let src = dir.join("release");
        sample_release(&src)?;
        let bundle = dir.join("hello-1.0.0.zip");
        let release = Release {
            product: "hello".into(),
            version: "1.0.0".into(),
            commit: Some("0123456789abcdef".into()),
            channel: Some("stable".into()),
        };
        // The demo's one clock reading: the bundle's creation time (unless SOURCE_DATE_EPOCH) and
        // the time both verifications and their records are taken at.
        let now = EvalTime::Clock(clock::now()?);
        let job = Job {
            output: &bundle,
            keys: std::slice::from_ref(&key),
            release,
            created_at: clock::creation_time_at(now.instant())?,
            compress: Compress::Auto,
            tlog_proof: None,
        };
        let m = pack_dir(&src, job, ui)?;
        say(format!("packed {} with {} members, merkle root {}\n\n", bundle.display(), m.members.len(), m.merkle_root))?;

        let trust = TrustPolicy::ed25519([key.public().clone()], 1, "demo key");
        say("== 3. verify the bundle as packed\n".into())?;
        let good = verify_file(&bundle, &trust, now, ui)?;
        say(render_text(&bundle, good.report()))?;
        if !matches!(good, Verification::Passed(..)) {
            bail!("the freshly packed demo bundle did not verify");
        }

        let tampered = dir.join("hello-1.0.0-tampered.zip");
        fs::copy(&bundle, &tampered)?;
        let target = "artifacts/hello-linux-amd64";
        let entry = super::unverified::UnverifiedBundle::open_or_refuse(&tampered)?.entry(target)?.clone();
        let f = fs::OpenOptions::new().read(true).write(true).open(&tampered)?;
        let mut b = [0u8; 1];
        let at = entry.data_offset + 10;
        f.read_exact_at(&mut b, at)?;
        b[0] ^= 0x20;
        f.write_all_at(&b, at)?;
        f.sync_all()?;
        say(format!("\n== 4. tamper: flipped one bit of {target} (archive offset {at}) in {}\n", tampered.display()))?;
        say("== 5. verify the tampered bundle\n".into())?;
        let bad = verify_file(&tampered, &trust, now, ui)?;
        say(render_text(&tampered, bad.report()))?;
        if matches!(bad, Verification::Passed(..)) {
            bail!("the tampered bundle verified: this is a bug");
        }

        // The demo keeps its own evidence ledger (not the user's): both verdicts, hash-chained.
        let home = dir.join("airlock-home");
        fs::create_dir_all(&home)?;
        say(format!("\n== 6. ledger: both verdicts recorded in {}\n", home.join(crate::store::ledger::DB_FILE).display()))?;
        for (path, v) in [(&bundle, &good), (&tampered, &bad)] {
            let r = v.report().clone().named(path.display().to_string());
            let outcome = crate::ledger::Outcome::from_exit(r.outcome().exit_code());
            let head =
                crate::store::ledger::record_in(&home, now.instant(), "verify", subject_of(&r, None), outcome, &serde_json::to_value(&r)?)?;
            say(format!("recorded evidence #{} {}\n", head.seq, head.hash))?;
        }
        let db = crate::store::ledger::SqliteLedger::open(&home)?;
        say("\n$ airlock evidence search\n".into())?;
        say(super::evidence::render_table(&db.search(&crate::ledger::Filter::default())?))?;
        say("\n$ airlock evidence verify\n".into())?;
        match db.verify_chain(1, &|_| {})? {
            Ok(summary) => say(format!(
                "{} record(s), chain intact, head #{}\n",
                summary.count,
                summary.head.map(|h| format!("{} {}", h.seq, h.hash)).unwrap_or_default()
            ))?,
            Err(broken) => bail!("the demo's evidence chain does not verify: {broken}"),
        }
        say(format!(
            "\ndemo passed: the tampered bundle was refused and both verdicts are evidence{}\n",
            if work.1 { "" } else { " (files kept)" }
        ))?;
        Ok(0)
    }
}
