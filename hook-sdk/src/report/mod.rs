//! Reports: what the checks found, as plain data, and renderers that only read it.

#[cfg(test)]
mod golden_tests;
mod json;
mod junit;
mod text;

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::event::Phase;
use crate::redact::Redactor;
pub use crate::spec::record::{AssertionResult, CheckLine, ErrorKind, Outcome};

pub use json::{render_json, render_json_lines};
pub use junit::render_junit;
pub use text::render_text;

/// Figures over the runs of a repeated check. Durations are those of the runs that passed:
/// a failed call can be fast (refused at once) or slow (timed out), and says nothing of
/// the version's latency. Every failed run is counted in `failed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunStats {
    /// Runs made.
    pub runs: u32,
    /// Runs whose expectations held.
    pub passed: u32,
    /// Runs that errored or failed an expectation.
    pub failed: u32,
    /// `passed / runs`.
    pub success_rate: f64,
    /// Median duration of the passed runs (none when no run passed).
    #[serde(serialize_with = "ms_opt", rename = "p50_ms")]
    pub p50: Option<Duration>,
    /// 90th percentile of the passed runs.
    #[serde(serialize_with = "ms_opt", rename = "p90_ms")]
    pub p90: Option<Duration>,
    /// 95th percentile of the passed runs.
    #[serde(serialize_with = "ms_opt", rename = "p95_ms")]
    pub p95: Option<Duration>,
    /// 99th percentile of the passed runs.
    #[serde(serialize_with = "ms_opt", rename = "p99_ms")]
    pub p99: Option<Duration>,
    /// Slowest passed run.
    #[serde(serialize_with = "ms_opt", rename = "max_ms")]
    pub max: Option<Duration>,
}

impl RunStats {
    /// Figures from the durations of the runs that passed, out of `runs` in all.
    pub fn from_runs(mut passed: Vec<Duration>, runs: u32) -> RunStats {
        passed.sort();
        let ok = passed.len() as u32;
        let pick = |p: f64| {
            // Nearest rank.
            let rank = ((p * passed.len() as f64).ceil() as usize).clamp(1, passed.len().max(1));
            passed.get(rank - 1).copied()
        };
        RunStats {
            runs,
            passed: ok,
            failed: runs.saturating_sub(ok),
            success_rate: if runs == 0 {
                0.0
            } else {
                f64::from(ok) / f64::from(runs)
            },
            p50: pick(0.50),
            p90: pick(0.90),
            p95: pick(0.95),
            p99: pick(0.99),
            max: passed.last().copied(),
        }
    }
}

/// How a check ended, with only what that ending has.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CheckResult {
    /// Every expectation held.
    Passed {
        /// Why it passed without a verdict of its evidence, when so (a metrics check whose
        /// spec says `inconclusive: pass`).
        note: Option<String>,
    },
    /// It failed: the failure says how.
    Failed(CheckFailure),
    /// The check does not run in this phase, or selects nothing here.
    Skipped {
        /// Why.
        reason: String,
    },
    /// The check was not run: an earlier one failed with `fail_fast`, or time ran out.
    NotRun {
        /// Why.
        reason: String,
    },
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CheckFailure {
    /// An answer came and an expectation did not hold: the report's `assertions` say what was
    /// expected and what was seen (for a repeated check, its thresholds and `sample_failure`).
    Expectation,
    /// The check's evidence said no in words: a metrics check's figures were worse, or gave
    /// nothing to judge by and the spec says `inconclusive: fail`.
    Verdict(String),
    /// The check could not be made ([`ErrorKind::Setup`]) or its call got no usable answer
    /// ([`ErrorKind::Call`]).
    Error {
        /// Which of the two.
        kind: ErrorKind,
        /// What happened, causes included.
        message: String,
    },
}

impl CheckFailure {
    /// A set-up error: the check could not be made.
    pub fn setup(message: impl Into<String>) -> CheckFailure {
        CheckFailure::Error {
            kind: ErrorKind::Setup,
            message: message.into(),
        }
    }

    /// A call that got no usable answer.
    pub fn call(message: impl Into<String>) -> CheckFailure {
        CheckFailure::Error {
            kind: ErrorKind::Call,
            message: message.into(),
        }
    }

    /// The message, for a failure that has one.
    pub fn message(&self) -> Option<&str> {
        match self {
            CheckFailure::Expectation => None,
            CheckFailure::Verdict(m) | CheckFailure::Error { message: m, .. } => Some(m),
        }
    }

