//! Assertions: queries into an answer, judged by predicates. Pure: no I/O, no clock.

use std::time::Duration;

use serde_json::Value;

use crate::redact::{MASK, Redactor, is_credential_header};
use crate::spec::limits::{MAX_CAPTURE_BYTES, MAX_QUERY_NODES};
use crate::spec::record::AssertionResult;
use crate::spec::{
    Capture, DurationPredicate, Expect, FunctionErrorExpect, JsonPathKey, Op, Predicate, Vars, duration_text,
};

/// What one call answered, as the assertions see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observation {
    /// Whether this is an invoke (else HTTP).
    pub(crate) invoke: bool,
    /// HTTP status, or an invoke payload's `statusCode`.
    pub(crate) status: Option<i64>,
    /// The invoke's function error.
    pub(crate) function_error: Option<String>,
    /// HTTP headers, or an invoke payload's `headers`.
    pub(crate) headers: Vec<(String, String)>,
    /// The body (HTTP) or payload (invoke) as text.
    pub(crate) body: String,
    /// The body as JSON, with an API Gateway `body` string decoded.
    pub(crate) json: Option<Value>,
    /// Wall time of the call.
    pub(crate) duration: Duration,
    /// REPORT `Duration`.
    pub(crate) reported_duration: Option<Duration>,
    /// REPORT `Init Duration`.
    pub(crate) init_duration: Option<Duration>,
    /// REPORT `Max Memory Used`, MB.
    pub(crate) max_memory_mb: Option<u64>,
    /// The log tail.
    pub(crate) log: Option<String>,
}

impl Observation {
    /// The value a capture takes from this answer, or what was found instead.
    pub(crate) fn captured(&self, capture: &Capture) -> Result<String, String> {
        let value = match capture {
            Capture::Json(path) => {
                let json = self.json.as_ref().ok_or("the answer is not JSON")?;
                let v = path.path.query(json).first().ok_or("nothing")?;
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            }
            Capture::Header(name) => self.header(name).ok_or("nothing")?.to_string(),
        };
        if value.len() > MAX_CAPTURE_BYTES {
            return Err(format!("{} bytes", value.len()));
        }
        Ok(value)
    }

    /// An invoke answer: its payload is read as JSON, `statusCode` as the status, `headers`
    /// as headers, and a `body` holding a JSON string is decoded.
    pub(crate) fn from_invoke(payload: &[u8], function_error: Option<String>, duration: Duration) -> Observation {
        let body = String::from_utf8_lossy(payload).into_owned();
        let json = serde_json::from_slice::<Value>(payload).ok().map(decode_body);
        let status = json.as_ref().and_then(|j| j.get("statusCode")).and_then(Value::as_i64);
        let headers = json
            .as_ref()
            .and_then(|j| j.get("headers"))
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect()
            })
            .unwrap_or_default();
        Observation {
            invoke: true,
            status,
            function_error,
            headers,
            body,
            json,
            duration,
            ..Default::default()
        }
    }

    /// An HTTP answer.
    pub(crate) fn from_http(
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
        duration: Duration,
    ) -> Observation {
        Observation {
            invoke: false,
            status: Some(i64::from(status)),
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
            json: serde_json::from_slice(body).ok(),
            duration,
            ..Default::default()
        }
    }

    /// A header, by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes an API Gateway style `body` that holds JSON text.
pub(crate) fn decode_body(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut()
        && let Some(Value::String(text)) = obj.get("body")
        && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(text)
    {
        obj.insert("body".to_string(), parsed);
    }
    v
}

