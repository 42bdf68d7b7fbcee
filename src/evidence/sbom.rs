//! SBOMs: SPDX 2.3 JSON, SPDX 2 tag-value, SPDX 3.0 JSON-LD and CycloneDX 1.2–1.6 JSON and
//! XML ([`super::cyclonedx_xml`]), reduced to what binds
//! them to artifacts: the files, packages and components they list, each with its name,
//! identifiers and SHA-256 (when recorded).
//!
//! An artifact is *covered* by an SBOM when some entry carries a SHA-256 equal to the artifact's
//! digest. An entry with the artifact's file name but another SHA-256 is a digest mismatch (the
//! SBOM describes a different build); with no SHA-256 at all it is not enough (the SBOM must
//! record the digest). The format's own required fields are checked; fields airlock does not
//! use are not.

use super::stream::{self, Node, Shape};
use super::{ArtifactRef, EvidenceError, Fields};
use crate::digest::Sha256Digest;
use serde_json::{Map, Value};

/// Which SBOM format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SPDX 2.3 JSON.
    Spdx23,
    /// SPDX 3.0.x JSON-LD.
    Spdx3,
    /// SPDX 2.2 or 2.3 tag-value (what `spdx-tools` and many scanners write as `.spdx`).
    SpdxTagValue,
    /// CycloneDX 1.2, 1.3 or 1.4, JSON or XML (the same component and hash fields as 1.5).
    CycloneDxLegacy(&'static str),
    /// CycloneDX 1.5, JSON or XML.
    CycloneDx15,
    /// CycloneDX 1.6, JSON or XML.
    CycloneDx16,
}

impl Format {
    /// Family name as seed 004 spells it: `spdx` or `cyclonedx`.
    pub fn family(self) -> &'static str {
        match self {
            Format::Spdx23 | Format::Spdx3 | Format::SpdxTagValue => "spdx",
            Format::CycloneDxLegacy(_) | Format::CycloneDx15 | Format::CycloneDx16 => "cyclonedx",
        }
    }

    /// Exact name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Spdx23 => "SPDX 2.3",
            Format::Spdx3 => "SPDX 3.0",
            Format::SpdxTagValue => "SPDX 2 tag-value",
            Format::CycloneDxLegacy("1.2") => "CycloneDX 1.2",
            Format::CycloneDxLegacy("1.3") => "CycloneDX 1.3",
            Format::CycloneDxLegacy(_) => "CycloneDX 1.4",
            Format::CycloneDx15 => "CycloneDX 1.5",
            Format::CycloneDx16 => "CycloneDX 1.6",
        }
    }
}

/// One file, package or component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Name (SPDX `fileName` / `packageFileName` / `name`, CycloneDX `name`).
    pub name: String,
    /// Identifiers others may reference it by: SPDXID / spdxId, bom-ref, purl.
    pub ids: Vec<String>,
    /// SHA-256, when recorded.
    pub sha256: Option<Sha256Digest>,
}

impl Entry {
    fn file_name(&self) -> &str {
        let n = self.name.trim_end_matches('/');
        n.rsplit('/').next().unwrap_or(n)
    }
}

/// A parsed SBOM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// Format.
    pub format: Format,
    /// Entries in document order: all of them ([`Sbom::parse`]), or those that can bind to given
    /// artifacts ([`Sbom::parse_for`]).
    pub entries: Vec<Entry>,
    /// How many entries the document lists.
    pub count: usize,
    /// SHA-256 of the RFC 8785 form of the whole document (tag-value and CycloneDX XML, which
    /// have no canonical form here: of its bytes).
    pub canonical_digest: Sha256Digest,
}

/// Whether and how an SBOM lists an artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// An entry carries the artifact's digest.
    Listed {
        /// That entry's name.
        name: String,
    },
    /// An entry with the artifact's file name carries another SHA-256.
    DigestMismatch {
        /// Entry name.
        name: String,
        /// The SHA-256 it records.
        recorded: Sha256Digest,
    },
    /// An entry with the artifact's file name records no SHA-256.
    NoDigest {
        /// Entry name.
        name: String,
    },
    /// Nothing in the SBOM names or hashes the artifact.
    Absent,
}

