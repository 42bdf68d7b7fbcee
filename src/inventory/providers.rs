//! The provider parsers: a documented export's bytes → [`Observations`]. Field mapping and
//! citations: `format-spec/inventory-v1.md` §3.
//!
//! Each parser reads only the fields the vendor documents, maps them onto the normalised
//! observation and leaves everything else absent. A JSON `null` is "not reported". The product's
//! installations are picked out of the software list by name ([`product_matches`]).

use super::stream::Doc;
use super::{
    Installed, Interner, InventoryError, OBSERVATIONS_SCHEMA, Observation, Observations, Provider, Source, Text, parse_json, vendor_time,
};
use crate::digest::Sha256Digest;
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// What an ingestion is told besides the bytes.
#[derive(Clone, Debug)]
pub struct Ingest {
    /// The provider named on the command line.
    pub provider: Provider,
    /// The product whose installations are picked out.
    pub product: String,
    /// The channel the export covers.
    pub channel: Option<String>,
    /// The deployment target the export is scoped to.
    pub deployment: Option<String>,
    /// When the export was taken; no time in it may be later.
    pub observed_at: Timestamp,
}

const JAMF: &str = "a Jamf Pro API computers inventory (GET /api/v1/computers-inventory: {\"results\": [...]})";
const INTUNE: &str = "a Microsoft Graph managedDevices list (GET /deviceManagement/managedDevices: {\"value\": [...]})";
const OSQUERY: &str = "osquery / Fleet result log lines (one JSON object per line with name, hostIdentifier, unixTime, action)";
const FALCON: &str = "CrowdStrike Falcon device entities (GET /devices/entities/devices/v2: {\"resources\": [...]})";
const DEFENDER: &str = "Defender for Endpoint machines (GET /api/machines: {\"value\": [...]})";
const DEFENDER_SW: &str = "a Defender for Endpoint software inventory (GET /api/machines/SoftwareInventoryByMachine: {\"value\": [...]})";

/// Whether a software entry's name names `product`: equal after lower-casing, dropping a
/// `.app`/`.exe` suffix and reading `_`, ` ` and `-` as one.
pub fn product_matches(name: &str, product: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_suffix(".app").or_else(|| s.strip_suffix(".exe")).unwrap_or(&s).to_string();
        s.chars().map(|c| if c == '_' || c == ' ' { '-' } else { c }).collect()
    }
    !product.is_empty() && norm(name) == norm(product)
}

/// The last component of a path (`/` or `\` separated).
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Go architecture names for what providers write.
fn arch_of(s: &str) -> Text {
    match s.to_ascii_lowercase().as_str() {
        "x86_64" | "x64" | "amd64" | "i386" => "amd64".into(),
        "arm64" | "aarch64" | "arm64e" => "arm64".into(),
        "x86" | "i686" => "386".into(),
        other => other.into(),
    }
}

/// Go OS names for what providers write.
fn os_of(s: &str) -> Text {
    let l = s.to_ascii_lowercase();
    if l.starts_with("windows") {
        "windows".into()
    } else if l == "mac" || l.starts_with("macos") || l.starts_with("mac os") || l == "darwin" || l == "osx" {
        "darwin".into()
    } else if l == "linux" || OSQUERY_LINUX.contains(&l.as_str()) {
        "linux".into()
    } else {
        l.into()
    }
}

/// osquery `os_version.platform` values that are Linux distributions.
const OSQUERY_LINUX: &[&str] = &[
    "ubuntu",
    "debian",
    "rhel",
    "centos",
    "fedora",
    "amzn",
    "suse",
    "opensuse",
    "arch",
    "manjaro",
    "gentoo",
    "oracle",
    "rocky",
    "almalinux",
];

/// Which documented shape a value is, as the hint in a shape error.
fn looks_like(v: &Value) -> Option<(Provider, &'static str)> {
    let o = v.as_object()?;
    let first = o.get("value").and_then(Value::as_array).and_then(|a| a.first());
    guess(
        o.get("results").is_some_and(Value::is_array),
        o.get("resources").is_some_and(Value::is_array),
        o.contains_key("hostIdentifier"),
        first,
    )
}

