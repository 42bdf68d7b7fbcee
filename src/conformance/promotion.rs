//! Deterministic generation of `vectors/promotion-v1/`: one self-contained case per file
//! (`NAME.json`: the bundle reference, release metadata, role keys, ledger history, times, the
//! signed documents and what an implementation must answer), valid and refused
//! (format-spec/promotion-v1.md §7).

use super::test_key;
use crate::digest::Sha256Digest;
use crate::json;
use crate::keys::{PublicKey, SecretKey};
use crate::promotion::rules::{self, Executed, ExecutionFiles, History, HoldEvent, Roles};
use crate::promotion::{
    Approval, BundleRef, Decision, Document, Execution, HoldAction, Position, PromotionRequest, RolloutRecord, RolloutStatus,
    TransitionKind, id_of, sign,
};
use crate::release::{Channel, DeploymentTarget, ReleaseMetadata, Ring, Surface};
use crate::report::Status;
use crate::time::Timestamp;
use crate::trust::role::RoleKeys;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A role's keys in a case: Ed25519 public keys (hex) and the threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseRole {
    /// Ed25519 public keys, hex.
    pub keys: Vec<String>,
    /// Threshold.
    pub threshold: usize,
}

impl CaseRole {
    fn of(keys: &[&SecretKey], threshold: usize) -> Self {
        CaseRole { keys: keys.iter().map(|k| hex::encode(k.public().to_bytes())).collect(), threshold }
    }

    /// The role keys.
    pub fn role(&self) -> RoleKeys {
        let keys = self.keys.iter().map(|h| {
            let b: [u8; 32] = hex::decode(h).ok().and_then(|b| b.try_into().ok()).expect("a vector key is 32 bytes of hex");
            PublicKey::from_bytes(&b).expect("a vector key is a valid Ed25519 key")
        });
        RoleKeys::ed25519(keys, self.threshold)
    }
}

/// A hold event in a case's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseHold {
    /// Product.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// Hold or resume.
    pub action: HoldAction,
    /// When.
    pub at: Timestamp,
}

/// The ledger's history in a case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseHistory {
    /// Executed transitions (payloads; their ids are the SHA-256 of their RFC 8785 bytes).
    pub executions: Vec<Execution>,
    /// Holds and resumptions.
    pub holds: Vec<CaseHold>,
    /// Latest time a recorded step was decided at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Timestamp>,
}

/// What an implementation must answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expected {
    /// `executed`, `refused` (exit 1) or `malformed` (exit 2).
    pub result: String,
    /// Rule ids of the failed checks, in order, each once.
    pub failed: Vec<String>,
    /// The execution payload made, when executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

/// One vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Case {
    /// What it exercises.
    pub description: String,
    /// The verified bundle.
    pub bundle: BundleRef,
    /// Its release metadata.
    pub metadata: ReleaseMetadata,
    /// The operator role.
    pub operator: CaseRole,
    /// The approver role.
    pub approver: CaseRole,
    /// The ledger's history.
    pub history: CaseHistory,
    /// The evaluation time.
    pub now: Timestamp,
    /// The real clock (approvals' expiry).
    pub clock: Timestamp,
    /// The rollout record envelope.
    pub rollout: Value,
    /// The request envelope.
    pub request: Value,
    /// The approval envelopes.
    pub approvals: Vec<Value>,
    /// The answer.
    pub expected: Expected,
}

impl Case {
    /// What the core answers for this case.
    pub fn answer(&self) -> Expected {
        let history = History {
            executions: self.history.executions.iter().map(|e| Executed { execution: id_of(e), doc: e.clone() }).collect(),
            holds: self
                .history
                .holds
                .iter()
                .map(|h| HoldEvent { product: h.product.clone(), channel: h.channel.clone(), action: h.action, at: h.at })
                .collect(),
            latest: self.history.latest,
        };
        let approvals: Vec<Vec<u8>> = self.approvals.iter().map(json::canonical_value).collect();
        let files = ExecutionFiles {
            rollout: &json::canonical_value(&self.rollout),
            request: &json::canonical_value(&self.request),
            approvals: &approvals,
        };
        let (operator, approver) = (self.operator.role(), self.approver.role());
        match rules::execute(
            &files,
            &self.bundle,
            &self.metadata,
            Roles { operator: &operator, approver: &approver },
            &history,
            self.now,
            self.clock,
        ) {
            Err(e) => {
                Expected { result: "malformed".into(), failed: vec![crate::report::Diagnostic::id(&e).into_owned()], execution: None }
            }
            Ok((checks, e)) => {
                let mut failed: Vec<String> = Vec::new();
                for c in checks.iter().filter(|c| c.status == Status::Fail) {
                    if !failed.contains(&c.id.to_string()) {
                        failed.push(c.id.to_string());
                    }
                }
                let result = if e.is_some() { "executed" } else { "refused" };
                Expected { result: result.into(), failed, execution: e }
            }
        }
    }
}

const H: i64 = 3600;
const T0: i64 = 1_800_000_000;

