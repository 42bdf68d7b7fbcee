//! Upgrade-validate benchmark: packs two >= 1 GiB bundles (versions 1.0.0 and 1.1.0, large
//! incompressible members plus release metadata), then times, warm, `airlock verify` of one and
//! `airlock upgrade-validate` of both, and prints the ratio (goal <= 2.2: each bundle is
//! verified once and no member is read twice).

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const BIG: usize = 4;
const BIG_SIZE: usize = 272 << 20;

fn fill(seed: &mut u64, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let b = seed.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

fn make_input(dir: &Path, seed: u64) -> Result<u64> {
    let mut s = seed;
    std::fs::create_dir_all(dir.join("artifacts"))?;
    std::fs::create_dir_all(dir.join("sbom"))?;
    let mut buf = vec![0u8; 8 << 20];
    let mut total = 0u64;
    for i in 0..BIG {
        let mut f = std::fs::File::create(dir.join(format!("artifacts/big-{i}.bin")))?;
        let mut left = BIG_SIZE;
        while left > 0 {
            let n = left.min(buf.len());
            fill(&mut s, &mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n;
        }
        total += BIG_SIZE as u64;
    }
    let tool = b"#!/bin/sh\necho 'bench tool'\n";
    std::fs::write(dir.join("artifacts/tool-linux-amd64"), tool)?;
    std::fs::write(dir.join("sbom/bench.spdx.json"), br#"{"spdxVersion":"SPDX-2.3"}"#)?;
    let meta = serde_json_text(&airlock::digest::Sha256Digest::of(tool).prefixed());
    std::fs::write(dir.with_extension("release.json"), meta)?;
    Ok(total)
}

fn serde_json_text(digest: &str) -> String {
    format!(
        r#"{{"schema":"airlock/release-metadata/v1","controls":["sbom"],
"installers":[{{"id":"linux-amd64","os":"linux","arch":"amd64","binary":"artifacts/tool-linux-amd64","digest":"{digest}",
"installPath":"/usr/local/bin/tool","installMethod":"copy","probe":{{"args":[],"expectExitCode":0}}}}],
"channels":[{{"name":"stable","autoUpdate":false,"approvalRequired":true,"rings":[{{"name":"all","maxPercent":100,"soakHours":24}}]}}]}}"#
    )
}

fn exec(cmd: &mut Command) -> Result<()> {
    let st = cmd.stdout(Stdio::null()).status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed with {st}");
    }
    Ok(())
}

fn best_of(n: usize, label: &str, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::MAX;
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("  {label:<38} {best:>7.3} s");
    Ok(best)
}

/// Runs the benchmark against the airlock binary `bin`.
pub fn run_bench(bin: &Path, work: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let key = work.join("bench");
    exec(Command::new(bin).args(["keygen", "-o"]).arg(&key))?;
    let mut total = 0;
    for (v, seed) in [("1.0.0", 0x9e37_79b9_7f4a_7c15u64), ("1.1.0", 0x2545_f491_4f6c_dd1d)] {
        let input = work.join(format!("in-{v}"));
        total = make_input(&input, seed)?;
        exec(
            Command::new(bin)
                .args(["pack", "--no-progress", "-q", "--product", "bench", "--version", v, "--compress", "store", "-o"])
                .arg(work.join(format!("{v}.zip")))
                .arg("--key")
                .arg(key.with_extension("key"))
                .arg("--release")
                .arg(input.with_extension("release.json"))
                .arg(&input)
                .env("SOURCE_DATE_EPOCH", "1700000000"),
        )?;
        std::fs::remove_dir_all(&input)?;
    }
    let (cur, next, pubkey) = (work.join("1.0.0.zip"), work.join("1.1.0.zip"), key.with_extension("pub"));
    println!(
        "upgrade bench: two bundles of {:.3} GB member bytes each ({:.3} GB and {:.3} GB archives)",
        total as f64 / 1e9,
        std::fs::metadata(&cur)?.len() as f64 / 1e9,
        std::fs::metadata(&next)?.len() as f64 / 1e9
    );
    // Warm the page cache for both.
    for p in [&cur, &next] {
        std::io::copy(&mut std::fs::File::open(p)?, &mut std::io::sink())?;
    }
    println!("best of 3, page cache warm:");
    let verify = best_of(3, "airlock verify (one bundle)", || {
        exec(Command::new(bin).args(["verify", "--no-progress", "--key"]).arg(&pubkey).arg(&next))
    })?;
    let upgrade = best_of(3, "airlock upgrade-validate (both)", || {
        exec(Command::new(bin).args(["upgrade-validate", "--no-progress", "--key"]).arg(&pubkey).arg(&cur).arg(&next))
    })?;
    let ratio = upgrade / verify;
    println!("ratio upgrade-validate / verify = {ratio:.2}  (goal <= 2.2)");
    if ratio > 2.2 {
        bail!("upgrade-validate costs {ratio:.2}x one verify; the goal is <= 2.2x");
    }
    let _ = std::fs::remove_dir_all(work);
    Ok(())
}

/// Measures upgrade-validate of two >= 1 GiB bundles against one verify with the airlock
/// binary `bin`, in `target/xtask-upgrade-bench`, and prints the ratio.
pub fn run(bin: &Path) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask lives in the workspace")?;
    run_bench(bin, &root.join("target/xtask-upgrade-bench"))
}
