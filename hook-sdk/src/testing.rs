//! Unit-testing hooks: an in-process fake of CodeDeploy and Lambda (feature `testing`).
//!
//! [`FakeAws`] serves a deployment of the targets you name and answers invokes of their
//! versions with functions you give. Run a whole [`Hook`] on a lifecycle event and see the
//! status it reported and every call it made, or get a [`HookContext`] to call one handler:
//!
//! ```
//! use hook_sdk::prelude::*;
//! use hook_sdk::testing::{Answer, FakeAws};
//! use serde_json::json;
//!
//! async fn smoke(ctx: HookContext) -> Result<(), CheckError> {
//!     for target in ctx.targets() {
//!         let out = target.invoke_json(&json!({"name": "canary"})).await?;
//!         out.expect_no_function_error()?;
//!         let body = out.api_body()?;
//!         ensure!(body["message"] == "Hello, canary!", "{target} said {}", body["message"]);
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let aws = FakeAws::new()
//!     .target("hello-fn", "live", "1", "2")
//!     .version("hello-fn", "2", |event| {
//!         Answer::api(200, json!({"message": format!("Hello, {}!", event["name"].as_str().unwrap_or("world"))}))
//!     });
//! let run = aws.run(Hook::new().before_allow_traffic(smoke), Phase::BeforeAllowTraffic).await;
//! assert_eq!(run.status(), Some(hook_sdk::HookStatus::Succeeded), "{:?}", run.reason());
//! assert_eq!(aws.invokes(), [("hello-fn".to_string(), "2".to_string())]);
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use base64::Engine as _;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

use crate::Deployment;
use crate::deployment::DiscoverySettings;
use crate::event::{LifecycleEvent, Phase};
use crate::hook::{Clients, Hook, HookContext, HookError, HookResponse};
use crate::status::HookStatus;
use crate::target::Target;

/// What a fake function version answers to one invoke.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// A JSON payload.
    Json(Value),
    /// An unhandled function error (`X-Amz-Function-Error: Unhandled`).
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
}

impl Answer {
    /// A JSON payload.
    pub fn json(value: Value) -> Answer {
        Answer::Json(value)
    }

    /// An API Gateway style answer: `statusCode`, a JSON content type, and `body` as JSON text.
    pub fn api(status: u16, body: Value) -> Answer {
        Answer::Json(json!({
            "statusCode": status,
            "headers": {"content-type": "application/json"},
            "body": body.to_string(),
        }))
    }

    /// An unhandled function error.
    pub fn error(error_type: &str, message: &str) -> Answer {
        Answer::Error {
            error_type: error_type.to_string(),
            message: message.to_string(),
        }
    }
}

/// A call the hook made to the fake.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FakeCall {
    /// `GetDeployment`.
    GetDeployment {
        /// The deployment asked for.
        deployment_id: String,
    },
    /// `Invoke`.
    Invoke {
        /// The function name as given.
        function: String,
        /// The qualifier as given (`None`: unqualified).
        qualifier: Option<String>,
        /// The version that ran, when one did.
        executed_version: Option<String>,
        /// The payload, as JSON (`Null` when it was not JSON).
        payload: Value,
    },
    /// `PutLifecycleEventHookExecutionStatus`.
    PutStatus {
        /// The lifecycle event hook execution reported.
        execution_id: String,
        /// The status reported.
        status: HookStatus,
    },
}

type Responder = Arc<dyn Fn(&Value) -> Answer + Send + Sync>;

/// An in-process CodeDeploy and Lambda for one deployment: its targets, what each version
/// answers, and a record of every call.
#[derive(Clone)]
pub struct FakeAws {
    deployment_id: String,
    targets: Vec<Target>,
    versions: HashMap<(String, String), Responder>,
    calls: Arc<Mutex<Vec<FakeCall>>>,
}

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAws")
            .field("deployment_id", &self.deployment_id)
            .field("targets", &self.targets)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl Default for FakeAws {
    fn default() -> Self {
        Self::new()
    }
}

