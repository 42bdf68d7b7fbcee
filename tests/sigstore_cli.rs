//! `airlock sigstore verify` through the binary on real bundles from the sigstore-conformance
//! assets: a `cosign sign-blob --bundle` output (message signature, v0.3) and a
//! `gh attestation download`-style JSON Lines file (DSSE in-toto bundles), with identity
//! policies that pass and ones that fail, and the trusted root taken from the trust store.

mod cli_support;
mod schema_support;

use cli_support::Out;
use std::path::{Path, PathBuf};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-conformance/test/assets")
}

fn prod_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-conformance/trusted-root/production-trusted_root.json")
}

fn verify(home: &Path, bundle: &Path, extra: &[&str]) -> Out {
    let mut c = cli_support::command(home);
    c.args(["sigstore", "verify"]).arg(assets().join("a.txt")).arg("--bundle").arg(bundle).args(extra).arg("--json");
    Out::from(c.output().unwrap())
}

fn with_root(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    v.extend(["--trusted-root".to_string(), prod_root().display().to_string()]);
    v
}

fn failed_check(o: &Out, line: usize) -> String {
    let v = o.json();
    let r = v["results"].as_array().unwrap().iter().find(|r| r["line"] == line).unwrap_or_else(|| panic!("no line {line}: {v}"));
    r["checks"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn cosign_sign_blob_bundle_passes_and_fails_by_identity_policy() {
    let home = tempfile::tempdir().unwrap();
    let bundle = assets().join("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let run = |extra: &[&str]| {
        let args = with_root(extra);
        verify(home.path(), &bundle, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let o = run(&["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let ids: Vec<String> =
        o.json()["results"][0]["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    for id in [
        "sigstore.signature",
        "sigstore.tlog",
        "sigstore.certificate.chain",
        "sigstore.certificate.sct",
        "sigstore.identity",
        "sigstore.issuer",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} not reported: {ids:?}");
    }

    let o = run(&["--certificate-identity-regexp", "^https://github.com/sigstore-conformance/", "--certificate-oidc-issuer", ISSUER]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);

    let o = run(&[
        "--certificate-identity",
        "https://github.com/someone-else/repo/.github/workflows/x.yml@refs/heads/main",
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!((o.code, failed_check(&o, 1)), (1, "sigstore.identity".to_string()), "{}", o.stdout);

    let o = run(&["--certificate-identity-regexp", "^https://gitlab.com/", "--certificate-oidc-issuer", ISSUER]);
    assert_eq!((o.code, failed_check(&o, 1)), (1, "sigstore.identity".to_string()), "{}", o.stdout);

    let o = run(&["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", "https://accounts.google.com"]);
    assert_eq!((o.code, failed_check(&o, 1)), (1, "sigstore.issuer".to_string()), "{}", o.stdout);

    // An optional Fulcio extension (1.3.6.1.4.1.57264.1.12: source repository URI).
    let repo = "1.3.6.1.4.1.57264.1.12=https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon";
    let o = run(&["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, "--certificate-extension", repo]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let o = run(&[
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--certificate-extension",
        "1.3.6.1.4.1.57264.1.12=https://github.com/evil/repo",
    ]);
    assert_eq!((o.code, failed_check(&o, 1)), (1, "sigstore.identity".to_string()), "{}", o.stdout);

    // A regular expression that does not compile is a usage error: exit 2, nothing verified.
    let o = run(&["--certificate-identity-regexp", "(", "--certificate-oidc-issuer", ISSUER]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
}

#[test]
fn gh_attestation_json_lines_any_one_bundle_suffices_and_is_named() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let line = |case: &str| {
        let b = std::fs::read(assets().join("bundle-verify").join(case).join("bundle.sigstore.json")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        serde_json::to_string(&v).unwrap()
    };
    // As `gh attestation download` writes: one bundle per line. The first is a forged
    // attestation (its DSSE signature is not the logged one), the second a good one.
    let jsonl = dir.path().join("sha256:a0cf.jsonl");
    std::fs::write(&jsonl, format!("{}\n{}\n", line("dsse-mismatch-sig_fail"), line("happy-path-intoto-in-dsse-v3"))).unwrap();

    // The trusted root comes from the trust store (where `trust import-tuf` keeps it).
    let store = home.path().join("trust/sigstore");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(prod_root(), store.join("trusted_root.json")).unwrap();

    let o = verify(home.path(), &jsonl, &["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let v = o.json();
    assert_eq!((v["jsonLines"].as_bool(), v["matched"].as_u64()), (Some(true), Some(2)), "{v}");
    assert_eq!(failed_check(&o, 1), "sigstore.tlog.body");

    let o = verify(
        home.path(),
        &jsonl,
        &["--certificate-identity-regexp", "^https://github.com/other-org/", "--certificate-oidc-issuer", ISSUER],
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert_eq!((failed_check(&o, 1), failed_check(&o, 2)), ("sigstore.tlog.body".to_string(), "sigstore.identity".to_string()));
    assert!(o.json()["matched"].is_null());
}

#[test]
fn without_a_trusted_root_nothing_is_checked() {
    let home = tempfile::tempdir().unwrap();
    let bundle = assets().join("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let o = verify(home.path(), &bundle, &["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("--trusted-root"), "{}", o.stdout);
}

/// The `--json` reports (pass, fail, JSON Lines) match format-spec/schemas/sigstore-verify-result-v1.
#[test]
fn reports_match_their_schema() {
    if !schema_support::python_has("jsonschema") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let bundle = assets().join("bundle-verify/happy-path-v0.3/bundle.sigstore.json");
    let mut docs = Vec::new();
    for (i, identity) in [IDENTITY, "https://example.com/someone-else"].iter().enumerate() {
        let args = with_root(&["--certificate-identity", identity, "--certificate-oidc-issuer", ISSUER]);
        let o = verify(home.path(), &bundle, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.code, i as i32, "{}{}", o.stdout, o.stderr);
        let p = out.path().join(format!("report-{i}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        docs.push(p);
    }
    schema_support::validate("sigstore-verify-result-v1.schema.json", &docs);
}
