//! Migration from CAVRA (sans-I/O): maps a CAVRA go-release package directory onto an airlock
//! bundle plan. The shell lists the directory, reads the small JSON documents and hashes every
//! file against the digests this plan expects; the plan itself decides which file becomes which
//! member and builds the release metadata. `format-spec/release-metadata-v1.md` §8 has the table.
//!
//! CAVRA's own `checksums.txt` check ignores unlisted files; here every file except
//! `checksums.txt` itself must be listed, and every listed file must exist, unless the packer
//! names an unlisted file explicitly (CAVRA writes `release-evidence.json` and `.md` after its
//! `checksums.txt`): such a file is packed on the packer's own authority, its digest taken when
//! packing, and reported.

use super::{Channel, DeploymentTarget, InstallerTarget, METADATA_SCHEMA, Probe, ReleaseMetadata, Ring, Surface, is_ident};
use crate::bundle::checksums;
use crate::bundle::manifest::Release;
use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// CAVRA's checksums file.
pub const CHECKSUMS: &str = "checksums.txt";
/// Installer metadata (required).
pub const INSTALLERS: &str = "cavra-runtime.installers.json";
/// Deployment targets.
pub const DEPLOYMENT: &str = "cavra-runtime.endpoint-deployment.json";
/// Channels.
pub const CHANNELS: &str = "cavra-runtime.channels.json";
/// Updater policy: rings, hold conditions, rollback requirements.
pub const UPDATER_POLICY: &str = "cavra-runtime.updater-policy.json";
/// Release evidence: version, commit, controls.
pub const EVIDENCE: &str = "release-evidence.json";
/// The JSON documents the plan reads, if present.
pub const DOCUMENTS: [&str; 5] = [INSTALLERS, DEPLOYMENT, CHANNELS, UPDATER_POLICY, EVIDENCE];
/// Where CAVRA's files are carried verbatim when no kind directory fits.
pub const CARRY_DIR: &str = "other/cavra";

/// Why a CAVRA package cannot be mapped.
#[derive(Debug, thiserror::Error)]
pub enum CavraError {
    /// The package has no checksums.txt.
    #[error("the CAVRA package has no checksums.txt; nothing in it can be trusted")]
    NoChecksums,
    /// A checksums.txt line is not `<64 hex>  <path>`.
    #[error("checksums.txt line {line} is not `<64 hex>  <path>`: {text:?}")]
    ChecksumLine {
        /// 1-based line.
        line: usize,
        /// Its text.
        text: String,
    },
    /// A path listed twice.
    #[error("checksums.txt lists {0} twice")]
    Duplicate(String),
    /// A file present but not listed.
    #[error(
        "{0} is in the package but not listed in checksums.txt; unlisted files are refused (list it, remove it, or pass --accept-unlisted {0} to pack it on your own authority)"
    )]
    Unlisted(String),
    /// `--accept-unlisted` names a file the package does not hold unlisted.
    #[error(
        "--accept-unlisted {0}: the package holds no such unlisted file; give the path relative to the package as checksums.txt would list it (e.g. release-evidence.json)"
    )]
    NotUnlisted(String),
    /// A listed file that is absent.
    #[error("checksums.txt lists {0}, which the package does not hold")]
    Missing(String),
    /// A file whose bytes do not match checksums.txt.
    #[error("{path}: checksum mismatch: checksums.txt says {expected}, the file is {actual}")]
    Mismatch {
        /// File.
        path: String,
        /// Listed digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// A required document is absent.
    #[error("the CAVRA package has no {0}")]
    MissingDocument(&'static str),
    /// A document is not strict JSON.
    #[error("{file}: {err}")]
    Json {
        /// File.
        file: &'static str,
        /// Why.
        err: JsonError,
    },
    /// A field is missing or unusable.
    #[error("{file}: {field}: {why}")]
    Field {
        /// File.
        file: &'static str,
        /// Field path.
        field: String,
        /// Why.
        why: String,
    },
}

/// The mapping: which package file becomes which member, with the digest it must have.
#[derive(Debug)]
pub struct CavraPlan {
    /// Release identity (product `cavra-runtime` unless overridden by the caller).
    pub release: Release,
    /// `(package path, member path, digest from checksums.txt)`, sorted by package path; the
    /// digest is `None` for a file accepted unlisted.
    pub files: Vec<(String, String, Option<Sha256Digest>)>,
    /// Package files accepted although checksums.txt does not list them.
    pub unlisted: Vec<String>,
    /// Release metadata for `release/airlock-release.json`.
    pub metadata: ReleaseMetadata,
}

fn field(file: &'static str, f: impl Into<String>, why: impl Into<String>) -> CavraError {
    CavraError::Field { file, field: f.into(), why: why.into() }
}

fn get_str<'a>(file: &'static str, v: &'a Value, path: &str, names: &[&str]) -> Result<Option<&'a str>, CavraError> {
    for n in names {
        match v.get(*n) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s.as_str())),
            Some(_) => return Err(field(file, format!("{path}.{n}"), "must be a string")),
        }
    }
    Ok(None)
}

