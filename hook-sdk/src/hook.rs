//! The hook: handlers per phase, run under a deadline and a panic guard, reported once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::Budget;
use crate::check::error_chain;
#[cfg(feature = "checks")]
use crate::check::{CheckRunner, RunContext};
use crate::deployment::{Deployment, DiscoverySettings, discover};
use crate::event::{LifecycleEvent, MalformedEvent, Phase};
use crate::redact::redact_urls;
#[cfg(feature = "checks")]
use crate::report::{Report, render_json_lines};
#[cfg(feature = "checks")]
use crate::spec::{Spec, SpecError, Vars};

/// A hook built without the `checks` feature has no spec.
#[cfg(not(feature = "checks"))]
#[derive(Debug)]
enum Spec {}
use crate::status::{self, Backoff, HookStatus, ReportOutcome};
use crate::target::TargetFunction;
use crate::tested::TestedVersions;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type Handler = Arc<dyn Fn(HookContext) -> BoxFuture<Result<(), String>> + Send + Sync>;

/// What a handler sees: the deployment, its targets, the clients and the time left.
#[derive(Clone)]
pub struct HookContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    event: LifecycleEvent,
    deployment: Deployment,
    targets: Vec<TargetFunction>,
    clients: Clients,
    deadline: Instant,
    lambda_context: lambda_runtime::Context,
}

impl fmt::Debug for HookContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("deployment", &self.inner.deployment)
            .field("time_left", &self.time_left())
            .finish_non_exhaustive()
    }
}

impl HookContext {
    /// A context over `deployment` whose Lambda client records which versions its invokes ran.
    pub(crate) fn assemble(
        event: LifecycleEvent,
        deployment: Deployment,
        clients: &Clients,
        deadline: Instant,
        lambda_context: lambda_runtime::Context,
    ) -> (HookContext, TestedVersions) {
        // Every invoke made through the context's Lambda client is recorded: the proof that
        // BeforeAllowTraffic tested the new version.
        let tested = TestedVersions::default();
        let mut clients = clients.clone();
        clients.lambda = tested.watch(&clients.lambda);
        let targets = deployment
            .targets
            .iter()
            .map(|t| TargetFunction::new(t.clone(), clients.lambda.clone()))
            .collect();
        let ctx = HookContext {
            inner: Arc::new(ContextInner {
                event,
                deployment,
                targets,
                clients,
                deadline,
                lambda_context,
            }),
        };
        (ctx, tested)
    }

    /// The deployment this hook runs in.
    pub fn deployment(&self) -> &Deployment {
        &self.inner.deployment
    }

    /// The deployment id.
    pub fn deployment_id(&self) -> &str {
        &self.inner.event.deployment_id
    }

    /// The lifecycle event this hook runs in.
    pub fn phase(&self) -> Phase {
        self.inner.deployment.phase
    }

    /// The function versions to test, ready to invoke.
    pub fn targets(&self) -> &[TargetFunction] {
        &self.inner.targets
    }

    /// The Lambda client (from aws-config's default chain).
    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        &self.inner.clients.lambda
    }

    /// The CodeDeploy client. Reporting the status is the SDK's job: don't call
    /// `PutLifecycleEventHookExecutionStatus` yourself.
    pub fn codedeploy(&self) -> &aws_sdk_codedeploy::Client {
        &self.inner.clients.codedeploy
    }

    /// When the handler is stopped and `Failed` is reported: the Lambda deadline less the reserve.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline
    }

    /// Time left until [`deadline`](Self::deadline).
    pub fn time_left(&self) -> Duration {
        self.inner.deadline.saturating_duration_since(Instant::now())
    }

    /// The Lambda context of the hook's own invocation.
    pub fn lambda_context(&self) -> &lambda_runtime::Context {
        &self.inner.lambda_context
    }

    #[cfg(feature = "checks")]
    /// Runs a spec's checks for this phase against this deployment's targets, within the
    /// hook's time. The report is data: judge it with [`Report::passed`].
    pub async fn run_spec(&self, spec: &Spec) -> Report {
        let mut runner = CheckRunner::new(self.inner.clients.lambda.clone());
        if let Some(http) = &self.inner.clients.http {
            runner = runner.with_http(http.clone());
        }
        let left = self.time_left();
        let ctx = RunContext {
            phase: self.phase(),
            targets: self.inner.deployment.targets.clone(),
            deployment_id: Some(self.deployment_id().to_string()),
            vars: Vars::default(),
            // Stop a little before the hook's deadline, so the report is complete when it ends.
            deadline: Some(self.inner.deadline - (left / 20).min(Duration::from_millis(250))),
            source: None,
        };
        runner.run(spec, &ctx).await
    }
}

