//! Local AWS for CodeDeploy lifecycle hooks.
//!
//! [`Sim`] serves, on one loopback port, the CodeDeploy API (`GetDeployment`,
//! `GetApplicationRevision`, `PutLifecycleEventHookExecutionStatus`) and Lambda's
//! `Invoke`, written from AWS's API reference. Function versions either follow a script
//! ([`Behavior`]) or run a real `bootstrap` binary through a Lambda Runtime API of their
//! own ([`RuntimeFunction`]). Faults can be queued per operation ([`Fault`]), and every
//! call is recorded ([`Call`]) for tests to assert on.
//!
//! [`deploy`] runs whole CodeDeploy Lambda deployments on top of it ([`Sim::deploy`]): hooks
//! invoked as CodeDeploy invokes them, traffic shifted on a deployment config's schedule
//! ([`schedule`]), synthetic traffic, CloudWatch-style [`alarm`]s and rollback, on scaled time.
//!
//! Point the real AWS SDKs at it with `AWS_ENDPOINT_URL` (see [`Sim::aws_env`]).
#![warn(missing_docs)]

pub mod alarm;
mod codedeploy;
pub mod deploy;
pub mod duration;
mod fault;
mod function;
mod invocation;
mod record;
mod runtime;
pub mod schedule;
pub mod stack;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use serde_json::{Value, json};

pub use codedeploy::{DeploymentSetup, DeploymentStatus, LifecycleEventStatus, RevisionStorage, lambda_appspec};
pub use fault::Fault;
pub use function::{AliasRouting, Behavior, FunctionSetup};
pub use invocation::InvokeOutcome;
pub use record::{Call, HookStatusRecord, InvocationRecord, Service};
pub use runtime::{ProcessConfig, RuntimeFunction, peak_rss_kb};

/// The region hook-sim claims to be.
pub const REGION: &str = "us-east-1";
/// The account id in the ARNs hook-sim makes.
pub const ACCOUNT_ID: &str = "123456789012";

pub(crate) struct State_ {
    recorder: Arc<record::Recorder>,
    faults: fault::Faults,
    deployments: Mutex<HashMap<String, codedeploy::Deployment>>,
    functions: Mutex<HashMap<String, FunctionSetup>>,
    execution_counter: Mutex<u64>,
}

