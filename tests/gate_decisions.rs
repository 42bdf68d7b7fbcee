//! The gate over real (in-memory) bundles: every acceptance reason code, the allow path, the
//! gate input's shape and ordering, determinism, and break-glass.

mod evidence_support;

use airlock::digest::Sha256Digest;
use airlock::gate::breakglass::{self, Approval, Request};
use airlock::gate::policy::Policy;
use airlock::gate::transparency::{CasRef, GateTransparency};
use airlock::gate::{GateParams, GateResult, Roles, Verdict, evaluate};
use airlock::time::Timestamp;
use airlock::trust::role::{RoleKeys, RoleName};
use evidence_support::*;

fn roles(k: &Keys) -> Roles {
    let mut r = Roles::default();
    r.add_ed25519(RoleName::RELEASE, [k.release.public().clone()]);
    r.add_ed25519(RoleName::parse("builder").unwrap(), [k.builder.public().clone()]);
    r.add_ed25519(RoleName::parse("attestor").unwrap(), [k.attestor.public().clone()]);
    r
}

fn verified_transparency() -> GateTransparency {
    GateTransparency::Verified {
        rekor_uuid: "24296fb24b8ad77a1ad7edcd612f1e4a2c12b8c9a0bd2f5ee1dd7fbb4a5c3d9e0f1e2d3c4b5a6978".into(),
        log_index: 42,
        proof_ref: CasRef(Sha256Digest::of(TLOG_PROOF)),
        checkpoint_time: Some(Timestamp(NOW.0 - 3600)),
    }
}

