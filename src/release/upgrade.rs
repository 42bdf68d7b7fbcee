//! Upgrade comparison (sans-I/O): may NEXT replace CURRENT? Both inputs are release metadata
//! bound to a [`Verified`](crate::verify::Verified) bundle, so an unverified bundle cannot be
//! compared. Rules (`format-spec/release-metadata-v1.md` §7): same product; NEXT's version is
//! higher by SemVer precedence (equal only when explicitly allowed); no installer target,
//! deployment target, evidence kind, channel or release control removed; no channel policy
//! weakened; NEXT signed at threshold by the release signers in force, with every new signer
//! traced to the trust-root rotation that admitted it.

use super::{BoundMetadata, Channel};
use crate::bundle::Kind;
use crate::keys::KeyId;
use crate::report::Check;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Whether an equal version may pass. Named, not a bool: allowing it is a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameVersion {
    /// Equal versions fail (the default).
    Refuse,
    /// Equal versions pass (`--allow-same-version`), e.g. a re-signed or re-packed release.
    Allow,
}

/// The release role of one trust-root version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleVersion {
    /// Trust-root version.
    pub root_version: u64,
    /// Key ids of the `release` role in that version.
    pub keyids: Vec<KeyId>,
    /// The role's threshold in that version.
    pub threshold: usize,
}

impl RoleVersion {
    /// The `release` role of one trust-root version (`None` if it has none).
    pub fn of(root: &crate::trust::root::TrustRoot) -> Option<Self> {
        let role = root.role(&crate::trust::role::RoleName::RELEASE)?;
        Some(RoleVersion { root_version: root.version(), keyids: role.keyids(), threshold: role.threshold() })
    }
}

/// Who may sign NEXT, and where that authority came from.
#[derive(Clone, Debug)]
pub enum SignerAuthority {
    /// Plain trusted keys (`--key`): continuity is checked against these keys only; there is
    /// no rotation history to consult.
    Keys {
        /// Where the keys came from (`--key`).
        source: String,
        /// Trusted key ids.
        keyids: Vec<KeyId>,
        /// Threshold.
        threshold: usize,
    },
    /// A trust root's `release` role, one entry per verified trust-root version, oldest first;
    /// the last is the one in force at NEXT's verification.
    TrustRoot {
        /// Where the trust root came from.
        source: String,
        /// Role history, oldest first.
        history: Vec<RoleVersion>,
    },
}

/// Names added and removed between CURRENT and NEXT.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Delta {
    /// In NEXT only.
    pub added: Vec<String>,
    /// In CURRENT only.
    pub removed: Vec<String>,
}

impl Delta {
    fn of(cur: &BTreeSet<String>, next: &BTreeSet<String>) -> Self {
        Delta { added: next.difference(cur).cloned().collect(), removed: cur.difference(next).cloned().collect() }
    }
}

/// The trust-root rotation that admitted a key to the release role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// Version before the rotation.
    pub from_version: u64,
    /// Version that added the key.
    pub to_version: u64,
}

/// A signer of NEXT that did not sign CURRENT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSigner {
    /// Key id.
    pub keyid: String,
    /// The rotation that admitted it, when a trust root says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduced_by: Option<Rotation>,
    /// In words.
    pub detail: String,
}

/// Everything that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Installer targets, by `os/arch`.
    pub installers: Delta,
    /// Deployment targets, by id.
    pub deployments: Delta,
    /// Channels, by name.
    pub channels: Delta,
    /// Release controls.
    pub controls: Delta,
    /// Evidence kinds (member kinds other than `artifact` and `other`).
    pub evidence_kinds: Delta,
    /// Signer key ids (signatures that counted at verification).
    pub signers: Delta,
    /// Where each new signer's authority came from.
    pub new_signers: Vec<NewSigner>,
}

/// Result of [`compare`].
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// What changed.
    pub changes: Changes,
}

fn evidence_kinds(b: &BoundMetadata<'_>) -> BTreeSet<String> {
    b.bundle()
        .get()
        .manifest()
        .members
        .iter()
        .map(|m| m.kind)
        .filter(|k| !matches!(k, Kind::Artifact | Kind::Other))
        .map(|k| k.name().to_string())
        .collect()
}

