//! The trust-root rotation vectors in `vectors/trust-root/`: one harness walks the folder, runs
//! every vector and fails on any file it does not know. The vectors are generated here,
//! deterministically (Ed25519 and RFC 6979 ECDSA signatures); a test fails when the committed
//! files are stale. Regenerate with `AIRLOCK_BLESS=1 cargo test --test trust_vectors`.

use airlock::keys::SecretKey;
use airlock::time::Timestamp;
use airlock::trust::key::TrustKey;
use airlock::trust::root::{self, RoleDesc, RootSigned, TrustRoot, VerifiedRoot};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FAR: &str = "2099-01-01T00:00:00Z";
const PAST: &str = "2021-01-01T00:00:00Z";
const TIME: &str = "2030-01-01T00:00:00Z";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/trust-root")
}

/// A signer: Ed25519 from a seed byte, or P-256 from a scalar byte.
#[derive(Clone, Copy)]
enum K {
    Ed(u8),
    P256(u8),
}

impl K {
    fn public(self) -> TrustKey {
        match self {
            K::Ed(n) => TrustKey::Ed25519(SecretKey::from_seed(&[n; 32]).public().clone()),
            K::P256(n) => {
                let sk = p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap();
                TrustKey::P256(airlock::trust::key::P256Key::from_sec1(sk.verifying_key().to_sec1_point(false).as_bytes()).unwrap())
            }
        }
    }
    fn id(self) -> String {
        self.public().keyid().hex()
    }
    fn sign(self, msg: &[u8]) -> String {
        match self {
            K::Ed(n) => hex::encode(SecretKey::from_seed(&[n; 32]).sign(msg)),
            K::P256(n) => {
                use p256::ecdsa::signature::Signer as _;
                let sk = p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap();
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                hex::encode(sig.to_der().as_bytes())
            }
        }
    }
}

const A: K = K::Ed(1);
const B: K = K::Ed(2);
const C: K = K::Ed(3);
const D: K = K::Ed(4);
const R: K = K::Ed(10);
const R2: K = K::Ed(11);
const P: K = K::P256(5);
const L: K = K::Ed(20);

fn signed(version: u64, root: &[K], threshold: u64, release: &[K], expires: &str, revoked: &[K]) -> RootSigned {
    let mut keys = BTreeMap::new();
    for k in root.iter().chain(release).chain(revoked) {
        keys.insert(k.id(), k.public().desc());
    }
    let mut roles = BTreeMap::new();
    roles.insert("root".into(), RoleDesc { keyids: root.iter().map(|k| k.id()).collect(), threshold, policy: None });
    roles.insert("release".into(), RoleDesc { keyids: release.iter().map(|k| k.id()).collect(), threshold: 1, policy: None });
    let mut revoked: Vec<String> = revoked.iter().map(|k| k.id()).collect();
    revoked.sort();
    RootSigned {
        type_: root::ROOT_TYPE.into(),
        spec_version: root::SPEC_VERSION.into(),
        name: None,
        version,
        expires: Timestamp::parse(expires).unwrap(),
        keys,
        roles,
        revoked,
    }
}

/// The document for `s` signed by `signers` (signatures under each signer's keyid).
fn doc(s: &RootSigned, signers: &[K]) -> Value {
    let msg = airlock::json::canonical(s);
    let sigs: Vec<Value> = signers.iter().map(|k| json!({"keyid": k.id(), "sig": k.sign(&msg)})).collect();
    json!({"signatures": sigs, "signed": s})
}

fn v1() -> Value {
    doc(&signed(1, &[A], 1, &[R], FAR, &[]), &[A])
}

fn vector(description: &str, trusted: Value, chain: Vec<Value>, expect: Result<u64, &str>) -> Value {
    let mut v = json!({"description": description, "time": TIME, "trusted": trusted, "chain": chain});
    match expect {
        Ok(version) => {
            v["expect"] = json!("accept");
            v["finalVersion"] = json!(version);
        }
        Err(rule) => {
            v["expect"] = json!("refuse");
            v["rule"] = json!(rule);
        }
    }
    v
}

