//! in-toto documents inside DSSE (payloadType `application/vnd.in-toto+json`):
//!
//! * **Statement v1** (`https://in-toto.io/Statement/v1`, in-toto/attestation `spec/v1`) and
//!   **v0.1** (`https://in-toto.io/Statement/v0.1`, the same four fields): a
//!   non-empty `subject` list of resource descriptors, a `predicateType` and a `predicate`.
//!   airlock binds a statement to the bundle: every subject must carry a `sha256` digest equal to
//!   the digest of an `artifact` member. Zero subjects, or any subject that matches nothing,
//!   fails: an attestation about something else proves nothing about this bundle.
//! * **Layout and link** (in-toto v0.9 metadata, `_type` `layout` / `link`): the supply-chain
//!   layout and the functionaries' signed step records, as python in-toto writes them with
//!   `use_dsse`. airlock checks the layout's expiry and that every step has links signed by at
//!   least `threshold` distinct functionary keys the layout authorises; artifact rules and
//!   inspections are not evaluated (see `format-spec/evidence-v1.md`).

use super::{ArtifactRef, Artifacts, EvidenceError, Fields, parse_json};
use crate::digest::Sha256Digest;
use crate::dsse::Envelope;
use crate::keys::PublicKey;
use crate::signed::{self, Parsed, ReadError, Signatures};
use crate::time::Timestamp;
use crate::trust::role::RoleKeys;
use serde_json::Value;
use std::collections::BTreeMap;

/// DSSE payloadType of every in-toto document.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of a v1 statement.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of a v0.1 statement (older in-toto and slsa-github-generator releases): the same
/// four fields as v1, subjects identified by digests.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// What [`Statement`] reads, in words.
const STATEMENT_VERSIONS: &str = "Statement v1 (https://in-toto.io/Statement/v1) and v0.1 (https://in-toto.io/Statement/v0.1)";

const F: Fields = Fields { format: "in-toto Statement" };

/// One subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `name`, when given.
    pub name: Option<String>,
    /// The `sha256` digest, when given.
    pub sha256: Option<Sha256Digest>,
}

/// A parsed statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// `_type`: [`STATEMENT_V1`] or [`STATEMENT_V01`].
    pub statement_type: &'static str,
    /// Subjects in document order.
    pub subjects: Vec<Subject>,
    /// `predicateType`.
    pub predicate_type: String,
    /// `predicate` (an object; `{}` when absent).
    pub predicate: Value,
}

impl Statement {
    /// Parses statement bytes (the DSSE payload).
    pub fn parse(payload: &[u8]) -> Result<Self, EvidenceError> {
        Self::from_value(&parse_json(payload, F.format)?)
    }

    fn from_value(v: &Value) -> Result<Self, EvidenceError> {
        let o = F.obj(v, "statement")?;
        let statement_type = match F.str(o, "_type", "statement")? {
            STATEMENT_V1 => STATEMENT_V1,
            STATEMENT_V01 => STATEMENT_V01,
            t => return Err(EvidenceError::UnknownVersion { format: "in-toto Statement", found: t.into(), supported: STATEMENT_VERSIONS }),
        };
        // v0.1 and v1 have the same four top-level fields.
        if let Some(k) = o.keys().find(|k| !["_type", "subject", "predicateType", "predicate"].contains(&k.as_str())) {
            return Err(F.err(format!("unknown top-level field {k:?}; a statement has _type, subject, predicateType, predicate")));
        }
        let mut subjects = Vec::new();
        for (i, s) in F.arr(o, "subject", "statement")?.iter().enumerate() {
            let at = format!("subject[{i}]");
            let so = F.obj(s, &at)?;
            let name = F.opt_str(so, "name", &at)?.map(str::to_string);
            let digests = F.obj(F.req(so, "digest", &at)?, &format!("{at}.digest"))?;
            if digests.is_empty() {
                return Err(F.err(format!("{at}.digest is empty; a subject is identified by its digests")));
            }
            let mut sha256 = None;
            for (alg, val) in digests {
                let val = val.as_str().ok_or_else(|| F.err(format!("{at}.digest.{alg} must be a string")))?;
                if alg == "sha256" {
                    sha256 = Some(F.sha256_hex(val, &format!("{at}.digest.sha256"))?);
                }
            }
            subjects.push(Subject { name, sha256 });
        }
        let predicate_type = F.nonempty_str(o, "predicateType", "statement")?.to_string();
        let predicate = match F.opt(o, "predicate") {
            None => Value::Object(Default::default()),
            Some(p) => {
                F.obj(p, "predicate")?;
                p.clone()
            }
        };
        Ok(Statement { statement_type, subjects, predicate_type, predicate })
    }
}

