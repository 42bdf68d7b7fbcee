//! `cargo xtask bench gate-memory`: issue 21 item 8. `airlock gate` over evidence members at the
//! size limit (64 MiB) must peak under 256 MiB RSS whatever their count. Three bundles, each
//! with one small artifact:
//!
//! - one CycloneDX 1.6 JSON SBOM of about 62 MB (1.7 million components, the artifact among them);
//! - one OpenVEX document of about 66 MB (550,000 statements) next to a small SBOM;
//! - four such members (two SBOMs, two VEX documents) in one bundle.
//!
//! Peak RSS is GNU time's `%M` of the gate process; time is the best of the runs (the machine is
//! shared: time is noisy, RSS is not). Needs a release binary: `AIRLOCK_BENCH_BIN`, else
//! `target/release/airlock` (`cargo build --release`).

use crate::root;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The goal, in KiB.
const GOAL_KIB: u64 = 256 << 10;
/// The evidence size limit (`airlock::evidence::MAX_EVIDENCE_SIZE`).
const LIMIT: usize = 64 << 20;

/// The binary to measure.
pub fn binary() -> Result<PathBuf> {
    match std::env::var_os("AIRLOCK_BENCH_BIN") {
        Some(p) => Ok(PathBuf::from(p)),
        None => crate::dist::dist(),
    }
}