impl Coverage {
    /// Stable reason code when not covered.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Coverage::Listed { .. } => None,
            Coverage::DigestMismatch { .. } => Some("sbom.digest-mismatch"),
            Coverage::NoDigest { .. } => Some("sbom.digest-missing"),
            Coverage::Absent => Some("sbom.artifact-missing"),
        }
    }
}

impl Sbom {
    /// Parses any of the supported formats, recognised by their top-level fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, EvidenceError> {
        Self::read(bytes, &mut |_| true)
    }

    /// Parses as [`Sbom::parse`] does (the same refusals, [`Sbom::count`] and digest), keeping
    /// only the entries that carry an artifact's digest or name its file: all that
    /// [`Sbom::coverage`] and [`Sbom::ids_of`] look at for these artifacts. What the gate holds
    /// of a 1.7-million-component SBOM is then a few entries.
    pub fn parse_for(bytes: &[u8], artifacts: &[ArtifactRef]) -> Result<Self, EvidenceError> {
        Self::read(bytes, &mut |e| artifacts.iter().any(|a| e.sha256 == Some(a.digest) || e.file_name() == a.file_name()))
    }

    fn read(bytes: &[u8], keep: &mut dyn FnMut(&Entry) -> bool) -> Result<Self, EvidenceError> {
        let mut entries = Vec::new();
        let mut count = 0;
        let mut sink = |e: Entry| {
            count += 1;
            if keep(&e) {
                entries.push(e);
            }
        };
        let (format, canonical_digest) = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => {
                let (format, all) = super::cyclonedx_xml::parse(bytes)?;
                all.into_iter().for_each(&mut sink);
                (format, Sha256Digest::of(bytes))
            }
            Some(b'{') | None => {
                // Strict JSON checked over the bytes, then read member by member: no tree of
                // the whole document (format-spec/evidence-v1.md, "Memory").
                stream::check_strict(bytes).map_err(|source| EvidenceError::Json { format: "SBOM", source })?;
                let top = Node::read(bytes, 0..bytes.len(), TOP, "SBOM")?;
                (json_entries(&top, &mut sink)?, stream::canonical_digest(bytes))
            }
            Some(_) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| EvidenceError::Unrecognised { kind: "sbom", detail: "neither JSON nor UTF-8 SPDX tag-value".into() })?;
                spdx_tag_value(text)?.into_iter().for_each(&mut sink);
                (Format::SpdxTagValue, Sha256Digest::of(bytes))
            }
        };
        Ok(Sbom { format, entries, count, canonical_digest })
    }

    /// The strict path before streaming: one tree of the whole document, digested as a tree.
    /// The differential tests hold [`Sbom::parse`] to its answers.
    #[cfg(test)]
    pub(crate) fn parse_tree(bytes: &[u8]) -> Result<Self, EvidenceError> {
        if !matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | None) {
            return Self::parse(bytes);
        }
        let v = super::parse_json(bytes, "SBOM")?;
        let mut entries = Vec::new();
        let format = json_entries(&Node::of(v.clone()), &mut |e| entries.push(e))?;
        Ok(Sbom { format, count: entries.len(), entries, canonical_digest: super::canonical_digest(&v) })
    }

    /// How this SBOM lists `artifact`.
    pub fn coverage(&self, artifact: &ArtifactRef) -> Coverage {
        if let Some(e) = self.entries.iter().find(|e| e.sha256 == Some(artifact.digest)) {
            return Coverage::Listed { name: e.name.clone() };
        }
        let named: Vec<&Entry> = self.entries.iter().filter(|e| e.file_name() == artifact.file_name()).collect();
        if let Some(e) = named.iter().find(|e| e.sha256.is_some()) {
            return Coverage::DigestMismatch { name: e.name.clone(), recorded: e.sha256.expect("checked") };
        }
        match named.first() {
            Some(e) => Coverage::NoDigest { name: e.name.clone() },
            None => Coverage::Absent,
        }
    }

    /// Identifiers of the entries that carry `digest` (for binding VEX products to artifacts).
    pub fn ids_of(&self, digest: &Sha256Digest) -> Vec<String> {
        self.entries.iter().filter(|e| e.sha256.as_ref() == Some(digest)).flat_map(|e| e.ids.iter().cloned()).collect()
    }
}