/// Why a statement does not bind to the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindError {
    /// `subject` is empty.
    NoSubject,
    /// A subject has no sha256 or its sha256 is no artifact's digest.
    Unbound {
        /// Index in `subject`.
        index: usize,
        /// Its name.
        name: Option<String>,
        /// Its sha256, if any.
        sha256: Option<Sha256Digest>,
    },
}

impl BindError {
    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            BindError::NoSubject => "attestation.no-subject",
            BindError::Unbound { .. } => "attestation.subject-unbound",
        }
    }

    /// In words.
    pub fn detail(&self) -> String {
        match self {
            BindError::NoSubject => "the statement has no subjects; an attestation about nothing proves nothing".into(),
            BindError::Unbound { index, name, sha256: None } => {
                format!(
                    "subject[{index}] ({}) has no sha256 digest and cannot be bound to an artifact",
                    name.as_deref().unwrap_or("unnamed")
                )
            }
            BindError::Unbound { index, name, sha256: Some(d) } => {
                format!("subject[{index}] ({}) digest {d} is the digest of no artifact in the bundle", name.as_deref().unwrap_or("unnamed"))
            }
        }
    }
}

/// Binds every subject to bundle artifacts; returns the artifacts matched (sorted, deduplicated).
pub fn bind<'a>(st: &Statement, artifacts: &'a Artifacts) -> Result<Vec<&'a ArtifactRef>, BindError> {
    if st.subjects.is_empty() {
        return Err(BindError::NoSubject);
    }
    let mut out = Vec::new();
    for (index, s) in st.subjects.iter().enumerate() {
        let matched = s.sha256.as_ref().map(|d| artifacts.with_digest(d)).unwrap_or_default();
        if matched.is_empty() {
            return Err(BindError::Unbound { index, name: s.name.clone(), sha256: s.sha256 });
        }
        out.extend(matched);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What an in-toto payload is.
#[derive(Clone, Debug)]
pub enum Document {
    /// An attestation.
    Statement(Statement),
    /// A v0.9 layout.
    Layout(Layout),
    /// A v0.9 link.
    Link(Link),
}

/// Parses an in-toto payload: a v1 or v0.1 statement, a v0.9 layout or a link.
pub fn parse_document(payload: &[u8]) -> Result<Document, EvidenceError> {
    let v = parse_json(payload, "in-toto payload")?;
    let t = v.get("_type").and_then(Value::as_str).unwrap_or("");
    Ok(match t {
        STATEMENT_V1 | STATEMENT_V01 => Document::Statement(Statement::from_value(&v)?),
        "layout" => Document::Layout(Layout::from_value(&v)?),
        "link" => Document::Link(Link::from_value(&v)?),
        other => {
            return Err(EvidenceError::UnknownVersion {
                format: "in-toto document",
                found: other.into(),
                supported: "Statement v1 and v0.1 (https://in-toto.io/Statement/v1, .../v0.1), layout and link (v0.9)",
            });
        }
    })
}

/// Reads a DSSE envelope holding an in-toto document; no signature is checked yet: choose the
/// role by the document's kind, then [`Parsed::verify`] (the one signed-document opener).
pub fn read(envelope_bytes: &[u8]) -> Result<Parsed<Document>, EvidenceError> {
    signed::read(envelope_bytes, PAYLOAD_TYPE, parse_document).map_err(|e| match e {
        ReadError::Envelope(e) => EvidenceError::Dsse(e),
        ReadError::PayloadType { found, .. } => EvidenceError::PayloadType { found, expected: PAYLOAD_TYPE },
        ReadError::Payload(e) => e,
    })
}

/// The name ending of a JSON Lines member: one DSSE envelope per line (what slsa-github-generator
/// and `cosign attest` write as `.intoto.jsonl`).
pub const JSONL_SUFFIX: &str = ".jsonl";

/// Splits a JSON Lines member into its envelopes' bytes (line number from 1, bytes without the
/// line feed). One final line feed is optional; an empty line elsewhere, or no line at all, is
/// malformed (strictly one envelope per line).
pub fn split_jsonl(bytes: &[u8]) -> Result<Vec<(usize, &[u8])>, EvidenceError> {
    let f = Fields { format: "in-toto JSON Lines" };
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Err(f.err("the member holds no envelope; one DSSE envelope per line expected"));
    }
    let mut out = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(f.err(format!("line {} is empty; one DSSE envelope per line, no blank lines", i + 1)));
        }
        out.push((i + 1, line));
    }
    Ok(out)
}

