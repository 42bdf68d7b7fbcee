//! Fleet inventory (sans-I/O). Normative text: `format-spec/inventory-v1.md`.
//!
//! [`providers`] turns the documented export shapes of the real management tools (Jamf Pro,
//! Microsoft Intune, osquery/Fleet, CrowdStrike Falcon, Microsoft Defender for Endpoint) into
//! normalised [`Observation`]s. A field a provider does not report stays absent: nothing is
//! defaulted, so that reconciliation can count missing data as drift, never as compliance.
//! [`reconcile`] compares observations with the desired state of a verified bundle, as a pure
//! function of values and the time; [`remediation`] turns a report into a plan the operator signs.

pub mod export;
pub mod providers;
pub mod reconcile;
pub mod remediation;
pub mod stream;

use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// `schema` of an observations file.
pub const OBSERVATIONS_SCHEMA: &str = "airlock/inventory-observations/v1";
/// Largest provider export read (a 100,000-device export is well below it).
pub const MAX_EXPORT: u64 = 512 << 20;
/// Largest observations file read.
pub const MAX_OBSERVATIONS: u64 = 512 << 20;

/// The management tools airlock reads, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Jamf Pro (API computers inventory).
    Jamf,
    /// Microsoft Intune (Graph managedDevices with detectedApps).
    Intune,
    /// A Linux fleet: osquery / Fleet scheduled-query result logs.
    Linux,
    /// EDR: CrowdStrike Falcon device entities, Microsoft Defender for Endpoint machines or
    /// software inventory.
    Edr,
}

impl Provider {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Jamf => "jamf",
            Provider::Intune => "intune",
            Provider::Linux => "linux",
            Provider::Edr => "edr",
        }
    }

    /// The release metadata's `managementTool` this provider deploys with, when it deploys at
    /// all (an osquery fleet or an EDR only observes; any tool's target may hold its endpoints).
    pub fn management_tool(self) -> Option<&'static str> {
        match self {
            Provider::Jamf => Some("jamf"),
            Provider::Intune => Some("intune"),
            Provider::Linux | Provider::Edr => None,
        }
    }
}

/// Which documented export shape a file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Jamf Pro API `GET /v1/computers-inventory` (`results[]`).
    JamfComputersInventory,
    /// Microsoft Graph `GET /deviceManagement/managedDevices?$expand=detectedApps` (`value[]`).
    IntuneManagedDevices,
    /// osquery / Fleet result log lines (snapshot or differential) of a query over `hash`/`file`.
    OsqueryResults,
    /// CrowdStrike Falcon `GET /devices/entities/devices/v2` (`resources[]`).
    FalconDevices,
    /// Defender for Endpoint `GET /api/machines` (`value[]`).
    DefenderMachines,
    /// Defender for Endpoint `GET /api/machines/SoftwareInventoryByMachine` (`value[]`).
    DefenderSoftwareInventory,
}

/// A string most endpoints share with others (platform, version, state): held once per distinct
/// value ([`Interner`]), so 100,000 observations of the same fleet cost one copy of "darwin".
pub type Text = std::sync::Arc<str>;

/// Hands out one shared [`Text`] per distinct value.
#[derive(Default)]
pub struct Interner(std::collections::HashSet<Text>);

impl Interner {
    /// The shared copy of `t` (`t` itself the first time).
    pub fn get(&mut self, t: Text) -> Text {
        match self.0.get(&t) {
            Some(shared) => shared.clone(),
            None => {
                self.0.insert(t.clone());
                t
            }
        }
    }

    fn opt(&mut self, t: &mut Option<Text>) {
        if let Some(v) = t.take() {
            *t = Some(self.get(v));
        }
    }
}

impl Observation {
    /// Replaces the fields many endpoints share by their shared copies, and gives back the
    /// spare capacity of the installations list (serde grows it to four).
    pub fn compact(&mut self, i: &mut Interner) {
        for t in [&mut self.os, &mut self.arch, &mut self.deployment_target, &mut self.management_state] {
            i.opt(t);
        }
        if let Some(list) = &mut self.installed {
            list.shrink_to_fit();
            for x in list {
                i.opt(&mut x.version);
            }
        }
    }
}

