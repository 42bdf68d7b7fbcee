//! VEX: OpenVEX (v0.0.1 and v0.2.0), CycloneDX 1.5 / 1.6 VEX and CSAF 2.0 VEX, reduced to statements
//! (vulnerability, status, products) and merged per vulnerability.
//!
//! Statuses are normalised to the four seed-004 values:
//!
//! | OpenVEX | CycloneDX `analysis.state` | normalised |
//! |---|---|---|
//! | `not_affected`, `fixed` | `not_affected`, `false_positive`, `resolved`, `resolved_with_pedigree` | `not_affected` |
//! | `affected` | `exploitable`, or no `analysis` at all | `affected` |
//! | `under_investigation` | `in_triage` | `under_investigation` |
//!
//! Per vulnerability, the statements that apply to an artifact merge to their common status, or
//! `mixed` when they disagree; the summary over vulnerabilities merges the same way. Timestamps
//! are not used to let one statement override another: disagreement stays visible as `mixed`.

use super::stream::{self, Node, Shape};
use super::{ArtifactRef, EvidenceError, Fields};
use crate::digest::Sha256Digest;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A statement's normalised status, and the merged status of several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No product is affected (including fixed).
    NotAffected,
    /// Under investigation.
    UnderInvestigation,
    /// Statements disagree.
    Mixed,
    /// Affected.
    Affected,
}

impl Status {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Status::NotAffected => "not_affected",
            Status::UnderInvestigation => "under_investigation",
            Status::Mixed => "mixed",
            Status::Affected => "affected",
        }
    }

    /// Severity order used by a policy's maximum: not_affected < under_investigation < mixed < affected.
    pub fn rank(self) -> u8 {
        self as u8
    }

    fn merge(statuses: impl IntoIterator<Item = Status>) -> Option<Status> {
        let mut it = statuses.into_iter();
        let first = it.next()?;
        Some(if it.all(|s| s == first) { first } else { Status::Mixed })
    }
}

/// Which VEX format a statement came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenVEX.
    OpenVex,
    /// CycloneDX VEX.
    CycloneDx,
    /// CSAF 2.0 with `document.category` `csaf_vex`.
    Csaf,
}

/// A product a statement is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Product {
    /// Identifiers: OpenVEX `@id` and `identifiers`, CycloneDX `affects[].ref` and the referenced
    /// component's bom-ref and purl.
    pub ids: Vec<String>,
    /// SHA-256 digests recorded for it.
    pub sha256: Vec<Sha256Digest>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Vulnerability name (e.g. `CVE-2024-1234`).
    pub vulnerability: String,
    /// Normalised status.
    pub status: Status,
    /// Products.
    pub products: Vec<Product>,
}

/// A parsed VEX document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VexDocument {
    /// Format.
    pub format: Format,
    /// Statements in document order: all of them ([`VexDocument::parse`]), or those kept by
    /// [`VexDocument::parse_with`].
    pub statements: Vec<Statement>,
    /// How many statements the document makes.
    pub count: usize,
    /// SHA-256 of the RFC 8785 form of the document.
    pub canonical_digest: Sha256Digest,
}

const OV: Fields = Fields { format: "OpenVEX" };
const CD: Fields = Fields { format: "CycloneDX VEX" };

/// OpenVEX contexts read.
pub const OPENVEX_CONTEXTS: [&str; 2] = ["https://openvex.dev/ns", "https://openvex.dev/ns/v0.2.0"];

impl VexDocument {
    /// Parses OpenVEX or CycloneDX VEX, recognised by `@context` / `bomFormat`.
    pub fn parse(bytes: &[u8]) -> Result<Self, EvidenceError> {
        Self::parse_with(bytes, &mut |_| true)
    }

