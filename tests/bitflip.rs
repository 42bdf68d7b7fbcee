//! Any single-bit flip in a packed bundle is either refused (a `VerifyError`, exit 2) or fails
//! verification (exit 1): it never passes and never panics. Random flips through proptest on
//! zip (stored and deflated) and tar bundles, an exhaustive sweep over every bit of a small zip
//! and tar, and a few flips through the real binary for the exit codes.
//!
//! The DSSE `keyid` hint is covered too: a hint that names another key than the one that
//! verified makes the signature not count (`dsse::count_valid_signatures`), so flipping it fails
//! the threshold even in a tar bundle, which has no CRC.
//!
//! Deflate skips bits (the high bits of a stream's last byte, the alignment before a stored
//! block's length) that change nothing in the inflated bytes: the deflate bit walker
//! (`archive::deflate_walk`) finds them and a set one fails `member.deflate-padding`. Deflate also
//! lets an encoder pick among encodings of the same content (an equivalent distance, code lengths
//! coded another way); the manifest signs each deflated member's exact stream
//! (`deflateStreams`, bundle-v1 §4), so those flips fail `member.deflate-stream`. Nothing is
//! excluded.

mod cli_support;

mod tlog_support;

use airlock::archive::Format;
use airlock::archive::write::PlannedMember;
use airlock::conformance::hostile;
use airlock::report::Status;
use airlock::verify::{self, Options, TrustPolicy, Verification};
use proptest::prelude::*;
use std::sync::OnceLock;

fn bundle(format: Format, deflate: bool) -> Vec<u8> {
    let payload = vec![
        ("artifacts/app".to_string(), b"#!/bin/sh\necho 'app 1.0.0'\n".repeat(40)),
        ("sbom/app.spdx.json".to_string(), br#"{"spdxVersion":"SPDX-2.3","name":"app","packages":[]}"#.to_vec()),
    ];
    let plan = if deflate { hostile::signed_plan_deflating(&payload, &|_| true) } else { hostile::signed_plan(&payload) };
    let b = hostile::write_plan(format, &plan, &payload);
    if deflate {
        assert!(!deflate_padding_bits(&b).is_empty(), "the deflate bundle deflates something");
    }
    b
}

fn bundles() -> &'static [(&'static str, Vec<u8>)] {
    static B: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| {
        vec![("zip-stored", bundle(Format::Zip, false)), ("zip-deflate", bundle(Format::Zip, true)), ("tar", bundle(Format::Tar, false))]
    })
}

fn trust() -> TrustPolicy {
    TrustPolicy::ed25519([hostile::test_key().public().clone()], 1, "test")
}

/// 0 passed, 1 failed, 2 refused.
fn outcome(bytes: &[u8]) -> u8 {
    let src = bytes.to_vec();
    match verify::verify(&src, &trust(), &Options::default(), &|_| {}) {
        Ok(Verification::Passed(..)) => 0,
        Ok(Verification::Failed(_)) => 1,
        Err(_) => 2,
    }
}

