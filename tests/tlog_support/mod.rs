//! Shared by the tlog_* and transparency tests: a test log (origin, Ed25519 log key, verifier
//! key) and a writer of tlog-tiles mirrors and tlog-proofs for entry lists built here.
#![allow(dead_code)]

use airlock::keys::SecretKey;
use airlock::merkle;
use airlock::tlog::checkpoint::Checkpoint;
use airlock::tlog::cosig::cosign;
use airlock::tlog::note::VerifierKey;
use airlock::tlog::proof::TlogProof;
use airlock::tlog::tiles::{Exactness, MemTiles, TiledTree, build_tiles};
use std::path::Path;

/// The test log's origin (and key name).
pub const LOG: &str = "log.example/airlock-test";
/// The time `write_log` cosignatures carry.
pub const COSIGNED_AT: u64 = 1_799_999_000;

/// The test log's signing key.
pub fn log_key() -> SecretKey {
    SecretKey::from_seed(&[42; 32])
}

/// The test log's verifier key (`name+hex8+base64`).
pub fn vkey() -> VerifierKey {
    VerifierKey::ed25519(LOG, log_key().public()).unwrap()
}

/// `n` distinct entries; entry `forged` (if any) replaced.
pub fn entries(n: usize, forged: Option<usize>) -> Vec<Vec<u8>> {
    (0..n).map(|i| if Some(i) == forged { b"forged".to_vec() } else { format!("entry {i}").into_bytes() }).collect()
}

/// The checkpoint note of `entries`, signed by the log key and cosigned by `witnesses` at `at`.
pub fn checkpoint_note(entries: &[Vec<u8>], witnesses: &[(&str, &SecretKey)], at: u64) -> Vec<u8> {
    let leaves: Vec<merkle::Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let cp = Checkpoint { origin: LOG.into(), size: entries.len() as u64, root: merkle::root(&leaves), extensions: vec![] };
    let mut note = cp.sign(LOG, &log_key());
    for (name, k) in witnesses {
        note.signatures.push(cosign(&note.text, name, k, at));
    }
    note.to_bytes()
}

/// Writes a tlog-tiles mirror of `entries` with a checkpoint signed by the log key and cosigned
/// by `witnesses` at [`COSIGNED_AT`]; returns the checkpoint note bytes.
pub fn write_log(dir: &Path, entries: &[Vec<u8>], witnesses: &[(&str, &SecretKey)]) -> Vec<u8> {
    write_log_at(dir, entries, witnesses, COSIGNED_AT)
}

/// [`write_log`] with cosignatures made at `at`.
pub fn write_log_at(dir: &Path, entries: &[Vec<u8>], witnesses: &[(&str, &SecretKey)], at: u64) -> Vec<u8> {
    for (kind, id, bytes) in build_tiles(entries) {
        let p = dir.join(id.path_of(kind));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let bytes = checkpoint_note(entries, witnesses, at);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("checkpoint"), &bytes).unwrap();
    bytes
}

/// A C2SP tlog-proof of entry `index` in the tree of `entries` under `note` (its checkpoint).
pub fn proof_of(entries: &[Vec<u8>], index: u64, note: &[u8]) -> Vec<u8> {
    let mem = MemTiles::from_built(build_tiles(entries));
    let tree = TiledTree::new(&mem, entries.len() as u64, Exactness::Exact);
    TlogProof { extra: None, index, hashes: tree.inclusion_proof(index).unwrap(), checkpoint: note.to_vec() }.to_bytes()
}
