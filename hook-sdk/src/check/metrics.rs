//! Running a metrics check: one CloudWatch `GetMetricData` call for the figures of a target's
//! new version and of its current version, as Lambda publishes them for invocations through
//! the deployment's alias (`FunctionName`, `Resource` = `function:alias`, `ExecutedVersion`),
//! over one period spanning the window; then the spec's thresholds, the sample counts and the
//! inconclusive policy decide.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::appspec::function_name_of;
use crate::assert::AssertionResult;
use crate::report::{CheckReport, ErrorKind, MetricsSummary, Outcome};
use crate::spec::{Bound, Inconclusive, LambdaMetric, MetricsSpec, Threshold, Unit, Window};
use crate::target::Target;

use super::TimeWindow;

/// The deployment's traffic shifting: its target's `AllowTraffic` lifecycle event, start to
/// end, as `GetDeploymentTarget` gives it (CodeDeploy's own clock; the simulator's simulated
/// one).
pub(crate) async fn traffic_window(
    codedeploy: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<TimeWindow, String> {
    let hint = " (the hook's role needs codedeploy:ListDeploymentTargets and codedeploy:GetDeploymentTarget \
                for a metrics check's default window; or give the check a `window: 30m`)";
    let events = crate::deployment::target_lifecycle_events(codedeploy, deployment_id)
        .await
        .map_err(|e| format!("{e}{hint}"))?;
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
    match (start, end) {
        (Some(start), Some(end)) if !running => Ok(TimeWindow {
            start,
            end,
            what: "traffic shifting".into(),
        }),
        (Some(_), _) => Err(format!(
            "traffic is still shifting in {deployment_id}: AllowTraffic has not ended"
        )),
        (None, _) => Err(format!(
            "{deployment_id} has not shifted traffic yet (no AllowTraffic event has started)"
        )),
    }
}

/// CloudWatch's codes for a request it refuses as asked (besides the identity and permission
/// codes every service shares, [`crate::target::SETUP_CODES`]).
const REQUEST_CODES: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
];

/// The figures of one version.
#[derive(Debug, Default, Clone)]
struct Figures {
    invocations: Option<f64>,
    values: Vec<Option<f64>>,
}

