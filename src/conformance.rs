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
    /// The rule of `format-spec/rules-v1.json` the case exercises when the verdict names it
    /// otherwise: a `data.*` rule found while hashing a signed bundle's member is reported as
    /// the member check the registry names for it (its `reportedAs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
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
        rule: None,
    }
}

/// `e` exercising `rule`, which its verdict reports under another id.
fn via(rule: &str, mut e: Expectation) -> Expectation {
    e.rule = Some(rule.into());
    e
}

/// MS-DOS date (high half) and time of `t`, as the writer stores [`VECTOR_TIME`].
fn dos_time(t: Timestamp) -> u32 {
    let (y, mo, d, h, mi, se) = t.civil();
    let date = (((y - 1980) << 9) | (mo << 5) | d) as u32;
    let time = ((h << 11) | (mi << 5) | (se / 2)) as u32;
    (date << 16) | time
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
    out.extend(rule_cases());
    out
}

/// One case named `name` (a zip unless `tar`).
fn case(name: &str, tar: bool, bytes: Vec<u8>, mut e: Expectation) -> Case {
    let bundle = if tar { "bundle.tar" } else { "bundle.zip" };
    e.bundle = bundle.into();
    (name.to_string(), bundle.to_string(), bytes, e)
}

/// A zip of the sample files signed by `a` whose manifest `edit` changed (then re-signed).
fn edited_manifest(edit: &dyn Fn(&mut serde_json::Value)) -> Vec<u8> {
    let (files, a) = (sample_files(), test_key("a"));
    let mut built = planned(&files, &[&a]);
    let mut v: serde_json::Value = serde_json::from_slice(&built.control[bundle::MANIFEST]).expect("own manifest");
    edit(&mut v);
    resign(crate::json::canonical_value(&v), PAYLOAD_TYPE_V1, &files, &[&a], &mut built);
    build(&built.members, &built.control, &files, false)
}

/// A zip of the sample files signed by `a` whose (typed) manifest `edit` changed.
fn edited_fields(edit: &dyn Fn(&mut Manifest)) -> Vec<u8> {
    edited_manifest(&|v| {
        let mut m: Manifest = serde_json::from_value(v.clone()).expect("own manifest");
        edit(&mut m);
        *v = serde_json::to_value(&m).expect("serialisable");
    })
}

/// A zip of the sample files signed by `a`, with `checksums.txt` replaced by `edit` of it.
fn edited_checksums(edit: &dyn Fn(&str) -> String) -> Vec<u8> {
    let (files, a) = (sample_files(), test_key("a"));
    let mut built = planned(&files, &[&a]);
    let text = String::from_utf8(built.control[bundle::CHECKSUMS].clone()).expect("utf8");
    let new = edit(&text).into_bytes();
    for m in built.members.iter_mut().filter(|m| m.name == bundle::CHECKSUMS) {
        m.size = new.len() as u64;
    }
    built.control.insert(bundle::CHECKSUMS.into(), new);
    build(&built.members, &built.control, &files, false)
}

fn record(path: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({"digest": Sha256Digest::of(path.as_bytes()).prefixed(), "kind": kind, "path": path, "size": path.len()})
}

fn insert_member(v: &mut serde_json::Value, records: &[serde_json::Value]) {
    let members = v["members"].as_array_mut().expect("members");
    members.extend(records.iter().cloned());
    members.sort_by(|x, y| x["path"].as_str().unwrap_or("").as_bytes().cmp(y["path"].as_str().unwrap_or("").as_bytes()));
}

