//! `cargo xtask bench`: packs a >= 1 GiB bundle (a few large incompressible members and many
//! small ones), then times, in the same run and over the same member bytes, `airlock verify`
//! (one and two hashing threads) against `openssl dgst -sha256`, `sha256sum`, and
//! `unzip -p | sha256sum` (the path CAVRA's users take). Prints ratios and airlock's peak RSS.
//! Then the same for compressible members packed with `--compress deflate`.

use crate::{dist, root};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const BIG: usize = 4;
const BIG_SIZE: usize = 232 << 20;
const SMALL: usize = 2000;
const SMALL_SIZE: usize = 64 << 10;

struct Rng(u64);
impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let b = self.0.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

fn make_input(dir: &Path) -> Result<u64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total = 0u64;
    std::fs::create_dir_all(dir.join("artifacts/small"))?;
    let mut buf = vec![0u8; 8 << 20];
    for i in 0..BIG {
        let mut f = std::fs::File::create(dir.join(format!("artifacts/big-{i}.bin")))?;
        let mut left = BIG_SIZE;
        while left > 0 {
            let n = left.min(buf.len());
            rng.fill(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n;
        }
        total += BIG_SIZE as u64;
    }
    for i in 0..SMALL {
        rng.fill(&mut buf[..SMALL_SIZE]);
        std::fs::write(dir.join(format!("artifacts/small/s{i:05}.bin")), &buf[..SMALL_SIZE])?;
        total += SMALL_SIZE as u64;
    }
    Ok(total)
}

/// Wall seconds and peak RSS (KiB) of a shell pipeline, via GNU time on the last command.
fn timed(label: &str, script: &str) -> Result<(f64, u64)> {
    let rss_file = std::env::temp_dir().join(format!("airlock-bench-rss-{}", std::process::id()));
    let t = Instant::now();
    let st = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {script}"))
        .env("RSS_FILE", &rss_file)
        .stdout(Stdio::null())
        .status()?;
    let secs = t.elapsed().as_secs_f64();
    if !st.success() {
        bail!("{label}: `{script}` failed with {st}");
    }
    let rss =
        std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last().and_then(|l| l.trim().parse().ok())).unwrap_or(0);
    let _ = std::fs::remove_file(&rss_file);
    Ok((secs, rss))
}

fn best_of(n: usize, label: &str, script: &str) -> Result<(f64, u64)> {
    let mut best = (f64::MAX, 0);
    for _ in 0..n {
        let (s, r) = timed(label, script)?;
        if s < best.0 {
            best = (s, r.max(best.1));
        } else {
            best.1 = best.1.max(r);
        }
    }
    println!("  {label:<34} {:>7.3} s", best.0);
    Ok(best)
}

/// Seconds and peak RSS (KiB) of one timed command.
type Timing = (f64, u64);

/// Best of 3 of `unzip -p BUNDLE | sha256sum` (seconds), then of `airlock verify` with 1 and 2
/// hashing threads.
fn unzip_then_verify(bin: &Path, pubkey: &Path, bundle: &Path) -> Result<(f64, Timing, Timing)> {
    let verify = |threads: usize| {
        format!(
            "/usr/bin/time -f %M -o \"$RSS_FILE\" {} verify --no-progress --threads {threads} --key {} {}",
            bin.display(),
            pubkey.display(),
            bundle.display()
        )
    };
    let (unz, _) = best_of(3, "unzip -p | sha256sum", &format!("unzip -p {} | sha256sum", bundle.display()))?;
    let one = best_of(3, "airlock verify --threads 1", &verify(1))?;
    let two = best_of(3, "airlock verify --threads 2", &verify(2))?;
    Ok((unz, one, two))
}