    /// Parses as [`VexDocument::parse`] does (the same refusals, count and digest), handing
    /// each statement to `keep` as it is read and holding only those it returns `true` for: the
    /// gate merges statements as they come instead of holding 550,000 of them.
    pub fn parse_with(bytes: &[u8], keep: &mut dyn FnMut(&Statement) -> bool) -> Result<Self, EvidenceError> {
        // Strict JSON checked over the bytes, then read member by member: no tree of the whole
        // document (format-spec/evidence-v1.md, "Memory").
        stream::check_strict(bytes).map_err(|source| EvidenceError::Json { format: "VEX", source })?;
        let top = Node::read(bytes, 0..bytes.len(), TOP, "VEX")?;
        let mut statements = Vec::new();
        let mut count = 0;
        let format = statements_of(&top, &mut |s| {
            count += 1;
            if keep(&s) {
                statements.push(s);
            }
        })?;
        Ok(VexDocument { format, statements, count, canonical_digest: stream::canonical_digest(bytes) })
    }

    /// The strict path before streaming: one tree of the whole document, digested as a tree.
    /// The differential tests hold [`VexDocument::parse`] to its answers.
    #[cfg(test)]
    pub(crate) fn parse_tree(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let v = super::parse_json(bytes, "VEX")?;
        let mut statements = Vec::new();
        let format = statements_of(&Node::of(v.clone()), &mut |s| statements.push(s))?;
        Ok(VexDocument { format, count: statements.len(), statements, canonical_digest: super::canonical_digest(&v) })
    }
}

/// What the readers look at in the top-level object (see the SBOM reader's).
const TOP: Shape = Shape {
    stream: &["statements", "components", "vulnerabilities"],
    only: Some(&[
        "@context",
        "@id",
        "author",
        "timestamp",
        "version",
        "statements",
        "bomFormat",
        "specVersion",
        "metadata",
        "components",
        "vulnerabilities",
        "document",
        "product_tree",
    ]),
};

/// OpenVEX, CycloneDX VEX or CSAF VEX, recognised by its top-level members.
fn statements_of(top: &Node, sink: &mut dyn FnMut(Statement)) -> Result<Format, EvidenceError> {
    let o = top
        .value
        .as_object()
        .ok_or_else(|| EvidenceError::Unrecognised { kind: "vex", detail: "the document is not a JSON object".into() })?;
    if o.contains_key("@context") {
        openvex(top, o, sink)?;
        Ok(Format::OpenVex)
    } else if o.contains_key("bomFormat") {
        cyclonedx(top, o, sink)?;
        Ok(Format::CycloneDx)
    } else if o.contains_key("document") && o.contains_key("vulnerabilities") {
        csaf(top, o, sink)?;
        Ok(Format::Csaf)
    } else {
        Err(EvidenceError::Unrecognised {
            kind: "vex",
            detail: "no @context (OpenVEX), bomFormat (CycloneDX VEX) or document and vulnerabilities (CSAF VEX)".into(),
        })
    }
}

