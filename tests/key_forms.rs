//! Public keys as users hold them (issue 18): `--key` takes an airlock `.pub`, a PEM public key
//! and a securesystemslib key dict (made here by python `cryptography` and `securesystemslib`)
//! with the same key id; a secret key file says which file to pass instead.

mod cli_support;

use cli_support::{Out, run_airlock};
use std::path::Path;
use std::process::Command;

fn have_python_modules() -> bool {
    let ok = Command::new("python3").args(["-c", "import securesystemslib, cryptography"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var("AIRLOCK_REQUIRE_INTEROP").as_deref() != Ok("1"), "securesystemslib is required (cargo xtask setup)");
        eprintln!("SKIP: python securesystemslib not installed; run `cargo xtask setup`; this test checked nothing");
    }
    ok
}

const SCRIPT: &str = r#"
import json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.signer import SSlibKey, CryptoSigner

pub = json.load(open("release-1.pub"))
key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub["keyval"]["public"]))
open("release-1.pem", "wb").write(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
ss = SSlibKey.from_crypto(key)
open("release-1.sslib.json", "w").write(json.dumps(dict(ss.to_dict(), keyid=ss.keyid)))
p256 = CryptoSigner.generate_ecdsa().public_key
open("p256.pem", "w").write(p256.keyval["public"])
open("keyids.json", "w").write(json.dumps({"ed25519": ss.keyid, "p256": p256.keyid}))
"#;

fn airlock(dir: &Path, args: &[&str]) -> Out {
    run_airlock(dir, &dir.join("home"), &[("SOURCE_DATE_EPOCH", "1700000000")], args)
}

#[test]
fn key_accepts_pem_and_securesystemslib_forms_and_names_a_secret_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("rel/artifacts")).unwrap();
    std::fs::write(dir.join("rel/artifacts/app"), b"app binary\n").unwrap();
    let o = airlock(dir, &["keygen", "-o", "release-1"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = airlock(
        dir,
        &[
            "pack",
            "rel",
            "-o",
            "app.zip",
            "--product",
            "app",
            "--version",
            "1.0.0",
            "--commit",
            "abcdef0",
            "--key",
            "release-1.key",
            "--no-progress",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);

    // The secret key where the public key is taken: say so, and name the file to pass.
    let o = airlock(dir, &["verify", "app.zip", "--key", "release-1.key"]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("release-1.key: this is a secret key; pass release-1.pub"), "{}", o.stderr);

    if !have_python_modules() {
        return;
    }
    let py = Command::new("python3").args(["-c", SCRIPT]).current_dir(dir).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    for form in ["release-1.pub", "release-1.pem", "release-1.sslib.json"] {
        let o = airlock(dir, &["verify", "app.zip", "--key", form, "--json"]);
        assert_eq!(o.code, 0, "{form}: {}{}", o.stdout, o.stderr);
    }
    // The same key id whatever the form: the one securesystemslib computes.
    let ids: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("keyids.json")).unwrap()).unwrap();
    let pub_file: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("release-1.pub")).unwrap()).unwrap();
    assert_eq!(pub_file["keyid"], ids["ed25519"]);
    let o = airlock(dir, &["verify", "app.zip", "--key", "release-1.pem", "--json"]);
    assert!(o.stdout.contains(ids["ed25519"].as_str().unwrap()), "{}", o.stdout);

    // A P-256 key is read, but bundles are signed with Ed25519: the refusal says so.
    let o = airlock(dir, &["verify", "app.zip", "--key", "p256.pem"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("an ECDSA P-256 key, but this option takes Ed25519 keys"), "{}", o.stderr);
}
