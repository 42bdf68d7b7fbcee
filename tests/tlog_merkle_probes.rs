//! The transparency-dev/merkle inclusion and consistency probes (tests/data/tlog/tdev-merkle):
//! every file is one probe with `wantErr`; the harness walks the folder and fails on any file it
//! cannot classify. The subtree families are deliberately not copied (see SOURCE.txt).

use airlock::merkle::{self, Hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { walk(&p, out) } else { out.push(p) }
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().expect("base64 string")).expect("base64")
}

/// A probe's hash: exactly 32 bytes, else the probe carries a placeholder and nothing can match it.
fn hash(v: &Value) -> Option<Hash> {
    bytes(v).try_into().ok()
}

fn proof(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(vec![]),
        Value::Array(a) => a.iter().map(hash).collect(),
        other => panic!("proof is {other}"),
    }
}

fn inclusion(p: &Value) -> Result<(), String> {
    let (idx, size) = (p["leafIdx"].as_u64().unwrap(), p["treeSize"].as_u64().unwrap());
    let leaf = hash(&p["leafHash"]).ok_or("leaf hash is not 32 bytes")?;
    let root = hash(&p["root"]).ok_or("root is not 32 bytes")?;
    let pr = proof(&p["proof"]).ok_or("a proof hash is not 32 bytes")?;
    merkle::verify_inclusion(&leaf, idx, size, &pr, &root).map_err(|e| e.to_string())
}

fn consistency(p: &Value) -> Result<(), String> {
    let (s1, s2) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
    let pr = proof(&p["proof"]).ok_or("a proof hash is not 32 bytes")?;
    // Equal non-zero sizes: the roots are compared as the bytes given (Go compares byte slices),
    // whatever their length; the proof must be empty.
    if s1 == s2 && s1 > 0 {
        if !pr.is_empty() {
            return Err("equal sizes need an empty proof".into());
        }
        return if bytes(&p["root1"]) == bytes(&p["root2"]) { Ok(()) } else { Err("equal sizes, different roots".into()) };
    }
    let r1 = hash(&p["root1"]).ok_or("root1 is not 32 bytes")?;
    let r2 = hash(&p["root2"]).ok_or("root2 is not 32 bytes")?;
    merkle::verify_consistency(s1, s2, &pr, &r1, &r2).map_err(|e| e.to_string())
}

#[test]
fn all_196_probes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tlog/tdev-merkle");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let (mut ran, mut pass, mut fail) = (0, 0, 0);
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        if rel == "SOURCE.txt" || rel == "LICENSE" {
            continue;
        }
        let family = rel.strip_prefix("testdata/").and_then(|r| r.split('/').next()).unwrap_or("");
        assert!(rel.ends_with(".json"), "unknown file {rel}");
        let p: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let want_err = p["wantErr"].as_bool().unwrap_or_else(|| panic!("{rel}: no wantErr"));
        let got = match family {
            "inclusion" => inclusion(&p),
            "consistency" => consistency(&p),
            other => panic!("{rel}: unknown family {other:?} (subtree families are not in scope; see SOURCE.txt)"),
        };
        ran += 1;
        if want_err {
            fail += 1
        } else {
            pass += 1
        }
        if got.is_err() != want_err {
            wrong.push(format!("{rel} ({}): wantErr={want_err}, got {got:?}", p["desc"]));
        }
    }
    assert!(wrong.is_empty(), "{} probes disagree:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!((ran, pass, fail), (196, 12, 184), "probe counts");
}