/// (member, bit offsets in the archive) of the bits each deflated member's stream skips after
/// its final block, found by the deflate bit walker.
fn deflate_padding_bits(bytes: &[u8]) -> Vec<(String, Vec<usize>)> {
    let index = airlock::archive::walk(&bytes.to_vec(), &Default::default()).expect("a valid bundle");
    index
        .entries
        .iter()
        .filter(|e| e.method == airlock::archive::Method::Deflate)
        .map(|e| {
            let stream = &bytes[e.data_offset as usize..(e.data_offset + e.stored_size) as usize];
            let mut w = airlock::archive::deflate_walk::DeflateWalker::new();
            w.feed(stream).expect("a valid stream");
            let end = w.finish().expect("a complete stream");
            assert_eq!(end.len(), e.stored_size);
            let start = e.data_offset as usize * 8;
            let bits = (end.end_bit as usize..end.len() as usize * 8).map(|b| start + b).collect();
            (e.name.clone(), bits)
        })
        .collect()
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

#[test]
fn unflipped_bundles_pass() {
    for (name, b) in bundles() {
        assert_eq!(outcome(b), 0, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn a_random_bit_flip_never_passes(which in 0usize..3, pos in any::<prop::sample::Index>()) {
        let (name, b) = &bundles()[which];
        let bit = pos.index(b.len() * 8);
        prop_assert_ne!(outcome(&flip(b, bit)), 0, "{} with bit {} (byte {}) flipped passed", name, bit, bit / 8);
    }
}

/// The bits deflate skips used to pass (the archive changed, its meaning did not). Every one of
/// them now fails verification with `member.deflate-padding` (exit 1: the bundle is signed, the
/// finding is about member data, as `member.crc`), and with `member.deflate-stream`.
#[test]
fn every_deflate_padding_flip_fails_member_deflate_padding() {
    let (_, b) = &bundles()[1];
    let mut flipped = 0;
    for (member, bits) in deflate_padding_bits(b) {
        for bit in bits {
            let src = flip(b, bit);
            let report = match verify::verify(&src, &trust(), &Options::default(), &|_| {}) {
                Ok(Verification::Failed(report)) => report,
                Ok(Verification::Passed(..)) => panic!("{member}: padding bit {bit} flipped passed"),
                Err(e) => panic!("{member}: padding bit {bit} flipped: refused ({e}), expected a failed check"),
            };
            let failed: Vec<&str> = report.checks().iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_ref()).collect();
            // The walker's rule, and the signed stream's digest, each catch it.
            assert_eq!(failed, ["member.deflate-padding", "member.deflate-stream"], "{member}: padding bit {bit}");
            flipped += 1;
        }
    }
    assert!(flipped >= 1, "the deflate bundle has padding bits to flip");
}

/// Deflate lets an encoder choose among encodings of the same content (a distance among equal
/// earlier occurrences, a dynamic header's run-length coded code lengths): a flip there inflates
/// to the signed bytes, CRC-32 and digest. The manifest signs each deflated member's exact
/// stream (`deflateStreams`), so every flip of every stream bit fails, and the flips that keep
/// the content fail exactly `member.deflate-stream`. Highly repetitive members have many of them.
#[test]
fn every_flip_inside_a_deflate_stream_fails() {
    use airlock::archive::deflate_walk::{ChoiceKind, DeflateWalker};
    let text: Vec<u8> =
        (0..300u32).flat_map(|i| format!("line {} of the app: echo 'app 1.0.0' {}\n", i % 17, i * 7 % 5).into_bytes()).collect();
    let payloads: [(&str, Vec<u8>); 4] =
        [("script", b"#!/bin/sh\necho 'app 1.0.0'\n".repeat(40)), ("text", text), ("abab", b"ab".repeat(1000)), ("zeros", vec![0u8; 5000])];
    let mut same_content = std::collections::BTreeMap::new();
    for (what, content) in payloads {
        let payload = vec![("artifacts/app".to_string(), content)];
        let plan = hostile::signed_plan_deflating(&payload, &|_| true);
        let b = hostile::write_plan(Format::Zip, &plan, &payload);
        assert_eq!(outcome(&b), 0, "{what}: the unflipped bundle passes");
        let index = airlock::archive::walk(&b, &Default::default()).expect("a valid bundle");
        let e = index.entries.iter().find(|e| e.method == airlock::archive::Method::Deflate).expect("a deflated member");
        let (start, end) = (e.data_offset as usize, (e.data_offset + e.stored_size) as usize);
        let mut w = DeflateWalker::recording_choices();
        w.feed(&b[start..end]).expect("a valid stream");
        w.finish().expect("a complete stream");
        for bit in start * 8..end * 8 {
            let src = flip(&b, bit);
            let report = match verify::verify(&src, &trust(), &Options::default(), &|_| {}) {
                Ok(Verification::Passed(..)) => panic!("{what}: stream bit {} flipped passed", bit - start * 8),
                Ok(Verification::Failed(report)) => report,
                Err(_) => continue,
            };
            let failed: Vec<&str> = report.checks().iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_ref()).collect();
            if failed == ["member.deflate-stream"] {
                let at = (bit - start * 8) as u64;
                let kind = w.choices().iter().find(|c| c.bits.contains(&at)).map(|c| c.kind);
                assert!(kind.is_some(), "{what}: stream bit {at} keeps the content outside every encoder choice the walker records");
                *same_content.entry((what, kind == Some(ChoiceKind::Distance))).or_insert(0) += 1;
            }
        }
    }
    eprintln!("flips that keep the content, caught only by member.deflate-stream, by (payload, is a distance): {same_content:?}");
    assert!(
        same_content.get(&("zeros", true)).is_some_and(|&n| n > 0),
        "re-encodings of the same content exist (this test must exercise them): {same_content:?}"
    );
}

#[test]
fn every_bit_flip_of_a_small_bundle_fails() {
    let payload = vec![("artifacts/a".to_string(), b"a\n".to_vec())];
    let stored = hostile::signed_plan(&payload);
    let deflating = hostile::signed_plan_deflating(&payload, &|_| true);
    for (format, plan) in [(Format::Zip, &stored), (Format::Zip, &deflating), (Format::Tar, &stored)] {
        let b = hostile::write_plan(format, plan, &payload);
        assert_eq!(outcome(&b), 0, "{format:?}: the unflipped bundle passes");
        let passed: Vec<usize> = (0..b.len() * 8).filter(|&bit| outcome(&flip(&b, bit)) == 0).collect();
        let unexpected: Vec<String> = passed
            .iter()
            .take(20)
            .map(|&bit| {
                format!("byte {} bit {} near {:?}", bit / 8, bit % 8, String::from_utf8_lossy(&b[(bit / 8).saturating_sub(8)..bit / 8 + 4]))
            })
            .collect();
        assert!(unexpected.is_empty(), "{format:?}: flipped bits passed verification: {unexpected:?}");
    }
}

#[test]
fn the_binary_exits_1_or_2_on_flips() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pub");
    std::fs::write(&key, hostile::test_key().public().to_file()).unwrap();
    let (_, b) = &bundles()[0];
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..24usize {
        let bit = (i * 7919 * 8 + i) % (b.len() * 8);
        let p = dir.path().join(format!("f{i}.zip"));
        std::fs::write(&p, flip(b, bit)).unwrap();
        let out = cli_support::command(&dir.path().join("airlock-home"))
            .args(["--no-progress", "verify"])
            .arg(&p)
            .arg("--key")
            .arg(&key)
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(1) | Some(2)), "bit {bit}: exit {code:?}");
        seen.insert(code);
    }
    assert_eq!(seen.len(), 2, "expected both exit 1 and exit 2 among the flips: {seen:?}");
}

