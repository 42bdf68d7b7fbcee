//! Shared by the tests that drive the `airlock` binary in a scratch directory: one way to run
//! it (working directory, `AIRLOCK_HOME`, extra environment) and its captured output.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// What one run printed and how it exited.
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Out {
    /// Standard output as JSON, or a panic that shows both streams.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// The one way a test builds an `airlock` command (a test under `tests/` that names the binary
/// anywhere else fails `every_binary_run_goes_through_cli_support`): its state lives in `home`,
/// never the machine's real store, and nothing the binary reads from the environment is
/// inherited from the machine (`XDG_DATA_HOME`, `SOURCE_DATE_EPOCH`; `NO_COLOR` is set). Tests
/// that need `SOURCE_DATE_EPOCH` set it on the returned command.
pub fn command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
    c.env("AIRLOCK_HOME", home).env_remove("XDG_DATA_HOME").env_remove("SOURCE_DATE_EPOCH").env("NO_COLOR", "1");
    c
}

/// [`command`] run under libfaketime with the real clock `hours` ahead (every clock read of the
/// process, as on a machine whose clock moved on): how a test lets time pass where airlock
/// decides by the real clock and refuses `--at-time` (a promotion's soak). `None` when
/// `faketime` is not installed (`cargo xtask setup` installs it; CI requires it through
/// `AIRLOCK_REQUIRE_INTEROP`).
pub fn command_later(home: &Path, hours: u32) -> Option<Command> {
    if !Command::new("faketime").args(["-f", "+0", "true"]).status().is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("AIRLOCK_REQUIRE_INTEROP").is_none(), "faketime is required here (cargo xtask setup installs it)");
        return None;
    }
    Some(command_via(home, &["faketime", "-f", &format!("+{hours}h")]))
}

/// [`command`] started through `wrapper` (a program and its arguments, which run the binary
/// given as their last argument, e.g. `faketime -f +1h` or a shell that sets a limit and execs).
pub fn command_via(home: &Path, wrapper: &[&str]) -> Command {
    let mut c = Command::new(wrapper[0]);
    c.args(&wrapper[1..]).arg(env!("CARGO_BIN_EXE_airlock"));
    c.env("AIRLOCK_HOME", home).env_remove("XDG_DATA_HOME").env_remove("SOURCE_DATE_EPOCH").env("NO_COLOR", "1");
    c
}

/// Runs `airlock ARGS` in `dir` with `AIRLOCK_HOME=home` and `env` set.
pub fn run_airlock(dir: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let o = command(home)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run airlock {args:?}: {e}"));
    Out::from(o)
}

impl From<std::process::Output> for Out {
    fn from(o: std::process::Output) -> Self {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

/// The evidence ledger under `home`, oldest first, as `(command, outcome)` pairs (read with
/// `airlock evidence search`, which records nothing).
pub fn ledger(home: &Path) -> Vec<(String, String)> {
    let o = command(home).args(["evidence", "search", "--json", "--no-progress"]).output().expect("airlock runs");
    assert!(o.status.success(), "evidence search: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("evidence search --json prints JSON");
    let mut rows: Vec<(String, String)> = v["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| (r["command"].as_str().unwrap_or_default().to_string(), r["outcome"].as_str().unwrap_or_default().to_string()))
        .collect();
    rows.reverse();
    rows
}
