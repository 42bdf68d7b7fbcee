//! Reconciliation (sans-I/O): the desired state of a verified release × what the providers
//! observed × the time → a [`Report`] of drift. Normative text: `format-spec/inventory-v1.md` §5.
//!
//! Endpoints seen by several providers are one endpoint, matched by serial number, then by host
//! name (short, case-insensitive), then by the provider's own id. Missing data is drift, never
//! compliance: an endpoint whose version or binary digest no provider reported is
//! `missing_data`; one no provider says it has seen lately is `stale_observation`.

use super::{InventoryError, Observation, Observations, Provider, Source};
use crate::digest::Sha256Digest;
use crate::promotion::BundleRef;
use crate::release::{ReleaseMetadata, Surface};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `schema` of a reconciliation report.
pub const REPORT_SCHEMA: &str = "airlock/reconciliation-report/v1";

/// The drift classes, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftClass {
    /// A deployment target no observed endpoint belongs to.
    MissingObservation,
    /// The endpoint runs another version, or none.
    VersionDrift,
    /// The endpoint's binary is not the signed one.
    BinaryDrift,
    /// No provider has heard from the endpoint within `--stale-after`.
    StaleObservation,
    /// The endpoint belongs to no deployment target of the release (or to several).
    UnknownTarget,
    /// No provider reported the version or the binary digest.
    MissingData,
    /// Two providers disagree about the endpoint.
    ConflictingObservation,
}

impl DriftClass {
    /// Every class.
    pub const ALL: [DriftClass; 7] = [
        DriftClass::MissingObservation,
        DriftClass::VersionDrift,
        DriftClass::BinaryDrift,
        DriftClass::StaleObservation,
        DriftClass::UnknownTarget,
        DriftClass::MissingData,
        DriftClass::ConflictingObservation,
    ];

    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            DriftClass::MissingObservation => "missing_observation",
            DriftClass::VersionDrift => "version_drift",
            DriftClass::BinaryDrift => "binary_drift",
            DriftClass::StaleObservation => "stale_observation",
            DriftClass::UnknownTarget => "unknown_target",
            DriftClass::MissingData => "missing_data",
            DriftClass::ConflictingObservation => "conflicting_observation",
        }
    }
}

/// One deployment target's desired state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DesiredTarget {
    /// Deployment target id.
    pub id: String,
    /// `os/arch`.
    pub platform: String,
    /// Channel.
    pub channel: String,
    /// Management tool.
    pub management_tool: String,
    /// Installer target id.
    pub installer: String,
    /// The installer binary's SHA-256.
    pub digest: Sha256Digest,
    /// Where it is installed.
    pub install_path: String,
    /// The release version every endpoint of the target should run.
    pub version: String,
    /// Whether the release has reached the target's channel (false only when the ledger's
    /// promotion state says it has not: then nothing is expected of its endpoints yet).
    pub expected: bool,
    /// Rollback steps from the release metadata.
    pub rollback: Vec<String>,
}

/// The desired state of a verified release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// The bundle.
    pub bundle: BundleRef,
    /// Its deployment targets (CI runner images excluded: no endpoint inventory lists them).
    pub targets: Vec<DesiredTarget>,
}

impl Desired {
    /// The desired state from release metadata: every deployment target except CI runner
    /// images, with its installer's digest and the release version. `reached`: the channels the
    /// release has been promoted into, when the ledger holds promotion state for it.
    pub fn from_metadata(bundle: BundleRef, meta: &ReleaseMetadata, reached: Option<&BTreeSet<String>>) -> Result<Self, InventoryError> {
        let mut targets = vec![];
        for d in meta.deployments.iter().filter(|d| d.surface != Surface::CiRunner) {
            let Some(inst) = meta.installer(&d.installer) else {
                return Err(InventoryError::NoTargets(format!("deployment {} names installer {} the metadata lacks", d.id, d.installer)));
            };
            targets.push(DesiredTarget {
                id: d.id.clone(),
                platform: d.platform.clone(),
                channel: d.channel.clone(),
                management_tool: d.management_tool.clone(),
                installer: inst.id.clone(),
                digest: inst.digest,
                install_path: inst.install_path.clone(),
                version: bundle.version.clone(),
                expected: reached.is_none_or(|r| r.contains(&d.channel)),
                rollback: d.rollback.clone(),
            });
        }
        if targets.is_empty() {
            return Err(InventoryError::NoTargets("the release metadata has no deployment target but CI runner images".into()));
        }
        targets.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Desired { bundle, targets })
    }
}

/// One observations file as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Input {
    /// Provider.
    pub provider: Provider,
    /// Export shape.
    pub source: Source,
    /// Channel, when the export covered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// When the export was taken.
    pub observed_at: Timestamp,
    /// SHA-256 of the export.
    pub export_digest: Sha256Digest,
    /// Endpoints in it.
    pub endpoints: u64,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Finding {
    /// The endpoint (absent for `missing_observation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The class.
    pub class: DriftClass,
    /// The deployment target, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The field concerned (`version`, `sha256`, `lastSeen`, `os`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the release expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was observed (`provider=value` pairs for a conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// In words.
    pub detail: String,
}

/// One endpoint, after matching providers' observations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Endpoint {
    /// `serial:S`, `host:H` or `id:PROVIDER:ID`.
    pub endpoint: String,
    /// The deployment target it belongs to, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `provider:id` of every observation of it, sorted.
    pub observed_by: Vec<String>,
    /// No finding.
    pub aligned: bool,
}

/// Counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Summary {
    /// Endpoints after matching.
    pub endpoints: u64,
    /// Of which aligned.
    pub aligned: u64,
    /// Of which with a finding.
    pub drifted: u64,
    /// Deployment targets in the desired state.
    pub targets: u64,
    /// Findings per class, every class listed.
    pub findings: BTreeMap<DriftClass, u64>,
}

/// A reconciliation report (`airlock/reconciliation-report/v1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// SHA-256 of the report's RFC 8785 bytes without this field: the same inputs at the same
    /// time give the same id.
    pub report_id: Sha256Digest,
    /// `aligned` or `drift`.
    pub outcome: String,
    /// The bundle.
    pub bundle: BundleRef,
    /// The evaluation time.
    pub evaluated_at: Timestamp,
    /// `--stale-after`, seconds.
    pub stale_after_seconds: u64,
    /// The observations read, in order.
    pub inputs: Vec<Input>,
    /// The desired state.
    pub targets: Vec<DesiredTarget>,
    /// Counts.
    pub summary: Summary,
    /// Every endpoint, sorted.
    pub endpoints: Vec<Endpoint>,
    /// Every finding, sorted by endpoint then class.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The id of a report: SHA-256 of its RFC 8785 bytes without `reportId`.
    pub fn compute_id(&self) -> Sha256Digest {
        // Hashed as written: the bytes of a large report are never held for its id.
        super::canonical_spliced_digest(&self.head(false), &[("endpoints", &Jcs(&self.endpoints)), ("findings", &Jcs(&self.findings))])
    }

    /// The RFC 8785 bytes of the report (built endpoint by endpoint).
    pub fn to_bytes(&self) -> Vec<u8> {
        super::canonical_spliced(&self.head(true), &[("endpoints", &Jcs(&self.endpoints)), ("findings", &Jcs(&self.findings))])
    }

    /// The report without endpoints and findings (`[]`), as a JSON value, with or without its id.
    fn head(&self, with_id: bool) -> serde_json::Value {
        let head = Report {
            schema: self.schema.clone(),
            report_id: self.report_id,
            outcome: self.outcome.clone(),
            bundle: self.bundle.clone(),
            evaluated_at: self.evaluated_at,
            stale_after_seconds: self.stale_after_seconds,
            inputs: self.inputs.clone(),
            targets: self.targets.clone(),
            summary: self.summary.clone(),
            endpoints: vec![],
            findings: vec![],
        };
        let mut v = serde_json::to_value(&head).expect("a report serialises");
        if !with_id && let Some(o) = v.as_object_mut() {
            o.remove("reportId");
        }
        v
    }

    /// Reads a report back: strict JSON, closed shape, schema, and an id that is its own.
    pub fn parse(bytes: &[u8]) -> Result<Self, InventoryError> {
        let v = super::parse_json("reconciliation report", bytes, 1)?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(REPORT_SCHEMA) => {}
            other => return Err(InventoryError::Report(format!("schema is {other:?}, expected {REPORT_SCHEMA:?}"))),
        }
        let r: Report = serde_json::from_value(v).map_err(|e| InventoryError::Report(e.to_string()))?;
        let id = r.compute_id();
        if id != r.report_id {
            return Err(InventoryError::Report(format!(
                "reportId is {}, but the report's content hashes to {id}; it was edited",
                r.report_id
            )));
        }
        Ok(r)
    }

    /// Whether any finding was made.
    pub fn drifted(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// The report's endpoints or findings, each written in RFC 8785 form by hand. Their member
/// names are fixed, so they are written in their sorted order (ASCII names: UTF-16 order is byte
/// order) instead of the JCS serializer buffering and sorting every object; most of a large
/// report is these. `tests::hand_written_items_are_the_serializers` compares the two.
struct Jcs<'a, T>(&'a [T]);

/// A JSON string as RFC 8785 writes it: `"` and `\` escaped, the control characters as `\b`,
/// `\t`, `\n`, `\f`, `\r` or `\u00xx` (lower-case hex), everything else as its UTF-8 bytes.
fn jcs_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0..0x20 => &[b'\\', b'u', b'0', b'0', b"0123456789abcdef"[usize::from(c >> 4)], b"0123456789abcdef"[usize::from(c & 15)]],
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        out.extend_from_slice(esc);
        from = i + 1;
    }
    out.extend_from_slice(&b[from..]);
    out.push(b'"');
}

/// `,"name":"value"` (without the comma when `first`), when there is a value.
fn jcs_member(name: &str, value: Option<&str>, first: &mut bool, out: &mut Vec<u8>) {
    if let Some(v) = value {
        if !std::mem::take(first) {
            out.push(b',');
        }
        jcs_str(name, out);
        out.push(b':');
        jcs_str(v, out);
    }
}

impl super::Items for Jcs<'_, Endpoint> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn canonical_into(&self, n: usize, out: &mut Vec<u8>) {
        let e = &self.0[n];
        out.extend_from_slice(if e.aligned { b"{\"aligned\":true,\"endpoint\":" } else { b"{\"aligned\":false,\"endpoint\":" });
        jcs_str(&e.endpoint, out);
        out.extend_from_slice(b",\"observedBy\":[");
        for (i, o) in e.observed_by.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            jcs_str(o, out);
        }
        out.push(b']');
        jcs_member("target", e.target.as_deref(), &mut false, out);
        out.push(b'}');
    }
}

