//! Fleet-inventory benchmarks (issue 14 goals), timing the library the commands call:
//! ingest a 100,000-device Jamf Pro computers-inventory export (read, strict parse, normalise,
//! RFC 8785 observations) ≤ 2 s, and reconcile 100,000 endpoints seen by 4 providers (read and
//! parse four observations files, match, decide, the report's bytes) ≤ 1 s, each with peak RSS
//! ≤ 256 MiB. Each phase runs in a fresh child process (`xtask inventory-bench-phase`) so its
//! peak RSS (VmHWM) is its own.

use airlock::digest::Sha256Digest;
use airlock::inventory::providers::{Ingest, ingest};
use airlock::inventory::reconcile::{Desired, DesiredTarget, reconcile};
use airlock::inventory::{Installed, OBSERVATIONS_SCHEMA, Observation, Observations, Provider, Source};
use airlock::promotion::BundleRef;
use airlock::time::Timestamp;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const DEVICES: usize = 100_000;
const NOW: i64 = 1_800_000_000;

fn digest() -> Sha256Digest {
    Sha256Digest::of(b"app linux\n")
}

/// A Jamf Pro computers-inventory export of `n` Macs, each with three applications.
fn jamf_export(n: usize) -> String {
    let mut s = String::with_capacity(n * 900);
    write!(s, "{{\"totalCount\":{n},\"results\":[").unwrap();
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r#"{{"id":"{i}","udid":"{i:08x}-e89b-12d3-a456-426614174000","general":{{"name":"mac-{i}","lastIpAddress":"10.0.{}.{}","platform":"Mac","remoteManagement":{{"managed":true}},"lastContactTime":"2027-01-15T08:00:00.000Z","reportDate":"2027-01-15T08:00:00.000Z"}},"hardware":{{"make":"Apple","model":"MacBook Pro","serialNumber":"SER{i:09}","processorArchitecture":"arm64"}},"operatingSystem":{{"name":"macOS","version":"14.4.1","build":"23E224"}},"applications":[{{"name":"Safari.app","path":"/Applications/Safari.app","version":"17.4.1","bundleId":"com.apple.Safari"}},{{"name":"app.app","path":"/Applications/app.app","version":"1.2.0","bundleId":"com.example.app"}},{{"name":"Xcode.app","path":"/Applications/Xcode.app","version":"15.3","bundleId":"com.apple.dt.Xcode"}}]}}"#,
            (i / 256) % 256,
            i % 256
        )
        .unwrap();
    }
    s.push_str("]}");
    s
}

/// Four providers' observations of the same `n` endpoints (by serial), as files.
fn observations(provider: Provider, source: Source, n: usize) -> Observations {
    let observations = (0..n)
        .map(|i| Observation {
            endpoint_id: format!("{}-{i:09}", provider.name()),
            hostname: Some(format!("host-{i}")),
            serial: Some(format!("SER{i:09}")),
            os: Some("darwin".into()),
            arch: if provider == Provider::Edr { None } else { Some("arm64".into()) },
            deployment_target: None,
            installed: match provider {
                Provider::Edr => None,
                Provider::Linux => Some(vec![Installed { version: Some("1.2.0".into()), sha256: Some(digest()), path: None }]),
                _ => Some(vec![Installed { version: Some("1.2.0".into()), sha256: None, path: None }]),
            },
            last_seen: Some(Timestamp(NOW - 600)),
            management_state: Some("managed".into()),
        })
        .collect();
    Observations {
        schema: OBSERVATIONS_SCHEMA.into(),
        provider,
        source,
        product: "app".into(),
        channel: None,
        observed_at: Timestamp(NOW - 60),
        export_digest: Sha256Digest([provider as u8; 32]),
        observations,
    }
}

