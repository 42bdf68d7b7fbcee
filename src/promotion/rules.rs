//! The promotion rules (sans-I/O): each a function of values — documents already opened, the
//! bundle's reference and release metadata, the role keys, the history the ledger holds (as a
//! [`History`] value) and the time — returning checks named `promotion.*`. [`decide_execution`]
//! runs them all for one execution; it produces an [`Execution`] only when every check passed.

use super::PromotionError;
use super::{
    Approval, BundleRef, Decision, Document, Execution, HoldAction, Opened, Position, PromotionRequest, RolloutRecord, RolloutStatus,
    TransitionKind,
};
use crate::digest::Sha256Digest;
use crate::release::{Channel, ReleaseMetadata};
use crate::report::{Check, Status};
use crate::time::Timestamp;
use crate::trust::role::RoleKeys;
use std::collections::BTreeSet;

/// An executed transition as the ledger remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// Digest of the execution's payload.
    pub execution: Sha256Digest,
    /// The execution itself.
    pub doc: Execution,
}

/// A hold or resume as the ledger remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldEvent {
    /// Product.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Hold or resume.
    pub action: HoldAction,
    /// When.
    pub at: Timestamp,
}

/// What the ledger knows of earlier promotion steps, in the order they were recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Executed transitions.
    pub executions: Vec<Executed>,
    /// Holds and resumptions.
    pub holds: Vec<HoldEvent>,
    /// The latest time any recorded step was decided at.
    pub latest: Option<Timestamp>,
}

impl History {
    /// Where `bundle` is now and since when: the target of its latest execution, else where
    /// the rollout record put it (since its capture).
    pub fn position(&self, bundle: &BundleRef, rollout: &RolloutRecord) -> (Position, Timestamp) {
        self.executions
            .iter()
            .rev()
            .find(|e| e.doc.bundle.bundle_id == bundle.bundle_id)
            .map(|e| (e.doc.to.clone(), e.doc.executed_at))
            .unwrap_or_else(|| (rollout.position.clone(), rollout.captured_at))
    }

    /// True when the latest hold event for `product`'s `channel` is a hold.
    pub fn held(&self, product: &str, channel: &str) -> bool {
        self.holds.iter().rev().find(|h| h.product == product && h.channel == channel).is_some_and(|h| h.action == HoldAction::Hold)
    }
}

fn channel<'m>(meta: &'m ReleaseMetadata, name: &str) -> Option<&'m Channel> {
    meta.channels.iter().find(|c| c.name == name)
}

fn ring_index(c: &Channel, ring: &str) -> Option<usize> {
    c.rings.iter().position(|r| r.name == ring)
}

/// `promotion.bundle`: the document names this bundle (id and manifest digest).
pub fn bundle_named(what: &str, named: &BundleRef, bundle: &BundleRef) -> Check {
    Check::new("promotion.bundle", named == bundle, format!("the {what} names this bundle by id and manifest digest"))
        .subject(what.to_string())
        .values(
            format!("{} {}", bundle.bundle_id, bundle.manifest_digest.prefixed()),
            format!("{} {}", named.bundle_id, named.manifest_digest.prefixed()),
        )
}

/// `promotion.position`: the channel and ring exist in the metadata.
pub fn position_exists(what: &str, p: &Position, meta: &ReleaseMetadata) -> Check {
    let ok = channel(meta, &p.channel).is_some_and(|c| ring_index(c, &p.ring).is_some());
    Check::new("promotion.position", ok, format!("the {what}'s channel and ring exist in the release metadata"))
        .subject(what.to_string())
        .values("a channel/ring of the metadata", p.to_string())
}

/// `promotion.deployments`: every deployment id exists in the metadata, in the rollout's channel.
pub fn deployments_exist(r: &RolloutRecord, meta: &ReleaseMetadata) -> Check {
    let bad: Vec<&str> = r
        .deployments
        .iter()
        .filter(|d| !meta.deployments.iter().any(|t| &t.id == *d && t.channel == r.position.channel))
        .map(String::as_str)
        .collect();
    Check::new(
        "promotion.deployments",
        bad.is_empty(),
        "every deployment id is a deployment target of the metadata in the rollout's channel",
    )
    .values("[]", format!("{bad:?}"))
}

