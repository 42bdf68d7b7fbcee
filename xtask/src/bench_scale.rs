//! `cargo xtask bench scale [--quick]` (and the last part of `cargo xtask bench`): issue 17's
//! table. airlock against its peers on the same bytes, measured in the same run, best of N wall
//! times (this machine is shared and noisy), with the goal and the ratio on each row:
//!
//! - 99,000 members of 1 KiB in 99 folders: `airlock verify` against `sha256sum` over the
//!   extracted tree and `unzip` + `sha256sum -c`, its peak RSS, the per-member cost from 9,900 to
//!   99,000 members, and `airlock pack` (with its self-verification) against `zip -r -0`;
//! - 100,000 members whose names are at the length limit (240 bytes, 120 components, distinct at
//!   every level: the shape that made the old name rules O(members × depth × length)) walked;
//! - 1 GiB in four members: verify against `openssl dgst -sha256`, tar verify against zip verify;
//! - the bytes verify reads: `read_bytes` from the device with the bundle evicted from the page
//!   cache (`posix_fadvise(DONTNEED)`), and `rchar` (bytes returned by read calls), both read from
//!   `/proc/PID/io` of the exited, not yet reaped, verifier; goal: each byte once.

use crate::{dist, root};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Sizes {
    small: usize,
    big: usize,
    names: usize,
    runs: usize,
}

fn sh(script: &str) -> Result<std::process::ExitStatus> {
    Ok(Command::new("bash").arg("-c").arg(format!("set -o pipefail; {script}")).stdout(Stdio::null()).status()?)
}

/// Best wall time of `runs` runs of `script` (which must exit 0 unless `any_exit`), and the
/// largest peak RSS in KiB that GNU time wrote to `$RSS_FILE`, when the script used it.
fn best(runs: usize, script: &str, any_exit: bool) -> Result<(f64, u64)> {
    let rss_file = std::env::temp_dir().join(format!("airlock-bench-scale-rss-{}", std::process::id()));
    let (mut secs, mut rss) = (f64::MAX, 0u64);
    for _ in 0..runs {
        let _ = std::fs::remove_file(&rss_file);
        let t = Instant::now();
        let st = Command::new("bash")
            .arg("-c")
            .arg(format!("set -o pipefail; {script}"))
            .env("RSS_FILE", &rss_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        let s = t.elapsed().as_secs_f64();
        if !st.success() && !any_exit {
            bail!("`{script}` failed with {st}");
        }
        secs = secs.min(s);
        let r = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last().and_then(|l| l.trim().parse().ok()));
        rss = rss.max(r.unwrap_or(0));
    }
    let _ = std::fs::remove_file(&rss_file);
    Ok((secs, rss))
}

struct Rng(u64);
impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// `n` members of 1 KiB in 99 folders under `dir/artifacts/`.
fn small_tree(dir: &Path, n: usize) -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 1024];
    for i in 0..n {
        let sub = dir.join(format!("artifacts/d{:02}", i % 99));
        if i < 99 {
            std::fs::create_dir_all(&sub)?;
        }
        rng.fill(&mut buf);
        std::fs::write(sub.join(format!("f{i:06}.bin")), buf)?;
    }
    Ok(())
}

/// Four incompressible members adding up to `total` bytes.
fn big_tree(dir: &Path, total: usize) -> Result<()> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    std::fs::create_dir_all(dir.join("artifacts"))?;
    let mut buf = vec![0u8; 8 << 20];
    for i in 0..4 {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("artifacts/big-{i}.bin")))?);
        let mut left = total / 4;
        while left > 0 {
            let n = left.min(buf.len());
            rng.fill(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n;
        }
        f.flush()?;
    }
    Ok(())
}

/// A ustar archive of `n` empty members whose names are 240 bytes long, 120 one-byte
/// components, distinct from the fourth component on (base-36 digits, so no two fold together),
/// and no control members: the walk accepts every name, then verification stops at the missing
/// manifest (exit 2).
fn names_tar(path: &Path, n: usize) -> Result<()> {
    use airlock::archive::write::{PlannedMember, write_tar};
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let names: Vec<String> = (0..n)
        .map(|i| {
            let mut comps: Vec<String> = (0..120)
                .map(|level| {
                    let d = if (1..=4).contains(&level) { (i / 36usize.pow(level as u32 - 1)) % 36 } else { (i + level) % 36 };
                    (digits[d] as char).to_string()
                })
                .collect();
            comps[0] = "a".into();
            comps.join("/")
        })
        .collect();
    let members: Vec<PlannedMember> = names.iter().map(|n| PlannedMember { name: n.clone(), size: 0, deflate: false }).collect();
    let out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut open = |_: &str| -> std::io::Result<Box<dyn std::io::Read>> { Ok(Box::new(std::io::empty())) };
    let mut w = write_tar(out, &members, airlock::time::Timestamp(1_700_000_000), &mut open)?;
    w.flush()?;
    Ok(())
}

