//! SLSA provenance v1 (`https://slsa.dev/provenance/v1`): the predicate of an in-toto statement,
//! checked against pins in the manner of slsa-verifier:
//!
//! * `builder.id` — a pin without `@` matches the id up to its first `@` (so a pin names a
//!   builder and accepts any of its tagged versions); a pin with `@` must equal the id exactly;
//! * `buildType` — exact;
//! * source URI and ref — every place the provenance names its source must agree with the pins:
//!   `externalParameters.workflow.{repository,ref}` (GitHub Actions build type),
//!   `externalParameters.buildConfigSource.{repository,ref}`, a string
//!   `externalParameters.source` of the form `git+URI@REF`, and every `resolvedDependencies[].uri`
//!   of that form. URIs are compared without the `git+` prefix. A pinned source that the
//!   provenance never names fails;
//! * external parameters — every top-level key of `externalParameters` must be allowed or
//!   expected by the policy (SLSA "verifying artifacts": reject unrecognised parameters), and an
//!   expected key must be present with exactly the expected JSON value (compared as RFC 8785).

use super::{EvidenceError, Fields, canonical_digest};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Predicate type of SLSA provenance v1.
pub const PREDICATE_V1: &str = "https://slsa.dev/provenance/v1";
/// Predicate type of SLSA provenance v0.2 (older slsa-github-generator releases).
pub const PREDICATE_V02: &str = "https://slsa.dev/provenance/v0.2";

const F: Fields = Fields { format: "SLSA provenance v1" };
const F02: Fields = Fields { format: "SLSA provenance v0.2" };

/// The fields of a v1 predicate that pins look at.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// `buildDefinition.buildType`.
    pub build_type: String,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// `buildDefinition.externalParameters`.
    pub external_parameters: Map<String, Value>,
    /// `buildDefinition.resolvedDependencies[].uri` (v0.2: `materials[].uri`), where present.
    pub dependency_uris: Vec<String>,
    /// v0.2 only: `invocation.configSource.uri` (v1 has no such field: `None`).
    pub config_source: Option<String>,
    /// The predicate type read: [`PREDICATE_V1`] or [`PREDICATE_V02`].
    pub predicate_type: &'static str,
}

/// Refuses a key outside `allowed` (SLSA v0.2's own field set).
fn only(o: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), EvidenceError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(F02.err(format!("unknown field {at}.{k}; SLSA provenance v0.2 allows {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// What a policy pins. `None` pins nothing.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pins {
    /// Builder id (see the module text for `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_id: Option<String>,
    /// Build type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    /// Source repository URI (without `git+`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    /// Source ref, e.g. `refs/heads/main` or `refs/tags/v1.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// Top-level `externalParameters` keys allowed with any value.
    #[serde(default)]
    pub allowed_external_parameters: Vec<String>,
    /// Top-level `externalParameters` keys required with exactly this value.
    #[serde(default)]
    pub expected_external_parameters: BTreeMap<String, Value>,
}

/// One pin that does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinFinding {
    /// Stable reason code.
    pub code: &'static str,
    /// Expected value.
    pub expected: String,
    /// Actual value.
    pub actual: String,
    /// In words.
    pub detail: String,
}

/// Where a provenance names its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceClaim {
    /// Field path.
    pub place: String,
    /// URI without `git+`.
    pub uri: String,
    /// Ref, when the place carries one.
    pub git_ref: Option<String>,
}