/// Runs `spec` for `target`. `traffic` is the deployment's traffic shifting, when the hook
/// runs in one (`None` outside a deployment).
pub(crate) async fn run(
    cloudwatch: Option<&aws_sdk_cloudwatch::Client>,
    name: &str,
    spec: &MetricsSpec,
    target: &Target,
    traffic: Option<&Result<TimeWindow, String>>,
    (timeout, deadline): (Duration, Option<Instant>),
) -> CheckReport {
    let started = Instant::now();
    let mut report = CheckReport::failed_before_run(name);
    report.target = Some(format!(
        "{}:{}",
        target.function,
        target.alias.as_deref().unwrap_or(&target.target_version)
    ));
    let setup = |mut report: CheckReport, error: String| {
        report.error = Some(error);
        report.error_kind = Some(ErrorKind::Setup);
        report.duration = started.elapsed();
        report
    };
    let Some(cloudwatch) = cloudwatch else {
        return setup(
            report,
            "no CloudWatch client: give the check runner one (CheckRunner::with_cloudwatch)".into(),
        );
    };
    let Some(alias) = target.alias.as_deref() else {
        return setup(
            report,
            format!(
                "a metrics check reads the traffic through the deployment's alias, and {} has none: \
                 with hook-runner run, name it with --alias",
                target.function
            ),
        );
    };
    let window = match (spec.window, traffic) {
        (Window::Traffic, Some(Ok(w))) => w.clone(),
        (Window::Traffic, Some(Err(e))) => return setup(report, format!("the deployment's traffic shifting: {e}")),
        (Window::Traffic, None) => {
            return setup(
                report,
                "outside a deployment there is no traffic shifting to read: give the check a window, like `window: 30m`"
                    .into(),
            );
        }
        (Window::Last(d), traffic) => {
            let end = match traffic {
                Some(Ok(w)) => w.end,
                _ => SystemTime::now(),
            };
            TimeWindow {
                start: end - d.0,
                end,
                what: format!("the last {d}"),
            }
        }
    };
    let function = function_name_of(&target.function).to_string();
    let current = target.current_version.clone().filter(|c| *c != target.target_version);
    let mut summary = MetricsSummary {
        window: window_text(&window),
        alias: alias.to_string(),
        target_version: target.target_version.clone(),
        current_version: current.clone(),
        inconclusive: None,
    };

    // One period over the whole window, from its minute.
    let start_secs = secs(window.start).div_euclid(60) * 60;
    let period = ((secs(window.end) - start_secs).max(1) + 59) / 60 * 60;
    let mut queries = Vec::new();
    let versions: Vec<&str> = std::iter::once(target.target_version.as_str())
        .chain(current.as_deref())
        .collect();
    for (vi, version) in versions.iter().enumerate() {
        let dims = [
            ("FunctionName", function.as_str()),
            ("Resource", &format!("{function}:{alias}")),
            ("ExecutedVersion", version),
        ];
        queries.push(query(&format!("inv_{vi}"), "Invocations", "Sum", &dims, period));
        for (mi, (metric, _)) in spec.expect.iter().enumerate() {
            let (metric_name, stat) = metric.cloudwatch();
            if *metric == LambdaMetric::Throttles {
                continue;
            }
            queries.push(query(&format!("m{mi}_{vi}"), metric_name, &stat, &dims, period));
        }
    }
    let alias_dims = [
        ("FunctionName", function.as_str()),
        ("Resource", &format!("{function}:{alias}")),
    ];
    if spec.expect.iter().any(|(m, _)| *m == LambdaMetric::Throttles) {
        queries.push(query("throttles", "Throttles", "Sum", &alias_dims, period));
    }
    for (ci, (custom, _)) in spec.custom.iter().enumerate() {
        let fixed: Vec<(&str, &str)> = custom
            .dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match &custom.version_dimension {
            Some(vd) => {
                for (vi, version) in versions.iter().enumerate() {
                    let mut dims = fixed.clone();
                    dims.push((vd.as_str(), version));
                    queries.push(custom_query(&format!("c{ci}_{vi}"), custom, &dims, period));
                }
            }
            None => queries.push(custom_query(&format!("c{ci}_0"), custom, &fixed, period)),
        }
    }
    let request = cloudwatch
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(aws_smithy_types::DateTime::from_secs(start_secs))
        .end_time(aws_smithy_types::DateTime::from_secs(start_secs + period))
        .send();
    let limit = deadline.map_or(timeout, |d| timeout.min(d.saturating_duration_since(Instant::now())));
    let answer = match tokio::time::timeout(limit, request).await {
        Err(_) => {
            report.error = Some(format!(
                "CloudWatch GetMetricData took longer than {}",
                crate::spec::duration_text(limit)
            ));
            report.error_kind = Some(ErrorKind::Call);
            report.metrics = Some(summary);
            report.duration = started.elapsed();
            return report;
        }
        Ok(Err(e)) => {
            let kind = if is_setup(&e) {
                ErrorKind::Setup
            } else {
                ErrorKind::Call
            };
            let hint = if kind == ErrorKind::Setup && code(&e).is_some_and(|c| c.starts_with("AccessDenied")) {
                " (the hook's role needs cloudwatch:GetMetricData, on Resource \"*\": it has no resource-level permissions)"
            } else {
                ""
            };
            report.error = Some(format!(
                "CloudWatch GetMetricData: {}{hint}",
                crate::check::error_chain(&e)
            ));
            report.error_kind = Some(kind);
            report.metrics = Some(summary);
            report.duration = started.elapsed();
            return report;
        }
        Ok(Ok(out)) => out,
    };
    // The figure of query `id`, computed with CloudWatch statistic `stat`. One period by
    // construction; should CloudWatch split it, sums and counts add up, a minimum takes the
    // smallest value and every other statistic the worst (largest).
    let value_of = |id: &str, stat: &str| -> Option<f64> {
        let r = answer.metric_data_results().iter().find(|r| r.id() == Some(id))?;
        let values = r.values().iter().copied();
        (!r.values().is_empty()).then(|| match stat {
            "Sum" | "SampleCount" => values.sum(),
            "Minimum" => values.fold(f64::MAX, f64::min),
            _ => values.fold(f64::MIN, f64::max),
        })
    };
    let figures: Vec<Figures> = (0..versions.len())
        .map(|vi| {
            let invocations = value_of(&format!("inv_{vi}"), "Sum");
            let values = spec
                .expect
                .iter()
                .enumerate()
                .map(|(mi, (metric, _))| match metric {
                    LambdaMetric::Throttles => value_of("throttles", "Sum"),
                    LambdaMetric::Invocations => invocations.or(Some(0.0)),
                    LambdaMetric::Errors => value_of(&format!("m{mi}_{vi}"), "Sum").or(invocations.map(|_| 0.0)),
                    LambdaMetric::ErrorRate => {
                        let errors = value_of(&format!("m{mi}_{vi}"), "Sum").unwrap_or(0.0);
                        invocations.filter(|n| *n > 0.0).map(|n| 100.0 * errors / n)
                    }
                    m => value_of(&format!("m{mi}_{vi}"), &m.cloudwatch().1),
                })
                .collect();
            Figures { invocations, values }
        })
        .collect();
    let target_figures = &figures[0];
    let current_figures = figures.get(1);

    // Enough data for a verdict?
    let samples = |f: Option<&Figures>| f.and_then(|f| f.invocations).unwrap_or(0.0);
    let (t_n, c_n) = (samples(Some(target_figures)), samples(current_figures));
    let relative = spec.compares_with_current();
    let mut short = Vec::new();
    if t_n < f64::from(spec.min_samples) {
        short.push(format!("version {} served {t_n} invocations", target.target_version));
    }
    if relative {
        match &current {
            None => short.push("there is no current version to compare with".into()),
            Some(c) if c_n < f64::from(spec.min_samples) => short.push(format!("version {c} served {c_n} invocations")),
            Some(_) => {}
        }
    }
    let versions_text = |t: String, c: Option<String>| match (c, &current) {
        (Some(c), Some(cv)) => format!("{t} (version {}) · {c} (version {cv})", target.target_version),
        _ => format!("{t} (version {})", target.target_version),
    };
    report.assertions.push(AssertionResult {
        query: format!("invocations through {alias}"),
        expected: format!(
            ">= {} (min_samples){}",
            spec.min_samples,
            if relative { " for each version" } else { "" }
        ),
        actual: versions_text(Unit::Count.show(t_n), current.as_ref().map(|_| Unit::Count.show(c_n))),
        passed: short.is_empty(),
    });
    for (mi, (metric, threshold)) in spec.expect.iter().enumerate() {
        let t = target_figures.values[mi];
        let c = current_figures.and_then(|f| f.values[mi]);
        report.assertions.push(judge(*metric, threshold, t, c, &versions_text));
    }

    for (ci, (custom, threshold)) in spec.custom.iter().enumerate() {
        let per_version = custom.version_dimension.is_some();
        let t = value_of(&format!("c{ci}_0"), &custom.stat);
        let c = if per_version && current.is_some() {
            value_of(&format!("c{ci}_1"), &custom.stat)
        } else {
            None
        };
        let actual = if per_version {
            versions_text(
                show(threshold.unit, t),
                current.as_ref().map(|_| show(threshold.unit, c)),
            )
        } else {
            format!("{} (all versions: no version_dimension)", show(threshold.unit, t))
        };
        report.assertions.push(AssertionResult {
            query: custom.label(),
            actual,
            ..judge_figures(threshold, t, c)
        });
    }
    let breached = report.assertions.iter().skip(1).any(|a| !a.passed);
    report.outcome = if !short.is_empty() {
        let why = format!(
            "inconclusive: {} through {alias} in {}, fewer than min_samples {}",
            short.join(" and "),
            summary.window,
            spec.min_samples
        );
        summary.inconclusive = Some(why.clone());
        match spec.inconclusive {
            Inconclusive::Fail => {
                report.error = Some(format!("{why} (the spec says `inconclusive: fail`, the default)"));
                Outcome::Failed
            }
            Inconclusive::Pass => {
                report.note = Some(format!("{why}: passed, as the spec says `inconclusive: pass`"));
                Outcome::Passed
            }
        }
    } else if breached {
        Outcome::Failed
    } else {
        Outcome::Passed
    };
    report.attempts = 1;
    report.metrics = Some(summary);
    report.duration = started.elapsed();
    report
}

