//! Running a metrics check: one CloudWatch `GetMetricData` call for the figures of a target's
//! new version and of its current version, as Lambda publishes them for invocations through
//! the deployment's alias (`FunctionName`, `Resource` = `function:alias`, `ExecutedVersion`),
//! over one period spanning the window; then the spec's thresholds, the sample counts and the
//! inconclusive policy decide.
//!
//! [`cloudwatch`] asks, [`evidence`] says which figures count, [`decide`] judges.

mod clock;
mod cloudwatch;
mod decide;
mod evidence;
#[cfg(test)]
mod tests;
mod watch;

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::appspec::function_name_of;
use crate::report::{CheckFailure, CheckReport, CheckResult, ErrorKind, MetricsSummary};
use crate::spec::{MetricsSpec, Window};
use crate::target::Target;

use super::{TimeWindow, TrafficError};
pub(crate) use decide::{Versions, decide};

/// The deployment's traffic shifting: its target's `AllowTraffic` lifecycle event, start to
/// end, as `GetDeploymentTarget` gives it (CodeDeploy's own clock; the simulator's simulated
/// one).
pub(crate) async fn traffic_window(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<TimeWindow, TrafficError> {
    let events = crate::deployment::target_lifecycle_events(codedeploy, deployment_id)
        .await
        .map_err(|message| TrafficError::Unreadable { message })?;
    let (mut start, mut end): (Option<SystemTime>, Option<SystemTime>) = (None, None);
    let mut running = false;
    let time = |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| SystemTime::try_from(*t).ok());
    for e in events
        .iter()
        .filter(|e| e.lifecycle_event_name() == Some("AllowTraffic"))
    {
        match time(e.start_time()) {
            Some(s) => start = Some(start.map_or(s, |a| a.min(s))),
            None => continue,
        }
        match time(e.end_time()) {
            Some(t) => end = Some(end.map_or(t, |a| a.max(t))),
            None => running = true,
        }
    }
    let deployment_id = deployment_id.to_string();
    match (start, end) {
        (Some(start), Some(end)) if !running => Ok(TimeWindow {
            start,
            end,
            what: "traffic shifting".into(),
        }),
        (Some(_), _) => Err(TrafficError::StillShifting { deployment_id }),
        (None, _) => Err(TrafficError::NotStarted { deployment_id }),
    }
}

/// What one metrics check reads: through which alias, over which window, for which versions.
struct Reading<'a> {
    cloudwatch: &'a aws_sdk_cloudwatch::Client,
    function: String,
    window: TimeWindow,
    versions: Versions,
}

impl Reading<'_> {
    fn summary(&self) -> MetricsSummary {
        MetricsSummary {
            window: self.versions.window.clone(),
            alias: self.versions.alias.clone(),
            target_version: self.versions.target.clone(),
            current_version: self.versions.current.clone(),
            inconclusive: None,
        }
    }
}

/// Runs `spec` for `target`. `traffic` is the deployment's traffic shifting, when the hook
/// runs in one (`None` outside a deployment).
pub(crate) async fn run(
    cloudwatch: Option<&aws_sdk_cloudwatch::Client>,
    name: &str,
    spec: &MetricsSpec,
    target: &Target,
    traffic: Option<&Result<TimeWindow, TrafficError>>,
    (timeout, deadline): (Duration, Option<Instant>),
) -> CheckReport {
    let started = Instant::now();
    let mut report = CheckReport {
        target: Some(format!(
            "{}:{}",
            target.function,
            target.alias.as_deref().unwrap_or(&target.target_version)
        )),
        ..CheckReport::failed_before_run(name)
    };
    match reading(cloudwatch, spec, target, traffic) {
        Err(e) => report.result = CheckResult::Failed(CheckFailure::setup(e)),
        Ok(reading) if spec.watch.is_some() => {
            let (result, summary, assertions) = watching(&reading, spec, traffic, (timeout, deadline)).await;
            report.result = result;
            report.assertions = assertions;
            report.attempts = 1;
            report.metrics = Some(summary);
        }
        Ok(reading) => {
            let mut summary = reading.summary();
            let limit = deadline.map_or(timeout, |d| timeout.min(d.saturating_duration_since(Instant::now())));
            match read(&reading, spec, limit).await {
                Err(failure) => report.result = CheckResult::Failed(failure),
                Ok(answer) => {
                    let d = decide(spec, &reading.versions, &answer);
                    report.assertions = d.assertions;
                    report.result = d.result;
                    summary.inconclusive = d.inconclusive;
                    report.attempts = 1;
                }
            }
            report.metrics = Some(summary);
        }
    }
    report.duration = started.elapsed();
    report
}

