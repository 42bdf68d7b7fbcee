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

/// Runs `airlock ARGS` in `dir` with `AIRLOCK_HOME=home` and `env` set.
pub fn run_airlock(dir: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(dir)
        .env("AIRLOCK_HOME", home)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run airlock {args:?}: {e}"));
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}