/// What the JSON readers look at in the top-level object: other members are checked (strict
/// JSON) but never parsed, and the long arrays are read element by element.
const TOP: Shape = Shape {
    stream: &["packages", "files", "@graph", "components"],
    only: Some(&[
        "spdxVersion",
        "SPDXID",
        "dataLicense",
        "name",
        "documentNamespace",
        "creationInfo",
        "packages",
        "files",
        "@context",
        "@graph",
        "bomFormat",
        "specVersion",
        "version",
        "metadata",
        "components",
    ]),
};

/// A CycloneDX component: its nested components read one by one too.
pub(crate) const COMPONENT: Shape = Shape { stream: &["components"], only: None };

/// SPDX or CycloneDX JSON, recognised by its top-level members.
fn json_entries(top: &Node, sink: &mut dyn FnMut(Entry)) -> Result<Format, EvidenceError> {
    let o = top
        .value
        .as_object()
        .ok_or_else(|| EvidenceError::Unrecognised { kind: "sbom", detail: "the document is not a JSON object".into() })?;
    if o.contains_key("spdxVersion") {
        spdx2(top, o, sink)?;
        Ok(Format::Spdx23)
    } else if o.contains_key("@graph") || o.contains_key("@context") {
        spdx3(top, o, sink)?;
        Ok(Format::Spdx3)
    } else if o.contains_key("bomFormat") {
        cyclonedx(top, o, sink)
    } else {
        Err(EvidenceError::Unrecognised {
            kind: "sbom",
            detail: "no spdxVersion (SPDX 2.3), @graph (SPDX 3.0 JSON-LD) or bomFormat (CycloneDX)".into(),
        })
    }
}

const S2: Fields = Fields { format: "SPDX 2.3" };
const S3: Fields = Fields { format: "SPDX 3.0" };
const CD: Fields = Fields { format: "CycloneDX" };

/// One SHA-256 out of a list of (algorithm, value) pairs; two different SHA-256 values refuse.
pub(super) fn one_sha256(
    f: &Fields,
    pairs: Vec<(String, String)>,
    is_sha256: &dyn Fn(&str) -> bool,
    at: &str,
) -> Result<Option<Sha256Digest>, EvidenceError> {
    let mut found: Option<Sha256Digest> = None;
    for (alg, val) in pairs {
        if is_sha256(&alg) {
            let d = f.sha256_hex(&val, &format!("{at} SHA-256 value"))?;
            if found.is_some_and(|x| x != d) {
                return Err(f.err(format!("{at} records two different SHA-256 values")));
            }
            found = Some(d);
        }
    }
    Ok(found)
}

const TV: Fields = Fields { format: "SPDX tag-value" };

