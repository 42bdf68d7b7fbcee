//! `airlock serve` through real HTTP clients (curl, and requests written by hand over
//! TcpStream/UnixStream for the hostile cases): every endpoint and every error status on a
//! loopback port and on a Unix socket, tokens, bounded bodies refused before they are read,
//! slow clients cut off, the concurrency limit, graceful SIGTERM, the gate document identical
//! to `airlock gate --json`, the 5xx answers of a failing store (SQLite gone, PostgreSQL
//! stopped) followed by a served request once it is back, the upload quota (507), and a large
//! snapshot served in bounded memory.

mod cli_support;
mod evidence_support;
mod pg_support;
mod schema_support;

use evidence_support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

const TOKEN: &str = "test-token-0123456789abcdef";

#[derive(Clone)]
enum Addr {
    Tcp(String),
    Unix(PathBuf),
}

struct Served {
    child: Child,
    addr: Addr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    fn start(home: &Path, args: &[&str]) -> Served {
        let mut child = cli_support::command(home).arg("serve").args(args).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("serve printed nothing").unwrap();
        let addr = match (first.split_once("listening on http://"), first.split_once("listening on unix:")) {
            (Some((_, a)), _) => Addr::Tcp(a.to_string()),
            (_, Some((_, p))) => Addr::Unix(PathBuf::from(p)),
            _ => panic!("unexpected first line: {first}"),
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(l + "\n"));
            }
        });
        Served { child, addr, log }
    }

    fn connect(&self) -> Box<dyn ReadWrite> {
        match &self.addr {
            Addr::Tcp(a) => Box::new(TcpStream::connect(a).unwrap()),
            Addr::Unix(p) => Box::new(UnixStream::connect(p).unwrap()),
        }
    }

    /// Sends `bytes` and reads the whole answer: (status, head, body).
    fn raw(&self, bytes: &[u8]) -> (u16, String, Vec<u8>) {
        let mut c = self.connect();
        c.write_all(bytes).unwrap();
        answer(c.as_mut())
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> (u16, String, Vec<u8>) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: airlock\r\n");
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\nContent-Type: application/zip\r\n", b.len()));
        }
        let mut bytes = format!("{req}\r\n").into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        self.raw(&bytes)
    }

    fn json(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, serde_json::Value) {
        let (status, head, body) = self.request(method, path, Some(TOKEN), body);
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(airlock::json::canonical_value(&v), body, "the response is not RFC 8785");
        (status, v)
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn answer(c: &mut dyn ReadWrite) -> (u16, String, Vec<u8>) {
    let mut all = vec![];
    c.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no head in {all:?}"));
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head}"));
    (status, head, all[split + 4..].to_vec())
}

struct Setup {
    dir: tempfile::TempDir,
    bundle: Vec<u8>,
    bundle_id: String,
}

