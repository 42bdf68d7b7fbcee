//! Conformance vectors for bundle format v1 (`vectors/bundle-v1/`), generated deterministically
//! from fixed, published test keys. `cargo xtask vectors` writes them; a test regenerates them
//! in memory and fails when the committed files are stale. Sans-I/O: returns file contents.
//! [`hostile`] generates the hostile-archive corpus (`tests/data/hostile/`).

pub mod hostile;
pub mod inventory;
pub mod ledger;
pub mod promotion;

use crate::archive::write::{self, PlannedMember, write_tar, write_zip};
use crate::archive::{self, Limits};
use crate::bundle::manifest::{DeflateStream, Manifest, Member, Release};
use crate::bundle::{self, Kind, PAYLOAD_TYPE_V1};
use crate::digest::Sha256Digest;
use crate::dsse::Envelope;
use crate::keys::SecretKey;
use crate::pack;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

/// Fixed creation time of every vector.
pub const VECTOR_TIME: Timestamp = Timestamp(1_700_000_000);

/// The published test keys: name → seed. Never use them for anything but tests.
pub fn test_key(name: &str) -> SecretKey {
    let seed = Sha256Digest::of(format!("airlock test key {name} (public, insecure)").as_bytes()).0;
    SecretKey::from_seed(&seed)
}

/// Names of the published test keys.
pub const KEY_NAMES: [&str; 3] = ["a", "b", "c"];

/// What a vector expects from `airlock verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectation {
    /// What the vector exercises.
    pub description: String,
    /// The bundle file in the vector's folder.
    pub bundle: String,
    /// Trusted keys, as names under `keys/`.
    pub keys: Vec<String>,
    /// Threshold.
    pub threshold: usize,
    /// Exit code of `airlock verify`.
    pub exit: u8,
    /// For exit 1: ids of the checks that fail (sorted, deduplicated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
    /// For exit 2: the error kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
}

/// All vector files: relative path → bytes.
pub fn bundle_v1_vectors() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for k in KEY_NAMES {
        let sk = test_key(k);
        files.insert(format!("keys/{k}.key"), sk.to_file());
        files.insert(format!("keys/{k}.pub"), sk.public().to_file());
    }
    for (name, bundle_name, bytes, exp) in cases() {
        let mut e = serde_json::to_vec_pretty(&exp).expect("serialisable");
        e.push(b'\n');
        files.insert(format!("{name}/{bundle_name}"), bytes);
        files.insert(format!("{name}/expect.json"), e);
    }
    files
}

fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("artifacts/tool-linux-amd64", (0..3000u32).flat_map(|i| i.to_le_bytes()).collect()),
        ("artifacts/tool-linux-arm64", b"\x7fELF pretend arm64 build\n".to_vec()),
        ("provenance/tool.intoto.jsonl", br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#.to_vec()),
        ("sbom/tool.spdx.json", br#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"tool"}"#.repeat(20)),
        ("release/notes.md", b"# tool 2.1.0\n".to_vec()),
    ]
}

fn release() -> Release {
    Release {
        product: "tool".into(),
        version: "2.1.0".into(),
        commit: Some("5d1c0ffee5d1c0ffee5d1c0ffee5d1c0ffee5d1c".into()),
        channel: Some("stable".into()),
    }
}

fn members(files: &[(&str, Vec<u8>)]) -> Vec<Member> {
    files
        .iter()
        .map(|(p, b)| Member {
            path: p.to_string(),
            size: b.len() as u64,
            digest: Sha256Digest::of(b),
            kind: Kind::of_path(p).expect("kind dir"),
        })
        .collect()
}

/// Writes an archive from a plan's members, content from `files` and the control bytes.
fn build(plan_members: &[PlannedMember], control: &BTreeMap<String, Vec<u8>>, files: &[(&str, Vec<u8>)], tar: bool) -> Vec<u8> {
    let lookup: BTreeMap<&str, &Vec<u8>> = files.iter().map(|(p, b)| (*p, b)).collect();
    let mut open = |name: &str| -> std::io::Result<Box<dyn Read>> {
        let bytes = control.get(name).or_else(|| lookup.get(name).copied()).cloned().unwrap_or_default();
        Ok(Box::new(Cursor::new(bytes)))
    };
    if tar {
        write_tar(Vec::new(), plan_members, VECTOR_TIME, &mut open).expect("in-memory tar")
    } else {
        write_zip(Cursor::new(Vec::new()), plan_members, VECTOR_TIME, &mut open).expect("in-memory zip").into_inner()
    }
}

