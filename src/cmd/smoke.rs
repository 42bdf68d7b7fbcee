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
//! 4. Runs the probe with only `HOME` and `TMPDIR` (inside the private run directory), stdin
//!    empty or the probe's `stdin` document, a timeout, in its own process group and, where permitted, its own network, PID and
//!    mount namespaces (`unshare`; the report states which held and why the others could not be
//!    set up); checks exit code and output, and that nothing it started outlived it
//!    (`smoke.descendants`); the whole group (or namespace) is killed when it ends. Other
//!    platforms are reported as not executed.

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
#[command(after_help = "The bundle is copied to a private local directory and verified there first. Every installer target\n\
is validated statically; the one for this host's os/arch is extracted (bytes re-hashed against the\n\
signed manifest) and its probe run with only HOME and TMPDIR (private), a timeout, its own process\n\
group and, where permitted, its own network, PID and mount namespaces (`unshare`); a process it\n\
leaves running fails the smoke and is killed. Exit 0: all checks passed. 1: a check failed. 2: could\n\
not check.\n\n\
Examples:\n  \
airlock smoke app-1.2.0.zip                      # the pinned trust root's release role\n  \
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
        let md = fs::symlink_metadata(&p).with_context(|| format!("cannot inspect {}", p.display()))?;
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
    to.flush().with_context(|| format!("writing {}", dest.display()))?;
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
    f.set_permissions(fs::Permissions::from_mode(0o755))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("making {} executable and durable", path.display()))?;
    drop(f);
    Ok(Extracted::Ready(path))
}

/// The namespace init a probe runs under when airlock has its own PID namespace: `sh` as PID 1
/// runs the probe (stdin from the file named by its first argument, `/dev/null` or the probe's
/// `stdin` document; without the report descriptor), then counts the processes of
/// the namespace other than itself and not yet dead (zombies are not running), and writes
/// `EXIT COUNT NAME...` to the report pipe (its stdin on entry, moved to fd 3). It exits with
/// the probe's status; the kernel then kills whatever is left in the namespace.
const NAMESPACE_INIT: &str = r#"exec 3<&0 0</dev/null
unset PWD
input=$1
shift
"$@" <"$input" 3<&-
rc=$?
n=0
names=
for p in /proc/[0-9]*; do
  [ "$p" = /proc/1 ] && continue
  s=
  read -r s < "$p/stat" 2>/dev/null || continue
  c=${s#*(}
  c=${c%)*}
  s=${s##*) }
  case "$s" in Z*|X*) continue ;; esac
  n=$((n+1))
  names="$names $c"
done
echo "$rc $n$names" >&3
exit "$rc"
"#;