/// SPDX 2.2 / 2.3 tag-value: `Tag: value` lines (`#` comments, blank lines, `<text>…</text>`
/// values over several lines). The document header must start with `SPDXVersion` and carry the
/// format's required fields once each; every package needs `SPDXID` and
/// `PackageDownloadLocation`, every file `SPDXID` and a `FileChecksum`. Entries as for SPDX JSON:
/// packages (`PackageFileName` else `PackageName`; ids: SPDXID and `ExternalRef` purls) and
/// files (`FileName`), SHA-256 from `PackageChecksum` / `FileChecksum` `SHA256: <hex>`.
fn spdx_tag_value(text: &str) -> Result<Vec<Entry>, EvidenceError> {
    let f = &TV;
    let mut pairs: Vec<(usize, &str, String)> = Vec::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((tag, value)) = line.split_once(':') else {
            return Err(f.err(format!("line {}: not `Tag: value`", n + 1)));
        };
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(f.err(format!("line {}: {tag:?} is not a tag", n + 1)));
        }
        let mut value = value.trim().to_string();
        if value.starts_with("<text>") && !value.contains("</text>") {
            loop {
                let Some((_, more)) = lines.next() else {
                    return Err(f.err(format!("line {}: <text> of {tag} is never closed", n + 1)));
                };
                value.push('\n');
                value.push_str(more);
                if more.contains("</text>") {
                    break;
                }
            }
        }
        pairs.push((n + 1, tag, value));
    }
    match pairs.first() {
        Some((_, "SPDXVersion", v)) if v == "SPDX-2.3" || v == "SPDX-2.2" => {}
        Some((_, "SPDXVersion", v)) => {
            return Err(EvidenceError::UnknownVersion { format: "SPDX tag-value", found: v.clone(), supported: "SPDX-2.2 and SPDX-2.3" });
        }
        _ => {
            return Err(EvidenceError::Unrecognised {
                kind: "sbom",
                detail: "not JSON, and not SPDX tag-value (no leading SPDXVersion)".into(),
            });
        }
    }
    // The document header: everything before the first package, file, snippet or license.
    let starts = |t: &str| matches!(t, "PackageName" | "FileName" | "SnippetSPDXID" | "LicenseID");
    let header_end = pairs.iter().position(|(_, t, _)| starts(t)).unwrap_or(pairs.len());
    let once = |tag: &str| {
        let found: Vec<&String> = pairs[..header_end].iter().filter(|(_, t, _)| *t == tag).map(|(_, _, v)| v).collect();
        match found.as_slice() {
            [v] if !v.is_empty() => Ok(v.as_str()),
            [] => Err(f.err(format!("the document header has no {tag}"))),
            _ => Err(f.err(format!("the document header gives {tag} {} times", found.len()))),
        }
    };
    if once("DataLicense")? != "CC0-1.0" {
        return Err(f.err("DataLicense must be CC0-1.0"));
    }
    if once("SPDXID")? != "SPDXRef-DOCUMENT" {
        return Err(f.err("the document's SPDXID must be SPDXRef-DOCUMENT"));
    }
    once("DocumentName")?;
    once("DocumentNamespace")?;
    once("Created")?;
    if !pairs[..header_end].iter().any(|(_, t, _)| *t == "Creator") {
        return Err(f.err("the document header has no Creator"));
    }
    // Each package or file: its tags up to the next start tag.
    let mut out = Vec::new();
    let mut i = header_end;
    while i < pairs.len() {
        let (line, kind, first) = &pairs[i];
        let end = pairs[i + 1..].iter().position(|(_, t, _)| starts(t)).map_or(pairs.len(), |p| i + 1 + p);
        let body = &pairs[i + 1..end];
        let at = format!("{kind} {first:?} (line {line})");
        let get = |tag: &str| body.iter().find(|(_, t, _)| *t == tag).map(|(_, _, v)| v.as_str());
        let checksums = |tag: &str| -> Vec<(String, String)> {
            body.iter()
                .filter(|(_, t, _)| *t == tag)
                .map(|(_, _, v)| match v.split_once(':') {
                    Some((a, h)) => (a.trim().to_string(), h.trim().to_string()),
                    None => (v.clone(), String::new()),
                })
                .collect()
        };
        match *kind {
            "PackageName" | "FileName" => {
                let id = get("SPDXID").ok_or_else(|| f.err(format!("{at} has no SPDXID")))?;
                let mut ids = vec![id.to_string()];
                let (name, sums) = if *kind == "PackageName" {
                    get("PackageDownloadLocation").ok_or_else(|| f.err(format!("{at} has no PackageDownloadLocation")))?;
                    for (_, _, v) in body.iter().filter(|(_, t, _)| *t == "ExternalRef") {
                        let parts: Vec<&str> = v.split_whitespace().collect();
                        if let ["PACKAGE-MANAGER" | "PACKAGE_MANAGER", "purl", purl] = parts.as_slice() {
                            ids.push(purl.to_string());
                        }
                    }
                    (get("PackageFileName").unwrap_or(first).to_string(), checksums("PackageChecksum"))
                } else {
                    let sums = checksums("FileChecksum");
                    if sums.is_empty() {
                        return Err(f.err(format!("{at} has no FileChecksum")));
                    }
                    (first.clone(), sums)
                };
                let sha256 = one_sha256(f, sums, &|a| a == "SHA256", &at)?;
                out.push(Entry { name, ids, sha256 });
            }
            _ => {}
        }
        i = end;
    }
    Ok(out)
}

