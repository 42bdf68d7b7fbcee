//! What a new user meets first: errors that blame the right thing and name the path and what
//! airlock was doing, and the man pages written one per command.

mod cli_support;

use cli_support::run_airlock;
use std::path::Path;

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    (t, home)
}

/// Every `error:` line is followed by exactly one `hint:` line; no hint hides inside a message.
fn one_hint_per_error(stderr: &str) {
    let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    let hints = stderr.lines().filter(|l| l.starts_with("hint: ")).count();
    assert!(errors > 0, "no error printed:\n{stderr}");
    assert_eq!(errors, hints, "one hint per error:\n{stderr}");
    assert!(!stderr.contains("  hint:"), "a hint inside a message:\n{stderr}");
    assert!(!stderr.to_lowercase().contains("caused by"), "a cause printed again:\n{stderr}");
    for l in stderr.lines().filter(|l| l.starts_with("error: ")) {
        let parts: Vec<&str> = l.split(": ").collect();
        for w in parts.windows(2) {
            assert_ne!(w[0], w[1], "a layer of the message repeated: {l}");
        }
    }
}

#[test]
fn a_bad_version_option_blames_the_option_not_manifest_json() {
    let (t, home) = setup();
    let dir = t.path();
    assert_eq!(run_airlock(dir, &home, &[], &["keygen", "-o", "k", "--quiet"]).code, 0);
    std::fs::create_dir_all(dir.join("rel/artifacts")).unwrap();
    std::fs::write(dir.join("rel/artifacts/app"), b"app").unwrap();
    for (flag, value, rule) in [("--version", "1.x", "release.version"), ("--product", "a b", "release.product")] {
        let mut args = vec!["pack", "rel", "-o", "app.zip", "--key", "k.key", "--product", "app", "--version", "1.0.0"];
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        let o = run_airlock(dir, &home, &[], &args);
        assert_eq!(o.code, 2, "{}", o.stderr);
        let first = o.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with(&format!("error: {flag} ")), "blames {flag}: {first}");
        assert!(first.contains(rule) && first.contains(value), "names the rule and the value: {first}");
        assert!(!o.stderr.contains("manifest.json"), "no manifest exists yet: {}", o.stderr);
        assert!(!dir.join("app.zip").exists(), "nothing written on refusal");
        one_hint_per_error(&o.stderr);
    }
}

#[test]
fn the_demo_names_the_directory_it_could_not_create() {
    let (t, home) = setup();
    let missing = t.path().join("no-such-tmp");
    let o = run_airlock(t.path(), &home, &[("TMPDIR", missing.to_str().unwrap())], &["demo", "--quiet"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("creating the demo directory {}", missing.display())), "{}", o.stderr);
    assert!(o.stderr.contains("No such file or directory"), "{}", o.stderr);
    one_hint_per_error(&o.stderr);

    let keep = t.path().join("no-such-parent/demo");
    let o = run_airlock(t.path(), &home, &[], &["demo", "--quiet", "--keep", keep.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("creating the demo directory {}", keep.display())), "{}", o.stderr);
    assert!(!o.stderr.contains("must not exist yet"), "the directory does not exist; its parent is missing: {}", o.stderr);
    one_hint_per_error(&o.stderr);
}

/// As on a bare chroot: the state directory cannot be made (a file stands where its parent
/// should be). Each message names the path and what airlock was doing with it, once.
#[test]
fn an_unusable_state_directory_is_named_in_every_message() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("file"), b"").unwrap();
    let home = t.path().join("file/home");
    let o = run_airlock(t.path(), &home, &[], &["keygen", "-o", "k", "--quiet"]);
    assert_eq!(o.code, 0, "keygen needs no state: {}", o.stderr);
    for args in [&["verify", "nothing.zip", "--key", "k.pub"][..], &["trust", "status"], &["tlog", "status"]] {
        let o = run_airlock(t.path(), &home, &[], args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(&home.display().to_string()), "{args:?} names {}:\n{}", home.display(), o.stderr);
        one_hint_per_error(&o.stderr);
    }
}

#[test]
fn man_dir_writes_one_page_per_command_with_its_options() {
    let (t, home) = setup();
    let o = run_airlock(t.path(), &home, &[], &["man", "man1", "--quiet"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let page = |n: &str| std::fs::read_to_string(t.path().join("man1").join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    assert!(page("airlock.1").contains("verify"), "the top page lists the commands");
    assert!(page("airlock-pack.1").contains("from\\-cavra"), "pack's page has its options");
    assert!(page("airlock-trust-init.1").contains("fingerprint"), "nested commands get their own page");
    assert!(page("airlock-promotion-approve.1").contains("reason"), "nested commands get their own page");
    assert!(!Path::new(&t.path().join("man1/airlock-help.1")).exists(), "no page for clap's help");
    let printed = run_airlock(t.path(), &home, &[], &["man"]);
    assert_eq!(printed.code, 0);
    assert!(
        printed.stdout.contains("airlock\\-trust\\-init") || printed.stdout.contains("airlock-trust-init"),
        "without DIR every page is printed"
    );
}
