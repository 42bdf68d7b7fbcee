//! `cargo xtask crashtest [N]`: crash safety of the evidence ledger. Each trial starts several
//! `airlock verify` processes (each appends one record) against one `$AIRLOCK_HOME` and SIGKILLs
//! some of them at random moments. After every trial the database must open, the whole chain
//! verify, the sequence numbers be contiguous, and every append that was acknowledged (the
//! process exited and printed `recorded evidence #SEQ sha256:...`) be present with that hash.

use airlock::ledger::{Ledger, Locator};
use airlock::store::ledger::{LedgerStore, SqliteLedger};
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
    let s =
        airlock::store::backend::verify_chain(&db, 1, &|_| {})?.map_err(|b| anyhow::anyhow!("the chain is broken after a crash: {b}"))?;
    ensure!(s.count == db.count()?, "{} rows but the chain from 1 covers {}", db.count()?, s.count);
    ensure!(s.head.map(|h| h.seq).unwrap_or(0) == s.count, "sequence numbers are not contiguous from 1");
    for (seq, hash) in acks {
        let row = db.get(Locator::Seq(*seq))?.with_context(|| format!("acknowledged record #{seq} is missing"))?;
        ensure!(row.hash.prefixed() == *hash, "acknowledged record #{seq} was {hash}, now {}", row.hash);
    }
    Ok(())
}

/// `cargo xtask crashtest`'s second part: crash safety of the trust store. A store pinned to v1
/// is copied fresh for each trial, `airlock trust update v2.json` is started on it and SIGKILLed
/// at a random moment (or left to finish). Afterwards the store must be exactly the old one or
/// exactly the new one: `root.json` (the commit point) byte-equal to v1 or v2, the state's
/// `highestRootVersion` never ahead of it (a new root with the old state reads as the new store:
/// the reader raises it), every history file byte-equal to its root, `airlock trust status` reads
/// it (exit 0), and once v2 is in, `trust init v1.json --force` is refused (exit 1).
pub fn run_trust(bin: &Path, trials: u32) -> Result<()> {
    let work = crate::root().join("target/xtask-crashtest-trust");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let airlock = |home: &Path, args: &[&str]| -> Result<()> {
        let o = Command::new(bin).args(args).current_dir(&work).env("AIRLOCK_HOME", home).output()?;
        ensure!(o.status.success(), "airlock {args:?} failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr));
        Ok(())
    };
    let base = work.join("base");
    for k in ["a", "b"] {
        airlock(&base, &["keygen", "-o", k])?;
    }
    let far = "2099-01-01T00:00:00Z";
    airlock(&base, &["trust", "new", "-o", "v1.json", "--role", "root:1:a.pub", "--role", "release:1:a.pub", "--expires", far])?;
    airlock(&base, &["trust", "sign", "v1.json", "--key", "a.key"])?;
    airlock(&base, &["trust", "new", "-o", "v2.json", "--from", "v1.json", "--role", "root:1:b.pub", "--expires", far])?;
    airlock(&base, &["trust", "sign", "v2.json", "--key", "a.key", "--key", "b.key"])?;
    let (v1, v2) = (std::fs::read(work.join("v1.json"))?, std::fs::read(work.join("v2.json"))?);
    let v1_fp = airlock::digest::Sha256Digest::of(&v1).prefixed();
    airlock(&base, &["trust", "init", "v1.json", "--no-record", "--fingerprint", &v1_fp])?;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1;
    eprintln!("xtask: crashtest trust update: {trials} trials, seed {seed}");
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut old, mut new, mut killed) = (0u32, 0u32, 0u32);
    for trial in 0..trials {
        let home = work.join("home");
        let _ = std::fs::remove_dir_all(&home);
        copy_tree(&base.join("trust"), &home.join("trust"))?;
        let mut c = Command::new(bin)
            .args(["trust", "update", "v2.json", "--no-record"])
            .current_dir(&work)
            .env("AIRLOCK_HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting airlock trust update")?;
        std::thread::sleep(Duration::from_micros(rng.next() % 40_000));
        let _ = c.kill();
        let st = c.wait()?;
        if st.code().is_none() {
            killed += 1;
        }
        let version = check_trust(&home, &v1, &v2).with_context(|| format!("trial {trial} (seed {seed})"))?;
        if version == 1 {
            old += 1
        } else {
            new += 1
        }
        airlock(&home, &["trust", "status", "--no-record"]).with_context(|| format!("trial {trial} (seed {seed}): trust status"))?;
        if version == 2 {
            // The new store's anti-rollback holds whatever the crash left: v1 cannot be pinned.
            let o = Command::new(bin)
                .args(["trust", "init", "v1.json", "--force", "--no-record", "--fingerprint", &v1_fp])
                .current_dir(&work)
                .env("AIRLOCK_HOME", &home)
                .output()?;
            ensure!(o.status.code() == Some(1), "trial {trial} (seed {seed}): v1 could be pinned again after the update: {}", o.status);
            ensure!(std::fs::read(home.join("trust/root.json"))? == v2, "trial {trial}: a refused init changed root.json");
        }
    }
    eprintln!(
        "xtask: crashtest trust update passed: {trials} trials, {killed} killed, {old} left old, {new} left new (v1 refused after each), {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

/// The store's version when it is exactly v1 or exactly v2; an error otherwise.
fn check_trust(home: &Path, v1: &[u8], v2: &[u8]) -> Result<u64> {
    let dir = home.join("trust");
    let root = std::fs::read(dir.join("root.json")).context("root.json is gone")?;
    let version = if root == v1 {
        1
    } else if root == v2 {
        2
    } else {
        bail!("root.json is neither v1 nor v2 ({} bytes)", root.len())
    };
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).context("state.json is gone")?).context("state.json is not JSON")?;
    let highest = state["highestRootVersion"].as_u64().context("state.json has no highestRootVersion")?;
    // root.json is the commit point: a state still at the old version under the new root reads
    // as the new store (the reader raises it); a state ahead of root.json would be a rollback.
    ensure!(highest <= version, "mixed store: root.json is v{version} but the state's highestRootVersion is {highest}");
    for (v, bytes) in [(1, v1), (2, v2)] {
        let p = dir.join("history").join(format!("{v}.root.json"));
        if p.exists() {
            ensure!(std::fs::read(&p)? == bytes, "history/{v}.root.json is damaged");
        }
    }
    Ok(version)
}

