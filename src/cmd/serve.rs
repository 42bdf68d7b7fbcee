//! `airlock serve`: the promotion-evidence API (format-spec/api-v1.md) over HTTP/1.1 on a
//! loopback port or a Unix socket.
//!
//! One request per connection (`Connection: close`), parsed by `httparse`; the request head is
//! bounded (16 KiB) and must arrive within `--header-timeout`, the body within `--body-timeout`,
//! and an upload whose `Content-Length` is over `--max-body` is refused before a byte of it is
//! read. At most `--max-concurrent` requests are handled at once; a connection beyond that is
//! answered 503 at once. SIGTERM or SIGINT stops accepting, lets the requests in flight finish,
//! and exits 0. Uploads, verification and the gate go through the same code as `airlock verify
//! --json` and `airlock gate --json` (their command lines are built and parsed by clap here), and
//! each verdict is appended to the `--store` ledger.

use super::{Cli, Command, Decided, Ui};
use crate::api::{self, ApiError, Metrics, Route};
use crate::ledger::{Draft, Head, Outcome};
use crate::report::{Diagnostic, ErrorBody, ErrorDoc};
use crate::store::backend::{LedgerStore, StoreUrl};
use crate::store::ledger as store;
use crate::trust::state::EvalTime;
use crate::{clock, json};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A line to stderr that never panics: a server whose log reader went away (a closed pipe)
/// keeps serving and still stops cleanly.
macro_rules! log {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 << 10;
/// Largest token file.
const MAX_TOKEN_FILE: u64 = 64 << 10;

/// Serve the evidence API.
#[derive(clap::Args, Debug)]
#[command(after_help = "Endpoints: POST /evidence, POST /evidence/verify, POST /evidence/snapshot,\n\
GET /evidence/score?artifact_id=, GET /evidence/{bundleId}, GET /evidence/search, GET /healthz,\n\
GET /metrics (format-spec/api-v1.md).\n\n\
Exit codes: 0 stopped by SIGTERM/SIGINT after finishing the requests in flight; 2 could not start.\n\n\
Examples:\n  airlock serve --listen 127.0.0.1:8443 --key release.pub --policy gate.json\n  \
airlock serve --unix /run/airlock/api.sock --token-file tokens --store 'host=/run/postgresql'")]
pub struct Args {
    /// Listen on this TCP address (default 127.0.0.1:7878); a non-loopback address needs
    /// --allow-remote.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "unix")]
    pub listen: Option<SocketAddr>,
    /// Listen on this Unix socket instead (made mode 0600; it must not exist yet).
    #[arg(long, value_name = "PATH")]
    pub unix: Option<PathBuf>,
    /// Allow --listen on an address other than loopback (then use --token-file).
    #[arg(long)]
    pub allow_remote: bool,
    /// Require `Authorization: Bearer <token>`; one token per line, the file mode 0600.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The ledger verdicts are appended to (as for `evidence search`; default: ledger.sqlite
    /// under $AIRLOCK_HOME).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Trust this public key for uploads (ad-hoc, as `verify --key`); default: the pinned trust root.
    #[arg(long = "key", value_name = "PUB", conflicts_with = "trust_root")]
    pub keys: Vec<PathBuf>,
    /// Use this trust root instead of the pinned one (as `verify --trust-root`).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// Add keys to a gate role for GET /evidence/score with --key trust (as `gate --role-key`).
    #[arg(long = "role-key", value_name = "ROLE=PUB")]
    pub role_keys: Vec<String>,
    /// The gate policy for GET /evidence/score (as `gate --policy`).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    /// Largest upload in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_body: u64,
    /// Requests handled at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_concurrent: u64,
    /// Seconds a client has to send the request line and headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a client has to send the body.
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub body_timeout: u64,
    /// Most bytes the verified bundles kept under $AIRLOCK_HOME/serve/bundles may take in all;
    /// an upload beyond it is refused (507).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 30)]
    pub bundle_quota: u64,
}

/// What every connection's thread shares.
struct Server {
    args: Args,
    home: PathBuf,
    url: StoreUrl,
    tokens: Option<Vec<String>>,
    metrics: Metrics,
    seq: AtomicU64,
    /// Held while a verified upload is checked against the quota and kept.
    keeping: Mutex<()>,
}

/// A response body.
enum Body {
    /// Bytes made in memory (documents, metrics).
    Bytes(Vec<u8>),
    /// `head`, then a scratch file of `len` bytes copied to the socket in pieces (and removed
    /// after), then `tail`.
    File {
        /// Bytes before the file's.
        head: Vec<u8>,
        /// The file.
        file: Scratch,
        /// Its length.
        len: u64,
        /// Bytes after the file's.
        tail: Vec<u8>,
    },
}

impl Body {
    /// The bytes of an in-memory body (empty for a file).
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(b) => b,
            Body::File { .. } => &[],
        }
    }
}

