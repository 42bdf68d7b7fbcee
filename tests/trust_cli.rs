//! `airlock trust` and `airlock verify` with the trust store, end to end through the binary:
//! pinning by fingerprint, rotation chains and each refusal rule, release-role verification,
//! revoked and non-release signers, bundle rollback and a clock that went backwards.

mod cli_support;

use cli_support::{Out, run_airlock};
use std::path::{Path, PathBuf};

struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

const FAR: &str = "2099-01-01T00:00:00Z";

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let home = dir.join("home");
        let e = Env { _tmp: tmp, dir, home };
        for k in ["a", "b", "c", "d", "r1", "r2", "r3"] {
            e.ok(&["keygen", "-o", k]);
        }
        e
    }

    fn run(&self, args: &[&str]) -> Out {
        run_airlock(&self.dir, &self.home, &[], args)
    }

    fn ok(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert_eq!(o.code, 0, "airlock {args:?}\nstdout: {}\nstderr: {}", o.stdout, o.stderr);
        o
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn keyid(&self, name: &str) -> String {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(self.p(&format!("{name}.pub"))).unwrap()).unwrap();
        v["keyid"].as_str().unwrap().to_string()
    }

    /// Makes `out`: `trust new` with `args`, then signed by `signers`.
    fn root(&self, out: &str, args: &[&str], signers: &[&str]) {
        let mut a = vec!["trust", "new", "-o", out];
        a.extend_from_slice(args);
        self.ok(&a);
        let mut s = vec!["trust", "sign", out];
        for k in signers {
            s.push("--key");
            s.push(k);
        }
        if !signers.is_empty() {
            self.ok(&s);
        }
    }

    fn fingerprint(&self, file: &str) -> String {
        airlock::digest::Sha256Digest::of(&std::fs::read(self.p(file)).unwrap()).hex()
    }

    fn init(&self, file: &str) {
        let fp = self.fingerprint(file);
        self.ok(&["trust", "init", file, "--fingerprint", &fp]);
    }

    fn pinned_version(&self) -> u64 {
        let o = self.ok(&["trust", "show", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        v["root"]["version"].as_u64().unwrap()
    }

    fn bundle(&self, out: &str, version: &str, keys: &[&str]) {
        let rel = self.p("rel");
        std::fs::create_dir_all(rel.join("artifacts")).unwrap();
        std::fs::write(rel.join("artifacts/app"), b"binary").unwrap();
        let mut a = vec!["pack", "rel", "-o", out, "--product", "app", "--version", version, "--channel", "stable", "-q"];
        for k in keys {
            a.push("--key");
            a.push(k);
        }
        self.ok(&a);
    }

    /// A bundle of `product` `version`, on `channel` (none when empty), signed by r1.
    fn release(&self, out: &str, product: &str, version: &str, channel: &str) {
        let rel = self.p("rel");
        std::fs::create_dir_all(rel.join("artifacts")).unwrap();
        std::fs::write(rel.join("artifacts/app"), b"binary").unwrap();
        let mut a = vec!["pack", "rel", "-o", out, "--product", product, "--version", version, "-q", "--key", "r1.key"];
        if !channel.is_empty() {
            a.extend(["--channel", channel]);
        }
        self.ok(&a);
    }

    fn verify(&self, args: &[&str]) -> (Out, serde_json::Value) {
        let mut a = vec!["verify", "--json", "--no-progress"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        let v = serde_json::from_str(&o.stdout).unwrap_or(serde_json::Value::Null);
        (o, v)
    }
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> Vec<&'a serde_json::Value> {
    report["checks"].as_array().unwrap().iter().filter(|c| c["id"] == id).collect()
}

/// v1: root a (1-of-1), release r1.
fn v1(e: &Env) {
    e.root("v1.json", &["--role", "root:1:a.pub", "--role", "release:1:r1.pub", "--expires", FAR], &["a.key"]);
}

#[test]
fn init_refuses_a_wrong_fingerprint_and_accepts_the_right_one() {
    let e = Env::new();
    v1(&e);
    let wrong = "0".repeat(64);
    let o = e.run(&["trust", "init", "v1.json", "--fingerprint", &wrong]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("fingerprint mismatch"), "{}", o.stderr);
    assert!(!e.home.join("trust/root.json").exists(), "nothing pinned on a wrong fingerprint");
    let fp = e.fingerprint("v1.json");
    let o = e.ok(&["trust", "init", "v1.json", "--fingerprint", &format!("sha256:{fp}")]);
    for shown in
        ["trust root v1", &fp, &e.keyid("a"), &e.keyid("r1"), "release   1 of 1", "root      1 of 1", "expires     2099-01-01T00:00:00Z"]
    {
        assert!(o.stdout.contains(shown), "init shows {shown:?}: {}", o.stdout);
    }
    // A second init is refused without --force.
    let o = e.run(&["trust", "init", "v1.json", "--fingerprint", &fp]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("a trust root is already pinned"), "{}", o.stderr);
    // Every init is evidence: refused, pinned, refused.
    let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(cli_support::ledger(&e.home), pairs(&[("trust init", "error"), ("trust init", "pass"), ("trust init", "error")]));
}

#[test]
fn rotation_chain_applies_in_order() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    // v2: root 2-of-3 (b, c, d), signed by a (old) and b, c (new).
    e.root("v2.json", &["--from", "v1.json", "--role", "root:2:b.pub,c.pub,d.pub", "--expires", FAR], &["a.key", "b.key", "c.key"]);
    e.root("v3.json", &["--from", "v2.json", "--expires", FAR], &["c.key", "d.key"]);
    let o = e.ok(&["trust", "update", "v3.json", "v2.json"]);
    assert!(o.stdout.contains("rotated to v2") && o.stdout.contains("rotated to v3"), "{}", o.stdout);
    assert_eq!(e.pinned_version(), 3);
    assert!(e.home.join("trust/history/2.root.json").exists());
    assert_eq!(cli_support::ledger(&e.home).last(), Some(&("trust update".to_string(), "pass".to_string())));
}

fn refused(e: &Env, files: &[&str], rule: &str) {
    let before = std::fs::read(e.home.join("trust/root.json")).unwrap();
    let mut a = vec!["trust", "update"];
    a.extend_from_slice(files);
    let o = e.run(&a);
    assert_eq!(o.code, 1, "{files:?}: {}", o.stderr);
    assert!(o.stderr.contains(&format!("rule {rule}")), "expected rule {rule}: {}", o.stderr);
    assert_eq!(std::fs::read(e.home.join("trust/root.json")).unwrap(), before, "nothing installed on refusal");
}

#[test]
fn skipped_version_is_refused() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--expires", FAR], &["a.key"]);
    e.root("v3.json", &["--from", "v2.json", "--expires", FAR], &["a.key"]);
    refused(&e, &["v3.json"], "rotation.version");
    // Even with a valid v2 in the same run: all or nothing would still need contiguity, and a gap
    // between given files is refused the same way.
    e.root("v4.json", &["--from", "v3.json", "--expires", FAR], &["a.key"]);
    refused(&e, &["v2.json", "v4.json"], "rotation.version");
    assert_eq!(e.pinned_version(), 1);
}

