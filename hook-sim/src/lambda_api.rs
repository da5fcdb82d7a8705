//! Lambda's `Invoke` API (restJson1), and invoking a function from inside as an event
//! source would.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::account::{ACCOUNT_ID, REGION};
use crate::function::{self, Behavior};
use crate::invocation::InvokeOutcome;
use crate::record::{Running, Service};
use crate::state::{SimState, apply_fault};

fn lambda_error(status: u16, error_type: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({"Type": "User", "message": message}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(error_type).unwrap_or(HeaderValue::from_static("Unknown")),
    );
    r
}

/// IAM's view of `action` on function `name` (qualified or not), with the function's tags as
/// `aws:ResourceTag/…`: `Err` with Lambda's `AccessDeniedException` when the caller's role
/// may not.
fn authorize(
    state: &SimState,
    headers: &HeaderMap,
    action: &str,
    name: &str,
    qualifier: Option<&str>,
) -> Result<(), Box<Response>> {
    let arn = format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}{}",
        qualifier.map(|q| format!(":{q}")).unwrap_or_default()
    );
    let mut request = crate::iam::Request::new(action, &arn).with("lambda:FunctionArn", vec![arn.clone()]);
    for (k, v) in state.tags_of(name) {
        request = request.with(&format!("aws:ResourceTag/{k}"), vec![v]);
    }
    state
        .authorize(headers, &request)
        .map_err(|denial| Box::new(lambda_error(403, "AccessDeniedException", &denial.to_string())))
}

/// Splits `name`, `name:qualifier`, a partial ARN or a full ARN into name and qualifier.
fn split_function(function: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => (parts[i + 1].to_string(), parts.get(i + 2).map(|q| q.to_string())),
        _ => (parts[0].to_string(), parts.get(1).map(|q| q.to_string())),
    }
}

pub(crate) async fn lambda_invoke(
    State(state): State<Arc<SimState>>,
    Path(function): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, arn_qualifier) = split_function(&function);
    let qualifier = query.get("Qualifier").cloned().or(arn_qualifier);
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let tail = headers.get("x-amz-log-type").and_then(|v| v.to_str().ok()) == Some("Tail");
    let payload: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    let request =
        json!({"FunctionName": name, "Qualifier": qualifier, "InvocationType": invocation_type, "Payload": payload});
    let record = |status: u16, error: Option<String>| {
        state
            .recorder
            .call(Service::Lambda, "Invoke", request.clone(), status, error);
    };
    if let Some((status, error_type, message)) = apply_fault(&state, "Invoke", (429, "TooManyRequestsException")).await
    {
        record(status, Some(error_type.clone()));
        return lambda_error(status, &error_type, &message);
    }
    if let Err(denied) = authorize(&state, &headers, "lambda:InvokeFunction", &name, qualifier.as_deref()) {
        record(403, Some("AccessDeniedException".into()));
        return *denied;
    }
    let resolved = state.resolve(&name, qualifier.as_deref(), None);
    let (version, behavior) = match resolved {
        Some(Some(found)) => found,
        _ => {
            let arn = format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}{}",
                qualifier.as_deref().map(|q| format!(":{q}")).unwrap_or_default()
            );
            record(404, Some("ResourceNotFoundException".into()));
            return lambda_error(404, "ResourceNotFoundException", &format!("Function not found: {arn}"));
        }
    };
    match invocation_type.as_str() {
        "DryRun" => {
            record(204, None);
            return StatusCode::NO_CONTENT.into_response();
        }
        "Event" => {
            record(202, None);
            let body = body.to_vec();
            let state = state.clone();
            tokio::spawn(async move {
                run_counted(&state, &name, qualifier.as_deref(), &behavior, &body, &version, None).await;
            });
            return StatusCode::ACCEPTED.into_response();
        }
        "RequestResponse" => {}
        other => {
            record(400, Some("InvalidParameterValueException".into()));
            return lambda_error(
                400,
                "InvalidParameterValueException",
                &format!("invalid InvocationType {other:?}"),
            );
        }
    }
    let outcome = run_counted(&state, &name, qualifier.as_deref(), &behavior, &body, &version, None).await;
    if outcome.throttled {
        record(429, Some("TooManyRequestsException".into()));
        let mut r = (StatusCode::TOO_MANY_REQUESTS, outcome.payload).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static("TooManyRequestsException"));
        return r;
    }
    record(200, outcome.function_error.clone());
    // The answer's members, as the model names them (headers and status code included).
    let mut members = json!({"StatusCode": 200, "ExecutedVersion": outcome.executed_version, "Payload": "(bytes)"});
    if let Some(kind) = &outcome.function_error {
        members["FunctionError"] = json!(kind);
    }
    if tail {
        members["LogResult"] = json!("(base64)");
    }
    let mut model_request = json!({"FunctionName": function, "InvocationType": invocation_type, "Payload": "(bytes)"});
    if let Some(q) = query.get("Qualifier") {
        model_request["Qualifier"] = json!(q);
    }
    if tail {
        model_request["LogType"] = json!("Tail");
    }
    state
        .recorder
        .exchange(Service::Lambda, "Invoke", &model_request, 200, &members);
    let mut r = (StatusCode::OK, outcome.payload).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_str(&outcome.executed_version).unwrap_or(HeaderValue::from_static("$LATEST")),
    );
    if let Some(kind) = &outcome.function_error {
        h.insert(
            "x-amz-function-error",
            HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("Unhandled")),
        );
    }
    if tail {
        let log = outcome.log.as_bytes();
        let last = &log[log.len().saturating_sub(4096)..];
        let encoded = base64::engine::general_purpose::STANDARD.encode(last);
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            h.insert("x-amz-log-result", v);
        }
    }
    r
}

