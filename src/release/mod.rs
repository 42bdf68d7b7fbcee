//! Release metadata (sans-I/O): the typed member `release/airlock-release.json` that says how a
//! release is installed, probed, deployed and rolled out, and which release controls it keeps.
//! Normative text: `format-spec/release-metadata-v1.md`.
//!
//! The document is read strictly (duplicate keys, big integers, unknown fields refused) and must
//! be in its one normal form (RFC 8785, every field written). [`validate`] binds it to the
//! bundle's manifest: every installer binary is an `artifacts/` member whose manifest digest is
//! the one the installer declares. [`upgrade`] compares two verified releases; [`cavra`] maps a
//! CAVRA go-release package onto this model.

pub mod cavra;
pub mod report;
pub mod upgrade;

use crate::bundle::Kind;
use crate::bundle::manifest::Member;
use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use crate::report::Check;
use crate::verify::{Verified, VerifiedBundle};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where the metadata lives inside a bundle.
pub const METADATA_PATH: &str = "release/airlock-release.json";
/// The `schema` value of version 1.
pub const METADATA_SCHEMA: &str = "airlock/release-metadata/v1";
/// Largest metadata document read.
pub const MAX_METADATA_SIZE: u64 = 4 << 20;
/// Default and largest probe timeout, seconds.
pub const DEFAULT_PROBE_TIMEOUT: u32 = 30;
/// Largest probe timeout, seconds.
pub const MAX_PROBE_TIMEOUT: u32 = 600;

/// Errors reading release metadata. All mean "could not check" (exit 2), except where a
/// command decides that absent metadata is a failed check.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Not strict JSON.
    #[error("{METADATA_PATH} is not strict JSON: {0}")]
    Json(#[from] JsonError),
    /// A TOML input file could not be read.
    #[error("release metadata TOML is invalid: {0}")]
    Toml(String),
    /// Fields missing, unknown or of the wrong type.
    #[error("release metadata does not match the v1 schema: {0}")]
    Schema(String),
    /// `schema` names a version this binary does not read.
    #[error("release metadata schema {found:?} is not supported; this airlock reads {METADATA_SCHEMA:?}")]
    UnknownSchema {
        /// The value found.
        found: String,
    },
    /// Valid but not in the one normal form (RFC 8785 with every field written).
    #[error(
        "{METADATA_PATH} is not in its normal form (RFC 8785, every field written, no null for an absent option): first difference at byte {offset}"
    )]
    NotNormal {
        /// First differing byte.
        offset: usize,
    },
    /// The bundle carries no metadata member.
    #[error("the bundle has no {METADATA_PATH}; pack it with `airlock pack --release release.toml`")]
    Missing,
    /// The bytes given are not the member the verified manifest lists.
    #[error(
        "{METADATA_PATH} read back with digest {actual}, but the verified manifest lists {expected}; the bundle file changed after verification"
    )]
    Digest {
        /// Manifest digest.
        expected: String,
        /// Digest of the bytes given.
        actual: String,
    },
}

/// The metadata document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseMetadata {
    /// [`METADATA_SCHEMA`].
    pub schema: String,
    /// How each platform's binary is installed and probed.
    #[serde(default)]
    pub installers: Vec<InstallerTarget>,
    /// Where the release is deployed.
    #[serde(default)]
    pub deployments: Vec<DeploymentTarget>,
    /// Release channels and their rollout policy.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Named release controls later releases must keep.
    #[serde(default)]
    pub controls: Vec<String>,
}

/// An author's release metadata as given to `pack --release` (JSON or TOML): the stored form,
/// except that an installer may leave out `digest`, which pack fills in from the binary it packs
/// ([`Self::complete`]). A digest the author did give is kept and must still match
/// (`release.installer-binary` in [`validate`]).
#[derive(Clone, Debug)]
pub struct AuthorMetadata(serde_json::Value);

