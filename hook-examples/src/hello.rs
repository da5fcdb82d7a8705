//! The function being deployed: greets by name, as a direct invoke or behind an HTTP API.
//!
//! Given `{"name": "x"}` (or an HTTP API event with `?name=x`) it returns
//! `{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"Hello, x!\",\"version\":\"<function version>\"}"}`;
//! the name defaults to `world`.
//!
//! `HELLO_FAULT` makes a version faulty on purpose: `error` fails the invoke (a
//! FunctionError), `status500` answers `statusCode` 500, `slow` sleeps for
//! [`SLOW_SLEEP`], past any typical timeout, `flaky` fails every [`FLAKY_EVERY`]th
//! invocation of an execution environment (a few smoke checks pass, real traffic does not),
//! and `latency` answers correctly [`LATENCY_DELAY`] late: no error, no alarm on errors, only
//! the `Duration` metric tells.

use std::time::Duration;

use serde_json::{Value, json};

/// How long `HELLO_FAULT=slow` sleeps.
pub const SLOW_SLEEP: Duration = Duration::from_secs(30);

/// How much later `HELLO_FAULT=latency` answers.
pub const LATENCY_DELAY: Duration = Duration::from_millis(300);

/// `HELLO_FAULT=flaky` fails invocations number `FLAKY_EVERY`, `2 * FLAKY_EVERY`, ...
pub const FLAKY_EVERY: u64 = 10;

/// A fault chosen by `HELLO_FAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail the invoke.
    Error,
    /// Answer statusCode 500.
    Status500,
    /// Sleep past the timeout.
    Slow,
    /// Fail every [`FLAKY_EVERY`]th invocation.
    Flaky,
    /// Answer correctly, [`LATENCY_DELAY`] late.
    Latency,
}

impl Fault {
    /// Reads `HELLO_FAULT`; unset or empty means no fault.
    pub fn parse(value: Option<&str>) -> Result<Option<Fault>, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some("error") => Ok(Some(Fault::Error)),
            Some("status500") => Ok(Some(Fault::Status500)),
            Some("slow") => Ok(Some(Fault::Slow)),
            Some("flaky") => Ok(Some(Fault::Flaky)),
            Some("latency") => Ok(Some(Fault::Latency)),
            Some(other) => Err(format!(
                "HELLO_FAULT={other} is not a fault: use error, status500, slow, flaky or latency"
            )),
        }
    }
}

/// The name to greet: `name` of a direct invoke, or `?name=` of an HTTP API (v1 or v2) event.
pub fn name_of(event: &Value) -> &str {
    let from_query = event
        .get("queryStringParameters")
        .and_then(|q| q.get("name"))
        .and_then(Value::as_str);
    let direct = event.get("name").and_then(Value::as_str);
    from_query.or(direct).filter(|n| !n.is_empty()).unwrap_or("world")
}

/// The response for `event` from function version `version`.
pub fn respond(event: &Value, version: &str) -> Value {
    let body = json!({"message": format!("Hello, {}!", name_of(event)), "version": version});
    json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
}

/// The response with statusCode 500 that `HELLO_FAULT=status500` gives.
pub fn respond_500(version: &str) -> Value {
    json!({
        "statusCode": 500,
        "headers": {"content-type": "application/json"},
        "body": json!({"message": "Internal Server Error", "version": version}).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_faults() {
        assert_eq!(Fault::parse(None), Ok(None));
        assert_eq!(Fault::parse(Some("error")), Ok(Some(Fault::Error)));
        assert_eq!(Fault::parse(Some("status500")), Ok(Some(Fault::Status500)));
        assert_eq!(Fault::parse(Some("slow")), Ok(Some(Fault::Slow)));
        assert_eq!(Fault::parse(Some("flaky")), Ok(Some(Fault::Flaky)));
        assert_eq!(Fault::parse(Some("latency")), Ok(Some(Fault::Latency)));
        assert!(
            Fault::parse(Some("explode"))
                .unwrap_err()
                .contains("use error, status500, slow, flaky or latency")
        );
    }

    #[test]
    fn greets_direct_invokes() {
        let r = respond(&json!({"name": "canary"}), "2");
        assert_eq!(r["statusCode"], 200);
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"message": "Hello, canary!", "version": "2"}));
    }

    #[test]
    fn greets_http_api_events() {
        let event = json!({"version": "2.0", "rawQueryString": "name=api", "queryStringParameters": {"name": "api"}, "requestContext": {"http": {"method": "GET"}}});
        assert_eq!(name_of(&event), "api");
    }

    #[test]
    fn defaults_to_world() {
        assert_eq!(name_of(&json!({})), "world");
        assert_eq!(name_of(&json!({"queryStringParameters": null})), "world");
        assert_eq!(name_of(&json!({"name": ""})), "world");
    }
}