/// Judges every expectation against an observation, in the order of the spec's keys.
///
/// What an assertion shows of the answer and of the expectation is redacted with `redactor`
/// before it is cut to a readable length, so that no piece of a secret is left at the cut.
pub(crate) fn evaluate(expect: &Expect, obs: &Observation, vars: &Vars, redactor: &Redactor) -> Vec<AssertionResult> {
    let mut out = Vec::new();
    if obs.invoke {
        out.push(function_error(expect, obs, redactor));
    }
    if let Some(p) = &expect.status {
        out.push(judge("status", p, obs.status.map(Value::from).as_ref(), vars, redactor));
    }
    for (path, p) in &expect.json {
        out.push(json_query(path, p, obs, vars, redactor));
    }
    for (name, p) in &expect.header {
        let actual = obs.header(name).map(|v| Value::String(v.to_string()));
        let mut result = judge(&format!("header {name}"), p, actual.as_ref(), vars, redactor);
        if is_credential_header(name) && actual.is_some() {
            // A cookie or token the answer carries is judged, never shown.
            result.actual = MASK.to_string();
        }
        out.push(result);
    }
    if let Some(p) = &expect.body {
        out.push(judge("body", p, Some(&Value::String(obs.body.clone())), vars, redactor));
    }
    for (query, p, actual) in [
        ("duration", &expect.duration, Some(obs.duration)),
        ("reported_duration", &expect.reported_duration, obs.reported_duration),
        ("init_duration", &expect.init_duration, obs.init_duration),
    ] {
        if let Some(p) = p {
            out.push(judge_duration(query, p, actual));
        }
    }
    if let Some(p) = &expect.max_memory {
        let actual = obs.max_memory_mb.map(Value::from);
        out.push(judge("max_memory", p, actual.as_ref(), vars, redactor));
    }
    if let Some(p) = &expect.log {
        let actual = obs.log.clone().map(Value::String);
        out.push(judge("log", p, actual.as_ref(), vars, redactor));
    }
    // No status expectation stated (neither `status` nor a `$.statusCode` query): an HTTP
    // answer, and an invoke payload that carries an HTTP-style statusCode, must be 2xx.
    if expect.status.is_none() && !states_status_code(expect) && (!obs.invoke || obs.status.is_some()) {
        out.push(AssertionResult {
            query: "status".into(),
            expected: "2xx (the default when no status is expected)".into(),
            actual: obs.status.map_or_else(|| "nothing".to_string(), |s| s.to_string()),
            passed: obs.status.is_some_and(|s| (200..300).contains(&s)),
        });
    }
    out
}

/// An invoke's function error against what the spec expects (none, by default).
fn function_error(expect: &Expect, obs: &Observation, redactor: &Redactor) -> AssertionResult {
    let wanted = expect.function_error.unwrap_or(FunctionErrorExpect::None);
    let actual = obs.function_error.as_deref();
    let (passed, expected) = match wanted {
        FunctionErrorExpect::None => (actual.is_none(), "none"),
        FunctionErrorExpect::Any => (actual.is_some(), "any"),
        FunctionErrorExpect::Unhandled => (actual == Some("Unhandled"), "Unhandled"),
        FunctionErrorExpect::Handled => (actual == Some("Handled"), "Handled"),
    };
    let actual = match actual {
        None => "none".to_string(),
        Some(kind) => format!("{kind}: {}", redactor.clip(&obs.body, MAX_SHOWN)),
    };
    AssertionResult {
        query: "function_error".into(),
        expected: expected.to_string(),
        actual,
        passed,
    }
}

/// A JSONPath query of the answer against its predicate.
fn json_query(
    path: &JsonPathKey,
    p: &Predicate,
    obs: &Observation,
    vars: &Vars,
    redactor: &Redactor,
) -> AssertionResult {
    let query = format!("json {}", path.source);
    let Some(json) = &obs.json else {
        return AssertionResult {
            query,
            expected: p.to_string(),
            actual: format!("the answer is not JSON: {}", redactor.clip(&obs.body, MAX_SHOWN)),
            passed: false,
        };
    };
    match query_json(&path.path, json) {
        Ok(actual) => judge(&query, p, actual.as_ref(), vars, redactor),
        Err(e) => AssertionResult {
            query,
            expected: p.to_string(),
            actual: e,
            passed: false,
        },
    }
}

/// Whether the expectations query the payload's `statusCode` themselves.
fn states_status_code(expect: &Expect) -> bool {
    expect.json.keys().any(|k| {
        matches!(
            k.source.replace(' ', "").as_str(),
            "$.statusCode" | "$['statusCode']" | "$[\"statusCode\"]"
        )
    })
}

/// What a JSONPath finds: nothing, one value, or an array of every match. `Err` when the
/// matches hold more than [`MAX_QUERY_NODES`] values in all: the query is not copied then.
pub(crate) fn query_json(path: &serde_json_path::JsonPath, json: &Value) -> Result<Option<Value>, String> {
    let found = path.query(json).all();
    let mut budget = MAX_QUERY_NODES;
    for v in &found {
        if !take_nodes(v, &mut budget) {
            return Err(format!(
                "the query matched more than {MAX_QUERY_NODES} values (counting everything inside the \
                 matches): make it more specific"
            ));
        }
    }
    Ok(match found.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    })
}

