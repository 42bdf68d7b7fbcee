//! `examples/` stays valid: every file in it is one this test knows and checks (an unknown file
//! fails the walk, so nothing is added unexercised), and the console blocks of
//! `examples/README.md` run as written: a trust root and its rotation, packing the sample release
//! with either metadata file, both gate policies, a promotion flow, the fleet export and the
//! evidence API (serve on a Unix socket, upload, score, search, SIGTERM).

mod cli_support;

use std::collections::BTreeSet;
use std::path::PathBuf;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every file under `examples/` and where it is exercised.
const KNOWN: &[(&str, &str)] = &[
    ("README.md", "its console blocks run below"),
    ("release/artifacts/hello-linux-amd64", "packed, smoke-validated, gated (README.md)"),
    ("release/sbom/hello.spdx.json", "gated: sbom.coverage (README.md)"),
    ("release/release/notes.md", "packed (README.md)"),
    ("release-metadata.toml", "pack --release (README.md); same as the JSON (below)"),
    ("release-metadata.json", "pack --release (README.md); same as the TOML (below)"),
    ("gate-policy.json", "gate: allow (README.md)"),
    ("gate-policy.toml", "gate: deny, transparency.missing (README.md)"),
    ("fleet-results.jsonl", "inventory ingest and reconcile (README.md)"),
];

#[test]
fn every_file_in_examples_is_known_and_exercised() {
    let found = cli_support::files_under(&examples());
    let known: BTreeSet<String> = KNOWN.iter().map(|(f, _)| f.to_string()).collect();
    let unknown: Vec<&String> = found.difference(&known).collect();
    let missing: Vec<&String> = known.difference(&found).collect();
    assert!(unknown.is_empty(), "files in examples/ no test exercises (add them to KNOWN with a check): {unknown:?}");
    assert!(missing.is_empty(), "examples/ lost files the tests expect: {missing:?}");
    let readme = std::fs::read_to_string(examples().join("README.md")).unwrap();
    for f in known.iter().filter(|f| *f != "README.md") {
        let top = f.split('/').next().unwrap();
        assert!(readme.contains(&format!("`{top}")), "examples/README.md does not describe {top}");
    }
}

#[test]
fn the_examples_readme_runs_as_written() {
    let readme = std::fs::read_to_string(examples().join("README.md")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("checkout");
    cli_support::copy_tree(&examples(), &work.join("examples"));
    // The serve section starts a server in the background: stopped here if a step fails first.
    struct StopServer(PathBuf);
    impl Drop for StopServer {
        fn drop(&mut self) {
            let pid = std::fs::read_to_string(&self.0).ok().and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid.and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    let _server = StopServer(work.join("serve.pid"));
    let steps = cli_support::run_console("examples/README.md", &readme, &work, &t.path().join("home"));
    for uses in ["gate-policy.json", "gate-policy.toml", "release-metadata.toml", "release-metadata.json", "fleet-results.jsonl"] {
        assert!(steps.iter().any(|s| s.command.contains(uses)), "no console step uses examples/{uses}");
    }
    for flow in ["trust update", "promotion request", "promotion approve", "promotion execute", "airlock serve", "/evidence/search"] {
        assert!(steps.iter().any(|s| s.command.contains(flow)), "no console step runs {flow}");
    }
}

/// The TOML and JSON release metadata say the same thing (pack stores one normal form; the
/// README's `cmp` checks the bundles too).
#[test]
fn the_toml_and_json_release_metadata_are_the_same_document() {
    let toml_text = std::fs::read_to_string(examples().join("release-metadata.toml")).unwrap();
    let from_toml: serde_json::Value = toml::from_str(&toml_text).unwrap();
    let from_json: serde_json::Value = serde_json::from_slice(&std::fs::read(examples().join("release-metadata.json")).unwrap()).unwrap();
    assert_eq!(from_toml, from_json, "examples/release-metadata.toml and .json differ");
}
