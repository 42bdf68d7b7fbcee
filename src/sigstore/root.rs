//! `trusted_root.json` (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`, the
//! `dev.sigstore.trustroot.v1.TrustedRoot` message): certificate authorities, transparency logs,
//! CT logs and timestamp authorities, each with its validity window. A window's `start` is
//! required; both ends are inclusive (a closed interval, as the protobuf `TimeRange` says).

use super::{Nanos, SigstoreError, pki, unb64};
use serde_json::Value;

/// Media types of the trusted root this airlock reads.
pub const MEDIA_TYPES: [&str; 2] =
    ["application/vnd.dev.sigstore.trustedroot+json;version=0.1", "application/vnd.dev.sigstore.trustedroot.v0.2+json"];

/// A closed validity window; `end` absent means still valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant of validity.
    pub start: Nanos,
    /// Last instant of validity.
    pub end: Option<Nanos>,
}

impl Window {
    /// Whether `t` lies inside the window (both ends inclusive).
    pub fn contains(&self, t: Nanos) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
    /// For messages.
    pub fn show(&self) -> String {
        format!("[{}, {}]", super::show_time(self.start), self.end.map_or("open".into(), super::show_time))
    }
}

/// A transparency or CT log of the trusted root.
#[derive(Clone, Debug)]
pub struct Log {
    /// `baseUrl`.
    pub base_url: String,
    /// The log id (`logId.keyId`, SHA-256 of the DER public key for Rekor v1 and CT logs).
    pub log_id: Vec<u8>,
    /// The key, when its type is one this airlock verifies (RSA CT logs are listed but unused).
    pub key: Option<pki::VerifyKey>,
    /// The key's validity window.
    pub valid: Window,
}

impl Log {
    /// The authority (host and port) of `baseUrl`: the name Rekor signs checkpoints under.
    pub fn host(&self) -> &str {
        let s = self.base_url.split_once("://").map_or(self.base_url.as_str(), |(_, r)| r);
        s.split('/').next().unwrap_or(s)
    }
}

/// A certificate authority or timestamp authority: a chain (leaf or intermediate first, root
/// last) and its validity window.
#[derive(Clone, Debug)]
pub struct Authority {
    /// `uri`, for messages.
    pub uri: String,
    /// The certificates, parsed, in the order given.
    pub chain: Vec<pki::Cert>,
    /// The window in which the authority is trusted.
    pub valid: Window,
}

/// A parsed trusted root.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    /// Rekor logs.
    pub tlogs: Vec<Log>,
    /// Fulcio certificate authorities.
    pub cas: Vec<Authority>,
    /// CT logs.
    pub ctlogs: Vec<Log>,
    /// RFC 3161 timestamp authorities.
    pub tsas: Vec<Authority>,
}

fn bad(detail: impl Into<String>) -> SigstoreError {
    SigstoreError::TrustedRoot { detail: detail.into() }
}

/// RFC 3339 with optional fractional seconds, UTC (`Z`) only.
pub fn parse_time(s: &str) -> Option<Nanos> {
    let body = s.strip_suffix('Z')?;
    let (main, frac) = body.split_once('.').unwrap_or((body, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) || (body.contains('.') && frac.is_empty()) {
        return None;
    }
    let secs = crate::time::Timestamp::parse(&format!("{main}Z")).ok()?.0;
    let nanos = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse::<i64>().ok()? };
    secs.checked_mul(super::NANOS)?.checked_add(nanos)
}

fn field<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a Value, SigstoreError> {
    v.get(key).filter(|x| !x.is_null()).ok_or_else(|| bad(format!("{at}: `{key}` is missing")))
}

fn string<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a str, SigstoreError> {
    field(v, key, at)?.as_str().ok_or_else(|| bad(format!("{at}: `{key}` is not a string")))
}

fn bytes(v: &Value, key: &str, at: &str) -> Result<Vec<u8>, SigstoreError> {
    unb64(string(v, key, at)?).ok_or_else(|| bad(format!("{at}: `{key}` is not base64")))
}

