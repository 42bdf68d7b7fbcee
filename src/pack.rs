//! Pack planning (sans-I/O): from member records and signing keys to the exact control-member
//! bytes and the archive member list. The shell hashes files and writes the archive.

use crate::archive::name::check_name;
use crate::archive::write::PlannedMember;
use crate::bundle::manifest::{DeflateStream, Manifest, ManifestError, Member, Release};
use crate::bundle::{CHECKSUMS, ENVELOPE, Kind, MANIFEST, PAYLOAD_TYPE_V1, checksums};
use crate::dsse::Envelope;
use crate::keys::SecretKey;
use crate::time::Timestamp;
use std::io::Write;

/// Errors planning a bundle.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// No signing key.
    #[error("no signing key given; pass --key NAME.key at least once")]
    NoKey,
    /// A path that cannot be a member.
    #[error("{path:?} cannot be a bundle member: {why}")]
    Path {
        /// Offending path.
        path: String,
        /// Rule.
        why: String,
    },
    /// The resulting manifest breaks a rule (e.g. no members, bad version).
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// An evidence member (SBOM, VEX, provenance, attestation) larger than the gate reads
    /// ([`crate::evidence::MAX_EVIDENCE_SIZE`]): the bundle would verify and then be refused.
    #[error(
        "evidence member {path:?} is {size} bytes; the gate reads evidence members of at most {max} bytes (expected <= {max}, actual {size})"
    )]
    EvidenceTooLarge {
        /// Offending path.
        path: String,
        /// Its size.
        size: u64,
        /// The bound.
        max: u64,
    },
}

/// Everything needed to write the archive.
pub struct Plan {
    /// The manifest.
    pub manifest: Manifest,
    /// manifest.json bytes.
    pub manifest_bytes: Vec<u8>,
    /// manifest.dsse.json bytes.
    pub envelope_bytes: Vec<u8>,
    /// checksums.txt bytes.
    pub checksums_bytes: Vec<u8>,
    /// Archive members in archive order: control members, then payload by path.
    pub members: Vec<PlannedMember>,
}

impl Plan {
    /// Bytes of a control member, if `name` is one.
    pub fn control_bytes(&self, name: &str) -> Option<&[u8]> {
        match name {
            MANIFEST => Some(&self.manifest_bytes),
            ENVELOPE => Some(&self.envelope_bytes),
            CHECKSUMS => Some(&self.checksums_bytes),
            _ => None,
        }
    }
}

/// Checks a payload path and returns its kind.
pub fn kind_of(path: &str) -> Result<Kind, PackError> {
    check_name(path).map_err(|e| PackError::Path { path: path.into(), why: e.to_string() })?;
    Kind::of_path(path).ok_or_else(|| PackError::Path {
        path: path.into(),
        why: "not under a kind directory (artifacts/, sbom/, provenance/, attestations/, vex/, tlog/, release/, other/)".into(),
    })
}

/// Plans a bundle. `deflated` holds the raw deflate stream of each member the zip will deflate
/// ([`crate::archive::write::deflate_stream_digest`]); the manifest signs them, and every other
/// member is stored. Empty for tar.
pub fn plan(
    release: Release,
    created_at: Timestamp,
    members: Vec<Member>,
    keys: &[&SecretKey],
    deflated: Vec<DeflateStream>,
) -> Result<Plan, PackError> {
    if keys.is_empty() {
        return Err(PackError::NoKey);
    }
    for m in &members {
        let k = kind_of(&m.path)?;
        if k != m.kind {
            return Err(PackError::Path { path: m.path.clone(), why: format!("kind {} does not match its directory", m.kind.name()) });
        }
        let evidence = matches!(k, Kind::Sbom | Kind::Vex | Kind::Provenance | Kind::Attestation);
        if evidence && m.size > crate::evidence::MAX_EVIDENCE_SIZE {
            return Err(PackError::EvidenceTooLarge { path: m.path.clone(), size: m.size, max: crate::evidence::MAX_EVIDENCE_SIZE });
        }
    }
    let manifest = Manifest::build(release, created_at, members).with_deflate_streams(deflated);
    manifest.validate()?;
    let manifest_bytes = manifest.to_bytes();
    let envelope_bytes = Envelope::sign(PAYLOAD_TYPE_V1, &manifest_bytes, keys).to_bytes();
    let checksums_bytes = checksums::render(manifest.members.iter().map(|m| (m.path.as_str(), &m.digest)));
    let mut planned = vec![
        PlannedMember { name: CHECKSUMS.into(), size: checksums_bytes.len() as u64, deflate: false },
        PlannedMember { name: ENVELOPE.into(), size: envelope_bytes.len() as u64, deflate: false },
        PlannedMember { name: MANIFEST.into(), size: manifest_bytes.len() as u64, deflate: false },
    ];
    planned.extend(manifest.members.iter().map(|m| PlannedMember {
        name: m.path.clone(),
        size: m.size,
        deflate: manifest.deflate_stream(&m.path).is_some(),
    }));
    Ok(Plan { manifest, manifest_bytes, envelope_bytes, checksums_bytes, members: planned })
}

/// Whether a sample of a member's bytes compresses enough (below 90 %) to be worth deflating.
/// Incompressible members are stored, so verify streams them at hashing speed.
pub fn worth_deflating(sample: &[u8]) -> bool {
    if sample.len() < 512 {
        return false;
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(sample.len()), flate2::Compression::fast());
    if enc.write_all(sample).is_err() {
        return false;
    }
    enc.finish().map(|c| (c.len() as u64) * 10 < (sample.len() as u64) * 9).unwrap_or(false)
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn evidence_over_the_gate_bound_is_refused_at_planning_at_the_bound_is_not() {
        let key = SecretKey::from_seed(&[3; 32]);
        let release = Release { product: "p".into(), version: "1.0.0".into(), commit: None, channel: None };
        let member = |path: &str, kind, size| Member { path: path.into(), size, digest: crate::digest::Sha256Digest::of(b""), kind };
        let max = crate::evidence::MAX_EVIDENCE_SIZE;
        for (path, kind) in [("sbom/a.json", Kind::Sbom), ("vex/a.json", Kind::Vex), ("provenance/a.json", Kind::Provenance)] {
            let e = plan(release.clone(), Timestamp(0), vec![member(path, kind, max + 1)], &[&key], vec![]).err();
            assert!(matches!(e, Some(PackError::EvidenceTooLarge { size, .. }) if size == max + 1), "{path}: {e:?}");
            assert!(plan(release.clone(), Timestamp(0), vec![member(path, kind, max)], &[&key], vec![]).is_ok(), "{path}");
        }
        // Artifacts are not evidence: no such bound.
        assert!(plan(release, Timestamp(0), vec![member("artifacts/a", Kind::Artifact, max + 1)], &[&key], vec![]).is_ok());
    }
}