impl AuthorMetadata {
    /// Reads JSON input (strict, any formatting).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReleaseError> {
        Ok(AuthorMetadata(json::parse_strict(bytes)?))
    }

    /// Reads TOML input. TOML itself refuses duplicate keys; datetimes are refused because no
    /// field is a date.
    pub fn from_toml(text: &str) -> Result<Self, ReleaseError> {
        let t: toml::Table = toml::from_str(text).map_err(|e| ReleaseError::Toml(e.to_string()))?;
        let v = serde_json::to_value(&t).map_err(|e| ReleaseError::Toml(e.to_string()))?;
        // Re-read through the strict layer so integer ranges are the same as for JSON input.
        let bytes = serde_json::to_vec(&v).map_err(|e| ReleaseError::Toml(e.to_string()))?;
        Self::from_json(&bytes)
    }

    fn installers(&self) -> impl Iterator<Item = &serde_json::Map<String, serde_json::Value>> {
        self.0.get("installers").and_then(serde_json::Value::as_array).into_iter().flatten().filter_map(serde_json::Value::as_object)
    }

    /// The `binary` of every installer that gives no `digest`: what the packer must hash.
    pub fn binaries_without_digest(&self) -> Vec<String> {
        self.installers()
            .filter(|i| !i.contains_key("digest"))
            .filter_map(|i| i.get("binary").and_then(serde_json::Value::as_str).map(str::to_string))
            .collect()
    }

    /// Fills each missing installer `digest` from `digests` (binary member path → SHA-256 of the
    /// bytes packed) and reads the result as [`ReleaseMetadata`]. An installer with no digest
    /// whose binary is not in `digests` is refused by name.
    pub fn complete(mut self, digests: &BTreeMap<String, Sha256Digest>) -> Result<ReleaseMetadata, ReleaseError> {
        if let Some(list) = self.0.get_mut("installers").and_then(serde_json::Value::as_array_mut) {
            for (n, i) in list.iter_mut().enumerate() {
                let Some(o) = i.as_object_mut() else { continue };
                if o.contains_key("digest") {
                    continue;
                }
                let id = o.get("id").and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
                let Some(binary) = o.get("binary").and_then(serde_json::Value::as_str) else { continue };
                let d = digests.get(binary).ok_or_else(|| {
                    ReleaseError::Schema(format!(
                        "installers[{n}] ({id}) gives no digest and its binary {binary:?} is not a file being packed; \
                         put the binary under artifacts/ or give \"digest\""
                    ))
                })?;
                o.insert("digest".into(), serde_json::Value::String(d.prefixed()));
            }
        }
        ReleaseMetadata::from_value(self.0)
    }
}

/// One installer target: a platform's binary, where it goes and how to probe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallerTarget {
    /// Identifier, e.g. `linux-amd64`.
    pub id: String,
    /// Operating system, Go naming (`linux`, `darwin`, `windows`, ...).
    pub os: String,
    /// Architecture, Go naming (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Bundle member holding the binary (under `artifacts/`).
    pub binary: String,
    /// Its SHA-256; must equal the manifest's digest of `binary`.
    pub digest: Sha256Digest,
    /// Absolute install path on the target.
    pub install_path: String,
    /// How it is installed (`copy`, `deb`, `rpm`, `msi`, `pkg`, ...).
    pub install_method: String,
    /// Smoke probe; required by validation, optional here so its absence is a reported check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// How to check that an installed binary runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    /// Arguments after the program (the program is the installer's binary).
    pub args: Vec<String>,
    /// Expected exit code.
    pub expect_exit_code: i32,
    /// A regular expression stdout must match, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_output: Option<String>,
    /// A JSON value stdout must hold at a JSON Pointer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_json: Option<JsonExpectation>,
    /// Text fed to the probe's stdin (then closed), if any; without it stdin is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Seconds before the probe is killed (default 30, at most 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

impl Probe {
    /// The timeout in force.
    pub fn timeout(&self) -> u32 {
        self.timeout_seconds.unwrap_or(DEFAULT_PROBE_TIMEOUT)
    }
}

/// stdout parsed as strict JSON must hold, at `pointer`, the value `equals` or one of the
/// values `oneOf` (exactly one of the two is given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JsonExpectation {
    /// RFC 6901 JSON Pointer (`""` is the whole document).
    pub pointer: String,
    /// The value expected there (`null` included: present means expected).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// The values allowed there (1-64 of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<serde_json::Value>>,
}

/// A field that is present deserializes to `Some`, also when its value is `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

impl JsonExpectation {
    /// Whether `v` (the value found at `pointer`) is acceptable.
    pub fn accepts(&self, v: &serde_json::Value) -> bool {
        self.equals.as_ref().is_some_and(|e| e == v) || self.one_of.as_ref().is_some_and(|s| s.contains(v))
    }

    /// What is expected, as shown in reports: the value, or `one of [..]`.
    pub fn expected_text(&self) -> String {
        match (&self.equals, &self.one_of) {
            (Some(e), _) => e.to_string(),
            (None, Some(s)) => format!("one of {}", serde_json::Value::Array(s.clone())),
            (None, None) => "nothing (malformed expectation)".into(),
        }
    }
}

/// Where a deployment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Surface {
    /// CI runner images.
    CiRunner,
    /// Developer workstations.
    Workstation,
    /// Servers.
    Server,
    /// Endpoints under a management tool (Jamf, Intune, a Linux fleet manager).
    ManagedEndpoint,
}

impl Surface {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Surface::CiRunner => "ci-runner",
            Surface::Workstation => "workstation",
            Surface::Server => "server",
            Surface::ManagedEndpoint => "managed-endpoint",
        }
    }
}

/// One deployment target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentTarget {
    /// Identifier.
    pub id: String,
    /// Surface.
    pub surface: Surface,
    /// `os/arch`; must equal the installer's.
    pub platform: String,
    /// Installer target id.
    pub installer: String,
    /// Channel name.
    pub channel: String,
    /// Management tool (`jamf`, `intune`, `ansible`, `runner-image`, ...).
    pub management_tool: String,
    /// How the release reaches the endpoints through that tool (`jamf-policy`,
    /// `intune-win32-app`, `runner-image`, ...), when stated: a delivery mechanism, not a channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// Human description of where it runs ("GitHub Actions self-hosted runner"), when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Rollback steps, in order; at least one.
    pub rollback: Vec<String>,
}

