//! `cargo xtask bench serve [--clients N] [--requests N] [--seconds S]`: load on `airlock serve`
//! over loopback (issue 16). N clients upload the demo bundle and query the ledger search
//! alternately, at most `--requests` requests in all and `--seconds` seconds; requests/s and
//! p50/p99 latency per endpoint. Then the same load again, the server SIGKILLed in the middle of
//! it and restarted: every upload that got a 2xx must be in the ledger with the hash it was
//! acknowledged with, and the whole chain must verify.

use airlock::ledger::{Ledger, Locator};
use airlock::store::ledger::SqliteLedger;
use anyhow::{Context, Result, bail, ensure};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options.
pub struct Opts {
    /// Concurrent clients.
    pub clients: usize,
    /// Requests in all (each phase).
    pub requests: usize,
    /// Time bound of each phase.
    pub seconds: u64,
}

impl Opts {
    /// Parses `--clients N --requests N --seconds S` (defaults 8, 400, 30).
    pub fn parse(args: &[&str]) -> Result<Opts> {
        let mut o = Opts { clients: 8, requests: 400, seconds: 30 };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || -> Result<u64> { it.next().context("a number after the option")?.parse().context("a number") };
            match *a {
                "serve" => {}
                "--clients" => o.clients = value()? as usize,
                "--requests" => o.requests = value()? as usize,
                "--seconds" => o.seconds = value()?,
                other => bail!("bench serve: unknown option {other:?}; expected --clients N --requests N --seconds S"),
            }
        }
        ensure!(o.clients > 0 && o.requests > 0 && o.seconds > 0, "bench serve: every bound must be positive");
        Ok(o)
    }
}

fn start(bin: &Path, home: &Path, key: &Path, clients: usize) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--max-concurrent"])
        .arg((clients * 2).to_string())
        .arg("--key")
        .arg(key)
        .env("AIRLOCK_HOME", home)
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let first = lines.next().context("serve printed nothing")??;
    let addr = first.split_once("listening on http://").map(|(_, a)| a.to_string()).with_context(|| format!("unexpected: {first}"))?;
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Ok((child, addr))
}

/// One request; (status, body).
fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n").into_bytes();
    if method == "POST" {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    c.write_all(&req)?;
    let mut all = vec![];
    c.read_to_end(&mut all)?;
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").context("no response head")?;
    let status = String::from_utf8_lossy(&all[..split]).split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    Ok((status, all[split + 4..].to_vec()))
}

