//! Anti-rollback and freshness state, as a pure state machine over [`Timestamp`] values.
//!
//! The trust store keeps: a latest-known time that never goes backwards (an air-gapped box
//! without NTP must notice a clock set back to make an expired root or bundle look fresh), the
//! highest trust-root version installed (a restored old store file is noticed), and per product
//! and channel the newest bundle accepted (an older release offered later is a rollback).
//! [`evaluate`] turns these into report checks for `airlock verify`; the shell persists the
//! returned next state. Time comes in as an [`EvalTime`], never from the clock.

use crate::bundle::manifest::Release;
use crate::report::{Check, Status};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// `format` of the state file.
pub const STATE_FORMAT: &str = "airlock-trust-state/v1";

/// The persisted anti-rollback state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct State {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// Latest clock reading seen; never decreases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_known_time: Option<Timestamp>,
    /// Highest trust-root version installed; never decreases.
    pub highest_root_version: u64,
    /// When the current root was installed (clock time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_installed_at: Option<Timestamp>,
    /// Newest accepted bundle per product ([`product_key`]). Files written before the scope
    /// was the product hold `product/channel` keys too: [`State::newest`] reads both, and a
    /// write replaces all of a product's entries by one under its product key.
    #[serde(default)]
    pub bundles: BTreeMap<String, Accepted>,
}

impl Default for State {
    fn default() -> Self {
        State {
            format: STATE_FORMAT.into(),
            latest_known_time: None,
            highest_root_version: 0,
            root_installed_at: None,
            bundles: BTreeMap::new(),
        }
    }
}

/// The newest bundle accepted for one product and channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Accepted {
    /// Release version (semver).
    pub version: String,
    /// Its manifest `createdAt`.
    pub created_at: Timestamp,
    /// Its bundle id.
    pub bundle_id: String,
    /// When it was accepted (clock time).
    pub accepted_at: Timestamp,
    /// Its channel, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Why an older release than the one accepted before was accepted (`--allow-downgrade`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrade_reason: Option<String>,
}

/// The time a verification is evaluated at. The two cases are named because one of them turns
/// the clock and rollback protections into information only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalTime {
    /// The system clock: checked against the latest-known time, and recorded.
    Clock(Timestamp),
    /// A time the operator fixed (`--at-time`): rollback findings are reported but do not fail,
    /// and nothing is recorded. Expiry is never judged before `floor`: an operator-supplied
    /// time cannot revive an expired trust root or approval.
    OperatorFixed {
        /// The time given.
        at: Timestamp,
        /// The real clock read with it (the command's one reading), raised to the trust store's
        /// latest known time when verification consulted the store.
        floor: Timestamp,
    },
}

impl EvalTime {
    /// The instant.
    pub fn instant(self) -> Timestamp {
        match self {
            EvalTime::Clock(t) | EvalTime::OperatorFixed { at: t, .. } => t,
        }
    }

    /// The instant expiry is judged at: the clock, or max(`--at-time`, real clock, latest known
    /// time) under an override.
    pub fn expiry_instant(self) -> Timestamp {
        match self {
            EvalTime::Clock(t) => t,
            EvalTime::OperatorFixed { at, floor } => at.max(floor),
        }
    }

    /// Whether the operator fixed the time (`--at-time`).
    pub fn overridden(self) -> bool {
        matches!(self, EvalTime::OperatorFixed { .. })
    }

    /// The same time with the expiry floor raised to `latest` (a time already seen).
    pub fn with_floor(self, latest: Option<Timestamp>) -> EvalTime {
        match (self, latest) {
            (EvalTime::OperatorFixed { at, floor }, Some(l)) => EvalTime::OperatorFixed { at, floor: floor.max(l) },
            (t, _) => t,
        }
    }

    /// How a decision document states it.
    pub fn evaluation(self) -> Evaluation {
        Evaluation { time: self.instant(), overridden: self.overridden(), expiry_judged_at: self.expiry_instant() }
    }
}

/// The evaluation time as every decision document records it (`evaluation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Evaluation {
    /// The time the decision was evaluated at (the clock, or `--at-time`).
    pub time: Timestamp,
    /// Whether the operator fixed it (`--at-time`).
    pub overridden: bool,
    /// The time expiry (trust root, approvals, break-glass) was judged at: `time`, or under an
    /// override max(`--at-time`, real clock, latest known time).
    pub expiry_judged_at: Timestamp,
}

/// The clock reads earlier than a time already seen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the clock reads {now}, earlier than the latest known time {latest} ({} seconds back): refusing to trust it (rule freshness.clock)", latest.0 - now.0)]
pub struct ClockWentBackwards {
    /// The clock reading.
    pub now: Timestamp,
    /// The latest known time.
    pub latest: Timestamp,
}

