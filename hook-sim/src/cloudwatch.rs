//! CloudWatch `GetMetricData` over the invocations hook-sim records (the store its alarms read
//! too), on the wire protocol the AWS SDKs speak to CloudWatch: Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/GetMetricData`, `smithy-protocol:
//! rpc-v2-cbor`, CBOR bodies, timestamps as tag 1 epoch seconds).
//!
//! Lambda's metrics are served as Lambda publishes them: namespace `AWS/Lambda`, `Invocations`,
//! `Errors`, `Duration` and `Throttles`, for the dimension sets `{}`, `{FunctionName}`,
//! `{FunctionName, Resource}` and `{FunctionName, Resource, ExecutedVersion}` (`Resource` is
//! `function:qualifier`; `Throttles` has no `ExecutedVersion`). Any other metric has no data, as
//! in CloudWatch. A datapoint is published [`METRIC_LAG`] after the minute it falls in ends, on
//! the simulated clock: a query made during a deployment sees what CloudWatch would show then.
//!
//! `PutMetricData` stores custom metrics (any namespace but `AWS/*`): `Value`, or `Values` with
//! `Counts`, stamped with their `Timestamp` (now by default), visible at once; `GetMetricData`
//! reads them back by the exact dimension set, as CloudWatch does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::{Value, json};

use crate::alarm::{Metric, MetricQuery, Statistic};
use crate::deploy::METRIC_LAG;
use crate::record::Service;
use crate::{InvocationRecord, SimState, apply_fault};

/// Custom datapoints hook-sim keeps: past this, `PutMetricData` is refused.
const MAX_CUSTOM_POINTS: usize = 200_000;
/// Metrics in one `PutMetricData`, as CloudWatch allows.
const MAX_PUT_METRICS: usize = 1000;

/// One custom datapoint (a value, counted `count` times).
#[derive(Debug, Clone)]
pub(crate) struct CustomPoint {
    namespace: String,
    name: String,
    /// Sorted by name.
    dimensions: Vec<(String, String)>,
    /// Wall-clock seconds.
    at: f64,
    value: f64,
    count: u32,
}

/// Queries in one request, as CloudWatch allows.
const MAX_QUERIES: usize = 500;
/// Datapoints one request may ask for (CloudWatch's `MaxDatapoints` default).
const MAX_DATAPOINTS: u64 = 100_800;

/// An error as CloudWatch answers it over RPC v2 CBOR (a query-compatible service: the code is
/// also in `x-amzn-query-error`).
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "InvalidParameterValue",
            message: message.into(),
        }
    }

    fn missing(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "MissingParameter",
            message: message.into(),
        }
    }
}

fn cbor_response(status: u16, body: &Cbor) -> Response {
    let mut bytes = Vec::new();
    ciborium::into_writer(body, &mut bytes).expect("CBOR values serialize to memory");
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), bytes).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/cbor"));
    h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    r
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    let exception = match code {
        "InvalidParameterValue" => "InvalidParameterValueException",
        "MissingParameter" => "MissingRequiredParameterException",
        "InvalidParameterCombination" => "InvalidParameterCombinationException",
        other => other,
    };
    let body = Cbor::Map(vec![
        (text("__type"), text(&format!("com.amazonaws.cloudwatch#{exception}"))),
        (text("message"), text(message)),
    ]);
    let mut r = cbor_response(status, &body);
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
        r.headers_mut().insert("x-amzn-query-error", v);
    }
    r
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

/// `POST /service/GraniteServiceVersion20100801/operation/{operation}`.
pub(crate) async fn cloudwatch_api(
    State(state): State<Arc<SimState>>,
    Path(operation): Path<String>,
    body: Bytes,
) -> Response {
    let request: Result<Cbor, _> = ciborium::from_reader(body.as_ref());
    let summary = request.as_ref().map(to_json).unwrap_or(Value::Null);
    let record = |status: u16, error: Option<String>| {
        state
            .recorder
            .call(Service::CloudWatch, &operation, summary.clone(), status, error);
    };
    if let Some((status, code, message)) = apply_fault(&state, &operation, (400, "Throttling")).await {
        record(status, Some(code.clone()));
        return error_response(status, &code, &message);
    }
    let result = match (operation.as_str(), request) {
        (_, Err(e)) => Err(ApiError {
            status: 400,
            code: "SerializationException",
            message: format!("the body is no CBOR: {e}"),
        }),
        ("GetMetricData", Ok(request)) => get_metric_data(&state, &request),
        ("PutMetricData", Ok(request)) => put_metric_data(&state, &request),
        (other, Ok(_)) => Err(ApiError {
            status: 400,
            code: "UnknownOperationException",
            message: format!("hook-sim does not implement CloudWatch {other}"),
        }),
    };
    match result {
        Ok(body) => {
            record(200, None);
            cbor_response(200, &body)
        }
        Err(e) => {
            record(e.status, Some(e.code.to_string()));
            error_response(e.status, e.code, &e.message)
        }
    }
}

