//! Remediation plans (sans-I/O): a reconciliation report → per drifted endpoint (and per target
//! nothing was observed for) an action and a due time, as a document the operator role signs
//! (DSSE through [`crate::signed`], like the promotion documents). `format-spec/inventory-v1.md` §6.

use super::InventoryError;
use super::reconcile::{DriftClass, Report};
use crate::digest::Sha256Digest;
use crate::promotion::{BundleRef, Document};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `schema` of a plan.
pub const PLAN_SCHEMA: &str = "airlock/remediation-plan/v1";
/// Longest SLA accepted, hours (a year).
pub const MAX_SLA_HOURS: u32 = 24 * 366;

/// How drift is to be corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Install the signed release's binary on every drifted endpoint.
    Republish,
    /// Run the target's rollback steps on every drifted endpoint.
    Rollback,
    /// Republish where the binary is not the signed one, roll back where the version differs.
    Mixed,
}

/// What is to be done on one endpoint or target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Install the signed binary (verified by SHA-256 before installing).
    Republish,
    /// The deployment target's rollback steps.
    Rollback,
    /// Collect inventory again: the data was missing, stale or contradictory.
    Reinventory,
    /// Find which deployment target the endpoint belongs to.
    Investigate,
}

/// One planned action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlannedAction {
    /// The endpoint, absent for a target no endpoint was observed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The deployment target, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The drift classes found, sorted.
    pub classes: Vec<DriftClass>,
    /// The action.
    pub action: Action,
    /// Steps, in order.
    pub steps: Vec<String>,
    /// When it must be done by.
    pub due_at: Timestamp,
}

/// A remediation plan (`airlock/remediation-plan/v1`), signed by the operator role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemediationPlan {
    /// [`PLAN_SCHEMA`].
    pub schema: String,
    /// The bundle of the report.
    pub bundle: BundleRef,
    /// The report's id.
    pub report: Sha256Digest,
    /// Strategy.
    pub strategy: Strategy,
    /// Hours from `createdAt` to every `dueAt`.
    pub sla_hours: u32,
    /// When planned.
    pub created_at: Timestamp,
    /// Actions, sorted by endpoint (target-level ones first).
    pub actions: Vec<PlannedAction>,
}

impl Document for RemediationPlan {
    const PAYLOAD_TYPE: &'static str = "application/vnd.airlock.remediation-plan.v1+json";
    const SCHEMA: &'static str = PLAN_SCHEMA;
    const NAME: &'static str = "remediation plan";
    fn schema(&self) -> &str {
        &self.schema
    }
    fn bundle(&self) -> &BundleRef {
        &self.bundle
    }
    fn check_fields(&self) -> Result<(), (&'static str, String)> {
        if self.sla_hours == 0 || self.sla_hours > MAX_SLA_HOURS {
            return Err(("slaHours", format!("must be 1..={MAX_SLA_HOURS}")));
        }
        if self.actions.is_empty() {
            return Err(("actions", "a plan has at least one action".into()));
        }
        let due = Timestamp(self.created_at.0 + i64::from(self.sla_hours) * 3600);
        if self.actions.iter().any(|a| a.due_at != due) {
            return Err(("actions", format!("every dueAt is createdAt + slaHours ({due})")));
        }
        Ok(())
    }
}