/// The checks of a rollout record against the bundle and its metadata (`rollout verify`).
pub fn rollout_checks(r: &RolloutRecord, bundle: &BundleRef, meta: &ReleaseMetadata) -> Vec<Check> {
    vec![
        bundle_named("rollout record", &r.bundle, bundle),
        position_exists("rollout record", &r.position, meta),
        deployments_exist(r, meta),
    ]
}

/// `promotion.rollout-status`: the rollout is `staged` or `succeeded`.
pub fn rollout_ready(r: &RolloutRecord) -> Check {
    let ok = matches!(r.status, RolloutStatus::Staged | RolloutStatus::Succeeded);
    Check::new("promotion.rollout-status", ok, "the rollout is staged or succeeded before it is promoted")
        .values("staged|succeeded", format!("{:?}", r.status).to_lowercase())
}

/// The position a promotion of `kind` from `from` must reach: the next ring of the channel, or
/// the first ring of the next channel in the metadata's order. `None`: there is none.
pub fn next_position(kind: TransitionKind, from: &Position, meta: &ReleaseMetadata) -> Option<Position> {
    let ci = meta.channels.iter().position(|c| c.name == from.channel)?;
    let c = &meta.channels[ci];
    let ri = ring_index(c, &from.ring)?;
    match kind {
        TransitionKind::Ring => c.rings.get(ri + 1).map(|r| Position { channel: c.name.clone(), ring: r.name.clone() }),
        TransitionKind::Channel => {
            // Only from the channel's last ring: leaving earlier would skip rings.
            if ri + 1 != c.rings.len() {
                return None;
            }
            let n = meta.channels.get(ci + 1)?;
            n.rings.first().map(|r| Position { channel: n.name.clone(), ring: r.name.clone() })
        }
        TransitionKind::Rollback => None,
    }
}

/// `promotion.transition`: the request starts where the bundle is and goes to the next ring
/// (`ring`), the next channel (`channel`), or back to where the undone execution came from
/// (`rollback`, which must name an execution of this bundle in the history:
/// `promotion.rollback-execution`).
pub fn transition(req: &PromotionRequest, current: &Position, meta: &ReleaseMetadata, history: &History) -> Vec<Check> {
    let mut out = vec![
        Check::new("promotion.from", req.from == *current, "the request starts where the bundle is now")
            .values(current.to_string(), req.from.to_string()),
    ];
    match req.kind {
        TransitionKind::Ring | TransitionKind::Channel => {
            let (id, rule) = if req.kind == TransitionKind::Ring {
                ("promotion.ring-order", "the target is the next ring of the channel (no skipping, no moving backwards)")
            } else {
                (
                    "promotion.channel-order",
                    "the target is the first ring of the next channel in the metadata's order, from the last ring of this one",
                )
            };
            let want = next_position(req.kind, current, meta);
            out.push(
                Check::new(id, want.as_ref() == Some(&req.to), rule)
                    .values(want.map(|p| p.to_string()).unwrap_or_else(|| "(none: last one)".into()), req.to.to_string()),
            );
        }
        TransitionKind::Rollback => {
            let undone = req.rollback_of.as_ref().and_then(|d| history.executions.iter().find(|e| &e.execution == d));
            let ok = undone.is_some_and(|e| e.doc.bundle == req.bundle && e.doc.kind != TransitionKind::Rollback);
            out.push(
                Check::new(
                    "promotion.rollback-execution",
                    ok,
                    "a rollback undoes an authentic promotion of this bundle recorded in the ledger",
                )
                .values("an execution in the ledger", req.rollback_of.as_ref().map(Sha256Digest::prefixed).unwrap_or_default()),
            );
            if let Some(e) = undone {
                out.push(
                    Check::new(
                        "promotion.rollback-target",
                        e.doc.to == req.from && e.doc.from == req.to,
                        "a rollback goes back to where the execution came from",
                    )
                    .values(format!("{} -> {}", e.doc.to, e.doc.from), format!("{} -> {}", req.from, req.to)),
                );
            }
        }
    }
    out
}