/// `GetFunction`: a version's configuration (its environment) and the function's tags, as
/// Lambda answers them. The code location is a placeholder: nothing is downloadable here.
pub(crate) async fn get_function(
    State(state): State<Arc<SimState>>,
    Path(function): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (name, arn_qualifier) = split_function(&function);
    let qualifier = query.get("Qualifier").cloned().or(arn_qualifier);
    let request = json!({"FunctionName": name, "Qualifier": qualifier});
    let record = |status: u16, error: Option<String>| {
        state
            .recorder
            .call(Service::Lambda, "GetFunction", request.clone(), status, error);
    };
    if let Some((status, error_type, message)) =
        apply_fault(&state, "GetFunction", (429, "TooManyRequestsException")).await
    {
        record(status, Some(error_type.clone()));
        return lambda_error(status, &error_type, &message);
    }
    if let Err(denied) = authorize(&state, &headers, "lambda:GetFunction", &name, qualifier.as_deref()) {
        record(403, Some("AccessDeniedException".into()));
        return *denied;
    }
    let found = {
        let mut functions = state.functions.lock().expect("poisoned");
        functions.get_mut(&name).and_then(|f| {
            // An alias names its main version (GetFunction does not route).
            let version = match qualifier.as_deref() {
                Some(q) => match f.aliases.get(q) {
                    Some(routing) => routing.version.clone(),
                    None => q.to_string(),
                },
                None => "$LATEST".to_string(),
            };
            let known = version == "$LATEST" || f.versions.contains_key(&version);
            known.then(|| (version.clone(), f.environment.get(&version).cloned(), f.tags.clone()))
        })
    };
    let arn = format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}{}",
        qualifier.as_deref().map(|q| format!(":{q}")).unwrap_or_default()
    );
    let Some((version, env, tags)) = found else {
        record(404, Some("ResourceNotFoundException".into()));
        return lambda_error(404, "ResourceNotFoundException", &format!("Function not found: {arn}"));
    };
    let mut configuration = json!({
        "FunctionName": name,
        "FunctionArn": arn,
        "Version": version,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
    });
    if let Some(vars) = env.filter(|v| !v.is_empty()) {
        configuration["Environment"] = json!({"Variables": vars});
    }
    let mut body = json!({
        "Configuration": configuration,
        "Code": {"RepositoryType": "S3", "Location": "https://awslambda-us-east-1-tasks.s3.us-east-1.amazonaws.com/snapshots/hook-sim"},
    });
    if !tags.is_empty() {
        body["Tags"] = json!(tags);
    }
    record(200, None);
    state
        .recorder
        .exchange(Service::Lambda, "GetFunction", &request, 200, &body);
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// An alias as Lambda answers `GetAlias` and `UpdateAlias`.
fn alias_json(function: &str, alias: &str, routing: &function::AliasRouting) -> Value {
    let mut v = json!({
        "AliasArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}:{alias}"),
        "Name": alias,
        "FunctionVersion": routing.version,
        "RevisionId": "00000000-0000-4000-8000-000000000000",
    });
    if let Some((version, weight)) = &routing.additional {
        v["RoutingConfig"] = json!({"AdditionalVersionWeights": {version.as_str(): weight}});
    }
    v
}