impl Provenance {
    /// Reads a v1 predicate (the statement's `predicate` object).
    pub fn from_predicate(p: &Value) -> Result<Self, EvidenceError> {
        let o = F.obj(p, "predicate")?;
        let bd = F.obj(F.req(o, "buildDefinition", "predicate")?, "buildDefinition")?;
        let build_type = F.nonempty_str(bd, "buildType", "buildDefinition")?.to_string();
        let external_parameters = F.obj(F.req(bd, "externalParameters", "buildDefinition")?, "buildDefinition.externalParameters")?.clone();
        if let Some(ip) = F.opt(bd, "internalParameters") {
            F.obj(ip, "buildDefinition.internalParameters")?;
        }
        let mut dependency_uris = Vec::new();
        for (i, d) in F.opt_arr(bd, "resolvedDependencies", "buildDefinition")?.iter().enumerate() {
            let at = format!("buildDefinition.resolvedDependencies[{i}]");
            let dobj = F.obj(d, &at)?;
            if let Some(u) = F.opt_str(dobj, "uri", &at)? {
                dependency_uris.push(u.to_string());
            }
            if let Some(dg) = F.opt(dobj, "digest") {
                for (alg, v) in F.obj(dg, &format!("{at}.digest"))? {
                    v.as_str().ok_or_else(|| F.err(format!("{at}.digest.{alg} must be a string")))?;
                }
            }
        }
        let rd = F.obj(F.req(o, "runDetails", "predicate")?, "runDetails")?;
        let builder = F.obj(F.req(rd, "builder", "runDetails")?, "runDetails.builder")?;
        let builder_id = F.nonempty_str(builder, "id", "runDetails.builder")?.to_string();
        Ok(Provenance { build_type, builder_id, external_parameters, dependency_uris, config_source: None, predicate_type: PREDICATE_V1 })
    }

    /// Reads a predicate of the given type: v1 ([`Self::from_predicate`]) or v0.2
    /// ([`Self::from_predicate_v02`]); `None` for any other type.
    pub fn from_typed(predicate_type: &str, p: &Value) -> Option<Result<Self, EvidenceError>> {
        match predicate_type {
            PREDICATE_V1 => Some(Self::from_predicate(p)),
            PREDICATE_V02 => Some(Self::from_predicate_v02(p)),
            _ => None,
        }
    }

    /// Reads a v0.2 predicate strictly (its own field set; unknown fields refused). Pins map
    /// onto it as slsa-verifier maps them: `builder.id`, `buildType`, `invocation.parameters` as
    /// the external parameters, `invocation.configSource.uri` and `materials[].uri` as sources.
    pub fn from_predicate_v02(p: &Value) -> Result<Self, EvidenceError> {
        let f = &F02;
        let o = f.obj(p, "predicate")?;
        only(o, &["builder", "buildType", "invocation", "buildConfig", "metadata", "materials"], "predicate")?;
        let builder = f.obj(f.req(o, "builder", "predicate")?, "builder")?;
        only(builder, &["id"], "builder")?;
        let builder_id = f.nonempty_str(builder, "id", "builder")?.to_string();
        let build_type = f.nonempty_str(o, "buildType", "predicate")?.to_string();
        let mut external_parameters = Map::new();
        let mut config_source = None;
        if let Some(inv) = f.opt(o, "invocation") {
            let inv = f.obj(inv, "invocation")?;
            only(inv, &["configSource", "parameters", "environment"], "invocation")?;
            if let Some(cs) = f.opt(inv, "configSource") {
                let cs = f.obj(cs, "invocation.configSource")?;
                only(cs, &["uri", "digest", "entryPoint"], "invocation.configSource")?;
                config_source = f.opt_str(cs, "uri", "invocation.configSource")?.map(str::to_string);
                digest_set(f, cs, "invocation.configSource")?;
                f.opt_str(cs, "entryPoint", "invocation.configSource")?;
            }
            if let Some(params) = f.opt(inv, "parameters") {
                external_parameters = f.obj(params, "invocation.parameters")?.clone();
            }
            if let Some(env) = f.opt(inv, "environment") {
                f.obj(env, "invocation.environment")?;
            }
        }
        if let Some(bc) = f.opt(o, "buildConfig") {
            f.obj(bc, "buildConfig")?;
        }
        if let Some(md) = f.opt(o, "metadata") {
            let md = f.obj(md, "metadata")?;
            only(md, &["buildInvocationId", "buildStartedOn", "buildFinishedOn", "completeness", "reproducible"], "metadata")?;
            for k in ["buildInvocationId", "buildStartedOn", "buildFinishedOn"] {
                f.opt_str(md, k, "metadata")?;
            }
            if let Some(c) = f.opt(md, "completeness") {
                let c = f.obj(c, "metadata.completeness")?;
                only(c, &["parameters", "environment", "materials"], "metadata.completeness")?;
                if let Some((k, _)) = c.iter().find(|(_, v)| !v.is_boolean()) {
                    return Err(f.err(format!("metadata.completeness.{k} must be a boolean")));
                }
            }
            if md.get("reproducible").is_some_and(|v| !v.is_boolean()) {
                return Err(f.err("metadata.reproducible must be a boolean"));
            }
        }
        let mut dependency_uris = Vec::new();
        for (i, m) in f.opt_arr(o, "materials", "predicate")?.iter().enumerate() {
            let at = format!("materials[{i}]");
            let mo = f.obj(m, &at)?;
            only(mo, &["uri", "digest"], &at)?;
            if let Some(u) = f.opt_str(mo, "uri", &at)? {
                dependency_uris.push(u.to_string());
            }
            digest_set(f, mo, &at)?;
        }
        Ok(Provenance { build_type, builder_id, external_parameters, dependency_uris, config_source, predicate_type: PREDICATE_V02 })
    }

