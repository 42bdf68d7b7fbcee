//! Migration from CAVRA (sans-I/O): maps a package written by CAVRA's go-release packager
//! (`go-runtime-<v>/`, or its zip) onto an airlock bundle plan. The shell lists the package,
//! reads its small documents and the bytes each CAVRA signature covers; this module decides
//! which file becomes which member, which digest each must have, checks every CAVRA signature
//! against the key the user pins, and builds the release metadata.
//! `format-spec/release-metadata-v1.md` §8 has the field-by-field table.
//!
//! CAVRA's packager lists the binaries, SBOM, go-modules and provenance in `checksums.txt`, then
//! signs each of them and `checksums.txt` (`<file>.sig.json`), then writes and signs
//! `release-evidence.json`, then writes `release-evidence.md`; its workflow later adds
//! `github-keyless-attestation.json`. Those later files are recognised by what they are; any
//! other file not in `checksums.txt` is refused (all of them named in one message), and every
//! listed file must exist. CAVRA's own check trusts the public key inside each signature file:
//! here it is ignored, and every signature must verify against the pinned key.

use super::{Channel, DeploymentTarget, InstallerTarget, JsonExpectation, METADATA_SCHEMA, Probe, ReleaseMetadata, Ring, Surface};
use crate::bundle::checksums;
use crate::bundle::manifest::Release;
use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use crate::keys::PublicKey;
use base64::Engine;
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
/// Updater policy: per channel, rings, hold conditions, rollback rules.
pub const UPDATER_POLICY: &str = "cavra-runtime.updater-policy.json";
/// CI runner bundles (controls only).
pub const CI_RUNNERS: &str = "cavra-runtime.ci-runner-bundles.json";
/// Release evidence: version, commit, controls, the signature list (written after checksums).
pub const EVIDENCE: &str = "release-evidence.json";
/// Markdown summary of the evidence (written after checksums, unsigned).
pub const EVIDENCE_SUMMARY: &str = "release-evidence.md";
/// The workflow's record of its keyless attestation (written after checksums, unsigned).
pub const ATTESTATION_RECORD: &str = "github-keyless-attestation.json";
/// Suffix of CAVRA's detached signature files.
pub const SIG_SUFFIX: &str = ".sig.json";
/// The JSON documents the plan reads, if present.
pub const DOCUMENTS: [&str; 6] = [INSTALLERS, DEPLOYMENT, CHANNELS, UPDATER_POLICY, CI_RUNNERS, EVIDENCE];
/// Where CAVRA's files are carried verbatim when no kind directory fits.
pub const CARRY_DIR: &str = "other/cavra";
/// `schema_version` of a CAVRA signature file.
pub const SIGNATURE_SCHEMA: &str = "cavra.go-release.signature.v1";
/// Largest file whose CAVRA signature is checked (Ed25519 signs the whole file, so it is read
/// whole).
pub const MAX_SIGNED_FILE: u64 = 1 << 30;
/// The decision request CAVRA's installer smoke test feeds the runtime on stdin.
pub const SMOKE_REQUEST: &str =
    r#"{"session_id":"installer-smoke","action_type":"git_operation","operation":"status","target":"feature/installer-smoke"}"#;
/// The decisions CAVRA's smoke test accepts in the runtime's JSON answer.
pub const SMOKE_DECISIONS: [&str; 6] = ["allow", "block", "require_approval", "warn", "audit_only", "allow_with_attestation"];
/// The runtime's arguments for that test: read the request from stdin.
pub const SMOKE_ARGS: [&str; 2] = ["-input", "-"];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

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
    /// Files present but neither listed nor written by CAVRA after its checksums.
    #[error(
        "{} is in the package but neither listed in checksums.txt nor a file CAVRA writes after it (*.sig.json, release-evidence.json, release-evidence.md, github-keyless-attestation.json); unlisted files are refused (remove it, or pass --accept-unlisted FILE to pack it on your own authority)",
        .0.join(", ")
    )]
    Unlisted(Vec<String>),
    /// `--accept-unlisted` names a file the package does not hold unlisted.
    #[error(
        "--accept-unlisted {0}: the package holds no such unlisted file; give the path relative to the package as checksums.txt would list it (e.g. notes.txt)"
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
        file: String,
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
    /// A signature CAVRA writes is absent.
    #[error("the CAVRA package has no {0}; a signed CAVRA release has one (a dry-run package is unsigned and cannot be migrated)")]
    Unsigned(String),
    /// A CAVRA signature file is malformed or does not verify against the pinned key.
    #[error("{file}: {why}")]
    Signature {
        /// The `*.sig.json` file.
        file: String,
        /// Why it is refused.
        why: String,
    },
    /// The pinned CAVRA key is not an Ed25519 public key in PEM.
    #[error("--cavra-key: {0}")]
    Key(String),
}

