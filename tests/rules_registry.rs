//! `format-spec/rules-v1.json`, the rule registry, against the code, the spec's tables and the
//! vectors: the ids the code can emit (`verify::error_kinds`, `verify::CHECK_IDS`, tables the
//! code itself asserts against in debug builds) are exactly the registry's; every table of rule
//! ids in `bundle-v1.md` §13 and `archive-rules-v1.md` lists exactly the registry's ids of its
//! document; every registry id has a vector in `vectors/bundle-v1/`.

mod schema_support;

use airlock::conformance::Expectation;
use airlock::verify::{self, TrustPolicy, Verification};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Rule {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    exit: u8,
    section: String,
    meaning: String,
    reported: Option<String>,
    #[serde(default)]
    reported_as: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    #[serde(rename = "$schema")]
    _schema_file: String,
    schema: String,
    #[allow(dead_code)]
    description: String,
    rules: Vec<Rule>,
}

fn registry() -> Registry {
    let bytes = std::fs::read(root().join("format-spec/rules-v1.json")).unwrap();
    let r: Registry = airlock::json::from_slice_strict(&bytes).unwrap_or_else(|e| panic!("rules-v1.json: {e}"));
    assert_eq!(r.schema, "airlock/rules/v1");
    r
}

fn ids<'a>(r: &'a Registry, kind: &str) -> BTreeSet<&'a str> {
    r.rules.iter().filter(|x| x.kind == kind).map(|x| x.id.as_str()).collect()
}

#[test]
fn the_registry_lists_exactly_the_ids_the_code_can_emit() {
    let r = registry();
    let mut seen = BTreeSet::new();
    for x in &r.rules {
        assert!(seen.insert(x.id.as_str()), "{} is listed twice", x.id);
        assert!(!x.meaning.is_empty() && !x.section.is_empty(), "{}: meaning and section", x.id);
        match x.kind.as_str() {
            "error" => assert!(x.exit == 2 && x.reported.is_none(), "{}: an error is exit 2", x.id),
            "check" => assert!(x.exit == 1 && x.reported.is_some() && x.reported_as.is_empty(), "{}: a check is exit 1", x.id),
            other => panic!("{}: type {other}", x.id),
        }
    }
    let kinds = verify::error_kinds();
    let code_errors: BTreeSet<&str> = kinds.iter().map(String::as_str).collect();
    assert_eq!(kinds.len(), code_errors.len(), "the code lists an error kind twice");
    let errors = ids(&r, "error");
    assert_eq!(
        code_errors.difference(&errors).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "error kinds the code emits but format-spec/rules-v1.json lacks"
    );
    assert_eq!(errors.difference(&code_errors).collect::<Vec<_>>(), Vec::<&&str>::new(), "error kinds in the registry no code emits");
    let code_checks: BTreeSet<&str> = verify::CHECK_IDS.iter().copied().collect();
    let checks = ids(&r, "check");
    assert_eq!(code_checks, checks, "check ids: the code (verify::CHECK_IDS) and the registry differ");
    for x in &r.rules {
        for c in &x.reported_as {
            assert!(checks.contains(c.as_str()), "{}: reportedAs {c} is no check", x.id);
        }
    }
}

#[test]
fn the_registry_matches_its_schema() {
    if !schema_support::python_has("jsonschema") {
        return;
    }
    schema_support::validate("rules-v1.schema.json", &[root().join("format-spec/rules-v1.json")]);
}

/// The rows `| \`id\` | …` of every table in `doc` under a heading (`## `) for which `keep` holds.
fn table_ids(doc: &str, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(root().join("format-spec").join(doc)).unwrap();
    let mut heading = String::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.to_string();
        }
        let Some(row) = line.strip_prefix("| `") else { continue };
        if !keep(&heading) {
            continue;
        }
        let (id, rest) = row.split_once('`').unwrap();
        let cells: Vec<String> = rest.split('|').skip(1).map(|c| c.trim().to_string()).collect();
        assert!(out.insert(id.to_string(), cells).is_none(), "{doc}: {id} is in its tables twice");
    }
    out
}