fn openvex(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Statement)) -> Result<(), EvidenceError> {
    let f = &OV;
    let ctx = f.str(o, "@context", "document")?;
    if !OPENVEX_CONTEXTS.contains(&ctx) {
        return Err(EvidenceError::UnknownVersion {
            format: "OpenVEX",
            found: ctx.into(),
            supported: "https://openvex.dev/ns and https://openvex.dev/ns/v0.2.0",
        });
    }
    f.nonempty_str(o, "@id", "document")?;
    f.nonempty_str(o, "author", "document")?;
    f.nonempty_str(o, "timestamp", "document")?;
    // v0.2.0 makes version an integer; v0.0.1 documents wrote it as a string of digits.
    let version_ok = match f.req(o, "version", "document")? {
        Value::Number(n) => n.as_u64().is_some(),
        Value::String(s) => ctx == OPENVEX_CONTEXTS[0] && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    if !version_ok {
        return Err(f.err("document.version must be a non-negative integer"));
    }
    f.arr(o, "statements", "document")?;
    let sts = top.each("statements", Shape::WHOLE, "VEX");
    if sts.is_empty() {
        return Err(f.err("document.statements is empty; a VEX document without statements says nothing"));
    }
    for (i, s) in sts.enumerate() {
        let at = format!("statements[{i}]");
        let s = s?;
        let so = f.obj(&s.value, &at)?;
        let vulnerability = match f.req(so, "vulnerability", &at)? {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Object(vo) => f.nonempty_str(vo, "name", &format!("{at}.vulnerability"))?.to_string(),
            _ => return Err(f.err(format!("{at}.vulnerability must be a name string or an object with a name"))),
        };
        let raw = f.str(so, "status", &at)?;
        let status = match raw {
            "not_affected" => {
                if f.opt(so, "justification").is_none() && f.opt(so, "impact_statement").is_none() {
                    return Err(f.err(format!("{at}: status not_affected requires a justification or an impact_statement")));
                }
                Status::NotAffected
            }
            "fixed" => Status::NotAffected,
            "affected" => {
                if f.opt(so, "action_statement").is_none() {
                    return Err(f.err(format!("{at}: status affected requires an action_statement")));
                }
                Status::Affected
            }
            "under_investigation" => Status::UnderInvestigation,
            other => return Err(f.err(format!("{at}.status {other:?} is not not_affected, affected, fixed or under_investigation"))),
        };
        let prods = f.arr(so, "products", &at)?;
        if prods.is_empty() {
            return Err(f.err(format!("{at}.products is empty")));
        }
        let mut products = Vec::new();
        for (j, p) in prods.iter().enumerate() {
            products.push(openvex_product(p, &format!("{at}.products[{j}]"))?);
        }
        sink(Statement { vulnerability, status, products });
    }
    Ok(())
}

fn openvex_product(p: &Value, at: &str) -> Result<Product, EvidenceError> {
    let f = &OV;
    match p {
        Value::String(s) if !s.is_empty() => Ok(Product { ids: vec![s.clone()], sha256: vec![] }),
        Value::Object(po) => {
            let mut prod = Product::default();
            if let Some(id) = f.opt_str(po, "@id", at)? {
                prod.ids.push(id.to_string());
            }
            if let Some(ids) = f.opt(po, "identifiers") {
                for (k, v) in f.obj(ids, &format!("{at}.identifiers"))? {
                    prod.ids.push(v.as_str().ok_or_else(|| f.err(format!("{at}.identifiers.{k} must be a string")))?.to_string());
                }
            }
            if let Some(h) = f.opt(po, "hashes") {
                for (k, v) in f.obj(h, &format!("{at}.hashes"))? {
                    let s = v.as_str().ok_or_else(|| f.err(format!("{at}.hashes.{k} must be a string")))?;
                    if k == "sha-256" {
                        prod.sha256.push(f.sha256_hex(s, &format!("{at}.hashes.sha-256"))?);
                    }
                }
            }
            if prod.ids.is_empty() && prod.sha256.is_empty() {
                return Err(f.err(format!("{at} has no @id, identifiers or hashes")));
            }
            Ok(prod)
        }
        _ => Err(f.err(format!("{at} must be a product object or identifier string"))),
    }
}

fn cyclonedx(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Statement)) -> Result<(), EvidenceError> {
    let f = &CD;
    if f.str(o, "bomFormat", "document")? != "CycloneDX" {
        return Err(f.err("document.bomFormat must be \"CycloneDX\""));
    }
    let sv = f.str(o, "specVersion", "document")?;
    if sv != "1.5" && sv != "1.6" {
        return Err(EvidenceError::UnknownVersion { format: "CycloneDX", found: sv.into(), supported: "CycloneDX 1.5 and 1.6" });
    }
    // Components of this document, so `affects[].ref` can be resolved to hashes and purls.
    // Only components with an identifier can be referenced.
    let mut comps = Vec::new();
    super::sbom::components(top, o, &mut |e| {
        if !e.ids.is_empty() {
            comps.push(e);
        }
    })?;
    f.arr(o, "vulnerabilities", "document")?;
    let vulns = top.each("vulnerabilities", Shape::WHOLE, "VEX");
    if vulns.is_empty() {
        return Err(f.err("document.vulnerabilities is empty; a VEX document without statements says nothing"));
    }
    for (i, v) in vulns.enumerate() {
        let at = format!("vulnerabilities[{i}]");
        let v = v?;
        let vo = f.obj(&v.value, &at)?;
        let vulnerability = f.nonempty_str(vo, "id", &at)?.to_string();
        let status = match f.opt(vo, "analysis") {
            None => Status::Affected,
            Some(a) => {
                let ao = f.obj(a, &format!("{at}.analysis"))?;
                match f.opt_str(ao, "state", &format!("{at}.analysis"))? {
                    None | Some("exploitable") => Status::Affected,
                    Some("not_affected" | "false_positive" | "resolved" | "resolved_with_pedigree") => Status::NotAffected,
                    Some("in_triage") => Status::UnderInvestigation,
                    Some(other) => return Err(f.err(format!("{at}.analysis.state {other:?} is not a CycloneDX impact analysis state"))),
                }
            }
        };
        let affects = f.arr(vo, "affects", &at)?;
        if affects.is_empty() {
            return Err(f.err(format!("{at}.affects is empty")));
        }
        let mut products = Vec::new();
        for (j, a) in affects.iter().enumerate() {
            let aat = format!("{at}.affects[{j}]");
            let r = f.nonempty_str(f.obj(a, &aat)?, "ref", &aat)?;
            let mut prod = Product { ids: vec![r.to_string()], sha256: vec![] };
            for c in comps.iter().filter(|c| c.ids.iter().any(|id| id == r)) {
                prod.ids.extend(c.ids.iter().cloned());
                prod.sha256.extend(c.sha256);
            }
            products.push(prod);
        }
        sink(Statement { vulnerability, status, products });
    }
    Ok(())
}

