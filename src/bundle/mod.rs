//! Bundle format v1: layout, member kinds, the manifest and `checksums.txt`.
//! Normative text: `format-spec/bundle-v1.md`.

pub mod checksums;
pub mod manifest;

use serde::{Deserialize, Serialize};

/// The manifest, RFC 8785 JSON, byte-identical to the DSSE payload.
pub const MANIFEST: &str = "manifest.json";
/// The DSSE envelope signing the manifest.
pub const ENVELOPE: &str = "manifest.dsse.json";
/// GNU coreutils checksums of every payload member.
pub const CHECKSUMS: &str = "checksums.txt";
/// Control members, in archive order (they sort before every kind directory).
pub const CONTROL: [&str; 3] = [CHECKSUMS, ENVELOPE, MANIFEST];
/// The optional transparency proof of the manifest (format-spec/transparency-v1.md §9.2). It
/// proves the manifest, so the manifest never lists it; like the control members it is outside
/// the member set and `checksums.txt`.
pub const TLOG_PROOF: &str = "tlog/manifest.tlog-proof";
/// Largest control member accepted.
pub const MAX_CONTROL_SIZE: u64 = 32 << 20;

/// DSSE payloadType of a v1 manifest.
pub const PAYLOAD_TYPE_V1: &str = "application/vnd.airlock.bundle-manifest.v1+json";
/// Prefix shared by every manifest payloadType; the version follows it.
pub const PAYLOAD_TYPE_PREFIX: &str = "application/vnd.airlock.bundle-manifest.v";
/// Format versions this binary reads.
pub const SUPPORTED_VERSIONS: &[u64] = &[1];

/// What a payload member is. The kind is fixed by the member's top-level directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Binaries, installers, images: what the release ships.
    Artifact,
    /// SPDX or CycloneDX documents.
    Sbom,
    /// SLSA provenance (usually a DSSE envelope).
    Provenance,
    /// Other in-toto attestations.
    Attestation,
    /// OpenVEX or CycloneDX VEX.
    Vex,
    /// Transparency-log proofs.
    Tlog,
    /// Release metadata (installer targets, channels, controls).
    Release,
    /// An evidence-ledger export (`evidence/records.jsonl`, `evidence/head.json`;
    /// format-spec/evidence-ledger-v1.md).
    Evidence,
    /// Anything else; listed and digested, never interpreted.
    Other,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 9] = [
        Kind::Artifact,
        Kind::Sbom,
        Kind::Provenance,
        Kind::Attestation,
        Kind::Vex,
        Kind::Tlog,
        Kind::Release,
        Kind::Evidence,
        Kind::Other,
    ];

    /// The top-level directory holding members of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Artifact => "artifacts",
            Kind::Sbom => "sbom",
            Kind::Provenance => "provenance",
            Kind::Attestation => "attestations",
            Kind::Vex => "vex",
            Kind::Tlog => "tlog",
            Kind::Release => "release",
            Kind::Evidence => "evidence",
            Kind::Other => "other",
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Artifact => "artifact",
            Kind::Sbom => "sbom",
            Kind::Provenance => "provenance",
            Kind::Attestation => "attestation",
            Kind::Vex => "vex",
            Kind::Tlog => "tlog",
            Kind::Release => "release",
            Kind::Evidence => "evidence",
            Kind::Other => "other",
        }
    }

    /// The kind a payload path belongs to, from its top-level directory.
    pub fn of_path(path: &str) -> Option<Kind> {
        let (top, rest) = path.split_once('/')?;
        if rest.is_empty() {
            return None;
        }
        Kind::ALL.into_iter().find(|k| k.dir() == top)
    }
}
