//! The promotion rules, one refusal per rule, from values only.

use super::rules::{self, Executed, ExecutionInput, History, HoldEvent};
use super::*;
use crate::release::tests::sample;
use crate::release::{Channel, ReleaseMetadata, Ring};
use crate::report::{Check, Status};

const H: i64 = 3600;
const T0: i64 = 1_800_000_000;

fn sk(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn operator() -> RoleKeys {
    RoleKeys::ed25519([sk(1).public().clone()], 1)
}

fn approvers() -> RoleKeys {
    RoleKeys::ed25519([10, 11, 12].map(|n| sk(n).public().clone()), 2)
}

fn meta() -> ReleaseMetadata {
    let mut m = sample(Sha256Digest::of(b"bin"));
    let mut canary_dep = m.deployments[0].clone();
    canary_dep.id = "gha-canary".into();
    canary_dep.channel = "canary".into();
    m.deployments.push(canary_dep);
    m.channels.insert(
        0,
        Channel {
            name: "canary".into(),
            auto_update: true,
            approval_required: true,
            rings: vec![
                Ring { name: "c2".into(), max_percent: 2, soak_hours: 4 },
                Ring { name: "c10".into(), max_percent: 10, soak_hours: 24 },
            ],
            hold_conditions: vec!["error budget spent".into()],
            rollback_requirements: vec!["previous release retained".into()],
        },
    );
    m
}

fn bundle(id: &str) -> BundleRef {
    BundleRef {
        bundle_id: id.repeat(64 / id.len()),
        manifest_digest: Sha256Digest::of(id.as_bytes()),
        product: "app".into(),
        version: "1.2.0".into(),
    }
}

fn pos(c: &str, r: &str) -> Position {
    Position { channel: c.into(), ring: r.into() }
}

fn opened<D: Document>(doc: &D, key: &SecretKey, role: &RoleKeys) -> Opened<D> {
    let (checks, o) = read_and_open::<D>(&sign(doc, &[key]), role, "test").unwrap();
    assert!(checks.iter().all(|c| c.status != Status::Fail), "{checks:?}");
    o.unwrap()
}

fn rollout(status: RolloutStatus) -> RolloutRecord {
    RolloutRecord {
        schema: RolloutRecord::SCHEMA.into(),
        bundle: bundle("a"),
        position: pos("canary", "c2"),
        deployments: vec!["gha-canary".into()],
        status,
        actor: "ops".into(),
        change_record: Some("CHG-1".into()),
        captured_at: Timestamp(T0),
    }
}

fn request(r: &Opened<RolloutRecord>, kind: TransitionKind, from: Position, to: Position, at: i64) -> PromotionRequest {
    PromotionRequest {
        schema: PromotionRequest::SCHEMA.into(),
        bundle: bundle("a"),
        rollout: r.id,
        kind,
        from,
        to,
        rollback_of: None,
        requested_at: Timestamp(at),
        expires_at: Timestamp(at + 48 * H),
    }
}

fn approval(req: &Sha256Digest, decision: Decision, at: i64, channel: &Channel) -> Approval {
    Approval {
        schema: Approval::SCHEMA.into(),
        bundle: bundle("a"),
        request: *req,
        decision,
        reason: "looks good".into(),
        hold_conditions: channel.hold_conditions.clone(),
        rollback_requirements: channel.rollback_requirements.clone(),
        issued_at: Timestamp(at),
        expires_at: Timestamp(at + 24 * H),
    }
}

/// The happy path's documents: rollout at canary/c2, request to canary/c10 at T0+5h, approvals
/// by keys 10 and 11.
struct Story {
    meta: ReleaseMetadata,
    rollout: Opened<RolloutRecord>,
    request: Opened<PromotionRequest>,
    approvals: Vec<Opened<Approval>>,
    history: History,
    now: i64,
}

impl Story {
    fn new() -> Self {
        let meta = meta();
        let rollout = opened(&rollout(RolloutStatus::Staged), &sk(1), &operator());
        Self::with(meta, rollout, |_| {})
    }

    fn with(meta: ReleaseMetadata, rollout: Opened<RolloutRecord>, edit: impl FnOnce(&mut PromotionRequest)) -> Self {
        let now = T0 + 5 * H;
        let mut req = request(&rollout, TransitionKind::Ring, pos("canary", "c2"), pos("canary", "c10"), now);
        edit(&mut req);
        let request = opened(&req, &sk(1), &operator());
        let approvals = [10, 11]
            .map(|n| opened(&approval(&request.id, Decision::Approve, now, &meta.channels[0]), &sk(n), &approvers().at_threshold(1)))
            .to_vec();
        Story { meta, rollout, request, approvals, history: History::default(), now }
    }

    fn decide(&self) -> (Vec<Check>, Option<Execution>) {
        self.decide_at(self.now, self.now)
    }

    fn decide_at(&self, now: i64, clock: i64) -> (Vec<Check>, Option<Execution>) {
        rules::decide_execution(&ExecutionInput {
            bundle: &bundle("a"),
            meta: &self.meta,
            rollout: &self.rollout,
            request: &self.request,
            approvals: &self.approvals,
            approver_threshold: 2,
            history: &self.history,
            now: Timestamp(now),
            clock: Timestamp(clock),
        })
    }

    fn approve(&mut self, n: u8, edit: impl FnOnce(&mut Approval)) {
        let mut a = approval(&self.request.id, Decision::Approve, self.now, &self.meta.channels[0]);
        edit(&mut a);
        self.approvals.push(opened(&a, &sk(n), &approvers().at_threshold(1)));
    }

    fn executed(&mut self) -> Executed {
        let (checks, e) = self.decide();
        let doc = e.unwrap_or_else(|| panic!("{:?}", failed(&checks)));
        let ex = Executed { execution: id_of(&doc), doc };
        self.history.executions.push(ex.clone());
        self.history.latest = Some(Timestamp(self.now));
        ex
    }
}

fn failed(checks: &[Check]) -> Vec<String> {
    let mut v: Vec<String> = checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.to_string()).collect();
    v.dedup();
    v
}