/// The least time a watch leaves the hook after it: its other checks' and its report's.
const AFTER_WATCH: Duration = Duration::from_secs(30);

/// A watching check ([`watch`]): the result, the summary, the last reading's assertions.
async fn watching(
    reading: &Reading<'_>,
    spec: &MetricsSpec,
    traffic: Option<&Result<TimeWindow, TrafficError>>,
    (timeout, deadline): (Duration, Option<Instant>),
) -> (CheckResult, MetricsSummary, Vec<crate::report::AssertionResult>) {
    let mut summary = reading.summary();
    let w = spec.watch.expect("a watching check");
    let fail = |f: CheckFailure| (CheckResult::Failed(f), reading.summary(), Vec::new());
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    if let Some(left) = left.filter(|l| *l < w.length.0 + AFTER_WATCH) {
        return fail(CheckFailure::setup(format!(
            "it watches {} and the hook has {} left of its Lambda timeout: raise the hook function's Timeout              above the watch by a minute or more (at most 900 seconds), or shorten `watch`",
            crate::spec::Dur(w.length.0),
            crate::spec::duration_text(left)
        )));
    }
    let clock = match clock::HookClock::from_env() {
        Ok(c) => c,
        Err(e) => return fail(CheckFailure::setup(e)),
    };
    let shifting = match traffic {
        Some(Ok(w)) => w.clone(),
        Some(Err(e)) => return fail(CheckFailure::setup(format!("the deployment's traffic shifting: {e}"))),
        None => match clock::Clock::now(&clock).await {
            Ok(now) => TimeWindow {
                start: now,
                end: now,
                what: "now".into(),
            },
            Err(e) => return fail(CheckFailure::call(e)),
        },
    };
    let watched = watch::watch(
        spec,
        &w,
        &reading.versions,
        &shifting,
        &clock,
        |target, current| async move {
            let limit = deadline.map_or(timeout, |d| timeout.min(d.saturating_duration_since(Instant::now())));
            // The current version's window is the same at every reading, and read again: its last
            // minute is published about a minute after the shifting ends, during the watch.
            let mut answer = fetch_window(reading, spec, &target, limit, |id| !id.ends_with("_1")).await?;
            answer.merge(fetch_window(reading, spec, &current, limit, |id| id.ends_with("_1")).await?);
            Ok(answer)
        },
    );
    let watched = match left {
        Some(left) => match tokio::time::timeout(left.saturating_sub(AFTER_WATCH / 2), watched).await {
            Ok(w) => w,
            Err(_) => Err(CheckFailure::call(format!(
                "the watch had not ended {} before the hook's deadline",
                crate::spec::duration_text(AFTER_WATCH / 2)
            ))),
        },
        None => watched.await,
    };
    match watched {
        Err(f) => fail(f),
        Ok(w) => {
            summary.window = w.versions.window.clone();
            summary.inconclusive = w.decision.inconclusive.clone();
            (w.decision.result, summary, w.decision.assertions)
        }
    }
}

