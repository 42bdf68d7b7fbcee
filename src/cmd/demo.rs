//! `airlock demo`: the whole job on an embedded sample, in a temporary directory.
//!
//! The demo is a script of the real commands a user runs, each printed as `$ airlock …` and run
//! as a child of this same binary with the demo's own `$AIRLOCK_HOME` (never the user's store):
//! keys and a trust root with release, operator and approver roles, a sample release packed with
//! its release metadata, verify, the promotion gate, a tampered copy refused, a rollout captured,
//! a promotion requested, approved by two approvers and executed, the promotion status, a small
//! osquery/Fleet inventory of three endpoints ingested and reconciled (one runs a binary the
//! release did not sign: drift, exit 1), the evidence API (`airlock serve` on a loopback port: the
//! bundle uploaded, its score and a search asked over HTTP, the server stopped with SIGTERM), and
//! the evidence ledger those commands filled, verified. Each step must end as the script expects
//! (the tampered bundle with exit 1), else the demo stops with exit 2 naming the step.

use super::Ui;
use crate::digest::Sha256Digest;
use crate::time::Timestamp;
use crate::{clock, fsio};
use anyhow::{Context, Result, bail};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run the end-to-end demo.
#[derive(clap::Args, Debug)]
#[command(after_help = "Runs the real commands on an embedded sample release, printing each: keygen, trust new/sign/init\n\
(release, operator and approver roles), pack, verify, gate, a tampered copy refused, rollout\n\
capture, promotion request/approve (two approvers)/execute/status, inventory ingest and reconcile\n\
(one drifted endpoint), serve (upload, score, search over HTTP), evidence search/verify.\n\
The demo's state lives in its own directory (AIRLOCK_HOME inside it), never in yours.\n\
Exit 0 when every step ended as expected.\n\n\
Examples:\n  \
airlock demo\n  \
airlock demo --keep ./demo-out")]
pub struct Args {
    /// Keep the demo files in this (new) directory instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

struct TempDir(PathBuf, bool);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

const LINUX_BINARY: &[u8] = b"#!/bin/sh\necho 'hello from airlock demo 1.0.0'\n";
const WINDOWS_BINARY: &[u8] = b"MZ demo payload, not a real executable\n";

fn sample_release(dir: &Path) -> Result<()> {
    // The SBOM lists both artifacts with their SHA-256 (what the gate's sbom.* rules look for).
    let file = |id: &str, name: &str, bytes: &[u8]| {
        serde_json::json!({"SPDXID": id, "fileName": name,
            "checksums": [{"algorithm": "SHA256", "checksumValue": hex::encode(Sha256Digest::of(bytes).0)}]})
    };
    let sbom = serde_json::json!({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "hello",
        "documentNamespace": "https://example.invalid/hello-1.0.0",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: airlock-demo"]},
        "packages": [],
        "files": [file("SPDXRef-linux", "artifacts/hello-linux-amd64", LINUX_BINARY),
                  file("SPDXRef-windows", "artifacts/hello-windows-amd64.exe", WINDOWS_BINARY)]
    });
    let sbom = serde_json::to_vec_pretty(&sbom)?;
    let files: &[(&str, &[u8])] = &[
        ("artifacts/hello-linux-amd64", LINUX_BINARY),
        ("artifacts/hello-windows-amd64.exe", WINDOWS_BINARY),
        ("sbom/hello.spdx.json", &sbom),
        ("release/notes.md", b"# hello 1.0.0\n\nFirst release.\n"),
    ];
    for (rel, bytes) in files {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("has parent")).with_context(|| format!("creating {}", p.display()))?;
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// The author's release metadata: two installers, a canary channel (ring c1 without soak, then
/// c10 soaking a day) and stable, one deployment target per channel.
fn release_metadata() -> serde_json::Value {
    let digest = |b: &[u8]| Sha256Digest::of(b).prefixed();
    serde_json::json!({
        "schema": "airlock/release-metadata/v1",
        "installers": [
            {"id": "linux-amd64", "os": "linux", "arch": "amd64", "binary": "artifacts/hello-linux-amd64",
             "digest": digest(LINUX_BINARY), "installPath": "/usr/local/bin/hello", "installMethod": "copy",
             "probe": {"args": ["--version"], "expectExitCode": 0}},
            {"id": "windows-amd64", "os": "windows", "arch": "amd64", "binary": "artifacts/hello-windows-amd64.exe",
             "digest": digest(WINDOWS_BINARY), "installPath": "C:\\Program Files\\hello\\hello.exe", "installMethod": "msi",
             "probe": {"args": ["--version"], "expectExitCode": 0}}
        ],
        "deployments": [
            {"id": "canary-hosts", "surface": "server", "platform": "linux/amd64", "installer": "linux-amd64",
             "channel": "canary", "managementTool": "ansible", "rollback": ["reinstall the previous package"]},
            {"id": "office-fleet", "surface": "managed-endpoint", "platform": "windows/amd64", "installer": "windows-amd64",
             "channel": "stable", "managementTool": "intune", "rollback": ["assign the previous Win32 app revision"]}
        ],
        "channels": [
            {"name": "canary", "autoUpdate": true, "approvalRequired": true,
             "rings": [{"name": "c1", "maxPercent": 1, "soakHours": 0}, {"name": "c10", "maxPercent": 10, "soakHours": 24}],
             "holdConditions": ["error rate above 0.5% in the ring"], "rollbackRequirements": ["previous release kept installable"]},
            {"name": "stable", "autoUpdate": false, "approvalRequired": true,
             "rings": [{"name": "pilot", "maxPercent": 5, "soakHours": 24}, {"name": "broad", "maxPercent": 100, "soakHours": 72}],
             "holdConditions": ["crash rate above 1% in the pilot ring"], "rollbackRequirements": ["previous release kept installable for 30 days"]}
        ],
        "controls": ["sbom"]
    })
}

/// The fleet as osquery/Fleet reports it (format-spec/inventory-v1.md §3): JSON lines, one
/// snapshot of a scheduled query over the `hash` table per host, taken at `unix`. Two canary
/// Linux hosts and one office Windows machine; `canary-2` runs a binary the release did not sign.
fn fleet_export(unix: i64) -> Vec<u8> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, se) = Timestamp(unix).civil();
    let calendar = format!(
        "{} {} {d:2} {h:02}:{mi:02}:{se:02} {y} UTC",
        DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize],
        MONTHS[(mo - 1).clamp(0, 11) as usize]
    );
    let hosts: [(&str, &str, &str, &[u8]); 3] = [
        ("canary-1", "ubuntu", "/usr/local/bin/hello", LINUX_BINARY),
        ("canary-2", "ubuntu", "/usr/local/bin/hello", b"#!/bin/sh\necho 'hello, patched by hand'\n"),
        ("office-1", "windows", "C:\\Program Files\\hello\\hello.exe", WINDOWS_BINARY),
    ];
    let mut out = Vec::new();
    for (n, (host, platform, path, bytes)) in hosts.iter().enumerate() {
        let line = serde_json::json!({
            "snapshot": [{"path": path, "sha256": hex::encode(Sha256Digest::of(bytes).0), "version": "1.0.0"}],
            "action": "snapshot", "name": "pack_airlock_hello_hash", "hostIdentifier": host,
            "calendarTime": calendar, "unixTime": unix, "epoch": 0, "counter": 0, "numerics": false,
            "decorations": {"host_uuid": format!("00000000-0000-4000-8000-00000000000{}", n + 1), "hostname": host,
                            "platform": platform, "cpu_type": "x86_64"}
        });
        out.extend(serde_json::to_vec(&line).expect("a JSON value serialises"));
        out.push(b'\n');
    }
    out
}

