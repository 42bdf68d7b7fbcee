//! Shared by the release, upgrade and smoke tests: run the binary, make keys, build a native
//! test program with `cc`, write release metadata and pack bundles.
#![allow(dead_code)]

#[path = "../cli_support/mod.rs"]
pub mod cli_support;

use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs airlock in `dir`, with its state (trust store, proof cache) in `dir/airlock-home`.
pub fn airlock(dir: &Path, args: &[&str]) -> Output {
    cli_support::command(&dir.join("airlock-home"))
        .current_dir(dir)
        .args(args)
        .arg("--no-progress")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run airlock")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// Failed check ids (with subject) of a report.
pub fn failed(r: &Value) -> Vec<(String, String)> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["subject"].as_str().unwrap_or("").to_string()))
        .collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    airlock::digest::Sha256Digest::of(b).hex()
}

/// True when `tool` exists; when it does not, fails under AIRLOCK_REQUIRE_INTEROP=1, else skips.
pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("AIRLOCK_REQUIRE_INTEROP").is_err(), "{tool} is required (run `cargo xtask setup`)");
        eprintln!("SKIP: {tool} not installed; run `cargo xtask setup`");
    }
    ok
}

/// A native program: `--version [MARKER]` prints `{"version":"1.2.0","envc":N}` (N = number of
/// environment variables it was given), creates MARKER when given, exits 0; `--fail` exits 3;
/// `--hang` makes `locked/file` in its working directory, takes write permission off `locked`
/// and sleeps until killed; `--spawn SECONDS` starts `/bin/sleep SECONDS` in the background
/// and exits 0 at once; `--env` prints `{"home":H,"tmpdir":T}` and exits 0.
pub const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    int envc = 0;
    for (char **e = environ; *e; e++) envc++;
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        if (argc > 2) { FILE *m = fopen(argv[2], "w"); if (m) { fputs("ran\n", m); fclose(m); } }
        printf("{\"version\":\"1.2.0\",\"envc\":%d}\n", envc);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--spawn") == 0) {
        if (fork() == 0) { execl("/bin/sleep", "sleep", argv[2], (char *)0); _exit(127); }
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--env") == 0) {
        const char *h = getenv("HOME"), *t = getenv("TMPDIR");
        printf("{\"home\":\"%s\",\"tmpdir\":\"%s\"}\n", h ? h : "", t ? t : "");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--fail") == 0) { printf("failing on purpose\n"); return 3; }
    if (argc > 1 && strcmp(argv[1], "--hang") == 0) {
        mkdir("locked", 0700);
        FILE *f = fopen("locked/file", "w"); if (f) { fputs("x\n", f); fclose(f); }
        chmod("locked", 0500);
        for (;;) sleep(1);
    }
    return 64;
}
"#;

/// Compiles [`PROGRAM`] to `out`.
pub fn compile(out: &Path) {
    let src = out.with_extension("c");
    fs::write(&src, PROGRAM).unwrap();
    let o = Command::new("cc").arg("-O1").arg("-o").arg(out).arg(&src).output().expect("run cc");
    assert!(o.status.success(), "cc failed: {}", text(&o));
}

pub fn host() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        o => o,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    (os, arch)
}