#[test]
fn the_spec_tables_list_the_registry() {
    let r = registry();
    let archive = table_ids("archive-rules-v1.md", &|h| !h.starts_with("Limits of"));
    let in_archive: BTreeSet<&str> =
        r.rules.iter().filter(|x| x.section.starts_with("archive-rules-v1.md")).map(|x| x.id.as_str()).collect();
    assert_eq!(archive.keys().map(String::as_str).collect::<BTreeSet<_>>(), in_archive, "archive-rules-v1.md tables vs the registry");

    // bundle-v1.md §13: | `id` | type | exit | section | meaning |, the registry's order and words.
    let table = table_ids("bundle-v1.md", &|h| h.starts_with("13."));
    assert_eq!(table.len(), r.rules.len(), "bundle-v1.md §13 lists every registry id once");
    for x in &r.rules {
        let row = table.get(&x.id).unwrap_or_else(|| panic!("bundle-v1.md §13 lacks {}", x.id));
        assert_eq!(row[0], x.kind, "{}: type", x.id);
        assert_eq!(row[1], x.exit.to_string(), "{}: exit", x.id);
        assert_eq!(row[2], x.section, "{}: section", x.id);
        assert!(row[3].starts_with(&x.meaning), "{}: meaning {:?} is not the registry's {:?}", x.id, row[3], x.meaning);
    }
}

#[test]
fn every_registry_id_has_a_vector() {
    let r = registry();
    let dir = root().join("vectors/bundle-v1");
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if !p.join("expect.json").exists() {
            continue;
        }
        let exp: Expectation = airlock::json::from_slice_strict(&std::fs::read(p.join("expect.json")).unwrap()).unwrap();
        covered.extend(exp.failed_checks.iter().cloned());
        covered.extend(exp.error_kind.iter().cloned());
        if let Some(rule) = &exp.rule {
            let x = r.rules.iter().find(|x| &x.id == rule).unwrap_or_else(|| panic!("{}: rule {rule} is not in the registry", p.display()));
            assert_eq!(
                exp.failed_checks.iter().collect::<BTreeSet<_>>(),
                x.reported_as.iter().collect(),
                "{}: {rule} is reported as its registry checks",
                p.display()
            );
            covered.insert(rule.clone());
        }
        if exp.exit == 0 {
            covered.extend(passed_checks(&p, &exp));
        }
    }
    let missing: Vec<&str> = r.rules.iter().map(|x| x.id.as_str()).filter(|id| !covered.contains(*id)).collect();
    assert!(missing.is_empty(), "registry ids without a vector: {missing:?}");
    let unknown: Vec<&String> = covered.iter().filter(|id| !r.rules.iter().any(|x| &x.id == *id)).collect();
    assert!(unknown.is_empty(), "vectors name ids the registry lacks: {unknown:?}");
}

/// The checks a passing vector reports (the ones that never fail on their own are covered so).
fn passed_checks(case: &Path, exp: &Expectation) -> Vec<String> {
    let key = |n: &str| {
        airlock::keys::PublicKey::parse_file(&std::fs::read(case.parent().unwrap().join(format!("keys/{n}.pub"))).unwrap()).unwrap()
    };
    let trust = TrustPolicy::ed25519(exp.keys.iter().map(|k| key(k)), exp.threshold, "vector");
    let bytes = std::fs::read(case.join(&exp.bundle)).unwrap();
    match verify::verify(&bytes, &trust, &verify::Options::default(), &|_| {}).unwrap() {
        Verification::Passed(_, r) => r.checks().iter().map(|c| c.id.to_string()).collect(),
        Verification::Failed(_) => panic!("{}: expected to pass", case.display()),
    }
}
