//! The cache and the `airlock tlog` command on logs generated here (our own log and witness
//! keys): fork refusal with evidence, witness quorum, bundle transparency outcomes, and the CLI
//! end to end (exit codes, evidence path printed, nothing written on refusal).

mod cli_support;

mod tlog_support;

use airlock::bundle::Kind;
use airlock::bundle::manifest::{Manifest, Member, Release};
use airlock::digest::Sha256Digest;
use airlock::keys::SecretKey;
use airlock::report::Status;
use airlock::store::tlog::TlogStore;
use airlock::time::Timestamp;
use airlock::tlog::LogTrust;
use airlock::tlog::bundle::{CacheRelation, TransparencyOutcome, check_bundle_transparency, logged_entry, proof_matches_manifest};
use airlock::tlog::note::VerifierKey;
use airlock::tlog::policy::Policy;
use airlock::tlog::proof::TlogProof;
use airlock::tlog::tiles::{Exactness, MemTiles, TiledTree, build_tiles};
use std::path::Path;
use tlog_support::*;

const NOW: Timestamp = Timestamp(1_800_000_000);

fn trust() -> LogTrust {
    let mut t = LogTrust::empty("test");
    t.add_log_key(vkey(), None);
    t
}

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(format!("{} {}", p.display(), Sha256Digest::of(&std::fs::read(&p).unwrap()).hex()))
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

#[test]
fn fork_same_size_and_inconsistent_newer_are_refused_with_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let store = TlogStore::at(&tmp.path().join("cache"));
    let a = tmp.path().join("a");
    let cp_a = write_log(&a, &entries(300, None), &[]);
    store.import(&a, &trust(), NOW).unwrap().unwrap();
    let before = files(&store.origin_dir(LOG));
    for (name, n) in [("same-size", 300usize), ("newer", 520)] {
        let b = tmp.path().join(name);
        let cp_b = write_log(&b, &entries(n, Some(3)), &[]);
        let r = store.import(&b, &trust(), NOW).unwrap().unwrap_err();
        assert_eq!(r.error.rule(), "tlog.fork", "{name}: {}", r.error);
        let ev = r.evidence.expect("evidence written");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
        assert_eq!(doc["schema"], "airlock/tlog-fork-evidence/v1");
        assert_eq!(doc["cachedCheckpoint"].as_str().unwrap().as_bytes(), &cp_a[..]);
        assert_eq!(doc["presentedCheckpoint"].as_str().unwrap().as_bytes(), &cp_b[..]);
        // The old state is kept: only the evidence file is new.
        let s = store.state(LOG).unwrap().unwrap();
        assert_eq!(s.checkpoint.as_bytes(), &cp_a[..]);
        let now_files: Vec<String> = files(&store.origin_dir(LOG)).into_iter().filter(|f| !f.contains("/forks/")).collect();
        assert_eq!(now_files, before);
    }
    assert_eq!(store.forks(LOG).unwrap().len(), 2);
    // Fork evidence that cannot be listed is an error, never "no forks".
    let forks = store.origin_dir(LOG).join("forks");
    std::fs::rename(&forks, tmp.path().join("forks-moved")).unwrap();
    std::fs::write(&forks, b"not a directory").unwrap();
    let e = store.forks(LOG).unwrap_err();
    assert!(format!("{e:#}").contains("cannot list fork evidence"), "{e:#}");
    std::fs::remove_file(&forks).unwrap();
    std::fs::rename(tmp.path().join("forks-moved"), &forks).unwrap();
    // A consistent newer log still imports after that.
    let c = tmp.path().join("c");
    write_log(&c, &entries(777, None), &[]);
    let rep = store.import(&c, &trust(), NOW).unwrap().unwrap();
    assert_eq!(rep.size, 777);
}