/// A release channel and its rollout policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Channel {
    /// Name (`canary`, `beta`, `stable`, or any other).
    pub name: String,
    /// Endpoints update themselves without a person deciding.
    pub auto_update: bool,
    /// A person must approve promotion into this channel.
    pub approval_required: bool,
    /// Staged rollout rings, in order.
    #[serde(default)]
    pub rings: Vec<Ring>,
    /// Conditions that hold the rollout.
    #[serde(default)]
    pub hold_conditions: Vec<String>,
    /// What must exist before rollout so that a rollback is possible.
    #[serde(default)]
    pub rollback_requirements: Vec<String>,
}

/// One rollout ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Ring {
    /// Name.
    pub name: String,
    /// Largest share of the fleet in this ring, percent (1..=100).
    pub max_percent: u8,
    /// Hours to wait in this ring before the next one.
    pub soak_hours: u32,
}

impl ReleaseMetadata {
    /// Reads the stored member: strict, canonical, known schema, and in the normal form.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReleaseError> {
        let v = json::parse_canonical(bytes)?;
        let m = Self::from_value(v)?;
        let normal = m.to_bytes();
        if normal != bytes {
            let offset = normal.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(normal.len().min(bytes.len()));
            return Err(ReleaseError::NotNormal { offset });
        }
        Ok(m)
    }

    /// Reads an author's JSON input (strict, any formatting) in which every installer gives its
    /// `digest` (see [`AuthorMetadata`] for input that leaves digests to pack).
    pub fn from_input_json(bytes: &[u8]) -> Result<Self, ReleaseError> {
        AuthorMetadata::from_json(bytes)?.complete(&BTreeMap::new())
    }

    /// Reads an author's TOML input in which every installer gives its `digest`.
    pub fn from_toml(text: &str) -> Result<Self, ReleaseError> {
        AuthorMetadata::from_toml(text)?.complete(&BTreeMap::new())
    }

    fn from_value(v: serde_json::Value) -> Result<Self, ReleaseError> {
        match v.get("schema") {
            Some(serde_json::Value::String(s)) if s == METADATA_SCHEMA => {}
            Some(serde_json::Value::String(s)) => return Err(ReleaseError::UnknownSchema { found: s.clone() }),
            Some(other) => return Err(ReleaseError::UnknownSchema { found: other.to_string() }),
            None => return Err(ReleaseError::Schema(format!("no \"schema\" field; expected {METADATA_SCHEMA:?}"))),
        }
        serde_json::from_value(v).map_err(|e| ReleaseError::Schema(e.to_string()))
    }

    /// The normal form: RFC 8785 bytes, every field written.
    pub fn to_bytes(&self) -> Vec<u8> {
        json::canonical(self)
    }

    /// Installer target by id.
    pub fn installer(&self, id: &str) -> Option<&InstallerTarget> {
        self.installers.iter().find(|i| i.id == id)
    }
}

impl InstallerTarget {
    /// `os/arch`.
    pub fn platform(&self) -> String {
        format!("{}/{}", self.os, self.arch)
    }
}

/// Metadata read from a verified bundle, bound to it: only [`BoundMetadata::bind`] makes one,
/// and only when the bytes are the member the verified manifest lists.
#[derive(Debug)]
pub struct BoundMetadata<'a> {
    bundle: &'a Verified<VerifiedBundle>,
    metadata: ReleaseMetadata,
}

impl<'a> BoundMetadata<'a> {
    /// The metadata member's manifest record, if the bundle has one.
    pub fn member(bundle: &Verified<VerifiedBundle>) -> Option<&Member> {
        bundle.get().manifest().members.iter().find(|m| m.path == METADATA_PATH)
    }

    /// Binds `bytes` (read back from the verified archive) to `bundle`: the digest and size must
    /// be the manifest's, then the document is parsed.
    pub fn bind(bundle: &'a Verified<VerifiedBundle>, bytes: &[u8]) -> Result<Self, ReleaseError> {
        let m = Self::member(bundle).ok_or(ReleaseError::Missing)?;
        let actual = Sha256Digest::of(bytes);
        if actual != m.digest || bytes.len() as u64 != m.size {
            return Err(ReleaseError::Digest { expected: m.digest.prefixed(), actual: actual.prefixed() });
        }
        Ok(BoundMetadata { bundle, metadata: ReleaseMetadata::parse(bytes)? })
    }

    /// The verified bundle.
    pub fn bundle(&self) -> &'a Verified<VerifiedBundle> {
        self.bundle
    }

    /// The metadata.
    pub fn metadata(&self) -> &ReleaseMetadata {
        &self.metadata
    }
}

