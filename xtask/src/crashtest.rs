//! `cargo xtask crashtest [N]`: crash safety of the evidence ledger. Each trial starts several
//! `airlock verify` processes (each appends one record) against one `$AIRLOCK_HOME` and SIGKILLs
//! some of them at random moments. After every trial the database must open, the whole chain
//! verify, the sequence numbers be contiguous, and every append that was acknowledged (the
//! process exited and printed `recorded evidence #SEQ sha256:...`) be present with that hash.

use airlock::ledger::{Ledger, Locator};
use airlock::store::ledger::SqliteLedger;
use anyhow::{Context, Result, bail, ensure};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes started per trial.
const WRITERS: usize = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `trials` trials with the airlock binary at `bin`.
pub fn run(bin: &Path, trials: u32) -> Result<()> {
    let work = crate::root().join("target/xtask-crashtest");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let home = work.join("home");
    crate::run(Command::new(bin).args(["demo", "--no-progress", "--keep"]).arg(work.join("d")).stdout(Stdio::null()))?;
    let (bundle, key) = (work.join("d/hello-1.0.0.zip"), work.join("d/release.pub"));
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1;
    eprintln!("xtask: crashtest: {trials} trials x {WRITERS} appending processes, seed {seed}");
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut acked, mut killed) = (0u64, 0u64);
    for trial in 0..trials {
        let mut children = Vec::new();
        for _ in 0..WRITERS {
            let c = Command::new(bin)
                .args(["verify", "--no-progress"])
                .arg(&bundle)
                .arg("--key")
                .arg(&key)
                .env("AIRLOCK_HOME", &home)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .context("starting airlock verify")?;
            children.push(c);
        }
        // Kill a random subset at random moments within a typical run.
        std::thread::sleep(Duration::from_micros(rng.next() % 40_000));
        for c in children.iter_mut() {
            if !rng.next().is_multiple_of(3) {
                std::thread::sleep(Duration::from_micros(rng.next() % 5_000));
                let _ = c.kill();
            }
        }
        let mut acks = Vec::new();
        for c in children {
            let o = c.wait_with_output()?;
            let err = String::from_utf8_lossy(&o.stderr);
            match o.status.code() {
                Some(0) => {
                    let line = err
                        .lines()
                        .find(|l| l.starts_with("recorded evidence #"))
                        .with_context(|| format!("trial {trial}: exit 0 without an acknowledgement:\n{err}"))?;
                    let (seq, hash) = line["recorded evidence #".len()..].split_once(' ').context("ack line")?;
                    acks.push((seq.parse::<u64>()?, hash.to_string()));
                }
                None => killed += 1,
                Some(code) => bail!("trial {trial}: airlock verify exited {code} without being killed:\n{err}"),
            }
        }
        acked += acks.len() as u64;
        check(&home, &acks).with_context(|| format!("trial {trial} (seed {seed})"))?;
    }
    let db = SqliteLedger::open_existing(&home)?.context("no ledger after the trials")?;
    eprintln!(
        "xtask: crashtest passed: {trials} trials, {acked} acknowledged appends all present, {killed} processes killed, {} records, chain valid, {:.1} s",
        db.count()?,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn check(home: &Path, acks: &[(u64, String)]) -> Result<()> {
    let Some(db) = SqliteLedger::open_existing(home)? else {
        ensure!(acks.is_empty(), "appends were acknowledged but there is no ledger");
        return Ok(());
    };
    let s = db.verify_chain(1, &|_| {})?.map_err(|b| anyhow::anyhow!("the chain is broken after a crash: {b}"))?;
    ensure!(s.count == db.count()?, "{} rows but the chain from 1 covers {}", db.count()?, s.count);
    ensure!(s.head.map(|h| h.seq).unwrap_or(0) == s.count, "sequence numbers are not contiguous from 1");
    for (seq, hash) in acks {
        let row = db.get(Locator::Seq(*seq))?.with_context(|| format!("acknowledged record #{seq} is missing"))?;
        ensure!(row.hash.prefixed() == *hash, "acknowledged record #{seq} was {hash}, now {}", row.hash);
    }
    Ok(())
}