/// [`looks_like`] of a streamed document (only the first element of `value` is parsed).
fn looks_like_doc(doc: &Doc<'_>) -> Option<(Provider, &'static str)> {
    let first = if doc.has_array("value") { doc.elements("value").next().and_then(Result::ok) } else { None };
    let first = first.or_else(|| doc.top.get("value").and_then(Value::as_array).and_then(|a| a.first()).cloned());
    let array = |k: &str| doc.has_array(k) || doc.top.get(k).is_some_and(Value::is_array);
    guess(array("results"), array("resources"), doc.top.contains_key("hostIdentifier"), first.as_ref())
}

fn guess(results: bool, resources: bool, host_identifier: bool, first_value: Option<&Value>) -> Option<(Provider, &'static str)> {
    if results {
        return Some((Provider::Jamf, "a Jamf Pro computers inventory (--provider jamf)"));
    }
    if resources {
        return Some((Provider::Edr, "CrowdStrike Falcon device entities (--provider edr)"));
    }
    if host_identifier {
        return Some((Provider::Linux, "an osquery / Fleet result log (--provider linux)"));
    }
    let first = first_value?.as_object()?;
    if first.contains_key("computerDnsName") {
        Some((Provider::Edr, "Defender for Endpoint machines (--provider edr)"))
    } else if first.contains_key("softwareName") {
        Some((Provider::Edr, "a Defender for Endpoint software inventory (--provider edr)"))
    } else if first.contains_key("deviceName") || first.contains_key("managementAgent") {
        Some((Provider::Intune, "a Microsoft Graph managedDevices list (--provider intune)"))
    } else {
        None
    }
}

/// Reads fields of one export, naming each by JSON Pointer in errors.
struct Reader<'a> {
    what: String,
    expected: &'static str,
    looks_like: Option<&'static str>,
    ingest: &'a Ingest,
}

impl Reader<'_> {
    fn shape(&self, field: String, problem: &str) -> InventoryError {
        InventoryError::Shape {
            what: self.what.clone(),
            expected: self.expected,
            field,
            problem: problem.into(),
            looks_like: self.looks_like,
        }
    }

    fn obj<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, InventoryError> {
        v.as_object().ok_or_else(|| self.shape(at.into(), "is not an object"))
    }

    fn array<'v>(&self, o: &'v Map<String, Value>, at: &str, key: &str) -> Result<&'v Vec<Value>, InventoryError> {
        match o.get(key) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.shape(format!("{at}/{key}"), "is not an array")),
            None => Err(self.shape(format!("{at}/{key}"), "is missing")),
        }
    }

    /// An optional array: absent or null → None.
    fn opt_array<'v>(&self, o: &'v Map<String, Value>, at: &str, key: &str) -> Result<Option<&'v Vec<Value>>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.shape(format!("{at}/{key}"), "is not an array")),
        }
    }

    fn opt_obj<'v>(&self, o: &'v Map<String, Value>, at: &str, key: &str) -> Result<Option<&'v Map<String, Value>>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.shape(format!("{at}/{key}"), "is not an object")),
        }
    }

    /// An optional string: absent, null or empty → None.
    fn opt_text(&self, o: &Map<String, Value>, at: &str, key: &str) -> Result<Option<Text>, InventoryError> {
        Ok(self.opt_str(o, at, key)?.map(Text::from))
    }

    fn opt_str(&self, o: &Map<String, Value>, at: &str, key: &str) -> Result<Option<String>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.shape(format!("{at}/{key}"), "is not a string")),
        }
    }

    /// A required id: a non-empty string (or an integer, as some exports write ids).
    fn id(&self, o: &Map<String, Value>, at: &str, key: &str) -> Result<String, InventoryError> {
        match o.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            Some(Value::String(_)) => Err(self.shape(format!("{at}/{key}"), "is empty")),
            Some(_) => Err(self.shape(format!("{at}/{key}"), "is not a string")),
            None => Err(self.shape(format!("{at}/{key}"), "is missing")),
        }
    }

    fn time(&self, o: &Map<String, Value>, at: &str, key: &str, id: &str) -> Result<Option<Timestamp>, InventoryError> {
        let Some(s) = self.opt_str(o, at, key)? else { return Ok(None) };
        let t = vendor_time(&s).ok_or_else(|| InventoryError::BadTimestamp {
            what: self.what.clone(),
            id: id.into(),
            field: format!("{at}/{key}"),
            value: s.clone(),
        })?;
        self.not_future(t, &format!("{at}/{key}"), id)
    }

    fn not_future(&self, t: Option<Timestamp>, field: &str, id: &str) -> Result<Option<Timestamp>, InventoryError> {
        match t {
            Some(t) if t > self.ingest.observed_at => Err(InventoryError::FutureTimestamp {
                what: self.what.clone(),
                id: id.into(),
                field: field.into(),
                value: t,
                now: self.ingest.observed_at,
            }),
            t => Ok(t),
        }
    }

    fn observation(&self, endpoint_id: String) -> Observation {
        Observation {
            endpoint_id,
            hostname: None,
            serial: None,
            os: None,
            arch: None,
            deployment_target: self.ingest.deployment.as_deref().map(Text::from),
            installed: None,
            last_seen: None,
            management_state: None,
        }
    }
}