/// The AWS clients a hook uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// For discovery (standard retries).
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// For the status report: retries are the SDK's own, so the client's should be off.
    pub status: aws_sdk_codedeploy::Client,
    /// For invoking targets.
    pub lambda: aws_sdk_lambda::Client,
    /// For HTTP checks; `None`: the default client, made on the first HTTP check.
    #[cfg(feature = "checks")]
    pub http: Option<reqwest::Client>,
}

impl Clients {
    /// Clients from an SDK config, with the status client's retries off.
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        let status = aws_sdk_codedeploy::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Clients {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            status: aws_sdk_codedeploy::Client::from_conf(status),
            lambda: aws_sdk_lambda::Client::new(config),
            #[cfg(feature = "checks")]
            http: None,
        }
    }
}

/// A CodeDeploy lifecycle hook: handlers per phase, and the guarantees around them.
///
/// ```no_run
/// use hook_sdk::{CheckError, Hook, HookContext};
///
/// async fn smoke(ctx: HookContext) -> Result<(), CheckError> {
///     for target in ctx.targets() {
///         let out = target.invoke_json(&serde_json::json!({"name": "canary"})).await?;
///         out.expect_no_function_error()?;
///         hook_sdk::ensure!(out.json()?["statusCode"] == 200, "statusCode was {}", out.json()?["statusCode"]);
///     }
///     Ok(())
/// }
///
/// # async fn run() -> Result<(), lambda_runtime::Error> {
/// Hook::new().before_allow_traffic(smoke).run().await
/// # }
/// ```
///
/// Whatever happens, each invocation reports exactly one status: `Succeeded` only when
/// the phase's handler returned `Ok`; `Failed` when it returned `Err`, panicked, had no
/// handler for its phase, could not discover its deployment, or ran into the deadline
/// reserve.
#[derive(Clone)]
pub struct Hook {
    before: Option<Handler>,
    after: Option<Handler>,
    #[cfg(feature = "checks")]
    spec: Option<Arc<Result<Spec, SpecError>>>,
    allow_untested_target: bool,
    reserve: Option<Duration>,
    fallback_budget: Duration,
    backoff: Backoff,
}

impl Default for Hook {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("before_allow_traffic", &self.before.is_some())
            .field("after_allow_traffic", &self.after.is_some())
            .field("allow_untested_target", &self.allow_untested_target)
            .field("reserve", &self.reserve)
            .field("fallback_budget", &self.fallback_budget)
            .finish()
    }
}

fn boxed<F, Fut, E>(f: F) -> Handler
where
    F: Fn(HookContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    Arc::new(move |ctx| {
        let fut = f(ctx);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    })
}

impl Hook {
    /// A hook with no handlers yet.
    pub fn new() -> Self {
        Hook {
            before: None,
            after: None,
            #[cfg(feature = "checks")]
            spec: None,
            allow_untested_target: false,
            reserve: None,
            fallback_budget: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }

    /// The handler of BeforeAllowTraffic: test the target version before it gets traffic.
    pub fn before_allow_traffic<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.before = Some(boxed(f));
        self
    }