/// A CBOR request as JSON, for the call record (timestamps become epoch seconds).
fn to_json(v: &Cbor) -> Value {
    match v {
        Cbor::Integer(i) => json!(i128::from(*i) as f64),
        Cbor::Float(f) => json!(f),
        Cbor::Text(s) => json!(s),
        Cbor::Bool(b) => json!(b),
        Cbor::Null => Value::Null,
        Cbor::Tag(_, inner) => to_json(inner),
        Cbor::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Cbor::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Cbor::Bytes(b) => json!(format!("({} bytes)", b.len())),
        _ => Value::Null,
    }
}

fn get<'a>(map: &'a Cbor, key: &str) -> Option<&'a Cbor> {
    match map {
        Cbor::Map(m) => m
            .iter()
            .find(|(k, _)| matches!(k, Cbor::Text(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn get_str<'a>(map: &'a Cbor, key: &str) -> Option<&'a str> {
    match get(map, key)? {
        Cbor::Text(s) => Some(s),
        _ => None,
    }
}

fn get_number(map: &Cbor, key: &str) -> Option<f64> {
    match get(map, key)? {
        Cbor::Integer(i) => Some(i128::from(*i) as f64),
        Cbor::Float(f) => Some(*f),
        _ => None,
    }
}

/// A timestamp: tag 1 over epoch seconds (an integer or a float).
fn get_time(map: &Cbor, key: &str) -> Result<f64, ApiError> {
    let value = get(map, key).ok_or_else(|| ApiError::missing(format!("The parameter {key} is required.")))?;
    let seconds = match value {
        Cbor::Tag(1, inner) => match inner.as_ref() {
            Cbor::Integer(i) => Some(i128::from(*i) as f64),
            Cbor::Float(f) => Some(*f),
            _ => None,
        },
        _ => None,
    };
    seconds
        .filter(|s| s.is_finite())
        .ok_or_else(|| ApiError::invalid(format!("The parameter {key} must be a timestamp (CBOR tag 1).")))
}

/// A query of a custom metric: its namespace, name, dimensions (sorted) and statistic.
struct CustomQuery {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
    statistic: Statistic,
}

/// One `MetricStat` query, resolved against the store.
struct Query {
    id: String,
    label: String,
    return_data: bool,
    /// The function its dimensions name (`None`: every function), and what it selects.
    function: Option<String>,
    /// `None`: a metric Lambda does not publish (no data).
    metric: Option<MetricQuery>,
    /// A custom metric.
    custom: Option<CustomQuery>,
    /// The period in seconds.
    period: u64,
}

fn parse_query(q: &Cbor) -> Result<Query, ApiError> {
    let id =
        get_str(q, "Id").ok_or_else(|| ApiError::missing("The parameter MetricDataQueries.member.Id is required."))?;
    let id_ok = id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !id_ok {
        return Err(ApiError::invalid(format!(
            "The value {id} for parameter MetricDataQueries.member.Id is invalid: it starts with a lowercase letter and holds only letters, digits and underscores."
        )));
    }
    if get(q, "Expression").is_some() {
        return Err(ApiError::invalid(format!(
            "query {id}: hook-sim serves MetricStat queries only; metric math (Expression) is not simulated, compute it from the results"
        )));
    }
    let stat = get(q, "MetricStat").ok_or_else(|| {
        ApiError::missing(format!(
            "query {id}: exactly one of MetricStat and Expression is required"
        ))
    })?;
    let metric =
        get(stat, "Metric").ok_or_else(|| ApiError::missing(format!("query {id}: MetricStat.Metric is required")))?;
    let period = get_number(stat, "Period")
        .ok_or_else(|| ApiError::missing(format!("query {id}: MetricStat.Period is required")))?;
    if !(period >= 60.0 && period % 60.0 == 0.0 && period <= 1e9) {
        return Err(ApiError::invalid(format!(
            "query {id}: The parameter Period must be a multiple of 60 (Lambda's metrics have standard resolution), not {period}."
        )));
    }
    let stat_name =
        get_str(stat, "Stat").ok_or_else(|| ApiError::missing(format!("query {id}: MetricStat.Stat is required")))?;
    let statistic = Statistic::parse(stat_name).ok_or_else(|| {
        ApiError::invalid(format!(
            "query {id}: statistic {stat_name} is not simulated (Sum, Average, Maximum, Minimum, SampleCount and percentiles like p99 are)"
        ))
    })?;
    let namespace = get_str(metric, "Namespace").unwrap_or_default();
    let name = get_str(metric, "MetricName").unwrap_or_default();
    let mut dims: Vec<(String, String)> = Vec::new();
    if let Some(Cbor::Array(list)) = get(metric, "Dimensions") {
        if list.len() > 30 {
            return Err(ApiError::invalid(format!("query {id}: at most 30 dimensions")));
        }
        for d in list {
            let (Some(n), Some(v)) = (get_str(d, "Name"), get_str(d, "Value")) else {
                return Err(ApiError::missing(format!(
                    "query {id}: each dimension needs Name and Value"
                )));
            };
            dims.push((n.to_string(), v.to_string()));
        }
    }
    dims.sort();
    let dim = |k: &str| dims.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let names: Vec<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
    let function = dim("FunctionName");
    // The dimension sets Lambda publishes, and what each selects.
    let published = matches!(
        names.as_slice(),
        [] | ["FunctionName"] | ["FunctionName", "Resource"] | ["ExecutedVersion", "FunctionName", "Resource"]
    );
    let qualifier = match (dim("Resource"), &function) {
        (Some(r), Some(f)) => match r.strip_prefix(f.as_str()).and_then(|q| q.strip_prefix(':')) {
            Some(q) if !q.is_empty() => Some(Some(q.to_string())),
            _ => None,
        },
        _ => Some(None),
    };
    let custom = (!namespace.starts_with("AWS/")).then(|| CustomQuery {
        namespace: namespace.to_string(),
        name: name.to_string(),
        dimensions: dims.clone(),
        statistic,
    });
    let metric = match (namespace, Metric::parse(name), qualifier) {
        ("AWS/Lambda", Some(m), Some(qualifier)) if published => Some(MetricQuery {
            metric: m,
            statistic,
            qualifier,
            executed_version: dim("ExecutedVersion"),
        }),
        _ => None,
    };
    Ok(Query {
        id: id.to_string(),
        label: get_str(q, "Label").unwrap_or(name).to_string(),
        return_data: !matches!(get(q, "ReturnData"), Some(Cbor::Bool(false))),
        function,
        metric,
        custom,
        period: period as u64,
    })
}

fn get_metric_data(state: &SimState, request: &Cbor) -> Result<Cbor, ApiError> {
    let Some(Cbor::Array(queries)) = get(request, "MetricDataQueries") else {
        return Err(ApiError::missing("The parameter MetricDataQueries is required."));
    };
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(ApiError::invalid(format!(
            "MetricDataQueries holds {} queries: give 1 to {MAX_QUERIES}.",
            queries.len()
        )));
    }
    let start = get_time(request, "StartTime")?;
    let end = get_time(request, "EndTime")?;
    if end <= start {
        return Err(ApiError {
            status: 400,
            code: "InvalidParameterCombination",
            message: "The parameter StartTime must be less than the parameter EndTime.".into(),
        });
    }
    let ascending = match get_str(request, "ScanBy") {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "ScanBy {other:?}: TimestampDescending or TimestampAscending"
            )));
        }
    };
    let max_datapoints = get_number(request, "MaxDatapoints").map_or(MAX_DATAPOINTS, |n| n.max(1.0) as u64);
    let queries = queries.iter().map(parse_query).collect::<Result<Vec<_>, _>>()?;
    let mut ids = std::collections::HashSet::new();
    if let Some(q) = queries.iter().find(|q| !ids.insert(q.id.as_str())) {
        return Err(ApiError::invalid(format!(
            "The Id {} is used by more than one query.",
            q.id
        )));
    }
    // CloudWatch rounds a recent StartTime down to the minute; periods start there.
    let start = (start / 60.0).floor() * 60.0;
    let wanted: u64 = queries
        .iter()
        .map(|q| ((end - start) / q.period as f64).ceil().max(0.0) as u64)
        // A window of centuries saturates rather than overflows.
        .fold(0, u64::saturating_add);
    if wanted > max_datapoints.min(MAX_DATAPOINTS) {
        return Err(ApiError {
            status: 400,
            code: "InvalidParameterCombination",
            message: format!(
                "the queries ask for {wanted} datapoints, over {}: narrow the window or raise the period (hook-sim does not page with NextToken)",
                max_datapoints.min(MAX_DATAPOINTS)
            ),
        });
    }
    let clock = &state.recorder.clock;
    let epoch = clock.epoch_ms() as f64 / 1000.0;
    let now = clock.now();
    // Published: the minute an invocation started in ended METRIC_LAG ago.
    let at_once = state.metrics_at_once.load(std::sync::atomic::Ordering::Relaxed);
    let published = |i: &InvocationRecord| {
        at_once || clock.align_down(i.at, Duration::from_secs(60)) + Duration::from_secs(60) + METRIC_LAG <= now
    };
    let wall = |i: &InvocationRecord| epoch + i.at.as_secs_f64();
    // Invocations that started up to here were forgotten (a server keeping bounded records).
    let forgotten = state.recorder.forgotten_until().map(|at| epoch + at.as_secs_f64());
    let mut results = Vec::new();
    for q in queries.iter().filter(|q| q.return_data) {
        let mut points: Vec<(f64, f64)> = Vec::new();
        let incomplete = q.metric.is_some() && forgotten.is_some_and(|f| f >= start);
        if let Some(metric) = &q.metric {
            let records = state.recorder.invocations_where(|i| {
                q.function.as_ref().is_none_or(|f| *f == i.function) && (start..end).contains(&wall(i)) && published(i)
            });
            let period = q.period as f64;
            let mut buckets: std::collections::BTreeMap<u64, Vec<&InvocationRecord>> = Default::default();
            for r in &records {
                buckets.entry(((wall(r) - start) / period) as u64).or_default().push(r);
            }
            for (k, members) in buckets {
                if let Some(v) = metric.value(&members) {
                    points.push((start + k as f64 * period, v));
                }
            }
        }
        if let Some(CustomQuery {
            namespace,
            name,
            dimensions: dims,
            statistic,
        }) = &q.custom
        {
            let period = q.period as f64;
            let mut buckets: std::collections::BTreeMap<u64, Vec<(f64, u64)>> = Default::default();
            for p in state.custom_metrics.lock().expect("poisoned").iter().filter(|p| {
                p.namespace == *namespace && p.name == *name && p.dimensions == *dims && (start..end).contains(&p.at)
            }) {
                let bucket = buckets.entry(((p.at - start) / period) as u64).or_default();
                bucket.push((p.value, u64::from(p.count)));
            }
            for (k, values) in buckets {
                if let Some(v) = weighted(*statistic, values) {
                    points.push((start + k as f64 * period, v));
                }
            }
        }
        if !ascending {
            points.reverse();
        }
        results.push(Cbor::Map(vec![
            (text("Id"), text(&q.id)),
            (text("Label"), text(&q.label)),
            (
                text("Timestamps"),
                Cbor::Array(
                    points
                        .iter()
                        .map(|(t, _)| Cbor::Tag(1, Box::new(Cbor::Float(*t))))
                        .collect(),
                ),
            ),
            (
                text("Values"),
                Cbor::Array(points.iter().map(|(_, v)| Cbor::Float(*v)).collect()),
            ),
            (
                text("StatusCode"),
                text(if incomplete { "PartialData" } else { "Complete" }),
            ),
            (
                text("Messages"),
                Cbor::Array(if incomplete {
                    vec![Cbor::Map(vec![
                        (text("Code"), text("hook-sim.RecordsForgotten")),
                        (
                            text("Value"),
                            text("hook-sim keeps its newest invocations only (--keep): this window begins before them"),
                        ),
                    ])]
                } else {
                    Vec::new()
                }),
            ),
        ]));
    }
    Ok(Cbor::Map(vec![
        (text("MetricDataResults"), Cbor::Array(results)),
        (text("Messages"), Cbor::Array(Vec::new())),
    ]))
}