#[test]
fn witness_quorum_from_a_tlog_policy() {
    let (w1, w2, w3) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]), SecretKey::from_seed(&[3; 32]));
    let wk = |n: &str, k: &SecretKey| VerifierKey::cosigner(n, k.public()).unwrap();
    let doc = format!(
        "log {}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup two 2 a b c\nquorum two\n",
        vkey(),
        wk("w1.example", &w1),
        wk("w2.example", &w2),
        wk("w3.example", &w3)
    );
    let t = LogTrust::from_policy(Policy::parse(doc.as_bytes()).unwrap(), "policy");
    let tmp = tempfile::tempdir().unwrap();
    let store = TlogStore::at(&tmp.path().join("cache"));
    let es = entries(5, None);
    let one = tmp.path().join("one");
    write_log(&one, &es, &[("w1.example", &w1)]);
    assert_eq!(store.import(&one, &t, NOW).unwrap().unwrap_err().error.rule(), "witness.quorum");
    assert!(store.state(LOG).unwrap().is_none());
    // A cosignature by a known witness that fails rejects the checkpoint.
    let bad = tmp.path().join("bad");
    let note = write_log(&bad, &es, &[("w1.example", &w1), ("w3.example", &w3)]);
    let mut n = airlock::tlog::note::Note::parse(&note).unwrap();
    n.signatures[2].sig[20] ^= 1;
    std::fs::write(bad.join("checkpoint"), n.to_bytes()).unwrap();
    assert_eq!(store.import(&bad, &t, NOW).unwrap().unwrap_err().error.rule(), "note.signature-invalid");
    let two = tmp.path().join("two");
    write_log(&two, &es, &[("w1.example", &w1), ("someone.else", &w2), ("w3.example", &w3)]);
    let rep = store.import(&two, &t, NOW).unwrap().unwrap();
    assert_eq!(rep.witnesses, vec!["a".to_string(), "c".to_string()]);
    assert_eq!(store.state(LOG).unwrap().unwrap().witnesses.len(), 2);
}

fn manifest(version: &str) -> (Manifest, Vec<u8>) {
    let m = Manifest::build(
        Release { product: "demo".into(), version: version.into(), commit: None, channel: None },
        Timestamp(1_700_000_000),
        vec![Member { path: "artifacts/a.bin".into(), size: 3, digest: Sha256Digest::of(b"abc"), kind: Kind::Artifact }],
    );
    let b = m.to_bytes();
    (m, b)
}

