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
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::{Map, Value, json};

use crate::InvocationRecord;
use crate::alarm::{Metric, MetricQuery, Statistic};
use crate::custom_metrics::{CustomPoint, MAX_CUSTOM_POINTS, weighted};
use crate::metric::METRIC_LAG;
use crate::record::Service;
use crate::served::{ApiCall, Faults, served, with_error};
use crate::state::SimState;

/// Metrics in one `PutMetricData`, as CloudWatch allows.
const MAX_PUT_METRICS: usize = 1000;
/// CloudWatch's XML namespace (query protocol answers).
const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// Queries in one request, as CloudWatch allows.
const MAX_QUERIES: usize = 500;
/// Datapoints one request may ask for (CloudWatch's `MaxDatapoints` default).
const MAX_DATAPOINTS: u64 = 100_800;

/// An error as CloudWatch answers it.
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

/// The wire protocol a request came on, and its answer goes back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// Smithy RPC v2 CBOR.
    Cbor,
    /// AWS JSON 1.0.
    Json,
    /// The query protocol (form in, XML out).
    Query,
}

/// An answer in JSON as `wire` writes it: in CBOR the members named `Timestamps` hold tag 1
/// epoch seconds and every other number is a double; in XML lists are `member` elements and
/// timestamps ISO 8601.
fn respond(wire: Wire, operation: &str, status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let (content_type, bytes) = match wire {
        Wire::Cbor => {
            let mut bytes = Vec::new();
            ciborium::into_writer(&to_cbor(body, false), &mut bytes).expect("CBOR values serialize to memory");
            ("application/cbor", bytes)
        }
        Wire::Json => ("application/x-amz-json-1.0", body.to_string().into_bytes()),
        Wire::Query => {
            let mut xml = format!("<{operation}Response xmlns=\"{XMLNS}\">");
            if body.as_object().is_some_and(|m| !m.is_empty()) {
                xml.push_str(&format!("<{operation}Result>"));
                to_xml(body, false, &mut xml);
                xml.push_str(&format!("</{operation}Result>"));
            }
            xml.push_str(&format!(
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>",
                request_id()
            ));
            ("text/xml", xml.into_bytes())
        }
    };
    let mut r = (status, bytes).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if wire == Wire::Cbor {
        h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    r
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("00000000-0000-4000-8000-{:012x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn to_cbor(v: &Value, timestamps: bool) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if timestamps {
                Cbor::Tag(1, Box::new(Cbor::Float(f)))
            } else {
                Cbor::Float(f)
            }
        }
        Value::String(s) => text(s),
        Value::Array(a) => Cbor::Array(a.iter().map(|v| to_cbor(v, timestamps)).collect()),
        Value::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| (text(k), to_cbor(v, k == "Timestamps")))
                .collect(),
        ),
    }
}