/// A bundle signed by two release keys, both trusted, threshold 1: the second signature is not
/// needed, yet no flip in it passes. A signature whose keyid names a trusted key that does not
/// verify it, or a trusted key's signature whose keyid names another key, fails `signature`
/// (the envelope was altered, not co-signed); only signatures by keys outside the trust policy
/// are ignored.
#[test]
fn every_bit_flip_of_a_two_signer_bundle_fails_at_threshold_one() {
    let (a, b) = (airlock::keys::SecretKey::from_seed(&[0xa1; 32]), airlock::keys::SecretKey::from_seed(&[0xb2; 32]));
    let payload = vec![("artifacts/a".to_string(), b"a\n".to_vec())];
    let members = payload
        .iter()
        .map(|(p, bytes)| airlock::bundle::manifest::Member {
            path: p.clone(),
            size: bytes.len() as u64,
            digest: airlock::digest::Sha256Digest::of(bytes),
            kind: airlock::bundle::Kind::Artifact,
        })
        .collect();
    let release = airlock::bundle::manifest::Release { product: "app".into(), version: "1.0.0".into(), commit: None, channel: None };
    let plan = airlock::pack::plan(release, airlock::time::Timestamp(1_700_000_000), members, &[&a, &b], Vec::new()).unwrap();
    let trust = TrustPolicy::ed25519([a.public().clone(), b.public().clone()], 1, "test");
    let run = |bytes: &[u8]| match verify::verify(&bytes.to_vec(), &trust, &Options::default(), &|_| {}) {
        Ok(Verification::Passed(..)) => 0,
        Ok(Verification::Failed(_)) => 1,
        Err(_) => 2,
    };
    for format in [Format::Zip, Format::Tar] {
        let bundle = hostile::write_plan(format, &plan, &payload);
        assert_eq!(run(&bundle), 0, "{format:?}: the unflipped bundle passes");
        let index = airlock::archive::walk(&bundle, &Default::default()).unwrap();
        let env = index.get(airlock::bundle::ENVELOPE).unwrap();
        let passed: Vec<usize> = (0..bundle.len() * 8).filter(|&bit| run(&flip(&bundle, bit)) == 0).collect();
        let where_: Vec<String> =
            passed.iter().take(10).map(|&bit| format!("byte {} (envelope data starts at {})", bit / 8, env.data_offset)).collect();
        assert!(passed.is_empty(), "{format:?}: {} flips passed: {where_:?}", passed.len());
    }
}

