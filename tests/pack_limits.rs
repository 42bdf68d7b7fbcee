//! Pack refuses a bundle that breaks a format limit before it writes anything: the verifier's
//! limits (format-spec/archive-rules-v1.md) are checked on the plan, not found by the
//! self-check after the bundle was written.

mod cli_support;

use std::fs;
use std::path::Path;
use std::process::Output;

fn airlock(dir: &Path, args: &[&str]) -> Output {
    cli_support::command(&dir.join("airlock-home"))
        .current_dir(dir)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run airlock")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn keygen(dir: &Path) {
    let o = airlock(dir, &["keygen", "-o", "k"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Nothing named like the output exists in `dir` (no bundle, no temporary file).
fn assert_nothing_written(dir: &Path, out: &str) {
    let left: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(out)).collect();
    assert!(left.is_empty(), "nothing written on refusal: {left:?}");
}

#[test]
fn pack_refuses_more_members_than_the_format_allows_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir);
    // 99,998 payload members and the three control members: one more than the 100,000 allowed.
    for d in 0..98 {
        let sub = dir.join(format!("rel/artifacts/d{d:02}"));
        fs::create_dir_all(&sub).unwrap();
        for i in 0..1_000 {
            fs::write(sub.join(format!("f{i:04}")), b"").unwrap();
        }
    }
    let last = dir.join("rel/artifacts/last");
    fs::create_dir_all(&last).unwrap();
    for i in 0..1_998 {
        fs::write(last.join(format!("f{i:04}")), b"").unwrap();
    }
    let o = airlock(
        dir,
        &["pack", "rel", "-o", "big.zip", "--key", "k.key", "--product", "p", "--version", "1.0.0", "--no-progress", "--json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("limit.member-count") && t.contains("100001") && t.contains("100000"), "names the limit and the count: {t}");
    assert!(t.contains("pack.limit"), "the error document's id: {t}");
    assert_nothing_written(dir, "big.zip");
}

#[test]
fn pack_refuses_a_deflated_member_verifiers_would_call_a_bomb_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keygen(dir);
    fs::create_dir_all(dir.join("rel/artifacts")).unwrap();
    fs::write(dir.join("rel/artifacts/zeros.img"), vec![0u8; 4 << 20]).unwrap();
    let args =
        ["pack", "rel", "-o", "z.zip", "--key", "k.key", "--product", "p", "--version", "1.0.0", "--no-progress", "--compress", "deflate"];
    let o = airlock(dir, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("limit.compression-ratio") && t.contains("artifacts/zeros.img"), "names the rule and the member: {t}");
    assert_nothing_written(dir, "z.zip");
    // Stored, the same member packs.
    let o = airlock(
        dir,
        &["pack", "rel", "-o", "z.zip", "--key", "k.key", "--product", "p", "--version", "1.0.0", "--no-progress", "--compress", "store"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
