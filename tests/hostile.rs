//! The hostile-archive corpus harness: walks `tests/data/hostile/`, fails on unknown or stale
//! files, checks that each case is refused by exactly the rule its sidecar names (and that valid
//! cases pass), that every walker rule has a case, and runs the real `airlock verify` on every
//! case: the exit code must match and nothing may be written.

mod cli_support;

use airlock::archive::Rule;
use airlock::conformance::hostile::{self, KEY_FILE};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")
}

/// (case file name, archive bytes, sidecar)
fn load() -> Vec<(String, Vec<u8>, Value)> {
    let mut names: BTreeSet<String> = std::fs::read_dir(dir())
        .expect("tests/data/hostile exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.remove(KEY_FILE), "{KEY_FILE} missing");
    assert!(names.remove("README.md"), "README.md missing");
    let mut out = Vec::new();
    let sidecars: Vec<String> = names.iter().filter(|n| n.ends_with(".expect.json")).cloned().collect();
    for side in sidecars {
        names.remove(&side);
        let stem = side.trim_end_matches(".expect.json");
        let archive = ["zip", "tar", "bin"]
            .iter()
            .map(|ext| format!("{stem}.{ext}"))
            .find(|n| names.contains(n))
            .unwrap_or_else(|| panic!("{side} has no {stem}.zip|tar|bin beside it"));
        names.remove(&archive);
        let expect: Value = serde_json::from_slice(&std::fs::read(dir().join(&side)).unwrap()).unwrap();
        out.push((archive.clone(), std::fs::read(dir().join(&archive)).unwrap(), expect));
    }
    assert!(names.is_empty(), "unknown files in tests/data/hostile (no sidecar): {names:?}");
    out
}

#[test]
fn corpus_is_up_to_date() {
    let wanted: BTreeMap<String, Vec<u8>> = hostile::files().into_iter().collect();
    let present: BTreeSet<String> =
        std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut stale = Vec::new();
    for (name, bytes) in &wanted {
        if std::fs::read(dir().join(name)).ok().as_ref() != Some(bytes) {
            stale.push(name.clone());
        }
    }
    stale.extend(present.iter().filter(|p| !wanted.contains_key(*p)).cloned());
    assert!(stale.is_empty(), "tests/data/hostile is stale ({stale:?}); run `cargo xtask hostile`");
}

fn limits_of(expect: &Value) -> airlock::archive::Limits {
    let mut l = airlock::archive::Limits::default();
    if let Some(c) = expect.get("limits") {
        l.max_members = c["max_members"].as_u64().unwrap() as usize;
        l.max_total_size = c["max_total_size"].as_u64().unwrap();
    }
    l
}

#[test]
fn every_case_is_refused_by_its_rule() {
    let cases = load();
    assert!(cases.len() > 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, bytes, expect) in &cases {
        let got = hostile::exercise(None, bytes, &limits_of(expect));
        let want = expect["rule"].as_str();
        match (want, got) {
            (None, Ok(_)) => {}
            (None, Err(e)) => failures.push(format!("{name}: valid case refused: {e}")),
            (Some(rule), Ok(_)) => failures.push(format!("{name}: accepted, expected {rule}")),
            (Some(rule), Err(e)) => {
                let id = e.rule().map(Rule::id).unwrap_or("io");
                if id != rule {
                    failures.push(format!("{name}: refused by {id}, expected {rule}: {e}"));
                } else if let Some(d) = expect["detail"].as_str()
                    && !e.to_string().contains(d)
                {
                    failures.push(format!("{name}: message lacks {d:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_rule_has_a_case() {
    let covered: BTreeSet<String> = load().iter().filter_map(|(_, _, e)| e["rule"].as_str().map(str::to_string)).collect();
    let missing: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).filter(|id| !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "rules without a corpus case: {missing:?}");
    let signed = load().iter().filter(|(_, _, e)| e["signed"] == true && !e["rule"].is_null()).count();
    assert!(signed >= 10, "only {signed} validly signed hostile cases");
}

fn listing(p: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            v.push(e.path());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    v.sort();
    v
}

#[test]
fn airlock_verify_exit_codes_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let before = listing(&dir());
    let key = dir().join(KEY_FILE);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, _, expect) in load() {
        let Some(want) = expect["verify_exit"].as_u64() else { continue };
        // Evidence recording (tests/evidence_ledger.rs) is off: this checks that reading a
        // hostile archive writes nothing anywhere.
        let out = cli_support::command(&tmp.path().join("airlock-home"))
            .args(["--no-progress", "verify", "--json", "--no-record", "--threads", "2"])
            .arg(dir().join(&name))
            .arg("--key")
            .arg(&key)
            .current_dir(work.path())
            .env("TMPDIR", tmp.path())
            .env("HOME", tmp.path())
            .output()
            .unwrap();
        ran += 1;
        let code = out.status.code();
        if code != Some(want as i32) {
            failures.push(format!("{name}: exit {code:?}, expected {want}; stderr: {}", String::from_utf8_lossy(&out.stderr)));
            continue;
        }
        if want == 2
            && let Some(rule) = expect["rule"].as_str()
        {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let kind = doc["error"]["kind"].as_str().unwrap_or("");
            let data_stage = rule.starts_with("data.") || expect["limits"].is_object();
            if kind != rule && !(data_stage && kind == "bundle.missing-control") {
                failures.push(format!("{name}: error kind {kind:?}, expected {rule}"));
            }
        }
    }
    assert!(ran > 100, "only {ran} cases run through the binary");
    assert!(listing(work.path()).is_empty(), "verify wrote into its working directory: {:?}", listing(work.path()));
    assert!(listing(tmp.path()).is_empty(), "verify wrote into TMPDIR/HOME: {:?}", listing(tmp.path()));
    assert_eq!(before, listing(&dir()), "verify changed the corpus folder");
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
}