/// A bundle carrying `tlog/manifest.tlog-proof`, its checkpoint signed by the log and cosigned
/// by a witness. With the log and a policy requiring that witness trusted, no flip of the proof
/// member passes: a known key's line that fails, a line a known key verifies under another name
/// or key id, and a short checkpoint with a line in a trusted signer's name under an unknown key
/// id are all refused (transparency-v1 §9.3). Without a trusted log the proof cannot be authenticated, but it must still
/// hold together (its inclusion path leads from this manifest's entry to the root its
/// checkpoint states), so flips in the index, the hashes, the size and the root fail too; the
/// only flips that pass are in the checkpoint's origin and signature lines, which only a log key
/// can check (transparency-v1 §9.3), and they leave the outcome `unverifiable`. (In a zip the
/// member's CRC-32 catches every one of them as well.)
#[test]
fn every_bit_flip_of_a_transparency_proof_fails_or_stays_unverifiable() {
    use airlock::tlog::LogTrust;
    use tlog_support::*;
    let payload = vec![("artifacts/app".to_string(), b"app\n".to_vec())];
    let plan = hostile::signed_plan(&payload);
    let entry = airlock::tlog::bundle::logged_entry(&plan.manifest, &plan.manifest_bytes);
    let mut log = entries(3, None);
    log.push(entry);
    // Cosigned by a witness the policy requires: the witness line's flips are checked too.
    let witness = airlock::keys::SecretKey::from_seed(&[0x77; 32]);
    let note = checkpoint_note(&log, &[("w1.example", &witness)], COSIGNED_AT);
    let proof = proof_of(&log, 3, &note);
    let mut planned = plan.members.clone();
    planned.insert(3, PlannedMember { name: airlock::bundle::TLOG_PROOF.into(), size: proof.len() as u64, deflate: false });
    let mut bytes = hostile::plan_members(&plan, &payload);
    bytes.push((airlock::bundle::TLOG_PROOF.into(), proof.clone()));
    // A tar: no CRC-32 covers the proof member, so only the proof's own checks can catch a flip.
    let bundle = hostile::write_members(Format::Tar, &planned, &bytes);

    let wkey = airlock::tlog::note::VerifierKey::cosigner("w1.example", witness.public()).unwrap();
    let policy = format!("log {}\nwitness w1 {wkey}\nquorum w1\n", vkey());
    let log_trust = LogTrust::from_policy(airlock::tlog::policy::Policy::parse(policy.as_bytes()).unwrap(), "policy");
    let run = |b: &[u8], trusted: bool| -> (u8, Option<String>) {
        // After the cosignature: one dated after the evaluation time refuses the checkpoint.
        let time = airlock::trust::state::EvalTime::OperatorFixed {
            at: airlock::time::Timestamp(COSIGNED_AT as i64 + 1000),
            floor: airlock::time::Timestamp(0),
        };
        let mut opts = Options { time, ..Default::default() };
        opts.transparency.trust = trusted.then_some(&log_trust);
        match verify::verify(&b.to_vec(), &trust(), &opts, &|_| {}) {
            Ok(Verification::Passed(_, r)) => (0, Some(r.transparency().outcome.to_string())),
            Ok(Verification::Failed(r)) => (1, Some(r.transparency().outcome.to_string())),
            Err(_) => (2, None),
        }
    };
    assert_eq!(run(&bundle, true), (0, Some("verified".into())));
    assert_eq!(run(&bundle, false), (0, Some("unverifiable".into())));

    let index = airlock::archive::walk(&bundle, &Default::default()).unwrap();
    let e = index.get(airlock::bundle::TLOG_PROOF).unwrap();
    let start = e.data_offset as usize;
    // What only a key can check: the checkpoint's origin line (no hash covers it) and its
    // signature lines (after the note's blank line).
    let note_at = start + proof.len() - note.len();
    let origin_line = note_at..note_at + note.iter().position(|&b| b == b'\n').unwrap();
    let sig_lines = note_at + note.windows(2).rposition(|w| w == b"\n\n").unwrap() + 2..start + proof.len();
    let (mut failed_untrusted, mut unverifiable_untrusted) = (0, 0);
    for bit in start * 8..(start + proof.len()) * 8 {
        let flipped = flip(&bundle, bit);
        let (code, outcome) = run(&flipped, true);
        assert_ne!(
            code,
            0,
            "proof byte {} flipped passed with the log trusted ({outcome:?}): {:?}",
            bit / 8 - start,
            String::from_utf8_lossy(&flipped[start..start + proof.len()])
        );
        match run(&flipped, false) {
            (0, Some(o)) => {
                assert_eq!(o, "unverifiable");
                let at = bit / 8;
                assert!(
                    sig_lines.contains(&at) || origin_line.contains(&at),
                    "proof byte {} flipped passed without log trust, outside the origin and signature lines",
                    at - start
                );
                unverifiable_untrusted += 1;
            }
            _ => failed_untrusted += 1,
        }
    }
    eprintln!("without log trust: {failed_untrusted} flips fail, {unverifiable_untrusted} (origin and signature lines) stay unverifiable");
    assert!(failed_untrusted > unverifiable_untrusted, "the unauthenticated consistency check catches most flips");
}
