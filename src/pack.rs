//! Pack planning (sans-I/O): from member records and signing keys to the exact control-member
//! bytes and the archive member list. The shell hashes files and writes the archive.

use crate::archive::name::check_name;
use crate::archive::write::PlannedMember;
use crate::archive::{Limits, Rule};
use crate::bundle::manifest::{DeflateStream, Manifest, ManifestError, Member, Release};
use crate::bundle::{CHECKSUMS, ENVELOPE, Kind, MANIFEST, PAYLOAD_TYPE_V1, checksums};
use crate::dsse::Envelope;
use crate::keys::SecretKey;
use crate::time::Timestamp;

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
    /// The bundle would break a limit every verifier enforces (`archive::Limits`), so it is
    /// refused before anything is written.
    #[error("{subject}{actual} {what}; the bundle format allows at most {max} (rule {rule}); nothing was written")]
    Limit {
        /// The walker rule a verifier would refuse the bundle by.
        rule: Rule,
        /// The member concerned, with a trailing ": ", or empty.
        subject: String,
        /// What is counted or measured.
        what: &'static str,
        /// The bundle's value.
        actual: u64,
        /// The limit.
        max: u64,
    },
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

/// The bundle's archive members: the payload, the three control members and a transparency proof.
pub fn archive_member_count(payload: usize, with_proof: bool) -> usize {
    payload + 3 + usize::from(with_proof)
}

/// Refuses `count` archive members (see [`archive_member_count`]) above what verifiers accept:
/// callable before any member is hashed.
pub fn check_member_count(count: usize, limits: &Limits) -> Result<(), PackError> {
    if count > limits.max_members {
        return Err(PackError::Limit {
            rule: Rule::TooManyMembers,
            subject: String::new(),
            what: "archive members (payload and control members)",
            actual: count as u64,
            max: limits.max_members as u64,
        });
    }
    Ok(())
}

/// Every limit a verifier enforces that the archive's member list already decides: member count,
/// member and total sizes, control member sizes ([`crate::bundle::MAX_CONTROL_SIZE`]) and, for a
/// deflated member (`stored` gives its stream length), the compression ratio. Pack calls it before
/// it creates the output, so a bundle its own self-check (or any verifier) would refuse for a
/// limit is never written.
pub fn check_limits(members: &[PlannedMember], stored: &dyn Fn(&str) -> Option<u64>, limits: &Limits) -> Result<(), PackError> {
    check_member_count(members.len(), limits)?;
    let limit = |rule, m: &PlannedMember, what, actual, max| PackError::Limit { rule, subject: format!("{}: ", m.name), what, actual, max };
    let mut total = 0u64;
    for m in members {
        if crate::bundle::CONTROL.contains(&m.name.as_str()) && m.size > crate::bundle::MAX_CONTROL_SIZE {
            return Err(limit(Rule::MemberTooLarge, m, "bytes in a control member", m.size, crate::bundle::MAX_CONTROL_SIZE));
        }
        if m.size > limits.max_member_size {
            return Err(limit(Rule::MemberTooLarge, m, "bytes", m.size, limits.max_member_size));
        }
        total = total.saturating_add(m.size);
        if total > limits.max_total_size {
            return Err(limit(Rule::TotalTooLarge, m, "bytes in all members up to this one", total, limits.max_total_size));
        }
        if let Some(csize) = stored(&m.name).filter(|_| m.deflate)
            && m.size > (1 << 20)
            && m.size / csize.max(1) > limits.max_ratio
        {
            return Err(limit(
                Rule::CompressionRatio,
                m,
                "times smaller deflated; store it (--compress store)",
                m.size / csize.max(1),
                limits.max_ratio,
            ));
        }
    }
    Ok(())
}

/// Whether a sample of a member's bytes compresses enough (below 90 %) to be worth deflating.
/// Incompressible members are stored, so verify streams them at hashing speed.
pub fn worth_deflating(sample: &[u8]) -> bool {
    if sample.len() < 512 {
        return false;
    }
    // A small sample whose bytes are spread near-uniformly (random or already compressed data)
    // is stored without a trial: in a few KiB such data holds no matches worth a deflate stream,
    // and the encoder's reset and pass cost more than hashing the member (18 % of packing 99,000
    // files of 1 KiB). Larger samples, and any with fewer distinct-enough bytes, get the trial.
    if sample.len() < 4096 && order0_bits_per_byte(sample) >= 7.5 {
        return false;
    }
    // One encoder per thread, reset for each sample: a fresh one allocates and clears its
    // window and tables, which cost more than compressing a small member.
    thread_local! {
        static ENC: std::cell::RefCell<Option<flate2::Compress>> = const { std::cell::RefCell::new(None) };
    }
    // Room for the worst case (stored blocks: 5 bytes per 64 KiB and the end): zlib-rs panics
    // when a finishing stream's pending output does not fit.
    let mut out = Vec::with_capacity(sample.len() + sample.len() / 16 + 256);
    ENC.with(|enc| {
        let mut enc = enc.borrow_mut();
        let enc = enc.get_or_insert_with(|| flate2::Compress::new(flate2::Compression::fast(), false));
        enc.reset();
        let done = enc.compress_vec(sample, &mut out, flate2::FlushCompress::Finish);
        matches!(done, Ok(flate2::Status::StreamEnd)) && out.len() * 10 < sample.len() * 9
    })
}

/// The order-0 (byte histogram) entropy of `bytes`, in bits per byte.
fn order0_bits_per_byte(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reused encoder decides as a fresh one would, for incompressible, compressible and
    /// tiny samples in any order (and never panics on output that does not shrink).
    #[test]
    fn worth_deflating_with_a_reused_encoder() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = b"release notes, line after line of them\n".repeat(2_000);
        for _ in 0..3 {
            for n in [0usize, 511, 512, 1024, 4096, 65_536, 70_000] {
                assert!(!worth_deflating(&random[..n]), "random {n}");
            }
            assert!(worth_deflating(&text[..1024]) && worth_deflating(&text[..65_536]));
            assert!(!worth_deflating(&text[..100]), "below 512 bytes never");
            // Small and near-uniform: no trial; small text, or a repeated short pattern (low
            // order-0 entropy), still gets one and is deflated.
            assert!(order0_bits_per_byte(&random[..1024]) >= 7.5 && order0_bits_per_byte(&text[..1024]) < 7.5);
            assert!(worth_deflating(&[7u8; 1024]) && worth_deflating(&text[..4095]));
        }
    }
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