/// A response.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, v: &serde_json::Value) -> Self {
        Reply { status, content_type: "application/json", body: Body::Bytes(json::canonical_value(v)), headers: vec![] }
    }

    fn error(route: Option<&Route>, e: &ApiError) -> Self {
        let doc = ErrorDoc {
            schema: crate::report::ERROR_SCHEMA.into(),
            command: command_name(route),
            bundle: None,
            outcome: crate::report::Outcome::Error,
            error: ErrorBody { kind: e.id().into_owned(), message: e.to_string(), hint: e.hint().into_owned() },
        };
        let mut r = Reply::json(e.status(), &serde_json::to_value(&doc).expect("an error document serialises"));
        if matches!(e, ApiError::Unauthorized) {
            r.headers.push(("WWW-Authenticate", "Bearer".into()));
        }
        if matches!(e, ApiError::Busy { .. }) {
            r.headers.push(("Retry-After", "1".into()));
        }
        r
    }

    /// A command's failure (its exit-2 error document), with the status its kind maps to.
    fn failed(route: &Route, e: &anyhow::Error, schema: &str) -> Self {
        let doc = super::error_doc(e, &command_name(Some(route)), schema);
        Reply::json(api::status_of_kind(&doc.error.kind), &serde_json::to_value(&doc).expect("an error document serialises"))
    }
}

fn command_name(route: Option<&Route>) -> String {
    format!("serve {}", route.map_or("request", |r| r.name()))
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        507 => "Insufficient Storage",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A connection: TCP or Unix.
trait Conn: Read + Write + Send {
    fn read_timeout(&self, d: Duration) -> std::io::Result<()>;
    fn write_timeout(&self, d: Duration) -> std::io::Result<()>;
    /// Ends our side of the connection (the response is complete).
    fn close(&self);
}

/// Most a lingering close discards of what the client still sends.
const LINGER_BYTES: usize = 256 << 10;

/// Ends the connection after a response: our side is shut, then up to [`LINGER_BYTES`] the
/// client still sends (a refused body, an unread request) are read and dropped for at most a
/// second, so the kernel does not answer them with a reset that would destroy the response in
/// the client's receive buffer before it reads it. A refused body is never kept.
fn linger_close(conn: &mut dyn Conn) {
    conn.close();
    let _ = conn.read_timeout(Duration::from_secs(1));
    let mut sink = [0u8; 8192];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

impl Conn for TcpStream {
    fn read_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))
    }
    fn write_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_write_timeout(Some(d))
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Conn for UnixStream {
    fn read_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))
    }
    fn write_timeout(&self, d: Duration) -> std::io::Result<()> {
        self.set_write_timeout(Some(d))
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    fn accept(&self) -> std::io::Result<Box<dyn Conn>> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Box::new(s) as Box<dyn Conn>),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Box::new(s) as Box<dyn Conn>),
        }
    }
}

