//! The real 15-entry tessera log (tests/data/tlog/tessera-tlog): every checkpoint verifies,
//! sizes 0..15 import in order into the cache, every entry is proven at every size, every pair
//! of sizes is consistent, and every single-byte mutation of a checkpoint (signature included),
//! tile or entry bundle is refused with its rule named, leaving the cache untouched.

use airlock::store::tlog::{ImportRelation, TlogStore};
use airlock::time::Timestamp;
use airlock::tlog::checkpoint::verify_checkpoint;
use airlock::tlog::note::VerifierKey;
use airlock::tlog::proof::TlogProof;
use airlock::tlog::tiles::{Exactness, MemTiles, TiledTree, check_consistency, verify_tree};
use airlock::tlog::{LogTrust, TlogError};
use std::path::{Path, PathBuf};

const VKEY: &str = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
const ORIGIN: &str = "example.com/log/testdata";
const ENTRIES: [&str; 15] =
    ["one", "two", "three", "four", "five", "six", "seven", "eit", "nain", "ten", "ileven", "twelf", "threeten", "fourten", "fivten"];
const NOW: Timestamp = Timestamp(1_800_000_000);

fn log_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tlog/tessera-tlog/testdata/log")
}

fn trust() -> LogTrust {
    let mut t = LogTrust::empty("test");
    t.add_log_key(VerifierKey::parse(VKEY).unwrap(), None);
    t
}

fn checkpoint(n: usize) -> Vec<u8> {
    std::fs::read(log_dir().join(format!("checkpoint.{n}"))).unwrap()
}

/// The files a mirror at size `n` holds: (relative path, bytes).
fn mirror_files(n: usize) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![("checkpoint".to_string(), checkpoint(n))];
    if n > 0 {
        for rel in [format!("tile/0/000.p/{n}"), format!("tile/entries/000.p/{n}")] {
            v.push((rel.clone(), std::fs::read(log_dir().join(&rel)).unwrap()));
        }
    }
    v
}

fn write_mirror(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (rel, b) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
}