/// The CAVRA release key the user pins (`--cavra-key PEM`).
#[derive(Clone, Debug)]
pub struct CavraKey {
    key: PublicKey,
    /// SHA-256 of its PEM text as CAVRA writes it: CAVRA's `public_key_sha256`.
    pub fingerprint: Sha256Digest,
}

impl CavraKey {
    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM holding an Ed25519 SubjectPublicKeyInfo.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CavraError> {
        let text = std::str::from_utf8(pem).map_err(|_| CavraError::Key("not UTF-8 text".into()))?;
        let body = text
            .trim()
            .strip_prefix("-----BEGIN PUBLIC KEY-----")
            .and_then(|t| t.strip_suffix("-----END PUBLIC KEY-----"))
            .ok_or_else(|| CavraError::Key("not a `-----BEGIN PUBLIC KEY-----` PEM block".into()))?;
        let b64: String = body.split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| CavraError::Key(format!("PEM body is not base64: {e}")))?;
        let raw: [u8; 32] = der.strip_prefix(&ED25519_SPKI_PREFIX).and_then(|r| r.try_into().ok()).ok_or_else(|| {
            CavraError::Key(format!("{} DER bytes are not an Ed25519 SubjectPublicKeyInfo (RFC 8410, 44 bytes)", der.len()))
        })?;
        let key = PublicKey::from_bytes(&raw).map_err(|e| CavraError::Key(e.to_string()))?;
        let canonical = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        Ok(CavraKey { key, fingerprint: Sha256Digest::of(canonical.as_bytes()) })
    }
}

/// One CAVRA signature to check: the shell reads `subject`'s bytes, which must have `digest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureJob {
    /// The `*.sig.json` file.
    pub file: String,
    /// The file it signs.
    pub subject: String,
    /// The digest the subject must have (from checksums.txt, or of the bytes this plan read).
    pub digest: Sha256Digest,
}

/// Where a control came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSource {
    /// Control name.
    pub control: String,
    /// The CAVRA files that carry it, in the order read.
    pub files: Vec<String>,
}

/// The mapping: which package file becomes which member, with the digest it must have.
#[derive(Debug)]
pub struct CavraPlan {
    /// Release identity (product `cavra-runtime` unless overridden by the caller).
    pub release: Release,
    /// `(package path, member path, digest it must have)`, sorted by package path; the digest
    /// is `None` for a file accepted unlisted (taken when packing).
    pub files: Vec<(String, String, Option<Sha256Digest>)>,
    /// Package files accepted although checksums.txt does not list them.
    pub unlisted: Vec<String>,
    /// Files CAVRA writes after checksums.txt that no signature covers, carried as read.
    pub unsigned: Vec<String>,
    /// Every signature in the package, checksums.txt's first; all must verify before the plan
    /// is used.
    pub signatures: Vec<SignatureJob>,
    /// Each control and the files it came from.
    pub control_sources: Vec<ControlSource>,
    /// Release metadata for `release/airlock-release.json`.
    pub metadata: ReleaseMetadata,
}

fn field(file: &'static str, f: impl Into<String>, why: impl Into<String>) -> CavraError {
    CavraError::Field { file, field: f.into(), why: why.into() }
}

fn get_str<'a>(file: &'static str, v: &'a Value, path: &str, name: &str) -> Result<Option<&'a str>, CavraError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(field(file, format!("{path}{name}"), "must be a string")),
    }
}