/// Keeps the first position of every endpoint id; a second one is an error.
struct Seen<'a> {
    what: &'a str,
    at: HashMap<String, String>,
}

impl Seen<'_> {
    fn add(&mut self, id: &str, here: String) -> Result<(), InventoryError> {
        if let Some(first) = self.at.get(id) {
            return Err(InventoryError::DuplicateEndpoint { what: self.what.into(), id: id.into(), first: first.clone(), second: here });
        }
        self.at.insert(id.to_string(), here);
        Ok(())
    }
}

/// Reads a provider export. Errors name the input, the field and, for another provider's file,
/// which provider it looks like.
pub fn ingest(bytes: &[u8], i: &Ingest) -> Result<Observations, InventoryError> {
    let what = format!("{} export", i.provider.name());
    let (source, mut observations) = match i.provider {
        Provider::Linux => (Source::OsqueryResults, osquery(bytes, i, &what)?),
        p => {
            let arrays: &[&str] = match p {
                Provider::Jamf => &["results"],
                Provider::Intune => &["value"],
                _ => &["resources", "value"],
            };
            let expected = match p {
                Provider::Jamf => JAMF,
                Provider::Intune => INTUNE,
                _ => "CrowdStrike Falcon device entities or Defender for Endpoint machines",
            };
            let Some(doc) = Doc::read(&what, bytes, arrays)? else {
                return Err(reader(&what, expected, None, i).shape(String::new(), "(the document) is not an object"));
            };
            let other = looks_like_doc(&doc).filter(|(q, _)| *q != p).map(|(_, l)| l);
            match p {
                Provider::Jamf => (Source::JamfComputersInventory, jamf(&doc, &reader(&what, JAMF, other, i))?),
                Provider::Intune => (Source::IntuneManagedDevices, intune(&doc, &reader(&what, INTUNE, other, i))?),
                _ => edr(&doc, &what, other, i)?,
            }
        }
    };
    observations.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
    let mut shared = Interner::default();
    for o in &mut observations {
        o.compact(&mut shared);
    }
    Ok(Observations {
        schema: OBSERVATIONS_SCHEMA.into(),
        provider: i.provider,
        source,
        product: i.product.clone(),
        channel: i.channel.clone(),
        observed_at: i.observed_at,
        export_digest: Sha256Digest::of(bytes),
        observations,
    })
}