#[derive(Default)]
struct Tally {
    /// (endpoint, microseconds, status)
    samples: Vec<(&'static str, u64, u16)>,
    /// (seq, hash) of every acknowledged upload.
    acked: Vec<(u64, String)>,
    /// Requests that got no answer (the server was killed).
    lost: u64,
}

/// Runs the load until `requests` are done or `seconds` pass (or `stop` is set).
fn load(addr: &str, bundle: &Arc<Vec<u8>>, o: &Opts) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let threads: Vec<_> = (0..o.clients)
        .map(|_| {
            let (tally, next, bundle, addr, total) = (tally.clone(), next.clone(), bundle.clone(), addr.to_string(), o.requests);
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= total || Instant::now() > deadline {
                        return;
                    }
                    let upload = n % 2 == 0;
                    let t = Instant::now();
                    let r = if upload {
                        request(&addr, "POST", "/evidence", &bundle)
                    } else {
                        request(&addr, "GET", "/evidence/search?limit=5", &[])
                    };
                    let us = t.elapsed().as_micros() as u64;
                    let mut tl = tally.lock().unwrap();
                    match r {
                        Ok((status, body)) => {
                            tl.samples.push((if upload { "upload" } else { "search" }, us, status));
                            if upload && (200..300).contains(&status) {
                                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                                if let (Some(seq), Some(hash)) = (v["record"]["seq"].as_u64(), v["record"]["hash"].as_str()) {
                                    tl.acked.push((seq, hash.to_string()));
                                }
                            }
                        }
                        Err(_) => tl.lost += 1,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Arc::try_unwrap(tally).ok().expect("every client finished").into_inner().unwrap()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn report(t: &Tally, elapsed: f64) {
    eprintln!("  {} requests in {elapsed:.2} s: {:.1} requests/s", t.samples.len(), t.samples.len() as f64 / elapsed);
    for e in ["upload", "search"] {
        let mut us: Vec<u64> = t.samples.iter().filter(|s| s.0 == e).map(|s| s.1).collect();
        us.sort_unstable();
        let non2xx = t.samples.iter().filter(|s| s.0 == e && !(200..300).contains(&s.2)).count();
        eprintln!(
            "  {e:<7} {:>6} requests  p50 {:>8.2} ms  p99 {:>8.2} ms  non-2xx {non2xx}",
            us.len(),
            percentile(&us, 0.50),
            percentile(&us, 0.99)
        );
    }
}

/// Runs the load test with the airlock binary at `bin`.
pub fn run(bin: &Path, o: &Opts) -> Result<()> {
    let work = crate::root().join("target/xtask-serve-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let home = work.join("home");
    let demo = work.join("d");
    crate::run(
        Command::new(bin)
            .args(["demo", "--no-progress", "--keep"])
            .arg(&demo)
            .env("AIRLOCK_HOME", work.join("demo-home"))
            .stdout(Stdio::null()),
    )?;
    let (bundle, key): (PathBuf, PathBuf) = (demo.join("hello-1.0.0.zip"), demo.join("release.pub"));
    let bundle = Arc::new(std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?);
    eprintln!("xtask: bench serve: {} clients, at most {} requests and {} s per phase, loopback", o.clients, o.requests, o.seconds);

    let (mut server, addr) = start(bin, &home, &key, o.clients)?;
    let t = Instant::now();
    let steady = load(&addr, &bundle, o);
    eprintln!("steady load:");
    report(&steady, t.elapsed().as_secs_f64());
    ensure!(steady.lost == 0, "{} requests got no answer under steady load", steady.lost);
    ensure!(steady.samples.iter().all(|s| (200..300).contains(&s.2)), "a request under steady load was refused");

    // The same load, SIGKILL in the middle, restart.
    let killer = {
        let pid = server.id();
        let after = Duration::from_millis((t.elapsed().as_millis() as u64 / 2).clamp(100, 5000));
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        })
    };
    let t = Instant::now();
    let crashed = load(&addr, &bundle, o);
    let _ = killer.join();
    let _ = server.wait();
    eprintln!("SIGKILL under load:");
    report(&crashed, t.elapsed().as_secs_f64());
    eprintln!("  {} requests got no answer (the server was killed)", crashed.lost);
    let (mut server, addr) = start(bin, &home, &key, o.clients)?;
    let (status, _) = request(&addr, "GET", "/healthz", &[])?;
    ensure!(status == 200, "the restarted server answers /healthz with {status}");

    let db = SqliteLedger::open_existing(&home)?.context("no ledger after the load")?;
    let acked: Vec<&(u64, String)> = steady.acked.iter().chain(&crashed.acked).collect();
    for (seq, hash) in &acked {
        let row = db.get(Locator::Seq(*seq))?.with_context(|| format!("acknowledged upload #{seq} is not in the ledger"))?;
        ensure!(row.hash.prefixed() == *hash, "record #{seq}: acknowledged {hash}, the ledger holds {}", row.hash.prefixed());
    }
    let chain =
        airlock::store::backend::verify_chain(&db, 2, &|_| {})?.map_err(|b| anyhow::anyhow!("the chain is broken after SIGKILL: {b}"))?;
    eprintln!(
        "after restart: all {} acknowledged uploads present with their hashes; chain of {} records verifies",
        acked.len(),
        chain.count
    );
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let st = server.wait()?;
    ensure!(st.success(), "serve exited {st} on SIGTERM");
    Ok(())
}