/// One installation of the product an endpoint reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Installed {
    /// The version the provider reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Text>,
    /// The binary's SHA-256 the provider reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// Where it is installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One endpoint as one provider saw it. Every field but the id is absent when the provider
/// did not report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Observation {
    /// The provider's own id of the endpoint.
    pub endpoint_id: String,
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Hardware serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Operating system, Go naming (`darwin`, `windows`, `linux`), or the provider's word
    /// lower-cased when it is none of those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Text>,
    /// Architecture, Go naming (`amd64`, `arm64`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Text>,
    /// The deployment target, when the export was scoped to one (`--deployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_target: Option<Text>,
    /// The product's installations. Absent: the provider does not report software; empty: it
    /// does, and the product is not installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<Vec<Installed>>,
    /// When the provider last heard from the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// The provider's management (or sensor) state, as it words it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_state: Option<Text>,
}

/// A normalised observations file (`airlock/inventory-observations/v1`), written by
/// `inventory ingest -o` in RFC 8785 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Observations {
    /// [`OBSERVATIONS_SCHEMA`].
    pub schema: String,
    /// The provider.
    pub provider: Provider,
    /// The export shape read.
    pub source: Source,
    /// The product whose installations were picked out.
    pub product: String,
    /// The release channel the export covers, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// When the export was taken (`--observed-at`, else the ingestion time).
    pub observed_at: Timestamp,
    /// SHA-256 of the export file as read.
    pub export_digest: Sha256Digest,
    /// The endpoints, sorted by id, each once.
    pub observations: Vec<Observation>,
}

/// Why an export or an observations file could not be read (exit 2: could not check; nothing
/// is written or recorded).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Not strict JSON (or a JSON line that is not).
    #[error("{what} is not strict JSON at line {line}, column {column}: {source}")]
    Json {
        /// The input (`jamf export`, `observations file`, ...).
        what: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The strict parser's error.
        source: JsonError,
    },
    /// The file is not in the shape the provider documents: names the missing or wrong field.
    #[error("{what} is not {expected}: {field} {problem}{}", looks_like.map(|l| format!("; the file looks like {l}")).unwrap_or_default())]
    Shape {
        /// The input.
        what: String,
        /// The documented shape expected.
        expected: &'static str,
        /// JSON Pointer of the field.
        field: String,
        /// What is wrong with it (`is missing`, `is not a string`, ...).
        problem: String,
        /// Another provider's shape the file matches, when one does.
        looks_like: Option<&'static str>,
    },
    /// The same endpoint twice in one export.
    #[error("{what}: endpoint {id:?} appears twice ({first} and {second}); an export lists each endpoint once")]
    DuplicateEndpoint {
        /// The input.
        what: String,
        /// The endpoint id.
        id: String,
        /// Where it first appeared.
        first: String,
        /// Where it appeared again.
        second: String,
    },
    /// A time after the ingestion's own time.
    #[error(
        "{what}: endpoint {id:?} field {field} is {value}, after the time of observation {now}; a report from the future cannot be true"
    )]
    FutureTimestamp {
        /// The input.
        what: String,
        /// The endpoint id.
        id: String,
        /// The field.
        field: String,
        /// Its value.
        value: Timestamp,
        /// The observation time.
        now: Timestamp,
    },
    /// A time that is not RFC 3339.
    #[error("{what}: endpoint {id:?} field {field} is {value:?}, not an RFC 3339 date-time")]
    BadTimestamp {
        /// The input.
        what: String,
        /// The endpoint id.
        id: String,
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
    /// An observations file of another schema or with broken value rules.
    #[error("observations file is not {OBSERVATIONS_SCHEMA}: {0}")]
    Observations(String),
    /// Observations of another product than the bundle's.
    #[error("the observations are of product {found:?}, the bundle is {expected:?}")]
    Product {
        /// The observations' product.
        found: String,
        /// The bundle's.
        expected: String,
    },
    /// The release has no deployment target to reconcile against.
    #[error("no desired state: {0}")]
    NoTargets(String),
    /// A reconciliation report that does not read back as one.
    #[error("reconciliation report is not acceptable: {0}")]
    Report(String),
}

