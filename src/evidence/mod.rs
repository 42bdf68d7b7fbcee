//! Evidence semantics (sans-I/O): the documents a bundle carries about its artifacts, each parsed
//! strictly (through [`crate::json`]) and bound to the bundle's artifacts by SHA-256 digest.
//! Normative text: `format-spec/evidence-v1.md`.
//!
//! * [`intoto`] — in-toto Statement v1 inside DSSE; every subject must be a bundle artifact;
//!   in-toto layouts and links (v0.9 metadata inside DSSE) for the `inToto` gate section;
//! * [`slsa`] — SLSA provenance v1 predicates checked against pins, slsa-verifier style;
//! * [`sbom`] — SPDX 2.3 JSON and 2 tag-value, SPDX 3.0 JSON-LD, CycloneDX 1.2–1.6 JSON and XML;
//! * [`vex`] — OpenVEX and CycloneDX VEX, merged per vulnerability;
//! * [`minisign`] — detached minisign / signify signatures.
//!
//! Nothing here decides allow or deny: parsers return values or an [`EvidenceError`], binders
//! return what matched; [`crate::gate`] turns them into checks and a decision.

mod cyclonedx_xml;
pub mod intoto;
pub mod minisign;
pub mod sbom;
pub mod slsa;
mod stream;
pub mod vex;

use crate::bundle::Kind;
use crate::bundle::manifest::Manifest;
use crate::digest::Sha256Digest;
use crate::dsse::DsseError;
use crate::json::JsonError;
use serde_json::{Map, Value};

/// Largest evidence document read into memory.
pub const MAX_EVIDENCE_SIZE: u64 = 64 << 20;

/// An evidence document that cannot be read as what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Not strict JSON (duplicate keys, huge integers, bad grammar).
    #[error("{format}: not strict JSON: {source}")]
    Json {
        /// The format being read.
        format: &'static str,
        /// The strict-parser error.
        source: JsonError,
    },
    /// Not well-formed XML, or XML airlock refuses to read: a DOCTYPE (DTD, entities), nesting
    /// or node count beyond the bounds, more than the evidence size limit.
    #[error("{format}: {detail}")]
    Xml {
        /// The format being read.
        format: &'static str,
        /// What is wrong, and what to try.
        detail: String,
    },
    /// A DSSE envelope that cannot be parsed.
    #[error("DSSE envelope: {0}")]
    Dsse(#[from] DsseError),
    /// A DSSE payloadType other than the one the format requires.
    #[error("DSSE payloadType is {found:?}; {expected:?} expected")]
    PayloadType {
        /// Found.
        found: String,
        /// Expected.
        expected: &'static str,
    },
    /// A version or type this binary does not read.
    #[error("{format} version {found:?} is not supported; airlock reads {supported}")]
    UnknownVersion {
        /// The format.
        format: &'static str,
        /// The version or type found.
        found: String,
        /// What is read.
        supported: &'static str,
    },
    /// A required field absent, of the wrong type, or with a value the format forbids.
    #[error("{format}: {detail}")]
    Schema {
        /// The format.
        format: &'static str,
        /// Field and rule, expected vs found.
        detail: String,
    },
    /// The document is none of the formats this member kind may hold.
    #[error("not a recognised {kind} document: {detail}")]
    Unrecognised {
        /// Member kind.
        kind: &'static str,
        /// What was looked for.
        detail: String,
    },
}

impl EvidenceError {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::Json { .. } | EvidenceError::Xml { .. } | EvidenceError::Dsse(_) | EvidenceError::Schema { .. } => {
                "evidence.malformed"
            }
            EvidenceError::PayloadType { .. } => "evidence.payload-type",
            EvidenceError::UnknownVersion { .. } => "evidence.unknown-version",
            EvidenceError::Unrecognised { .. } => "evidence.unrecognised",
        }
    }
}

/// One artifact of the bundle: a member of kind `artifact`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArtifactRef {
    /// Member path.
    pub path: String,
    /// Its SHA-256 (from the verified manifest).
    pub digest: Sha256Digest,
}

