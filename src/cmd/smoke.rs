//! `airlock smoke BUNDLE [--key PUB... [--threshold K] | --trust-root FILE] [--skip-execution] [--json] [--out DIR]`
//!
//! 1. Copies the bundle from its medium into a fresh private directory (mode 0700) and verifies
//!    the copy with `verify`'s trust options (recording nothing in the anti-rollback state): a
//!    USB stick can change under you, the private copy cannot.
//! 2. Validates every installer target statically (member present, digest matches the signed
//!    manifest, install path absolute and free of `..`, probe declared).
//! 3. For the host's own os/arch only, streams that one binary out of the verified copy with
//!    [`archive::stream_member`] into another fresh private directory (create-new, mode 0755),
//!    hashing it on the way: bytes that differ from the manifest are deleted, never executed.
//! 4. Runs the probe with an empty environment, stdin closed, a timeout, and no network
//!    (`unshare -n` when permitted; the report says whether it was), and checks exit code and
//!    output. Other platforms are reported as not executed.

use super::AboutExt;
use super::Decided;
use super::Ui;
use super::upgrade_validate::{fail_report, finish_report, read_metadata};
use super::verify::TrustArgs;
use super::verify::{CheckAs, subject_of};
use crate::archive::{self, ByteSource, Entry};
use crate::digest::{Sha256Digest, StreamHasher};
use crate::fsio;
use crate::release::report::{SMOKE_REPORT_SCHEMA, verify_summary};
use crate::release::{BoundMetadata, InstallerTarget, Probe, ReleaseError, go_platform, validate};
use crate::report::render_checks;
use crate::report::{Check, Outcome, Status};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most bytes of probe output kept (the rest is drained and dropped).
const OUTPUT_CAP: usize = 1 << 20;
/// Output shown in reports.
const EXCERPT: usize = 4096;

/// Smoke-test a bundle's installer metadata and its native binary.
#[derive(clap::Args, Debug)]
#[command(after_help = "The bundle is copied to a private local directory and verified there first. Every installer\n\
target is validated statically; the one for this host's os/arch is extracted (bytes re-hashed\n\
against the signed manifest) and its probe run with an empty environment, a timeout and no\n\
network (`unshare -n` when permitted). Exit 0: all checks passed. 1: a check failed. 2: could\n\
not check.\n\n\
Examples:\n  airlock smoke app-1.2.0.zip                      # the pinned trust root's release role\n  \
airlock smoke app-1.2.0.zip --trust-root root-v3.json --skip-execution --json --out evidence/\n  \
airlock smoke app-1.2.0.zip --key release.pub")]
pub struct Args {
    /// The bundle (.zip or .tar).
    pub bundle: PathBuf,
    /// Validate statically only; run nothing.
    #[arg(long)]
    pub skip_execution: bool,
    /// Trust options (as for `verify`).
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Where the private working directory is made (default: the system temp directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Print the versioned JSON report.
    #[arg(long)]
    pub json: bool,
    /// Also write the report and its checksum file into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// A fresh private directory, removed with everything in it when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    /// Creates `parent/prefix-<random>` with mode 0700; fails if it exists (never reuses one).
    fn create(parent: &Path, prefix: &str) -> Result<Self> {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("no randomness for a directory name: {e}"))?;
        // Absolute, so the probe finds its binary whatever its working directory.
        let parent = std::path::absolute(parent).with_context(|| format!("cannot resolve {}", parent.display()))?;
        let p = parent.join(format!("{prefix}-{}", hex::encode(rnd)));
        fs::DirBuilder::new().mode(0o700).create(&p).with_context(|| format!("cannot create private directory {}", p.display()))?;
        let md = fs::symlink_metadata(&p)?;
        if !md.is_dir() || md.permissions().mode() & 0o077 != 0 {
            bail!("{} is not a private directory", p.display());
        }
        Ok(PrivateDir(p))
    }
}

impl Drop for PrivateDir {
    /// Removed on every exit path, also when the probe made directories in it unwritable (a
    /// probe killed by its timeout leaves what it made): every directory under ours is made
    /// writable again, links never followed, and the removal retried.
    fn drop(&mut self) {
        if fs::remove_dir_all(&self.0).is_ok() {
            return;
        }
        let mut stack = vec![self.0.clone()];
        while let Some(d) = stack.pop() {
            let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o700));
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Creates a new file (O_CREAT|O_EXCL: an existing file or symbolic link at `path` is refused,
/// never followed or truncated).
fn create_new(path: &Path, mode: u32) -> Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).mode(mode).open(path).with_context(|| format!("cannot create {}", path.display()))
}