/// The hook's own function name in the fake AppSpec, per phase.
const HOOK_BEFORE: &str = "CodeDeployHook_under-test-before";
const HOOK_AFTER: &str = "CodeDeployHook_under-test-after";
const EXECUTION_ID: &str = "fake-execution-1";

impl FakeAws {
    /// A deployment `d-FAKE0001` with no target yet.
    pub fn new() -> Self {
        FakeAws {
            deployment_id: "d-FAKE0001".to_string(),
            targets: Vec::new(),
            versions: HashMap::new(),
            calls: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A function the deployment shifts `alias` of, from version `current` to `target`.
    /// Until a version is given answers with [`version`](Self::version), invoking it fails
    /// with `ResourceNotFoundException`.
    pub fn target(mut self, function: &str, alias: &str, current: &str, target: &str) -> Self {
        self.targets.push(Target {
            logical_id: function.to_string(),
            function: function.to_string(),
            alias: Some(alias.to_string()),
            current_version: Some(current.to_string()),
            target_version: target.to_string(),
        });
        self
    }

    /// What `function:version` answers (`function` by name or ARN): `answer` gets each
    /// invoke's payload (JSON, or `Null`).
    pub fn version(
        mut self,
        function: &str,
        version: &str,
        answer: impl Fn(&Value) -> Answer + Send + Sync + 'static,
    ) -> Self {
        // A name, a partial or a full ARN: the function's name keys it, as Lambda resolves them.
        let name = crate::appspec::function_name_of(function).to_string();
        self.versions.insert((name, version.to_string()), Arc::new(answer));
        self
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.calls.lock().expect("fake calls poisoned").clone()
    }

    /// The `(function, qualifier)` of every invoke made so far.
    pub fn invokes(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                FakeCall::Invoke {
                    function, qualifier, ..
                } => Some((function, qualifier.unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    /// The deployment as discovery would find it in `phase`.
    pub fn deployment(&self, phase: Phase) -> Deployment {
        Deployment {
            id: self.deployment_id.clone(),
            application: Some("fake-app".to_string()),
            deployment_group: Some("fake-group".to_string()),
            config_name: Some("CodeDeployDefault.LambdaAllAtOnce".to_string()),
            phase,
            targets: self.targets.clone(),
        }
    }

    /// A context for calling one handler directly in `phase`, with a minute to run.
    pub fn context(&self, phase: Phase) -> HookContext {
        let event = LifecycleEvent {
            deployment_id: self.deployment_id.clone(),
            execution_id: EXECUTION_ID.to_string(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        HookContext::assemble(
            event,
            self.deployment(phase),
            &self.clients(phase),
            deadline,
            lambda_runtime::Context::default(),
        )
        .0
    }

    /// Runs a whole hook on the deployment's lifecycle event of `phase`, as Lambda would with a
    /// minute to go: discovery, its spec and handler, the status report.
    pub async fn run(&self, hook: Hook, phase: Phase) -> HookRun {
        let before = self.calls().len();
        let settings = DiscoverySettings {
            function_name: match phase {
                Phase::BeforeAllowTraffic => HOOK_BEFORE,
                Phase::AfterAllowTraffic => HOOK_AFTER,
            }
            .to_string(),
            ..Default::default()
        };
        let mut context = lambda_runtime::Context::default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        context.deadline = now_ms + 60_000;
        let event = LambdaEvent::new(
            json!({"DeploymentId": self.deployment_id, "LifecycleEventHookExecutionId": EXECUTION_ID}),
            context,
        );
        let mut service = hook.into_service(self.clients(phase), Ok(settings));
        let response = tower::Service::call(&mut service, event).await;
        HookRun {
            response,
            calls: self.calls()[before..].to_vec(),
        }
    }

    /// Clients that talk to this fake in `phase` (the alias routes to the current version
    /// before traffic is allowed, to the target version after).
    pub fn clients(&self, phase: Phase) -> Clients {
        let codedeploy = self.codedeploy();
        Clients {
            status: codedeploy.clone(),
            codedeploy,
            lambda: self.lambda(phase),
            #[cfg(feature = "checks")]
            http: None,
            #[cfg(feature = "metrics")]
            cloudwatch: None,
            sdk_config: None,
        }
    }

    fn appspec(&self) -> String {
        let resources: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                json!({ t.logical_id.clone(): {"Type": "AWS::Lambda::Function", "Properties": {
                    "Name": t.function, "Alias": t.alias, "CurrentVersion": t.current_version,
                    "TargetVersion": t.target_version}}})
            })
            .collect();
        json!({"version": 0.0, "Resources": resources,
               "Hooks": [{"BeforeAllowTraffic": HOOK_BEFORE}, {"AfterAllowTraffic": HOOK_AFTER}]})
        .to_string()
    }

    fn codedeploy(&self) -> aws_sdk_codedeploy::Client {
        let config = aws_sdk_codedeploy::Config::builder()
            .behavior_version(aws_sdk_codedeploy::config::BehaviorVersion::latest())
            .region(aws_sdk_codedeploy::config::Region::new(REGION))
            .credentials_provider(credentials())
            .retry_config(aws_sdk_codedeploy::config::retry::RetryConfig::disabled())
            .http_client(self.http(Phase::BeforeAllowTraffic))
            .build();
        aws_sdk_codedeploy::Client::from_conf(config)
    }

    fn lambda(&self, phase: Phase) -> aws_sdk_lambda::Client {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new(REGION))
            .credentials_provider(credentials())
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .http_client(self.http(phase))
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }

    fn http(&self, phase: Phase) -> SharedHttpClient {
        SharedHttpClient::new(Wire {
            fake: Arc::new(self.clone()),
            phase,
        })
    }

    /// Answers one request as CodeDeploy (AWS JSON 1.1) or Lambda (REST-JSON) would.
    fn answer(&self, phase: Phase, request: &HttpRequest) -> Answered {
        let body = request.body().bytes().unwrap_or_default();
        if let Some(target) = request.headers().get("x-amz-target") {
            let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            return match target.strip_prefix("CodeDeploy_20141006.") {
                Some("GetDeployment") => self.get_deployment(&input),
                Some("PutLifecycleEventHookExecutionStatus") => self.put_status(&input),
                _ => Answered::error(400, "UnknownOperationException", &unsupported(target)),
            };
        }
        let uri = request.uri();
        let after_host = uri.split_once("://").map_or(uri, |(_, rest)| rest);
        let path_and_query = &after_host[after_host.find('/').unwrap_or(after_host.len())..];
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let invoked = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/invocations"));
        match invoked {
            Some(function) if request.method() == "POST" => {
                let qualifier = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("Qualifier="))
                    .map(decode);
                self.invoke(phase, &decode(function), qualifier, body)
            }
            _ => Answered::error(
                400,
                "InvalidRequestContentException",
                &unsupported(&format!("{} {path}", request.method())),
            ),
        }
    }

    fn record(&self, call: FakeCall) {
        self.calls.lock().expect("fake calls poisoned").push(call);
    }

    fn get_deployment(&self, input: &Value) -> Answered {
        let asked = input["deploymentId"].as_str().unwrap_or_default().to_string();
        self.record(FakeCall::GetDeployment {
            deployment_id: asked.clone(),
        });
        if asked != self.deployment_id {
            return Answered::error(
                400,
                "DeploymentDoesNotExistException",
                &format!(
                    "The deployment {asked} could not be found (the fake serves {})",
                    self.deployment_id
                ),
            );
        }
        Answered::json(json!({"deploymentInfo": {
            "deploymentId": self.deployment_id,
            "applicationName": "fake-app",
            "deploymentGroupName": "fake-group",
            "deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
            "computePlatform": "Lambda",
            "status": "InProgress",
            "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": self.appspec()}},
        }}))
    }

    fn put_status(&self, input: &Value) -> Answered {
        let execution_id = input["lifecycleEventHookExecutionId"].as_str().unwrap_or_default();
        let status = match input["status"].as_str() {
            Some("Succeeded") => HookStatus::Succeeded,
            _ => HookStatus::Failed,
        };
        self.record(FakeCall::PutStatus {
            execution_id: execution_id.to_string(),
            status,
        });
        Answered::json(json!({"lifecycleEventHookExecutionId": execution_id}))
    }

    fn invoke(&self, phase: Phase, function: &str, qualifier: Option<String>, body: &[u8]) -> Answered {
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        // An alias resolves as CodeDeploy has set it in this phase.
        let name = crate::appspec::function_name_of(function).to_string();
        let version = qualifier.as_ref().map(|q| {
            self.targets
                .iter()
                .find(|t| {
                    crate::appspec::function_name_of(&t.function) == name && t.alias.as_deref() == Some(q.as_str())
                })
                .map_or(q.clone(), |t| match phase {
                    Phase::BeforeAllowTraffic => t.current_version.clone().unwrap_or_default(),
                    Phase::AfterAllowTraffic => t.target_version.clone(),
                })
        });
        let responder = version
            .as_ref()
            .and_then(|v| self.versions.get(&(name.clone(), v.clone())));
        self.record(FakeCall::Invoke {
            function: function.to_string(),
            qualifier: qualifier.clone(),
            executed_version: responder.and(version.clone()),
            payload: payload.clone(),
        });
        let (Some(responder), Some(version)) = (responder, version) else {
            return Answered::error(
                404,
                "ResourceNotFoundException",
                &format!(
                    "Function not found: {function}:{} (give the fake its answers with FakeAws::version)",
                    qualifier.as_deref().unwrap_or("$LATEST")
                ),
            );
        };
        let (body, function_error) = match responder(&payload) {
            Answer::Json(v) => (v.to_string(), None),
            Answer::Error { error_type, message } => (
                json!({"errorType": error_type, "errorMessage": message}).to_string(),
                Some("Unhandled"),
            ),
        };
        let log = format!(
            "START RequestId: fake Version: {version}\nEND RequestId: fake\nREPORT RequestId: fake\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n"
        );
        let mut headers = vec![
            ("x-amz-executed-version", version),
            (
                "x-amz-log-result",
                base64::engine::general_purpose::STANDARD.encode(log),
            ),
        ];
        headers.extend(function_error.map(|e| ("x-amz-function-error", e.to_string())));
        Answered {
            status: 200,
            headers,
            body: body.into_bytes(),
        }
    }
}

const REGION: &str = "us-east-1";

fn credentials() -> aws_sdk_lambda::config::Credentials {
    aws_sdk_lambda::config::Credentials::new("AKIDFAKE", "fake-secret", None, None, "hook-sdk-testing")
}

fn unsupported(what: &str) -> String {
    format!(
        "hook_sdk::testing's fake serves CodeDeploy's GetDeployment and PutLifecycleEventHookExecutionStatus and Lambda's Invoke, not {what}"
    )
}

/// A percent-decoded path segment or query value.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// One answer on the wire.
struct Answered {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answered {
    fn json(value: Value) -> Answered {
        Answered {
            status: 200,
            headers: vec![("content-type", "application/x-amz-json-1.1".to_string())],
            body: value.to_string().into_bytes(),
        }
    }

