//! The v1 manifest: release identity, every payload member with size, digest and kind, and an
//! RFC 6962 Merkle root over the members' canonical records.

use super::{Kind, SUPPORTED_VERSIONS};
use crate::archive::name::{self, check_name};
use crate::digest::Sha256Digest;
use crate::json::{self, JsonError};
use crate::merkle;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most members a verifiable v1 manifest lists: an archive holds at most this many
/// ([`crate::archive::Limits`]), so a manifest listing more fails member-set equality. Not a
/// manifest rule of its own.
pub const MAX_MEMBERS: usize = 100_000;

/// Errors reading a manifest. All of them mean "could not verify" (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not strict, canonical JSON.
    #[error("manifest.json is not valid strict RFC 8785 JSON: {0}")]
    Json(#[from] JsonError),
    /// `formatVersion` absent or not an integer.
    #[error("manifest.json has no integer formatVersion; this airlock reads versions {}", versions())]
    MissingVersion,
    /// A version this binary does not read.
    #[error(
        "bundle format version {found} is not supported; this airlock reads versions {}. Use an airlock release that supports version {found}",
        versions()
    )]
    UnknownVersion {
        /// The version found.
        found: String,
    },
    /// Fields missing, unknown or of the wrong type.
    #[error("manifest.json does not match the v1 schema: {0}")]
    Schema(String),
    /// A field value breaks a v1 rule.
    #[error("manifest.json breaks rule {rule}{}: {detail}", .path.as_ref().map(|p| format!(" at member {p:?}")).unwrap_or_default())]
    Invalid {
        /// Stable rule id.
        rule: &'static str,
        /// Member path, when the rule is about one member.
        path: Option<String>,
        /// What was wrong.
        detail: String,
    },
}

/// Every rule [`Manifest::validate`] refuses by ([`ManifestError::Invalid`]'s `rule`); verification
/// reports each as error kind `manifest.<rule>` (format-spec/rules-v1.json).
pub const RULES: &[&str] = &[
    "release.product",
    "release.version",
    "release.commit",
    "release.channel",
    "bundle-id.format",
    "members.empty",
    "member.path",
    "member.reserved",
    "member.kind",
    "members.order",
    "members.collision",
    "deflate-streams.empty",
    "deflate-streams.order",
    "deflate-streams.unlisted",
    "deflate-streams.size",
];

/// Comma-separated list of supported versions.
pub fn versions() -> String {
    SUPPORTED_VERSIONS.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// Release identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Product name: `[A-Za-z0-9._-]{1,128}`.
    pub product: String,
    /// Semantic version 2.0.0.
    pub version: String,
    /// Source commit (hex, 7..=64 characters), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Release channel (`[a-z0-9-]{1,64}`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl Release {
    /// The v1 rules of the release fields (`release.product`, `release.version`,
    /// `release.commit`, `release.channel`), on their own so that a packer can blame the option
    /// a value came from before any manifest exists.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let inv = |rule: &'static str, detail: String| {
            debug_assert!(RULES.contains(&rule), "manifest rule {rule} is missing from RULES");
            ManifestError::Invalid { rule, path: None, detail }
        };
        let r = self;
        if r.product.is_empty() || r.product.len() > 128 || !r.product.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return Err(inv("release.product", format!("{:?} is not 1-128 of [A-Za-z0-9._-]", r.product)));
        }
        semver::Version::parse(&r.version)
            .map_err(|e| inv("release.version", format!("{:?} is not semantic versioning 2.0.0: {e}", r.version)))?;
        if let Some(c) = &r.commit
            && (c.len() < 7 || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(inv("release.commit", format!("{c:?} is not 7-64 lowercase hex characters")));
        }
        if let Some(c) = &r.channel
            && (c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(inv("release.channel", format!("{c:?} is not 1-64 of [a-z0-9-]")));
        }
        Ok(())
    }
}

/// One payload member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Archive path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub digest: Sha256Digest,
    /// Kind; must match the top-level directory.
    pub kind: Kind,
}

