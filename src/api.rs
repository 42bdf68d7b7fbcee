//! The promotion-evidence HTTP API (format-spec/api-v1.md), sans-I/O: which endpoint a request
//! line names ([`route`]), the refusals the server answers with ([`ApiError`], each with its
//! HTTP status and error-document id), the constant-time token check, and the Prometheus text
//! of the server's counters. The shell (`cmd::serve`) owns sockets, timeouts and the ledger.

use crate::ledger::{Filter, Outcome};
use crate::time::Timestamp;
use std::sync::atomic::{AtomicU64, Ordering};

/// Schema of the upload response.
pub const UPLOAD_SCHEMA: &str = "airlock/api-upload/v1";
/// Schema of `GET /evidence/{bundleId}`.
pub const BUNDLE_SCHEMA: &str = "airlock/api-bundle/v1";
/// Schema of `GET /evidence/search` (the document of `airlock evidence search --json`).
pub const SEARCH_SCHEMA: &str = "airlock/evidence-search/v1";
/// Schema of `GET /healthz`.
pub const HEALTH_SCHEMA: &str = "airlock/api-health/v1";

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /evidence`: verify an uploaded bundle, record the verdict, keep a verified bundle.
    Upload,
    /// `POST /evidence/verify`: verify an uploaded bundle and record the verdict; keep nothing.
    Verify,
    /// `POST /evidence/snapshot`: the ledger as a signed export bundle (`evidence export`).
    Snapshot,
    /// `GET /evidence/score?artifact_id=<bundleId>`: the gate document for a kept bundle.
    Score {
        /// The kept bundle's id.
        bundle_id: String,
    },
    /// `GET /evidence/search?…`: the ledger search.
    Search(Filter),
    /// `GET /evidence/{bundleId}`: a kept bundle's records.
    Bundle {
        /// The bundle id (64 lowercase hex digits).
        bundle_id: String,
    },
    /// `GET /healthz`.
    Health,
    /// `GET /metrics`.
    Metrics,
}

impl Route {
    /// The endpoint's name in metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Upload => "upload",
            Route::Verify => "verify",
            Route::Snapshot => "snapshot",
            Route::Score { .. } => "score",
            Route::Search(_) => "search",
            Route::Bundle { .. } => "bundle",
            Route::Health => "healthz",
            Route::Metrics => "metrics",
        }
    }

    /// Whether the request carries a body (an uploaded bundle).
    pub fn takes_body(&self) -> bool {
        matches!(self, Route::Upload | Route::Verify)
    }

    /// Whether a bearer token is required when the server has tokens (all but `/healthz`).
    pub fn needs_token(&self) -> bool {
        !matches!(self, Route::Health)
    }
}

/// A refused request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// No endpoint has this path.
    #[error(
        "no endpoint {path:?}; expected /evidence, /evidence/verify, /evidence/snapshot, /evidence/score, /evidence/search, /evidence/<bundleId>, /healthz or /metrics"
    )]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// The endpoint exists but not for this method.
    #[error("{method} is not allowed on {path}; expected {allowed}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
        /// The method the endpoint takes.
        allowed: &'static str,
    },
    /// A `{bundleId}` that is not 64 lowercase hex digits (path traversal included).
    #[error("bundle id {given:?} is not 64 lowercase hex digits (optionally after sha256:)")]
    BadBundleId {
        /// What was given (at most 80 characters).
        given: String,
    },
    /// A query parameter that is unknown, repeated or malformed.
    #[error("query parameter {name:?}: {detail}")]
    BadQuery {
        /// The parameter.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The request line or headers are not HTTP/1.x airlock accepts.
    #[error("malformed request: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// A body-taking request without `Content-Length`.
    #[error("an upload needs a Content-Length header (chunked transfer coding is not accepted)")]
    LengthRequired,
    /// The declared body is larger than the server takes; refused before reading it.
    #[error("the request body declares {declared} bytes; this server takes at most {limit}")]
    TooLarge {
        /// `Content-Length`.
        declared: u64,
        /// `--max-body`.
        limit: u64,
    },
    /// No bearer token, or not one of the server's.
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// The client did not send its headers or body in time.
    #[error("the client did not send the request {what} within {seconds} s")]
    Timeout {
        /// `headers` or `body`.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// Every request slot is taken.
    #[error("the server is handling {limit} requests already")]
    Busy {
        /// `--max-concurrent`.
        limit: usize,
    },
    /// `GET /evidence/score` on a server started without `--policy`.
    #[error("this server has no gate policy (airlock serve --policy FILE)")]
    NoPolicy,
    /// No bundle with this id was uploaded and verified here.
    #[error("no bundle {bundle_id} was uploaded and verified here")]
    UnknownBundle {
        /// The id asked for.
        bundle_id: String,
    },
    /// Keeping the upload would take the kept bundles over the server's quota.
    #[error("the kept bundles hold {used} bytes; this upload of {size} bytes would pass the quota of {quota} bytes")]
    Quota {
        /// Bytes already kept under `serve/bundles`.
        used: u64,
        /// The upload's size (declared, or of the verified bundle).
        size: u64,
        /// `--bundle-quota`.
        quota: u64,
    },
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownBundle { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::BadBundleId { .. } | ApiError::BadQuery { .. } | ApiError::Malformed { .. } => 400,
            ApiError::LengthRequired => 411,
            ApiError::TooLarge { .. } => 413,
            ApiError::Unauthorized => 401,
            ApiError::Timeout { .. } => 408,
            ApiError::Busy { .. } => 503,
            ApiError::NoPolicy => 409,
            ApiError::Quota { .. } => 507,
        }
    }
}

/// The HTTP status of a command's error document (`kind` from its error): the server's own
/// state (ledger, files, clock) is 500, a database that cannot be reached 503, anything else
/// is the request's input (400).
pub fn status_of_kind(kind: &str) -> u16 {
    match kind {
        "ledger.postgres" | "ledger.busy" => 503,
        k if k.starts_with("ledger.") || k == "io" || k.starts_with("clock") || k.starts_with("trust-store") => 500,
        _ => 400,
    }
}

/// Whether keeping `size` more bytes next to `used` stays within `quota`.
pub fn within_quota(used: u64, size: u64, quota: u64) -> Result<(), ApiError> {
    match used.checked_add(size) {
        Some(total) if total <= quota => Ok(()),
        _ => Err(ApiError::Quota { used, size, quota }),
    }
}

/// Checks a bundle id: 64 lowercase hex digits as a manifest's `bundleId` has them (a
/// `sha256:` prefix is accepted and dropped), nothing else, so it can never name a path outside
/// the server's bundle directory.
pub fn bundle_id(s: &str) -> Result<String, ApiError> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(hex.to_string())
    } else {
        Err(ApiError::BadBundleId { given: s.chars().take(80).collect() })
    }
}

/// Decodes `%XX` and `+` in a query component; invalid escapes and non-UTF-8 are refused.
fn decode(name: &str, s: &str) -> Result<String, ApiError> {
    let bad = |detail: &str| ApiError::BadQuery { name: name.into(), detail: detail.into() };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(hex.ok_or_else(|| bad("a % escape is not followed by two hex digits"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad("not UTF-8"))
}

/// The query's parameters, each name at most once, only names in `allowed`.
fn query(q: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen: Vec<(String, String)> = vec![];
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k, k)?;
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::BadQuery { name: k, detail: format!("unknown; expected one of {}", allowed.join(", ")) });
        }
        if seen.iter().any(|(n, _)| *n == k) {
            return Err(ApiError::BadQuery { name: k, detail: "given more than once".into() });
        }
        let v = decode(&k, v)?;
        seen.push((k, v));
    }
    Ok(seen)
}

/// The search parameters (as `evidence search`'s options; `limit` defaults to 100, 0 is all).
pub const SEARCH_PARAMS: [&str; 9] = ["product", "version", "bundle_id", "command", "outcome", "channel", "since", "until", "limit"];

fn search_filter(q: &str) -> Result<Filter, ApiError> {
    let mut f = Filter { limit: Some(100), ..Default::default() };
    for (k, v) in query(q, &SEARCH_PARAMS)? {
        let bad = |detail: String| ApiError::BadQuery { name: k.clone(), detail };
        let time = |v: &str| Timestamp::parse(v).map_err(|e| bad(e.to_string()));
        match k.as_str() {
            "product" => f.product = Some(v),
            "version" => f.version = Some(v),
            "bundle_id" => f.bundle_id = Some(v),
            "command" => f.command = Some(v),
            "channel" => f.channel = Some(v),
            "outcome" => f.outcome = Some(Outcome::parse(&v).ok_or_else(|| bad("expected pass, fail or error".into()))?),
            "since" => f.since = Some(time(&v)?),
            "until" => f.until = Some(time(&v)?),
            _ => {
                let n: u64 = v.parse().map_err(|_| bad("expected a non-negative integer".into()))?;
                f.limit = (n > 0).then_some(n);
            }
        }
    }
    Ok(f)
}

/// Routes a request line's method and target (path and query).
pub fn route(method: &str, target: &str) -> Result<Route, ApiError> {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let must = |allowed: &'static str| {
        if method == allowed { Ok(()) } else { Err(ApiError::MethodNotAllowed { method: method.into(), path: path.into(), allowed }) }
    };
    let only = |allowed: &'static str, r: Route| must(allowed).map(|()| r);
    let no_query = || if q.is_empty() { Ok(()) } else { query(q, &[]).map(drop) };
    match path {
        "/evidence" => no_query().and_then(|()| only("POST", Route::Upload)),
        "/evidence/verify" => no_query().and_then(|()| only("POST", Route::Verify)),
        "/evidence/snapshot" => no_query().and_then(|()| only("POST", Route::Snapshot)),
        "/healthz" => no_query().and_then(|()| only("GET", Route::Health)),
        "/metrics" => no_query().and_then(|()| only("GET", Route::Metrics)),
        "/evidence/search" => must("GET").and_then(|()| Ok(Route::Search(search_filter(q)?))),
        "/evidence/score" => {
            must("GET")?;
            let params = query(q, &["artifact_id"])?;
            let Some((_, id)) = params.into_iter().next() else {
                return Err(ApiError::BadQuery { name: "artifact_id".into(), detail: "required".into() });
            };
            Ok(Route::Score { bundle_id: bundle_id(&id)? })
        }
        p => match p.strip_prefix("/evidence/") {
            Some(id) => {
                must("GET")?;
                no_query()?;
                Ok(Route::Bundle { bundle_id: bundle_id(&decode("bundleId", id)?)? })
            }
            None => Err(ApiError::NotFound { path: path.chars().take(200).collect() }),
        },
    }
}

/// The bearer token of an `Authorization` header value, if it is one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `given` is one of `tokens`, comparing every token in constant time (for a given
/// length) so that timing does not reveal how much of a token matched.
pub fn token_ok(tokens: &[String], given: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mut ok = subtle::Choice::from(0);
    for t in tokens {
        ok |= t.as_bytes().ct_eq(given.as_bytes());
    }
    ok.into()
}

/// The server's counters (updated by the shell, rendered here).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests answered, by endpoint and status class (`[endpoint][class]`, classes 2xx..5xx).
    answered: [[AtomicU64; 4]; ENDPOINTS.len() + 1],
    /// Sum of request durations in microseconds, by endpoint.
    micros: [AtomicU64; ENDPOINTS.len() + 1],
    /// Requests being handled now.
    pub in_flight: AtomicU64,
    /// Connections refused because every slot was taken.
    pub refused_busy: AtomicU64,
}

const ENDPOINTS: [&str; 8] = ["upload", "verify", "snapshot", "score", "search", "bundle", "healthz", "metrics"];

impl Metrics {
    /// Counts one answered request (`endpoint` from [`Route::name`], or `None` when no route was
    /// decided).
    pub fn answered(&self, endpoint: Option<&str>, status: u16, micros: u64) {
        let e = endpoint.and_then(|n| ENDPOINTS.iter().position(|x| *x == n)).unwrap_or(ENDPOINTS.len());
        let class = usize::from(status / 100).clamp(2, 5) - 2;
        self.answered[e][class].fetch_add(1, Ordering::Relaxed);
        self.micros[e].fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4), `records` being the ledger's size.
    pub fn render(&self, records: Option<u64>) -> String {
        let mut s = String::from(
            "# HELP airlock_http_requests_total Requests answered, by endpoint and status class.\n# TYPE airlock_http_requests_total counter\n",
        );
        let names = ENDPOINTS.iter().copied().chain(["none"]);
        for (e, name) in names.clone().enumerate() {
            for (c, class) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let n = self.answered[e][c].load(Ordering::Relaxed);
                s.push_str(&format!("airlock_http_requests_total{{endpoint=\"{name}\",code=\"{class}\"}} {n}\n"));
            }
        }
        s.push_str(
            "# HELP airlock_http_request_seconds_total Time spent answering, by endpoint.\n# TYPE airlock_http_request_seconds_total counter\n",
        );
        for (e, name) in names.enumerate() {
            let us = self.micros[e].load(Ordering::Relaxed);
            s.push_str(&format!("airlock_http_request_seconds_total{{endpoint=\"{name}\"}} {}.{:06}\n", us / 1_000_000, us % 1_000_000));
        }
        s.push_str(&format!(
            "# HELP airlock_http_in_flight Requests being handled.\n# TYPE airlock_http_in_flight gauge\nairlock_http_in_flight {}\n",
            self.in_flight.load(Ordering::Relaxed)
        ));
        s.push_str(&format!(
            "# HELP airlock_http_refused_busy_total Connections refused at the concurrency limit.\n# TYPE airlock_http_refused_busy_total counter\nairlock_http_refused_busy_total {}\n",
            self.refused_busy.load(Ordering::Relaxed)
        ));
        if let Some(n) = records {
            s.push_str(&format!(
                "# HELP airlock_ledger_records Records in the evidence ledger.\n# TYPE airlock_ledger_records gauge\nairlock_ledger_records {n}\n"
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn routes_and_refusals() {
        assert_eq!(route("POST", "/evidence"), Ok(Route::Upload));
        assert_eq!(route("GET", &format!("/evidence/{ID}")), Ok(Route::Bundle { bundle_id: ID.into() }));
        assert_eq!(route("GET", &format!("/evidence/score?artifact_id=sha256%3A{ID}")), Ok(Route::Score { bundle_id: ID.into() }));
        assert_eq!(route("GET", "/evidence").unwrap_err().status(), 405);
        assert_eq!(route("GET", "/nope").unwrap_err().status(), 404);
        for traversal in [
            "/evidence/..%2F..%2Fetc%2Fpasswd",
            "/evidence/../../etc/passwd",
            "/evidence/sha256:..",
            "/evidence/sha256:/etc",
            &format!("/evidence/{}", ID.to_uppercase()),
        ] {
            assert!(matches!(route("GET", traversal), Err(ApiError::BadBundleId { .. })), "{traversal}");
        }
        let Ok(Route::Search(f)) = route("GET", "/evidence/search?product=app%20x&outcome=pass&limit=0") else { panic!() };
        assert_eq!((f.product.as_deref(), f.outcome, f.limit), (Some("app x"), Some(Outcome::Pass), None));
        assert!(matches!(route("GET", "/evidence/search?product=a&product=b"), Err(ApiError::BadQuery { .. })));
        assert!(matches!(route("GET", "/evidence/search?colour=red"), Err(ApiError::BadQuery { .. })));
        assert!(matches!(route("GET", "/evidence/search?since=yesterday"), Err(ApiError::BadQuery { .. })));
        assert!(matches!(route("GET", "/evidence/score"), Err(ApiError::BadQuery { .. })));
        assert!(matches!(route("GET", "/healthz?x=%zz"), Err(ApiError::BadQuery { .. })));
    }

    #[test]
    fn command_error_statuses() {
        assert_eq!(status_of_kind("ledger.postgres"), 503);
        assert_eq!(status_of_kind("ledger.sqlite"), 500);
        assert_eq!(status_of_kind("io"), 500);
        assert_eq!(status_of_kind("archive.not-an-archive"), 400);
    }

    #[test]
    fn quota() {
        assert_eq!(within_quota(60, 40, 100), Ok(()));
        let e = within_quota(61, 40, 100).unwrap_err();
        assert_eq!((e.status(), e), (507, ApiError::Quota { used: 61, size: 40, quota: 100 }));
        assert!(within_quota(1, u64::MAX, u64::MAX).is_err());
    }

    #[test]
    fn tokens() {
        let tokens = vec!["s3cret-token-0123".to_string()];
        assert!(token_ok(&tokens, "s3cret-token-0123"));
        assert!(!token_ok(&tokens, "s3cret-token-0124") && !token_ok(&tokens, "s3cret") && !token_ok(&[], ""));
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }

    #[test]
    fn metrics_text() {
        let m = Metrics::default();
        m.answered(Some("upload"), 201, 1_500_000);
        m.answered(None, 400, 10);
        let t = m.render(Some(3));
        assert!(t.contains("airlock_http_requests_total{endpoint=\"upload\",code=\"2xx\"} 1\n"), "{t}");
        assert!(t.contains("airlock_http_requests_total{endpoint=\"none\",code=\"4xx\"} 1\n"), "{t}");
        assert!(t.contains("airlock_http_request_seconds_total{endpoint=\"upload\"} 1.500000\n"), "{t}");
        assert!(t.contains("airlock_ledger_records 3\n"), "{t}");
    }
}
