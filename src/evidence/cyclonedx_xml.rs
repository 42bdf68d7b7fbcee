//! CycloneDX 1.2–1.6 XML SBOMs, read into the same entries as the JSON form
//! ([`super::sbom::Sbom::parse`] dispatches here on a leading `<`).
//!
//! Strict where XML is dangerous or ambiguous: a DOCTYPE is refused before parsing (no DTD, no
//! entities: no billion laughs, no XXE), element nesting is bounded by [`crate::json::MAX_DEPTH`],
//! size by [`super::MAX_EVIDENCE_SIZE`] and node count by [`MAX_NODES`]. The root must be `bom`
//! in a CycloneDX namespace `http://cyclonedx.org/schema/bom/1.N` (N = 2..6), which gives the
//! version. What is read is what the JSON path reads: the `version` attribute (an integer >= 1),
//! `metadata/component` and `components/component` with their `type` and `bom-ref` attributes,
//! `name`, `purl`, `hashes/hash` (`alg` attribute, hex content) and nested `components`; each of
//! those elements at most once where the schema allows one. Everything else (other elements,
//! elements of other namespaces, which CycloneDX allows as extensions) is ignored, as the JSON
//! path ignores fields it does not use.

use super::sbom::{Entry, Format, one_sha256};
use super::{EvidenceError, Fields};
use crate::digest::Sha256Digest;
use roxmltree::{Document, Node, ParsingOptions};

/// Most nodes (elements, attributes' owners, text, comments) a CycloneDX XML document may
/// have: about 400 000 components, far above real SBOMs, and a bound on memory.
pub const MAX_NODES: u32 = 1 << 22;

const NS_PREFIX: &str = "http://cyclonedx.org/schema/bom/1.";
const CX: Fields = Fields { format: "CycloneDX XML" };

fn xml_err(detail: impl Into<String>) -> EvidenceError {
    EvidenceError::Xml { format: "CycloneDX XML", detail: detail.into() }
}

/// Parses a CycloneDX XML document into its format (version) and entries.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Format, Vec<Entry>), EvidenceError> {
    if bytes.len() as u64 > super::MAX_EVIDENCE_SIZE {
        return Err(xml_err(format!("{} bytes, more than the {} read; split the SBOM", bytes.len(), super::MAX_EVIDENCE_SIZE)));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| xml_err(format!("not UTF-8 ({e}); write the XML as UTF-8")))?;
    refuse_doctype(text)?;
    let opt = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, opt)
        .map_err(|e| xml_err(format!("not well-formed XML: {e}; check that the file is complete and was written by a CycloneDX tool")))?;
    // Nesting depth per node, parents first (document order); no recursion anywhere.
    let mut depth = vec![0usize; doc.descendants().count()];
    for n in doc.descendants().filter(|n| n.is_element()) {
        let d = n.parent().map_or(0, |p| depth[p.id().get_usize()]) + 1;
        if d > crate::json::MAX_DEPTH {
            return Err(xml_err(format!("elements nested deeper than {}; airlock reads no deeper", crate::json::MAX_DEPTH)));
        }
        depth[n.id().get_usize()] = d;
    }
    let bom = doc.root_element();
    let ns = bom.tag_name().namespace().unwrap_or("");
    let format = match ns.strip_prefix(NS_PREFIX) {
        Some("2") => Format::CycloneDxLegacy("1.2"),
        Some("3") => Format::CycloneDxLegacy("1.3"),
        Some("4") => Format::CycloneDxLegacy("1.4"),
        Some("5") => Format::CycloneDx15,
        Some("6") => Format::CycloneDx16,
        _ if !ns.starts_with("http://cyclonedx.org/schema/bom/") => {
            return Err(EvidenceError::Unrecognised {
                kind: "sbom",
                detail: format!(
                    "an XML document whose root <{}> is in namespace {ns:?}, not a CycloneDX one (http://cyclonedx.org/schema/bom/1.N); SPDX is read as JSON or tag-value",
                    bom.tag_name().name()
                ),
            });
        }
        _ => {
            return Err(EvidenceError::UnknownVersion {
                format: "CycloneDX XML namespace",
                found: ns.into(),
                supported: "http://cyclonedx.org/schema/bom/1.2 to 1.6",
            });
        }
    };
    if bom.tag_name().name() != "bom" {
        return Err(CX.err(format!("the root element must be <bom>, found <{}>", bom.tag_name().name())));
    }
    if let Some(v) = bom.attribute("version")
        && !v.trim().parse::<u64>().is_ok_and(|n| n >= 1)
    {
        return Err(CX.err(format!("bom/@version must be an integer >= 1, found {v:?}")));
    }
    let mut out = Vec::new();
    if let Some(m) = only(bom, ns, "metadata", "bom")?
        && let Some(c) = only(m, ns, "component", "bom/metadata")?
    {
        component(c, ns, "metadata/component", &mut out)?;
    }
    components(bom, ns, "bom", &mut out)?;
    Ok((format, out))
}