    /// The handler of AfterAllowTraffic: test the alias once all traffic is on the target.
    pub fn after_allow_traffic<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.after = Some(boxed(f));
        self
    }

    /// One handler for both phases (it can ask [`HookContext::phase`]).
    pub fn any_phase<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HookContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let h = boxed(f);
        self.before = Some(h.clone());
        self.after = Some(h);
        self
    }

    /// Runs the checks of the spec `text` in every phase, before the phase's handler (if
    /// any): the way to build a spec into a hook, as `include_str!("../smoke.yaml")`. A spec
    /// that does not load never stops the hook from starting: every invocation reports `Failed`
    /// with the located error. `source` names the spec in errors and reports. Check it in the
    /// hook's own tests with [`spec::assert_valid`](crate::spec::assert_valid).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), hook_sdk::Error> {
    /// const SPEC: &str = "version: 1\nchecks:\n  - name: greets\n    invoke: { payload: { name: canary } }\n";
    /// hook_sdk::Hook::new().spec_text(SPEC, "smoke.yaml").run().await
    /// # }
    /// ```
    #[cfg(feature = "checks")]
    pub fn spec_text(self, text: &str, source: &str) -> Self {
        self.spec_result(crate::spec::load(text, source))
    }

    /// Runs the checks of `spec` in every phase, before the phase's handler (if any). A spec
    /// that fails makes the hook report `Failed`; its report is logged as JSON lines.
    #[cfg(feature = "checks")]
    pub fn spec(self, spec: Spec) -> Self {
        self.spec_result(Ok(spec))
    }

    /// Like [`spec`](Self::spec), with a spec that may have failed to load: then every
    /// invocation reports `Failed` with the located error, instead of the function failing
    /// to start (and the deployment waiting an hour for a report).
    #[cfg(feature = "checks")]
    pub fn spec_result(mut self, spec: Result<Spec, SpecError>) -> Self {
        self.spec = Some(Arc::new(spec));
        self
    }

    /// Lets BeforeAllowTraffic report `Succeeded` although no invoke ran the version under
    /// test. By default such a hook reports `Failed`: before traffic shifts, the alias and any
    /// API still reach the old version, so checks through them prove nothing of the new one.
    /// Use it only when the hook tests the new version another way, and say so in its docs.
    pub fn allow_untested_target(mut self) -> Self {
        self.allow_untested_target = true;
        self
    }

    /// Time kept before the Lambda deadline to stop the handler and report. By default a
    /// fifth of the invocation's time, between 250 ms and 5 s.
    pub fn reserve(mut self, reserve: Duration) -> Self {
        self.reserve = Some(reserve);
        self
    }

    /// The time an invocation may take when the deadline Lambda gives is missing, past or
    /// absurd, as local emulators send. Default 60 s.
    pub fn fallback_budget(mut self, budget: Duration) -> Self {
        self.fallback_budget = budget;
        self
    }

    /// The backoff of status report retries.
    pub fn report_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The tower service that handles lifecycle events, with explicit clients and settings.
    ///
    /// `settings` is a `Result` so that a bad `HOOK_TARGET` or `HOOK_PHASE` fails each
    /// invocation with a report instead of stopping the function before it can report.
    pub fn into_service(self, clients: Clients, settings: Result<DiscoverySettings, String>) -> HookService {
        HookService {
            inner: Arc::new(ServiceInner {
                hook: self,
                clients,
                settings,
            }),
        }
    }

    /// Runs the hook as a Lambda function: logs through tracing (JSON in Lambda), AWS
    /// clients from aws-config's default chain, then the Lambda runtime loop.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        crate::logging::init();
        let config = aws_config::load_from_env().await;
        let settings = DiscoverySettings::from_env().map_err(|e| e.to_string());
        if let Err(e) = &settings {
            tracing::error!(error = %e, "bad hook settings: every invocation will report Failed");
        }
        let service = self.into_service(Clients::from_conf(&config), settings);
        lambda_runtime::run(service).await
    }
}

/// What a hook invocation returns to Lambda once its status is recorded.
#[derive(Debug, Clone, Serialize)]
pub struct HookResponse {
    /// The deployment.
    pub deployment_id: String,
    /// The phase, when discovery got that far.
    pub phase: Option<Phase>,
    /// The status reported.
    pub status: HookStatus,
    /// Why the status is `Failed`.
    pub reason: Option<String>,
    /// How the report went.
    pub report: ReportOutcome,
    /// Time from the event to the report, in milliseconds.
    pub elapsed_ms: u64,
}

/// Why a hook invocation ends in a Lambda error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The event is not a lifecycle event: there is nothing to report to.
    #[error(transparent)]
    MalformedEvent(#[from] MalformedEvent),
    /// CodeDeploy did not record the status.
    #[error("the {status} status was not recorded by CodeDeploy: {detail}")]
    StatusNotRecorded {
        /// The status the hook tried to report.
        status: HookStatus,
        /// What went wrong.
        detail: String,
    },
}