fn spdx2(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Entry)) -> Result<(), EvidenceError> {
    let f = &S2;
    let ver = f.str(o, "spdxVersion", "document")?;
    if ver != "SPDX-2.3" {
        return Err(EvidenceError::UnknownVersion { format: "SPDX", found: ver.into(), supported: "SPDX-2.3 JSON, SPDX 3.0 JSON-LD" });
    }
    if f.str(o, "SPDXID", "document")? != "SPDXRef-DOCUMENT" {
        return Err(f.err("document.SPDXID must be \"SPDXRef-DOCUMENT\""));
    }
    if f.str(o, "dataLicense", "document")? != "CC0-1.0" {
        return Err(f.err("document.dataLicense must be \"CC0-1.0\""));
    }
    f.nonempty_str(o, "name", "document")?;
    f.nonempty_str(o, "documentNamespace", "document")?;
    let ci = f.obj(f.req(o, "creationInfo", "document")?, "creationInfo")?;
    f.nonempty_str(ci, "created", "creationInfo")?;
    let creators = f.arr(ci, "creators", "creationInfo")?;
    if creators.is_empty() || creators.iter().any(|c| !c.is_string()) {
        return Err(f.err("creationInfo.creators must be a non-empty array of strings"));
    }
    let checksums = |e: &Map<String, Value>, at: &str, required: bool| -> Result<Option<Sha256Digest>, EvidenceError> {
        if required {
            f.arr(e, "checksums", at)?;
        }
        let mut pairs = Vec::new();
        for (i, c) in f.opt_arr(e, "checksums", at)?.iter().enumerate() {
            let cat = format!("{at}.checksums[{i}]");
            let co = f.obj(c, &cat)?;
            pairs.push((f.str(co, "algorithm", &cat)?.to_string(), f.str(co, "checksumValue", &cat)?.to_string()));
        }
        one_sha256(f, pairs, &|a| a == "SHA256", at)
    };
    f.opt_arr(o, "packages", "document")?;
    for (i, p) in top.each("packages", Shape::WHOLE, "SBOM").enumerate() {
        let at = format!("packages[{i}]");
        let p = p?;
        let po = f.obj(&p.value, &at)?;
        let id = f.nonempty_str(po, "SPDXID", &at)?.to_string();
        let name = f.nonempty_str(po, "name", &at)?;
        f.str(po, "downloadLocation", &at)?;
        let sha256 = checksums(po, &at, false)?;
        let mut ids = vec![id];
        for (j, r) in f.opt_arr(po, "externalRefs", &at)?.iter().enumerate() {
            let rat = format!("{at}.externalRefs[{j}]");
            let ro = f.obj(r, &rat)?;
            if f.str(ro, "referenceType", &rat)? == "purl" {
                ids.push(f.str(ro, "referenceLocator", &rat)?.to_string());
            }
        }
        let name = f.opt_str(po, "packageFileName", &at)?.unwrap_or(name).to_string();
        sink(Entry { name, ids, sha256 });
    }
    f.opt_arr(o, "files", "document")?;
    for (i, x) in top.each("files", Shape::WHOLE, "SBOM").enumerate() {
        let at = format!("files[{i}]");
        let x = x?;
        let fo = f.obj(&x.value, &at)?;
        let id = f.nonempty_str(fo, "SPDXID", &at)?.to_string();
        let name = f.nonempty_str(fo, "fileName", &at)?.to_string();
        let sha256 = checksums(fo, &at, true)?;
        sink(Entry { name, ids: vec![id], sha256 });
    }
    Ok(())
}

/// JSON-LD contexts of the SPDX 3.0 releases.
pub const SPDX3_CONTEXTS: [&str; 2] = ["https://spdx.org/rdf/3.0.0/spdx-context.jsonld", "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"];

