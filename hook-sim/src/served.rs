//! The one layer every AWS API handler runs in: a queued fault answers instead of the handler,
//! and the call is recorded — once, whatever path the handler took — with the status it got and
//! the error code it said.
//!
//! A handler says what the call is ([`ApiCall`]) and how its service answers an error; its
//! error responses carry their code ([`with_error`]), and so does a Lambda answer with a
//! function error. No handler records a call or looks at the fault queue itself.

use std::future::Future;

use axum::response::Response;
use serde_json::Value;

use crate::fault::Fault;
use crate::record::Service;
use crate::state::SimState;

/// One call of an AWS API, as the recorder and the fault queue know it.
pub(crate) struct ApiCall {
    pub(crate) service: Service,
    /// The operation: what a fault is queued for and what the record names.
    pub(crate) operation: String,
    /// What the record shows of the request.
    pub(crate) request: Value,
}

/// The error code a response carries for the record.
#[derive(Debug, Clone)]
struct RecordedError(String);

/// `response`, recorded as failing with `code` (an error type, or a function error).
pub(crate) fn with_error(mut response: Response, code: &str) -> Response {
    response.extensions_mut().insert(RecordedError(code.to_string()));
    response
}

/// A service's error response: status, code, message.
pub(crate) type ErrorResponse = fn(u16, &str, &str) -> Response;

/// For an API no fault is queued for.
pub(crate) const NO_FAULTS: Option<Faults<ErrorResponse>> = None;

/// How a service answers a fault: its throttling status and code, and its error responses.
pub(crate) struct Faults<E> {
    pub(crate) throttle: (u16, &'static str),
    pub(crate) error: E,
}

/// Runs `handler` for `call`, unless a queued fault answers first; records the call.
pub(crate) async fn served<E>(
    state: &SimState,
    call: ApiCall,
    faults: Option<Faults<E>>,
    handler: impl Future<Output = Response>,
) -> Response
where
    E: FnOnce(u16, &str, &str) -> Response,
{
    let faulted = match faults {
        Some(f) => fault(state, &call.operation, f.throttle)
            .await
            .map(|(status, code, message)| with_error((f.error)(status, &code, &message), &code)),
        None => None,
    };
    let response = match faulted {
        Some(r) => r,
        None => handler.await,
    };
    let error = response.extensions().get::<RecordedError>().map(|e| e.0.clone());
    state.recorder.call(
        call.service,
        &call.operation,
        call.request,
        response.status().as_u16(),
        error,
    );
    response
}

/// Applies a queued fault: `Some((status, code, message))` when the fault answers instead of
/// the API.
async fn fault(state: &SimState, operation: &str, throttle: (u16, &str)) -> Option<(u16, String, String)> {
    match state.faults.take(operation)? {
        Fault::Throttle => Some((throttle.0, throttle.1.to_string(), "Rate exceeded".to_string())),
        Fault::Error {
            status,
            error_type,
            message,
        } => Some((status, error_type, message)),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Hang => std::future::pending().await,
    }
}