impl From<HookError> for Diagnostic {
    fn from(e: HookError) -> Self {
        let error_type = match &e {
            HookError::MalformedEvent(_) => "HookSdk.MalformedEvent",
            HookError::StatusNotRecorded { .. } => "HookSdk.StatusNotRecorded",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

/// The hook as a tower `Service` over raw Lambda events, as `lambda_runtime` runs it.
#[derive(Clone)]
pub struct HookService {
    inner: Arc<ServiceInner>,
}

impl fmt::Debug for HookService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookService")
            .field("hook", &self.inner.hook)
            .finish_non_exhaustive()
    }
}

struct ServiceInner {
    hook: Hook,
    clients: Clients,
    settings: Result<DiscoverySettings, String>,
}

impl tower::Service<LambdaEvent<serde_json::Value>> for HookService {
    type Response = HookResponse;
    type Error = HookError;
    type Future = BoxFuture<Result<HookResponse, HookError>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: LambdaEvent<serde_json::Value>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { inner.handle(req).await })
    }
}

impl ServiceInner {
    async fn handle(self: Arc<Self>, req: LambdaEvent<serde_json::Value>) -> Result<HookResponse, HookError> {
        let started = Instant::now();
        let event = LifecycleEvent::from_value(&req.payload).inspect_err(|e| {
            tracing::error!(error = %e, "not a lifecycle event; nothing to report");
        })?;
        let span = tracing::info_span!("hook", deployment_id = %event.deployment_id);
        self.handle_event(event, req.context, started).instrument(span).await
    }

    async fn handle_event(
        self: Arc<Self>,
        event: LifecycleEvent,
        context: lambda_runtime::Context,
        started: Instant,
    ) -> Result<HookResponse, HookError> {
        let budget = Budget::from_deadline(context.deadline, SystemTime::now(), self.hook.fallback_budget);
        if !budget.known {
            tracing::warn!(
                deadline_ms = context.deadline,
                fallback_s = budget.total.as_secs_f64(),
                "the Lambda deadline is missing, past or absurd (a local emulator?): using the fallback budget"
            );
        }
        let reserve = self
            .hook
            .reserve
            .unwrap_or_else(|| budget.default_reserve())
            .min(budget.total);
        let deadline = started + budget.total;
        let work_deadline = deadline - reserve;
        // The report must be done before Lambda's own deadline, with a little time to answer.
        let report_deadline = deadline - (reserve / 4).min(Duration::from_millis(100));

        tracing::info!(
            budget_ms = budget.total.as_millis() as u64,
            reserve_ms = reserve.as_millis() as u64,
            "lifecycle event received"
        );

        let (phase_tx, phase_rx) = tokio::sync::oneshot::channel();
        let work =
            tokio::spawn(run_handler(self.clone(), event.clone(), context, work_deadline, phase_tx).in_current_span());
        let abort = work.abort_handle();
        let (status, reason) = match tokio::time::timeout_at(work_deadline, work).await {
            Ok(Ok(Ok(()))) => (HookStatus::Succeeded, None),
            Ok(Ok(Err(reason))) => (HookStatus::Failed, Some(reason)),
            Ok(Err(join)) if join.is_panic() => {
                let payload = join.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                (HookStatus::Failed, Some(format!("the handler panicked: {message}")))
            }
            Ok(Err(join)) => (HookStatus::Failed, Some(format!("the handler task ended: {join}"))),
            Err(_) => {
                abort.abort();
                (
                    HookStatus::Failed,
                    Some(format!(
                        "the checks did not finish in {:.1} s, the invocation's time less a {:.1} s reserve for reporting",
                        (budget.total - reserve).as_secs_f64(),
                        reserve.as_secs_f64()
                    )),
                )
            }
        };
        let phase = phase_rx.await.ok();
        let phase_name = phase.map_or("unknown", Phase::as_str);
        match &reason {
            None => tracing::info!(phase = phase_name, "checks passed"),
            Some(reason) => tracing::error!(phase = phase_name, reason = %reason, "checks failed"),
        }

        let outcome = status::report(&self.clients.status, &event, status, report_deadline, self.hook.backoff).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            ReportOutcome::Accepted { attempts } => {
                tracing::info!(status = %status, attempts, elapsed_ms, "status reported")
            }
            ReportOutcome::AlreadyCompleted { .. } => tracing::warn!(
                status = %status,
                "CodeDeploy already has a status for this lifecycle event (an earlier delivery reported it); not reporting again"
            ),
            ReportOutcome::Rejected { code, message, .. } => {
                tracing::error!(status = %status, code = %code, error = %message, "CodeDeploy refused the status report")
            }
            ReportOutcome::GaveUp { attempts, message } => {
                tracing::error!(status = %status, attempts, error = %message, "the status report failed until the deadline")
            }
        }
        if !outcome.is_recorded() {
            let detail = match &outcome {
                ReportOutcome::Rejected { code, message, .. } if code.contains("AccessDenied") => format!(
                    "{message}. The hook's role needs codedeploy:PutLifecycleEventHookExecutionStatus on the deployment group"
                ),
                ReportOutcome::Rejected { message, .. } | ReportOutcome::GaveUp { message, .. } => message.clone(),
                _ => String::new(),
            };
            return Err(HookError::StatusNotRecorded { status, detail });
        }
        Ok(HookResponse {
            deployment_id: event.deployment_id,
            phase,
            status,
            reason,
            report: outcome,
            elapsed_ms,
        })
    }
}