fn spdx3(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Entry)) -> Result<(), EvidenceError> {
    let f = &S3;
    let ctx = f.str(o, "@context", "document")?;
    if !SPDX3_CONTEXTS.contains(&ctx) {
        return Err(EvidenceError::UnknownVersion {
            format: "SPDX JSON-LD context",
            found: ctx.into(),
            supported: "SPDX 3.0.0 and 3.0.1 contexts",
        });
    }
    f.arr(o, "@graph", "document")?;
    let mut saw_creation = false;
    let mut saw_document = false;
    for (i, el) in top.each("@graph", Shape::WHOLE, "SBOM").enumerate() {
        let at = format!("@graph[{i}]");
        let el = el?;
        let eo = f.obj(&el.value, &at)?;
        let t = f.nonempty_str(eo, "type", &at)?;
        match t {
            "CreationInfo" => {
                let sv = f.str(eo, "specVersion", &at)?;
                if !sv.starts_with("3.0.") {
                    return Err(EvidenceError::UnknownVersion { format: "SPDX", found: sv.into(), supported: "SPDX 3.0.x" });
                }
                f.nonempty_str(eo, "created", &at)?;
                saw_creation = true;
            }
            "SpdxDocument" => saw_document = true,
            "software_File" | "software_Package" => {
                let name = f.nonempty_str(eo, "name", &at)?;
                let id = f.nonempty_str(eo, "spdxId", &at)?.to_string();
                let mut pairs = Vec::new();
                for (j, h) in f.opt_arr(eo, "verifiedUsing", &at)?.iter().enumerate() {
                    let hat = format!("{at}.verifiedUsing[{j}]");
                    let ho = f.obj(h, &hat)?;
                    if f.str(ho, "type", &hat)? == "Hash" {
                        pairs.push((f.str(ho, "algorithm", &hat)?.to_string(), f.str(ho, "hashValue", &hat)?.to_string()));
                    }
                }
                let sha256 = one_sha256(f, pairs, &|a| a == "sha256", &at)?;
                let mut ids = vec![id];
                if let Some(purl) = f.opt_str(eo, "software_packageUrl", &at)? {
                    ids.push(purl.to_string());
                }
                let name = f.opt_str(eo, "software_packageFileName", &at)?.unwrap_or(name).to_string();
                sink(Entry { name, ids, sha256 });
            }
            _ => {}
        }
    }
    if !saw_creation || !saw_document {
        return Err(f.err("@graph must hold a CreationInfo (specVersion 3.0.x) and an SpdxDocument"));
    }
    Ok(())
}

fn cyclonedx(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Entry)) -> Result<Format, EvidenceError> {
    let f = &CD;
    if f.str(o, "bomFormat", "document")? != "CycloneDX" {
        return Err(f.err("document.bomFormat must be \"CycloneDX\""));
    }
    let format = match f.str(o, "specVersion", "document")? {
        "1.2" => Format::CycloneDxLegacy("1.2"),
        "1.3" => Format::CycloneDxLegacy("1.3"),
        "1.4" => Format::CycloneDxLegacy("1.4"),
        "1.5" => Format::CycloneDx15,
        "1.6" => Format::CycloneDx16,
        other => {
            return Err(EvidenceError::UnknownVersion { format: "CycloneDX", found: other.into(), supported: "CycloneDX 1.2 to 1.6 JSON" });
        }
    };
    if let Some(v) = f.opt(o, "version")
        && v.as_u64().is_none_or(|n| n < 1)
    {
        return Err(f.err("document.version must be an integer >= 1"));
    }
    components(top, o, sink)?;
    Ok(format)
}

/// A CycloneDX document's `metadata.component` and `components`, in that order (the VEX
/// reader resolves `affects` against them too).
pub(crate) fn components(top: &Node, o: &Map<String, Value>, sink: &mut dyn FnMut(Entry)) -> Result<(), EvidenceError> {
    let f = &CD;
    if let Some(m) = f.opt(o, "metadata")
        && let Some(c) = f.opt(f.obj(m, "metadata")?, "component")
    {
        component(&Node::of(c.clone()), "metadata.component", sink)?;
    }
    f.opt_arr(o, "components", "document")?;
    for (i, c) in top.each("components", COMPONENT, "SBOM").enumerate() {
        component(&c?, &format!("components[{i}]"), sink)?;
    }
    Ok(())
}

