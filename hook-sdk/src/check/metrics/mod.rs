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

mod evidence;

use evidence::{Answer, Figure, MAX_PAGES, Sign};

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
    let versions = Versions {
        target: target.target_version.clone(),
        current: target.current_version.clone().filter(|c| *c != target.target_version),
        alias: alias.to_string(),
        window: window_text(&window),
    };
    let mut summary = MetricsSummary {
        window: versions.window.clone(),
        alias: alias.to_string(),
        target_version: versions.target.clone(),
        current_version: versions.current.clone(),
        inconclusive: None,
    };

    // One period over the whole window, from its minute.
    let start_secs = secs(window.start).div_euclid(60) * 60;
    let period = ((secs(window.end) - start_secs).max(1) + 59) / 60 * 60;
    let queries = queries(spec, &function, &versions, period);
    let limit = deadline.map_or(timeout, |d| timeout.min(d.saturating_duration_since(Instant::now())));
    let fetched = tokio::time::timeout(limit, fetch(cloudwatch, queries, start_secs, start_secs + period)).await;
    let answer = match fetched {
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
                crate::error::error_chain(&e)
            ));
            report.error_kind = Some(kind);
            report.metrics = Some(summary);
            report.duration = started.elapsed();
            return report;
        }
        Ok(Ok(answer)) => answer,
    };
    let d = decide(spec, &versions, &answer);
    report.assertions = d.assertions;
    report.outcome = d.outcome;
    report.error = d.error;
    report.error_kind = d.error_kind;
    report.note = d.note;
    summary.inconclusive = d.inconclusive;
    report.attempts = 1;
    report.metrics = Some(summary);
    report.duration = started.elapsed();
    report
}

/// Every page of one GetMetricData answer, up to [`MAX_PAGES`]: a `NextToken` left beyond
/// them makes the answer no evidence.
async fn fetch(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queries: Vec<aws_sdk_cloudwatch::types::MetricDataQuery>,
    start: i64,
    end: i64,
) -> Result<Answer, GetMetricDataError> {
    let mut answer = Answer::default();
    let mut token: Option<String> = None;
    for page in 1..=MAX_PAGES {
        let out = cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(aws_smithy_types::DateTime::from_secs(start))
            .end_time(aws_smithy_types::DateTime::from_secs(end))
            .set_next_token(token.take())
            .send()
            .await?;
        absorb(&mut answer, &out);
        match out.next_token().filter(|t| !t.is_empty()) {
            None => return Ok(answer),
            Some(_) if page == MAX_PAGES => answer.problems.push(format!(
                "CloudWatch had more than {MAX_PAGES} pages of figures (a NextToken was left): the hook reads at most {MAX_PAGES}"
            )),
            Some(t) => token = Some(t.to_string()),
        }
    }
    Ok(answer)
}

/// One page of a GetMetricData answer into `answer`.
fn absorb(answer: &mut Answer, out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput) {
    for m in out.messages() {
        let text = format!("CloudWatch said of the request: {}", message_text(m));
        if !answer.problems.contains(&text) {
            answer.problems.push(text);
        }
    }
    for r in out.metric_data_results() {
        let Some(id) = r.id() else { continue };
        let status = r.status_code().map(|s| s.as_str());
        answer.absorb(id, status, r.values(), r.messages().iter().map(message_text).collect());
    }
}

fn message_text(m: &aws_sdk_cloudwatch::types::MessageData) -> String {
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    match (m.code(), m.value()) {
        (Some(c), Some(v)) => format!("{}: {}", clip(c), clip(v)),
        (Some(c), None) => clip(c),
        (None, Some(v)) => clip(v),
        (None, None) => "a message without text".into(),
    }
}

/// The versions a metrics check compares, and what the report calls them.
#[derive(Debug, Clone)]
pub(crate) struct Versions {
    /// The new version.
    pub(crate) target: String,
    /// The version traffic moves away from, if any.
    pub(crate) current: Option<String>,
    /// The alias the traffic goes through.
    pub(crate) alias: String,
    /// The window, as text.
    pub(crate) window: String,
}

impl Versions {
    fn list(&self) -> Vec<&str> {
        std::iter::once(self.target.as_str())
            .chain(self.current.as_deref())
            .collect()
    }

