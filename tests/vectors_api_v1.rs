//! Walks `vectors/api-v1/`: every request names the endpoint the router picks or the refusal it
//! answers (status and error id); every response under `accept/<schema>/` is accepted by
//! `format-spec/schemas/<schema>.schema.json` and every one under `refuse/<schema>/` refused by
//! it (python `jsonschema`, an independent implementation); every error document's file name
//! states the status format-spec/api-v1.md §4 gives its kind, and every `api.*` kind of that
//! table has one. A file the walk does not know fails it.

mod cli_support;
#[allow(dead_code)]
mod schema_support;

use airlock::api;
use airlock::report::Diagnostic;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json(rel: &str) -> serde_json::Value {
    let p = root().join("vectors/api-v1").join(rel);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The §4 table of api-v1.md: status by `api.*` kind.
fn status_table() -> BTreeMap<String, u16> {
    let spec = std::fs::read_to_string(root().join("format-spec/api-v1.md")).unwrap();
    let mut table = BTreeMap::new();
    for line in spec.lines().filter(|l| l.starts_with("| 4") || l.starts_with("| 5")) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let status: u16 = cols[1].parse().unwrap();
        for kind in cols[2].split('`').skip(1).step_by(2).filter(|k| k.starts_with("api.")) {
            assert!(table.insert(kind.to_string(), status).is_none(), "{kind} twice in api-v1.md §4");
        }
    }
    assert!(table.len() >= 12, "api-v1.md §4 lists {} api.* kinds", table.len());
    table
}

const VALIDATE: &str = r#"
import json, sys, glob, os
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
schemas = {os.path.basename(p)[:-len(".schema.json")]: json.load(open(p)) for p in glob.glob(sys.argv[1] + "/*.schema.json")}
reg = Registry().with_resources([(f"{n}.schema.json", Resource.from_contents(s)) for n, s in schemas.items()]
                                + [(s["$id"], Resource.from_contents(s)) for s in schemas.values() if "$id" in s])
wrong = []
for case in json.load(open(sys.argv[2])):
    stem, path, want = case
    v = Draft202012Validator(schemas[stem], registry=reg)
    ok = v.is_valid(json.load(open(path)))
    if ok != want:
        wrong.append([path, want, [e.message[:200] for e in v.iter_errors(json.load(open(path)))][:2]])
print(json.dumps(wrong))
"#;

#[test]
fn every_api_vector_is_known_and_answers_as_it_says() {
    let base = root().join("vectors/api-v1");
    let files = cli_support::files_under(&base);
    let (mut requests, mut responses) = (vec![], vec![]);
    for f in &files {
        let parts: Vec<&str> = f.split('/').collect();
        match parts.as_slice() {
            ["README.md"] => {}
            ["requests", n] if n.ends_with(".json") => requests.push(f.clone()),
            ["responses", side @ ("accept" | "refuse"), stem, n]
                if n.ends_with(".json") && root().join(format!("format-spec/schemas/{stem}.schema.json")).exists() =>
            {
                responses.push((stem.to_string(), *side == "accept", f.clone()));
            }
            _ => panic!(
                "unknown file vectors/api-v1/{f}: expected requests/NAME.json or responses/{{accept,refuse}}/SCHEMA/NAME.json (SCHEMA a file of format-spec/schemas)"
            ),
        }
    }

    // Requests: through the router, as the server routes them.
    let mut endpoints = BTreeSet::new();
    for f in &requests {
        let v = json(f);
        let (method, target, want) = (v["method"].as_str().unwrap(), v["target"].as_str().unwrap(), &v["expected"]);
        let got = api::route(method, target);
        match (want["endpoint"].as_str(), &got) {
            (Some(endpoint), Ok(r)) => {
                assert_eq!(r.name(), endpoint, "{f}");
                endpoints.insert(endpoint.to_string());
            }
            (None, Err(e)) => {
                let want = (want["status"].as_u64().map(|s| s as u16), want["kind"].as_str());
                assert_eq!((Some(e.status()), Some(&*e.id())), want, "{f}: {e}");
            }
            _ => panic!("{f}: expected {want}, the router gave {got:?}"),
        }
    }
    assert_eq!(endpoints.len(), 8, "a request vector for every endpoint: {endpoints:?}");

    // Error documents: the status in the name is the one §4 (or the command-error mapping) gives.
    let table = status_table();
    let mut covered = BTreeSet::new();
    for (_, _, f) in responses.iter().filter(|(stem, accept, _)| stem == "error-v1" && *accept) {
        let name = Path::new(f).file_stem().unwrap().to_string_lossy().into_owned();
        let (status, kind) = name.split_once('-').unwrap_or_else(|| panic!("{f}: name it STATUS-KIND.json"));
        let doc = json(f);
        assert_eq!(doc["error"]["kind"].as_str(), Some(kind), "{f}: the name states the document's kind");
        let want = table.get(kind).copied().unwrap_or_else(|| api::status_of_kind(kind));
        assert_eq!(status.parse::<u16>().ok(), Some(want), "{f}: api-v1.md §4 gives {kind} status {want}");
        covered.insert(kind.to_string());
    }
    let missing: Vec<&String> = table.keys().filter(|k| !covered.contains(*k)).collect();
    assert!(missing.is_empty(), "api-v1.md §4 kinds with no error vector: {missing:?}");
    for side in [true, false] {
        let stems: BTreeSet<&str> = responses.iter().filter(|r| r.1 == side).map(|r| r.0.as_str()).collect();
        for want in
            ["api-health-v1", "api-upload-v1", "api-bundle-v1", "evidence-search-v1", "error-v1", "gate-result-v1", "verify-report-v1"]
        {
            assert!(stems.contains(want), "no {} vector for {want}", if side { "accepted" } else { "refused" });
        }
    }

    // Responses: accepted or refused by their schema.
    if !schema_support::python_has("referencing") {
        return;
    }
    let cases: Vec<serde_json::Value> =
        responses.iter().map(|(stem, accept, f)| serde_json::json!([stem, base.join(f).display().to_string(), accept])).collect();
    let t = tempfile::tempdir().unwrap();
    let list = t.path().join("cases.json");
    std::fs::write(&list, serde_json::to_vec(&cases).unwrap()).unwrap();
    let o =
        std::process::Command::new("python3").arg("-c").arg(VALIDATE).arg(root().join("format-spec/schemas")).arg(&list).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wrong: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(wrong, serde_json::json!([]), "vectors the schemas answer otherwise ([path, expected valid, errors])");
}
