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
//! CloudWatch's `GetMetricData` serves Lambda's metrics from the same invocations the alarms
//! read, over Smithy RPC v2 CBOR as the SDKs speak it.
//!
//! Point the real AWS SDKs at it with `AWS_ENDPOINT_URL` (see [`Sim::aws_env`]).
#![warn(missing_docs)]

mod account;
pub mod alarm;
mod clock;
mod clock_api;
mod cloudwatch;
mod codedeploy;
mod codedeploy_api;
mod custom_metrics;
pub mod deploy;
pub mod duration;
mod fault;
mod function;
mod http_api;
pub mod iam;
mod invocation;
mod lambda_api;
mod metric;
mod metric_math;
mod metric_query;
mod record;
pub mod rehearsal;
mod runtime;
pub mod schedule;
mod served;
pub mod stack;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::{Value, json};

pub use account::{ACCOUNT_ID, REGION};
pub use codedeploy::{DeploymentSetup, DeploymentStatus, LifecycleEventStatus, RevisionStorage, lambda_appspec};
pub use fault::{Fault, FaultKind, FaultParseError, FaultVersion, VersionFault};
pub use function::{AliasRouting, Behavior, FunctionSetup};
pub use invocation::InvokeOutcome;
pub use record::{Call, Exchange, HookStatusRecord, InvocationRecord, Service};
pub use runtime::{Concurrency, ProcessConfig, RuntimeFunction, peak_rss_kb};
use state::SimState;

/// A function the simulator does not hold ([`Sim::route_alias`] of a name never added).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no function {name}: add it first")]
pub struct UnknownFunction {
    /// The name asked for.
    pub name: String,
}

/// Local CodeDeploy and Lambda endpoints on a loopback port.
pub struct Sim {
    state: Arc<SimState>,
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

impl Sim {
    /// Starts the endpoints on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<Sim> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the endpoints on `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState {
            recorder: Arc::new(record::Recorder::new()),
            faults: fault::Faults::default(),
            version_faults: fault::VersionFaults::default(),
            deployments: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            execution_counter: Mutex::new(0),
            routing_seed: Mutex::new(None),
            metrics_at_once: std::sync::atomic::AtomicBool::new(false),
            identities: Mutex::new(HashMap::new()),
            enforcement: Mutex::new(iam::Enforcement::default()),
            denials: Mutex::new(Vec::new()),
            resource_grants: Mutex::new(HashMap::new()),
            sleepers: Mutex::new(Vec::new()),
            skip_clock_waits: std::sync::atomic::AtomicBool::new(false),
            sleepers_changed: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/", post(root_api))
            .route(
                "/2015-03-31/functions/{name}/invocations",
                post(lambda_api::lambda_invoke),
            )
            .route("/2015-03-31/functions/{name}", get(lambda_api::get_function))
            .route(
                "/2015-03-31/functions/{name}/aliases/{alias}",
                get(lambda_api::alias_api).put(lambda_api::alias_api),
            )
            .route(
                "/service/GraniteServiceVersion20100801/operation/{operation}",
                post(cloudwatch::cloudwatch_api),
            )
            .route("/_hook-sim/clock/{function}", get(clock_api::clock))
            .route("/api/{function}/{qualifier}", any(http_api::http_api))
            .route("/api/{function}/{qualifier}/", any(http_api::http_api))
            .route("/api/{function}/{qualifier}/{*rest}", any(http_api::http_api))
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