impl Setup {
    fn new() -> Setup {
        let k = keys();
        let dir = tempfile::tempdir().unwrap();
        let bundle = zip_bundle(&standard_files(&k, &Spec::default()), &[&k.release]);
        let bundle_id = verified(&bundle, &[&k.release]).get().manifest().bundle_id.clone();
        for (name, key) in [("release", &k.release), ("builder", &k.builder), ("attestor", &k.attestor)] {
            std::fs::write(dir.path().join(format!("{name}.pub")), key.public().to_file()).unwrap();
        }
        std::fs::write(dir.path().join("policy.json"), policy_json(serde_json::json!({"transparency": {"required": false}}))).unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("# API tokens\n{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&tokens, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        std::fs::write(dir.path().join("app.zip"), &bundle).unwrap();
        Setup { dir, bundle, bundle_id }
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The trust and gate options a server and `airlock gate` share.
    fn trust(&self) -> Vec<String> {
        vec![
            "--key".into(),
            self.p("release.pub"),
            "--role-key".into(),
            format!("builder={}", self.p("builder.pub")),
            "--role-key".into(),
            format!("attestor={}", self.p("attestor.pub")),
        ]
    }

    fn serve(&self, extra: &[&str]) -> Served {
        let policy = self.p("policy.json");
        let tokens = self.p("tokens");
        let mut args: Vec<&str> = vec!["--token-file", &tokens, "--policy", &policy];
        let trust = self.trust();
        args.extend(trust.iter().map(String::as_str));
        args.extend_from_slice(extra);
        Served::start(&self.home(), &args)
    }
}

fn curl(s: &Served, args: &[&str]) -> (u16, Vec<u8>) {
    let mut c = std::process::Command::new("curl");
    c.args(["-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"]);
    let url = match &s.addr {
        Addr::Tcp(a) => format!("http://{a}"),
        Addr::Unix(p) => {
            c.arg("--unix-socket").arg(p);
            "http://airlock".into()
        }
    };
    let path = args.last().unwrap();
    c.args(&args[..args.len() - 1]).arg(format!("{url}{path}"));
    let o = c.output().unwrap();
    assert!(o.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let split = o.stdout.iter().rposition(|&b| b == b'\n').unwrap();
    (String::from_utf8_lossy(&o.stdout[split + 1..]).parse().unwrap(), o.stdout[..split].to_vec())
}

fn have_curl() -> bool {
    have_tool("curl", std::process::Command::new("curl").arg("--version"))
}

#[test]
fn every_endpoint_over_loopback_and_the_gate_document_is_airlock_gate_json() {
    let s = Setup::new();
    let srv = s.serve(&["--listen", "127.0.0.1:0"]);
    let (status, health) = srv.json("GET", "/healthz", None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    // Upload: verified through the CLI's verify path, recorded, kept.
    let (status, up) = srv.json("POST", "/evidence", Some(&s.bundle));
    assert_eq!(status, 201, "{up}");
    assert_eq!((up["bundleId"].as_str(), up["outcome"].as_str(), up["stored"].as_bool()), (Some(&*s.bundle_id), Some("pass"), Some(true)));
    assert_eq!(up["report"]["schema"], "airlock/verify-report/v1");
    let seq = up["record"]["seq"].as_u64().unwrap();

    // A tampered upload is verified, fails, is recorded and not kept: 422.
    let mut bad = s.bundle.clone();
    let at = bad.windows(APP_BYTES.len()).position(|w| w == APP_BYTES).unwrap();
    bad[at] ^= 1;
    let (status, refused) = srv.json("POST", "/evidence", Some(&bad));
    assert_eq!((status, refused["outcome"].as_str(), refused["stored"].as_bool()), (422, Some("fail"), Some(false)), "{refused}");
    assert_eq!(refused["record"]["seq"].as_u64(), Some(seq + 1));

    // Not a bundle at all: the CLI's error document, 400, and nothing kept.
    let (status, err) = srv.json("POST", "/evidence", Some(b"{\"not\": \"a bundle\"}"));
    assert_eq!((status, err["outcome"].as_str()), (400, Some("error")), "{err}");
    assert!(err["error"]["kind"].as_str().unwrap().starts_with("archive."), "{err}");

    let (status, v) = srv.json("POST", "/evidence/verify", Some(&s.bundle));
    assert_eq!((status, v["schema"].as_str(), v["outcome"].as_str()), (200, Some("airlock/verify-report/v1"), Some("pass")), "{v}");

    let (status, b) = srv.json("GET", &format!("/evidence/{}", s.bundle_id), None);
    assert_eq!((status, b["stored"].as_bool()), (200, Some(true)), "{b}");
    assert!(b["count"].as_u64().unwrap() >= 3, "{b}");

    // The score is `airlock gate --json` on the kept bundle: same gate input and decision.
    let (status, score) = srv.json("GET", &format!("/evidence/score?artifact_id={}", s.bundle_id), None);
    assert_eq!(status, 200, "{score}");
    let cli_home = s.dir.path().join("cli-home");
    let o = cli_support::command(&cli_home)
        .args(["gate", &s.p("app.zip"), "--policy", &s.p("policy.json"), "--json"])
        .args(s.trust())
        .output()
        .unwrap();
    let cli: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(score["gateInput"], cli["gateInput"]);
    assert_eq!(score["decision"]["decision"], cli["decision"]["decision"]);
    assert_eq!(score["decision"]["reasons"], cli["decision"]["reasons"]);
    assert_eq!(score["decision"]["gateInputDigest"], cli["decision"]["gateInputDigest"]);

    let (status, found) = srv.json("GET", "/evidence/search?command=verify&outcome=fail", None);
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");
    let (status, found) = srv.json("GET", "/evidence/search?command=gate", None);
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");

    // The snapshot is an export signed by the site key that `airlock verify` accepts.
    let (status, head, zip) = srv.request("POST", "/evidence/snapshot", Some(TOKEN), None);
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&zip));
    let snap = s.dir.path().join("snapshot.zip");
    std::fs::write(&snap, &zip).unwrap();
    let o = cli_support::command(&s.dir.path().join("other"))
        .args(["--no-record", "verify", snap.to_str().unwrap(), "--key", s.home().join("site.pub").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    let (status, head, metrics) = srv.request("GET", "/metrics", Some(TOKEN), None);
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(status, 200, "{head}");
    assert!(metrics.contains("airlock_http_requests_total{endpoint=\"upload\",code=\"2xx\"} 1\n"), "{metrics}");
    assert!(metrics.contains("airlock_ledger_records "), "{metrics}");

    // A real client over loopback too.
    if have_curl() {
        assert_eq!(curl(&srv, &["/healthz"]).0, 200);
        let auth = format!("Authorization: Bearer {TOKEN}");
        let (status, body) = curl(&srv, &["-H", &auth, "--data-binary", &format!("@{}", s.p("app.zip")), "/evidence/verify"]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(curl(&srv, &["-H", "Authorization: Bearer wrong-token-0123456789", "/evidence/search"]).0, 401);
    }

    // Every document matches its published schema.
    if schema_support::python_has("jsonschema") {
        let (_, health) = srv.json("GET", "/healthz", None);
        let (_, b) = srv.json("GET", &format!("/evidence/{}", s.bundle_id), None);
        let (_, found) = srv.json("GET", "/evidence/search?limit=0", None);
        let (_, missing) = srv.json("GET", "/evidence/score?artifact_id=00", None);
        for (schema, docs) in [
            ("api-health-v1.schema.json", vec![health]),
            ("api-upload-v1.schema.json", vec![up.clone(), refused.clone()]),
            ("api-bundle-v1.schema.json", vec![b]),
            ("evidence-search-v1.schema.json", vec![found]),
            ("verify-report-v1.schema.json", vec![v.clone(), err.clone()]),
            ("error-v1.schema.json", vec![missing]),
        ] {
            let paths: Vec<PathBuf> = docs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let p = s.dir.path().join(format!("{schema}.{i}.json"));
                    std::fs::write(&p, serde_json::to_vec(d).unwrap()).unwrap();
                    p
                })
                .collect();
            schema_support::validate(schema, &paths);
        }
    }

    // The CLI sees what the server recorded, and the chain verifies.
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "verify", "--json"]);
    assert_eq!((o.code, o.json()["outcome"].as_str()), (0, Some("pass")), "{}", o.stderr);
    assert_eq!(srv.stop(), Some(0));
}

/// method, path, token, body, expected status, expected error kind.
type Case<'a> = (&'a str, String, Option<&'a str>, Option<&'a [u8]>, u16, &'a str);

#[test]
fn every_error_status_with_an_error_document() {
    let s = Setup::new();
    let srv = s.serve(&["--listen", "127.0.0.1:0", "--max-body", "100000", "--header-timeout", "1", "--body-timeout", "2"]);
    let id = &s.bundle_id;
    let cases: Vec<Case> = vec![
        ("POST", "/evidence".into(), None, Some(&s.bundle), 401, "api.unauthorized"),
        ("POST", "/evidence".into(), Some("test-token-0123456789abcdeX"), Some(&s.bundle), 401, "api.unauthorized"),
        ("GET", "/metrics".into(), Some("short"), None, 401, "api.unauthorized"),
        ("GET", "/nope".into(), Some(TOKEN), None, 404, "api.not-found"),
        ("GET", "/evidence".into(), Some(TOKEN), None, 405, "api.method"),
        ("GET", "/evidence/..%2F..%2Fetc%2Fpasswd".into(), Some(TOKEN), None, 400, "api.bundle-id"),
        ("GET", "/evidence/../../etc/passwd".into(), Some(TOKEN), None, 400, "api.bundle-id"),
        ("GET", "/evidence/search?colour=red".into(), Some(TOKEN), None, 400, "api.query"),
        ("GET", "/evidence/search?since=yesterday".into(), Some(TOKEN), None, 400, "api.query"),
        ("GET", format!("/evidence/{id}"), Some(TOKEN), None, 404, "api.unknown-bundle"),
        ("GET", format!("/evidence/score?artifact_id={id}"), Some(TOKEN), None, 404, "api.unknown-bundle"),
        ("POST", "/evidence".into(), Some(TOKEN), None, 411, "api.length-required"),
    ];
    for (method, path, token, body, want, kind) in cases {
        let (status, head, body) = srv.request(method, &path, token, body);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: {e}: {head}"));
        assert_eq!(
            (status, doc["error"]["kind"].as_str(), doc["outcome"].as_str()),
            (want, Some(kind), Some("error")),
            "{method} {path}: {doc}"
        );
        assert!(!doc["error"]["hint"].as_str().unwrap().is_empty());
        if status == 401 {
            assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        }
    }
    // Malformed request line and headers.
    let (status, _, _) = srv.raw(b"GARBAGE\r\n\r\n");
    assert_eq!(status, 400);
    let (status, _, _) = srv
        .raw(format!("POST /evidence HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").as_bytes());
    assert_eq!(status, 411);

    // Oversized: refused from Content-Length alone, before any of the body is sent.
    let mut c = TcpStream::connect(match &srv.addr {
        Addr::Tcp(a) => a.clone(),
        Addr::Unix(_) => unreachable!(),
    })
    .unwrap();
    c.write_all(format!("POST /evidence HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1099511627776\r\n\r\n").as_bytes())
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (status, _, body) = answer(&mut c);
    assert_eq!(status, 413);
    assert!(String::from_utf8_lossy(&body).contains("api.too-large"));

    // Slow-loris: headers never finished, then a body that stalls: 408, and the server serves on.
    let mut c = srv.connect();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n").unwrap();
    let (status, _, body) = answer(c.as_mut());
    assert_eq!(status, 408);
    assert!(String::from_utf8_lossy(&body).contains("api.timeout"));
    let mut c = srv.connect();
    c.write_all(format!("POST /evidence HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 5000\r\n\r\nPK").as_bytes()).unwrap();
    let (status, _, _) = answer(c.as_mut());
    assert_eq!(status, 408);
    assert_eq!(srv.json("GET", "/healthz", None).0, 200);
    // A server without --policy cannot score: 409.
    let bare = Served::start(&s.dir.path().join("bare-home"), &["--listen", "127.0.0.1:0"]);
    let (status, _, body) = bare.request("GET", &format!("/evidence/score?artifact_id={id}"), None, None);
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("api.no-policy"));
    assert_eq!(bare.stop(), Some(0));
    // Nothing half-written: the refusals above recorded nothing.
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "search", "--json"]);
    assert_eq!(o.json()["count"], 0, "{}", o.stdout);
    assert_eq!(srv.stop(), Some(0));
}