/// Runs the benchmark.
pub fn bench() -> Result<()> {
    for tool in ["openssl", "sha256sum", "unzip", "gzip", "/usr/bin/time"] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            bail!("{tool} is needed for the benchmark; run `cargo xtask setup`");
        }
    }
    let bin = dist::dist()?;
    let work = root().join("target/xtask-bench");
    let _ = std::fs::remove_dir_all(&work);
    let input = work.join("input");
    let total = make_input(&input).context("generating bench input")?;
    let keys = work.join("bench");
    crate::run(Command::new(&bin).args(["keygen", "-o"]).arg(&keys))?;
    let bundle = work.join("bench.zip");
    let t = Instant::now();
    crate::run(
        Command::new(&bin)
            .args(["pack", "--no-progress", "--product", "bench", "--version", "1.0.0", "-o"])
            .arg(&bundle)
            .arg("--key")
            .arg(keys.with_extension("key"))
            .arg(&input)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    )?;
    let pack_secs = t.elapsed().as_secs_f64();
    let gb = total as f64 / 1e9;
    println!(
        "bench: {} members, {:.3} GB of member bytes, bundle {:.3} GB, pack {:.2} s",
        BIG + SMALL,
        gb,
        std::fs::metadata(&bundle)?.len() as f64 / 1e9,
        pack_secs
    );
    let files = format!("find {} -type f -print0", input.display());
    let pubkey = keys.with_extension("pub");
    // Warm the page cache for every reader.
    timed("warm", &format!("cat {} > /dev/null; {files} | xargs -0 cat > /dev/null", bundle.display()))?;
    println!("same bytes, best of 3, page cache warm:");
    let (sha, _) = best_of(3, "sha256sum (coreutils)", &format!("{files} | xargs -0 sha256sum"))?;
    let (ossl, _) = best_of(3, "openssl dgst -sha256", &format!("{files} | xargs -0 openssl dgst -sha256"))?;
    let (unz, (v1, rss1), (v2, rss2)) = unzip_then_verify(&bin, &pubkey, &bundle)?;
    println!(
        "throughput (GB/s): sha256sum {:.2}, openssl {:.2}, unzip|sha256sum {:.2}, airlock 1 thread {:.2}, 2 threads {:.2}",
        gb / sha,
        gb / ossl,
        gb / unz,
        gb / v1,
        gb / v2
    );
    println!("ratio airlock(1 thread)/openssl  = {:.2}  (goal <= 1.0)", v1 / ossl);
    println!("ratio airlock(2 threads)/openssl = {:.2}  (goal <= 0.6)", v2 / ossl);
    println!("ratio airlock(2 threads)/sha256sum = {:.2}", v2 / sha);
    println!("ratio airlock(2 threads)/unzip|sha256sum = {:.2}", v2 / unz);
    println!(
        "peak RSS airlock verify: {:.1} MiB (1 thread), {:.1} MiB (2 threads)  (goal <= 64 MiB)",
        rss1 as f64 / 1024.0,
        rss2 as f64 / 1024.0
    );
    deflated(&bin, &work, &keys)
}

/// Compressible members, deflated: verify inflates, walks the deflate bits and hashes both the
/// content and the signed stream, against `unzip -p | sha256sum` and `gzip -dc | sha256sum`
/// over the same content.
fn deflated(bin: &Path, work: &Path, keys: &Path) -> Result<()> {
    let input = work.join("text-input");
    std::fs::create_dir_all(input.join("artifacts"))?;
    let mut total = 0u64;
    let words = ["alpha", "beta", "gamma", "delta", "release", "airlock", "verify", "bundle", "member", "digest"];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..2 {
        let mut f = std::io::BufWriter::new(std::fs::File::create(input.join(format!("artifacts/log-{i}.txt")))?);
        let mut b = [0u8; 8];
        for line in 0..1_600_000u64 {
            let mut text = String::with_capacity(80);
            for _ in 0..8 {
                rng.fill(&mut b);
                text.push_str(words[b[0] as usize % words.len()]);
                text.push(' ');
            }
            text.push_str(&format!("{line}\n"));
            f.write_all(text.as_bytes())?;
            total += text.len() as u64;
        }
        f.flush()?;
    }
    let bundle = work.join("text.zip");
    crate::run(
        Command::new(bin)
            .args(["pack", "--no-progress", "--compress", "deflate", "--product", "text", "--version", "1.0.0", "-o"])
            .arg(&bundle)
            .arg("--key")
            .arg(keys.with_extension("key"))
            .arg(&input)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    )?;
    let gz = work.join("text-gz");
    std::fs::create_dir_all(&gz)?;
    timed(
        "gzip",
        &format!("for f in {}/artifacts/*.txt; do gzip -6 -c \"$f\" > {}/$(basename \"$f\").gz; done", input.display(), gz.display()),
    )?;
    println!(
        "deflated text: {:.3} GB of member bytes in a {:.3} GB bundle, best of 3:",
        total as f64 / 1e9,
        std::fs::metadata(&bundle)?.len() as f64 / 1e9
    );
    let (gzd, _) = best_of(3, "gzip -dc | sha256sum", &format!("cat {}/*.gz | gzip -dc | sha256sum", gz.display()))?;
    let (unz, (v1, rss1), (v2, _)) = unzip_then_verify(bin, &keys.with_extension("pub"), &bundle)?;
    println!(
        "ratio airlock(1 thread)/unzip|sha256sum = {:.2}, /gzip|sha256sum = {:.2}; 2 threads/unzip|sha256sum = {:.2}; peak RSS {:.1} MiB",
        v1 / unz,
        v1 / gzd,
        v2 / unz,
        rss1 as f64 / 1024.0
    );
    Ok(())
}