fn req_str<'a>(file: &'static str, v: &'a Value, path: &str, name: &str) -> Result<&'a str, CavraError> {
    get_str(file, v, path, name)?.ok_or_else(|| field(file, format!("{path}{name}"), "missing"))
}

fn strings(file: &'static str, v: &Value, path: &str, name: &str) -> Result<Vec<String>, CavraError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| x.as_str().map(str::to_string).ok_or_else(|| field(file, format!("{path}{name}[{i}]"), "must be a string")))
            .collect(),
        Some(_) => Err(field(file, format!("{path}{name}"), "must be an array of strings")),
    }
}

fn req_bool(file: &'static str, v: &Value, path: &str, name: &str) -> Result<bool, CavraError> {
    v.get(name).and_then(Value::as_bool).ok_or_else(|| field(file, format!("{path}{name}"), "missing or not a boolean"))
}

fn array<'a>(file: &'static str, v: &'a Value, name: &str) -> Result<&'a Vec<Value>, CavraError> {
    v.get(name).ok_or_else(|| field(file, name, "missing"))?.as_array().ok_or_else(|| field(file, name, "must be an array"))
}

/// Bundle member for a package file: binaries (not their signatures) become artifacts, the SPDX
/// SBOM and the in-toto provenance keep their kinds, everything else is carried verbatim.
pub fn member_path(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if let Some(b) = rel.strip_prefix("bin/").filter(|b| !b.contains('/') && !b.ends_with(SIG_SUFFIX)) {
        format!("artifacts/{b}")
    } else if !rel.contains('/') && (name.ends_with(".spdx.json") || name.ends_with(".cdx.json")) {
        format!("sbom/{name}")
    } else if !rel.contains('/') && name.ends_with(".intoto.json") {
        format!("provenance/{name}")
    } else {
        format!("{CARRY_DIR}/{rel}")
    }
}

/// What a file CAVRA writes after `checksums.txt` is, by its name; `None` for anything else.
pub fn post_checksums_kind(rel: &str) -> Option<&'static str> {
    match rel {
        EVIDENCE => Some("release evidence (signed)"),
        EVIDENCE_SUMMARY => Some("release evidence summary (unsigned)"),
        ATTESTATION_RECORD => Some("keyless attestation record (unsigned)"),
        r if r.ends_with(SIG_SUFFIX) && r.len() > SIG_SUFFIX.len() => Some("CAVRA signature"),
        _ => None,
    }
}

/// A management tool's identifier from CAVRA's product name: the tools airlock's inventory
/// providers know by name (`Jamf Pro` → `jamf`, `Microsoft Intune` → `intune`), any other as
/// its lower-case words joined by `-`.
pub fn tool_ident(label: &str) -> String {
    let lower = label.to_ascii_lowercase();
    for known in ["jamf", "intune"] {
        if lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == known) {
            return known.into();
        }
    }
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut s = words.join("-");
    s.truncate(64);
    s.trim_end_matches('-').to_string()
}

fn parse_json(file: &'static str, docs: &BTreeMap<String, Vec<u8>>) -> Result<Option<Value>, CavraError> {
    docs.get(file).map(|b| json::parse_strict(b).map_err(|err| CavraError::Json { file: file.into(), err })).transpose()
}