#[test]
fn unix_socket_with_a_real_client_tokens_and_the_concurrency_limit() {
    let s = Setup::new();
    let sock = s.dir.path().join("api.sock");
    let srv = s.serve(&["--unix", sock.to_str().unwrap(), "--max-concurrent", "1", "--header-timeout", "3"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    if have_curl() {
        let auth = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(curl(&srv, &["/healthz"]).0, 200);
        assert_eq!(curl(&srv, &["-X", "POST", "--data-binary", &format!("@{}", s.p("app.zip")), "/evidence"]).0, 401);
        let (status, body) = curl(&srv, &["-H", &auth, "--data-binary", &format!("@{}", s.p("app.zip")), "/evidence"]);
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let (status, body) = curl(&srv, &["-H", &auth, &format!("/evidence/{}", s.bundle_id)]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    // One slot: a client holding it makes the next connection a 503.
    let mut holder = srv.connect();
    holder.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, head, _) = srv.request("GET", "/healthz", None, None);
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Retry-After: 1"));
    assert_eq!(answer(holder.as_mut()).0, 408);
    // The slot is free once the holder's connection is closed (the server lingers until then).
    drop(holder);
    let freed = (0..30).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        srv.request("GET", "/healthz", None, None).0 == 200
    });
    assert!(freed, "the slot was not freed");
    assert_eq!(srv.stop(), Some(0));
    assert!(!sock.exists(), "the socket is removed on shutdown");
}

#[test]
fn sigterm_finishes_the_upload_in_flight_then_exits_0() {
    let s = Setup::new();
    let srv = s.serve(&["--listen", "127.0.0.1:0", "--body-timeout", "30"]);
    let mut c = srv.connect();
    let half = s.bundle.len() / 2;
    c.write_all(
        format!("POST /evidence HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n", s.bundle.len()).as_bytes(),
    )
    .unwrap();
    c.write_all(&s.bundle[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = rustix::process::Pid::from_child(&srv.child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.write_all(&s.bundle[half..]).unwrap();
    let (status, _, body) = answer(c.as_mut());
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let log = srv.log.clone();
    assert_eq!(srv.stop_waiting(), Some(0));
    // The reader thread may still be copying the last lines: give it up to 5 s.
    for _ in 0..50 {
        if log.lock().unwrap().contains("stopped") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(log.lock().unwrap().contains("stopped"), "{}", log.lock().unwrap());
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "search", "--command", "verify", "--json"]);
    assert_eq!(o.json()["count"], 1);
}

impl Served {
    fn stop_waiting(mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

#[test]
fn refuses_to_start_when_unsafe() {
    let s = Setup::new();
    let loose = s.dir.path().join("loose-tokens");
    std::fs::write(&loose, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let o = cli_support::run_airlock(
        s.dir.path(),
        &s.home(),
        &[],
        &["serve", "--listen", "127.0.0.1:0", "--token-file", loose.to_str().unwrap()],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("0600"), "{}", o.stderr);
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--allow-remote"), "{}", o.stderr);
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["serve", "--listen", "127.0.0.1:0", "--store", "mysql://x"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("ledger store"), "{}", o.stderr);
}

/// The OpenAPI document names exactly the endpoints the server routes, with their methods.
#[test]
fn the_openapi_document_matches_the_router() {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec/api-v1.openapi.json")).unwrap())
            .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 8);
    let id = "0".repeat(64);
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let target = path.replace("{bundleId}", &id)
                + if path == "/evidence/score" {
                    "?artifact_id=0000000000000000000000000000000000000000000000000000000000000000"
                } else {
                    ""
                };
            let r = airlock::api::route(&method.to_uppercase(), &target);
            assert!(r.is_ok(), "{method} {path}: {r:?}");
        }
    }
}

/// With `--store postgres`, uploads land in PostgreSQL; when the database goes away the API
/// answers 503 with `ledger.postgres` and keeps serving.
#[test]
fn postgres_store_and_a_database_that_goes_away() {
    let Some(mut pg) = pg_support::PgServer::start() else { return };
    let url = pg.database("api");
    let s = Setup::new();
    let srv = s.serve(&["--listen", "127.0.0.1:0", "--store", &url]);
    let (status, up) = srv.json("POST", "/evidence", Some(&s.bundle));
    assert_eq!(status, 201, "{up}");
    let (status, found) = srv.json("GET", "/evidence/search", None);
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "verify", "--store", &url, "--json"]);
    assert_eq!((o.code, o.json()["count"].as_u64()), (0, Some(1)), "{}", o.stderr);
    // The local SQLite ledger was not written: the store is PostgreSQL.
    assert!(!s.home().join("ledger.sqlite").exists());
    pg.stop();
    let (status, err) = srv.json("GET", "/evidence/search", None);
    assert_eq!((status, err["error"]["kind"].as_str()), (503, Some("ledger.postgres")), "{err}");
    let (status, err) = srv.json("POST", "/evidence", Some(&s.bundle));
    assert_eq!(status, 503, "{err}");
    for (method, path) in [("GET", format!("/evidence/{}", s.bundle_id)), ("POST", "/evidence/snapshot".into())] {
        let (status, head, body) = srv.request(method, &path, Some(TOKEN), None);
        assert_eq!((status, error_kind(&body)), (503, "ledger.postgres".into()), "{method} {path}: {head}");
    }
    assert_eq!(srv.json("GET", "/healthz", None).0, 200);
    // The database back: the same server answers from it, the refused upload recorded nothing.
    pg.restart();
    let (status, found) = srv.json("GET", "/evidence/search", None);
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");
    assert_eq!(srv.json("POST", "/evidence", Some(&s.bundle)).0, 201);
    assert_eq!(srv.request("POST", "/evidence/snapshot", Some(TOKEN), None).0, 200);
    assert_eq!(srv.stop(), Some(0));
}

fn error_kind(body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    assert_eq!(doc["outcome"], "error", "{doc}");
    assert!(!doc["error"]["hint"].as_str().unwrap_or_default().is_empty(), "{doc}");
    doc["error"]["kind"].as_str().unwrap().to_string()
}

fn kept_bundles(home: &Path) -> usize {
    std::fs::read_dir(home.join("serve/bundles")).map_or(0, |d| d.count())
}

/// The server's own state failing (the ledger's directory replaced by a file, the scratch
/// directory unusable) is a 500 error document on every endpoint that needs it, nothing is kept,
/// and once the state is repaired the next request succeeds on the same server.
#[test]
fn a_failing_store_is_a_5xx_document_and_the_server_serves_on() {
    let s = Setup::new();
    let db_dir = s.dir.path().join("db");
    std::fs::create_dir_all(&db_dir).unwrap();
    let store = format!("sqlite:{}", db_dir.join("ledger.sqlite").display());
    let srv = s.serve(&["--listen", "127.0.0.1:0", "--store", &store]);
    let (status, up) = srv.json("POST", "/evidence", Some(&s.bundle));
    assert_eq!(status, 201, "{up}");

    // The ledger goes away: its directory is now a file.
    let away = s.dir.path().join("db.away");
    std::fs::rename(&db_dir, &away).unwrap();
    std::fs::write(&db_dir, b"not a directory").unwrap();
    let id = &s.bundle_id;
    for (method, path, body) in [
        ("GET", "/evidence/search".to_string(), None),
        ("GET", format!("/evidence/{id}"), None),
        ("GET", format!("/evidence/score?artifact_id={id}"), None),
        ("POST", "/evidence/verify".to_string(), Some(&s.bundle[..])),
        ("POST", "/evidence".to_string(), Some(&s.bundle[..])),
        ("POST", "/evidence/snapshot".to_string(), None),
    ] {
        let (status, head, body) = srv.request(method, &path, Some(TOKEN), body);
        assert_eq!(status, 500, "{method} {path}: {head}\n{}", String::from_utf8_lossy(&body));
        let kind = error_kind(&body);
        assert!(kind.starts_with("ledger.") || kind == "io", "{method} {path}: {kind}");
        assert!(head.contains("500 Internal Server Error"), "{head}");
    }
    assert_eq!(srv.json("GET", "/healthz", None).0, 200);
    let (status, _, metrics) = srv.request("GET", "/metrics", Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&metrics).contains("airlock_http_requests_total{endpoint=\"upload\",code=\"5xx\"} 1\n"));

    // Repaired: the same server answers from the same ledger, which holds only the first upload.
    std::fs::remove_file(&db_dir).unwrap();
    std::fs::rename(&away, &db_dir).unwrap();
    let (status, found) = srv.json("GET", "/evidence/search?command=verify", None);
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");
    assert_eq!(kept_bundles(&s.home()), 1);

    // The scratch directory unusable (a file where serve/ was): uploads and snapshots are 500.
    let serve_dir = s.home().join("serve");
    let serve_away = s.dir.path().join("serve.away");
    std::fs::rename(&serve_dir, &serve_away).unwrap();
    std::fs::write(&serve_dir, b"not a directory").unwrap();
    for (path, body) in [("/evidence", Some(&s.bundle[..])), ("/evidence/snapshot", None)] {
        let (status, head, body) = srv.request("POST", path, Some(TOKEN), body);
        assert_eq!(status, 500, "{path}: {head}\n{}", String::from_utf8_lossy(&body));
        error_kind(&body);
    }
    std::fs::remove_file(&serve_dir).unwrap();
    std::fs::rename(&serve_away, &serve_dir).unwrap();
    assert_eq!(srv.request("POST", "/evidence/snapshot", Some(TOKEN), None).0, 200);
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "verify", "--store", &store, "--json"]);
    assert_eq!((o.code, o.json()["outcome"].as_str()), (0, Some("pass")), "{}", o.stderr);
    assert_eq!(srv.stop(), Some(0));
}

