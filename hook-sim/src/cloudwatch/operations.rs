//! `GetMetricData` and `PutMetricData` over the store: a request's JSON shape in, the answer's
//! out, whatever wire it came on.

use std::time::Duration;

use serde_json::{Value, json};

use super::wire::{ApiError, get, get_list, get_number, get_str, get_time, is_false, number};
use crate::InvocationRecord;
use crate::alarm::{Metric, MetricQuery, Statistic};
use crate::custom_metrics::{CustomPoint, MAX_CUSTOM_POINTS, weighted};
use crate::metric::METRIC_LAG;
use crate::state::SimState;

/// Metrics in one `PutMetricData`, as CloudWatch allows.
pub(super) const MAX_PUT_METRICS: usize = 1000;
/// Queries in one request, as CloudWatch allows.
pub(super) const MAX_QUERIES: usize = 500;
/// Datapoints one request may ask for (CloudWatch's `MaxDatapoints` default).
pub(super) const MAX_DATAPOINTS: u64 = 100_800;

/// A query of a custom metric: its namespace, name, dimensions (sorted) and statistic.
pub(super) struct CustomQuery {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
    statistic: Statistic,
    /// Only datapoints in this unit, or all.
    unit: Option<String>,
}

/// One `MetricStat` query, resolved against the store.
pub(super) struct Query {
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

pub(super) fn parse_query(q: &Value) -> Result<Query, ApiError> {
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
    let unit = get_str(stat, "Unit");
    let namespace = get_str(metric, "Namespace").unwrap_or_default();
    let name = get_str(metric, "MetricName").unwrap_or_default();
    let mut dims: Vec<(String, String)> = Vec::new();
    if let Some(list) = get_list(metric, "Dimensions") {
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
        unit: unit.map(str::to_string),
    });
    let metric = match (namespace, Metric::parse(name), qualifier) {
        // A `Unit` other than the one Lambda publishes the metric in selects no data.
        ("AWS/Lambda", Some(m), Some(qualifier)) if published && unit.is_none_or(|u| u == m.unit()) => {
            Some(MetricQuery {
                metric: m,
                statistic,
                qualifier,
                executed_version: dim("ExecutedVersion"),
                every_function: function.is_none(),
            })
        }
        _ => None,
    };
    Ok(Query {
        id: id.to_string(),
        label: get_str(q, "Label").unwrap_or(name).to_string(),
        return_data: !is_false(get(q, "ReturnData")),
        function,
        metric,
        custom,
        period: period as u64,
    })
}

pub(super) fn get_metric_data(state: &SimState, request: &Value) -> Result<Value, ApiError> {
    let Some(queries) = get_list(request, "MetricDataQueries") else {
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
        let mut incomplete = q.metric.is_some() && forgotten.is_some_and(|f| f >= start);
        let mut custom_incomplete = false;
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
            unit,
        }) = &q.custom
        {
            let period = q.period as f64;
            let mut buckets: std::collections::BTreeMap<u64, Vec<(f64, u64)>> = Default::default();
            let store = state.recorder.custom.lock().expect("poisoned");
            let now_wall = state.recorder.clock.wall();
            custom_incomplete = store.dropped;
            for p in store.points.iter().filter(|p| {
                p.namespace == *namespace
                    && p.name == *name
                    && p.dimensions == *dims
                    && unit.as_ref().is_none_or(|u| *u == p.unit)
                    && (start..end).contains(&p.at)
                    && (at_once || p.visible <= now_wall)
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
        let messages = if incomplete {
            json!([{
                "Code": "hook-sim.RecordsForgotten",
                "Value": "hook-sim keeps its newest invocations only (--keep): this window begins before them",
            }])
        } else if custom_incomplete {
            incomplete = true;
            json!([{
                "Code": "hook-sim.CustomPointsDropped",
                "Value": format!("hook-sim keeps at most {MAX_CUSTOM_POINTS} custom datapoints and dropped some"),
            }])
        } else {
            json!([])
        };
        results.push(json!({
            "Id": q.id,
            "Label": q.label,
            "Timestamps": points.iter().map(|(t, _)| *t).collect::<Vec<f64>>(),
            "Values": points.iter().map(|(_, v)| *v).collect::<Vec<f64>>(),
            "StatusCode": if incomplete { "PartialData" } else { "Complete" },
            "Messages": messages,
        }));
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

pub(super) fn put_metric_data(state: &SimState, request: &Value) -> Result<Value, ApiError> {
    let namespace =
        get_str(request, "Namespace").ok_or_else(|| ApiError::missing("The parameter Namespace is required."))?;
    if namespace.starts_with("AWS/") {
        return Err(ApiError::invalid(format!(
            "The value {namespace} for parameter Namespace is invalid: namespaces starting with AWS/ are reserved for AWS"
        )));
    }
    let Some(data) = get_list(request, "MetricData") else {
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
        if let Some(list) = get_list(d, "Dimensions") {
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
        let unit = get_str(d, "Unit").unwrap_or("None").to_string();
        // A timestamp the caller gives is on its own clock, the real one: moved onto the
        // simulated clock as the caller's "now" is.
        let at = match get(d, "Timestamp") {
            Some(_) => get_time(d, "Timestamp")? + state.recorder.clock.skipped().as_secs_f64(),
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
        if let Some(list) = get_list(d, "Values") {
            let counts: Vec<f64> = match get(d, "Counts") {
                Some(Value::Array(c)) => c.iter().map(|c| number(c).unwrap_or(1.0)).collect(),
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
                unit: unit.clone(),
                at,
                value,
                count,
                visible: now,
            });
        }
    }
    let mut store = state.recorder.custom.lock().expect("poisoned");
    if store.points.len() + points.len() > MAX_CUSTOM_POINTS {
        return Err(ApiError {
            status: 400,
            code: "LimitExceeded",
            message: format!("hook-sim keeps at most {MAX_CUSTOM_POINTS} custom datapoints"),
        });
    }
    store.points.extend(points);
    Ok(json!({}))
}
