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

/// `script` run by `sh -c` in `dir`, with this `airlock` first on `PATH` (a link in a directory
/// beside `home`) and the environment of [`command`]: how documentation examples run exactly as
/// a reader would type them (`$(…)`, pipes, `VAR=value airlock …`).
pub fn shell(home: &Path, dir: &Path, script: &str) -> Out {
    let bin = home.with_file_name(format!("{}.bin", home.file_name().and_then(|n| n.to_str()).unwrap_or("home")));
    if !bin.join("airlock").exists() {
        std::fs::create_dir_all(&bin).expect("bin directory");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_airlock"), bin.join("airlock")).expect("link to airlock");
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("AIRLOCK_HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh -c {script:?}: {e}"));
    Out::from(o)
}

/// One `$ command` of a ```` ```console ```` block: the lines shown after it (each must appear in
/// what it printed; `...` stands for anything) and the exit code a `[exit N]` line states (else 0).
#[derive(Debug)]
pub struct ConsoleStep {
    /// 1-based line of the `$` in the document.
    pub line: usize,
    /// The command, continuation lines (`\` at the end) joined.
    pub command: String,
    /// Lines its output must contain.
    pub expect: Vec<String>,
    /// Its exit code.
    pub exit: i32,
}

/// The steps of every ```` ```console ```` block of a Markdown document, in order.
pub fn console_steps(markdown: &str) -> Vec<ConsoleStep> {
    let mut steps: Vec<ConsoleStep> = Vec::new();
    let (mut inside, mut continued) = (false, false);
    for (n, line) in markdown.lines().enumerate() {
        let t = line.trim_end();
        if !inside {
            inside = t.trim_start() == "```console";
            continue;
        }
        if t.trim_start() == "```" {
            inside = false;
            continue;
        }
        if continued {
            let s = steps.last_mut().expect("a step is open");
            s.command.push('\n');
            s.command.push_str(t);
            continued = t.ends_with('\\');
        } else if let Some(cmd) = t.strip_prefix("$ ") {
            steps.push(ConsoleStep { line: n + 1, command: cmd.to_string(), expect: Vec::new(), exit: 0 });
            continued = t.ends_with('\\');
        } else if let Some(s) = steps.last_mut() {
            let t = t.trim();
            if let Some(code) = t.strip_prefix("[exit ").and_then(|c| c.strip_suffix(']')) {
                s.exit = code.parse().unwrap_or_else(|_| panic!("line {}: bad exit line {t:?}", n + 1));
            } else if !t.is_empty() && t != "..." {
                s.expect.push(t.to_string());
            }
        } else {
            panic!("line {}: output before any `$ command` in a console block", n + 1);
        }
    }
    assert!(!inside, "a console block is not closed");
    steps
}

/// Runs every console step of `markdown` (named `name` in failures) in `dir` with state in
/// `home`, failing on the first command whose exit code or output differs from the document.
/// Returns the steps run.
pub fn run_console(name: &str, markdown: &str, dir: &Path, home: &Path) -> Vec<ConsoleStep> {
    let steps = console_steps(markdown);
    for s in &steps {
        let o = shell(home, dir, &s.command);
        let printed = format!("{}{}", o.stdout, o.stderr);
        assert_eq!(o.code, s.exit, "{name}:{}: `{}` exited {}, the document says {}:\n{printed}", s.line, s.command, o.code, s.exit);
        for want in &s.expect {
            assert!(printed.contains(want.as_str()), "{name}:{}: `{}` did not print {want:?}:\n{printed}", s.line, s.command);
        }
    }
    steps
}

/// Copies the directory tree `from` to `to` (regular files and directories), for a test that
/// runs documented commands over a copy of the repository's examples.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every file below `dir`, as paths relative to it (`/`-separated), sorted: what a harness
/// compares with the cases it knows, so an unknown file fails it.
pub fn files_under(dir: &Path) -> std::collections::BTreeSet<String> {
    fn walk(d: &Path, base: &Path, out: &mut std::collections::BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_str().expect("a UTF-8 path").to_string());
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}
