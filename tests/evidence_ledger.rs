//! The evidence ledger through the binary: search filters, show, chain verification against
//! rows edited with SQL, refusal of damaged or newer databases (file untouched), concurrent
//! appenders, and `verify` recording its verdicts.

mod cli_support;
mod pg_support;

use airlock::ledger::{Draft, Ledger, Outcome, Subject};
use airlock::store::ledger::{LedgerStore, SqliteLedger, site_key};
use airlock::time::Timestamp;
use cli_support::{Out, command, run_airlock};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        Site { dir: tempfile::tempdir().unwrap() }
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn db(&self) -> PathBuf {
        self.home().join("ledger.sqlite")
    }
    fn run(&self, args: &[&str]) -> Out {
        run_airlock(self.dir.path(), &self.home(), &[], args)
    }
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let o = self.run(args);
        assert_eq!(o.code, 0, "{args:?}: {}{}", o.stdout, o.stderr);
        o.json()
    }
    /// Appends records through the library (as a deciding command would).
    fn append(&self, drafts: Vec<(&str, Subject, Outcome, i64)>) {
        std::fs::create_dir_all(self.home()).unwrap();
        let site = site_key(&self.home()).unwrap().public().keyid().hex();
        let mut db = SqliteLedger::open(&self.home()).unwrap();
        for (command, subject, outcome, t) in drafts {
            let report = serde_json::json!({"schema": "test/report", "command": command, "at": t});
            db.append(Draft { site_id: site.clone(), recorded_at: Timestamp(t), command: command.into(), subject, outcome, report })
                .unwrap();
        }
    }
    fn sql(&self, sql: &str) {
        Connection::open(self.db()).unwrap().execute_batch(sql).unwrap();
    }
    fn edit_record(&self, seq: i64, f: impl FnOnce(&mut serde_json::Value)) {
        let c = Connection::open(self.db()).unwrap();
        let bytes: Vec<u8> = c.query_row("SELECT record FROM records WHERE seq = ?1", [seq], |r| r.get(0)).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        f(&mut v);
        c.execute("UPDATE records SET record = ?1 WHERE seq = ?2", rusqlite::params![airlock::json::canonical_value(&v), seq]).unwrap();
    }
}

fn subject(product: &str, version: &str, channel: &str, bundle: &str) -> Subject {
    Subject {
        product: Some(product.into()),
        version: Some(version.into()),
        channel: Some(channel.into()),
        bundle_id: Some(bundle.into()),
        artifact_digest: None,
    }
}

const T0: i64 = 1_800_000_000;

/// Six records: 1 verify app 1.0 stable pass, 2 gate app 1.1 beta fail, 3 verify tool 1.0 stable
/// error, 4 smoke app 1.0 canary pass, 5 verify app 2.0 stable fail, 6 gate tool 2.0 beta pass.
fn six() -> Site {
    let s = Site::new();
    s.append(vec![
        ("verify", subject("app", "1.0", "stable", "b1"), Outcome::Pass, T0),
        ("gate", subject("app", "1.1", "beta", "b2"), Outcome::Fail, T0 + 100),
        ("verify", subject("tool", "1.0", "stable", "b3"), Outcome::Error, T0 + 200),
        ("smoke", subject("app", "1.0", "canary", "b4"), Outcome::Pass, T0 + 300),
        ("verify", subject("app", "2.0", "stable", "b5"), Outcome::Fail, T0 + 400),
        ("gate", subject("tool", "2.0", "beta", "b6"), Outcome::Pass, T0 + 500),
    ]);
    s
}