/// The gate policy the demo promotes under: the defaults, except that a freshly packed bundle
/// has no transparency proof yet (a real site requires one; see format-spec/gate-v1.md).
const GATE_POLICY: &str = "{\"schema\":\"airlock/gate-policy/v1\",\"transparency\":{\"required\":false}}\n";

/// [`GATE_POLICY`] naming the artifact to gate, for the API's score (which takes no `--artifact`).
const SERVE_POLICY: &str =
    "{\"schema\":\"airlock/gate-policy/v1\",\"artifact\":\"artifacts/hello-linux-amd64\",\"transparency\":{\"required\":false}}\n";

/// Runs the script's commands in the demo directory.
struct Script<'a> {
    dir: &'a Path,
    home: PathBuf,
    quiet: bool,
}

impl Script<'_> {
    fn say(&self, s: &str) -> Result<()> {
        if self.quiet { Ok(()) } else { super::out(s) }
    }

    /// Runs `airlock ARGS` as a child, prints it and what it printed, and requires exit `want`.
    fn run(&self, want: i32, args: &[&str]) -> Result<String> {
        self.say(&format!("$ airlock {}\n", args.join(" ")))?;
        let exe = std::env::current_exe()
            .context("finding this airlock binary (/proc/self/exe) to run the demo's commands; mount /proc, or run the commands the demo prints yourself")?;
        let o = Command::new(&exe)
            .args(args)
            .arg("--no-progress")
            .current_dir(self.dir)
            .env("AIRLOCK_HOME", &self.home)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .with_context(|| format!("running {} {}", exe.display(), args.join(" ")))?;
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        self.say(&format!("{stdout}{stderr}"))?;
        let code = o.status.code().unwrap_or(-1);
        if code != want {
            // What it printed is above, unless quiet.
            let shown = if self.quiet { format!("\n{stdout}{stderr}") } else { String::new() };
            bail!("demo step `airlock {}` exited {code}, expected {want}{shown}", args.join(" "));
        }
        Ok(stdout.into_owned())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        fsio::write_new(&self.dir.join(name), bytes, 0o644)
    }

    /// Starts `airlock serve ARGS` as a child and waits (at most 30 s) for its address.
    fn serve(&self, args: &[&str]) -> Result<(Served, String)> {
        self.say(&format!("$ airlock serve {} &\n", args.join(" ")))?;
        let exe = std::env::current_exe().context("finding this airlock binary (/proc/self/exe) to start airlock serve")?;
        let mut child = Command::new(&exe)
            .arg("serve")
            .args(args)
            .current_dir(self.dir)
            .env("AIRLOCK_HOME", &self.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", exe.display()))?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let served = Served(child);
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end (the server's later lines are dropped), so it never writes to a
            // closed pipe.
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let first = lines.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_default();
        self.say(&format!("{first}\n"))?;
        let Some((_, addr)) = first.split_once("listening on http://") else {
            bail!("demo step `airlock serve` did not start listening: {first:?}");
        };
        Ok((served, addr.to_string()))
    }

    /// One HTTP request to the demo's server, shown as the `curl` a user would type; requires
    /// status `want` and returns the JSON answer.
    fn http(&self, addr: &str, want: u16, method: &str, path: &str, upload: Option<&str>) -> Result<serde_json::Value> {
        let body = upload.map(|f| fs::read(self.dir.join(f)).with_context(|| format!("reading {f} to upload it"))).transpose()?;
        let curl = match upload {
            Some(f) => format!("$ curl -sS --data-binary @{f} http://{addr}{path}\n"),
            None if method == "POST" => format!("$ curl -sS -X POST http://{addr}{path}\n"),
            None => format!("$ curl -sS 'http://{addr}{path}'\n"),
        };
        self.say(&curl)?;
        let step = || -> std::io::Result<(u16, Vec<u8>)> {
            let mut c = std::net::TcpStream::connect(addr)?;
            c.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
            let body = body.as_deref().unwrap_or_default();
            let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            std::io::Write::write_all(&mut c, head.as_bytes())?;
            std::io::Write::write_all(&mut c, body)?;
            let mut all = vec![];
            std::io::Read::read_to_end(&mut c, &mut all)?;
            let end = all.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no response head"))?;
            let status = String::from_utf8_lossy(&all[..end]).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            Ok((status, all[end + 4..].to_vec()))
        };
        let (status, answer) = step().with_context(|| format!("demo step `{method} {path}` to airlock serve at {addr}"))?;
        let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if status != want {
            bail!("demo step `{method} {path}` answered {status}, expected {want}: {}", String::from_utf8_lossy(&answer));
        }
        Ok(doc)
    }
}

/// The demo's `airlock serve`: killed if the demo stops before it is stopped with SIGTERM.
struct Served(std::process::Child);

impl Served {
    /// SIGTERM, then requires exit 0 within 30 s.
    fn stop(mut self, s: &Script) -> Result<()> {
        let pid = rustix::process::Pid::from_child(&self.0);
        s.say(&format!("$ kill -TERM {}\n", self.0.id()))?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).context("stopping the demo's airlock serve")?;
        for _ in 0..300 {
            if let Some(status) = self.0.try_wait()? {
                if status.code() != Some(0) {
                    bail!("demo step `airlock serve` exited {status} after SIGTERM, expected 0");
                }
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bail!("demo step `airlock serve` did not stop within 30 s of SIGTERM")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Args {
    pub fn run(self, ui: Ui) -> Result<u8> {
        let work = match &self.keep {
            Some(d) => {
                fs::create_dir(d).with_context(|| {
                    format!("creating the demo directory {} (--keep DIR: a new directory in an existing one)", d.display())
                })?;
                TempDir(d.clone(), false)
            }
            None => {
                let mut rnd = [0u8; 6];
                getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let d = std::env::temp_dir().join(format!("airlock-demo-{}", hex::encode(rnd)));
                fs::create_dir(&d)
                    .with_context(|| format!("creating the demo directory {} (set TMPDIR, or give --keep DIR)", d.display()))?;
                TempDir(d, true)
            }
        };
        let dir = &work.0;
        // Absolute: the commands run inside `dir`, so a relative --keep DIR would nest the home.
        let home = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?.join("airlock-home");
        let s = Script { dir, home, quiet: ui.quiet };

        s.say(&format!("== 1. keys: root, release, operator and three approvers, in {}\n", dir.display()))?;
        for k in ["root", "release", "operator", "approver-1", "approver-2", "approver-3"] {
            s.run(0, &["keygen", "-o", k, "--quiet"])?;
        }

        s.say("\n== 2. a trust root: release 1-of-1, operator 1-of-1, approvers 2-of-3; signed by root, pinned\n")?;
        let expires = Timestamp(clock::now()?.0 + 365 * 86_400).to_string();
        s.run(
            0,
            &[
                "trust",
                "new",
                "-o",
                "trust-root.json",
                "--name",
                "demo",
                "--role",
                "root:1:root.pub",
                "--role",
                "release:1:release.pub",
                "--role",
                "operator:1:operator.pub",
                "--role",
                "approver:2:approver-1.pub,approver-2.pub,approver-3.pub",
                "--expires",
                &expires,
            ],
        )?;
        s.run(0, &["trust", "sign", "trust-root.json", "--key", "root.key"])?;
        let root_file = dir.join("trust-root.json");
        let root_bytes = fs::read(&root_file).with_context(|| format!("reading {} to fingerprint it", root_file.display()))?;
        let fingerprint = hex::encode(Sha256Digest::of(&root_bytes).0);
        s.run(0, &["trust", "init", "trust-root.json", "--fingerprint", &fingerprint])?;

        s.say("\n== 3. pack: a sample release (two artifacts, an SBOM, notes) with its release metadata\n")?;
        sample_release(&dir.join("release"))?;
        s.write("release.json", &serde_json::to_vec_pretty(&release_metadata())?)?;
        let bundle = "hello-1.0.0.zip";
        s.run(
            0,
            &[
                "pack",
                "release",
                "-o",
                bundle,
                "--product",
                "hello",
                "--version",
                "1.0.0",
                "--channel",
                "canary",
                "--release",
                "release.json",
                "--key",
                "release.key",
            ],
        )?;

        s.say("\n== 4. verify the bundle against the pinned trust root\n")?;
        s.run(0, &["verify", bundle])?;

        s.say("\n== 5. gate: may it be promoted? (policy: the defaults, transparency not required here)\n")?;
        s.write("gate-policy.json", GATE_POLICY.as_bytes())?;
        s.run(0, &["gate", bundle, "--policy", "gate-policy.json", "--artifact", "artifacts/hello-linux-amd64"])?;

        let tampered = "hello-1.0.0-tampered.zip";
        let tampered_path = dir.join(tampered);
        fs::copy(dir.join(bundle), &tampered_path)
            .with_context(|| format!("copying {} to {} to tamper with", dir.join(bundle).display(), tampered_path.display()))?;
        let target = "artifacts/hello-linux-amd64";
        let entry = super::unverified::UnverifiedBundle::open_or_refuse(&dir.join(tampered))?.entry(target)?.clone();
        let mut b = [0u8; 1];
        let at = entry.data_offset + 10;
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&tampered_path)
            .and_then(|f| {
                f.read_exact_at(&mut b, at)?;
                b[0] ^= 0x20;
                f.write_all_at(&b, at)?;
                f.sync_all()
            })
            .with_context(|| format!("flipping a bit of {} at offset {at}", tampered_path.display()))?;
        s.say(&format!("\n== 6. tamper: flipped one bit of {target} (archive offset {at}) in {tampered}; verify again\n"))?;
        s.run(1, &["verify", tampered])?;

        s.say("\n== 7. rollout: the operator records the release staged on the canary ring c1\n")?;
        let op = ["--sign-key", "operator.key"];
        s.run(
            0,
            &[
                &[
                    "rollout",
                    "capture",
                    bundle,
                    "--channel",
                    "canary",
                    "--ring",
                    "c1",
                    "--deployment",
                    "canary-hosts",
                    "--status",
                    "staged",
                    "--actor",
                    "demo-operator",
                    "-o",
                    "rollout.json",
                    "--quiet",
                ][..],
                &op,
            ]
            .concat(),
        )?;

        s.say("\n== 8. promotion to ring c10: requested, approved by two approvers (quietly), executed (every rule shown)\n")?;
        let b = ["--bundle", bundle];
        s.run(
            0,
            &[
                &[
                    "promotion",
                    "request",
                    "--rollout",
                    "rollout.json",
                    "--to-ring",
                    "c10",
                    "--expires-in",
                    "1d",
                    "-o",
                    "request.json",
                    "--quiet",
                ][..],
                &b,
                &op,
            ]
            .concat(),
        )?;
        for n in ["1", "2"] {
            let key = format!("approver-{n}.key");
            let out = format!("approval-{n}.json");
            s.run(
                0,
                &[
                    &["promotion", "approve", "request.json", "--reason", "canary healthy", "--sign-key", &key, "-o", &out, "--quiet"][..],
                    &b,
                ]
                .concat(),
            )?;
        }
        s.run(
            0,
            &[
                &[
                    "promotion",
                    "execute",
                    "request.json",
                    "--rollout",
                    "rollout.json",
                    "--approval",
                    "approval-1.json",
                    "--approval",
                    "approval-2.json",
                    "-o",
                    "execution.json",
                ][..],
                &b,
                &op,
            ]
            .concat(),
        )?;
        s.run(0, &["promotion", "status"])?;

        s.say("\n== 9. fleet: an osquery/Fleet export of three endpoints, ingested and reconciled (one drifted)\n")?;
        let observed = clock::now()?.0 - 600;
        s.write("fleet-results.jsonl", &fleet_export(observed))?;
        s.run(0, &["inventory", "ingest", "fleet-results.jsonl", "--provider", "linux", "--product", "hello", "-o", "fleet.obs"])?;
        s.run(1, &["reconcile", bundle, "--inventory", "fleet.obs"])?;

        s.say("\n== 10. the evidence API: airlock serve on a loopback port; upload, score, search over HTTP, then stop\n")?;
        // The API's score has no --artifact option: its policy names the artifact to gate.
        s.write("serve-policy.json", SERVE_POLICY.as_bytes())?;
        let (server, addr) = s.serve(&["--listen", "127.0.0.1:0", "--policy", "serve-policy.json"])?;
        let up = s.http(&addr, 201, "POST", "/evidence", Some(bundle))?;
        let id = up["bundleId"].as_str().context("the upload answer names its bundleId")?.to_string();
        s.say(&format!(
            "201 Created: bundle {id} {}, kept, ledger record #{}\n",
            up["outcome"].as_str().unwrap_or("?"),
            up["record"]["seq"]
        ))?;
        let score = s.http(&addr, 200, "GET", &format!("/evidence/score?artifact_id={id}"), None)?;
        s.say(&format!("200 OK: gate decision {}\n", score["decision"]["decision"].as_str().unwrap_or("?").to_uppercase()))?;
        let found = s.http(&addr, 200, "GET", "/evidence/search?product=hello&command=verify", None)?;
        s.say(&format!("200 OK: {} verify record(s) of hello\n", found["count"]))?;
        server.stop(&s)?;

        s.say("\n== 11. the evidence ledger: every decision above, hash-chained\n")?;
        s.run(0, &["evidence", "search"])?;
        s.run(0, &["evidence", "verify"])?;

        s.say(&format!(
            "\ndemo passed: the tampered bundle was refused, the release was gated and promoted with two approvals, the drifted endpoint was found, the API took the upload, and every decision is evidence{}\n",
            if work.1 { "" } else { " (files kept)" }
        ))?;
        Ok(0)
    }
}