fn generate() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut add = |name: &str, v: Value| {
        out.insert(format!("{name}.json"), v);
    };
    let v2_same = doc(&signed(2, &[A], 1, &[R], FAR, &[]), &[A]);
    let v3_same = doc(&signed(3, &[A], 1, &[R], FAR, &[]), &[A]);
    add("valid-chain-1-2-3", vector("rotation N -> N+1 -> N+2 with unchanged keys", v1(), vec![v2_same.clone(), v3_same.clone()], Ok(3)));
    let v2_23 = doc(&signed(2, &[B, C, D], 2, &[R], FAR, &[]), &[A, B, C]);
    let v3_23 = doc(&signed(3, &[B, C, D], 2, &[R], FAR, &[]), &[C, D]);
    add(
        "valid-rotation-1of1-to-2of3",
        vector("root 1-of-1 (a) to 2-of-3 (b, c, d): v2 signed by a and by b, c; v3 by c, d only", v1(), vec![v2_23, v3_23], Ok(3)),
    );
    let p1 = doc(&signed(1, &[P], 1, &[R], FAR, &[]), &[P]);
    let p2 = doc(&signed(2, &[P, B], 2, &[R], FAR, &[]), &[P, B]);
    add(
        "valid-p256-root-key",
        vector("an ECDSA P-256 root key (DER signatures, RFC 6979) rotating to P-256 + Ed25519 2-of-2", p1, vec![p2], Ok(2)),
    );
    let v2_expired = doc(&signed(2, &[A], 1, &[R], PAST, &[]), &[A]);
    add(
        "valid-expired-intermediate",
        vector("an expired intermediate root is fine when the final root is valid", v1(), vec![v2_expired.clone(), v3_same.clone()], Ok(3)),
    );
    add("invalid-skipped-version", vector("1 -> 3: version 2 skipped", v1(), vec![v3_same.clone()], Err("rotation.version")));
    add(
        "invalid-replayed-version",
        vector(
            "a root of the trusted version offered again",
            v1(),
            vec![doc(&signed(1, &[A], 1, &[R], FAR, &[]), &[A])],
            Err("rotation.version"),
        ),
    );
    add(
        "invalid-under-threshold-new",
        vector(
            "v2 wants 2 of (b, c, d) and carries only b besides the old key a",
            v1(),
            vec![doc(&signed(2, &[B, C, D], 2, &[R], FAR, &[]), &[A, B])],
            Err("rotation.signatures-new"),
        ),
    );
    add(
        "invalid-under-threshold-old",
        vector(
            "v2 is signed by its own keys but by no key of v1",
            v1(),
            vec![doc(&signed(2, &[B, C], 2, &[R], FAR, &[]), &[B, C])],
            Err("rotation.signatures-old"),
        ),
    );
    let mut dup = doc(&signed(2, &[A, B], 2, &[R], FAR, &[]), &[A]);
    let s0 = dup["signatures"][0].clone();
    dup["signatures"] = json!([s0, s0]);
    add(
        "invalid-duplicate-keyid-signatures",
        vector("the same keyid twice in signatures", v1(), vec![dup], Err("signatures.duplicate-keyid")),
    );
    let mut hinted = doc(&signed(2, &[A, B], 2, &[R], FAR, &[]), &[A]);
    let mut s1 = hinted["signatures"][0].clone();
    s1["keyid"] = json!(B.id());
    hinted["signatures"].as_array_mut().unwrap().push(s1);
    add(
        "invalid-same-key-two-hints",
        vector(
            "a's signature carried twice, once under b's keyid: one distinct key, threshold 2",
            v1(),
            vec![hinted],
            Err("rotation.signatures-new"),
        ),
    );
    add("invalid-expired-final", vector("the final root of the chain has expired", v1(), vec![v2_expired], Err("rotation.expired-final")));
    let v2_rev = doc(&signed(2, &[A], 1, &[R2], FAR, &[R]), &[A]);
    let v3_unrev = doc(&signed(3, &[A], 1, &[R2], FAR, &[]), &[A]);
    add(
        "invalid-revocation-undone",
        vector("v2 revokes r, v3 no longer lists it as revoked", v1(), vec![v2_rev, v3_unrev], Err("rotation.revocation-permanent")),
    );
    let mut in_role = signed(2, &[A], 1, &[R], FAR, &[]);
    in_role.revoked = vec![R.id()];
    add(
        "invalid-revoked-key-in-role",
        vector("a revoked key still listed in the release role", v1(), vec![doc(&in_role, &[A])], Err("role.revoked-key")),
    );
    let mut unreachable = signed(2, &[A], 1, &[R], FAR, &[]);
    unreachable.roles.get_mut("release").unwrap().threshold = 2;
    add(
        "invalid-threshold-unreachable",
        vector("release threshold 2 with one key", v1(), vec![doc(&unreachable, &[A])], Err("role.threshold")),
    );
    let mut mismatch = signed(2, &[A], 1, &[R], FAR, &[]);
    let d = mismatch.keys.remove(&R.id()).unwrap();
    mismatch.keys.insert(B.id(), d);
    mismatch.roles.get_mut("release").unwrap().keyids = vec![B.id()];
    add(
        "invalid-keyid-mismatch",
        vector("a key listed under another key's id", v1(), vec![doc(&mismatch, &[A])], Err("key.keyid-mismatch")),
    );
    let mut spec = signed(2, &[A], 1, &[R], FAR, &[]);
    spec.spec_version = "2".into();
    add("invalid-unknown-spec-version", vector("spec_version 2", v1(), vec![doc(&spec, &[A])], Err("root.spec-version")));
    let mut tampered = v2_same.clone();
    tampered["signed"]["expires"] = json!("2098-01-01T00:00:00Z");
    add("invalid-tampered-signed", vector("signed changed after signing", v1(), vec![tampered], Err("rotation.signatures-old")));
    let mut tuf = v2_same;
    tuf["signed"]["_type"] = json!("root");
    add("invalid-wrong-type", vector("a TUF root is not an airlock trust root", v1(), vec![tuf], Err("root.type")));
    out
}