fn sha256_hex(bytes: &[u8]) -> Result<String> {
    let tmp = std::env::temp_dir().join(format!("airlock-gate-memory-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    let out = Command::new("sha256sum").arg(&tmp).output().context("running sha256sum")?;
    let _ = std::fs::remove_file(&tmp);
    Ok(String::from_utf8(out.stdout)?.split_whitespace().next().context("sha256sum printed nothing")?.to_string())
}

/// A CycloneDX 1.6 SBOM of `n` components; component 0 is the artifact, with its SHA-256.
fn cyclonedx(n: usize, artifact_sha: &str) -> String {
    let mut s = String::with_capacity(n * 40);
    s.push_str(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"timestamp":"2026-01-01T00:00:00Z"},"components":["#,
    );
    write!(
        s,
        r#"{{"type":"application","name":"app","bom-ref":"pkg:generic/app@1.0","hashes":[{{"alg":"SHA-256","content":"{artifact_sha}"}}]}}"#
    )
    .expect("to a string");
    for i in 1..n {
        write!(s, r#",{{"type":"library","name":"c{i:07}"}}"#).expect("to a string");
    }
    s.push_str("]}");
    s
}

/// An OpenVEX v0.2.0 document of `n` statements about the artifact's purl.
fn openvex(n: usize) -> String {
    let mut s = String::with_capacity(n * 120);
    s.push_str(r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/bench","author":"bench","timestamp":"2026-01-01T00:00:00Z","version":1,"statements":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r#"{{"vulnerability":{{"name":"CVE-2026-{i:07}"}},"products":[{{"@id":"pkg:generic/app@1.0"}}],"status":"under_investigation"}}"#
        )
        .expect("to a string");
    }
    s.push_str("]}");
    s
}

struct Row {
    what: &'static str,
    evidence_mb: f64,
    secs: f64,
    rss_kib: u64,
    exit: i32,
}

pub fn run(bin: &Path) -> Result<()> {
    if !Path::new("/usr/bin/time").is_file() {
        bail!("/usr/bin/time (GNU time) is needed for peak RSS; run `cargo xtask setup`");
    }
    let work = root().join("target/xtask-bench-gate-memory");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let home = work.join("home");
    let airlock = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.env("AIRLOCK_HOME", &home).args(args);
        c
    };
    crate::run(airlock(&["keygen", "-o"]).arg(work.join("k")))?;
    let (key, pubkey) = (work.join("k.key"), work.join("k.pub"));

    let app = b"#!/bin/sh\necho app\n".to_vec();
    let app_sha = sha256_hex(&app)?;
    let sbom = cyclonedx(1_700_000, &app_sha);
    let vex = openvex(550_000);
    let small_sbom = cyclonedx(1, &app_sha);
    for (what, doc) in [("SBOM", &sbom), ("VEX", &vex)] {
        if doc.len() > LIMIT {
            bail!("the generated {what} is {} bytes, beyond the {LIMIT}-byte evidence limit", doc.len());
        }
    }
    println!("generated: CycloneDX {:.1} MB (1,700,000 components), OpenVEX {:.1} MB (550,000 statements)", mb(&sbom), mb(&vex));

    let policy = work.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"schema":"airlock/gate-policy/v1","artifact":"artifacts/app","requiredEvidence":["sbom"],"signers":{"manifest":{"role":"release","threshold":1}},"vex":{"maxStatus":"under_investigation"},"transparency":{"required":false}}"#,
    )?;
    let cases: [(&str, Vec<(&str, &String)>); 3] = [
        ("one 62 MB CycloneDX SBOM", vec![("sbom/big.cdx.json", &sbom)]),
        ("one 66 MB OpenVEX", vec![("sbom/app.cdx.json", &small_sbom), ("vex/big.openvex.json", &vex)]),
        (
            "four such members",
            vec![("sbom/a.cdx.json", &sbom), ("sbom/b.cdx.json", &sbom), ("vex/a.openvex.json", &vex), ("vex/b.openvex.json", &vex)],
        ),
    ];
    let mut rows = Vec::new();
    for (n, (what, members)) in cases.into_iter().enumerate() {
        let dir = work.join(format!("case{n}"));
        std::fs::create_dir_all(dir.join("artifacts"))?;
        std::fs::write(dir.join("artifacts/app"), &app)?;
        for (path, doc) in &members {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("a member path has a directory"))?;
            std::fs::write(&p, doc)?;
        }
        let bundle = work.join(format!("case{n}.zip"));
        crate::run(
            airlock(&["--no-record", "pack", "--no-progress", "-q", "--product", "bench", "--version", "1.0.0", "--key"])
                .arg(&key)
                .arg("-o")
                .arg(&bundle)
                .arg(&dir),
        )?;
        let _ = std::fs::remove_dir_all(&dir);
        let rss_file = work.join("rss");
        let (mut secs, mut rss_kib, mut exit) = (f64::MAX, 0u64, 0);
        for _ in 0..2 {
            let t = Instant::now();
            let st = Command::new("/usr/bin/time")
                .args(["-f", "%M", "-o"])
                .arg(&rss_file)
                .arg(bin)
                .env("AIRLOCK_HOME", &home)
                .args(["--no-record", "--no-progress", "gate"])
                .arg(&bundle)
                .arg("--policy")
                .arg(&policy)
                .arg("--key")
                .arg(&pubkey)
                .output()?;
            secs = secs.min(t.elapsed().as_secs_f64());
            exit = st.status.code().unwrap_or(-1);
            // 0 allowed, 1 denied: both mean the evidence was read; 2 means it could not be.
            if !matches!(exit, 0 | 1) {
                bail!("`airlock gate` on {what} exited {}:\n{}", st.status, String::from_utf8_lossy(&st.stderr));
            }
            let text = std::fs::read_to_string(&rss_file)?;
            let r: u64 = text.trim().lines().last().and_then(|l| l.trim().parse().ok()).context("GNU time wrote no %M")?;
            rss_kib = rss_kib.max(r);
        }
        let evidence_mb = members.iter().map(|(_, d)| mb(d)).sum();
        rows.push(Row { what, evidence_mb, secs, rss_kib, exit });
    }
    println!();
    println!("| airlock gate over | evidence | peak RSS | goal | time | exit |");
    println!("|---|---|---|---|---|---|");
    let mut over = Vec::new();
    for r in &rows {
        let ok = r.rss_kib < GOAL_KIB;
        println!(
            "| {} | {:.0} MB | {:.0} MiB | < 256 MiB {} | {:.2} s | {} |",
            r.what,
            r.evidence_mb,
            r.rss_kib as f64 / 1024.0,
            if ok { "met" } else { "MISSED" },
            r.secs,
            r.exit
        );
        if !ok {
            over.push(r.what);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    if !over.is_empty() {
        bail!("peak RSS at or above 256 MiB for: {}", over.join(", "));
    }
    Ok(())
}

fn mb(s: &str) -> f64 {
    s.len() as f64 / 1e6
}
