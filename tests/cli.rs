//! End-to-end tests of the binary for bundle format v1: keygen, pack, inspect, verify, demo.

mod cli_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs airlock in `dir`, with its state in `dir/airlock-home`.
fn airlock(dir: &Path, args: &[&str]) -> Output {
    cli_support::command(&dir.join("airlock-home"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run airlock")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// True when `tool` exists; when it does not, fails under AIRLOCK_REQUIRE_INTEROP=1, else skips.
fn have(tool: &str) -> bool {
    let ok = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("AIRLOCK_REQUIRE_INTEROP").is_err(), "{tool} is required (run `cargo xtask setup`)");
        eprintln!("SKIP: {tool} not installed; run `cargo xtask setup`");
    }
    ok
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let rel = dir.join("rel");
    for (p, b) in [
        ("artifacts/app-linux-amd64", (0..70_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<u8>>()),
        ("artifacts/app-darwin-arm64", b"mach-o pretend\n".repeat(3)),
        ("sbom/app.cdx.json", br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#.repeat(50)),
        ("vex/app.openvex.json", br#"{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}"#.to_vec()),
        ("release/notes with space.md", b"notes\n".to_vec()),
    ] {
        fs::create_dir_all(rel.join(p).parent().unwrap()).unwrap();
        fs::write(rel.join(p), b).unwrap();
    }
    for k in ["a", "b", "c"] {
        let o = airlock(&dir, &["keygen", "-o", k]);
        assert!(o.status.success(), "{}", text(&o));
    }
    Fixture { _tmp: tmp, dir }
}

fn pack(f: &Fixture, out: &str, keys: &[&str]) -> Output {
    let mut args = vec!["pack", "rel", "-o", out, "--product", "app", "--version", "1.2.0", "--commit", "abcdef0", "--no-progress"];
    for k in keys {
        args.push("--key");
        args.push(k);
    }
    airlock(&f.dir, &args)
}

#[test]
fn keygen_writes_0600_secret_and_refuses_to_overwrite() {
    let f = fixture();
    let mode = fs::metadata(f.dir.join("a.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let o = airlock(&f.dir, &["keygen", "-o", "a"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("must not exist"), "{}", text(&o));
}

#[test]
fn pack_is_byte_reproducible_for_zip_and_tar() {
    let f = fixture();
    for ext in ["zip", "tar"] {
        let (one, two) = (format!("one.{ext}"), format!("two.{ext}"));
        assert!(pack(&f, &one, &["a.key", "b.key"]).status.success());
        // Touch the inputs: mtimes must not matter.
        let p = f.dir.join("rel/vex/app.openvex.json");
        let b = fs::read(&p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        fs::write(&p, &b).unwrap();
        let o = pack(&f, &two, &["b.key", "a.key"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(fs::read(f.dir.join(&one)).unwrap() == fs::read(f.dir.join(&two)).unwrap(), "{ext}: two packs differ");
    }
}

#[test]
fn unzip_then_sha256sum_c_passes() {
    if !have("unzip") || !have("sha256sum") {
        return;
    }
    let f = fixture();
    assert!(pack(&f, "b.zip", &["a.key"]).status.success());
    let x = f.dir.join("x");
    fs::create_dir(&x).unwrap();
    let o = Command::new("unzip").arg("-q").arg(f.dir.join("b.zip")).current_dir(&x).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("sha256sum").args(["-c", "--strict", "checksums.txt"]).current_dir(&x).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.ends_with(": OK")).count(), 5);
}

#[test]
fn valid_bundle_verifies_and_lists_every_check() {
    let f = fixture();
    assert!(pack(&f, "b.zip", &["a.key", "b.key"]).status.success());
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.pub", "--key", "b.pub", "--key", "c.pub", "--threshold", "2"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    for id in ["archive.structure", "signature.threshold", "members.set", "checksums.agreement", "manifest.merkle-root"] {
        assert!(t.contains(&format!("PASS {id}")), "{id} missing from\n{t}");
    }
    // The five members' passes are one check that counts them; nothing is listed per passed member.
    assert_eq!(t.matches("PASS member.digest").count(), 1, "{t}");
    assert!(t.contains("5 of 5 listed members: size and SHA-256 equal the signed records"), "{t}");
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.pub", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"], "pass");
    let digests: Vec<&serde_json::Value> = r["checks"].as_array().unwrap().iter().filter(|c| c["id"] == "member.digest").collect();
    assert_eq!(digests.len(), 1, "{r}");
    assert_eq!((&digests[0]["status"], &digests[0]["subject"]), (&"pass".into(), &serde_json::Value::Null), "{r}");
}

#[test]
fn flipping_a_byte_of_any_member_fails_naming_it() {
    let f = fixture();
    for (ext, compress) in [("zip", "store"), ("tar", "auto"), ("zip", "deflate")] {
        let name = format!("b-{compress}.{ext}");
        let o = airlock(
            &f.dir,
            &[
                "pack",
                "rel",
                "-o",
                &name,
                "--product",
                "app",
                "--version",
                "1.2.0",
                "--key",
                "a.key",
                "--compress",
                compress,
                "--no-progress",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let bytes = fs::read(f.dir.join(&name)).unwrap();
        let index = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
        for e in index.entries.iter().filter(|e| !airlock::bundle::CONTROL.contains(&e.name.as_str())) {
            let mut t = bytes.clone();
            t[(e.data_offset + e.stored_size / 2) as usize] ^= 0x04;
            let tampered = f.dir.join("t.bin");
            fs::write(&tampered, &t).unwrap();
            let o = airlock(&f.dir, &["verify", "t.bin", "--key", "a.pub", "--json"]);
            assert_eq!(o.status.code(), Some(1), "{ext}/{compress} {}: {}", e.name, text(&o));
            let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let failing: Vec<&serde_json::Value> = r["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail").collect();
            let digest = failing.iter().find(|c| c["id"] == "member.digest").unwrap_or_else(|| panic!("no member.digest failure: {r}"));
            assert_eq!(digest["subject"], e.name.as_str());
            assert_ne!(digest["expected"], digest["actual"]);
            if compress == "store" || ext == "tar" {
                assert!(digest["actual"].as_str().unwrap().starts_with("sha256:"), "stored member shows the actual digest: {digest}");
            }
        }
    }
}

#[test]
fn extra_missing_wrong_key_threshold_and_version_named_in_text_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/bundle-v1");
    // The binary runs in a scratch directory (its state, the evidence ledger among it, goes
    // there), never in the published vectors.
    let scratch = tempfile::tempdir().unwrap();
    let k = |n: &str| dir.join(format!("keys/{n}.pub")).to_str().unwrap().to_string();
    let cases: &[(&str, &[&str], &str, i32, &str)] = &[
        ("extra-member", &["a"], "1", 1, "FAIL member.unlisted"),
        ("missing-member", &["a"], "1", 1, "FAIL member.missing"),
        ("wrong-key", &["a"], "1", 1, "FAIL signature.threshold"),
        ("below-threshold", &["a", "b"], "2", 1, "FAIL signature.threshold"),
        ("unknown-version", &["a"], "1", 2, "bundle format version 2"),
    ];
    for (case, keys, th, code, needle) in cases {
        let bundle = dir.join(case).join("bundle.zip");
        let mut args: Vec<String> = vec!["verify".into(), bundle.to_str().unwrap().into(), "--threshold".into(), th.to_string()];
        for key in *keys {
            args.push("--key".into());
            args.push(k(key));
        }
        let o = airlock(scratch.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(*code), "{case}: {}", text(&o));
        assert!(text(&o).contains(needle), "{case}: {needle:?} not in {}", text(&o));
    }
    let o = airlock(scratch.path(), &["verify", dir.join("unknown-version/bundle.zip").to_str().unwrap(), "--key", &k("a")]);
    assert!(text(&o).contains("reads versions 1"), "{}", text(&o));
}

#[test]
fn inspect_shows_claims_without_trust() {
    let f = fixture();
    assert!(pack(&f, "b.tar", &["a.key"]).status.success());
    let o = airlock(&f.dir, &["inspect", "b.tar"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("NOT VERIFIED") && t.contains("release/notes with space.md") && t.contains("app 1.2.0"), "{t}");
    let o = airlock(&f.dir, &["inspect", "b.tar", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["manifest"]["members"].as_array().unwrap().len(), 5);
    assert_eq!(v["trusted"], false);
}

#[test]
fn verify_usage_errors_exit_2() {
    let f = fixture();
    assert!(pack(&f, "b.zip", &["a.key"]).status.success());
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.pub", "--threshold", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("threshold 2 cannot be met by 1 trusted keys"), "{}", text(&o));
    // The same key twice never meets a threshold of 2: a usage error, not a failed check.
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.pub", "--key", "a.pub", "--threshold", "2", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(doc["error"]["kind"], "usage", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("same public key"), "{doc}");
    let o = airlock(&f.dir, &["verify", "nope.zip", "--key", "a.pub"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot open nope.zip"), "{}", text(&o));
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.key"]);
    assert_eq!(o.status.code(), Some(2), "secret key given as a public key: {}", text(&o));
    assert!(text(&o).contains("a.key: this is a secret key; pass a.pub"), "{}", text(&o));
    // With --json, the cause is in the error document too.
    let o = airlock(&f.dir, &["verify", "b.zip", "--key", "a.pub", "--threshold", "2", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!((doc["outcome"].as_str(), doc["error"]["kind"].as_str()), (Some("error"), Some("trust.unusable")), "{doc}");
    fs::write(f.dir.join("junk.zip"), b"not an archive at all").unwrap();
    let o = airlock(&f.dir, &["verify", "junk.zip", "--key", "a.pub"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("archive.not-an-archive"), "{}", text(&o));
}

#[test]
fn pack_refuses_symlinks_and_files_outside_kind_dirs_writing_nothing() {
    let f = fixture();
    std::os::unix::fs::symlink("/etc/passwd", f.dir.join("rel/artifacts/link")).unwrap();
    let o = pack(&f, "s.zip", &["a.key"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    fs::remove_file(f.dir.join("rel/artifacts/link")).unwrap();
    fs::write(f.dir.join("rel/stray.txt"), b"x").unwrap();
    let o = pack(&f, "s.zip", &["a.key"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("kind directory"), "{}", text(&o));
    let leftovers: Vec<_> =
        fs::read_dir(&f.dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("s.zip")).collect();
    assert!(leftovers.is_empty(), "nothing written on refusal: {leftovers:?}");
}

#[test]
fn demo_catches_the_tampered_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = cli_support::command(home.path()).args(["demo", "--no-progress"]).env("TMPDIR", tmp.path()).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("VERIFIED") && t.contains("NOT VERIFIED") && t.contains("FAIL member.digest"), "{t}");
    // The whole story, through the real commands: gate, rollout, two approvals, execution,
    // status, the fleet reconciled with its one drifted endpoint, the API taking the upload, and
    // the ledger of it all.
    for step in [
        "$ airlock trust init trust-root.json --fingerprint ",
        "\nALLOW\n",
        "$ airlock rollout capture hello-1.0.0.zip",
        "$ airlock promotion approve request.json --reason canary healthy --sign-key approver-2.key",
        "PASS promotion.quorum",
        "promotion execute: wrote execution.json",
        "hello canary: ring c10 version 1.0.0",
        "$ airlock reconcile hello-1.0.0.zip --inventory fleet.obs",
        "3 endpoints, 2 aligned, 1 drifted",
        "binary_drift host:canary-2 target=canary-hosts",
        "$ airlock serve --listen 127.0.0.1:0 --policy serve-policy.json &",
        "/evidence\n201 Created: bundle ",
        "200 OK: gate decision ALLOW",
        "200 OK: 3 verify record(s) of hello",
        "$ kill -TERM ",
        "13 record(s), chain intact",
    ] {
        assert!(t.contains(step), "the demo shows {step:?}:\n{t}");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "demo cleans up its temporary directory");
}

#[test]
fn man_page_and_completions_come_from_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = airlock(tmp.path(), &["man"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(t.contains(".TH airlock 1") && t.contains(".TH airlock-verify"), "man page covers subcommands");
    let o = airlock(tmp.path(), &["completions", "bash"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("airlock"));
}

/// A test that runs the binary or opens the store some other way reads the machine's real
/// `$AIRLOCK_HOME` (or `~/.local/share/airlock`) and passes or fails with it: every run goes
/// through `cli_support::command`, which gives it a scratch home.
#[test]
fn every_binary_run_goes_through_cli_support() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let support = tests.join("cli_support/mod.rs");
    // Spelled in pieces so that this file does not match itself.
    let banned = [
        concat!("CARGO_BIN_", "EXE_airlock"),
        concat!("TrustStore::", "open()"),
        concat!("TlogStore::", "open_default"),
        concat!("store::", "home("),
    ];
    let mut offenders = Vec::new();
    let mut stack = vec![tests.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && p != support {
                let text = fs::read_to_string(&p).unwrap();
                offenders.extend(banned.iter().filter(|b| text.contains(*b)).map(|b| format!("{}: {b}", p.display())));
            }
        }
    }
    assert!(offenders.is_empty(), "run the binary with cli_support::command(home) instead:\n{}", offenders.join("\n"));
}

/// pack refuses an evidence member larger than the gate reads, naming the rule, and writes
/// nothing (a sparse file: no 64 MiB written to the disk).
#[test]
fn pack_refuses_evidence_the_gate_would_refuse_by_size() {
    let f = fixture();
    let big = fs::File::create(f.dir.join("rel/sbom/huge.cdx.json")).unwrap();
    big.set_len(airlock::evidence::MAX_EVIDENCE_SIZE + 1).unwrap();
    drop(big);
    let o = pack(&f, "big.zip", &["a.key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("pack.evidence-size") || text(&o).contains("the gate reads evidence members of at most"), "{}", text(&o));
    assert!(!f.dir.join("big.zip").exists(), "nothing written on refusal");
}