fn read_tokens(path: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).with_context(|| format!("token file {}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        bail!(
            "token file {} has mode {:04o}; expected 0600 (readable by its owner only)\n  hint: chmod 600 {}",
            path.display(),
            meta.mode() & 0o7777,
            path.display()
        );
    }
    let bytes = crate::fsio::read_small(path, MAX_TOKEN_FILE)?;
    let text = String::from_utf8(bytes).with_context(|| format!("token file {} is not UTF-8", path.display()))?;
    let tokens: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if tokens.is_empty() || tokens.iter().any(|t| t.len() < 16 || t.chars().any(|c| !c.is_ascii_graphic())) {
        bail!(
            "token file {}: expected one token per line, each at least 16 printable ASCII characters\n  hint: make one with `head -c 32 /dev/urandom | base64`",
            path.display()
        );
    }
    Ok(tokens)
}

impl Args {
    /// Runs until SIGTERM or SIGINT.
    pub fn run(self) -> Result<u8> {
        let home = store::home()?;
        let url = StoreUrl::or_default(self.store.as_deref(), &home)?;
        drop(url.open()?);
        let tokens = self.token_file.as_deref().map(read_tokens).transpose()?;
        let listener = match (&self.unix, self.listen) {
            (Some(path), _) => {
                if std::fs::symlink_metadata(path).is_ok() {
                    bail!("{} exists; refusing to replace it\n  hint: remove it if no airlock serve is using it", path.display());
                }
                let l = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .with_context(|| format!("chmod 600 {}", path.display()))?;
                Listener::Unix(l, path.clone())
            }
            (None, listen) => {
                let addr = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7878)));
                if !addr.ip().is_loopback() && !self.allow_remote {
                    bail!(
                        "--listen {addr} is not a loopback address; the API answers only this machine unless --allow-remote is given\n  hint: use 127.0.0.1 or --unix, or add --allow-remote (with --token-file)"
                    );
                }
                Listener::Tcp(TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing the SIGTERM handler")?;
        }
        match &listener {
            Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                log!("airlock serve: listening on http://{}", l.local_addr()?);
            }
            Listener::Unix(l, p) => {
                l.set_nonblocking(true)?;
                log!("airlock serve: listening on unix:{}", p.display());
            }
        }
        let server = Arc::new(Server {
            args: self,
            home,
            url,
            tokens,
            metrics: Metrics::default(),
            seq: AtomicU64::new(0),
            keeping: Mutex::new(()),
        });
        let mut workers: Vec<std::thread::JoinHandle<()>> = vec![];
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok(conn) => {
                    workers.retain(|w| !w.is_finished());
                    let busy = server.metrics.in_flight.load(Ordering::SeqCst) >= server.args.max_concurrent;
                    if busy {
                        server.metrics.refused_busy.fetch_add(1, Ordering::Relaxed);
                        let s = Arc::clone(&server);
                        // Answered off the accept loop so a client that does not read cannot stall it.
                        let mut conn = conn;
                        std::thread::spawn(move || {
                            let e = ApiError::Busy { limit: s.args.max_concurrent as usize };
                            s.metrics.answered(None, e.status(), 0);
                            let _ = conn.write_timeout(Duration::from_secs(5));
                            send(conn.as_mut(), &Reply::error(None, &e));
                            linger_close(conn.as_mut());
                        });
                        continue;
                    }
                    server.metrics.in_flight.fetch_add(1, Ordering::SeqCst);
                    let s = Arc::clone(&server);
                    workers.push(std::thread::spawn(move || {
                        s.handle(conn);
                        s.metrics.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => log!("airlock serve: accept: {e}"),
            }
        }
        log!("airlock serve: stopping; finishing {} request(s) in flight", server.metrics.in_flight.load(Ordering::SeqCst));
        let _ = listener_cleanup(listener);
        for w in workers {
            let _ = w.join();
        }
        log!("airlock serve: stopped");
        Ok(0)
    }
}

fn listener_cleanup(l: Listener) -> Option<()> {
    if let Listener::Unix(l, path) = l {
        drop(l);
        std::fs::remove_file(path).ok()?;
    }
    Some(())
}

/// The request head: method, target, and the headers the server reads.
struct ReqHead {
    method: String,
    target: String,
    content_length: Option<u64>,
    chunked: bool,
    expect_continue: bool,
    authorization: Option<String>,
}