impl ArtifactRef {
    /// The file name: the path after its last `/`.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The bundle's artifacts, the only things evidence may bind to.
#[derive(Clone, Debug, Default)]
pub struct Artifacts(pub Vec<ArtifactRef>);

impl Artifacts {
    /// Members of kind `artifact` of a (verified) manifest.
    pub fn of(manifest: &Manifest) -> Self {
        Artifacts(
            manifest
                .members
                .iter()
                .filter(|m| m.kind == Kind::Artifact)
                .map(|m| ArtifactRef { path: m.path.clone(), digest: m.digest })
                .collect(),
        )
    }

    /// Artifacts with this digest (identical files may appear under several paths).
    pub fn with_digest(&self, d: &Sha256Digest) -> Vec<&ArtifactRef> {
        self.0.iter().filter(|a| a.digest == *d).collect()
    }

    /// The artifact at `path`.
    pub fn get(&self, path: &str) -> Option<&ArtifactRef> {
        self.0.iter().find(|a| a.path == path)
    }
}

/// Strict parse for an evidence format.
pub(crate) fn parse_json(bytes: &[u8], format: &'static str) -> Result<Value, EvidenceError> {
    crate::json::parse_strict(bytes).map_err(|source| EvidenceError::Json { format, source })
}

/// Field access with format-named errors.
pub(crate) struct Fields {
    pub format: &'static str,
}

impl Fields {
    pub fn err(&self, detail: impl Into<String>) -> EvidenceError {
        EvidenceError::Schema { format: self.format, detail: detail.into() }
    }

    pub fn obj<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, EvidenceError> {
        v.as_object().ok_or_else(|| self.err(format!("{at} must be an object, found {}", type_name(v))))
    }

    pub fn opt<'v>(&self, o: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        o.get(key).filter(|v| !v.is_null())
    }

    pub fn req<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v Value, EvidenceError> {
        self.opt(o, key).ok_or_else(|| self.err(format!("{at}.{key} is required")))
    }

    pub fn str<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v str, EvidenceError> {
        let v = self.req(o, key, at)?;
        v.as_str().ok_or_else(|| self.err(format!("{at}.{key} must be a string, found {}", type_name(v))))
    }

    pub fn nonempty_str<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v str, EvidenceError> {
        let s = self.str(o, key, at)?;
        if s.is_empty() {
            return Err(self.err(format!("{at}.{key} must not be empty")));
        }
        Ok(s)
    }

    pub fn opt_str<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<Option<&'v str>, EvidenceError> {
        match self.opt(o, key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.err(format!("{at}.{key} must be a string, found {}", type_name(v)))),
        }
    }

    pub fn arr<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v Vec<Value>, EvidenceError> {
        let v = self.req(o, key, at)?;
        v.as_array().ok_or_else(|| self.err(format!("{at}.{key} must be an array, found {}", type_name(v))))
    }

    pub fn opt_arr<'v>(&self, o: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v [Value], EvidenceError> {
        match self.opt(o, key) {
            None => Ok(&[]),
            Some(v) => {
                v.as_array().map(Vec::as_slice).ok_or_else(|| self.err(format!("{at}.{key} must be an array, found {}", type_name(v))))
            }
        }
    }

    /// A lowercase 64-hex SHA-256 value.
    pub fn sha256_hex(&self, s: &str, at: &str) -> Result<Sha256Digest, EvidenceError> {
        Sha256Digest::from_hex(s).map_err(|_| self.err(format!("{at} must be 64 lowercase hex characters, found {:?}", short(s))))
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn short(s: &str) -> String {
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s.to_string() }
}

/// SHA-256 of the RFC 8785 form of a strictly parsed document: the same value for every byte
/// representation of the same JSON (whitespace, key order, escapes).
pub fn canonical_digest(v: &Value) -> Sha256Digest {
    Sha256Digest::of(&crate::json::canonical_value(v))
}