#[track_caller]
fn refused_by(s: &Story, rule: &str) {
    refused_with(s, &[rule]);
}

#[track_caller]
fn refused_with(s: &Story, rules: &[&str]) {
    let (checks, e) = s.decide();
    assert_eq!(failed(&checks), rules, "{checks:#?}");
    assert!(e.is_none());
}

#[test]
fn documents_are_strict_canonical_and_typed() {
    let r = rollout(RolloutStatus::Staged);
    let env = sign(&r, &[&sk(1)]);
    let u = read::<RolloutRecord>(&env).unwrap();
    assert_eq!(u.unverified(), &r);
    assert_eq!(u.id(), &Sha256Digest::of(&payload_bytes(&r)));
    // Another document's payloadType.
    assert!(matches!(read::<PromotionRequest>(&env), Err(PromotionError::Malformed { doc: "promotion request", .. })));
    // Pretty-printed payload, an unknown field, the wrong schema: malformed.
    let pretty = Envelope::sign(RolloutRecord::PAYLOAD_TYPE, &serde_json::to_vec_pretty(&r).unwrap(), &[&sk(1)]).to_bytes();
    assert!(matches!(read::<RolloutRecord>(&pretty), Err(PromotionError::Malformed { .. })));
    let mut v = serde_json::to_value(&r).unwrap();
    v["path"] = "/srv/bundle.zip".into();
    let extra = Envelope::sign(RolloutRecord::PAYLOAD_TYPE, &json::canonical_value(&v), &[&sk(1)]).to_bytes();
    assert!(matches!(read::<RolloutRecord>(&extra), Err(PromotionError::Malformed { .. })));
    let mut other = r.clone();
    other.schema = "airlock/rollout-record/v2".into();
    assert!(matches!(read::<RolloutRecord>(&sign(&other, &[&sk(1)])), Err(PromotionError::Malformed { .. })));
    // Value rules.
    let mut unsorted = r.clone();
    unsorted.deployments = vec!["b".into(), "a".into()];
    assert!(matches!(read::<RolloutRecord>(&sign(&unsorted, &[&sk(1)])), Err(PromotionError::Field { field: "deployments", .. })));
    let meta = meta();
    let mut a = approval(&Sha256Digest::of(b"r"), Decision::Approve, T0, &meta.channels[0]);
    a.expires_at = a.issued_at;
    assert!(matches!(read::<Approval>(&sign(&a, &[&sk(10)])), Err(PromotionError::Field { field: "expiresAt", .. })));
}

