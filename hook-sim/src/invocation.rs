//! What one invocation produced, and the Lambda-style log written around it: shared by the
//! scripted functions and the Runtime API that runs real ones.

use std::time::Duration;

use serde_json::Value;

/// What an invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeOutcome {
    /// The response or error payload.
    pub payload: Vec<u8>,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// The function's log for this invocation, `START` to `REPORT`.
    pub log: String,
    /// The version that ran (or would have).
    pub executed_version: String,
    /// Lambda throttled the invoke (the concurrency limit was reached): the function did not
    /// run, and the caller gets HTTP 429 `TooManyRequestsException` with `payload` as body.
    pub throttled: bool,
    /// How long the handler ran: the `REPORT` line's `Duration` (Lambda's `Duration` metric);
    /// zero when throttled.
    pub duration: std::time::Duration,
}

impl InvokeOutcome {
    /// An unhandled function error, as Lambda answers one: `{errorType, errorMessage}`, the
    /// `Unhandled` kind, and the error line in the log.
    pub(crate) fn function_error(
        version: &str,
        request_id: &str,
        error_type: &str,
        message: &str,
        duration: Duration,
    ) -> Self {
        let body = serde_json::json!({"errorType": error_type, "errorMessage": message});
        let line = format!("ERROR Invoke Error {body}");
        InvokeOutcome {
            payload: body.to_string().into_bytes(),
            function_error: Some("Unhandled".to_string()),
            log: lambda_log(request_id, version, &line, duration, 128, 16, None),
            executed_version: version.to_string(),
            throttled: false,
            duration,
        }
    }

    /// The payload as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or(Value::Null)
    }
}

/// Writes a Lambda-style log for one invocation around `body`.
pub(crate) fn lambda_log(
    request_id: &str,
    version: &str,
    body: &str,
    duration: Duration,
    memory_mb: u32,
    max_used_mb: u64,
    init: Option<Duration>,
) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    let mut log = format!("START RequestId: {request_id} Version: {version}\n");
    log.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        log.push('\n');
    }
    log.push_str(&format!("END RequestId: {request_id}\n"));
    log.push_str(&format!(
        "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_used_mb} MB\t",
        ms.ceil().max(1.0) as u64
    ));
    if let Some(init) = init {
        log.push_str(&format!("Init Duration: {:.2} ms\t", init.as_secs_f64() * 1000.0));
    }
    log.push('\n');
    log
}
