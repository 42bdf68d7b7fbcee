//! `airlock smoke`: a native program built here with `cc` is packed, extracted from a verified
//! local copy and probed; failures show expected and actual; bytes that differ from the signed
//! manifest are never executed.

mod release_support;

use release_support::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

struct Native {
    w: Work,
    bin: Vec<u8>,
}

fn native() -> Option<Native> {
    if !have("cc") {
        return None;
    }
    let w = work();
    compile(&w.dir.join("app-native"));
    let bin = fs::read(w.dir.join("app-native")).unwrap();
    Some(Native { w, bin })
}

fn pack_probe(n: &Native, probe: Value, out: &str) {
    let rel = layout(&n.w.dir, "rel", &n.bin, false);
    let o = pack(&n.w.dir, &rel, &metadata("artifacts/app", &n.bin, probe), "1.2.0", out, &["a"]);
    assert!(o.status.success(), "{}", text(&o));
}

fn smoke(dir: &Path, bundle: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["smoke", bundle, "--key", "a.pub", "--json"];
    args.extend_from_slice(extra);
    let o = airlock(dir, &args);
    let r = json_out(&o);
    assert_eq!(r["schema"], "airlock/smoke-report/v1");
    (o.status.code(), r, text(&o))
}

fn check<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id} in {r}"))
}

