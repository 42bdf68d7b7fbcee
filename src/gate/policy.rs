//! The gate policy: a strict JSON document (`format-spec/schemas/gate-policy-v1.schema.json`),
//! or the same document written in TOML. Unknown fields are refused, so a misspelt rule never
//! silently relaxes the gate.

use crate::digest::Sha256Digest;
use crate::evidence::slsa::Pins;
use crate::evidence::vex::Status;
use crate::json::{self, JsonError};
use crate::trust::role::RoleName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `schema` of a v1 policy.
pub const POLICY_SCHEMA: &str = "airlock/gate-policy/v1";

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not strict JSON or not the v1 shape.
    #[error("gate policy is not a valid {POLICY_SCHEMA} document: {0}")]
    Json(#[from] JsonError),
    /// `schema` names another version.
    #[error("gate policy schema {0:?} is not supported; this airlock reads {POLICY_SCHEMA:?}")]
    Schema(String),
    /// A value the rules forbid.
    #[error("gate policy: {0}")]
    Invalid(String),
}

/// Evidence kinds a policy can require for the gated artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// An SBOM listing the artifact with its digest.
    Sbom,
    /// SLSA provenance whose subject is the artifact.
    Provenance,
    /// Another in-toto attestation whose subject is the artifact.
    Attestation,
    /// At least one VEX document.
    Vex,
    /// An in-toto layout and links producing the artifact.
    InToto,
}

impl EvidenceKind {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Sbom => "sbom",
            EvidenceKind::Provenance => "provenance",
            EvidenceKind::Attestation => "attestation",
            EvidenceKind::Vex => "vex",
            EvidenceKind::InToto => "in-toto",
        }
    }
}

/// Which role signs a class of evidence, and how many of its keys must.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerRule {
    /// Trust-root role name (`[a-z][a-z0-9-]{0,31}`, checked when the policy is read).
    pub role: RoleName,
    /// Distinct keys of that role required (>= 1).
    pub threshold: usize,
    /// Evidence packed as a Sigstore bundle (`*.sigstore.json`) is accepted from this keyless
    /// identity instead of the role's keys (gate-v1 §4.3; absent: Sigstore bundles are denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<SigstoreSigner>,
}

/// A keyless Sigstore signer: the Fulcio certificate's SAN (exact or regular expression) and
/// OIDC issuer, as `airlock sigstore verify` takes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigstoreSigner {
    /// The SAN, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// A regular expression the SAN must match (unanchored, as cosign's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_regexp: Option<String>,
    /// The OIDC issuer, exact.
    pub issuer: String,
}

impl SigstoreSigner {
    /// The verification policy; `None` unless exactly one identity form is given (a policy read
    /// by [`Policy::parse`] always has one).
    pub fn policy(&self) -> Option<crate::sigstore::Policy> {
        let identity = match (&self.identity, &self.identity_regexp) {
            (Some(i), None) => crate::sigstore::Identity::Exact(i.clone()),
            (None, Some(r)) => crate::sigstore::Identity::Regexp(r.clone()),
            _ => return None,
        };
        Some(crate::sigstore::Policy::Keyless { identity, issuer: self.issuer.clone(), extensions: Vec::new() })
    }
}

/// Signer rules per evidence class; each defaults as documented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signers {
    /// The bundle manifest (default: role `release`, 1).
    #[serde(default = "d_manifest")]
    pub manifest: SignerRule,
    /// Provenance envelopes (default: role `builder`, 1).
    #[serde(default = "d_provenance")]
    pub provenance: SignerRule,
    /// Other attestation envelopes (default: role `attestor`, 1).
    #[serde(default = "d_attestation")]
    pub attestation: SignerRule,
    /// in-toto layouts (default: role `layout-owner`, 1).
    #[serde(default = "d_layout")]
    pub layout: SignerRule,
}

fn rule(role: &str) -> SignerRule {
    SignerRule { role: RoleName::parse(role).expect("default role names are valid"), threshold: 1, sigstore: None }
}
fn d_manifest() -> SignerRule {
    SignerRule { role: RoleName::RELEASE, threshold: 1, sigstore: None }
}
fn d_provenance() -> SignerRule {
    rule("builder")
}
fn d_attestation() -> SignerRule {
    rule("attestor")
}
fn d_layout() -> SignerRule {
    rule("layout-owner")
}

impl Default for Signers {
    fn default() -> Self {
        Signers { manifest: d_manifest(), provenance: d_provenance(), attestation: d_attestation(), layout: d_layout() }
    }
}

/// SBOM rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SbomRules {
    /// Require every artifact of the bundle, not only the gated one, to be listed with its digest.
    #[serde(default)]
    pub cover_all_artifacts: bool,
}

/// VEX rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VexRules {
    /// The worst per-vulnerability status allowed
    /// (not_affected < under_investigation < mixed < affected).
    pub max_status: Status,
}