#[cfg(feature = "checks")]
fn spec_allows_untested_target(spec: &Spec) -> bool {
    spec.allow_untested_target
}

#[cfg(not(feature = "checks"))]
fn spec_allows_untested_target(spec: &Spec) -> bool {
    match *spec {}
}

async fn run_handler(
    service: Arc<ServiceInner>,
    event: LifecycleEvent,
    lambda_context: lambda_runtime::Context,
    deadline: Instant,
    phase_tx: tokio::sync::oneshot::Sender<Phase>,
) -> Result<(), String> {
    let settings = service.settings.as_ref().map_err(Clone::clone)?;
    let deployment = discover(&service.clients.codedeploy, &event.deployment_id, settings)
        .await
        .map_err(|e| error_chain(&e))?;
    let _ = phase_tx.send(deployment.phase);
    tracing::info!(
        phase = %deployment.phase,
        application = deployment.application.as_deref().unwrap_or("?"),
        deployment_group = deployment.deployment_group.as_deref().unwrap_or("?"),
        config = deployment.config_name.as_deref().unwrap_or("?"),
        "deployment discovered"
    );
    for t in &deployment.targets {
        tracing::info!(target_function = %t.function, version = %t.target_version, alias = t.alias.as_deref().unwrap_or("-"), "target");
    }
    let handler = match deployment.phase {
        Phase::BeforeAllowTraffic => service.hook.before.clone(),
        Phase::AfterAllowTraffic => service.hook.after.clone(),
    };
    #[cfg(feature = "checks")]
    let spec = match service.hook.spec.as_deref() {
        None => None,
        Some(Ok(spec)) => Some(spec),
        Some(Err(e)) => return Err(format!("the check spec could not be read: {e}")),
    };
    #[cfg(not(feature = "checks"))]
    let spec: Option<&Spec> = None;
    if spec.is_none() && handler.is_none() {
        return Err(format!(
            "this hook runs in {} but has no handler for it: register one with Hook::{}",
            deployment.phase,
            match deployment.phase {
                Phase::BeforeAllowTraffic => "before_allow_traffic",
                Phase::AfterAllowTraffic => "after_allow_traffic",
            }
        ));
    }
    let phase = deployment.phase;
    let untested_allowed = service.hook.allow_untested_target || spec.is_some_and(spec_allows_untested_target);
    let (ctx, tested) = HookContext::assemble(event, deployment, &service.clients, deadline, lambda_context);
    #[cfg(feature = "checks")]
    if let Some(spec) = spec {
        let report = ctx.run_spec(spec).await;
        // One JSON record per check and a summary: CloudWatch keeps each as a log event.
        for line in render_json_lines(&report) {
            println!("{line}");
        }
        if let Some(summary) = report.failure_summary() {
            return Err(summary);
        }
    }
    if let Some(handler) = handler {
        let started = Instant::now();
        let result = handler(ctx.clone()).await;
        tracing::info!(
            handler_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "handler finished"
        );
        // Handlers' messages may quote URLs with credentials or tokens in their query.
        result.map_err(|e| redact_urls(&e))?;
    }
    if phase == Phase::BeforeAllowTraffic && !untested_allowed {
        let untested: Vec<String> = ctx
            .deployment()
            .targets
            .iter()
            .filter(|t| !tested.ran(t))
            .map(|t| format!("{}:{}", t.function, t.target_version))
            .collect();
        if !untested.is_empty() {
            return Err(format!(
                "BeforeAllowTraffic never ran the version under test ({}): nothing proved it healthy before it \
                 gets traffic. Invoke it (an `invoke:` check, or TargetFunction::invoke), or opt out with \
                 `allow_untested_target: true` in the spec or Hook::allow_untested_target()",
                untested.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusOutput;
    use aws_sdk_codedeploy::types::{AppSpecContent, DeploymentInfo, LifecycleEventStatus, RevisionLocation};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use tower::Service as _;

    const SPEC: &str = r#"{"Resources":[{"F":{"Type":"AWS::Lambda::Function","Properties":{"Name":"fn","Alias":"live","CurrentVersion":"1","TargetVersion":"2"}}}],"Hooks":[{"BeforeAllowTraffic":"pre"},{"AfterAllowTraffic":"post"}]}"#;

    fn get_rule() -> Rule {
        mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(|| {
            GetDeploymentOutput::builder()
                .deployment_info(
                    DeploymentInfo::builder()
                        .revision(
                            RevisionLocation::builder()
                                .app_spec_content(AppSpecContent::builder().content(SPEC).build())
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
    }

    fn put_rule(expected: LifecycleEventStatus) -> Rule {
        mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
            .match_requests(move |r| r.status() == Some(&expected))
            .then_output(|| PutLifecycleEventHookExecutionStatusOutput::builder().build())
    }

    fn clients(get: &Rule, put: &Rule) -> Clients {
        let codedeploy = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [get, put]);
        Clients {
            codedeploy: codedeploy.clone(),
            status: codedeploy,
            lambda: mock_client!(aws_sdk_lambda, []),
            #[cfg(feature = "checks")]
            http: None,
        }
    }

    fn settings(name: &str) -> Result<DiscoverySettings, String> {
        Ok(DiscoverySettings {
            function_name: name.into(),
            ..Default::default()
        })
    }

    fn event(deadline_in: Option<Duration>) -> LambdaEvent<serde_json::Value> {
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline_in.map_or(0, |d| {
            (SystemTime::now() + d)
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        });
        LambdaEvent::new(
            serde_json::json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"}),
            context,
        )
    }

    /// Lambda answering every invoke as `executed` would.
    fn invoke_rule(executed: &'static str) -> Rule {
        mock!(aws_sdk_lambda::Client::invoke).then_output(move || {
            aws_sdk_lambda::operation::invoke::InvokeOutput::builder()
                .status_code(200)
                .executed_version(executed)
                .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"ok":true}"#))
                .build()
        })
    }

    fn clients_invoking(get: &Rule, put: &Rule, invoke: &Rule) -> Clients {
        Clients {
            lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [invoke]),
            ..clients(get, put)
        }
    }

    async fn invoking_target(ctx: HookContext) -> Result<(), crate::CheckError> {
        assert_eq!(ctx.targets()[0].target_version, "2");
        ctx.targets()[0].invoke_json(&serde_json::json!({})).await?;
        Ok(())
    }

    #[tokio::test]
    async fn ok_handler_that_ran_the_target_reports_succeeded() {
        let (get, put, invoke) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded), invoke_rule("2"));
        let mut svc = Hook::new()
            .before_allow_traffic(invoking_target)
            .into_service(clients_invoking(&get, &put, &invoke), settings("pre"));
        let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
        assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
        assert_eq!(out.phase, Some(Phase::BeforeAllowTraffic));
        assert_eq!((put.num_calls(), invoke.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn before_allow_traffic_that_never_ran_the_target_reports_failed() {
        // The handler says Ok, but tested nothing; then it invokes, but Lambda ran version 1
        // (an alias that still routes to the old version).
        for (invoke, calls) in [(None, 0), (Some(invoke_rule("1")), 1)] {
            let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
            let hook = match &invoke {
                None => Hook::new().before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) }),
                Some(_) => Hook::new().before_allow_traffic(invoking_target),
            };
            let c = match &invoke {
                None => clients(&get, &put),
                Some(rule) => clients_invoking(&get, &put, rule),
            };
            let out = hook
                .into_service(c, settings("pre"))
                .call(event(Some(Duration::from_secs(3))))
                .await
                .unwrap();
            assert_eq!(out.status, HookStatus::Failed);
            let reason = out.reason.unwrap();
            assert!(
                reason.contains("BeforeAllowTraffic never ran the version under test (fn:2)"),
                "{reason}"
            );
            assert_eq!(put.num_calls(), 1);
            assert_eq!(invoke.map_or(0, |r| r.num_calls()), calls);
        }
    }

    #[tokio::test]
    async fn the_untested_target_can_be_allowed_explicitly() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
        let out = Hook::new()
            .allow_untested_target()
            .before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
            .into_service(clients(&get, &put), settings("pre"))
            .call(event(Some(Duration::from_secs(3))))
            .await
            .unwrap();
        assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
    }

    #[tokio::test]
    async fn after_allow_traffic_needs_no_invoke_of_the_version() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
        let out = Hook::new()
            .after_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
            .into_service(clients(&get, &put), settings("post"))
            .call(event(Some(Duration::from_secs(3))))
            .await
            .unwrap();
        assert_eq!(out.status, HookStatus::Succeeded, "{:?}", out.reason);
    }

    #[tokio::test]
    async fn a_phase_without_handler_reports_failed() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
        let mut svc = Hook::new()
            .before_allow_traffic(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
            .into_service(clients(&get, &put), settings("post"));
        let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
        assert_eq!(out.status, HookStatus::Failed);
        let reason = out.reason.unwrap();
        assert!(
            reason.contains("runs in AfterAllowTraffic but has no handler"),
            "{reason}"
        );
        assert!(reason.contains("after_allow_traffic"), "{reason}");
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn bad_settings_report_failed_without_discovery() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
        let mut svc = Hook::new()
            .any_phase(|_ctx: HookContext| async { Ok::<_, crate::CheckError>(()) })
            .into_service(clients(&get, &put), Err("HOOK_PHASE: unknown phase `x`".into()));
        let out = svc.call(event(Some(Duration::from_secs(3)))).await.unwrap();
        assert_eq!(out.status, HookStatus::Failed);
        assert_eq!(out.reason.as_deref(), Some("HOOK_PHASE: unknown phase `x`"));
        assert_eq!(get.num_calls(), 0);
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_handler_is_stopped_at_the_reserve() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
        let mut svc = Hook::new()
            .before_allow_traffic(|_ctx: HookContext| async {
                std::future::pending::<()>().await;
                Ok::<_, crate::CheckError>(())
            })
            .into_service(clients(&get, &put), settings("pre"));
        let started = Instant::now();
        let out = svc.call(event(Some(Duration::from_secs(10)))).await.unwrap();
        assert_eq!(out.status, HookStatus::Failed);
        assert!(out.reason.unwrap().contains("did not finish"));
        // 10 s budget, 2 s reserve: stopped at about 8 s of (paused) time.
        let stopped = started.elapsed();
        assert!(
            stopped >= Duration::from_millis(7_900) && stopped < Duration::from_millis(8_100),
            "{stopped:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_deadline_falls_back_to_the_budget() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Succeeded));
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let mut svc = Hook::new()
            .allow_untested_target()
            .fallback_budget(Duration::from_secs(20))
            .before_allow_traffic(move |ctx: HookContext| {
                tx.lock().unwrap().send(ctx.time_left()).unwrap();
                async { Ok::<_, crate::CheckError>(()) }
            })
            .into_service(clients(&get, &put), settings("pre"));
        let out = svc.call(event(None)).await.unwrap();
        assert_eq!(out.status, HookStatus::Succeeded);
        let left = rx.recv().unwrap();
        // 20 s fallback less its 4 s reserve.
        assert!(
            left > Duration::from_millis(15_900) && left <= Duration::from_secs(16),
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn a_malformed_event_is_an_error_and_reports_nothing() {
        let (get, put) = (get_rule(), put_rule(LifecycleEventStatus::Failed));
        let mut svc = Hook::new().into_service(clients(&get, &put), settings("pre"));
        let e = svc
            .call(LambdaEvent::new(
                serde_json::json!({"LifecycleEventHookExecutionId": "e"}),
                Default::default(),
            ))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("missing field `DeploymentId`"), "{e}");
        let d: Diagnostic = e.into();
        assert_eq!(d.error_type, "HookSdk.MalformedEvent");
        assert_eq!(get.num_calls() + put.num_calls(), 0);
    }
}