/// Copies the bundle into the private directory, hashing it on the way; returns the copy's
/// path, size and SHA-256.
fn copy_in(src: &Path, dir: &Path) -> Result<(PathBuf, u64, Sha256Digest)> {
    let ext = src.extension().and_then(|e| e.to_str()).filter(|e| *e == "zip" || *e == "tar").unwrap_or("bundle");
    let dest = dir.join(format!("bundle.{ext}"));
    let (mut from, _) = crate::fsio::open_input(src, crate::fsio::Links::Follow)?;
    let mut to = create_new(&dest, 0o600)?;
    let mut h = StreamHasher::new(false);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).with_context(|| format!("reading {}", src.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        to.write_all(&buf[..n]).with_context(|| format!("writing {}", dest.display()))?;
    }
    to.flush()?;
    let (d, _, len) = h.finish();
    Ok((dest, len, d))
}

/// How extraction ended.
#[derive(Debug)]
pub enum Extracted {
    /// The bytes equal the manifest's; the binary is at this path, mode 0755.
    Ready(PathBuf),
    /// The archive reader refused the member on this read (a CRC, size or deflate error: the
    /// local copy changed after verification); the file was deleted.
    Refused(archive::ArchiveError),
    /// The bytes differ; the file was deleted.
    Differs {
        /// Manifest digest.
        expected: Sha256Digest,
        /// Digest of the bytes read.
        actual: Sha256Digest,
        /// Bytes read.
        size: u64,
    },
}

/// Streams one member into `dir/name` (create-new), hashing on the way; deletes it unless its
/// digest and size equal `expected`/`size`. A read error is an `Err` (could not check); a
/// refusal by the archive reader is [`Extracted::Refused`], not a digest difference.
pub fn extract(src: &dyn ByteSource, entry: &Entry, expected: &Sha256Digest, size: u64, dir: &Path, name: &str) -> Result<Extracted> {
    let path = dir.join(name);
    let mut f = create_new(&path, 0o700)?;
    let mut h = StreamHasher::new(false);
    let mut write_err = None;
    let streamed = archive::stream_member(src, entry, &mut |chunk| {
        h.update(chunk);
        match f.write_all(chunk) {
            Ok(()) => true,
            Err(e) => {
                write_err = Some(e);
                false
            }
        }
    });
    let (actual, _, len) = h.finish();
    if let Some(e) = write_err {
        let _ = fs::remove_file(&path);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    if streamed.is_err() || actual != *expected || len != size {
        drop(f);
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        return match streamed {
            Err(e @ archive::ArchiveError::Io(_)) => {
                Err(e).with_context(|| format!("cannot read member {} of the local copy for extraction", entry.name))
            }
            Err(e) => Ok(Extracted::Refused(e)),
            Ok(()) => Ok(Extracted::Differs { expected: *expected, actual, size: len }),
        };
    }
    f.set_permissions(fs::Permissions::from_mode(0o755))?;
    f.sync_all()?;
    drop(f);
    Ok(Extracted::Ready(path))
}

/// Network isolation available to probes.
#[derive(Clone, Debug)]
enum Isolation {
    /// `unshare` at this path with these flags.
    Unshare(PathBuf, Vec<&'static str>),
    /// None; why.
    None(String),
}

impl Isolation {
    fn detect() -> Isolation {
        let Some(bin) = ["/usr/bin/unshare", "/bin/unshare"].iter().map(PathBuf::from).find(|p| p.is_file()) else {
            return Isolation::None("unshare(1) is not installed".into());
        };
        for flags in [vec!["-n"], vec!["-c", "-n"]] {
            let ok = Command::new(&bin)
                .args(&flags)
                .arg("--")
                .arg(&bin)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Isolation::Unshare(bin, flags);
            }
        }
        Isolation::None("`unshare -n` is not permitted here (no CAP_SYS_ADMIN and no user namespaces)".into())
    }

    fn describe(&self) -> String {
        match self {
            Isolation::Unshare(_, flags) => format!("isolated: new empty network namespace (unshare {})", flags.join(" ")),
            Isolation::None(why) => format!("NOT isolated: {why}"),
        }
    }
}

/// What a probe run produced.
#[derive(Debug)]
struct Run {
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn drain(mut r: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let h = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let mut v = b.lock().expect("no panic while holding the lock");
            let room = OUTPUT_CAP.saturating_sub(v.len()).min(n);
            v.extend_from_slice(&chunk[..room]);
        }
    });
    (buf, h)
}