    /// The kind of error, for a failure that is one.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            CheckFailure::Error { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

impl CheckResult {
    /// How it ended, without the details.
    pub fn outcome(&self) -> Outcome {
        match self {
            CheckResult::Passed { .. } => Outcome::Passed,
            CheckResult::Failed(_) => Outcome::Failed,
            CheckResult::Skipped { .. } => Outcome::Skipped,
            CheckResult::NotRun { .. } => Outcome::NotRun,
        }
    }

    /// Passed, or failed on its expectations: what a run of checks gives by its assertions.
    pub fn by_expectations(passed: bool) -> CheckResult {
        if passed {
            CheckResult::Passed { note: None }
        } else {
            CheckResult::Failed(CheckFailure::Expectation)
        }
    }
}

/// One check against one target (or one HTTP check).
///
/// Logged as JSON with the flat fields it always had: `outcome`, `error`, `error_kind` (`null`
/// for a failed expectation or a metrics verdict) and `note` (why a check was skipped or not
/// run, or passed without a verdict).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// The target, as `function:qualifier`, for invoke checks.
    pub target: Option<String>,
    /// How it ended.
    pub result: CheckResult,
    /// Attempts made (runs, for a repeated check).
    pub attempts: u32,
    /// The assertions of the last attempt, or the thresholds of a repeated check.
    pub assertions: Vec<AssertionResult>,
    /// For a repeated check: the assertions of the first failed run.
    pub sample_failure: Vec<AssertionResult>,
    /// Figures of a repeated check.
    pub stats: Option<RunStats>,
    /// What a metrics check compared: the window, the alias, the versions.
    pub metrics: Option<MetricsSummary>,
    /// Wall time of the check.
    pub duration: Duration,
}

impl Serialize for CheckReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The report as it is logged: flat, in the order readers (hook-sim's summary, the
        /// golden files) know.
        #[derive(Serialize)]
        struct Wire<'a> {
            name: &'a str,
            target: Option<&'a str>,
            outcome: Outcome,
            attempts: u32,
            assertions: &'a [AssertionResult],
            sample_failure: &'a [AssertionResult],
            error: Option<&'a str>,
            error_kind: Option<ErrorKind>,
            note: Option<&'a str>,
            stats: Option<&'a RunStats>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics: Option<&'a MetricsSummary>,
            #[serde(serialize_with = "ms")]
            duration_ms: &'a Duration,
        }
        Wire {
            name: &self.name,
            target: self.target.as_deref(),
            outcome: self.outcome(),
            attempts: self.attempts,
            assertions: &self.assertions,
            sample_failure: &self.sample_failure,
            error: self.error(),
            error_kind: self.error_kind(),
            note: self.note(),
            stats: self.stats.as_ref(),
            metrics: self.metrics.as_ref(),
            duration_ms: &self.duration,
        }
        .serialize(s)
    }
}

/// What a metrics check compared (its figures are its assertions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSummary {
    /// The window, as text: `12:01:00–12:06:00 UTC (traffic shifting)`.
    pub window: String,
    /// The alias the invocations went through.
    pub alias: String,
    /// The new version.
    pub target_version: String,
    /// The version traffic moved away from, if any.
    pub current_version: Option<String>,
    /// Why the figures gave no verdict, if they did not.
    pub inconclusive: Option<String>,
}

impl CheckReport {
    /// A report of `name` that fails until a run says otherwise.
    pub fn failed_before_run(name: &str) -> CheckReport {
        CheckReport {
            name: name.to_string(),
            target: None,
            result: CheckResult::Failed(CheckFailure::Expectation),
            attempts: 0,
            assertions: Vec::new(),
            sample_failure: Vec::new(),
            stats: None,
            metrics: None,
            duration: Duration::ZERO,
        }
    }