fn req_str<'a>(file: &'static str, v: &'a Value, path: &str, names: &[&str]) -> Result<&'a str, CavraError> {
    get_str(file, v, path, names)?.ok_or_else(|| field(file, format!("{path}.{}", names[0]), "missing"))
}

fn get_strings(file: &'static str, v: &Value, path: &str, names: &[&str]) -> Result<Vec<String>, CavraError> {
    for n in names {
        match v.get(*n) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => {
                return a
                    .iter()
                    .enumerate()
                    .map(|(i, x)| match x {
                        Value::String(s) => Ok(s.clone()),
                        // Objects such as {"condition": "..."} carry their text in one field.
                        Value::Object(o) => ["condition", "requirement", "step", "name", "description"]
                            .iter()
                            .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_string))
                            .ok_or_else(|| field(file, format!("{path}.{n}[{i}]"), "object without a text field")),
                        _ => Err(field(file, format!("{path}.{n}[{i}]"), "must be a string")),
                    })
                    .collect();
            }
            Some(_) => return Err(field(file, format!("{path}.{n}"), "must be an array")),
        }
    }
    Ok(Vec::new())
}

fn get_bool(file: &'static str, v: &Value, path: &str, name: &str) -> Result<bool, CavraError> {
    match v.get(name) {
        Some(Value::Bool(b)) => Ok(*b),
        _ => Err(field(file, format!("{path}.{name}"), "missing or not a boolean")),
    }
}

fn array<'a>(file: &'static str, v: &'a Value, names: &[&str]) -> Result<&'a Vec<Value>, CavraError> {
    for n in names {
        if let Some(x) = v.get(*n) {
            return x.as_array().ok_or_else(|| field(file, *n, "must be an array"));
        }
    }
    Err(field(file, names[0], "missing"))
}

/// `linux/amd64`, `linux-amd64` or `linux_amd64` → `("linux", "amd64")`.
fn split_platform(s: &str) -> Option<(String, String)> {
    let (os, arch) = s.split_once(['/', '-', '_'])?;
    let (os, arch) = (os.to_ascii_lowercase(), arch.to_ascii_lowercase());
    (is_ident(&os) && is_ident(&arch)).then_some((os, arch))
}

/// Bundle member for a package file.
pub fn member_path(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if let Some(b) = rel.strip_prefix("bin/") {
        format!("artifacts/{b}")
    } else if !rel.contains('/') && (name.ends_with(".spdx.json") || name.ends_with(".cdx.json")) {
        format!("sbom/{name}")
    } else if !rel.contains('/') && name.ends_with(".intoto.json") {
        format!("provenance/{name}")
    } else {
        format!("{CARRY_DIR}/{rel}")
    }
}

fn parse_json(file: &'static str, docs: &BTreeMap<String, Vec<u8>>) -> Result<Option<Value>, CavraError> {
    docs.get(file).map(|b| json::parse_strict(b).map_err(|err| CavraError::Json { file, err })).transpose()
}