impl InventoryError {
    /// The stable id (`inventory.*`).
    pub fn rule(&self) -> &'static str {
        match self {
            InventoryError::Json { .. } => "inventory.json",
            InventoryError::Shape { .. } => "inventory.shape",
            InventoryError::DuplicateEndpoint { .. } => "inventory.duplicate-endpoint",
            InventoryError::FutureTimestamp { .. } => "inventory.future-time",
            InventoryError::BadTimestamp { .. } => "inventory.time",
            InventoryError::Observations(_) => "inventory.observations",
            InventoryError::Product { .. } => "inventory.product",
            InventoryError::NoTargets(_) => "inventory.no-targets",
            InventoryError::Report(_) => "inventory.report",
        }
    }

    /// One line saying what to try.
    pub fn hint(&self) -> &'static str {
        match self {
            InventoryError::Json { .. } => "export the inventory again; the file was cut short or edited",
            InventoryError::Shape { looks_like: Some(_), .. } => "pass the --provider that exported the file",
            InventoryError::Shape { .. } => "export with the documented API (format-spec/inventory-v1.md lists the endpoints and fields)",
            InventoryError::DuplicateEndpoint { .. } => "export again in one pass; concatenated pages repeat endpoints",
            InventoryError::FutureTimestamp { .. } => {
                "check the clock of this machine and of the exporting tool, or pass --observed-at with the export's time"
            }
            InventoryError::BadTimestamp { .. } => "export again with the documented API; dates are RFC 3339",
            InventoryError::Observations(_) => "write it again with `airlock inventory ingest -o`",
            InventoryError::Product { .. } => "ingest the export again with --product naming the bundle's product",
            InventoryError::NoTargets(_) => "reconcile a bundle whose release metadata lists deployment targets",
            InventoryError::Report(_) => "use the report `airlock reconcile -o` wrote, unedited",
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let upto = &bytes[..offset.min(bytes.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&upto[start..]).chars().count() + 1;
    (line, column)
}

/// The byte offset a strict-parser error points at.
pub(crate) fn json_offset(e: &JsonError) -> usize {
    match e {
        JsonError::Utf8 { offset }
        | JsonError::Syntax { offset, .. }
        | JsonError::DuplicateKey { offset, .. }
        | JsonError::IntegerOutOfRange { offset, .. }
        | JsonError::TooDeep { offset }
        | JsonError::NotCanonical { offset, .. } => *offset,
        JsonError::Schema(_) => 0,
    }
}

/// Parses strictly; an error carries its line and column in `bytes` (offset by `base`, the
/// byte where `bytes` starts in its file, and `first_line`).
pub(crate) fn parse_json(what: &str, bytes: &[u8], first_line: usize) -> Result<serde_json::Value, InventoryError> {
    json::parse_strict(bytes).map_err(|source| {
        let (line, column) = line_column(bytes, json_offset(&source));
        InventoryError::Json { what: what.to_string(), line: line + first_line - 1, column, source }
    })
}

/// Reads a vendor date-time: RFC 3339 with any fraction of a second (dropped) and a `Z` or
/// `±HH:MM` offset. `Ok(None)` for a date before 1970 (Graph writes `0001-01-01T00:00:00Z` for
/// "never").
pub fn vendor_time(s: &str) -> Option<Option<Timestamp>> {
    let b = s.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (head, mut rest) = s.split_at(19);
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && o.as_bytes()[3] == b':' => {
            let h: i64 = o[1..3].parse().ok()?;
            let m: i64 = o[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if o.starts_with('+') { secs } else { -secs }
        }
        _ => return None,
    };
    let year: i64 = s[..4].parse().ok()?;
    if year < 1970 {
        // Still check the rest of the form.
        let probe = format!("1970{}Z", &head[4..]);
        return Timestamp::parse(&probe).ok().map(|_| None);
    }
    let t = Timestamp::parse(&format!("{head}Z")).ok()?;
    Some(Some(Timestamp(t.0 - offset)))
}

/// RFC 8785 bytes of `head` (an object) whose array members `arrays` are replaced by the given
/// items, each canonicalised on its own and written straight into the output: the same bytes as
/// canonicalising the whole value, without ever holding it as one JSON tree or the items' bytes
/// all at once. `head` must hold each of those members as `[]`.
pub(crate) fn canonical_spliced(head: &serde_json::Value, arrays: &[(&str, &dyn Items)]) -> Vec<u8> {
    let mut out = vec![];
    write_spliced(head, arrays, &mut out, &mut |_| {}, true);
    out
}

/// SHA-256 of [`canonical_spliced`]'s bytes, hashed as they are written (in pieces of about
/// 64 KiB): a large report's id without holding its bytes.
pub(crate) fn canonical_spliced_digest(head: &serde_json::Value, arrays: &[(&str, &dyn Items)]) -> Sha256Digest {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut out = Vec::with_capacity(1 << 17);
    let mut flush = |b: &mut Vec<u8>| {
        hasher.update(&b[..]);
        b.clear();
    };
    write_spliced(head, arrays, &mut out, &mut flush, false);
    flush(&mut out);
    Sha256Digest(hasher.finalize().into())
}

/// Writes [`canonical_spliced`]'s bytes into `out`, handing it to `flush` after an item leaves
/// it over 64 KiB (`flush` may empty it). `reserve`: size `out` for the whole document first.
fn write_spliced(
    head: &serde_json::Value,
    arrays: &[(&str, &dyn Items)],
    out: &mut Vec<u8>,
    flush: &mut dyn FnMut(&mut Vec<u8>),
    reserve: bool,
) {
    let skeleton = json::canonical_value(head);
    // Canonical output escapes every quote inside strings, so `"key":[]` with raw quotes is only
    // ever a member name; the top-level member comes first among equals in key order only when
    // nested objects do not use the name, which holds for airlock's own types.
    let mut at: Vec<(usize, &dyn Items)> = arrays
        .iter()
        .map(|(key, items)| {
            let needle = format!("{}:[]", serde_json::Value::String((*key).to_string()));
            let p = skeleton.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("head holds the member as []");
            (p + needle.len() - 1, *items)
        })
        .collect();
    at.sort_by_key(|(p, _)| *p);
    if reserve {
        out.reserve(skeleton.len() + arrays.iter().map(|(_, i)| i.len() * 160).sum::<usize>());
    }
    let mut from = 0;
    for (p, items) in at {
        out.extend_from_slice(&skeleton[from..p]);
        for n in 0..items.len() {
            if n > 0 {
                out.push(b',');
            }
            items.canonical_into(n, out);
            if out.len() > 1 << 16 {
                flush(out);
            }
        }
        from = p;
    }
    out.extend_from_slice(&skeleton[from..]);
}

/// `job(i)` for every `i` in `0..n` on up to `threads` threads (this one among them), each
/// taking the next index when it is done with one; the results in index order. The shell reads
/// and parses observations files this way (each file's bytes live only while its own parse
/// runs). This thread works too, so that a single-threaded allocator's or this thread's arena
/// holds its share of the results rather than another thread's.
pub fn on_threads<T: Send>(n: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = threads.clamp(1, n.max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = vec![];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return done;
            }
            done.push((i, job(i)));
        }
    };
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mine = work();
        for (i, t) in others.into_iter().flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).chain(mine) {
            out[i] = Some(t);
        }
    });
    out.into_iter().map(|t| t.expect("every index was taken by a worker")).collect()
}