    /// Masks secrets and URL credentials in every text of the report.
    pub(crate) fn redact(&mut self, r: &Redactor) {
        if let Some(t) = &mut self.target {
            r.redact_in_place(t);
        }
        match &mut self.result {
            CheckResult::Passed { note: Some(text) }
            | CheckResult::Skipped { reason: text }
            | CheckResult::NotRun { reason: text }
            | CheckResult::Failed(CheckFailure::Verdict(text) | CheckFailure::Error { message: text, .. }) => {
                r.redact_in_place(text)
            }
            CheckResult::Passed { note: None } | CheckResult::Failed(CheckFailure::Expectation) => {}
        }
        if let Some(m) = &mut self.metrics {
            for text in [&mut m.window, &mut m.alias].into_iter().chain(m.inconclusive.as_mut()) {
                r.redact_in_place(text);
            }
        }
        for a in self.assertions.iter_mut().chain(self.sample_failure.iter_mut()) {
            r.redact_in_place(&mut a.query);
            r.redact_in_place(&mut a.expected);
            r.redact_in_place(&mut a.actual);
        }
    }

    /// The check as a hook logs it, for drawing it on one line ([`CheckLine::short`]).
    pub fn line(&self) -> CheckLine {
        CheckLine::new(&self.name, self.target.as_deref(), self.outcome()).with_error_kind(self.error_kind())
    }

    /// How it ended, without the details.
    pub fn outcome(&self) -> Outcome {
        self.result.outcome()
    }

    /// Why it failed, when the failure has words of its own (an error, a metrics verdict).
    pub fn error(&self) -> Option<&str> {
        match &self.result {
            CheckResult::Failed(f) => f.message(),
            _ => None,
        }
    }

    /// What kind of error stopped it, when one did.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match &self.result {
            CheckResult::Failed(f) => f.error_kind(),
            _ => None,
        }
    }

    /// Why it was skipped or not run, or passed without a verdict.
    pub fn note(&self) -> Option<&str> {
        match &self.result {
            CheckResult::Passed { note } => note.as_deref(),
            CheckResult::Skipped { reason } | CheckResult::NotRun { reason } => Some(reason),
            CheckResult::Failed(_) => None,
        }
    }

    /// Whether it failed because it could not be made (see [`ErrorKind::Setup`]).
    pub fn is_setup_error(&self) -> bool {
        self.error_kind() == Some(ErrorKind::Setup)
    }

    /// The function of an invoke check's target (`target` without its qualifier): a name
    /// that stays the same from one deployment to the next.
    pub fn function(&self) -> Option<&str> {
        self.target.as_deref().map(|t| t.rsplit_once(':').map_or(t, |(f, _)| f))
    }

    /// The qualifier of an invoke check's target (the version, or the alias).
    pub fn qualifier(&self) -> Option<&str> {
        self.target.as_deref().and_then(|t| t.rsplit_once(':')).map(|(_, q)| q)
    }

    /// The assertions that failed.
    pub fn failures(&self) -> impl Iterator<Item = &AssertionResult> {
        self.assertions.iter().filter(|a| !a.passed)
    }

    /// One line on why it failed, for logs and status reasons: the error, or the first
    /// expectation that failed; for a repeated check, its figures first (its failed run shows
    /// the error).
    pub fn reason(&self) -> Option<String> {
        if self.outcome() != Outcome::Failed {
            return None;
        }
        let what = match &self.target {
            Some(t) => format!("{} [{t}]", self.name),
            None => self.name.clone(),
        };
        let first = self.failures().next();
        let sample = self.sample_failure.iter().find(|a| !a.passed);
        let line = |a: &AssertionResult| format!("{} expected {}, actual {}", a.query, a.expected, a.actual);
        let by_expectations = match (first, sample) {
            (Some(a), Some(s)) => Some(format!("{}; a failed run: {}", line(a), line(s))),
            (Some(a), None) | (None, Some(a)) => Some(line(a)),
            (None, None) => None,
        };
        let error = self.error().map(str::to_string);
        let why = if self.stats.is_some() {
            by_expectations.or(error)
        } else {
            error.or(by_expectations)
        };
        why.map(|why| format!("{what}: {why}"))
    }
}

/// A target version that asked to skip its checks (`HOOK_SKIP_CHECKS` in its environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// The version, as `function:version`.
    pub target: String,
    /// The reason the version gives.
    pub reason: String,
    /// Whether the checks were skipped: only when the spec says `allow_skip: true`.
    pub granted: bool,
    /// What decided: the spec and its key, or why the request was refused.
    pub decided_by: String,
}

impl Waiver {
    /// The record's one line, for logs and reports.
    pub fn line(&self) -> String {
        if self.granted {
            format!(
                "CHECKS SKIPPED for {}: \"{}\" (HOOK_SKIP_CHECKS of the version; allowed by {})",
                self.target, self.reason, self.decided_by
            )
        } else {
            format!(
                "{} asked to skip its checks (\"{}\"), refused: {}; the checks ran",
                self.target, self.reason, self.decided_by
            )
        }
    }
}