/// `promotion.soak`: the current ring's soak time has elapsed since the bundle entered it. A
/// rollback does not wait.
pub fn soak(kind: TransitionKind, current: &Position, since: Timestamp, meta: &ReleaseMetadata, now: Timestamp) -> Check {
    let hours = channel(meta, &current.channel).and_then(|c| c.rings.iter().find(|r| r.name == current.ring)).map_or(0, |r| r.soak_hours);
    let due = Timestamp(since.0.saturating_add(i64::from(hours) * 3600));
    let ok = kind == TransitionKind::Rollback || now >= due;
    let mut c = Check::new("promotion.soak", ok, format!("ring {current} soaks {hours} h from {since} before the next step"))
        .values(format!(">= {due}"), now.to_string());
    if kind == TransitionKind::Rollback {
        c = c.info();
    }
    c
}

/// `promotion.hold`: no active hold on the product's target channel.
pub fn not_held(history: &History, product: &str, channel: &str) -> Check {
    let held = history.held(product, channel);
    Check::new("promotion.hold", !held, format!("no active hold on {product} in channel {channel}"))
        .values("no hold", if held { "held" } else { "no hold" })
}

/// `promotion.clock`: the time is not earlier than the latest time the ledger knows.
pub fn clock_monotonic(history: &History, now: Timestamp) -> Check {
    let ok = history.latest.is_none_or(|l| now >= l);
    Check::new("promotion.clock", ok, "the clock is not earlier than the latest recorded promotion step; fix the clock")
        .values(history.latest.map(|l| format!(">= {l}")).unwrap_or_else(|| "any".into()), now.to_string())
}

/// `promotion.request-expiry`: the request is live at `now`.
pub fn request_live(req: &PromotionRequest, now: Timestamp) -> Check {
    let ok = req.requested_at <= now && now < req.expires_at;
    Check::new("promotion.request-expiry", ok, format!("the request is valid from {} until {}", req.requested_at, req.expires_at))
        .values(format!("[{}, {})", req.requested_at, req.expires_at), now.to_string())
}

/// `promotion.replay`: the request has not executed and no approval has been used before.
pub fn not_replayed(request: &Sha256Digest, approvals: &[Sha256Digest], history: &History) -> Vec<Check> {
    let executed = history.executions.iter().any(|e| &e.doc.request == request);
    let used: Vec<String> =
        approvals.iter().filter(|a| history.executions.iter().any(|e| e.doc.approvals.contains(a))).map(Sha256Digest::prefixed).collect();
    vec![
        Check::new("promotion.replay", !executed, "a request executes at most once")
            .values("not executed", if executed { "already executed" } else { "not executed" }),
        Check::new("promotion.approval-reuse", used.is_empty(), "an approval is used by one execution only")
            .values("[]", format!("{used:?}")),
    ]
}