const CS: Fields = Fields { format: "CSAF VEX" };

/// CSAF 2.0 VEX (`document.category` `csaf_vex`, `csaf_version` `2.0`): each vulnerability
/// (`cve`, else the first `ids[].text`) gives one statement per `product_status` list that names
/// products: `known_affected` → affected, `known_not_affected` / `fixed` / `first_fixed` →
/// not_affected, `under_investigation` → under_investigation (other lists, e.g. `recommended`,
/// are not statuses). Products are resolved through `product_tree` (`full_product_names` and
/// `branches`, recursively): the product id, its `purl` and `cpe`, and the `sha256`
/// `file_hashes`. The VEX profile's MUSTs hold: a known-not-affected product needs an impact
/// statement (a `flags` entry or an `impact` threat naming it), a known-affected one an action
/// statement (a `remediations` entry naming it); a product id the tree does not define is
/// malformed.
fn csaf(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Statement)) -> Result<(), EvidenceError> {
    let f = &CS;
    let doc = f.obj(f.req(o, "document", "csaf")?, "document")?;
    match f.str(doc, "category", "document")? {
        "csaf_vex" => {}
        other => {
            return Err(EvidenceError::UnknownVersion { format: "CSAF document.category", found: other.into(), supported: "csaf_vex" });
        }
    }
    match f.str(doc, "csaf_version", "document")? {
        "2.0" => {}
        other => return Err(EvidenceError::UnknownVersion { format: "CSAF", found: other.into(), supported: "CSAF 2.0" }),
    }
    f.obj(f.req(doc, "publisher", "document")?, "document.publisher")?;
    f.nonempty_str(doc, "title", "document")?;
    let tracking = f.obj(f.req(doc, "tracking", "document")?, "document.tracking")?;
    for k in ["id", "status", "version", "initial_release_date", "current_release_date"] {
        f.nonempty_str(tracking, k, "document.tracking")?;
    }
    // Product id → identifiers and hashes.
    let mut tree: BTreeMap<String, Product> = BTreeMap::new();
    fn product_name(f: &Fields, p: &Value, at: &str, tree: &mut BTreeMap<String, Product>) -> Result<(), EvidenceError> {
        let po = f.obj(p, at)?;
        f.nonempty_str(po, "name", at)?;
        let id = f.nonempty_str(po, "product_id", at)?.to_string();
        let mut prod = Product { ids: vec![id.clone()], sha256: vec![] };
        if let Some(h) = f.opt(po, "product_identification_helper") {
            let hat = format!("{at}.product_identification_helper");
            let ho = f.obj(h, &hat)?;
            for k in ["purl", "cpe"] {
                if let Some(s) = f.opt_str(ho, k, &hat)? {
                    prod.ids.push(s.to_string());
                }
            }
            for (i, fh) in f.opt_arr(ho, "hashes", &hat)?.iter().enumerate() {
                let fat = format!("{hat}.hashes[{i}]");
                for (j, h) in f.arr(f.obj(fh, &fat)?, "file_hashes", &fat)?.iter().enumerate() {
                    let at = format!("{fat}.file_hashes[{j}]");
                    let ho = f.obj(h, &at)?;
                    let value = f.str(ho, "value", &at)?;
                    if f.str(ho, "algorithm", &at)?.eq_ignore_ascii_case("sha256") {
                        prod.sha256.push(f.sha256_hex(&value.to_ascii_lowercase(), &format!("{at}.value"))?);
                    }
                }
            }
        }
        if tree.insert(id.clone(), prod).is_some() {
            return Err(f.err(format!("{at}: product_id {id:?} is defined twice")));
        }
        Ok(())
    }
    fn branches(f: &Fields, list: &[Value], at: &str, tree: &mut BTreeMap<String, Product>) -> Result<(), EvidenceError> {
        for (i, b) in list.iter().enumerate() {
            let bat = format!("{at}[{i}]");
            let bo = f.obj(b, &bat)?;
            if let Some(p) = f.opt(bo, "product") {
                product_name(f, p, &format!("{bat}.product"), tree)?;
            }
            branches(f, f.opt_arr(bo, "branches", &bat)?, &format!("{bat}.branches"), tree)?;
        }
        Ok(())
    }
    if let Some(pt) = f.opt(o, "product_tree") {
        let pto = f.obj(pt, "product_tree")?;
        for (i, p) in f.opt_arr(pto, "full_product_names", "product_tree")?.iter().enumerate() {
            product_name(f, p, &format!("product_tree.full_product_names[{i}]"), &mut tree)?;
        }
        branches(f, f.opt_arr(pto, "branches", "product_tree")?, "product_tree.branches", &mut tree)?;
    }
    f.arr(o, "vulnerabilities", "csaf")?;
    let vulns = top.each("vulnerabilities", Shape::WHOLE, "VEX");
    if vulns.is_empty() {
        return Err(f.err("vulnerabilities is empty; a VEX document without statements says nothing"));
    }
    // Product ids named by a list of objects' `product_ids` (flags, threats, remediations).
    let named = |vo: &Map<String, Value>, key: &str, at: &str, pred: &dyn Fn(&Map<String, Value>) -> bool| {
        let mut out = Vec::new();
        for (i, x) in f.opt_arr(vo, key, at)?.iter().enumerate() {
            let xat = format!("{at}.{key}[{i}]");
            let xo = f.obj(x, &xat)?;
            if pred(xo) {
                for p in f.opt_arr(xo, "product_ids", &xat)? {
                    out.push(p.as_str().ok_or_else(|| f.err(format!("{xat}.product_ids must hold strings")))?.to_string());
                }
            }
        }
        Ok::<Vec<String>, EvidenceError>(out)
    };
    for (i, v) in vulns.enumerate() {
        let at = format!("vulnerabilities[{i}]");
        let v = v?;
        let vo = f.obj(&v.value, &at)?;
        let vulnerability = match f.opt_str(vo, "cve", &at)? {
            Some(c) => c.to_string(),
            None => {
                let ids = f.opt_arr(vo, "ids", &at)?;
                let first = ids.first().ok_or_else(|| f.err(format!("{at} has neither cve nor ids")))?;
                f.nonempty_str(f.obj(first, &format!("{at}.ids[0]"))?, "text", &format!("{at}.ids[0]"))?.to_string()
            }
        };
        let ps = f.obj(f.req(vo, "product_status", &at)?, &format!("{at}.product_status"))?;
        let impact = named(vo, "flags", &at, &|_| true)?;
        let impact_threats = named(vo, "threats", &at, &|t| t.get("category").and_then(Value::as_str) == Some("impact"))?;
        let actions = named(vo, "remediations", &at, &|_| true)?;
        let mut any = false;
        for (list, status) in [
            ("known_affected", Status::Affected),
            ("known_not_affected", Status::NotAffected),
            ("fixed", Status::NotAffected),
            ("first_fixed", Status::NotAffected),
            ("under_investigation", Status::UnderInvestigation),
        ] {
            let lat = format!("{at}.product_status.{list}");
            let ids = f.opt_arr(ps, list, &format!("{at}.product_status"))?;
            if ids.is_empty() {
                continue;
            }
            let mut products = Vec::new();
            for (j, id) in ids.iter().enumerate() {
                let id = id.as_str().ok_or_else(|| f.err(format!("{lat}[{j}] must be a product id string")))?;
                let prod = tree.get(id).ok_or_else(|| f.err(format!("{lat}[{j}] {id:?} is not a product of product_tree")))?;
                let has = |l: &[String]| l.iter().any(|x| x == id);
                if list == "known_not_affected" && !has(&impact) && !has(&impact_threats) {
                    return Err(f.err(format!(
                        "{lat}[{j}] {id:?} has no impact statement (flags or an impact threat); the VEX profile requires one"
                    )));
                }
                if list == "known_affected" && !has(&actions) {
                    return Err(f.err(format!("{lat}[{j}] {id:?} has no action statement (remediations); the VEX profile requires one")));
                }
                products.push(prod.clone());
            }
            any = true;
            sink(Statement { vulnerability: vulnerability.clone(), status, products });
        }
        if !any {
            return Err(
                f.err(format!("{at}.product_status names no product as known_affected, known_not_affected, fixed or under_investigation"))
            );
        }
    }
    Ok(())
}