fn removal_check(id: &'static str, what: &str, d: &Delta, cur_len: usize) -> Check {
    if d.removed.is_empty() {
        Check::new(id, true, format!("no {what} removed ({cur_len} kept, {} added)", d.added.len()))
    } else {
        Check::new(id, false, format!("{what} removed: {}", d.removed.join(", "))).values("none removed", d.removed.join(", "))
    }
}

/// Compares CURRENT and NEXT.
pub fn compare(current: &BoundMetadata<'_>, next: &BoundMetadata<'_>, authority: &SignerAuthority, same: SameVersion) -> Comparison {
    let (cm, nm) = (&current.bundle().get().manifest(), &next.bundle().get().manifest());
    let (cmeta, nmeta) = (current.metadata(), next.metadata());
    let mut checks = Vec::new();
    let mut changes = Changes::default();

    checks.push(
        Check::new(
            "upgrade.product",
            cm.release.product == nm.release.product,
            if cm.release.product == nm.release.product { "same product".to_string() } else { "NEXT is a different product".into() },
        )
        .values(cm.release.product.clone(), nm.release.product.clone()),
    );
    checks.push(version_check(&cm.release.version, &nm.release.version, same));

    let set = |it: &mut dyn Iterator<Item = String>| it.collect::<BTreeSet<String>>();
    let (ci, ni) = (set(&mut cmeta.installers.iter().map(|i| i.platform())), set(&mut nmeta.installers.iter().map(|i| i.platform())));
    changes.installers = Delta::of(&ci, &ni);
    checks.push(removal_check("upgrade.installer-targets", "installer targets", &changes.installers, ci.len()));
    let (cd, nd) = (set(&mut cmeta.deployments.iter().map(|d| d.id.clone())), set(&mut nmeta.deployments.iter().map(|d| d.id.clone())));
    changes.deployments = Delta::of(&cd, &nd);
    checks.push(removal_check("upgrade.deployment-targets", "deployment targets", &changes.deployments, cd.len()));
    let (ck, nk) = (evidence_kinds(current), evidence_kinds(next));
    changes.evidence_kinds = Delta::of(&ck, &nk);
    checks.push(removal_check("upgrade.evidence-kinds", "evidence kinds", &changes.evidence_kinds, ck.len()));
    let (cc, nc) = (set(&mut cmeta.controls.iter().cloned()), set(&mut nmeta.controls.iter().cloned()));
    changes.controls = Delta::of(&cc, &nc);
    checks.push(removal_check("upgrade.controls", "release controls", &changes.controls, cc.len()));

    let (cch, nch) = (set(&mut cmeta.channels.iter().map(|c| c.name.clone())), set(&mut nmeta.channels.iter().map(|c| c.name.clone())));
    changes.channels = Delta::of(&cch, &nch);
    let next_channels: BTreeMap<&str, &Channel> = nmeta.channels.iter().map(|c| (c.name.as_str(), c)).collect();
    for c in &cmeta.channels {
        match next_channels.get(c.name.as_str()) {
            None => checks.push(
                Check::new("upgrade.channel", false, "channel removed: its endpoints would have no policy")
                    .subject(&c.name)
                    .values("present", "absent"),
            ),
            Some(n) => checks.extend(channel_checks(c, n)),
        }
    }

    let (cs, ns): (BTreeSet<KeyId>, BTreeSet<KeyId>) =
        (current.bundle().get().signers().iter().copied().collect(), next.bundle().get().signers().iter().copied().collect());
    changes.signers = Delta::of(&cs.iter().map(KeyId::hex).collect(), &ns.iter().map(KeyId::hex).collect());
    let (sig_checks, new_signers) = signer_checks(&cs, &ns, authority);
    checks.extend(sig_checks);
    changes.new_signers = new_signers;
    Comparison { checks, changes }
}