/// `read_bytes` (from the device) and `rchar` (returned by reads) of one verify of `bundle`
/// after evicting it from the page cache: python waits for the verifier with `WNOWAIT`, so its
/// `/proc/PID/io` is read after it exited and before it is reaped.
fn bytes_read(verify: &str, bundle: &Path) -> Result<(u64, u64)> {
    let py = format!(
        r#"
import os, subprocess, sys
fd = os.open({bundle:?}, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
p = subprocess.Popen(["bash", "-c", {verify:?}], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
io = dict(l.split(": ") for l in open(f"/proc/{{p.pid}}/io").read().split("\n") if l)
p.wait()
print(io["read_bytes"].strip(), io["rchar"].strip())
"#,
        bundle = bundle.display().to_string(),
        verify = verify
    );
    let out = Command::new("python3").arg("-c").arg(py).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(r)), Some(Ok(c))) => Ok((r, c)),
        _ => bail!("reading /proc/PID/io failed: {}{}", text, String::from_utf8_lossy(&out.stderr)),
    }
}

struct Row {
    work: String,
    goal: String,
    airlock: String,
    peer: String,
    ratio: String,
    met: Option<bool>,
}

fn row(work: &str, goal: &str, airlock: String, peer: String, ratio: String, met: Option<bool>) -> Row {
    Row { work: work.into(), goal: goal.into(), airlock, peer, ratio, met }
}