/// The streamed elements of the array `key`, or the shape error naming it.
fn elements<'d>(
    doc: &'d Doc<'_>,
    r: &Reader<'_>,
    key: &str,
) -> Result<impl Iterator<Item = Result<Value, InventoryError>> + 'd, InventoryError> {
    if !doc.has_array(key) {
        let problem = if doc.top.contains_key(key) { "is not an array" } else { "is missing" };
        return Err(r.shape(format!("/{key}"), problem));
    }
    Ok(doc.elements(key))
}

fn reader<'a>(what: &str, expected: &'static str, looks_like: Option<&'static str>, ingest: &'a Ingest) -> Reader<'a> {
    Reader { what: what.into(), expected, looks_like, ingest }
}

/// Jamf Pro API computers inventory: `results[]` with `general`, `hardware`,
/// `operatingSystem` and `applications` sections (each present only when requested).
fn jamf(doc: &Doc<'_>, r: &Reader<'_>) -> Result<Vec<Observation>, InventoryError> {
    let results = elements(doc, r, "results")?;
    let mut seen = Seen { what: &r.what, at: HashMap::new() };
    let mut out = Vec::new();
    for (n, c) in results.enumerate() {
        let c = c?;
        let at = format!("/results/{n}");
        let c = r.obj(&c, &at)?;
        let id = r.id(c, &at, "id")?;
        seen.add(&id, at.clone())?;
        let mut o = r.observation(id.clone());
        if let Some(g) = r.opt_obj(c, &at, "general")? {
            let ga = format!("{at}/general");
            o.hostname = r.opt_str(g, &ga, "name")?;
            o.last_seen = r.time(g, &ga, "lastContactTime", &id)?;
            if r.opt_str(g, &ga, "platform")?.as_deref() == Some("Mac") {
                o.os = Some("darwin".into());
            }
            if let Some(rm) = r.opt_obj(g, &ga, "remoteManagement")? {
                match rm.get("managed") {
                    Some(Value::Bool(m)) => o.management_state = Some(if *m { "managed" } else { "unmanaged" }.into()),
                    None | Some(Value::Null) => {}
                    Some(_) => return Err(r.shape(format!("{ga}/remoteManagement/managed"), "is not a boolean")),
                }
            }
        }
        if let Some(h) = r.opt_obj(c, &at, "hardware")? {
            let ha = format!("{at}/hardware");
            o.serial = r.opt_str(h, &ha, "serialNumber")?;
            o.arch = r.opt_str(h, &ha, "processorArchitecture")?.map(|a| arch_of(&a));
        }
        if let Some(os) = r.opt_obj(c, &at, "operatingSystem")?
            && let Some(name) = r.opt_str(os, &format!("{at}/operatingSystem"), "name")?
        {
            o.os = Some(os_of(&name));
        }
        if let Some(apps) = r.opt_array(c, &at, "applications")? {
            let mut installed = vec![];
            for (k, a) in apps.iter().enumerate() {
                let aa = format!("{at}/applications/{k}");
                let a = r.obj(a, &aa)?;
                let name = r.opt_str(a, &aa, "name")?;
                let path = r.opt_str(a, &aa, "path")?;
                let bundle_id = r.opt_str(a, &aa, "bundleId")?;
                let named = name.as_deref().is_some_and(|n| product_matches(n, &r.ingest.product))
                    || path.as_deref().is_some_and(|p| product_matches(file_name(p), &r.ingest.product))
                    || bundle_id.as_deref().is_some_and(|b| product_matches(b.rsplit('.').next().unwrap_or(b), &r.ingest.product));
                if named {
                    installed.push(Installed { version: r.opt_text(a, &aa, "version")?, sha256: None, path });
                }
            }
            installed.sort();
            o.installed = Some(installed);
        }
        out.push(o);
    }
    Ok(out)
}