impl State {
    /// Records a clock reading; refuses one earlier than the latest known time.
    pub fn observe_clock(&self, now: Timestamp) -> Result<State, ClockWentBackwards> {
        match self.latest_known_time {
            Some(latest) if now < latest => Err(ClockWentBackwards { now, latest }),
            _ => Ok(State { latest_known_time: Some(now), ..self.clone() }),
        }
    }

    /// Records an installed root version (never lowering the highest one).
    pub fn root_installed(&self, version: u64, at: Timestamp) -> State {
        State { highest_root_version: self.highest_root_version.max(version), root_installed_at: Some(at), ..self.clone() }
    }
}

/// The key bundles are tracked under: the product name in Unicode lowercase
/// ([`str::to_lowercase`]), whatever the channel: `App` on `beta` and `app` with no channel are
/// the same product as `app` on `stable`.
pub fn product_key(product: &str) -> String {
    product.to_lowercase()
}

/// The product key of a stored entry's key, `product` or (in files written before the scope
/// was the product) `product/channel`.
fn entry_product(key: &str) -> String {
    product_key(key.split('/').next().unwrap_or(key))
}

impl State {
    /// The newest release accepted for `product` on any channel (compared by [`product_key`]).
    pub fn newest(&self, product: &str) -> Option<&Accepted> {
        let key = product_key(product);
        self.bundles
            .iter()
            .filter(|(k, _)| entry_product(k) == key)
            .map(|(_, a)| a)
            .max_by(|a, b| release_order(&a.version, a.created_at, &b.version, b.created_at))
    }

    /// Records `acc` as the newest release of `product`, replacing every entry of that product
    /// (old `product/channel` keys included: migrated on write).
    pub fn accept(&mut self, product: &str, acc: Accepted) {
        let key = product_key(product);
        self.bundles.retain(|k, _| entry_product(k) != key);
        self.bundles.insert(key, acc);
    }
}

/// Orders two releases of one product and channel: semver precedence, then `createdAt`.
pub fn release_order(version: &str, created_at: Timestamp, other_version: &str, other_created: Timestamp) -> Ordering {
    match (semver::Version::parse(version), semver::Version::parse(other_version)) {
        (Ok(a), Ok(b)) => a.cmp_precedence(&b).then(created_at.cmp(&other_created)),
        _ => version.cmp(other_version).then(created_at.cmp(&other_created)),
    }
}

/// The trust root facts freshness needs.
#[derive(Clone, Copy, Debug)]
pub struct RootFacts {
    /// Root version.
    pub version: u64,
    /// Root expiry.
    pub expires: Timestamp,
}

/// The bundle facts freshness needs.
#[derive(Clone, Copy, Debug)]
pub struct BundleFacts<'a> {
    /// Release identity.
    pub release: &'a Release,
    /// Manifest `createdAt`.
    pub created_at: Timestamp,
    /// Bundle id.
    pub bundle_id: &'a str,
    /// What the bundle is to this verification.
    pub role: BundleRole,
    /// An intended downgrade and why (`--allow-downgrade REASON`): an older release than the one
    /// accepted before passes, says so, and becomes the accepted one.
    pub downgrade: Option<&'a str>,
}

/// What a bundle is to the verification judging it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleRole {
    /// A release being accepted: an older release than one already accepted for its product and
    /// channel is a rollback and fails (`verify`, `gate`, `smoke`, NEXT of `upgrade-validate`).
    Candidate,
    /// The release being replaced (CURRENT of `upgrade-validate`): a newer accepted release of
    /// its channel (NEXT itself, often) is reported, not enforced; it is never recorded.
    Baseline,
}

/// Whether a passing bundle becomes the newest accepted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Trust came from the pinned store: record the clock and accepted bundles.
    Store,
    /// Ad-hoc trust (`--key`, `--trust-root`): read the state, change nothing.
    ReadOnly,
}

/// Freshness checks and the state to persist.
#[derive(Clone, Debug)]
pub struct Freshness {
    /// Checks to append to the report.
    pub checks: Vec<Check>,
    /// The next state, when something is to be recorded.
    pub next: Option<State>,
}

