//! The function being deployed: greets by name, as a direct invoke or behind an HTTP API.
//!
//! Given `{"name": "x"}` (or an HTTP API event with `?name=x`) it returns
//! `{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"Hello, x!\",\"version\":\"<function version>\"}"}`;
//! the name defaults to `world`.

use serde_json::{Value, json};

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

#[cfg(test)]
mod tests {
    use super::*;

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