/// A short identifier: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn is_ident(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// The Windows environment variables an install path may start with (`%ProgramFiles%\\...`):
/// each names a fixed absolute folder of the machine, so the path stays absolute once expanded.
/// Compared without regard to case, as Windows does.
pub const WINDOWS_FOLDER_VARS: [&str; 8] =
    ["ProgramFiles", "ProgramFiles(x86)", "ProgramW6432", "ProgramData", "CommonProgramFiles", "SystemRoot", "windir", "SystemDrive"];

/// `%VAR%\rest` with VAR one of [`WINDOWS_FOLDER_VARS`] → `rest`.
fn windows_folder_root(path: &str) -> Option<&str> {
    let inner = path.strip_prefix('%')?;
    let (var, rest) = inner.split_once('%')?;
    let rest = rest.strip_prefix(['\\', '/'])?;
    WINDOWS_FOLDER_VARS.iter().any(|v| v.eq_ignore_ascii_case(var)).then_some(rest)
}

/// Why an install path is not acceptable, if it is not.
pub fn install_path_problem(os: &str, path: &str) -> Option<String> {
    if path.is_empty() || path.len() > 1024 {
        return Some("must be 1-1024 bytes".into());
    }
    if path.chars().any(|c| c.is_control()) {
        return Some("contains a control character".into());
    }
    let rest = if os == "windows" {
        let b = path.as_bytes();
        if let Some(r) = windows_folder_root(path) {
            r
        } else if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b':' || !(b[2] == b'\\' || b[2] == b'/') {
            return Some(format!(
                "a Windows install path must be absolute: C:\\Program Files\\app\\app.exe, or rooted at one of {} (e.g. %ProgramFiles%\\app\\app.exe)",
                WINDOWS_FOLDER_VARS.iter().map(|v| format!("%{v}%")).collect::<Vec<_>>().join(", ")
            ));
        } else {
            &path[3..]
        }
    } else {
        match path.strip_prefix('/') {
            Some(r) => r,
            None => return Some("must be absolute (start with /)".into()),
        }
    };
    if rest.is_empty() {
        return Some("names the root directory, not a file".into());
    }
    let seps: &[char] = if os == "windows" { &['/', '\\'] } else { &['/'] };
    for comp in rest.split(seps) {
        match comp {
            ".." => return Some("contains a `..` component".into()),
            "." => return Some("contains a `.` component".into()),
            "" => return Some("contains an empty component (`//`)".into()),
            _ => {}
        }
    }
    None
}

/// Go's platform names for a Rust `std::env::consts::{OS, ARCH}` pair.
pub fn go_platform(os: &str, arch: &str) -> (String, String) {
    let os = match os {
        "macos" => "darwin",
        o => o,
    };
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    };
    (os.to_string(), arch.to_string())
}

/// Longest `expectOutput` pattern, in bytes.
pub const MAX_EXPECT_OUTPUT_LEN: usize = 1024;
/// Largest compiled `expectOutput` (regex-lite's NFA size, counted repetitions expanded): the
/// match costs at most this × the output searched, so both are bounded.
pub const MAX_EXPECT_OUTPUT_COMPILED: usize = 16 << 10;
/// Deepest nesting of groups and repetitions in `expectOutput`.
pub const MAX_EXPECT_OUTPUT_NEST: u32 = 16;
/// How much of a probe's stdout `expectOutput` is searched in.
pub const EXPECT_OUTPUT_SEARCHED: usize = 64 << 10;

/// Compiles a probe's `expectOutput` within the bounds above: the pattern comes from metadata,
/// so neither its length nor its compiled size (`(a{100}){100}` is short) is trusted.
pub fn expect_output_regex(re: &str) -> Result<regex_lite::Regex, String> {
    if re.len() > MAX_EXPECT_OUTPUT_LEN {
        return Err(format!("it is {} bytes; at most {MAX_EXPECT_OUTPUT_LEN}", re.len()));
    }
    regex_lite::RegexBuilder::new(re)
        .size_limit(MAX_EXPECT_OUTPUT_COMPILED)
        .nest_limit(MAX_EXPECT_OUTPUT_NEST)
        .build()
        .map_err(|e| format!("not a regular expression within airlock's bounds ({MAX_EXPECT_OUTPUT_COMPILED} bytes compiled, nesting {MAX_EXPECT_OUTPUT_NEST}): {e}"))
}