fn run_probe(bin: &Path, probe: &Probe, cwd: &Path, iso: &Isolation) -> Result<Run> {
    let mut cmd = match iso {
        Isolation::Unshare(u, flags) => {
            let mut c = Command::new(u);
            c.args(flags).arg("--").arg(bin);
            c
        }
        Isolation::None(_) => Command::new(bin),
    };
    cmd.args(&probe.args).env_clear().current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
    let (out, ho) = drain(child.stdout.take().expect("piped"));
    let (err, he) = drain(child.stderr.take().expect("piped"));
    // Poll rather than read a clock: the core forbids clocks, and a timeout only needs to be a
    // lower bound.
    let ticks = u64::from(probe.timeout()) * 100;
    let mut status = None;
    for _ in 0..ticks {
        if let Some(s) = child.try_wait()? {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let timed_out = status.is_none();
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
    }
    // A grandchild may still hold the pipes: wait at most a second for the readers.
    for _ in 0..100 {
        if ho.is_finished() && he.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let take = |b: &Arc<Mutex<Vec<u8>>>| b.lock().expect("no panic while holding the lock").clone();
    Ok(Run { status, timed_out, stdout: take(&out), stderr: take(&err) })
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(EXCERPT)]).into_owned();
    if b.len() > EXCERPT { format!("{s}...") } else { s }
}

fn exit_text(r: &Run, timeout: u32) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (&r.status, r.timed_out) {
        (_, true) => format!("killed after the {timeout} s timeout"),
        (Some(s), _) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown".into(),
        },
        (None, false) => "unknown".into(),
    }
}

/// The checks on a probe's result.
fn probe_checks(id: &str, p: &Probe, r: &Run) -> Vec<Check> {
    let mut out = Vec::new();
    let want = format!("exit {}", p.expect_exit_code);
    let got = exit_text(r, p.timeout());
    out.push(
        Check::new(
            "smoke.exit-code",
            want == got,
            if want == got { "probe exited as expected".to_string() } else { "probe exit differs".into() },
        )
        .subject(id)
        .values(want, got),
    );
    if let Some(re) = &p.expect_output {
        // Bounded pattern × bounded text: the match ends quickly whatever either holds.
        let searched = String::from_utf8_lossy(&r.stdout[..r.stdout.len().min(crate::release::EXPECT_OUTPUT_SEARCHED)]);
        let ok = crate::release::expect_output_regex(re).is_ok_and(|x| x.is_match(&searched));
        out.push(
            Check::new(
                "smoke.output",
                ok,
                if ok { "stdout matches the expected pattern" } else { "stdout does not match the expected pattern" },
            )
            .subject(id)
            .values(format!("/{re}/"), excerpt(&r.stdout)),
        );
    }
    if let Some(j) = &p.expect_json {
        let found = crate::json::parse_strict(&r.stdout).map(|v| v.pointer(&j.pointer).cloned());
        let (ok, actual) = match &found {
            Ok(Some(v)) => (*v == j.equals, v.to_string()),
            Ok(None) => (false, format!("nothing at {}", j.pointer)),
            Err(e) => (false, format!("stdout is not strict JSON: {e}")),
        };
        out.push(
            Check::new("smoke.output-json", ok, format!("stdout JSON at {:?}", j.pointer)).subject(id).values(j.equals.to_string(), actual),
        );
    }
    out
}

struct Findings {
    checks: Vec<Check>,
    installers: Vec<Value>,
}

impl Args {
    fn finish(&self, doc: Value, text: &str, code: u8) -> Result<Decided> {
        finish_report(self.out.as_deref(), "smoke-report", self.json, doc, text, code)
    }

    fn fail(&self, e: anyhow::Error) -> Result<Decided> {
        fail_report(e, "smoke", SMOKE_REPORT_SCHEMA, self.json, self.out.as_deref(), "smoke-report")
    }