/// The confinement a probe runs under: which of network, PID and mount namespaces airlock set
/// up, and why the others could not be. The probe always runs in its own process group.
#[derive(Clone, Debug)]
struct Isolation {
    /// `unshare` and its flags, when any namespace is used.
    unshare: Option<(PathBuf, Vec<&'static str>)>,
    /// A new empty network namespace.
    network: bool,
    /// A new PID namespace with its own `/proc` (the probe's descendants are counted and killed
    /// with it).
    pid: bool,
    /// A new mount namespace.
    mount: bool,
    /// Why what is missing could not be set up.
    why_not: Vec<String>,
}

impl Isolation {
    fn detect() -> Isolation {
        let none = |why: &str| Isolation { unshare: None, network: false, pid: false, mount: false, why_not: vec![why.to_string()] };
        let Some(bin) = ["/usr/bin/unshare", "/bin/unshare"].iter().map(PathBuf::from).find(|p| p.is_file()) else {
            return none("unshare(1) is not installed: no network, PID or mount namespace");
        };
        let works = |flags: &[&str]| {
            Command::new(&bin)
                .args(flags)
                .arg("--")
                .arg(&bin)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let mut why_not = Vec::new();
        if Path::new(SH).is_file() {
            for flags in [
                vec!["-n", "-p", "-f", "--kill-child", "-m", "--mount-proc"],
                vec!["-c", "-n", "-p", "-f", "--kill-child", "-m", "--mount-proc"],
            ] {
                if works(&flags) {
                    return Isolation { unshare: Some((bin, flags)), network: true, pid: true, mount: true, why_not };
                }
            }
            why_not.push("`unshare -p -f -m --mount-proc` is not permitted here: no PID or mount namespace".into());
        } else {
            why_not.push(format!("{SH} is missing (the PID namespace's init): no PID or mount namespace"));
        }
        for flags in [vec!["-n"], vec!["-c", "-n"]] {
            if works(&flags) {
                return Isolation { unshare: Some((bin, flags)), network: true, pid: false, mount: false, why_not };
            }
        }
        why_not.push("`unshare -n` is not permitted here (no CAP_SYS_ADMIN and no user namespaces): no network namespace".into());
        Isolation { unshare: None, network: false, pid: false, mount: false, why_not }
    }

    fn describe(&self) -> String {
        match &self.unshare {
            Some((_, flags)) if self.network => format!("isolated: new empty network namespace (unshare {})", flags.join(" ")),
            _ => format!("NOT isolated: {}", self.why_not.join("; ")),
        }
    }

    /// The report's `isolation` object: what held and what could not be set up.
    fn record(&self) -> Value {
        json!({
            "network": self.network,
            "pid": self.pid,
            "mount": self.mount,
            "processGroup": true,
            "how": self.unshare.as_ref().map_or_else(|| "no namespaces".to_string(), |(_, f)| format!("unshare {}", f.join(" "))),
            "notSetUp": self.why_not,
        })
    }
}

/// The shell that is the PID namespace's init.
const SH: &str = "/bin/sh";

/// What a probe run produced.
#[derive(Debug)]
struct Run {
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Processes started by the probe still running when it exited (their names), or why that
    /// could not be told; `Ok(vec![])` when none. Not looked at after a timeout.
    survivors: std::result::Result<Vec<String>, String>,
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

/// The live (not zombie) processes of process group `pgid`, by name, from `/proc`.
fn group_members(pgid: u32) -> std::result::Result<Vec<String>, String> {
    let dir = fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    let mut out = Vec::new();
    for e in dir.flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Gone in between: not running.
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("Z");
        let pgrp = rest.nth(1).and_then(|g| g.parse::<u32>().ok());
        if pgrp == Some(pgid) && !matches!(state, "Z" | "X") {
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_string();
            out.push(if cmd.is_empty() { name.to_string() } else { cmd });
        }
    }
    Ok(out)
}

/// Sends SIGKILL to every process of group `pgid` (none left is fine).
fn kill_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn run_probe(bin: &Path, probe: &Probe, cwd: &Path, iso: &Isolation) -> Result<Run> {
    use std::os::unix::process::CommandExt;
    let home = cwd.join("home");
    let tmp = cwd.join("tmp");
    for d in [&home, &tmp] {
        fs::DirBuilder::new().mode(0o700).create(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    // The probe's stdin document, if any, is a file in the private run directory (create-new,
    // 0600): the probe reads it to its end, and nothing waits on a pipe.
    let input = match &probe.stdin {
        Some(text) => {
            let p = cwd.join("probe-stdin");
            let mut f = create_new(&p, 0o600)?;
            f.write_all(text.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
            p
        }
        None => PathBuf::from("/dev/null"),
    };
    let stdin = || -> Result<Stdio> {
        Ok(match probe.stdin {
            Some(_) => Stdio::from(fs::File::open(&input).with_context(|| format!("cannot open {}", input.display()))?),
            None => Stdio::null(),
        })
    };
    let mut report = None;
    let mut cmd = match &iso.unshare {
        Some((u, flags)) if iso.pid => {
            let (r, w) = std::io::pipe().context("cannot make the probe's report pipe")?;
            report = Some(r);
            let mut c = Command::new(u);
            c.args(flags).arg("--").arg(SH).arg("-c").arg(NAMESPACE_INIT).arg("airlock-probe-init").arg(&input).arg(bin).stdin(w);
            c
        }
        Some((u, flags)) => {
            let mut c = Command::new(u);
            c.args(flags).arg("--").arg(bin).stdin(stdin()?);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.stdin(stdin()?);
            c
        }
    };
    cmd.args(&probe.args)
        .env_clear()
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .current_dir(cwd)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()));
    // Our copy of the report pipe's write end goes with the command: the reader sees its end
    // when the namespace's init is gone.
    drop(cmd);
    let mut child = spawned?;
    let pgid = child.id();
    let (out, ho) = drain(child.stdout.take().expect("piped"));
    let (err, he) = drain(child.stderr.take().expect("piped"));
    let reported = report.map(drain);
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
    // Without a PID namespace, what is still in the probe's group when it has exited outlived it.
    let mut survivors = match (&reported, timed_out) {
        (None, false) => group_members(pgid),
        _ => Ok(vec![]),
    };
    // The whole group goes, whatever happened; in a PID namespace, killing `unshare` kills its
    // child, the namespace's init (--kill-child), and with it every process of the namespace.
    kill_group(pgid);
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
    }
    // A grandchild may still hold the pipes: wait at most a second for the readers.
    for _ in 0..100 {
        if ho.is_finished() && he.is_finished() && reported.as_ref().is_none_or(|(_, h)| h.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let take = |b: &Arc<Mutex<Vec<u8>>>| b.lock().expect("no panic while holding the lock").clone();
    if let (Some((r, _)), false) = (&reported, timed_out) {
        survivors = parse_init_report(&take(r));
    }
    Ok(Run { status, timed_out, stdout: take(&out), stderr: take(&err), survivors })
}

/// Reads the namespace init's `EXIT COUNT NAME...` line: the names of the processes that
/// outlived the probe.
fn parse_init_report(line: &[u8]) -> std::result::Result<Vec<String>, String> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    let (Some(_exit), Some(n)) = (words.next(), words.next().and_then(|n| n.parse::<usize>().ok())) else {
        return Err(format!("the PID namespace's init reported nothing readable ({:?})", text.trim()));
    };
    let names: Vec<String> = words.map(str::to_string).collect();
    // A name holding a space splits in two: the count decides, the names are shown as read.
    if names.len() != n {
        return Ok(vec![names.join(" "); n]);
    }
    Ok(names)
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
            Ok(Some(v)) => (j.accepts(v), v.to_string()),
            Ok(None) => (false, format!("nothing at {}", j.pointer)),
            Err(e) => (false, format!("stdout is not strict JSON: {e}")),
        };
        out.push(
            Check::new("smoke.output-json", ok, format!("stdout JSON at {:?}", j.pointer)).subject(id).values(j.expected_text(), actual),
        );
    }
    out
}

/// `smoke.descendants`: no process the probe started may still run when it has exited (all of
/// them are killed either way). Not judged after a timeout (`smoke.exit-code` fails already).
fn descendants_check(id: &str, r: &Run, iso: &Isolation) -> Option<Check> {
    if r.timed_out {
        return None;
    }
    let scope = if iso.pid {
        "in its PID namespace"
    } else {
        "in its process group (a process that left the group is not seen without a PID namespace)"
    };
    Some(match &r.survivors {
        Ok(v) if v.is_empty() => Check::new("smoke.descendants", true, format!("no process the probe started outlived it {scope}"))
            .subject(id)
            .values("none", "none"),
        Ok(v) => Check::new(
            "smoke.descendants",
            false,
            format!(
                "{} process(es) the probe started were still running when it exited {scope}; killed. A probe must wait for what it starts",
                v.len()
            ),
        )
        .subject(id)
        .values("none", v.join(", ")),
        Err(why) => {
            Check::new("smoke.descendants", false, format!("could not tell whether processes the probe started outlived it: {why}"))
                .subject(id)
                .values("none", "unknown")
        }
    })
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
                    let isolated = iso.network;
                    let mut net = Check::new("smoke.network", true, iso.describe()).subject(&i.id);
                    if !isolated {
                        net = net.info();
                    }
                    checks.push(net);
                    checks.extend(probe_checks(&i.id, probe, &run));
                    if let Some(c) = descendants_check(&i.id, &run, &iso) {
                        checks.push(c);
                    }
                    rec["executed"] = json!(true);
                    rec["reason"] = json!(format!("probe {:?}", probe.args));
                    rec["network"] = json!(iso.describe());
                    rec["networkIsolated"] = json!(isolated);
                    rec["isolation"] = iso.record();
                    rec["environment"] = json!("HOME and TMPDIR only, both inside the private run directory");
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

    /// Without a PID namespace the probe's process group is what is watched: a background
    /// process still in it when the probe exits fails `smoke.descendants` and is killed.
    #[test]
    fn without_a_pid_namespace_the_process_group_is_watched_and_killed() {
        let marker = format!("1000.{}424242", std::process::id());
        let tmp = tempfile::tempdir().unwrap();
        let probe = Probe {
            args: vec!["-c".into(), format!("/bin/sleep {marker} & exit 0")],
            expect_exit_code: 0,
            expect_output: None,
            expect_json: None,
            stdin: None,
            timeout_seconds: Some(20),
        };
        let iso = Isolation { unshare: None, network: false, pid: false, mount: false, why_not: vec!["test".into()] };
        let run = run_probe(Path::new("/bin/sh"), &probe, tmp.path(), &iso).unwrap();
        assert_eq!(exit_text(&run, 20), "exit 0");
        let c = descendants_check("t", &run, &iso).unwrap();
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(run.survivors.as_ref().unwrap().iter().any(|n| n.contains(&marker)), "{:?}", run.survivors);
        let alive = || {
            fs::read_dir("/proc").unwrap().flatten().any(|e| {
                let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                let running = stat.rfind(')').is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z'));
                running && fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            })
        };
        for _ in 0..50 {
            if !alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "the background process survived");
        // A probe that waits for what it starts passes.
        let probe = Probe { args: vec!["-c".into(), "/bin/sleep 0.1 & wait".into()], ..probe };
        let run = run_probe(Path::new("/bin/sh"), &probe, tmp.path().join("home").parent().unwrap(), &iso);
        assert!(run.is_err(), "home exists already: the run directory is fresh per run");
        let fresh = tempfile::tempdir().unwrap();
        let run = run_probe(Path::new("/bin/sh"), &probe, fresh.path(), &iso).unwrap();
        assert_eq!(descendants_check("t", &run, &iso).unwrap().status, Status::Pass, "{:?}", run.survivors);
    }

    /// The probe's `stdin` document reaches it, with and (where this host permits one) under a
    /// PID namespace, whose init must hand it on; without one, stdin is empty.
    #[test]
    fn the_probe_reads_its_stdin_document() {
        let none = Isolation { unshare: None, network: false, pid: false, mount: false, why_not: vec!["test".into()] };
        for iso in [none, Isolation::detect()] {
            for (stdin, want) in [(Some("{\"a\":1}\n"), "{\"a\":1}\n"), (None, "")] {
                let tmp = tempfile::tempdir().unwrap();
                let probe = Probe {
                    args: vec!["-c".into(), "cat".into()],
                    expect_exit_code: 0,
                    expect_output: None,
                    expect_json: None,
                    stdin: stdin.map(str::to_string),
                    timeout_seconds: Some(20),
                };
                let run = run_probe(Path::new(SH), &probe, tmp.path(), &iso).unwrap();
                assert_eq!(
                    (exit_text(&run, 20).as_str(), String::from_utf8_lossy(&run.stdout).as_ref()),
                    ("exit 0", want),
                    "{}",
                    iso.describe()
                );
            }
        }
    }

    #[test]
    fn the_namespace_init_report_is_read_strictly() {
        assert_eq!(parse_init_report(b"0 0\n"), Ok(vec![]));
        assert_eq!(parse_init_report(b"0 1 sleep\n"), Ok(vec!["sleep".to_string()]));
        assert!(parse_init_report(b"").is_err());
        assert!(parse_init_report(b"0 x").is_err());
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