    /// `412ms (version 2) · 131ms (version 1)`.
    fn both(&self, t: String, c: Option<String>) -> String {
        match (c, &self.current) {
            (Some(c), Some(cv)) => format!("{t} (version {}) · {c} (version {cv})", self.target),
            _ => format!("{t} (version {})", self.target),
        }
    }
}

/// The GetMetricData queries of `spec` for `function` through the alias of `versions`, one
/// period of `period` seconds each. Their ids are what [`decide`] reads.
pub(crate) fn queries(
    spec: &MetricsSpec,
    function: &str,
    versions: &Versions,
    period: i64,
) -> Vec<aws_sdk_cloudwatch::types::MetricDataQuery> {
    let alias = versions.alias.as_str();
    let resource = format!("{function}:{alias}");
    let mut queries = Vec::new();
    for (vi, version) in versions.list().into_iter().enumerate() {
        let dims = [
            ("FunctionName", function),
            ("Resource", resource.as_str()),
            ("ExecutedVersion", version),
        ];
        queries.push(query(&format!("inv_{vi}"), "Invocations", "Sum", &dims, period));
        for (mi, (metric, _)) in spec.expect.iter().enumerate() {
            let (metric_name, stat) = metric.cloudwatch();
            if matches!(metric, LambdaMetric::Throttles | LambdaMetric::Invocations) {
                continue;
            }
            queries.push(query(&format!("m{mi}_{vi}"), metric_name, &stat, &dims, period));
        }
    }
    let alias_dims = [("FunctionName", function), ("Resource", resource.as_str())];
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
                for (vi, version) in versions.list().into_iter().enumerate() {
                    let mut dims = fixed.clone();
                    dims.push((vd.as_str(), version));
                    queries.push(custom_query(&format!("c{ci}_{vi}"), custom, &dims, period));
                }
            }
            None => queries.push(custom_query(&format!("c{ci}_0"), custom, &fixed, period)),
        }
    }
    queries
}

/// What the figures decide.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    /// The sample counts first, then one per threshold.
    pub(crate) assertions: Vec<AssertionResult>,
    /// The verdict.
    pub(crate) outcome: Outcome,
    /// Why it failed, when no assertion says it all.
    pub(crate) error: Option<String>,
    /// What kind of failure `error` is.
    pub(crate) error_kind: Option<ErrorKind>,
    /// A note on a pass.
    pub(crate) note: Option<String>,
    /// Why the figures gave no verdict, if they did not.
    pub(crate) inconclusive: Option<String>,
}

/// One threshold against its figures.
#[derive(Debug, Clone, PartialEq)]
enum Judged {
    Holds,
    Breaches,
    /// No figure to judge (no data, no current figure): not a breach, not a pass.
    Unjudged,
    /// A figure it needs is no evidence.
    NoEvidence(String),
}