/// Local CodeDeploy and Lambda endpoints on a loopback port.
pub struct Sim {
    state: Arc<State_>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl State_ {
    /// The status of a lifecycle event: `InProgress`, `Succeeded` or `Failed`.
    fn execution_status(&self, deployment_id: &str, execution_id: &str) -> Option<LifecycleEventStatus> {
        let deployments = self.deployments.lock().expect("poisoned");
        Some(deployments.get(deployment_id)?.executions.get(execution_id)?.status)
    }
}

impl Sim {
    /// Starts the endpoints on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<Sim> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the endpoints on `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State_ {
            recorder: Arc::new(record::Recorder::new()),
            faults: fault::Faults::default(),
            deployments: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            execution_counter: Mutex::new(0),
        });
        let app = Router::new()
            .route("/", post(codedeploy_api))
            .route("/2015-03-31/functions/{name}/invocations", post(lambda_invoke))
            .route("/api/{function}/{qualifier}", any(http_api))
            .route("/api/{function}/{qualifier}/", any(http_api))
            .route("/api/{function}/{qualifier}/{*rest}", any(http_api))
            .fallback(unknown_route)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sim { state, addr, server })
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of an HTTP API in front of `function:qualifier` (API Gateway HTTP API,
    /// payload format 2.0): `GET {url}/health?name=x` invokes the function with an HTTP event.
    pub fn api_url(&self, function: &str, qualifier: &str) -> String {
        format!("http://{}/api/{function}/{qualifier}", self.addr)
    }

    /// The environment that points AWS SDKs here: endpoint, region and fake credentials.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint_url()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "AKIDHOOKSIM".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "hook-sim-secret".to_string()),
            ("AWS_SESSION_TOKEN", "hook-sim-session".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Adds (or replaces) a deployment.
    pub fn add_deployment(&self, setup: DeploymentSetup) {
        let create_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.state.deployments.lock().expect("poisoned").insert(
            setup.id.clone(),
            codedeploy::Deployment {
                setup,
                create_time,
                status: DeploymentStatus::InProgress,
                error: None,
                executions: HashMap::new(),
            },
        );
    }

    /// Opens a lifecycle event of a deployment (e.g. `BeforeAllowTraffic`) and returns the
    /// `LifecycleEventHookExecutionId` a hook must report with.
    ///
    /// # Panics
    /// When the deployment is unknown: add it first.
    pub fn open_lifecycle_event(&self, deployment_id: &str, lifecycle_event: &str) -> String {
        let n = {
            let mut c = self.state.execution_counter.lock().expect("poisoned");
            *c += 1;
            *c
        };
        let id = base64::engine::general_purpose::STANDARD
            .encode(json!({"deploymentId": deployment_id, "lifecycleEvent": lifecycle_event, "n": n}).to_string());
        let mut deployments = self.state.deployments.lock().expect("poisoned");
        let d = deployments
            .get_mut(deployment_id)
            .unwrap_or_else(|| panic!("deployment {deployment_id} is unknown: add_deployment first"));
        d.executions.insert(
            id.clone(),
            codedeploy::Execution {
                lifecycle_event: lifecycle_event.to_string(),
                status: LifecycleEventStatus::InProgress,
            },
        );
        id
    }

    /// Sets a deployment's status as `GetDeployment` reports it (`InProgress`, `Succeeded`,
    /// `Failed`, `Stopped`), with the `errorInformation` code and message of a failure.
    pub fn set_deployment_status(&self, deployment_id: &str, status: DeploymentStatus, error: Option<(&str, &str)>) {
        if let Some(d) = self.state.deployments.lock().expect("poisoned").get_mut(deployment_id) {
            d.status = status;
            d.error = error.map(|(c, m)| (c.to_string(), m.to_string()));
        }
    }

    /// Completes a lifecycle event that is still in progress with `status` (as CodeDeploy does
    /// when a hook stays silent too long): a later report gets
    /// `LifecycleEventAlreadyCompletedException`. Returns whether it was still in progress.
    pub fn complete_lifecycle_event(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: LifecycleEventStatus,
    ) -> bool {
        let mut deployments = self.state.deployments.lock().expect("poisoned");
        match deployments
            .get_mut(deployment_id)
            .and_then(|d| d.executions.get_mut(execution_id))
        {
            Some(e) if e.status == LifecycleEventStatus::InProgress => {
                e.status = status;
                true
            }
            _ => false,
        }
    }

    /// `GetDeployment`'s `deploymentInfo` of a deployment.
    pub fn deployment_info(&self, deployment_id: &str) -> Option<Value> {
        let deployments = self.state.deployments.lock().expect("poisoned");
        codedeploy::get_deployment(&deployments, &json!({ "deploymentId": deployment_id }))
            .ok()
            .map(|v| v["deploymentInfo"].clone())
    }

    /// Every invocation of a function so far (through `Invoke`, an HTTP API, or traffic of a
    /// deployment), as Lambda's metrics count them.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.state.recorder.invocations()
    }

    /// The lifecycle event payload CodeDeploy sends a hook.
    pub fn lifecycle_event_payload(deployment_id: &str, execution_id: &str) -> Value {
        json!({"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id})
    }

    /// Adds (or replaces) a function.
    pub fn add_function(&self, name: &str, setup: FunctionSetup) {
        self.state
            .functions
            .lock()
            .expect("poisoned")
            .insert(name.to_string(), setup);
    }

    /// Routes an alias, as CodeDeploy does when it shifts traffic: all to `routing.version`,
    /// or a share to an additional version. Fails when the function is unknown.
    pub fn route_alias(&self, function: &str, alias: &str, routing: AliasRouting) -> Result<(), String> {
        let mut functions = self.state.functions.lock().expect("poisoned");
        let f = functions
            .get_mut(function)
            .ok_or_else(|| format!("no function {function}: add it first"))?;
        f.aliases.insert(alias.to_string(), routing);
        Ok(())
    }

    /// How an alias routes now.
    pub fn alias_routing(&self, function: &str, alias: &str) -> Option<AliasRouting> {
        self.state
            .functions
            .lock()
            .expect("poisoned")
            .get(function)?
            .aliases
            .get(alias)
            .cloned()
    }

    /// Starts an execution environment for a real binary (the process starts on the first
    /// invoke). It is not registered as a function: add it with [`Behavior::Process`] to make
    /// it reachable through `Invoke`.
    pub async fn runtime(&self, config: ProcessConfig) -> std::io::Result<Arc<RuntimeFunction>> {
        RuntimeFunction::start(config, self.aws_env(), self.state.recorder.clone()).await
    }

    /// Queues `fault` for the next `times` calls of `operation` (`GetDeployment`,
    /// `PutLifecycleEventHookExecutionStatus`, `Invoke`, ...).
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.state.faults.push(operation, fault, times);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.recorder.calls()
    }

    /// The operations called so far, in order, for one service.
    pub fn operations(&self, service: Service) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.service == service)
            .map(|c| c.operation)
            .collect()
    }

    /// Every status accepted so far.
    pub fn statuses(&self) -> Vec<HookStatusRecord> {
        self.state.recorder.statuses()
    }

    /// The status of a lifecycle event: `InProgress`, `Succeeded` or `Failed`.
    pub fn lifecycle_event_status(&self, deployment_id: &str, execution_id: &str) -> Option<LifecycleEventStatus> {
        self.state.execution_status(deployment_id, execution_id)
    }

    /// Waits until a status is accepted for `execution_id`, and returns it.
    pub async fn wait_for_status(&self, execution_id: &str) -> HookStatusRecord {
        self.state
            .recorder
            .wait_until(|_, statuses| statuses.iter().find(|s| s.execution_id == execution_id).cloned())
            .await
    }

    /// Waits until `done` holds for the calls so far.
    pub async fn wait_for_calls<T>(&self, mut done: impl FnMut(&[Call]) -> Option<T>) -> T {
        self.state.recorder.wait_until(|calls, _| done(calls)).await
    }

    /// Time since the simulator started, on the clock of [`Call::at`].
    pub fn elapsed(&self) -> std::time::Duration {
        self.state.recorder.since_start()
    }
}