    /// Every place the provenance names its source.
    pub fn source_claims(&self) -> Vec<SourceClaim> {
        let mut out = Vec::new();
        for key in ["workflow", "buildConfigSource"] {
            if let Some(Value::Object(w)) = self.external_parameters.get(key)
                && let Some(Value::String(repo)) = w.get("repository")
            {
                let git_ref = match w.get("ref") {
                    Some(Value::String(r)) => Some(r.clone()),
                    _ => None,
                };
                out.push(SourceClaim { place: format!("externalParameters.{key}"), uri: strip_git(repo).to_string(), git_ref });
            }
        }
        if let Some(Value::String(s)) = self.external_parameters.get("source")
            && let Some(c) = split_git_uri(s)
        {
            out.push(SourceClaim { place: "externalParameters.source".into(), ..c });
        }
        if let Some(c) = self.config_source.as_deref().and_then(split_git_uri) {
            out.push(SourceClaim { place: "invocation.configSource.uri".into(), ..c });
        }
        let deps = if self.predicate_type == PREDICATE_V02 { "materials" } else { "resolvedDependencies" };
        for (i, u) in self.dependency_uris.iter().enumerate() {
            if let Some(c) = split_git_uri(u) {
                out.push(SourceClaim { place: format!("{deps}[{i}].uri"), ..c });
            }
        }
        out
    }
}

/// An optional `digest` object of string values.
fn digest_set(f: &Fields, o: &Map<String, Value>, at: &str) -> Result<(), EvidenceError> {
    if let Some(dg) = f.opt(o, "digest") {
        for (alg, v) in f.obj(dg, &format!("{at}.digest"))? {
            v.as_str().ok_or_else(|| f.err(format!("{at}.digest.{alg} must be a string")))?;
        }
    }
    Ok(())
}

fn strip_git(u: &str) -> &str {
    u.strip_prefix("git+").unwrap_or(u)
}

/// `git+URI@REF` → claim (`place` left empty).
fn split_git_uri(s: &str) -> Option<SourceClaim> {
    let rest = s.strip_prefix("git+")?;
    let (uri, git_ref) = match rest.rsplit_once('@') {
        // An '@' inside the authority (user@host) is not a ref separator: require it after a '/'.
        Some((u, r)) if u.contains("://") && u.split_once("://").is_some_and(|(_, p)| p.contains('/')) => {
            (u.to_string(), Some(r.to_string()))
        }
        _ => (rest.to_string(), None),
    };
    Some(SourceClaim { place: String::new(), uri, git_ref })
}

fn builder_matches(pin: &str, id: &str) -> bool {
    if pin.contains('@') { pin == id } else { id.split('@').next() == Some(pin) }
}