fn tree_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(d: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out)
            } else {
                out.push((p.strip_prefix(base).unwrap().to_string_lossy().into(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn every_checkpoint_verifies_with_the_published_key() {
    let t = trust();
    for n in 0..=15 {
        let v = verify_checkpoint(&checkpoint(n), &t).unwrap_or_else(|e| panic!("checkpoint.{n}: {e}"));
        assert_eq!((v.checkpoint.origin.as_str(), v.checkpoint.size), (ORIGIN, n as u64));
        assert_eq!(v.log_keys, vec!["example.com/log/testdata+33d7b496".to_string()]);
    }
    assert_eq!(std::fs::read(log_dir().join("checkpoint")).unwrap(), checkpoint(15));
    assert_eq!(
        airlock::tlog::checkpoint::Checkpoint::parse("example.com/log/testdata\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
            .unwrap()
            .root,
        airlock::merkle::empty_root()
    );
}

#[test]
fn import_0_to_15_in_order_then_prove_every_entry_at_every_size() {
    let tmp = tempfile::tempdir().unwrap();
    let store = TlogStore::at(&tmp.path().join("cache"));
    let t = trust();
    for n in 0..=15usize {
        let m = tmp.path().join(format!("mirror{n}"));
        write_mirror(&m, &mirror_files(n));
        let rep = store.import(&m, &t, NOW).unwrap().unwrap_or_else(|r| panic!("size {n}: {}", r.error));
        let want = if n == 0 { ImportRelation::First } else { ImportRelation::Extends { from: n as u64 - 1 } };
        assert_eq!((rep.size, rep.relation), (n as u64, want));
        assert_eq!(rep.entry_bundles, u64::from(n > 0));
        assert_eq!(store.state(ORIGIN).unwrap().unwrap().size, n as u64);
    }
    // Re-importing the same mirror changes nothing; an older mirror is proven consistent and ignored.
    let same = store.import(&tmp.path().join("mirror15"), &t, NOW).unwrap().unwrap();
    assert_eq!((same.relation, same.written), (ImportRelation::Same, 0));
    let older = store.import(&tmp.path().join("mirror7"), &t, NOW).unwrap().unwrap();
    assert_eq!(older.relation, ImportRelation::Older { cached: 15 });
    assert_eq!(store.state(ORIGIN).unwrap().unwrap().size, 15);

    // Every entry at every size, proven from the cache and verified against checkpoint.<size>.
    let tiles = store.tiles(ORIGIN);
    let mut proofs = 0;
    for size in 1..=15u64 {
        let tree = TiledTree::new(&tiles, size, Exactness::Prefix);
        let cp = verify_checkpoint(&checkpoint(size as usize), &t).unwrap().checkpoint;
        assert_eq!(tree.root().unwrap(), cp.root, "root at {size}");
        for i in 0..size {
            assert_eq!(tree.entry(i).unwrap().unwrap(), ENTRIES[i as usize].as_bytes());
            let p = TlogProof { extra: None, index: i, hashes: tree.inclusion_proof(i).unwrap(), checkpoint: checkpoint(size as usize) };
            let parsed = TlogProof::parse(&p.to_bytes()).unwrap();
            let v = parsed.verify_entry(ENTRIES[i as usize].as_bytes(), &t).unwrap();
            assert_eq!((v.index, v.checkpoint.checkpoint.size), (i, size));
            // Another entry under the same proof is refused.
            let other = ENTRIES[(i as usize + 1) % 15].as_bytes();
            assert_eq!(parsed.verify_entry(other, &t).unwrap_err().rule(), "proof.inclusion");
            proofs += 1;
        }
        // Every smaller size is consistent with this one (proof from the cached tiles).
        for m in 0..=size {
            let old = verify_checkpoint(&checkpoint(m as usize), &t).unwrap().checkpoint;
            check_consistency(&old, &cp, &tiles).unwrap_or_else(|e| panic!("{m} -> {size}: {e}"));
        }
    }
    assert_eq!(proofs, 120);
}

fn refusal_rule(files: &[(String, Vec<u8>)]) -> Result<(), TlogError> {
    let cp = verify_checkpoint(&files[0].1, &trust())?;
    let mem = MemTiles(files[1..].iter().cloned().collect());
    verify_tree(&mem, &cp.checkpoint, &mut |_, _, _| Ok(())).map(|_| ())
}

#[test]
fn every_single_byte_mutation_is_refused_with_its_rule() {
    let allowed = |file: &str| -> &'static [&'static str] {
        if file == "checkpoint" {
            &[
                "note.encoding",
                "note.format",
                "note.signature-line",
                "note.signature-invalid",
                "note.signature-mislabelled",
                "note.signature-unknown-key-for-known-name",
                "checkpoint.format",
                "checkpoint.origin-untrusted",
                "checkpoint.unsigned",
            ]
        } else if file.starts_with("tile/entries/") {
            &["entries.format", "entries.hash-mismatch"]
        } else {
            &["tree.root-mismatch"]
        }
    };
    let mut count = 0;
    let mut by_rule = std::collections::BTreeMap::<&'static str, usize>::new();
    for n in 0..=15usize {
        let files = mirror_files(n);
        refusal_rule(&files).unwrap_or_else(|e| panic!("unmutated size {n}: {e}"));
        for (fi, (name, bytes)) in files.iter().enumerate() {
            for pos in 0..bytes.len() {
                for flip in [0x01u8, 0x80] {
                    let mut m = files.clone();
                    m[fi].1[pos] ^= flip;
                    let e = refusal_rule(&m).expect_err(&format!("size {n}: {name} byte {pos} ^ {flip:#x} was accepted"));
                    assert!(allowed(name).contains(&e.rule()), "size {n}: {name} byte {pos}: unexpected rule {} ({e})", e.rule());
                    *by_rule.entry(e.rule()).or_default() += 1;
                    count += 1;
                }
            }
        }
    }
    assert!(count > 10_000, "{count} mutations");
    // The signature, its line's name and key id, the body and the tiles each produced refusals.
    for r in ["note.signature-invalid", "note.signature-mislabelled", "tree.root-mismatch", "entries.hash-mismatch", "entries.format"] {
        assert!(by_rule.get(r).copied().unwrap_or(0) > 0, "no mutation refused by {r}: {by_rule:?}");
    }
}

#[test]
fn refused_imports_leave_the_cache_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let store = TlogStore::at(&cache);
    let m14 = tmp.path().join("m14");
    write_mirror(&m14, &mirror_files(14));
    store.import(&m14, &trust(), NOW).unwrap().unwrap();
    let before = tree_files(&cache);
    let files = mirror_files(15);
    // One mutation in the signature, the checkpoint body, the tile and the entry bundle.
    let sig_pos = files[0].1.len() - 10;
    for (fi, pos, rule) in [
        (0usize, sig_pos, "note.signature-invalid"),
        (0, 26, "note.signature-invalid"),
        (1, 40, "tree.root-mismatch"),
        (2, 9, "entries.hash-mismatch"),
    ] {
        let mut m = files.clone();
        m[fi].1[pos] ^= 0x01;
        let dir = tmp.path().join(format!("bad{fi}-{pos}"));
        write_mirror(&dir, &m);
        let r = store.import(&dir, &trust(), NOW).unwrap().unwrap_err();
        assert_eq!(r.error.rule(), rule, "{}", r.error);
        assert!(r.evidence.is_none());
        assert_eq!(tree_files(&cache), before, "cache changed after a refused import ({rule})");
    }
    // A mirror lacking its tile cannot be checked.
    let dir = tmp.path().join("no-tile");
    write_mirror(&dir, &[files[0].clone()]);
    assert_eq!(store.import(&dir, &trust(), NOW).unwrap().unwrap_err().error.rule(), "tile.missing");
    // Unknown key: the origin is not trusted.
    let dir = tmp.path().join("m15");
    write_mirror(&dir, &files);
    let other = LogTrust::empty("none");
    assert_eq!(store.import(&dir, &other, NOW).unwrap().unwrap_err().error.rule(), "checkpoint.origin-untrusted");
    assert_eq!(tree_files(&cache), before);
}
