//! `airlock pack --from-cavra` over packages written by CAVRA's own packager
//! (`tests/data/cavra-real/`, see its README): both versions import with every CAVRA signature
//! checked against the pinned key, verify, upgrade 0.1.0 → 0.2.0 (and not back), and keep
//! CAVRA's decision smoke test; a weakened updater policy, a consistently re-signed binary and
//! a flipped, deleted or added file are each refused with the file or rule named; the zip CAVRA
//! ships imports to the same bundle bytes as the directory.

mod release_support;
mod schema_support;

use airlock::keys::SecretKey;
use base64::Engine;
use release_support::*;
use serde_json::{Value, json};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cavra-real")
}

fn real_key() -> String {
    data().join("cavra-signing.pub.pem").to_str().unwrap().to_string()
}

/// A private copy of package `v` (e.g. `0.2.0`) under `dir`.
fn copy_pkg(dir: &Path, v: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let to = dir.join(format!("go-runtime-v{v}"));
    copy(&data().join(format!("go-runtime-v{v}")), &to);
    to
}

fn pem_of(sk: &SecretKey) -> String {
    let der = [[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00].as_slice(), &sk.public().to_bytes()].concat();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", base64::engine::general_purpose::STANDARD.encode(der))
}

fn write_json(path: &Path, v: &Value) {
    fs::write(path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// Does what CAVRA's packager does after its files change: rewrites checksums.txt for the files
/// it lists and every `*.sig.json` with `sk` (its public key embedded, as CAVRA embeds it).
fn resign(pkg: &Path, sk: &SecretKey) {
    let sums = fs::read_to_string(pkg.join("checksums.txt")).unwrap();
    let mut out = String::new();
    for line in sums.lines() {
        let (_, name) = line.split_once("  ").unwrap();
        out.push_str(&format!("{}  {name}\n", sha256_hex(&fs::read(pkg.join(name)).unwrap())));
    }
    fs::write(pkg.join("checksums.txt"), out).unwrap();
    let pem = pem_of(sk);
    let mut sigs: Vec<String> = Vec::new();
    let mut stack = vec![pkg.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_str().unwrap().ends_with(".sig.json") {
                sigs.push(p.strip_prefix(pkg).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    // The evidence's signature last, as CAVRA makes it (its subject does not change here).
    sigs.sort_by_key(|s| s == "release-evidence.json.sig.json");
    for sig in sigs {
        let subject = sig.strip_suffix(".sig.json").unwrap();
        let bytes = fs::read(pkg.join(subject)).unwrap();
        let mut v = read_json(&pkg.join(&sig));
        v["subject_sha256"] = json!(sha256_hex(&bytes));
        v["public_key_pem"] = json!(pem);
        v["public_key_sha256"] = json!(sha256_hex(pem.as_bytes()));
        v["value"] = json!(base64::engine::general_purpose::STANDARD.encode(sk.sign(&bytes)));
        write_json(&pkg.join(&sig), &v);
    }
}

fn pack(dir: &Path, pkg: &Path, key: &str, out: &str) -> std::process::Output {
    airlock(dir, &["pack", "--from-cavra", pkg.to_str().unwrap(), "--cavra-key", key, "-o", out, "--key", "a.key"])
}

fn metadata(bundle: &Path) -> airlock::release::ReleaseMetadata {
    let bytes = fs::read(bundle).unwrap();
    let idx = airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap();
    let m = airlock::archive::read_member(&bytes, idx.get("release/airlock-release.json").unwrap(), 1 << 22).unwrap();
    airlock::release::ReleaseMetadata::parse(&m).unwrap()
}

fn members(bundle: &Path) -> Vec<String> {
    let bytes = fs::read(bundle).unwrap();
    airlock::archive::walk(&bytes, &airlock::archive::Limits::default()).unwrap().entries.into_iter().map(|e| e.name).collect()
}

/// Refused with exit 2, the message holding each of `needles`, and nothing written.
fn refused(o: &std::process::Output, dir: &Path, out: &str, needles: &[&str]) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for n in needles {
        assert!(t.contains(n), "{n:?} not in: {t}");
    }
    assert!(!dir.join(out).exists(), "{out} written despite the refusal");
}

#[test]
fn both_versions_import_verify_upgrade_one_way_and_keep_the_decision_smoke_test() {
    let w = work();
    for v in ["0.1.0", "0.2.0"] {
        let pkg = data().join(format!("go-runtime-v{v}"));
        let out = format!("v{v}.zip");
        let o = airlock(
            &w.dir,
            &["pack", "--from-cavra", pkg.to_str().unwrap(), "--cavra-key", &real_key(), "-o", &out, "--key", "a.key", "--json"],
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("19 signature(s) verified against the pinned key"), "{}", text(&o));
        let record = &json_out(&o)["cavra"];
        assert_eq!(record["signaturesVerified"].as_array().unwrap().len(), 19);
        assert_eq!(record["signaturesVerified"][0]["subject"], "checksums.txt");
        assert_eq!(record["unsigned"], json!(["github-keyless-attestation.json", "release-evidence.md"]));
        assert_eq!(record["acceptedUnlisted"], json!([]));
        let staged = record["controls"].as_array().unwrap().iter().find(|c| c["control"] == "staged-workstation-rollout").unwrap();
        assert_eq!(staged["from"], json!(["cavra-runtime.updater-policy.json", "cavra-runtime.endpoint-deployment.json"]));
        let o = airlock(&w.dir, &["verify", &format!("v{v}.zip"), "--key", "a.pub", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(json_out(&o)["release"]["version"], v);
    }
    let names = members(&w.dir.join("v0.2.0.zip"));
    for m in [
        "artifacts/cavra-runtime_v0.2.0_linux_amd64",
        "other/cavra/bin/cavra-runtime_v0.2.0_linux_amd64.sig.json",
        "other/cavra/checksums.txt.sig.json",
        "other/cavra/release-evidence.json",
        "other/cavra/release-evidence.md",
        "other/cavra/github-keyless-attestation.json",
        "sbom/cavra-runtime.sbom.spdx.json",
        "provenance/cavra-runtime.provenance.intoto.json",
    ] {
        assert!(names.iter().any(|n| n == m), "{m} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("artifacts/") && n.ends_with(".sig.json")), "{names:?}");

    let m = metadata(&w.dir.join("v0.2.0.zip"));
    if schema_support::python_has("jsonschema") {
        fs::write(w.dir.join("meta.json"), m.to_bytes()).unwrap();
        schema_support::validate("release-metadata-v1.schema.json", &[w.dir.join("meta.json")]);
    }
    let win = m.installer("windows-amd64").unwrap();
    assert_eq!(win.install_path, "%ProgramFiles%\\CAVRA\\cavra-runtime.exe");
    let probe = win.probe.as_ref().unwrap();
    assert_eq!(probe.args, ["-input", "-"]);
    assert!(probe.stdin.as_deref().unwrap().contains("\"session_id\":\"installer-smoke\""));
    let expect = probe.expect_json.as_ref().unwrap();
    assert_eq!(expect.pointer, "/decision");
    assert_eq!(expect.one_of.as_ref().unwrap().len(), 6);
    let mac = m.deployments.iter().find(|d| d.id == "macos-jamf-arm64-workstation").unwrap();
    assert_eq!(
        (mac.platform.as_str(), mac.management_tool.as_str(), mac.delivery.as_deref(), mac.label.as_deref(), mac.channel.as_str()),
        ("darwin/arm64", "jamf", Some("jamf-policy"), Some("macOS developer workstation"), "canary")
    );
    let gha = m.deployments.iter().find(|d| d.id == "github-actions-linux-amd64-runner").unwrap();
    assert_eq!((gha.platform.as_str(), gha.channel.as_str()), ("linux/amd64", "stable"), "CI runners follow the recommended channel");
    assert_eq!(gha.label.as_deref(), Some("GitHub Actions self-hosted runner"));
    let stable = m.channels.iter().find(|c| c.name == "stable").unwrap();
    let rings: Vec<(&str, u8, u32)> = stable.rings.iter().map(|r| (r.name.as_str(), r.max_percent, r.soak_hours)).collect();
    assert_eq!(rings, [("pilot", 25, 48), ("broad", 50, 96), ("enterprise", 100, 144)]);
    assert!(stable.hold_conditions.contains(&"rollback package unavailable".to_string()));
    assert!(stable.rollback_requirements.contains(&"pause within 15 minutes".to_string()));
    // Controls from every CAVRA document that carries them.
    for c in [
        "slsa-provenance",
        "staged-workstation-rollout",
        "rollback-package-reference-required",
        "least-privilege-runner-install",
        "blocking-decision-fails-closed-by-default",
    ] {
        assert!(m.controls.iter().any(|x| x == c), "{c} missing from {:?}", m.controls);
    }

    let o = airlock(&w.dir, &["upgrade-validate", "v0.1.0.zip", "v0.2.0.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = airlock(&w.dir, &["upgrade-validate", "v0.2.0.zip", "v0.1.0.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(failed(&json_out(&o)).iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["upgrade.version"]);

    // The stand-in runtime answers CAVRA's request on stdin with a decision from the set.
    let o = airlock(&w.dir, &["smoke", "v0.2.0.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (os, arch) = host();
    let r = json_out(&o);
    let ran: Vec<&Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "smoke.output-json" && c["subject"] == format!("{os}-{arch}"))
        .collect();
    assert_eq!(ran.len(), 1, "{r}");
    assert_eq!(ran[0]["status"], "pass");
    assert_eq!(ran[0]["actual"], "\"allow\"");
}

/// v0.2.0 with its updater policy weakened (every ring 100 % with no soak, hold conditions
/// removed), re-signed with a test CAVRA key so that it imports at all: refused by
/// `upgrade-validate` against the real 0.1.0, one failed `upgrade.channel` per channel.
#[test]
fn weakened_updater_policy_is_refused_by_upgrade_validate() {
    let w = work();
    let o = pack(&w.dir, &data().join("go-runtime-v0.1.0"), &real_key(), "v0.1.0.zip");
    assert!(o.status.success(), "{}", text(&o));
    let pkg = copy_pkg(&w.dir, "0.2.0");
    let path = pkg.join("cavra-runtime.updater-policy.json");
    let mut policy = read_json(&path);
    for p in policy["policies"].as_array_mut().unwrap() {
        for r in p["rollout_rings"].as_array_mut().unwrap() {
            r["max_percentage"] = json!(100);
            r["soak_hours"] = json!(0);
        }
        p["hold_conditions"] = json!([]);
    }
    write_json(&path, &policy);
    let test_key = SecretKey::from_seed(&[42; 32]);
    resign(&pkg, &test_key);
    fs::write(w.dir.join("test-cavra.pem"), pem_of(&test_key)).unwrap();
    // Against CAVRA's real key the re-signed package is refused...
    let o = pack(&w.dir, &pkg, &real_key(), "weak.zip");
    refused(&o, &w.dir, "weak.zip", &["does not verify against the pinned CAVRA key"]);
    // ...and with the test key pinned it imports, but may not replace 0.1.0.
    let o = pack(&w.dir, &pkg, w.dir.join("test-cavra.pem").to_str().unwrap(), "weak.zip");
    assert!(o.status.success(), "{}", text(&o));
    let o = airlock(&w.dir, &["upgrade-validate", "v0.1.0.zip", "weak.zip", "--key", "a.pub", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let f = failed(&json_out(&o));
    for ch in ["canary", "beta", "stable"] {
        assert!(f.contains(&("upgrade.channel".to_string(), ch.to_string())), "{ch}: {f:?}");
    }
    assert!(f.iter().all(|(id, _)| id == "upgrade.channel"), "{f:?}");
}

/// A binary changed with checksums.txt and the metadata rewritten to match, and every CAVRA
/// signature redone with another key embedded in the files (CAVRA's own check would trust it):
/// refused, because the first signature does not verify against the pinned key.
#[test]
fn consistently_changed_package_is_refused_by_its_cavra_signature() {
    let w = work();
    let pkg = copy_pkg(&w.dir, "0.2.0");
    let bin = "bin/cavra-runtime_v0.2.0_linux_amd64";
    let mut b = fs::read(pkg.join(bin)).unwrap();
    let old = sha256_hex(&b);
    b.extend_from_slice(b"\ntrojan\n");
    fs::write(pkg.join(bin), &b).unwrap();
    for doc in [
        "cavra-runtime.installers.json",
        "cavra-runtime.endpoint-deployment.json",
        "cavra-runtime.channels.json",
        "cavra-runtime.ci-runner-bundles.json",
    ] {
        let t = fs::read_to_string(pkg.join(doc)).unwrap().replace(&old, &sha256_hex(&b));
        fs::write(pkg.join(doc), t).unwrap();
    }
    // Not re-signed: checksums.txt's signature, checked first, names the change.
    let sums = fs::read_to_string(pkg.join("checksums.txt")).unwrap().replace(&old, &sha256_hex(&b));
    fs::write(pkg.join("checksums.txt"), sums).unwrap();
    let o = pack(&w.dir, &pkg, &real_key(), "x.zip");
    refused(&o, &w.dir, "x.zip", &["checksums.txt.sig.json: signs checksums.txt with digest"]);
    resign(&pkg, &SecretKey::from_seed(&[9; 32]));
    let o = pack(&w.dir, &pkg, &real_key(), "x.zip");
    refused(
        &o,
        &w.dir,
        "x.zip",
        &[".sig.json: the Ed25519 signature over", "does not verify against the pinned CAVRA key", "made by another key"],
    );
    // Without a pinned key there is nothing to check against: refused before reading.
    let o = airlock(&w.dir, &["pack", "--from-cavra", pkg.to_str().unwrap(), "-o", "x.zip", "--key", "a.key"]);
    refused(&o, &w.dir, "x.zip", &["--from-cavra needs --cavra-key PEM"]);
}

#[test]
fn a_flipped_deleted_or_added_file_is_refused_naming_it() {
    let w = work();
    let key = real_key();
    let pkg = copy_pkg(&w.dir, "0.2.0");
    let bin = pkg.join("bin/cavra-runtime_v0.2.0_linux_arm64");
    let orig = fs::read(&bin).unwrap();
    let mut b = orig.clone();
    b[4096] ^= 0x01;
    fs::write(&bin, &b).unwrap();
    let o = pack(&w.dir, &pkg, &key, "x.zip");
    refused(&o, &w.dir, "x.zip", &["bin/cavra-runtime_v0.2.0_linux_arm64: checksum mismatch", &sha256_hex(&b)]);
    fs::write(&bin, &orig).unwrap();

    fs::rename(pkg.join("go-modules.json"), w.dir.join("go-modules.json")).unwrap();
    let o = pack(&w.dir, &pkg, &key, "x.zip");
    refused(&o, &w.dir, "x.zip", &["checksums.txt lists go-modules.json, which the package does not hold"]);
    fs::rename(w.dir.join("go-modules.json"), pkg.join("go-modules.json")).unwrap();

    // A signature the signed evidence lists, deleted: named.
    let sig = "bin/cavra-runtime_v0.2.0_darwin_amd64.sig.json";
    fs::rename(pkg.join(sig), w.dir.join("moved.sig.json")).unwrap();
    let o = pack(&w.dir, &pkg, &key, "x.zip");
    refused(&o, &w.dir, "x.zip", &[sig, "listed in release-evidence.json"]);
    fs::rename(w.dir.join("moved.sig.json"), pkg.join(sig)).unwrap();

    // Added files: every one named in one refusal.
    fs::write(pkg.join("notes.txt"), b"added\n").unwrap();
    fs::write(pkg.join("bin/helper.sh"), b"#!/bin/sh\n").unwrap();
    let o = pack(&w.dir, &pkg, &key, "x.zip");
    refused(&o, &w.dir, "x.zip", &["bin/helper.sh, notes.txt is in the package but neither listed in checksums.txt"]);
    // Named with --accept-unlisted, they are packed on the packer's authority and named again;
    // a name that is not an unlisted file is refused.
    let p = pkg.to_str().unwrap();
    let accept = |extra: &[&str]| {
        let mut a = vec!["pack", "--from-cavra", p, "--cavra-key", &key, "-o", "x.zip", "--key", "a.key"];
        a.extend_from_slice(extra);
        airlock(&w.dir, &a)
    };
    let o = accept(&["--accept-unlisted", "notes.txt", "--accept-unlisted", "bin/helper.sh", "--accept-unlisted", "go-modules.json"]);
    refused(&o, &w.dir, "x.zip", &["--accept-unlisted go-modules.json: the package holds no such unlisted file"]);
    let o = accept(&["--accept-unlisted", "notes.txt", "--accept-unlisted", "bin/helper.sh"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("on your authority (--accept-unlisted): bin/helper.sh, notes.txt"), "{}", text(&o));
    let names = members(&w.dir.join("x.zip"));
    assert!(names.contains(&"other/cavra/notes.txt".to_string()) && names.contains(&"artifacts/helper.sh".to_string()), "{names:?}");
    fs::remove_file(w.dir.join("x.zip")).unwrap();
    fs::remove_file(pkg.join("notes.txt")).unwrap();
    fs::remove_file(pkg.join("bin/helper.sh")).unwrap();
    let o = pack(&w.dir, &pkg, &key, "x.zip");
    assert!(o.status.success(), "restored package imports: {}", text(&o));
}

/// The zip CAVRA ships (`cavra-go-runtime-<v>.zip`, the package folder inside) is read by the
/// strict archive walker and imports to the very bytes the directory does.
#[test]
fn zip_import_equals_directory_import() {
    let w = work();
    let pkg = data().join("go-runtime-v0.2.0");
    let zip_path = w.dir.join("cavra-go-runtime-v0.2.0.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.add_directory("go-runtime-v0.2.0/", opts).unwrap();
        let mut files = Vec::new();
        let mut stack = vec![pkg.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() { stack.push(p) } else { files.push(p) }
            }
        }
        files.sort();
        for p in files {
            let rel = p.strip_prefix(&pkg).unwrap().to_str().unwrap();
            z.start_file(format!("go-runtime-v0.2.0/{rel}"), opts).unwrap();
            z.write_all(&fs::read(&p).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }
    let o = pack(&w.dir, &pkg, &real_key(), "from-dir.zip");
    assert!(o.status.success(), "{}", text(&o));
    let o = pack(&w.dir, &zip_path, &real_key(), "from-zip.zip");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        fs::read(w.dir.join("from-dir.zip")).unwrap() == fs::read(w.dir.join("from-zip.zip")).unwrap(),
        "zip and directory imports differ"
    );

    // A member outside the package folder is refused, naming it.
    let bad = w.dir.join("bad.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&bad).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("go-runtime-v0.2.0/checksums.txt.sig.json", opts).unwrap();
        z.write_all(b"{}").unwrap();
        z.start_file("elsewhere/readme.txt", opts).unwrap();
        z.write_all(b"x").unwrap();
        z.finish().unwrap();
    }
    let o = pack(&w.dir, &bad, &real_key(), "x.zip");
    refused(&o, &w.dir, "x.zip", &["member elsewhere/readme.txt is outside the package folder"]);
}