/// Plans the remediation of a report's drift. `Err` when the report has none.
pub fn plan(report: &Report, strategy: Strategy, sla_hours: u32, now: Timestamp) -> Result<RemediationPlan, InventoryError> {
    if !report.drifted() {
        return Err(InventoryError::Report(format!("report {} found no drift; there is nothing to remediate", report.report_id)));
    }
    if sla_hours == 0 || sla_hours > MAX_SLA_HOURS {
        return Err(InventoryError::Report(format!("--sla-hours {sla_hours} is outside 1..={MAX_SLA_HOURS}")));
    }
    let due_at = Timestamp(now.0 + i64::from(sla_hours) * 3600);
    let targets: BTreeMap<&str, _> = report.targets.iter().map(|t| (t.id.as_str(), t)).collect();
    let endpoint_target: BTreeMap<&str, &str> =
        report.endpoints.iter().filter_map(|e| e.target.as_deref().map(|t| (e.endpoint.as_str(), t))).collect();
    let mut by_key: BTreeMap<(Option<&str>, Option<&str>), BTreeSet<DriftClass>> = BTreeMap::new();
    for f in &report.findings {
        let target = f.target.as_deref().or_else(|| f.endpoint.as_deref().and_then(|e| endpoint_target.get(e).copied()));
        by_key.entry((f.endpoint.as_deref(), target)).or_default().insert(f.class);
    }
    let mut actions = vec![];
    for ((endpoint, target), classes) in by_key {
        let t = target.and_then(|t| targets.get(t).copied());
        let binary = classes.contains(&DriftClass::BinaryDrift);
        let version = classes.contains(&DriftClass::VersionDrift);
        let action = if binary || version {
            match strategy {
                Strategy::Republish => Action::Republish,
                Strategy::Rollback => Action::Rollback,
                Strategy::Mixed if binary => Action::Republish,
                Strategy::Mixed => Action::Rollback,
            }
        } else if classes.contains(&DriftClass::UnknownTarget) {
            Action::Investigate
        } else {
            Action::Reinventory
        };
        let steps = match (action, t) {
            (Action::Republish, Some(t)) => vec![
                format!(
                    "install {} {} ({}) to {} with {}",
                    report.bundle.product, t.version, t.installer, t.install_path, t.management_tool
                ),
                format!("the installer verifies SHA-256 {} before installing (airlock export endpoint-management)", t.digest.prefixed()),
            ],
            (Action::Rollback, Some(t)) => t.rollback.clone(),
            (Action::Reinventory, _) => vec![
                "export the inventory again from every provider that manages the endpoint".into(),
                "airlock inventory ingest EXPORT --provider P -o OBS, then airlock reconcile again".into(),
            ],
            _ => vec!["find which deployment target of the release the endpoint belongs to, and fix its management scope".into()],
        };
        actions.push(PlannedAction {
            endpoint: endpoint.map(String::from),
            target: target.map(String::from),
            classes: classes.into_iter().collect(),
            action,
            steps,
            due_at,
        });
    }
    Ok(RemediationPlan {
        schema: PLAN_SCHEMA.into(),
        bundle: report.bundle.clone(),
        report: report.report_id,
        strategy,
        sla_hours,
        created_at: now,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::reconcile::{reconcile, tests as r};

    #[test]
    fn a_plan_per_drifted_endpoint_with_its_due_time() {
        let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        let report = reconcile(&r::desired(), &r::fixtures(), now, 48 * 3600).unwrap();
        let p = plan(&report, Strategy::Mixed, 24, now).unwrap();
        assert!(p.check_fields().is_ok());
        let action = |e: &str| p.actions.iter().find(|a| a.endpoint.as_deref() == Some(e)).map(|a| a.action);
        assert_eq!(action("host:lin-tampered"), Some(Action::Republish));
        assert_eq!(action("serial:C02OLD000002"), Some(Action::Rollback));
        assert_eq!(action("serial:W-SILENT-03"), Some(Action::Reinventory));
        assert_eq!(action("host:tablet-7"), Some(Action::Investigate));
        assert_eq!(action("host:lin-ok"), None, "aligned endpoints get no action");
        assert!(p.actions.iter().any(|a| a.endpoint.is_none() && a.target.as_deref() == Some("mac-canary")));
        assert!(p.actions.iter().all(|a| a.due_at == Timestamp(now.0 + 24 * 3600)));
        let all = plan(&report, Strategy::Republish, 24, now).unwrap();
        assert_eq!(all.actions.iter().find(|a| a.endpoint.as_deref() == Some("serial:C02OLD000002")).unwrap().action, Action::Republish);
        assert!(plan(&report, Strategy::Mixed, 0, now).is_err());
    }
}