fn seqs(v: &serde_json::Value) -> Vec<u64> {
    v["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}

#[test]
fn search_filters_each_field_newest_first() {
    let s = six();
    let t = |secs: i64| Timestamp(T0 + secs).rfc3339();
    let (since, until) = (t(200), t(400));
    let cases: Vec<(Vec<&str>, Vec<u64>)> = vec![
        (vec![], vec![6, 5, 4, 3, 2, 1]),
        (vec!["--product", "app"], vec![5, 4, 2, 1]),
        (vec!["--version", "1.0"], vec![4, 3, 1]),
        (vec!["--bundle-id", "b3"], vec![3]),
        (vec!["--command", "gate"], vec![6, 2]),
        (vec!["--outcome", "fail"], vec![5, 2]),
        (vec!["--channel", "beta"], vec![6, 2]),
        (vec!["--since", &since], vec![6, 5, 4, 3]),
        (vec!["--until", &until], vec![5, 4, 3, 2, 1]),
        (vec!["--since", &since, "--until", &until, "--product", "app"], vec![5, 4]),
        (vec!["--limit", "2"], vec![6, 5]),
        (vec!["--product", "nothing"], vec![]),
    ];
    for (filter, want) in cases {
        let mut args = vec!["evidence", "search", "--json"];
        args.extend(&filter);
        let v = s.json(&args);
        assert_eq!(v["schema"], "airlock/evidence-search/v1");
        assert_eq!(seqs(&v), want, "{filter:?}");
    }
    let text = s.run(&["evidence", "search", "--outcome", "error"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("tool 1.0") && text.stdout.contains("1 record(s)"), "{}", text.stdout);
    let bad = s.run(&["evidence", "search", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn show_by_seq_and_by_hash() {
    let s = six();
    let by_seq = s.json(&["evidence", "show", "3", "--json"]);
    assert_eq!(by_seq["seq"], 3);
    assert_eq!(by_seq["outcome"], "error");
    assert_eq!(by_seq["subject"]["product"], "tool");
    let hash = by_seq["hash"].as_str().unwrap();
    let by_hash = s.json(&["evidence", "show", hash, "--json"]);
    assert_eq!(by_hash, by_seq);
    let text = s.run(&["evidence", "show", "2"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("command       gate") && text.stdout.contains("outcome       fail"), "{}", text.stdout);
    let missing = s.run(&["evidence", "show", "99"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no evidence record 99"), "{}", missing.stderr);
}

fn broken(s: &Site) -> (u64, String) {
    let o = s.run(&["evidence", "verify", "--json"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let v = o.json();
    assert_eq!(v["outcome"], "fail");
    let text = s.run(&["evidence", "verify"]);
    assert_eq!(text.code, 1);
    let (seq, rule) = (v["broken"]["seq"].as_u64().unwrap(), v["broken"]["rule"].as_str().unwrap().to_string());
    assert!(text.stdout.contains(&format!("#{seq} breaks {rule}")), "{}", text.stdout);
    (seq, rule)
}

#[test]
fn verify_passes_an_intact_chain() {
    let s = six();
    let v = s.json(&["evidence", "verify", "--json"]);
    assert_eq!(v["outcome"], "pass");
    assert_eq!(v["count"], 6);
    assert_eq!(v["head"]["seq"], 6);
    let empty = Site::new();
    assert_eq!(empty.json(&["evidence", "verify", "--json"])["count"], 0);
}

#[test]
fn verify_catches_a_changed_report_body() {
    let s = six();
    s.edit_record(4, |v| v["report"]["command"] = "nothing happened".into());
    assert_eq!(broken(&s), (4, "ledger.report-digest".into()));
}

#[test]
fn verify_catches_a_changed_field_outside_the_report() {
    let s = six();
    s.edit_record(2, |v| v["outcome"] = "pass".into());
    assert_eq!(broken(&s), (2, "ledger.hash".into()));
}

#[test]
fn verify_catches_a_deleted_row() {
    let s = six();
    s.sql("DELETE FROM records WHERE seq = 3");
    assert_eq!(broken(&s), (3, "ledger.seq-gap".into()));
}

#[test]
fn verify_catches_a_swapped_pair_of_rows() {
    let s = six();
    s.sql(
        "UPDATE records SET seq = -2 WHERE seq = 2; UPDATE records SET seq = 2 WHERE seq = 3; UPDATE records SET seq = 3 WHERE seq = -2;",
    );
    assert_eq!(broken(&s), (2, "ledger.seq-gap".into()));
    let s = six();
    s.sql(
        "CREATE TEMP TABLE t AS SELECT seq, record FROM records WHERE seq IN (4, 5);
         UPDATE records SET record = (SELECT record FROM t WHERE t.seq = 9 - records.seq) WHERE seq IN (4, 5);",
    );
    assert_eq!(broken(&s), (4, "ledger.seq-gap".into()));
}

#[test]
fn verify_catches_a_changed_hash() {
    let s = six();
    s.sql("UPDATE records SET hash = zeroblob(32) WHERE seq = 5");
    assert_eq!(broken(&s), (5, "ledger.row".into()));
    let s = six();
    s.edit_record(5, |v| v["hash"] = format!("sha256:{}", "1".repeat(64)).into());
    assert_eq!(broken(&s), (5, "ledger.hash".into()));
}

fn assert_refused_untouched(s: &Site, bytes: &[u8], needle: &str) {
    for args in [&["evidence", "verify"][..], &["evidence", "search"], &["evidence", "show", "1"]] {
        let o = s.run(args);
        assert_eq!(o.code, 2, "{args:?}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        assert_eq!(std::fs::read(s.db()).unwrap(), bytes, "{args:?} changed the file");
    }
}

#[test]
fn garbage_and_truncated_databases_are_refused_and_left_as_they_were() {
    let s = Site::new();
    std::fs::create_dir_all(s.home()).unwrap();
    let garbage =
        b"this is not a database at all, but it is long enough to hold a header...........................................".repeat(50);
    std::fs::write(s.db(), &garbage).unwrap();
    assert_refused_untouched(&s, &garbage, "not a usable ledger database");

    let s = six();
    s.append((0..200).map(|i| ("verify", subject("app", &format!("3.{i}"), "stable", "bx"), Outcome::Pass, T0 + 600 + i)).collect());
    // Fold the write-ahead log into the file first, so cutting the file loses pages for real.
    s.sql("PRAGMA wal_checkpoint(TRUNCATE)");
    let full = std::fs::read(s.db()).unwrap();
    assert_eq!(std::fs::metadata(s.db().with_file_name("ledger.sqlite-wal")).map(|m| m.len()).unwrap_or(0), 0);
    let cut = &full[..full.len() / 2];
    std::fs::write(s.db(), cut).unwrap();
    assert_refused_untouched(&s, cut, "truncated");
    let odd = &full[..full.len() - 100];
    std::fs::write(s.db(), odd).unwrap();
    assert_refused_untouched(&s, odd, "truncated");
    std::fs::write(s.db(), b"").unwrap();
    assert_refused_untouched(&s, b"", "truncated");
}

#[test]
fn a_newer_schema_version_is_refused_and_never_altered() {
    let s = six();
    s.sql("PRAGMA user_version = 99");
    let bytes = std::fs::read(s.db()).unwrap();
    assert_refused_untouched(&s, &bytes, "schema version 99");
}

/// Helper process for `four_processes_append_at_once`: appends `AIRLOCK_TEST_APPENDS` records.
#[test]
#[ignore = "run as a child process by four_processes_append_at_once"]
fn child_appender() {
    let n: u64 = std::env::var("AIRLOCK_TEST_APPENDS").unwrap().parse().unwrap();
    let tag = std::env::var("AIRLOCK_TEST_TAG").unwrap();
    for i in 0..n {
        let report = serde_json::json!({"child": tag, "i": i});
        let subject = Subject { product: Some(tag.clone()), ..Default::default() };
        airlock::store::ledger::record(Timestamp(T0 + i as i64), "verify", subject, Outcome::Pass, &report).unwrap();
    }
}

#[test]
fn four_processes_append_at_once() {
    let s = Site::new();
    let per = 1000;
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "child_appender", "--test-threads=1", "--quiet"])
                .env("AIRLOCK_HOME", s.home())
                .env("AIRLOCK_TEST_APPENDS", per.to_string())
                .env("AIRLOCK_TEST_TAG", format!("p{i}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let v = s.json(&["evidence", "verify", "--json"]);
    assert_eq!(v["outcome"], "pass");
    assert_eq!(v["count"], 4 * per);
    assert_eq!(v["head"]["seq"], 4 * per);
    for i in 0..4 {
        let got = s.json(&["evidence", "search", "--product", &format!("p{i}"), "--limit", "0", "--json"]);
        assert_eq!(got["count"], per, "p{i}");
    }
}

fn demo_bundles(dir: &Path, home: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let o = run_airlock(dir, home, &[], &["demo", "--keep", "d"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    (dir.join("d/hello-1.0.0.zip"), dir.join("d/hello-1.0.0-tampered.zip"), dir.join("d/release.pub"))
}

#[test]
fn verify_records_its_verdict_on_pass_and_fail_but_not_when_told_or_at_a_stated_time() {
    let s = Site::new();
    let (good, bad, key) = demo_bundles(s.dir.path(), &s.home());
    let (good, bad, key) = (good.to_str().unwrap(), bad.to_str().unwrap(), key.to_str().unwrap());
    let pass = s.run(&["verify", good, "--key", key]);
    assert_eq!(pass.code, 0, "{}", pass.stderr);
    assert!(pass.stderr.contains("recorded evidence #1 sha256:"), "{}", pass.stderr);
    let fail = s.run(&["verify", bad, "--key", key]);
    assert_eq!(fail.code, 1);
    assert!(fail.stderr.contains("recorded evidence #2 sha256:"), "{}", fail.stderr);
    assert_eq!(s.run(&["verify", good, "--key", key, "--no-record"]).code, 0);
    assert_eq!(s.run(&["verify", good, "--key", key, "--at-time", "2026-06-01T00:00:00Z"]).code, 0);
    let v = s.json(&["evidence", "search", "--json"]);
    assert_eq!(seqs(&v), vec![2, 1]);
    let rec = &v["records"][0];
    assert_eq!((rec["command"].as_str(), rec["outcome"].as_str()), (Some("verify"), Some("fail")));
    assert_eq!(rec["subject"]["product"], "hello");
    assert_eq!(rec["report"]["outcome"], "fail");
    let site = s.json(&["evidence", "site", "--json"]);
    assert_eq!(rec["siteId"], site["siteId"]);
    assert_eq!(s.json(&["evidence", "verify", "--json"])["count"], 2);
}

#[test]
fn a_verdict_whose_record_cannot_be_written_is_exit_2() {
    let s = Site::new();
    let (good, _, key) = demo_bundles(s.dir.path(), &s.home());
    let (good, key) = (good.to_str().unwrap(), key.to_str().unwrap());
    std::fs::create_dir_all(s.home()).unwrap();
    std::fs::write(s.db(), b"garbage").unwrap();
    let o = s.run(&["verify", good, "--key", key]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("could not be recorded") && o.stderr.contains("ledger.sqlite"), "{}", o.stderr);
    assert_eq!(std::fs::read(s.db()).unwrap(), b"garbage");
    assert_eq!(s.run(&["verify", good, "--key", key, "--no-record"]).code, 0);
}

/// A ledger locked by another writer for longer than the busy timeout (10 s): the verdict is
/// exit 2 naming the lock, and nothing is recorded.
#[test]
fn a_ledger_locked_too_long_is_exit_2_and_records_nothing() {
    let s = Site::new();
    let (good, _, key) = demo_bundles(s.dir.path(), &s.home());
    let (good, key) = (good.to_str().unwrap(), key.to_str().unwrap());
    assert_eq!(s.run(&["verify", good, "--key", key]).code, 0);
    let holder = Connection::open(s.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let o = s.run(&["verify", good, "--key", key]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("could not be recorded") && o.stderr.contains("locked"), "{}", o.stderr);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(s.json(&["evidence", "verify", "--json"])["count"], 1);
}

/// A full disk while the record is appended (simulated by a file-size limit: writes past it
/// fail with EFBIG, as on a full file system): exit 2 with the reason, and the chain stays valid.
#[test]
fn a_full_disk_is_exit_2_and_the_chain_stays_valid() {
    let s = Site::new();
    let (good, _, key) = demo_bundles(s.dir.path(), &s.home());
    let (good, key) = (good.to_str().unwrap(), key.to_str().unwrap());
    for _ in 0..3 {
        assert_eq!(s.run(&["verify", good, "--key", key]).code, 0);
    }
    // SIGXFSZ ignored (inherited through exec), writes beyond 1 KiB into any file then fail.
    let o = cli_support::command_via(&s.home(), &["sh", "-c", "trap '' XFSZ; ulimit -f 2; exec \"$@\"", "sh"])
        .args(["verify", good, "--key", key, "--no-progress"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let o = Out::from(o);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("could not be recorded"), "{}", o.stderr);
    let v = s.json(&["evidence", "verify", "--json"]);
    assert_eq!((v["outcome"].as_str(), v["count"].as_u64()), (Some("pass"), Some(3)), "{v}");
}

fn site_rows(home: &Path, site: &str) -> Vec<Vec<u8>> {
    match SqliteLedger::open_existing(home).unwrap() {
        Some(db) => db.site_records(site).unwrap().into_iter().map(|r| r.bytes).collect(),
        None => vec![],
    }
}

fn local_rows(home: &Path) -> Vec<Vec<u8>> {
    let db = SqliteLedger::open(home).unwrap();
    let mut out = vec![];
    db.range(1, &mut |r| {
        out.push(r.bytes);
        true
    })
    .unwrap();
    out
}

fn records(n: std::ops::Range<i64>, tag: &str) -> Vec<(&'static str, Subject, Outcome, i64)> {
    n.map(|i| ("verify", subject(tag, &format!("1.{i}"), "stable", "b"), Outcome::Pass, T0 + i * 10)).collect()
}

#[test]
fn export_verifies_with_the_site_key_and_imports_as_the_same_records() {
    let a = Site::new();
    a.append(records(0..3, "app"));
    let site = a.json(&["evidence", "site", "--json"]);
    let (id, public) = (site["siteId"].as_str().unwrap().to_string(), site["publicKey"].as_str().unwrap().to_string());
    let e1 = a.dir.path().join("e1.zip");
    let o = a.run(&["evidence", "export", "-o", e1.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = a.run(&["verify", e1.to_str().unwrap(), "--key", &public, "--no-record"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);

    let b = Site::new();
    let imp = b.json(&["evidence", "import", e1.to_str().unwrap(), "--site-key", &public, "--json"]);
    assert_eq!((imp["outcome"].as_str(), imp["added"].as_u64()), (Some("merged"), Some(3)));
    assert_eq!(site_rows(&b.home(), &id), local_rows(&a.home()));

    // A later export of the whole ledger overlaps (identical) and continues the held chain.
    a.append(records(3..5, "app"));
    let e2 = a.dir.path().join("e2.zip");
    assert_eq!(a.run(&["evidence", "export", "-o", e2.to_str().unwrap()]).code, 0);
    let imp = b.json(&["evidence", "import", e2.to_str().unwrap(), "--site-key", &public, "--json"]);
    assert_eq!((imp["added"].as_u64(), imp["alreadyHeld"].as_u64()), (Some(2), Some(3)));
    assert_eq!(site_rows(&b.home(), &id), local_rows(&a.home()));

    // A range export (--since) continues too, and cannot start a new aggregator's chain.
    let e3 = a.dir.path().join("e3.tar");
    let since = Timestamp(T0 + 30).rfc3339();
    assert_eq!(a.run(&["evidence", "export", "--since", &since, "-o", e3.to_str().unwrap()]).code, 0);
    let imp = b.json(&["evidence", "import", e3.to_str().unwrap(), "--site-key", &public, "--json"]);
    assert_eq!((imp["added"].as_u64(), imp["alreadyHeld"].as_u64()), (Some(0), Some(2)));
    let c = Site::new();
    let gap = c.run(&["evidence", "import", e3.to_str().unwrap(), "--site-key", &public]);
    assert_eq!(gap.code, 1, "{}", gap.stderr);
    assert!(gap.stderr.contains("continues from #4"), "{}", gap.stderr);
    assert!(site_rows(&c.home(), &id).is_empty());
}

#[test]
fn a_forked_export_is_refused_and_both_records_are_kept() {
    let a = Site::new();
    a.append(records(0..3, "app"));
    let public = a.home().join("site.pub");
    let e1 = a.dir.path().join("e1.zip");
    assert_eq!(a.run(&["evidence", "export", "-o", e1.to_str().unwrap()]).code, 0);
    // The same site key over a rewritten ledger: record 2 differs.
    let f = Site::new();
    std::fs::create_dir_all(f.home()).unwrap();
    std::fs::copy(a.home().join("site.key"), f.home().join("site.key")).unwrap();
    let mut rewritten = records(0..3, "app");
    rewritten[1].2 = Outcome::Fail;
    f.append(rewritten);
    let e2 = f.dir.path().join("forked.zip");
    assert_eq!(f.run(&["evidence", "export", "-o", e2.to_str().unwrap()]).code, 0);

    let b = Site::new();
    assert_eq!(b.run(&["evidence", "import", e1.to_str().unwrap(), "--site-key", public.to_str().unwrap()]).code, 0);
    let site = airlock::keys::PublicKey::parse_file(&std::fs::read(&public).unwrap()).unwrap().keyid().hex();
    let before = site_rows(&b.home(), &site);
    let o = b.run(&["evidence", "import", e2.to_str().unwrap(), "--site-key", public.to_str().unwrap(), "--json"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let v = o.json();
    assert_eq!((v["outcome"].as_str(), v["seq"].as_u64()), (Some("fork"), Some(2)));
    assert!(o.stderr.contains("FORK") && o.stderr.contains("evidence #2"), "{}", o.stderr);
    assert_eq!(site_rows(&b.home(), &site), before, "nothing merged");
    let forks = SqliteLedger::open(&b.home()).unwrap().forks().unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0].held, local_rows(&a.home())[1]);
    assert_eq!(forks[0].offered, local_rows(&f.home())[1]);
}

#[test]
fn tampered_or_foreign_exports_merge_nothing() {
    let a = Site::new();
    a.append(records(0..3, "app"));
    let public = a.home().join("site.pub");
    let e1 = a.dir.path().join("e1.tar");
    assert_eq!(a.run(&["evidence", "export", "-o", e1.to_str().unwrap()]).code, 0);
    let b = Site::new();
    let site = airlock::keys::PublicKey::parse_file(&std::fs::read(&public).unwrap()).unwrap().keyid().hex();

    let other = Site::new();
    other.append(records(0..1, "x"));
    let foreign = other.home().join("site.pub");
    let o = b.run(&["evidence", "import", e1.to_str().unwrap(), "--site-key", foreign.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("nothing merged"), "{}", o.stderr);

    let mut bytes = std::fs::read(&e1).unwrap();
    let at = bytes.windows(11).position(|w| w == b"test/report").expect("a record's text in the tar");
    bytes[at] ^= 0x20;
    let tampered = a.dir.path().join("tampered.tar");
    std::fs::write(&tampered, &bytes).unwrap();
    let o = b.run(&["evidence", "import", tampered.to_str().unwrap(), "--site-key", public.to_str().unwrap()]);
    assert!(o.code == 1 || o.code == 2, "{}", o.stderr);
    assert!(site_rows(&b.home(), &site).is_empty());
}

mod schema_support;

#[test]
fn records_and_export_heads_match_the_published_schemas() {
    if !schema_support::python_has("jsonschema") {
        return;
    }
    let s = six();
    let out = s.dir.path().join("docs");
    std::fs::create_dir_all(&out).unwrap();
    let mut records = vec![];
    for seq in 1..=6 {
        let p = out.join(format!("r{seq}.json"));
        std::fs::write(&p, s.run(&["evidence", "show", &seq.to_string(), "--json"]).stdout).unwrap();
        records.push(p);
    }
    schema_support::validate("evidence-record-v1.schema.json", &records);
    let tar = s.dir.path().join("e.tar");
    assert_eq!(s.run(&["evidence", "export", "-o", tar.to_str().unwrap()]).code, 0);
    let mut a = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let mut head = vec![];
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("evidence/head.json") {
            std::io::Read::read_to_end(&mut e, &mut head).unwrap();
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&head).unwrap();
    assert_eq!((v["count"].as_u64(), v["first"].as_u64(), v["head"]["seq"].as_u64()), (Some(6), Some(1), Some(6)));
    let p = out.join("head.json");
    std::fs::write(&p, &head).unwrap();
    schema_support::validate("evidence-export-head-v1.schema.json", &[p]);
}

const AUDIT_CHECK: &str = r#"
import csv, json, sys, jsonschema
fmt, path, schema_dir = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path, encoding="utf-8").read()
def check(doc, name):
    schema = json.load(open(f"{schema_dir}/{name}.schema.json"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
docs = [json.loads(l) for l in text.splitlines()] if fmt in ("jsonl", "splunk-hec", "datadog", "jira", "servicenow") else None
if fmt == "splunk-hec":
    [check(d, "splunk-hec-event") for d in docs]
elif fmt == "datadog":
    [check(d, "datadog-logs-v2") for d in docs]
    docs = [i for d in docs for i in d]
elif fmt == "jira":
    [check(d, "jira-create-issue") for d in docs]
elif fmt == "servicenow":
    [check(d, "servicenow-incident") for d in docs]
elif fmt == "sentinel":
    docs = json.loads(text)
    check(docs, "sentinel-logs-ingestion")
elif fmt == "webhook":
    docs = json.loads(text)["records"]
elif fmt == "csv":
    rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
    assert rows[0][0] == "seq" and all(len(r) == len(rows[0]) for r in rows), rows
    docs = rows[1:]
print(len(docs))
"#;

#[test]
fn audit_exports_match_each_products_documented_shape() {
    if !schema_support::python_has("jsonschema") {
        return;
    }
    let s = six();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit");
    // Six records, two failed and one errored: Jira and ServiceNow get one body per bad verdict.
    for (format, want) in
        [("jsonl", 6), ("csv", 6), ("splunk-hec", 6), ("sentinel", 6), ("datadog", 6), ("webhook", 6), ("jira", 3), ("servicenow", 3)]
    {
        let out = s.dir.path().join(format!("audit.{format}"));
        let o = s.run(&["evidence", "export", "--format", format, "-o", out.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        let check = std::process::Command::new("python3").args(["-c", AUDIT_CHECK, format]).arg(&out).arg(&schemas).output().unwrap();
        assert!(check.status.success(), "{format}: {}", String::from_utf8_lossy(&check.stderr));
        assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), want.to_string(), "{format}: documents");
    }
    let bad = s.run(&["evidence", "export", "--format", "syslog", "-o", "x"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("splunk-hec"), "{}", bad.stderr);
    // The jsonl audit copy is exactly the chain: it verifies as one.
    let jsonl = std::fs::read(s.dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(airlock::ledger::chain::verify_jsonl(&jsonl).unwrap().count, 6);
}

/// One aggregator run (issue 16): the three sites' exports imported by three importers at once,
/// then the forked export refused; returns what `evidence search --sites` and `evidence verify`
/// say afterwards.
fn aggregate(agg: &Site, store: &[&str], exports: &[(PathBuf, PathBuf)], forked: &(PathBuf, PathBuf)) -> serde_json::Value {
    let import = |(export, key): &(PathBuf, PathBuf)| {
        let mut c = command(&agg.home());
        c.current_dir(agg.dir.path()).args(["evidence", "import", export.to_str().unwrap(), "--site-key", key.to_str().unwrap(), "--json"]);
        c.args(store);
        c
    };
    let children: Vec<_> = exports.iter().map(|e| import(e).stdout(std::process::Stdio::piped()).spawn().unwrap()).collect();
    for child in children {
        let o = Out::from(child.wait_with_output().unwrap());
        assert_eq!(o.code, 0, "{store:?}: {}{}", o.stdout, o.stderr);
        assert_eq!((o.json()["outcome"].as_str(), o.json()["added"].as_u64()), (Some("merged"), Some(4)));
    }
    let o = Out::from(import(forked).output().unwrap());
    assert_eq!(o.code, 1, "{store:?}: {}", o.stderr);
    assert_eq!((o.json()["outcome"].as_str(), o.json()["seq"].as_u64()), (Some("fork"), Some(2)));
    let mut args = vec!["evidence", "search", "--sites", "--limit", "0", "--json"];
    args.extend_from_slice(store);
    let search = agg.json(&args);
    assert_eq!(search["count"], 12, "{search}");
    let mut args = vec!["evidence", "search", "--sites", "--product", "app1", "--outcome", "pass", "--json"];
    args.extend_from_slice(store);
    let one_site = agg.json(&args);
    assert_eq!(one_site["count"], 4, "{one_site}");
    let mut args = vec!["evidence", "verify", "--json"];
    args.extend_from_slice(store);
    assert_eq!(agg.json(&args)["outcome"], "pass");
    serde_json::json!({"all": search["records"], "app1": one_site["records"]})
}

#[test]
fn aggregation_of_three_sites_is_the_same_on_sqlite_and_postgresql() {
    let sites: Vec<Site> = (0..3).map(|_| Site::new()).collect();
    let mut exports = vec![];
    for (i, s) in sites.iter().enumerate() {
        s.append(records(0..4, &format!("app{i}")));
        let e = s.dir.path().join("export.zip");
        assert_eq!(s.run(&["evidence", "export", "-o", e.to_str().unwrap()]).code, 0);
        exports.push((e, s.home().join("site.pub")));
    }
    // Site 0's key over a rewritten ledger: record 2 differs from what site 0 exported.
    let f = Site::new();
    std::fs::create_dir_all(f.home()).unwrap();
    std::fs::copy(sites[0].home().join("site.key"), f.home().join("site.key")).unwrap();
    let mut rewritten = records(0..4, "app0");
    rewritten[1].2 = Outcome::Fail;
    f.append(rewritten);
    let forked = (f.dir.path().join("forked.zip"), exports[0].1.clone());
    assert_eq!(f.run(&["evidence", "export", "-o", forked.0.to_str().unwrap()]).code, 0);

    let on_sqlite = aggregate(&Site::new(), &[], &exports, &forked);
    let Some(mut pg) = pg_support::PgServer::start() else { return };
    let url = pg.database("aggregator");
    let agg = Site::new();
    let on_postgres = aggregate(&agg, &["--store", &url], &exports, &forked);
    assert_eq!(on_sqlite, on_postgres, "search results differ between SQLite and PostgreSQL");
    let mut db = airlock::store::backend::StoreUrl::parse(&url).unwrap().open().unwrap();
    let forks = db.forks().unwrap();
    assert_eq!((forks.len(), forks[0].seq), (1, 2));
    assert_eq!(
        db.append(Draft {
            site_id: "ab".repeat(32),
            recorded_at: Timestamp(T0),
            command: "verify".into(),
            subject: Subject::default(),
            outcome: Outcome::Pass,
            report: serde_json::json!({}),
        })
        .unwrap()
        .seq,
        1
    );
    drop(db);

    // The server goes away: an import is "could not check" (exit 2) naming PostgreSQL.
    pg.stop();
    let o = agg.run(&[
        "evidence",
        "import",
        exports[1].0.to_str().unwrap(),
        "--site-key",
        exports[1].1.to_str().unwrap(),
        "--store",
        &url,
        "--json",
    ]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert_eq!(o.json()["error"]["kind"], "ledger.postgres", "{}", o.stdout);
}

/// PostgreSQL stopped while an import is inside its transaction, with part of the export
/// already inserted: the importer exits 2 naming the store and what to try, and nothing of the
/// import is kept. After a restart the site's chain is the old one and verifies, and re-running
/// the same import completes.
#[cfg(feature = "postgres")]
#[test]
fn postgres_gone_mid_import_is_exit_2_and_nothing_half_written() {
    let Some(mut pg) = pg_support::PgServer::start() else { return };
    let url = pg.database("midimport");
    let a = Site::new();
    let export = |name: &str| {
        let e = a.dir.path().join(name);
        let o = a.run(&["evidence", "export", "-o", e.to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        e.to_str().unwrap().to_string()
    };
    a.append(records(0..2, "app"));
    let e1 = export("e1.zip");
    a.append(records(2..8, "app"));
    let e2 = export("e2.zip");
    let key = a.home().join("site.pub").to_str().unwrap().to_string();
    let agg = Site::new();
    let import = |e: &str| agg.run(&["evidence", "import", e, "--site-key", &key, "--store", &url, "--json"]);
    let o = import(&e1);
    assert_eq!((o.code, o.json()["added"].as_u64()), (0, Some(2)), "{}", o.stderr);

    // A test-only trigger holds the import, after records 3 and 4 are inserted, on a lock
    // this test owns; the server is stopped while the importer waits there.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(
        "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.seq = 5 THEN PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END $$; \
         CREATE TRIGGER hold BEFORE INSERT ON site_records FOR EACH ROW EXECUTE FUNCTION hold(); \
         SELECT pg_advisory_lock(4242);",
    )
    .unwrap();
    let child = command(&agg.home())
        .current_dir(agg.dir.path())
        .args(["evidence", "import", &e2, "--site-key", &key, "--store", &url, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = (0..600).any(|_| {
        let n: i64 =
            c.query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted", &[]).unwrap().get(0);
        n == 1 || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(waiting, "the importer never reached record 5");
    drop(c);
    pg.stop();
    let o = Out::from(child.wait_with_output().unwrap());
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    let err = &o.json()["error"];
    assert_eq!(err["kind"], "ledger.postgres", "{}", o.stdout);
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("PostgreSQL") && message.contains("midimport"), "the message names the store: {message}");
    assert!(err["hint"].as_str().unwrap().contains("server is up"), "{}", o.stdout);

    pg.restart();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("DROP TRIGGER hold ON site_records; DROP FUNCTION hold();").unwrap();
    let held: i64 = c.query_one("SELECT count(*) FROM site_records", &[]).unwrap().get(0);
    assert_eq!(held, 2, "records 3 and 4 of the interrupted import were kept");
    drop(c);
    let v = agg.run(&["evidence", "verify", "--store", &url, "--json"]);
    assert_eq!((v.code, v.json()["outcome"].as_str()), (0, Some("pass")), "{}", v.stderr);
    let o = import(&e2);
    assert_eq!((o.code, o.json()["added"].as_u64(), o.json()["alreadyHeld"].as_u64()), (0, Some(6), Some(2)), "{}", o.stderr);
    let found = agg.json(&["evidence", "search", "--sites", "--limit", "0", "--store", &url, "--json"]);
    assert_eq!(found["count"], 8, "{found}");
}