/// A CycloneDX component (and its nested components) into entries.
fn component(c: &Node, at: &str, sink: &mut dyn FnMut(Entry)) -> Result<(), EvidenceError> {
    let f = &CD;
    let co = f.obj(&c.value, at)?;
    f.nonempty_str(co, "type", at)?;
    let name = f.nonempty_str(co, "name", at)?.to_string();
    let mut ids = Vec::new();
    for key in ["bom-ref", "purl"] {
        if let Some(s) = f.opt_str(co, key, at)? {
            ids.push(s.to_string());
        }
    }
    let mut pairs = Vec::new();
    for (j, h) in f.opt_arr(co, "hashes", at)?.iter().enumerate() {
        let hat = format!("{at}.hashes[{j}]");
        let ho = f.obj(h, &hat)?;
        // CycloneDX allows uppercase hex; digests are compared lowercase.
        pairs.push((f.str(ho, "alg", &hat)?.to_string(), f.str(ho, "content", &hat)?.to_ascii_lowercase()));
    }
    let sha256 = one_sha256(f, pairs, &|a| a == "SHA-256", at)?;
    sink(Entry { name, ids, sha256 });
    f.opt_arr(co, "components", at)?;
    for (i, n) in c.each("components", COMPONENT, "SBOM").enumerate() {
        component(&n?, &format!("{at}.components[{i}]"), sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_tag_value_reads_strictly() {
        let a = Sha256Digest::of(b"a").hex();
        let doc = format!(
            "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\nSPDXID: SPDXRef-DOCUMENT\nDocumentName: d\nDocumentNamespace: https://e/x\n\
             Creator: Tool: t\nCreated: 2026-01-01T00:00:00Z\nDocumentComment: <text>two\nlines</text>\n\n\
             FileName: ./dist/a\nSPDXID: SPDXRef-File-a\nFileChecksum: SHA256: {a}\n"
        );
        let s = Sbom::parse(doc.as_bytes()).unwrap();
        assert_eq!((s.format, s.entries.len()), (Format::SpdxTagValue, 1));
        assert_eq!(s.entries[0].sha256, Some(Sha256Digest::of(b"a")));
        let refused = |d: String| Sbom::parse(d.as_bytes()).unwrap_err();
        assert!(matches!(refused(doc.replace("SPDX-2.3", "SPDX-2.1")), EvidenceError::UnknownVersion { .. }));
        assert!(matches!(refused(doc.replace("Created:", "Createdd:")), EvidenceError::Schema { .. }));
        assert!(matches!(refused(doc.replace("FileChecksum", "FileComment")), EvidenceError::Schema { .. }));
        assert!(matches!(refused(doc.replace("lines</text>", "lines")), EvidenceError::Schema { .. }));
        assert!(matches!(refused(doc.replace("SPDXID: SPDXRef-File-a\n", "")), EvidenceError::Schema { .. }));
        assert!(matches!(refused(format!("{doc}FileChecksum: SHA256: {}\n", Sha256Digest::of(b"b").hex())), EvidenceError::Schema { .. }));
        assert!(matches!(refused("<bom/>".into()), EvidenceError::Unrecognised { .. }));
    }

    fn art(bytes: &[u8]) -> ArtifactRef {
        ArtifactRef { path: "artifacts/app".into(), digest: Sha256Digest::of(bytes) }
    }

    #[test]
    fn cyclonedx_coverage_kinds() {
        let d = Sha256Digest::of(b"app").hex();
        let doc = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[{{"type":"application","name":"app","hashes":[{{"alg":"SHA-256","content":"{}"}}]}}]}}"#,
            d.to_uppercase()
        );
        let s = Sbom::parse(doc.as_bytes()).unwrap();
        assert_eq!(s.format.family(), "cyclonedx");
        assert!(matches!(s.coverage(&art(b"app")), Coverage::Listed { .. }));
        assert!(matches!(s.coverage(&art(b"other")), Coverage::DigestMismatch { .. }));
        let nohash = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"application","name":"app"}]}"#;
        assert_eq!(Sbom::parse(nohash.as_bytes()).unwrap().coverage(&art(b"app")).code(), Some("sbom.digest-missing"));
        let old = r#"{"bomFormat":"CycloneDX","specVersion":"1.4","components":[]}"#;
        assert_eq!(Sbom::parse(old.as_bytes()).unwrap().format.name(), "CycloneDX 1.4");
        let older = r#"{"bomFormat":"CycloneDX","specVersion":"1.1","components":[]}"#;
        assert!(matches!(Sbom::parse(older.as_bytes()), Err(EvidenceError::UnknownVersion { .. })));
    }

    #[test]
    fn spdx2_requires_its_fields() {
        let missing = br#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","dataLicense":"CC0-1.0","name":"x"}"#;
        assert!(matches!(Sbom::parse(missing), Err(EvidenceError::Schema { .. })));
        let v22 = br#"{"spdxVersion":"SPDX-2.2"}"#;
        assert!(matches!(Sbom::parse(v22), Err(EvidenceError::UnknownVersion { .. })));
        assert!(matches!(Sbom::parse(br#"{"a":1}"#), Err(EvidenceError::Unrecognised { .. })));
    }
}