fn metadata() -> ReleaseMetadata {
    let dep = |id: &str, channel: &str| DeploymentTarget {
        id: id.into(),
        surface: Surface::CiRunner,
        platform: "linux/amd64".into(),
        installer: "linux-amd64".into(),
        channel: channel.into(),
        management_tool: "runner-image".into(),
        delivery: None,
        label: None,
        rollback: vec!["pin the previous runner image".into()],
    };
    let ring = |name: &str, max_percent, soak_hours| Ring { name: name.into(), max_percent, soak_hours };
    let rollback = vec!["previous release retained".into()];
    ReleaseMetadata {
        schema: crate::release::METADATA_SCHEMA.into(),
        installers: vec![],
        deployments: vec![dep("ci-canary", "canary"), dep("ci-stable", "stable")],
        channels: vec![
            Channel {
                name: "canary".into(),
                auto_update: true,
                approval_required: true,
                rings: vec![ring("c2", 2, 4), ring("c10", 10, 24), ring("c50", 50, 24)],
                hold_conditions: vec!["error budget spent".into()],
                rollback_requirements: rollback.clone(),
            },
            Channel {
                name: "stable".into(),
                auto_update: false,
                approval_required: true,
                rings: vec![ring("pilot", 5, 24), ring("broad", 100, 48)],
                hold_conditions: vec!["crash rate above 1%".into()],
                rollback_requirements: rollback,
            },
        ],
        controls: vec![],
    }
}

fn bundle(tag: &str) -> BundleRef {
    BundleRef {
        bundle_id: Sha256Digest::of(tag.as_bytes()).hex(),
        manifest_digest: Sha256Digest::of(format!("manifest {tag}").as_bytes()),
        product: "hello".into(),
        version: "1.2.0".into(),
    }
}

fn pos(c: &str, r: &str) -> Position {
    Position { channel: c.into(), ring: r.into() }
}

fn env<D: Document>(d: &D, keys: &[&SecretKey]) -> Value {
    serde_json::from_slice(&sign(d, keys)).expect("an envelope is JSON")
}

