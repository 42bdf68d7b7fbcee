//! `cargo xtask bench` (Sigstore part): Sigstore bundle verifications per second on one core,
//! for two bundles of the conformance suite: a keyless Rekor v1 bundle (chain, SCT, SET,
//! inclusion proof and checkpoint, identity) and a Rekor v2 bundle (RFC 3161 timestamp,
//! Ed25519 checkpoint). Each iteration parses the bundle and verifies it; the trusted root is
//! parsed once, as `airlock sigstore verify` does per run.

use airlock::digest::Sha256Digest;
use airlock::sigstore::{Bundle, Identity, Policy, TrustedRoot, verify_bundle};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Runs the benchmark and prints one line per bundle kind.
pub fn run() -> Result<()> {
    let data = crate::root().join("tests/data/sigstore-conformance");
    let read = |p: &str| std::fs::read(data.join(p)).with_context(|| format!("reading {p}"));
    let artifact = Sha256Digest::of(&read("test/assets/a.txt")?).0;
    let policy = Policy::Keyless { identity: Identity::Exact(IDENTITY.into()), issuer: ISSUER.into(), extensions: vec![] };
    for (name, bundle, root) in [
        (
            "keyless Rekor v1 (SET, proof, checkpoint, SCT)",
            "test/assets/bundle-verify/happy-path-v0.3/bundle.sigstore.json",
            "trusted-root/production-trusted_root.json",
        ),
        (
            "keyless Rekor v2 (RFC 3161, Ed25519 checkpoint)",
            "test/assets/bundle-verify/rekor2-happy-path/bundle.sigstore.json",
            "test/assets/bundle-verify/rekor2-happy-path/trusted_root.json",
        ),
    ] {
        let bytes = read(bundle)?;
        let root = TrustedRoot::parse(&read(root)?).map_err(|e| anyhow::anyhow!("{e}"))?;
        let once = || Bundle::parse(&bytes).and_then(|b| verify_bundle(&b, &artifact, &root, &policy));
        if let Err(e) = once() {
            bail!("{bundle} does not verify: {e}");
        }
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(2) {
            once().map_err(|e| anyhow::anyhow!("{e}"))?;
            n += 1;
        }
        println!("sigstore: {name}: {:.0} bundle verifications/s on one core", n as f64 / t.elapsed().as_secs_f64());
    }
    Ok(())
}