/// Plans the mapping. `files` are the package's regular files (relative, `/`-separated);
/// `docs` holds the bytes of those [`DOCUMENTS`] that exist.
/// `accept_unlisted` names files the packer accepts although checksums.txt does not list them.
pub fn plan(
    files: &[String],
    checksums_txt: Option<&[u8]>,
    docs: &BTreeMap<String, Vec<u8>>,
    accept_unlisted: &[String],
) -> Result<CavraPlan, CavraError> {
    let sums = checksums_txt.ok_or(CavraError::NoChecksums)?;
    let mut listed: BTreeMap<String, Sha256Digest> = BTreeMap::new();
    for line in checksums::parse(sums) {
        match line {
            checksums::Line::Malformed { line, text } => return Err(CavraError::ChecksumLine { line, text }),
            checksums::Line::Entry { path, digest } => {
                let path = path.strip_prefix("./").unwrap_or(&path).to_string();
                if listed.insert(path.clone(), digest).is_some() {
                    return Err(CavraError::Duplicate(path));
                }
            }
        }
    }
    let present: BTreeSet<&str> = files.iter().map(String::as_str).filter(|f| *f != CHECKSUMS).collect();
    let unlisted: Vec<String> = present.iter().filter(|f| !listed.contains_key(**f)).map(|f| f.to_string()).collect();
    if let Some(f) = unlisted.iter().find(|f| !accept_unlisted.contains(f)) {
        return Err(CavraError::Unlisted(f.clone()));
    }
    if let Some(a) = accept_unlisted.iter().find(|a| !unlisted.contains(a)) {
        return Err(CavraError::NotUnlisted(a.clone()));
    }
    if let Some(f) = listed.keys().find(|f| !present.contains(f.as_str())) {
        return Err(CavraError::Missing(f.clone()));
    }

    let installers_doc = parse_json(INSTALLERS, docs)?.ok_or(CavraError::MissingDocument(INSTALLERS))?;
    let evidence = parse_json(EVIDENCE, docs)?;
    let version_raw = evidence
        .as_ref()
        .map(|e| get_str(EVIDENCE, e, "", &["version"]))
        .transpose()?
        .flatten()
        .or(get_str(INSTALLERS, &installers_doc, "", &["version"])?)
        .ok_or_else(|| field(INSTALLERS, "version", "no version in release-evidence.json or the installer metadata"))?;
    let version = version_raw.strip_prefix('v').unwrap_or(version_raw).to_string();
    let commit = evidence
        .as_ref()
        .and_then(|e| e.get("commit").and_then(Value::as_str))
        .filter(|c| (7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(str::to_string);
    let controls = match &evidence {
        Some(e) => get_strings(EVIDENCE, e, "", &["controls"])?,
        None => Vec::new(),
    };

    // Installer targets.
    let mut installers = Vec::new();
    let mut by_target: BTreeMap<String, String> = BTreeMap::new();
    for (i, t) in array(INSTALLERS, &installers_doc, &["targets", "installers"])?.iter().enumerate() {
        let p = format!("targets[{i}]");
        let target = req_str(INSTALLERS, t, &p, &["target", "platform"])?;
        let (os, arch) = match (get_str(INSTALLERS, t, &p, &["goos", "os"])?, get_str(INSTALLERS, t, &p, &["goarch", "arch"])?) {
            (Some(o), Some(a)) => (o.to_string(), a.to_string()),
            _ => split_platform(target).ok_or_else(|| field(INSTALLERS, format!("{p}.target"), format!("{target:?} is not os/arch")))?,
        };
        let binary = req_str(INSTALLERS, t, &p, &["binary", "binary_path"])?;
        let binary = binary.strip_prefix("./").unwrap_or(binary);
        let stated = req_str(INSTALLERS, t, &p, &["binary_sha256", "sha256"])?;
        let stated = Sha256Digest::from_hex(stated.strip_prefix("sha256:").unwrap_or(stated))
            .map_err(|e| field(INSTALLERS, format!("{p}.binary_sha256"), e.to_string()))?;
        let listed_digest = listed
            .get(binary)
            .ok_or_else(|| field(INSTALLERS, format!("{p}.binary"), format!("{binary} is not listed in checksums.txt")))?;
        if *listed_digest != stated {
            return Err(field(
                INSTALLERS,
                format!("{p}.binary_sha256"),
                format!("{} differs from checksums.txt's {} for {binary}", stated.prefixed(), listed_digest.prefixed()),
            ));
        }
        let id = format!("{os}-{arch}");
        by_target.insert(target.to_string(), id.clone());
        by_target.insert(format!("{os}/{arch}"), id.clone());
        let smoke: Vec<String> = get_strings(INSTALLERS, t, &p, &["smoke_command", "smoke_test_command"])?;
        let args = if smoke.is_empty() { vec!["-h".to_string()] } else { smoke[1..].to_vec() };
        let exit = match t.get("smoke_expected_exit_code") {
            Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(-1),
            _ => 0,
        };
        installers.push(InstallerTarget {
            id,
            os,
            arch,
            binary: member_path(binary),
            digest: stated,
            install_path: req_str(INSTALLERS, t, &p, &["install_path"])?.to_string(),
            install_method: get_str(INSTALLERS, t, &p, &["install_method"])?.unwrap_or("copy").to_string(),
            probe: Some(Probe { args, expect_exit_code: exit, expect_output: None, expect_json: None, timeout_seconds: None }),
        });
    }

    // Updater policy: rings, hold conditions, rollback requirements shared by every channel.
    let policy = parse_json(UPDATER_POLICY, docs)?;
    let (mut rings, mut holds, mut rollback_reqs) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(pol) = &policy {
        let staged = pol.get("staged_rollout").unwrap_or(pol);
        if let Ok(rs) = array(UPDATER_POLICY, staged, &["rings", "rollout_rings"]) {
            for (i, r) in rs.iter().enumerate() {
                let p = format!("rings[{i}]");
                let name = req_str(UPDATER_POLICY, r, &p, &["name", "ring"])?.to_string();
                let pct = ["max_percentage", "max_percent", "percentage"]
                    .iter()
                    .find_map(|k| r.get(*k).and_then(Value::as_u64))
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| field(UPDATER_POLICY, format!("{p}.max_percentage"), "missing or not 1-100"))?;
                let soak = r
                    .get("soak_hours")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| field(UPDATER_POLICY, format!("{p}.soak_hours"), "missing or not a whole number of hours"))?;
                rings.push(Ring { name, max_percent: pct as u8, soak_hours: soak });
            }
        }
        holds = get_strings(UPDATER_POLICY, pol, "", &["hold_conditions"])?;
        rollback_reqs = get_strings(UPDATER_POLICY, pol, "", &["rollback_requirements"])?;
    }

    let mut channels = Vec::new();
    if let Some(doc) = parse_json(CHANNELS, docs)? {
        for (i, c) in array(CHANNELS, &doc, &["channels"])?.iter().enumerate() {
            let p = format!("channels[{i}]");
            channels.push(Channel {
                name: req_str(CHANNELS, c, &p, &["channel", "name"])?.to_string(),
                auto_update: get_bool(CHANNELS, c, &p, "auto_update")?,
                approval_required: get_bool(CHANNELS, c, &p, "approval_required")?,
                rings: rings.clone(),
                hold_conditions: holds.clone(),
                rollback_requirements: rollback_reqs.clone(),
            });
        }
    }

    let mut deployments = Vec::new();
    if let Some(doc) = parse_json(DEPLOYMENT, docs)? {
        for (i, d) in array(DEPLOYMENT, &doc, &["deployment_targets"])?.iter().enumerate() {
            let p = format!("deployment_targets[{i}]");
            let surface_raw = req_str(DEPLOYMENT, d, &p, &["surface"])?;
            let s = surface_raw.to_ascii_lowercase();
            let surface = if s.contains("runner") || s.starts_with("ci") {
                Surface::CiRunner
            } else if s.contains("workstation") || s.contains("laptop") || s.contains("desktop") {
                Surface::Workstation
            } else if s.contains("server") {
                Surface::Server
            } else if s.contains("managed") || s.contains("endpoint") {
                Surface::ManagedEndpoint
            } else {
                return Err(field(
                    DEPLOYMENT,
                    format!("{p}.surface"),
                    format!("{surface_raw:?} is none of ci-runner, workstation, server, managed-endpoint"),
                ));
            };
            let inst = req_str(DEPLOYMENT, d, &p, &["installer_target"])?;
            let installer = by_target
                .get(inst)
                .cloned()
                .ok_or_else(|| field(DEPLOYMENT, format!("{p}.installer_target"), format!("{inst:?} is not an installer target")))?;
            let platform = req_str(DEPLOYMENT, d, &p, &["platform"])?;
            let platform = split_platform(platform).map(|(o, a)| format!("{o}/{a}")).unwrap_or_else(|| platform.to_string());
            let mut rollback = get_strings(DEPLOYMENT, d, &p, &["rollback_steps", "rollback"])?;
            if rollback.is_empty() {
                rollback = rollback_reqs.clone();
            }
            deployments.push(DeploymentTarget {
                id: req_str(DEPLOYMENT, d, &p, &["id"])?.to_string(),
                surface,
                platform,
                installer,
                channel: req_str(DEPLOYMENT, d, &p, &["deployment_channel", "channel"])?.to_string(),
                management_tool: get_str(DEPLOYMENT, d, &p, &["management_tool", "management"])?
                    .unwrap_or(if surface == Surface::CiRunner { "runner-image" } else { "manual" })
                    .to_ascii_lowercase(),
                rollback,
            });
        }
    }

    let mut files: Vec<(String, String, Option<Sha256Digest>)> =
        listed.iter().map(|(p, d)| (p.clone(), member_path(p), Some(*d))).collect();
    // An unlisted document must still be packed as the bytes this plan read it as.
    files.extend(unlisted.iter().map(|p| (p.clone(), member_path(p), docs.get(p).map(|b| Sha256Digest::of(b)))));
    files.sort();
    Ok(CavraPlan {
        release: Release { product: "cavra-runtime".into(), version, commit, channel: None },
        files,
        unlisted,
        metadata: ReleaseMetadata { schema: METADATA_SCHEMA.into(), installers, deployments, channels, controls },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg() -> (Vec<String>, Vec<u8>, BTreeMap<String, Vec<u8>>) {
        let bin = b"binary".to_vec();
        let d = Sha256Digest::of(&bin).hex();
        let installers = format!(
            r#"{{"version":"v0.2.0","targets":[{{"target":"linux/amd64","binary":"bin/cavra-runtime_v0.2.0_linux_amd64","binary_sha256":"{d}","install_path":"/usr/local/bin/cavra-runtime"}}]}}"#
        );
        let mut docs = BTreeMap::new();
        docs.insert(INSTALLERS.to_string(), installers.into_bytes());
        docs.insert(
            EVIDENCE.to_string(),
            br#"{"version":"v0.2.0","commit":"0123456789abcdef","controls":["spdx-sbom","slsa-provenance"]}"#.to_vec(),
        );
        let mut sums = String::new();
        let mut files = vec!["bin/cavra-runtime_v0.2.0_linux_amd64".to_string()];
        sums.push_str(&format!("{d}  bin/cavra-runtime_v0.2.0_linux_amd64\n"));
        for (name, b) in &docs {
            sums.push_str(&format!("{}  {name}\n", Sha256Digest::of(b).hex()));
            files.push(name.clone());
        }
        files.push(CHECKSUMS.into());
        (files, sums.into_bytes(), docs)
    }

    #[test]
    fn maps_and_refuses_unlisted_or_missing() {
        let (files, sums, docs) = pkg();
        let p = plan(&files, Some(&sums), &docs, &[]).unwrap();
        assert_eq!(p.release.version, "0.2.0");
        assert_eq!(p.metadata.installers[0].binary, "artifacts/cavra-runtime_v0.2.0_linux_amd64");
        assert_eq!(p.metadata.controls, ["spdx-sbom", "slsa-provenance"]);
        let mut extra = files.clone();
        extra.push("notes.txt".into());
        assert!(matches!(plan(&extra, Some(&sums), &docs, &[]), Err(CavraError::Unlisted(f)) if f == "notes.txt"));
        // Accepted explicitly: packed without a CAVRA digest, and reported.
        let p = plan(&extra, Some(&sums), &docs, &["notes.txt".to_string()]).unwrap();
        assert_eq!(p.unlisted, ["notes.txt"]);
        assert!(p.files.contains(&("notes.txt".to_string(), "other/cavra/notes.txt".to_string(), None)));
        assert!(
            matches!(plan(&files, Some(&sums), &docs, &["notes.txt".to_string()]), Err(CavraError::NotUnlisted(f)) if f == "notes.txt")
        );
        let fewer: Vec<String> = files.iter().filter(|f| !f.starts_with("bin/")).cloned().collect();
        assert!(matches!(plan(&fewer, Some(&sums), &docs, &[]), Err(CavraError::Missing(_))));
        assert!(matches!(plan(&files, None, &docs, &[]), Err(CavraError::NoChecksums)));
        let bad = [sums.as_slice(), b"zz  x\n"].concat();
        assert!(matches!(plan(&files, Some(&bad), &docs, &[]), Err(CavraError::ChecksumLine { line: 4, .. })));
    }
}