fn show(unit: Unit, v: Option<f64>) -> String {
    v.map_or("no data".to_string(), |v| unit.show(v))
}

/// A threshold against the new version's figure `target` and the current one's: the
/// expectation (with the bound worked out) and whether it holds; the caller says what the
/// figures were.
fn judge_figures(threshold: &Threshold, target: Option<f64>, current: Option<f64>) -> AssertionResult {
    let unit = threshold.unit;
    let limit = threshold.limit(current);
    let expected = match (threshold.bound, limit) {
        (Bound::Relative { .. }, Some(l)) => {
            format!("{} (so {} {})", threshold.text, threshold.cmp.symbol(), unit.show(l))
        }
        (Bound::Relative { .. }, None) => format!("{} (the current version has no figure)", threshold.text),
        (Bound::Absolute(_), _) => threshold.text.clone(),
    };
    AssertionResult {
        query: String::new(),
        expected,
        actual: String::new(),
        passed: matches!((target, limit), (Some(t), Some(l)) if threshold.cmp.holds(t, l)),
    }
}

/// One threshold on a Lambda metric against the figures of both versions.
fn judge(
    metric: LambdaMetric,
    threshold: &Threshold,
    target: Option<f64>,
    current: Option<f64>,
    versions_text: &dyn Fn(String, Option<String>) -> String,
) -> AssertionResult {
    let unit = metric.unit();
    let actual = if metric == LambdaMetric::Throttles {
        format!("{} (the alias, both versions)", show(unit, target))
    } else {
        versions_text(show(unit, target), Some(show(unit, current)))
    };
    AssertionResult {
        query: metric.to_string(),
        actual,
        ..judge_figures(threshold, target, current)
    }
}