fn desired() -> Desired {
    Desired {
        bundle: BundleRef {
            bundle_id: "sha256:00".into(),
            manifest_digest: Sha256Digest([0; 32]),
            product: "app".into(),
            version: "1.2.0".into(),
        },
        targets: vec![DesiredTarget {
            id: "mac-fleet".into(),
            platform: "darwin/arm64".into(),
            channel: "stable".into(),
            management_tool: "jamf".into(),
            installer: "darwin-arm64".into(),
            digest: digest(),
            install_path: "/usr/local/bin/app".into(),
            version: "1.2.0".into(),
            expected: true,
            rollback: vec!["reinstall 1.1.0".into()],
        }],
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// One phase in this process: prints `seconds peak-kib detail`.
pub fn phase(name: &str, dir: &Path) -> Result<()> {
    let t = Instant::now();
    let detail = match name {
        "ingest" => {
            let bytes = std::fs::read(dir.join("jamf.json"))?;
            let i =
                Ingest { provider: Provider::Jamf, product: "app".into(), channel: None, deployment: None, observed_at: Timestamp(NOW) };
            let obs = ingest(&bytes, &i)?;
            let out = obs.to_bytes();
            format!("{} endpoints, {} MiB export -> {} MiB observations", obs.observations.len(), bytes.len() >> 20, out.len() >> 20)
        }
        "reconcile" => {
            // As `airlock reconcile` reads them: a file per thread, each read and parsed there.
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let names = ["jamf", "intune", "linux", "edr"];
            let files = airlock::inventory::on_threads(names.len(), threads, |i| -> Result<Observations> {
                Ok(Observations::parse(&std::fs::read(dir.join(format!("{}.obs.json", names[i])))?)?)
            })
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
            let (t_parse, m_parse) = (t.elapsed().as_secs_f64(), vm_hwm_kib() >> 10);
            let t1 = Instant::now();
            let r = reconcile(&desired(), &files, Timestamp(NOW), 86400)?;
            let (t_rec, m_rec) = (t1.elapsed().as_secs_f64(), vm_hwm_kib() >> 10);
            drop(files); // as `airlock reconcile` does before writing the report
            let t1 = Instant::now();
            let bytes = r.to_bytes();
            eprintln!(
                "parse {t_parse:.3} s (peak {m_parse} MiB), reconcile {t_rec:.3} s (peak {m_rec} MiB), report bytes {:.3} s (peak {} MiB)",
                t1.elapsed().as_secs_f64(),
                vm_hwm_kib() >> 10
            );
            if r.summary.endpoints != DEVICES as u64 || r.summary.aligned != DEVICES as u64 {
                bail!("expected {DEVICES} aligned endpoints, got {:?}", r.summary);
            }
            format!("{} endpoints from 4 providers, all aligned, {} MiB report", r.summary.endpoints, bytes.len() >> 20)
        }
        "parse" => {
            let bytes = std::fs::read(dir.join("jamf.json"))?;
            let t = Instant::now();
            let v = airlock::json::parse_strict(&bytes)?;
            let parse = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let v2: serde_json::Value = serde_json::from_slice(&bytes)?;
            format!("strict parse {parse:.3} s, serde_json {:.3} s, {}", t.elapsed().as_secs_f64(), v == v2)
        }
        other => bail!("unknown phase {other}"),
    };
    println!("{} {} {detail}", t.elapsed().as_secs_f64(), vm_hwm_kib());
    Ok(())
}

fn line(what: &str, figure: String, goal: &str, ok: bool) {
    println!("  {what:<44} {figure:>18}   goal {goal:<12} {}", if ok { "MET" } else { "NOT MET" });
}

/// Generates the inputs in `target/xtask-bench/inventory` and runs each phase in a child.
pub fn run() -> Result<()> {
    let dir = crate::root().join("target/xtask-bench/inventory");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("jamf.json"), jamf_export(DEVICES))?;
    for (p, s) in [
        (Provider::Jamf, Source::JamfComputersInventory),
        (Provider::Intune, Source::IntuneManagedDevices),
        (Provider::Linux, Source::OsqueryResults),
        (Provider::Edr, Source::FalconDevices),
    ] {
        std::fs::write(dir.join(format!("{}.obs.json", p.name())), observations(p, s, DEVICES).to_bytes())?;
    }
    println!("fleet inventory (issue 14):");
    for (name, goal_s) in [("ingest", 2.0), ("reconcile", 1.0)] {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["inventory-bench-phase", name])
            .arg(&dir)
            .output()
            .context("running a benchmark phase")?;
        if !out.status.success() {
            bail!("phase {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.trim().splitn(3, ' ');
        let secs: f64 = parts.next().unwrap_or("0").parse()?;
        let kib: u64 = parts.next().unwrap_or("0").parse()?;
        let detail = parts.next().unwrap_or("");
        let what = if name == "ingest" { "ingest 100,000-device Jamf export" } else { "reconcile 100,000 endpoints x 4 providers" };
        line(what, format!("{secs:.3} s"), &format!("<= {goal_s} s"), secs <= goal_s);
        line(&format!("  peak RSS ({detail})"), format!("{:.0} MiB", kib as f64 / 1024.0), "<= 256 MiB", kib <= 256 * 1024);
    }
    Ok(())
}