fn run(spec: &Spec, policy_extra: serde_json::Value, t: GateTransparency, bg: Option<(Request, RoleKeys)>) -> GateResult {
    let k = keys();
    let bytes = zip_bundle(&standard_files(&k, spec), &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy = Policy::parse(&policy_json(policy_extra)).expect("policy");
    let ctx = GateParams { roles: roles(&k), transparency: t, artifact: None, break_glass: bg, sigstore_root: None };
    evaluate(&v, &bytes, &policy, &ctx).expect("evaluates")
}

fn codes(r: &GateResult) -> Vec<&str> {
    r.decision.reasons.iter().map(|x| x.code.as_ref()).collect()
}

#[test]
fn complete_evidence_is_allowed_and_the_input_is_canonical() {
    let r = run(&Spec::default(), serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Allow, "{:#?}", r.checks);
    let input: serde_json::Value = serde_json::from_slice(&r.gate_input.to_bytes()).unwrap();
    assert_eq!(input["artifact"]["artifactId"], APP);
    assert_eq!(input["artifact"]["digest"], format!("sha256:{}", hex(APP_BYTES)));
    assert_eq!(input["sbom"]["format"], "cyclonedx");
    assert_eq!(input["vex"]["statusSummary"], "not_affected");
    assert_eq!(input["transparency"]["logIndex"], 42);
    assert_eq!(input["transparency"]["proofRef"], format!("cas://sha256:{}", hex(TLOG_PROOF)));
    let score = input["evidence"]["evidenceScore"].as_str().unwrap();
    assert!(score.len() == 64 && score.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{score}");
    // Attestations sorted by predicateType then dsseDigest; provenance and the test result both.
    let preds: Vec<&str> = input["attestations"].as_array().unwrap().iter().map(|a| a["predicateType"].as_str().unwrap()).collect();
    assert_eq!(preds, ["https://in-toto.io/attestation/test-result/v0.1", "https://slsa.dev/provenance/v1"]);
    assert_eq!(input["attestations"][1]["signerKeyId"], keys().builder.public().keyid().hex());
    // RFC 8785 bytes, identical on a second evaluation, digest recorded in the decision.
    assert_eq!(airlock::json::parse_canonical(&r.gate_input.to_bytes()).unwrap(), input);
    let again = run(&Spec::default(), serde_json::json!({}), verified_transparency(), None);
    assert_eq!(again.to_bytes(), r.to_bytes());
    assert_eq!(r.decision.gate_input_digest, Sha256Digest::of(&r.gate_input.to_bytes()));
}

#[test]
fn attestation_subject_matching_no_artifact_denies() {
    let spec = Spec { provenance_subject: hex(b"some other binary"), ..Spec::default() };
    let r = run(&spec, serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(codes(&r).contains(&"attestation.subject-unbound"), "{:?}", codes(&r));
    // The unbound provenance does not count as provenance for the artifact either.
    assert!(r.decision.reasons.iter().any(|x| x.code == "evidence.missing" && x.subject.as_deref() == Some("provenance")));
}

#[test]
fn sbom_digest_differing_from_the_artifact_denies() {
    let spec = Spec { sbom_digest: hex(b"an older build"), ..Spec::default() };
    let r = run(&spec, serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(codes(&r).contains(&"sbom.digest-mismatch"), "{:?}", codes(&r));
    let c = r.checks.iter().find(|c| c.id == "sbom.digest-mismatch").unwrap();
    assert_eq!(c.expected.as_deref(), Some(format!("sha256:{}", hex(APP_BYTES)).as_str()));
    assert!(r.gate_input.sbom.is_none());
}

#[test]
fn provenance_from_a_non_pinned_builder_denies() {
    let spec = Spec { builder_id: "https://ci.example.net/untrusted-runner@v1".into(), ..Spec::default() };
    let r = run(&spec, serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert_eq!(codes(&r), ["slsa.builder-id"]);
}

#[test]
fn unexpected_external_parameters_deny() {
    let extra = serde_json::json!({"slsa": {"builderId": BUILDER_PIN, "allowedExternalParameters": []}});
    let r = run(&Spec::default(), extra, verified_transparency(), None);
    assert_eq!(codes(&r), ["slsa.unexpected-parameter"]);
}

#[test]
fn vex_affected_under_a_forbidding_policy_denies() {
    let spec = Spec { vex_status: "affected", ..Spec::default() };
    let r = run(&spec, serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert_eq!(codes(&r), ["vex.status"]);
    assert_eq!(r.gate_input.vex.as_ref().unwrap().status_summary.name(), "affected");
    // The same bundle under a policy that tolerates affected is allowed.
    let r = run(&spec, serde_json::json!({"vex": {"maxStatus": "affected"}}), verified_transparency(), None);
    assert_eq!(r.decision.decision, Verdict::Allow, "{:?}", codes(&r));
}

#[test]
fn an_untrusted_attestation_signer_denies() {
    let k = keys();
    let mut files = standard_files(&k, &Spec::default());
    let test = statement(&[("app", hex(APP_BYTES))], "https://example.com/p", serde_json::json!({}));
    files.push(("attestations/rogue.intoto.json".into(), dsse(&test, &[&key(99)])));
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy = Policy::parse(&policy_json(serde_json::json!({}))).unwrap();
    let ctx =
        GateParams { roles: roles(&k), transparency: verified_transparency(), artifact: None, break_glass: None, sigstore_root: None };
    let r = evaluate(&v, &bytes, &policy, &ctx).unwrap();
    assert_eq!(
        r.decision.reasons.iter().map(|x| (x.code.as_ref(), x.subject.as_deref().unwrap_or(""))).collect::<Vec<_>>(),
        [("signer.threshold", "attestations/rogue.intoto.json")]
    );
}

#[test]
fn stale_or_foreign_proofs_deny() {
    let old = GateTransparency::Verified {
        rekor_uuid: "x".into(),
        log_index: 1,
        proof_ref: CasRef(Sha256Digest::of(TLOG_PROOF)),
        checkpoint_time: Some(Timestamp(NOW.0 - 100_000)),
    };
    assert_eq!(codes(&run(&Spec::default(), serde_json::json!({}), old, None)), ["transparency.proof-age"]);
    let foreign = GateTransparency::Verified {
        rekor_uuid: "x".into(),
        log_index: 1,
        proof_ref: CasRef(Sha256Digest::of(b"elsewhere")),
        checkpoint_time: Some(NOW),
    };
    let r = run(&Spec::default(), serde_json::json!({}), foreign, None);
    assert_eq!(codes(&r), ["transparency.unverifiable"]);
    assert!(r.gate_input.transparency.is_none());
}

fn approval(bundle_id: &str, reason: &str, issued: i64, expires: i64) -> Approval {
    Approval {
        schema: breakglass::SCHEMA.into(),
        bundle_id: bundle_id.into(),
        reason: reason.into(),
        issued_at: Timestamp(issued),
        expires_at: Timestamp(expires),
        overrides: vec!["transparency".into()],
    }
}

fn bundle_id() -> String {
    let k = keys();
    let bytes = zip_bundle(&standard_files(&k, &Spec::default()), &[&k.release]);
    verified(&bytes, &[&k.release]).get().manifest().bundle_id.clone()
}

#[test]
fn missing_transparency_denies_unless_break_glass_is_signed() {
    let k = keys();
    let r = run(&Spec::default(), serde_json::json!({}), GateTransparency::Missing, None);
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert_eq!(codes(&r), ["transparency.missing"]);
    assert_eq!(r.decision.transparency, "missing");

    let reason = "INC-4711: transparency log unreachable from the air gap";
    let id = bundle_id();
    let approvers = || RoleKeys::ed25519([k.approver_a.public().clone(), k.approver_b.public().clone()], 2);
    let good = breakglass::sign(&approval(&id, reason, NOW.0 - 60, NOW.0 + 3600), &[&k.approver_a, &k.approver_b]);
    let r = run(
        &Spec::default(),
        serde_json::json!({}),
        GateTransparency::Missing,
        Some((Request { reason: reason.into(), approval: good.clone() }, approvers())),
    );
    assert_eq!(r.decision.decision, Verdict::Allow, "{:?}", r.checks);
    let bg = r.decision.break_glass.as_ref().unwrap();
    assert_eq!(bg.reason, reason);
    assert_eq!(bg.approvers.len(), 2);
    assert_eq!(bg.approval_digest, Sha256Digest::of(&good));
    assert_eq!(r.decision.overridden.iter().map(|x| x.code.as_ref()).collect::<Vec<_>>(), ["transparency.missing"]);

    // Each flaw in the approval keeps the deny, with its own code.
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (breakglass::sign(&approval(&id, reason, NOW.0 - 60, NOW.0 + 3600), &[&k.approver_a]), reason, "break-glass.signatures"),
        (breakglass::sign(&approval(&id, reason, NOW.0 - 60, NOW.0 + 3600), &[&k.approver_a, &key(77)]), reason, "break-glass.signatures"),
        (
            breakglass::sign(&approval(&"0".repeat(64), reason, NOW.0 - 60, NOW.0 + 3600), &[&k.approver_a, &k.approver_b]),
            reason,
            "break-glass.bundle",
        ),
        (good.clone(), "another reason", "break-glass.reason"),
        (
            breakglass::sign(&approval(&id, reason, NOW.0 - 7200, NOW.0 - 3600), &[&k.approver_a, &k.approver_b]),
            reason,
            "break-glass.expiry",
        ),
        (
            breakglass::sign(&approval(&id, reason, NOW.0 - 60, NOW.0 + 30 * 86400), &[&k.approver_a, &k.approver_b]),
            reason,
            "break-glass.validity",
        ),
        (b"{\"not\":\"dsse\"}".to_vec(), reason, "break-glass.malformed"),
    ];
    for (bytes, given_reason, code) in cases {
        let r = run(
            &Spec::default(),
            serde_json::json!({}),
            GateTransparency::Missing,
            Some((Request { reason: given_reason.into(), approval: bytes }, approvers())),
        );
        assert_eq!(r.decision.decision, Verdict::Deny, "{code}");
        assert!(codes(&r).contains(&code) && codes(&r).contains(&"transparency.missing"), "{code}: {:?}", codes(&r));
        assert!(r.decision.break_glass.is_none());
    }

    // A break-glass never overrides anything but transparency.
    let spec = Spec { vex_status: "affected", ..Spec::default() };
    let r = run(
        &spec,
        serde_json::json!({}),
        GateTransparency::Missing,
        Some((Request { reason: reason.into(), approval: good.clone() }, approvers())),
    );
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(codes(&r).contains(&"vex.status"));
    // And a policy can forbid break-glass altogether.
    let r = run(
        &Spec::default(),
        serde_json::json!({"breakGlass": {"allowed": false}}),
        GateTransparency::Missing,
        Some((Request { reason: reason.into(), approval: good }, approvers())),
    );
    assert!(codes(&r).contains(&"break-glass.disallowed"));
}

#[test]
fn transparency_not_required_is_recorded_not_denied() {
    let r = run(&Spec::default(), serde_json::json!({"transparency": {"required": false}}), GateTransparency::Missing, None);
    assert_eq!(r.decision.decision, Verdict::Allow, "{:?}", codes(&r));
    assert_eq!(r.decision.transparency, "missing");
    assert!(r.gate_input.transparency.is_none());
}

#[test]
fn evidence_score_is_reproducible_from_the_manifest_alone() {
    // format-spec/gate-v1.md §evidenceScore: the same value from the manifest records by hand.
    let k = keys();
    let bytes = zip_bundle(&standard_files(&k, &Spec::default()), &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let m = &v.get().manifest();
    let mut doc = String::from("{\"artifact\":{\"digest\":\"");
    doc.push_str(&format!("sha256:{}\",\"path\":\"{APP}\"}},\"evidence\":[", hex(APP_BYTES)));
    let recs: Vec<String> = m
        .members
        .iter()
        .filter(|x| ["sbom", "provenance", "attestation", "vex", "tlog"].contains(&x.kind.name()))
        .map(|x| format!("{{\"digest\":\"{}\",\"kind\":\"{}\",\"path\":\"{}\"}}", x.digest, x.kind.name(), x.path))
        .collect();
    doc.push_str(&recs.join(","));
    doc.push_str("]}");
    let r = run(&Spec::default(), serde_json::json!({}), verified_transparency(), None);
    assert_eq!(r.gate_input.evidence.evidence_score, Sha256Digest::of(doc.as_bytes()).hex());
    assert_eq!(r.gate_input.evidence.bundle_digest, Sha256Digest::of(&m.to_bytes()));
}

#[test]
fn several_artifacts_need_a_choice() {
    let k = keys();
    let bytes = zip_bundle(&standard_files(&k, &Spec::default()), &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let mut p: serde_json::Value = serde_json::from_slice(&policy_json(serde_json::json!({}))).unwrap();
    p.as_object_mut().unwrap().remove("artifact");
    let policy = Policy::parse(&serde_json::to_vec(&p).unwrap()).unwrap();
    let mut ctx =
        GateParams { roles: roles(&k), transparency: verified_transparency(), artifact: None, break_glass: None, sigstore_root: None };
    let e = evaluate(&v, &bytes, &policy, &ctx).unwrap_err();
    assert!(e.to_string().contains("--artifact"), "{e}");
    ctx.artifact = Some("artifacts/nope".into());
    assert!(evaluate(&v, &bytes, &policy, &ctx).is_err());
    ctx.artifact = Some(APP.into());
    assert_eq!(evaluate(&v, &bytes, &policy, &ctx).unwrap().decision.decision, Verdict::Allow);
}

#[test]
fn a_failed_proof_denies_even_with_break_glass_and_undated_proofs_fail_an_age_limit() {
    let k = keys();
    let failed = GateTransparency::Failed { rule: "tlog.fork".into(), reason: "the cached checkpoint and the proof's disagree".into() };
    // Denied even when the policy does not require transparency.
    let r = run(&Spec::default(), serde_json::json!({"transparency": {"required": false}}), failed.clone(), None);
    assert_eq!(codes(&r), ["transparency.failed"]);
    let reason = "INC-1";
    let good = breakglass::sign(&approval(&bundle_id(), reason, NOW.0 - 60, NOW.0 + 3600), &[&k.approver_a, &k.approver_b]);
    let approvers = RoleKeys::ed25519([k.approver_a.public().clone(), k.approver_b.public().clone()], 2);
    let r = run(&Spec::default(), serde_json::json!({}), failed, Some((Request { reason: reason.into(), approval: good }, approvers)));
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(codes(&r).contains(&"transparency.failed"));
    let undated = GateTransparency::Verified {
        rekor_uuid: "x".into(),
        log_index: 1,
        proof_ref: CasRef(Sha256Digest::of(TLOG_PROOF)),
        checkpoint_time: None,
    };
    assert_eq!(codes(&run(&Spec::default(), serde_json::json!({}), undated, None)), ["transparency.proof-age"]);
}

/// An attestation whose signature under the attestor's keyid was altered is refused by the one
/// signature-fate policy, even though another attestor signature meets the threshold; so is a
/// break-glass approval carrying an altered approver signature.
#[test]
fn altered_signatures_under_trusted_keyids_deny() {
    let k = keys();
    let mut files = standard_files(&k, &Spec::default());
    let test = statement(&[("app", hex(APP_BYTES))], "https://example.com/p", serde_json::json!({}));
    let mut env = airlock::dsse::Envelope::parse(&dsse(&test, &[&k.attestor])).unwrap();
    let mut altered = env.signatures[0].clone();
    altered.sig[0] ^= 1;
    env.signatures.push(altered);
    files.push(("attestations/altered.intoto.json".into(), env.to_bytes()));
    let bytes = zip_bundle(&files, &[&k.release]);
    let v = verified(&bytes, &[&k.release]);
    let policy = Policy::parse(&policy_json(serde_json::json!({}))).unwrap();
    let params =
        GateParams { roles: roles(&k), transparency: verified_transparency(), artifact: None, break_glass: None, sigstore_root: None };
    let r = evaluate(&v, &bytes, &policy, &params).unwrap();
    assert_eq!(
        r.decision.reasons.iter().map(|x| (x.code.as_ref(), x.subject.as_deref().unwrap_or(""))).collect::<Vec<_>>(),
        [("signer.signature", "attestations/altered.intoto.json")]
    );

    let reason = "INC-9";
    let approvers = RoleKeys::ed25519([k.approver_a.public().clone(), k.approver_b.public().clone()], 1);
    let mut bg = airlock::dsse::Envelope::parse(&breakglass::sign(
        &approval(&bundle_id(), reason, NOW.0 - 60, NOW.0 + 3600),
        &[&k.approver_a, &k.approver_b],
    ))
    .unwrap();
    bg.signatures[1].sig[0] ^= 1;
    let req = Request { reason: reason.into(), approval: bg.to_bytes() };
    let r = run(&Spec::default(), serde_json::json!({}), GateTransparency::Missing, Some((req, approvers)));
    assert_eq!(r.decision.decision, Verdict::Deny);
    assert!(codes(&r).contains(&"break-glass.signature"), "{:?}", codes(&r));
    assert!(r.decision.break_glass.is_none());
}