/// What a run of a spec found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The spec's source, when known.
    pub source: Option<String>,
    /// The phase the checks ran in.
    pub phase: Option<Phase>,
    /// The deployment, when run by a hook.
    pub deployment_id: Option<String>,
    /// Every check, in spec order.
    pub checks: Vec<CheckReport>,
    /// Target versions that asked to skip their checks, granted or not.
    pub waivers: Vec<Waiver>,
    /// Whether every target's checks were skipped as allowed: the run passes with no check.
    pub every_target_waived: bool,
    /// Wall time of the whole run.
    #[serde(serialize_with = "ms", rename = "duration_ms")]
    pub duration: Duration,
}

/// Counts of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed checks.
    pub passed: usize,
    /// Failed checks.
    pub failed: usize,
    /// Skipped checks.
    pub skipped: usize,
    /// Checks not run.
    pub not_run: usize,
    /// Of the failed checks, those that could not be made (set-up errors).
    pub setup_errors: usize,
}

impl Report {
    /// Masks secrets and URL credentials in every check and every skip's record.
    pub(crate) fn redact(&mut self, r: &Redactor) {
        for c in &mut self.checks {
            c.redact(r);
        }
        for w in &mut self.waivers {
            r.redact_in_place(&mut w.reason);
        }
    }