fn render(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap();
    b.push(b'\n');
    b
}

fn parse(v: &Value) -> Result<TrustRoot, root::RootError> {
    TrustRoot::parse(&serde_json::to_vec(v).unwrap())
}

fn run(name: &str, v: &Value) -> Result<(), String> {
    let time = Timestamp::parse(v["time"].as_str().ok_or("no time")?).map_err(|e| e.to_string())?;
    let trusted = parse(&v["trusted"]).map_err(|e| format!("trusted root does not parse: {e}"))?;
    let trusted = VerifiedRoot::self_signed(trusted).map_err(|e| format!("trusted root is not self-signed: {e}"))?;
    let result = v["chain"]
        .as_array()
        .ok_or("no chain")?
        .iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|chain| root::apply_chain(&trusted, chain, time, root::MAX_ROTATIONS_PER_RUN));
    match (v["expect"].as_str(), result) {
        (Some("accept"), Ok(steps)) if Some(steps.last().unwrap().root.version()) == v["finalVersion"].as_u64() => Ok(()),
        (Some("accept"), Ok(steps)) => {
            Err(format!("{name}: accepted at v{}, expected {}", steps.last().unwrap().root.version(), v["finalVersion"]))
        }
        (Some("accept"), Err(e)) => Err(format!("{name}: refused ({}): {e}", e.rule())),
        (Some("refuse"), Ok(_)) => Err(format!("{name}: accepted, expected refusal by {}", v["rule"])),
        (Some("refuse"), Err(e)) if v["rule"] == e.rule() => Ok(()),
        (Some("refuse"), Err(e)) => Err(format!("{name}: refused by {} ({e}), expected {}", e.rule(), v["rule"])),
        (other, _) => Err(format!("{name}: unknown expect {other:?}")),
    }
}

