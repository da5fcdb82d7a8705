//! CloudWatch `GetMetricData` and `PutMetricData` over the invocations hook-sim records (the
//! store its alarms read too), on each wire protocol the AWS SDKs speak to CloudWatch:
//!
//! - Smithy RPC v2 CBOR, current SDKs (the Rust SDK, boto3 from 1.38 on): `POST
//!   /service/GraniteServiceVersion20100801/operation/GetMetricData`, `smithy-protocol:
//!   rpc-v2-cbor`, CBOR bodies, timestamps as tag 1 epoch seconds;
//! - AWS JSON 1.0 (SDKs of 2025 before that): `POST /`, `X-Amz-Target:
//!   GraniteServiceVersion20100801.GetMetricData`, JSON bodies, timestamps as epoch seconds;
//! - the query protocol (older SDKs, and the runtimes' bundled ones): `POST /`, a form body
//!   `Action=GetMetricData&Version=2010-08-01&...` with `member.N` lists and ISO 8601
//!   timestamps, answered in XML.
//!
//! Each request is read into one JSON shape (timestamps as epoch seconds, or the query
//! protocol's text) and each answer written back on the wire it came on. Errors carry their
//! code in `x-amzn-query-error` too, as a query-compatible service's do.
//!
//! Lambda's metrics are served as Lambda publishes them: namespace `AWS/Lambda`, `Invocations`,
//! `Errors` and `Throttles` (unit `Count`) and `Duration` (`Milliseconds`), for the dimension
//! sets `{}` (every function of the account), `{FunctionName}`, `{FunctionName, Resource}` and
//! `{FunctionName, Resource, ExecutedVersion}` (`Resource` is `function:qualifier`; `Throttles`
//! has no `ExecutedVersion`). Any other metric, or a `Unit` other than the metric's, has no data,
//! as in CloudWatch. A datapoint is published [`METRIC_LAG`] after the minute it falls in ends,
//! on the simulated clock: a query made during a deployment sees what CloudWatch would show
//! then.
//!
//! `PutMetricData` stores custom metrics (any namespace but `AWS/*`): `Value`, or `Values` with
//! `Counts`, in their `Unit` (`None` by default), stamped with their `Timestamp` (now by
//! default), visible at once; `GetMetricData` reads them back by the exact dimension set (and
//! the unit, when the query names one), as CloudWatch does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ciborium::Value as Cbor;
use serde_json::{Value, json};

use crate::record::Service;
use crate::served::{ApiCall, Faults, served};
use crate::state::SimState;

mod operations;
mod time;
mod wire;

use operations::{get_metric_data, put_metric_data};
use wire::{ApiError, Wire, error_response, from_form, get_str, respond, to_json};

/// `POST /service/GraniteServiceVersion20100801/operation/{operation}` (RPC v2 CBOR).
pub(crate) async fn cloudwatch_api(
    State(state): State<Arc<SimState>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = ciborium::from_reader::<Cbor, _>(body.as_ref())
        .map(|v| to_json(&v))
        .map_err(|e| format!("the body is no CBOR: {e}"));
    serve(&state, &headers, Wire::Cbor, &operation, request).await
}

/// `POST /` of CloudWatch: AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.*`) or the
/// query protocol (a form with `Action`). `None`: not CloudWatch's.
pub(crate) async fn cloudwatch_root(state: &Arc<SimState>, headers: &HeaderMap, body: &Bytes) -> Option<Response> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(operation) = target.and_then(|t| t.strip_prefix("GraniteServiceVersion20100801.")) {
        let request = serde_json::from_slice::<Value>(body).map_err(|e| format!("the body is no JSON: {e}"));
        return Some(serve(state, headers, Wire::Json, operation, request).await);
    }
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if target.is_some() || !form {
        return None;
    }
    let (operation, request) = from_form(body);
    Some(serve(state, headers, Wire::Query, &operation, request).await)
}

async fn serve(
    state: &SimState,
    headers: &HeaderMap,
    wire: Wire,
    operation: &str,
    request: Result<Value, String>,
) -> Response {
    let summary = request.as_ref().cloned().unwrap_or(Value::Null);
    let call = ApiCall {
        service: Service::CloudWatch,
        operation: operation.to_string(),
        request: summary.clone(),
    };
    let faults = Faults {
        throttle: (400, "Throttling"),
        error: |status, code: &str, message: &str| error_response(wire, status, code, message),
    };
    served(
        state,
        call,
        Some(faults),
        answer(state, headers, wire, operation, request, summary),
    )
    .await
}