/// Cases that give every rule of `format-spec/rules-v1.json` a vector: the manifest rules,
/// the envelope, the trust configuration, each check, and each archive rule (taken from the
/// hostile corpus: the first of its cases that `verify` refuses by exactly that rule).
fn rule_cases() -> Vec<Case> {
    let (files, a) = (sample_files(), test_key("a"));
    let mut out = Vec::new();
    let refused = |kind: &str, description: &str| exp(description, "", &["a"], 1, 2, &[], Some(kind));
    let failed = |checks: &[&str], description: &str| exp(description, "", &["a"], 1, 1, checks, None);

    // Manifest rules (exit 2, `manifest.<rule>`), each in a validly signed manifest.
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let manifest_rules: Vec<(&str, &str, Edit)> = vec![
        ("release.product", "release.product \"tool suite\" holds a space", Box::new(|v| v["release"]["product"] = "tool suite".into())),
        (
            "release.version",
            "release.version \"2.1\" is not Semantic Versioning 2.0.0",
            Box::new(|v| v["release"]["version"] = "2.1".into()),
        ),
        ("release.commit", "release.commit in upper-case hex", Box::new(|v| v["release"]["commit"] = "5D1C0FFEE".into())),
        ("release.channel", "release.channel \"Stable\" has an upper-case letter", Box::new(|v| v["release"]["channel"] = "Stable".into())),
        (
            "bundle-id.format",
            "bundleId in upper-case hex",
            Box::new(|v| v["bundleId"] = v["bundleId"].as_str().unwrap_or("").to_uppercase().into()),
        ),
        ("members.empty", "members is empty: an empty subject set proves nothing", Box::new(|v| v["members"] = serde_json::json!([]))),
        (
            "member.path",
            "a member record names other/a:b (a colon breaks the name rules)",
            Box::new(|v| insert_member(v, &[record("other/a:b", "other")])),
        ),
        (
            "member.reserved",
            "a member record names tlog/manifest.tlog-proof, which the manifest cannot list",
            Box::new(|v| insert_member(v, &[record("tlog/manifest.tlog-proof", "tlog")])),
        ),
        ("member.kind", "artifacts/tool-linux-amd64 recorded with kind sbom", Box::new(|v| v["members"][0]["kind"] = "sbom".into())),
        ("members.order", "the first two member records swapped", Box::new(|v| v["members"].as_array_mut().expect("members").swap(0, 1))),
        (
            "members.collision",
            "member records other/STRASSE and other/straße: equal after NFKC and upper-then-lower case mapping (ß → SS → ss)",
            Box::new(|v| insert_member(v, &[record("other/STRASSE", "other"), record("other/straße", "other")])),
        ),
        ("deflate-streams.empty", "deflateStreams present and empty", Box::new(|v| v["deflateStreams"] = serde_json::json!([]))),
        (
            "deflate-streams.order",
            "the deflate stream record of sbom/tool.spdx.json twice",
            Box::new(|v| {
                let first = v["deflateStreams"][0].clone();
                v["deflateStreams"].as_array_mut().expect("streams").push(first);
            }),
        ),
        (
            "deflate-streams.unlisted",
            "a deflate stream record for sbom/zz.json, which members does not list",
            Box::new(|v| {
                let mut extra = v["deflateStreams"][0].clone();
                extra["path"] = "sbom/zz.json".into();
                v["deflateStreams"].as_array_mut().expect("streams").push(extra);
            }),
        ),
        ("deflate-streams.size", "a deflate stream record of size 0", Box::new(|v| v["deflateStreams"][0]["size"] = 0.into())),
        ("format.unknown-version", "formatVersion 2 under the v1 payloadType, validly signed", Box::new(|v| v["formatVersion"] = 2.into())),
    ];
    for (rule, description, edit) in &manifest_rules {
        let kind = if rule.starts_with("format.") { rule.to_string() } else { format!("manifest.{rule}") };
        let name =
            if rule.starts_with("format.") { "unknown-format-version".to_string() } else { format!("manifest-{}", rule.replace('.', "-")) };
        out.push(case(&name, false, edited_manifest(edit.as_ref()), refused(&kind, description)));
    }

    // The envelope and the control members.
    let mut built = planned(&files, &[&a]);
    let mut env: serde_json::Value = serde_json::from_slice(&built.control[bundle::ENVELOPE]).expect("own envelope");
    env["signatures"] = serde_json::json!([]);
    built.control.insert(bundle::ENVELOPE.into(), crate::json::canonical_value(&env));
    for m in built.members.iter_mut().filter(|m| m.name == bundle::ENVELOPE) {
        m.size = built.control[bundle::ENVELOPE].len() as u64;
    }
    out.push(case(
        "envelope-no-signatures",
        false,
        build(&built.members, &built.control, &files, false),
        refused("envelope.malformed", "manifest.dsse.json carries no signature"),
    ));
    let mut other_type = planned(&files, &[&a]);
    let bytes = other_type.control[bundle::MANIFEST].clone();
    resign(bytes, "application/vnd.in-toto+json", &files, &[&a], &mut other_type);
    out.push(case(
        "envelope-payload-type",
        false,
        build(&other_type.members, &other_type.control, &files, false),
        refused("envelope.payload-type", "payloadType application/vnd.in-toto+json: not an airlock bundle manifest"),
    ));
    let one = planned(&files, &[&a]);
    let no_sums: Vec<PlannedMember> = one.members.iter().filter(|m| m.name != bundle::CHECKSUMS).cloned().collect();
    out.push(case(
        "missing-control",
        false,
        build(&no_sums, &one.control, &files, false),
        refused("bundle.missing-control", "the archive holds no checksums.txt"),
    ));
    out.push(case(
        "trust-threshold-above-keys",
        false,
        build(&one.members, &one.control, &files, false),
        exp("a valid bundle; one trusted key and threshold 2, which no bundle can meet", "", &["a"], 2, 2, &[], Some("trust.unusable")),
    ));

    // Checks (exit 1).
    let mut altered = planned(&files, &[&a]);
    let mut env = Envelope::sign(PAYLOAD_TYPE_V1, &altered.control[bundle::MANIFEST], &[&a]);
    env.signatures[0].sig[0] ^= 0x01;
    altered.control.insert(bundle::ENVELOPE.into(), env.to_bytes());
    out.push(case(
        "signature-altered",
        false,
        build(&altered.members, &altered.control, &files, false),
        failed(&["signature", "signature.threshold"], "the signature under key a's keyid has one bit flipped"),
    ));
    out.push(case(
        "merkle-root-wrong",
        false,
        edited_fields(&|m| {
            m.merkle_root = Sha256Digest::of(b"not the root");
            m.bundle_id = bundle::manifest::bundle_id(m.created_at, &m.merkle_root, &m.release);
        }),
        failed(&["manifest.merkle-root"], "merkleRoot is not the root over the member records (bundleId recomputed from it)"),
    ));
    out.push(case(
        "bundle-id-wrong",
        false,
        edited_fields(&|m| m.bundle_id = Sha256Digest::of(b"not the id").hex()),
        failed(&["manifest.bundle-id"], "bundleId is not the digest of createdAt, merkleRoot and release"),
    ));
    out.push(case(
        "checksums-binary-marker",
        false,
        edited_checksums(&|t| t.replacen("  ", " *", 1)),
        failed(
            &["checksums.line", "checksums.missing", "checksums.agreement"],
            "the first line of checksums.txt uses the binary marker (`<hex> *<path>`)",
        ),
    ));
    out.push(case(
        "checksums-unlisted",
        false,
        edited_checksums(&|t| format!("{t}{}  other/unlisted\n", Sha256Digest::of(b"x").hex())),
        failed(&["checksums.unlisted", "checksums.agreement"], "checksums.txt lists other/unlisted, which the manifest does not"),
    ));
    out.push(case(
        "checksums-missing-line",
        false,
        edited_checksums(&|t| t.lines().take(t.lines().count() - 1).map(|l| format!("{l}\n")).collect()),
        failed(&["checksums.missing", "checksums.agreement"], "checksums.txt lacks its last line"),
    ));
    out.push(case(
        "checksums-order",
        false,
        edited_checksums(&|t| {
            let mut lines: Vec<&str> = t.lines().collect();
            lines.swap(0, 1);
            lines.iter().map(|l| format!("{l}\n")).collect()
        }),
        failed(&["checksums.agreement"], "checksums.txt lists every member with its digest, in another order"),
    ));
    let arm = "artifacts/tool-linux-arm64";
    out.push(case(
        "crc-wrong",
        false,
        zip_layout(&planned_stored(&files, &[&a]), &files, &|e| {
            if e.name == arm.as_bytes() {
                e.crc ^= 1;
            }
        }),
        via(
            "data.crc",
            failed(&["member.crc"], "the CRC-32 of artifacts/tool-linux-arm64 in both headers is wrong; its bytes are the signed ones"),
        ),
    ));
    let sbom = "sbom/tool.spdx.json";
    let sbom_bytes = &files.iter().find(|(p, _)| *p == sbom).expect("sbom").1;
    let padded = hostile::with_deflate_padding_bit(deflated_at(&hostile::stored(sbom, sbom_bytes), 6));
    let signed_padded = planned_with(
        &files,
        &[&a],
        vec![DeflateStream { path: sbom.into(), size: padded.data.len() as u64, digest: Sha256Digest::of(&padded.data) }],
    );
    out.push(case(
        "deflate-padding-bit",
        false,
        zip_layout(&signed_padded, &files, &|e| {
            if e.name == sbom.as_bytes() {
                *e = padded.clone();
            }
        }),
        via(
            "data.deflate-padding",
            failed(&["member.deflate-padding"], "sbom/tool.spdx.json's signed deflate stream has a set bit after its final block"),
        ),
    ));
    out.push(case(
        "inflates-larger",
        false,
        zip_layout(&one, &files, &|e| {
            if e.name == sbom.as_bytes() {
                *e = deflated_at(e, 6);
                e.size -= 1;
            }
        }),
        via(
            "data.size",
            failed(&["member.digest", "member.deflate-stream"], "sbom/tool.spdx.json inflates to one byte more than its headers declare"),
        ),
    ));
    out.push(case(
        "inflate-trailing-byte",
        false,
        zip_layout(&one, &files, &|e| {
            if e.name == sbom.as_bytes() {
                *e = deflated_at(e, 6);
                e.data.push(0);
            }
        }),
        via(
            "data.inflate",
            failed(
                &["member.digest", "member.deflate-stream"],
                "sbom/tool.spdx.json's deflate stream ends one byte before its stored size",
            ),
        ),
    ));
    let mut with_proof = planned_stored(&files, &[&a]);
    let proof = b"not a proof".to_vec();
    with_proof
        .members
        .insert(3, PlannedMember { name: crate::tlog::bundle::PROOF_MEMBER.into(), size: proof.len() as u64, deflate: false });
    with_proof.control.insert(crate::tlog::bundle::PROOF_MEMBER.into(), proof);
    out.push(case(
        "transparency-malformed",
        false,
        build(&with_proof.members, &with_proof.control, &files, false),
        failed(&["transparency"], "tlog/manifest.tlog-proof is not a tlog-proof"),
    ));

    // Archive rules (exit 2): one hostile-corpus case each, with a limit of its own only where
    // the default limits cannot be reached in a small file.
    let corpus = hostile::cases();
    for rule in archive::Rule::ALL.iter().map(|r| r.id()).filter(|id| !id.starts_with("data.") && *id != "limit.total-size") {
        let c = corpus
            .iter()
            .find(|c| c.expect.rule == Some(rule) && c.expect.limits.is_none() && refuses_as(&c.bytes, rule))
            .unwrap_or_else(|| panic!("no hostile case refused by {rule} under the default limits"));
        out.push(case(
            &format!("archive-{}", rule.replace('.', "-")),
            c.ext == "tar",
            c.bytes.clone(),
            refused(rule, &c.expect.description),
        ));
    }
    out.extend(accepted_cases());
    out.push(case(
        "archive-limit-total-size",
        false,
        total_size_bomb(),
        refused("limit.total-size", "five stored members declaring 60 GiB each (ZIP64): 300 GiB, above the 256 GiB total"),
    ));
    out
}

