//! Bundles carry transparency, end to end through the binary: pack → `tlog entry` → a tiled log
//! built here → `tlog import` + `tlog prove` → `pack --tlog-proof` → `verify` and `gate`.
//! Covers every outcome (verified, unverifiable, missing, failed), `--require-transparency`,
//! trust from a pinned root's `tlog` role, forks against the cache (evidence written and its
//! path printed), and the gate's decision with and without the proof.

mod cli_support;
mod tlog_support;

use airlock::archive::write::{PlannedMember, write_zip};
use airlock::bundle::Kind;
use airlock::bundle::manifest::{Member, Release};
use airlock::digest::Sha256Digest;
use airlock::keys::SecretKey;
use airlock::time::Timestamp;
use airlock::tlog::note::VerifierKey;
use airlock::tlog::proof::TlogProof;
use cli_support::{Out, run_airlock};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tlog_support::*;

/// `SOURCE_DATE_EPOCH` for every pack: the same inputs give the same manifest.
const EPOCH: i64 = 1_700_000_000;
const APP: &str = "artifacts/app.bin";
const APP_BYTES: &[u8] = b"app 1.2.0 for the transparency tests\n";
/// Where the bundle's entry sits in the test log (after five other entries).
const INDEX: u64 = 5;

struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

fn release_key() -> SecretKey {
    SecretKey::from_seed(&[7; 32])
}

impl Env {
    /// A temp dir with `release.key`/`.pub`, the input tree `in/`, and `AIRLOCK_HOME` beside them.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let home = dir.join("home");
        std::fs::write(dir.join("release.key"), release_key().to_file()).unwrap();
        std::fs::write(dir.join("release.pub"), release_key().public().to_file()).unwrap();
        std::fs::create_dir_all(dir.join("in/artifacts")).unwrap();
        std::fs::write(dir.join("in").join(APP), APP_BYTES).unwrap();
        Env { _tmp: tmp, dir, home }
    }

    fn run(&self, args: &[&str]) -> Out {
        let a: Vec<&str> = std::iter::once("--no-progress").chain(args.iter().copied()).collect();
        run_airlock(&self.dir, &self.home, &[("SOURCE_DATE_EPOCH", &EPOCH.to_string())], &a)
    }

    fn ok(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_eq!(o.code, 0, "airlock {args:?}\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.p(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `pack in -o OUT` for app 1.2.0 (or `version`), with a proof if given.
    fn pack(&self, out: &str, version: &str, proof: Option<&str>) -> Out {
        let mut a = vec!["pack", "in", "-o", out, "--key", "release.key", "--product", "app", "--version", version];
        if let Some(p) = proof {
            a.extend(["--tlog-proof", p]);
        }
        self.run(&a)
    }

    /// The bundle's logged entry, through `airlock tlog entry`.
    fn entry(&self, bundle: &str) -> Vec<u8> {
        let out = format!("{bundle}.entry");
        self.ok(&["tlog", "entry", bundle, "-o", &out]);
        std::fs::read(self.p(&out)).unwrap()
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        v.sort();
        v
    }
}

/// Five other entries, then the bundle's, then `more` others.
fn log_with(entry: &[u8], more: usize) -> Vec<Vec<u8>> {
    let mut es = entries(INDEX as usize, None);
    es.push(entry.to_vec());
    es.extend((0..more).map(|i| format!("later entry {i}").into_bytes()));
    es
}

/// Validates verify reports against format-spec/schemas/verify-report-v1.schema.json with
/// Python's `jsonschema` (an independent implementation): `None` when it is missing (loud SKIP;
/// a failure under `AIRLOCK_REQUIRE_INTEROP=1`), else whether every report is valid.
fn schema_check(reports: &[&Value]) -> Option<Result<(), String>> {
    let ok = Command::new("python3").args(["-c", "import jsonschema"]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var("AIRLOCK_REQUIRE_INTEROP").is_err(), "python module jsonschema is required (run `cargo xtask setup`)");
        eprintln!("SKIP: python module jsonschema missing; run `cargo xtask setup`");
        return None;
    }
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec/schemas/verify-report-v1.schema.json");
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema\ns=json.load(open(sys.argv[1]))\njsonschema.Draft202012Validator.check_schema(s)\n\
             for d in json.loads(sys.argv[2]): jsonschema.validate(d, s, cls=jsonschema.Draft202012Validator)",
        ])
        .arg(&schema)
        .arg(serde_json::to_string(reports).unwrap())
        .output()
        .unwrap();
    Some(if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into()) })
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn witness_key() -> SecretKey {
    SecretKey::from_seed(&[9; 32])
}