    /// Counts of outcomes.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for check in &self.checks {
            match check.outcome() {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed => {
                    c.failed += 1;
                    if check.is_setup_error() {
                        c.setup_errors += 1;
                    }
                }
                Outcome::Skipped => c.skipped += 1,
                Outcome::NotRun => c.not_run += 1,
            }
        }
        c
    }

    /// Whether the deployment may go on: at least one check ran (or every target skipped its
    /// checks as the spec allows), none failed, none was left out.
    pub fn passed(&self) -> bool {
        let c = self.counts();
        (c.passed > 0 || self.every_target_waived) && c.failed == 0 && c.not_run == 0
    }

    /// The targets whose checks were skipped as allowed, as `function:version`.
    pub fn waived_targets(&self) -> impl Iterator<Item = &str> {
        self.waivers.iter().filter(|w| w.granted).map(|w| w.target.as_str())
    }

    /// Why the report did not pass, in one line.
    pub fn failure_summary(&self) -> Option<String> {
        if self.passed() {
            return None;
        }
        let c = self.counts();
        if c.passed + c.failed + c.not_run == 0 {
            let phase = self.phase.map_or("this phase".to_string(), |p| p.to_string());
            return Some(format!("no check of the spec runs in {phase}: nothing was tested"));
        }
        let reasons: Vec<String> = self.checks.iter().filter_map(CheckReport::reason).collect();
        let mut s = format!("{} of {} checks failed", c.failed, c.passed + c.failed + c.not_run);
        if c.not_run > 0 {
            s.push_str(&format!(", {} not run", c.not_run));
        }
        if !reasons.is_empty() {
            s.push_str(": ");
            s.push_str(&reasons.join("; "));
        }
        Some(s)
    }
}

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn ms_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ms(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// A report with one of everything, for the renderers' golden files.
    pub(crate) fn report() -> Report {
        let a = |query: &str, expected: &str, actual: &str, passed: bool| AssertionResult {
            query: query.into(),
            expected: expected.into(),
            actual: actual.into(),
            passed,
        };
        Report {
            source: Some("smoke.yaml".into()),
            phase: Some(Phase::BeforeAllowTraffic),
            deployment_id: Some("d-EXAMPLE".into()),
            waivers: vec![],
            every_target_waived: false,
            checks: vec![
                CheckReport {
                    name: "greets the canary".into(),
                    target: Some("hello-fn:2".into()),
                    result: CheckResult::Passed { note: None },
                    attempts: 1,
                    assertions: vec![
                        a("function_error", "none", "none", true),
                        a("json $.statusCode", "== 200", "200", true),
                    ],
                    sample_failure: vec![],
                    stats: None,
                    metrics: None,
                    duration: Duration::from_micros(12_340),
                },
                CheckReport {
                    name: "says hello".into(),
                    target: Some("hello-fn:2".into()),
                    result: CheckResult::Failed(CheckFailure::Expectation),
                    attempts: 3,
                    assertions: vec![
                        a("function_error", "none", "none", true),
                        a(
                            "json $.body.message",
                            "matches /^Hello, canary/",
                            "\"Goodbye <canary> & co\"",
                            false,
                        ),
                    ],
                    sample_failure: vec![],
                    stats: None,
                    metrics: None,
                    duration: Duration::from_millis(640),
                },
                CheckReport {
                    name: "steady under load".into(),
                    target: Some("hello-fn:2".into()),
                    result: CheckResult::Failed(CheckFailure::Expectation),
                    attempts: 200,
                    assertions: vec![
                        a("threshold success_rate", ">= 0.99", "0.985 (197 of 200)", false),
                        a("threshold p95", "< 300ms", "41ms", true),
                    ],
                    sample_failure: vec![a("status", "== 200", "500", false)],
                    stats: Some(RunStats {
                        runs: 200,
                        passed: 197,
                        failed: 3,
                        success_rate: 0.985,
                        p50: Some(Duration::from_millis(12)),
                        p90: Some(Duration::from_millis(30)),
                        p95: Some(Duration::from_millis(41)),
                        p99: Some(Duration::from_millis(80)),
                        max: Some(Duration::from_millis(95)),
                    }),
                    metrics: None,
                    duration: Duration::from_millis(1_800),
                },
                CheckReport {
                    name: "health through the API".into(),
                    target: None,
                    result: CheckResult::Failed(CheckFailure::setup(
                        "environment variable API_URL is not set (used as ${env:API_URL})",
                    )),
                    attempts: 1,
                    assertions: vec![],
                    sample_failure: vec![],
                    stats: None,
                    metrics: None,
                    duration: Duration::ZERO,
                },
                CheckReport {
                    name: "after traffic".into(),
                    target: None,
                    result: CheckResult::Skipped {
                        reason: "runs in AfterAllowTraffic only".into(),
                    },
                    attempts: 0,
                    assertions: vec![],
                    sample_failure: vec![],
                    stats: None,
                    metrics: None,
                    duration: Duration::ZERO,
                },
            ],
            duration: Duration::from_millis(2_460),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=99).map(Duration::from_millis).collect();
        let s = RunStats::from_runs(d, 100);
        assert_eq!(s.p50, Some(Duration::from_millis(50)));
        assert_eq!(s.p95, Some(Duration::from_millis(95)));
        assert_eq!(s.p99, Some(Duration::from_millis(99)));
        assert_eq!(s.max, Some(Duration::from_millis(99)));
        assert_eq!((s.passed, s.failed), (99, 1));
        assert_eq!(s.success_rate, 0.99);
    }

    #[test]
    fn no_passed_run_has_no_latency() {
        let s = RunStats::from_runs(vec![], 5);
        assert_eq!((s.runs, s.passed, s.failed, s.success_rate), (5, 0, 5, 0.0));
        assert_eq!((s.p50, s.max), (None, None));
    }

    #[test]
    fn redaction_reaches_every_field() {
        let mut r = fixture::report();
        r.checks[3].result = CheckResult::Failed(CheckFailure::setup("GET http://h/api?token=TOPSECRET failed"));
        r.checks[1].assertions[1].actual = "\"TOPSECRET\"".into();
        r.checks[2].sample_failure[0].expected = "== TOPSECRET".into();
        r.checks[4].result = CheckResult::Skipped {
            reason: "TOPSECRET".into(),
        };
        let mut redactor = crate::redact::Redactor::new();
        redactor.add("TOPSECRET");
        r.redact(&redactor);
        let text = format!("{r:?}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        assert_eq!(r.checks[3].error(), Some("GET http://h/api?token=*** failed"));
    }

    #[test]
    fn a_report_with_nothing_run_does_not_pass() {
        let mut r = fixture::report();
        for c in &mut r.checks {
            c.result = CheckResult::Skipped { reason: "here".into() };
        }
        assert!(!r.passed());
        assert!(r.failure_summary().unwrap().contains("nothing was tested"));
    }

    #[test]
    fn summary_names_the_failures() {
        let r = fixture::report();
        assert!(!r.passed());
        let s = r.failure_summary().unwrap();
        assert!(
            s.starts_with(
                "3 of 4 checks failed: says hello [hello-fn:2]: json $.body.message expected matches /^Hello, canary/"
            ),
            "{s}"
        );
    }
}
