//! `cargo xtask fuzz-smoke [SECS]`: runs each cargo-fuzz target in `fuzz/` for SECS seconds,
//! seeded from the hostile corpus, and prints how many inputs each executed. Skips with a clear
//! message when no nightly toolchain or no cargo-fuzz is installed; fails on any crash, leak or
//! time-out (the reproducer is left in `fuzz/artifacts/<target>/`).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fuzz targets (`fuzz/fuzz_targets/<name>.rs`).
pub const TARGETS: &[&str] = &["zip_walk", "tar_walk", "manifest", "deflate_walk", "verify", "sbom_parse"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Seeds for one target: hostile corpus files of its flavour (all of them for `verify`, whose
/// validly signed cases are the interesting ones), manifest/envelope bytes, the deflate streams
/// of the corpus' deflated members (after a split byte), or the SBOM test documents.
fn seeds(target: &str) -> Result<Vec<(String, Vec<u8>)>> {
    use airlock::conformance::hostile;
    let mut out = Vec::new();
    match target {
        "manifest" => {
            let payload = hostile::payload();
            let plan = hostile::signed_plan(&payload);
            out.push(("manifest.json".into(), plan.manifest_bytes.clone()));
            out.push(("manifest.dsse.json".into(), plan.envelope_bytes.clone()));
        }
        "sbom_parse" => {
            let dir = root().join("tests/data/evidence/sbom");
            for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let p = e?.path();
                out.push((p.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&p)?));
            }
        }
        "deflate_walk" => {
            for (name, zip) in seeds("zip_walk")? {
                let Ok(index) = airlock::archive::walk(&zip, &airlock::archive::Limits::default()) else { continue };
                for e in index.entries.iter().filter(|e| e.method == airlock::archive::Method::Deflate) {
                    let Some(stream) = zip.get(e.data_offset as usize..(e.data_offset + e.stored_size) as usize) else { continue };
                    let mut seed = vec![128u8];
                    seed.extend_from_slice(stream);
                    out.push((format!("{name}-{}", e.name.replace('/', "_")), seed));
                }
            }
        }
        _ => {
            let dir = root().join("tests/data/hostile");
            let want: &[&str] = match target {
                "zip_walk" => &["zip", "bin"],
                "tar_walk" => &["tar", "bin"],
                _ => &["zip", "tar", "bin"],
            };
            for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let p = e?.path();
                if p.extension().and_then(|x| x.to_str()).is_some_and(|x| want.contains(&x)) {
                    out.push((p.file_name().unwrap_or_default().to_string_lossy().into_owned(), std::fs::read(&p)?));
                }
            }
        }
    }
    Ok(out)
}

/// Runs every target for `secs` seconds.
pub fn fuzz_smoke(secs: u64) -> Result<()> {
    if !works(Command::new("cargo").args(["+nightly", "--version"])) {
        println!("fuzz-smoke: SKIPPED: no nightly toolchain (`rustup toolchain install nightly`)");
        return Ok(());
    }
    if !works(Command::new("cargo").args(["+nightly", "fuzz", "--version"])) {
        println!("fuzz-smoke: SKIPPED: cargo-fuzz is not installed (`cargo install cargo-fuzz`)");
        return Ok(());
    }
    let fuzz_dir = root().join("fuzz");
    // Build every target first with cargo's own progress on stderr (the nightly build takes
    // minutes on a fresh clone; CI must never sit silent), then run each from that build.
    eprintln!("fuzz-smoke: building the fuzz targets (nightly, release, no sanitizer)");
    crate::run_here(Command::new("cargo").current_dir(&fuzz_dir).args([
        "+nightly",
        "fuzz",
        "build",
        "--sanitizer",
        "none",
        "--debug-assertions",
    ]))
    .context("building the fuzz targets")?;
    // Two targets at a time: each libFuzzer process uses one core, and CI has two.
    let mut results = Vec::new();
    for pair in TARGETS.chunks(2) {
        let mut runs = Vec::new();
        for &target in pair {
            eprintln!("fuzz-smoke: {target}: running for {secs} s");
            let corpus = fuzz_dir.join("corpus").join(target);
            std::fs::create_dir_all(&corpus)?;
            for (name, bytes) in seeds(target)? {
                std::fs::write(corpus.join(format!("seed-{name}")), bytes)?;
            }
            let child = Command::new("cargo")
                .current_dir(&fuzz_dir)
                .args(["+nightly", "fuzz", "run", "--sanitizer", "none", "--debug-assertions", target])
                .arg(&corpus)
                .args(["--", &format!("-max_total_time={secs}"), "-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("running cargo fuzz run {target}"))?;
            runs.push((target, child));
        }
        // Each child's pipes drained on its own thread, so neither blocks on a full pipe.
        let outputs: Vec<_> = std::thread::scope(|s| {
            let waits: Vec<_> = runs.into_iter().map(|(target, child)| (target, s.spawn(move || child.wait_with_output()))).collect();
            waits.into_iter().map(|(target, w)| (target, w.join().expect("a waiting thread does not panic"))).collect()
        });
        for (target, out) in outputs {
            let out = out.with_context(|| format!("waiting for cargo fuzz run {target}"))?;
            let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let execs =
                log.lines().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).and_then(|v| v.trim().parse::<u64>().ok());
            if !out.status.success() {
                let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
                bail!(
                    "fuzz target {target} failed ({}):\n{}\nThe reproducer is in fuzz/artifacts/{target}/; add it as a case in \
                     src/conformance/hostile.rs, fix the walker, run `cargo xtask hostile`",
                    out.status,
                    tail.join("\n")
                );
            }
            let execs = execs.with_context(|| format!("fuzz target {target}: no final stats in its output"))?;
            println!("fuzz-smoke: {target}: {execs} execs in {secs} s ({} /s)", execs / secs.max(1));
            results.push((target, execs));
        }
    }
    if results.iter().any(|(_, n)| *n == 0) {
        bail!("a fuzz target executed no input: {results:?}");
    }
    Ok(())
}
