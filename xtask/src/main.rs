//! Project tasks: `cargo xtask <task>`.
//!
//! - `setup`: install the tools the tests need (idempotent; root for apt-get).
//! - `ci`: setup, fmt check, clippy -D warnings, every test without network, vectors, crashtest (200), crashtest-trust (200), static build.
//! - `vectors [--check]`: regenerate `vectors/bundle-v1/`, `vectors/evidence-ledger-v1/`, `vectors/promotion-v1/` and `vectors/inventory-v1/` (or check they are current).
//! - `hostile [--check]`: regenerate the hostile-archive corpus `tests/data/hostile/`.
//! - `fuzz-smoke [SECS]`: run every fuzz target for SECS seconds (default 30).
//! - `dist`: static release binary for x86_64-unknown-linux-musl (glibc crt-static fallback).
//! - `bench`: >= 1 GiB bundle, verify vs sha256sum / openssl / unzip -p, ratios and peak RSS.
//! - `bench scale [--quick]`: issue 17's table alone (also the end of `bench`): 99,000 small
//!   members against sha256sum, unzip + sha256sum -c and zip -r -0; names at the length limit;
//!   1 GiB against openssl, tar against zip; bytes read from the device.
//! - `bench serve [--clients N] [--requests N] [--seconds S]`: `airlock serve` under load on
//!   loopback (requests/s, p50/p99), then SIGKILL under load and restart: every acknowledged
//!   upload is in the ledger and the chain verifies.
//! - `bench gate-memory`: issue 21 item 8: peak RSS and time of `airlock gate` over a 62 MB
//!   CycloneDX SBOM, a 66 MB OpenVEX and four such members, against 256 MiB (release binary).
//! - `deflate-bench` (with `--release`): what the deflate bit walker adds to reading a member.
//! - `ledger-bench [--verify-only]`: the evidence-ledger part of `bench` alone (append, bulk import, search, verify;
//!   `--verify-only` re-verifies the million-record ledger the last run left).
//! - `sigstore-bench`: the Sigstore part of `bench` alone (bundle verifications per second, one core).
//! - `inventory-bench`: the fleet-inventory part of `bench` alone (ingest 100k devices, reconcile 100k x 4 providers).
//! - `crashtest-trust [N]`: SIGKILL `airlock trust update` and `airlock tlog import` at random
//!   moments, N trials each (default 200); the trust store and the tlog cache must be exactly the
//!   old or the new one afterwards.
//! - `crashtest [N]`: SIGKILL appending processes at random moments, N trials (default 200); the
//!   evidence ledger must stay valid and keep every acknowledged append.

// xtask is the benchmark harness: timing is its job (clippy.toml forbids clocks in the crate).
#![allow(clippy::disallowed_methods)]

mod bench;
mod bench_gate_memory;
mod bench_scale;
mod crashtest;
mod deflate_bench;
mod dist;
mod fuzz;
mod hostile;
mod inventory_bench;
mod ledger_bench;
mod serve_bench;
mod setup;
mod sigstore_bench;
mod tlog_bench;
mod upgrade_bench;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup::setup(),
        Some("ci") => ci(),
        Some("vectors") => vectors(rest.contains(&"--check")),
        Some("dist") => dist::dist().map(|_| ()),
        // Benchmarks time library code inside xtask too (tlog proofs): run them optimised.
        // Issue 17's table alone: it times only the binary, so xtask need not be optimised.
        Some("bench") if rest.first() == Some(&"serve") => {
            let opts = serve_bench::Opts::parse(&rest)?;
            serve_bench::run(&bench_scale::binary()?, &opts)
        }
        Some("bench") if rest.first() == Some(&"gate-memory") => bench_gate_memory::run(&bench_gate_memory::binary()?),
        Some("bench") if rest.first() == Some(&"scale") => bench_scale::run(&bench_scale::binary()?, rest.contains(&"--quick")),
        Some("bench") if cfg!(debug_assertions) => run(cargo().args(["run", "--release", "--quiet", "--package", "xtask", "--", "bench"])),
        Some("bench") => {
            bench::bench()?;
            upgrade_bench::run(&dist::dist()?)?;
            tlog_bench::run()?;
            sigstore_bench::run()?;
            ledger_bench::run(false)?;
            inventory_bench::run()?;
            bench_gate_memory::run(&dist::dist()?)?;
            serve_bench::run(&dist::dist()?, &serve_bench::Opts::parse(&[])?)?;
            bench_scale::run(&dist::dist()?, false)
        }
        Some("sigstore-bench") if cfg!(debug_assertions) => {
            run(cargo().args(["run", "--release", "--quiet", "--package", "xtask", "--", "sigstore-bench"]))
        }
        Some("sigstore-bench") => sigstore_bench::run(),
        Some("deflate-bench") => deflate_bench::run(),
        Some("ledger-bench") if cfg!(debug_assertions) => {
            run(cargo().args(["run", "--release", "--quiet", "--package", "xtask", "--", "ledger-bench"]).args(rest))
        }
        Some("ledger-bench") => ledger_bench::run(rest.contains(&"--verify-only")),
        Some("inventory-bench") if cfg!(debug_assertions) => {
            run(cargo().args(["run", "--release", "--quiet", "--package", "xtask", "--", "inventory-bench"]))
        }
        Some("inventory-bench") => inventory_bench::run(),
        Some("inventory-bench-phase") => {
            inventory_bench::phase(rest.first().copied().unwrap_or(""), Path::new(rest.get(1).copied().unwrap_or(".")))
        }
        Some("crashtest") => crashtest(rest.first().and_then(|s| s.parse().ok()).unwrap_or(200)),
        Some("crashtest-trust") => crashtest_trust(rest.first().and_then(|s| s.parse().ok()).unwrap_or(200)),
        Some("hostile") => hostile::run(rest.contains(&"--check")),
        Some("fuzz-smoke") => fuzz::fuzz_smoke(rest.first().and_then(|s| s.parse().ok()).unwrap_or(30)),
        Some("help") | None => {
            println!(
                "cargo xtask setup | ci | vectors [--check] | hostile [--check] | fuzz-smoke [SECS] | dist | bench [scale [--quick] | gate-memory | serve [--clients N] [--requests N] [--seconds S]] | deflate-bench | sigstore-bench | inventory-bench | crashtest [N] | crashtest-trust [N]"
            );
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}; try `cargo xtask help`"),
    }
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    run_here(cmd.current_dir(root()))
}