fn version_check(cur: &str, next: &str, same: SameVersion) -> Check {
    let (c, n) = match (semver::Version::parse(cur), semver::Version::parse(next)) {
        (Ok(c), Ok(n)) => (c, n),
        _ => return Check::new("upgrade.version", false, "a version is not SemVer 2.0.0").values(cur, next),
    };
    let pre = |v: &semver::Version| if v.pre.is_empty() { "" } else { " (pre-release)" };
    match n.cmp_precedence(&c) {
        Ordering::Greater => Check::new("upgrade.version", true, format!("{next}{} is newer than {cur}{}", pre(&n), pre(&c))),
        Ordering::Equal if same == SameVersion::Allow => {
            Check::new("upgrade.version", true, format!("{next} has the same precedence as {cur}; allowed by --allow-same-version"))
        }
        Ordering::Equal => Check::new(
            "upgrade.version",
            false,
            format!("{next} has the same precedence as {cur}; pass --allow-same-version if a re-packed release is intended"),
        )
        .values(format!("> {cur}"), next),
        Ordering::Less => Check::new(
            "upgrade.version",
            false,
            format!(
                "rollback: {next}{} precedes {cur}{} (SemVer 2.0.0 §11{})",
                pre(&n),
                pre(&c),
                if n.pre.is_empty() && c.pre.is_empty() { "" } else { ": a pre-release precedes its release" }
            ),
        )
        .values(format!("> {cur}"), next),
    }
}