/// Takes the nodes of `v` from `budget`; false when it runs out.
fn take_nodes(v: &Value, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match v {
        Value::Array(items) => items.iter().all(|i| take_nodes(i, budget)),
        Value::Object(m) => m.values().all(|i| take_nodes(i, budget)),
        _ => true,
    }
}

fn judge(query: &str, p: &Predicate, actual: Option<&Value>, vars: &Vars, redactor: &Redactor) -> AssertionResult {
    let clip = |s: &str| redactor.clip(s, MAX_SHOWN);
    let (passed, expected) = match holds(p, actual, vars) {
        Ok(passed) => (passed, clip(&render_expected(p, vars))),
        Err(e) => (false, clip(&format!("{p} ({e})"))),
    };
    AssertionResult {
        query: query.to_string(),
        expected,
        actual: actual.map_or_else(|| "nothing".to_string(), |v| clip(&v.to_string())),
        passed,
    }
}

fn judge_duration(query: &str, p: &DurationPredicate, actual: Option<Duration>) -> AssertionResult {
    AssertionResult {
        query: query.to_string(),
        expected: p.to_string(),
        actual: actual.map_or_else(|| "nothing".to_string(), duration_text),
        passed: actual.is_some_and(|d| p.holds(d)),
    }
}

fn render_expected(p: &Predicate, vars: &Vars) -> String {
    let ops: Vec<Op> = p
        .ops
        .iter()
        .map(|op| render_op(op, vars).unwrap_or_else(|_| op.clone()))
        .collect();
    Predicate { ops }.to_string()
}

/// Characters an assertion shows of an answer or an expectation.
const MAX_SHOWN: usize = 300;

fn render_op(op: &Op, vars: &Vars) -> Result<Op, String> {
    let r = |v: &Value| vars.render_json(v).map_err(|e| e.to_string());
    let rs = |s: &String| vars.render(s).map_err(|e| e.to_string());
    Ok(match op {
        Op::Eq(v) => Op::Eq(r(v)?),
        Op::Ne(v) => Op::Ne(r(v)?),
        Op::Contains(v) => Op::Contains(r(v)?),
        Op::StartsWith(s) => Op::StartsWith(rs(s)?),
        Op::EndsWith(s) => Op::EndsWith(rs(s)?),
        // All items under one budget: a list of large variables is one large expectation.
        Op::In(items) => match r(&Value::Array(items.clone()))? {
            Value::Array(rendered) => Op::In(rendered),
            other => Op::In(vec![other]),
        },
        other => other.clone(),
    })
}