/// The common start: `app.zip` packed without a proof, its entry logged at [`INDEX`] in a
/// 6-entry log (cosigned by the witness `w1.example`), the mirror imported into the cache, a
/// proof made by `tlog prove`, and `app-t.zip` re-packed with it.
struct Logged {
    env: Env,
    vk: String,
    entry: Vec<u8>,
    proof: Vec<u8>,
}

fn logged() -> Logged {
    let env = Env::new();
    env.ok(&["pack", "in", "-o", "app.zip", "--key", "release.key", "--product", "app", "--version", "1.2.0"]);
    let entry = env.entry("app.zip");
    assert!(String::from_utf8_lossy(&entry).starts_with("airlock-bundle-manifest/v1\nproduct app\nversion 1.2.0\n"));
    let es = log_with(&entry, 0);
    write_log(&env.p("mirror"), &es, &[("w1.example", &witness_key())]);
    let vk = vkey().to_string();
    let o = env.ok(&["tlog", "import", "mirror", "--log-key", &vk]);
    assert!(o.stdout.contains(&format!("imported  {LOG} size 6")), "{}", o.stdout);
    env.ok(&["tlog", "prove", "--origin", LOG, "--index", &INDEX.to_string(), "-o", "app.tlog-proof", "--log-key", &vk]);
    let proof = std::fs::read(env.p("app.tlog-proof")).unwrap();
    let o = env.pack("app-t.zip", "1.2.0", Some("app.tlog-proof"));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("attaching tlog-proof: log {LOG} checkpoint size 6")), "{}", o.stderr);
    // Same inputs and SOURCE_DATE_EPOCH: the same manifest, so the same logged entry.
    assert_eq!(env.entry("app-t.zip"), entry);
    Logged { env, vk, entry, proof }
}

#[test]
fn packed_proof_verifies_with_a_log_key() {
    let Logged { env, vk, .. } = logged();
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let r = o.json();
    assert_eq!(r["outcome"], "pass");
    let t = &r["transparency"];
    assert_eq!(t["outcome"], "verified", "{t:#}");
    assert_eq!(
        (t["proof"]["origin"].as_str(), t["proof"]["index"].as_u64(), t["proof"]["checkpointSize"].as_u64()),
        (Some(LOG), Some(5), Some(6))
    );
    // Imported by `tlog import` above: the proof's checkpoint is the cached one.
    assert_eq!(t["proof"]["cache"]["state"], "consistent");
    assert_eq!(t["proof"]["cache"]["cachedSize"], 6);
    // --log-key trusts no witness: the cosignature is ignored and nothing dates the proof.
    assert_eq!(t["proof"]["witnesses"], serde_json::json!([]));
    assert!(t["proof"]["ageSecs"].is_null());
    let c = check(&r, "transparency");
    assert_eq!((c["status"].as_str(), c["subject"].as_str()), (Some("pass"), Some(LOG)));
    // The same proof with the cache empty: not cached. Both reports match the schema, and one
    // with the proof (verified) or without it (missing) is told apart there.
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    std::fs::remove_dir_all(env.home.join("tlog")).unwrap();
    let o2 = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o2.json()["transparency"]["proof"]["cache"], serde_json::json!({"state": "not-cached"}));
    let missing = env.run(&["verify", "app.zip", "--key", "release.pub", "--json"]).json();
    if let Some(r) = schema_check(&[&o.json(), &o2.json(), &missing]) {
        r.unwrap();
        let mut with_proof = missing.clone();
        with_proof["transparency"]["proof"] = o.json()["transparency"]["proof"].clone();
        let mut unknown = o.json();
        unknown["transparency"]["outcome"] = "maybe".into();
        for bad in [&with_proof, &unknown] {
            assert!(schema_check(&[bad]).unwrap().is_err(), "the schema accepted {:#}", bad["transparency"]);
        }
    }
    // The text report names the log, index and size.
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--log-key", &vk]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains(&format!("manifest logged in {LOG} at index 5 (checkpoint size 6")), "{}", o.stdout);
}