/// `--bundle-quota`: an upload that would take the kept bundles over it is refused with 507
/// `api.quota` from its Content-Length, before it is read or recorded; verification (which
/// keeps nothing) is still answered.
#[test]
fn uploads_beyond_the_bundle_quota_are_507_before_they_are_read() {
    let s = Setup::new();
    let quota = (s.bundle.len() + s.bundle.len() / 2).to_string();
    let srv = s.serve(&["--listen", "127.0.0.1:0", "--bundle-quota", &quota]);
    assert_eq!(srv.json("POST", "/evidence", Some(&s.bundle)).0, 201);
    let (status, head, body) = srv.request("POST", "/evidence", Some(TOKEN), Some(&s.bundle));
    assert_eq!(status, 507, "{head}");
    assert!(head.contains("507 Insufficient Storage"), "{head}");
    assert_eq!(error_kind(&body), "api.quota");
    // Refused from the header alone: no body byte is needed.
    let mut c = srv.connect();
    c.write_all(format!("POST /evidence HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {quota}\r\n\r\n").as_bytes()).unwrap();
    let (status, _, body) = answer(c.as_mut());
    assert_eq!((status, error_kind(&body)), (507, "api.quota".to_string()));
    assert_eq!(srv.json("POST", "/evidence/verify", Some(&s.bundle)).0, 200);
    assert_eq!(kept_bundles(&s.home()), 1);
    let o = cli_support::run_airlock(s.dir.path(), &s.home(), &[], &["evidence", "search", "--json"]);
    assert_eq!(o.json()["count"], 2, "the first upload and the verify are recorded, the refusals not: {}", o.stdout);
    assert_eq!(srv.stop(), Some(0));
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `POST /evidence/snapshot` and `GET /evidence/search?limit=0` of a ledger much larger than the
/// server's memory bound: the records go to a file and the response is sent from it in pieces,
/// so the server's peak resident set (VmHWM) stays far below the ledger's size.
#[test]
fn a_large_snapshot_is_served_in_bounded_memory() {
    use airlock::ledger::{Draft, Ledger, Outcome, Subject};
    let s = Setup::new();
    let home = s.home();
    std::fs::create_dir_all(&home).unwrap();
    let site = airlock::store::ledger::site_key(&home).unwrap().public().keyid().hex();
    let mut db = airlock::store::ledger::SqliteLedger::open(&home).unwrap();
    // 1,600 records of ~48 KiB each: a 75 MiB ledger.
    const RECORDS: u64 = 1600;
    let mut total = 0u64;
    for i in 0..RECORDS {
        let filler: String = (0..48 * 1024 / 64).map(|j| airlock::digest::Sha256Digest::of(format!("{i}/{j}").as_bytes()).hex()).collect();
        let report = serde_json::json!({"schema": "test/report", "n": i, "filler": filler});
        total += filler.len() as u64;
        db.append(Draft {
            site_id: site.clone(),
            recorded_at: airlock::time::Timestamp(1_700_000_000 + i as i64),
            command: "verify".into(),
            subject: Subject::default(),
            outcome: Outcome::Pass,
            report,
        })
        .unwrap();
    }
    drop(db);
    let srv = s.serve(&["--listen", "127.0.0.1:0"]);
    let before = vm_hwm_kib(srv.child.id());
    let (status, head, zip) = srv.request("POST", "/evidence/snapshot", Some(TOKEN), None);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains(&format!("Content-Length: {}", zip.len())), "{head}");
    let after = vm_hwm_kib(srv.child.id());
    let ledger_kib = total / 1024;
    eprintln!("snapshot of a {ledger_kib} KiB ledger: server VmHWM {before} KiB before, {after} KiB after");
    assert!(
        after < before + ledger_kib / 3,
        "the server's peak RSS grew from {before} KiB to {after} KiB serving a {ledger_kib} KiB ledger; it is held in memory"
    );
    // The whole ledger as a search answer (limit=0) is streamed too.
    let (status, found) = srv.json("GET", "/evidence/search?limit=0", None);
    assert_eq!((status, found["count"].as_u64(), found["records"].as_array().map(Vec::len)), (200, Some(RECORDS), Some(RECORDS as usize)));
    let after_search = vm_hwm_kib(srv.child.id());
    eprintln!("search of the whole ledger: server VmHWM {after_search} KiB");
    assert!(after_search < before + ledger_kib / 3, "searching the whole {ledger_kib} KiB ledger took the server to {after_search} KiB");
    // And it is the whole ledger: the export verifies and imports as RECORDS records.
    let snap = s.dir.path().join("snapshot.zip");
    std::fs::write(&snap, &zip).unwrap();
    let other = s.dir.path().join("aggregator");
    let o = cli_support::run_airlock(
        s.dir.path(),
        &other,
        &[],
        &["evidence", "import", snap.to_str().unwrap(), "--site-key", home.join("site.pub").to_str().unwrap(), "--json"],
    );
    assert_eq!((o.code, o.json()["added"].as_u64()), (0, Some(RECORDS)), "{}{}", o.stdout, o.stderr);
    assert_eq!(srv.stop(), Some(0));
}