/// Transparency rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransparencyRules {
    /// A verified inclusion proof is required (default true).
    #[serde(default = "yes")]
    pub required: bool,
    /// Oldest acceptable proof, in seconds before the evaluation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_proof_age_seconds: Option<u64>,
}

impl Default for TransparencyRules {
    fn default() -> Self {
        TransparencyRules { required: true, max_proof_age_seconds: None }
    }
}

/// Break-glass rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BreakGlassRules {
    /// Whether a signed break-glass may override missing or unverifiable transparency (default true).
    #[serde(default = "yes")]
    pub allowed: bool,
    /// Longest validity (expiresAt − issuedAt) accepted, seconds (default 86400).
    #[serde(default = "day")]
    pub max_validity_seconds: u64,
}

impl Default for BreakGlassRules {
    fn default() -> Self {
        BreakGlassRules { allowed: true, max_validity_seconds: day() }
    }
}

fn yes() -> bool {
    true
}
fn day() -> u64 {
    86_400
}

/// A v1 gate policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Always [`POLICY_SCHEMA`].
    pub schema: String,
    /// The artifact member to gate, when the bundle holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Evidence kinds required for the gated artifact.
    #[serde(default)]
    pub required_evidence: Vec<EvidenceKind>,
    /// Signer roles and thresholds.
    #[serde(default)]
    pub signers: Signers,
    /// SLSA provenance pins (checked on every provenance of the gated artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slsa: Option<Pins>,
    /// SBOM rules.
    #[serde(default)]
    pub sbom: SbomRules,
    /// VEX rules (absent: no limit on VEX status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vex: Option<VexRules>,
    /// Transparency rules.
    #[serde(default)]
    pub transparency: TransparencyRules,
    /// Break-glass rules.
    #[serde(default)]
    pub break_glass: BreakGlassRules,
}

/// A parsed policy and its digest.
#[derive(Clone, Debug)]
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// SHA-256 of the RFC 8785 form of the policy document as written (formatting-independent).
    pub digest: Sha256Digest,
}