struct Built {
    members: Vec<PlannedMember>,
    control: BTreeMap<String, Vec<u8>>,
}

/// A zip plan: the SBOM is deflated and its deflate stream signed.
fn planned(files: &[(&str, Vec<u8>)], keys: &[&SecretKey]) -> Built {
    let streams = files
        .iter()
        .filter(|(p, _)| Kind::of_path(p) == Some(Kind::Sbom))
        .map(|(p, b)| {
            let (digest, size) = write::deflate_stream_digest(b.as_slice()).expect("in memory");
            DeflateStream { path: p.to_string(), size, digest }
        })
        .collect();
    planned_with(files, keys, streams)
}

/// A plan with every member stored (tar, or a zip without compression).
fn planned_stored(files: &[(&str, Vec<u8>)], keys: &[&SecretKey]) -> Built {
    planned_with(files, keys, Vec::new())
}

fn planned_with(files: &[(&str, Vec<u8>)], keys: &[&SecretKey], streams: Vec<DeflateStream>) -> Built {
    let plan = pack::plan(release(), VECTOR_TIME, members(files), keys, streams).expect("valid plan");
    let control = [
        (bundle::MANIFEST.to_string(), plan.manifest_bytes.clone()),
        (bundle::ENVELOPE.to_string(), plan.envelope_bytes.clone()),
        (bundle::CHECKSUMS.to_string(), plan.checksums_bytes.clone()),
    ]
    .into_iter()
    .collect();
    Built { members: plan.members, control }
}

fn exp(description: &str, bundle: &str, keys: &[&str], threshold: usize, exit: u8, failed: &[&str], kind: Option<&str>) -> Expectation {
    let mut failed_checks: Vec<String> = failed.iter().map(|s| s.to_string()).collect();
    failed_checks.sort();
    failed_checks.dedup();
    Expectation {
        description: description.into(),
        bundle: bundle.into(),
        keys: keys.iter().map(|s| s.to_string()).collect(),
        threshold,
        exit,
        failed_checks,
        error_kind: kind.map(str::to_string),
    }
}

/// Re-signs a modified manifest so only the intended defect remains.
fn resign(manifest_bytes: Vec<u8>, payload_type: &str, files: &[(&str, Vec<u8>)], keys: &[&SecretKey], built: &mut Built) {
    let env = Envelope::sign(payload_type, &manifest_bytes, keys).to_bytes();
    built.control.insert(bundle::MANIFEST.into(), manifest_bytes);
    built.control.insert(bundle::ENVELOPE.into(), env);
    for m in built.members.iter_mut() {
        if let Some(b) = built.control.get(&m.name) {
            m.size = b.len() as u64;
        }
    }
    let _ = files;
}

type Case = (String, String, Vec<u8>, Expectation);

