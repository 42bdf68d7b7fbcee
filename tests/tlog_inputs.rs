//! Issue 21 item 9, transparency-log inputs: a malformed proof file cannot be checked (exit 2,
//! not a refusal); a tile too short and one too long are the same failure (the same exit code
//! and rule).

mod cli_support;
mod tlog_support;

use std::path::Path;

struct Log {
    dir: tempfile::TempDir,
    vkey: String,
    tile: String,
}

fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let entries = tlog_support::entries(3, None);
    let note = tlog_support::write_log(&dir.path().join("mirror"), &entries, &[]);
    std::fs::write(dir.path().join("entry"), &entries[0]).unwrap();
    std::fs::write(dir.path().join("good.proof"), tlog_support::proof_of(&entries, 0, &note)).unwrap();
    let tile = airlock::tlog::tiles::build_tiles(&entries)
        .into_iter()
        .find(|(kind, _, _)| *kind == airlock::tlog::tiles::TileKind::Hashes)
        .map(|(kind, id, _)| format!("mirror/{}", id.path_of(kind)))
        .unwrap();
    Log { dir, vkey: tlog_support::vkey().to_string(), tile }
}

fn run(dir: &Path, args: &[&str]) -> cli_support::Out {
    cli_support::run_airlock(dir, &dir.join("home"), &[], args)
}

#[test]
fn a_malformed_proof_file_could_not_be_checked() {
    let l = log();
    let d = l.dir.path();
    let o = run(d, &["tlog", "verify-proof", "good.proof", "--entry", "entry", "--log-key", &l.vkey]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::write(d.join("bad.proof"), b"c2sp.org/tlog-proof@v1\nindex x\n").unwrap();
    let o = run(d, &["tlog", "verify-proof", "bad.proof", "--entry", "entry", "--log-key", &l.vkey, "--json"]);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    let doc = o.json();
    assert_eq!(doc["outcome"], "error", "{doc}");
    assert!(doc["error"]["message"].as_str().unwrap().contains("bad.proof"), "{doc}");
}

#[test]
fn a_tile_too_short_and_one_too_long_fail_alike() {
    let mut seen = Vec::new();
    for delta in [-1i64, 1, 32, 9000] {
        let l = log();
        let d = l.dir.path();
        let p = d.join(&l.tile);
        let mut b = std::fs::read(&p).unwrap();
        if delta < 0 {
            b.pop();
        } else {
            b.extend(std::iter::repeat_n(7u8, delta as usize));
        }
        std::fs::write(&p, &b).unwrap();
        let o = run(d, &["tlog", "import", "mirror", "--log-key", &l.vkey, "--json"]);
        let doc = o.json();
        seen.push((delta, o.code, doc["error"]["kind"].as_str().map(str::to_string)));
    }
    assert!(seen.iter().all(|s| s.1 == seen[0].1 && s.2 == seen[0].2), "{seen:?}");
    assert_ne!(seen[0].1, 0, "{seen:?}");
}
