//! `airlock pack --release` and `airlock pack --from-cavra`: metadata bound to members by digest,
//! a CAVRA-shaped package (built here from CAVRA's documented field names) mapped into a bundle,
//! and packages with an unlisted file or a checksum mismatch refused with the file named.

mod release_support;

use release_support::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

fn member(bundle: &Path, name: &str) -> Vec<u8> {
    let bytes = fs::read(bundle).unwrap();
    let idx = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
    airlock::archive::read_member(&bytes, idx.get(name).unwrap_or_else(|| panic!("{name} not in bundle")), 1 << 24).unwrap()
}

#[test]
fn release_toml_is_written_in_normal_form_and_bound_by_digest() {
    let w = work();
    let bin = b"\x7fELF toml test\n";
    layout(&w.dir, "rel", bin, false);
    let (os, arch) = host();
    let toml = format!(
        r#"schema = "airlock/release-metadata/v1"
controls = ["sbom"]

[[installers]]
id = "{os}-{arch}"
os = "{os}"
arch = "{arch}"
binary = "artifacts/app"
digest = "sha256:{}"
installPath = "/opt/app/bin/app"
installMethod = "copy"
probe = {{ args = ["--version"], expectExitCode = 0, timeoutSeconds = 5 }}

[[channels]]
name = "canary"
autoUpdate = false
approvalRequired = true
rings = [{{ name = "pilot", maxPercent = 1, soakHours = 12 }}]
"#,
        sha256_hex(bin)
    );
    fs::write(w.dir.join("release.toml"), &toml).unwrap();
    let o = airlock(
        &w.dir,
        &["pack", "rel", "-o", "t.zip", "--product", "app", "--version", "1.0.0", "--key", "a.key", "--release", "release.toml"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stored = member(&w.dir.join("t.zip"), "release/airlock-release.json");
    let m = airlock::release::ReleaseMetadata::parse(&stored).expect("stored in normal form");
    assert_eq!(m.installers[0].install_path, "/opt/app/bin/app");
    assert_eq!(m.channels[0].rings[0].soak_hours, 12);
    let o = airlock(&w.dir, &["verify", "t.zip", "--key", "a.pub"]);
    assert!(o.status.success(), "{}", text(&o));

    // A digest that is not the member's: refused, rule named, nothing written.
    fs::write(w.dir.join("bad.toml"), toml.replace(&sha256_hex(bin), &sha256_hex(b"else"))).unwrap();
    let o = airlock(
        &w.dir,
        &["pack", "rel", "-o", "bad.zip", "--product", "app", "--version", "1.0.0", "--key", "a.key", "--release", "bad.toml"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("release.installer-binary") && text(&o).contains(&sha256_hex(bin)), "{}", text(&o));
    assert!(!w.dir.join("bad.zip").exists());
    // Relative install path, duplicate TOML key: refused.
    fs::write(w.dir.join("rel.toml"), toml.replace("/opt/app/bin/app", "opt/../app")).unwrap();
    let o = airlock(
        &w.dir,
        &["pack", "rel", "-o", "bad.zip", "--product", "app", "--version", "1.0.0", "--key", "a.key", "--release", "rel.toml"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("release.install-path"), "{}", text(&o));
    // (At the top level: appended at the end it would land in the last [[channels]] table.)
    fs::write(w.dir.join("dup.toml"), toml.replacen("controls = [\"sbom\"]\n", "controls = [\"sbom\"]\ncontrols = []\n", 1)).unwrap();
    let o = airlock(
        &w.dir,
        &["pack", "rel", "-o", "bad.zip", "--product", "app", "--version", "1.0.0", "--key", "a.key", "--release", "dup.toml"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("release metadata TOML is invalid") && text(&o).contains("duplicate key"), "{}", text(&o));
    assert!(!w.dir.join("bad.zip").exists());
}

/// The author leaves installer `digest` out: pack fills in the digest of the binary it packs. An
/// author-given digest must still match; the refusal names the installer and both digests. An
/// installer whose binary is not packed, without a digest, is refused by name.
#[test]
fn installer_digest_is_optional_and_filled_in_by_pack() {
    let w = work();
    let bin = b"\x7fELF digest-less\n";
    layout(&w.dir, "rel", bin, false);
    let (os, arch) = host();
    let json = |digest: Option<String>, binary: &str| {
        let mut i = json!({"id": format!("{os}-{arch}"), "os": os, "arch": arch, "binary": binary,
            "installPath": "/opt/app/bin/app", "installMethod": "copy", "probe": {"args": ["--version"], "expectExitCode": 0}});
        if let Some(d) = digest {
            i["digest"] = Value::String(d);
        }
        serde_json::to_vec_pretty(&json!({"schema": "airlock/release-metadata/v1", "installers": [i]})).unwrap()
    };
    let pack = |file: &str, out: &str| {
        airlock(&w.dir, &["pack", "rel", "-o", out, "--product", "app", "--version", "1.0.0", "--key", "a.key", "--release", file])
    };
    fs::write(w.dir.join("no-digest.json"), json(None, "artifacts/app")).unwrap();
    let o = pack("no-digest.json", "t.zip");
    assert!(o.status.success(), "{}", text(&o));
    let m = airlock::release::ReleaseMetadata::parse(&member(&w.dir.join("t.zip"), "release/airlock-release.json")).unwrap();
    assert_eq!(m.installers[0].digest.hex(), sha256_hex(bin));

    let wrong = format!("sha256:{}", sha256_hex(b"else"));
    fs::write(w.dir.join("wrong.json"), json(Some(wrong.clone()), "artifacts/app")).unwrap();
    let o = pack("wrong.json", "bad.zip");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!("installer {os}-{arch}: binary artifacts/app has digest sha256:{}, but the metadata gives {wrong}", sha256_hex(bin));
    assert!(text(&o).contains(&want), "{}", text(&o));
    assert!(!w.dir.join("bad.zip").exists());

    fs::write(w.dir.join("absent.json"), json(None, "artifacts/nothing")).unwrap();
    let o = pack("absent.json", "bad.zip");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("installers[0]") && text(&o).contains("\"artifacts/nothing\" is not a file being packed"), "{}", text(&o));
    assert!(!w.dir.join("bad.zip").exists());
}

/// A CAVRA go-release package directory, with the field names CAVRA's documentation gives.
fn cavra_package(dir: &Path, native: &[u8]) -> std::path::PathBuf {
    let pkg = dir.join("go-runtime-v0.2.0");
    let (os, arch) = host();
    let bins: Vec<(String, Vec<u8>)> = vec![
        (format!("bin/cavra-runtime_v0.2.0_{os}_{arch}"), native.to_vec()),
        ("bin/cavra-runtime_v0.2.0_windows_amd64.exe".into(), b"MZ windows stand-in\n".to_vec()),
    ];
    let mut files: Vec<(String, Vec<u8>)> = bins.clone();
    let targets: Vec<Value> = bins
        .iter()
        .map(|(p, b)| {
            let t = if p.ends_with(".exe") { "windows/amd64".to_string() } else { format!("{os}/{arch}") };
            let ip = if p.ends_with(".exe") { "C:\\Program Files\\CAVRA\\cavra-runtime.exe" } else { "/usr/local/bin/cavra-runtime" };
            json!({"target": t, "binary": p, "binary_sha256": sha256_hex(b), "install_path": ip})
        })
        .collect();
    let docs = [
        (
            "cavra-runtime.installers.json",
            json!({"schema_version": "cavra.go-release.installers.v1", "version": "v0.2.0", "targets": targets}),
        ),
        (
            "cavra-runtime.endpoint-deployment.json",
            json!({"deployment_targets": [
                {"id": "github-actions-linux-runner", "surface": "ci_runner", "platform": format!("{os}/{arch}"), "installer_target": format!("{os}/{arch}"), "deployment_channel": "stable"},
                {"id": "windows-workstation", "surface": "developer_workstation", "platform": "windows/amd64", "installer_target": "windows/amd64", "deployment_channel": "beta", "management_tool": "intune"},
            ]}),
        ),
        (
            "cavra-runtime.channels.json",
            json!({"channels": [
                {"channel": "canary", "version": "v0.2.0", "auto_update": false, "approval_required": true},
                {"channel": "beta", "version": "v0.2.0", "auto_update": false, "approval_required": true},
                {"channel": "stable", "version": "v0.2.0", "auto_update": false, "approval_required": true},
            ]}),
        ),
        (
            "cavra-runtime.updater-policy.json",
            json!({"staged_rollout": {"rings": [{"name": "pilot", "max_percentage": 5, "soak_hours": 24}, {"name": "enterprise", "max_percentage": 100, "soak_hours": 72}]},
                   "hold_conditions": ["policy denial rate spike"], "rollback_requirements": ["keep the previous signed package"]}),
        ),
        (
            "cavra-runtime.provenance.intoto.json",
            json!({"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}),
        ),
        ("cavra-runtime.sbom.spdx.json", json!({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": []})),
        (
            "release-evidence.json",
            json!({"schema_version": "cavra.go-release.evidence.v1", "version": "v0.2.0", "commit": "0123456789abcdef0123456789abcdef01234567",
                   "controls": ["reproducible-go-build-flags", "sha256-checksums", "spdx-sbom", "slsa-provenance", "ed25519-detached-signatures", "release-evidence-manifest"]}),
        ),
    ];
    for (name, v) in docs {
        files.push((name.to_string(), serde_json::to_vec_pretty(&v).unwrap()));
    }
    let mut sums = String::new();
    for (p, b) in &files {
        fs::create_dir_all(pkg.join(p).parent().unwrap()).unwrap();
        fs::write(pkg.join(p), b).unwrap();
        sums.push_str(&format!("{}  {p}\n", sha256_hex(b)));
    }
    fs::write(pkg.join("checksums.txt"), sums).unwrap();
    pkg
}

#[test]
fn from_cavra_maps_a_package_into_a_verifiable_bundle() {
    let w = work();
    let pkg = cavra_package(&w.dir, b"\x7fELF cavra stand-in\n");
    let o = airlock(&w.dir, &["pack", "--from-cavra", pkg.to_str().unwrap(), "-o", "cavra.zip", "--key", "a.key", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = airlock(&w.dir, &["verify", "cavra.zip", "--key", "a.pub", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = json_out(&o);
    assert_eq!(r["release"], json!({"product": "cavra-runtime", "version": "0.2.0", "commit": "0123456789abcdef0123456789abcdef01234567"}));
    let paths: Vec<&str> =
        r["checks"].as_array().unwrap().iter().filter(|c| c["id"] == "member.digest").map(|c| c["subject"].as_str().unwrap()).collect();
    let (os, arch) = host();
    for p in [
        format!("artifacts/cavra-runtime_v0.2.0_{os}_{arch}").as_str(),
        "artifacts/cavra-runtime_v0.2.0_windows_amd64.exe",
        "sbom/cavra-runtime.sbom.spdx.json",
        "provenance/cavra-runtime.provenance.intoto.json",
        "other/cavra/release-evidence.json",
        "other/cavra/checksums.txt",
        "release/airlock-release.json",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let m = airlock::release::ReleaseMetadata::parse(&member(&w.dir.join("cavra.zip"), "release/airlock-release.json")).unwrap();
    assert_eq!(m.installers.len(), 2);
    assert_eq!(m.installers[1].install_path, "C:\\Program Files\\CAVRA\\cavra-runtime.exe");
    assert_eq!(m.deployments.iter().map(|d| d.surface.name()).collect::<Vec<_>>(), ["ci-runner", "workstation"]);
    assert_eq!(m.deployments[0].rollback, ["keep the previous signed package"]);
    assert_eq!(m.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["canary", "beta", "stable"]);
    assert!(m.channels.iter().all(|c| c.approval_required && !c.auto_update && c.rings.len() == 2));
    assert!(m.controls.contains(&"slsa-provenance".to_string()));
    let o = airlock(&w.dir, &["smoke", "cavra.zip", "--key", "a.pub", "--skip-execution"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn from_cavra_refuses_an_unlisted_file_or_a_checksum_mismatch_naming_it() {
    let w = work();
    let pkg = cavra_package(&w.dir, b"\x7fELF cavra stand-in\n");
    fs::write(pkg.join("bin/dropped-in"), b"not listed").unwrap();
    let o = airlock(&w.dir, &["pack", "--from-cavra", pkg.to_str().unwrap(), "-o", "x.zip", "--key", "a.key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bin/dropped-in is in the package but not listed in checksums.txt"), "{}", text(&o));
    assert!(!w.dir.join("x.zip").exists());
    fs::remove_file(pkg.join("bin/dropped-in")).unwrap();

    let (os, arch) = host();
    let target = pkg.join(format!("bin/cavra-runtime_v0.2.0_{os}_{arch}"));
    let mut b = fs::read(&target).unwrap();
    b[0] ^= 1;
    fs::write(&target, &b).unwrap();
    let o = airlock(&w.dir, &["pack", "--from-cavra", pkg.to_str().unwrap(), "-o", "x.zip", "--key", "a.key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains(&format!("cavra-runtime_v0.2.0_{os}_{arch}: checksum mismatch")) && t.contains(&sha256_hex(&b)), "{t}");
    assert!(!w.dir.join("x.zip").exists());
}

/// CAVRA writes release-evidence.json and .md after its checksums.txt, so a real package holds
/// them unlisted: refused by default with the way out named; packed with `--accept-unlisted`
/// (named on stderr, bound by the airlock manifest, the evidence read for the metadata is the
/// evidence packed); a typo in `--accept-unlisted` is refused.
#[test]
fn from_cavra_packs_files_written_after_checksums_only_when_accepted_by_name() {
    let w = work();
    let pkg = cavra_package(&w.dir, b"\x7fELF cavra stand-in\n");
    // As CAVRA's packager leaves it: the evidence files are not in checksums.txt.
    let sums = fs::read_to_string(pkg.join("checksums.txt")).unwrap();
    let kept: String = sums.lines().filter(|l| !l.ends_with("  release-evidence.json")).map(|l| format!("{l}\n")).collect();
    assert_ne!(kept, sums, "the fixture lists release-evidence.json");
    fs::write(pkg.join("checksums.txt"), kept).unwrap();
    fs::write(pkg.join("release-evidence.md"), b"# cavra-runtime v0.2.0 release evidence\n").unwrap();
    let p = pkg.to_str().unwrap();
    let o = airlock(&w.dir, &["pack", "--from-cavra", p, "-o", "x.zip", "--key", "a.key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--accept-unlisted"), "{}", text(&o));
    assert!(!w.dir.join("x.zip").exists());
    let o = airlock(&w.dir, &["pack", "--from-cavra", p, "-o", "x.zip", "--key", "a.key", "--accept-unlisted", "release-evidence.jsn"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("release-evidence.json is in the package but not listed"), "{}", text(&o));
    let o = airlock(
        &w.dir,
        &[
            "pack",
            "--from-cavra",
            p,
            "-o",
            "x.zip",
            "--key",
            "a.key",
            "--accept-unlisted",
            "release-evidence.json",
            "--accept-unlisted",
            "release-evidence.md",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("does not list, on your authority (--accept-unlisted): release-evidence.json, release-evidence.md"),
        "{}",
        text(&o)
    );
    let o = airlock(&w.dir, &["verify", "x.zip", "--key", "a.pub"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(member(&w.dir.join("x.zip"), "other/cavra/release-evidence.md"), b"# cavra-runtime v0.2.0 release evidence\n");
}