fn custom_query(
    id: &str,
    custom: &crate::spec::CustomMetric,
    dims: &[(&str, &str)],
    period: i64,
) -> aws_sdk_cloudwatch::types::MetricDataQuery {
    let mut q = query(id, &custom.metric, &custom.stat, dims, period);
    if let Some(m) = q.metric_stat.as_mut().and_then(|s| s.metric.as_mut()) {
        m.namespace = Some(custom.namespace.clone());
    }
    q
}

fn query(
    id: &str,
    metric: &str,
    stat: &str,
    dims: &[(&str, &str)],
    period: i64,
) -> aws_sdk_cloudwatch::types::MetricDataQuery {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let dimensions = dims
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/Lambda")
                        .metric_name(metric)
                        .set_dimensions(Some(dimensions))
                        .build(),
                )
                .period(period.clamp(60, i64::from(i32::MAX)) as i32)
                .stat(stat)
                .build(),
        )
        .build()
}

fn secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// `12:01:00–12:06:00 UTC (traffic shifting)`.
fn window_text(w: &TimeWindow) -> String {
    let hms = |t: SystemTime| {
        let s = secs(t).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    format!("{}–{} UTC ({})", hms(w.start), hms(w.end), w.what)
}

type GetMetricDataError = aws_sdk_cloudwatch::error::SdkError<
    aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError,
    aws_smithy_runtime_api::http::Response,
>;

fn code(e: &GetMetricDataError) -> Option<&str> {
    use aws_sdk_cloudwatch::error::ProvideErrorMetadata as _;
    e.code()
}

fn is_setup(e: &GetMetricDataError) -> bool {
    use aws_sdk_cloudwatch::error::SdkError;
    match e {
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(d) => !d.is_timeout(),
        SdkError::ServiceError(s) => {
            code(e).is_some_and(|c| crate::target::SETUP_CODES.contains(&c) || REQUEST_CODES.contains(&c))
                || matches!(s.raw().status().as_u16(), 401 | 403)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(text: &str, unit: Unit) -> Threshold {
        Threshold::parse(text, unit).unwrap()
    }

    fn vt(t: String, c: Option<String>) -> String {
        format!("{t} / {}", c.unwrap_or_default())
    }

    #[test]
    fn relative_thresholds_judge_the_new_version_by_the_current_one() {
        let p99 = LambdaMetric::Percentile(9900);
        let slow = judge(p99, &th("< 1.2 × current", Unit::Millis), Some(412.0), Some(131.0), &vt);
        assert!(!slow.passed);
        assert_eq!(slow.expected, "< 1.2 × current (so < 157ms)");
        assert_eq!(slow.actual, "412ms / 131ms");
        assert!(judge(p99, &th("< 1.2 × current", Unit::Millis), Some(140.0), Some(131.0), &vt).passed);
        // No figure of the current version: no bound, no pass.
        let alone = judge(p99, &th("< 1.2 × current", Unit::Millis), Some(10.0), None, &vt);
        assert!(!alone.passed && alone.expected.contains("no figure"), "{alone:?}");
        // No figure of the new version: nothing proves it.
        assert!(!judge(p99, &th("< 800ms", Unit::Millis), None, Some(1.0), &vt).passed);
        let rate = LambdaMetric::ErrorRate;
        assert!(judge(rate, &th("<= current + 0.5%", Unit::Percent), Some(1.4), Some(1.0), &vt).passed);
        assert!(!judge(rate, &th("<= current + 0.5%", Unit::Percent), Some(1.6), Some(1.0), &vt).passed);
        assert!(judge(LambdaMetric::Errors, &th("== 0", Unit::Count), Some(0.0), None, &vt).passed);
    }

    #[test]
    fn windows_read_as_times_of_day() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 12 + 61);
        let w = TimeWindow {
            start,
            end: start + Duration::from_secs(300),
            what: "traffic shifting".into(),
        };
        assert_eq!(window_text(&w), "12:01:01–12:06:01 UTC (traffic shifting)");
    }
}