/// What the check reads, or the set-up error that stops it.
fn reading<'a>(
    cloudwatch: Option<&'a aws_sdk_cloudwatch::Client>,
    spec: &MetricsSpec,
    target: &Target,
    traffic: Option<&Result<TimeWindow, TrafficError>>,
) -> Result<Reading<'a>, String> {
    let cloudwatch =
        cloudwatch.ok_or("no CloudWatch client: give the check runner one (CheckRunner::with_cloudwatch)")?;
    let alias = target.alias.as_deref().ok_or_else(|| {
        format!(
            "a metrics check reads the traffic through the deployment's alias, and {} has none: \
             with hook-runner run, name it with --alias",
            target.function
        )
    })?;
    // A watch reads windows of its own (watch::windows).
    let window = match spec.watch {
        Some(_) => TimeWindow {
            start: SystemTime::now(),
            end: SystemTime::now(),
            what: "the watch".into(),
        },
        None => window(spec.window, traffic)?,
    };
    let versions = Versions {
        target: target.target_version.clone(),
        current: target.current_version.clone().filter(|c| *c != target.target_version),
        alias: alias.to_string(),
        window: window.to_string(),
    };
    Ok(Reading {
        cloudwatch,
        function: function_name_of(&target.function).to_string(),
        window,
        versions,
    })
}

/// The window a check's figures cover.
fn window(window: Window, traffic: Option<&Result<TimeWindow, TrafficError>>) -> Result<TimeWindow, String> {
    match (window, traffic) {
        (Window::Traffic, Some(Ok(w))) => Ok(w.clone()),
        (Window::Traffic, Some(Err(e))) => Err(format!("the deployment's traffic shifting: {e}")),
        (Window::Traffic, None) => Err(
            "outside a deployment there is no traffic shifting to read: give the check a window, like `window: 30m`"
                .into(),
        ),
        (Window::Last(d), traffic) => {
            let end = match traffic {
                Some(Ok(w)) => w.end,
                _ => SystemTime::now(),
            };
            Ok(TimeWindow {
                start: end - d.0,
                end,
                what: format!("the last {d}"),
            })
        }
    }
}

/// The figures, in one period over the whole window from its minute; or why CloudWatch gave
/// none within `limit`.
async fn read(reading: &Reading<'_>, spec: &MetricsSpec, limit: Duration) -> Result<evidence::Answer, CheckFailure> {
    fetch_window(reading, spec, &reading.window, limit, |_| true).await
}

/// The figures of the queries whose id `keep` keeps, in one period over `window` from its
/// minute; or why CloudWatch gave none within `limit`.
async fn fetch_window(
    reading: &Reading<'_>,
    spec: &MetricsSpec,
    window: &TimeWindow,
    limit: Duration,
    keep: impl Fn(&str) -> bool,
) -> Result<evidence::Answer, CheckFailure> {
    let start = secs(window.start).div_euclid(60) * 60;
    // The end's last fraction of a second is in the window too: rounded up, not cut.
    let period = ((secs_ceil(window.end) - start).max(1) + 59) / 60 * 60;
    let mut queries = cloudwatch::queries(spec, &reading.function, &reading.versions, period);
    queries.retain(|q| q.id().is_some_and(&keep));
    let fetched = tokio::time::timeout(
        limit,
        cloudwatch::fetch(reading.cloudwatch, queries, start, start + period),
    )
    .await;
    match fetched {
        Err(_) => Err(CheckFailure::call(format!(
            "CloudWatch GetMetricData took longer than {}",
            crate::spec::duration_text(limit)
        ))),
        Ok(Err(e)) => {
            let kind = if cloudwatch::is_setup(&e) {
                ErrorKind::Setup
            } else {
                ErrorKind::Call
            };
            let hint = if kind == ErrorKind::Setup
                && cloudwatch::code(&e).is_some_and(|c| c.starts_with("AccessDenied"))
            {
                " (the hook's role needs cloudwatch:GetMetricData, on Resource \"*\": it has no resource-level permissions)"
            } else {
                ""
            };
            Err(CheckFailure::Error {
                kind,
                message: format!("CloudWatch GetMetricData: {}{hint}", crate::error::error_chain(&e)),
            })
        }
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// Whole seconds at or after `t`.
fn secs_ceil(t: SystemTime) -> i64 {
    let whole = secs(t);
    let exact = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == 0);
    if exact || t < SystemTime::UNIX_EPOCH {
        whole
    } else {
        whole + 1
    }
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}