/// Checks one CAVRA signature file against the pinned key: its schema, that it names `subject`,
/// that the digest it states is the subject's, and that its Ed25519 value verifies over the
/// subject's bytes with the pinned key (the key inside the file is no trust anchor).
pub fn check_signature(key: &CavraKey, file: &str, sig: &[u8], subject: &str, bytes: &[u8]) -> Result<(), CavraError> {
    let bad = |why: String| CavraError::Signature { file: file.into(), why };
    let v = json::parse_strict(sig).map_err(|err| CavraError::Json { file: file.into(), err })?;
    let s = |name: &str| v.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("{name} is missing or not a string")));
    if s("schema_version")? != SIGNATURE_SCHEMA {
        return Err(bad(format!("schema_version {:?} is not {SIGNATURE_SCHEMA:?}", s("schema_version")?)));
    }
    if s("algorithm")? != "Ed25519" {
        return Err(bad(format!("algorithm {:?} is not Ed25519", s("algorithm")?)));
    }
    if s("subject")? != subject {
        return Err(bad(format!("signs {:?}, but the file beside it is {subject:?}", s("subject")?)));
    }
    let actual = Sha256Digest::of(bytes);
    let stated = s("subject_sha256")?;
    if stated != actual.hex() {
        return Err(bad(format!("signs {subject} with digest sha256:{stated}, but {subject} is {}", actual.prefixed())));
    }
    let value =
        base64::engine::general_purpose::STANDARD.decode(s("value")?.as_bytes()).map_err(|e| bad(format!("value is not base64: {e}")))?;
    if !key.key.verify(bytes, &value) {
        let embedded = s("public_key_sha256").unwrap_or("(none)");
        let whose = if embedded == key.fingerprint.hex() {
            "the file names the pinned key, but the signature value is not valid".to_string()
        } else {
            format!("it was made by another key (public_key_sha256 {embedded}; the pinned key's is {})", key.fingerprint.hex())
        };
        return Err(bad(format!(
            "the Ed25519 signature over {subject} does not verify against the pinned CAVRA key: {whose}; check that --cavra-key is CAVRA's release key and that the package was not re-signed"
        )));
    }
    Ok(())
}

/// Adds `items` from `file` to the attributed control list.
fn add_controls(out: &mut Vec<ControlSource>, file: &str, items: Vec<String>) {
    for c in items {
        match out.iter_mut().find(|s| s.control == c) {
            Some(s) if !s.files.iter().any(|f| f == file) => s.files.push(file.to_string()),
            Some(_) => {}
            None => out.push(ControlSource { control: c, files: vec![file.to_string()] }),
        }
    }
}