/// A temp work dir with keys a, b, d.
pub struct Work {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub fn work() -> Work {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    for k in ["a", "b", "d"] {
        let o = airlock(&dir, &["keygen", "-o", k]);
        assert!(o.status.success(), "{}", text(&o));
    }
    Work { _tmp: tmp, dir }
}

/// Release metadata for one host installer with `binary` bytes.
pub fn metadata(binary_path: &str, binary: &[u8], probe: Value) -> Value {
    let (os, arch) = host();
    json!({
        "schema": "airlock/release-metadata/v1",
        "installers": [{
            "id": format!("{os}-{arch}"), "os": os, "arch": arch,
            "binary": binary_path, "digest": format!("sha256:{}", sha256_hex(binary)),
            "installPath": "/usr/local/bin/app", "installMethod": "copy", "probe": probe,
        }, {
            "id": "windows-arm64", "os": "windows", "arch": "arm64",
            "binary": "artifacts/app-windows-arm64.exe", "digest": format!("sha256:{}", sha256_hex(b"MZ pretend\n")),
            "installPath": "C:\\Program Files\\app\\app.exe", "installMethod": "msi",
            "probe": {"args": ["--version"], "expectExitCode": 0},
        }],
        "deployments": [{
            "id": "gha-runner", "surface": "ci-runner", "platform": format!("{os}/{arch}"), "installer": format!("{os}-{arch}"),
            "channel": "stable", "managementTool": "runner-image", "rollback": ["pin the previous runner image"],
        }, {
            "id": "win-fleet", "surface": "managed-endpoint", "platform": "windows/arm64", "installer": "windows-arm64",
            "channel": "stable", "managementTool": "intune", "rollback": ["assign the previous Win32 app revision"],
        }],
        "channels": [{
            "name": "stable", "autoUpdate": false, "approvalRequired": true,
            "rings": [{"name": "pilot", "maxPercent": 5, "soakHours": 24}, {"name": "broad", "maxPercent": 100, "soakHours": 72}],
            "holdConditions": ["crash rate above 1% in the pilot ring"],
            "rollbackRequirements": ["previous release kept installable for 30 days"],
        }],
        "controls": ["provenance", "reproducible-build", "sbom", "smoke-before-rollout"],
    })
}

/// [`metadata`] with a `canary` channel first (rings c2 2 %/4 h and c10 10 %/24 h, deployment
/// `canary-runners`), for the rollout and promotion tests.
pub fn canary_metadata() -> Value {
    let mut meta = metadata("artifacts/app", b"app\n", json!({"args": ["--version"], "expectExitCode": 0}));
    let mut canary = meta["deployments"][0].clone();
    canary["id"] = "canary-runners".into();
    canary["channel"] = "canary".into();
    meta["deployments"].as_array_mut().unwrap().push(canary);
    meta["channels"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "canary", "autoUpdate": true, "approvalRequired": true,
               "rings": [{"name": "c2", "maxPercent": 2, "soakHours": 4}, {"name": "c10", "maxPercent": 10, "soakHours": 24}],
               "holdConditions": ["error budget spent"], "rollbackRequirements": ["previous release retained"]}),
    );
    meta
}

/// Lays out `rel/` with the given host binary, a Windows stand-in, an SBOM and a VEX document.
pub fn layout(dir: &Path, name: &str, binary: &[u8], with_vex: bool) -> PathBuf {
    let rel = dir.join(name);
    let _ = fs::remove_dir_all(&rel);
    for (p, b) in [
        ("artifacts/app", binary.to_vec()),
        ("artifacts/app-windows-arm64.exe", b"MZ pretend\n".to_vec()),
        ("sbom/app.spdx.json", br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec()),
    ] {
        fs::create_dir_all(rel.join(p).parent().unwrap()).unwrap();
        fs::write(rel.join(p), b).unwrap();
    }
    if with_vex {
        fs::create_dir_all(rel.join("vex")).unwrap();
        fs::write(rel.join("vex/app.openvex.json"), br#"{"statements":[]}"#).unwrap();
    }
    rel
}

/// Packs `rel` with metadata `meta` (written as JSON) into `out`, signed by `keys`.
pub fn pack(dir: &Path, rel: &Path, meta: &Value, version: &str, out: &str, keys: &[&str]) -> Output {
    let meta_path = dir.join(format!("{out}.release.json"));
    fs::write(&meta_path, serde_json::to_vec_pretty(meta).unwrap()).unwrap();
    let mut args = vec![
        "pack".to_string(),
        rel.to_str().unwrap().into(),
        "-o".into(),
        out.into(),
        "--product".into(),
        "app".into(),
        "--version".into(),
        version.into(),
        "--compress".into(),
        "store".into(),
        "--release".into(),
        meta_path.to_str().unwrap().into(),
    ];
    for k in keys {
        args.push("--key".into());
        args.push(format!("{k}.key"));
    }
    airlock(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Writes trust root `out` with `trust new ARGS` and signs it with `signers` (`NAME.key` files).
pub fn trust_root(dir: &Path, out: &str, args: &[&str], signers: &[&str]) {
    let mut a = vec!["trust", "new", "-o", out];
    a.extend_from_slice(args);
    let o = airlock(dir, &a);
    assert!(o.status.success(), "{}", text(&o));
    let keys: Vec<String> = signers.iter().map(|k| format!("{k}.key")).collect();
    let mut a = vec!["trust", "sign", out];
    for k in &keys {
        a.extend_from_slice(&["--key", k]);
    }
    let o = airlock(dir, &a);
    assert!(o.status.success(), "{}", text(&o));
}

/// Pins trust root `file` in `dir`'s trust store (`trust init` with the file's fingerprint).
pub fn pin(dir: &Path, file: &str) {
    let fp = sha256_hex(&fs::read(dir.join(file)).unwrap());
    let o = airlock(dir, &["trust", "init", file, "--fingerprint", &fp]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Key id of `NAME.pub`.
pub fn keyid(dir: &Path, name: &str) -> String {
    let v: Value = serde_json::from_slice(&fs::read(dir.join(format!("{name}.pub"))).unwrap()).unwrap();
    v["keyid"].as_str().unwrap().to_string()
}