/// Refuses a document type declaration in the prolog (before the root element), where XML
/// allows one: airlock reads no DTD, internal or external, and so no entity.
fn refuse_doctype(text: &str) -> Result<(), EvidenceError> {
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let skip = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.len() >= 9 && rest.as_bytes()[..9].eq_ignore_ascii_case(b"<!DOCTYPE") {
            return Err(xml_err(
                "a DOCTYPE is refused (no DTD or entity is read: billion-laughs and XXE); remove the DOCTYPE line, CycloneDX needs none",
            ));
        } else {
            return Ok(());
        };
        // An unclosed declaration or comment: the parser reports it.
        let Some(n) = skip else { return Ok(()) };
        rest = &rest[n..];
    }
}

/// The one child element `name` of `parent` in namespace `ns`, if any; two refuse.
fn only<'a, 'i>(parent: Node<'a, 'i>, ns: &str, name: &str, at: &str) -> Result<Option<Node<'a, 'i>>, EvidenceError> {
    let mut found = None;
    for c in parent.children().filter(|c| is(c, ns, name)) {
        if found.replace(c).is_some() {
            return Err(CX.err(format!("{at} has more than one <{name}>; the schema allows one")));
        }
    }
    Ok(found)
}

fn is(c: &Node, ns: &str, name: &str) -> bool {
    c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
}

/// Text content of a simple element: its text (and CDATA) children; a child element refuses.
fn text(e: Node, at: &str) -> Result<String, EvidenceError> {
    let mut s = String::new();
    for c in e.children() {
        if c.is_element() {
            return Err(CX.err(format!("{at} must hold text only, found <{}>", c.tag_name().name())));
        }
        if let Some(t) = c.text().filter(|_| c.is_text()) {
            s.push_str(t);
        }
    }
    Ok(s)
}

/// `<components>` of `parent` (at most one), each `<component>` in document order.
fn components(parent: Node, ns: &str, at: &str, out: &mut Vec<Entry>) -> Result<(), EvidenceError> {
    if let Some(cs) = only(parent, ns, "components", at)? {
        for (i, c) in cs.children().filter(|c| is(c, ns, "component")).enumerate() {
            component(c, ns, &format!("{at}/components/component[{i}]"), out)?;
        }
    }
    Ok(())
}

/// A component (and its nested components) into entries, as the JSON path does.
fn component(c: Node, ns: &str, at: &str, out: &mut Vec<Entry>) -> Result<(), EvidenceError> {
    match c.attribute("type") {
        Some(t) if !t.trim().is_empty() => {}
        _ => return Err(CX.err(format!("{at}/@type is required and must not be empty"))),
    }
    let name = match only(c, ns, "name", at)? {
        Some(n) => text(n, &format!("{at}/name"))?,
        None => return Err(CX.err(format!("{at}/name is required"))),
    };
    if name.is_empty() {
        return Err(CX.err(format!("{at}/name must not be empty")));
    }
    let mut ids = Vec::new();
    if let Some(r) = c.attribute("bom-ref") {
        ids.push(r.to_string());
    }
    if let Some(p) = only(c, ns, "purl", at)? {
        // xs:anyURI: surrounding whitespace is not part of the value.
        ids.push(text(p, &format!("{at}/purl"))?.trim().to_string());
    }
    let mut pairs = Vec::new();
    if let Some(hs) = only(c, ns, "hashes", at)? {
        for (j, h) in hs.children().filter(|c| is(c, ns, "hash")).enumerate() {
            let hat = format!("{at}/hashes/hash[{j}]");
            let alg = h.attribute("alg").ok_or_else(|| CX.err(format!("{hat}/@alg is required")))?;
            // xs:token content; CycloneDX allows uppercase hex, digests are compared lowercase.
            pairs.push((alg.to_string(), text(h, &hat)?.trim().to_ascii_lowercase()));
        }
    }
    let sha256: Option<Sha256Digest> = one_sha256(&CX, pairs, &|a| a == "SHA-256", at)?;
    out.push(Entry { name, ids, sha256 });
    components(c, ns, at, out)
}

#[cfg(test)]
mod tests {
    use super::super::sbom::Sbom;
    use super::*;

    fn doc(ns: &str, body: &str) -> String {
        format!("<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<bom xmlns=\"{ns}\" version=\"1\">{body}</bom>")
    }

    const V14: &str = "http://cyclonedx.org/schema/bom/1.4";