    /// Copies, verifies, validates and (for this host) runs; exit 0 passed, 1 a check failed, 2
    /// could not check.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let parent = self.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let work = PrivateDir::create(&parent, "airlock-smoke")?;
        let time = match self.trust.eval_time() {
            Ok(t) => t,
            Err(e) => return self.fail(e),
        };
        let (copy, copy_size, copy_digest) = match copy_in(&self.bundle, &work.0) {
            Ok(c) => c,
            Err(e) => return self.fail(e.context(super::About(self.bundle.clone()))),
        };
        let checked = match self.trust.check(&copy, time, CheckAs::looking(), ui) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return self.fail(e.about(&self.bundle)),
            Err(e) => return self.fail(e),
        };
        let report = checked.report();
        let (os, arch) = go_platform(std::env::consts::OS, std::env::consts::ARCH);
        let host = format!("{os}/{arch}");
        let mut doc = json!({
            "schema": SMOKE_REPORT_SCHEMA,
            "bundle": self.bundle,
            "copy": {"size": copy_size, "sha256": copy_digest},
            "host": {"os": os, "arch": arch},
            "execution": if self.skip_execution { "skipped (--skip-execution)" } else { "host target only" },
            "verification": verify_summary(report),
        });
        let verified = match checked.verified() {
            Some(b) => b,
            None => {
                let failed: Vec<Check> = report.failed().cloned().collect();
                doc["outcome"] = json!(Outcome::Fail);
                doc["checks"] = json!([]);
                doc["installers"] = json!([]);
                let text = format!(
                    "bundle   {} (local copy verified)\ntrust    {}\n{}\nNOT VERIFIED: nothing was extracted or executed\n",
                    self.bundle.display(),
                    report.trust().source,
                    render_checks(&failed)
                );
                return self.finish(doc, &text, 1).map(|d| Decided { subject: subject_of(report, None), time: Some(time), ..d });
            }
        };
        let meta_bytes = read_metadata(&copy, verified)?;
        let bound = match meta_bytes.as_deref().map(|b| BoundMetadata::bind(verified, b)) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => return self.fail(e.about(&self.bundle)),
        };
        let result = match &bound {
            None => Findings {
                checks: vec![
                    Check::new("release.metadata", false, format!("{}; there is nothing to smoke-test", ReleaseError::Missing))
                        .values("present", "absent"),
                ],
                installers: vec![],
            },
            Some(m) => match self.smoke(m, &copy, &work.0, &host) {
                Ok(f) => f,
                Err(e) => return self.fail(e),
            },
        };
        let outcome = Outcome::of(&result.checks);
        doc["outcome"] = json!(outcome);
        doc["installers"] = json!(result.installers);
        doc["checks"] = serde_json::to_value(&result.checks)?;
        let r = &verified.get().manifest().release;
        let mut text = format!(
            "bundle   {} ({} {}), local copy verified\ntrust    {} ({} key(s), threshold {})\nhost     {host}\n\n",
            self.bundle.display(),
            r.product,
            r.version,
            report.trust().source,
            report.trust().keys.len(),
            report.trust().threshold
        );
        text.push_str(&render_checks(&result.checks));
        for i in &result.installers {
            text.push_str(&format!(
                "\n{:<16} {}{}",
                i["id"].as_str().unwrap_or_default(),
                if i["executed"] == json!(true) { "executed: " } else { "not executed: " },
                i["reason"].as_str().unwrap_or_default()
            ));
            if let Some(n) = i["network"].as_str() {
                text.push_str(&format!(" (network {n})"));
            }
        }
        let failed = result.checks.iter().filter(|c| c.status == Status::Fail).count();
        text.push_str(&format!(
            "\n\n{} checks, {failed} failed: {}\n",
            result.checks.len(),
            if failed == 0 { "SMOKE PASSED" } else { "SMOKE FAILED" }
        ));
        let subject = subject_of(report, None);
        self.finish(doc, &text, outcome.exit_code()).map(|d| Decided { subject, time: Some(time), ..d })
    }

    fn smoke(&self, m: &BoundMetadata<'_>, copy: &Path, work: &Path, host: &str) -> Result<Findings> {
        let bundle = m.bundle().get();
        let meta = m.metadata();
        let mut checks = validate(meta, &bundle.manifest().members);
        let mut installers = Vec::new();
        let host_targets: Vec<&InstallerTarget> = meta.installers.iter().filter(|i| i.platform() == host).collect();
        if !self.skip_execution && host_targets.is_empty() {
            checks.push(
                Check::new(
                    "smoke.host-target",
                    false,
                    format!("no installer target for this host ({host}); pass --skip-execution to validate statically only"),
                )
                .values(host, meta.installers.iter().map(|i| i.platform()).collect::<Vec<_>>().join(", ")),
            );
        }
        let iso = if self.skip_execution || host_targets.is_empty() { None } else { Some(Isolation::detect()) };
        for i in &meta.installers {
            let statically_ok = !checks.iter().any(|c| c.status == Status::Fail && c.subject.as_deref() == Some(i.id.as_str()));
            let mut rec = json!({"id": i.id, "platform": i.platform(), "binary": i.binary, "digest": i.digest, "installPath": i.install_path, "executed": false});
            let reason = if i.platform() != host {
                Some(format!("platform {} is not this host's {host}; validated statically", i.platform()))
            } else if self.skip_execution {
                Some("--skip-execution: validated statically".into())
            } else if !statically_ok {
                Some("static validation failed; a binary that does not match the signed manifest is never executed".into())
            } else {
                None
            };
            if let Some(r) = reason {
                rec["reason"] = json!(r);
                installers.push(rec);
                continue;
            }
            let probe = i.probe.as_ref().expect("statically_ok implies a probe");
            let member = bundle.manifest().members.iter().find(|mm| mm.path == i.binary).expect("statically_ok implies a member");
            let entry = bundle.index().get(&i.binary).context("verified member missing from the index")?;
            let run_dir = PrivateDir::create(work, "run")?;
            let name = i.binary.rsplit('/').next().unwrap_or("binary");
            let src = fsio::FileSource::open(copy)?;
            match extract(&src, entry, &member.digest, member.size, &run_dir.0, name)? {
                Extracted::Refused(e) => {
                    checks.push(
                        Check::new(
                            "smoke.extract",
                            false,
                            format!(
                                "the local copy's member was refused on extraction (rule {}); deleted, not executed",
                                e.rule().map_or("?", |r| r.id())
                            ),
                        )
                        .subject(&i.id)
                        .values(format!("bytes equal to the signed manifest ({})", member.digest.prefixed()), e.to_string()),
                    );
                    rec["reason"] = json!(format!("extraction refused: {e}"));
                }
                Extracted::Differs { expected, actual, size } => {
                    checks.push(
                        Check::new(
                            "smoke.extract",
                            false,
                            format!("extracted bytes ({size}) differ from the signed manifest; deleted, not executed"),
                        )
                        .subject(&i.id)
                        .values(expected.prefixed(), actual.prefixed()),
                    );
                    rec["reason"] = json!("extracted bytes differ from the signed manifest");
                }
                Extracted::Ready(path) => {
                    checks.push(
                        Check::new(
                            "smoke.extract",
                            true,
                            "extracted into a fresh private directory; bytes re-hashed and equal to the signed manifest",
                        )
                        .subject(&i.id)
                        .values(member.digest.prefixed(), member.digest.prefixed()),
                    );
                    let iso = iso.clone().expect("detected for host targets");
                    let run = match run_probe(&path, probe, &run_dir.0, &iso) {
                        Ok(r) => r,
                        Err(e) => {
                            checks.push(
                                Check::new("smoke.exit-code", false, "the probe could not be started")
                                    .subject(&i.id)
                                    .values(format!("exit {}", probe.expect_exit_code), format!("{e:#}")),
                            );
                            rec["reason"] = json!(format!("could not start: {e:#}"));
                            installers.push(rec);
                            continue;
                        }
                    };
                    let isolated = matches!(iso, Isolation::Unshare(..));
                    let mut net = Check::new("smoke.network", true, iso.describe()).subject(&i.id);
                    if !isolated {
                        net = net.info();
                    }
                    checks.push(net);
                    checks.extend(probe_checks(&i.id, probe, &run));
                    rec["executed"] = json!(true);
                    rec["reason"] = json!(format!("probe {:?}", probe.args));
                    rec["network"] = json!(iso.describe());
                    rec["networkIsolated"] = json!(isolated);
                    rec["environment"] = json!("empty");
                    rec["exit"] = json!(exit_text(&run, probe.timeout()));
                    rec["stdout"] = json!(excerpt(&run.stdout));
                    rec["stderr"] = json!(excerpt(&run.stderr));
                }
            }
            installers.push(rec);
        }
        Ok(Findings { checks, installers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::{Member, Release};
    use crate::keys::SecretKey;
    use crate::verify::{self, TrustPolicy, Verification};

    const BODY: &[u8] = b"#!/bin/sh\ntouch marker\n";

    /// A bundle holding `artifacts/tool` (stored), as tar or zip, its verified entry and member.
    fn bundle(zip: bool) -> (Vec<u8>, Entry, Member) {
        let member = Member {
            path: "artifacts/tool".into(),
            size: BODY.len() as u64,
            digest: Sha256Digest::of(BODY),
            kind: crate::bundle::Kind::Artifact,
        };
        let key = SecretKey::from_seed(&[7; 32]);
        let release = Release { product: "t".into(), version: "1.0.0".into(), commit: None, channel: None };
        let plan = crate::pack::plan(release, crate::time::Timestamp(0), vec![member.clone()], &[&key], Vec::new()).unwrap();
        let mut open = |n: &str| -> std::io::Result<Box<dyn Read>> {
            Ok(Box::new(std::io::Cursor::new(plan.control_bytes(n).map(<[u8]>::to_vec).unwrap_or_else(|| BODY.to_vec()))))
        };
        let t = crate::time::Timestamp(0);
        let bytes = if zip {
            crate::archive::write::write_zip(std::io::Cursor::new(Vec::new()), &plan.members, t, &mut open).unwrap().into_inner()
        } else {
            crate::archive::write::write_tar(Vec::new(), &plan.members, t, &mut open).unwrap()
        };
        let trust = TrustPolicy::ed25519([key.public().clone()], 1, "t");
        let Verification::Passed(v, _) = verify::verify(&bytes, &trust, &verify::Options::default(), &|_| {}).unwrap() else { panic!() };
        let entry = v.get().index().get("artifacts/tool").unwrap().clone();
        (bytes, entry, member)
    }

    #[test]
    fn bytes_that_differ_from_the_manifest_are_deleted_not_kept() {
        let (bytes, entry, member) = bundle(false);
        let entry = &entry;
        let tmp = tempfile::tempdir().unwrap();
        // The medium changes after verification: the same entry now holds other bytes.
        let mut changed = bytes.clone();
        changed[entry.data_offset as usize + 11] ^= 0x20;
        match extract(&changed, entry, &member.digest, member.size, tmp.path(), "tool").unwrap() {
            Extracted::Differs { expected, actual, .. } => assert_ne!(expected, actual),
            other => panic!("{other:?}"),
        }
        assert!(!tmp.path().join("tool").exists(), "a differing binary must not be left behind");
        match extract(&bytes, entry, &member.digest, member.size, tmp.path(), "tool").unwrap() {
            Extracted::Ready(p) => assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o755),
            other => panic!("{other:?}"),
        }
        // create-new: an existing file (or a planted symlink) is refused, never overwritten.
        assert!(extract(&bytes, entry, &member.digest, member.size, tmp.path(), "tool").is_err());
        std::os::unix::fs::symlink("/tmp/elsewhere", tmp.path().join("link")).unwrap();
        assert!(extract(&bytes, entry, &member.digest, member.size, tmp.path(), "link").is_err());
    }

    #[test]
    fn a_crc_error_on_extraction_is_a_refusal_not_a_digest_difference() {
        let (bytes, entry, member) = bundle(true);
        let tmp = tempfile::tempdir().unwrap();
        let mut changed = bytes.clone();
        changed[entry.data_offset as usize + 11] ^= 0x20;
        match extract(&changed, &entry, &member.digest, member.size, tmp.path(), "tool").unwrap() {
            Extracted::Refused(e) => assert_eq!(e.rule(), Some(archive::Rule::Crc), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(!tmp.path().join("tool").exists(), "a refused binary must not be left behind");
    }

    /// The bytes of a bundle whose reads fail (not end early) from `from` on.
    struct FailingFrom(Vec<u8>, u64);

    impl ByteSource for FailingFrom {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
            if offset >= self.1 {
                return Err(std::io::Error::other("input/output error on the medium"));
            }
            self.0.as_slice().read_at(offset, buf)
        }
    }

    #[test]
    fn a_read_error_on_extraction_is_an_error_not_a_digest_difference() {
        let (bytes, entry, member) = bundle(true);
        let tmp = tempfile::tempdir().unwrap();
        let src = FailingFrom(bytes, entry.data_offset);
        let e = extract(&src, &entry, &member.digest, member.size, tmp.path(), "tool").unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("cannot read member artifacts/tool") && text.contains("input/output error"), "{text}");
        assert!(!tmp.path().join("tool").exists(), "nothing left behind on a read error");
    }
}