/// `GetAlias` (`GET`) and `UpdateAlias` (`PUT`: `FunctionVersion`, and `RoutingConfig`'s
/// `AdditionalVersionWeights` of at most one version, 0 to 1), as Lambda answers them: how a
/// served alias is shifted by hand, as a deployment shifts it.
pub(crate) async fn alias_api(
    State(state): State<Arc<SimState>>,
    Path((function, alias)): Path<(String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, _) = split_function(&function);
    let operation = if method == axum::http::Method::PUT {
        "UpdateAlias"
    } else {
        "GetAlias"
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let record = |status: u16, error: Option<String>| {
        let mut summary = request.clone();
        summary["FunctionName"] = json!(name);
        summary["Name"] = json!(alias);
        state.recorder.call(Service::Lambda, operation, summary, status, error);
    };
    if let Some((status, error_type, message)) = apply_fault(&state, operation, (429, "TooManyRequestsException")).await
    {
        record(status, Some(error_type.clone()));
        return lambda_error(status, &error_type, &message);
    }
    // Lambda authorizes alias calls on the alias's ARN.
    if let Err(denied) = authorize(&state, &headers, &format!("lambda:{operation}"), &name, Some(&alias)) {
        record(403, Some("AccessDeniedException".into()));
        return *denied;
    }
    let invalid = |message: String| {
        record(400, Some("InvalidParameterValueException".into()));
        lambda_error(400, "InvalidParameterValueException", &message)
    };
    let answer = {
        let mut functions = state.functions.lock().expect("poisoned");
        let Some(f) = functions.get_mut(&name) else {
            drop(functions);
            record(404, Some("ResourceNotFoundException".into()));
            return lambda_error(
                404,
                "ResourceNotFoundException",
                &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
            );
        };
        let Some(current) = f.aliases.get(&alias).cloned() else {
            drop(functions);
            record(404, Some("ResourceNotFoundException".into()));
            return lambda_error(
                404,
                "ResourceNotFoundException",
                &format!("Alias not found: arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}:{alias}"),
            );
        };
        if operation == "GetAlias" {
            alias_json(&name, &alias, &current)
        } else {
            let version = request
                .get("FunctionVersion")
                .and_then(Value::as_str)
                .map_or(current.version.clone(), str::to_string);
            // No RoutingConfig: the routing stays as it is; one without weights clears it.
            let weights = request
                .get("RoutingConfig")
                .map(|rc| rc.get("AdditionalVersionWeights").and_then(Value::as_object));
            let additional = match weights {
                None => current.additional.clone(),
                Some(None) => None,
                Some(Some(m)) if m.is_empty() => None,
                Some(Some(m)) if m.len() > 1 => {
                    drop(functions);
                    return invalid("RoutingConfig may name one additional version".into());
                }
                Some(Some(m)) => {
                    let (v, w) = m.iter().next().expect("one entry");
                    let Some(w) = w.as_f64().filter(|w| (0.0..=1.0).contains(w)) else {
                        drop(functions);
                        return invalid(format!("the weight of version {v} must be between 0.0 and 1.0"));
                    };
                    Some((v.clone(), w))
                }
            };
            for v in std::iter::once(&version).chain(additional.iter().map(|(v, _)| v)) {
                if !f.versions.contains_key(v) {
                    drop(functions);
                    return invalid(format!("version {v} of {name} does not exist"));
                }
            }
            if additional.as_ref().is_some_and(|(v, _)| *v == version) {
                drop(functions);
                return invalid("the additional version is the alias's own version".into());
            }
            let routing = match &additional {
                Some((v, w)) => function::AliasRouting::weighted(&version, v, *w),
                None => function::AliasRouting::to(&version),
            };
            let answer = alias_json(&name, &alias, &routing);
            f.aliases.insert(alias.clone(), routing);
            answer
        }
    };
    record(200, None);
    let mut r = (StatusCode::OK, answer.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Invokes `function:qualifier` from inside, as an event source would: no API call is
/// recorded, the invocation is.
pub(crate) async fn invoke_internal(
    state: &SimState,
    function: &str,
    qualifier: Option<&str>,
    payload: &Value,
    running: Option<Running>,
    route_key: Option<u64>,
) -> Option<InvokeOutcome> {
    let (version, behavior) = state.resolve(function, qualifier, route_key)??;
    let body = serde_json::to_vec(payload).expect("JSON values serialize");
    Some(run_counted(state, function, qualifier, &behavior, &body, &version, running).await)
}

/// Runs a version and counts the invocation in the metrics.
pub(crate) async fn run_counted(
    state: &SimState,
    function: &str,
    qualifier: Option<&str>,
    behavior: &Behavior,
    payload: &[u8],
    version: &str,
    running: Option<Running>,
) -> InvokeOutcome {
    let running = running.unwrap_or_else(|| state.recorder.begin_invocation(function));
    let outcome = function::run_scripted(behavior, payload, version, qualifier, &request_id()).await;
    // A throttle is counted in `Throttles` only.
    state.recorder.invocation(
        &running,
        function,
        qualifier,
        &outcome.executed_version,
        (outcome.function_error.is_some(), outcome.throttled),
        outcome.duration,
    );
    outcome
}

pub(crate) fn request_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        (nanos >> 32) as u32,
        nanos as u64 & 0xffff_ffff_ffff
    )
}