    #[test]
    fn reads_components_like_the_json_form() {
        let h = Sha256Digest::of(b"app").hex();
        let body = format!(
            r#"<metadata><component type="application" bom-ref="rel"><name>rel</name></component></metadata>
               <components><component type="application" bom-ref="app"><name>app</name>
               <hashes><hash alg="SHA-1">{sha1}</hash><hash alg="SHA-256"> {up} </hash></hashes>
               <purl>pkg:generic/app@1.2.0</purl><ext:x xmlns:ext="urn:other"><name>ignored</name></ext:x>
               <components><component type="library"><name><![CDATA[lib]]></name></component></components></component></components>"#,
            sha1 = "0".repeat(40),
            up = h.to_uppercase()
        );
        let xml = Sbom::parse(doc(V14, &body).as_bytes()).unwrap();
        let json = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.4","version":1,"metadata":{{"component":{{"type":"application","bom-ref":"rel","name":"rel"}}}},
               "components":[{{"type":"application","bom-ref":"app","name":"app","purl":"pkg:generic/app@1.2.0",
               "hashes":[{{"alg":"SHA-1","content":"{}"}},{{"alg":"SHA-256","content":"{h}"}}],"components":[{{"type":"library","name":"lib"}}]}}]}}"#,
            "0".repeat(40)
        );
        let json = Sbom::parse(json.as_bytes()).unwrap();
        assert_eq!((xml.format, &xml.entries), (json.format, &json.entries));
        assert_eq!(xml.entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["rel", "app", "lib"]);
        assert_eq!(xml.entries[1].ids, ["app", "pkg:generic/app@1.2.0"]);
        assert_eq!(xml.canonical_digest, Sha256Digest::of(doc(V14, &body).as_bytes()));
        for (n, f) in [("2", "CycloneDX 1.2"), ("3", "CycloneDX 1.3"), ("5", "CycloneDX 1.5"), ("6", "CycloneDX 1.6")] {
            let s = Sbom::parse(doc(&format!("http://cyclonedx.org/schema/bom/1.{n}"), "").as_bytes()).unwrap();
            assert_eq!(s.format.name(), f);
        }
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let lol = "<?xml version=\"1.0\"?>\n<!DOCTYPE bom [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n\
                   <bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"><components><component type=\"library\"><name>&lol2;</name></component></components></bom>";
        let xxe = "<!DOCTYPE bom SYSTEM \"file:///etc/passwd\"><bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"/>";
        let empty = "<!-- c --><!doctype bom><bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"/>";
        for d in [lol, xxe, empty] {
            let e = Sbom::parse(d.as_bytes()).unwrap_err();
            assert!(matches!(&e, EvidenceError::Xml { detail, .. } if detail.contains("DOCTYPE is refused")), "{e}");
            assert_eq!(e.code(), "evidence.malformed");
        }
        // An undeclared entity is not well-formed.
        let e = Sbom::parse(doc(V14, r#"<components><component type="library"><name>&x;</name></component></components>"#).as_bytes());
        assert!(matches!(e, Err(EvidenceError::Xml { .. })), "{e:?}");
    }

    #[test]
    fn refuses_other_namespaces_and_versions() {
        let e = Sbom::parse(doc("http://cyclonedx.org/schema/bom/1.1", "").as_bytes()).unwrap_err();
        assert!(matches!(e, EvidenceError::UnknownVersion { .. }), "{e}");
        let e = Sbom::parse(b"<bom/>").unwrap_err();
        assert!(matches!(&e, EvidenceError::Unrecognised { detail, .. } if detail.contains("not a CycloneDX one")), "{e}");
        let e = Sbom::parse(doc("http://spdx.org/rdf/terms#", "").as_bytes()).unwrap_err();
        assert_eq!(e.code(), "evidence.unrecognised");
        let e = Sbom::parse(doc(V14, "").replace("<bom ", "<sbom ").replace("</bom>", "</sbom>").as_bytes()).unwrap_err();
        assert!(matches!(e, EvidenceError::Schema { .. }), "{e}");
    }

    #[test]
    fn refuses_malformed_and_unbounded() {
        let bad = |d: String| Sbom::parse(d.as_bytes()).unwrap_err();
        assert!(matches!(bad(doc(V14, "<components>")), EvidenceError::Xml { .. }));
        assert!(matches!(bad(doc(V14, "").replace("version=\"1\"", "version=\"0\"")), EvidenceError::Schema { .. }));
        let c = |inner: &str| doc(V14, &format!("<components><component type=\"library\">{inner}</component></components>"));
        for inner in [
            "",
            "<name></name>",
            "<name>a</name><name>b</name>",
            "<name>a<b/></name>",
            "<name>a</name><hashes><hash>00</hash></hashes>",
            "<name>a</name><hashes><hash alg=\"SHA-256\">zz</hash></hashes>",
            "<name>a</name><purl>p</purl><purl>q</purl>",
        ] {
            assert!(matches!(bad(c(inner)), EvidenceError::Schema { .. }), "{inner}");
        }
        assert!(matches!(bad(c("<name>a</name>").replace(" type=\"library\"", "")), EvidenceError::Schema { .. }));
        let two = format!(
            "<name>a</name><hashes><hash alg=\"SHA-256\">{}</hash><hash alg=\"SHA-256\">{}</hash></hashes>",
            "a".repeat(64),
            "b".repeat(64)
        );
        assert!(matches!(bad(c(&two)), EvidenceError::Schema { .. }));
        let deep = doc(V14, &format!("{}{}", "<x>".repeat(100), "</x>".repeat(100)));
        assert!(matches!(bad(deep), EvidenceError::Xml { detail, .. } if detail.contains("nested deeper")));
        assert!(matches!(bad("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"\u{0}/>".into()), EvidenceError::Xml { .. }));
    }
}