impl super::Items for Jcs<'_, Finding> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn canonical_into(&self, n: usize, out: &mut Vec<u8>) {
        let f = &self.0[n];
        out.push(b'{');
        let mut first = true;
        jcs_member("actual", f.actual.as_deref(), &mut first, out);
        jcs_member("class", Some(f.class.name()), &mut first, out);
        jcs_member("detail", Some(&f.detail), &mut first, out);
        jcs_member("endpoint", f.endpoint.as_deref(), &mut first, out);
        jcs_member("expected", f.expected.as_deref(), &mut first, out);
        jcs_member("field", f.field.as_deref(), &mut first, out);
        jcs_member("target", f.target.as_deref(), &mut first, out);
        out.push(b'}');
    }
}

/// Short host name: lower case, up to the first dot (borrowed when already so).
fn host_key(h: &str) -> Cow<'_, str> {
    let short = h.split('.').next().unwrap_or(h).trim();
    if short.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(short.to_ascii_lowercase()) } else { Cow::Borrowed(short) }
}

/// Serial number: upper case, trimmed (borrowed when already so).
fn serial_key(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_lowercase()) { Cow::Owned(t.to_ascii_uppercase()) } else { Cow::Borrowed(t) }
}

struct Seen<'a> {
    provider: Provider,
    channel: Option<&'a str>,
    o: &'a Observation,
}

/// What one field's reports across providers come to.
enum Merged<T> {
    Absent,
    One(T),
    Conflict(String),
}

impl<T> Merged<T> {
    /// What the providers said, when they disagree.
    fn conflict(&self) -> Option<&String> {
        match self {
            Merged::Conflict(c) => Some(c),
            _ => None,
        }
    }
}

/// The values the providers report (an iterator walked again, and the values formatted, only
/// when they disagree: most endpoints' providers agree, and then nothing is collected).
fn merge<T: PartialEq + std::fmt::Display>(values: impl Iterator<Item = (Provider, T)> + Clone) -> Merged<T> {
    let mut rest = values.clone();
    match rest.next() {
        None => Merged::Absent,
        Some((_, first)) if rest.all(|(_, v)| v == first) => Merged::One(first),
        Some(_) => {
            let pairs: BTreeSet<String> = values.map(|(p, v)| format!("{}={v}", p.name())).collect();
            Merged::Conflict(pairs.into_iter().collect::<Vec<_>>().join(", "))
        }
    }
}

/// A set of versions or digests as one displayable value: sorted, each once (one allocation;
/// most endpoints report one installation).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Set<T>(Vec<T>);

impl<T: std::fmt::Display> std::fmt::Display for Set<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("not installed");
        }
        for (n, v) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("+")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// The versions (or digests) one observation reports: absent when it reports no software, or
/// lists installations without that field; empty when the product is not installed.
fn reported<'a, T: Ord>(o: &'a Observation, field: impl Fn(&'a super::Installed) -> Option<T>) -> Option<Set<T>> {
    let inst = o.installed.as_ref()?;
    if inst.is_empty() {
        return Some(Set(Vec::new()));
    }
    let mut s: Vec<T> = inst.iter().filter_map(field).collect();
    s.sort_unstable();
    s.dedup();
    if s.is_empty() { None } else { Some(Set(s)) }
}

/// The short host name an observation reports, when a non-empty one.
fn host_of<'a>(s: &Seen<'a>) -> Option<Cow<'a, str>> {
    s.o.hostname.as_deref().map(host_key).filter(|h| !h.is_empty())
}

/// The observations of each endpoint, as indices into `seen` (ascending), grouped in flat arrays.
struct Members {
    start: Vec<u32>,
    flat: Vec<u32>,
}