/// The approval rules for one request: each names this bundle and this request, shows the
/// target channel's hold conditions and rollback requirements, is live at `clock` (the real
/// clock, never `--at-time`); no approver key appears twice; any deny vetoes; distinct approver
/// keys reach `max(role threshold, channel minimum)` (1 when the channel requires approval).
pub fn approvals(
    approvals: &[Opened<Approval>],
    req_id: &Sha256Digest,
    req: &PromotionRequest,
    bundle: &BundleRef,
    target: Option<&Channel>,
    role_threshold: usize,
    clock: Timestamp,
) -> (Vec<Check>, Vec<Sha256Digest>, Vec<String>) {
    let mut out = Vec::new();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut twice = Vec::new();
    let mut counted = Vec::new();
    let (holds, rollback): (Vec<String>, Vec<String>) =
        target.map(|c| (c.hold_conditions.clone(), c.rollback_requirements.clone())).unwrap_or_default();
    for (n, a) in approvals.iter().enumerate() {
        let p = a.doc.payload();
        let subject = format!("approval {} ({})", n + 1, a.id.prefixed());
        out.push(bundle_named("promotion approval", &p.bundle, bundle).subject(subject.clone()));
        out.push(
            Check::new("promotion.approval-request", p.request == *req_id, "the approval binds this request's digest")
                .subject(subject.clone())
                .values(req_id.prefixed(), p.request.prefixed()),
        );
        let live = p.issued_at <= clock && clock < p.expires_at;
        out.push(
            Check::new(
                "promotion.approval-expiry",
                live,
                format!("the approval is valid from {} until {} (real clock)", p.issued_at, p.expires_at),
            )
            .subject(subject.clone())
            .values(format!("[{}, {})", p.issued_at, p.expires_at), clock.to_string()),
        );
        let shown = p.hold_conditions == holds && (req.kind != TransitionKind::Rollback || p.rollback_requirements == rollback);
        out.push(
            Check::new(
                if req.kind == TransitionKind::Rollback { "promotion.rollback-requirements" } else { "promotion.approval-conditions" },
                shown,
                "the approval was made against the target channel's hold conditions and rollback requirements",
            )
            .subject(subject.clone())
            .values(format!("{holds:?} {rollback:?}"), format!("{:?} {:?}", p.hold_conditions, p.rollback_requirements)),
        );
        if p.decision == Decision::Deny {
            out.push(
                Check::new("promotion.approval-deny", false, format!("an approver denied the request: {}", p.reason))
                    .subject(subject.clone()),
            );
        }
        for k in a.doc.signers_sorted() {
            if !keys.insert(k.hex()) {
                twice.push(k.hex());
            }
        }
        counted.push(a.id);
    }
    out.push(
        Check::new("promotion.approval-distinct", twice.is_empty(), "no approver key signs two of the approvals given")
            .values("[]", format!("{twice:?}")),
    );
    let minimum = role_threshold.max(usize::from(target.is_some_and(|c| c.approval_required)));
    out.push(
        Check::new(
            "promotion.quorum",
            keys.len() >= minimum,
            format!("{} distinct approver keys approved; max(approver threshold, channel minimum) is {minimum}", keys.len()),
        )
        .values(format!(">= {minimum}"), keys.len().to_string()),
    );
    // Two approvers may sign identical payloads (one approval, co-signed): one id.
    counted.sort();
    counted.dedup();
    (out, counted, keys.into_iter().collect())
}

/// Everything one execution is decided from.
pub struct ExecutionInput<'a> {
    /// The verified bundle's reference.
    pub bundle: &'a BundleRef,
    /// Its release metadata.
    pub meta: &'a ReleaseMetadata,
    /// The rollout record (operator-accepted).
    pub rollout: &'a Opened<RolloutRecord>,
    /// The request (operator-accepted).
    pub request: &'a Opened<PromotionRequest>,
    /// The approvals (each approver-accepted).
    pub approvals: &'a [Opened<Approval>],
    /// The approver role's threshold.
    pub approver_threshold: usize,
    /// The ledger's history.
    pub history: &'a History,
    /// The command's evaluation time.
    pub now: Timestamp,
    /// The real clock (approvals' expiry never uses `--at-time`).
    pub clock: Timestamp,
}

/// Decides one execution: every rule's checks, and the execution document when all passed.
pub fn decide_execution(i: &ExecutionInput<'_>) -> (Vec<Check>, Option<Execution>) {
    let rollout = i.rollout.doc.payload();
    let req = i.request.doc.payload();
    let mut checks = vec![clock_monotonic(i.history, i.now)];
    checks.extend(rollout_checks(rollout, i.bundle, i.meta));
    checks.push(rollout_ready(rollout));
    checks.push(bundle_named("promotion request", &req.bundle, i.bundle));
    checks.push(
        Check::new("promotion.request-rollout", req.rollout == i.rollout.id, "the request starts from this rollout record")
            .values(i.rollout.id.prefixed(), req.rollout.prefixed()),
    );
    checks.push(request_live(req, i.now));
    checks.push(position_exists("promotion request", &req.to, i.meta));
    let (current, since) = i.history.position(i.bundle, rollout);
    checks.extend(transition(req, &current, i.meta, i.history));
    checks.push(soak(req.kind, &current, since, i.meta, i.now));
    checks.push(not_held(i.history, &i.bundle.product, &req.to.channel));
    let target = channel(i.meta, if req.kind == TransitionKind::Rollback { &req.from.channel } else { &req.to.channel });
    let (ac, ids, approvers) = approvals(i.approvals, &i.request.id, req, i.bundle, target, i.approver_threshold, i.clock);
    checks.extend(ac);
    checks.extend(not_replayed(&i.request.id, &ids, i.history));
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    let exec = ok.then(|| Execution {
        schema: <Execution as super::Document>::SCHEMA.into(),
        bundle: i.bundle.clone(),
        request: i.request.id,
        approvals: ids,
        approvers,
        kind: req.kind,
        from: req.from.clone(),
        to: req.to.clone(),
        executed_at: i.now,
    });
    (checks, exec)
}