/// Whether `verify` (trusting key `a`) refuses `bytes` by `rule`.
fn refuses_as(bytes: &[u8], rule: &str) -> bool {
    let trust = crate::verify::TrustPolicy::ed25519([test_key("a").public().clone()], 1, "vector");
    matches!(crate::verify::verify(&bytes.to_vec(), &trust, &Default::default(), &|_| {}), Err(e) if e.kind() == rule)
}

/// Five stored entries declaring 60 GiB each through ZIP64, none with its data.
fn total_size_bomb() -> Vec<u8> {
    let entries: Vec<hostile::ZEntry> = (0..5)
        .map(|i| {
            let mut e = hostile::stored(&format!("other/{i}"), b"x");
            e.needed = 45;
            e.made_by = 0x032D;
            e.size = u32::MAX;
            e.csize = Some(u32::MAX);
            let mut ex = vec![1, 0, 16, 0];
            ex.extend_from_slice(&(60u64 << 30).to_le_bytes());
            ex.extend_from_slice(&(60u64 << 30).to_le_bytes());
            e.central_extra = ex;
            e
        })
        .collect();
    hostile::zip_bytes(&entries, &hostile::ZOpts { time: Some(dos_time(VECTOR_TIME)), ..Default::default() })
}

/// A zip of a plan laid out by the corpus builder: `deflated` stored as a raw deflate stream at
/// `level` (whatever the plan signs), every other member stored.
fn zip_reencoded(built: &Built, files: &[(&str, Vec<u8>)], deflated: &str, level: u32) -> Vec<u8> {
    zip_layout(built, files, &|e| {
        if e.name == deflated.as_bytes() {
            *e = deflated_at(e, level);
        }
    })
}