#[test]
fn without_log_trust_the_proof_is_unverifiable_and_can_be_required() {
    let Logged { env, .. } = logged();
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.json();
    assert_eq!((r["outcome"].as_str(), r["transparency"]["outcome"].as_str()), (Some("pass"), Some("unverifiable")));
    assert_eq!(check(&r, "transparency")["status"], "info");
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--require-transparency", "--json"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = o.json();
    assert_eq!((r["outcome"].as_str(), r["transparency"]["outcome"].as_str()), (Some("fail"), Some("unverifiable")));
    let c = check(&r, "transparency");
    assert_eq!((c["status"].as_str(), c["actual"].as_str()), (Some("fail"), Some("unverifiable")));
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--require-transparency"]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("FAIL transparency") && o.stdout.contains("no transparency log is trusted"), "{}", o.stdout);
    // A log key of another log: the proof's origin is not trusted, still unverifiable.
    let other = VerifierKey::ed25519("other.example/log", SecretKey::from_seed(&[43; 32]).public()).unwrap().to_string();
    let o = env.run(&["verify", "app-t.zip", "--key", "release.pub", "--log-key", &other, "--json"]);
    assert_eq!((o.code, o.json()["transparency"]["outcome"].as_str()), (0, Some("unverifiable")));
}

#[test]
fn a_bundle_without_a_proof_is_missing() {
    let Logged { env, vk, .. } = logged();
    let o = env.run(&["verify", "app.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["transparency"], serde_json::json!({"outcome": "missing"}));
    assert_eq!(check(&r, "transparency")["status"], "info");
    let o = env.run(&["verify", "app.zip", "--key", "release.pub", "--log-key", &vk, "--require-transparency", "--json"]);
    assert_eq!(o.code, 1);
    let r = o.json();
    let c = check(&r, "transparency");
    assert_eq!((c["status"].as_str(), c["actual"].as_str()), (Some("fail"), Some("missing")));
}

/// Writes the bundle `pack` would write for app 1.2.0, through the library, with `proof` as the
/// proof member: how a proof altered after packing reaches a verifier (`pack` refuses it).
fn library_bundle(path: &Path, proof: &[u8]) {
    let member = Member { path: APP.into(), size: APP_BYTES.len() as u64, digest: Sha256Digest::of(APP_BYTES), kind: Kind::Artifact };
    let release = Release { product: "app".into(), version: "1.2.0".into(), commit: None, channel: None };
    let plan = airlock::pack::plan(release, Timestamp(EPOCH), vec![member], &[&release_key()], Vec::new()).unwrap();
    let mut members = plan.members.clone();
    members.insert(3, PlannedMember { name: airlock::bundle::TLOG_PROOF.into(), size: proof.len() as u64, deflate: false });
    let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
        let bytes = match name {
            airlock::bundle::TLOG_PROOF => proof.to_vec(),
            APP => APP_BYTES.to_vec(),
            other => plan.control_bytes(other).unwrap().to_vec(),
        };
        Ok(Box::new(std::io::Cursor::new(bytes)))
    };
    let out = write_zip(std::io::Cursor::new(Vec::new()), &members, Timestamp(EPOCH), &mut open).unwrap();
    std::fs::write(path, out.into_inner()).unwrap();
}

#[test]
fn a_proof_for_another_manifest_or_altered_after_packing_is_refused() {
    let Logged { env, vk, proof, .. } = logged();
    // pack: the proof does not prove version 1.2.1's manifest: exit 2, nothing written.
    let before = env.files();
    let o = env.pack("app-121.zip", "1.2.1", Some("app.tlog-proof"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--tlog-proof does not prove this bundle's manifest"), "{}", o.stderr);
    assert!(o.stderr.contains("proof.inclusion"), "{}", o.stderr);
    assert_eq!(env.files(), before, "pack wrote something while refusing");

    // The library writes the bundle pack writes (same manifest): with the proof intact it verifies.
    library_bundle(&env.p("lib.zip"), &proof);
    let o = env.run(&["verify", "lib.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!((o.code, o.json()["transparency"]["outcome"].as_str()), (0, Some("verified")), "{}", o.stderr);
    // One hash of the inclusion proof altered: the member still parses, but leads elsewhere.
    let mut p = TlogProof::parse(&proof).unwrap();
    p.hashes[1][7] ^= 0x20;
    library_bundle(&env.p("altered.zip"), &p.to_bytes());
    let o = env.run(&["verify", "altered.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["transparency"]["outcome"], "failed");
    let c = check(&r, "transparency");
    assert_eq!((c["status"].as_str(), c["subject"].as_str()), (Some("fail"), Some("proof.inclusion")));
    // Every other check still passes: the signed bytes were not touched.
    let failed: Vec<&str> =
        r["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail").map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(failed, ["transparency"]);
    // Without a trusted log the proof cannot be authenticated, but an altered one does not even
    // hold together (its path no longer leads to the root its checkpoint states): failed.
    let o = env.run(&["verify", "altered.zip", "--key", "release.pub", "--json"]);
    assert_eq!((o.code, o.json()["transparency"]["outcome"].as_str()), (1, Some("failed")), "{}", o.stdout);
    assert_eq!(check(&o.json(), "transparency")["subject"], "proof.inclusion");
    // The intact proof without a trusted log: unverifiable (info), exit 0.
    let o = env.run(&["verify", "lib.zip", "--key", "release.pub", "--json"]);
    assert_eq!((o.code, o.json()["transparency"]["outcome"].as_str()), (0, Some("unverifiable")));
    // A proof member that is not a tlog-proof at all fails whatever the trust.
    library_bundle(&env.p("garbage.zip"), b"not a proof\n");
    let o = env.run(&["verify", "garbage.zip", "--key", "release.pub", "--json"]);
    assert_eq!(o.code, 1);
    assert_eq!(check(&o.json(), "transparency")["subject"], "proof.format");
}

#[test]
fn trust_from_the_pinned_roots_tlog_role() {
    let Logged { env, vk, entry, .. } = logged();
    let root = SecretKey::from_seed(&[20; 32]);
    env.write("root.key", &root.to_file());
    env.write("root.pub", &root.public().to_file());
    env.write("log.pub", &log_key().public().to_file());
    let wk = VerifierKey::cosigner("w1.example", witness_key().public()).unwrap();
    env.write("logs.tlog-policy", format!("log {vk}\nwitness w1 {wk}\nquorum w1\n").as_bytes());
    // `trust new` with this policy and `tlog_key` as the tlog role's key.
    let trust_new = |out: &str, tlog_key: &str| {
        let tlog_role = format!("tlog:1:{tlog_key}");
        let args = [
            "trust",
            "new",
            "-o",
            out,
            "--expires",
            "2099-01-01T00:00:00Z",
            "--role",
            "root:1:root.pub",
            "--role",
            "release:1:release.pub",
            "--role",
            tlog_role.as_str(),
            "--tlog-policy",
            "logs.tlog-policy",
        ];
        env.run(&args)
    };
    // A policy that trusts a log key the tlog role does not list is refused: the role's keys
    // are the logs the root's signers vouch for.
    let o = trust_new("bad-root.json", "release.pub");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("which is not a key of the tlog role"), "{}", o.stderr);
    assert!(!env.p("bad-root.json").exists());
    let o = trust_new("root.json", "log.pub");
    assert_eq!(o.code, 0, "{}", o.stderr);
    env.ok(&["trust", "sign", "root.json", "--key", "root.key"]);
    let doc: Value = serde_json::from_slice(&std::fs::read(env.p("root.json")).unwrap()).unwrap();
    assert_eq!(doc["signed"]["roles"]["tlog"]["policy"]["tlogPolicy"].as_str().unwrap(), format!("log {vk}\nwitness w1 {wk}\nquorum w1\n"));
    let fp = Sha256Digest::of(&std::fs::read(env.p("root.json")).unwrap()).hex();
    env.ok(&["trust", "init", "root.json", "--fingerprint", &fp]);

    // No trust flags: the release role and the tlog role of the pinned root. Evaluated at a time
    // after the witness's cosignature: one dated after the evaluation time is never fresh.
    let o = env.run(&["verify", "app-t.zip", "--json", "--at-time", "2027-01-15T08:00:00Z"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let r = o.json();
    assert!(r["trust"]["source"].as_str().unwrap().starts_with("trust store root v1"), "{}", r["trust"]);
    let t = &r["transparency"];
    assert_eq!(t["outcome"], "verified", "{t:#}");
    assert_eq!((t["proof"]["index"].as_u64(), t["proof"]["checkpointSize"].as_u64()), (Some(5), Some(6)));
    // The policy's witness is trusted: its cosignature counts and dates the proof.
    assert_eq!(t["proof"]["witnesses"], serde_json::json!(["w1"]));
    let o = env.run(&["verify", "app-t.zip", "--json", "--at-time", "2027-01-15T08:00:00Z"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json()["transparency"]["proof"]["ageSecs"].as_u64(), Some(1_800_000_000 - COSIGNED_AT));
    // `tlog` commands read the same role when given no trust flags.
    env.write("entry.bin", &entry);
    let o = env.ok(&["tlog", "verify-proof", "app.tlog-proof", "--entry", "entry.bin"]);
    assert!(o.stdout.contains("trust     trust root v1 tlog role"), "{}", o.stdout);

    // The role's quorum is enforced: a checkpoint without w1's cosignature is unverifiable.
    let es = log_with(&entry, 0);
    let bare = checkpoint_note(&es, &[], 0);
    env.write("bare.tlog-proof", &proof_of(&es, INDEX, &bare));
    assert_eq!(env.pack("app-bare.zip", "1.2.0", Some("bare.tlog-proof")).code, 0);
    let o = env.run(&["verify", "app-bare.zip", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["transparency"]["outcome"], "unverifiable");
    assert!(check(&r, "transparency")["detail"].as_str().unwrap().contains("quorum"), "{r:#}");
    assert_eq!(env.run(&["verify", "app-bare.zip", "--require-transparency"]).code, 1);
}

/// The evidence file named on stderr: exists, and holds both checkpoints.
fn fork_evidence(o: &Out, cached: &[u8], presented: &[u8]) {
    let path =
        o.stderr.lines().find_map(|l| l.split_once("both checkpoints written to ").map(|x| x.1)).unwrap_or_else(|| panic!("{}", o.stderr));
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(doc["schema"], "airlock/tlog-fork-evidence/v1");
    assert_eq!(doc["cachedCheckpoint"].as_str().unwrap().as_bytes(), cached);
    assert_eq!(doc["presentedCheckpoint"].as_str().unwrap().as_bytes(), presented);
    let r: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(r["transparency"]["outcome"], "failed");
    assert_eq!(check(&r, "transparency")["subject"], "tlog.fork");
    assert_eq!(check(&r, "transparency.fork-evidence")["subject"].as_str(), Some(path));
}

#[test]
fn a_proof_from_a_split_view_of_the_cached_log_is_a_fork() {
    let env = Env::new();
    let vk = vkey().to_string();
    assert_eq!(env.pack("app.zip", "1.2.0", None).code, 0);
    let entry = env.entry("app.zip");
    // The cache holds the honest log at size 5 (before the bundle was logged).
    let honest = log_with(&entry, 10);
    let cached_5 = write_log(&env.p("mirror-5"), &honest[..5], &[]);
    env.ok(&["tlog", "import", "mirror-5", "--log-key", &vk]);

    // Control: a proof from the honest log at size 16 is newer than the cache and agrees with it.
    let note = checkpoint_note(&honest, &[], 0);
    env.write("honest.tlog-proof", &proof_of(&honest, INDEX, &note));
    assert_eq!(env.pack("app-honest.zip", "1.2.0", Some("honest.tlog-proof")).code, 0);
    let o = env.run(&["verify", "app-honest.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.json();
    assert_eq!(r["transparency"]["proof"]["cache"], serde_json::json!({"state": "proof-newer", "cachedSize": 5, "sharedHashes": 2}));
    let honest_report = r;

    // The same origin and key signed a larger tree whose first entries differ: the proof's
    // sibling over leaves [0, 4) contradicts the cached tree. Fork: exit 1, evidence written.
    let mut split = honest.clone();
    split[2] = b"entry 2, rewritten".to_vec();
    let split_note = checkpoint_note(&split, &[], 0);
    env.write("split.tlog-proof", &proof_of(&split, INDEX, &split_note));
    assert_eq!(
        env.pack("app-split.zip", "1.2.0", Some("split.tlog-proof")).code,
        0,
        "pack checks the proof against its own checkpoint only"
    );
    let o = env.run(&["verify", "app-split.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    fork_evidence(&o, &cached_5, &split_note);
    if let Some(r) = schema_check(&[&honest_report, &o.json()]) {
        r.unwrap();
    }

    // The cache moves on to the honest log at size 16; a proof from a split view at size 11 is
    // now checked with a consistency proof from the cached tiles.
    write_log(&env.p("mirror-16"), &honest, &[]);
    let o = env.ok(&["tlog", "import", "mirror-16", "--log-key", &vk]);
    assert!(o.stdout.contains("consistent with cached size 5"), "{}", o.stdout);
    let small = &split[..11];
    let small_note = checkpoint_note(small, &[], 0);
    env.write("small.tlog-proof", &proof_of(small, INDEX, &small_note));
    assert_eq!(env.pack("app-small.zip", "1.2.0", Some("small.tlog-proof")).code, 0);
    let o = env.run(&["verify", "app-small.zip", "--key", "release.pub", "--log-key", &vk, "--json"]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    fork_evidence(&o, &note, &small_note);
    // The cache kept the honest state; `tlog status` lists both evidence files.
    let s = env.run(&["tlog", "status", "--json"]).json();
    assert_eq!(s["origins"][0]["size"], 16);
    assert_eq!(s["origins"][0]["forkEvidence"].as_array().unwrap().len(), 2);
}

#[test]
fn gate_allows_a_verified_proof_and_denies_without_one() {
    let Logged { env, vk, proof, entry } = logged();
    let policy = |extra: Value| {
        let mut p = serde_json::json!({"schema": "airlock/gate-policy/v1", "artifact": APP, "transparency": {"required": true}});
        if let Some(t) = extra.as_object() {
            for (k, v) in t {
                p[k] = v.clone();
            }
        }
        serde_json::to_vec(&p).unwrap()
    };
    env.write("gate.json", &policy(serde_json::json!({})));
    let gate = |bundle: &str, extra: &[&str]| {
        let mut a = vec!["gate", bundle, "--policy", "gate.json", "--key", "release.pub", "--json"];
        a.extend(extra);
        env.run(&a)
    };
    // Verified: allow, no break-glass; the gate input names the entry, index and proof member.
    let o = gate("app-t.zip", &["--log-key", &vk]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let d = o.json();
    assert_eq!(d["decision"]["decision"], "allow");
    assert_eq!(d["decision"]["transparency"], "verified");
    assert!(d["decision"]["breakGlass"].is_null());
    let t = &d["gateInput"]["transparency"];
    assert_eq!(t["logIndex"], 5);
    assert_eq!(t["proofRef"].as_str().unwrap(), format!("cas://{}", Sha256Digest::of(&proof).prefixed()));
    assert_eq!(t["rekorUuid"].as_str().unwrap(), hex::encode(airlock::merkle::leaf_hash(&entry)));

    // No proof member: deny with transparency.missing.
    let o = gate("app.zip", &["--log-key", &vk]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let d = o.json();
    assert_eq!(d["decision"]["reasons"], serde_json::json!([{"code": "transparency.missing"}]));
    // The proof without a trusted log: deny with transparency.unverifiable.
    let o = gate("app-t.zip", &[]);
    assert_eq!(o.code, 1);
    assert_eq!(o.json()["decision"]["reasons"], serde_json::json!([{"code": "transparency.unverifiable"}]));
    // An age limit: --log-key trusts no witness, so nothing dates the proof and the limit fails.
    env.write("gate.json", &policy(serde_json::json!({"transparency": {"required": true, "maxProofAgeSeconds": 86400}})));
    let o = gate("app-t.zip", &["--log-key", &vk]);
    assert_eq!(o.code, 1);
    assert_eq!(o.json()["decision"]["reasons"], serde_json::json!([{"code": "transparency.proof-age"}]));
}
