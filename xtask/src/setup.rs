//! `cargo xtask setup`: installs every tool the tests need, idempotently. CI runs it as root
//! with no standard input before the tests (which then run without a network).

use anyhow::{Result, bail};
use std::process::Command;

/// Debian packages the tests and the static build use.
pub const APT_PACKAGES: &[(&str, &str)] = &[
    // (command or file to probe, package)
    ("musl-gcc", "musl-tools"),
    // tests/smoke_native.rs compiles a native probe binary.
    ("cc", "gcc"),
    ("unzip", "unzip"),
    // `cargo xtask bench` times `zip -r -0` as pack's peer.
    ("zip", "zip"),
    ("bsdtar", "libarchive-tools"),
    ("file", "file"),
    ("/usr/bin/time", "time"),
    ("minisign", "minisign"),
    ("signify-openbsd", "signify-openbsd"),
    // Reproduces evidenceScore by hand in tests/gate_cli.rs (format-spec/gate-v1.md §2.1).
    ("jq", "jq"),
    // Moves the real clock of one airlock run (libfaketime): tests/promotion_cli.rs lets a ring
    // soak without waiting, as execution is decided by the real clock, never `--at-time`.
    ("faketime", "faketime"),
    // The PostgreSQL ledger backend's tests start their own server (tests/pg_support/): initdb
    // into a temporary directory, a Unix socket only.
    ("pg_ctlcluster", "postgresql"),
    // tests/serve_api.rs talks to `airlock serve` with a real HTTP client (loopback and Unix socket).
    ("curl", "curl"),
    // `cargo xtask ci` brings up loopback inside the tests' network namespace (`ip link set lo up`).
    ("ip", "iproute2"),
];

/// Python packages used by interop tests: (import name, pip requirement).
pub const PIP_PACKAGES: &[(&str, &str)] = &[
    ("rfc8785", "rfc8785==0.1.4"),
    ("jsonschema", "jsonschema==4.26.0"),
    // python-tuf builds the TUF repositories of tests/trust_tuf.rs and cross-checks them with its client.
    ("tuf.ngclient", "tuf==7.0.1"),
    ("securesystemslib", "securesystemslib==1.6.0"),
    ("cryptography", "cryptography==48.0.0"),
    // DSSE statements, in-toto layouts and links (tests/evidence_intoto_interop.rs).
    ("in_toto", "in-toto==3.1.0"),
    // CycloneDX 1.4 JSON and XML, SPDX tag-value SBOMs (tests/evidence_formats_interop.rs).
    ("cyclonedx", "cyclonedx-python-lib==8.5.0"),
    ("spdx_tools", "spdx-tools==0.8.3"),
];

fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd} >/dev/null 2>&1")).status().is_ok_and(|s| s.success())
}

fn python_has(module: &str) -> bool {
    Command::new("python3").arg("-c").arg(format!("import {module}")).status().is_ok_and(|s| s.success())
}

/// Runs an installer step with CI's heartbeat (apt-get and cargo install can take minutes).
fn run(cmd: &mut Command) -> Result<()> {
    crate::run_here(cmd)
}

/// Installs what is missing.
pub fn setup() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES.iter().filter(|(c, _)| !have(c)).map(|(_, p)| *p).collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!("missing Debian packages {missing:?}; run as root or `sudo apt-get install {}`", missing.join(" "));
        }
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let pip_missing: Vec<&str> = PIP_PACKAGES.iter().filter(|(m, _)| !python_has(m)).map(|(_, r)| *r).collect();
    if !pip_missing.is_empty() {
        run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(&pip_missing))?;
    }
    // cargo-fuzz for `cargo xtask fuzz-smoke` (needs the nightly toolchain, present on this image).
    if !Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success()) {
        let _ = run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz", "--version", "0.13.2"]));
    }
    if !Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("x86_64-unknown-linux-musl"))
        .unwrap_or(false)
    {
        // Best effort: `cargo xtask dist` falls back to a static glibc build without it.
        let _ = run(Command::new("rustup").args(["target", "add", "x86_64-unknown-linux-musl"]));
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}