/// `e` (stored) as a raw deflate stream at `level`.
fn deflated_at(e: &hostile::ZEntry, level: u32) -> hostile::ZEntry {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
    std::io::Write::write_all(&mut enc, &e.data).expect("in memory");
    let stream = enc.finish().expect("in memory");
    hostile::ZEntry { data: stream, method: 8, needed: 20, made_by: 0x0314, ..e.clone() }
}

/// A zip of a plan laid out by the corpus builder, every member stored and then changed by
/// `edit`, at the vectors' one time ([`VECTOR_TIME`]).
fn zip_layout(built: &Built, files: &[(&str, Vec<u8>)], edit: &dyn Fn(&mut hostile::ZEntry)) -> Vec<u8> {
    let lookup: BTreeMap<&str, &Vec<u8>> = files.iter().map(|(p, b)| (*p, b)).collect();
    let entries: Vec<hostile::ZEntry> = built
        .members
        .iter()
        .map(|m| {
            let bytes = built.control.get(&m.name).or_else(|| lookup.get(m.name.as_str()).copied()).expect("planned bytes");
            let mut e = hostile::stored(&m.name, bytes);
            edit(&mut e);
            e
        })
        .collect();
    hostile::zip_bytes(&entries, &hostile::ZOpts { time: Some(dos_time(VECTOR_TIME)), ..Default::default() })
}