/// Evaluates clock, root expiry, root version and bundle order. `verified` says whether every
/// other check of the verification passed (only then is a bundle recorded as accepted).
pub fn evaluate(
    state: &State,
    root: Option<RootFacts>,
    bundle: Option<&BundleFacts<'_>>,
    time: EvalTime,
    verified: bool,
    record: Record,
) -> Freshness {
    let now = time.instant();
    let mut checks = Vec::new();
    let fixed = time.overridden();
    // 1. The clock.
    let latest = state.latest_known_time.map(|t| t.to_string()).unwrap_or_else(|| "(none yet)".into());
    checks.push(match time {
        EvalTime::Clock(t) => {
            let ok = state.latest_known_time.is_none_or(|l| t >= l);
            Check::new(
                "freshness.clock",
                ok,
                if ok {
                    format!("system clock {t} is not earlier than the latest known time")
                } else {
                    "system clock is earlier than a time already seen: it went backwards (pass --at-time to verify as of a stated time)"
                        .into()
                },
            )
            .values(format!(">= {latest}"), t.to_string())
        }
        EvalTime::OperatorFixed { at: t, floor } => Check::new(
            "freshness.clock",
            true,
            format!(
                "evaluated at {t} as given by --at-time; anti-rollback is report-only and expiry is judged at {} (never before the real clock or the latest known time)",
                t.max(floor)
            ),
        )
        .values(format!("latest known {latest}"), t.to_string())
        .info(),
    });
    // 2. The root.
    if let Some(r) = root {
        let judged = time.with_floor(state.latest_known_time).expiry_instant();
        let ok = r.expires > judged;
        checks.push(
            Check::new(
                "trust.root-expiry",
                ok,
                if ok {
                    format!("trust root v{} is valid until {}", r.version, r.expires)
                } else {
                    format!("trust root v{} has expired", r.version)
                },
            )
            .values(format!("> {judged}"), r.expires.to_string()),
        );
        let ok = r.version >= state.highest_root_version;
        checks.push(
            Check::new(
                "trust.root-version",
                ok,
                if ok {
                    format!("trust root v{} is not older than the highest version installed here", r.version)
                } else {
                    "trust root is older than a version already installed here (a rolled-back trust store)".into()
                },
            )
            .values(format!(">= {}", state.highest_root_version), r.version.to_string()),
        );
    }
    // 3. Bundle order for this product, across channels (only for a bundle whose manifest was
    // read).
    let mut newer: Option<(String, Accepted)> = None;
    if let Some(bundle) = bundle {
        let product = &bundle.release.product;
        let key = product_key(product);
        let prev = state.newest(product);
        let order = prev.map(|p| release_order(&bundle.release.version, bundle.created_at, &p.version, p.created_at));
        let older = order == Some(Ordering::Less);
        let on = |c: &Option<String>| c.as_deref().map_or_else(|| "no channel".to_string(), |c| format!("channel {c}"));
        let expected = prev
            .map(|p| format!(">= {} (createdAt {}, {})", p.version, p.created_at, on(&p.channel)))
            .unwrap_or_else(|| "any (none accepted yet)".into());
        let actual = format!("{} (createdAt {}, {})", bundle.release.version, bundle.created_at, on(&bundle.release.channel));
        let downgrade = bundle.downgrade.filter(|_| older && bundle.role == BundleRole::Candidate);
        let mut c = Check::new(
            "freshness.bundle-order",
            !older || downgrade.is_some(),
            match (prev, older) {
                (None, _) => format!("first bundle seen for product {key} (any channel)"),
                (Some(p), false) => format!("not older than {} {} accepted before for product {key} (any channel)", product, p.version),
                (Some(p), true) => match downgrade {
                    Some(why) => format!(
                        "older than {} {} already accepted for product {key}: an intended downgrade (--allow-downgrade {why:?})",
                        product,
                        p.version
                    ),
                    None => format!(
                        "older than {} {} already accepted for product {key} (any channel): a rollback; pass --allow-downgrade REASON if it is intended",
                        product,
                        p.version
                    ),
                },
            },
        )
        .subject(key.clone())
        .values(expected, actual);
        if older && fixed && downgrade.is_none() {
            c.status = Status::Info;
            c.detail.push_str(" (report-only under --at-time)");
        } else if older && bundle.role == BundleRole::Baseline {
            c.status = Status::Info;
            c.detail.push_str(" (report-only for CURRENT, the release being replaced)");
        }
        checks.push(c);
        if bundle.created_at > now {
            checks.push(
                Check::new(
                    "freshness.bundle-created",
                    true,
                    "bundle createdAt is later than the evaluation time (a clock behind, or a pre-dated bundle)",
                )
                .values(format!("<= {now}"), bundle.created_at.to_string())
                .info(),
            );
        }
        if verified && bundle.role == BundleRole::Candidate && (matches!(order, None | Some(Ordering::Greater)) || downgrade.is_some()) {
            newer = Some((
                product.clone(),
                Accepted {
                    version: bundle.release.version.clone(),
                    created_at: bundle.created_at,
                    bundle_id: bundle.bundle_id.to_string(),
                    accepted_at: now,
                    channel: bundle.release.channel.clone(),
                    downgrade_reason: downgrade.map(str::to_string),
                },
            ));
        }
    }
    // 4. What to record.
    let all_ok = checks.iter().all(|c| c.status != Status::Fail);
    let next = match (time, record) {
        (EvalTime::Clock(t), Record::Store) if checks[0].status == Status::Pass => {
            let mut s = state.observe_clock(t).unwrap_or_else(|_| state.clone());
            if let Some((product, acc)) = newer.filter(|_| all_ok) {
                s.accept(&product, acc);
            }
            Some(s)
        }
        _ => None,
    };
    Freshness { checks, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn rel(v: &str) -> Release {
        Release { product: "app".into(), version: v.into(), commit: None, channel: Some("stable".into()) }
    }

    fn failed(f: &Freshness) -> Vec<&str> {
        f.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_ref()).collect()
    }

    #[test]
    fn clock_backwards_fails_unless_time_is_fixed() {
        let s = State { latest_known_time: Some(t("2030-01-02T00:00:00Z")), ..State::default() };
        let r = rel("1.0.0");
        let b = BundleFacts {
            release: &r,
            created_at: t("2029-01-01T00:00:00Z"),
            bundle_id: "x",
            role: BundleRole::Candidate,
            downgrade: None,
        };
        let f = evaluate(&s, None, Some(&b), EvalTime::Clock(t("2030-01-01T00:00:00Z")), true, Record::Store);
        assert_eq!(failed(&f), ["freshness.clock"]);
        assert!(f.next.is_none(), "nothing is recorded from a clock that went backwards");
        let f = evaluate(
            &s,
            None,
            Some(&b),
            EvalTime::OperatorFixed { at: t("2030-01-01T00:00:00Z"), floor: t("2030-01-01T00:00:00Z") },
            true,
            Record::Store,
        );
        assert!(failed(&f).is_empty());
        assert!(f.next.is_none());
        assert!(s.observe_clock(t("2030-01-01T00:00:00Z")).is_err());
        assert_eq!(s.observe_clock(t("2030-01-03T00:00:00Z")).unwrap().latest_known_time, Some(t("2030-01-03T00:00:00Z")));
    }

    #[test]
    fn older_bundle_is_a_rollback_and_newer_is_recorded() {
        let now = t("2030-01-01T00:00:00Z");
        let root = Some(RootFacts { version: 2, expires: t("2031-01-01T00:00:00Z") });
        let r2 = rel("1.2.0");
        let b2 = BundleFacts {
            release: &r2,
            created_at: t("2029-06-01T00:00:00Z"),
            bundle_id: "b2",
            role: BundleRole::Candidate,
            downgrade: None,
        };
        let f = evaluate(&State::default(), root, Some(&b2), EvalTime::Clock(now), true, Record::Store);
        assert!(failed(&f).is_empty());
        let s = f.next.unwrap();
        assert_eq!(s.bundles["app"].version, "1.2.0");
        let r1 = rel("1.10.0-rc.1");
        let b1 = BundleFacts {
            release: &r1,
            created_at: t("2029-07-01T00:00:00Z"),
            bundle_id: "b1",
            role: BundleRole::Candidate,
            downgrade: None,
        };
        let f = evaluate(&s, root, Some(&b1), EvalTime::Clock(now), true, Record::Store);
        assert!(failed(&f).is_empty(), "1.10.0-rc.1 is newer than 1.2.0 by semver precedence");
        let r0 = rel("1.1.9");
        let b0 = BundleFacts {
            release: &r0,
            created_at: t("2029-08-01T00:00:00Z"),
            bundle_id: "b0",
            role: BundleRole::Candidate,
            downgrade: None,
        };
        let f = evaluate(&s, root, Some(&b0), EvalTime::Clock(now), true, Record::Store);
        assert_eq!(failed(&f), ["freshness.bundle-order"]);
        assert_eq!(f.next.unwrap().bundles["app"].version, "1.2.0", "a rollback is not recorded");
        let f = evaluate(&s, root, Some(&b0), EvalTime::OperatorFixed { at: now, floor: now }, true, Record::Store);
        assert!(failed(&f).is_empty());
        // Expired root and a rolled-back store fail either way.
        let old = Some(RootFacts { version: 1, expires: t("2029-01-01T00:00:00Z") });
        let s3 = State { highest_root_version: 2, ..s };
        let f = evaluate(&s3, old, Some(&b2), EvalTime::OperatorFixed { at: now, floor: now }, true, Record::Store);
        assert_eq!(failed(&f), ["trust.root-expiry", "trust.root-version"]);
    }
}
