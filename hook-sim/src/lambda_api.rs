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
use crate::fault::Caller;
use crate::function::{self, Behavior};
use crate::invocation::InvokeOutcome;
use crate::record::{Running, Service};
use crate::served::{ApiCall, ErrorResponse, Faults, served, with_error};
use crate::state::SimState;

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
    with_error(r, error_type)
}

/// How Lambda answers a queued fault.
fn lambda_faults() -> Option<Faults<ErrorResponse>> {
    Some(Faults {
        throttle: (429, "TooManyRequestsException"),
        error: lambda_error,
    })
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
    let request = crate::iam::function_request(action, &arn, &state.tags_of(name));
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
    let call = ApiCall {
        service: Service::Lambda,
        operation: "Invoke".into(),
        request: json!({"FunctionName": name, "Qualifier": qualifier, "InvocationType": invocation_type, "Payload": payload}),
    };
    let invoke = Invoke {
        function,
        name,
        qualifier,
        explicit_qualifier: query.get("Qualifier").cloned(),
        invocation_type,
        tail,
    };
    served(&state, call, lambda_faults(), invoke.run(&state, &headers, body)).await
}

/// An `Invoke` request, read.
struct Invoke {
    /// As the path gave it (a name, a partial or a full ARN).
    function: String,
    name: String,
    qualifier: Option<String>,
    /// The `Qualifier` query parameter, when given.
    explicit_qualifier: Option<String>,
    invocation_type: String,
    tail: bool,
}

impl Invoke {
    /// Authorized, resolved, then run as its invocation type says.
    async fn run(self, state: &Arc<SimState>, headers: &HeaderMap, body: Bytes) -> Response {
        let qualifier = self.qualifier.as_deref();
        if let Err(denied) = authorize(state, headers, "lambda:InvokeFunction", &self.name, qualifier) {
            return *denied;
        }
        let Some(Some((version, behavior))) = state.resolve(&self.name, qualifier, None) else {
            let arn = format!(
                "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}{}",
                self.name,
                qualifier.map(|q| format!(":{q}")).unwrap_or_default()
            );
            return lambda_error(404, "ResourceNotFoundException", &format!("Function not found: {arn}"));
        };
        match self.invocation_type.as_str() {
            "DryRun" => StatusCode::NO_CONTENT.into_response(),
            "Event" => {
                let state = state.clone();
                tokio::spawn(async move {
                    let qualifier = self.qualifier.as_deref();
                    run_counted(
                        &state,
                        &self.name,
                        qualifier,
                        &behavior,
                        &body,
                        &version,
                        Source::Client,
                    )
                    .await;
                });
                StatusCode::ACCEPTED.into_response()
            }
            "RequestResponse" => {
                let outcome =
                    run_counted(state, &self.name, qualifier, &behavior, &body, &version, Source::Client).await;
                self.answer(state, outcome)
            }
            other => lambda_error(
                400,
                "InvalidParameterValueException",
                &format!("invalid InvocationType {other:?}"),
            ),
        }
    }

    /// A synchronous invocation's answer, as Lambda gives it: the payload, the executed
    /// version, the function error and the log tail in headers; a throttle as an error.
    fn answer(&self, state: &SimState, outcome: InvokeOutcome) -> Response {
        if outcome.throttled {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, outcome.payload).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r.headers_mut()
                .insert("x-amzn-errortype", HeaderValue::from_static("TooManyRequestsException"));
            return with_error(r, "TooManyRequestsException");
        }
        self.record_exchange(state, &outcome);
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
        if self.tail {
            let log = outcome.log.as_bytes();
            let last = &log[log.len().saturating_sub(4096)..];
            let encoded = base64::engine::general_purpose::STANDARD.encode(last);
            if let Ok(v) = HeaderValue::from_str(&encoded) {
                h.insert("x-amz-log-result", v);
            }
        }
        match &outcome.function_error {
            Some(kind) => with_error(r, kind),
            None => r,
        }
    }

    /// The request and the answer's members, as the model names them (headers and status
    /// code included), for the checks against Lambda's model.
    fn record_exchange(&self, state: &SimState, outcome: &InvokeOutcome) {
        let mut members = json!({"StatusCode": 200, "ExecutedVersion": outcome.executed_version, "Payload": "(bytes)"});
        if let Some(kind) = &outcome.function_error {
            members["FunctionError"] = json!(kind);
        }
        let mut request =
            json!({"FunctionName": self.function, "InvocationType": self.invocation_type, "Payload": "(bytes)"});
        if let Some(q) = &self.explicit_qualifier {
            request["Qualifier"] = json!(q);
        }
        if self.tail {
            members["LogResult"] = json!("(base64)");
            request["LogType"] = json!("Tail");
        }
        state
            .recorder
            .exchange(Service::Lambda, "Invoke", &request, 200, &members);
    }
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
    let call = ApiCall {
        service: Service::Lambda,
        operation: "GetFunction".into(),
        request: request.clone(),
    };
    served(
        &state,
        call,
        lambda_faults(),
        get_function_answer(&state, &headers, name, qualifier, request),
    )
    .await
}