/// The verdict of `spec` on `answer`: pure, so that every rule is tested without CloudWatch.
///
/// It passes only when every figure it judges is evidence (see [`evidence`]) and within its
/// threshold, and each version compared served `min_samples`. Too few samples is the one
/// inconclusive case `inconclusive: pass` lets through, and never with a figure that breaches.
pub(crate) fn decide(spec: &MetricsSpec, versions: &Versions, answer: &Answer) -> Decision {
    let relative = spec.compares_with_current();
    let has_current = versions.current.is_some();
    let mut no_evidence: Vec<String> = Vec::new();
    let mut assertions = Vec::new();
    let mut judged = Vec::new();

    // Samples: the new version's, and the current one's when a threshold compares with it.
    let invocations: Vec<Figure> = (0..versions.list().len())
        .map(|vi| answer.figure(&format!("inv_{vi}"), "Sum", Sign::NonNegative))
        .collect();
    let mut short = Vec::new();
    let mut sample_check = |version: &str, figure: &Figure, no_evidence: &mut Vec<String>| match figure {
        Figure::Value(n) if *n >= f64::from(spec.min_samples) => {}
        Figure::Value(n) => short.push(format!("version {version} served {n} invocations")),
        Figure::NoData => short.push(format!("version {version} served 0 invocations")),
        Figure::NoEvidence(why) => no_evidence.push(format!("invocations of version {version}: {why}")),
    };
    sample_check(&versions.target, &invocations[0], &mut no_evidence);
    if relative {
        match (&versions.current, invocations.get(1)) {
            (Some(c), Some(f)) => sample_check(c, f, &mut no_evidence),
            _ => short.push("there is no current version to compare with".into()),
        }
    }
    let count = |f: &Figure| show_figure(Unit::Count, f);
    assertions.push(AssertionResult {
        query: format!("invocations through {}", versions.alias),
        expected: format!(
            ">= {} (min_samples){}",
            spec.min_samples,
            if relative { " for each version" } else { "" }
        ),
        actual: versions.both(count(&invocations[0]), invocations.get(1).map(count)),
        passed: short.is_empty() && no_evidence.is_empty(),
    });

    let figure_of = |vi: usize, mi: usize, metric: LambdaMetric| -> Figure {
        match metric {
            LambdaMetric::Throttles => answer.figure("throttles", "Sum", Sign::NonNegative),
            LambdaMetric::Invocations => invocations.get(vi).cloned().unwrap_or(Figure::NoData),
            LambdaMetric::Errors => answer.figure(&format!("m{mi}_{vi}"), "Sum", Sign::NonNegative),
            LambdaMetric::ErrorRate => {
                let errors = answer.figure(&format!("m{mi}_{vi}"), "Sum", Sign::NonNegative);
                match (errors, invocations.get(vi)) {
                    (Figure::NoEvidence(why), _) => Figure::NoEvidence(format!("its errors: {why}")),
                    (_, Some(Figure::NoEvidence(why))) => Figure::NoEvidence(format!("its invocations: {why}")),
                    (Figure::Value(e), Some(Figure::Value(n))) if *n > 0.0 => Figure::Value(100.0 * e / n),
                    _ => Figure::NoData,
                }
            }
            m => answer.figure(&format!("m{mi}_{vi}"), &m.cloudwatch().1, Sign::NonNegative),
        }
    };
    for (mi, (metric, threshold)) in spec.expect.iter().enumerate() {
        let t = figure_of(0, mi, *metric);
        let c = if has_current {
            figure_of(1, mi, *metric)
        } else {
            Figure::NoData
        };
        let unit = metric.unit();
        let actual = if *metric == LambdaMetric::Throttles {
            format!("{} (the alias, both versions)", show_figure(unit, &t))
        } else {
            versions.both(show_figure(unit, &t), Some(show_figure(unit, &c)))
        };
        let (result, verdict) = judge(threshold, &t, &c, versions);
        if let Judged::NoEvidence(why) = &verdict {
            no_evidence.push(format!("{metric}: {why}"));
        }
        judged.push(verdict);
        assertions.push(AssertionResult {
            query: metric.to_string(),
            actual,
            ..result
        });
    }
    for (ci, (custom, threshold)) in spec.custom.iter().enumerate() {
        let per_version = custom.version_dimension.is_some();
        let sign = if custom.stat == "SampleCount" || threshold.unit == Unit::Millis {
            Sign::NonNegative
        } else {
            Sign::Any
        };
        let t = answer.figure(&format!("c{ci}_0"), &custom.stat, sign);
        let c = if per_version && has_current {
            answer.figure(&format!("c{ci}_1"), &custom.stat, sign)
        } else {
            Figure::NoData
        };
        let actual = if per_version {
            versions.both(
                show_figure(threshold.unit, &t),
                versions.current.as_ref().map(|_| show_figure(threshold.unit, &c)),
            )
        } else {
            format!(
                "{} (all versions: no version_dimension)",
                show_figure(threshold.unit, &t)
            )
        };
        let (result, verdict) = judge(threshold, &t, &c, versions);
        if let Judged::NoEvidence(why) = &verdict {
            no_evidence.push(format!("{}: {why}", custom.label()));
        }
        judged.push(verdict);
        assertions.push(AssertionResult {
            query: custom.label(),
            actual,
            ..result
        });
    }

    let breaches = judged.iter().filter(|j| **j == Judged::Breaches).count();
    let unjudged = judged.contains(&Judged::Unjudged);
    let mut d = Decision {
        assertions,
        outcome: Outcome::Failed,
        error: None,
        error_kind: None,
        note: None,
        inconclusive: None,
    };
    if !no_evidence.is_empty() {
        d.error = Some(format!(
            "no evidence for a verdict: {} — a figure counts only when CloudWatch's result is complete, \
             every value finite and, for counts and durations, not negative",
            no_evidence.join("; ")
        ));
        d.error_kind = Some(ErrorKind::Call);
        return d;
    }
    if !short.is_empty() {
        let why = format!(
            "inconclusive: {} through {} in {}, fewer than min_samples {}",
            short.join(" and "),
            versions.alias,
            versions.window,
            spec.min_samples
        );
        d.inconclusive = Some(why.clone());
        match spec.inconclusive {
            Inconclusive::Fail => {
                d.error = Some(format!("{why} (the spec says `inconclusive: fail`, the default)"));
            }
            Inconclusive::Pass if breaches > 0 => {
                d.error = Some(format!(
                    "{why}, and {breaches} figure{} shown breach{} {}: `inconclusive: pass` lets too few samples \
                     through, never a breach",
                    if breaches == 1 { "" } else { "s" },
                    if breaches == 1 { "es" } else { "" },
                    if breaches == 1 {
                        "its threshold"
                    } else {
                        "their thresholds"
                    },
                ));
            }
            Inconclusive::Pass => {
                d.note = Some(format!("{why}: passed, as the spec says `inconclusive: pass`"));
                d.outcome = Outcome::Passed;
            }
        }
        return d;
    }
    if breaches == 0 && !unjudged {
        d.outcome = Outcome::Passed;
    }
    d
}

