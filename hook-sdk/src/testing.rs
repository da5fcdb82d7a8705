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

use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusOutput;
use aws_sdk_codedeploy::types::{AppSpecContent, DeploymentInfo, RevisionLocation, RevisionLocationType};
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
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

    /// What `function:version` answers: `answer` gets each invoke's payload (JSON, or `Null`).
    pub fn version(
        mut self,
        function: &str,
        version: &str,
        answer: impl Fn(&Value) -> Answer + Send + Sync + 'static,
    ) -> Self {
        self.versions
            .insert((function.to_string(), version.to_string()), Arc::new(answer));
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
        let (id, appspec, calls) = (self.deployment_id.clone(), self.appspec(), self.calls.clone());
        let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_compute_output(move |input| {
            calls
                .lock()
                .expect("fake calls poisoned")
                .push(FakeCall::GetDeployment {
                    deployment_id: input.deployment_id().unwrap_or_default().to_string(),
                });
            let info = DeploymentInfo::builder()
                .deployment_id(&id)
                .application_name("fake-app")
                .deployment_group_name("fake-group")
                .deployment_config_name("CodeDeployDefault.LambdaAllAtOnce")
                .revision(
                    RevisionLocation::builder()
                        .revision_type(RevisionLocationType::AppSpecContent)
                        .app_spec_content(AppSpecContent::builder().content(&appspec).build())
                        .build(),
                )
                .build();
            GetDeploymentOutput::builder().deployment_info(info).build()
        });
        let calls = self.calls.clone();
        let put = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status).then_compute_output(
            move |input| {
                let status = match input.status() {
                    Some(aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded) => HookStatus::Succeeded,
                    _ => HookStatus::Failed,
                };
                calls.lock().expect("fake calls poisoned").push(FakeCall::PutStatus {
                    execution_id: input
                        .lifecycle_event_hook_execution_id()
                        .unwrap_or_default()
                        .to_string(),
                    status,
                });
                PutLifecycleEventHookExecutionStatusOutput::builder()
                    .set_lifecycle_event_hook_execution_id(
                        input.lifecycle_event_hook_execution_id().map(str::to_string),
                    )
                    .build()
            },
        );
        mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&get, &put])
    }

    fn lambda(&self, phase: Phase) -> aws_sdk_lambda::Client {
        let (targets, versions, calls) = (self.targets.clone(), self.versions.clone(), self.calls.clone());
        let invoke = mock!(aws_sdk_lambda::Client::invoke).then_compute_response(move |input| {
            let function = input.function_name().unwrap_or_default().to_string();
            let qualifier = input.qualifier().map(str::to_string);
            let payload: Value = input
                .payload()
                .and_then(|b| serde_json::from_slice(b.as_ref()).ok())
                .unwrap_or(Value::Null);
            // An alias resolves as CodeDeploy has set it in this phase.
            let name = crate::appspec::function_name_of(&function).to_string();
            let version = qualifier.as_ref().map(|q| {
                targets
                    .iter()
                    .find(|t| t.function == name && t.alias.as_deref() == Some(q.as_str()))
                    .map_or(q.clone(), |t| match phase {
                        Phase::BeforeAllowTraffic => t.current_version.clone().unwrap_or_default(),
                        Phase::AfterAllowTraffic => t.target_version.clone(),
                    })
            });
            let responder = version.as_ref().and_then(|v| versions.get(&(name.clone(), v.clone())));
            calls.lock().expect("fake calls poisoned").push(FakeCall::Invoke {
                function: function.clone(),
                qualifier: qualifier.clone(),
                executed_version: responder.and(version.clone()),
                payload: payload.clone(),
            });
            let (Some(responder), Some(version)) = (responder, version) else {
                return MockResponse::Error(InvokeError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .message(format!(
                            "Function not found: {function}:{} (give the fake its answers with FakeAws::version)",
                            qualifier.as_deref().unwrap_or("$LATEST")
                        ))
                        .build(),
                ));
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
            MockResponse::Output(
                InvokeOutput::builder()
                    .status_code(200)
                    .executed_version(version)
                    .set_function_error(function_error.map(str::to_string))
                    .log_result(base64::engine::general_purpose::STANDARD.encode(log))
                    .payload(Blob::new(body))
                    .build(),
            )
        });
        mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&invoke])
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
