//! CloudWatch's three wire protocols, read into one JSON shape and written back: Smithy RPC v2
//! CBOR, AWS JSON 1.0 and the query protocol (forms in, XML out), and the errors as each says
//! them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::{Map, Value, json};

use super::time::{iso8601, parse_iso8601};
use crate::served::with_error;

/// CloudWatch's XML namespace (query protocol answers).
pub(super) const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
/// The most `.`-separated parts of a query-protocol key read (the deepest CloudWatch request
/// member has 9).
pub(super) const MAX_FORM_DEPTH: usize = 16;

/// An error as CloudWatch answers it.
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "InvalidParameterValue",
            message: message.into(),
        }
    }

    pub(super) fn missing(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "MissingParameter",
            message: message.into(),
        }
    }
}

/// The wire protocol a request came on, and its answer goes back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
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
pub(super) fn respond(wire: Wire, operation: &str, status: u16, body: &Value) -> Response {
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

pub(super) fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("00000000-0000-4000-8000-{:012x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(super) fn to_cbor(v: &Value, timestamps: bool) -> Cbor {
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

pub(super) fn to_xml(v: &Value, timestamps: bool, out: &mut String) {
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

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn error_response(wire: Wire, status: u16, code: &str, message: &str) -> Response {
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

pub(super) fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

/// A query-protocol form as JSON: `A.member.2.B=v` becomes `{"A": [_, {"B": "v"}]}` (values
/// stay text; the handlers read numbers and timestamps from text too). Also its `Action`, or
/// why the form is refused: a list index past CloudWatch's limit for that list is refused as
/// CloudWatch refuses it, before anything is allocated for it.
pub(super) fn from_form(body: &[u8]) -> (String, Result<Value, String>) {
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

/// The most members of a list CloudWatch takes, by the list's name (its API reference's
/// limits); 100 for a list not named here.
pub(super) fn max_members(list: Option<&str>) -> usize {
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

pub(super) fn insert_path(node: &mut Value, parent: Option<&str>, path: &[&str], value: String) -> Result<(), String> {
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

/// A CBOR request as JSON (timestamps, tag 1, become epoch seconds).
pub(super) fn to_json(v: &Cbor) -> Value {
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

pub(super) fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) fn get_str<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    get(map, key)?.as_str()
}

/// A number, or (query protocol) its text.
pub(super) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn get_number(map: &Value, key: &str) -> Option<f64> {
    number(get(map, key)?)
}

pub(super) fn get_list<'a>(map: &'a Value, key: &str) -> Option<&'a Vec<Value>> {
    get(map, key)?.as_array()
}

/// A `false` boolean, or (query protocol) `false` as text.
pub(super) fn is_false(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(false))) || v.and_then(Value::as_str) == Some("false")
}

/// A timestamp: epoch seconds, or (query protocol) ISO 8601 text.
pub(super) fn get_time(map: &Value, key: &str) -> Result<f64, ApiError> {
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