    fn error(status: u16, kind: &'static str, message: &str) -> Answered {
        Answered {
            status,
            headers: vec![
                ("x-amzn-errortype", kind.to_string()),
                ("content-type", "application/json".to_string()),
            ],
            body: json!({"__type": kind, "message": message}).to_string().into_bytes(),
        }
    }

    fn into_response(self) -> HttpResponse {
        let status = StatusCode::try_from(self.status).expect("a valid status code");
        let mut response = HttpResponse::new(status, SdkBody::from(self.body));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// The fake on the SDK's own HTTP client interface: requests are signed, serialized, sent
/// and their answers parsed exactly as against AWS, in process.
#[derive(Debug, Clone)]
struct Wire {
    fake: Arc<FakeAws>,
    phase: Phase,
}

impl HttpClient for Wire {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Wire {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let answer = self.fake.answer(self.phase, &request).into_response();
        HttpConnectorFuture::ready(Ok(answer))
    }
}

/// What a hook did with one lifecycle event.
#[derive(Debug)]
pub struct HookRun {
    /// What the hook returned to Lambda.
    pub response: Result<HookResponse, HookError>,
    /// The calls it made, in order.
    pub calls: Vec<FakeCall>,
}

impl HookRun {
    /// The status reported to CodeDeploy, when exactly one was.
    pub fn status(&self) -> Option<HookStatus> {
        let reported: Vec<HookStatus> = self
            .calls
            .iter()
            .filter_map(|c| match c {
                FakeCall::PutStatus { status, .. } => Some(*status),
                _ => None,
            })
            .collect();
        match reported.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Why the hook reported `Failed`.
    pub fn reason(&self) -> Option<&str> {
        self.response.as_ref().ok()?.reason.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fake_answers_on_the_sdks_wire() {
        let aws = FakeAws::new()
            .target("hello-fn", "live", "1", "2")
            .version("hello-fn", "1", |_| Answer::json(json!({"v": 1})))
            .version("hello-fn", "2", |_| Answer::error("Boom", "it broke"));
        let ctx = aws.context(Phase::BeforeAllowTraffic);
        let target = &ctx.targets()[0];
        // The target version's error comes back as Lambda sends it: a function error header.
        let out = target.invoke_json(&json!({"a": 1})).await.unwrap();
        assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(out.ran_version(), "2");
        assert!(out.text().contains("it broke"), "{}", out.text());
        assert_eq!(out.usage.as_ref().and_then(|u| u.max_memory_used_mb), Some(20));
        // Before traffic is allowed the alias routes to the current version.
        let alias = target.invoke_alias_json(&json!({})).await.unwrap();
        assert_eq!((alias.ran_version(), alias.json().unwrap()), ("1", json!({"v": 1})));
        // A version without answers is ResourceNotFoundException, with the fix in its message.
        let missing = target.invoke_qualified_json("7", &json!({})).await.unwrap_err();
        let chain = crate::error::error_chain(&missing);
        assert!(chain.contains("ResourceNotFoundException"), "{chain}");
        assert!(chain.contains("FakeAws::version"), "{chain}");
        assert_eq!(
            aws.calls()[0],
            FakeCall::Invoke {
                function: "hello-fn".into(),
                qualifier: Some("2".into()),
                executed_version: Some("2".into()),
                payload: json!({"a": 1}),
            }
        );
        assert_eq!(
            aws.invokes(),
            [("hello-fn", "2"), ("hello-fn", "live"), ("hello-fn", "7")].map(|(f, q)| (f.to_string(), q.to_string()))
        );
    }

    #[tokio::test]
    async fn a_whole_hook_reports_once_through_the_fake() {
        let aws = FakeAws::new()
            .target(
                "arn:aws:lambda:us-east-1:123456789012:function:hello-fn",
                "live",
                "1",
                "2",
            )
            .version("arn:aws:lambda:us-east-1:123456789012:function:hello-fn", "2", |e| {
                Answer::api(200, json!({"echo": e}))
            });
        let hook = Hook::new().after_allow_traffic(|ctx: HookContext| async move {
            let out = ctx.targets()[0].invoke_alias_json(&json!({"x": "y"})).await?;
            crate::ensure!(out.api_body()?["echo"]["x"] == "y", "no echo: {}", out.text());
            Ok::<(), crate::CheckError>(())
        });
        let run = aws.run(hook, Phase::AfterAllowTraffic).await;
        assert_eq!(run.status(), Some(HookStatus::Succeeded), "{:?}", run.reason());
        assert!(matches!(&run.calls[0], FakeCall::GetDeployment { deployment_id } if deployment_id == "d-FAKE0001"));
        assert!(
            matches!(&run.calls[2], FakeCall::PutStatus { execution_id, status: HookStatus::Succeeded } if execution_id == EXECUTION_ID)
        );
        // The ARN's colons travel percent-encoded in the path and come back as they were given.
        assert!(
            matches!(&run.calls[1], FakeCall::Invoke { function, executed_version: Some(v), .. }
                if function.ends_with(":function:hello-fn") && v == "2"),
            "{:?}",
            run.calls
        );
    }
}