/// Runs the scale benchmark with the given binary.
pub fn run(bin: &Path, quick: bool) -> Result<()> {
    let sz = if quick {
        Sizes { small: 19_800, big: 256 << 20, names: 20_000, runs: 2 }
    } else {
        Sizes { small: 99_000, big: 1 << 30, names: 100_000, runs: 3 }
    };
    for tool in ["sha256sum", "openssl", "zip", "unzip", "python3", "/usr/bin/time"] {
        if !sh(&format!("command -v {tool}"))?.success() {
            bail!("{tool} is needed for the benchmark; run `cargo xtask setup`");
        }
    }
    let work = root().join("target/xtask-bench-scale");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let home = work.join("home");
    let a = |args: &str| format!("AIRLOCK_HOME={} {} {args}", home.display(), bin.display());
    let timed = |args: &str| format!("AIRLOCK_HOME={} /usr/bin/time -f %M -o \"$RSS_FILE\" {} {args}", home.display(), bin.display());
    crate::run(Command::new(bin).args(["keygen", "-o"]).arg(work.join("k")).env("AIRLOCK_HOME", &home))?;
    let key = work.join("k.key");
    let pubkey = work.join("k.pub");
    let pack = |input: &Path, out: &Path| {
        a(&format!(
            "--no-record pack --no-progress --product bench --version 1.0.0 --key {} -o {} {}",
            key.display(),
            out.display(),
            input.display()
        ))
    };
    let verify = |bundle: &Path| timed(&format!("--no-record verify --no-progress --key {} {}", pubkey.display(), bundle.display()));
    let runs = sz.runs;
    let mut rows = Vec::new();

    // Many small members.
    let small = work.join("small");
    let tenth = work.join("tenth");
    small_tree(&small, sz.small).context("generating the small-member tree")?;
    small_tree(&tenth, sz.small / 10)?;
    let (small_zip, tenth_zip) = (work.join("small.zip"), work.join("tenth.zip"));
    let zip0 = work.join("peer.zip");
    sh(&format!("find {} -type f -print0 | xargs -0 cat > /dev/null", small.display()))?;
    let (pack_s, _) = best(runs, &format!("rm -f {0} && {1}", small_zip.display(), pack(&small, &small_zip)), false)?;
    let (zip_s, _) = best(runs, &format!("rm -f {0} && cd {1} && zip -qr -0 {0} artifacts", zip0.display(), small.display()), false)?;
    crate::run(Command::new("bash").arg("-c").arg(pack(&tenth, &tenth_zip)))?;
    let n = sz.small;
    println!("scale: {n} members of 1 KiB in 99 folders, bundle {:.1} MB", std::fs::metadata(&small_zip)?.len() as f64 / 1e6);
    let (v_s, v_rss) = best(runs, &verify(&small_zip), false)?;
    let (v10_s, _) = best(runs, &verify(&tenth_zip), false)?;
    let (sha_s, _) = best(runs, &format!("cd {} && find artifacts -type f -print0 | xargs -0 sha256sum", small.display()), false)?;
    let sums = work.join("SHA256SUMS");
    sh(&format!("cd {} && find artifacts -type f -print0 | xargs -0 sha256sum > {}", small.display(), sums.display()))?;
    let x = work.join("extract");
    let (unz_s, _) = best(
        runs,
        &format!(
            // A fresh directory per run: removing 99,000 extracted files is not the peer's work.
            "mkdir -p {0} && cd $(mktemp -d -p {0}) && unzip -q {1} && sha256sum -c --quiet {2}",
            x.display(),
            small_zip.display(),
            sums.display()
        ),
        false,
    )?;
    let _ = std::fs::remove_dir_all(&x);
    let (rec_s, rec_rss) = best(1, &timed(&format!("verify --no-progress --key {} {}", pubkey.display(), small_zip.display())), false)?;
    rows.push(row(
        &format!("verify {n} x 1 KiB"),
        "<= 0.50x sha256sum",
        format!("{v_s:.2} s"),
        format!("sha256sum {sha_s:.2} s"),
        format!("{:.2}", v_s / sha_s),
        Some(v_s / sha_s <= 0.5),
    ));
    rows.push(row(
        "  same, peak RSS",
        "<= 64 MiB",
        format!("{:.0} MiB", v_rss as f64 / 1024.0),
        "-".into(),
        "-".into(),
        Some(v_rss <= 64 << 10),
    ));
    rows.push(row(
        "  same, with the ledger record",
        "(information)",
        format!("{rec_s:.2} s, {:.0} MiB", rec_rss as f64 / 1024.0),
        "-".into(),
        format!("{:.2}", rec_s / sha_s),
        None,
    ));
    let per = v_s / v10_s;
    rows.push(row(
        &format!("  per member: {} -> {n}", n / 10),
        "<= 12.87 (1.3 x 9.9)",
        format!("{v10_s:.2} s -> {v_s:.2} s"),
        "-".into(),
        format!("{per:.2}"),
        Some(per <= 1.3 * 9.9),
    ));
    rows.push(row(
        "  against unzip + sha256sum -c",
        "(information)",
        format!("{v_s:.2} s"),
        format!("unzip+sha256sum -c {unz_s:.2} s"),
        format!("{:.2}", v_s / unz_s),
        None,
    ));
    rows.push(row(
        &format!("pack {n} x 1 KiB (with self-check)"),
        "<= 1.5x zip -r -0",
        format!("{pack_s:.2} s"),
        format!("zip -r -0 {zip_s:.2} s"),
        format!("{:.2}", pack_s / zip_s),
        Some(pack_s / zip_s <= 1.5),
    ));
    let _ = std::fs::remove_dir_all(&small);
    let _ = std::fs::remove_dir_all(&tenth);
    let _ = std::fs::remove_file(&zip0);

    // Names at the length limit.
    let names = work.join("names.tar");
    names_tar(&names, sz.names).context("writing the long-name tar")?;
    let check = Command::new(bin)
        .args(["--no-record", "verify", "--no-progress", "--key"])
        .arg(&pubkey)
        .arg(&names)
        .env("AIRLOCK_HOME", &home)
        .output()?;
    let said = String::from_utf8_lossy(&check.stderr);
    if ["name.invalid", "name.duplicate", "name.collision", "name.file-dir-conflict", "limit."].iter().any(|r| said.contains(r)) {
        bail!("the long-name tar was refused for a name or a limit, so its walk was not measured: {said}");
    }
    let (walk_s, walk_rss) = best(runs, &verify(&names), true)?;
    rows.push(row(
        &format!("walk {} names of 240 bytes, 120 deep", sz.names),
        "<= 2 s",
        format!("{walk_s:.2} s, {:.0} MiB", walk_rss as f64 / 1024.0),
        "-".into(),
        "-".into(),
        Some(walk_s <= 2.0),
    ));
    let _ = std::fs::remove_file(&names);

    // Large members.
    let big = work.join("big");
    big_tree(&big, sz.big)?;
    let (big_zip, big_tar) = (work.join("big.zip"), work.join("big.tar"));
    crate::run(Command::new("bash").arg("-c").arg(pack(&big, &big_zip)))?;
    crate::run(Command::new("bash").arg("-c").arg(pack(&big, &big_tar)))?;
    sh(&format!("cat {} {} {}/artifacts/* > /dev/null", big_zip.display(), big_tar.display(), big.display()))?;
    let gib = sz.big as f64 / (1u64 << 30) as f64;
    let (ossl_s, _) = best(runs, &format!("find {} -type f -print0 | xargs -0 openssl dgst -sha256", big.display()), false)?;
    let (bz_s, bz_rss) = best(runs, &verify(&big_zip), false)?;
    let (bt_s, _) = best(runs, &verify(&big_tar), false)?;
    rows.push(row(
        &format!("verify {gib:.2} GiB zip"),
        "<= 0.50x openssl",
        format!("{bz_s:.2} s, {:.0} MiB", bz_rss as f64 / 1024.0),
        format!("openssl {ossl_s:.2} s"),
        format!("{:.2}", bz_s / ossl_s),
        Some(bz_s / ossl_s <= 0.5 && bz_rss <= 64 << 10),
    ));
    rows.push(row(
        &format!("verify {gib:.2} GiB tar"),
        "<= 1.3x zip verify",
        format!("{bt_s:.2} s"),
        format!("zip verify {bz_s:.2} s"),
        format!("{:.2}", bt_s / bz_s),
        Some(bt_s / bz_s <= 1.3),
    ));
    let _ = std::fs::remove_dir_all(&big);
    // `exec`, so that the process python waits for is the verifier itself.
    let plain = |b: &Path| {
        format!(
            "AIRLOCK_HOME={} exec {} --no-record verify --no-progress --key {} {}",
            home.display(),
            bin.display(),
            pubkey.display(),
            b.display()
        )
    };
    for (label, b) in [("zip", &big_zip), ("tar", &big_tar), ("small zip", &small_zip)] {
        let size = std::fs::metadata(b)?.len();
        let (dev, rchar) = bytes_read(&plain(b), b)?;
        rows.push(row(
            &format!("bytes read, {label} ({:.0} MB)", size as f64 / 1e6),
            "device <= 1.00x size",
            format!("device {:.3}x, read calls {:.3}x", dev as f64 / size as f64, rchar as f64 / size as f64),
            "-".into(),
            format!("{:.3}", dev as f64 / size as f64),
            // read_bytes is 0 where the filesystem does not count (tmpfs, overlay on some hosts).
            (dev > 0).then_some(dev as f64 <= size as f64 * 1.01),
        ));
    }
    print_table(&rows, runs);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn print_table(rows: &[Row], runs: usize) {
    println!("\nissue 17: scale with the shape of the release (best of {runs}, same run; ratio = airlock / peer)");
    let w = [44, 22, 28, 30, 7];
    println!(
        "| {:<w0$} | {:<w1$} | {:<w2$} | {:<w3$} | {:>w4$} | met |",
        "work",
        "goal",
        "airlock",
        "peer",
        "ratio",
        w0 = w[0],
        w1 = w[1],
        w2 = w[2],
        w3 = w[3],
        w4 = w[4]
    );
    println!(
        "|{}|{}|{}|{}|{}|-----|",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 2),
        "-".repeat(w[3] + 2),
        "-".repeat(w[4] + 2)
    );
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "| {:<w0$} | {:<w1$} | {:<w2$} | {:<w3$} | {:>w4$} | {met:<3} |",
            r.work,
            r.goal,
            r.airlock,
            r.peer,
            r.ratio,
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        );
    }
}

/// The binary to measure: the static release binary (`cargo xtask dist`), or `AIRLOCK_BENCH_BIN`.
pub fn binary() -> Result<PathBuf> {
    match std::env::var_os("AIRLOCK_BENCH_BIN") {
        Some(p) => Ok(PathBuf::from(p)),
        None => dist::dist(),
    }
}