/// The answer to one CloudWatch call: authorized as IAM would, then the operation.
async fn answer(
    state: &SimState,
    headers: &HeaderMap,
    wire: Wire,
    operation: &str,
    request: Result<Value, String>,
    summary: Value,
) -> Response {
    if let Ok(request) = &request
        && matches!(operation, "GetMetricData" | "PutMetricData")
    {
        let action = format!("cloudwatch:{operation}");
        let mut iam_request = crate::iam::Request::new(&action, "*");
        if let Some(namespace) = get_str(request, "Namespace") {
            iam_request = iam_request.with("cloudwatch:namespace", vec![namespace.to_string()]);
        }
        if let Err(denial) = state.authorize(headers, &iam_request) {
            return error_response(wire, 403, "AccessDenied", &denial.to_string());
        }
    }
    let result = match (operation, request) {
        (_, Err(e)) => Err(ApiError {
            status: 400,
            code: "SerializationException",
            message: e,
        }),
        ("GetMetricData", Ok(request)) => get_metric_data(state, &request),
        ("PutMetricData", Ok(request)) => put_metric_data(state, &request),
        (other, Ok(_)) => Err(ApiError {
            status: 400,
            code: if wire == Wire::Query {
                "InvalidAction"
            } else {
                "UnknownOperationException"
            },
            message: format!("hook-sim does not implement CloudWatch {other:?}"),
        }),
    };
    match result {
        Ok(body) => {
            state
                .recorder
                .exchange(Service::CloudWatch, operation, &summary, 200, &body);
            respond(wire, operation, 200, &body)
        }
        Err(e) => {
            state.recorder.exchange(
                Service::CloudWatch,
                operation,
                &summary,
                e.status,
                &json!({"__type": e.code, "message": e.message}),
            );
            error_response(wire, e.status, e.code, &e.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_metrics::{CustomPoint, CustomStore, emf_points, emf_points_within, weighted};
    use crate::metric::Statistic;

    /// A caller stamps `PutMetricData` with its own clock, the real one: once the simulated
    /// clock has run ahead (a deployment skipped an hour), the point lands at the simulated
    /// "now", not an hour before it, where no alarm period of the deployment would see it.
    #[tokio::test]
    async fn a_callers_timestamp_is_moved_onto_the_simulated_clock() {
        let sim = crate::Sim::start().await.unwrap();
        let clock = &sim.state.recorder.clock;
        clock.set_speed(60.0);
        clock.arrive(std::time::Duration::from_secs(3600));
        clock.release();
        let real_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let request = serde_json::json!({"Namespace": "Shop", "MetricData": [
            {"MetricName": "failed", "Value": 1, "Timestamp": real_now},
        ]});
        assert!(put_metric_data(&sim.state, &request).is_ok());
        let at = sim.state.recorder.custom.lock().unwrap().points[0].at;
        let simulated_now = clock.wall();
        assert!((at - simulated_now).abs() < 5.0, "{at} against {simulated_now}");
        assert!(at - real_now > 3500.0, "an hour ahead of the caller's own clock");
    }

    #[test]
    fn a_form_past_a_lists_limit_is_refused_before_anything_is_allocated_for_it() {
        let (action, ok) =
            from_form(b"Action=GetMetricData&MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.30.Name=F");
        assert_eq!(action, "GetMetricData");
        let ok = ok.unwrap();
        assert_eq!(ok["MetricDataQueries"].as_array().unwrap().len(), 2);
        assert_eq!(
            ok["MetricDataQueries"][1]["MetricStat"]["Metric"]["Dimensions"]
                .as_array()
                .unwrap()
                .len(),
            30
        );
        for (form, says) in [
            (
                "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.10000.Name=F",
                "member 10000 of Dimensions: CloudWatch takes members 1 to 30",
            ),
            ("MetricDataQueries.member.501.Id=a", "member 501 of MetricDataQueries"),
            ("MetricData.member.1.Values.member.151=1", "member 151 of Values"),
            ("MetricData.member.0.MetricName=x", "member 0 of MetricData"),
            ("MetricData.member.x.MetricName=x", "member x of MetricData"),
        ] {
            let (_, refused) = from_form(format!("Action=PutMetricData&{form}").as_bytes());
            let e = refused.unwrap_err();
            assert!(e.contains(says), "{form}: {e}");
        }
    }

    #[test]
    fn embedded_metric_format_lines_become_custom_metrics() {
        let line = r#"{"_aws":{"Timestamp":1700000000500,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["service"],["service","route"]],"Metrics":[{"Name":"latency","Unit":"Milliseconds"},{"Name":"orders"}]}]},"service":"cart","route":"/buy","latency":[12,30],"orders":1,"note":"x"}"#;
        let points = emf_points(line, 100.0);
        // Two values of latency and one of orders, each under both dimension sets.
        assert_eq!(points.len(), 6, "{points:?}");
        let latency: Vec<&CustomPoint> = points.iter().filter(|p| p.name == "latency").collect();
        assert_eq!(latency.len(), 4);
        assert!(
            latency
                .iter()
                .all(|p| p.unit == "Milliseconds" && p.at == 1_700_000_000.5 && p.visible == 160.0)
        );
        assert!(
            latency
                .iter()
                .any(|p| p.dimensions == [("route".into(), "/buy".into()), ("service".into(), "cart".into())])
        );
        assert!(
            points
                .iter()
                .filter(|p| p.name == "orders")
                .all(|p| p.unit == "None" && p.value == 1.0)
        );

        // No Dimensions: the metric without dimensions; [] is the empty set too.
        let bare = r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"N","Metrics":[{"Name":"m"}]}]},"m":2}"#;
        assert_eq!(emf_points(bare, 0.0)[0].dimensions, Vec::<(String, String)>::new());
        // What CloudWatch does not extract: no timestamp, an AWS/ namespace, a dimension that is
        // not a string member, a value that is not a number, a plain log line.
        for skipped in [
            r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Metrics":[{"Name":"m"}]}]},"m":2}"#,
            r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"AWS/Lambda","Metrics":[{"Name":"Errors"}]}]},"Errors":1}"#,
            r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["svc"]],"Metrics":[{"Name":"m"}]}]},"m":2}"#,
            r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"N","Metrics":[{"Name":"m"}]}]},"m":"2"}"#,
            "START RequestId: 1 Version: 2 \"_aws\"",
            "not json",
        ] {
            assert!(emf_points(skipped, 0.0).is_empty(), "{skipped}");
        }
    }

    #[test]
    fn a_line_is_read_only_as_far_as_the_store_has_room() {
        // 5,000 dimension sets times 100 values: 500,000 datapoints from one line of ~50 KB.
        let sets: Vec<String> = (0..5000).map(|_| r#"["s"]"#.to_string()).collect();
        let values: Vec<String> = (0..100).map(|v| v.to_string()).collect();
        let line = format!(
            r#"{{"_aws":{{"Timestamp":0,"CloudWatchMetrics":[{{"Namespace":"N","Dimensions":[{}],"Metrics":[{{"Name":"m"}}]}}]}},"s":"x","m":[{}]}}"#,
            sets.join(","),
            values.join(",")
        );
        assert!(emf_points_within(&line, 0.0, 0.0, 10).is_none());
        let mut store = CustomStore::default();
        store.log_line(&line, 0.0, 0.0);
        assert!(store.points.is_empty() && store.dropped, "refused whole, and said so");
        // A line within the room is kept whole.
        store.log_line(
            r#"{"_aws":{"Timestamp":0,"CloudWatchMetrics":[{"Namespace":"N","Metrics":[{"Name":"m"}]}]},"m":[1,2]}"#,
            0.0,
            0.0,
        );
        assert_eq!(store.points.len(), 2);
    }

    #[test]
    fn custom_points_show_when_cloudwatch_shows_them() {
        let mut store = CustomStore::default();
        store.log_line(
            r#"{"_aws":{"Timestamp":30000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["service"]],"Metrics":[{"Name":"failed","Unit":"Count"}]}]},"service":"cart","failed":1}"#,
            30.0,
            0.0,
        );
        let q = crate::alarm::CustomMetric {
            namespace: "Shop".into(),
            name: "failed".into(),
            dimensions: vec![("service".into(), "cart".into())],
            statistic: Statistic::Sum,
            unit: None,
        };
        assert_eq!(store.value(&q, 0.0, 60.0, 60.0), None, "not yet extracted from the log");
        assert_eq!(store.value(&q, 0.0, 60.0, 90.0), Some(1.0));
        let seconds = crate::alarm::CustomMetric {
            unit: Some("Seconds".into()),
            ..q.clone()
        };
        assert_eq!(store.value(&seconds, 0.0, 60.0, 90.0), None, "another unit");
        let other = crate::alarm::CustomMetric {
            dimensions: Vec::new(),
            ..q
        };
        assert_eq!(store.value(&other, 0.0, 60.0, 90.0), None, "another dimension set");
    }

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