/// How often a step that prints nothing of its own says it is still running: CI is never silent
/// for more than a minute (a newcomer would think it hung).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a command where it is set to run (its output streams through), failing on a non-zero
/// exit, with a heartbeat line every [`HEARTBEAT`] and its duration at the end.
pub fn run_here(cmd: &mut Command) -> Result<()> {
    let what = describe(cmd);
    eprintln!("xtask: {cmd:?}");
    let t0 = std::time::Instant::now();
    let st = beating(cmd, &what, HEARTBEAT, &mut |line| eprintln!("{line}"))?;
    if !st.success() {
        bail!("{cmd:?} failed with {st} after {:.0} s", t0.elapsed().as_secs_f64());
    }
    eprintln!("xtask: done in {:.0} s: {what}", t0.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo test --workspace`: the program and its first arguments, enough to know the step.
fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().take(3).map(|a| a.to_string_lossy().into_owned()).collect();
    std::iter::once(program).chain(args).collect::<Vec<_>>().join(" ")
}

/// Starts `cmd` and waits for it, calling `say` with a line naming `what` and the time elapsed
/// every `every` while it runs.
fn beating(cmd: &mut Command, what: &str, every: std::time::Duration, say: &mut dyn FnMut(String)) -> Result<std::process::ExitStatus> {
    let mut child = cmd.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let t0 = std::time::Instant::now();
    let mut next = every;
    loop {
        if let Some(st) = child.try_wait().with_context(|| format!("waiting for {what}"))? {
            return Ok(st);
        }
        std::thread::sleep(std::time::Duration::from_millis(50).min(every));
        if t0.elapsed() >= next {
            say(format!("xtask: still running {what} ({:.0} s so far)", t0.elapsed().as_secs_f64()));
            next += every;
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn can_unshare() -> bool {
    Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success())
}

/// Runs one CI step, printing its name and duration (also when it fails).
fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("xtask: step {name}");
    let t0 = std::time::Instant::now();
    let r = f();
    let verdict = if r.is_ok() { "done" } else { "FAILED" };
    eprintln!("xtask: step {name} {verdict} in {:.0} s", t0.elapsed().as_secs_f64());
    r
}

fn ci() -> Result<()> {
    let t0 = std::time::Instant::now();
    step("setup", setup::setup)?;
    step("cargo fmt --check", || run(cargo().args(["fmt", "--all", "--", "--check"])))?;
    step("clippy -D warnings", || run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])))?;
    // Build everything while the network is still there, then test without it. Not --quiet:
    // cargo's own progress shows the minutes of compiling.
    step("build the tests", || run(cargo().args(["test", "--workspace", "--no-run"])))?;
    let mut test = if can_unshare() {
        // A new network namespace has only a loopback interface, and it is down: bring it up
        // so `airlock serve`'s tests can listen on 127.0.0.1 (nothing else is reachable).
        let mut c = Command::new("unshare");
        c.args(["-n", "--", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c
    } else {
        eprintln!("xtask: WARNING: `unshare -n` is not permitted here; tests run with the network present");
        cargo()
    };
    test.args(["test", "--workspace", "--offline"]).env("AIRLOCK_REQUIRE_INTEROP", "1");
    step("tests without network", || run(&mut test))?;
    step("vector staleness", || vectors(true))?;
    // 200 trials take about 40 s here.
    step("crashtest (200 trials)", || crashtest(200))?;
    // 200 trials each: trust update about 12 s, tlog import about 45 s here.
    step("crashtest-trust: trust update and tlog import (200 trials each)", || crashtest_trust(200))?;
    step("hostile corpus staleness", || hostile::run(true))?;
    step("fuzz-smoke", || fuzz::fuzz_smoke(30))?;
    let bin = step_value("static build (dist)", dist::dist)?;
    step("demo on the static binary", || run(Command::new(&bin).args(["demo", "--no-progress"])))?;
    eprintln!("xtask: ci passed in {:.0} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// [`step`] for a step that yields a value.
fn step_value<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut out = None;
    step(name, || {
        out = Some(f()?);
        Ok(())
    })?;
    Ok(out.expect("set by the step"))
}

fn crashtest(trials: u32) -> Result<()> {
    run(cargo().args(["build", "--quiet", "--bin", "airlock"]))?;
    crashtest::run(&root().join("target/debug/airlock"), trials)
}

/// `crashtest-trust [N]`: SIGKILL `trust update` and `tlog import` at random moments.
fn crashtest_trust(trials: u32) -> Result<()> {
    run(cargo().args(["build", "--quiet", "--bin", "airlock"]))?;
    let bin = root().join("target/debug/airlock");
    crashtest::run_trust(&bin, trials)?;
    crashtest::run_tlog(&bin, trials)
}

fn vectors(check: bool) -> Result<()> {
    vector_set("vectors/bundle-v1", airlock::conformance::bundle_v1_vectors(), check)?;
    vector_set("vectors/evidence-ledger-v1", airlock::conformance::ledger::evidence_ledger_v1_vectors(), check)?;
    vector_set("vectors/promotion-v1", airlock::conformance::promotion::promotion_v1_vectors(), check)?;
    vector_set("vectors/inventory-v1", airlock::conformance::inventory::inventory_v1_vectors(), check)
}

fn vector_set(rel_dir: &str, want: std::collections::BTreeMap<String, Vec<u8>>, check: bool) -> Result<()> {
    let dir = root().join(rel_dir);
    let mut stale = Vec::new();
    for (rel, bytes) in &want {
        let p = dir.join(rel);
        if std::fs::read(&p).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(rel.clone());
            if !check {
                std::fs::create_dir_all(p.parent().expect("parent"))?;
                std::fs::write(&p, bytes)?;
            }
        }
    }
    for entry in walk(&dir)? {
        let rel = entry.strip_prefix(&dir)?.to_string_lossy().replace('\\', "/");
        if rel != "README.md" && !want.contains_key(&rel) {
            stale.push(format!("{rel} (unknown)"));
            if !check {
                std::fs::remove_file(&entry)?;
            }
        }
    }
    if check && !stale.is_empty() {
        bail!("{rel_dir} is stale ({}); run `cargo xtask vectors`", stale.join(", "));
    }
    eprintln!("xtask: {rel_dir}: {} files, {} {}", want.len(), stale.len(), if check { "stale" } else { "rewritten" });
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_step_says_it_is_still_running_naming_itself_and_the_time() {
        let mut lines = Vec::new();
        let mut cmd = Command::new("sleep");
        cmd.arg("0.45");
        let what = describe(&cmd);
        let st = beating(&mut cmd, &what, std::time::Duration::from_millis(100), &mut |l| lines.push(l)).unwrap();
        assert!(st.success());
        assert!(lines.len() >= 3, "a heartbeat every 100 ms over 450 ms: {lines:?}");
        assert!(lines.iter().all(|l| l.contains("still running sleep 0.45") && l.ends_with("s so far)")), "{lines:?}");
    }

    #[test]
    fn a_quick_step_prints_no_heartbeat() {
        let mut lines = Vec::new();
        let st = beating(&mut Command::new("true"), "true", std::time::Duration::from_secs(5), &mut |l| lines.push(l)).unwrap();
        assert!(st.success() && lines.is_empty(), "{lines:?}");
    }

    /// `cargo xtask` builds xtask before it can print anything: with `--quiet` in the alias that
    /// build (minutes on a fresh clone) showed nothing at all.
    #[test]
    fn building_xtask_shows_cargo_progress_and_ci_builds_are_not_quiet() {
        let config = std::fs::read_to_string(root().join(".cargo/config.toml")).unwrap();
        let alias = config.lines().find(|l| l.trim_start().starts_with("xtask")).expect("the xtask alias");
        assert!(!alias.contains("--quiet") && !alias.contains(" -q"), "the alias hides the build: {alias}");
        let main = std::fs::read_to_string(root().join("xtask/src/main.rs")).unwrap();
        let ci = main.split("fn ci()").nth(1).and_then(|s| s.split("\nfn ").next()).unwrap();
        assert!(!ci.contains(&format!("\"--{}\"", "quiet")), "a CI step silences cargo");
    }
}