/// The role keys promotion documents are checked against.
#[derive(Clone, Copy)]
pub struct Roles<'a> {
    /// Signs rollout records, requests, executions and holds.
    pub operator: &'a RoleKeys,
    /// Signs approvals (each approval by at least one key; the quorum counts distinct keys).
    pub approver: &'a RoleKeys,
}

/// One execution's inputs as bytes, for the shell and the conformance vectors.
pub struct ExecutionFiles<'a> {
    /// The rollout record envelope.
    pub rollout: &'a [u8],
    /// The request envelope.
    pub request: &'a [u8],
    /// The approval envelopes.
    pub approvals: &'a [Vec<u8>],
}

/// Reads and opens the documents of one execution, then [`decide_execution`]. A malformed
/// document is an error (exit 2); a document its role does not accept is a failed
/// `promotion.signer`/`promotion.signature` check, and nothing after it is decided.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    files: &ExecutionFiles<'_>,
    bundle: &BundleRef,
    meta: &ReleaseMetadata,
    roles: Roles<'_>,
    history: &History,
    now: Timestamp,
    clock: Timestamp,
) -> Result<(Vec<Check>, Option<Execution>), PromotionError> {
    let rollout = super::read::<RolloutRecord>(files.rollout)?;
    let request = super::read::<PromotionRequest>(files.request)?;
    let approvals = files.approvals.iter().map(|a| super::read::<Approval>(a)).collect::<Result<Vec<_>, _>>()?;
    let mut checks = Vec::new();
    let (c, rollout) = super::open(rollout, roles.operator, "operator");
    checks.extend(c);
    let (c, request) = super::open(request, roles.operator, "operator");
    checks.extend(c);
    let one = roles.approver.at_threshold(1);
    let mut opened = Vec::new();
    for a in approvals {
        let (c, o) = super::open(a, &one, "approver");
        checks.extend(c);
        opened.extend(o);
    }
    let (Some(rollout), Some(request)) = (rollout, request) else { return Ok((checks, None)) };
    if opened.len() != files.approvals.len() {
        return Ok((checks, None));
    }
    let (c, e) = decide_execution(&ExecutionInput {
        bundle,
        meta,
        rollout: &rollout,
        request: &request,
        approvals: &opened,
        approver_threshold: roles.approver.threshold(),
        history,
        now,
        clock,
    });
    checks.extend(c);
    Ok((checks, e))
}

/// Reads a promotion document of any kind, by its envelope's payloadType.
fn read_any(bytes: &[u8], roles: Roles<'_>) -> Result<(Vec<Check>, Option<AnyDoc>), PromotionError> {
    use super::{Hold, open, read};
    let env =
        crate::dsse::Envelope::parse(bytes).map_err(|e| PromotionError::Malformed { doc: "promotion document", detail: e.to_string() })?;
    let approver = roles.approver.at_threshold(1);
    Ok(match env.payload_type.as_str() {
        RolloutRecord::PAYLOAD_TYPE => {
            let (c, o) = open(read::<RolloutRecord>(bytes)?, roles.operator, "operator");
            (c, o.map(AnyDoc::Rollout))
        }
        PromotionRequest::PAYLOAD_TYPE => {
            let (c, o) = open(read::<PromotionRequest>(bytes)?, roles.operator, "operator");
            (c, o.map(AnyDoc::Request))
        }
        Approval::PAYLOAD_TYPE => {
            let (c, o) = open(read::<Approval>(bytes)?, &approver, "approver");
            (c, o.map(AnyDoc::Approval))
        }
        Execution::PAYLOAD_TYPE => {
            let (c, o) = open(read::<Execution>(bytes)?, roles.operator, "operator");
            (c, o.map(AnyDoc::Execution))
        }
        Hold::PAYLOAD_TYPE => {
            let (c, o) = open(read::<Hold>(bytes)?, roles.operator, "operator");
            (c, o.map(AnyDoc::Hold))
        }
        other => {
            return Err(PromotionError::Malformed {
                doc: "promotion document",
                detail: format!("payloadType {other:?} is not a promotion document"),
            });
        }
    })
}

