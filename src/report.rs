//! Reports: every check, passed or failed, with expected vs actual; one text rendering of them;
//! and the one way an error names itself ([`Diagnostic`]) and becomes the exit-2 document
//! ([`ErrorDoc`]). Reports are owned values that serialise and read back unchanged, so the
//! evidence ledger can store what a command printed and show it again. The JSON forms are
//! versioned (`schema` field; `format-spec/schemas/*-v1.schema.json`).

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Schema id of the verify report.
pub const VERIFY_REPORT_SCHEMA: &str = "airlock/verify-report/v1";
/// Schema id of the error document of commands that have no report schema of their own.
pub const ERROR_SCHEMA: &str = "airlock/error/v1";

/// A check's status. `Info` never decides the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed: the bundle is not acceptable.
    Fail,
    /// Recorded for the audit trail only (e.g. a signature by an untrusted key).
    Info,
}

impl Status {
    /// `PASS`, `FAIL` or `INFO`.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Info => "INFO",
        }
    }
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable check id, e.g. `member.digest`.
    pub id: Cow<'static, str>,
    /// What it was about (a member path, a key id), if anything in particular.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Expected value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Actual value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// One line in words.
    pub detail: String,
}

impl Check {
    /// A check with status from a boolean.
    pub fn new(id: impl Into<Cow<'static, str>>, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            id: id.into(),
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
    /// True when failed.
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

/// Final outcome of a command that checks things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        if checks.iter().any(Check::failed) { Outcome::Fail } else { Outcome::Pass }
    }

    /// `pass`, `fail` or `error`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

/// The one text rendering of checks: a `PASS|FAIL|INFO id subject: detail` line each, and
/// under a failure that has them, its expected and actual values.
pub fn render_checks(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let subject = c.subject.as_deref().map(|x| format!("{x}: ")).unwrap_or_default();
        s.push_str(&format!("{} {:<26} {subject}{}\n", c.status.tag(), c.id, c.detail));
        if c.failed()
            && let (Some(e), Some(a)) = (&c.expected, &c.actual)
        {
            s.push_str(&format!("     expected {e}\n     actual   {a}\n"));
        }
    }
    s
}

/// `N passed, M failed` over checks.
pub fn tally_line(checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| c.failed()).count();
    let passed = checks.iter().filter(|c| c.status == Status::Pass).count();
    format!("{passed} passed, {failed} failed")
}

/// How an error names itself: a stable id (the rule or kind it broke, e.g.
/// `bundle.missing-control`, `rotation.version`, `io`) and one line saying what to try. Every
/// error enum of every layer implements it; the shell turns any of them into the exit-2
/// document and the `hint:` line through this trait only.
pub trait Diagnostic: std::error::Error {
    /// The stable id.
    fn id(&self) -> Cow<'static, str>;
    /// One line saying what to try.
    fn hint(&self) -> Cow<'static, str>;
}

/// What an error document says about the error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error's stable id ([`Diagnostic::id`]).
    pub kind: String,
    /// The whole message, causes included.
    pub message: String,
    /// What to try.
    pub hint: String,
}

/// The document every `--json` command prints when it could not check (exit 2):
/// `{"schema", "command", "outcome": "error", "error": {"kind", "message", "hint"}}`, plus the
/// input it was about when there is one (`bundle`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDoc {
    /// The command's report schema, or [`ERROR_SCHEMA`].
    pub schema: String,
    /// The command (`verify`, `trust update`, ...).
    pub command: String,
    /// The file the command was checking, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// Always [`Outcome::Error`].
    pub outcome: Outcome,
    /// The error.
    pub error: ErrorBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_read_back_unchanged() {
        let checks = vec![
            Check::new("member.digest", false, "digest differs").subject("artifacts/a").values("sha256:aa", "sha256:bb"),
            Check::new(String::from("signature"), true, "ok").info(),
        ];
        let text = serde_json::to_string(&checks).unwrap();
        let back: Vec<Check> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, checks);
        assert!(serde_json::from_str::<Check>(r#"{"id":"x","status":"pass","detail":"","extra":1}"#).is_err());
    }

    #[test]
    fn rendering_shows_values_under_failures_only() {
        let text = render_checks(&[
            Check::new("a", true, "fine").values("1", "1"),
            Check::new("b", false, "broken").subject("s").values("1", "2"),
        ]);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.contains("FAIL b") && text.contains("s: broken") && text.contains("expected 1") && text.contains("actual   2"));
        assert_eq!(
            tally_line(&[Check::new("a", true, ""), Check::new("b", false, ""), Check::new("c", true, "").info()]),
            "1 passed, 1 failed"
        );
    }
}