/// Whether `actual` (None: nothing found) satisfies `p`; `Err` when the expected values'
/// variables cannot be filled in.
pub(crate) fn holds(p: &Predicate, actual: Option<&Value>, vars: &Vars) -> Result<bool, String> {
    for op in &p.ops {
        let op = render_op(op, vars)?;
        if !op_holds(&op, actual, vars)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn op_holds(op: &Op, actual: Option<&Value>, vars: &Vars) -> Result<bool, String> {
    if let Op::Exists(want) = op {
        return Ok(actual.is_some() == *want);
    }
    if let Op::Not(inner) = op {
        // A negation says nothing about a value that is not there: `not: 500` must not pass
        // for an answer with no status at all. `exists: false` expects nothing.
        if actual.is_none() {
            return Ok(false);
        }
        return holds(inner, actual, vars).map(|b| !b);
    }
    let Some(a) = actual else { return Ok(false) };
    Ok(match op {
        Op::Eq(e) => equal(a, e),
        Op::Ne(e) => !equal(a, e),
        Op::Lt(e) => order(a, e).is_some_and(|o| o.is_lt()),
        Op::Le(e) => order(a, e).is_some_and(|o| o.is_le()),
        Op::Gt(e) => order(a, e).is_some_and(|o| o.is_gt()),
        Op::Ge(e) => order(a, e).is_some_and(|o| o.is_ge()),
        Op::Contains(e) => match a {
            Value::String(s) => e.as_str().is_some_and(|e| s.contains(e)),
            Value::Array(items) => items.iter().any(|i| equal(i, e)),
            Value::Object(m) => e.as_str().is_some_and(|k| m.contains_key(k)),
            _ => false,
        },
        Op::StartsWith(e) => a.as_str().is_some_and(|s| s.starts_with(e.as_str())),
        Op::EndsWith(e) => a.as_str().is_some_and(|s| s.ends_with(e.as_str())),
        Op::Matches(re) => a.as_str().is_some_and(|s| re.is_match(s)),
        Op::Type(t) => match t.as_str() {
            "string" => a.is_string(),
            "number" => a.is_number(),
            "integer" => a.as_i64().is_some() || a.as_u64().is_some() || a.as_f64().is_some_and(|f| f.fract() == 0.0),
            "boolean" => a.is_boolean(),
            "array" => a.is_array(),
            "object" => a.is_object(),
            "null" => a.is_null(),
            _ => false,
        },
        Op::Count(inner) => {
            let n = match a {
                Value::String(s) => s.chars().count(),
                Value::Array(items) => items.len(),
                Value::Object(m) => m.len(),
                _ => return Ok(false),
            };
            holds(inner, Some(&Value::from(n)), vars)?
        }
        Op::In(items) => items.iter().any(|i| equal(a, i)),
        Op::Exists(_) | Op::Not(_) => unreachable!("handled above"),
    })
}

/// JSON equality where numbers compare by value (200 == 200.0).
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load;
    use serde_json::json;

    fn p(v: Value) -> Predicate {
        Predicate::from_value(v).unwrap()
    }

    fn ok(pred: Value, actual: Option<Value>) -> bool {
        holds(&p(pred), actual.as_ref(), &Vars::default()).unwrap()
    }

    #[test]
    fn equality_and_inequality() {
        assert!(ok(json!(200), Some(json!(200))));
        assert!(ok(json!(200), Some(json!(200.0))));
        assert!(!ok(json!(200), Some(json!(500))));
        assert!(ok(json!({"!=": "x"}), Some(json!("y"))));
        assert!(!ok(json!({"!=": "x"}), Some(json!("x"))));
        assert!(ok(json!({"==": {"a": [1]}}), Some(json!({"a": [1.0]}))));
        assert!(!ok(json!(1), None));
    }

    #[test]
    fn ordering() {
        assert!(ok(json!({"<": 10}), Some(json!(9))));
        assert!(!ok(json!({"<": 10}), Some(json!(10))));
        assert!(ok(json!({"<=": 10}), Some(json!(10))));
        assert!(ok(json!({">": 1.5}), Some(json!(2))));
        assert!(ok(json!({">=": 2}), Some(json!(2))));
        assert!(ok(json!({">=": "b"}), Some(json!("c"))));
        assert!(!ok(json!({">": 1}), Some(json!("2"))), "a string is not a number");
        assert!(ok(json!({">=": 1, "<": 3}), Some(json!(2))));
        assert!(!ok(json!({">=": 1, "<": 3}), Some(json!(3))));
    }

    #[test]
    fn strings_and_collections() {
        assert!(ok(json!({"contains": "ell"}), Some(json!("hello"))));
        assert!(ok(json!({"contains": 2}), Some(json!([1, 2]))));
        assert!(ok(json!({"contains": "k"}), Some(json!({"k": 1}))));
        assert!(!ok(json!({"contains": "z"}), Some(json!("hello"))));
        assert!(ok(json!({"starts_with": "he"}), Some(json!("hello"))));
        assert!(ok(json!({"ends_with": "lo"}), Some(json!("hello"))));
        assert!(ok(json!({"matches": "^Hello, \\w+!$"}), Some(json!("Hello, canary!"))));
        assert!(!ok(json!({"matches": "^Hello"}), Some(json!(5))));
        assert!(ok(json!({"in": [200, 204]}), Some(json!(204))));
        assert!(!ok(json!({"in": [200, 204]}), Some(json!(500))));
    }

    #[test]
    fn existence_types_count_and_negation() {
        assert!(ok(json!({"exists": true}), Some(json!(null))));
        assert!(ok(json!({"exists": false}), None));
        assert!(!ok(json!({"exists": false}), Some(json!(1))));
        for (t, v) in [
            ("string", json!("s")),
            ("number", json!(1.5)),
            ("integer", json!(3)),
            ("boolean", json!(true)),
            ("array", json!([])),
            ("object", json!({})),
            ("null", json!(null)),
        ] {
            assert!(ok(json!({"type": t}), Some(v.clone())), "{t}");
            assert!(
                !ok(json!({"type": t}), Some(json!("other-type-probe"))) || t == "string",
                "{t}"
            );
        }
        assert!(!ok(json!({"type": "integer"}), Some(json!(1.5))));
        assert!(ok(json!({"count": 3}), Some(json!([1, 2, 3]))));
        assert!(ok(json!({"count": {">": 2}}), Some(json!("abc"))));
        assert!(ok(json!({"not": {"contains": "error"}}), Some(json!("all good"))));
        assert!(!ok(json!({"not": {"contains": "error"}}), Some(json!("an error"))));
        // A negation over nothing fails: `exists: false` is how to expect nothing.
        assert!(!ok(json!({"not": {"exists": true}}), None));
        assert!(!ok(json!({"not": 500}), None));
        assert!(!ok(json!({"!=": 500}), None));
        assert!(ok(json!({"not": 500}), Some(json!(200))));
    }

    #[test]
    fn expected_values_take_variables() {
        let mut vars = Vars::default();
        vars.set("target.version", "2");
        assert!(holds(&p(json!("v{{target.version}}")), Some(&json!("v2")), &vars).unwrap());
        let e = holds(&p(json!("{{nope}}")), Some(&json!("x")), &vars).unwrap_err();
        assert!(e.contains("unknown variable {{nope}}"), "{e}");
    }

    #[test]
    fn api_gateway_body_is_decoded() {
        let obs = Observation::from_invoke(
            br#"{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"Hello, canary!\"}"}"#,
            None,
            Duration::from_millis(5),
        );
        assert_eq!(obs.status, Some(200));
        assert_eq!(obs.header("Content-Type"), Some("application/json"));
        assert_eq!(obs.json.as_ref().unwrap()["body"]["message"], "Hello, canary!");
        let plain = decode_body(json!({"body": "just text"}));
        assert_eq!(plain["body"], "just text");
    }

    fn expect(yaml: &str) -> Expect {
        let text = format!("version: 1\nchecks:\n  - name: c\n    invoke: {{}}\n    expect:\n{yaml}");
        load(&text, "t.yaml").unwrap().checks[0].expect.clone()
    }

    #[test]
    fn evaluates_every_query() {
        let e = expect(
            "      function_error: none\n      status: 200\n      json:\n        $.body.message: { matches: \"^Hello\" }\n        $.missing: { exists: false }\n      header: { content-type: { contains: json } }\n      body: { contains: Hello }\n      duration: \"< 1s\"\n      reported_duration: { under: 10ms }\n      init_duration: { under: 100ms }\n      max_memory: { \"<\": 64 }\n      log: { contains: START }\n",
        );
        let mut obs = Observation::from_invoke(
            br#"{"statusCode":200,"headers":{"content-type":"application/json"},"body":"{\"message\":\"Hello, canary!\"}"}"#,
            None,
            Duration::from_millis(50),
        );
        obs.reported_duration = Some(Duration::from_millis(2));
        obs.init_duration = Some(Duration::from_millis(20));
        obs.max_memory_mb = Some(20);
        obs.log = Some("START RequestId: x".into());
        let results = evaluate(&e, &obs, &Vars::default(), &Redactor::new());
        let queries: Vec<&str> = results.iter().map(|r| r.query.as_str()).collect();
        assert_eq!(
            queries,
            [
                "function_error",
                "status",
                "json $.body.message",
                "json $.missing",
                "header content-type",
                "body",
                "duration",
                "reported_duration",
                "init_duration",
                "max_memory",
                "log"
            ]
        );
        assert!(results.iter().all(|r| r.passed), "{results:#?}");

        obs.function_error = Some("Unhandled".into());
        obs.init_duration = None;
        obs.status = Some(500);
        let results = evaluate(&e, &obs, &Vars::default(), &Redactor::new());
        let failed: Vec<&AssertionResult> = results.iter().filter(|r| !r.passed).collect();
        assert_eq!(failed.len(), 3, "{failed:#?}");
        assert_eq!(failed[0].query, "function_error");
        assert!(failed[0].actual.starts_with("Unhandled: "));
        assert_eq!(failed[1].expected, "== 200");
        assert_eq!(failed[1].actual, "500");
        assert_eq!(failed[2].query, "init_duration");
        assert_eq!(failed[2].actual, "nothing");
    }

    #[test]
    fn invoke_checks_fail_on_function_errors_by_default() {
        let e = Expect::default();
        let obs = Observation::from_invoke(b"{\"errorMessage\":\"boom\"}", Some("Unhandled".into()), Duration::ZERO);
        let r = evaluate(&e, &obs, &Vars::default(), &Redactor::new());
        assert_eq!(r.len(), 1);
        assert!(!r[0].passed);
        assert_eq!(r[0].expected, "none");
    }

    #[test]
    fn non_json_answer_fails_json_queries() {
        let e = expect("      json: { $.x: 1 }\n");
        let obs = Observation::from_http(200, vec![], b"<html>", Duration::ZERO);
        let r = evaluate(&e, &obs, &Vars::default(), &Redactor::new());
        assert!(!r[0].passed);
        assert!(r[0].actual.starts_with("the answer is not JSON"));
        assert_eq!((r[1].query.as_str(), r[1].passed), ("status", true));
    }

    #[test]
    fn a_check_without_expectations_still_wants_a_2xx() {
        let none = Expect::default();
        let http = |status| {
            evaluate(
                &none,
                &Observation::from_http(status, vec![], b"", Duration::ZERO),
                &Vars::default(),
                &Redactor::new(),
            )
        };
        let r = http(503);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].expected, "2xx (the default when no status is expected)");
        assert_eq!(r[0].query, "status");
        assert!(!r[0].passed);
        assert_eq!(r[0].actual, "503");
        assert!(http(204)[0].passed);
        assert!(!http(302)[0].passed, "a redirect is not a success");

        let invoke = |payload: &[u8]| {
            evaluate(
                &none,
                &Observation::from_invoke(payload, None, Duration::ZERO),
                &Vars::default(),
                &Redactor::new(),
            )
        };
        let r = invoke(br#"{"statusCode":500}"#);
        assert_eq!(r.iter().filter(|a| !a.passed).count(), 1, "{r:#?}");
        assert_eq!(r[1].query, "status");
        assert_eq!(r[1].actual, "500");
        // A payload with no statusCode is no HTTP-style answer: no status default.
        let r = invoke(br#"{"ok":true}"#);
        assert_eq!(r.len(), 1);
        assert!(r[0].passed);
        // A stated expectation replaces the default.
        let e = expect("      status: 503\n");
        assert!(
            evaluate(
                &e,
                &Observation::from_invoke(br#"{"statusCode":503}"#, None, Duration::ZERO),
                &Vars::default(),
                &Redactor::new(),
            )
            .iter()
            .all(|a| a.passed)
        );
    }

    #[test]
    fn credential_headers_of_answers_are_judged_but_not_shown() {
        let e = expect("      header: { set-cookie: { contains: nope }, content-type: { contains: nope } }\n");
        let obs = Observation::from_http(
            200,
            vec![
                ("Set-Cookie".into(), "session=abc123".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            b"",
            Duration::ZERO,
        );
        let r = evaluate(&e, &obs, &Vars::default(), &Redactor::new());
        assert_eq!((r[0].actual.as_str(), r[0].passed), ("***", false));
        assert_eq!(r[1].actual, "\"text/plain\"");
    }

    #[test]
    fn negations_fail_when_nothing_is_there() {
        let e = expect("      status: { not: 500 }\n");
        let r = evaluate(
            &e,
            &Observation::from_invoke(br#"{"ok":true}"#, None, Duration::ZERO),
            &Vars::default(),
            &Redactor::new(),
        );
        assert!(!r[1].passed, "{r:#?}");
        assert_eq!(r[1].actual, "nothing");
    }

    #[test]
    fn large_query_results_fail_instead_of_being_copied() {
        // 120 levels, each with a `message` holding the rest: `$..message` would copy
        // the document once per level.
        let mut doc = json!({"message": "leaf"});
        for _ in 0..120 {
            doc = json!({"message": doc, "pad": (0..50).collect::<Vec<_>>()});
        }
        let path = serde_json_path::JsonPath::parse("$..message").unwrap();
        let e = query_json(&path, &doc).unwrap_err();
        assert!(e.contains("more than 10000 values"), "{e}");
        let one = serde_json_path::JsonPath::parse("$.pad[0]").unwrap();
        assert_eq!(query_json(&one, &doc).unwrap(), Some(json!(0)));
    }
}