/// Plans the mapping. `files` are the package's regular files (relative, `/`-separated);
/// `docs` holds the bytes of every [`DOCUMENTS`] file and every file CAVRA writes after
/// checksums.txt that exists. `accept_unlisted` names files the packer accepts although
/// checksums.txt does not list them.
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
    let later: Vec<&str> = present.iter().copied().filter(|f| !listed.contains_key(*f) && post_checksums_kind(f).is_some()).collect();
    let unlisted: Vec<String> =
        present.iter().filter(|f| !listed.contains_key(**f) && post_checksums_kind(f).is_none()).map(|f| f.to_string()).collect();
    let refused: Vec<String> = unlisted.iter().filter(|f| !accept_unlisted.contains(f)).cloned().collect();
    if !refused.is_empty() {
        return Err(CavraError::Unlisted(refused));
    }
    if let Some(a) = accept_unlisted.iter().find(|a| !unlisted.contains(a)) {
        return Err(CavraError::NotUnlisted(a.clone()));
    }
    if let Some(f) = listed.keys().find(|f| !present.contains(f.as_str())) {
        return Err(CavraError::Missing(f.clone()));
    }

    // Signatures: each beside the file it signs; checksums.txt's is required (it vouches for
    // every listed file), and so is the evidence's when there is evidence.
    let digest_of = |rel: &str| -> Option<Sha256Digest> {
        if rel == CHECKSUMS {
            return Some(Sha256Digest::of(sums));
        }
        listed.get(rel).copied().or_else(|| docs.get(rel).map(|b| Sha256Digest::of(b)))
    };
    let mut signatures = Vec::new();
    for sig in later.iter().filter(|f| f.ends_with(SIG_SUFFIX)) {
        let subject = &sig[..sig.len() - SIG_SUFFIX.len()];
        let ok_subject = subject == CHECKSUMS || listed.contains_key(subject) || subject == EVIDENCE;
        let digest = digest_of(subject).filter(|_| ok_subject && (subject == CHECKSUMS || present.contains(subject))).ok_or_else(|| {
            CavraError::Signature {
                file: sig.to_string(),
                why: format!("signs {subject}, which is not a file of the package that CAVRA signs (checksums.txt, a listed file, release-evidence.json)"),
            }
        })?;
        signatures.push(SignatureJob { file: sig.to_string(), subject: subject.to_string(), digest });
    }
    // checksums.txt's first: it vouches for every listed file, so its failure is the one to name.
    signatures.sort_by_key(|s| s.subject != CHECKSUMS);
    let signed: BTreeSet<&str> = signatures.iter().map(|s| s.subject.as_str()).collect();
    for required in [Some(CHECKSUMS), present.contains(EVIDENCE).then_some(EVIDENCE)].into_iter().flatten() {
        if !signed.contains(required) {
            return Err(CavraError::Unsigned(format!("{required}{SIG_SUFFIX}")));
        }
    }
    let unsigned: Vec<String> = later.iter().filter(|f| !f.ends_with(SIG_SUFFIX) && !signed.contains(**f)).map(|f| f.to_string()).collect();

    let installers_doc = parse_json(INSTALLERS, docs)?.ok_or(CavraError::MissingDocument(INSTALLERS))?;
    let evidence = parse_json(EVIDENCE, docs)?;
    let version_raw = match &evidence {
        Some(e) => req_str(EVIDENCE, e, "", "version")?,
        None => req_str(INSTALLERS, &installers_doc, "", "version")?,
    };
    let version = version_raw.strip_prefix('v').unwrap_or(version_raw).to_string();
    let commit = evidence
        .as_ref()
        .and_then(|e| e.get("commit").and_then(Value::as_str))
        .filter(|c| (7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(str::to_string);
    let mut control_sources = Vec::new();
    if let Some(e) = &evidence {
        // Every signature the (signed) evidence lists must still be there.
        if let Some(list) = e.get("signatures").and_then(Value::as_array) {
            for (i, s) in list.iter().enumerate() {
                let sig = req_str(EVIDENCE, s, &format!("signatures[{i}]."), "signature")?;
                if !present.contains(sig) {
                    return Err(CavraError::Unsigned(format!("{sig} (listed in {EVIDENCE})")));
                }
            }
        }
        add_controls(&mut control_sources, EVIDENCE, strings(EVIDENCE, e, "", "controls")?);
    }

    // Installer targets.
    let mut installers = Vec::new();
    let mut by_target: BTreeMap<String, (String, Sha256Digest)> = BTreeMap::new();
    for (i, t) in array(INSTALLERS, &installers_doc, "targets")?.iter().enumerate() {
        let p = format!("targets[{i}].");
        let (os, arch) = (req_str(INSTALLERS, t, &p, "os")?, req_str(INSTALLERS, t, &p, "arch")?);
        let target = req_str(INSTALLERS, t, &p, "target")?;
        if target != format!("{os}/{arch}") {
            return Err(field(INSTALLERS, format!("{p}target"), format!("{target:?} is not its os/arch {os}/{arch}")));
        }
        let binary = req_str(INSTALLERS, t, &p, "binary")?;
        let stated = req_str(INSTALLERS, t, &p, "binary_sha256")?;
        let stated = Sha256Digest::from_hex(stated).map_err(|e| field(INSTALLERS, format!("{p}binary_sha256"), e.to_string()))?;
        let listed_digest = listed
            .get(binary)
            .ok_or_else(|| field(INSTALLERS, format!("{p}binary"), format!("{binary} is not listed in checksums.txt")))?;
        if *listed_digest != stated {
            return Err(field(
                INSTALLERS,
                format!("{p}binary_sha256"),
                format!("{} differs from checksums.txt's {} for {binary}", stated.prefixed(), listed_digest.prefixed()),
            ));
        }
        let id = format!("{os}-{arch}");
        by_target.insert(target.to_string(), (id.clone(), stated));
        installers.push(InstallerTarget {
            id,
            os: os.to_string(),
            arch: arch.to_string(),
            binary: member_path(binary),
            digest: stated,
            install_path: req_str(INSTALLERS, t, &p, "install_path")?.to_string(),
            install_method: req_str(INSTALLERS, t, &p, "install_method")?.to_string(),
            probe: Some(Probe {
                args: SMOKE_ARGS.iter().map(|a| a.to_string()).collect(),
                expect_exit_code: 0,
                expect_output: None,
                expect_json: Some(JsonExpectation {
                    pointer: "/decision".into(),
                    equals: None,
                    one_of: Some(SMOKE_DECISIONS.iter().map(|d| Value::String(d.to_string())).collect()),
                }),
                stdin: Some(SMOKE_REQUEST.into()),
                timeout_seconds: None,
            }),
        });
    }

    // Channels: the channel manifest's flags and rollback rule, with the updater policy's rings,
    // holds and rollback rule for the same channel.
    let mut channels = Vec::new();
    let mut listed_in: BTreeMap<String, String> = BTreeMap::new();
    let mut recommended = None;
    if let Some(doc) = parse_json(CHANNELS, docs)? {
        let policy = parse_json(UPDATER_POLICY, docs)?.ok_or(CavraError::MissingDocument(UPDATER_POLICY))?;
        let policies = array(UPDATER_POLICY, &policy, "policies")?;
        add_controls(&mut control_sources, UPDATER_POLICY, strings(UPDATER_POLICY, &policy, "", "controls")?);
        for (i, c) in array(CHANNELS, &doc, "channels")?.iter().enumerate() {
            let p = format!("channels[{i}].");
            let name = req_str(CHANNELS, c, &p, "channel")?.to_string();
            let auto_update = req_bool(CHANNELS, c, &p, "auto_update")?;
            let approval_required = req_bool(CHANNELS, c, &p, "approval_required")?;
            add_controls(&mut control_sources, CHANNELS, strings(CHANNELS, c, &p, "controls")?);
            if c.get("recommended").and_then(Value::as_bool) == Some(true) && recommended.is_none() {
                recommended = Some(name.clone());
            }
            for (j, w) in c.get("workstation_targets").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let id = req_str(CHANNELS, w, &format!("{p}workstation_targets[{j}]."), "id")?;
                listed_in.entry(id.to_string()).or_insert_with(|| name.clone());
            }
            let mut rollback_requirements = Vec::new();
            if let Some(rb) = c.get("rollback") {
                rollback_rule(CHANNELS, rb, &format!("{p}rollback."), &mut rollback_requirements)?;
            }
            let (pi, pol) =
                policies.iter().enumerate().find(|(_, x)| x.get("channel").and_then(Value::as_str) == Some(name.as_str())).ok_or_else(
                    || field(UPDATER_POLICY, "policies", format!("no policy for channel {name:?}: its rollout rings would be lost")),
                )?;
            let pp = format!("policies[{pi}].");
            for (flag, value) in [("auto_update", auto_update), ("approval_required", approval_required)] {
                if req_bool(UPDATER_POLICY, pol, &pp, flag)? != value {
                    return Err(field(
                        UPDATER_POLICY,
                        format!("{pp}{flag}"),
                        format!("differs from {CHANNELS}'s {value} for channel {name:?}"),
                    ));
                }
            }
            let mut rings = Vec::new();
            for (k, r) in array(UPDATER_POLICY, pol, "rollout_rings")
                .map_err(|_| field(UPDATER_POLICY, format!("{pp}rollout_rings"), "missing or not an array"))?
                .iter()
                .enumerate()
            {
                let rp = format!("{pp}rollout_rings[{k}].");
                let pct = r
                    .get("max_percentage")
                    .and_then(Value::as_u64)
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| field(UPDATER_POLICY, format!("{rp}max_percentage"), "missing or not 1-100"))?;
                let soak = r
                    .get("soak_hours")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| field(UPDATER_POLICY, format!("{rp}soak_hours"), "missing or not a whole number of hours"))?;
                rings.push(Ring { name: req_str(UPDATER_POLICY, r, &rp, "ring")?.to_string(), max_percent: pct as u8, soak_hours: soak });
            }
            if let Some(rb) = pol.get("rollback") {
                rollback_rule(UPDATER_POLICY, rb, &format!("{pp}rollback."), &mut rollback_requirements)?;
            }
            channels.push(Channel {
                name,
                auto_update,
                approval_required,
                rings,
                hold_conditions: strings(UPDATER_POLICY, pol, &pp, "hold_conditions")?,
                rollback_requirements,
            });
        }
        for (i, pol) in policies.iter().enumerate() {
            let name = req_str(UPDATER_POLICY, pol, &format!("policies[{i}]."), "channel")?;
            if !channels.iter().any(|c| c.name == name) {
                return Err(field(UPDATER_POLICY, format!("policies[{i}].channel"), format!("{name:?} is not a channel of {CHANNELS}")));
            }
        }
    }

    let mut deployments = Vec::new();
    if let Some(doc) = parse_json(DEPLOYMENT, docs)? {
        add_controls(&mut control_sources, DEPLOYMENT, strings(DEPLOYMENT, &doc, "", "controls")?);
        for (i, d) in array(DEPLOYMENT, &doc, "deployment_targets")?.iter().enumerate() {
            let p = format!("deployment_targets[{i}].");
            let id = req_str(DEPLOYMENT, d, &p, "id")?;
            let surface_raw = req_str(DEPLOYMENT, d, &p, "surface")?;
            let surface = match surface_raw {
                "ci-runner" => Surface::CiRunner,
                s if s.ends_with("workstation") => Surface::Workstation,
                "server" => Surface::Server,
                "managed-endpoint" => Surface::ManagedEndpoint,
                _ => {
                    return Err(field(
                        DEPLOYMENT,
                        format!("{p}surface"),
                        format!("{surface_raw:?} is none of ci-runner, developer-workstation, workstation, server, managed-endpoint"),
                    ));
                }
            };
            let platform = format!("{}/{}", req_str(DEPLOYMENT, d, &p, "os")?, req_str(DEPLOYMENT, d, &p, "arch")?);
            let inst = req_str(DEPLOYMENT, d, &p, "installer_target")?;
            if inst != platform {
                return Err(field(
                    DEPLOYMENT,
                    format!("{p}installer_target"),
                    format!("{inst:?} differs from the target's own os/arch {platform}"),
                ));
            }
            let (installer, digest) = by_target
                .get(inst)
                .cloned()
                .ok_or_else(|| field(DEPLOYMENT, format!("{p}installer_target"), format!("{inst:?} is not an installer target")))?;
            if let Some(stated) = get_str(DEPLOYMENT, d, &p, "binary_sha256")?
                && stated != digest.hex()
            {
                return Err(field(
                    DEPLOYMENT,
                    format!("{p}binary_sha256"),
                    format!("sha256:{stated} differs from the installer's {}", digest.prefixed()),
                ));
            }
            let channel = listed_in.get(id).or(recommended.as_ref()).cloned().ok_or_else(|| {
                field(DEPLOYMENT, format!("{p}id"), format!("{id:?} is in no channel's workstation_targets and no channel is recommended"))
            })?;
            let delivery = get_str(DEPLOYMENT, d, &p, "deployment_channel")?.map(str::to_string);
            deployments.push(DeploymentTarget {
                id: id.to_string(),
                surface,
                platform,
                installer,
                channel,
                management_tool: tool_ident(req_str(DEPLOYMENT, d, &p, "management_tool")?),
                delivery,
                label: get_str(DEPLOYMENT, d, &p, "platform")?.map(str::to_string),
                rollback: strings(DEPLOYMENT, d, &p, "rollback_steps")?,
            });
        }
    }
    if let Some(doc) = parse_json(CI_RUNNERS, docs)? {
        add_controls(&mut control_sources, CI_RUNNERS, strings(CI_RUNNERS, &doc, "", "controls")?);
    }
    // Every CAVRA document of the package is about the same release.
    for file in DOCUMENTS {
        if let Some(v) = parse_json(file, docs)?
            && let Some(other) = get_str(file, &v, "", "version")?
            && other != version_raw
        {
            return Err(field(file, "version", format!("{other:?} differs from the release's {version_raw:?}")));
        }
    }

    let mut files: Vec<(String, String, Option<Sha256Digest>)> =
        listed.iter().map(|(p, d)| (p.clone(), member_path(p), Some(*d))).collect();
    // Files written after checksums.txt are packed as the bytes this plan read and checked.
    for f in &later {
        let bytes = docs.get(*f).ok_or_else(|| CavraError::MissingDocument(post_checksums_kind(f).unwrap_or("document")))?;
        files.push((f.to_string(), member_path(f), Some(Sha256Digest::of(bytes))));
    }
    files.extend(unlisted.iter().map(|p| (p.clone(), member_path(p), None)));
    files.sort();
    Ok(CavraPlan {
        release: Release { product: "cavra-runtime".into(), version, commit, channel: None },
        files,
        unlisted,
        unsigned,
        signatures,
        metadata: ReleaseMetadata {
            schema: METADATA_SCHEMA.into(),
            installers,
            deployments,
            channels,
            controls: control_sources.iter().map(|c| c.control.clone()).collect(),
        },
        control_sources,
    })
}