/// Who a statement is about, relative to one artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A product is this artifact (by digest, or by an identifier an SBOM gives it).
    Artifact,
    /// Its products are other artifacts of the bundle only.
    OtherArtifact,
    /// Its products bind to no artifact of the bundle. Such statements still count (fail closed).
    Unbound,
}

/// The scope of a statement. `ids` maps each bundle artifact path to the identifiers the bundle's
/// SBOMs give it.
pub fn scope(st: &Statement, artifact: &ArtifactRef, all: &[ArtifactRef], ids: &BTreeMap<String, Vec<String>>) -> Scope {
    let binds = |a: &ArtifactRef| {
        let aids = ids.get(&a.path).map(Vec::as_slice).unwrap_or(&[]);
        st.products.iter().any(|p| p.sha256.contains(&a.digest) || p.ids.iter().any(|i| aids.contains(i)))
    };
    if binds(artifact) {
        Scope::Artifact
    } else if all.iter().any(binds) {
        Scope::OtherArtifact
    } else {
        Scope::Unbound
    }
}

/// Merged VEX for one artifact: the seed's `vex` section and what the policy compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// Summary over vulnerabilities (`not_affected` when no statement applies).
    #[serde(rename = "statusSummary")]
    pub summary: Status,
    /// Per vulnerability, sorted by name.
    pub vulnerabilities: Vec<MergedVulnerability>,
}