#[test]
fn native_binary_runs_from_the_verified_copy_and_passes() {
    let Some(n) = native() else { return };
    let marker = n.w.dir.join("ran-marker");
    let probe = json!({
        "args": ["--version", marker.to_str().unwrap()], "expectExitCode": 0,
        "expectOutput": "\"version\":\"1\\.2\\.0\"", "expectJson": {"pointer": "/envc", "equals": 2}, "timeoutSeconds": 20,
    });
    pack_probe(&n, probe, "app.zip");
    let (code, r, t) = smoke(&n.w.dir, "app.zip", &["--out", "evidence"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(marker.exists(), "the probe ran");
    for id in ["release.installer-binary", "release.install-path", "release.probe", "smoke.extract", "smoke.exit-code", "smoke.output"] {
        assert_eq!(check(&r, id)["status"], "pass", "{id}");
    }
    // envc == 2: the probe saw HOME and TMPDIR only.
    assert_eq!(check(&r, "smoke.output-json")["status"], "pass");
    assert_eq!(check(&r, "smoke.descendants")["status"], "pass");
    let host = r["installers"].as_array().unwrap().iter().find(|i| i["executed"] == true).expect("host installer executed");
    assert!(host["networkIsolated"].is_boolean() && host["network"].as_str().unwrap().contains("isolated"), "{host}");
    assert!(host["environment"].as_str().unwrap().starts_with("HOME and TMPDIR only"), "{host}");
    // Which isolation held is stated, and why the rest could not be set up.
    let iso = &host["isolation"];
    assert_eq!(iso["network"], host["networkIsolated"], "{iso}");
    assert_eq!(iso["processGroup"], true, "{iso}");
    let all = iso["network"] == true && iso["pid"] == true && iso["mount"] == true;
    assert_eq!(iso["notSetUp"].as_array().unwrap().is_empty(), all, "{iso}");
    let other = r["installers"].as_array().unwrap().iter().find(|i| i["id"] == "windows-arm64").unwrap();
    assert_eq!(other["executed"], false);
    assert!(other["reason"].as_str().unwrap().contains("validated statically"), "{other}");
    let body = fs::read(n.w.dir.join("evidence/smoke-report.json")).unwrap();
    let sums = fs::read_to_string(n.w.dir.join("evidence/smoke-report.json.sha256")).unwrap();
    assert_eq!(sums, format!("{}  smoke-report.json\n", sha256_hex(&body)));
    // Nothing of the private working copy is left behind in the work dir.
    let o = airlock(&n.w.dir, &["smoke", "app.zip", "--key", "a.pub", "--work-dir", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!fs::read_dir(&n.w.dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("airlock-smoke")));
}

#[test]
fn exit_code_or_output_that_differs_fails_showing_both() {
    let Some(n) = native() else { return };
    pack_probe(&n, json!({"args": ["--fail"], "expectExitCode": 0}), "exit.zip");
    let (code, r, t) = smoke(&n.w.dir, "exit.zip", &[]);
    assert_eq!(code, Some(1), "{t}");
    let c = check(&r, "smoke.exit-code");
    assert_eq!((c["status"].as_str(), c["expected"].as_str(), c["actual"].as_str()), (Some("fail"), Some("exit 0"), Some("exit 3")));
    let o = airlock(&n.w.dir, &["smoke", "exit.zip", "--key", "a.pub"]);
    assert!(text(&o).contains("expected exit 0\n     actual   exit 3"), "{}", text(&o));

    pack_probe(&n, json!({"args": ["--version"], "expectExitCode": 0, "expectOutput": "^app 9\\."}), "out.zip");
    let (code, r, t) = smoke(&n.w.dir, "out.zip", &[]);
    assert_eq!(code, Some(1), "{t}");
    assert_eq!(failed(&r), [("smoke.output".to_string(), format!("{}-{}", host().0, host().1))]);
    let c = check(&r, "smoke.output");
    assert_eq!(c["expected"], "/^app 9\\./");
    assert!(c["actual"].as_str().unwrap().starts_with("{\"version\":\"1.2.0\""), "{c}");
}

#[test]
fn a_probe_killed_by_its_timeout_leaves_no_working_directory_behind() {
    let Some(n) = native() else { return };
    pack_probe(&n, json!({"args": ["--hang"], "expectExitCode": 0, "timeoutSeconds": 1}), "hang.zip");
    let o = airlock(&n.w.dir, &["smoke", "hang.zip", "--key", "a.pub", "--work-dir", ".", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let c = check(&json_out(&o), "smoke.exit-code").clone();
    assert_eq!(c["actual"], "killed after the 1 s timeout", "{c}");
    // The probe left an unwritable directory in its working directory: removed all the same.
    let left: Vec<String> = fs::read_dir(&n.w.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("airlock-smoke"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bytes_that_differ_from_the_manifest_are_never_executed() {
    let Some(n) = native() else { return };
    let marker = n.w.dir.join("ran-marker");
    pack_probe(&n, json!({"args": ["--version", marker.to_str().unwrap()], "expectExitCode": 0}), "good.zip");
    // Change one byte of the version string inside the stored binary: the program still runs
    // (proved below by running the changed bytes directly), but its bytes are not the signed ones.
    let mut bytes = fs::read(n.w.dir.join("good.zip")).unwrap();
    let index = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
    let e = index.get("artifacts/app").unwrap();
    let data = &bytes[e.data_offset as usize..(e.data_offset + e.stored_size) as usize];
    let pos = e.data_offset as usize + data.windows(5).position(|w| w == b"1.2.0").expect("version string stored uncompressed");
    bytes[pos + 4] = b'9';
    fs::write(n.w.dir.join("changed.zip"), &bytes).unwrap();
    let (code, r, t) = smoke(&n.w.dir, "changed.zip", &[]);
    assert_eq!(code, Some(1), "{t}");
    assert!(!marker.exists(), "a binary whose bytes differ from the manifest was executed");
    let digest = r["verification"]["failed"].as_array().unwrap().iter().find(|c| c["id"] == "member.digest").expect("member.digest failed");
    assert_eq!(digest["subject"], "artifacts/app");
    assert_ne!(digest["expected"], digest["actual"]);
    assert_eq!(r["installers"], json!([]));

    // The changed program would have created the marker.
    let mut changed = n.bin.clone();
    let p = changed.windows(5).position(|w| w == b"1.2.0").unwrap();
    changed[p + 4] = b'9';
    let exe = n.w.dir.join("changed-native");
    fs::write(&exe, &changed).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    let o = std::process::Command::new(&exe).arg("--version").arg(&marker).output().unwrap();
    assert!(o.status.success() && marker.exists(), "control: the changed bytes do run");
    fs::remove_file(&marker).unwrap();

    // And the untouched bundle does run it.
    let (code, _, t) = smoke(&n.w.dir, "good.zip", &[]);
    assert_eq!(code, Some(0), "{t}");
    assert!(marker.exists());
}

#[test]
fn installer_digest_that_differs_from_the_member_is_never_executed() {
    let Some(n) = native() else { return };
    let marker = n.w.dir.join("ran-marker");
    // The metadata names other bytes than the member holds; `pack` refuses that, so build the
    // bundle through the library to get one signed anyway.
    let mut meta = metadata("artifacts/app", b"other bytes", json!({"args": ["--version", marker.to_str().unwrap()], "expectExitCode": 0}));
    meta["installers"].as_array_mut().unwrap().truncate(1);
    meta["deployments"].as_array_mut().unwrap().truncate(1);
    let meta = airlock::release::ReleaseMetadata::from_input_json(&serde_json::to_vec(&meta).unwrap()).unwrap().to_bytes();
    let files: Vec<(&str, Vec<u8>)> = vec![("artifacts/app", n.bin.clone()), ("release/airlock-release.json", meta)];
    let members = files
        .iter()
        .map(|(p, b)| airlock::bundle::manifest::Member {
            path: p.to_string(),
            size: b.len() as u64,
            digest: airlock::digest::Sha256Digest::of(b),
            kind: airlock::bundle::Kind::of_path(p).unwrap(),
        })
        .collect();
    let key = airlock::keys::SecretKey::parse_file(&fs::read(n.w.dir.join("a.key")).unwrap()).unwrap();
    let release = airlock::bundle::manifest::Release { product: "app".into(), version: "1.2.0".into(), commit: None, channel: None };
    let plan = airlock::pack::plan(release, airlock::time::Timestamp(1_700_000_000), members, &[&key], Vec::new()).unwrap();
    let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
        let b = plan.control_bytes(name).map(<[u8]>::to_vec).unwrap_or_else(|| files.iter().find(|f| f.0 == name).unwrap().1.clone());
        Ok(Box::new(std::io::Cursor::new(b)))
    };
    let tar = airlock::archive::write::write_tar(Vec::new(), &plan.members, airlock::time::Timestamp(1_700_000_000), &mut open).unwrap();
    fs::write(n.w.dir.join("liar.tar"), tar).unwrap();
    let (code, r, t) = smoke(&n.w.dir, "liar.tar", &[]);
    assert_eq!(code, Some(1), "{t}");
    assert!(!marker.exists(), "executed a binary whose installer digest differs");
    assert_eq!(r["verification"]["outcome"], "pass", "the bundle itself verifies");
    let c = check(&r, "release.installer-binary");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["actual"], format!("sha256:{}", sha256_hex(b"other bytes")));
    assert!(r["installers"][0]["reason"].as_str().unwrap().contains("never executed"), "{r}");
}

#[test]
fn skip_execution_validates_statically_and_runs_nothing() {
    let Some(n) = native() else { return };
    let marker = n.w.dir.join("ran-marker");
    pack_probe(&n, json!({"args": ["--version", marker.to_str().unwrap()], "expectExitCode": 0}), "app.zip");
    let (code, r, t) = smoke(&n.w.dir, "app.zip", &["--skip-execution"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(!marker.exists());
    assert!(r["installers"].as_array().unwrap().iter().all(|i| i["executed"] == false));
    assert_eq!(
        r["checks"].as_array().unwrap().iter().filter(|c| c["id"] == "release.installer-binary" && c["status"] == "pass").count(),
        2
    );
    assert!(!r["checks"].as_array().unwrap().iter().any(|c| c["id"].as_str().unwrap().starts_with("smoke.")));

    // A bundle with no target for this host: without --skip-execution that is a failure.
    let mut meta = metadata("artifacts/app", &n.bin, json!({"args": [], "expectExitCode": 0}));
    meta["installers"].as_array_mut().unwrap().remove(0);
    meta["deployments"].as_array_mut().unwrap().remove(0);
    let rel = layout(&n.w.dir, "rel", &n.bin, false);
    assert!(pack(&n.w.dir, &rel, &meta, "1.2.0", "foreign.zip", &["a"]).status.success());
    let (code, r, _) = smoke(&n.w.dir, "foreign.zip", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(failed(&r), [("smoke.host-target".to_string(), String::new())]);
    let (code, _, t) = smoke(&n.w.dir, "foreign.zip", &["--skip-execution"]);
    assert_eq!(code, Some(0), "{t}");
}

#[test]
fn trust_root_options_verify_the_copy_and_are_reported() {
    let Some(n) = native() else { return };
    let d = &n.w.dir;
    pack_probe(&n, json!({"args": ["--version"], "expectExitCode": 0}), "app.zip");
    assert!(airlock(d, &["keygen", "-o", "root"]).status.success());
    let far = "2099-01-01T00:00:00Z";
    trust_root(d, "good.json", &["--role", "root:1:root.pub", "--role", "release:1:a.pub", "--expires", far], &["root"]);
    trust_root(d, "other.json", &["--role", "root:1:root.pub", "--role", "release:1:b.pub", "--expires", far], &["root"]);
    let run = |args: &[&str]| {
        let o = airlock(d, args);
        (o.status.code(), json_out(&o), text(&o))
    };
    let (code, r, t) = run(&["smoke", "app.zip", "--trust-root", "good.json", "--json"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(r["verification"]["trust"]["source"].as_str().unwrap().starts_with("--trust-root good.json v1"), "{}", r["verification"]);
    assert_eq!(r["verification"]["trust"]["keys"], json!([keyid(d, "a")]));
    assert!(r["installers"].as_array().unwrap().iter().any(|i| i["executed"] == true));
    let o = airlock(d, &["smoke", "app.zip", "--trust-root", "good.json"]);
    assert!(text(&o).contains("trust    --trust-root good.json v1"), "{}", text(&o));
    // A root whose release role did not sign: not verified, nothing executed.
    let (code, r, t) = run(&["smoke", "app.zip", "--trust-root", "other.json", "--json"]);
    assert_eq!(code, Some(1), "{t}");
    assert_eq!(r["verification"]["outcome"], "fail");
    assert_eq!(r["installers"], json!([]));
    // The pinned store is the default; without one (and without --key) nothing can be checked.
    let (code, r, _) = run(&["smoke", "app.zip", "--json"]);
    assert_eq!(code, Some(2));
    assert_eq!(r["error"]["kind"], "trust.none");
    pin(d, "good.json");
    let (code, r, t) = run(&["smoke", "app.zip", "--json", "--skip-execution"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(r["verification"]["trust"]["source"].as_str().unwrap().starts_with("trust store root v1"));
    // Smoke-testing accepts nothing into the anti-rollback state.
    let state = fs::read_to_string(d.join("airlock-home/trust/state.json")).unwrap();
    assert!(!state.contains("1.2.0"), "{state}");
    // But each run is evidence, the pin between them too.
    let ledger = release_support::cli_support::ledger(&d.join("airlock-home"));
    let got: Vec<(&str, &str)> = ledger.iter().map(|(c, o)| (c.as_str(), o.as_str())).collect();
    let want = [("smoke", "pass"), ("smoke", "pass"), ("smoke", "fail"), ("smoke", "error"), ("trust init", "pass"), ("smoke", "pass")];
    assert_eq!(got, want);
}

/// Processes whose command line holds `marker`, other than a `grep`-like reader of it.
fn running_with(marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(marker) {
                out.push(c);
            }
        }
    }
    out
}

#[test]
fn a_probe_that_leaves_a_process_running_fails_and_the_process_is_killed() {
    let Some(n) = native() else { return };
    // A number no other process holds in its command line: sleep's argument.
    let marker = format!("1000.{}{:09}", std::process::id(), std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().subsec_nanos());
    pack_probe(&n, json!({"args": ["--spawn", marker], "expectExitCode": 0, "timeoutSeconds": 20}), "spawn.zip");
    let (code, r, t) = smoke(&n.w.dir, "spawn.zip", &[]);
    assert_eq!(code, Some(1), "{t}");
    assert_eq!(check(&r, "smoke.exit-code")["status"], "pass", "{t}");
    let c = check(&r, "smoke.descendants");
    assert_eq!(c["status"], "fail", "{c}");
    // Named as it runs: `sleep`, or the probe's forked copy when it had not exec'd yet.
    let actual = c["actual"].as_str().unwrap();
    assert!(actual.contains("sleep") || actual.contains("app"), "{c}");
    assert_eq!(failed(&r), [("smoke.descendants".to_string(), format!("{}-{}", host().0, host().1))]);
    // Nothing of it survives airlock.
    let mut left = running_with(&marker);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = running_with(&marker);
    }
    assert!(left.is_empty(), "still running: {left:?}");
}

#[test]
fn home_and_tmpdir_point_into_the_private_run_directory() {
    let Some(n) = native() else { return };
    let probe = json!({"args": ["--env"], "expectExitCode": 0, "expectOutput": "^\\{\"home\":\"/[^\"]*/run-[0-9a-f]{16}/home\",\"tmpdir\":\"/[^\"]*/run-[0-9a-f]{16}/tmp\"\\}"});
    pack_probe(&n, probe, "env.zip");
    let (code, r, t) = smoke(&n.w.dir, "env.zip", &[]);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(check(&r, "smoke.output")["status"], "pass", "{}", check(&r, "smoke.output"));
}