fn show_figure(unit: Unit, f: &Figure) -> String {
    match f {
        Figure::Value(v) => unit.show(*v),
        Figure::NoData => "no data".into(),
        Figure::NoEvidence(_) => "no evidence".into(),
    }
}

/// A threshold against the new version's figure `target` and the current one's: the
/// expectation (with the bound worked out), whether it holds, and why not; the caller says
/// what the figures were.
fn judge(threshold: &Threshold, target: &Figure, current: &Figure, versions: &Versions) -> (AssertionResult, Judged) {
    let unit = threshold.unit;
    let relative = threshold.is_relative();
    let limit = threshold.limit(if relative { current.value() } else { None });
    let expected = match (threshold.bound, limit) {
        (Bound::Relative { .. }, Some(l)) => {
            format!("{} (so {} {})", threshold.text, threshold.cmp.symbol(), unit.show(l))
        }
        (Bound::Relative { .. }, None) => format!("{} (the current version has no figure)", threshold.text),
        (Bound::Absolute(_), _) => threshold.text.clone(),
    };
    let verdict = match (target, current) {
        (Figure::NoEvidence(why), _) => Judged::NoEvidence(format!("version {}: {why}", versions.target)),
        (_, Figure::NoEvidence(why)) if relative => Judged::NoEvidence(format!(
            "version {} (the current one, which the threshold compares with): {why}",
            versions.current.as_deref().unwrap_or("?")
        )),
        (Figure::NoData, _) => Judged::Unjudged,
        (Figure::Value(t), _) => match limit {
            None => Judged::Unjudged,
            Some(l) if !l.is_finite() => Judged::NoEvidence(format!("the bound `{}` works out to {l}", threshold.text)),
            Some(l) if threshold.cmp.holds(*t, l) => Judged::Holds,
            Some(_) => Judged::Breaches,
        },
    };
    let result = AssertionResult {
        query: String::new(),
        expected,
        actual: String::new(),
        passed: verdict == Judged::Holds,
    };
    (result, verdict)
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
    use proptest::prelude::*;

    use super::*;

    fn spec(v: serde_json::Value) -> MetricsSpec {
        serde_json::from_value(v).unwrap()
    }

    fn versions(current: Option<&str>) -> Versions {
        Versions {
            target: "2".into(),
            current: current.map(str::to_string),
            alias: "live".into(),
            window: "12:00:00–12:05:00 UTC (traffic shifting)".into(),
        }
    }

    /// An answer holding `(id, values)`, every result complete.
    fn complete(results: &[(&str, &[f64])]) -> Answer {
        let mut a = Answer::default();
        for (id, values) in results {
            a.absorb(id, Some("Complete"), values, Vec::new());
        }
        a
    }

    #[test]
    fn relative_thresholds_judge_the_new_version_by_the_current_one() {
        let s = spec(serde_json::json!({"min_samples": 5, "expect": {"p99": "< 1.2 × current"}}));
        let slow = complete(&[
            ("inv_0", &[10.0]),
            ("inv_1", &[10.0]),
            ("m0_0", &[412.0]),
            ("m0_1", &[131.0]),
        ]);
        let d = decide(&s, &versions(Some("1")), &slow);
        assert_eq!(d.outcome, Outcome::Failed);
        assert_eq!(d.assertions[1].expected, "< 1.2 × current (so < 157ms)");
        assert_eq!(d.assertions[1].actual, "412ms (version 2) · 131ms (version 1)");
        let fast = complete(&[
            ("inv_0", &[10.0]),
            ("inv_1", &[10.0]),
            ("m0_0", &[140.0]),
            ("m0_1", &[131.0]),
        ]);
        assert_eq!(decide(&s, &versions(Some("1")), &fast).outcome, Outcome::Passed);
        // No figure of the current version: no bound, no pass.
        let alone = complete(&[("inv_0", &[10.0]), ("inv_1", &[10.0]), ("m0_0", &[10.0]), ("m0_1", &[])]);
        let d = decide(&s, &versions(Some("1")), &alone);
        assert_eq!(d.outcome, Outcome::Failed);
        assert!(d.assertions[1].expected.contains("no figure"), "{d:?}");
        // A current version whose p99 is +Inf is no evidence, not a bound every figure meets.
        let mut inf = complete(&[("inv_0", &[10.0]), ("inv_1", &[10.0]), ("m0_0", &[10_000.0])]);
        inf.absorb("m0_1", Some("Complete"), &[f64::INFINITY], Vec::new());
        let d = decide(&s, &versions(Some("1")), &inf);
        assert_eq!(d.outcome, Outcome::Failed);
        assert!(d.error.as_deref().unwrap().contains("the current one"), "{d:?}");
        // A bound that overflows is no bound.
        let huge = complete(&[
            ("inv_0", &[10.0]),
            ("inv_1", &[10.0]),
            ("m0_0", &[1.0]),
            ("m0_1", &[f64::MAX]),
        ]);
        assert_eq!(decide(&s, &versions(Some("1")), &huge).outcome, Outcome::Failed);
        let rate = spec(serde_json::json!({"min_samples": 5, "expect": {"error_rate": "<= current + 0.5%"}}));
        let ok = complete(&[
            ("inv_0", &[100.0]),
            ("inv_1", &[100.0]),
            ("m0_0", &[1.4]),
            ("m0_1", &[1.0]),
        ]);
        assert_eq!(decide(&rate, &versions(Some("1")), &ok).outcome, Outcome::Passed);
        let bad = complete(&[
            ("inv_0", &[100.0]),
            ("inv_1", &[100.0]),
            ("m0_0", &[1.6]),
            ("m0_1", &[1.0]),
        ]);
        assert_eq!(decide(&rate, &versions(Some("1")), &bad).outcome, Outcome::Failed);
    }

    #[test]
    fn the_spec_counts_the_queries_a_check_makes() {
        let s = spec(
            serde_json::json!({"expect": {"errors": "== 0", "invocations": "> 5", "throttles": "== 0",
            "p99": "< 1.2 × current"},
            "custom": [{"namespace": "Shop", "metric": "A", "version_dimension": "V", "stat": "Sum", "expect": "<= current"},
                       {"namespace": "Shop", "metric": "B", "stat": "Sum", "expect": "< 3"}]}),
        );
        assert_eq!(queries(&s, "fn", &versions(Some("1")), 60).len(), s.max_queries());
        assert!(queries(&s, "fn", &versions(None), 60).len() < s.max_queries());
    }

    #[test]
    fn a_missing_or_incomplete_result_is_no_evidence_of_zero_errors() {
        let s = spec(serde_json::json!({"min_samples": 5, "expect": {"errors": "<= 3"}}));
        let missing = complete(&[("inv_0", &[49.0])]);
        let d = decide(&s, &versions(None), &missing);
        assert_eq!((d.outcome, d.error_kind), (Outcome::Failed, Some(ErrorKind::Call)));
        let error = d.error.unwrap();
        assert!(
            error.contains("errors: version 2: CloudWatch returned no result"),
            "{error}"
        );
        for status in ["PartialData", "InternalError"] {
            let mut a = complete(&[("inv_0", &[49.0])]);
            a.absorb("m0_0", Some(status), &[], Vec::new());
            let d = decide(&s, &versions(None), &a);
            assert!(d.error.unwrap().contains(status));
        }
        let mut said = complete(&[("inv_0", &[49.0])]);
        said.absorb("m0_0", Some("Complete"), &[], vec!["Forbidden: no access".into()]);
        assert_eq!(decide(&s, &versions(None), &said).outcome, Outcome::Failed);
        let mut unread = complete(&[("inv_0", &[49.0]), ("m0_0", &[0.0])]);
        assert_eq!(decide(&s, &versions(None), &unread).outcome, Outcome::Passed);
        unread.problems.push("a NextToken was left".into());
        assert_eq!(decide(&s, &versions(None), &unread).outcome, Outcome::Failed);
        // NaN or +Inf invocations do not make min_samples.
        for bad in [f64::NAN, f64::INFINITY] {
            let a = complete(&[("inv_0", &[bad]), ("m0_0", &[0.0])]);
            assert!(
                decide(&s, &versions(None), &a)
                    .error
                    .unwrap()
                    .contains("invocations of version 2")
            );
        }
    }

    #[test]
    fn inconclusive_pass_never_passes_a_breach() {
        let s = spec(serde_json::json!({"inconclusive": "pass", "expect": {"errors": "<= 3"}}));
        let breach = complete(&[("inv_0", &[49.0]), ("m0_0", &[49.0])]);
        let d = decide(&s, &versions(None), &breach);
        assert_eq!(d.outcome, Outcome::Failed);
        let error = d.error.unwrap();
        assert!(
            error.contains("never a breach") && error.contains("served 49"),
            "{error}"
        );
        let quiet = complete(&[("inv_0", &[49.0]), ("m0_0", &[0.0])]);
        let d = decide(&s, &versions(None), &quiet);
        assert_eq!(d.outcome, Outcome::Passed);
        assert!(d.note.unwrap().contains("inconclusive: pass"));
    }

    /// One result as CloudWatch might send it: any status, values of any kind, a message or not.
    fn series() -> impl Strategy<Value = Option<(Option<&'static str>, Vec<f64>, bool)>> {
        let value = prop_oneof![
            40 => 0.0f64..2_000.0,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => -100.0f64..0.0,
            1 => Just(f64::MAX),
        ];
        let status = prop_oneof![
            40 => Just(Some("Complete")),
            1 => Just(Some("PartialData")),
            1 => Just(Some("InternalError")),
            1 => Just(Some("Forbidden")),
            1 => Just(None),
        ];
        let values = prop_oneof![
            1 => prop::collection::vec(value.clone(), 0..1),
            8 => prop::collection::vec(value, 1..3),
        ];
        prop::option::weighted(0.97, (status, values, prop::bool::weighted(0.02)))
    }

    const IDS: &[&str] = &[
        "inv_0", "inv_1", "m0_0", "m0_1", "m1_0", "m1_1", "m2_0", "m2_1", "c0_0", "c0_1",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

        /// Whatever GetMetricData answers, the check passes only when every figure it judges is
        /// present, complete, finite, not negative and within its threshold, and both versions
        /// served min_samples — `inconclusive: pass` included.
        #[test]
        fn never_passes_without_complete_finite_evidence_within_thresholds(
            results in prop::collection::vec(series(), IDS.len()),
            problem in prop::bool::weighted(0.05),
            pass_inconclusive in any::<bool>(),
            with_current in prop::bool::weighted(0.8),
        ) {
            let s = spec(serde_json::json!({
                "min_samples": 10,
                "inconclusive": if pass_inconclusive { "pass" } else { "fail" },
                "expect": {"errors": "<= 1500", "p99": "< 1.2 × current + 10ms", "minimum": "> 1ms"},
                "custom": [{"namespace": "Shop", "metric": "Latency", "version_dimension": "Version",
                            "stat": "Average", "unit": "ms", "expect": "<= current + 50ms"}]
            }));
            let mut answer = Answer::default();
            let mut raw = std::collections::HashMap::new();
            for (id, r) in IDS.iter().zip(&results) {
                if let Some((status, values, message)) = r {
                    let messages = if *message { vec!["Throttled: slow down".to_string()] } else { Vec::new() };
                    answer.absorb(id, *status, values, messages);
                    raw.insert(*id, (*status, values.clone(), *message));
                }
            }
            if problem {
                answer.problems.push("a NextToken was left".into());
            }
            let v = versions(with_current.then_some("1"));
            let d = decide(&s, &v, &answer);
            if d.outcome == Outcome::Passed {
                prop_assert!(!problem);
                // Every judged figure: present, complete, no message, finite, not negative.
                let mut judged = vec!["inv_0", "m0_0", "m1_0", "m2_0", "c0_0"];
                if with_current {
                    judged.extend(["inv_1", "m1_1", "c0_1"]);
                }
                let sound = |id: &str| match raw.get(id) {
                    Some((Some("Complete"), values, false)) => values.iter().all(|x| x.is_finite() && *x >= 0.0),
                    _ => false,
                };
                for id in &judged {
                    prop_assert!(sound(id), "{id} judged unsound yet passed: {:?} {d:?}", raw.get(id));
                }
                let sum = |id: &str| raw[id].1.iter().sum::<f64>();
                let max = |id: &str| raw[id].1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let min = |id: &str| raw[id].1.iter().copied().fold(f64::INFINITY, f64::min);
                let has = |id: &str| !raw[id].1.is_empty();
                let samples = with_current && sum("inv_0") >= 10.0 && sum("inv_1") >= 10.0;
                if samples {
                    prop_assert!(sum("m0_0") <= 1500.0);
                    prop_assert!(has("m1_0") && has("m1_1") && max("m1_0") < 1.2 * max("m1_1") + 10.0);
                    prop_assert!(has("m2_0") && min("m2_0") > 1.0);
                    prop_assert!(has("c0_0") && has("c0_1") && max("c0_0") <= max("c0_1") + 50.0);
                } else {
                    prop_assert!(pass_inconclusive, "too few samples passed under `inconclusive: fail`");
                    // Figures shown never breach.
                    prop_assert!(sum("m0_0") <= 1500.0);
                    if with_current && has("m1_0") && has("m1_1") {
                        prop_assert!(max("m1_0") < 1.2 * max("m1_1") + 10.0);
                    }
                    if has("m2_0") {
                        prop_assert!(min("m2_0") > 1.0);
                    }
                    if with_current && has("c0_0") && has("c0_1") {
                        prop_assert!(max("c0_0") <= max("c0_1") + 50.0);
                    }
                }
            }
        }
    }

    /// Pages are followed, their results merged, and a page left unread is no evidence.
    #[tokio::test]
    async fn every_page_is_read_and_one_left_is_no_evidence() {
        use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
        use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let page = |status: StatusCode, values: Vec<f64>, token: Option<&str>| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("inv_0")
                        .status_code(status)
                        .set_values(Some(values))
                        .build(),
                )
                .set_next_token(token.map(str::to_string))
                .build()
        };
        let two = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .sequence()
            .output(move || page(StatusCode::PartialData, vec![3.0], Some("t1")))
            .output(move || page(StatusCode::Complete, vec![4.0], None))
            .build();
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, [&two]);
        let answer = fetch(&cw, Vec::new(), 0, 60).await.unwrap();
        assert_eq!(answer.figure("inv_0", "Sum", Sign::NonNegative), Figure::Value(7.0));
        assert_eq!(two.num_calls(), 2);

        let endless = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .match_requests(|r| r.next_token().is_none_or(|t| t.starts_with('t')))
            .then_output(move || page(StatusCode::PartialData, vec![1.0], Some("t")));
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&endless]);
        let answer = fetch(&cw, Vec::new(), 0, 60).await.unwrap();
        assert_eq!(endless.num_calls(), MAX_PAGES);
        match answer.figure("inv_0", "Sum", Sign::NonNegative) {
            Figure::NoEvidence(why) => assert!(why.contains("NextToken was left"), "{why}"),
            other => panic!("{other:?}"),
        }
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