fn to_xml(v: &Value, timestamps: bool, out: &mut String) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if timestamps => out.push_str(&iso8601(n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Array(a) => {
            for v in a {
                out.push_str("<member>");
                to_xml(v, timestamps, out);
                out.push_str("</member>");
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                out.push_str(&format!("<{k}>"));
                to_xml(v, k == "Timestamps", out);
                out.push_str(&format!("</{k}>"));
            }
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_response(wire: Wire, status: u16, code: &str, message: &str) -> Response {
    let exception = match code {
        "InvalidParameterValue" => "InvalidParameterValueException",
        "MissingParameter" => "MissingRequiredParameterException",
        "InvalidParameterCombination" => "InvalidParameterCombinationException",
        "AccessDenied" => "AccessDeniedException",
        other => other,
    };
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    let mut r = match wire {
        Wire::Query => {
            let xml = format!(
                "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                xml_escape(code),
                xml_escape(message),
                request_id()
            );
            let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), xml).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/xml"));
            r
        }
        _ => respond(
            wire,
            "",
            status,
            &json!({"__type": format!("com.amazonaws.cloudwatch#{exception}"), "message": message}),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{code};{fault}")) {
        r.headers_mut().insert("x-amzn-query-error", v);
    }
    with_error(r, code)
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

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

/// A query-protocol form as JSON: `A.member.2.B=v` becomes `{"A": [_, {"B": "v"}]}` (values
/// stay text; the handlers read numbers and timestamps from text too). Also its `Action`, or
/// why the form is refused: a list index past CloudWatch's limit for that list is refused as
/// CloudWatch refuses it, before anything is allocated for it.
fn from_form(body: &[u8]) -> (String, Result<Value, String>) {
    let mut root = Value::Object(Map::new());
    let mut action = String::new();
    let mut refused = None;
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "Action" => action = value.into_owned(),
            "Version" => {}
            // The query protocol's keys nest a few levels (`MetricDataQueries.member.1.MetricStat.
            // Metric.Dimensions.member.1.Name`): a deeper one is no member of any request.
            key if key.split('.').count() <= MAX_FORM_DEPTH && refused.is_none() => {
                if let Err(e) = insert_path(&mut root, None, &key.split('.').collect::<Vec<_>>(), value.into_owned()) {
                    refused = Some(format!("{key}: {e}"));
                }
            }
            _ => {}
        }
    }
    (action, refused.map_or(Ok(root), Err))
}

/// The most `.`-separated parts of a query-protocol key read (the deepest CloudWatch request
/// member has 9).
const MAX_FORM_DEPTH: usize = 16;

/// The most members of a list CloudWatch takes, by the list's name (its API reference's
/// limits); 100 for a list not named here.
fn max_members(list: Option<&str>) -> usize {
    match list {
        Some("MetricData") => 1000,
        Some("MetricDataQueries") => 500,
        Some("Values" | "Counts") => 150,
        Some("Dimensions") => 30,
        Some("ExtendedStatistics") => 10,
        Some("Statistics") => 5,
        _ => 100,
    }
}

fn insert_path(node: &mut Value, parent: Option<&str>, path: &[&str], value: String) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *node = Value::String(value);
        return Ok(());
    };
    if *first == "member" {
        // `member.N`, 1-based, up to the list's limit.
        let Some((index, rest)) = rest.split_first() else {
            return Ok(());
        };
        let max = max_members(parent);
        let i = match index.parse::<usize>() {
            Ok(i) if (1..=max).contains(&i) => i,
            _ => {
                return Err(format!(
                    "member {index} of {}: CloudWatch takes members 1 to {max}",
                    parent.unwrap_or("a list")
                ));
            }
        };
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let list = node.as_array_mut().expect("made a list above");
        if list.len() < i {
            list.resize(i, Value::Null);
        }
        return insert_path(&mut list[i - 1], parent, rest, value);
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let entry = node
        .as_object_mut()
        .expect("made an object above")
        .entry(first.to_string())
        .or_insert(Value::Null);
    insert_path(entry, Some(first), rest, value)
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

/// A CBOR request as JSON (timestamps, tag 1, become epoch seconds).
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

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn get_str<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    get(map, key)?.as_str()
}

/// A number, or (query protocol) its text.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn get_number(map: &Value, key: &str) -> Option<f64> {
    number(get(map, key)?)
}

fn get_list<'a>(map: &'a Value, key: &str) -> Option<&'a Vec<Value>> {
    get(map, key)?.as_array()
}

/// A `false` boolean, or (query protocol) `false` as text.
fn is_false(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(false))) || v.and_then(Value::as_str) == Some("false")
}

/// A timestamp: epoch seconds, or (query protocol) ISO 8601 text.
fn get_time(map: &Value, key: &str) -> Result<f64, ApiError> {
    let value = get(map, key).ok_or_else(|| ApiError::missing(format!("The parameter {key} is required.")))?;
    let seconds = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_iso8601(s),
        _ => None,
    };
    seconds
        .filter(|s| s.is_finite())
        .ok_or_else(|| ApiError::invalid(format!("The parameter {key} must be a timestamp.")))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-03-01T12:00:00Z`, `2024-03-01T12:00:00.250Z` or with an offset `+01:00`, as epoch
/// seconds.
fn parse_iso8601(s: &str) -> Option<f64> {
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, o) = time.split_at(at);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut t = clock.splitn(3, ':');
    let (h, min): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    if h > 23 || min > 59 || !(0.0..61.0).contains(&sec) {
        return None;
    }
    Some((days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 - offset) as f64 + sec)
}

/// Epoch seconds as ISO 8601 (`2024-03-01T12:00:00Z`, milliseconds when there are some).
fn iso8601(secs: f64) -> String {
    let whole = secs.floor() as i64;
    let millis = ((secs - secs.floor()) * 1000.0).round() as i64;
    let (days, rem) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if millis == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{millis:03}Z")
    }
}

/// A query of a custom metric: its namespace, name, dimensions (sorted) and statistic.
struct CustomQuery {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
    statistic: Statistic,
    /// Only datapoints in this unit, or all.
    unit: Option<String>,
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

fn parse_query(q: &Value) -> Result<Query, ApiError> {
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

fn get_metric_data(state: &SimState, request: &Value) -> Result<Value, ApiError> {
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

fn put_metric_data(state: &SimState, request: &Value) -> Result<Value, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_metrics::{CustomStore, emf_points, emf_points_within};

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