    /// The simulated clock, as `function`'s process asks it the time and waits on it: the value
    /// of `HOOK_CLOCK_ENDPOINT` in its environment. `GET URL?until_ms=T` answers
    /// `{"now_ms": N}` once simulated time has reached `T` (`0`: at once); while the process
    /// waits it is not real work, so a deployment moves the clock on at its speed.
    pub fn clock_url(&self, function: &str) -> String {
        format!("http://{}/_hook-sim/clock/{function}", self.addr)
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
        let create_time = self.state.recorder.clock.wall();
        self.state
            .deployments
            .lock()
            .expect("poisoned")
            .insert(setup.id.clone(), codedeploy::Deployment::new(setup, create_time));
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

    /// Sets the status of a lifecycle event of the deployment's target, as
    /// `GetDeploymentTarget` lists it (`Start`, `BeforeAllowTraffic`, `AllowTraffic`,
    /// `AfterAllowTraffic`, `End`).
    pub fn set_target_event(&self, deployment_id: &str, lifecycle_event: &str, status: LifecycleEventStatus) {
        if let Some(d) = self.state.deployments.lock().expect("poisoned").get_mut(deployment_id) {
            d.set_event(lifecycle_event, status, self.state.recorder.clock.wall());
        }
    }

    /// Marks the lifecycle events not run yet `Skipped` (the deployment ended before them).
    pub(crate) fn skip_pending_events(&self, deployment_id: &str) {
        if let Some(d) = self.state.deployments.lock().expect("poisoned").get_mut(deployment_id) {
            for e in d
                .events
                .iter_mut()
                .filter(|e| e.status == LifecycleEventStatus::Pending)
            {
                e.status = LifecycleEventStatus::Skipped;
            }
        }
    }

    /// Sets the share of traffic on the deployment's target version (`targetVersionWeight`).
    pub fn set_target_weight(&self, deployment_id: &str, weight: f64) {
        if let Some(d) = self.state.deployments.lock().expect("poisoned").get_mut(deployment_id) {
            d.target_weight = weight;
        }
    }

    /// Sets a deployment's status as `GetDeployment` reports it (`InProgress`, `Succeeded`,
    /// `Failed`, `Stopped`), with the `errorInformation` code and message of a failure.
    pub fn set_deployment_status(&self, deployment_id: &str, status: DeploymentStatus, error: Option<(&str, &str)>) {
        if let Some(d) = self.state.deployments.lock().expect("poisoned").get_mut(deployment_id) {
            d.status = status;
            d.error = error.map(|(c, m)| (c.to_string(), m.to_string()));
            if matches!(
                status,
                DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
            ) {
                d.complete_time = Some(self.state.recorder.clock.wall());
            }
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
    pub fn route_alias(&self, function: &str, alias: &str, routing: AliasRouting) -> Result<(), UnknownFunction> {
        let mut functions = self.state.functions.lock().expect("poisoned");
        let f = functions.get_mut(function).ok_or_else(|| UnknownFunction {
            name: function.to_string(),
        })?;
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
        let env = self.aws_env_for(&config.name);
        RuntimeFunction::start(config, env, self.state.recorder.clone()).await
    }

    /// [`aws_env`](Self::aws_env) with the credentials of `function`'s process: calls signed
    /// with them act as the role [`assume_role`](Self::assume_role) gave it.
    pub fn aws_env_for(&self, function: &str) -> Vec<(String, String)> {
        let mut env = self.aws_env();
        for (k, v) in &mut env {
            if k == "AWS_ACCESS_KEY_ID" {
                *v = iam::access_key_for(function);
            }
        }
        env.push((clock_api::CLOCK_VARIABLE.to_string(), self.clock_url(function)));
        env
    }

    /// Gives `function`'s process the role `identity`: from now on its calls to hook-sim are
    /// authorized by the role's policies, as IAM would.
    pub fn assume_role(&self, function: &str, identity: iam::Identity) {
        self.state
            .identities
            .lock()
            .expect("poisoned")
            .insert(iam::access_key_for(function), Arc::new(identity));
    }

    /// Adds a statement to a resource's own policy (an `AWS::Lambda::Permission` on a function,
    /// version or alias): from now on a call on `grant.resource` by the principal it names is
    /// allowed even where the caller's role does not allow it, as within one AWS account.
    pub fn grant(&self, grant: iam::ResourceGrant) {
        self.state
            .resource_grants
            .lock()
            .expect("poisoned")
            .entry(grant.resource.clone())
            .or_default()
            .push(grant);
    }

    /// Whether a call IAM refuses is refused ([`Enforce`](iam::Enforcement::Enforce), the
    /// default) or let through and only recorded.
    pub fn set_enforcement(&self, enforcement: iam::Enforcement) {
        *self.state.enforcement.lock().expect("poisoned") = enforcement;
    }

    /// From now on, records each CodeDeploy, CloudWatch and Lambda `GetFunction` request with
    /// its answer ([`exchanges`](Self::exchanges)): to check both against the services' models.
    pub fn record_exchanges(&self) {
        self.state.recorder.record_exchanges();
    }

    /// The requests and answers recorded since [`record_exchanges`](Self::record_exchanges).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.recorder.exchanges()
    }

    /// The calls IAM refused so far (enforced or not), each once.
    pub fn denials(&self) -> Vec<iam::Denial> {
        self.state.denials.lock().expect("poisoned").clone()
    }

    /// Queues `fault` for the next `times` calls of `operation` (`GetDeployment`,
    /// `PutLifecycleEventHookExecutionStatus`, `Invoke`, ...).
    pub fn inject(&self, operation: &str, fault: Fault, times: usize) {
        self.state.faults.push(operation, fault, times);
    }

    /// Drops every queued fault, and every version fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
        self.state.version_faults.clear();
    }

    /// Makes version `version` of `function` go bad from outside it (its code is not
    /// changed, whatever its runtime): from now on, a share of its invocations fails, slows
    /// down, answers another status or body, times out or fails its cold start, as `fault`
    /// says. Which invocations are drawn follows from `seed` (and, for a deployment's
    /// traffic, the request's number), so a run replays.
    pub fn inject_version_fault(&self, function: &str, version: &str, fault: VersionFault, seed: u64) {
        self.state.version_faults.add(function, version, fault, seed);
    }

    /// How many invocations of each (function, version) a version fault changed so far.
    pub fn faulted_invocations(&self) -> HashMap<(String, String), u64> {
        self.state.version_faults.applied()
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

    /// Lets CloudWatch's `GetMetricData` see each invocation as soon as it ends. By default a
    /// datapoint is published a minute ([`deploy::METRIC_LAG`]) after the minute it falls in
    /// ends, on the simulated clock, as CloudWatch publishes Lambda's metrics; outside a
    /// deployment that clock is real time, so a test of the wire would wait minutes.
    pub fn publish_metrics_at_once(&self, at_once: bool) {
        self.state
            .metrics_at_once
            .store(at_once, std::sync::atomic::Ordering::Relaxed);
    }

    /// Outside a deployment, a process waiting on the simulated clock ([`Sim::clock_url`]) waits in
    /// real time (the default), or, with `skip`, the clock jumps to the end of its wait at once
    /// (for tests of a watching hook without a deployment engine: nothing happens meanwhile).
    pub fn skip_clock_waits(&self, skip: bool) {
        self.state
            .skip_clock_waits
            .store(skip, std::sync::atomic::Ordering::Relaxed);
    }

    /// Keeps only the newest `n` calls ([`Sim::calls`]) and the newest `n` invocations (the
    /// metric store) from now on, so that a simulator serving until it is stopped stays within
    /// bounded memory. `GetMetricData` then answers a period whose invocations were partly
    /// forgotten as `PartialData`, with a message: incomplete, never a smaller figure.
    pub fn keep_records(&self, n: usize) {
        self.state.recorder.keep(n);
    }

    /// Time since the simulator started, on the clock of [`Call::at`].
    pub fn elapsed(&self) -> std::time::Duration {
        self.state.recorder.since_start()
    }
}

/// `POST /`: CloudWatch on AWS JSON 1.0 or the query protocol, else CodeDeploy (AWS JSON 1.1).
async fn root_api(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(response) = cloudwatch::cloudwatch_root(&state, &headers, &body).await {
        return response;
    }
    codedeploy_api::api(&state, &headers, &body).await
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    codedeploy_api::aws_json_error(404, "UnknownOperationException", &format!("hook-sim serves no {uri}"))
}
