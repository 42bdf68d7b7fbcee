//! `airlock pack --release`: metadata bound to members by digest, written in its normal form,
//! refused with the rule named when it does not fit. (`--from-cavra` is tested over real CAVRA
//! packages in `cavra_real.rs`.)

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
