//! The sigstore-conformance suite's bundle-verify cases (tests/data/sigstore-conformance, see
//! its SOURCE.txt): every case gives its expected outcome (a `_fail` suffix must be refused),
//! through the core and through the binary in both forms of the CLI protocol (artifact path and
//! `sha256:<hex>` digest), offline.

mod cli_support;

use airlock::sigstore::pki::VerifyKey;
use airlock::sigstore::{Bundle, Identity, Policy, TrustedRoot, verify_bundle};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-conformance")
}

struct Case {
    name: String,
    dir: PathBuf,
    pass: bool,
    artifact: PathBuf,
    root: PathBuf,
    identity: String,
    issuer: String,
    key: Option<PathBuf>,
}

fn cases() -> Vec<Case> {
    let base = suite().join("test/assets/bundle-verify");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&base).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let opt = |f: &str| Some(dir.join(f)).filter(|p| p.exists());
        let text = |f: &str, d: &str| opt(f).map_or(d.to_string(), |p| std::fs::read_to_string(p).unwrap().trim().to_string());
        out.push(Case {
            pass: !name.ends_with("_fail"),
            artifact: opt("artifact").unwrap_or(base.join("a.txt")),
            root: opt("trusted_root.json").unwrap_or(suite().join("trusted-root/production-trusted_root.json")),
            identity: text("identity", DEFAULT_IDENTITY),
            issuer: text("issuer", DEFAULT_ISSUER),
            key: opt("key.pub"),
            name,
            dir,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The core's verdict, or why it refused.
fn core(c: &Case) -> Result<(), String> {
    let root = TrustedRoot::parse(&std::fs::read(&c.root).unwrap()).map_err(|e| e.to_string())?;
    let bundle = Bundle::parse(&std::fs::read(c.dir.join("bundle.sigstore.json")).unwrap()).map_err(|e| e.to_string())?;
    let digest: [u8; 32] = Sha256::digest(std::fs::read(&c.artifact).unwrap()).into();
    let policy = match &c.key {
        Some(k) => {
            let pem = std::fs::read(k).unwrap();
            let spki = airlock::sigstore::pki::pem_decode(&pem, "PUBLIC KEY")?;
            Policy::Key { key: VerifyKey::from_spki(&spki)?, spki }
        }
        None => Policy::Keyless { identity: Identity::Exact(c.identity.clone()), issuer: c.issuer.clone(), extensions: vec![] },
    };
    verify_bundle(&bundle, &digest, &root, &policy).map(|_| ()).map_err(|e| format!("[{}] {e}", e.check()))
}

#[test]
fn core_gives_every_expected_outcome() {
    let all = cases();
    assert_eq!(all.len(), 70, "the suite has 70 cases");
    let mut wrong = Vec::new();
    for c in &all {
        let got = core(c);
        eprintln!(
            "{:<60} {}",
            c.name,
            match &got {
                Ok(()) => "PASS".to_string(),
                Err(e) => format!("FAIL {e}"),
            }
        );
        if got.is_ok() != c.pass {
            wrong.push(format!("{}: {:?}", c.name, got));
        }
    }
    eprintln!("conformance (core): {}/{} cases as expected", all.len() - wrong.len(), all.len());
    assert!(wrong.is_empty(), "{} cases differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Runs the binary as the conformance CLI protocol does (`verify-bundle`), mapped onto
/// `airlock sigstore verify`.
fn binary(c: &Case, home: &Path, digest_form: bool) -> cli_support::Out {
    let artifact = if digest_form {
        format!("sha256:{}", hex::encode(Sha256::digest(std::fs::read(&c.artifact).unwrap())))
    } else {
        c.artifact.display().to_string()
    };
    let mut cmd = cli_support::command(home);
    cmd.args(["--no-record", "sigstore", "verify", &artifact, "--bundle"]).arg(c.dir.join("bundle.sigstore.json"));
    cmd.arg("--trusted-root").arg(&c.root);
    match &c.key {
        Some(k) => cmd.arg("--key").arg(k),
        None => cmd.args(["--certificate-identity", &c.identity, "--certificate-oidc-issuer", &c.issuer]),
    };
    cli_support::Out::from(cmd.output().unwrap())
}

#[test]
fn binary_gives_every_expected_outcome_in_both_forms() {
    let home = tempfile::tempdir().unwrap();
    let all = cases();
    let mut wrong = Vec::new();
    for c in &all {
        for digest_form in [false, true] {
            let o = binary(c, home.path(), digest_form);
            let ok = if c.pass { o.code == 0 } else { o.code == 1 || o.code == 2 };
            if !ok {
                wrong.push(format!(
                    "{} ({}): exit {}\n{}{}",
                    c.name,
                    if digest_form { "digest" } else { "path" },
                    o.code,
                    o.stdout,
                    o.stderr
                ));
            }
        }
    }
    eprintln!("conformance (binary): {}/{} runs as expected", 2 * all.len() - wrong.len(), 2 * all.len());
    assert!(wrong.is_empty(), "{} runs differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn a_failed_check_is_exit_1_and_names_it_in_json() {
    let home = tempfile::tempdir().unwrap();
    let c = cases().into_iter().find(|c| c.name == "set-invalid-signature_fail").unwrap();
    let mut cmd = cli_support::command(home.path());
    cmd.args(["sigstore", "verify"]).arg(&c.artifact).arg("--bundle").arg(c.dir.join("bundle.sigstore.json"));
    cmd.arg("--trusted-root").arg(&c.root).args(["--certificate-identity", &c.identity, "--certificate-oidc-issuer", &c.issuer, "--json"]);
    let o = cli_support::Out::from(cmd.output().unwrap());
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let v = o.json();
    assert_eq!(v["schema"], "airlock/sigstore-verify-result/v1");
    assert_eq!(v["outcome"], "fail");
    assert_eq!(v["results"][0]["checks"][0]["id"], "sigstore.tlog.set");
    assert_eq!(v["results"][0]["checks"][0]["status"], "fail");
    // A deciding command: the verdict is recorded in the evidence ledger.
    assert_eq!(cli_support::ledger(home.path()), vec![("sigstore verify".to_string(), "fail".to_string())]);
}
