//! What a hook logs of its checks, one JSON record a line (`"record": "check"`, `"waiver"`,
//! `"summary"`), as hook-sdk writes them and CloudWatch keeps them; and the one way a check is
//! drawn on a line ([`CheckLine::short`]), which `hook-runner`, `hook-sim` and hook-sdk's text
//! report share.

use serde::{Deserialize, Serialize};

use crate::Phase;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// An expectation failed, or the check could not be run to the end.
    Failed,
    /// The check does not run in this phase.
    Skipped,
    /// The check was not run: an earlier one failed with `fail_fast`, or time ran out.
    NotRun,
}

/// What kind of error stopped a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The check could not be made, whatever the version does: the spec, the environment or
    /// the access to AWS is wrong (a variable not set, no credentials, no such function or
    /// version, access denied, a bad URL, Lambda unreachable). A hook still reports `Failed`;
    /// a CLI run says it is a set-up error, not a verdict on the version.
    Setup,
    /// The call was made and got no usable answer (a time-out, a throttle, a service error, a
    /// connection the target's API refused): a verdict on the version.
    Call,
}

/// The verdict on one assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionResult {
    /// The query, like `json $.statusCode` or `duration`.
    pub query: String,
    /// The predicate, like `== 200`.
    pub expected: String,
    /// What was found.
    pub actual: String,
    /// Whether it held.
    pub passed: bool,
}

/// One line of a hook's log about its checks. Other lines (the hook's progress) are none of
/// these.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "record", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Record {
    /// A check against one target, or an HTTP check.
    Check(CheckLine),
    /// A target whose checks were skipped as the spec allows.
    Waiver {
        /// The sentence said of it.
        message: String,
    },
    /// The end of a phase's checks.
    Summary {
        /// The phase.
        #[serde(default)]
        phase: Option<Phase>,
        /// Whether every check passed (`false` when the line does not say).
        #[serde(default)]
        passed: bool,
    },
}

#[cfg(feature = "spec")]
impl Record {
    /// The record a log line holds, if it is one (`None` for any other line).
    pub fn parse(line: &str) -> Option<Record> {
        if !line.contains("\"record\"") {
            return None;
        }
        serde_json::from_str(line).ok()
    }
}

/// A check as a hook logs it (the fields a reader needs; the log has more).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CheckLine {
    /// The check's name.
    pub name: String,
    /// The target, as `function:qualifier`.
    #[serde(default)]
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// What stopped it, if an error did.
    #[serde(default)]
    pub error: Option<String>,
    /// The kind of that error.
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
    /// Why it was skipped or not run, or passed without a verdict.
    #[serde(default)]
    pub note: Option<String>,
    /// Its assertions.
    #[serde(default)]
    pub assertions: Vec<AssertionResult>,
}

impl CheckLine {
    /// A line of `name` against `target` that ended in `outcome`, with no details.
    pub fn new(name: &str, target: Option<&str>, outcome: Outcome) -> CheckLine {
        CheckLine {
            name: name.to_string(),
            target: target.map(str::to_string),
            outcome,
            error: None,
            error_kind: None,
            note: None,
            assertions: Vec::new(),
        }
    }

    /// The same, stopped by an error of `kind` (a set-up error is marked `!`).
    pub fn with_error_kind(mut self, kind: Option<ErrorKind>) -> CheckLine {
        self.error_kind = kind;
        self
    }

    /// The same, drawn against `target` (a function without its version, say).
    pub fn with_target(mut self, target: Option<&str>) -> CheckLine {
        self.target = target.map(str::to_string);
        self
    }

    /// Whether it failed because it could not be made: a set-up error, not a verdict on the
    /// version.
    pub fn is_setup_error(&self) -> bool {
        self.outcome == Outcome::Failed && self.error_kind == Some(ErrorKind::Setup)
    }

    /// `✔` passed, `✘` failed, `!` could not be made (a set-up error), `-` skipped or not run.
    pub fn mark(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "✔",
            Outcome::Failed if self.is_setup_error() => "!",
            Outcome::Failed => "✘",
            Outcome::Skipped | Outcome::NotRun => "-",
        }
    }

    /// `name [target]`.
    pub fn title(&self) -> String {
        match &self.target {
            Some(t) => format!("{} [{t}]", self.name),
            None => self.name.clone(),
        }
    }

    /// The check on one line: `✔ greets [hello-fn:2]`, `! health (set-up error)`, `- slow
    /// (skipped)`, `- later (not run)`; with `color`, the mark green or red, and a line that
    /// did not run dim (ANSI).
    pub fn short(&self, color: bool) -> String {
        let paint = |code: &str, t: &str| match color {
            true => format!("\x1b[{code}m{t}\x1b[0m"),
            false => t.to_string(),
        };
        let title = self.title();
        match self.outcome {
            Outcome::Passed => format!("{} {title}", paint("32", self.mark())),
            Outcome::Failed if self.is_setup_error() => format!("{} {title} (set-up error)", paint("31", self.mark())),
            Outcome::Failed => format!("{} {title}", paint("31", self.mark())),
            Outcome::Skipped => paint("2", &format!("{} {title} (skipped)", self.mark())),
            Outcome::NotRun => paint("2", &format!("{} {title} (not run)", self.mark())),
        }
    }
}

#[cfg(all(test, feature = "spec"))]
mod tests {
    use super::*;

    #[test]
    fn a_hooks_log_line_reads_into_its_record_and_draws_one_way() {
        let line = r#"{"record":"check","name":"greets","target":"hello-fn:2","outcome":"Failed","attempts":1,"assertions":[{"query":"status","expected":"== 200","actual":"500","passed":false}],"error":"no such function","error_kind":"setup","note":null,"duration_ms":1.0}"#;
        let Some(Record::Check(check)) = Record::parse(line) else {
            panic!("a check record");
        };
        assert!(check.is_setup_error());
        assert_eq!(check.assertions[0].actual, "500");
        assert_eq!(check.short(false), "! greets [hello-fn:2] (set-up error)");
        assert_eq!(check.short(true), "\x1b[31m!\x1b[0m greets [hello-fn:2] (set-up error)");
        let not_run = CheckLine::new("later", None, Outcome::NotRun);
        assert_eq!(not_run.short(false), "- later (not run)");
        assert_eq!(not_run.short(true), "\x1b[2m- later (not run)\x1b[0m");
        assert_eq!(
            Record::parse(r#"{"record":"summary","phase":"BeforeAllowTraffic","passed":true,"checks":2}"#),
            Some(Record::Summary {
                phase: Some(Phase::BeforeAllowTraffic),
                passed: true
            })
        );
        assert_eq!(
            Record::parse(r#"{"level":"INFO","message":"lifecycle event received"}"#),
            None
        );
        assert_eq!(
            Record::parse(r#"{"record":"check","name":"#),
            None,
            "a cut line is no record"
        );
    }
}
