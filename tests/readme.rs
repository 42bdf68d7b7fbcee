//! README.md runs as written: every `$ …` line of its ```` ```console ```` blocks is run, in
//! order, in a scratch directory holding a copy of `examples/` (as from a checkout's root), with
//! `AIRLOCK_HOME` in that directory and this build's `airlock` first on `PATH`; the exit code and
//! the output lines the README shows must match. And the README covers every command.

mod cli_support;

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_readme_console_examples_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("checkout");
    cli_support::copy_tree(&repo().join("examples"), &work.join("examples"));
    let steps = cli_support::run_console("README.md", &readme, &work, &t.path().join("home"));
    assert!(steps.len() >= 40, "only {} README commands ran", steps.len());
    assert!(steps.iter().any(|s| s.exit == 1), "the README shows a refusal too");
}

/// Every command and subcommand `airlock help` lists appears in a console block (`$ airlock CMD
/// SUB`), but those that need data from outside (a TUF or log mirror, a Sigstore bundle), which
/// the README shows in its reference sections.
#[test]
fn the_readme_runs_every_command() {
    const OUTSIDE_DATA: &[&str] = &["trust import-tuf", "tlog import", "tlog prove", "tlog verify-proof", "sigstore verify"];
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ran: Vec<String> = cli_support::console_steps(&readme)
        .into_iter()
        .map(|s| s.command.split_whitespace().skip_while(|w| w.contains('=')).collect::<Vec<_>>().join(" "))
        .collect();
    let home = tempfile::tempdir().unwrap();
    let list = |args: &[&str]| -> Vec<String> {
        let o = cli_support::run_airlock(home.path(), home.path(), &[], args);
        let text = o.stdout;
        let commands = text.split("Commands:").nth(1).unwrap_or_default().split("Options:").next().unwrap_or_default();
        commands
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    };
    let mut missing = Vec::new();
    let top = list(&["--help"]);
    assert!(top.len() > 15, "airlock --help lists the commands: {top:?}");
    for cmd in top {
        let subs = list(&[&cmd, "--help"]);
        let names = if subs.is_empty() { vec![cmd.clone()] } else { subs.iter().map(|s| format!("{cmd} {s}")).collect() };
        for name in names {
            let shown = ran.iter().any(|r| r == &format!("airlock {name}") || r.starts_with(&format!("airlock {name} ")));
            if !shown && !OUTSIDE_DATA.contains(&name.as_str()) {
                missing.push(name);
            }
        }
    }
    assert!(missing.is_empty(), "commands no README console block runs: {missing:?}");
}

/// The runner fails on a wrong exit code and on output the document shows but the command did
/// not print (so a README that drifts from the program fails).
#[test]
fn a_console_block_that_does_not_match_fails() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let run = |doc: &'static str| {
        let (dir, home) = (t.path().to_path_buf(), home.clone());
        std::panic::catch_unwind(move || cli_support::run_console("doc", doc, &dir, &home)).is_ok()
    };
    assert!(run("```console\n$ airlock --version\nairlock\n```\n"));
    assert!(!run("```console\n$ airlock --version\nsomething it never prints\n```\n"));
    assert!(!run("```console\n$ airlock verify missing.zip --no-record\n```\n"), "exit 2 where the document says 0");
    assert!(run("```console\n$ airlock verify missing.zip \\\n    --no-record\n...\n[exit 2]\n```\n"));
}