fn window(v: &Value, at: &str) -> Result<Window, SigstoreError> {
    let time = |k: &str| -> Result<Option<Nanos>, SigstoreError> {
        match v.get(k).filter(|x| !x.is_null()) {
            None => Ok(None),
            Some(x) => {
                let s = x.as_str().ok_or_else(|| bad(format!("{at}.validFor.{k} is not a string")))?;
                parse_time(s).map(Some).ok_or_else(|| bad(format!("{at}.validFor.{k} {s:?} is not an RFC 3339 UTC time")))
            }
        }
    };
    let start = time("start")?.ok_or_else(|| bad(format!("{at}.validFor.start is missing; a validity window needs its start")))?;
    let end = time("end")?;
    if end.is_some_and(|e| e < start) {
        return Err(bad(format!("{at}.validFor ends before it starts")));
    }
    Ok(Window { start, end })
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], SigstoreError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(bad(format!("`{key}` is not an array"))),
    }
}

fn log(v: &Value, at: &str) -> Result<Log, SigstoreError> {
    let pk = field(v, "publicKey", at)?;
    let at_pk = format!("{at}.publicKey");
    let raw = bytes(pk, "rawBytes", &at_pk)?;
    let details = pk.get("keyDetails").and_then(Value::as_str).unwrap_or("");
    let valid = window(field(pk, "validFor", &at_pk)?, &at_pk)?;
    let key = match pki::VerifyKey::from_spki(&raw) {
        Ok(k) => Some(k),
        // RSA and other key types are listed in Sigstore's roots for old CT logs; such a log
        // can then never vouch for anything here.
        Err(_) if details.contains("RSA") => None,
        Err(e) => return Err(bad(format!("{at_pk}: {e}"))),
    };
    Ok(Log {
        base_url: string(v, "baseUrl", at)?.to_string(),
        log_id: bytes(field(v, "logId", at)?, "keyId", &format!("{at}.logId"))?,
        key,
        valid,
    })
}

fn authority(v: &Value, at: &str) -> Result<Authority, SigstoreError> {
    let certs = array(field(v, "certChain", at)?, "certificates")?;
    if certs.is_empty() {
        return Err(bad(format!("{at}.certChain has no certificates")));
    }
    let chain = certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let at_c = format!("{at}.certChain.certificates[{i}]");
            pki::Cert::parse(&bytes(c, "rawBytes", &at_c)?).map_err(|e| bad(format!("{at_c}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Authority {
        uri: v.get("uri").and_then(Value::as_str).unwrap_or("").to_string(),
        chain,
        valid: window(field(v, "validFor", at)?, at)?,
    })
}

impl TrustedRoot {
    /// Parses `trusted_root.json` (strict JSON: duplicate keys refused).
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, SigstoreError> {
        let v = crate::json::parse_strict(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let media = string(&v, "mediaType", "trusted root")?;
        if !MEDIA_TYPES.contains(&media) {
            return Err(bad(format!("mediaType {media:?} is not one of {MEDIA_TYPES:?}")));
        }
        let tlogs = each(&v, "tlogs", log)?;
        let ctlogs = each(&v, "ctlogs", log)?;
        let cas = each(&v, "certificateAuthorities", authority)?;
        let tsas = each(&v, "timestampAuthorities", authority)?;
        Ok(TrustedRoot { tlogs, cas, ctlogs, tsas })
    }

    /// The Rekor log with this log id.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&Log> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn each<T>(v: &Value, key: &str, f: impl Fn(&Value, &str) -> Result<T, SigstoreError>) -> Result<Vec<T>, SigstoreError> {
    array(v, key)?.iter().enumerate().map(|(i, x)| f(x, &format!("{key}[{i}]"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_windows() {
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01.Z"), None);
        assert_eq!(parse_time("1970-01-01T00:00:01+00:00"), None);
        let w = Window { start: 10, end: Some(20) };
        assert!(w.contains(10) && w.contains(20) && !w.contains(21) && !w.contains(9));
    }
}