fn channel_checks(c: &Channel, n: &Channel) -> Vec<Check> {
    let mut out = Vec::new();
    let weak = |what: String, exp: String, act: String| Check::new("upgrade.channel", false, what).subject(&c.name).values(exp, act);
    if !c.auto_update && n.auto_update {
        out.push(weak("automatic updates turned on".into(), "autoUpdate false".into(), "autoUpdate true".into()));
    }
    if c.approval_required && !n.approval_required {
        out.push(weak("approval no longer required".into(), "approvalRequired true".into(), "approvalRequired false".into()));
    }
    let next_rings: BTreeMap<&str, &super::Ring> = n.rings.iter().map(|r| (r.name.as_str(), r)).collect();
    for r in &c.rings {
        match next_rings.get(r.name.as_str()) {
            None => out.push(weak(format!("ring {} removed", r.name), format!("ring {}", r.name), "absent".into())),
            Some(nr) => {
                if nr.soak_hours < r.soak_hours {
                    out.push(weak(
                        format!("ring {} soak shortened", r.name),
                        format!("soakHours >= {}", r.soak_hours),
                        format!("soakHours {}", nr.soak_hours),
                    ));
                }
                if nr.max_percent > r.max_percent {
                    out.push(weak(
                        format!("ring {} widened", r.name),
                        format!("maxPercent <= {}", r.max_percent),
                        format!("maxPercent {}", nr.max_percent),
                    ));
                }
            }
        }
    }
    for (what, cur, next) in [
        ("hold condition", &c.hold_conditions, &n.hold_conditions),
        ("rollback requirement", &c.rollback_requirements, &n.rollback_requirements),
    ] {
        let gone: Vec<&String> = cur.iter().filter(|x| !next.contains(x)).collect();
        if !gone.is_empty() {
            out.push(weak(format!("{what}(s) removed"), gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "), "absent".into()));
        }
    }
    if out.is_empty() {
        out.push(
            Check::new(
                "upgrade.channel",
                true,
                format!(
                    "not weaker: autoUpdate {}, approvalRequired {}, {} ring(s), soak and width kept",
                    n.auto_update,
                    n.approval_required,
                    n.rings.len()
                ),
            )
            .subject(&c.name),
        );
    }
    out
}

/// Finds the rotation that admitted `k` to the role as it stands at the end of `history`: the
/// start of the last unbroken run of versions whose role holds `k`.
fn introduction(history: &[RoleVersion], k: &KeyId) -> Option<(usize, Option<Rotation>)> {
    let last = history.len().checked_sub(1)?;
    if !history[last].keyids.contains(k) {
        return None;
    }
    let mut i = last;
    while i > 0 && history[i - 1].keyids.contains(k) {
        i -= 1;
    }
    let rotation = (i > 0).then(|| Rotation { from_version: history[i - 1].root_version, to_version: history[i].root_version });
    Some((i, rotation))
}

fn signer_checks(cur: &BTreeSet<KeyId>, next: &BTreeSet<KeyId>, authority: &SignerAuthority) -> (Vec<Check>, Vec<NewSigner>) {
    let mut checks = Vec::new();
    let mut new = Vec::new();
    let added: Vec<&KeyId> = next.difference(cur).collect();
    match authority {
        SignerAuthority::Keys { source, keyids, threshold } => {
            let counted = next.iter().filter(|k| keyids.contains(k)).count();
            checks.push(
                Check::new(
                    "upgrade.signers",
                    counted >= *threshold,
                    format!(
                        "NEXT signed by {counted} of the {} keys given with {source} (threshold {threshold}); signer continuity was checked against these keys only, without a trust-root history",
                        keyids.len()
                    ),
                )
                .values(format!(">= {threshold}"), counted.to_string()),
            );
            for k in added {
                let trusted = keyids.contains(k);
                let detail = if trusted {
                    format!("new signer: one of the keys given with {source}; no trust root, so no rotation to report")
                } else {
                    format!("new signer is not among the keys given with {source}")
                };
                checks.push(Check::new("upgrade.signer-change", trusted, detail.clone()).subject(k.hex()));
                new.push(NewSigner { keyid: k.hex(), introduced_by: None, detail });
            }
        }
        SignerAuthority::TrustRoot { source, history } => {
            let Some(role) = history.last() else {
                checks.push(Check::new("upgrade.signers", false, format!("{source} gave no release role to check NEXT's signers against")));
                return (checks, new);
            };
            let counted = next.iter().filter(|k| role.keyids.contains(k)).count();
            checks.push(
                Check::new(
                    "upgrade.signers",
                    counted >= role.threshold,
                    format!(
                        "NEXT signed by {counted} key(s) of the release role as of trust-root version {} (threshold {})",
                        role.root_version, role.threshold
                    ),
                )
                .values(format!(">= {}", role.threshold), counted.to_string()),
            );
            for k in added {
                let (ok, introduced_by, detail) = match introduction(history, k) {
                    None => (false, None, format!("new signer is not in the release role of trust-root version {}", role.root_version)),
                    Some((_, Some(r))) => (
                        true,
                        Some(r.clone()),
                        format!(
                            "new signer admitted to the release role by the trust-root rotation {} -> {}",
                            r.from_version, r.to_version
                        ),
                    ),
                    Some((i, None)) => {
                        (true, None, format!("new signer in the release role since trust-root version {}", history[i].root_version))
                    }
                };
                checks.push(Check::new("upgrade.signer-change", ok, detail.clone()).subject(k.hex()));
                new.push(NewSigner { keyid: k.hex(), introduced_by, detail });
            }
        }
    }
    for k in cur.difference(next) {
        checks.push(Check::new("upgrade.signer-change", true, "CURRENT's signer did not sign NEXT").subject(k.hex()).info());
    }
    (checks, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::keys::SecretKey;
    use crate::release::tests::sample;
    use crate::release::{METADATA_PATH, ReleaseMetadata};
    use crate::report::Status;
    use crate::verify::{self, TrustPolicy, Verification, Verified, VerifiedBundle};

    const BIN: &[u8] = b"\x7fELF pretend binary";

    /// Packs (tar, in memory) and verifies a bundle; returns the witness and the metadata bytes.
    fn bundle(version: &str, meta: &ReleaseMetadata, extra: &[&str], key: &SecretKey) -> (Box<Verified<VerifiedBundle>>, Vec<u8>) {
        let meta_bytes = meta.to_bytes();
        let mut files: Vec<(String, Vec<u8>)> =
            vec![("artifacts/app-linux-amd64".into(), BIN.to_vec()), (METADATA_PATH.into(), meta_bytes.clone())];
        files.extend(extra.iter().map(|p| (p.to_string(), b"{}".to_vec())));
        let members = files
            .iter()
            .map(|(p, b)| crate::bundle::manifest::Member {
                path: p.clone(),
                size: b.len() as u64,
                digest: Sha256Digest::of(b),
                kind: Kind::of_path(p).unwrap(),
            })
            .collect();
        let release = crate::bundle::manifest::Release { product: "app".into(), version: version.into(), commit: None, channel: None };
        let plan = crate::pack::plan(release, crate::time::Timestamp(1_700_000_000), members, &[key], Vec::new()).unwrap();
        let mut open = |name: &str| -> std::io::Result<Box<dyn std::io::Read>> {
            let b = plan.control_bytes(name).map(<[u8]>::to_vec).unwrap_or_else(|| files.iter().find(|f| f.0 == name).unwrap().1.clone());
            Ok(Box::new(std::io::Cursor::new(b)))
        };
        let bytes = crate::archive::write::write_tar(Vec::new(), &plan.members, crate::time::Timestamp(1_700_000_000), &mut open).unwrap();
        let trust = TrustPolicy::ed25519([key.public().clone()], 1, "test");
        match verify::verify(&bytes, &trust, &verify::Options::default(), &|_| {}).unwrap() {
            Verification::Passed(v, _) => (v, meta_bytes),
            Verification::Failed(r) => panic!("{r:?}"),
        }
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn keys_authority(ks: &[&SecretKey]) -> SignerAuthority {
        SignerAuthority::Keys { source: "--key".into(), keyids: ks.iter().map(|k| k.public().keyid()).collect(), threshold: 1 }
    }

    fn run(
        cur: (&str, &ReleaseMetadata, &[&str], &SecretKey),
        next: (&str, &ReleaseMetadata, &[&str], &SecretKey),
        auth: &SignerAuthority,
        same: SameVersion,
    ) -> Comparison {
        let (cv, cb) = bundle(cur.0, cur.1, cur.2, cur.3);
        let (nv, nb) = bundle(next.0, next.1, next.2, next.3);
        let c = BoundMetadata::bind(&cv, &cb).unwrap();
        let n = BoundMetadata::bind(&nv, &nb).unwrap();
        compare(&c, &n, auth, same)
    }

    fn failed(c: &Comparison) -> Vec<(&'static str, Option<String>)> {
        let id = |c: &Check| match c.id {
            std::borrow::Cow::Borrowed(s) => s,
            std::borrow::Cow::Owned(_) => panic!("upgrade check ids are static"),
        };
        c.checks.iter().filter(|c| c.status == Status::Fail).map(|c| (id(c), c.subject.clone())).collect()
    }

    #[test]
    fn versions_order_by_semver_precedence() {
        let m = sample(Sha256Digest::of(BIN));
        let a = key(1);
        let auth = keys_authority(&[&a]);
        let case = |cur: &str, next: &str, same| failed(&run((cur, &m, &[], &a), (next, &m, &[], &a), &auth, same));
        assert!(case("1.2.0", "1.3.0-rc.1", SameVersion::Refuse).is_empty());
        assert!(case("1.2.0-rc.1", "1.2.0", SameVersion::Refuse).is_empty());
        assert_eq!(case("1.2.0", "1.1.9", SameVersion::Refuse), [("upgrade.version", None)]);
        assert_eq!(case("1.2.0", "1.2.0-rc.1", SameVersion::Refuse), [("upgrade.version", None)]);
        assert_eq!(case("1.2.0-rc.2", "1.2.0-rc.10", SameVersion::Refuse), []);
        assert_eq!(case("1.2.0", "1.2.0", SameVersion::Refuse), [("upgrade.version", None)]);
        assert_eq!(case("1.2.0", "1.2.0+build.7", SameVersion::Refuse), [("upgrade.version", None)], "build metadata has no precedence");
        assert!(case("1.2.0", "1.2.0", SameVersion::Allow).is_empty());
    }

    #[test]
    fn removals_and_weakening_fail_and_are_listed() {
        let m = sample(Sha256Digest::of(BIN));
        let a = key(1);
        let auth = keys_authority(&[&a]);
        let mut n = m.clone();
        n.controls.retain(|c| c != "sbom");
        n.controls.push("smoke-before-rollout".into());
        n.deployments.clear();
        let mut ch = n.channels[0].clone();
        ch.auto_update = true;
        ch.approval_required = false;
        ch.rings[0].soak_hours = 1;
        ch.rings.remove(1);
        ch.hold_conditions.clear();
        n.channels = vec![ch];
        let r = run(("1.0.0", &m, &["sbom/s.json", "vex/v.json"], &a), ("1.1.0", &n, &["sbom/s.json"], &a), &auth, SameVersion::Refuse);
        let f = failed(&r);
        for id in ["upgrade.controls", "upgrade.deployment-targets", "upgrade.evidence-kinds"] {
            assert!(f.contains(&(id, None)), "{id} not in {f:?}");
        }
        assert_eq!(f.iter().filter(|c| c.0 == "upgrade.channel").count(), 5, "{f:?}");
        assert_eq!(r.changes.controls, Delta { added: vec!["smoke-before-rollout".into()], removed: vec!["sbom".into()] });
        assert_eq!(r.changes.evidence_kinds.removed, ["vex"]);
        assert_eq!(r.changes.deployments.removed, ["gha-linux"]);

        let mut n = m.clone();
        n.installers.clear();
        n.deployments.clear();
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &n, &[], &a), &auth, SameVersion::Refuse);
        assert!(failed(&r).contains(&("upgrade.installer-targets", None)));
        assert_eq!(r.changes.installers.removed, ["linux/amd64"]);

        let mut n = m.clone();
        n.channels.clear();
        n.deployments.clear();
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &n, &[], &a), &auth, SameVersion::Refuse);
        assert!(failed(&r).contains(&("upgrade.channel", Some("stable".into()))));
    }

    #[test]
    fn signer_change_is_traced_to_the_rotation_that_allowed_it() {
        let m = sample(Sha256Digest::of(BIN));
        let (a, b, c) = (key(1), key(2), key(3));
        let role =
            |v, ks: &[&SecretKey]| RoleVersion { root_version: v, keyids: ks.iter().map(|k| k.public().keyid()).collect(), threshold: 1 };
        let rotated =
            SignerAuthority::TrustRoot { source: "trust root".into(), history: vec![role(1, &[&a]), role(2, &[&a]), role(3, &[&b])] };
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &m, &[], &b), &rotated, SameVersion::Refuse);
        assert!(failed(&r).is_empty(), "{:?}", r.checks);
        assert_eq!(r.changes.new_signers[0].introduced_by, Some(Rotation { from_version: 2, to_version: 3 }));
        assert_eq!(r.changes.signers.removed, [a.public().keyid().hex()]);
        assert!(r.checks.iter().any(|c| c.id == "upgrade.signer-change" && c.detail.contains("rotation 2 -> 3")));

        // Signed by a key the release role never held: fails even if verification trusted it.
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &m, &[], &c), &rotated, SameVersion::Refuse);
        let f = failed(&r);
        assert!(f.contains(&("upgrade.signers", None)), "{f:?}");
        assert!(f.contains(&("upgrade.signer-change", Some(c.public().keyid().hex()))), "{f:?}");

        // Plain keys: continuity against the given keys, said so.
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &m, &[], &b), &keys_authority(&[&a, &b]), SameVersion::Refuse);
        assert!(failed(&r).is_empty());
        assert!(r.checks.iter().any(|c| c.id == "upgrade.signers" && c.detail.contains("checked against these keys only")));
        let r = run(("1.0.0", &m, &[], &a), ("1.1.0", &m, &[], &b), &keys_authority(&[&a]), SameVersion::Refuse);
        assert!(failed(&r).contains(&("upgrade.signers", None)));
    }

    #[test]
    fn metadata_must_be_the_verified_member() {
        let m = sample(Sha256Digest::of(BIN));
        let (v, bytes) = bundle("1.0.0", &m, &[], &key(1));
        let mut other = m.clone();
        other.controls.clear();
        assert!(matches!(BoundMetadata::bind(&v, &other.to_bytes()), Err(crate::release::ReleaseError::Digest { .. })));
        assert!(BoundMetadata::bind(&v, &bytes).is_ok());
    }
}
