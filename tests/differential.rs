//! Differential test: for every valid bundle, the file set and bytes airlock's strict walker
//! reports equal what Python's zipfile/tarfile, Info-ZIP `unzip` and libarchive's `bsdtar` read;
//! every hostile corpus case is refused by airlock (and the table of which other readers accept
//! it is printed). Tools come from `cargo xtask setup`; a missing tool fails the test when
//! `AIRLOCK_REQUIRE_INTEROP=1`, and otherwise prints a loud SKIP.

use airlock::archive::{self, Format, Limits};
use airlock::conformance::hostile;
use airlock::digest::Sha256Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

type Files = BTreeMap<String, Vec<String>>;

const PY: &str = r#"
import sys, json, hashlib, zipfile, tarfile
p, fmt = sys.argv[1], sys.argv[2]
out = {}
if fmt == "zip":
    with zipfile.ZipFile(p) as z:
        for i in z.infolist():
            if i.is_dir():
                continue
            out.setdefault(i.filename, []).append(hashlib.sha256(z.read(i)).hexdigest())
else:
    if zipfile.is_zipfile(p):
        out["<python zipfile also opens this tar>"] = []
    with tarfile.open(p) as t:
        for m in t.getmembers():
            if m.isdir():
                continue
            out.setdefault(m.name, []).append(hashlib.sha256(t.extractfile(m).read()).hexdigest())
print(json.dumps(out, sort_keys=True))
"#;

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool} >/dev/null")).status().is_ok_and(|s| s.success())
}

/// Tools present; fails when a tool is missing and interop is required.
fn tools() -> Vec<&'static str> {
    let required = std::env::var("AIRLOCK_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
    let mut out = Vec::new();
    for t in ["python3", "unzip", "bsdtar"] {
        if have(t) {
            out.push(t);
        } else if required {
            panic!("{t} is missing and AIRLOCK_REQUIRE_INTEROP=1; run `cargo xtask setup`");
        } else {
            eprintln!("SKIP!!! differential: {t} not installed; run `cargo xtask setup` (CI requires it)");
        }
    }
    out
}

fn airlock_files(bytes: &[u8]) -> Result<Files, String> {
    let src = bytes.to_vec();
    let index = archive::walk(&src, &Limits::default()).map_err(|e| e.to_string())?;
    let mut out = Files::new();
    for e in &index.entries {
        let b = archive::read_member(&src, e, u64::MAX).map_err(|e| e.to_string())?;
        out.entry(e.name.clone()).or_default().push(Sha256Digest::of(&b).hex());
    }
    Ok(out)
}

fn tree_files(root: &Path) -> Files {
    let mut out = Files::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
                let kind =
                    if ft.is_file() { Sha256Digest::of(&std::fs::read(e.path()).unwrap()).hex() } else { "not a regular file".into() };
                out.entry(rel).or_default().push(kind);
            }
        }
    }
    out
}

/// What `tool` reads from the archive at `path`, or why it could not.
fn read_with(tool: &str, path: &Path, format: Format) -> Result<Files, String> {
    let fmt = match format {
        Format::Zip => "zip",
        Format::Tar => "tar",
    };
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = match tool {
        "python3" => {
            let mut c = Command::new("python3");
            c.args(["-c", PY]).arg(path).arg(fmt);
            c
        }
        "unzip" if format == Format::Zip => {
            let mut c = Command::new("unzip");
            c.args(["-qq", "-o"]).arg(path).arg("-d").arg(out_dir.path());
            c
        }
        "unzip" => return Err("n/a".into()),
        "bsdtar" => {
            let mut c = Command::new("bsdtar");
            c.arg("-xf").arg(path).arg("-C").arg(out_dir.path());
            c
        }
        _ => unreachable!(),
    };
    let out = cmd.env("LC_ALL", "C.UTF-8").output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    if tool == "python3" {
        let v: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        return Ok(v);
    }
    Ok(tree_files(out_dir.path()))
}

