//! `cargo xtask dist`: the static release binary.

use crate::{cargo, root, run};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::Command;

const MUSL: &str = "x86_64-unknown-linux-musl";
const GNU: &str = "x86_64-unknown-linux-gnu";
/// The static binary's size limit.
const MAX_SIZE: u64 = 8 << 20;

fn musl_available() -> bool {
    Command::new("rustup").args(["target", "list", "--installed"]).output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(MUSL))
}

/// Builds, checks static linkage, prints the size; returns the binary path.
pub fn dist() -> Result<PathBuf> {
    let target = if musl_available() {
        run(cargo().args(["build", "--release", "--locked", "--bin", "airlock", "--target", MUSL]))?;
        MUSL
    } else {
        eprintln!("xtask: target {MUSL} not installed (`rustup target add {MUSL}`); falling back to a crt-static glibc build");
        run(cargo()
            .args(["build", "--release", "--locked", "--bin", "airlock", "--target", GNU])
            .env("RUSTFLAGS", "-C target-feature=+crt-static"))?;
        GNU
    };
    let bin = root().join("target").join(target).join("release/airlock");
    let out = Command::new("file").arg("-L").arg(&bin).output()?;
    let desc = String::from_utf8_lossy(&out.stdout).to_string();
    let is_static = desc.contains("statically linked") || desc.contains("static-pie linked");
    if !is_static {
        bail!("{} is not statically linked: {desc}", bin.display());
    }
    let size = std::fs::metadata(&bin)?.len();
    println!("dist: {} ({target}), {:.2} MiB, static: {}", bin.display(), size as f64 / (1 << 20) as f64, desc.trim());
    if size > MAX_SIZE {
        bail!(
            "{} is {:.2} MiB; the static binary must stay within {} MiB (it travels on a USB stick): find what grew \
             (`cargo tree -e normal`, the release profile in Cargo.toml)",
            bin.display(),
            size as f64 / (1 << 20) as f64,
            MAX_SIZE >> 20
        );
    }
    Ok(bin)
}