#[test]
fn bundle_transparency_outcomes() {
    let (m, mb) = manifest("1.2.3");
    let entry = logged_entry(&m, &mb);
    let text = String::from_utf8(entry.clone()).unwrap();
    assert_eq!(
        text,
        format!(
            "airlock-bundle-manifest/v1\nproduct demo\nversion 1.2.3\nbundle-id {}\nmanifest {}\n",
            m.bundle_id,
            Sha256Digest::of(&mb).prefixed()
        )
    );
    let mut es = entries(40, None);
    es[17] = entry.clone();
    let tmp = tempfile::tempdir().unwrap();
    let mirror = tmp.path().join("m");
    let note = write_log(&mirror, &es, &[]);
    let mem = MemTiles::from_built(build_tiles(&es));
    let tree = TiledTree::new(&mem, 40, Exactness::Exact);
    let proof = TlogProof { extra: None, index: 17, hashes: tree.inclusion_proof(17).unwrap(), checkpoint: note.clone() }.to_bytes();
    let t = trust();

    let v = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), None, NOW);
    let TransparencyOutcome::Verified(ok) = &v else { panic!("{v:?}") };
    assert_eq!((ok.origin.as_str(), ok.index, ok.checkpoint_size, &ok.cache), (LOG, 17, 40, &CacheRelation::NotCached));
    assert_eq!(v.to_check(true).status, Status::Pass);
    assert!(proof_matches_manifest(&m, &mb, &proof).is_ok());

    let missing = check_bundle_transparency(&m, &mb, None, Some(&t), None, NOW);
    assert_eq!(missing, TransparencyOutcome::Missing);
    assert_eq!((missing.to_check(false).status, missing.to_check(true).status), (Status::Info, Status::Fail));

    let no_trust = check_bundle_transparency(&m, &mb, Some(&proof), None, None, NOW);
    assert_eq!(no_trust.name(), "unverifiable");
    assert_eq!((no_trust.to_check(false).status, no_trust.to_check(true).status), (Status::Info, Status::Fail));
    let other_log = check_bundle_transparency(&m, &mb, Some(&proof), Some(&LogTrust::from_policy(Policy::none(), "x")), None, NOW);
    assert_eq!(other_log.name(), "unverifiable");

    let (m2, mb2) = manifest("1.2.4");
    let wrong = check_bundle_transparency(&m2, &mb2, Some(&proof), Some(&t), None, NOW);
    assert!(matches!(wrong, TransparencyOutcome::Failed { rule: "proof.inclusion", .. }), "{wrong:?}");
    assert_eq!(wrong.to_check(false).status, Status::Fail);
    assert_eq!(proof_matches_manifest(&m2, &mb2, &proof).unwrap_err().rule(), "proof.inclusion");
    let mut garbled = proof.clone();
    garbled[3] ^= 1;
    assert!(matches!(
        check_bundle_transparency(&m, &mb, Some(&garbled), Some(&t), None, NOW),
        TransparencyOutcome::Failed { rule: "proof.format", .. }
    ));

    // With the cache: a newer consistent checkpoint, then a cache that saw another history.
    let store = TlogStore::at(&tmp.path().join("cache"));
    let mut more = es.clone();
    more.extend(entries(30, None));
    let newer = tmp.path().join("newer");
    write_log(&newer, &more, &[]);
    store.import(&newer, &t, NOW).unwrap().unwrap();
    let c = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), Some(&store), NOW);
    let TransparencyOutcome::Verified(ok) = &c else { panic!("{c:?}") };
    assert_eq!(ok.cache, CacheRelation::Consistent { cached_size: 70, imported_at: NOW });

    let store2 = TlogStore::at(&tmp.path().join("cache2"));
    let mut forked = more.clone();
    forked[2] = b"rewritten history".to_vec();
    let fdir = tmp.path().join("forked");
    write_log(&fdir, &forked, &[]);
    store2.import(&fdir, &t, NOW).unwrap().unwrap();
    let f = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), Some(&store2), NOW);
    let TransparencyOutcome::Failed { rule: "tlog.fork", fork: Some(ev), .. } = &f else { panic!("{f:?}") };
    assert_eq!(ev.presented, note);

    // A smaller cache: the proof's hashes that cover only cached leaves must agree with it. For
    // entry 17 of 40 those are the leaf and the siblings [16,17) [18,20) [20,24) [0,16).
    let store3 = TlogStore::at(&tmp.path().join("cache3"));
    let prefix = tmp.path().join("prefix");
    write_log(&prefix, &es[..30], &[]);
    store3.import(&prefix, &t, NOW).unwrap().unwrap();
    let c = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), Some(&store3), NOW);
    let TransparencyOutcome::Verified(ok) = &c else { panic!("{c:?}") };
    assert_eq!(ok.cache, CacheRelation::ProofNewer { cached_size: 30, shared_hashes: 5 });
    let store4 = TlogStore::at(&tmp.path().join("cache4"));
    let mut other = es[..30].to_vec();
    other[3] = b"history the proof's log does not have".to_vec();
    let odir = tmp.path().join("other-prefix");
    let cached_note = write_log(&odir, &other, &[]);
    store4.import(&odir, &t, NOW).unwrap().unwrap();
    let f = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), Some(&store4), NOW);
    let TransparencyOutcome::Failed { rule: "tlog.fork", fork: Some(ev), detail } = &f else { panic!("{f:?}") };
    assert!(detail.contains("leaves [0, 16)"), "{detail}");
    assert_eq!((&ev.cached, &ev.presented), (&cached_note, &note));
}