fn valid_bundles() -> Vec<(String, Format, Vec<u8>)> {
    let mut out = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile");
    for c in hostile::cases().into_iter().filter(|c| c.expect.rule.is_none()) {
        let f = if c.ext == "zip" { Format::Zip } else { Format::Tar };
        // The committed file, not the generator's output: the corpus harness ties the two.
        out.push((c.name.clone(), f, std::fs::read(dir.join(format!("{}.{}", c.name, c.ext))).unwrap()));
    }
    // A wider payload: nested paths, Unicode (NFC) names, an empty file, a 1 MiB member,
    // compressible text, and a zip as the last tar member (the writer must pad it away).
    let mut big = Vec::with_capacity(1 << 20);
    let mut x: u32 = 0x1234_5678;
    while big.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.extend_from_slice(&x.to_le_bytes());
    }
    let inner_zip = hostile::zip_bytes(&[hostile::stored("other/inner", b"inner\n")], &Default::default());
    let payload: Vec<(String, Vec<u8>)> = vec![
        ("artifacts/bin/app-linux-amd64".into(), big),
        ("artifacts/empty".into(), Vec::new()),
        ("other/zz-last.zip".into(), inner_zip),
        ("release/caf\u{e9}-notes.md".into(), "# caf\u{e9}\n".repeat(200).into_bytes()),
        ("sbom/app.spdx.json".into(), br#"{"spdxVersion":"SPDX-2.3"}"#.repeat(100)),
        ("vex/a/b/c/d.json".into(), b"{}".to_vec()),
    ];
    let plan = hostile::signed_plan(&payload);
    let worth: Vec<&str> = payload.iter().filter(|(_, b)| b.len() >= 64).map(|(p, _)| p.as_str()).collect();
    let deflating = hostile::signed_plan_deflating(&payload, &|p| worth.contains(&p));
    out.push(("wide-zip-stored".into(), Format::Zip, hostile::write_plan(Format::Zip, &plan, &payload)));
    out.push(("wide-zip-deflate".into(), Format::Zip, hostile::write_plan(Format::Zip, &deflating, &payload)));
    out.push(("wide-tar".into(), Format::Tar, hostile::write_plan(Format::Tar, &plan, &payload)));
    out
}

#[test]
fn valid_bundles_read_the_same_everywhere() {
    let tools = tools();
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, format, bytes) in valid_bundles() {
        let ours = airlock_files(&bytes).unwrap_or_else(|e| panic!("{name}: airlock refused a valid bundle: {e}"));
        assert!(ours.values().all(|v| v.len() == 1));
        let path = work.path().join(format!("{name}.{}", if format == Format::Zip { "zip" } else { "tar" }));
        std::fs::write(&path, &bytes).unwrap();
        for tool in &tools {
            match read_with(tool, &path, format) {
                Err(e) if e == "n/a" => {}
                Err(e) => failures.push(format!("{name}: {tool} could not read a bundle airlock accepts: {e}")),
                Ok(theirs) if theirs != ours => failures.push(format!("{name}: {tool} reads {theirs:?}\n  airlock reads {ours:?}")),
                Ok(_) => compared += 1,
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("differential: {compared} (bundle, tool) pairs agree with airlock");
}

#[test]
fn hostile_cases_are_refused_while_other_readers_differ() {
    let tools = tools();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile");
    let mut table = Vec::new();
    let mut lenient = 0;
    for c in hostile::cases().into_iter().filter(|c| c.expect.rule.is_some() && c.expect.limits.is_none()) {
        let path: PathBuf = dir.join(format!("{}.{}", c.name, c.ext));
        let bytes = std::fs::read(&path).unwrap();
        let refused = hostile::exercise(None, &bytes, &Limits::default()).is_err();
        assert!(refused, "{}: airlock accepted a hostile case", c.name);
        let format = if c.ext == "tar" { Format::Tar } else { Format::Zip };
        let mut row = format!("{:<34}", c.name);
        for tool in &tools {
            let r = read_with(tool, &path, format);
            let mark = match &r {
                Ok(_) => {
                    lenient += 1;
                    "reads"
                }
                Err(e) if e == "n/a" => "-",
                Err(_) => "refuses",
            };
            row.push_str(&format!(" {tool}={mark:<8}"));
        }
        table.push(row);
    }
    eprintln!("hostile cases: airlock refuses all; other readers:\n{}", table.join("\n"));
    if !tools.is_empty() {
        assert!(lenient > 0, "no other reader accepted any hostile case: the differential shows nothing");
    }
}