/// A promotion document of any kind, accepted by its role.
enum AnyDoc {
    Rollout(Opened<RolloutRecord>),
    Request(Opened<PromotionRequest>),
    Approval(Opened<Approval>),
    Execution(Opened<Execution>),
    Hold(Opened<super::Hold>),
}

/// Checks a chain of documents on any machine with the bundle and the trust root (no ledger):
/// each is accepted by its role and names this bundle; a request's rollout, an approval's
/// request, an execution's request and approvals, and a rollback's execution are among the
/// documents given (`promotion.chain`); an execution goes where its request asked
/// (`promotion.chain-execution`) and names as approvers only keys that signed its approvals.
pub fn verify_chain(files: &[Vec<u8>], bundle: &BundleRef, meta: &ReleaseMetadata, roles: Roles<'_>) -> Result<Vec<Check>, PromotionError> {
    let mut checks = Vec::new();
    let mut docs = Vec::new();
    for f in files {
        let (c, d) = read_any(f, roles)?;
        checks.extend(c);
        docs.extend(d);
    }
    let ids = |pick: fn(&AnyDoc) -> Option<&Sha256Digest>| docs.iter().filter_map(pick).cloned().collect::<BTreeSet<_>>();
    let rollouts = ids(|d| if let AnyDoc::Rollout(o) = d { Some(&o.id) } else { None });
    let requests = ids(|d| if let AnyDoc::Request(o) = d { Some(&o.id) } else { None });
    let approvals = ids(|d| if let AnyDoc::Approval(o) = d { Some(&o.id) } else { None });
    let executions = ids(|d| if let AnyDoc::Execution(o) = d { Some(&o.id) } else { None });
    let link = |what: &str, id: &Sha256Digest, set: &BTreeSet<Sha256Digest>, of: &str| {
        Check::new("promotion.chain", set.contains(id), format!("the {of} it names is among the documents given"))
            .subject(what.to_string())
            .values(id.prefixed(), if set.contains(id) { id.prefixed() } else { "(absent)".into() })
    };
    for d in &docs {
        match d {
            AnyDoc::Rollout(o) => checks.extend(rollout_checks(o.doc.payload(), bundle, meta)),
            AnyDoc::Request(o) => {
                let r = o.doc.payload();
                checks.push(bundle_named("promotion request", &r.bundle, bundle));
                checks.push(link("promotion request", &r.rollout, &rollouts, "rollout record"));
                if let Some(e) = &r.rollback_of {
                    checks.push(link("promotion request", e, &executions, "execution rolled back"));
                }
            }
            AnyDoc::Approval(o) => {
                let a = o.doc.payload();
                checks.push(bundle_named("promotion approval", &a.bundle, bundle));
                checks.push(link("promotion approval", &a.request, &requests, "request"));
            }
            AnyDoc::Execution(o) => {
                let e = o.doc.payload();
                checks.push(bundle_named("promotion execution", &e.bundle, bundle));
                checks.push(link("promotion execution", &e.request, &requests, "request"));
                for a in &e.approvals {
                    checks.push(link("promotion execution", a, &approvals, "approval"));
                }
                let req = docs.iter().find_map(|d| match d {
                    AnyDoc::Request(r) if r.id == e.request => Some(r.doc.payload()),
                    _ => None,
                });
                let signers: BTreeSet<String> = docs
                    .iter()
                    .filter_map(|d| match d {
                        AnyDoc::Approval(a) if e.approvals.contains(&a.id) => Some(a.doc.signers_sorted()),
                        _ => None,
                    })
                    .flatten()
                    .map(|k| k.hex())
                    .collect();
                let ok = req.is_some_and(|r| r.from == e.from && r.to == e.to && r.kind == e.kind)
                    && e.approvers.iter().all(|k| signers.contains(k));
                checks.push(Check::new(
                    "promotion.chain-execution",
                    ok,
                    "the execution goes where its request asked, and its approvers signed its approvals",
                ));
            }
            AnyDoc::Hold(o) => checks.push(bundle_named("promotion hold", &o.doc.payload().bundle, bundle)),
        }
    }
    Ok(checks)
}