/// Microsoft Graph `managedDevices` (`value[]`), with `detectedApps` when expanded.
fn intune(doc: &Doc<'_>, r: &Reader<'_>) -> Result<Vec<Observation>, InventoryError> {
    let value = elements(doc, r, "value")?;
    let mut seen = Seen { what: &r.what, at: HashMap::new() };
    let mut out = Vec::new();
    for (n, d) in value.enumerate() {
        let d = d?;
        let at = format!("/value/{n}");
        let d = r.obj(&d, &at)?;
        let id = r.id(d, &at, "id")?;
        seen.add(&id, at.clone())?;
        let mut o = r.observation(id.clone());
        o.hostname = r.opt_str(d, &at, "deviceName")?;
        o.serial = r.opt_str(d, &at, "serialNumber")?;
        o.os = r.opt_str(d, &at, "operatingSystem")?.map(|s| os_of(&s));
        // Graph beta only; "unknown" is not a report.
        o.arch = r.opt_str(d, &at, "processorArchitecture")?.filter(|a| a != "unknown").map(|a| arch_of(&a));
        o.last_seen = r.time(d, &at, "lastSyncDateTime", &id)?;
        o.management_state = r.opt_text(d, &at, "managementState")?;
        if let Some(apps) = r.opt_array(d, &at, "detectedApps")? {
            let mut installed = vec![];
            for (k, a) in apps.iter().enumerate() {
                let aa = format!("{at}/detectedApps/{k}");
                let a = r.obj(a, &aa)?;
                if r.opt_str(a, &aa, "displayName")?.is_some_and(|n| product_matches(&n, &r.ingest.product)) {
                    installed.push(Installed { version: r.opt_text(a, &aa, "version")?, sha256: None, path: None });
                }
            }
            installed.sort();
            o.installed = Some(installed);
        }
        out.push(o);
    }
    Ok(out)
}

/// EDR exports: Falcon `resources[]`, or Defender `value[]` of machines or of software rows.
fn edr(doc: &Doc<'_>, what: &str, other: Option<&'static str>, i: &Ingest) -> Result<(Source, Vec<Observation>), InventoryError> {
    if doc.has_array("resources") || doc.top.contains_key("resources") {
        return Ok((Source::FalconDevices, falcon(doc, &reader(what, FALCON, other, i))?));
    }
    let first = if doc.has_array("value") { doc.elements("value").next().transpose()? } else { None };
    let software = first.as_ref().and_then(Value::as_object).is_some_and(|f| f.contains_key("softwareName"));
    if software {
        Ok((Source::DefenderSoftwareInventory, defender_software(doc, &reader(what, DEFENDER_SW, other, i))?))
    } else {
        let expected = if doc.has_array("value") || doc.top.contains_key("value") {
            DEFENDER
        } else {
            "CrowdStrike Falcon device entities ({\"resources\": [...]}) or Defender for Endpoint machines ({\"value\": [...]})"
        };
        Ok((Source::DefenderMachines, defender_machines(doc, &reader(what, expected, other, i))?))
    }
}

/// CrowdStrike Falcon device details (`resources[]`).
fn falcon(doc: &Doc<'_>, r: &Reader<'_>) -> Result<Vec<Observation>, InventoryError> {
    let res = elements(doc, r, "resources")?;
    let mut seen = Seen { what: &r.what, at: HashMap::new() };
    let mut out = Vec::new();
    for (n, d) in res.enumerate() {
        let d = d?;
        let at = format!("/resources/{n}");
        let d = r.obj(&d, &at)?;
        let id = r.id(d, &at, "device_id")?;
        seen.add(&id, at.clone())?;
        let mut o = r.observation(id.clone());
        o.hostname = r.opt_str(d, &at, "hostname")?;
        o.serial = r.opt_str(d, &at, "serial_number")?;
        o.os = r.opt_str(d, &at, "platform_name")?.map(|s| os_of(&s));
        o.last_seen = r.time(d, &at, "last_seen", &id)?;
        o.management_state = r.opt_text(d, &at, "status")?;
        out.push(o);
    }
    Ok(out)
}