fn airlock(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = cli_support::command(home).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn cli_import_status_prove_verify_and_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let vk = vkey().to_string();
    let a = tmp.path().join("a");
    write_log(&a, &entries(600, None), &[]);
    let a_s = a.to_str().unwrap();

    // No trust: cannot check (exit 2), nothing written.
    let (code, _, err) = airlock(&home, &["tlog", "import", a_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--log-key"), "{err}");
    assert!(!home.join("tlog").exists());

    let (code, out, err) = airlock(&home, &["tlog", "import", a_s, "--log-key", &vk]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("size 600") && out.contains("--log-key x1 (ad hoc"), "{out}");

    let p = tmp.path().join("p.tlog-proof");
    let (code, _, err) = airlock(&home, &["tlog", "prove", "--origin", LOG, "--index", "513", "-o", p.to_str().unwrap(), "--log-key", &vk]);
    assert_eq!(code, 0, "{err}");
    let e = tmp.path().join("e");
    std::fs::write(&e, b"entry 513").unwrap();
    let (code, out, err) =
        airlock(&home, &["tlog", "verify-proof", p.to_str().unwrap(), "--entry", e.to_str().unwrap(), "--log-key", &vk, "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((doc["index"].as_u64(), doc["cache"]["state"].as_str()), (Some(513), Some("consistent")));
    std::fs::write(&e, b"entry 514").unwrap();
    let (code, _, err) = airlock(&home, &["tlog", "verify-proof", p.to_str().unwrap(), "--entry", e.to_str().unwrap(), "--log-key", &vk]);
    assert_eq!(code, 1);
    assert!(err.contains("proof.inclusion"), "{err}");

    // A forked mirror: exit 1, the evidence path printed and present; status flags it.
    let b = tmp.path().join("b");
    write_log(&b, &entries(700, Some(10)), &[]);
    let (code, _, err) = airlock(&home, &["tlog", "import", b.to_str().unwrap(), "--log-key", &vk]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tlog.fork"), "{err}");
    let path = err.lines().find_map(|l| l.strip_prefix("fork evidence written to ")).expect("evidence path printed");
    assert!(Path::new(path).is_file());
    let (code, out, _) = airlock(&home, &["tlog", "status", "--json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["origins"][0]["size"], 600);
    assert_eq!(doc["origins"][0]["forkEvidence"].as_array().unwrap().len(), 1);
    // Imports change the cache: each is one record (refused, imported, fork); reading it is not.
    let imports: Vec<(String, String)> = [("tlog import", "error"), ("tlog import", "pass"), ("tlog import", "fail")]
        .iter()
        .map(|(c, o)| (c.to_string(), o.to_string()))
        .collect();
    assert_eq!(cli_support::ledger(&home), imports);
}

/// Extending the cache replaces superseded partial tiles: after importing 300 entries then 600,
/// `tile/0/001.p/` and `tile/entries/001.p/` are gone (tile 001 is full now), the new partial
/// `002.p/88` is there, and the older tree (size 300) is still provable from the full tiles.
#[test]
fn extending_the_cache_replaces_superseded_partial_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let store = TlogStore::at(&tmp.path().join("cache"));
    let all = entries(600, None);
    let (m300, m600) = (tmp.path().join("m300"), tmp.path().join("m600"));
    write_log(&m300, &all[..300], &[]);
    write_log(&m600, &all, &[]);
    store.import(&m300, &trust(), NOW).unwrap().unwrap();
    let odir = store.origin_dir(LOG);
    assert!(odir.join("tile/0/001.p/44").is_file() && odir.join("tile/entries/001.p/44").is_file());
    store.import(&m600, &trust(), NOW).unwrap().unwrap();
    for gone in ["tile/0/001.p", "tile/entries/001.p"] {
        assert!(!odir.join(gone).exists(), "{gone} should have been replaced by the full tile");
    }
    for kept in ["tile/0/001", "tile/entries/001", "tile/0/002.p/88", "tile/entries/002.p/88"] {
        assert!(odir.join(kept).is_file(), "{kept} missing");
    }
    // Size 300 is still provable: its partial tile is served as a prefix of the full one.
    let leaves: Vec<airlock::merkle::Hash> = all[..300].iter().map(|e| airlock::merkle::leaf_hash(e)).collect();
    let root300 = airlock::merkle::root(&leaves);
    let tiles = store.tiles(LOG);
    let tree = TiledTree::new(&tiles, 300, Exactness::Prefix);
    assert_eq!(tree.root().unwrap(), root300);
    let proof = tree.inclusion_proof(270).unwrap();
    airlock::merkle::verify_inclusion(&leaves[270], 270, 300, &proof, &root300).unwrap();
}

/// Issue 21 item 6: times read from signed but untrusted cosignatures. One above 2^53 − 1 is
/// refused at import (the state always round-trips through the strict reader); one dated after
/// the evaluation time plus the stated skew is refused at import and in a bundle's proof, never
/// counted 0 s old; the extremes that are accepted are written and read back exactly.
#[test]
fn cosignature_times_are_bounded_and_never_from_the_future() {
    use airlock::tlog::checkpoint::{MAX_COSIGNATURE_SKEW, MAX_COSIGNATURE_TIME};
    let w = SecretKey::from_seed(&[5; 32]);
    let doc = format!("log {}\nwitness w {}\nquorum w\n", vkey(), VerifierKey::cosigner("w.example", w.public()).unwrap());
    let t = LogTrust::from_policy(Policy::parse(doc.as_bytes()).unwrap(), "policy");
    let tmp = tempfile::tempdir().unwrap();
    let store = TlogStore::at(&tmp.path().join("cache"));
    let es = entries(5, None);
    let mirror = |name: &str, at: u64| {
        let d = tmp.path().join(name);
        write_log_at(&d, &es, &[("w.example", &w)], at);
        d
    };
    let refused = |d: &Path, now: Timestamp| store.import(d, &t, now).unwrap().unwrap_err().error.rule();
    assert_eq!(refused(&mirror("2p53", 1 << 53), NOW), "cosignature.time-range");
    assert_eq!(refused(&mirror("2p63", (1 << 63) - 1), NOW), "cosignature.time-range");
    let ahead = NOW.0 as u64 + MAX_COSIGNATURE_SKEW + 1;
    assert_eq!(refused(&mirror("future", ahead), NOW), "cosignature.future");
    assert!(store.state(LOG).unwrap().is_none(), "nothing stored on refusal");

    // Within the skew: accepted. At the extremes (the last second a time is written for,
    // 9999-12-31T23:59:59Z, cosigned the skew after it, and a cosignature at 0): stored, and read
    // back by the strict reader exactly.
    store.import(&mirror("skew", NOW.0 as u64 + MAX_COSIGNATURE_SKEW), &t, NOW).unwrap().unwrap();
    let top = Timestamp(253_402_300_799);
    let last = top.0 as u64 + MAX_COSIGNATURE_SKEW;
    assert!(last < MAX_COSIGNATURE_TIME);
    let extreme = TlogStore::at(&tmp.path().join("cache-extreme"));
    extreme.import(&mirror("max", last), &t, top).unwrap().unwrap();
    let s = extreme.state(LOG).unwrap().unwrap();
    assert_eq!((s.imported_at, s.witnesses[0].timestamp), (top, last));
    let zero = TlogStore::at(&tmp.path().join("cache-zero"));
    zero.import(&mirror("zero", 0), &t, NOW).unwrap().unwrap();
    assert_eq!(zero.state(LOG).unwrap().unwrap().witnesses[0].timestamp, 0);

    // A bundle's proof under a checkpoint cosigned in the future: refused, not fresh.
    let (m, mb) = manifest("1.2.3");
    let mut es = entries(4, None);
    es[1] = logged_entry(&m, &mb);
    let note = checkpoint_note(&es, &[("w.example", &w)], ahead);
    let proof = proof_of(&es, 1, &note);
    let v = check_bundle_transparency(&m, &mb, Some(&proof), Some(&t), None, NOW);
    assert!(matches!(v, TransparencyOutcome::Failed { rule: "cosignature.future", .. }), "{v:?}");
    let note = checkpoint_note(&es, &[("w.example", &w)], NOW.0 as u64 - 10);
    let v = check_bundle_transparency(&m, &mb, Some(&proof_of(&es, 1, &note)), Some(&t), None, NOW);
    let TransparencyOutcome::Verified(ok) = &v else { panic!("{v:?}") };
    assert_eq!(ok.age_secs, Some(10));
}