/// How many vulnerabilities [`Merged::not_cleared`] names (a check's message, not a list).
pub const NOT_CLEARED_LISTED: usize = 20;

/// [`Merged`] built one statement at a time, holding one status per vulnerability (not the
/// statements): merging is "the common status, else `mixed`", which folds.
#[derive(Clone, Debug, Default)]
pub struct Merger {
    per: BTreeMap<String, Status>,
}

impl Merger {
    /// Adds an applicable statement.
    pub fn add(&mut self, s: &Statement) {
        self.put(&s.vulnerability, s.status);
    }

    /// Adds what another merger holds (statements of another document).
    pub fn absorb(&mut self, other: Merger) {
        other.per.iter().for_each(|(v, st)| self.put(v, *st));
    }

    fn put(&mut self, vulnerability: &str, status: Status) {
        match self.per.get_mut(vulnerability) {
            Some(st) => *st = Status::merge([*st, status]).expect("two statuses"),
            None => {
                self.per.insert(vulnerability.to_string(), status);
            }
        }
    }

    /// The merged VEX of the statements added.
    pub fn finish(self) -> Merged {
        let vulnerabilities: Vec<MergedVulnerability> =
            self.per.into_iter().map(|(id, status)| MergedVulnerability { id, status }).collect();
        let summary = Status::merge(vulnerabilities.iter().map(|v| v.status)).unwrap_or(Status::NotAffected);
        Merged { summary, vulnerabilities }
    }
}

