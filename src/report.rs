//! Reports: every check, passed or failed, with expected vs actual. The JSON form is versioned
//! (`schema` field; `format-spec/schemas/verify-report-v1.schema.json`).

use serde::Serialize;

/// Schema id of the verify report.
pub const VERIFY_REPORT_SCHEMA: &str = "airlock/verify-report/v1";

/// A check's status. `Info` never decides the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed: the bundle is not acceptable.
    Fail,
    /// Recorded for the audit trail only (e.g. a signature by an untrusted key).
    Info,
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable check id, e.g. `member.digest`.
    pub id: &'static str,
    /// What it was about (a member path, a key id), if anything in particular.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Expected value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Actual value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// One line in words.
    pub detail: String,
}

impl Check {
    /// A check with status from a boolean.
    pub fn new(id: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            id,
            subject: None,
            status: if ok { Status::Pass } else { Status::Fail },
            expected: None,
            actual: None,
            detail: detail.into(),
        }
    }
    /// Sets the subject.
    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }
    /// Sets expected and actual.
    pub fn values(mut self, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.actual = Some(actual.into());
        self
    }
    /// Marks as informational.
    pub fn info(mut self) -> Self {
        self.status = Status::Info;
        self
    }
}

/// Final outcome of a command that checks things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check passed: exit 0.
    Pass,
    /// A check failed: exit 1.
    Fail,
    /// Could not check: exit 2.
    Error,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Error => 2,
        }
    }

    /// Pass unless any check failed.
    pub fn of(checks: &[Check]) -> Self {
        if checks.iter().any(|c| c.status == Status::Fail) { Outcome::Fail } else { Outcome::Pass }
    }
}