/// A list whose items [`canonical_spliced`] writes one at a time.
pub(crate) trait Items {
    fn len(&self) -> usize;
    fn canonical_into(&self, n: usize, out: &mut Vec<u8>);
}

impl<T: Serialize> Items for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn canonical_into(&self, n: usize, out: &mut Vec<u8>) {
        json::canonical_into(&self[n], out);
    }
}

impl Observations {
    /// The normal form: RFC 8785 bytes (built observation by observation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = Observations { observations: vec![], ..self.clone_head() };
        canonical_spliced(&serde_json::to_value(&head).expect("observations serialise"), &[("observations", &self.observations)])
    }

    fn clone_head(&self) -> Observations {
        Observations {
            schema: self.schema.clone(),
            provider: self.provider,
            source: self.source,
            product: self.product.clone(),
            channel: self.channel.clone(),
            observed_at: self.observed_at,
            export_digest: self.export_digest,
            observations: vec![],
        }
    }

    /// Reads an observations file: strict JSON, the closed shape, the schema, endpoints sorted
    /// and distinct.
    pub fn parse(bytes: &[u8]) -> Result<Self, InventoryError> {
        // Streamed: the observations are parsed one by one, never as one tree.
        let what = "observations file";
        let doc = stream::Doc::read(what, bytes, &["observations"])?
            .ok_or_else(|| InventoryError::Observations("the document is not an object".into()))?;
        match doc.top.get("schema").and_then(|s| s.as_str()) {
            Some(OBSERVATIONS_SCHEMA) => {}
            other => return Err(InventoryError::Observations(format!("schema is {other:?}"))),
        }
        if !doc.has_array("observations") {
            return Err(InventoryError::Observations("observations is missing or not an array".into()));
        }
        let mut head = doc.top.clone();
        head.insert("observations".into(), serde_json::Value::Array(vec![]));
        let mut o: Observations =
            serde_json::from_value(serde_json::Value::Object(head)).map_err(|e| InventoryError::Observations(e.to_string()))?;
        let mut shared = Interner::default();
        for (n, span) in doc.spans("observations").enumerate() {
            let span = span?;
            // The element's bytes straight onto the type: every field is typed and unknown ones
            // are refused, so serde's own checks (duplicate fields, lone surrogates, integer
            // range) are the strict parser's for this shape; a failing element is parsed strictly
            // again so that a JSON error is reported as the strict parser words it.
            let mut ob: Observation = match serde_json::from_slice(doc.bytes(span.clone())) {
                Ok(ob) => ob,
                Err(e) => {
                    let v = doc.parse(span)?;
                    serde_json::from_value(v).map_err(|_| InventoryError::Observations(format!("/observations/{n}: {e}")))?
                }
            };
            ob.compact(&mut shared);
            o.observations.push(ob);
        }
        o.observations.shrink_to_fit();
        if o.observations.windows(2).any(|w| w[0].endpoint_id >= w[1].endpoint_id) {
            return Err(InventoryError::Observations("observations must be sorted by endpointId, each endpoint once".into()));
        }
        if o.product.is_empty() {
            return Err(InventoryError::Observations("product is empty".into()));
        }
        Ok(o)
    }

    /// How many endpoints report each field (for the ingestion record).
    pub fn field_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut m = std::collections::BTreeMap::new();
        for o in &self.observations {
            let version = o.installed.as_ref().is_some_and(|i| i.iter().any(|x| x.version.is_some()));
            let digest = o.installed.as_ref().is_some_and(|i| i.iter().any(|x| x.sha256.is_some()));
            for (k, present) in [
                ("hostname", o.hostname.is_some()),
                ("serial", o.serial.is_some()),
                ("os", o.os.is_some()),
                ("arch", o.arch.is_some()),
                ("installed", o.installed.is_some()),
                ("version", version),
                ("sha256", digest),
                ("lastSeen", o.last_seen.is_some()),
                ("managementState", o.management_state.is_some()),
            ] {
                *m.entry(k).or_insert(0) += usize::from(present);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_times_in_the_documented_forms() {
        assert_eq!(vendor_time("2018-10-31T18:04:13Z"), Some(Some(Timestamp::parse("2018-10-31T18:04:13Z").unwrap())));
        assert_eq!(vendor_time("2018-08-02T14:55:03.7791856Z"), Some(Some(Timestamp::parse("2018-08-02T14:55:03Z").unwrap())));
        assert_eq!(vendor_time("2016-12-31T23:59:43.797191-08:00"), Some(Some(Timestamp::parse("2017-01-01T07:59:43Z").unwrap())));
        assert_eq!(vendor_time("0001-01-01T00:00:00Z"), Some(None));
        assert_eq!(vendor_time("yesterday"), None);
        assert_eq!(vendor_time("2018-10-31 18:04:13"), None);
        assert_eq!(vendor_time("2018-10-31T18:04:13."), None);
    }

    /// `Observations::parse` reads each element straight onto [`Observation`] with serde; that
    /// must accept exactly what the strict parser followed by serde accepts, with equal values.
    #[test]
    fn typed_observation_reading_agrees_with_the_strict_path() {
        let base = br#"{"arch":"arm64","deploymentTarget":"mac","endpointId":"e-1","hostname":"h\u00e9","installed":[{"path":"/a","sha256":"sha256:0000000000000000000000000000000000000000000000000000000000000000","version":"1.2.0"},{"version":"1.1"}],"lastSeen":"2027-01-15T07:50:00Z","managementState":"managed","os":"darwin","serial":"S1"}"#;
        let strict = |b: &[u8]| json::parse_strict(b).ok().and_then(|v| serde_json::from_value::<Observation>(v).ok());
        let typed = |b: &[u8]| serde_json::from_slice::<Observation>(b).ok();
        let mut cases: Vec<Vec<u8>> = vec![
            base.to_vec(),
            br#"{"endpointId":"a","endpointId":"b"}"#.to_vec(),
            br#"{"endpointId":"a","installed":[{"version":"1","version":"2"}]}"#.to_vec(),
            br#"{"endpointId":"\ud800"}"#.to_vec(),
            br#"{"endpointId":"\udc00\ud800"}"#.to_vec(),
            br#"{"endpointId":"a","os":null}"#.to_vec(),
            br#"{"endpointId":"a","lastSeen":1800000000}"#.to_vec(),
            br#"{"endpointId":"a","extra":9007199254740993}"#.to_vec(),
            b"{\"endpointId\":\"a\x01\"}".to_vec(),
            b"{\"endpointId\":\"\xff\"}".to_vec(),
        ];
        let specials = b"{}[],:\"\\u0 1e-.nulltrue\x7f\xc3";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..6000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = base.to_vec();
            let at = (x as usize >> 8) % b.len();
            match x % 3 {
                0 => b[at] = specials[(x as usize >> 32) % specials.len()],
                1 => {
                    b.remove(at);
                }
                _ => b.insert(at, specials[(x as usize >> 32) % specials.len()]),
            }
            cases.push(b);
        }
        let mut accepted = 0;
        for c in &cases {
            let (s, t) = (strict(c), typed(c));
            assert_eq!(s, t, "{}", String::from_utf8_lossy(c));
            accepted += usize::from(s.is_some());
        }
        assert!(accepted > 50 && accepted < cases.len() - 1000, "{accepted} of {} accepted", cases.len());
    }

    #[test]
    fn on_threads_runs_every_job_once_in_index_order() {
        for (n, threads) in [(0, 2), (1, 2), (5, 1), (5, 2), (7, 3), (3, 64)] {
            let ran = std::sync::atomic::AtomicUsize::new(0);
            let out = on_threads(n, threads, |i| {
                ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i * 10
            });
            assert_eq!(out, (0..n).map(|i| i * 10).collect::<Vec<_>>());
            assert_eq!(ran.into_inner(), n);
        }
    }

    #[test]
    fn line_and_column_of_an_offset() {
        let b = b"{\n  \"a\": 1,\n  x\n}";
        assert_eq!(line_column(b, 0), (1, 1));
        assert_eq!(line_column(b, 14), (3, 3));
    }
}