#[test]
fn a_document_signed_outside_its_role_or_altered_is_refused_by_promotion_signer() {
    let r = rollout(RolloutStatus::Staged);
    let (checks, o) = read_and_open::<RolloutRecord>(&sign(&r, &[&sk(10)]), &operator(), "operator").unwrap();
    assert!(o.is_none());
    assert_eq!(failed(&checks), ["promotion.signer"]);
    let mut env = Envelope::parse(&sign(&r, &[&sk(1)])).unwrap();
    let mut altered = r.clone();
    altered.position.ring = "c10".into();
    env.payload = payload_bytes(&altered);
    let (checks, o) = read_and_open::<RolloutRecord>(&env.to_bytes(), &operator(), "operator").unwrap();
    assert!(o.is_none());
    assert!(failed(&checks).contains(&"promotion.signature".to_string()), "{checks:?}");
}

#[test]
fn a_promotion_with_a_quorum_after_the_soak_executes() {
    let s = Story::new();
    let (checks, e) = s.decide();
    assert_eq!(failed(&checks), Vec::<String>::new());
    let e = e.unwrap();
    assert_eq!((e.from, e.to), (pos("canary", "c2"), pos("canary", "c10")));
    assert_eq!(e.approvers.len(), 2);
    assert_eq!(e.request, s.request.id);
    assert_eq!(e.executed_at, Timestamp(s.now));
}

#[test]
fn soak_not_elapsed_is_refused() {
    let s = Story::new();
    let (checks, _) = s.decide_at(T0 + 3 * H, s.now);
    assert_eq!(failed(&checks), ["promotion.request-expiry", "promotion.soak"]);
    // The next ring soaks from its execution.
    let mut s = Story::new();
    let first = s.executed();
    let req = request(&s.rollout, TransitionKind::Channel, pos("canary", "c10"), pos("stable", "pilot"), s.now + H);
    s.request = opened(&req, &sk(1), &operator());
    s.approvals.clear();
    s.now += H;
    for n in [10, 12] {
        s.approve(n, |a| {
            a.hold_conditions = vec!["crash rate above 1%".into()];
        });
    }
    refused_by(&s, "promotion.soak");
    let (checks, e) = s.decide_at(first.doc.executed_at.0 + 24 * H, s.now);
    assert_eq!(failed(&checks), Vec::<String>::new());
    assert_eq!(e.unwrap().to, pos("stable", "pilot"));
}

#[test]
fn a_skipped_or_backward_ring_and_an_out_of_order_channel_are_refused() {
    let m = meta();
    let r = opened(&rollout(RolloutStatus::Staged), &sk(1), &operator());
    refused_by(&Story::with(m.clone(), r.clone(), |q| q.to = pos("canary", "c2")), "promotion.ring-order");
    // The approvals were made against canary's conditions, not stable's.
    refused_with(
        &Story::with(m.clone(), r.clone(), |q| q.to = pos("stable", "broad")),
        &["promotion.ring-order", "promotion.approval-conditions"],
    );
    refused_with(
        &Story::with(m.clone(), r.clone(), |q| {
            q.kind = TransitionKind::Channel;
            q.to = pos("stable", "broad");
        }),
        &["promotion.channel-order", "promotion.approval-conditions"],
    );
    refused_by(&Story::with(m, r, |q| q.from = pos("stable", "pilot")), "promotion.from");
}

#[test]
fn a_rollout_not_staged_or_succeeded_is_refused() {
    let r = opened(&rollout(RolloutStatus::Planned), &sk(1), &operator());
    refused_by(&Story::with(meta(), r, |_| {}), "promotion.rollout-status");
}