fn parse_head(buf: &[u8]) -> Result<ReqHead, ApiError> {
    let malformed = |detail: String| ApiError::Malformed { detail };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(malformed("the request head is incomplete".into())),
        Err(e) => return Err(malformed(e.to_string())),
    }
    let mut head = ReqHead {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        content_length: None,
        chunked: false,
        expect_continue: false,
        authorization: None,
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| malformed(format!("header {} is not ASCII", h.name)))?;
        match h.name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value.trim().parse::<u64>().map_err(|_| malformed(format!("Content-Length {value:?} is not a number")))?;
                if head.content_length.is_some_and(|m| m != n) {
                    return Err(malformed("two different Content-Length headers".into()));
                }
                head.content_length = Some(n);
            }
            "transfer-encoding" => head.chunked = true,
            "expect" => head.expect_continue = value.trim().eq_ignore_ascii_case("100-continue"),
            "authorization" if head.authorization.replace(value.to_string()).is_some() => {
                return Err(malformed("two Authorization headers".into()));
            }
            _ => {}
        }
    }
    Ok(head)
}

impl Server {
    fn handle(&self, mut conn: Box<dyn Conn>) {
        let started = clock::monotonic();
        let _ = conn.write_timeout(Duration::from_secs(self.args.body_timeout));
        let mut route = None;
        let reply = match self.request(conn.as_mut(), &mut route) {
            Ok(r) => r,
            Err(e) => Reply::error(route.as_ref(), &e),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.metrics.answered(route.as_ref().map(Route::name), reply.status, micros);
        send(conn.as_mut(), &reply);
        linger_close(conn.as_mut());
    }

    /// Reads until `deadline`, into `buf` (up to its capacity), stopping when `done(buf)`.
    fn read_until(
        conn: &mut dyn Conn,
        buf: &mut Vec<u8>,
        cap: usize,
        deadline: std::time::Instant,
        timeout: ApiError,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<(), ApiError> {
        let mut chunk = [0u8; 8192];
        while !done(buf) {
            let left = deadline.saturating_duration_since(clock::monotonic());
            if left.is_zero() {
                return Err(timeout);
            }
            conn.read_timeout(left).map_err(|e| ApiError::Malformed { detail: e.to_string() })?;
            let want = chunk.len().min(cap - buf.len());
            if want == 0 {
                return Ok(());
            }
            match conn.read(&mut chunk[..want]) {
                Ok(0) => return Err(ApiError::Malformed { detail: "the client closed the connection mid-request".into() }),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Err(timeout),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ApiError::Malformed { detail: e.to_string() }),
            }
        }
        Ok(())
    }

    fn request(&self, conn: &mut dyn Conn, route_out: &mut Option<Route>) -> Result<Reply, ApiError> {
        let header_deadline = clock::monotonic() + Duration::from_secs(self.args.header_timeout);
        let mut buf = Vec::with_capacity(4096);
        let end_of_head = |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n");
        let timeout = ApiError::Timeout { what: "headers", seconds: self.args.header_timeout };
        Self::read_until(conn, &mut buf, MAX_HEAD, header_deadline, timeout, end_of_head)?;
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
            return Err(ApiError::Malformed { detail: format!("the request head is larger than {MAX_HEAD} bytes") });
        };
        let head = parse_head(&buf[..end])?;
        let route = api::route(&head.method, &head.target)?;
        *route_out = Some(route.clone());
        if route.needs_token()
            && let Some(tokens) = &self.tokens
        {
            let given = head.authorization.as_deref().and_then(api::bearer).unwrap_or("");
            if !api::token_ok(tokens, given) {
                return Err(ApiError::Unauthorized);
            }
        }
        let mut body = buf[end..].to_vec();
        if route.takes_body() {
            if head.chunked {
                return Err(ApiError::LengthRequired);
            }
            let len = head.content_length.ok_or(ApiError::LengthRequired)?;
            if len > self.args.max_body {
                return Err(ApiError::TooLarge { declared: len, limit: self.args.max_body });
            }
            if route == Route::Upload {
                // Refused before reading, as for --max-body; checked again when the bundle is kept.
                api::within_quota(self.kept_bytes(), len, self.args.bundle_quota)?;
            }
            if body.len() as u64 > len {
                return Err(ApiError::Malformed { detail: "more bytes than Content-Length".into() });
            }
            if head.expect_continue && (body.len() as u64) < len {
                let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let deadline = clock::monotonic() + Duration::from_secs(self.args.body_timeout);
            let len = len as usize;
            body.reserve_exact(len - body.len());
            let timeout = ApiError::Timeout { what: "body", seconds: self.args.body_timeout };
            Self::read_until(conn, &mut body, len, deadline, timeout, |b| b.len() >= len)?;
        }
        Ok(self.dispatch(&route, &body))
    }

    fn dispatch(&self, route: &Route, body: &[u8]) -> Reply {
        let ui = Ui { quiet: true, progress: false };
        let result = match route {
            Route::Health => Ok(Reply::json(200, &serde_json::json!({"schema": api::HEALTH_SCHEMA, "status": "ok"}))),
            Route::Metrics => {
                let records = self.url.open_existing().ok().flatten().and_then(|s| s.count().ok());
                let text = self.metrics.render(records);
                Ok(Reply { status: 200, content_type: "text/plain; version=0.0.4", body: Body::Bytes(text.into_bytes()), headers: vec![] })
            }
            Route::Upload | Route::Verify => return self.verify(route, body, ui),
            Route::Score { bundle_id } => return self.score(route, bundle_id, ui),
            Route::Search(f) => self.search(f),
            Route::Bundle { bundle_id } => self.bundle(bundle_id),
            Route::Snapshot => self.snapshot(ui),
        };
        result.unwrap_or_else(|e| match e.downcast_ref::<ApiError>() {
            Some(api) => Reply::error(Some(route), api),
            None => Reply::failed(route, &e, crate::report::ERROR_SCHEMA),
        })
    }

    fn store(&self) -> Result<Box<dyn LedgerStore>> {
        Ok(self.url.open()?)
    }

    /// A scratch file under `$AIRLOCK_HOME/serve/` (made 0700) that is removed when dropped.
    fn scratch(&self, ext: &str) -> Result<Scratch> {
        let dir = self.home.join("serve");
        std::fs::create_dir_all(&dir).with_context(|| format!("making {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        Ok(Scratch(dir.join(format!("incoming-{}-{n}.{ext}", std::process::id()))))
    }

    /// Bytes the kept bundles take now (0 when none was kept yet).
    fn kept_bytes(&self) -> u64 {
        let dir = self.home.join("serve").join("bundles");
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
    }

    fn kept(&self, bundle_id: &str) -> PathBuf {
        // `bundle_id` passed api::bundle_id (64 hex digits) or came from a verified manifest.
        self.home.join("serve").join("bundles").join(format!("{bundle_id}.bundle"))
    }

    /// The trust options every verifying command line gets.
    fn trust_args(&self) -> Vec<String> {
        let mut a = vec![];
        for k in &self.args.keys {
            a.extend(["--key".to_string(), k.display().to_string()]);
        }
        if let Some(r) = &self.args.trust_root {
            a.extend(["--trust-root".to_string(), r.display().to_string()]);
        }
        a
    }

    /// Builds a command exactly as the CLI would parse it.
    fn command(&self, args: &[String]) -> Result<Command> {
        let argv = ["airlock".to_string()].into_iter().chain(args.iter().cloned()).chain(self.trust_args());
        Ok(<Cli as clap::Parser>::try_parse_from(argv)?.command)
    }

    /// Appends a verdict to the `--store` ledger.
    fn record(&self, command: &str, d: &Decided) -> Result<Head> {
        let now = match d.time {
            Some(EvalTime::Clock(t)) => t,
            _ => clock::now()?,
        };
        let site = store::site_key(&self.home)?;
        let mut db = self.store()?;
        Ok(db.append(Draft {
            site_id: site.public().keyid().hex(),
            recorded_at: now,
            command: command.to_string(),
            subject: d.subject.clone(),
            outcome: Outcome::from_exit(d.code),
            report: d.report.clone(),
        })?)
    }

    /// Records a command's failure as the CLI does (its error document) and answers with it.
    fn refused(&self, route: &Route, command: &str, schema: &str, e: anyhow::Error) -> Reply {
        let reply = Reply::failed(route, &e, schema);
        let doc: serde_json::Value = serde_json::from_slice(reply.body.bytes()).unwrap_or_default();
        let d = Decided { code: 2, report: doc, subject: Default::default(), time: None };
        match self.record(command, &d) {
            Ok(_) => reply,
            Err(e) => Reply::failed(route, &e, schema),
        }
    }

    fn verify(&self, route: &Route, body: &[u8], ui: Ui) -> Reply {
        let schema = crate::report::VERIFY_REPORT_SCHEMA;
        let run = || -> Result<(Decided, String, Scratch)> {
            let file = self.scratch("bundle")?;
            crate::fsio::atomic_write(&file.0, body, 0o600)?;
            let Command::Verify(v) = self.command(&["verify".into(), file.0.display().to_string(), "--json".into()])? else {
                unreachable!("a verify command line parses as verify")
            };
            let (d, r) = v.decide(ui)?;
            Ok((d, r.bundle_id().to_string(), file))
        };
        let (d, bundle_id, file) = match run() {
            Ok(x) => x,
            Err(e) => return self.refused(route, "verify", schema, e),
        };
        let head = match self.record("verify", &d) {
            Ok(h) => h,
            Err(e) => return Reply::failed(route, &e, schema),
        };
        if *route == Route::Verify {
            return Reply::json(200, &d.report);
        }
        let stored = d.code == 0 && {
            let dest = self.kept(&bundle_id);
            let _keeping = self.keeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // A bundle kept already is replaced by the same bytes: it does not count twice.
            let replaced = std::fs::metadata(&dest).map_or(0, |m| m.len());
            let used = self.kept_bytes().saturating_sub(replaced);
            if let Err(e) = api::within_quota(used, body.len() as u64, self.args.bundle_quota) {
                return Reply::error(Some(route), &e);
            }
            let kept = dest.parent().map(std::fs::create_dir_all).transpose().and_then(|_| std::fs::rename(&file.0, &dest));
            if let Err(e) = &kept {
                return Reply::failed(route, &anyhow::anyhow!("keeping the verified bundle {}: {e}", dest.display()), schema);
            }
            true
        };
        let doc = serde_json::json!({
            "schema": api::UPLOAD_SCHEMA,
            "bundleId": bundle_id,
            "outcome": Outcome::from_exit(d.code).name(),
            "stored": stored,
            "record": head,
            "report": d.report,
        });
        Reply::json(if stored { 201 } else { 422 }, &doc)
    }

    fn score(&self, route: &Route, bundle_id: &str, ui: Ui) -> Reply {
        let schema = crate::gate::GATE_RESULT_SCHEMA;
        let Some(policy) = &self.args.policy else { return Reply::error(Some(route), &ApiError::NoPolicy) };
        let path = self.kept(bundle_id);
        if !path.exists() {
            return Reply::error(Some(route), &ApiError::UnknownBundle { bundle_id: bundle_id.into() });
        }
        let run = || -> Result<Decided> {
            let mut args =
                vec!["gate".into(), path.display().to_string(), "--policy".into(), policy.display().to_string(), "--json".into()];
            for r in &self.args.role_keys {
                args.extend(["--role-key".to_string(), r.clone()]);
            }
            let Command::Gate(g) = self.command(&args)? else { unreachable!("a gate command line parses as gate") };
            Ok(g.decide(ui)?.0)
        };
        match run() {
            Ok(d) => match self.record("gate", &d) {
                Ok(_) => Reply::json(200, &d.report),
                Err(e) => Reply::failed(route, &e, schema),
            },
            Err(e) => self.refused(route, "gate", schema, e),
        }
    }

    fn bundle(&self, bundle_id: &str) -> Result<Reply> {
        let records = self.store()?.search(&crate::ledger::Filter { bundle_id: Some(bundle_id.into()), ..Default::default() })?;
        let stored = self.kept(bundle_id).exists();
        if !stored && records.is_empty() {
            return Err(ApiError::UnknownBundle { bundle_id: bundle_id.into() }.into());
        }
        Ok(Reply::json(
            200,
            &serde_json::json!({"schema": api::BUNDLE_SCHEMA, "bundleId": bundle_id, "stored": stored, "count": records.len(), "records": records}),
        ))
    }

    /// The search answer (`airlock/evidence-search/v1`, as `evidence search --json`): its
    /// records are written one at a time to a scratch file and sent from it between the
    /// document's head and tail, so `limit=0` over a large ledger is not held in memory. The
    /// document is RFC 8785: `count`, `records`, `schema` in that order, each record canonical.
    fn search(&self, f: &crate::ledger::Filter) -> Result<Reply> {
        use std::os::unix::fs::OpenOptionsExt;
        let store = self.store()?;
        let file = self.scratch("json")?;
        let opened = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file.0);
        let mut out = std::io::BufWriter::new(opened.with_context(|| format!("creating {}", file.0.display()))?);
        let (mut count, mut failed) = (0u64, None);
        store.search_each(f, &mut |r| {
            let bytes = json::canonical_value(&serde_json::to_value(&r).expect("a record serialises"));
            let comma: &[u8] = if count == 0 { b"" } else { b"," };
            match out.write_all(comma).and_then(|()| out.write_all(&bytes)) {
                Ok(()) => {
                    count += 1;
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = failed.map_or_else(|| out.flush().err(), Some) {
            return Err(e).with_context(|| format!("writing the search answer to {}", file.0.display()));
        }
        drop(out);
        let len = std::fs::metadata(&file.0).with_context(|| format!("reading {}", file.0.display()))?.len();
        let head = format!("{{\"count\":{count},\"records\":[").into_bytes();
        let tail = format!("],\"schema\":\"{}\"}}", api::SEARCH_SCHEMA).into_bytes();
        Ok(Reply { status: 200, content_type: "application/json", body: Body::File { head, file, len, tail }, headers: vec![] })
    }

    fn snapshot(&self, ui: Ui) -> Result<Reply> {
        // The store is opened first so that one gone away is the server's state (5xx), not the
        // export's "no ledger yet".
        drop(self.store()?);
        let out = self.scratch("zip")?;
        let mut args = vec!["evidence".to_string(), "export".into(), "-o".into(), out.0.display().to_string()];
        if let Some(s) = &self.args.store {
            args.extend(["--store".into(), s.clone()]);
        }
        let argv = ["airlock".to_string()].into_iter().chain(args);
        let Command::Evidence(e) = <Cli as clap::Parser>::try_parse_from(argv)?.command else {
            unreachable!("an export command line parses as evidence")
        };
        match e.run(ui)? {
            0 => {}
            _ => bail!("the ledger's chain is broken; refusing to export it\n  hint: run `airlock evidence verify`"),
        }
        // Sent from the file in pieces (a known length), so a large ledger is not held in memory.
        let len = std::fs::metadata(&out.0).with_context(|| format!("reading {}", out.0.display()))?.len();
        Ok(Reply {
            status: 200,
            content_type: "application/zip",
            body: Body::File { head: vec![], file: out, len, tail: vec![] },
            headers: vec![],
        })
    }
}

/// A file removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn send(conn: &mut dyn Conn, r: &Reply) {
    let len = match &r.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File { head, len, tail, .. } => head.len() as u64 + len + tail.len() as u64,
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        len
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let sent = conn.write_all(head.as_bytes()).and_then(|()| match &r.body {
        Body::Bytes(b) => conn.write_all(b),
        Body::File { head, file, len, tail } => {
            conn.write_all(head)?;
            let copied = std::io::copy(&mut std::fs::File::open(&file.0)?.take(*len), conn)?;
            if copied != *len {
                return Err(std::io::Error::other("the file shrank while it was sent"));
            }
            conn.write_all(tail)
        }
    });
    let _ = sent.and_then(|()| conn.flush());
}
