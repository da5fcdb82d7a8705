//! A repeated check: `repeat` runs, `concurrency` at once, judged by their figures against the
//! check's thresholds.

use std::time::Duration;

use futures_util::StreamExt as _;

use super::call::{Call, CallFailure, Caller, Limits};
use super::secrets::Secrets;
use crate::report::AssertionResult;
use crate::report::{CheckReport, CheckResult, RunStats};
use crate::spec::limits::{MAX_CONCURRENCY, MAX_REPEAT};
use crate::spec::{Check, Vars, duration_text};

/// What a repeated check keeps of a failed run: why it failed (its call's failure, if it got no
/// answer) and the assertions that failed.
type FirstFailure = (Option<CallFailure>, Vec<AssertionResult>);

/// Runs the call `n` times (at most [`MAX_REPEAT`]) and fills `report`: attempts, figures,
/// thresholds, the first failed run, and the result.
#[allow(clippy::too_many_arguments)]
pub(super) async fn repeat(
    caller: &Caller,
    call: &Call,
    check: &Check,
    vars: &Vars,
    n: u32,
    limits: Limits,
    secrets: &Secrets,
    report: &mut CheckReport,
) {
    let runs = n.min(MAX_REPEAT);
    let concurrency = check.concurrency.unwrap_or(1).clamp(1, MAX_CONCURRENCY) as usize;
    // Fold the runs as they end: only the passed runs' durations and the first failure are
    // kept, never the answers.
    let (passed, first): (Vec<Duration>, Option<FirstFailure>) = futures_util::stream::iter(0..runs)
        .map(|_| caller.attempt(call, check, vars, limits, secrets))
        .buffer_unordered(concurrency)
        .fold((Vec::new(), None), |(mut passed, mut first), a| async move {
            if a.passed() {
                passed.push(a.duration());
            } else if first.is_none() {
                first = Some(a.into_failure());
            }
            (passed, first)
        })
        .await;
    let stats = RunStats::from_runs(passed, runs);
    let (first_call, first_failure) = first.unwrap_or_default();
    report.attempts = stats.runs;
    report.sample_failure = first_failure;
    report.assertions = judged(check, &stats);
    report.result = match first_call {
        // No run could be made: the cause is the set-up, not the version, and no threshold
        // passes a check that never ran.
        Some(f) if stats.passed == 0 && f.kind == crate::report::ErrorKind::Setup => CheckResult::Failed(f.into()),
        _ => CheckResult::by_expectations(stats.runs > 0 && report.assertions.iter().all(|a| a.passed)),
    };
    report.stats = Some(stats);
}
/// The assertions of a repeated check: every run passes, unless the spec sets a success rate;
/// then each threshold it sets.
fn judged(check: &Check, stats: &RunStats) -> Vec<AssertionResult> {
    let mut out = Vec::new();
    if check.thresholds.as_ref().is_none_or(|t| t.success_rate.is_none()) {
        // Without an explicit success_rate, every run must pass: a failed run is never
        // tolerated by accident.
        out.push(AssertionResult {
            query: "every run".into(),
            expected: format!(
                "{0} of {0} runs pass (set thresholds.success_rate to tolerate failures)",
                stats.runs
            ),
            actual: format!("{} of {}", stats.passed, stats.runs),
            passed: stats.failed == 0,
        });
    }
    out.extend(thresholds(check, stats));
    out
}

fn thresholds(check: &Check, stats: &RunStats) -> Vec<AssertionResult> {
    let Some(t) = &check.thresholds else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(b) = &t.success_rate {
        out.push(AssertionResult {
            query: "threshold success_rate".into(),
            expected: b.to_string(),
            actual: format!("{} ({} of {})", round3(stats.success_rate), stats.passed, stats.runs),
            passed: b.op.holds(stats.success_rate, b.value),
        });
    }
    for (name, bound, actual) in [
        ("p50", &t.p50, stats.p50),
        ("p90", &t.p90, stats.p90),
        ("p95", &t.p95, stats.p95),
        ("p99", &t.p99, stats.p99),
        ("max", &t.max, stats.max),
    ] {
        if let Some(b) = bound {
            out.push(AssertionResult {
                query: format!("threshold {name}"),
                expected: format!("{b} (over passed runs)"),
                actual: actual.map_or_else(|| "no passed run".to_string(), duration_text),
                passed: actual.is_some_and(|d| b.holds(d)),
            });
        }
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
