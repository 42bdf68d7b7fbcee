//! Issue 21 item 1: every kind of input file airlock reads, given as a FIFO, a symbolic link to
//! `/dev/zero` and a directory, is refused quickly (exit 2) with a message naming the file;
//! never a hang on the FIFO or a read until memory runs out. A symbolic link to a directory
//! inside a tlog mirror is refused too.

mod cli_support;
mod tlog_support;

use airlock::keys::SecretKey;
use base64::Engine;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Hostile {
    Fifo,
    DevZero,
    Dir,
}

const ALL: [Hostile; 3] = [Hostile::Fifo, Hostile::DevZero, Hostile::Dir];

fn make(path: &Path, h: Hostile) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_dir_all(path);
    match h {
        Hostile::Fifo => {
            let st = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
            assert!(st.success());
        }
        Hostile::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Hostile::Dir => std::fs::create_dir(path).unwrap(),
    }
}

/// Runs airlock with a deadline: a run that is still going after it is a failure (and killed).
fn run(dir: &Path, args: &[&str]) -> cli_support::Out {
    let home = dir.join("home");
    let mut child = cli_support::command(&home)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Polled 1000 times 20 ms apart: about 20 s.
    let mut polls = 0;
    while child.try_wait().unwrap().is_none() {
        polls += 1;
        if polls > 1000 {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("airlock {args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cli_support::Out::from(child.wait_with_output().unwrap())
}

struct Fixture {
    dir: tempfile::TempDir,
    vkey: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = SecretKey::from_seed(&[9; 32]);
    std::fs::write(d.join("a.key"), k.to_file()).unwrap();
    std::fs::write(d.join("a.pub"), k.public().to_file()).unwrap();
    std::fs::create_dir_all(d.join("in/artifacts")).unwrap();
    std::fs::write(d.join("in/artifacts/app.bin"), b"app").unwrap();
    let o = run(d, &["pack", "in", "-o", "good.zip", "--key", "a.key", "--product", "app", "--version", "1.0.0"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // A minisign public key (Ed, key id, 32 bytes) for the detached-signature case.
    let mut raw = b"Ed".to_vec();
    raw.extend([1u8; 8]);
    raw.extend(k.public().to_bytes());
    let mpub = format!("untrusted comment: minisign public key\n{}\n", base64::engine::general_purpose::STANDARD.encode(raw));
    std::fs::write(d.join("m.pub"), mpub).unwrap();
    let entries = tlog_support::entries(3, None);
    let note = tlog_support::write_log(&d.join("mirror"), &entries, &[]);
    std::fs::write(d.join("h.proof"), tlog_support::proof_of(&entries, 0, &note)).unwrap();
    std::fs::write(d.join("entry"), &entries[0]).unwrap();
    Fixture { dir, vkey: tlog_support::vkey().to_string() }
}

/// `file` (relative to the fixture) made hostile in each way; `args` must exit 2 quickly,
/// naming it, having written nothing at `out` if given.
fn refused(fx: &Fixture, file: &str, args: &[&str], out: Option<&str>) {
    let d = fx.dir.path();
    let keep = d.join(file).exists().then(|| std::fs::read(d.join(file)).unwrap());
    for h in ALL {
        make(&d.join(file), h);
        let o = run(d, args);
        assert_eq!(o.code, 2, "{file} as {h:?}: airlock {args:?}\n{}\n{}", o.stdout, o.stderr);
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(o.stderr.contains(name), "{file} as {h:?}: the message does not name it:\n{}", o.stderr);
        if let Some(out) = out {
            assert!(!d.join(out).exists(), "{file} as {h:?}: {out} was written");
        }
    }
    make(&d.join(file), Hostile::Dir);
    std::fs::remove_dir(d.join(file)).unwrap();
    if let Some(b) = keep {
        std::fs::write(d.join(file), b).unwrap();
    }
}

#[test]
fn bundle_keys_root_policy_release_metadata() {
    let fx = fixture();
    refused(&fx, "h.zip", &["verify", "h.zip", "--key", "a.pub"], None);
    refused(&fx, "h.pub", &["verify", "good.zip", "--key", "h.pub"], None);
    refused(&fx, "h.key", &["pack", "in", "-o", "out.zip", "--key", "h.key", "--product", "app", "--version", "1.0.0"], Some("out.zip"));
    refused(&fx, "h.json", &["verify", "good.zip", "--trust-root", "h.json"], None);
    refused(&fx, "h.json", &["trust", "init", "h.json", "--fingerprint", &"0".repeat(64)], None);
    refused(&fx, "p.json", &["gate", "good.zip", "--policy", "p.json", "--key", "a.pub"], None);
    refused(
        &fx,
        "r.toml",
        &["pack", "in", "-o", "out.zip", "--key", "a.key", "--release", "r.toml", "--product", "app", "--version", "1.0.0"],
        Some("out.zip"),
    );
}

#[test]
fn minisign_key_and_detached_signature() {
    let fx = fixture();
    refused(&fx, "h.pub", &["verify", "good.zip", "--key", "a.pub", "--minisign-key", "h.pub"], None);
    refused(&fx, "good.zip.minisig", &["verify", "good.zip", "--key", "a.pub", "--minisign-key", "m.pub"], None);
}

#[test]
fn tlog_mirror_files_and_proofs() {
    let fx = fixture();
    let vk = fx.vkey.as_str();
    refused(&fx, "mirror/checkpoint", &["tlog", "import", "mirror", "--log-key", vk], None);
    let tile = airlock::tlog::tiles::build_tiles(&tlog_support::entries(3, None))
        .into_iter()
        .next()
        .map(|(kind, id, _)| format!("mirror/{}", id.path_of(kind)))
        .unwrap();
    refused(&fx, &tile, &["tlog", "import", "mirror", "--log-key", vk], None);
    refused(&fx, "h.proof", &["tlog", "verify-proof", "h.proof", "--entry", "entry", "--log-key", vk], None);
    refused(&fx, "entry", &["tlog", "verify-proof", "h.proof", "--entry", "entry", "--log-key", vk], None);
}

#[test]
fn a_symlinked_directory_inside_a_tlog_mirror_is_refused() {
    let fx = fixture();
    let d = fx.dir.path();
    std::fs::rename(d.join("mirror/tile"), d.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(d.join("elsewhere"), d.join("mirror/tile")).unwrap();
    let o = run(d, &["tlog", "import", "mirror", "--log-key", &fx.vkey, "--json"]);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("mirror/tile") && o.stderr.contains("symbolic link"), "{}", o.stderr);
    assert!(!d.join("home").join("tlog").exists() || std::fs::read_dir(d.join("home/tlog")).unwrap().count() <= 1);
}