/// The documents of a case before signing, edited per case.
struct Draft {
    description: &'static str,
    rollout: RolloutRecord,
    request: PromotionRequest,
    approvals: Vec<(Approval, &'static str)>,
    history: CaseHistory,
    now: i64,
    clock: i64,
    /// Replaces the signed request's payload after signing (bytes no operator signed).
    swap_payload: Option<Vec<u8>>,
}

fn draft(description: &'static str) -> Draft {
    let b = bundle("a");
    let rollout = RolloutRecord {
        schema: RolloutRecord::SCHEMA.into(),
        bundle: b.clone(),
        position: pos("canary", "c2"),
        deployments: vec!["ci-canary".into()],
        status: RolloutStatus::Staged,
        actor: "release-bot".into(),
        change_record: Some("CHG-1234".into()),
        captured_at: Timestamp(T0),
    };
    let now = T0 + 5 * H;
    let request = PromotionRequest {
        schema: PromotionRequest::SCHEMA.into(),
        bundle: b,
        rollout: id_of(&rollout),
        kind: TransitionKind::Ring,
        from: pos("canary", "c2"),
        to: pos("canary", "c10"),
        rollback_of: None,
        requested_at: Timestamp(now - H),
        expires_at: Timestamp(now + 47 * H),
    };
    Draft { description, rollout, request, approvals: vec![], history: CaseHistory::default(), now, clock: now, swap_payload: None }
}

fn approval(d: &Draft, decision: Decision) -> Approval {
    let c = &metadata().channels[0];
    Approval {
        schema: Approval::SCHEMA.into(),
        bundle: d.request.bundle.clone(),
        request: id_of(&d.request),
        decision,
        reason: "canary dashboards green".into(),
        hold_conditions: c.hold_conditions.clone(),
        rollback_requirements: c.rollback_requirements.clone(),
        issued_at: Timestamp(d.now - H),
        expires_at: Timestamp(d.now + 23 * H),
    }
}

impl Draft {
    fn approved_by(mut self, names: &[&'static str]) -> Self {
        for n in names {
            let a = approval(&self, Decision::Approve);
            self.approvals.push((a, n));
        }
        self
    }

    fn case(self) -> Case {
        let op = test_key("operator");
        let mut request = env(&self.request, &[&op]);
        if let Some(p) = &self.swap_payload {
            request["payload"] = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, p).into();
        }
        let approvals = self.approvals.iter().map(|(a, k)| env(a, &[&test_key(k)])).collect();
        let mut c = Case {
            description: self.description.into(),
            bundle: bundle("a"),
            metadata: metadata(),
            operator: CaseRole::of(&[&op], 1),
            approver: CaseRole::of(&[&test_key("approver-1"), &test_key("approver-2"), &test_key("approver-3")], 2),
            history: self.history,
            now: Timestamp(self.now),
            clock: Timestamp(self.clock),
            rollout: env(&self.rollout, &[&op]),
            request,
            approvals,
            expected: Expected { result: String::new(), failed: vec![], execution: None },
        };
        c.expected = c.answer();
        c
    }
}

fn executed_first() -> Execution {
    draft("").approved_by(&["approver-1", "approver-2"]).case().expected.execution.expect("the first promotion executes")
}

/// Every case, by file stem.
fn cases() -> Vec<(&'static str, Case, &'static str)> {
    let two = ["approver-1", "approver-2"];
    let mut v = vec![];
    let mut add = |stem, d: Draft, want| v.push((stem, d.case(), want));
    add("valid-ring-promotion", draft("canary c2 -> c10 after the 4 h soak, approved by 2 of 3 approvers").approved_by(&two), "");
    let mut d = draft("c2 -> c10 before the 4 h soak of c2 has elapsed");
    d.now = T0 + 3 * H;
    d.clock = d.now;
    add("soak-not-elapsed", d.approved_by(&two), "promotion.soak");
    let mut d = draft("c2 -> c50 skips c10");
    d.request.to = pos("canary", "c50");
    add("skipped-ring", d.approved_by(&two), "promotion.ring-order");
    let mut d = draft("approvals past their expiry by the real clock");
    d.clock = d.now + 30 * H;
    add("expired-approval", d.approved_by(&two), "promotion.approval-expiry");
    let mut d = draft("an approval of another request").approved_by(&["approver-1"]);
    let mut a = approval(&d, Decision::Approve);
    a.request = Sha256Digest::of(b"another request");
    d.approvals.push((a, "approver-2"));
    add("wrong-request-approval", d, "promotion.approval-request");
    let mut d = draft("an approval of another bundle").approved_by(&["approver-1"]);
    let mut a = approval(&d, Decision::Approve);
    a.bundle = bundle("b");
    d.approvals.push((a, "approver-2"));
    add("foreign-bundle-approval", d, "promotion.bundle");
    add(
        "same-approver-twice",
        draft("approver-1 approves twice").approved_by(&["approver-1", "approver-1"]),
        "promotion.approval-distinct",
    );
    add(
        "non-approver-approval",
        draft("an approval signed by a key outside the approver role").approved_by(&["approver-1", "operator"]),
        "promotion.signer",
    );
    let mut d = draft("a valid deny vetoes two approvals").approved_by(&two);
    let deny = approval(&d, Decision::Deny);
    d.approvals.push((deny, "approver-3"));
    add("denied", d, "promotion.approval-deny");
    let mut d = draft("the request was already executed");
    d.history.executions.push(executed_first());
    add("replayed-request", d.approved_by(&two), "promotion.replay");
    let mut d = draft("an active hold on canary");
    d.history.holds.push(CaseHold { product: "hello".into(), channel: "canary".into(), action: HoldAction::Hold, at: Timestamp(T0 + H) });
    add("held", d.approved_by(&two), "promotion.hold");
    let mut d = draft("the clock is earlier than the latest recorded step");
    d.history.latest = Some(Timestamp(d.now + H));
    add("clock-behind-ledger", d.approved_by(&two), "promotion.clock");
    let mut d = draft("the request's target was changed after the operator signed it");
    let mut altered = d.request.clone();
    altered.to = pos("canary", "c50");
    d.swap_payload = Some(json::canonical(&altered));
    add("altered-request", d.approved_by(&two), "promotion.signature");
    let mut d = draft("a request whose payload is not in its RFC 8785 form");
    d.swap_payload = Some(serde_json::to_vec_pretty(&d.request).expect("json"));
    add("malformed-request", d.approved_by(&two), "promotion.malformed");
    let mut d = draft("a planned rollout is not promoted");
    d.rollout.status = RolloutStatus::Planned;
    d.request.rollout = id_of(&d.rollout);
    add("rollout-planned", d.approved_by(&two), "promotion.rollout-status");
    let mut d = draft("a rollback of an execution the ledger does not hold");
    d.request.kind = TransitionKind::Rollback;
    d.request.rollback_of = Some(Sha256Digest::of(b"no such execution"));
    d.request.to = pos("canary", "c2");
    add("rollback-unknown-execution", d.approved_by(&two), "promotion.rollback-execution");
    let first = executed_first();
    let mut d = draft("a rollback of an executed promotion, with the rollback requirements approved");
    d.history.executions.push(first.clone());
    d.history.latest = Some(first.executed_at);
    d.request.kind = TransitionKind::Rollback;
    d.request.rollback_of = Some(id_of(&first));
    d.request.from = pos("canary", "c10");
    d.request.to = pos("canary", "c2");
    add("valid-rollback", d.approved_by(&two), "");
    v
}

/// `vectors/promotion-v1/`: file name → bytes. Panics when a case does not answer what it was
/// written to exercise (the generator checks itself).
pub fn promotion_v1_vectors() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (stem, case, want) in cases() {
        let e = &case.expected;
        if want.is_empty() {
            assert!(e.result == "executed" && e.failed.is_empty(), "{stem}: {e:?}");
        } else {
            assert!(e.result != "executed" && e.failed.iter().any(|f| f == want), "{stem}: {e:?} should name {want}");
        }
        let mut bytes = serde_json::to_vec_pretty(&case).expect("a case serialises");
        bytes.push(b'\n');
        out.insert(format!("{stem}.json"), bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_case_answers_what_it_exercises() {
        assert!(super::promotion_v1_vectors().len() >= 15);
    }
}