#[test]
fn under_threshold_signatures_are_refused() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    // The new root role wants 2 of (b, c, d); only b signed besides the old key a.
    e.root("v2.json", &["--from", "v1.json", "--role", "root:2:b.pub,c.pub,d.pub", "--expires", FAR], &["a.key", "b.key"]);
    refused(&e, &["v2.json"], "rotation.signatures-new");
    // Signed by two new keys but not by the old root key.
    e.root("v2b.json", &["--from", "v1.json", "--role", "root:2:b.pub,c.pub,d.pub", "--expires", FAR], &["b.key", "c.key"]);
    refused(&e, &["v2b.json"], "rotation.signatures-old");
}

#[test]
fn duplicate_keyid_signature_list_is_refused() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--role", "root:2:a.pub,b.pub", "--expires", FAR], &["a.key"]);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.p("v2.json")).unwrap()).unwrap();
    let sig = v["signatures"][0].clone();
    v["signatures"] = serde_json::json!([sig, sig]);
    std::fs::write(e.p("v2dup.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    refused(&e, &["v2dup.json"], "signatures.duplicate-keyid");
}

#[test]
fn expired_final_root_is_refused_but_expired_intermediate_is_not() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--expires", "2020-01-01T00:00:00Z"], &["a.key"]);
    refused(&e, &["v2.json"], "rotation.expired-final");
    e.root("v3.json", &["--from", "v2.json", "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json", "v3.json"]);
    assert_eq!(e.pinned_version(), 3);
}