/// A CAVRA `rollback` object as rollback requirements: `required`, `strategy`, `approval`,
/// `max_minutes_to_pause` and each `evidence` item become one line each.
fn rollback_rule(file: &'static str, rb: &Value, path: &str, out: &mut Vec<String>) -> Result<(), CavraError> {
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if rb.get("required").and_then(Value::as_bool) == Some(true) {
        push("rollback required".into());
    }
    for k in ["strategy", "approval"] {
        if let Some(v) = get_str(file, rb, path, k)? {
            push(format!("rollback {k}: {v}"));
        }
    }
    if let Some(m) = rb.get("max_minutes_to_pause") {
        let m = m.as_u64().ok_or_else(|| field(file, format!("{path}max_minutes_to_pause"), "must be a whole number"))?;
        push(format!("pause within {m} minutes"));
    }
    for e in strings(file, rb, path, "evidence")? {
        push(format!("rollback evidence: {e}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::is_ident;
    use super::*;

    #[test]
    fn tool_names_become_identifiers() {
        assert_eq!(tool_ident("Jamf Pro"), "jamf");
        assert_eq!(tool_ident("Microsoft Intune"), "intune");
        assert_eq!(tool_ident("GitHub Actions runner image pipeline"), "github-actions-runner-image-pipeline");
        assert!(is_ident(&tool_ident(&"Linux endpoint management ".repeat(10))));
    }

    #[test]
    fn later_files_are_recognised_by_name_and_others_are_not() {
        assert!(post_checksums_kind("bin/x.sig.json").is_some());
        assert!(post_checksums_kind("release-evidence.md").is_some());
        assert_eq!(post_checksums_kind(".sig.json"), None);
        assert_eq!(post_checksums_kind("notes.txt"), None);
        assert_eq!(member_path("bin/a.exe.sig.json"), "other/cavra/bin/a.exe.sig.json");
        assert_eq!(member_path("bin/a.exe"), "artifacts/a.exe");
    }

    #[test]
    fn pinned_key_reads_from_pem_and_rejects_other_shapes() {
        let sk = crate::keys::SecretKey::from_seed(&[7; 32]);
        let der = [ED25519_SPKI_PREFIX.as_slice(), &sk.public().to_bytes()].concat();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let key = CavraKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.fingerprint, Sha256Digest::of(pem.as_bytes()));
        let sig = |subject: &str, bytes: &[u8], value: &[u8]| {
            serde_json::to_vec(&serde_json::json!({
                "schema_version": SIGNATURE_SCHEMA, "algorithm": "Ed25519", "subject": subject,
                "subject_sha256": Sha256Digest::of(bytes).hex(), "public_key_sha256": key.fingerprint.hex(),
                "value": base64::engine::general_purpose::STANDARD.encode(value),
            }))
            .unwrap()
        };
        let good = sig("checksums.txt", b"abc", &sk.sign(b"abc"));
        check_signature(&key, "checksums.txt.sig.json", &good, "checksums.txt", b"abc").unwrap();
        let e = check_signature(&key, "checksums.txt.sig.json", &good, "checksums.txt", b"abd").unwrap_err().to_string();
        assert!(e.starts_with("checksums.txt.sig.json: signs checksums.txt with digest"), "{e}");
        let other = crate::keys::SecretKey::from_seed(&[8; 32]);
        let forged = sig("checksums.txt", b"abd", &other.sign(b"abd"));
        let e = check_signature(&key, "checksums.txt.sig.json", &forged, "checksums.txt", b"abd").unwrap_err().to_string();
        assert!(e.contains("does not verify against the pinned CAVRA key"), "{e}");
        assert!(matches!(CavraKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), Err(CavraError::Key(_))));
    }
}