/// Checks a provenance against pins; returns every pin that does not hold.
pub fn check(p: &Provenance, pins: &Pins) -> Vec<PinFinding> {
    let mut out = Vec::new();
    let f =
        |code, expected: &str, actual: &str, detail: String| PinFinding { code, expected: expected.into(), actual: actual.into(), detail };
    if let Some(pin) = &pins.builder_id
        && !builder_matches(pin, &p.builder_id)
    {
        out.push(f("slsa.builder-id", pin, &p.builder_id, "runDetails.builder.id is not the pinned builder".into()));
    }
    if let Some(pin) = &pins.build_type
        && *pin != p.build_type
    {
        out.push(f("slsa.build-type", pin, &p.build_type, "buildDefinition.buildType is not the pinned build type".into()));
    }
    let claims = p.source_claims();
    if let Some(pin) = &pins.source_uri {
        if claims.is_empty() {
            out.push(f("slsa.source-missing", pin, "(none)", "the provenance names no source repository, but the policy pins one".into()));
        }
        for c in claims.iter().filter(|c| c.uri != strip_git(pin)) {
            out.push(f("slsa.source-uri", strip_git(pin), &c.uri, format!("{} names another source repository", c.place)));
        }
    }
    if let Some(pin) = &pins.source_ref {
        let with_ref: Vec<&SourceClaim> = claims.iter().filter(|c| c.git_ref.is_some()).collect();
        if with_ref.is_empty() {
            out.push(f("slsa.source-missing", pin, "(none)", "the provenance names no source ref, but the policy pins one".into()));
        }
        for c in with_ref {
            let r = c.git_ref.as_deref().unwrap_or_default();
            if r != pin {
                out.push(f("slsa.source-ref", pin, r, format!("{} names another source ref", c.place)));
            }
        }
    }
    for (k, v) in &p.external_parameters {
        match pins.expected_external_parameters.get(k) {
            Some(want) => {
                if canonical_digest(want) != canonical_digest(v) {
                    out.push(f(
                        "slsa.parameter-mismatch",
                        &String::from_utf8_lossy(&crate::json::canonical_value(want)),
                        &String::from_utf8_lossy(&crate::json::canonical_value(v)),
                        format!("externalParameters.{k} differs from the expected value"),
                    ));
                }
            }
            None if pins.allowed_external_parameters.iter().any(|a| a == k) => {}
            None => out.push(f(
                "slsa.unexpected-parameter",
                "(not present)",
                k,
                format!("externalParameters.{k} is neither allowed nor expected by the policy; unrecognised parameters are refused"),
            )),
        }
    }
    for k in pins.expected_external_parameters.keys().filter(|k| !p.external_parameters.contains_key(*k)) {
        out.push(f("slsa.parameter-mismatch", k, "(absent)", format!("externalParameters.{k} is expected but absent")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov() -> Provenance {
        let p = serde_json::json!({
            "buildDefinition": {
                "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": "refs/tags/v1.2.0", "repository": "https://github.com/acme/app", "path": ".github/workflows/release.yml"}},
                "resolvedDependencies": [{"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"gitCommit": "0123456789abcdef"}}]
            },
            "runDetails": {"builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"}}
        });
        Provenance::from_predicate(&p).unwrap()
    }

    fn pins() -> Pins {
        Pins {
            builder_id: Some(
                "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml".into(),
            ),
            build_type: Some("https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1".into()),
            source_uri: Some("git+https://github.com/acme/app".into()),
            source_ref: Some("refs/tags/v1.2.0".into()),
            allowed_external_parameters: vec!["workflow".into()],
            expected_external_parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn pinned_provenance_passes() {
        assert_eq!(check(&prov(), &pins()), vec![]);
        assert_eq!(prov().source_claims().len(), 2);
    }

    #[test]
    fn each_pin_fails_with_its_code() {
        let codes = |p: &Provenance, pins: &Pins| check(p, pins).into_iter().map(|f| f.code).collect::<Vec<_>>();
        let mut p = pins();
        p.builder_id = Some("https://evil.example/builder".into());
        assert_eq!(codes(&prov(), &p), ["slsa.builder-id"]);
        let mut p = pins();
        p.builder_id = Some(format!("{}@refs/tags/v1.0.0", p.builder_id.unwrap()));
        assert_eq!(codes(&prov(), &p), ["slsa.builder-id"]);
        let mut p = pins();
        p.source_ref = Some("refs/heads/main".into());
        assert_eq!(codes(&prov(), &p), ["slsa.source-ref", "slsa.source-ref"]);
        let mut p = pins();
        p.allowed_external_parameters.clear();
        assert_eq!(codes(&prov(), &p), ["slsa.unexpected-parameter"]);
        let mut p = pins();
        p.allowed_external_parameters.clear();
        p.expected_external_parameters.insert("workflow".into(), serde_json::json!({"ref": "refs/tags/v1.2.0"}));
        assert_eq!(codes(&prov(), &p), ["slsa.parameter-mismatch"]);
        let mut pr = prov();
        pr.external_parameters.clear();
        pr.dependency_uris.clear();
        assert_eq!(codes(&pr, &pins()), ["slsa.source-missing", "slsa.source-missing"]);
    }

    /// The shape slsa-github-generator v1.x's generic workflow writes.
    fn v02() -> Value {
        serde_json::json!({
            "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.9.0"},
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
            "invocation": {
                "configSource": {"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}, "entryPoint": ".github/workflows/release.yml"},
                "parameters": {},
                "environment": {"github_event_name": "push", "github_run_id": "1"}
            },
            "metadata": {"buildInvocationId": "1-1", "completeness": {"parameters": true, "environment": false, "materials": false}, "reproducible": false},
            "materials": [{"uri": "git+https://github.com/acme/app@refs/tags/v1.2.0", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}]
        })
    }

    #[test]
    fn v02_reads_strictly_and_takes_the_same_pins() {
        let p = Provenance::from_typed(PREDICATE_V02, &v02()).unwrap().unwrap();
        let mut pins = pins();
        pins.build_type = Some("https://github.com/slsa-framework/slsa-github-generator/generic@v1".into());
        assert_eq!(check(&p, &pins), vec![]);
        let places: Vec<String> = p.source_claims().into_iter().map(|c| c.place).collect();
        assert_eq!(places, ["invocation.configSource.uri", "materials[0].uri"]);
        pins.source_ref = Some("refs/heads/main".into());
        let codes: Vec<&str> = check(&p, &pins).into_iter().map(|f| f.code).collect();
        assert_eq!(codes, ["slsa.source-ref", "slsa.source-ref"]);
        // Its own field set: a v1 field, or an unknown one anywhere, is refused.
        for (at, key) in [("", "runDetails"), ("/invocation", "extra"), ("/metadata", "buildDefinition"), ("/materials/0", "name")] {
            let mut v = v02();
            v.pointer_mut(at).unwrap().as_object_mut().unwrap().insert(key.into(), Value::Null);
            let e = Provenance::from_predicate_v02(&v).unwrap_err();
            assert!(e.to_string().contains(&format!("{key}; SLSA provenance v0.2 allows")), "{e}");
        }
        assert!(Provenance::from_typed("https://slsa.dev/provenance/v0.1", &v02()).is_none());
        // A v1 predicate is not a v0.2 one.
        assert!(Provenance::from_predicate_v02(&serde_json::json!({"buildDefinition": {}, "runDetails": {}})).is_err());
    }

    #[test]
    fn git_uri_split() {
        let c = split_git_uri("git+ssh://git@github.com/acme/app@refs/heads/main").unwrap();
        assert_eq!((c.uri.as_str(), c.git_ref.as_deref()), ("ssh://git@github.com/acme/app", Some("refs/heads/main")));
        let c = split_git_uri("git+ssh://git@github.com").unwrap();
        assert_eq!(c.git_ref, None);
    }
}