const L: Fields = Fields { format: "in-toto layout" };
const K: Fields = Fields { format: "in-toto link" };

/// One layout step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Step name.
    pub name: String,
    /// Distinct functionaries whose links are required.
    pub threshold: usize,
    /// Authorised functionary key ids.
    pub pubkeys: Vec<String>,
}

/// A v0.9 layout: the parts airlock checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `expires`.
    pub expires: Timestamp,
    /// Functionary keys by key id (Ed25519 only; the key id is recomputed and must agree).
    pub keys: BTreeMap<String, PublicKey>,
    /// Steps.
    pub steps: Vec<Step>,
}

impl Layout {
    fn from_value(v: &Value) -> Result<Self, EvidenceError> {
        let o = L.obj(v, "layout")?;
        let expires_s = L.str(o, "expires", "layout")?;
        let expires =
            Timestamp::parse(expires_s).map_err(|_| L.err(format!("layout.expires {expires_s:?} is not YYYY-MM-DDTHH:MM:SSZ")))?;
        let mut keys = BTreeMap::new();
        for (id, k) in L.obj(L.req(o, "keys", "layout")?, "layout.keys")? {
            let at = format!("layout.keys.{id}");
            let ko = L.obj(k, &at)?;
            let (kt, sc) = (L.str(ko, "keytype", &at)?, L.str(ko, "scheme", &at)?);
            if kt != "ed25519" || sc != "ed25519" {
                return Err(L.err(format!("{at}: keytype {kt:?} / scheme {sc:?}; airlock verifies ed25519 functionaries only")));
            }
            let public = L.str(L.obj(L.req(ko, "keyval", &at)?, &format!("{at}.keyval"))?, "public", &format!("{at}.keyval"))?;
            let mut raw = [0u8; 32];
            hex::decode_to_slice(public, &mut raw).map_err(|_| L.err(format!("{at}.keyval.public is not 32 bytes of hex")))?;
            let pk = PublicKey::from_bytes(&raw).map_err(|e| L.err(format!("{at}: {e}")))?;
            if pk.keyid().hex() != *id {
                return Err(L.err(format!("{at}: the key's id is {}, not {id}", pk.keyid())));
            }
            keys.insert(id.clone(), pk);
        }
        let mut steps = Vec::new();
        for (i, s) in L.arr(o, "steps", "layout")?.iter().enumerate() {
            let at = format!("layout.steps[{i}]");
            let so = L.obj(s, &at)?;
            let name = L.nonempty_str(so, "name", &at)?.to_string();
            let threshold = match L.opt(so, "threshold") {
                None => 1,
                Some(t) => t.as_u64().filter(|t| *t >= 1).ok_or_else(|| L.err(format!("{at}.threshold must be an integer >= 1")))? as usize,
            };
            let mut pubkeys = Vec::new();
            for (j, k) in L.opt_arr(so, "pubkeys", &at)?.iter().enumerate() {
                let k = k.as_str().ok_or_else(|| L.err(format!("{at}.pubkeys[{j}] must be a string")))?;
                if !keys.contains_key(k) {
                    return Err(L.err(format!("{at}.pubkeys[{j}] {k:?} is not in layout.keys")));
                }
                pubkeys.push(k.to_string());
            }
            if steps.iter().any(|x: &Step| x.name == name) {
                return Err(L.err(format!("{at}: step name {name:?} appears twice")));
            }
            steps.push(Step { name, threshold, pubkeys });
        }
        if steps.is_empty() {
            return Err(L.err("layout.steps is empty; a layout without steps constrains nothing"));
        }
        Ok(Layout { expires, keys, steps })
    }
}