impl Member {
    /// The Merkle leaf: RFC 8785 bytes of `{"digest","kind","path","size"}`.
    ///
    /// Written directly (keys in RFC 8785 order, the path escaped as RFC 8785 requires, the
    /// size as an integer), not through a JSON value: a value per member was a tenth of the time
    /// of verifying 99,000 small members. A size above 2^53 (which no parsed manifest holds)
    /// takes the general path, whose number form then differs.
    pub fn leaf(&self) -> Vec<u8> {
        if self.size > 1 << 53 {
            return json::canonical(self);
        }
        let mut out = Vec::with_capacity(self.path.len() + 128);
        out.extend_from_slice(b"{\"digest\":\"sha256:");
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.digest.0, &mut hex).expect("64 hex digits for 32 bytes");
        out.extend_from_slice(&hex);
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(self.kind.name().as_bytes());
        out.extend_from_slice(b"\",\"path\":");
        json_string(&self.path, &mut out);
        out.extend_from_slice(b",\"size\":");
        std::io::Write::write_fmt(&mut out, format_args!("{}", self.size)).expect("writing to a Vec cannot fail");
        out.push(b'}');
        out
    }
}

/// A JSON string as RFC 8785 writes it (ECMAScript `JSON.stringify`): `"` and `\` escaped, the
/// controls below U+0020 as `\b \t \n \f \r` or `\u00xx` (lower-case hex), all else as is.
fn json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The exact raw deflate stream a zip bundle stores for a deflated member: the signature covers
/// the archive's compressed bytes as well as the content, so no second encoding of the same
/// content (an equivalent distance, differently coded code lengths) can pass for the signed one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeflateStream {
    /// The member's path (listed in `members`).
    pub path: String,
    /// Length of the stored stream in bytes.
    pub size: u64,
    /// SHA-256 of the stored stream.
    pub digest: Sha256Digest,
}

/// The v1 manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    /// Always 1 here.
    pub format_version: u64,
    /// Hex SHA-256 of the RFC 8785 form of `{"createdAt","merkleRoot","release"}`.
    pub bundle_id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Release identity.
    pub release: Release,
    /// Members sorted by path (bytewise).
    pub members: Vec<Member>,
    /// RFC 6962 root over the members' leaves, as `sha256:<hex>`.
    pub merkle_root: Sha256Digest,
    /// The raw deflate streams of the members a zip bundle deflates, sorted by path; absent
    /// when every member is stored (always for tar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate_streams: Option<Vec<DeflateStream>>,
}

/// The Merkle root over members in the given order.
pub fn merkle_root(members: &[Member]) -> Sha256Digest {
    let leaves: Vec<merkle::Hash> = members.iter().map(|m| merkle::leaf_hash(&m.leaf())).collect();
    Sha256Digest(merkle::root(&leaves))
}

/// Inclusion proof for member `index`, for later single-member proofs.
pub fn member_inclusion_proof(members: &[Member], index: usize) -> Vec<merkle::Hash> {
    let leaves: Vec<merkle::Hash> = members.iter().map(|m| merkle::leaf_hash(&m.leaf())).collect();
    merkle::inclusion_proof(&leaves, index)
}

/// The bundle id for these fields.
pub fn bundle_id(created_at: Timestamp, merkle_root: &Sha256Digest, release: &Release) -> String {
    let v = serde_json::json!({"createdAt": created_at, "merkleRoot": merkle_root, "release": release});
    Sha256Digest::of(&json::canonical_value(&v)).hex()
}

impl Manifest {
    /// Builds a manifest: sorts members, computes the Merkle root and bundle id.
    pub fn build(release: Release, created_at: Timestamp, mut members: Vec<Member>) -> Self {
        members.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let merkle_root = merkle_root(&members);
        let bundle_id = bundle_id(created_at, &merkle_root, &release);
        Manifest { format_version: 1, bundle_id, created_at, release, members, merkle_root, deflate_streams: None }
    }

    /// Records the raw deflate streams of the members the archive will deflate (sorted here;
    /// none leaves the field absent).
    pub fn with_deflate_streams(mut self, mut streams: Vec<DeflateStream>) -> Self {
        streams.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        self.deflate_streams = if streams.is_empty() { None } else { Some(streams) };
        self
    }

