//! Detached signatures made by the real `minisign` and `signify-openbsd` CLIs, verified by our
//! parser and, differentially, by `minisign-verify` 0.3 (and the minisign CLI itself): prehashed
//! `ED` and legacy `Ed` verify; a tampered file, a wrong key, and an S+L malleation of either the
//! signature or the global signature fail in every implementation.

mod cli_support;

mod evidence_support;

use airlock::evidence::minisign::{Bytes, MinisignError, MinisignPublicKey, MinisignSignature, verify_detached};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use evidence_support::have_tool;
use std::path::Path;
use std::process::Command;

/// The Ed25519 group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0x10,
];

/// S ← S + L (little-endian 256-bit add): the same signature value, non-canonically encoded.
fn add_l(s: &mut [u8]) {
    let mut carry = 0u16;
    for i in 0..32 {
        let v = s[i] as u16 + L[i] as u16 + carry;
        s[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits for a canonical S");
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn minisign_keypair(dir: &Path, name: &str) {
    run(Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(dir.join(format!("{name}.pub")))
        .arg("-s")
        .arg(dir.join(format!("{name}.key"))));
}

fn sign(dir: &Path, key: &str, file: &str, sig: &str, legacy: bool) {
    let mut c = Command::new("minisign");
    c.arg("-S");
    if legacy {
        c.arg("-l");
    }
    run(c
        .arg("-s")
        .arg(dir.join(format!("{key}.key")))
        .arg("-m")
        .arg(dir.join(file))
        .arg("-x")
        .arg(dir.join(sig))
        .args(["-t", "release app 1.2.0"]));
}

/// Ours and minisign-verify 0.3 on the same inputs.
fn both(pk: &[u8], sig: &[u8], msg: &[u8]) -> (Result<(), MinisignError>, bool) {
    let ours = verify_detached(pk, sig, &Bytes(msg)).map(|_| ());
    let key_line = std::str::from_utf8(pk).unwrap().lines().nth(1).unwrap();
    let oracle = match (
        minisign_verify::PublicKey::from_base64(key_line),
        std::str::from_utf8(sig).ok().and_then(|s| minisign_verify::Signature::decode(s).ok()),
    ) {
        (Ok(k), Some(s)) => k.verify(msg, &s, true).is_ok(),
        _ => false,
    };
    (ours, oracle)
}

fn cli_verifies(dir: &Path, key: &str, file: &str, sig_bytes: &[u8]) -> bool {
    let sp = dir.join("probe.minisig");
    std::fs::write(&sp, sig_bytes).unwrap();
    Command::new("minisign")
        .args(["-V", "-q", "-p"])
        .arg(dir.join(format!("{key}.pub")))
        .arg("-m")
        .arg(dir.join(file))
        .arg("-x")
        .arg(&sp)
        .status()
        .unwrap()
        .success()
}

/// Re-encodes line `n` (0-based) of a signature file after `f` edits its decoded bytes.
fn edit_line(sig: &[u8], n: usize, f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let text = String::from_utf8(sig.to_vec()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut raw = STANDARD.decode(&lines[n]).unwrap();
    f(&mut raw);
    lines[n] = STANDARD.encode(raw);
    (lines.join("\n") + "\n").into_bytes()
}

#[test]
fn minisign_cli_signatures_ed_and_legacy() {
    if !have_tool("minisign", Command::new("minisign").arg("-v")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    minisign_keypair(d, "release");
    minisign_keypair(d, "other");
    let msg: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(d.join("app.zip"), &msg).unwrap();
    sign(d, "release", "app.zip", "ed.minisig", false);
    sign(d, "release", "app.zip", "legacy.minisig", true);
    let pk = std::fs::read(d.join("release.pub")).unwrap();
    let other = std::fs::read(d.join("other.pub")).unwrap();
    let mut tampered = msg.clone();
    tampered[100_000] ^= 0x01;

    for (sig_name, tag) in [("ed.minisig", "ED"), ("legacy.minisig", "Ed")] {
        let sig = std::fs::read(d.join(sig_name)).unwrap();
        let parsed = MinisignSignature::parse(&sig).unwrap();
        assert_eq!(parsed.algorithm.tag(), tag);
        assert_eq!(parsed.trusted.as_ref().unwrap().text, "release app 1.2.0");
        assert_eq!(
            format!("minisign public key {}", MinisignPublicKey::parse(&pk).unwrap().key_id_text()),
            String::from_utf8_lossy(&pk).lines().next().unwrap().trim_start_matches("untrusted comment: ")
        );

        // Valid.
        let (ours, oracle) = both(&pk, &sig, &msg);
        assert_eq!((ours.clone(), oracle), (Ok(()), true), "{sig_name}");
        // Tampered file.
        let (ours, oracle) = both(&pk, &sig, &tampered);
        assert!(matches!(ours, Err(MinisignError::BadSignature { .. })) && !oracle, "{sig_name}: {ours:?}");
        // Wrong key: refused by key id, and with the key id forged to match, by the signature.
        let (ours, oracle) = both(&other, &sig, &msg);
        assert!(matches!(ours, Err(MinisignError::KeyIdMismatch { .. })) && !oracle, "{sig_name}: {ours:?}");
        let forged_id = {
            let sig_id = STANDARD.decode(String::from_utf8_lossy(&sig).lines().nth(1).unwrap()).unwrap()[2..10].to_vec();
            edit_line(&other, 1, |raw| raw[2..10].copy_from_slice(&sig_id))
        };
        let (ours, oracle) = both(&forged_id, &sig, &msg);
        assert!(matches!(ours, Err(MinisignError::BadGlobalSignature { .. })) && !oracle, "{sig_name}: {ours:?}");
        // S+L malleation of the signature: same value mod L, refused by verify_strict.
        let mall_sig = edit_line(&sig, 1, |raw| add_l(&mut raw[10 + 32..74]));
        let (ours, oracle) = both(&pk, &mall_sig, &msg);
        assert!(ours.is_err() && !oracle, "{sig_name}: S+L signature accepted: {ours:?}");
        assert!(!cli_verifies(d, "release", "app.zip", &mall_sig));
        // S+L malleation of the global signature over the trusted comment.
        let mall_global = edit_line(&sig, 3, |raw| add_l(&mut raw[32..64]));
        let (ours, oracle) = both(&pk, &mall_global, &msg);
        assert!(matches!(ours, Err(MinisignError::BadGlobalSignature { .. })) && !oracle, "{sig_name}: {ours:?}");
        assert!(!cli_verifies(d, "release", "app.zip", &mall_global));
        // Sanity: the CLI accepts the unmodified file (the probe itself works).
        assert!(cli_verifies(d, "release", "app.zip", &sig));
        // Differential: every single-bit flip of the signature line and of the global signature
        // is refused by both implementations.
        let mut flips = 0;
        for (line, len) in [(1usize, 74usize), (3, 64)] {
            for byte in 0..len {
                for bit in [0u8, 5] {
                    let m = edit_line(&sig, line, |raw| raw[byte] ^= 1 << bit);
                    let (ours, oracle) = both(&pk, &m, &msg);
                    assert!(ours.is_err() && !oracle, "{sig_name}: flip line {line} byte {byte} bit {bit}: ours {ours:?}, oracle {oracle}");
                    flips += 1;
                }
            }
        }
        assert_eq!(flips, 2 * (74 + 64));
    }
}

#[test]
fn signify_cli_signatures() {
    if !have_tool("signify-openbsd", Command::new("sh").args(["-c", "command -v signify-openbsd"])) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(Command::new("signify-openbsd").args(["-G", "-n", "-p"]).arg(d.join("k.pub")).arg("-s").arg(d.join("k.sec")));
    std::fs::write(d.join("app.tar"), b"signify signed bytes\n").unwrap();
    run(Command::new("signify-openbsd")
        .args(["-S", "-s"])
        .arg(d.join("k.sec"))
        .arg("-m")
        .arg(d.join("app.tar"))
        .arg("-x")
        .arg(d.join("app.tar.sig")));
    let pk = std::fs::read(d.join("k.pub")).unwrap();
    let sig = std::fs::read(d.join("app.tar.sig")).unwrap();
    let parsed = verify_detached(&pk, &sig, &Bytes(b"signify signed bytes\n")).unwrap();
    assert!(parsed.trusted.is_none());
    assert!(matches!(verify_detached(&pk, &sig, &Bytes(b"signify signed bytes!\n")), Err(MinisignError::BadSignature { .. })));
    let mall = edit_line(&sig, 1, |raw| add_l(&mut raw[42..74]));
    assert!(verify_detached(&pk, &mall, &Bytes(b"signify signed bytes\n")).is_err());
}

#[test]
fn verify_minisign_key_checks_the_bundle_minisig_next_to_it() {
    if !have_tool("minisign", Command::new("minisign").arg("-v")) {
        return;
    }
    use airlock::cmd::minisig;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    minisign_keypair(d, "release");
    let k = evidence_support::keys();
    let bytes = evidence_support::zip_bundle(&evidence_support::standard_files(&k, &evidence_support::Spec::default()), &[&k.release]);
    let bundle = d.join("app-1.2.0.zip");
    std::fs::write(&bundle, &bytes).unwrap();
    let key = d.join("release.pub");
    // No signature yet: a failed check, not a crash.
    let c = minisig::check(&bundle, &key).unwrap();
    assert_eq!((c.id.as_ref(), c.status), ("minisign.signature", airlock::report::Status::Fail));
    sign(d, "release", "app-1.2.0.zip", "app-1.2.0.zip.minisig", false);
    let c = minisig::check(&bundle, &key).unwrap();
    assert_eq!(c.status, airlock::report::Status::Pass, "{}", c.detail);
    // The verification stays passed with a passing check and turns failed with a failing one.
    let trust = airlock::verify::TrustPolicy::ed25519([k.release.public().clone()], 1, "t");
    let with = |c: airlock::report::Check| {
        let examined = airlock::verify::examine(&bytes, &trust, &Default::default(), &|_| {}).unwrap();
        examined.conclude(airlock::verify::Conclusion { checks: vec![c], ..Default::default() }).verification
    };
    assert!(matches!(with(c), airlock::verify::Verification::Passed(..)));
    // Through the binary: `verify --minisign-key` adds the check; a missing .minisig fails (exit 1).
    std::fs::write(d.join("airlock.pub"), k.release.public().to_file()).unwrap();
    let run = || {
        cli_support::command(&d.join("home"))
            .args(["verify", "--no-progress", "--key"])
            .arg(d.join("airlock.pub"))
            .arg("--minisign-key")
            .arg(&key)
            .arg(&bundle)
            .output()
            .unwrap()
    };
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("PASS minisign.signature"), "{out}");
    std::fs::rename(d.join("app-1.2.0.zip.minisig"), d.join("moved.minisig")).unwrap();
    let o = run();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL minisign.signature"), "{out}");
    std::fs::rename(d.join("moved.minisig"), d.join("app-1.2.0.zip.minisig")).unwrap();
    let mut t = bytes.clone();
    let n = t.len();
    t[n - 30] ^= 1; // inside the zip's end records: the file changed after signing
    std::fs::write(&bundle, &t).unwrap();
    let c = minisig::check(&bundle, &key).unwrap();
    assert_eq!(c.status, airlock::report::Status::Fail);
    assert!(matches!(with(c), airlock::verify::Verification::Failed(..)));
    // An unusable key file is "could not verify" (Err), not a failed check.
    std::fs::write(&key, b"not a key\n").unwrap();
    assert!(minisig::check(&bundle, &key).is_err());
}

/// Upstream's own signatures packed with their files: `verify --member-minisign-key` checks every
/// member `X.minisig` (minisign, prehashed and legacy) and `X.sig` (signify) over its member X,
/// streamed out of the bundle (deflated members too). A signature over other bytes, a wrong key
/// and a bundle with no such pair each fail (exit 1).
#[test]
fn member_minisign_key_checks_signatures_packed_beside_their_members() {
    if !have_tool("minisign", Command::new("minisign").arg("-v")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    minisign_keypair(d, "upstream");
    minisign_keypair(d, "other");
    let airlock = |args: &[&str]| {
        cli_support::command(&d.join("home"))
            .arg("--no-progress")
            .args(args)
            .current_dir(d)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    };
    assert!(airlock(&["keygen", "-o", "release"]).status.success());
    let art = d.join("in/artifacts");
    std::fs::create_dir_all(&art).unwrap();
    // Compressible, so `pack` deflates it and the check reads it through the inflater.
    std::fs::write(art.join("tool.tar.gz"), "upstream tool release bytes\n".repeat(5000)).unwrap();
    std::fs::write(art.join("notes.txt"), b"notes\n").unwrap();
    sign(d, "upstream", "in/artifacts/tool.tar.gz", "in/artifacts/tool.tar.gz.minisig", false);
    sign(d, "upstream", "in/artifacts/notes.txt", "in/artifacts/notes.txt.minisig", true);
    let pack = |out: &str| {
        let o = airlock(&["pack", "in", "-o", out, "--key", "release.key", "--product", "tool", "--version", "1.0.0"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    pack("good.zip");
    let verify = |bundle: &str, key: &str| {
        let o = airlock(&["verify", bundle, "--key", "release.pub", "--member-minisign-key", key]);
        (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (code, out) = verify("good.zip", "upstream.pub");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("PASS minisign.member").count(), 2, "{out}");
    assert!(out.contains("artifacts/tool.tar.gz.minisig over artifacts/tool.tar.gz"), "{out}");
    let (code, out) = verify("good.zip", "other.pub");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL minisign.member"), "{out}");

    // A signature over other bytes, validly packed and signed by the release key: exit 1.
    std::fs::write(d.join("elsewhere"), b"not the tool\n").unwrap();
    sign(d, "upstream", "elsewhere", "in/artifacts/tool.tar.gz.minisig", false);
    pack("swapped.zip");
    let (code, out) = verify("swapped.zip", "upstream.pub");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!((out.matches("FAIL minisign.member").count(), out.matches("PASS minisign.member").count()), (1, 1), "{out}");

    // signify's `X.sig` beside its member, made by the real signify-openbsd.
    if have_tool("signify-openbsd", Command::new("sh").args(["-c", "command -v signify-openbsd"])) {
        run(Command::new("signify-openbsd").args(["-G", "-n", "-p"]).arg(d.join("sf.pub")).arg("-s").arg(d.join("sf.sec")));
        std::fs::remove_file(art.join("tool.tar.gz.minisig")).unwrap();
        std::fs::remove_file(art.join("notes.txt.minisig")).unwrap();
        run(Command::new("signify-openbsd")
            .args(["-S", "-s"])
            .arg(d.join("sf.sec"))
            .arg("-m")
            .arg(art.join("tool.tar.gz"))
            .arg("-x")
            .arg(art.join("tool.tar.gz.sig")));
        pack("signify.zip");
        let (code, out) = verify("signify.zip", "sf.pub");
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("PASS minisign.member") && out.contains("tool.tar.gz.sig over artifacts/tool.tar.gz"), "{out}");
        std::fs::remove_file(art.join("tool.tar.gz.sig")).unwrap();
    } else {
        for f in ["tool.tar.gz.minisig", "notes.txt.minisig"] {
            std::fs::remove_file(art.join(f)).unwrap();
        }
    }

    // No signature member at all: the check the caller asked for fails.
    pack("bare.zip");
    let (code, out) = verify("bare.zip", "upstream.pub");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no member X.minisig or X.sig"), "{out}");
}

/// Members signed by two upstream keys: `--member-minisign-key` given twice checks each
/// signature with the key it names (both pass); with one key, the other's signature fails and
/// names the key ids. A signify `BUNDLE.sig` beside the bundle is found by `--minisign-key`.
#[test]
fn two_member_keys_and_a_signify_sig_beside_the_bundle() {
    if !have_tool("minisign", Command::new("minisign").arg("-v"))
        || !have_tool("signify-openbsd", Command::new("sh").args(["-c", "command -v signify-openbsd"]))
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    minisign_keypair(d, "upstream-a");
    minisign_keypair(d, "upstream-b");
    run(Command::new("signify-openbsd").args(["-G", "-n", "-p"]).arg(d.join("sf.pub")).arg("-s").arg(d.join("sf.sec")));
    let airlock = |args: &[&str]| {
        let o = cli_support::command(&d.join("home"))
            .arg("--no-progress")
            .args(args)
            .current_dir(d)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    assert_eq!(airlock(&["keygen", "-o", "release"]).0, Some(0));
    let art = d.join("in/artifacts");
    std::fs::create_dir_all(&art).unwrap();
    std::fs::write(art.join("tool.tar.gz"), b"tool\n").unwrap();
    std::fs::write(art.join("lib.tar.gz"), b"lib\n").unwrap();
    sign(d, "upstream-a", "in/artifacts/tool.tar.gz", "in/artifacts/tool.tar.gz.minisig", false);
    sign(d, "upstream-b", "in/artifacts/lib.tar.gz", "in/artifacts/lib.tar.gz.minisig", false);
    let (code, out) = airlock(&["pack", "in", "-o", "app.zip", "--key", "release.key", "--product", "tool", "--version", "1.0.0"]);
    assert_eq!(code, Some(0), "{out}");
    let verify = |extra: &[&str]| airlock(&[&["verify", "app.zip", "--key", "release.pub"][..], extra].concat());
    let (code, out) = verify(&["--member-minisign-key", "upstream-a.pub", "--member-minisign-key", "upstream-b.pub"]);
    assert_eq!((code, out.matches("PASS minisign.member").count()), (Some(0), 2), "{out}");
    let (code, out) = verify(&["--member-minisign-key", "upstream-a.pub", "--member-minisign-key", "sf.pub"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL minisign.member") && out.contains("which is none of the 2 keys given"), "{out}");

    // signify's detached signature over the whole bundle, named as signify names it.
    run(Command::new("signify-openbsd")
        .args(["-S", "-s"])
        .arg(d.join("sf.sec"))
        .arg("-m")
        .arg(d.join("app.zip"))
        .arg("-x")
        .arg(d.join("app.zip.sig")));
    let (code, out) = verify(&["--minisign-key", "sf.pub"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("PASS minisign.signature") && out.contains("app.zip.sig"), "{out}");
}