async fn get_function_answer(
    state: &SimState,
    headers: &HeaderMap,
    name: String,
    qualifier: Option<String>,
    request: Value,
) -> Response {
    if let Err(denied) = authorize(state, headers, "lambda:GetFunction", &name, qualifier.as_deref()) {
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
    let mut summary = request.clone();
    summary["FunctionName"] = json!(name);
    summary["Name"] = json!(alias);
    let call = ApiCall {
        service: Service::Lambda,
        operation: operation.into(),
        request: summary,
    };
    let answer = alias_answer(&state, &headers, operation, (name, alias), request);
    served(&state, call, lambda_faults(), answer).await
}

async fn alias_answer(
    state: &SimState,
    headers: &HeaderMap,
    operation: &str,
    (name, alias): (String, String),
    request: Value,
) -> Response {
    // Lambda authorizes alias calls on the alias's ARN.
    if let Err(denied) = authorize(state, headers, &format!("lambda:{operation}"), &name, Some(&alias)) {
        return *denied;
    }
    let invalid = |message: String| lambda_error(400, "InvalidParameterValueException", &message);
    let answer = {
        let mut functions = state.functions.lock().expect("poisoned");
        let Some(f) = functions.get_mut(&name) else {
            drop(functions);
            return lambda_error(
                404,
                "ResourceNotFoundException",
                &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
            );
        };
        let Some(current) = f.aliases.get(&alias).cloned() else {
            drop(functions);
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
    let mut r = (StatusCode::OK, answer.to_string()).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Invokes `function:qualifier` from inside, as an event source would: no API call is
/// recorded, the invocation is. The deployment's traffic routes a weighted alias by its
/// request's number.
pub(crate) async fn invoke_internal(
    state: &SimState,
    function: &str,
    qualifier: Option<&str>,
    payload: &Value,
    source: Source,
) -> Option<InvokeOutcome> {
    let route_key = match &source {
        Source::Traffic { n, .. } => Some(*n),
        Source::Client | Source::Hook { .. } => None,
    };
    let (version, behavior) = state.resolve(function, qualifier, route_key)??;
    let body = serde_json::to_vec(payload).expect("JSON values serialize");
    Some(run_counted(state, function, qualifier, &behavior, &body, &version, source).await)
}

/// Who an invocation runs for.
pub(crate) enum Source {
    /// A client: an `Invoke`, an HTTP API request, CodeDeploy invoking a hook.
    Client,
    /// CodeDeploy invoking a hook: counted as running from the moment CodeDeploy invokes it
    /// (so the clock runs at real speed from then on, not from the moment its task starts).
    Hook {
        /// The invocation, begun when CodeDeploy invoked it.
        running: Running,
    },
    /// The deployment's synthetic traffic: request `n`, counted as running from its dispatch.
    Traffic {
        /// The invocation, begun when the request was dispatched.
        running: Running,
        /// The request's number.
        n: u64,
    },
}

/// Runs a version for `source`, as a version fault in force makes it go, and counts the
/// invocation in the metrics.
pub(crate) async fn run_counted(
    state: &SimState,
    function: &str,
    qualifier: Option<&str>,
    behavior: &Behavior,
    payload: &[u8],
    version: &str,
    source: Source,
) -> InvokeOutcome {
    let (running, caller) = match source {
        Source::Client => (state.recorder.begin_invocation(function), Caller::Client),
        Source::Hook { running } => (running, Caller::Client),
        Source::Traffic { running, n } => (running, Caller::Traffic(n)),
    };
    let fault = state
        .version_faults
        .decide(function, version, qualifier, running.start, caller);
    let request_id = request_id();
    let outcome = match fault {
        Some(fault) => fault.run(behavior, payload, version, qualifier, &request_id).await,
        None => function::run_scripted(behavior, payload, version, qualifier, &request_id).await,
    };
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
