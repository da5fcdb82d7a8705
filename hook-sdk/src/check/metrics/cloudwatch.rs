//! CloudWatch's side of a metrics check: the `GetMetricData` queries, every page of the
//! answer, and what its errors mean.

use super::decide::Versions;
use super::evidence::{Answer, MAX_PAGES};
use crate::spec::{LambdaMetric, MetricsSpec};

/// CloudWatch's codes for a request it refuses as asked (besides the identity and permission
/// codes every service shares, [`crate::target::SETUP_CODES`]).
const REQUEST_CODES: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
];

/// Every page of one GetMetricData answer, up to [`MAX_PAGES`]: a `NextToken` left beyond
/// them makes the answer no evidence.
pub(super) async fn fetch(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queries: Vec<aws_sdk_cloudwatch::types::MetricDataQuery>,
    start: i64,
    end: i64,
) -> Result<Answer, GetMetricDataError> {
    let asked = queries.iter().filter_map(|q| {
        let period = q.metric_stat().and_then(|m| m.period())?;
        Some((q.id()?.to_string(), i64::from(period)))
    });
    let mut answer = Answer::to(asked, start, end);
    let mut token: Option<String> = None;
    for page in 1..=MAX_PAGES {
        answer.begin_page();
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
        let times: Vec<i64> = r.timestamps().iter().map(|t| t.secs()).collect();
        answer.absorb_result(
            id,
            status,
            r.values(),
            &times,
            r.messages().iter().map(message_text).collect(),
        );
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

pub(super) type GetMetricDataError = aws_sdk_cloudwatch::error::SdkError<
    aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError,
    aws_smithy_runtime_api::http::Response,
>;

pub(super) fn code(e: &GetMetricDataError) -> Option<&str> {
    use aws_sdk_cloudwatch::error::ProvideErrorMetadata as _;
    e.code()
}

pub(super) fn is_setup(e: &GetMetricDataError) -> bool {
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