/// A v0.9 link: the parts airlock checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Step name.
    pub name: String,
    /// Products: path → sha256 (when recorded).
    pub products: BTreeMap<String, Option<Sha256Digest>>,
}

impl Link {
    fn from_value(v: &Value) -> Result<Self, EvidenceError> {
        let o = K.obj(v, "link")?;
        let name = K.nonempty_str(o, "name", "link")?.to_string();
        let mut products = BTreeMap::new();
        if let Some(p) = K.opt(o, "products") {
            for (path, ds) in K.obj(p, "link.products")? {
                let at = format!("link.products.{path}");
                let d = match K.opt(K.obj(ds, &at)?, "sha256") {
                    None => None,
                    Some(h) => Some(
                        K.sha256_hex(h.as_str().ok_or_else(|| K.err(format!("{at}.sha256 must be a string")))?, &format!("{at}.sha256"))?,
                    ),
                };
                products.insert(path.clone(), d);
            }
        }
        Ok(Link { name, products })
    }
}

/// A problem with a layout and its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFinding {
    /// Stable reason code.
    pub code: &'static str,
    /// In words.
    pub detail: String,
}

/// Checks links against a layout: expiry at `now`, every link names a step, every step has links
/// signed by at least `threshold` distinct functionary keys it authorises, and some link's
/// products include `artifact`. Returns every problem found (empty = chain holds).
pub fn check_chain(layout: &Layout, links: &[(&Envelope, &Link)], artifact: &ArtifactRef, now: Timestamp) -> Vec<ChainFinding> {
    let mut out = Vec::new();
    if now >= layout.expires {
        out.push(ChainFinding {
            code: "intoto.layout-expired",
            detail: format!("layout expired at {}, evaluated at {now}", layout.expires),
        });
    }
    for (_, l) in links {
        if !layout.steps.iter().any(|s| s.name == l.name) {
            out.push(ChainFinding {
                code: "intoto.unknown-step",
                detail: format!("link for step {:?}, which the layout does not define", l.name),
            });
        }
    }
    for step in &layout.steps {
        let keys = RoleKeys::ed25519(step.pubkeys.iter().filter_map(|k| layout.keys.get(k).cloned()), step.threshold);
        let mut signers = std::collections::BTreeSet::new();
        for (env, _) in links.iter().filter(|(_, l)| l.name == step.name) {
            // One link's signatures under the signature-fate policy; an altered one counts nothing.
            let sigs = Signatures::check(env, &keys);
            if !sigs.tampered() {
                signers.extend(sigs.signers().iter().copied());
            }
        }
        if signers.len() < step.threshold {
            out.push(ChainFinding {
                code: "intoto.step-threshold",
                detail: format!(
                    "step {:?}: links signed by {} distinct authorised functionaries, {} required",
                    step.name,
                    signers.len(),
                    step.threshold
                ),
            });
        }
    }
    let produced = links.iter().any(|(_, l)| l.products.values().any(|d| d.as_ref() == Some(&artifact.digest)));
    if !produced {
        out.push(ChainFinding {
            code: "intoto.product-unbound",
            detail: format!("no link lists a product with the digest of {} ({})", artifact.path, artifact.digest),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arts() -> Artifacts {
        Artifacts(vec![ArtifactRef { path: "artifacts/a".into(), digest: Sha256Digest::of(b"a") }])
    }

    fn stmt(subjects: &str) -> Vec<u8> {
        format!(r#"{{"_type":"{STATEMENT_V1}","subject":{subjects},"predicateType":"https://example.com/p","predicate":{{}}}}"#)
            .into_bytes()
    }

    #[test]
    fn binds_by_digest_only() {
        let a = Sha256Digest::of(b"a").hex();
        let st = Statement::parse(&stmt(&format!(r#"[{{"name":"anything","digest":{{"sha256":"{a}","sha512":"00"}}}}]"#))).unwrap();
        assert_eq!(bind(&st, &arts()).unwrap().len(), 1);
        let st = Statement::parse(&stmt("[]")).unwrap();
        assert_eq!(bind(&st, &arts()).unwrap_err().code(), "attestation.no-subject");
        let other = Sha256Digest::of(b"b").hex();
        let st = Statement::parse(&stmt(&format!(r#"[{{"digest":{{"sha256":"{a}"}}}},{{"digest":{{"sha256":"{other}"}}}}]"#))).unwrap();
        assert!(matches!(bind(&st, &arts()), Err(BindError::Unbound { index: 1, .. })));
        let st = Statement::parse(&stmt(r#"[{"digest":{"sha512":"00"}}]"#)).unwrap();
        assert!(matches!(bind(&st, &arts()), Err(BindError::Unbound { index: 0, sha256: None, .. })));
    }

    #[test]
    fn jsonl_one_envelope_per_line() {
        let lines = split_jsonl(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(lines, vec![(1, &b"{\"a\":1}"[..]), (2, &b"{\"b\":2}"[..])]);
        assert_eq!(split_jsonl(b"{}").unwrap().len(), 1);
        for bad in [&b""[..], b"\n", b"{}\n\n{}", b"{}\n\n", b"{}\n \n{}"] {
            assert!(matches!(split_jsonl(bad), Err(EvidenceError::Schema { .. })), "{bad:?}");
        }
    }

    #[test]
    fn reads_v01_with_the_same_field_set() {
        let a = Sha256Digest::of(b"a").hex();
        let v01 = format!(r#"{{"_type":"{STATEMENT_V01}","subject":[{{"name":"a","digest":{{"sha256":"{a}"}}}}],"predicateType":"x"}}"#);
        let st = Statement::parse(v01.as_bytes()).unwrap();
        assert_eq!((st.statement_type, bind(&st, &arts()).unwrap().len()), (STATEMENT_V01, 1));
        let extra = v01.replacen('{', r#"{"predicateVersion":"1","#, 1);
        assert!(matches!(Statement::parse(extra.as_bytes()), Err(EvidenceError::Schema { .. })));
    }

    #[test]
    fn refuses_other_versions_and_shapes() {
        let v02 = br#"{"_type":"https://in-toto.io/Statement/v0.2","subject":[],"predicateType":"x"}"#;
        assert!(matches!(Statement::parse(v02), Err(EvidenceError::UnknownVersion { .. })));
        let upper = stmt(&format!(r#"[{{"digest":{{"sha256":"{}"}}}}]"#, Sha256Digest::of(b"a").hex().to_uppercase()));
        assert!(matches!(Statement::parse(&upper), Err(EvidenceError::Schema { .. })));
        let extra = format!(r#"{{"_type":"{STATEMENT_V1}","subject":[],"predicateType":"p","extra":1}}"#);
        assert!(matches!(Statement::parse(extra.as_bytes()), Err(EvidenceError::Schema { .. })));
        let dup = format!(r#"{{"_type":"{STATEMENT_V1}","subject":[],"predicateType":"p","predicateType":"q"}}"#);
        assert!(matches!(Statement::parse(dup.as_bytes()), Err(EvidenceError::Json { .. })));
    }
}