fn cases() -> Vec<Case> {
    let (a, b, c) = (test_key("a"), test_key("b"), test_key("c"));
    let files = sample_files();
    let mut out: Vec<Case> = Vec::new();
    let mut push = |name: &str, tar: bool, bytes: Vec<u8>, e: Expectation| {
        let bundle = if tar { "bundle.tar" } else { "bundle.zip" };
        let mut e = e;
        e.bundle = bundle.into();
        out.push((name.to_string(), bundle.to_string(), bytes, e));
    };

    // Valid: zip 1-of-1, tar 1-of-1, zip 2-of-3.
    let one = planned(&files, &[&a]);
    push(
        "valid-zip",
        false,
        build(&one.members, &one.control, &files, false),
        exp("valid zip bundle signed by key a; trust a, threshold 1", "", &["a"], 1, 0, &[], None),
    );
    let one_tar = planned_stored(&files, &[&a]);
    push(
        "valid-tar",
        true,
        build(&one_tar.members, &one_tar.control, &files, true),
        exp("valid tar bundle, same logical content as valid-zip", "", &["a"], 1, 0, &[], None),
    );
    let two = planned(&files, &[&a, &c]);
    push(
        "valid-2-of-3",
        false,
        build(&two.members, &two.control, &files, false),
        exp("signed by a and c; trust a, b, c with threshold 2", "", &["a", "b", "c"], 2, 0, &[], None),
    );

    // One flipped byte in a stored member.
    let mut z = build(&one.members, &one.control, &files, false);
    let idx = archive::walk(&z, &Limits::default()).expect("valid");
    let e = idx.get("artifacts/tool-linux-arm64").expect("member");
    z[(e.data_offset + 3) as usize] ^= 0x01;
    push(
        "tampered-member",
        false,
        z,
        exp("one byte of artifacts/tool-linux-arm64 flipped after signing", "", &["a"], 1, 1, &["member.digest", "member.crc"], None),
    );

    // Extra (unlisted) member, validly signed manifest.
    let mut extra = one.members.clone();
    extra.push(PlannedMember { name: "artifacts/zz-unlisted".into(), size: 7, deflate: false });
    let mut files_x = files.clone();
    files_x.push(("artifacts/zz-unlisted", b"payload".to_vec()));
    push(
        "extra-member",
        false,
        build(&extra, &one.control, &files_x, false),
        exp("archive holds a member the signed manifest does not list", "", &["a"], 1, 1, &["member.unlisted", "members.set"], None),
    );

    // Missing member.
    let missing: Vec<PlannedMember> = one.members.iter().filter(|m| m.name != "release/notes.md").cloned().collect();
    push(
        "missing-member",
        false,
        build(&missing, &one.control, &files, false),
        exp("the signed manifest lists release/notes.md, the archive lacks it", "", &["a"], 1, 1, &["member.missing", "members.set"], None),
    );

    // Wrong key.
    let by_b = planned(&files, &[&b]);
    push(
        "wrong-key",
        false,
        build(&by_b.members, &by_b.control, &files, false),
        exp("signed by b, only a is trusted", "", &["a"], 1, 1, &["signature.threshold"], None),
    );

    // Below threshold.
    push(
        "below-threshold",
        false,
        build(&one.members, &one.control, &files, false),
        exp("signed by a only; trust a and b with threshold 2", "", &["a", "b"], 2, 1, &["signature.threshold"], None),
    );

    // Unknown version: payloadType v2 and formatVersion 2, validly signed.
    let mut v2 = planned(&files, &[&a]);
    let m2 = String::from_utf8(v2.control[bundle::MANIFEST].clone()).expect("utf8").replace("\"formatVersion\":1", "\"formatVersion\":2");
    resign(m2.into_bytes(), &PAYLOAD_TYPE_V1.replace(".v1+", ".v2+"), &files, &[&a], &mut v2);
    push(
        "unknown-version",
        false,
        build(&v2.members, &v2.control, &files, false),
        exp("format version 2, validly signed; this reader knows only 1", "", &["a"], 1, 2, &[], Some("format.unknown-version")),
    );

    // Malformed manifest: pretty-printed (not RFC 8785), validly signed.
    let mut pretty = planned(&files, &[&a]);
    let value: Manifest = serde_json::from_slice(&pretty.control[bundle::MANIFEST]).expect("own manifest");
    resign(serde_json::to_vec_pretty(&value).expect("json"), PAYLOAD_TYPE_V1, &files, &[&a], &mut pretty);
    push(
        "malformed-manifest",
        false,
        build(&pretty.members, &pretty.control, &files, false),
        exp("manifest is valid JSON but not RFC 8785 canonical", "", &["a"], 1, 2, &[], Some("manifest.malformed")),
    );

    // checksums.txt disagreeing with the manifest.
    let mut sums = planned(&files, &[&a]);
    let text = String::from_utf8(sums.control[bundle::CHECKSUMS].clone()).expect("utf8");
    let first = text.chars().next().expect("non-empty");
    let swapped = format!("{}{}", if first == '0' { '1' } else { '0' }, &text[1..]);
    sums.control.insert(bundle::CHECKSUMS.into(), swapped.into_bytes());
    push(
        "checksums-disagree",
        false,
        build(&sums.members, &sums.control, &files, false),
        exp(
            "checksums.txt has one digest that differs from the signed manifest",
            "",
            &["a"],
            1,
            1,
            &["checksums.digest", "checksums.agreement"],
            None,
        ),
    );

    // Manifest.json differs from the signed payload.
    let mut differs = planned(&files, &[&a]);
    let mut mb = differs.control[bundle::MANIFEST].clone();
    let pos = mb.len() - 3;
    mb[pos] = if mb[pos] == b'0' { b'1' } else { b'0' };
    differs.control.insert(bundle::MANIFEST.into(), mb);
    push(
        "manifest-not-payload",
        false,
        build(&differs.members, &differs.control, &files, false),
        exp("manifest.json differs from the DSSE payload that was signed", "", &["a"], 1, 1, &["manifest.payload-agreement"], None),
    );

    // Hostile archive: a member named with "..".
    let mut evil = one.members.clone();
    evil.push(PlannedMember { name: "artifacts/../evil".into(), size: 1, deflate: false });
    let mut files_e = files.clone();
    files_e.push(("artifacts/../evil", b"x".to_vec()));
    let tar_evil = build(&evil, &one.control, &files_e, false);
    push("hostile-dotdot", false, tar_evil, exp("member name with a '..' component", "", &["a"], 1, 2, &[], Some("name.invalid")));

    // The signed deflate stream: the same SBOM bytes deflated another way (level 1 instead of
    // the signed level-6 stream) inflate to the signed content, CRC and digest, yet fail.
    let sbom = "sbom/tool.spdx.json";
    push(
        "deflate-reencoded",
        false,
        zip_reencoded(&one, &files, sbom, 1),
        exp(
            "sbom/tool.spdx.json deflated at level 1; the manifest signs its level-6 stream (same inflated bytes)",
            "",
            &["a"],
            1,
            1,
            &["member.deflate-stream"],
            None,
        ),
    );
    push(
        "deflate-signed-but-stored",
        false,
        zip_reencoded(&one, &files, "", 6),
        exp(
            "the manifest signs a deflate stream for sbom/tool.spdx.json, the archive stores it (same bytes)",
            "",
            &["a"],
            1,
            1,
            &["member.deflate-stream"],
            None,
        ),
    );
    push(
        "control-deflated",
        false,
        zip_reencoded(&one, &files, bundle::MANIFEST, 6),
        exp(
            "manifest.json is deflated (same bytes); nothing signs a control member's stored form, so it must be stored",
            "",
            &["a"],
            1,
            2,
            &[],
            Some("bundle.compressed-control"),
        ),
    );
    let stored_plan = planned_stored(&files, &[&a]);
    push(
        "deflate-unsigned",
        false,
        zip_reencoded(&stored_plan, &files, sbom, 6),
        exp(
            "sbom/tool.spdx.json is deflated but the manifest signs no deflate stream for it",
            "",
            &["a"],
            1,
            1,
            &["member.deflate-stream"],
            None,
        ),
    );
    out
}

/// A zip of a plan laid out by the corpus builder: `deflated` stored as a raw deflate stream at
/// `level` (whatever the plan signs), every other member stored.
fn zip_reencoded(built: &Built, files: &[(&str, Vec<u8>)], deflated: &str, level: u32) -> Vec<u8> {
    let lookup: BTreeMap<&str, &Vec<u8>> = files.iter().map(|(p, b)| (*p, b)).collect();
    let entries: Vec<hostile::ZEntry> = built
        .members
        .iter()
        .map(|m| {
            let bytes = built.control.get(&m.name).or_else(|| lookup.get(m.name.as_str()).copied()).expect("planned bytes");
            if m.name != deflated {
                return hostile::stored(&m.name, bytes);
            }
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
            std::io::Write::write_all(&mut enc, bytes).expect("in memory");
            let stream = enc.finish().expect("in memory");
            hostile::ZEntry { data: stream, method: 8, needed: 20, made_by: 0x0314, ..hostile::stored(&m.name, bytes) }
        })
        .collect();
    hostile::zip_bytes(&entries, &Default::default())
}