impl Policy {
    /// Parses policy bytes strictly.
    pub fn parse(bytes: &[u8]) -> Result<LoadedPolicy, PolicyError> {
        let v = json::parse_strict(bytes)?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(POLICY_SCHEMA) => {}
            Some(other) => return Err(PolicyError::Schema(other.into())),
            None => return Err(PolicyError::Schema("(absent)".into())),
        }
        let digest = Sha256Digest::of(&json::canonical_value(&v));
        let policy: Policy = serde_json::from_value(v).map_err(|e| PolicyError::Json(JsonError::Schema(e.to_string())))?;
        policy.validate()?;
        Ok(LoadedPolicy { policy, digest })
    }

    /// Parses a policy written in TOML: the same document as the JSON form (same field names,
    /// same rules), read through the strict JSON layer, so the digest of a TOML policy equals the
    /// digest of the JSON policy with the same content. TOML itself refuses duplicate keys;
    /// datetimes are refused (no field is a date).
    pub fn parse_toml(bytes: &[u8]) -> Result<LoadedPolicy, PolicyError> {
        let text = std::str::from_utf8(bytes).map_err(|e| PolicyError::Invalid(format!("TOML policy is not UTF-8: {e}")))?;
        let t: toml::Table = toml::from_str(text).map_err(|e| PolicyError::Invalid(format!("TOML policy does not parse: {e}")))?;
        // Refused by name before conversion: JSON has no datetime, and a NaN or infinity would
        // become `null` (read as an absent field) on the way.
        let mut stack: Vec<(String, &toml::Value)> = t.iter().map(|(k, v)| (k.clone(), v)).collect();
        while let Some((at, v)) = stack.pop() {
            match v {
                toml::Value::Datetime(d) => {
                    return Err(PolicyError::Invalid(format!("TOML policy: {at} = {d} is a datetime; no policy field is a date")));
                }
                toml::Value::Float(f) if !f.is_finite() => {
                    return Err(PolicyError::Invalid(format!("TOML policy: {at} = {f} is not a finite number")));
                }
                toml::Value::Array(a) => stack.extend(a.iter().enumerate().map(|(i, v)| (format!("{at}[{i}]"), v))),
                toml::Value::Table(t) => stack.extend(t.iter().map(|(k, v)| (format!("{at}.{k}"), v))),
                _ => {}
            }
        }
        let v = serde_json::to_value(&t).map_err(|e| PolicyError::Invalid(format!("TOML policy: {e}")))?;
        let json = serde_json::to_vec(&v).map_err(|e| PolicyError::Invalid(format!("TOML policy: {e}")))?;
        Self::parse(&json)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let s = &self.signers;
        for (what, r) in [("manifest", &s.manifest), ("provenance", &s.provenance), ("attestation", &s.attestation), ("layout", &s.layout)]
        {
            if r.threshold == 0 {
                return Err(PolicyError::Invalid(format!("signers.{what}.threshold must be at least 1")));
            }
            if let Some(sg) = &r.sigstore {
                if sg.identity.is_some() == sg.identity_regexp.is_some() {
                    return Err(PolicyError::Invalid(format!("signers.{what}.sigstore needs exactly one of identity, identityRegexp")));
                }
                if let Some(re) = &sg.identity_regexp {
                    crate::sigstore::verify::check_regexp(re)
                        .map_err(|e| PolicyError::Invalid(format!("signers.{what}.sigstore.identityRegexp: {e}")))?;
                }
            }
        }
        let mut seen = BTreeMap::new();
        for k in &self.required_evidence {
            if seen.insert(*k, ()).is_some() {
                return Err(PolicyError::Invalid(format!("requiredEvidence lists {:?} twice", k.name())));
            }
        }
        if self.break_glass.max_validity_seconds == 0 {
            return Err(PolicyError::Invalid("breakGlass.maxValiditySeconds must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_policy_defaults_fail_closed() {
        let p = Policy::parse(br#"{"schema":"airlock/gate-policy/v1"}"#).unwrap();
        assert!(p.policy.transparency.required);
        assert_eq!(p.policy.signers.manifest.role, RoleName::RELEASE);
        // The digest does not depend on formatting.
        let q = Policy::parse(b"{ \"schema\" : \"airlock/gate-policy/v1\" }\n").unwrap();
        assert_eq!(p.digest, q.digest);
    }

    #[test]
    fn toml_reads_like_json_with_the_same_digest() {
        let json = br#"{"schema":"airlock/gate-policy/v1","requiredEvidence":["sbom","provenance"],
            "transparency":{"required":true,"maxProofAgeSeconds":86400},"breakGlass":{"maxValiditySeconds":3600}}"#;
        let toml = br#"
schema = "airlock/gate-policy/v1"
requiredEvidence = ["sbom", "provenance"]

[transparency]
required = true
maxProofAgeSeconds = 86400

[breakGlass]
maxValiditySeconds = 3600
"#;
        let (j, t) = (Policy::parse(json).unwrap(), Policy::parse_toml(toml).unwrap());
        assert_eq!(j.policy, t.policy);
        assert_eq!(j.digest, t.digest);
        for bad in [
            "schema = \"airlock/gate-policy/v1\"\nrequiredEvidnce = []\n",
            "schema = \"airlock/gate-policy/v1\"\nschema = \"airlock/gate-policy/v1\"\n",
            "schema = \"airlock/gate-policy/v1\"\n[transparency]\nmaxProofAgeSeconds = 1979-05-27T07:32:00Z\n",
            "schema = \"airlock/gate-policy/v1\"\n[transparency]\nmaxProofAgeSeconds = 9007199254740993\n",
            "schema = \"airlock/gate-policy/v2\"\n",
        ] {
            assert!(Policy::parse_toml(bad.as_bytes()).is_err(), "{bad}");
        }
        // Named, wherever they are: a NaN or infinity would otherwise read as an absent field.
        for (bad, named) in [
            ("[transparency]\nmaxProofAgeSeconds = nan\n", "transparency.maxProofAgeSeconds = NaN is not a finite number"),
            ("[transparency]\nmaxProofAgeSeconds = inf\n", "transparency.maxProofAgeSeconds = inf is not a finite number"),
            ("[transparency]\nmaxProofAgeSeconds = -inf\n", "is not a finite number"),
            ("requiredEvidence = [1979-05-27]\n", "requiredEvidence[0] = 1979-05-27 is a datetime"),
        ] {
            let doc = format!("schema = \"airlock/gate-policy/v1\"\n{bad}");
            match Policy::parse_toml(doc.as_bytes()) {
                Err(PolicyError::Invalid(m)) => assert!(m.contains(named), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(Policy::parse(br#"{"schema":"airlock/gate-policy/v2"}"#), Err(PolicyError::Schema(_))));
        assert!(matches!(Policy::parse(br#"{"schema":"airlock/gate-policy/v1","requiredEvidnce":[]}"#), Err(PolicyError::Json(_))));
        assert!(matches!(Policy::parse(br#"{"schema":"airlock/gate-policy/v1","vex":{"maxStatus":"fine"}}"#), Err(PolicyError::Json(_))));
        assert!(matches!(
            Policy::parse(br#"{"schema":"airlock/gate-policy/v1","signers":{"manifest":{"role":"r","threshold":0}}}"#),
            Err(PolicyError::Invalid(_))
        ));
        assert!(matches!(
            Policy::parse(br#"{"schema":"airlock/gate-policy/v1","requiredEvidence":["sbom","sbom"]}"#),
            Err(PolicyError::Invalid(_))
        ));
        // A role name the trust-root format could never define.
        for bad in ["", "Builder", "build_er"] {
            let doc = format!(r#"{{"schema":"airlock/gate-policy/v1","signers":{{"provenance":{{"role":"{bad}","threshold":1}}}}}}"#);
            let e = Policy::parse(doc.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("role name"), "{e}");
        }
    }
}