/// What other conforming writers produce, which a reader accepts (exit 0): the choices
/// format-spec/bundle-v1.md §6 and §8 leave to a writer, and airlock's own tar end padding.
fn accepted_cases() -> Vec<Case> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let (files, a, b) = (sample_files(), test_key("a"), test_key("b"));
    let ok = |description: &str| exp(description, "", &["a"], 1, 0, &[], None);
    let mut out = Vec::new();

    // A zip as the last member of a tar: the writer pads the tar with zero blocks so that no zip
    // end-record signature lies in its last 128 KiB.
    let mut with_zip = files.clone();
    with_zip.push(("vex/openvex.zip", hostile::zip_bytes(&[hostile::stored("openvex.json", b"{}")], &Default::default())));
    let tar = planned_stored(&with_zip, &[&a]);
    out.push(case(
        "accept-tar-padded-after-zip",
        true,
        build(&tar.members, &tar.control, &with_zip, true),
        ok("a tar whose last member is a zip, padded with zero blocks past the 128 KiB zip-reader window (bundle-v1.md §8)"),
    ));

    // Record padding after the end blocks, as tar(1) writes it (to a multiple of 10240).
    let stored = planned_stored(&files, &[&a]);
    let mut padded = build(&stored.members, &stored.control, &files, true);
    padded.resize(padded.len().div_ceil(10240) * 10240 + 10240, 0);
    out.push(case("accept-tar-record-padding", true, padded, ok("a tar with zero record padding after its two end blocks")));

    // Numeric fields of other writers: a mode of eight digits without terminator, and a
    // checksum of six digits, NUL and space (GNU tar, Python; airlock's writer: seven and NUL).
    let mut forms = build(&stored.members, &stored.control, &files, true);
    forms[100..108].copy_from_slice(b"00000644");
    forms[148..156].copy_from_slice(b"        ");
    let sum: u32 = forms[..512].iter().map(|&c| u32::from(c)).sum();
    forms[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.push(case(
        "accept-tar-numeric-forms",
        true,
        forms,
        ok("the first tar header holds its mode as eight octal digits without a terminator and its checksum as six digits, NUL and space"),
    ));

    // An envelope another DSSE writer makes: not canonical, unpadded base64 of both alphabets,
    // no keyid.
    let mut other = planned(&files, &[&a]);
    let env = Envelope::sign(PAYLOAD_TYPE_V1, &other.control[bundle::MANIFEST], &[&a]);
    let json = serde_json::json!({
        "payloadType": PAYLOAD_TYPE_V1,
        "payload": STANDARD_NO_PAD.encode(&env.payload),
        "signatures": [{"sig": URL_SAFE_NO_PAD.encode(&env.signatures[0].sig)}],
    });
    let bytes = serde_json::to_vec_pretty(&json).expect("json");
    for m in other.members.iter_mut().filter(|m| m.name == bundle::ENVELOPE) {
        m.size = bytes.len() as u64;
    }
    other.control.insert(bundle::ENVELOPE.into(), bytes);
    out.push(case(
        "accept-envelope-other-writer",
        false,
        build(&other.members, &other.control, &files, false),
        ok("manifest.dsse.json pretty-printed, payload in unpadded standard base64, the signature in unpadded URL-safe base64, no keyid"),
    ));

    // A co-signer outside the trust: its signature is information.
    let cosigned = planned(&files, &[&a, &b]);
    out.push(case(
        "accept-outside-cosigner",
        false,
        build(&cosigned.members, &cosigned.control, &files, false),
        ok("signed by a and b, only a trusted: b's signature is reported as info"),
    ));

    // Attributes other writers use: an MS-DOS host without a Unix mode, and a Unix file mode 0755.
    out.push(case(
        "accept-zip-attributes",
        false,
        zip_layout(&stored, &files, &|e| {
            if e.name == b"artifacts/tool-linux-amd64" {
                e.ext_attr = 0o100755 << 16;
            } else {
                e.made_by = 0x0014;
                e.ext_attr = 0;
            }
        }),
        ok("every entry made by MS-DOS with no Unix mode, but artifacts/tool-linux-amd64: Unix, mode 0755"),
    ));
    out
}