/// Example roots for `trust-root/examples/`: v1 (root 1-of-1, release, tlog, approver) and its
/// rotation v2 (root 2-of-3, one release key revoked).
fn examples() -> BTreeMap<String, Value> {
    let mut s1 = signed(1, &[A], 1, &[R, R2], FAR, &[]);
    s1.name = Some("example.org releases".into());
    s1.roles.get_mut("release").unwrap().threshold = 1;
    s1.keys.insert(C.id(), C.public().desc());
    s1.keys.insert(P.id(), P.public().desc());
    s1.keys.insert(L.id(), L.public().desc());
    // The tlog role carries a C2SP tlog-policy naming the log's note verifier key (format-spec/
    // transparency-v1.md): here an Ed25519 log key and no witnesses.
    let TrustKey::Ed25519(log_pk) = L.public() else { unreachable!("L is Ed25519") };
    let vkey = airlock::tlog::note::VerifierKey::ed25519("log.example.org", &log_pk).unwrap().text();
    s1.roles.insert(
        "tlog".into(),
        RoleDesc { keyids: vec![L.id()], threshold: 1, policy: Some(json!({"tlogPolicy": format!("log {vkey}\n")})) },
    );
    s1.roles.insert("approver".into(), RoleDesc { keyids: vec![C.id()], threshold: 1, policy: None });
    let mut s2 = s1.clone();
    s2.version = 2;
    for k in [B, D] {
        s2.keys.insert(k.id(), k.public().desc());
    }
    s2.roles.get_mut("root").unwrap().keyids = vec![B.id(), C.id(), D.id()];
    s2.roles.get_mut("root").unwrap().threshold = 2;
    s2.roles.get_mut("release").unwrap().keyids = vec![R2.id()];
    s2.revoked = vec![R.id()];
    let mut out = BTreeMap::new();
    out.insert("root-v1.json".to_string(), doc(&s1, &[A]));
    out.insert("root-v2.json".to_string(), doc(&s2, &[A, B, C]));
    out
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("trust-root/examples")
}

/// Writes generated files (temp + rename, so a parallel reader never sees half a file).
fn bless() {
    for (d, files) in [(dir(), generate()), (examples_dir(), examples())] {
        std::fs::create_dir_all(&d).unwrap();
        for (n, v) in files {
            let tmp = d.join(format!(".{n}.tmp"));
            std::fs::write(&tmp, render(&v)).unwrap();
            std::fs::rename(&tmp, d.join(n)).unwrap();
        }
    }
}

fn blessing() -> bool {
    std::env::var("AIRLOCK_BLESS").as_deref() == Ok("1")
}

#[test]
fn vectors_and_examples_are_current() {
    if blessing() {
        bless();
    }
    for (d, files) in [(dir(), generate()), (examples_dir(), examples())] {
        for (n, v) in &files {
            let have = std::fs::read(d.join(n)).unwrap_or_default();
            assert!(have == render(v), "{}/{n} is stale or missing: run `AIRLOCK_BLESS=1 cargo test --test trust_vectors`", d.display());
        }
    }
}

#[test]
fn examples_rotate() {
    if blessing() {
        bless();
    }
    let v1 = TrustRoot::parse(&std::fs::read(examples_dir().join("root-v1.json")).unwrap()).unwrap();
    let v1 = VerifiedRoot::self_signed(v1).unwrap();
    let v2 = TrustRoot::parse(&std::fs::read(examples_dir().join("root-v2.json")).unwrap()).unwrap();
    let steps = root::apply_chain(&v1, vec![v2], Timestamp::parse(TIME).unwrap(), 4).unwrap();
    assert_eq!(steps[0].old_signers.len(), 1);
    assert_eq!(steps[0].new_signers.len(), 2);
}

#[test]
fn every_vector_runs_and_unknown_files_fail() {
    if blessing() {
        bless();
    }
    let mut failures = Vec::new();
    let mut count = 0;
    for ent in std::fs::read_dir(dir()).unwrap() {
        let ent = ent.unwrap();
        let name = ent.file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        assert!(name.ends_with(".json"), "unknown file in vectors/trust-root: {name}");
        let v: Value = serde_json::from_slice(&std::fs::read(ent.path()).unwrap()).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!(v["description"].is_string(), "{name}: no description");
        count += 1;
        if let Err(e) = run(&name, &v) {
            failures.push(e);
        }
    }
    assert!(count >= 18, "only {count} vectors found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
