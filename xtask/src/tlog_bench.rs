//! `cargo xtask bench` (transparency part): generates a tiled log of 1,048,576 + 1,000 entries
//! in a temp dir (tlog-tiles mirror, checkpoint signed by a throwaway key), imports it into a
//! fresh cache, then generates inclusion proofs from the cache and verifies them, reporting
//! import time and proofs generated and verified per second on one core.

use airlock::keys::SecretKey;
use airlock::merkle::{self, Hash};
use airlock::store::tlog::TlogStore;
use airlock::time::Timestamp;
use airlock::tlog::LogTrust;
use airlock::tlog::checkpoint::Checkpoint;
use airlock::tlog::note::VerifierKey;
use airlock::tlog::tiles::{Exactness, TiledTree, build_tiles};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Entries in the generated log: more than a million, and not a power of two (right-edge tiles
/// at every level).
pub const ENTRIES: u64 = (1 << 20) + 1_000;
/// Proofs generated and verified.
const PROOFS: usize = 300_000;
const ORIGIN: &str = "bench.airlock.example/log";

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> Result<TempDir> {
    let p = std::env::temp_dir().join(format!("airlock-tlog-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(TempDir(p))
}

/// A fixed-seed xorshift for reproducible random indices.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn write_mirror(dir: &Path, key: &SecretKey) -> Result<(u64, u64)> {
    let entries: Vec<Vec<u8>> = (0..ENTRIES).map(|i| format!("airlock bench entry {i:08}").into_bytes()).collect();
    let tiles = build_tiles(&entries);
    let mut bytes = 0u64;
    let n = tiles.len() as u64;
    for (kind, id, b) in &tiles {
        let p = dir.join(id.path_of(*kind));
        std::fs::create_dir_all(p.parent().context("parent")?)?;
        std::fs::write(&p, b)?;
        bytes += b.len() as u64;
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let cp = Checkpoint { origin: ORIGIN.into(), size: ENTRIES, root: merkle::root(&leaves), extensions: vec![] };
    std::fs::write(dir.join("checkpoint"), cp.sign(ORIGIN, key).to_bytes())?;
    Ok((n, bytes))
}

/// Runs the benchmark and prints its numbers.
#[allow(clippy::disallowed_methods)] // timing is what a benchmark is for
pub fn run() -> Result<()> {
    let tmp = temp_dir()?;
    let key = SecretKey::from_seed(&[0x5a; 32]);
    let mut trust = LogTrust::empty("bench key");
    trust.add_log_key(VerifierKey::ed25519(ORIGIN, key.public())?, None);

    let t = Instant::now();
    let mirror = tmp.0.join("mirror");
    let (files, bytes) = write_mirror(&mirror, &key)?;
    println!(
        "tlog: generated a {ENTRIES}-entry tiled log: {files} files, {:.1} MiB, in {:.2} s",
        bytes as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let note = std::fs::read(mirror.join("checkpoint"))?;
    let vc = airlock::tlog::checkpoint::verify_checkpoint(&note, &trust)?;
    let sum = airlock::tlog::tiles::verify_tree(&airlock::store::tlog::DirTiles::mirror(&mirror), &vc.checkpoint, &mut |_, _, _| Ok(()))?;
    println!(
        "tlog: verifying the mirror alone ({} tiles, {} entry bundles, nothing written): {:.2} s",
        sum.tiles,
        sum.entry_bundles,
        t.elapsed().as_secs_f64()
    );

    let store = TlogStore::at(&tmp.0.join("cache"));
    let t = Instant::now();
    let rep = match store.import(&mirror, &trust, Timestamp(1_800_000_000))? {
        Ok(r) => r,
        Err(r) => bail!("import refused: {}", r.error),
    };
    let import_s = t.elapsed().as_secs_f64();
    println!(
        "tlog: import (verify signature, {} tiles, {} entry bundles, write cache durably): {import_s:.2} s ({:.0} entries/s)",
        rep.tiles,
        rep.entry_bundles,
        ENTRIES as f64 / import_s
    );

    let tiles = store.tiles(ORIGIN);
    let tree = TiledTree::new(&tiles, ENTRIES, Exactness::Prefix);
    let root = tree.root()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let indices: Vec<u64> = (0..PROOFS).map(|_| rng.below(ENTRIES)).collect();

    // Cold: every tile read from the cache files once, then served from memory.
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(PROOFS);
    for &i in &indices {
        proofs.push((tree.leaf_hash(i)?, tree.inclusion_proof(i)?));
    }
    let gen_cold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for &i in &indices {
        std::hint::black_box(tree.inclusion_proof(i)?);
    }
    let gen_warm = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (&i, (leaf, p)) in indices.iter().zip(&proofs) {
        merkle::verify_inclusion(leaf, i, ENTRIES, p, &root)?;
    }
    let ver = t.elapsed().as_secs_f64();
    let per = |s: f64| PROOFS as f64 / s;
    println!(
        "tlog: {PROOFS} inclusion proofs from the cache: generated {:.0}/s cold (tiles read from disk), {:.0}/s warm",
        per(gen_cold),
        per(gen_warm)
    );
    println!("tlog: {PROOFS} inclusion proofs verified: {:.0}/s on one core (goal >= 100000/s)", per(ver));
    if per(ver) < 100_000.0 {
        println!("tlog: WARNING: verification below the 100,000/s goal on this machine");
    }
    Ok(())
}
