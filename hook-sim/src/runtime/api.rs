//! The Lambda Runtime API one execution environment serves its process: `/next` hands it
//! the pending invocation, `/response`, `/error` and `/init/error` end it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::account::{ACCOUNT_ID, REGION};
use crate::record::{Recorder, Service};

use super::logs::LogLines;

pub(super) enum RuntimeResult {
    Response { body: Vec<u8>, duration: Duration },
    Error { body: Vec<u8>, duration: Duration },
    InitError { body: Vec<u8> },
}

pub(super) struct Pending {
    pub(super) request_id: String,
    pub(super) deadline_ms: u64,
    /// The qualifier the caller named (the invoked ARN ends with it), if any.
    pub(super) qualifier: Option<String>,
    pub(super) payload: Vec<u8>,
    pub(super) tx: oneshot::Sender<RuntimeResult>,
}

pub(super) struct InFlight {
    pub(super) tx: oneshot::Sender<RuntimeResult>,
    pub(super) dispatched: Instant,
}

pub(super) struct Shared {
    pub(super) name: String,
    pub(super) recorder: Arc<Recorder>,
    pub(super) pending: Mutex<VecDeque<Pending>>,
    pub(super) in_flight: Mutex<HashMap<String, InFlight>>,
    pub(super) arrived: Notify,
    pub(super) first_next: Mutex<Option<Instant>>,
    pub(super) logs: Arc<Mutex<LogLines>>,
}

pub(super) fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

pub(super) async fn next(State(shared): State<Arc<Shared>>) -> Response {
    {
        let mut first = shared.first_next.lock().expect("poisoned");
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    let pending = loop {
        if let Some(p) = shared.pending.lock().expect("poisoned").pop_front() {
            break p;
        }
        shared.arrived.notified().await;
    };
    shared.in_flight.lock().expect("poisoned").insert(
        pending.request_id.clone(),
        InFlight {
            tx: pending.tx,
            dispatched: Instant::now(),
        },
    );
    let arn = match &pending.qualifier {
        Some(q) => format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}:{q}", shared.name),
        None => format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", shared.name),
    };
    let event: serde_json::Value = serde_json::from_slice(&pending.payload).unwrap_or(serde_json::Value::Null);
    shared.recorder.call(
        Service::Runtime,
        "Next",
        json!({"function": shared.name, "requestId": pending.request_id, "invokedFunctionArn": arn, "event": event}),
        200,
        None,
    );
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("lambda-runtime-aws-request-id", pending.request_id.as_str()),
        ("lambda-runtime-deadline-ms", &pending.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", &arn),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        ),
        ("content-type", "application/json"),
    ] {
        headers.insert(k, HeaderValue::from_str(v).expect("header values are ASCII"));
    }
    (StatusCode::OK, headers, pending.payload).into_response()
}

pub(super) fn finish(
    shared: &Shared,
    id: &str,
    operation: &str,
    make: impl FnOnce(Duration) -> RuntimeResult,
    error: Option<String>,
) -> Response {
    let entry = shared.in_flight.lock().expect("poisoned").remove(id);
    let Some(entry) = entry else {
        shared.recorder.call(
            Service::Runtime,
            operation,
            json!({"function": shared.name, "requestId": id}),
            400,
            Some("InvalidRequestID".into()),
        );
        return runtime_error(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID");
    };
    shared.recorder.call(
        Service::Runtime,
        operation,
        json!({"function": shared.name, "requestId": id}),
        202,
        error,
    );
    let _ = entry.tx.send(make(entry.dispatched.elapsed()));
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

pub(super) async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    finish(
        &shared,
        &id,
        "Response",
        |duration| RuntimeResult::Response {
            body: body.to_vec(),
            duration,
        },
        None,
    )
}

pub(super) async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errorType").and_then(|t| t.as_str()).map(str::to_string))
        });
    finish(
        &shared,
        &id,
        "Error",
        |duration| RuntimeResult::Error {
            body: body.to_vec(),
            duration,
        },
        error_type,
    )
}

pub(super) async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.recorder.call(
        Service::Runtime,
        "InitError",
        json!({"function": shared.name}),
        202,
        Some("Runtime.InitError".into()),
    );
    let pending: Vec<Pending> = shared.pending.lock().expect("poisoned").drain(..).collect();
    for p in pending {
        let _ = p.tx.send(RuntimeResult::InitError { body: body.to_vec() });
    }
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// The Runtime API's routes, over one environment's shared state.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}