fn aws_json_error(status: u16, error_type: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({"__type": error_type, "message": message}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(error_type).unwrap_or(HeaderValue::from_static("Unknown")),
    );
    r
}

/// Applies a queued fault: `Some(response)` when the fault answers instead of the API.
async fn apply_fault(state: &State_, operation: &str, throttle: (u16, &str)) -> Option<(u16, String, String)> {
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

async fn codedeploy_api(State(state): State<Arc<State_>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix("CodeDeploy_20141006.") else {
        return aws_json_error(400, "UnknownOperationException", &format!("unknown target {target:?}"));
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16, error: Option<String>| {
        state
            .recorder
            .call(Service::CodeDeploy, operation, request.clone(), status, error);
    };
    if let Some((status, error_type, message)) = apply_fault(&state, operation, (400, "ThrottlingException")).await {
        record(status, Some(error_type.clone()));
        return aws_json_error(status, &error_type, &message);
    }
    let result = match operation {
        "GetDeployment" => codedeploy::get_deployment(&state.deployments.lock().expect("poisoned"), &request),
        "GetApplicationRevision" => {
            codedeploy::get_application_revision(&state.deployments.lock().expect("poisoned"), &request)
        }
        "PutLifecycleEventHookExecutionStatus" => {
            let result = codedeploy::put_status(&mut state.deployments.lock().expect("poisoned"), &request);
            result.map(|(response, (deployment_id, execution_id, status))| {
                state.recorder.status(HookStatusRecord {
                    deployment_id,
                    execution_id,
                    status,
                    at: state.recorder.since_start(),
                });
                response
            })
        }
        other => Err(codedeploy::ApiError::new(
            "UnknownOperationException",
            format!("hook-sim does not implement CodeDeploy {other}"),
        )),
    };
    match result {
        Ok(v) => {
            record(200, None);
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
            r
        }
        Err(e) => {
            record(e.status, Some(e.error_type.clone()));
            aws_json_error(e.status, &e.error_type, &e.message)
        }
    }
}

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

/// Splits `name`, `name:qualifier`, a partial ARN or a full ARN into name and qualifier.
fn split_function(function: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => (parts[i + 1].to_string(), parts.get(i + 2).map(|q| q.to_string())),
        _ => (parts[0].to_string(), parts.get(1).map(|q| q.to_string())),
    }
}

async fn lambda_invoke(
    State(state): State<Arc<State_>>,
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
    let resolved = state
        .functions
        .lock()
        .expect("poisoned")
        .get_mut(&name)
        .map(|f| f.resolve(qualifier.as_deref()));
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
                run_counted(&state, &name, qualifier.as_deref(), &behavior, &body, &version).await;
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
    let outcome = run_counted(&state, &name, qualifier.as_deref(), &behavior, &body, &version).await;
    record(200, outcome.function_error.clone());
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

/// An HTTP API (payload format 2.0) in front of a function: request → event, answer → response.
async fn http_api(
    State(state): State<Arc<State_>>,
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
    let resolved = state
        .functions
        .lock()
        .expect("poisoned")
        .get_mut(&function)
        .map(|f| f.resolve(qualifier.as_deref()));
    let record = |status: u16, error: Option<String>| {
        state.recorder.call(
            Service::HttpApi,
            "Request",
            json!({"function": function, "qualifier": qualifier, "method": method.as_str(), "path": raw_path}),
            status,
            error,
        );
    };
    let Some(Some((version, behavior))) = resolved else {
        record(404, Some("NotFound".into()));
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let payload = serde_json::to_vec(&event).expect("JSON values serialize");
    let outcome = run_counted(&state, &function, qualifier.as_deref(), &behavior, &payload, &version).await;
    if outcome.function_error.is_some() {
        record(500, outcome.function_error.clone());
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"message": "Internal Server Error"})),
        )
            .into_response();
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
    record(status, None);
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), body).into_response();
    for (k, v) in headers {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            v.as_str().map(HeaderValue::from_str),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r.headers_mut().insert(
        "x-amz-executed-version",
        HeaderValue::from_str(&version).unwrap_or(HeaderValue::from_static("$LATEST")),
    );
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

/// Invokes `function:qualifier` from inside, as an event source would: no API call is
/// recorded, the invocation is.
async fn invoke_internal(
    state: &State_,
    function: &str,
    qualifier: Option<&str>,
    payload: &Value,
) -> Option<InvokeOutcome> {
    let (version, behavior) = state
        .functions
        .lock()
        .expect("poisoned")
        .get_mut(function)?
        .resolve(qualifier)?;
    let body = serde_json::to_vec(payload).expect("JSON values serialize");
    Some(run_counted(state, function, qualifier, &behavior, &body, &version).await)
}

/// Runs a version and counts the invocation in the metrics.
async fn run_counted(
    state: &State_,
    function: &str,
    qualifier: Option<&str>,
    behavior: &Behavior,
    payload: &[u8],
    version: &str,
) -> InvokeOutcome {
    let outcome = function::run_scripted(behavior, payload, version, &request_id()).await;
    state.recorder.invocation(
        function,
        qualifier,
        &outcome.executed_version,
        outcome.function_error.is_some(),
    );
    outcome
}

fn request_id() -> String {
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

async fn unknown_route(uri: axum::http::Uri) -> Response {
    aws_json_error(404, "UnknownOperationException", &format!("hook-sim serves no {uri}"))
}