#[test]
fn unknown_deployments_and_foreign_bundles_are_refused() {
    let mut rr = rollout(RolloutStatus::Staged);
    rr.deployments = vec!["gha-linux".into()];
    refused_by(&Story::with(meta(), opened(&rr, &sk(1), &operator()), |_| {}), "promotion.deployments");
    refused_by(
        &Story::with(meta(), opened(&rollout(RolloutStatus::Staged), &sk(1), &operator()), |q| q.bundle = bundle("b")),
        "promotion.bundle",
    );
    let mut s = Story::new();
    s.approvals.pop();
    s.approve(12, |a| a.bundle = bundle("b"));
    refused_by(&s, "promotion.bundle");
}

#[test]
fn approvals_expired_for_another_request_twice_by_one_key_too_few_or_denied_are_refused() {
    let mut s = Story::new();
    // Expiry is by the real clock.
    let (checks, _) = s.decide_at(s.now, s.now + 25 * H);
    assert_eq!(failed(&checks), ["promotion.approval-expiry"]);
    s.approvals.pop();
    s.approve(11, |a| a.request = Sha256Digest::of(b"other"));
    refused_by(&s, "promotion.approval-request");
    s.approvals.pop();
    s.approve(10, |_| {});
    // Key 10 twice counts once: one distinct approver is below the quorum as well.
    refused_with(&s, &["promotion.approval-distinct", "promotion.quorum"]);
    s.approvals.pop();
    refused_by(&s, "promotion.quorum");
    s.approve(11, |_| {});
    s.approve(12, |a| a.decision = Decision::Deny);
    refused_by(&s, "promotion.approval-deny");
    s.approvals.pop();
    s.approve(12, |a| a.hold_conditions.clear());
    refused_by(&s, "promotion.approval-conditions");
}

#[test]
fn a_replayed_request_or_approval_is_refused() {
    let mut s = Story::new();
    s.executed();
    let (checks, _) = s.decide();
    assert!(failed(&checks).contains(&"promotion.replay".to_string()), "{checks:?}");
    assert!(failed(&checks).contains(&"promotion.approval-reuse".to_string()));
}

#[test]
fn an_active_hold_blocks_until_resumed() {
    let mut s = Story::new();
    let ev = |action, at| HoldEvent { product: "app".into(), channel: "canary".into(), action, at: Timestamp(at) };
    s.history.holds.push(ev(HoldAction::Hold, T0 + H));
    refused_by(&s, "promotion.hold");
    s.history.holds.push(ev(HoldAction::Resume, T0 + 2 * H));
    assert!(s.decide().1.is_some());
}

#[test]
fn a_clock_earlier_than_the_ledger_is_refused() {
    let mut s = Story::new();
    s.history.latest = Some(Timestamp(s.now + 1));
    refused_by(&s, "promotion.clock");
}

#[test]
fn a_rollback_needs_an_execution_in_the_ledger_and_the_rollback_requirements() {
    let mut s = Story::new();
    let first = s.executed();
    let rollback = |s: &Story, of: Sha256Digest| {
        let mut q = request(&s.rollout, TransitionKind::Rollback, pos("canary", "c10"), pos("canary", "c2"), s.now);
        q.rollback_of = Some(of);
        opened(&q, &sk(1), &operator())
    };
    s.request = rollback(&s, first.execution);
    s.approvals.clear();
    s.approve(10, |_| {});
    s.approve(11, |_| {});
    // No soak wait for a rollback.
    let (checks, e) = s.decide();
    assert_eq!(failed(&checks), Vec::<String>::new());
    assert_eq!(e.unwrap().to, pos("canary", "c2"));
    s.approvals.pop();
    s.approve(11, |a| a.rollback_requirements.clear());
    refused_by(&s, "promotion.rollback-requirements");
    // An execution the ledger does not hold.
    s.request = rollback(&s, Sha256Digest::of(b"forged"));
    s.approvals.clear();
    s.approve(10, |_| {});
    s.approve(11, |_| {});
    refused_by(&s, "promotion.rollback-execution");
}