/// Defender for Endpoint machines (`value[]`).
fn defender_machines(doc: &Doc<'_>, r: &Reader<'_>) -> Result<Vec<Observation>, InventoryError> {
    let value = elements(doc, r, "value")?;
    let mut seen = Seen { what: &r.what, at: HashMap::new() };
    let mut out = Vec::new();
    for (n, d) in value.enumerate() {
        let d = d?;
        let at = format!("/value/{n}");
        let d = r.obj(&d, &at)?;
        let id = r.id(d, &at, "id")?;
        if !d.contains_key("computerDnsName") {
            return Err(r.shape(format!("{at}/computerDnsName"), "is missing"));
        }
        seen.add(&id, at.clone())?;
        let mut o = r.observation(id.clone());
        o.hostname = r.opt_str(d, &at, "computerDnsName")?;
        o.os = r.opt_str(d, &at, "osPlatform")?.map(|s| os_of(&s));
        o.arch = r.opt_str(d, &at, "osProcessor")?.map(|a| arch_of(&a));
        o.last_seen = r.time(d, &at, "lastSeen", &id)?;
        o.management_state = r.opt_text(d, &at, "onboardingStatus")?;
        out.push(o);
    }
    Ok(out)
}

/// Defender for Endpoint software inventory by machine (`value[]`, one row per device and
/// software): grouped by device; a device listed without the product has it not installed.
fn defender_software(doc: &Doc<'_>, r: &Reader<'_>) -> Result<Vec<Observation>, InventoryError> {
    let value = elements(doc, r, "value")?;
    let mut devices: BTreeMap<String, Observation> = BTreeMap::new();
    let mut seen = Seen { what: &r.what, at: HashMap::new() };
    for (n, row) in value.enumerate() {
        let row = row?;
        let at = format!("/value/{n}");
        let row = r.obj(&row, &at)?;
        let id = r.id(row, &at, "deviceId")?;
        let name = r.opt_str(row, &at, "softwareName")?.ok_or_else(|| r.shape(format!("{at}/softwareName"), "is missing"))?;
        let vendor = r.opt_str(row, &at, "softwareVendor")?.unwrap_or_default();
        let version = r.opt_text(row, &at, "softwareVersion")?;
        seen.add(&format!("{id} {vendor} {name} {}", version.as_deref().unwrap_or("")), at.clone())?;
        let o = devices.entry(id.clone()).or_insert_with(|| {
            let mut o = r.observation(id.clone());
            o.installed = Some(vec![]);
            o
        });
        let hostname = r.opt_str(row, &at, "deviceName")?;
        let os = r.opt_str(row, &at, "osPlatform")?.map(|s| os_of(&s));
        o.hostname = o.hostname.take().or(hostname);
        o.os = o.os.take().or(os);
        if product_matches(&name, &r.ingest.product) {
            let paths =
                r.opt_array(row, &at, "diskPaths")?.map(|p| p.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>());
            let path = paths.and_then(|p| p.into_iter().next());
            o.installed.get_or_insert_with(Vec::new).push(Installed { version, sha256: None, path });
        }
    }
    let mut out: Vec<Observation> = devices.into_values().collect();
    for o in &mut out {
        if let Some(i) = &mut o.installed {
            i.sort();
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Host {
    obs: Option<Observation>,
    /// Installations by path.
    files: BTreeMap<String, Installed>,
    /// `(query name, unixTime)` of the snapshots read.
    snapshots: HashMap<(String, i64), usize>,
    latest_snapshot: Option<i64>,
    last_seen: Option<i64>,
}

/// osquery / Fleet result logs: JSON lines, snapshot (`snapshot[]`) or differential
/// (`columns`, `action` added/removed), over the `hash` (`path`, `sha256`) and `file` tables;
/// `version` when the query selects one. Hosts are named by `hostIdentifier`, or by the
/// `host_uuid` decoration when present; `hardware_serial`, `hostname`, `platform` and
/// `cpu_type` decorations are read when configured.
fn osquery(bytes: &[u8], i: &Ingest, what: &str) -> Result<Vec<Observation>, InventoryError> {
    let mut hosts: HashMap<String, Host> = HashMap::new();
    let mut start = 0usize;
    let mut line_no = 0usize;
    let mut any = false;
    while start < bytes.len() {
        line_no += 1;
        let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| start + p);
        let line = &bytes[start..end];
        start = end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        any = true;
        let v = parse_json(what, line, line_no)?;
        let other = looks_like(&v).filter(|(q, _)| *q != Provider::Linux).map(|(_, l)| l);
        let r = reader(what, OSQUERY, other, i);
        let at = format!("line {line_no}");
        let o = r.obj(&v, &at)?;
        let name = r.id(o, &at, "name")?;
        let host_identifier = r.id(o, &at, "hostIdentifier")?;
        let unix = match o.get("unixTime") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            None => return Err(r.shape(format!("{at}/unixTime"), "is missing")),
            _ => None,
        }
        .filter(|t| *t >= 0)
        .ok_or_else(|| r.shape(format!("{at}/unixTime"), "is not a count of seconds"))?;
        let action = r.opt_str(o, &at, "action")?.ok_or_else(|| r.shape(format!("{at}/action"), "is missing"))?;
        let deco = r.opt_obj(o, &at, "decorations")?;
        let deco_str = |k: &str| -> Result<Option<String>, InventoryError> {
            match deco {
                Some(d) => r.opt_str(d, &format!("{at}/decorations"), k),
                None => Ok(None),
            }
        };
        let id = deco_str("host_uuid")?.unwrap_or_else(|| host_identifier.clone());
        r.not_future(Some(Timestamp(unix)), &format!("{at}/unixTime"), &id)?;
        let h = hosts.entry(id.clone()).or_default();
        let obs = h.obs.get_or_insert_with(|| r.observation(id.clone()));
        obs.hostname = deco_str("hostname")?.or(obs.hostname.take()).or(Some(host_identifier.clone()));
        obs.serial = deco_str("hardware_serial")?.or(obs.serial.take());
        obs.os = deco_str("platform")?.map(|p| os_of(&p)).or(obs.os.take());
        obs.arch = deco_str("cpu_type")?.map(|a| arch_of(&a)).or(obs.arch.take());
        h.last_seen = h.last_seen.max(Some(unix));
        let row = |c: &Value, ca: &str| -> Result<Option<(String, Installed)>, InventoryError> {
            let c = r.obj(c, ca)?;
            let Some(path) = r.opt_str(c, ca, "path")? else { return Err(r.shape(format!("{ca}/path"), "is missing")) };
            if !product_matches(file_name(&path), &i.product) {
                return Ok(None);
            }
            let sha256 = match r.opt_str(c, ca, "sha256")? {
                Some(hex) => Some(Sha256Digest::from_hex(&hex).map_err(|_| r.shape(format!("{ca}/sha256"), "is not 64 hex digits"))?),
                None => None,
            };
            Ok(Some((path.clone(), Installed { version: r.opt_text(c, ca, "version")?, sha256, path: Some(path) })))
        };
        match action.as_str() {
            "snapshot" => {
                let rows = r.array(o, &at, "snapshot")?;
                if let Some(first) = h.snapshots.insert((name.clone(), unix), line_no) {
                    return Err(InventoryError::DuplicateEndpoint {
                        what: what.into(),
                        id,
                        first: format!("line {first}"),
                        second: format!("line {line_no} (the same snapshot of query {name:?} at {})", Timestamp(unix)),
                    });
                }
                if h.latest_snapshot.is_some_and(|t| t > unix) {
                    continue;
                }
                h.latest_snapshot = Some(unix);
                h.files.clear();
                for (k, c) in rows.iter().enumerate() {
                    if let Some((p, inst)) = row(c, &format!("{at}/snapshot/{k}"))? {
                        h.files.insert(p, inst);
                    }
                }
            }
            "added" | "removed" => {
                let c = o.get("columns").ok_or_else(|| r.shape(format!("{at}/columns"), "is missing"))?;
                if let Some((p, inst)) = row(c, &format!("{at}/columns"))? {
                    if action == "added" {
                        h.files.insert(p, inst);
                    } else {
                        h.files.remove(&p);
                    }
                }
            }
            _ => return Err(r.shape(format!("{at}/action"), "is not snapshot, added or removed")),
        }
    }
    if !any {
        let r = reader(what, OSQUERY, None, i);
        return Err(r.shape("line 1".into(), "is missing (the file holds no result line)"));
    }
    Ok(hosts
        .into_values()
        .filter_map(|h| {
            let mut o = h.obs?;
            o.last_seen = h.last_seen.map(Timestamp);
            o.installed = Some(h.files.into_values().collect());
            Some(o)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ing(p: Provider) -> Ingest {
        Ingest {
            provider: p,
            product: "airlock-demo".into(),
            channel: None,
            deployment: None,
            observed_at: Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn product_names_match_across_vendor_spellings() {
        assert!(product_matches("Airlock Demo.app", "airlock-demo"));
        assert!(product_matches("airlock_demo", "airlock-demo"));
        assert!(product_matches("airlock-demo.exe", "airlock-demo"));
        assert!(!product_matches("airlock-demo-helper", "airlock-demo"));
    }

    #[test]
    fn another_providers_file_names_the_missing_field_and_the_provider() {
        let intune = br#"{"value":[{"id":"a","deviceName":"h"}]}"#;
        let e = ingest(intune, &ing(Provider::Jamf)).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("/results is missing") && s.contains("--provider intune"), "{s}");
        let e = ingest(intune, &ing(Provider::Edr)).unwrap_err().to_string();
        assert!(e.contains("/value/0/computerDnsName is missing") && e.contains("--provider intune"), "{e}");
        let e = ingest(br#"{"results":[]}"#, &ing(Provider::Linux)).unwrap_err().to_string();
        assert!(e.contains("/name is missing") && e.contains("--provider jamf"), "{e}");
    }

    #[test]
    fn malformed_json_gives_line_and_column() {
        let e = ingest(b"{\n \"value\": [\n  {\"id\": 1,}\n]}", &ing(Provider::Intune)).unwrap_err();
        assert!(matches!(e, InventoryError::Json { line: 3, .. }), "{e}");
        let e = ingest(
            b"{\"name\":\"q\",\"hostIdentifier\":\"h\",\"unixTime\":1,\"action\":\"snapshot\",\"snapshot\":[]}\n{oops}\n",
            &ing(Provider::Linux),
        )
        .unwrap_err();
        assert!(matches!(e, InventoryError::Json { line: 2, column: 2, .. }), "{e}");
    }

    #[test]
    fn duplicates_and_future_times_are_refused() {
        let dup = br#"{"resources":[{"device_id":"d1"},{"device_id":"d1"}]}"#;
        assert!(matches!(ingest(dup, &ing(Provider::Edr)), Err(InventoryError::DuplicateEndpoint { .. })));
        let fut = br#"{"resources":[{"device_id":"d1","last_seen":"2027-01-01T00:00:00Z"}]}"#;
        assert!(matches!(ingest(fut, &ing(Provider::Edr)), Err(InventoryError::FutureTimestamp { .. })));
        let bad = br#"{"resources":[{"device_id":"d1","last_seen":"last tuesday"}]}"#;
        assert!(matches!(ingest(bad, &ing(Provider::Edr)), Err(InventoryError::BadTimestamp { .. })));
    }

    #[test]
    fn unreported_fields_stay_absent() {
        let o = ingest(br#"{"resources":[{"device_id":"d1","hostname":"h1","serial_number":null}]}"#, &ing(Provider::Edr)).unwrap();
        let d = &o.observations[0];
        assert_eq!((d.hostname.as_deref(), d.serial.as_deref(), d.installed.as_ref(), d.last_seen), (Some("h1"), None, None, None));
        let o = ingest(br#"{"value":[{"id":"i1","detectedApps":[]}]}"#, &ing(Provider::Intune)).unwrap();
        assert_eq!(o.observations[0].installed, Some(vec![]), "reported, not installed");
    }
}