fn put_metric_data(state: &SimState, request: &Cbor) -> Result<Cbor, ApiError> {
    let namespace =
        get_str(request, "Namespace").ok_or_else(|| ApiError::missing("The parameter Namespace is required."))?;
    if namespace.starts_with("AWS/") {
        return Err(ApiError::invalid(format!(
            "The value {namespace} for parameter Namespace is invalid: namespaces starting with AWS/ are reserved for AWS"
        )));
    }
    let Some(Cbor::Array(data)) = get(request, "MetricData") else {
        return Err(ApiError::missing("The parameter MetricData is required."));
    };
    if data.len() > MAX_PUT_METRICS {
        return Err(ApiError::invalid(format!(
            "MetricData holds {} metrics: at most {MAX_PUT_METRICS}",
            data.len()
        )));
    }
    let now = state.recorder.clock.wall();
    let mut points = Vec::new();
    for d in data {
        let name = get_str(d, "MetricName")
            .ok_or_else(|| ApiError::missing("The parameter MetricData.member.MetricName is required."))?;
        let mut dimensions = Vec::new();
        if let Some(Cbor::Array(list)) = get(d, "Dimensions") {
            for dim in list.iter().take(31) {
                let (Some(n), Some(v)) = (get_str(dim, "Name"), get_str(dim, "Value")) else {
                    return Err(ApiError::missing("each dimension needs Name and Value"));
                };
                dimensions.push((n.to_string(), v.to_string()));
            }
            if list.len() > 30 {
                return Err(ApiError::invalid("at most 30 dimensions"));
            }
        }
        dimensions.sort();
        let at = match get(d, "Timestamp") {
            Some(_) => get_time(d, "Timestamp")?,
            None => now,
        };
        if get(d, "StatisticValues").is_some() {
            return Err(ApiError::invalid(format!(
                "metric {name}: StatisticValues are not simulated: send Value, or Values with Counts"
            )));
        }
        let mut values: Vec<(f64, u32)> = Vec::new();
        if let Some(v) = get_number(d, "Value") {
            values.push((v, 1));
        }
        if let Some(Cbor::Array(list)) = get(d, "Values") {
            let counts: Vec<f64> = match get(d, "Counts") {
                Some(Cbor::Array(c)) => c.iter().map(|c| number(c).unwrap_or(1.0)).collect(),
                _ => Vec::new(),
            };
            if !counts.is_empty() && counts.len() != list.len() {
                return Err(ApiError::invalid(format!(
                    "metric {name}: Values and Counts differ in length"
                )));
            }
            for (i, v) in list.iter().enumerate() {
                let v = number(v).ok_or_else(|| ApiError::invalid(format!("metric {name}: a value is no number")))?;
                values.push((v, counts.get(i).copied().unwrap_or(1.0).clamp(0.0, 1e6) as u32));
            }
        }
        if values.is_empty() {
            return Err(ApiError::missing(format!("metric {name}: give Value, or Values")));
        }
        for (value, count) in values {
            if !value.is_finite() {
                return Err(ApiError::invalid(format!("metric {name}: {value} is no finite number")));
            }
            points.push(CustomPoint {
                namespace: namespace.to_string(),
                name: name.to_string(),
                dimensions: dimensions.clone(),
                at,
                value,
                count,
            });
        }
    }
    let mut store = state.custom_metrics.lock().expect("poisoned");
    if store.len() + points.len() > MAX_CUSTOM_POINTS {
        return Err(ApiError {
            status: 400,
            code: "LimitExceeded",
            message: format!("hook-sim keeps at most {MAX_CUSTOM_POINTS} custom datapoints"),
        });
    }
    store.extend(points);
    Ok(Cbor::Map(Vec::new()))
}