    /// The signed raw deflate stream of a member, if the manifest says it is deflated.
    pub fn deflate_stream(&self, path: &str) -> Option<&DeflateStream> {
        let streams = self.deflate_streams.as_deref()?;
        streams.binary_search_by(|s| s.path.as_bytes().cmp(path.as_bytes())).ok().map(|i| &streams[i])
    }

    /// RFC 8785 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        json::canonical(self)
    }

    /// Parses manifest bytes: canonical strict JSON, known version, v1 schema, v1 rules.
    ///
    /// The bytes are checked strict and canonical without building a JSON value
    /// ([`json::canonical_members`]), then read straight into the typed manifest: a value tree
    /// of 99,000 members was several times the size of the manifest itself.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let members = json::canonical_members(bytes)?;
        match members.iter().find(|m| m.key == "formatVersion").map(|m| &bytes[m.value.clone()]) {
            Some(b"1") => {}
            // Canonical bytes: a value's text is its RFC 8785 form (a string keeps its quotes).
            Some(other) => return Err(ManifestError::UnknownVersion { found: String::from_utf8_lossy(other).into_owned() }),
            None => return Err(ManifestError::MissingVersion),
        }
        drop(members);
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Schema(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The v1 field rules (not the self-consistency of root and id: those are verify checks).
    pub fn validate(&self) -> Result<(), ManifestError> {
        let inv = |rule: &'static str, path: Option<&str>, detail: String| {
            debug_assert!(RULES.contains(&rule), "manifest rule {rule} is missing from RULES");
            ManifestError::Invalid { rule, path: path.map(str::to_string), detail }
        };
        self.release.validate()?;
        if self.bundle_id.len() != 64 || !self.bundle_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(inv("bundle-id.format", None, format!("{:?} is not 64 lowercase hex characters", self.bundle_id)));
        }
        if self.members.is_empty() {
            return Err(inv("members.empty", None, "a bundle must list at least one member; an empty subject set proves nothing".into()));
        }
        // Collision keys by their hash (a key is confirmed whole when two hashes meet): 16
        // bytes a member instead of every key kept.
        let seed = std::collections::hash_map::RandomState::new();
        let mut seen: HashMap<u64, usize, name::BuildPassThrough> =
            HashMap::with_capacity_and_hasher(self.members.len(), Default::default());
        let mut more: Vec<(u64, usize)> = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            check_name(&m.path).map_err(|e| inv("member.path", Some(&m.path), e.to_string()))?;
            if m.path == super::TLOG_PROOF {
                return Err(inv("member.reserved", Some(&m.path), "the transparency proof of the manifest cannot be listed by it".into()));
            }
            match Kind::of_path(&m.path) {
                Some(k) if k == m.kind => {}
                Some(k) => {
                    return Err(inv(
                        "member.kind",
                        Some(&m.path),
                        format!("kind {:?} but the path lies under {}/ (kind {:?})", m.kind.name(), k.dir(), k.name()),
                    ));
                }
                None => {
                    return Err(inv(
                        "member.kind",
                        Some(&m.path),
                        "path is not under a kind directory (artifacts/, sbom/, provenance/, attestations/, vex/, tlog/, release/, other/)"
                            .into(),
                    ));
                }
            }
            if i > 0 && self.members[i - 1].path.as_bytes() >= m.path.as_bytes() {
                return Err(inv(
                    "members.order",
                    Some(&m.path),
                    format!("members must be sorted by path with no duplicates; follows {:?}", self.members[i - 1].path),
                ));
            }
            let key = name::collision_key(&m.path);
            let hash = std::hash::BuildHasher::hash_one(&seed, &key);
            let same = |j: &usize| name::collision_key(&self.members[*j].path) == key;
            let earlier = seen.get(&hash).into_iter().chain(more.iter().filter(|x| x.0 == hash).map(|x| &x.1)).find(|j| same(j));
            if let Some(&j) = earlier {
                let prev = &self.members[j].path;
                return Err(inv(
                    "members.collision",
                    Some(&m.path),
                    format!("collides with {prev:?} on case-insensitive or normalising filesystems"),
                ));
            }
            match seen.entry(hash) {
                std::collections::hash_map::Entry::Occupied(_) => more.push((hash, i)),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        if let Some(streams) = &self.deflate_streams {
            if streams.is_empty() {
                return Err(inv(
                    "deflate-streams.empty",
                    None,
                    "deflateStreams is present but empty; omit it when no member is deflated".into(),
                ));
            }
            for (i, s) in streams.iter().enumerate() {
                if i > 0 && streams[i - 1].path.as_bytes() >= s.path.as_bytes() {
                    return Err(inv(
                        "deflate-streams.order",
                        Some(&s.path),
                        format!("deflateStreams must be sorted by path with no duplicates; follows {:?}", streams[i - 1].path),
                    ));
                }
                if self.members.binary_search_by(|m| m.path.as_bytes().cmp(s.path.as_bytes())).is_err() {
                    return Err(inv(
                        "deflate-streams.unlisted",
                        Some(&s.path),
                        "deflateStreams names a path that members does not list".into(),
                    ));
                }
                if s.size == 0 {
                    return Err(inv("deflate-streams.size", Some(&s.path), "a deflate stream is at least one byte long".into()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let m = |p: &str, k| Member { path: p.into(), size: 3, digest: Sha256Digest::of(p.as_bytes()), kind: k };
        Manifest::build(
            Release { product: "demo".into(), version: "1.2.3".into(), commit: None, channel: None },
            Timestamp(1_700_000_000),
            vec![m("sbom/s.json", Kind::Sbom), m("artifacts/a", Kind::Artifact)],
        )
    }

    #[test]
    fn round_trips_and_sorts() {
        let m = sample();
        assert_eq!(m.members[0].path, "artifacts/a");
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn unknown_version_named() {
        let text = String::from_utf8(sample().to_bytes()).unwrap().replace("\"formatVersion\":1", "\"formatVersion\":7");
        let e = Manifest::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(e, ManifestError::UnknownVersion { ref found } if found == "7"));
        assert!(e.to_string().contains("reads versions 1"), "{e}");
    }

    #[test]
    fn rules_refuse() {
        let mut m = sample();
        m.members[0].kind = Kind::Sbom;
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { rule: "member.kind", .. })));
        let mut m = sample();
        m.members.swap(0, 1);
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { rule: "members.order", .. })));
        let mut m = sample();
        m.release.version = "1.2".into();
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { rule: "release.version", .. })));
        // A collision names the earlier member, however many members lie between.
        let mut m = sample();
        let member = |p: &str| Member { path: p.into(), size: 1, digest: Sha256Digest::of(b"x"), kind: Kind::Artifact };
        m.members = (0..50).map(|i| member(&format!("artifacts/f{i:02}"))).collect();
        m.members.insert(0, member("artifacts/F07"));
        match m.validate() {
            Err(ManifestError::Invalid { rule: "members.collision", path: Some(p), detail }) => {
                assert_eq!(p, "artifacts/f07");
                assert!(detail.contains("\"artifacts/F07\""), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let mut m = sample();
        m.members.clear();
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { rule: "members.empty", .. })));
        // Non-canonical bytes are refused even when the content is right.
        let pretty = serde_json::to_vec_pretty(&sample()).unwrap();
        assert!(matches!(Manifest::parse(&pretty), Err(ManifestError::Json(JsonError::NotCanonical { .. }))));
    }

    /// The leaf written by hand is byte for byte the RFC 8785 form the general path gives.
    #[test]
    fn leaf_is_the_canonical_json_of_the_member() {
        let names = [
            "artifacts/a",
            "sbom/q\"uote",
            "other/back\\slash",
            "vex/ctl\u{1}\u{8}\t\n\u{c}\r\u{1f}",
            "release/\u{e9}t\u{e9} \u{2028}\u{1F600}",
            "tlog/x",
        ];
        for (i, path) in names.iter().enumerate() {
            for kind in crate::bundle::Kind::ALL {
                for size in [0u64, 7, 1 << 40, 1 << 53] {
                    let m = Member { path: path.to_string(), size, digest: Sha256Digest::of(&[i as u8]), kind };
                    assert_eq!(String::from_utf8(m.leaf()).unwrap(), String::from_utf8(json::canonical(&m)).unwrap(), "{m:?}");
                }
            }
        }
    }
}
