//! An API Gateway HTTP API (payload format 2.0) in front of a function.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::account::ACCOUNT_ID;
use crate::lambda_api::{Source, request_id, run_counted};
use crate::record::Service;
use crate::served::{ApiCall, NO_FAULTS, served, with_error};
use crate::state::SimState;

/// An HTTP API (payload format 2.0) in front of a function: request → event, answer → response.
pub(crate) async fn http_api(
    State(state): State<Arc<SimState>>,
    Path(params): Path<HashMap<String, String>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let function = params.get("function").cloned().unwrap_or_default();
    let qualifier = params.get("qualifier").cloned();
    let raw_path = format!("/{}", params.get("rest").cloned().unwrap_or_default());
    let raw_query = uri.query().unwrap_or_default().to_string();
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let text = String::from_utf8_lossy(&body).into_owned();
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
    let event = api_event(method.as_str(), &raw_path, &raw_query, header_map, user_agent, &text);
    let call = ApiCall {
        service: Service::HttpApi,
        operation: "Request".into(),
        request: json!({"function": function, "qualifier": qualifier, "method": method.as_str(), "path": raw_path}),
    };
    // An HTTP API has no queued faults: its function's behaviour is what fails.
    served(
        &state,
        call,
        NO_FAULTS,
        answer(&state, &function, qualifier.as_deref(), &event),
    )
    .await
}

/// The function's answer as API Gateway gives it.
async fn answer(state: &SimState, function: &str, qualifier: Option<&str>, event: &Value) -> Response {
    let resolved = state.resolve(function, qualifier, None);
    let Some(Some((version, behavior))) = resolved else {
        let r = (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
        return with_error(r, "NotFound");
    };
    let payload = serde_json::to_vec(event).expect("JSON values serialize");
    let outcome = run_counted(
        state,
        function,
        qualifier,
        &behavior,
        &payload,
        &version,
        Source::Client,
    )
    .await;
    // API Gateway answers a function error, and a throttled invoke, with a bare 500.
    if outcome.function_error.is_some() || outcome.throttled {
        let error = match (outcome.throttled, &outcome.function_error) {
            (true, _) => "TooManyRequestsException",
            (false, Some(kind)) => kind.as_str(),
            (false, None) => "Unhandled",
        };
        let r = (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": "Internal Server Error"})),
        )
            .into_response();
        return with_error(r, error);
    }
    let answer: Value = serde_json::from_slice(&outcome.payload).unwrap_or(Value::Null);
    // Payload format 2.0: an object with statusCode is a response; anything else is a 200 JSON body.
    let (status, headers, body) = match answer.get("statusCode").and_then(Value::as_u64) {
        Some(code) => (
            code as u16,
            answer
                .get("headers")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            match answer.get("body") {
                Some(Value::String(s)) => s.clone().into_bytes(),
                Some(Value::Null) | None => Vec::new(),
                Some(other) => other.to_string().into_bytes(),
            },
        ),
        None => {
            let mut h = serde_json::Map::new();
            h.insert("content-type".into(), json!("application/json"));
            (200, h, outcome.payload.clone())
        }
    };
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), body).into_response();
    for (k, v) in headers {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            v.as_str().map(HeaderValue::from_str),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    // API Gateway does not pass Lambda's X-Amz-Executed-Version on: a check through the API
    // cannot tell which version answered unless the function says so in its answer.
    r
}

/// An API Gateway HTTP API event (payload format 2.0).
pub(crate) fn api_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: serde_json::Map<String, Value>,
    user_agent: &str,
    body: &str,
) -> Value {
    let query: serde_json::Map<String, Value> = raw_query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), Value::String(v.replace('+', " ")))
        })
        .collect();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "hooksim",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": user_agent},
            "requestId": request_id(),
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": if body.is_empty() { Value::Null } else { Value::String(body.to_string()) },
        "isBase64Encoded": false,
    })
}