fn number(v: &Cbor) -> Option<f64> {
    match v {
        Cbor::Integer(i) => Some(i128::from(*i) as f64),
        Cbor::Float(f) => Some(*f),
        _ => None,
    }
}

/// A statistic of values each counted some times (a value with count 0 is no sample).
fn weighted(statistic: Statistic, mut values: Vec<(f64, u64)>) -> Option<f64> {
    values.retain(|(_, c)| *c > 0);
    let n: u64 = values.iter().map(|(_, c)| c).sum();
    if n == 0 {
        return None;
    }
    let sum: f64 = values.iter().map(|(v, c)| v * *c as f64).sum();
    Some(match statistic {
        Statistic::Sum => sum,
        Statistic::SampleCount => n as f64,
        Statistic::Average => sum / n as f64,
        Statistic::Maximum => values.iter().map(|(v, _)| *v).fold(f64::MIN, f64::max),
        Statistic::Minimum => values.iter().map(|(v, _)| *v).fold(f64::MAX, f64::min),
        Statistic::Percentile(h) => {
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Nearest rank over the counted samples.
            let rank = ((f64::from(h) / 10_000.0) * n as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            values
                .iter()
                .find(|(_, c)| {
                    seen += c;
                    seen >= rank
                })
                .map_or(values[values.len() - 1].0, |(v, _)| *v)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_values_weigh_as_samples() {
        let v = vec![(10.0, 98), (500.0, 2)];
        assert_eq!(weighted(Statistic::SampleCount, v.clone()), Some(100.0));
        assert_eq!(weighted(Statistic::Sum, v.clone()), Some(1980.0));
        assert_eq!(weighted(Statistic::Percentile(9800), v.clone()), Some(10.0));
        assert_eq!(weighted(Statistic::Percentile(9900), v.clone()), Some(500.0));
        assert_eq!(weighted(Statistic::Maximum, v), Some(500.0));
        assert_eq!(weighted(Statistic::Average, vec![(1.0, 0)]), None);
    }
}