/// Entries of the log `tlog import` is killed while importing.
const BIG: usize = 6_000;

/// Writes a tlog-tiles mirror of `n` entries of the crash-test log at `dir`; returns the
/// checkpoint note.
fn write_mirror(dir: &Path, n: usize, key: &airlock::keys::SecretKey, origin: &str) -> Result<Vec<u8>> {
    use airlock::merkle;
    use airlock::tlog::checkpoint::Checkpoint;
    let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
    for (kind, id, bytes) in airlock::tlog::tiles::build_tiles(&entries) {
        let p = dir.join(id.path_of(kind));
        std::fs::create_dir_all(p.parent().context("tile path has a parent")?)?;
        std::fs::write(p, bytes)?;
    }
    let leaves: Vec<merkle::Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let cp = Checkpoint { origin: origin.into(), size: n as u64, root: merkle::root(&leaves), extensions: vec![] };
    let note = cp.sign(origin, key).to_bytes();
    std::fs::write(dir.join("checkpoint"), &note)?;
    Ok(note)
}

/// Every file under `dir` (relative path → bytes).
fn files_under(dir: &Path) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path().strip_prefix(dir)?.display().to_string(), std::fs::read(e.path())?);
            }
        }
    }
    Ok(out)
}

/// `cargo xtask crashtest-trust`'s tlog half: a cache holding a log at size 3000 is copied fresh
/// for each trial, `airlock tlog import` of the same log at size [`BIG`] is SIGKILLed at a random
/// moment. Afterwards the origin's committed state is exactly the old or the new checkpoint,
/// every tile the committed tree needs is present and byte-equal to the mirror's (extra staged
/// files are allowed, missing ones never), `tlog status` reads the cache, and (every tenth trial) the
/// import run again completes.
pub fn run_tlog(bin: &Path, trials: u32) -> Result<()> {
    let work = crate::root().join("target/xtask-crashtest-tlog");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let origin = "crashtest.example/log";
    let key = airlock::keys::SecretKey::from_seed(&[7; 32]);
    let vk = airlock::tlog::note::VerifierKey::ed25519(origin, key.public()).context("verifier key")?.to_string();
    let (small, big) = (work.join("small"), work.join("big"));
    let old_note = write_mirror(&small, 3000, &key, origin)?;
    let new_note = write_mirror(&big, BIG, &key, origin)?;
    let big_files = files_under(&big)?;
    let import = |home: &Path, mirror: &Path| {
        let mut c = Command::new(bin);
        c.args(["tlog", "import", "--no-record", "--log-key", &vk]).arg(mirror).env("AIRLOCK_HOME", home);
        c
    };
    let base = work.join("base");
    let o = import(&base, &small).output()?;
    ensure!(o.status.success(), "importing the small log: {}", String::from_utf8_lossy(&o.stderr));
    // Kill within the span of one whole import (measured here), a little beyond.
    let home = work.join("home");
    copy_tree(&base, &home)?;
    let t = Instant::now();
    let o = import(&home, &big).output()?;
    ensure!(o.status.success(), "importing the big log: {}", String::from_utf8_lossy(&o.stderr));
    let window = (t.elapsed().as_micros() as u64 * 6 / 5).max(1000);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1;
    eprintln!("xtask: crashtest tlog import: {trials} trials, kills within {} ms, seed {seed}", window / 1000);
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut old, mut new, mut killed) = (0u32, 0u32, 0u32);
    for trial in 0..trials {
        let home = work.join("home");
        let _ = std::fs::remove_dir_all(&home);
        copy_tree(&base, &home)?;
        let mut c = import(&home, &big).stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting airlock tlog import")?;
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let _ = c.kill();
        if c.wait()?.code().is_none() {
            killed += 1;
        }
        let ctx = || format!("trial {trial} (seed {seed})");
        let cache = files_under(&home.join("tlog")).with_context(ctx)?;
        let (state_path, state) = cache.iter().find(|(p, _)| p.ends_with("state.json")).with_context(ctx)?;
        let state: serde_json::Value = serde_json::from_slice(state).with_context(ctx)?;
        let cp = state["checkpoint"].as_str().with_context(ctx)?.as_bytes();
        let size = if cp == old_note.as_slice() {
            old += 1;
            3000
        } else if cp == new_note.as_slice() {
            new += 1;
            BIG
        } else {
            bail!("{}: {state_path} holds neither checkpoint", ctx());
        };
        ensure!(state["size"] == size, "{}: state size {} under the size-{size} checkpoint", ctx(), state["size"]);
        if size == BIG {
            let odir = state_path.trim_end_matches("state.json");
            for (rel, bytes) in &big_files {
                if rel == "checkpoint" {
                    continue;
                }
                let have =
                    cache.get(&format!("{odir}{rel}")).with_context(|| format!("{}: tile {rel} missing under a committed state", ctx()))?;
                ensure!(have == bytes, "{}: tile {rel} differs from the mirror's", ctx());
            }
        }
        let o = Command::new(bin).args(["tlog", "status", "--no-record"]).env("AIRLOCK_HOME", &home).output()?;
        ensure!(o.status.success(), "{}: tlog status: {}", ctx(), String::from_utf8_lossy(&o.stderr));
        // Every tenth trial (for time): the import run again completes from what was left.
        if trial % 10 == 0 {
            let o = import(&home, &big).output()?;
            ensure!(o.status.success(), "{}: the import run again: {}", ctx(), String::from_utf8_lossy(&o.stderr));
        }
    }
    eprintln!(
        "xtask: crashtest tlog import passed: {trials} trials, {killed} killed, {old} left old, {new} left new, every committed tile present, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