impl Members {
    fn of(&self, g: usize) -> &[u32] {
        &self.flat[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// Matching: serial first, then host name, then the provider's id. Returns how many endpoints
/// there are and which observations each has; the lookup tables are gone when it returns.
/// `ids_repeat[provider]`: whether two observations of that provider may share an id (it sent
/// more than one file, or a file not strictly sorted by id); for the others the id table could
/// never match, so it is not kept.
fn group<'a>(seen: &[Seen<'a>], ids_repeat: [bool; 4]) -> (usize, Members) {
    use std::collections::hash_map::Entry;
    // Four billion observations would take terabytes of observations files; indices fit u32.
    assert!(u32::try_from(seen.len()).is_ok(), "more observations than u32 indices");
    let mut group_of: Vec<usize> = vec![usize::MAX; seen.len()];
    // Host names are looked up only for observations without a serial (the second pass): the
    // first pass records only the names those will look up.
    let wanted: HashSet<Cow<'a, str>> = seen.iter().filter(|s| s.o.serial.is_none()).filter_map(host_of).collect();
    let mut by_serial: HashMap<Cow<'a, str>, usize> = HashMap::new();
    let mut by_host: HashMap<Cow<'a, str>, Option<usize>> = HashMap::new();
    let mut by_id: HashMap<(Provider, &'a str), usize> = HashMap::new();
    let mut groups = 0usize;
    for pass in [true, false] {
        for (n, s) in seen.iter().enumerate() {
            if s.o.serial.is_some() != pass {
                continue;
            }
            let id = (s.provider, s.o.endpoint_id.as_str());
            let track_id = ids_repeat[s.provider as usize];
            let by_id_hit = if track_id { by_id.get(&id).copied() } else { None };
            let host = host_of(s);
            let fresh = || {
                groups += 1;
                groups - 1
            };
            let g = match s.o.serial.as_deref().map(serial_key) {
                Some(k) => match by_serial.entry(k) {
                    Entry::Occupied(e) => by_id_hit.unwrap_or(*e.get()),
                    Entry::Vacant(e) => *e.insert(by_id_hit.unwrap_or_else(fresh)),
                },
                None => by_id_hit.or_else(|| host.as_ref().and_then(|h| by_host.get(h).copied().flatten())).unwrap_or_else(fresh),
            };
            group_of[n] = g;
            if track_id {
                by_id.insert(id, g);
            }
            if let Some(h) = host
                && (!pass || wanted.contains(&h))
            {
                // A host name two serials share names neither.
                let e = by_host.entry(h).or_insert(Some(g));
                if *e != Some(g) {
                    *e = None;
                }
            }
        }
    }
    drop((by_serial, by_host, by_id, wanted));
    let mut start = vec![0u32; groups + 1];
    for g in &group_of {
        start[g + 1] += 1;
    }
    for g in 0..groups {
        start[g + 1] += start[g];
    }
    let mut next = start.clone();
    let mut flat = vec![0u32; seen.len()];
    for (n, g) in group_of.iter().enumerate() {
        flat[next[*g] as usize] = n as u32;
        next[*g] += 1;
    }
    (groups, Members { start, flat })
}

/// Reconciles. `files` in any order (the report sorts them); `now` is the command's one clock
/// reading. Errors only for inputs that cannot be reconciled at all (another product).
pub fn reconcile<'a>(desired: &Desired, files: &'a [Observations], now: Timestamp, stale_after: u64) -> Result<Report, InventoryError> {
    for f in files {
        if f.product != desired.bundle.product {
            return Err(InventoryError::Product { found: f.product.clone(), expected: desired.bundle.product.clone() });
        }
    }
    let mut order: Vec<&Observations> = files.iter().collect();
    order.sort_by(|a, b| {
        (a.provider, a.source, a.export_digest.0, a.observed_at).cmp(&(b.provider, b.source, b.export_digest.0, b.observed_at))
    });
    let mut seen: Vec<Seen<'_>> = Vec::with_capacity(order.iter().map(|f| f.observations.len()).sum());
    seen.extend(
        order.iter().flat_map(|f| f.observations.iter().map(move |o| Seen { provider: f.provider, channel: f.channel.as_deref(), o })),
    );
    let mut files_of = [0usize; 4];
    for f in files {
        files_of[f.provider as usize] += 1;
    }
    let mut ids_repeat = [false; 4];
    for f in files {
        ids_repeat[f.provider as usize] |=
            files_of[f.provider as usize] > 1 || f.observations.windows(2).any(|w| w[0].endpoint_id >= w[1].endpoint_id);
    }
    let (groups, members) = group(&seen, ids_repeat);
    let stale_before = Timestamp(now.0.saturating_sub(stale_after as i64));
    let mut endpoints = Vec::with_capacity(groups);
    let mut findings = vec![];
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    // Scratch lists, reused from endpoint to endpoint.
    let mut obs: Vec<&Seen<'_>> = vec![];
    let (mut channels, mut tools, mut cands): (Vec<&str>, Vec<&str>, Vec<&DesiredTarget>) = (vec![], vec![], vec![]);
    for g in 0..groups {
        obs.clear();
        obs.extend(members.of(g).iter().map(|&n| &seen[n as usize]));
        let key = obs
            .iter()
            .find_map(|s| s.o.serial.as_deref().map(|x| format!("serial:{}", serial_key(x))))
            .or_else(|| obs.iter().find_map(|s| s.o.hostname.as_deref().map(|h| format!("host:{}", host_key(h)))))
            .unwrap_or_else(|| format!("id:{}:{}", obs[0].provider.name(), obs[0].o.endpoint_id));
        let mut found: Vec<Finding> = vec![];
        let finding =
            |class: DriftClass, target: Option<&str>, field: &str, expected: Option<String>, actual: Option<String>, detail: String| {
                Finding {
                    endpoint: Some(key.clone()),
                    class,
                    target: target.map(String::from),
                    field: Some(field.into()),
                    expected,
                    actual,
                    detail,
                }
            };
        let field = |f: &dyn Fn(&'a Observation) -> Option<&'a str>| -> Merged<&'a str> {
            merge(obs.iter().filter_map(|s| f(s.o).map(|v| (s.provider, v))))
        };
        let os = field(&|o| o.os.as_deref());
        let arch = field(&|o| o.arch.as_deref());
        let explicit = field(&|o| o.deployment_target.as_deref());
        let versions = merge(obs.iter().filter_map(|s| reported(s.o, |i| i.version.as_deref()).map(|v| (s.provider, v))));
        let digests = merge(obs.iter().filter_map(|s| reported(s.o, |i| i.sha256).map(|v| (s.provider, v))));
        let conflicts = [
            ("os", os.conflict()),
            ("arch", arch.conflict()),
            ("deploymentTarget", explicit.conflict()),
            ("version", versions.conflict()),
            ("sha256", digests.conflict()),
        ];
        for (name, c) in conflicts {
            if let Some(c) = c {
                found.push(finding(
                    DriftClass::ConflictingObservation,
                    None,
                    name,
                    None,
                    Some(c.clone()),
                    format!("providers disagree about {name}"),
                ));
            }
        }

        // The deployment target.
        channels.clear();
        channels.extend(obs.iter().filter_map(|s| s.channel));
        tools.clear();
        tools.extend(obs.iter().filter_map(|s| s.provider.management_tool()));
        let target: Option<&DesiredTarget> = match (&explicit, &os) {
            (Merged::One(id), _) => match desired.targets.iter().find(|t| t.id == *id) {
                Some(t) => Some(t),
                None => {
                    found.push(finding(
                        DriftClass::UnknownTarget,
                        None,
                        "deploymentTarget",
                        None,
                        Some(id.to_string()),
                        format!("the export names deployment target {id:?}, which the release does not have"),
                    ));
                    None
                }
            },
            (Merged::Conflict(_), _) | (_, Merged::Conflict(_)) => None,
            (Merged::Absent, Merged::Absent) => {
                found.push(finding(
                    DriftClass::UnknownTarget,
                    None,
                    "os",
                    None,
                    None,
                    "no provider reported the endpoint's platform, so no deployment target can be told".into(),
                ));
                None
            }
            (Merged::Absent, Merged::One(os)) => {
                let arch = match &arch {
                    Merged::One(a) => Some(*a),
                    _ => None,
                };
                cands.clear();
                cands.extend(desired.targets.iter().filter(|t| {
                    let (tos, tarch) = t.platform.split_once('/').unwrap_or((&t.platform, ""));
                    tos == *os
                        && arch.is_none_or(|a| a == tarch)
                        && (channels.is_empty() || channels.contains(&t.channel.as_str()))
                        && (tools.is_empty() || tools.contains(&t.management_tool.as_str()))
                }));
                let same_binary = cands.windows(2).all(|w| w[0].digest == w[1].digest && w[0].expected == w[1].expected);
                match cands.first() {
                    Some(t) if same_binary => Some(*t),
                    first => {
                        let platform = format!("{os}/{}", arch.unwrap_or("?"));
                        let detail = if first.is_none() {
                            format!(
                                "no deployment target of the release is for {platform}{}",
                                if channels.is_empty() {
                                    String::new()
                                } else {
                                    format!(" in channel {:?}", channels.iter().collect::<BTreeSet<_>>())
                                }
                            )
                        } else {
                            format!(
                                "{platform} matches deployment targets {} with different binaries; ingest with --channel or --deployment",
                                cands.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                            )
                        };
                        found.push(finding(DriftClass::UnknownTarget, None, "platform", None, Some(platform), detail));
                        None
                    }
                }
            }
        };
        let tid = target.map(|t| t.id.as_str());
        if let Some(t) = target {
            covered.insert(t.id.as_str());
        }

        // Freshness.
        let last_seen = obs.iter().filter_map(|s| s.o.last_seen).max();
        match last_seen {
            None => found.push(finding(
                DriftClass::StaleObservation,
                tid,
                "lastSeen",
                Some(format!("after {stale_before}")),
                None,
                "no provider reported when it last heard from the endpoint".into(),
            )),
            Some(t) if t < stale_before => found.push(finding(
                DriftClass::StaleObservation,
                tid,
                "lastSeen",
                Some(format!("after {stale_before}")),
                Some(t.to_string()),
                format!("last heard from at {t}, more than {stale_after}s before {now}"),
            )),
            _ => {}
        }

        // Version and binary, for an endpoint of a target the release has reached.
        if let Some(t) = target.filter(|t| t.expected) {
            let not_installed =
                matches!(&versions, Merged::One(s) if s.0.is_empty()) || matches!(&digests, Merged::One(s) if s.0.is_empty());
            if not_installed {
                found.push(finding(
                    DriftClass::VersionDrift,
                    tid,
                    "version",
                    Some(t.version.clone()),
                    Some("not installed".into()),
                    format!("{} is not installed", desired.bundle.product),
                ));
            } else {
                match &versions {
                    Merged::Absent => found.push(finding(
                        DriftClass::MissingData,
                        tid,
                        "version",
                        Some(t.version.clone()),
                        None,
                        "no provider reported the installed version; missing data is drift, not compliance".into(),
                    )),
                    Merged::One(v) if v.0.len() != 1 || !v.0.contains(&t.version.as_str()) => found.push(finding(
                        DriftClass::VersionDrift,
                        tid,
                        "version",
                        Some(t.version.clone()),
                        Some(v.to_string()),
                        format!("runs {v}, the release is {}", t.version),
                    )),
                    _ => {}
                }
                match &digests {
                    Merged::Absent => found.push(finding(
                        DriftClass::MissingData,
                        tid,
                        "sha256",
                        Some(t.digest.prefixed()),
                        None,
                        "no provider reported the binary's SHA-256; missing data is drift, not compliance".into(),
                    )),
                    Merged::One(d) if d.0.len() != 1 || !d.0.contains(&t.digest) => found.push(finding(
                        DriftClass::BinaryDrift,
                        tid,
                        "sha256",
                        Some(t.digest.prefixed()),
                        Some(d.to_string()),
                        format!("the installed binary is not installer {}'s signed one", t.installer),
                    )),
                    _ => {}
                }
            }
        }
        let mut observed_by: Vec<String> = Vec::with_capacity(obs.len());
        observed_by.extend(obs.iter().map(|s| format!("{}:{}", s.provider.name(), s.o.endpoint_id)));
        observed_by.sort();
        observed_by.dedup();
        endpoints.push(Endpoint { endpoint: key, target: tid.map(String::from), observed_by, aligned: found.is_empty() });
        findings.extend(found);
    }
    for t in desired.targets.iter().filter(|t| t.expected && !covered.contains(t.id.as_str())) {
        findings.push(Finding {
            endpoint: None,
            class: DriftClass::MissingObservation,
            target: Some(t.id.clone()),
            field: None,
            expected: Some(format!("endpoints of {} ({}, {} via {})", t.id, t.platform, t.channel, t.management_tool)),
            actual: None,
            detail: format!("no observed endpoint belongs to deployment target {}", t.id),
        });
    }
    endpoints.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    findings.sort();
    let mut counts: BTreeMap<DriftClass, u64> = DriftClass::ALL.iter().map(|c| (*c, 0)).collect();
    for f in &findings {
        *counts.entry(f.class).or_insert(0) += 1;
    }
    let aligned = endpoints.iter().filter(|e| e.aligned).count() as u64;
    let inputs = order
        .iter()
        .map(|f| Input {
            provider: f.provider,
            source: f.source,
            channel: f.channel.clone(),
            observed_at: f.observed_at,
            export_digest: f.export_digest,
            endpoints: f.observations.len() as u64,
        })
        .collect();
    let mut report = Report {
        schema: REPORT_SCHEMA.into(),
        report_id: Sha256Digest([0; 32]),
        outcome: if findings.is_empty() { "aligned" } else { "drift" }.into(),
        bundle: desired.bundle.clone(),
        evaluated_at: now,
        stale_after_seconds: stale_after,
        inputs,
        targets: desired.targets.clone(),
        summary: Summary {
            endpoints: endpoints.len() as u64,
            aligned,
            drifted: endpoints.len() as u64 - aligned,
            targets: desired.targets.len() as u64,
            findings: counts,
        },
        endpoints,
        findings,
    };
    report.report_id = report.compute_id();
    Ok(report)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inventory::providers::{Ingest, ingest};
    use crate::json;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/inventory/");

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn target(id: &str, platform: &str, channel: &str, tool: &str, installer: &str, binary: &[u8]) -> DesiredTarget {
        DesiredTarget {
            id: id.into(),
            platform: platform.into(),
            channel: channel.into(),
            management_tool: tool.into(),
            installer: installer.into(),
            digest: Sha256Digest::of(binary),
            install_path: "/usr/local/bin/app".into(),
            version: "1.2.0".into(),
            expected: true,
            rollback: vec!["reinstall 1.1.0".into()],
        }
    }

    pub(crate) fn desired() -> Desired {
        Desired {
            bundle: BundleRef {
                bundle_id: "sha256:00".into(),
                manifest_digest: Sha256Digest([1; 32]),
                product: "app".into(),
                version: "1.2.0".into(),
            },
            targets: vec![
                target("linux-servers", "linux/amd64", "stable", "fleet", "linux-amd64", b"app linux\n"),
                target("mac-canary", "darwin/arm64", "canary", "jamf", "darwin-arm64", b"app darwin\n"),
                target("mac-fleet", "darwin/arm64", "stable", "jamf", "darwin-arm64", b"app darwin\n"),
                target("win-fleet", "windows/arm64", "stable", "intune", "windows-arm64", b"MZ pretend\n"),
            ],
        }
    }

    pub(crate) fn fixtures() -> Vec<Observations> {
        let files = [
            (Provider::Jamf, "jamf-computers-inventory.json", Some("stable")),
            (Provider::Intune, "intune-managed-devices.json", None),
            (Provider::Linux, "osquery-results.jsonl", None),
            (Provider::Edr, "falcon-devices.json", None),
            (Provider::Edr, "defender-machines.json", None),
            (Provider::Edr, "defender-software-inventory.json", None),
        ];
        files
            .iter()
            .map(|(p, f, ch)| {
                let bytes = std::fs::read(format!("{DIR}{f}")).unwrap();
                let i = Ingest {
                    provider: *p,
                    product: "app".into(),
                    channel: ch.map(String::from),
                    deployment: None,
                    observed_at: t("2026-12-01T00:00:00Z"),
                };
                ingest(&bytes, &i).unwrap_or_else(|e| panic!("{f}: {e}"))
            })
            .collect()
    }

    fn classes(r: &Report, endpoint: &str) -> Vec<(DriftClass, String)> {
        r.findings
            .iter()
            .filter(|f| f.endpoint.as_deref() == Some(endpoint))
            .map(|f| (f.class, f.field.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn every_drift_class_from_the_documented_fixtures() {
        use DriftClass::*;
        let r = reconcile(&desired(), &fixtures(), t("2026-12-01T00:00:00Z"), 48 * 3600).unwrap();
        let ep = |k: &str| r.endpoints.iter().find(|e| e.endpoint == k).unwrap_or_else(|| panic!("{k} in {:#?}", r.endpoints));
        // Jamf has the version, osquery the digest: together, aligned.
        assert!(ep("serial:C02ALIGNED01").aligned, "{:?}", classes(&r, "serial:C02ALIGNED01"));
        assert_eq!(ep("serial:C02ALIGNED01").observed_by.len(), 2);
        assert_eq!(ep("serial:C02ALIGNED01").target.as_deref(), Some("mac-fleet"));
        assert!(ep("host:lin-ok").aligned, "{:?}", classes(&r, "host:lin-ok"));
        assert_eq!(classes(&r, "serial:C02OLD000002"), [(VersionDrift, "version".into()), (MissingData, "sha256".into())]);
        assert_eq!(classes(&r, "host:lin-tampered"), [(BinaryDrift, "sha256".into())]);
        // Intune says 1.2.0, Defender's software inventory 1.2.1 (matched by host name, then by
        // Defender's device id); nobody reports the digest.
        assert_eq!(classes(&r, "serial:W-OK-0001"), [(MissingData, "sha256".into()), (ConflictingObservation, "version".into())]);
        assert_eq!(ep("serial:W-OK-0001").observed_by.len(), 2, "{:?}", ep("serial:W-OK-0001"));
        assert_eq!(classes(&r, "serial:W-NONE-0002"), [(VersionDrift, "version".into())]);
        // Graph's "never" is no last-seen time; no software reported: missing data, not compliance.
        assert_eq!(
            classes(&r, "serial:W-SILENT-03"),
            [(StaleObservation, "lastSeen".into()), (MissingData, "sha256".into()), (MissingData, "version".into())]
        );
        assert_eq!(classes(&r, "serial:VMW-LIN-0009"), [(MissingData, "sha256".into()), (MissingData, "version".into())]);
        assert_eq!(classes(&r, "host:tablet-7"), [(UnknownTarget, "platform".into())]);
        let missing: Vec<_> = r.findings.iter().filter(|f| f.class == MissingObservation).map(|f| f.target.clone().unwrap()).collect();
        assert_eq!(missing, ["mac-canary"]);
        for c in DriftClass::ALL {
            assert!(r.summary.findings[&c] > 0, "{c:?} not produced");
        }
        assert_eq!((r.summary.endpoints, r.summary.aligned), (9, 2));
        assert_eq!(r.outcome, "drift");
        // Deterministic: the same inputs in another order give the same report and id.
        let mut rev = fixtures();
        rev.reverse();
        let again = reconcile(&desired(), &rev, t("2026-12-01T00:00:00Z"), 48 * 3600).unwrap();
        assert_eq!(again, r);
        assert_eq!(Report::parse(&json::canonical(&r)).unwrap(), r);
        assert_eq!(r.to_bytes(), json::canonical(&r), "spliced bytes are the whole value's RFC 8785 bytes");
        for f in fixtures() {
            assert_eq!(f.to_bytes(), json::canonical(&f));
        }
        let mut edited = r.clone();
        edited.summary.aligned += 1;
        assert!(matches!(Report::parse(&json::canonical(&edited)), Err(InventoryError::Report(_))));
    }

    #[test]
    fn stale_after_and_aligned_outcome() {
        let d = Desired { targets: desired().targets.into_iter().filter(|t| t.id == "linux-servers").collect(), ..desired() };
        let lin: Vec<Observations> = fixtures()
            .into_iter()
            .filter(|f| f.provider == Provider::Linux)
            .map(|mut f| {
                f.observations.retain(|o| o.hostname.as_deref() == Some("lin-ok"));
                f
            })
            .collect();
        let r = reconcile(&d, &lin, t("2026-12-01T00:00:00Z"), 48 * 3600).unwrap();
        assert_eq!((r.outcome.as_str(), r.findings.len()), ("aligned", 0), "{:?}", r.findings);
        let r = reconcile(&d, &lin, t("2026-12-01T00:00:00Z"), 24 * 3600).unwrap();
        assert_eq!(classes(&r, "host:lin-ok"), [(DriftClass::StaleObservation, "lastSeen".into())]);
        // Not yet promoted into the channel: nothing is expected of its endpoints.
        let mut not_yet = d.clone();
        not_yet.targets[0].expected = false;
        let tampered: Vec<Observations> = fixtures().into_iter().filter(|f| f.provider == Provider::Linux).collect();
        let r = reconcile(&not_yet, &tampered, t("2026-12-01T00:00:00Z"), 48 * 3600).unwrap();
        assert!(r.findings.iter().all(|f| f.class == DriftClass::UnknownTarget), "{:?}", r.findings);
    }

    /// A generated fleet that exercises every matching rule: serials in other cases and with
    /// spaces, host names as FQDNs in upper case and shared by several machines, endpoints with
    /// neither, one provider sending two files (ids repeated across them), a file not sorted by
    /// id, a channel, explicit deployment targets, conflicts, strings that need escaping.
    pub(crate) fn generated_fleet(devices: usize) -> Vec<Observations> {
        use crate::inventory::Installed;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let now = t("2026-12-01T00:00:00Z").0;
        let digests = [Sha256Digest::of(b"app linux\n"), Sha256Digest::of(b"app darwin\n"), Sha256Digest::of(b"other\n")];
        let names = ["a\"b", "tab\there", "ctl\u{1}\u{1f}\u{7f}", "é\u{1F600}/x", "back\\slash"];
        let mut files = vec![];
        for (f, (provider, source, channel)) in [
            (Provider::Jamf, Source::JamfComputersInventory, Some("stable")),
            (Provider::Intune, Source::IntuneManagedDevices, None),
            (Provider::Linux, Source::OsqueryResults, None),
            (Provider::Edr, Source::FalconDevices, None),
            (Provider::Edr, Source::DefenderMachines, None),
        ]
        .into_iter()
        .enumerate()
        {
            let mut observations = vec![];
            for i in 0..devices {
                if rnd(10) < 3 {
                    continue;
                }
                let serial = match rnd(10) {
                    0 => None,
                    1 => Some(format!(" ser{i:05} ")),
                    2 if i > 0 => Some(format!("SER{:05}", i - 1)),
                    _ => Some(format!("SER{i:05}")),
                };
                let hostname = match rnd(12) {
                    0 => None,
                    1 => Some(format!("HOST-{}.corp.example", i % 97)),
                    2 => Some(names[i % names.len()].to_string()),
                    3 => Some(".".into()),
                    _ => Some(format!("host-{i}")),
                };
                let (os, arch) = match rnd(20) {
                    0 => (None, None),
                    1 => (Some("windows"), Some("arm64")),
                    2 => (Some("linux"), Some("amd64")),
                    3 => (Some("darwin"), None),
                    4 => (Some("plan9"), Some("mips")),
                    _ => (Some("darwin"), Some("arm64")),
                };
                let installed = match rnd(12) {
                    0 => None,
                    1 => Some(vec![]),
                    2 => Some(vec![
                        Installed { version: Some("1.1.0".into()), sha256: Some(digests[2]), path: None },
                        Installed { version: Some("1.2.0".into()), sha256: Some(digests[1]), path: Some("/x".into()) },
                    ]),
                    3 => Some(vec![Installed { version: None, sha256: None, path: Some("/y".into()) }]),
                    n => Some(vec![Installed {
                        version: Some(if n == 4 { "1.2.1" } else { "1.2.0" }.into()),
                        sha256: (n % 2 == 0).then(|| digests[(n as usize / 2) % 2]),
                        path: None,
                    }]),
                };
                let id = if f == 4 && i % 3 == 0 { format!("edr-{i}") } else { format!("{}{f}-{i:06}", provider.name()) };
                observations.push(Observation {
                    endpoint_id: id,
                    hostname,
                    serial,
                    os: os.map(Into::into),
                    arch: arch.map(Into::into),
                    deployment_target: match rnd(40) {
                        0 => Some("mac-fleet".into()),
                        1 => Some("gone".into()),
                        _ => None,
                    },
                    installed,
                    last_seen: match rnd(10) {
                        0 => None,
                        1 => Some(Timestamp(now - 3 * 86400)),
                        _ => Some(Timestamp(now - rnd(3600) as i64)),
                    },
                    management_state: Some("managed".into()),
                });
            }
            if f == 0 {
                observations.reverse();
            } else if f == 3 {
                observations.extend((0..devices).step_by(3).map(|i| Observation {
                    endpoint_id: format!("edr-{i}"),
                    hostname: Some(format!("host-{i}")),
                    serial: None,
                    os: Some("darwin".into()),
                    arch: None,
                    deployment_target: None,
                    installed: None,
                    last_seen: Some(Timestamp(now)),
                    management_state: None,
                }));
            }
            files.push(Observations {
                schema: crate::inventory::OBSERVATIONS_SCHEMA.into(),
                provider,
                source,
                product: "app".into(),
                channel: channel.map(String::from),
                observed_at: Timestamp(now - 60),
                export_digest: Sha256Digest([f as u8; 32]),
                observations,
            });
        }
        files
    }

    /// The report on a generated fleet is byte for byte the one the first implementation wrote
    /// (generic serde serialisation, every lookup table kept); its digest was recorded from it.
    #[test]
    fn generated_fleet_report_is_byte_identical_to_the_first_implementations() {
        let r = reconcile(&desired(), &generated_fleet(3000), t("2026-12-01T00:00:00Z"), 48 * 3600).unwrap();
        let bytes = r.to_bytes();
        assert_eq!(bytes, json::canonical(&r));
        for c in DriftClass::ALL {
            assert!(r.summary.findings[&c] > 0 || c == DriftClass::MissingObservation, "{c:?} not produced");
        }
        assert_eq!((r.summary.endpoints, r.summary.aligned, bytes.len()), (3582, 237, 2_058_988));
        assert_eq!(Sha256Digest::of(&bytes).hex(), "b222ae69aed1a15c21fbfc2b3ff9258d9a52dd2e81f40ad87077b231320c2193");
    }

    /// The hand-written RFC 8785 items are the JCS serializer's bytes, for every optional member
    /// present or absent and every character class that needs escaping.
    #[test]
    fn hand_written_items_are_the_serializers() {
        use crate::inventory::Items;
        let texts: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(|c| format!("{c}x{c}"))
            .chain(["", "é", "\u{1F600}", "a/b", "\u{2028}"].map(String::from))
            .collect();
        let mut endpoints = vec![];
        let mut findings = vec![];
        for (n, s) in texts.iter().enumerate() {
            let opt = |k: usize| (n % k != 0).then(|| s.clone());
            endpoints.push(Endpoint { endpoint: s.clone(), target: opt(2), observed_by: texts[..n % 4].to_vec(), aligned: n % 3 == 0 });
            findings.push(Finding {
                endpoint: opt(3),
                class: DriftClass::ALL[n % 7],
                target: opt(2),
                field: opt(5),
                expected: opt(4),
                actual: opt(6),
                detail: s.clone(),
            });
        }
        for n in 0..texts.len() {
            let (mut a, mut b) = (vec![], vec![]);
            Jcs(&endpoints).canonical_into(n, &mut a);
            json::canonical_into(&endpoints[n], &mut b);
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            let (mut a, mut b) = (vec![], vec![]);
            Jcs(&findings).canonical_into(n, &mut a);
            json::canonical_into(&findings[n], &mut b);
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        }
    }

    #[test]
    fn observations_of_another_product_cannot_be_reconciled() {
        let mut f = fixtures();
        f[0].product = "other".into();
        assert!(matches!(reconcile(&desired(), &f, t("2026-12-01T00:00:00Z"), 3600), Err(InventoryError::Product { .. })));
    }
}