#[test]
fn verify_uses_the_release_role_threshold() {
    let e = Env::new();
    e.root("v1.json", &["--role", "root:1:a.pub", "--role", "release:2:r1.pub,r2.pub,r3.pub", "--expires", FAR], &["a.key"]);
    // No store yet: exit 2, and --key keeps working without one.
    e.bundle("two.zip", "1.0.0", &["r1.key", "r2.key"]);
    let (o, _) = e.verify(&["two.zip"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no trust root is pinned"), "{}", o.stderr);
    let (o, _) = e.verify(&["two.zip", "--key", "r1.pub"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!e.home.join("trust/state.json").exists(), "ad-hoc --key verification records nothing");
    e.init("v1.json");
    let (o, r) = e.verify(&["two.zip"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(r["trust"]["threshold"], 2);
    assert!(r["trust"]["source"].as_str().unwrap().starts_with("trust store root v1"));
    e.bundle("one.zip", "1.1.0", &["r1.key"]);
    let (o, r) = e.verify(&["one.zip"]);
    assert_eq!(o.code, 1);
    assert_eq!(check(&r, "signature.threshold")[0]["status"], "fail");
    // --trust-root gives the same answer from a file.
    let (o, _) = e.verify(&["two.zip", "--trust-root", "v1.json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn verify_refuses_revoked_and_non_release_signers() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    // v2 revokes r1 and makes r2 the release key.
    let r1 = e.keyid("r1");
    e.root("v2.json", &["--from", "v1.json", "--role", "release:1:r2.pub", "--revoke", &r1, "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json"]);
    e.bundle("revoked.zip", "2.0.0", &["r1.key"]);
    let (o, r) = e.verify(&["revoked.zip"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let note = check(&r, "signature.not-release");
    assert_eq!(note.len(), 1);
    assert!(note[0]["detail"].as_str().unwrap().contains("REVOKED"), "{note:?}");
    assert_eq!(note[0]["subject"], r1.as_str());
    e.bundle("rootkey.zip", "2.0.1", &["a.key"]);
    let (o, r) = e.verify(&["rootkey.zip"]);
    assert_eq!(o.code, 1);
    assert!(check(&r, "signature.not-release")[0]["detail"].as_str().unwrap().contains("role(s) root"));
    e.bundle("good.zip", "2.0.2", &["r2.key"]);
    assert_eq!(e.verify(&["good.zip"]).0.code, 0);
}

#[test]
fn a_damaged_history_file_is_an_error_not_a_shorter_history() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--role", "release:1:r2.pub", "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json"]);
    e.bundle("good.zip", "2.0.0", &["r2.key"]);
    assert_eq!(e.verify(&["good.zip"]).0.code, 0);
    let history = e.home.join("trust/history/1.root.json");
    std::fs::write(&history, b"{\"signed\": tru").unwrap();
    let state = std::fs::read(e.home.join("trust/state.json")).unwrap();
    let (o, _) = e.verify(&["good.zip"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("trust history") && o.stderr.contains("1.root.json") && o.stderr.contains("damaged"), "{}", o.stderr);
    assert_eq!(std::fs::read(e.home.join("trust/state.json")).unwrap(), state, "nothing recorded when the store is damaged");
}

#[test]
fn a_store_path_that_cannot_be_checked_is_an_error_not_an_empty_store() {
    let e = Env::new();
    std::fs::create_dir_all(&e.home).unwrap();
    // `trust` is a file: `trust/state.json` cannot even be looked up.
    std::fs::write(e.home.join("trust"), b"not a directory").unwrap();
    let o = e.run(&["trust", "status", "--json"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("cannot check whether") && o.stderr.contains("state.json"), "{}", o.stderr);
    let doc: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    assert_eq!(
        (doc["outcome"].as_str(), doc["error"]["kind"].as_str()),
        (Some("error"), Some("io")),
        "no status shown for a store that cannot be read, only the error document: {doc}"
    );
    assert!(doc.get("root").is_none() && doc.get("bundles").is_none(), "{doc}");
}

#[test]
fn older_bundle_for_the_same_product_and_channel_fails_closed() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.bundle("new.zip", "1.2.0", &["r1.key"]);
    e.bundle("old.zip", "1.1.0", &["r1.key"]);
    assert_eq!(e.verify(&["new.zip"]).0.code, 0);
    let (o, r) = e.verify(&["old.zip"]);
    assert_eq!(o.code, 1);
    assert_eq!(check(&r, "freshness.bundle-order")[0]["status"], "fail");
    let (o, r) = e.verify(&["old.zip", "--at-time", "2030-01-01T00:00:00Z"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(check(&r, "freshness.bundle-order")[0]["status"], "info");
    // Re-verifying the accepted bundle still passes.
    assert_eq!(e.verify(&["new.zip"]).0.code, 0);
}

fn set_latest_known_time(home: &Path, t: &str) {
    let p = home.join("trust/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["latestKnownTime"] = serde_json::json!(t);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn backwards_clock_fails_closed_unless_at_time_is_given() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.bundle("app.zip", "1.0.0", &["r1.key"]);
    // The store has seen a time far ahead of this machine's clock: the clock went backwards.
    set_latest_known_time(&e.home, "2098-01-01T00:00:00Z");
    let (o, r) = e.verify(&["app.zip"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let c = check(&r, "freshness.clock");
    assert_eq!(c[0]["status"], "fail");
    assert_eq!(c[0]["expected"], ">= 2098-01-01T00:00:00Z");
    let (o, r) = e.verify(&["app.zip", "--at-time", "2098-06-01T00:00:00Z"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    let c = check(&r, "freshness.clock");
    assert_eq!(c[0]["status"], "info");
    assert!(c[0]["detail"].as_str().unwrap().contains("--at-time"));
    // trust commands refuse the clock too, and status says so.
    assert_eq!(e.run(&["trust", "status"]).code, 1);
    // An expired root fails even with --at-time past its expiry.
    let (o, r) = e.verify(&["app.zip", "--at-time", "2099-06-01T00:00:00Z"]);
    assert_eq!(o.code, 1);
    assert_eq!(check(&r, "trust.root-expiry")[0]["status"], "fail");
}

#[test]
fn rolled_back_store_file_is_refused() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json"]);
    std::fs::copy(e.p("v1.json"), e.home.join("trust/root.json")).unwrap();
    let o = e.run(&["trust", "show"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("rolled back"), "{}", o.stderr);
}

/// A role name the root format cannot hold is refused where it is typed, naming the rule;
/// nothing is written.
#[test]
fn trust_new_refuses_a_bad_role_name() {
    let e = Env::new();
    let o = e.run(&["trust", "new", "--role", "Ops:1:a.pub", "--role", "root:1:a.pub", "--expires", FAR, "-o", "bad.json"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("role name \"Ops\"") && o.stderr.contains("[a-z][a-z0-9-]{0,31}"), "{}", o.stderr);
    assert!(!e.p("bad.json").exists());
}

/// Issue 21 item 4: the anti-rollback state outlives the root file. With `root.json` lost,
/// `trust init` of an older root is refused (exit 1, rule named, nothing pinned); the recovery
/// documented in trust-root/README.md §8 works: pin the stored copy of the highest version (or a
/// later root), or, only when none exists, `--allow-older-root`.
#[test]
fn a_lost_root_file_is_recovered_without_a_rollback() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json"]);
    std::fs::remove_file(e.home.join("trust/root.json")).unwrap();

    let fp1 = e.fingerprint("v1.json");
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["trust", "init", "v1.json", "--fingerprint", &fp1, "--json"];
        args.extend_from_slice(extra);
        let o = e.run(&args);
        assert_eq!(o.code, 1, "{extra:?}: {}", o.stderr);
        let doc = o.json();
        assert_eq!((doc["outcome"].as_str(), doc["error"]["kind"].as_str()), (Some("fail"), Some("trust.root-version")), "{doc}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains("root v1, but this trust store has seen v2") && message.contains("history/2.root.json"), "{message}");
        assert!(!e.home.join("trust/root.json").exists(), "nothing pinned on refusal");
    }

    // Recovery: the store still holds v2; checked against v2's fingerprint, it is pinned again.
    let kept = e.home.join("trust/history/2.root.json");
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(e.dir.join("v2.json")).unwrap());
    e.ok(&["trust", "init", kept.to_str().unwrap(), "--fingerprint", &e.fingerprint("v2.json")]);
    assert_eq!(e.pinned_version(), 2);
    e.ok(&["trust", "show"]);

    // Only when no root as new exists: --allow-older-root, which lowers the highest version.
    std::fs::remove_file(e.home.join("trust/root.json")).unwrap();
    let o = e.run(&["trust", "init", "v1.json", "--fingerprint", &fp1, "--allow-older-root"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("the store had seen root v2; it now accepts v1 and later"), "{}", o.stderr);
    assert_eq!(e.pinned_version(), 1);
    e.ok(&["trust", "show"]);
}

/// `--at-time` before a root's expiry never revives a root the real clock finds expired:
/// expiry is judged at max(--at-time, real clock, latest known time), and the report says the
/// time was overridden.
#[test]
fn at_time_never_revives_an_expired_root() {
    let e = Env::new();
    let now = airlock::clock::now().unwrap();
    let expired = airlock::time::Timestamp(now.0 - 3600).to_string();
    e.root("old.json", &["--role", "root:1:a.pub", "--role", "release:1:r1.pub", "--expires", &expired], &["a.key"]);
    v1(&e);
    e.init("v1.json");
    e.bundle("app.zip", "1.0.0", &["r1.key"]);
    let before = airlock::time::Timestamp(now.0 - 86_400).to_string();
    let (o, r) = e.verify(&["app.zip", "--trust-root", "old.json", "--at-time", &before]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let c = check(&r, "trust.root-expiry");
    assert_eq!(c[0]["status"], "fail", "{}", c[0]);
    assert_eq!(r["evaluation"]["time"], before.as_str());
    assert_eq!(r["evaluation"]["overridden"], true);
    assert!(r["evaluation"]["expiryJudgedAt"].as_str().unwrap() >= now.to_string().as_str(), "{}", r["evaluation"]);
    // The pinned root, live: not overridden, expiry judged at the evaluation time.
    let (o, r) = e.verify(&["app.zip"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert_eq!(r["evaluation"]["overridden"], false);
    assert_eq!(r["evaluation"]["time"], r["evaluation"]["expiryJudgedAt"]);
}

/// Anti-rollback is per product, case-insensitively, across channels: after `app 2.0.0` on
/// stable, `app 0.9.0` on beta, `app 1.0.0` with no channel and `App 1.0.0` are rollbacks; an
/// intended downgrade needs --allow-downgrade REASON, stated in the report, the ledger record and
/// the state.
#[test]
fn rollback_is_judged_per_product_across_channels_and_case() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.release("new.zip", "app", "2.0.0", "stable");
    e.release("beta.zip", "app", "0.9.0", "beta");
    e.release("none.zip", "app", "1.0.0", "");
    e.release("upper.zip", "App", "1.0.0", "stable");
    assert_eq!(e.verify(&["new.zip"]).0.code, 0);
    for old in ["beta.zip", "none.zip", "upper.zip"] {
        let (o, r) = e.verify(&[old]);
        assert_eq!(o.code, 1, "{old}: {}", o.stdout);
        let c = check(&r, "freshness.bundle-order");
        assert_eq!((c[0]["status"].as_str(), c[0]["subject"].as_str()), (Some("fail"), Some("app")), "{old}: {}", c[0]);
        assert!(c[0]["detail"].as_str().unwrap().contains("--allow-downgrade"), "{}", c[0]);
    }
    let state = std::fs::read_to_string(e.home.join("trust/state.json")).unwrap();
    assert!(state.contains("\"2.0.0\"") && !state.contains("\"1.0.0\""), "{state}");
    // An empty reason is a usage error; a stated one passes, is reported, and becomes the state.
    assert_eq!(e.verify(&["none.zip", "--allow-downgrade", " "]).0.code, 2);
    let why = "INC-7 2.0.0 corrupts configs";
    let (o, r) = e.verify(&["none.zip", "--allow-downgrade", why]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    let c = check(&r, "freshness.bundle-order");
    assert!(c[0]["status"] == "pass" && c[0]["detail"].as_str().unwrap().contains(why), "{}", c[0]);
    let state = std::fs::read_to_string(e.home.join("trust/state.json")).unwrap();
    assert!(state.contains(why) && state.contains("\"1.0.0\""), "{state}");
    let search = e.run(&["evidence", "search", "--json", "--no-progress"]);
    let newest = &serde_json::from_str::<serde_json::Value>(&search.stdout).unwrap()["records"][0];
    let seq = newest["seq"].as_u64().or(newest["sequence"].as_u64()).unwrap_or_else(|| panic!("{newest}")).to_string();
    let shown = e.run(&["evidence", "show", &seq, "--json"]);
    assert!(shown.stdout.contains(why), "the ledger record holds the reason: {}", shown.stdout);
    // Now 2.0.0 is newer again; 0.9.0 is still a rollback.
    assert_eq!(e.verify(&["beta.zip"]).0.code, 1);
}

/// A state file written before the scope was the product (keys `product/channel`) still reads,
/// is judged by product, and is migrated when next written.
#[test]
fn old_channel_keyed_state_reads_and_migrates_on_write() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.release("beta.zip", "app", "0.9.0", "beta");
    e.release("next.zip", "app", "3.0.0", "beta");
    let p = e.home.join("trust/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["bundles"] = serde_json::json!({"App/stable": {"version": "2.0.0", "createdAt": "2026-01-01T00:00:00Z", "bundleId": "x", "acceptedAt": "2026-01-01T00:00:00Z"}});
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let (o, r) = e.verify(&["beta.zip"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert_eq!(check(&r, "freshness.bundle-order")[0]["status"], "fail");
    assert_eq!(e.verify(&["next.zip"]).0.code, 0);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(v["bundles"].as_object().unwrap().keys().collect::<Vec<_>>(), ["app"], "{v}");
    assert_eq!(v["bundles"]["app"]["version"], "3.0.0");
}

/// A crash between an update's `root.json` (the commit point) and its state leaves the new root
/// with the old state: it reads as the new store, and the old root cannot be pinned again.
#[test]
fn a_new_root_with_a_stale_state_reads_as_the_new_store() {
    let e = Env::new();
    v1(&e);
    e.init("v1.json");
    e.root("v2.json", &["--from", "v1.json", "--expires", FAR], &["a.key"]);
    e.ok(&["trust", "update", "v2.json"]);
    let p = e.home.join("trust/state.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["highestRootVersion"] = serde_json::json!(1);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let fp = format!("sha256:{}", e.fingerprint("v1.json"));
    let o = e.run(&["trust", "init", "v1.json", "--force", "--fingerprint", &fp]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("trust.root-version"), "{}", o.stderr);
    assert_eq!(e.pinned_version(), 2);
}