/// Most values in an `expectJson.oneOf`.
pub const MAX_ONE_OF: usize = 64;
/// Largest probe `stdin`, in bytes.
pub const MAX_PROBE_STDIN: usize = 64 << 10;
/// Longest deployment `label`, in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// Checks a probe's own rules; `None` when it is well-formed.
pub fn probe_problem(p: &Probe) -> Option<String> {
    if p.args.len() > 64 || p.args.iter().any(|a| a.len() > 4096 || a.contains('\0')) {
        return Some("args: at most 64 arguments of at most 4096 bytes, no NUL".into());
    }
    if !(0..=255).contains(&p.expect_exit_code) {
        return Some(format!("expectExitCode {} is not 0-255", p.expect_exit_code));
    }
    if let Some(re) = &p.expect_output
        && let Err(e) = expect_output_regex(re)
    {
        return Some(format!("expectOutput {re:?}: {e}"));
    }
    if let Some(j) = &p.expect_json {
        if !(j.pointer.is_empty() || j.pointer.starts_with('/')) {
            return Some(format!("expectJson.pointer {:?} is not an RFC 6901 JSON Pointer", j.pointer));
        }
        match (&j.equals, &j.one_of) {
            (Some(_), None) => {}
            (None, Some(s)) if (1..=MAX_ONE_OF).contains(&s.len()) => {}
            (None, Some(s)) => return Some(format!("expectJson.oneOf lists {} values; give 1-{MAX_ONE_OF}", s.len())),
            _ => return Some("expectJson must give exactly one of `equals` and `oneOf`".into()),
        }
    }
    if let Some(s) = &p.stdin
        && (s.len() > MAX_PROBE_STDIN || s.contains('\0'))
    {
        return Some(format!("stdin is {} bytes or holds a NUL; at most {MAX_PROBE_STDIN} bytes of text", s.len()));
    }
    match p.timeout_seconds {
        Some(t) if t == 0 || t > MAX_PROBE_TIMEOUT => Some(format!("timeoutSeconds {t} is not 1-{MAX_PROBE_TIMEOUT}")),
        _ => None,
    }
}

fn dup_check(id: &'static str, what: &str, names: impl IntoIterator<Item = String>) -> Vec<Check> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in names {
        if !seen.insert(n.clone()) {
            out.push(Check::new(id, false, format!("{what} {n:?} is declared twice")).subject(n));
        }
    }
    out
}