/// One vulnerability's merged status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergedVulnerability {
    /// Vulnerability name.
    pub id: String,
    /// Merged status.
    pub status: Status,
}

impl Merged {
    /// The vulnerabilities whose status is not `not_affected`, worst first, in words
    /// (`CVE-2026-1111 affected, CVE-2026-2222 under_investigation`); `None` when all are cleared.
    /// At most [`NOT_CLEARED_LISTED`] are named, then how many more there are.
    pub fn not_cleared(&self) -> Option<String> {
        let mut open: Vec<&MergedVulnerability> = self.vulnerabilities.iter().filter(|v| v.status != Status::NotAffected).collect();
        open.sort_by_key(|v| std::cmp::Reverse(v.status.rank()));
        let named: Vec<String> = open.iter().take(NOT_CLEARED_LISTED).map(|v| format!("{} {}", v.id, v.status.name())).collect();
        let more = open.len().saturating_sub(NOT_CLEARED_LISTED);
        (!open.is_empty()).then(|| if more > 0 { format!("{} and {more} more", named.join(", ")) } else { named.join(", ") })
    }

    /// Merges applicable statements.
    pub fn of<'a>(statements: impl IntoIterator<Item = &'a Statement>) -> Self {
        let mut m = Merger::default();
        statements.into_iter().for_each(|s| m.add(s));
        m.finish()
    }

    /// The worst per-vulnerability status (what a policy maximum is compared with).
    pub fn worst(&self) -> Status {
        self.vulnerabilities.iter().map(|v| v.status).max().unwrap_or(Status::NotAffected)
    }

    /// `mergedDigest`: SHA-256 of the RFC 8785 form of this value (serialised straight from the
    /// type: no tree of half a million vulnerabilities in between).
    pub fn digest(&self) -> Sha256Digest {
        let mut out = Vec::new();
        crate::json::canonical_into(self, &mut out);
        Sha256Digest::of(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENVEX: &str = r#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"sec","timestamp":"2026-01-01T00:00:00Z","version":1,
      "statements":[{"vulnerability":{"name":"CVE-2026-0001"},"products":[{"@id":"pkg:generic/app@1.0.0"}],"status":"not_affected","justification":"vulnerable_code_not_present"},
                    {"vulnerability":{"name":"CVE-2026-0002"},"products":[{"@id":"pkg:generic/app@1.0.0"}],"status":"affected","action_statement":"upgrade"}]}"#;

    #[test]
    fn openvex_merges_per_vulnerability() {
        let d = VexDocument::parse(OPENVEX.as_bytes()).unwrap();
        let m = Merged::of(&d.statements);
        assert_eq!(m.summary, Status::Mixed);
        assert_eq!(m.worst(), Status::Affected);
        let m = Merged::of(&d.statements[..1]);
        assert_eq!((m.summary, m.worst()), (Status::NotAffected, Status::NotAffected));
        assert_eq!(Merged::of(&[]).summary, Status::NotAffected);
        assert_eq!(
            String::from_utf8(crate::json::canonical(&m)).unwrap(),
            r#"{"statusSummary":"not_affected","vulnerabilities":[{"id":"CVE-2026-0001","status":"not_affected"}]}"#
        );
    }

    #[test]
    fn openvex_rules() {
        let no_just = OPENVEX.replace(r#","justification":"vulnerable_code_not_present""#, "");
        assert!(matches!(VexDocument::parse(no_just.as_bytes()), Err(EvidenceError::Schema { .. })));
        let bad_status = OPENVEX.replace(r#""status":"affected""#, r#""status":"exploitable""#);
        assert!(matches!(VexDocument::parse(bad_status.as_bytes()), Err(EvidenceError::Schema { .. })));
        let ctx = OPENVEX.replace("v0.2.0", "v9");
        assert!(matches!(VexDocument::parse(ctx.as_bytes()), Err(EvidenceError::UnknownVersion { .. })));
    }

    #[test]
    fn cyclonedx_states_and_refs() {
        let d = Sha256Digest::of(b"app");
        let doc = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{{"type":"application","name":"app","bom-ref":"app-1","hashes":[{{"alg":"SHA-256","content":"{}"}}]}}],
              "vulnerabilities":[{{"id":"CVE-1","analysis":{{"state":"in_triage"}},"affects":[{{"ref":"app-1"}}]}},{{"id":"CVE-1","affects":[{{"ref":"other"}}]}}]}}"#,
            d.hex()
        );
        let v = VexDocument::parse(doc.as_bytes()).unwrap();
        assert_eq!(v.statements[0].status, Status::UnderInvestigation);
        assert_eq!(v.statements[1].status, Status::Affected);
        let art = ArtifactRef { path: "artifacts/app".into(), digest: d };
        let all = vec![art.clone()];
        let ids = BTreeMap::new();
        assert_eq!(scope(&v.statements[0], &art, &all, &ids), Scope::Artifact);
        assert_eq!(scope(&v.statements[1], &art, &all, &ids), Scope::Unbound);
        assert_eq!(Merged::of(&v.statements).summary, Status::Mixed);
    }

    #[test]
    fn merging_document_by_document_is_merging_all_statements() {
        let statuses = [Status::NotAffected, Status::UnderInvestigation, Status::Affected];
        let mut state = 7u64;
        for _ in 0..200 {
            let mut all = Vec::new();
            for _ in 0..1 + state % 9 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let vulnerability = format!("CVE-{}", (state >> 40) % 3);
                all.push(Statement { vulnerability, status: statuses[((state >> 20) % 3) as usize], products: vec![] });
            }
            let cut = (state >> 50) as usize % (all.len() + 1);
            let (mut first, mut second) = (Merger::default(), Merger::default());
            all[..cut].iter().for_each(|s| first.add(s));
            all[cut..].iter().for_each(|s| second.add(s));
            first.absorb(second);
            let whole = Merged::of(&all);
            assert_eq!(first.finish(), whole);
            // And Merged::of is "the common status, else mixed" per vulnerability.
            for v in &whole.vulnerabilities {
                let mine: Vec<Status> = all.iter().filter(|s| s.vulnerability == v.id).map(|s| s.status).collect();
                let common = if mine.iter().all(|s| *s == mine[0]) { mine[0] } else { Status::Mixed };
                assert_eq!(v.status, common);
            }
        }
    }

    #[test]
    fn merged_digest_is_of_the_canonical_tree_and_the_message_is_bounded() {
        // 40 vulnerabilities, 27 of them not cleared (every third is not_affected).
        let statements: Vec<Statement> = (0..40)
            .map(|i| Statement {
                vulnerability: format!("CVE-2026-{i:04}\u{e9}"),
                status: [Status::Affected, Status::UnderInvestigation, Status::NotAffected][i % 3],
                products: vec![],
            })
            .collect();
        let m = Merged::of(&statements);
        assert_eq!(m.digest(), Sha256Digest::of(&crate::json::canonical(&m)));
        let listed = m.not_cleared().unwrap();
        assert_eq!(listed.matches(", ").count(), NOT_CLEARED_LISTED - 1, "{listed}");
        assert!(listed.starts_with("CVE-2026-0000\u{e9} affected, CVE-2026-0003\u{e9} affected"), "{listed}");
        assert!(listed.ends_with(" under_investigation and 7 more"), "{listed}");
        assert_eq!(
            Merged::of(&statements[..3]).not_cleared().unwrap(),
            "CVE-2026-0000\u{e9} affected, CVE-2026-0001\u{e9} under_investigation"
        );
    }
}