/// Static validation against the manifest's members. Every rule yields a check; the metadata
/// is acceptable when none fails.
pub fn validate(meta: &ReleaseMetadata, members: &[Member]) -> Vec<Check> {
    let by_path: BTreeMap<&str, &Member> = members.iter().map(|m| (m.path.as_str(), m)).collect();
    let mut out = Vec::new();
    if meta.installers.is_empty() {
        out.push(Check::new("release.installers", false, "no installer targets: there is nothing to install or smoke-test"));
    }
    out.extend(dup_check("release.installer-unique", "installer id", meta.installers.iter().map(|i| i.id.clone())));
    out.extend(dup_check("release.installer-unique", "installer platform", meta.installers.iter().map(|i| i.platform())));
    for i in &meta.installers {
        let ok_names = is_ident(&i.id) && is_ident(&i.os) && is_ident(&i.arch) && is_ident(&i.install_method);
        if !ok_names {
            out.push(
                Check::new("release.installer", false, "id, os, arch and installMethod must each match [a-z0-9][a-z0-9._-]{0,63}")
                    .subject(&i.id),
            );
        }
        out.push(match by_path.get(i.binary.as_str()) {
            None => Check::new("release.installer-binary", false, format!("binary {} is not a member of the bundle", i.binary))
                .subject(&i.id)
                .values(i.binary.clone(), "absent"),
            Some(m) if m.kind != Kind::Artifact => Check::new(
                "release.installer-binary",
                false,
                format!("binary {} is a {} member; installer binaries live under artifacts/", i.binary, m.kind.name()),
            )
            .subject(&i.id),
            Some(m) if m.digest != i.digest => Check::new(
                "release.installer-binary",
                false,
                format!(
                    "installer {}: binary {} has digest {}, but the metadata gives {}",
                    i.id,
                    i.binary,
                    m.digest.prefixed(),
                    i.digest.prefixed()
                ),
            )
            .subject(&i.id)
            .values(m.digest.prefixed(), i.digest.prefixed()),
            Some(m) => {
                Check::new("release.installer-binary", true, format!("{} ({} bytes) is a member with this digest", i.binary, m.size))
                    .subject(&i.id)
                    .values(m.digest.prefixed(), i.digest.prefixed())
            }
        });
        out.push(match install_path_problem(&i.os, &i.install_path) {
            None => Check::new("release.install-path", true, format!("{} is absolute and free of `..`", i.install_path)).subject(&i.id),
            Some(why) => Check::new("release.install-path", false, format!("install path {:?} {why}", i.install_path)).subject(&i.id),
        });
        out.push(match &i.probe {
            None => Check::new("release.probe", false, "no smoke probe declared").subject(&i.id),
            Some(p) => match probe_problem(p) {
                None => Check::new("release.probe", true, format!("probe declared: args {:?}, exit {}", p.args, p.expect_exit_code))
                    .subject(&i.id),
                Some(why) => Check::new("release.probe", false, why).subject(&i.id),
            },
        });
    }
    let channels: BTreeSet<&str> = meta.channels.iter().map(|c| c.name.as_str()).collect();
    out.extend(dup_check("release.deployment-unique", "deployment id", meta.deployments.iter().map(|d| d.id.clone())));
    for d in &meta.deployments {
        let mut problems = Vec::new();
        for (field, value) in [("id", Some(&d.id)), ("managementTool", Some(&d.management_tool)), ("delivery", d.delivery.as_ref())] {
            if let Some(v) = value.filter(|v| !is_ident(v)) {
                problems.push(format!("{field} {v:?} must match [a-z0-9][a-z0-9._-]{{0,63}}"));
            }
        }
        if let Some(l) = d.label.as_ref().filter(|l| l.trim().is_empty() || l.len() > MAX_LABEL_LEN || l.chars().any(char::is_control)) {
            problems.push(format!("label {l:?} must be 1-{MAX_LABEL_LEN} bytes of text without control characters"));
        }
        match meta.installer(&d.installer) {
            None => problems.push(format!("installer {:?} is not an installer target", d.installer)),
            Some(i) if i.platform() != d.platform => {
                problems.push(format!("platform {} differs from installer {}'s {}", d.platform, i.id, i.platform()))
            }
            Some(_) => {}
        }
        if !channels.contains(d.channel.as_str()) {
            problems.push(format!("channel {:?} is not a declared channel", d.channel));
        }
        if d.rollback.is_empty() || d.rollback.iter().any(|s| s.trim().is_empty()) {
            problems.push("rollback must list at least one non-empty step".into());
        }
        out.push(if problems.is_empty() {
            Check::new(
                "release.deployment",
                true,
                match &d.delivery {
                    Some(via) => format!("{} {} via {} ({via}) on channel {}", d.surface.name(), d.platform, d.management_tool, d.channel),
                    None => format!("{} {} via {} on channel {}", d.surface.name(), d.platform, d.management_tool, d.channel),
                },
            )
            .subject(&d.id)
        } else {
            Check::new("release.deployment", false, problems.join("; ")).subject(&d.id)
        });
    }
    out.extend(dup_check("release.channel-unique", "channel", meta.channels.iter().map(|c| c.name.clone())));
    for c in &meta.channels {
        let mut problems = Vec::new();
        if !is_ident(&c.name) {
            problems.push("name must match [a-z0-9][a-z0-9._-]{0,63}".to_string());
        }
        let mut ring_names = BTreeSet::new();
        let mut last = 0u8;
        for r in &c.rings {
            if !ring_names.insert(r.name.as_str()) || !is_ident(&r.name) {
                problems.push(format!("ring {:?}: names must be unique identifiers", r.name));
            }
            if r.max_percent == 0 || r.max_percent > 100 {
                problems.push(format!("ring {:?}: maxPercent {} is not 1-100", r.name, r.max_percent));
            }
            if r.max_percent < last {
                problems.push(format!("ring {:?}: maxPercent {} is below the previous ring's {last}", r.name, r.max_percent));
            }
            last = last.max(r.max_percent);
        }
        if c.hold_conditions.iter().chain(&c.rollback_requirements).any(|s| s.trim().is_empty()) {
            problems.push("hold conditions and rollback requirements must not be empty strings".into());
        }
        out.push(if problems.is_empty() {
            Check::new(
                "release.channel",
                true,
                format!("{} ring(s), autoUpdate {}, approvalRequired {}", c.rings.len(), c.auto_update, c.approval_required),
            )
            .subject(&c.name)
        } else {
            Check::new("release.channel", false, problems.join("; ")).subject(&c.name)
        });
    }
    out.extend(dup_check("release.control-unique", "control", meta.controls.iter().cloned()));
    for c in meta.controls.iter().filter(|c| !is_ident(c)) {
        out.push(Check::new("release.control", false, "control names must match [a-z0-9][a-z0-9._-]{0,63}").subject(c.clone()));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::Status;

    pub(crate) fn sample(binary_digest: Sha256Digest) -> ReleaseMetadata {
        ReleaseMetadata {
            schema: METADATA_SCHEMA.into(),
            installers: vec![InstallerTarget {
                id: "linux-amd64".into(),
                os: "linux".into(),
                arch: "amd64".into(),
                binary: "artifacts/app-linux-amd64".into(),
                digest: binary_digest,
                install_path: "/usr/local/bin/app".into(),
                install_method: "copy".into(),
                probe: Some(Probe {
                    args: vec!["--version".into()],
                    expect_exit_code: 0,
                    expect_output: Some("^app 1\\.".into()),
                    expect_json: None,
                    stdin: None,
                    timeout_seconds: None,
                }),
            }],
            deployments: vec![DeploymentTarget {
                id: "gha-linux".into(),
                surface: Surface::CiRunner,
                platform: "linux/amd64".into(),
                installer: "linux-amd64".into(),
                channel: "stable".into(),
                management_tool: "runner-image".into(),
                delivery: None,
                label: None,
                rollback: vec!["pin the previous runner image".into()],
            }],
            channels: vec![Channel {
                name: "stable".into(),
                auto_update: false,
                approval_required: true,
                rings: vec![
                    Ring { name: "pilot".into(), max_percent: 5, soak_hours: 24 },
                    Ring { name: "broad".into(), max_percent: 100, soak_hours: 48 },
                ],
                hold_conditions: vec!["crash rate above 1%".into()],
                rollback_requirements: vec!["previous release retained".into()],
            }],
            controls: vec!["sbom".into(), "provenance".into()],
        }
    }

    fn member(path: &str, digest: Sha256Digest) -> Member {
        Member { path: path.into(), size: 3, digest, kind: Kind::of_path(path).unwrap() }
    }

    #[test]
    fn expect_output_is_bounded_in_length_and_compiled_size() {
        let probe = |re: &str| Probe {
            args: vec![],
            expect_exit_code: 0,
            expect_output: Some(re.into()),
            expect_json: None,
            stdin: None,
            timeout_seconds: None,
        };
        assert_eq!(probe_problem(&probe("^app 1\\.[0-9]+")), None);
        // 30 bytes, but ten thousand states once the counted repetitions are expanded.
        let nested = probe_problem(&probe("((a{100}){100})+b")).expect("refused");
        assert!(nested.contains("within airlock's bounds"), "{nested}");
        let long = probe_problem(&probe(&"a".repeat(MAX_EXPECT_OUTPUT_LEN + 1))).expect("refused");
        assert!(long.contains("at most 1024"), "{long}");
        assert!(probe_problem(&probe(&format!("{}a{}", "(".repeat(40), ")".repeat(40)))).is_some());
    }

    #[test]
    fn normal_form_round_trips_and_other_forms_are_refused() {
        let m = sample(Sha256Digest::of(b"bin"));
        assert_eq!(ReleaseMetadata::parse(&m.to_bytes()).unwrap(), m);
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        assert!(matches!(ReleaseMetadata::parse(&pretty), Err(ReleaseError::Json(JsonError::NotCanonical { .. }))));
        assert_eq!(ReleaseMetadata::from_input_json(&pretty).unwrap(), m);
        // Canonical JSON that omits a defaulted field is not the normal form.
        let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
        v.as_object_mut().unwrap().remove("controls");
        let short = json::canonical_value(&v);
        assert!(matches!(ReleaseMetadata::parse(&short), Err(ReleaseError::NotNormal { .. })));
        let text = String::from_utf8(m.to_bytes()).unwrap();
        let dup = text.replacen("{\"channels\"", "{\"schema\":\"x\",\"channels\"", 1);
        assert!(matches!(ReleaseMetadata::from_input_json(dup.as_bytes()), Err(ReleaseError::Json(JsonError::DuplicateKey { .. }))));
        let v2 = text.replace(METADATA_SCHEMA, "airlock/release-metadata/v2");
        assert!(matches!(ReleaseMetadata::parse(v2.as_bytes()), Err(ReleaseError::UnknownSchema { .. })));
        let unknown = text.replacen("\"controls\"", "\"kontrols\":[],\"controls\"", 1);
        assert!(matches!(ReleaseMetadata::from_input_json(unknown.as_bytes()), Err(ReleaseError::Schema(_))));
    }

    #[test]
    fn toml_input_reads_like_json() {
        let t = r#"
schema = "airlock/release-metadata/v1"
controls = ["sbom"]
[[installers]]
id = "linux-amd64"
os = "linux"
arch = "amd64"
binary = "artifacts/app"
digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
installPath = "/usr/bin/app"
installMethod = "copy"
probe = { args = ["--version"], expectExitCode = 0 }
"#;
        let m = ReleaseMetadata::from_toml(t).unwrap();
        assert_eq!(m.installers[0].probe.as_ref().unwrap().args, ["--version"]);
        assert!(ReleaseMetadata::from_toml(&format!("{t}\nschema = \"again\"\n")).is_err(), "TOML duplicate key");
        assert!(matches!(ReleaseMetadata::from_toml(&t.replace("controls", "kontrols")), Err(ReleaseError::Schema(_))));
        let big = t.replace("expectExitCode = 0", "expectExitCode = 9007199254740993");
        assert!(ReleaseMetadata::from_toml(&big).is_err());
    }

    #[test]
    fn validation_binds_binaries_and_names_each_rule() {
        let d = Sha256Digest::of(b"bin");
        let members = vec![member("artifacts/app-linux-amd64", d), member("sbom/s.json", d)];
        let ok = validate(&sample(d), &members);
        assert!(ok.iter().all(|c| c.status == Status::Pass), "{ok:#?}");

        let failing = |m: &ReleaseMetadata, members: &[Member]| -> Vec<String> {
            validate(m, members).into_iter().filter(|c| c.status == Status::Fail).map(|c| c.id.into_owned()).collect()
        };
        let other = Sha256Digest::of(b"other");
        assert_eq!(failing(&sample(other), &members), ["release.installer-binary"]);
        let c = validate(&sample(other), &members).into_iter().find(|c| c.status == Status::Fail).unwrap();
        assert_eq!((c.expected.unwrap(), c.actual.unwrap()), (d.prefixed(), other.prefixed()));
        assert_eq!(failing(&sample(d), &members[1..]), ["release.installer-binary"]);

        for (path, os) in [("usr/bin/app", "linux"), ("/usr/../bin/app", "linux"), ("/", "linux"), ("C:\\a\\..\\b.exe", "windows")] {
            let mut m = sample(d);
            m.installers[0].install_path = path.into();
            m.installers[0].os = os.into();
            m.deployments.clear();
            assert_eq!(failing(&m, &members), ["release.install-path"], "{path}");
        }
        let mut m = sample(d);
        m.installers[0].probe = None;
        assert_eq!(failing(&m, &members), ["release.probe"]);
        m.installers[0].probe = Some(Probe {
            args: vec![],
            expect_exit_code: 0,
            expect_output: Some("(".into()),
            expect_json: None,
            stdin: None,
            timeout_seconds: None,
        });
        assert_eq!(failing(&m, &members), ["release.probe"]);
        let mut m = sample(d);
        m.deployments[0].channel = "nightly".into();
        m.deployments[0].rollback.clear();
        assert_eq!(failing(&m, &members), ["release.deployment"]);
        let mut m = sample(d);
        m.deployments[0].management_tool = "Jamf Pro".into();
        m.deployments[0].delivery = Some("jamf-policy".into());
        m.deployments[0].label = Some("macOS developer workstation".into());
        let c = validate(&m, &members).into_iter().find(|c| c.status == Status::Fail).unwrap();
        assert_eq!(c.id, "release.deployment");
        assert!(c.detail.contains("managementTool \"Jamf Pro\" must match") && !c.detail.contains("id "), "{}", c.detail);
        m.deployments[0].management_tool = "jamf".into();
        assert_eq!(failing(&m, &members), Vec::<String>::new());
        m.deployments[0].label = Some("two\nlines".into());
        assert_eq!(failing(&m, &members), ["release.deployment"]);
        let mut m = sample(d);
        m.channels[0].rings[1].max_percent = 1;
        assert_eq!(failing(&m, &members), ["release.channel"]);
        let mut m = sample(d);
        m.controls.push("sbom".into());
        assert_eq!(failing(&m, &members), ["release.control-unique"]);
    }

    #[test]
    fn windows_paths_may_start_at_a_fixed_folder_variable_only() {
        assert_eq!(install_path_problem("windows", "%ProgramFiles%\\CAVRA\\cavra-runtime.exe"), None);
        assert_eq!(install_path_problem("windows", "%programfiles(x86)%/app/app.exe"), None);
        for bad in ["%TEMP%\\app.exe", "%CD%\\app.exe", "%ProgramFiles%app.exe", "%ProgramFiles%\\..\\x.exe", "%ProgramFiles%\\"] {
            assert!(install_path_problem("windows", bad).is_some(), "{bad}");
        }
        assert!(install_path_problem("linux", "%ProgramFiles%\\app").is_some());
    }

    #[test]
    fn expect_json_takes_exactly_one_of_equals_and_one_of() {
        let probe = |equals: Option<serde_json::Value>, one_of: Option<Vec<serde_json::Value>>| Probe {
            args: vec![],
            expect_exit_code: 0,
            expect_output: None,
            expect_json: Some(JsonExpectation { pointer: "/decision".into(), equals, one_of }),
            stdin: Some("{}".into()),
            timeout_seconds: None,
        };
        let set = vec![serde_json::json!("allow"), serde_json::json!("block")];
        assert_eq!(probe_problem(&probe(None, Some(set.clone()))), None);
        assert_eq!(probe_problem(&probe(Some(serde_json::Value::Null), None)), None);
        assert!(probe_problem(&probe(None, None)).unwrap().contains("exactly one"));
        assert!(probe_problem(&probe(Some(serde_json::json!(1)), Some(set.clone()))).unwrap().contains("exactly one"));
        assert!(probe_problem(&probe(None, Some(vec![]))).unwrap().contains("1-64"));
        let j = probe(None, Some(set)).expect_json.unwrap();
        assert!(j.accepts(&serde_json::json!("block")) && !j.accepts(&serde_json::json!("maybe")));
        // `equals: null` is an expectation of null, and round-trips as one.
        let m =
            ReleaseMetadata { installers: vec![], deployments: vec![], channels: vec![], controls: vec![], schema: METADATA_SCHEMA.into() };
        let mut with = sample(Sha256Digest::of(b"x"));
        with.installers[0].probe = Some(probe(Some(serde_json::Value::Null), None));
        assert_eq!(ReleaseMetadata::parse(&with.to_bytes()).unwrap(), with);
        assert!(String::from_utf8(with.to_bytes()).unwrap().contains("\"equals\":null"));
        assert_eq!(ReleaseMetadata::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn go_names_for_rust_platforms() {
        assert_eq!(go_platform("linux", "x86_64"), ("linux".into(), "amd64".into()));
        assert_eq!(go_platform("macos", "aarch64"), ("darwin".into(), "arm64".into()));
    }
}
